"""What every reporting handler does with an envelope: parse its instants and dates, make a fact row."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from libs.domain.fiscal import fiscal_year
from libs.platform.messaging.cloudevents import Envelope


def instant(iso: str) -> datetime:
    """An aware ISO datetime, in UTC: SQLite keeps no offset, so every stored instant is UTC."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        raise ValueError(f"{iso!r} has no timezone")
    return moment.astimezone(UTC)


def day(iso: str) -> date:
    return date.fromisoformat(iso)


def fact(e: Envelope, when: date | datetime, **values: Any) -> dict[str, Any]:
    """A fact row: event id, owning tenant, the fiscal year of `when`, the envelope time."""
    return {"event_id": e.id, "tenant": e.tenant, "fy": fiscal_year(when), "time": instant(e.time), **values}
