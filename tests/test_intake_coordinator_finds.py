"""A season coordinator's finds importing workbooks as the units send them: a blank row inside a
merged unit or date, quantities written with their unit, messages in the sheet's own words, a
category like the register's, and projects with no 责任人."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from test_intake_messy import GRID, REGISTER, XLSX, book, props, row, run, twin_with

from twin import Twin


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


def with_quantity(code: str, quantity: object, unit: object) -> list:
    r = row(code)
    r[8:10] = [quantity, unit]
    return r


def test_a_quantity_written_with_its_unit_is_read_when_the_unit_agrees(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"))
    rows = [REGISTER, with_quantity("LA-0101", "1,200㎡", None), with_quantity("LA-0102", "850 m", "米"),
            with_quantity("LA-0103", "1200 m2", "平方米")]  # fmt: skip
    code, out = run("projects", "import", str(book(tmp_path / "r.xlsx", {"项目清单": rows})), "-s", str(store))
    assert code == 0, out
    got = [(props(store, c)["quantity"], props(store, c)["quantity_unit"]) for c in ("LA-0101", "LA-0102", "LA-0103")]
    assert got == [(1200, "m²"), (850, "m"), (1200, "m²")]
    # a sheet with no unit column: the unit written in the cell is the project's
    bare = [REGISTER[:-1], with_quantity("LA-0104", "30盏", None)[:-1]]
    code, out = run("projects", "import", str(book(tmp_path / "b.xlsx", {"项目清单": bare})), "-s", str(store))
    assert code == 0, out
    assert (props(store, "LA-0104")["quantity"], props(store, "LA-0104")["quantity_unit"]) == (30, "lamps")


def test_a_quantity_whose_unit_disagrees_is_refused_saying_both_and_quoting_the_cell(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"))
    rows = [REGISTER, with_quantity("LA-0101", "1,200㎡", "米"), with_quantity("LA-0102", "30 boxes", None),
            with_quantity("LA-0103", "1,2 ㎡", None)]  # fmt: skip
    code, out = run("projects", "import", str(book(tmp_path / "r.xlsx", {"项目清单": rows})), "-s", str(store))
    assert code == 2, out
    said = " ".join(out.split())
    assert "'1,200㎡' is in m², but the row's unit is m (单位 '米')" in said, said
    assert "'30 boxes': its unit is not a unit of quantity known" in said, said
    assert "'1,2 ㎡' is not a number (write decimals with a point" in said, said
    assert "m2" not in said, said  # the cells as written, not as read


def test_messages_name_the_sheet_its_headers_and_odd_spaces_in_a_coordinators_words(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"))
    late = row("LA-0102", person="黄\u3000丽")
    late[7] = "10月30日"
    reports = [["项目编号", "填报日期", "完成百分比"], ["LA-0001", "2026-11-02", "140%"]]
    path = book(
        tmp_path / "season.xlsx", {"项目清单": [REGISTER, row("LA-0101", person="黄丽"), late], "进度填报": reports}
    )
    code, out = run("projects", "import", str(path), "-s", str(store))
    assert code == 2, out
    said = re.sub(r" *\n *", " ", out)  # as printed, lines wrapped (split() would take the full-width space too)
    # the sheet of a workbook with several; the header as the sheet has it, not planned_finish
    assert "season.xlsx sheet '项目清单' row 3: 计划完成: '10月30日' has no year" in said, said
    # a full-width space said in words, not as a Python escape
    assert "row 3: 责任人 '黄\u3000丽' (with a full-width space) is written '黄丽' on row 2" in said, said
    assert "\\u3000" not in said and "planned_finish" not in said and "responsible_person" not in said, said
    code, out = run("progress", "import", str(path), "-s", str(store), "--author", "x <y>")
    assert code == 2, out
    # a report sheet's rows are reports, not projects
    assert "- reports: season.xlsx sheet '进度填报' row 2: 完成百分比 140 is beyond 100%" in " ".join(out.split()), out
    assert "projects:" not in out, out


def with_category(code: str, category: str) -> list:
    r = row(code)
    r[2] = category
    return r


def test_a_category_like_the_registers_is_refused_with_a_suggestion_unless_asked_for(tmp_path: Path) -> None:
    # 道路 where the register's category is 配套道路 became a category of its own, without a word.
    store = twin_with(tmp_path, row("LA-0001"))
    path = book(tmp_path / "r.xlsx", {"项目清单": [REGISTER, with_category("LA-0101", "道路"), row("LA-0102")]})
    code, out = run("projects", "import", str(path), "-s", str(store))
    assert code == 2, out
    said = " ".join(out.split())
    why = "类别 '道路' is not in the register: did you mean '配套道路'? (a new category is added with --new-categories)"
    assert f"row 2: {why}" in said and "row 3" not in said, said
    code, out = run("projects", "import", str(path), "-s", str(store), "--new-categories")
    assert code == 0, out
    assert props(store, "LA-0101")["category"] == "道路"
    # once the register holds it, it is the register's: no flag needed
    again = book(tmp_path / "a.xlsx", {"项目清单": [REGISTER, with_category("LA-0103", "道路")]})
    code, out = run("projects", "import", str(again), "-s", str(store))
    assert code == 0, out


def test_an_upload_of_a_category_like_the_registers_is_refused_unless_asked_for(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import ApiSettings

    store = twin_with(tmp_path, row("LA-0001"))
    with Twin.open(store) as twin:
        editor = {"Authorization": f"Bearer {twin.tokens.create('li.wei', 'editor')}", "Content-Type": XLSX}
    near = book(tmp_path / "near.xlsx", {"项目清单": [REGISTER, with_category("LA-0101", "Road")]}).read_bytes()
    with TestClient(create_app(ApiSettings(store=store))) as api:
        r = api.post("/projects/import", content=near, headers=editor)
        assert r.status_code == 422, r.text
        assert "did you mean 'Support road'? (a new category is added with ?new_categories=true)" in r.text, r.text
        r = api.post("/projects/import", params={"new_categories": "true"}, content=near, headers=editor)
        assert r.status_code == 201, r.text
    assert props(store, "LA-0101")["category"] == "Road"


def test_a_project_with_no_responsible_person_is_imported_with_a_note(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import ApiSettings

    store = twin_with(tmp_path, row("LA-0001"))
    rows = [REGISTER, row("LA-0101"), row("LA-0102", person=""), row("LA-0103", person=" ")]
    code, out = run("projects", "import", str(book(tmp_path / "r.xlsx", {"项目清单": rows})), "-s", str(store))
    assert code == 0, out
    assert "note: no 责任人 on rows 3, 4: imported without a responsible person" in " ".join(out.split()), out
    assert "responsible_person" not in props(store, "LA-0102")  # accepted: a note, not a refusal
    # the upload's answer says so among its notes
    with Twin.open(store) as twin:
        editor = {"Authorization": f"Bearer {twin.tokens.create('li.wei', 'editor')}", "Content-Type": XLSX}
    sheet = book(
        tmp_path / "u.xlsx", {"项目清单": [REGISTER[:5] + REGISTER[6:], row("LA-0104")[:5] + row("LA-0104")[6:]]}
    )
    with TestClient(create_app(ApiSettings(store=store))) as api:
        r = api.post("/projects/import", content=sheet.read_bytes(), headers=editor)
        assert r.status_code == 201, r.text
    # a sheet without the column names it in both languages
    assert "no 责任人 (responsible person) on row 2: imported without a responsible person" in r.json()["notes"], (
        r.json()
    )
