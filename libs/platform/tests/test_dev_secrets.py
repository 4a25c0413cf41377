"""Dev secrets in var/ (`make run`): processes that start at once agree on one secret."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues

from libs.platform import settings


def _read(var: str, queue: multiprocessing.queues.Queue) -> None:
    import os

    os.environ["TSUNAGU_VAR"] = var
    queue.put(settings._dev_secret("dev-jwt.key", 32))


def test_processes_starting_at_once_all_read_the_one_secret_that_was_made(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    for attempt in range(3):
        var = tmp_path / f"var{attempt}"
        var.mkdir()
        procs = [ctx.Process(target=_read, args=(str(var), queue)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        seen = {queue.get(timeout=10) for _ in procs}
        assert len(seen) == 1 and len(seen.pop()) == 64
        assert [f.name for f in var.iterdir()] == ["dev-jwt.key"]  # no temporary file left behind
