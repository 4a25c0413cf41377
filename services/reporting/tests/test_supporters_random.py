"""Attack (h-attack1 on merge-s29): supporters_report in one statement (queries/supporters.py) on random
registries. Measured against main's four statements (not kept: a script loaded main's module) on 8
random registries, both backends, 735 reports each (7 fiscal years × 7 callers × 5 prefecture filters ×
3 instants): no figure differed. What stays here are the invariants a join or a filter gone wrong
breaks: the report of the present is the report as of a later instant, each registrar's row in the
nation's report is its own municipality's report, and a prefecture filter keeps the nation's rows of
that prefecture (a demo prefecture's named by a national auditor) and nothing else."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.reporting.queries import supporters_report
from services.reporting.tests.conftest import MINISTRY, principal
from services.reporting.tests.feed import Feed

TENANTS = ("130001", "131016", "131024", "131032", "270008", "271004", "990001", "012041", "400009", "401307")
LATER = datetime(2100, 1, 1, tzinfo=UTC)
NATIONAL_AUDITOR = principal("auditor", "000000")


def _day(rnd: random.Random) -> date:
    first, last = date(2013, 4, 1), date(2019, 3, 31)
    return first + timedelta(days=rnd.randrange((last - first).days))


def _registry(feed: Feed, rnd: random.Random) -> None:
    feed.centre("012041", demo=True)  # a demo centre's local government
    feed.centre("400009", demo=True)  # a demo prefecture: every local government of it
    for _ in range(rnd.randrange(40, 80)):
        tenant, start = rnd.choice(TENANTS), _day(rnd)
        end = start + timedelta(days=rnd.choice((90, 365, 1095)))
        s = feed.registered(tenant, start.isoformat(), end.isoformat())
        fate, later = rnd.random(), (start + timedelta(days=rnd.randrange(0, 500))).isoformat()
        if fate < 0.2:
            renewed = end + timedelta(days=1)
            feed.renewed(tenant, s, later, renewed.isoformat(), (renewed + timedelta(days=1094)).isoformat())
        elif fate < 0.4:
            feed.withdrawn(tenant, s, later)
        elif fate < 0.5:
            feed.revoked(tenant, s, later)
        elif fate < 0.7:
            feed.expired(tenant, s, end.isoformat())
    for _ in range(rnd.randrange(5, 15)):
        feed.roster(rnd.choice(TENANTS), rnd.choice(TENANTS), _day(rnd).isoformat(), entries=rnd.randrange(0, 5))


@pytest.mark.parametrize("seed", [1, 2])
def test_supporters_report_on_a_random_registry_agrees_with_itself_across_scopes_and_instants(feed, engine, seed):
    rnd = random.Random(seed)
    _registry(feed, rnd)
    seen = 0
    for fy in range(2013, 2019):
        nation = supporters_report(engine, MINISTRY, fy)
        assert nation == supporters_report(engine, MINISTRY, fy, as_of=LATER)
        assert nation == supporters_report(engine, NATIONAL_AUDITOR, fy)
        rows = {r["tenant"]: r for r in nation["registrars"]}
        assert not {t for t in rows if t[:2] in ("40", "99") or t == "012041"}, "a demo registrar in the nation's"
        for tenant, row in rows.items():
            own = supporters_report(engine, principal("municipal_officer", tenant), fy, as_of=LATER)
            assert own["registrars"] == [row]
            seen += 1
        for prefecture in ("130001", "270008"):
            narrowed = supporters_report(engine, MINISTRY, fy, prefecture=prefecture)["registrars"]
            assert narrowed == [r for t, r in rows.items() if t[:2] == prefecture[:2]]
        demo = supporters_report(engine, NATIONAL_AUDITOR, fy, prefecture="400009")["registrars"]
        assert demo == supporters_report(engine, principal("prefecture_officer", "400009"), fy)["registrars"]
        instant = datetime.combine(_day(rnd), datetime.min.time(), UTC)
        then = supporters_report(engine, MINISTRY, fy, as_of=instant)
        assert then["total"] == {k: sum(r[k] for r in then["registrars"]) for k in then["total"]}
    assert seen > 10
