"""/v1/ops: what an operator of the service needs beyond /readyz — the dead letters, each with its
reason, and their resolution once the cause is fixed (role `operator`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from libs.domain.errors import NotFound
from libs.platform.web.deps import OperatorDep, RuntimeDep
from libs.platform.web.inputs import MAX_PARAMETER_CHARS, MAX_POSITION
from libs.platform.web.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/ops", tags=["operations"])


class DeadLetterPublic(BaseModel):
    consumer: str
    stream: str
    position: int
    reason: str
    recorded_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class DeadLettersPublic(BaseModel):
    data: list[DeadLetterPublic]


class NoSuchDeadLetter(NotFound):
    problem = "dead-letter-not-found"
    title = "No such open dead letter"


@router.get("/dead-letters", response_model=DeadLettersPublic)
def list_dead_letters(actor: OperatorDep, runtime: RuntimeDep, open_only: bool = True) -> DeadLettersPublic:
    if runtime.dead_letters is None:  # this service has neither a log nor a stream it consumes
        return DeadLettersPublic(data=[])
    return DeadLettersPublic.model_validate({"data": runtime.dead_letters.listed(open_only=open_only)})


@router.post("/dead-letters/{consumer}/{stream}/{position}/resolution", response_model=DeadLettersPublic)
def resolve_dead_letter(consumer: Annotated[str, Path(max_length=MAX_PARAMETER_CHARS)],
                        stream: Annotated[str, Path(max_length=MAX_PARAMETER_CHARS)],
                        position: Annotated[int, Path(ge=0, le=MAX_POSITION)], actor: OperatorDep,
                        runtime: RuntimeDep) -> DeadLettersPublic:
    """The operator says the cause is dealt with; readiness stops counting it. The record stays."""
    if runtime.dead_letters is None or not runtime.dead_letters.resolve(
            consumer=consumer, stream=stream, position=position, by=actor.sub):
        raise NoSuchDeadLetter(f"no open dead letter {consumer}/{stream}/{position}")
    return DeadLettersPublic.model_validate({"data": runtime.dead_letters.listed(open_only=True)})
