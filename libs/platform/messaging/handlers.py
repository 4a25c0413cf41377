"""Handler tables keyed by event contract class, never by a name string (STYLE habit 9).

An envelope's `type` is decoded once to its libs/domain contract class; a table answers with the
handler registered for that class. Registering anything but a contract published on the table's
streams fails when the module is imported, so a misspelt or misplaced event cannot be silently
ignored. What a table does not handle it lists as deliberately ignored, each with a reason; the
contract test (tests/contract/test_handlers.py) checks that together they cover every event
published on the streams the table follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from libs.domain.contracts import Contract
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.streams import CONTRACTS

H = TypeVar("H", bound=Callable[..., Any])

# Every published contract by (context, name). Any version of a type decodes to its class: the
# handlers read an older version's data as they always did (e.g. with `data.get`).
PUBLISHED: dict[tuple[str, str], type[Contract]] = {
    (contract.CONTEXT, contract.__name__): contract for contracts in CONTRACTS.values() for contract in contracts
}


def contract_of_envelope(envelope: Envelope) -> type[Contract] | None:
    """The contract class of an envelope's `type`; None for a type nobody publishes."""
    return PUBLISHED.get((envelope.context, envelope.name))


class EventHandlers(Generic[H]):
    """Handlers of the events published on `streams`, one per contract class."""

    def __init__(self, *streams: str, ignored: Mapping[str, Iterable[type[Contract]]] | None = None) -> None:
        unknown = [s for s in streams if s not in CONTRACTS]
        if unknown or not streams:
            raise ValueError(f"not a stream of published events: {unknown or streams}")
        self.streams = streams
        self.published = frozenset(c for s in streams for c in CONTRACTS[s])
        self.handlers: dict[type[Contract], H] = {}
        # Contract → why this table does nothing with it.
        self.ignored: dict[type[Contract], str] = {}
        for reason, contracts in (ignored or {}).items():
            for contract in contracts:
                self._check_new(contract)
                self.ignored[contract] = reason

    def on(self, *contracts: type[Contract]) -> Callable[[H], H]:
        """Decorator: `handler` handles each of `contracts`."""
        for contract in contracts:
            self._check_new(contract)

        def register(handler: H) -> H:
            for contract in contracts:
                self.handlers[contract] = handler
            return handler
        return register

    def handler_for(self, envelope: Envelope) -> H | None:
        contract = contract_of_envelope(envelope)
        return None if contract is None else self.handlers.get(contract)

    def handles(self, envelope: Envelope) -> bool:
        """Whether a handler acts on this event (the rest are passed by: consumer_passby.py)."""
        return self.handler_for(envelope) is not None

    def merged(self, *others: EventHandlers[H],
               ignored: Mapping[str, Iterable[type[Contract]]] | None = None) -> EventHandlers[H]:
        """One table of this one's and the others' handlers (e.g. one module per source of facts),
        and what the whole ignores; a contract handled twice fails."""
        streams = tuple(dict.fromkeys(s for t in (self, *others) for s in t.streams))
        table: EventHandlers[H] = EventHandlers(*streams, ignored=ignored)
        for part in (self, *others):
            for contract, handler in part.handlers.items():
                table.on(contract)(handler)
        return table

    def _check_new(self, contract: Any) -> None:
        if not (isinstance(contract, type) and issubclass(contract, Contract) and contract.CONTEXT):
            raise TypeError(f"{contract!r} is not an event contract of libs/domain")
        if contract not in self.published:
            raise TypeError(f"{contract.__name__} is not published on {', '.join(self.streams)}")
        if contract in self.handlers or contract in self.ignored:
            raise TypeError(f"{contract.__name__} is handled or ignored twice")
