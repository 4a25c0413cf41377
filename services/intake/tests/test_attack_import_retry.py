"""Attack (h-attack): a vendor retrying an import with its Idempotency-Key after one of the cases
was erased. The erasure forgot the request digests of that case's ledger rows, so
Ledger.of_key answers the first item whatever is sent; the retry may carry more items than the
import recorded, and those have no ledger row: ImportUseCases._imported asserted one was there
(a 500 at the API). Sending the key again with a longer import must be refused as a 422, like
any other reuse of a key with another request."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from libs.domain.errors import DomainError
from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.domain.case import Case
from services.intake.tests.test_concurrent_consultations import _open_case
from tests.harness import stored_applications

WHEN = datetime(2015, 5, 1, 10, tzinfo=UTC)


def _item(case_id, summary: str) -> ImportItem:
    return ImportItem(case_id=case_id, channel="phone", consulted_by="person", occurred_at=WHEN, summary=summary)


def test_a_longer_import_with_the_key_of_an_erased_one_is_refused_not_a_crash(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_id, actor = _open_case(app)
        first = app.import_consultations(actor, [_item(case_id, "移行記録 1")], "batch-erased")
        assert first.created
        app.erase_subject(actor, case_id, erased_on=date(2016, 6, 1), basis="request_granted")
        # The same centre's vendor re-sends the key with a longer batch (a bug on its side, or a replay).
        with pytest.raises(DomainError) as refused:
            application().import_consultations(actor, [_item(case_id, "移行記録 1"), _item(case_id, "移行記録 2")],
                                               "batch-erased")
        assert refused.value.status == 422


def _second_case(app: IntakeApplication, actor) -> UUID:
    case = Case.open(id=uuid4(), tenant="130001", centre_id=UUID(actor.org), client_kind="person", age_group="adult",
                     personal_details=None)
    app.save(case)
    return case.id


def test_the_key_of_an_import_sent_again_with_other_cases_is_refused_as_reused(tmp_path) -> None:
    """The key digests of an import's items are scoped by each item's case (`self.creation(
    "consultation", item.case_id, ...)`), and the import looks for its earlier self by its first
    item only: the same Idempotency-Key with an import whose first item names another case is
    not recognised as a reuse. It is recorded a second time (201) when no item's (case, place)
    meets an earlier row, or, when one does, fails on the unique key digest COMMUTING_RETRIES
    times and answers 409 "Concurrent change; re-read and retry" for ever. The contract
    (imports.py, the route's docs) is 422 idempotency-key-reused."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_a, actor = _open_case(app)
        case_b = _second_case(app, actor)
        assert app.import_consultations(actor, [_item(case_a, "一"), _item(case_b, "二")], "batch-7").created
        with pytest.raises(DomainError) as refused:  # now: recorded again under the key (201)
            app.import_consultations(actor, [_item(case_b, "三")], "batch-7")
        assert refused.value.status == 422
        assert len(app.consultations(actor, case_b)[1]) == 1


def test_the_key_of_an_import_sent_again_meeting_an_earlier_item_is_refused_not_a_conflict_for_ever(tmp_path) -> None:
    """As above, when the other import's item meets an earlier row's (case, place): now the unique
    key digest fails the save COMMUTING_RETRIES times and IntegrityError (409, "re-read and
    retry") comes out; a retry meets the same row again."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_a, actor = _open_case(app)
        case_b = _second_case(app, actor)
        assert app.import_consultations(actor, [_item(case_a, "一"), _item(case_b, "二")], "batch-8").created
        for _ in range(2):
            with pytest.raises(DomainError) as refused:
                app.import_consultations(actor, [_item(case_b, "三"), _item(case_b, "四")], "batch-8")
            assert refused.value.status == 422
