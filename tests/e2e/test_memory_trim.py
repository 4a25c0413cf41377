"""Freed heap memory goes back to the system (issue 15, libs/platform/memory.py): every service
runs the malloc-trim job, shown in /readyz and /metrics like every loop, in every replica; every
way the services are started gives them MALLOC_ARENA_MAX before the interpreter starts."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from libs.platform.memory import ARENA_ENV, JOB
from libs.platform.tools.launcher import service_env
from tests.contract.test_deploy_settings import _dotenv, _secret, compose_env, kubernetes_env
from tests.harness import backend, eventually


def _trim_loop(service) -> dict | None:
    with service.operator() as operator:
        loops = operator.get("/readyz").json()["checks"]["loops"]
    return next((loop for loop in loops if loop["kind"] == "job" and loop["name"] == JOB), None)


def test_the_trim_job_runs_in_every_service_and_reports_its_rounds(nats_server, start_service):
    intake = start_service("intake", nats_server.url, malloc_trim_seconds=0.05)
    eventually(lambda: (_trim_loop(intake) or {}).get("position", 0) >= 3)
    loop = _trim_loop(intake)
    assert loop is not None and loop["consecutive_failures"] == 0, loop
    with intake.operator() as operator:
        text = operator.get("/metrics").text
    positions = {s.labels["name"]: s.value for family in text_string_to_metric_families(text)
                 for s in family.samples if s.name == "tsunagu_loop_position" and s.labels["kind"] == "job"}
    assert positions.get(JOB, 0) >= 3, positions


@pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")
def test_every_replica_trims_its_own_heap_without_a_lease(nats_server, start_service):
    replicas = [start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0, malloc_trim_seconds=0.05)
                for _ in range(2)]
    for replica in replicas:
        eventually(lambda r=replica: (_trim_loop(r) or {}).get("position", 0) >= 3)
        assert "lease" not in _trim_loop(replica), "a lease would let only one replica trim"


def test_the_trim_job_can_be_turned_off(nats_server, start_service):
    intake = start_service("intake", nats_server.url, malloc_trim_seconds=0)
    assert _trim_loop(intake) is None


def test_the_launcher_starts_every_service_with_the_arena_limit_unless_the_operator_set_one(tmp_path, monkeypatch):
    env = service_env("nats://127.0.0.1:4222", tmp_path)
    # What the child process sees: the variable is in its environment from exec on.
    seen = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert seen == ARENA_ENV["MALLOC_ARENA_MAX"]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert service_env("nats://127.0.0.1:4222", Path(tmp_path))["MALLOC_ARENA_MAX"] == "4"


def test_compose_and_kubernetes_give_every_service_the_arena_limit():
    for service in ("intake", "registry", "dispatch", "reporting"):
        assert compose_env(service, _dotenv())["MALLOC_ARENA_MAX"] == ARENA_ENV["MALLOC_ARENA_MAX"], service
        assert kubernetes_env(service, _secret())["MALLOC_ARENA_MAX"] == ARENA_ENV["MALLOC_ARENA_MAX"], service


def test_a_running_service_leaves_what_it_built_at_start_out_of_full_collections(nats_server, start_service):
    # The service runs in this process (a uvicorn thread): what was built until it started is frozen
    # (gc.freeze: left out of full collections), and given back to the collector when it stops.
    intake = start_service("intake", nats_server.url)
    assert gc.get_freeze_count() > 10_000  # the modules, the app, the tables: every object built so far
    intake.stop()
    assert gc.get_freeze_count() == 0
