"""OGC API - Tiles: Mapbox Vector Tiles of each collection on WebMercatorQuad, at any version.

Tiles are decoded twice, with mapbox-vector-tile and with GDAL's MVT driver (through pyogrio, and
`ogrinfo`), and compared with what the items API answers for the tile's box: the same feature ids,
and geometries within a tile pixel. Expected boxes come from morecantile and pyproj, not from the
code under test.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import orjson
import pyogrio
import pytest
import shapely
from api_server import (
    CRS84,
    bearer,
    build_restricted_venue,
    build_venue,
    client,
    copy_store,
    make_tokens,
    missing_client,
    problem_of,
)
from fastapi.testclient import TestClient
from pyproj import Transformer

from layers.catalogue import LAYERS
from twin import Twin
from twin import tiles as core_tiles

OGC = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
MVT = "application/vnd.mapbox-vector-tile"
TMS = morecantile.tms.get("WebMercatorQuad")
TO_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
SPATIAL = [s.name for s in LAYERS if s.spatial]
BUFFER_PX, EXTENT = 64, 4096


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("api-tiles")
    store = build_venue(d / "venue.gpkg")
    return store, store, make_tokens(store)  # tokens live in the twin


@pytest.fixture(scope="module")
def api(site: tuple[Path, Path, dict[str, str]]) -> Iterator[TestClient]:
    with client(site[0]) as c:
        yield c


@pytest.fixture
def writable(site: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Iterator[TestClient]:
    with client(copy_store(site[0], tmp_path / "venue.gpkg")) as c:
        yield c


def venue_tile(api: TestClient, z: int = 16) -> morecantile.Tile:
    """The tile at zoom z over the middle of the venue (and of its halls)."""
    minx, miny, maxx, maxy = api.get("/collections/halls").json()["extent"]["spatial"]["bbox"][0]
    return TMS.tile((minx + maxx) / 2, (miny + maxy) / 2, z)


def layer_tile(api: TestClient, layer: str, z: int = 16) -> morecantile.Tile:
    """The venue tile if the layer has features there, else the tile over its first feature (the
    roads ring the venue, so the middle tile has none)."""
    t = venue_tile(api, z)
    if items_in(api, layer, buffered_box(t)):
        return t
    first = api.get(f"/collections/{layer}/items?limit=1").json()["features"][0]
    p = shapely.from_geojson(orjson.dumps(first["geometry"])).point_on_surface()
    return TMS.tile(p.x, p.y, z)


def tile_url(layer: str, t: morecantile.Tile, query: str = "") -> str:
    return f"/collections/{layer}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}" + (f"?{query}" if query else "")


def decoded(body: bytes, layer: str) -> dict[str, dict[str, Any]]:
    """Feature id -> properties of one tile layer, decoded with mapbox-vector-tile."""
    got = mapbox_vector_tile.decode(body)
    assert set(got) == {layer}, got.keys()
    return {f["properties"]["id"]: f["properties"] for f in got[layer]["features"]}


def buffered_box(t: morecantile.Tile) -> tuple[float, float, float, float]:
    b = TMS.xy_bounds(t)
    pad = (b.right - b.left) * BUFFER_PX / EXTENT
    return (b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)


def items_in(
    api: TestClient, layer: str, box3857: tuple[float, float, float, float], query: str = ""
) -> dict[str, Any]:
    """Feature id -> GeoJSON feature of the items API over a 3857 box (asked in lon/lat)."""
    inv = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (x0, x1), (y0, y1) = inv.transform([box3857[0], box3857[2]], [box3857[1], box3857[3]])
    r = api.get(f"/collections/{layer}/items?bbox={x0},{y0},{x1},{y1}&limit=10000" + (f"&{query}" if query else ""))
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["features"]}


def to_3857(feature: dict[str, Any]) -> Any:
    g = shapely.from_geojson(orjson.dumps(feature["geometry"]))
    return shapely.transform(g, lambda xy: np.column_stack(TO_3857.transform(xy[:, 0], xy[:, 1])))


# ---------------------------------------------------------------------------- documents
def test_conformance_and_collections_announce_the_tiles(api: TestClient) -> None:
    declared = set(api.get("/conformance").json()["conformsTo"])
    for cls in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt", "oas30"):
        assert OGC + cls in declared, cls
    for c in api.get("/collections").json()["collections"]:
        rel = [lk for lk in c["links"] if lk["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]
        if c["id"] == "projects":
            assert rel == []  # records without geometry have no tiles
            continue
        assert len(rel) == 1 and rel[0]["href"] == f"http://testserver/collections/{c['id']}/tiles"
    paths = api.get("/api").json()["paths"]
    assert "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}" in paths
    # The landing page leads to the tiling schemes (there was no way to them but the tilesets' links).
    landing = api.get("/").json()["links"]
    schemes = [lk["href"] for lk in landing if lk["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"]
    assert schemes == ["http://testserver/tileMatrixSets"]
    listed = api.get(schemes[0]).json()["tileMatrixSets"]
    assert [m["id"] for m in listed] == ["WebMercatorQuad", "WorldCRS84Quad"]
    for m in listed:  # each leads to its definition, the one morecantile (and GDAL) knows
        assert api.get(m["links"][0]["href"]).json()["id"] == m["id"]
        assert m["uri"] == f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{m['id']}"


def test_tileset_documents_lead_to_the_tiles(api: TestClient) -> None:
    listing = api.get("/collections/halls/tiles")
    assert listing.status_code == 200
    ts, _ = listing.json()["tilesets"]  # WebMercatorQuad first, for web maps that take the first
    assert ts["dataType"] == "vector"
    assert ts["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    doc = api.get(next(lk["href"] for lk in ts["links"] if lk["rel"] == "self")).json()
    links = {lk["rel"]: lk for lk in doc["links"]}
    scheme = api.get(links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"]).json()
    assert scheme["id"] == "WebMercatorQuad" and len(scheme["tileMatrices"]) == 25
    item = links["item"]
    assert item["templated"] is True and item["type"] == MVT
    assert item["href"].endswith("/collections/halls/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
    assert doc["layers"][0]["id"] == "halls" and doc["layers"][0]["geometryDimension"] == 2
    t = venue_tile(api)
    url = item["href"].format(tileMatrix=t.z, tileRow=t.y, tileCol=t.x)
    tile = api.get(url)
    assert tile.status_code == 200 and tile.headers["content-type"] == MVT
    # TileJSON names its placeholders: the URL keeps OGC's {z}/{y}/{x} order.
    tj = api.get(links["alternate"]["href"]).json()
    assert tj["tilejson"] == "3.0.0" and tj["vector_layers"][0]["id"] == "halls"
    assert "floor_area_m2" in tj["vector_layers"][0]["fields"]
    (template,) = tj["tiles"]
    assert template.endswith("/{z}/{y}/{x}")
    assert api.get(template.format(z=t.z, y=t.y, x=t.x)).content == tile.content
    b = tj["bounds"]
    assert b[0] < tj["center"][0] < b[2] and b[1] < tj["center"][1] < b[3]


def test_the_tilesets_box_is_in_the_grids_metres_and_its_layers_in_lon_lat(api: TestClient) -> None:
    """The tileset's boundingBox is in the tile matrix set's CRS, which GDAL's OGCAPI driver takes
    as MINX..MAXY (README, Vector tiles); its layer's is the collection's CRS84 extent."""
    extent = api.get("/collections/halls").json()["extent"]["spatial"]["bbox"][0]
    doc = api.get("/collections/halls/tiles/WebMercatorQuad").json()
    box, layer_box = doc["boundingBox"], doc["layers"][0]["boundingBox"]
    assert box["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    (x0, x1), (y0, y1) = TO_3857.transform([extent[0], extent[2]], [extent[1], extent[3]])
    assert box["lowerLeft"] == pytest.approx([x0, y0]) and box["upperRight"] == pytest.approx([x1, y1])
    assert layer_box == {"lowerLeft": extent[:2], "upperRight": extent[2:], "crs": CRS84}
    # A layer as large as the grid is boxed by the grid's edges, not by infinities past ±85.05°.
    assert core_tiles.mercator_bbox((-180.0, -90.0, 180.0, 90.0)) == pytest.approx(
        (-20037508.342789244, -20037508.342789244, 20037508.342789244, 20037508.342789244)
    )


CRS84_TMS = morecantile.tms.get("WorldCRS84Quad")


def test_the_lon_lat_grid_has_its_own_tileset_boxed_in_degrees(api: TestClient) -> None:
    """WorldCRS84Quad: the grid GDAL's OGCAPI driver picks when offered, on which the collection's
    CRS84 extent it puts on the grid as it is (README, Vector tiles) lands where the tiles are."""
    extent = api.get("/collections/halls").json()["extent"]["spatial"]["bbox"][0]
    doc = api.get("/collections/halls/tiles/WorldCRS84Quad?version=HEAD~1").json()
    assert doc["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WorldCRS84Quad"
    assert doc["crs"] == CRS84 and doc["boundingBox"]["crs"] == CRS84
    assert doc["boundingBox"]["lowerLeft"] == extent[:2] and doc["boundingBox"]["upperRight"] == extent[2:]
    assert doc["layers"][0]["maxTileMatrix"] == str(CRS84_TMS.maxzoom)
    links = {lk["rel"]: lk["href"] for lk in doc["links"]}
    assert "alternate" not in links  # no TileJSON form
    assert links["item"].endswith("/halls/tiles/WorldCRS84Quad/{tileMatrix}/{tileRow}/{tileCol}?version=HEAD~1")


def test_a_lon_lat_tile_holds_what_the_items_api_has_there_in_degrees(api: TestClient) -> None:
    minx, miny, maxx, maxy = api.get("/collections/halls").json()["extent"]["spatial"]["bbox"][0]
    t = CRS84_TMS.tile((minx + maxx) / 2, (miny + maxy) / 2, 16)
    assert t.y < 2**15  # rows count from the top of a grid twice as wide as high: not Web Mercator's row
    r = api.get(f"/collections/halls/tiles/WorldCRS84Quad/{t.z}/{t.y}/{t.x}")
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    b = CRS84_TMS.xy_bounds(t)
    pad = (b.right - b.left) * BUFFER_PX / EXTENT
    box = (b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)
    expected = {
        f["id"]: f
        for f in api.get(f"/collections/halls/items?bbox={','.join(map(str, box))}&limit=1000").json()["features"]
    }
    assert expected and set(decoded(r.content, "halls")) == set(expected)
    # Tile units back to degrees (y up, as mapbox-vector-tile decodes by default): the halls' shapes.
    unit = (b.right - b.left) / EXTENT
    for f in mapbox_vector_tile.decode(r.content)["halls"]["features"]:
        got = shapely.transform(shapely.geometry.shape(f["geometry"]), lambda xy: xy * unit + (b.left, b.bottom))
        want = shapely.clip_by_rect(
            shapely.from_geojson(orjson.dumps(expected[f["properties"]["id"]]["geometry"])), *box
        )
        assert shapely.hausdorff_distance(got, want) <= 1.5 * unit, f["properties"]["id"]
    # The grid's own bounds: two columns at zoom 0, one row.
    assert api.get("/collections/halls/tiles/WorldCRS84Quad/0/0/1").status_code == 200
    assert (
        "rows 0 to 0" in problem_of(api.get("/collections/halls/tiles/WorldCRS84Quad/0/1/0"), 400, "tileRow")["detail"]
    )
    assert (
        "0 to 23" in problem_of(api.get("/collections/halls/tiles/WorldCRS84Quad/24/0/0"), 400, "tileMatrix")["detail"]
    )


def test_a_tileset_of_a_version_describes_the_fields_of_that_version(
    site: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """A tileset (and its TileJSON) pinned to a version listed the head's fields, with a year's
    immutable caching, while its tiles and every other read of that version had the old ones."""
    store = copy_store(site[0], tmp_path / "venue.gpkg")
    with Twin.open(store) as t:
        t.alter_layer("roads", {"add_fields": [{"name": "lighting", "type": "string"}]}, author="test")
    with client(store) as api:
        for grid in ("WebMercatorQuad", "WorldCRS84Quad"):
            then = api.get(f"/collections/roads/tiles/{grid}?version=HEAD~1").json()["layers"][0]["propertiesSchema"]
            now = api.get(f"/collections/roads/tiles/{grid}").json()["layers"][0]["propertiesSchema"]
            assert "lighting" in now["properties"] and "lighting" not in then["properties"], grid
        fields = api.get("/collections/roads/tiles/WebMercatorQuad?f=tilejson&version=HEAD~1").json()
        assert "lighting" not in fields["vector_layers"][0]["fields"]


def test_the_version_asked_for_is_carried_into_the_links(api: TestClient) -> None:
    doc = api.get("/collections/halls/tiles/WebMercatorQuad?version=HEAD~1").json()
    item = next(lk for lk in doc["links"] if lk["rel"] == "item")
    assert item["href"].endswith("{tileCol}?version=HEAD~1")
    tj = api.get("/collections/halls/tiles/WebMercatorQuad?f=tilejson&version=HEAD~1").json()
    assert tj["tiles"][0].endswith("{x}?version=HEAD~1")


# ---------------------------------------------------------------------------- tiles against items
@pytest.mark.parametrize("layer", SPATIAL)
def test_a_z16_tile_over_the_venue_holds_what_the_items_api_has_there(
    api: TestClient, layer: str, tmp_path: Path
) -> None:
    t = layer_tile(api, layer)
    r = api.get(tile_url(layer, t))
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    box = buffered_box(t)
    expected = items_in(api, layer, box)
    assert expected, layer  # the tile is over the layer, not beside it
    # mapbox-vector-tile: the same ids, and every property as the items API has it
    props = decoded(r.content, layer)
    assert set(props) == set(expected)
    for fid, p in props.items():
        want = {
            k: v if not isinstance(v, list | dict) else orjson.dumps(v).decode()
            for k, v in expected[fid]["properties"].items()
            if v is not None
        }
        assert {k: v for k, v in p.items() if k != "id"} == pytest.approx(want), fid
    # GDAL's MVT driver reads one tile from a {z}/{x}/{y}.pbf path (XYZ order, not OGC's).
    path = tmp_path / str(t.z) / str(t.x) / f"{t.y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(r.content)
    df = pyogrio.read_dataframe(path, layer=layer, CLIP="NO")  # as encoded: clipped to the buffer only
    assert df.crs.to_epsg() == 3857
    assert sorted(df["id"]) == sorted(expected)
    pixel = (TMS.xy_bounds(t).right - TMS.xy_bounds(t).left) / EXTENT
    for fid, got in zip(df["id"], df.geometry, strict=True):
        want = shapely.clip_by_rect(to_3857(expected[fid]), *box)
        assert shapely.hausdorff_distance(got, want) <= 1.5 * pixel, (fid, shapely.hausdorff_distance(got, want))


def test_ogrinfo_reads_a_tile(api: TestClient, tmp_path: Path) -> None:
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        missing_client("ogrinfo (GDAL) is not installed")
    t = venue_tile(api)
    path = tmp_path / "halls.mvt"  # not a {z}/{x}/{y} path: the tile is named by open options
    path.write_bytes(api.get(tile_url("halls", t)).content)
    out = subprocess.run(
        [ogrinfo, "-ro", "-so", "-al", "-oo", f"Z={t.z}", "-oo", f"X={t.x}", "-oo", f"Y={t.y}", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    count = len(items_in(api, "halls", buffered_box(t)))
    assert "Layer name: halls" in out and f"Feature Count: {count}" in out, out
    left, bottom = TMS.xy_bounds(t).left, TMS.xy_bounds(t).bottom
    assert "Pseudo-Mercator" in out and "Extent: (" in out
    x0, y0 = (float(v) for v in out.split("Extent: (")[1].split(")")[0].split(","))
    assert x0 >= left - 1 and y0 >= bottom - 1  # georeferenced where the tile is


def test_a_tile_away_from_the_venue_is_a_valid_empty_tile(api: TestClient, tmp_path: Path) -> None:
    r = api.get("/collections/halls/tiles/WebMercatorQuad/16/0/0")
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    assert decoded(r.content, "halls") == {}
    (tmp_path / "e.mvt").write_bytes(r.content)
    assert pyogrio.read_info(tmp_path / "e.mvt", layer="halls", X=0, Y=0, Z=16)["features"] == 0


def test_the_tiles_covering_a_layer_hold_every_feature(api: TestClient) -> None:
    for layer in SPATIAL:
        everything = {f["id"] for f in api.get(f"/collections/{layer}/items?limit=10000").json()["features"]}
        bbox = api.get(f"/collections/{layer}").json()["extent"]["spatial"]["bbox"][0]
        seen: set[str] = set()
        for t in TMS.tiles(*bbox, zooms=[14]):
            seen |= set(decoded(api.get(tile_url(layer, t)).content, layer))
        assert seen == everything, layer
    # At zoom 0 the venue is under a pixel: polygons collapse and are left out, as ST_AsMVTGeom does.
    assert api.get("/collections/halls/tiles/WebMercatorQuad/0/0/0").status_code == 200


# ---------------------------------------------------------------------------- versions and caching
def test_tiles_as_of_a_version_keep_what_was_there(
    writable: TestClient, site: tuple[Path, Path, dict[str, str]]
) -> None:
    api = writable
    t = venue_tile(api)
    before = api.get(tile_url("halls", t))
    old = before.headers["X-Twin-Version"]
    hall = next(iter(decoded(before.content, "halls")))
    r = api.patch(
        f"/collections/halls/items/{hall}",
        content=orjson.dumps({"properties": {"notes": "tile test"}}),
        headers={**bearer(site[2]["editor"]), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    head = api.get(tile_url("halls", t))
    assert head.headers["X-Twin-Version"] != old
    assert decoded(head.content, "halls")[hall]["notes"] == "tile test"
    assert head.content != before.content
    pinned = api.get(tile_url("halls", t, f"version={old}"))
    # The same features and properties (PostGIS's encoder may order a tile's key table differently).
    assert decoded(pinned.content, "halls") == decoded(before.content, "halls")
    assert decoded(api.get(tile_url("halls", t, "version=HEAD~1")).content, "halls") == decoded(before.content, "halls")
    # A time between the two commits names the older one too.
    when = api.get(f"/versions/{old}").json()["time"]
    assert decoded(api.get(tile_url("halls", t, f"datetime={when}")).content, "halls") == decoded(
        before.content, "halls"
    )


def test_pinned_tiles_are_immutable_and_head_tiles_revalidate(
    writable: TestClient, site: tuple[Path, Path, dict[str, str]]
) -> None:
    api = writable
    t = venue_tile(api)
    head = api.get(tile_url("halls", t))
    cid = head.headers["X-Twin-Version"]
    assert "no-cache" in head.headers["cache-control"] and "immutable" not in head.headers["cache-control"]
    etag = head.headers["etag"]
    again = api.get(tile_url("halls", t), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    pinned = api.get(tile_url("halls", t, f"version={cid}"))
    assert pinned.content == head.content
    assert "immutable" in pinned.headers["cache-control"] and "max-age=31536000" in pinned.headers["cache-control"]
    r = api.patch(
        "/collections/roads/items/"
        + orjson.loads(api.get("/collections/roads/items?limit=1").content)["features"][0]["id"],
        content=orjson.dumps({"properties": {"notes": "moves HEAD"}}),
        headers={**bearer(site[2]["editor"]), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    moved = api.get(tile_url("halls", t), headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag  # HEAD moved: read again


# ---------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("path", "parameter", "words"),
    [
        ("25/0/0", "tileMatrix", "0 to 24"),
        ("-1/0/0", "tileMatrix", "0 to 24"),
        ("2/4/0", "tileRow", "rows 0 to 3"),
        ("2/0/4", "tileCol", "columns 0 to 3"),
        ("16/-1/0", "tileRow", "rows 0 to 65535"),
        ("x/0/0", "tileMatrix", "integer"),
        ("0/y/0", "tileRow", "integer"),
        ("0/0/0.pbf", "tileCol", "integer"),
    ],
)
def test_a_tile_off_the_grid_is_a_bad_request_naming_it(api: TestClient, path: str, parameter: str, words: str) -> None:
    body = problem_of(api.get(f"/collections/halls/tiles/WebMercatorQuad/{path}"), 400, parameter)
    assert words in body["detail"]


def test_other_bad_tile_requests(api: TestClient) -> None:
    detail = problem_of(api.get("/collections/halls/tiles/GoogleCRS84Quad/0/0/0"), 404)["detail"]
    assert "no tile matrix set 'GoogleCRS84Quad'" in detail and "WebMercatorQuad and WorldCRS84Quad" in detail
    problem_of(api.get("/tileMatrixSets/GoogleCRS84Quad"), 404)
    problem_of(api.get("/collections/halls/tiles/GoogleCRS84Quad"), 404)
    # TileJSON cannot name a grid (its tiles are Web Mercator's): refused, pointing to the OGC form
    assert "f=json" in problem_of(api.get("/collections/halls/tiles/WorldCRS84Quad?f=tilejson"), 400, "f")["detail"]
    assert "without geometry" in problem_of(api.get("/collections/projects/tiles/WebMercatorQuad/0/0/0"), 404)["detail"]
    assert "without geometry" in problem_of(api.get("/collections/projects/tiles"), 404)["detail"]
    problem_of(api.get("/collections/nothing/tiles/WebMercatorQuad/0/0/0"), 404)
    problem_of(api.get("/collections/halls/tiles/WebMercatorQuad/x/0/0"), 400)
    problem_of(api.get("/collections/halls/tiles/WebMercatorQuad/0/0/0?bbox=1,2,3,4"), 400, "bbox")
    problem_of(api.get("/collections/halls/tiles/WebMercatorQuad/0/0/0?version=nope"), 400, "version")
    problem_of(api.get("/collections/halls/tiles/WebMercatorQuad?f=png"), 400, "f")


def test_a_tile_takes_f_mvt_as_pygeoapi_style_clients_send_it(api: TestClient) -> None:
    """pygeoapi-style clients put ?f=mvt on tile URLs: the same tile as without it; any other f is
    a 400 naming the one a tile takes."""
    t = venue_tile(api)
    plain = api.get(tile_url("halls", t))
    r = api.get(tile_url("halls", t, "f=mvt"))
    assert r.status_code == 200 and r.headers["content-type"] == MVT, r.text[:300]
    assert r.content == plain.content and decoded(r.content, "halls")
    for bad in ("json", "png", "pbf"):
        body = problem_of(api.get(tile_url("halls", t, f"f={bad}")), 400, "f")
        assert body["code"] == "not_one_of" and "mvt" in body["detail"] and bad in body["detail"]


# ---------------------------------------------------------------------------- who sees what
def test_a_restricted_layers_tiles_are_its_roles_only(tmp_path: Path) -> None:
    store = build_restricted_venue(tmp_path / "venue.gpkg", ("engineer",))
    tokens = make_tokens(store)
    t = TMS.tile(121.2975, 31.1865, 16)  # over the south gate post
    urls = [
        "/collections/security/tiles",
        "/collections/security/tiles/WebMercatorQuad",
        "/collections/security/tiles/WebMercatorQuad?f=tilejson",
        tile_url("security", t),
    ]
    with client(store) as api:
        for who in (None, "viewer", "editor"):
            for url in urls:
                body = problem_of(api.get(url, headers=bearer(tokens[who] if who else None)), 404)
                assert "SEC-" not in body["detail"]
        for who in ("engineer", "admin"):
            for url in urls:
                assert api.get(url, headers=bearer(tokens[who])).status_code == 200, (who, url)
            got = decoded(api.get(tile_url("security", t), headers=bearer(tokens[who])).content, "security")
            assert "sec-south-gate" in got and got["sec-south-gate"]["code"] == "SEC-01"
        # Other layers' tiles stay open to everyone.
        assert api.get(tile_url("halls", t)).status_code == 200


# ---------------------------------------------------------------------------- the store seam
def test_a_store_with_a_native_encoder_is_asked_first(
    site: tuple[Path, Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twin.tile hands the store the tile's 3857 bounds and the version's seq (Store.mvt, which the
    PostGIS store answers with ST_AsMVT) and encodes in Python only when the store returns None."""
    monkeypatch.setenv("VENUE_TWIN_TILE_CACHE_MB", "0")  # the same tile twice, each from its encoder
    twin = Twin.open(copy_store(site[0], tmp_path / "venue.gpkg"))
    try:
        t = TMS.tile(121.2975, 31.19, 16)
        ref = twin.resolve("HEAD~1")
        twin.store.mvt = lambda *a, **k: None  # type: ignore[method-assign]
        python = twin.tile("halls", t.z, t.x, t.y, ref)  # a store without an encoder of its own
        assert decoded(python, "halls")
        asked: list[tuple[Any, ...]] = []

        def native(layer: str, seq: int, bounds: tuple[float, ...], **kw: Any) -> bytes:
            asked.append((layer, seq, bounds, kw))
            return b"native"

        twin.store.mvt = native  # type: ignore[method-assign]
        assert twin.tile("halls", t.z, t.x, t.y, ref) == b"native"
        ((layer, seq, bounds, kw),) = asked
        b = TMS.xy_bounds(t)
        assert (layer, seq, kw["layer_name"]) == ("halls", ref.seq, "halls")
        assert bounds == pytest.approx((b.left, b.bottom, b.right, b.top))
        assert (kw["extent"], kw["buffer"]) == (EXTENT, BUFFER_PX)
    finally:
        twin.close()


def test_polygons_keep_their_holes_in_the_embedded_stores_tiles() -> None:
    """MVT tells a hole from another polygon by its ring's winding: the embedded store's encoder
    orients every polygon itself (whatever orientation its rings came in), so each exterior ring
    has the winding the spec demands and each hole the opposite one."""
    from twin.stores.base import ExportRow
    from twin.tiles import encode_rows, mercator_bounds

    t = TMS.tile(121.2975, 31.19, 16)
    b = TMS.bounds(t)
    cx, cy, w = (b.left + b.right) / 2, (b.bottom + b.top) / 2, (b.right - b.left) / 8

    def donut(x: float, y: float) -> shapely.Polygon:
        # Rings in both orientations on purpose: the encoder must fix whichever it is given.
        outer = shapely.box(x - w, y - w, x + w, y + w, ccw=False)
        return shapely.Polygon(
            outer.exterior.coords, [shapely.box(x - w / 2, y - w / 2, x + w / 2, y + w / 2).exterior.coords]
        )

    one = donut(cx - 2 * w, cy)
    two = shapely.MultiPolygon([donut(cx + 2 * w, cy + 1.5 * w), donut(cx + 2 * w, cy - 1.5 * w)])
    rows = [ExportRow(fid, shapely.to_wkb(g), b"{}") for fid, g in (("one", one), ("two", two))]
    body = encode_rows(rows, mercator_bounds(t.z, t.x, t.y), "donuts")
    # The spec's test, in tile coordinates (y down): an exterior ring has a positive area by the
    # surveyor's formula (shapely's is_ccw), a hole a negative one.
    tile = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    got = {f["properties"]["id"]: f["geometry"] for f in tile["donuts"]["features"]}
    assert got["one"]["type"] == "Polygon" and got["two"]["type"] == "MultiPolygon"
    for rings in [got["one"]["coordinates"], *got["two"]["coordinates"]]:
        assert [shapely.LinearRing(r).is_ccw for r in rings] == [True, False]
        assert shapely.Polygon(rings[1]).area == pytest.approx(shapely.Polygon(rings[0]).area / 4, rel=0.05)
