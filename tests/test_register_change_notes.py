"""A register sheet that changes projects the register holds says what it changes (a coordinator's
find: a code given again on another unit's sheet replaced that project's name, category and
quantity, and the only note was that it moved to the other unit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cli.main import app as cli


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


@pytest.fixture
def register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("VENUE_TWIN_AUTHOR", "Guo Hui <battle-map office>")
    store, book = tmp_path / "t.gpkg", tmp_path / "season.xlsx"
    for args in (
        ("init", "--empty", "--store", str(store)),
        ("projects", "sample", str(book), "--projects", "4"),
        ("projects", "import", str(book), "-s", str(store)),
    ):
        code, out = run(*args)
        assert code == 0, (args, out)
    return store, book


def test_a_row_that_changes_a_known_project_names_each_change(register: tuple[Path, Path], tmp_path: Path) -> None:
    store, book = register
    wb = load_workbook(book)
    ws = wb["项目清单"]
    header = [c.value for c in ws[1]]
    code = ws.cell(row=2, column=1).value
    old_name = ws.cell(row=2, column=header.index("项目名称") + 1).value
    old_quantity = ws.cell(row=2, column=header.index("工程量") + 1).value
    ws.cell(row=2, column=header.index("项目名称") + 1).value = "新名称"
    ws.cell(row=2, column=header.index("工程量") + 1).value = old_quantity + 7
    changed = tmp_path / "changed.xlsx"
    wb.save(changed)
    code_, out = run("projects", "import", str(changed), "-s", str(store))
    said = " ".join(out.split())
    assert code_ == 0, out
    assert (
        f"row 2: {code} changes 项目名称 '{old_name}' → '新名称'; 工程量 {old_quantity} → {old_quantity + 7}" in said
    ), out
    assert "row 3" not in said, out  # the rows as the register holds them are no change to say


def test_the_register_imported_again_says_no_change(register: tuple[Path, Path]) -> None:
    store, book = register
    code, out = run("projects", "import", str(book), "-s", str(store))
    assert code == 0 and "nothing to commit" in out and "changes" not in out, out
