"""Markup in the twin's data stays text in a real browser: Debian's headless Chromium against the app.

An editor may write any feature id and an admin any layer title. A feature id shown in the OGC
pages' map (its tooltip and popup, web/static/ogc-pages.js) and a layer title shown in the maps'
layer list (folium's LayerControl, web/maps.py) are shown as the text they are: no element of theirs
is made, no script of theirs runs (no dialog opens), and the reader sees the characters written.

A missing Chromium fails these tests (it never skips them): see tests/web_support.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from api_server import LiveServer, bearer, make_tokens, on_test_store
from deadlines import BROWSER_MS, HTTP

from layers.bundle import bundled_history_files
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.changefile import read_change_file
from twin import LayerSchema, Twin

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.fail("playwright is needed for the page tests: pip install -e '.[dev]'", pytrace=False)

FEATURE_ID = "<img src=x onerror=alert(41)>"
LAYER_TITLE = "<img src=x onerror=alert(52)>"
LAYER = "xss_posts"  # made by an admin over the API today
# One there from the start: the timeline lists the layers of its earliest step.
EARLY = LayerSchema(name="xss_early", title_zh=LAYER_TITLE, title_en=LAYER_TITLE, geometry_types=("Point",))
BED = [[121.2950, 31.1860], [121.2954, 31.1860], [121.2954, 31.1863], [121.2950, 31.1863], [121.2950, 31.1860]]
POST = [121.2952, 31.1861]  # a point of the layer titled LAYER_TITLE: the last commit
BBOX = "121.2949,31.1859,121.2955,31.1864"
IDLE = "window.VT && VT.isIdle && VT.isIdle()"
# An image that fails to load, as the injected ones would: once its error has fired, so has any
# earlier one's (a page's failed loads of one address end in the order they began).
SETTLED = """() => new Promise(done => {
  const probe = new Image();
  probe.onerror = probe.onload = () => done(true);
  probe.src = 'x?settled=' + Math.random();
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    d = tmp_path_factory.mktemp("injection-browser")
    store = build_venue_with(d / "venue.gpkg", EARLY)
    tokens = make_tokens(store)
    s = LiveServer(store, d / "server.log")
    feature = {
        "type": "Feature",
        "id": FEATURE_ID,
        "geometry": {"type": "Polygon", "coordinates": [BED]},
        "properties": {
            "code": "FB-XSS",
            "name_en": "Flower bed",
            "name_zh": "花坛",
            "kind": "flower_bed",
            "pots": 10,
            "responsible_unit": "青浦区绿化和市容管理局",
        },
    }
    r = httpx.post(
        s.url + "/collections/landscaping/items",
        json=feature,
        headers={**bearer(tokens["editor"]), "Content-Type": "application/geo+json"},
        timeout=HTTP,
    )
    assert r.status_code == 201, r.text
    layer = {"name": LAYER, "title_zh": LAYER_TITLE, "title_en": LAYER_TITLE, "geometry_types": ["Point"]}
    r = httpx.post(s.url + "/collections", json=layer, headers=bearer(tokens["admin"]), timeout=HTTP)
    assert r.status_code == 201, r.text
    post = {"type": "Feature", "id": "post-1", "geometry": {"type": "Point", "coordinates": POST}, "properties": {}}
    r = httpx.post(
        s.url + f"/collections/{LAYER}/items",
        json=post,
        headers={**bearer(tokens["editor"]), "Content-Type": "application/geo+json"},
        timeout=HTTP,
    )
    assert r.status_code == 201, r.text
    yield s
    s.stop()


def build_venue_with(path: Path, extra: LayerSchema) -> Any:
    """The bundled venue twin (layers.bundle.build_bundled_twin) with one more layer from its start."""
    with Twin.create(path, [*LAYERS, extra], AREA_OF_INTEREST) as twin:
        for f in bundled_history_files():
            cf = read_change_file(f)
            assert cf.time is not None
            twin.commit(cf.changes, author=cf.author, message=cf.message, time=datetime.fromisoformat(cf.time))
    return on_test_store(path)


class Visit:
    def __init__(self, page: Page):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def no_script_ran(self) -> None:
        """No element came of the data (an <img src=x>), and no handler of one ran."""
        assert self.page.locator('img[src="x"]').count() == 0
        self.page.evaluate(SETTLED)
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors


@pytest.fixture
def visit(browser: Browser, server: LiveServer) -> Iterator[Any]:
    contexts = []

    def open_(path: str) -> Visit:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        ctx.set_default_timeout(BROWSER_MS)  # ends only a wait that is truly stuck
        ctx.set_default_navigation_timeout(BROWSER_MS)
        contexts.append(ctx)
        v = Visit(ctx.new_page())
        v.page.goto(server.url + path)
        return v

    yield open_
    for ctx in contexts:
        ctx.close()


def hover_feature(v: Visit, fid: str) -> None:
    """Move the pointer onto the drawn feature `fid` and wait for its tooltip."""
    v.page.wait_for_function("id => [...document.querySelectorAll('#ogc-map [data-feature-id]')]"
                             ".some(e => e.dataset.featureId === id)", arg=fid)  # fmt: skip
    box = v.page.evaluate(
        """id => {
          const el = [...document.querySelectorAll('#ogc-map [data-feature-id]')].find(e => e.dataset.featureId === id);
          const r = el.getBoundingClientRect();
          return [r.left + r.width / 2, r.top + r.height / 2];
        }""",
        fid,
    )
    v.page.mouse.move(box[0], box[1])
    v.page.wait_for_selector("#ogc-map .leaflet-tooltip")


@pytest.mark.parametrize(
    "path",
    [
        f"/collections/landscaping/items?f=html&lang=en&bbox={BBOX}",
        f"/collections/landscaping/items/{quote(FEATURE_ID, safe='')}?f=html&lang=en",
    ],
    ids=["items", "item"],
)
def test_a_feature_id_is_text_in_the_maps_tooltip_and_popup(visit: Any, path: str) -> None:
    v = visit(path)
    hover_feature(v, FEATURE_ID)
    tip = v.page.locator("#ogc-map .leaflet-tooltip")
    assert tip.text_content() == FEATURE_ID  # the characters written, shown as written
    assert tip.locator("img").count() == 0
    v.page.mouse.click(*v.page.evaluate(
        """id => {
          const el = [...document.querySelectorAll('#ogc-map [data-feature-id]')].find(e => e.dataset.featureId === id);
          const r = el.getBoundingClientRect();
          return [r.left + r.width / 2, r.top + r.height / 2];
        }""",
        FEATURE_ID,
    ))  # fmt: skip
    v.page.wait_for_selector("#ogc-map .leaflet-popup-content")
    assert v.page.locator("#ogc-map .leaflet-popup-content").text_content() == FEATURE_ID
    v.no_script_ran()


MAP_PAGES = {
    "layer-itself": f"/maps/layers/{LAYER}?lang=en",
    "layer-other": "/maps/layers/halls?lang=en",
    "completion": "/maps/completion?lang=en",
    "timeline": "/maps/timeline?lang=en",
}


@pytest.mark.parametrize("name", MAP_PAGES)
def test_a_layer_title_is_text_in_the_layer_list(visit: Any, name: str) -> None:
    v = visit(MAP_PAGES[name])
    v.page.wait_for_function(IDLE)
    names = v.page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label span", "els => els.map(e => e.textContent.trim())"
    )
    # the title as written, in the page's list of layers (the timeline's: the early layer's alone)
    assert LAYER_TITLE in names, (v.page.url, names)
    assert v.page.locator(".leaflet-control-layers img").count() == 0
    v.no_script_ran()


def test_a_layer_title_is_text_in_a_change_maps_popup(visit: Any) -> None:
    """The change map lists no twin layer (its one layer is the changes), but a change's popup names
    the layer the feature is of."""
    v = visit("/maps/changes?from=HEAD~1&to=HEAD&lang=en")
    v.page.wait_for_function(IDLE)
    v.page.evaluate("p => vt_engine.map.setView([p[1], p[0]], 19, {animate: false})", POST)
    v.page.wait_for_function(IDLE)
    at = v.page.evaluate(
        """p => {
          const pt = vt_engine.map.latLngToContainerPoint([p[1], p[0]]);
          const r = vt_engine.map.getContainer().getBoundingClientRect();
          return [r.left + pt.x, r.top + pt.y];
        }""",
        POST,
    )
    v.page.mouse.click(at[0], at[1])
    sub = v.page.locator(".leaflet-popup-content .vt-popup-sub")
    sub.wait_for()
    assert (sub.text_content() or "").startswith(LAYER_TITLE + " · ")
    assert v.page.locator(".leaflet-popup-content img").count() == 0
    v.no_script_ran()
