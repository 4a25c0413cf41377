"""ひきこもりサポーター per registrar, and サポーターの活動件数 per municipality against last year."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from libs.domain.dispatch import END_REASONS
from services.reporting.projections import ReportingProjection
from services.reporting.projections.tallies import dispatch_event_pivot
from services.reporting.queries import dispatch_report, supporters_report
from services.reporting.tests.conftest import CHIYODA, CHUO, MINISTRY, OSAKA, OSAKA_CITY, TOKYO, principal

DEMO = "990001"  # a demo prefecture part (libs/domain/codes.DEMO_PREFECTURE_PARTS)


def test_registered_at_the_end_of_the_year_is_the_terms_current_on_31_march(feed, engine):
    feed.registered(TOKYO, "2016-05-01", "2019-03-31")
    ended = feed.registered(TOKYO, "2015-04-01", "2017-03-30")  # term ended the day before
    feed.registered(TOKYO, "2016-06-01", "2019-03-31", supporter_id="withdrew")
    feed.withdrawn(TOKYO, "withdrew", "2017-03-31")  # withdrawn on 31 March: not registered that night
    revoked = feed.registered(TOKYO, "2016-07-01", "2019-03-31")
    feed.revoked(TOKYO, revoked, "2017-04-02")  # revoked after the year's end: still counted
    renewed = feed.registered(TOKYO, "2014-04-01", "2016-12-31")
    feed.renewed(TOKYO, renewed, "2016-12-01", "2017-01-01", "2019-12-31")
    feed.expired(TOKYO, ended, "2017-03-30")
    feed.roster(TOKYO, CHIYODA, "2016-09-01", entries=3)
    feed.roster(TOKYO, CHUO, "2016-09-02", entries=2)
    report = supporters_report(engine, MINISTRY, 2016)
    assert report["fy_end"] == "2017-03-31"
    assert report["total"] == {"newly_registered": 3, "renewed": 1, "withdrawn": 1, "revoked": 0, "expired": 1,
                               "registered_at_fy_end": 3, "rosters_provided": 2, "roster_entries": 5}
    assert [r["tenant"] for r in report["registrars"]] == [TOKYO]
    assert supporters_report(engine, MINISTRY, 2017)["total"]["revoked"] == 1


def test_a_supporter_who_withdrew_and_registered_again_counts_with_the_new_term(feed, engine):
    s = feed.registered(TOKYO, "2015-04-01", "2018-03-31")
    feed.withdrawn(TOKYO, s, "2015-10-01")
    feed.registered(TOKYO, "2016-04-01", "2019-03-31", supporter_id=s)
    assert supporters_report(engine, MINISTRY, 2015)["total"]["registered_at_fy_end"] == 0
    assert supporters_report(engine, MINISTRY, 2016)["total"]["registered_at_fy_end"] == 1


def test_each_registrar_has_its_own_figures_whichever_of_terms_endings_rosters_or_year_end_it_appears_in(
        feed, engine):
    """The report reads the four per-registrar sources in one statement (the registrars of any of
    them, each source joined by registrar): a registrar found in one source alone still gets its
    row, each figure from its own column, and the scope's filter applies to every source alike."""
    feed.roster(TOKYO, CHIYODA, "2016-09-01", entries=4)  # TOKYO: a roster only
    withdrew = feed.registered(CHIYODA, "2015-05-01", "2018-03-31")
    feed.withdrawn(CHIYODA, withdrew, "2016-10-01")  # CHIYODA: a withdrawal only
    feed.registered(CHUO, "2015-06-01", "2019-03-31")  # CHUO: registered at the year's end only
    feed.registered(OSAKA, "2016-05-01", "2019-03-31")
    renewed = feed.registered(OSAKA, "2013-07-01", "2016-06-30")
    feed.renewed(OSAKA, renewed, "2016-06-01", "2016-07-01", "2019-06-30")
    revoked = feed.registered(OSAKA, "2015-04-01", "2018-03-31")
    feed.revoked(OSAKA, revoked, "2016-12-01")
    feed.roster(OSAKA, OSAKA_CITY, "2016-08-01", entries=2)
    expired = feed.registered(OSAKA_CITY, "2014-04-01", "2016-06-30")
    feed.expired(OSAKA_CITY, expired, "2016-06-30")  # OSAKA_CITY: an expiry only
    feed.registered(DEMO, "2016-05-01", "2019-03-31")  # a demo registrar: never in the nation's report
    feed.roster(DEMO, DEMO, "2016-08-01", entries=9)
    zero = dict.fromkeys(("newly_registered", "renewed", "withdrawn", "revoked", "expired", "registered_at_fy_end",
                          "rosters_provided", "roster_entries"), 0)
    rows = {
        TOKYO: zero | {"rosters_provided": 1, "roster_entries": 4},
        CHIYODA: zero | {"withdrawn": 1},
        CHUO: zero | {"registered_at_fy_end": 1},
        OSAKA: zero | {"newly_registered": 1, "renewed": 1, "revoked": 1, "registered_at_fy_end": 2,
                       "rosters_provided": 1, "roster_entries": 2},
        OSAKA_CITY: zero | {"expired": 1},
    }
    report = supporters_report(engine, MINISTRY, 2016)
    assert report["registrars"] == [{"tenant": tenant, **figures} for tenant, figures in rows.items()]
    assert report["total"] == {k: sum(r[k] for r in rows.values()) for k in zero}
    assert report == supporters_report(engine, MINISTRY, 2016, as_of=datetime(2100, 1, 1, tzinfo=UTC))
    tokyo = supporters_report(engine, principal("prefecture_officer", TOKYO), 2016)["registrars"]
    assert [r["tenant"] for r in tokyo] == [TOKYO, CHIYODA, CHUO]
    osaka = supporters_report(engine, MINISTRY, 2016, prefecture=OSAKA)["registrars"]
    assert [r["tenant"] for r in osaka] == [OSAKA, OSAKA_CITY]
    assert supporters_report(engine, MINISTRY, 2015)["registrars"] == [  # the year before: no roster
        {"tenant": tenant, **zero, "newly_registered": new, "registered_at_fy_end": at_end}
        for tenant, new, at_end in ((CHIYODA, 1, 1), (CHUO, 1, 1), (OSAKA, 1, 2), (OSAKA_CITY, 0, 1))]


def test_activity_counts_by_type_are_compared_with_the_previous_year_per_municipality_and_in_total(feed, engine):
    chiyoda = feed.dispatch_started(CHIYODA, "2015-06-01")
    chuo = feed.dispatch_started(CHUO, "2016-06-01")
    for day in ("2015-06-10", "2016-03-31"):
        feed.activity(CHIYODA, chiyoda, day)
    feed.activity(CHIYODA, chiyoda, "2016-04-01", "interview")
    feed.activity(CHIYODA, chiyoda, "2016-05-01", "accompanied_outing")
    feed.activity(CHUO, chuo, "2016-06-10", "case_meeting")
    feed.dispatch_ended(CHIYODA, chiyoda, "2016-06-30", "subject_requested_stop")
    report = dispatch_report(engine, MINISTRY, 2016)
    rows = {r["tenant"]: r for r in report["municipalities"]}
    assert rows[CHIYODA]["activities"] == {"visit": 0, "interview": 1, "accompanied_outing": 1, "case_meeting": 0,
                                           "other": 0}
    def against_last_year(row: dict) -> tuple[int, int, bool]:
        return row["activity_total"], row["previous_activity_total"], row["met"]

    assert against_last_year(rows[CHIYODA]) == (2, 2, False)  # equal is not above
    assert against_last_year(rows[CHUO]) == (1, 0, True)
    assert rows[CHIYODA]["ended_by_reason"]["subject_requested_stop"] == 1 and rows[CHUO]["started"] == 1
    total = report["total"]
    assert against_last_year(total) == (3, 2, True)
    assert (report["previous_fy"], report["previous_label"]) == (2015, "平成27年度")


def test_activities_of_deployed_supporters_count_by_kind_and_towards_the_yearly_target(feed, engine):
    visit = feed.dispatch_started(CHIYODA, "2015-06-01")
    feed.activity(CHIYODA, visit, "2015-07-01")
    place = feed.deployed(CHIYODA, "place", "2015-04-01")
    feed.deployment_activity(CHIYODA, place, "2015-08-01")  # last year: 2 in all
    programme = feed.deployed(CHIYODA, "programme", "2016-04-01")
    feed.deployment_activity(CHIYODA, place, "2016-05-01")
    feed.deployment_activity(CHIYODA, programme, "2016-05-02")
    feed.deployment_activity(CHIYODA, programme, "2016-05-03")
    row = dispatch_report(engine, MINISTRY, 2016)["municipalities"][0]
    assert row["activities_by_kind"] == {"person": 0, "place": 1, "programme": 2, "agency": 0}
    assert (row["activity_total"], row["previous_activity_total"], row["met"]) == (3, 2, True)


def test_an_activity_type_no_pivot_column_names_is_reported_under_its_code_and_counted(feed, engine):
    """The report reads one row per municipality from the activities' pivot (a column per known
    type); a type it does not know (an event of a later version) comes from the tally's cells."""
    chiyoda = feed.dispatch_started(CHIYODA, "2016-06-01")
    chuo = feed.dispatch_started(CHUO, "2016-06-01")
    feed.activity(CHIYODA, chiyoda, "2016-06-10", "interview")
    feed.activity(CHIYODA, chiyoda, "2016-06-11", "peer_session")
    feed.activity(CHIYODA, chiyoda, "2016-06-12", "peer_session")
    feed.activity(CHUO, chuo, "2016-06-10", "visit")
    feed.activity(CHUO, chuo, "2015-06-10", "peer_session")
    report = dispatch_report(engine, MINISTRY, 2016)
    rows = {r["tenant"]: r for r in report["municipalities"]}
    assert rows[CHIYODA]["activities"] == {"visit": 0, "interview": 1, "accompanied_outing": 0, "case_meeting": 0,
                                           "other": 0, "peer_session": 2}
    assert rows[CHUO]["activities"] == {"visit": 1, "interview": 0, "accompanied_outing": 0, "case_meeting": 0,
                                        "other": 0}
    assert (rows[CHUO]["activity_total"], rows[CHUO]["previous_activity_total"]) == (1, 1)
    assert report["total"]["activities"]["peer_session"] == 2 and report["total"]["activity_total"] == 4
    assert report == dispatch_report(engine, MINISTRY, 2016, as_of=datetime(2100, 1, 1, tzinfo=UTC))


def test_each_municipality_has_its_own_figures_whichever_of_activities_last_year_or_dispatches_it_appears_in(
        feed, engine):
    """The report reads its per-municipality sources in one statement (the municipalities of either
    pivot, this year or the last, or of a dispatch started or ended this year; each joined by
    municipality): a municipality found in one source alone still gets its row, each figure from its
    own column, a municipality with several end reasons one row, and the scope's filter applies to
    every source alike."""
    earlier = feed.dispatch_started(TOKYO, "2015-05-01")
    feed.dispatch_started(TOKYO, "2016-05-01")  # TOKYO: a dispatch started only
    feed.dispatch_ended(CHIYODA, earlier, "2016-07-01", "plan_completed")  # CHIYODA: two end reasons only
    feed.dispatch_ended(CHIYODA, earlier, "2016-08-01", "subject_requested_stop")
    feed.dispatch_ended(CHIYODA, earlier, "2016-09-01", "subject_requested_stop")
    feed.activity(CHUO, earlier, "2015-06-01", "interview")  # CHUO: last year's activity only
    place = feed.deployed(OSAKA, "place", "2016-04-01")
    feed.deployment_activity(OSAKA, place, "2016-05-01")  # OSAKA: a deployment's activity only
    feed.activity(OSAKA_CITY, earlier, "2016-06-01", "visit")  # OSAKA_CITY: this year's activity only
    feed.dispatch_started(DEMO, "2016-05-01")  # a demo municipality: never in the nation's report
    feed.activity(DEMO, earlier, "2016-06-01")
    report = dispatch_report(engine, MINISTRY, 2016)
    rows = {r["tenant"]: r for r in report["municipalities"]}
    assert list(rows) == [TOKYO, CHIYODA, CHUO, OSAKA, OSAKA_CITY]
    figures = {t: (r["started"], r["ended"], r["ended_by_reason"]["subject_requested_stop"], r["activity_total"],
                   r["activities_by_kind"]["place"], r["activities"]["visit"], r["previous_activity_total"])
               for t, r in rows.items()}
    assert figures == {TOKYO: (1, 0, 0, 0, 0, 0, 0), CHIYODA: (0, 3, 2, 0, 0, 0, 0), CHUO: (0, 0, 0, 0, 0, 0, 1),
                       OSAKA: (0, 0, 0, 1, 1, 0, 0), OSAKA_CITY: (0, 0, 0, 1, 0, 1, 0)}
    assert (report["total"]["started"], report["total"]["ended"], report["total"]["activity_total"]) == (1, 3, 2)
    assert report == dispatch_report(engine, MINISTRY, 2016, as_of=datetime(2100, 1, 1, tzinfo=UTC))
    tokyo = dispatch_report(engine, principal("prefecture_officer", TOKYO), 2016)["municipalities"]
    assert [r["tenant"] for r in tokyo] == [TOKYO, CHIYODA, CHUO]
    osaka = dispatch_report(engine, MINISTRY, 2016, prefecture=OSAKA)["municipalities"]
    assert [r["tenant"] for r in osaka] == [OSAKA, OSAKA_CITY]


def test_a_database_of_generation_1_gets_the_dispatch_events_pivot_derived_by_the_first_replica_of_generation_2(
        feed, engine):
    """Generation 2 keeps the dispatches started and ended by reason in one row per municipality
    (tallies.dispatch_event_pivot), which the report reads. On a database projected by generation 1
    (stamped 1, no such table) the first replica of generation 2 makes it and counts it from the
    dispatch events kept: the report counts what was projected before, a reason no column names too."""
    one = feed.dispatch_started(TOKYO, "2016-05-01")
    two = feed.dispatch_started(TOKYO, "2016-06-01")
    feed.dispatch_ended(TOKYO, one, "2016-07-01", reason="supporter_withdrew")
    feed.dispatch_ended(TOKYO, two, "2016-08-01", reason="moved_away")
    feed.dispatch_ended(CHIYODA, feed.dispatch_started(CHIYODA, "2015-05-01"), "2016-09-01")
    projected = dispatch_report(engine, MINISTRY, 2016)
    pivot = dispatch_event_pivot.wide.table
    with engine.begin() as conn:
        pivot.drop(conn)
        conn.execute(update(feed.projection.stamps).values(generation=1))
    ReportingProjection(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(pivot.c.n))).scalar_one() == 6
    report = dispatch_report(engine, MINISTRY, 2016)
    assert report == projected == dispatch_report(engine, MINISTRY, 2016, as_of=datetime(2100, 1, 1, tzinfo=UTC))
    ended = dict.fromkeys(END_REASONS, 0)
    assert [(r["tenant"], r["started"], r["ended"], r["ended_by_reason"]) for r in report["municipalities"]] == [
        (TOKYO, 2, 2, ended | {"supporter_withdrew": 1, "moved_away": 1}),
        (CHIYODA, 0, 1, ended | {"plan_completed": 1})]
