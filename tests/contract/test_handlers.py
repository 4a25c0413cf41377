"""Every handler table against the streams it follows (libs/platform/messaging/streams.CONTRACTS).

A handler is keyed by an event published on the stream it is consumed from, and every event
published there is either handled or deliberately ignored with a reason: a new event type makes
every consumer of its stream decide, instead of being dropped without anyone noticing.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import pytest

import services
from libs.domain import audit, intake, registry
from libs.domain.contracts import Contract, event_type
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import EventHandlers, contract_of_envelope
from libs.platform.messaging.streams import CONTRACTS
from services.dispatch import consumers as dispatch_consumers
from services.dispatch import read_models as dispatch_read_models
from services.intake import read_models as intake_read_models
from services.registry import read_models as registry_read_models
from services.reporting import projections as reporting_projections

# Each consumer and the streams it is fed from: own read models follow their service's log (the
# events of its stream), the others the streams their service subscribes to in bootstrap.
CONSUMERS: dict[str, tuple[EventHandlers, tuple[str, ...]]] = {
    "intake read models": (intake_read_models.HANDLERS, ("intake",)),
    "registry read models": (registry_read_models.HANDLERS, ("registry",)),
    "dispatch read models": (dispatch_read_models.HANDLERS, ("dispatch",)),
    "dispatch policies on REGISTRY": (dispatch_consumers.FROM_REGISTRY, ("registry",)),
    "dispatch policies on INTAKE": (dispatch_consumers.FROM_INTAKE, ("intake",)),
    "dispatch deployment targets": (dispatch_consumers.TARGETS, ("intake",)),
    "reporting projection": (reporting_projections.HANDLERS, ("intake", "registry", "dispatch")),
}


@dataclass(frozen=True)
class Table:
    """What the check reads of a handler table: plain data, so a broken table can be made up."""

    streams: tuple[str, ...]
    handled: frozenset
    ignored: frozenset

    @classmethod
    def of(cls, table: EventHandlers, streams: tuple[str, ...]) -> Table:
        return cls(streams, frozenset(table.handlers), frozenset(table.ignored))


def problems(table: Table) -> list[str]:
    published = {c for s in table.streams for c in CONTRACTS[s]}
    found = []
    for key in table.handled | table.ignored:
        if not (isinstance(key, type) and issubclass(key, Contract) and key.CONTEXT):
            found.append(f"{key!r} is not an event contract")
        elif key not in published:
            found.append(f"{key.__name__} is not published on {', '.join(table.streams)}")
    for contract in table.handled & table.ignored:
        found.append(f"{contract.__name__} is both handled and ignored")
    for contract in published - table.handled - table.ignored:
        found.append(f"{contract.__name__} is neither handled nor ignored")
    return sorted(found)


@pytest.mark.parametrize("name", CONSUMERS)
def test_every_consumer_handles_or_deliberately_ignores_each_event_of_its_streams(name: str) -> None:
    table, streams = CONSUMERS[name]
    assert table.streams == streams
    assert problems(Table.of(table, streams)) == []
    assert all(reason.strip() for reason in table.ignored.values())


def test_every_handler_table_of_the_services_is_checked_here() -> None:
    tables = set()
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if ".tests" in module.name or ".api" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        tables |= {id(v) for v in vars(loaded).values() if isinstance(v, EventHandlers)}
    parts = {id(m.HANDLERS) for m in (reporting_projections.intake, reporting_projections.programmes,
                                      reporting_projections.registry, reporting_projections.dispatch)}
    assert tables - parts == {id(table) for table, _ in CONSUMERS.values()}


WRONG = {
    "a handler keyed by another stream's event": Table(
        ("intake",), frozenset({intake.CaseOpened, registry.RosterProvided}),
        frozenset(set(CONTRACTS["intake"]) - {intake.CaseOpened})),
    "a handler keyed by something that is not a contract": Table(
        ("intake",), frozenset({Envelope}), frozenset(CONTRACTS["intake"])),
    "an event neither handled nor ignored": Table(
        ("intake",), frozenset({intake.CaseOpened}),
        frozenset(set(CONTRACTS["intake"]) - {intake.CaseOpened, intake.CaseClosed})),
    "an event both handled and ignored": Table(
        ("intake",), frozenset({intake.CaseOpened}), frozenset(CONTRACTS["intake"])),
}


@pytest.mark.parametrize("case", WRONG)
def test_the_check_fails_on_a_wrongly_keyed_or_incomplete_table(case: str) -> None:
    assert problems(WRONG[case]) != []


@pytest.mark.parametrize("key", [registry.RosterProvided, "CaseOpened", Envelope, Contract])
def test_registering_a_key_that_is_not_an_event_of_the_stream_fails_at_import(key: object) -> None:
    table: EventHandlers = EventHandlers("intake")
    with pytest.raises(TypeError):
        table.on(key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EventHandlers("intake", ignored={"a reason": (key,)})  # type: ignore[dict-item]


def test_an_event_handled_twice_fails_at_import() -> None:
    table: EventHandlers = EventHandlers("intake")
    table.on(intake.CaseOpened)(print)
    with pytest.raises(TypeError):
        table.on(intake.CaseOpened)
    with pytest.raises(TypeError):
        EventHandlers("intake", ignored={"a reason": (intake.CaseOpened,)}).on(intake.CaseOpened)


def _envelope(type_: str) -> Envelope:
    return Envelope(id="1", source="/tsunagu/intake", type=type_, subject="s", time="2026-04-01T00:00:00+09:00",
                    tenant="131001", sequence=1, aggregate="case", data={})


# Sorted outside the decorator: inside, mypy infers sorted() against parametrize's object values.
PUBLISHED = sorted({c for cs in CONTRACTS.values() for c in cs}, key=event_type)


@pytest.mark.parametrize("contract", PUBLISHED)
def test_an_envelope_type_decodes_to_its_contract_class_in_every_version(contract: type[Contract]) -> None:
    for version in range(1, contract.SCHEMA_VERSION + 1):
        current = event_type(contract)
        assert contract_of_envelope(_envelope(current.rsplit(".v", 1)[0] + f".v{version}")) is contract


def test_a_table_answers_with_the_handler_of_the_envelopes_class_and_none_for_others() -> None:
    table: EventHandlers = EventHandlers("intake")
    table.on(intake.CaseOpened, audit.PersonalDataAccessed)(print)
    assert table.handler_for(_envelope(event_type(intake.CaseOpened))) is print
    assert table.handler_for(_envelope(event_type(audit.PersonalDataAccessed))) is print
    assert table.handler_for(_envelope(event_type(intake.CaseClosed))) is None
    assert table.handler_for(_envelope("jp.tsunagu.intake.CaseOpend.v1")) is None

