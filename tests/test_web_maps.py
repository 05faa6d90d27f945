"""The maps without a browser: what the pages reference, the data they draw against the API's
answers, the layer check's findings, the home page, GCJ-02 basemaps and the CLI export.

The browser tests (tests/test_web_browser.py) drive the same pages in headless Chromium.
"""

from __future__ import annotations

import html as html_lib
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import shapely
from api_server import make_tokens
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner
from web_support import CHECKPOINT_DATE, INVALID_ID, KNOWN_DATE, MISSING_ID, build_web_twin, plain_dates

from api.main import create_app
from api.settings import ApiSettings
from completion.status import SEVERITY
from twin import Twin
from web import assets, i18n
from web.data import display_geometries
from web.maps import MapContext, completion_map, layer_map
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


# The other pages a reader opens in a browser: the OGC pages, a project's page, the units table and
# a page answering a mistake.
HTML_PAGES = [
    "/collections?f=html&lang=en",
    "/collections/halls?f=html&lang=zh",
    "/collections/halls/items?f=html&lang=en",
    "/collections/halls/items/hall-1.1H?f=html&lang=en",
    "/collections/halls/queryables?f=html&lang=en",
    "/conformance?f=html&lang=en",
    f"/projects/RD-03?f=html&date={CHECKPOINT_DATE}&lang=zh",
    f"/completion/units?f=html&date={CHECKPOINT_DATE}&lang=en",
    "/projects/NO-SUCH?f=html&lang=en",
]


@pytest.mark.parametrize("url", PAGES + HTML_PAGES)
def test_pages_have_one_heading_and_let_a_phone_zoom(api: TestClient, url: str) -> None:
    """A screen reader finds the page by its one h1 (a map page's title in its panel was a div, so
    the map pages had none); a phone may enlarge the page with two fingers (folium's viewport said
    user-scalable=no, maximum-scale=1.0, so a leader could not enlarge the panel's small text).

    And by its one main landmark (only the home page had one), and its headings step down one level
    at a time: a map page's side panel went from its h1 straight to h3."""
    html = api.get(url).text
    assert len(re.findall(r"<h1\b", html)) == 1, re.findall(r"<h1\b[^>]*>[^<]*", html)
    assert len(re.findall(r"<main\b", html)) == 1, re.findall(r"<main\b[^>]*>", html)
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", html)]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    viewports = re.findall(r'<meta name="viewport"[^>]*>', html)
    assert len(viewports) == 1, viewports
    assert "user-scalable=no" not in viewports[0] and "maximum-scale" not in viewports[0], viewports


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


def test_export_says_when_it_was_made_in_shanghai_time(store: Path) -> None:
    """The exported file's foot gives the time it was made as every other time on the pages: Shanghai's
    (at 01:20 on 5 December in Shanghai, not "2026-12-04 17:20 UTC")."""
    from datetime import datetime

    from twin.core import SHANGHAI

    for lang in ("zh", "en"):
        before = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        with Twin.open(store) as twin:
            html = completion_map(MapContext(twin=twin, lang=lang, export=True, settings=MapSettings()), KNOWN_DATE)
        after = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        foot = re.search(r'<footer class="vt-foot">(.*?)</footer>', html, re.S)
        assert foot and not re.search(r"UTC(?!\+8)", foot.group(1)), foot  # Shanghai time, said as UTC+8
        assert any(i18n.label(lang, "exported", time=t) in foot.group(1) for t in (before, after)), foot.group(1)
        with Twin.open(store) as twin:  # the register's page (no map) says it alike
            page = layer_map(MapContext(twin=twin, lang=lang, export=True, settings=MapSettings()), "projects")
        made = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        assert not re.search(r"UTC(?!\+8)", page) and any(
            i18n.label(lang, "exported", time=t) in page for t in (before, made)
        )


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


def _late_section(html: str) -> str:
    """The panel's late list (the at-risk projects are listed after it, as the late ones are)."""
    found = re.search(r'<section class="vt-section" data-section="late">.*?</section>', html, re.S)
    assert found is not None, html[:2000]
    return found.group(0)


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
    assert _attr(_late_section(html), r'<li class="vt-\w+" data-project="([^"]+)"') == [p["code"] for p in comp["late"]]
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


BEFORE_HISTORY = "2020-01-01"  # the bundled twin's history starts in June 2026


@pytest.mark.parametrize("route", ["features", "classes"])
@pytest.mark.parametrize("mode", ["plain", "check"])
def test_map_data_at_a_version_before_the_history_is_the_pages_404(api: TestClient, route: str, mode: str) -> None:
    """The data a map loads at a version before the twin's history answered 200 with an empty layer
    ("nothing there") where the layer check's page at that version answers 404 saying when the
    history starts (twin.core.no_data_reason): the data says it in the page's words."""
    r = api.get(f"/maps/data/{route}/landscaping", params={"mode": mode, "version": BEFORE_HISTORY, "lang": "en"})
    assert r.status_code == 404, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert f"version: the twin has no data on {BEFORE_HISTORY}: its history starts on 2026-06-" in detail, detail
    page = api.get("/maps/layers/landscaping", params={"version": BEFORE_HISTORY, "lang": "en"})
    assert page.status_code == 404 and page.json()["detail"] == detail
    # a version with data still draws
    ok = api.get(f"/maps/data/{route}/landscaping", params={"mode": mode, "version": KNOWN_DATE, "lang": "en"})
    assert ok.status_code == 200, ok.text[:300]


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


# ---------------------------------------------------------------------------- the date a map lands on
AFTER_OPENING = "2026-12-03"  # a clock four weeks after opening day; the bundled reports stop at T-10


def _day(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def test_a_map_lands_on_the_last_checkpoint_with_reports_before_opening_day_and_on_today_after_it(
    store: Path,
) -> None:
    from completion.landing import landing_date
    from web.data import landed_view
    from web.panels import completion_panel

    early_day = "2026-10-29"  # after T-10, before its next round of reports
    with Twin.open(store) as twin:
        # after opening day: today, the standing that counts (what missed opening day), no note
        landing = landing_date(twin, _day(AFTER_OPENING))
        assert (landing.on.isoformat(), landing.moved, landing.reason) == (AFTER_OPENING, False, None)
        # before opening day, with no report since the last checkpoint: that checkpoint, saying why
        early = landing_date(twin, _day(early_day))
        assert (early.on.isoformat(), early.checkpoint, early.reason) == (
            CHECKPOINT_DATE, "T-10", "no_reports_since_checkpoint",
        )  # fmt: skip
        # on a checkpoint day with its reports in, and before the first report: today, as asked
        assert not landing_date(twin, _day(CHECKPOINT_DATE)).moved
        assert not landing_date(twin, _day("2026-07-01")).moved
        view = landed_view(twin, _day(early_day))
        assert view is not None and view.on.isoformat() == CHECKPOINT_DATE
        html = plain_dates(completion_panel(twin, view, "en"))
        zh = plain_dates(completion_panel(twin, view, "zh"))
        after = landed_view(twin, _day(AFTER_OPENING))
        assert after is not None and after.on.isoformat() == AFTER_OPENING and after.landing is not None
        assert 'data-landed="' not in completion_panel(twin, after, "en")
    assert "Showing T-10 (2026-10-26), the latest checkpoint with reports" in html
    assert f"today is {early_day}" in html and "No report has come in since" in html
    assert f'data-landed="{CHECKPOINT_DATE}" data-landed-checkpoint="T-10" data-today="{early_day}"' in html
    assert "显示T-10（2026-10-26）：有填报数据的最近节点" in zh
    # the note is two sentences, not one run together ("...with reports No report has come in")
    assert "the latest checkpoint with reports.</b>" in html and "有填报数据的最近节点。</b>" in zh
    # the figures are T-10's: 10 days to go, and behind only by fresh reports (none stale)
    assert 'data-kpi="days" data-value="10"' in html
    assert 'data-kpi="reports_missing" data-value="0"' in html and 'data-stale="true"' not in html
    # every figure with its age: overall, each area, each late (and at-risk) project
    assert re.search(r'data-kpi="overall"[^>]*data-age="0"', html) and "Newest report 2026-10-26, 0 d old" in html
    assert len(re.findall(r'<tr data-area="[^"]+"[^>]*data-age="\d+"', html)) == 4
    assert html.count("last report 2026-10-26 (0 d old)") == len(
        re.findall(r"<li class=\"vt-\w+\" data-project=", html)
    )


def test_the_default_page_is_the_landing_date(api: TestClient, store: Path) -> None:
    """Without a date the page opens where landing_date puts today (whatever the machine's clock)."""
    from completion.landing import landing_date

    with Twin.open(store) as twin:
        landing = landing_date(twin)
    html = api.get("/maps/completion", params={"lang": "en"}).text
    assert f'"date":"{landing.on.isoformat()}"' in html.replace(" ", "")
    assert ('data-landed="' in html) == landing.moved
    explicit = api.get("/maps/completion", params={"lang": "en", "date": landing.on.isoformat()}).text
    assert 'data-landed="' not in explicit  # a date asked for is shown as asked, without the note


def test_stale_figures_and_passed_forecasts_are_marked_apart_from_late(api: TestClient) -> None:
    # The day after opening day every unfinished project owes its T-0 report: all stale.
    comp = _json(api, "/completion", date="2026-11-06")
    stale = [p["code"] for p in comp["late"] if p["stale"]]
    assert stale and len(stale) == len(comp["late"])
    html = plain_dates(_json(api, "/maps/data/panel", date="2026-11-06", lang="en")["html"])
    for code in stale:
        item = re.search(rf'<li class="vt-behind" data-project="{code}"[^>]*data-stale="true">(.*?)</li>', html, re.S)
        assert item and '<span class="vt-badge vt-badge-stale">stale</span>' in item.group(1), code
        assert "stale: last reported 2026-10-26" in item.group(1)
    # after opening day a stale project not reported done is late all the same: the note says its
    # report is old, not that it may not be late (test_panel_after_opening)
    assert f'data-stale-late="{len(stale)}"' in html
    assert i18n.label("en", "stale_in_late_after_opening", n=len(stale)) in html
    assert "not necessarily late" not in html
    assert f'data-stale-behind="{comp["overall"]["counts"]["behind"]}"' in html
    # The forecasts of the T-10 reports have all passed by December: never shown as a finish to
    # come or "after opening day"; and after opening day a project not reported done has missed it,
    # which the list says in words, not as a date gone by ("2026-11-02 (passed)" read as done in time
    # beside the briefing's "missed"). Before opening day a forecast gone by is said passed, beside
    # the forecast carried forward from it.
    later = _json(api, "/completion", date=AFTER_OPENING)
    gone = [p for p in later["late"] if p["forecast_passed"]]
    assert gone and all(p["missed_opening"] for p in gone)
    assert all(p["forecast_finish"] >= AFTER_OPENING for p in gone), gone  # carried forward to the date
    panel = _json(api, "/maps/data/panel", date=AFTER_OPENING, lang="en")
    for p in gone:
        item = re.search(rf'data-project="{p["code"]}".*?</li>', panel["html"], re.S)
        assert item and 'data-forecast-passed="true"' in item.group(0)
        meta = re.search(r'<div class="vt-late-meta" data-forecast-passed="true" data-missed>(.*?)</div>', item[0])
        assert meta and meta[1] == i18n.label("en", "not_done_by_opening"), item.group(0)
        assert p["forecast_finish"] not in item.group(0) and "(passed" not in item.group(0)
        assert "after opening day" not in item.group(0) and "chance of missing" not in item.group(0)
        popup = next(x for x in panel["projects"] if x["code"] == p["code"])
        assert popup["forecast"] == i18n.label("en", "not_done_by_opening") and not popup["after_opening"]
        assert popup["p_late"] is None and popup["stale"] is True
    zh = _json(api, "/maps/data/panel", date=AFTER_OPENING, lang="zh")["html"]
    assert zh.count(f"data-missed>{i18n.label('zh', 'not_done_by_opening')}</div>") >= len(gone)
    assert "已过" not in zh.split('data-section="late"', 1)[-1].split("</ul>", 1)[0]
    before = "2026-11-04"  # no report since T-10 either, not yet opening day
    soon = [p for p in _json(api, "/completion", date=before)["late"] if p["forecast_passed"]]
    assert soon and not any(p["missed_opening"] for p in soon)
    was = {p["code"]: p["forecast"]["passed_finish"] for p in _json(api, "/projects", date=before)["projects"]}
    for lang, words in (
        ("en", "{0} (forecast {1} passed, not reported done)"),
        ("zh", "{0}（原预测 {1} 已过，未报完成）"),
    ):
        html = _json(api, "/maps/data/panel", date=before, lang=lang)["html"]
        for p in soon:
            assert was[p["code"]] < before <= p["forecast_finish"], (p, was[p["code"]])
            item = re.search(rf'data-project="{p["code"]}".*?</li>', html, re.S)
            assert item and words.format(p["forecast_finish"], was[p["code"]]) in plain_dates(item.group(0)), item
            assert "data-missed" not in item.group(0)


@pytest.mark.parametrize("day", ["2026-11-06", AFTER_OPENING])
def test_after_opening_day_the_completion_map_says_a_project_not_done_missed_it(api: TestClient, day: str) -> None:
    """After opening day a project not reported done has missed it, and the completion map says so
    as the briefing and the project page do: its popups (the map page's project table and the
    timeline's panel data) said "2026-10-29 (passed, not reported done)" / "（已过，未报完成）", and
    the popup and the late list gave a project whose finish is still ahead a "100 % chance of
    missing opening day". A finish gone by reads "not reported done by opening day"; one still
    ahead stays a forecast, with no chance beside it, the late list saying it missed opening day
    under it and the popup in its basis ("Not reported done by opening day 2026-11-05: missed it.")."""
    comp = {p["code"]: p for p in _json(api, "/projects", date=day)["projects"]}
    missed = {c for c, p in comp.items() if p["status"] != "done"}
    assert missed and all(comp[c]["missed_opening"] for c in missed)
    # a finish gone by: the forecast from its latest report passed (carried forward to the date)
    gone = {c for c in missed if comp[c]["forecast_passed"]}
    ahead = {c for c in missed - gone if comp[c]["forecast_finish"]}
    assert all(comp[c]["forecast"]["passed_finish"] < day <= comp[c]["forecast_finish"] for c in gone), comp
    assert gone and (ahead or day == AFTER_OPENING)  # on 11-06 HL-07's and RD-03's finishes are ahead
    for lang in ("en", "zh"):
        not_done = i18n.label(lang, "not_done_by_opening")
        passed_words = {"en": "passed, not reported done", "zh": "已过，未报完成"}[lang]
        assert passed_words in i18n.label(lang, "forecast_passed", date="", was="")
        chance_words = {"en": "chance of missing opening day", "zh": "赶不上开幕日的概率"}[lang]
        basis_missed = i18n.label(lang, "basis_missed", date="2026-11-05")
        panel = _json(api, "/maps/data/panel", date=day, lang=lang)
        page = _engine_config(api.get("/maps/completion", params={"date": day, "lang": lang}).text)["projects"]
        for rows in (panel["projects"], page):
            for row in (r for r in rows if r["code"] in missed):
                finish = comp[row["code"]]["forecast_finish"]
                assert row["forecast"] == (finish if row["code"] in ahead else not_done), (lang, row)
                assert passed_words not in (row["forecast"] or "")
                assert row["missed"] and row["p_late"] is None, row  # no chance line in the popup
                assert row["basis"].startswith(basis_missed), row
        late = panel["html"].split('data-section="late"', 1)[1].split("</section>", 1)[0]
        for code in missed & set(re.findall(r'<li class="vt-\w+" data-project="([^"]+)"', late)):
            item = re.search(rf'data-project="{code}".*?</li>', late, re.S)
            assert item, code
            text = plain_dates(item.group(0))
            assert passed_words not in text and chance_words not in text, (lang, code, text)
            if code in ahead:
                assert f'<div class="vt-late-meta" data-missed-note>{not_done}</div>' in text, text
            else:
                assert f"data-missed>{not_done}</div>" in text, text


def test_the_timeline_opens_at_the_current_checkpoint(api: TestClient, store: Path) -> None:
    from web.data import timeline_start
    from web.maps import timeline_steps

    with Twin.open(store) as twin:
        steps = timeline_steps(twin)
        days = [d for d, _ in steps]
        assert steps[0][1].startswith("T-110")  # before any project starts: nothing to see there
        # after opening day the maps open on today: the timeline on T-0, opening day's own standing
        assert days[timeline_start(twin, days, _day(AFTER_OPENING))].isoformat() == "2026-11-05"
        assert days[timeline_start(twin, days, _day("2026-10-29"))].isoformat() == CHECKPOINT_DATE
        # before the season: the first checkpoint with a project started
        first = timeline_start(twin, days, _day("2026-07-01"))
        assert steps[first][1].startswith("T-100")
        now = timeline_start(twin, days)  # today, by the machine's clock
    html = api.get("/maps/timeline", params={"lang": "en"}).text
    assert f'"index":{now}' in html.replace(" ", "") and f'value="{now}"' in html
    assert f'<div id="vt-step-label">{steps[now][1]}</div>' in html


def _timeline_config(html: str) -> dict[str, Any]:
    at = html.index("{", html.index("new VT.Timeline(vt_engine,"))
    config, _ = __import__("json").JSONDecoder().raw_decode(html[at:])
    return config  # type: ignore[no-any-return]


def test_a_season_recorded_today_opens_its_timeline_on_today(season_recorded_now: Path) -> None:
    """A season imported without its original dates is recorded today: every checkpoint of its
    timeline (T-110 to T-0) comes before the twin's history. The timeline opened on its last step,
    T-0, and said "No data yet on 2026-11-05" over an empty map, with an English sentence on the
    Chinese page, while every report was there on today. It now has a step of today (the date the
    maps open on, completion.landing) and opens on it with its figures; a step before the history
    says in the page's language that the history starts today."""
    from completion.landing import landing_date

    with Twin.open(season_recorded_now) as twin:
        today = landing_date(twin).today
        assert landing_date(twin).on == today and (first := twin.first_commit()) is not None
        since = first.time.astimezone(__import__("twin.core").core.SHANGHAI).date()
    assert since == today
    with TestClient(create_app(ApiSettings(store=season_recorded_now))) as c:
        for lang in ("en", "zh"):
            html = c.get("/maps/timeline", params={"lang": lang}).text
            cfg = _timeline_config(html)
            steps, index = cfg["steps"], cfg["index"]
            step = steps[index]
            assert (step["date"], step["noData"]) == (today.isoformat(), None), step  # it opened on T-0, no data
            today_label = i18n.label(lang, "timeline_today", date=today.isoformat())
            assert step["label"] == today_label
            assert f'value="{index}"' in html and f'max="{len(steps) - 1}"' in html
            assert f'<div id="vt-step-label">{today_label}</div>' in html
            assert _engine_config(html)["date"] == today.isoformat()
            body = html.split('id="vt-panel-body"', 1)[1]
            assert 'data-kpi="overall"' in body and "data-no-data" not in body.split("</section>", 1)[0]
            assert 'data-project="' in body  # the season's projects, late or on the units' list
            # the checkpoints, all before the history, say when it starts, in the page's language
            before = [s for s in steps if s["date"] != today.isoformat()]
            assert [s["label"].split(" · ")[0] for s in before][-1] == "T-0" and len(before) == len(steps) - 1
            for s in before:
                heading = i18n.label(lang, "history_starts", since=today.isoformat())
                note = i18n.label(lang, "history_starts_note", date=s["date"])
                shown = html_lib.unescape(plain_dates(s["noData"] or ""))
                assert f"<h2>{heading}</h2>" in shown and f"<p>{note}</p>" in shown, shown
                assert f'data-since="{today.isoformat()}"' in shown
                assert "the twin has no data" not in shown and "No data yet" not in shown


def test_units_section_lists_late_then_overdue_units_as_the_api(api: TestClient, store: Path) -> None:
    from datetime import date

    from web.data import completion_view

    for day in (KNOWN_DATE, "2026-11-06"):
        units = _json(api, "/completion/units", date=day)["units"]
        html = _json(api, "/maps/data/panel", date=day, lang="en")["html"]
        rows = re.findall(r'<li class="vt-unit[^"]*" data-unit="([^"]+)" data-late="(\d+)" data-overdue="(\d+)"', html)
        assert [(k.replace("&amp;", "&"), int(a), int(b)) for k, a, b in rows] == [
            (u["key"], u["late"], u["reports_overdue"]) for u in units
        ]
        assert rows[0][1] != "0"  # a unit with late projects leads
        # each row zooms to its unit's projects: the features of them all
        with Twin.open(store) as twin:
            view = completion_view(twin, date.fromisoformat(day))
            assert view is not None
            for u in units:
                keys = sorted(
                    {f.replace("/", ":", 1) for s in view.snapshot.statuses if s.project.responsible_unit == u["key"]
                     for f in s.project.features}
                )  # fmt: skip
                row = re.search(rf'data-unit="{re.escape(u["key"])}"[^>]*data-zoom="([^"]*)" data-keys="([^"]*)"', html)
                assert row and row.group(2).split("|") == keys and len(row.group(1).split(",")) == 4
    # the day after opening day the units of unfinished projects owe reports: a stale badge says how many
    section = re.search(r'<details class="vt-section vt-units".*?</details>', html, re.S)
    owing = [u for u in units if u["reports_overdue"]]
    assert section and owing
    assert section.group(0).count('<span class="vt-badge vt-badge-stale">') == len(owing)


def test_unit_names_in_the_page_language(api: TestClient) -> None:
    assert i18n.unit_name("en", "青浦区交通委员会 (Qingpu Transport Commission)") == "Qingpu Transport Commission"
    assert i18n.unit_name("zh", "青浦区交通委员会 (Qingpu Transport Commission)") == "青浦区交通委员会"
    assert i18n.unit_name("zh", "国家会展中心（上海）有限责任公司 (NECC Shanghai, venue operator)") == (
        "国家会展中心（上海）有限责任公司"
    )
    for one_name in ("青浦区绿化和市容管理局", "Shanghai Greening Bureau", "Unit (Shanghai)", "A (B (C))"):
        assert i18n.unit_name("en", one_name) == i18n.unit_name("zh", one_name) == one_name
    comp = _json(api, "/completion", date=KNOWN_DATE)
    for lang in ("en", "zh"):
        panel = _json(api, "/maps/data/panel", date=KNOWN_DATE, lang=lang)
        late = _late_section(panel["html"])
        shown = re.findall(r'<div class="vt-late-meta" title="[^"]*">([^<·]+?)(?: · |</div>)', late)
        assert shown == [i18n.unit_name(lang, p["responsible_unit"]) for p in comp["late"]]
        other = "en" if lang == "zh" else "zh"
        assert all(i18n.unit_name(other, p["responsible_unit"]) not in shown for p in comp["late"])
        units = {p["code"]: p["unit"] for p in panel["projects"]}
        assert units[comp["late"][0]["code"]] == i18n.unit_name(lang, comp["late"][0]["responsible_unit"])


def test_a_unit_of_many_features_zooms_to_their_layers(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past UNIT_FEATURE_LIMIT features a unit's row outlines nothing and zooms to its layers' extent,
    so a register of thousands of features per unit keeps the panel small and quick."""
    from web import panels
    from web.data import completion_view

    with Twin.open(store) as twin:
        view = completion_view(twin, KNOWN_DATE)
        assert view is not None
        sizes: dict[str, set[str]] = {}
        for s in view.snapshot.statuses:
            sizes.setdefault(s.project.responsible_unit, set()).update(s.project.features)
        big = max(sizes, key=lambda k: len(sizes[k]))
        monkeypatch.setattr(panels, "UNIT_FEATURE_LIMIT", len(sizes[big]) - 1)
        html = panels.completion_panel(twin, view, "en")
        layers = sorted({k.split("/")[0] for k in sizes[big]})
        extents = [e for e in (twin.extent(layer, view.snapshot.ref) for layer in layers) if e is not None]
    row = re.search(rf'data-unit="{re.escape(big)}"[^>]*data-zoom="([^"]*)" data-keys="([^"]*)"', html)
    assert row and row.group(2) == ""
    expected = [
        min(e[0] for e in extents),
        min(e[1] for e in extents),
        max(e[2] for e in extents),
        max(e[3] for e in extents),
    ]
    assert [float(v) for v in row.group(1).split(",")] == pytest.approx(expected, abs=1e-6)
    others = re.findall(r'data-unit="([^"]+)"[^>]*data-keys="([^"]+)"', html)
    assert len(others) == len(sizes) - 1  # every other unit still outlines its features


def test_person_names_in_the_page_language(api: TestClient) -> None:
    """The register writes a person "马骏 Ma Jun"; the panel's late list and the popups name them in
    the page's language, as the units beside them (and as the printed briefing does)."""
    assert i18n.in_language("zh", "马骏 Ma Jun") == "马骏" and i18n.in_language("en", "马骏 Ma Jun") == "Ma Jun"
    comp = _json(api, "/completion", date=KNOWN_DATE)
    for lang in ("en", "zh"):
        panel = _json(api, "/maps/data/panel", date=KNOWN_DATE, lang=lang)
        late = _late_section(panel["html"])
        shown = re.findall(r'<div class="vt-late-meta" title="[^"]*">[^<]*? · ([^<]+)</div>', late)
        assert shown == [i18n.in_language(lang, p["responsible_person"]) for p in comp["late"]]
        persons = {p["code"]: p["person"] for p in panel["projects"]}
        assert persons[comp["late"][0]["code"]] == i18n.in_language(lang, comp["late"][0]["responsible_person"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_units_page_in_the_page_language(api: TestClient, lang: str) -> None:
    """/completion/units as HTML (for leaders and their staff) is in the page's language, as every
    other page: headings, labels and the units' names, with the same figures as its JSON."""
    doc = _json(api, "/completion/units", date=CHECKPOINT_DATE)
    r = api.get("/completion/units", params={"date": CHECKPOINT_DATE, "f": "html", "lang": lang})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    zh_words, en_words = (
        ("责任单位", "逾期未报", "滞后工程"),
        ("Responsible unit", "Reports overdue", "days to opening"),
    )
    own, other = (zh_words, en_words) if lang == "zh" else (en_words, zh_words)
    assert all(w in html for w in own) and not any(w in html for w in other), html
    # the version's sentence and the overdue note are two sentences ("a2388849b26b.A report ...")
    text = re.sub(r"<[^>]+>", "", html)
    assert not re.search(r"\.[A-Z]", text), text
    cells = re.findall(r'<tr[^>]*data-key="([^"]+)">\s*<td>([^<]+)</td>', html)
    assert [k.replace("&amp;", "&") for k, _ in cells] == [u["key"] for u in doc["units"]]
    assert [name.strip() for _, name in cells] == [i18n.unit_name(lang, u["key"]) for u in doc["units"]]
    # by person: the person and their unit (a person is a person within a unit), each in the page's language
    people = _json(api, "/completion/units", date=CHECKPOINT_DATE, by="person")["units"]
    html = api.get(
        "/completion/units", params={"date": CHECKPOINT_DATE, "by": "person", "lang": lang, "f": "html"}
    ).text
    first = f"{i18n.in_language(lang, people[0]['person'])} <small>({i18n.unit_name(lang, people[0]['unit'])})"
    assert first in html and i18n.label(lang, "person") in html
    # a project code is never broken at its hyphen ("RD-" / "03") in a narrow column
    late = [c for u in people for c in u["late_projects"]]
    assert late and all(f'<span class="code">{c}</span>' in html for c in late)
    assert re.search(r"span\.code\s*\{\s*white-space:\s*nowrap", html)
    # after opening day: no "-30 days to opening day", it says the venue opened
    after = plain_dates(api.get("/completion/units", params={"date": "2026-12-05", "f": "html", "lang": lang}).text)
    assert not re.search(r"-\d+\s*(days|天)", after), after
    assert i18n.label(lang, "opening_passed", date="2026-11-05") in after


def test_home_page_names_the_service_in_its_language(api: TestClient, store: Path) -> None:
    """The API links' heading names the service: the page's own name for it in the page's language,
    unless the operator titled the service (VENUE_TWIN_TITLE), whose title is shown as written."""
    zh = api.get("/maps", params={"lang": "zh"}).text
    heading = re.search(r"<h2>(数据接口[^<]*)</h2>", zh)
    assert heading and not re.search(r"[A-Za-z]{3,}", heading.group(1)), heading
    en = api.get("/maps", params={"lang": "en"}).text
    assert re.search(r"<h2>Data and API[^<]*</h2>", en)
    titled = create_app(ApiSettings(store=store, title="进博会场馆孪生（测试）"))
    with TestClient(titled) as c:
        for lang in ("zh", "en"):
            assert "进博会场馆孪生（测试）</h2>" in c.get("/maps", params={"lang": lang}).text


def test_reports_missing_figure_speaks_to_leaders(api: TestClient) -> None:
    """The "reports missing" figure says what it counts in words; the API path with the list is no
    label for a leader, nor a tooltip (a leader's mouse over the figure showed "/completion/missing")."""
    for lang in ("zh", "en"):
        html = _json(api, "/maps/data/panel", date=KNOWN_DATE, lang=lang)["html"]
        kpi = re.search(r'<div class="vt-kpi" data-kpi="reports_missing".*?</div>\s*</div>', html, re.S)
        assert kpi, html[:2000]
        text = re.sub(r"<[^>]+>", " ", kpi.group(0))
        assert i18n.label(lang, "reports_missing_note") in text
        assert "/completion" not in kpi.group(0), kpi.group(0)


def test_pages_lead_to_the_briefing_to_print(api: TestClient, store: Path) -> None:
    """The staff preparing a leaders' meeting find the printed briefing from the pages: the home page
    offers it (PDF on A3 or A4, and PNG to send), the completion map for the date it shows, in the
    page's language; an exported map, offline, has no server to ask and offers none."""
    home = api.get("/maps", params={"lang": "en"}).text
    links = {
        v: h.replace("&amp;", "&") for h, v in re.findall(r'<a href="([^"]+)" data-brief="(pdf|pdf-a4|png)"', home)
    }
    assert sorted(links) == ["pdf", "pdf-a4", "png"], home
    assert all("/brief?" in h and "lang=en" in h for h in links.values()), links
    assert "paper=a4" in links["pdf-a4"] and "paper" not in links["pdf"], links
    a4 = api.get(links["pdf-a4"])
    assert a4.status_code == 200 and a4.headers["content-type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(a4.content)).pages
    assert len(pages) == 2 and [round(float(v)) for v in pages[0].mediabox[2:]] == [595, 842]  # A4 portrait
    html = api.get("/maps/completion", params={"date": KNOWN_DATE, "lang": "zh"}).text
    brief = re.search(r'<a class="vt-brief" href="([^"]+)"', html)
    assert brief and brief.group(1).replace("&amp;", "&") == f"/brief?date={KNOWN_DATE}&lang=zh", brief
    r = api.get(brief.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    with Twin.open(store) as twin:
        exported = completion_map(MapContext(twin=twin, lang="zh", export=True, settings=MapSettings()), KNOWN_DATE)
    assert 'class="vt-brief"' not in exported


def test_the_home_pages_done_figure_carries_no_late_flag(api: TestClient) -> None:
    """The red flag marks late projects on every page: in front of the "Done" count a leader read
    it as "48 late"."""
    for lang in ("en", "zh"):
        html = api.get("/maps", params={"lang": lang}).text
        done = re.search(r'<div class="kpi" data-kpi="done">(.*?)</div>', html, re.S)
        assert done and "<svg" not in done.group(1) and re.search(r"<b>\d+</b>", done.group(1)), done
        # (on opening day and after it, the projects that missed it in place of the late ones)
        late = re.search(r'<div class="kpi" data-kpi="(?:late|missed)"[^>]*>(.*?)</div>', html, re.S)
        assert late and "<svg" not in late.group(1) and re.search(r"<b>\d+</b>", late.group(1))


def test_the_units_page_opens_on_the_maps_date(api: TestClient, store: Path) -> None:
    """Without a date the accountability page opens where the completion map and the briefing do
    (completion.landing: after opening day the latest checkpoint with reports, said so), so its
    late count is the map's; a date asked for is shown as asked, and the JSON keeps today."""
    from completion.landing import landing_date

    with Twin.open(store) as twin:
        landing = landing_date(twin)
    on = landing.on.isoformat()
    for lang, title in (("en", f"Accountability by responsible unit on {on}"), ("zh", f"分责任单位进度与填报（{on}）")):
        html = plain_dates(api.get("/completion/units", params={"f": "html", "lang": lang}).text)
        assert title in html, html[:800]
        assert ('data-landed="' in html) == landing.moved
        if landing.moved:
            assert i18n.label(lang, "landed", checkpoint=landing.checkpoint, date=on) in html
    behind = _json(api, "/completion", date=on)["overall"]["counts"].get("behind", 0)
    units = api.get("/completion/units", params={"f": "json", "date": on}).json()["units"]
    assert sum(u["late"] for u in units) == behind
    page = api.get("/completion/units", params={"f": "html", "lang": "en"}).text
    # (after opening day the count is of the projects that missed it: the late ones, and those done since)
    late = re.findall(
        r'<td class="n">\d+ / \d+</td>\s*<td class="n"(?: data-missed="[^"]*" data-value="\d+")?>(\d+)', page
    )
    assert late and sum(map(int, late)) == behind
    explicit = api.get("/completion/units", params={"f": "html", "lang": "en", "date": on}).text
    assert 'data-landed="' not in explicit
    assert api.get("/completion/units", params={"f": "json"}).json()["date"] == landing.today.isoformat()


@pytest.mark.parametrize(
    ("day", "words"),
    [
        # read top down as the completion map's first figure reads (it said "32 / 天前已开幕", "32
        # days ago opened"): the days since opening day, then opening day
        (
            "2026-12-07",
            {"en": "Days since opening day 32 days Opening day 2026-11-05", "zh": "已开幕 32 天 开幕日 2026-11-05"},
        ),
        ("2026-11-05", {"en": "Opening today T-0 Opening day 2026-11-05", "zh": "今天开幕 T-0 开幕日 2026-11-05"}),
        (
            "2026-10-26",
            {"en": "Days to opening day 10 days Opening day 2026-11-05", "zh": "距开幕还有 10 天 开幕日 2026-11-05"},
        ),
    ],
)
def test_the_home_page_counts_the_days_as_the_map_does(
    api: TestClient, today: Any, day: str, words: dict[str, str]
) -> None:
    """The home page's first figure, from today: the days to opening day, that it opens today, or
    the days since it, never a tick (a tick beside three late projects read as "all ready")."""
    today(day)
    for lang in ("en", "zh"):
        html = api.get("/maps", params={"lang": lang}).text
        days = re.search(r'<div class="kpi" data-kpi="days" data-value="(-?\d+)">(.*?)</div>', html, re.S)
        assert days, html[:2000]
        value, figure = int(days.group(1)), days.group(2)
        assert value == (date(2026, 11, 5) - date.fromisoformat(day)).days
        assert "✓" not in figure
        assert " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", figure)).split()) == words[lang], figure


def test_days_behind_plan_are_worded_apart_from_the_forecast_finish(api: TestClient) -> None:
    """A late project's days late are its schedule variance (how far behind its plan it is today),
    not how late its forecast finish is: "2026-11-22 ⚠ after opening day (29 days late)" read as a
    finish 29 days late. The forecast says how many days after opening day it is; the days behind
    plan are worded as such (the late list) or have a row of their own (the popup, built from
    ``projects``)."""
    comp = _json(api, "/completion", date=CHECKPOINT_DATE)
    opening = date.fromisoformat(comp["opening_day"])
    after = [p for p in comp["late"] if p["forecast_after_opening"] and p["forecast_finish"]]
    assert after and any(date.fromisoformat(p["forecast_finish"]) > opening for p in after)
    for lang in ("en", "zh"):
        panel = _json(api, "/maps/data/panel", date=CHECKPOINT_DATE, lang=lang)
        for p in after:
            finish = date.fromisoformat(p["forecast_finish"])
            words = (
                i18n.label(lang, "after_opening_by", n=(finish - opening).days)
                if finish > opening
                else i18n.label(lang, "after_opening")
            )
            popup = next(x for x in panel["projects"] if x["code"] == p["code"])
            assert popup["after_opening_text"] == words
            item = re.search(rf'<li class="vt-\w+" data-project="{p["code"]}".*?</li>', panel["html"], re.S)
            assert item and f"⚠ {words}</span>" in item.group(0), item
            days = i18n.label(lang, "days_late", n=int(p["days_late"] + 0.5))
            assert days in item.group(0) and ("behind plan" in days or "落后计划" in days)
        assert "days late" not in panel["html"] and "晚 " not in panel["html"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_popups_say_how_a_forecast_was_made_as_the_project_page_does(api: TestClient, lang: str) -> None:
    """A project's page says how its forecast was made (its own pace against similar projects'); the
    completion map's popup of the same project did not, so a leader on the map could not tell why a
    project is flagged. The popup's entry (``projects``, as the map page and the timeline's panel
    carry it) now holds the page's very words, in the map's language; none for a project done."""
    comp = _json(api, "/completion", date=KNOWN_DATE)
    late = {p["code"] for p in comp["late"]}
    projects = _json(api, "/projects", date=KNOWN_DATE)["projects"]
    done = next(p["code"] for p in projects if p["status"] == "done")
    sample = [*sorted(late)[:2], next(p["code"] for p in projects if p["status"] == "on_track"), done]
    panel = {x["code"]: x for x in _json(api, "/maps/data/panel", date=KNOWN_DATE, lang=lang)["projects"]}
    page = api.get("/maps/completion", params={"date": KNOWN_DATE, "lang": lang}).text
    for code in sample:
        shown = api.get(f"/projects/{code}", params={"date": KNOWN_DATE, "f": "html", "lang": lang}).text
        m = re.search(r'<div class="vt-muted" data-field="basis">(.*?)</div>', shown, re.S)
        if code == done:
            assert m is None and panel[code]["basis"] is None
            continue
        assert m, code
        words = html_lib.unescape(m[1])
        assert panel[code]["basis"] == words, (code, panel[code].get("basis"), words)
        assert orjson.dumps(words).decode() in page, code  # the map page's own table, the same words
        assert ("Based " in words) == (lang == "en"), words


@pytest.mark.parametrize("path", ["/maps/data/panel", "/maps/completion"])
def test_on_opening_day_the_maps_figure_says_it_opens_today(api: TestClient, path: str) -> None:
    """On opening day the completion map's first figure (and the timeline's T-0 step, the same
    panel) says that it opens today: "Days to opening day 0" counted down to nothing."""
    for lang in ("en", "zh"):
        r = api.get(path, params={"date": "2026-11-05", "lang": lang})
        html = r.json()["html"] if path.endswith("panel") else r.text
        kpi = re.search(r'<div class="vt-kpi" data-kpi="days" data-value="0">.*?</div>\s*</div>', html, re.S)
        assert kpi, html[:2000]
        text = " ".join(re.sub(r"<[^>]+>", " ", kpi.group(0)).split())
        assert text == f"{i18n.label(lang, 'opening_today')} T-0 {i18n.label(lang, 'opening_day', date='2026-11-05')}"
        assert i18n.label(lang, "days_left") not in text


def test_after_opening_day_the_map_counts_the_days_since(api: TestClient) -> None:
    """After opening day the completion map's first figure is the days since it, as the home page
    counts them, not "Days to opening day 0 · Opened on 2026-11-05" a month later; and the reports
    missing figure's note says what is missing ("none since the last checkpoint" read as none
    missing)."""
    on, opening = date(2026, 12, 6), date(2026, 11, 5)
    for lang, label, unit in (("en", "Days since opening day", "days"), ("zh", "已开幕", "天")):
        html = _json(api, "/maps/data/panel", date=on.isoformat(), lang=lang)["html"]
        kpi = re.search(r'<div class="vt-kpi" data-kpi="days".*?</div>\s*</div>', html, re.S)
        assert kpi, html[:2000]
        text = " ".join(re.sub(r"<[^>]+>", " ", kpi.group(0)).split())
        assert text == f"{label} {(on - opening).days} {unit} {i18n.label(lang, 'opening_day', date='2026-11-05')}"
        missing = re.search(r'<div class="vt-kpi" data-kpi="reports_missing".*?</div>\s*</div>', html, re.S)
        assert missing and "none since" not in missing.group(0)
        assert i18n.label(lang, "reports_missing_note") in ("no report since the last checkpoint", "上个节点以来未填报")


# ---------------------------------------------------------------------------- behind a reverse proxy at a sub-path
@pytest.mark.parametrize("url", [*(p for p in PAGES if not p.startswith("/maps?")), "/docs"])
def test_pages_behind_a_proxy_load_their_assets_under_its_prefix(store: Path, url: str) -> None:
    """Served at /twin/ behind a reverse proxy (`venue-twin serve --root-path /twin`), a page's
    scripts, styles and tile decoder are under /twin too: the map pages and /docs linked
    /static/... at the proxy's root, where nothing of the twin is, so the maps drew nothing."""
    app = create_app(ApiSettings(store=store))
    # the proxy strips /twin: what a link names under it is asked of the app without it
    with TestClient(app, root_path="/twin") as c, TestClient(app) as direct:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        html = r.text
        refs = re.findall(r'<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)="([^"]*)"', html)
        refs += re.findall(r'"(/[^"]*?/index\.js[^"]*)"', html)  # the tile decoder's import map
        refs += re.findall(r"url: '(/[^']*)'", html)  # Swagger UI's API definition
        assert any(ref.startswith("/") for ref in refs), refs
        for ref in refs:
            if ref.startswith("/"):
                assert ref.startswith("/twin/"), ref
                assert direct.get(ref.removeprefix("/twin")).status_code == 200, ref
        moved = c.get("/api.html", follow_redirects=False)
        assert moved.headers["location"] == "/twin/docs"


def test_the_date_box_offers_the_dates_the_twin_has_figures_for(api: TestClient, store: Path) -> None:
    """From the season's first checkpoint (the twin's history starts before it) to today, and not
    filled in again by the browser after Back (autocomplete off)."""
    from completion.snapshot import today_local
    from web.data import season_checkpoints

    html = api.get("/maps/completion", params={"date": KNOWN_DATE, "lang": "zh"}).text
    box = re.search(r'<form class="vt-form"[^>]*>\s*<label>[^<]*(<input type="date"[^>]*>)', html)
    assert box and 'autocomplete="off"' in box[0], html[:3000]
    with Twin.open(store) as twin:
        first = season_checkpoints(twin)[0].on.isoformat()
    assert f'value="{KNOWN_DATE}"' in box[1] and f'min="{first}"' in box[1], box[1]
    assert f'max="{today_local().isoformat()}"' in box[1], box[1]


def test_the_home_pages_figures_say_the_date_they_are_of(api: TestClient, store: Path) -> None:
    """After opening day the card shows T-10's figures (the latest with reports) beside the days
    since opening counted from today: each of the three said nothing of its date ("95 %, 3 late"
    read as today's). The date heads them, apart from the days figure."""
    from completion.landing import landing_date

    with Twin.open(store) as twin:
        landing = landing_date(twin)
        on = landing.on.isoformat()
    for lang in ("en", "zh"):
        html = plain_dates(api.get("/maps", params={"lang": lang}).text)
        start = html.find('<div class="kpi-group')
        assert start > 0, html[:3000]
        # marked (an amber date) when the figures are of another day than today
        assert html.startswith('<div class="kpi-group moved"' if landing.moved else '<div class="kpi-group"', start)
        group = html[start : html.index("</div>", html.index('data-kpi="done"'))]
        assert f'data-as-of="{on}"' in group and i18n.label(lang, "as_of", date=on) in group, group
        # (on opening day and after it, the projects that missed it in place of the late ones)
        assert all(f'data-kpi="{k}"' in group for k in ("overall", "done")), group
        assert ('data-kpi="late"' in group) != ('data-kpi="missed"' in group), group
        assert 'data-kpi="days"' not in group  # counted from today


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_before_any_project_is_registered_the_panel_says_so(api: TestClient, lang: str) -> None:
    """07-01, before the register's first project: not a green 0 % over empty lists, a notice."""
    html = plain_dates(api.get("/maps/completion", params={"date": "2026-07-01", "lang": lang}).text)
    assert 'data-no-projects="2026-07-01"' in html and i18n.label(lang, "no_projects_on", date="2026-07-01") in html
    assert 'data-kpi="overall"' not in html and 'data-section="late"' not in html
    assert 'data-kpi="days"' in html  # the days to opening day still count


# ---------------------------------------------------------------------------- a register brought in from a workbook
@pytest.mark.parametrize(
    ("text", "en", "zh"),
    [
        ("青浦区交通委员会 (Qingpu Transport Commission)", "Qingpu Transport Commission", "青浦区交通委员会"),
        ("青浦区交通委员会（Qingpu Transport Commission）", "Qingpu Transport Commission", "青浦区交通委员会"),
        ("国家会展中心（上海）有限责任公司 (NECC Shanghai, venue operator)", "NECC Shanghai, venue operator",
         "国家会展中心（上海）有限责任公司"),
        ("青浦区绿化局 Qingpu Greening Bureau", "Qingpu Greening Bureau", "青浦区绿化局"),
        ("孙浩 Sun Hao", "Sun Hao", "孙浩"),
        ("黄丽 Huang Li (Qingpu Greening Bureau)", "Huang Li", "黄丽"),
        ("黄丽 Huang Li（青浦区绿化局）", "Huang Li", "黄丽"),
        ("黄丽 Huang Li（Qingpu Greening Bureau）", "Huang Li", "黄丽"),
        ("阿依古丽·买买提 Ayguli Mamat", "Ayguli Mamat", "阿依古丽·买买提"),
        ("Huang Li", "Huang Li", "Huang Li"),
        ("黄丽", "黄丽", "黄丽"),
        ("国家会展中心（上海）", "国家会展中心（上海）", "国家会展中心（上海）"),
        ("黄丽（青浦区绿化局）", "黄丽（青浦区绿化局）", "黄丽（青浦区绿化局）"),
        ("Huang Li (Qingpu Greening Bureau)", "Huang Li (Qingpu Greening Bureau)", "Huang Li (Qingpu Greening Bureau)"),
        ("黄丽 13912345678", "黄丽 13912345678", "黄丽 13912345678"),
    ],
)  # fmt: skip
def test_in_language_reads_the_forms_a_register_writes(text: str, en: str, zh: str) -> None:
    """A unit or a person as registers write them: both names, one, or a person with their unit in
    brackets (the sample register's "黄丽 Huang Li (Qingpu Greening Bureau)" was read as a unit, its
    bracket the English name: English pages named the bureau as the responsible person)."""
    assert (i18n.in_language("en", text), i18n.in_language("zh", text)) == (en, zh)
    assert i18n.in_language("en", f"  {text} ") == en  # a cell's stray spaces


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The README's register intake: `projects sample`, `init --empty`, then the register and the
    reports imported with their original dates (projects that name no venue features)."""
    from cli.main import app as cli

    d = tmp_path_factory.mktemp("season")
    book, store = d / "season.xlsx", d / "season.gpkg"
    for args in (
        ["projects", "sample", str(book)],
        ["init", "--empty", "--store", str(store)],
        ["projects", "import", str(book), "--original-dates", "-s", str(store), "--author", "office"],
        ["progress", "import", str(book), "--original-dates", "-s", str(store), "--author", "office"],
    ):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, (args, r.output)
    with TestClient(create_app(ApiSettings(store=store))) as c:
        yield c


def _sample_person(season: TestClient) -> dict[str, Any]:
    """A project of the sample register whose person is written "黄丽 Huang Li (Qingpu Greening Bureau)"."""
    projects = _json(season, "/collections/projects/items", limit=1000)["features"]
    props = [f["properties"] for f in projects if "(" in (f["properties"].get("responsible_person") or "")]
    assert props, projects[:2]
    return props[0]


def test_sample_register_pages_name_the_person_in_the_page_language(season: TestClient) -> None:
    """The project page and the units page by person name the responsible person, in the page's
    language, not the person's unit (English) or both names (Chinese)."""
    p = _sample_person(season)
    person = p["responsible_person"]  # "黄丽 Huang Li (Qingpu Greening Bureau)"
    zh_name, en_name = person.split(" ")[0], person.split(" (")[0].split(" ", 1)[1]
    unit_en = person.split(" (")[1].rstrip(")")
    for lang, name, absent in (("en", en_name, zh_name), ("zh", zh_name, en_name)):
        html = season.get(f"/projects/{p['code']}", params={"f": "html", "date": "T-10", "lang": lang}).text
        cell = re.search(r'<td data-field="person"[^>]*>([^<]*)</td>', html)
        assert cell and cell.group(1) == name, (cell and cell.group(0), html[:2000])
        units = season.get("/completion/units", params={"date": "T-30", "by": "person", "f": "html", "lang": lang}).text
        rows = re.findall(r"<tr[^>]*data-key=\"[^\"]*\">\s*<td>([^<]+)<small>", units)
        assert name in [r.strip() for r in rows] and unit_en not in [r.strip() for r in rows], rows
        assert absent not in re.sub(r"<[^>]+>", "", units)  # the person's data-key keeps the whole text


def test_sample_register_names_projects_in_english(season: TestClient) -> None:
    """The sample register has an English name column: English pages do not read "绿化景观46号"."""
    p = _sample_person(season)
    assert p["name_en"] != p["name_zh"] and not re.search(r"[\u3400-\u9fff]", p["name_en"]), p
    html = season.get(f"/projects/{p['code']}", params={"f": "html", "date": "T-10", "lang": "en"}).text
    assert f"{p['code']} {p['name_en']}" in html_lib.unescape(html) and p["name_zh"] not in html


def _engine_config(html: str) -> dict[str, Any]:
    at = html.index("new VT.Engine(")
    at = html.index("{", at)
    config, _ = __import__("json").JSONDecoder().raw_decode(html[at:])
    return config  # type: ignore[no-any-return]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_completion_map_opens_on_every_late_and_at_risk_project(api: TestClient, store: Path, lang: str) -> None:
    """The first view fits the venue and every late and at-risk project's features, not only the
    venue boundary: LS-08's clover green (about 121.3064°E, at risk) lies east of the boundary and
    was out of view. The roads done early, kilometres long, do not widen it, nor a late one beyond
    NEAR_VENUE of the venue's size (web.maps: that zoomed the map out past its labels)."""
    from web.data import completion_view, feature_boxes, union_bounds, venue_bounds
    from web.maps import NEAR_VENUE

    html = api.get("/maps/completion", params={"date": CHECKPOINT_DATE, "lang": lang}).text
    bounds = _engine_config(html)["bounds"]
    with Twin.open(store) as twin:
        view = completion_view(twin, CHECKPOINT_DATE)
        assert view is not None
        ref = view.snapshot.ref
        wanted = {k for s in view.snapshot.statuses if s.status in ("behind", "at_risk") for k in s.project.features}
        boxes = feature_boxes(twin, wanted, ref)
        venue = venue_bounds(twin, ref)
    assert "landscaping/ls-clover-green" in boxes and boxes["landscaping/ls-clover-green"][2] > venue[2]
    fitted = union_bounds([tuple(venue), *boxes.values()])
    dx, dy = (venue[2] - venue[0]) * NEAR_VENUE, (venue[3] - venue[1]) * NEAR_VENUE
    near = [venue[0] - dx, venue[1] - dy, venue[2] + dx, venue[3] + dy]
    assert bounds == pytest.approx(
        [max(fitted[0], near[0]), max(fitted[1], near[1]), min(fitted[2], near[2]), min(fitted[3], near[3])], abs=1e-7
    )
    assert bounds[2] >= boxes["landscaping/ls-clover-green"][2]  # the clover green whole in view


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_map_of_a_register_without_features_says_so(season: TestClient, lang: str) -> None:
    """After the register intake (projects naming no venue features) the completion map says the twin
    holds no venue features, over the empty map, and offers no zoom on a project it cannot show."""
    html = season.get("/maps/completion", params={"date": "T-10", "lang": lang}).text
    section = re.search(r'<section[^>]*data-no-data="[^"]*"[^>]*><h2>([^<]*)</h2>', html)
    assert section and section.group(1) == i18n.label(lang, "brief_map_empty"), html[-6000:]
    late = re.search(r'<section class="vt-section" data-section="late">.*?</section>', html, re.S)
    assert late and "data-project=" in late.group(0)
    assert i18n.label(lang, "late_hint") not in html and i18n.label(lang, "unit_hint") not in html
    assert "data-zoom=" not in late.group(0)


@pytest.mark.parametrize("path", ["/maps/completion?date=2026-09-06&lang=zh", "/maps/timeline?lang=zh"])
def test_the_maps_draw_upper_halls_over_the_ones_below_by_the_briefings_rule(api: TestClient, path: str) -> None:
    """Which hall stands over which is one rule for the briefing and the web map, sent in the page's
    config: a 16 m hall's rank is above a 0 m one's (or one without a level), whatever their statuses
    (at T-60 5.2H, at risk, lay under 5.1H's behind stripes on the web map, not in the briefing)."""
    from web.maps import draw_level

    levels = _engine_config(api.get(path).text)["drawLevels"]
    ranks = levels["ranks"]
    assert levels["field"] == "level"
    assert ranks.get("16m", 0) > ranks.get("0m", 0)
    assert {lv: draw_level(lv) for lv in ("0m", "16m", None)} == {
        "0m": ranks.get("0m", 0),
        "16m": ranks["16m"],
        None: 0,
    }


def _grey(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_statuses_of_about_one_grey_carry_patterns_apart_on_the_map_and_in_its_legend() -> None:
    """On a black-and-white printout at risk (amber, grey 177) and not started (grey, 158) were one
    grey, as behind and on track are done's: any two statuses within 40 greys of each other carry
    patterns that differ (none is one), on the map's polygons and lines, and every pattern has its
    legend swatch (venue-map.css .vt-swatch-<status>)."""
    from web.maps import completion_styles

    styles = completion_styles()
    css = (Path(assets.__file__).parent / "static" / "venue-map.css").read_text()

    def look(status: str, key: str) -> tuple[Any, ...]:
        p = styles[status].get(key)
        return (p.get("kind", "stripes" if key == "hatch" else "dash"), p["color"], str(p.get("dash"))) if p else ()

    statuses = list(i18n.STATUS_COLOURS)
    near = [(a, b) for a in statuses for b in statuses if a < b]
    near = [(a, b) for a, b in near if abs(_grey(i18n.STATUS_COLOURS[a]) - _grey(i18n.STATUS_COLOURS[b])) < 40]
    assert ("at_risk", "not_started") in near
    for a, b in near:
        for key in ("hatch", "lineMark"):
            assert look(a, key) != look(b, key), (a, b, key)
    for s in statuses:
        if styles[s].get("hatch"):
            assert re.search(rf"\.vt-swatch-{s}\s*\{{[^}}]*background-image", css), s
