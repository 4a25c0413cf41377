"""The HTTP command path with the background loops in a process of their own (PostgreSQL only):
a web-only intake replica (TSUNAGU_BACKGROUND=off) in this process, as in bench/consultations.py,
and a worker intake replica beside it, a second OS process under uvicorn that runs the relay, the
read models and the jobs under their leases. The same plain FastAPI + SQLAlchemy baseline is
measured beside it, so the ratio reads like the single-process rows'.

CPU per command counts both processes (the worker's from /proc), until the worker's relay has
published every command: what moved out of the web process is not lost from the sum.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from bench.serving import Served, create_baseline_app, drain, drive, open_cases
from libs.platform.settings import Settings
from libs.platform.tools.natsserver import free_port
from services.intake.bootstrap import create_app as create_intake_app
from soak.processes import ServiceProcess
from tests.harness import Database

LEASE_SECONDS = 5.0


def worker_env(settings: Settings, var: Path) -> dict[str, str]:
    """The environment that makes `settings` again in another process, as a worker replica."""
    service = settings.service.upper()
    assert settings.db_schema and settings.db_schema.endswith(settings.service)
    return {
        **os.environ, "DATABASE_URL": settings.database_url,
        "DB_SCHEMA_PREFIX": settings.db_schema[:-len(settings.service)], "NATS_URL": settings.nats_url,
        "TSUNAGU_ENV": "test", "TSUNAGU_VAR": str(var), "TSUNAGU_JWT_SECRET": settings.jwt_secret,
        f"{service}_MASTER_KEY": settings.master_key_hex, f"{service}_AUDIT_KEY": settings.audit_key_hex,
        f"{service}_IDEMPOTENCY_KEY": settings.idempotency_key_hex,
        **{f"{p.upper()}_PUBLIC_KEY": k for p, k in settings.public_keys.items()},
        "TSUNAGU_RATE_PER_ADDRESS": "0", "TSUNAGU_RATE_PER_PRINCIPAL": "0", "TSUNAGU_RATE_AUTH_FAILURES": "0",
        "TSUNAGU_REPLICAS": "2", "TSUNAGU_LEASE_SECONDS": str(settings.lease_seconds), "TSUNAGU_BACKGROUND": "on",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (another one: time.process_time is this one's)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_worker_runs_everything(web: Served, timeout: float = 60) -> None:
    """Until every leased loop of the web replica reports a holder (the worker) whose lease runs
    (the heap trim is each process's own: it has no lease)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime = web.app.state.runtime
        loops = [loop for loop in runtime.loops()
                 if loop.name not in runtime.per_process and loop is not runtime.listener]
        if loops and all(loop.lease is not None and loop.lease()["holder"] and loop.lease()["expires_in"] > 0
                         for loop in loops):
            return
        time.sleep(0.1)
    raise RuntimeError("the worker replica did not take every lease")


def split_runs(db: Database, nats_url: str, n: int, clients_counts: tuple[int, ...], tmp: Path) -> list[dict[str, Any]]:
    schema = f"t_{db.run}_split_intake"  # its own schema: the single-process rows' log stays out of it
    db.schemas.append(schema)
    settings = db.settings("intake", nats_url, db_schema=schema, replicas=2, background=False,
                           lease_seconds=LEASE_SECONDS)
    worker = ServiceProcess("intake", free_port(), worker_env(settings, tmp / "var"), tmp / "split-worker.log")
    baseline = Served(create_baseline_app(db.settings("baseline", nats_url))).start()
    worker.start()
    rows = []
    try:
        worker.wait_healthy()
        assert worker.proc is not None
        pid = worker.proc.pid
        web = Served(create_intake_app(settings)).start()
        try:
            wait_worker_runs_everything(web)
            base_paths = [f"/v1/cases/{uuid4()}/consultations" for _ in range(64)]
            centre, ids = open_cases(web, 64)
            paths = [f"/v1/cases/{i}/consultations" for i in ids]
            drive(baseline.client, base_paths, 20, 1)  # warm-up
            drive(lambda: web.client("centre_staff", centre), paths, 20, 1)
            drain(web)
            for clients in clients_counts:
                cpu = time.process_time()
                base = drive(baseline.client, base_paths, n, clients)
                cpu, base_cpu = time.process_time(), time.process_time() - cpu
                worker_cpu = cpu_seconds(pid)
                ours = drive(lambda: web.client("centre_staff", centre), paths, n, clients)
                relay_s = drain(web)  # the worker's relay, read from the database
                web_cpu = time.process_time() - cpu
                worker_cpu = cpu_seconds(pid) - worker_cpu
                rows.append({"clients": clients, "baseline_per_s": round(base.per_s, 1),
                             "intake_per_s": round(ours.per_s, 1), "ratio": round(ours.per_s / base.per_s, 3),
                             "baseline_p50_ms": round(base.p50_ms, 1), "baseline_p99_ms": round(base.p99_ms, 1),
                             "p50_ms": round(ours.p50_ms, 1), "p99_ms": round(ours.p99_ms, 1),
                             "baseline_cpu_ms": round(base_cpu / n * 1000, 2),
                             "cpu_ms": round((web_cpu + worker_cpu) / n * 1000, 2),
                             "web_cpu_ms": round(web_cpu / n * 1000, 2),
                             "worker_cpu_ms": round(worker_cpu / n * 1000, 2),
                             "statuses": {str(k): v for k, v in sorted(ours.statuses.items())},
                             "relay_drain_s": round(relay_s, 2)})
        finally:
            web.stop()
    except (httpx.HTTPError, RuntimeError) as e:
        raise RuntimeError(f"split run failed ({e}); the worker's log:\n{worker.log_tail()}") from e
    finally:
        worker.stop()
        baseline.stop()
    return rows
