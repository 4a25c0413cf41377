"""Attack (h-attack1 on merge-s29): a replica of the next release killed (kill -9) in the middle of its
take-over (readmodels/stamps.StampedProjection.take_over: the stamp row taken, the count tables being
derived), beside a replica of this release that keeps projecting. Held when the stamp stays where it
was (it never moves back or half-forward), the older replica's batch that waited for the take-over
commits once the killed one's transaction is gone, the older replica stays current (no wrong stand
down, its reports and an as-of report answered), and a newer replica started again takes over."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime

from sqlalchemy import text

from services.reporting import projections
from services.reporting.projections import ReportingProjection
from services.reporting.queries import supporters_report
from services.reporting.tests.conftest import MINISTRY, TOKYO
from services.reporting.tests.test_stamps import _consultations

NEWER = projections.GENERATION + 1
# The next release's replica, its derivation slowed down so the kill finds it mid-way.
REPLICA = textwrap.dedent("""
    import sys, time
    from sqlalchemy import create_engine
    from libs.platform.store.db import sqlite_engine
    from services.reporting import projections
    url, search_path, generation = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = (sqlite_engine(url) if url.startswith("sqlite") else
              create_engine(url, connect_args={"options": f"-csearch_path={search_path}"}))
    derive_all = projections.derive_all

    def slow(conn, tallies):
        derive_all(conn, tallies)
        print("deriving", flush=True)
        time.sleep(120)

    projections.derive_all = slow
    projections.ReportingProjection(engine, generation=generation)
    print("took over", flush=True)
""")


def test_a_newer_replica_killed_mid_take_over_moves_no_stamp_and_stands_no_older_one_down(feed, engine):
    old = feed.projection
    case = feed.case(feed.centre(TOKYO))
    feed.consultation(case, "2016-06-01T10:00:00+09:00")
    feed.registered(TOKYO, "2016-05-01", "2019-03-31")
    before = supporters_report(engine, MINISTRY, 2016)
    with engine.connect() as conn:
        search_path = "" if engine.dialect.name == "sqlite" else conn.execute(text("SHOW search_path")).scalar_one()
    url = engine.url.render_as_string(hide_password=False)
    replica = subprocess.Popen([sys.executable, "-c", REPLICA, url, search_path, str(NEWER)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert replica.stdout is not None and replica.stdout.readline().strip() == "deriving"
        feed.batch = 100  # the older replica's next batch: it waits for the take-over under way
        feed.consultation(case, "2016-07-01T10:00:00+09:00")
        flushed = threading.Thread(target=feed.flush)
        flushed.start()
        flushed.join(1.0)
        assert flushed.is_alive(), "the older replica's batch did not wait for the take-over"
        replica.kill()
        replica.wait(timeout=30)
        flushed.join(60)
        assert not flushed.is_alive()
    finally:
        replica.kill()
        replica.wait(timeout=30)
    assert old.stamp() == projections.GENERATION and old.superseded() is None
    assert _consultations(engine) == 2  # the batch that waited committed
    old.require_current()  # its reports are answered, as of an instant too
    assert supporters_report(engine, MINISTRY, 2016) == before
    assert supporters_report(engine, MINISTRY, 2016, as_of=datetime(2100, 1, 1, tzinfo=UTC)) == before
    feed.batch = None
    feed.consultation(case, "2016-08-01T10:00:00+09:00")  # and it goes on projecting
    assert _consultations(engine) == 3
    new = ReportingProjection(engine, generation=NEWER)  # started again: it takes over
    assert new.stamp() == NEWER and old.superseded() is not None
