"""Versioned events: a CaseOpened stored as v1 (before the municipality of residence existed) is
upcast on read and published as the current v2 contract."""

from __future__ import annotations

import json
import os
from uuid import uuid4

from sqlalchemy import text

from libs.domain.contracts import event_type
from libs.domain.intake import CaseOpened
from libs.platform.db import eventsourcing_env, make_engine
from libs.platform.log import LogReader
from libs.platform.sealing import Sealer
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import Database


def test_an_old_v1_case_opened_is_read_and_published_through_the_current_code(tmp_path):
    database = Database(tmp_path)
    settings = database.settings("intake", "nats://127.0.0.1:1")
    opened: list = []  # applications and engines, released even when the test fails
    try:
        engine = make_engine(settings)
        app = IntakeApplication(eventsourcing_env(settings), Sealer(engine, os.urandom(32)))
        opened += [engine, app]
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="family", age_group="adult",
                         residence_municipality="131016", personal_details=None)
        app.save(case)
        with engine.begin() as conn:  # rewrite the stored event as the Foundation slice wrote it (v1)
            state = json.loads(bytes(conn.execute(text("SELECT state FROM intake_events")).scalar_one()))
            assert state.pop("class_version") == 2
            del state["residence_municipality"]
            conn.execute(text("UPDATE intake_events SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = IntakeApplication(eventsourcing_env(settings), Sealer(engine, os.urandom(32)))
        opened.append(fresh)
        reloaded = fresh.repository.get(case.id)
        assert (reloaded.residence_municipality, reloaded.client_kind) == (None, "family")
        [envelope] = LogReader("intake", fresh).read(0, 10)
        assert envelope.type == event_type(CaseOpened) == "jp.tsunagu.intake.CaseOpened.v2"
        assert envelope.data["residence_municipality"] is None and envelope.data["client_kind"] == "family"
    finally:
        for closable in opened:
            closable.dispose() if hasattr(closable, "dispose") else closable.close()
        database.drop()
