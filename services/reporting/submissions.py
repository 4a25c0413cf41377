"""Submitted reports: what a prefecture (or the ministry) sent for a fiscal year, kept so that a
late or corrected fact (e.g. a voided consultation) shows as a change since submission.

Kept apart from the projections: a rebuild replays the facts but never forgets a submission.

A submission is made once per Idempotency-Key (issue 18): its row keeps the keyed digest of the key
(contracts.idempotency_digest, REPORTING_IDEMPOTENCY_KEY) under a unique index, written with the
row, so a retry finds the first submission and two racing with one key cannot both be written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import uuid4

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from libs.domain.contracts import idempotency_digest
from libs.domain.errors import NotFound
from libs.platform.readmodels.projection import upgrade_table
from libs.platform.store.creations import IdempotencyKeyReused
from libs.platform.web.auth import Principal

# Who submits a year's table: the prefectures and municipalities that report, and the ministry.
SUBMITTERS = ("prefecture_officer", "municipal_officer", "ministry")
Table_ = Callable[[Engine, Principal, int], dict[str, Any]]  # a report of services/reporting/queries


class Settled(Protocol):
    def run(self, query: Callable[[], dict[str, Any]]) -> dict[str, Any]: ...


def submit_table(engine: Engine, actor: Principal, report: str, fy: int, table: Table_, settled: Settled, *,
                 idempotency_key: str | None, secret: bytes) -> tuple[dict, bool]:
    """The use case: a submitter records the year's table as it stands now, never one computed
    from a replay (`settled` confirms the read models were whole throughout). Returns the
    submission and whether it was made now (False: a retry with the same Idempotency-Key)."""
    actor.require(*SUBMITTERS)
    digest = idempotency_digest("reporting", f"submission/{actor.org}", idempotency_key, secret) \
        if idempotency_key else None
    if digest is not None and (first := keyed(engine, digest, report, fy)) is not None:
        return first, False
    body = settled.run(lambda: table(engine, actor, fy))
    try:
        return submit(engine, actor, report, fy, body, key_digest=digest), True
    except IntegrityError:
        first = keyed(engine, digest, report, fy) if digest is not None else None
        if first is None:
            raise
        return first, False  # a request with the same key won the race


def get_submission(engine: Engine, actor: Principal, report: str, submission_id: str, table: Table_,
                   settled: Settled) -> dict:
    """One submission of the caller's org, with what changed in its year's table since."""
    actor.require(*SUBMITTERS)
    with engine.connect() as conn:
        found = conn.execute(select(submissions).where(
            submissions.c.submission_id == submission_id, submissions.c.report == report,
            submissions.c.org == actor.org)).first()
    if found is None:
        raise NotFound(f"no {report} submission {submission_id} of your org")
    row = _stored(found)
    current = settled.run(lambda: table(engine, actor, row["fy"]))
    return _compared(row, current)


def submissions_compared(engine: Engine, actor: Principal, report: str, fy: int, table: Table_,
                         settled: Settled) -> list[dict]:
    """Each submission of the caller's org, with what changed in the year's table since."""
    actor.require(*SUBMITTERS)
    current = settled.run(lambda: table(engine, actor, fy))
    return compared(engine, actor, report, fy, current)

metadata = MetaData()
submissions = Table(
    "report_submissions", metadata,
    Column("submission_id", String(36), primary_key=True),
    Column("report", String(32), nullable=False),
    Column("fy", Integer, nullable=False),
    Column("org", String(64), nullable=False, index=True),
    Column("submitted_by", String(200), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("body", JSON, nullable=False),
    # The keyed digest of the Idempotency-Key it was made with (the key may hold anything a client
    # typed, names included); NULL without one.
    Column("key_digest", String(64)),
    Index("report_submissions_key_digest", "key_digest", unique=True),
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)
    upgrade_table(engine, submissions)  # tables made before keys were kept get the column and index


def submit(engine: Engine, actor: Principal, report: str, fy: int, body: dict[str, Any], *,
           key_digest: str | None = None) -> dict:
    row = {"submission_id": str(uuid4()), "report": report, "fy": fy, "org": actor.org, "submitted_by": actor.sub,
           "submitted_at": datetime.now(UTC), "body": json.loads(json.dumps(body, default=str)),
           "key_digest": key_digest}
    with engine.begin() as conn:
        conn.execute(submissions.insert().values(**row))
    return row


def keyed(engine: Engine, key_digest: str, report: str, fy: int) -> dict | None:
    """The submission first made with this key; refused (422) when it was of another report or year."""
    with engine.connect() as conn:
        found = conn.execute(select(submissions).where(submissions.c.key_digest == key_digest)).first()
    if found is None:
        return None
    row = _stored(found)
    if (row["report"], row["fy"]) != (report, fy):
        raise IdempotencyKeyReused(
            f"this Idempotency-Key submitted another report or year (submission {row['submission_id']}); "
            "send a new key for a new submission", resource_id=row["submission_id"])
    return row


def _stored(found: Any) -> dict:
    row = dict(found._mapping)
    if row["submitted_at"].tzinfo is None:  # SQLite gives the instant back without its offset; it was UTC
        row["submitted_at"] = row["submitted_at"].replace(tzinfo=UTC)
    return row


def compared(engine: Engine, actor: Principal, report: str, fy: int, current: dict[str, Any]) -> list[dict]:
    """Each submission of this org for the report and year, with whether today's report differs."""
    query = (select(submissions).where(submissions.c.report == report, submissions.c.fy == fy,
                                       submissions.c.org == actor.org).order_by(submissions.c.submitted_at))
    with engine.connect() as conn:
        rows = [_stored(r) for r in conn.execute(query)]
    return [_compared(r, current) for r in rows]


def _compared(row: dict, current: dict[str, Any]) -> dict:
    now = json.loads(json.dumps(current, default=str))
    return {**row, "changed_since_submission": row["body"] != now, "changes": _changes(row["body"], now)}


def _changes(before: Any, after: Any, path: str = "") -> list[dict]:
    """The leaves that differ, as {path, submitted, current}."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out += _changes(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [c for i, (b, a) in enumerate(zip(before, after, strict=True)) for c in _changes(b, a, f"{path}[{i}]")]
    return [] if before == after else [{"path": path, "submitted": before, "current": after}]
