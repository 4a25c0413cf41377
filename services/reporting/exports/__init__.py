"""Exports of the reports in the ministry's table shape: CSV (UTF-8 with BOM) or XLSX."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Engine

from libs.domain.errors import InvalidInput
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.exports.tables import BUILDERS
from services.reporting.exports.writers import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    to_csv,
    to_xlsx,
)
from services.reporting.queries.scope import as_of_utc

FORMATS = {"csv": (CSV_MEDIA_TYPE, to_csv), "xlsx": (XLSX_MEDIA_TYPE, to_xlsx)}
MAX_YEARS = 30


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str  # ASCII, for every client
    filename_ja: str  # the Japanese title, for clients that read filename* (RFC 6266)

    @property
    def content_disposition(self) -> str:
        return f"attachment; filename=\"{self.filename}\"; filename*=UTF-8''{quote(self.filename_ja)}"


def export_report(engine: Engine, actor: Principal, table: str, fy: int, *, fmt: str,
                  from_fy: int | None = None, as_of: datetime | None = None) -> Export:
    """The report `table` of `fy` (rows from `from_fy` where the table has a row per year)."""
    if table not in BUILDERS:
        raise InvalidInput(f"no table {table!r}; one of: {', '.join(BUILDERS)}")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(FORMATS)}")
    first = fy if from_fy is None else from_fy
    if not 0 <= fy - first < MAX_YEARS:
        raise InvalidInput(f"from_fy must be ≤ fy and at most {MAX_YEARS - 1} years before it")
    sheet = BUILDERS[table](engine, actor, fy, first, as_of_utc(as_of))
    media_type, render = FORMATS[fmt]
    years = f"fy{fy}" if first == fy else f"fy{first}-{fy}"
    labels = wareki_label(fy) if first == fy else f"{wareki_label(first)}～{wareki_label(fy)}"
    return Export(
        content=render(sheet),
        media_type=media_type,
        filename=f"tsunagu-{sheet.name}-{years}.{fmt}",
        filename_ja=f"{sheet.title}_{labels}.{fmt}",
    )
