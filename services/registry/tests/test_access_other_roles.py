"""An auditor's token that also says supporter or officer (auth refuses such tokens today,
RolesConflict: this is the registry's own rule, not the edge's): the record is seen as an auditor's,
and the other role opens neither the person's details nor the 登録証 unless the token is the
supporter (id and registrar: libs/platform/web/supporters.py) or an officer of the registrar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from libs.domain.audit import NATIONAL
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.tests.test_access import TOKYO, Registrar, app, registrar  # noqa: F401 - pytest fixtures

AUDITORS_WITH_ANOTHER_ROLE: dict[str, Callable[[Any], Principal]] = {
    "auditor and a supporter of the registrar": lambda target: Principal(
        str(uuid4()), TOKYO, frozenset({"auditor", "supporter"})),
    "national auditor bearing the supporter's id": lambda target: Principal(
        str(target), NATIONAL, frozenset({"auditor", "supporter"})),
    "national auditor and officer": lambda target: Principal("officer", NATIONAL,
                                                             frozenset({"auditor", "prefecture_officer"})),
}


@pytest.mark.parametrize("who", AUDITORS_WITH_ANOTHER_ROLE)
def test_another_role_in_an_auditors_token_opens_neither_the_persons_details_nor_the_card(
        registrar: Registrar, who: str) -> None:  # noqa: F811 - test_access's fixture
    supporter_id = registrar.shared("registered")
    actor = AUDITORS_WITH_ANOTHER_ROLE[who](supporter_id)
    _, details = registrar.app.read_supporter(actor, supporter_id)
    assert details is None
    with pytest.raises(NotAllowed):
        registrar.app.registration_card(actor, supporter_id)
