"""The one table of issue 15: every goal, the ratio measured on SQLite and on PostgreSQL, the goal
beside it. Each benchmark writes its rows to bench/results/<name>.json under "goals" (goal_row);
`python -m bench.goals` prints them all together, with the machine's load (the last step of
`make bench`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def goal_row(goal: str, backend: str, measured: float, target: float | None, sense: str,
             note: str = "") -> dict[str, Any]:
    """One goal on one backend: `sense` '>=' (a ratio to reach) or '<=' (a ratio not to pass);
    a target of None is reported only."""
    met = None if target is None else (measured >= target if sense == ">=" else measured <= target)
    return {"goal": goal, "backend": backend, "measured": measured,
            "target": None if target is None else f"{sense} {target}", "met": met, "note": note}


def print_goals(rows: list[dict[str, Any]], title: str = "") -> None:
    """Goals as rows, one column pair (measured, met) per backend, the goal beside them."""
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    goals = list(dict.fromkeys(r["goal"] for r in rows))
    by = {(r["goal"], r["backend"]): r for r in rows}
    width = max([len(g) for g in goals] + [20])
    if title:
        print(f"{title} — {uptime()}")
    header = f"{'goal':<{width}}  {'target':>7}" + "".join(f"  {b:>16}" for b in backends)
    print(header)
    print("-" * len(header))
    for goal in goals:
        first = next(by[(goal, b)] for b in backends if (goal, b) in by)
        cells = ""
        for b in backends:
            r = by.get((goal, b))
            mark = "" if r is None or r["met"] is None else (" ok" if r["met"] else " NOT")
            cells += f"  {'' if r is None else format(r['measured'], '.3f') + mark:>16}"
        print(f"{goal:<{width}}  {first['target'] or 'report':>7}{cells}")
    notes = [r for r in rows if r["note"]]
    if notes:
        print("\nnotes:")
        for r in notes:
            print(f"  {r['goal']} [{r['backend']}]: {r['note']}")


def main() -> None:
    rows: list[dict[str, Any]] = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        rows += json.loads(path.read_text()).get("goals", [])
    print_goals(rows, title="issue 15 goals, every benchmark of this run")


if __name__ == "__main__":
    main()
