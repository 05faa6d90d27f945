"""Workbooks as units really fill them in: Excel for Mac's 1904 dates, a unit written without its
English part, Sheet1 beside empty sheets, bilingual and trade headers, the form's note rows, Chinese
date spellings, a percent Excel shows rounded, and the wording of a few messages."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import orjson
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from typer.testing import CliRunner

from cli.main import app
from completion.intake import read_sheet, report_rows
from completion.register import unknown_code
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin

runner = CliRunner()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REGISTER = ["项目编号", "项目名称", "类别", "片区", "责任单位", "责任人", "计划开始", "计划完成", "工程量", "单位"]
REPORTS = ["项目编号", "日期", "完成百分比", "原因"]
GRID = "国网上海市电力公司 (State Grid Shanghai Electric Power)"
SUN = "孙浩 Sun Hao (State Grid Shanghai)"
GREEN = "上海市绿化和市容管理局 (Shanghai Greening Bureau)"


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def book(path: Path, sheets: dict[str, list[list]], epoch: datetime | None = None) -> Path:
    wb = Workbook()
    if epoch is not None:
        wb.epoch = epoch
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def row(code: str, unit: str = GRID, person: str = SUN) -> list:
    return [
        code,
        f"项目{code}",
        "绿化景观",
        "南广场",
        unit,
        person,
        datetime(2026, 8, 1),
        datetime(2027, 3, 1),
        10,
        "平方米",
    ]


def twin_with(tmp_path: Path, *rows: list) -> Path:
    """A twin whose register holds these projects."""
    store = tmp_path / "t.gpkg"
    Twin.create(store, LAYERS, AREA_OF_INTEREST).close()
    code, out = run("projects", "import", str(book(tmp_path / "base.xlsx", {"项目清单": [REGISTER, *rows]})), "-s",
                    str(store))  # fmt: skip
    assert code == 0, out
    return store


def props(store: Path, code: str) -> dict:
    with Twin.open(store) as twin:
        return orjson.loads(twin.feature("projects", code))["properties"]


def test_serial_dates_of_a_1904_workbook_count_from_its_epoch(tmp_path: Path) -> None:
    # A Mac workbook's plain serial numbers were read with the 1900 epoch: 4 years and a day early.
    store = twin_with(tmp_path, row("LA-0001"))
    start, finish = ((d - date(1904, 1, 1)).days for d in (date(2027, 1, 10), date(2027, 3, 1)))
    r = row("LA-0301")
    r[6:8] = [start, finish]
    path = book(tmp_path / "mac.xlsx", {"项目清单": [REGISTER, r]}, epoch=CALENDAR_MAC_1904)
    code, out = run("projects", "import", str(path), "-s", str(store))
    assert code == 0, out
    got = props(store, "LA-0301")
    assert (got["planned_start"], got["planned_finish"]) == ("2027-01-10", "2027-03-01")


def test_a_unit_or_person_written_without_its_bracket_is_the_registers(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"), row("LA-0002", GREEN, "王芳"))
    rows = [REGISTER, row("LA-0101", "国网上海市电力公司", "孙浩"), row("LA-0102", "State Grid Shanghai Electric Power"),
            row("LA-0002")]  # fmt: skip
    code, out = run("projects", "import", str(book(tmp_path / "r.xlsx", {"项目清单": rows})), "-s", str(store))
    assert code == 0, out
    assert f"note: 责任单位 '国网上海市电力公司' taken as the register's {GRID!r} (row 2)" in out
    assert f"note: 责任人 '孙浩' taken as the register's {SUN!r} (row 2)" in out
    assert f"note: row 4: LA-0002 moves from {GREEN!r} to {GRID!r}" in out
    for c in ("LA-0101", "LA-0102"):
        assert (props(store, c)["responsible_unit"], props(store, c)["responsible_person"]) == (GRID, SUN)


def test_a_new_unit_like_a_registers_unit_is_refused_unless_asked_for(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"))
    path = book(
        tmp_path / "r.xlsx", {"项目清单": [REGISTER, row("LA-0101", "国网上海电力"), row("LA-0102", "国网上海电力")]}
    )
    code, out = run("projects", "import", str(path), "-s", str(store))
    assert code == 2, out
    why = (
        f"责任单位 '国网上海电力' is not in the register: did you mean {GRID!r}? (a new unit is added with --new-units)"
    )
    assert f"row 2: {why}" in " ".join(out.split()) and "row 3: " in out
    code, out = run("projects", "import", str(path), "-s", str(store), "--new-units")
    assert code == 0, out
    assert props(store, "LA-0101")["responsible_unit"] == "国网上海电力"


def test_an_upload_of_a_new_unit_like_a_registers_unit_is_refused_unless_asked_for(tmp_path: Path) -> None:
    """The upload holds to the command line's rule: a new unit like one the register holds is refused
    naming its rows and how to add it (?new_units=true), nothing committed; a unit written without its
    bracket is the register's, and the answer's notes say so."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import ApiSettings

    store = twin_with(tmp_path, row("LA-0001"))
    with Twin.open(store) as twin:
        editor = {"Authorization": f"Bearer {twin.tokens.create('li.wei', 'editor')}", "Content-Type": XLSX}
        before = twin.head()
    near = book(tmp_path / "near.xlsx", {"项目清单": [REGISTER, row("LA-0101", "国网上海电力")]}).read_bytes()
    with TestClient(create_app(ApiSettings(store=store))) as api:
        r = api.post("/projects/import", content=near, headers=editor)
        assert r.status_code == 422, r.text
        said = " ".join(orjson.dumps(r.json()).decode().split())
        assert "did you mean" in said and "?new_units=true" in said, said
        with Twin.open(store) as twin:
            assert twin.head() == before
        r = api.post("/projects/import", params={"new_units": "true"}, content=near, headers=editor)
        assert r.status_code == 201, r.text
        short = book(tmp_path / "short.xlsx", {"项目清单": [REGISTER, row("LA-0102", "国网上海市电力公司")]})
        r = api.post("/projects/import", content=short.read_bytes(), headers=editor)
        assert r.status_code == 201, r.text
        assert any("国网上海市电力公司" in n for n in r.json()["notes"]), r.json()
    assert props(store, "LA-0101")["responsible_unit"] == "国网上海电力"
    assert props(store, "LA-0102")["responsible_unit"] == GRID


def test_empty_sheets_do_not_count_and_a_sheet_is_found_by_its_header(tmp_path: Path) -> None:
    reports = [REPORTS, ["LA-0001", "2026-11-10", "70%"]]
    path = book(tmp_path / "a.xlsx", {"Sheet1": reports, "Sheet2": [], "Sheet3": []})
    assert read_sheet(path, "reports").name == "Sheet1"
    path = book(tmp_path / "b.xlsx", {"说明": [["本表每周五报送"]], "11月10日": reports})
    assert read_sheet(path, "reports").name == "11月10日"
    path = book(tmp_path / "c.xlsx", {"说明": [["填写说明"]], "2026项目清单（第3版）": [REGISTER, row("LA-0001")]})
    assert read_sheet(path, "register").name == "2026项目清单（第3版）"
    path = book(tmp_path / "d.xlsx", {"说明": [["x"]], "11月3日": reports, "11月10日": reports, "空": []})
    try:
        read_sheet(path, "reports")
    except Exception as e:  # noqa: BLE001 — the message is what is checked
        assert "which sheet? it has 说明, 11月3日, 11月10日, 空 (empty)" in str(e)
    else:
        raise AssertionError("two sheets with report headers were not asked about")


def test_bilingual_and_trade_headers_are_known(tmp_path: Path) -> None:
    for header in (
        ["项目编号 Code", "日期 Date", "完成百分比 Percent", "原因 Reason"],
        ["项目编号\nCode", "统计日期", "形象进度", "进度滞后原因"],
        ["Code 项目编号", "日期", "累计完成(%)", "情况说明"],
    ):
        sheet = read_sheet(book(tmp_path / "h.xlsx", {"进度填报": [header, ["LA-0001", "2026-11-10", "70%", "x"]]}),
                           "reports")  # fmt: skip
        assert sorted(sheet.columns) == ["code", "date", "percent", "reason"], header
        assert not sheet.ignored


def test_the_forms_note_rows_are_left_out_and_named(tmp_path: Path) -> None:
    rows = [REPORTS, ["填写说明：完成百分比填整数，日期填本周五"], ["LA-0001", "2026-11-10", "70%"],
            ["平均", None, "70%"], [], ["注：1. 本表每周五16:00前报送"], ["填表人：孙浩", None, "审核人：王芳"],
            ["LA-0002", "2026-11-10", "60%", "注：返工"]]  # fmt: skip
    sheet = read_sheet(book(tmp_path / "n.xlsx", {"进度填报": rows}), "reports")
    assert [r.number for r in sheet.rows] == [3, 8]
    assert [n for n, _ in sheet.skipped] == [2, 4, 6, 7]
    assert sheet.skipped[-1] == (7, "a note (填表人：孙浩)")
    _, bad = report_rows(sheet)
    assert bad == []


def test_compact_and_weekday_dates_are_read_and_the_forms_named(tmp_path: Path) -> None:
    rows = [REPORTS, ["A", "20261110", "1%"], ["B", 20261110, "1%"], ["C", "2026年11月10日（星期二）", "1%"],
            ["D", "2026-11-10(周二)", "1%"], ["E", "2026-11-10(周三)", "1%"], ["F", "11/10/2026", "1%"]]  # fmt: skip
    reports, bad = report_rows(read_sheet(book(tmp_path / "d.xlsx", {"进度填报": rows}), "reports"))
    assert [r.report.on for r in reports] == [date(2026, 11, 10)] * 4
    assert [p.row for p in bad] == [6, 7]
    assert "not the weekday" in bad[0].reason
    assert "20261110" in bad[1].reason and "2026年11月10日" in bad[1].reason


def test_a_percent_shown_rounded_says_what_the_cell_holds(tmp_path: Path) -> None:
    store = twin_with(tmp_path, row("LA-0001"))
    code, out = run("progress", "import", str(book(tmp_path / "r1.xlsx", {"进度": [REPORTS, ["LA-0001", "2026-10-26", "46%"]]})),
                    "-s", str(store), "--author", "x <y>")  # fmt: skip
    assert code == 0, out
    wb = Workbook()
    ws = wb.active
    ws.title = "进度"
    ws.append(REPORTS)
    ws.append(["LA-0001", "2026-11-10", 0.455])
    ws["C2"].number_format = "0%"
    wb.save(tmp_path / "r2.xlsx")
    code, out = run("progress", "import", str(tmp_path / "r2.xlsx"), "-s", str(store), "--author", "x <y>")
    assert code == 2, out
    assert "(the cell shows 46% but holds 45.5%; Excel rounds it for display)" in " ".join(out.split())


def test_message_wording_full_width_space_one_reason_and_csv_file(tmp_path: Path) -> None:
    assert unknown_code("LA-\u30000001", ["LA-0001"]) == (
        "no project 'LA-\u30000001' (with a full-width space) in the register; did you mean 'LA-0001'?"
    )
    store = twin_with(tmp_path, row("LA-0001"))
    code, out = run("progress", "import", str(book(tmp_path / "r1.xlsx", {"进度": [REPORTS, ["LA-0001", "2026-10-26", "46%"]]})),
                    "-s", str(store), "--author", "x <y>")  # fmt: skip
    assert code == 0, out
    code, out = run("progress", "import", str(book(tmp_path / "r2.xlsx", {"进度": [REPORTS, ["LA-0001", "2026-11-10", -5]]})),
                    "-s", str(store), "--author", "x <y>")  # fmt: skip
    assert code == 2 and "below 0%" in out and "lower than the last report" not in out, out
    csv = tmp_path / "F3_gbk.csv"
    csv.write_bytes("项目编号,日期,完成百分比\r\nLA-0001,2026-11-10,70%\r\n".encode("gb18030"))
    code, out = run("progress", "import", str(csv), "-s", str(store), "--author", "x <y>")
    assert code == 0 and "from the file" in out and "sheet 'F3_gbk'" not in out, out


def test_a_reporter_cell_on_two_lines_is_one_author_and_a_bad_one_is_named_by_its_row(tmp_path: Path) -> None:
    # A name and a telephone number on two lines (Alt+Enter) is how many units fill the reporter
    # cell; it was refused as an author, naming no row.
    store = twin_with(tmp_path, row("LA-0001"), row("LA-0002"))
    header = [*REPORTS, "填报人"]
    rows = [header, ["LA-0001", "2026-10-26", "46%", None, "孙浩\n13800000000"],
            ["LA-0002", "2026-10-26", "40%", None, "孙浩\u3000 13800000000 "]]  # fmt: skip
    code, out = run("progress", "import", str(book(tmp_path / "r1.xlsx", {"进度": rows})), "-s", str(store))
    assert code == 0, out
    assert props(store, "LA-0001")["progress_reporter"] == "孙浩 13800000000"
    assert props(store, "LA-0002")["progress_reporter"] == "孙浩 13800000000"
    with Twin.open(store) as twin:
        assert twin.head().author == "孙浩 13800000000"
        n = twin.commit_count()
    bad = [header, ["LA-0001", "2026-11-10", "50%", None, "孙浩"], ["LA-0002", "2026-11-10", "50%", None, "孙\u202e浩"]]
    code, out = run("progress", "import", str(book(tmp_path / "r2.xlsx", {"进度": bad})), "-s", str(store))
    assert code == 2, out
    assert "row 3" in out and "reporter" in out and "U+202E" in out, out
    with Twin.open(store) as twin:
        assert twin.commit_count() == n
