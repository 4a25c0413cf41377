"""An upgrade that gives an event type a new version is not tampering: events published and signed
before it render upcast now, but the audit side checks them as they were published. A stored
event changed after the upgrade is still detected.

The upgrade is simulated in-process (the service runs in a thread of the test): after the events
are published and a checkpoint is signed, ConsultationRecorded gets the next class_version and an
upcaster. No event is recorded after the bump, so the stream holds only messages of the version
before, which the AsyncAPI check at teardown validates against the (restored) document."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from libs.domain import intake as intake_contracts
from libs.platform.audit.stream import verify_from_bus
from libs.platform.audit.verify import AuditClient
from tests.e2e.test_tamper_evidence import AUDITOR, EDIT_PG, EDIT_SQLITE, _bus, _log_of_seven, _tampered
from tests.e2e.test_witness import _kept, signed
from tests.harness import eventually

# The version ConsultationRecorded has now, and the one the simulated upgrade gives it.
BEFORE = getattr(intake_contracts.ConsultationRecorded, "class_version", 1)
AFTER = BEFORE + 1


def _bump_consultation_recorded(monkeypatch) -> None:
    def upcast(state: dict) -> None:
        state["in_person"] = state["channel"] == "visit"

    for name, value in (("SCHEMA_VERSION", AFTER), ("class_version", AFTER),
                        (f"upcast_v{BEFORE}_v{AFTER}", staticmethod(upcast))):
        monkeypatch.setattr(intake_contracts.ConsultationRecorded, name, value, raising=False)


def _one_more_consultation(intake) -> None:
    """An eighth event, published before the upgrade but signed only after it."""
    consultation = next(e for e in intake.runtime.relay.reader.read(0, 10) if e.name == "ConsultationRecorded")
    with intake.client(role="centre_staff", org=consultation.data["centre_id"]) as staff:
        staff.post(f"/v1/cases/{consultation.subject}/consultations", json={
            "channel": "visit", "occurred_at": "2016-06-02T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: intake.runtime.relay.lag() == 0)


def _cli(intake, nats_url: str | None = None) -> subprocess.CompletedProcess:
    bus = ["--nats", nats_url, "--stream", "INTAKE"] if nats_url else []
    return subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "audit", "verify", "--url", intake.url,
                           "--token", AUDITOR, *bus], capture_output=True, text=True)


def test_a_version_bump_after_publication_is_not_reported_as_tampering(nats_server, start_service, monkeypatch):
    intake, _ = _log_of_seven(nats_server, start_service)
    _one_more_consultation(intake)
    _bump_consultation_recorded(monkeypatch)
    assert intake.runtime.relay.reader.read(3, 1)[0].type == f"jp.tsunagu.intake.ConsultationRecorded.v{AFTER}"

    with intake.client(role="auditor", org="000000") as auditor:
        assert auditor.post("/v1/audit/checkpoints").json()["tree_size"] == 8  # signed after the bump
        assert auditor.get("/v1/audit/verify").json()["verified"] is True
    report = AuditClient(intake.url, AUDITOR).verify(_bus(nats_server))
    assert report.ok, report.problems
    # checkpoints: 7, 8 (and at start)
    assert (report.events, report.checkpoints, report.bus_messages) == (8, len(signed(intake)), 8)
    out = _cli(intake)
    assert out.returncode == 0 and "verified" in out.stdout, out.stdout + out.stderr
    out = _cli(intake, nats_server.url)
    assert out.returncode == 0 and "verified" in out.stdout, out.stdout + out.stderr
    _kept(nats_server.url, 8)  # a witness with the bus alone agrees with the head signed after the bump
    witness = asyncio.run(verify_from_bus(nats_server.url, "INTAKE", "intake"))
    assert witness.ok, witness.problems
    with intake.client(role="auditor", org="000000") as auditor:  # the audit log shows what was published
        events = auditor.get("/v1/audit/events").json()["data"]
    assert events[3]["type"].endswith(f"ConsultationRecorded.v{BEFORE}") and "in_person" not in events[3]["data"]


def test_a_stored_event_edited_after_a_version_bump_is_still_detected(nats_server, start_service, monkeypatch):
    intake, _ = _log_of_seven(nats_server, start_service)
    _bump_consultation_recorded(monkeypatch)
    _tampered(intake, EDIT_SQLITE if intake.runtime.engine.dialect.name == "sqlite" else EDIT_PG)
    report = AuditClient(intake.url, AUDITOR).verify(_bus(nats_server))
    assert not report.ok and report.first_bad_sequence == 4, report.problems
    assert any("signed chain head differs" in p for p in report.problems), report.problems
    assert any("bus message 4 differs" in p for p in report.problems), report.problems
    with intake.client(role="auditor", org="000000") as auditor:
        assert auditor.get("/v1/audit/verify").json()["verified"] is False
    out = _cli(intake, nats_server.url)
    assert out.returncode == 1 and "first bad sequence: 4" in out.stdout, out.stdout


def test_after_a_version_bump_the_relay_still_takes_the_streams_last_event_as_published(
        nats_server, start_service, monkeypatch, caplog):
    """The relay's comparison with the stream checks its last event against the log rendered at the
    version the message carries (messaging/relay_order.py _proves): after the bump it renders upcast
    now, and the stream's last event (the version before) is still taken, nothing sent again."""
    intake, _ = _log_of_seven(nats_server, start_service)
    _one_more_consultation(intake)
    _bump_consultation_recorded(monkeypatch)
    relay = intake.runtime.relay
    failures = relay.health.failures
    relay._compared_at = None  # the next round compares with the stream again
    eventually(lambda: relay.compared, timeout=30)
    assert relay.position()[0] == 8 and relay.health.failures == failures
    assert not [r.getMessage() for r in caplog.records if "looking past" in r.getMessage()
                or "continuing from there" in r.getMessage()]
