"""Attack (h-attack2 on merge-s29): the R3 stream's leader changes in the middle of the relay's
atomic batches (messaging/relay_order.py; not tested by its author, who rested on nats-server's
source: a batch whose first messages were staged on a leader that since changed is refused at its
commit as incomplete). The 3-node loopback cluster of deploy/nats/local (soak/nats.py), a backlog of
1,500 events in batches of 500:

- an operator's stream leader step-down (`$JS.API.STREAM.LEADER.STEPDOWN.INTAKE`, allowed here to
  the intake user for the test: no user of deploy/nats/accounts.conf may) inside each batch;
- the stream leader's node SIGKILLed inside a batch, twice, and started again.

Held when every event is on the stream once, in log order, and the relay catches up."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from libs.platform.messaging.bus import inbox_prefix
from soak.nats import LocalCluster
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_relay_gaps import _checked_again
from tests.fault.test_relay_in_flight import _on_each_relay_message
from tests.fault.test_relay_order import IMPORTS, ITEMS, _backlog
from tests.fault.test_relay_order_cluster import _stream_positions, running_cluster
from tests.harness import eventually, log_positions

pytestmark = pytest.mark.fault
STEPDOWN = "$JS.API.STREAM.LEADER.STEPDOWN.INTAKE"


def _no_hole_flagged(intake) -> None:
    """Leader changes leave no message lost for good: the relay's look for holes finds none."""
    relay = intake.runtime.relay
    relay.gap_seconds = 0.2
    _checked_again(relay)
    assert relay.health.missing == 0, relay.health.missing_reason


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    """A 3-node cluster whose intake user may also ask INTAKE's leader to step down."""
    def stepdown_allowed(nodes: LocalCluster) -> None:
        accounts = nodes.tmp / "accounts.conf"
        text = accounts.read_text()
        assert text.count('"intake.>",') == 1
        accounts.write_text(text.replace('"intake.>",', f'"intake.>", "{STEPDOWN}",'))

    yield from running_cluster(tmp_path, monkeypatch, stepdown_allowed)


def _in_log_order(cluster: LocalCluster, intake) -> None:
    eventually(lambda: intake.runtime.relay.lag() == 0, timeout=120)
    stream = _stream_positions(cluster)
    log = log_positions(intake)
    assert len(log) >= IMPORTS * ITEMS
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    _no_hole_flagged(intake)


def _failed_rounds(caplog) -> list[str]:
    """The relay's failed rounds (seen: "no response from stream" at the commit, then "cannot compare
    with the stream" while the new leader is elected)."""
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


def _started(cluster: LocalCluster, start_service):
    intake = start_service("intake", cluster.url_for("intake"))
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 2.0
    eventually(lambda: relay.bus.connected and relay.health.failures == 0, timeout=60)
    return intake, relay


def test_stream_leader_step_downs_inside_batches_keep_an_r3_stream_the_log_in_order(cluster, start_service, caplog):
    intake, relay = _started(cluster, start_service)
    gate = _backlog(intake)
    leaders: list[int | None] = []

    async def publishing(count: int) -> None:
        if count in (200, 700, 1200):  # inside the first three batches sent (a refused one is sent again)
            leaders.append(cluster.stream_leader("INTAKE"))
            reply = await relay.bus.client.request(STEPDOWN, b"", timeout=5)
            assert b'"success":true' in reply.data, reply.data

    _on_each_relay_message(relay, publishing)
    gate.set()
    _in_log_order(cluster, intake)
    assert len(leaders) == 3
    assert _failed_rounds(caplog), "no batch was refused or lost: the step-downs came between batches"
    eventually(lambda: cluster.stream_leader("INTAKE") is not None, timeout=30)


def test_the_stream_leaders_node_killed_inside_batches_keeps_an_r3_stream_the_log_in_order(cluster, start_service,
                                                                                           caplog):
    intake, relay = _started(cluster, start_service)
    gate = _backlog(intake)
    killed: list[int] = []

    async def publishing(count: int) -> None:
        if count in (200, 900) and len(killed) < 2:
            leader = cluster.stream_leader("INTAKE")
            assert leader is not None
            killed.append(leader)
            cluster.nodes[leader].kill()

    _on_each_relay_message(relay, publishing)
    gate.set()
    for k in range(2):
        eventually(lambda k=k: len(killed) > k or relay.lag() == 0, timeout=90)
        if len(killed) <= k:
            break
        time.sleep(0.3)
        cluster.nodes[killed[k]].start()
    _in_log_order(cluster, intake)
    assert killed, "no leader was killed"
    assert _failed_rounds(caplog), "no batch was refused or lost: the kills came between batches"


def test_step_downs_under_a_stream_of_commands_keep_an_r3_stream_the_log_in_order(cluster, start_service):
    """Consultations posted one after another by two clients while an operator steps INTAKE's leader
    down every half second, eight times: the relay's batches (small, several in flight while a
    step-down's election lasts) are refused or lost and sent again."""
    intake, relay = _started(cluster, start_service)
    centre_id, case_id = _setup_case(intake)
    stop = threading.Event()

    def writing() -> None:
        while not stop.is_set():
            _consult(intake, centre_id, case_id, 5)

    writers = [threading.Thread(target=writing) for _ in range(2)]
    for writer in writers:
        writer.start()
    url = cluster.url_for("intake")

    async def step_downs() -> int:
        nc = await nats.connect(url.split(","), inbox_prefix=inbox_prefix(url))
        done = 0
        try:
            for _ in range(8):
                await asyncio.sleep(0.5)
                with contextlib.suppress(nats.errors.Error):  # no leader yet: the next one
                    reply = await nc.request(STEPDOWN, b"", timeout=5)
                    done += b'"success":true' in reply.data
        finally:
            await nc.close()
        return done

    try:
        before = relay.reader.max_position()
        done = asyncio.run(step_downs())
        during = relay.reader.max_position() - before
    finally:
        stop.set()
        for writer in writers:
            writer.join(60)
    assert during > 50, f"{during} events recorded during the step-downs"
    assert done >= 4, f"{done} step-downs of 8"
    eventually(lambda: relay.lag() == 0, timeout=120)
    stream, log = _stream_positions(cluster), log_positions(intake)
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    _no_hole_flagged(intake)
