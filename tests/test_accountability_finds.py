"""A season coordinator's finds in the accountability views (/completion/units, /missing, /late):

1. by person, two units' 张伟 were one row (with both units) and every project naming nobody was
   one "—" row across units: a person is a person within a unit, one row per (unit, person);
2. the reports-missing list's "due since" was the latest checkpoint for a project that has owed
   reports since long before: it is the first checkpoint it missed;
3. /completion/units, /missing and /late had no Excel download (f=xlsx: 400 naming json and csv
   only, while /completion/units also takes html);
4. the command line's --csv wrote booleans True/False where the downloads write true/false.

A small register, opening day 2026-11-05 (checkpoints every 10 days: ... 09-06, 09-16, 09-26,
10-06, 10-16, 10-26), read on 2026-10-20: the due checkpoint is 2026-10-16.

    code  unit  person  planned          reports        on 10-20
    HL-1  U1    张伟    09-01 → 10-31    10-06 40%      overdue, due since 10-16 (after its report)
    RD-1  U2    张伟    09-01 → 10-31    10-16 60%      reported on the checkpoint: not overdue
    RD-2  U2    —       09-01 → 10-10    none           overdue since 09-06 (its first checkpoint), behind
    LS-1  U3    —       09-20 → 10-31    none           overdue since 09-26
    LS-2  U3    李强    09-01 → 10-31    09-10 10%      overdue since 09-16 (the first after its report)
    LS-3  U3    李强    09-20 → 10-31    09-15 0%       its start moved (09-18) from 09-01 to after its
                                                        report: overdue since 09-26
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from register_records import cli, project_record, rows
from register_records import noon as _noon

from api.main import create_app
from api.settings import ApiSettings
from completion import Completion
from completion.percent import percent_round
from completion.reports import ProgressReport, report_progress, save_projects
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin

D = date.fromisoformat
ON = "2026-10-20"
U1, U2, U3 = "国家会展中心（上海）有限责任公司", "国网上海市电力公司", "青浦区绿化和市容管理局"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PROJECTS = {
    # code: (unit, person, start, finish)
    "HL-1": (U1, "张伟", "2026-09-01", "2026-10-31"),
    "RD-1": (U2, "张伟", "2026-09-01", "2026-10-31"),
    "RD-2": (U2, None, "2026-09-01", "2026-10-10"),
    "LS-1": (U3, None, "2026-09-20", "2026-10-31"),
    "LS-2": (U3, "李强", "2026-09-01", "2026-10-31"),
    "LS-3": (U3, "李强", "2026-09-01", "2026-10-31"),  # its start moved to 09-20 on 09-18, after its report
}
REPORTS = [("2026-09-10", "LS-2", 10.0), ("2026-09-15", "LS-3", 0.0), ("2026-10-06", "HL-1", 40.0),
           ("2026-10-16", "RD-1", 60.0)]  # fmt: skip
# the first checkpoint each overdue project missed, and each (unit, person) row's overdue projects
DUE_SINCE = {"HL-1": "2026-10-16", "RD-2": "2026-09-06", "LS-1": "2026-09-26", "LS-2": "2026-09-16",
             "LS-3": "2026-09-26"}  # fmt: skip
OVERDUE_BY_PERSON = {(U1, "张伟"): ["HL-1"], (U2, "张伟"): [], (U2, None): ["RD-2"], (U3, None): ["LS-1"],
                     (U3, "李强"): ["LS-2", "LS-3"]}  # fmt: skip


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("finds") / "finds.gpkg"
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        records = [
            project_record(code, start, finish, unit=unit, person=person)
            for code, (unit, person, start, finish) in PROJECTS.items()
        ]
        save_projects(twin, records, author="coordinator", message="Register", time=_noon("2026-08-20"))
        for day, code, pct in REPORTS:
            report_progress(twin, ProgressReport(code, pct, D(day)), reporter=f"r.{code}", time=_noon(day))
            if code == "LS-3":
                moved = [{"code": "LS-3", "planned_start": "2026-09-20"}]
                save_projects(twin, moved, author="coordinator", message="LS-3 later", time=_noon("2026-09-18"))
    return path


@pytest.fixture(scope="module")
def api(register: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=register))) as c:
        yield c


@pytest.fixture(autouse=True)
def _today(today: Callable[[str], None]) -> None:
    today("2026-10-30")  # after the date read, whatever the clock says


# ------------------------------------------------------------------ 1. a person within a unit
def test_a_person_is_a_person_within_a_unit(api: TestClient, register: Path) -> None:
    doc = api.get("/completion/units", params={"date": ON, "by": "person"}).json()
    got = {(u["unit"], u["person"]): u for u in doc["units"]}
    assert set(got) == set(OVERDUE_BY_PERSON)  # two 张伟 rows, and a row naming nobody in each unit with such projects
    assert doc["numberReturned"] == len(got) == len({u["key"] for u in doc["units"]})  # the key tells rows apart
    for (unit, person), u in got.items():
        assert u["key"] == f"{unit} / {person or '—'}"
        members = [c for c, p in PROJECTS.items() if (p[0], p[1]) == (unit, person)]
        assert u["projects"] == len(members), (unit, person)
        assert sorted(u["overdue_projects"]) == OVERDUE_BY_PERSON[unit, person], (unit, person)
        assert u["reports_overdue"] == len(OVERDUE_BY_PERSON[unit, person])
        assert set(u["late_projects"]) <= set(members)
    assert got[U2, None]["late_projects"] == ["RD-2"]  # charged to its own unit's nobody-named row
    # by unit the rows are as before, with the unit and no person
    by_unit = api.get("/completion/units", params={"date": ON}).json()["units"]
    assert {(u["key"], u["unit"], u["person"]) for u in by_unit} == {(x, x, None) for x in (U1, U2, U3)}

    # the CSV: the same rows, with the unit and person columns; the command line's CSV is the API's
    served = rows(api.get("/completion/units", params={"date": ON, "by": "person", "f": "csv"}).text)
    assert {(r["unit"], r["person"] or None): r["overdue_projects"] for r in served} == {
        k: ";".join(v) for k, v in OVERDUE_BY_PERSON.items()
    }
    text = cli("completion", "units", "--date", ON, "--by", "person", "--csv", "--store", str(register))
    assert rows(text) == served
    # the command line's table: each 张伟 with their own unit, and the nobody-named rows labelled
    table = cli("completion", "units", "--date", ON, "--by", "person", "--store", str(register))
    assert re.search(rf"张伟 \({re.escape(U1)}\)\s*│\s*1\s*│\s*1 / 1\s*│\s*HL-1\s*│", table), table
    assert re.search(rf"张伟 \({re.escape(U2)}\)\s*│\s*1\s*│\s*0 / 1\s*│\s*│", table), table
    assert re.search(rf"nobody named \({re.escape(U2)}\)\s*│\s*1\s*│\s*1 / 1\s*│\s*RD-2\s*│", table), table
    assert re.search(rf"nobody named \({re.escape(U3)}\)\s*│\s*1\s*│\s*1 / 1\s*│\s*LS-1\s*│", table), table


@pytest.mark.parametrize(("lang", "nobody"), [("en", "(nobody named)"), ("zh", "（未填责任人）")])
def test_the_units_page_by_person_names_each_persons_unit(api: TestClient, lang: str, nobody: str) -> None:
    """The page by person: a row per (unit, person), each with its own unit, and the rows of the
    projects naming nobody labelled so, one per unit."""
    from web import i18n

    html = api.get("/completion/units", params={"date": ON, "by": "person", "f": "html", "lang": lang}).text
    cells = re.findall(r'<tr[^>]*data-key="([^"]+)">\s*<td>([^<]*)<small>\(([^<]*)\)</small></td>', html)
    assert len({k for k, _, _ in cells}) == len(cells) == len(OVERDUE_BY_PERSON), cells
    shown = sorted((unit, name.strip()) for _, name, unit in cells)
    expected = sorted(
        (i18n.in_language(lang, unit), i18n.in_language(lang, person) if person else nobody)
        for unit, person in OVERDUE_BY_PERSON
    )
    assert shown == expected


# ------------------------------------------------------------------ 2. due since the first missed checkpoint
def test_reports_are_due_since_the_first_checkpoint_missed(api: TestClient, register: Path) -> None:
    doc = api.get("/completion/missing", params={"date": ON}).json()
    assert {r["code"]: r["due_since"] for r in doc["missing"]} == DUE_SINCE
    assert {r["report_due"] for r in doc["missing"]} == {"2026-10-16"}  # the checkpoint each owes now
    with Twin.open(register) as twin:
        states = Completion(twin).at(ON).report_states()
    assert {c: s.since.isoformat() for c, s in states.items() if s.since} == DUE_SINCE
    assert states["RD-1"].since is None and not states["RD-1"].overdue
    served = rows(api.get("/completion/missing", params={"date": ON, "f": "csv"}).text)
    assert {r["code"]: r["due_since"] for r in served} == DUE_SINCE
    assert rows(cli("completion", "missing", "--date", ON, "--csv", "--store", str(register))) == served
    # the command line's "due since" column: RD-2 never reported and has owed reports since 09-06
    table = cli("completion", "missing", "--date", ON, "--store", str(register))
    assert re.search(r"RD-2\s.*never\s.*2026-09-06", table), table
    assert re.search(r"LS-2\s.*2026-09-10\s.*2026-09-16", table), table


# ------------------------------------------------------------------ 3. Excel downloads
# each list's Excel download: its title, the headings in Chinese and in English, its date columns
EXCEL = {
    "/completion/units": (
        {"by": "person"},
        ("分责任人进度与填报（2026-10-20）", "Accountability by responsible person on 2026-10-20"),
        ("责任人", "责任单位", "工程数", "逾期未报", "应报", "滞后", "存在风险", "已完成", "计划 %", "实际 %",
         "偏差（百分点）", "逾期未报工程", "滞后工程", "存在风险的工程"),
        ("Responsible person", "Responsible unit", "Projects", "Reports overdue", "Reports due", "Late", "At risk",
         "Done", "Planned %", "Actual %", "± points", "Overdue projects", "Late projects", "At-risk projects"),
        (),
    ),
    "/completion/missing": (
        {},
        ("逾期未报（2026-10-20）", "Reports missing on 2026-10-20"),
        ("编号", "工程", "责任单位", "责任人", "上次填报", "未报天数", "应报节点", "未报起始节点", "进度", "状态"),
        ("Code", "Project", "Responsible unit", "Responsible person", "Last report", "Days since", "Report due",
         "Owed since", "Progress", "Status"),
        ("report_due", "due_since"),
    ),
    "/completion/late": (
        {},
        ("滞后工程（2026-10-20）", "Late projects on 2026-10-20"),
        ("编号", "工程", "责任单位", "责任人", "实际", "计划", "滞后天数", "计划完成", "预计完成", "赶不上开幕日的概率",
         "开幕日未完工", "上次填报", "数据过期", "影像与填报不符"),
        ("Code", "Project", "Responsible unit", "Responsible person", "Actual", "Planned", "Days late",
         "Planned finish", "Forecast finish", "Chance late", "Missed opening day", "Last report", "Stale",
         "Imagery disagrees with the report"),
        ("planned_finish", "forecast_finish"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(EXCEL))
@pytest.mark.parametrize("lang", ["zh", "en", "accept-en"])
def test_the_accountability_lists_download_as_their_pages_read(api: TestClient, path: str, lang: str) -> None:
    """The Excel download of each list is what a coordinator reads on the page, not the JSON keys:
    a title (what, of which date) and a line with the twin's version over the pages' headings in
    the reader's language (lang=, else Accept-Language, else Chinese, as the pages choose it),
    frozen; dates as Excel dates, percents as numbers shown as percents (as the pages round them),
    units and people as text in Chinese. The CSV keeps the JSON's keys."""
    from openpyxl import load_workbook

    params, titles, zh, en, dates = EXCEL[path]
    query = {"date": ON, "f": "xlsx", **params} | ({"lang": lang} if lang in ("zh", "en") else {})
    headers = {"Accept-Language": "en-GB,en;q=0.8"} if lang == "accept-en" else {}
    r = api.get(path, params=query, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert re.search(r'filename="[a-z]+-2026-10-20[-a-z]*\.xlsx"', r.headers["content-disposition"])
    english = lang != "zh"
    doc = api.get(path, params={"date": ON, **params}).json()
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0][0] == titles[english]
    assert doc["version"][:12] in table[1][0] and ON in table[1][0]
    assert ("twin version" if english else "孪生版本") in table[1][0]
    assert tuple(table[2]) == (en if english else zh)
    assert sheet.freeze_panes == "A4"  # the title and the headings stay in view
    body = table[3:]
    key = "units" if path == "/completion/units" else path.rsplit("/", 1)[1]
    listed = doc[key]
    assert len(body) == len(listed) and body
    for j, heading in enumerate(table[2]):
        letter = sheet.cell(row=3, column=j + 1).column_letter
        assert sheet.column_dimensions[letter].width >= len(heading), heading  # a heading reads whole
    cells = {row[0] if key != "units" else (row[1], row[0]): row for row in body}
    if key == "units":
        nobody = "(nobody named)" if english else "（未填责任人）"
        want = {(u["unit"], u["person"] or nobody): u for u in listed}
        assert set(cells) == set(want)  # the units in Chinese, as text
        for k, u in want.items():
            row = cells[k]
            assert row[2:6] == [u["projects"], u["reports_overdue"], u["reports_due"], u["late"]]
            assert row[8] == pytest.approx(percent_round(u["planned_percent"], 1) / 100)
            assert row[9] == pytest.approx(percent_round(u["actual_percent"], 1) / 100)
            assert row[10] == pytest.approx(u["variance_points"])
            assert (row[11] or "") == ("、" if not english else ", ").join(u["overdue_projects"])
        for j in (8, 9):
            assert all(sheet.cell(row=n, column=j + 1).number_format.endswith("%") for n in range(4, len(table) + 1))
        return
    by_code = {x["code"]: x for x in listed}
    assert set(cells) == set(by_code) and "RD-2" in cells
    for code, row in cells.items():
        item = by_code[code]
        assert row[1] == item["name_en" if english else "name_zh"]
        assert row[2] == item["responsible_unit"]  # Chinese text, as text
        for k in dates:
            j = _date_column(path, k)
            assert isinstance(row[j], datetime) and row[j].date() == D(item[k]), (k, row[j])
    percent_at = 8 if key == "missing" else 4
    assert all(sheet.cell(row=n, column=percent_at + 1).number_format.endswith("%") for n in range(4, len(table) + 1))
    # never reported: said as the pages say it, not an empty date
    assert cells["RD-2"][4 if key == "missing" else 11] == ("never" if english else "从未填报")
    # the CSV is the machine's table, as it was: the JSON's keys
    assert "code" in rows(api.get(path, params={"date": ON, "f": "csv"}).text)[0]


def _date_column(path: str, key: str) -> int:
    """The column of a list's Excel download holding the JSON's date ``key``."""
    return {
        ("/completion/missing", "report_due"): 6,
        ("/completion/missing", "due_since"): 7,
        ("/completion/late", "planned_finish"): 7,
        ("/completion/late", "forecast_finish"): 8,
    }[path, key]


def test_a_format_refused_is_named_with_every_format_the_route_takes(api: TestClient) -> None:
    for path, formats in (
        ("/completion/units", "json, csv, xlsx, html"),
        ("/completion/missing", "json, csv, xlsx"),
        ("/completion/late", "json, csv, xlsx"),
    ):
        r = api.get(path, params={"date": ON, "f": "xml"})
        assert r.status_code == 400 and r.json()["detail"] == f"f='xml' is not one of {formats}", r.text
    assert api.get("/completion/units", params={"date": ON, "f": "html"}).status_code == 200


# ------------------------------------------------------------------ 4. one CSV writer
def test_the_command_lines_csv_writes_booleans_as_the_downloads_do(api: TestClient, register: Path) -> None:
    text = cli("completion", "late", "--date", ON, "--csv", "--store", str(register))
    got = {r["code"]: r for r in rows(text)}
    served = {r["code"]: r for r in rows(api.get("/completion/late", params={"date": ON, "f": "csv"}).text)}
    assert "RD-2" in got and "RD-2" in served
    for r in got.values():
        for k in ("stale", "forecast_after_opening", "missed_opening", "forecast_passed"):
            assert r[k] in ("true", "false", ""), (k, r[k])
    assert got["RD-2"]["stale"] == served["RD-2"]["stale"] == "true"
    for code in set(got) & set(served):
        assert got[code]["stale"] == served[code]["stale"]
    listed = rows(cli("completion", "projects", "--date", ON, "--csv", "--store", str(register)))
    assert {r["code"]: r["stale"] for r in listed}["RD-1"] == "false"


def test_one_writer_makes_both_csvs() -> None:
    """The command line's writer and the downloads' give the same cells (a pipe: no byte-order mark,
    no formula quoting, its own line ends)."""
    from cli.completion import _write_csv
    from completion.intake import table_bytes

    columns = ("a", "b", "c", "d", "e")
    data = [{"a": True, "b": False, "c": None, "d": ["X-1", "X-2"], "e": 1.5}, {"a": "张伟", "e": D("2026-09-06")}]
    out = io.StringIO()
    import sys

    saved, sys.stdout = sys.stdout, out
    try:
        _write_csv(data, columns)
    finally:
        sys.stdout = saved
    downloaded = table_bytes(data, columns, "csv").decode("utf-8").removeprefix("\ufeff")
    assert out.getvalue().replace("\n", "\r\n") == downloaded
    assert out.getvalue().splitlines()[1:] == ["true,false,,X-1;X-2,1.5", "张伟,,,,2026-09-06"]


# ------------------------------------------------------------------ 5. one negotiation
def test_the_lists_negotiate_their_format_as_every_route_does(api: TestClient) -> None:
    """/completion's lists choose their format with api.deps.negotiate, the rest of the API's rule:
    the Accept header's weights count (it matched substrings, so a client taking JSON first and CSV
    at a pinch got CSV, and one refusing CSV, text/csv;q=0, got it all the same); f= and a media
    type asked for alone answer as before; an unknown f is the 400 every route gives."""

    def fmt(path: str, accept: str) -> tuple[int, str]:
        r = api.get(path, params={"date": ON}, headers={"Accept": accept})
        return r.status_code, r.headers.get("content-type", "").split(";")[0]

    for path in ("/completion/late", "/completion/missing", "/completion/units"):
        assert fmt(path, "text/csv") == (200, "text/csv")
        assert fmt(path, XLSX) == (200, XLSX)
        assert fmt(path, "application/json") == (200, "application/json")
        assert fmt(path, "*/*") == (200, "application/json")
        assert fmt(path, "application/json, text/csv;q=0.5") == (200, "application/json")
        assert fmt(path, "text/csv;q=0.5, application/json") == (200, "application/json")
        assert fmt(path, "text/csv, application/json;q=0.5") == (200, "text/csv")
        assert fmt(path, "text/csv;q=0, application/json") == (200, "application/json")
        assert fmt(path, "application/xml")[0] == 406
    assert fmt("/completion/units", "text/html") == (200, "text/html")
    assert fmt("/completion/late", "text/html")[0] == 406  # no page of its own
    assert fmt("/completion", "text/csv") == (200, "text/csv")
    assert fmt("/completion", f"{XLSX}, application/json;q=0.9") == (200, XLSX)
    # f= wins over the header; an unknown f is refused as the OGC routes refuse one
    r = api.get("/completion/late", params={"date": ON, "f": "csv"}, headers={"Accept": "application/json"})
    assert r.headers["content-type"].startswith("text/csv")
    refused = api.get("/completion/missing", params={"date": ON, "f": "xml"}).json()
    elsewhere = api.get("/collections", params={"f": "xml"}).json()
    assert refused["status"] == elsewhere["status"] == 400 and refused["title"] == elsewhere["title"], (
        refused,
        elsewhere,
    )
    assert refused["detail"] == "f='xml' is not one of json, csv, xlsx"
    assert api.get("/projects/RD-2", params={"date": ON}, headers={"Accept": "application/xml"}).status_code == 406


def test_the_units_page_links_its_excel_in_its_own_language(api: TestClient) -> None:
    """The units page in English links the English Excel download (the link carried no lang, and the
    page's language switch, lang=en, is not the browser's Accept-Language)."""
    for lang in ("en", "zh"):
        page = api.get("/completion/units", params={"date": ON, "f": "html", "lang": lang}).text
        link = re.search(r'href="([^"]*f=xlsx[^"]*)"', page)
        assert link is not None and f"lang={lang}" in link.group(1), link


# ------------------------------------------------------------------ 6. the Excel sheets, read and printed
# A tester's finds in the Excel downloads: the units sheet counted the at-risk projects without naming
# them; the late sheet listed LS-04 (reported done, not late) without why (the imagery disagrees); the
# sheets printed with no date or page numbers past page 1, on no set paper; "Stale" was the text
# "yes"/"是" (blank otherwise) and "Chance late" mixed the text "missed" with numbers.
T10 = "2026-10-26"  # the demo surveys' T-10 flights: the imagery disagrees with LS-04's 100 %


def _sheet(r: Any) -> Any:
    from openpyxl import load_workbook

    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    return sheet


def _table(sheet: Any) -> tuple[list[Any], dict[str, list[Any]]]:
    """A sheet's headings and its rows by their first cell."""
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    return table[2], {row[0]: row for row in table[3:]}


@pytest.fixture(scope="module")
def surveyed_api(surveyed_twin: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as c:
        yield c


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_units_sheet_names_the_at_risk_projects(surveyed_api: TestClient, lang: str) -> None:
    """Each row names its at-risk projects, as the page lists them under the count and the sheet names
    the overdue and late ones (the CSV's at_risk_projects)."""
    doc = surveyed_api.get("/completion/units", params={"date": T10}).json()
    risky = {u["unit"]: u["at_risk_projects"] for u in doc["units"]}
    assert any(risky.values()), risky  # the bundled season has at-risk projects on T-10
    sheet = _sheet(surveyed_api.get("/completion/units", params={"date": T10, "f": "xlsx", "lang": lang}))
    headings, rows_by_unit = _table(sheet)
    at = headings.index("At-risk projects" if lang == "en" else "存在风险的工程")
    separator = ", " if lang == "en" else "、"
    from web import i18n

    for unit, codes in risky.items():
        row = rows_by_unit[i18n.in_language(lang, unit)]
        assert row[at] == (separator.join(codes) or None), unit
        assert row[headings.index("At risk" if lang == "en" else "存在风险")] == len(codes)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_late_sheet_says_why_the_imagery_disagrees(surveyed_api: TestClient, lang: str) -> None:
    """LS-04, reported done and not late, is on the late list because the imagery disagrees with its
    report: the sheet says so in a column of its own, in the sheet's language, worded as the pages
    word it (the completion map's late list of the same date and language; in English the CSV's
    evidence_flag); the projects the imagery does not dispute leave it empty."""
    import html as html_lib

    listed = rows(surveyed_api.get("/completion/late", params={"date": T10, "f": "csv"}).text)
    flags = {r["code"]: r["evidence_flag"] for r in listed}
    assert flags["LS-04"].startswith("reported 100 % on"), flags
    sheet = _sheet(surveyed_api.get("/completion/late", params={"date": T10, "f": "xlsx", "lang": lang}))
    headings, by_code = _table(sheet)
    assert list(by_code) == [r["code"] for r in listed]  # the late, then the disputed, as the API lists them
    why = headings.index("Imagery disagrees with the report" if lang == "en" else "影像与填报不符")
    page = surveyed_api.get(
        "/maps/completion", params={"date": T10, "lang": lang}, headers={"Accept": "text/html"}
    ).text
    shown = re.search(r'data-evidence-flag="LS-04">(.*?)</div>', page, re.S)
    assert shown, "the map's late list marks LS-04"
    worded = re.sub(r"<[^>]+>", "", html_lib.unescape(shown[1])).strip()
    cell = by_code["LS-04"][why]
    assert cell and worded.endswith(cell), (cell, worded)  # after the badge ("imagery", "影像")
    if lang == "en":
        assert cell == flags["LS-04"]
    else:
        assert "航测影像显示" in cell and "reported" not in cell and "imagery" not in cell
    for code, row in by_code.items():
        assert (row[why] is None) == (not flags[code]), code


@pytest.mark.parametrize("path", sorted(EXCEL))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_sheets_print_on_a4_with_their_title_and_pages(api: TestClient, path: str, lang: str) -> None:
    """Printed, each sheet is A4 landscape; every page repeats the title, the snapshot's line and the
    headings (rows 1-3: page 2 read alone says what and of which date), and its footer names the
    title and "page N of M" in the sheet's language (Excel's &P and &N)."""
    params, titles, *_ = EXCEL[path]
    sheet = _sheet(api.get(path, params={"date": ON, "f": "xlsx", "lang": lang, **params}))
    title = titles[lang == "en"]
    assert sheet["A1"].value == title
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4) == 9  # A4 (Excel's paper code)
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.print_title_rows == "$1:$3"
    assert sheet.oddFooter.left.text == title
    assert sheet.oddFooter.right.text == ("Page &P of &N" if lang == "en" else "第 &P 页，共 &N 页")
    assert not sheet.HeaderFooter.differentOddEven and not sheet.HeaderFooter.differentFirst  # on every page


@pytest.mark.parametrize(("on", "today_is"), [(ON, "2026-10-30"), ("2026-11-06", "2026-11-10")])
def test_the_late_sheet_filters_by_true_or_false_and_keeps_its_chances_numbers(
    api: TestClient, today: Callable[[str], None], on: str, today_is: str
) -> None:
    """ "Stale" is Excel's TRUE or FALSE on every row (the filter offers the two, in any Excel, as the
    CSV's true/false; "yes" or a blank left the fresh ones to "(Blanks)"); "Chance late" is a number
    or nothing: after opening day a project not reported done has missed it, which the page says in
    place of a chance and the sheet in the column beside, "Missed opening day", TRUE or FALSE."""
    today(today_is)
    served = {r["code"]: r for r in api.get("/completion/late", params={"date": on}).json()["late"]}
    sheet = _sheet(api.get("/completion/late", params={"date": on, "f": "xlsx", "lang": "en"}))
    headings, by_code = _table(sheet)
    stale, chance, missed = (headings.index(h) for h in ("Stale", "Chance late", "Missed opening day"))
    assert set(by_code) == set(served) and served
    for code, row in by_code.items():
        r = served[code]
        assert row[stale] is r["stale"], code
        assert row[missed] is r["missed_opening"], code
        if r["missed_opening"]:
            assert row[chance] is None, code
        else:
            assert isinstance(row[chance], float | int) and row[chance] == pytest.approx(r["p_late"]), code
    if on == ON:
        assert {row[stale] for row in by_code.values()} == {True, False}  # RD-1 reported on the checkpoint
    assert all(row[missed] for row in by_code.values()) == (on > "2026-11-05")  # none done by opening day
    for n in range(4, sheet.max_row + 1):
        assert sheet.cell(row=n, column=stale + 1).data_type == "b"
        assert sheet.cell(row=n, column=missed + 1).data_type == "b"
        assert sheet.cell(row=n, column=chance + 1).data_type == "n"
