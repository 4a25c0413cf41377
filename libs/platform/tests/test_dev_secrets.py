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


def test_the_idempotency_digest_key_is_a_dev_secret_of_each_service(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGU_VAR", str(tmp_path))
    monkeypatch.delenv("TSUNAGU_ENV", raising=False)
    intake = settings.Settings.from_env("intake")
    assert len(intake.idempotency_key_hex) == 64
    assert (tmp_path / "intake-idempotency.key").read_text() == intake.idempotency_key_hex
    assert settings.Settings.from_env("intake").idempotency_key_hex == intake.idempotency_key_hex, "kept"
    assert settings.Settings.from_env("registry").idempotency_key_hex not in ("", intake.idempotency_key_hex)
    reporting = settings.Settings.from_env("reporting").idempotency_key_hex  # its submissions keep digests
    assert len(reporting) == 64 and reporting != intake.idempotency_key_hex
