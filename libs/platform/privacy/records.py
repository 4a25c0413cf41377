"""Privacy records of a service, kept from its own log for every service alike (APPI 第27条〜第30条):
who received which items about whom, when, on which consent; what was received; and each
consent's life, so that its state at any past instant is a query.

Which events are provisions, receipts or consents is declared on the contracts (libs/domain:
PROVISION, RECEIPT, CONSENT, SUBJECT_FIELD); this projection reads those declarations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    or_,
    select,
)

from libs.domain.contracts import Contract
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import PUBLISHED, contract_of_envelope
from libs.platform.readmodels.projection import SqlProjection

metadata = MetaData()
subjects = Table(  # aggregate → the person it is about, when that is not the aggregate itself
    "pr_subjects", metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("subject", String(64), nullable=False),
)
mentions = Table(  # an event about one person, of an aggregate about many (Contract.ABOUT_FIELD)
    "pr_mentions", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("aggregate_id", String(36), nullable=False),
    Column("subject", String(64), nullable=False, index=True),
)
transfers = Table(
    "pr_transfers", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("entry", String(36), primary_key=True),  # the person's id within a roster event
    Column("kind", String(16), nullable=False),  # provision | receipt
    Column("event_type", String(120), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("subject", String(64), nullable=False, index=True),
    Column("counterpart", String(64), nullable=False, index=True),  # recipient, or the sender of a receipt
    Column("items", JSON, nullable=True),
    Column("basis", String(64), nullable=False),  # the consent id, or the legal basis code
    Column("basis_kind", String(16), nullable=True),  # consent | legal_basis (NULL: projected before, a consent)
    Column("on", String(40), nullable=False),
    Column("tenant", String(6), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
)
consents = Table(
    "pr_consents", metadata,
    Column("consent_id", String(36), primary_key=True),
    Column("event_type", String(120), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("subject", String(64), nullable=False, index=True),
    Column("tenant", String(6), nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("data", JSON, nullable=False),
)

# Built once: the follower runs them for every event it projects (issue 15: building a statement
# and its cache key cost more than running it).
_SUBJECT = select(subjects.c.subject).where(subjects.c.aggregate_id == bindparam("b_aggregate"))
_INSERT_SUBJECT = subjects.insert()
_INSERT_MENTION = mentions.insert()


class PrivacyRecords(SqlProjection):
    name = "privacy-records"

    def __init__(self, engine: Engine, contracts: tuple[type[Contract], ...]) -> None:
        super().__init__(engine, metadata)
        self.contracts = frozenset(contracts)

    def changes(self, e: Envelope) -> bool:
        contract = contract_of_envelope(e)
        return contract in self.contracts and bool(
            contract.SUBJECT_FIELD or (contract.ABOUT_FIELD and e.data.get(contract.ABOUT_FIELD))
            or contract.PROVISION or contract.RECEIPT or contract.CONSENT)

    def project(self, conn: Connection, e: Envelope) -> None:
        # Generic over the declarations rather than a table of handlers: any contract may declare one.
        contract = contract_of_envelope(e)
        if contract not in self.contracts:
            return
        at = datetime.fromisoformat(e.time).astimezone(UTC)
        if contract.SUBJECT_FIELD:
            conn.execute(_INSERT_SUBJECT, {"aggregate_id": e.subject, "subject": str(e.data[contract.SUBJECT_FIELD])})
        if contract.ABOUT_FIELD and e.data.get(contract.ABOUT_FIELD):
            conn.execute(_INSERT_MENTION, {"event_id": e.id, "aggregate_id": e.subject,
                                           "subject": str(e.data[contract.ABOUT_FIELD])})
        if not (contract.PROVISION or contract.RECEIPT or contract.CONSENT):
            return  # most events (a consultation recorded): nothing below needs the subject, so no query
        subject = self._subject(conn, e.subject)
        for kind, spec in (("provision", contract.PROVISION), ("receipt", contract.RECEIPT)):
            if spec:
                self._transfers(conn, e, kind, spec, subject, at)
        if contract.CONSENT:
            status, field = contract.CONSENT
            consent_id = str(e.data[field])
            if status == "given":
                conn.execute(consents.delete().where(consents.c.consent_id == consent_id))
                conn.execute(consents.insert().values(
                    consent_id=consent_id, event_type=e.type, aggregate_id=e.subject, subject=subject,
                    tenant=e.tenant, given_at=at, data=e.data))
            else:
                conn.execute(consents.update().where(consents.c.consent_id == consent_id).values(withdrawn_at=at))

    def _transfers(self, conn: Connection, e: Envelope, kind: str, spec: dict[str, str], subject: str,
                   at: datetime) -> None:
        d = e.data
        entries = d[spec["entries"]] if "entries" in spec else [d]
        counterpart_field = spec.get("recipient") or spec.get("sender")
        counterpart = d.get(counterpart_field) if counterpart_field else None
        for entry in entries:
            who = str(entry[spec["subject"]]) if "subject" in spec else subject
            kind_of_basis, basis = _basis(entry, spec)
            conn.execute(transfers.insert().values(
                event_id=e.id, entry=who[:36], kind=kind, event_type=e.type, aggregate_id=e.subject, subject=who,
                counterpart=str(counterpart), items=d.get(spec.get("items", ""), None), basis=basis,
                basis_kind=kind_of_basis, on=str(d[spec["on"]]),
                tenant=e.tenant, time=at))

    @staticmethod
    def _subject(conn: Connection, aggregate_id: str) -> str:
        row = conn.execute(_SUBJECT, {"b_aggregate": aggregate_id}).first()
        return row.subject if row else aggregate_id


def _basis(entry: dict[str, Any], spec: dict[str, str]) -> tuple[str, str]:
    """What a provision rests on: ("legal_basis", its code) or ("consent", the consent id). The
    domain refuses a provision with neither, so one here is a broken contract: fail loudly."""
    code = entry.get(spec.get("legal_basis", ""))
    if code:
        return "legal_basis", str(code)
    consent = entry.get(spec["basis"])
    if not consent:
        raise ValueError(f"a provision resting on neither a consent nor a legal basis: {spec}")
    return "consent", str(consent)


def transfers_of(engine: Engine, *, subject: str | None, counterpart: str | None) -> list[dict[str, Any]]:
    query = select(transfers).order_by(transfers.c.time, transfers.c.event_id)
    if subject:
        query = query.where(transfers.c.subject == subject)
    if counterpart:
        query = query.where(transfers.c.counterpart == counterpart)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        r["basis_kind"] = r["basis_kind"] or "consent"  # rows projected before legal bases existed
    return rows


def current_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A record's event data as the current contract has it: a row projected from an older event
    version is upcast on read, with the contract's own upcasters (as the store does)."""
    _, _, context, name, version = event_type.split(".")
    contract = PUBLISHED.get((context, name))
    data = dict(data)
    for v in range(int(version[1:]), getattr(contract, "SCHEMA_VERSION", 1)):
        getattr(contract, f"upcast_v{v}_v{v + 1}")(data)
    return data


def consents_of(engine: Engine, subject: str, as_of: datetime | None) -> list[dict[str, Any]]:
    """Each consent of the person with its state at `as_of` (now when None)."""
    as_of = as_of.astimezone(UTC) if as_of is not None else None
    query = select(consents).where(or_(consents.c.subject == subject, consents.c.aggregate_id == subject))
    if as_of is not None:
        query = query.where(consents.c.given_at <= as_of)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.order_by(consents.c.given_at))]
    for r in rows:
        r["data"] = current_data(r["event_type"], r["data"])
        for key in ("given_at", "withdrawn_at"):  # times are stored in UTC; SQLite drops the offset
            if r[key] is not None and r[key].tzinfo is None:
                r[key] = r[key].replace(tzinfo=UTC)
        withdrawn = r["withdrawn_at"]
        r["status"] = "withdrawn" if withdrawn is not None and (as_of is None or withdrawn <= as_of) else "active"
    return rows


def stored_consent_record(engine: Engine, consent_id: str) -> dict[str, Any] | None:
    """A consent as this service's privacy records keep it (its giving event's data, upcast, and
    when it was given and withdrawn), or None; libs/domain/consent builds the record it carries."""
    with engine.connect() as conn:
        row = conn.execute(select(consents).where(consents.c.consent_id == consent_id)).first()
    if row is None:
        return None
    r = dict(row._mapping)
    r["data"] = current_data(r["event_type"], r["data"])
    for key in ("given_at", "withdrawn_at"):
        if r[key] is not None and r[key].tzinfo is None:
            r[key] = r[key].replace(tzinfo=UTC)
    return r


def records_about(engine: Engine, subject: str) -> list[str]:
    """Aggregates of this service about a person named by a field (e.g. dispatches of subject_ref)."""
    with engine.connect() as conn:
        return [r.aggregate_id
                for r in conn.execute(select(subjects.c.aggregate_id).where(subjects.c.subject == subject))]


def events_about(engine: Engine, subject: str) -> dict[str, set[str]]:
    """Events about a person in aggregates about many people (a training course's attendance of
    one trainee), as {aggregate id: {event id}}: only those are theirs to be disclosed."""
    with engine.connect() as conn:
        rows = conn.execute(select(mentions.c.aggregate_id, mentions.c.event_id).where(mentions.c.subject == subject))
        found: dict[str, set[str]] = {}
        for r in rows:
            found.setdefault(r.aggregate_id, set()).add(r.event_id)
    return found
