"""Where a consultation's end-to-end lag goes (`python -m bench.lag --hops`): the time of each hop
of one consultation, from intake's 201 to the poll that sees its row in reporting.

Wraps methods of the running relay and INTAKE consumer (this process only, nothing is changed in
what they do) and notes, per consultation, when:
  read     the relay read the batch that holds it (prepared, or rendered)
  acked    every PubAck of that batch was back (the relay records its position next)
  fetched  reporting's INTAKE consumer got it from the server
  applied  reporting committed it (its row and position)
and the bench's watcher adds `seen`. Each hop is printed as p50/p99 of the time from the one
before. The parse of each published body to find its consultation costs the relay a little.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from functools import wraps
from typing import Any

HOPS = ("accepted", "read", "acked", "fetched", "applied", "seen")


class Hops:
    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = {}  # consultation id → hop → perf_counter
        self._consultation: dict[str, str] = {}  # event id → consultation id
        self._batches: dict[int, list[str]] = {}  # a relay batch's last position → its consultations
        self.fetch_sizes: list[int] = []
        self.relay_read_ms: list[float] = []  # how long each relay read and record took
        self.relay_record_ms: list[float] = []
        self.apply_sizes: list[int] = []

    def note(self, consultation_id: str, hop: str, at: float | None = None) -> None:
        self.times.setdefault(consultation_id, {}).setdefault(hop, time.perf_counter() if at is None else at)

    def install(self, intake_runtime: Any, reporting_runtime: Any) -> Hops:
        self._wrap_relay(intake_runtime.relay)
        runner = next(c for c in reporting_runtime.consumers if c.spec.name == "INTAKE")
        self._wrap_consumer(runner)
        return self

    def _wrap_relay(self, relay: Any) -> None:
        prepared, record = relay._prepared, relay._record

        @wraps(prepared)
        def _prepared(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            batch = prepared(*args, **kwargs)
            now, ids = time.perf_counter(), []
            self.relay_read_ms.append(1000 * (now - began))
            for _subject, body, headers in batch.messages:
                cid = json.loads(body).get("data", {}).get("consultation_id")
                if cid:
                    self._consultation[headers["Nats-Msg-Id"]] = cid
                    ids.append(cid)
                    self.note(cid, "read", now)
            self._batches[batch.last] = ids
            return batch

        @wraps(record)
        def _record(position: int, *args: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            for cid in self._batches.pop(position, []):
                self.note(cid, "acked", now)
            try:
                return record(position, *args, **kwargs)
            finally:
                self.relay_record_ms.append(1000 * (time.perf_counter() - now))

        relay._prepared, relay._record = _prepared, _record

    def _wrap_consumer(self, runner: Any) -> None:
        fetch, apply_buffer = runner._fetch, runner._apply_buffer

        def ids(msgs: list[Any]) -> list[str]:
            return [c for m in msgs if (c := self._consultation.get((m.headers or {}).get("Nats-Msg-Id", "")))]

        @wraps(fetch)
        async def _fetch(*args: Any, **kwargs: Any) -> Any:
            before = len(runner._buffer)
            got = await fetch(*args, **kwargs)
            now, new = time.perf_counter(), runner._buffer[before:]
            if new:
                self.fetch_sizes.append(len(new))
            for cid in ids(new):
                self.note(cid, "fetched", now)
            return got

        @wraps(apply_buffer)
        async def _apply_buffer(*args: Any, **kwargs: Any) -> Any:
            buffered = list(runner._buffer)
            handled = await apply_buffer(*args, **kwargs)
            now, left = time.perf_counter(), {id(m) for m in runner._buffer}
            done = [m for m in buffered if id(m) not in left]
            if done:
                self.apply_sizes.append(len(done))
            for cid in ids(done):
                self.note(cid, "applied", now)
            return handled

        runner._fetch, runner._apply_buffer = _fetch, _apply_buffer

    def report(self, accepted: dict[str, float], lags: dict[str, float]) -> dict[str, Any]:
        """p50/p99/max in ms of each hop, from the hop before, over the consultations that went
        through all of them; `accepted` and `lags` are the watcher's (201 time, lag)."""
        rows: dict[str, list[float]] = {h: [] for h in HOPS[1:]}
        for cid, lag in lags.items():
            t = self.times.get(cid, {})
            t = {"accepted": accepted[cid], **t, "seen": accepted[cid] + lag}
            if all(h in t for h in HOPS):
                for before, hop in itertools.pairwise(HOPS):
                    rows[hop].append(1000 * (t[hop] - t[before]))
        out: dict[str, Any] = {}
        for hop, values in rows.items():
            values.sort()
            if values:
                out[hop] = {"p50": round(statistics.median(values), 1),
                            "p99": round(values[min(len(values) - 1, int(0.99 * len(values)))], 1),
                            "max": round(values[-1], 1), "n": len(values)}
        for name, sizes in (("fetch_size", self.fetch_sizes), ("apply_size", self.apply_sizes)):
            if sizes:
                out[name] = {"mean": round(statistics.mean(sizes), 1), "max": max(sizes), "n": len(sizes)}
        for name, ms in (("relay_read_ms", self.relay_read_ms), ("relay_record_ms", self.relay_record_ms)):
            if ms:
                ms = sorted(ms)
                out[name] = {"p50": round(statistics.median(ms), 1), "p99": round(ms[int(0.99 * len(ms))], 1),
                             "max": round(ms[-1], 1), "n": len(ms)}
        return out
