"""Importing consultations in bulk: a portal that moves a centre's history into Tsunagu sends many
consultations of the centre's cases in one request. They are checked as a whole and recorded in one
transaction (all or none), each a ConsultationRecorded like one recorded by hand, so reporting,
audit and erasure treat them alike."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from libs.domain.errors import DomainError, InvalidInput
from libs.platform.memory import collector_paused
from libs.platform.privacy.sealed_values import SubjectForgotten, SubjectKeys
from libs.platform.store.commuting import COMMUTING_RETRIES
from libs.platform.store.creations import (
    RELAY_RENDERS_KWARG,
    SAVE_KWARG,
    SEALED_KWARG,
    Creation,
    IdempotencyKeyReused,
)
from libs.platform.web.auth import Principal
from services.intake.application.cases import CaseUseCases
from services.intake.domain.case import Case
from services.intake.domain.consultations import latest_consultation
from services.intake.domain.errors import CaseNotFound

# Consultations one import may carry: with the request body limit (1 MiB) a bound on one
# transaction's size and on how long it holds the event table.
MAX_IMPORT = 500


@dataclass(frozen=True)
class ImportItem:
    case_id: UUID
    channel: str
    consulted_by: str
    occurred_at: datetime
    summary: str | None


@dataclass(frozen=True)
class Imported:
    created: bool  # False: a retry with the same Idempotency-Key and request
    consultations: list[tuple[Case, dict[str, Any]]]  # each with its case (as saved) and entry


class ImportUseCases(CaseUseCases):
    def import_consultations(self, actor: Principal, items: Sequence[ImportItem],
                             idempotency_key: str | None) -> Imported:
        """Record every item, or none: an item the caller may not record (no such case visible to
        them, a closed case, a consultation in the future) refuses the whole import with 422, each
        refused item named in `errors`. Once per Idempotency-Key, like every creation: a retry
        answers what the first import recorded; the key with another import is refused (422)."""
        if not items:
            raise InvalidInput("an import holds at least one consultation")
        if len(items) > MAX_IMPORT:
            raise InvalidInput(f"an import holds at most {MAX_IMPORT} consultations")
        with collector_paused():  # bounded: MAX_IMPORT items (memory.collector_paused says why)
            return self._import(actor, items, idempotency_key)

    def _import(self, actor: Principal, items: Sequence[ImportItem], idempotency_key: str | None) -> Imported:
        # Each item's case id as text, made once per case (digests, subjects, seals and ledger rows
        # name it: 500 UUID.__str__ a use, 7% of an import, issue 15).
        made: dict[UUID, str] = {}
        texts = [made.get(i.case_id) or made.setdefault(i.case_id, str(i.case_id)) for i in items]
        # One creation per item, under the import's key and its one request: the whole import's
        # digest (Creating.creations: the import's ledger rows lie together in the ledger's unique
        # indexes, and its request is digested once, issue 15).
        at, whole = _whole_digest(items, texts)
        creations = self.creations("consultation", f"import/{actor.org}", idempotency_key, len(items),
                                   of_import=whole)
        if (done := self._imported(actor, creations)) is not None:
            return done
        if idempotency_key is not None and \
                (done := self._imported_before(actor, items, at, whole, idempotency_key)) is not None:
            return done
        keys: SubjectKeys | None = None  # the keys of the last attempt
        attempt = -1
        while (attempt := attempt + 1) < COMMUTING_RETRIES:
            # The last attempts hold the write lock from loading the cases to saving them
            # (store/commuting.py): a single command can no longer land in between. They seal with
            # the keys an earlier attempt looked up (checked by the save as any), as nothing inside
            # may make a key: on SQLite that would wait for the lock it holds.
            locked = keys is not None and self.locks(attempt)
            try:
                with self.write_locked(locked):
                    cases, recorded, rows, keys = self._record_import(actor, items, texts, creations,
                                                                      keys if locked else None)
                    # The relay renders and signs the messages (outbox.py): not 500 of each in the request.
                    self.save(*cases.values(), **{SAVE_KWARG: rows, SEALED_KWARG: keys, RELAY_RENDERS_KWARG: True})
                return Imported(True, [(cases[i.case_id], entry) for i, entry in zip(items, recorded, strict=True)])
            except _KeysToMake as missing:  # a case seen for the first time under the lock: keys made
                keys = self.sealer.keys(missing.subjects)  # outside it, and the attempt run again (as
                attempt -= 1  # often as new cases appear at most: the import names finitely many)
            except SubjectForgotten:  # a case erased since its key was looked up: run again, it is refused
                keys = None
                if attempt == COMMUTING_RETRIES - 1:
                    raise
            except IntegrityError:  # another import with the key won, or a case moved on meanwhile
                if (done := self._imported(actor, creations)) is not None:
                    return done
                if attempt == COMMUTING_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.002))  # appending commutes: run it again on the cases reloaded
        raise AssertionError("unreachable")

    def _imported_before(self, actor: Principal, items: Sequence[ImportItem], at: Sequence[str], whole: str,
                         idempotency_key: str) -> Imported | None:
        """What an import with this key recorded before its items' ledger rows were made to lie
        together: each item's key was then the import's key, a NUL and the item's place, and each
        item's request its own fields and the whole import's digest, digested apart (Creation.of).
        A retry of such an import is answered as any."""
        def before(n: int) -> Creation:
            item = items[n]
            # occurred_at as its text in UTC: the request digested the same JSON as with the instant
            # itself (but a naive one, refused later, which _canonical writes otherwise).
            return self.creation("consultation", f"import/{actor.org}", f"{idempotency_key}\x00{n}",
                                 channel=item.channel, consulted_by=item.consulted_by,
                                 occurred_at=at[n] if item.occurred_at.tzinfo is not None else item.occurred_at,
                                 summary=item.summary, of_import=whole)

        if self.ledger.of_key(before(0)) is None:
            return None
        return self._imported(actor, [before(n) for n in range(len(items))])

    def _imported(self, actor: Principal, creations: list[Creation]) -> Imported | None:
        """What an import with these keys recorded before (all of it: it was one transaction)."""
        if (first := self.ledger.of_key(creations[0])) is None:
            return None
        rows = [first, *(self.ledger.of_key(c) for c in creations[1:])]
        if any(row is None for row in rows):  # the key's import had fewer items (digests forgotten by an erasure)
            raise IdempotencyKeyReused("this Idempotency-Key was used for another import; send a new key")
        cases: dict[str, Case] = {}
        out = []
        for row in rows:
            assert row is not None  # an import's rows were written together
            if row.aggregate_id not in cases:
                cases[row.aggregate_id] = self.get_case(actor, UUID(row.aggregate_id))  # a retry is checked too
            case = cases[row.aggregate_id]
            out.append((case, self.consultation(case, UUID(row.resource_id)) or {}))
        return Imported(False, out)

    def _record_import(self, actor: Principal, items: Sequence[ImportItem], texts: Sequence[str],
                       creations: list[Creation], known: SubjectKeys | None = None,
                       ) -> tuple[dict[UUID, Case], list[dict[str, Any]], list[Any], SubjectKeys]:
        """Every item checked on its case (all loaded at once, access checked); the refusals of all
        of them collected into one 422 before anything is recorded. Then each case records its
        items at once (Case.record_consultations: the same events, without the library's per-event
        machinery), each item's ledger row at the version its event takes. The summaries are sealed
        with keys looked up once for the whole import (Sealer.keys), which the save checks again;
        or with the `known` keys, when they hold every one (else _KeysToMake)."""
        cases = self.get_cases(actor, [i.case_id for i in items])
        subjects = {text for i, text in zip(items, texts, strict=True)
                    if i.summary and isinstance(cases.get(i.case_id), Case)}
        if known is not None and not subjects <= known.keys.keys():
            raise _KeysToMake(subjects | known.keys.keys())
        keys = known if known is not None else self.sealer.keys(subjects)
        refused: list[dict[str, Any]] = []
        recorded: list[dict[str, Any]] = []
        rows = []
        of_case: dict[UUID, list[dict[str, Any]]] = {}
        latest = latest_consultation()
        for n, (item, text, creation) in enumerate(zip(items, texts, creations, strict=True)):
            try:
                case = cases[item.case_id]
                if isinstance(case, CaseNotFound):
                    raise case
                case.check_consultation(channel=item.channel, consulted_by=item.consulted_by,
                                        occurred_at=item.occurred_at, latest=latest)
                entry: dict[str, Any] = {"consultation_id": creation.new_id(), "channel": item.channel,
                                         "consulted_by": item.consulted_by, "occurred_at": item.occurred_at,
                                         "summary": keys.seal(text, item.summary) if item.summary else None}
            except DomainError as e:
                refused.append({"loc": ["body", "consultations", str(n), *_field_of(e)], "msg": e.detail,
                                "type": e.problem})
                continue
            entries = of_case.setdefault(case.id, [])
            entries.append(entry)
            recorded.append(entry)
            rows.append(creation.row(entry["consultation_id"], text, case.version + len(entries)))
        if refused:
            raise InvalidInput(f"{len(refused)} of {len(items)} consultations refused; nothing was recorded",
                               errors=refused)
        found = {i: c for i, c in cases.items() if isinstance(c, Case)}
        for case_id, entries in of_case.items():
            found[case_id].record_consultations(entries)
        return found, recorded, rows, keys


def _whole_digest(items: Sequence[ImportItem], texts: Sequence[str]) -> tuple[list[str], str]:
    """Each item's instant in UTC as the digests write it (ledger_rows._canonical), and the digest
    of the whole import: every item's case, fields and instant. Each instant written once per
    distinct instant: equal instants written with other offsets are the same text."""
    utc: dict[datetime, str] = {}
    at = [utc.get(i.occurred_at) or utc.setdefault(i.occurred_at, i.occurred_at.astimezone(UTC).isoformat())
          for i in items]
    return at, hashlib.sha256(json.dumps(
        [[case, i.channel, i.consulted_by, when, i.summary] for i, case, when in zip(items, texts, at, strict=True)],
        ensure_ascii=False).encode()).hexdigest()


class _KeysToMake(Exception):
    """A locked attempt (ImportUseCases._import) needs a key no earlier attempt looked up."""

    def __init__(self, subjects: set[str]) -> None:
        super().__init__(f"{len(subjects)} subjects")
        self.subjects = subjects


def _field_of(e: DomainError) -> list[str]:
    """Where in the item the refusal points: the case for a case one may not see or that is
    closed, else the item as a whole."""
    return ["case_id"] if e.status in (404, 409) else []

