"""Who may use each dispatch use case: every role of libs/platform/web/auth.py, on the side of
the resource (own: CHIYODA's staff, the assigned supporter, the referring centre) or not.

A caller who may see a dispatch or a deployment but not act on it is refused (NotAllowed, 403);
one who must not even see it is told it does not exist (*NotFound, 404). Refused, nothing is
recorded. Runs on eventsourcing's in-memory store, no HTTP."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from libs.platform.web.auth import ROLES, NotAllowed, Principal
from services.dispatch.application import DispatchApplication
from services.dispatch.domain.errors import (
    DeploymentNotFound,
    DispatchNotFound,
    RosterEntryNotFound,
    UnknownDeploymentTarget,
)
from services.dispatch.tests.access_world import CENTRE, CHIYODA, LATER, SUPPORTER, TARGET, World, caller, world

OFFICER = ("municipal_officer", True)
THE_SUPPORTER = ("supporter", True)
THE_CENTRE = ("centre_staff", True)
SEES_DISPATCH = {OFFICER, THE_SUPPORTER, THE_CENTRE}
SEES_DEPLOYMENT = {OFFICER, THE_SUPPORTER}
CALLERS = [(role, own) for role in sorted(ROLES) for own in (True, False)]

Call = Callable[[World, Any], Any]

# use case: (the dispatch's stage, who may, whether it records an event, the call)
ON_A_DISPATCH: dict[str, tuple[str, set, bool, Call]] = {
    "get_dispatch": ("assigned", SEES_DISPATCH, False, lambda w, a: w.app.get_dispatch(a, w.dispatch_id)),
    "timeline": ("assigned", {OFFICER}, False, lambda w, a: w.app.timeline(a, w.dispatch_id)),
    # its activity reports and incidents: those who write them, not the referring centre
    "get_dispatch_activity": ("assigned", SEES_DEPLOYMENT, False,
                              lambda w, a: w.app.get_dispatch_activity(a, w.dispatch_id)),
    "subject_consent_receipt": ("assigned", {OFFICER}, False,
                                lambda w, a: w.app.subject_consent_receipt(a, w.dispatch_id)),
    "record_subject_details": ("assigned", {OFFICER}, True, lambda w, a: w.app.record_subject_details(
        a, w.dispatch_id, details={"name": "山田"}, expected_version=None)),
    "correct_subject_details": ("ended", {OFFICER}, True, lambda w, a: w.app.correct_subject_details(
        a, w.dispatch_id, details={"name": "山田"}, corrected_on=LATER)),
    "assign": ("assigned", {OFFICER}, True, lambda w, a: w.app.assign(
        a, w.dispatch_id, supporter_id=SUPPORTER, assigned_on=LATER, expected_version=None)),
    "record_subject_consent": ("assigned", {OFFICER}, True, lambda w, a: w.app.record_subject_consent(
        a, w.dispatch_id, given_by="person", items=["name"], support_meetings=True, costs_self_paid=True,
        signed_on=LATER, expected_version=None)),
    "accept_dispatch": ("assigned", {THE_SUPPORTER}, True, lambda w, a: w.app.accept_dispatch(
        a, w.dispatch_id, accepted_on=LATER, expected_version=None)),
    "agree_plan": ("assigned", {OFFICER}, True, lambda w, a: w.app.agree_plan(
        a, w.dispatch_id, activities=["visit"], plan={"purpose": "p"}, agreed_on=LATER, expected_version=None)),
    "start": ("ready", {OFFICER}, True, lambda w, a: w.app.start(
        a, w.dispatch_id, started_on=LATER, expected_version=None)),
    "disclose": ("active", {THE_SUPPORTER}, True, lambda w, a: w.app.disclose(a, w.dispatch_id)),
    "report_activity": ("active", {THE_SUPPORTER}, True, lambda w, a: w.app.report_activity(
        a, w.dispatch_id, idempotency_key=None, reported_on=LATER, activity_date=LATER, starts_at="10:00",
        ends_at="11:00", activity_type="other", activity_type_other="図書館", next_step="continue",
        next_step_other=None, narrative={"place": "自宅"})),
    "review_report": ("active", {OFFICER}, True, lambda w, a: w.app.review_report(
        a, w.dispatch_id, report_id=w.report_id, reviewed_on=LATER)),
    "give_guidance": ("active", {OFFICER}, True, lambda w, a: w.app.give_guidance(
        a, w.dispatch_id, given_by="municipal_officer", given_on=LATER, guidance="g")),
    "report_incident": ("active", {OFFICER, THE_SUPPORTER}, True, lambda w, a: w.app.report_incident(
        a, w.dispatch_id, occurred_on=LATER, severity="minor", account={"description": "d"})),
    "suspend": ("active", {OFFICER}, True, lambda w, a: w.app.suspend(
        a, w.dispatch_id, reason="other", suspended_on=LATER, note="n", expected_version=None)),
    "resume": ("suspended", {OFFICER}, True, lambda w, a: w.app.resume(
        a, w.dispatch_id, resumed_on=LATER, expected_version=None)),
    "stop_on_request": ("active", {OFFICER}, True, lambda w, a: w.app.stop_on_request(
        a, w.dispatch_id, stopped_on=LATER)),
    "withdraw_subject_consent": ("active", {OFFICER}, True, lambda w, a: w.app.withdraw_subject_consent(
        a, w.dispatch_id, withdrawn_on=LATER)),
    "end_dispatch": ("active", {OFFICER}, True, lambda w, a: w.app.end_dispatch(
        a, w.dispatch_id, reason="plan_completed", ended_on=LATER, expected_version=None)),
    "erase_subject": ("ended", {OFFICER}, True, lambda w, a: w.app.erase_subject(
        a, w.dispatch_id, erased_on=LATER, basis="request_granted")),
}

# Refused to anyone but an officer before the dispatch is looked up (403, not 404), as it was
# when the route checked the role first.
ROLE_FIRST = {"assign"}

# use case: (the dispatch's stage, which sets the deployment's, who may, the call)
ON_A_DEPLOYMENT: dict[str, tuple[str, set, Call]] = {
    "get_deployment": ("active", SEES_DEPLOYMENT, lambda w, a: w.app.get_deployment(a, w.deployment_id)),
    "accept_deployment": ("assigned", {THE_SUPPORTER}, lambda w, a: w.app.accept_deployment(
        a, w.deployment_id, accepted_on=LATER)),
    "report_deployment_activity": ("active", {THE_SUPPORTER}, lambda w, a: w.app.report_deployment_activity(
        a, w.deployment_id, idempotency_key=None, reported_on=LATER, activity_date=LATER, starts_at="13:00",
        ends_at="15:00", participants=3, narrative={"content": "c"})),
    "end_deployment": ("active", {OFFICER}, lambda w, a: w.app.end_deployment(
        a, w.deployment_id, reason="completed", ended_on=LATER)),
}


def _outcome(call: Callable[[], Any]) -> str:
    """"allowed", or the name of the refusal."""
    try:
        call()
    except (NotAllowed, DispatchNotFound, DeploymentNotFound, RosterEntryNotFound, UnknownDeploymentTarget) as e:
        return type(e).__name__
    return "allowed"


def _outcomes(stage: str, call: Call, *, allowed: set) -> dict[tuple[str, bool], str]:
    """What each caller gets, and whether anything was recorded. An allowed caller acts on a world
    of its own; the refused ones share one (each refusal is checked to record nothing)."""
    shared, seen = world(stage), {}
    for who in CALLERS:
        w = world(stage) if who in allowed else shared
        before = w.versions()
        outcome = _outcome(partial(call, w, caller(*who)))
        seen[who] = outcome + (", recorded" if w.versions() != before else "")
    return seen


def _expected(allowed: set, sees: set, hidden: str, *, changes: bool) -> dict[tuple[str, bool], str]:
    return {who: ("allowed, recorded" if changes else "allowed") if who in allowed
            else "NotAllowed" if who in sees else hidden for who in CALLERS}


@pytest.mark.parametrize("use_case", ON_A_DISPATCH)
def test_a_dispatch_use_case_is_open_to_its_parties_only_and_hidden_from_those_who_may_not_see_it(
        use_case: str) -> None:
    stage, allowed, changes, call = ON_A_DISPATCH[use_case]
    expected = _expected(allowed, SEES_DISPATCH, "DispatchNotFound", changes=changes)
    if use_case in ROLE_FIRST:
        expected.update({who: "NotAllowed" for who in CALLERS if who[0] != "municipal_officer"})
    assert _outcomes(stage, call, allowed=allowed) == expected


@pytest.mark.parametrize("use_case", ON_A_DEPLOYMENT)
def test_a_deployment_use_case_is_open_to_its_parties_only_and_hidden_from_those_who_may_not_see_it(
        use_case: str) -> None:
    stage, allowed, call = ON_A_DEPLOYMENT[use_case]
    changes = use_case != "get_deployment"
    assert _outcomes(stage, call, allowed=allowed) == _expected(
        allowed, SEES_DEPLOYMENT, "DeploymentNotFound", changes=changes)


# Who acts as the supporter is their id and their registrar (libs/platform/web/supporters.py), whatever
# else the token lets its holder see: an officer of the municipality, or the referring centre's
# staff, whose token also says supporter and bears the supporter's id (no secret) is not them.
BEARING_THE_ID = {
    "officer and supporter": Principal(sub=str(SUPPORTER), org=CHIYODA,
                                       roles=frozenset({"municipal_officer", "supporter"})),
    "centre staff and supporter": Principal(sub=str(SUPPORTER), org=str(CENTRE),
                                            roles=frozenset({"centre_staff", "supporter"})),
}
AS_THE_SUPPORTER = {name: ON_A_DISPATCH[name] for name in ("accept_dispatch", "disclose", "report_activity")}


@pytest.mark.parametrize("who", BEARING_THE_ID)
def test_a_token_of_another_org_bearing_the_supporters_id_does_not_act_as_the_supporter_whatever_else_it_sees(
        who: str) -> None:
    actor, refused = BEARING_THE_ID[who], {"NotAllowed", "DispatchNotFound", "DeploymentNotFound"}
    for use_case, (stage, _, _, call) in AS_THE_SUPPORTER.items():
        w = world(stage)
        before = w.versions()
        assert _outcome(partial(call, w, actor)) in refused and w.versions() == before, use_case
    for use_case in ("accept_deployment", "report_deployment_activity"):
        stage, _, call = ON_A_DEPLOYMENT[use_case]
        w = world(stage)
        before = w.versions()
        assert _outcome(partial(call, w, actor)) in refused and w.versions() == before, use_case


# use case: (who may, what the read side is asked for on the caller's behalf, the call)
OF_A_MUNICIPALITY: dict[str, tuple[set[str], Callable[[Any], tuple], Call]] = {
    "list_dispatches": ({"municipal_officer"}, lambda a: ("dispatches", {"tenant": a.org}),
                        lambda w, a: w.app.list_dispatches(a, status=None, after=None, limit=50)),
    "my_dispatches": ({"supporter"}, lambda a: ("supporter_dispatches", {"supporter_id": a.sub, "registrar": a.org}),
                      lambda w, a: w.app.my_dispatches(a)),
    "list_deployments": ({"municipal_officer", "supporter"},
                         lambda a: ("deployments", {"supporter": (a.sub, a.org), "tenant": None}
                                    if a.has("supporter") else {"tenant": a.org, "supporter": None}),
                         lambda w, a: w.app.list_deployments(a, status=None, target_id=None, after=None, limit=50)),
    "roster": ({"municipal_officer"}, lambda a: ("roster", {"tenant": a.org}), lambda w, a: w.app.roster(a)),
    "open_tasks": ({"municipal_officer"}, lambda a: ("open_tasks", {"tenant": a.org}),
                   lambda w, a: w.app.open_tasks(a)),
}


@pytest.mark.parametrize("use_case", OF_A_MUNICIPALITY)
def test_a_list_shows_an_officer_their_municipality_and_a_supporter_their_own_and_nobody_else_anything(
        use_case: str) -> None:
    roles, scope, call = OF_A_MUNICIPALITY[use_case]
    w = world("assigned")
    for role, own in CALLERS:
        actor = caller(role, own)
        w.reads.asked.clear()
        assert _outcome(partial(call, w, actor)) == ("allowed" if role in roles else "NotAllowed"), (role, own)
        assert w.reads.asked == ([scope(actor)] if role in roles else []), (role, own)


def test_only_an_officer_requests_a_dispatch_and_it_belongs_to_their_municipality() -> None:
    w = world("assigned")
    for role, own in CALLERS:
        outcome = _outcome(partial(
            w.app.request_dispatch, caller(role, own), subject_ref=None, requested_by="person", needs=["visit"],
            preferences={}, requested_on=LATER, details={"name": "山田"}, idempotency_key=None))
        assert outcome == ("allowed" if role == "municipal_officer" else "NotAllowed"), (role, own)


def test_a_municipality_deploys_only_to_its_own_places_and_changes_only_its_own_roster() -> None:
    for role, own in CALLERS:
        w, actor = world("assigned"), caller(role, own)
        deployed = _outcome(partial(
            w.app.deploy, actor, supporter_id=SUPPORTER, target_kind="place", target_id=TARGET,
            role="place_operation", starts_on=LATER, ends_on=None, idempotency_key=None))
        reconfirmed = _outcome(partial(w.app.reconfirm_intent, actor, SUPPORTER, confirmed_on=LATER))
        if role != "municipal_officer":
            assert (deployed, reconfirmed) == ("NotAllowed", "NotAllowed"), (role, own)
        elif own:
            assert (deployed, reconfirmed) == ("allowed", "allowed")
        else:
            assert (deployed, reconfirmed) == ("UnknownDeploymentTarget", "RosterEntryNotFound")


# Effects of other services' events (consumers.py): no caller, so no access rule; none takes one.
OF_THE_CONSUMERS = {"follow_source_erasure"}


def test_what_the_consumers_call_takes_no_caller_and_so_no_route_can_call_it_for_one() -> None:
    for name in OF_THE_CONSUMERS:
        assert "actor" not in inspect.signature(getattr(DispatchApplication, name)).parameters, name


def test_every_use_case_of_the_application_is_checked_here() -> None:
    """A new use case without a line in these tables fails here, not in production."""
    checked = {*ON_A_DISPATCH, *ON_A_DEPLOYMENT, *OF_A_MUNICIPALITY, *OF_THE_CONSUMERS, "request_dispatch", "deploy",
               "reconfirm_intent"}
    use_cases = {name for kind in DispatchApplication.__mro__
                 if kind.__module__.startswith("services.dispatch.application")
                 for name, member in vars(kind).items() if callable(member) and not name.startswith("_")}
    assert use_cases == checked
