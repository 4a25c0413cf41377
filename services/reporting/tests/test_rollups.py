"""A nationwide report of the present reads a roll-up's national cells less the hidden units' cells
(queries/common.rolled_up); it must say what the same report says from the tally's own cells of the
visible units. Over random facts (bulk-inserted, their tallies derived), with what the subtraction
has to take out: a demo centre on a real local government's code (its whole tenant drops out of the
national tables), a demo prefecture part, and facts of a centre that was never registered.

The report from the facts (`as_of` after every fact) filters cell by cell, as the tally's own path
does; the present one for a prefecture's officer goes the tally's own way too, and each must agree.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from sqlalchemy import insert

from libs.domain import intake
from services.reporting.projections import centres
from services.reporting.projections.tables import backoffice_supports, group_activities, place_sessions, referrals
from services.reporting.projections.tallies import derive_all
from services.reporting.queries import programmes_report, referral_report
from services.reporting.tests.conftest import CHIYODA, CHUO, MINISTRY, OSAKA, OSAKA_CITY, TOKYO, principal

DEMO = "990001"
AFTER_ALL = datetime(2100, 1, 1, tzinfo=UTC)
NATIONWIDE = (MINISTRY, principal("auditor", "000000"))


def _facts(conn, rng: random.Random) -> None:
    registered = [(str(uuid4()), tenant, demo) for tenant, demo in
                  ((TOKYO, False), (CHIYODA, False), (CHUO, True), (OSAKA, False), (OSAKA_CITY, False), (DEMO, False))]
    conn.execute(insert(centres), [{"centre_id": c, "tenant": t, "name": c, "kind": "adult", "site": "main",
                                    "registered_at": datetime(2010, 4, 1, tzinfo=UTC), "registered_fy": 2010,
                                    "demo": demo} for c, t, demo in registered])
    unit = [(c, t) for c, t, _ in registered] + [(str(uuid4()), TOKYO)]  # the last one never registered
    places = [(str(uuid4()), t) for _, t in unit]
    rows: dict = {referrals: [], group_activities: [], backoffice_supports: [], place_sessions: []}
    for _ in range(rng.randint(0, 300)):
        fy, (centre, tenant) = rng.choice((2015, 2016)), rng.choice(unit)
        on = date(fy, rng.randint(4, 12), rng.randint(1, 28))
        base = {"event_id": str(uuid4()), "tenant": tenant, "fy": fy, "time": datetime(fy, 12, 1, tzinfo=UTC)}
        kind = rng.choice(list(rows))
        if kind is referrals:
            row = {"referral_id": "r", "case_id": "k", "centre_id": centre, "agency_id": "a", "referred_on": on,
                   "agency_category": rng.choice(("hello_work", "welfare_office", "medical_institution", "new_code"))}
        elif kind is group_activities:
            row = {"kind": rng.choice(intake.GROUP_ACTIVITY_KINDS), "held_on": on, "participants": rng.randint(1, 9)}
        elif kind is backoffice_supports:
            row = {"centre_id": centre, "kind": rng.choice(intake.BACKOFFICE_KINDS), "recipient_kind": "municipality",
                   "given_on": on}
        else:
            place, base["tenant"] = rng.choice(places)
            row = {"place_id": place, "held_on": on, "participants": rng.randint(1, 9), "supporters": rng.randint(0, 3)}
        rows[kind].append(base | row)
    for table, found in rows.items():
        if found:
            conn.execute(insert(table), found)
    derive_all(conn)


@pytest.mark.parametrize("seed", range(6))
def test_a_nationwide_report_from_the_roll_ups_equals_the_one_from_the_cells_of_each_unit(seed, projection, engine):
    rng = random.Random(seed)
    with engine.begin() as conn:
        _facts(conn, rng)
    for report in (referral_report, programmes_report):
        for actor in NATIONWIDE:
            for fy in (2015, 2016, 2017):
                assert report(engine, actor, fy) == report(engine, actor, fy, as_of=AFTER_ALL), (report, actor, fy)
    officer = principal("prefecture_officer", TOKYO)
    assert (referral_report(engine, officer, 2016)
            == referral_report(engine, officer, 2016, as_of=AFTER_ALL))


def test_a_place_whose_every_session_is_hidden_is_not_counted(projection, engine):
    place = str(uuid4())
    with engine.begin() as conn:
        conn.execute(insert(centres), [{"centre_id": "demo-centre", "tenant": CHUO, "name": "d", "kind": "adult",
                                        "site": "main", "registered_at": datetime(2010, 4, 1, tzinfo=UTC),
                                        "registered_fy": 2010, "demo": True}])
        conn.execute(insert(place_sessions), [
            {"event_id": str(uuid4()), "tenant": tenant, "fy": 2016, "time": datetime(2016, 6, 1, tzinfo=UTC),
             "place_id": where, "held_on": date(2016, 6, 1), "participants": 4, "supporters": 1}
            for tenant, where in ((CHUO, place), (CHUO, place), (CHIYODA, "shared"), (CHUO, "shared"))])
        derive_all(conn)
    report = programmes_report(engine, MINISTRY, 2016)
    assert (report["places"], report["place_sessions"], report["place_participants"]) == (1, 1, 4)
    assert report == programmes_report(engine, MINISTRY, 2016, as_of=AFTER_ALL)
