"""What a consultation import does once for all its items instead of once per item
(application/imports.py): its summaries are sealed with keys looked up once (Sealer.keys), which
the save checks again in its transaction, and its cases are loaded together (store/cache.get_many)."""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from libs.domain.errors import InvalidInput
from libs.platform.store.cache import get_many
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.domain.case import Case
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from services.intake.tests.test_consultation_imports import _consultations, _items
from tests.harness import stored_applications
from tests.statements import sent_statements


def test_a_subject_forgotten_between_the_imports_key_lookup_and_its_save_is_not_written(tmp_path) -> None:
    """Another replica destroys the case's key after the import looked its keys up (the import's
    cached key still opens) and before it saves: the save's own check of the erasure log refuses it,
    the import run again refuses the item, and nothing is recorded. The key is forgotten without an
    erasure event on the case, so no version conflict could have caught it: only the check."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, actor = _open_case(first)
        first.import_consultations(actor, _items(case_id, 1), "warm")  # the key made and cached
        keys = first.sealer.keys
        forgotten: list[str] = []

        def keys_then_forgotten_elsewhere(subjects: Any) -> Any:
            looked_up = keys(subjects)
            if not forgotten:
                second.sealer.forget(str(case_id))
                forgotten.append(str(case_id))
            return looked_up

        first.sealer.keys = keys_then_forgotten_elsewhere
        with pytest.raises(InvalidInput) as refused:
            first.import_consultations(actor, _items(case_id, 3), "after-erasure")
        errors = cast(list[dict[str, Any]], refused.value.extensions["errors"])
        assert {e["type"] for e in errors} == {"subject-erased"}
        assert len(_consultations(second, actor, case_id)) == 1  # only the one imported before


def _cases_of_one_centre(app: IntakeApplication, n: int) -> tuple[list[UUID], Principal]:
    centre = uuid4()
    cases = [Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person", age_group="adult",
                       personal_details=None) for _ in range(n)]
    app.save(*cases)
    return [c.id for c in cases], Principal(sub="staff", org=str(centre), roles=frozenset({"centre_staff"}))


def _event_selects(app: IntakeApplication) -> AbstractContextManager[list[str]]:
    """The statements the application's store runs that read its events or snapshots."""
    return sent_statements(app.factory.datastore.engine, keep=_reads_events)  # type: ignore[attr-defined]


def _reads_events(statement: str) -> bool:
    first = statement.split(";")[0]  # not the save's key check sent with its LOCK TABLE (store/core_inserts.py)
    return first.lstrip().upper().startswith("SELECT") and ("_events" in first or "_snapshots" in first)


def test_an_imports_cases_are_loaded_in_two_statements_as_each_would_be_alone(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        writer = application()
        case_ids, actor = _cases_of_one_centre(writer, 6)
        writer.import_consultations(actor, _items(case_ids[0], 60), "long")  # a snapshot at version 50
        reader = application()  # another replica: nothing cached
        reader.get_case(actor, case_ids[1])  # one of them cached there
        _record(writer, actor, case_ids[1])  # and moved on since, by the writer
        with _event_selects(reader) as seen:
            loaded = get_many(reader.repository, [*case_ids, uuid4()])
        assert len(seen) == 2  # the snapshots of the uncached, the events after each one's version
        assert set(loaded) == set(case_ids)  # a case that does not exist is left out
        fresh = application()
        for case_id in case_ids:
            alone = fresh.repository.get(case_id)
            assert (loaded[case_id].version, loaded[case_id].consultation_count) == \
                (alone.version, alone.consultation_count)
        assert loaded[case_ids[0]].version == 61 and loaded[case_ids[1]].consultation_count == 1
        with _event_selects(reader) as seen:
            again = get_many(reader.repository, case_ids)  # all cached now: one statement
        assert len(seen) == 1 and {i: c.version for i, c in again.items()} == {i: c.version for i, c in loaded.items()}


def test_an_import_of_many_cases_reads_them_in_two_statements(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        writer = application()
        case_ids, actor = _cases_of_one_centre(writer, 20)
        importer = application()
        items = [item for case_id in case_ids for item in _items(case_id, 2)]
        with _event_selects(importer) as seen:
            importer.import_consultations(actor, items, "many-cases")
        # Cases loaded in two statements; reading a created event for each aggregate's tenant
        # (the outbox, when installed) is not part of this application.
        assert len(seen) <= 2, seen
        other = application()  # the keys made together for the twenty cases are the ones stored
        opened = [other.sealer.open(e["summary"]) for c in case_ids for e in _consultations(other, actor, c)]
        assert opened == [i.summary for i in items]


def test_an_import_leaves_its_cases_cached_as_the_store_gives_them_for_later_commands(tmp_path) -> None:
    """An import records below the aggregate machinery (Case.record_consultations) and caches the
    cases it saved: each as a load from the store makes it (state, version, time), so the next
    command on it runs on the right version. Fails with the events made but not applied."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_ids, actor = _cases_of_one_centre(app, 3)
        app.import_consultations(actor, [i for c in case_ids for i in _items(c, 4)], "cached")
        for case_id in case_ids:
            cached = app.repository.cache.get(case_id)
            stored = application().repository.get(case_id)  # another replica: from the store
            assert _state(cached) == _state(stored) and cached.version == 5 and cached.consultation_count == 4
        _record(app, actor, case_ids[0])  # the next command, on the cached case
        assert application().repository.get(case_ids[0]).version == 6


def _state(case: Case) -> dict[str, Any]:
    return {k: v for k, v in vars(case).items() if k != "_pending_events"}


def test_an_imports_ledger_digests_its_request_once_and_each_items_key_apart(tmp_path) -> None:
    """The request digest of every item an import writes is Creation.of's of the whole import's
    digest (each item's case and fields, its instant in UTC whatever the offset it was written with,
    however many share one); the key digests are the import's key's (Creation.of_batch): its first
    56 hex digits, then the item's place."""
    jst = timezone(timedelta(hours=9))
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_ids, actor = _cases_of_one_centre(app, 2)
        items = [ImportItem(case_id=case_ids[n % 2], channel="phone", consulted_by="person", summary=f"記録 {n}",
                            occurred_at=datetime(2016, 7, 1 + n % 3, 10, tzinfo=jst if n % 2 else UTC))
                 for n in range(6)]
        imported = app.import_consultations(actor, items, "digests")
        whole = hashlib.sha256(json.dumps(
            [[str(i.case_id), i.channel, i.consulted_by, i.occurred_at.astimezone(UTC).isoformat(), i.summary]
             for i in items], ensure_ascii=False).encode()).hexdigest()
        expected = app.creation("consultation", f"import/{actor.org}", "digests\x00batch", of_import=whole)
        assert expected.key_digest is not None
        for n, (item, (_case, entry)) in enumerate(zip(items, imported.consultations, strict=True)):
            row = app.ledger.of_resource(entry["consultation_id"], item.case_id)
            assert row is not None and (row.key_digest, row.request_digest) == \
                (f"{expected.key_digest[:56]}{n:08x}", expected.request_digest)
