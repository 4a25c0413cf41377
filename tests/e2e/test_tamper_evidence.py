"""RFC 9162 Merkle tree, signed checkpoints and `tsunagu audit verify`: an edited, a deleted and
two reordered stored events are each detected, with the first bad sequence number; a log the
service renders otherwise than it signed fails on the signed chain head."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from libs.platform.audit import merkle
from libs.platform.audit.verify import AuditClient
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.replay import read_stream
from libs.platform.web.auth import mint_token
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_witness import _kept, signed
from tests.harness import JWT_SECRET, eventually

AUDITOR = mint_token(JWT_SECRET, sub="auditor", org="000000", roles=["auditor"])


def _log_of_seven(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for channel in ("phone", "visit", "email", "other", "phone"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": channel, "occurred_at": "2016-06-01T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    with intake.client(role="auditor", org="000000") as auditor:
        first = auditor.post("/v1/audit/checkpoints").json()
    return intake, first


def _bus(nats_server) -> list[Envelope]:
    return [Envelope.from_json(raw) for raw in asyncio.run(read_stream(nats_server.url, "INTAKE"))]


def test_an_untouched_log_verifies_with_proofs_checkpoints_and_the_bus_copy(nats_server, start_service):
    intake, first = _log_of_seven(nats_server, start_service)
    assert first["tree_size"] == 7
    with intake.client(role="centre_staff", org="some-centre") as nobody:
        assert nobody.get("/v1/audit/checkpoints").status_code == 403
    with intake.client(role="auditor", org="000000") as auditor:
        proof = auditor.get("/v1/audit/proofs/inclusion", params={"sequence": 3, "tree_size": 7}).json()
        assert proof["root_hash"] == first["root_hash"]
        assert merkle.verify_inclusion(2, 7, bytes.fromhex(proof["leaf_hash"]),
                                       [bytes.fromhex(p) for p in proof["proof"]],
                                       bytes.fromhex(first["root_hash"]))
        assert auditor.get("/v1/audit/proofs/inclusion", params={"sequence": 9, "tree_size": 7}).status_code == 422
    report = AuditClient(intake.url, AUDITOR).verify(_bus(nats_server))
    assert report.ok, report.problems
    # The one of size 7, and the service's own at start when it came after the first event.
    assert (report.events, report.checkpoints, report.bus_messages) == (7, len(signed(intake)), 7)

    out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "audit", "verify", "--url", intake.url,
                          "--token", AUDITOR, "--nats", nats_server.url, "--stream", "INTAKE"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "verified" in out.stdout, out.stdout + out.stderr


def _tampered(intake, sql: str) -> None:
    with intake.runtime.engine.begin() as conn:
        conn.execute(text(sql))


EDIT_SQLITE = ("UPDATE intake_events SET state = CAST(REPLACE(CAST(state AS TEXT), 'visit', 'email') AS BLOB) "
               "WHERE id = 4")
EDIT_PG = ("UPDATE intake_events SET state = convert_to(replace(convert_from(state, 'UTF8'), 'visit', 'email'), "
           "'UTF8') WHERE id = 4")
SWAP = ("UPDATE intake_events SET state = CASE id WHEN 5 THEN (SELECT state FROM intake_events WHERE id = 6) "
        "ELSE (SELECT state FROM intake_events WHERE id = 5) END WHERE id IN (5, 6)")


@pytest.mark.parametrize(("change", "first_bad"), [("edit", 4), ("delete", 3), ("reorder", 5)])
def test_tampering_with_the_store_is_detected_at_the_first_bad_sequence(nats_server, start_service, change, first_bad):
    intake, _ = _log_of_seven(nats_server, start_service)
    dialect = intake.runtime.engine.dialect.name
    sql = {"edit": EDIT_SQLITE if dialect == "sqlite" else EDIT_PG,
           "delete": "DELETE FROM intake_events WHERE id = 3", "reorder": SWAP}[change]
    _tampered(intake, sql)
    report = AuditClient(intake.url, AUDITOR).verify()
    assert not report.ok and report.first_bad_sequence == first_bad, report.problems
    assert any("checkpoint 7" in p or "missing" in p for p in report.problems)
    out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "audit", "verify", "--url", intake.url,
                          "--token", AUDITOR], capture_output=True, text=True)
    assert out.returncode == 1 and f"first bad sequence: {first_bad}" in out.stdout, out.stdout


def test_checkpoints_are_kept_for_witnesses_and_replay_writes_the_stream(nats_server, start_service, tmp_path):
    intake, first = _log_of_seven(nats_server, start_service)
    seen = _kept(nats_server.url, 7)
    assert seen == signed(intake) and seen[-1] == {**first, "service": "intake",
                                                   "public_key": intake.runtime.audit.public_key_hex}
    assert len(seen[-1]["public_key"]) == 64 and len(seen[-1]["chainhash"]) == 64

    out = tmp_path / "intake.jsonl"
    r = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "replay", "--nats", nats_server.url,
                        "--stream", "INTAKE", "--from-seq", "3", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["sequence"] for e in lines] == [3, 4, 5, 6, 7]
    assert all(e["type"].startswith("jp.tsunagu.intake.") for e in lines)


def test_erasing_a_person_destroys_their_data_but_the_log_still_verifies(nats_server, start_service):
    intake, before = _log_of_seven(nats_server, start_service)
    case_id = next(r for r in AuditClient(intake.url, AUDITOR)._pages("/v1/audit/records")
                   if r["topic"].endswith("Case.CaseOpened"))["originator_id"]
    centre_id = str(intake.runtime.application.repository.get(UUID(case_id)).centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get(f"/v1/cases/{case_id}").json()["personal_details"]["name"] == "山田太郎"
        r = staff.post(f"/v1/cases/{case_id}/erasure", json={"basis": "request_granted", "on": "2026-01-05"})
        assert r.status_code == 200 and r.json()["personal_details"] == "[erased]"
        assert staff.post(f"/v1/cases/{case_id}/reopening", json={"on": "2026-01-06"}).status_code == 409
        timeline = staff.get(f"/v1/cases/{case_id}/timeline").json()["events"]
        assert timeline[0]["data"]["personal_details"] == "[erased]"
        assert timeline[-1]["type"].endswith("SubjectErased.v1") and "山田" not in str(timeline[-1])
    with intake.client(role="auditor", org="000000") as auditor:
        after = auditor.post("/v1/audit/checkpoints").json()
    assert after["tree_size"] == before["tree_size"] + 1
    report = AuditClient(intake.url, AUDITOR).verify(_bus(nats_server))
    assert report.ok, report.problems  # the stored, sealed form is unchanged: every root still holds


def test_a_failed_concurrent_save_leaves_a_gap_in_the_ids_but_not_in_the_tree(nats_server, start_service):
    from eventsourcing.persistence import IntegrityError

    intake, _ = _log_of_seven(nats_server, start_service)
    app = intake.runtime.application
    case_id = next(r for r in AuditClient(intake.url, AUDITOR)._pages("/v1/audit/records")
                   if r["topic"].endswith("Case.CaseOpened"))["originator_id"]
    stale, fresh = app.repository.get(UUID(case_id)), app.repository.get(UUID(case_id))
    for copy in (fresh, stale):  # two officers' concurrent saves: the second one loses
        copy.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                 occurred_at=datetime(2016, 6, 2, tzinfo=UTC), summary=None)
    app.save(fresh)
    with pytest.raises(IntegrityError):
        app.save(stale)  # on PostgreSQL this spends a notification id
    with intake.client(role="auditor", org="000000") as auditor:
        cp = auditor.post("/v1/audit/checkpoints").json()
        proof = auditor.get("/v1/audit/proofs/inclusion", params={"sequence": app.recorder.max_notification_id(),
                                                                  "tree_size": cp["tree_size"]}).json()
    assert cp["tree_size"] == 8
    assert merkle.verify_inclusion(7, 8, bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(p) for p in proof["proof"]],
                                   bytes.fromhex(cp["root_hash"]))
    report = AuditClient(intake.url, AUDITOR).verify()
    assert report.ok, report.problems


def test_a_log_the_service_renders_otherwise_than_it_signed_fails_on_the_signed_chain_head(
    nats_server, start_service, monkeypatch,
):
    """The stored bytes and so every leaf are untouched, but the service now serves event 4 with
    other content than it published (a changed upcaster or codec, or a service showing its
    auditors one log and the bus another): only the chain head a v2 checkpoint signs catches it."""
    intake, _first = _log_of_seven(nats_server, start_service)
    log = intake.runtime.relay.reader
    honest_read = log.read

    def rewritten(after: int, limit: int) -> list[Envelope]:
        return [Envelope(**{**e.to_dict(), "data": {**e.data, "channel": "email"}}) if e.sequence == 4 else e
                for e in honest_read(after, limit)]

    monkeypatch.setattr(log, "read", rewritten)
    assert rewritten(3, 1)[0].data["channel"] == "email" != honest_read(3, 1)[0].data["channel"]
    report = AuditClient(intake.url, AUDITOR).verify()  # no bus copy to compare with
    # Only the one of size 7, unless the service's own at start came after the first events.
    sizes = [cp["tree_size"] for cp in signed(intake)]
    failing = min(s for s in sizes if s >= 4)
    before = [s for s in sizes if s < failing]
    since = f"after sequence {before[-1]}" if before else "from the start"
    assert report.problems == [f"checkpoint {failing}: the signed chain head differs from the store's: an event "
                               f"{since}, up to sequence {failing}, is not the one that was signed"]
    assert report.first_bad_sequence is None  # only located between checkpoints
    out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "audit", "verify", "--url", intake.url,
                          "--token", AUDITOR], capture_output=True, text=True)
    assert out.returncode == 1 and "signed chain head differs" in out.stdout, out.stdout
