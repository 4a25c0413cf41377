"""Intake facts: centres (設置状況), cases, 延べ相談件数, 訪問支援, 関係機関へのつなぎ and 支援決定."""

from __future__ import annotations

from sqlalchemy import Connection, select

from libs.domain import intake
from libs.domain.fiscal import fiscal_year
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.batch import insert_row
from libs.platform.readmodels.projection import ProjectionHandler
from services.reporting.projections.common import day, fact, instant
from services.reporting.projections.tables import (
    cases,
    centre_dates,
    centre_profiles,
    centres,
    consultations,
    outreach_visits,
    referrals,
    support_decisions,
)
from services.reporting.projections.tallies import record, retally

HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("intake")


@HANDLERS.on(intake.CentreRegistered)
def centre_registered(conn: Connection, e: Envelope) -> None:
    d, at = e.data, instant(e.time)
    insert_row(conn, centres, {
        "centre_id": e.subject, "tenant": d["tenant"], "name": d["name"], "kind": d["kind"], "site": d["site"],
        "registered_at": at, "registered_fy": fiscal_year(at),
        "opened_on": day(d["opened_on"]) if d.get("opened_on") else None,  # a v1 event has neither
        "closed_on": day(d["closed_on"]) if d.get("closed_on") else None, "demo": bool(d.get("demo"))})


@HANDLERS.on(intake.CentreDatesChanged)
def centre_dates_changed(conn: Connection, e: Envelope) -> None:
    """開所日 corrected or the centre closed; a later change replaces an earlier one."""
    d = e.data
    insert_row(conn, centre_dates, {
        "event_id": e.id, "centre_id": e.subject, "opened_on": day(d["opened_on"]),
        "closed_on": day(d["closed_on"]) if d.get("closed_on") else None, "sequence": e.sequence,
        "time": instant(e.time)})


@HANDLERS.on(intake.CentreProfileSet)
def centre_profile_set(conn: Connection, e: Envelope) -> None:
    """開所年度 and the centre's municipality; a later profile replaces an earlier one."""
    d = e.data
    insert_row(conn, centre_profiles, {
        "event_id": e.id, "centre_id": e.subject, "opened_fy": int(d["opened_fy"]), "municipality": d["municipality"],
        "sequence": e.sequence, "time": instant(e.time)})


@HANDLERS.on(intake.CaseOpened)
def case_opened(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, cases, {
        "case_id": e.subject, "centre_id": d["centre_id"], "tenant": d["tenant"], "client_kind": d["client_kind"],
        "age_group": d["age_group"], "residence_municipality": d.get("residence_municipality")})


@HANDLERS.on(intake.ConsultationRecorded)
def consultation_recorded(conn: Connection, e: Envelope) -> None:
    d, occurred_at = e.data, instant(e.data["occurred_at"])
    record(conn, consultations, fact(
        e, occurred_at, consultation_id=d["consultation_id"], case_id=e.subject, centre_id=d["centre_id"],
        channel=d["channel"], consulted_by=d["consulted_by"], occurred_at=occurred_at))


@HANDLERS.on(intake.ConsultationVoided)
def consultation_voided(conn: Connection, e: Envelope) -> None:
    """A consultation entered by mistake stops counting from the void's time on (as_of sees both)."""
    c = consultations.c
    counted = conn.execute(select(c.event_id).where(
        c.consultation_id == e.data["consultation_id"], c.voided_at.is_(None))).scalars().all()
    if counted:  # retracted from the tallies while still counted there; a second void moves nothing
        retally(conn, consultations, c.event_id.in_(counted), sign=-1)
        conn.execute(consultations.update().where(c.event_id.in_(counted)).values(voided_at=instant(e.time)))


@HANDLERS.on(intake.OutreachVisitRecorded)
def outreach_visit_recorded(conn: Connection, e: Envelope) -> None:
    d, occurred_at = e.data, instant(e.data["occurred_at"])
    record(conn, outreach_visits, fact(
        e, occurred_at, visit_id=d["visit_id"], case_id=e.subject, centre_id=d["centre_id"],
        staff_role=d["staff_role"], occurred_at=occurred_at))


@HANDLERS.on(intake.ReferralMade)
def referral_made(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["referred_on"])
    record(conn, referrals, fact(
        e, on, referral_id=d["referral_id"], case_id=e.subject, centre_id=d["centre_id"],
        agency_id=d["agency_id"], agency_category=d["agency_category"], referred_on=on))


@HANDLERS.on(intake.SupportDecided)
def support_decided(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["decided_on"])
    record(conn, support_decisions, fact(
        e, on, referral_id=d["referral_id"], case_id=e.subject, centre_id=d["centre_id"],
        agency_id=d["agency_id"], agency_category=d["agency_category"], decided_on=on))
