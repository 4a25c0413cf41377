"""The tamper-evident log of a service: an RFC 9162 Merkle tree over its stored events and signed
checkpoints (Ed25519) of (tree size, root hash, chain head, time).

Leaves are the stored form (already PII-sealed): destroying a person's key never changes a leaf,
so erasure never breaks verification. The bus carries the CloudEvents, not the stored form, so a
checkpoint also signs the head of the CloudEvents hash chain after its last event (v2): a witness
holding only the stream can then check every published message's content against a signature,
not only against an unkeyed chain that whoever rewrites the stream could recompute.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
)

from libs.platform.audit import merkle
from libs.platform.audit.leaves import leaf_of, record_of
from libs.platform.messaging.cloudevents import GENESIS
from libs.platform.messaging.signing import CHECKPOINT, signed_message, verify_with
from libs.platform.store.log import LogReader

log = logging.getLogger(__name__)
metadata = MetaData()
leaves = Table(  # leaf i of the tree is the i-th stored event; its notification id may skip numbers
    "audit_leaves", metadata,  # (PostgreSQL spends an id on every failed insert, e.g. a 409)
    Column("sequence", BigInteger, primary_key=True),
    Column("leaf_index", BigInteger, nullable=False, unique=True),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)
checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("tree_size", BigInteger, primary_key=True),
    Column("root_hash", String(64), nullable=False),
    Column("made_at", String(40), nullable=False),
    Column("signature", String(128), nullable=False),
)
chain_heads = Table(  # the CloudEvents chain hash after the last event of a checkpoint (v2)
    "audit_chain_heads", metadata,
    Column("tree_size", BigInteger, primary_key=True),
    Column("chainhash", String(64), nullable=False),
)


def signed_text(service: str, tree_size: int, root_hex: str, made_at: str, chainhash: str | None = None) -> bytes:
    if chainhash is None:  # v1: checkpoints made before chain heads were signed
        return f"tsunagu-checkpoint/v1\n{service}\n{tree_size}\n{root_hex}\n{made_at}\n".encode()
    return f"tsunagu-checkpoint/v2\n{service}\n{tree_size}\n{root_hex}\n{chainhash}\n{made_at}\n".encode()


def verify_signature(public_key_hex: str, service: str, cp: dict[str, Any]) -> bool:
    """A v2 checkpoint stripped of its chain head no longer verifies as v1: no downgrade. Signed
    with the checkpoint context (messaging/signing.py), or bare when made before contexts."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        text = signed_text(service, cp["tree_size"], cp["root_hash"], cp["made_at"], cp.get("chainhash"))
        return verify_with([key], bytes.fromhex(cp["signature"]), CHECKPOINT, text)
    except Exception:  # noqa: BLE001 - any failure is a bad signature
        return False


class AuditLog:
    def __init__(self, service: str, application: Any, engine: Engine, key_hex: str, relay: Any = None) -> None:
        self.service = service
        # The relay knows what it published; without one (a log never published) the log as it
        # renders now is what a relay would publish.
        self.relay = relay
        self.app = application
        self.engine = engine
        self._key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_hex)[:32])
        # The checkpoint task and auditors' requests extend the tree from several threads: one at a
        # time (a second process would lose on the primary key and simply retry).
        self._lock = threading.RLock()
        self.reader = LogReader(service, application)
        metadata.create_all(engine)
        # The largest kept checkpoint, so the publishing task sees a new one without a query.
        self.latest_size = (self.checkpoints()[-1:] or [{"tree_size": 0}])[0]["tree_size"]

    @property
    def public_key_hex(self) -> str:
        return self._key.public_key().public_bytes_raw().hex()

    def sign(self, context: bytes, payload: bytes) -> bytes:
        """A signature of this kind (messaging/signing.py: CHECKPOINT, RECEIPT) over the payload."""
        return self._key.sign(signed_message(context, payload))

    def records(self, after: int, limit: int) -> list[dict[str, Any]]:
        return [record_of(n) for n in
                self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)]

    def records_with_leaves(self, after: int, limit: int) -> list[dict[str, Any]]:
        """The tree's leaves after a notification id, each with its stored record as it is now (or
        `missing` when the event is gone) and the leaf hash recorded when it joined the tree."""
        self.extend()
        with self.engine.connect() as conn:
            rows = conn.execute(select(leaves).where(leaves.c.sequence > after)
                                .order_by(leaves.c.leaf_index).limit(limit)).all()
        if not rows:
            return []
        stored = {r["sequence"]: r for r in self.records(after, rows[-1].sequence - after)}
        return [{**(stored.get(r.sequence) or {"sequence": r.sequence, "missing": True}),
                 "leaf_index": r.leaf_index, "leaf_hash": bytes(r.leaf_hash).hex()} for r in rows]

    def extend(self) -> int:
        """Add the leaves of events recorded since the last call; returns the tree size."""
        with self._lock:
            return self._extend()

    def _extend(self) -> int:
        with self.engine.connect() as conn:
            last, size = conn.execute(select(func.coalesce(func.max(leaves.c.sequence), 0), func.count())
                                      .select_from(leaves)).one()
        while True:
            batch = self.records(last, 1000)
            if not batch:
                return size
            with self.engine.begin() as conn:
                conn.execute(leaves.insert(), [{"sequence": r["sequence"], "leaf_index": size + i,
                                                "leaf_hash": leaf_of(r)} for i, r in enumerate(batch)])
            last, size = batch[-1]["sequence"], size + len(batch)

    def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        query = select(leaves.c.leaf_hash).order_by(leaves.c.leaf_index)
        if size is not None:
            query = query.where(leaves.c.leaf_index < size)
        with self.engine.connect() as conn:
            return [bytes(r.leaf_hash) for r in conn.execute(query)]

    def leaf_index_of(self, sequence: int) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(leaves.c.leaf_index).where(leaves.c.sequence == sequence)).scalar()

    def checkpoint(self) -> dict[str, Any]:
        """Sign the current tree (or return the latest checkpoint when the tree did not grow)."""
        with self._lock:
            return self._checkpoint()

    def _checkpoint(self) -> dict[str, Any]:
        size = self._extend()
        latest = self.checkpoints()[-1:]
        if latest and latest[0]["tree_size"] == size:
            return latest[0]
        root_hex = merkle.root(self.leaf_hashes(size)).hex()
        chainhash = self._chain_head(size)
        made_at = datetime.now(UTC).isoformat()
        signature = self.sign(CHECKPOINT, signed_text(self.service, size, root_hex, made_at, chainhash)).hex()
        row = {"tree_size": size, "root_hash": root_hex, "made_at": made_at, "signature": signature}
        if size == 0:
            return {**row, "chainhash": chainhash}  # nothing to witness yet: signed, not kept
        with self.engine.begin() as conn:
            conn.execute(checkpoints.insert().values(**row))
            if chainhash is not None:
                conn.execute(chain_heads.insert().values(tree_size=size, chainhash=chainhash))
        self.latest_size = size
        return {**row, "chainhash": chainhash}

    def _chain_head(self, size: int) -> str | None:
        """The chain hash the relay gives the size-th event, continued from the last signed head:
        the hash the relay recorded for a published event (what the bus holds, even after an
        upgrade changed how the event renders now), else the chain over the log as published.
        None (a v1 checkpoint) when a stored event no longer decodes: the tree, which needs only
        the stored bytes, is still signed, and verifiers report the missing head."""
        with self.engine.connect() as conn:
            start, chain = conn.execute(select(chain_heads.c.tree_size, chain_heads.c.chainhash)
                                        .where(chain_heads.c.tree_size <= size)
                                        .order_by(chain_heads.c.tree_size.desc()).limit(1)).first() or (0, GENESIS)
            after = conn.execute(select(leaves.c.sequence).where(leaves.c.leaf_index == start - 1)).scalar() or 0
        try:
            remaining = size - start
            while remaining:
                batch = (self.relay.published if self.relay else self.reader.read)(after, min(remaining, 500))
                if not batch:
                    return None  # events of the tree are gone from the store
                recorded = self.relay.published_rows(batch[0].sequence, batch[-1].sequence) if self.relay else {}
                for envelope in batch:
                    row = recorded.get(envelope.sequence)
                    chain = row.chainhash if row is not None else envelope.chained(chain).chainhash
                after, remaining = batch[-1].sequence, remaining - len(batch)
        except Exception as e:  # noqa: BLE001 - undecodable stored event: sign the tree alone
            log.error("audit %s: no chain head for tree size %d (%s: %s)", self.service, size, type(e).__name__, e)
            return None
        return chain

    def checkpoints(self, after: int = 0) -> list[dict[str, Any]]:
        """The kept checkpoints larger than `after`, oldest first; `chainhash` None on a v1 one."""
        query = (select(checkpoints, chain_heads.c.chainhash)
                 .select_from(checkpoints.outerjoin(chain_heads, chain_heads.c.tree_size == checkpoints.c.tree_size))
                 .where(checkpoints.c.tree_size > after).order_by(checkpoints.c.tree_size))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
