"""`venue-twin init --venue`: a twin holding the venue's layers as they stand, as one commit dated early
enough that a season already under way, imported with its original dates, lands after it — so the
maps and the briefing of that season have the venue to draw its projects on (a coordinator's find: the
README's flow, `init --empty`, gave an empty map on every day of the imported season, and the bundled
twin, whose history ends in late October, refused the register's July dates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.main import ApiSettings, create_app
from cli.main import app as cli
from layers.bundle import venue_changes
from twin import Twin

SAMPLE_PROJECTS = "30"


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's flow with --venue: init --venue, a sample tied to the twin's features, both sheets
    imported with their original dates."""
    d = tmp_path_factory.mktemp("venue-season")
    store, book = d / "season.gpkg", d / "season.xlsx"
    for args in (
        ("init", "--venue", "--store", str(store)),
        ("projects", "sample", str(book), "--projects", SAMPLE_PROJECTS, "-s", str(store)),
        ("projects", "import", str(book), "--original-dates", "-s", str(store), "--author", "office"),
        ("progress", "import", str(book), "--original-dates", "-s", str(store), "--author", "office"),
    ):
        code, out = run(*args)
        assert code == 0, (args, out)
    return store


def test_the_venue_twin_holds_the_venue_as_it_stands_in_one_early_commit(tmp_path: Path) -> None:
    store = tmp_path / "v.gpkg"
    code, out = run("init", "--venue", "--store", str(store))
    assert code == 0, out
    expected: dict[str, set[str]] = {}
    for ch in venue_changes():
        expected.setdefault(ch.layer, set()).add(ch.feature_id)
    with Twin.open(store) as t:
        log = t.log(10)
        assert len(log) == 1, log
        # 00:00 in Shanghai on the bundled initial survey's day (2026-06-15T10:00+08:00)
        assert log[0].time == datetime(2026, 6, 14, 16, 0, tzinfo=UTC), log[0].time
        for layer, ids in expected.items():
            assert set(t.feature_ids(layer)) == ids, layer
        assert t.count("projects") == 0
        # as the history leaves it: the walkway removed on 20 October is not there
        assert "sp-walkway-temp" not in t.feature_ids("south_plaza")
        assert {"halls", "roads", "south_plaza", "landscaping", "venue_boundary"} <= set(expected)


def test_since_dates_the_venue_and_bad_options_are_refused(tmp_path: Path) -> None:
    store = tmp_path / "v.gpkg"
    code, out = run("init", "--venue", "--since", "2026-03-01", "--store", str(store))
    assert code == 0, out
    with Twin.open(store) as t:
        assert t.log(1)[0].time == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    for args, said in (
        (("--venue", "--since", "1 March"), "YYYY-MM-DD"),
        (("--venue", "--since", "2999-01-01"), "after today"),
        (("--since", "2026-03-01"), "goes with --venue"),
        (("--venue", "--empty"), "choose one"),
    ):
        other = tmp_path / "other.gpkg"
        code, out = run("init", *args, "--store", str(other))
        assert code == 2 and said in out, (args, code, out)
        assert not other.exists()


def test_the_sample_ties_each_project_to_a_feature_of_its_area(season: Path, tmp_path: Path) -> None:
    book = tmp_path / "again.xlsx"
    code, out = run("projects", "sample", str(book), "--projects", SAMPLE_PROJECTS, "-s", str(season))
    assert code == 0, out
    sheet = load_workbook(book)["项目清单"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[-1] == "关联要素", header
    area_of = {"南广场": "south_plaza", "展馆": "halls", "道路": "roads", "绿化景观": "landscaping"}
    with Twin.open(season) as t:
        for row in rows[1:]:
            ref = row[-1]
            layer, _, fid = str(ref).partition("/")
            assert layer == area_of[row[header.index("片区")]], row
            assert fid in t.feature_ids(layer), row
    # a category that says where it is puts the project there; each is measured in its own unit
    for row in rows[1:]:
        category, area, unit = row[header.index("类别")], row[header.index("片区")], row[header.index("单位")]
        where = {"配套道路": "道路", "场馆改造": "展馆", "绿化景观": "绿化景观"}.get(category)
        assert where is None or area == where, row
        measured = {"配套道路": "米", "灯光照明": "盏", "导向标识": "项", "交通设施": "项"}.get(category)
        assert measured is None or unit == measured, row
    # without a twin the sample has no such column, as before
    code, out = run("projects", "sample", str(tmp_path / "plain.xlsx"), "--projects", "3")
    assert code == 0 and "关联要素" not in next(
        load_workbook(tmp_path / "plain.xlsx")["项目清单"].iter_rows(values_only=True)
    )


def test_a_sample_needs_a_twin_with_venue_features(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gpkg"
    assert run("init", "--empty", "--store", str(empty))[0] == 0
    code, out = run("projects", "sample", str(tmp_path / "s.xlsx"), "-s", str(empty))
    assert code == 2 and "init --venue" in out, out
    assert not (tmp_path / "s.xlsx").exists()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_imported_season_is_drawn_on_the_venue(season: Path, lang: str) -> None:
    """T-30 of the imported season: the completion map's panel is not the empty twin's, and every
    project is placed on a venue feature."""
    with TestClient(create_app(ApiSettings(store=season))) as c:
        html = c.get("/maps/completion", params={"date": "T-30", "lang": lang}).text
        assert "data-no-features" not in html, html[:3000]
        items = c.get("/collections/projects/items", params={"limit": 100}).json()["features"]
        assert len(items) == int(SAMPLE_PROJECTS)
        for f in items:
            refs = f["properties"]["features"]
            assert refs, f["properties"]
            layer, _, fid = refs[0].partition("/")
            assert c.get(f"/collections/{layer}/items/{fid}").status_code == 200, refs


def test_an_empty_twin_has_no_venue_to_draw_the_season_on(tmp_path: Path) -> None:
    """What --venue mends: the same season in an `init --empty` twin has no venue on its days."""
    store, book = tmp_path / "empty.gpkg", tmp_path / "season.xlsx"
    for args in (
        ("init", "--empty", "--store", str(store)),
        ("projects", "sample", str(book), "--projects", "4"),
        ("projects", "import", str(book), "--original-dates", "-s", str(store), "--author", "office"),
    ):
        code, out = run(*args)
        assert code == 0, (args, out)
    with TestClient(create_app(ApiSettings(store=store))) as c:
        assert "data-no-features" in c.get("/maps/completion", params={"date": "T-30"}).text


def test_a_register_starting_before_the_twins_history_is_told_what_to_do(tmp_path: Path) -> None:
    """A coordinator's find: "commit time … is before the head's …" named neither the sheet's
    earliest start nor a way out. It names both, and the way out works."""
    store, book = tmp_path / "late.gpkg", tmp_path / "season.xlsx"
    assert run("init", "--venue", "--since", "2026-08-01", "--store", str(store))[0] == 0
    assert run("projects", "sample", str(book), "--projects", "6", "-s", str(store))[0] == 0
    code, out = run("projects", "import", str(book), "--original-dates", "-s", str(store), "--author", "office")
    said = " ".join(out.split())
    assert code == 2 and "earliest planned start" in said and "before the twin's last commit" in said, out
    with Twin.open(store) as t:
        assert t.count("projects") == 0 and len(t.log(10)) == 1  # nothing committed
    since = re.search(r"--since (\d{4}-\d{2}-\d{2})", said)
    assert since, out
    assert run("init", "--venue", "--since", since[1], "--force", "--store", str(store))[0] == 0
    code, out = run("projects", "import", str(book), "--original-dates", "-s", str(store), "--author", "office")
    assert code == 0, out
