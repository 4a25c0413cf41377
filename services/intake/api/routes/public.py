"""/public/v1: the open directory (情報発信) for portals and residents. No token, no personal data.

Responses carry an ETag derived from the read model's position and the query, so a client's
If-None-Match is answered 304 without touching the tables.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Query, Request, Response

from libs.domain import agencies
from libs.platform.web.conditional import none_match
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeReadsDep
from services.intake.api.schemas import DirectoryAgencies, DirectoryCentres, DirectoryPlaces

router = APIRouter(route_class=OneHopRoute, prefix="/public/v1", tags=["public directory"])
CODE = Query(default=None, pattern=r"^[0-9]{6}$", max_length=6)


def _etag(position: int, request: Request) -> str:
    digest = hashlib.sha256(f"{position}|{request.url.path}|{request.url.query}".encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _not_modified(request: Request, response: Response, etag: str) -> bool:
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "public, max-age=60"
    if none_match(request.headers.get("if-none-match"), etag):
        response.status_code = 304
        return True
    return False


@router.get("/centres", response_model=DirectoryCentres, responses={304: {"description": "not modified"}})
def public_centres(request: Request, response: Response, reads: IntakeReadsDep,
                   municipality: str | None = CODE) -> DirectoryCentres | Response:
    """Centres, satellites and consultation windows serving a municipality, with hours and contact."""
    etag = _etag(reads.directory_position(), request)
    if _not_modified(request, response, etag):
        return Response(status_code=304, headers=dict(response.headers))
    return DirectoryCentres.model_validate({"data": reads.directory_centres(municipality)})


@router.get("/agencies", response_model=DirectoryAgencies, responses={304: {"description": "not modified"}})
def public_agencies(request: Request, response: Response, reads: IntakeReadsDep,
                    category: str | None = Query(default=None, max_length=64),
                    municipality: str | None = CODE) -> DirectoryAgencies | Response:
    """関係機関 by the ministry's category (libs/domain/agencies)."""
    etag = _etag(reads.directory_position(), request)
    if _not_modified(request, response, etag):
        return Response(status_code=304, headers=dict(response.headers))
    rows = reads.directory_agencies(category=category, municipality=municipality)
    return DirectoryAgencies.model_validate(
        {"data": [{**r, "category_label": agencies.category(r["category"]).label} for r in rows]})


@router.get("/places", response_model=DirectoryPlaces, responses={304: {"description": "not modified"}})
def public_places(request: Request, response: Response, reads: IntakeReadsDep,
                  municipality: str | None = CODE) -> DirectoryPlaces | Response:
    """居場所 and their weekly schedules."""
    etag = _etag(reads.directory_position(), request)
    if _not_modified(request, response, etag):
        return Response(status_code=304, headers=dict(response.headers))
    return DirectoryPlaces.model_validate({"data": reads.directory_places(municipality)})
