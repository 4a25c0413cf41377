"""Attack (h-attack on merge-s27): who reaches the national roll-up path (queries/scope.nationwide)?
Only the ministry and a national auditor, for the present, with no prefecture named. A prefecture's or
a municipality's officer, a prefectural auditor, a centre, a token that pairs a local role with a
national org, and the ministry naming a prefecture or an as_of all go the tally's own path, filtered
by their scope; and a demo centre's facts never reach the national figure while its prefecture's
officer still sees them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from sqlalchemy import insert

from libs.domain.audit import NATIONAL
from libs.platform.web.auth import Principal
from services.reporting.projections import centres
from services.reporting.projections.tables import referrals
from services.reporting.projections.tallies import derive_all
from services.reporting.queries import referral_report
from services.reporting.queries.scope import nationwide
from services.reporting.tests.conftest import CHIYODA, CHUO, MINISTRY, TOKYO, principal


def test_only_the_ministry_and_a_national_auditor_take_the_roll_up_path():
    local = [principal("prefecture_officer", TOKYO), principal("municipal_officer", CHIYODA),
             principal("auditor", TOKYO), principal("centre_staff", str(uuid4())),
             principal("prefecture_officer", NATIONAL), principal("municipal_officer", NATIONAL),
             Principal(sub="x", org=TOKYO, roles=frozenset({"auditor", "prefecture_officer"}))]
    assert not any(nationwide(actor, None, None) for actor in local)
    assert not nationwide(MINISTRY, None, TOKYO)
    assert not nationwide(MINISTRY, datetime(2017, 1, 1, tzinfo=UTC), None)
    assert nationwide(MINISTRY, None, None) and nationwide(principal("auditor", NATIONAL), None, None)


@pytest.fixture
def referrals_of_a_real_and_a_demo_centre(projection, engine):
    """FY2016: one referral of a real centre (Chiyoda), two of a demo centre (Chuo); tallies derived."""
    real, demo = str(uuid4()), str(uuid4())
    with engine.begin() as conn:
        conn.execute(insert(centres), [{"centre_id": c, "tenant": t, "name": c, "kind": "adult", "site": "main",
                                        "registered_at": datetime(2010, 4, 1, tzinfo=UTC), "registered_fy": 2010,
                                        "demo": d} for c, t, d in ((real, CHIYODA, False), (demo, CHUO, True))])
        conn.execute(insert(referrals), [
            {"event_id": str(uuid4()), "tenant": tenant, "fy": 2016, "time": datetime(2016, 6, 1, tzinfo=UTC),
             "referral_id": "r", "case_id": "k", "centre_id": centre, "agency_id": "a",
             "referred_on": date(2016, 6, 1), "agency_category": "hello_work"}
            for centre, tenant in ((real, CHIYODA), (demo, CHUO), (demo, CHUO))])
        derive_all(conn)


def total(engine, actor: Principal, **kw) -> int:
    return referral_report(engine, actor, 2016, **kw)["detailed"]["total"]


AFTER_ALL = datetime(2100, 1, 1, tzinfo=UTC)


def test_a_demo_centres_referrals_leave_the_national_figure_and_stay_in_their_prefectures(
        referrals_of_a_real_and_a_demo_centre, engine):
    assert total(engine, MINISTRY) == 1 == total(engine, MINISTRY, as_of=AFTER_ALL)
    assert total(engine, principal("prefecture_officer", TOKYO)) == 3  # the demo centre's own prefecture sees it
    assert total(engine, principal("auditor", TOKYO)) == 3


def test_a_national_auditors_nationwide_figure_leaves_out_the_demo_centres_as_the_ministrys_does(
        referrals_of_a_real_and_a_demo_centre, engine):
    """The national auditor checks the ministry's figure: both leave the demo out, through the roll-up
    (the present) and through the cells (as_of); naming the demo's prefecture shows its rows."""
    auditor = principal("auditor", NATIONAL)
    assert total(engine, auditor) == total(engine, auditor, as_of=AFTER_ALL) == total(engine, MINISTRY) == 1
    assert total(engine, auditor, prefecture=TOKYO) == 3
    assert total(engine, MINISTRY, prefecture=TOKYO) == 1
