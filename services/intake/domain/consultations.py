"""A case's consultations (相談), one or many at once (a portal's import of a centre's history).

Many at once are the same ConsultationRecorded events, each the next version of the case, made
directly instead of through the library's `@event` method one by one: that machinery (its
arguments matched against the method's parameters twice per event) was a fifth of a
500-consultation import's time (issue 15). The state each event changes is changed by the one
function both ways share (`_count_consultation`), so a case loaded from the store equals the
case the import kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from libs.domain import intake
from services.intake.domain.errors import InvalidConsultation

# Clocks of portals drift; a consultation "in the future" beyond this is a typo.
CLOCK_SKEW = timedelta(minutes=10)


def latest_consultation() -> datetime:
    """The latest instant a consultation may have taken place at: now, give or take a clock's drift."""
    return datetime.now(UTC) + CLOCK_SKEW


class RecordsConsultations:
    """The consultations half of Case (a mixin: Case keeps the event method, whose topic is Case's)."""

    id: UUID
    version: int
    centre_id: UUID
    consultation_count: int
    idempotency_keys: dict[str, UUID]
    ConsultationRecorded: Any  # made by Case's @event(ConsultationRecorded)

    def require_open(self) -> None:
        raise NotImplementedError

    def check_consultation(self, *, channel: str, consulted_by: str, occurred_at: datetime,
                           latest: datetime | None = None) -> None:
        """Refuse a consultation this case may not record (named domain errors), changing nothing.
        `latest`: the latest instant accepted (`latest_consultation()`), taken once for many."""
        self.require_open()
        if channel not in intake.CHANNELS:
            raise InvalidConsultation(f"channel must be one of {intake.CHANNELS}")
        if consulted_by not in intake.CLIENT_KINDS:
            raise InvalidConsultation(f"consulted_by must be one of {intake.CLIENT_KINDS}")
        if occurred_at.tzinfo is None:
            raise InvalidConsultation("occurred_at needs a timezone (e.g. +09:00)")
        if occurred_at > (latest or latest_consultation()):
            raise InvalidConsultation("occurred_at is in the future")

    def record_consultations(self, entries: Sequence[dict[str, Any]]) -> None:
        """Record each entry (consultation_id, channel, consulted_by, occurred_at, summary) as
        record_consultation would, in order, or none of them when one is refused: all are checked
        before the first is recorded. The events are the ones the @event method makes (its
        class, its fields, the next versions, a timestamp each), pending to be saved."""
        latest = latest_consultation()
        for entry in entries:
            self.check_consultation(channel=entry["channel"], consulted_by=entry["consulted_by"],
                                    occurred_at=entry["occurred_at"], latest=latest)
        made = self.ConsultationRecorded
        pending: list[Any] = self._pending_events  # type: ignore[attr-defined]  # the library's list
        for entry in entries:
            recorded = made(originator_id=self.id, originator_version=self.version + 1,
                            timestamp=made.create_timestamp(), centre_id=self.centre_id,
                            idempotency_digest=None, **entry)
            self._count_consultation(recorded.consultation_id, None)
            # What the library's mutate() does after the method's body: the version and the time.
            self.version = recorded.originator_version
            self.modified_on = recorded.timestamp
            pending.append(recorded)

    def _count_consultation(self, consultation_id: UUID, idempotency_digest: str | None) -> None:
        """What a ConsultationRecorded changes in the case, however it was made.
        `idempotency_digest`: only events recorded before the creations ledger carry one."""
        self.consultation_count += 1
        if idempotency_digest:
            self.idempotency_keys[idempotency_digest] = consultation_id
