"""The person's details on a dispatch: correction (訂正) and the end of their retention."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from libs.domain.dispatch import INCIDENT_SEVERITIES
from libs.domain.errors import DataErased, DateOutOfOrder
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import InvalidDispatchInput
from services.dispatch.tests.builders import _active, _requested, _the

SEALED = {"alg": "A256GCM", "kid": "k", "iv": "i", "ct": "c"}


def test_the_persons_details_can_be_corrected_after_the_dispatch_ended_but_not_once_erased():
    dispatch, _ = _active()
    dispatch.end(reason="plan_completed", ended_on=date(2017, 9, 1))
    dispatch.correct_subject_details(details=SEALED, corrected_on=date(2017, 9, 2))
    assert dispatch.details == SEALED
    assert type(dispatch.collect_events()[-1]).__name__ == "SubjectDetailsCorrected"
    with pytest.raises(InvalidDispatchInput):
        dispatch.correct_subject_details(details={}, corrected_on=date(2017, 9, 2))
    dispatch.erase(erased_on=date(2017, 9, 3), basis="request_granted")
    with pytest.raises(DataErased):  # 410, the subject was erased
        dispatch.correct_subject_details(details=SEALED, corrected_on=date(2017, 9, 4))


def test_retention_ends_three_years_after_the_dispatch_ended_and_never_earlier():
    dispatch, _ = _active()
    assert not dispatch.retention_ended(date(2030, 1, 1), 3)  # still running
    dispatch.end(reason="subject_requested_stop", ended_on=date(2017, 9, 1))
    assert not dispatch.retention_ended(date(2020, 9, 1), 3)
    assert dispatch.retention_ended(date(2020, 9, 2), 3)
    dispatch.erase(erased_on=date(2020, 9, 2), basis="retention_ended")
    assert not dispatch.retention_ended(date(2030, 1, 1), 3)  # once


def test_a_request_that_never_started_counts_from_its_end_too():
    dispatch = _requested()  # on 2017-04-03
    dispatch.end(reason="other", ended_on=date(2020, 2, 29))
    assert not dispatch.retention_ended(date(2023, 2, 28), 3)
    assert dispatch.retention_ended(date(2023, 3, 1), 3)


def test_nothing_a_person_records_on_a_dispatch_precedes_its_request_but_registry_facts_keep_their_date():
    """issue 14: an end dated before the request was stored."""
    before = date(2017, 4, 2)  # the request was on 2017-04-03
    for command in (lambda d: d.end(reason="other", ended_on=before),
                    lambda d: d.end(reason="subject_requested_stop", ended_on=before),
                    lambda d: d.give_guidance(given_by="centre", given_on=before, guidance=SEALED),
                    lambda d: d.agree_plan(activities=["visit"], plan=SEALED, agreed_on=before)):
        dispatch = _requested()
        with pytest.raises(DateOutOfOrder):
            command(dispatch)
        assert dispatch.status == "requested"
    dispatch, _ = _active()
    with pytest.raises(DateOutOfOrder):
        dispatch.suspend(reason="subject_condition", suspended_on=before)
    # A registration that expired before the municipality learnt of it ends the dispatch as dated.
    assert dispatch.end(reason="supporter_registration_expired", ended_on=before, cause_event_id="e1")
    with pytest.raises(DateOutOfOrder):
        dispatch.erase(erased_on=date(2017, 4, 1), basis="request_granted")


def test_an_erasure_at_the_referring_centre_is_noticed_once_and_closes_when_the_dispatch_is_erased():
    dispatch, _ = _active()
    assert dispatch.notice_source_erasure(source="intake", cause_event_id="e1", erased_at_source_on=date(2017, 9, 1),
                                          notified_on=date(2017, 9, 1))
    assert not dispatch.notice_source_erasure(source="intake", cause_event_id="e1",
                                              erased_at_source_on=date(2017, 9, 1), notified_on=date(2017, 9, 2))
    assert dispatch.erasure_at_source == date(2017, 9, 1) and dispatch.status == "active"  # the municipality decides
    dispatch.end(reason="subject_requested_stop", ended_on=date(2017, 9, 3))
    with pytest.raises(InvalidDispatchInput):
        dispatch.erase(erased_on=date(2017, 9, 3), basis="request_granted", cause="because", cause_event_id="e1")
    dispatch.erase(erased_on=date(2017, 9, 3), basis="request_granted", cause="erased_at_intake", cause_event_id="e1")
    erased = _the(Dispatch.SubjectDataErased, dispatch.collect_events()[-1])
    assert (erased.cause, erased.cause_event_id) == ("erased_at_intake", "e1")
    assert dispatch.erasure_at_source is None
    assert not dispatch.notice_source_erasure(source="intake", cause_event_id="e2",
                                              erased_at_source_on=date(2017, 9, 4), notified_on=date(2017, 9, 4))


def test_an_erasure_at_the_referring_centre_erases_only_an_ended_dispatch_without_an_incident():
    running, _ = _active()
    assert not running.erased_with_the_source()  # still running: the municipality decides
    running.end(reason="plan_completed", ended_on=date(2017, 9, 1))
    assert running.erased_with_the_source()
    with_incident, _ = _active()
    with_incident.end(reason="plan_completed", ended_on=date(2017, 9, 1))
    with_incident.report_incident(incident_id=uuid4(), occurred_on=date(2017, 8, 30), severity=INCIDENT_SEVERITIES[0],
                                  account=SEALED)
    assert not with_incident.erased_with_the_source()  # the incident's account may have to be kept
