"""The service recorder reads and writes events with Core statements (store/core.py): what it
reads is what the library's ORM query reads, for every shape of query, and a save of several
events gets their log positions in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing_sqlalchemy.recorders import SQLAlchemyProcessRecorder

from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def test_core_reads_equal_the_librarys_and_a_save_of_several_events_gets_positions_in_order(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         personal_details=None)
        for _ in range(5):
            case.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                     occurred_at=WHEN, summary=None)
        recordings = app.save(case)
        positions = [r.notification.id for r in recordings]
        assert positions == sorted(positions) and len(set(positions)) == 6
        assert [r.notification.originator_version for r in recordings] == [1, 2, 3, 4, 5, 6]
        assert app.recorder.core.usable()
        shapes: list[dict[str, Any]] = [{}, {"gt": 2}, {"lte": 4}, {"gt": 1, "lte": 5}, {"desc": True, "limit": 1},
                                        {"gt": 2, "desc": True}, {"limit": 3}]
        for shape in shapes:
            ours = app.recorder.select_events(case.id, **shape)
            theirs = SQLAlchemyProcessRecorder.select_events(app.recorder, case.id, **shape)
            assert ours == theirs and all(isinstance(e, StoredEvent) for e in ours), shape


def test_a_stale_save_is_the_librarys_integrity_error(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         personal_details=None)
        app.save(case)
        twins = app.repository.get(case.id), app.repository.get(case.id)
        for twin in twins:
            twin.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                     occurred_at=WHEN, summary=None)
        app.save(twins[0])
        with pytest.raises(IntegrityError):
            app.save(twins[1])
