"""Verifying a service's log from the bus alone, as a witness without the audit API would:
its JetStream stream and its signed checkpoints in AUDIT (`tsunagu audit verify --nats --stream`).

The Merkle leaves are over the stored (sealed) form, which is not on the bus: each message
carries its leaf hash (`leafhash`), and the root over the leaf hashes in sequence order must be
the signed root. A leaf hash says nothing about the message's content; the content is bound by
the hash chain, whose head after a checkpoint's last event a v2 checkpoint signs. So:
- the stream is in sequence order, each sequence once (identical re-sends are dropped);
- each message's chainhash follows from the previous one (a break names its sequence; when
  sequences skip just before it, the first skipped one, as a message is then missing);
- every checkpoint's Ed25519 signature, with a pinned key or the one the checkpoints name;
- each checkpoint's root against the root over the first tree_size leaf hashes, and each v2
  checkpoint's chain head against the chainhash of the tree_size-th message: a stream rewritten
  with a recomputed chain fails here (located between two checkpoints only);
- checkpoints are consistent: all are prefixes of one leaf list, no two differ at one size, and
  a larger tree was not signed earlier.
Not checkable from the bus: that a leaf hash is the hash of the stored event (`--url` does it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from libs.platform.audit import merkle
from libs.platform.audit.log import verify_signature
from libs.platform.audit.verify import Report
from libs.platform.audit.witness import read_checkpoints
from libs.platform.messaging.cloudevents import GENESIS, Envelope, InvalidEnvelope
from libs.platform.messaging.replay import read_stream


async def verify_from_bus(nats_url: str, stream: str, service: str, public_key: str | None = None,
                          progress: Callable[[int, int | None], None] | None = None) -> Report:
    """Read the service's stream and its checkpoints in AUDIT, then verify_stream."""
    envelopes, unreadable = [], 0
    for raw in await read_stream(nats_url, stream, progress=progress):
        try:
            envelopes.append(Envelope.from_json(raw))
        except InvalidEnvelope:
            unreadable += 1
    report = verify_stream(service, envelopes, await read_checkpoints(nats_url, service), public_key)
    if unreadable:
        report.bad(None, f"{unreadable} messages of {stream} are not Tsunagu CloudEvents")
    return report


def verify_stream(service: str, envelopes: list[Envelope], checkpoints: list[dict[str, Any]],
                  public_key: str | None = None) -> Report:
    """`envelopes` in stream order, `checkpoints` as read from AUDIT (repeats allowed)."""
    report = Report(service, checkpoints=0, bus_messages=len(envelopes))
    log = _in_order(report, service, envelopes)
    report.events = len(log)
    _check_chain(report, log)
    cps = _distinct(report, checkpoints)
    report.checkpoints = len(cps)
    key = _key(report, cps, public_key)
    leaves = _leaves(report, log)
    previous = None
    for cp in cps:
        size = cp["tree_size"]
        if key is not None and not verify_signature(key, service, cp):
            report.bad(None, f"checkpoint {size}: the signature does not verify")
        if previous is not None and cp["made_at"] < previous["made_at"]:
            report.bad(None, f"checkpoint {size} was signed before the smaller checkpoint {previous['tree_size']}")
        since = (f"after sequence {log[previous['tree_size'] - 1].sequence}"
                 if previous and previous["tree_size"] <= len(log) else "from the start")
        if size > len(log):
            report.bad(log[-1].sequence + 1 if log else 1,
                       f"checkpoint {size}: the stream holds only {len(log)} events")
        else:
            if leaves is not None and merkle.root(leaves[:size]).hex() != cp["root_hash"]:
                report.bad(None,
                           f"checkpoint {size}: the root over the published leaf hashes differs from the signed one "
                           f"(a leaf {since}, up to sequence {log[size - 1].sequence}, is wrong)")
            if cp.get("chainhash") is not None and log[size - 1].chainhash != cp["chainhash"]:
                report.bad(None,
                           f"checkpoint {size}: the signed chain head differs from the stream's: a message {since}, "
                           f"up to sequence {log[size - 1].sequence}, is not the one that was signed")
        previous = cp
    covered = cps[-1]["tree_size"] if cps else 0
    if log and not cps:
        report.bad(None, "no signed checkpoint of the service: nothing on the stream is vouched for")
    elif len(log) > covered:
        report.notes.append(f"{len(log) - covered} events after sequence {log[covered - 1].sequence} "
                            "are not covered by a checkpoint yet")
    if any(cp.get("chainhash") is None for cp in cps):
        report.notes.append("v1 checkpoints sign no chain head: "
                            "between them, content is bound only by the unkeyed chain")
    report.notes.append("not checkable from the bus: that each leafhash is the hash of the stored event (use --url)")
    return report


def _in_order(report: Report, service: str, envelopes: list[Envelope]) -> list[Envelope]:
    """The messages by sequence, each once; out-of-order, conflicting or foreign ones reported."""
    by_sequence: dict[int, Envelope] = {}
    highest = 0
    for e in envelopes:
        if e.source != f"/tsunagu/{service}":
            report.bad(e.sequence, f"message {e.sequence} is from {e.source}, not /tsunagu/{service}")
        seen = by_sequence.get(e.sequence)
        if seen is not None:
            if seen != e:
                report.bad(e.sequence, f"the stream holds two different messages for sequence {e.sequence}")
            continue  # a relay's re-send after the duplicate window: the same message again
        if e.sequence < highest:
            report.bad(e.sequence, f"message {e.sequence} comes after {highest} on the stream")
        highest = max(highest, e.sequence)
        by_sequence[e.sequence] = e
    return [by_sequence[s] for s in sorted(by_sequence)]


def _check_chain(report: Report, log: list[Envelope]) -> None:
    chain, last = GENESIS, 0
    for e in log:
        if e.chained(chain).chainhash != e.chainhash:
            if e.sequence > last + 1:  # sequences may skip (PostgreSQL spends ids): missing or altered
                report.bad(last + 1, f"the chain breaks at message {e.sequence}: a message after {last} is missing, "
                                     f"or {e.sequence} was altered")
            else:
                report.bad(e.sequence, f"message {e.sequence} breaks the hash chain (altered)")
        chain, last = e.chainhash, e.sequence


def _distinct(report: Report, checkpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    signed = ("tree_size", "root_hash", "chainhash", "made_at", "signature")
    by_size: dict[int, dict[str, Any]] = {}
    for cp in checkpoints:
        seen = by_size.setdefault(cp["tree_size"], cp)
        if any(seen.get(k) != cp.get(k) for k in signed):
            report.bad(None, f"two different checkpoints of tree size {cp['tree_size']} (a split view)")
    return [by_size[s] for s in sorted(by_size)]


def _key(report: Report, cps: list[dict[str, Any]], pinned: str | None) -> str | None:
    named = {cp["public_key"] for cp in cps if cp.get("public_key") is not None}
    if pinned is not None:
        return pinned
    if len(named) > 1:
        report.bad(None, f"the checkpoints name {len(named)} different signing keys")
    if named:
        report.notes.append("signatures checked with the key the checkpoints name: pin it with --public-key")
    return next(iter(sorted(named)), None)


def _leaves(report: Report, log: list[Envelope]) -> list[bytes] | None:
    unleaved = [e.sequence for e in log if not e.leafhash]
    if unleaved:
        report.bad(unleaved[0], f"{len(unleaved)} messages carry no leafhash (first: {unleaved[0]}): "
                                "the tree cannot be rebuilt from the bus")
        return None
    return [bytes.fromhex(e.leafhash) for e in log]
