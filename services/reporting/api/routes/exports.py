"""/v1/reports/{table}/export: a report as the ministry's table, in CSV (UTF-8 with BOM) or XLSX."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Response

from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.routing import OneHopRoute
from services.reporting.api.deps import REPLAYING, AsOf, FiscalYear, SettledDep
from services.reporting.exports import export_report
from services.reporting.exports.tables import BUILDERS
from services.reporting.exports.writers import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE

router = APIRouter(route_class=OneHopRoute, prefix="/v1/reports", tags=["exports"])

# The members come from BUILDERS at import, which mypy cannot see in a functional Enum() call.
ReportTable = Enum("ReportTable", {name.replace("-", "_"): name for name in BUILDERS}, type=str)  # type: ignore[misc]


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


FILE = {"description": "the table as a file (Content-Disposition: attachment; the stream positions it was "
                       "computed from in Tsunagu-Stream-Positions)",
        "content": {CSV_MEDIA_TYPE: {}, XLSX_MEDIA_TYPE: {}}}


@router.get("/{table}/export", response_class=Response, responses={200: FILE, **REPLAYING})
def export_report_table(
    actor: PrincipalDep, runtime: RuntimeDep, settled: SettledDep, table: ReportTable, fy: FiscalYear,
    format_: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.csv,
    from_fy: Annotated[int | None, Query(
        ge=2009, le=2100, description="first year of the tables with a row per year")] = None,
    as_of: AsOf = None,
) -> Response:
    """The report in the ministry's table shape (Japanese headers, 和暦 row labels, 率 rows)."""
    export = settled.run(lambda: export_report(runtime.engine, actor, table.value, fy, fmt=format_.value,
                                               from_fy=from_fy, as_of=as_of))
    return Response(export.content, media_type=export.media_type,
                    headers={"Content-Disposition": export.content_disposition, **settled.headers})
