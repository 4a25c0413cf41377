"""`make soak` in its CI size, and the soak's own judge.

The run: a few hundred commands from concurrent clients to the four services running as real
processes on PostgreSQL, while every service is killed with SIGKILL, nats-server is killed, the
database drops every connection, a service is stopped with SIGSTOP, and on a 3-node cluster a
stream leader and the meta leader are killed. Nothing accepted may be lost, nothing duplicated,
nothing left stuck (soak/ says how each is checked).

The judge: a soak that cannot see a loss proves nothing, so each kind of loss and duplicate is
shown to it on made-up logs, streams and report rows.
"""

from __future__ import annotations

import uuid

import pytest

from soak.check import compare
from soak.commands import Command, Ledger
from tests.harness import backend

pytestmark = pytest.mark.fault


@pytest.mark.skipif(backend() != "postgresql", reason="the soak runs on PostgreSQL: the suite's PostgreSQL run has it")
def test_a_short_soak_loses_duplicates_and_strands_nothing(capsys):
    from soak.__main__ import main

    code = main(["--short"])
    table = capsys.readouterr().out
    assert code == 0, table


# -- the judge -------------------------------------------------------------------------------
judge = pytest.mark.skipif(backend() == "postgresql", reason="no database: runs in the SQLite pass")


def _consultations(n: int) -> tuple[Ledger, list[dict]]:
    """n accepted consultations and the events that record them once each."""
    ledger, events = Ledger(), []
    for i in range(n):
        consultation = str(uuid.uuid4())
        command = Command("consultation", None, "/v1/cases/c/consultations", {}, f"key-{i}", lambda b: b["id"])
        command.status, command.result = "accepted", consultation
        ledger.add(command)
        events.append({"id": f"case:{i + 1}", "type": "jp.tsunagu.intake.ConsultationRecorded.v1", "subject": "c",
                       "sequence": i + 1, "data": {"consultation_id": consultation, "idempotency_key": f"key-{i}"}})
    return ledger, events


def _judge(ledger: Ledger, stored: list[dict], published: list[dict], counted: list[str], total: int | None) -> dict:
    found = compare(ledger, {"intake": stored, "registry": [], "dispatch": []},
                    {"intake": published, "registry": [], "dispatch": []}, {"consultation": counted}, total)
    lost = sorted({what for what, _, _ in found.items if what.startswith("lost")})
    duplicated = sorted({what for what, _, _ in found.items if not what.startswith("lost")})
    return {"lost": lost, "duplicated": duplicated}


def _ids(events: list[dict]) -> list[str]:
    return [e["data"]["consultation_id"] for e in events]


@judge
def test_the_judge_finds_nothing_wrong_when_each_command_is_stored_published_and_counted_once():
    ledger, events = _consultations(5)
    assert _judge(ledger, events, events, _ids(events), 5) == {"lost": [], "duplicated": []}


@judge
def test_the_judge_sees_an_accepted_command_the_store_does_not_hold():
    ledger, events = _consultations(5)
    kept = events[:4]
    assert "lost: accepted, not stored" in _judge(ledger, kept, kept, _ids(kept), 4)["lost"]


@judge
def test_the_judge_sees_a_retry_that_recorded_a_consultation_twice():
    ledger, events = _consultations(3)
    twice = [*events, {**events[0], "id": "case:4", "sequence": 4,
                       "data": {**events[0]["data"], "consultation_id": str(uuid.uuid4())}}]
    found = _judge(ledger, twice, twice, _ids(twice), 4)
    assert "duplicated: stored, never accepted" in found["duplicated"]
    assert "duplicated: twice in 延べ相談件数" in found["duplicated"]


@judge
def test_the_judge_sees_an_event_missing_from_the_stream_and_one_published_twice():
    ledger, events = _consultations(4)
    assert "lost between store and stream" in _judge(ledger, events, events[1:], _ids(events), 4)["lost"]
    assert "duplicated on the stream" in _judge(ledger, events, [*events, events[2]], _ids(events), 4)["duplicated"]


@judge
def test_the_judge_sees_an_event_reporting_did_not_count_and_the_ministry_total_short():
    ledger, events = _consultations(4)
    found = _judge(ledger, events, events, _ids(events)[:3], 3)
    assert found["lost"] == ["lost: not in the ministry's 延べ相談件数", "lost: stored, not counted in reporting"]
