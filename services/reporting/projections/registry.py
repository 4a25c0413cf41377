"""Registry facts: ひきこもりサポーター registrations, terms, endings and 登録名簿の提供, per registrar."""

from __future__ import annotations

from sqlalchemy import Connection

from libs.platform.messaging.cloudevents import Envelope
from services.reporting.projections.common import Handlers, day, fact
from services.reporting.projections.tables import (
    rosters,
    supporter_endings,
    supporter_terms,
)


def _term(kind: str):  # noqa: ANN202
    def project(conn: Connection, e: Envelope) -> None:
        d, issued_on = e.data, day(e.data["issued_on"])
        conn.execute(supporter_terms.insert().values(fact(
            e, issued_on, supporter_id=e.subject, kind=kind, issued_on=issued_on,
            term_starts_on=day(d["term_starts_on"]), term_ends_on=day(d["term_ends_on"]))))
    return project


def _ending(reason: str, field: str):  # noqa: ANN202
    def project(conn: Connection, e: Envelope) -> None:
        on = day(e.data[field])
        conn.execute(supporter_endings.insert().values(fact(
            e, on, supporter_id=e.subject, reason=reason, ended_on=on)))
    return project


def roster_provided(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["provided_on"])
    conn.execute(rosters.insert().values(fact(
        e, on, roster_id=e.subject, recipient=d["recipient"], provided_on=on, entries=len(d["entries"]))))


HANDLERS: Handlers = {
    ("registry", "SupporterRegistered"): _term("registered"),
    ("registry", "RegistrationRenewed"): _term("renewed"),
    ("registry", "RegistrationWithdrawn"): _ending("withdrawn", "withdrawn_on"),
    ("registry", "RegistrationRevoked"): _ending("revoked", "revoked_on"),
    ("registry", "RegistrationExpired"): _ending("expired", "term_ended_on"),
    ("registry", "RosterProvided"): roster_provided,
}
