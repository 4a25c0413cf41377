"""Imports without If-Match into cases that another process (another replica of the service, an
operator's script) keeps appending single consultations to: the other process's writes are not
queued behind this process's locks, only behind the database's, so each optimistic attempt of an
import can lose to one; the last attempts hold the database's write lock (store/commuting.py) and
none may be refused 409 (issue 15). Both backends: SQLite's file, PostgreSQL's schema."""

from __future__ import annotations

import textwrap
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import eventsourcing_env, make_engine
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from services.intake.tests.test_import_against_single_commands import ITEMS, WHEN, _items
from tests.fault.test_attack_import_two_processes import PRELUDE, ready
from tests.harness import Database

pytestmark = pytest.mark.fault

SCRIPT = PRELUDE + textwrap.dedent("""
    import threading
    cases, when = rest
    when = datetime.fromisoformat(when)
    stop = threading.Event()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    k = 0
    while not stop.is_set():  # until the test's imports are all done
        app.record_consultation(actor, UUID(cases[k % len(cases)]), expected_version=None, channel="visit",
                                consulted_by="person", occurred_at=when, summary=f"単 {k}", idempotency_key=None)
        k += 1
    print(k, flush=True)
    app.close()
    engine.dispose()
""")


def test_imports_into_cases_another_process_keeps_appending_to_are_never_refused_409(tmp_path) -> None:
    database = Database(tmp_path)
    settings = database.settings("intake", "nats://127.0.0.1:1")
    engine = make_engine(settings)
    app = IntakeApplication(eventsourcing_env(settings), Sealer(engine, bytes.fromhex(settings.master_key_hex)))
    centre = uuid4()
    actor = Principal("staff", str(centre), frozenset({"centre_staff"}))
    proc = None
    try:
        cases: list[UUID] = []
        for _ in range(3):
            case = Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person",
                             age_group="adult", personal_details=None)
            app.save(case)
            cases.append(case.id)
        proc = ready(SCRIPT, settings, str(centre), [str(c) for c in cases], WHEN.isoformat())
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        conflicts = 0
        for k in range(8):
            try:
                assert len(app.import_consultations(actor, _items(cases, k), None).consultations) == ITEMS
            except IntegrityError:  # 409: what a client without If-Match must never see
                conflicts += 1
        out, err = proc.communicate("stop\n", timeout=120)
        assert proc.returncode == 0, err[-3000:]
        singles = int(out.split()[-1])
        print(f"imports refused 409: {conflicts} of 8; the other process's consultations: {singles}")
        assert conflicts == 0
        assert sum(app.repository.get(c).consultation_count for c in cases) == 8 * ITEMS + singles
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        app.close()
        engine.dispose()
        database.drop()
