"""The relay's messages are prepared in the transaction that saves their events (issue 15,
libs/platform/messaging/outbox.py). They are the bytes the relay would render; a log without
them (saved before they existed) or with rows the relay cannot trust is still published once, in
order, chained, as the relay renders it; and saves after that are prepared again."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.messaging.outbox import relay_outbox
from libs.platform.messaging.signing import HEADER
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _assert_stream_is_the_log_once, _consult
from tests.harness import backend, eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _reads_nothing(*args: object) -> None:
    raise RuntimeError("the relay cannot read its log (test)")


def _prepared(service) -> list:
    with service.runtime.engine.connect() as conn:
        return conn.execute(select(relay_outbox).order_by(relay_outbox.c.position)).all()


def test_each_saved_event_has_its_message_prepared_as_the_relay_would_render_it(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing  # nothing is published (and forgotten) while the rows are read
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    rows = _prepared(intake)
    assert [r.position for r in rows] == log_positions(intake)
    envelopes, _, _ = relay._pending_after(0, GENESIS)  # what the relay renders itself
    rendered = relay._messages(envelopes)
    assert [(r.subject, bytes(r.body), r.signature) for r in rows] == [(s, b, h[HEADER]) for s, b, h in rendered]
    assert [r.previous for r in rows] == [GENESIS, *[e.chainhash for e in envelopes[:-1]]]
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 5)
    assert [m.data for m in stream_messages(nats_server.url, "INTAKE")] == [b for _, b, _ in rendered]
    eventually(lambda: not _prepared(intake))  # forgotten once published


@pytest.mark.skipif(backend() != "postgresql", reason="the save's LOCK TABLE round trip is PostgreSQL's")
def test_a_save_reads_the_chain_head_under_its_lock_and_inserts_its_ledger_and_messages_at_once(
        nats_server, start_service):
    """The chain's head (the message before the save's first) is read after LOCK TABLE, in its round
    trip, and the ledger rows and prepared messages go in one statement: no round trip of their own
    per save, and the messages still chain over the log."""
    import threading

    from sqlalchemy import event

    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing
    centre_id, case_id = _setup_case(intake)
    engine = intake.runtime.application.recorder.datastore.engine
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if threading.current_thread().name.startswith("AnyIO worker"):  # the requests' threads
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        _consult(intake, centre_id, case_id, 2)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    locks = [s for s in sent if "LOCK TABLE" in s]
    assert len(locks) == 2 and all("relay_chain" in s for s in locks), sent
    assert [s for s in sent if "relay_chain" in s] == locks, sent
    outbox = [s for s in sent if "INSERT INTO relay_outbox" in s]
    assert len(outbox) == 2 and all("INSERT INTO intake_creations" in s for s in outbox), sent
    assert not [s for s in sent if "intake_creations" in s and s not in outbox], sent
    rows = _prepared(intake)
    assert [r.position for r in rows] == log_positions(intake)
    assert [r.previous for r in rows[1:]] == [r.chainhash for r in rows[:-1]]
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 4)


def test_messages_prepared_by_saves_at_once_chain_over_the_log_in_its_order(nats_server, start_service):
    """Saves racing on several threads (each its own connection, as replicas would): every message
    continues the one before it in the log, its head read under the writer's lock."""
    from concurrent.futures import ThreadPoolExecutor

    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing
    cases = [_setup_case(intake) for _ in range(4)]  # (centre, case) each
    start = len(log_positions(intake))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda case: _consult(intake, *case, 5), cases))
    rows = _prepared(intake)
    assert [r.position for r in rows] == log_positions(intake)
    assert len(rows) >= start + 20
    assert rows[0].previous == GENESIS
    assert [r.previous for r in rows[1:]] == [r.chainhash for r in rows[:-1]]
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, len(rows))


def test_a_log_saved_without_prepared_messages_is_rendered_by_the_relay_and_later_saves_are_prepared_again(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing  # the relay reads nothing until the rows are gone
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 2)
    with intake.runtime.engine.begin() as conn:  # as if saved before the relay prepared messages
        conn.execute(relay_outbox.delete())
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 4)
    relay._prepared = _reads_nothing
    _consult(intake, centre_id, case_id, 2)
    rows = _prepared(intake)
    assert [r.position for r in rows] == log_positions(intake)[4:]
    assert rows[0].previous == relay.position()[1]  # chained from what the relay published
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 6)


def test_a_prepared_message_the_relay_cannot_trust_is_rendered_again_and_never_published(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing  # the relay reads nothing until the rows are changed
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 4)
    positions = log_positions(intake)
    current = _prepared(intake)[4].type
    with intake.runtime.engine.begin() as conn:
        # One that does not continue the chain the relay is at, one rendered at a version of its
        # event that is not the current one (an upgrade came between save and publish).
        conn.execute(update(relay_outbox).where(relay_outbox.c.position == positions[2]).values(
            previous="f" * 64, body=b"{}"))
        conn.execute(update(relay_outbox).where(relay_outbox.c.position == positions[4]).values(
            type=relay_outbox.c.type + "0", body=b"{}"))
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 6)
    envelopes = [Envelope.from_json(m.data) for m in stream_messages(nats_server.url, "INTAKE")]
    assert (envelopes[4].sequence, envelopes[4].type) == (positions[4], current)


def test_a_message_prepared_with_a_key_rotated_out_before_it_was_published_is_signed_again(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 2)
    with intake.runtime.engine.begin() as conn:  # as if saved under the key before a rotation
        conn.execute(update(relay_outbox).values(signed_by="0" * 16, signature="ed25519:old-key"))
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, 4)
    signatures = [m.headers[HEADER] for m in stream_messages(nats_server.url, "INTAKE")]
    assert len(signatures) == 4 and "ed25519:old-key" not in signatures


def test_a_record_that_fails_on_a_backlog_starts_the_relay_again_from_its_position(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.batch_size = 3  # a backlog of full batches, each read ahead of the one before
    relay._prepared = _reads_nothing
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 10)  # 12 events in the log
    failed: list[int] = []
    record = relay._record

    def fails_once(position: int, *args: object, **kwargs: object) -> None:
        if not failed:
            failed.append(position)
            raise RuntimeError("the database refused the record (test)")
        record(position, *args, **kwargs)  # type: ignore[arg-type]

    relay._record = fails_once
    del relay._prepared
    eventually(lambda: failed and relay.lag() == 0)
    assert failed == [log_positions(intake)[2]]
    _assert_stream_is_the_log_once(intake, nats_server.url, 12)


def test_an_imports_messages_are_left_to_the_relay_which_publishes_them_signed_and_chained(
        nats_server, start_service):
    """An import's save prepares no message (creations.RELAY_RENDERS_KWARG: 500 signatures and chain
    hashes are not the request's to pay): the relay renders them as it renders any event without a
    row, and publishes them once, in order, chained and signed; a save after the relay published
    them is prepared again. Fails with the import preparing its messages (rows of its positions)."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay._prepared = _reads_nothing
    centre_id, case_id = _setup_case(intake)
    before = len(log_positions(intake))
    items = [{"case_id": case_id, "channel": "phone", "consulted_by": "person",
              "occurred_at": f"2016-07-{day:02d}T10:00:00+09:00", "summary": f"移行記録 {day}"} for day in range(1, 25)]
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": "bulk"})
        assert r.status_code == 201, r.text
    imported = log_positions(intake)[before:]
    assert len(imported) == len(items)
    assert not [row for row in _prepared(intake) if row.position in imported]
    envelopes, _, _ = relay._pending_after(0, GENESIS)
    rendered = relay._messages(envelopes)  # what the relay renders and signs itself
    del relay._prepared
    _assert_stream_is_the_log_once(intake, nats_server.url, before + len(items))
    messages = stream_messages(nats_server.url, "INTAKE")
    assert [(m.data, m.headers[HEADER]) for m in messages] == [(b, h[HEADER]) for _, b, h in rendered]
    assert [Envelope.from_json(m.data).data["occurred_at"][:10] for m in messages[before:]] == \
        [i["occurred_at"][:10] for i in items]  # in order
    eventually(lambda: relay.position()[0] == imported[-1])
    relay._prepared = _reads_nothing
    _consult(intake, centre_id, case_id, 1)
    [row] = _prepared(intake)
    assert row.previous == relay.position()[1]  # prepared again, chained from what the relay published
