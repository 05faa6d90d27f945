"""Spreadsheet intake over HTTP: register and report uploads, the batch endpoint, who may set times,
422 with the bad rows, reads before any data, and Excel / CSV-with-BOM downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from test_intake import T30, UNITS, _sheet, _two_row_register, empty_twin, season, workbook

from api.main import create_app
from api.settings import ApiSettings
from completion import Completion
from twin import Twin
from twin.model import Change, Feature

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path, bytes]]:
    store = empty_twin(tmp_path / "t.gpkg")
    with Twin.open(store) as twin:
        tokens = {
            role: twin.tokens.create(name, role)
            for role, name in (("viewer", "wang.viewer"), ("editor", "li.wei"), ("admin", "zhou.admin"))
        }
    register, reports = season()
    book = workbook(tmp_path / "season.xlsx", register, reports).read_bytes()
    with TestClient(create_app(ApiSettings(store=store))) as client:
        yield client, tokens, store, book


def auth(token: str, ctype: str = XLSX) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": ctype}


def log_ids(store: Path) -> list[str]:
    with Twin.open(store) as twin:
        return [c.id for c in twin.log(limit=5000)]


def test_upload_register_and_season_with_original_dates(setup) -> None:
    api, tokens, store, book = setup
    assert api.post("/projects/import", content=book, headers={"Content-Type": XLSX}).status_code == 401
    r = api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 403 and r.json()["detail"].startswith("li.wei is an editor; ")  # not "a editor"
    assert "admin" in r.json()["detail"]
    r = api.post("/projects/import", content=book, headers=auth(tokens["viewer"]))
    assert r.status_code == 403 and r.json()["detail"] == "wang.viewer is a viewer; edits need the editor role"
    r = api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 201, r.text
    assert r.json()["projects"] == 80 and r.json()["sheet"] == "项目清单"

    # A read before the register existed says so.
    r = api.get("/completion", params={"date": "2026-06-01"})
    assert r.status_code == 404 and "no data on 2026-06-01" in r.json()["detail"]

    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 403
    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 201, r.text
    commits = r.json()["commits"]
    assert len(commits) > 1 and {c["author"] for c in commits} == {f"{u}联络员" for u in UNITS}
    # Authored by each row's reporter; the token that uploaded the sheet is named in the message.
    assert all(c["message"].startswith("Progress reported on ") for c in commits)
    assert all("(from sheet '进度填报', uploaded by zhou.admin): " in c["message"] for c in commits), commits[0]

    doc = api.get("/completion", params={"date": T30.isoformat()}).json()
    with Twin.open(store) as twin:
        overall = Completion(twin).at(T30).overall()
    assert doc["overall"]["projects"] == 80 and doc["overall"]["actual_percent"] == pytest.approx(overall.actual, 0.01)
    assert 0 < overall.actual < 100


def test_an_upload_of_reports_already_in_the_twin_skips_them(setup, tmp_path: Path) -> None:
    api, tokens, store, book = setup
    register, reports = season()
    assert api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"])).status_code == 201  # fmt: skip
    # The register sent again: nothing to commit, not an error (it was a 400 "nothing changes").
    held = log_ids(store)
    r = api.post("/projects/import", content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 200 and r.json()["commit"] is None, r.text
    assert "nothing to commit" in r.json()["detail"] and "X-Twin-Commit" not in r.headers
    assert log_ids(store) == held
    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 201 and r.json()["skipped"] == 0, r.text
    before = log_ids(store)
    # The same sheet again: every report is already recorded, nothing to commit (not an error).
    r = api.post("/progress/import", content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["commits"] == [] and doc["skipped"] == len(reports) and doc["reports"] == 0
    assert "nothing to commit" in doc["detail"] and "X-Twin-Commit" not in r.headers
    assert log_ids(store) == before
    # A running sheet with a new row below: that row is committed, the others skipped.
    running = workbook(tmp_path / "running.xlsx", register, [*reports, ["XM-001", datetime(2026, 11, 1), 100]])
    r = api.post("/progress/import", content=running.read_bytes(), headers=auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    assert r.json()["skipped"] == len(reports) and r.json()["reports"] == 1 and len(r.json()["commits"]) == 1


def test_a_register_upload_with_original_dates_is_recorded_before_its_first_reports(setup) -> None:
    """As `projects import --original-dates`: the register at the start of its earliest planned
    start day (Shanghai), so reports made on that day, recorded at its end, land after it."""
    api, tokens, store, book = setup
    r = api.post("/projects/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    both = {"original_dates": "true", "time": "2026-07-01"}
    r = api.post("/projects/import", params=both, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 400 and r.json()["parameter"] == "original_dates"
    assert log_ids(store) == []
    r = api.post("/projects/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 201, r.text
    first_start = min(row[6] for row in season()[0])  # planned start
    assert r.json()["commit"]["time"].startswith(f"{first_start - timedelta(days=1):%Y-%m-%d}T16:00:00")
    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 201, r.text


def test_editor_uploads_reports_recorded_now(setup) -> None:
    api, tokens, store, book = setup
    csv_register = (
        b"code,name,area,unit,planned start,planned finish,quantity,unit of quantity\n"
        b"RD-1,Road,roads,Road Co,2026-08-01,2026-11-20,100,m2\n"
    )
    r = api.post("/projects/import", content=csv_register, headers=auth(tokens["editor"], "text/csv"))
    assert r.status_code == 201, r.text
    reports = "项目编号,日期,完成百分比,备注\nRD-1,2026-11-30,40,路基\n".encode()
    assert api.post("/progress/import", content=reports, headers={"Content-Type": "text/csv"}).status_code == 401
    r = api.post("/progress/import", content=reports, headers=auth(tokens["editor"], "text/csv; charset=utf-8"))
    assert r.status_code == 201, r.text
    (c,) = r.json()["commits"]
    assert c["author"] == "li.wei"
    assert abs(datetime.fromisoformat(c["time"].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_project_code_no_url_can_name_answers_422_naming_row_and_code(setup) -> None:
    api, tokens, store, _ = setup
    csv_register = (
        b"code,name,area,unit,planned start,planned finish,quantity,unit of quantity\n"
        b"RD-1,Road,roads,Road Co,2026-08-01,2026-11-20,100,m2\n"
        b"RD/2,Road,roads,Road Co,2026-08-01,2026-11-20,100,m2\n"
    )
    r = api.post("/projects/import", content=csv_register, headers=auth(tokens["editor"], "text/csv"))
    assert r.status_code == 422, r.text
    (row,) = r.json()["rows"]
    assert row["row"] == 3 and "project code 'RD/2' cannot be part of a URL (/projects/{code})" in row["reason"]
    assert log_ids(store) == []


def test_bad_rows_answer_422_and_commit_nothing(setup, tmp_path: Path) -> None:
    api, tokens, store, _ = setup
    register, reports = season(12)
    register[3][9] = "furlongs"
    bad = workbook(tmp_path / "bad.xlsx", register, reports).read_bytes()
    r = api.post("/projects/import", content=bad, headers=auth(tokens["editor"]))
    assert r.status_code == 422
    assert [row["row"] for row in r.json()["rows"]] == [5] and "furlongs" in r.json()["rows"][0]["reason"]
    assert log_ids(store) == []

    register[3][9] = "m2"
    reports[2][2] = 140
    book = workbook(tmp_path / "book.xlsx", register, reports).read_bytes()
    assert api.post("/projects/import", content=book, headers=auth(tokens["admin"]), params={"time": "2026-07-01"}).status_code == 201  # fmt: skip
    before = log_ids(store)
    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 422
    assert 4 in [row["row"] for row in r.json()["rows"]] and "beyond 100%" in r.text
    assert log_ids(store) == before

    # A row that cannot be read does not hide the rows that break the rules: every bad row is named.
    reports[5][1] = "someday"
    book = workbook(tmp_path / "book2.xlsx", register, reports).read_bytes()
    r = api.post("/progress/import", params={"original_dates": "true"}, content=book, headers=auth(tokens["admin"]))
    assert r.status_code == 422
    assert {4, 7} <= {row["row"] for row in r.json()["rows"]} and "beyond 100%" in r.text and "someday" in r.text
    assert log_ids(store) == before

    # A workbook whose sheet cannot be told says how to name one over HTTP.
    two = load_workbook(io.BytesIO(book))
    two["进度填报"].title = "第45周"
    two.copy_worksheet(two["第45周"]).title = "第46周"  # two sheets of reports (an empty one would not count)
    buf = io.BytesIO()
    two.save(buf)
    r = api.post("/progress/import", content=buf.getvalue(), headers=auth(tokens["editor"]))
    assert r.status_code == 400 and "name one with ?sheet=" in r.json()["detail"], r.text


def test_an_upload_with_two_header_rows(setup, tmp_path: Path) -> None:
    # A register under a title and two header rows (计划时间 over 开始 | 完成) is read over HTTP as on
    # the command line; a sheet whose columns cannot be told is refused with their labels, and
    # without the command line's --mapping, which an upload cannot give.
    api, tokens, store, _ = setup
    register, _ = season(3)
    book = _two_row_register(tmp_path / "qp.xlsx", register).read_bytes()
    r = api.post("/projects/import", content=book, headers=auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    assert r.json()["ignored_columns"] == ["序号", "实际时间/开始", "实际时间/完成", "完成进度"]
    with Twin.open(store) as twin:
        starts = [orjson.loads(twin.feature("projects", row[0]))["properties"]["planned_start"] for row in register]
    assert starts == [row[6].isoformat() for row in register]
    rows = [
        ["项目编号", "责任单位", "预定", None],
        [None, None, "开工", "完工"],
        ["A-1", "某单位", "2026-08-01", "2026-10-01"],
    ]
    r = api.post("/projects/import", content=_sheet(tmp_path / "u.xlsx", rows, ["C1:D1"]).read_bytes(),
                 headers=auth(tokens["editor"]))  # fmt: skip
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "no column for planned_start" in detail and "not known in rows 1-2: '预定/开工', '预定/完工'" in detail
    assert "mapping" not in detail


def test_batch_reports_are_one_commit(setup) -> None:
    api, tokens, store, book = setup
    api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"]))
    batch = {
        "reports": [
            {"code": "XM-001", "percent": 5, "date": "2026-08-05", "note": "开工"},
            {"code": "XM-002", "percent": 7, "date": "2026-08-05"},
            {"code": "XM-003", "percent": 9, "date": "2026-08-06"},
        ]
    }
    json_type = "application/json"
    assert api.post("/progress", json=batch).status_code == 401
    r = api.post(
        "/progress", json={**batch, "time": "2026-08-06T18:00:00+08:00"}, headers=auth(tokens["editor"], json_type)
    )
    assert r.status_code == 403
    before = log_ids(store)
    # A bad item: 422 naming it, nothing committed.
    wrong = {"reports": [*batch["reports"], {"code": "XM-004", "percent": 140, "date": "2026-08-06"}]}
    r = api.post("/progress", json=wrong, headers=auth(tokens["editor"], json_type))
    assert r.status_code == 422 and r.json()["rows"][0]["row"] == 4 and log_ids(store) == before
    # A second report for a project is named where it is, not at the first one.
    twice = {"reports": [*batch["reports"], {"code": "XM-001", "percent": 6, "date": "2026-08-06"}]}
    r = api.post("/progress", json=twice, headers=auth(tokens["editor"], json_type))
    assert r.status_code == 422 and [row["row"] for row in r.json()["rows"]] == [4] and log_ids(store) == before
    r = api.post(
        "/progress", json={**batch, "time": "2026-08-06T18:00:00+08:00"}, headers=auth(tokens["admin"], json_type)
    )
    assert r.status_code == 201, r.text
    assert len(log_ids(store)) == len(before) + 1 and r.json()["commit"]["author"] == "zhou.admin"
    assert r.json()["commit"]["message"].endswith(" (uploaded by zhou.admin)")
    assert r.json()["commit"]["time"].startswith("2026-08-06T10:00:00")
    # An editor's batch is recorded now; after it, an admin cannot record one on an earlier day.
    later = {"reports": [{"code": "XM-001", "percent": 15, "date": "2026-08-15"}]}
    r = api.post("/progress", json=later, headers=auth(tokens["editor"], json_type))
    assert r.status_code == 201 and r.json()["commit"]["author"] == "li.wei"
    again = {"reports": [{"code": "XM-002", "percent": 17, "date": "2026-08-15"}], "time": "2026-08-16T00:00:00Z"}
    before = log_ids(store)
    r = api.post("/progress", json=again, headers=auth(tokens["admin"], json_type))
    assert r.status_code == 400 and "before the head" in r.json()["detail"]
    r = api.post("/progress", json={**again, "time": "2099-01-01T00:00:00Z"}, headers=auth(tokens["admin"], json_type))
    assert r.status_code in (400, 422) and "future" in r.text and log_ids(store) == before
    with Twin.open(store) as twin:
        snap = Completion(twin).at("2026-08-06")
        assert [snap.status(c).percent for c in ("XM-001", "XM-002", "XM-003")] == [5, 7, 9]


def test_batch_names_an_unknown_code_and_the_code_it_could_be(setup) -> None:
    api, tokens, store, book = setup
    api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"]))
    headers = auth(tokens["editor"], "application/json")
    batch = {"reports": [{"code": "XM-002", "percent": 7, "date": "2026-08-05"},
                         {"code": "ZZ-99", "percent": 5, "date": "2026-08-05"},
                         {"code": "xm-001", "percent": 5, "date": "2026-08-05"}]}  # fmt: skip
    r = api.post("/progress", json=batch, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["rows"] == [
        {"row": 2, "reason": "no project 'ZZ-99' in the register"},
        {"row": 3, "reason": "no project 'xm-001' in the register; did you mean 'XM-001'?"},
    ]
    r = api.post("/progress", json={"reports": batch["reports"][2:]}, headers=headers)
    assert r.status_code == 422 and r.json()["rows"] == [
        {"row": 1, "reason": "no project 'xm-001' in the register; did you mean 'XM-001'?"}
    ], r.text


def test_batch_names_the_item_of_a_record_whose_id_is_not_its_code(setup) -> None:
    api, tokens, store, book = setup
    api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"]))
    with Twin.open(store) as twin:
        props = orjson.loads(twin.feature("projects", "XM-001"))["properties"]
        props["code"] = "XM-901"
        twin.commit(
            [Change("projects", "upsert", "record-7", Feature("record-7", None, props))],
            author="gis",
            message="a record by id",
        )
    batch = {"reports": [{"code": "XM-002", "percent": 7, "date": "2026-08-05"},
                         {"code": "XM-901", "percent": 140, "date": "2026-08-05"}]}  # fmt: skip
    r = api.post("/progress", json=batch, headers=auth(tokens["editor"], "application/json"))
    assert r.status_code == 422 and [row["row"] for row in r.json()["rows"]] == [2], r.text


def test_downloads_in_excel_and_csv_with_bom(setup) -> None:
    api, tokens, store, book = setup
    api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"]))
    r = api.get("/projects", params={"f": "xlsx", "date": "2026-08-01"})
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    downloaded = load_workbook(io.BytesIO(r.content), read_only=True)
    assert downloaded.sheetnames == ["projects-2026-08-01"]  # not named "….xlsx" like the file
    rows = list(downloaded.active.iter_rows(values_only=True))
    assert len(rows) == 81 and rows[0][0] == "code" and rows[1][1] == "项目1"
    # Dates are Excel dates, as in the register's export (they were the text '2026-08-02'); the
    # CSV keeps them as ISO text.
    row = dict(zip(rows[0], rows[1], strict=False))  # a read-only row ends at its last value
    assert row["date"] == datetime(2026, 8, 1) and isinstance(row["planned_start"], datetime), row
    csv_rows = list(csv.DictReader(io.StringIO(api.get("/projects", params={"f": "csv", "date": "2026-08-01"})
                                               .content.decode("utf-8-sig"))))  # fmt: skip
    assert csv_rows[0]["date"] == "2026-08-01"
    assert csv_rows[0]["planned_start"] == row["planned_start"].date().isoformat()
    r = api.get("/completion", params={"f": "csv", "date": "2026-08-01", "by": "unit"})
    assert r.content.startswith(b"\xef\xbb\xbf") and "青浦区建管委" in r.content.decode("utf-8-sig")


def test_links_to_a_project_whose_code_holds_url_characters_reach_it(setup) -> None:
    """A code may hold '#', '?', '%' or a space: the links the API gives percent-encode it, so
    following them reaches the project (unencoded, '#' ended the path and '?' began a query)."""
    api, tokens, _, _ = setup
    code = "RD #3?a=1%"
    csv_register = (
        "code,name,area,unit,planned start,planned finish,quantity,unit of quantity\n"
        f"{code},Road,roads,Road Co,2026-08-01,2026-11-20,100,m2\n"
    ).encode()
    r = api.post("/projects/import", content=csv_register, headers=auth(tokens["editor"], "text/csv"))
    assert r.status_code == 201, r.text
    listed = [p for p in api.get("/projects", params={"f": "json"}).json()["projects"] if p["code"] == code]
    (self_link,) = [link["href"] for link in listed[0]["links"] if link["rel"] == "self"]
    project = api.get(self_link).json()
    assert project["project"]["code"] == code
    related = {link["rel"]: link["href"] for link in project["links"]}
    assert api.get(related["progress"]).status_code == 200
    assert api.get(related["history"]).status_code == 200
    evidence = api.get(related["evidence"]).json()
    (back,) = [link["href"] for link in evidence["links"] if link["rel"] == "project"]
    assert api.get(back).json()["project"]["code"] == code


def test_upload_names_the_rows_left_out_and_reads_past_a_hidden_sheet(setup, tmp_path: Path) -> None:
    # A hidden instructions sheet before the data asked for ?sheet=; a 合计 row was a bad row (422).
    api, tokens, store, _ = setup
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = "说明"
    ws.sheet_state = "hidden"
    ws = book.create_sheet("2026年硬件项目")
    ws.append(["项目编号", "项目名称", "片区", "责任单位", "责任人", "计划开始", "计划完成", "工程量（米）"])
    ws.append(["RD-01", "诸光路整治", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 3000])
    ws.append(["合计", None, None, None, None, None, None, 3000])
    ws.append(["RD-02", "旧项目", "道路", "青浦区建设管理委员会", "王强", "2026-08-10", "2026-10-06", 10])
    ws.row_dimensions[4].hidden = True
    book.save(tmp_path / "r.xlsx")
    r = api.post("/projects/import", content=(tmp_path / "r.xlsx").read_bytes(), headers=auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    assert r.json()["sheet"] == "2026年硬件项目" and r.json()["projects"] == 2
    assert r.json()["left_out_rows"] == [{"row": 3, "reason": "a totals row (合计)"}]
    assert r.json()["hidden_rows"] == [4]
    with Twin.open(store) as twin:
        assert orjson.loads(twin.feature("projects", "RD-01"))["properties"]["quantity_unit"] == "m"


def _reports_sheet(path: Path, rows: list[list]) -> bytes:
    return _sheet(
        path, [["项目编号", "日期", "完成百分比", "备注", "原因", "填报人"], *rows], (), "进度填报"
    ).read_bytes()


def test_an_upload_giving_another_figure_for_the_last_reports_date_is_refused(setup, tmp_path: Path) -> None:
    # XM-001's last report is 5 % on 08-05: a sheet row 8 % on 08-05 was committed as a second
    # report of that date (and 4 % with a reason too).
    api, tokens, store, book = setup
    assert api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"])).status_code == 201  # fmt: skip
    first = _reports_sheet(tmp_path / "w1.xlsx", [["XM-001", "2026-08-05", 5, None, None, "王五"]])
    assert api.post("/progress/import", content=first, headers=auth(tokens["editor"])).status_code == 201
    before = log_ids(store)
    for pct, reason in ((8, None), (4, "复核更正")):
        sheet = _reports_sheet(tmp_path / "w2.xlsx", [["XM-001", "2026-08-05", pct, None, reason, "王五"]])
        r = api.post("/progress/import", content=sheet, headers=auth(tokens["editor"]))
        assert r.status_code == 422, r.text
        assert r.json()["rows"] == [
            {"row": 2, "reason": f"the twin already records 5% for XM-001 on 2026-08-05 (this row gives {pct}%); "
                                 "correct the figure with a report dated today"}
        ]  # fmt: skip
        assert log_ids(store) == before
    r = api.post("/progress/import", content=first, headers=auth(tokens["editor"]))
    assert r.status_code == 200 and r.json()["commits"] == [] and r.json()["skipped"] == 1, r.text


def test_a_batch_names_every_bad_item_at_once_by_its_item_number(setup) -> None:
    # A date not written YYYY-MM-DD, or a code given twice, was the only thing the 422 named (the
    # rules were checked only once the whole body parsed); and the reasons said "row 3 ... (also item 1)".
    api, tokens, store, book = setup
    assert api.post("/projects/import", params={"time": "2026-07-01"}, content=book, headers=auth(tokens["admin"])).status_code == 201  # fmt: skip
    before = log_ids(store)
    batch = {"reports": [
        {"code": "XM-001", "percent": 5, "date": "2026-08-05"},   # good
        {"code": "XX-9999", "percent": 90, "date": "2026-08-05"},
        {"code": "XM-002", "percent": 95, "date": "2099-01-01"},
        {"code": "xm-003", "percent": 9, "date": "2026-08-05"},
        {"code": "XM-004", "percent": 101, "date": "2026-08-05"},
        {"code": "XM-005", "percent": 50, "date": "2026/08/05"},
        {"code": "XM-001", "percent": 6, "date": "2026-08-06"},
    ]}  # fmt: skip
    r = api.post("/progress", json=batch, headers=auth(tokens["editor"], "application/json"))
    assert r.status_code == 422, r.text
    rows = r.json()["rows"]
    assert [row["row"] for row in rows] == [2, 3, 4, 5, 6, 7], rows
    why = {row["row"]: row["reason"] for row in rows}
    assert why[2] == "no project 'XX-9999' in the register"
    assert "is in the future" in why[3] and "did you mean 'XM-003'?" in why[4] and "beyond 100%" in why[5]
    assert why[6] == "date '2026/08/05' is not YYYY-MM-DD"
    assert why[7] == "a second report for XM-001 (also item 1); a batch is one commit"
    detail = r.json()["detail"]
    assert "6 bad item(s)" in detail and "item 2: no project 'XX-9999'" in detail and "row " not in detail, detail
    assert log_ids(store) == before
