"""The printed briefing on a leader's office paper, and the addresses it prints.

A4: `paper=a4` (the API) or `--paper a4` (the CLI) draws the briefing on two A4 portrait pages, as
PDF: the first the completion map and the key figures, the second the S-curve and the late and
overdue tables, each page with the header and a footer saying which page of two it is. `paper=a4`
was refused with a 400, and an A3 page printed "fit to page" on A4 set the tables in 5.9 pt.

Addresses: a briefing's "N more; every late project ...: <address>" line printed the host the PDF was
asked from, http://127.0.0.1:8000/... when the server's own machine (or a proxy that does not pass
Host on) asked: no reader of the paper can open that. The paper prints the page's path on the
service (under its root path); the PDF's link keeps the address it was asked at.

The text is read as a reader's tools read it: pdftotext (poppler-utils); the pages are kept as
artifacts (brief-paper-*.pdf) and drawn to PNG with pdftoppm to look at."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import build_venue, client, problem_of
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner
from web_support import artifacts_dir, pdf_text, save_artifact

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app
from web import i18n

A4_PT = (210 / 25.4 * 72, 297 / 25.4 * 72)  # 595.28 × 841.89 points, portrait
T10 = "2026-10-26"
AFTER_OPENING = "2026-11-10"  # more late projects and overdue reports than a table lists: "N more" lines
LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("brief-paper") / "venue.gpkg")


@pytest.fixture(scope="module")
def api(store: Any) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


def pdftotext(data: bytes) -> list[str]:
    """Each page's text as pdftotext (poppler) lays it out."""
    pages = pdf_text(data, layout=True)
    assert len(pages) == len(PdfReader(io.BytesIO(data)).pages)
    return pages


def to_png(name: str, data: bytes) -> None:
    """The PDF kept as an artifact, and each of its pages drawn to PNG beside it (pdftoppm), to look at."""
    save_artifact(f"{name}.pdf", data)
    exe = shutil.which("pdftoppm")
    assert exe, "pdftoppm (poppler-utils) is needed to draw the pages"
    subprocess.run([exe, "-r", "80", "-png", str(artifacts_dir() / f"{name}.pdf"), str(artifacts_dir() / name)],
                   check=True)  # fmt: skip


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_paper_a4_is_two_a4_portrait_pages_with_the_map_then_the_tables(api: TestClient, lang: str) -> None:
    r = api.get("/brief", params={"date": "T-10", "lang": lang, "paper": "a4"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="brief-{T10}-{lang}-a4.pdf"' in r.headers["content-disposition"]
    to_png(f"brief-paper-a4-{lang}", r.content)
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 2
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - A4_PT[0]) <= 1 and abs(h - A4_PT[1]) <= 1, (w, h)
    first, second = pdftotext(r.content)
    heads = {"en": ("Completion map", "Key figures", "Late projects", "Reports missing"),
             "zh": ("工程完成情况图", "关键指标", "滞后工程", "逾期未报")}[lang]  # fmt: skip
    assert heads[0] in first and heads[1] in first, first[:500]
    assert heads[2] in second and heads[3] in second, second[:500]
    for text, n in ((first, 1), (second, 2)):  # each page says what it is, of when, and which page
        assert T10 in text and "T-10" in text
        assert f"{n} / 2" in text, text[-300:]
    completion = api.get("/completion", params={"date": "T-10"}).json()
    assert completion["late"]
    for row in completion["late"]:  # every late project of T-10 on the second page
        assert row["code"] in second, row["code"]
    assert f"{completion['overall']['actual_percent']}%" in first


def test_the_cli_writes_the_a4_briefing(store: Any, tmp_path: Path) -> None:
    out = tmp_path / "brief-a4.pdf"
    r = CliRunner().invoke(
        app, ["brief", "--date", "T-10", "-o", str(out), "--lang", "en", "--paper", "a4", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    assert "two A4 pages" in r.output
    reader = PdfReader(io.BytesIO(out.read_bytes()))
    assert len(reader.pages) == 2 and abs(float(reader.pages[0].mediabox.width) - A4_PT[0]) <= 1
    # a PNG is one image to send: A4's two pages are refused, naming the option, and nothing is written
    png = tmp_path / "brief-a4.png"
    r = CliRunner().invoke(app, ["brief", "--date", "T-10", "-o", str(png), "--paper", "a4", "--store", str(store)])
    assert r.exit_code == 2 and "--paper" in r.output and not png.exists(), r.output
    r = CliRunner().invoke(app, ["brief", "--date", "T-10", "-o", str(out), "--paper", "letter", "--store", str(store)])
    assert r.exit_code == 2 and "--paper" in r.output, r.output


@pytest.mark.parametrize(("query", "named"), [({"paper": "letter"}, "letter"), ({"paper": "a4", "f": "png"}, "PDF")])
def test_a_paper_the_briefing_is_not_drawn_on_is_400_naming_it(
    api: TestClient, query: dict[str, str], named: str
) -> None:
    body = problem_of(api.get("/brief", params={"date": "T-10", **query}), 400, "paper")
    assert named in body["detail"], body
    assert api.get("/brief", params={"date": "T-10", "paper": "a3", "f": "png"}).status_code == 200


@pytest.mark.parametrize("paper", ["a3", "a4"])
def test_the_paper_prints_no_loopback_address(api: TestClient, paper: str) -> None:
    """Asked from the server's own machine (http://127.0.0.1:8000), the briefing's "N more" lines
    print the page's path, which a reader opens on the service they use, not the loopback address;
    the PDF's link on that line still opens the page from where the PDF was asked."""
    sheet = {} if paper == "a3" else {"paper": paper}  # A3 as asked before paper= was known
    r = api.get(f"{LOOPBACK}/brief", params={"date": AFTER_OPENING, "lang": "en", **sheet})
    assert r.status_code == 200, r.text[:300]
    to_png(f"brief-paper-loopback-{paper}", r.content)
    text = "".join(pdftotext(r.content))
    assert "127.0.0.1" not in text and "http" not in text, [ln for ln in text.splitlines() if "http" in ln]
    units = f"/completion/units?f=html&date={AFTER_OPENING}&lang=en"
    # (after opening day the late ones are those that missed it: the line says so)
    assert re.search(r"\d+ more; every (late project|project that missed opening day)", text), text[-2000:]
    assert units in squashed(text), text[-2000:]
    links = {
        a.get_object()["/A"].get("/URI")
        for page in PdfReader(io.BytesIO(r.content)).pages
        for a in page.get("/Annots", [])
    }
    assert f"{LOOPBACK}{units}" in links, sorted(str(x) for x in links)[:5]


def test_behind_a_proxy_the_paper_prints_the_path_under_the_root_path(store: Any) -> None:
    """Behind a proxy at /twin (the app asked without the prefix), the printed path is the one a
    reader opens there."""
    with TestClient(create_app(ApiSettings(store=store)), root_path="/twin") as c:
        r = c.get(f"{LOOPBACK}/brief", params={"date": AFTER_OPENING, "lang": "en"})
    assert r.status_code == 200, r.text[:300]
    text = squashed("".join(pdftotext(r.content)))
    assert "127.0.0.1" not in text
    assert f"/twin/completion/units?f=html&date={AFTER_OPENING}&lang=en" in text, text[-800:]


# ---------------------------------------------------------------------------- A4 tables readable
def words_of(data: bytes, page: int) -> list[tuple[float, float, float, float, str]]:
    """The words of ``page`` (1-based) with their boxes (x0, y0, x1, y1 in points, y down), as
    poppler's pdftotext -bbox-layout gives them."""
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (poppler-utils) is needed to read the printed words"
    xml = subprocess.run(
        [exe, "-bbox-layout", "-f", str(page), "-l", str(page), "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    return [
        (float(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5])
        for m in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', xml
        )
    ]


def overlapping(words: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    """The pairs of words whose boxes overlap (by more than half a point each way): one printed
    over another ("Clover" over "Shanghai Greening")."""
    out = []
    for k, (ax0, ay0, ax1, ay1, a) in enumerate(words):
        for bx0, by0, bx1, by1, b in words[k + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5:
                out.append((a, b))
    return out


def name_cells(words: list[tuple[float, float, float, float, str]], lang: str) -> dict[str, tuple[str, str]]:
    """Each listed code's project and unit cells of the late table (its words, squashed, in reading
    order), read from the words' boxes: the project column from its title's left edge to the unit
    title's, the unit's to the person title's (the three are left-aligned); a row from its code down
    to the next word left of the names (the next code, a sub-heading's badge, a "more" line)."""
    project_title, unit_title = {"en": ("Project", "Responsible"), "zh": ("工程", "责任单位")}[lang]
    person_title = {"en": "Responsible", "zh": "责任人"}[lang]
    first_code = min(w[1] for w in words if re.fullmatch(r"[A-Z]{2}-\d\d", w[4]))
    titles = sorted((w for w in words if w[1] < first_code), key=lambda w: w[0])
    left = next(w[0] for w in titles if w[4] == project_title)
    mid = next(w[0] for w in titles if w[4] == unit_title and w[0] > left)
    right = next(w[0] for w in titles if w[4] == person_title and w[0] > mid)
    marks = sorted(w[1] for w in words if w[0] < left - 0.5 and w[1] >= first_code - 0.5)
    out = {}
    for x0, y0, _, _, code in words:
        if not (re.fullmatch(r"[A-Z]{2}-\d\d", code) and x0 < left):
            continue
        end = min((y for y in marks if y > y0 + 2), default=1e9)

        def cell(a: float, b: float, y0: float = y0, end: float = end) -> str:
            inside = [w for w in words if a - 0.5 <= w[0] < b - 0.5 and y0 - 1 <= w[1] < end - 1]
            return squashed("".join(w[4] + " " for w in sorted(inside, key=lambda w: (round(w[1]), w[0]))))

        out[code] = (cell(left, mid), cell(mid, right))
    return out


def half(bilingual: str, lang: str) -> str:
    """The page's half of a register entry "中文 (English)" or "中文 English"."""
    m = re.fullmatch(r"(.+?)\s*\(([^()]+)\)", bilingual) or re.fullmatch(r"(\S+)\s+(.+)", bilingual)
    assert m, bilingual
    return m[2] if lang == "en" else m[1]


@pytest.fixture(scope="module")
def surveyed(surveyed_twin: Path) -> Iterator[TestClient]:
    with client(surveyed_twin) as c:
        yield c


@pytest.mark.parametrize("day", [T10, AFTER_OPENING])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_a4_tables_are_readable_every_name_whole_and_no_word_over_another(
    surveyed: TestClient, lang: str, day: str
) -> None:
    """A4's late table is 186 mm for nine columns. In English the columns that are not names kept
    their A3 widths and the names had a few mm: "Halls" printed over "NECC Shanghai", the Project
    title was "…", every name cut to one word; at T-10 the unit was "R…"/"NECC S…". The tables on the
    second sheet have no word over another, every listed project's name and unit whole (wrapped, not
    cut: no "…" on the sheet), and every column title whole. The surveyed twin: with the imagery's
    disputed group (its badge before the code, its note after the name)."""
    r = surveyed.get("/brief", params={"date": day, "lang": lang, "paper": "a4"})
    assert r.status_code == 200, r.text[:300]
    to_png(f"brief-paper-a4-tables-{lang}-{day}", r.content)
    second = pdftotext(r.content)[1]
    heads = {"en": ("Late projects", "Reports missing"), "zh": ("滞后工程", "逾期未报")}[lang]
    if day > "2026-11-05":  # after opening day the late ones are those that missed it (the home page's words)
        heads = (i18n.label(lang, "missed_opening_kpi"), heads[1])
    words = words_of(r.content, 2)
    top = next(w[3] for w in words if w[4] == heads[0].split()[0])  # under the late projects' heading
    bottom = max(w[3] for w in words if w[1] < 800)  # above the footer
    table_words = [w for w in words if top < w[1] and w[3] < bottom]
    assert not overlapping(table_words), overlapping(table_words)[:10]
    assert "…" not in second, [ln for ln in second.splitlines() if "…" in ln]
    late = second[second.index(heads[0]) : second.index(heads[1])]
    flat = squashed(late)
    rows = surveyed.get("/completion/late", params={"date": day}).json()["late"]
    listed = [row for row in rows if row["code"] in flat]
    assert listed, late
    missing_top = next(w[1] for w in table_words if w[4] == heads[1].split()[0])
    cells = name_cells([w for w in table_words if w[3] < missing_top], lang)
    for row in listed:  # each listed project's name and unit whole, in its cell
        name = row["name_en"] if lang == "en" else row["name_zh"]
        project, unit = cells[row["code"]]
        assert project.startswith(squashed(name)), (row["code"], name, project)
        assert unit == squashed(half(row["responsible_unit"], lang)), (row["code"], unit)
        assert squashed(half(row["responsible_person"], lang)) in flat, (row["code"], late)
    titles = {
        "en": ("Code", "Project", "Responsible unit", "Responsible person", "Done / planned", "Days late",
               "Forecast finish", "Chance late", "Last report"),
        "zh": ("编号", "工程", "责任单位", "责任人", "完成 / 计划", "滞后天数", "预计完成", "赶不上开幕日的概率", "上次填报"),
    }[lang]  # fmt: skip
    first_code = min(w[1] for w in table_words if w[4] == listed[0]["code"])
    head_words = sorted(w[4] for w in table_words if w[1] < first_code - 1)  # a title may wrap on two lines
    joined = {a + b for a in [*head_words, ""] for b in head_words}  # a Chinese title broken on two lines
    for title in titles:
        assert all(word in joined for word in title.split()), (title, head_words)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_a4_header_and_footer_are_whole(surveyed: TestClient, lang: str) -> None:
    """A4's header cut the expo's name ("China International Impor…") and its footer the source and
    the positions' caveat ("Positions are appro…", "Imagery: the surve…"), which A3 prints whole:
    on each sheet they are whole, on a second line where one does not hold them."""
    r = surveyed.get("/brief", params={"date": T10, "lang": lang, "paper": "a4"})
    assert r.status_code == 200, r.text[:300]
    to_png(f"brief-paper-a4-header-{lang}", r.content)
    sub = {"en": "National Exhibition and Convention Center (Shanghai) · China International Import Expo",
           "zh": "国家会展中心（上海）·中国国际进口博览会"}[lang]  # fmt: skip
    caveat = {"en": "Positions are approximate (about ±150 m) until a surveyed layer is imported.",
              "zh": "位置为示意（约±150米），待导入测绘图层后更新。"}[lang]  # fmt: skip
    imagery = {"en": "Imagery: the surveys recorded by twin version", "zh": "航测影像：截至孪生版本"}[lang]
    for n, text in enumerate(pdftotext(r.content), start=1):
        assert "…" not in text, (n, [ln for ln in text.splitlines() if "…" in ln])
        # every word of them printed (a line may wrap beside the days or the date made)
        printed = squashed(" ".join(w[4] for w in words_of(r.content, n)))
        for part in (sub, caveat, imagery):
            for word in part.split() if lang == "en" else re.split(r"[·，。：]", part):
                assert squashed(word) in printed, (n, word, part)
