"""The statements an engine sends, recorded for a test that counts statements or round trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def sent_statements(engine: Engine, keep: Callable[[str], bool] | None = None, *,
                    keep_sent: Callable[[str, Any], bool] | None = None) -> Iterator[list[str]]:
    """Every statement `engine` sends while inside (only those `keep` accepts, when given, or
    `keep_sent` given the statement and its parameters), in order."""
    sent: list[str] = []

    def execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (keep is None or keep(statement)) and (keep_sent is None or keep_sent(statement, parameters)):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", execute)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", execute)
