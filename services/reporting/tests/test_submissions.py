"""A report submission is made once per Idempotency-Key (issue 18), on tables made before keys were
kept too, and when requests with one key race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text

from libs.platform.web.auth import Principal
from services.reporting.submissions import create_tables, submissions, submit_table
from services.reporting.tests.conftest import MINISTRY

SECRET = bytes(range(32))  # the service's REPORTING_IDEMPOTENCY_KEY


class Whole:
    """The read models were whole throughout (no rebuild began during the query)."""

    def run(self, query: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return query()


def _table(engine: Engine, actor: Principal, fy: int) -> dict[str, Any]:
    return {"fy": fy, "total": 3}


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(submissions)).scalar_one()


def test_a_submissions_table_made_before_keys_were_kept_gets_the_key_column_and_its_unique_index(engine):
    with engine.begin() as conn:  # the table as the release before made it, with a submission
        conn.execute(text("CREATE TABLE report_submissions (submission_id VARCHAR(36) PRIMARY KEY, "
                          "report VARCHAR(32) NOT NULL, fy INTEGER NOT NULL, org VARCHAR(64) NOT NULL, "
                          "submitted_by VARCHAR(200) NOT NULL, submitted_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                          "body JSON NOT NULL)"))
        conn.execute(text("INSERT INTO report_submissions VALUES ('old', 'referrals', 2015, 'mhlw', 'm', "
                          "'2016-04-30 00:00:00+00:00', '{}')"))
    create_tables(engine)
    assert "key_digest" in {c["name"] for c in inspect(engine).get_columns("report_submissions")}
    assert any(i["unique"] and i["column_names"] == ["key_digest"]
               for i in inspect(engine).get_indexes("report_submissions"))
    first, created = submit_table(engine, MINISTRY, "referrals", 2016, _table, Whole(), idempotency_key="k",
                                  secret=SECRET)
    again, retried = submit_table(engine, MINISTRY, "referrals", 2016, _table, Whole(), idempotency_key="k",
                                  secret=SECRET)
    assert (created, retried) == (True, False) and again["submission_id"] == first["submission_id"]
    assert _count(engine) == 2  # the old submission and the keyed one


def test_submissions_racing_with_one_key_write_one_row_and_all_answer_it(engine):
    create_tables(engine)
    racers = 4
    # Every request has found no submission with the key before any of them writes: the losers
    # fail on the unique index and must answer the winner's submission, not a 500.
    all_queried = threading.Barrier(racers, timeout=10)

    def table(engine: Engine, actor: Principal, fy: int) -> dict[str, Any]:
        all_queried.wait()
        return _table(engine, actor, fy)

    def submit(_: int) -> tuple[dict, bool]:
        return submit_table(engine, MINISTRY, "consultations", 2016, table, Whole(), idempotency_key="raced",
                            secret=SECRET)

    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(submit, range(racers)))
    assert sorted(created for _, created in answers) == [False] * (racers - 1) + [True]
    assert len({row["submission_id"] for row, _ in answers}) == 1
    assert _count(engine) == 1
