"""Which failures say nothing about the message (retried without limit) and which do."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from libs.platform.messaging.consumer import is_transient


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
