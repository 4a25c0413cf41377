"""A portal moving history in (issue 15): POST /v1/consultation-imports' use case,
`import_consultations`, against `executemany` of the same rows into a plain table on the same
database, in the same run (goal ≥ 0.3×). Beside it, the same consultations recorded one command at
a time (`record_consultation`), to show what the bulk path saves.

Run from the repository root:  .venv/bin/python -m bench.imports [--n 500] [--rounds 5]

Ours does what a service's save does: loads each case and checks access, seals each summary under
its subject's key, records a ConsultationRecorded per item with its creations-ledger row, and
prepares each event's signed message for the relay (messaging/outbox.py) in the same transaction.
The baseline inserts the rows, unsealed and unsigned, with SQLAlchemy Core's executemany. Rounds
alternate the two, each on fresh cases, and each rate is the median of the rounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from bench.goals import RESULTS_DIR, goal_row, print_goals, uptime
from bench.serving import consultations as plain_table
from bench.serving import metadata as plain_metadata
from libs.platform.messaging.outbox import Outbox
from libs.platform.messaging.outbox import metadata as outbox_metadata
from libs.platform.messaging.signing import EventSigner
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import eventsourcing_env, make_engine
from libs.platform.store.log import LogReader
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.domain.case import Case
from tests.harness import Database, backend

WHEN = datetime(2015, 5, 1, 10, tzinfo=UTC)
SUMMARY = "電話相談。本人は外出が難しく、家族が今後の支援について相談。"
PER_CASE = 10  # consultations per case in an import: a centre's history, case by case


def measure(backend_name: str, n: int, rounds: int, tmp: Path) -> dict[str, Any]:
    os.environ["TSUNAGU_TEST_DB"] = backend_name  # read by tests.harness.Database
    (tmp / backend_name).mkdir(parents=True, exist_ok=True)
    db = Database(tmp / backend_name)
    settings = db.settings("imports", "nats://127.0.0.1:1")
    engine = make_engine(settings)
    intake = IntakeApplication(eventsourcing_env(settings), Sealer(engine, os.urandom(32)))
    try:
        outbox_metadata.create_all(engine)
        plain_metadata.create_all(engine)
        Outbox("INTAKE", LogReader("intake", intake), EventSigner(os.urandom(32).hex())).install(intake)
        centre = uuid4()
        actor = Principal(sub="bench", org=str(centre), roles=frozenset({"centre_staff"}))

        def fresh_cases() -> list[UUID]:
            ids = []
            for _ in range(n // PER_CASE):
                case = Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person",
                                 age_group="adult", personal_details=None)
                intake.save(case)
                ids.append(case.id)
            return ids

        def items_of(case_ids: list[UUID]) -> list[ImportItem]:
            return [ImportItem(case_id=c, channel="phone", consulted_by="person", occurred_at=WHEN, summary=SUMMARY)
                    for c in case_ids for _ in range(PER_CASE)]

        def plain(case_ids: list[UUID]) -> None:
            rows = [{"id": str(uuid4()), "case_id": str(i.case_id), "channel": i.channel,
                     "consulted_by": i.consulted_by, "occurred_at": i.occurred_at, "summary": i.summary}
                    for i in items_of(case_ids)]
            with engine.begin() as conn:
                conn.execute(plain_table.insert(), rows)

        def bulk(case_ids: list[UUID]) -> None:
            intake.import_consultations(actor, items_of(case_ids), str(uuid4()))

        def one_by_one(case_ids: list[UUID]) -> None:
            for i in items_of(case_ids):
                intake.record_consultation(actor, i.case_id, expected_version=None, channel=i.channel,
                                           consulted_by=i.consulted_by, occurred_at=i.occurred_at,
                                           summary=i.summary, idempotency_key=str(uuid4()))

        ways: dict[str, Callable[[list[UUID]], None]] = {"executemany": plain, "import": bulk, "one by one": one_by_one}
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for way in ways.values():  # warm-up: statement caches, keys, connections
            way(fresh_cases()[:2])
        for _ in range(rounds):
            for name, way in ways.items():
                case_ids = fresh_cases()
                # No garbage of the setup left for the timed phase (as bench.relay): a full collection
                # of this heap (~100 ms; the service freezes its start, the bench does not) fell in
                # one way's phase or another's by chance.
                gc.collect()
                started = time.perf_counter()
                way(case_ids)
                rates[name].append(n / (time.perf_counter() - started))
        median = {name: statistics.median(r) for name, r in rates.items()}
        return {"backend": backend(), "n": n, "rounds": rounds, "rows_per_s": {k: round(v) for k, v in median.items()},
                "ratio": round(median["import"] / median["executemany"], 3),
                "import_vs_one_by_one": round(median["import"] / median["one by one"], 2)}
    finally:
        intake.close()
        engine.dispose()
        db.drop()


def goals_of(m: dict[str, Any]) -> list[dict[str, Any]]:
    r = m["rows_per_s"]
    return [goal_row(f"bulk import of {m['n']} consultations ÷ executemany", m["backend"], m["ratio"], 0.3, ">=",
                     f"{r['import']} rows/s vs {r['executemany']} (one command each: {r['one by one']}/s, "
                     f"the import {m['import_vs_one_by_one']}× that)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="consultations per import (default 500, the most)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    measured, goals = [], []
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
        for name in args.backends.split(","):
            m = measure(name, args.n, args.rounds, Path(tmp))
            measured.append(m)
            goals += goals_of(m)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "imports.json").write_text(json.dumps({
        "benchmark": "imports", "at": datetime.now(UTC).isoformat(timespec="seconds"), "uptime": uptime(),
        "python": platform.python_version(), "args": vars(args), "measured": measured, "goals": goals},
        indent=2, ensure_ascii=False) + "\n")
    print_goals(goals, title=f"bulk import (n={args.n}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
