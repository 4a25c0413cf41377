"""The event store's engine on PostgreSQL has no connection event (issue 15): the rows of every
statement of a save's first query are read by a dialect event (store/core_inserts._every_result),
not by an `after_cursor_execute` listener, which put every statement of the engine on SQLAlchemy's
event path and made each Connection join a dispatcher of its own (~20 µs a checkout and statement:
each save's, each log read's). The save still reads every result: its ids, the check's and the
chain head's rows."""

from __future__ import annotations

import pytest

from libs.platform.tests.test_save_round_trips import _case, _consulted
from services.intake.application import IntakeApplication
from tests.harness import backend, stored_applications

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="the multi-statement save is PostgreSQL's")


def test_the_event_stores_engine_has_no_connection_event_and_a_save_reads_every_result(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        # The flag SQLAlchemy's statement path and Connection() check: True with any connection event.
        assert engine._has_events is False
        case = _case()
        [opened] = app.save(case)
        [recorded] = app.save(_consulted(case))
        assert recorded.notification.id > opened.notification.id
        assert recorded.notification.id == app.recorder.max_notification_id()
        assert application().repository.get(case.id).version == 2
