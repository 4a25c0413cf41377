"""/dashboard: a small static page over the JSON API (tables and trend charts).

The page itself holds no data; it reads the reports with the bearer token given in the URL
fragment, so every number on it is scoped by the same rules as the API.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from libs.platform.web.edge import html_page
from libs.platform.web.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, tags=["dashboard"])


@cache
def _page() -> str:
    return (Path(__file__).resolve().parents[2] / "dashboard" / "index.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard() -> HTMLResponse:
    """Its one inline script and stylesheet are allowed by hash, nothing else (no eval, no other
    inline code, no other origin); it fetches only its own origin's reports."""
    return html_page(_page(), headers={"Cache-Control": "no-store"})
