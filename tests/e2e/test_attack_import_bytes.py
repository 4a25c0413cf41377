"""Attack (issue 15 merge): an import of many consultations (the bulk path on PostgreSQL,
store/bulk.py) with hostile text in every free field a portal sends: each answer is 201 with
every summary read back as sent, or a 4xx problem with nothing written; never a 500."""

from __future__ import annotations

import json

from tests.e2e.test_consultation_import import _item
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import log_positions

WHEN = "2016-05-01T10:00:00+09:00"
HOSTILE = {
    "nul": "a\x00b",
    "controls": "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "lone surrogate": "\ud800x",
    "reversed surrogates": "\udc00\ud800",
    "bidi and zero width": "\u202eabc\u200b\ufeff",
    "astral": "𠮷👨‍👩‍👧\U0010ffff",
    "noncharacter": "\ufffe\uffff",
    "json-ish": '{"alg":"A256GCM","kid":"x","iv":"","ct":""}',
    "max": "相" * 8000,
}


def _raw(body: dict) -> bytes:
    """JSON as a portal's client may write it: non-ASCII as is, and lone surrogates escaped."""
    return json.dumps(body, ensure_ascii=True).encode()


def test_an_import_of_hostile_summaries_is_recorded_as_sent_or_refused_whole(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        outcomes = {}
        for name, summary in HOSTILE.items():
            items = [_item(case_id, WHEN, f"ok {n}") for n in range(20)] + [_item(case_id, WHEN, summary)]
            before = log_positions(intake)
            r = staff.post("/v1/consultation-imports", content=_raw({"consultations": items}),
                           headers={"content-type": "application/json", "Idempotency-Key": f"hostile {name}"})
            outcomes[name] = r.status_code
            assert r.status_code < 500, (name, r.status_code, r.text[:300])
            if r.status_code == 201:
                ids = [c["id"] for c in r.json()["data"]]
                got = staff.get(f"/v1/cases/{case_id}/consultations/{ids[-1]}")
                assert got.status_code == 200 and got.json()["summary"] == summary, (name, got.text[:300])
            else:
                assert r.headers["content-type"].startswith("application/problem+json"), (name, r.text[:300])
                assert log_positions(intake) == before, name
        # Hostile Idempotency-Keys (header values: latin-1 only in HTTP): never a 500.
        for key in ("\x7f", "ÿ" * 200, "a\tb c"):
            r = staff.post("/v1/consultation-imports", json={"consultations": [_item(case_id, WHEN)]},
                           headers={"Idempotency-Key": key.encode("latin-1")})
            assert r.status_code < 500, (key, r.status_code, r.text[:300])
        assert outcomes["astral"] == outcomes["max"] == 201, outcomes
