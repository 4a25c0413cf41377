"""Whether a database error says the connection is gone, whatever error class the driver gave it.

The services answer the database being away with 503 and Retry-After (web/problems.py) and their
consumers retry it without limit (messaging/transient.py), by error class: OperationalError and
InterfaceError. But psycopg classes a session the server ended by its SQLSTATE, and some of those
are not operational: PostgreSQL's `idle_in_transaction_session_timeout` (25P03, which ends the
transaction of a replica paused or starved past a lease: store/db.py, lease.py; a locked attempt
holds one open across the command's own work, store/commuting.py) is an InternalError. A request
that woke in such a transaction answered 500, and a consumer's apply counted it against the message
(dead-lettered after max_deliver). SQLAlchemy marks every error after which the connection is
unusable (the dialect's is_disconnect: psycopg's connection closed or broken) `connection_invalidated`:
that, not the class, says the database went away. The event store's errors carry SQLAlchemy's as
their cause (eventsourcing-sqlalchemy wraps them)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


def connection_lost(e: BaseException) -> bool:
    """Whether `e` (or the error it wraps) left its connection unusable: the server ended the
    session, or the connection broke."""
    return any(isinstance(error, DBAPIError) and error.connection_invalidated for error in (e, e.__cause__))
