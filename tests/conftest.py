"""Fixtures shared by the whole suite: a real nats-server per test run, real databases."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Services resolve var/ from here; keep a test run's dev files out of the working tree. Each of a
# pass's worker processes (pytest-xdist, tests/runner.py) has its own.
os.environ.setdefault("TSUNAGU_VAR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["TSUNAGU_VAR"] += f"-{worker}"

from libs.platform.tools.natsserver import EmbeddedNats
from tests.harness import Database, ServiceServer, backend, check_published_messages

# Tests that do not depend on the database backend run once, in the SQLite pass (`make test` runs
# the suite on both; CI has 20 minutes): the contracts (OpenAPI, AsyncAPI, deploy files, bounds,
# schemathesis, examples) and generated clients, the edge (headers, limits, tokens, the OIDC
# issuer), logs, traces and command-line output, the witness on the bus, the browser, and
# `make run`, which is SQLite by definition. Everything that stores, reads or replays runs on both.
ONCE = ("tests/contract/", "tests/clients/", "tests/e2e/test_edge.py", "tests/e2e/test_oidc_issuer.py",
        "tests/e2e/test_logs.py", "tests/e2e/test_tracing.py", "tests/e2e/test_cli_progress.py",
        "tests/e2e/test_witness.py", "tests/e2e/test_dashboard.py", "tests/e2e/test_make_run.py",
        "tests/test_runner.py")


# Of those, the ones the PostgreSQL pass takes when both passes run side by side (tests/runner.py
# says so in TSUNAGU_TEST_PASSES), to even the passes out: CI waits for the longer of the two. None
# now: each alone in two workers, the SQLite pass took 10:23 and the PostgreSQL pass 10:04 (load
# ~6.4; the schemathesis runs, one file, ~3 min of one SQLite worker). The runner prints each pass's
# slowest tests: move some here when the SQLite pass becomes the longer.
ONCE_IN_THE_POSTGRES_PASS: tuple[str, ...] = ()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Workers take whole files in this order (tests/runner.py): the long e2e, contract and
        # fault files first, the short unit tests of libs/ and services/ last, to even out the end.
        items.sort(key=lambda item: not item.nodeid.startswith("tests/"))
    both = {"sqlite", "postgresql"} <= set(os.environ.get("TSUNAGU_TEST_PASSES", "").split(","))
    if backend() == "postgresql":
        once = pytest.mark.skip(reason="does not depend on the database backend: runs in the SQLite pass")
        for item in items:
            if item.nodeid.startswith(ONCE) and not (both and item.nodeid.startswith(ONCE_IN_THE_POSTGRES_PASS)):
                item.add_marker(once)
    elif both:
        there = pytest.mark.skip(reason="does not depend on the database backend: runs in the PostgreSQL pass")
        for item in items:
            if item.nodeid.startswith(ONCE_IN_THE_POSTGRES_PASS):
                item.add_marker(there)


# The files whose tests hold the most PostgreSQL connections at once (client backends seen in
# pg_stat_activity, each file alone: the short soak 50, test_attack_riding_commit ~35, test_replicas,
# test_attack_kill_intake and test_attack_replicas ~33, test_attack_saves ~25): a pass's workers take
# them one after the other (~4 min on PostgreSQL), so that two of them never add up near the server's
# max_connections (100).
MANY_CONNECTIONS = tuple(f"tests/fault/{name}.py" for name in (
    "test_soak", "test_attack_riding_commit", "test_replicas", "test_attack_kill_intake", "test_attack_replicas",
    "test_attack_saves"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole files to each worker (tests/runner.py), the MANY_CONNECTIONS files as one."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-not-found, unused-ignore]

    class Files(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return MANY_CONNECTIONS[0] if scope in MANY_CONNECTIONS else scope

    return Files(config, log)


@pytest.fixture
def nats_server(tmp_path: Path, database: Database) -> Iterator[EmbeddedNats]:
    """A nats-server of this test alone (it starts in milliseconds): its streams are never seen
    by another test or run, and fault tests may stop and restart it."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    try:
        if server.proc is not None:
            check_published_messages(server.url, database.public_keys)
    finally:
        server.stop()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path)
    yield db
    db.drop()


@pytest.fixture
def start_service(database: Database) -> Iterator:
    """start_service(name, nats_url, **settings) → a running ServiceServer, stopped after the test."""
    started: list[ServiceServer] = []

    def start(name: str, nats_url: str, **overrides) -> ServiceServer:
        module = __import__(f"services.{name}.bootstrap", fromlist=["create_app"])
        server = ServiceServer(name, module.create_app, database.settings(name, nats_url, **overrides))
        started.append(server.start())
        return server

    yield start
    for server in started:  # all at once: each stop waits for uvicorn's tick and its loops' ends
        server.stopping()
    for server in reversed(started):
        server.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"tsunagu database backend: {os.environ.get('TSUNAGU_TEST_DB', 'sqlite')} (python {sys.version.split()[0]})"
