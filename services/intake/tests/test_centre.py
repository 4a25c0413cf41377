"""Centre rules (ひきこもり地域支援センター): registering a centre, without a database."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from libs.domain.codes import InvalidLgCode
from services.intake.domain.centre import Centre
from services.intake.domain.errors import InvalidCentre

TOKYO = "130001"


def _register(**overrides: object) -> Centre:
    arguments: dict[str, Any] = {
        "id": uuid4(), "tenant": TOKYO, "name": "東京都ひきこもりサポートネット", "kind": "adult",
        "site": "main",
    }
    arguments.update(overrides)
    return Centre.register(**arguments)


def test_a_centre_is_registered_with_one_event_and_a_trimmed_name() -> None:
    centre = _register(name="  東京都ひきこもりサポートネット　", kind="child", site="satellite")
    events = centre.collect_events()
    assert [type(e).__name__ for e in events] == ["CentreRegistered"]
    assert centre.name == "東京都ひきこもりサポートネット"
    assert isinstance(events[0], Centre.CentreRegistered)
    assert events[0].name == "東京都ひきこもりサポートネット"
    assert (centre.tenant, centre.kind, centre.site) == (TOKYO, "child", "satellite")


@pytest.mark.parametrize("tenant", ["141003", "011002", "271004", "401307", "010006"])
def test_a_centre_may_be_registered_by_a_prefecture_or_designated_city(tenant: str) -> None:
    assert _register(tenant=tenant).tenant == tenant


@pytest.mark.parametrize("tenant", ["130002", "13000", "1300010", "13000A", "", "１３０００１"])
def test_a_centre_with_a_bad_local_government_code_is_rejected(tenant: str) -> None:
    with pytest.raises(InvalidLgCode):
        _register(tenant=tenant)


@pytest.mark.parametrize("name", ["", " ", "   ", "\t\n", "　"])
def test_a_centre_with_a_blank_name_is_rejected(name: str) -> None:
    with pytest.raises(InvalidCentre, match="name"):
        _register(name=name)


@pytest.mark.parametrize("kind", ["", "youth", "Adult", "成人"])
def test_a_centre_of_an_unknown_kind_is_rejected(kind: str) -> None:
    with pytest.raises(InvalidCentre, match="kind"):
        _register(kind=kind)


@pytest.mark.parametrize("site", ["", "branch", "Main", "本所"])
def test_a_centre_at_an_unknown_site_is_rejected(site: str) -> None:
    with pytest.raises(InvalidCentre, match="site"):
        _register(site=site)


def test_the_lg_code_is_checked_before_anything_else() -> None:
    with pytest.raises(InvalidLgCode):
        _register(tenant="999999", name="", kind="?", site="?")


def test_only_a_demo_tenant_may_hold_a_demo_centre() -> None:
    """Else one "demo" centre would take a real prefecture and its municipalities out of the
    national tables (reporting leaves demo tenants out)."""
    with pytest.raises(InvalidCentre, match="demo tenant"):
        _register(demo=True)
    assert _register(tenant="990001", demo=True).demo is True  # デモ県 of `make run`
    assert _register(tenant="980005", demo=True).demo is True
