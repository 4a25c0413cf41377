"""Attack (h-attack7) on the relay's record behind the loop (messaging/relay_batches.py
`_record_behind`) in a process killed on SQLite: intake (a process of its own, on a SQLite file)
comes back to a backlog of 2,000 imported consultations and drains it in batches of 500, each
batch's record in a thread while the next is published; kill -9 lands while the drain is under way
(the relay's recorded position past its start and short of the log's end), twice. Held when the
stream ends as the log once, in log order, each message chaining from the one before it."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.tools.natsserver import free_port
from soak.nats import SingleNats
from soak.processes import ServiceProcess
from tests.fault.test_attack_kill_sqlite_group import staff_and_case
from tests.harness import TLS, backend, eventually, stream_messages

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="a SQLite file")]
WHEN = "2016-07-01T10:00:00+09:00"
SECRET = "attack7-" + uuid.uuid4().hex * 2
IMPORTS, ITEMS, KILLS = 4, 500, 2


def _recorded(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        row = db.execute("SELECT position FROM relay_positions WHERE stream = 'INTAKE'").fetchone()
    return row[0] if row else 0


def _log(database: Path) -> list[int]:
    with sqlite3.connect(database, timeout=30) as db:
        return [i for i, in db.execute("SELECT id FROM intake_events ORDER BY id")]


def test_intake_killed_while_its_relay_drains_a_backlog_leaves_the_stream_the_log_once(tmp_path: Path) -> None:
    nats = SingleNats(tmp_path)
    database = tmp_path / "intake.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "TSUNAGU_VAR": str(tmp_path / "var"),
           "TSUNAGU_ENV": "dev", "TSUNAGU_JWT_SECRET": SECRET, "TSUNAGU_RATE_PER_ADDRESS": "0",
           "TSUNAGU_RATE_PER_PRINCIPAL": "0", "TSUNAGU_RATE_AUTH_FAILURES": "0",
           "NATS_URL": f"nats://127.0.0.1:{free_port()}"}  # nobody there: the log piles up
    intake = ServiceProcess("intake", free_port(), env, tmp_path / "intake.log")
    try:
        nats.start()
        nats.wait_ready()
        intake.start()
        intake.wait_healthy()
        staff, case = staff_and_case(intake, SECRET)
        for n in range(IMPORTS):
            r = httpx.post(f"{intake.url}/v1/consultation-imports", headers={**staff, "Idempotency-Key": f"k{n}"},
                           timeout=120, verify=TLS, json={"consultations": [
                               {"case_id": case, "channel": "phone", "occurred_at": WHEN, "summary": f"{n}.{i}"}
                               for i in range(ITEMS)]})
            assert r.status_code == 201, r.text[:300]
        log = _log(database)
        assert len(log) == 2 + IMPORTS * ITEMS
        intake.kill()
        intake.env["NATS_URL"] = nats.url_for("intake")
        killed_at = []
        for _ in range(KILLS):
            start = _recorded(database)
            intake.start()
            deadline = time.monotonic() + 90
            while _recorded(database) == start and time.monotonic() < deadline:
                time.sleep(0.01)
            intake.kill()
            killed_at.append(_recorded(database))
        assert any(log[0] < at < log[-1] for at in killed_at), (killed_at, log[-1])  # killed mid-drain
        intake.start()
        intake.wait_healthy()

        def sequences() -> list[int]:
            return [Envelope.from_json(m.data).sequence for m in stream_messages(nats.url_for("t"), "INTAKE")]

        eventually(lambda: sequences() == log, timeout=90)
        head = GENESIS
        for m in stream_messages(nats.url_for("t"), "INTAKE"):
            envelope = Envelope.from_json(m.data)
            assert envelope.chained(head).chainhash == envelope.chainhash, envelope.sequence
            head = envelope.chainhash
        eventually(lambda: _recorded(database) == log[-1], timeout=30)
        print(f"killed with the record at {killed_at} of {log[-1]}; starts: {intake.starts}")
    finally:
        intake.stop()
        nats.stop()
