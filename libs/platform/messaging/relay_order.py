"""The relay's order on the stream: no message may land before the one before it in the log, and
none may be missing between them.

Each relay batch is published as one JetStream atomic batch (ADR-50, nats-server 2.12+, the stream's
`allow_atomic`: messaging/bus.py ensure_stream): every message carries `Nats-Batch-Id` and
`Nats-Batch-Sequence` 1..n, the last `Nats-Batch-Commit: 1`; the server stages them and, at the
commit, stores them all or none. Only the commit is answered (a PubAck naming the batch and its
count), the others go as plain core publishes. The first message carries
`Nats-Expected-Last-Sequence`: the stream sequence the stream must end at, checked (under the
stream's lock; on a cluster by its leader, before it proposes the batch) when the batch commits. A
batch of one is a plain publish with that header. Measured on nats-server 2.15.1 (R1, file): a
message someone else stored between the batch's first message and its commit makes the whole batch
refused (err_code 10071, "wrong last sequence: <its last>"), nothing of it stored; more than 1,000
messages (the server's default jetstream.limits.batch.max_msgs; the relay's batch_size is held
under it; a server configured lower names its limit, and the relay takes it: _refused) refused
whole (10199); a batch not committed within 10 s is dropped (a late commit: 10176, incomplete);
`Nats-Expected-Last-Sequence` on any message but the first is refused (10164); a message whose
`Nats-Msg-Id` the stream holds, or that the batch holds twice, makes the batch refused (10201), not
acked as a duplicate; a batch begun while the stream stages 50 others has its first message refused
(10210, too many inflight; answered if the relay asks: publish_atomic), its commit as incomplete (10176); no byte limit
(1,000 messages of 900 KiB on R1, of 256 KiB on R3, stored whole); a stream leader's step-down
inside a batch: its commit unanswered (no responders), the batch not stored
(tests/fault/test_attack_relay_*.py, h-attack2). From the server's source (server/stream.go,
jetstream_batching.go): a batch with a gap (a message lost), or whose first messages the server
does not know (staged on a leader that since changed, or before a restart: a restarted server
finishes writing a batch it was committing and deletes the others), is refused at its commit as
incomplete (10176); at most 50 batches per stream are staged at once (the relay has one in flight).

So the old holes are closed. A NATS restart mid-batch (on a cluster: the loss of the client's node)
lost what nats-py had written to the socket while what it still buffered reached the server first:
those later messages now arrive with a gap in their batch and are refused with it
(tests/fault/test_relay_order.py, R1, and test_relay_order_cluster.py, R3). A message someone else
publishes while a batch is on its way takes the place the batch's first message expects: the whole
batch is refused (before atomic batches, the message expecting that place was refused and the next
one stored, and the stream lacked an event for good: test_attack_relay_foreign.py).

JetStream checks a batch's duplicates before its expected sequence, a plain publish's after it: a
re-send of a stored message is refused, but a batch of one whose id is the stream's last message's
is acked as a duplicate, and the relay compares with the stream (_acknowledged). The relay never
sends a stored message again. It need not: every batch was stored right after the stream's
end the relay knew, whole, so the stream's last event of this log proves every event before it is
there. After any failure (and at start, and after every reconnect) the relay compares with the
stream (messaging/relay.py reconcile): its record moves to the stream's last event of this log that
follows its predecessor of this log there as published (_last_in_place, _proves: a copy put back,
a staged batch message someone saw and published alone before the commit, or an altered copy
committed in the relay's batch by someone else proves nothing: test_attack_relay_batch_copy.py),
looking past at most FOREIGN_DEPTH messages that are not (a probe, a forged envelope, an event this
log does not hold), and its next batch expects the stream's last sequence as the stream says. A
refused batch is sent again after whatever is there. More than FOREIGN_DEPTH such messages at the
stream's end: the comparison fails and nothing is published, the relay unready with the reason
(LoopHealth), until an operator looks. A stream that stores a batch as single messages (its PubAck
names no batch: a server that ignores the headers) fails every round (NotAtomic), loud in /readyz.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from nats.js.errors import APIError, NotFoundError

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import GENESIS, Envelope, InvalidEnvelope, canonical
from libs.platform.messaging.relay_records import chain_rows
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.log import LogReader

EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
BATCH_ID, BATCH_SEQUENCE, BATCH_COMMIT = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"
ATOMIC_BATCH_MAX = 1000  # the server's default limit of messages in an atomic batch (jetstream.limits.batch)
BATCH_TOO_LARGE = 10199  # JetStream's err_code for a batch over its limit ("... too large: <limit>")
TOO_MANY_INFLIGHT = 10210  # ... for a batch begun while the stream stages as many as it may (50)
INCOMPLETE = 10176  # ... for a batch not held whole at its commit (dropped, a gap, its first refused)
log = logging.getLogger(__name__)
FLUSH_EVERY = 100  # a batch's messages after which the loop yields: the client writes only then (issue 15)
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


async def publish_atomic(bus: Bus, messages: list[tuple[str, bytes, dict[str, str]]], expected: int,
                         answered: bool = False) -> tuple[asyncio.Future[Any] | None, asyncio.Future[Any]]:
    """Publish `messages` (subject, body, headers) as one JetStream atomic batch whose first message expects
    the stream to end at sequence `expected`; returns the futures of the answer to its first message (if
    `answered`, after a refusal, RelayOrder._refused: empty when staged, else why, e.g. 10210, which the
    commit's "incomplete" does not say) and of its PubAck (the commit's). One message: a plain publish."""
    last = len(messages) - 1
    batch = {BATCH_ID: uuid.uuid4().hex} if last else {}
    publish, first = bus.client.publish, None
    for k, (subject, body, headers) in enumerate(messages):
        headers = {**headers, **batch, BATCH_SEQUENCE: str(k + 1)} if last else dict(headers)
        if k == 0:
            headers[EXPECTED_LAST_SEQUENCE] = str(expected)
        if k == last and last:
            headers[BATCH_COMMIT] = "1"
        bus.check_fits(body, headers)
        if k == last:
            return first, await bus.js.publish_async(subject, body, headers=headers)
        if k == 0 and answered:
            first = await bus.js.publish_async(subject, body, headers=headers)
        else:
            await publish(subject, body, headers=headers)
        if k % FLUSH_EVERY == FLUSH_EVERY - 1:  # else written whole once encoded, and staged only then
            await asyncio.sleep(0)  # the client's flusher writes what it holds: the server stages it meanwhile
    raise ValueError("no message to publish")


class BatchRefused(RuntimeError):
    """The stream refused a batch's first message, and so the batch (RelayOrder._refused)."""


def _first_refused(first: asyncio.Future[Any] | None) -> BatchRefused | None:
    """The refusal of a batch's first message, when its answer came and was one."""
    error = first.exception() if first is not None and first.done() and not first.cancelled() else None
    if not isinstance(error, APIError):
        return None
    what = "too many batches in flight on the server" if error.err_code == TOO_MANY_INFLIGHT else "its first refused"
    return BatchRefused(f"{what} (err_code {error.err_code}: {error.description})")


class NotAtomic(RuntimeError):
    """The stream did not take a batch as one (see RelayOrder._acknowledged)."""


class RelayOrder:
    """A mixin of `Relay` (messaging/relay.py): the stream sequence each batch expects last."""

    spec: StreamSpec
    bus: Bus
    reader: LogReader
    # Where the stream ends: its last sequence, and the log position of its last event of this log
    # there (None: not known, compare with the stream first). Set by reconcile() and by a batch's PubAck.
    _stream_end: tuple[int, int] | None = None
    _answered = False  # batches' first messages answered: after an "incomplete" refusal, until a PubAck

    if TYPE_CHECKING:  # Relay's and RelayRecords's
        def position(self) -> tuple[int, str]: ...

        def _record(self, position: int, chainhash: str, chain: Any = ()) -> None: ...

        def _rendered_after(self, position: int, chainhash: str,
                            limit: int | None = None) -> tuple[list[Envelope], list[bytes], str, int]: ...

        batch_size: int

        def _drop_flight(self) -> None: ...

    def _expecting(self, after: int, count: int) -> int:
        """The stream sequence the first of `count` messages read after log position `after` expects
        last (the batch's: its k-th is stored at that plus k). They must follow the stream's last event of this log
        (a relay that read past an event, or a stale one, sends nothing). Until their PubAck says so,
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

    def _acknowledged(self, first: int, ack: Any, count: int, last: int) -> None:
        """The PubAck of a batch of `count` sent expecting `first` came: the stream ends at its last
        message (the event at log position `last`). The round fails on a duplicate (nothing stored:
        the stream's message of that id may be an altered copy) and on a batch stored message by
        message (its PubAck names no batch: a server before 2.12, or one that ignores the headers)."""
        if count > 1 and ack.batch_size != count:
            self._stream_end = None
            raise NotAtomic(f"the stream stored a batch of {count} as single messages (PubAck {ack}): "
                            f"nats-server 2.12+ with allow_atomic is needed for the relay's order")
        self._answered = False
        if ack.seq != first + count or ack.duplicate:
            self._stream_end = None
            raise StreamEndUnknown(f"the PubAck of a batch after stream sequence {first} is {ack.seq} (a "
                                   "duplicate): nothing of it stored, comparing with the stream")
        self._stream_end = (ack.seq, last)

    def _refused(self, batch: Any, error: BaseException, first: asyncio.Future[Any] | None) -> BatchRefused | None:
        """The stream refused a batch (nothing of it stored): say why; the relay compares with the
        stream and sends it again after what is there. A server whose batches are smaller than the
        relay's makes the relay's smaller. A refusal of its first message (`first`) is returned: the cause."""
        cause = _first_refused(first)
        if not isinstance(error, APIError) and cause is None:
            return None
        log.warning("relay %s: the batch of %d after log position %s refused by the stream (%s): nothing of it "
                    "stored", self.spec.name, len(batch.messages), batch.after, cause or error)
        limit = re.fullmatch(r"atomic publish batch is too large: (\d+)", getattr(error, "description", "") or "")
        if isinstance(error, APIError) and error.err_code == BATCH_TOO_LARGE and limit:
            self.batch_size = min(self.batch_size, int(limit[1]))
        self._answered |= isinstance(error, APIError) and error.err_code == INCOMPLETE  # the next says why
        return cause

    async def _past_foreign(self, seq: int, last: Any = None) -> int:
        """The record moves to the stream's last event of this log in place (_last_in_place) before
        stream sequence `seq` (`last`: the message there, read already)."""
        own = await self._last_in_place(seq, last)
        recorded = await asyncio.to_thread(self.position)
        if own != recorded:
            self._drop_flight()
            log.warning("relay %s: recorded position %s, the stream's last event of this log in place is at %s: "
                        "continuing from there", self.spec.name, recorded[0], own[0])
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

    async def _last_in_place(self, seq: int, last: Any = None) -> tuple[int, str]:
        """(log position, chain hash) of the stream's last event of this log that follows its
        predecessor of this log on the stream (at stream sequence `seq` or before; `last`: the
        message at `seq`, read already): its chain hash chains from that one's (_proves; not its
        position: a log's positions have gaps on PostgreSQL, a save rolled back takes one, as seen
        under two writers: 6 then 8). Only such an event proves the ones before it: a copy put
        back after later events, or one of a staged batch's messages seen by a subscriber and
        published alone before the batch's commit (test_attack_relay_batch_copy.py), stands ahead of
        its predecessors, which may not be on the stream. Messages that are not this log's (a probe,
        a forged envelope, an event this log does not hold there) are looked past, FOREIGN_DEPTH at
        most (more: InvalidEnvelope, nothing is published until an operator looks). A deleted or
        expired message before an event: what was there is not known, the event is taken."""
        later: Envelope | None = None  # the last event of this log seen, its predecessor not yet
        for _ in range(FOREIGN_DEPTH + 2):  # the event, its predecessor and FOREIGN_DEPTH others
            if seq < 1:  # the stream's start: its first event of this log is in place if it chains from GENESIS
                first = later is not None and await self._proves(later, GENESIS)
                return (later.sequence, later.chainhash) if first and later is not None else (0, GENESIS)
            try:
                message = last if last is not None else await self.bus.js.get_msg(self.spec.name, seq)
                last = None
                envelope = relay_envelope(message)
            except NotFoundError:
                if later is not None and await self._proves(later, None):
                    return later.sequence, later.chainhash
                seq -= 1
                continue
            except InvalidEnvelope as e:
                log.error("relay %s: stream message %s is not an event of this log (%s)", self.spec.name, seq, e)
                seq -= 1
                continue
            seq -= 1
            if not await asyncio.to_thread(self._holds, envelope.sequence, envelope.id):
                log.error("relay %s: stream message %s is an event this log does not hold there (restored from an "
                          "older backup?); an operator must look", self.spec.name, seq + 1)
                continue
            if later is not None:
                if later.sequence > envelope.sequence and await self._proves(later, envelope.chainhash):
                    return later.sequence, later.chainhash
                log.error("relay %s: event %s on the stream follows event %s, not as published after it (a copy put "
                          "there again? altered?): looking past it", self.spec.name, later.sequence, envelope.sequence)
            later = envelope
        raise InvalidEnvelope(f"none of the stream's last {FOREIGN_DEPTH} messages is an event of this log "
                              "that follows its predecessor")

    async def _proves(self, envelope: Envelope, previous: str | None) -> bool:
        """The stream's `envelope` is its event as published: its fact is the log's event rendered at
        the version it carries (what bus and store agree on, cloudevents.Envelope.fact), and its chain
        hash follows `previous` (None: not known). An altered copy with the event's id, position and
        chain hash (test_attack_relay_batch_copy.py) proves nothing."""
        if previous is not None and envelope.chained(previous).chainhash != envelope.chainhash:
            return False
        try:
            logged = await asyncio.to_thread(self.reader.read_at, envelope.sequence, envelope.version)
        except (ValueError, IndexError, StopIteration):  # a type without a version; no such event
            return False
        return canonical(logged.fact()) == canonical(envelope.fact())

    def _holds(self, position: int, event_id: str | None) -> bool:
        """The log has this event at this position (the stream and the store tell one history)."""
        if position == 0:
            return True
        found = self.reader.read(position - 1, 1)
        return bool(found) and found[0].sequence == position and found[0].id == event_id
