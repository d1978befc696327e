"""Reading CSV and XLSX files as people save them: encodings, separators, line numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.sheets import SheetError, read_sheet

ROWS = [
    ["namn", "län", "ledning"],
    ["Håbo kommun", "Uppsala län", "a@habo.se;b@habo.se"],
    ["Östra Göinge", "Skåne", ""],
]


@pytest.mark.parametrize(
    ("sep", "encoding", "newline"),
    [
        (",", "utf-8", "\n"),
        (";", "utf-8-sig", "\r\n"),
        (";", "cp1252", "\r\n"),
        ("\t", "utf-16", "\r\n"),
        (",", "utf-8-sig", "\r"),
    ],
    ids=["comma-utf8", "semicolon-bom", "semicolon-cp1252", "tab-utf16", "comma-bom-cr"],
)
def test_csv_variants(tmp_path: Path, sep: str, encoding: str, newline: str) -> None:
    text = newline.join(sep.join(f'"{c}"' if sep in c else c for c in row) for row in ROWS) + newline
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode(encoding))
    sheet = read_sheet(path)
    assert sheet.header == ROWS[0]
    assert sheet.rows == [(2, ROWS[1]), (3, ROWS[2])]


def test_csv_line_numbers_skip_blank_lines_and_follow_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('a,b\n\n1,"två\nrader"\n  \n3,4\n', encoding="utf-8")
    sheet = read_sheet(path)
    assert sheet.rows == [(3, ["1", "två\nrader"]), (6, ["3", "4"])]


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Namn", "Orgnr", "Datum", "Tal"])
    sheet.append(["Skatteverket", 2021005448, date(2027, 3, 1), 2.5])
    sheet.append([None, None, None, None])
    sheet.append(["  Håbo ", "212000-2882", None, 3.0])
    path = tmp_path / "x.xlsx"
    book.save(path)
    result = read_sheet(path)
    assert result.header == ["Namn", "Orgnr", "Datum", "Tal"]
    assert result.rows == [
        (2, ["Skatteverket", "2021005448", "2027-03-01T00:00:00", "2.5"]),
        (4, ["Håbo", "212000-2882", "", "3"]),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.csv", b"", "filen är tom"),
        ("x.csv", b"\n \n", "filen är tom"),
        ("x.xls", b"\xd0\xcf\x11\xe0rest", ".xls"),
        ("x.xlsx", b"PK\x03\x04broken", "kan inte läsas som .xlsx"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SheetError, match=message):
        read_sheet(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="No such file"):
        read_sheet(tmp_path / "nope.csv")
