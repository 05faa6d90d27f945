"""Which opening day a date is measured against (completion.expo): the expo the register prepares
for, not the year of the date asked, so a season looked back on in January still reads against its
own opening day, and a register for next year's expo entered in December reads against that one.

A small register for the 2026 expo (opening day 2026-11-05), entered on 2026-06-20 and reported up
to T-10 (2026-10-26); C is planned to finish after opening day (it still belongs to 2026):

    code  planned          reports
    A     07-01 → 10-31    09-01 40%, 10-06 70%, 10-26 100%
    B     08-01 → 11-01    10-06 30%, 10-26 60%                 missed opening day
    C     09-15 → 11-20    10-26 50%

"Today" is injected: the modules' ``today_local`` is replaced (as the machine's clock would move).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app
from completion import Completion, Project
from completion.expo import opening_for, project_expo, register_expos
from completion.reports import ProgressReport, report_progress, save_projects
from completion.settings import CompletionSettings
from completion.snapshot import parse_day
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin
from twin.core import SHANGHAI

D = date.fromisoformat
SETTINGS = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
runner = CliRunner()

PROJECTS = {"A": ("2026-07-01", "2026-10-31"), "B": ("2026-08-01", "2026-11-01"), "C": ("2026-09-15", "2026-11-20")}
REPORTS = [
    ("2026-09-01", "A", 40.0),
    ("2026-10-06", "A", 70.0),
    ("2026-10-06", "B", 30.0),
    ("2026-10-26", "A", 100.0),
    ("2026-10-26", "B", 60.0),
    ("2026-10-26", "C", 50.0),
]
NEXT = {"N1": ("2026-12-10", "2027-06-30"), "N2": ("2027-03-01", "2027-10-20")}  # for the 2027 expo


def _noon(day: str) -> datetime:
    return datetime.combine(D(day), time(12), SHANGHAI)


def _records(projects: dict[str, tuple[str, str]]) -> list[dict[str, object]]:
    return [
        {
            "code": code,
            "name_zh": f"工程{code}",
            "name_en": f"Project {code}",
            "category": "venue_renovation",
            "area": "halls",
            "responsible_unit": "U1",
            "planned_start": start,
            "planned_finish": finish,
            "quantity": 100.0,
            "quantity_unit": "m²",
        }  # fmt: skip
        for code, (start, finish) in projects.items()
    ]


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("expo") / "season.gpkg"
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        save_projects(twin, _records(PROJECTS), author="coordinator", message="Register", time=_noon("2026-06-20"))
        for day, code, pct in REPORTS:
            report_progress(twin, ProgressReport(code, pct, D(day)), reporter=f"r.{code}", time=_noon(day))
    return path


@pytest.fixture(scope="module")
def two_seasons(season: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2026 register with the 2027 expo's first projects entered on 2026-12-01."""
    path = tmp_path_factory.mktemp("expo") / "two.gpkg"
    shutil.copyfile(season, path)
    with Twin.open(path) as twin:
        save_projects(twin, _records(NEXT), author="coordinator", message="2027 projects", time=_noon("2026-12-01"))
    return path


def project(code: str, start: str, finish: str) -> Project:
    return Project(code, "", "", "venue_renovation", "halls", "U1", D(start), D(finish), 1.0, "m²")


# ------------------------------------------------------------------ the rule
def test_a_projects_expo_is_the_opening_day_nearest_its_finish_from_its_start_on() -> None:
    def expo(start: str, finish: str) -> date:
        return project_expo(project("P", start, finish), SETTINGS)

    assert expo("2026-07-01", "2026-10-31") == D("2026-11-05")
    assert expo("2026-07-01", "2026-11-05") == D("2026-11-05")  # finishing on opening day
    assert expo("2026-09-15", "2026-11-20") == D("2026-11-05")  # planned late: still 2026's, not a 2027 expo
    assert expo("2026-12-10", "2027-06-30") == D("2027-11-05")
    assert expo("2027-01-10", "2027-03-01") == D("2027-11-05")  # starts after 2026's opening: not 2026's
    assert expo("2026-09-01", "2027-07-01") == D("2027-11-05")  # long, across 2026's opening: the nearer one


def test_a_date_reads_against_the_first_expo_ahead_else_the_last() -> None:
    season = [project("A", "2026-07-01", "2026-10-31"), project("C", "2026-09-15", "2026-11-20")]
    both = [*season, project("N1", "2026-12-10", "2027-06-30")]
    assert register_expos(both, SETTINGS) == [D("2026-11-05"), D("2027-11-05")]
    assert opening_for(season, D("2027-01-10"), SETTINGS) == D("2026-11-05")  # looking back on the season
    assert opening_for(season, D("2026-03-01"), SETTINGS) == D("2026-11-05")
    assert opening_for(both, D("2026-10-06"), SETTINGS) == D("2026-11-05")
    assert opening_for(both, D("2026-11-06"), SETTINGS) == D("2027-11-05")
    assert opening_for(both, D("2028-02-01"), SETTINGS) == D("2027-11-05")
    assert opening_for([], D("2027-01-10"), SETTINGS) == D("2027-11-05")  # no register: the date's year
    fixed = CompletionSettings(_env_file=None, expo_year=2028)  # type: ignore[call-arg]
    assert opening_for(season, D("2027-01-10"), fixed) == D("2028-11-05")


# ------------------------------------------------------------------ a season looked back on in January
def test_in_january_the_snapshot_reads_against_last_novembers_opening_day(
    season: Path, today: Callable[[str], None]
) -> None:
    today("2027-01-10")
    with Twin.open(season) as twin:
        snap = Completion(twin, SETTINGS).at("today")
        assert (snap.on, snap.opening, snap.days_to_opening) == (D("2027-01-10"), D("2026-11-05"), -66)
        assert {s.project.code: s.forecast.missed for s in snap.statuses} == {"A": False, "B": True, "C": True}
        assert parse_day("T-30", SETTINGS, twin=twin) == D("2026-10-06")
        t30 = Completion(twin, SETTINGS).at("T-30")
        assert (t30.on, t30.checkpoint, t30.opening) == (D("2026-10-06"), "T-30", D("2026-11-05"))


def test_in_january_the_json_api_reads_against_last_novembers_opening_day(
    season: Path, today: Callable[[str], None]
) -> None:
    today("2027-01-10")
    with TestClient(create_app(ApiSettings(store=season))) as api:
        doc = api.get("/completion", params={"date": "2027-01-10"}).json()
        assert (doc["opening_day"], doc["days_to_opening"]) == ("2026-11-05", -66)
        doc = api.get("/completion", params={"date": "today"}).json()
        assert (doc["date"], doc["opening_day"]) == ("2027-01-10", "2026-11-05")
        doc = api.get("/completion", params={"date": "T-30"}).json()
        assert (doc["date"], doc["checkpoint"], doc["opening_day"]) == ("2026-10-06", "T-30", "2026-11-05")
        missed = {
            p["code"]: p["missed_opening"] for p in api.get("/projects", params={"date": "today"}).json()["projects"]
        }
        assert missed == {"A": False, "B": True, "C": True}


def test_in_january_the_cli_reads_against_last_novembers_opening_day(
    season: Path, today: Callable[[str], None]
) -> None:
    today("2027-01-10")
    r = runner.invoke(app, ["completion", "--date", "today", "--store", str(season)])
    assert r.exit_code == 0 and "Completion on 2027-01-10 (66 days after opening day)" in r.output, r.output
    r = runner.invoke(app, ["completion", "--date", "T-30", "--store", str(season)])
    assert r.exit_code == 0, r.output
    assert "Completion on 2026-10-06 (T-30, 30 days to opening day 2026-11-05)" in r.output, r.output
    r = runner.invoke(app, ["completion", "checkpoints", "--date", "today", "--store", str(season)])
    assert r.exit_code == 0 and "Opening day 2026-11-05" in r.output, r.output


def test_the_version_pickers_checkpoints_are_those_date_t_30_means(
    season: Path, two_seasons: Path, today: Callable[[str], None]
) -> None:
    """The layer pages' picker labels each commit with the checkpoints that read it: of the expo
    today is measured against, as ``date=T-30`` is (it was the head commit's year)."""
    from api.html import _checkpoint_commits

    for path, day, newest in ((season, "2027-01-10", "T-0"), (two_seasons, "2026-12-06", "T-340")):
        today(day)
        with Twin.open(path) as twin:
            commits, notes = _checkpoint_commits(twin)  # type: ignore[arg-type]
            assert notes[commits[0].id].split(", ")[-1] == newest, notes  # (oldest first)
            for c in commits:
                for label in notes[c.id].split(", "):
                    on = parse_day(label, SETTINGS, twin=twin)
                    assert on is not None and twin.resolve(asof=on.isoformat()).commit == c, (label, c)


# ------------------------------------------------------------------ next year's register entered in December
def test_a_register_for_next_years_expo_entered_in_december_reads_against_it(
    two_seasons: Path, today: Callable[[str], None]
) -> None:
    today("2026-12-06")
    with Twin.open(two_seasons) as twin:
        comp = Completion(twin, SETTINGS)
        assert comp.at("today").opening == D("2027-11-05")
        # the register as it stood then held only the 2026 projects: those dates keep 2026's opening day
        assert comp.at("2026-11-20").opening == D("2026-11-05")
        assert comp.at("2026-10-06").opening == D("2026-11-05")
        assert parse_day("T-30", SETTINGS, twin=twin) == D("2027-10-06")
    with TestClient(create_app(ApiSettings(store=two_seasons))) as api:
        doc = api.get("/completion", params={"date": "2026-12-06"}).json()
        assert (doc["opening_day"], doc["days_to_opening"]) == ("2027-11-05", 334)
    r = runner.invoke(app, ["completion", "--date", "today", "--store", str(two_seasons)])
    assert r.exit_code == 0 and "334 days to opening day 2027-11-05" in r.output, r.output
