"""The intake Application: every use case one named method that checks who may act, seals what
must be sealed, runs the aggregate's command and saves (ServiceApplication.change). The methods
live with their aggregate (centres, cases, sharing, personal_data, programmes, backups, imports); who sees
what is in access.py; reads over the read models in reads.py."""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import MutableOrImmutableAggregate

from services.intake.application.backups import BackupUseCases
from services.intake.application.cases import Recorded
from services.intake.application.imports import ImportUseCases
from services.intake.application.personal_data import PersonalDataUseCases
from services.intake.application.sharing import SharingUseCases
from services.intake.domain.case import Case

__all__ = ["IntakeApplication", "Recorded"]


class IntakeApplication(SharingUseCases, PersonalDataUseCases, BackupUseCases, ImportUseCases):
    name = "intake"
    # A case collects every consultation: snapshots keep loading it cheap as it grows.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {Case: 50}
