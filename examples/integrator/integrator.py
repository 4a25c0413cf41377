"""An example integrator: follows Tsunagu's INTAKE stream with its own durable consumer and keeps
its own table of consultations per centre and fiscal year. It applies only what intake signed:
each message's Ed25519 signature (header `Tsunagu-Signature`) is checked against intake's public
key, given here and never learnt from the bus (`tsunagu keys public` prints it as
INTAKE_PUBLIC_KEY; after a rotation of intake's signing key, give the old keys too, comma-separated).
A message that fails is not applied: it is kept in the table `rejected` and terminated.

Deliberately independent of Tsunagu's code: it needs only nats-py, cryptography and the standard
library, and reads the CloudEvents as documented in openapi/asyncapi.yaml.

    python examples/integrator/integrator.py --nats nats://127.0.0.1:4222 --db integrator.db \
        --public-key <INTAKE_PUBLIC_KEY>

The durable consumer `integrator-intake` lives on the NATS server, not in the database: it
remembers what it delivered to *any* earlier run. A new database (or one emptied) therefore gets
only what comes next; `--from-start` deletes the durable first, so the stream is read again from
its first message (the `seen` table makes events already applied harmless).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

import nats
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

JST = timezone(timedelta(hours=9))
DURABLE = "integrator-intake"  # integrators name their durables integrator-<stream>
SIGNATURE_HEADER = "Tsunagu-Signature"
# What an event's signature covers before the message body (domain separation: the same key signs
# audit checkpoints and consent receipts under other contexts, which never verify as events).
EVENT_CONTEXT = b"tsunagu/event/v1\0"


def public_keys(hex_keys: str) -> list[Ed25519PublicKey]:
    """The producer's public keys, comma-separated hex (the current one, then older ones)."""
    return [Ed25519PublicKey.from_public_bytes(bytes.fromhex(k.strip())) for k in hex_keys.split(",") if k.strip()]


def signed_by(keys: list[Ed25519PublicKey], body: bytes, headers: dict | None) -> bool:
    """Whether the producer signed this message: `ed25519:` + unpadded base64url of the signature
    of EVENT_CONTEXT + body; messages published before that context were signed over the body
    alone, which is accepted only for a body that is a CloudEvent (never a checkpoint's text)."""
    header = (headers or {}).get(SIGNATURE_HEADER, "")
    if not header.startswith("ed25519:"):
        return False
    try:
        signature = base64.urlsafe_b64decode(header[len("ed25519:"):] + "=" * (-len(header) % 4))
    except ValueError:
        return False
    messages = [EVENT_CONTEXT + body]
    try:
        if isinstance(document := json.loads(body), dict) and "specversion" in document:
            messages.append(body)
    except ValueError:
        pass
    for key in keys:
        for message in messages:
            try:
                key.verify(signature, message)
                return True
            except (InvalidSignature, ValueError):
                continue
    return False


def inbox_prefix(url: str) -> str:
    """Replies to user U come on `_INBOX.U.…`: the only inbox Tsunagu's NATS lets U read."""
    from urllib.parse import urlsplit

    user = urlsplit(url.split(",")[0].strip()).username
    return f"_INBOX.{user}" if user else "_INBOX"


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS consultations (
            centre_id TEXT, fy INTEGER, n INTEGER, PRIMARY KEY (centre_id, fy));
        CREATE TABLE IF NOT EXISTS rejected (stream_sequence INTEGER PRIMARY KEY, subject TEXT);
    """)
    return db


def fiscal_year(iso: str) -> int:
    """April–March in Japan time."""
    day = datetime.fromisoformat(iso).astimezone(JST)
    return day.year if day.month >= 4 else day.year - 1


def apply(db: sqlite3.Connection, event: dict) -> None:
    """One CloudEvent, once: the event id makes a redelivery or a re-publish harmless."""
    with db:  # one transaction: the effect and the id together
        if db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event["id"],)).fetchone():
            return
        db.execute("INSERT INTO seen VALUES (?)", (event["id"],))
        name = event["type"].split(".")[3]
        if name == "ConsultationRecorded":
            data = event["data"]
            db.execute("""INSERT INTO consultations VALUES (?, ?, 1)
                          ON CONFLICT (centre_id, fy) DO UPDATE SET n = n + 1""",
                       (data["centre_id"], fiscal_year(data["occurred_at"])))
        elif name == "ConsultationVoided":
            pass  # a fuller integrator would find the voided consultation and subtract it


async def run(nats_url: str, db_path: str, public_key: str, *, idle_seconds: float = 2.0,
              from_start: bool = False) -> int:
    """Consume until the stream has been idle for `idle_seconds`; returns how many were handled
    (applied, or rejected as not signed by intake). `from_start`: delete the durable first, so the
    whole stream is delivered again."""
    keys = public_keys(public_key)
    if not keys:
        raise ValueError("give intake's public key (tsunagu keys public)")
    db = open_db(db_path)
    fresh = db.execute("SELECT 1 FROM seen LIMIT 1").fetchone() is None
    nc = await nats.connect(nats_url, inbox_prefix=inbox_prefix(nats_url))
    handled = 0
    try:
        js = nc.jetstream()
        if from_start:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer("INTAKE", DURABLE)
        elif fresh:
            await _warn_if_durable_is_ahead(js)
        sub = await js.pull_subscribe(
            "intake.>", durable=DURABLE, stream="INTAKE",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL))
        while True:
            try:
                msgs = await sub.fetch(100, timeout=idle_seconds)
            except (TimeoutError, NatsTimeout):
                return handled
            for msg in msgs:
                if not signed_by(keys, msg.data, msg.headers):  # forged or damaged: never applied
                    with db:
                        db.execute("INSERT OR IGNORE INTO rejected VALUES (?, ?)",
                                   (msg.metadata.sequence.stream, msg.subject))
                    await msg.term()  # and never redelivered
                    handled += 1
                    continue
                apply(db, json.loads(msg.data))  # if this raises, the message is redelivered later
                await msg.ack()
                handled += 1
    finally:
        await nc.close()
        db.close()


async def _warn_if_durable_is_ahead(js) -> None:
    """A new database with an old durable: the trap of running again with another --db."""
    try:
        info = await js.consumer_info("INTAKE", DURABLE)
    except NotFoundError:
        return
    delivered = info.delivered.stream_seq if info.delivered else 0
    if delivered:
        print(f"note: the durable {DURABLE} already delivered the stream up to message {delivered} to an earlier "
              "run; this database is new, so it receives only later events. Run with --from-start to read the "
              "stream from its first message.", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--db", default="integrator.db")
    parser.add_argument("--public-key", required=True,
                        help="intake's public key in hex (INTAKE_PUBLIC_KEY from `tsunagu keys public`)")
    parser.add_argument("--from-start", action="store_true",
                        help="delete the durable first and read the stream from its first message")
    args = parser.parse_args()
    print(f"handled {asyncio.run(run(args.nats, args.db, args.public_key, from_start=args.from_start))} events")


if __name__ == "__main__":
    main()
