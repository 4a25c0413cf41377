"""Where everything stands, read from the databases and from NATS, not from /readyz: the soak's
own judge of "caught up", so that a health endpoint that says "no lag" too early is caught
instead of believed.

- every event stored is on its stream: stream messages = last sequence = events in the store,
  and the relay's recorded position is the log's last position (PostgreSQL positions have gaps);
- every consumer's recorded position (reporting's and dispatch's projection_positions, dispatch's
  process-application tracking) is its stream's last sequence;
- every log follower's position is its own log's last position.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import nats

from libs.platform.messaging.bus import inbox_prefix

if TYPE_CHECKING:  # soak.system imports this module
    from soak.system import System

WRITERS = {"intake": "INTAKE", "registry": "REGISTRY", "dispatch": "DISPATCH"}
# Every consumer's row, once it has applied anything: (service, projection, stream).
CONSUMERS = {("reporting", "reporting", s) for s in WRITERS.values()} | {
    ("dispatch", "dispatch", "INTAKE"), ("dispatch", "dispatch", "REGISTRY"), ("dispatch", "dispatch-targets",
                                                                               "INTAKE")}


def stream_ends(nats_url: str) -> dict[str, tuple[int, int]]:
    """Each stream's (last sequence, messages)."""
    async def read() -> dict[str, tuple[int, int]]:
        nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0,
                                inbox_prefix=inbox_prefix(nats_url))
        try:
            js = nc.jetstream(timeout=3)
            out = {}
            for stream in WRITERS.values():
                state = (await js.stream_info(stream)).state
                out[stream] = (state.last_seq, state.messages)
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def behind(system: System) -> list[str]:
    """What is not caught up yet, in words; [] when everything is."""
    try:
        ends = stream_ends(system.nats.reader_url())
    except Exception as e:  # noqa: BLE001 - NATS not answering is not caught up
        return [f"streams unreadable ({type(e).__name__})"]
    out, logs = [], {}
    for service, stream in WRITERS.items():
        count, last_id, relay = system.sql(service, (
            f"SELECT (SELECT count(*) FROM {service}_events), (SELECT coalesce(max(id), 0) FROM {service}_events), "
            f"(SELECT coalesce(max(position), 0) FROM relay_positions WHERE stream = '{stream}')"))[0]
        logs[f"{service}-log"] = last_id
        last_seq, messages = ends[stream]
        if relay < last_id:
            out.append(f"relay {stream} at log position {relay} of {last_id}")
        if not count == last_seq == messages:
            out.append(f"stream {stream}: {messages} messages, last {last_seq}, {count} events stored")
    positions = {stream: last for stream, (last, _) in ends.items()} | logs
    seen = set()
    for service in ("intake", "registry", "dispatch", "reporting"):
        rows = system.sql(service, "SELECT projection, stream, position FROM projection_positions")
        if service == "dispatch":
            rows += [("dispatch", name, position) for name, position in
                     system.sql(service, "SELECT application_name, notification_id FROM dispatch_tracking")]
        for projection, stream, position in rows:
            seen.add((service, projection, stream))
            end = positions.get(stream)
            if end is not None and position < end:
                out.append(f"{service} {projection} at {stream} {position} of {end}")
    out += [f"{service} {projection} has applied nothing of {stream} ({positions[stream]})"
            for service, projection, stream in CONSUMERS - seen if positions[stream]]
    return out

