"""The maps in a real browser: Debian's headless Chromium against the running app.

Each map page loads with no console error and no request to any host but the app; the features
drawn are the API's; the legend and panel show the completion API's figures for a known date;
the language switch changes the labels; an exported file works offline. A screenshot of each
map is written to the artifacts folder ($ARTIFACTS, else tests/artifacts/).

A missing Chromium fails these tests (it never skips them): see tests/web_support.py.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import LiveServer, make_tokens
from deadlines import BROWSER_MS, HTTP
from typer.testing import CliRunner
from web_support import (
    CHECKPOINT_DATE,
    INVALID_ID,
    KNOWN_DATE,
    MISSING_ID,
    artifacts_dir,
    build_web_twin,
)

from layers.catalogue import AREA_OF_INTEREST
from web import i18n

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.fail("playwright is needed for the map tests: pip install -e '.[dev]'", pytrace=False)

WORK_LAYERS = ("halls", "south_plaza", "roads", "landscaping")
VENUE_LAYERS = ("venue_boundary", *WORK_LAYERS)
IDLE = "window.VT && VT.isIdle && VT.isIdle()"
# The popup's content is final: not the placeholder shown while the feature's attributes load.
POPUP_READY = """(() => {
  const el = document.querySelector('.leaflet-popup-content');
  return !!el && el.textContent.trim() !== '' && el.textContent.trim() !== (vt_engine.labels.loading || '…');
})()"""
# The popup has faded in (Leaflet's opacity transition is over), so a screenshot shows it whole.
POPUP_SHOWN = """(() => {
  const el = document.querySelector('.leaflet-popup');
  return !!el && getComputedStyle(el).opacity === '1';
})()"""


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("webb")
    path = build_web_twin(d / "venue.gpkg")
    make_tokens(path)
    return path


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[LiveServer]:
    s = LiveServer(store, store.with_name("server.log"))
    yield s
    s.stop()


@dataclass
class Visit:
    page: Page
    base: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not u.startswith((self.base + "/", "data:", "about:", "file://"))]

    def stats(self) -> dict[str, Any]:
        return self.page.evaluate("VT.stats()")  # type: ignore[no-any-return]

    def idle(self) -> None:
        self.page.wait_for_function(IDLE)

    def moved(self, action: Callable[[], Any]) -> None:
        """Do `action`, which moves the map (maybe animated), and wait until the move has ended and
        the data for the new view is drawn; how long that takes depends on the machine's load."""
        self.page.evaluate(
            "window.__vtMoved = false; vt_engine.map.once('moveend', () => { window.__vtMoved = true; })"
        )
        action()
        self.page.wait_for_function("window.__vtMoved === true")
        self.idle()

    def shot(self, name: str) -> bytes:
        """A screenshot of the page, written to the artifacts folder; returns the PNG. The file is
        replaced atomically: two test runs on one machine share the folder and never see half a file."""
        png: bytes = self.page.screenshot()
        folder = artifacts_dir()
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for secrets; a screenshot is for whoever reads the folder
        os.replace(tmp, folder / f"{name}.png")
        return png


def open_visit(
    browser: Browser,
    url: str,
    base: str,
    *,
    offline: bool = False,
    wait: bool = True,
    locale: str = "en-US",
    size: tuple[int, int] = (1400, 900),
    pages: _Pages | None = None,
) -> Visit:
    """`url` opened in a browser context of its own (the caller closes `visit.page.context` when
    done), or, given `pages`, in a page of theirs opened with the same options and left by the test
    before (`pages.release` gives it back)."""
    key = (offline, locale, size)
    page = pages.take(key) if pages is not None else None
    if page is None:
        touch = size[0] < 1024  # a phone or a tablet
        ctx = browser.new_context(
            viewport={"width": size[0], "height": size[1]},
            offline=offline,
            locale=locale,
            is_mobile=touch,
            has_touch=touch,
        )
        # every wait below is for a condition; this only ends one that is truly stuck
        ctx.set_default_timeout(BROWSER_MS)
        ctx.set_default_navigation_timeout(BROWSER_MS)
        try:
            page = ctx.new_page()
        except BaseException:
            ctx.close()
            raise
        owner: dict[str, Visit] = {}  # the visit the page's events are for (a kept page serves several)
        page.on("console", lambda m: owner["v"].console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: owner["v"].console_errors.append(f"page error: {e}"))
        page.on("request", lambda r: owner["v"].requests.append(r.url))
        page._vt_owner = owner  # type: ignore[attr-defined]
    v = Visit(page, base)
    page._vt_owner["v"] = v  # type: ignore[attr-defined]
    if pages is not None:
        pages.opened(key, page)
    try:
        page.goto(url if "://" in url else base + url)
        if wait:
            v.idle()
    except BaseException:
        if pages is None:
            page.context.close()
        raise
    return v


class _Pages:
    """A module's pages kept open between its tests, by the options they were opened with: a page
    in a context of its own for every visit cost 0.5-0.9 s more than the next test's page load in
    the last one's page. A page given back is put as a new context's is before it is used again:
    a blank document (the last test's page unloaded before the new visit counts its requests and
    console errors), no routes, the screen's media, the viewport it was opened with, the mouse
    at the corner; what stays is the browser's cache of the app's immutable assets."""

    def __init__(self) -> None:
        self.free: dict[tuple[Any, ...], list[Page]] = {}
        self.lent: list[tuple[tuple[Any, ...], Page]] = []

    def take(self, key: tuple[Any, ...]) -> Page | None:
        free = self.free.get(key) or []
        while free:
            page = free.pop()
            if page.is_closed():
                continue
            size = key[2]
            page.goto("about:blank")
            page.unroute_all(behavior="ignoreErrors")
            page.emulate_media(media="null")
            page.set_viewport_size({"width": size[0], "height": size[1]})
            page.mouse.move(0, 0)
            return page
        return None

    def opened(self, key: tuple[Any, ...], page: Page) -> None:
        self.lent.append((key, page))

    def release(self) -> None:
        for key, page in self.lent:
            if not page.is_closed():
                self.free.setdefault(key, []).append(page)
        self.lent.clear()


def _module_pages(module: Any, browser: Browser) -> _Pages | None:
    """The pages a test module that sets REUSE_PAGES = True keeps between its tests (None for
    other modules: a context of their own per visit, as before)."""
    if not getattr(module, "REUSE_PAGES", False):
        return None
    kept = module.__dict__.get("_vt_pages")
    if kept is None or kept[0] is not browser:  # the module's browser (a fixture of its own scope)
        kept = module._vt_pages = (browser, _Pages())
    return kept[1]  # type: ignore[no-any-return]


# This module's own tests reuse pages; a module importing `visit` chooses for itself.
REUSE_PAGES = True


@pytest.fixture
def visit(request: pytest.FixtureRequest, browser: Browser, server: LiveServer) -> Iterator[Any]:
    pages = _module_pages(request.module, browser)
    opened: list[Visit] = []

    def open_(url: str, *, base: str | None = None, **options: Any) -> Visit:
        v = open_visit(browser, url if "://" in url else server.url + url, base if base is not None else server.url,
                       pages=pages, **options)  # fmt: skip
        opened.append(v)
        return v

    yield open_
    if pages is not None:
        pages.release()
    else:
        for v in opened:
            v.page.context.close()


def api(server: LiveServer, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, timeout=HTTP)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def clean(v: Visit) -> None:
    assert v.console_errors == [], v.console_errors
    assert v.foreign() == [], v.foreign()


# ---------------------------------------------------------------------------- every page, clean
PAGES = {
    "completion-zh": f"/maps/completion?date={KNOWN_DATE}&lang=zh",
    "completion-en": f"/maps/completion?date={KNOWN_DATE}&lang=en",
    "timeline-zh": "/maps/timeline?lang=zh",
    "changes-en": "/maps/changes?from=2026-09-01&to=HEAD&lang=en",
    "layer-check-landscaping-zh": "/maps/layers/landscaping?lang=zh",
}  # the register (projects) has no geometry: its table page is tested in test_web_checks_browser.py


@pytest.mark.parametrize("name", PAGES)
def test_map_page_loads_cleanly(visit: Any, name: str) -> None:
    v = visit(PAGES[name])
    clean(v)
    assert v.page.locator(".leaflet-container").count() == 1
    assert v.page.locator("#vt-panel").is_visible()
    stats = v.stats()
    assert stats and all(s["error"] is None for s in stats.values()), stats
    assert len(v.shot(f"map-{name}")) > 10_000


PRINTED = """(() => {
  const p = document.getElementById('vt-panel'), m = vt_engine.map.getContainer();
  const pr = p.getBoundingClientRect(), mr = m.getBoundingClientRect();
  return {panel: [p.scrollHeight, p.clientHeight, getComputedStyle(p).overflowY, pr.bottom],
          map: [mr.left, mr.top, mr.width, mr.height], size: vt_engine.map.getSize(),
          bounds: vt_engine.map.getBounds().toBBoxString(),
          late: Array.from(document.querySelectorAll('ul.vt-late li')).map(li => li.getBoundingClientRect().height)};
})()"""


@pytest.mark.parametrize("name", ["completion-en", "layer-check-landscaping-zh"])
def test_map_page_prints_whole_on_a4(visit: Any, name: str) -> None:
    """Printed, a map page is A4 landscape; the panel prints whole (the screen scrolls it: paper
    would cut it, with the S-curve and the late projects) and the map prints all the screen shows,
    laid out in the printed box's proportions and scaled to fit its page, on a page after the panel;
    after printing the screen's view is back."""
    v = visit(PAGES[name])
    screen = v.page.evaluate(PRINTED)
    pdf = v.page.pdf(prefer_css_page_size=True, print_background=True)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes and all((round(float(w)), round(float(h))) == (842, 595) for w, h in boxes), boxes  # pt
    v.page.emulate_media(media="print")
    v.page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    paper = v.page.evaluate(PRINTED)
    scroll, client, overflow, panel_bottom = paper["panel"]
    assert overflow == "visible" and scroll <= client + 1, paper
    assert all(h > 0 for h in paper["late"]) and len(paper["late"]) == len(screen["late"])
    mm = 96 / 25.4
    left, top, width, height = paper["map"]
    assert left >= -1 and top >= panel_bottom - 1 and width <= 281 * mm + 1 and height <= 192 * mm + 1, paper
    # laid out in the printed box's proportions (281 : 172, so that it fills the paper's width),
    # at the screen's scale: all the screen showed, and more to its sides (or above and below)
    assert abs(paper["size"]["x"] / paper["size"]["y"] - 281 / 172) < 0.01, paper
    assert paper["size"]["x"] >= screen["size"]["x"] and paper["size"]["y"] >= screen["size"]["y"], paper
    sw, ss, se, sn = map(float, screen["bounds"].split(","))
    pw, ps, pe, pn = map(float, paper["bounds"].split(","))
    assert pw <= sw + 1e-6 and ps <= ss + 1e-6 and pe >= se - 1e-6 and pn >= sn - 1e-6, (screen, paper)
    v.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    v.page.emulate_media(media="screen")
    after = v.page.evaluate(PRINTED)
    assert after["map"] == screen["map"] and after["size"] == screen["size"] and after["bounds"] == screen["bounds"]
    clean(v)


def test_labels_of_different_layers_do_not_overlap(visit: Any) -> None:
    """Labels keep apart across layers as within one: a square's or a road's name never covers a
    hall's code (at T-10 "South entrance square" lay over 1.1H and 8.1H, "Internal road,
    south-west" over the light-show strip)."""
    v = visit(PAGES["completion-en"])
    placed = v.page.evaluate(
        "Array.from(document.querySelectorAll('.vt-label')).map(el => { const r = el.getBoundingClientRect(); "
        "return [el.dataset.layer, el.textContent, r.left, r.top, r.right, r.bottom]; })"
    )
    assert len({p[0] for p in placed}) >= 3 and len(placed) >= 20, placed  # halls, squares, roads, greenery

    def overlap(a: list[Any], b: list[Any]) -> bool:
        return not (a[4] <= b[2] or a[2] >= b[4] or a[5] <= b[3] or a[3] >= b[5])

    clashes = [(a[:2], b[:2]) for i, a in enumerate(placed) for b in placed[i + 1 :] if overlap(a, b)]
    assert clashes == [], clashes
    v.shot("map-completion-labels")
    clean(v)


def test_days_to_opening_day_keeps_its_unit_whole(visit: Any) -> None:
    """Over 99 days before opening day (T-110 is in July) the figure and its unit fit their box, and
    the unit is never cut inside the word ("110 da" / "ys")."""
    v = visit("/maps/completion?date=2026-07-18&lang=en")
    box = v.page.locator('[data-kpi="days"] .vt-kpi-value')
    assert re.sub(r"\s", "", box.inner_text()) == "110days"
    unit = '[data-kpi="days"] .vt-kpi-value small'
    assert v.page.evaluate(f"document.querySelector('{unit}').getClientRects().length") == 1
    right = v.page.evaluate(f"document.querySelector('{unit}').getBoundingClientRect().right")
    assert right <= v.page.evaluate("document.querySelector('[data-kpi=\"days\"]').getBoundingClientRect().right")
    clean(v)


def test_after_back_the_date_box_shows_the_pages_date(visit: Any) -> None:
    """The browser put the date typed before leaving back in the box (its form restore, or the
    page kept in its back-forward cache): 10-20's figures under a box saying 09-16."""
    v = visit("/maps/completion?date=2026-10-20&lang=zh", wait=False)
    box = v.page.locator("form.vt-form input[name=date]")
    box.fill("2026-09-16")
    box.press("Enter")
    v.page.wait_for_url(re.compile(r"date=2026-09-16"))
    v.page.go_back()
    v.page.wait_for_url(re.compile(r"date=2026-10-20"))
    v.page.wait_for_function("document.querySelector('form.vt-form input[name=date]').value === '2026-10-20'")


def test_home_page_leads_to_the_completion_map(visit: Any, server: LiveServer) -> None:
    v = visit("/", wait=False, locale="zh-CN")  # a browser set to Chinese gets the page in Chinese
    v.page.wait_for_load_state("load")
    assert "工程完成情况图" in v.page.inner_text("body")
    v.shot("home-zh")
    v.page.click('a[data-map="completion"]')
    v.page.wait_for_url(re.compile(r"/maps/completion"))
    v.idle()
    clean(v)
    assert v.page.locator('[data-kpi="days"]').count() == 1


def test_api_docs_page_lists_the_operations_offline(visit: Any, server: LiveServer) -> None:
    """/docs is Swagger UI from the app's own assets: it loads the definition and lists operations."""
    v = visit("/docs", wait=False)
    v.page.wait_for_selector(".opblock-summary-path")
    paths = v.page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.strip().startswith("/collections/{collectionId}/items") for p in paths), paths[:10]
    clean(v)
    v.shot("api-docs")


# ---------------------------------------------------------------------------- features drawn = API
def test_drawn_features_are_the_api_features(visit: Any, server: LiveServer) -> None:
    v = visit(PAGES["completion-en"])
    stats = v.stats()
    for layer in VENUE_LAYERS:
        s = stats[layer]
        items = api(server, f"/collections/{layer}/items", asof=KNOWN_DATE, bbox=s["bbox"], limit=1)
        assert s["features"] == s["numberMatched"] == items["numberMatched"], (layer, s)
        assert s["drawn"] == s["features"], (layer, s)
    # zoomed out to the whole area of interest, every feature of every layer is drawn
    minx, miny, maxx, maxy = AREA_OF_INTEREST.bounds
    whole_area = f"vt_engine.map.fitBounds([[{miny}, {minx}], [{maxy}, {maxx}]], {{animate: false}})"
    v.moved(lambda: v.page.evaluate(whole_area))
    stats = v.stats()
    for layer in VENUE_LAYERS:
        whole = api(server, f"/collections/{layer}/items", asof=KNOWN_DATE, limit=1)["numberMatched"]
        assert stats[layer]["features"] == whole, layer
    clean(v)


# ---------------------------------------------------------------------------- legend and panel = API
def _percent(v: float) -> str:
    import math

    return f"{math.floor(v + 0.5):.0f}%"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_legend_and_panel_show_the_completion_figures(visit: Any, server: LiveServer, lang: str) -> None:
    comp = api(server, "/completion", date=KNOWN_DATE, by="area")
    v = visit(f"/maps/completion?date={KNOWN_DATE}&lang={lang}")
    page = v.page
    days = page.locator('[data-kpi="days"] .vt-kpi-value').inner_text()
    assert re.match(rf"^{comp['days_to_opening']}\D", days + " "), days
    assert page.locator('[data-kpi="overall"] .vt-kpi-value').inner_text() == _percent(
        comp["overall"]["actual_percent"]
    )
    for status, n in comp["overall"]["counts"].items():
        assert page.locator(f'.vt-legend li[data-status="{status}"] .vt-count').inner_text() == str(n), status
    for g in comp["groups"]:
        row = page.locator(f'tr[data-area="{g["key"]}"] .vt-num').inner_text()
        assert row == f"{_percent(g['actual_percent'])} / {_percent(g['planned_percent'])}", g["key"]
    late = page.locator('section[data-section="late"] ul.vt-late li')
    assert late.count() == len(comp["late"]) > 0
    for i, p in enumerate(comp["late"]):
        text = late.nth(i).inner_text()
        assert p["code"] in text and i18n.unit_name(lang, p["responsible_unit"]) in text  # in the page's language
        assert (p["name_en"] if lang == "en" else p["name_zh"]) in text
    # the at-risk projects the legend counts, named after the late ones as they are, each code a link:
    # folded under their heading and count, a click opens them
    at_risk = page.locator('section[data-section="at-risk"] ul.vt-risk li')
    want = api(server, "/projects", date=KNOWN_DATE, status="at_risk")["projects"]
    assert at_risk.count() == len(want) == comp["overall"]["counts"].get("at_risk", 0) > 0
    assert not at_risk.first.is_visible()
    page.click('section[data-section="at-risk"] summary')
    assert at_risk.first.is_visible()
    for p in want:
        item = page.locator(f'section[data-section="at-risk"] li[data-project="{p["code"]}"]')
        name = p["name_en"] if lang == "en" else p["name_zh"]
        assert f"{p['code']} {name}" in item.inner_text(), item.inner_text()
        link = item.locator("a[data-project-link]")
        assert link.inner_text() == p["code"] and f"/projects/{p['code']}?f=html" in (link.get_attribute("href") or "")
    at_risk.first.scroll_into_view_if_needed()
    v.shot(f"map-completion-at-risk-{lang}")
    # the red bold of a late mark (an area's flag, "⚠ after opening day") is not the whole list's
    weights = page.evaluate("""() => {
      const w = (sel) => { const el = document.querySelector(sel); return el && getComputedStyle(el).fontWeight; };
      return {meta: w('ul.vt-late li .vt-late-meta'), mark: w('tr[data-area] span.vt-late'),
              ink: getComputedStyle(document.querySelector('ul.vt-late li .vt-late-name')).color};
    }""")
    assert weights["meta"] == "400" and weights["mark"] == "600", weights
    assert weights["ink"] != "rgb(185, 28, 28)", weights
    clean(v)


# ---------------------------------------------------------------------------- language switch
def test_language_switch_changes_the_labels(visit: Any) -> None:
    v = visit(PAGES["completion-zh"])
    page = v.page
    assert page.locator('[data-kpi="days"] .vt-kpi-label').inner_text() == "距开幕还有"
    assert "展馆" in page.locator(".leaflet-control-layers").inner_text()
    page.click("[data-lang-switch]")
    page.wait_for_url(re.compile(r"lang=en"))
    v.idle()
    assert page.locator('[data-kpi="days"] .vt-kpi-label').inner_text() == "Days to opening day"
    controls = page.locator(".leaflet-control-layers").inner_text()
    assert "Halls" in controls and "展馆" not in controls
    assert page.locator('.vt-legend li[data-status="behind"]').inner_text().startswith("Behind")
    assert f"date={KNOWN_DATE}" in page.url  # the same map, in the other language
    v.shot("map-completion-after-language-switch")
    page.click("[data-lang-switch]")
    page.wait_for_url(re.compile(r"lang=zh"))
    v.idle()
    assert page.locator('.vt-legend li[data-status="behind"]').inner_text().startswith("滞后")
    clean(v)


# ---------------------------------------------------------------------------- late list and popups
def test_late_project_zooms_the_map_to_its_features(visit: Any, server: LiveServer) -> None:
    comp = api(server, "/completion", date=KNOWN_DATE)
    first = comp["late"][0]["code"]
    project = api(server, f"/projects/{first}", date=KNOWN_DATE)["project"]
    v = visit(PAGES["completion-en"])
    before = v.page.evaluate("vt_engine.map.getZoom()")
    v.moved(lambda: v.page.click(f'ul.vt-late li[data-project="{first}"]'))  # an animated zoom
    after = v.page.evaluate("vt_engine.map.getZoom()")
    assert after >= before
    highlighted = v.page.evaluate(
        "Object.keys(vt_engine.layers).flatMap(k => vt_engine.layers[k]._highlighted().map(it => k + '/' + it.f.id))"
    )
    assert set(highlighted) == set(project["features"])
    for key in project["features"]:
        layer, fid = key.split("/", 1)
        f = api(server, f"/collections/{layer}/items/{fid}", asof=KNOWN_DATE)
        lon, lat = _centre(f["geometry"])
        assert v.page.evaluate(f"vt_engine.map.getBounds().contains([{lat}, {lon}])"), key
    v.shot("map-completion-late-project-zoomed")
    clean(v)


def test_unit_section_zooms_to_a_units_projects(visit: Any, server: LiveServer) -> None:
    """The per-unit section opens, lists /completion/units' rows in order, and a unit's row zooms
    to and outlines the features of all its projects."""
    units = api(server, "/completion/units", date=KNOWN_DATE)["units"]
    projects = api(server, "/projects", date=KNOWN_DATE)["projects"]
    v = visit(PAGES["completion-en"])
    section = v.page.locator('details[data-section="units"]')
    assert not section.evaluate("el => el.open")  # folded until asked for: the late list stays in view
    section.locator("summary").click()
    v.page.wait_for_function("document.querySelector('details[data-section=\"units\"]').open")
    rows = section.locator("li.vt-unit")
    assert rows.evaluate_all("els => els.map(el => el.dataset.unit)") == [u["key"] for u in units]
    first = units[0]
    assert first["late"] > 0 and i18n.unit_name("en", first["key"]) in rows.first.inner_text()
    v.moved(lambda: rows.first.click())  # an animated zoom
    highlighted = v.page.evaluate(
        "Object.keys(vt_engine.layers).flatMap(k => vt_engine.layers[k]._highlighted().map(it => k + '/' + it.f.id))"
    )
    wanted = {f for p in projects if p["responsible_unit"] == first["key"] for f in p["features"]}
    assert set(highlighted) == wanted
    assert "vt-selected" in (rows.first.get_attribute("class") or "")
    section.evaluate("el => el.scrollIntoView({block: 'start'})")  # the panel scrolls; the map stays
    v.shot("map-completion-units")
    clean(v)


def test_default_completion_map_says_which_date_it_shows(visit: Any, server: LiveServer, store: Path) -> None:
    """Without a date the map opens on completion.landing's date for today, and says so when that is
    not today (by this machine's clock: after the bundled season, the latest checkpoint with reports)."""
    from completion.landing import landing_date
    from twin import Twin

    with Twin.open(store) as twin:
        landing = landing_date(twin)
    v = visit("/maps/completion?lang=en")
    assert v.stats()["halls"]["params"]["date"] == landing.on.isoformat()
    note = v.page.locator(".vt-landing-note")
    if landing.moved:
        assert f"Showing {landing.checkpoint} ({landing.on.isoformat()})" in note.inner_text()
    else:
        assert note.count() == 0
    v.shot("map-completion-default")
    clean(v)


def _centre(geometry: dict[str, Any]) -> tuple[float, float]:
    import shapely

    g = shapely.geometry.shape(geometry)
    p = g.representative_point() if g.geom_type.endswith("Polygon") else g.interpolate(0.5, normalized=True)
    return p.x, p.y


def test_popup_names_the_project_its_unit_and_progress(visit: Any, server: LiveServer) -> None:
    late = api(server, "/completion", date=KNOWN_DATE)["late"][0]
    project = api(server, f"/projects/{late['code']}", date=KNOWN_DATE)["project"]
    key = project["features"][0]
    layer, fid = key.split("/", 1)
    lon, lat = _centre(api(server, f"/collections/{layer}/items/{fid}", asof=KNOWN_DATE)["geometry"])
    v = visit(PAGES["completion-en"])
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{lat}, {lon}], 18, {{animate: false}})"))
    point = v.page.evaluate(
        f"(() => {{ const p = vt_engine.map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()"
    )
    box = v.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    v.page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = v.page.locator(".leaflet-popup-content")
    v.page.wait_for_function(POPUP_READY)  # the feature's attributes may still be on their way
    text = popup.inner_text()
    assert project["code"] in text and i18n.unit_name("en", project["responsible_unit"]) in text
    assert f"{_percent(project['percent'])} done / {_percent(project['planned_percent'])} planned" in text
    assert (project["forecast"]["finish"] or "no forecast") in text
    assert "Behind" in text
    # the days behind plan have a row of their own, not "(29 days late)" beside the forecast finish,
    # which says how many days after opening day that finish is
    assert "days late" not in text
    behind = popup.locator(".vt-popup-project", has_text=project["code"]).locator("tr.vt-behind-plan")
    if project["days_late"] > 0:
        assert behind.inner_text().split() == ["Behind", "plan", str(int(project["days_late"] + 0.5)), "days"]
    finish, opening = project["forecast"]["finish"], api(server, "/completion", date=KNOWN_DATE)["opening_day"]
    if project["forecast"]["after_opening"] and finish and finish > opening:
        gap = (date.fromisoformat(finish) - date.fromisoformat(opening)).days
        assert f"⚠ {gap} days after opening day" in text
    # how the forecast was made, in the words of the project's page (the server's, per project)
    panel = api(server, "/maps/data/panel", date=KNOWN_DATE, lang="en")["projects"]
    words = next(x["basis"] for x in panel if x["code"] == project["code"])
    shown = popup.locator(".vt-popup-project", has_text=project["code"]).locator('[data-field="basis"]')
    assert words and shown.inner_text() == words, (words, text)
    v.page.wait_for_function(POPUP_SHOWN)
    v.shot("map-completion-popup")
    # The same feature clicked under the map's top-right corner: the popup is panned into view below
    # the buttons, and its close button was under the open layer list. The list is its button while
    # a popup is open, and opens again when it closes.
    v.page.evaluate("vt_engine.map.closePopup()")
    width = v.page.evaluate("vt_engine.map.getSize().x")
    target = (width - 60, 200)
    v.moved(
        lambda: v.page.evaluate(
            f"vt_engine.map.panBy([{point[0] - target[0]}, {point[1] - target[1]}], {{animate: false}})"
        )
    )
    v.page.mouse.click(box["x"] + target[0], box["y"] + target[1])
    v.page.wait_for_function(POPUP_READY)
    v.page.wait_for_function(POPUP_SHOWN)
    on_top = """(() => {
      const b = document.querySelector('.leaflet-popup-close-button').getBoundingClientRect();
      const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
      return !!hit && !!hit.closest('.leaflet-popup-close-button');
    })()"""
    assert v.page.evaluate(on_top)
    assert v.page.locator(".leaflet-control-layers-expanded").count() == 0
    v.shot("map-completion-popup-corner")
    v.page.locator(".leaflet-popup-close-button").click()
    v.page.wait_for_function("document.querySelectorAll('.leaflet-control-layers-expanded').length === 1")
    clean(v)


def test_both_levels_of_a_hall_can_be_clicked_and_say_their_level(visit: Any, server: LiveServer) -> None:
    """The 16 m hall is drawn inset in the 0 m one: a click inside reaches it, a click on the rim the hall below."""
    import shapely

    ground = shapely.geometry.shape(api(server, "/collections/halls/items/hall-2.1H")["geometry"])
    upper = shapely.geometry.shape(api(server, "/collections/halls/items/hall-2.2H")["geometry"])
    rim = ground.buffer(-0.00008).exterior.interpolate(0.5, normalized=True)  # about 8 m in from the hall's edge
    centre = upper.representative_point()
    v = visit(PAGES["completion-en"])
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{centre.y}, {centre.x}], 18, {{animate: false}})"))
    box = v.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    for where, code, level in ((centre, "2.2H", "Upper level (16 m)"), (rim, "2.1H", "Ground level (0 m)")):
        v.page.evaluate("vt_engine.map.closePopup()")
        # the closed popup fades out before it leaves the page: wait until it is gone, or its
        # content would pass for the next one's
        v.page.wait_for_function("!document.querySelector('.leaflet-popup')")
        point = v.page.evaluate(
            f"(() => {{ const p = vt_engine.map.latLngToContainerPoint([{where.y}, {where.x}]); return [p.x, p.y]; }})()"
        )
        v.page.mouse.click(box["x"] + point[0], box["y"] + point[1])
        v.page.wait_for_function(POPUP_READY)
        sub = v.page.locator(".leaflet-popup-content .vt-popup-sub").first.inner_text()
        assert code in sub and level in sub, (where, sub)
    clean(v)


# The halls canvas's pixels round a point (lat, lon): [r, g, b, a] each, 13 × 13 device pixels.
HALL_PIXELS = """([lat, lon]) => {
  const layer = vt_engine.layers.halls, dpr = window.devicePixelRatio || 1;
  const p = vt_engine.map.latLngToLayerPoint([lat, lon]).subtract(layer._topLeft);
  const d = layer._canvas.getContext('2d').getImageData(Math.round(p.x * dpr) - 6, Math.round(p.y * dpr) - 6, 13, 13).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2], d[i + 3]]);
  return out;
}"""


def _share(pixels: list[list[int]], colour: tuple[int, ...]) -> float:
    """The share of `pixels` drawn in about `colour` (a pattern's pixels and their edges are not)."""
    near = [px for px in pixels if px[3] > 0 and sum((px[i] - colour[i]) ** 2 for i in range(3)) < 60**2]
    return len(near) / len(pixels)


def test_an_upper_hall_is_drawn_over_the_hall_below_whatever_their_statuses(visit: Any, server: LiveServer) -> None:
    """As in the briefing, a 16 m hall stands over the 0 m hall it is drawn inset in: at T-60 5.2H
    (at risk), 7.2H (not started) and 8.2H (at risk) lie in halls behind schedule, whose colour was
    painted over them (the worse status last). The map shows the upper hall's colour there, and a
    click there finds it."""
    import shapely

    day = "2026-09-06"  # T-60
    halls = api(server, "/maps/data/features/halls", mode="completion", date=day, lang="en")["features"]
    shapes = {f["id"]: shapely.geometry.shape(api(server, f"/collections/halls/items/{f['id']}")["geometry"])
              for f in halls}  # fmt: skip
    order = ["none", "done", "not_started", "on_track", "at_risk", "behind"]  # worst last, web/maps.py
    covered = []  # (upper hall, its status, the ground hall's status) where the ground one is worse
    for up in (f for f in halls if f["p"].get("level") == "16m"):
        below = next(f for f in halls if f["p"].get("level") != "16m" and shapes[f["id"]].contains(shapes[up["id"]]))
        if order.index(below["c"]) > order.index(up["c"]):
            covered.append((up, below))
    assert len(covered) >= 3, covered  # 5.2H, 7.2H, 8.2H: the case is there to see
    colours = {s: tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for s, c in i18n.STATUS_COLOURS.items()}
    v = visit(f"/maps/completion?date={day}&lang=en")
    for up, below in covered:
        p = shapes[up["id"]].representative_point()
        pixels = v.page.evaluate(HALL_PIXELS, [p.y, p.x])
        mine, theirs = _share(pixels, colours[up["c"]]), _share(pixels, colours[below["c"]])
        assert mine > 0.3 and theirs < 0.05, (up["p"]["code"], up["c"], mine, below["c"], theirs)
        hit = v.page.evaluate(f"vt_engine.layers.halls.hit(L.latLng({p.y}, {p.x})).id")
        assert hit == up["id"]
    v.shot("map-completion-upper-halls-on-top")
    clean(v)


# ---------------------------------------------------------------------------- timeline
def test_timeline_steps_through_the_checkpoints(visit: Any, server: LiveServer) -> None:
    v = visit("/maps/timeline?lang=en")
    steps = v.page.evaluate("vt_timeline.cfg.steps.map(s => s.date)")
    assert len(steps) >= 5 and CHECKPOINT_DATE in steps
    from datetime import date

    assert all(
        (date.fromisoformat(b) - date.fromisoformat(a)).days == 10 for a, b in zip(steps, steps[1:], strict=False)
    )
    i = steps.index(CHECKPOINT_DATE)
    v.page.locator("#vt-slider").fill(str(i))  # as a user drags the slider
    # the step's label changes first; its loads (started with it) are then what idle waits for
    v.page.wait_for_function(f"document.getElementById('vt-step-label').textContent.includes('{CHECKPOINT_DATE}')")
    v.idle()
    comp = api(server, "/completion", date=CHECKPOINT_DATE)
    assert v.page.locator('[data-kpi="overall"] .vt-kpi-value').inner_text() == _percent(
        comp["overall"]["actual_percent"]
    )
    for status, n in comp["overall"]["counts"].items():
        assert v.page.locator(f'.vt-legend li[data-status="{status}"] .vt-count').inner_text() == str(n)
    stats = v.stats()
    for layer in VENUE_LAYERS:
        items = api(server, f"/collections/{layer}/items", asof=CHECKPOINT_DATE, bbox=stats[layer]["bbox"], limit=1)
        assert stats[layer]["features"] == items["numberMatched"], layer
        assert stats[layer]["params"]["date"] == CHECKPOINT_DATE
    v.shot("map-timeline-T-10")
    v.page.locator("#vt-slider").fill("0")
    v.page.wait_for_function(f"document.getElementById('vt-step-label').textContent.includes('{steps[0]}')")
    v.idle()
    # the first checkpoint comes before the register's first project: the panel says so (a legend of
    # zeros and a green 0 % read as a season on track)
    assert api(server, "/completion", date=steps[0])["overall"]["projects"] == 0
    assert v.page.locator(f'#vt-panel-body [data-no-projects="{steps[0]}"]').count() == 1
    assert v.page.locator('#vt-panel-body [data-kpi="overall"]').count() == 0
    clean(v)


def test_timeline_language_switch_keeps_the_checkpoint(visit: Any) -> None:
    """The other language opened the timeline on the checkpoint it opens on, not the one being read: the
    step is in the address (#date), which the language switch's link carries; the completion map's
    link carries it as its date."""
    v = visit("/maps/timeline?lang=en")
    steps = v.page.evaluate("vt_timeline.cfg.steps.map(s => s.date)")
    start = v.page.evaluate("vt_timeline.index")
    i = 1 if start != 1 else 2
    v.page.locator("#vt-slider").fill(str(i))
    v.page.wait_for_function(f"document.getElementById('vt-step-label').textContent.includes('{steps[i]}')")
    v.idle()
    # The completion map's link opens on that checkpoint too (it opened on today's).
    to_map = v.page.get_attribute('a[data-nav="completion"]', "href") or ""
    assert f"date={steps[i]}" in to_map and "lang=en" in to_map, to_map
    with v.page.expect_navigation():
        v.page.click('a[data-lang-switch="zh"]')
    v.idle()
    assert v.page.evaluate("document.documentElement.lang") == "zh-CN"
    assert v.page.evaluate("vt_timeline.index") == i
    assert steps[i] in v.page.locator("#vt-step-label").inner_text()
    assert v.page.evaluate("vt_engine.config.date") == steps[i]
    clean(v)


PANEL_OF = "document.getElementById('vt-panel-body').dataset.date"


def test_timeline_figures_are_never_shown_under_another_checkpoints_date(visit: Any, server: LiveServer) -> None:
    """The step's heading changed at once while the panel kept the last checkpoint's figures until the
    new ones came (and for good when they did not come): read as that date's figures. While they load
    the panel is marked busy and says whose figures it holds (data-date); a load that fails takes the
    old figures away and says so, under the new heading."""
    v = visit("/maps/timeline?lang=en")
    steps = v.page.evaluate("vt_timeline.cfg.steps.map(s => s.date)")
    start = v.page.evaluate("vt_timeline.index")
    assert v.page.evaluate(PANEL_OF) == steps[start]
    held: list[Any] = []
    released = False

    def hold(route: Any) -> None:  # the next step's figures are held back until released
        route.continue_() if released else held.append(route)

    v.page.route("**/maps/data/panel?*", hold)
    i = steps.index(CHECKPOINT_DATE)
    i = i - 1 if i == start else i
    v.page.locator("#vt-slider").fill(str(i))
    v.page.wait_for_function(f"document.getElementById('vt-step-label').textContent.includes('{steps[i]}')")
    assert v.page.evaluate(PANEL_OF) == steps[start]  # still the old figures: said so
    assert v.page.get_attribute("#vt-panel-body", "aria-busy") == "true"
    released = True
    for route in held:
        route.continue_()
    v.page.wait_for_function(f"{PANEL_OF} === '{steps[i]}'")
    v.idle()
    assert v.page.get_attribute("#vt-panel-body", "aria-busy") is None
    comp = api(server, "/completion", date=steps[i])
    assert v.page.locator('[data-kpi="overall"] .vt-kpi-value').inner_text() == _percent(
        comp["overall"]["actual_percent"]
    )
    # a load that fails: no figures of another date are left under the new heading
    v.page.unroute("**/maps/data/panel?*")
    v.page.route("**/maps/data/panel?*", lambda route: route.abort())
    j = i + 1
    v.page.locator("#vt-slider").fill(str(j))
    v.page.wait_for_function(f"document.querySelector('#vt-panel-body [data-load-failed=\"{steps[j]}\"]')")
    assert v.page.locator("#vt-panel-body [data-kpi]").count() == 0
    assert v.page.get_attribute("#vt-panel-body", "aria-busy") is None
    assert v.page.evaluate(PANEL_OF) == steps[j]
    v.shot("map-timeline-load-failed")
    v.page.unroute("**/maps/data/panel?*")


MID_WAY = datetime(2026, 8, 1, 2, 0, tzinfo=UTC)  # the bundled season recorded from here: T-110 and T-100 before it


@pytest.fixture(scope="module")
def mid_way_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server on the bundled twin with its history recorded from 1 August (a season imported
    mid-way, each commit before then made on that day): its timeline's first checkpoints come before
    the twin's history."""
    from layers.bundle import bundled_history_files
    from layers.catalogue import LAYERS
    from layers.changefile import read_change_file
    from twin import Twin

    path = tmp_path_factory.mktemp("midway") / "venue.gpkg"
    twin = Twin.create(path, LAYERS, AREA_OF_INTEREST)
    try:
        with twin.presentation_deferred():
            for f in bundled_history_files():
                cf = read_change_file(f)
                assert cf.time is not None
                when = max(datetime.fromisoformat(cf.time.replace("Z", "+00:00")), MID_WAY)
                twin.commit(cf.changes, author=cf.author or "?", message=cf.message or "?", time=when)
    finally:
        twin.close()
    s = LiveServer(path, path.with_name("server.log"))
    yield s
    s.stop()


NO_DATA_SHOWN = "(() => { const b = document.querySelector('.vt-no-data-map'); return !!b && !b.hidden; })()"


def test_timeline_before_the_twins_history_says_there_was_no_data_yet(visit: Any, mid_way_server: LiveServer) -> None:
    """A timeline checkpoint before the twin's history drew an empty map while its panel answered
    404 ("could not load the data", the last checkpoint's figures left in the panel). The map says
    when the twin's history starts and that the date comes before it (in the page's language: it
    was twin.core.no_data_reason's English under "No data yet on ..."), and so does the panel; a
    checkpoint with data takes it away."""
    server = mid_way_server
    v = visit(server.url + "/maps/timeline?lang=en#2026-07-18", base=server.url)
    dates = v.page.evaluate("vt_timeline.cfg.steps.map(s => s.date)")
    assert dates[:3] == ["2026-07-18", "2026-07-28", "2026-08-07"], dates
    assert v.page.evaluate("vt_timeline.index") == 0
    v.page.wait_for_function(NO_DATA_SHOWN)
    shown = v.page.locator(".vt-no-data-map").inner_text()
    why = "2026-07-18 comes before it: the twin holds nothing of that day, so this step has no figures."
    assert "The twin's history starts on 2026-08-01" in shown and why in shown, shown
    assert v.page.locator(".vt-no-data-map").get_attribute("role") == "status"
    assert why in v.page.locator("#vt-panel-body [data-no-data]").inner_text()
    assert v.page.locator("#vt-panel-body [data-kpi]").count() == 0  # no figures of a season not there yet
    assert all(s["features"] == 0 and s["error"] is None for s in v.stats().values()), v.stats()
    v.shot("map-timeline-before-history")
    clean(v)  # and no 404 behind it: the page knew

    v.page.locator("#vt-slider").fill("2")  # T-90, the first checkpoint with data
    v.page.wait_for_function("document.getElementById('vt-step-label').textContent.includes('2026-08-07')")
    v.idle()
    assert not v.page.evaluate(NO_DATA_SHOWN)
    assert v.page.locator("#vt-panel-body [data-no-data]").count() == 0
    assert v.page.locator('#vt-panel-body [data-kpi="overall"]').count() == 1
    clean(v)


# ---------------------------------------------------------------------------- changes and layer check
def test_change_map_draws_the_diff(visit: Any, server: LiveServer) -> None:
    v = visit(PAGES["changes-en"])
    diff = api(server, "/diff", **{"from": "2026-09-01", "to": "HEAD"})
    spatial = {k: c for k, c in diff["twin:counts"].items() if k in VENUE_LAYERS}
    stats = v.stats()
    in_view = [f for f in diff["features"] if f["twin:layer"] in VENUE_LAYERS and _touches(f, stats["changes"]["bbox"])]
    assert stats["changes"]["features"] == stats["changes"]["numberMatched"] == len(in_view)
    v.moved(lambda: v.page.evaluate("vt_engine.map.fitBounds([[31.15, 121.25], [31.23, 121.35]], {animate: false})"))
    assert v.stats()["changes"]["features"] == sum(sum(c.values()) for c in spatial.values())
    for kind in ("added", "modified", "deleted"):
        shown = v.page.locator(f'.vt-legend li[data-kind="{kind}"] .vt-count').inner_text()
        assert shown == str(sum(c[kind] for c in spatial.values())), kind
    assert v.page.evaluate("vt_engine.layers.changes.items.some(it => it.f.c === 'modified_old')")
    clean(v)


def _touches(feature: dict[str, Any], bbox: str) -> bool:
    import shapely

    minx, miny, maxx, maxy = (float(x) for x in bbox.split(","))
    geoms = [feature["geometry"]]
    if feature.get("twin:before"):
        geoms.append(feature["twin:before"]["geometry"])
    return any(
        shapely.intersects(shapely.box(minx, miny, maxx, maxy), shapely.box(*shapely.geometry.shape(g).bounds))
        for g in geoms
    )


def test_layer_check_map_marks_the_problems(visit: Any, server: LiveServer) -> None:
    v = visit("/maps/layers/landscaping?lang=en")
    classes = v.page.evaluate("Object.fromEntries(vt_engine.layers.landscaping.items.map(it => [it.f.id, it.f.c]))")
    assert classes[INVALID_ID] == "invalid" and classes[MISSING_ID] == "missing"
    assert (
        v.stats()["landscaping"]["features"] == api(server, "/collections/landscaping/items", limit=1)["numberMatched"]
    )
    v.moved(lambda: v.page.click(f'li[data-feature="{MISSING_ID}"]'))  # an animated zoom to the feature
    v.page.evaluate(
        f"(() => {{ const it = vt_engine.layers.landscaping.keyIndex()['{MISSING_ID}'][0]; "
        "const b = it.box, m = vt_engine.map; const ll = m.unproject([(b[0]+b[2])/2 * 1, (b[1]+b[3])/2 * 1], 0); "
        "vt_engine.onClick({latlng: ll}); })()"
    )
    v.page.wait_for_function(POPUP_READY)
    text = v.page.locator(".leaflet-popup-content").inner_text()
    assert "Missing attributes" in text and "Flower pots is missing" in text and "Legacy flower bed" in text
    v.page.wait_for_function(POPUP_SHOWN)
    v.shot("map-layer-check-popup")
    clean(v)


# ---------------------------------------------------------------------------- exported file, offline
def test_exported_map_opens_offline(visit: Any, server: LiveServer, store: Path, tmp_path: Path) -> None:
    from cli.main import app

    out = tmp_path / "completion.html"
    result = CliRunner().invoke(
        app, ["map", "completion", "--date", KNOWN_DATE, "--lang", "en", "-o", str(out), "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    v = visit(out.as_uri(), base="file://", offline=True)
    assert [u for u in v.requests if not u.startswith(("file://", "data:"))] == []
    assert v.console_errors == []
    stats = v.stats()
    for layer in VENUE_LAYERS:
        assert (
            stats[layer]["features"]
            == api(server, f"/collections/{layer}/items", asof=KNOWN_DATE, limit=1)["numberMatched"]
        )
    comp = api(server, "/completion", date=KNOWN_DATE)
    assert v.page.locator('[data-kpi="overall"] .vt-kpi-value').inner_text() == _percent(
        comp["overall"]["actual_percent"]
    )
    assert v.page.locator('section[data-section="late"] ul.vt-late li').count() == len(comp["late"])
    v.shot("export-completion-offline")


# ---------------------------------------------------------------------------- a phone, a tablet, the keyboard
PHONE, TABLET = (390, 844), (768, 1024)
NARROW = {"phone": PHONE, "tablet": TABLET}
TABLE_PAGES = {
    "units-en": f"/completion/units?f=html&date={CHECKPOINT_DATE}&lang=en",
    "project-zh": f"/projects/RD-03?f=html&date={CHECKPOINT_DATE}&lang=zh",
    "register-en": "/maps/layers/projects?lang=en",
}


SMALLEST_CURVE_TEXT = """(() => { const svg = document.querySelector('svg[data-points]');
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return Math.min(...Array.from(svg.querySelectorAll('text')).map(t => scale * parseFloat(t.getAttribute('font-size')))); })()"""


@pytest.mark.parametrize("size", NARROW)
@pytest.mark.parametrize("name", TABLE_PAGES)
def test_table_pages_keep_to_the_screens_width(visit: Any, name: str, size: str) -> None:
    """On a phone (and the units table on a tablet too) the units table, the project's facts and the
    register's table and version picker ran past the screen's right edge, so the whole page slid
    sideways; a wide table scrolls in a box of its own instead, which the keyboard can reach."""
    v = visit(TABLE_PAGES[name], wait=False, size=NARROW[size])
    v.page.wait_for_load_state("load")
    wide, screen = v.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    v.shot(f"narrow-{name}-{size}")
    assert wide <= screen, (wide, screen)
    if name == "units-en" and size == "phone":
        box = v.page.locator("div.vt-table-scroll")
        assert box.evaluate("el => el.scrollWidth > el.clientWidth && el.tabIndex === 0")
        assert box.locator("table.vt-units-table").count() == 1
        # A line says the table scrolls (its last columns were off the screen with nothing to say so);
        # the unit's name keeps a readable width (it wrapped two characters a line) and stays in view
        # as the other columns scroll under it.
        assert v.page.locator("[data-scroll-hint]").is_visible()
        first = box.locator("tbody tr td").first
        before = first.bounding_box()
        assert before is not None and before["width"] >= 100, before
        box.evaluate("el => { el.scrollLeft = 200; }")
        v.page.wait_for_function("document.querySelector('div.vt-table-scroll').scrollLeft >= 200")
        after = first.bounding_box()
        assert after is not None and abs(after["x"] - before["x"]) < 8, (before, after)  # not 200 px away
    if name == "project-zh":  # the S-curve's axis labels, drawn 9 units high, were 5.6 px on a phone
        smallest = v.page.evaluate(SMALLEST_CURVE_TEXT)
        assert smallest >= 9, smallest
        # a report's date and reporter on one line each ("2026-" / "10-26", "孙" / "浩" on a phone)
        lines = v.page.evaluate("""Array.from(document.querySelectorAll('table.vt-reports td:not(.note)')).map(td => {
            const r = document.createRange(); r.selectNodeContents(td);
            return new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top))).size; })""")
        assert lines and max(lines) == 1, lines
    clean(v)


CONTROLS = """(() => {
  const box = s => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {map: box('.leaflet-container'), layers: box('.leaflet-control-layers'),
          credit: box('.leaflet-control-attribution'), scale: box('.leaflet-control-scale'),
          open: document.querySelector('.leaflet-control-layers').classList.contains('leaflet-control-layers-expanded')};
})()"""
LIST_OPEN = "document.querySelector('.leaflet-control-layers').classList.contains('leaflet-control-layers-expanded')"


def _area(b: list[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _overlap(a: list[float], b: list[float]) -> float:
    return _area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])


@pytest.mark.parametrize("size", NARROW)
def test_a_narrow_map_keeps_its_controls_out_of_the_way(visit: Any, size: str) -> None:
    """On a phone or a tablet the layer list, always open, covered a sixth to a quarter of the map with
    no way to close it, and the map's credit ran over the scale bar: the list is a button (named in
    the page's language) that a tap opens and a tap on the map closes, and the credit keeps clear."""
    v = visit(PAGES["completion-zh"], size=NARROW[size])
    c = v.page.evaluate(CONTROLS)
    assert not c["open"] and _area(c["layers"]) < 0.02 * _area(c["map"]), c
    assert _overlap(c["credit"], c["scale"]) == 0, c
    toggle = v.page.locator("a.leaflet-control-layers-toggle")
    assert toggle.get_attribute("aria-label") == "图层"
    toggle.tap()
    v.page.wait_for_function(LIST_OPEN)
    assert "展馆" in v.page.locator(".leaflet-control-layers").inner_text()
    v.shot(f"map-completion-{size}-layer-list")
    left, top, right, bottom = c["map"]
    v.page.touchscreen.tap(left + 15, (top + bottom) / 2)  # away from every control
    v.page.wait_for_function(f"!({LIST_OPEN})")
    v.shot(f"map-completion-{size}")
    clean(v)


FOCUSED = """(() => { const e = document.activeElement, cs = getComputedStyle(e);
  return {project: e.dataset.project || null, unit: e.dataset.unit || null, tag: e.tagName,
          map: e.classList.contains('leaflet-container'), popup: !!e.closest('.leaflet-popup'),
          ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2}; })()"""
HIGHLIGHTED = (
    "Object.keys(vt_engine.layers).flatMap(k => vt_engine.layers[k]._highlighted().map(it => k + '/' + it.f.id))"
)


def _tab_to(v: Visit, wanted: Callable[[dict[str, Any]], bool], limit: int = 60) -> dict[str, Any]:
    for _ in range(limit):
        v.page.keyboard.press("Tab")
        at: dict[str, Any] = v.page.evaluate(FOCUSED)
        if wanted(at):
            return at
    raise AssertionError("Tab never reached it")


def test_late_projects_and_units_are_shown_on_the_map_from_the_keyboard(visit: Any, server: LiveServer) -> None:
    """A late project's row and a unit's row zoomed the map to their features on a click only: Tab
    did not reach them. Tab reaches each, with a visible focus ring; Enter and Space show it."""
    late = api(server, "/completion", date=KNOWN_DATE)["late"][0]["code"]
    features = api(server, f"/projects/{late}", date=KNOWN_DATE)["project"]["features"]
    v = visit(PAGES["completion-en"])
    at = _tab_to(v, lambda f: f["project"] == late)
    assert at["tag"] == "LI" and at["ring"], at
    v.moved(lambda: v.page.keyboard.press("Enter"))
    assert set(v.page.evaluate(HIGHLIGHTED)) == set(features)
    v.shot("map-completion-late-project-by-keyboard")

    units = api(server, "/completion/units", date=KNOWN_DATE)["units"]
    projects = api(server, "/projects", date=KNOWN_DATE)["projects"]
    v = visit(PAGES["completion-en"])
    _tab_to(v, lambda f: f["tag"] == "SUMMARY")
    v.page.keyboard.press("Enter")
    v.page.wait_for_function("document.querySelector('details[data-section=\"units\"]').open")
    at = _tab_to(v, lambda f: f["unit"] is not None, limit=3)
    assert at["unit"] == units[0]["key"] and at["ring"], at
    v.moved(lambda: v.page.keyboard.press(" "))
    wanted = {f for p in projects if p["responsible_unit"] == units[0]["key"] for f in p["features"]}
    assert set(v.page.evaluate(HIGHLIGHTED)) == wanted
    clean(v)


POPUP_CLEAR = """(() => {
  const p = document.querySelector('.leaflet-popup-content-wrapper');
  if (!p || getComputedStyle(document.querySelector('.leaflet-popup')).opacity !== '1') return false;
  const r = p.getBoundingClientRect(), m = vt_engine.map.getContainer().getBoundingClientRect();
  return r.top >= m.top && r.bottom <= m.bottom && Array.from(document.querySelectorAll('.leaflet-control')).every(c => {
    const b = c.getBoundingClientRect();
    return b.width === 0 || r.top >= b.bottom || r.bottom <= b.top || r.left >= b.right || r.right <= b.left;
  });
})()"""


def test_a_popup_on_a_phone_clears_the_maps_buttons(visit: Any) -> None:
    """On a phone's short map a tapped feature's popup was panned to the map's top edge, under the
    zoom buttons and the layer button (its title and close button covered), and the central plaza's,
    with two projects, ran off the map's foot under the panel. It is panned clear of every control
    and scrolls within the map (the test waits for that, after the popup's content and pan)."""
    v = visit(PAGES["completion-en"], size=PHONE)
    x, y = v.page.evaluate(
        "(m => { const p = m.latLngToContainerPoint(m.getCenter()); return [p.x, p.y]; })(vt_engine.map)"
    )
    v.page.touchscreen.tap(x, y)
    v.page.wait_for_function(POPUP_READY)
    v.page.wait_for_function(POPUP_CLEAR)
    v.shot("map-completion-phone-popup")
    clean(v)


def test_a_features_popup_opens_from_the_keyboard(visit: Any, server: LiveServer) -> None:
    """A feature's popup (its projects, units, progress, forecast) opened on a click only, and the
    late list names only the late projects: Tab reaches the map, whose keys are named on it, Enter
    opens the popup of what lies under the cross at its centre, Tab goes on into the popup's links
    and Escape closes it."""
    late = api(server, "/completion", date=KNOWN_DATE)["late"][0]
    project = api(server, f"/projects/{late['code']}", date=KNOWN_DATE)["project"]
    layer, fid = project["features"][0].split("/", 1)
    lon, lat = _centre(api(server, f"/collections/{layer}/items/{fid}", asof=KNOWN_DATE)["geometry"])
    v = visit(PAGES["completion-en"])
    at = _tab_to(v, lambda f: f["map"])
    assert at["ring"] or v.page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    hint = v.page.evaluate("getComputedStyle(document.activeElement, '::before').content")
    assert i18n.label("en", "map_keys") in hint
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{lat}, {lon}], 18, {{animate: false}})"))
    v.page.keyboard.press("Enter")
    v.page.wait_for_function(POPUP_READY)
    text = v.page.locator(".leaflet-popup-content").inner_text()
    assert project["code"] in text and i18n.unit_name("en", project["responsible_unit"]) in text
    v.page.wait_for_function(POPUP_SHOWN)
    assert v.page.evaluate("getComputedStyle(document.activeElement, '::before').content") == "none"  # off the popup
    v.shot("map-completion-popup-by-keyboard")
    at = _tab_to(v, lambda f: f["popup"], limit=1)
    v.page.keyboard.press("Escape")
    v.page.wait_for_function("!document.querySelector('.leaflet-popup')")
    assert v.page.evaluate(FOCUSED)["map"]  # back on the map, for the next feature
    clean(v)
