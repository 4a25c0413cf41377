"""The JetStream streams: one per publishing service (DESIGN §2), and AUDIT for checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

from libs.domain import audit, dispatch, intake, registry
from libs.domain.contracts import Contract

DUPLICATE_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class StreamSpec:
    service: str
    name: str
    duplicate_window: int = DUPLICATE_WINDOW_SECONDS
    # Takes JetStream atomic batches (allow_atomic, nats-server 2.12+): a relay's stream, whose
    # batches are stored whole or not at all (messaging/relay_order.py).
    atomic: bool = True

    @property
    def subjects(self) -> list[str]:
        return [f"{self.service}.>"]


STREAMS = {s: StreamSpec(s, s.upper()) for s in ("intake", "registry", "dispatch")}
# Every service's signed checkpoints on `audit.<service>.checkpoint`, kept forever, so that a
# witness who connects later still reads them all. A service republishes its latest checkpoint
# when it restarts; a day's window makes that a no-op (readers drop older repeats by tree size).
AUDIT_STREAM = StreamSpec("audit", "AUDIT", duplicate_window=24 * 3600, atomic=False)

# Every event contract published on each service's stream.
CONTRACTS: dict[str, tuple[type[Contract], ...]] = {
    "intake": intake.EVENTS + audit.EVENTS, "registry": registry.EVENTS + audit.EVENTS,
    "dispatch": dispatch.EVENTS + audit.EVENTS,
}
