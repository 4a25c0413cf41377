"""Real services for tests: each runs under uvicorn on a loopback port, on a real database and a
real nats-server. Nothing is mocked."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from libs.platform.http import tls
from libs.platform.messaging.signing import public_key_hex
from libs.platform.runtime import Runtime
from libs.platform.settings import SIGNING_SERVICES, Settings
from libs.platform.web.auth import mint_token
from libs.platform.web.edge import UVICORN_OPTIONS

JWT_SECRET = "test-only-secret-" + "x" * 32
POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The suite's httpx clients share one SSL context (libs/platform/http.py: ~80 ms of CPU per client
# otherwise).
TLS = tls()


def backend() -> str:
    return os.environ.get("TSUNAGU_TEST_DB", "sqlite")


class Database:
    """Where one test's services keep their data: SQLite files or fresh PostgreSQL schemas."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = uuid.uuid4().hex[:10]
        self.schemas: list[str] = []
        # Each publishing service's signing key for this test, and every service knows their
        # public keys (libs/platform/messaging/signing.py).
        self.signing_keys = {s: os.urandom(32).hex() for s in SIGNING_SERVICES}
        self.public_keys = {s: public_key_hex(k) for s, k in self.signing_keys.items()}
        # Each service's Idempotency-Key digest secret, the same for every replica and restart of it
        # in this test (as <SERVICE>_IDEMPOTENCY_KEY is in a deployment).
        self.idempotency_keys: dict[str, str] = {}

    def settings(self, service: str, nats_url: str, **overrides: Any) -> Settings:
        if backend() == "postgresql":
            schema = f"t_{self.run}_{service}"
            if schema not in self.schemas:
                self.schemas.append(schema)
            url = POSTGRES_URL
        else:
            schema = None
            url = f"sqlite:///{self.tmp / (service + '.db')}?timeout=30"
        base = Settings(
            service=service, port=0, database_url=url, db_schema=schema, nats_url=nats_url,
            jwt_secret=JWT_SECRET, jwks_url=None, master_key_hex=os.urandom(32).hex(),
            audit_key_hex=self.signing_keys.get(service, os.urandom(32).hex()), public_keys=self.public_keys,
            idempotency_key_hex=self.idempotency_keys.setdefault(service, os.urandom(32).hex()),
            environment="test", relay_poll_seconds=0.02, consumer_max_deliver=3,
            # One client address (127.0.0.1) sends the whole suite: rate limits are off here and
            # tested on where a test turns them on (tests/e2e/test_edge.py).
            rate_per_address=0, rate_per_principal=0, rate_auth_failures=0,
        )
        return Settings(**{**base.__dict__, **overrides})

    def drop(self) -> None:
        if not self.schemas:
            return
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


class ServiceServer:
    """One service under uvicorn in a thread; stop() and start() it like a process."""

    def __init__(self, name: str, create_app: Callable[[Settings], Any], settings: Settings) -> None:
        self.name = name
        self.create_app = create_app
        self.settings = settings
        self.port = 0
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        if self.app is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.app.state.runtime

    def start(self) -> ServiceServer:
        self.app = app = self.create_app(self.settings)
        # Bind here (port 0 the first time) so that two services never race for one port;
        # a restarted service keeps its port.
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (else ~40 ms per response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port or 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", **UVICORN_OPTIONS)
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                                 name=f"svc-{self.name}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        self._replayed_at_start()
        return self

    def _replayed_at_start(self) -> None:
        """A service that starts on empty read models replays the streams, and its reports answer 503
        projection-replaying until its job has read the streams' ends (readmodels/rebuilds.py): wait
        for that replay, so that a test's first request does not race the job (CI saw a 503 so, once,
        under load). Not while the nats-server is down: then the replay lasts, as a test may check."""
        from libs.platform.readmodels.rebuilds import RebuildableProjection
        from libs.platform.tools.natsserver import answers
        from services.reporting.consumers import REPLAY_AT_START

        projections = {id(c.handler): c.handler for c in self.runtime.consumers
                       if isinstance(c.handler, RebuildableProjection)}.values()
        if not projections or not any(answers(url.strip()) for url in self.settings.nats_url.split(",")):  # a cluster's
            return

        def replayed() -> bool:
            states = [p.replay_state() for p in projections]
            return not any(s.replaying and s.started_by == REPLAY_AT_START for s in states)

        eventually(replayed, timeout=30)

    def stop(self) -> None:
        self.stopping()
        if self._server is not None and self._thread is not None:
            self._thread.join(timeout=30)
        self._server = None

    def stopping(self) -> None:
        """Tell the service to stop, not waiting for it (stop() waits): uvicorn sees it at its next
        tick (0.1 s), then the service's loops end."""
        if self._server is not None:
            self._server.should_exit = True

    def client(self, *, role: str | None = None, org: str = "", sub: str = "tester") -> httpx.Client:
        headers = {}
        if role:
            token = mint_token(JWT_SECRET, sub=sub, org=org, roles=[role])
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=TLS)

    def operator(self) -> httpx.Client:
        """A client with an `operator` token: it sees the checks of /readyz (anyone else sees only
        whether the service is ready)."""
        return self.client(role="operator", org="operations", sub="operator")


class Status(int):
    """A response's status that shows its body when an assertion on it fails: `assert
    status(r) == 403` says which problem came instead (CI once saw a 503 and no body to say why)."""

    body: str

    def __new__(cls, status: int, body: str) -> Status:
        made = super().__new__(cls, status)
        made.body = body
        return made

    def __repr__(self) -> str:
        return f"{int(self)} {self.body[:1000]}"


def status(response: httpx.Response) -> Status:
    return Status(response.status_code, response.text)


def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until check() returns a truthy value (and return it) or fail after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last: {last!r}")


def terminate_backend(pid: int) -> None:
    """End a PostgreSQL backend (pg_terminate_backend, as a restart or a failover would) and wait
    until it is gone."""
    admin = create_engine(POSTGRES_URL)

    def alive() -> bool:
        with admin.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                     {"pid": pid}).scalar())

    try:
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        eventually(lambda: not alive())
    finally:
        admin.dispose()


def provision_streams(nats_url: str, *services: str, duplicate_window: int | None = None) -> None:
    """Create the streams of these services (all three by default) as their owners would, for a
    test that runs a consumer without its producers: a consumer waits for a stream only its owner
    creates (libs/platform/messaging/consumer.py), unready until then. (An operator may provision
    the streams so too, before any service starts; a relay keeps the `duplicate_window` it finds.)"""
    import asyncio
    import dataclasses

    from libs.platform.messaging.bus import Bus
    from libs.platform.messaging.streams import STREAMS

    async def make() -> None:
        bus = Bus(nats_url, "test-provisioning")
        await bus.connect()
        try:
            for service in services or tuple(STREAMS):
                spec = STREAMS[service]
                if duplicate_window is not None:
                    spec = dataclasses.replace(spec, duplicate_window=duplicate_window)
                await bus.ensure_stream(spec)
        finally:
            await bus.close()

    asyncio.run(make())


def stream_messages(nats_url: str, stream: str, timeout: float = 1.0) -> list[Any]:
    """Every message currently stored in a JetStream stream (subject, headers, data), in order."""
    import asyncio

    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import ServiceUnavailableError

    async def read() -> list[Any]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)

            async def subscribe(start: int) -> Any:
                # An ephemeral consumer of our own, kept a minute when idle (the server's default, 5 s,
                # lost it under CI's load: every pull after that was answered 503, no responders).
                return await js.pull_subscribe("", stream=stream, config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                    inactive_threshold=60.0))

            sub = await subscribe(1)
            out: list[Any] = []
            unavailable = 0
            while len(out) < info.state.messages:
                try:
                    out += await sub.fetch(500, timeout=timeout)
                except ServiceUnavailableError:  # the consumer is gone (or not there yet): made again after the last
                    unavailable += 1
                    if unavailable > 50:
                        raise
                    await asyncio.sleep(0.1)
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = await subscribe(out[-1].metadata.sequence.stream + 1 if out else 1)
                except NatsTimeout:
                    break
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def published(service: ServiceServer, nats_url: str, timeout: float = 15.0) -> list[Any]:
    """The messages of a service's stream once its relay has published its whole log so far: a
    check of what the bus holds (no personal data, every event once) sees every event."""
    eventually(lambda: service.runtime.require_relay().lag() == 0, timeout=timeout)
    return stream_messages(nats_url, service.runtime.require_relay().spec.name)


def drained(nats_url: str, producer: ServiceServer, *consumers: ServiceServer, timeout: float = 15.0) -> list[Any]:
    """Wait until `producer` has published its whole log and every consumer of its stream in
    `consumers` has applied that stream to its last message (or passed it by: it changes nothing
    there, and its position is recorded later); returns the stream's messages.

    Waiting for one effect (a report total) says nothing about events recorded after the one
    that caused it: assert on a read model only once the events it shows are all applied."""
    messages = published(producer, nats_url, timeout)
    stream = producer.runtime.require_relay().spec.name
    last = messages[-1].metadata.sequence.stream if messages else 0
    runners = [c for s in consumers for c in s.runtime.consumers if c.spec.name == stream]
    assert runners, f"none of the services consumes {stream}"
    eventually(lambda: all(c.position() >= last for c in runners), timeout=timeout)
    return messages


def log_positions(service: ServiceServer) -> list[int]:
    """The positions (notification ids) of a service's log, in order: on PostgreSQL they skip
    the numbers of rolled-back inserts, so a log of n events is not 1..n there."""
    positions, after = [], 0
    while batch := service.runtime.application.recorder.select_notifications(
            start=after, limit=1000, inclusive_of_start=False):
        positions += [n.id for n in batch]
        after = batch[-1].id
    return positions


def assert_stream_is_the_log_once(service: ServiceServer, nats_url: str) -> list[Any]:
    """The service's stream holds each event of its log once, in log order, at its log position
    (gaps and all), and the hash chain links every published event to the one before."""
    from libs.platform.messaging.cloudevents import GENESIS, Envelope

    messages = published(service, nats_url)
    envelopes = [Envelope.from_json(m.data) for m in messages]
    assert [e.sequence for e in envelopes] == log_positions(service)
    previous = GENESIS
    for e in envelopes:
        assert e.chained(previous).chainhash == e.chainhash
        previous = e.chainhash
    return envelopes


def check_published_messages(nats_url: str, public_keys: dict[str, str] | None = None) -> int:
    """Every message any test left on our streams is a CloudEvent that validates against the
    AsyncAPI document, with Nats-Msg-Id = its id and the subject of DESIGN §2, and what carries a
    signature carries its producer's (`public_keys`: this test's); returns how many."""
    import nats.js.errors

    from libs.platform.messaging.cloudevents import Envelope, nats_subject
    from libs.platform.messaging.signing import HEADER, EventVerifier
    from libs.platform.messaging.streams import STREAMS

    verifier = EventVerifier(public_keys or {})
    checked = 0
    for spec in STREAMS.values():
        try:
            messages = stream_messages(nats_url, spec.name)
        except nats.js.errors.NotFoundError:
            continue
        for msg in messages:
            msg_id = (msg.headers or {}).get("Nats-Msg-Id")
            if msg_id is None:  # not from a relay: a test's own probe or poison message
                continue
            envelope = Envelope.from_json(msg.data)
            assert msg_id in (envelope.id, "redelivered-copy"), msg.headers
            assert msg.subject == nats_subject(spec.service, envelope)
            if public_keys and HEADER in (msg.headers or {}):
                verifier.check(spec.service, msg.data, msg.headers)
            asyncapi_schema(envelope.name).validate(envelope.to_dict())
            checked += 1
    return checked + _check_checkpoints(nats_url)


@functools.cache
def asyncapi_schema(name: str) -> Any:
    """A validator of the AsyncAPI document's schema `name`, made once per test process. The document
    is built from the code; `jsonschema.validate` built it and checked the whole document against
    the metaschema again for every message (~10 ms each: 15-18 s of a 1,500-event test's teardown).
    The document is checked against its metaschema by jsonschema (once); the messages by
    jsonschema_rs (schemathesis's validator, pinned), the same draft and no format assertions as
    jsonschema's default: ~2.7 ms of CPU a message with jsonschema, 22 s of the teardown of an
    8,000-event test."""
    import jsonschema_rs

    _, components = _asyncapi_checked()
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": components},
                                       validate_formats=False)


@functools.cache
def _asyncapi_checked() -> tuple[Any, dict[str, Any]]:
    """The validator class of the AsyncAPI document's schemas, which are checked against it once."""
    import jsonschema

    from libs.platform.tools.asyncapi import asyncapi_document

    schema = {"components": asyncapi_document()["components"]}
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator, schema["components"]


def _check_checkpoints(nats_url: str) -> int:
    """Every checkpoint in AUDIT validates against the AsyncAPI document, on the subject of its
    service, with Nats-Msg-Id checkpoint-<service>-<tree_size>."""
    import json

    import nats.js.errors

    from libs.platform.audit.witness import checkpoint_msg_id, checkpoint_subject
    from libs.platform.messaging.streams import AUDIT_STREAM

    try:
        messages = stream_messages(nats_url, AUDIT_STREAM.name)
    except nats.js.errors.NotFoundError:
        return 0
    for msg in messages:
        body = json.loads(msg.data)
        asyncapi_schema("Checkpoint").validate(body)
        assert msg.subject == checkpoint_subject(body["service"])
        assert msg.headers["Nats-Msg-Id"] == checkpoint_msg_id(body["service"], body["tree_size"])
    return len(messages)


@contextlib.contextmanager
def stored_applications(tmp_path: Path, service: str, app_class: type) -> Iterator[tuple[Any, Callable[[], Any]]]:
    """A real database of one service (a SQLite file, or a PostgreSQL schema) without a running
    service: yields its engine and a function that opens an application on it (call it again for
    a fresh one, e.g. after rewriting stored events); everything is released and dropped after."""
    from libs.platform.privacy.sealing import Sealer
    from libs.platform.store.db import eventsourcing_env, make_engine

    database = Database(tmp_path)
    settings = database.settings(service, "nats://127.0.0.1:1")
    engine = make_engine(settings)
    opened: list[Any] = []
    master = os.urandom(32)  # one service's master key: every application opened is a replica of it

    def application() -> Any:
        app = app_class(eventsourcing_env(settings), Sealer(engine, master))
        opened.append(app)
        return app

    try:
        yield engine, application
    finally:
        for app in opened:
            app.close()
        engine.dispose()
        database.drop()


@contextlib.contextmanager
def forgotten_after_the_cache(first: Any, second: Any, subject: Any) -> Iterator[list[str]]:
    """While inside: the first time `first` takes `subject`'s key from its cache (a live key, no look
    at the erasure log), replica `second` forgets the subject at once: the erasure lands between
    the cache lookup and `first`'s save, as another replica's would (store/sealed.py). Yields the
    subjects forgotten so (empty: the command never took that key from the cache)."""
    cached_keys = first.sealer.cached_keys
    forgotten: list[str] = []

    def cached_then_forgotten_elsewhere(subjects: Any) -> Any:
        taken = cached_keys(subjects)
        if not forgotten and str(subject) in taken.keys:
            assert taken.keys[str(subject)] is not None, "the key was not live in the cache"
            second.sealer.forget(str(subject))
            forgotten.append(str(subject))
        return taken

    first.sealer.cached_keys = cached_then_forgotten_elsewhere
    try:
        yield forgotten
    finally:
        del first.sealer.cached_keys


@contextlib.contextmanager
def checkouts() -> Iterator[list[str]]:
    """Connections taken from any pool while inside (each a round trip of its own, or a ping)."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    taken: list[str] = []

    def count(*_: Any) -> None:
        taken.append("checkout")

    event.listen(Pool, "checkout", count)
    try:
        yield taken
    finally:
        event.remove(Pool, "checkout", count)
