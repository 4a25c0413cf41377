"""Query parameters shared by the report routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from libs.platform.inputs import When

FiscalYear = Annotated[int, Query(ge=2009, le=2100,
                                  description="fiscal year (April–March), e.g. 2016 = 平成28年度")]
AsOf = Annotated[When | None, Query(
    description="the report as it stood then: counts only events recorded at or before this "
                "ISO 8601 instant (with its UTC offset, e.g. 2017-04-30T23:59:59+09:00)")]
