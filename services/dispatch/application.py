"""The dispatch Application. Commands arrive with the dispatch issue; the store and relay run already."""

from __future__ import annotations

from eventsourcing.application import Application

from libs.platform.sealing import Sealer


class DispatchApplication(Application):
    name = "dispatch"

    def __init__(self, env: dict[str, str], sealer: Sealer) -> None:
        super().__init__(env=env)
        self.sealer = sealer
