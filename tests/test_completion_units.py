"""Accountability: overdue reports and stale figures, the per-unit and per-person table, the
"reports missing" list, CLI and API agreeing, and the stale mark on the completion map's panel.

A small register with known report dates, opening day 2026-11-05, read on 2026-10-20 (T-16): the
due checkpoint is T-20, 2026-10-16 (the last checkpoint before the date read).

    code  unit  person  planned          reports                     on 10-20
    A     U1    p1      09-01 → 10-31    09-10 10%, 10-06 40%        overdue (last report before 10-16)
    B     U1    p2      09-01 → 10-31    10-06 40%, 10-16 60%        reported on the checkpoint: not overdue
    C     U2    p3      09-01 → 10-01    09-30 100%                  done: owes nothing
    D     U2    p3      10-18 → 11-01    none                        starts after the checkpoint: owes nothing
    E     U2    p4      09-20 → 10-10    none                        overdue, never reported (and behind)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from register_records import cli, project_record, rows
from register_records import noon as _noon
from typer.testing import CliRunner

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app
from completion import Completion
from completion.accountability import due_checkpoint, report_state
from completion.reports import ProgressReport, report_progress, save_projects
from completion.settings import CompletionSettings
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from twin.model import Feature

D = date.fromisoformat
ON = "2026-10-20"
runner = CliRunner()

PROJECTS = {
    # code: (unit, person, start, finish, area, quantity)
    "A": ("U1", "p1", "2026-09-01", "2026-10-31", "halls", 300.0),
    "B": ("U1", "p2", "2026-09-01", "2026-10-31", "halls", 100.0),
    "C": ("U2", "p3", "2026-09-01", "2026-10-01", "roads", 50.0),
    "D": ("U2", "p3", "2026-10-18", "2026-11-01", "roads", 150.0),
    "E": ("U2", "p4", "2026-09-20", "2026-10-10", "halls", 200.0),
}
REPORTS = [  # (date, code, percent), in date order
    ("2026-09-10", "A", 10.0),
    ("2026-09-30", "C", 100.0),
    ("2026-10-06", "A", 40.0),
    ("2026-10-06", "B", 40.0),
    ("2026-10-16", "B", 60.0),
]


def fill(twin: Twin) -> None:
    """The small register of the module docstring, with its reports at their original dates."""
    records = [
        project_record(code, start, finish, unit=unit, person=person, area=area, quantity=qty)
        for code, (unit, person, start, finish, area, qty) in PROJECTS.items()
    ]
    save_projects(twin, records, author="coordinator", message="Register", time=_noon("2026-08-20"))
    for day, code, pct in REPORTS:
        report_progress(twin, ProgressReport(code, pct, D(day)), reporter=f"r.{code}", time=_noon(day))


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("units") / "units.gpkg"
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        fill(twin)
        twin.tokens.create("wang.viewer", "viewer")
    return path


@pytest.fixture(scope="module")
def api(register: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=register))) as c:
        yield c


# ------------------------------------------------------------------ the rule
def test_the_due_checkpoint_is_the_last_one_before_the_date() -> None:
    opening = D("2026-11-05")
    assert due_checkpoint(D("2026-10-20"), opening, 10) == D("2026-10-16")
    assert due_checkpoint(D("2026-10-17"), opening, 10) == D("2026-10-16")
    assert due_checkpoint(D("2026-10-16"), opening, 10) == D("2026-10-06")  # its own day is not over
    assert due_checkpoint(opening, opening, 10) == D("2026-10-26")
    assert due_checkpoint(D("2026-11-09"), opening, 10) == opening


def test_overdue_and_stale_on_a_small_register(register: Path) -> None:
    settings = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
    with Twin.open(register) as twin:
        snap = Completion(twin, settings).at(ON)
        states = snap.report_states()
        # recomputed one by one, the snapshot's states are the rule's
        assert states == {s.project.code: report_state(s, settings, snap.opening) for s in snap.statuses}
        a, b, c, d, e = (states[k] for k in "ABCDE")
        assert (a.overdue, a.last_report, a.age_days, a.due) == (True, D("2026-10-06"), 14, D("2026-10-16"))
        assert (b.overdue, b.last_report, b.age_days) == (False, D("2026-10-16"), 4)
        assert (c.overdue, c.due) == (False, None)  # done
        assert (d.overdue, d.due, d.last_report) == (False, None, None)  # not due yet
        assert (e.overdue, e.last_report, e.age_days) == (True, None, None)
        # on the checkpoint day itself, A's 10-06 report still answers for T-30
        earlier = Completion(twin, settings).at("2026-10-16").report_states()
        assert not earlier["A"].overdue and earlier["E"].overdue
        assert Completion(twin, settings).at("2026-10-17").report_states()["A"].overdue


def test_stale_is_not_late(register: Path) -> None:
    with Twin.open(register) as twin:
        snap = Completion(twin).at(ON)
        st = {s.project.code: s for s in snap.statuses}
        states = snap.report_states()
    # E is late and stale; A is stale by its last figure whatever its status; B is fresh
    assert st["E"].status == "behind" and states["E"].stale
    assert states["A"].stale and not states["B"].stale
    late_codes = {s.project.code for s in snap.late()}
    stale_codes = {k for k, v in states.items() if v.stale}
    assert late_codes != stale_codes


# ------------------------------------------------------------------ API
def test_status_docs_say_how_old_the_figure_is(api: TestClient) -> None:
    r = api.get("/projects", params={"date": ON})
    assert r.status_code == 200
    docs = {p["code"]: p for p in r.json()["projects"]}
    assert docs["A"]["stale"] is True and docs["A"]["report_age_days"] == 14
    assert docs["A"]["last_report"]["date"] == "2026-10-06"
    assert docs["B"]["stale"] is False and docs["B"]["report_age_days"] == 4
    assert docs["E"]["stale"] is True and docs["E"]["last_report"] is None and docs["E"]["report_age_days"] is None
    assert docs["C"]["stale"] is False
    one = api.get("/projects/A", params={"date": ON}).json()["project"]
    assert one["stale"] is True and one["report_due"] == "2026-10-16"
    late = {row["code"]: row for row in api.get("/completion/late", params={"date": ON}).json()["late"]}
    assert late["E"]["stale"] is True and late["E"]["last_report_date"] is None
    csv_late = {row["code"]: row for row in rows(api.get("/completion/late", params={"date": ON, "f": "csv"}).text)}
    assert csv_late["E"]["stale"] == "true"


def test_unit_table_agrees_with_the_project_statuses(api: TestClient) -> None:
    docs = api.get("/projects", params={"date": ON}).json()["projects"]
    for by in ("unit", "person"):
        table = api.get("/completion/units", params={"date": ON, "by": by}).json()
        assert table["by"] == by

        def row_of(d: dict[str, Any], by: str = by) -> tuple[str, str | None]:  # a person within a unit
            return d["responsible_unit"], d["responsible_person"] if by == "person" else None

        units = {(u["unit"], u["person"]): u for u in table["units"]}
        assert set(units) == {row_of(d) for d in docs}
        for key, u in units.items():
            members = [d for d in docs if row_of(d) == key]
            assert u["projects"] == len(members)
            assert u["reports_overdue"] == sum(d["stale"] for d in members)
            assert sorted(u["overdue_projects"]) == sorted(d["code"] for d in members if d["stale"])
            assert u["late"] == sum(d["status"] == "behind" for d in members)
            assert u["done"] == sum(d["status"] == "done" for d in members)
            w = sum(d["overall_weight"] for d in members)
            assert u["weight"] == pytest.approx(w, abs=1e-5)
            actual = sum(d["overall_weight"] * d["percent"] for d in members) / w
            assert u["actual_percent"] == pytest.approx(actual, abs=0.01)
        # units with late projects first, then those with overdue reports
        order = [(-u["late"], -u["reports_overdue"]) for u in table["units"]]
        assert order == sorted(order)
    by_unit = {u["key"]: u for u in api.get("/completion/units", params={"date": ON}).json()["units"]}
    assert by_unit["U1"]["reports_overdue"] == 1 and by_unit["U2"]["reports_overdue"] == 1
    # A (40% of a 60-day job, 49 days in: 25 days behind) and B (60%: 13 days) are late; in U2, E,
    # and D if flagged: a 14-day job two days past its planned start with nothing reported, four days
    # of slack, on a register of five projects, which says little about paces: about as likely late
    # as not, so on either side of the flag's threshold as the Monte Carlo draws fall.
    docs_by_code = {d["code"]: d for d in docs}
    assert 0.3 < docs_by_code["D"]["p_late"] < 0.5
    d_late = int(docs_by_code["D"]["status"] == "behind")
    assert (by_unit["U1"]["late"], by_unit["U2"]["late"]) == (2, 1 + d_late)
    assert [u["key"] for u in api.get("/completion/units", params={"date": ON}).json()["units"]] == ["U1", "U2"]


def test_missing_reports_list(api: TestClient) -> None:
    doc = api.get("/completion/missing", params={"date": ON}).json()
    assert [r["code"] for r in doc["missing"]] == ["E", "A"]  # never reported first, then the oldest
    a = doc["missing"][1]
    assert (a["responsible_unit"], a["responsible_person"], a["last_report_date"], a["days_since"]) == (
        "U1", "p1", "2026-10-06", 14,
    )  # fmt: skip
    assert api.get("/completion/missing", params={"date": "2026-10-16"}).json()["numberReturned"] == 1


def test_units_html_and_bad_parameters(api: TestClient) -> None:
    r = api.get("/completion/units", params={"date": ON, "f": "html", "lang": "en"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'data-key="U2"' in r.text and "Reports overdue" in r.text
    # The Accept header is weighed as on every other route: a browser gets the page, a client
    # that ranks HTML below JSON (or refuses it) gets JSON.
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert api.get("/completion/units", params={"date": ON}, headers={"Accept": browser}).text.startswith("<!")
    for accept in ("application/json, text/html;q=0.5", "text/html;q=0, application/json"):
        r = api.get("/completion/units", params={"date": ON}, headers={"Accept": accept})
        assert r.headers["content-type"].startswith("application/json"), accept
    bad = api.get("/completion/units", params={"by": "colour"})
    assert bad.status_code == 400 and "by" in bad.text
    assert api.get("/completion/missing", params={"date": "yesterday"}).status_code == 400


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_units_page_leads_back_to_home_and_the_completion_map(api: TestClient, lang: str) -> None:
    """The units page carries the maps' navigation (map_parts.html's nav, as every map page): home,
    the completion map of the page's date, and the language switch keeping the date and grouping."""
    html = api.get("/completion/units", params={"date": ON, "by": "person", "f": "html", "lang": lang}).text
    nav = re.search(r'<nav class="vt-nav">(.*?)</nav>', html, re.S)
    assert nav, html[:600]
    links = dict(re.findall(r'<a href="([^"]+)" data-nav="(\w+)">', nav[1]))
    by_key = {key: href.replace("&amp;", "&") for href, key in links.items()}
    assert by_key["home"].endswith(f"/maps?lang={lang}")
    assert by_key["completion"].endswith(f"/maps/completion?date={ON}&lang={lang}")
    names = {"en": ("Home", "Completion map"), "zh": ("首页", "工程完成情况图")}[lang]
    assert all(f">{name}</a>" in nav[1] for name in names)
    other = "zh" if lang == "en" else "en"
    switch = re.search(rf'<a class="vt-lang" href="([^"]+)" data-lang-switch="{other}">', nav[1])
    assert switch and switch[1].replace("&amp;", "&").endswith(
        f"/completion/units?f=html&date={ON}&by=person&lang={other}"
    )
    assert html.count("data-lang-switch=") == 1


# ------------------------------------------------------------------ CLI against API
def test_cli_and_api_agree(api: TestClient, register: Path) -> None:
    for by in ("unit", "person"):
        text = cli("completion", "units", "--date", ON, "--by", by, "--csv", "--store", str(register))
        served = api.get("/completion/units", params={"date": ON, "by": by, "f": "csv"}).text
        assert rows(text) == rows(served)
    text = cli("completion", "missing", "--date", ON, "--csv", "--store", str(register))
    assert rows(text) == rows(api.get("/completion/missing", params={"date": ON, "f": "csv"}).text)
    table = cli("completion", "units", "--date", ON, "--store", str(register))
    assert re.search(r"U1\s.*1 / 2", table), table
    missing = cli("completion", "missing", "--date", ON, "--store", str(register))
    assert "never" in missing and "2026-10-06" in missing
    listed = cli("completion", "projects", "--date", ON, "--store", str(register))
    assert re.search(r"^\S*\s*A\s.*2026-10-06 \(stale\)", listed, re.M), listed
    assert not re.search(r"^\S*\s*B\s.*stale", listed, re.M)


def test_the_cli_table_names_the_overdue_projects(register: Path) -> None:
    # The CSV, JSON and page list the codes behind "reports overdue"; the table showed only "1 / 2".
    table = cli("completion", "units", "--date", ON, "--store", str(register))
    assert "overdue projects" in table, table
    assert re.search(r"U1\s.*1 / 2\s*│\s*A\s*│", table), table
    assert re.search(r"U2\s.*1 / 1\s*│\s*E\s*│", table), table
    by_person = cli("completion", "units", "--date", ON, "--by", "person", "--store", str(register))
    assert re.search(r"p2\s.*0 / 1\s*│\s*│", by_person), by_person
    # A long list is cut after five codes, saying how many more (one more is shown, not counted).
    from cli.completion import _codes

    codes = [f"X-{i}" for i in range(1, 9)]
    assert _codes(codes) == "X-1, X-2, X-3, X-4, X-5 +3 more"
    assert _codes(codes[:6]) == "X-1, X-2, X-3, X-4, X-5, X-6"
    assert _codes([]) == ""


def test_bad_grouping_is_exit_2(register: Path) -> None:
    r = runner.invoke(app, ["completion", "units", "--by", "colour", "--store", str(register)])
    assert r.exit_code == 2 and "colour" in r.output


# ------------------------------------------------------------------ the completion map
def test_the_completion_panel_marks_stale_figures(api: TestClient) -> None:
    page = api.get("/maps/completion", params={"date": ON, "lang": "en"})
    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-kpi="reports_missing" data-value="2"', html)
    item = re.search(r'<li class="vt-behind" data-project="E"[^>]*data-stale="true"', html)
    assert item, "the late project E is marked stale in the late list"
    assert "stale: never reported" in html
    assert '"stale":true' in html.replace(" ", "")  # the popups' project table carries the mark


# ------------------------------------------------------------------ the register kept between reads
def test_the_layer_history_read_is_every_features_history(register: Path, tmp_path: Path) -> None:
    import shutil

    from completion.register import LAYER
    from twin.model import Change

    path = tmp_path / "h.gpkg"
    shutil.copyfile(register, path)
    with Twin.open(path) as twin:
        # a deleted project and one deleted and added again, so the bulk read must mark deletions
        gone = twin.commit([Change(LAYER, "delete", "D")], author="coordinator", message="Drop D")
        record = orjson.loads(twin.feature(LAYER, "C", twin.at_seq(gone.seq - 1)))
        twin.commit([Change(LAYER, "delete", "C")], author="coordinator", message="Drop C")
        twin.commit(
            [Change(LAYER, "add", "C", Feature("C", None, record["properties"]))],
            author="coordinator",
            message="C back",
        )
        whole = twin.layer_history(LAYER)
        assert set(whole) == set(PROJECTS)
        for fid, entries in whole.items():
            assert entries == twin.history(LAYER, fid), fid
        assert [h.op for h in whole["D"]][-1] == "delete" and [h.op for h in whole["C"]][-3:] == [
            "modify",
            "delete",
            "add",
        ]
        # a range: the versions made after one commit, up to another
        mid = twin.at_seq(4)
        part = twin.layer_history(LAYER, mid, twin.at_seq(6))
        for fid, entries in part.items():
            expected = [h for h in twin.history(LAYER, fid) if 4 < h.commit.seq <= 6]
            assert [(h.commit.id, h.op, h.geojson) for h in entries] == [
                (h.commit.id, h.op, h.geojson) for h in expected
            ]


def test_kept_figures_are_the_figures_read_afresh(register: Path, tmp_path: Path) -> None:
    """The state kept between reads, brought forward by reports, gives what a fresh read gives."""
    import shutil

    from completion import cache

    path = tmp_path / "k.gpkg"
    shutil.copyfile(register, path)
    today = date(2026, 10, 22)
    with Twin.open(path) as twin:
        before = Completion(twin).at(today)  # kept, then brought forward below
        for code, pct in (("A", 55.0), ("E", 10.0)):
            report_progress(twin, ProgressReport(code, pct, today), reporter=f"r.{code}", time=_noon("2026-10-22"))
            status, weight, reports = Completion(twin).project_at(code, today)
            assert status.percent == pct and reports[-1].percent == pct
        save_projects(twin, [{"code": "B", "quantity": 900.0}], author="coordinator", message="B grows", time=_noon("2026-10-22"))  # fmt: skip
        kept = Completion(twin).at(today)
        for store in (cache._states, cache._snapshots, cache._latest):
            store.items.clear()
        fresh = Completion(twin).at(today)
        assert kept is not fresh and kept.version == fresh.version != before.version
        assert kept.statuses == fresh.statuses and kept.weights == fresh.weights
        assert {k: [r.commit for r in v] for k, v in kept.reports.items()} == {
            k: [r.commit for r in v] for k, v in fresh.reports.items()
        }
        assert kept.weights["B"] != before.weights["B"]  # the new quantity moved the weights
        assert Completion(twin).project_at("B", today)[1] == fresh.weights["B"]


def test_kept_figures_brought_over_many_commits_are_the_figures_read_afresh(register: Path, tmp_path: Path) -> None:
    """More commits than are read one by one since the kept state: the range read brings it forward."""
    import shutil

    from completion import cache

    path = tmp_path / "m.gpkg"
    shutil.copyfile(register, path)
    today = date(2026, 10, 23)
    with Twin.open(path) as twin:
        before = Completion(twin).at(today)
        for i in range(cache.FEW_COMMITS + 6):
            code = "AB"[i % 2]
            report_progress(twin, ProgressReport(code, 61.0 + i / 10, today, note=f"round {i}"), reporter="r",
                            time=_noon("2026-10-23"))  # fmt: skip
        kept = Completion(twin).at(today)
        for store in (cache._states, cache._snapshots, cache._latest):
            store.items.clear()
        fresh = Completion(twin).at(today)
        assert kept.version == fresh.version != before.version
        assert kept.statuses == fresh.statuses
        assert len(kept.reports["A"]) == len(before.reports["A"]) + (cache.FEW_COMMITS + 6) // 2
        assert {k: [r.commit for r in v] for k, v in kept.reports.items()} == {
            k: [r.commit for r in v] for k, v in fresh.reports.items()
        }


def test_the_layer_history_read_on_postgis(postgis_twin_url: str) -> None:
    """The bulk read gives, on the PostGIS store too, what the per-feature history gives, and the
    figures read through it are the GeoPackage twin's."""
    from completion.register import LAYER

    with Twin.create(postgis_twin_url, LAYERS, AREA_OF_INTEREST) as twin:
        fill(twin)
        whole = twin.layer_history(LAYER)
        assert set(whole) == set(PROJECTS)
        for fid, entries in whole.items():
            assert entries == twin.history(LAYER, fid), fid
        states = Completion(twin).at(ON).report_states()
        assert {k for k, v in states.items() if v.overdue} == {"A", "E"}
