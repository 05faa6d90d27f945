"""A client's GeoJSON geometry (layers/geojson.py): read as shapely reads it, and refused in plain
words, never in GEOS's or its JSON parser's ("ParseException", "[json.exception...]")."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from layers.geojson import UnreadableGeometry, read_geometry

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
VALID = [
    {"type": "Point", "coordinates": [121.29, 31.19]},
    {"type": "Point", "coordinates": [121.29, 31.19, 4.5]},
    {"type": "Point", "coordinates": []},
    {"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]},
    {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
    {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]},
    {"type": "Polygon", "coordinates": [SQUARE]},
    {"type": "Polygon", "coordinates": []},
    {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]},
    {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}]},
]

# (geometry, the reason's words)
UNREADABLE = {
    "coordinates of text": ({"type": "Polygon", "coordinates": "x"}, 'Polygon coordinates must be a list of rings, each a list of [x, y] positions, got "x"'),
    "polygon one level short": ({"type": "Polygon", "coordinates": [[0, 0], [1, 0]]}, "Polygon coordinates must be a list of rings"),
    "multipolygon one level short": ({"type": "MultiPolygon", "coordinates": [SQUARE]}, "MultiPolygon coordinates must be a list of polygons, each a list of rings"),
    "line of numbers": ({"type": "LineString", "coordinates": [0, 0]}, "LineString coordinates must be a list of [x, y] positions"),
    "point of a list of lists": ({"type": "Point", "coordinates": [[0, 0]]}, "Point coordinates must be one [x, y] position"),
    "null coordinates": ({"type": "Point", "coordinates": None}, "Point coordinates must be one [x, y] position, got null"),
    "no coordinates": ({"type": "Polygon"}, "the Polygon has no coordinates"),
    "unknown type": ({"type": "Circle", "coordinates": [0, 0]}, "geometry type 'Circle' is not a GeoJSON geometry type"),
    "type in lower case": ({"type": "polygon", "coordinates": [SQUARE]}, "geometry type 'polygon' is not"),
    "a LinearRing": ({"type": "LinearRing", "coordinates": SQUARE}, "geometry type 'LinearRing' is not"),
    "no type": ({"coordinates": [0, 0]}, "the geometry has no type"),
    "type a number": ({"type": 5, "coordinates": [0, 0]}, "geometry type 5 is not"),
    "text for a geometry": ("POINT (0 0)", "a geometry is a JSON object with a type and coordinates, got text"),
    "a list for a geometry": ([0, 0], "got a list"),
    "one number in a position": ({"type": "MultiPoint", "coordinates": [[0, 0], [1]]}, "a position is [x, y] or [x, y, z], got [1]"),
    "four numbers in a position": ({"type": "Point", "coordinates": [0, 0, 0, 0]}, "got [0,0,0,0]"),
    "text in a position": ({"type": "Point", "coordinates": ["121.29", "31.19"]}, "a position holds finite numbers"),
    "true in a position": ({"type": "Point", "coordinates": [True, 0]}, "a position holds finite numbers, got [true,0]"),
    "a line of one position": ({"type": "LineString", "coordinates": [[0, 0]]}, "a LineString needs at least 2 positions (it has 1)"),
    "a short line among others": ({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[0, 0]]]}, "line #2 needs at least 2 positions"),
    "a ring of three": ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "a ring needs at least 4 positions, the last the same as the first (ring #1 has 3)"),
    "a ring left open": ({"type": "Polygon", "coordinates": [SQUARE[:4]]}, "a ring must end where it starts (ring #1 ends at [0,1], not [0,0])"),
    "an open ring of the second polygon": ({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE, SQUARE[:4]]]}, "ring #2 of polygon #2 ends at"),
    "collection without geometries": ({"type": "GeometryCollection"}, "a GeometryCollection needs geometries"),
    "collection with a bad member": ({"type": "GeometryCollection", "geometries": [VALID[0], {"type": "Point"}]}, "geometry #2 of the GeometryCollection: the Point has no coordinates"),
}  # fmt: skip


@pytest.mark.parametrize("geometry", VALID, ids=[g["type"] + str(i) for i, g in enumerate(VALID)])
def test_valid_geometries_read_as_shapely_reads_them(geometry: dict[str, Any]) -> None:
    assert read_geometry(geometry).equals_exact(shapely.from_geojson(orjson.dumps(geometry)), 0)


@pytest.mark.parametrize("case", list(UNREADABLE), ids=list(UNREADABLE))
def test_an_unreadable_geometry_is_refused_in_plain_words(case: str) -> None:
    geometry, words = UNREADABLE[case]
    with pytest.raises(shapely.errors.GEOSException):  # what used to reach the client, worded by GEOS
        shapely.from_geojson(orjson.dumps(geometry))
    with pytest.raises(UnreadableGeometry) as e:
        read_geometry(geometry)
    assert words in str(e.value)
    assert "Exception" not in str(e.value) and "json.exception" not in str(e.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.sampled_from(["x", "Point", "Polygon"]),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)
_TYPES = st.sampled_from(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "Circle"])


@settings(max_examples=400, deadline=None, derandomize=True)
@given(kind=_TYPES, coordinates=_JSON)
def test_whatever_the_coordinates_shapelys_answer_or_a_plain_reason(kind: str, coordinates: Any) -> None:
    geometry = {"type": kind, "coordinates": coordinates}
    try:
        expected = shapely.from_geojson(orjson.dumps(geometry))
    except shapely.errors.GEOSException:
        expected = None
    if expected is not None:
        assert read_geometry(geometry).equals_exact(expected, 0)
        return
    with pytest.raises(UnreadableGeometry) as e:
        read_geometry(geometry)
    assert "Exception" not in str(e.value) and "json.exception" not in str(e.value)
    assert "cannot be read" not in str(e.value), f"no reason found for {geometry}"
