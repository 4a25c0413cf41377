"""Activity reports commute: one filed while another request changed the dispatch (without
If-Match) is re-run on the dispatch reloaded, not refused with 409."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from libs.platform.web.auth import Principal
from services.dispatch.application import DispatchApplication
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.roster_entry import RosterEntry
from services.dispatch.tests.builders import ACTIVITY_DAY, _active
from tests.harness import stored_applications


def _file(app: DispatchApplication, actor: Principal, dispatch_id: UUID, key: str) -> Any:
    return app.report_activity(actor, dispatch_id, idempotency_key=key, reported_on=ACTIVITY_DAY,
                               activity_date=ACTIVITY_DAY, starts_at="14:00", ends_at="15:30", activity_type="visit",
                               activity_type_other=None, next_step="continue", next_step_other=None,
                               narrative={"text": "面談"})


def test_a_report_that_lost_a_race_to_another_report_is_filed_on_the_dispatch_reloaded(tmp_path, monkeypatch) -> None:
    with stored_applications(tmp_path, "dispatch", DispatchApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        built: list[Any] = []  # the builders' events, which they collect and drop, kept to be saved
        collect = Dispatch.collect_events

        def keep(self: Dispatch) -> list[Any]:
            built.extend(collect(self))
            return []

        monkeypatch.setattr(Dispatch, "collect_events", keep)
        dispatch, supporter_id = _active()
        monkeypatch.undo()
        # The roster entry the supporter was assigned from: it names their registrar, whose org
        # their token carries (libs/platform/web/supporters.py).
        built.append(RosterEntry.receive(tenant=dispatch.tenant, supporter_id=supporter_id, registrar="130001",
                                         roster_id=uuid4(), registration_number="2024-001",
                                         term_ends_on=date(2099, 3, 31), consent_id=uuid4(), received_on=ACTIVITY_DAY))
        first.save(*built)
        supporter = Principal(sub=str(supporter_id), org="130001", roles=frozenset({"supporter"}))
        seal = first.seal_required
        raced: list[Any] = []

        def seal_after_the_other_report(subject: Any, value: Any, what: str) -> Any:
            if not raced:  # `first` loaded the dispatch; `second` files its report before `first` saves
                raced.append(_file(second, supporter, dispatch.id, "other"))
            return seal(subject, value, what)

        first.seal_required = seal_after_the_other_report
        _file(first, supporter, dispatch.id, "mine")
        assert len(second.repository.get(dispatch.id).reports) == 2
