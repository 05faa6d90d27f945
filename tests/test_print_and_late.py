"""Two of a tester's reports: the printed tables and the late list's passed forecasts.

On paper (headless Chromium, print media, A4) the units table's column titles wrap between their
words or phrases, not one character a line ("存/在/风/险"), and the register's codes, statuses, dates
and percentages keep to one line each ("RD-" over "06", "2026-08-" over "20", "通" over "过"); the
PDFs are in the artifacts folder (print-late-*.pdf). After opening day the late list's CSV and the
projects' CSV and Excel leave the forecast empty where its finish has gone by for a project not
reported done (forecast_passed): it read forecast_finish=2026-11-02 beside
forecast_after_opening=true; the JSON keeps the date beside forecast_passed, as the pages use it.
The browser fixtures (a live server, Chromium, `visit`) are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from api_server import bundled_file, client
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    Visit,
    api,
    clean,
    server,
    store,
    visit,
)
from web_support import save_artifact

AFTER_OPENING = "2026-11-10"  # five days after opening day (2026-11-05)
TODAY = "2026-12-07"

# In print media: each cell's lines (its text's line boxes) and each header's, in lines of its own
# line height. A cell's text is measured by its text nodes (a code cell holds a colour chip too).
LINES = """(sel) => {
  const lineHeight = el => parseFloat(getComputedStyle(el).lineHeight) || 1.2 * parseFloat(getComputedStyle(el).fontSize);
  const textLines = el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let most = 0;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim()) continue;
      const r = document.createRange(); r.selectNodeContents(n);
      const tops = new Set(Array.from(r.getClientRects()).filter(b => b.width > 0).map(b => Math.round(b.top)));
      most = Math.max(most, tops.size);
    }
    return most;
  };
  const heads = Array.from(document.querySelectorAll(sel.heads)).filter(th => getComputedStyle(th).display !== 'none')
    .map(th => { const r = document.createRange(); r.selectNodeContents(th);
                 return [th.textContent.trim(), Math.round(r.getBoundingClientRect().height / lineHeight(th))]; });
  const cells = Array.from(document.querySelectorAll(sel.cells)).filter(td => getComputedStyle(td).display !== 'none')
    .map(td => [td.textContent.trim(), textLines(td)]);
  const table = document.querySelector(sel.table).getBoundingClientRect();
  return {heads, cells, right: table.right, width: document.documentElement.clientWidth};
}"""


def _print_at(v: Visit, width: int) -> None:
    """The page laid out as on paper: print media, the viewport as wide as the paper between its margins."""
    v.page.set_viewport_size({"width": width, "height": 1000})
    v.page.emulate_media(media="print")


def _pdf_text(v: Visit, name: str) -> list[str]:
    pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
    save_artifact(f"print-late-{name}.pdf", pdf)
    return [re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("day", [TODAY, "2026-10-26"])
def test_units_table_titles_wrap_between_words_and_numbers_not_at_all(visit: Any, lang: str, day: str) -> None:
    """A4 portrait (190 mm between the margins, 718 px): each column title on two lines at most
    (zh on 2026-12-07: "存在风险" one character a line, four lines), each number ("7 / 7") and
    project code on one line, the table within the page."""
    v = visit(f"/completion/units?f=html&date={day}&lang={lang}", wait=False)
    v.page.wait_for_load_state("load")
    _print_at(v, 718)
    got = v.page.evaluate(
        LINES,
        {
            "table": "table.vt-units-table",
            "heads": "table.vt-units-table thead th",
            "cells": "table.vt-units-table td.n, table.vt-units-table span.code",
        },
    )
    assert len(got["heads"]) == 11 and len(got["cells"]) > 30, got
    assert all(lines <= 2 for _, lines in got["heads"]), got["heads"]
    assert all(lines == 1 for _, lines in got["cells"]), [c for c in got["cells"] if c[1] != 1]
    assert got["right"] <= got["width"], got
    v.page.emulate_media(media="screen")
    v.page.set_viewport_size({"width": 1400, "height": 900})
    pages = _pdf_text(v, f"units-{lang}-{day}")
    assert len(pages) == 1, len(pages)
    clean(v)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_register_printout_keeps_codes_dates_statuses_and_percentages_whole(visit: Any, server: Any, lang: str) -> None:
    """The register printed on A4 landscape: every project's code, planned start and finish and
    progress date whole in the PDF's text (a code and a date broke at their hyphens); laid out for
    the paper (281 mm, 1062 px) each code, status, date and number on one line, each column title
    on two lines at most, the long texts (name, responsible unit) wrapping in the width left."""
    projects = [f["properties"] for f in api(server, "/collections/projects/items", limit=1000)["features"]]
    v = visit(f"/maps/layers/projects?lang={lang}", wait=False)
    v.page.wait_for_function("!!document.querySelector('#vt-attr')._vtTable")
    text = " ".join(_pdf_text(v, f"register-{lang}"))
    split = []
    for p in projects:
        for field in ("code", "planned_start", "planned_finish", "progress_date"):
            value = p.get(field)
            if value and not re.search(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", text):
                split.append((p["code"], field, value))
    assert not split, split
    _print_at(v, 1062)
    got = v.page.evaluate(
        LINES,
        {
            "table": "table.vt-attr-table",
            "heads": "table.vt-attr-table thead th",
            "cells": "table.vt-attr-table td.vt-attr-code, table.vt-attr-table td.vt-attr-status,"
            " table.vt-attr-table td[data-sort], table.vt-attr-table td.vt-attr-word",
        },
    )
    dates = [c for c in got["cells"] if re.fullmatch(r"\d{4}-\d\d-\d\d", c[0])]
    assert len(dates) >= 3 * len(projects), len(dates)  # planned start, finish, progress date
    assert len(got["cells"]) >= 6 * len(projects), len(got["cells"])
    assert all(lines == 1 for _, lines in got["cells"]), [c for c in got["cells"] if c[1] != 1][:20]
    assert all(lines <= 2 for _, lines in got["heads"]), got["heads"]
    assert got["right"] <= got["width"], got  # the long texts wrap in the width left
    v.page.emulate_media(media="screen")
    clean(v)


# ---------------------------------------------------------------------------- the late list
@pytest.fixture(scope="module")
def bundled_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = bundled_file(tmp_path_factory.mktemp("late") / "venue.gpkg")
    with client(path) as c:
        yield c


def _csv_rows(c: TestClient, path: str, **params: Any) -> list[dict[str, str]]:
    r = c.get(path, params={**params, "f": "csv"})
    assert r.status_code == 200, r.text[:300]
    return list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))


def _day(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else (value or "")


def test_late_list_after_opening_gives_the_carried_forward_finish(bundled_api: TestClient) -> None:
    """On 2026-11-10 the late list's CSV gave a project whose forecast finish had gone by not reported
    done (SP-03: 2026-11-02, LS-08: 2026-10-30, RD-18: 2026-10-27) an empty forecast. Such a forecast
    is now carried forward (completion.forecast: not reported done, so not finished before the date):
    the CSV gives the JSON's finish and interval, at or after the date, beside forecast_passed; the
    date gone by stays in the JSON (forecast.passed_finish, the pages' "(forecast 2026-11-02 passed,
    not reported done)"). A forecast still ahead (never passed) is given as before."""
    doc = bundled_api.get("/completion/late", params={"date": AFTER_OPENING}).json()
    by_code = {r["code"]: r for r in doc["late"]}
    passed = {c for c, r in by_code.items() if r["forecast_passed"]}
    assert {"SP-03", "LS-08", "RD-18"} <= passed, passed
    sp03 = bundled_api.get("/projects/SP-03", params={"date": AFTER_OPENING}).json()["project"]
    assert sp03["forecast"]["passed_finish"] == "2026-11-02" and sp03["missed_opening"] is True, sp03["forecast"]
    assert by_code["SP-03"]["forecast_finish"] == sp03["forecast_finish"] >= AFTER_OPENING, by_code["SP-03"]
    ahead = {c for c, r in by_code.items() if not r["forecast_passed"] and r["forecast_finish"]}
    assert ahead, by_code  # HL-07 and others: forecast after the date, still a forecast

    rows = {r["code"]: r for r in _csv_rows(bundled_api, "/completion/late", date=AFTER_OPENING)}
    assert rows.keys() == by_code.keys()
    for code in passed:
        row, want = rows[code], by_code[code]
        assert row["forecast_passed"] == "true" and row["missed_opening"] == "true", row
        # the download gives the forecast the JSON gives, carried forward to the date, not a blank
        got = (row["forecast_finish"], row["forecast_low"], row["forecast_high"])
        assert got == (want["forecast_finish"], want["forecast_low"], want["forecast_high"]), row
        assert all(d >= AFTER_OPENING for d in got), row
    for code in ahead:
        assert rows[code]["forecast_finish"] == by_code[code]["forecast_finish"] >= AFTER_OPENING, rows[code]
        assert rows[code]["forecast_low"] == by_code[code]["forecast_low"], rows[code]
    # no row of the download gives a finish before its date for a project not done
    assert not [r for r in rows.values() if r["forecast_finish"] and r["forecast_finish"] < AFTER_OPENING]


def test_projects_table_csv_and_excel_give_the_carried_forward_finish(bundled_api: TestClient) -> None:
    """/projects as CSV and as Excel on 2026-11-10: the same rule as the late list, each
    project whose forecast from its latest report has passed not reported done with the forecast
    carried forward (the JSON's, at or after the date; it used to be left empty); a project reported
    done keeps the day it finished (its forecast finish), not passed."""
    items = bundled_api.get("/projects", params={"date": AFTER_OPENING}).json()["projects"]
    by_code = {p["code"]: p for p in items}
    passed = {c for c, p in by_code.items() if p["forecast_passed"]}
    done = {c for c, p in by_code.items() if p["status"] == "done" and p["forecast_finish"]}
    assert {"SP-03", "LS-08", "RD-18"} <= passed and done, (passed, len(done))

    rows = {r["code"]: r for r in _csv_rows(bundled_api, "/projects", date=AFTER_OPENING)}
    r = bundled_api.get("/projects", params={"date": AFTER_OPENING, "f": "xlsx"})
    assert r.status_code == 200, r.text[:300]
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    head = list(table[0])
    excel = {row[head.index("code")]: dict(zip(head, row, strict=True)) for row in table[1:]}
    assert rows.keys() == excel.keys() == by_code.keys()
    for code in passed:
        p = by_code[code]
        want = (p["forecast_finish"], p["interval"]["low"], p["interval"]["high"])
        assert all(d >= AFTER_OPENING for d in want), p  # carried forward: never a date gone by
        assert p["forecast"]["passed_finish"] < AFTER_OPENING, p["forecast"]  # the forecast that passed
        assert (rows[code]["forecast_finish"], rows[code]["forecast_low"], rows[code]["forecast_high"]) == want
        assert tuple(_day(excel[code][k]) for k in ("forecast_finish", "forecast_low", "forecast_high")) == want, code
        assert rows[code]["forecast_passed"] == "true"
    for code in done:
        assert rows[code]["forecast_finish"] == by_code[code]["forecast_finish"], rows[code]
        assert _day(excel[code]["forecast_finish"]) == by_code[code]["forecast_finish"], excel[code]
    for row in rows.values():
        if row["forecast_finish"] and float(row["percent"]) < 100.0:
            assert date.fromisoformat(row["forecast_finish"]) >= date.fromisoformat(AFTER_OPENING), row


def test_the_command_lines_downloads_hold_to_the_same_rule(tmp_path: Path) -> None:
    # One rule for every download (the rows the JSON has): `completion late --csv`,
    # `completion projects --csv` and `projects export --status` gave the passed dates still.
    from typer.testing import CliRunner

    from cli.main import app

    store = bundled_file(tmp_path / "venue.gpkg")
    runner = CliRunner()
    outputs = {}
    for name, args in (
        ("late", ["completion", "late", "--date", AFTER_OPENING, "--csv"]),
        ("projects", ["completion", "projects", "--date", AFTER_OPENING, "--csv"]),
    ):
        r = runner.invoke(app, [*args, "--store", str(store)])
        assert r.exit_code == 0, r.output
        outputs[name] = {row["code"]: row for row in csv.DictReader(io.StringIO(r.output.lstrip("\ufeff")))}
    sheet = tmp_path / "status.xlsx"
    r = runner.invoke(
        app, ["projects", "export", str(sheet), "--status", "--date", AFTER_OPENING, "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    ws = load_workbook(sheet).active
    head = [c.value for c in ws[1]]
    outputs["export"] = {row[0]: dict(zip(head, row, strict=True)) for row in ws.iter_rows(min_row=2, values_only=True)}
    forecasts = set()
    for name, rows in outputs.items():
        sp03 = rows["SP-03"]
        assert str(sp03["forecast_passed"]).lower() == "true", (name, sp03)
        # its forecast from 10-26 (11-02) has passed: carried forward, at or after the date, not blank
        got = tuple(_day(sp03[k]) for k in ("forecast_finish", "forecast_low", "forecast_high"))
        assert all(d >= AFTER_OPENING for d in got), (name, sp03)
        forecasts.add(got)
    assert len(forecasts) == 1, forecasts  # one forecast in every download
