"""What the soak checks: accepted = stored = published once = counted in reporting.

- stored: each writing service's audit API (`/v1/audit/events`, the authoritative log);
- published: each stream read back from NATS by an ephemeral consumer (the witness user in the
  cluster); every event stored once is there once, under its own CloudEvents id;
- counted: reporting's tables (one row per fact, keyed by event id), and the ministry's
  延べ相談件数 from `/v1/reports/consultations`.

Every problem found is a labelled item (what, kind, id), so the soak can tell which problems are
new since the previous check and put them on the row of the fault that just happened.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from libs.platform.messaging.replay import read_stream
from soak.commands import Ledger

if TYPE_CHECKING:  # soak.system imports this module
    from soak.system import System

Item = tuple[str, str, str]  # (problem, kind, identity)


def subject(e: dict) -> str:
    return str(e["subject"])


def data(name: str) -> Callable[[dict], str]:
    return lambda e: str(e["data"][name])


@dataclass(frozen=True)
class Kind:
    service: str
    event: str
    identity: Callable[[dict], str]
    counted_in: str | None = None  # reporting: SQL giving one row per counted identity


KINDS = {
    "centre": Kind("intake", "CentreRegistered", subject, "SELECT centre_id FROM rp_centres"),
    "case": Kind("intake", "CaseOpened", subject, "SELECT case_id FROM rp_cases"),
    "consultation": Kind("intake", "ConsultationRecorded", data("consultation_id"),
                         "SELECT consultation_id FROM rp_consultations WHERE voided_at IS NULL"),
    "course": Kind("registry", "TrainingCourseScheduled", subject),
    "attendance": Kind("registry", "TrainingAttended", data("trainee_id")),
    "completion": Kind("registry", "TrainingCompleted", data("trainee_id")),
    "application": Kind("registry", "RegistrationApplied", subject),
    "approval": Kind("registry", "SupporterRegistered", subject,
                     "SELECT supporter_id FROM rp_supporter_terms WHERE kind = 'registered'"),
    "roster": Kind("registry", "RosterProvided", subject, "SELECT roster_id FROM rp_rosters"),
    "dispatch": Kind("dispatch", "DispatchRequested", subject),
    "start": Kind("dispatch", "DispatchStarted", subject,
                  "SELECT dispatch_id FROM rp_dispatch_events WHERE kind = 'started'"),
    "activity": Kind("dispatch", "ActivityReported", data("report_id"), "SELECT report_id FROM rp_activities"),
}
STREAMS = {"intake": "INTAKE", "registry": "REGISTRY", "dispatch": "DISPATCH"}


def name_of(envelope: dict) -> str:
    return envelope["type"].rsplit(".", 2)[-2]  # jp.tsunagu.<context>.<EventName>.v<N>


@dataclass
class Tally:
    """One kind's numbers at a check."""

    accepted: int = 0
    stored: int = 0
    published: int = 0
    counted: int | None = None


@dataclass
class Findings:
    items: set[Item] = field(default_factory=set)
    tallies: dict[str, Tally] = field(default_factory=dict)
    ministry_total: int | None = None
    events: dict[str, tuple[int, int]] = field(default_factory=dict)  # service: (stored, published)


class Checker:
    """Reads the logs and streams incrementally: each check reads only what is new."""

    def __init__(self, system: System, ledger: Ledger) -> None:
        self.system = system
        self.ledger = ledger
        self.stored: dict[str, list[dict]] = {s: [] for s in STREAMS}
        self.published: dict[str, list[dict]] = {s: [] for s in STREAMS}
        self.last: Findings | None = None

    def check(self) -> Findings:
        for service in STREAMS:
            self._read_log(service)
            self._read_stream(service)
        counted = {kind: [str(row[0]) for row in self.system.sql("reporting", spec.counted_in)]
                   for kind, spec in KINDS.items() if spec.counted_in}
        self.last = compare(self.ledger, self.stored, self.published, counted, self._ministry_total())
        return self.last

    # -- reading ------------------------------------------------------------------------------
    def _read_log(self, service: str) -> None:
        events = self.stored[service]
        after = events[-1]["sequence"] if events else 0
        with self.system.client(service, "auditor", "000000", timeout=60) as auditor:
            while True:
                r = auditor.get("/v1/audit/events", params={"after": after, "limit": 1000})
                r.raise_for_status()
                page = r.json()
                events += page["data"]
                if page["next_after"] is None:
                    return
                after = page["next_after"]

    def _read_stream(self, service: str) -> None:
        messages = self.published[service]
        raw = asyncio.run(read_stream(self.system.nats.reader_url(), STREAMS[service], from_seq=len(messages) + 1))
        messages += [json.loads(m) for m in raw]

    def _ministry_total(self) -> int | None:
        with self.system.client("reporting", "ministry", "mhlw", timeout=60) as ministry:
            r = ministry.get("/v1/reports/consultations", params={"fy": 2016})
            return r.json()["total"] if r.status_code == 200 else None


def compare(ledger: Ledger, stored: dict[str, list[dict]], published: dict[str, list[dict]],
            counted: dict[str, list[str]], ministry_total: int | None) -> Findings:
    """Accepted (the ledger) against stored (each service's log), published (each stream) and
    counted (reporting's rows of each kind, and the ministry's total of consultations)."""
    found = Findings(ministry_total=ministry_total)
    for service in STREAMS:
        found.items |= _published_once(service, stored[service], published[service])
        found.events[service] = (len(stored[service]), len(published[service]))
    for kind, spec in KINDS.items():
        found.items |= _kind(kind, spec, ledger, stored[spec.service], published[spec.service], counted.get(kind),
                             found)
    difference = (ministry_total or 0) - found.tallies["consultation"].accepted
    what = "lost: not in the ministry's 延べ相談件数" if difference < 0 else "duplicated: twice in 延べ相談件数"
    found.items |= {(what, "consultation", f"#{n + 1}") for n in range(abs(difference))}
    return found


def _published_once(service: str, stored: list[dict], published: list[dict]) -> set[Item]:
    ids = {e["id"] for e in stored}
    on_stream = Counter(e["id"] for e in published)
    items = {("duplicated on the stream", service, i) for i, n in on_stream.items() if n > 1}
    items |= {("lost between store and stream", service, i) for i in ids - on_stream.keys()}
    items |= {("published, never stored", service, i) for i in on_stream.keys() - ids}
    return items


def _kind(kind: str, spec: Kind, ledger: Ledger, stored_events: list[dict], published_events: list[dict],
          counted_rows: list[str] | None, found: Findings) -> set[Item]:
    accepted = Counter(ledger.accepted(kind))
    unresolved = ledger.of("unresolved", kind)
    stored = Counter(spec.identity(e) for e in stored_events if name_of(e) == spec.event)
    published = {spec.identity(e) for e in published_events if name_of(e) == spec.event}
    tally = found.tallies[kind] = Tally(sum(accepted.values()), sum(stored.values()), len(published))
    items = {("lost: accepted, not stored", kind, i) for i in accepted.keys() - stored.keys()}
    items |= {("duplicated: stored twice", kind, i) for i, n in stored.items() if n > 1}
    if not unresolved:  # a command never answered may have been stored: that is not a duplicate
        items |= {("duplicated: stored, never accepted", kind, i) for i in stored.keys() - accepted.keys()}
    if counted_rows is not None:
        counted = Counter(counted_rows)
        tally.counted = len(counted_rows)
        items |= {("lost: stored, not counted in reporting", kind, i) for i in stored.keys() - counted.keys()}
        items |= {("duplicated: counted twice", kind, i) for i, n in counted.items() if n > 1}
        items |= {("duplicated: counted, never stored", kind, i) for i in counted.keys() - stored.keys()}
    return items
