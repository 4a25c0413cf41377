"""Registry facts: ひきこもりサポーター registrations, terms, endings and 登録名簿の提供, per registrar."""

from __future__ import annotations

from sqlalchemy import Connection

from libs.domain import registry
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.projection import ProjectionHandler
from services.reporting.projections import registered
from services.reporting.projections.common import day, fact
from services.reporting.projections.tables import (
    rosters,
    supporter_endings,
    supporter_terms,
)
from services.reporting.projections.tallies import record

HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("registry")


def _term(kind: str) -> ProjectionHandler:
    def project(conn: Connection, e: Envelope) -> None:
        d, issued_on = e.data, day(e.data["issued_on"])
        before = registered.of_supporter(conn, e.subject)
        record(conn, supporter_terms, fact(
            e, issued_on, supporter_id=e.subject, kind=kind, issued_on=issued_on,
            term_starts_on=day(d["term_starts_on"]), term_ends_on=day(d["term_ends_on"])))
        registered.move(conn, before, registered.of_supporter(conn, e.subject))
    return project


def _ending(reason: str, field: str) -> ProjectionHandler:
    def project(conn: Connection, e: Envelope) -> None:
        on = day(e.data[field])
        before = registered.of_supporter(conn, e.subject)
        record(conn, supporter_endings, fact(
            e, on, supporter_id=e.subject, reason=reason, ended_on=on))
        registered.move(conn, before, registered.of_supporter(conn, e.subject))
    return project


@HANDLERS.on(registry.RosterProvided)
def roster_provided(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["provided_on"])
    record(conn, rosters, fact(
        e, on, roster_id=e.subject, recipient=d["recipient"], provided_on=on, entries=len(d["entries"])))


HANDLERS.on(registry.SupporterRegistered)(_term("registered"))
HANDLERS.on(registry.RegistrationRenewed)(_term("renewed"))
HANDLERS.on(registry.RegistrationWithdrawn)(_ending("withdrawn", "withdrawn_on"))
HANDLERS.on(registry.RegistrationRevoked)(_ending("revoked", "revoked_on"))
HANDLERS.on(registry.RegistrationExpired)(_ending("expired", "term_ended_on"))
