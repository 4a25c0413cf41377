"""The audit API every service with an event store serves (DESIGN §4, §5).

GET /v1/audit/events pages the authoritative log as CloudEvents (sealed fields stay sealed: an
auditor sees who did what when, not the personal content). GET /v1/audit/verify recomputes the
hash chain from the first event and compares it with what the relay recorded and published.
Both render each event as it was published (at the type version of its message), so an upgrade
that bumps an event's version is not taken for a changed log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from libs.domain.audit import NATIONAL
from libs.domain.errors import InvalidInput
from libs.platform.audit import merkle
from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.privacy.access import PersonalDataAccess
from libs.platform.privacy.records import consents_of, records_about, transfers_of
from libs.platform.privacy.sealing import is_sealed
from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.inputs import MAX_PARAMETER_CHARS, MAX_POSITION, When

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AUDITORS = ("auditor",)
PII_AUDITOR = "auditor_pii"  # may open sealed fields, for a stated purpose, and is recorded doing so


class AuditEvents(BaseModel):
    data: list[dict]
    next_after: int | None


class StoredRecords(BaseModel):
    data: list[dict]
    next_after: int | None


class Checkpoint(BaseModel):
    tree_size: int
    root_hash: str
    made_at: str
    signature: str
    chainhash: str | None = Field(default=None, description="the CloudEvents chain hash of the last event of the "
                                  "tree, signed too (tsunagu-checkpoint/v2); null on a v1 checkpoint")


class Checkpoints(BaseModel):
    service: str
    public_key: str = Field(description="Ed25519 public key (hex) that signs the checkpoints")
    data: list[Checkpoint]


class Proof(BaseModel):
    tree_size: int
    root_hash: str
    proof: list[str]
    leaf_hash: str | None = None
    first_size: int | None = None
    first_root: str | None = None


class Verification(BaseModel):
    verified: bool
    log_size: int = Field(description="the position of the log's last event; positions skip numbers on PostgreSQL "
                          "(a rolled-back insert spends one), so this is not a count of events")
    relay_position: int
    chainhash: str
    first_mismatch: int | None = Field(description="the position of the first event that does not verify")


@router.get("/events", response_model=AuditEvents)
def audit_events(actor: PrincipalDep, runtime: RuntimeDep, after: int = Query(default=0, ge=0, le=MAX_POSITION),
                 limit: int = Query(default=100, ge=1, le=1000),
                 purpose: str | None = Query(
                     default=None, min_length=10, max_length=500,
                     description="to open sealed fields: why (needs role auditor_pii)")) -> AuditEvents:
    """The authoritative log as CloudEvents. Sealed fields stay sealed, unless the caller has the
    role auditor_pii and states a purpose: then they are opened, and that access is recorded as a
    PersonalDataAccessed event before anything is returned."""
    actor.require(*AUDITORS, PII_AUDITOR)
    envelopes = runtime.require_relay().published(after, limit)
    data = [e.to_dict() for e in envelopes]
    if purpose is not None:
        actor.require(PII_AUDITOR)
        if envelopes:
            access = PersonalDataAccess(
                id=uuid4(), tenant=NATIONAL, accessed_by=actor.sub, accessor_org=actor.org, purpose=purpose,
                subject=None, first_sequence=envelopes[0].sequence, last_sequence=envelopes[-1].sequence,
                accessed_at=datetime.now(UTC))
            runtime.application.save(access)
        for item in data:
            item["data"] = {k: runtime.sealer.open(v) if is_sealed(v) else v for k, v in item["data"].items()}
    return AuditEvents(data=data, next_after=envelopes[-1].sequence if len(envelopes) == limit else None)


class SubjectDisclosure(BaseModel):
    service: str
    subject: str
    events: list[dict]
    provisions: list[dict]
    consents: list[dict]


@router.get("/subjects/{subject}", response_model=SubjectDisclosure)
def disclose_subject(subject: Annotated[str, Path(max_length=MAX_PARAMETER_CHARS)], actor: PrincipalDep,
                     runtime: RuntimeDep,
                     purpose: str = Query(min_length=10, max_length=500)) -> SubjectDisclosure:
    """Everything this service holds about one person (開示請求): the events of every record about
    them with sealed fields opened, the provisions of their data and their consents. Needs the
    role auditor_pii and a purpose; the access is recorded like any other opening of sealed data."""
    actor.require(PII_AUDITOR)
    runtime.catch_up()
    aggregates = [subject, *records_about(runtime.engine, subject)]
    events = []
    for aggregate_id in dict.fromkeys(aggregates):
        try:
            events += runtime.application.history(UUID(aggregate_id), opened=True)
        except ValueError:  # not an aggregate id of this service
            continue
    if events:
        runtime.application.save(PersonalDataAccess(
            id=uuid4(), tenant=NATIONAL, accessed_by=actor.sub, accessor_org=actor.org, purpose=purpose,
            subject=subject, first_sequence=0, last_sequence=0, accessed_at=datetime.now(UTC)))
    return SubjectDisclosure(service=runtime.settings.service, subject=subject, events=events,
                             provisions=transfers_of(runtime.engine, subject=subject, counterpart=None),
                             consents=consents_of(runtime.engine, subject, None))


@router.get("/records", response_model=StoredRecords)
def audit_records(actor: PrincipalDep, runtime: RuntimeDep, after: int = Query(default=0, ge=0, le=MAX_POSITION),
                  limit: int = Query(default=1000, ge=1, le=5000)) -> StoredRecords:
    """The stored form of the log (the Merkle leaves): sealed personal data stays sealed."""
    actor.require(*AUDITORS)
    rows = runtime.require_audit().records_with_leaves(after, limit)
    return StoredRecords(data=rows, next_after=rows[-1]["sequence"] if len(rows) == limit else None)


@router.get("/checkpoints", response_model=Checkpoints)
def audit_checkpoints(actor: PrincipalDep, runtime: RuntimeDep) -> Checkpoints:
    actor.require(*AUDITORS)
    audit = runtime.require_audit()
    return Checkpoints.model_validate({"service": runtime.settings.service, "public_key": audit.public_key_hex,
                                       "data": audit.checkpoints()})


@router.post("/checkpoints", status_code=201, response_model=Checkpoint)
def make_checkpoint(actor: PrincipalDep, runtime: RuntimeDep) -> dict:
    """A checkpoint on demand (the service also makes them periodically)."""
    actor.require(*AUDITORS)
    return runtime.require_audit().checkpoint()


@router.get("/proofs/inclusion", response_model=Proof)
def inclusion(actor: PrincipalDep, runtime: RuntimeDep, sequence: int = Query(ge=1, le=MAX_POSITION),
              tree_size: int = Query(ge=1, le=MAX_POSITION)) -> Proof:
    actor.require(*AUDITORS)
    leaves = _leaves(runtime, tree_size)
    index = runtime.require_audit().leaf_index_of(sequence)
    if index is None or index >= tree_size:
        raise InvalidInput(f"event {sequence} is not in the first {tree_size} leaves")
    return Proof(tree_size=tree_size, root_hash=merkle.root(leaves).hex(), leaf_hash=leaves[index].hex(),
                 proof=[p.hex() for p in merkle.inclusion_proof(index, leaves)])


@router.get("/proofs/consistency", response_model=Proof)
def consistency(actor: PrincipalDep, runtime: RuntimeDep, from_: int = Query(alias="from", ge=1, le=MAX_POSITION),
                to: int = Query(ge=1, le=MAX_POSITION)) -> Proof:
    actor.require(*AUDITORS)
    leaves = _leaves(runtime, to)
    if from_ > to:
        raise InvalidInput("from must not exceed to")
    return Proof(tree_size=to, root_hash=merkle.root(leaves).hex(), first_size=from_,
                 first_root=merkle.root(leaves[:from_]).hex(),
                 proof=[p.hex() for p in merkle.consistency_proof(from_, leaves)])


def _leaves(runtime, size: int) -> list[bytes]:
    if runtime.require_audit().extend() < size:
        raise InvalidInput(f"the log has fewer than {size} events")
    return runtime.require_audit().leaf_hashes(size)


class Transfers(BaseModel):
    data: list[dict]


class ConsentStates(BaseModel):
    subject: str
    as_of: str | None
    data: list[dict]


@router.get("/provisions", response_model=Transfers)
def provisions(actor: PrincipalDep, runtime: RuntimeDep,
               subject: str | None = Query(default=None, max_length=MAX_PARAMETER_CHARS),
               recipient: str | None = Query(default=None, max_length=MAX_PARAMETER_CHARS)) -> Transfers:
    """Provision and receipt records (APPI 第29条/第30条): all to a recipient, or all about a person."""
    actor.require(*AUDITORS)
    if not subject and not recipient:
        raise InvalidInput("name a subject or a recipient")
    runtime.catch_up()
    return Transfers(data=transfers_of(runtime.engine, subject=subject, counterpart=recipient))


@router.get("/consents", response_model=ConsentStates)
def consent_states(actor: PrincipalDep, runtime: RuntimeDep,
                   subject: str = Query(min_length=1, max_length=MAX_PARAMETER_CHARS),
                   as_of: When | None = None) -> ConsentStates:
    """Every consent of a person (or supporter) and its state at a past instant (default: now)."""
    actor.require(*AUDITORS)
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput("as_of needs a timezone")
    runtime.catch_up()
    return ConsentStates(subject=subject, as_of=as_of.isoformat() if as_of else None,
                         data=consents_of(runtime.engine, subject, as_of))


@router.get("/verify", response_model=Verification)
def audit_verify(actor: PrincipalDep, runtime: RuntimeDep) -> Verification:
    """Recompute the chain over the whole log; the relay's recorded hash at its position must match,
    and a stored event that no longer decodes is itself the first mismatch."""
    actor.require(*AUDITORS)
    relay = runtime.require_relay()
    position, recorded = relay.position()
    chainhash, size, at_position = GENESIS, 0, GENESIS
    while True:
        try:
            batch = relay.published(size, 1000)
        except MapperDeserialisationError:
            batch = _readable_prefix(relay.published, size)
            for envelope in batch:
                chainhash = envelope.chained(chainhash).chainhash
            bad = _next_position(runtime.application, batch[-1].sequence if batch else size)
            return Verification(verified=False, log_size=relay.reader.max_position(), relay_position=position,
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


def _next_position(application, after: int) -> int:
    """The position of the stored event after `after`: not always after + 1 (a gap)."""
    return application.recorder.select_notifications(start=after, limit=1, inclusive_of_start=False)[0].id


def _readable_prefix(read, after: int) -> list:
    """The events after `after` up to (not including) the first that no longer decodes."""
    good: list[Envelope] = []
    while True:
        try:
            batch = read(after, 1)
        except MapperDeserialisationError:
            return good
        if not batch:
            return good
        good += batch
        after = batch[0].sequence
