"""What the soak's portal clients do: the shared set-up (centres, a registrar, a roster for a
city), each client's own set-up (a training course, a registered supporter, a started dispatch,
cases), and the commands of the load, each made into a `Command` with its identity."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import httpx

from soak.commands import Command, Ledger, constant, identity, send

if TYPE_CHECKING:  # soak.system imports this module
    from soak.system import System

PREFECTURES = ("130001", "270008")  # 東京都, 大阪府: a centre each
REGISTRAR, CITY = "130001", "131016"  # 東京都 registers supporters; 千代田区 dispatches them
CONSENT = {"roster_listing": True, "follow_instructions": True, "confidentiality": True,
           "no_discrediting_conduct": True, "continuing_training": True, "consent_text_version": "資料4-v1"}
FY2016 = date(2016, 4, 1)


class Portal:
    """The soak's side of the HTTP APIs: tokens, one httpx client per caller, the ledger."""

    def __init__(self, system: System, ledger: Ledger, deadline_s: float = 120) -> None:
        self.system = system
        self.ledger = ledger
        self.deadline_s = deadline_s
        self.run = uuid.uuid4().hex[:8]
        self._clients: list[httpx.Client] = []

    def client(self, service: str, role: str, org: str, sub: str = "soak") -> httpx.Client:
        c = self.system.client(service, role, org, sub)
        self._clients.append(c)
        return c

    def key(self, *parts: object) -> str:
        return "-".join(["soak", self.run, *map(str, parts)])

    def must(self, command: Command) -> Command:
        command.segment = "setup"
        self.ledger.add(command)
        send(command, self.ledger, deadline_s=self.deadline_s)
        if command.status != "accepted":
            raise RuntimeError(f"set-up command {command.kind} {command.path}: {command.status} {command.detail}")
        return command

    def close(self) -> None:
        for c in self._clients:
            c.close()


@dataclass
class Shared:
    centres: list[str]
    registry: httpx.Client


def setup_shared(portal: Portal, clients: int) -> Shared:
    centres = []
    for i, pref in enumerate(PREFECTURES):
        officer = portal.client("intake", "prefecture_officer", pref)
        centres.append(portal.must(Command("centre", officer, "/v1/centres", {
            "name": f"ソーク地域支援センター{i}", "kind": "adult", "prefecture": pref},
            portal.key("centre", i), identity("id"))).result)
    registry = portal.client("registry", "prefecture_officer", REGISTRAR)
    _retry(lambda: registry.put("/v1/registrar", json={"max_term_years": 3, "default_term_years": 2,
                                                      "consent_text_version": CONSENT["consent_text_version"]}))
    return Shared(centres, registry)


def setup_client(portal: Portal, shared: Shared, n: int, rng: random.Random) -> ClientState:
    state = ClientState(portal, n, rng, centre=shared.centres[n % len(shared.centres)],
                        pref=PREFECTURES[n % len(PREFECTURES)])
    state.course = portal.must(Command("course", state.registry, "/v1/training-courses", {
        "kind": "initial", "title": f"ソーク養成研修{n}", "starts_on": "2016-05-10", "ends_on": "2016-05-12",
        "venue": "ソーク"}, portal.key("course", n), identity("id"))).result
    while state.supporter is None:  # one registered supporter of its own, for its dispatch
        command = portal.must(state.registry_step())
        state.after(command)
    portal.must(Command("roster", state.registry, "/v1/rosters", {
        "municipality": CITY, "provided_on": date.today().isoformat(), "supporter_ids": [state.supporter]},
        portal.key("roster", n), identity("id")))
    _start_dispatch(portal, state)
    for _ in range(3):
        state.after(portal.must(state.case()))
    return state


def _start_dispatch(portal: Portal, state: ClientState) -> None:
    city, day = state.city, date.today().isoformat()
    deadline = time.monotonic() + 120
    # The roster travels from the registry to dispatch over NATS.
    while not any(e["supporter_id"] == state.supporter for e in _retry(lambda: city.get("/v1/roster")).json()["data"]):
        if time.monotonic() > deadline:
            raise RuntimeError("the roster did not reach dispatch over NATS within 120 s")
        time.sleep(0.2)
    portal.must(Command("setup", city, f"/v1/roster/{state.supporter}/intent-reconfirmation", {"on": day},
                        portal.key("intent", state.n), constant(state.supporter)))
    state.dispatch_id = portal.must(state.dispatch()).result
    base = f"/v1/dispatches/{state.dispatch_id}"
    steps = [
        (city, "assignment", {"supporter_id": state.supporter, "assigned_on": day}),
        (city, "subject-consent", {"items": ["name", "address"], "support_meetings": True, "costs_self_paid": True,
                                   "signed_on": day}),
        (city, "plan", {"activities": ["visit"], "purpose": "ソーク", "activity_plan": "週1回", "content": "会話",
                        "agreed_on": day}),
        (state.me, "supporter-acceptance", {"accepted_on": day}),
    ]
    for http, step, body in steps:
        portal.must(Command("setup", http, f"{base}/{step}", body, portal.key(step, state.n),
                            constant(state.dispatch_id)))
    portal.must(Command("start", city, f"{base}/start", {"on": day}, portal.key("start", state.n),
                        constant(state.dispatch_id)))


@dataclass
class ClientState:
    portal: Portal
    n: int
    random: random.Random
    centre: str
    pref: str
    cases: list[str] = field(default_factory=list)
    course: str | None = None
    supporter: str | None = None  # the registered supporter of this client's dispatch
    dispatch_id: str | None = None
    stage: str = "attend"
    trainee: str | None = None
    certificate: str | None = None
    count: int = 0

    def __post_init__(self) -> None:
        self.staff = self.portal.client("intake", "centre_staff", self.centre)
        self.registry = self.portal.client("registry", "prefecture_officer", REGISTRAR)
        self.city = self.portal.client("dispatch", "municipal_officer", CITY)
        self._me: httpx.Client | None = None

    @property
    def me(self) -> httpx.Client:
        """The supporter of this client's dispatch, filing reports."""
        if self._me is None:
            self._me = self.portal.client("dispatch", "supporter", REGISTRAR, sub=self.supporter)
        return self._me

    def _key(self, kind: str) -> str:
        self.count += 1
        return self.portal.key(kind, self.n, self.count)

    # -- the load's commands -----------------------------------------------------------------
    def consultation(self) -> Command:
        case = self.random.choice(self.cases[-5:])  # recent cases get most of the consultations
        when = FY2016 + timedelta(days=self.random.randrange(365))
        return Command("consultation", self.staff, f"/v1/cases/{case}/consultations", {
            "channel": self.random.choice(("phone", "visit", "email", "outreach")),
            "consulted_by": self.random.choice(("person", "family")),
            "occurred_at": when.isoformat() + "T10:00:00+09:00", "summary": "ソーク相談: 家族から電話"},
            self._key("consultation"), identity("id"))

    def case(self) -> Command:
        return Command("case", self.staff, "/v1/cases", {
            "centre_id": self.centre, "client_kind": self.random.choice(("person", "family")), "age_group": "adult",
            "personal_details": {"name": f"ソーク 太郎{self.n}-{self.count}"}}, self._key("case"), identity("id"))

    def activity(self) -> Command:
        key, day = self._key("activity"), date.today().isoformat()
        return Command("activity", self.me, f"/v1/dispatches/{self.dispatch_id}/activity-reports", {
            "reported_on": day, "activity_date": day, "starts_at": "10:00", "ends_at": "11:00", "place": "自宅",
            "activity_type": "visit", "content": "ソーク訪問", "next_step": "continue"}, key, identity("report_id"))

    def dispatch(self) -> Command:
        return Command("dispatch", self.city, "/v1/dispatches", {
            "needs": ["visit"], "requested_on": date.today().isoformat()}, self._key("dispatch"), identity("id"))

    def registry_step(self) -> Command:
        """The next step of this client's trainee: attend → complete → apply → approve."""
        course = f"/v1/training-courses/{self.course}"
        if self.stage == "attend":
            return Command("attendance", self.registry, f"{course}/attendances", {
                "attended_on": "2016-05-10", "trainee": {"name": f"ソーク 花子{self.n}-{self.count}"}},
                self._key("attend"), identity("trainee_id"))
        trainee = self.trainee
        if self.stage == "complete":
            def completed() -> dict | None:
                number = self.registry.get(course).json()["completed"].get(trainee)
                return {"trainee_id": trainee, "certificate_number": number} if number else None

            return Command("completion", self.registry, f"{course}/completions", {
                "trainee_id": trainee, "completed_on": "2016-05-12"}, self._key("complete"),
                lambda body: self._certificate(body), completed)
        if self.stage == "apply":
            return Command("application", self.registry, "/v1/registrations", {
                "certificate_number": self.certificate, "applied_on": "2016-06-01",
                "applicant": {"furigana": "そーく", "name": f"ソーク 花子{self.n}", "gender": "unspecified",
                              "birth_date": "1970-01-01", "address": "東京都千代田区", "phone": "03-0000-0000"},
                "consent": {**CONSENT, "signed_on": "2016-06-01"}}, self._key("apply"), identity("id"))

        def registered() -> dict | None:
            s = self.registry.get(f"/v1/supporters/{trainee}").json()
            return s if s.get("status") == "registered" else None

        issued = (date.today() - timedelta(days=30)).isoformat()
        return Command("approval", self.registry, f"/v1/supporters/{trainee}/approval", {"issued_on": issued},
                       self._key("approve"), constant(trainee), registered)

    def _certificate(self, body: dict) -> str:
        self.certificate = body["certificate_number"]
        return str(body["trainee_id"])

    def after(self, command: Command) -> None:
        """Move on from an answered command; a refused or unresolved step starts a new trainee."""
        if command.kind == "case" and command.status == "accepted":
            self.cases.append(command.result)
        if command.kind not in ("attendance", "completion", "application", "approval"):
            return
        if command.status != "accepted":
            self.stage = "attend"
            return
        following = {"attendance": "complete", "completion": "apply", "application": "approve", "approval": "attend"}
        if command.kind == "attendance":
            self.trainee = command.result
        if command.kind == "approval" and self.supporter is None:
            self.supporter = command.result
        self.stage = following[command.kind]


def _retry(call: Callable[[], httpx.Response], seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            r = call()
            if r.is_success:
                return r
        except httpx.TransportError:
            r = None
        if time.monotonic() > deadline:
            raise RuntimeError(f"set-up request failed: {r.status_code if r else 'no answer'} {r.text if r else ''}")
        time.sleep(0.3)
