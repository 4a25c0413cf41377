"""Attack (h-attack1 on merge-s29): supporters_report in one statement (queries/supporters.py) on random
registries. Measured against main's four statements (not kept: a script loaded main's module) on 8
random registries, both backends, 735 reports each (7 fiscal years × 7 callers × 5 prefecture filters ×
3 instants): no figure differed. What stays here are the invariants a join or a filter gone wrong
breaks: the report of the present is the report as of a later instant, each registrar's row in the
nation's report is its own municipality's report, and a prefecture filter keeps the nation's rows of
that prefecture (a demo prefecture's named by a national auditor) and nothing else."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

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


def agrees_across_scopes(engine: Engine, report: Callable[..., dict], fy: int, rows_key: str) -> dict[str, dict]:
    """The invariants of a per-local-government report of `fy` (its rows under `rows_key`): the
    nation's report of the present is the one as of a later instant and the national auditor's, it
    holds no demo tenant, each of its rows is that local government's own report, a prefecture filter
    keeps its rows of that prefecture, and a national auditor naming the demo prefecture sees what its
    officer sees. The nation's rows, by tenant."""
    nation = report(engine, MINISTRY, fy)
    assert nation == report(engine, MINISTRY, fy, as_of=LATER)
    assert nation == report(engine, NATIONAL_AUDITOR, fy)
    rows = {r["tenant"]: r for r in nation[rows_key]}
    assert not {t for t in rows if t[:2] in ("40", "99") or t == "012041"}, "a demo tenant in the nation's"
    for tenant, row in rows.items():
        assert report(engine, principal("municipal_officer", tenant), fy, as_of=LATER)[rows_key] == [row]
    for prefecture in ("130001", "270008"):
        narrowed = report(engine, MINISTRY, fy, prefecture=prefecture)[rows_key]
        assert narrowed == [r for t, r in rows.items() if t[:2] == prefecture[:2]]
    demo = report(engine, NATIONAL_AUDITOR, fy, prefecture="400009")[rows_key]
    assert demo == report(engine, principal("prefecture_officer", "400009"), fy)[rows_key]
    return rows


def agrees_every_year(engine: Engine, report: Callable[..., dict], rows_key: str, years: range, rnd: random.Random,
                      summed: Callable[[list[dict], str, object], object]) -> None:
    """`agrees_across_scopes` each of `years`, and a report as of a random instant has the total of
    its rows (`summed`: one figure over the rows, given the total's value)."""
    seen = 0
    for fy in years:
        seen += len(agrees_across_scopes(engine, report, fy, rows_key))
        then = report(engine, MINISTRY, fy, as_of=datetime.combine(_day(rnd), datetime.min.time(), UTC))
        assert then["total"] == {k: summed(then[rows_key], k, v) for k, v in then["total"].items()}
    assert seen > 10


@pytest.mark.parametrize("seed", [1, 2])
def test_supporters_report_on_a_random_registry_agrees_with_itself_across_scopes_and_instants(feed, engine, seed):
    rnd = random.Random(seed)
    _registry(feed, rnd)
    agrees_every_year(engine, supporters_report, "registrars", range(2013, 2019), rnd,
                      lambda rows, key, _: sum(r[key] for r in rows))
