"""Attack (h-attack3): kill -9 of the worker of a web-only + worker pair of intake on PostgreSQL
(two processes) while centres are registered through both, so that the worker's relay holds
acknowledged rounds in memory and its followers hold the positions of batches that changed nothing
(the privacy records pass centres by). Started again: nothing lost or doubled on the stream, every
centre registered in the read model once, every follower's recorded position at the
log's end, and both replicas ready with every loop at lag 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from soak.ha import POSTGRES_URL, Load, Replicas, check, intake_pair, stored_events
from tests.harness import backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
WEB, WORKER = 0, 1


@pytest.fixture
def split(tmp_path) -> Iterator[tuple[Replicas, str]]:
    with intake_pair(tmp_path, each_env=[{"TSUNAGU_BACKGROUND": "off"}, {}]) as pair:
        yield pair


def _rows(replicas: Replicas, sql: str) -> list[tuple]:
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={replicas.run}_intake"})
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _quiet(replicas: Replicas, i: int) -> bool:
    loops = replicas.loops(i)
    return bool(loops) and all(loop.get("lag", 0) == 0 for loop in loops)


def test_kill_9_of_the_worker_under_load_loses_doubles_and_miscounts_nothing(split) -> None:
    replicas, nats_url = split
    load = Load(replicas, clients=3)
    load.start()
    try:
        eventually(lambda: len(load.tally.accepted) >= 15, timeout=60)
        replicas.procs[WORKER].kill()  # kill -9: its kept rounds and positions are gone
        eventually(lambda: len(load.tally.accepted) >= 25, timeout=60)  # the web replica takes them meanwhile
        replicas.procs[WORKER].start()
        replicas.procs[WORKER].wait_healthy()
        eventually(lambda: len(load.tally.accepted) >= 40, timeout=60)
    finally:
        tally = load.stop()
    assert tally.failed == []
    found = check(replicas, nats_url, tally)
    assert found.lost == [] and found.duplicated == [], found
    stored = stored_events(replicas)
    end = stored[-1]["sequence"]
    eventually(lambda: _quiet(replicas, WORKER) and _quiet(replicas, WEB), timeout=60)
    # What the followers passed by is recorded within their record_seconds (1 s).
    eventually(lambda: {p for (p,) in _rows(replicas, "SELECT position FROM projection_positions")} == {end},
               timeout=30)
    registered = sorted(str(e["subject"]) for e in stored if ".CentreRegistered." in e["type"])
    assert sorted(c for (c,) in _rows(replicas, "SELECT centre_id FROM in_centres")) == registered
    assert set(tally.accepted.values()) <= set(registered)
