"""Intake's own read models, fed from its event log: the public directory, open referrals and
each centre's workload. No personal data is stored here (only ids, codes and dates)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Column, Connection, Date, DateTime, Integer, MetaData, String, Table

from libs.domain.fiscal import fiscal_year
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.projection import SqlProjection

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

_ACTIVITY = {"ConsultationRecorded": ("consultation", "occurred_at"), "OutreachVisitRecorded": ("outreach", "occurred_at"),
             "SupportMeetingHeld": ("meeting", "held_on"), "BackOfficeSupportGiven": ("backoffice", "given_on")}


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value if "T" in value else value + "T00:00:00+09:00")


class IntakeReadModel(SqlProjection):
    name = "intake-read"

    def __init__(self, engine) -> None:  # noqa: ANN001
        super().__init__(engine, metadata)

    def project(self, conn: Connection, e: Envelope) -> None:
        d = e.data
        if e.name in _ACTIVITY:
            kind, field = _ACTIVITY[e.name]
            at = _moment(d[field])
            centre = e.subject if e.aggregate == "centre" else d.get("centre_id") or self._centre_of(conn, e.subject)
            conn.execute(activity.insert().values(event_id=e.id, centre_id=centre, kind=kind, fy=fiscal_year(at), at=at,
                                                  ref=d.get("consultation_id")))
        match e.name:
            case "PrefecturalBackupGiven":
                conn.execute(backups.insert().values(
                    backup_id=e.subject, tenant=e.tenant, municipality=d["municipality"], kind=d["kind"],
                    given_on=date.fromisoformat(d["given_on"]), programme_id=d["programme_id"],
                    staff_role=d["staff_role"], staff_days=d["staff_days"]))
            case "CentreRegistered":
                conn.execute(centres.insert().values(centre_id=e.subject, tenant=d["tenant"], name=d["name"],
                                                     kind=d["kind"], site=d["site"]))
            case "CentreProfileSet":
                conn.execute(centres.update().where(centres.c.centre_id == e.subject).values(
                    municipality=d["municipality"], address=d["address"], phone=d["phone"], hours=d["hours"],
                    opened_fy=d["opened_fy"]))
            case "AgencyRegistered":
                conn.execute(agencies.insert().values(
                    agency_id=e.subject, tenant=d["tenant"], name=d["name"], category=d["category"],
                    municipality=d["municipality"], address=d["address"], phone=d["phone"]))
            case "CaseOpened":
                conn.execute(cases.insert().values(case_id=e.subject, centre_id=d["centre_id"], status="open",
                                                   opened_on=_moment(e.time).date(), erased=False))
            case "CaseClosed":
                conn.execute(cases.update().where(cases.c.case_id == e.subject).values(
                    status="closed", closed_on=date.fromisoformat(d["closed_on"])))
            case "CaseReopened":
                conn.execute(cases.update().where(cases.c.case_id == e.subject).values(status="open", closed_on=None))
            case "SubjectErased":
                conn.execute(cases.update().where(cases.c.case_id == e.subject).values(status="closed", erased=True))
            case "ConsultationVoided":
                conn.execute(activity.delete().where(activity.c.kind == "consultation",
                                                     activity.c.ref == d["consultation_id"]))
            case "PlaceOpened":
                conn.execute(places.insert().values(
                    place_id=e.subject, tenant=d["tenant"], name=d["name"], operator=d["operator"],
                    municipality=d["municipality"], address=d["address"], schedule=d["schedule"]))
            case "PlaceClosed":
                conn.execute(places.update().where(places.c.place_id == e.subject).values(
                    closed_on=date.fromisoformat(d["closed_on"])))
            case "RightsRequestReceived":
                conn.execute(rights_requests.insert().values(
                    request_id=e.subject, case_id=d["case_id"], centre_id=d["centre_id"], kind=d["kind"],
                    received_on=date.fromisoformat(d["received_on"]), due_on=date.fromisoformat(d["due_on"])))
            case "RightsRequestAnswered":
                conn.execute(rights_requests.update().where(rights_requests.c.request_id == e.subject).values(
                    answered_on=date.fromisoformat(d["answered_on"]), outcome=d["outcome"]))
            case "ReferralMade":
                conn.execute(referrals.insert().values(
                    referral_id=d["referral_id"], case_id=e.subject, centre_id=d["centre_id"],
                    agency_id=d["agency_id"], category=d["agency_category"],
                    referred_on=date.fromisoformat(d["referred_on"]), closed=False))
            case "SupportDecided" | "ReferralDeclined":
                outcome = "support_decided" if e.name == "SupportDecided" else "declined"
                conn.execute(referrals.update().where(referrals.c.referral_id == d["referral_id"]).values(outcome=outcome))
            case "ReferralClosed":
                conn.execute(referrals.update().where(referrals.c.referral_id == d["referral_id"]).values(closed=True))

    @staticmethod
    def _centre_of(conn: Connection, case_id: str) -> str:
        return conn.execute(cases.select().where(cases.c.case_id == case_id)).first().centre_id
