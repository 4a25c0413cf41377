"""The relay's order on the stream: no message may land before the one before it in the log.

Every relay publish carries `Nats-Expected-Last-Sequence`: the stream sequence the stream must end
at when the message arrives (the stream's last sequence before the batch, plus the message's place
in the batch less one). JetStream refuses (err_code 10071, "wrong last sequence: <its last>") a
message that finds the stream ending anywhere else. Without it a NATS restart mid-batch (on a
cluster: the loss of the client's node) lost what nats-py had written to the socket while what it
still buffered reached the server first: the later events of the batch were stored, the earlier
ones re-sent after them, the stream out of log order (tests/fault/test_relay_order.py, R1, and
test_relay_order_cluster.py, R3). With it those later messages are refused.

The same on a replicated stream: the stream's LEADER checks the sequence before it proposes the
message, so every replica applies the same history. (`Nats-Expected-Last-Msg-Id`, used before, is
checked at apply time on each replica: on nats-server 2.15.1 a replica caught up from the leader
kept a stale last id, and killing the client's node mid-batch made every replica log "critical
write error: last msgid mismatch" and the stream stop taking writes, 2 runs of 3; with the
sequence, 27 rounds of step-downs, kills of the client's node and SIGTERMs kept order, no stall.)

JetStream checks the expected sequence BEFORE the duplicate (`Nats-Msg-Id`), so a re-send of a
stored message is refused, not acked as a duplicate: the relay never sends a stored message again.
It need not: every message was stored right after its predecessor, so the stream's last event of
this log proves every event before it is there. After any failure (and at start, and after every
reconnect) the relay compares with the stream (messaging/relay.py reconcile): its record moves to
the stream's last event of this log (looking past at most FOREIGN_DEPTH messages that are not: a
probe, a copy put back, a forged envelope, an event this log does not hold), and its next batch
expects the stream's last sequence as the stream says. A message someone else publishes meanwhile
makes the next publish refused, and the relay compares again and goes on after it. More than
FOREIGN_DEPTH such messages at the stream's end: the comparison fails and nothing is published, the
relay unready with the reason (LoopHealth), until an operator looks.

The sequence names a place, not a predecessor: a message someone else stores takes the place the
relay's next message expects. Put while the relay idles, it makes the next batch's first message
refused, and that message is sent alone, the rest only once it is stored (else the second, expecting
the foreign message's place, was stored without the first: test_attack_relay_foreign's forged
envelope). Put while a batch is pipelined, it makes one message refused and the next one stored:
the stream then lacks that event for good (xfail strict in test_attack_relay_foreign.py). The relay
sees it (a refusal, then a later message of the batch acknowledged) and makes it loud: an error
naming the log positions, `tsunagu_loop_lost_events` in /metrics, and the service unready with the
reason until the process restarts. It does not send the event again: after a later one it would be
out of log order, and every consumer that checks its producer's signature (all in service) takes
an event before one it applied for a replay and dead-letters it as forged; the bus verifier
(audit/stream.py) reports it too. Only holders of the service's own NATS credentials can publish
on its stream (deploy/nats/accounts.conf); an atomic batch publish (nats-server 2.12+) would close it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from nats.js.errors import APIError, NotFoundError

from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import GENESIS, Envelope, InvalidEnvelope
from libs.platform.messaging.relay_records import chain_rows
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.log import LogReader

EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
WRONG_LAST_SEQUENCE = 10071  # JetStream's err_code for a refused Nats-Expected-Last-Sequence
log = logging.getLogger(__name__)
FOREIGN_DEPTH = 100  # messages not a relay's looked past at the stream's end; more: an operator must look


class StreamEndUnknown(ConnectionError):
    """Where the stream ends is not known (a PubAck said "duplicate"): compare with it first."""


def relay_envelope(msg: Any) -> Envelope:
    """The event of a stream message a relay published (its Nats-Msg-Id is the event's id)."""
    if msg.data is None:
        raise InvalidEnvelope("the stream's last message has no payload")
    envelope = Envelope.from_json(msg.data)
    if (msg.headers or {}).get("Nats-Msg-Id") != envelope.id:
        raise InvalidEnvelope("not published by a relay (no matching Nats-Msg-Id)")
    if type(envelope.sequence) is not int or not isinstance(envelope.chainhash, str):  # a forged one
        raise InvalidEnvelope("not published by a relay (no log position and chain hash)")
    return envelope


def refused_order(error: BaseException | None) -> bool:
    """A publish JetStream refused because its predecessor was not the stream's last message."""
    return isinstance(error, APIError) and error.err_code == WRONG_LAST_SEQUENCE


class RelayOrder:
    """A mixin of `Relay` (messaging/relay.py): the stream sequence each message expects last."""

    spec: StreamSpec
    bus: Bus
    reader: LogReader
    health: LoopHealth
    ack_timeout: float
    # Where the stream ends: its last sequence, and the log position of its last event of this log
    # there (None: not known, compare with the stream first). Set by reconcile() and by a batch's PubAcks.
    _stream_end: tuple[int, int] | None = None

    if TYPE_CHECKING:  # Relay's and RelayRecords's
        def position(self) -> tuple[int, str]: ...

        def _record(self, position: int, chainhash: str, chain: Any = ()) -> None: ...

        def _rendered_after(self, position: int, chainhash: str,
                            limit: int | None = None) -> tuple[list[Envelope], list[bytes], str, int]: ...

        batch_size: int

        def _drop_flight(self) -> None: ...

    def _expecting(self, after: int, count: int) -> int:
        """The stream sequence the first of `count` messages read after log position `after` expects
        last (the k-th expects that plus k - 1). They must follow the stream's last event of this log
        (a relay that read past an event, or a stale one, sends nothing). Until their PubAcks say so,
        where the stream ends is not known."""
        end = self._stream_end
        if end is None:
            raise StreamEndUnknown("where the stream ends is not known: compare with it first")
        if end[1] != after:
            self._stream_end = None
            raise StreamEndUnknown(f"a batch read after log position {after} does not follow the stream's last "
                                   f"event of this log ({end[1]}): nothing sent, comparing with the stream")
        if count:
            self._stream_end = None
        return end[0]

    def _acknowledged(self, first: int, acks: list[Any], last: int) -> None:
        """Every PubAck of a batch sent expecting `first` came: the stream ends at its last message
        (the event at log position `last`), unless one was a duplicate (stored before, the stream's
        end not moved by it)."""
        if acks and acks[-1].seq == first + len(acks) and not any(a.duplicate for a in acks):
            self._stream_end = (acks[-1].seq, last)
        else:
            log.warning("relay %s: the PubAcks of a batch after stream sequence %s end at %s (duplicates among "
                        "them): comparing with the stream", self.spec.name, first, acks[-1].seq if acks else None)
            self._stream_end = None

    async def _refusals(self, batch: Any, futures: list[Any], error: BaseException) -> None:
        """Say which messages of `batch` the stream refused for their expected sequence (the stream
        did not end where the relay thought), once the PubAcks of the others came (or ack_timeout
        passed). A refused one with a later one of the batch stored is an event the stream lacks for
        good (see the module): an error naming its position, counted, and the relay unready."""
        if isinstance(error, asyncio.CancelledError) or not any(
                refused_order(f.exception()) for f in futures if f.done() and not f.cancelled()):
            return
        pending = [f for f in futures if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.ack_timeout)
        settled = [f.exception() if f.done() and not f.cancelled() else f for f in futures]
        refused = [k for k, e in enumerate(settled) if isinstance(e, BaseException) and refused_order(e)]
        log.warning("relay %s: %d of the batch after %s refused by the stream (%s)", self.spec.name,
                    len(refused), batch.after, settled[refused[0]])
        stored = [k for k, e in enumerate(settled) if e is None]
        passed = [k for k in refused if stored and k < stored[-1]]
        if not passed:
            return
        # Someone else's message took a refused one's place while the batch was pipelined, and the
        # next one of ours, expecting that place, was stored: not repaired (a consumer that checks
        # its producer's signature takes an event before one it applied for a replay: sent again out
        # of log order it would be dead-lettered as forged), so loud: an operator must look.
        positions = [Envelope.from_json(batch.messages[k][1]).sequence for k in passed]
        reason = (f"the stream lacks the events at log positions {positions}: refused while a later one of the "
                  f"batch was stored (a message published by someone else during the batch); an operator must "
                  f"publish them")
        log.error("relay %s: %s", self.spec.name, reason)
        self.health.lost_events(len(positions), reason)

    async def _past_foreign(self, seq: int) -> int:
        """The stream's end (at stream sequence `seq`) is not this log's: the record moves to the
        stream's last event of this log (one a relay of this log published), looking back past
        FOREIGN_DEPTH others at most (more: InvalidEnvelope, nothing is published until an operator
        looks). Every message of this log was stored right after its predecessor, so that event
        proves every one before it is on the stream (a record behind it would send again events
        stored already, each refused: see the module)."""
        own = await self._last_own_event(seq)
        recorded = await asyncio.to_thread(self.position)
        if own != recorded:
            self._drop_flight()
            log.warning("relay %s: the stream's last event of this log is at %s: continuing from there",
                        self.spec.name, own[0])
            await asyncio.to_thread(self._take, recorded, own)
        return own[0]

    def _take(self, recorded: tuple[int, str], at: tuple[int, str]) -> None:
        """Record `at` (an event of this log the stream holds), with the relay_chain rows of the
        events from the record up to it, rendered from the log as they were published."""
        chain: list[dict[str, Any]] = []
        position, chainhash = recorded
        while position < at[0]:  # at most as many events as positions: never past `at`
            envelopes, _, chainhash, _ = self._rendered_after(position, chainhash,
                                                              min(self.batch_size, at[0] - position))
            if not envelopes:
                break
            chain += chain_rows(self.spec.name, envelopes)
            position = envelopes[-1].sequence
        self._record(*at, chain=chain if (position, chainhash) == at else ())

    async def _a_copy(self, seq: int, position: int) -> bool:
        """The stream's last message (at stream sequence `seq`, the event at log `position`) is a
        copy put there again (someone replayed it): the message before it is of a later event."""
        if seq <= 1:
            return False
        try:
            return relay_envelope(await self.bus.js.get_msg(self.spec.name, seq - 1)).sequence >= position
        except (NotFoundError, InvalidEnvelope):
            return False

    async def _last_own_event(self, seq: int) -> tuple[int, str]:
        """(log position, chain hash) of the last event of this log on the stream before `seq`."""
        for _ in range(FOREIGN_DEPTH):
            seq -= 1
            if seq < 1:
                return 0, GENESIS
            try:
                envelope = relay_envelope(await self.bus.js.get_msg(self.spec.name, seq))
            except (NotFoundError, InvalidEnvelope):  # deleted, or not a relay's either
                continue
            if await asyncio.to_thread(self._holds, envelope.sequence, envelope.id):
                return envelope.sequence, envelope.chainhash
        raise InvalidEnvelope(f"none of the stream's last {FOREIGN_DEPTH} messages is an event of this log")

    def _holds(self, position: int, event_id: str | None) -> bool:
        """The log has this event at this position (the stream and the store tell one history)."""
        if position == 0:
            return True
        found = self.reader.read(position - 1, 1)
        return bool(found) and found[0].sequence == position and found[0].id == event_id
