"""`venue-twin completion` and `venue-twin progress` on the bundled twin."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from api_server import bundled_file
from typer.testing import CliRunner

from cli.main import app
from twin import Twin

runner = CliRunner()


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "venue.gpkg"
    bundled_file(path)
    return path


@pytest.fixture
def writable(bundled: Path, tmp_path: Path) -> Path:
    path = tmp_path / "w.gpkg"
    shutil.copyfile(bundled, path)
    return path


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def lines_with(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if word in line]


def test_completion_at_a_checkpoint_prints_areas_and_late_projects(bundled: Path) -> None:
    code, out = run("completion", "--date", "2026-10-06", "--store", str(bundled))
    assert code == 0, out
    assert "Completion on 2026-10-06 (T-30, 30 days to opening day 2026-11-05)" in out
    # area, projects, weight %, planned %, actual %, ± points, counts
    halls = lines_with(out, "halls")[0]
    assert halls.replace("│", " ").split()[1:6] == ["15", "25.0", "79.0", "69.4", "-9.5"]
    assert "42.9" in lines_with(out, "south_plaza")[0]
    overall = lines_with(out, "overall")[0].replace("│", " ").split()
    assert overall[1:6] == ["60", "100.0", "72.4", "68.5", "-3.9"]
    assert overall[6:] == ["3", "29", "10", "2", "16"]
    assert "Late projects (2)" in out
    rd03 = lines_with(out, "RD-03")[0]
    assert "State Grid Shanghai Electric Power" in rd03 and "29.1" in rd03 and "2026-11-" in rd03
    assert "100%" in rd03  # its probability of missing opening day
    assert out.index("RD-03") < out.index("HL-07")  # most days late first
    assert "NECC Shanghai, venue operator" in lines_with(out, "HL-07")[0]


def test_an_earlier_checkpoint_gives_the_figures_as_they_stood(bundled: Path) -> None:
    _, t10 = run("completion", "--date", "T-10", "--store", str(bundled))
    _, t30 = run("completion", "--date", "T-30", "--store", str(bundled))
    assert "(T-10, 10 days" in t10 and "Late projects (3)" in t10 and "SP-09" in t10
    assert lines_with(t10, "overall")[0].replace("│", " ").split()[4] == "94.8"
    assert lines_with(t30, "overall")[0].replace("│", " ").split()[4] == "68.5"
    # SP-09 is late at T-10 and not yet flagged at T-30 (see tests/test_completion_demo.py).
    assert "SP-09" not in t30 and "Late projects (2)" in t30


def test_completion_as_csv_by_unit(bundled: Path) -> None:
    code, out = run("completion", "--date", "T-10", "--by", "unit", "--csv", "--store", str(bundled))
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert table[-1]["key"] == "overall" and table[-1]["projects"] == "60"
    assert sum(int(t["projects"]) for t in table[:-1]) == 60
    assert run("completion", "--by", "colour", "--store", str(bundled))[0] == 2


def test_the_sub_commands(bundled: Path) -> None:
    code, out = run("completion", "late", "--date", "T-10", "--store", str(bundled))
    assert code == 0 and [line.split("│")[1].strip() for line in lines_with(out, "Halls 6.1H")] == ["HL-07"]
    code, out = run("completion", "scurve", "--date", "T-10", "--store", str(bundled))
    assert code == 0 and "68.5" in lines_with(out, "│ T-30 ")[0] and "94.8" in lines_with(out, "│ T-10 ")[0]
    code, out = run("completion", "checkpoints", "--date", "T-10", "--csv", "--store", str(bundled))
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 60 and next(t for t in table if t["code"] == "HL-01")["T-30"] == "100.0"
    code, out = run("completion", "projects", "--date", "T-10", "--status", "at_risk", "--store", str(bundled))
    assert code == 0 and {"HL-09", "LS-08", "SP-03"} <= set(out.split())
    code, out = run("progress", "show", "RD-01", "--date", "T-10", "--store", str(bundled))
    assert code == 0 and "Inspection on 09-04 failed" in out and "Behind" not in lines_with(out, "RD-01")[0]


def test_a_report_going_backwards_without_a_reason_is_refused_and_changes_nothing(writable: Path) -> None:
    with Twin.open(writable) as t:
        before = (t.store.commit_count(), t.feature("projects", "RD-03"))
    code, out = run("progress", "report", "RD-03", "65", "--date", "2026-11-20", "--author", "孙浩 Sun Hao",
                    "--store", str(writable))  # fmt: skip
    assert code == 2
    assert "65% is lower than the last report (70% on 2026-10-26): give a reason" in out
    assert "nothing was committed" in out
    with Twin.open(writable) as t:
        assert (t.store.commit_count(), t.feature("projects", "RD-03")) == before


def test_a_report_is_committed_with_its_author(writable: Path) -> None:
    code, out = run("progress", "report", "RD-03", "85", "--date", "2026-11-20", "--note", "Three sections energised",
                    "--author", "孙浩 Sun Hao", "--store", str(writable))  # fmt: skip
    assert code == 0, out
    assert "RD-03 85% on 2026-11-20 by 孙浩 Sun Hao" in out and "after opening day" in out
    with Twin.open(writable) as t:
        head = t.head()
        assert head is not None and head.author == "孙浩 Sun Hao"
        assert t.history("projects", "RD-03")[-1].commit.id == head.id
    code, out = run("progress", "report", "RD-03", "101", "--author", "x", "--store", str(writable))
    assert code == 2 and "beyond 100%" in out
    code, out = run("progress", "report", "NOPE", "10", "--author", "x", "--store", str(writable))
    assert code == 2 and "no project 'NOPE'" in out


def test_names_with_square_brackets_print_as_written(writable: Path, tmp_path: Path) -> None:
    """A register's names are text: "[phase 2]" was taken for the terminal's markup and dropped."""
    register = tmp_path / "register.csv"
    register.write_text(
        "code,name,area,unit,person,planned start,planned finish,quantity,unit of quantity\n"
        "RD-90,Road [phase 2],roads,Roads Co [north],Wang [deputy],2026-08-01,2026-11-20,100,m2\n",
        encoding="utf-8",
    )
    code, out = run("projects", "import", str(register), "--store", str(writable), "--author", "qa")
    assert code == 0, out
    code, out = run("completion", "projects", "--date", "today", "--store", str(writable))  # (added today)
    assert code == 0, out
    (row,) = lines_with(out, "RD-90")
    assert "Road [phase 2]" in row and "Roads Co [north]" in row, row
    code, out = run("completion", "missing", "--date", "today", "--store", str(writable))  # (added today)
    assert code == 0, out
    (row,) = lines_with(out, "RD-90")
    assert "Road [phase 2]" in row and "Wang [deputy]" in row, row


def test_after_opening_day_a_late_project_not_done_has_missed_it(bundled: Path) -> None:
    """A month after opening day the late projects (nothing reported since T-10) were never reported
    done: their chance of missing opening day is "missed", not the 0% a forecast finish before opening
    day gave; and where the forecast from its last report has gone by, the forecast column says, as the
    map's late list does (web.data.forecast_text), that it was not reported done by opening day."""
    code, out = run("completion", "--date", "2026-12-06", "--store", str(bundled))
    assert code == 0, out
    rows = lines_with(out, "(stale)")
    assert rows and all("missed" in r and "0%" not in r for r in rows), out
    (sp03,) = lines_with(out, "SP-03")
    # SP-03's forecast from 10-26 (2026-11-02) has gone by, and opening day with it: it missed it
    assert "not reported done by opening day" in sp03 and "2026-11-02" not in sp03, sp03
    code, out = run("completion", "--date", "2026-11-04", "--store", str(bundled))
    (sp03,) = lines_with(out, "SP-03")
    # the day before opening day, the same forecast gone by is carried forward, as the map says it
    carried = re.search(r"(\d{4}-\d{2}-\d{2}) \(forecast 2026-11-02 passed, not reported done\)", sp03)
    assert carried and carried[1] >= "2026-11-04", sp03
    code, out = run("completion", "late", "--date", "2026-12-06", "--csv", "--store", str(bundled))
    late = list(csv.DictReader(io.StringIO(out)))
    assert late and all(r["missed_opening"] == "true" and r["p_late"] == "1.0" for r in late), out


def test_a_date_after_today_is_refused(bundled: Path) -> None:
    """A date to come changed the season ("308 days to opening day 2027-11-05" beside the 2026
    projects): it is refused, exit 2, saying why; today itself is fine."""
    from datetime import timedelta

    from completion.snapshot import today_local

    today = today_local()
    later = (today + timedelta(days=26)).isoformat()
    for command in (["completion"], ["completion", "units"], ["completion", "late", "--csv"]):
        code, out = run(*command, "--date", later, "--store", str(bundled))
        assert code == 2, (command, out)
        assert f"date {later} is after today ({today.isoformat()}): the twin has no reports from then" in out
        assert "days to opening day" not in out
    code, out = run("completion", "--date", today.isoformat(), "--store", str(bundled))
    assert code == 0, out


def test_with_no_date_the_tables_open_where_the_pages_do(bundled: Path, today: Callable[[str], None]) -> None:
    """The pages (/, /maps/completion, /completion/units, /brief) open on completion.landing's date:
    after a checkpoint, before its round of reports, that checkpoint (T-10 on 10-29), with a note
    saying so. `venue-twin completion` and `completion units` used today: now they open on the same
    date with the pages' note; --date today still gives today, and --csv (data, as the API's JSON
    and CSV) keeps today. After opening day the pages and the tables open on today (12 late, the
    projects that missed opening day, where T-10 showed 3)."""
    from completion.landing import landing_date

    today("2026-10-29")
    with Twin.open(bundled) as twin:
        landing = landing_date(twin)
    assert landing.moved and landing.checkpoint == "T-10", landing
    note = f"Showing T-10 ({landing.on.isoformat()}), the latest checkpoint with reports. No report has come in since"
    for command in (["completion"], ["completion", "units"], ["completion", "late"]):
        code, out = run(*command, "--store", str(bundled))
        assert code == 0, out
        assert note in out and "--date today" in out, (command, out)
        assert f"Completion on {landing.on.isoformat()} (T-10," in out, (command, out)
    code, out = run("completion", "--store", str(bundled))
    assert "Late projects (3)" in out, out
    # the same figures as asking for T-10, less the note
    assert [line for line in out.splitlines() if note not in line] == run(
        "completion", "--date", "T-10", "--store", str(bundled)
    )[1].splitlines()
    code, out = run("completion", "--date", "today", "--store", str(bundled))
    assert code == 0 and "Completion on 2026-10-29" in out and "Showing" not in out, out
    code, out = run("completion", "late", "--csv", "--store", str(bundled))
    assert code == 0 and "Showing" not in out and {r["code"] for r in csv.DictReader(io.StringIO(out))}, out
    # after opening day: today, as the pages
    today("2026-12-07")
    for command in (["completion"], ["completion", "units"], ["completion", "late"]):
        code, out = run(*command, "--store", str(bundled))
        assert code == 0 and "Showing" not in out, (command, out)
        assert "Completion on 2026-12-07 (32 days after opening day)" in out, (command, out)
    # named as the home page counts them: missed opening day, still not done, none done since
    assert "Missed opening day (12): 12 still not done, 0 done since" in run("completion", "--store", str(bundled))[1]


def test_the_late_tables_range_column_is_one_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample season at T-30 has late projects whose 80 % range runs into 2027 beside ones that
    stay in 2026: the column printed "2026-11-26–2027-01-14" next to "10-28–12-07". One form for
    the whole column: full dates when any range leaves the year, else MM-DD for all."""
    monkeypatch.setenv("VENUE_TWIN_AUTHOR", "Li Wei <venue office>")
    monkeypatch.setenv("COLUMNS", "300")
    book, store = tmp_path / "season.xlsx", tmp_path / "season.gpkg"
    for args in (
        ("projects", "sample", str(book)),
        ("init", "--empty", "--store", str(store)),
        ("projects", "import", str(book), "--original-dates", "-s", str(store)),
        ("progress", "import", str(book), "--original-dates", "-s", str(store)),
    ):
        code, out = run(*args)
        assert code == 0, (args, out)
    code, out = run("completion", "--date", "T-30", "-s", str(store))
    assert code == 0, out
    late = out[out.index("Late projects") :].splitlines()
    header = next(line for line in late if "80% range" in line)
    column = [c.strip() for c in header.split("┃")].index("80% range")
    rows = [line.split("│") for line in late if line.startswith("│ ") and line.count("│") > column]
    ranges = [r[column].strip() for r in rows if r[column].strip() not in ("", "—")]
    assert len(ranges) >= 2, out
    assert any("2027" in r for r in ranges), ranges  # the case: a range that leaves the year
    forms = {"full" if r.count("-") == 4 else "short" for r in ranges}
    assert forms == {"full"}, ranges


def test_with_no_date_a_season_recorded_now_opens_on_a_date_with_data(season_recorded_now: Path) -> None:
    """The README's intake without --original-dates records a season's reports today, dated at
    checkpoints before the twin's history. The tables without --date opened on the latest
    checkpoint with reports (T-10 after the season) and every one exited 2 with "the twin has no
    data on 2026-10-26: its history starts on ...". They open on a date the twin has data for, and
    say which date they read."""
    import re

    from completion.cache import register_state
    from completion.snapshot import today_local
    from twin.core import SHANGHAI

    store = season_recorded_now
    with Twin.open(store) as twin:
        first = twin.first_commit()
        assert first is not None
        since = first.time.astimezone(SHANGHAI).date()
        code = next(iter(register_state(twin).projects())).code
    read = set()
    for command in (["completion"], ["completion", "units"], ["completion", "late"], ["evidence"]):
        status, out = run(*command, "--store", str(store))
        assert status == 0, (command, out)
        assert "has no data" not in out and "Showing" not in out, (command, out)
        said = re.search(r"Completion on (\d{4}-\d{2}-\d{2}) ", out)
        assert said, (command, out)  # the date read is said
        read.add(date.fromisoformat(said.group(1)))
    assert len(read) == 1, read  # the tables open on one date,
    on = read.pop()
    assert since <= on <= today_local(), (on, since)  # one the twin has data for
    status, out = run("progress", "show", code, "--store", str(store))
    assert status == 0 and f"on {on.isoformat()}:" in out, out
    # a date before the history is still refused, naming when it starts
    status, out = run("completion", "--date", "T-10", "--store", str(store))
    assert status == 2 and f"its history starts on {since.isoformat()}" in out, out
