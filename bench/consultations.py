"""Consultations recorded through HTTP: events/s of the intake service against a baseline.

Run from the repository root:  .venv/bin/python -m bench.consultations [--n 1000] [--postgres]

Everything is real and runs in this process: an embedded nats-server, the intake service under
uvicorn on a loopback port, and a baseline under uvicorn too — a plain FastAPI app whose one
endpoint inserts the same row with SQLAlchemy Core (one transaction per request). The same
keep-alive httpx client loop drives both, sequentially. Speed is reported as a ratio against
the baseline of the same run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

from libs.platform.settings import Settings
from libs.platform.store.db import make_engine
from libs.platform.tools.natsserver import EmbeddedNats, free_port
from libs.platform.web.auth import mint_token
from services.intake.api.schemas import ConsultationCreate
from services.intake.bootstrap import create_app as create_intake_app
from tests.harness import JWT_SECRET, Database

RESULTS = Path(__file__).resolve().parent / "results" / "consultations.json"
BODY = {"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00",
        "summary": "電話相談。本人は外出が難しく、家族が今後の支援について相談。"}
WARMUP = 10


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
        deadline = time.monotonic() + 30
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
        return httpx.Client(base_url=self.url, timeout=30,
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


# -- measuring -------------------------------------------------------------------------------------
def post_all(client: httpx.Client, paths: list[str], n: int) -> float:
    """POST n consultations round-robin over paths, one after the other; returns seconds."""
    started = time.perf_counter()
    for i in range(n):
        r = client.post(paths[i % len(paths)], json=BODY)
        if r.status_code != 201:
            raise RuntimeError(f"POST {paths[i % len(paths)]} → {r.status_code}: {r.text[:300]}")
    return time.perf_counter() - started


def drain(server: Served, timeout: float = 300.0) -> float:
    """Seconds until the relay has published everything recorded so far."""
    started = time.perf_counter()
    while server.app.state.runtime.relay.lag() > 0:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"relay still {server.app.state.runtime.relay.lag()} behind after {timeout}s")
        time.sleep(0.005)
    return time.perf_counter() - started


def created(r: httpx.Response) -> dict:
    if r.status_code != 201:
        raise RuntimeError(f"{r.request.method} {r.request.url} → {r.status_code}: {r.text[:300]}")
    return r.json()


def open_cases(intake: Served, count: int) -> tuple[httpx.Client, list[str]]:
    with intake.client("prefecture_officer", "130001") as officer:
        centre = created(officer.post("/v1/centres", json={
            "name": "東京都ひきこもりサポートネット", "kind": "adult", "prefecture": "130001"}))
    staff = intake.client("centre_staff", centre["id"])
    case = {"centre_id": centre["id"], "client_kind": "person", "age_group": "adult"}
    ids = [created(staff.post("/v1/cases", json=case))["id"] for _ in range(count)]
    return staff, ids


def run(n: int, spread: int, tmp: Path) -> list[dict]:
    db = Database(tmp)
    nats = EmbeddedNats(tmp / "nats")
    servers: list[Served] = []
    clients: list[httpx.Client] = []
    try:
        nats.start()
        baseline = Served(create_baseline_app(db.settings("baseline", nats.url)))
        intake = Served(create_intake_app(db.settings("intake", nats.url)))
        for server in (baseline, intake):
            servers.append(server.start())

        plain = baseline.client()
        clients.append(plain)
        base_paths = [f"/v1/cases/{uuid4()}/consultations" for _ in range(spread)]
        post_all(plain, base_paths, WARMUP)
        base_s = post_all(plain, base_paths, n)

        staff, ids = open_cases(intake, 2 + spread)  # one warm-up case, one single case, the spread
        clients.append(staff)
        post_all(staff, [f"/v1/cases/{ids[0]}/consultations"], WARMUP)
        drain(intake)
        one_s = post_all(staff, [f"/v1/cases/{ids[1]}/consultations"], n)
        one_lag = drain(intake)
        spread_s = post_all(staff, [f"/v1/cases/{i}/consultations" for i in ids[2:]], n)
        spread_lag = drain(intake)
    finally:
        for c in clients:
            c.close()
        for server in reversed(servers):
            server.stop()
        nats.stop()
        db.drop()

    def row(name: str, seconds: float, lag: float | None) -> dict:
        return {"name": name, "events": n, "seconds": round(seconds, 3),
                "events_per_s": round(n / seconds, 1), "ratio_vs_baseline": round(base_s / seconds, 3),
                "relay_drain_s": None if lag is None else round(lag, 3)}

    return [row("baseline: FastAPI + SQLAlchemy Core insert", base_s, None),
            row("intake: one case", one_s, one_lag),
            row(f"intake: {spread} cases round-robin", spread_s, spread_lag)]


def print_table(rows: list[dict]) -> None:
    header = f"{'name':<44} {'events':>7} {'seconds':>9} {'events/s':>10} {'ratio':>7} {'relay drain s':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        lag = "" if r["relay_drain_s"] is None else f"{r['relay_drain_s']:.3f}"
        print(f"{r['name']:<44} {r['events']:>7} {r['seconds']:>9.3f} {r['events_per_s']:>10.1f} "
              f"{r['ratio_vs_baseline']:>7.3f} {lag:>14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="consultations per measurement (default 1000)")
    parser.add_argument("--cases", type=int, default=50, help="cases of the round-robin run (default 50)")
    parser.add_argument("--postgres", action="store_true",
                        help="run service and baseline on PostgreSQL (TSUNAGU_TEST_POSTGRES_URL), fresh schemas")
    args = parser.parse_args()
    backend = "postgresql" if args.postgres else "sqlite"
    os.environ["TSUNAGU_TEST_DB"] = backend  # read by tests.harness.Database
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
        rows = run(args.n, args.cases, Path(tmp))
    print(f"consultations over HTTP, {backend}, n={args.n}, sequential keep-alive client")
    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "consultations", "backend": backend, "n": args.n, "cases": args.cases,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "results": rows,
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
