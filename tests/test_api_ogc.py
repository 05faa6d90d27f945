"""OGC API - Features reads over the bundled venue twin, in process (TestClient).

Part 1 (core, GeoJSON, HTML, OpenAPI), Part 2 (CRS), Part 3 (queryables, CQL2 filters, sortby,
properties), strict query parameters, time travel on every read, versions, diffs, feature
history and downloads. Every expected value is computed independently from the twin (or from
pyproj/shapely), never from another API answer.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import pyogrio
import pytest
import shapely
from api_server import (
    CRS84,
    EPSG3857,
    EPSG4326,
    EPSG4490,
    EPSG4549,
    RESTRICTED,
    build_restricted_venue,
    build_venue,
    client,
    copy_store,
    make_tokens,
    problem_of,
    venue_commit,
)
from fastapi.testclient import TestClient
from pyproj import CRS, Transformer

from layers.catalogue import LAYERS
from layers.io import FORMATS
from twin import Twin

LAYER_NAMES = [s.name for s in LAYERS]
SPATIAL = [s.name for s in LAYERS if s.geometry_types]  # records without geometry (the project register) aside
OGC = "http://www.opengis.net/spec/"
T_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
T_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
T_4490 = Transformer.from_crs("EPSG:4326", "EPSG:4490", always_xy=True)


# ---------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("api-ogc")
    store = build_venue(d / "venue.gpkg")
    make_tokens(store)
    return store, store


@pytest.fixture(scope="module")
def api(venue: tuple[Path, Path]):
    with client(venue[0]) as c:
        yield c


@pytest.fixture(scope="module")
def twin(venue: tuple[Path, Path]):
    t = Twin.open(venue[0])
    yield t
    t.close()


def bundled(twin: Twin, n: int) -> str:
    """The id of the commit made from bundled venue change file n (1 = the initial survey, 10 = the checkpoint)."""
    return venue_commit(twin, n).id


def local(href: str) -> str:
    """A link's path and query, to follow it with the TestClient."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def link(doc: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((lk for lk in doc.get("links", []) if lk["rel"] == rel), None)


def twin_features(twin: Twin, layer: str, ref: Any = None) -> list[dict[str, Any]]:
    return [orjson.loads(b) for b in twin.features(layer, ref).features]


def geom(feature: dict[str, Any]) -> shapely.Geometry:
    return shapely.from_geojson(orjson.dumps(feature["geometry"]))


def coords(feature: dict[str, Any]) -> np.ndarray:
    return shapely.get_coordinates(geom(feature))


def items(api: TestClient, layer: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/collections/{layer}/items", params={"limit": 10000, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ids(doc: dict[str, Any]) -> list[str]:
    return [f["id"] for f in doc["features"]]


def all_pages(api: TestClient, url: str) -> tuple[list[str], int]:
    """Follow next links from `url`; the ids in order and the number of pages."""
    got: list[str] = []
    pages = 0
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        doc = r.json()
        pages += 1
        assert doc["numberReturned"] == len(doc["features"])
        got += ids(doc)
        nxt = link(doc, "next")
        url = local(nxt["href"]) if nxt else ""
        assert pages < 100, "next links never end"
    return got, pages


# ---------------------------------------------------------------------------- Part 1: capabilities
def test_landing_page_links_resolve(api: TestClient) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert "Exhibition and Convention Center" in doc["title"]
    rels = {lk["rel"] for lk in doc["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    for lk in doc["links"]:
        assert lk["href"].startswith("http://testserver/"), lk
        got = api.get(local(lk["href"]))
        assert got.status_code == 200, (lk, got.status_code)
    assert link(doc, "service-desc")["type"].startswith("application/vnd.oai.openapi+json")  # type: ignore[index]


def test_conformance_declares_parts_1_to_4(api: TestClient) -> None:
    doc = api.get("/conformance").json()
    declared = set(doc["conformsTo"])
    for cls in (
        "ogcapi-features-1/1.0/conf/core",
        "ogcapi-features-1/1.0/conf/geojson",
        "ogcapi-features-1/1.0/conf/html",
        "ogcapi-features-1/1.0/conf/oas30",
        "ogcapi-features-2/1.0/conf/crs",
        "ogcapi-features-3/1.0/conf/queryables",
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
        "cql2/1.0/conf/basic-spatial-functions",
        "ogcapi-features-4/1.0/conf/create-replace-delete",
    ):
        assert OGC + cls in declared, cls


def test_items_take_a_property_as_a_parameter(api: TestClient, twin: Twin) -> None:
    """Part 1's filters on properties (/rec/core/fc-filters): ?level=0m is the filter level='0m', the
    value read as the property's type; it narrows a filter and the bbox, and the pages keep it."""

    def expected(layer: str, keep: Any) -> list[str]:
        return sorted(f["id"] for f in twin_features(twin, layer) if keep(f["properties"]))

    for layer, params, keep in (
        ("halls", {"level": "0m"}, lambda p: p.get("level") == "0m"),
        ("landscaping", {"kind": "lawn"}, lambda p: p.get("kind") == "lawn"),
        ("roads", {"lanes": "4"}, lambda p: p.get("lanes") == 4),
        ("projects", {"planned_start": "2026-07-28", "category": "city_appearance"},
         lambda p: p.get("planned_start") == "2026-07-28" and p.get("category") == "city_appearance"),
    ):  # fmt: skip
        want = expected(layer, keep)
        assert 0 < len(want) < twin.count(layer), (layer, params)
        got = items(api, layer, limit=1000, **params)
        assert sorted(ids(got)) == want and got["numberMatched"] == len(want), (layer, params)
    # A number compares as a number: 29540 and 29540.0 are one value.
    area = twin_features(twin, "halls")[0]["properties"]["floor_area_m2"]
    for text in (repr(float(area)), str(int(area)) if area == int(area) else repr(area)):
        assert items(api, "halls", floor_area_m2=text)["numberMatched"] == len(
            expected("halls", lambda p: p.get("floor_area_m2") == area)
        )
    # With a filter and a bbox: all of them hold.
    box = "121.2930,31.1880,121.2990,31.1920"
    both = items(api, "halls", level="16m", filter="floor_area_m2 > 10000", bbox=box, limit=1000)
    alone = items(api, "halls", filter="level = '16m' AND floor_area_m2 > 10000", bbox=box, limit=1000)
    assert ids(both) == ids(alone) and 0 < both["numberMatched"] < twin.count("halls")
    # The next page keeps the property, and the walk returns each feature once.
    walked, _ = all_pages(api, "/collections/halls/items?level=0m&limit=3")
    assert sorted(walked) == expected("halls", lambda p: p.get("level") == "0m")
    # Values that are not of the property's type, a list property, and a name that is no property.
    for params, name, words in (
        ({"lanes": "four"}, "lanes", "'four' is not an integer"),
        ({"lanes": "4.5"}, "lanes", "not an integer"),
        ({"floor_area_m2": "nan"}, "floor_area_m2", "not a number"),
        ({"temporary": "yes"}, "temporary", "not true or false"),
        ({"planned_start": "20260728"}, "planned_start", "not a date"),
        ({"features": "hall-1.1H"}, "features", "A_CONTAINS"),
        ({"levle": "0m"}, "levle", "a property of halls"),
    ):
        layer = {"lanes": "roads", "temporary": "south_plaza"}.get(name, "projects" if name in (
            "planned_start", "features") else "halls")  # fmt: skip
        body = problem_of(api.get(f"/collections/{layer}/items", params=params), 400, name)
        assert words in body["detail"], body
    unknown = problem_of(api.get("/collections/halls/items", params={"levle": "0m"}), 400, "levle")["detail"]
    assert "bbox" in unknown and "level" in unknown  # names the endpoint's parameters and the properties
    problem_of(api.get("/collections/halls/items", params=[("level", "0m"), ("level", "16m")]), 400, "level")
    problem_of(api.get("/collections/no_such_layer/items", params={"levle": "0m"}), 404)


def test_openapi_has_each_collections_items_path_with_its_properties(api: TestClient, twin: Twin) -> None:
    """GDAL's OAPIF driver looks for /collections/<name>/items in the definition, and sends a -where's
    `property = value` to the server only for a property listed there as a parameter."""
    paths = api.get("/api").json()["paths"]
    generic = {p["name"] for p in paths["/collections/{collectionId}/items"]["get"]["parameters"] if p["in"] == "query"}
    for schema in twin.layers():
        op = paths[f"/collections/{schema.name}/items"]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert generic <= set(params) and "collectionId" not in params, schema.name
        simple = {f.name for f in schema.fields if f.type != "list"}
        clash = {f.name for f in schema.fields} & generic  # the surveys' crs: listed neither way
        assert set(params) == (generic | simple) - clash, schema.name
        for f in schema.fields:
            if f.name in simple:
                assert params[f.name]["in"] == "query" and params[f.name]["schema"]["type"] == {
                    "string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
                    "date": "string"}[f.type], f.name  # fmt: skip
        limit = params["limit"]["schema"]
        assert (limit["maximum"], limit["default"]) == (10_000, 10)
    ops = [op["get"]["operationId"] for op in paths.values() if "get" in op]
    assert len(ops) == len(set(ops))


def test_a_property_named_like_a_parameter_is_not_listed_either_way(venue: tuple[Path, Path], tmp_path: Path) -> None:
    """A property called `crs` (the surveys have one) or `f`: ?crs= stays the output CRS, and GDAL
    takes any parameter listed for the collection that names a field for a filter on it, so the
    collection's path lists neither the parameter nor the property: GDAL filters it itself."""
    store = copy_store(venue[0], tmp_path / "t.gpkg")
    with Twin.open(store) as t:
        t.create_layer(
            {"name": "odd", "title_en": "Odd", "title_zh": "怪", "geometry_types": ["Point"],
             "fields": [{"name": "crs", "type": "string"}, {"name": "f", "type": "string"},
                        {"name": "kind", "type": "string"}]},
            author="test",
        )  # fmt: skip
    with client(store) as c:
        params = {p["name"] for p in c.get("/api").json()["paths"]["/collections/odd/items"]["get"]["parameters"]}
        assert "kind" in params and "limit" in params and not params & {"crs", "f"}
        assert "crs" in {
            p["name"] for p in c.get("/api").json()["paths"]["/collections/halls/items"]["get"]["parameters"]
        }
        assert c.get("/collections/odd/items", params={"kind": "x"}).status_code == 200
        problem_of(c.get("/collections/odd/items", params={"crs": "EPSG:3857"}), 400, "crs")  # the output CRS


def test_a_datetime_interval_says_how_to_filter_a_date(api: TestClient) -> None:
    """GDAL sends `-where "planned_start >= '2026-08-01'"` as datetime=2026-08-01T/..; datetime is the
    twin's time here, so the 400 says what works instead."""
    body = problem_of(api.get("/collections/projects/items", params={"datetime": "2026-08-01T/.."}), 400, "datetime")
    assert "filter=planned_start >= DATE(" in body["detail"] and "OGR_OAPIF_ALLOW_CQL_TEXT" in body["detail"]


def test_collections_list_every_venue_layer(api: TestClient, twin: Twin) -> None:
    doc = api.get("/collections").json()
    assert [c["id"] for c in doc["collections"]] == LAYER_NAMES
    for c in doc["collections"]:
        schema = twin.layer(c["id"])
        assert c["title"] == schema.title_en
        assert c["twin:titleZh"] == schema.title_zh
        assert c["itemType"] == "feature"
        items_link = next(lk for lk in c["links"] if lk["rel"] == "items" and lk["type"] == "application/geo+json")
        assert local(items_link["href"]) == f"/collections/{c['id']}/items"
        one = api.get(f"/collections/{c['id']}")
        assert one.status_code == 200 and one.json()["id"] == c["id"]
        assert one.json()["extent"] == c["extent"]
        if not schema.geometry_types:
            assert "spatial" not in c["extent"], c["extent"]  # records have no place (it said the world)
            continue
        assert c["crs"][0] == CRS84
        assert {CRS84, EPSG4326, EPSG4490, EPSG4549, EPSG3857} <= set(c["crs"])
        assert c["storageCrs"] == CRS84
        box = c["extent"]["spatial"]["bbox"][0]
        minx, miny, maxx, maxy = twin.extent(c["id"])  # type: ignore[misc]
        assert box[0] <= minx and box[1] <= miny and box[2] >= maxx and box[3] >= maxy
        assert box[2] - box[0] < 0.1 and box[3] - box[1] < 0.1  # the venue, not the world
        assert c["extent"]["temporal"]["interval"][0][0].startswith("2026-06-15")  # the first commit


def test_openapi_document_is_openapi_30_and_describes_the_routes(api: TestClient) -> None:
    r = api.get("/api")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    paths = doc["paths"]
    for p in (
        "/",
        "/conformance",
        "/collections",
        "/collections/{collectionId}",
        "/collections/{collectionId}/queryables",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
        "/versions",
        "/diff",
        "/collections/{collectionId}/download",
    ):
        assert p in paths, p
    params = {p["name"] for p in paths["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert {
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "crs",
        "datetime",
        "filter",
        "filter-lang",
        "sortby",
        "properties",
        "version",
        "asof",
    } <= params
    assert '{"type":"null"}' not in orjson.dumps(doc).decode()  # OpenAPI 3.0 spells it nullable
    html = api.get("/docs")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    # the page's assets are the app's own (offline), and each of them is served
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert assets and all(a.startswith("/static/vendor/swagger-ui/") for a in assets), assets
    for a in assets:
        assert api.get(a).status_code == 200, a
    assert "'/api'" in html.text or '"/api"' in html.text  # it documents this API's definition
    moved = api.get("/api.html", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/docs"
    for url in ("/api", "/openapi.json", "/docs"):  # a HEAD answers like the GET, as on every other read
        head = api.head(url)
        assert head.status_code == 200 and head.content == b"", url
        assert head.headers["content-type"] == api.get(url).headers["content-type"], url
    assert api.head("/api.html", follow_redirects=False).status_code == 301


def test_openapi_limit_has_the_servers_maximum_and_default(venue: tuple[Path, Path]) -> None:
    """OGC Part 1's limit definition: minimum 1, the maximum and the default. GDAL's OAPIF driver and
    QGIS size their pages from the maximum, and page 10 features at a time without it."""
    for settings, (maximum, default) in (({}, (10_000, 10)), ({"max_limit": 500, "default_limit": 25}, (500, 25))):
        with client(venue[0], **settings) as c:
            for url in ("/api", "/openapi.json"):
                params = c.get(url).json()["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
                (limit,) = [p for p in params if p["name"] == "limit"]
                schema = limit["schema"]
                assert schema["type"] == "integer" and schema["minimum"] == 1, schema
                assert (schema["maximum"], schema["default"]) == (maximum, default), schema
                assert "nullable" not in schema, schema
            # what it says is what the route does
            above, at = (c.get(f"/collections/halls/items?limit={n}") for n in (maximum + 1, maximum))
            assert above.status_code == at.status_code == 200
            assert above.json()["features"] == at.json()["features"]
            assert c.get("/collections/roads/items").json()["numberReturned"] == min(default, 24)


# ---------------------------------------------------------------------------- Part 1: features
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_items_equal_the_twin(api: TestClient, twin: Twin, layer: str) -> None:
    r = api.get(f"/collections/{layer}/items", params={"limit": 10000})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-crs"] == f"<{CRS84}>"
    assert r.headers["x-twin-version"] == twin.head().id  # type: ignore[union-attr]
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberMatched"] == twin.count(layer) == doc["numberReturned"]
    assert ids(doc) == twin.feature_ids(layer)
    expected = {f["id"]: f for f in twin_features(twin, layer)}
    for f in doc["features"]:
        assert f["type"] == "Feature"
        assert f["properties"] == expected[f["id"]]["properties"]
        assert f["geometry"] == expected[f["id"]]["geometry"]


def test_halls_count_and_a_known_hall(api: TestClient, twin: Twin) -> None:
    doc = items(api, "halls")
    assert doc["numberMatched"] == twin.count("halls") == 17
    by_id = {f["id"]: f for f in doc["features"]}
    assert by_id["hall-2.1H"]["properties"]["project_code"] == "HL-02"
    assert sorted(by_id) == twin.feature_ids("halls")


def test_default_limit_and_paging_by_next_links(api: TestClient, twin: Twin) -> None:
    expected = twin.feature_ids("roads")
    assert len(expected) > 10
    first = api.get("/collections/roads/items").json()
    assert first["numberReturned"] == 10 and first["numberMatched"] == len(expected)
    assert ids(first) == expected[:10]
    assert link(first, "prev") is None
    got, pages = all_pages(api, "/collections/roads/items?limit=4")
    assert got == expected
    assert pages == math.ceil(len(expected) / 4)
    second = api.get("/collections/roads/items?limit=4&offset=4").json()
    prev = link(second, "prev")
    assert prev is not None and parse_qs(urlsplit(prev["href"]).query)["offset"] == ["0"]
    last = api.get(f"/collections/roads/items?limit=4&offset={len(expected) - 1}").json()
    assert ids(last) == expected[-1:] and link(last, "next") is None
    beyond = api.get("/collections/roads/items?offset=1000").json()
    assert beyond["features"] == [] and beyond["numberMatched"] == len(expected)


def test_cursor_paging(api: TestClient, twin: Twin) -> None:
    expected = twin.feature_ids("landscaping")
    got, _ = all_pages(api, f"/collections/landscaping/items?limit=5&cursor={expected[4]}")
    assert got == expected[5:]


@pytest.mark.parametrize("extra", ["", "&filter=kind<>'none'"])
def test_cursor_with_an_offset_skips_once(api: TestClient, twin: Twin, extra: str) -> None:
    """An offset beside a cursor skips that many after the cursor on the first page only: the next
    links continue after the last feature read, so the walk neither skips nor repeats."""
    expected = twin.feature_ids("landscaping")
    got, _ = all_pages(api, f"/collections/landscaping/items?limit=3&cursor={expected[4]}&offset=2{extra}")
    assert got == expected[7:]


def test_paging_keeps_filter_and_sort(api: TestClient, twin: Twin) -> None:
    feats = [f for f in twin_features(twin, "roads") if f["properties"]["road_class"] != "internal"]
    expected = [f["id"] for f in sorted(feats, key=lambda f: f["properties"]["code"], reverse=True)]
    got, pages = all_pages(api, "/collections/roads/items?limit=3&filter=road_class<>'internal'&sortby=-code")
    assert got == expected
    assert pages == math.ceil(len(expected) / 3)


def test_limit_above_the_maximum_gets_the_maximum(venue: tuple[Path, Path]) -> None:
    """OGC API - Features: a limit above the server's maximum is not an error; the page holds at most
    the maximum and its next link asks for the maximum."""
    with client(venue[0], max_limit=3) as c:
        doc = c.get("/collections/halls/items?limit=10001").json()
        assert doc["numberReturned"] == 3 < doc["numberMatched"], doc
        (nxt,) = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        assert "limit=3" in nxt and "offset=3" in nxt, nxt
        # however large: above 2**62 was 400 "≤ 4611686018427387904", against the README
        for huge in ("99999999999999999999999", "9" * 200):
            r = c.get(f"/collections/halls/items?limit={huge}")
            assert r.status_code == 200, r.text
            assert r.json()["numberReturned"] == 3
        assert c.get("/versions?limit=99999999999999999999999").json()["numberReturned"] <= 1000


def test_item_equals_the_twin_with_etag_and_links(api: TestClient, twin: Twin) -> None:
    for layer in SPATIAL:
        fid = twin.feature_ids(layer)[0]
        r = api.get(f"/collections/{layer}/items/{fid}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/geo+json")
        assert r.headers["content-crs"] == f"<{CRS84}>"
        etag = r.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
        doc = r.json()
        stored = orjson.loads(twin.feature(layer, fid))
        assert doc["id"] == fid and doc["properties"] == stored["properties"] and doc["geometry"] == stored["geometry"]
        assert local(link(doc, "self")["href"]) == f"/collections/{layer}/items/{fid}"  # type: ignore[index]
        assert local(link(doc, "collection")["href"]) == f"/collections/{layer}"  # type: ignore[index]
        assert api.get(f"/collections/{layer}/items/{fid}").headers["etag"] == etag  # stable


def test_head_request_on_an_item_answers_like_get(api: TestClient) -> None:
    """OPTIONS advertises HEAD (Allow: GET, HEAD, ...); a client checks an ETag with HEAD."""
    allow = api.options("/collections/halls/items/hall-1.1H").headers["allow"]
    assert "HEAD" in allow
    got = api.get("/collections/halls/items/hall-1.1H")
    head = api.head("/collections/halls/items/hall-1.1H")
    assert head.status_code == 200, head.status_code
    assert head.headers["etag"] == got.headers["etag"]
    assert head.content == b""
    assert api.head("/collections/halls/items").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/collections/nope",
        "/collections/nope/items",
        "/collections/nope/items/hall-1.1H",
        "/collections/nope/queryables",
        "/collections/nope/download",
        "/collections/nope/items/x/history",
        "/collections/halls/items/no-such-hall",
        "/collections/halls/items/no-such-hall/history",
        "/collections/halls/items/road-zhuguang-1",  # an id of another layer
    ],
)
def test_unknown_collection_or_feature_is_404(api: TestClient, url: str) -> None:
    problem_of(api.get(url), 404)


# ---------------------------------------------------------------------------- HTML and negotiation
@pytest.mark.parametrize(
    "url,text",
    [
        ("/", "场馆数字孪生"),  # the home page, in Chinese by default
        ("/conformance", "ogcapi-features-1"),
        ("/collections", "展馆"),
        ("/collections/halls", "展馆"),
        ("/collections/halls/queryables", "floor_area_m2"),
        ("/collections/halls/items", "1.1H"),
        ("/collections/halls/items/hall-2.1H", "HL-02"),
    ],
)
def test_html_views(api: TestClient, url: str, text: str) -> None:
    for r in (api.get(url, params={"f": "html"}), api.get(url, headers={"Accept": "text/html"})):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.text.lstrip().lower().startswith("<!doctype html")
        assert text in r.text


def test_format_negotiation(api: TestClient) -> None:
    r = api.get("/collections/halls/items", params={"f": "json", "limit": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    r = api.get("/collections/halls/items", headers={"Accept": "application/geo+json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    problem_of(api.get("/collections/halls/items", params={"f": "xml"}), 400, "f")
    assert api.get("/collections/halls/items", headers={"Accept": "application/xml"}).status_code == 406


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),  # a browser
        ("text/html", "text/html"),
        ("application/json, text/html", "text/html"),
        ("application/json, text/html;q=0.5", "application/geo+json"),  # JSON preferred, HTML a fallback
        ("text/html;q=0, application/json", "application/geo+json"),  # HTML refused outright
        ("text/html;q=0.1, */*", "application/geo+json"),
        ("*/*", "application/geo+json"),
        ("application/geo+json", "application/geo+json"),
        ("", "application/geo+json"),
    ],
)
def test_accept_weighs_its_q_values(api: TestClient, accept: str, media: str) -> None:
    for url in ("/collections/halls/items?limit=1", "/collections/halls/items/hall-1.1H"):
        r = api.get(url, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), (url, r.headers["content-type"])
    assert api.get("/collections/halls/items", headers={"Accept": "text/html;q=0, application/xml"}).status_code == 406


# ---------------------------------------------------------------------------- strict query parameters
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/halls",
        "/collections/halls/queryables",
        "/collections/halls/items",
        "/collections/halls/items/hall-1.1H",
        "/collections/halls/items/hall-1.1H/history",
        "/collections/halls/download",
        "/versions",
        "/versions/HEAD",
        "/diff?from=HEAD~1",
    ],
)
def test_unknown_query_parameter_is_400_naming_it(api: TestClient, url: str) -> None:
    sep = "&" if "?" in url else "?"
    body = problem_of(api.get(f"{url}{sep}bboxx=121.29,31.18,121.30,31.19"), 400, "bboxx")
    assert "bboxx" in body["detail"]


@pytest.mark.parametrize(
    "query,parameter",
    [
        ("filter=level='0m'&filter=hall_type='exhibition'", "filter"),  # not both: the first was dropped
        ("limit=2&limit=5", "limit"),
        ("bbox=121.29,31.18,121.30,31.19&bbox=0,0,1,1", "bbox"),
    ],
)
def test_a_query_parameter_given_twice_is_400_naming_it(api: TestClient, query: str, parameter: str) -> None:
    body = problem_of(api.get(f"/collections/halls/items?{query}"), 400, parameter)
    assert "twice" in body["detail"] or "times" in body["detail"]


@pytest.mark.parametrize(
    "url,parameter",
    [
        ("/collections/halls/items?limit=ten", "limit"),
        ("/collections/halls/items?limit=0", "limit"),
        ("/collections/halls/items?limit=-5", "limit"),
        ("/collections/halls/items?offset=-1", "offset"),
        ("/collections/halls/items?offset=1.5", "offset"),
        ("/collections/halls/items?offset=99999999999999999999", "offset"),
        ("/collections/halls/items?bbox=121.29,31.18,121.30", "bbox"),
        ("/collections/halls/items?bbox=a,b,c,d", "bbox"),
        ("/collections/halls/items?bbox=121.29,31.19,121.30,31.18", "bbox"),  # minx > maxx crosses the antimeridian
        ("/collections/halls/items?bbox=nan,31.18,121.30,31.19", "bbox"),
        ("/collections/halls/items?bbox=", "bbox"),  # empty: not the same as no bbox
        ("/collections/projects/items?bbox=121.29,31.18,121.30,31.19", "bbox"),  # records have no geometry
        ("/collections/halls/items?cursor=hall-2.1H&sortby=-code", "cursor"),  # a cursor pages in id order
        ("/collections/halls/items?sortby=--code", "sortby"),
        ("/collections/halls/items?sortby=%2B-code", "sortby"),
        ("/collections/halls/items?bbox-crs=" + EPSG4549, "bbox-crs"),
        ("/collections/halls/items?bbox=1,2,3,4&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/99999", "bbox-crs"),
        ("/collections/halls/items?bbox=0,0,1e12,1e12&bbox-crs=" + EPSG4549, "bbox"),
        ("/collections/halls/items?crs=http://www.opengis.net/def/crs/EPSG/0/99999", "crs"),
        ("/collections/halls/items?crs=EPSG:4549", "crs"),
        ("/collections/halls/items/hall-1.1H?crs=nonsense", "crs"),
        (
            "/collections/halls/items?filter-crs=http://www.opengis.net/def/crs/EPSG/0/3395&filter=level='0m'",
            "filter-crs",
        ),
        ("/versions?limit=abc", "limit"),
        ("/versions?limit=0", "limit"),
        ("/versions?offset=-1", "offset"),
        ("/versions?offset=99999999999999999999", "offset"),
        ("/diff", "from"),
        ("/diff?from=not-a-version", "from"),
        ("/diff?from=HEAD~1&to=yesterday", "to"),
        ("/collections/halls/download?f=dxf", "f"),
        ("/collections/halls/download?crs=http://www.opengis.net/def/crs/EPSG/0/99999", "crs"),
    ],
)
def test_invalid_query_parameter_is_400_naming_it(api: TestClient, url: str, parameter: str) -> None:
    problem_of(api.get(url), 400, parameter)


# ---------------------------------------------------------------------------- Part 2: CRS
def _pairs(api: TestClient, layer: str, crs: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(CRS84 coordinates, coordinates in `crs`) of every feature of `layer`, matched by id."""
    base = {f["id"]: f for f in items(api, layer)["features"]}
    r = api.get(f"/collections/{layer}/items", params={"limit": 10000, "crs": crs})
    assert r.status_code == 200, r.text
    assert r.headers["content-crs"] == f"<{crs}>"
    out = r.json()["features"]
    assert sorted(f["id"] for f in out) == sorted(base)
    return [(coords(base[f["id"]]), coords(f)) for f in out]


@pytest.mark.parametrize("layer", SPATIAL)
def test_crs_epsg_4549_is_northing_first_and_matches_pyproj(api: TestClient, layer: str) -> None:
    for lonlat, out in _pairs(api, layer, EPSG4549):
        east, north = T_4549.transform(lonlat[:, 0], lonlat[:, 1])
        assert np.all(out[:, 0] > 3_000_000), "northing first"  # ~3.45e6 m at 31.19 N
        assert np.all(out[:, 1] < 1_000_000)  # easting ~623 km (false easting 500 km, CM 120 E)
        assert np.max(np.abs(out[:, 0] - north)) < 0.01
        assert np.max(np.abs(out[:, 1] - east)) < 0.01


def test_crs_epsg_4326_is_latitude_first(api: TestClient) -> None:
    for lonlat, out in _pairs(api, "landscaping", EPSG4326):
        assert np.all((out[:, 0] > 31) & (out[:, 0] < 32)), "latitude first"
        assert np.allclose(out[:, ::-1], lonlat, atol=1e-9, rtol=0)


def test_crs_cgcs2000_4490_is_latitude_first(api: TestClient) -> None:
    for lonlat, out in _pairs(api, "halls", EPSG4490):
        lon, lat = T_4490.transform(lonlat[:, 0], lonlat[:, 1])
        assert np.allclose(out[:, 0], lat, atol=1e-7, rtol=0)
        assert np.allclose(out[:, 1], lon, atol=1e-7, rtol=0)


def test_crs_web_mercator_3857_is_easting_first(api: TestClient) -> None:
    for lonlat, out in _pairs(api, "roads", EPSG3857):
        x, y = T_3857.transform(lonlat[:, 0], lonlat[:, 1])
        assert np.max(np.abs(out[:, 0] - x)) < 0.01 and np.max(np.abs(out[:, 1] - y)) < 0.01


def test_single_item_in_another_crs(api: TestClient, twin: Twin) -> None:
    r = api.get("/collections/halls/items/hall-1.1H", params={"crs": EPSG4549})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG4549}>"
    lonlat = coords(orjson.loads(twin.feature("halls", "hall-1.1H")))
    east, north = T_4549.transform(lonlat[:, 0], lonlat[:, 1])
    out = coords(r.json())
    assert np.max(np.abs(out[:, 0] - north)) < 0.01 and np.max(np.abs(out[:, 1] - east)) < 0.01
    # An ETag names the stored version, whatever CRS it is shown in.
    assert r.headers["etag"] == api.get("/collections/halls/items/hall-1.1H").headers["etag"]


# ---------------------------------------------------------------------------- bbox
def _intersecting(twin: Twin, layer: str, area: shapely.Geometry) -> list[str]:
    return sorted(f["id"] for f in twin_features(twin, layer) if shapely.intersects(geom(f), area))


BBOXES = [
    (121.2930, 31.1880, 121.2950, 31.1900),  # the west halls
    (121.2900, 31.1855, 121.3060, 31.1870),  # a strip along the south side
    (121.2965, 31.1908, 121.2983, 31.1924),  # the centre of the clover (GC and the leaves' stems)
]


@pytest.mark.parametrize("layer", SPATIAL)
def test_bbox_selects_exactly_the_intersecting_features(api: TestClient, twin: Twin, layer: str) -> None:
    for box in BBOXES:
        expected = _intersecting(twin, layer, shapely.box(*box))
        doc = items(api, layer, bbox=",".join(map(str, box)))
        assert sorted(ids(doc)) == expected, box
        assert doc["numberMatched"] == len(expected)
        # EPSG:4326 takes the same box latitude first.
        lat_first = (box[1], box[0], box[3], box[2])
        doc = items(api, layer, bbox=",".join(map(str, lat_first)), **{"bbox-crs": EPSG4326})
        assert sorted(ids(doc)) == expected, box
        # A 3D bbox (heights ignored) selects the same.
        doc = items(api, layer, bbox=f"{box[0]},{box[1]},-10,{box[2]},{box[3]},100")
        assert sorted(ids(doc)) == expected, box


@pytest.mark.parametrize(
    ("bbox", "bbox_crs", "order"),
    [
        ("31.186,121.292,31.196,121.302", None, "lon,lat"),  # CRS84 given latitude first
        ("121.292,31.186,121.302,31.196", EPSG4326, "lat,lon"),  # EPSG:4326 given longitude first
        ("121.292,31.186,121.302,31.196", EPSG4490, "lat,lon"),
        ("623100,3452300,624600,3453500", EPSG4549, "northing,easting"),  # 4549 given easting first
    ],
)
def test_bbox_in_the_wrong_axis_order_is_400_saying_so(
    api: TestClient, bbox: str, bbox_crs: str | None, order: str
) -> None:
    """A bbox wholly outside its CRS's area that its axes swapped would put over the venue is the
    axis-order slip every GIS user makes once: 400 saying the order, not 200 with nothing in it."""
    params = {"bbox": bbox} | ({"bbox-crs": bbox_crs} if bbox_crs else {})
    body = problem_of(api.get("/collections/halls/items", params=params), 400, "bbox")
    assert order in body["detail"] and "swapped" in body["detail"], body["detail"]
    a, b, c, d = bbox.split(",")
    swapped = {"bbox": f"{b},{a},{d},{c}"} | ({"bbox-crs": bbox_crs} if bbox_crs else {})
    assert items(api, "halls", **swapped)["numberMatched"] > 0


def _projected_range(epsg: int) -> tuple[float, float, float, float]:
    """Where a projected CRS is valid, x-first in its metres: its area of use's projected bounds."""
    crs = CRS.from_epsg(epsg)
    assert crs.area_of_use is not None
    t = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    w, s, e, n = crs.area_of_use.bounds
    pad = (e - w) / 2  # the range reaches half the area's width past its east and west edges
    return t.transform_bounds(max(w - pad, -180), s, min(e + pad, 180), n, densify_pts=21)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("bbox", "bbox_crs", "epsg", "words"),
    [
        # easting beyond web mercator's +-20037508.34 (it wrapped round the world, to 200 with nothing)
        ("30000000,0,30001000,1000", EPSG3857, 3857, "out of range"),
        ("13502000,90000000,13503000,90001000", EPSG3857, 3857, "out of range"),
        # lon/lat typed where metres are expected: a box 0.01 m wide off Africa, far from the venue
        ("121.292,31.186,121.302,31.196", EPSG3857, 3857, "degrees"),
        # EPSG:4549 takes northing,easting in metres: degrees lie outside its projected bounds
        ("31.186,121.292,31.196,121.302", EPSG4549, 4549, "degrees"),
        ("121.292,31.186,121.302,31.196", EPSG4549, 4549, "degrees"),
        # lon/lat beyond its range: no place at all
        ("500,500,600,600", None, None, "out of range"),
    ],
)
def test_a_bbox_out_of_its_crss_range_is_400_naming_the_crs_and_range(
    api: TestClient, bbox: str, bbox_crs: str | None, epsg: int | None, words: str
) -> None:
    params = {"bbox": bbox} | ({"bbox-crs": bbox_crs} if bbox_crs else {})
    body = problem_of(api.get("/collections/halls/items", params=params), 400, "bbox")
    detail = body["detail"]
    assert words in detail and "swapped" not in detail, detail
    if epsg is None:
        assert "CRS84" in detail and "-180 to 180" in detail and "-90 to 90" in detail, detail
    else:
        assert f"EPSG:{epsg}" in detail, detail
        x0, y0, x1, y1 = _projected_range(epsg)
        assert f"easting from {x0:.2f} to {x1:.2f}" in detail and f"northing from {y0:.2f} to {y1:.2f}" in detail


def test_a_bbox_just_past_a_strips_area_of_use_is_a_place(api: TestClient) -> None:
    """EPSG:4549's area of use ends at 121.5°E, but Shanghai runs to 122.2°E and its surveyors use the
    strip past its edge: a box over Pudong airport (121.8°E) is a question (nothing of the venue there),
    not a refusal."""
    east, north = T_4549.transform(121.80, 31.15)
    box = f"{north - 500},{east - 500},{north + 500},{east + 500}"  # northing first
    r = api.get("/collections/halls/items", params={"bbox": box, "bbox-crs": EPSG4549})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == 0


def test_a_bbox_partly_beyond_web_mercators_range_is_cut_to_it(api: TestClient, twin: Twin) -> None:
    """A map zoomed out past the world's edge (QGIS sends its view) asks for what lies in range."""
    _, y0 = T_3857.transform(121.29, 31.186)
    _, y1 = T_3857.transform(121.30, 31.196)
    doc = items(api, "halls", bbox=f"-30000000,{y0},30000000,{y1}", **{"bbox-crs": EPSG3857})
    assert sorted(ids(doc)) == _intersecting(twin, "halls", shapely.box(-180, 31.186, 180, 31.196))
    assert doc["numberMatched"] > 0


def test_bbox_is_a_real_filter(api: TestClient, twin: Twin) -> None:
    sizes = [len(_intersecting(twin, "halls", shapely.box(*b))) for b in BBOXES]
    assert all(0 < n < twin.count("halls") for n in sizes[::2]), sizes


def _box_4549(twin: Twin, around: tuple[float, float], half_e: float, half_n: float) -> tuple[float, ...]:
    e, n = T_4549.transform(*around)
    return (e - half_e, n - half_n, e + half_e, n + half_n)


def _intersecting_4549(twin: Twin, layer: str, box_en: tuple[float, ...]) -> list[str]:
    area = shapely.box(*box_en)
    out = []
    for f in twin_features(twin, layer):
        g = shapely.transform(geom(f), lambda xy: np.column_stack(T_4549.transform(xy[:, 0], xy[:, 1])))
        if shapely.intersects(g, area):
            out.append(f["id"])
    return sorted(out)


@pytest.mark.parametrize("layer", ["halls", "roads", "landscaping"])
def test_bbox_crs_epsg_4549_selects_what_the_box_covers(api: TestClient, twin: Twin, layer: str) -> None:
    """bbox-crs EPSG:4549 takes northing first; it selects the features the box meets in that CRS."""
    for centre, half in (((121.2960, 31.1895), 300.0), ((121.2990, 31.1880), 700.0)):
        e0, n0, e1, n1 = _box_4549(twin, centre, half, half)
        expected = _intersecting_4549(twin, layer, (e0, n0, e1, n1))
        doc = items(api, layer, bbox=f"{n0},{e0},{n1},{e1}", **{"bbox-crs": EPSG4549})
        assert sorted(ids(doc)) == expected, (centre, half)


def test_bbox_crs_epsg_4549_and_the_equivalent_crs84_bbox_agree(api: TestClient, twin: Twin) -> None:
    """A CRS84 bbox and the same region given in EPSG:4549 select the same halls."""
    box = (121.2935, 31.1885, 121.2975, 31.1915)
    inv = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
    for layer in ("halls", "south_plaza", "landscaping"):
        expected = sorted(ids(items(api, layer, bbox=",".join(map(str, box)))))
        region = shapely.transform(
            shapely.box(*box).segmentize(0.0001), lambda xy: np.column_stack(T_4549.transform(xy[:, 0], xy[:, 1]))
        )
        e0, n0, e1, n1 = region.bounds
        # The 4549 box around the region is slightly larger than it: only features close to the
        # edge may differ, and the exact answer is the features that 4549 box meets.
        doc = items(api, layer, bbox=f"{n0},{e0},{n1},{e1}", **{"bbox-crs": EPSG4549})
        got = sorted(ids(doc))
        assert set(expected) <= set(got)
        outer = shapely.transform(
            shapely.box(e0, n0, e1, n1).segmentize(5), lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1]))
        )
        assert got == _intersecting(twin, layer, outer)


def test_bbox_crs_epsg_4549_is_exact_at_its_edge(api: TestClient, twin: Twin) -> None:
    """A 4549 box that stops 3 m east of a hall must not return the hall.

    EPSG:4549's grid is turned about 0.7° from lon/lat here, so the lon/lat bounds of a tall box
    stick out several metres beyond its sides; a server that filters by those bounds alone
    returns features the box does not reach.
    """
    hall = orjson.loads(twin.feature("halls", "hall-1.1H"))
    g = shapely.transform(geom(hall), lambda xy: np.column_stack(T_4549.transform(xy[:, 0], xy[:, 1])))
    _, _, hx1, _ = g.bounds
    cy = g.centroid.y
    box = (hx1 + 3.0, cy - 1500.0, hx1 + 1200.0, cy + 1500.0)  # east, north ranges in metres
    expected = _intersecting_4549(twin, "halls", box)
    assert "hall-1.1H" not in expected
    doc = items(api, "halls", bbox=f"{box[1]},{box[0]},{box[3]},{box[2]}", **{"bbox-crs": EPSG4549})
    assert sorted(ids(doc)) == expected


# ---------------------------------------------------------------------------- time travel
def test_every_read_at_every_version(api: TestClient, twin: Twin) -> None:
    log = twin.log(100_000)
    assert len(log) >= 10
    for c in log:
        ref = twin.resolve(c.id)
        for layer in LAYER_NAMES:
            r = api.get(f"/collections/{layer}/items", params={"limit": 10000, "version": c.id})
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["numberMatched"] == twin.count(layer, ref), (layer, c.seq)
            assert ids(doc) == twin.feature_ids(layer, ref), (layer, c.seq)
            assert r.headers["x-twin-version"] == c.id == doc["twin:version"]
            assert "max-age" in r.headers.get("cache-control", "")  # a named version never changes
    # HEAD~n and unique prefixes name the same versions.
    for n in sorted({0, 1, len(log) // 2, len(log) - 1}):
        c = log[n]
        for version in (f"HEAD~{n}", c.id[:10], c.id.upper()):
            doc = items(api, "roads", version=version)
            assert doc["twin:version"] == c.id and ids(doc) == twin.feature_ids("roads", twin.resolve(c.id))


def test_the_flower_display_as_it_was(api: TestClient, twin: Twin) -> None:
    """The placeholder (528,000 pots) until the 2026 design of 18 September (590,000 pots)."""
    url = "/collections/south_plaza/items/sp-flower-display"
    before = {"asof": "2026-09-01"}, {"datetime": "2026-09-17T23:00:00+08:00"}, {"version": bundled(twin, 6)}
    after = {"asof": "2026-09-19"}, {"datetime": "2026-10-01T00:00:00Z"}, {"version": bundled(twin, 7)[:12]}
    for params in before:
        r = api.get(url, params=params)
        assert r.status_code == 200, (params, r.text)
        assert r.json()["properties"]["pots"] == 528000, params
    for params in after:
        assert api.get(url, params=params).json()["properties"]["pots"] == 590000, params
    # The ETag names the version: an old version has another one.
    old, new = (api.get(url, params={"version": bundled(twin, n)}).headers["etag"] for n in (6, 7))
    assert old != new


def test_time_travel_on_items_filter_bbox_and_crs_together(api: TestClient, twin: Twin) -> None:
    ref = twin.resolve(asof="2026-09-01")
    feats = [f for f in twin_features(twin, "landscaping", ref) if f["properties"]["kind"] == "flower_bed"]
    expected = sorted(f["id"] for f in feats if shapely.intersects(geom(f), shapely.box(121.28, 31.18, 121.31, 31.20)))
    doc = items(
        api,
        "landscaping",
        asof="2026-09-01",
        filter="kind='flower_bed'",
        bbox="121.28,31.18,121.31,31.20",
        crs=EPSG4549,
    )
    assert sorted(ids(doc)) == expected and len(expected) == 4
    assert doc["twin:version"] == ref.commit.id  # type: ignore[union-attr]
    checkpoint = items(api, "landscaping", filter="kind='flower_bed'", version=bundled(twin, 10))
    assert checkpoint["numberMatched"] == 5  # the Metro Line 17 bed came on 28 October


def test_a_deleted_feature_is_still_readable_in_the_past(api: TestClient, twin: Twin) -> None:
    url = "/collections/south_plaza/items/sp-walkway-temp"
    problem_of(api.get(url), 404)
    problem_of(api.get(url, params={"version": bundled(twin, 9)}), 404)
    assert api.get(url, params={"version": bundled(twin, 8)}).status_code == 200
    assert api.get(url, params={"asof": "2026-10-01"}).status_code == 200
    problem_of(api.get(url, params={"asof": "2026-10-21"}), 404)


def test_before_the_first_commit_the_twin_says_it_has_no_data(api: TestClient) -> None:
    """Not an empty collection (which reads as "no halls"): the date is before the history, as the
    completion reads say (tests/test_api_engineer.py checks every as-of read)."""
    detail = problem_of(api.get("/collections/halls/items", params={"asof": "2026-01-01"}), 404, "asof")["detail"]
    assert "the twin has no data on 2026-01-01: its history starts on 2026-06-" in detail, detail


@pytest.mark.parametrize(
    "query,parameter",
    [
        ("datetime=2026-07-01&version=HEAD", "datetime"),
        ("datetime=2026-07-01/2026-08-01", "datetime"),
        ("datetime=../2026-08-01", "datetime"),
        ("datetime=garbage", "datetime"),
        ("datetime=2026-13-45", "datetime"),
        ("version=HEAD~1&asof=2026-07-01", "version"),
        ("version=zz", "version"),
        ("version=HEAD~-1", "version"),
        ("version=abcdef0123", "version"),  # well formed, but no such commit
        ("version=", "version"),  # empty: the message names version, not asof
        ("version=&asof=2026-07-01", "version"),
        ("asof=someday", "asof"),
        ("asof=2026-07-01T08:00:00", "asof"),  # no time zone
    ],
)
def test_bad_time_travel_parameters_are_400(api: TestClient, query: str, parameter: str) -> None:
    problem_of(api.get(f"/collections/halls/items?{query}"), 400, parameter)
    if "datetime=" not in query or "/" not in query:
        problem_of(api.get(f"/collections/halls/items/hall-1.1H?{query}"), 400, parameter)


@pytest.mark.parametrize("text", ["20261028", "2026-W44", "2026-W44-3", "2026-10-28T1300Z"])
def test_a_time_in_a_form_rfc_3339_does_not_have_is_refused_as_such(api: TestClient, text: str) -> None:
    """ISO 8601 forms beyond RFC 3339 (basic, week dates) are named as not RFC 3339, not read as a
    timestamp 'without a time zone' that the caller never wrote."""
    detail = problem_of(api.get("/collections/halls/items", params={"asof": text}), 400, "asof")["detail"]
    assert "not an RFC 3339 timestamp" in detail and "time zone" not in detail, detail


# ---------------------------------------------------------------------------- Part 3: filters
def _expect(twin: Twin, layer: str, pred: Any) -> list[str]:
    return sorted(f["id"] for f in twin_features(twin, layer) if pred(f["properties"]))


FILTERS = [
    ("halls", "level='16m'", lambda p: p["level"] == "16m"),
    ("halls", "floor_area_m2 > 25000", lambda p: (p.get("floor_area_m2") or 0) > 25000),
    (
        "halls",
        "floor_area_m2 >= 25000 AND hall_type = 'exhibition' AND level = '0m'",
        lambda p: (p.get("floor_area_m2") or 0) >= 25000 and p["hall_type"] == "exhibition" and p["level"] == "0m",
    ),
    ("halls", "code IN ('1.1H', 'NH', 'GC', '9.9H')", lambda p: p["code"] in ("1.1H", "NH", "GC")),
    ("halls", "name_en LIKE 'Hall 2%'", lambda p: p["name_en"].startswith("Hall 2")),
    ("halls", "NOT (level = '0m')", lambda p: p["level"] != "0m"),
    ("halls", "project_code IS NULL", lambda p: p.get("project_code") is None),
    (
        "roads",
        "road_class = 'arterial' OR works = 'ramp'",
        lambda p: p["road_class"] == "arterial" or p.get("works") == "ramp",
    ),
    ("roads", "lanes BETWEEN 2 AND 4", lambda p: p.get("lanes") is not None and 2 <= p["lanes"] <= 4),
    (
        "landscaping",
        "pots > 30000 OR trees >= 46",
        lambda p: (p.get("pots") or 0) > 30000 or (p.get("trees") or 0) >= 46,
    ),
    ("south_plaza", "temporary = true", lambda p: p.get("temporary") is True),
    ("landscaping", "responsible_unit LIKE '%绿化%'", lambda p: "绿化" in p["responsible_unit"]),
    # Functions beyond the declared classes that the evaluator knows (and so are not refused).
    ("halls", "CASEI(code) = casei('nh')", lambda p: p["code"].lower() == "nh"),
    ("halls", "floor_area_m2 * 2 > 70000", lambda p: (p.get("floor_area_m2") or 0) * 2 > 70000),
]


@pytest.mark.parametrize("layer,text,pred", FILTERS, ids=[f[1] for f in FILTERS])
def test_cql2_text_filter_selects_exactly_the_matching_features(
    api: TestClient, twin: Twin, layer: str, text: str, pred: Any
) -> None:
    expected = _expect(twin, layer, pred)
    doc = items(api, layer, filter=text)
    assert sorted(ids(doc)) == expected
    assert doc["numberMatched"] == len(expected)
    same = items(api, layer, filter=text, **{"filter-lang": "cql2-text"})
    assert sorted(ids(same)) == expected


def test_some_filters_select_some_but_not_all(twin: Twin) -> None:
    """The filter cases above are worth running: each selects a proper, non-empty subset (most of them)."""
    proper = [1 for layer, _, pred in FILTERS if 0 < len(_expect(twin, layer, pred)) < twin.count(layer)]
    assert len(proper) >= len(FILTERS) - 2


def test_cql2_json_filter_equals_the_text_one(api: TestClient, twin: Twin) -> None:
    js = orjson.dumps(
        {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "level"}, "0m"]},
                {"op": ">", "args": [{"property": "floor_area_m2"}, 25000]},
            ],
        }
    ).decode()
    expected = _expect(twin, "halls", lambda p: p["level"] == "0m" and (p.get("floor_area_m2") or 0) > 25000)
    assert 0 < len(expected) < 17
    assert sorted(ids(items(api, "halls", filter=js, **{"filter-lang": "cql2-json"}))) == expected
    assert sorted(ids(items(api, "halls", filter="level='0m' AND floor_area_m2>25000"))) == expected


def test_spatial_filter(api: TestClient, twin: Twin) -> None:
    area = shapely.Polygon([(121.2930, 31.1880), (121.2980, 31.1880), (121.2930, 31.1930), (121.2930, 31.1880)])
    for layer in ("halls", "roads", "landscaping"):
        expected = _intersecting(twin, layer, area)
        doc = items(api, layer, filter=f"S_INTERSECTS(geometry, {area.wkt})")
        assert sorted(ids(doc)) == expected, layer
    pt = shapely.Point(121.2949, 31.1902)
    expected = _intersecting(twin, "halls", pt)
    assert expected  # the point is inside hall 2.1H and 2.2H
    assert sorted(ids(items(api, "halls", filter=f"S_INTERSECTS(geometry,{pt.wkt})"))) == expected
    # `geom` names the geometry too (a filter on it used to match nothing, with a 200)
    assert sorted(ids(items(api, "halls", filter=f"S_INTERSECTS(geom,{pt.wkt})"))) == expected
    js = orjson.dumps(
        {"op": "s_intersects", "args": [{"property": "geom"}, {"type": "Point", "coordinates": [121.2949, 31.1902]}]}
    )
    assert sorted(ids(items(api, "halls", filter=js.decode(), **{"filter-lang": "cql2-json"}))) == expected


def test_filter_at_a_past_version(api: TestClient, twin: Twin) -> None:
    """Only the flower display has pots on the plaza; the other zones have none (a null, not a 0)."""
    design, placeholder = bundled(twin, 7), bundled(twin, 6)
    assert ids(items(api, "south_plaza", filter="pots > 550000", version=design)) == ["sp-flower-display"]
    assert ids(items(api, "south_plaza", filter="pots > 550000", version=placeholder)) == []
    assert ids(items(api, "south_plaza", filter="pots > 500000", version=placeholder)) == ["sp-flower-display"]


def test_in_with_properties_and_unreal_dates_are_answered_not_silently_empty(api: TestClient) -> None:
    """An IN list of properties matched nothing (200, no feature), and a date that is not on the
    calendar, DATE('2026-13-01'), matched nothing too; the first is read as ORs of `=`, the second
    is a 400 naming it."""

    def ids(text: str) -> list[str]:
        r = api.get("/collections/projects/items", params={"filter": text, "limit": 1000})
        assert r.status_code == 200, r.text
        return sorted(f["id"] for f in r.json()["features"])

    on_day = ids("planned_start = DATE('2026-09-01') OR planned_finish = DATE('2026-09-01')")
    assert on_day and ids("DATE('2026-09-01') IN (planned_start, planned_finish)") == on_day
    for bad in ("planned_start = DATE('2026-13-01')", "planned_start IN (DATE('2026-02-30'), DATE('2026-09-01'))",
                "progress_date < TIMESTAMP('2026-13-45T99:00:00Z')"):  # fmt: skip
        detail = problem_of(api.get("/collections/projects/items", params={"filter": bad}), 400, "filter")["detail"]
        assert "is not a real" in detail and ("2026-13" in detail or "2026-02-30" in detail), detail


def test_in_and_not_in_compare_dates_as_equals_does(api: TestClient, twin: Twin) -> None:
    """cql2 0.6 evaluates IN with DATE()/TIMESTAMP() members as never equal (IN gave 0, NOT IN all)."""
    day = _expect(twin, "projects", lambda p: p.get("planned_start") == "2026-09-01")
    others = _expect(twin, "projects", lambda p: p.get("planned_start") not in (None, "2026-09-01"))
    assert day and others
    assert sorted(ids(items(api, "projects", filter="planned_start = DATE('2026-09-01')"))) == day
    for text in (
        "planned_start IN (DATE('2026-09-01'))",
        "planned_start IN (DATE('2026-09-01'), DATE('1999-01-01'))",
        "planned_start IN (TIMESTAMP('2026-09-01T00:00:00Z'))",
        '{"op":"in","args":[{"property":"planned_start"},[{"date":"2026-09-01"}]]}',
    ):
        assert sorted(ids(items(api, "projects", filter=text))) == day, text
    for text in ("planned_start NOT IN (DATE('2026-09-01'))", "planned_start <> DATE('2026-09-01')"):
        assert sorted(ids(items(api, "projects", filter=text))) == others, text


HALL_POINT = (121.2949, 31.1902)  # inside halls 2.1H and 2.2H


def test_filter_crs_takes_the_collections_crss_in_their_axis_order(api: TestClient, twin: Twin) -> None:
    """filter-crs EPSG:4549 (northing first) and EPSG:4326 (lat first) give the same halls as CRS84."""
    expected = _intersecting(twin, "halls", shapely.Point(HALL_POINT))
    assert expected
    e, n = T_4549.transform(*HALL_POINT)
    for text, crs in (
        (f"S_INTERSECTS(geometry, POINT({n} {e}))", EPSG4549),
        (f"S_INTERSECTS(geometry, POINT({HALL_POINT[1]} {HALL_POINT[0]}))", EPSG4326),
        (f"S_INTERSECTS(geometry, POINT({HALL_POINT[0]} {HALL_POINT[1]}))", CRS84),
    ):
        assert sorted(ids(items(api, "halls", filter=text, **{"filter-crs": crs}))) == expected, crs
    # A BBOX in 4549 selects what the box covers in that CRS, as bbox-crs does.
    e0, n0, e1, n1 = _box_4549(twin, (121.2960, 31.1895), 300.0, 300.0)
    box = f"BBOX({n0},{e0},{n1},{e1})"
    doc = items(api, "halls", filter=f"S_INTERSECTS(geometry, {box})", **{"filter-crs": EPSG4549})
    assert sorted(ids(doc)) == _intersecting_4549(twin, "halls", (e0, n0, e1, n1))
    body = problem_of(
        api.get("/collections/halls/items", params={"filter": "level='0m'", "filter-crs": "EPSG:99999"}),
        400,
        "filter-crs",
    )
    assert EPSG4549 in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("text", "crs", "words"),
    [
        ("S_INTERSECTS(geometry, BBOX(31.188,121.293,31.192,121.297))", None, "lon,lat"),
        ("S_INTERSECTS(geometry, POINT(31.189 121.295))", None, "lon,lat"),
        ("S_INTERSECTS(geometry, POINT(121.295 31.189))", EPSG4326, "lat,lon"),
        ("S_INTERSECTS(geometry, POINT(623800 3452900))", EPSG4549, "northing,easting"),
        ("S_INTERSECTS(geometry, POINT(500 500))", None, "out of range"),
        # one part or one vertex of many: it met the area with the rest and was passed over
        ("S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(121.2947 31.1901), POINT(500 500)))", None, "out of range"),
        ("S_INTERSECTS(geometry, MULTIPOINT((121.2947 31.1901),(500 500)))", None, "out of range"),
        ("S_INTERSECTS(geometry, LINESTRING(121.2947 31.1901, 31.1935 121.2990))", None, "lon,lat"),
        ("S_INTERSECTS(geometry, POLYGON((121.29 31.18,121.30 31.18,121.30 95,121.29 31.18)))", None, "out of range"),
        # web mercator: beyond its easting's range (it wrapped), northing beyond its area (it read
        # "with its axes swapped it lies inside", which it does not), degrees typed for metres
        ("S_INTERSECTS(geometry, POINT(30000000 3657000))", EPSG3857, "easting from -20037508.34 to 20037508.34"),
        ("S_INTERSECTS(geometry, POINT(13503000 90000000))", EPSG3857, "out of range"),
        ("S_INTERSECTS(geometry, POINT(121.295 31.19))", EPSG3857, "degrees"),
        ("S_INTERSECTS(geometry, BBOX(121.292,31.186,121.302,31.196))", EPSG3857, "degrees"),
        ("S_INTERSECTS(geometry, POINT(31.19 121.295))", EPSG4549, "degrees"),
    ],
)
def test_a_filter_geometry_out_of_range_is_400_saying_so(
    api: TestClient, text: str, crs: str | None, words: str
) -> None:
    params = {"filter": text} | ({"filter-crs": crs} if crs else {})
    body = problem_of(api.get("/collections/halls/items", params=params), 400, "filter")
    assert words in body["detail"], body["detail"]
    if words in ("out of range", "degrees") or "from" in words:
        assert "swapped" not in body["detail"], body["detail"]


def test_a_geometrycollection_literal_of_one_member_filters(api: TestClient, twin: Twin) -> None:
    """CQL2 text allows GEOMETRYCOLLECTION(POINT(...)); cql2's JSON Schema wants two members."""
    expected = _intersecting(twin, "halls", shapely.Point(HALL_POINT))
    x, y = HALL_POINT
    for text in (
        f"S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT({x} {y})))",
        f"S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT({x} {y}), POINT(0 0)))",
    ):
        assert sorted(ids(items(api, "halls", filter=text))) == expected, text


@pytest.mark.parametrize(
    "query,parameter",
    [
        ("filter=no_such_field='x'", "filter"),
        ("filter=level=", "filter"),
        ("filter=level = '0m' AND", "filter"),
        ("filter=", "filter"),
        ('filter={"op":"bogus"}&filter-lang=cql2-json', "filter"),
        # A function the evaluator does not know fails on every feature: a 400, not an empty page.
        ('filter={"op":"bogus","args":[{"property":"level"}]}&filter-lang=cql2-json', "filter"),
        ("filter=foo(level) = 'x'", "filter"),
        ("filter=S_INTERSECTS(geometry, ENVELOPE(121, 31, 122, 32))", "filter"),  # ECQL's; CQL2 says BBOX
        ('filter={"op":"=","args":[{"property":"level"}]}&filter-lang=cql2-json', "filter"),  # one argument
        ("filter=floor_area_m2 > 'large'", "filter"),  # a number compared with text
        ("filter=S_INTERSECTS(level, POINT(121.2949 31.1902))", "filter"),  # not a geometry: never true
        ("filter=T_AFTER(level, TIMESTAMP('2020-01-01T00:00:00Z'))", "filter"),  # not a declared class
        ("filter=A_CONTAINS(level, ('0m'))", "filter"),  # not a declared class
        ("filter=level='0m'&filter-lang=cql3", "filter-lang"),
        ("filter-lang=cql2-text", "filter-lang"),
    ],
)
def test_bad_filters_are_400(api: TestClient, query: str, parameter: str) -> None:
    problem_of(api.get(f"/collections/halls/items?{query}"), 400, parameter)


def test_queryables_describe_every_field(api: TestClient, twin: Twin) -> None:
    types = {
        "string": "string",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
        "date": "string",
        "list": "array",
    }
    for layer in LAYER_NAMES:
        r = api.get(f"/collections/{layer}/queryables")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/schema+json")
        doc = r.json()
        schema = twin.layer(layer)
        geometry = {"geometry"} if schema.geometry_types else set()
        assert set(doc["properties"]) - {"geometry"} == {"id"} | {f.name for f in schema.fields}
        assert geometry <= set(doc["properties"])
        if schema.geometry_type:  # the one geometry type, as OGC API - Features Part 5 names it
            fmt = doc["properties"]["geometry"]["format"]
            assert fmt.startswith(f"geometry-{schema.geometry_type.removeprefix('Multi').lower()}"), (layer, fmt)
            collection = api.get(f"/collections/{layer}").json()
            assert collection["twin:geometryType"] == schema.geometry_type
        for f in schema.fields:
            assert doc["properties"][f.name]["type"] == types[f.type], (layer, f.name)
            if f.allowed is not None:
                assert doc["properties"][f.name]["enum"] == list(f.allowed)
        # Every queryable can be filtered on.
        for name in doc["properties"]:
            if name != "geometry":
                assert (
                    api.get(f"/collections/{layer}/items", params={"filter": f"{name} IS NOT NULL"}).status_code == 200
                )


# ---------------------------------------------------------------------------- sortby and properties
def test_sortby_descending_then_ascending(api: TestClient, twin: Twin) -> None:
    feats = twin_features(twin, "halls")
    expected = [
        f["id"]
        for f in sorted(feats, key=lambda f: (-(f["properties"].get("floor_area_m2") or 0), f["properties"]["code"]))
    ]
    assert ids(items(api, "halls", sortby="-floor_area_m2,code")) == expected
    assert ids(items(api, "halls", sortby="-floor_area_m2,+code")) == expected
    by_code = [f["id"] for f in sorted(feats, key=lambda f: f["properties"]["code"])]
    assert ids(items(api, "halls", sortby="code")) == by_code
    assert ids(items(api, "halls", sortby="-code")) == by_code[::-1]
    page = items(api, "halls", sortby="code", limit=5, offset=5)
    assert ids(page) == by_code[5:10] and page["numberMatched"] == 17


@pytest.mark.parametrize("value", ["no_such_field", "-", ",,", "code,,level"])
def test_bad_sortby_is_400(api: TestClient, value: str) -> None:
    problem_of(api.get("/collections/halls/items", params={"sortby": value}), 400, "sortby")


def test_properties_selects_properties(api: TestClient, twin: Twin) -> None:
    full = {f["id"]: f for f in twin_features(twin, "halls")}
    doc = items(api, "halls", properties="code,floor_area_m2")
    assert len(doc["features"]) == 17
    for f in doc["features"]:
        want = {k: v for k, v in full[f["id"]]["properties"].items() if k in ("code", "floor_area_m2")}
        assert f["properties"] == want
        assert f["geometry"] == full[f["id"]]["geometry"]
    problem_of(api.get("/collections/halls/items", params={"properties": "code,secret"}), 400, "properties")


# ---------------------------------------------------------------------------- versions, diff, history
def test_versions_list_every_commit_newest_first(api: TestClient, twin: Twin) -> None:
    log = twin.log(100_000)
    first = api.get("/versions").json()
    assert first["numberMatched"] == twin.store.commit_count() == len(log) >= 10
    assert first["numberReturned"] == len(first["versions"]) == min(50, len(log))
    doc = api.get("/versions", params={"limit": 1000}).json()
    assert [v["id"] for v in doc["versions"]] == [c.id for c in log]
    for v, c in zip(doc["versions"], log, strict=True):
        assert v["author"] == c.author and v["message"] == c.message and v["seq"] == c.seq
        assert v["counts"] == c.counts and v["parent"] == c.parent
    assert doc["versions"][-1]["author"].startswith("王建国")
    got: list[str] = []
    url = "/versions?limit=7"
    while url:
        page = api.get(url).json()
        got += [v["id"] for v in page["versions"]]
        nxt = link(page, "next")
        url = local(nxt["href"]) if nxt else ""
    assert got == [c.id for c in log]


def test_one_version_lists_its_changes(api: TestClient, twin: Twin) -> None:
    for c in twin.log(100_000):
        for key in (c.id, c.id[:10]):
            r = api.get(f"/versions/{key}")
            assert r.status_code == 200
            doc = r.json()
            assert doc["id"] == c.id and doc["counts"] == c.counts
            expected = sorted((ch.layer, ch.op, ch.feature_id) for ch in twin.store.changes_in(c.seq))
            assert sorted((x["collection"], x["op"], x["id"]) for x in doc["changes"]) == expected
    assert api.get("/versions/HEAD~1").json()["id"] == twin.log(2)[1].id
    problem_of(api.get("/versions/abcdef0123"), 404)
    problem_of(api.get("/versions/HEAD~100000"), 404)
    problem_of(api.get("/versions/not-hex"), 400)


def _diff_entries(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((f["twin:layer"], f["id"], f["twin:change"]) for f in doc["features"])


@pytest.mark.parametrize(
    "frm,to",
    [
        ("HEAD~3", "HEAD"),
        ("HEAD~9", "HEAD~5"),
        ("2026-09-01", "2026-10-21"),
        ("HEAD", "HEAD~3"),
        ("2026-01-01", "HEAD"),
    ],
)
def test_diff_equals_the_twin_diff(api: TestClient, twin: Twin, frm: str, to: str) -> None:
    def ref(text: str) -> Any:
        return twin.resolve(text) if text.startswith("HEAD") else twin.resolve(asof=text)

    a, b = ref(frm), ref(to)
    expected = twin.diff(a, b)
    r = api.get("/diff", params={"from": frm, "to": to})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert _diff_entries(doc) == sorted((e.layer, e.feature_id, e.kind) for e in expected)
    assert doc["twin:from"] == (a.commit.id if a.commit else None) and doc["twin:to"] == b.commit.id
    counts: dict[str, dict[str, int]] = {}
    for e in expected:
        counts.setdefault(e.layer, {"added": 0, "modified": 0, "deleted": 0})[e.kind] += 1
    assert doc["twin:counts"] == counts
    assert expected  # every case above spans some change
    for f in doc["features"]:
        if f["twin:change"] == "modified":
            before = next(e.before for e in expected if e.feature_id == f["id"] and e.layer == f["twin:layer"])
            assert before is not None
            assert f["twin:before"]["properties"] == orjson.loads(before)["properties"]


def test_diff_counts_a_schema_change_apart_from_the_features(venue: tuple[Path, Path], tmp_path: Path) -> None:
    """A layer's schema change is an entry of the diff, not a feature: it was counted as one
    ("surveys: added 8" for 7 surveys, "roads: modified 1" for a new field), so scripts adding up
    the changed features overcounted. Counted as `schema`, as `venue-twin diff --stat` and the
    log count it."""
    store = copy_store(venue[0], tmp_path / "venue.gpkg")
    with Twin.open(store) as t:
        t.alter_layer("roads", {"add_fields": [{"name": "lighting", "type": "string"}]}, author="test")
    with client(store) as api:
        doc = api.get("/diff", params={"from": "HEAD~1"}).json()
    assert doc["twin:counts"] == {"roads": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}
    assert [f["twin:change"] for f in doc["features"]] == ["modified"]  # the schema's own entry, listed


def test_diff_of_known_commits(api: TestClient, twin: Twin) -> None:
    c8, c9 = venue_commit(twin, 8), venue_commit(twin, 9)
    doc = api.get("/diff", params={"from": c8.parent, "to": c8.id}).json()  # the hall 2 renovation
    assert _diff_entries(doc) == [("halls", "hall-2.1H", "modified"), ("halls", "hall-2.2H", "modified")]
    f = doc["features"][0]
    assert f["properties"]["project_code"] == "HL-02" and f["twin:before"]["properties"].get("project_code") is None
    doc = api.get("/diff", params={"from": c9.parent, "to": c9.id}).json()  # the walkway removed
    assert ("south_plaza", "sp-walkway-temp", "deleted") in _diff_entries(doc)
    back = api.get("/diff", params={"from": c9.id, "to": c9.parent}).json()
    assert ("south_plaza", "sp-walkway-temp", "added") in _diff_entries(back)


def test_diff_in_another_crs_is_easting_first_and_named(api: TestClient, twin: Twin) -> None:
    # An engineer working in CGCS2000 got "unknown query parameter 'crs'" from /diff.
    uri = "http://www.opengis.net/def/crs/EPSG/0/4549"
    plain = api.get("/diff", params={"from": "2026-09-01", "collections": "halls,landscaping"}).json()
    r = api.get("/diff", params={"from": "2026-09-01", "collections": "halls,landscaping", "crs": uri})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{uri}>"
    doc = r.json()
    assert doc["twin:crs"] == "EPSG:4549" and "twin:crs" not in plain
    assert _diff_entries(doc) == _diff_entries(plain)
    to = Transformer.from_crs(4326, 4549, always_xy=True)
    pairs = [(p, m) for p, m in zip(plain["features"], doc["features"], strict=True) if p.get("geometry")]
    assert any(p["twin:change"] == "modified" for p, _ in pairs)
    for p, m in pairs:
        for key in ("geometry", "before"):
            a = p["geometry"] if key == "geometry" else (p.get("twin:before") or {}).get("geometry")
            b = m["geometry"] if key == "geometry" else (m.get("twin:before") or {}).get("geometry")
            if a is None:
                continue
            want = shapely.transform(shapely.geometry.shape(a), lambda xy: np.column_stack(to.transform(*xy.T)))
            assert shapely.equals_exact(shapely.geometry.shape(b), want, 1e-6), (p["id"], key)
    problem_of(api.get("/diff", params={"from": "2026-09-01", "crs": "EPSG:4549"}), 400)  # a URI, as items take


def test_diff_limited_to_collections(api: TestClient, twin: Twin) -> None:
    a, b = twin.resolve(asof="2026-06-20"), twin.resolve()
    doc = api.get("/diff", params={"from": "2026-06-20", "collections": "south_plaza,roads"}).json()
    assert _diff_entries(doc) == sorted(
        (e.layer, e.feature_id, e.kind) for e in twin.diff(a, b, ["south_plaza", "roads"])
    )
    assert set(doc["twin:counts"]) == {"south_plaza", "roads"}
    problem_of(api.get("/diff", params={"from": "2026-06-20", "collections": "south_plaza,nope"}), 404)


def test_history_of_a_renovated_hall(api: TestClient, twin: Twin) -> None:
    doc = api.get("/collections/halls/items/hall-2.1H/history").json()
    hist = twin.history("halls", "hall-2.1H")
    assert [v["op"] for v in doc["versions"]] == [h.op for h in hist] == ["add", "modify"]
    assert [v["commit"]["id"] for v in doc["versions"]] == [h.commit.id for h in hist]
    assert doc["versions"][0]["endedBy"] == hist[1].commit.id and doc["versions"][1]["endedBy"] is None
    assert doc["versions"][1]["commit"]["author"].startswith("周敏")
    assert doc["versions"][0]["feature"]["properties"].get("project_code") is None
    assert doc["versions"][1]["feature"]["properties"]["project_code"] == "HL-02"


def test_history_of_a_deleted_feature(api: TestClient, twin: Twin) -> None:
    doc = api.get("/collections/south_plaza/items/sp-walkway-temp/history").json()
    assert doc["versions"][-1]["op"] == "delete" and doc["versions"][-1]["feature"] is None
    assert doc["versions"][-1]["commit"]["id"] == bundled(twin, 9)
    assert doc["versions"][0]["op"] == "add"


# ---------------------------------------------------------------------------- downloads
def _read_download(content: bytes, fmt: str, tmp_path: Path) -> Any:
    """The downloaded file as one data frame (every layer of it: a zip may hold a shapefile per shape type)."""
    import pandas as pd

    out = tmp_path / f"download{FORMATS[fmt].extension}"
    out.write_bytes(content)
    frames = [pyogrio.read_dataframe(out, layer=name) for name, _ in pyogrio.list_layers(out)]
    assert len({f.crs.to_epsg() for f in frames}) == 1
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_download_every_format(api: TestClient, twin: Twin, tmp_path: Path, fmt: str) -> None:
    for layer in ("halls", "landscaping"):
        r = api.get(f"/collections/{layer}/download", params={"f": fmt})
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0] == FORMATS[fmt].media_type
        head = twin.head()
        assert f'filename="{layer}-{head.id[:12]}{FORMATS[fmt].extension}"' in r.headers["content-disposition"]  # type: ignore[union-attr]
        assert r.headers["x-twin-version"] == head.id  # type: ignore[union-attr]
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
            assert sorted(row["feature_id"] for row in rows) == twin.feature_ids(layer)
            continue
        df = _read_download(r.content, fmt, tmp_path)
        assert len(df) == twin.count(layer)
        assert sorted(df["feature_id"]) == twin.feature_ids(layer)
        assert df.crs.to_epsg() == 4326


def test_a_download_names_its_crs_in_content_crs(api: TestClient, tmp_path: Path) -> None:
    """The items name their CRS in Content-Crs; a download named none. Its file holds the CRS it
    says, easting (lon) first whatever the CRS's axis order, as GIS files do (README, Downloads)."""
    e4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"
    items = api.get("/collections/halls/items", params={"limit": 1, "crs": e4549})
    for fmt in ("geojson", "gpkg"):
        r = api.get("/collections/halls/download", params={"f": fmt})
        assert r.status_code == 200 and r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
        r = api.get("/collections/halls/download", params={"f": fmt, "crs": e4549})
        assert r.headers["content-crs"] == items.headers["content-crs"] == f"<{e4549}>"
        df = _read_download(r.content, fmt, tmp_path)
        assert df.crs.to_epsg() == 4549
        x, y = shapely.get_coordinates(df.geometry.iloc[0])[0]
        assert 300_000 < x < 700_000 and 3_000_000 < y < 4_000_000  # easting first in the file
        first = items.json()["features"][0]["geometry"]["coordinates"][0][0]
        assert first[0] > 3_000_000  # the items: the CRS's own order, northing first
    # a layer of records (no geometry) has no CRS to name
    assert "content-crs" not in api.get("/collections/projects/download", params={"f": "csv"}).headers


def test_datetime_reads_downloads_schemas_and_surveys_as_asof_does(api: TestClient, twin: Twin) -> None:
    """Every read takes datetime= (README): the download, the layer schema and the surveys refused it
    as an unknown parameter."""
    then = twin.resolve("HEAD~3").commit
    assert then is not None
    instant = then.time.isoformat().replace("+00:00", "Z")
    for path in ("/collections/roads/download?f=geojson", "/collections/roads/schema", "/surveys"):
        by_datetime = api.get(path, params={"datetime": instant})
        by_asof = api.get(path, params={"asof": instant})
        assert by_datetime.status_code == 200, (path, by_datetime.text)
        if path == "/surveys":  # its self link is the address asked
            assert by_datetime.json()["surveys"] == by_asof.json()["surveys"]
        else:
            assert by_datetime.content == by_asof.content, path
        before = problem_of(api.get(path, params={"datetime": "2020-01-01T00:00:00Z"}), 404)
        assert "history" in before["detail"], (path, before)
    problem_of(api.get("/surveys", params={"datetime": "2026-10-01T00:00:00Z", "version": "HEAD"}), 400, "datetime")


def test_pages_of_other_origins_may_call_the_api_unless_told_otherwise(venue: tuple[Path, Path]) -> None:
    """A web app of another origin (an engineer's dashboard) could not read the API from a browser:
    no CORS headers. Reads, refusals and a write's preflight now carry them (VENUE_TWIN_CORS_ORIGINS,
    "*" by default; "" for none)."""
    origin = {"Origin": "https://dashboard.example"}
    with client(venue[0]) as api:
        r = api.get("/collections/halls/items?limit=1", headers=origin)
        assert r.headers["access-control-allow-origin"] == "*" and "ETag" in r.headers["access-control-expose-headers"]
        assert api.get("/collections/nope", headers=origin).headers["access-control-allow-origin"] == "*"
        pre = api.options(
            "/collections/halls/items",
            headers=origin
            | {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        )
        assert pre.status_code == 200 and "POST" in pre.headers["access-control-allow-methods"]
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        plain = api.options("/collections/halls/items")  # no preflight: the API's own answer
        assert "POST" in plain.headers["allow"]
    with client(venue[0], cors_origins="https://ops.example") as api:
        assert "access-control-allow-origin" not in api.get("/collections", headers=origin).headers
        ops = api.get("/collections", headers={"Origin": "https://ops.example"})
        assert ops.headers["access-control-allow-origin"] == "https://ops.example"
    with client(venue[0], cors_origins="") as api:
        assert "access-control-allow-origin" not in api.get("/collections", headers=origin).headers


def test_download_at_a_version_and_in_another_crs(api: TestClient, twin: Twin, tmp_path: Path) -> None:
    ref = twin.resolve(bundled(twin, 9))
    r = api.get("/collections/landscaping/download", params={"f": "gpkg", "version": bundled(twin, 9)})
    df = _read_download(r.content, "gpkg", tmp_path)
    assert sorted(df["feature_id"]) == twin.feature_ids("landscaping", ref)
    assert len(df) == twin.count("landscaping", twin.resolve(bundled(twin, 10))) - 1  # the Metro Line 17 bed
    r = api.get("/collections/halls/download", params={"f": "gpkg", "crs": EPSG4549})
    df = _read_download(r.content, "gpkg", tmp_path)
    assert df.crs.to_epsg() == 4549
    # named apart from the CRS84 file (a browser kept one of the two)
    head = twin.head()
    assert head is not None and f'filename="halls-{head.id[:12]}-epsg4549.gpkg"' in r.headers["content-disposition"]
    stored = {f["id"]: coords(f) for f in twin_features(twin, "halls")}
    for fid, g in zip(df["feature_id"], df.geometry, strict=True):
        east, north = T_4549.transform(stored[fid][:, 0], stored[fid][:, 1])
        got = shapely.get_coordinates(g)
        assert np.max(np.abs(got[:, 0] - east)) < 0.01 and np.max(np.abs(got[:, 1] - north)) < 0.01
    r = api.get("/collections/south_plaza/download", params={"f": "geojson", "asof": "2026-06-20"})
    assert r.status_code == 200 and orjson.loads(r.content)["features"] == []  # before the plaza zones


def test_a_deeply_nested_filter_is_refused_not_a_crash(api: TestClient) -> None:
    """cql2's parser recurses on the native stack: ~2,000 nested parentheses overflowed it and
    killed the server process on one GET. Depth is checked first (in a child, so that a crash
    fails this test instead of the run)."""
    import subprocess
    import sys

    code = (
        "from twin.query import parse_filter\n"
        "from twin.errors import BadInput\n"
        "for text in ['(' * 5000 + 'a=1' + ')' * 5000, 'NOT ' * 1000 + 'a=1',\n"
        "             '{\"op\":\"not\",\"args\":[' * 3000 + 'true' + ']}' * 3000]:\n"
        "    try:\n"
        "        parse_filter(text)\n"
        "    except BadInput as e:\n"
        "        assert 'nested too deeply' in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('accepted')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    r = api.get("/collections/halls/items", params={"filter": "(" * 40 + "floor_area_m2>1" + ")" * 40})
    assert r.status_code == 400 and "nested too deeply" in r.json()["detail"]
    ok = api.get("/collections/halls/items", params={"filter": "((floor_area_m2>1) AND NOT (level='9m'))"})
    assert ok.status_code == 200


# ---------------------------------------------------------------------------- a version-pinned root
# /versions/{versionId}/ serves the reads again, as of that version, for clients that open a service
# by its address and follow its links (GDAL's OAPIF driver, QGIS), which keep no query string of
# ours on the links they follow.
def _walk(api: TestClient, url: str, root: str) -> list[dict[str, Any]]:
    """Every feature of an items URL, following its next links, each of which must stay under `root`."""
    out: list[dict[str, Any]] = []
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["features"]
        nxt = link(page, "next")
        url = local(nxt["href"]) if nxt else ""
        assert not url or (url.startswith(root) and "version=" not in url), url
    return out


def test_a_pinned_root_reads_every_layer_as_of_its_version(api: TestClient, twin: Twin) -> None:
    old = twin.resolve(bundled(twin, 3))
    back = twin.head().seq - old.commit.seq
    root = f"/versions/HEAD~{back}"
    listed = api.get(root + "/collections").json()
    assert [c["id"] for c in listed["collections"]] == [s.name for s in twin.layers(old)]
    for layer in [s.name for s in twin.layers(old)]:
        features = _walk(api, f"{root}/collections/{layer}/items?limit=7", f"/versions/{old.commit.id}/")
        assert sorted(f["id"] for f in features) == sorted(twin.feature_ids(layer, old)), layer
        assert len(features) == twin.count(layer, old)
        doc = api.get(f"{root}/collections/{layer}/items", params={"limit": 1}).json()
        assert doc["numberMatched"] == twin.count(layer, old) and doc["twin:version"] == old.commit.id
    # roads has grown since, and a road was edited since: the pinned root gives the old ones
    assert twin.count("roads", old) < twin.count("roads")
    then = orjson.loads(twin.feature("roads", "road-zhuguang-2", old))
    now = orjson.loads(twin.feature("roads", "road-zhuguang-2"))
    assert then != now
    got = api.get(f"{root}/collections/roads/items/road-zhuguang-2").json()
    assert got["properties"] == then["properties"] and got["geometry"] == then["geometry"]
    assert api.get("/collections/roads/items/road-zhuguang-2").json()["properties"] == now["properties"]


def test_a_pinned_roots_links_name_the_commit_it_resolved_to(api: TestClient, twin: Twin) -> None:
    old = twin.resolve(bundled(twin, 3)).commit
    pinned = f"http://testserver/versions/{old.id}"
    landing = api.get("/versions/HEAD~5/")
    at5 = twin.resolve("HEAD~5").commit.id
    hrefs = {lk["rel"]: lk["href"] for lk in landing.json()["links"]}
    assert hrefs["data"] == f"http://testserver/versions/{at5}/collections"
    assert hrefs["service-desc"] == f"http://testserver/versions/{at5}/api"
    assert hrefs["latest-version"] == "http://testserver/"
    doc = api.get(f"/versions/{old.id[:10]}/collections/halls").json()
    by_rel = {(lk["rel"], lk["type"]): lk["href"] for lk in doc["links"]}
    assert by_rel[("self", "application/json")] == pinned + "/collections/halls"
    assert by_rel[("items", "application/geo+json")] == pinned + "/collections/halls/items"
    # pages, tiles and downloads are not under the root: they take the version as a parameter
    assert by_rel[("items", "text/html")].endswith(f"/collections/halls/items?f=html&version={old.id}")
    download = by_rel[("enclosure", "application/geopackage+sqlite3")]
    assert download == f"http://testserver/collections/halls/download?f=gpkg&version={old.id}"
    assert doc["extent"]["temporal"]["interval"][0][1] == old.time.isoformat().replace("+00:00", "Z")
    assert not any(lk["type"] == "text/html" and lk["rel"] == "alternate" for lk in doc["links"])
    queryables = api.get(f"/versions/{old.id}/collections/halls/queryables").json()
    assert queryables["$id"] == pinned + "/collections/halls/queryables"
    page = api.get(f"/versions/{old.id}/collections/halls/items", params={"limit": 5}).json()
    assert link(page, "next")["href"] == pinned + "/collections/halls/items?limit=5&offset=5"
    assert link(page, "collection")["href"] == pinned + "/collections/halls"
    one = api.get(f"/versions/{old.id}/collections/halls/items/hall-2.1H").json()
    assert link(one, "self")["href"] == pinned + "/collections/halls/items/hall-2.1H"
    # the pinned definition lists the reads, for that root
    definition = api.get(f"/versions/{old.id}/api").json()
    assert definition["servers"] == [{"url": pinned}]
    assert "/collections/halls/items" in definition["paths"]
    assert all(set(ops) == {"get"} for ops in definition["paths"].values())


def test_a_pinned_root_is_cached_for_good_only_when_named_by_full_commit_id(api: TestClient, twin: Twin) -> None:
    full = bundled(twin, 3)
    for path in ("/", "/collections", "/collections/halls", "/collections/halls/items", "/api"):
        r = api.get(f"/versions/{full}{path}")
        assert r.status_code == 200 and r.headers["x-twin-version"] == full
        assert r.headers["cache-control"] == "max-age=31536000, immutable", path
        moving = api.get(f"/versions/HEAD~1{path}")
        assert moving.headers["cache-control"] == "no-cache", path
        assert api.get(f"/versions/{full[:12]}{path}").headers["cache-control"] == "no-cache", path


def test_a_pinned_root_takes_no_other_version(api: TestClient, twin: Twin) -> None:
    root = f"/versions/{bundled(twin, 3)}"
    for query, parameter in (
        ("version=HEAD", "version"),
        ("asof=2026-07-01", "asof"),
        ("datetime=2026-07-01T00:00:00Z", "datetime"),
    ):
        detail = problem_of(api.get(f"{root}/collections/halls/items?{query}"), 400, parameter)["detail"]
        assert "its path names" in detail
        problem_of(api.get(f"{root}/collections/halls/items/hall-2.1H?{query}"), 400, parameter)
        problem_of(api.get(f"{root}/collections/halls?{query}"), 400, parameter)
    problem_of(api.get(f"{root}/collections/halls/items?bbx=1,2,3,4"), 400, "bbx")
    problem_of(api.get(f"{root}/collections/halls/items?f=html"), 400, "f")
    problem_of(api.get(f"{root}/collections/nope"), 404)
    problem_of(api.get("/versions/abcdef0123/collections"), 404)  # well formed, no such commit
    problem_of(api.get("/versions/HEAD~100000/collections/halls/items"), 404)
    problem_of(api.get("/versions/zz/collections"), 400)


def test_the_documents_of_the_twin_now_say_where_its_versions_are(api: TestClient) -> None:
    for url in ("/collections?version=HEAD~3", "/collections/halls?asof=2026-07-01", "/?datetime=2026-07-01"):
        detail = problem_of(api.get(url, headers={"Accept": "application/json"}), 400)["detail"]
        assert "unknown query parameter" in detail and "/versions/{version}/" in detail, detail


def test_a_pinned_root_is_read_only(venue: tuple[Path, Path], tmp_path: Path) -> None:
    store = copy_store(venue[0], tmp_path / "venue.gpkg")  # a file, or a PostGIS copy's URL
    tokens = make_tokens(store)
    with client(store) as c:
        editor = {"Authorization": f"Bearer {tokens['editor']}"}
        n = c.get("/versions?limit=1").json()["numberMatched"]
        item = "/versions/HEAD/collections/halls/items/hall-2.1H"
        body = orjson.dumps({"type": "Feature", "geometry": None, "properties": {"notes": "x"}})
        for method, url in (("PUT", item), ("PATCH", item), ("DELETE", item), ("POST", item.rsplit("/", 1)[0])):
            r = c.request(method, url, content=body, headers={**editor, "Content-Type": "application/geo+json"})
            detail = problem_of(r, 405)["detail"]
            assert r.headers["allow"] == "GET, HEAD, OPTIONS"
            assert "no edit changes" in detail and "/collections/halls/items" in detail, detail
        r = c.options("/versions/HEAD/collections/halls/items")
        assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS"
        assert c.get("/versions?limit=1").json()["numberMatched"] == n
        # a search (a CQL2 JSON filter) is a read: 303 to the GET under the same root
        search = orjson.dumps({"op": "=", "args": [{"property": "level"}, 16]})
        r = c.post(
            "/versions/HEAD~2/collections/halls/items",
            content=search,
            headers={"Content-Type": "application/json"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert urlsplit(r.headers["location"]).path == "/versions/HEAD~2/collections/halls/items"


def test_a_pinned_root_hides_what_the_caller_may_not_see(tmp_path: Path) -> None:
    store = build_restricted_venue(tmp_path / "venue.gpkg", ("engineer",))
    tokens = make_tokens(store)
    secret = RESTRICTED.name
    with client(store) as c:
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        engineer = {"Authorization": f"Bearer {tokens['engineer']}"}
        head = c.get("/versions/HEAD", headers=engineer).json()["id"]  # touched halls and the hidden layer
        for who, shown in ((viewer, False), ({}, False), (engineer, True)):
            names = [x["id"] for x in c.get(f"/versions/{head}/collections", headers=who).json()["collections"]]
            assert (secret in names) is shown
            paths = c.get(f"/versions/{head}/api", headers=who).json()["paths"]
            assert (f"/collections/{secret}/items" in paths) is shown
            for url in (f"/collections/{secret}", f"/collections/{secret}/items", f"/collections/{secret}/queryables"):
                r = c.get(f"/versions/{head}{url}", headers=who)
                if shown:
                    assert r.status_code == 200, (url, r.text)
                    continue
                hidden = problem_of(r, 404)["detail"]
                missing = problem_of(c.get(f"/versions/{head}{url.replace(secret, 'nope')}", headers=who), 404)
                assert hidden.replace(secret, "X") == missing["detail"].replace("nope", "X")
            if not shown:
                problem_of(c.options(f"/versions/{head}/collections/{secret}/items", headers=who), 404)
        # a commit that touched only the hidden layer is no version to the others
        only_secret = c.get("/versions/HEAD~1", headers=engineer).json()["id"]
        problem_of(c.get(f"/versions/{only_secret}/collections", headers=viewer), 404)
        assert c.get(f"/versions/{only_secret}/collections", headers=engineer).status_code == 200


# ---------------------------------------------------------------------------- edges a tester found
def test_a_version_before_the_history_or_unknown_answers_alike_everywhere(api: TestClient, twin: Twin) -> None:
    """HEAD~n back to the empty twin or past it is before the history (404 no_data_then, as an
    as-of time before it is), and a commit id that names no commit a bad version (400 "no
    commit"; 404 in a path, /versions/{id} and the roots under it) — in the same words on
    /versions/{id}, the items, a pinned root, /versions and /diff."""
    n = twin.commit_count()
    first = twin.first_commit()
    assert first is not None
    oldest = api.get(f"/versions/HEAD~{n - 1}")
    assert oldest.status_code == 200 and oldest.json()["id"] == first.id
    for back in (n, n + 1):
        for url, parameter in (
            (f"/versions/HEAD~{back}", "version"),
            (f"/collections/halls/items?version=HEAD~{back}", "version"),
            (f"/versions/HEAD~{back}/collections/halls/items", "version"),
            (f"/versions?version=HEAD~{back}", "version"),
            (f"/diff?from=HEAD~{n - 1}&to=HEAD~{back}", "to"),
        ):
            body = problem_of(api.get(url), 404, parameter)
            assert body.get("code") == "no_data_then", (url, body)
            assert (
                f"HEAD~{back} is before the twin's history, which starts with commit {first.id[:12]}" in body["detail"]
            )
    details = set()
    for url, status in (
        ("/versions/abcdef0123", 404),  # a path naming no resource
        ("/versions/abcdef0123/collections/halls/items", 404),
        ("/collections/halls/items?version=abcdef0123", 400),  # a parameter naming no commit
        ("/versions?version=abcdef0123", 400),
        ("/diff?from=HEAD&to=abcdef0123", 400),
    ):
        body = problem_of(api.get(url), status)
        details.add(body["detail"].split(": ", 1)[1])
    assert details == {"no commit abcdef0123"}


def test_a_bbox_across_the_antimeridian_reads_both_sides(api: TestClient, twin: Twin) -> None:
    """minx > maxx crosses the antimeridian (OGC API - Features): the venue at 121.3 E lies in the
    part east of 121.28, so such a bbox reads what the box up to 180 does."""
    east = ids(items(api, "halls", bbox="121.28,31.18,180,31.20"))
    assert east
    assert ids(items(api, "halls", bbox="121.28,31.18,-170,31.20")) == east
    assert ids(items(api, "halls", bbox="170,31.18,-170,31.20")) == []
    assert ids(items(api, "halls", bbox="121.28,31.18,-170,31.20", filter="level = '0m'")) == ids(
        items(api, "halls", bbox="121.28,31.18,180,31.20", filter="level = '0m'")
    )
    assert (
        "south edge"
        in problem_of(api.get("/collections/halls/items?bbox=121.28,31.20,121.30,31.18"), 400, "bbox")["detail"]
    )


def test_a_large_filter_is_refused_naming_the_limit_and_a_search_too_big_for_its_url_up_front(api: TestClient) -> None:
    ring = [[121.29 + 0.003 * math.cos(k / 500), 31.19 + 0.003 * math.sin(k / 500)] for k in range(3142)]
    polygon = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    search = orjson.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, polygon]})
    assert len(search) > 80_000
    r = api.post("/collections/roads/items?limit=5", content=search, headers={"Content-Type": "application/json"},
                 follow_redirects=False)  # fmt: skip
    detail = problem_of(r, 400, "filter")["detail"]
    assert "over the limit of 20,000" in detail and "bbox" in detail, detail
    assert "location" not in r.headers
    small = orjson.dumps(
        {"op": "s_intersects", "args": [{"property": "geometry"}, {**polygon, "coordinates": [[*ring[::20], ring[0]]]}]}
    )
    r = api.post("/collections/roads/items?limit=5", content=small, headers={"Content-Type": "application/json"},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and len(r.headers["location"]) < 48 * 1024
    assert api.get(local(r.headers["location"])).status_code == 200
    text = "S_INTERSECTS(geometry, POLYGON((" + ", ".join(f"{x:.5f} {y:.5f}" for x, y in [*ring[::2], ring[0]]) + ")))"
    detail = problem_of(api.get("/collections/roads/items", params={"filter": text}), 400, "filter")["detail"]
    assert "characters, over the limit of 20,000" in detail
