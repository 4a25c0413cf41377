"""Intake's own read models, fed from its event log: the public directory, open referrals and
each centre's workload. No personal data is stored here (only ids, codes and dates)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Column, Connection, Date, DateTime, Integer, MetaData, String, Table
from sqlalchemy.sql import bindparam

from libs.domain import audit, intake
from libs.domain.fiscal import fiscal_year
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.batch import insert_row, update_rows
from libs.platform.readmodels.projection import ProjectionHandler, SqlProjection
from libs.platform.runtime import Runtime

metadata = MetaData()
centres = Table(
    "in_centres", metadata,
    Column("centre_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("site", String(16), nullable=False),
    Column("municipality", String(6), index=True),
    Column("address", String(500)),
    Column("phone", String(50)),
    Column("hours", JSON),
    Column("opened_fy", Integer),
    Column("opened_on", Date),
    Column("closed_on", Date),
)
agencies = Table(
    "in_agencies", metadata,
    Column("agency_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False, index=True),
    Column("municipality", String(6), nullable=False, index=True),
    Column("address", String(500), nullable=False),
    Column("phone", String(50), nullable=False),
    # Retired agencies stay for the officers' list (GET /v1/agencies), out of the public directory.
    Column("retired_on", Date),
)
cases = Table(
    "in_cases", metadata,
    Column("case_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("erased", Boolean, nullable=False, default=False),
)
referrals = Table(
    "in_referrals", metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("agency_id", String(36), nullable=False),
    Column("category", String(64), nullable=False),
    Column("referred_on", Date, nullable=False),
    Column("outcome", String(32)),
    Column("closed", Boolean, nullable=False),
)
places = Table(
    "in_places", metadata,
    Column("place_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False),
    Column("name", String(200), nullable=False),
    Column("operator", String(200), nullable=False),
    Column("municipality", String(6), nullable=False, index=True),
    Column("address", String(500), nullable=False),
    Column("schedule", JSON, nullable=False),
    Column("closed_on", Date),
)
backups = Table(  # 後方支援・立ち上げ支援 given by a prefecture to its municipalities
    "in_backups", metadata,
    Column("backup_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("municipality", String(6), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("given_on", Date, nullable=False),
    Column("programme_id", String(36)),
    Column("staff_role", String(32)),
    Column("staff_days", Integer),
)
rights_requests = Table(
    "in_rights_requests", metadata,
    Column("request_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("answered_on", Date),
    Column("outcome", String(32)),
)
activity = Table(
    "in_activity", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # consultation | outreach | meeting | backoffice
    Column("ref", String(36), index=True),  # the consultation id, for a later void
    Column("fy", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

IGNORED = {
    "personal data, consents and disclosures: in the log and the privacy records, not in a list":
        (intake.InfoSharingConsented, intake.InfoSharingWithdrawn, intake.CaseInfoDisclosed,
         intake.PersonalDetailsCorrected, intake.UseSuspended, intake.UseResumed),
    "no list or search shows them": (intake.CentreStaffingSet, intake.ReferralFollowedUp, intake.SupporterRequested),
    "programmes are reported by the reporting service, not listed here":
        (intake.ProgrammeStarted, intake.ProgrammeChanged, intake.ProgrammeEnded, intake.GroupActivityHeld,
         intake.PlaceSessionHeld, intake.ProgrammeOperatorAccepted, intake.ProgrammeOperatorDeclined),
    "access to personal data is audited, not listed": (audit.PersonalDataAccessed,),
}
HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("intake", ignored=IGNORED)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value if "T" in value else value + "T00:00:00+09:00")


class IntakeReadModel(SqlProjection):
    name = "intake-read"
    handlers = HANDLERS
    pass_by_unhandled = True

    def __init__(self, engine) -> None:
        super().__init__(engine, metadata)


def make_read_models(runtime: Runtime) -> list[Handler]:
    return [IntakeReadModel(runtime.engine)]


# Built once: every consultation and visit runs it (issue 15: building a statement and its cache
# key cost more than running it). Their activity rows are inserted with insert_row (batch.py).
_CENTRE_OF = cases.select().where(cases.c.case_id == bindparam("b_case"))


def _activity(kind: str, field: str) -> ProjectionHandler:
    def project(conn: Connection, e: Envelope) -> None:
        d = e.data
        at = _moment(d[field])
        centre = e.subject if e.aggregate == "centre" else d.get("centre_id") or _centre_of(conn, e.subject)
        insert_row(conn, activity, {"event_id": e.id, "centre_id": centre, "kind": kind, "fy": fiscal_year(at),
                                    "at": at, "ref": d.get("consultation_id")})
    return project


# What a centre did, counted in its workload: the kind of activity and the data field of its moment.
HANDLERS.on(intake.ConsultationRecorded)(_activity("consultation", "occurred_at"))
HANDLERS.on(intake.OutreachVisitRecorded)(_activity("outreach", "occurred_at"))
HANDLERS.on(intake.SupportMeetingHeld)(_activity("meeting", "held_on"))
HANDLERS.on(intake.BackOfficeSupportGiven)(_activity("backoffice", "given_on"))


@HANDLERS.on(intake.PrefecturalBackupGiven)
def _backup_given(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, backups, {
        "backup_id": e.subject, "tenant": e.tenant, "municipality": d["municipality"], "kind": d["kind"],
        "given_on": date.fromisoformat(d["given_on"]), "programme_id": d["programme_id"],
        "staff_role": d["staff_role"], "staff_days": d["staff_days"]})


@HANDLERS.on(intake.CentreRegistered)
def _centre_registered(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, centres, {"centre_id": e.subject, "tenant": d["tenant"], "name": d["name"],
                                         "kind": d["kind"], "site": d["site"], "opened_on": _day(d.get("opened_on")),
                                         "closed_on": _day(d.get("closed_on"))})


@HANDLERS.on(intake.CentreDatesChanged)
def _centre_dates_changed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, centres, {"centre_id": e.subject}, {
        "opened_on": _day(e.data["opened_on"]), "closed_on": _day(e.data["closed_on"])})


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@HANDLERS.on(intake.CentreProfileSet)
def _centre_profile_set(conn: Connection, e: Envelope) -> None:
    d = e.data
    update_rows(conn, centres, {"centre_id": e.subject}, {
        "municipality": d["municipality"], "address": d["address"], "phone": d["phone"], "hours": d["hours"],
        "opened_fy": d["opened_fy"]})


@HANDLERS.on(intake.AgencyRegistered)
def _agency_registered(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, agencies, {
        "agency_id": e.subject, "tenant": d["tenant"], "name": d["name"], "category": d["category"],
        "municipality": d["municipality"], "address": d["address"], "phone": d["phone"]})


@HANDLERS.on(intake.AgencyRetired)
def _agency_retired(conn: Connection, e: Envelope) -> None:
    """It leaves the public directory; officers still list it, as retired."""
    update_rows(conn, agencies, {"agency_id": e.subject}, {
        "retired_on": date.fromisoformat(e.data["retired_on"])})


@HANDLERS.on(intake.CaseOpened)
def _case_opened(conn: Connection, e: Envelope) -> None:
    insert_row(conn, cases, {"case_id": e.subject, "centre_id": e.data["centre_id"], "status": "open",
                                       "opened_on": _moment(e.time).date(), "erased": False})


@HANDLERS.on(intake.CaseClosed)
def _case_closed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, cases, {"case_id": e.subject}, {
        "status": "closed", "closed_on": date.fromisoformat(e.data["closed_on"])})


@HANDLERS.on(intake.CaseReopened)
def _case_reopened(conn: Connection, e: Envelope) -> None:
    update_rows(conn, cases, {"case_id": e.subject}, {"status": "open", "closed_on": None})


@HANDLERS.on(intake.SubjectErased)
def _subject_erased(conn: Connection, e: Envelope) -> None:
    update_rows(conn, cases, {"case_id": e.subject}, {"status": "closed", "erased": True})


@HANDLERS.on(intake.ConsultationVoided)
def _consultation_voided(conn: Connection, e: Envelope) -> None:
    conn.execute(activity.delete().where(activity.c.kind == "consultation",
                                         activity.c.ref == e.data["consultation_id"]))


@HANDLERS.on(intake.PlaceOpened)
def _place_opened(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, places, {
        "place_id": e.subject, "tenant": d["tenant"], "name": d["name"], "operator": d["operator"],
        "municipality": d["municipality"], "address": d["address"], "schedule": d["schedule"]})


@HANDLERS.on(intake.PlaceClosed)
def _place_closed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, places, {"place_id": e.subject}, {
        "closed_on": date.fromisoformat(e.data["closed_on"])})


@HANDLERS.on(intake.RightsRequestReceived)
def _rights_request_received(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, rights_requests, {
        "request_id": e.subject, "case_id": d["case_id"], "centre_id": d["centre_id"], "kind": d["kind"],
        "received_on": date.fromisoformat(d["received_on"]), "due_on": date.fromisoformat(d["due_on"])})


@HANDLERS.on(intake.RightsRequestAnswered)
def _rights_request_answered(conn: Connection, e: Envelope) -> None:
    update_rows(conn, rights_requests, {"request_id": e.subject}, {
        "answered_on": date.fromisoformat(e.data["answered_on"]), "outcome": e.data["outcome"]})


@HANDLERS.on(intake.ReferralMade)
def _referral_made(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, referrals, {
        "referral_id": d["referral_id"], "case_id": e.subject, "centre_id": d["centre_id"],
        "agency_id": d["agency_id"], "category": d["agency_category"],
        "referred_on": date.fromisoformat(d["referred_on"]), "closed": False})


@HANDLERS.on(intake.SupportDecided)
def _support_decided(conn: Connection, e: Envelope) -> None:
    _referral_outcome(conn, e, "support_decided")


@HANDLERS.on(intake.ReferralDeclined)
def _referral_declined(conn: Connection, e: Envelope) -> None:
    _referral_outcome(conn, e, "declined")


def _referral_outcome(conn: Connection, e: Envelope, outcome: str) -> None:
    update_rows(conn, referrals, {"referral_id": e.data["referral_id"]}, {"outcome": outcome})


@HANDLERS.on(intake.ReferralClosed)
def _referral_closed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, referrals, {"referral_id": e.data["referral_id"]}, {"closed": True})


def _centre_of(conn: Connection, case_id: str) -> str:
    row = conn.execute(_CENTRE_OF, {"b_case": case_id}).first()
    if row is None:  # events are projected in order, so the case's CaseOpened comes first
        raise LookupError(f"case {case_id} is not in the read model yet")
    return row.centre_id
