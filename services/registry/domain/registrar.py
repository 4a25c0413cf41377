"""Registrar: the 実施主体 that trains and registers supporters (要綱例 第3条, 第9条).

Holds the registrar's settings and allocates 修了番号 (unique per fiscal year) and 登録番号
(unique per registrar). Allocating on this one aggregate, saved in the same transaction as the
event that uses the number, makes numbers unique without a separate counter table.

Which trainee holds a 修了番号 is not kept here: the completion's ledger row (the creations
ledger, unique per number: `certificate_id`) answers it, whatever the history. Kept here, the map
grew with every certificate ever issued, and with it each load, copy and snapshot (issue 15).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import registry
from libs.domain.codes import validate_lg_code
from libs.domain.contracts import derived_id
from libs.domain.errors import InvalidInput

DEFAULT_MAX_TERM_YEARS = 3
DEFAULT_TERM_YEARS = 2
DEFAULT_CONSENT_TEXT = "資料4-v1"
TERM_LIMIT_YEARS = 10  # sanity bound on what a registrar may configure


def certificate_id(tenant: str, number: str) -> UUID:
    """The id of a 修了番号 in the creations ledger (a number is unique per registrar)."""
    return derived_id("certificate", tenant, number)


class Registrar(Aggregate):
    # v2 keeps no 修了番号 → trainee map (`certificates`): the creations ledger does.
    class_version = 2
    RegistrarOpened = registry.RegistrarOpened
    RegistrarConfigured = registry.RegistrarConfigured
    NumberAllocated = registry.NumberAllocated

    @staticmethod
    def id_for(tenant: str) -> UUID:
        return derived_id("registrar", tenant)

    @event(RegistrarOpened)
    def __init__(self, id: UUID, tenant: str, max_term_years: int, default_term_years: int,
                 consent_text_version: str) -> None:
        self.tenant = tenant
        self._settings(max_term_years, default_term_years, consent_text_version)
        self.counters: dict[str, int] = {}

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """A v1 snapshot's map of every 修了番号 goes: numbers allocated before v2 are found in the
        registrar's log (`allocated_to`)."""
        state.pop("certificates", None)

    @classmethod
    def open(cls, tenant: str) -> Registrar:
        validate_lg_code(tenant)
        return cls(id=cls.id_for(tenant), tenant=tenant, max_term_years=DEFAULT_MAX_TERM_YEARS,
                   default_term_years=DEFAULT_TERM_YEARS, consent_text_version=DEFAULT_CONSENT_TEXT)

    def configure(self, *, max_term_years: int, default_term_years: int, consent_text_version: str) -> None:
        if not 1 <= max_term_years <= TERM_LIMIT_YEARS:
            raise InvalidInput(f"max_term_years must be between 1 and {TERM_LIMIT_YEARS}")
        if not 1 <= default_term_years <= max_term_years:
            raise InvalidInput("default_term_years must be between 1 and max_term_years")
        if not consent_text_version.strip():
            raise InvalidInput("consent_text_version is required")
        self._configure(max_term_years=max_term_years, default_term_years=default_term_years,
                        consent_text_version=consent_text_version.strip())

    @event(RegistrarConfigured)
    def _configure(self, max_term_years: int, default_term_years: int, consent_text_version: str) -> None:
        self._settings(max_term_years, default_term_years, consent_text_version)

    def _settings(self, max_term_years: int, default_term_years: int, consent_text_version: str) -> None:
        self.max_term_years = max_term_years
        self.default_term_years = default_term_years
        self.consent_text_version = consent_text_version

    def allocate_certificate_number(self, fy: int, trainee_id: UUID) -> str:
        n = self.counters.get(f"certificate/{fy}", 0) + 1
        number = f"{fy}-{n:04d}"
        self._allocate(series="certificate", fy=fy, number=number, allocated_to=trainee_id)
        return number

    def was_allocated(self, number: str) -> bool:
        """Whether this registrar allocated that 修了番号 (`fy-n`, n counted per fiscal year)."""
        fy, _, n = number.partition("-")
        if not (fy.isdigit() and n.isdigit()) or number != f"{int(fy)}-{int(n):04d}":
            return False
        return 1 <= int(n) <= self.counters.get(f"certificate/{int(fy)}", 0)

    def allocate_registration_number(self, supporter_id: UUID) -> str:
        number = f"{self.counters.get('registration', 0) + 1:03d}"
        self._allocate(series="registration", fy=None, number=number, allocated_to=supporter_id)
        return number

    @event(NumberAllocated)
    def _allocate(self, series: str, fy: int | None, number: str, allocated_to: UUID) -> None:
        key = f"{series}/{fy}" if fy is not None else series
        self.counters[key] = self.counters.get(key, 0) + 1
