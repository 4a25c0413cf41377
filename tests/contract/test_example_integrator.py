"""The example integrator in examples/ follows the INTAKE stream as a third party would."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from pathlib import Path

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "integrator" / "integrator.py"


def _load():
    spec = importlib.util.spec_from_file_location("integrator", EXAMPLE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {EXAMPLE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_integrator_keeps_its_own_counts_once_even_when_run_twice(nats_server, start_service, tmp_path):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for when in ("2016-05-01", "2017-03-31", "2017-04-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{when}T23:59:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    integrator, db = _load(), str(tmp_path / "integrator.db")
    assert asyncio.run(integrator.run(nats_server.url, db, idle_seconds=0.5)) == 5
    assert asyncio.run(integrator.run(nats_server.url, db, idle_seconds=0.5)) == 0  # its durable remembers
    with sqlite3.connect(db) as conn:
        counts = {fy: n for _, fy, n in conn.execute("SELECT centre_id, fy, n FROM consultations")}
    assert counts == {2016: 2, 2017: 1}
    assert "from libs" not in EXAMPLE.read_text() and "from services" not in EXAMPLE.read_text()


def test_a_new_database_is_told_about_the_durable_and_from_start_reads_the_stream_again(
        nats_server, start_service, tmp_path, capsys):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    integrator = _load()
    assert asyncio.run(integrator.run(nats_server.url, str(tmp_path / "first.db"), idle_seconds=0.5)) == 3
    capsys.readouterr()

    second = str(tmp_path / "second.db")
    assert asyncio.run(integrator.run(nats_server.url, second, idle_seconds=0.5)) == 0  # the trap …
    assert "--from-start" in capsys.readouterr().err  # … now named where it happens
    assert asyncio.run(integrator.run(nats_server.url, second, idle_seconds=0.5, from_start=True)) == 3
    with sqlite3.connect(second) as conn:
        assert list(conn.execute("SELECT fy, n FROM consultations")) == [(2016, 1)]
    # again from the start on the same database: delivered again, counted once
    assert asyncio.run(integrator.run(nats_server.url, second, idle_seconds=0.5, from_start=True)) == 3
    with sqlite3.connect(second) as conn:
        assert list(conn.execute("SELECT fy, n FROM consultations")) == [(2016, 1)]
