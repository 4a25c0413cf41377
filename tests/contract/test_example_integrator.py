"""The example integrator in examples/ follows the INTAKE stream as a third party would, and
applies only what intake signed (checked with intake's public key, as its README says)."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import sqlite3
from pathlib import Path

import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.platform.messaging.signing import HEADER, EventSigner, public_key_hex
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, stream_messages

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "integrator" / "integrator.py"


def _load():
    spec = importlib.util.spec_from_file_location("integrator", EXAMPLE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {EXAMPLE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _publish(nats_url: str, subject: str, body: bytes, headers: dict[str, str]) -> None:
    async def go() -> None:
        nc = await nats.connect(nats_url)
        await nc.jetstream().publish(subject, body, headers=headers)
        await nc.close()

    asyncio.run(go())


def _counts(db: str) -> dict[int, int]:
    with sqlite3.connect(db) as conn:
        return {fy: n for _, fy, n in conn.execute("SELECT centre_id, fy, n FROM consultations")}


def _rejected(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return len(conn.execute("SELECT * FROM rejected").fetchall())


def test_the_example_integrator_keeps_its_own_counts_once_even_when_run_twice(nats_server, start_service, tmp_path,
                                                                               database):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for when in ("2016-05-01", "2017-03-31", "2017-04-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{when}T23:59:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    integrator, db = _load(), str(tmp_path / "integrator.db")
    key = public_key_hex(database.signing_keys["intake"])  # what `tsunagu keys public` prints
    assert asyncio.run(integrator.run(nats_server.url, db, key, idle_seconds=0.5)) == 5
    assert asyncio.run(integrator.run(nats_server.url, db, key, idle_seconds=0.5)) == 0  # its durable remembers
    assert _counts(db) == {2016: 2, 2017: 1} and _rejected(db) == 0
    assert "from libs" not in EXAMPLE.read_text() and "from services" not in EXAMPLE.read_text()


def test_the_example_integrator_applies_only_what_intake_signed(nats_server, start_service, tmp_path, database):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).raise_for_status()
    genuine = eventually(lambda: [m for m in stream_messages(nats_server.url, "INTAKE")
                                  if b"ConsultationRecorded" in m.data])[0]

    def copy(n: int) -> bytes:  # the same consultation under another event id: a second one
        event = json.loads(genuine.data)
        event["id"] = f"{event['id'][:-4]}{n:04d}"
        return json.dumps(event).encode()

    seed = database.signing_keys["intake"]
    legacy = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)).sign(copy(3))  # before contexts
    for body, headers in (
        (copy(1), {HEADER: EventSigner(os.urandom(32).hex()).header(copy(1))}),  # someone else's key
        (copy(2), {}),  # not signed
        (copy(3), {HEADER: "ed25519:" + base64.urlsafe_b64encode(legacy).decode().rstrip("=")}),
    ):
        _publish(nats_server.url, genuine.subject, body, headers)

    integrator, db = _load(), str(tmp_path / "integrator.db")
    key = public_key_hex(seed)
    assert asyncio.run(integrator.run(nats_server.url, db, key, idle_seconds=0.5)) == 6  # centre, case, 4 copies
    assert _counts(db) == {2016: 2}, "the genuine consultation and the one signed before contexts"
    assert _rejected(db) == 2, "the forged and the unsigned one are kept aside, never applied"
    # Another producer's key (e.g. registry's) verifies nothing of intake's.
    other = str(tmp_path / "other.db")
    with sqlite3.connect(other):
        pass
    integrator.DURABLE = "integrator-intake-other"
    assert asyncio.run(integrator.run(nats_server.url, other, public_key_hex(database.signing_keys["registry"]),
                                      idle_seconds=0.5)) == 6
    assert _counts(other) == {} and _rejected(other) == 6


def test_a_new_database_is_told_about_the_durable_and_from_start_reads_the_stream_again(
        nats_server, start_service, tmp_path, capsys, database):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    integrator, key = _load(), public_key_hex(database.signing_keys["intake"])
    assert asyncio.run(integrator.run(nats_server.url, str(tmp_path / "first.db"), key, idle_seconds=0.5)) == 3
    capsys.readouterr()

    second = str(tmp_path / "second.db")
    assert asyncio.run(integrator.run(nats_server.url, second, key, idle_seconds=0.5)) == 0  # the trap …
    assert "--from-start" in capsys.readouterr().err  # … now named where it happens
    assert asyncio.run(integrator.run(nats_server.url, second, key, idle_seconds=0.5, from_start=True)) == 3
    with sqlite3.connect(second) as conn:
        assert list(conn.execute("SELECT fy, n FROM consultations")) == [(2016, 1)]
    # again from the start on the same database: delivered again, counted once
    assert asyncio.run(integrator.run(nats_server.url, second, key, idle_seconds=0.5, from_start=True)) == 3
    with sqlite3.connect(second) as conn:
        assert list(conn.execute("SELECT fy, n FROM consultations")) == [(2016, 1)]
