"""Attack (h-attack4): on SQLite the ids of many rows inserted at once are counted back from
last_insert_rowid() (store/bulk.py _sqlite_rowids), which holds only while no other connection
writes between the first row and the count. Here two other processes and this one insert batches
of 2-40 rows into the same file at once through insert_rows (the engine the services use), and
every id each was given must be the id of the very row it inserted."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import select

from libs.platform.store.bulk import insert_rows
from libs.platform.store.db import make_engine
from libs.platform.tests.test_bulk_insert import metadata, things
from tests.harness import Database, backend

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="SQLite's rowids and file lock")

WRITER = textwrap.dedent("""
    import pickle, sys
    from libs.platform.tests.test_attack_rowids_processes import write
    from libs.platform.store.db import make_engine
    settings, tag = pickle.loads(bytes.fromhex(sys.stdin.readline()))
    engine = make_engine(settings)
    print("ready", flush=True)
    sys.stdin.readline()
    print(pickle.dumps(write(engine, tag)).hex(), flush=True)
""")


def write(engine: Any, tag: str) -> dict[int, str]:
    """Batches of 2-40 rows, each in its own transaction: the id given to each row's name."""
    given: dict[int, str] = {}
    for n in range(150):
        rows = [{"name": f"{tag}.{n}.{k}", "body": b"x", "note": tag} for k in range(2 + (n * 7) % 39)]
        with engine.begin() as conn:
            ids = insert_rows(conn, things, rows, returning="id")
        given.update(zip(ids, (str(r["name"]) for r in rows), strict=True))
        time.sleep(0.002)  # the others' turn (SQLite's busy handler would let one writer run on)
    return given


def test_ids_counted_back_are_the_rows_own_while_other_processes_insert(tmp_path) -> None:
    database = Database(tmp_path)
    settings = database.settings("bulk", "nats://127.0.0.1:1")
    engine = make_engine(settings)
    metadata.create_all(engine)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    try:
        for n, p in enumerate(procs):
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write(pickle.dumps((settings, f"p{n}")).hex() + "\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        given = write(engine, "here")
        for p in procs:
            out, _ = p.communicate(timeout=50)
            assert p.returncode == 0
            given.update(pickle.loads(bytes.fromhex(out.strip())))
        with engine.connect() as conn:
            stored = dict(conn.execute(select(things.c.id, things.c.name)).tuples().all())
        assert given == stored
        notes = [name.split(".")[0] for _, name in sorted(stored.items())]
        assert sum(a != b for a, b in itertools.pairwise(notes)) > 10  # the writers interleaved
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        engine.dispose()
        database.drop()
