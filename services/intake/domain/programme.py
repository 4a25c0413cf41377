"""Programme: who runs which part of the ひきこもり対策推進事業 (seeds/002 資料1, 003): a prefectural or
municipal センター, a ひきこもり支援ステーション, a ひきこもりサポート事業 with its chosen activities, a
satellite or the acceleration support — since when, until when, jointly with whom, and who pays."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.errors import InvalidProgramme, WrongCaseStatus

FIXED_TERM = timedelta(days=2 * 365)  # in principle 2 years


def check_funding(funding: dict[str, str]) -> dict[str, str]:
    """Shares like {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"} adding up to 1."""
    unknown = set(funding) - set(intake.FUNDERS)
    try:
        total = sum((Fraction(v) for v in funding.values()), Fraction(0))
    except (ValueError, ZeroDivisionError):
        raise InvalidProgramme("funding shares are fractions such as 1/2") from None
    if unknown or total != 1 or any(Fraction(v) <= 0 for v in funding.values()):
        raise InvalidProgramme(f"funding shares of {intake.FUNDERS} must be positive and add up to 1")
    return {k: str(Fraction(v)) for k, v in funding.items()}


def check_activities(kind: str, activities: list[str]) -> list[str]:
    unknown = set(activities) - set(intake.SUPPORT_ACTIVITIES)
    if unknown:
        raise InvalidProgramme(f"activities must be some of {intake.SUPPORT_ACTIVITIES}")
    if kind == "support_programme" and not activities:
        raise InvalidProgramme("a サポート事業 names the activities it chose")
    return [a for a in intake.SUPPORT_ACTIVITIES if a in activities]


class Programme(Aggregate):
    ProgrammeStarted = intake.ProgrammeStarted
    ProgrammeChanged = intake.ProgrammeChanged
    ProgrammeEnded = intake.ProgrammeEnded
    GroupActivityHeld = intake.GroupActivityHeld
    ProgrammeOperatorAccepted = intake.ProgrammeOperatorAccepted
    ProgrammeOperatorDeclined = intake.ProgrammeOperatorDeclined

    @event(ProgrammeStarted)
    def __init__(self, id: UUID, tenant: str, kind: str, name: str, operators: list[str], invited: list[str],
                 activities: list[str], starts_on: date, ends_on: date | None, funding: dict) -> None:
        self.tenant = tenant
        self.kind = kind
        self.name = name
        self.operators = operators
        self.invited = invited
        self.declined_by: str | None = None
        self.activities = activities
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.funding = funding
        self.ended_on: date | None = None
        self.handed_over_to: str | None = None
        self.group_activities = 0

    @classmethod
    def start(cls, *, id: UUID, tenant: str, kind: str, name: str, operators: list[str],
              activities: list[str], starts_on: date, ends_on: date | None, funding: dict) -> Programme:
        if kind not in intake.PROGRAMME_KINDS:
            raise InvalidProgramme(f"kind must be one of {intake.PROGRAMME_KINDS}")
        for code in [tenant, *operators]:
            validate_lg_code(code)
        if kind in intake.FIXED_TERM_KINDS and ends_on is None:
            ends_on = starts_on + FIXED_TERM
        if ends_on is not None and ends_on <= starts_on:
            raise InvalidProgramme("ends_on must be after starts_on")
        # The other governments named are invited, not bound: each accepts before the programme runs.
        return cls(id=id, tenant=tenant, kind=kind, name=name.strip(), operators=[tenant],
                   invited=sorted(set(operators) - {tenant}), activities=check_activities(kind, activities),
                   starts_on=starts_on, ends_on=ends_on, funding=check_funding(funding))

    @property
    def status(self) -> str:
        """pending (an invited operator has not answered), declined, running or ended."""
        if self.declined_by is not None:
            return "declined"
        if self.ended_on is not None:
            return "ended"
        return "pending" if self.invited else "running"

    def accept_operation(self, *, government: str, accepted_on: date) -> None:
        self._require_invitation(government)
        self._accepted(government=government, accepted_on=accepted_on, operators=sorted({*self.operators, government}),
                       invited=[g for g in self.invited if g != government])

    @event(ProgrammeOperatorAccepted)
    def _accepted(self, government: str, accepted_on: date, operators: list[str], invited: list[str]) -> None:
        self.operators = operators
        self.invited = invited

    def decline_operation(self, *, government: str, declined_on: date) -> None:
        self._require_invitation(government)
        self._declined(government=government, declined_on=declined_on)

    @event(ProgrammeOperatorDeclined)
    def _declined(self, government: str, declined_on: date) -> None:
        self.invited = [g for g in self.invited if g != government]
        self.declined_by = government

    def _require_invitation(self, government: str) -> None:
        if self.status != "pending" or government not in self.invited:
            raise WrongCaseStatus(f"{government} has no open invitation to run this programme ({self.status})")

    def change(self, *, activities: list[str], funding: dict, changed_on: date) -> None:
        self._require_running()
        self._changed(activities=check_activities(self.kind, activities), funding=check_funding(funding),
                      changed_on=changed_on)

    @event(ProgrammeChanged)
    def _changed(self, activities: list[str], funding: dict, changed_on: date) -> None:
        self.activities = activities
        self.funding = funding

    def end(self, *, ended_on: date, handed_over_to: str | None) -> None:
        if self.status not in ("running", "pending"):  # a pending one may be withdrawn
            raise WrongCaseStatus(f"the programme is {self.status}")
        if handed_over_to is not None and validate_lg_code(handed_over_to) not in self.operators:
            # Like naming an operator, a handover binds the receiving government: only to one that
            # accepted running it (an invited one answers first).
            raise InvalidProgramme("a programme is handed over only to a government running it (an accepted operator)")
        if ended_on < self.starts_on:
            raise InvalidProgramme("a programme cannot end before it starts")
        self._ended(ended_on=ended_on, handed_over_to=handed_over_to)

    @event(ProgrammeEnded)
    def _ended(self, ended_on: date, handed_over_to: str | None) -> None:
        self.ended_on = ended_on
        self.handed_over_to = handed_over_to

    def hold_group_activity(self, *, activity_id: UUID, kind: str, held_on: date, participants: int,
                            agency_ids: list[str]) -> None:
        self._require_running()
        if kind not in intake.GROUP_ACTIVITY_KINDS:
            raise InvalidProgramme(f"kind must be one of {intake.GROUP_ACTIVITY_KINDS}")
        if participants < 0:
            raise InvalidProgramme("participants cannot be negative")
        self._activity(activity_id=activity_id, kind=kind, held_on=held_on, participants=participants,
                       agency_ids=sorted(set(agency_ids)))

    @event(GroupActivityHeld)
    def _activity(self, activity_id: UUID, kind: str, held_on: date, participants: int, agency_ids: list[str]) -> None:
        self.group_activities += 1

    def _require_running(self) -> None:
        if self.status != "running":
            raise WrongCaseStatus(f"the programme is {self.status}, not running")
