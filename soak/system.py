"""One system under test: the four services as processes on fresh PostgreSQL schemas, and a NATS
of its own. Its processes are named after the run (PGAPPNAME) so that faults reach only them."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from libs.platform.http import tls
from libs.platform.tools.natsserver import free_port
from libs.platform.web.auth import mint_token
from soak.nats import LocalCluster, SingleNats
from soak.positions import behind
from soak.processes import ServiceProcess

SERVICES = ("intake", "registry", "dispatch", "reporting")
POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# How long /readyz may say quiet while something is behind before the soak calls it a lie: longer
# than a loop's round under load (a consumer learns of a new message at its next fetch).
LIE_AFTER = 2.0


@dataclass
class Readiness:
    """What every service's /readyz said at one moment."""

    ready: dict[str, bool] = field(default_factory=dict)
    loops: list[dict] = field(default_factory=list)  # each with its service
    reasons: dict[str, str] = field(default_factory=dict)
    waited_for: str = ""  # what was last not quiet, when it became quiet
    claimed_quiet: str = ""  # when /readyz said quiet while something was still behind: what
    # The most looks in a row (0.25 s apart) at which /readyz said quiet while something was behind,
    # and how long that run of looks lasted. One look can be the sampling of two moments (a commit
    # between /readyz and the soak's own look); a consumer's end is as fresh as its last fetch, so a
    # message published while it applies the one before shows a round later (seen for ~1 s in a CI
    # run at load). A claim held for LIE_AFTER is a loop that believes it is caught up: a lie.
    claimed_looks: int = 0
    claimed_seconds: float = 0.0
    behind: list[str] = field(default_factory=list)

    @property
    def lagging(self) -> list[dict]:
        return [loop for loop in self.loops if loop["lag"] or loop.get("state") != "ok"]

    @property
    def quiet(self) -> bool:
        """Every service ready and every loop at the end of what it follows."""
        return bool(self.ready) and all(self.ready.values()) and not self.lagging

    def describe(self) -> str:
        down = [f"{s}: {self.reasons.get(s, 'not ready')}" for s, ok in self.ready.items() if not ok]
        lag = [f"{loop['service']} {loop['kind']} {loop['name']} lag {loop['lag']} ({loop.get('state')})"
               for loop in self.lagging]
        return "; ".join(down + lag) or "quiet"


class System:
    def __init__(self, tmp: Path, *, cluster: bool, label: str) -> None:
        self.tmp = tmp / label
        self.label = label
        self.tmp.mkdir(parents=True)
        self.run = f"soak_{uuid.uuid4().hex[:8]}_{label}"
        self.secret = "soak-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.nats = LocalCluster(self.tmp) if cluster else SingleNats(self.tmp)
        self.services = {name: ServiceProcess(name, free_port(), self._env(name), self.tmp / f"{name}.log")
                         for name in SERVICES}
        self._engine = create_engine(POSTGRES_URL, pool_size=2)
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    def _env(self, name: str) -> dict[str, str]:
        var = self.tmp / "var"
        var.mkdir(exist_ok=True)
        return {
            **os.environ,
            "DATABASE_URL": POSTGRES_URL, "DB_SCHEMA_PREFIX": f"{self.run}_",
            "NATS_URL": self.nats.url_for(name), "NATS_STREAM_REPLICAS": str(self.nats.replicas),
            "TSUNAGU_VAR": str(var), "TSUNAGU_ENV": "dev", "TSUNAGU_JWT_SECRET": self.secret,
            # One load generator on one address as one principal: the edge's rate limits (per address,
            # per principal) would throttle the load this measures; they are tested on elsewhere.
            "TSUNAGU_RATE_PER_ADDRESS": "0", "TSUNAGU_RATE_PER_PRINCIPAL": "0", "TSUNAGU_RATE_AUTH_FAILURES": "0",
            # libpq names the connections after the service: pg_stat_activity shows whose they are.
            "PGAPPNAME": f"{self.run}_{name}",
        }

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start, or wait for the start begun by start_soon()."""
        if self._starting is not None:
            self._starting.join()
            if self._start_error is not None:
                raise self._start_error
            return
        self._start()

    def _start(self) -> None:
        self.nats.start()
        self.nats.wait_ready()
        for name, service in self.services.items():
            service.env["NATS_URL"] = self.nats.url_for(name)  # a port taken at the start moved the nodes
            service.start()
        for service in self.services.values():
            try:
                service.wait_healthy()
            except RuntimeError:
                if "address already in use" not in service.log_tail():
                    raise
                service.port = free_port()  # taken by another process since we probed it: once more
                service.start()
                service.wait_healthy()

    def start_soon(self) -> None:
        """Start in a thread: the next phase's system while this one runs (the CI size)."""
        def start() -> None:
            try:
                self._start()
            except BaseException as e:  # noqa: BLE001 - raised again by start()
                self._start_error = e

        self._starting = threading.Thread(target=start, name=f"start-{self.run}", daemon=True)
        self._starting.start()

    def stop(self) -> None:
        if self._starting is not None:
            self._starting.join()
        for service in self.services.values():
            service.stop()
        self.nats.stop()

    def drop(self) -> None:
        """The run's schemas go; PostgreSQL is shared with everything else on the machine."""
        with self._engine.begin() as conn:
            for name in SERVICES:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.run}_{name}" CASCADE'))
        self._engine.dispose()

    # -- looking at it ----------------------------------------------------------------------
    def token(self, role: str, org: str, sub: str = "soak") -> str:
        return mint_token(self.secret, sub=sub, org=org, roles=[role])

    def client(self, service: str, role: str, org: str, sub: str = "soak", timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.services[service].url, timeout=timeout, verify=tls(),
                            headers={"Authorization": f"Bearer {self.token(role, org, sub)}"})

    def readiness(self) -> Readiness:
        seen = Readiness()
        # The loops of /readyz are shown to an operator's token only (anyone else gets the verdict).
        operator = {"Authorization": f"Bearer {self.token('operator', 'operations', 'soak-operator')}"}
        for name, service in self.services.items():
            try:
                r = httpx.get(f"{service.url}/readyz", timeout=3, headers=operator, verify=tls())
                body = r.json()
            except (httpx.HTTPError, ValueError) as e:
                seen.ready[name], seen.reasons[name] = False, f"no answer ({type(e).__name__})"
                continue
            seen.ready[name] = r.status_code == 200
            if r.status_code != 200:
                seen.reasons[name] = body.get("detail", str(r.status_code))
            seen.loops += [{**loop, "service": name} for loop in body.get("checks", {}).get("loops", [])
                           if loop["kind"] != "job"]  # a job's position counts rounds, not events
        return seen

    def wait_quiet(self, timeout: float) -> tuple[float | None, Readiness]:
        """Seconds until every service is ready with no lag anywhere (None: not within timeout).
        The Readiness returned when quiet carries `waited_for`: what was last not quiet."""
        started, last, claimed = time.monotonic(), "", ""
        looks = most = 0
        run_since, longest = None, 0.0
        while True:
            seen = self.readiness()
            late = behind(self) if seen.quiet else []
            if seen.quiet and not late:
                seen.waited_for, seen.claimed_quiet = last, claimed
                seen.claimed_looks, seen.claimed_seconds = most, longest
                return time.monotonic() - started, seen
            looks = looks + 1 if late else 0
            most = max(most, looks)
            run_since = (run_since or time.monotonic()) if late else None
            longest = max(longest, time.monotonic() - run_since) if run_since is not None else longest
            if late:  # /readyz says all is done; the databases and NATS disagree
                claimed = claimed or f"{time.monotonic() - started:.1f} s: " + "; ".join(late)
                with open(self.tmp / "claimed-quiet.jsonl", "a") as trace:  # what /readyz said then
                    trace.write(json.dumps({"at": time.strftime("%X"), "behind": late, "loops": seen.loops}) + "\n")
            if time.monotonic() - started > timeout:
                seen.waited_for, seen.claimed_quiet = last, claimed
                seen.claimed_looks, seen.claimed_seconds = most, longest
                seen.behind = late
                return None, seen
            last = "; ".join(late) if late else seen.describe()
            time.sleep(0.25)

    def terminate_connections(self) -> int:
        """pg_terminate_backend of every connection this run's services hold."""
        with self._engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE :run"
            ), {"run": f"{self.run}\\_%"}).all())

    def sql(self, service: str, query: str) -> list:
        with self._engine.connect() as conn:
            conn.execute(text(f'SET search_path TO "{self.run}_{service}"'))
            return conn.execute(text(query)).all()
