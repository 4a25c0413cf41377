"""The audit API every service with an event store serves (DESIGN §4, §5).

GET /v1/audit/events pages the authoritative log as CloudEvents (sealed fields stay sealed: an
auditor sees who did what when, not the personal content). GET /v1/audit/verify recomputes the
hash chain from the first event and compares it with what the relay recorded and published.
"""

from __future__ import annotations

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Query
from pydantic import BaseModel

from libs.platform.cloudevents import GENESIS
from libs.platform.deps import PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AUDITORS = ("auditor",)


class AuditEvents(BaseModel):
    data: list[dict]
    next_after: int | None


class Verification(BaseModel):
    verified: bool
    log_size: int
    relay_position: int
    chainhash: str
    first_mismatch: int | None


@router.get("/events", response_model=AuditEvents)
def audit_events(actor: PrincipalDep, runtime: RuntimeDep, after: int = Query(default=0, ge=0),
                 limit: int = Query(default=100, ge=1, le=1000)) -> AuditEvents:
    actor.require(*AUDITORS)
    envelopes = runtime.relay.log.read(after, limit)
    data = [e.to_dict() for e in envelopes]
    return AuditEvents(data=data, next_after=envelopes[-1].sequence if len(envelopes) == limit else None)


@router.get("/verify", response_model=Verification)
def audit_verify(actor: PrincipalDep, runtime: RuntimeDep) -> Verification:
    """Recompute the chain over the whole log; the relay's recorded hash at its position must match,
    and a stored event that no longer decodes is itself the first mismatch."""
    actor.require(*AUDITORS)
    relay = runtime.relay
    position, recorded = relay.position()
    chainhash, size, at_position = GENESIS, 0, GENESIS
    while True:
        try:
            batch = relay.log.read(size, 1000)
        except MapperDeserialisationError:
            batch = _readable_prefix(relay.log, size)
            for envelope in batch:
                chainhash = envelope.chained(chainhash).chainhash
            bad = batch[-1].sequence + 1 if batch else size + 1
            return Verification(verified=False, log_size=relay.log.max_position(), relay_position=position,
                                chainhash=chainhash, first_mismatch=bad)
        for envelope in batch:
            chainhash = envelope.chained(chainhash).chainhash
            size = envelope.sequence
            if size == position:
                at_position = chainhash
        if len(batch) < 1000:
            break
    ok = position == 0 or at_position == recorded
    return Verification(verified=ok, log_size=size, relay_position=position, chainhash=chainhash,
                        first_mismatch=None if ok else position)


def _readable_prefix(log, after: int) -> list:  # noqa: ANN001
    """The events after `after` up to (not including) the first that no longer decodes."""
    good = []
    while True:
        try:
            batch = log.read(after, 1)
        except MapperDeserialisationError:
            return good
        if not batch:
            return good
        good += batch
        after = batch[0].sequence
