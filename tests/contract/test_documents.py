"""openapi/*.yaml and the AsyncAPI document stay in sync with the code."""

from __future__ import annotations

import importlib
import pkgutil

from eventsourcing.domain import DomainEvent

import libs.domain
from libs.domain.contracts import Contract
from libs.platform.messaging.streams import CONTRACTS
from libs.platform.tools.asyncapi import asyncapi_document
from libs.platform.tools.openapi import stale_documents


def _all_contracts() -> set[type[Contract]]:
    for module in pkgutil.iter_modules(libs.domain.__path__):
        importlib.import_module(f"libs.domain.{module.name}")
    found: set[type[Contract]] = set()
    todo: list[type[Contract]] = [Contract]
    while todo:
        klass = todo.pop()
        for sub in klass.__subclasses__():
            todo.append(sub)
            # The bases of a context (_Intake) and of an aggregate (CaseEvent) are no events.
            if sub.__module__.startswith("libs.domain.") and issubclass(sub, DomainEvent):
                found.add(sub)
    return found


def test_the_committed_openapi_and_asyncapi_documents_match_the_code():
    assert stale_documents() == [], "run `make openapi` and commit openapi/"


def test_every_event_contract_is_published_in_the_asyncapi_document():
    listed = {c for contracts in CONTRACTS.values() for c in contracts}
    assert _all_contracts() <= listed
    messages = asyncapi_document()["components"]["messages"]
    assert {c.__name__ for c in listed} <= set(messages)


def test_every_contract_names_its_aggregate_and_sealed_fields_exist():
    for contract in _all_contracts():
        assert contract.AGGREGATE, contract
        fields = set(contract.__annotations__)
        inherited = {f for b in contract.__mro__ for f in getattr(b, "__annotations__", {})}
        assert set(contract.SEALED_FIELDS) <= fields | inherited
