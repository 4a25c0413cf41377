"""The registry Application. Commands arrive with the registry issue; the store and relay run already."""

from __future__ import annotations

from eventsourcing.application import Application

from libs.platform.sealing import Sealer


class RegistryApplication(Application):
    name = "registry"

    def __init__(self, env: dict[str, str], sealer: Sealer) -> None:
        super().__init__(env=env)
        self.sealer = sealer
