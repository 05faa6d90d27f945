"""The maps without a browser: what the pages reference, the data they draw against the API's
answers, the layer check's findings, the home page, GCJ-02 basemaps and the CLI export.

The browser tests (tests/test_web_browser.py) drive the same pages in headless Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import shapely
from api_server import make_tokens
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_support import CHECKPOINT_DATE, INVALID_ID, KNOWN_DATE, MISSING_ID, build_web_twin

from api.main import create_app
from api.settings import ApiSettings
from completion.status import SEVERITY
from twin import Twin
from web import assets, i18n
from web.data import display_geometries
from web.maps import MapContext, completion_map
from web.settings import MapSettings

VENUE_LAYERS = ("venue_boundary", "halls", "south_plaza", "roads", "landscaping")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("web")
    path = build_web_twin(d / "venue.gpkg")
    make_tokens(path)
    return path


@pytest.fixture(scope="module")
def api(store: Path) -> Iterator[TestClient]:
    app = create_app(ApiSettings(store=store))
    with TestClient(app) as c:
        yield c


def _json(api: TestClient, url: str, **params: Any) -> Any:
    r = api.get(url, params=params)
    assert r.status_code == 200, (url, r.status_code, r.text[:400])
    return r.json()


PAGES = [
    f"/maps/completion?date={KNOWN_DATE}&lang=zh",
    f"/maps/completion?date={KNOWN_DATE}&lang=en",
    "/maps/timeline?lang=zh",
    "/maps/changes?from=2026-09-01&to=HEAD&lang=en",
    "/maps/layers/landscaping?lang=zh",
    "/maps/layers/projects?lang=en",
    "/maps?lang=en",
]


# ---------------------------------------------------------------------------- offline: what a page references
@pytest.mark.parametrize("url", PAGES)
def test_pages_reference_only_the_app(api: TestClient, url: str) -> None:
    r = api.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    refs = re.findall(r'<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)="([^"]*)"', html)
    for ref in refs:
        assert ref.startswith(("/", "data:", "?", "#")) and not ref.startswith("//"), ref
    for cdn in ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "unpkg", "fontawesome", "googleapis"):
        assert cdn not in html, cdn
    for ref in refs:
        if ref.startswith("/static/"):
            assert api.get(ref).status_code == 200, ref


def test_assets_come_from_the_npm_package(api: TestClient) -> None:
    lock = orjson.loads((assets.WEB_DIR / "package-lock.json").read_bytes())
    version = lock["packages"]["node_modules/leaflet"]["version"]
    body = api.get("/static/vendor/leaflet/leaflet.js").text
    assert f'version="{version}"' in body.replace(" ", "") or version in body[:400]
    css = api.get("/static/vendor/leaflet/leaflet.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert api.get("/static/vendor/leaflet/images/layers.png").status_code == 200


def test_export_is_one_self_contained_file(store: Path) -> None:
    with Twin.open(store) as twin:
        html = completion_map(MapContext(twin=twin, lang="en", export=True, settings=MapSettings()), KNOWN_DATE)
    assert "<script src=" not in html and 'rel="stylesheet"' not in html
    assert "url(images/" not in html and "data:image/png;base64," in html  # Leaflet's CSS images inlined
    assert "/maps/data/features" not in html  # the data is embedded, not fetched
    assert "L.map(" in html and "VT.Engine" in html
    assert re.search(r"\bhttps?://(?!www\.w3\.org|leafletjs\.com|bugs\.|bugzilla\.)", html) is None


def test_missing_assets_are_reported(api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets, "LEAFLET_DIST", tmp_path / "nowhere")
    r = api.get("/maps/completion")
    assert r.status_code == 503 and "make install" in r.text


# ---------------------------------------------------------------------------- the data a map draws = the API's
@pytest.mark.parametrize("layer", VENUE_LAYERS)
def test_completion_features_are_the_items_api_features(api: TestClient, layer: str) -> None:
    doc = _json(api, f"/maps/data/features/{layer}", mode="completion", date=KNOWN_DATE)
    items = _json(api, f"/collections/{layer}/items", asof=KNOWN_DATE, limit=10000)
    assert doc["numberMatched"] == items["numberMatched"] == len(doc["features"])
    assert {f["id"] for f in doc["features"]} == {f["id"] for f in items["features"]}
    bbox = "121.2940,31.1880,121.2990,31.1920"
    part = _json(api, f"/maps/data/features/{layer}", mode="completion", date=KNOWN_DATE, bbox=bbox, zoom=17)
    part_items = _json(api, f"/collections/{layer}/items", asof=KNOWN_DATE, bbox=bbox, limit=10000)
    assert part["numberMatched"] == part_items["numberMatched"]
    assert {f["id"] for f in part["features"]} == {f["id"] for f in part_items["features"]}


def test_features_are_coloured_by_their_projects_status(api: TestClient) -> None:
    projects = _json(api, "/projects", date=KNOWN_DATE)["projects"]
    worst: dict[str, str] = {}
    for p in projects:
        for key in p["features"]:
            if key not in worst or SEVERITY.index(p["status"]) < SEVERITY.index(worst[key]):
                worst[key] = p["status"]
    codes = [p["code"] for p in projects]
    seen = set()
    for layer in ("halls", "south_plaza", "roads", "landscaping"):
        for f in _json(api, f"/maps/data/features/{layer}", mode="completion", date=KNOWN_DATE)["features"]:
            key = f"{layer}/{f['id']}"
            assert f["c"] == worst.get(key, "none"), key
            if key in worst:
                seen.add(key)
                assert {codes[j] for j in f["j"]} == {p["code"] for p in projects if key in p["features"]}
    assert seen == {k for k in worst if k.split("/")[0] != "venue_boundary"}
    assert {f["c"] for layer in ("halls", "roads") for f in
            _json(api, f"/maps/data/features/{layer}", mode="completion", date=KNOWN_DATE)["features"]} > {"none"}  # fmt: skip


def _attr(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


@pytest.mark.parametrize("date", [KNOWN_DATE, CHECKPOINT_DATE])
def test_panel_figures_are_the_completion_api_figures(api: TestClient, date: str) -> None:
    comp = _json(api, "/completion", date=date, by="area")
    html = _json(api, "/maps/data/panel", date=date, lang="en")["html"]
    days = re.search(r'data-kpi="days" data-value="(-?\d+)"', html)
    assert days and int(days.group(1)) == comp["days_to_opening"]
    overall = re.search(r'data-kpi="overall" data-value="([\d.]+)" data-planned="([\d.]+)"', html)
    assert overall
    assert float(overall.group(1)) == pytest.approx(comp["overall"]["actual_percent"], abs=0.006)
    assert float(overall.group(2)) == pytest.approx(comp["overall"]["planned_percent"], abs=0.006)
    for status, n in comp["overall"]["counts"].items():
        shown = re.search(rf'data-status="{status}">.*?<span class="vt-count">(\d+)</span>', html)
        assert shown and int(shown.group(1)) == n, status
    for g in comp["groups"]:
        row = re.search(rf'data-area="{g["key"]}" data-actual="([\d.]+)" data-planned="([\d.]+)"', html)
        assert row and float(row.group(1)) == pytest.approx(g["actual_percent"], abs=0.006)
        assert float(row.group(2)) == pytest.approx(g["planned_percent"], abs=0.006)
    assert _attr(html, r'<li class="vt-\w+" data-project="([^"]+)"') == [p["code"] for p in comp["late"]]
    assert comp["late"], "the known dates have late projects"
    for p in comp["late"]:
        assert p["responsible_unit"] in html.replace("&amp;", "&")


def test_changes_are_the_diff_api_changes(api: TestClient) -> None:
    frm, to = "2026-09-01", "HEAD"
    diff = _json(api, "/diff", **{"from": frm, "to": to})
    spatial = {k: v for k, v in diff["twin:counts"].items() if k in VENUE_LAYERS}
    a = _json(api, "/versions", limit=1)["versions"][0]["id"]
    doc = _json(api, "/maps/data/changes", **{"from": diff["twin:from"], "to": a})
    own = [f for f in doc["features"] if not f.get("x")]
    assert doc["numberMatched"] == len(own) == sum(sum(c.values()) for c in spatial.values())
    for kind in ("added", "modified", "deleted"):
        assert sum(1 for f in own if f["c"] == kind) == sum(c[kind] for c in spatial.values())
    moved = [f for f in own if f.get("gc")]
    assert len([f for f in doc["features"] if f["c"] == "modified_old"]) == len(moved)


# ---------------------------------------------------------------------------- the layer check
def test_layer_check_marks_invalid_and_missing_features(api: TestClient) -> None:
    for lang in ("zh", "en"):
        doc = _json(api, "/maps/data/features/landscaping", mode="check", lang=lang)
        by_id = {f["id"]: f for f in doc["features"]}
        bad, lonely = by_id[INVALID_ID], by_id[MISSING_ID]
        assert bad["c"] == "invalid" and lonely["c"] == "missing"
        assert {"pots", "area_m2"} <= set(lonely["m"])
        assert all(f["c"] == "ok" for k, f in by_id.items() if k not in (INVALID_ID, MISSING_ID))
        assert bad["p"]["kind"] == "hedge" and "responsible_unit" in bad["p"]  # every attribute, for the popup
        reasons = " ".join(bad["r"])
        if lang == "en":
            assert "hedge" in reasons and "area of interest" in reasons
        else:
            assert "不在允许值之内" in reasons and "场馆范围之外" in reasons
    page = api.get("/maps/layers/landscaping", params={"lang": "en"}).text
    assert re.search(r'data-check="invalid">.*?<span class="vt-count">1</span>', page)
    assert re.search(r'data-check="missing">.*?<span class="vt-count">1</span>', page)
    assert f'data-feature="{INVALID_ID}" data-check="invalid"' in page
    older = api.get("/maps/layers/landscaping", params={"version": "HEAD~1", "lang": "en"}).text
    assert INVALID_ID not in older and 'data-check="invalid">' in older


def test_layer_check_of_a_table_of_records(api: TestClient) -> None:
    r = api.get("/maps/layers/projects", params={"lang": "zh"})
    assert r.status_code == 200 and "硬件项目" in r.text


# ---------------------------------------------------------------------------- home page and languages
def test_home_page_for_browsers_json_for_api_clients(api: TestClient) -> None:
    html = api.get("/", headers={"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-GB,en"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for link in ("/maps/completion", "/maps/timeline", "/maps/changes", "/maps/layers/halls", "/collections"):
        assert f'href="{link}' in html.text, link
    assert "Completion map" in html.text
    zh = api.get("/", headers={"Accept": "text/html"}).text  # no Accept-Language: Chinese
    assert "工程完成情况图" in zh
    doc = api.get("/")
    assert doc.headers["content-type"].startswith("application/json") and doc.json()["links"]
    assert api.get("/", params={"f": "json"}).json() == doc.json()
    assert "工程完成情况图" in api.get("/maps", params={"lang": "zh"}).text
    assert api.get("/maps", params={"lang": "fr"}).status_code == 400
    # the language link of the home page itself (/?lang=…) works on "/" as on /maps
    browser = {"Accept": "text/html"}
    assert "工程完成情况图" in api.get("/", params={"lang": "zh"}, headers=browser).text
    assert "Completion map" in api.get("/", params={"lang": "en"}, headers=browser).text
    assert api.get("/", params={"lang": "fr"}, headers=browser).status_code == 400


def test_every_label_speaks_both_languages() -> None:
    for key, text in i18n.labels("zh").items():
        assert text.strip() and i18n.labels("en")[key].strip(), key
    assert i18n.norm_lang(None, "en-US,en;q=0.9") == "en"
    assert i18n.norm_lang(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.norm_lang(None, None) == "zh"


@pytest.mark.parametrize(
    "lang,expected,absent", [("zh", "距开幕还有", "Days to opening day"), ("en", "Days to opening day", "距开幕还有")]
)
def test_page_language(api: TestClient, lang: str, expected: str, absent: str) -> None:
    html = api.get("/maps/completion", params={"date": KNOWN_DATE, "lang": lang}).text
    assert expected in html and absent not in html
    assert f'data-lang-switch="{"en" if lang == "zh" else "zh"}"' in html


# ---------------------------------------------------------------------------- basemap and GCJ-02
def test_default_page_has_no_basemap(api: TestClient) -> None:
    html = api.get("/maps/completion", params={"date": KNOWN_DATE}).text
    assert "L.tileLayer" not in html


def test_gcj02_basemap_shifts_the_layers(store: Path) -> None:
    settings = MapSettings(basemap_url="http://tiles.lan/{z}/{x}/{y}.png", basemap_datum="gcj02")
    with Twin.open(store) as twin:
        from web.maps import features_doc

        plain = features_doc(
            MapContext(twin=twin), "halls", mode="plain", date_=None, version=None, bbox=None, zoom=None
        )
        ctx = MapContext(twin=twin, settings=settings)
        shifted = features_doc(ctx, "halls", mode="plain", date_=None, version=None, bbox=None, zoom=None)
        html = completion_map(ctx, KNOWN_DATE)
    assert "http://tiles.lan/{z}/{x}/{y}.png" in html and "L.tileLayer" in html
    a = shapely.from_geojson(orjson.dumps(plain["features"][0]["g"])).centroid
    b = shapely.from_geojson(orjson.dumps(shifted["features"][0]["g"])).centroid
    dx_m, dy_m = (b.x - a.x) * 95_300, (b.y - a.y) * 111_000  # metres per degree at 31° N
    assert 380 < (dx_m**2 + dy_m**2) ** 0.5 < 580 and dx_m > 0 and dy_m < 0  # east and south, about 480 m
    # a bbox sent in GCJ-02 selects the same features as the WGS84 bbox it covers
    with Twin.open(store) as twin:
        from web.maps import features_doc

        box = shapely.box(121.2940, 31.1880, 121.2990, 31.1920)
        from layers.crs import wgs84_to_gcj02_geometries

        gbox = wgs84_to_gcj02_geometries([box])[0].bounds
        in_gcj = features_doc(MapContext(twin=twin, settings=settings), "halls", mode="plain", date_=None,
                              version=None, bbox=gbox, zoom=None)  # fmt: skip
        in_wgs = features_doc(MapContext(twin=twin), "halls", mode="plain", date_=None, version=None,
                              bbox=box.bounds, zoom=None)  # fmt: skip
    assert {f["id"] for f in in_wgs["features"]} <= {f["id"] for f in in_gcj["features"]}


def test_simplification_never_drops_a_feature() -> None:
    ring = [
        (121.29 + 0.001 * __import__("math").cos(t / 50), 31.19 + 0.001 * __import__("math").sin(t / 50))
        for t in range(315)
    ]
    tiny = shapely.Polygon([(121.3, 31.19), (121.30001, 31.19), (121.30001, 31.19001), (121.3, 31.19001)])
    geoms = [orjson.loads(shapely.to_geojson(g)) for g in (shapely.Polygon(ring), tiny)]
    out = display_geometries(geoms, zoom=12)
    assert len(out) == 2 and all(g is not None for g in out)
    simple = shapely.from_geojson(orjson.dumps(out[0]))
    assert not simple.is_empty and shapely.get_num_coordinates(simple) < len(ring)


# ---------------------------------------------------------------------------- the command line
@pytest.mark.parametrize(
    "args",
    [
        ["completion", "--date", KNOWN_DATE, "--lang", "en"],
        ["timeline"],
        ["changes", "--from", "2026-09-01"],
        ["layer", "landscaping", "--lang", "en"],
    ],
)
def test_cli_writes_a_self_contained_map(store: Path, tmp_path: Path, args: list[str]) -> None:
    from cli.main import app

    out = tmp_path / "map.html"
    result = CliRunner().invoke(app, ["map", *args, "-o", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script src=" not in html and "/maps/data/features" not in html


def test_cli_refuses_a_bad_language(store: Path, tmp_path: Path) -> None:
    from cli.main import app

    result = CliRunner().invoke(
        app, ["map", "completion", "--lang", "fr", "-o", str(tmp_path / "x.html"), "-s", str(store)]
    )
    assert result.exit_code == 2


def test_changes_between_checkpoints(api: TestClient) -> None:
    """from/to take checkpoints (T-30) as /completion reads them, and dates, as /diff does."""
    from completion.settings import CompletionSettings
    from completion.snapshot import parse_day

    t30, t10 = (parse_day(t, CompletionSettings()) for t in ("T-30", "T-10"))
    assert t30 is not None and t10 is not None
    diff = _json(api, "/diff", **{"from": t30.isoformat(), "to": t10.isoformat()})
    doc = _json(api, "/maps/data/changes", **{"from": "T-30", "to": "T-10"})
    spatial = sum(sum(c.values()) for k, c in diff["twin:counts"].items() if k in VENUE_LAYERS)
    assert doc["numberMatched"] == spatial
    page = api.get("/maps/changes", params={"from": "2026-10-06", "to": "2026-10-26", "lang": "en"})
    assert page.status_code == 200
    assert '<option value="2026-10-06" selected>T-30 · 2026-10-06' in page.text
    assert '<option value="2026-10-26" selected>T-10 · 2026-10-26' in page.text
