"""An import without If-Match on cases that single commands keep writing meanwhile (issue 15: a
client without If-Match sees 409 only when it asked for a version). The import loads its cases,
builds hundreds of events and saves them: a single consultation lands in between every time, so
its optimistic attempts alone could all lose (h-attack: 2-3 of 18 imports answered 409). Its last
attempts hold the service's write lock from loading the cases to saving them (store/locked.py),
so none of them can lose."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.tests.test_attack_import_retry import _second_case
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from tests.harness import stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)
IMPORTS = 6  # per importing thread
ITEMS = 150


def _items(cases: list[UUID], n: int) -> list[ImportItem]:
    return [ImportItem(cases[(j + n) % len(cases)], "email", "person", WHEN, f"移行 {n}.{j}") for j in range(ITEMS)]


def test_imports_on_cases_that_single_commands_keep_writing_are_never_refused_409(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app, replica = application(), application()  # the service and another replica of it
        cases_first, actor = _open_case(app)
        cases = [cases_first, *(_second_case(app, actor) for _ in range(2))]
        done = threading.Event()
        conflicts: list[int] = []
        recorded: list[int] = []
        singles: list[Any] = []
        failures: list[BaseException] = []

        def importer(n: int) -> None:
            try:
                for k in range(IMPORTS):
                    try:
                        made = app.import_consultations(actor, _items(cases, n * IMPORTS + k), None)
                        recorded.append(len(made.consultations))
                    except IntegrityError:  # 409: what a client without If-Match must never see
                        conflicts.append(n)
            except BaseException as e:  # noqa: BLE001 - failed in the main thread below
                failures.append(e)

        def single(on: IntakeApplication, n: int) -> None:
            k = 0
            try:
                while not done.is_set():  # every import runs while single commands land
                    singles.append(_record(on, actor, cases[(k + n) % len(cases)], summary=f"単 {n}.{k}"))
                    k += 1
            except BaseException as e:  # noqa: BLE001
                failures.append(e)

        writers = [threading.Thread(target=single, args=(on, n)) for n, on in enumerate((app, app, replica))]
        importers = [threading.Thread(target=importer, args=(n,)) for n in range(2)]
        for t in writers + importers:
            t.start()
        for t in importers:
            t.join()
        done.set()
        for t in writers:
            t.join()
        assert not failures, failures
        print(f"imports refused 409: {len(conflicts)} of {2 * IMPORTS}; single consultations: {len(singles)}")
        assert conflicts == []
        assert recorded == [ITEMS] * (2 * IMPORTS)
        total = sum(replica.repository.get(c).consultation_count for c in cases)
        assert total == 2 * IMPORTS * ITEMS + len(singles)
