"""Attack on h-save (the chain head read in the lock's round trip, the ledger and the outbox in one
statement): two intake replicas on PostgreSQL saving at once, keys raced across the replicas, and
the replicas' connections terminated (pg_terminate_backend) mid-save. The published chain must
verify end to end, nothing lost or doubled, no 500."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text

from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.messaging.replay import read_stream
from libs.platform.web.auth import mint_token
from soak.ha import POSTGRES_URL, STREAMS, Load, Tally, check, intake_pair
from tests.harness import TLS, backend

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]


def _race(replicas, answers: list, key: str) -> None:
    """One registration under one key, sent to both replicas at the same instant."""
    token = mint_token(replicas.secret, sub="racer", org="130001", roles=["prefecture_officer"])
    body = {"name": f"競争センター{key[-6:]}", "kind": "adult", "prefecture": "130001"}
    gate = threading.Barrier(2)

    def post(url: str) -> None:
        with httpx.Client(timeout=30, verify=TLS, headers={"Authorization": f"Bearer {token}"}) as http:
            gate.wait()
            r = http.post(f"{url}/v1/centres", json=body, headers={"Idempotency-Key": key})
            answers.append((key, r.status_code, r.json().get("id") if r.is_success else r.text[:200]))

    threads = [threading.Thread(target=post, args=(p.url,)) for p in replicas.procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_saves_on_two_replicas_with_raced_keys_and_killed_connections_chain_end_to_end(tmp_path):
    with intake_pair(tmp_path) as (replicas, nats_url):
        tally = Tally()
        load = Load(replicas, clients=3, tally=tally)
        engine = create_engine(POSTGRES_URL)
        answers: list = []
        terminated = 0
        load.start()
        try:
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline:
                _race(replicas, answers, key := f"race-{uuid.uuid4().hex[:8]}")
                tally.accepted.update((key, a) for k, s, a in answers if k == key and s < 300)
                with engine.begin() as conn:  # the replicas' busy connections, mid-statement
                    terminated += conn.execute(text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name "
                        "LIKE :app AND state = 'active' AND pid <> pg_backend_pid()"),
                        {"app": f"{replicas.run}_intake_%"}).scalar_one()
                time.sleep(0.2)
        finally:
            load.stop()
            engine.dispose()
        found = check(replicas, nats_url, tally)
        published = sorted((Envelope.from_json(m) for m in asyncio.run(read_stream(nats_url, STREAMS["intake"]))),
                           key=lambda e: e.sequence)
    broken, head = [], GENESIS
    for envelope in published:
        if envelope.chained(head).chainhash != envelope.chainhash:
            broken.append(envelope.sequence)
        head = envelope.chainhash
    by_key: dict[str, set] = {}
    for key, status, answer in answers:
        by_key.setdefault(key, set()).add(answer if status < 300 else f"{status} {answer}")
    assert terminated > 0
    assert (found.lost, found.duplicated, broken) == ([], [], [])
    assert tally.failed == [] and "500" not in tally.retried, tally
    assert [s for _, s, _ in answers if s >= 500 and s != 503] == [], answers
    assert {k: v for k, v in by_key.items() if len(v) != 1} == {}, "a raced key answered two ids"
