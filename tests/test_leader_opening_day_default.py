"""The default date after opening day, and the at-risk projects named (a leader's finds in Chromium).

- After opening day the home page, the completion map, the units page, the briefing and the CLI
  opened on T-10 (the latest checkpoint with reports): 3 late projects, while 12 had missed opening
  day. On opening day and after it a view without a date now opens on today, the standing that
  counts then (completion.landing), and the home page's headline is the projects that missed
  opening day (not done by it, done since or not) with how many are still not done. Before opening
  day nothing changes: after a checkpoint, before its round of reports, the views still land on it.
- The panel's legend and the units table counted the at-risk projects and named none; they are now
  listed as the late ones are: code and name, linked to their project's page of the same date.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from api_server import build_venue, client
from fastapi.testclient import TestClient

from completion import Completion
from completion.landing import landing_date
from twin import Twin
from web import i18n

D = date.fromisoformat
OPENING = "2026-11-05"
AFTER = "2026-12-07"  # a day after opening day, whatever the machine's clock says (the `today` fixture)
BEFORE = "2026-10-29"  # after T-10 (10-26), before its next round of reports: the views land on T-10
T10 = "2026-10-26"


def squashed(html: str) -> str:
    """A page's text: its tags gone, its spaces one."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("leader-default") / "venue.gpkg")


@pytest.fixture(scope="module")
def api(store: Any) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


# ------------------------------------------------------------------ 1. the default date on and after opening day
def test_on_opening_day_and_after_it_the_views_open_on_today(store: Any) -> None:
    with Twin.open(store) as twin:
        for day in (OPENING, AFTER, "2027-01-10"):  # a season looked back on keeps its opening day
            landing = landing_date(twin, D(day))
            assert (landing.on, landing.moved, landing.reason) == (D(day), False, None), landing
            assert landing.newest_report == D(T10), landing  # the bundled reports stop at T-10
        # before opening day, as it was: after a checkpoint, before its round of reports, that checkpoint
        early = landing_date(twin, D(BEFORE))
        assert (early.on.isoformat(), early.checkpoint, early.reason) == (T10, "T-10", "no_reports_since_checkpoint")
        assert not landing_date(twin, D(T10)).moved
        # the day before opening day too: the latest checkpoint with reports, T-10
        assert landing_date(twin, D("2026-11-04")).on == D(T10)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_after_opening_day_the_home_page_counts_the_projects_that_missed_it(
    api: TestClient, store: Any, today: Callable[[str], None], lang: str
) -> None:
    today(AFTER)
    with Twin.open(store) as twin:
        snap = Completion(twin).at(AFTER)
    missed = [s.project.code for s in snap.statuses if s.percent < 100]
    assert len(missed) == 12, missed  # the bundled season: 12 not done by opening day, none done since
    html = api.get("/maps", params={"lang": lang}).text
    group = html[html.index('<div class="kpi-group') :]
    group = group[: group.index('data-kpi="done"')]
    # the figures are today's, not T-10's, and not marked as another day's
    assert f'data-as-of="{AFTER}"' in group and 'class="kpi-group moved"' not in group, group
    assert 'data-landed="' not in html
    assert 'data-kpi="missed" data-value="12" data-not-done="12"' in group, group
    assert i18n.label(lang, "missed_opening_kpi") in squashed(group)
    assert 'data-kpi="late"' not in group  # T-10's "3 late" headline is gone
    assert 'data-kpi="days" data-value="-32"' in html  # 32 days since opening day


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_before_opening_day_the_home_page_is_as_it_was(
    api: TestClient, today: Callable[[str], None], lang: str
) -> None:
    today(BEFORE)
    html = api.get("/maps", params={"lang": lang}).text
    assert f'data-landed="{T10}"' in html and 'class="kpi-group moved"' in html
    assert 'data-kpi="late"><b>3</b>' in html and 'data-kpi="missed"' not in html


def test_the_missed_count_keeps_a_project_done_after_opening_day(late_done: Path, today: Callable[[str], None]) -> None:
    """A missed opening day, done since: it missed it all the same (B is the one still not done)."""
    today(AFTER)
    with client(late_done) as c:
        html = c.get("/maps", params={"lang": "en"}).text
    assert 'data-kpi="missed" data-value="2" data-not-done="1"' in html, html[:4000]
    text = squashed(html)
    assert "Missed opening day" in text and "1 still not done" in text
    with Twin.open(late_done) as twin:
        snap = Completion(twin).at(AFTER)
        assert sorted(s.project.code for s in snap.missed_opening()) == ["A", "B"]
        assert Completion(twin).at("2026-11-04").missed_opening() == []  # before opening day: not a fact yet


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_after_opening_day_the_map_and_the_units_page_open_on_today(
    api: TestClient, today: Callable[[str], None], lang: str
) -> None:
    today(AFTER)
    page = api.get("/maps/completion", params={"lang": lang})
    assert page.status_code == 200
    assert 'data-landed="' not in page.text  # no "Showing T-10" banner
    assert 'data-late-count="12"' in page.text
    assert 'data-kpi="days" data-value="-32"' in page.text
    units = api.get("/completion/units", params={"f": "html", "lang": lang})
    assert units.status_code == 200
    assert 'data-landed="' not in units.text
    assert f"date={AFTER}" in units.text and f"date={T10}" not in units.text
    late = re.findall(r'data-project-link="([^"]+)"', units.text)
    assert len(set(late)) == 12, late  # every project that missed opening day, linked (none at risk now)
    # before opening day, as it was: T-10, said
    today(BEFORE)
    page = api.get("/maps/completion", params={"lang": lang})
    assert f'data-landed="{T10}"' in page.text and 'data-late-count="3"' in page.text


def test_after_opening_day_the_cli_and_the_briefing_open_on_today(store: Any, today: Callable[[str], None]) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from web.brief import date_note

    today(AFTER)
    r = CliRunner().invoke(app, ["completion", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert f"Completion on {AFTER} (32 days after opening day)" in r.output, r.output[:800]
    assert "Showing T-10" not in r.output and "Missed opening day (12)" in r.output
    with Twin.open(store) as twin:
        snap = Completion(twin).at(AFTER)
        assert date_note(twin, snap, None, None) is None  # today's paper: no "latest checkpoint" note
    today(BEFORE)
    r = CliRunner().invoke(app, ["completion", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert f"Showing T-10 ({T10}), the latest checkpoint with reports" in r.output


# ------------------------------------------------------------------ 2. the at-risk projects named
def _at_risk(api: TestClient, day: str) -> list[dict[str, Any]]:
    doc = api.get("/projects", params={"date": day, "status": "at_risk"}).json()
    return list(doc["projects"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_panel_names_the_at_risk_projects_as_the_late_ones(api: TestClient, lang: str) -> None:
    at_risk = _at_risk(api, T10)
    assert len(at_risk) == 3, at_risk  # the legend's count at T-10
    page = api.get("/maps/completion", params={"date": T10, "lang": lang}).text
    section = re.search(r'<section class="vt-section" data-section="at-risk">.*?</section>', page, re.S)
    assert section is not None, "no at-risk section on the panel"
    html = section.group(0)
    assert i18n.label(lang, "at_risk_projects") in html and 'data-at-risk-count="3"' in html
    for p in at_risk:
        code = p["code"]
        name = p["name_en"] if lang == "en" else p["name_zh"]
        li = re.search(r'<li class="vt-at_risk" data-project="' + re.escape(code) + r'".*?</li>', html, re.S)
        assert li is not None, code
        assert f'href="/projects/{code}?f=html&amp;date={T10}&amp;lang={lang}"' in li.group(0)  # as the late ones
        assert f"{code} {name}" in squashed(li.group(0)), li.group(0)
    # the late list is as it was: the behind ones only
    late = re.search(r'data-section="late".*?</section>', page, re.S)
    assert late is not None and not any(f'data-project="{p["code"]}"' in late.group(0) for p in at_risk)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_units_table_names_the_at_risk_projects(api: TestClient, lang: str) -> None:
    at_risk = {p["code"]: p for p in _at_risk(api, T10)}
    doc = api.get("/completion/units", params={"date": T10}).json()
    listed = {c: u["key"] for u in doc["units"] for c in u["at_risk_projects"]}
    assert listed.keys() == at_risk.keys(), doc["units"]
    assert all(len(u["at_risk_projects"]) == u["at_risk"] for u in doc["units"])
    assert all(listed[c] == p["responsible_unit"] for c, p in at_risk.items())
    table = api.get("/completion/units", params={"date": T10, "f": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(table.removeprefix("\ufeff"))))
    assert {c for r in rows for c in r["at_risk_projects"].split(";") if c} == at_risk.keys()
    page = api.get("/completion/units", params={"date": T10, "f": "html", "lang": lang}).text
    for code, p in at_risk.items():
        # under the unit's at-risk count (a column of their own ran the printed table past A4)
        unit = re.escape(p["responsible_unit"])
        cell = re.search(r'<td class="n" data-at-risk="' + unit + r'">\d+<br>.*?</td>', page, re.S)
        assert cell is not None, code
        name = p["name_en"] if lang == "en" else p["name_zh"]
        link = f'<a href="http://testserver/projects/{code}?f=html&amp;date={T10}&amp;lang={lang}" '
        assert link + f'data-project-link="{code}" title="{name}">' in cell.group(0), cell.group(0)
