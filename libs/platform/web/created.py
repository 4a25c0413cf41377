"""What every creation answers besides the created resource (issue 18): 201, or 200 for a retry
with the same Idempotency-Key and request; the resource's Location; and, when the resource lives
inside an aggregate, the aggregate's version as ETag (for If-Match on the next change)."""

from __future__ import annotations

from fastapi import Response


def answer_created(response: Response, *, created: bool, location: str, version: int | None = None) -> None:
    response.status_code = 201 if created else 200
    response.headers["Location"] = location
    if version is not None:
        response.headers["ETag"] = f'"{version}"'
