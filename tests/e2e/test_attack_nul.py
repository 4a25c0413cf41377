"""Attack (h-attack10): U+0000 (NUL) in what a request says. PostgreSQL's text refuses it: a centre
named with one was stored (201) and then stopped intake's read model there (the public directory
answered 500 from then on), and a query naming one (a cursor, a category, an audit subject or note,
a provision's recipient) was a 500. SQLite took them all. Now it is bad input wherever it is: a 422
problem, nothing written, on both backends."""

from __future__ import annotations

from tests.e2e.test_registry_lifecycle import REGISTRAR
from tests.harness import eventually, log_positions, status

PREF = "130001"


def _refused(response) -> bool:
    return (response.status_code == 422
            and response.headers["content-type"].startswith("application/problem+json"))


def test_nul_in_a_body_or_a_parameter_is_bad_input_and_stops_nothing(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    registry = start_service("registry", nats_server.url)
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        written = log_positions(intake)
        for body in ({"name": "相談\x00センター", "kind": "adult", "prefecture": PREF},
                     {"name": "相談センター", "kind": "adult", "prefecture": PREF, "site\x00": "main"}):
            r = officer.post("/v1/centres", json=body)
            assert _refused(r), status(r)
        assert log_positions(intake) == written
        # The read model goes on: a centre registered next is in the public directory.
        r = officer.post("/v1/centres", json={"name": "後の相談センター", "kind": "adult", "prefecture": PREF})
        assert status(r) == 201
    with intake.client() as anyone:
        eventually(lambda: "後の相談センター" in {c["name"] for c in anyone.get("/public/v1/centres").json()["data"]})

    queries = [(intake, "auditor", "000000", "/v1/audit/provisions", {"recipient": "a\x00"}),
               (intake, "auditor", "000000", "/v1/audit/consents", {"subject": "a\x00"}),
               (intake, "auditor_pii", "000000", "/v1/audit/subjects/x", {"purpose": "internal_audit", "note": "\x00"}),
               (intake, "auditor_pii", "000000", "/v1/audit/subjects/a%00", {"purpose": "internal_audit"}),
               (intake, None, "", "/public/v1/agencies", {"category": "\x00"}),
               (registry, "prefecture_officer", REGISTRAR, "/v1/supporters", {"cursor": "\x00"})]
    for service, role, org, path, params in queries:
        with service.client(role=role, org=org) as client:
            r = client.get(path, params=params)
            assert _refused(r), (path, status(r))
