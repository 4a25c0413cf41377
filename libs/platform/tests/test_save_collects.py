"""A save collects its aggregates' events as the library's ProcessingEvent does, without its runtime
Protocol checks (store/application.Collected, issue 15). In memory (eventsourcing's POPO store)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast
from uuid import uuid4

import eventsourcing.application as library
import pytest

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.application import ServiceApplication
from services.intake.domain.place import Place


class Intake(ServiceApplication):
    name = "intake"


def _place() -> Place:
    return Place.open(id=uuid4(), tenant="131016", programme_id=None, name="居場所ひだまり", operator="NPO",
                      municipality="131016", address="千代田区神田1-1", schedule={"tue": ["13:00", "17:00"]})


class _Counted(type):
    checks = 0

    def __instancecheck__(cls, obj: Any) -> bool:
        _Counted.checks += 1
        return False


def test_a_save_of_aggregates_asks_no_runtime_protocol_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Intake({"PERSISTENCE_MODULE": "eventsourcing.popo"}, sealer=cast(Sealer, None))
    for protocol in ("DomainEventProtocol", "CollectEventsProtocol"):
        monkeypatch.setattr(library, protocol, _Counted(protocol, (), {}))
    _Counted.checks = 0
    places = [_place(), _place()]
    app.save(*places)
    assert _Counted.checks == 0
    assert [p.version for p in (app.repository.get(p.id) for p in places)] == [1, 1]


def test_a_save_of_aggregates_and_events_stores_them_in_the_order_given() -> None:
    app = Intake({"PERSISTENCE_MODULE": "eventsourcing.popo"}, sealer=cast(Sealer, None))
    first, second = _place(), _place()
    app.save(first)
    first.close(closed_on=date(2024, 6, 4))
    opened = second.collect_events()  # an event given as itself, not by its aggregate
    recordings = app.save(first, None, *opened)
    assert [(r.domain_event.originator_id, r.domain_event.originator_version) for r in recordings] == \
        [(first.id, 2), (second.id, 1)]
    assert app.repository.get(first.id).version == 2
    assert app.repository.get(second.id).version == 1
