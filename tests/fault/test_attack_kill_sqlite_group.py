"""Attack (h-attack1 on merge-s29): kill -9 of intake on SQLite while 8 clients post consultations,
their saves grouped (store/group_commit.py, on SQLite since h-http3) under the writers' lock
(store/sqlite_begin.py), twice, starting it again each time on the same file. Some keys are sent by two
clients (a retrying fleet). A client that loses its answer (the process died) sends the same request
again with the same Idempotency-Key until it gets one. Held when no client sees a 500, every answer of
a key names the same consultation, the case holds exactly one consultation per key (nothing lost with
an answer given, nothing doubled), /readyz is ready again after each start, and the stream holds the
log once in order (the relay's position survives the kill)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.tools.natsserver import free_port
from libs.platform.web.auth import mint_token
from soak.nats import SingleNats
from soak.processes import ServiceProcess
from tests.harness import TLS, backend, eventually, stream_messages

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="a SQLite file")]
CLIENTS, KILLS = 8, 3
WHEN = "2016-07-01T10:00:00+09:00"
SECRET = "attack1-" + uuid.uuid4().hex * 2


def _ready(intake: ServiceProcess) -> bool:
    try:
        return httpx.get(f"{intake.url}/readyz", timeout=5, verify=TLS).status_code == 200
    except httpx.HTTPError:
        return False


def staff_and_case(intake: ServiceProcess, secret: str) -> tuple[dict[str, str], str]:
    """A centre and a case made through the running process; the centre staff's headers and the case."""
    officer = {"Authorization": "Bearer " + mint_token(secret, sub="o", org="130001", roles=["prefecture_officer"])}
    centre = httpx.post(f"{intake.url}/v1/centres", headers=officer, timeout=30, verify=TLS, json={
        "name": "攻撃検証", "kind": "adult", "prefecture": "130001"}).json()["id"]
    staff = {"Authorization": "Bearer " + mint_token(secret, sub="s", org=centre, roles=["centre_staff"])}
    case = httpx.post(f"{intake.url}/v1/cases", headers=staff, timeout=30, verify=TLS, json={
        "centre_id": centre, "client_kind": "person", "age_group": "adult"}).json()["id"]
    return staff, case


def _answered(http: httpx.Client, url: str, key: str, lost: list[str]) -> httpx.Response:
    """The answer to the key's consultation: sent again while the process is down (the kill took the
    answer: `lost`), the key's first request is under way (409) or the service is unready (503)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            r = http.post(url, headers={"Idempotency-Key": key}, json={"channel": "phone", "occurred_at": WHEN})
            if r.status_code not in (409, 503) or time.monotonic() > deadline:
                return r
        except httpx.TransportError:
            lost.append(key)
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_kill_9_of_intake_mid_groups_on_sqlite_loses_and_doubles_nothing(tmp_path: Path) -> None:
    nats = SingleNats(tmp_path)
    database = tmp_path / "intake.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "NATS_URL": nats.url_for("intake"),
           "TSUNAGU_VAR": str(tmp_path / "var"), "TSUNAGU_ENV": "dev", "TSUNAGU_JWT_SECRET": SECRET,
           "TSUNAGU_RATE_PER_ADDRESS": "0", "TSUNAGU_RATE_PER_PRINCIPAL": "0", "TSUNAGU_RATE_AUTH_FAILURES": "0"}
    intake = ServiceProcess("intake", free_port(), env, tmp_path / "intake.log")
    try:
        nats.start()
        nats.wait_ready()
        intake.env["NATS_URL"] = nats.url_for("intake")  # a port taken at the start moved the node
        intake.start()
        intake.wait_healthy()
        staff, case = staff_and_case(intake, SECRET)
        stop = threading.Event()
        answers: dict[str, set[str]] = {}
        failures: list[str] = []
        lost: list[str] = []  # requests whose answer the kill took (sent again)
        lock = threading.Lock()

        def client(n: int) -> None:
            with httpx.Client(timeout=30, verify=TLS, headers=staff) as http:
                i = 0
                while not stop.is_set():
                    i += 1
                    key = f"shared-{n // 2}-{i}" if i % 3 == 0 else f"own-{n}-{i}"  # a pair's i-th keys
                    try:
                        r = _answered(http, f"{intake.url}/v1/cases/{case}/consultations", key, lost)
                    except httpx.HTTPError as e:  # no answer for a minute
                        failures.append(f"{key}: {e!r}")
                        return
                    if r.status_code not in (200, 201):
                        failures.append(f"{key}: {r.status_code} {r.text[:300]}")
                        return
                    with lock:
                        answers.setdefault(key, set()).add(r.json()["id"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for k in range(KILLS):
            eventually(lambda k=k: len(answers) >= 40 * (k + 1), timeout=120)
            intake.kill()
            intake.start()
            intake.wait_healthy()
            eventually(lambda: _ready(intake), timeout=60)
        eventually(lambda: len(answers) >= 40 * (KILLS + 1), timeout=120)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a client still waits for an answer"
        assert failures == []
        assert {k: ids for k, ids in answers.items() if len(ids) > 1} == {}, "a key answered with two ids"
        listed = httpx.get(f"{intake.url}/v1/cases/{case}/consultations", headers=staff, timeout=30, verify=TLS).json()
        assert listed["count"] == len(answers)
        eventually(lambda: _ready(intake), timeout=60)
        with sqlite3.connect(database) as db:
            log = [i for i, in db.execute("SELECT id FROM intake_events ORDER BY id")]
        eventually(lambda: [Envelope.from_json(m.data).sequence for m in stream_messages(nats.url_for("t"), "INTAKE")]
                   == log, timeout=60)
        assert len(log) == 2 + len(answers)  # the centre, the case, a consultation a key
        print(f"keys answered: {len(answers)}; events in the log: {len(log)}; starts: {intake.starts}; "
              f"requests sent again after a kill: {len(lost)} ({len(set(lost))} keys)")
    finally:
        intake.stop()
        nats.stop()
