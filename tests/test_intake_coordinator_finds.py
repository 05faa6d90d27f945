"""A season coordinator's finds importing workbooks as the units send them: a blank row inside a
merged unit or date, quantities written with their unit, messages in the sheet's own words, a
category like the register's, and projects with no 责任人."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from test_intake_messy import GRID, REGISTER, props, row, run, twin_with


def merged_book(path: Path, title: str, rows: list[list], merges: list[str]) -> Path:
    """A one-sheet workbook with these rows and cell ranges merged (as a unit merges its name down)."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


def test_a_blank_row_under_a_merged_unit_is_a_blank_row(tmp_path: Path) -> None:
    # 责任单位 (column E) merged down over a block with an empty slot left for a later project: the
    # merged name passed over the blank row, which was read as a project with no code.
    store = twin_with(tmp_path, row("LA-0001"))
    blank = [None] * len(REGISTER)
    rows = [REGISTER, row("LA-0101"), blank, row("LA-0102", unit="")]
    path = merged_book(tmp_path / "r.xlsx", "项目清单", rows, ["E2:E4"])
    code, out = run("projects", "import", str(path), "-s", str(store))
    assert code == 0, out
    assert props(store, "LA-0102")["responsible_unit"] == GRID  # the merge's value is the next row's still


def test_a_blank_row_under_a_merged_report_date_is_a_blank_row(tmp_path: Path) -> None:
    # 填报日期 merged down over each round's rows, the first round's block with a blank row in it.
    store = twin_with(tmp_path, row("LA-0001"), row("LA-0002"))
    rows = [["填报日期", "项目编号", "完成百分比"], [datetime(2026, 10, 26), "LA-0001", "40%"], [None, "LA-0002", "30%"],
            [None, None, None], ["2026-11-02", "LA-0001", "45%"], [None, "LA-0002", "35%"]]  # fmt: skip
    path = merged_book(tmp_path / "p.xlsx", "进度填报", rows, ["A2:A4", "A5:A6"])
    code, out = run("progress", "import", str(path), "-s", str(store), "--author", "x <y>")
    assert code == 0, out
    assert (props(store, "LA-0001")["percent_complete"], props(store, "LA-0002")["percent_complete"]) == (45, 35)
