"""A master key rotation on a running deployment (issue 14): the service starts with the new key
and the old one as previous, its rewrap job moves every subject key, and then the old key can be
removed — the person's details read the same before, during and after."""

from __future__ import annotations

import dataclasses
import os

from libs.platform.privacy.keystore import master_id
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually


def _details(intake, centre_id: str, case_id: str) -> dict:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.get(f"/v1/cases/{case_id}")
        assert r.status_code == 200, r.text
        return r.json()["personal_details"]


def test_a_rotated_master_key_rewraps_every_subject_key_and_the_old_key_can_go(nats_server, start_service):
    old, new = os.urandom(32).hex(), os.urandom(32).hex()
    intake = start_service("intake", nats_server.url, master_key_hex=old)
    centre_id, case_id = _setup_case(intake)
    before = _details(intake, centre_id, case_id)
    assert before["name"] == "山田太郎"

    intake.stop()
    intake.settings = dataclasses.replace(intake.settings, master_key_hex=new, previous_master_keys_hex=(old,))
    intake.start()
    assert _details(intake, centre_id, case_id) == before  # served while the keys move
    eventually(lambda: set(intake.runtime.sealer.keys_by_master()) == {master_id(bytes.fromhex(new))})
    with intake.operator() as operator:
        jobs = [loop for loop in operator.get("/readyz").json()["checks"]["loops"] if loop["name"] == "rewrap"]
        assert jobs and jobs[0]["kind"] == "job"

    intake.stop()  # the old key is destroyed: the deployment no longer gives it
    intake.settings = dataclasses.replace(intake.settings, previous_master_keys_hex=())
    intake.start()
    assert _details(intake, centre_id, case_id) == before
    with intake.operator() as operator:
        assert not [loop for loop in operator.get("/readyz").json()["checks"]["loops"] if loop["name"] == "rewrap"]
