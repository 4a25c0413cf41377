"""The audit API every service with an event store serves (DESIGN §4, §5).

GET /v1/audit/events pages the authoritative log as CloudEvents (sealed fields stay sealed: an
auditor sees who did what when, not the personal content). GET /v1/audit/verify recomputes the
hash chain from the first event and compares it with what the relay recorded and published.
Both render each event as it was published (at the type version of its message), so an upgrade
that bumps an event's version is not taken for a changed log.
"""

from __future__ import annotations

from typing import Annotated

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from libs.domain.audit import PurposeCode
from libs.domain.errors import InvalidInput
from libs.platform.audit import merkle, reading
from libs.platform.audit.reading import AuditorDep
from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.privacy.document import render_disclosure
from libs.platform.privacy.records import consents_of, transfers_of
from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.inputs import MAX_PARAMETER_CHARS, MAX_POSITION, When
from libs.platform.web.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/audit", tags=["audit"])


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


PurposeQuery = Query(default=None, description="to open sealed fields (needs role auditor_pii): why, as a purpose "
                     "code (libs/domain/audit.PURPOSES); the opening is recorded as PersonalDataAccessed")
NoteQuery = Query(default=None, min_length=1, max_length=500,
                  description="what the purpose code does not say; sealed in the access record, never in clear")


@router.get("/events", response_model=AuditEvents)
def audit_events(actor: PrincipalDep, runtime: RuntimeDep, after: int = Query(default=0, ge=0, le=MAX_POSITION),
                 limit: int = Query(default=100, ge=1, le=1000), purpose: PurposeCode | None = PurposeQuery,
                 note: str | None = NoteQuery) -> AuditEvents:
    """The authoritative log as CloudEvents, the events of the caller's jurisdiction only (a national
    auditor, org 000000: all). Sealed fields stay sealed, unless the caller has the role auditor_pii
    and names a purpose code: then they are opened, and that access is recorded as a
    PersonalDataAccessed event before anything is returned."""
    data, next_after = reading.audit_events(runtime, actor, after=after, limit=limit, purpose=purpose, note=note)
    return AuditEvents(data=data, next_after=next_after)


class SubjectDisclosure(BaseModel):
    service: str
    subject: str
    events: list[dict]
    provisions: list[dict]
    consents: list[dict]
    names: dict[str, str] = Field(default_factory=dict, description="readable names of the parties the records "
                                  "name by id or code (recipients, controllers): agencies, local governments")


@router.get("/subjects/{subject}", response_model=SubjectDisclosure)
def disclose_subject(subject: Annotated[str, Path(max_length=MAX_PARAMETER_CHARS)], actor: PrincipalDep,
                     runtime: RuntimeDep, purpose: PurposeCode = Query(description="why, as a purpose code"),
                     note: str | None = NoteQuery) -> SubjectDisclosure:
    """Everything this service holds about one person in the caller's jurisdiction (開示請求): the
    events of every record about them with sealed fields opened, the provisions of their data and
    their consents. Needs the role auditor_pii and a purpose code; the access is recorded like any
    other opening of sealed data. 404 when the service holds nothing of them in the jurisdiction."""
    return SubjectDisclosure.model_validate(
        reading.disclose_subject(runtime, actor, subject, purpose=purpose, note=note))


@router.get("/subjects/{subject}/document", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the disclosure as a printable "
                                                                           "Japanese document"}})
def disclosure_document(subject: Annotated[str, Path(max_length=MAX_PARAMETER_CHARS)], actor: PrincipalDep,
                        runtime: RuntimeDep, purpose: PurposeCode = Query(description="why, as a purpose code"),
                        note: str | None = NoteQuery) -> HTMLResponse:
    """The same disclosure as a document the person can read (開示請求への回答): Japanese HTML for
    print, recipients by name, dates in 和暦 and Western form, the training record of a supporter.
    For the officer handling the request; the access is recorded as for the JSON answer. (`tsunagu
    disclose` joins every service's part into one document.)"""
    part = reading.disclose_subject(runtime, actor, subject, purpose=purpose, note=note)
    return HTMLResponse(render_disclosure({"subject": subject, "purpose": purpose, "services": [part]}))


@router.get("/records", response_model=StoredRecords)
def audit_records(actor: PrincipalDep, runtime: RuntimeDep, after: int = Query(default=0, ge=0, le=MAX_POSITION),
                  limit: int = Query(default=1000, ge=1, le=5000)) -> StoredRecords:
    """The stored form of the log (the Merkle leaves), every tenant's: for national auditors."""
    reading.require_national_auditor(actor)
    rows = runtime.require_audit().records_with_leaves(after, limit)
    return StoredRecords(data=rows, next_after=rows[-1]["sequence"] if len(rows) == limit else None)


@router.get("/checkpoints", response_model=Checkpoints)
def audit_checkpoints(actor: AuditorDep, runtime: RuntimeDep) -> Checkpoints:
    audit = runtime.require_audit()
    return Checkpoints.model_validate({"service": runtime.settings.service, "public_key": audit.public_key_hex,
                                       "data": audit.checkpoints()})


@router.post("/checkpoints", status_code=201, response_model=Checkpoint)
def make_checkpoint(actor: AuditorDep, runtime: RuntimeDep) -> dict:
    """A checkpoint on demand (the service also makes them periodically)."""
    return runtime.require_audit().checkpoint()


@router.get("/proofs/inclusion", response_model=Proof)
def inclusion(actor: AuditorDep, runtime: RuntimeDep, sequence: int = Query(ge=1, le=MAX_POSITION),
              tree_size: int = Query(ge=1, le=MAX_POSITION)) -> Proof:
    leaves = _leaves(runtime, tree_size)
    index = runtime.require_audit().leaf_index_of(sequence)
    if index is None or index >= tree_size:
        raise InvalidInput(f"event {sequence} is not in the first {tree_size} leaves")
    return Proof(tree_size=tree_size, root_hash=merkle.root(leaves).hex(), leaf_hash=leaves[index].hex(),
                 proof=[p.hex() for p in merkle.inclusion_proof(index, leaves)])


@router.get("/proofs/consistency", response_model=Proof)
def consistency(actor: AuditorDep, runtime: RuntimeDep, from_: int = Query(alias="from", ge=1, le=MAX_POSITION),
                to: int = Query(ge=1, le=MAX_POSITION)) -> Proof:
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
def provisions(actor: AuditorDep, runtime: RuntimeDep,
               subject: str | None = Query(default=None, max_length=MAX_PARAMETER_CHARS),
               recipient: str | None = Query(default=None, max_length=MAX_PARAMETER_CHARS)) -> Transfers:
    """Provision and receipt records (APPI 第29条/第30条): all to a recipient, or all about a person."""
    if not subject and not recipient:
        raise InvalidInput("name a subject or a recipient")
    runtime.catch_up()
    return Transfers(data=reading.visible_rows(actor, transfers_of(runtime.engine, subject=subject,
                                                                   counterpart=recipient)))


@router.get("/consents", response_model=ConsentStates)
def consent_states(actor: AuditorDep, runtime: RuntimeDep,
                   subject: str = Query(min_length=1, max_length=MAX_PARAMETER_CHARS),
                   as_of: When | None = None) -> ConsentStates:
    """Every consent of a person (or supporter) and its state at a past instant (default: now)."""
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput("as_of needs a timezone")
    runtime.catch_up()
    return ConsentStates(subject=subject, as_of=as_of.isoformat() if as_of else None,
                         data=reading.visible_rows(actor, consents_of(runtime.engine, subject, as_of)))


@router.get("/verify", response_model=Verification)
def audit_verify(actor: AuditorDep, runtime: RuntimeDep) -> Verification:
    """Recompute the chain over the whole log; the relay's recorded hash at its position must match,
    and a stored event that no longer decodes is itself the first mismatch."""
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
