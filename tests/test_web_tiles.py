"""Maps of a layer too large for GeoJSON: drawn from the API's vector tiles, in a real browser.

A twin with one large layer (30,000 small flower beds, with a project register over them)
served with VENUE_TWIN_MAP_TILE_THRESHOLD=20000: its completion map requests the layer's
`/tiles/` URLs, never its GeoJSON features, draws the tiles' features coloured by status, and
answers a click with the feature's popup. Small layers (everything in the bundled venue) keep
the GeoJSON path, and exported maps always embed GeoJSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import LiveServer, build_venue
from web_support import artifacts_dir

from twin import Twin
from web.bench_maps import SITE, build_twin
from web.maps import MapContext, completion_map, uses_tiles
from web.settings import MapSettings

try:
    from playwright.sync_api import Browser
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.fail("playwright is needed for the map tests: pip install -e '.[dev]'", pytrace=False)

N = 30_000
ON = "2026-10-20"
IDLE = "window.VT && VT.isIdle && VT.isIdle()"
STATUSES = {"done", "on_track", "at_risk", "behind", "not_started", "none"}


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tiles")
    path = d / "big.gpkg"
    build_twin(path, N, 300)
    return path


@pytest.fixture(scope="module")
def server(big_store: Path) -> Iterator[LiveServer]:
    s = LiveServer(
        big_store,
        big_store.with_name("server.log"),
        env={"VENUE_TWIN_MAP_TILE_THRESHOLD": "20000"},
    )
    yield s
    s.stop()


def _bed(i: int) -> tuple[float, float]:
    """The centre (lon, lat) of flower bed i, as web.bench_maps lays them out."""
    side = int(N**0.5) + 1
    dx, dy = (SITE[2] - SITE[0]) / side, (SITE[3] - SITE[1]) / side
    r, c = divmod(i, side)
    return SITE[0] + (c + 0.4) * dx, SITE[1] + (r + 0.4) * dy


def test_large_layer_is_drawn_from_tiles(browser: Browser, server: LiveServer) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        page.goto(f"{server.url}/maps/completion?date={ON}&lang=en")
        page.wait_for_function(IDLE, timeout=60_000)
        stats = page.evaluate("VT.stats()")
        land = stats["landscaping"]
        assert land["tiles"] is not None, land
        assert land["tiles"]["requested"] > 0 and land["tiles"]["failed"] == 0, land
        assert land["drawn"] > 1000, land  # the beds in view, from the tiles
        tile_urls = [u for u in requests if "/collections/landscaping/tiles/WebMercatorQuad/" in u]
        assert tile_urls and all("version=" in u for u in tile_urls), tile_urls[:3]
        assert all(u.split("/WebMercatorQuad/")[1].split("/")[0].isdigit() for u in tile_urls), tile_urls[:3]
        assert not [u for u in requests if "/maps/data/features/landscaping" in u]
        assert [u for u in requests if "/maps/data/features/venue_boundary" in u]  # small layers: GeoJSON
        assert not [u for u in requests if not u.startswith((server.url + "/", "data:", "about:"))]
        # the tiles are painted, in the status colours of the classes answer
        painted = page.evaluate(
            """() => Array.from(document.querySelectorAll('canvas.vt-tile[data-layer="landscaping"]'))
                 .filter(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; })
                 .length"""
        )
        assert painted > 0
        classes = httpx.get(
            f"{server.url}/maps/data/classes/landscaping", params={"mode": "completion", "date": ON}, timeout=60
        ).json()
        assert classes["version"] == land["tiles"]["version"]
        assert len(classes["c"]) == N and set(classes["c"].values()) <= STATUSES

        # a click on a bed shows its popup, its attributes read from the API by id
        lon, lat = _bed(1234)
        page.evaluate(f"vt_engine.map.setView([{lat}, {lon}], 19, {{animate: false}})")
        page.wait_for_function(IDLE, timeout=60_000)
        pt = page.evaluate(
            """([lat, lon]) => { const p = vt_engine.map.latLngToContainerPoint([lat, lon]);
                  const r = vt_engine.map.getContainer().getBoundingClientRect();
                  return [r.left + p.x, r.top + p.y]; }""",
            [lat, lon],
        )
        page.mouse.click(pt[0], pt[1])
        popup = page.locator(".vt-popup")
        popup.wait_for(timeout=20_000)
        page.wait_for_function(
            "document.querySelector('.vt-popup') && document.querySelector('.vt-popup').textContent.includes('FB-001234')",
            timeout=20_000,
        )
        text = popup.inner_text()
        assert "Flower bed 1234" in text
        assert "LS-" in text  # the bed's project, joined from the classes answer
        page.wait_for_function("getComputedStyle(document.querySelector('.vt-popup')).opacity === '1'")
        page.screenshot(path=str(artifacts_dir() / "map-tiles-completion.png"))
        assert not [u for u in requests if "/maps/data/features/landscaping" in u]
        assert not errors, errors
    finally:
        ctx.close()


# ---------------------------------------------------------------------------- which path a layer takes
@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    twin = Twin.open(build_venue(tmp_path_factory.mktemp("small") / "venue.gpkg"))
    yield twin
    twin.close()


def test_small_layers_keep_geojson(venue: Twin) -> None:
    html = completion_map(MapContext(venue, lang="en"), ON)
    assert "/maps/data/features/landscaping" in html
    assert "/tiles/WebMercatorQuad/" not in html and "importmap" not in html
    ref = venue.resolve()
    assert not any(uses_tiles(MapContext(venue), s, ref) for s in venue.layers())


def test_threshold_switches_served_maps_only(venue: Twin) -> None:
    low = MapSettings(map_tile_threshold=0)
    ref = venue.resolve()
    halls = venue.layer("halls")
    assert uses_tiles(MapContext(venue, settings=low), halls, ref)
    assert not uses_tiles(MapContext(venue, settings=low, export=True), halls, ref)
    gcj = MapSettings(map_tile_threshold=0, basemap_url="http://tiles.lan/{z}/{x}/{y}.png", basemap_datum="gcj02")
    assert not uses_tiles(MapContext(venue, settings=gcj), halls, ref)
    html = completion_map(MapContext(venue, lang="en", settings=low), ON)
    assert "/collections/halls/tiles/WebMercatorQuad/{z}/{y}/{x}" in html
    assert "/maps/data/classes/halls" in html and "importmap" in html
    assert "/maps/data/features/halls" not in html
    exported = completion_map(MapContext(venue, lang="en", settings=low, export=True), ON)
    assert "/tiles/WebMercatorQuad/" not in exported and "importmap" not in exported


def test_timeline_redraws_tiles_at_each_step(browser: Browser, server: LiveServer) -> None:
    ctx = browser.new_context(viewport={"width": 1200, "height": 800}, locale="en-US")
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        page.goto(f"{server.url}/maps/timeline?lang=en")
        page.wait_for_function(IDLE, timeout=60_000)
        # the timeline opens at the current checkpoint; its first is before the beds were added
        # (2026-09-01): nothing to draw there
        page.evaluate("VT.timeline.go(0)")
        page.wait_for_function(IDLE + " && VT.stats().landscaping.params.date === VT.timeline.cfg.steps[0].date")
        first = page.evaluate("VT.stats()")["landscaping"]
        assert first["tiles"]["version"] is None and first["drawn"] == 0, first
        page.evaluate("VT.timeline.go(VT.timeline.cfg.steps.length - 1)")
        page.wait_for_function(
            IDLE + " && VT.stats().landscaping.tiles.version !== null && VT.stats().landscaping.drawn > 0",
            timeout=60_000,
        )
        last = page.evaluate("VT.stats()")["landscaping"]
        assert last["tiles"]["failed"] == 0, last
        tile_urls = [u for u in requests if "/tiles/WebMercatorQuad/" in u]
        assert all(u.split("/WebMercatorQuad/")[1].split("/")[0].isdigit() for u in tile_urls), tile_urls[:3]
        assert any(f"version={last['tiles']['version']}" in u for u in requests if "/tiles/WebMercatorQuad/" in u)
        assert not [u for u in requests if "/maps/data/features/landscaping" in u]
        assert not errors, errors
    finally:
        ctx.close()
