"""The OGC API's HTML pages in a real browser: Debian's headless Chromium against the running app.

An items page draws its features on the app's own Leaflet with no console error and no request to
any host but the app; a table row lights its feature up; the version picker reloads the page at the
version picked; an item page draws its feature. Screenshots go to the artifacts folder
($ARTIFACTS, else tests/artifacts/): page-items.png, page-item.png.

A missing Chromium fails these tests (it never skips them): see tests/web_support.py.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import LiveServer, build_venue
from deadlines import BROWSER_MS, HTTP
from web_support import artifacts_dir

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.fail("playwright is needed for the page tests: pip install -e '.[dev]'", pytrace=False)

ITEMS = "/collections/halls/items?f=html&lang=en&limit=20"
DRAWN = "n => document.querySelectorAll('#ogc-map [data-feature-id]').length === n"
HIGHLIGHT_STROKE = "#1d4ed8"  # ogc-pages.js: a feature whose table row is under the pointer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    d = tmp_path_factory.mktemp("pages-browser")
    store = build_venue(d / "venue.gpkg")
    s = LiveServer(store, d / "server.log")
    yield s
    s.stop()


class Visit:
    def __init__(self, page: Page, base: str):
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def clean(self) -> None:
        assert self.errors == [], self.errors
        foreign = [u for u in self.requests if not u.startswith((self.base + "/", "data:", "about:"))]
        assert foreign == [], foreign

    def shot(self, name: str) -> bytes:
        """A screenshot of the whole page in the artifacts folder, replaced atomically (runs share it)."""
        png: bytes = self.page.screenshot(full_page=True)
        folder = artifacts_dir()
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        os.chmod(tmp, 0o644)
        os.replace(tmp, Path(folder) / f"{name}.png")
        return png


@pytest.fixture
def visit(browser: Browser, server: LiveServer) -> Iterator[Any]:
    contexts = []

    def open_(path: str) -> Visit:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        ctx.set_default_timeout(BROWSER_MS)  # ends only a wait that is truly stuck
        ctx.set_default_navigation_timeout(BROWSER_MS)
        contexts.append(ctx)
        v = Visit(ctx.new_page(), server.url)
        v.page.goto(server.url + path)
        return v

    yield open_
    for ctx in contexts:
        ctx.close()


def geojson(server: LiveServer, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, timeout=HTTP)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def test_items_page_draws_its_features_on_the_map(visit: Any, server: LiveServer) -> None:
    ids = [f["id"] for f in geojson(server, "/collections/halls/items", limit=20)["features"]]
    v = visit(ITEMS)
    v.page.wait_for_function(DRAWN, arg=len(ids))
    drawn = v.page.eval_on_selector_all("#ogc-map [data-feature-id]", "els => els.map(e => e.dataset.featureId)")
    assert sorted(drawn) == sorted(ids)
    assert v.page.get_attribute("#ogc-map", "data-drawn") == str(len(ids))
    # the venue outline is drawn under them, and the attribution is the venue's, not Leaflet's flag
    assert v.page.locator("#ogc-map path:not([data-feature-id])").count() >= 1
    attribution = v.page.inner_text(".leaflet-control-attribution")
    assert "approximate" in attribution and "Leaflet" not in attribution
    # a row of the table lights its feature up on the map
    first = ids[0]
    v.page.hover(f'tr[data-id="{first}"] td:nth-child(2)')
    v.page.wait_for_function(
        "([id, stroke]) => document.querySelector(`#ogc-map [data-feature-id=\"${id}\"]`).getAttribute('stroke') === stroke",
        arg=[first, HIGHLIGHT_STROKE],
    )
    v.page.mouse.move(5, 5)  # off the table: the screenshot shows the page as it opens
    v.page.wait_for_function(
        "([id, stroke]) => document.querySelector(`#ogc-map [data-feature-id=\"${id}\"]`).getAttribute('stroke') !== stroke",
        arg=[first, HIGHLIGHT_STROKE],
    )
    v.clean()
    assert len(v.shot("page-items")) > 10_000


def test_version_picker_reloads_the_page_at_that_version(visit: Any, server: LiveServer) -> None:
    v = visit(ITEMS)
    v.page.wait_for_selector("#ogc-map[data-drawn]")
    options = v.page.eval_on_selector_all("select[name=version] optgroup option", "els => els.map(e => e.value)")
    older = options[-1]  # the oldest commit that changed the halls
    ids = [f["id"] for f in geojson(server, "/collections/halls/items", limit=20, version=older)["features"]]
    v.page.select_option("select[name=version]", older)  # no button pressed: the page reloads itself
    v.page.wait_for_url(re.compile(rf"[?&]version={older}"))
    v.page.wait_for_function(DRAWN, arg=len(ids))
    assert v.page.eval_on_selector("select[name=version]", "s => s.value") == older
    rows = v.page.eval_on_selector_all("tbody tr", "els => els.map(e => e.dataset.id)")
    assert rows == ids
    v.clean()


def test_item_page_draws_the_feature_beside_its_properties(visit: Any, server: LiveServer) -> None:
    feature = geojson(server, "/collections/halls/items/hall-2.1H")
    v = visit("/collections/halls/items/hall-2.1H?f=html&lang=zh")
    v.page.wait_for_function(DRAWN, arg=1)
    assert v.page.inner_text('tr[data-property="code"] td') == feature["properties"]["code"]
    # the map and the table sit side by side, neither over the other
    m = v.page.locator("#ogc-map").bounding_box()
    t = v.page.locator("table.ogc-properties").bounding_box()
    assert m and t and m["x"] + m["width"] <= t["x"]
    v.clean()
    v.shot("page-item")
