"""What every HTTP benchmark here shares: apps under uvicorn on loopback ports, the plain FastAPI +
SQLAlchemy baseline, clients driving them (sequential or concurrent) with latencies recorded."""

from __future__ import annotations

import contextlib
import itertools
import statistics
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

from libs.platform.settings import Settings
from libs.platform.store.db import make_engine
from libs.platform.tools.natsserver import free_port
from libs.platform.web.auth import mint_token
from services.intake.api.schemas import ConsultationCreate
from tests.harness import JWT_SECRET

BODY = {"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00",
        "summary": "電話相談。本人は外出が難しく、家族が今後の支援について相談。"}


class Served:
    """An app under uvicorn in a thread on a loopback port. uvicorn binds the port itself, so
    accepted sockets get TCP_NODELAY from asyncio; a pre-bound socket.socket() (proto 0) does not,
    and then every response stalls ~40 ms on delayed ACKs, which would swamp what we measure."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                     log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 120
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.app.title} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def client(self, role: str | None = None, org: str = "") -> httpx.Client:
        token = role and mint_token(JWT_SECRET, sub="bench", org=org, roles=[role])
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {token}"} if token else {})


# -- baseline: the same row, plain FastAPI + SQLAlchemy Core -------------------------------------
metadata = MetaData()
consultations = Table(
    "bench_consultations", metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("consulted_by", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("summary", Text),
)


def create_baseline_app(settings: Settings) -> FastAPI:
    """One POST endpoint, same path and body schema as the service; no auth, no events."""
    engine = make_engine(settings)  # same engine setup as the services (WAL / search_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metadata.create_all(engine)
        yield
        engine.dispose()

    app = FastAPI(title="baseline", lifespan=lifespan)

    @app.post("/v1/cases/{case_id}/consultations", status_code=201)
    def record(case_id: UUID, body: ConsultationCreate) -> dict:
        row = {"id": str(uuid4()), "case_id": str(case_id), "channel": body.channel,
               "consulted_by": body.consulted_by, "occurred_at": body.occurred_at, "summary": body.summary}
        with engine.begin() as conn:
            conn.execute(consultations.insert().values(**row))
        return {**row, "occurred_at": body.occurred_at.isoformat()}

    return app


# -- driving ----------------------------------------------------------------------------------------
@dataclass
class Run:
    """n requests by `clients` concurrent clients: wall seconds, each request's latency, statuses."""

    n: int
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def per_s(self) -> float:
        return self.n / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000


def drive(make_client: type[httpx.Client] | object, paths: list[str], n: int, clients: int,
          body: dict | None = None) -> Run:
    """POST n consultations (or `body`) round-robin over paths from `clients` threads, each its own
    keep-alive client (`make_client()`); a non-201 is counted by status, not retried."""
    run = Run(n=n, clients=clients)
    counter = itertools.count()
    lock = threading.Lock()

    stop = threading.Event()

    def worker() -> None:
        with make_client() as client:  # type: ignore[operator]
            while not stop.is_set() and (i := next(counter)) < n:
                started = time.perf_counter()
                r = client.post(paths[i % len(paths)], json=body or BODY)
                took = time.perf_counter() - started
                with lock:
                    run.latencies.append(took)
                    run.statuses[r.status_code] += 1

    # Daemon threads told to stop when the driver is interrupted (Ctrl-C, SIGTERM: bench/__init__),
    # so that the bench's `finally` stops the servers at once instead of waiting for the last request.
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        raise
    run.seconds = time.perf_counter() - started
    return run


def created(r: httpx.Response) -> dict:
    if r.status_code != 201:
        raise RuntimeError(f"{r.request.method} {r.request.url} → {r.status_code}: {r.text[:300]}")
    return r.json()


def open_cases(intake: Served, count: int) -> tuple[str, list[str]]:
    """A centre and `count` cases on it; returns the centre id (the staff's org) and the case ids."""
    with intake.client("prefecture_officer", "130001") as officer:
        centre = created(officer.post("/v1/centres", json={
            "name": "東京都ひきこもりサポートネット", "kind": "adult", "prefecture": "130001"}))
    with intake.client("centre_staff", centre["id"]) as staff:
        case = {"centre_id": centre["id"], "client_kind": "person", "age_group": "adult"}
        return centre["id"], [created(staff.post("/v1/cases", json=case))["id"] for _ in range(count)]


def drain(server: Served, timeout: float = 600.0) -> float:
    """Seconds until the relay has published everything recorded so far (a relay running here: as
    far as it published, its rounds being recorded together later; else as recorded)."""
    started = time.perf_counter()
    while server.app.state.runtime.relay.unpublished() > 0:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"relay still {server.app.state.runtime.relay.unpublished()} behind after {timeout}s")
        time.sleep(0.01)
    return time.perf_counter() - started
