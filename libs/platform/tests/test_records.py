"""The privacy-records projection: what a provision rests on, and tables made before legal bases."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from libs.domain import intake, registry
from libs.platform.records import PrivacyRecords, _basis, transfers_of


def test_a_provision_rests_on_its_legal_basis_when_one_is_stated_else_on_its_consent():
    spec = intake.CaseInfoDisclosed.PROVISION
    assert _basis({"consent_id": None, "legal_basis": "required_by_law"}, spec) == ("legal_basis", "required_by_law")
    assert _basis({"consent_id": "c-1", "legal_basis": None}, spec) == ("consent", "c-1")
    assert _basis({"consent_id": "c-2"}, registry.RosterProvided.PROVISION) == ("consent", "c-2")
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
