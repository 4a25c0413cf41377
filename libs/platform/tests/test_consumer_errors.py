"""Which failures say nothing about the message (retried without limit) and which do."""

from __future__ import annotations

import sqlite3

import pytest
from eventsourcing.persistence import InternalError
from sqlalchemy.exc import OperationalError

from libs.platform.messaging.consumer import is_transient
from tests.fault.test_database_connections import ended_for_idling
from tests.harness import backend


def _operational(message: str) -> OperationalError:
    return OperationalError("INSERT …", {}, sqlite3.OperationalError(message))


def test_a_locked_or_unreachable_database_is_transient() -> None:
    assert is_transient(_operational("database is locked"))
    assert is_transient(_operational('connection to server at "127.0.0.1" failed: Connection refused'))
    assert is_transient(ConnectionResetError())


def test_a_missing_column_or_a_bad_message_is_not() -> None:
    assert not is_transient(_operational("no such column: rp_activities.kind"))
    assert not is_transient(KeyError("report_id"))
    assert not is_transient(ValueError("bad date"))


@pytest.mark.skipif(backend() != "postgresql", reason="a session PostgreSQL ended")
def test_a_transaction_the_server_ended_for_idling_is_transient() -> None:
    """A replica paused past its lease inside an apply: PostgreSQL ended its session, and psycopg
    says InternalError (idle_in_transaction_session_timeout); nothing about the message."""
    ended = ended_for_idling()
    assert is_transient(ended)
    try:
        raise InternalError(ended) from ended  # as the event store's datastore wraps it
    except InternalError as wrapped:
        assert is_transient(wrapped)
