"""The registry Application: the supporter life cycle, commands in, events out.

One method per use case: it loads the aggregate, checks who may act (the rules are in
access.py), seals what is personal, runs the aggregate's command and saves; what it reads from
the read models comes through reads.py. The use cases are grouped by what they act on, one
module each; RegistryApplication is all of them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import MutableOrImmutableAggregate

from services.registry.application.base import today_jst
from services.registry.application.life_cycle import LifeCycleUseCases
from services.registry.application.reads import RegistryReads
from services.registry.application.records import RecordUseCases
from services.registry.application.registration import RegistrationUseCases
from services.registry.application.rosters import RosterUseCases
from services.registry.application.training import TrainingUseCases
from services.registry.domain.registrar import Registrar

__all__ = ["RegistryApplication", "RegistryReads", "today_jst"]


class RegistryApplication(TrainingUseCases, RegistrationUseCases, LifeCycleUseCases, RecordUseCases,
                          RosterUseCases):
    name = "registry"
    # The registrar allocates every number: snapshots keep loading it cheap as it grows.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {Registrar: 100}
