"""Events lost from a relay's stream: flagged, never taken as normal.

Our streams keep every event forever (DESIGN §2: audit) and have no limits that drop messages, so
every stream sequence from 1 to the stream's last holds a message. A sequence that holds none was
deleted (`js.delete_msg`), purged (`js.purge_stream`) or lost by the server. JetStream's
`stream_info().state` says so at no cost (`last_seq - messages`: the holes inside the stream and
those purged or deleted before its `first_seq`), and a stream whose `last_seq` went below a sequence
the relay had a PubAck for lost its tail (a server or cluster leader without what it acknowledged;
PubAcks and judged holes are the stream's: one deleted and created again, its
`stream_info().created` another, starts with none). Only then (rarely) is each hole judged, once: it
lost events of this log when the relay's event after it does not chain from its event before it (an
operator who deleted foreign messages, the documented way out of relay_order.FOREIGN_DEPTH, or a
tail lost and sent again by the relay, lost none), or, with no event after it, when the relay had
published past the one before it. The relay looks at each comparison with the stream (relay.py
reconcile: at start, after every failure and reconnect) and every `GAP_SECONDS` while it runs (not
per publish), and its health says so (health.LoopHealth.missing): unready with the stream, the count
and what to run; /metrics has `tsunagu_loop_missing_messages`. It keeps publishing: the pipeline
does not stop for a hole.

A consumer of another service that is handed a message after a hole judges it the same way
(`lost_before`, messaging/delivery.py): one that lost events is an open dead letter there, kept in
its database before its position moves past the hole (its read model lacks them for good).

The relay does not re-publish what is missing. A deleted sequence is never used again, so a hole stays a
hole whatever is sent after it; and JetStream keeps a deleted or purged message's `Nats-Msg-Id` in
its duplicate window (measured, nats-server 2.15.1: the re-publish is acknowledged as a duplicate
with the deleted sequence and nothing is stored), so within the window a re-publish stores
nothing, and after it the event lands behind later ones (out of log order for consumers) unless
the loss was the stream's tail. A tail the stream lost below the relay's record is sent again by
the comparison with the stream (relay_order.py _past_foreign), as before: a deleted tail is refused
(10201, its ids still in the window) round after round for up to the window's 600 s, then stored
after the hole, whose chain then holds (tests/fault/test_relay_gaps.py). What an operator does: `tsunagu
audit verify --nats` says which events; the stream is rebuilt from the store (deleted, so that the
relay sends the whole log again in order) once that is decided.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from nats.js.errors import NotFoundError

from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import GENESIS, Envelope, InvalidEnvelope
from libs.platform.messaging.relay_order import FOREIGN_DEPTH, relay_envelope
from libs.platform.messaging.streams import StreamSpec

GAP_SECONDS = 5.0  # how often a running relay asks the stream for holes
MAX_HOLES = 100  # holes judged one by one; beyond that each counts as lost (an operator must look anyway)
log = logging.getLogger(__name__)


def missing_messages(state: Any, acknowledged: int = 0) -> int:
    """Messages missing from a stream whose `stream_info().state` is `state`: sequences up to its
    last that hold none, and those a PubAck gave (up to `acknowledged`) that it no longer reaches."""
    return max(state.last_seq - state.messages, 0) + max(acknowledged - state.last_seq, 0)


def missing_reason(stream: str, missing: int) -> str:
    """What /readyz says of a stream with `missing` messages lost."""
    return (f"stream {stream} is missing {missing} message{'s' if missing != 1 else ''} (deleted, purged or lost "
            f"by the server: our streams keep every event); run `tsunagu audit verify --nats <url> --stream "
            f"{stream}` to see which")


class StreamGaps:
    """A mixin of `Relay` (messaging/relay.py): the events lost in the stream's holes, in its health."""

    spec: StreamSpec
    bus: Bus
    health: LoopHealth
    gap_seconds: float = GAP_SECONDS
    _acknowledged_seq = 0  # the highest stream sequence a PubAck gave in this process
    _gaps_at: float | None = None  # when the stream was last asked for holes (None: ask at once)
    _judged: dict[tuple[int, int], int] | None = None  # hole (first, last sequence) -> messages lost in it
    _stream_created: Any = None  # the stream's `created` when last asked: another one is a stream made anew
    # The furthest log position this process saw published (recorded or acknowledged): not moved back
    # when the comparison with a stream that lost its tail moves the record back to send it again.
    _published_max = 0

    def _acknowledged_up_to(self, seq: int) -> None:
        self._acknowledged_seq = max(self._acknowledged_seq, seq)

    async def _gaps_seen(self, state: Any, created: Any = None) -> None:
        """Take the stream's state (asked now; `created`: its `stream_info().created`) into the relay's
        health. A failure to judge its holes leaves the health as it was: asked again next period."""
        self._gaps_at = time.monotonic()
        if created is not None and created != self._stream_created:
            if self._stream_created is not None:
                # The stream was deleted and made again (its rebuild, deploy/README.md) under this
                # process: the old one's PubAcks and holes say nothing of it (held foreign messages,
                # its sequences reached past the log: a false alarm for good).
                log.warning("relay %s: the stream was created anew: its old PubAcks and holes forgotten",
                            self.spec.name)
                self._acknowledged_seq, self._judged = 0, None
            self._stream_created = created
        self._published_max = max(self._published_max, self.health.position)
        try:
            missing = max(self._acknowledged_seq - state.last_seq, 0)
            if state.last_seq > state.messages:
                missing += await self._lost_in_holes(state)
        except Exception as e:  # noqa: BLE001 - the bus away or slow: the next period asks again
            log.warning("relay %s: cannot judge the stream's holes (%s: %s)", self.spec.name, type(e).__name__, e)
            return
        if missing != self.health.missing:
            if missing:
                log.error("relay %s: the stream is missing %d messages (last_seq %d, messages %d, first_seq %d, "
                          "acknowledged up to %d)", self.spec.name, missing, state.last_seq, state.messages,
                          state.first_seq, self._acknowledged_seq)
            else:
                log.warning("relay %s: the stream is missing no message any more", self.spec.name)
        self.health.missing_reason = missing_reason(self.spec.name, missing) if missing else ""
        self.health.missing = missing

    async def watch_gaps(self) -> None:
        """Ask the stream for holes when `gap_seconds` have passed since it was last asked. A
        failure to ask is not the round's: the next publish or comparison meets it if it lasts."""
        at = self._gaps_at
        if at is not None and time.monotonic() - at < self.gap_seconds:
            return
        try:
            info = await asyncio.wait_for(self.bus.js.stream_info(self.spec.name), timeout=self.gap_seconds)
        except Exception as e:  # noqa: BLE001 - the bus away: asked again next period
            self._gaps_at = time.monotonic()
            log.warning("relay %s: cannot ask the stream for holes (%s: %s)", self.spec.name, type(e).__name__, e)
            return
        await self._gaps_seen(info.state, info.created)

    async def _lost_in_holes(self, state: Any) -> int:
        """Messages in the stream's holes that held events of this log."""
        reply = await self.bus.client.request(f"$JS.API.STREAM.INFO.{self.spec.name}",
                                              json.dumps({"deleted_details": True}).encode(), timeout=5)
        answer = json.loads(reply.data)
        if "error" in answer:
            raise RuntimeError(f"stream info: {answer['error']}")
        deleted = sorted(answer.get("state", {}).get("deleted") or [])
        holes = [[1, min(state.first_seq, state.last_seq + 1) - 1]] if state.first_seq > 1 else []
        for seq in deleted:
            if holes and holes[-1][1] + 1 == seq:
                holes[-1][1] = seq
            else:
                holes.append([seq, seq])
        judged, self._judged = self._judged or {}, {}
        lost = 0
        for first, last in holes[:MAX_HOLES]:
            count = judged.get((first, last))
            if count is None:
                count = await self._lost_in(first, last, state.last_seq)
            else:
                self._judged[(first, last)] = count
            lost += count
        return lost + sum(last - first + 1 for first, last in holes[MAX_HOLES:])  # not judged: counted

    async def _lost_in(self, first: int, last: int, last_seq: int) -> int:
        """The hole's size if it held events of this log, else 0 (see the module's docstring)."""
        before = await relay_event_near(self.bus.js, self.spec.name, first - 1, -1, last_seq)
        after = await relay_event_near(self.bus.js, self.spec.name, last + 1, 1, last_seq)
        if after is not None:
            lost = chain_broken(before, after)
        else:  # the stream's tail: lost if the relay had published past the event before it
            lost = not isinstance(before, Envelope | None) or (before.sequence if before else 0) < self._published_max
        count = last - first + 1 if lost else 0
        if after is not None and self._judged is not None:  # a hole with an event after it is judged for good
            self._judged[(first, last)] = count
        return count


def chain_broken(before: Envelope | bool | None, after: Envelope | bool) -> bool:
    """Whether events of the log were lost between the relay's events `before` and `after` (as
    relay_event_near finds them): `after` does not chain from `before` (from GENESIS at the start)."""
    previous = before.chainhash if isinstance(before, Envelope) else GENESIS
    return not isinstance(after, Envelope) or after.chained(previous).chainhash != after.chainhash


async def relay_event_near(js: Any, stream: str, seq: int, step: int, last_seq: int) -> Envelope | bool | None:
    """The first event of a relay's log in `stream` from sequence `seq` on, going by `step` (None:
    the stream's start or end reached first; False: none within FOREIGN_DEPTH messages)."""
    for _ in range(FOREIGN_DEPTH + 1):
        if seq < 1 or seq > last_seq:
            return None
        try:
            return relay_envelope(await js.get_msg(stream, seq))
        except (NotFoundError, InvalidEnvelope):  # deleted too; a foreign message
            seq += step
    return False


async def lost_before(js: Any, stream: str, first: int, last: int, last_seq: int) -> bool:
    """Whether the hole of sequences `first`..`last` in `stream`, with messages after it (up to
    `last_seq`), held events of the relay's log (a consumer's check of a hole it was handed across)."""
    before = await relay_event_near(js, stream, first - 1, -1, last_seq)
    return chain_broken(before, await relay_event_near(js, stream, last + 1, 1, last_seq) or False)
