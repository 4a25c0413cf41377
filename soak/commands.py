"""Sending a command as a careful portal does, and the ledger of what came back.

Every POST carries an Idempotency-Key. A command counts as accepted only when a 2xx came back.
A connection error, a timeout, a 5xx, a 503 or a 409 conflict (another write to the same
aggregate won) is retried with the same key and body until the deadline. A command whose
endpoint keeps no key (a completion, an approval) may have been applied by an attempt whose
answer was lost: when a retry is refused, `resolve` reads the resource to tell.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIED_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class Command:
    kind: str  # what the ledger checks it as (consultation, case, ...), or "setup"
    http: httpx.Client
    path: str
    body: dict
    key: str
    identity: Callable[[dict], str]  # the accepted answer → what the stored event carries
    resolve: Callable[[], dict | None] | None = None  # the answer, read back, if it was applied
    segment: str = ""
    status: str = "pending"  # accepted, refused, unresolved
    result: str | None = None
    detail: str = ""
    attempts: int = 0


@dataclass
class Ledger:
    commands: list[Command] = field(default_factory=list)
    retries: Counter = field(default_factory=Counter)  # (segment, why an attempt was retried)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, command: Command) -> None:
        with self.lock:
            self.commands.append(command)

    def retried(self, why: str, segment: str = "") -> None:
        with self.lock:
            self.retries[segment, why] += 1

    def of(self, status: str, kind: str | None = None, segment: str | None = None) -> list[Command]:
        with self.lock:
            return [c for c in self.commands if c.status == status and (kind is None or c.kind == kind)
                    and (segment is None or c.segment == segment)]

    def accepted(self, kind: str) -> list[str]:
        return [c.result for c in self.of("accepted", kind)]


def send(command: Command, ledger: Ledger, *, deadline_s: float, stop: threading.Event | None = None) -> Command:
    """Send until accepted, refused, or out of time (unresolved: `send` it again later)."""
    deadline = time.monotonic() + deadline_s
    maybe_applied = command.status == "unresolved"  # an earlier round may have applied it
    pause = 0.05
    while True:
        command.attempts += 1
        try:
            r = command.http.post(command.path, json=command.body, headers={"Idempotency-Key": command.key})
        except httpx.ConnectError:
            ledger.retried("connection refused", command.segment)
        except httpx.TransportError as e:  # sent, maybe applied: the answer was lost
            maybe_applied = True
            ledger.retried(type(e).__name__, command.segment)
        else:
            if r.is_success:
                return _done(command, "accepted", command.identity(r.json()))
            problem = _problem_type(r)
            if r.status_code in RETRIED_STATUS or (r.status_code == 409 and problem == "conflict"):
                maybe_applied = maybe_applied or r.status_code >= 500
                ledger.retried(f"{r.status_code} {problem}", command.segment)
            else:
                if maybe_applied and command.resolve is not None:
                    found = command.resolve()
                    if found is not None:  # an earlier attempt was applied: its answer was lost
                        ledger.retried(f"{r.status_code} on a retry, applied before (read back)", command.segment)
                        return _done(command, "accepted", command.identity(found))
                return _done(command, "refused", None, f"{r.status_code} {r.text[:300]}")
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            command.status = "unresolved"
            return command
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def _done(command: Command, status: str, result: str | None, detail: str = "") -> Command:
    command.status, command.result, command.detail = status, result, detail
    return command


def _problem_type(r: httpx.Response) -> str:
    try:
        return str(r.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        return ""


def identity(field_name: str) -> Callable[[dict], str]:
    return lambda body: str(body[field_name])


def constant(value: Any) -> Callable[[dict], str]:
    return lambda body: str(value)
