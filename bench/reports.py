"""Growth of the ministry's report queries with the volume in the reporting tables: each query
at 10,000, 100,000 and 1,000,000 consultations (ten fiscal years of national volume at the top),
as a ratio to its cost at the smallest size (goal: ≤ 2×).

Run from the repository root:  .venv/bin/python -m bench.reports [--sizes 10000,100000,1000000]

Building a million rows through the projection would take far longer than the queries: the rows
are bulk-inserted into the reporting tables with SQL (executemany), shaped as the projection
writes them (100 centres over 47 prefectures, a case per ten consultations, FY2012–2021).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from sqlalchemy import Engine, insert

from bench.goals import RESULTS_DIR, goal_row, print_goals, uptime
from libs.domain import intake
from libs.domain.audit import NATIONAL
from libs.platform.store.db import make_engine
from libs.platform.web.auth import Principal
from services.reporting.projections import cases, centres, consultations
from services.reporting.projections.tables import metadata
from services.reporting.queries.centres import centres_report
from services.reporting.queries.consultations import consultation_report
from services.reporting.queries.outcome import outcome_report
from services.reporting.queries.referrals import referral_report
from tests.harness import Database

MINISTRY = Principal(sub="bench", org=NATIONAL, roles=frozenset({"ministry"}))
QUERIES = {"consultation_report": consultation_report, "centres_report": centres_report,
           "referral_report": referral_report, "outcome_report": outcome_report}
FY = 2016
CHUNK = 20_000


def _fill(engine: Engine, total: int, have: int, centre_ids: list[str]) -> None:
    """Consultations up to `total` rows (and a case per ten), inserted in chunks."""
    rng = random.Random(have)
    centre_of: dict[str, str] = {}
    case_ids: list[str] = []
    while have < total:
        rows, new_cases = [], []
        for _ in range(min(CHUNK, total - have)):
            if have % 10 == 0:
                centre = rng.choice(centre_ids)
                case_ids.append(str(uuid4()))
                centre_of[case_ids[-1]] = centre
                new_cases.append({"case_id": case_ids[-1], "centre_id": centre, "tenant": centre[-6:],
                                  "client_kind": rng.choice(intake.CLIENT_KINDS), "age_group": "adult",
                                  "residence_municipality": None})
            fy = 2012 + have % 10
            at = datetime(fy, 4, 1, tzinfo=UTC) + timedelta(minutes=have % 500_000)
            case = case_ids[-1]
            centre = centre_of[case]
            rows.append({"event_id": str(uuid4()), "tenant": centre[-6:], "fy": fy, "time": at,
                         "consultation_id": str(uuid4()), "case_id": case, "centre_id": centre,
                         "channel": rng.choice(intake.CHANNELS), "consulted_by": rng.choice(intake.CLIENT_KINDS),
                         "occurred_at": at, "voided_at": None})
            have += 1
        with engine.begin() as conn:
            if new_cases:
                conn.execute(insert(cases), new_cases)
            conn.execute(insert(consultations), rows)


def curve(engine: Engine, sizes: list[int], repeats: int) -> dict[str, dict[int, float]]:
    metadata.create_all(engine)
    centre_ids = [str(uuid4())[:29] + f"{(i % 47) + 1:02d}0006" for i in range(100)]  # tenant = last 6
    with engine.begin() as conn:
        conn.execute(insert(centres), [{"centre_id": c, "tenant": c[-6:], "name": f"centre {i}", "kind": "adult",
                                        "site": "main", "registered_at": datetime(2010, 4, 1, tzinfo=UTC),
                                        "registered_fy": 2010} for i, c in enumerate(centre_ids)])
    out: dict[str, dict[int, float]] = {name: {} for name in QUERIES}
    have = 0
    for size in sizes:
        _fill(engine, size, have, centre_ids)
        have = size
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        for name, query in QUERIES.items():
            query(engine, MINISTRY, FY)  # warm
            started = time.perf_counter()
            for _ in range(repeats):
                query(engine, MINISTRY, FY)
            out[name][size] = (time.perf_counter() - started) / repeats
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    goals, measured = [], {}
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        for backend in args.backends.split(","):
            os.environ["TSUNAGU_TEST_DB"] = backend
            db = Database(Path(tmp))
            engine = make_engine(db.settings("reporting", "nats://127.0.0.1:1"))
            try:
                result = curve(engine, sizes, args.repeats)
            finally:
                engine.dispose()
                db.drop()
            measured[backend] = {q: {str(k): round(v * 1000, 2) for k, v in c.items()} for q, c in result.items()}
            for query, c in result.items():
                goals.append(goal_row(f"{query}: {sizes[-1]:,} ÷ {sizes[0]:,} consultations", backend,
                                      round(c[sizes[-1]] / c[sizes[0]], 2), 2.0, "<=",
                                      "ms: " + ", ".join(f"{k:,}: {v * 1000:.1f}" for k, v in c.items())))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "reports.json").write_text(json.dumps({
        "benchmark": "reports", "at": datetime.now(UTC).isoformat(timespec="seconds"), "uptime": uptime(),
        "sizes": sizes, "measured": measured, "goals": goals}, indent=2, ensure_ascii=False) + "\n")
    print_goals(goals, title=f"ministry report queries, FY{FY}, rows bulk-inserted with SQL")


if __name__ == "__main__":
    main()
