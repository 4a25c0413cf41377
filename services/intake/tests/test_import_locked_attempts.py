"""The last attempts of a commuting command hold the database's write lock from loading their
aggregates to saving them (store/commuting.py). Here every re-run holds it (`locked_attempts`):
it must not deadlock with single commands of this process and of another replica, nor with keys
made meanwhile on the same database (on SQLite, the same file's write lock); an erasure committed
since the keys were looked up still refuses the locked save; and the aggregate cache holds what
the locked save stored."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import pytest

from libs.domain.errors import DomainError
from libs.platform.store.commuting import COMMUTING_RETRIES
from services.intake.application import IntakeApplication
from services.intake.tests.test_attack_import_retry import _second_case
from services.intake.tests.test_concurrent_consultations import _open_case, _racing, _record
from services.intake.tests.test_import_against_single_commands import _items
from tests.harness import stored_applications

HANG = 300  # seconds: a thread still running after this is deadlocked (the run takes seconds)


def _locked_runs(app: IntakeApplication) -> list[bool]:
    """Every re-run locked; the list of the locks taken (True: one was held)."""
    app.locked_attempts = COMMUTING_RETRIES
    taken: list[bool] = []
    write_locked = app.write_locked

    def counted(locked: bool = True) -> Any:
        if locked:
            taken.append(True)
        return write_locked(locked)

    app.write_locked = counted  # type: ignore[method-assign]
    return taken


def test_locked_attempts_do_not_deadlock_with_single_commands_and_keys_made_meanwhile(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app, replica = application(), application()
        first, actor = _open_case(app)
        cases = [first, *(_second_case(app, actor) for _ in range(2))]
        taken = _locked_runs(app)
        _locked_runs(replica)
        done = threading.Event()
        failures: list[BaseException] = []
        imported: list[int] = []
        made: list[int] = []

        def guarded(work: Any) -> Any:
            def run(*args: Any) -> None:
                try:
                    work(*args)
                except BaseException as e:  # noqa: BLE001 - failed in the main thread below
                    failures.append(e)
            return run

        @guarded
        def importer(n: int) -> None:
            for k in range(4):
                imported.append(len(app.import_consultations(actor, _items(cases, 10 * n + k), None).consultations))

        @guarded
        def single(on: IntakeApplication, n: int) -> None:
            k = 0
            while not done.is_set():
                _record(on, actor, cases[(k + n) % len(cases)], summary=f"単 {n}.{k}")
                k += 1

        @guarded
        def keys(on: IntakeApplication) -> None:  # new subjects' keys, one by one and many at once
            while not done.is_set():
                on.sealer.seal(str(uuid4()), "新しい相談者")
                on.sealer.keys([str(uuid4()) for _ in range(20)])
                made.append(21)

        others = [threading.Thread(target=single, args=(on, n)) for n, on in enumerate((app, replica))]
        others += [threading.Thread(target=keys, args=(on,)) for on in (app, replica)]
        importers = [threading.Thread(target=importer, args=(n,)) for n in range(2)]
        for t in others + importers:
            t.start()
        for t in importers:
            t.join(HANG)
        done.set()
        for t in others:
            t.join(HANG)
        assert not any(t.is_alive() for t in others + importers), "deadlocked"
        assert not failures, failures
        assert imported == [150] * 8 and made and taken  # every import recorded, keys made, locks held


def test_a_locked_import_attempt_is_refused_for_a_case_erased_since_its_keys_were_looked_up(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app, replica = application(), application()
        case_id, actor = _open_case(app)
        taken = _locked_runs(app)
        save = app.save

        def lose_then_erase(*objs: Any, **kwargs: Any) -> Any:
            if not taken:  # the first attempt: another replica records on the case and forgets its key
                _record(replica, actor, case_id)
                replica.sealer.forget(str(case_id))
            return save(*objs, **kwargs)

        app.save = lose_then_erase
        # The locked attempt sealed with the first's keys and its save refused them (SubjectForgotten);
        # the next looked them up and refused the items (422), as an import that looked first does.
        with pytest.raises(DomainError) as refused:
            app.import_consultations(actor, _items([case_id], 0)[:3], None)
        assert refused.value.status == 422 and "erased" in str(refused.value.extensions), refused.value.extensions
        assert taken == [True]
        assert replica.repository.get(case_id).consultation_count == 1  # the replica's only


def test_a_consultation_re_run_under_the_lock_leaves_the_cache_at_the_version_it_stored(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        taken = _locked_runs(first)
        _racing(first, second, actor, case_id)  # the first attempt loses to the other replica
        assert _record(first, actor, case_id).created
        assert taken
        case = first.repository.get(case_id)
        assert case.consultation_count == 2 and case.version == 3
        assert _record(first, actor, case_id, expected_version=3).created  # the ETag a client reads
