"""Dependencies shared by the report routes, as Annotated aliases: query parameters, and the
read models' state (never an answer from half a replay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

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


# The caller's scope is checked before the read models' state is read (a route declares its scope
# before SettledDep): a request the caller may not make is refused 403 (or 422) whatever that state,
# never 503 while the read models replay, e.g. for a moment after a start on empty read models.
def _centres_prefecture(actor: PrincipalDep, prefecture: Prefecture = None) -> str | None:
    visible_centres(actor, prefecture)
    return prefecture


def _tenants_prefecture(actor: PrincipalDep, prefecture: Prefecture = None) -> str | None:
    visible_tenants(actor, literal_column("tenant"), prefecture)
    return prefecture


CentresScope = Annotated[str | None, Depends(_centres_prefecture)]
TenantsScope = Annotated[str | None, Depends(_tenants_prefecture)]
POSITIONS_HEADER = "Tsunagu-Stream-Positions"
REPLAYING: dict[int | str, dict[str, Any]] = {503: {
    "description": "the read models are being replayed (problem type projection-replaying, with the progress "
                   "per stream in `replay` and a Retry-After header): never partial numbers",
    "content": {"application/problem+json": {}}}}


@dataclass(frozen=True)
class Settled:
    """The read models are not replaying: a report computed now counts every event up to these
    positions of each stream (and perhaps some applied while it was computed)."""

    projection: ReportingProjection
    state: ReplayState
    lag: dict[str, int]

    @property
    def computed_from(self) -> dict[str, Any]:
        return {"positions": dict(sorted(self.state.positions.items())), "lag": self.lag}

    @property
    def headers(self) -> dict[str, str]:
        """`intake=118753, registry=2001, dispatch=5000` (an RFC 8941 dictionary)."""
        positions = ", ".join(f"{s.lower()}={p}" for s, p in sorted(self.state.positions.items()))
        return {POSITIONS_HEADER: positions} if positions else {}

    def confirm(self) -> None:
        """After the query: 503 if a rebuild began meanwhile (it may have emptied the tables under it)."""
        now = self.projection.replay_state()
        if now.generation != self.state.generation or now.replaying:
            raise ProjectionReplaying(now)

    def answer(self, report: dict[str, Any]) -> dict[str, Any]:
        """The report, confirmed, with the positions it was computed from."""
        self.confirm()
        return {**report, "computed_from": self.computed_from}


def settled(runtime: RuntimeDep, response: Response) -> Settled:
    projection: ReportingProjection = runtime.get(ReportingProjection)
    state = projection.replay_state()
    if state.replaying:
        raise ProjectionReplaying(state)
    lag = {c.spec.name: c.health.lag for c in runtime.consumers if c.handler is projection}
    answer = Settled(projection, state, dict(sorted(lag.items())))
    response.headers.update(answer.headers)
    return answer


SettledDep = Annotated[Settled, Depends(settled)]
