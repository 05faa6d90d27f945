"""Spreadsheet intake on the command line: a register and a season of reports from one workbook,
with original dates; refused files; CSV with English headers; exports; the change file's time."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cli.main import app
from completion import Completion, ProgressReport, report_progress, save_projects
from completion.intake import REGISTER_HEADERS, read_sheet, recorded_time
from completion.sample import venue_units
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from twin.core import SHANGHAI
from twin.model import Change, Feature

runner = CliRunner()
T30 = date(2026, 10, 6)  # T-30 of the 2026 expo (opening day 11-05)
UNITS = ["青浦区建管委", "国网上海市电力公司", "市绿化市容局", "国家会展中心（上海）有限责任公司", "市政工程公司"]
AREAS = ["south_plaza", "halls", "roads", "landscaping"]
AREAS_ZH = {"south_plaza": "南广场", "halls": "展馆", "roads": "道路", "landscaping": "绿化"}
REGISTER_ZH = [
    "项目编号",
    "项目名称",
    "类别",
    "片区",
    "责任单位",
    "责任人",
    "计划开始",
    "计划完成",
    "工程量",
    "单位",
    "权重",
]
REPORTS_ZH = ["项目编号", "日期", "完成百分比", "备注", "原因", "填报人"]


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def season(n: int = 80, seed: int = 7) -> tuple[list[list], list[list]]:
    """A register of n projects (Chinese headers) and reports every 10 days from 2026-08-01."""
    rnd = random.Random(seed)
    register, reports = [], []
    days = [date(2026, 8, 1) + timedelta(days=10 * k) for k in range(9)]  # to 2026-10-21
    for i in range(n):
        unit = UNITS[i % len(UNITS)]
        area = AREAS[i % len(AREAS)]
        start = date(2026, 7, 20) + timedelta(days=rnd.randrange(0, 12))
        finish = start + timedelta(days=rnd.randrange(40, 100))
        code = f"XM-{i + 1:03d}"
        register.append([code, f"项目{i + 1}", "venue_renovation", AREAS_ZH[area], unit, f"负责人{i % 7}",
                         start, finish, rnd.randrange(100, 5000), rnd.choice(["m2", "平方米", "m", "盏"]),
                         None])  # fmt: skip
        pct = 0.0
        for d in days:
            if d < start:
                continue
            pct = min(100.0, pct + rnd.uniform(3, 18))
            reports.append([code, d, round(pct, 1), "按计划" if pct < 100 else "完成", None, f"{unit}联络员"])
    rnd.shuffle(reports)  # the importer orders them by date itself
    return register, reports


def workbook(path: Path, register: list[list], reports: list[list]) -> Path:
    book = Workbook()
    ws = book.active
    ws.title = "项目清单"
    ws.append(REGISTER_ZH)
    for r in register:
        ws.append(r)
    ws2 = book.create_sheet("进度填报")
    ws2.append(REPORTS_ZH)
    for r in reports:
        ws2.append(r)
    book.save(path)
    return path


def empty_twin(path: Path) -> Path:
    Twin.create(path, LAYERS, AREA_OF_INTEREST).close()
    return path


def figures(store: Path, on: date) -> tuple:
    with Twin.open(store) as twin:
        snap = Completion(twin).at(on)
        overall = snap.overall()
        groups = [(g.key, g.projects, round(g.actual, 6), dict(g.counts)) for g in snap.groups("unit")]
        per = sorted((s.project.code, s.percent, s.status) for s in snap.statuses)
        return round(overall.actual, 6), overall.projects, groups, per


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[list], list[list]]:
    d = tmp_path_factory.mktemp("intake")
    register, reports = season()
    book = workbook(d / "season.xlsx", register, reports)
    store = empty_twin(d / "twin.gpkg")
    code, out = run("projects", "import", str(book), "--original-dates", "--store", str(store))
    assert code == 0, out
    code, out = run("progress", "import", str(book), "--original-dates", "--store", str(store))
    assert code == 0, out
    return store, book, register, reports


def test_season_with_original_dates_reads_as_it_stood(imported, tmp_path: Path) -> None:
    store, _, register, reports = imported
    # The same season committed report by report, each on its day, gives the same figures at T-30.
    by_hand = empty_twin(tmp_path / "by-hand.gpkg")
    with Twin.open(by_hand) as twin:
        records = [
            {"code": r[0], "name_zh": r[1], "name_en": r[1], "category": r[2], "area": AREAS[i % 4],
             "responsible_unit": r[4], "responsible_person": r[5], "planned_start": r[6].isoformat(),
             "planned_finish": r[7].isoformat(), "quantity": float(r[8]),
             "quantity_unit": {"m2": "m²", "平方米": "m²", "m": "m", "盏": "lamps"}[r[9]]}
            for i, r in enumerate(register)
        ]  # fmt: skip
        first = min(r[6] for r in register)
        save_projects(
            twin, records, author="office", message="register", time=recorded_time(first) - timedelta(hours=12)
        )
        for r in sorted(reports, key=lambda r: (r[1], r[0])):
            if r[1] > T30:
                continue  # later reports cannot change the figures of T-30
            report_progress(twin, ProgressReport(r[0], r[2], r[1], r[3]), reporter=r[5], time=recorded_time(r[1]))
    expected = figures(by_hand, T30)
    got = figures(store, T30)
    assert got == expected
    assert got[1] == 80 and 0 < got[0] < 100  # the season is under way on T-30, not an empty twin

    # The command line reads the same day by its checkpoint label.
    code, out = run("completion", "--date", "T-30", "--csv", "--store", str(store))
    assert code == 0, out
    overall = [row for row in csv.DictReader(io.StringIO(out)) if row["by"] == "overall"][0]
    assert int(overall["projects"]) == 80 and float(overall["actual_percent"]) == pytest.approx(got[0], abs=0.01)


def test_reports_are_one_commit_per_unit_per_date_by_the_reporter(imported) -> None:
    store, _, _, reports = imported
    with Twin.open(store) as twin:
        log = twin.log(limit=1000)
    report_commits = [c for c in log if c.message.startswith("Progress reported")]
    expected = {(r[1], r[5]) for r in reports}  # each unit has one reporter here
    assert len(report_commits) == len(expected)
    assert {(c.time.astimezone(recorded_time(T30).tzinfo).date(), c.author) for c in report_commits} == {
        (d, a) for d, a in expected
    }
    times = [c.time for c in reversed(log)]
    assert times == sorted(times)  # monotonic


def test_before_any_data_the_read_says_so(imported) -> None:
    store = imported[0]
    code, out = run("completion", "--date", "2026-05-01", "--store", str(store))
    assert code == 2 and "no data on 2026-05-01" in out and "history starts on" in out


@pytest.mark.parametrize(
    ("bad_cell", "value", "why"),
    [
        ("date", "2026-13-45", "is not a date"),
        ("percent", 140, "beyond 100%"),
        ("code", "NOPE-1", "no project 'NOPE-1'"),
    ],
)
def test_a_bad_report_row_refuses_the_whole_file(imported, tmp_path: Path, bad_cell: str, value, why: str) -> None:
    source, _, register, reports = imported
    store = tmp_path / "t.gpkg"
    store.write_bytes(source.read_bytes())
    fresh = [[r[0], r[1] + timedelta(days=50), min(100, r[2] + 1), None, None, r[5]] for r in reports[:30]]
    fresh = [r for r in fresh if r[1] <= date(2026, 12, 1)]
    col = {"code": 0, "date": 1, "percent": 2}[bad_cell]
    fresh[11][col] = value
    book = workbook(tmp_path / "bad.xlsx", register, fresh)
    with Twin.open(store) as twin:
        before = [c.id for c in twin.log(limit=2000)]
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out
    assert "row 13" in out and why in out and "nothing was committed" in out
    with Twin.open(store) as twin:
        assert [c.id for c in twin.log(limit=2000)] == before


def _report_book(path: Path, rows: list[list], percent_format: str | None = None) -> Path:
    book = Workbook()
    ws = book.active
    ws.title = "进度填报"
    ws.append(REPORTS_ZH)
    for r in rows:
        ws.append(r)
    if percent_format:
        for (cell,) in ws.iter_rows(min_row=2, min_col=3, max_col=3):
            cell.number_format = percent_format
    book.save(path)
    return path


def _copy_of(source: Path, tmp_path: Path) -> Path:
    store = tmp_path / "t.gpkg"
    store.write_bytes(source.read_bytes())
    return store


def test_percent_cells_formatted_as_percent_are_read_as_shown(imported, tmp_path: Path) -> None:
    # Excel stores a cell typed as 45% as 0.45 with a percent format; reading the stored number
    # would record 0.45%, a silent wrong figure on a project's first report.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    book = _report_book(tmp_path / "pct.xlsx", [[register[0][0], day, 0.995], [register[1][0], day, 1]], "0.0%")
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        got = [orjson.loads(twin.feature("projects", r[0]))["properties"]["percent_complete"] for r in register[:2]]
    assert got == [99.5, 100.0]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_plain_fraction_of_one_is_refused_not_read_as_a_percent(imported, tmp_path: Path, kind: str) -> None:
    # 0.75 from a formula 完成量/工程量 in a General cell (or a CSV) is 75 % as often as 0.75 %:
    # refused, not guessed. A cell formatted as a percent, or text with its '%', says which.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    rows = [[register[0][0], day, 0.75], [register[1][0], day, 100]]
    if kind == "xlsx":
        book = _report_book(tmp_path / "frac.xlsx", rows)
    else:
        book = tmp_path / "frac.csv"
        lines = ["code,date,percent", *(f"{c},{d.isoformat()},{p}" for c, d, p in rows)]
        book.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Twin.open(store) as twin:
        before = twin.head()
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out
    header = "完成百分比" if kind == "xlsx" else "percent"  # the column's header, as the sheet has it
    assert f"row 2: {header} 0.75: a fraction or 0.75 %? write 75, or 0.75%" in out and "row 3" not in out, out
    with Twin.open(store) as twin:
        assert twin.head() == before
    # The same figure in a cell formatted as a percent is 75; written "0.75%" it is 0.75.
    book = _report_book(tmp_path / "pct.xlsx", [[register[0][0], day, 0.75, None, "返工"]], "0%")
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    book = _report_book(tmp_path / "text.xlsx", [[register[1][0], day, "0.75%", None, "返工"]])
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        got = [orjson.loads(twin.feature("projects", r[0]))["properties"]["percent_complete"] for r in register[:2]]
    assert got == [75.0, 0.75]


def test_reports_already_in_the_twin_are_skipped_and_another_figure_for_their_date_is_refused(
    imported, tmp_path: Path
) -> None:
    # A running sheet (every report so far, new ones below) imported each week: the rows the twin
    # already records are no change, not "older than the last report" errors.
    source, _, register, reports = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    new = [[register[k][0], day, 100, None, None, "王五"] for k in range(3)]
    book = _report_book(tmp_path / "running.xlsx", [*reports, *new])
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    assert f"{len(reports)} reports already in the twin were skipped" in out and "(3 reports from" in out, out
    with Twin.open(store) as twin:
        head = twin.head()
        assert [orjson.loads(twin.feature("projects", r[0]))["properties"]["progress_date"] for r in new] == [
            day.isoformat()
        ] * 3
    # The same sheet again: nothing to commit, not an error.
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0 and "nothing to commit" in out and f"{len(reports) + 3} reports" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == head
    # Another figure for a date already reported is refused, naming the row and what the twin has.
    changed = [list(r) for r in reports]
    changed[5][2] = changed[5][2] + 0.5 if changed[5][2] < 100 else 99
    book = _report_book(tmp_path / "changed.xlsx", changed)
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out
    r = reports[5]
    assert f"row 7: the twin already records {r[2]:g}% for {r[0]} on {r[1].isoformat()}" in out, out
    assert "1 problem(s)" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == head


def test_reports_naming_their_reporter_need_no_author(imported, tmp_path: Path, monkeypatch) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    monkeypatch.delenv("VENUE_TWIN_AUTHOR", raising=False)
    day = date(2026, 11, 1)
    lacking = _report_book(tmp_path / "lacking.xlsx", [[register[0][0], day, 100, None, None, "王五"],
                                                       [register[1][0], day, 100]])  # fmt: skip
    code, out = run("progress", "import", str(lacking), "--store", str(store))
    assert code == 2 and "who makes this commit?" in out, out
    named = _report_book(tmp_path / "named.xlsx", [[register[0][0], day, 100, None, None, "王五"]])
    code, out = run("progress", "import", str(named), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert twin.head().author == "王五"  # type: ignore[union-attr]


def test_an_unknown_code_is_named_with_the_code_it_could_be(imported, tmp_path: Path) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    code = register[0][0]
    book = _report_book(tmp_path / "codes.xlsx", [[code.lower(), day, 100], ["ZZ-99", day, 100]])
    status, out = run("progress", "import", str(book), "--store", str(store))
    assert status == 2, out
    assert f"row 2: no project {code.lower()!r} in the register; did you mean {code!r}?" in out, out
    assert "row 3: no project 'ZZ-99' in the register\n" in out, out


def test_a_formula_without_a_saved_result_is_refused_as_such(imported, tmp_path: Path) -> None:
    # A workbook written by a program holds formulas without their results: the cell reads as
    # empty, and "no percent" would send the user looking for a value that is on the screen.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    book = _report_book(tmp_path / "f.xlsx", [[register[0][0], day, 100], [register[1][0], day, "=90+9"]])
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out
    assert "row 3" in out and "formula =90+9 has no saved result" in out and "no percent" not in out


@pytest.mark.parametrize("value", ["9,5", "99,5%"])
def test_a_decimal_comma_is_refused_not_read_as_a_thousands_separator(imported, tmp_path: Path, value: str) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = f"code;date;percent\n{register[0][0]};2026-11-01;{value}\n"
    path = tmp_path / "r.csv"
    path.write_text(rows, encoding="utf-8")
    code, out = run("progress", "import", str(path), "--store", str(store))
    assert code == 2, out
    assert "row 2" in out and "is not a number" in out and "decimals with a point" in out
    # A thousands separator is still one.
    reg = tmp_path / "g.csv"
    reg.write_text(
        "code,name,area,unit,planned start,planned finish,quantity,unit of quantity\n"
        'NEW-1,Road,roads,Road Co,2026-08-01,2026-10-01,"12,000.5",m2\n',
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", "NEW-1"))["properties"]["quantity"] == 12000.5


def test_a_cell_showing_a_formula_error_is_refused_not_taken_for_a_name(tmp_path: Path) -> None:
    # A VLOOKUP of the responsible unit that found nothing shows #N/A; saved by Excel, the file
    # holds the text "#N/A", which would become a unit's name.
    register, _ = season(3)
    register[1][4] = "#N/A"
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(workbook(tmp_path / "r.xlsx", register, [])), "--store", str(store))
    assert code == 2, out
    assert "row 3: 责任单位: the cell shows the error #N/A" in out
    with Twin.open(store) as twin:
        assert twin.head() is None


def test_a_new_project_with_a_quantity_and_no_unit_is_refused(tmp_path: Path) -> None:
    # Left out, the unit of quantity was "items": a paving of 1,200 m² weighed as 1,200 items, in
    # a group of its own among its area's projects. A project with no quantity was given 0 items
    # (weighed 0 beside its area's projects in items): the register requires one, so it is asked for.
    register, _ = season(3)
    register[1][9] = None
    register[2][8] = register[2][9] = None
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(workbook(tmp_path / "r.xlsx", register, [])), "--store", str(store))
    assert code == 2, out
    assert f"row 3: 工程量 {register[1][8]} has no unit of quantity" in out, out
    assert "row 4: no 工程量: a new project needs its quantity and unit" in out and "[column I: 工程量]" in out, out
    assert "required property" not in out, out  # said once, by the quantity's reason


def test_headers_under_a_title_row_are_found_and_rows_keep_their_numbers(imported, tmp_path: Path) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    book = Workbook()
    ws = book.active
    ws.title = "进度填报"
    ws.append(["2026年进博会硬件项目进度填报表（第45周）"])
    ws.merge_cells("A1:F1")
    ws.append(REPORTS_ZH)
    ws.append([register[0][0], date(2026, 11, 1), 100])
    ws.append([register[1][0], date(2026, 11, 1), 140])
    book.save(tmp_path / "title.xlsx")
    code, out = run("progress", "import", str(tmp_path / "title.xlsx"), "--store", str(store))
    assert code == 2, out
    assert "row 4: 完成百分比 140 is beyond 100%" in out and "row 3" not in out
    ws.cell(4, 3).value = 99
    book.save(tmp_path / "title.xlsx")
    code, out = run("progress", "import", str(tmp_path / "title.xlsx"), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", register[1][0]))["properties"]["percent_complete"] == 99


def test_merged_cells_hold_their_value_on_every_row(tmp_path: Path) -> None:
    # A hand-kept register merges a unit's cells over its projects; Excel shows the value on every
    # row, and so must the import (below the first row they read as empty: the responsible unit
    # refused, the unit of quantity silently "items").
    register, _ = season(4)
    for r in register[1:3]:
        r[4] = r[9] = None
    register[0][9] = "m2"
    book = workbook(tmp_path / "merged.xlsx", register, [])
    wb = load_workbook(book)
    wb["项目清单"].merge_cells("E2:E4")
    wb["项目清单"].merge_cells("J2:J4")
    wb.save(book)
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        props = [orjson.loads(twin.feature("projects", r[0]))["properties"] for r in register]
    assert [(p["responsible_unit"], p["quantity_unit"]) for p in props[:3]] == [(register[0][4], "m²")] * 3
    assert props[3]["responsible_unit"] == register[3][4]

    # Across columns a merge is a wider cell: a note spread over the reason and reporter columns
    # is the note, not a reporter.
    rows = [[register[0][0], date(2026, 11, 1), 50, "钢结构到货，明日吊装", None, None],
            [register[1][0], date(2026, 11, 1), 50, None, None, "王五"]]  # fmt: skip
    book = _report_book(tmp_path / "notes.xlsx", rows)
    wb = load_workbook(book)
    wb["进度填报"].merge_cells("D2:F2")
    wb.save(book)
    code, out = run("progress", "import", str(book), "--author", "office <o>", "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", register[0][0]))["properties"]
    assert (p["progress_note"], p["progress_reporter"], p.get("progress_reason")) == (
        "钢结构到货，明日吊装",
        "office <o>",
        None,
    )


def test_a_bad_register_row_refuses_the_whole_file(tmp_path: Path) -> None:
    register, _ = season(10)
    register[4][4] = None  # no responsible unit
    register[6][9] = "furlongs"  # unknown unit of quantity
    register[8][7] = "someday"
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(workbook(tmp_path / "r.xlsx", register, [])), "--store", str(store))
    assert code == 2, out
    assert "row 6" in out and "责任单位" in out
    assert "row 8" in out and "furlongs" in out
    assert "row 10" in out and "'someday' is not a date" in out
    with Twin.open(store) as twin:
        assert twin.head() is None

    # A date a century off (Excel shows an empty date cell as 1900-01-00) would, with original
    # dates, start the twin's history in 1899 and its checkpoints with it.
    register, _ = season(3)
    register[1][6] = date(1900, 1, 1)
    register[2][7] = date(2206, 10, 1)
    book = workbook(tmp_path / "r2.xlsx", register, [])
    code, out = run("projects", "import", str(book), "--original-dates", "--store", str(store))
    assert code == 2, out
    assert "row 3: 计划开始 1900-01-01 is more than 10 years from today" in out
    assert "row 4: 计划完成 2206-10-01" in out
    # One reason a row: the date refused, not also the date then missing.
    assert "is missing" not in out, out
    with Twin.open(store) as twin:
        assert twin.head() is None


@pytest.mark.parametrize("code", ["XM/002", "..", "."])
def test_a_project_code_no_url_can_name_is_refused_naming_row_and_code(tmp_path: Path, code: str) -> None:
    """Imported, a code holding '/' (or a dot segment) could not be read at /projects/{code}."""
    register, _ = season(3)
    register[1][0] = code
    store = empty_twin(tmp_path / "t.gpkg")
    code_, out = run("projects", "import", str(workbook(tmp_path / "r.xlsx", register, [])), "--store", str(store))
    assert code_ == 2, out
    flat = " ".join(out.split())
    assert f"row 3: project code {code!r} cannot be part of a URL (/projects/{{code}})" in flat, out
    with Twin.open(store) as twin:
        assert twin.head() is None


def test_a_refused_file_is_named_once(tmp_path: Path) -> None:
    """`error: …/twolevel.xlsx: twolevel.xlsx: sheet …`: the library names the file it refuses and
    the CLI prefixed the path given again. Now the path leads, once."""
    book = Workbook()
    ws = book.active
    ws.title = "项目清单"
    ws.append([h for h in REGISTER_ZH if h != "计划完成"])  # no planned finish column
    path = tmp_path / "twolevel.xlsx"
    book.save(path)
    code, out = run("projects", "import", str(path), "--store", str(empty_twin(tmp_path / "t.gpkg")))
    assert code == 2, out
    flat = " ".join(out.split())
    assert f"error: {path}: sheet '项目清单' has no column for planned_finish" in flat, out
    assert flat.count("twolevel.xlsx") == 1, out


def test_a_date_without_a_year_says_so(imported, tmp_path: Path) -> None:
    """10月6日 (month and day, no year) is refused as before, and the message says the year is
    missing, with the date it most likely means (the one nearest today), rather than "not a
    date (YYYY-MM-DD)"."""
    today = datetime.now(SHANGHAI).date()

    def nearest(month: int, day: int) -> str:  # the year the hint gives: the one nearest today
        return min((date(y, month, day) for y in (today.year - 1, today.year, today.year + 1)),
                   key=lambda d: abs(d - today)).isoformat()  # fmt: skip

    register, _ = season(3)
    register[0][6] = "8月1日"
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(workbook(tmp_path / "r.xlsx", register, [])), "--store", str(store))
    assert code == 2, out
    assert f"row 2: 计划开始: '8月1日' has no year: write {nearest(8, 1)}" in out, out
    assert "is missing" not in out and "YYYY-MM-DD" not in out, out
    source, _, register, _ = imported
    copy = _copy_of(source, tmp_path)
    rows = [[register[0][0], "10月6日", 50, None, None, "王五"], [register[1][0], "10/6", 50, None, None, "王五"]]
    code, out = run("progress", "import", str(_report_book(tmp_path / "noyear.xlsx", rows)), "--store", str(copy))
    assert code == 2, out
    assert f"row 2: 日期: '10月6日' has no year: write {nearest(10, 6)}" in out, out
    assert f"row 3: 日期: '10/6' has no year: write {nearest(10, 6)}" in out, out


def test_a_sheet_that_moves_a_deadline_keeps_the_other_fields(imported, tmp_path: Path) -> None:
    # "A code already in the register updates the fields the sheet gives and keeps the rest":
    # the defaults of a new project (category other) are not an update, nor was its quantity (0 items then).
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    code_, start = register[0][0], register[0][6]
    with Twin.open(store) as twin:
        before = orjson.loads(twin.feature("projects", code_))["properties"]
    sheet = tmp_path / "move.csv"
    unit = register[0][4]
    sheet.write_text(
        f"code,unit,planned start,planned finish\n{code_},{unit},{start.isoformat()},2026-10-30\n", "utf-8"
    )
    code, out = run("projects", "import", str(sheet), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        after = orjson.loads(twin.feature("projects", code_))["properties"]
    assert after == {**before, "planned_finish": "2026-10-30"}
    assert before["quantity"] > 0 and before["quantity_unit"] != "items"

    # A Chinese sheet renaming it keeps its English name (one name column serves as both only
    # for a new project).
    with Twin.open(store) as twin:
        twin.commit(
            [Change("projects", "modify", code_, Feature(code_, None, {**after, "name_en": "Plaza paving"}))],
            author="office",
            message="English name",
        )
    sheet.write_text(
        f"项目编号,项目名称,责任单位,计划开始,计划完成\n{code_},南广场铺装,{unit},{start},2026-10-30\n", "utf-8"
    )
    code, out = run("projects", "import", str(sheet), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        renamed = orjson.loads(twin.feature("projects", code_))["properties"]
    assert (renamed["name_zh"], renamed["name_en"]) == ("南广场铺装", "Plaza paving")


def test_a_sheet_of_known_projects_needs_only_the_columns_it_changes(imported, tmp_path: Path) -> None:
    # "A sheet updating known projects changes only the fields it gives": 项目编号 and 计划完成
    # alone move a deadline (it was refused: no column for planned_start; responsible_unit). The
    # columns a new project needs are asked for only when a row is one, naming its row and code.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    code_ = register[1][0]
    with Twin.open(store) as twin:
        before = orjson.loads(twin.feature("projects", code_))["properties"]
        head = twin.head()
    book = _sheet(tmp_path / "deadline.xlsx", [["项目编号", "计划完成"], [code_, datetime(2026, 11, 3)]])
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0 and "projects +0 ~1" in out, out
    with Twin.open(store) as twin:
        after = orjson.loads(twin.feature("projects", code_))["properties"]
    assert after == {**before, "planned_finish": "2026-11-03"}

    rows = [["项目编号", "计划完成"], [code_, datetime(2026, 11, 4)], [code_.lower().replace("xm", "Xm"), None],
            ["NEW-1", datetime(2026, 11, 4)]]  # fmt: skip
    with Twin.open(store) as twin:
        head = twin.head()
    code, out = run("projects", "import", str(_sheet(tmp_path / "mixed.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    flat = " ".join(out.split())
    assert "has no column for planned_start (" in flat and "responsible_unit (" in flat, out
    assert f"row 3: no project {rows[2][0]!r} in the register; did you mean {code_!r}?" in flat, out
    assert "row 4: no project 'NEW-1' in the register" in flat and "row 2" not in flat, out
    with Twin.open(store) as twin:
        assert twin.head() == head


def test_a_category_or_area_given_as_its_label_is_stored_as_its_key(tmp_path: Path) -> None:
    # The register layer's labels (灯光照明 for lighting; 绿化景观, the landscaping layer's title)
    # name the same value as the key: stored as the key, not as a category of its own.
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "register.csv"
    reg.write_text(
        "项目编号,项目名称,类别,片区,责任单位,计划开始,计划完成,工程量,单位\n"
        "LS-01,景观灯,灯光照明,绿化景观,绿化局,2026-08-01,2026-10-20,12,盏\n"
        "SP-01,Signs,Wayfinding,South plaza,Sign Co,2026-08-01,2026-10-20,3,项\n"
        "HL-01,展馆改造,场馆改造,展馆,会展中心,2026-08-01,2026-10-20,3,项\n"
        "RD-01,Kerbs,路缘石,道路,Road Co,2026-08-01,2026-10-20,3,项\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        got = {c: orjson.loads(twin.feature("projects", c))["properties"] for c in ("LS-01", "SP-01", "HL-01", "RD-01")}
    assert {c: (p["category"], p["area"]) for c, p in got.items()} == {
        "LS-01": ("lighting", "landscaping"),
        "SP-01": ("wayfinding", "south_plaza"),
        "HL-01": ("venue_renovation", "halls"),
        "RD-01": ("路缘石", "roads"),  # a category the schema does not know stays as typed
    }


@pytest.mark.parametrize(
    ("start", "finish", "quantity"),
    [("计划开始时间", "计划完成日期", "工程量（㎡）"), ("计划开始（日期）", "计划完成(时间)", "工程量(m2)")],
)
def test_headers_with_a_bracketed_suffix_or_a_trailing_date_word(
    tmp_path: Path, start: str, finish: str, quantity: str
) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    rows = [["项目编号", "项目名称", "片区", "责任单位", start, finish, quantity, "单位"],
            ["RD-01", "路面", "道路", "路政", "2026-08-01", "2026-10-20", 1200, "㎡"]]  # fmt: skip
    code, out = run("projects", "import", str(_sheet(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 0 and "columns not imported" not in out, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "RD-01"))["properties"]
    assert (p["planned_start"], p["planned_finish"], p["quantity"]) == ("2026-08-01", "2026-10-20", 1200.0)
    # A missing column is named by its Chinese headers too (for a new project: a known one's row
    # needs only the columns it changes).
    rows = [[h for h in rows[0] if h != start], [v for h, v in zip(*rows, strict=True) if h != start]]
    rows[1][0] = "RD-02"
    code, out = run("projects", "import", str(_sheet(tmp_path / "m.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert "no column for planned_start (planned_start / planned start / start / 计划开始 / 计划开工)" in " ".join(
        out.split()
    ), out


def test_csv_with_english_headers_and_m2(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "register.csv"
    reg.write_text(
        "Code,Name,Category,Area,Unit,Person,Planned start,Planned finish,Quantity,Unit of quantity,Weight\n"
        "RD-90,Ring road resurfacing,support_road,roads,Road Co,Wang,2026-08-01,2026-10-20,12000,m2,2\n"
        "RD-91,Lamp posts,lighting,roads,Power Co,Li,2026/08/05,2026/10/25,120,lamps,\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(reg), "--time", "2026-07-31", "--store", str(store))
    assert code == 0, out
    rep = tmp_path / "reports.csv"
    rep.write_text("code,date,percent,note,reporter\nRD-90,2026-09-01,35%,base course,Wang\n", encoding="utf-8")
    code, out = run("progress", "import", str(rep), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "RD-90"))["properties"]
        assert p["quantity_unit"] == "m²" and p["weight"] == 2.0 and p["name_en"] == "Ring road resurfacing"
        assert p["percent_complete"] == 35.0 and p["progress_reporter"] == "Wang"
        assert twin.head().author == "Wang"


@pytest.mark.parametrize(
    "header",
    ["Code,Name,Area,Unit,Responsible unit,Planned start,Planned finish,Quantity",
     "Code,Name,Area,Responsible unit,Planned start,Planned finish,Quantity,Unit"],
)  # fmt: skip
def test_unit_beside_responsible_unit_is_the_unit_of_quantity(tmp_path: Path, header: str) -> None:
    # "Unit" alone means the responsible unit; beside a "Responsible unit" column it can only be
    # the unit of quantity (it was read as the responsible unit, or left out with m² lost).
    store = empty_twin(tmp_path / "t.gpkg")
    cols = header.split(",")
    values = {"Code": "EN-1", "Name": "Road", "Area": "roads", "Unit": "m2", "Responsible unit": "Road Co",
              "Planned start": "2026-08-01", "Planned finish": "2026-10-01", "Quantity": "100"}  # fmt: skip
    reg = tmp_path / "register.csv"
    reg.write_text(header + "\n" + ",".join(values[c] for c in cols) + "\n", encoding="utf-8")
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 0, out
    assert "not imported" not in out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "EN-1"))["properties"]
    assert (p["responsible_unit"], p["quantity_unit"]) == ("Road Co", "m²")


def test_generic_import_of_a_register_needs_no_geometry(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "register.csv"
    reg.write_text(
        "code,name_zh,name_en,area,responsible_unit,planned_start,planned_finish,quantity,quantity_unit,wkt\n"
        "LS-9,花坛,Flower bed,landscaping,Greening,2026-08-01,2026-10-01,300,m2,\n",
        encoding="utf-8",
    )
    code, out = run("import", str(reg), "--layer", "projects", "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", "LS-9"))["properties"]["quantity_unit"] == "m²"


def test_mapping_file_names_other_headers(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "r.csv"
    reg.write_text(
        "任务号,任务,区域,牵头单位,开工,完工,工程量,单位\nA-1,测试任务,halls,某单位,2026-08-01,2026-09-01,1,项\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "columns.yaml"
    mapping.write_text(
        "code: 任务号\nname_zh: 任务\nresponsible_unit: 牵头单位\nplanned_start: 开工\nplanned_finish: 完工\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(reg), "--mapping", str(mapping), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", "A-1"))["properties"]["responsible_unit"] == "某单位"


def test_a_mapping_column_missing_under_a_title_is_the_only_one_named(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    rep = tmp_path / "r.csv"
    rep.write_text("第45周填报\n任务号,时间,进度%\nA-1,2026-11-01,10%\n", encoding="utf-8")
    mapping = tmp_path / "columns.yaml"
    mapping.write_text("code: 任务号\ndate: 日子\npercent: 进度%\n", encoding="utf-8")
    code, out = run("progress", "import", str(rep), "--mapping", str(mapping), "--store", str(store))
    assert code == 2, out
    assert "no column '日子' (from the mapping)" in out  # not '任务号' and '进度%', found on row 2


# ---------------------------------------------------------------------------- two header rows
TITLE_ZH = "2026年第九届进博会城市保障硬件项目清单"
# A district office's register: a title, then group cells (计划时间, 实际时间, 工程量) merged across
# their columns over the sub-headers, and the single headers merged down over both header rows.
HEADER_ZH = ["序号", "项目编号", "项目名称", "片区", "责任单位", "责任人", "计划时间", None, "实际时间", None,
             "完成进度", "工程量", None]  # fmt: skip
SUBHEADER_ZH = [None] * 6 + ["开始", "完成", "开始", "完成", None, "数量", "单位"]
MERGED_ZH = ["A1:M1", *(f"{c}2:{c}3" for c in "ABCDEFK"), "G2:H2", "I2:J2", "L2:M2"]


def _sheet(path: Path, rows: list[list], merged: Sequence[str] = (), title: str = "项目清单") -> Path:
    """The rows as an .xlsx sheet with those cells merged, or as CSV (no merges: a merged cell is
    its value in its first cell and empty cells after it, as Excel saves it)."""
    if path.suffix == ".csv":
        text = io.StringIO()
        csv.writer(text).writerows([["" if v is None else v for v in r] for r in rows])
        path.write_text(text.getvalue(), encoding="utf-8")
        return path
    book = Workbook()
    ws = book.active
    ws.title = title
    for r in rows:
        ws.append(r)
    for m in merged:
        ws.merge_cells(m)
    book.save(path)
    return path


def _two_row_register(path: Path, register: list[list]) -> Path:
    """season()'s projects under HEADER_ZH / SUBHEADER_ZH: each actually started three days late."""
    rows = [[TITLE_ZH], HEADER_ZH, SUBHEADER_ZH]
    for i, (code, name, _, area, unit, person, start, finish, qty, qunit, _) in enumerate(register):
        late = start + timedelta(days=3) if isinstance(start, date) else None
        rows.append([i + 1, code, name, area, unit, person, start, finish, late, None, "30%", qty, qunit])
    return _sheet(path, rows, MERGED_ZH)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_register_with_two_header_rows_is_read_without_a_mapping(tmp_path: Path, suffix: str) -> None:
    # 计划时间 over 开始 | 完成 is the planned start and finish; 实际时间 over the same sub-headers is
    # not (left out, and named so); 工程量 over 数量 | 单位 is the quantity and its unit. It needed a
    # --mapping file: no single header there names the planned dates.
    register, _ = season(4)
    book = _two_row_register(tmp_path / f"qp{suffix}", register)
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    assert "+4" in out
    flat = " ".join(out.split())
    assert "columns not imported: 序号, 实际时间/开始, 实际时间/完成, 完成进度" in flat, out
    with Twin.open(store) as twin:
        props = [orjson.loads(twin.feature("projects", r[0]))["properties"] for r in register]
    units = {"m2": "m²", "平方米": "m²", "m": "m", "盏": "lamps"}
    assert [(p["planned_start"], p["planned_finish"], p["responsible_unit"], p["quantity"], p["quantity_unit"],
             p["area"]) for p in props] == [
        (r[6].isoformat(), r[7].isoformat(), r[4], float(r[8]), units[r[9]], AREAS[i % len(AREAS)])
        for i, r in enumerate(register)
    ]  # fmt: skip


def test_an_english_register_with_two_header_rows(tmp_path: Path) -> None:
    # Planned over Start | Finish is the planned start and finish, even with Actual over the same
    # sub-headers before it (Start alone would be the planned start: under a group it is the pair
    # that counts); Responsible over Unit | Person; Quantity over Amount | Unit.
    rows = [
        ["Code", "Name", "Area", "Responsible", None, "Actual", None, "Planned dates", None, "Quantity", None],
        [None, None, None, "Unit", "Person", "Start", "Finish", "Start date", "Finish date", "Amount", "Unit"],
        ["EN-1", "Ring road", "roads", "Road Co", "Wang", date(2026, 8, 4), None, date(2026, 8, 1),
         date(2026, 10, 20), 12000, "m2"],
        ["EN-2", "Lamp posts", "roads", "Power Co", "Li", None, None, date(2026, 8, 5), date(2026, 10, 25), 120,
         "lamps"],
    ]  # fmt: skip
    merged = ["D1:E1", "F1:G1", "H1:I1", "J1:K1", "A1:A2", "B1:B2", "C1:C2"]
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(_sheet(tmp_path / "en.xlsx", rows, merged, "register")), "--store",
                    str(store))  # fmt: skip
    assert code == 0, out
    assert "columns not imported: Actual/Start, Actual/Finish" in " ".join(out.split()), out
    with Twin.open(store) as twin:
        got = [orjson.loads(twin.feature("projects", c))["properties"] for c in ("EN-1", "EN-2")]
    assert [(p["planned_start"], p["planned_finish"], p["responsible_unit"], p["responsible_person"],
             p["quantity"], p["quantity_unit"]) for p in got] == [
        ("2026-08-01", "2026-10-20", "Road Co", "Wang", 12000.0, "m²"),
        ("2026-08-05", "2026-10-25", "Power Co", "Li", 120.0, "lamps"),
    ]  # fmt: skip


def test_a_report_sheet_with_two_header_rows(imported, tmp_path: Path) -> None:
    # The single headers are not merged down: under them the second header row is empty, so
    # neither header row alone names the code, the date and the percent.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = [
        ["2026年进博会硬件项目进度填报表（第45周）"],
        ["项目编号", "项目名称", "本期填报", None, None, "备注"],
        [None, None, "填报日期", "完成比例", "填报人", None],
        [register[0][0], register[0][1], date(2026, 11, 1), "100%", "王五", "完工"],
        [register[1][0], register[1][1], date(2026, 11, 1), 140, "王五", None],
    ]
    book = _sheet(tmp_path / "week45.xlsx", rows, ["A1:F1", "C2:E2"], "进度填报")
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out  # the rows are numbered as the sheet shows them, below both header rows
    assert "row 5: 本期填报/完成比例 140 is beyond 100%" in out and "row 4" not in out, out
    wb = load_workbook(book)
    wb["进度填报"]["D5"] = 99
    wb.save(book)
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        props = [orjson.loads(twin.feature("projects", r[0]))["properties"] for r in register[:2]]
    assert [(p["percent_complete"], p["progress_reporter"], p.get("progress_note")) for p in props] == [
        (100.0, "王五", "完工"),
        (99.0, "王五", None),
    ]


def test_a_bad_cell_under_two_header_rows_is_named_by_its_spreadsheet_row(tmp_path: Path) -> None:
    register, _ = season(3)
    register[0][6] = "2026-13-01"  # the first data row, row 4 under the title and two header rows
    register[1][9] = "furlongs"
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(_two_row_register(tmp_path / "bad.xlsx", register)), "--store",
                    str(store))  # fmt: skip
    assert code == 2, out
    assert "row 4: 计划时间/开始: '2026-13-01' is not a date" in out, out
    assert "row 5" in out and "furlongs" in out, out
    assert "row 3" not in out and "row 6" not in out, out
    with Twin.open(store) as twin:
        assert twin.head() is None


def test_sub_headers_that_could_each_be_a_field_are_named_with_the_mapping_to_write(tmp_path: Path) -> None:
    # Schedule is no known group: Start under it and under Actual could each be the planned start.
    # Neither is taken; the error names both columns and how a mapping names one.
    rows = [
        ["Code", "Name", "Area", "Unit", "Schedule", None, "Actual", None, "Quantity", "Unit of quantity"],
        [None, None, None, None, "Start", "Finish", "Start", "Finish", None, None],
        ["EN-1", "Ring road", "roads", "Road Co", date(2026, 8, 1), date(2026, 10, 20), date(2026, 8, 4), None, 1, "m"],
    ]
    book = _sheet(tmp_path / "s.xlsx", rows, ["E1:F1", "G1:H1", "I1:I2", "J1:J2"], "register")
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 2, out
    flat = " ".join(out.split())
    assert "no column for planned_start ('Schedule/Start' and 'Actual/Start' could each be it)" in flat, out
    assert "planned_finish ('Schedule/Finish' and 'Actual/Finish' could each be it)" in flat, out
    assert "--mapping file names the column of a field (field: header; under a group, field: group/sub-header)" in flat
    mapping = tmp_path / "columns.yaml"
    mapping.write_text("planned_start: Schedule/Start\nplanned_finish: Schedule / Finish\n", encoding="utf-8")
    code, out = run("projects", "import", str(book), "--mapping", str(mapping), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "EN-1"))["properties"]
    assert (p["planned_start"], p["planned_finish"]) == ("2026-08-01", "2026-10-20")


def test_a_single_header_row_reads_as_before(tmp_path: Path) -> None:
    # Under a title and with a header merged across two columns (a wider cell, no sub-headers):
    # the first row under the header is data, numbered as the sheet shows it.
    rows = [
        ["第45周填报"],
        ["项目编号", "日期", "完成百分比", "备注", None, "填报人"],
        ["RD-01", date(2026, 11, 1), 40, "路基", "见附件", "王五"],
        ["RD-02", "2026-11-02", "45%", None, None, None],
    ]
    sheet = read_sheet(_sheet(tmp_path / "r.xlsx", rows, ["A1:F1", "D2:E2"], "进度"), "reports")
    assert sheet.ignored == []
    assert [(r.number, r.values) for r in sheet.rows] == [
        (3, {"code": "RD-01", "date": datetime(2026, 11, 1), "percent": 40, "note": "路基", "reporter": "王五"}),
        (4, {"code": "RD-02", "date": "2026-11-02", "percent": "45%", "note": None, "reporter": None}),
    ]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_second_row_of_text_under_merged_headers_is_data(imported, tmp_path: Path, suffix: str) -> None:
    # Headers merged across two columns each (a wider cell) and a first row of text only, under
    # them: a project's new name, a valid update of a known project. It is no sub-header row (its
    # code is no header, and its text names nothing), so it is imported, not taken for headers.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = [
        ["项目编号", None, "项目名称", None, "计划开始", "计划完成", "责任单位"],
        [register[0][0], None, "南广场花坛（调整）", "改名", None, None, None],
        [register[1][0], None, None, None, register[1][6], register[1][7] + timedelta(days=5), register[1][4]],
    ]
    book = _sheet(tmp_path / f"rename{suffix}", rows, ["A1:B1", "C1:D1"])
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        first, second = (orjson.loads(twin.feature("projects", r[0]))["properties"] for r in register[:2])
    assert first["name_zh"] == "南广场花坛（调整）" and first["planned_start"] == register[0][6].isoformat()
    assert second["planned_finish"] == (register[1][7] + timedelta(days=5)).isoformat()


def test_export_register_and_status_to_excel_and_csv(imported, tmp_path: Path) -> None:
    store = imported[0]
    xlsx = tmp_path / "status.xlsx"
    code, out = run("projects", "export", str(xlsx), "--status", "--date", "T-30", "--store", str(store))
    assert code == 0, out
    ws = load_workbook(xlsx, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "code" and len(rows) == 81
    statuses = {r[0]: r[rows[0].index("percent")] for r in rows[1:]}
    with Twin.open(store) as twin:
        snap = Completion(twin).at(T30)
        assert statuses == {s.project.code: s.percent for s in snap.statuses}
    # Its dates are Excel dates, as the register's export writes them (they were text, '2026-08-02').
    first = dict(zip(rows[0], rows[1], strict=False))  # a read-only row ends at its last value
    for column in ("planned_start", "planned_finish", "date", "forecast_finish", "last_report_date"):
        assert isinstance(first[column], datetime), (column, first[column])
    assert first["date"] == datetime(2026, 10, 6)
    # As CSV the dates stay ISO text, after the byte-order mark Excel needs.
    status_csv = tmp_path / "status.csv"
    assert run("projects", "export", str(status_csv), "--status", "--date", "T-30", "--store", str(store))[0] == 0
    data = status_csv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    first_csv = next(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert first_csv["date"] == "2026-10-06" and first_csv["planned_start"] == first["planned_start"].date().isoformat()
    # The register as CSV with a BOM (Excel reads the Chinese text) imports again unchanged.
    reg = tmp_path / "register.csv"
    assert run("projects", "export", str(reg), "--store", str(store))[0] == 0
    data = reg.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "项目1".encode() in data
    copy = empty_twin(tmp_path / "copy.gpkg")
    code, out = run("projects", "import", str(reg), "--store", str(copy))
    assert code == 0, out
    with Twin.open(store) as a, Twin.open(copy) as b:
        fields = set(REGISTER_HEADERS) - {"curve"}  # the export spells out the default curve
        for code in ("XM-001", "XM-042"):
            pa = orjson.loads(a.feature("projects", code))["properties"]
            pb = orjson.loads(b.feature("projects", code))["properties"]
            assert {k: v for k, v in pa.items() if k in fields} == {k: v for k, v in pb.items() if k in fields}
            assert "percent_complete" in pa and "percent_complete" not in pb  # progress comes from reports


def test_the_exported_register_imports_again_as_no_change_and_an_edit_as_one(imported, tmp_path: Path) -> None:
    # The export writes every project's curve (linear when its record has none): read back, that
    # is the curve it already has, not a change to all 80 projects.
    store = _copy_of(imported[0], tmp_path)
    reg = tmp_path / "register.xlsx"
    assert run("projects", "export", str(reg), "--store", str(store))[0] == 0
    with Twin.open(store) as twin:
        before = twin.head()
        assert "curve" not in orjson.loads(twin.feature("projects", "XM-001"))["properties"]
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 0 and "nothing to commit" in out and "80 projects" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == before
    book = load_workbook(reg)
    ws = book.active
    col = [c.value for c in ws[1]].index("planned_finish") + 1
    ws.cell(2, col).value = "2026-11-01"
    book.save(reg)
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 0 and "projects +0 ~1 " in out, out
    with Twin.open(store) as twin:
        props = orjson.loads(twin.feature("projects", ws.cell(2, 1).value))["properties"]
        assert props["planned_finish"] == "2026-11-01" and "curve" not in props


def test_change_file_time_is_used_only_when_asked(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "r.csv"
    reg.write_text(
        "code,name,area,unit,planned start,planned finish,quantity,unit of quantity\n"
        "B-1,b,halls,U,2026-08-01,2026-09-01,1,items\n",
        "utf-8",
    )
    assert run("projects", "import", str(reg), "--time", "2026-08-01T00:00:00+08:00", "--store", str(store))[0] == 0

    def change(time: str, pct: float) -> Path:
        doc = {"type": "FeatureCollection", "twin:commit": {"author": "a", "message": "m", "time": time},
               "features": [{"type": "Feature", "id": "B-1", "twin:layer": "projects", "twin:op": "modify",
                             "geometry": None, "properties": {"percent_complete": pct, "progress_date": time[:10]}}]}  # fmt: skip
        p = tmp_path / f"c{pct}.geojson"
        p.write_bytes(orjson.dumps(doc))
        return p

    def merged(pct: float, time: str, **more: str) -> Path:
        with Twin.open(store) as twin:
            props = orjson.loads(twin.feature("projects", "B-1"))["properties"]
        p = change(time, pct)
        doc = orjson.loads(p.read_bytes())
        doc["features"][0]["properties"] = {**props, "percent_complete": pct, "progress_date": time[:10], **more}
        p.write_bytes(orjson.dumps(doc))
        return p

    code, out = run("commit", str(merged(10, "2026-08-10T18:00:00+08:00")), "--original-dates", "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert twin.head().time.isoformat().startswith("2026-08-10T10:00:00")
    # Before the head: refused, nothing written (a change of person, so no report rule answers first).
    with Twin.open(store) as twin:
        head = twin.head()
    stale = merged(10, "2026-08-05T18:00:00+08:00", responsible_person="Zhao")
    doc = orjson.loads(stale.read_bytes())
    doc["features"][0]["properties"]["progress_date"] = "2026-08-10"
    stale.write_bytes(orjson.dumps(doc))
    code, out = run("commit", str(stale), "--original-dates", "--store", str(store))
    assert code == 2 and "before the head" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == head
    # Without the flag the commit is recorded now, and the command says the file's time was not used.
    code, out = run("commit", str(merged(20, "2026-08-20T18:00:00+08:00")), "--store", str(store))
    assert code == 0 and "not at the file's twin:commit.time" in out


def test_register_rows_naming_missing_features_are_refused(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    reg = tmp_path / "r.csv"
    reg.write_text(
        "项目编号,项目名称,片区,责任单位,计划开始,计划完成,工程量,单位,关联要素\n"
        "H-1,一号,展馆,甲,2026-08-01,2026-09-01,1,项,\n"
        "H-2,二号,展馆,甲,2026-08-01,2026-09-01,1,项,halls/hall-9.9H\n"
        "H-3,三号,展馆,甲,2026-08-01,2026-09-01,1,项,nowhere\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(reg), "--store", str(store))
    assert code == 2
    assert "row 3: feature reference halls/hall-9.9H: no such feature" in out
    assert "row 4: feature reference 'nowhere' is not layer/feature_id" in out and "row 2" not in out


def test_csv_redirected_to_a_file_has_a_bom_and_a_pipe_has_none(imported, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    store = imported[0]
    cmd = [sys.executable, "-m", "cli.main", "completion", "late", "--date", "T-30", "--csv", "--store", str(store)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = tmp_path / "late.csv"
    with out.open("wb") as f:
        assert subprocess.run(cmd, stdout=f, env=env).returncode == 0
    piped = subprocess.run(cmd, capture_output=True, env=env).stdout
    assert out.read_bytes() == b"\xef\xbb\xbf" + piped and piped.startswith(b"code,")


def test_a_closed_pipe_keeps_the_exit_code_of_the_error_and_is_never_1(imported, tmp_path: Path) -> None:
    """`venue-twin progress import bad.xlsx 2>&1 | head -1` exited 1 (documented as "the twin is
    corrupt"): rich and click turn a broken pipe into 1. A refused file is still 2; output cut
    off otherwise is 141 (128 + SIGPIPE, as a shell reports a program the broken pipe killed)."""
    import os
    import subprocess
    import sys

    store = _copy_of(imported[0], tmp_path)
    register, reports = season(3)
    reports[0][2] = "七十"
    bad = workbook(tmp_path / "bad.xlsx", register, reports)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "VENUE_TWIN_AUTHOR": "t"}

    def into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
        read, write = os.pipe()
        os.close(read)  # the reader has gone before the first line is written: every write fails
        try:
            return subprocess.run([sys.executable, "-m", "cli.main", *args], stdout=write, stderr=write, env=env,
                                  timeout=120)  # fmt: skip
        finally:
            os.close(write)

    done = into_closed_pipe("progress", "import", str(bad), "--store", str(store))
    assert done.returncode == 2
    for args in (("completion", "late", "--csv"), ("completion", "units")):
        done = into_closed_pipe(*args, "--date", "T-30", "--store", str(store))
        assert done.returncode == 141, args
    # With a reader, the codes are as before.
    done = subprocess.run([sys.executable, "-m", "cli.main", "progress", "import", str(bad), "--store", str(store)],
                          capture_output=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2 and b"is not a number" in done.stderr, done.stderr


def _messy_register(path: Path, rows: list[list], *, hidden_first: bool = False, header_unit: bool = False) -> Path:
    """A register as offices make it: a title merged over the header, 序号 first, the data sheet
    named for the year (not 项目清单), optionally behind a hidden sheet of instructions, and the
    unit of quantity in the quantity column's header (工程量（㎡）) instead of a column."""
    book = Workbook()
    ws = book.active
    if hidden_first:
        ws.title = "填表说明"
        ws["A1"] = "请勿修改表头"
        ws.sheet_state = "hidden"
        ws = book.create_sheet("2026年硬件项目")
    else:
        ws.title = "2026年硬件项目"
    ws.append(["第九届进博会城市保障硬件项目推进计划表"])
    ws.merge_cells("A1:I1")
    unit_headers = ["工程量（㎡）"] if header_unit else ["工程量", "单位"]
    ws.append(
        [
            "序号",
            "项目编号 ",
            "项目名称",
            "片区",
            "责任单位",
            "责任人",
            "计划开始\n日期",
            "计划完成（日期）",
            *unit_headers,
        ]
    )
    for r in rows:
        ws.append(r)
    book.save(path)
    return path


def _messy_rows(
    units: Sequence[str] = ("青浦区建设管理委员会", "青浦区建设管理委员会"), qty_unit: bool = True
) -> list[list]:
    tail = ["㎡"] if qty_unit else []
    return [
        [1, "RD-01", "诸光路整治", "道路", units[0], "王强", "2026/08/10", "2026.10.6", 3000, *tail],
        [2, "RD-02", "崧泽大道", "道路", units[1], "王强", "2026年8月15日", "2026年10月25日", "2,000", *tail],
    ]


def test_the_only_visible_sheet_is_read_beside_hidden_ones(tmp_path: Path) -> None:
    # A hidden sheet of instructions before the data made "which sheet?" of a workbook with one
    # sheet anyone can see; two visible sheets still ask, naming the hidden one as such.
    store = empty_twin(tmp_path / "t.gpkg")
    book = _messy_register(tmp_path / "r.xlsx", _messy_rows(), hidden_first=True)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    assert "from sheet '2026年硬件项目'" in out
    wb = load_workbook(book)
    wb.copy_worksheet(wb["2026年硬件项目"]).title = "草稿"  # a second sheet with the register's header
    wb.save(book)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 2 and "which sheet? it has 填表说明 (hidden), 2026年硬件项目, 草稿" in out, out


def test_the_unit_of_quantity_in_the_quantity_header_is_the_rows_unit(tmp_path: Path) -> None:
    # 工程量（㎡） with no 单位 column: every new row was refused as a quantity without its unit.
    store = empty_twin(tmp_path / "t.gpkg")
    book = _messy_register(tmp_path / "r.xlsx", _messy_rows(qty_unit=False), header_unit=True)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        props = [orjson.loads(twin.feature("projects", c))["properties"] for c in ("RD-01", "RD-02")]
    assert [(p["quantity"], p["quantity_unit"]) for p in props] == [(3000, "m²"), (2000, "m²")]
    assert [(p["planned_start"], p["planned_finish"]) for p in props] == [
        ("2026-08-10", "2026-10-06"),
        ("2026-08-15", "2026-10-25"),
    ]
    # A bracket that is no unit (工程量（暂估）) gives none: the row is still refused.
    wb = load_workbook(book)
    wb["2026年硬件项目"]["I2"] = "工程量（暂估）"
    wb.save(book)
    code, out = run("projects", "import", str(book), "--store", str(empty_twin(tmp_path / "t2.gpkg")))
    assert code == 2 and "row 3: 工程量（暂估） 3000 has no unit of quantity" in out, out


@pytest.mark.parametrize(
    ("units", "row", "written"),
    [
        (("青浦区 建设管理委员会", "青浦区建设管理委员会"), 4, "青浦区 建设管理委员会"),
        (("国家会展中心（上海）有限责任公司", "国家会展中心(上海)有限责任公司"), 4, "国家会展中心（上海）有限责任公司"),
    ],
)
def test_a_unit_spelt_two_ways_is_refused_not_counted_as_two(
    tmp_path: Path, units: tuple[str, str], row: int, written: str
) -> None:
    # Two spellings of one unit (a space, full-width brackets) were stored as given: the units
    # table and the roll-up by unit showed two units, each with half its projects.
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run(
        "projects", "import", str(_messy_register(tmp_path / "r.xlsx", _messy_rows(units))), "--store", str(store)
    )
    assert code == 2, out
    assert f"row {row}: 责任单位 {units[1]!r} is written {written!r} on row 3" in out
    with Twin.open(store) as twin:
        assert twin.head() is None
    # Against the register: a new project's unit spelt otherwise than the register's is refused too.
    code, out = run(
        "projects",
        "import",
        str(_messy_register(tmp_path / "r.xlsx", _messy_rows((units[0],) * 2))),
        "--store",
        str(store),
    )
    assert code == 0, out
    rows = [[3, "RD-03", "新项目", "道路", units[1], "王 强", "2026-08-10", "2026-10-06", 10, "米"]]
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r2.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert f"row 3: 责任单位 {units[1]!r} is written {written!r} on project RD-01 in the register" in out
    assert "row 3: 责任人 '王 强' is written '王强' on project RD-01 in the register" in out


def test_a_totals_row_and_a_row_of_formulas_are_no_projects(tmp_path: Path) -> None:
    # 合计 under the register (its quantity a SUM) and a prepared row of formulas with no code were
    # refused as rows missing every field (nine reasons for 合计 alone); they are left out, and said so.
    store = empty_twin(tmp_path / "t.gpkg")
    rows = [*_messy_rows(), [None] * 10, ["合计", None, None, None, None, None, None, None, "=SUM(I3:I4)"],
            [None, None, None, None, None, None, None, None, "=I6*2"]]  # fmt: skip
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 0, out
    assert "rows not imported (no project's): row 6: a totals row (合计); row 7: formulas only, no project code" in out
    with Twin.open(store) as twin:
        assert twin.features("projects").number_matched == 2
    # A row with figures and no code is still refused, and only for that.
    rows = [
        *_messy_rows(),
        [3, None, "无编号项目", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 5, "米"],
    ]
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r2.xlsx", rows)), "--store", str(store))
    assert code == 2 and "row 5: no project code" in out and "row 5: required" not in out, out


def test_a_totals_row_under_reports_is_left_out(imported, tmp_path: Path) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = [[register[0][0], date(2026, 11, 1), 100, None, None, "联络员"], ["合计", None, "98%"]]
    code, out = run("progress", "import", str(_report_book(tmp_path / "p.xlsx", rows)), "--store", str(store))
    assert code == 0, out
    assert "row 3: a totals row (合计)" in out and "committed 1 commits (1 reports" in out


def test_a_refused_cell_is_named_by_its_column_as_the_sheet_shows_it(imported, tmp_path: Path) -> None:
    # The reasons named the register's field (planned_finish), not the column a coordinator sees
    # (H, 计划完成（日期）, a header with a line break, under a title).
    store = empty_twin(tmp_path / "t.gpkg")
    rows = _messy_rows()
    rows[0][7] = "10月6日"
    rows[1][4] = "青浦区 建设管理委员会"
    rows.append([3, None, "无编号", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 5, "米"])
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert "row 3: 计划完成（日期）: '10月6日' has no year: write 2026-10-06 [column H: 计划完成（日期）]" in out
    assert "is written '青浦区建设管理委员会' on row 3: one name spelt two ways" in out
    assert "counted as two; write it one way [column E: 责任单位]" in out
    assert "row 5: no project code [column B: 项目编号]" in out
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = [[register[0][0], "11月1日", 100], [register[1][0], date(2026, 11, 1), "140%"], [None, date(2026, 11, 1), 5]]
    code, out = run("progress", "import", str(_report_book(tmp_path / "p.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert "row 2: 日期: '11月1日' has no year: write 2026-11-01 [column B: 日期]" in out
    assert "row 3: 完成百分比 140 is beyond 100% [column C: 完成百分比]" in out
    assert "row 4: no project code [column A: 项目编号]" in out


def test_every_refused_cell_is_named_by_its_column(imported, tmp_path: Path) -> None:
    # The column was found by reading the reason's first word back as a field: a value not
    # allowed ("area='北广场' is not one of ..."), a finish before the start ("planned finish ..."),
    # a missing feature ("feature reference ...") and a date before the twin's last commit
    # ("dated ...") named none.
    store = empty_twin(tmp_path / "t.gpkg")
    rows = _messy_rows()
    rows[0][3] = "北广场"
    rows[1][9] = "吨"
    rows.append([3, "RD-03", "外青松公路", "道路", "青浦区建设管理委员会", "王强", "2026-09-10", "2026-08-01", 5, "米"])
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert "row 3: 片区='北广场' is not one of: " in out and "[column D: 片区]" in out, out
    assert "row 4: 单位='吨' is not one of: " in out and "[column J: 单位]" in out, out
    assert "row 5: 计划完成（日期） 2026-08-01 is before 计划开始 日期 2026-09-10 [column H: 计划完成（日期）]" in out
    sheet = tmp_path / "r.csv"
    sheet.write_text(
        "code,name_zh,area,responsible_unit,planned_start,planned_finish,quantity,quantity_unit,features\n"
        "RD-01,诸光路整治,roads,青浦区建设管理委员会,2026-08-10,2026-10-06,3000,m,roads/no-such-road\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(sheet), "--store", str(store))
    assert code == 2, out
    assert "row 2: feature reference roads/no-such-road: no such feature [column I: features]" in out, out
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    book = _report_book(tmp_path / "p.xlsx", [[register[0][0], date(2026, 10, 2), 99]])
    code, out = run("progress", "import", str(book), "--original-dates", "--store", str(store))
    assert code == 2, out
    assert "row 2: dated 2026-10-02, it would be recorded before the twin's last commit" in out, out
    assert "original dates only extend history [column B: 日期]" in out, out


@pytest.mark.parametrize("typed", ["ＲＤ－０１", "rd-01", "RD- 01"])
def test_a_new_code_like_a_known_one_is_refused_not_a_second_project(tmp_path: Path, typed: str) -> None:
    # Typed with the input method in full-width mode, in lower case or with a space, a known
    # project's code became a new project beside it (codes are compared exactly): two RD-01s in
    # the register, the figures counting both.
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run(
        "projects", "import", str(_messy_register(tmp_path / "r.xlsx", _messy_rows())), "--store", str(store)
    )
    assert code == 0, out
    rows = [[1, typed, "诸光路整治", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-08", 3000, "㎡"]]
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r2.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert f"row 3: project code {typed!r} differs from 'RD-01' in the register only in case, full-width" in out
    with Twin.open(store) as twin:
        assert twin.features("projects").number_matched == 2
    # Reports naming it so are refused with the code to write.
    csv_file = tmp_path / "p.csv"
    csv_file.write_text(f"项目编号,日期,完成百分比\n{typed},2026-09-01,10\n", encoding="utf-8-sig")
    code, out = run("progress", "import", str(csv_file), "--store", str(store), "--author", "王强")
    assert code == 2 and f"no project {typed!r} in the register; did you mean 'RD-01'?" in out, out


def test_new_codes_alike_in_one_sheet_or_in_full_width_are_refused(tmp_path: Path) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    rows = _messy_rows()
    rows[1][1] = "rd-01"
    rows.append([3, "ＬＳ－０１", "绿化", "绿化", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 5, "盆"])
    code, out = run("projects", "import", str(_messy_register(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    assert "row 4: project code 'rd-01' differs from 'RD-01' on row 3 only in case" in out
    assert "row 5: project code 'ＬＳ－０１' holds full-width characters: write 'LS-01'" in out


@pytest.mark.parametrize(("encoding", "sep"), [("gb18030", ","), ("utf-8-sig", ","), ("utf-16", "\t")])
def test_report_csv_as_excel_saves_it_in_china(imported, tmp_path: Path, encoding: str, sep: str) -> None:
    # CSV (GBK, the default of Excel in China), CSV UTF-8 (with a BOM), and Unicode Text (UTF-16
    # with a BOM, tab-separated: it was refused as neither UTF-8 nor GB18030); 45％ and ４５ typed
    # with the input method in full-width mode are 45.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    lines = [["2026年第45周进度"], ["项目编号", "日期", "完成百分比", "填报人"],
             [register[0][0], "2026/11/1", "100％", "黄丽"], [register[1][0], "2026年11月1日", "１００", "黄丽"]]  # fmt: skip
    path = tmp_path / "week.csv"
    path.write_bytes("\r\n".join(sep.join(r) for r in lines).encode(encoding) + b"")
    code, out = run("progress", "import", str(path), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        for r in register[:2]:
            props = orjson.loads(twin.feature("projects", r[0]))["properties"]
            assert (props["percent_complete"], props["progress_date"], props["progress_reporter"]) == (
                100,
                "2026-11-01",
                "黄丽",
            )


def test_a_weight_formatted_as_a_percent_is_its_fraction_and_a_quantity_in_percent_is_refused(tmp_path: Path) -> None:
    # A weight cell formatted as a percent (Excel holds 0.2, shows 20%) was read as 20 beside a
    # plain 0.3: 66 times the weight. A quantity of '50%' was 50 of its unit.
    store = empty_twin(tmp_path / "t.gpkg")
    header = ["项目编号", "项目名称", "片区", "责任单位", "责任人", "计划开始", "计划完成", "工程量", "单位", "权重"]
    rows = [["LS-01", "花1", "绿化", "青浦区绿化和市容管理局", "黄丽", "2026-08-01", "2026-10-20", "50%", "盆", 0.2],
            ["LS-02", "花2", "绿化", "青浦区绿化和市容管理局", "黄丽", "2026-08-01", "2026-10-20", 100, "盆", 0.3],
            ["LS-03", "花3", "绿化", "青浦区绿化和市容管理局", "黄丽", "2026-08-01", "2026-10-20", 100, "盆", "50％"]]  # fmt: skip
    book = _sheet(tmp_path / "r.xlsx", [header, *rows])
    wb = load_workbook(book)
    wb["项目清单"]["J2"].number_format = "0%"
    wb.save(book)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 2 and "row 2: 工程量 '50%' is a percent, not a quantity of its unit" in out, out
    wb["项目清单"]["H2"] = 50
    wb.save(book)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        weights = [
            orjson.loads(twin.feature("projects", c))["properties"]["weight"] for c in ("LS-01", "LS-02", "LS-03")
        ]
    assert weights == [0.2, 0.3, 0.5]


def test_a_percent_header_ending_in_a_percent_sign(imported, tmp_path: Path) -> None:
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    path = tmp_path / "p.csv"
    path.write_text(f"项目编号,日期,完成率%,填报人\n{register[0][0]},2026-11-01,100,黄丽\n", encoding="utf-8-sig")
    code, out = run("progress", "import", str(path), "--store", str(store))
    assert code == 0, out


def test_dates_and_figures_typed_in_full_width_are_read(imported, tmp_path: Path) -> None:
    # Full-width digits were read (Python's digits) but a full-width separator or decimal point was
    # not: ２０２６－１１－０１ 'is not a date', ９９．５％ 'is not a number'.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    rows = [[register[0][0], "２０２６－１１－０１", "９９．５％", None, None, "黄丽"],
            [register[1][0], "２０２６／１１／０１", "１００", None, None, "黄丽"]]  # fmt: skip
    code, out = run("progress", "import", str(_report_book(tmp_path / "p.xlsx", rows)), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        got = [orjson.loads(twin.feature("projects", r[0]))["properties"] for r in register[:2]]
    assert [(p["percent_complete"], p["progress_date"]) for p in got] == [(99.5, "2026-11-01"), (100, "2026-11-01")]


def test_rows_hidden_in_excel_are_read_and_named(tmp_path: Path) -> None:
    # A project hidden in the sheet (set aside, or filtered out) was imported without a word: what
    # the coordinator saw was not what was imported. It is still data (Excel's own CSV keeps it),
    # so it is read, and the command names it.
    store = empty_twin(tmp_path / "t.gpkg")
    rows = _messy_rows()
    rows.append([3, "RD-03", "旧项目", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 5, "米"])
    book = _messy_register(tmp_path / "r.xlsx", rows)
    wb = load_workbook(book)
    wb["2026年硬件项目"].row_dimensions[5].hidden = True
    wb.save(book)
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 0, out
    assert "row 5 is hidden in sheet '2026年硬件项目' (hidden or filtered out in Excel) and read like" in out
    with Twin.open(store) as twin:
        assert twin.features("projects").number_matched == 3


def test_two_columns_for_one_field_are_refused_not_the_first_taken(tmp_path: Path) -> None:
    # 计划完成 (hidden, the old deadline) and 计划完成（调整后） (the moved one): the first was read, the
    # other left out with a note, and the moved deadline said 'nothing to commit'.
    store = empty_twin(tmp_path / "t.gpkg")
    header = [
        "项目编号",
        "项目名称",
        "片区",
        "责任单位",
        "责任人",
        "计划开始",
        "计划完成",
        "工程量",
        "单位",
        "计划完成（调整后）",
    ]
    row = [
        "SP-01",
        "花坛",
        "南广场",
        "青浦区绿化和市容管理局",
        "黄丽",
        "2026-08-01",
        "2026-10-20",
        1200,
        "㎡",
        "2026-10-28",
    ]
    book = _sheet(tmp_path / "r.xlsx", [header, row])
    code, out = run("projects", "import", str(book), "--store", str(store))
    assert code == 2, out
    assert "two columns for one field, planned_finish: '计划完成' (column G) and '计划完成（调整后）' (column J)" in out
    assert "--mapping (planned_finish: 计划完成（调整后）)" in out
    with Twin.open(store) as twin:
        assert twin.head() is None
    (tmp_path / "m.yaml").write_text("planned_finish: 计划完成（调整后）\n", encoding="utf-8")
    code, out = run("projects", "import", str(book), "--mapping", str(tmp_path / "m.yaml"), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", "SP-01"))["properties"]["planned_finish"] == "2026-10-28"


def test_a_numeric_code_without_its_leading_zeros_is_refused(tmp_path: Path) -> None:
    # 001 opened from a CSV in Excel (or typed in a General cell) is the number 1: it became a
    # project '1' beside '001'.
    store = empty_twin(tmp_path / "t.gpkg")
    header = ["项目编号", "项目名称", "片区", "责任单位", "责任人", "计划开始", "计划完成", "工程量", "单位"]
    row = ["001", "花坛", "南广场", "青浦区绿化和市容管理局", "黄丽", "2026-08-01", "2026-10-20", 1200, "㎡"]
    code, out = run("projects", "import", str(_sheet(tmp_path / "r.xlsx", [header, row])), "--store", str(store))
    assert code == 0, out
    row2 = [1, "花坛", "南广场", "青浦区绿化和市容管理局", "黄丽", "2026-08-01", "2026-10-25", 1200, "㎡"]
    code, out = run("projects", "import", str(_sheet(tmp_path / "r2.xlsx", [header, row2])), "--store", str(store))
    assert code == 2 and "row 2: project code '1' differs from '001' in the register only in leading zeros" in out, out
    path = tmp_path / "p.csv"
    path.write_text("项目编号,日期,完成百分比,填报人\n1,2026-09-01,10,黄丽\n", encoding="utf-8")
    code, out = run("progress", "import", str(path), "--store", str(store))
    assert code == 2 and "no project '1' in the register; did you mean '001'?" in out, out


def test_the_sample_workbook_imports_as_a_season_under_way(tmp_path: Path) -> None:
    """`projects sample` gives a new user a workbook the README's steps import as it stands: a season
    of the venue's units with late projects, read as it stood on T-30; the same seed the same season."""
    book, again, blank = tmp_path / "season.xlsx", tmp_path / "again.xlsx", tmp_path / "blank.xlsx"
    for path, extra in ((book, []), (again, []), (blank, ["--blank"])):
        code, out = run("projects", "sample", str(path), *extra)
        assert code == 0 and str(path) in out, out

    def values(path: Path) -> list[list[list]]:
        wb = load_workbook(path, read_only=True)
        return [[list(r) for r in wb[name].iter_rows(values_only=True)] for name in ("项目清单", "进度填报")]

    season = values(book)
    assert season == values(again)
    assert [len(s) for s in values(blank)] == [1, 1] and values(blank)[0][0] == season[0][0]
    assert len(season[0]) == 81 and len(season[1]) > 200

    store = empty_twin(tmp_path / "twin.gpkg")
    for what in ("projects", "progress"):
        code, out = run(what, "import", str(book), "--original-dates", "--store", str(store), "--author", "office")
        assert code == 0, out
    code, out = run("completion", "--date", "T-30", "--csv", "--store", str(store))
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    overall = [row for row in rows if row["by"] == "overall"][0]
    assert int(overall["projects"]) == 80 and 0 < float(overall["actual_percent"]) < 100
    with Twin.open(store) as twin:
        snap = Completion(twin).at(T30)
        assert any(s.status in ("behind", "at_risk") for s in snap.statuses)
        assert {s.project.responsible_unit for s in snap.statuses} <= {u for u, _ in venue_units()}
        # an English name of its own for each project (English pages read "绿化景观46号" without one)
        names = {s.project.code: (s.project.name_zh, s.project.name_en) for s in snap.statuses}
        assert all(zh != en and not re.search(r"[\u3400-\u9fff]", en) for zh, en in names.values()), names
        assert len({en for _, en in names.values()}) == len(names)


def test_the_sample_is_a_workbook() -> None:
    code, out = run("projects", "sample", "season.csv")
    assert code == 2 and ".xlsx" in out, out


def test_completion_of_a_twin_without_projects_says_so(tmp_path: Path) -> None:
    """A new user's first `completion` on an empty twin is told to import a register, not shown a
    season of zeros."""
    store = empty_twin(tmp_path / "twin.gpkg")
    code, out = run("completion", "--date", "T-30", "--store", str(store))
    assert code == 0 and "no project is registered" in out and "projects import" in out, out


def test_features_written_as_a_json_list_are_read_as_their_references(tmp_path: Path) -> None:
    # `venue-twin export projects -o p.csv` (the layer's export, not `projects export`) writes a
    # project's features as a JSON list; read back by `projects import`, '["halls/hall-GC"' was
    # taken for a reference naming a layer '["halls'.
    store = empty_twin(tmp_path / "t.gpkg")
    sheet = tmp_path / "r.csv"
    sheet.write_text(
        "code,name_zh,area,responsible_unit,planned_start,planned_finish,quantity,quantity_unit,features\n"
        'RD-01,诸光路整治,roads,青浦区建设管理委员会,2026-08-10,2026-10-06,3000,m,"[""roads/no-such-road"", '
        '""roads/other-road""]"\n',
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(sheet), "--store", str(store))
    assert code == 2, out
    assert "row 2: feature reference roads/no-such-road: no such feature [column I: features]" in out, out
    assert "row 2: feature reference roads/other-road: no such feature [column I: features]" in out, out
    assert '["' not in out and '"]' not in out, out


TWO_ROW_SINGLES = ["项目编号", "项目名称", "类别", "片区", "责任单位", "责任人", "计划时间", None, "工程量", "单位"]


def _two_row_with(path: Path, replace: dict[str, str | None]) -> Path:
    """A register whose header takes two rows (计划时间 over 开始 | 完成, every other header merged
    down over both) with some single headers written otherwise (None: the column left out)."""
    header = [replace.get(h, h) if h is not None else None for h in TWO_ROW_SINGLES]
    row = ["SP-01", "南广场花坛", "绿化景观", "南广场", "上海市绿化和市容管理局", "刘洋", "2026-09-01", "2026-10-31",
           1200, "㎡"]  # fmt: skip
    keep = [i for i, h in enumerate(TWO_ROW_SINGLES) if h is None or replace.get(h, h) is not None]
    header, row = [header[i] for i in keep], [row[i] for i in keep]
    sub = [None] * len(header)
    g = header.index("计划时间")
    sub[g], sub[g + 1] = "开始", "完成"
    from openpyxl.utils.cell import get_column_letter

    merged = [f"{get_column_letter(g + 1)}1:{get_column_letter(g + 2)}1"]
    merged += [f"{c}1:{c}2" for i, h in enumerate(header) if h is not None and i != g
               for c in (get_column_letter(i + 1),)]  # fmt: skip
    return _sheet(path, [header, sub, row], merged)


@pytest.mark.parametrize(
    ("replace", "field", "value"),
    [
        ({"工程量": "工程量（㎡）", "单位": None}, "quantity", (1200.0, "m²")),  # the unit from the header
        ({"工程量": "工程量（㎡）"}, "quantity", (1200.0, "m²")),
        ({"责任单位": "责任单位（盖章）"}, "responsible_unit", "上海市绿化和市容管理局"),
        ({"项目名称": "项目名称（全称）"}, "name_zh", "南广场花坛"),
        ({"项目名称": "Name (Chinese)"}, "name_zh", "南广场花坛"),  # a known header holding brackets
    ],
)
def test_a_bracketed_header_merged_down_under_a_two_row_header_is_read_as_in_one_row(
    tmp_path: Path, replace: dict[str, str | None], field: str, value
) -> None:
    # 工程量（㎡） beside 计划时间 over 开始 | 完成 was left out ("columns not imported") and the
    # project committed with 0 items; 责任单位（盖章） gave "no column for responsible_unit".
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(_two_row_with(tmp_path / "r.xlsx", replace)), "--store", str(store))
    assert code == 0 and "columns not imported" not in out, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "SP-01"))["properties"]
    got = (p["quantity"], p["quantity_unit"]) if field == "quantity" else p[field]
    assert got == value
    assert (p["planned_start"], p["planned_finish"]) == ("2026-09-01", "2026-10-31")


def test_a_date_header_with_its_date_word_merged_down_under_a_two_row_header(tmp_path: Path) -> None:
    # 计划开始时间 is 计划开始 in a one-row header; beside 工程量 over 数量 | 单位 it is too.
    rows = [
        ["项目编号", "项目名称", "片区", "责任单位", "计划开始时间", "计划完成日期", "工程量", None],
        [None, None, None, None, None, None, "数量", "单位"],
        ["RD-01", "路面", "道路", "路政", "2026-08-01", "2026-10-20", 1200, "㎡"],
    ]
    merged = ["G1:H1", *(f"{c}1:{c}2" for c in "ABCDEF")]
    store = empty_twin(tmp_path / "t.gpkg")
    code, out = run("projects", "import", str(_sheet(tmp_path / "r.xlsx", rows, merged)), "--store", str(store))
    assert code == 0 and "columns not imported" not in out, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "RD-01"))["properties"]
    assert (p["planned_start"], p["planned_finish"], p["quantity"], p["quantity_unit"]) == (
        "2026-08-01", "2026-10-20", 1200.0, "m²")  # fmt: skip


def test_a_new_project_without_a_quantity_is_refused_not_given_0_items(tmp_path: Path) -> None:
    # The register requires a quantity and weighs a project by it among its area's projects of the
    # same unit: an invented "0 items" weighed it 0 beside projects counted in items.
    store = empty_twin(tmp_path / "t.gpkg")
    rows = [["项目编号", "项目名称", "片区", "责任单位", "计划开始", "计划完成"],
            ["RD-01", "路面", "道路", "路政", "2026-08-01", "2026-10-20"]]  # fmt: skip
    code, out = run("projects", "import", str(_sheet(tmp_path / "r.xlsx", rows)), "--store", str(store))
    assert code == 2, out
    flat = " ".join(out.split())
    assert "has no column for quantity (quantity / 工程量)" in flat and "row 2: no project 'RD-01'" in flat, out
    with Twin.open(store) as twin:
        assert twin.head() is None
    # With the column, the register takes the project; a sheet of known projects needs none.
    rows = [[*rows[0], "工程量", "单位"], [*rows[1], 1200, "㎡"]]
    code, out = run("projects", "import", str(_sheet(tmp_path / "q.xlsx", rows)), "--store", str(store))
    assert code == 0, out
    rows = [["项目编号", "计划完成"], ["RD-01", "2026-10-25"]]
    code, out = run("projects", "import", str(_sheet(tmp_path / "k.xlsx", rows)), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        p = orjson.loads(twin.feature("projects", "RD-01"))["properties"]
    assert (p["planned_finish"], p["quantity"], p["quantity_unit"]) == ("2026-10-25", 1200.0, "m²")


def _reports_of(store: Path, code: str) -> list[tuple[str, float]]:
    from completion.register import reports_from_history

    with Twin.open(store) as twin:
        return [(r.on.isoformat(), r.percent) for r in reports_from_history(twin.history("projects", code))]


@pytest.mark.parametrize(("percent", "reason"), [(80, None), (70, "复核更正")])
def test_another_figure_for_the_date_of_the_last_report_is_refused(
    imported, tmp_path: Path, percent: float, reason: str | None
) -> None:
    # The project's last report is 75 % on 11-01: another figure for 11-01 was committed as a
    # second report of that date (the same date as the last report passed the "older than" rule).
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    code = register[0][0]
    day = date(2026, 11, 1)
    first = _report_book(tmp_path / "first.xlsx", [[code, day - timedelta(days=5), 74], [code, day, 75]])
    assert run("progress", "import", str(first), "--store", str(store))[0] == 0
    with Twin.open(store) as twin:
        head = twin.head()
    book = _report_book(tmp_path / "again.xlsx", [[code, day, percent, None, reason]])
    status, out = run("progress", "import", str(book), "--store", str(store))
    assert status == 2, out
    assert f"row 2: the twin already records 75% for {code} on {day.isoformat()}" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == head
    # The same figure again is no change, not an error.
    status, out = run("progress", "import", str(first), "--store", str(store))
    assert status == 0 and "nothing to commit" in out, out
    with Twin.open(store) as twin:
        assert twin.head() == head
    assert _reports_of(store, code)[-2:] == [((day - timedelta(days=5)).isoformat(), 74.0), (day.isoformat(), 75.0)]


def test_a_plain_1_in_the_percent_column_is_refused_as_0_75_is(imported, tmp_path: Path) -> None:
    # 1 from a formula 完成量/工程量 is 100 % as a fraction, and was read as 1 %.
    source, _, register, _ = imported
    store = _copy_of(source, tmp_path)
    day = date(2026, 11, 1)
    rows = [[register[0][0], day, 1, None, "返工"], [register[1][0], day, 0, None, "返工"]]
    book = _report_book(tmp_path / "one.xlsx", rows)
    with Twin.open(store) as twin:
        before = twin.head()
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 2, out
    assert "row 2: 完成百分比 1: a fraction or 1 %? write 100, or 1%, or format the cell as a percentage" in out, out
    assert "row 3" not in out, out  # 0 is 0 either way
    with Twin.open(store) as twin:
        assert twin.head() == before
    # Formatted as a percent it is 100; written "1%" it is 1 (each lower than the last: a reason).
    book = _report_book(tmp_path / "pct.xlsx", [[register[0][0], day, 1, None, None]], "0%")
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    book = _report_book(tmp_path / "text.xlsx", [[register[1][0], day, "1%", None, "返工"]])
    code, out = run("progress", "import", str(book), "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as twin:
        got = [orjson.loads(twin.feature("projects", r[0]))["properties"]["percent_complete"] for r in register[:2]]
    assert got == [100.0, 1.0]
