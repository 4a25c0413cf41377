"""Dependencies shared by the report routes, as Annotated aliases: query parameters, and the
read models' state (never an answer from half a replay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Response
from sqlalchemy import literal_column

from libs.platform.readmodels.rebuilds import ProjectionReplaying, ReplayState
from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.inputs import When
from services.reporting.projections import ReportingProjection
from services.reporting.queries.scope import visible_centres, visible_tenants

FiscalYear = Annotated[int, Query(ge=2009, le=2100,
                                  description="fiscal year (April–March), e.g. 2016 = 平成28年度")]
AsOf = Annotated[When | None, Query(
    description="the report as it stood then: counts only events recorded at or before this "
                "ISO 8601 instant (with its UTC offset, e.g. 2017-04-30T23:59:59+09:00)")]
Prefecture = Annotated[str | None, Query(
    pattern=r"^[0-9]{2}000[0-9]$", min_length=6, max_length=6, examples=["130001"],
    description="only the rows of this prefecture and its municipalities: the prefecture's 全国地方公共団体コード "
                "(PP000C, e.g. 130001 for 東京都). The ministry and national auditors may name any prefecture; "
                "every other caller only the one its own jurisdiction lies in (403 otherwise)")]


# The caller's scope, checked before the route runs (pure checks: on the event loop, no trip to the
# thread pool); a request the caller may not make is refused 403 (or 422) whatever the read models'
# state, never 503 while they replay (Settled.run refuses only after the route's own checks).
async def _centres_prefecture(actor: PrincipalDep, prefecture: Prefecture = None) -> str | None:
    visible_centres(actor, prefecture)
    return prefecture


async def _tenants_prefecture(actor: PrincipalDep, prefecture: Prefecture = None) -> str | None:
    visible_tenants(actor, literal_column("tenant"), prefecture)
    return prefecture


CentresScope = Annotated[str | None, Depends(_centres_prefecture)]
TenantsScope = Annotated[str | None, Depends(_tenants_prefecture)]
POSITIONS_HEADER = "Tsunagu-Stream-Positions"
REPLAYING: dict[int | str, dict[str, Any]] = {503: {
    "description": "the read models are being replayed (problem type projection-replaying, with the progress "
                   "per stream in `replay` and a Retry-After header): never partial numbers; or this replica's "
                   "release is older than the read models' (projection-superseded, during a rolling deploy: "
                   "another replica answers)",
    "content": {"application/problem+json": {}}}}


T = TypeVar("T")


class Settled:
    """The read models' state around one answer: read before the route's query, confirmed after it.
    A report computed in between counts every event up to the positions read before (and perhaps
    some applied while it was computed); one computed while they replayed, or across a rebuild's
    start, is refused 503. The query runs first all the same, so that what it refuses itself (403,
    404, 422) is refused as such: the replay's state is never an answer to a request that could
    not be answered anyway (it tells how many events the streams hold)."""

    def __init__(self, projection: ReportingProjection, lag: dict[str, int], response: Response) -> None:
        self.projection, self.lag, self._response = projection, lag, response
        self.state: ReplayState | None = None

    def run(self, query: Callable[[], T]) -> T:
        before = self.projection.replay_state()
        result = query()
        now = self.projection.replay_state()
        if before.replaying or now.replaying or now.generation != before.generation:
            raise ProjectionReplaying(now if now.replaying else before)
        # After the query: a stamp not newer now was not newer while it ran, so no newer release had
        # projected a row yet (its tables may differ from those this code reads: readmodels/stamps.py).
        self.projection.require_current()
        self.state = before
        self._response.headers.update(self.headers)
        return result

    def answer(self, query: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The report, confirmed, with the positions it was computed from."""
        report = self.run(query)
        return {**report, "computed_from": self.computed_from}

    @property
    def positions(self) -> dict[str, int]:
        return dict(sorted(self.state.positions.items())) if self.state else {}

    @property
    def computed_from(self) -> dict[str, Any]:
        return {"positions": self.positions, "lag": self.lag}

    @property
    def headers(self) -> dict[str, str]:
        """`intake=118753, registry=2001, dispatch=5000` (an RFC 8941 dictionary)."""
        positions = ", ".join(f"{s.lower()}={p}" for s, p in self.positions.items())
        return {POSITIONS_HEADER: positions} if positions else {}


async def settled(runtime: RuntimeDep, response: Response) -> Settled:
    """Reads nothing yet (the route's trip to the thread pool does: Settled.run)."""
    projection: ReportingProjection = runtime.get(ReportingProjection)
    lag = {c.spec.name: c.health.lag for c in runtime.consumers if c.handler is projection}
    return Settled(projection, dict(sorted(lag.items())), response)


SettledDep = Annotated[Settled, Depends(settled)]
