"""CSV (UTF-8 with BOM, so Excel reads the Japanese) and XLSX (openpyxl) renderings of a Sheet."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from services.reporting.exports.sheet import Cell, Percent, Sheet

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff".encode()


def _csv_cell(cell: Cell) -> str:
    if isinstance(cell, Percent):
        return "" if cell.value is None else f"{cell.value:.1f}%"
    return "" if cell is None else str(cell)


def to_csv(sheet: Sheet) -> bytes:
    """CRLF-separated rows, as Excel writes them, after a UTF-8 byte order mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(sheet.header)
    for row in sheet.rows:
        writer.writerow([_csv_cell(c) for c in row])
    return BOM + out.getvalue().encode("utf-8")


def to_xlsx(sheet: Sheet) -> bytes:
    """One worksheet named after the table; counts as integers, 率 as percentages (0.0%)."""
    book = Workbook()
    ws = book.active
    if not isinstance(ws, Worksheet):  # a new workbook always opens with one worksheet
        raise RuntimeError("openpyxl gave a new workbook without an active worksheet")
    ws.title = sheet.title[:31]
    ws.append(sheet.header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        ws.append([_xlsx_value(c) for c in row])
        for cell, source in zip(ws[ws.max_row], row, strict=True):
            if isinstance(source, Percent):
                cell.number_format = "0.0%"
            elif isinstance(source, int) and not isinstance(source, bool):
                cell.number_format = "#,##0"
    ws.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(cell: Cell) -> str | int | float | None:
    if isinstance(cell, Percent):
        return None if cell.value is None else round(cell.value / 100, 3)
    return cell
