"""The jurisdiction of an auditor and the purpose codes (libs/domain/audit)."""

from __future__ import annotations

from typing import get_args

import pytest

from libs.domain.audit import NATIONAL, PURPOSES, PersonalDataAccessed, PurposeCode, covers


@pytest.mark.parametrize(("org", "tenant", "covered"), [
    (NATIONAL, "131016", True), (NATIONAL, NATIONAL, True),
    ("130001", "130001", True), ("130001", "131016", True), ("130001", "271004", False),
    ("130001", NATIONAL, False),
    ("131016", "131016", True), ("131016", "130001", False), ("131016", "131024", False),
    ("270008", "131016", False), ("ppc", "131016", False), ("mhlw", NATIONAL, False),
    ("00000", "131016", False),
])
def test_an_auditor_covers_their_own_government_and_a_prefecture_its_municipalities(org, tenant, covered):
    assert covers(org, tenant) is covered


def test_every_purpose_code_has_a_japanese_label():
    assert set(PURPOSES) == set(get_args(PurposeCode))
    assert all(label and not label.isascii() for label in PURPOSES.values())


def test_an_access_recorded_with_a_free_text_purpose_reads_as_other_without_the_text():
    state = {"purpose": "〇〇本人からの開示請求（電話 090-…）", "subject": None}
    PersonalDataAccessed.upcast_v1_v2(state)
    assert state == {"purpose_code": "other", "note": None, "subject": None}
