"""The privacy-records projection: what a provision rests on, and tables made before legal bases."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from libs.domain import intake, registry
from libs.platform.privacy.records import PrivacyRecords, _basis, transfers_of


def test_a_provision_rests_on_its_legal_basis_when_one_is_stated_else_on_its_consent():
    spec, roster = intake.CaseInfoDisclosed.PROVISION, registry.RosterProvided.PROVISION
    assert spec is not None and roster is not None
    assert _basis({"consent_id": None, "legal_basis": "required_by_law"}, spec) == ("legal_basis", "required_by_law")
    assert _basis({"consent_id": "c-1", "legal_basis": None}, spec) == ("consent", "c-1")
    assert _basis({"consent_id": "c-2"}, roster) == ("consent", "c-2")
    with pytest.raises(ValueError):
        _basis({"consent_id": None, "legal_basis": None}, spec)


def test_a_records_table_made_before_legal_bases_gains_the_new_nullable_columns_and_keeps_its_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # pr_transfers as it was first created
        conn.execute(text(
            'CREATE TABLE pr_transfers (event_id VARCHAR(36), entry VARCHAR(36), kind VARCHAR(16), '
            'event_type VARCHAR(120), aggregate_id VARCHAR(36), subject VARCHAR(64), counterpart VARCHAR(64), '
            'items JSON, basis VARCHAR(64), "on" VARCHAR(40), tenant VARCHAR(6), time DATETIME, '
            'PRIMARY KEY (event_id, entry))'))
        conn.execute(text("INSERT INTO pr_transfers VALUES ('e', 's', 'provision', 't', 'a', 's', 'agency', '[]', "
                          "'consent-1', '2016-05-02', '130001', '2016-05-02 00:00:00')"))
    PrivacyRecords(engine, intake.EVENTS)
    PrivacyRecords(engine, intake.EVENTS)  # a second start alters nothing more
    [row] = transfers_of(engine, subject="s", counterpart=None)
    assert (row["basis_kind"], row["basis"]) == ("consent", "consent-1")
    engine.dispose()


def test_a_consent_projected_from_an_older_event_version_reads_as_the_current_contract():
    from libs.platform.privacy.records import current_data

    v1 = {"consent_id": "c-1", "given_by": "person", "agency_ids": ["a-1"], "categories": [], "items": ["name"],
          "explained_on": "2016-05-01", "consent_text_version": "v"}
    current = current_data("jp.tsunagu.intake.InfoSharingConsented.v1", v1)
    assert current["record"]["recipients"] == ["a-1"] and current["record"]["controller"] is None
    assert "record" not in v1  # the stored row is not changed
    v2 = {**v1, "record": {"x": 1}}
    assert current_data("jp.tsunagu.intake.InfoSharingConsented.v2", v2) == v2
    signed = {"consent_id": "c-2", "items": ["roster_listing"], "consent_text_version": "資料4-v1",
              "signed_on": "2016-06-01", "purpose": "名簿"}
    assert current_data("jp.tsunagu.registry.RegistrationConsented.v1", signed)["record"]["purposes"] == ["名簿"]
    accessed = {"accessed_by": "a", "purpose": "本人からの開示請求（電話）"}
    assert current_data("jp.tsunagu.audit.PersonalDataAccessed.v1", accessed) == {
        "accessed_by": "a", "purpose_code": "other", "note": None}  # the free text is dropped
    accessed_v2 = {"accessed_by": "a", "purpose_code": "internal_audit", "note": None}
    assert current_data("jp.tsunagu.audit.PersonalDataAccessed.v2", accessed_v2) == accessed_v2
