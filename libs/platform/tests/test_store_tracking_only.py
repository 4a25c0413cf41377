"""The Core recorder (store/core.py) with a save that records only a tracked position."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from tests.harness import stored_applications


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        yield application()


def test_a_tracked_position_without_new_events_is_recorded(app: Any) -> None:
    """A consumer's message that changes nothing (ProcessHandler.skip, a policy with nothing to do)
    records only its position. With the Core insert, an empty save runs
    `INSERT INTO <svc>_events DEFAULT VALUES` (executemany with no rows) and fails NOT NULL:
    the consumer retries that message forever (seen in tests/e2e/test_dispatch_flow.py)."""
    app.save_tracked(upstream="registry", position=1)
    assert app.tracked_position("registry") == 1
