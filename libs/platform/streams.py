"""The JetStream streams, one per publishing service (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    service: str
    name: str

    @property
    def subjects(self) -> list[str]:
        return [f"{self.service}.>"]


STREAMS = {s: StreamSpec(s, s.upper()) for s in ("intake", "registry", "dispatch")}
DUPLICATE_WINDOW_SECONDS = 600
