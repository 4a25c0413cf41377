"""Submitted reports: what a prefecture (or the ministry) sent for a fiscal year, kept so that a
late or corrected fact (e.g. a voided consultation) shows as a change since submission.

Kept apart from the projections: a rebuild replays the facts but never forgets a submission.
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
    Integer,
    MetaData,
    String,
    Table,
    select,
)

from libs.platform.web.auth import Principal

# Who submits a year's table: the prefectures and municipalities that report, and the ministry.
SUBMITTERS = ("prefecture_officer", "municipal_officer", "ministry")
Table_ = Callable[[Engine, Principal, int], dict[str, Any]]  # a report of services/reporting/queries


class Settled(Protocol):
    def confirm(self) -> None: ...


def submit_table(engine: Engine, actor: Principal, report: str, fy: int, table: Table_, settled: Settled) -> dict:
    """The use case: a submitter records the year's table as it stands now, never one computed
    from a replay (`settled` confirms the read models were whole throughout)."""
    actor.require(*SUBMITTERS)
    body = table(engine, actor, fy)
    settled.confirm()
    return submit(engine, actor, report, fy, body)


def submissions_compared(engine: Engine, actor: Principal, report: str, fy: int, table: Table_,
                         settled: Settled) -> list[dict]:
    """Each submission of the caller's org, with what changed in the year's table since."""
    actor.require(*SUBMITTERS)
    current = table(engine, actor, fy)
    settled.confirm()
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
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def submit(engine: Engine, actor: Principal, report: str, fy: int, body: dict[str, Any]) -> dict:
    row = {"submission_id": str(uuid4()), "report": report, "fy": fy, "org": actor.org, "submitted_by": actor.sub,
           "submitted_at": datetime.now(UTC), "body": json.loads(json.dumps(body, default=str))}
    with engine.begin() as conn:
        conn.execute(submissions.insert().values(**row))
    return row


def compared(engine: Engine, actor: Principal, report: str, fy: int, current: dict[str, Any]) -> list[dict]:
    """Each submission of this org for the report and year, with whether today's report differs."""
    now = json.loads(json.dumps(current, default=str))
    query = (select(submissions).where(submissions.c.report == report, submissions.c.fy == fy,
                                       submissions.c.org == actor.org).order_by(submissions.c.submitted_at))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:  # SQLite gives the instant back without its offset; it was stored in UTC
        if r["submitted_at"].tzinfo is None:
            r["submitted_at"] = r["submitted_at"].replace(tzinfo=UTC)
    return [{**r, "changed_since_submission": r["body"] != now,
             "changes": _changes(r["body"], now)} for r in rows]


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
