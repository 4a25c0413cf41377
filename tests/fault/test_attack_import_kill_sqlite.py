"""Attack (h-attack4): an import killed with kill -9 mid-way on SQLite (the events' executemany,
the ids counted back, the ledger rows, the COMMIT: wherever the signal lands), then sent again with
the same Idempotency-Key through the service on the same file. The second answer is 200 (the
killed one committed: the same consultations) or 201 (it did not: recorded now), never a part of
it; each round adds exactly 500 consultations, and the log stays verifiable (ids, ledger, chain)."""

from __future__ import annotations

import random
import textwrap
import time

import pytest

from tests.e2e.test_attack_import_mix import WHEN, _check_log, _follow_with_if_match
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_import_two_processes import PRELUDE, ready
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file, kill -9")]

SCRIPT = PRELUDE + textwrap.dedent("""
    cases, when, key = rest
    items = [ImportItem(UUID(cases[j % len(cases)]), "phone", "person", datetime.fromisoformat(when), f"{key} {j}")
             for j in range(500)]
    app.get_cases(actor, [UUID(c) for c in cases])  # warm: the import itself is what the kill interrupts
    print("ready", flush=True)
    sys.stdin.readline()
    app.import_consultations(actor, items, key)
    print("done", flush=True)
""")


def test_an_import_killed_mid_way_and_sent_again_with_its_key_is_recorded_once_and_whole(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, first = _setup_case(intake)
    cases = [first, _second_case(intake, centre_id)]
    rnd = random.Random(4)
    answers = []
    with intake.client(role="centre_staff", org=centre_id) as staff:
        def count() -> int:
            return sum(staff.get(f"/v1/cases/{c}/consultations").json()["count"] for c in cases)

        for round_ in range(6):
            key = f"killed {round_}"
            proc = ready(SCRIPT, intake.settings, centre_id, cases, WHEN, key)
            assert proc.stdin is not None
            before = count()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            time.sleep(rnd.uniform(0.01, 0.25))
            proc.kill()
            proc.wait(10)
            items = [_item(cases[j % 2], WHEN, f"{key} {j}") for j in range(500)]
            items = [{**i, "consulted_by": "person"} for i in items]
            r = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": key})
            assert r.status_code in (200, 201), r.text[:500]
            answers.append(r.status_code)
            assert count() == before + 500
    print(f"answers after the kill: {answers}")
    _check_log(intake, nats_server.url, cases)
    _follow_with_if_match(intake, centre_id, cases)
