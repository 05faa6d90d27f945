"""The printed briefing (`venue-twin brief`, GET /brief) on the bundled twin: one A3 landscape page
whose text carries the figures /completion answers, in Chinese and in English, as PDF and PNG."""

from __future__ import annotations

import functools
import io
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from api_server import bearer, build_venue, client, make_tokens, problem_of
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner
from web_support import pdf_text, save_artifact

from cli.main import app
from twin import Twin
from twin.core import SHANGHAI
from web import i18n

runner = CliRunner()
A3_PT = (420 / 25.4 * 72, 297 / 25.4 * 72)  # 1190.55 × 841.89 points
A3_PX_150 = (420 / 25.4 * 150, 297 / 25.4 * 150)  # 2480.3 × 1753.9 pixels at 150 dpi
T10 = "2026-10-26"
AFTER_OPENING = "2026-11-10"  # no report since T-10: late projects and overdue reports alike
BEFORE_OPENING = "2026-11-04"  # no report since T-10 either: some forecasts have passed, none missed yet
# A stricter team's margin (VENUE_TWIN_EVIDENCE_MARGIN): a report may run at most 1 point ahead of the
# imagery of its flight's day. On 10-20 (the T-30 flights the latest) it flags nine projects, none late
# by schedule, three of them reported done on 10-16 (LS-04, RD-04, RD-08); the default margin flags
# LS-04 alone. For the imagery's group longer than a page or a panel shows.
STRICT_MARGIN = "1"
STRICT_FLAGGED = {"LS-04", "RD-07", "HL-14", "LS-10", "RD-08", "LS-16", "SP-04", "RD-01", "RD-04"}


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch, surveyed_twin: Path) -> Iterator[TestClient]:
    """A service on the surveyed twin of its own (not the module's `surveyed`, nor its cached
    briefings) with the stricter margin, read per request."""
    monkeypatch.setenv("VENUE_TWIN_EVIDENCE_MARGIN", STRICT_MARGIN)
    with client(surveyed_twin) as c:
        yield c


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("brief") / "venue.gpkg")


@pytest.fixture(scope="module")
def api(store: Any) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


@pytest.fixture(scope="module")
def surveyed(surveyed_twin: Path) -> Iterator[TestClient]:
    """One service on the surveyed twin for the module's tests, which only read it (an app per test
    made each read its rasters and forecasts afresh)."""
    with client(surveyed_twin) as c:
        yield c


_BRIEFS: dict[tuple[str, str, str], bytes] = {}


def surveyed_brief(c: TestClient, day: str, lang: str, f: str = "pdf") -> bytes:
    """The surveyed twin's briefing of `day`, rendered once for the module's tests that read it."""
    key = (day, lang, f)
    if key not in _BRIEFS:
        r = c.get("/brief", params={"date": day, "lang": lang, **({} if f == "pdf" else {"f": f})})
        assert r.status_code == 200, r.text[:300]
        _BRIEFS[key] = r.content
    return _BRIEFS[key]


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


@functools.lru_cache(maxsize=32)
def pdf_page(data: bytes) -> tuple[Any, str]:
    """The PDF's only page (pypdf's, for its size and fonts) and its text (pdftotext's), checked to
    be one page; read once per PDF, as several tests read the same page."""
    reader = PdfReader(io.BytesIO(data))
    texts = pdf_text(data)
    assert len(reader.pages) == len(texts) == 1
    return reader.pages[0], texts[0]


def squashed(text: str) -> str:
    """Without white space: a name wrapped onto two lines of a table cell is still found."""
    return re.sub(r"\s+", "", text)


# The two tables' headings, which the page's text holds one after the other.
TABLE_HEADS = {"zh": ("滞后工程", "逾期未报"), "en": ("Late projects", "Reports missing")}


def brief_tables(text: str, lang: str) -> tuple[str, str]:
    """The page's text of the late table (from its heading to the next), and of the reports missing."""
    heading, next_heading = TABLE_HEADS[lang]
    if heading not in text:  # on opening day or after it: the projects that missed it, as the home page says
        heading = i18n.label(lang, "missed_opening_kpi")
    return text[text.index(heading) : text.index(next_heading)], text[text.index(next_heading) :]


def brief_of(c: TestClient, day: str, lang: str, artifact: str) -> str:
    """The text of the surveyed twin's briefing on ``day`` (its PDF kept as an artifact)."""
    data = surveyed_brief(c, day, lang)
    save_artifact(artifact, data)
    return pdf_page(data)[1]


def in_language(bilingual: str, lang: str) -> str:
    """The page's half of a register entry "中文 (English)" or "中文 English"."""
    m = re.fullmatch(r"(.+?)\s*\(([^()]+)\)", bilingual) or re.fullmatch(r"(\S+)\s+(.+)", bilingual)
    assert m, bilingual
    return m[2] if lang == "en" else m[1]


def listed(text: str, codes: list[str], lang: str, path: str) -> int:
    """How many of ``codes`` the page lists: the first ones, in the API's order, and then a line
    that says how many more there are and where they all are."""
    shown = [c for c in codes if c in text]
    assert shown == codes[: len(shown)], (shown, codes)
    if len(shown) < len(codes):
        more = len(codes) - len(shown)
        assert (f"{more} more" if lang == "en" else f"另有 {more} 项") in text and path in text
    return len(shown)


def check_page(data: bytes, lang: str, completion: dict[str, Any], every_late: bool = True) -> str:
    """An A3 landscape page whose text holds the date, the overall figures written as /completion's
    JSON writes them, and every late project's code (or, with ``every_late`` false, the first ones
    and how many more) with its unit and person in the page's language."""
    assert data.startswith(b"%PDF-")
    page, text = pdf_page(data)
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert abs(width - A3_PT[0]) <= 1 and abs(height - A3_PT[1]) <= 1, (width, height)
    assert completion["date"] in text
    overall = completion["overall"]
    for key in ("actual_percent", "planned_percent"):
        assert f"{overall[key]}%" in text, (key, overall[key])  # 94.79 -> "94.79%", as JSON writes it
    flat = squashed(text)
    assert completion["late"], "the bundled season has late projects at this date"
    late = completion["late"]
    table = brief_tables(text, lang)[0]
    shown = listed(table, [row["code"] for row in late], lang, "/completion/units?f=html")
    assert shown == len(late) or not every_late
    for row in late[:shown]:
        assert squashed(in_language(row["responsible_unit"], lang)) in flat, (row["code"], row["responsible_unit"])
        assert squashed(in_language(row["responsible_person"], lang)) in flat, row["code"]
    return text


def embedded_fonts(data: bytes) -> list[tuple[str, bool]]:
    """Each font of the page with whether its TrueType program is embedded (FontFile2)."""
    page, _ = pdf_page(data)
    out = []
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        desc = font.get("/FontDescriptor") or font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        out.append((str(font["/BaseFont"]), "/FontFile2" in desc.get_object()))
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


# ---------------------------------------------------------------------------- through the CLI
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_cli_writes_the_briefing_as_one_a3_pdf_page_with_the_apis_figures(
    store: Any, api: TestClient, tmp_path: Path, lang: str
) -> None:
    out = tmp_path / "brief.pdf"
    code, text = run("brief", "--date", "T-10", "-o", str(out), "--lang", lang, "--store", str(store))
    assert code == 0, text
    assert f"wrote {out}" in text and "T-10" in text
    completion = api.get("/completion", params={"date": "T-10"}).json()
    assert completion["date"] == T10
    page_text = check_page(out.read_bytes(), lang, completion)
    assert {"zh": "关键指标", "en": "Key figures"}[lang] in page_text
    fonts = embedded_fonts(out.read_bytes())
    assert fonts and all(embedded for _, embedded in fonts), fonts  # TrueType (Type 42), so the text is text


def test_the_cli_takes_the_format_from_the_file_name_or_the_option(store: Any, tmp_path: Path) -> None:
    png = tmp_path / "brief.png"
    code, text = run("brief", "--date", "T-10", "-o", str(png), "--store", str(store))
    assert code == 0, text
    w, h = png_size(png.read_bytes())
    assert abs(w - A3_PX_150[0]) <= 1 and abs(h - A3_PX_150[1]) <= 1, (w, h)
    plain = tmp_path / "brief-for-the-meeting"
    code, text = run("brief", "--date", "T-10", "-o", str(plain), "--format", "pdf", "--store", str(store))
    assert code == 0, text
    assert plain.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--date", "2026-13-45"], "2026-13-45"),
        (["--date", "T-1x"], "T-1x"),
        (["--date", "2020-01-01"], "no data on 2020-01-01"),  # before the twin's first commit
        (["--lang", "fr"], "--lang"),
        (["--format", "svg"], "--format"),
        (["--format", "png"], "does not match"),  # the file is named .pdf
    ],
)
def test_bad_input_exits_2_naming_it_and_writes_nothing(
    store: Any, tmp_path: Path, args: list[str], named: str
) -> None:
    out = tmp_path / "brief.pdf"
    code, text = run(
        "brief", "-o", str(out), "--store", str(store), *(["--date", "T-10"] if "--date" not in args else []), *args
    )
    assert code == 2, text
    assert named in text
    assert list(tmp_path.iterdir()) == []  # neither the file nor a part of it


def test_a_file_name_without_a_format_is_refused(store: Any, tmp_path: Path) -> None:
    code, text = run("brief", "--date", "T-10", "-o", str(tmp_path / "brief.docx"), "--store", str(store))
    assert code == 2 and "--format" in text
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- through the API
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_api_serves_the_briefing_as_pdf_with_the_figures_of_completion(api: TestClient, lang: str) -> None:
    r = api.get("/brief", params={"date": "T-10", "f": "pdf", "lang": lang})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="brief-{T10}-{lang}.pdf"' in r.headers["content-disposition"]
    completion = api.get("/completion", params={"date": "T-10"}).json()
    assert r.headers["x-twin-version"] == completion["version"]
    check_page(r.content, lang, completion)
    assert api.get("/brief", params={"date": "T-10", "lang": lang}).content[:5] == b"%PDF-"  # pdf by default


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_png_is_a3_at_150_dpi_for_messaging_apps(api: TestClient, lang: str) -> None:
    r = api.get("/brief", params={"date": "T-10", "f": "png", "lang": lang})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    w, h = png_size(r.content)
    assert abs(w - A3_PX_150[0]) <= 1 and abs(h - A3_PX_150[1]) <= 1, (w, h)
    save_artifact(f"brief-{lang}.png", r.content)  # for a person to look at: tests/artifacts/


def test_the_overdue_reports_are_listed_with_their_units(api: TestClient) -> None:
    r = api.get("/brief", params={"date": AFTER_OPENING, "lang": "en"})
    assert r.status_code == 200
    missing = api.get("/completion/missing", params={"date": AFTER_OPENING}).json()["missing"]
    assert len(missing) >= 5
    completion = api.get("/completion", params={"date": AFTER_OPENING}).json()
    assert len(completion["late"]) > 8  # more than the table's room: the first ones, then how many more
    text = check_page(r.content, "en", completion, every_late=False)
    flat = squashed(text)
    assert "Reports missing" in text
    after_late = text[text.index("Reports missing") :]  # the late list names the same codes
    shown = listed(after_late, [row["code"] for row in missing], "en", "/completion/units?f=html")
    assert shown >= 5
    for row in missing[:shown]:
        assert squashed(in_language(row["responsible_unit"], "en")) in flat
    assert "(stale)" in text  # a late project's figure is older than the last checkpoint


@pytest.mark.parametrize(
    ("query", "parameter", "status"),
    [
        ({"date": "T-1x"}, "date", 400),
        ({"date": "2026-02-30"}, "date", 400),
        ({"f": "svg"}, "f", 400),
        ({"lang": "fr"}, "lang", 400),
        ({"version": "zz"}, "version", 400),
        ({"colour": "red"}, "colour", 400),
    ],
)
def test_bad_parameters_are_400_naming_them(
    api: TestClient, query: dict[str, str], parameter: str, status: int
) -> None:
    body = problem_of(api.get("/brief", params=query), status, parameter)
    if parameter == "date":
        assert query["date"] in body["detail"]


def test_a_date_before_the_twins_history_says_when_it_starts(api: TestClient) -> None:
    body = problem_of(api.get("/brief", params={"date": "2020-01-01"}), 404)
    assert "history starts" in body["detail"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_before_any_project_is_registered_the_page_says_so(api: TestClient, lang: str) -> None:
    """On 07-01 the twin has its venue layers and no project yet: a big green "0.0%", "+0 against
    plan" and "0 projects" read as a season on track; the page says no project was registered."""
    text = pdf_page(api.get("/brief", params={"date": "2026-07-01", "lang": lang}).content)[1]
    assert squashed(i18n.label(lang, "no_projects_on", date="2026-07-01")) in squashed(text), text[:600]
    assert "0.0%" not in text and "+0" not in text


def test_closed_reads_need_a_token_as_completion_does(store: Any, tmp_path: Path) -> None:
    tokens = make_tokens(store)
    with client(store, public_reads=False) as closed:
        for url in ("/completion?date=T-10", "/brief?date=T-10"):
            problem_of(closed.get(url), 401)
        r = closed.get("/brief?date=T-10&f=png", headers=bearer(tokens["viewer"]))
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_without_a_cjk_font_the_page_is_drawn_with_a_warning(
    store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.brief

    monkeypatch.setattr(web.brief, "CJK_FAMILIES", ("No Such Font SC",))  # as on a machine without one
    out = tmp_path / "brief.pdf"
    with pytest.warns(RuntimeWarning, match="no CJK font found"):
        code, text = run("brief", "--date", "T-30", "-o", str(out), "--lang", "en", "--store", str(store))
    assert code == 0, text
    _, page_text = pdf_page(out.read_bytes())
    assert "2026-10-06" in page_text and "Late projects" in page_text


def test_a_forecast_gone_by_is_marked_passed_as_on_the_map(api: TestClient) -> None:
    """Before opening day the finish forecast from a late project's latest report can lie before the
    date of the page while it is not done: its forecast is carried forward to the date (a finish at or
    after it), and the map's panel says "(forecast 2026-10-29 passed, not reported done)"; the
    briefing marks it too, "2026-11-06 (was 10-29)", rather than print a forecast as if nothing had
    gone by. After opening day such a project has missed it: the forecast column says it was not
    reported done by opening day ("2026-11-02 (passed)" beside "missed" read as a contradiction)."""
    for day in (BEFORE_OPENING, AFTER_OPENING):
        completion = api.get("/completion", params={"date": day}).json()
        gone = [r for r in completion["late"][:6] if r["forecast_passed"]]
        assert gone, (day, completion["late"])
        assert all(r["missed_opening"] == (day == AFTER_OPENING) for r in gone), gone
        projects = {p["code"]: p for p in api.get("/projects", params={"date": day}).json()["projects"]}
        was = {r["code"]: projects[r["code"]]["forecast"]["passed_finish"] for r in gone}
        for r in gone:  # the forecast from its latest report went by; the one given is at or after the day
            assert was[r["code"]] < day <= r["forecast_finish"], (r, was[r["code"]])
        for lang, words in (("en", ("D (was W)", "(was")), ("zh", ("D（原预测 W）", "原预测"))):
            assert i18n.label(lang, "brief_forecast_passed", date="D", was="W") == words[0]
            text = pdf_page(api.get("/brief", params={"date": day, "lang": lang}).content)[1]
            table = squashed(brief_tables(text, lang)[0])
            for r in gone:
                row = table[table.index(r["code"]) :][:200]
                if day == BEFORE_OPENING:  # "2026-11-06 (was 10-29)": the finish that passed, MM-DD
                    mark = i18n.label(lang, "brief_forecast_passed", date=r["forecast_finish"], was=was[r["code"]][5:])
                    assert squashed(mark) in row, (lang, r["code"], row)
                else:
                    assert squashed(i18n.label(lang, "not_done_by_opening")) in row, (lang, r["code"], row)
                    assert r["forecast_finish"] not in row and words[1] not in row, (lang, r["code"], row)


def test_after_opening_day_a_project_not_done_has_missed_it_not_a_chance_of_it(api: TestClient) -> None:
    """After opening day a late project not reported done has missed opening day: /completion's late
    list says so (p_late 1, missed_opening), and the briefing's "Chance late" column says "missed",
    never "0%" (a forecast finish before opening day, counted from a report a month old, gave 0%)."""
    late = api.get("/completion/late", params={"date": AFTER_OPENING}).json()["late"]
    behind = [r for r in late if r["percent"] < 100.0]
    assert behind and all(r["missed_opening"] and r["p_late"] == 1.0 for r in behind), behind
    projects = api.get("/projects", params={"date": AFTER_OPENING}).json()["projects"]
    passed = {p["code"]: p["forecast"]["passed_finish"] for p in projects if p["forecast_passed"]}
    assert any(passed.get(r["code"], "9999") < "2026-11-05" for r in behind)  # the case that read 0%
    assert all(p["missed_opening"] == (p["status"] != "done") for p in projects)
    langs = (("en", "Missed opening day", "Reports missing", "missed"), ("zh", "开幕日未完工", "逾期未报", "已误期"))
    for lang, heading, end, word in langs:
        text = pdf_page(api.get("/brief", params={"date": AFTER_OPENING, "lang": lang}).content)[1]
        table = text[text.index(heading) : text.index(end)]
        assert table.count(word) >= min(len(behind), 7), (lang, table)  # every row the table has room for
        assert not re.search(r"(?<![\d.])0%", table), (lang, table)
    # before opening day it is a chance
    t10 = api.get("/completion/late", params={"date": T10}).json()["late"]
    assert t10 and not any(r["missed_opening"] for r in t10)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_imagery_disputed_are_apart_from_the_late(strict: TestClient, surveyed_twin: Path, lang: str) -> None:
    """On 10-20 (the T-30 flights latest), with the stricter margin, nine projects are flagged by the
    imagery and not late by their schedule: the late table heads the late count (the map's legend's
    "behind"), and those nine follow under a heading of their own with their count (the first of
    them, and how many more: the page holds no more); those reported done say so and when (LS-04
    on 10-16), with no forecast, no days late and no chance of missing opening day."""
    c = strict
    behind = [
        p["code"] for p in c.get("/projects", params={"date": "2026-10-20", "status": "behind"}).json()["projects"]
    ]
    late = c.get("/completion/late", params={"date": "2026-10-20"}).json()["late"]
    resp = c.get("/brief", params={"date": "2026-10-20", "lang": lang})
    assert resp.status_code == 200, resp.text[:300]
    data = resp.content
    save_artifact(f"brief-imagery-disputed-{lang}.pdf", data)
    disputed = [r["code"] for r in late if r["code"] not in behind]
    assert set(disputed) == STRICT_FLAGGED and len(disputed) == 9 and behind, (behind, disputed)
    text = squashed(pdf_page(data)[1])
    heading, sub, done = {
        "en": ("Lateprojects", "Imagerydisagreeswiththereport", "Done,reported2026-10-16"),
        "zh": ("滞后工程", "影像与填报不符", "已完成，2026-10-16填报"),
    }[lang]
    table = text[text.index(heading) : text.index(squashed({"en": "Reports missing", "zh": "逾期未报"}[lang]))]
    assert f"({len(behind)})" in table and f"({len(late)})" not in table
    late_part, _, disputed_part = table.partition(f"{sub}({len(disputed)})")
    assert disputed_part, table
    assert all(code in late_part for code in behind) and not any(code in late_part for code in disputed)
    # nine do not fit the page: the group, in code order, shows its first ones and says how many more
    shown = [code for code in sorted(disputed) if code in disputed_part]
    page_text = pdf_page(data)[1]
    more = re.search(
        MORE_LINE[lang], page_text[page_text.index({"en": "Imagery disagrees", "zh": "影像与填报不符"}[lang]) :]
    )
    assert len(shown) >= 2 and shown == sorted(disputed)[: len(shown)], (shown, disputed_part)
    assert more and len(shown) + int(more[1]) == len(disputed), disputed_part
    # each shown one reported done says so and when (LS-04 on 10-16), with no forecast
    done_shown = [r for r in late if r["code"] in shown and r["percent"] >= 100.0]
    assert "LS-04" in shown and len(done_shown) >= 2, (shown, done_shown)
    assert disputed_part.count(done.split("2026")[0]) == len(done_shown), disputed_part
    assert disputed_part.count(done) == len([c for c in shown if c in ("LS-04", "RD-04", "RD-08")]), disputed_part
    # the footer names the version the imagery was read at (the head), beside the register's on
    # that day: both are needed to read the figures again (it named the register's only)
    with Twin.open(surveyed_twin) as twin:
        head = twin.head()
        day = twin.resolve(asof="2026-10-20").commit
    assert head is not None and day is not None and head.id != day.id
    # said in words a leader parses ("影像按版本 … 所录航测" did not read)
    said = {
        "en": f"Imagery: the surveys recorded by twin version {head.id[:12]}.",
        "zh": f"航测影像：截至孪生版本 {head.id[:12]} 已登记的航测。",
    }[lang]
    assert squashed(said) in text and day.id[:12] in text, text[-400:]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_imagery_mark_is_a_badge_not_the_behind_flag(surveyed: TestClient, lang: str) -> None:
    """⚑ counts the behind projects (the area bars and their note); an imagery flag is the maps'
    "imagery" / "影像" badge, before the disputed group's heading and before each of its codes,
    never ⚑ (a leader read ⚑LS-04 as one more late project)."""
    c = surveyed
    late = c.get("/completion/late", params={"date": "2026-10-20"}).json()["late"]
    behind = {
        p["code"] for p in c.get("/projects", params={"date": "2026-10-20", "status": "behind"}).json()["projects"]
    }
    data = surveyed_brief(c, "2026-10-20", lang)
    png = surveyed_brief(c, "2026-10-20", lang, "png")
    save_artifact(f"brief-imagery-badge-{lang}.pdf", data)
    save_artifact(f"brief-imagery-badge-{lang}.png", png)
    disputed = [r["code"] for r in late if r["code"] not in behind]
    assert disputed
    text = squashed(pdf_page(data)[1])
    badge, sub = {"en": ("imagery", "Imagerydisagreeswiththereport"), "zh": ("影像", "影像与填报不符")}[lang]
    table = text[text.index({"en": "Lateprojects", "zh": "滞后工程"}[lang]) :]
    assert "⚑" not in table, table  # the behind flag is not the imagery mark
    assert f"{badge}{sub}({len(disputed)})" in table
    for code in disputed:
        assert f"{badge}{code}" in table, code
    assert "⚑" in text[: text.index({"en": "Lateprojects", "zh": "滞后工程"}[lang])]  # the behind counts keep it


def test_a_layer_added_later_leaves_earlier_pages_as_they_were(tmp_path: Path) -> None:
    """A layer an admin adds today did not exist at T-10: the briefing and the completion map of T-10
    draw the layers as they were then (they answered 404 "no layer ... as of <commit>")."""
    from twin import Twin

    store = build_venue(tmp_path / "venue.gpkg")
    with Twin.open(store) as twin:
        twin.create_layer(
            {"name": "guard_posts", "title_zh": "岗亭", "title_en": "Guard posts", "geometry_types": ["Point"]},
            author="admin",
        )
    with client(store) as c:
        for path in ("/brief", "/maps/completion"):
            r = c.get(path, params={"date": T10, "lang": "en", **({"f": "pdf"} if path == "/brief" else {})})
            assert r.status_code == 200, (path, r.text[:300])
        assert c.get("/maps/completion", params={"lang": "en"}).status_code == 200
        for path, params in (
            ("/maps/timeline", {}),
            ("/maps/changes", {"from": "2026-09-01", "to": T10}),
            ("/maps/layers/halls", {"version": "HEAD~1"}),
            ("/maps/data/panel", {"date": T10}),
        ):
            r = c.get(path, params={"lang": "en", **params})
            assert r.status_code == 200, (path, r.text[:300])


def drawn_in_grey(halls: Sequence[str], roads: Sequence[str], width: float) -> Callable[..., Any]:
    """The briefing's map drawing of halls side by side (90 wide, 20 apart, in these statuses) and
    of two roads above the first two (in these), on a plain figure `width` units wide: the grey
    levels (0-255) of a box of it, by its data coordinates."""
    import geopandas as gpd
    import numpy as np
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from web import brief

    fig = Figure(figsize=(6, 2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    codes = ["1.1H", "2.1H", "3H"][: len(halls)]
    boxes = [shapely.box(0, 0, 90, 90), shapely.box(110, 0, 200, 90), shapely.box(220, 0, 300, 90)][: len(halls)]
    frame = gpd.GeoDataFrame(
        {"code": codes, "status": list(halls), "level": ["0m"] * len(halls)}, geometry=boxes, crs=brief.MAP_CRS
    )
    brief._draw_halls(ax, frame, "en")
    lines = gpd.GeoDataFrame(
        {"road_class": ["arterial", "arterial"], "status": list(roads), "name_en": ["A", "B"]},
        geometry=[shapely.LineString([(0, 95), (90, 95)]), shapely.LineString([(110, 95), (200, 95)])],
        crs=brief.MAP_CRS,
    )
    brief._draw_roads(ax, lines, shapely.box(0, 0, 200, 100), "en")
    ax.set_xlim(0, width)
    ax.set_ylim(0, 100)
    ax.set_axis_off()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    h = fig.canvas.get_width_height()[1]

    def grey(x0: float, y0: float, x1: float, y1: float) -> Any:
        (px0, py0), (px1, py1) = ax.transData.transform([(x0, y0), (x1, y1)])
        box = rgba[round(h - py1) : round(h - py0), round(px0) : round(px1), :3].astype(float)
        return 0.299 * box[..., 0] + 0.587 * box[..., 1] + 0.114 * box[..., 2]

    return grey


def test_behind_and_on_track_read_apart_from_done_in_grey() -> None:
    """On a black-and-white printer the briefing's red (behind), green (on track) and blue (done)
    are the same dark grey: a behind hall, plaza zone or lawn carries white stripes over its fill,
    an on-track one white dots, a behind road a white dashed stripe; done ones stay plain."""
    grey = drawn_in_grey(["behind", "done", "on_track"], ["behind", "done"], 300)

    def white_share(x0: float, y0: float, x1: float, y1: float) -> float:
        return float((grey(x0, y0, x1, y1) > 200).mean())

    assert white_share(20, 20, 70, 70) > 0.15  # the behind hall, striped
    assert white_share(130, 20, 180, 70) < 0.02  # the done one, plain
    assert white_share(235, 20, 285, 70) > 0.03  # the on-track one, dotted
    # the behind road: a white dash down its middle; the done road none
    assert white_share(10, 94.5, 80, 95.5) > 0.1
    assert white_share(120, 94.5, 190, 95.5) < 0.02


@pytest.mark.parametrize(("lang", "day"), [("en", T10), ("zh", T10), ("en", "2026-10-20")])
def test_no_unit_or_person_is_cut_short(surveyed: TestClient, lang: str, day: str) -> None:
    """On the twin with the demo surveys, a disputed project's long imagery note took the late
    table's room in proportion to its length: "State Grid Shanghai Ele…" at T-10, every unit cut on
    10-20 ("NECC Shanghai, v…") - the names a leader calls. Every late and disputed row keeps its
    unit and person whole, a late project its name, and every row is still listed."""
    c = surveyed
    late = c.get("/completion/late", params={"date": day}).json()["late"]
    behind = {p["code"] for p in c.get("/projects", params={"date": day, "status": "behind"}).json()["projects"]}
    data = surveyed_brief(c, day, lang)
    save_artifact(f"brief-rows-whole-{lang}-{day}.pdf", data)
    text = pdf_page(data)[1]
    heading, next_heading = {"zh": ("滞后工程", "逾期未报"), "en": ("Late projects", "Reports missing")}[lang]
    table = text[text.index(heading) : text.index(next_heading)]
    flat = squashed(table)
    assert late and behind
    assert "more" not in table and "另有" not in table, table  # every row listed
    for row in late:
        assert row["code"] in flat
        assert squashed(in_language(row["responsible_unit"], lang)) in flat, (row["code"], table)
        assert squashed(in_language(row["responsible_person"], lang)) in flat, (row["code"], table)
        if row["code"] in behind:
            assert squashed(row["name_en"] if lang == "en" else row["name_zh"]) in flat, (row["code"], table)


@pytest.mark.parametrize(("lang", "day"), [("en", "2026-10-21"), ("zh", "2026-10-21"), ("en", T10)])
def test_the_imagerys_note_keeps_its_figure(surveyed: TestClient, lang: str, day: str) -> None:
    """A disputed project's name carries what the imagery showed; cut to two lines it lost the
    figure's end ("imagery shows 49 % gre…" at T-15): the note is whole, and no late row is left out
    for it (the third line is taken only when every row the two-line table lists still is)."""
    text = brief_of(surveyed, day, lang, f"brief-imagery-note-{lang}-{day}.pdf")
    sub = {"en": "Imagery disagrees with the report", "zh": "影像与填报不符"}[lang]
    table = brief_tables(text, lang)[0]
    disputed = table[table.index(sub) :]
    assert "…" not in disputed, disputed
    shows = {
        "en": r"imagery\s*shows\s*\d+\s*%\s*(green\s*cover|finished\s*surface)\s*on\s*\d\d-\d\d",
        "zh": r"航测影像显示\D*\d+\s*%",
    }[lang]
    assert re.search(shows, disputed), disputed


def test_the_chance_of_missing_opening_day_has_the_maps_name(api: TestClient) -> None:
    """The briefing's column says 赶不上开幕日的概率 as the map's popup and the project page do (it said
    误期概率, a second name for the same probability)."""
    text = squashed(pdf_page(api.get("/brief", params={"date": "T-10", "lang": "zh"}).content)[1])
    assert "赶不上开幕日的概率" in text and "误期" not in text
    assert i18n.label("zh", "late_chance", p="1", low="a", high="b").startswith(i18n.label("zh", "brief_p_late"))


def test_a_long_late_list_leaves_the_imagery_group_rows_not_a_bare_heading() -> None:
    """The late table's box full of late projects: the imagery's group keeps its heading and two
    rows, and one line says how many of each are left out (it was the heading over no row, then
    "9 more")."""
    from web.brief import Box, Column, Page, Table, font_families

    note = "Venue lawns renewal: imagery shows 55 % green cover on 10-26"
    page = Page(font_families())
    table = Table(
        "Late projects", [Column("Code", 17), Column("Project", 60, flex=True)],
        [[f"LT-{i:02d}", f"Late project {i}"] for i in range(30)], "none",
        lambda n: f"{n} more late", lambda i, j: "#000000",
        "Imagery disagrees (5)", [[f"IM-{i}", note] for i in range(5)], lambda n: f"{n} more imagery",
    )  # fmt: skip
    table.draw(page, Box(12, 18, 110, 80))
    texts = [t.get_text() for t in page.ax.texts]
    assert "Imagery disagrees (5)" in texts
    assert "IM-0" in texts and "IM-1" in texts and "IM-2" not in texts
    shown_late = len({t for t in texts if t.startswith("LT-")})  # (a bold text is drawn twice)
    assert 0 < shown_late < 30
    # each group's "more" line under its own rows: the late one directly under the late rows, over
    # the imagery's heading (after that group it read as more imagery)
    ys = {t.get_text(): t.get_position()[1] for t in page.ax.texts}
    assert ys[f"{30 - shown_late} more late"] > ys["Imagery disagrees (5)"] > ys["3 more imagery"], texts[-3:]
    assert ys[f"LT-{shown_late - 1:02d}"] > ys[f"{30 - shown_late} more late"]
    row = " ".join(t for t in texts if "lawns" in t or "imagery shows" in t or "cover" in t)
    assert "55 % green cover" in row.replace("\n", " ") and "…" not in row, row
    # all of it fits: every row, no "more" line
    page = Page(font_families())
    short = Table(
        "Late projects", [Column("Code", 17), Column("Project", 60, flex=True)],
        [["LT-01", "Late project"]], "none", lambda n: f"{n} more late", lambda i, j: "#000000",
        "Imagery disagrees (1)", [["IM-0", note]], lambda n: f"{n} more imagery",
    )  # fmt: skip
    short.draw(page, Box(12, 18, 110, 80))
    texts = [t.get_text() for t in page.ax.texts]
    assert "IM-0" in texts and not any("more" in t for t in texts)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_with_no_report_missing_the_late_table_takes_the_room(surveyed: TestClient, lang: str) -> None:
    """At T-15 no report is overdue: the briefing listed 4 of the 8 late projects, each on two lines,
    beside 170 mm of a box saying "No report is overdue" over its column heads. That box now holds
    its line alone, and the late table (one line a row) lists at least 7 of them, in whole days."""
    text = brief_of(surveyed, "2026-10-21", lang, f"brief-no-missing-{lang}.pdf")
    comp = surveyed.get("/completion", params={"date": "2026-10-21"}).json()
    next_heading = TABLE_HEADS[lang][1]
    none = {"en": "No report is overdue.", "zh": "没有逾期未报的进度。"}[lang]
    behind = [r["code"] for r in comp["late"] if not r["evidence_flag"]]
    assert len(behind) == 8, behind
    table, missing = brief_tables(text, lang)
    assert listed(table, behind, lang, "/completion/units?f=html") >= 7
    assert not re.search(r"\d+\.\d+\s+\d{4}-\d\d-\d\d", table)  # days late whole ("33", not "33.4")
    assert squashed(none) in squashed(missing)
    code_head = {"en": "Code", "zh": "编号"}[lang]
    assert code_head not in missing.split(none[:4])[0].replace(next_heading, ""), missing[:200]


def test_both_languages_list_the_same_projects_and_say_where_the_rest_are_that_day(surveyed: TestClient) -> None:
    """The zh and the en papers of one meeting list the same late projects and the same overdue
    reports (English names wrap onto two lines: it listed 5 of the 12 late against Chinese 9), and
    the "more" line points to the list of the briefing's date, not of today."""
    shown = {}
    for lang in ("en", "zh"):
        text = brief_of(surveyed, AFTER_OPENING, lang, f"brief-both-{lang}.pdf")
        late, missing = brief_tables(text, lang)
        shown[lang] = (re.findall(r"\b[A-Z]{2}-\d\d\b", late), re.findall(r"\b[A-Z]{2}-\d\d\b", missing))
        assert f"/completion/units?f=html&date={AFTER_OPENING}&lang={lang}" in squashed(late), late[-300:]
    assert shown["en"] == shown["zh"], shown
    assert len(set(shown["en"][0])) >= 6  # 5 late and 1 of the imagery (a code is drawn twice, bold)


MORE_LINE = {"en": r"(\d+) more", "zh": r"另有 (\d+) 项"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_more_line_links_to_a_page_in_the_briefings_language_listing_them_all(
    surveyed: TestClient, lang: str
) -> None:
    """A "N more" line ended in a JSON address (/completion/late?date=…, /completion/missing?…,
    /evidence?flagged=true&…) a leader cannot read: it names, and in the PDF links, an HTML page of
    the briefing's date in its language that lists every one of them (the units page lists each
    unit's late projects and overdue reports; the evidence page the imagery's)."""
    data = surveyed_brief(surveyed, AFTER_OPENING, lang)
    page, text = pdf_page(data)
    late, missing = brief_tables(text, lang)
    assert re.search(MORE_LINE[lang], late), late[-300:]  # the late table lists some of them
    flat = squashed(text)
    for api_path in ("/completion/late", "/completion/missing"):
        assert api_path not in flat, flat[-600:]
    assert "/evidence" not in flat.replace("/evidence?f=html", ""), flat[-600:]  # the JSON's address
    # printed as the page's path (tests/test_brief_paper.py: no host the reader cannot open), linked
    # at the address the PDF was asked from
    units = f"http://testserver/completion/units?f=html&date={AFTER_OPENING}&lang={lang}"
    assert squashed(units.removeprefix("http://testserver")) in squashed(late), late[-300:]
    links = {a.get_object()["/A"].get("/URI") for a in page.get("/Annots", [])}
    assert units in links, links
    r = surveyed.get(units)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in r.text
    behind = surveyed.get("/projects", params={"date": AFTER_OPENING, "status": "behind"}).json()["projects"]
    overdue = surveyed.get("/completion/missing", params={"date": AFTER_OPENING}).json()["missing"]
    assert behind and overdue
    for code in {p["code"] for p in behind} | {m["code"] for m in overdue}:
        assert f'data-project-link="{code}"' in r.text, code


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_imagery_groups_more_line_names_the_evidence_page(
    strict: TestClient, surveyed_twin: Path, lang: str
) -> None:
    """The imagery group's "N more" line sent a leader to the completion map of the day, whose own
    list of them stops at its length too. It names, and in the PDF links, the evidence page of the
    briefing's date and language (and version, when the briefing has one: /evidence?f=html&
    flagged=true&date=…&version=…&lang=…), which lists every project the imagery disagrees with
    (with the stricter margin, nine)."""
    from completion.snapshot import Completion
    from web.brief import Box, Page, _late_table, font_families, gather

    day = "2026-10-20"  # the T-30 flights the latest: nine projects flagged by the imagery, none late
    with Twin.open(surveyed_twin) as twin:
        version = twin.resolve().commit.id[:12]
        comp = Completion(twin)
        for v in (None, version):
            snap = comp.at(day, v)
            facts = gather(twin, comp, snap, lang, v)
            assert {d["code"] for d in facts.disputed} == STRICT_FLAGGED and len(facts.disputed) == 9
            table = _late_table(facts, lang, link=lambda code: code, version=v, base_url="http://testserver")
            at = f"&version={version}" if v else ""
            url = f"http://testserver/evidence?f=html&flagged=true&date={day}{at}&lang={lang}"
            assert table.second_more is not None and table.more_links[1] == url
            # printed as the page's path (no host a reader of the paper may not reach), linked in full
            path = url.removeprefix("http://testserver")
            assert table.second_more(1) == i18n.label(lang, "brief_more_imagery_page", n=1, url=path)
            # drawn in a box too small for its rows: the imagery's group is shortened, and its line
            # names the page and links it
            page = Page(font_families())
            table.draw(page, Box(12, 18, 250, 20))
            lines = [t for t in page.ax.texts if t.get_url() == url]
            assert lines and squashed(path) in squashed("".join(t.get_text() for t in lines))
            assert re.match(MORE_LINE[lang], lines[0].get_text()), lines[0].get_text()
            assert not any("/maps/completion" in t.get_text() for t in page.ax.texts)
    # the page it names lists every one of them
    r = strict.get(f"/evidence?f=html&flagged=true&date={day}&lang={lang}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert all(f'data-project-link="{d["code"]}"' in r.text for d in facts.disputed)


def test_at_risk_reads_apart_from_not_started_in_grey() -> None:
    """On a black-and-white printer the briefing's amber (at risk) and grey (not started) were one
    grey (177 and 158): an at-risk hall carries a dark cross-hatch over its fill, an at-risk road a
    dark dashed stripe down its middle, as on the web map (web/maps.py STATUS_PATTERNS); the legend
    and the key figures' swatches the same hatch. Not started stays plain."""
    from web import brief, maps

    assert "at_risk" in brief.STATUS_HATCHES  # the legend's and key figures' swatches draw these
    assert set(brief.STATUS_HATCHES) == set(maps.STATUS_PATTERNS)
    grey = drawn_in_grey(["at_risk", "not_started"], ["at_risk", "not_started"], 200)

    def dark_share(x0: float, y0: float, x1: float, y1: float) -> float:
        return float((grey(x0, y0, x1, y1) < 120).mean())

    assert dark_share(20, 20, 70, 70) > 0.05  # the at-risk hall, cross-hatched
    assert dark_share(130, 20, 180, 70) < 0.01  # the not-started one, plain
    assert dark_share(10, 94.5, 80, 95.5) > 0.1  # the at-risk road's dark dashes
    assert dark_share(120, 94.5, 190, 95.5) < 0.02


# ---------------------------------------------------------------------------- a briefing made after opening day
NOTE_BLUE = (0x25, 0x63, 0xEB)  # the maps' landing note's bar (panels.css .vt-landing-note)
PNG_DPI = 150


def note_bar_in_png(data: bytes) -> bool:
    """Whether the PNG has the note's blue bar between the header's rule and the sections."""
    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB")
    top, bottom = (round((297 - mm) / 25.4 * PNG_DPI) for mm in (264.0, 259.0))
    band = im.crop((0, top, im.width, bottom))
    return any(max(abs(a - b) for a, b in zip(px, NOTE_BLUE, strict=True)) <= 12 for px in band.getdata())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_briefing_made_after_opening_day_says_so_on_the_paper(
    api: TestClient, store: Any, tmp_path: Path, today: Callable[[str], None], lang: str
) -> None:
    """A briefing asked for without a date after a checkpoint, before its round of reports, is of
    that checkpoint (T-10), headed "10 days to opening day": the paper itself says what the
    completion map's banner says (which date it shows, that no report has come in since and today's
    date), in PDF and PNG, from the API and the CLI; a forwarded copy said nothing else. After
    opening day one without a date is today's (completion.landing: what missed opening day), with
    nothing to add. A briefing of a date before opening day made after it says that opening day has
    passed; one made before opening day of that day says nothing."""
    from completion.landing import landing_date

    early = "2026-10-29"
    today(early)
    with Twin.open(store) as twin:
        landing = landing_date(twin)
    assert landing.moved and landing.reason == "no_reports_since_checkpoint" and landing.on.isoformat() == T10
    when = i18n.label(lang, "brief_note_before", n=10)
    shown = squashed(i18n.label(lang, "brief_note_shows_latest", date=T10, when=when))
    why = squashed(i18n.label(lang, "landed_no_reports", today=early))
    r = api.get("/brief", params={"lang": lang})
    assert r.status_code == 200
    text = squashed(pdf_page(r.content)[1])
    assert T10 in text and shown in text and why in text, text[:400]
    assert note_bar_in_png(api.get("/brief", params={"lang": lang, "f": "png"}).content)
    out = tmp_path / f"brief-{lang}.pdf"
    code, output = run("brief", "-o", str(out), "--lang", lang, "--store", str(store))
    assert code == 0, output
    text = squashed(pdf_page(out.read_bytes())[1])
    assert shown in text and why in text, text[:400]
    # after opening day: today's paper, no note
    today("2026-12-07")
    passed = squashed(i18n.label(lang, "brief_note_passed", today="2026-12-07"))
    r = api.get("/brief", params={"lang": lang})
    text = squashed(pdf_page(r.content)[1])
    assert "2026-12-07" in text and shown not in text and passed not in text, text[:400]
    assert not note_bar_in_png(api.get("/brief", params={"lang": lang, "f": "png"}).content)
    # a date before opening day asked for: that opening day has passed, not which date the maps show
    text = squashed(pdf_page(api.get("/brief", params={"lang": lang, "date": "2026-10-06"}).content)[1])
    assert passed in text and shown not in text, text[:400]
    # made before opening day, of that day: nothing to add
    today(T10)
    r = api.get("/brief", params={"lang": lang})
    text = squashed(pdf_page(r.content)[1])
    assert squashed(i18n.label(lang, "brief_note_passed", today=T10)) not in text
    assert squashed(i18n.label(lang, "brief_note_shows_latest", date=T10, when=when)) not in text
    assert not note_bar_in_png(api.get("/brief", params={"lang": lang, "f": "png"}).content)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_evidence_page_names_the_imagerys_version_in_the_briefings_words(
    surveyed: TestClient, surveyed_twin: Path, lang: str
) -> None:
    """The evidence page's header, of a date whose figures are of an earlier version than the
    imagery's, names the imagery's version as the briefing's footer does, in words a leader parses
    ("影像按版本 … 所录航测" did not read); of the head, whose version is the imagery's, it says
    the version once."""
    with Twin.open(surveyed_twin) as twin:
        head = twin.head()
    assert head is not None
    said = i18n.label(lang, "brief_imagery_version", version=head.id[:12])
    page = surveyed.get("/evidence", params={"f": "html", "date": "2026-10-20", "lang": lang}).text
    assert said in page, page[:3000]
    # the head's own day in Shanghai (the session's twin is built today: a fixed date read as of the
    # day before once Shanghai's midnight had passed, and the head's imagery was not yet in it)
    head_day = head.time.astimezone(SHANGHAI).date().isoformat()
    page = surveyed.get("/evidence", params={"f": "html", "lang": lang, "date": head_day}).text
    assert said not in page and head.id[:12] in page, page[:3000]


def test_the_datas_age_reads_as_days_earlier(api: TestClient) -> None:
    """The map's caption says how old the newest report is against the page's date: "(15 days
    earlier)" ("(15 days before)" read as before something unnamed)."""
    for lang, said in (("en", "latest report 2026-10-26 (15 days earlier)"), ("zh", "最新填报 2026-10-26（15 天前）")):
        text = pdf_page(api.get("/brief", params={"date": AFTER_OPENING, "lang": lang}).content)[1]
        assert squashed(said) in squashed(text), text[:600]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_old_dates_paper_says_which_date_it_shows_apart_from_today(
    api: TestClient, store: Any, tmp_path: Path, today: Callable[[str], None], lang: str
) -> None:
    """Made after opening day, a briefing of 2026-10-06 printed "30 days to opening day" beside
    "Opening day has passed; today is 2026-12-07", which a tester read as a contradiction: the note
    says which date the paper shows and how long before opening day that was, then that opening day
    has since passed, with today's date. A date named that is also the maps' landing date (T-10)
    is not called "the latest checkpoint with reports", as if chosen for the reader; without a date
    the paper is today's, with nothing to add."""
    today("2026-12-07")
    passed = squashed(i18n.label(lang, "brief_note_passed", today="2026-12-07"))
    latest = squashed({"en": "the latest checkpoint with reports", "zh": "有填报数据的最近节点"}[lang])

    def paper(*date: str) -> str:
        out = tmp_path / f"brief-{lang}-{len(date)}.pdf"
        code, output = run("brief", "-o", str(out), "--lang", lang, "--store", str(store), *date)
        assert code == 0, output
        save_artifact(f"brief-note-{lang}-{date[-1] if date else 'landed'}.pdf", out.read_bytes())
        return squashed(pdf_page(out.read_bytes())[1])

    text = paper("--date", "2026-10-06")
    when = i18n.label(lang, "brief_note_before", n=30)
    assert squashed(i18n.label(lang, "brief_note_shows", date="2026-10-06", when=when)) in text, text[:500]
    assert passed in text and latest not in text
    # the old wording, which read as a contradiction, is not on the paper
    assert squashed(i18n.label(lang, "landed_after_opening", today="2026-12-07")) not in text
    text = paper("--date", T10)
    when = i18n.label(lang, "brief_note_before", n=10)
    assert squashed(i18n.label(lang, "brief_note_shows", date=T10, when=when)) in text, text[:500]
    assert passed in text and latest not in text, text[:500]
    text = paper()  # no date: today's paper after opening day (completion.landing), nothing to add
    assert latest not in text and passed not in text, text[:500]
    # the API the same: /brief?date= names a date, /brief opens on today
    named = squashed(pdf_page(api.get("/brief", params={"lang": lang, "date": T10}).content)[1])
    assert latest not in named and passed in named, named[:500]
    landed = squashed(pdf_page(api.get("/brief", params={"lang": lang}).content)[1])
    assert latest not in landed and passed not in landed, landed[:500]
    # the completion map's banner keeps its own words
    assert i18n.label("en", "landed_after_opening", today="X") == "Opening day has passed; today is X."


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_long_project_names_and_the_imagery_note_are_whole(surveyed: TestClient, lang: str) -> None:
    """After opening day the English late table cut names at two lines: "Huizhuo Road overhead
    lines b…", "Landscape lamps around the flowe…", and the imagery's finding "Venue lawns renewal:
    imagery shows 55 % gree…": the forecast column took the room on one line ("not reported done by
    opening day"). Each listed project's name, unit and person is whole, and nothing in the table is
    cut with an ellipsis, in both languages; the page stays one A3 sheet."""
    c = surveyed
    data = surveyed_brief(c, AFTER_OPENING, lang)
    save_artifact(f"brief-names-whole-{lang}.pdf", data)
    page, text = pdf_page(data)  # (one page, checked)
    assert abs(float(page.mediabox.width) - A3_PT[0]) <= 1 and abs(float(page.mediabox.height) - A3_PT[1]) <= 1
    table = brief_tables(text, lang)[0]
    flat = squashed(table)
    assert "…" not in table, table
    late = c.get("/completion/late", params={"date": AFTER_OPENING}).json()["late"]
    listed_rows = [r for r in late if r["code"] in table]
    assert len(listed_rows) >= 6, table
    for r in listed_rows:
        name = r["name_en"] if lang == "en" else r["name_zh"]
        assert squashed(name) in flat, (r["code"], name, table)
        assert squashed(in_language(r["responsible_unit"], lang)) in flat, (r["code"], table)
        assert squashed(in_language(r["responsible_person"], lang)) in flat, (r["code"], table)
    if lang == "en":
        for name in ("Huizhuo Road overhead lines", "Landscape lamps around the flower"):
            assert squashed(name) in flat, (name, table)
        assert re.search(r"imagery\s*shows\s*\d+\s*%\s*green\s*cover\s*on\s*\d\d-\d\d", table), table


def test_each_areas_bar_has_the_colour_of_its_worst_project(api: TestClient, store: Any) -> None:
    """The area bars were coloured by points against plan, in the map's status colours: Roads 99.4 %
    green beside ⚑2, two of its projects having missed opening day. Each bar now has the colour (and
    the print pattern) the completion map gives its worst project that day (completion.status
    SEVERITY: a behind project makes it red), and a line under the bars says so."""
    import matplotlib
    import numpy as np
    from matplotlib.colors import to_hex
    from matplotlib.patches import Rectangle
    from PIL import Image

    from completion.snapshot import Completion
    from completion.status import SEVERITY
    from web import brief

    with Twin.open(store) as twin:
        comp = Completion(twin)
        facts = brief.gather(twin, comp, comp.at(AFTER_OPENING, None), "en")
    roads = next(g for g in facts.areas if g.key == "roads")
    assert roads.actual > 99 and roads.counts.get("behind"), roads  # the case the tester saw
    # where the bars are: the key figures' box has the same place on every page
    page = brief.Page(brief.font_families())
    with matplotlib.rc_context(brief._RC):
        brief._key_figures(page, brief._layout(brief.MIN_TABLES_H, brief.LATE_W).figures, facts, "en")
    texts = {t.get_text(): t.get_position()[1] for t in page.ax.texts}
    assert any(i18n.label("en", "brief_bar_colour") in t for t in texts), list(texts)
    png = Image.open(io.BytesIO(api.get("/brief", params={"date": AFTER_OPENING, "lang": "en", "f": "png"}).content))
    png = png.convert("RGB")

    def px(x_mm: float, y_mm: float) -> tuple[int, int]:
        return round(x_mm / 25.4 * PNG_DPI), round((297 - y_mm) / 25.4 * PNG_DPI)

    for g in facts.areas:
        worst = next(s for s in SEVERITY if g.counts.get(s))
        y = texts[facts.area_titles[g.key]]
        fill = [
            p
            for p in page.ax.patches
            if isinstance(p, Rectangle)
            and abs(p.get_y() - (y - 0.5)) < 1e-6
            and p.get_facecolor()[3] > 0
            and to_hex(p.get_facecolor()) != "#e5e7eb"  # the bar's grey track
        ]
        assert len(fill) == 1, (g.key, fill)
        bar = fill[0]
        assert to_hex(bar.get_facecolor()) == i18n.STATUS_COLOURS[worst].lower(), (g.key, worst)
        # on the page: the bar's pixels are mostly its worst status's colour (a pattern over it)
        (x0, y0), (x1, y1) = px(bar.get_x() + 1, bar.get_y() + 2.7), px(bar.get_x() + 25, bar.get_y() + 0.5)
        colours = np.asarray(png.crop((x0, y0, x1, y1))).reshape(-1, 3).astype(int)
        want = np.array([int(i18n.STATUS_COLOURS[worst][k : k + 2], 16) for k in (1, 3, 5)])
        near = int((np.abs(colours - want).max(axis=1) <= 24).sum())
        assert near > 0.5 * len(colours), (g.key, worst, near, len(colours))
