"""Programme facts from INTAKE: who runs which programme, 居場所 sessions, group activities, 後方支援."""

from __future__ import annotations

from sqlalchemy import Connection

from libs.domain import intake
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.batch import insert_row, update_rows
from libs.platform.readmodels.projection import ProjectionHandler
from services.reporting.projections.common import day, fact, instant
from services.reporting.projections.tables import (
    backoffice_supports,
    group_activities,
    pending_programmes,
    place_sessions,
    prefectural_backups,
    programmes,
)
from services.reporting.projections.tallies import record

HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("intake")


@HANDLERS.on(intake.ProgrammeStarted)
def programme_started(conn: Connection, e: Envelope) -> None:
    d = e.data
    waiting = bool(d.get("invited"))  # v1 events named no invitee
    insert_row(conn, pending_programmes if waiting else programmes, {
        "programme_id": e.subject, "tenant": d["tenant"], "kind": d["kind"], "starts_on": day(d["starts_on"]),
        "ends_on": day(d["ends_on"]) if d["ends_on"] else None, "time": instant(e.time)})


@HANDLERS.on(intake.ProgrammeOperatorAccepted)
def programme_operator_accepted(conn: Connection, e: Envelope) -> None:
    """The last acceptance makes the programme run: counted from then on."""
    if e.data["invited"]:
        return
    pending = pending_programmes.c.programme_id == e.subject
    row = conn.execute(pending_programmes.select().where(pending)).mappings().first()
    if row is not None:
        insert_row(conn, programmes, {**row, "time": instant(e.time)})
        conn.execute(pending_programmes.delete().where(pending))


@HANDLERS.on(intake.ProgrammeOperatorDeclined)
def programme_operator_declined(conn: Connection, e: Envelope) -> None:
    conn.execute(pending_programmes.delete().where(pending_programmes.c.programme_id == e.subject))


@HANDLERS.on(intake.ProgrammeEnded)
def programme_ended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, programmes, {"programme_id": e.subject}, {"ended_on": day(e.data["ended_on"])})
    conn.execute(pending_programmes.delete().where(pending_programmes.c.programme_id == e.subject))


@HANDLERS.on(intake.PlaceSessionHeld)
def place_session_held(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["held_on"])
    record(conn, place_sessions, fact(
        e, on, place_id=e.subject, held_on=on, participants=d["participants"], supporters=len(d["supporter_ids"])))


@HANDLERS.on(intake.GroupActivityHeld)
def group_activity_held(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["held_on"])
    record(conn, group_activities, fact(e, on, kind=d["kind"], held_on=on,
                                                       participants=d["participants"]))


@HANDLERS.on(intake.BackOfficeSupportGiven)
def backoffice_support_given(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["given_on"])
    record(conn, backoffice_supports, fact(
        e, on, centre_id=e.subject, kind=d["kind"], recipient_kind=d["recipient_kind"], given_on=on))


@HANDLERS.on(intake.PrefecturalBackupGiven)
def prefectural_backup_given(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["given_on"])
    record(conn, prefectural_backups, fact(
        e, on, municipality=d["municipality"], kind=d["kind"], given_on=on, staff_days=d["staff_days"]))
