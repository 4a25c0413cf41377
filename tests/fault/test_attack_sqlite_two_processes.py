"""Attack (h-attack on merge-s28): SQLite with BEGIN IMMEDIATE for every write (store/sqlite_begin.py).
While the group-commit fleet (16 clients: shared and own Idempotency-Keys, stale If-Match, an erased case,
an oversize event; test_attack_group_commit.fleet) posts to intake, another process (an operator's
sqlite3 shell, a backup script) takes the write lock of intake's file again and again, holding it up to
1.5 s, and reads between. Held when no client sees a 500 ("database is locked" must not reach one),
every answer is right, and the relay still publishes the whole log once in order (not stalled)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.fault.test_attack_group_commit import fleet
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file locks")]

HOLDER = textwrap.dedent("""
    import random, sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    rnd, held = random.Random(3), 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT count(*) FROM intake_events").fetchone()
        time.sleep(rnd.uniform(0.05, 1.5))
        conn.execute("COMMIT")
        held += 1
        print(held, flush=True)
        conn.execute("SELECT max(id) FROM intake_events").fetchone()
        time.sleep(rnd.uniform(0, 0.3))
""")


def test_another_process_holding_the_write_lock_reaches_no_client_as_500(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    path = intake.settings.database_url.split("sqlite:///", 1)[1].split("?", 1)[0]
    procs: list[subprocess.Popen] = []

    def go() -> None:
        procs.append(subprocess.Popen([sys.executable, "-c", HOLDER, path], stdout=subprocess.PIPE, text=True))

    try:
        statuses = fleet(intake, nats_server.url, go)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
    held = procs[0].stdout.read().split() if procs and procs[0].stdout else []
    print(f"write locks taken by the other process: {len(held)}; 503s: {statuses.count(503)}")
