"""A client's GeoJSON geometry read into shapely, and in plain words why one cannot be.

shapely (GEOS) reads a GeoJSON geometry fast, but words a refusal in its own internals
("ParseException: Error parsing JSON: '[json.exception.type_error.302] type must be array, but is
string'"). So `read_geometry` hands the geometry to shapely as it is, and only when shapely refuses
does `geometry_problem` walk it in plain Python to say what is wrong in GeoJSON's terms (RFC 7946
section 3.1): valid input pays nothing for the words. The API's writes and change files both read
their geometries here.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from twin.model import GEOMETRY_TYPES as LAYER_GEOMETRY_TYPES

# GeoJSON's geometry types: those a layer may hold, and the collection (read here, refused later
# by a layer's rules with its own reason).
GEOMETRY_TYPES = (*LAYER_GEOMETRY_TYPES, "GeometryCollection")
# What each type's coordinates are, as a reason says it.
_SHAPES = {
    "Point": "one [x, y] position",
    "MultiPoint": "a list of [x, y] positions",
    "LineString": "a list of [x, y] positions",
    "MultiLineString": "a list of lines, each a list of [x, y] positions",
    "Polygon": "a list of rings, each a list of [x, y] positions",
    "MultiPolygon": "a list of polygons, each a list of rings, each a list of [x, y] positions",
}
# How many list levels lie above a position in each type's coordinates.
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


class UnreadableGeometry(ValueError):
    """A geometry that is not GeoJSON shapely can read; the message says why in plain words."""


def read_geometry(value: Any) -> BaseGeometry:
    """The shapely geometry of a GeoJSON geometry object (parsed JSON); UnreadableGeometry if none."""
    try:
        return shapely.from_geojson(orjson.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError):
        pass
    raise UnreadableGeometry(unreadable_reason(value))


def unreadable_reason(value: Any) -> str:
    """Why shapely could not read `value` as a geometry: geometry_problem's words, or that it cannot."""
    return geometry_problem(value) or "it cannot be read as a GeoJSON geometry"


def geometry_problem(value: Any) -> str | None:
    """Why `value` is not a GeoJSON geometry object, or None if nothing is found wrong."""
    if not isinstance(value, dict):
        return f"a geometry is a JSON object with a type and coordinates, got {_kind(value)}"
    kind = value.get("type")
    if kind is None:
        return "the geometry has no type"
    if kind not in GEOMETRY_TYPES:
        named = repr(kind) if isinstance(kind, str) and len(kind) <= 60 else _short(kind)
        return f"geometry type {named} is not a GeoJSON geometry type (one of {', '.join(GEOMETRY_TYPES)})"
    if kind == "GeometryCollection":
        members = value.get("geometries")
        if not isinstance(members, list):
            return "a GeometryCollection needs geometries, a list of geometry objects"
        for i, member in enumerate(members):
            why = geometry_problem(member)
            if why is not None:
                return f"geometry #{i + 1} of the GeometryCollection: {why}"
        return None
    if "coordinates" not in value:
        return f"the {kind} has no coordinates"
    coordinates = value["coordinates"]
    if not _nested(coordinates, _DEPTH[kind]):
        return f"{kind} coordinates must be {_SHAPES[kind]}, got {_short(coordinates)}"
    return _counts_problem(kind, coordinates)


def _nested(value: Any, depth: int) -> bool:
    """Whether `value` is lists `depth` deep with a position at the bottom of each."""
    if depth == 0:
        return isinstance(value, list) and not any(isinstance(v, list) for v in value)
    return isinstance(value, list) and all(_nested(v, depth - 1) for v in value)


def _counts_problem(kind: str, coordinates: list[Any]) -> str | None:
    """The positions' own problems, then too few of them in a line or ring, or a ring left open."""
    if kind == "Point":
        return None if coordinates == [] else _position_problem(coordinates)  # [] is the empty point
    for position in _positions(coordinates, _DEPTH[kind]):
        why = _position_problem(position)
        if why is not None:
            return why
    if kind in ("LineString", "MultiLineString"):
        lines = [coordinates] if kind == "LineString" else coordinates
        for i, line in enumerate(lines):
            if len(line) == 1:
                which = "a LineString" if kind == "LineString" else f"line #{i + 1}"
                return f"{which} needs at least 2 positions (it has 1)"
        return None
    polygons = [coordinates] if kind == "Polygon" else coordinates
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            which = f"ring #{r + 1}" + (f" of polygon #{p + 1}" if kind == "MultiPolygon" else "")
            if ring and len(ring) < 4:
                return f"a ring needs at least 4 positions, the last the same as the first ({which} has {len(ring)})"
            if ring and ring[0][:2] != ring[-1][:2]:
                return f"a ring must end where it starts ({which} ends at {_short(ring[-1])}, not {_short(ring[0])})"
    return None


def _positions(value: list[Any], depth: int) -> list[Any]:
    if depth == 0:
        return [value]
    return [p for v in value for p in _positions(v, depth - 1)]


def _position_problem(position: list[Any]) -> str | None:
    if len(position) not in (2, 3):
        return f"a position is [x, y] or [x, y, z], got {_short(position)}"
    if not all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in position):
        return f"a position holds finite numbers, got {_short(position)}"
    return None


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", bool: "true or false", type(None): "null"}.get(type(value), _short(value))


def _short(value: Any, limit: int = 60) -> str:
    """A value as JSON, cut short: enough to find it in the body."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
