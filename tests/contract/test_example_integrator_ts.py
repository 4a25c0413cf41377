"""The TypeScript example integrator (examples/integrator-ts, the official `nats` npm client) follows
the INTAKE stream of a real service on a real nats-server, as a third party's system would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "integrator-ts"


def _node_or_skip() -> str:
    node = shutil.which("node")
    built = (EXAMPLE / "dist" / "integrator.js").exists() and (EXAMPLE / "node_modules" / "nats").exists()
    if node and built:
        return node
    reason = ("node is not installed" if not node else
              "examples/integrator-ts is not installed and built: `make install` does it with npm")
    if os.environ.get("CI") == "true":
        pytest.fail(f"the TypeScript integrator test must run in CI: {reason}")
    pytest.skip(reason)


def _integrator(node: str, nats_url: str, state: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([node, str(EXAMPLE / "dist" / "integrator.js"), "--nats", nats_url, "--state", str(state),
                           "--idle-ms", "1000", *flags], capture_output=True, text=True, timeout=120, cwd=EXAMPLE)


def test_the_typescript_integrator_counts_each_consultation_once_and_can_start_over(
        nats_server, start_service, tmp_path):
    node = _node_or_skip()
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for when in ("2016-05-01", "2017-03-31", "2017-04-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{when}T23:59:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.require_relay().lag() == 0)

    first = tmp_path / "first.json"
    ran = _integrator(node, nats_server.url, first)
    assert ran.returncode == 0 and ran.stdout == "handled 5 events\n", ran
    # 23:59 JST on 31 March is still FY2016; 1 April starts FY2017
    assert json.loads(first.read_text())["consultations"] == {centre_id: {"2016": 2, "2017": 1}}
    again = _integrator(node, nats_server.url, first)
    assert again.stdout == "handled 0 events\n" and "--from-start" not in again.stderr, again  # its durable remembers

    second = tmp_path / "second.json"
    trap = _integrator(node, nats_server.url, second)
    assert trap.stdout == "handled 0 events\n" and "--from-start" in trap.stderr, trap
    fresh = _integrator(node, nats_server.url, second, "--from-start")
    assert fresh.returncode == 0 and fresh.stdout == "handled 5 events\n", fresh
    assert json.loads(second.read_text())["consultations"] == {centre_id: {"2016": 2, "2017": 1}}
    assert "@tsunagu" not in (EXAMPLE / "package.json").read_text()  # nothing of ours, only `nats`
