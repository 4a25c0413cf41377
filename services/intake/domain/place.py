"""Place: 居場所 — a safe place where people can spend time, with its sessions (seeds/002, 003)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.centre import check_hours
from services.intake.domain.errors import InvalidProgramme, WrongCaseStatus


class Place(Aggregate):
    PlaceOpened = intake.PlaceOpened
    PlaceSessionHeld = intake.PlaceSessionHeld
    PlaceClosed = intake.PlaceClosed

    @event(PlaceOpened)
    def __init__(self, id: UUID, tenant: str, programme_id: UUID | None, name: str, operator: str,
                 municipality: str, address: str, schedule: dict) -> None:
        self.tenant = tenant
        self.programme_id = programme_id
        self.name = name
        self.municipality = municipality
        self.sessions: dict[str, int] = {}  # session id → participants
        self.closed_on: date | None = None

    @classmethod
    def open(cls, *, id: UUID, tenant: str, programme_id: UUID | None, name: str, operator: str,
             municipality: str, address: str, schedule: dict) -> Place:
        validate_lg_code(municipality)
        check_hours(schedule)
        if not name.strip() or not operator.strip():
            raise InvalidProgramme("a place needs a name and an operator")
        return cls(id=id, tenant=tenant, programme_id=programme_id, name=name.strip(), operator=operator.strip(),
                   municipality=municipality, address=address, schedule=schedule)

    def hold_session(self, *, session_id: UUID, held_on: date, participants: int, registered_participants: int,
                     participant_refs: dict | None, staff: int, supporter_ids: list[str]) -> None:
        """`participant_refs` come sealed (under the session's id); the count is of distinct refs."""
        if str(session_id) in self.sessions:
            return
        self.check_session(participants=participants, registered_participants=registered_participants, staff=staff)
        self._session(session_id=session_id, held_on=held_on, participants=participants,
                      registered_participants=registered_participants, participant_refs=participant_refs,
                      staff=staff, supporter_ids=sorted(set(supporter_ids)))

    def check_session(self, *, participants: int, registered_participants: int, staff: int) -> None:
        """The rules of a session, checked before its refs are sealed (a refused one makes no key)."""
        if self.closed_on is not None:
            raise WrongCaseStatus("the place has closed")
        if participants < 0 or staff < 0 or registered_participants < 0:
            raise InvalidProgramme("counts cannot be negative")
        if registered_participants > participants:
            raise InvalidProgramme("more registered participants than participants")

    @event(PlaceSessionHeld)
    def _session(self, session_id: UUID, held_on: date, participants: int, registered_participants: int,
                 participant_refs: dict | None, staff: int, supporter_ids: list[str]) -> None:
        self.sessions[str(session_id)] = participants

    def close(self, *, closed_on: date) -> None:
        if self.closed_on is not None:
            raise WrongCaseStatus("the place has closed already")
        self._closed(closed_on=closed_on)

    @event(PlaceClosed)
    def _closed(self, closed_on: date) -> None:
        self.closed_on = closed_on
