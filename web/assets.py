"""The maps' browser assets: Leaflet from its npm package, and the twin's own script and styles.

Leaflet comes from the `leaflet` npm package, installed by `make install` (`npm ci` in web/,
pinned by web/package-lock.json) into web/node_modules. Nothing is vendored into the repository
and nothing is loaded from a CDN:

- served pages link the files under `/static/...`, which the app serves (api/maps.py);
- exported pages inline them (the CSS's images as data: URIs), so one HTML file works offline.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

WEB_DIR = Path(__file__).resolve().parent
OWN_STATIC = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"
LEAFLET_DIST = NODE_MODULES / "leaflet" / "dist"

STATIC_PREFIX = "/static"
VENDOR_PREFIX = STATIC_PREFIX + "/vendor"  # web/node_modules/<package>/dist, by package
OWN_PREFIX = STATIC_PREFIX + "/web"  # web/static


class AssetsMissing(RuntimeError):
    """Leaflet is not installed: `make install` (or `npm ci` in web/) has not run."""


@dataclass(frozen=True)
class Asset:
    kind: str  # "css" or "js"
    url: str  # where the app serves it
    path: Path  # the file on disk


# The vector tile decoder: maintained npm packages shipped as ES modules only. Served pages load
# them as modules through an import map (no bundler step); only served pages draw tiles.
TILE_MODULES = {
    "vector-tile": NODE_MODULES / "@mapbox" / "vector-tile",
    "point-geometry": NODE_MODULES / "@mapbox" / "point-geometry",
    "pbf": NODE_MODULES / "pbf",
}


# The API's interactive documentation (/docs): the swagger-ui-dist package is itself the dist folder.
SWAGGER_UI_DIST = NODE_MODULES / "swagger-ui-dist"
SWAGGER_UI_URL = VENDOR_PREFIX + "/swagger-ui"


def vendor_dirs() -> dict[str, Path]:
    """npm packages the app serves under /static/vendor/<name>/ (their dist folders)."""
    return {"leaflet": LEAFLET_DIST, "swagger-ui": SWAGGER_UI_DIST, **TILE_MODULES}


def tile_decoder_html(base: str = "") -> str:
    """The <head> tags of a page that draws vector tiles: the decoder as ES modules, handed to the
    page engine (a classic script) as VT.mvt, with a "vt-mvt-ready" event. `base` is the app's
    root path (behind a proxy at a sub-path), which the URLs start with."""
    missing = [p / "index.js" for p in TILE_MODULES.values() if not (p / "index.js").is_file()]
    if missing:
        raise AssetsMissing(
            "the maps' vector tile decoder is not installed ("
            + ", ".join(str(p) for p in missing)
            + "): run `make install`, or `npm ci` in web/"
        )

    def url(name: str) -> str:
        return f"{base}{VENDOR_PREFIX}/{name}/index.js?v={int((TILE_MODULES[name] / 'index.js').stat().st_mtime)}"

    from web.templating import render

    return render("tile_decoder.html", urls={name: url(name) for name in TILE_MODULES})


def page_assets() -> list[Asset]:
    """Every asset a map page needs, in load order."""
    return [
        Asset("css", f"{VENDOR_PREFIX}/leaflet/leaflet.css", LEAFLET_DIST / "leaflet.css"),
        Asset("js", f"{VENDOR_PREFIX}/leaflet/leaflet.js", LEAFLET_DIST / "leaflet.js"),
        Asset("css", f"{OWN_PREFIX}/venue-map.css", OWN_STATIC / "venue-map.css"),
        Asset("css", f"{OWN_PREFIX}/panels.css", OWN_STATIC / "panels.css"),
        Asset("js", f"{OWN_PREFIX}/venue-map.js", OWN_STATIC / "venue-map.js"),
        Asset("js", f"{OWN_PREFIX}/imagery.js", OWN_STATIC / "imagery.js"),
    ]


def ogc_page_assets() -> list[Asset]:
    """What an OGC API HTML page with a map loads: Leaflet and the pages' own small script and styles
    (not the map engine). Leaflet is left out when it is not installed: the page keeps its tables."""
    own = [
        Asset("css", f"{OWN_PREFIX}/ogc-pages.css", OWN_STATIC / "ogc-pages.css"),
        Asset("js", f"{OWN_PREFIX}/ogc-pages.js", OWN_STATIC / "ogc-pages.js"),
    ]
    leaflet = page_assets()[:2]
    return [*(leaflet if all(a.path.is_file() for a in leaflet) else []), *own]


def versioned_url(asset: Asset, base: str = "") -> str:
    """The asset's URL under the app's root path `base`, with its file's time, so a browser fetches
    it again after an update."""
    return f"{base}{asset.url}?v={int(asset.path.stat().st_mtime)}"


# The attribute table, the problems list, stacked-feature popups and code labels of the layer-check
# and change pages (web/maps.py layer_map, changes_map): loaded by those pages only.
CHECK_TABLE_ASSETS = (
    Asset("css", f"{OWN_PREFIX}/check-table.css", OWN_STATIC / "check-table.css"),
    Asset("js", f"{OWN_PREFIX}/check-table.js", OWN_STATIC / "check-table.js"),
)
# The register's table page has no map: the panel's look without Leaflet or the map engine.
REGISTER_PAGE_ASSETS = (Asset("css", f"{OWN_PREFIX}/venue-map.css", OWN_STATIC / "venue-map.css"), *CHECK_TABLE_ASSETS)


def assets_html(assets: tuple[Asset, ...], inline: bool, base: str = "") -> str:
    """Tags that load `assets` (assets_head.html): links to /static under the app's root path
    `base`, or the files inlined."""
    items: list[dict[str, Any]] = []
    for a in assets:
        if inline:
            text = _read(a.path)
            text = _inline_css_urls(text, a.path.parent) if a.kind == "css" else text.replace("</script", "<\\/script")
            items.append({"kind": a.kind, "url": a.url, "text": text})
        else:
            items.append({"kind": a.kind, "url": versioned_url(a, base), "text": None})
    return _head(items)


def check_installed() -> None:
    missing = [a.path for a in page_assets() if not a.path.is_file()]
    if missing:
        raise AssetsMissing(
            "the maps' browser assets are not installed ("
            + ", ".join(str(p) for p in missing)
            + "): run `make install`, or `npm ci` in web/"
        )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _inline_css_urls(css: str, base: Path) -> str:
    """Replace url(relative/path) in CSS with data: URIs of the files, so the CSS stands alone."""

    def repl(m: re.Match[str]) -> str:
        ref = m.group(2)
        if ref.startswith(("data:", "#")) or "//" in ref:
            return m.group(0)
        target = (base / ref).resolve()
        if not target.is_file():
            return m.group(0)
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        data = base64.b64encode(target.read_bytes()).decode()
        return f'url("data:{mime};base64,{data}")'

    return re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", repl, css)


@lru_cache(maxsize=4)
def _inline_block(mtimes: tuple[float, ...]) -> str:
    items = []
    for a in page_assets():
        # CSS with its images inlined; a script's text may not contain "</script", escaped the way
        # JSON-in-HTML is escaped.
        text = _read(a.path)
        text = _inline_css_urls(text, a.path.parent) if a.kind == "css" else text.replace("</script", "<\\/script")
        items.append({"kind": a.kind, "url": a.url, "text": text})
    return _head(items)


def _head(items: list[dict[str, Any]]) -> str:
    from web.templating import render

    return render("assets_head.html", assets=items)


def head_html(inline: bool, base: str = "") -> str:
    """The <head> tags that load Leaflet and the map script: links to /static under the app's root
    path `base`, or the files inlined."""
    check_installed()
    if inline:
        return _inline_block(tuple(a.path.stat().st_mtime for a in page_assets()))
    return _head([{"kind": a.kind, "url": versioned_url(a, base), "text": None} for a in page_assets()])
