"""A forecast gone by, and the default date after a late report (a tester's finds).

LS-04, 75 % last reported 2026-10-06 (planned finish 10-20), read at T-10 (10-26) had
forecast_finish 10-20, forecast_passed true and p_late 0.0: "0 % chance of missing opening day" next
to an overdue project nobody had reported done, while the README calls such a finish no forecast. A
project not reported done by the date read has not finished before it as far as the register knows,
so its finish is now forecast on that condition (completion.forecast): at or after the date read,
with a chance of missing opening day that is never the certainty of being on time.

And after a report dated 2026-11-04 was imported later, the views without a date opened on T-0 "the
latest checkpoint with reports" — a read of the twin as of 11-05, which holds no report recorded after
it: the default date now counts only the reports its own read holds (completion.landing).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from api_server import bundled_file, client
from register_records import noon, project_record
from typer.testing import CliRunner
from web_support import plain_dates

from cli.main import app
from completion import Completion
from completion.landing import landing_date
from completion.register import Project, Report
from completion.reports import ProgressReport, report_progress, save_projects
from completion.settings import CompletionSettings
from completion.status import evaluate
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from web import i18n

OPENING = date(2026, 11, 5)
T1 = "2026-11-04"  # the day before opening day: the bundled season's projects last reported 10-26
TODAY = "2026-12-07"  # after opening day, whatever the machine's clock says (the `today` fixture)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stale") / "venue.gpkg"
    bundled_file(path)
    return path


def ls04(**reports: float) -> tuple[Project, list[Report]]:
    project = Project(
        code="LS-04", name_zh="草坪", name_en="Lawns", category="landscaping", area="landscaping",
        responsible_unit="Unit 01", planned_start=date(2026, 9, 20), planned_finish=date(2026, 10, 20),
        quantity=100.0, quantity_unit="m²",
    )  # fmt: skip
    rs = [
        Report(date.fromisoformat(d), pct, "reporter", None, None, f"c{k}", k, datetime(2026, 9, 1, tzinfo=UTC))
        for k, (d, pct) in enumerate(sorted((d.replace("_", "-")[1:], p) for d, p in reports.items()), start=1)
    ]
    return project, rs


def test_the_testers_ls04_is_forecast_on_not_being_done_by_the_date_read() -> None:
    """75 % on 10-06, planned finish 10-20, read on 10-26: its finish was 10-20 with p_late 0."""
    project, reports = ls04(d2026_09_26=40.0, d2026_10_06=75.0)
    s = evaluate(project, reports, date(2026, 10, 26), OPENING, CompletionSettings())
    fc = s.forecast
    assert fc.finish is not None and fc.low is not None and fc.high is not None
    assert s.on <= fc.low <= fc.finish <= fc.high, fc  # a forecast, at or after the date read
    assert fc.p_late is not None and fc.p_late > 0.0, fc  # never "0 % chance" for a project overdue unreported
    # it says that the forecast from its latest report has gone by
    assert s.forecast_passed and fc.passed is not None and fc.passed < s.on, fc
    doc = fc.to_dict()
    assert doc["probability_on_time"] < 1.0 and doc["passed_finish"] == fc.passed.isoformat(), doc
    assert "carried forward" in doc["basis"], doc["basis"]
    # read on the day of its latest report, the condition changes nothing: it cannot have passed
    fresh = evaluate(project, reports, date(2026, 10, 6), OPENING, CompletionSettings())
    assert not fresh.forecast_passed and fresh.forecast.passed is None
    assert fresh.forecast.finish is not None and fresh.forecast.finish >= fresh.on


def test_forecasts_gone_by_in_the_bundled_season_are_forecasts_everywhere(bundled: Path) -> None:
    """On 11-04 the bundled season's open projects were last reported 10-26; those whose forecast
    had gone by read "0 %" (HL-09, LS-02, SP-05 ...). The JSON, the map's popups and the CSV now
    agree on one forecast at or after the date, with its chance."""
    with Twin.open(bundled) as twin:
        snap = Completion(twin).at(T1)
    passed = [s for s in snap.statuses if s.forecast_passed]
    assert len(passed) >= 3, [s.project.code for s in snap.statuses]
    for s in passed:
        fc = s.forecast
        assert fc.finish is not None and fc.low is not None, s.project.code
        assert fc.low >= s.on and fc.finish >= s.on, (s.project.code, fc)
        assert fc.passed is not None and fc.passed < s.on, (s.project.code, fc)
        assert fc.p_late is not None and fc.p_late > 0.0, (s.project.code, fc)
        assert fc.after_opening == (fc.p_late > snap.settings.late_probability_threshold)
    assert any(s.forecast.after_opening for s in passed)  # a leader sees the risk flagged
    codes = {s.project.code: s for s in passed}
    with client(bundled) as api:
        one = next(iter(codes))
        doc = api.get(f"/projects/{one}", params={"date": T1}).json()["project"]
        assert doc["forecast_passed"] is True and doc["forecast_finish"] >= T1, doc
        assert doc["p_late"] > 0.0 and doc["probability_on_time"] < 1.0, doc
        got = api.get("/projects", params={"date": T1, "f": "csv"})
        assert got.status_code == 200, got.text[:300]
        rows = {r["code"]: r for r in csv.DictReader(io.StringIO(got.text.lstrip("\ufeff")))}
    for code, s in codes.items():
        row = rows[code]
        assert row["forecast_passed"] == "true", row
        # the download keeps the forecast it flags, not an empty finish beside its probability
        assert row["forecast_finish"] == s.forecast.finish.isoformat(), row  # type: ignore[union-attr]
        assert row["forecast_low"] and row["forecast_high"], row
        assert float(row["p_late"]) == round(s.forecast.p_late or 0.0, 3), row


def test_a_late_report_does_not_make_the_default_date_one_whose_read_lacks_it(
    bundled: Path, tmp_path: Path, today: Callable[[str], None]
) -> None:
    """A report dated 11-04 recorded after opening day made the views open on T-0, whose read (the
    twin at the end of 11-05) holds no report of that round. After opening day the views now open on
    today, whose read holds every report (completion.landing); the rule for a checkpoint chosen for
    its round, before opening day, is test_a_round_recorded_late_does_not_choose_its_checkpoint."""
    today(TODAY)
    path = tmp_path / "late.gpkg"
    shutil.copyfile(bundled, path)
    with Twin.open(path) as twin:
        before = landing_date(twin)
    assert not before.moved and before.on.isoformat() == TODAY, before
    with Twin.open(path) as twin:  # recorded after opening day (not by the machine's clock: before TODAY)
        report_progress(
            twin, ProgressReport("HL-09", 97, date.fromisoformat(T1)), reporter="r", time=noon("2026-11-20")
        )
    with Twin.open(path) as twin:
        landing = landing_date(twin)
        snap = Completion(twin).at(landing.on.isoformat())
        # the report is in the read the views open on
        assert landing.newest_report == date.fromisoformat(T1), landing
        assert snap.status("HL-09").last_report is not None and snap.status("HL-09").last_report.on.isoformat() == T1
    assert landing.on.isoformat() == TODAY and not landing.moved, landing
    out = CliRunner().invoke(app, ["completion", "--store", str(path)]).output
    assert f"Completion on {TODAY}" in out and "Showing" not in out, out


def test_a_round_recorded_late_does_not_choose_its_checkpoint(tmp_path: Path, today: Callable[[str], None]) -> None:
    """Before opening day, a checkpoint whose round of reports was all recorded after its day (a
    late import) is not "the latest checkpoint with reports": its read holds none; the one before is."""
    path = tmp_path / "late-round.gpkg"
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        save_projects(
            twin, [project_record("A", "2026-09-01", "2026-10-31")], author="c", message="R", time=noon("2026-08-20")
        )
        report_progress(twin, ProgressReport("A", 40, date(2026, 10, 14)), reporter="r", time=noon("2026-10-14"))
        # T-10's round (10-17 to 10-26), recorded on 10-28, after its checkpoint day
        report_progress(twin, ProgressReport("A", 60, date(2026, 10, 24)), reporter="r", time=noon("2026-10-28"))
    today("2026-10-29")
    with Twin.open(path) as twin:
        landing = landing_date(twin)
    assert (landing.on.isoformat(), landing.checkpoint, landing.reason) == (
        "2026-10-16", "T-20", "no_reports_since_checkpoint",
    ), landing  # fmt: skip
    assert landing.newest_report == date(2026, 10, 14), landing


def test_the_pages_say_how_a_forecast_gone_by_was_carried_forward(bundled: Path) -> None:
    """The JSON's basis said a forecast gone by was carried forward; the project page and the map's
    popups, which word the basis in the reader's language (web.panels.basis_words), left it out: a
    finish a week later than the one forecast before, with no word why."""
    with client(bundled) as api:
        projects = api.get("/projects", params={"date": T1}).json()["projects"]
        passed = [p for p in projects if p["forecast_passed"]]
        assert passed, projects
        for lang in ("en", "zh"):
            popups = {
                r["code"]: r for r in api.get("/maps/data/panel", params={"date": T1, "lang": lang}).json()["projects"]
            }
            for p in passed[:3]:
                words = i18n.label(lang, "basis_passed", date=p["forecast"]["passed_finish"])
                page = api.get(f"/projects/{p['code']}", params={"date": T1, "f": "html", "lang": lang}).text
                assert words in plain_dates(page), (lang, p["code"])
                assert popups[p["code"]]["basis"].startswith(words), (lang, popups[p["code"]]["basis"])
        # a forecast not gone by says nothing of it
        fresh = next(p for p in projects if not p["forecast_passed"] and p["status"] != "done")
        popups = api.get("/maps/data/panel", params={"date": T1, "lang": "en"}).json()["projects"]
        basis = next(r["basis"] for r in popups if r["code"] == fresh["code"])
        assert basis and "carried forward" not in basis, basis
