"""The code lists as resources and as schema types, one mechanism for every service (issue 18).

- `Annotated[str, CodeOf(name)]`: the type of a request field that takes a code of a list of libs/domain/code_lists.
  Its JSON schema is `{"type": "string", "enum": [...], "x-code-list": name}`, so OpenAPI states
  the codes and a generator makes an enum; a code outside the list is a 422 with `errors[]`.
- `code_lists_router(service)`: `GET /v1/code-lists` (the index) and `GET /v1/code-lists/{name}`
  (codes, Japanese labels, attributes such as an agency category's summary column, version) of
  every list the service accepts. Public, like the directory: code lists hold no personal data and
  a portal needs them before anyone logs in (to build its forms). An ETag follows the lists'
  versions, so a portal revalidates them cheaply.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from libs.domain.code_lists import CODE_LISTS, CodeList, code_list, served_by
from libs.domain.errors import NotFound
from libs.platform.web.conditional import none_match
from libs.platform.web.routing import OneHopRoute

EXTENSION = "x-code-list"


class CodeOf:
    """Marks a `str` as one code of the list `name`: `Annotated[str, CodeOf("channels")]` (an
    unknown name fails at import). Validation refuses any other string (422, errors[]); the JSON
    schema states the list's codes as its enum, with the list's name in `x-code-list`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values = code_list(name).values
        self._allowed = frozenset(self.values)

    def _check(self, value: str) -> str:
        if value not in self._allowed:
            raise ValueError(f"not a code of the list {self.name} (GET /v1/code-lists/{self.name})")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out.update({"enum": list(self.values), EXTENSION: self.name})
        return out


class CodePublic(BaseModel):
    code: str
    label: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class CodeListPublic(BaseModel):
    name: str
    title: str
    version: str
    source: str
    codes: list[CodePublic]


class CodeListSummary(BaseModel):
    name: str
    title: str
    version: str
    href: str


class CodeListsPublic(BaseModel):
    data: list[CodeListSummary]


def _public(cl: CodeList) -> CodeListPublic:
    return CodeListPublic(name=cl.name, title=cl.title, version=cl.version, source=cl.source,
                          codes=[CodePublic(code=c.code, label=c.label, attributes=dict(c.attributes))
                                 for c in cl.codes])


def _not_modified(request: Request, response: Response, lists: tuple[CodeList, ...]) -> bool:
    digest = hashlib.sha256("|".join(f"{cl.name}:{cl.version}:{','.join(cl.values)}" for cl in lists).encode())
    etag = f'W/"{digest.hexdigest()[:32]}"'
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "public, max-age=3600"
    return none_match(request.headers.get("if-none-match"), etag)


def code_lists_router(service: str) -> APIRouter:
    """The code lists `service` accepts, at /v1/code-lists."""
    lists = served_by(service)
    by_name = {cl.name: cl for cl in lists}
    router = APIRouter(route_class=OneHopRoute, prefix="/v1/code-lists", tags=["code lists"])
    name_param = Path(max_length=64, json_schema_extra={"enum": list(by_name)},
                      description="a list of GET /v1/code-lists")

    @router.get("", response_model=CodeListsPublic, responses={304: {"description": "not modified"}})
    def list_code_lists(request: Request, response: Response) -> CodeListsPublic | Response:
        """Every code list this service accepts in its requests."""
        if _not_modified(request, response, lists):
            return Response(status_code=304, headers=dict(response.headers))
        return CodeListsPublic(data=[CodeListSummary(name=cl.name, title=cl.title, version=cl.version,
                                                     href=f"/v1/code-lists/{cl.name}") for cl in lists])

    @router.get("/{name}", response_model=CodeListPublic, responses={304: {"description": "not modified"}})
    def get_code_list(request: Request, response: Response, name: str = name_param) -> CodeListPublic | Response:
        """One code list: its codes in order, their Japanese labels and attributes, its version."""
        listed = by_name.get(name)
        if listed is None:
            known = "a list of another service" if name in CODE_LISTS else "no such list"
            raise NotFound(f"{name[:64]!r}: {known} (GET /v1/code-lists)")
        if _not_modified(request, response, (listed,)):
            return Response(status_code=304, headers=dict(response.headers))
        return _public(listed)

    return router
