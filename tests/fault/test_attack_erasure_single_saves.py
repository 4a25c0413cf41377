"""Attack (h-attack7) on the SQLite save path as driver SQL (store/driver_sql.py: a save's erasure
check, keystore.erased_among_held, one parameter read by json_each): a case erased through the
service while a second process on the same file records single consultations into it (no
If-Match, each sealed with the case's key that process cached at start, so each save's check is
what refuses it). No consultation may commit into the case after its erasure: each is refused or
committed before."""

from __future__ import annotations

import textwrap

import pytest

from tests.e2e.test_attack_import_mix import WHEN
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_import_erasure_processes import erased_while
from tests.fault.test_attack_import_two_processes import PRELUDE, ready
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file, two processes")]

SCRIPT = PRELUDE + textwrap.dedent("""
    case, when = rest
    at = datetime.fromisoformat(when)
    def consult(k):
        app.record_consultation(actor, UUID(case), expected_version=None, channel="phone", consulted_by="person",
                                occurred_at=at, summary=f"秘密 {k}", idempotency_key=None)
    consult(-1)  # the case's key now in this process's cache
    print("ready", flush=True)
    sys.stdin.readline()
    refused = 0
    for k in range(5000):  # until the erasure lands, however fast the saves run, then a few more
        try:
            consult(k)
            print("recorded", flush=True)
        except Exception as e:
            print("refused", type(e).__name__, flush=True)
            refused += 1
            if refused == 5:
                break
""")


@pytest.mark.parametrize("delay", [0.05])
def test_an_erasure_from_the_service_refuses_another_processs_single_consultations(
        nats_server, start_service, delay: float):
    intake = start_service("intake", nats_server.url)
    centre_id, case = _setup_case(intake)
    proc = ready(SCRIPT, intake.settings, centre_id, case, WHEN)
    out = erased_while(proc, intake, centre_id, case, delay)
    results = [line for line in out.split("\n") if line]
    recorded = sum(line == "recorded" for line in results)
    events = list(intake.runtime.application.events.get(case))
    erased_at = next(n for n, e in enumerate(events) if "Erase" in type(e).__name__ or "Forgot" in type(e).__name__)
    after = [type(e).__name__ for e in events[erased_at + 1:]]
    assert "ConsultationRecorded" not in after, after  # nothing recorded into the case after its erasure
    assert 0 < recorded < len(results), results  # the erasure landed among the saves
    print(f"delay {delay}: recorded {recorded} of {len(results)}; refusals {set(results) - {'recorded'}}")
