"""Leases on PostgreSQL (libs/platform/lease.py): one holder per role, a take-over after expiry
with a new generation, and a former holder's writes refused in the transaction that makes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from libs.platform.lease import Fenced, Leases
from libs.platform.settings import InsecureSettings, Settings
from tests.harness import POSTGRES_URL, backend, eventually

postgres = pytest.mark.skipif(backend() != "postgresql", reason="leases need PostgreSQL")


@pytest.fixture
def engine() -> Iterator[Engine]:
    schema = f"t_lease_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE positions (role text PRIMARY KEY, position bigint NOT NULL)"))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _write(leases: Leases, role: str, position: int) -> None:
    with leases.fencing(leases.lease(role)), leases.engine.begin() as conn:
        conn.execute(text("INSERT INTO positions VALUES (:r, :p) ON CONFLICT (role) DO UPDATE SET position = :p"),
                     {"r": role, "p": position})


def _position(engine: Engine, role: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT position FROM positions WHERE role = :r"), {"r": role}).scalar()


@postgres
def test_one_holder_a_takeover_after_expiry_and_the_former_holders_write_refused(engine):
    a, b = Leases(engine, ttl=1.0, me="a"), Leases(engine, ttl=1.0, me="b")
    assert a.try_hold(a.lease("relay:INTAKE"))
    assert not b.try_hold(b.lease("relay:INTAKE"))  # held and not expired
    assert b.lease("relay:INTAKE").holder == "a"
    _write(a, "relay:INTAKE", 1)
    first = a.lease("relay:INTAKE").generation
    # a stops renewing (paused): b takes over once the lease has expired, with a new generation
    eventually(lambda: b.try_hold(b.lease("relay:INTAKE")), timeout=10, interval=0.2)
    assert b.lease("relay:INTAKE").generation == first + 1
    _write(b, "relay:INTAKE", 2)
    # a wakes up believing it holds the lease: its write is refused and nothing of it is kept
    assert a.lease("relay:INTAKE").held
    with pytest.raises(Fenced):
        _write(a, "relay:INTAKE", 99)
    assert _position(engine, "relay:INTAKE") == 2
    assert not a.lease("relay:INTAKE").held  # it stands by now
    assert not a.try_hold(a.lease("relay:INTAKE"))


@postgres
def test_work_begun_in_an_earlier_tenure_is_refused_after_the_replica_takes_the_lease_back(engine):
    """The fence is the generation the work began under, not the lease as it is now: a thread of
    generation n that hung while the lease went to another replica and came back (n + 2) must not
    write, though this replica holds the lease again; the new tenure's work writes."""
    import contextvars

    a, b = Leases(engine, ttl=0.5, me="a"), Leases(engine, ttl=0.5, me="b")
    lease = a.lease("relay:INTAKE")
    assert a.try_hold(lease)
    first = lease.generation
    with a.fencing(lease):
        earlier = contextvars.copy_context()  # what a thread started by this tenure carries

    def write_then(position: int) -> None:  # the earlier tenure's work, going on late
        with a.engine.begin() as conn:
            conn.execute(text("INSERT INTO positions VALUES ('relay:INTAKE', :p) "
                              "ON CONFLICT (role) DO UPDATE SET position = :p"), {"p": position})

    eventually(lambda: b.try_hold(b.lease("relay:INTAKE")), timeout=10, interval=0.1)
    b.release(b.lease("relay:INTAKE"))
    assert a.try_hold(lease) and lease.generation == first + 2  # back with this replica
    _write(a, "relay:INTAKE", 2)  # the new tenure's work
    with pytest.raises(Fenced, match=f"generation {first} of a"):
        earlier.run(write_then, 99)
    assert _position(engine, "relay:INTAKE") == 2
    assert lease.held  # a leftover refused says nothing against the tenure that holds it now
    _write(a, "relay:INTAKE", 3)
    assert _position(engine, "relay:INTAKE") == 3


@postgres
def test_a_released_lease_is_taken_at_once_and_other_roles_are_apart(engine):
    a, b = Leases(engine, ttl=30.0, me="a"), Leases(engine, ttl=30.0, me="b")
    assert a.try_hold(a.lease("consumer:x"))
    assert b.try_hold(b.lease("job:expiry"))  # another role: another lease
    assert not b.try_hold(b.lease("consumer:x"))
    a.release(a.lease("consumer:x"))
    assert b.try_hold(b.lease("consumer:x"))  # no waiting for the 30 s
    with pytest.raises(Fenced):
        _write(a, "consumer:x", 5)
    _write(b, "consumer:x", 6)
    assert _position(engine, "consumer:x") == 6


def test_replicas_on_sqlite_refuse_to_start(tmp_path):
    with pytest.raises(InsecureSettings, match="TSUNAGU_REPLICAS=2 needs PostgreSQL"):
        Settings(service="intake", port=0, database_url=f"sqlite:///{tmp_path / 'x.db'}", db_schema=None,
                 nats_url="nats://127.0.0.1:4222", jwt_secret="x" * 40, jwks_url=None, master_key_hex="00" * 32,
                 environment="test", replicas=2)


def test_a_web_only_replica_refuses_to_start_where_no_worker_could_run_its_loops(tmp_path, monkeypatch):
    common: dict[str, Any] = {"service": "intake", "port": 0, "nats_url": "nats://127.0.0.1:4222",
                              "jwt_secret": "x" * 40, "jwks_url": None, "master_key_hex": "00" * 32,
                              "environment": "test", "background": False}
    with pytest.raises(InsecureSettings, match="TSUNAGU_BACKGROUND=off needs PostgreSQL"):
        Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", db_schema=None, replicas=2, **common)
    with pytest.raises(InsecureSettings, match="TSUNAGU_BACKGROUND=off needs TSUNAGU_REPLICAS of 2 or more"):
        Settings(database_url=POSTGRES_URL, db_schema="x", replicas=1, **common)
    Settings(database_url=POSTGRES_URL, db_schema="x", replicas=2, **common)  # the web-only replica
    monkeypatch.setenv("TSUNAGU_VAR", str(tmp_path))
    monkeypatch.setenv("TSUNAGU_BACKGROUND", "no")
    with pytest.raises(ValueError, match="TSUNAGU_BACKGROUND must be on or off"):
        Settings.from_env("intake")


class _BehindFollower:
    """A read model kept by another replica that does not move (its holder paused or failing)."""

    stream = "intake-log"

    def __init__(self) -> None:
        from libs.platform.health import LoopHealth

        self.health = LoopHealth(kind="follower", name="intake-cases")
        self.reader = type("Reader", (), {"max_position": staticmethod(lambda: 7)})()
        self.handler = type("Handler", (), {"position": staticmethod(lambda stream: 3)})()
        self._changes = None  # a handler without `changes` (LogFollower takes it once, in __init__)

    def reached(self, target: int) -> bool:
        from libs.platform.readmodels.follower import LogFollower

        return LogFollower.reached(self, target)  # type: ignore[arg-type]


@postgres
def test_a_standby_never_serves_a_read_model_behind_the_log_as_caught_up(engine):
    """Before, catch_up on a replica without the follower's lease gave up after two leases' lengths
    and returned as if caught up: a consumer then acted on stale rows (an erasure at intake missing
    a dispatch) and recorded its position. Now it raises ReadModelBehind: a TimeoutError, which a
    consumer retries, and a 503 with Retry-After for a request."""
    from types import SimpleNamespace

    from libs.platform.messaging.consumer import is_transient
    from libs.platform.runtime import ReadModelBehind, Runtime

    follower = _BehindFollower()
    holder, standby = Leases(engine, ttl=0.3, me="a"), Leases(engine, ttl=0.3, me="b")
    assert holder.try_hold(holder.lease(follower.health.role))
    with pytest.raises(ReadModelBehind) as behind:
        Runtime.catch_up(SimpleNamespace(followers=[follower], leases=standby))  # type: ignore[arg-type]
    assert is_transient(behind.value) and behind.value.status == 503
    assert behind.value.headers["Retry-After"]
