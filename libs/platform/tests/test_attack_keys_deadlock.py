"""Attack (issue 15 merge): two replicas make the keys of the same new subjects at once, listed in
opposite orders (two imports of the same fresh cases, sorted differently by their portals).
Sealer.keys inserts a whole import's new keys in one statement: rows taken in opposite orders wait
for each other, and PostgreSQL breaks the deadlock by failing one (DeadlockDetected, not the
IntegrityError the lookup falls back on), so an import failed with 503 for no fault of its own.
Both must get every key, the same keys."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import make_engine
from tests.harness import Database


@pytest.fixture
def sealers(tmp_path: Path) -> Iterator[list[Sealer]]:
    database = Database(tmp_path)
    settings = database.settings("intake", "nats://127.0.0.1:1")
    engines = [make_engine(settings), make_engine(settings)]
    master = os.urandom(32)
    yield [Sealer(engine, master) for engine in engines]
    for engine in engines:
        engine.dispose()
    database.drop()


def test_two_replicas_making_the_same_new_keys_in_opposite_orders_both_get_them(sealers) -> None:
    for round_ in range(16):
        subjects = [str(uuid.uuid4()) for _ in range(500)]
        orders = [subjects, subjects[::-1]]
        go = threading.Barrier(2)
        got: list[Any] = [None, None]

        def make(i: int, orders: list[list[str]] = orders, go: threading.Barrier = go,
                 got: list[Any] = got) -> None:
            go.wait()
            try:
                got[i] = sealers[i].keys(orders[i]).keys
            except Exception as e:  # noqa: BLE001 - what the import would have answered with
                got[i] = e

        threads = [threading.Thread(target=make, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failures = [repr(g)[:300] for g in got if isinstance(g, Exception)]
        assert not failures, (round_, failures)
        assert got[0] == got[1] and None not in got[0].values(), round_
