"""The dispatch Application. Commands arrive with the dispatch issue; the store and relay run already."""

from __future__ import annotations

from libs.platform.application import ServiceApplication


class DispatchApplication(ServiceApplication):
    name = "dispatch"
