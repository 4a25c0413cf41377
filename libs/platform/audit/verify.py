"""Verifying a service's log as an auditor would: from its audit API, and against its stream.

Checks, each reporting the first bad sequence number where it can be located:
- no stored event is missing: each leaf of the tree has its event (a deleted event is missing;
  a notification id that was never used, as PostgreSQL skips those of rolled-back inserts, is not);
- every stored event still hashes to the leaf recorded when it joined the tree (an edit, or two
  events whose contents were swapped, change their leaves);
- every checkpoint's Ed25519 signature, its root over the recomputed leaves, and consistency
  between consecutive checkpoints (RFC 9162 proofs from the service);
- each v2 checkpoint's signed chain head against the chain over the service's log as it renders
  it now (its CloudEvents): the leaves bind the stored bytes, the head binds what was published,
  so a changed decoding (an upcaster, a codec, a tenant lookup) or a log the service serves
  differently from what it signed fails here, located between two checkpoints. The service serves
  each event as it was published (at the type version of its message), so an upgrade that bumps
  an event's version is no change;
- the bus copy equals the store (same CloudEvents, a continuous hash chain); a message of an older
  type version than the store's rendering (a service that renders upcast) is compared upcast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from libs.platform.audit import merkle
from libs.platform.audit.leaves import leaf_of
from libs.platform.audit.log import verify_signature
from libs.platform.http import tls
from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.privacy.records import current_data


@dataclass
class Report:
    service: str
    events: int = 0
    checkpoints: int = 0
    bus_messages: int | None = None
    problems: list[str] = field(default_factory=list)
    first_bad_sequence: int | None = None
    notes: list[str] = field(default_factory=list)  # what was not (or only weakly) checked

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, sequence: int | None, problem: str) -> None:
        self.problems.append(problem)
        if sequence is not None and (self.first_bad_sequence is None or sequence < self.first_bad_sequence):
            self.first_bad_sequence = sequence


def verify_store(service: str, records: list[dict], checkpoints: list[dict], public_key: str,
                 consistency: Any = None) -> Report:
    report = Report(service, events=len(records), checkpoints=len(checkpoints))
    leaves = []  # notification ids may skip numbers (PostgreSQL); leaves are the events in order
    for record in records:
        if record.get("missing"):
            report.bad(record["sequence"], f"event {record['sequence']} is missing from the store")
            leaves.append(bytes.fromhex(record["leaf_hash"]))
            continue
        leaf = leaf_of(record)
        if record.get("leaf_hash") and record["leaf_hash"] != leaf.hex():
            report.bad(record["sequence"], f"event {record['sequence']} no longer hashes to its recorded leaf")
        leaves.append(leaf)
    previous = None
    for cp in checkpoints:
        size = cp["tree_size"]
        if not verify_signature(public_key, service, cp):
            report.bad(None, f"checkpoint {size}: the signature does not verify")
        if size > len(leaves):  # the next event after the last one held is missing (sequences may skip)
            report.bad(records[-1]["sequence"] + 1 if records else 1,
                       f"checkpoint {size}: the store holds only {len(leaves)} events")
        elif merkle.root(leaves[:size]).hex() != cp["root_hash"]:
            report.bad(None, f"checkpoint {size}: the recomputed root differs from the signed one")
        if previous is not None and consistency is not None and previous["tree_size"] < size:
            proof = consistency(previous["tree_size"], size)
            if not merkle.verify_consistency(previous["tree_size"], size, bytes.fromhex(previous["root_hash"]),
                                             bytes.fromhex(cp["root_hash"]), [bytes.fromhex(p) for p in proof]):
                report.bad(None, f"checkpoints {previous['tree_size']} → {size} are not consistent")
        previous = cp
    return report


def check_chain_heads(report: Report, store: list[Envelope], checkpoints: list[dict]) -> None:
    """Only the first differing head is reported: the chain carries a difference to every later one."""
    heads, chain = [], GENESIS
    for envelope in store:
        chain = envelope.chained(chain).chainhash
        heads.append(chain)
    previous = 0
    for cp in checkpoints:
        size, signed = cp["tree_size"], cp.get("chainhash")
        if signed is None:
            continue  # v1: no head signed (the notes say so)
        since = f"after sequence {store[previous - 1].sequence}" if previous else "from the start"
        if size > len(heads):
            report.bad(None, f"checkpoint {size}: the service renders only {len(heads)} events, "
                             "so its signed chain head cannot be checked")
            return
        if heads[size - 1] != signed:
            report.bad(None, f"checkpoint {size}: the signed chain head differs from the store's: an event {since}, "
                             f"up to sequence {store[size - 1].sequence}, is not the one that was signed")
            return
        previous = size


def compare_bus(report: Report, store: list[Envelope], bus: list[Envelope]) -> None:
    """The published copy must equal the stored log, and its hash chain must be unbroken."""
    report.bus_messages = len(bus)
    chain = GENESIS
    by_sequence = {e.sequence: e for e in store}
    for envelope in bus:
        if envelope.chained(chain).chainhash != envelope.chainhash:
            report.bad(envelope.sequence, f"bus message {envelope.sequence} breaks the hash chain")
        chain = envelope.chainhash
        stored = by_sequence.get(envelope.sequence)
        if stored is None or _unchained(stored) != _unchained(_upcast(envelope, stored)):
            report.bad(envelope.sequence, f"bus message {envelope.sequence} differs from the stored event")


def _unchained(envelope: Envelope) -> dict[str, Any]:
    return envelope.fact()  # the trace context is the publish span's, not the store's


def _upcast(published: Envelope, stored: Envelope) -> Envelope:
    """A message published before its type got a newer version, upcast with the contract's own
    upcasters to the stored event's version; every other field must still be equal as sent (the
    leafhash binds the stored bytes, which an upgrade does not change)."""
    if published.type.rsplit(".v", 1)[0] != stored.type.rsplit(".v", 1)[0] or published.version >= stored.version:
        return published
    data = current_data(published.type, published.data)
    return Envelope(**{**published.to_dict(), "type": stored.type, "data": data})


class AuditClient:
    """Reads a service's audit API with an auditor's token."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60, verify=tls())

    def _pages(self, path: str, progress: Callable[[int], None] | None = None, **params: int) -> list[dict]:
        rows, after = [], 0
        while True:
            body = self.http.get(path, params={**params, "after": after}).raise_for_status().json()
            rows += body["data"]
            if progress is not None:
                progress(len(rows))
            if body["next_after"] is None:
                return rows
            after = body["next_after"]

    def verify(self, bus: list[Envelope] | None = None,
               progress: Callable[[int, int | None], None] | None = None) -> Report:
        """`progress(done, total)`: the stored records and then the events read so far, of about
        twice the latest checkpoint's size (libs/platform/tools/progress.py)."""
        cps = self.http.get("/v1/audit/checkpoints").raise_for_status().json()
        size = cps["data"][-1]["tree_size"] if cps["data"] else None

        def counted(offset: int) -> Callable[[int], None] | None:
            if progress is None:
                return None
            return lambda done: progress(offset + done, None if size is None else max(2 * size, offset + done))

        records = self._pages("/v1/audit/records", counted(0))
        report = verify_store(cps["service"], records, cps["data"], cps["public_key"], self._consistency)
        if any(cp.get("chainhash") is None for cp in cps["data"]):
            report.notes.append("v1 checkpoints sign no chain head: the published form is checked only from v2 on")
        try:
            store = [Envelope(**e) for e in self._pages("/v1/audit/events", counted(len(records)), limit=1000)]
        except httpx.HTTPStatusError as e:
            report.bad(None, f"the service cannot decode its own log ({e.response.status_code}): "
                             "the signed chain heads cannot be checked")
            store = None
        if store is not None:
            check_chain_heads(report, store, cps["data"])
        if bus is not None:
            compare_bus(report, store or [], bus)
        return report

    def _consistency(self, first: int, second: int) -> list[str]:
        body = self.http.get("/v1/audit/proofs/consistency", params={"from": first, "to": second})
        return body.raise_for_status().json()["proof"]
