"""Rebuild the reporting read models: empty them and replay the streams (kept forever) from the start.

Two ways, and why both:

- **Online** (the usual one): `POST /v1/ops/rebuild` (role operator; `tsunagu rebuild` calls it)
  on the running service. It empties the rp_* tables and the positions in one transaction; the
  consumers start again from the first message by themselves (libs/platform/readmodels/rebuilds.py: the
  generation fence), and the reports answer 503 projection-replaying, with the progress, until
  every stream is back to its end as it was when the rebuild began.
- **Offline**: `python -m services.reporting.rebuild`, for when the service cannot start (tables
  of an older shape: it drops and creates them). It refuses while an instance of reporting is
  running (a heartbeat in the database younger than 15 s): changing the tables under a live
  service is what made it answer empty reports for minutes, or lose the replay for good. When
  reporting starts again it sees the rebuild, reads the streams' ends and replays.
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy import Engine

from libs.domain.errors import Conflict
from libs.platform.readmodels.heartbeat import LIVE_SECONDS, live_instances
from libs.platform.readmodels.rebuilds import ReplayState
from libs.platform.readmodels.stamps import ProjectionSuperseded
from libs.platform.settings import Settings
from libs.platform.store.db import make_engine
from libs.platform.web.auth import Principal
from services.reporting.projections import ReportingProjection

log = logging.getLogger(__name__)


class ReportingIsRunning(RuntimeError):
    """An offline rebuild against a live service: refused."""

    def __init__(self, live: list[dict]) -> None:
        running = ", ".join(f"{i['instance']} on {i['host']} (pid {i['pid']}, {i['seconds_ago']:.0f} s ago)"
                            for i in live)
        super().__init__(
            f"reporting is running: {running}. Rebuild it online instead (`tsunagu rebuild`, or POST "
            f"/v1/ops/rebuild as an operator), or stop every instance first (`tsunagu stop reporting` under "
            f"`tsunagu run`); an instance that stopped without saying so counts as running for {LIVE_SECONDS:.0f} s")


class RebuildInProgress(Conflict):
    problem = "rebuild-in-progress"
    title = "A rebuild is being replayed"


def rebuild(engine: Engine, *, by: str = "python -m services.reporting.rebuild") -> int:
    """Offline: drop and create the read models and reset the positions, in one transaction,
    unless reporting is running. Returns the new generation."""
    live = live_instances(engine, "reporting")
    if live:
        raise ReportingIsRunning(live)
    return ReportingProjection(engine, check_shape=False).rebuild(by=by, drop=True)


def rebuild_online(projection: ReportingProjection, actor: Principal) -> ReplayState:
    """Online, on the running service: empty the read models and replay (one rebuild at a time)."""
    actor.require("operator")
    state = projection.replay_state()
    if state.replaying:
        raise RebuildInProgress("a rebuild is being replayed; see GET /v1/ops/rebuild", replay=state.public())
    projection.rebuild(by=actor.sub)
    log.warning("reporting read models emptied by %s: replaying the streams", actor.sub)
    return projection.replay_state()


def rebuild_progress(projection: ReportingProjection, actor: Principal) -> ReplayState:
    """The last rebuild (or replay) and its progress, for an operator."""
    actor.require("operator")
    return projection.settled_state()


def main() -> int:
    settings = Settings.from_env("reporting")
    engine = make_engine(settings)
    try:
        rebuild(engine)
    except (ReportingIsRunning, ProjectionSuperseded) as e:  # the latter: this tool's release is older
        print(f"refused: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print("reporting read models dropped and recreated; positions reset to 0: start reporting to replay "
          "(its reports answer 503 projection-replaying until the streams are replayed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
