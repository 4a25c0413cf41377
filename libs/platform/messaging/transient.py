"""Which failures of a consumer's apply are the infrastructure's rather than the message's: those
are retried without limit and never dead-lettered (consumer.py, consumer_batches.py)."""

from __future__ import annotations

import sqlalchemy.exc
from eventsourcing import persistence

from libs.platform.store.connection_lost import connection_lost

# Failures of the infrastructure rather than of the message. An OperationalError is one only when
# it says so: SQLite also raises it for "no such column", which retrying would never cure.
TRANSIENT = (
    persistence.InterfaceError, persistence.ConnectionUnavailableError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError, ConnectionError, TimeoutError,
)
OPERATIONAL = (persistence.OperationalError, sqlalchemy.exc.OperationalError)
TRANSIENT_WORDS = ("database is locked", "connection", "could not connect", "server closed", "timeout",
                   "terminating", "the database system is", "could not serialize", "deadlock")


def is_transient(e: BaseException) -> bool:
    if connection_lost(e):  # the server ended the session, whatever the error's class
        return True
    for error in (e, e.__cause__):
        if isinstance(error, TRANSIENT):
            return True
        if isinstance(error, OPERATIONAL) and any(w in str(error).lower() for w in TRANSIENT_WORDS):
            return True
    return False
