"""An example integrator: follows Tsunagu's INTAKE stream with its own durable consumer and keeps
its own table of consultations per centre and fiscal year.

Deliberately independent of Tsunagu's code: it needs only nats-py and the standard library, and
reads the CloudEvents as documented in openapi/asyncapi.yaml.

    python examples/integrator/integrator.py --nats nats://127.0.0.1:4222 --db integrator.db

The durable consumer `integrator-intake` lives on the NATS server, not in the database: it
remembers what it delivered to *any* earlier run. A new database (or one emptied) therefore gets
only what comes next; `--from-start` deletes the durable first, so the stream is read again from
its first message (the `seen` table makes events already applied harmless).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

JST = timezone(timedelta(hours=9))
DURABLE = "integrator-intake"  # integrators name their durables integrator-<stream>


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS consultations (
            centre_id TEXT, fy INTEGER, n INTEGER, PRIMARY KEY (centre_id, fy));
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


async def run(nats_url: str, db_path: str, *, idle_seconds: float = 2.0, from_start: bool = False) -> int:
    """Consume until the stream has been idle for `idle_seconds`; returns how many were handled.
    `from_start`: delete the durable first, so the whole stream is delivered again."""
    db = open_db(db_path)
    fresh = db.execute("SELECT 1 FROM seen LIMIT 1").fetchone() is None
    nc = await nats.connect(nats_url)
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
    parser.add_argument("--from-start", action="store_true",
                        help="delete the durable first and read the stream from its first message")
    args = parser.parse_args()
    print(f"handled {asyncio.run(run(args.nats, args.db, from_start=args.from_start))} events")


if __name__ == "__main__":
    main()
