"""The completion panel read after opening day, its percents, and the reports a project owes (a
leader tester's finds).

- After opening day the panel said its late projects "rest on stale figures … so not necessarily
  late" while each of them said "not reported done by opening day": on or after opening day a
  project not reported done has missed it, stale or not.
- Rounding hid a late project: a unit 99.8 % done read "100% done / 100% planned".
- ``/projects/SP-03?date=2026-11-05`` gave a forecast finish before opening day flagged after it.
- A project starting on a checkpoint day was counted overdue that very day: it owes its first
  report at the first checkpoint after its planned start.

A small register, opening day 2026-11-05, checkpoints every 10 days back from it (…, 09-26, 10-06, 10-16,
10-26, 11-05):

    code  planned          reports   on 10-20                         on 10-27
    E     09-20 → 10-10    none      behind, overdue since 09-26      behind, overdue
    R     10-15 → 10-31    none      owes 10-16: overdue since 10-16  overdue since 10-16
    S     10-16 → 10-31    none      starts on 10-16: owes nothing    owes 10-26: overdue since 10-26
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from api_server import build_venue, client
from fastapi.testclient import TestClient
from register_records import project_record

from completion.reports import save_projects
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from twin.core import SHANGHAI
from web import i18n
from web.brief import api_percent
from web.templating import environment

D = date.fromisoformat
OPENING = "2026-11-05"
TODAY = "2026-12-07"

PROJECTS = {
    # code: (start, finish)
    "E": ("2026-09-20", "2026-10-10"),
    "R": ("2026-10-15", "2026-10-31"),
    "S": ("2026-10-16", "2026-10-31"),
}


def squashed(html: str) -> str:
    """A page's text: its tags gone, its spaces one."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("after-opening") / "register.gpkg"
    records = [project_record(code, start, finish) for code, (start, finish) in PROJECTS.items()]
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        at = datetime.combine(D("2026-08-20"), time(12), SHANGHAI)
        save_projects(twin, records, author="coordinator", message="Register", time=at)
    return path


@pytest.fixture(scope="module")
def small(register: Path) -> Iterator[TestClient]:
    with client(register) as c:
        yield c


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with client(build_venue(tmp_path_factory.mktemp("after-opening-bundled") / "venue.gpkg")) as c:
        yield c


# ------------------------------------------------------------------ 1. the stale note after opening day
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_after_opening_day_the_stale_note_does_not_doubt_the_lateness(
    small: TestClient, today: Callable[[str], None], lang: str
) -> None:
    today(TODAY)
    # before opening day a stale figure may understate a project: not necessarily late
    before = small.get("/maps/completion", params={"date": "2026-10-20", "lang": lang})
    assert before.status_code == 200
    assert 'data-stale-late="2"' in before.text  # E and R: behind, never reported (S owes nothing yet)
    assert i18n.label(lang, "stale_in_late", n=2) in squashed(before.text)
    # on opening day and after it a project not reported done has missed it: stale or not, it is late
    for day in (OPENING, TODAY):
        page = small.get("/maps/completion", params={"date": day, "lang": lang})
        assert page.status_code == 200
        n = int(re.search(r'data-stale-late="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
        assert n == 3, day  # E, R and S: none reported, all late
        text = squashed(page.text)
        assert i18n.label(lang, "stale_in_late", n=n) not in text, day
        assert i18n.label(lang, "stale_in_late_after_opening", n=n) in text, day
        # each card says it missed opening day, and the note says nothing against it
        assert text.count(i18n.label(lang, "not_done_by_opening")) >= n
        assert "necessarily" not in text and "未必" not in text


# ------------------------------------------------------------------ 2. a percent below 100 never reads 100
def test_the_shared_percent_formatting_keeps_off_the_ends_not_reached() -> None:
    assert i18n.fmt_percent(99.8) == "99%"
    assert i18n.fmt_percent(99.5) == "99%"
    assert i18n.fmt_percent(0.2) == "1%"
    assert i18n.fmt_percent(100.0) == "100%" and i18n.fmt_percent(0.0) == "0%"
    assert i18n.fmt_percent(62.5) == "63%" and i18n.fmt_percent(62.4) == "62%"  # half up elsewhere
    assert i18n.fmt_percent(None) == "–"
    # the pages' filters: the units table's one place, the project page's whole percents
    figure, percent = environment().filters["percent_figure"], environment().filters["percent"]
    assert figure(99.96, 1) == "99.9" and figure(99.84, 1) == "99.8" and figure(100.0, 1) == "100.0"
    assert figure(0.04, 1) == "0.1" and figure(0.0, 1) == "0.0"
    assert percent(99.6) == "99%" and percent(100.0) == "100%"
    # the briefing's, as /completion's JSON writes it
    assert api_percent(99.999) == "99.99%" and api_percent(0.001) == "0.01%"
    assert api_percent(94.79) == "94.79%" and api_percent(100.0) == "100.0%"


def test_a_unit_below_100_percent_never_reads_100_on_the_panel(bundled: TestClient) -> None:
    units = bundled.get("/completion/units", params={"date": OPENING, "by": "unit"}).json()["units"]
    below = [u for u in units if u["actual_percent"] < 100.0]
    assert any(u["actual_percent"] >= 99.5 for u in below), "a unit that rounds to 100 (Qingpu, 99.8 %)"
    page = bundled.get("/maps/completion", params={"date": OPENING, "lang": "en"})
    assert page.status_code == 200
    for u in below:
        li = re.search(r'<li class="vt-unit[^"]*" data-unit="' + re.escape(u["key"]) + r'".*?</li>', page.text, re.S)
        assert li is not None, u["key"]
        text = squashed(li.group(0))
        assert "100% done" not in text, (u["key"], u["actual_percent"], text)
        assert i18n.fmt_percent(u["actual_percent"]) + " done" in text
    # the late list: every project in it is below 100 %
    late = re.search(r'data-section="late".*?</section>', page.text, re.S)
    assert late is not None and "100% done" not in squashed(late.group(0))


# ------------------------------------------------------------------ 3. the forecast's JSON
@pytest.mark.parametrize("day", ["2026-11-04", OPENING, "2026-11-06", TODAY])
def test_a_forecast_s_json_is_consistent_around_opening_day(bundled: TestClient, day: str) -> None:
    projects = bundled.get("/projects", params={"date": day}).json()["projects"]
    open_ = [p for p in projects if p["percent"] < 100.0]
    assert open_
    checked = 0
    for p in open_:
        doc = bundled.get(f"/projects/{p['code']}", params={"date": day}, headers={"Accept": "application/json"})
        assert doc.status_code == 200
        q: dict[str, Any] = doc.json()["project"]
        f = q["forecast"]
        why = (day, q["code"], f)
        assert q["missed_opening"] is f["missed_opening"] is (day >= OPENING), why
        if f["finish"] is not None:
            checked += 1
            assert q["forecast_finish"] == f["finish"], why
            # a project not reported done on the date read finishes on it at the earliest
            assert f["finish"] >= day, why
        assert q["forecast_passed"] is (f["passed_finish"] is not None), why
        if f["passed_finish"] is not None:
            assert f["passed_finish"] < day, why  # gone by: before the date read
        if f["finish"] is None:
            continue
        if f["after_opening"]:
            assert f["finish"] > OPENING or f["missed_opening"], why  # flagged after opening day: after it
        if f["missed_opening"]:
            # missed opening day: flagged, certain, and finishing after it
            assert f["after_opening"] is True and f["p_late"] == 1.0 and f["finish"] >= OPENING, why
        elif f["finish"] > OPENING:
            assert f["p_late"] > 0.0, why
    assert checked
    if day == OPENING:
        sp03 = bundled.get("/projects/SP-03", params={"date": day}, headers={"Accept": "application/json"}).json()
        f = sp03["project"]["forecast"]
        # the tester's "finish 2026-11-02, after_opening true": 11-02 is the finish that passed
        assert f["passed_finish"] == "2026-11-02" and f["finish"] > OPENING and f["after_opening"], f


# ------------------------------------------------------------------ 4. the first report owed
def missing(api: TestClient, day: str) -> dict[str, dict[str, str]]:
    r = api.get("/completion/missing", params={"date": day, "f": "csv"})
    assert r.status_code == 200
    return {row["code"]: row for row in csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff")))}


def panel_missing(api: TestClient, day: str) -> int:
    page = api.get("/maps/completion", params={"date": day, "lang": "en"}).text
    return int(re.search(r'data-kpi="reports_missing" data-value="(\d+)"', page).group(1))  # type: ignore[union-attr]


def test_a_project_starting_on_a_checkpoint_day_owes_its_first_report_at_the_next(small: TestClient) -> None:
    # on 10-20 the due checkpoint is 10-16: S starts that day and owes nothing yet; R started the day
    # before and owes it
    rows = missing(small, "2026-10-20")
    assert set(rows) == {"E", "R"}, rows
    assert rows["R"]["report_due"] == "2026-10-16" and rows["R"]["due_since"] == "2026-10-16"
    assert rows["E"]["due_since"] == "2026-09-26"  # the first checkpoint after its start (09-20)
    assert panel_missing(small, "2026-10-20") == 2
    s = small.get("/projects/S", params={"date": "2026-10-20"}, headers={"Accept": "application/json"}).json()
    assert s["project"]["report_due"] is None and s["project"]["stale"] is False, s["project"]
    units = small.get("/completion/units", params={"date": "2026-10-20"}).json()["units"]
    assert [(u["reports_due"], u["reports_overdue"]) for u in units] == [(2, 2)]
    # on 10-27 the due checkpoint is 10-26, the first after S's start: it owes it, due since then
    rows = missing(small, "2026-10-27")
    assert set(rows) == {"E", "R", "S"}, rows
    assert rows["S"]["report_due"] == "2026-10-26" and rows["S"]["due_since"] == "2026-10-26"
    assert rows["R"]["due_since"] == "2026-10-16"
    assert panel_missing(small, "2026-10-27") == 3
