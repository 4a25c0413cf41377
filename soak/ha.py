"""Replicas under faults (issue 16): two or more processes of each service on one PostgreSQL, a
load over HTTP spread over them, and the checks — who holds each role's lease, for how long no
one did, requests failed, events lost or duplicated between the store and the stream.

The load's client plays the proxy a deployment puts in front of the replicas (deploy/compose.yaml:
nginx with `proxy_next_upstream`): a request that could not be sent (connection refused) or whose
answer was lost goes to the next replica in rotation, with the same Idempotency-Key, so it is
applied once. A request counts as failed only when no replica accepted it within its deadline.
`tests/fault/test_replicas.py` runs the CI size; `make soak-ha` (python -m soak.ha) the full one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from libs.platform.http import tls
from libs.platform.messaging.replay import read_stream
from libs.platform.tools.natsserver import free_port
from libs.platform.web.auth import mint_token
from soak.nats import SingleNats
from soak.processes import ServiceProcess

POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STREAMS = {"intake": "INTAKE", "registry": "REGISTRY", "dispatch": "DISPATCH"}


class Replicas:
    """n processes of one service, each with TSUNAGU_REPLICAS=n, on the same schema and NATS."""

    def __init__(self, service: str, n: int, *, tmp: Path, run: str, secret: str, nats_url: str,
                 nats_replicas: int = 1, lease_seconds: float = 2.0, extra_env: dict[str, str] | None = None,
                 each_env: list[dict[str, str]] | None = None) -> None:
        """`each_env[i]`: what replica i has of its own (e.g. TSUNAGU_BACKGROUND=off, a web-only one)."""
        self.service = service
        self.run = run
        self.secret = secret
        var = tmp / "var"
        var.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ, "DATABASE_URL": POSTGRES_URL, "DB_SCHEMA_PREFIX": f"{run}_", "NATS_URL": nats_url,
            "NATS_STREAM_REPLICAS": str(nats_replicas), "TSUNAGU_VAR": str(var), "TSUNAGU_ENV": "dev",
            "TSUNAGU_JWT_SECRET": secret, "TSUNAGU_RATE_PER_ADDRESS": "0", "TSUNAGU_RATE_PER_PRINCIPAL": "0",
            "TSUNAGU_RATE_AUTH_FAILURES": "0", "TSUNAGU_REPLICAS": str(n), "TSUNAGU_LEASE_SECONDS": str(lease_seconds),
            **(extra_env or {}),
        }
        own = each_env or [{} for _ in range(n)]
        self.procs = [ServiceProcess(service, free_port(), {**env, "PGAPPNAME": f"{run}_{service}_{i}", **own[i]},
                                     tmp / f"{service}-{i}.log") for i in range(n)]
        self.in_rotation = [True] * n
        # Processes started by spare() and not yet put in a replica's place: they run, so they may
        # take any lease a stopping replica lets go, and who holds what counts them too (index
        # n + k). (A rolling restart once waited 30 s for a holder among `procs` while a spare
        # had taken the lease: under load the spare is as likely to win the race as the other.)
        self.spares: list[ServiceProcess] = []

    def start(self) -> None:
        for p in self.procs:
            p.start()
        for p in self.procs:
            p.wait_healthy()

    def stop(self) -> None:
        for p in self.running():  # a spare too: a test that failed mid-roll leaves one running
            p.stop()

    def spare(self, i: int) -> ServiceProcess:
        """A new process like replica i on a port of its own, started (a rollout's new pod)."""
        old = self.procs[i]
        new = ServiceProcess(self.service, free_port(), old.env, old.log_path.with_name(f"{old.log_path.stem}+.log"))
        new.start()
        self.spares.append(new)
        return new

    def replace(self, i: int, new: ServiceProcess) -> ServiceProcess:
        """Put the spare `new` in replica i's place; returns the process it replaces."""
        old, self.procs[i] = self.procs[i], new
        self.spares.remove(new)
        return old

    def running(self) -> list[ServiceProcess]:
        """The replicas, then the spares (the indexes holders() answers with)."""
        return [*self.procs, *self.spares]

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.secret, sub='ha', org='operations', roles=['operator'])}"}

    def loops(self, i: int) -> list[dict]:
        """The loops of replica i as its /readyz lists them ([] when it does not answer)."""
        try:
            r = httpx.get(f"{self.running()[i].url}/readyz", headers=self.operator(), timeout=1, verify=tls())
            return list(r.json().get("checks", {}).get("loops", []))
        except (httpx.HTTPError, ValueError):
            return []

    def holders(self, role: str) -> list[int]:
        """The replicas that say they run `role` (kind:name) now."""
        found = []
        for i, p in enumerate(self.running()):
            if not p.alive:
                continue
            for loop in self.loops(i):
                if f"{loop['kind']}:{loop['name']}" == role and loop.get("lease", {}).get("state") == "active":
                    found.append(i)
        return found

    def roles(self) -> list[str]:
        """The roles run under a lease (a loop every replica runs for itself, as the heap trim,
        reports none: no replica ever "takes" it)."""
        for i, p in enumerate(self.running()):
            if p.alive and (loops := self.loops(i)):
                return [f"{loop['kind']}:{loop['name']}" for loop in loops if "lease" in loop]
        return []

    def generation(self, role: str) -> int:
        return max((loop.get("lease", {}).get("generation", 0) for i, p in enumerate(self.running()) if p.alive
                    for loop in self.loops(i) if f"{loop['kind']}:{loop['name']}" == role), default=0)

    def wait_held(self, role: str, *, not_by: int | None = None, timeout: float = 30) -> float:
        """Seconds until a replica (other than `not_by`) runs `role`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            held = [i for i in self.holders(role) if i != not_by]
            if held:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no replica took {role} within {timeout:.0f} s")

    def wait_all_held(self, timeout: float = 30) -> None:
        for role in self.roles():
            self.wait_held(role, timeout=timeout)


@dataclass
class Tally:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → centre id
    failed: list[str] = field(default_factory=list)  # keys no replica accepted in time
    retried: Counter = field(default_factory=Counter)
    sent: int = 0


class Load:
    """Clients registering centres on intake, round-robin over the replicas in rotation."""

    def __init__(self, replicas: Replicas, *, clients: int = 3, pause: float = 0.02, deadline_s: float = 30,
                 tally: Tally | None = None) -> None:
        self.replicas = replicas
        self.clients = clients
        self.pause = pause
        self.deadline_s = deadline_s
        self.tally = tally if tally is not None else Tally()  # one tally across loads: one check of all
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._next = itertools.count()
        token = mint_token(replicas.secret, sub="ha", org="130001", roles=["prefecture_officer"])
        self._headers = {"Authorization": f"Bearer {token}"}

    def start(self) -> None:
        for n in range(self.clients):
            t = threading.Thread(target=self._client, args=(n,), daemon=True, name=f"ha-load-{n}")
            t.start()
            self._threads.append(t)

    def stop(self) -> Tally:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.deadline_s + 10)
        return self.tally

    def _client(self, n: int) -> None:
        with httpx.Client(timeout=5, verify=tls(), headers=self._headers) as http:
            while not self._stop.is_set():
                self._one(http, f"ha-{self.replicas.run}-{n}-{uuid.uuid4().hex[:8]}")
                time.sleep(self.pause)

    def _one(self, http: httpx.Client, key: str) -> None:
        body = {"name": f"HA検証センター{key[-8:]}", "kind": "adult", "prefecture": "130001"}
        deadline = time.monotonic() + self.deadline_s
        with self._lock:
            self.tally.sent += 1
        while time.monotonic() < deadline:
            live = [i for i, ok in enumerate(self.replicas.in_rotation) if ok] or [0]
            i = live[next(self._next) % len(live)]
            try:
                r = http.post(f"{self.replicas.procs[i].url}/v1/centres", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as e:  # refused, or sent and the answer lost: the next replica
                with self._lock:
                    self.tally.retried[type(e).__name__] += 1
                time.sleep(0.05)
                continue
            if r.is_success:
                with self._lock:
                    self.tally.accepted[key] = str(r.json()["id"])
                return
            with self._lock:
                self.tally.retried[str(r.status_code)] += 1
            if r.status_code < 500 and r.status_code not in (409, 429):
                break
            time.sleep(0.1)
        with self._lock:
            self.tally.failed.append(key)


@dataclass
class Findings:
    stored: int
    published: int
    lost: list[str]
    duplicated: list[str]


def stored_events(replicas: Replicas) -> list[dict]:
    """The service's whole log through its audit API (any replica that answers)."""
    token = mint_token(replicas.secret, sub="ha-auditor", org="000000", roles=["auditor"])
    for i, p in enumerate(replicas.procs):
        if not p.alive or not replicas.in_rotation[i]:
            continue
        events: list[dict] = []
        after = 0
        with httpx.Client(base_url=p.url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as auditor:
            while True:
                r = auditor.get("/v1/audit/events", params={"after": after, "limit": 1000})
                r.raise_for_status()
                page = r.json()
                events += page["data"]
                if page["next_after"] is None:
                    return events
                after = page["next_after"]
    raise RuntimeError("no replica answers")


def check(replicas: Replicas, nats_url: str, tally: Tally, timeout: float = 60, *, final: bool = True) -> Findings:
    """Stored (the service's log) against published (its stream) and accepted (the load's
    tally), once the stream has caught up with the log (or after `timeout`). While the load still
    runs (`final` False) a centre stored but not yet answered is not a duplicate."""
    stream = STREAMS[replicas.service]
    accepted = set(dict(tally.accepted).values())  # before the log is read: each of these is in it
    deadline = time.monotonic() + timeout
    while True:
        stored = stored_events(replicas)
        published = [json.loads(m) for m in asyncio.run(read_stream(nats_url, stream))]
        last = max((e["sequence"] for e in published), default=0)
        if last >= (stored[-1]["sequence"] if stored else 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    lost, duplicated = [], []
    on_stream = Counter(e["sequence"] for e in published)
    lost += [f"stored, not published: position {e['sequence']}" for e in stored if e["sequence"] not in on_stream]
    duplicated += [f"published {n} times: position {seq}" for seq, n in on_stream.items() if n > 1]
    centres = Counter(str(e["subject"]) for e in stored if ".CentreRegistered." in e["type"])
    lost += [f"accepted, not stored: centre {c}" for c in accepted if c not in centres]
    if final:
        duplicated += [f"stored, never accepted: centre {c}" for c in centres if c not in accepted]
    duplicated += [f"stored {n} times: centre {c}" for c, n in centres.items() if n > 1]
    return Findings(stored=len(stored), published=len(published), lost=lost, duplicated=duplicated)


def drop(run: str, services: list[str]) -> None:
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        for s in services:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{run}_{s}" CASCADE'))
    engine.dispose()


def new_run() -> tuple[str, str]:
    return f"ha_{uuid.uuid4().hex[:8]}", "ha-" + uuid.uuid4().hex + uuid.uuid4().hex


# -- make soak-ha -----------------------------------------------------------------------------
SERVICES = ("intake", "registry", "dispatch", "reporting")


@dataclass
class Row:
    event: str
    leaderless: float | None = None  # seconds no replica ran the role
    failed: int = 0
    lost: int = 0
    duplicated: int = 0


def _main_role(replicas: Replicas) -> str:
    roles = replicas.roles()
    return next((r for r in roles if r.startswith("relay:")), roles[0])


def _leaderless(replicas: Replicas, role: str, faulted: int | None, timeout: float = 60) -> float | None:
    """Seconds from now until a replica other than `faulted` runs `role`."""
    try:
        return replicas.wait_held(role, not_by=faulted, timeout=timeout)
    except AssertionError:
        return None


def soak_ha(tmp: Path, *, clients: int = 4, lease_seconds: float = 5.0, settle: float = 5.0,
            log: Callable[[str], object] = print) -> list[Row]:
    from soak.nats import LocalCluster

    run, secret = new_run()
    cluster = LocalCluster(tmp)
    cluster.start()
    cluster.wait_ready()
    groups = {s: Replicas(s, 2, tmp=tmp, run=run, secret=secret, nats_url=cluster.url_for(s), nats_replicas=3,
                          lease_seconds=lease_seconds) for s in SERVICES}
    intake = groups["intake"]
    rows: list[Row] = []
    tally = Tally()
    load = Load(intake, clients=clients, tally=tally)
    seen = (0, 0, 0)  # failed, lost, duplicated so far

    def measured(row: Row, final: bool = False) -> None:
        nonlocal seen
        time.sleep(settle)  # the load goes on after the event
        found = check(intake, cluster.reader_url(), tally, final=final)
        now = (len(tally.failed), len(found.lost), len(found.duplicated))
        row.failed, row.lost, row.duplicated = (a - b for a, b in zip(now, seen, strict=True))
        seen = now
        rows.append(row)
        log(f"{row.event}: {_fmt(row)} without a leader, {row.failed} failed, {row.lost} lost, "
            f"{row.duplicated} duplicated")

    try:
        for g in groups.values():
            for p in g.procs:
                p.start()
        for g in groups.values():
            for p in g.procs:
                p.wait_healthy(timeout=180)
            g.wait_all_held(timeout=60)
        load.start()
        time.sleep(settle)
        measured(Row("(start, 2 replicas each)"))
        for name, g in groups.items():  # kill -9 the holder of each service's main role
            role = _main_role(g)
            holder = g.holders(role)[0]
            g.in_rotation[holder] = False
            g.procs[holder].kill()
            row = Row(f"kill -9 {name} ({role} holder)", _leaderless(g, role, holder))
            g.procs[holder].start()  # the supervisor's restart
            g.procs[holder].wait_healthy(timeout=180)
            g.in_rotation[holder] = True
            measured(row)
        for name in ("intake", "dispatch"):  # SIGSTOP past the lease, then SIGCONT
            g = groups[name]
            role = _main_role(g)
            holder = g.holders(role)[0]
            g.in_rotation[holder] = False
            g.procs[holder].pause()
            row = Row(f"SIGSTOP {name} ({role} holder) {2 * lease_seconds:.0f} s", _leaderless(g, role, holder))
            time.sleep(max(2 * lease_seconds - (row.leaderless or 0), 0))
            g.procs[holder].resume()
            g.in_rotation[holder] = True
            measured(row)
        for n in (1, 2):  # a NATS node restarts (the roles need no new leader)
            cluster.nodes[n].stop()
            time.sleep(2)
            cluster.nodes[n].start()
            cluster.wait_ready()
            measured(Row(f"restart NATS node {n}"))
        for name, g in groups.items():  # roll: one replica at a time, SIGTERM then start
            role, worst = _main_role(g), 0.0
            for i in range(len(g.procs)):
                held = g.holders(role) == [i]
                g.procs[i].stop()
                if held:
                    worst = max(worst, _leaderless(g, role, i) or 0.0)
                g.procs[i].start()
                g.procs[i].wait_healthy(timeout=180)
                g.wait_all_held(timeout=60)
            measured(Row(f"roll {name} (2 replicas, one at a time)", worst))
        load.stop()
        measured(Row("(end: load stopped, final check)"), final=True)
    finally:
        load.stop()
        for g in groups.values():
            g.stop()
        cluster.stop()
        drop(run, list(SERVICES))
    return rows


def capacity(tmp: Path, n: int, *, seconds: float = 20.0, clients: int = 8) -> float:
    """Commands/s (centres registered, 2xx) that n replicas of intake take from `clients` clients
    sending back to back, on one nats-server and this machine's PostgreSQL."""
    from soak.nats import SingleNats

    run, secret = new_run()
    nats = SingleNats(tmp / f"cap-{n}")
    nats.start()
    nats.wait_ready()
    group = Replicas("intake", n, tmp=tmp / f"cap-{n}", run=run, secret=secret, nats_url=nats.url_for("intake"))
    load = Load(group, clients=clients, pause=0.0)
    try:
        group.start()
        if n > 1:  # one replica (TSUNAGU_REPLICAS=1) runs every loop without leases
            group.wait_all_held(timeout=60)
        load.start()
        time.sleep(3)  # warm up
        first, started = len(load.tally.accepted), time.monotonic()
        time.sleep(seconds)
        return (len(load.tally.accepted) - first) / (time.monotonic() - started)
    finally:
        load.stop()
        group.stop()
        nats.stop()
        drop(run, ["intake"])


def _fmt(row: Row) -> str:
    """Seconds without a leader; NEVER when an event that needed a new one got none; - when the
    event needed no new leader."""
    if row.leaderless is None:
        return "NEVER" if row.event.startswith(("kill", "SIGSTOP", "roll")) else "-"
    return f"{row.leaderless:.1f} s"


def table(rows: list[Row]) -> str:
    lines = ["| event | s without a leader | requests failed | lost | duplicated |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.event} | {_fmt(r)} "
              f"| {r.failed} | {r.lost} | {r.duplicated} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import shutil
    import sys
    import tempfile

    p = argparse.ArgumentParser(prog="python -m soak.ha", description="make soak-ha: replicas under faults")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--lease-seconds", type=float, default=5.0)
    p.add_argument("--capacity", action="store_true", help="only measure commands/s of 1 and 2 intake replicas")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tsunagu-soak-ha-"))
    if args.capacity:
        for n in (1, 2):
            print(f"intake x{n}: {capacity(tmp, n, clients=args.clients * 2):.1f} commands/s", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    print(f"soak-ha: 2 replicas of each service, a 3-node NATS cluster, PostgreSQL; logs in {tmp}", flush=True)
    rows = soak_ha(tmp, clients=args.clients, lease_seconds=args.lease_seconds,
                   log=lambda line: print(f"{time.strftime('%X')} {line}", flush=True))
    print(table(rows), flush=True)
    bad = any(r.lost or r.duplicated or r.failed or _fmt(r) == "NEVER" for r in rows)
    if not bad:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())


@contextlib.contextmanager
def intake_pair(tmp: Path, *, each_env: list[dict[str, str]] | None = None) -> Iterator[tuple[Replicas, str]]:
    """Two intake replicas on PostgreSQL (2 s leases) with a nats-server of their own, every leased
    role held, then stopped and their schemas dropped: the replica fault tests' fixture. Yields the
    replicas and the witness's NATS URL."""
    nats = SingleNats(tmp)
    nats.start()
    nats.wait_ready()
    run, secret = new_run()
    replicas = Replicas("intake", 2, tmp=tmp, run=run, secret=secret, nats_url=nats.url_for("intake"),
                        lease_seconds=2.0, each_env=each_env)
    try:
        replicas.start()
        replicas.wait_all_held()
        yield replicas, nats.url_for("witness")
    finally:
        replicas.stop()
        nats.stop()
        drop(run, ["intake"])
