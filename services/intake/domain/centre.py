"""Centre: ひきこもり地域支援センター — 実施要領 第2 (seeds/000), run by a prefecture or designated
city; a satellite (サテライト) is a fixed-term branch; a municipal consultation window (相談窓口)
is registered by its municipality.

Standards of 第2 3(3), flagged and never refused: ア ≥ 2 コーディネーター with ≥ 1 専門職
(社会福祉士・精神保健福祉士・保健師等); イ 開所: ≥ 5 days a week, 8 h a day, ~40 h a week.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import DEMO_PREFECTURE_PARTS, is_demo_code, validate_lg_code
from services.intake.domain.errors import InvalidCentre

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def check_hours(hours: dict[str, list[str]]) -> None:
    for day, span in hours.items():
        if day not in WEEKDAYS or len(span) != 2 or _minutes(span[1]) <= _minutes(span[0]):
            raise InvalidCentre(f"opening hours of {day!r} must be [\"HH:MM\", \"HH:MM\"], closing after opening")


def hours_shortfalls(hours: dict[str, list[str]]) -> list[str]:
    """What falls short of 週5日以上、1日8時間、週40時間 (目安)."""
    per_day = {d: _minutes(s[1]) - _minutes(s[0]) for d, s in hours.items()}
    shortfalls = []
    if len(per_day) < 5:
        shortfalls.append(f"open {len(per_day)} days a week (guideline: 5 or more)")
    short_days = sorted((d for d, m in per_day.items() if m < 8 * 60), key=WEEKDAYS.index)
    if short_days:
        shortfalls.append(f"under 8 hours on {', '.join(short_days)}")
    if sum(per_day.values()) < 40 * 60:
        shortfalls.append(f"{sum(per_day.values()) / 60:g} hours a week (guideline: about 40)")
    return shortfalls


def _check_dates(opened_on: date | None, closed_on: date | None) -> None:
    if closed_on is not None and (opened_on is None or closed_on < opened_on):
        raise InvalidCentre("a closing date needs an opening date on or before it")


class Centre(Aggregate):
    CentreRegistered = intake.CentreRegistered
    CentreDatesChanged = intake.CentreDatesChanged
    CentreProfileSet = intake.CentreProfileSet
    CentreStaffingSet = intake.CentreStaffingSet
    BackOfficeSupportGiven = intake.BackOfficeSupportGiven

    @event(CentreRegistered)
    def __init__(self, id: UUID, tenant: str, name: str, kind: str, site: str, opened_on: date | None,
                 closed_on: date | None, demo: bool) -> None:
        self.tenant = tenant
        self.name = name
        self.kind = kind
        self.site = site
        self.opened_on = opened_on
        self.closed_on = closed_on
        self.demo = demo
        self.profile: dict | None = None
        self.coordinators: list[str] = []
        self.outreach_workers = 0
        self.municipal_support_workers = 0
        self.backoffice_supports = 0

    @classmethod
    def register(cls, *, id: UUID, tenant: str, name: str, kind: str, site: str, opened_on: date | None = None,
                 closed_on: date | None = None, demo: bool = False) -> Centre:
        validate_lg_code(tenant)
        _check_dates(opened_on, closed_on)
        if demo and not is_demo_code(tenant):
            # Else a real government could take itself (a prefecture: all its municipalities) out of
            # the national tables with one "demo" centre.
            raise InvalidCentre(f"a demo centre belongs to a demo tenant (a code of prefecture part "
                                f"{' or '.join(DEMO_PREFECTURE_PARTS)}), not {tenant}")
        if not name.strip():
            raise InvalidCentre("a centre needs a name")
        if kind not in intake.CENTRE_KINDS:
            raise InvalidCentre(f"kind must be one of {intake.CENTRE_KINDS}")
        if site not in intake.CENTRE_SITES:
            raise InvalidCentre(f"site must be one of {intake.CENTRE_SITES}")
        return cls(id=id, tenant=tenant, name=name.strip(), kind=kind, site=site, opened_on=opened_on,
                   closed_on=closed_on, demo=demo)

    def change_dates(self, *, opened_on: date, closed_on: date | None) -> None:
        """開所日 set or corrected, or 廃止日 recorded (None: open again, a closure entered by mistake)."""
        _check_dates(opened_on, closed_on)
        self._dates(opened_on=opened_on, closed_on=closed_on)

    @event(CentreDatesChanged)
    def _dates(self, opened_on: date, closed_on: date | None) -> None:
        self.opened_on = opened_on
        self.closed_on = closed_on

    def set_profile(self, *, opened_fy: int, municipality: str, address: str, phone: str,
                    hours: dict[str, list[str]], satellite_term: dict | None) -> None:
        validate_lg_code(municipality)
        check_hours(hours)
        if self.site == "satellite":
            if not satellite_term or date.fromisoformat(satellite_term["ends_on"]) <= date.fromisoformat(
                    satellite_term["starts_on"]):
                raise InvalidCentre("a satellite needs its term (starts_on < ends_on; in principle 2 years)")
        elif satellite_term:
            raise InvalidCentre("only a satellite has a fixed term")
        self._profile(opened_fy=opened_fy, municipality=municipality, address=address, phone=phone,
                      hours=hours, satellite_term=satellite_term)

    @event(CentreProfileSet)
    def _profile(self, opened_fy: int, municipality: str, address: str, phone: str, hours: dict,
                 satellite_term: dict | None) -> None:
        self.profile = {"opened_fy": opened_fy, "municipality": municipality, "address": address,
                        "phone": phone, "hours": hours, "satellite_term": satellite_term}

    def set_staffing(self, *, coordinators: list[str], outreach_workers: int, municipal_support_workers: int) -> None:
        unknown = set(coordinators) - set(intake.QUALIFICATIONS)
        if unknown:
            raise InvalidCentre(f"qualifications must be some of {intake.QUALIFICATIONS}")
        if outreach_workers < 0 or municipal_support_workers < 0:
            raise InvalidCentre("staff counts cannot be negative")
        self._staffing(coordinators=sorted(coordinators), outreach_workers=outreach_workers,
                       municipal_support_workers=municipal_support_workers)

    @event(CentreStaffingSet)
    def _staffing(self, coordinators: list[str], outreach_workers: int, municipal_support_workers: int) -> None:
        self.coordinators = coordinators
        self.outreach_workers = outreach_workers
        self.municipal_support_workers = municipal_support_workers

    def give_backoffice_support(self, *, support_id: UUID, given_on: date, recipient_kind: str, recipient: str,
                                kind: str, note: dict | None) -> None:
        if recipient_kind not in ("municipality", "agency"):
            raise InvalidCentre("recipient_kind must be municipality or agency")
        if recipient_kind == "municipality":
            validate_lg_code(recipient)
        if kind not in intake.BACKOFFICE_KINDS:
            raise InvalidCentre(f"kind must be one of {intake.BACKOFFICE_KINDS}")
        self._backoffice(support_id=support_id, given_on=given_on, recipient_kind=recipient_kind,
                         recipient=recipient, kind=kind, note=note)

    @event(BackOfficeSupportGiven)
    def _backoffice(self, support_id: UUID, given_on: date, recipient_kind: str, recipient: str, kind: str,
                    note: dict | None) -> None:
        self.backoffice_supports += 1

    def shortfalls(self) -> list[str]:
        """Where the centre falls short of the guideline's staffing and opening standards."""
        found = []
        if len(self.coordinators) < 2:
            found.append(f"{len(self.coordinators)} coordinators (guideline: 2 or more)")
        if not set(self.coordinators) & set(intake.PROFESSIONAL_QUALIFICATIONS):
            found.append("no professional coordinator (社会福祉士・精神保健福祉士・保健師等)")
        if self.profile is None:
            found.append("opening hours not registered")
        else:
            found += hours_shortfalls(self.profile["hours"])
        return found
