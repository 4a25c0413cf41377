"""Witnesses (issue #8): the signed checkpoints are kept in the stream AUDIT for whoever connects
later, and a service's log is verified from the bus alone (its stream and AUDIT, no audit API),
naming the first bad sequence of a copy with a message missing, altered or out of order."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from libs.platform.audit.log import verify_signature
from libs.platform.audit.stream import verify_from_bus
from libs.platform.audit.witness import read_checkpoints
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.replay import read_stream
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, stream_messages


def _consult(intake, case_id: str, centre_id: str, *channels: str) -> None:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for channel in channels:
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": channel, "occurred_at": "2016-06-01T10:00:00+09:00"}).raise_for_status()


def _checkpoint(intake) -> dict:
    with intake.client(role="auditor", org="000000") as auditor:
        return auditor.post("/v1/audit/checkpoints").json()


def _kept(url: str, size: int) -> list[dict]:
    """The intake checkpoints in AUDIT once the one of `size` has arrived."""
    return eventually(lambda: (cps := asyncio.run(read_checkpoints(url, "intake")))
                      and cps[-1]["tree_size"] == size and cps)


def signed(intake) -> list[dict]:
    """Every checkpoint the service kept, as published to AUDIT. Not only those a test asked for:
    the service also signs one as it starts and one every interval, and the one at start races
    with a test's first commands (on a busy machine it lands after the first event and is kept)."""
    key = intake.runtime.audit.public_key_hex
    return [{**cp, "service": "intake", "public_key": key} for cp in intake.runtime.audit.checkpoints()]


def _signed_log(nats_server, start_service):
    """Seven events with checkpoints at 3 and 7, all published and kept in AUDIT."""
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, case_id, centre_id, "phone")
    _checkpoint(intake)
    _consult(intake, case_id, centre_id, "visit", "email", "other", "phone")
    _checkpoint(intake)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _kept(nats_server.url, 7)
    return intake


def test_a_witness_connecting_later_reads_every_checkpoint_from_the_audit_stream(nats_server, start_service):
    async def operators_audit_stream() -> None:  # made by an operator before any service ran
        nc = await nats.connect(nats_server.url)
        await nc.jetstream().add_stream(StreamConfig(name="AUDIT", subjects=["audit.>"], storage=StorageType.FILE,
                                                     description="kept by the operator", duplicate_window=3600))
        await nc.close()

    asyncio.run(operators_audit_stream())
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    made = [_checkpoint(intake)]
    for channel in ("phone", "visit"):
        _consult(intake, case_id, centre_id, channel)
        made.append(_checkpoint(intake))
    assert [cp["tree_size"] for cp in made] == [2, 3, 4]
    key = intake.runtime.audit.public_key_hex
    kept = _kept(nats_server.url, 4)
    assert kept == signed(intake)
    assert all({**cp, "service": "intake", "public_key": key} in kept for cp in made)
    assert all(verify_signature(key, "intake", cp) and cp["chainhash"] for cp in kept)

    intake.stop()  # a restart republishes nothing that AUDIT already holds
    intake.start()
    _consult(intake, case_id, centre_id, "email")
    _checkpoint(intake)
    kept = _kept(nats_server.url, 5)
    assert kept == signed(intake) and [cp["tree_size"] for cp in kept][-4:] == [2, 3, 4, 5]
    stored = stream_messages(nats_server.url, "AUDIT")
    assert [m.headers["Nats-Msg-Id"] for m in stored] == [f"checkpoint-intake-{cp['tree_size']}" for cp in kept]

    async def config() -> StreamConfig:
        nc = await nats.connect(nats_server.url)
        try:
            return (await nc.jetstream().stream_info("AUDIT")).config
        finally:
            await nc.close()

    kept_config = asyncio.run(config())
    assert (kept_config.description, kept_config.duplicate_window) == ("kept by the operator", 3600)


def test_a_checkpoint_made_while_nats_is_down_reaches_audit_when_it_is_back(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _checkpoint(intake)
    _kept(nats_server.url, 2)
    nats_server.stop()
    _consult(intake, case_id, centre_id, "phone")
    assert _checkpoint(intake)["tree_size"] == 3  # signed and kept in the store, not yet acked by AUDIT
    nats_server.start()
    kept = _kept(nats_server.url, 3)
    assert kept == signed(intake) and [cp["tree_size"] for cp in kept][-2:] == [2, 3]


def _verify_cli(url: str, stream: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "audit", "verify", "--nats", url,
                           "--stream", stream, *extra], capture_output=True, text=True)


def test_an_honest_log_verifies_from_the_bus_alone(nats_server, start_service):
    intake = _signed_log(nats_server, start_service)
    report = asyncio.run(verify_from_bus(nats_server.url, "INTAKE", "intake"))
    assert report.ok, report.problems
    checkpoints = len(signed(intake))  # 3 and 7, and the service's own at start when it came late
    assert (report.events, report.checkpoints, report.bus_messages) == (7, checkpoints, 7)

    key = intake.runtime.audit.public_key_hex
    out = _verify_cli(nats_server.url, "INTAKE", "--public-key", key)
    assert out.returncode == 0 and f"intake: 7 events, {checkpoints} checkpoints" in out.stdout, out.stdout
    assert "verified" in out.stdout, out.stdout
    out = _verify_cli(nats_server.url, "INTAKE", "--public-key", "ab" * 32)  # not the service's key
    assert out.returncode == 1 and "checkpoint 7: the signature does not verify" in out.stdout, out.stdout


def _altered(envelopes: list[Envelope], sequence: int) -> list[Envelope]:
    return [Envelope(**{**e.to_dict(), "data": {**e.data, "channel": "email"}}) if e.sequence == sequence else e
            for e in envelopes]


def _rechained(envelopes: list[Envelope]) -> list[Envelope]:
    """A forger's copy: the chain recomputed over the altered messages."""
    chain, out = "0" * 64, []
    for e in envelopes:
        out.append(e.chained(chain))
        chain = out[-1].chainhash
    return out


def _copy(url: str, envelopes: list[Envelope]) -> None:
    async def publish() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="INTAKECOPY", subjects=["copy.>"], storage=StorageType.FILE))
        for i, e in enumerate(envelopes):
            await js.publish(f"copy.{i}", e.to_json())
        await nc.close()

    asyncio.run(publish())


TAMPERINGS = {
    "missing": (lambda es: [e for e in es if e.sequence != 3], 3, "a message after 2 is missing"),
    "altered": (lambda es: _altered(es, 4), 4, "message 4 breaks the hash chain"),
    "reordered": (lambda es: [*es[:4], es[5], es[4], *es[6:]], 5, "message 5 comes after 6 on the stream"),
}


@pytest.mark.parametrize("change", sorted(TAMPERINGS))
def test_a_tampered_copy_of_the_stream_fails_at_its_first_bad_sequence(nats_server, start_service, change):
    _signed_log(nats_server, start_service)
    honest = [Envelope.from_json(raw) for raw in asyncio.run(read_stream(nats_server.url, "INTAKE"))]
    assert [e.sequence for e in honest] == [1, 2, 3, 4, 5, 6, 7] and all(len(e.leafhash) == 64 for e in honest)
    tamper, first_bad, problem = TAMPERINGS[change]
    _copy(nats_server.url, tamper(honest))

    report = asyncio.run(verify_from_bus(nats_server.url, "INTAKECOPY", "intake"))
    assert not report.ok and report.first_bad_sequence == first_bad, report.problems
    assert any(problem in p for p in report.problems), report.problems
    if change == "missing":  # six leaves: neither signed root can be rebuilt past the gap
        assert any(p.startswith("checkpoint 3: the root") for p in report.problems), report.problems
    out = _verify_cli(nats_server.url, "INTAKECOPY", "--service", "intake")
    assert out.returncode == 1 and f"first bad sequence: {first_bad}" in out.stdout, out.stdout


def test_a_copy_rewritten_with_a_recomputed_chain_fails_on_the_signed_chain_head(nats_server, start_service):
    intake = _signed_log(nats_server, start_service)
    honest = [Envelope.from_json(raw) for raw in asyncio.run(read_stream(nats_server.url, "INTAKE"))]
    forged = _rechained(_altered(honest, 6))  # every chain link holds, every leafhash is the original
    _copy(nats_server.url, forged)
    report = asyncio.run(verify_from_bus(nats_server.url, "INTAKECOPY", "intake"))
    assert not report.ok, "the unkeyed chain alone would have passed"
    # 3 and 7, unless the service's own checkpoint at start came later than the test's first ones.
    sizes = [cp["tree_size"] for cp in signed(intake)]
    failing = min(s for s in sizes if s >= 6)
    before = max(s for s in sizes if s < failing)
    assert report.problems == [f"checkpoint {failing}: the signed chain head differs from the stream's: a message "
                               f"after sequence {before}, up to sequence {failing}, is not the one that was signed"]
    assert report.first_bad_sequence is None  # located only between two checkpoints
    assert (honest[5].data["channel"], forged[5].data["channel"]) == ("other", "email")
