"""Two replicas of intake on PostgreSQL with a real nats-server, under a small concurrent load
over HTTP to both (soak/ha.py): every background role runs in exactly one of them, and when its
holder is killed, paused past its lease or stopped, the other takes over; the stream holds every
stored event once, and no request fails (the client retries on the next replica what it could not
send, as the proxy of deploy/ does)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest

from soak.ha import Load, Replicas, Tally, check, intake_pair
from tests.harness import TLS, backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
RELAY = "relay:INTAKE"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str, Tally]]:
    """One pair for the module (starting a service is most of the time): the tests run in file
    order, each leaving both replicas running."""
    with intake_pair(tmp_path_factory.mktemp("replicas")) as (replicas, nats_url):
        yield replicas, nats_url, Tally()


def _roles_once(replicas: Replicas) -> None:
    """Each role is run by exactly one replica, and /metrics says the same as /readyz."""
    for role in replicas.roles():
        assert len(eventually(lambda r=role: replicas.holders(r), timeout=20)) == 1, role
    def held() -> list[int] | None:  # per replica, the roles whose tsunagu_lease_held is 1
        counts = [sum(1 for line in httpx.get(f"{p.url}/metrics", timeout=5, verify=TLS).text.splitlines()
                      if line.startswith("tsunagu_lease_held{") and float(line.rsplit(" ", 1)[1]) == 1.0)
                  for p in replicas.procs]
        return counts if sum(counts) == len(replicas.roles()) else None

    assert eventually(held, timeout=20)  # every role held once, across the two replicas


def _accepting(load: Load, more: int = 20) -> None:
    """Wait until the load has had `more` further registrations accepted."""
    accepted = len(load.tally.accepted)
    eventually(lambda: len(load.tally.accepted) >= accepted + more, timeout=30)


@contextlib.contextmanager
def _under_load(replicas: Replicas, tally: Tally) -> Iterator[Load]:
    """Three clients registering centres over both replicas, accepted already; stopped after, when
    no request may have failed."""
    load = Load(replicas, clients=3, tally=tally)
    load.start()
    try:
        _accepting(load)
        yield load
    finally:
        load.stop()
    assert tally.failed == []


def _nothing_lost_or_doubled(replicas: Replicas, nats_url: str, tally: Tally) -> int:
    """The stream holds every stored event once; returns how many."""
    found = check(replicas, nats_url, tally)
    assert (found.lost, found.duplicated) == ([], [])
    assert found.published == found.stored
    return found.stored


def test_a_rolling_restart_fails_no_request_and_hands_the_leases_over_at_once(pair):
    replicas, nats_url, tally = pair
    with _under_load(replicas, tally) as load:
        # As a Deployment with maxSurge rolls: the new pods start beside the old ones, then the old
        # ones stop one at a time while the proxy sends to the others.
        news = [replicas.spare(i) for i in (0, 1)]
        for new in news:
            new.wait_healthy()
        for i in (0, 1):
            holds = [role for role in replicas.roles() if replicas.holders(role) == [i]]
            old = replicas.replace(i, news[i])
            old.stop()  # SIGTERM: stop accepting, finish what is in flight, let the leases go
            for role in holds:  # released at the stop, not left to expire; taken by a replica or a spare
                assert f"lease {role}: released by" in old.log_tail(200_000)
                replicas.wait_held(role, not_by=None, timeout=30)
            _accepting(load, 10)
    _roles_once(replicas)
    _nothing_lost_or_doubled(replicas, nats_url, tally)


def test_a_paused_holder_is_fenced_when_it_wakes_and_steps_down(pair):
    replicas, nats_url, tally = pair
    with _under_load(replicas, tally) as load:
        holder = eventually(lambda: replicas.holders(RELAY), timeout=30)[0]
        generation = replicas.generation(RELAY)
        replicas.in_rotation[holder] = False  # the proxy stops sending to a replica that does not answer
        replicas.procs[holder].pause()
        try:
            replicas.wait_held(RELAY, not_by=holder, timeout=30)  # past the 2 s lease
            _accepting(load)
        finally:
            replicas.procs[holder].resume()
        # Awake, it still believes it holds its leases: its next write or renewal finds the new
        # generation, is refused, and it stands by for every role.
        eventually(lambda: replicas.holders(RELAY) == [1 - holder] and replicas.generation(RELAY) > generation,
                   timeout=30)
        eventually(lambda: re.search(r"lease relay:INTAKE: \S+ stood down",
                                     replicas.procs[holder].log_tail(200_000)), timeout=30)
        replicas.in_rotation[holder] = True
        _accepting(load)
    _roles_once(replicas)
    _nothing_lost_or_doubled(replicas, nats_url, tally)


def test_kill_9_of_the_lease_holder_the_other_takes_over_and_nothing_is_lost_or_doubled(pair):
    replicas, nats_url, tally = pair
    _roles_once(replicas)
    with _under_load(replicas, tally) as load:
        holder = eventually(lambda: replicas.holders(RELAY), timeout=30)[0]
        replicas.procs[holder].kill()
        replicas.in_rotation[holder] = False
        replicas.wait_held(RELAY, not_by=holder, timeout=30)
        survivor = 1 - holder
        eventually(lambda: len(replicas.holders(RELAY)) == 1 and all(
            replicas.holders(role) == [survivor] for role in replicas.roles()), timeout=30)
        _accepting(load)
    assert _nothing_lost_or_doubled(replicas, nats_url, tally) >= 100
