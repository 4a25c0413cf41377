"""dispatch_report in one statement (queries/dispatch.py) on random dispatch histories: what a join or
a filter gone wrong breaks. The report of the present is the report as of a later instant, each
municipality's row in the nation's report is its own municipality's report, and a prefecture filter
keeps the nation's rows of that prefecture (a demo prefecture's named by a national auditor) and
nothing else. Activity types, deployment targets and end reasons no pivot column or known list names
are among them (a later event version's codes: read from the tally's cells)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from libs.domain import dispatch
from services.reporting.queries import dispatch_report
from services.reporting.tests.feed import Feed
from services.reporting.tests.test_supporters_random import TENANTS, _day, agrees_every_year

TYPES = (*dispatch.ACTIVITY_TYPES, "peer_session")
TARGETS = (*dispatch.DEPLOYMENT_TARGETS, "school")
REASONS = (*dispatch.END_REASONS, "moved_away")


def _history(feed: Feed, rnd: random.Random) -> None:
    """Dispatches (started, some ended, each with activities) and deployments with their activities,
    over six fiscal years and ten local governments, two of them demo ones."""
    feed.centre("012041", demo=True)  # a demo centre's local government
    feed.centre("400009", demo=True)  # a demo prefecture: every local government of it
    for _ in range(rnd.randrange(20, 40)):
        tenant, start = rnd.choice(TENANTS), _day(rnd)
        d = feed.dispatch_started(tenant, start.isoformat())
        for _ in range(rnd.randrange(0, 4)):
            on = start + timedelta(days=rnd.randrange(0, 400))
            feed.activity(tenant, d, on.isoformat(), rnd.choice(TYPES))
        if rnd.random() < 0.6:
            feed.dispatch_ended(tenant, d, (start + timedelta(days=rnd.randrange(0, 500))).isoformat(),
                                rnd.choice(REASONS))
    for _ in range(rnd.randrange(5, 15)):
        tenant, start = rnd.choice(TENANTS), _day(rnd)
        d = feed.deployed(tenant, rnd.choice(TARGETS), start.isoformat())
        for _ in range(rnd.randrange(0, 4)):
            feed.deployment_activity(tenant, d, (start + timedelta(days=rnd.randrange(0, 400))).isoformat())


@pytest.mark.parametrize("seed", [1, 2])
def test_dispatch_report_on_a_random_history_agrees_with_itself_across_scopes_and_instants(feed, engine, seed):
    rnd = random.Random(seed)
    _history(feed, rnd)
    agrees_every_year(engine, dispatch_report, "municipalities", range(2013, 2020), rnd, _summed)


def _summed(rows: list[dict], key: str, total: object) -> object:
    """One figure summed over the municipalities' rows, as the total row has it (`total`: its
    value there, for the shape: every known code at 0 when no row has one)."""
    if key == "met":
        return _summed(rows, "activity_total", 0) > _summed(rows, "previous_activity_total", 0)  # type: ignore[operator]
    if isinstance(total, dict):
        out = dict.fromkeys(total, 0)
        for r in rows:
            for code, n in r[key].items():
                out[code] = out.get(code, 0) + n
        return out
    return sum(r[key] for r in rows)
