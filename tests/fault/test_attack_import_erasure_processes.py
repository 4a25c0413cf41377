"""Attack (h-attack4): a case erased (crypto-shred) through the service while a second process on
the same SQLite file imports into it, that process holding the case's key in its own key cache
(sealed with at start). No import may commit a consultation of the case after its erasure (sealed
under the destroyed key, answered as recorded): each is refused or committed before, whole."""

from __future__ import annotations

import textwrap
import time

import pytest

from tests.e2e.test_attack_import_mix import WHEN
from tests.e2e.test_consultation_import import _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_import_two_processes import PRELUDE, ready
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file, two processes")]

SCRIPT = PRELUDE + textwrap.dedent("""
    case, other, when = rest
    at = datetime.fromisoformat(when)
    def items(k):
        return [ImportItem(UUID((case, other)[j % 2]), "phone", "person", at, f"秘密 {k}.{j}") for j in range(20)]
    app.import_consultations(actor, items(-1), None)  # the case's key now in this process's cache
    print("ready", flush=True)
    sys.stdin.readline()
    for k in range(40):
        try:
            app.import_consultations(actor, items(k), None)
            print("recorded", flush=True)
        except Exception as e:
            print("refused", type(e).__name__, flush=True)
""")


def erased_while(proc, intake, centre_id: str, case: str, delay: float) -> str:
    """Let the waiting script `proc` go, erase `case` through the service `delay` seconds later
    (sent again while a save holds it: 409), and return what the script printed once it ended."""
    assert proc.stdin is not None
    with intake.client(role="centre_staff", org=centre_id) as staff:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(delay)
        while (r := staff.post(f"/v1/cases/{case}/erasure", json={"on": "2016-06-01", "basis": "request_granted"})
               ).status_code == 409:
            pass
        assert r.status_code in (200, 201, 202), r.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_an_erasure_from_the_service_refuses_another_processs_imports_into_the_case(
        nats_server, start_service, delay: float):
    intake = start_service("intake", nats_server.url)
    centre_id, case = _setup_case(intake)
    other = _second_case(intake, centre_id)
    proc = ready(SCRIPT, intake.settings, centre_id, case, other, WHEN)
    out = erased_while(proc, intake, centre_id, case, delay)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        results = out.split("\n")
        recorded = sum(line == "recorded" for line in results)
        assert all(line in ("recorded", "refused SubjectForgotten", "") or line.startswith("refused ")
                   for line in results), results
        app = intake.runtime.application
        events = list(app.events.get(case))
        erased_at = next(n for n, e in enumerate(events) if "Erase" in type(e).__name__ or "Forgot" in type(e).__name__)
        after = [type(e).__name__ for e in events[erased_at + 1:]]
        assert "ConsultationRecorded" not in after, after  # nothing recorded into the case after its erasure
        kept = staff.get(f"/v1/cases/{other}/consultations").json()["count"]
        assert kept == 10 * (1 + recorded), (kept, recorded)  # each import whole or not at all
    print(f"delay {delay}: imports recorded {recorded} of 40, refused {40 - recorded}")
