"""The work a database does for some statements, counted by the database itself, not timed
(bench/reports.py measures the reports' growth with it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

WORK_UNIT = {"sqlite": "VM steps", "postgresql": "buffers"}


class Work:
    """The work a report's statements do, counted by the database, not timed: on a shared machine
    it does not move with the load. SQLite: virtual-machine steps (a progress handler called every
    STEPS of them); PostgreSQL: buffers touched (EXPLAIN (ANALYZE, BUFFERS) of each statement it ran)."""

    STEPS = 100

    def __init__(self, engine: Engine) -> None:
        self.engine, self.steps = engine, 0
        self.statements: list[tuple[str, Any]] = []
        self.counting = False
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", self._on_connect)
            engine.dispose()  # pooled connections were made without the handler
        else:
            event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_progress_handler(self._step, self.STEPS)

    def _step(self) -> int:
        self.steps += self.counting
        return 0  # go on

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                    _many: bool) -> None:
        if self.counting:
            self.statements.append((statement, parameters))

    def of(self, query: Callable[[], object]) -> int:
        self.steps, self.statements, self.counting = 0, [], True
        try:
            query()
        finally:
            self.counting = False
        if self.engine.dialect.name == "sqlite":
            return self.steps * self.STEPS
        buffers = 0
        with self.engine.connect() as conn:
            for statement, parameters in self.statements:
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}",
                                            parameters).scalar_one()[0]["Plan"]
                buffers += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
        return buffers
