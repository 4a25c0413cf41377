"""A replica paused inside a save does not stop the other replicas' writes (issue 16; seen as
test_replicas' "SIGSTOP of the holder": no request accepted for 30 s under load). Every insert
into a service's event table takes its lock until commit; a replica stopped by SIGSTOP between the
lock and the commit held it for as long as it stayed stopped. With replicas every connection ends a
transaction left idle for longer than a lease (store/db.py), so the others wait one lease at most."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from tests.harness import backend

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]


def test_a_save_left_idle_with_the_event_tables_lock_holds_up_other_writes_for_one_lease_at_most(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0)
    store = intake.runtime.application.factory.datastore.engine  # the event store's own engine
    paused = store.connect()  # what a replica stopped in the middle of a save holds
    paused.begin()
    paused.execute(text("LOCK TABLE intake_events IN EXCLUSIVE MODE"))
    try:
        with intake.client(role="prefecture_officer", org="130001") as officer:
            officer.timeout = 15
            started = time.monotonic()
            r = officer.post("/v1/centres", json={"name": "東京都ひきこもり地域支援センター", "kind": "adult",
                                                  "prefecture": "130001"})
            waited = time.monotonic() - started
        assert r.status_code == 201, r.text
        assert waited < 6, f"the write waited {waited:.1f} s behind an idle transaction"
    finally:
        paused.invalidate()  # its session was ended by the server
