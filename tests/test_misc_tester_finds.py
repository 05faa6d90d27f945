"""An engineer tester's finds on PostGIS and the file store:

- `f=json` refused as an unknown parameter on /versions, /versions/{id}, /diff and a feature's
  history, which every OGC client appends; another f is refused naming the forms the route takes.
- `VENUE_TWIN_TILE_CACHE_MB=-5` (and other numeric settings no process can use) started the server.
- `venue-twin copy` left the survey files out of a copy made where VENUE_TWIN_SURVEY_DIR was set
  (PostGIS → file: served without the variable, "7 of 7 recorded survey file(s) are not in
  …/twin.surveys"), said nothing of files it could not bring, and refused a database destination
  without a survey directory only after copying the whole twin.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import build_venue, client
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from twin import Twin
from twin.copying import copy_twin
from twin.errors import NotFound
from twin.surveys import check_survey_files, list_surveys

runner = CliRunner()


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_venue(tmp_path_factory.mktemp("misc-finds") / "venue.gpkg")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def api(venue: Path) -> Iterator[TestClient]:
    with client(venue) as c:
        yield c


def _json_routes(api: TestClient) -> list[str]:
    head = api.get("/versions?limit=1").json()["versions"][0]["id"]
    return ["/versions", f"/versions/{head}", "/diff?from=HEAD~3", "/collections/halls/items/hall-1.1H/history"]


def test_the_version_routes_take_f_json_and_refuse_another_f_naming_what_they_take(api: TestClient) -> None:
    for path in _json_routes(api):
        plain = api.get(path)
        sep = "&" if "?" in path else "?"
        asked = api.get(f"{path}{sep}f=json")
        assert asked.status_code == 200 and asked.json() == plain.json(), (path, asked.status_code, asked.text)
        bad = api.get(f"{path}{sep}f=xml")
        assert bad.status_code == 400, (path, bad.text)
        detail = bad.json()["detail"]
        assert "f='xml'" in detail and "json" in detail and "unknown query parameter" not in detail, (path, detail)
    # /diff is GeoJSON by default: f=geojson as the items take it, f=json the same body typed as JSON
    assert api.get("/diff?from=HEAD~3&f=geojson").headers["content-type"].startswith("application/geo+json")
    assert api.get("/diff?from=HEAD~3&f=json").headers["content-type"].startswith("application/json")
    assert "geojson" in api.get("/diff?from=HEAD~3&f=html").json()["detail"]


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k))
    return started


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # served tiles with the cache taken as 0 without a word
        ({"VENUE_TWIN_TILE_CACHE_MB": "-5"}, "VENUE_TWIN_TILE_CACHE_MB='-5': takes a number of at least 0"),
        ({"VENUE_TWIN_TILE_CACHE_MB": "nan"}, "VENUE_TWIN_TILE_CACHE_MB='nan': "),  # every tile: 500
        ({"VENUE_TWIN_BASEMAP_MAX_ZOOM": "-1"}, "VENUE_TWIN_BASEMAP_MAX_ZOOM='-1': takes a whole number from 0 to 24"),
        ({"VENUE_TWIN_EXPO_YEAR": "0"}, "VENUE_TWIN_EXPO_YEAR='0': takes a whole number from 1900 to 2200"),
        ({"VENUE_TWIN_CHECKPOINT_DAYS": "999999999"}, "VENUE_TWIN_CHECKPOINT_DAYS='999999999': takes a whole number"),
        # nan passed "not below 0"; inf passed "at_risk_days <= behind_days"
        ({"VENUE_TWIN_EVIDENCE_MARGIN": "nan"}, "VENUE_TWIN_EVIDENCE_MARGIN='nan': "),
        ({"VENUE_TWIN_BEHIND_DAYS": "inf"}, "VENUE_TWIN_BEHIND_DAYS='inf': "),
    ],
)
def test_serve_refuses_a_numeric_setting_it_cannot_use(
    venue: Path, no_server: list[object], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = runner.invoke(app, ["serve", "--store", str(venue)])
    assert r.exit_code == 2 and not no_server, (r.exit_code, no_server, r.output)
    assert said in r.stderr and "Traceback" not in r.output, r.stderr


def test_the_tile_cache_size_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.settings import SettingsError
    from twin.tiles import TileCache

    monkeypatch.setenv("VENUE_TWIN_TILE_CACHE_MB", "0.5")
    assert TileCache.from_environment().max_bytes == 500_000
    monkeypatch.setenv("VENUE_TWIN_TILE_CACHE_MB", "-5")
    with pytest.raises(SettingsError, match="VENUE_TWIN_TILE_CACHE_MB='-5'"):
        TileCache.from_environment()


@pytest.fixture
def surveyed(surveyed_twin: Path, tmp_path: Path) -> Path:
    """A copy of the surveyed twin (6 surveys) with its files beside it, free to break."""
    path = tmp_path / "src" / "venue.gpkg"
    path.parent.mkdir()
    shutil.copyfile(surveyed_twin, path)
    shutil.copytree(surveyed_twin.with_name("venue.surveys"), path.with_name("venue.surveys"))
    return path


def test_a_file_copy_made_with_a_survey_dir_set_has_its_files_beside_it(
    surveyed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on the tester's machine, where VENUE_TWIN_SURVEY_DIR named a PostGIS twin's files: the
    copy found them "already there" and wrote none beside the new file, which served without the
    variable found none."""
    shared = tmp_path / "shared"
    shutil.copytree(surveyed.with_name("venue.surveys"), shared)
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", str(shared))
    out = tmp_path / "out" / "twin.gpkg"
    done = copy_twin(surveyed, out)
    assert done.surveys is not None and done.surveys.recorded == 6 and not done.surveys.problems
    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR")
    assert len(list(out.with_name("twin.surveys").glob("*.tif"))) == 6
    with Twin.open(out) as twin:
        assert check_survey_files(twin) == []


def test_a_copy_checks_the_files_and_says_what_it_could_not_bring(surveyed: Path, tmp_path: Path) -> None:
    """A damaged or missing file at the source is said (with where it belongs), not copied nor
    skipped silently; a damaged file at the destination is replaced by the intact one."""
    with Twin.open(surveyed) as twin:
        infos = list_surveys(twin)
    beside = surveyed.with_name("venue.surveys")
    (beside / infos[0].file_name).unlink()
    (beside / infos[1].file_name).write_bytes(b"not the survey")
    out = tmp_path / "out.gpkg"
    (tmp_path / "out.surveys").mkdir()
    (tmp_path / "out.surveys" / infos[2].file_name).write_bytes(b"damaged at the destination")
    r = runner.invoke(app, ["copy", str(surveyed), str(out)])
    assert r.exit_code == 0, r.output
    assert "4 copied to" in r.stdout, r.stdout
    assert "warning: 2 survey file(s) not brought" in r.stderr, r.stderr
    assert infos[0].file_name in r.stderr and f"{out.with_name('out.surveys') / infos[0].file_name}" in r.stderr
    assert "hashes to" in r.stderr and infos[1].file_name in r.stderr
    with Twin.open(out) as twin:
        problems = check_survey_files(twin)
    assert len(problems) == 2 and all(infos[2].file_name not in p for p in problems), problems


def test_a_twin_with_surveys_goes_to_postgis_and_back_with_its_files(
    surveyed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgis_twin_url: str
) -> None:
    """file → PostGIS without VENUE_TWIN_SURVEY_DIR is refused before anything is copied (it was
    refused after the whole twin was); with it, the files go there; PostGIS → file brings them
    beside the file, which then serves them without the variable."""
    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR", raising=False)
    r = runner.invoke(app, ["copy", str(surveyed), postgis_twin_url])
    assert r.exit_code == 2 and "VENUE_TWIN_SURVEY_DIR is not set" in r.stderr, r.output
    with pytest.raises(NotFound):
        Twin.open(postgis_twin_url).close()  # nothing copied
    shared = tmp_path / "shared"
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", str(shared))
    r = runner.invoke(app, ["copy", str(surveyed), postgis_twin_url])
    assert r.exit_code == 0 and f"6 copied to {shared}" in r.stdout, r.output
    back = tmp_path / "back" / "twin.gpkg"
    r = runner.invoke(app, ["copy", postgis_twin_url, str(back)])
    assert r.exit_code == 0 and f"6 copied to {back.with_name('twin.surveys')}" in r.stdout, r.output
    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR")
    with Twin.open(back) as twin:
        assert check_survey_files(twin) == []
    # and PostGIS → file without the variable: the source's files cannot be found, said before copying
    r = runner.invoke(app, ["copy", postgis_twin_url, str(tmp_path / "again.gpkg")])
    assert r.exit_code == 2 and "VENUE_TWIN_SURVEY_DIR is not set" in r.stderr, r.output
    assert not (tmp_path / "again.gpkg").exists()
