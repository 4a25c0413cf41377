"""Use cases that read supporters' records: the record itself, the 登録証, the history, the
consent receipt, and a registrar's search."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from libs.platform.web.auth import Principal
from services.registry.application.access import may_hold_card, officer_tenant, sees_details
from services.registry.application.base import RegistryBase
from services.registry.domain.errors import WrongStatus
from services.registry.domain.supporter import Supporter

CARD_FIELDS = ("furigana", "name", "birth_date", "gender", "postal_code", "address", "phone")


class RecordUseCases(RegistryBase):
    def read_supporter(self, actor: Principal, supporter_id: UUID) -> tuple[Supporter, dict | str | None]:
        """The supporter's record and, unless the actor is an auditor, their details."""
        supporter = self.get_supporter(actor, supporter_id)
        return supporter, self.details(supporter) if sees_details(actor, supporter) else None

    def registration_card(self, actor: Principal, supporter_id: UUID) -> tuple[Supporter, dict[str, Any]]:
        """The 登録証 of a registered supporter and the details printed on it."""
        supporter = self.get_supporter(actor, supporter_id)
        may_hold_card(actor, supporter)
        if supporter.status != "registered":
            raise WrongStatus(f"no 登録証: the supporter is {supporter.status}", current_status=supporter.status)
        details = self.details(supporter)
        details = details if isinstance(details, dict) else {}
        return supporter, {f: details.get(f) for f in CARD_FIELDS}

    def supporter_history(self, actor: Principal, supporter_id: UUID) -> list[dict[str, Any]]:
        """Every event of the supporter's record, sealed fields left sealed."""
        self.get_supporter(actor, supporter_id)
        return self.history(supporter_id)

    def consent_receipt(self, actor: Principal, supporter_id: UUID) -> dict:
        """The signed receipt of the supporter's current (or last) 同意書 (資料4)."""
        return self.reads.consent_receipt(self.get_supporter(actor, supporter_id))

    def search_supporters(self, actor: Principal, *, status: str | None, term_ends_before: date | None,
                          after: str | None, limit: int) -> list[dict]:
        """A registrar's supporters by status and term end, for its officers."""
        return self.reads.search_supporters(officer_tenant(actor), status=status,
                                                  term_ends_before=term_ends_before, after=after, limit=limit)
