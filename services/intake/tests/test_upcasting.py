"""Versioned events: a CaseOpened stored as v1 (before the municipality of residence existed), a
CaseInfoDisclosed stored as v1 (before legal bases) and an InfoSharingConsented stored as v1 (before
the consent record) are upcast on read and published as the current v2 contracts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text

from libs.domain.contracts import ClientKey, derived_id, event_type
from libs.domain.intake import (
    CaseInfoDisclosed,
    CaseOpened,
    ConsultationRecorded,
    PlaceSessionHeld,
    ProgrammeStarted,
    consultation_key_digests,
)
from libs.platform.privacy.records import current_data
from libs.platform.store.log import LogReader
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from services.intake.domain.place import Place
from services.intake.domain.programme import Programme
from tests.harness import stored_applications


def test_an_old_v1_case_opened_is_read_and_published_through_the_current_code(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="family", age_group="adult",
                         residence_municipality="131016", personal_details=None)
        app.save(case)
        with engine.begin() as conn:  # rewrite the stored event as the Foundation slice wrote it (v1)
            state = json.loads(bytes(conn.execute(text("SELECT state FROM intake_events")).scalar_one()))
            assert state.pop("class_version") == 2
            del state["residence_municipality"]
            conn.execute(text("UPDATE intake_events SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = application()
        reloaded = fresh.repository.get(case.id)
        assert (reloaded.residence_municipality, reloaded.client_kind) == (None, "family")
        [envelope] = LogReader("intake", fresh).read(0, 10)
        assert envelope.type == event_type(CaseOpened) == "jp.tsunagu.intake.CaseOpened.v2"
        assert envelope.data["residence_municipality"] is None and envelope.data["client_kind"] == "family"


def test_an_old_v1_disclosure_on_a_consent_replays_and_is_published_as_v3_with_no_legal_basis_and_an_id(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         personal_details=None)
        agency, consent = uuid4(), uuid4()
        case.consent_to_share(consent_id=consent, given_by="person", agency_ids=[str(agency)], categories=[],
                              items=["name"], explained_on=date(2016, 5, 1), consent_text_version="v")
        case.share_with(disclosure_id=uuid4(), agency_id=agency, category="hello_work", items=["name"],
                        disclosed_on=date(2016, 5, 2), purpose="coordination")
        app.save(case)
        with engine.begin() as conn:  # rewrite the disclosure as it was stored before legal bases (v1)
            row_id, raw = conn.execute(text(
                "SELECT originator_version, state FROM intake_events WHERE topic LIKE '%CaseInfoDisclosed'")).one()
            state = json.loads(bytes(raw))
            assert state.pop("class_version") == 3
            for field in ("legal_basis", "statute", "reason", "disclosure_id"):
                del state[field]
            conn.execute(text("UPDATE intake_events SET state = :s WHERE originator_version = :v"),
                         {"s": json.dumps(state).encode(), "v": row_id})
            # and the consent as it was stored before the consent record (v1)
            row_id, raw = conn.execute(text(
                "SELECT originator_version, state FROM intake_events WHERE topic LIKE '%InfoSharingConsented'")).one()
            state = json.loads(bytes(raw))
            assert state.pop("class_version") == 2
            del state["record"]
            conn.execute(text("UPDATE intake_events SET state = :s WHERE originator_version = :v"),
                         {"s": json.dumps(state).encode(), "v": row_id})

        fresh = application()
        assert fresh.repository.get(case.id).disclosures == 1
        disclosed = [e for e in LogReader("intake", fresh).read(0, 10) if e.name == "CaseInfoDisclosed"]
        assert ([e.type for e in disclosed] == [event_type(CaseInfoDisclosed)]
                == ["jp.tsunagu.intake.CaseInfoDisclosed.v3"])
        # v3 (issue 18): a disclosure recorded without an id gets one derived from its place in the log
        with engine.connect() as conn:  # its version in the case (here also its log position: not what is used)
            version = conn.execute(text(
                "SELECT originator_version FROM intake_events WHERE topic LIKE '%CaseInfoDisclosed'")).scalar_one()
        assert disclosed[0].data["disclosure_id"] == str(derived_id("disclosure", case.id, version))
        # Data without its event's place (a privacy record, a published message) gets no invented id.
        data = {k: v for k, v in disclosed[0].data.items() if k != "disclosure_id"}
        assert current_data("jp.tsunagu.intake.CaseInfoDisclosed.v2", data)["disclosure_id"] is None
        assert {k: disclosed[0].data[k] for k in ("consent_id", "legal_basis", "statute", "reason")} == {
            "consent_id": str(consent), "legal_basis": None, "statute": None, "reason": None}
        [consented] = [e for e in LogReader("intake", fresh).read(0, 10) if e.name == "InfoSharingConsented"]
        assert consented.type == "jp.tsunagu.intake.InfoSharingConsented.v2"
        record = consented.data["record"]  # rebuilt from the v1 fields; the controller is the case's tenant
        assert (record["controller"], record["jurisdiction"], record["recipients"]) == (None, "JP", [str(agency)])
        assert record["pii_categories"] == [{"category": "name", "sensitive": False}]


KEY = "山田花子さん（母）からの電話"  # what a client may type in an Idempotency-Key


def _case_with_a_keyed_consultation(app: IntakeApplication) -> tuple[Case, UUID]:
    case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="family", age_group="adult",
                     personal_details=None)
    consultation = uuid4()  # recorded as before the creations ledger: its key digest in the event
    digest = consultation_key_digests(case.centre_id, ClientKey(KEY, app.idempotency_secret))[0]
    case._record_consultation(consultation_id=consultation, centre_id=case.centre_id, channel="phone",
                              consulted_by="family", occurred_at=datetime(2016, 6, 1, tzinfo=UTC), summary=None,
                              idempotency_digest=digest)
    app.save(case)
    return case, consultation


def test_an_old_v1_consultation_with_its_key_in_clear_is_published_hashed_and_still_deduplicates(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        case, consultation = _case_with_a_keyed_consultation(application())
        with engine.begin() as conn:  # rewrite the consultation as v1 stored it: the client's key in clear
            version, raw = conn.execute(text(
                "SELECT originator_version, state FROM intake_events WHERE topic LIKE '%ConsultationRecorded'")).one()
            state = json.loads(bytes(raw))
            assert state.pop("class_version") == 2
            del state["idempotency_digest"]
            state["idempotency_key"] = KEY
            conn.execute(text("UPDATE intake_events SET state = :s WHERE originator_version = :v"),
                         {"s": json.dumps(state).encode(), "v": version})

        fresh = application()
        reloaded = fresh.repository.get(case.id)
        assert reloaded.consultation_of_key(fresh.client_key(KEY)) == consultation  # a retry still finds the first
        published = LogReader("intake", fresh).read(0, 10)[-1]
        assert published.type == event_type(ConsultationRecorded) == "jp.tsunagu.intake.ConsultationRecorded.v2"
        assert KEY not in json.dumps(published.to_dict(), ensure_ascii=False)
        # An upcaster holds no secret: the unkeyed digest of the events recorded before
        unkeyed = consultation_key_digests(case.centre_id, fresh.client_key(KEY))[1]
        assert published.data["idempotency_digest"] == unkeyed


def test_a_case_snapshot_taken_with_keys_in_clear_reloads_keyed_by_digest(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        case, consultation = _case_with_a_keyed_consultation(app)
        app.take_snapshot(case.id)
        with engine.begin() as conn:  # rewrite the snapshot as v1 of the case kept it
            raw = conn.execute(text("SELECT state FROM intake_snapshots")).scalar_one()
            state = json.loads(bytes(raw))
            assert state["state"].pop("class_version") == 4
            del state["state"]["share_consents"]  # v3 (issue 18): the consents' history
            del state["state"]["consultation_count"], state["state"]["voided_consultations"]  # v4 (issue 15)
            state["state"]["consultations"] = [{"consultation_id": str(consultation), "channel": "phone",
                                                "consulted_by": "family", "occurred_at": "2016-06-01T00:00:00+00:00",
                                                "summary": None}]
            state["state"]["idempotency_keys"] = {KEY: state["state"]["idempotency_keys"].popitem()[1]}
            conn.execute(text("UPDATE intake_snapshots SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = application()
        reloaded = fresh.repository.get(case.id)
        assert reloaded.consultation_of_key(fresh.client_key(KEY)) == consultation
        assert KEY not in reloaded.idempotency_keys
        assert reloaded.share_consents == {}
        assert reloaded.consultation_count == 1 and reloaded.voided_consultations == []

        # A retry of that consultation, sent after the change, answers it and writes nothing.
        staff = Principal(sub="staff", org=str(case.centre_id), roles=frozenset({"centre_staff"}))
        retried = fresh.record_consultation(staff, case.id, expected_version=None, channel="phone",
                                            consulted_by="family", occurred_at=datetime(2016, 6, 1, tzinfo=UTC),
                                            summary=None, idempotency_key=KEY)
        assert (retried.created, retried.consultation_id) == (False, consultation)
        assert retried.entry["channel"] == "phone" and fresh.repository.get(case.id).version == case.version


def test_an_old_v1_place_session_with_names_in_clear_is_published_as_a_count(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        place = Place.open(id=uuid4(), tenant="131016", programme_id=None, name="居場所", operator="NPO",
                           municipality="131016", address="1-1", schedule={"sat": ["10:00", "15:00"]})
        place.hold_session(session_id=uuid4(), held_on=date(2024, 6, 1), participants=4, registered_participants=0,
                           participant_refs=None, staff=1, supporter_ids=[])
        application().save(place)
        with engine.begin() as conn:  # rewrite the session as v1 stored it: the typed names in clear
            version, raw = conn.execute(text(
                "SELECT originator_version, state FROM intake_events WHERE topic LIKE '%PlaceSessionHeld'")).one()
            state = json.loads(bytes(raw))
            assert state.pop("class_version") == 2
            del state["participant_refs"]
            state["registered_participants"] = ["山田太郎", "佐藤花子", "山田太郎"]
            conn.execute(text("UPDATE intake_events SET state = :s WHERE originator_version = :v"),
                         {"s": json.dumps(state).encode(), "v": version})

        fresh = application()
        assert fresh.repository.get(place.id).sessions  # still loads
        published = LogReader("intake", fresh).read(0, 10)[-1]
        assert published.type == event_type(PlaceSessionHeld) == "jp.tsunagu.intake.PlaceSessionHeld.v2"
        assert "山田" not in json.dumps(published.to_dict(), ensure_ascii=False)
        assert (published.data["registered_participants"], published.data["participant_refs"]) == (2, None)


def test_an_old_v1_programme_started_keeps_its_named_operators_running_and_invites_nobody(tmp_path):
    """Before issue 14 every named operator ran the programme at once: so it stays, once upcast."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        programme = Programme.start(id=uuid4(), tenant="130001", kind="satellite", name="サテライト",
                                    operators=["131016"], activities=[], starts_on=date(2020, 4, 1), ends_on=None,
                                    funding={"national": "1/2", "prefecture": "1/2"})
        app.save(programme)
        with engine.begin() as conn:  # rewrite it as v1 wrote it: every named government an operator
            state = json.loads(bytes(conn.execute(text("SELECT state FROM intake_events")).scalar_one()))
            assert state.pop("class_version") == 2 and state.pop("invited") == ["131016"]
            state["operators"] = ["130001", "131016"]
            conn.execute(text("UPDATE intake_events SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = application()
        reloaded = fresh.repository.get(programme.id)
        assert (reloaded.operators, reloaded.invited, reloaded.status) == (["130001", "131016"], [], "running")
        [envelope] = LogReader("intake", fresh).read(0, 10)
        assert envelope.type == event_type(ProgrammeStarted) == "jp.tsunagu.intake.ProgrammeStarted.v2"
        assert envelope.data["invited"] == [] and envelope.data["operators"] == ["130001", "131016"]


def test_an_access_stored_with_a_free_text_purpose_still_loads_as_other_and_publishes_without_the_text(tmp_path):
    from libs.platform.privacy.access import PersonalDataAccess, record_access

    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        access = record_access(app, tenant="130001", accessed_by="inspector", accessor_org="130001",
                               purpose_code="internal_audit", note=None, subject=None, first_sequence=1,
                               last_sequence=1)
        with engine.begin() as conn:  # rewrite it as v1 stored it: a free-text purpose in clear
            state = json.loads(bytes(conn.execute(text("SELECT state FROM intake_events")).scalar_one()))
            assert state.pop("class_version") == 2
            del state["purpose_code"], state["note"]
            state["purpose"] = "〇〇本人からの開示請求（電話）"
            conn.execute(text("UPDATE intake_events SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = application()
        assert fresh.repository.get(access.id).purpose_code == "other"
        assert isinstance(fresh.repository.get(access.id), PersonalDataAccess)
        [envelope] = LogReader("intake", fresh).read(0, 10)
        assert envelope.type == "jp.tsunagu.audit.PersonalDataAccessed.v2"
        assert (envelope.data["purpose_code"], envelope.data["note"]) == ("other", None)
        assert "開示請求" not in json.dumps(envelope.data, ensure_ascii=False)


def test_an_old_v1_centre_registration_reads_with_no_dates_and_publishes_as_v2(tmp_path):
    from libs.domain.intake import CentreRegistered
    from services.intake.domain.centre import Centre

    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        centre = Centre.register(id=uuid4(), tenant="130001", name="東京都ひきこもりサポートネット", kind="adult",
                                 site="main", opened_on=date(2014, 4, 1))
        app.save(centre)
        with engine.begin() as conn:  # the registration as written before centres had dates (v1)
            state = json.loads(bytes(conn.execute(text("SELECT state FROM intake_events")).scalar_one()))
            assert state.pop("class_version") == 2
            del state["opened_on"], state["closed_on"], state["demo"]
            conn.execute(text("UPDATE intake_events SET state = :s"), {"s": json.dumps(state).encode()})

        fresh = application()
        reloaded = fresh.repository.get(centre.id)
        assert (reloaded.name, reloaded.opened_on, reloaded.closed_on, reloaded.demo) == (
            "東京都ひきこもりサポートネット", None, None, False)
        reloaded.change_dates(opened_on=date(2014, 4, 1), closed_on=date(2020, 3, 31))
        fresh.save(reloaded)
        first, changed = LogReader("intake", fresh).read(0, 10)
        assert first.type == event_type(CentreRegistered) == "jp.tsunagu.intake.CentreRegistered.v2"
        assert (first.data["opened_on"], first.data["closed_on"], first.data["demo"]) == (None, None, False)
        assert changed.data == {"opened_on": "2014-04-01", "closed_on": "2020-03-31"}


def test_a_case_opened_with_a_key_before_the_ledger_is_found_by_a_retry_and_new_ids_do_not_reveal_the_key(tmp_path):
    from services.intake.domain.centre import Centre

    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        centre = Centre.register(id=uuid4(), tenant="130001", name="センター", kind="adult", site="main")
        app.save(centre)
        staff = Principal(sub="staff", org=str(centre.id), roles=frozenset({"centre_staff"}))
        old_id = derived_id("case", str(centre.id), KEY)  # how a keyed case's id was made before the ledger
        app.save(Case.open(id=old_id, tenant="130001", centre_id=centre.id, client_kind="family", age_group="adult",
                           personal_details=None))
        written = app.recorder.max_notification_id()
        opened: dict[str, Any] = {"centre_id": centre.id, "client_kind": "family", "age_group": "adult",
                                  "residence_municipality": None, "personal_details": None}
        case, created = app.open_case(staff, idempotency_key=KEY, **opened)
        assert (case.id, created) == (old_id, False) and app.recorder.max_notification_id() == written

        case, created = app.open_case(staff, idempotency_key="another key", **opened)
        assert created and case.id != derived_id("case", str(centre.id), "another key")  # keyed, not the key
        again, created = app.open_case(staff, idempotency_key="another key", **opened)
        assert (again.id, created) == (case.id, False)
