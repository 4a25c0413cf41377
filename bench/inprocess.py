"""In-process cost of a command, without HTTP: intake's `record_consultation` against a bare
eventsourcing Application doing load + save of an aggregate of the same size (the same number of
events, each with a payload of the same shape and size), with the same recorder on the same
database, in the same run. Also the growth of a case's load (50, 500, 5,000 consultations).

Our application caches aggregates (libs/platform/store/cache.py), so the bare one ("bare") gets
the library's own cache of the same size, with fast-forward (its default); the bare one without
a cache is measured beside it ("bare_uncached"), so both ratios can be read."""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from libs.platform.privacy.sealing import Sealer
from libs.platform.settings import Settings
from libs.platform.store.cache import CACHE_SIZE
from libs.platform.store.db import eventsourcing_env, make_engine
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)
SUMMARY = "電話相談。本人は外出が難しく、家族が今後の支援について相談。"


class Note(Aggregate):
    """The bare aggregate: a list that grows by one entry per event, like a case's consultations."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    @event("Added")
    def add(self, entry_id: UUID, channel: str, consulted_by: str, occurred_at: datetime, summary: dict) -> None:
        self.entries.append({"id": entry_id, "channel": channel, "consulted_by": consulted_by,
                             "occurred_at": occurred_at, "summary": summary})


class BareApplication(Application):
    name = "bare"


class UncachedBareApplication(Application):
    name = "bareuncached"


def _sealed_like() -> dict[str, str]:
    """A payload of the size of a sealed summary (the bare app does not seal)."""
    return {"alg": "A256GCM", "kid": str(uuid4()), "iv": "x" * 16, "ct": "y" * 156}


def compare(settings: Settings, n: int, cases: int) -> dict[str, float]:
    """n commands round-robin over `cases` aggregates, ours then the bare app's; per-second rates."""
    engine = make_engine(settings)
    env = eventsourcing_env(settings)
    intake = IntakeApplication(env, Sealer(engine, os.urandom(32)))
    # Same persistence module, database and schema; the library's cache as big as ours.
    bare = BareApplication(env={**env, BareApplication.AGGREGATE_CACHE_MAXSIZE: str(CACHE_SIZE)})
    uncached = UncachedBareApplication(env=env)
    try:
        centre = uuid4()
        actor = Principal(sub="bench", org=str(centre), roles=frozenset({"centre_staff"}))
        case_ids, note_ids, uncached_ids = [], [], []
        for _ in range(cases):
            case = Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person",
                             age_group="adult", personal_details=None)
            note, other = Note(), Note()
            intake.save(case)
            bare.save(note)
            uncached.save(other)
            case_ids.append(case.id)
            note_ids.append(note.id)
            uncached_ids.append(other.id)

        def ours(i: int) -> None:
            intake.record_consultation(actor, case_ids[i % cases], expected_version=None, channel="phone",
                                       consulted_by="person", occurred_at=WHEN, summary=SUMMARY,
                                       idempotency_key=None)

        def theirs(app: Application, ids: list[UUID]) -> Any:
            def command(i: int) -> None:
                note: Note = app.repository.get(ids[i % cases])
                note.add(entry_id=uuid4(), channel="phone", consulted_by="person", occurred_at=WHEN,
                         summary=_sealed_like())
                app.save(note)
            return command

        rates = {}
        for name, command in (("bare", theirs(bare, note_ids)), ("bare_uncached", theirs(uncached, uncached_ids)),
                              ("ours", ours)):
            for i in range(min(20, n)):  # warm-up
                command(i)
            started = time.perf_counter()
            for i in range(n):
                command(i)
            rates[name] = n / (time.perf_counter() - started)
        return rates
    finally:
        intake.close()
        bare.close()
        uncached.close()
        engine.dispose()


def case_load_curve(settings: Settings, sizes: tuple[int, ...] = (50, 500, 5000), loads: int = 20) -> dict[int, float]:
    """Seconds to load (repository.get) a case holding each number of consultations: the median of
    `loads` rounds, each round loading every size once, so a burst of load on a shared machine
    falls on every size alike instead of on whichever was being timed."""
    engine = make_engine(settings)
    intake = IntakeApplication(eventsourcing_env(settings), Sealer(engine, os.urandom(32)))
    try:
        cases = {}
        for size in sizes:
            case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person",
                             age_group="adult", personal_details=None)
            summary = intake.seal(case.id, SUMMARY)
            done = 0
            while done < size:  # saved 50 at a time: the snapshots are taken as in service
                for _ in range(min(50, size - done)):
                    case.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                             occurred_at=WHEN, summary=summary)
                    done += 1
                intake.save(case)
            intake.repository.get(case.id)
            cases[size] = case.id
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(loads):
            for size, case_id in cases.items():
                intake.repository.evict(case_id)  # a load from the store (snapshot + events), not the cache
                started = time.perf_counter()
                intake.repository.get(case_id)
                times[size].append(time.perf_counter() - started)
        return {size: statistics.median(t) for size, t in times.items()}
    finally:
        intake.close()
        engine.dispose()
