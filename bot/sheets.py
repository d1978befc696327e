"""Rows of a spreadsheet file (CSV or XLSX) as text cells with their line numbers.

The files come from people's spreadsheets, so the reader is lenient about form: an XLSX
workbook (its first sheet), or CSV in UTF-8 with or without BOM, UTF-16 with BOM (Excel's
"Unicode text"), or Windows-1252 (Excel in Sweden) when the bytes are not UTF-8. The
separator is whichever of ``;``, ``,`` and tab the header line uses most. Line numbers are
those a person sees: the header is line 1 (for CSV, a record spanning several lines has the
number of its first line). Rows with no text are left out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class SheetError(ValueError):
    """A file that cannot be read as a table (message in Swedish)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells), header excluded


def read_sheet(path: str | Path) -> Sheet:
    """The header and rows of a CSV or XLSX file.

    Raises:
        SheetError: unreadable, an old .xls file, or no header row.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"{path}: {exc.strerror}") from exc
    if data.startswith(XLS_MAGIC) or path.suffix.lower() == ".xls":
        raise SheetError(f"{path}: gamla .xls-filer kan inte läsas; spara som .xlsx eller .csv")
    lines = _xlsx_lines(path, data) if data.startswith(XLSX_MAGIC) else _csv_lines(decode(data))
    rows = [(n, cells) for n, cells in lines if any(cells)]
    if not rows:
        raise SheetError(f"{path}: filen är tom (ingen rubrikrad)")
    (_, header), *body = rows
    return Sheet(header=header, rows=body)


def decode(data: bytes) -> str:
    """Text of a CSV file: UTF-16 with BOM, UTF-8 (BOM or not), else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _csv_lines(text: str) -> list[tuple[int, list[str]]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            out.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SheetError(f"rad {start}: {exc}") from exc
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _xlsx_lines(path: Path, data: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SheetError(f"{path}: kan inte läsas som .xlsx ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        return [
            (n, [_cell(v) for v in values])
            for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()
