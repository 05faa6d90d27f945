"""A report is its reporter's and a day's figure stays, on every path a project's progress moves by.

A tester found two ways round the register's rules: a generic edit of a project's figure
(PATCH /collections/projects/items/RD-03) was credited to the last report's reporter (the commit
was li.wei's), and a single report (POST /projects/{code}/progress, /progress, `venue-twin progress
report`) gave a second figure for a day gone by, which a sheet upload refuses; afterwards the
coordinator's own sheet no longer imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from api_server import bearer, build_venue, client, copy_store, make_tokens
from fastapi.testclient import TestClient
from openpyxl import Workbook
from typer.testing import CliRunner

from cli.main import app as cli_app
from twin import Twin

MERGE = {"Content-Type": "application/merge-patch+json"}
Site = tuple[Path, dict[str, str]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    store = build_venue(tmp_path_factory.mktemp("report-integrity") / "venue.gpkg")
    return store, make_tokens(store)


@pytest.fixture
def api(site: Site, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    store = copy_store(site[0], tmp_path / "venue.gpkg")
    with client(store) as c:
        yield c, store


def _project(store: Path, code: str) -> dict[str, Any]:
    with Twin.open(store) as twin:
        return orjson.loads(twin.feature("projects", code))["properties"]  # type: ignore[no-any-return]


def _commits(store: Path) -> int:
    with Twin.open(store) as twin:
        return len(twin.log(100_000))


def test_a_figure_edited_in_place_is_not_credited_to_the_last_reporter(
    api: tuple[TestClient, Path], site: Site
) -> None:
    c, store = api
    editor = {**bearer(site[1]["editor"]), **MERGE}  # li.wei
    before, n = _project(store, "RD-03"), _commits(store)
    assert before["progress_reporter"] != "li.wei"
    r = c.patch("/collections/projects/items/RD-03", content=orjson.dumps({"properties": {"percent_complete": 80}}),
                headers=editor)  # fmt: skip
    assert r.status_code == 400, r.text  # as any feature the layer's rules refuse
    detail = r.text
    assert "still names the last report's reporter" in detail and before["progress_reporter"] in detail, detail
    assert "li.wei" in detail and "/projects/RD-03/progress" in detail, detail
    assert _project(store, "RD-03") == before and _commits(store) == n
    # an edit that leaves the figure alone is no report: it needs no reporter
    r = c.patch("/collections/projects/items/RD-03", content=orjson.dumps({"properties": {"quantity": 7}}),
                headers=editor)  # fmt: skip
    assert r.status_code == 204, r.text
    # the editor's own report, dated the day of its last one or today, through the generic edit
    own = {
        "properties": {"percent_complete": 80, "progress_reporter": "li.wei", "progress_date": before["progress_date"]}
    }
    r = c.patch("/collections/projects/items/RD-03", content=orjson.dumps(own), headers=editor)
    # the day of its last report is gone by: that day's figure stays
    assert r.status_code == 400 and "already records" in r.text, r.text
    reports = c.get("/projects/RD-03/progress").json()["reports"]
    assert reports and all(r["reporter"] != "li.wei" for r in reports), reports


def test_a_day_gone_by_keeps_its_figure_on_every_report_path(api: tuple[TestClient, Path], site: Site) -> None:
    c, store = api
    editor = bearer(site[1]["editor"])
    hl07 = _project(store, "HL-07")
    day, had = hl07["progress_date"], hl07["percent_complete"]
    n = _commits(store)
    r = c.post("/projects/HL-07/progress", json={"percent": had + 5, "date": day}, headers=editor)
    assert r.status_code == 400, r.text
    assert f"already records {had:g}% on {day}" in r.text and "a report dated today" in r.text, r.text
    r = c.post("/progress", json={"reports": [{"code": "HL-07", "percent": had + 5, "date": day}]}, headers=editor)
    assert r.status_code == 422 and "item 1: the twin already records" in r.text, r.text  # a batch's bad items
    assert _commits(store) == n and _project(store, "HL-07") == hl07
    # the same figure again is no second figure; today's own figure may be put right
    r = c.post("/projects/HL-07/progress", json={"percent": had + 5}, headers=editor)
    assert r.status_code == 201, r.text
    r = c.post("/projects/HL-07/progress", json={"percent": had + 6}, headers=editor)
    assert r.status_code == 201, r.text
    assert _project(store, "HL-07")["percent_complete"] == had + 6


def test_the_cli_report_keeps_a_day_gone_bys_figure(site: Site, tmp_path: Path) -> None:
    store = copy_store(site[0], tmp_path / "venue.gpkg")
    rd18 = _project(store, "RD-18")
    n = _commits(store)
    r = CliRunner().invoke(
        cli_app,
        ["progress", "report", "RD-18", str(rd18["percent_complete"] + 1), "--date", rd18["progress_date"],
         "--store", str(store), "--author", "sun.hao"],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "already records" in r.output, r.output
    assert _commits(store) == n and _project(store, "RD-18") == rd18


def test_two_reporters_of_one_unit_on_one_day_make_two_commits_each_theirs(site: Site, tmp_path: Path) -> None:
    store = copy_store(site[0], tmp_path / "venue.gpkg")
    with Twin.open(store) as twin:
        projects = [orjson.loads(b)["properties"] for b in twin.features("projects").features]
    # two projects of one unit whose last reports leave room for a report today
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for p in projects:
        if (p.get("percent_complete") or 0) < 90:
            by_unit.setdefault(p["responsible_unit"], []).append(p)
    unit, (a, b, *_) = next((u, ps) for u, ps in by_unit.items() if len(ps) >= 2)
    wb = Workbook()
    ws = wb.active
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    ws.append(["项目编号", "填报日期", "完成比例", "填报人"])
    ws.append([a["code"], today, (a.get("percent_complete") or 0) + 5, "甲 reporter"])
    ws.append([b["code"], today, (b.get("percent_complete") or 0) + 5, "乙 reporter"])
    sheet = tmp_path / "reports.xlsx"
    wb.save(sheet)
    n = _commits(store)
    r = CliRunner().invoke(cli_app, ["progress", "import", str(sheet), "--store", str(store)])
    assert r.exit_code == 0, r.output
    with Twin.open(store) as twin:
        made = twin.log(100_000)[: _commits(store) - n]
    assert sorted(c.author for c in made) == ["乙 reporter", "甲 reporter"], [(c.author, c.message) for c in made]
    assert _project(store, a["code"])["progress_reporter"] == "甲 reporter"
    assert _project(store, b["code"])["progress_reporter"] == "乙 reporter"
    assert unit
