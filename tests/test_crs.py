"""CRS parsing and URIs, reprojection to and from storage, Chinese web-map datums, metric measures."""

from __future__ import annotations

import coordTransform
import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from layers.crs import (
    CRS84_URI,
    STORAGE_CRS_URI,
    SUPPORTED_API_CRS,
    area_m2,
    bd09_to_wgs84_geometries,
    crs_label,
    crs_uri,
    from_storage,
    gcj02_to_wgs84_geometries,
    is_northing_first,
    length_m,
    parse_crs,
    to_storage,
    wgs84_to_bd09_geometries,
    wgs84_to_gcj02_geometries,
)
from twin.errors import BadInput

GEOD = Geod(ellps="WGS84")
VENUE = (121.297, 31.191)  # centre of the complex, WGS84 lon/lat (FACTS.md)
VENUE_4549 = (623_664.0, 3_452_942.0)  # the same place in EPSG:4549, easting/northing (FACTS.md)
# A Shanghai-like local plane system (illustrative parameters, not the real, unpublished ones)
LOCAL_PROJ = "+proj=tmerc +lat_0=31.2 +lon_0=121.46 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize(
    ("text", "authority"),
    [
        ("EPSG:4549", ("EPSG", "4549")),
        ("4549", ("EPSG", "4549")),
        ("epsg:4490", ("EPSG", "4490")),
        (" EPSG:3857 ", ("EPSG", "3857")),
        ("http://www.opengis.net/def/crs/EPSG/0/4549", ("EPSG", "4549")),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", ("OGC", "CRS84")),
        ("CRS84", ("OGC", "CRS84")),
        ("urn:ogc:def:crs:EPSG::4326", ("EPSG", "4326")),
        (CRS.from_epsg(4549).to_wkt(), ("EPSG", "4549")),
    ],
)
def test_parse_crs_accepts_common_spellings(text: str, authority: tuple[str, str]) -> None:
    crs = parse_crs(text)
    assert crs.to_authority() == authority
    assert crs_label(crs) == ":".join(authority)


def test_parse_crs_takes_a_user_supplied_proj_definition() -> None:
    crs = parse_crs(LOCAL_PROJ)
    assert crs.is_projected
    assert "+proj=tmerc" in crs_label(crs)  # no authority code, so the label is the definition
    with pytest.raises(BadInput, match="no EPSG or OGC code"):
        crs_uri(crs)
    # and it reprojects like any other CRS
    back = to_storage(crs)(from_storage(crs)([shapely.Point(VENUE)]))
    assert back[0].distance(shapely.Point(VENUE)) < 1e-9


@pytest.mark.parametrize("text", ["EPSG:999999", "nonsense", "", "   ", "EPSG:4978"])
def test_parse_crs_refuses_unknown_or_unusable(text: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_crs(text)
    assert repr(text) in str(e.value)


def test_crs_uris() -> None:
    assert crs_uri("EPSG:4549") == "http://www.opengis.net/def/crs/EPSG/0/4549"
    assert crs_uri("OGC:CRS84") == CRS84_URI == STORAGE_CRS_URI
    # EPSG:4326 keeps its own URI: on the wire it means lat/lon, unlike CRS84
    assert crs_uri("EPSG:4326") == "http://www.opengis.net/def/crs/EPSG/0/4326"
    assert SUPPORTED_API_CRS[0] == CRS84_URI
    assert [crs_uri(parse_crs(u)) for u in SUPPORTED_API_CRS] == SUPPORTED_API_CRS
    assert {parse_crs(u).to_epsg() for u in SUPPORTED_API_CRS[1:]} == {4326, 4490, 4549, 3857}


def test_axis_order_helper() -> None:
    assert is_northing_first("EPSG:4326") and is_northing_first("EPSG:4549")
    assert not is_northing_first("CRS84") and not is_northing_first("EPSG:3857")


def test_gauss_kruger_venue_point_reaches_lon_lat() -> None:
    (p,) = to_storage("EPSG:4549")([shapely.Point(VENUE_4549)])
    expected = Transformer.from_crs(4549, 4326, always_xy=True).transform(*VENUE_4549)
    assert metres(p.x, p.y, *expected) < 0.001
    # independently: the published coordinates of the venue agree to within their stated accuracy
    assert metres(p.x, p.y, *VENUE) < 200
    (q,) = from_storage("EPSG:4549")([p])
    assert abs(q.x - VENUE_4549[0]) < 1e-6 and abs(q.y - VENUE_4549[1]) < 1e-6


def test_reprojection_is_vectorised_over_mixed_geometries() -> None:
    polygon = shapely.Polygon(
        shapely.box(623_600, 3_452_900, 623_700, 3_453_000).exterior,
        [shapely.box(623_640, 3_452_940, 623_660, 3_452_960).exterior.coords],
    )
    geoms = [
        polygon,
        shapely.LineString([(623_000, 3_452_000), (624_000, 3_453_000)]),
        shapely.MultiPoint([(623_664, 3_452_942), (623_700, 3_453_000)]),
        None,
    ]
    out = to_storage(parse_crs("EPSG:4549"))(geoms)
    assert isinstance(out, np.ndarray) and len(out) == 4 and out[3] is None
    assert [g.geom_type for g in out[:3]] == ["Polygon", "LineString", "MultiPoint"]
    assert len(out[0].interiors) == 1
    assert all(120 < x < 122 for x in shapely.bounds(out[:3])[:, 0])


def test_storage_crs_is_left_alone() -> None:
    geoms = [shapely.Point(VENUE)]
    for crs in ("EPSG:4326", "CRS84"):
        assert to_storage(crs)(geoms)[0] is geoms[0]


def test_cgcs2000_is_within_centimetres_of_wgs84() -> None:
    (p,) = to_storage("EPSG:4490")([shapely.Point(VENUE)])
    assert metres(p.x, p.y, *VENUE) < 1.0


def test_gcj02_shift_at_the_venue_and_back() -> None:
    (g,) = wgs84_to_gcj02_geometries([shapely.Point(VENUE)])
    assert 470 < metres(*VENUE, g.x, g.y) < 490
    # FACTS.md: GCJ-02 lies about 223 m south and 426 m east of WGS84 here
    south = metres(*VENUE, VENUE[0], g.y)
    east = metres(*VENUE, g.x, VENUE[1])
    assert g.y < VENUE[1] and g.x > VENUE[0]
    assert abs(south - 223) < 5 and abs(east - 426) < 5
    (back,) = gcj02_to_wgs84_geometries([g])
    assert metres(back.x, back.y, *VENUE) < 0.01


def test_gcj02_inverse_is_exact_to_a_centimetre_across_the_site() -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(121.28, 121.32, 500), rng.uniform(31.17, 31.21, 500)
    # the forward shift computed by the library directly, point by point
    shifted = shapely.points(np.array([coordTransform.wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)]))
    back = gcj02_to_wgs84_geometries(shifted)
    errors = GEOD.inv(lon, lat, shapely.get_x(back), shapely.get_y(back))[2]
    assert errors.max() < 0.01


def test_bd09_round_trip_and_published_values() -> None:
    (b,) = wgs84_to_bd09_geometries([shapely.Point(VENUE)])
    (back,) = bd09_to_wgs84_geometries([b])
    assert metres(back.x, back.y, *VENUE) < 0.01
    # FACTS.md: GCJ-02 (121.3022, 31.1888) and BD-09 (121.3086, 31.1962) values published for the venue
    (from_gcj,) = gcj02_to_wgs84_geometries([shapely.Point(121.3022, 31.1888)])
    (from_bd,) = bd09_to_wgs84_geometries([shapely.Point(121.3086, 31.1962)])
    assert metres(from_gcj.x, from_gcj.y, *VENUE) < 200
    assert metres(from_bd.x, from_bd.y, *VENUE) < 200


def test_datum_shift_keeps_structure_and_handles_empties() -> None:
    ring = shapely.box(121.296, 31.190, 121.298, 31.192)
    geoms = [ring, shapely.MultiLineString([[(121.29, 31.19), (121.30, 31.19)]]), shapely.Polygon(), None]
    out = gcj02_to_wgs84_geometries(geoms)
    assert out[0].geom_type == "Polygon" and out[1].geom_type == "MultiLineString"
    assert out[2].is_empty and out[3] is None


def test_area_and_length_in_metres() -> None:
    square_4549 = shapely.box(623_600, 3_452_900, 623_700, 3_453_000)  # 100 m × 100 m
    line_4549 = shapely.LineString([(623_600, 3_452_900), (623_600, 3_453_250)])  # 350 m
    lonlat = to_storage("EPSG:4549")([square_4549, line_4549])
    assert area_m2(lonlat)[0] == pytest.approx(10_000, rel=1e-9)
    assert length_m(lonlat)[0] == pytest.approx(400, rel=1e-9)
    assert length_m(lonlat)[1] == pytest.approx(350, rel=1e-9)
    # a large hall: about 28,800 m² (FACTS.md), give or take the shape
    hall = shapely.box(121.296, 31.190, 121.296 + 180 / 95_300, 31.190 + 160 / 110_900)
    assert area_m2([hall])[0] == pytest.approx(28_800, rel=0.01)


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("EPSG:99999", "no CRS has that code"),
        ("http://www.opengis.net/def/crs/EPSG/0/99999", "no CRS has that code"),
        ("garbage", "not a CRS code, OGC URI, WKT or PROJ string"),
        ("+proj=foo", "names a projection PROJ does not have"),
    ],
)
def test_an_unknown_crs_is_named_in_words_not_proj_internals(text: str, meaning: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_crs(text)
    assert meaning in str(e.value)
    assert "Internal Proj Error" not in str(e.value) and "proj_create" not in str(e.value)
    assert repr(text) in str(e.value)
