"""A command's save on SQLite sends its INSERTs as the driver's SQL, each compiled once per table
(store/bulk.sqlite_insert): SQLAlchemy's per-statement work (cache key, compiled parameters) was
~15 µs of each of a save's statements, issue 15. Same rows, same ids."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from libs.platform.store.creations import LedgerRow
from libs.platform.tests.test_save_round_trips import _case, _consulted
from services.intake.application import IntakeApplication
from tests.harness import backend, stored_applications

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="PostgreSQL's save sends its INSERTs as literals")


def test_a_saves_inserts_on_sqlite_are_the_drivers_sql_and_store_what_they_did(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = _case()
        app.save(case)
        inserts: list[tuple[str, bool]] = []

        def sent(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                inserts.append((statement.split("(")[0].split()[-1], context.compiled is not None))

        event.listen(app.recorder.datastore.engine, "after_cursor_execute", sent)
        row = LedgerRow("consultation-1", "consultation", str(case.id), 2, None, None)
        [recording] = app.save(_consulted(case), creations=[row])
        event.remove(app.recorder.datastore.engine, "after_cursor_execute", sent)
        assert inserts == [("intake_events", False), ("intake_creations", False)]  # compiled by SQLAlchemy: True
        assert recording.notification.id == app.recorder.max_notification_id()
        assert app.ledger.of_resource("consultation-1", case.id) is not None
        assert application().repository.get(case.id).version == 2
