"""A supporter's status machine, expiry and renewal, withdrawal and revocation (第9条, 第15条〜第17条),
without a database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from uuid import uuid4

import pytest

from libs.domain import registry
from libs.domain.errors import InvalidInput
from services.registry.domain.errors import (
    ConsentMissing,
    InvalidDates,
    RevocationNotPrepared,
    TermTooLong,
    WrongStatus,
)
from services.registry.domain.supporter import Supporter
from services.registry.tests.builders import (
    BUILDERS,
    ISSUED_ON,
    _all_consent,
    _applied,
    _expired,
    _names,
    _of,
    _registered,
    _renew,
    _revoked,
)

# -- supporter: status machine --------------------------------------------------------------

def _register(s: Supporter) -> None:
    s.register(registration_number="009", issued_on=date(2018, 7, 10), term_years=1, max_term_years=3)


def _check_approval(s: Supporter) -> None:
    s.check_approval(issued_on=date(2018, 7, 10), term_years=1, max_term_years=3)


def _screen(s: Supporter) -> None:
    s.record_screening(kind="interview", held_on=date(2018, 7, 10), note=None)


def _refuse(s: Supporter) -> None:
    s.refuse(refused_on=date(2018, 7, 10), reason=None)


def _change(s: Supporter) -> None:
    s.change_details(changed_fields=["address"], changes={}, changed_on=date(2018, 7, 10))


def _continuing(s: Supporter) -> None:
    s.attend_continuing_training(course_id=uuid4(), attended_on=date(2018, 7, 10))


def _withdraw(s: Supporter) -> None:
    s.withdraw(withdrawn_on=date(2018, 7, 10), reason=None)


def _inquire(s: Supporter) -> None:
    s.record_inquiry(kind="interview", held_on=date(2018, 7, 10), findings=None)


def _revoke(s: Supporter) -> None:
    s.revoke(revoked_on=date(2018, 7, 10), grounds={})


COMMANDS: dict[str, Callable[[Supporter], None]] = {
    "register": _register, "check_approval": _check_approval, "record_screening": _screen,
    "refuse": _refuse, "change_details": _change, "renew": _renew,
    "attend_continuing_training": _continuing, "withdraw": _withdraw, "record_inquiry": _inquire,
    "revoke": _revoke}
ALLOWED = {
    "register": {"applied"},
    "check_approval": {"applied"},
    "record_screening": {"applied"},
    "refuse": {"applied"},
    "change_details": set(BUILDERS),  # 訂正 (APPI 第34条) of details kept after the end, too (until erased)
    "renew": {"registered", "expired"},
    "attend_continuing_training": {"registered"},
    "withdraw": {"applied", "registered", "expired"},
    "record_inquiry": {"registered", "expired"},
    "revoke": {"registered", "expired"},
}
WRONG = [(command, status) for command in COMMANDS for status in BUILDERS
         if status not in ALLOWED[command]]


@pytest.mark.parametrize("command, status", WRONG)
def test_every_command_in_a_wrong_status_raises_wrong_status_and_records_nothing(command: str,
                                                                                 status: str) -> None:
    supporter = BUILDERS[status]()
    version = supporter.version
    with pytest.raises(WrongStatus) as raised:
        COMMANDS[command](supporter)
    assert raised.value.extensions["current_status"] == status
    assert raised.value.status == 409
    assert supporter.collect_events() == []
    assert (supporter.status, supporter.version) == (status, version)


def test_approving_twice_is_refused() -> None:
    supporter = _registered()
    with pytest.raises(WrongStatus):
        supporter.register(registration_number="002", issued_on=ISSUED_ON, term_years=2, max_term_years=3)
    assert supporter.registration_number == "001"


def test_refusing_after_registration_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _refuse(_registered())


def test_renewing_an_application_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _renew(_applied())


def test_withdrawing_after_revocation_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _withdraw(_revoked())


# -- supporter: expiry and renewal (第9条) ---------------------------------------------------

def test_a_registration_does_not_expire_on_the_last_day_of_its_term() -> None:
    supporter = _registered()
    assert supporter.term_ends_on == date(2018, 6, 30)
    assert supporter.expire_if_due(date(2018, 6, 30)) is False
    assert supporter.expire_if_due(date(2017, 1, 1)) is False
    assert supporter.collect_events() == []
    assert supporter.status == "registered"


def test_a_registration_expires_once_the_day_after_its_term() -> None:
    supporter = _registered()
    assert supporter.expire_if_due(date(2018, 7, 1)) is True
    assert supporter.expire_if_due(date(2018, 7, 2)) is False
    assert supporter.expire_if_due(date(2020, 1, 1)) is False
    events = _of(registry.RegistrationExpired, supporter.collect_events())
    assert _names(events) == ["RegistrationExpired"]
    assert events[0].term_ended_on == date(2018, 6, 30)
    assert supporter.status == "expired"


@pytest.mark.parametrize("status", ["applied", "refused", "withdrawn", "revoked"])
def test_only_a_registered_supporter_can_expire(status: str) -> None:
    supporter = BUILDERS[status]()
    assert supporter.expire_if_due(date(2030, 1, 1)) is False
    assert supporter.collect_events() == []


def test_renewing_an_expired_registration_reconfirms_the_consent_and_starts_a_new_term() -> None:
    supporter = _expired()
    old_consent = supporter.consent_id
    new_consent = uuid4()
    _renew(supporter, consent_id=new_consent, issued_on=date(2018, 7, 10), term_years=2)
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationConsented", "RegistrationRenewed"]
    consented, renewed = events
    assert isinstance(consented, registry.RegistrationConsented)
    assert isinstance(renewed, registry.RegistrationRenewed)
    assert consented.consent_id == new_consent != old_consent
    assert consented.items == list(registry.CONSENT_ITEMS)
    assert (consented.consent_text_version, consented.signed_on) == ("資料4-v2", date(2018, 7, 10))
    assert (renewed.consent_id, renewed.issued_on, renewed.term_starts_on, renewed.term_ends_on) == (
        new_consent, date(2018, 7, 10), date(2018, 7, 10), date(2020, 7, 9))
    assert (supporter.status, supporter.consent_id, supporter.consent_active) == (
        "registered", new_consent, True)
    assert supporter.registration_number == "001"  # the 登録番号 is kept
    assert supporter.is_current(date(2019, 1, 1))


def test_renewing_before_expiry_is_allowed() -> None:
    supporter = _registered()
    _renew(supporter, issued_on=date(2018, 6, 1), term_years=3)
    assert supporter.status == "registered"
    assert supporter.term_ends_on == date(2021, 5, 31)


def test_renewing_restores_a_withdrawn_consent() -> None:
    supporter = _registered()
    supporter.withdraw_consent(withdrawn_on=date(2017, 1, 1))
    _renew(supporter, issued_on=date(2017, 2, 1))
    assert supporter.consent_active is True


def test_a_renewal_without_the_full_consent_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(ConsentMissing) as raised:
        _renew(supporter, consent_items=_all_consent() | {"continuing_training": False})
    assert raised.value.extensions["missing"] == ["continuing_training"]
    assert supporter.collect_events() == []
    assert supporter.status == "expired"


def test_a_renewal_over_the_maximum_term_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(TermTooLong):
        _renew(supporter, term_years=4, max_term_years=3)
    assert supporter.collect_events() == []


def test_a_renewal_issued_before_the_current_term_started_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(InvalidDates):
        _renew(supporter, issued_on=ISSUED_ON - timedelta(days=1))
    assert supporter.collect_events() == []


# -- supporter: withdrawal and revocation (第15条〜第17条) ---------------------------------------

@pytest.mark.parametrize("status", ["applied", "registered", "expired"])
def test_a_withdrawal_records_the_lasting_confidentiality_duty(status: str) -> None:
    supporter = BUILDERS[status]()
    supporter.withdraw(withdrawn_on=date(2018, 8, 1), reason={"sealed": "x"})
    events = _of(registry.RegistrationWithdrawn, supporter.collect_events())
    assert _names(events) == ["RegistrationWithdrawn"]
    assert events[0].withdrawn_on == date(2018, 8, 1)
    assert events[0].confidentiality_duty == registry.CONFIDENTIALITY_NOTE
    assert "第17条" in events[0].confidentiality_duty
    assert supporter.status == "withdrawn"


def test_a_revocation_without_any_inquiry_lists_both_missing_steps() -> None:
    supporter = _registered()
    with pytest.raises(RevocationNotPrepared) as raised:
        supporter.revoke(revoked_on=date(2017, 1, 10), grounds={})
    missing = raised.value.extensions["missing"]
    assert isinstance(missing, list)
    assert sorted(missing) == ["interview", "investigation"]
    assert supporter.collect_events() == []
    assert supporter.status == "registered"


@pytest.mark.parametrize("done, missing", [("investigation", "interview"), ("interview", "investigation")])
def test_a_revocation_after_only_one_inquiry_lists_the_other(done: str, missing: str) -> None:
    supporter = _registered()
    supporter.record_inquiry(kind=done, held_on=date(2017, 1, 5), findings=None)
    supporter.collect_events()
    with pytest.raises(RevocationNotPrepared) as raised:
        supporter.revoke(revoked_on=date(2017, 1, 10), grounds={})
    assert raised.value.extensions["missing"] == [missing]
    assert supporter.collect_events() == []


def test_an_inquiry_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _registered().record_inquiry(kind="hearing", held_on=date(2017, 1, 5), findings=None)


def test_a_revocation_after_investigation_and_interview_carries_the_confidentiality_note() -> None:
    supporter = _registered()
    supporter.record_inquiry(kind="investigation", held_on=date(2017, 1, 5), findings={"sealed": "f"})
    supporter.record_inquiry(kind="interview", held_on=date(2017, 1, 6), findings=None)
    supporter.revoke(revoked_on=date(2017, 1, 10), grounds={"sealed": "g"})
    events = supporter.collect_events()
    assert _names(events) == ["RevocationInquiryRecorded", "RevocationInquiryRecorded", "RegistrationRevoked"]
    assert [e.kind for e in _of(registry.RevocationInquiryRecorded, events[:2])] == ["investigation", "interview"]
    revoked = events[2]
    assert isinstance(revoked, registry.RegistrationRevoked)
    assert (revoked.revoked_on, revoked.grounds) == (date(2017, 1, 10), {"sealed": "g"})
    assert revoked.confidentiality_duty == registry.CONFIDENTIALITY_NOTE
    assert supporter.status == "revoked"


def test_an_expired_registration_can_be_revoked_after_inquiries() -> None:
    supporter = _expired()
    supporter.record_inquiry(kind="interview", held_on=date(2018, 7, 5), findings=None)
    supporter.record_inquiry(kind="investigation", held_on=date(2018, 7, 6), findings=None)
    supporter.revoke(revoked_on=date(2018, 7, 10), grounds={})
    assert supporter.status == "revoked"
