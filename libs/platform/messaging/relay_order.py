"""The relay's order on the stream: no message may land before the one before it in the log.
(On a stream of one replica only: on R3 the header diverged the replicas, see _check_replicas.)

Every relay publish carries `Nats-Expected-Last-Msg-Id`, the `Nats-Msg-Id` (event id) of the event
before it in the log, and JetStream refuses (err_code 10070, "wrong last msg ID: <its last id>") a
message whose predecessor is not the stream's last. Without it a NATS restart mid-batch lost what
nats-py had written to the socket while what it still buffered reached the new server first: the
later events of the batch were stored, the earlier ones re-sent after them, the stream out of log
order (tests/fault/test_relay_order.py). With it those later messages are refused and the relay
sends again from its record. JetStream checks the duplicate (`Nats-Msg-Id`) BEFORE the expected
last id, so a re-send of a stored message is still acked as a duplicate (nats-server 2.15.1, and
stream.go processJetStreamMsg; `Nats-Expected-Last-Sequence` is checked before the duplicate and
would refuse every re-send).

The server's idea of its last id can differ from the stream's last relay message: after a restart
it rebuilds it only from messages inside the duplicate window (stream.go rebuildDedupe, 2.14: a
relay idle longer than 10 minutes would then be refused forever; 2.15.1 kept it in our trials),
and a message published by someone else (a forged or probe message, which a consumer dead-letters;
an event this log does not hold, the store restored from an older backup) makes its id, or none,
the last. After a refusal the relay compares with the stream again (reconcile) and, when the
stream's last message of this log (past at most FOREIGN_DEPTH others) is the very event its next
batch follows, sends that batch's first message without the header: nothing precedes it in that
send, and its predecessor is stored. Its followers carry the header as usual. Any other refusal
takes the usual failure path (compare, send again from the record); a relay refused round after
round is unready, the refusal named (LoopHealth).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from nats.js.errors import APIError, NotFoundError

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import GENESIS, Envelope, InvalidEnvelope
from libs.platform.messaging.relay_records import chain_rows
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.log import LogReader

EXPECTED_LAST = "Nats-Expected-Last-Msg-Id"
WRONG_LAST_MSG_ID = 10070  # JetStream's err_code for a refused Nats-Expected-Last-Msg-Id
log = logging.getLogger(__name__)
FOREIGN_DEPTH = 100  # messages not a relay's looked past at the stream's end; more: an operator must look


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
    return isinstance(error, APIError) and error.err_code == WRONG_LAST_MSG_ID


class RelayOrder:
    """A mixin of `Relay` (messaging/relay.py): which id each batch's first message expects."""

    spec: StreamSpec
    bus: Bus
    reader: LogReader
    # (position, event id) of the last event this relay sent or found at the stream's end: the id the
    # first message of a batch read after that position expects (None: ask the log).
    _tail: tuple[int, str] | None = None
    # The log position of the stream's last relay message as last compared (None: not known).
    _stream_last: int | None = None
    # A publish was refused for its expected last id since the last batch fully acknowledged.
    _refused = False
    # Publishes carry the header: only on a stream of one replica (see _check_replicas).
    ordered = True

    if TYPE_CHECKING:  # Relay's and RelayRecords's
        def position(self) -> tuple[int, str]: ...

        def _record(self, position: int, chainhash: str, chain: Any = ()) -> None: ...

        def _rendered_after(self, position: int, chainhash: str,
                            limit: int | None = None) -> tuple[list[Envelope], list[bytes], str, int]: ...

        batch_size: int

        def _drop_flight(self) -> None: ...

    async def _check_replicas(self) -> None:
        """Not on a replicated stream: a replica that caught up from the leader after a restart
        keeps a stale last msg id (nats-server stream processCatchupMsg updates the duplicate map,
        not lmsgId), refuses at apply the next message carrying the header while the other replicas
        store it, and the replicas diverge (the soak's R3 phase: a consumer led from that node
        stuck at "DISPATCH 32 of 35", 3 runs of 3; without the header 1 of 1 passed). There the
        overtaking inside a batch stays possible (tests/fault/test_relay_order.py runs R1)."""
        info = await self.bus.js.stream_info(self.spec.name)
        self.ordered = (info.config.num_replicas or 1) == 1
        if not self.ordered:
            log.warning("relay %s: stream of %s replicas: publishing without Nats-Expected-Last-Msg-Id",
                        self.spec.name, info.config.num_replicas)

    async def _expected_before(self, after: int) -> str | None:
        """The id the first message of a batch read after `after` expects last on the stream; None
        sends it without the header: the log's first event, or after a refusal when the stream's
        last relay message is its predecessor (see the module)."""
        if after == 0 or (self._refused and self._stream_last == after):
            return None
        tail = self._tail
        if tail is not None and tail[0] == after:
            return tail[1]
        return await asyncio.to_thread(self._event_id_at, after)

    def _event_id_at(self, position: int) -> str:
        found = self.reader.read(position - 1, 1)
        if not found or found[0].sequence != position:
            raise LookupError(f"no event at log position {position}")
        return found[0].id

    async def _past_foreign(self, seq: int) -> None:
        """The stream's end (at stream sequence `seq`) is not this log's: note where its last message
        that is (one a relay of this log published) stands, looking back past FOREIGN_DEPTH others
        at most (more: none noted, the relay stays refused and unready until an operator looks).
        With the header every message of this log was stored right after its predecessor, so that
        event proves every one before it is on the stream: the record moves to it (a record behind
        it would send again events stored already, refused once outside the duplicate window or
        after the foreign message, for good), and the next batch follows it."""
        try:
            own = await self._last_own_event(seq)
        except InvalidEnvelope as e:
            log.error("relay %s: %s", self.spec.name, e)
            return
        self._stream_last = own[0]
        recorded = await asyncio.to_thread(self.position)
        if self.ordered and own != recorded:
            self._drop_flight()
            log.warning("relay %s: the stream's last event of this log is at %s: continuing from there",
                        self.spec.name, own[0])
            await asyncio.to_thread(self._take, recorded, own)

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
