"""Attack (h-attack4): on SQLite a save of many events goes by the driver's executemany, the new
events' ids counted back from last_insert_rowid() (store/bulk.py _sqlite_rowids), which holds only
if no other connection writes between. Here a second process on the same file (another intake
application: an operator's migration script beside the service) imports into the same cases while
the service takes imports and single consultations over HTTP. Afterwards every notification id is
its event's, every ledger row at its event's version, the service's relay publishes the whole log
once in order and chained, audit verify is ok, and the ETags take a following If-Match."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.test_attack_import_mix import WHEN, _check_log, _follow_with_if_match
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file, two processes")]

# Another intake application on the service's database, as a centre's staff: its first line of
# input is the pickled (settings, centre, *rest) of the test (the rest in `rest`).
PRELUDE = textwrap.dedent("""
    import pickle, sys, time
    from datetime import datetime
    from uuid import UUID
    from libs.platform.privacy.sealing import Sealer
    from libs.platform.store.db import eventsourcing_env, make_engine
    from libs.platform.web.auth import Principal
    from services.intake.application import IntakeApplication
    from services.intake.application.imports import ImportItem
    settings, centre, *rest = pickle.loads(bytes.fromhex(sys.stdin.readline()))
    engine = make_engine(settings)
    app = IntakeApplication(eventsourcing_env(settings), Sealer(engine, bytes.fromhex(settings.master_key_hex)))
    actor = Principal("script", centre, frozenset({"centre_staff"}))
""")
SCRIPT = PRELUDE + textwrap.dedent("""
    cases, when = rest
    print("ready", flush=True)
    sys.stdin.readline()  # the HTTP clients start at the same time
    when = datetime.fromisoformat(when)
    for k in range(12):
        items = [ImportItem(UUID(cases[(j + k) % len(cases)]), "email", "person", when, f"script {k}.{j}")
                 for j in range(30)]
        for attempt in range(50):
            try:
                app.import_consultations(actor, items, f"script {k}" if k % 2 else None)
                break
            except Exception as e:  # a lost race (409) or a busy file: sent again, as a portal would
                print(type(e).__name__, e, file=sys.stderr, flush=True)
        else:
            raise SystemExit(f"import {k} never recorded")
        print(k, flush=True)
        if k == 0:  # the rest once the service wrote after it: interleaved, however fast the imports ran
            mine, deadline = app.recorder.max_notification_id(), time.monotonic() + 20
            while app.recorder.max_notification_id() == mine and time.monotonic() < deadline:
                time.sleep(0.005)
    app.close()
    engine.dispose()
""")


def ready(script: str, *args: Any) -> subprocess.Popen[str]:
    """The script (PRELUDE + its own lines) started with these args, once it printed "ready"."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pickle.dumps(args).hex() + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_imports_from_a_second_process_on_the_same_sqlite_file_keep_ids_ledger_and_chain(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, first = _setup_case(intake)
    cases = [first, *(_second_case(intake, centre_id) for _ in range(2))]
    go = threading.Barrier(3)
    answers: list[int] = []

    def script() -> tuple[int, str, str]:
        proc = ready(SCRIPT, intake.settings, centre_id, cases, WHEN)
        go.wait()
        out, err = proc.communicate("go\n", timeout=50)
        return proc.returncode, out, err

    def http(n: int) -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            go.wait()
            for k in range(20):
                if k % 2:
                    items = [_item(cases[(j + n) % 3], WHEN, f"http {n}.{k}.{j}") for j in range(25)]
                    while (r := staff.post("/v1/consultation-imports", json={"consultations": items},
                                           headers={"Idempotency-Key": f"http {n} {k}"})).status_code in (409, 503):
                        pass
                else:
                    r = staff.post(f"/v1/cases/{cases[k % 3]}/consultations",
                                   json={"channel": "visit", "occurred_at": WHEN, "summary": f"単 {n}.{k}"})
                answers.append(r.status_code)

    with ThreadPoolExecutor(3) as pool:
        ran = pool.submit(script)
        clients = [pool.submit(http, n) for n in range(2)]
        for c in clients:
            c.result()
        code, out, err = ran.result()
    assert code == 0 and out.split()[-1] == "11", (out, err[-3000:])
    print(f"the script's imports sent again: {len(err.splitlines())}")
    assert set(answers) == {201}, answers
    app = intake.runtime.application
    channels = [app.mapper.transcoder.decode(n.state).get("channel")
                for n in app.recorder.select_notifications(start=None, limit=100_000)]
    script_ran = [n for n, c in enumerate(channels) if c == "email"]
    assert len(script_ran) == 360 and set(channels[script_ran[0]:script_ran[-1]]) - {"email"}  # interleaved
    _check_log(intake, nats_server.url, cases)
    _follow_with_if_match(intake, centre_id, cases)
