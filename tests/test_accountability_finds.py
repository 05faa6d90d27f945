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

import pytest
from fastapi.testclient import TestClient
from register_records import cli, project_record, rows
from register_records import noon as _noon

from api.main import create_app
from api.settings import ApiSettings
from completion import Completion
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
@pytest.mark.parametrize(
    ("path", "params", "dates"),
    [
        ("/completion/units", {"by": "person"}, ()),
        ("/completion/missing", {}, ("last_report_date", "report_due", "due_since")),
        (
            "/completion/late",
            {},
            ("planned_finish", "forecast_finish", "forecast_low", "forecast_high", "last_report_date"),
        ),
    ],
)
def test_the_accountability_lists_download_as_excel(
    api: TestClient, path: str, params: dict[str, str], dates: tuple[str, ...]
) -> None:
    from openpyxl import load_workbook

    r = api.get(path, params={"date": ON, "f": "xlsx", **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert re.search(r'filename="[a-z]+-2026-10-20[-a-z]*\.xlsx"', r.headers["content-disposition"])
    sheet = load_workbook(io.BytesIO(r.content)).active
    got = list(sheet.iter_rows(values_only=True))
    served = rows(api.get(path, params={"date": ON, "f": "csv", **params}).text)
    assert list(got[0]) == list(served[0]) and len(got) == len(served) + 1 and served
    header = list(got[0])
    for row, text in zip(got[1:], served, strict=True):
        cells = dict(zip(header, row, strict=True))
        for k, v in cells.items():
            if k in dates and text[k]:
                assert isinstance(v, datetime) and v.date() == D(text[k]), (k, v)  # a real date
            elif isinstance(v, bool):
                assert text[k] == ("true" if v else "false"), (k, v)  # a real boolean
            elif isinstance(v, str):
                assert v == text[k], (k, v)  # Chinese text as text
            elif v is None:
                assert text[k] == "", (k, v)
            else:
                assert float(text[k]) == pytest.approx(v), (k, v)
    if path == "/completion/units":
        assert {(c[2], c[3]) for c in got[1:]} == set(OVERDUE_BY_PERSON)  # unit and person (none: empty)
    else:
        assert "RD-2" in {c[0] for c in got[1:]}
        assert any(isinstance(c, str) and re.search(r"[\u4e00-\u9fff]", c) for c in got[1])


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
