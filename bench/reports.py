"""Growth of the ministry's report queries with the volume in the reporting tables: each query
at 10,000, 100,000 and 1,000,000 consultations (ten fiscal years of national volume at the top),
as a ratio to its cost at the smallest size (goal: ≤ 2×).

Run from the repository root:  .venv/bin/python -m bench.reports [--sizes 10000,100000,1000000]

Building a million rows through the projection would take far longer than the queries: the rows
are bulk-inserted into the reporting tables with SQL (executemany), shaped as the projection
writes them (100 centres over 47 prefectures, a case per ten consultations, FY2012–2021), and the
other facts in proportion to the consultations (RATES: outreach visits, referrals, support
decisions, dispatches started and ended (by the seeds' end reasons), dispatch and deployment
activities, supporter terms, rosters, place sessions, group activities, 後方支援). After each bulk
insert the count tables are derived from the facts with one INSERT … SELECT GROUP BY per tally
(projections/tallies.py: the statement the projection's upserts are made of, so the cells are what
projecting the same events would have left).

Besides the goal rows, `consultation_report as_of` is measured (reported only): a report "as of" a
past instant still counts fact rows (a tally knows only the present), so it grows with them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from uuid import uuid4

from sqlalchemy import Engine, func, insert, select

from bench.goals import RESULTS_DIR, goal_row, print_goals, uptime
from bench.work import WORK_UNIT, Work
from libs.domain import agencies, dispatch, intake
from libs.domain.audit import NATIONAL
from libs.platform.store.db import make_engine
from libs.platform.web.auth import Principal
from services.reporting.projections import cases, centres, consultations
from services.reporting.projections.tables import (
    activities,
    backoffice_supports,
    deployment_activities,
    dispatch_events,
    group_activities,
    metadata,
    outreach_visits,
    place_sessions,
    referrals,
    rosters,
    support_decisions,
    supporter_terms,
)
from services.reporting.projections.tallies import COUNTED, derive_all
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    programmes_report,
    referral_report,
    supporters_report,
)
from tests.harness import Database

MINISTRY = Principal(sub="bench", org=NATIONAL, roles=frozenset({"ministry"}))
QUERIES = {"consultation_report": consultation_report, "centres_report": centres_report,
           "referral_report": referral_report, "outcome_report": outcome_report,
           "dispatch_report": dispatch_report, "supporters_report": supporters_report,
           "programmes_report": programmes_report}
AS_OF = datetime(2030, 1, 1, tzinfo=UTC)
AS_OF_QUERY = "consultation_report as_of"  # after every fact: the same numbers, counted from the facts
FY = 2016
CATEGORY_CODES = tuple(agencies.BY_CODE)
CHUNK = 20_000
# Other facts per consultation, roughly the seeds' national proportions (a year: ~90,000
# consultations, ~7,500 referrals, ~9,000 visits). Dispatch events: the seeds give the programme
# no volume (its uptake is called 低調), so 2 per 100 (as many started as ended: at 1M every
# municipality has most end reasons in FY2016, the report's widest shape).
RATES = {"outreach_visits": 0.1, "referrals": 0.08, "support_decisions": 0.03, "activities": 0.05,
         "deployment_activities": 0.02, "supporter_terms": 0.01, "rosters": 0.002, "place_sessions": 0.03,
         "group_activities": 0.01, "backoffice_supports": 0.01, "dispatch_events": 0.02}


def _dispatch_event(rng: random.Random, on: date) -> dict:
    """A dispatch started, or one ended with one of the seeds' end reasons (as many ended as started)."""
    ended = rng.random() < 0.5
    return {"dispatch_id": str(uuid4()), "kind": "ended" if ended else "started",
            "reason": rng.choice(dispatch.END_REASONS) if ended else None, "happened_on": on}


def _others(rng: random.Random, base: dict, centre: str, at: datetime) -> dict[str, dict]:
    """The other facts that come with one consultation (each with its rate), shaped as projected."""
    on, tenant = at.date(), base["tenant"]
    shapes = {
        "outreach_visits": lambda: {"visit_id": str(uuid4()), "case_id": base["case_id"], "centre_id": centre,
                                    "staff_role": rng.choice(intake.STAFF_ROLES), "occurred_at": at},
        "referrals": lambda: {"referral_id": str(uuid4()), "case_id": base["case_id"], "centre_id": centre,
                              "agency_id": str(uuid4()), "agency_category": rng.choice(CATEGORY_CODES),
                              "referred_on": on},
        "support_decisions": lambda: {"referral_id": str(uuid4()), "case_id": base["case_id"], "centre_id": centre,
                                      "agency_id": str(uuid4()), "agency_category": rng.choice(CATEGORY_CODES),
                                      "decided_on": on},
        "activities": lambda: {"report_id": str(uuid4()), "dispatch_id": str(uuid4()),
                               "activity_type": rng.choice(dispatch.ACTIVITY_TYPES), "activity_date": on},
        "deployment_activities": lambda: {"report_id": str(uuid4()), "deployment_id": str(uuid4()),
                                          "target_kind": rng.choice(dispatch.DEPLOYMENT_TARGETS),
                                          "activity_date": on},
        "supporter_terms": lambda: {"supporter_id": str(uuid4()), "kind": rng.choice(("registered", "renewed")),
                                    "issued_on": on, "term_starts_on": on,
                                    "term_ends_on": on + timedelta(days=3 * 365)},
        "rosters": lambda: {"roster_id": str(uuid4()), "recipient": tenant, "provided_on": on,
                            "entries": rng.randint(1, 20)},
        "place_sessions": lambda: {"place_id": centre, "held_on": on, "participants": rng.randint(1, 9),
                                   "supporters": rng.randint(0, 3)},
        "group_activities": lambda: {"kind": rng.choice(intake.GROUP_ACTIVITY_KINDS), "held_on": on,
                                     "participants": rng.randint(1, 30)},
        "backoffice_supports": lambda: {"centre_id": centre, "kind": rng.choice(intake.BACKOFFICE_KINDS),
                                        "recipient_kind": "municipality", "given_on": on},
        "dispatch_events": lambda: _dispatch_event(rng, on),
    }
    return {name: {"event_id": str(uuid4()), "tenant": tenant, "fy": base["fy"], "time": at, **shape()}
            for name, shape in shapes.items() if rng.random() < RATES[name]}


OTHER_TABLES = {t.name.removeprefix("rp_"): t for t in (
    outreach_visits, referrals, support_decisions, activities, deployment_activities, supporter_terms, rosters,
    place_sessions, group_activities, backoffice_supports, dispatch_events)}


def _fill(engine: Engine, total: int, have: int, centre_ids: list[str]) -> None:
    """Consultations up to `total` rows (and a case per ten), inserted in chunks."""
    rng = random.Random(have)
    centre_of: dict[str, str] = {}
    case_ids: list[str] = []
    while have < total:
        rows, new_cases = [], []
        others: dict[str, list[dict]] = {name: [] for name in OTHER_TABLES}
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
            for name, row in _others(rng, rows[-1], centre, at).items():
                others[name].append(row)
            have += 1
        with engine.begin() as conn:
            if new_cases:
                conn.execute(insert(cases), new_cases)
            conn.execute(insert(consultations), rows)
            for name, table in OTHER_TABLES.items():
                if others[name]:
                    conn.execute(insert(table), others[name])


def _timed(query: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs after a warm one (on a shared machine the others measure its load)."""
    query()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        query()
        best = min(best, time.perf_counter() - started)
    return best


def cells_of_fy(engine: Engine) -> dict[str, int]:
    """The cells of FY and FY-1 (what the reports read: dispatch and outcome compare with the year
    before) in each count table."""
    with engine.connect() as conn:
        return {t.table.name.removeprefix("rp_").removesuffix("_counts"): conn.execute(
            select(func.count()).select_from(t.table).where(t.table.c.fy.in_((FY - 1, FY)))).scalar_one()
            for t in COUNTED}


def empty_facts(engine: Engine) -> None:
    """Delete every fact row the count tables were derived from (cases and centres stay: the scope
    and the outcome read them). A report that reads only cells does the same work after."""
    with engine.begin() as conn:
        for table in (consultations, *OTHER_TABLES.values()):
            conn.execute(table.delete())
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def curve(engine: Engine, sizes: list[int], repeats: int) -> tuple[dict[str, dict[int, float]],
                                                                  dict[str, dict[int, int]]]:
    metadata.create_all(engine)
    centre_ids = [str(uuid4())[:29] + f"{(i % 47) + 1:02d}0006" for i in range(100)]  # tenant = last 6
    with engine.begin() as conn:
        conn.execute(insert(centres), [{"centre_id": c, "tenant": c[-6:], "name": f"centre {i}", "kind": "adult",
                                        "site": "main", "registered_at": datetime(2010, 4, 1, tzinfo=UTC),
                                        "registered_fy": 2010} for i, c in enumerate(centre_ids)])
    out: dict[str, dict[int, float]] = {name: {} for name in (*QUERIES, AS_OF_QUERY)}
    work: dict[str, dict[int, int]] = {name: {} for name in out}
    counter = Work(engine)
    have = 0
    for size in sizes:
        _fill(engine, size, have, centre_ids)
        have = size
        with engine.begin() as conn:
            derive_all(conn)  # the count tables, as projecting these facts would have left them
        if engine.dialect.name == "postgresql":  # so that autovacuum of the new rows does not run under the queries
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        runs = {name: partial(query, engine, MINISTRY, FY) for name, query in QUERIES.items()}
        runs[AS_OF_QUERY] = partial(consultation_report, engine, MINISTRY, FY, as_of=AS_OF)
        for name, run in runs.items():
            out[name][size] = _timed(run, repeats)
            work[name][size] = counter.of(run)
        unit = WORK_UNIT[engine.dialect.name]
        print(f"  {engine.dialect.name} {size:,}: " + ", ".join(
            f"{k} {v[size] * 1000:.1f} ms ({work[k][size]:,} {unit})" for k, v in out.items()), flush=True)
        print(f"  cells of FY{FY - 1}–{FY}: " + ", ".join(f"{k} {n:,}" for k, n in cells_of_fy(engine).items()),
              flush=True)
        # What the per-unit reports return grows while the year's units with data do (not the history):
        print(f"  rows returned: supporters_report {len(supporters_report(engine, MINISTRY, FY)['registrars'])} "
              f"registrars, dispatch_report {len(dispatch_report(engine, MINISTRY, FY)['municipalities'])} "
              "municipalities", flush=True)
    empty_facts(engine)
    print(f"  {engine.dialect.name} {sizes[-1]:,}, the fact tables emptied (the same cells): " + ", ".join(
        f"{k} {counter.of(run):,}" for k, run in runs.items() if k != AS_OF_QUERY), flush=True)
    return out, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    goals, measured, worked = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        for backend in args.backends.split(","):
            os.environ["TSUNAGU_TEST_DB"] = backend
            db = Database(Path(tmp))
            engine = make_engine(db.settings("reporting", "nats://127.0.0.1:1"))
            try:
                result, work = curve(engine, sizes, args.repeats)
            finally:
                engine.dispose()
                db.drop()
            measured[backend] = {q: {str(k): round(v * 1000, 2) for k, v in c.items()} for q, c in result.items()}
            worked[backend] = {q: {str(k): v for k, v in c.items()} for q, c in work.items()}
            for query, c in result.items():
                target = None if query == AS_OF_QUERY else 2.0
                goals.append(goal_row(f"{query}: {sizes[-1]:,} ÷ {sizes[0]:,} consultations", backend,
                                      round(c[sizes[-1]] / c[sizes[0]], 2), target,
                                      "<=", "ms: " + ", ".join(f"{k:,}: {v * 1000:.1f}" for k, v in c.items())))
                w = work[query]
                goals.append(goal_row(f"{query}: work, {sizes[-1]:,} ÷ {sizes[0]:,}", backend,
                                      round(w[sizes[-1]] / max(1, w[sizes[0]]), 2), target, "<=",
                                      f"{WORK_UNIT[backend]}: " + ", ".join(f"{k:,}: {v:,}" for k, v in w.items())))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "reports.json").write_text(json.dumps({
        "benchmark": "reports", "at": datetime.now(UTC).isoformat(timespec="seconds"), "uptime": uptime(),
        "sizes": sizes, "measured": measured, "work": worked, "goals": goals}, indent=2, ensure_ascii=False) + "\n")
    print_goals(goals, title=f"ministry report queries, FY{FY}, rows bulk-inserted with SQL")


if __name__ == "__main__":
    main()
