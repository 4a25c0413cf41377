"""The first vertical slice: a consultation POSTed to intake shows in reporting, through NATS."""

from __future__ import annotations

from tests.harness import drained, eventually

PREF = "130001"  # 東京都


def _setup_case(intake, prefecture: str = PREF) -> tuple[str, str]:
    with intake.client(role="prefecture_officer", org=prefecture) as officer:
        r = officer.post("/v1/centres", json={"name": "東京都ひきこもりサポートネット", "kind": "adult",
                                              "prefecture": prefecture})
        assert r.status_code == 201, r.text
        centre_id = r.json()["id"]
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/cases", json={
            "centre_id": centre_id, "client_kind": "family", "age_group": "adult",
            "personal_details": {"name": "山田太郎", "address": "東京都千代田区1-1"},
        })
        assert r.status_code == 201, r.text
        return centre_id, r.json()["id"]


def test_a_recorded_consultation_is_counted_in_the_fiscal_year_report(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for when in ("2016-04-01T00:00:00+09:00", "2017-03-31T23:59:00+09:00", "2017-04-01T00:00:00+09:00"):
            r = staff.post(f"/v1/cases/{case_id}/consultations",
                           json={"channel": "phone", "occurred_at": when, "summary": "母親から電話相談"})
            assert r.status_code == 201, r.text

    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        def report():
            body = pref.get("/v1/reports/consultations", params={"fy": 2016}).json()
            return body if body["total"] == 2 else None

        body = eventually(report)
    assert body["label"] == "平成28年度"
    assert body["centres"] == [{"centre_id": centre_id, "name": "東京都ひきこもりサポートネット", "kind": "adult",
                                "site": "main", "tenant": PREF, "consultations": 2}]
    drained(intake.settings.nats_url, intake, reporting)  # the FY2017 one came after those two
    with reporting.client(role="ministry", org="mhlw") as ministry:
        assert ministry.get("/v1/reports/consultations", params={"fy": 2017}).json()["total"] == 1


PII = ("山田太郎", "東京都千代田区1-1", "母親から電話相談")


def test_events_on_nats_match_the_asyncapi_contract_and_carry_no_plaintext_personal_data(
        nats_server, start_service, caplog):
    import logging

    import jsonschema

    from libs.platform.messaging.cloudevents import Envelope, nats_subject
    from libs.platform.tools.asyncapi import asyncapi_document
    from tests.harness import stream_messages

    caplog.set_level(logging.DEBUG)
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations",
                       json={"channel": "visit", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": PII[2]})
        assert r.status_code == 201
        # Staff of the centre read the details back in plaintext: they are sealed, not lost.
        assert staff.get(f"/v1/cases/{case_id}").json()["personal_details"]["name"] == PII[0]

    messages = eventually(lambda: (m := stream_messages(nats_server.url, "INTAKE")) and len(m) == 3 and m)
    document = asyncapi_document()
    names = []
    for msg in messages:
        raw = msg.data.decode()
        for secret in PII:
            assert secret not in raw
        envelope = Envelope.from_json(msg.data)
        names.append(envelope.name)
        assert msg.headers["Nats-Msg-Id"] == envelope.id
        assert msg.subject == nats_subject("intake", envelope)
        schema = {"$ref": f"#/components/schemas/{envelope.name}", "components": document["components"]}
        jsonschema.validate(envelope.to_dict(), schema)
    assert names == ["CentreRegistered", "CaseOpened", "ConsultationRecorded"]
    assert [Envelope.from_json(m.data).sequence for m in messages] == [1, 2, 3]
    for secret in PII:
        assert secret not in caplog.text
