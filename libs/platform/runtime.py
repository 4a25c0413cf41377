"""The runtime of one service: what `build_runtime` makes from its `ServiceSpec` and settings —
engine, sealer, bus, eventsourcing Application, relay, consumers, followers, jobs. The web layer
(libs/platform/web/service.py) serves it; nothing connects at import time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from fastapi import APIRouter
from sqlalchemy import Engine

from libs.domain.errors import DomainError
from libs.platform import memory
from libs.platform.audit.log import AuditLog
from libs.platform.health import LoopHealth, LoopSuperseded
from libs.platform.lease import Leases, startup_lock
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.consumer import ConsumerRunner, Handler
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.relay import Relay
from libs.platform.messaging.signing import EventSigner, EventVerifier
from libs.platform.messaging.streams import CONTRACTS, STREAMS, StreamSpec
from libs.platform.privacy.records import PrivacyRecords
from libs.platform.privacy.sealing import Sealer
from libs.platform.readmodels.follower import LogFollower
from libs.platform.settings import Settings
from libs.platform.store.db import make_engine
from libs.platform.store.log import LogReader
from libs.platform.web.auth import Authenticator

T = TypeVar("T")


class ReadModelBehind(DomainError, TimeoutError):
    """A read model another replica keeps has not reached the log in time (its holder is paused or
    failing): a consumer retries it as transient; a request answers 503 with Retry-After."""

    problem = "read-model-behind"
    title = "Read model behind the log"
    status = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sealer: Sealer
    bus: Bus
    authenticator: Authenticator
    application: Any = None
    relay: Relay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    followers: list[LogFollower] = field(default_factory=list)
    audit: AuditLog | None = None
    dead_letters: DeadLetters | None = None
    jobs: list[LoopHealth] = field(default_factory=list)
    # The periodic jobs: the service's own (ServiceSpec.jobs) and the platform's.
    scheduled: list[tuple[str, float, Callable[[Runtime], Any]]] = field(default_factory=list)
    # Jobs that run in every replica, never under a lease (each process has its own heap to trim).
    per_process: set[str] = field(default_factory=set)
    # The service's own components (a read model, a projection), one per class: `get(Kind)`
    # answers with that class's type, so a typo or a wrong kind fails at once, not as a KeyError.
    components: dict[type, Any] = field(default_factory=dict)
    # Several replicas (Settings.replicas > 1): who runs which loop (libs/platform/lease.py).
    leases: Leases | None = None
    # With leases on PostgreSQL, the LISTEN that wakes the loops at other replicas' commits
    # (libs/platform/store/listen.py): a loop of its own in /readyz and /metrics.
    listener: LoopHealth | None = None
    # Readable names of the parties this service knows by id (ServiceSpec.name_parties).
    name_parties: Callable[[Sequence[str]], dict[str, str]] = lambda ids: {}

    def provide(self, component: T) -> T:
        self.components[type(component)] = component
        return component

    def get(self, kind: type[T]) -> T:
        try:
            return self.components[kind]
        except KeyError:
            raise LookupError(f"{kind.__name__} is not a component of this service") from None

    # A service with an event store has a relay and an audit log; the audit routes are mounted
    # only there, so a None here is a wiring error, not a request's fault.
    def require_relay(self) -> Relay:
        if self.relay is None:
            raise LookupError(f"{self.settings.service} has no event store, so no relay")
        return self.relay

    def require_audit(self) -> AuditLog:
        if self.audit is None:
            raise LookupError(f"{self.settings.service} has no event store, so no audit log")
        return self.audit

    def loops(self) -> list[LoopHealth]:
        """The health of every background loop of this service."""
        return [*([self.relay.health] if self.relay else []), *(c.health for c in self.consumers),
                *(f.health for f in self.followers), *self.jobs, *([self.listener] if self.listener else [])]

    def loop_problem(self, loop: LoopHealth) -> str | None:
        return loop.problem(stall_seconds=self.settings.stall_seconds, max_failures=self.settings.max_loop_failures)

    def open_dead_letters(self) -> int:
        """Open dead letters, those of earlier runs too, until an operator resolves them."""
        if self.dead_letters is None:
            return 0
        return self.dead_letters.open_count()

    def catch_up(self) -> None:
        """Bring the service's own read models up to its log: a read after a write sees it. With
        replicas, a read model whose lease another replica holds is not written here: this waits
        until that replica has applied the log as far as it is now (at most two leases' lengths,
        e.g. while a standby takes over from a dead holder; after that ReadModelBehind)."""
        for follower in self.followers:
            if self.leases is None:
                follower.catch_up()
                continue
            lease = self.leases.lease(follower.health.role)
            if lease.held:
                with self.leases.fencing(lease):
                    follower.catch_up()
                continue
            target = follower.reader.max_position()
            deadline = time.monotonic() + 2 * self.leases.ttl
            while not follower.reached(target):  # recorded there, or nothing after it changes this read model
                if lease.unheld_seconds() > 2 * self.leases.ttl:
                    # No replica runs it (a web-only replica's workers are all gone): waiting would
                    # only hold a request thread for the whole deadline, every request.
                    raise ReadModelBehind(f"the read model {follower.health.name} is at "
                                          f"{follower.handler.position(follower.stream)}, the log at {target}, "
                                          f"and no replica has run it for {lease.unheld_seconds():.0f} s")
                if time.monotonic() > deadline:
                    # Never carry on as if caught up: a consumer would act on stale rows (miss
                    # dispatches of an erased person) and record its position. A consumer retries a
                    # TimeoutError; a request answers 503 with Retry-After.
                    raise ReadModelBehind(f"the read model {follower.health.name} is at "
                                          f"{follower.handler.position(follower.stream)}, the log at {target}")
                time.sleep(0.02)

    def run_role(self, health: LoopHealth, body: Callable[[asyncio.Event], Coroutine[Any, Any, Any]],
                 stop: asyncio.Event) -> Coroutine[Any, Any, Any]:
        """The coroutine that runs one background loop: at once when this is the only replica (or
        the loop is one every replica runs for itself, as the heap trim), else only while this
        replica holds the loop's lease (health shows which); never in a web-only replica, which
        stands by for every leased loop (`Leases.watch` shows who runs it)."""
        if self.leases is None or (health.kind == "job" and health.name in self.per_process):
            return _alone(body, stop)
        leases, lease = self.leases, self.leases.lease(health.role)
        health.lease = lambda: lease.report(leases.me)
        if not self.settings.background:
            lease.standby_reason = WEB_ONLY
            return stop.wait()
        return leases.run(health.role, body, stop)

    def roles_without_holder(self) -> list[str]:
        """Roles no replica has held for longer than a take-over takes (a lease and a third, twice
        over): shown in /readyz, and in /metrics as tsunagu_lease_unheld_seconds."""
        if self.leases is None:
            return []
        return sorted(role for role, lease in self.leases.roles.items()
                      if lease.unheld_seconds() > 2 * self.leases.ttl)


async def _alone(body: Callable[[asyncio.Event], Coroutine[Any, Any, Any]], stop: asyncio.Event) -> None:
    """A loop run without a lease: one superseded (its health says why) waits for the service's stop."""
    try:
        await body(stop)
    except LoopSuperseded:
        await stop.wait()


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service different from the others."""

    name: str
    title: str
    routers: Sequence[APIRouter]
    # Builds the eventsourcing Application (None for a projection-only service).
    make_application: Callable[[Runtime], Any] | None = None
    # The streams this service consumes and the handler of each.
    make_consumers: Callable[[Runtime], list[tuple[StreamSpec, Handler]]] = lambda rt: []
    # Read models fed from the service's own log (list and search endpoints).
    make_read_models: Callable[[Runtime], list[Handler]] = lambda rt: []
    # Periodic jobs (e.g. expiring registrations): (name, seconds, function of the runtime); a
    # coroutine function runs on the event loop (it may use the bus), any other in a thread.
    jobs: Sequence[tuple[str, float, Callable[[Runtime], Any]]] = ()
    # Those of `jobs` that run in every replica, never under a lease (a check of the replica's own).
    per_process: frozenset[str] = frozenset()
    # Called (in a thread) when the service stops, before the database is closed.
    on_stop: Callable[[Runtime], Any] | None = None
    description: str = ""
    # Messages its consumers fetch and apply in one transaction. A catch-up's cost per event falls
    # with it on SQLite (bench.rebuild, n=30,000: 11.4 KiB written per event at 500, 6.9 at 1,000,
    # 4.1 at 2,000: a batch of random ids dirties most pages of each index once), but each batch
    # holds the database's write lock longer: a service whose consumers write beside its requests
    # (dispatch's deployment targets) keeps 500; reporting, whose requests only read, takes 2,000.
    consumer_batch_size: int = 500
    # Names of parties known here by id (an agency's name, a supporter's 登録番号), for documents a
    # person reads (the disclosure: recipients of their data by name, APPI 第29条); ids it does
    # not know are left out of the answer.
    name_parties: Callable[[Runtime, Sequence[str]], dict[str, str]] = lambda rt, ids: {}


REWRAP_SECONDS = 5.0
WEB_ONLY = "web-only replica (TSUNAGU_BACKGROUND=off): a worker replica runs this loop"


def rewrap_keys(runtime: Runtime) -> None:
    """Every subject key under the current master key, a batch at a time (sealing.py)."""
    while runtime.sealer.rewrap():
        pass


def build_runtime(spec: ServiceSpec, settings: Settings) -> Runtime:
    if settings.replicas > 1:  # replicas starting at once make their tables one at a time
        with startup_lock(settings.database_url, settings.db_schema or "public"):
            return _build_runtime(spec, settings)
    return _build_runtime(spec, settings)


def _build_runtime(spec: ServiceSpec, settings: Settings) -> Runtime:
    engine = make_engine(settings)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sealer=Sealer(engine, bytes.fromhex(settings.master_key_hex),
                      tuple(bytes.fromhex(k) for k in settings.previous_master_keys_hex)),
        bus=Bus(settings.nats_url, name=f"tsunagu-{spec.name}"),
        authenticator=Authenticator.from_settings(settings),
    )
    if settings.replicas > 1:
        runtime.leases = Leases(engine, ttl=settings.lease_seconds)
    if spec.make_application is not None:
        runtime.application = spec.make_application(runtime)
        commits, spacing = runtime.application.commits, settings.loop_min_interval_seconds
        # With replicas, another replica's commit rings here through LISTEN (store/listen.py,
        # started with the loops); the poll is the fallback while that connection is down.
        poll = settings.relay_poll_seconds
        runtime.relay = Relay(
            spec=STREAMS[spec.name], application=runtime.application, engine=engine,
            bus=runtime.bus, poll_seconds=poll, signer=EventSigner(settings.audit_key_hex),
            wakeup=commits.wakeup(min_interval=settings.relay_min_interval_seconds),
        )
        runtime.audit = AuditLog(spec.name, runtime.application, engine, settings.audit_key_hex,
                                 relay=runtime.relay)
        reader = LogReader(spec.name, runtime.application, shared=True)  # one read of the log per round for all
        records = PrivacyRecords(engine, CONTRACTS[spec.name])
        runtime.provide(records)
        runtime.dead_letters = DeadLetters(engine)  # an event a follower can never apply (readmodels/poison.py)
        runtime.followers = [
            LogFollower(reader, handler, poll_seconds=poll, wakeup=commits.wakeup(min_interval=spacing),
                        dead_letters=runtime.dead_letters, max_attempts=settings.consumer_max_deliver)
            for handler in [*spec.make_read_models(runtime), records]
        ]
    consumers = spec.make_consumers(runtime)
    if consumers and runtime.dead_letters is None:
        runtime.dead_letters = DeadLetters(engine)
    verifier = EventVerifier(settings.public_keys)
    for stream, handler in consumers:
        if not verifier.knows(stream.service):
            raise ValueError(f"{spec.name} consumes {stream.name} but has no public key of {stream.service} to "
                             f"check its events with: set {stream.service.upper()}_PUBLIC_KEY")
        runtime.consumers.append(ConsumerRunner(
            bus=runtime.bus, spec=stream, handler=handler, max_deliver=settings.consumer_max_deliver,
            dead_letters=runtime.dead_letters, verifier=verifier, batch_size=spec.consumer_batch_size,
        ))
    if runtime.audit is not None:
        runtime.jobs.append(LoopHealth("job", "checkpoints", period=settings.audit_interval_seconds))
    runtime.scheduled = [*spec.jobs]
    runtime.per_process |= spec.per_process
    runtime.name_parties = lambda ids: spec.name_parties(runtime, ids)
    if settings.previous_master_keys_hex:  # a master key rotation under way: move every key
        runtime.scheduled.append(("rewrap", REWRAP_SECONDS, rewrap_keys))
    if settings.malloc_trim_seconds > 0:
        runtime.scheduled.append((memory.JOB, settings.malloc_trim_seconds, memory.trim_job))
        runtime.per_process.add(memory.JOB)
    runtime.jobs += [LoopHealth("job", name, period=seconds) for name, seconds, _ in runtime.scheduled]
    return runtime
