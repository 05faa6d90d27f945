"""The projects that missed opening day, named wherever the home page counts them (a leader's finds).

After opening day the home page's headline said "2 Missed opening day · 1 still not done", and nothing
else named the 2: the map's panel said "Late projects (1)", its legend "Behind 1", the units page
"late 1", the briefing "Late projects (1)", a project reported done after opening day said only
"Done, reported ..." on its page, and the CLI listed the late ones with the imagery's. Each now names
them in the home page's words, those still not done and those done since, each of these with the day
it was reported done. And a report due after opening day (report_due on /completion/missing) is due at
a checkpoint the checkpoints list: T+10, T+20, ... as completion.accountability counts them.

A small register, opening day 2026-11-05: A reported done on 11-20 (after opening day), B not done
(40 %), C done on 10-18 (in time). Today is set with the `today` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from api_server import client
from register_records import noon, project_record
from typer.testing import CliRunner

from completion import Completion
from completion.reports import ProgressReport, report_progress, save_projects
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from web import i18n

D = date.fromisoformat
AFTER = "2026-12-07"  # after opening day (2026-11-05), whatever the machine's clock says
BEFORE = "2026-10-29"


def squashed(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_snapshot_names_those_done_since(late_done: Path, today: Callable[[str], None]) -> None:
    today(AFTER)
    with Twin.open(late_done) as twin:
        snap = Completion(twin).at(AFTER)
        assert [s.project.code for s in snap.missed_opening()] == ["B", "A"]  # still not done, then done since
        assert [(s.project.code, s.done_on) for s in snap.done_since_opening()] == [("A", D("2026-11-20"))]
        assert Completion(twin).at(BEFORE).done_since_opening() == []


@pytest.fixture(scope="module")
def late_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A register of opening day 2026-11-05 (VENUE_TWIN_EXPO_YEAR=2026: by the register alone, E would
    prepare for the next expo, completion.expo): A reported done on 11-20 (after opening day), B not
    done (40 %), E planned to start on 12-20, after the date read (2026-12-07), no report."""
    path = tmp_path_factory.mktemp("missed-late-start") / "register.gpkg"
    records = [project_record(code, "2026-09-01", "2026-10-20") for code in ("A", "B")]
    records.append(project_record("E", "2026-12-20", "2027-01-20"))
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        save_projects(twin, records, author="coordinator", message="Register", time=noon("2026-08-20"))
        for code, pct, day in (("A", 50, "2026-10-10"), ("B", 40, "2026-10-10"), ("A", 100, "2026-11-20")):
            report_progress(twin, ProgressReport(code, pct, D(day)), reporter=f"r.{code}", time=noon(day))
    return path


def test_a_project_planned_to_start_after_the_date_read_missed_opening_day_and_is_still_not_done(
    late_start: Path, today: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read after opening day, E (planned to start after the date read) was not done by opening day:
    it missed it (its forecast says so: missed, p_late 1), and it is still not done, late as the home
    page, the panel, the units page and the CLI count "still not done". It was classed not started
    while counted as missed, so the home page said "3 missed opening day · 1 still not done" beside 1
    done since."""
    monkeypatch.setenv("VENUE_TWIN_EXPO_YEAR", "2026")
    today(AFTER)
    with Twin.open(late_start) as twin:
        snap = Completion(twin).at(AFTER)
        assert snap.opening == D("2026-11-05")
        e = snap.status("E")
        assert e.forecast.missed and e.status == "behind", e.status
        assert sorted(s.project.code for s in snap.late()) == ["B", "E"]
        assert snap.missed_opening() == [*snap.late(), *snap.done_since_opening()]
        assert [s.project.code for s in snap.done_since_opening()] == ["A"]
        assert snap.overall().counts["not_started"] == 0
        # before opening day E is not started, as it was
        assert Completion(twin).at(BEFORE).status("E").status == "not_started"
    with client(late_start) as c:
        home = c.get("/maps", params={"lang": "en"}).text
    assert 'data-kpi="missed" data-value="3" data-not-done="2"' in home


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_panel_names_the_projects_that_missed_opening_day(
    late_done: Path, today: Callable[[str], None], lang: str
) -> None:
    today(AFTER)
    with client(late_done) as c:
        home = c.get("/maps", params={"lang": lang}).text
        page = c.get("/maps/completion", params={"lang": lang}).text
    assert 'data-kpi="missed" data-value="2" data-not-done="1"' in home
    section = re.search(r'<section class="vt-section" data-section="late".*?</section>', page, re.S)
    assert section is not None
    html = section.group(0)
    text = squashed(html)
    # the home page's words and count, then the two parts that add up to it
    assert 'data-missed-count="2"' in html and f"{i18n.label(lang, 'missed_opening_kpi')} (2)" in text, text
    assert i18n.label(lang, "still_not_done", n=1) in text and i18n.label(lang, "done_since_n", n=1) in text
    assert i18n.label(lang, "late_projects") not in text
    assert re.search(r'data-project="B" data-status="behind"', html)
    done = re.search(r'<ul class="vt-late vt-done-since">.*?</ul>', html, re.S)
    assert done is not None and 'data-project="A"' in done.group(0), html
    assert 'data-done-reported="2026-11-20"' in done.group(0)
    assert i18n.label(lang, "missed_done_on", opening="2026-11-05", date="2026-11-20") in squashed(done.group(0))
    assert 'data-project="C"' not in html  # done in time: it did not miss it
    # the legend keys the red ones in the home page's words, and traces the headline
    legend = re.search(r'<section class="vt-section vt-legend-box">.*?</section>', page, re.S)
    assert legend is not None
    assert i18n.label(lang, "missed_not_done") in legend.group(0)
    assert 'data-missed-legend="2"' in legend.group(0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_panel_before_opening_day_is_as_it_was(late_done: Path, today: Callable[[str], None], lang: str) -> None:
    today(BEFORE)
    with client(late_done) as c:
        page = c.get("/maps/completion", params={"lang": lang, "date": BEFORE}).text
    section = re.search(r'<section class="vt-section" data-section="late".*?</section>', page, re.S)
    assert section is not None
    assert i18n.label(lang, "late_projects") in section.group(0) and "data-missed-count" not in section.group(0)
    assert "data-missed-legend" not in page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_project_page_says_it_missed_opening_day(late_done: Path, today: Callable[[str], None], lang: str) -> None:
    today(AFTER)
    with client(late_done) as c:
        page = c.get("/projects/A", params={"f": "html", "lang": lang}).text
        early = c.get("/projects/C", params={"f": "html", "lang": lang}).text
    words = i18n.label(lang, "missed_done_on", opening="2026-11-05", date="2026-11-20")
    assert words in squashed(page) and "data-missed-opening" in page
    assert "data-missed-opening" not in early  # done in time


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_units_page_names_the_projects_that_missed_opening_day(
    late_done: Path, today: Callable[[str], None], lang: str
) -> None:
    today(AFTER)
    with client(late_done) as c:
        doc = c.get("/completion/units", params={"date": AFTER}).json()
        page = c.get("/completion/units", params={"f": "html", "lang": lang}).text
    assert sum(u["missed_opening"] for u in doc["units"]) == 2
    assert sorted(c for u in doc["units"] for c in u["missed_opening_projects"]) == ["A", "B"]
    assert [d for u in doc["units"] for d in u["done_since_opening"]] == [{"code": "A", "reported_done": "2026-11-20"}]
    assert i18n.label(lang, "missed_opening_kpi").startswith(
        i18n.label(lang, "units_missed_head").replace("\u200b", "")
    )
    assert i18n.label(lang, "units_missed_head") in page
    assert 'data-project-link="A" data-done-since="2026-11-20"' in page
    assert i18n.label(lang, "done_since_on", date="2026-11-20") in squashed(page)
    # before opening day: no such fact yet
    today(BEFORE)
    with client(late_done) as c:
        early = c.get("/completion/units", params={"date": BEFORE}).json()
    assert all(u["missed_opening"] is None and u["done_since_opening"] == [] for u in early["units"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_units_sheet_counts_and_names_the_projects_that_missed_opening_day(
    late_done: Path, today: Callable[[str], None], lang: str
) -> None:
    """The units page's Excel after opening day, as the page: headed "Missed opening" and counting
    them (2, not the 1 late), their codes those still not done then those done since, with the day
    (the sheet kept "Late" and its count)."""
    import io

    from openpyxl import load_workbook

    today(AFTER)
    with client(late_done) as c:
        r = c.get("/completion/units", params={"date": AFTER, "f": "xlsx", "lang": lang})
        early = c.get("/completion/units", params={"date": BEFORE, "f": "xlsx", "lang": lang})
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    headings, row = table[2], table[3]
    head = i18n.label(lang, "units_missed_head").replace("\u200b", "")
    codes_head = i18n.label(lang, "units_missed_projects_head").replace("\u200b", "")
    assert i18n.label(lang, "units_late") not in headings and i18n.label(lang, "units_late_projects") not in headings
    count = headings.index(head)
    listed = len(headings) - 1 - headings[::-1].index(codes_head)  # (in Chinese the two headings are one)
    assert count < listed, headings
    separator = i18n.label(lang, "list_separator")
    assert row[count] == 2, row
    assert row[listed] == f"B{separator}A {i18n.label(lang, 'done_since_on', date='2026-11-20')}", row
    # before opening day, as it was
    sheet = load_workbook(io.BytesIO(early.content)).active
    assert sheet is not None
    assert i18n.label(lang, "units_late") in [c.value for c in sheet[3]]


def test_the_cli_names_the_projects_that_missed_opening_day(late_done: Path, today: Callable[[str], None]) -> None:
    from cli.main import app

    today(AFTER)
    r = CliRunner().invoke(app, ["completion", "--store", str(late_done)])
    assert r.exit_code == 0, r.output
    assert "Missed opening day (2): 1 still not done, 1 done since" in r.output, r.output
    assert "Late projects" not in r.output
    assert "done, reported 2026-11-20" in r.output
    r = CliRunner().invoke(app, ["completion", "units", "--store", str(late_done)])
    assert r.exit_code == 0, r.output
    assert "missed opening day" in r.output and "A (done 11-20)" in r.output, r.output


def test_the_briefing_names_the_projects_that_missed_opening_day(late_done: Path, today: Callable[[str], None]) -> None:
    from web.brief import _late_table, gather

    today(AFTER)
    with Twin.open(late_done) as twin:
        comp = Completion(twin)
        facts = gather(twin, comp, comp.at(AFTER), "en")
        table = _late_table(facts, "en")
    assert table.title == "Missed opening day · 1 still not done · 1 done since", table.title
    assert [r[0] for r in table.rows] == ["B", "A"]  # the heading's count, (2), is the rows'
    a = table.rows[1]
    assert "Done, reported 2026-11-20" in a and i18n.label("en", "brief_missed") in a, a


def test_reports_due_after_opening_day_are_due_at_listed_checkpoints(
    late_done: Path, today: Callable[[str], None]
) -> None:
    from cli.main import app

    today(AFTER)
    with client(late_done) as c:
        missing = c.get("/completion/missing", params={"date": AFTER}).json()
        cps = c.get("/completion/checkpoints", params={"date": AFTER}).json()["checkpoints"]
        t30 = c.get("/completion", params={"date": "T+30"})
    due = {r["report_due"] for r in missing["missing"]}
    assert due == {"2026-12-05"}, missing
    listed = {c["date"]: c["checkpoint"] for c in cps}
    assert listed["2026-12-05"] == "T+30" and listed["2026-11-15"] == "T+10", cps
    assert "2026-12-15" not in listed  # after the date read: not yet
    assert t30.status_code == 200 and t30.json()["date"] == "2026-12-05"
    # the snapshot read at T+30 is of that checkpoint, as one read at T-10 is of T-10
    assert t30.json()["checkpoint"] == "T+30", t30.json()["checkpoint"]
    r = CliRunner().invoke(app, ["completion", "checkpoints", "--store", str(late_done)])
    assert r.exit_code == 0, r.output
    assert "T+30 2026-12-05" in r.output, r.output
    r = CliRunner().invoke(app, ["completion", "--store", str(late_done), "--date", "T+30"])
    assert r.exit_code == 0, r.output
    assert "Completion on 2026-12-05 (T+30, 30 days after opening day)" in r.output, r.output
    with Twin.open(late_done) as twin:
        assert Completion(twin).at("T+10").checkpoint == "T+10"
        assert Completion(twin).at("2026-11-16").checkpoint is None


def _imagery_disputes(code: str) -> dict[str, Any]:
    """A made-up flag of the imagery against ``code``'s report of 100 % (the register has no survey):
    a survey of 11-25 shows 20 % of the finished surface."""
    from completion.evidence import Evidence, flag_message

    ev = Evidence(
        code, "venue_renovation", D(AFTER), 100.0, "finished_surface", survey="s1", survey_kind="orthophoto",
        survey_date=D("2026-11-25"), measure=20.0, estimate=20.0, coverage=100.0, flag=True,
        report_date=D("2026-11-20"), compared=100.0, compared_date=D("2026-11-20"),
    )  # fmt: skip
    ev.message = flag_message(ev)
    return {code: ev}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_project_done_since_opening_day_is_not_listed_again_as_the_imagery_disagrees(
    late_done: Path, today: Callable[[str], None], lang: str
) -> None:
    """A (reported done on 11-20, after opening day) is listed under those that missed opening day,
    done since, with its imagery; the panel also listed it under "imagery disagrees" (the CLI left
    it out there by hand), so it was listed twice."""
    from web.data import CompletionView
    from web.panels import completion_panel

    today(AFTER)
    with Twin.open(late_done) as twin:
        snap = Completion(twin).at(AFTER)
        view = CompletionView(snap, [], flags=_imagery_disputes("A"))
        page = completion_panel(twin, view, lang)
    done = re.search(r'<ul class="vt-late vt-done-since">.*?</ul>', page, re.S)
    assert done is not None and 'data-project="A"' in done.group(0), page
    assert 'data-section="imagery-disagrees"' not in page, page  # nothing else disputed


def test_the_briefing_lists_a_project_done_since_opening_day_once(
    late_done: Path, today: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The briefing's late table, read after opening day: A, done since, with its imagery, under
    "Missed opening day", not again under "imagery disagrees"."""
    import web.brief
    from web.brief import _late_table, gather

    flags = _imagery_disputes("A")
    monkeypatch.setattr(web.brief, "snapshot_flags", lambda *a, **k: flags)
    today(AFTER)
    with Twin.open(late_done) as twin:
        comp = Completion(twin)
        facts = gather(twin, comp, comp.at(AFTER), "en")
        table = _late_table(facts, "en")
    assert [r[0] for r in table.rows] == ["B", "A"]
    assert "imagery shows 20 %" in table.rows[1][1], table.rows[1]  # with its imagery
    assert facts.disputed == [], facts.disputed


def test_the_cli_lists_a_project_done_since_opening_day_once(late_done: Path, today: Callable[[str], None]) -> None:
    from rich.console import Console

    from cli.completion import _print_late

    today(AFTER)
    out = Console(width=200, record=True)
    with Twin.open(late_done) as twin:
        snap = Completion(twin).at(AFTER)
        _print_late(out, snap, {"A": "reported 100 % on 11-20, imagery shows 20 % finished surface on 11-25"})
    text = out.export_text()
    assert "Missed opening day (2)" in text and "imagery shows 20 %" in text, text
    assert "Imagery contradicts" not in text, text
