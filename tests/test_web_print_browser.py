"""The map pages on paper, in headless Chromium: what a leader's printout needs to stand alone.

Printed (Chromium's PDF, the page's own print CSS), the completion map's page carries its title, its
date and the legend with the counts, a north arrow and no layer switcher; every page says what it
is, of when, and which page of how many; no page holds only the panel's foot (it took a page of its
own after a full panel) nor one late card alone, and the panel keeps to the pages it needs; the area table is not split between the panel's columns; and on a
black-and-white printer a behind feature still reads apart from a done one (white stripes over its
colour, on track white dots, as on their legend swatches). PDF pages and screenshots: print-*.png / .pdf in the artifacts
folder. The fixtures (a live server, Chromium, `visit`) are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from api_server import LiveServer
from PIL import Image
from pypdf import PdfReader
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    Visit,
    api,
    clean,
    open_visit,
    server,
    store,
    visit,
)
from web_support import CHECKPOINT_DATE, KNOWN_DATE, save_artifact

from web import i18n

from playwright.sync_api import Browser  # isort: skip


REUSE_PAGES = True  # `visit` opens each page in one the last test left (test_web_browser._Pages)


def _printed(v: Visit, name: str) -> list[str]:
    """The page printed to PDF as Chromium prints it (its print CSS, A4 landscape): each page's text."""
    pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
    save_artifact(f"print-{name}.pdf", pdf)
    return _texts(pdf)


def _texts(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]


# What the tests of the completion map's printout read of its page before it is printed (each the
# test's own query): the late cards and the at-risk ones of the panel, the at-risk and the units
# sections (open or not, their items) as the page opens.
BEFORE_PRINT = {
    "late_cards": "Array.from(document.querySelectorAll('#vt-panel-body ul.vt-late > li[data-project]'))"
    ".map(li => li.dataset.project)",
    "risk_cards": "Array.from(document.querySelectorAll('#vt-panel-body ul.vt-risk > li[data-project]'))"
    ".map(li => li.dataset.project)",
    "at_risk": "Array.from(document.querySelectorAll('#vt-panel details.vt-at-risk ul.vt-risk > li[data-project]'))"
    ".map(li => li.dataset.project)",
    # null where the page has no such section (after opening day, no at-risk one): a test of it fails
    "at_risk_open": "document.querySelector('#vt-panel details.vt-at-risk')?.open ?? null",
    "units_open": "document.querySelector('#vt-panel details.vt-units')?.open ?? null",
    "units": """Array.from(document.querySelectorAll('#vt-panel details.vt-units li.vt-unit')).map(li => [
          li.querySelector('.vt-unit-name').textContent, li.querySelector('.vt-late-meta').textContent])""",
}


@dataclass
class PrintedMap:
    """The completion map of a date and language, opened once and printed once for the tests of its
    printout (the same page, the same PDF: each test had loaded and printed it again): what they read
    before printing (BEFORE_PRINT), the PDF and its pages' text, and the page, for what each test
    then checks in print media (each puts the page back as the reader left it)."""

    v: Visit
    before: dict[str, Any]
    pdf: bytes
    pages: list[str]

    def keep(self, name: str) -> list[str]:
        """The printout's pages' text, its PDF saved in the artifacts folder as print-`name`.pdf."""
        save_artifact(f"print-{name}.pdf", self.pdf)
        return self.pages


@pytest.fixture(scope="module")
def printed_map(browser: Browser, server: LiveServer) -> Iterator[Callable[[str, str], PrintedMap]]:
    made: dict[tuple[str, str], PrintedMap] = {}

    def get(lang: str, day: str) -> PrintedMap:
        if (lang, day) not in made:
            v = open_visit(browser, f"/maps/completion?date={day}&lang={lang}", server.url)
            before = {name: v.page.evaluate(js) for name, js in BEFORE_PRINT.items()}
            pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
            made[(lang, day)] = PrintedMap(v, before, pdf, _texts(pdf))
        return made[(lang, day)]

    yield get
    for m in made.values():
        m.v.page.context.close()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _print_media(v: Visit) -> None:
    v.page.emulate_media(media="print")
    v.page.evaluate("window.dispatchEvent(new Event('beforeprint'))")


# The dates a leader prints (T-30, KNOWN_DATE, T-15, T-10, after opening) in both languages, with
# the most pages each printout may take: the panel's pages and the map's. Before the panel printed
# a little smaller with its last card kept company, KNOWN_DATE in English ran its last late card
# alone onto a second page of the panel (three pages), and at T-10 in English Chromium moved the
# whole panel to page 2, leaving its head alone on page 1.
PRINTED = [
    ("en", "2026-10-06", 2),
    ("zh", "2026-10-06", 2),
    ("en", KNOWN_DATE, 3),  # its twenty at-risk projects, printed open, run the panel onto a second page
    ("zh", KNOWN_DATE, 2),
    ("en", "2026-10-21", 3),  # eight late cards: the panel takes two pages, four cards on each
    ("zh", CHECKPOINT_DATE, 2),
    ("en", CHECKPOINT_DATE, 2),
    ("en", "2026-11-06", 3),  # twelve late, most of them on the panel's second page
]


@pytest.mark.parametrize(("lang", "day", "most"), PRINTED)
def test_completion_map_printout_stands_alone(
    printed_map: Any, server: LiveServer, lang: str, day: str, most: int
) -> None:
    """The map's page has the title, the date, the legend with its counts and the positions note;
    every page has the title, the date and its number; no page is only the panel's foot, nor one
    project's card alone; every card of the panel is printed, once."""
    printed = printed_map(lang, day)
    v = printed.v
    comp = api(server, "/completion", date=day)
    cards = list(printed.before["late_cards"])
    # the at-risk projects print open after the late ones: their cards too (a code in both lists once each)
    risky = printed.before["risk_cards"]
    cards += [c for c in risky if c not in cards]
    pages = printed.keep(f"completion-{lang}-{day}")
    title = i18n.label(lang, "completion_title")
    as_of = i18n.label(lang, "as_of", date=comp["date"])
    for n, text in enumerate(pages, 1):
        assert _squash(title) in _squash(text) and _squash(as_of) in _squash(text), (n, text[:300])
        assert f"{n} / {len(pages)}" in text, (n, text[:300])
    map_page = _squash(pages[-1])
    counts = comp["overall"]["counts"]
    from web.panels import legend_label

    for status in i18n.LEGEND_ORDER:  # (after opening day "behind" is keyed as the home page says it)
        key = legend_label(lang, status, opening_reached=day >= "2026-11-05")
        assert _squash(f"{key}{counts.get(status, 0)}") in map_page, (status, pages[-1])
    approximate = _squash(i18n.label(lang, "approximate"))
    assert approximate in map_page
    # before: the foot ("positions approximate") alone on the page between the panel and the map
    for n, text in enumerate(pages[:-1], 1):
        rest = _squash(text).replace(approximate, "").replace(_squash(title), "").replace(_squash(as_of), "")
        assert len(rest) > 200, (n, text)
        assert "." in text or "。" in text or "%" in text  # the panel's content, not a running head
    # each card on one page of the panel, once (none cut off, none split over two pages), and a
    # panel that runs over carries more than one card onto its last page (before: T-30 and T-10
    # printed one card alone on the panel's second page)
    assert cards, "a date with late projects"
    on_page = [[c for c in cards if re.search(rf"(?<![A-Z0-9-]){re.escape(c)}(?![0-9])", t)] for t in pages[:-1]]
    assert sorted(c for page in on_page for c in page) == sorted(cards), on_page
    if len(on_page) > 1:
        assert len(on_page[-1]) >= 2, on_page
    assert len(pages) <= most, (len(pages), on_page)

    _print_media(v)
    paper = v.page.evaluate(
        """(() => {
      const shown = el => !!el && getComputedStyle(el).display !== 'none' && el.getBoundingClientRect().height > 0;
      const map = vt_engine.map.getContainer(), head = document.getElementById('vt-print-head');
      const lefts = Array.from(document.querySelectorAll('#vt-panel table.vt-areas tr'))
        .map(tr => Math.round(tr.getBoundingClientRect().left));
      return {
        layers: shown(document.querySelector('.leaflet-control-layers')),
        zoom: shown(document.querySelector('.leaflet-control-zoom')),
        north: shown(map.querySelector('.vt-north')),
        head: shown(head), headBeforeMap: !!head && head.nextElementSibling === map,
        legendSwatchesInHead: head ? head.querySelectorAll('.vt-swatch').length : 0,
        rowLefts: lefts,
      };
    })()"""
    )
    assert paper["layers"] is False and paper["zoom"] is False, paper  # nothing to click on paper
    assert paper["north"] is True and paper["head"] is True and paper["headBeforeMap"] is True, paper
    assert paper["legendSwatchesInHead"] == len(i18n.LEGEND_ORDER) + 1, paper
    # every row of the area table in one column of the panel (zh at T-10: the last row went on)
    assert len(paper["rowLefts"]) >= 4 and len(set(paper["rowLefts"])) == 1, paper["rowLefts"]
    v.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    v.page.emulate_media(media="screen")
    clean(v)


@pytest.mark.parametrize("path", ["/maps/timeline?lang=en", "/maps/changes?from=2026-09-01&to=HEAD&lang=zh"])
def test_other_map_printouts_have_no_stray_page(visit: Any, path: str) -> None:
    """The timeline and the change map: each page headed, the last the map's, none a stray foot or
    one change's fields cut off from it."""
    v = visit(path)
    name = path.split("?")[0].rsplit("/", 1)[1]
    pages = _printed(v, name)
    approximate = _squash(i18n.label("zh" if "lang=zh" in path else "en", "approximate"))
    heads = [p.split(" 1 / ")[0] if n == 1 else "" for n, p in enumerate(pages, 1)]
    assert heads[0], pages[0][:200]
    for n, text in enumerate(pages, 1):
        assert f"{n} / {len(pages)}" in text, (n, text[:200])
        assert approximate not in _squash(text) or n == len(pages), (n, text[:300])
    # no page is only a few words (a change's fields split from their change made one)
    for n, text in enumerate(pages, 1):
        assert len(_squash(text)) - len(_squash(heads[0])) > 150, (n, text)
    clean(v)


def _grey_patch(png: bytes, x: float, y: float, half: int = 9) -> list[int]:
    im = Image.open(io.BytesIO(png)).convert("L")
    return list(im.crop((round(x) - half, round(y) - half, round(x) + half, round(y) + half)).tobytes())


# Each polygon feature of the completion map's venue layers: its layer, id, class (status), the
# centroid of its first outer ring as a point in the page, and its box's size on screen.
FEATURES = """(() => {
  const m = vt_engine.map, box = m.getContainer().getBoundingClientRect(), out = [];
  for (const layer of ['halls', 'south_plaza', 'landscaping']) {
    for (const [id, items] of Object.entries(vt_engine.layers[layer].keyIndex())) {
      const it = items[0], part = it.parts.find(p => p.t === 0);
      if (!part) continue;
      const r = part.rings[0];
      let a = 0, cx = 0, cy = 0;
      for (let i = 0; i < r.length; i += 2) {
        const j = (i + 2) % r.length, c = r[i] * r[j + 1] - r[j] * r[i + 1];
        a += c; cx += (r[i] + r[j]) * c; cy += (r[i + 1] + r[j + 1]) * c;
      }
      const p = m.latLngToContainerPoint(m.unproject([cx / (3 * a), cy / (3 * a)], 0));
      const k = Math.pow(2, m.getZoom());
      out.push({layer, id, c: it.f.c, x: p.x + box.left, y: p.y + box.top,
                w: (it.box[2] - it.box[0]) * k, h: (it.box[3] - it.box[1]) * k});
    }
  }
  return out;
})()"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_behind_and_on_track_read_apart_from_done_in_grey(visit: Any, server: LiveServer, lang: str) -> None:
    """In grey (a black-and-white printer) red behind, green on track and blue done are the same
    dark grey: behind carries white stripes over its colour, on track white dots, done none; so do
    their legend swatches."""
    v = visit(f"/maps/completion?date={CHECKPOINT_DATE}&lang={lang}")  # the entrance square on track
    v.page.add_style_tag(content=".vt-label-pane, .leaflet-tooltip-pane, .vt-label { visibility: hidden !important; }")
    feats = [f for f in v.page.evaluate(FEATURES) if f["w"] >= 40 and f["h"] >= 40]  # room for a patch
    png = v.shot(f"print-grey-completion-{lang}")
    save_artifact(f"print-grey-completion-{lang}.png", _to_grey(png))

    def white_share(f: dict[str, Any]) -> float:
        px = _grey_patch(png, f["x"], f["y"])
        return sum(1 for g in px if g > 200) / len(px)

    by = {c: [f for f in feats if f["c"] == c] for c in ("behind", "on_track", "done")}
    assert all(by.values()), {c: len(fs) for c, fs in by.items()}
    for f in by["behind"]:  # stripes: a good share of near-white pixels within the dark fill
        assert white_share(f) > 0.15, (f, white_share(f))
    for f in by["on_track"]:  # dots
        assert white_share(f) > 0.05, (f, white_share(f))
    for f in by["done"]:
        assert white_share(f) < 0.02, (f, white_share(f))
    images = v.page.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('#vt-panel ul.vt-legend [data-status]'))"
        ".map(li => [li.dataset.status, getComputedStyle(li.querySelector('.vt-swatch')).backgroundImage]))"
    )
    assert "repeating-linear-gradient" in images["behind"], images
    assert "radial-gradient" in images["on_track"], images
    assert images["done"] == "none", images
    clean(v)


def _to_grey(png: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("L").save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(("lang", "by"), [("zh", "person"), ("en", "unit")])
def test_units_table_printout_repeats_its_head_and_has_no_stray_page(
    visit: Any, server: LiveServer, lang: str, by: str
) -> None:
    """The accountability table printed on A4 and on small paper (A6, to run over pages): each page says
    what it is, of when and which page of how many, and repeats the column titles; no page is only
    the JSON / CSV links (on A4 they made the second page after a full table), nor the navigation."""
    doc = api(server, "/completion/units", date=CHECKPOINT_DATE, by=by)
    v = visit(f"/completion/units?f=html&date={CHECKPOINT_DATE}&by={by}&lang={lang}", wait=False)
    v.page.wait_for_load_state("load")
    title = i18n.label(lang, f"units_title_{by}", date=doc["date"])
    column = i18n.label(lang, "units_reports_overdue")
    for paper in ("A4", "A6"):
        if paper == "A6":  # the page asks for A4 (its @page size), which Chromium fits whole on smaller
            # paper: without it, as a reader's printer set to A6 lays it out
            v.page.evaluate(
                "document.querySelectorAll('style').forEach(s => {"
                " s.textContent = s.textContent.replace(/size:A4 portrait;/g, ''); })"
            )
        pdf = v.page.pdf(format=paper, prefer_css_page_size=paper == "A4")
        assert (paper == "A4") == (abs(float(PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width) - 595.3) <= 1)
        save_artifact(f"print-units-{by}-{lang}-{paper}.pdf", pdf)
        pages = [re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]
        if paper == "A6":
            assert len(pages) >= 2, len(pages)  # the case this is about: the table runs over
        for n, text in enumerate(pages, 1):
            assert _squash(title) in _squash(text), (paper, n, text[:200])
            assert f"{n} / {len(pages)}" in text, (paper, n, text[:200])
            assert _squash(column) in _squash(text), (paper, n, text[:300])  # the column titles
            assert "JSON" not in text and "CSV" not in text, (paper, n, text[-200:])
            assert i18n.label(lang, "open_timeline") not in text, (paper, n, text[:200])  # the nav
        # every unit's (or person's) row is printed, once
        rows = _squash(" ".join(pages))
        assert all(str(u["projects"]) in rows for u in doc["units"])
    clean(v)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_completion_map_prints_the_units_section_open(printed_map: Any, lang: str) -> None:
    """The panel's "By responsible unit" is collapsed on screen; on paper it is open (every unit
    and its figures), and after printing it is collapsed again as the reader left it."""
    m = printed_map(lang, KNOWN_DATE)
    v = m.v
    section = "#vt-panel details.vt-units"
    assert m.before["units_open"] is False  # as the page opened, before printing
    assert v.page.evaluate(f"document.querySelector('{section}').open") is False
    units = m.before["units"]
    assert len(units) >= 3, units
    printed = _squash(" ".join(m.keep(f"completion-units-{lang}")))
    # every unit with its figures: the open section, not only its summary line
    for name, meta in units:
        assert _squash(name) in printed and _squash(meta) in printed, (name, meta)
    assert _squash(i18n.label(lang, "unit_hint")) not in printed  # "click to zoom": not on paper
    # the print media as Chromium's print dialog shows it, then back: the section closes again
    _print_media(v)
    assert v.page.evaluate(f"document.querySelector('{section}').open") is True
    v.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    v.page.emulate_media(media="screen")
    assert v.page.evaluate(f"document.querySelector('{section}').open") is False
    # a section the reader opened stays open after printing
    v.page.evaluate(f"document.querySelector('{section}').open = true")
    _print_media(v)
    v.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    v.page.emulate_media(media="screen")
    assert v.page.evaluate(f"document.querySelector('{section}').open") is True
    v.page.evaluate(f"document.querySelector('{section}').open = false")  # folded again for the next test
    clean(v)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_register_printout_has_the_meetings_columns_and_repeats_its_head(
    visit: Any, server: LiveServer, lang: str
) -> None:
    """The project register's table (21 columns, ~3,800 px) printed: the columns a meeting reads —
    code, status, name in the page's language, area, unit, person, planned start and finish,
    percent — on every page's header row, and every project's row; the others left off paper."""
    projects = api(server, "/collections/projects/items", limit=1000)["features"]
    v = visit(f"/maps/layers/projects?lang={lang}", wait=False)
    v.page.wait_for_function("!!document.querySelector('#vt-attr')._vtTable")
    heads = v.page.evaluate(
        """Array.from(document.querySelectorAll('#vt-attr thead th'))
             .map(th => [th.dataset.field, th.textContent.trim(), th.classList.contains('vt-noprint')])"""
    )
    printed = {f: t for f, t, off in heads if not off}
    wanted = ["code", f"name_{lang}", "area", "responsible_unit", "responsible_person"]
    wanted += ["planned_start", "planned_finish", "percent_complete"]
    assert all(f in printed for f in wanted), printed
    assert "quantity_unit" not in printed and "progress_note" not in printed, printed
    pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
    save_artifact(f"print-register-{lang}.pdf", pdf)

    # NFKC on both sides: the PDF's text has the "ﬁ" ligature of "Planned ﬁnish", and its full-width
    # brackets (a heading's unit, 完成百分比（%）) come out half-width
    def plain(text: str) -> str:
        return _squash(unicodedata.normalize("NFKC", text))

    pages = [plain(p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]
    table_pages = [p for p in pages if plain(printed["responsible_unit"]) in p]
    assert len(table_pages) >= 2, len(pages)  # 60-odd rows: the table runs over
    for text in table_pages:  # the header row on every page of the table
        for field in ("code", "area", "responsible_unit", "planned_finish", "percent_complete"):
            assert plain(printed[field]) in text, (field, text[:300])
    everything = "".join(pages)
    assert all(_squash(f["properties"]["code"]) in everything for f in projects)
    off = [t for f, t, o in heads if o and f == "quantity_unit"]
    assert off and plain(off[0]) not in everything
    clean(v)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_project_printout_keeps_each_checkpoint_date_on_one_line(visit: Any, server: LiveServer, lang: str) -> None:
    """A project's page on A4 (its own @page): the table of the plan at each checkpoint keeps each date
    whole on its line (it was squeezed beside the facts, "2026-07-" over "18")."""
    doc = api(server, "/projects/RD-03", date=CHECKPOINT_DATE)
    v = visit(f"/projects/RD-03?f=html&date={CHECKPOINT_DATE}&lang={lang}", wait=False)
    v.page.wait_for_load_state("load")
    dates = v.page.evaluate(
        "Array.from(document.querySelectorAll('.vt-plan tbody tr, .vt-plan tr')).map(tr => tr.cells[1])"
        ".filter(Boolean).map(td => td.textContent.trim()).filter(t => /^\\d{4}-\\d\\d-\\d\\d$/.test(t))"
    )
    assert len(dates) >= 10, (dates, doc.get("checkpoints"))
    pages = _printed(v, f"project-{lang}")
    assert len(pages) == 1, len(pages)
    for day in dates:  # whole, as one word: not "2026-07- 18"
        assert re.search(rf"(?<![\d-]){day}(?![\d])", pages[0]), (day, pages[0][:600])
    clean(v)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_units_table_printout_keeps_within_the_page(visit: Any, lang: str) -> None:
    """The units table laid out for A4 portrait paper (190 mm between the margins): within the
    page's width (its right border ran past the margin) and each unit's name on three lines at most
    (five, beside an empty column, before)."""
    v = visit(f"/completion/units?f=html&date={CHECKPOINT_DATE}&lang={lang}", wait=False)
    v.page.wait_for_load_state("load")
    v.page.set_viewport_size({"width": 718, "height": 1000})  # 190 mm at 96 px an inch
    v.page.emulate_media(media="print")
    box = v.page.evaluate(
        """(() => {
      const t = document.querySelector('table.vt-units-table');
      const line = parseFloat(getComputedStyle(t.querySelector('tbody td')).lineHeight)
        || 1.2 * parseFloat(getComputedStyle(t.querySelector('tbody td')).fontSize);
      const names = Array.from(t.querySelectorAll('tbody tr')).map(tr => {
        const r = document.createRange(); r.selectNodeContents(tr.cells[0]);
        return Math.round(r.getBoundingClientRect().height / line);
      });
      return {right: t.getBoundingClientRect().right, width: document.documentElement.clientWidth, names};
    })()"""
    )
    assert box["right"] <= box["width"], box
    assert box["names"] and max(box["names"]) <= 3, box
    v.page.emulate_media(media="screen")
    clean(v)


@pytest.fixture(scope="module")
def surveyed_server(surveyed_twin: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server on the twin with the demo surveys: an evidence page with the imagery's rows."""
    s = LiveServer(surveyed_twin, tmp_path_factory.mktemp("surveyed-print") / "server.log")
    yield s
    s.stop()


A4_PORTRAIT = (595.3, 841.9)  # points


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_units_and_evidence_pages_print_on_one_a4_sheet(visit: Any, surveyed_server: LiveServer, lang: str) -> None:
    """The units and the evidence pages set their paper as the maps and the project pages do: A4
    (Chromium printed them on US Letter, the others on A4). At T-10 each takes one sheet: the
    evidence page ran a few lines of its list onto a second."""
    for path in ("/completion/units", "/evidence"):
        url = f"{surveyed_server.url}{path}?f=html&date={CHECKPOINT_DATE}&lang={lang}"
        v = visit(url, base=surveyed_server.url, wait=False)
        v.page.wait_for_load_state("load")
        pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
        save_artifact(f"print-{path.rsplit('/', 1)[1]}-{lang}.pdf", pdf)
        pages = PdfReader(io.BytesIO(pdf)).pages
        size = (float(pages[0].mediabox.width), float(pages[0].mediabox.height))
        assert all(abs(a - b) <= 1 for a, b in zip(size, A4_PORTRAIT, strict=True)), (path, size)
        assert len(pages) == 1, (path, [p.extract_text()[-200:] for p in pages])
        if path == "/evidence":  # the page with its rows: what there is to fit
            assert "LS-04" in pages[0].extract_text()
        clean(v)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_change_map_prints_the_registers_changes_as_one_paragraph(
    visit: Any, server: LiveServer, lang: str
) -> None:
    """T-30 to T-10 changes the register 44 times (reports: no shape, nothing drawn): on paper they
    are named in one paragraph with their count, not a card each (they took the panel over a page
    and a half); the venue's own changes keep their cards, and the map its page."""
    v = visit(f"/maps/changes?from=T-30&to=T-10&lang={lang}")
    names = v.page.evaluate(
        "Array.from(document.querySelectorAll('#vt-panel-body .vt-list li[data-register]'))"
        ".map(li => li.dataset.feature)"
    )
    assert len(names) >= 20, names
    pages = _printed(v, f"changes-register-{lang}")
    assert len(pages) == 2, [p[:200] for p in pages]
    panel = _squash(pages[0])
    assert _squash(i18n.label(lang, "changes_register_print", n=len(names))) in panel, pages[0][:600]
    modified = _squash(i18n.label(lang, "modified"))
    # a card reads "Modified · <name>"; the paragraph names the register's changes without it
    assert panel.count(f"{modified}·") < 10, pages[0]
    _print_media(v)
    shown = v.page.evaluate(
        "Array.from(document.querySelectorAll('#vt-panel-body .vt-list li[data-register]'))"
        ".filter(li => getComputedStyle(li).display !== 'none').length"
    )
    assert shown == 0
    v.page.emulate_media(media="screen")
    clean(v)


@pytest.mark.parametrize(
    ("lang", "day"), [("en", "2026-10-06"), ("zh", "2026-10-06"), ("en", KNOWN_DATE), ("en", "2026-10-21")]
)
def test_completion_map_prints_the_at_risk_projects_open(
    printed_map: Any, server: LiveServer, lang: str, day: str
) -> None:
    """The panel's "At-risk projects (N)", folded on screen as "By responsible unit" is, was left off
    the printed panel (hidden in print: open, it sent the panel to three pages, the first near empty);
    the README says the panel prints whole. On paper it is open, under its heading and count, each of
    its projects printed once, the panel's first page not near empty; closed again after printing."""
    m = printed_map(lang, day)
    v = m.v
    section = "#vt-panel details.vt-at-risk"
    risky = m.before["at_risk"]
    assert risky, f"a date with projects at risk: {day}"
    assert m.before["at_risk_open"] is False  # as the page opened, before printing
    assert v.page.evaluate(f"document.querySelector('{section}').open") is False
    total = len(api(server, "/projects", date=day, status="at_risk")["projects"])
    pages = m.keep(f"completion-at-risk-{lang}-{day}")
    panel = pages[:-1]
    heading = _squash(f"{i18n.label(lang, 'at_risk_projects')} ({total})")
    assert any(heading in _squash(p) for p in panel), [p[:300] for p in panel]
    for code in risky:  # each once, on the panel's pages
        found = [n for n, p in enumerate(panel, 1) if re.search(rf"(?<![A-Z0-9-]){re.escape(code)}(?![0-9])", p)]
        assert len(found) >= 1, (code, [p[-400:] for p in panel])
    # the first page is the panel's, with its content (before: its head alone, the panel on page 2)
    first = _squash(panel[0])
    legend = _squash(i18n.status_label(lang, "behind"))
    assert legend in first and len(first) > 600, panel[0]
    assert len(pages) <= 3, [p[:200] for p in pages]
    _print_media(v)
    assert v.page.evaluate(f"document.querySelector('{section}').open") is True
    v.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    v.page.emulate_media(media="screen")
    assert v.page.evaluate(f"document.querySelector('{section}').open") is False
    clean(v)
