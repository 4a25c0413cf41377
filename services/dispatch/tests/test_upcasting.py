"""Versioned dispatch events: DispatchSuspended v1 took a free-text reason and ActivityReported v1
published its その他 texts in clear. Stored v1 events replay through the current code and are
published as v2, with nothing of the old text repeated in clear."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

from sqlalchemy import text

from libs.platform.store.log import LogReader
from services.dispatch.application import DispatchApplication
from services.dispatch.tests.builders import _agree_plan, _assign, _consent, _request
from tests.harness import stored_applications


def test_old_v1_suspensions_and_reports_replay_and_are_published_as_v2(tmp_path):
    with stored_applications(tmp_path, "dispatch", DispatchApplication) as (engine, application):
        app = application()
        dispatch = _request()  # every event kept, so the whole dispatch is stored
        supporter_id = _assign(dispatch)
        _consent(dispatch)
        dispatch.accept_as_supporter(supporter_id=supporter_id, accepted_on=date(2017, 4, 12))
        _agree_plan(dispatch)
        dispatch.start(started_on=date(2017, 4, 20), supporter_problems=[])
        dispatch.report_activity(report_id=uuid4(), supporter_id=supporter_id, reported_on=date(2017, 5, 2),
                                 activity_date=date(2017, 5, 1), starts_at="10:00", ends_at="11:00",
                                 activity_type="other", activity_type_other={"sealed": "x"}, next_step="continue",
                                 next_step_other=None, narrative={"sealed": "y"})
        dispatch.suspend(reason="other", suspended_on=date(2017, 5, 3))
        app.save(dispatch)
        with engine.begin() as conn:  # rewrite both as v1 wrote them
            rows = conn.execute(text("SELECT originator_version, topic, state FROM dispatch_events")).all()
            for version, topic, raw in rows:
                state = json.loads(bytes(raw))
                if topic.endswith("DispatchSuspended"):
                    state.pop("class_version"), state.pop("note")
                    state["reason"] = "本人の体調が悪いため"
                elif topic.endswith("ActivityReported"):
                    state.pop("class_version")
                    state["activity_type_other"] = "図書館へ同行"
                else:
                    continue
                conn.execute(text("UPDATE dispatch_events SET state = :s WHERE originator_version = :v"),
                             {"s": json.dumps(state).encode(), "v": version})

        fresh = application()
        assert fresh.repository.get(dispatch.id).status == "suspended"
        published = {e.name: e for e in LogReader("dispatch", fresh).read(0, 50)}
        suspended, reported = published["DispatchSuspended"], published["ActivityReported"]
        assert suspended.type.endswith(".v2") and reported.type.endswith(".v2")
        assert (suspended.data["reason"], suspended.data["note"]) == ("other", None)
        assert reported.data["activity_type_other"] is None and reported.data["activity_type"] == "other"
        assert "本人の体調" not in suspended.to_json().decode() and "図書館" not in reported.to_json().decode()


def test_an_old_v1_erasure_replays_and_is_published_as_v2_the_municipalitys_own(tmp_path):
    with stored_applications(tmp_path, "dispatch", DispatchApplication) as (engine, application):
        app = application()
        dispatch = _request()
        dispatch.end(reason="subject_requested_stop", ended_on=date(2017, 4, 20))
        dispatch.erase(erased_on=date(2017, 4, 21), basis="request_granted")
        app.save(dispatch)
        with engine.begin() as conn:  # rewrite the erasure as v1 wrote it
            for version, topic, raw in conn.execute(text("SELECT originator_version, topic, state "
                                                         "FROM dispatch_events")).all():
                if topic.endswith("SubjectDataErased"):
                    state = json.loads(bytes(raw))
                    for v2_only in ("class_version", "cause", "cause_event_id"):
                        state.pop(v2_only)
                    conn.execute(text("UPDATE dispatch_events SET state = :s WHERE originator_version = :v"),
                                 {"s": json.dumps(state).encode(), "v": version})

        fresh = application()
        assert fresh.repository.get(dispatch.id).erased
        erased = {e.name: e for e in LogReader("dispatch", fresh).read(0, 50)}["SubjectDataErased"]
        assert erased.type.endswith(".v2")
        assert (erased.data["basis"], erased.data["cause"], erased.data["cause_event_id"]) == \
            ("request_granted", None, None)
