"""The disclosure document rendered from a service's answer: names, both calendars, legal bases,
and the person's own text escaped (it is HTML a browser opens)."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.platform.privacy.document import both, render_disclosure

AGENCY = "2b1f5a0e-0000-4000-8000-000000000001"


def _part() -> dict:
    return {
        "service": "intake", "subject": "case-1", "names": {AGENCY: "千代田保健所", "130001": "東京都"},
        "events": [{"type": "jp.tsunagu.intake.ConsultationRecorded.v2", "tenant": "130001",
                    "subject": "case-1", "time": "2019-04-30T15:30:00+00:00",
                    "data": {"summary": "<script>alert(1)</script>", "occurred_at": "2019-04-30T23:30:00+09:00"}}],
        "provisions": [{"counterpart": AGENCY, "on": "2019-05-01", "items": ["name", "medical_history"],
                        "basis": "protection_of_life", "basis_kind": "legal_basis", "tenant": "130001"}],
        "consents": [],
    }


def test_an_instant_reads_as_its_date_in_japan_in_both_calendars():
    assert both("2019-04-30T15:30:00+00:00") == "令和元年5月1日 (2019-05-01)"  # 00:30 on 1 May in Japan
    assert both(datetime(2019, 4, 30, 14, 59, tzinfo=UTC)) == "平成31年4月30日 (2019-04-30)"
    assert both(None) == "—"


def test_the_document_names_the_recipient_states_the_legal_basis_and_escapes_the_persons_text():
    html = render_disclosure({"subject": "case-1", "purpose": "disclosure_request", "services": [_part()]},
                             made_at=datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    assert '<td class="recipient">千代田保健所</td>' in html
    assert "個人情報保護法 第27条第1項第2号" in html and "既往歴（要配慮個人情報）" in html
    assert "令和8年11月29日 (2026-11-29)" in html and "令和元年5月1日 (2019-05-01)" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@media print" in html and '<html lang="ja">' in html
