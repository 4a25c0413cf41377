"""An example integrator: follows Tsunagu's INTAKE stream with its own durable consumer and keeps
its own table of consultations per centre and fiscal year.

Deliberately independent of Tsunagu's code: it needs only nats-py and the standard library, and
reads the CloudEvents as documented in openapi/asyncapi.yaml.

    python examples/integrator/integrator.py --nats nats://127.0.0.1:4222 --db integrator.db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

JST = timezone(timedelta(hours=9))
DURABLE = "integrator-intake"  # integrators name their durables integrator-<stream>


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


async def run(nats_url: str, db_path: str, *, idle_seconds: float = 2.0) -> int:
    """Consume until the stream has been idle for `idle_seconds`; returns how many were handled."""
    db = open_db(db_path)
    nc = await nats.connect(nats_url, inbox_prefix=inbox_prefix(nats_url))
    handled = 0
    try:
        sub = await nc.jetstream().pull_subscribe(
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--db", default="integrator.db")
    args = parser.parse_args()
    print(f"handled {asyncio.run(run(args.nats, args.db))} events")


if __name__ == "__main__":
    main()
