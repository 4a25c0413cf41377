"""A plain `def` route of a service makes one trip to the thread pool (libs/platform/web/routing.py)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

import anyio.to_thread
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from libs.platform.web.routing import OneHopRoute


class Thing(BaseModel):
    id: int
    name: str
    tag: str | None = None

    @field_validator("name")
    @classmethod
    def _seen(cls, name: str) -> str:
        VALIDATED_IN.append(threading.get_ident())
        return name


VALIDATED_IN: list[int] = []  # the thread of each validation of a Thing


class ThingCreate(BaseModel):
    name: str


async def loop_thread() -> int:
    return threading.get_ident()


def app_with(route_class: type[APIRoute], seen: dict[str, Any]) -> FastAPI:
    router = APIRouter(route_class=route_class, prefix="/things")

    @router.post("/{thing_id}", status_code=201, response_model=Thing)
    def make(thing_id: int, body: ThingCreate, response: Response, loop: Annotated[int, Depends(loop_thread)],
             tag: Annotated[str | None, Header(alias="X-Tag")] = None) -> Any:
        seen.update(loop=loop, endpoint=threading.get_ident())
        response.headers["ETag"] = '"1"'
        if body.name == "refused":
            raise ValueError("refused")
        return {"id": thing_id, "name": body.name, "tag": tag, "dropped": "not in the model"}

    app = FastAPI()
    app.include_router(router)
    return app


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to the thread pool."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(getattr(func, "func", func), "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return sent


def test_a_plain_route_runs_in_one_trip_to_the_thread_pool_with_its_response_validated(hops: list[str]) -> None:
    seen: dict[str, Any] = {}
    VALIDATED_IN.clear()
    with TestClient(app_with(OneHopRoute, seen)) as client:
        hops.clear()
        r = client.post("/things/7", json={"name": "a"}, headers={"X-Tag": "t"})
        assert r.status_code == 201 and r.headers["etag"] == '"1"'
        assert r.json() == {"id": 7, "name": "a", "tag": "t"}, "filtered by the response model"
        assert len(hops) == 1, hops
        assert seen["endpoint"] != seen["loop"], "the route's own work stays off the event loop"
        assert VALIDATED_IN[-1:] == [seen["endpoint"]], "the dict it returned is validated in the same trip"
        assert client.post("/things/x", json={"name": "a"}).status_code == 422
        with pytest.raises(ValueError, match="refused"):
            client.post("/things/8", json={"name": "refused"})
        schema = client.get("/openapi.json").json()["paths"]["/things/{thing_id}"]["post"]
        assert {p["name"] for p in schema["parameters"]} == {"thing_id", "X-Tag"}
        answered = schema["responses"]["201"]["content"]["application/json"]["schema"]
        assert answered == {"$ref": "#/components/schemas/Thing"}


def test_fastapi_s_own_route_makes_two(hops: list[str]) -> None:
    """What OneHopRoute saves: FastAPI validates a plain route's return value in a second trip."""
    with TestClient(app_with(APIRoute, {})) as client:
        hops.clear()
        assert client.post("/things/7", json={"name": "a"}).status_code == 201
        assert len(hops) == 2, hops


def test_every_service_router_uses_it() -> None:
    from libs.platform.audit.api import router as audit
    from libs.platform.web.code_lists import code_lists_router
    from libs.platform.web.ops import router as ops
    from services.dispatch.bootstrap import SPEC as DISPATCH
    from services.intake.bootstrap import SPEC as INTAKE
    from services.registry.bootstrap import SPEC as REGISTRY
    from services.reporting.bootstrap import SPEC as REPORTING

    routers = [audit, ops, code_lists_router("intake")]
    routers += [r for spec in (DISPATCH, INTAKE, REGISTRY, REPORTING) for r in spec.routers]
    assert [r for r in routers if r.route_class is not OneHopRoute] == []
