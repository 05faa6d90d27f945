"""The read side of survey evidence: a survey whose file this server cannot read is passed over
(never a 400/500 on completion, the maps, the briefing or the project pages); the versions the
evidence names reproduce it; flights of one day are taken in recording order; the default date
is the completion views'; bad settings are named at the CLI and stop `serve` at startup."""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from typer.testing import CliRunner

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app
from completion.evidence import EvidenceSettings, all_evidence, kind_problem, project_evidence
from completion.landing import landing_date
from completion.snapshot import Completion
from layers.demo_surveys import LAGGING
from twin import Twin
from twin.settings import SettingsError, TwinSettings, survey_dir_problem
from twin.survey_read import SurveyFileUnavailable, readable_survey_file
from web.evidence_page import reason_text

T10, T30 = "2026-10-26", "2026-10-06"
runner = CliRunner()


@pytest.fixture
def copied(surveyed_twin: Path, tmp_path: Path) -> Path:
    """A copy of the surveyed twin (tests/conftest.py) and its survey files, free to break."""
    path = tmp_path / "venue.gpkg"
    shutil.copyfile(surveyed_twin, path)
    shutil.copytree(surveyed_twin.with_name("venue.surveys"), tmp_path / "venue.surveys")
    return path


def ndvi(twin: Twin, on: str):
    return next(s for s in twin.surveys(kind="ndvi") if s.date.isoformat() == on)


def green(path: Path, value: float = 0.85) -> Path:
    """An NDVI raster (EPSG:4549, 1 m) of one value over all of LS-04's lawns."""
    a = np.full((1, 600, 950), value, np.float32)
    with rasterio.open(
        path, "w", driver="GTiff", width=950, height=600, count=1, dtype="float32", crs="EPSG:4549",
        transform=from_origin(623_200, 3_453_050, 1.0, 1.0), nodata=-9999.0,
    ) as out:  # fmt: skip
        out.write(a)
    return path


# ---------------------------------------------------------------------------- 1. unreadable files
def test_a_missing_survey_file_is_passed_over_and_said(copied: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Tester's report: the T-10 NDVI file missing on a server took /completion, /brief and the
    project's evidence down with 400 "not a readable raster". Now the next older NDVI flight
    speaks, the evidence says which survey was skipped and why, and the log warns once."""
    with Twin.open(copied) as twin:
        t10, t30 = ndvi(twin, T10), ndvi(twin, T30)
        twin.survey_path(t10).unlink()
        caplog.set_level(logging.WARNING, logger="venue_twin.surveys")
        items = {e.code: e for e in all_evidence(twin, T10)}
        again = project_evidence(twin, LAGGING, on=T10)
        with pytest.raises(SurveyFileUnavailable, match=rf"{t10.file_name}: file missing on this server"):
            readable_survey_file(twin, t10)
    lag = items[LAGGING]
    note = f"survey {t10.id} unavailable: file missing on this server"
    assert lag.survey == t30.id and lag.estimate is not None and lag.skipped == (note,), lag
    assert lag.to_dict()["skipped_surveys"] == [note] and again.skipped == (note,)
    assert items["RD-08"].skipped == ()  # the orthophotos are all there
    warnings = [r for r in caplog.records if t10.id in r.getMessage()]
    assert len(warnings) == 1 and "VENUE_TWIN_SURVEY_DIR" in warnings[0].getMessage()
    # Every page that reads the evidence answers.
    with TestClient(create_app(ApiSettings(store=copied))) as api:
        for url in (f"/completion?date={T10}", f"/projects/{LAGGING}/evidence?date={T10}", f"/evidence?date={T10}",
                    f"/completion/late?date={T10}", f"/projects/{LAGGING}?date={T10}"):  # fmt: skip
            r = api.get(url)
            assert r.status_code == 200, (url, r.text)
        ev = api.get(f"/projects/{LAGGING}/evidence?date={T10}").json()["evidence"]
        assert ev["skipped_surveys"] == [note] and ev["survey"] == t30.id
        html = api.get("/maps/completion", params={"date": T10, "lang": "en"}, headers={"Accept": "text/html"})
        assert html.status_code == 200
        # Named, the missing survey gives no estimate and says why (not a 400).
        named = api.get(f"/projects/{LAGGING}/evidence", params={"date": T10, "survey": t10.id})
        assert named.status_code == 200 and named.json()["evidence"]["reason"] == note
        assert named.json()["evidence"]["reason_code"] == "survey_unavailable"
        assert named.json()["evidence"]["reason_values"] == {"survey": t10.id, "why": "file missing on this server"}
    # The CLI shows it beside the figures.
    r = runner.invoke(app, ["evidence", LAGGING, "--date", T10, "--store", str(copied)], env={"COLUMNS": "400"})
    assert r.exit_code == 0 and note in r.output, r.output
    # With no other NDVI flight since the lawns' start the reason is the skip itself.
    with Twin.open(copied) as twin:
        twin.survey_path(t30).unlink()
        lag = project_evidence(twin, LAGGING, on=T10)
    assert lag.estimate is None and lag.survey is None and lag.reason is not None
    assert lag.reason.startswith(note) and f"survey {t30.id} unavailable" in lag.reason
    assert lag.reason_code == "surveys_unavailable" and lag.reason_values == {"surveys": f"{t10.id}, {t30.id}"}
    assert reason_text("zh", lag) == f"本服务器读取不到航测影像 {t10.id}、{t30.id} 的文件"


def test_a_file_unlike_its_record_or_unreadable_is_passed_over(copied: Path, tmp_path: Path) -> None:
    """A file whose bands are not its record's (an "orthophoto" of one band answered 400 "not an RGB
    survey") and a file overwritten with garbage are passed over like a missing one; the older
    survey speaks."""
    with Twin.open(copied) as twin:
        ortho = next(s for s in twin.surveys(kind="orthophoto") if s.date.isoformat() == T10)
        assert kind_problem(replace(ortho, band_count=1)) == "not an RGB survey (it has 1 band)"
        twin.survey_path(ortho).chmod(0o644)
        shutil.copyfile(green(tmp_path / "one-band.tif"), twin.survey_path(ortho))
        rd = project_evidence(twin, "RD-08", on=T10)
        assert rd.estimate is not None and rd.survey_date == date.fromisoformat(T30), rd
        assert rd.skipped == (f"survey {ortho.id} unavailable: its file has 1 band(s), its record 3",)
        t10 = ndvi(twin, T10)
        twin.survey_path(t10).chmod(0o644)
        twin.survey_path(t10).write_bytes(b"II*\x00 not a tiff at all")
        lag = project_evidence(twin, LAGGING, on=T10)
        assert lag.survey_date == date.fromisoformat(T30) and lag.estimate is not None
        (note,) = lag.skipped
        assert note.startswith(f"survey {t10.id} unavailable: file unreadable on this server"), note
        assert str(copied.parent) not in note  # the server's path is not given out


def test_a_survey_imported_changes_the_flags_of_a_completion_already_served(copied: Path, tmp_path: Path) -> None:
    """/completion's document was kept with its snapshot (the twin as of the date), but its imagery
    flags come from the surveys at the head: a flight imported while the server ran left a dated
    /completion with the flag it had before (as did another twin of the same history, in tests)."""
    with TestClient(create_app(ApiSettings(store=copied))) as api:

        def flags() -> dict[str, str | None]:
            r = api.get("/completion", params={"date": T10})
            assert r.status_code == 200, r.text
            return {p["code"]: p["evidence_flag"] for p in r.json()["late"]}

        assert flags()[LAGGING]  # the T-10 NDVI shows the lawns behind their report
        with Twin.open(copied) as twin:  # the same day flown again, all green: the later record speaks
            twin.import_survey(
                green(tmp_path / "green.tif"), kind="ndvi", on=date.fromisoformat(T10), author="drone.team"
            )
        assert flags().get(LAGGING) is None  # not late, or late without a flag


# ---------------------------------------------------------------------------- 2. versions
def test_the_versions_the_evidence_names_reproduce_it(copied: Path, tmp_path: Path) -> None:
    """Tester's report: `evidence --date D` named the twin as of D as its version, read the surveys
    at the head, and asked again with that version said "no ndvi survey flown ..." (it was flown,
    only recorded later). The output names the surveys' version too, and both given back give the
    same figures; the version alone says the survey was recorded later."""
    with Twin.open(copied) as twin:
        twin.import_survey(green(tmp_path / "lawns.tif"), kind="ndvi", on=date(2026, 10, 28), author="drone.team")
    day = "2026-10-30"
    r = runner.invoke(app, ["evidence", LAGGING, "--date", day, "--json", "--store", str(copied)])
    assert r.exit_code == 0, r.output
    doc = orjson.loads(r.output)
    (ev,) = doc["evidence"]
    with Twin.open(copied) as twin:
        head = twin.resolve().commit
        assert head is not None and doc["surveys_version"] == head.id != doc["version"]
        later = next(s for s in twin.surveys(kind="ndvi") if s.date == date(2026, 10, 28))
    assert ev["survey"] == later.id and ev["estimate_percent"] >= 95
    both = ["--version", doc["version"], "--surveys-version", doc["surveys_version"]]
    r = runner.invoke(app, ["evidence", LAGGING, "--date", day, "--json", *both, "--store", str(copied)])
    assert r.exit_code == 0, r.output
    assert orjson.loads(r.output)["evidence"] == doc["evidence"]
    # The reports' version alone reads the surveys it recorded: the lawns' flights were recorded
    # after it (the demo surveys too), and the reason says so rather than "none flown".
    r = runner.invoke(app, ["evidence", LAGGING, "--date", day, "--json", "--version", doc["version"],
                            "--store", str(copied)])  # fmt: skip
    (alone,) = orjson.loads(r.output)["evidence"]
    assert alone["estimate_percent"] is None
    assert re.fullmatch(
        rf"no ndvi survey recorded by version {doc['version'][:12]} \(surveys_version\) flown between its "
        rf"planned start 2026-09-01 and {day}; survey {later.id}, flown 2026-10-28, was recorded later, "
        rf"in {later.commit[:12]}",
        alone["reason"],
    ), alone["reason"]
    assert alone["reason_code"] == "no_survey_recorded" and alone["reason_values"]["survey"] == later.id
    # The same over HTTP.
    with TestClient(create_app(ApiSettings(store=copied))) as api:
        got = api.get(f"/projects/{LAGGING}/evidence", params={"date": day}).json()
        assert got["surveys_version"] == doc["surveys_version"] and got["version"] == doc["version"]
        again = api.get(f"/projects/{LAGGING}/evidence", params={"date": day, "version": doc["version"],
                                                                 "surveys_version": doc["surveys_version"]})  # fmt: skip
        assert again.json()["evidence"] == got["evidence"]
        bad = api.get("/evidence", params={"date": day, "surveys_version": "HEAD~x"})
        assert bad.status_code == 400 and "surveys_version" in bad.text


# ---------------------------------------------------------------------------- 3. same-day flights
def test_flights_of_one_day_are_taken_in_recording_order(surveyed_twin: Path, tmp_path: Path) -> None:
    """Tester's report: of four NDVI surveys dated one day the evidence took the second recorded
    (by id). The one recorded last speaks, whichever id it has."""
    for first, second in ((0.85, 0.2), (0.2, 0.85)):
        here = tmp_path / f"run{first}"
        here.mkdir()
        path = here / "venue.gpkg"
        shutil.copyfile(surveyed_twin, path)
        shutil.copytree(surveyed_twin.with_name("venue.surveys"), here / "venue.surveys")
        with Twin.open(path) as twin:
            for value in (first, second):
                twin.import_survey(green(here / f"{value}.tif", value), kind="ndvi", on=date(2026, 10, 28),
                                   author="drone.team")  # fmt: skip
            last = max(
                (s for s in twin.surveys(kind="ndvi") if s.date == date(2026, 10, 28)),
                key=lambda s: twin.resolve(s.commit).seq,
            )  # fmt: skip
            ev = project_evidence(twin, LAGGING, on="2026-10-30")
        assert ev.survey == last.id, (first, second, ev)
        assert (ev.estimate or 0) >= 95 if second == 0.85 else (ev.estimate or 0) <= 5


# ---------------------------------------------------------------------------- 4. default date
def test_evidence_opens_on_the_date_completion_does(surveyed_twin: Path, today: Callable[[str], None]) -> None:
    """`venue-twin evidence` and /evidence defaulted to today; `completion` and `brief` to the
    landing date (before opening day and a round of reports: the latest checkpoint with reports),
    saying so."""
    today("2026-11-04")  # after T-10, before its next round of reports
    with Twin.open(surveyed_twin) as twin:
        landing = landing_date(twin)
    assert landing.moved and landing.on.isoformat() == T10, landing
    r = runner.invoke(app, ["evidence", "--json", "--store", str(surveyed_twin)])
    assert r.exit_code == 0, r.output
    assert orjson.loads(r.stdout)["date"] == landing.on.isoformat()
    assert "today for today's figures" in r.stderr
    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as api:
        doc = api.get("/evidence").json()
        assert doc["date"] == landing.on.isoformat() and doc["landing"]["date"] == landing.on.isoformat()
        assert "today" in doc["landing"]["note"]
        assert "landing" not in api.get("/evidence", params={"date": T10}).json()


# ---------------------------------------------------------------------------- 5. settings
def test_bad_settings_are_named(surveyed_twin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VENUE_TWIN_EVIDENCE_MARGIN=abc gave a pydantic traceback (exit 1); MIN_COVERAGE=50 let the
    server start and answer 500. The CLI exits 2 naming the variable; serve refuses to start."""
    r = runner.invoke(app, ["evidence", "--date", T10, "--store", str(surveyed_twin)],
                      env={"VENUE_TWIN_EVIDENCE_MARGIN": "abc"})  # fmt: skip
    assert r.exit_code == 2 and "VENUE_TWIN_EVIDENCE_MARGIN='abc'" in r.stderr and "number" in r.stderr, r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["completion", "late", "--date", T10, "--store", str(surveyed_twin)],
                      env={"VENUE_TWIN_CHECKPOINT_DAYS": "0"})  # fmt: skip
    assert r.exit_code == 2 and "VENUE_TWIN_CHECKPOINT_DAYS" in r.stderr, r.output
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("VENUE_TWIN_EVIDENCE_MIN_COVERAGE", "50")
    r = runner.invoke(app, ["serve", "--store", str(surveyed_twin)])
    assert r.exit_code == 2 and not started, r.output
    assert "VENUE_TWIN_EVIDENCE_MIN_COVERAGE=50: takes a share from 0 to 1" in r.stderr
    monkeypatch.delenv("VENUE_TWIN_EVIDENCE_MIN_COVERAGE")
    monkeypatch.setenv("VENUE_TWIN_BASEMAP_DATUM", "gcj")
    r = runner.invoke(app, ["serve", "--store", str(surveyed_twin)])
    assert r.exit_code == 2 and "VENUE_TWIN_BASEMAP_DATUM='gcj'" in r.stderr and not started
    monkeypatch.delenv("VENUE_TWIN_BASEMAP_DATUM")
    with pytest.raises(SettingsError, match="VENUE_TWIN_EVIDENCE_PLANTED_SHARE=0"):
        EvidenceSettings(evidence_planted_share=0)


# ---------------------------------------------------------------------------- the survey directory
def test_a_database_twin_needs_an_absolute_survey_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://x@127.0.0.1/venue"
    assert survey_dir_problem("data/venue-twin.gpkg", None) is None
    assert survey_dir_problem("data/venue-twin.gpkg", "rel/surveys") is None
    assert "not set" in (survey_dir_problem(url, None) or "")
    assert "relative" in (survey_dir_problem(url, "data/surveys") or "")
    assert survey_dir_problem(url, "/srv/venue/surveys") is None
    monkeypatch.setenv("VENUE_TWIN_STORE", url)
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", "data/surveys")
    with pytest.raises(SettingsError, match="VENUE_TWIN_SURVEY_DIR='data/surveys' is relative"):
        TwinSettings()
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 2 and "is relative" in r.stderr, r.output


def test_serve_on_postgis_checks_the_survey_files(
    surveyed_twin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgis_twin_url: str
) -> None:
    """On PostGIS: serve refuses without an absolute VENUE_TWIN_SURVEY_DIR when surveys are
    recorded, warns (and starts) when some files are not in it, and evidence passes them over."""
    from twin.copying import copy_twin

    shared = tmp_path / "shared-surveys"  # what a shared mount would hold
    # the copy writes the survey files where the database twin keeps them: the variable names it
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", str(shared))
    copy_twin(surveyed_twin, postgis_twin_url)
    assert len(list(shared.glob("*.tif"))) == 6
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR", raising=False)
    r = runner.invoke(app, ["serve", "--store", postgis_twin_url])
    assert r.exit_code == 2 and "VENUE_TWIN_SURVEY_DIR is not set" in r.stderr and not started, r.output
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", str(shared))
    with Twin.open(postgis_twin_url) as twin:
        t10 = ndvi(twin, T10)
        twin.survey_path(t10).unlink()
    r = runner.invoke(app, ["serve", "--store", postgis_twin_url])
    assert r.exit_code == 0 and started, r.output
    assert f"1 of 6 recorded survey file(s) are not in {shared}" in r.stderr and t10.file_name in r.stderr
    # A process started from another directory finds the same files (the path is absolute).
    monkeypatch.chdir(tmp_path)
    with Twin.open(postgis_twin_url) as twin:
        lag = project_evidence(twin, LAGGING, on=T10)
        snap = Completion(twin).at(T10)
    assert lag.estimate is not None and lag.skipped == (f"survey {t10.id} unavailable: file missing on this server",)
    assert snap.statuses


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VENUE_TWIN_STORE", "unset")  # `serve` sets it in os.environ: restored after
    for name in list(os.environ):
        if name.startswith("VENUE_TWIN_EVIDENCE_") or name in ("VENUE_TWIN_STORE", "VENUE_TWIN_SURVEY_DIR"):
            monkeypatch.delenv(name)
    yield
