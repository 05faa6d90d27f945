"""OGC API - Features, Parts 1-4, over the twin, with time travel on every read.

One route method per endpoint. Reads return the stored GeoJSON bytes of each feature version
(encoded once at commit time); only a `crs` other than CRS84 or a property selection re-encodes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote

import cql2
import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Header, Path, Query, Request
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api import html
from api.auth import with_token
from api.caching import cache_headers, read_headers
from api.deps import (
    PINNED_ROOT,
    CollectionId,
    EditorDep,
    PageRoute,
    PrincipalDep,
    PropertyQueryRoute,
    ReaderDep,
    StrictQueryRoute,
    TwinDep,
    VersionDep,
    VersionParams,
    add_get_route,
    collection_of,
    editor,
    get_settings,
    message_header,
    negotiate,
    pinned_version,
    public_url,
    route_class,
    undeclared_query,
)
from api.errors import ApiError, InvalidParameter, PreconditionFailed, UnsupportedMediaType
from layers.crs import (
    CRS84_URI,
    STORAGE_CRS_URI,
    SUPPORTED_API_CRS,
    crs_uri,
    from_storage,
    is_northing_first,
    parse_crs,
    to_storage,
)
from layers.geojson import UnreadableGeometry, read_geometry
from layers.io import FORMATS
from twin import Change, Feature, Ref
from twin.access import TwinView
from twin.encoding import feature_collection
from twin.errors import BadInput, Conflict, NotFound, ValidationFailed
from twin.model import GEOMETRY_TYPES, LayerSchema
from twin.query import (
    FeatureQuery,
    PropertyParameterError,
    filter_language,
    map_geometry_literals,
    parse_filter,
    parse_sortby,
    property_equals,
    run_query,
)
from twin.validation import fitted_message, id_problem, shown_id

OGC = "http://www.opengis.net/spec/"
CONFORMANCE = [
    OGC + "ogcapi-features-1/1.0/conf/core",
    OGC + "ogcapi-features-1/1.0/conf/geojson",
    OGC + "ogcapi-features-1/1.0/conf/html",
    OGC + "ogcapi-features-1/1.0/conf/oas30",
    OGC + "ogcapi-features-2/1.0/conf/crs",
    OGC + "ogcapi-features-3/1.0/conf/queryables",
    OGC + "ogcapi-features-3/1.0/conf/filter",
    OGC + "ogcapi-features-3/1.0/conf/features-filter",
    OGC + "cql2/1.0/conf/cql2-text",
    OGC + "cql2/1.0/conf/cql2-json",
    OGC + "cql2/1.0/conf/basic-cql2",
    OGC + "cql2/1.0/conf/advanced-comparison-operators",
    OGC + "cql2/1.0/conf/basic-spatial-functions",
    OGC + "cql2/1.0/conf/basic-spatial-functions-plus",
    OGC + "ogcapi-features-4/1.0/conf/create-replace-delete",
    OGC + "ogcapi-features-4/1.0/conf/update",
    OGC + "ogcapi-features-4/1.0/conf/features",
    # OGC API - Tiles (api/tiles.py): vector tilesets of each collection on WebMercatorQuad.
    OGC + "ogcapi-tiles-1/1.0/conf/core",
    OGC + "ogcapi-tiles-1/1.0/conf/tileset",
    OGC + "ogcapi-tiles-1/1.0/conf/tilesets-list",
    OGC + "ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    OGC + "ogcapi-tiles-1/1.0/conf/mvt",
    OGC + "ogcapi-tiles-1/1.0/conf/oas30",
]
# What a version-pinned root (/versions/{versionId}/) conforms to: the reads, without Part 4 (a
# version is history: its writes answer 405) or HTML (it serves no pages; `_forms`).
PINNED_CONFORMANCE = [
    c for c in CONFORMANCE if "/ogcapi-features-4/" not in c and c != OGC + "ogcapi-features-1/1.0/conf/html"
]
GEOJSON = "application/geo+json"
JSON = "application/json"
CQL_JSON = "application/query-cql-json"
MERGE_PATCH = "application/merge-patch+json"
# The media types each write's body is taken in, the first the one to send: a POST or PUT sends
# features (GeoJSON), a PATCH a JSON merge patch (RFC 7396; OGC API - Features Part 4), which a
# client that sends the patched feature as GeoJSON labels so too.
BODY_TYPES = {
    "POST": (GEOJSON, JSON),
    "PUT": (GEOJSON, JSON),
    "PATCH": (MERGE_PATCH, JSON, GEOJSON),
}


# The bodies of the writes as the API definition (/api) declares them, so Swagger UI and generated
# clients can send one: GeoJSON as RFC 7946 shapes it. Each collection's own fields are in its
# feature schema (/collections/{collectionId}/feature-schema, JSON Schema 2019-09, which an OpenAPI
# 3.0 schema cannot reference), named in the descriptions.
_GEOMETRY_DOC: dict[str, Any] = {
    "type": "object",
    "nullable": True,
    "description": "A GeoJSON geometry, in lon/lat unless Content-Crs says otherwise; null for a record "
    "(a layer without geometry)",
    "required": ["type"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [*GEOMETRY_TYPES, "GeometryCollection"],
        },
        "coordinates": {"type": "array", "items": {}},
        "geometries": {"type": "array", "items": {"type": "object"}},
    },
}
_FEATURE_DOC: dict[str, Any] = {
    "type": "object",
    "title": "A GeoJSON Feature",
    "description": "Its properties are the collection's fields, as its feature schema "
    "(/collections/{collectionId}/feature-schema) lists them, the required ones among them",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {
            "oneOf": [{"type": "string"}, {"type": "integer"}],
            "description": "The feature's id (given one if left out; on a PUT, the URL's)",
        },
        "geometry": _GEOMETRY_DOC,
        "properties": {"type": "object", "nullable": True, "additionalProperties": True},
    },
}
_FEATURES_DOC: dict[str, Any] = {
    "oneOf": [
        _FEATURE_DOC,
        {
            "type": "object",
            "title": "A GeoJSON FeatureCollection",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "minItems": 1, "items": _FEATURE_DOC},
            },
        },
    ]
}
_MERGE_PATCH_DOC: dict[str, Any] = {
    "type": "object",
    "title": "A JSON merge patch of a feature (RFC 7396)",
    "description": "The members given replace the feature's; a property set to null is removed",
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "If given, the URL's"},
        "geometry": {
            **{k: v for k, v in _GEOMETRY_DOC.items() if k != "required"},
            "description": "Merged into the feature's geometry (RFC 7396): coordinates alone keep its type; "
            "null removes it (a record's)",
        },
        "properties": {"type": "object", "nullable": True, "additionalProperties": True},
        "links": {"type": "array", "items": {"type": "object"}, "description": "Ignored (derived)"},
        "bbox": {"type": "array", "items": {"type": "number"}, "description": "Ignored (derived)"},
    },
}
_CQL2_JSON_DOC: dict[str, Any] = {
    "type": "object",
    "title": "A CQL2 JSON filter (a search)",
    "required": ["op", "args"],
    "properties": {"op": {"type": "string"}, "args": {"type": "array", "items": {}}},
}
_SEARCH_DOC: dict[str, Any] = {
    "type": "object",
    "title": "A search: a CQL2 JSON filter as its filter member",
    "required": ["filter"],
    "additionalProperties": False,
    "properties": {"filter": _CQL2_JSON_DOC, "filter-lang": {"type": "string", "enum": ["cql2-json"]}},
}
ADD_BODY: dict[str, Any] = {
    "required": True,
    "description": "Features to add, a GeoJSON Feature or FeatureCollection; or, as "
    f'{CQL_JSON} (or {JSON} without a type, alone or as {{"filter": ...}}), a CQL2 JSON filter: a search, '
    "which needs no token",
    "content": {
        GEOJSON: {"schema": _FEATURES_DOC},
        JSON: {"schema": {"oneOf": [*_FEATURES_DOC["oneOf"], _CQL2_JSON_DOC, _SEARCH_DOC]}},
        CQL_JSON: {"schema": _CQL2_JSON_DOC},
    },
}
REPLACE_BODY: dict[str, Any] = {
    "required": True,
    "description": "The feature as it is to be: a GeoJSON Feature",
    "content": {t: {"schema": _FEATURE_DOC} for t in BODY_TYPES["PUT"]},
}
UPDATE_BODY: dict[str, Any] = {
    "required": True,
    "description": "A JSON merge patch (RFC 7396) of the feature: the members given are replaced, a property "
    "set to null removed",
    "content": {t: {"schema": _MERGE_PATCH_DOC} for t in BODY_TYPES["PATCH"]},
}


# What the documents that describe the twin now (the landing page, the collections, queryables)
# answer a client that asks them for a version: where the twin as of a version is.
_WHERE_VERSIONS = (
    "These documents describe the twin now. The twin as of a version is served under /versions/{version}/ "
    "(a commit id, HEAD or HEAD~n): open http://<this server>/versions/HEAD~3 in GDAL (OAPIF:...) or QGIS "
    "to read every layer as it was then. The items take version, asof and datetime themselves"
)
TIME_TRAVEL_HINTS = {"version": _WHERE_VERSIONS, "asof": _WHERE_VERSIONS, "datetime": _WHERE_VERSIONS}


class ReadOnlyVersion(ApiError):
    """A write to a version-pinned address: a version is history, no edit changes it."""

    status, title = 405, "Method not allowed"


# The ETags etag_of gives: a quoted hex digest (an If-Match naming anything else names no version
# of a feature this service served).
_OUR_ETAG = re.compile(r'"[0-9a-f]{32}"')


# If-Match as the writes take it: every field of it (RFC 9110 5.3: two If-Match lines are one list,
# which FastAPI hands over whole only to a list), each a comma-separated list of entity tags or `*`.
IfMatch = Annotated[
    list[str] | None,
    Header(
        alias="If-Match",
        description='The ETag of the version the edit was made on, quotes and all ("..."); a list of them '
        "holds if any is the feature's; * for any version",
    ),
]
# One member of an If-Match list: an entity tag (quoted; it may hold a comma), or anything else up to a comma.
_LIST_MEMBER = re.compile(r'\s*(?:W/)?"[^"]*"|[^,]+')


def if_match_tags(fields: Sequence[str]) -> list[str]:
    """The members of If-Match `fields` (its header lines), in order, each stripped; empty ones (`a, , b`) left out."""
    return [m.strip() for f in fields for m in _LIST_MEMBER.findall(f) if m.strip()]


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _json(data: Any, status: int = 200, media: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media, headers=headers)


def _parse_bbox(text: str) -> tuple[float, ...]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameter(f"bbox {text!r} is not a list of numbers", parameter="bbox") from None
    if len(parts) == 6:  # 3D bbox: drop the heights
        parts = (parts[0], parts[1], parts[3], parts[4])
    if len(parts) != 4 or not all(np.isfinite(parts)):
        raise InvalidParameter("bbox takes 4 (or 6) finite numbers: minx,miny,maxx,maxy", parameter="bbox")
    return parts


Home = Callable[[], tuple[float, ...]]


def _bbox_to_storage(
    bbox: tuple[float, ...], bbox_crs: str | None, home: Home | None = None
) -> tuple[tuple[float, float, float, float], BaseGeometry | None]:
    """The bbox's bounds in storage lon/lat, and (for another CRS) its exact reprojected shape.

    A bbox that is no place its CRS means answers 400 saying why (`_misplaced`, as for a filter's
    geometry): wholly beyond the CRS's range, lon/lat typed for metres, or the axis-order slip
    every GIS user makes once (latitude first in CRS84, longitude first in EPSG:4326, easting
    first in EPSG:4549). One only partly beyond the range (a map zoomed out past the world's edge)
    is cut to the range. `home` gives the twin's area of interest, where degrees typed for metres
    would have pointed."""
    uri = CRS84_URI if bbox_crs is None else bbox_crs
    if uri not in SUPPORTED_API_CRS:
        raise InvalidParameter.not_one_of("bbox-crs", bbox_crs, SUPPORTED_API_CRS, subject="bbox-crs ")
    a, b, c, d = bbox
    if uri != CRS84_URI and is_northing_first(parse_crs(uri)):  # the bbox comes in the CRS's own axis order
        a, b, c, d = b, a, d, c
    if b > d:
        raise InvalidParameter(
            "bbox minimum is above its maximum (the south edge is north of the north one)", parameter="bbox"
        )
    if a > c:
        # OGC API - Features: in lon/lat a west edge east of the east edge crosses the antimeridian.
        # The two boxes either side of it are the exact shape, read as a bbox in another CRS is.
        if not (parse_crs(uri).is_geographic and -180.0 <= c < a <= 180.0 and -90.0 <= b <= 90.0 and d <= 90.0):
            raise InvalidParameter(
                "bbox minimum is above its maximum (a west edge east of the east edge crosses the "
                "antimeridian, which takes longitudes from -180 to 180 in lon/lat)",
                parameter="bbox",
            )
        return (-180.0, b, 180.0, d), shapely.MultiPolygon([shapely.box(a, b, 180.0, d), shapely.box(-180.0, b, c, d)])
    if uri == CRS84_URI and -180.0 <= a <= c <= 180.0 and -90.0 <= b <= d <= 90.0:
        # the common read: wholly in lon/lat's range is a place, and _misplaced's geometry work (about
        # 50 µs, on every bbox request) could find nothing to say
        return (a, b, c, d), None
    why = _misplaced(shapely.box(a, b, c, d), uri, home, each_vertex=False, crs_parameter="bbox-crs")
    if why is not None:
        raise InvalidParameter(f"bbox {_numbers(bbox)} {why}", parameter="bbox")
    x0, y0, x1, y1 = _valid_range(uri)
    a, b, c, d = max(a, x0), max(b, y0), min(c, x1), min(d, y1)
    if uri == CRS84_URI:
        return (a, b, c, d), None
    # Densified, so the reprojected outline follows the box's curved edges in lon/lat.
    box = _lon_lat(shapely.box(a, b, c, d).segmentize(max(c - a, d - b, 1e-9) / 16), uri)
    minx, miny, maxx, maxy = box.bounds
    if not all(np.isfinite((minx, miny, maxx, maxy))) or not box.is_valid:
        raise InvalidParameter(
            f"bbox {_numbers(bbox)} lies outside the area where {_crs_name(uri)} is defined", parameter="bbox"
        )
    return (minx, miny, maxx, maxy), box


@lru_cache(maxsize=16)
def _area_of_use(uri: str) -> tuple[float, float, float, float]:
    """Where a CRS is used, as a lon/lat box (the whole world when PROJ does not say)."""
    area = parse_crs(uri).area_of_use
    return area.bounds if area is not None else (-180.0, -90.0, 180.0, 90.0)


@lru_cache(maxsize=16)
def _valid_range(uri: str) -> tuple[float, float, float, float]:
    """Where coordinates in a CRS mean a place, x (longitude, easting) first, in its units:
    lon/lat's whole range for a geographic CRS; for a projected one, its area of use widened by
    half its width east and west, projected (web mercator's +-20037508.34 m; for EPSG:4549's
    3-degree strip, 117 to 123 degrees east: Shanghai runs past the strip's edge at 121.5 to
    122.2, and its surveyors use the strip there: its scale error at 123 degrees is about 1 in 1,000;
    degrees typed for metres stay far outside)."""
    crs = parse_crs(uri)
    if crs.is_geographic:
        return (-180.0, -90.0, 180.0, 90.0)
    to_crs = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    w, s, e, n = _area_of_use(uri)
    pad = (e - w) / 2
    x0, y0, x1, y1 = to_crs.transform_bounds(max(w - pad, -180.0), s, min(e + pad, 180.0), n, densify_pts=21)
    return (float(x0), float(y0), float(x1), float(y1))


def _range_words(uri: str) -> str:
    """The valid range in words, in the CRS's axis order: "easting from ... to ... and northing from ...",
    "longitude runs from -180 to 180 and latitude from -90 to 90"."""
    x0, y0, x1, y1 = _valid_range(uri)
    if parse_crs(uri).is_geographic:
        return "longitude runs from -180 to 180 and latitude from -90 to 90"
    east, north = f"easting from {x0:.2f} to {x1:.2f}", f"northing from {y0:.2f} to {y1:.2f}"
    first, second = (north, east) if is_northing_first(parse_crs(uri)) else (east, north)
    w, s, e, n = _area_of_use(uri)
    return f"it takes metres, {first} and {second} (its area of use, lon {w:g} to {e:g}, lat {s:g} to {n:g})"


def _lon_lat(geom: BaseGeometry, uri: str) -> BaseGeometry:
    """A geometry given x-first in CRS `uri` (lon/lat or easting/northing), in storage lon/lat."""
    return geom if uri == CRS84_URI else to_storage(parse_crs(uri))([geom])[0]


def _misplaced(geom: BaseGeometry, uri: str, home: Home | None, *, each_vertex: bool, crs_parameter: str) -> str | None:
    """Why a geometry given in CRS `uri` (x first: lon/lat or easting/northing, in its units) is
    no place that CRS means, or None when it is one; the bbox and every part of a filter's
    geometry are checked here, so each CRS is checked the one way.

    - Beyond the CRS's range (`_valid_range`): wholly, or (`each_vertex`) any vertex beyond
      lon/lat's range or where a projection wraps round the world (web mercator's easting).
    - Where the CRS is not defined, or wholly outside its area of use (`_area_of_use`) but inside
      it with its axes swapped: the axis-order slip, named as such.
    - In a projected CRS, numbers that look like lon/lat degrees (within +-180 and +-90): beyond
      the range (EPSG:4549's metres start at 347872 east), or in range but far from the twin's
      area (`home`) that they would lie over read as degrees (web mercator's 0.01 m off Africa).
    Each would select nothing, with a 200 that hides the slip."""
    name, order = _crs_name(uri), _axis_order(uri)
    projected = not parse_crs(uri).is_geographic
    rng, area = _valid_range(uri), _area_of_use(uri)

    def in_range(g: BaseGeometry) -> bool:
        xy = shapely.get_coordinates(g)
        if not np.all(np.isfinite(xy)) or not _meets(g.bounds, rng):
            return False
        if not each_vertex:
            return True
        if not projected:
            return bool(np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90))
        # a vertex beyond the range is still a place unless the projection wraps it round the world
        back = shapely.get_coordinates(from_storage(parse_crs(uri))([_lon_lat(g, uri)])[0])
        return back.shape == xy.shape and bool(np.all(np.abs(back - xy) <= 1.0))

    def storage_bounds(g: BaseGeometry) -> tuple[float, ...]:
        try:
            return tuple(_lon_lat(g, uri).bounds)
        except (BadInput, ValueError):
            return (np.nan,) * 4

    def in_area(g: BaseGeometry) -> bool:
        bounds = storage_bounds(g)
        return bool(np.all(np.isfinite(bounds))) and _meets(bounds, area)

    ranged, placed = in_range(geom), in_area(geom)
    xy = shapely.get_coordinates(geom)
    swapped = shapely.transform(geom, lambda v: v[:, ::-1])
    degrees = projected and any(
        bool(np.all(np.abs(v[:, 0]) <= 180) and np.all(np.abs(v[:, 1]) <= 90)) for v in (xy, xy[:, ::-1])
    )
    lonlat = f"leave out {crs_parameter} (CRS84) for lon/lat"
    if not (ranged and placed):
        if in_range(swapped) and in_area(swapped):
            w, s, e, n = area
            return (
                f"lies outside the area of {name} (lon {w:g} to {e:g}, lat {s:g} to {n:g}), and with its axes "
                f"swapped it lies inside: {name} takes {order} order"
            )
        if degrees:
            return (
                f"is out of range in {name}: the numbers look like degrees (lon/lat), not metres of {name}; "
                f"{_range_words(uri)}, in {order} order; {lonlat}"
            )
        if not ranged:
            return f"is out of range in {name}: {_range_words(uri)}, and {name} takes {order} order"
        if not np.all(np.isfinite(storage_bounds(geom))):
            return f"lies outside the area where {name} is defined"
        return None  # in range, outside the area of use (a geographic CRS's): a place, if an odd one
    if degrees and home is not None:
        twin_area = home()
        if not _meets(storage_bounds(geom), twin_area) and any(_meets(g.bounds, twin_area) for g in (geom, swapped)):
            w, s, e, n = twin_area
            return (
                f"lies far from the twin's area (lon {w:g} to {e:g}, lat {s:g} to {n:g}) in {name}, and read as "
                f"lon/lat it lies over it: the numbers look like degrees, not metres of {name}; "
                f"{_range_words(uri)}, in {order} order; {lonlat}"
            )
    return None


def _meets(bounds: tuple[float, ...], area: tuple[float, ...]) -> bool:
    return bounds[0] <= area[2] and bounds[2] >= area[0] and bounds[1] <= area[3] and bounds[3] >= area[1]


def _axis_word(name: str) -> str:
    low = name.lower()
    return "lat" if "latitude" in low else "lon" if "longitude" in low else low


def _axis_order(uri: str) -> str:
    """A CRS's axis order in words: "lon,lat", "lat,lon", "northing,easting"."""
    return ",".join(_axis_word(ax.name) for ax in parse_crs(uri).axis_info)


def _crs_name(uri: str) -> str:
    return "CRS84" if uri == CRS84_URI else "EPSG:" + uri.rsplit("/", 1)[-1]


def _filter_in_storage(expr: cql2.Expr, filter_crs: str | None, home: Home | None = None) -> cql2.Expr:
    """The filter with its geometry literals, given in filter-crs (CRS84 by default) in that CRS's
    axis order, reprojected to storage lon/lat, where the filter is evaluated.

    Each part of each literal (one point out of range in a collection, or one vertex of a line,
    met the area with the rest and was passed over) is checked as a bbox is (`_misplaced`): 400
    naming the CRS and its range, or its axis order, or that the numbers look like degrees."""
    uri = CRS84_URI if filter_crs is None else filter_crs  # one of SUPPORTED_API_CRS: the route checked it
    northing_first = is_northing_first(parse_crs(uri))

    def literal(node: dict[str, Any]) -> dict[str, Any]:
        if "type" in node:
            geom = shapely.from_geojson(orjson.dumps(node))
            shown = shapely.to_wkt(geom, trim=True)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
        else:
            values = [float(v) for v in node["bbox"]]
            shown = f"BBOX({_numbers(tuple(values))})"
            a, b, c, d = values[:2] + values[-3:-1] if len(values) == 6 else values
            if a > c or b > d:
                raise InvalidParameter(f"filter: {shown}: its minimum is above its maximum", parameter="filter")
            geom = shapely.box(a, b, c, d)
            if uri != CRS84_URI and max(c - a, d - b) > 0:
                # Densified, so the reprojected outline follows the box's curved edges in lon/lat.
                geom = geom.segmentize(max(c - a, d - b) / 16)
        if geom.is_empty:
            return node
        if northing_first:  # given in the CRS's own axis order
            geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
        for part in shapely.get_parts(shapely.get_parts(geom)):
            why = _misplaced(part, uri, home, each_vertex=True, crs_parameter="filter-crs")
            if why is not None:
                hint = "" if filter_crs or "swapped" not in why else " (give filter-crs for another CRS)"
                raise InvalidParameter(f"filter: {shown} {why}{hint}", parameter="filter")
        if uri == CRS84_URI:
            return node  # already in storage lon/lat
        return orjson.loads(shapely.to_geojson(_lon_lat(geom, uri)))  # type: ignore[no-any-return]

    return map_geometry_literals(expr, literal)


def _numbers(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:.10g}" for v in values)


def _quick_box(text: str) -> tuple[float, float, float, float] | None:
    """The bbox in storage lon/lat for the event loop's quick read, or None when it is not valid:
    the read on a worker thread then reports it, after the checks it makes first (an unknown
    collection is a 404 whatever the bbox)."""
    try:
        return _bbox_to_storage(_parse_bbox(text), None)[0]
    except InvalidParameter:
        return None


def output_crs(crs: str | None) -> str:
    """The CRS a read answers in: `crs` (one of SUPPORTED_API_CRS, else a 400 naming it), CRS84 without one."""
    if crs is None:
        return CRS84_URI
    if crs not in SUPPORTED_API_CRS:
        raise InvalidParameter.not_one_of("crs", crs, SUPPORTED_API_CRS, subject="crs ")
    return crs


def reproject_features(features: list[bytes], crs_uri_: str) -> list[bytes]:
    """Re-encode features in another CRS, in that CRS's axis order (OGC API Features Part 2)."""
    if crs_uri_ == CRS84_URI or not features:
        return features
    crs = parse_crs(crs_uri_)
    decoded = [orjson.loads(b) for b in features]
    spatial = [i for i, d in enumerate(decoded) if d.get("geometry") is not None]  # records have none
    if not spatial:
        return features
    geoms = shapely.from_geojson([orjson.dumps(decoded[i]["geometry"]) for i in spatial])
    geoms = from_storage(crs)(geoms)
    if is_northing_first(crs):
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    for i, g in zip(spatial, shapely.to_geojson(geoms), strict=True):
        decoded[i]["geometry"] = orjson.loads(g)
    return [orjson.dumps(d) for d in decoded]


def _root(ref: Ref | None) -> str:
    """Where the links to the OGC documents start: the service's root for the twin now (`ref` None),
    and under a version-pinned root the commit its path resolved to (not HEAD~3 as given, which
    moves): every link then reads the version the document that gave it was read at, and may be
    kept (api.caching)."""
    return PINNED_ROOT.format(versionId=ref.commit.id) if ref is not None and ref.commit is not None else ""


def _version_param(ref: Ref | None) -> dict[str, str]:
    """The `version` a link to a page, a tileset or a download takes under a pinned root (they are
    not mounted there); nothing for the twin now."""
    return {"version": ref.commit.id} if ref is not None and ref.commit is not None else {}


def _stamp(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _collection_doc(request: Request, twin: TwinView, schema: LayerSchema, ref: Ref | None = None) -> dict[str, Any]:
    """A collection's document, now or (`ref`: a pinned root's version) as of that version."""
    cid = schema.name
    ext = twin.extent(cid, ref)
    first = twin.first_commit()
    start = _stamp(first.time) if first else None
    end = _stamp(ref.commit.time) if ref is not None and ref.commit is not None else None
    now = f"/collections/{cid}"
    base = _root(ref) + now
    version = _version_param(ref)
    links: list[dict[str, Any]] = [
        {"rel": "self", "type": JSON, "title": "This collection", "href": public_url(request, base)},
    ]
    if not version:  # the collection's page shows the twin now
        links.append(
            {
                "rel": "alternate",
                "type": "text/html",
                "title": "This collection as HTML",
                "href": public_url(request, now, f="html"),
            }
        )
    links += [
        {"rel": "items", "type": GEOJSON, "title": "Features", "href": public_url(request, base + "/items")},
        {
            "rel": "items",
            "type": "text/html",
            "title": "Features as HTML",
            "href": public_url(request, now + "/items", f="html", **version),
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
            "type": "application/schema+json",
            "title": "Queryables",
            "href": public_url(request, base + "/queryables"),
        },
        {
            # GDAL's OAPIF driver takes a layer's fields from this (rel compared as written: GDAL
            # 3.6 to 3.12 look for "describedBy"), not from its first page of features, which
            # leaves out a field whose values there are all null (RFC 8288: rels are case-insensitive).
            "rel": "describedBy",
            "type": "application/schema+json",
            "title": "The JSON Schema of this collection's GeoJSON features",
            "href": public_url(request, base + "/feature-schema"),
        },
    ]
    if schema.spatial:
        links.append(
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": JSON,
                "title": "Vector tilesets (Mapbox Vector Tiles)",
                "href": public_url(request, now + "/tiles", **version),
            }
        )
    for name, spec in FORMATS.items():
        links.append(
            {
                "rel": "enclosure",
                "type": spec.media_type,
                "title": f"Download as {name}",
                "href": public_url(request, now + "/download", f=name, **version),
            }
        )
    extent: dict[str, Any] = {
        "temporal": {"interval": [[start, end]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    }
    if schema.spatial:  # records (the project register) have no place: no spatial extent, not the world's
        extent = {"spatial": {"bbox": [list(ext) if ext else [-180, -90, 180, 90]], "crs": CRS84_URI}, **extent}
    return {
        "id": cid,
        "title": schema.title_en,
        "description": f"{schema.title_zh}. {schema.description}".strip(),
        "itemType": "feature",
        "crs": SUPPORTED_API_CRS,
        "storageCrs": STORAGE_CRS_URI,
        "extent": extent,
        "twin:titleZh": schema.title_zh,
        "twin:positionsApproximate": schema.positions_approximate,
        "twin:geometryType": schema.geometry_type,  # the one type the layer holds (None: records)
        "links": links,
    }


def _geometry_queryable(schema: LayerSchema) -> dict[str, Any]:
    """The layer's one geometry type as OGC API - Features Part 5 names it (e.g. geometry-polygon-or-multipolygon)."""
    t = schema.geometry_type
    fmt = "geometry-any"
    if t is not None:
        single = t.removeprefix("Multi")
        fmt = f"geometry-{single.lower()}" + (f"-or-multi{single.lower()}" if len(schema.geometry_types) > 1 else "")
    return {"format": fmt, "x-ogc-role": "primary-geometry", "x-twin-geometryType": t}


# A field's JSON Schema type, in the queryables and the API definition.
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "list": "array",
}


def with_collection_paths(doc: dict[str, Any], layers: Sequence[LayerSchema]) -> dict[str, Any]:
    """The API definition with each collection's own items path beside the templated one, listing
    the properties it takes as parameters (`?kind=lawn`), as OGC API - Features Part 1 describes.

    GDAL's OAPIF driver reads only this (the path of the collection it opened) to decide which of
    a `-where` it can ask the server for; without it every page of the layer is fetched and
    filtered on the client."""
    generic = doc.get("paths", {}).get("/collections/{collectionId}/items", {}).get("get")
    if generic is None:
        return doc
    declared = [p for p in generic.get("parameters", []) if p.get("in") != "path"]
    taken = {p.get("name") for p in declared}
    paths = dict(doc["paths"])
    for schema in layers:
        # A property named like one of the endpoint's parameters (the surveys' `crs`) cannot be asked
        # for by name (?crs= is the output CRS), and GDAL takes any listed parameter that names a
        # field for a filter on it: neither is listed, so GDAL filters that property itself.
        clash = {f.name for f in schema.fields} & taken
        by_property = [
            {
                "name": f.name,
                "in": "query",
                "required": False,
                "description": f"Only the features whose {f.name} is this value ({f.title_en or f.name}).",
                "schema": {"type": _JSON_TYPES[f.type], **({"format": "date"} if f.type == "date" else {})},
            }
            for f in schema.fields
            if f.type != "list" and f.name not in taken
        ]
        op = {
            **generic,
            "summary": f"Features of {schema.name}",
            "operationId": f"items_{schema.name}",
            "parameters": [p for p in declared if p.get("name") not in clash] + by_property,
        }
        paths[f"/collections/{quote(schema.name, safe='')}/items"] = {"get": op}
    return {**doc, "paths": paths}


def _field_schemas(schema: LayerSchema) -> dict[str, Any]:
    """Each field of the layer as a JSON Schema property (the queryables' and the features')."""
    props: dict[str, Any] = {}
    for f in schema.fields:
        p: dict[str, Any] = {"title": f.title_en or f.name, "type": _JSON_TYPES[f.type]}
        if f.type == "date":
            p["format"] = "date"
        if f.type == "list":
            p["items"] = {"type": "string"}
        if f.allowed is not None:
            p["enum"] = list(f.allowed)
        if f.unit:
            p["x-ogc-unit"] = f.unit
        if f.title_zh:
            p["description"] = f.title_zh
        props[f.name] = p
    return props


def _feature_schema(request: Request, schema: LayerSchema, ref: Ref | None = None) -> dict[str, Any]:
    """The JSON Schema of a GeoJSON feature of the layer: every field, typed, as a feature's
    `properties` hold them (a null value is left out of a feature, so its field is here only).
    GeoJSON's Feature shape, which GDAL's OAPIF driver reads its fields from (the describedBy link)."""
    geometry: dict[str, Any] = {"type": "object", "title": "GeoJSON geometry (lon/lat unless crs= says otherwise)"}
    if schema.geometry_type is not None:
        geometry["properties"] = {"type": {"type": "string", "enum": list(schema.geometry_types)}}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": public_url(request, _root(ref) + f"/collections/{schema.name}/feature-schema"),
        "title": f"A feature of {schema.title_en}",
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string", "title": "Feature id"},
            "geometry": geometry if schema.spatial else {"type": "null"},
            "properties": _properties_schema(schema),
        },
    }


def _properties_schema(schema: LayerSchema) -> dict[str, Any]:
    """A feature's `properties` object: each field, and the fields a feature must have (`required`,
    as the layer's schema says: a POST without one is refused naming it)."""
    out: dict[str, Any] = {"type": "object", "properties": _field_schemas(schema)}
    required = [f.name for f in schema.fields if f.required]
    if required:
        out["required"] = required
    return out


def _queryables(request: Request, schema: LayerSchema, ref: Ref | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"id": {"title": "Feature id", "type": "string"}}
    if schema.spatial:  # records (the project register) have none to filter on
        props["geometry"] = _geometry_queryable(schema)
    props |= _field_schemas(schema)
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": public_url(request, _root(ref) + f"/collections/{schema.name}/queryables"),
        "type": "object",
        "title": schema.title_en,
        "properties": props,
        "additionalProperties": False,
    }


def _legacy_crs(doc: dict[str, Any], items: list[Any], content_crs: str | None) -> None:
    """Refuse a GeoJSON "crs" member that names a CRS other than lon/lat (400 naming it).

    The member (GeoJSON 2008's named CRS, which RFC 7946 removed; `venue-twin export --crs` and
    GDAL still write it) is refused rather than honoured, as OGC API - Features Part 4 servers
    read a write's CRS from Content-Crs alone: a file's member means easting-first order (GDAL's
    traditional GIS order, which `venue-twin import` reads), Content-Crs the CRS's own axis order
    (northing first for EPSG:4549), and honouring both would give one request two axis-order
    rules, so a file that names EPSG:4549 would land swapped or not depending on a header. Ignored,
    as it was, its metres were read as lon/lat. One naming lon/lat (CRS84, or EPSG:4326 in a
    file's lon/lat order, as GDAL and QGIS write it into every export) says what RFC 7946 says
    anyway, and is taken, unless Content-Crs names another CRS beside it."""
    for i, node in enumerate([doc, *(x for x in items if isinstance(x, dict) and x is not doc)]):
        if "crs" not in node:
            continue
        member = node["crs"]
        name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
        where = "the body's" if i == 0 else f"item #{items.index(node) + 1}'s"
        try:
            lon_lat = isinstance(name, str) and parse_crs(name).equals(parse_crs("OGC:CRS84"), ignore_axis_order=True)
        except BadInput:
            lon_lat = False
        if not lon_lat:
            raise BadInput(
                f"{where} GeoJSON crs member ({orjson.dumps(member).decode()[:120]}) is not read: GeoJSON "
                "(RFC 7946) has no crs member; send lon/lat, or name the coordinates' CRS in the Content-Crs "
                "header, in that CRS's axis order (northing first for EPSG:4549)"
            )
        if content_crs and not parse_crs(content_crs.strip("<>")).equals(
            parse_crs("OGC:CRS84"), ignore_axis_order=True
        ):
            raise BadInput(
                f"{where} GeoJSON crs member names lon/lat ({name}), and Content-Crs names {content_crs}: "
                "give the CRS the coordinates are in once, in Content-Crs"
            )


def _check_placed(geom: BaseGeometry, uri: str, home: Home | None, named: str) -> None:
    """Refuse a written geometry, given x-first in CRS `uri`, any part of which is no place that CRS
    means (`_misplaced`, which judges a filter's parts the same way)."""
    for part in shapely.get_parts(shapely.get_parts(geom)):
        why = _misplaced(part, uri, home, each_vertex=True, crs_parameter="Content-Crs")
        if why is not None:
            raise BadInput(f"{named}: its geometry (Content-Crs {_crs_name(uri)}) {why}")


def _features_from_body(
    body: bytes,
    content_crs: str | None,
    fid: str | None,
    home: Home | None = None,
    given_ids: dict[str, int] | None = None,
) -> list[Feature]:
    """The features of a write's body, in storage lon/lat. With Content-Crs, each geometry given in
    no place that CRS means (its axes swapped, degrees for metres, out of its range) is refused
    naming why, as a bbox or filter in that CRS is (`_misplaced`; `home` the twin's area of
    interest), not left to the area-of-interest check, which could only say "outside". `given_ids`
    is filled with the ids given to features the body sent without one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadInput(f"the body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadInput("the body must be a GeoJSON Feature or FeatureCollection")
    items = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    if not isinstance(items, list) or not items:
        raise BadInput("the body must be a GeoJSON Feature or a non-empty FeatureCollection")
    _legacy_crs(doc, items, content_crs)
    out = []
    crs = parse_crs(content_crs.strip("<>")) if content_crs else None
    uri = None
    if crs is not None:
        try:
            uri = crs_uri(crs)  # a registered CRS: its range and area of use are known
        except BadInput:
            uri = None  # a custom PROJ definition: the area of interest judges where it lands
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raise BadInput(f"item #{i + 1} of the body is not a GeoJSON Feature")
        if "geometry" not in item or not isinstance(item["geometry"], dict | None):
            raise BadInput(f"item #{i + 1} has no geometry member (an object, or null for a record)")
        geom = None
        if item["geometry"] is not None:
            try:
                geom = read_geometry(item["geometry"])
            except UnreadableGeometry as e:
                named = f" (id {shown_id(str(item['id']))!r})" if item.get("id") is not None else ""
                raise BadInput(f"item #{i + 1}{named}: unreadable geometry: {e}") from None
        if crs is not None and geom is not None:
            if is_northing_first(crs):
                geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
            if uri is not None:
                _check_placed(geom, uri, home, f"item #{i + 1}" + (
                    f" (id {shown_id(str(item['id']))!r})" if item.get("id") is not None else ""
                ))  # fmt: skip
            geom = to_storage(crs)([geom])[0]
        if "properties" not in item:
            # GeoJSON's Feature has one (null for none); without it a PUT removed every property
            # of the feature, and a misspelt "propeties" did so without a word.
            others = sorted(set(item) - {"type", "id", "geometry", "bbox", "links"})
            also = f" (it has {', '.join(repr(k) for k in others)})" if others else ""
            raise BadInput(f"item #{i + 1} has no properties member (an object, or null for none){also}")
        props = item["properties"] or {}
        if not isinstance(props, dict):
            raise BadInput(f"item #{i + 1}: properties must be an object")
        given = item.get("id")
        if fid is not None:
            _same_id(given, fid, f"item #{i + 1}: the body's")
        ident = fid if fid is not None else given
        if ident is None:
            ident = str(uuid.uuid4())
            if given_ids is not None:  # the id the feature is given, by its place in the body (from 1)
                given_ids[ident] = i + 1
        if isinstance(ident, bool | dict | list):
            raise BadInput(f"item #{i + 1}: id must be a string or number")
        out.append(Feature(str(ident), geom, props))
    return out


def _home(twin: TwinView) -> Home:
    """The twin's area of interest, read when asked (`_misplaced` asks only of degrees given for metres)."""
    return lambda: tuple(twin.area_of_interest.bounds)


async def _written_features(
    twin: TwinView, body: bytes, content_crs: str | None, fid: str | None, given_ids: dict[str, int] | None = None
) -> list[Feature]:
    """`_features_from_body` of a POST or PUT: in lon/lat on the event loop (parsing only), in another
    CRS in the thread pool (its checks reproject, and may read the twin's area of interest)."""
    if content_crs is None:
        return _features_from_body(body, None, fid, None, given_ids)
    return await run_in_threadpool(_features_from_body, body, content_crs, fid, _home(twin), given_ids)


def _as_posted(e: ValidationFailed, given_ids: dict[str, int], count: int) -> ValidationFailed:
    """`e` with each problem of a feature posted without an id named as the posted feature (by its
    place among them), not by the id it was to be given: a new random one each time it is sent."""
    if not any(p.feature_id in given_ids for p in e.problems):
        return e
    problems = []
    for p in e.problems:
        n = given_ids.get(p.feature_id) if p.feature_id is not None else None
        if n is not None:
            which = "the posted feature" if count == 1 else f"posted feature #{n}"
            p = dataclasses.replace(p, feature_id=None, reason=f"{which} (sent without an id): {p.reason}")
        problems.append(p)
    return ValidationFailed(problems)


async def _search_filter(request: Request) -> bytes | None:
    """The CQL2 JSON filter of a POST to /items that is a search, or None when it sends features to add.

    Decided from the body before any token is asked for (a search needs none, as a GET's filter
    does not). OWSLib's `collection_items(..., cql=...)` posts its filter to /items as
    application/json (as pygeoapi takes it); sent as application/query-cql-json the body is a
    search whatever it holds. As application/json: a JSON object with a "type" is GeoJSON (an
    add); one without is a search, its filter the body itself (a CQL2 JSON expression: an "op"
    and its args) or the body's "filter" (`{"filter": ..., "filter-lang": "cql2-json"}`, as STAC's
    and other clients' POST searches wrap it). A body that is not JSON, or JSON that is neither
    (no "type", no "op", no "filter"), is 400 saying so, token or not: no token would make it right.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == CQL_JSON:
        return await request.body()
    if ctype != JSON:
        return None
    body = await request.body()
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadInput(f"the body is not valid JSON: {e}") from None
    if isinstance(doc, dict) and "type" in doc:
        return None  # GeoJSON: features to add
    if isinstance(doc, dict) and "op" not in doc and "filter" in doc:
        lang = doc.get("filter-lang", "cql2-json")
        others = sorted(set(doc) - {"filter", "filter-lang"})
        if lang != "cql2-json" or others:
            what = f"filter-lang {lang!r}" if lang != "cql2-json" else ", ".join(repr(k) for k in others)
            raise InvalidParameter(
                f"a search's body is a CQL2 JSON filter, alone or as {{\"filter\": ...}}; this one's {what} is not "
                "read (give limit, bbox and the others as query parameters, and a CQL2 text filter to the GET)",
                parameter="filter",
            )
        return orjson.dumps(doc["filter"])
    if isinstance(doc, bool) or (isinstance(doc, dict) and "op" in doc):
        return body
    has = f" (it has {', '.join(repr(k) for k in list(doc)[:8])})" if isinstance(doc, dict) and doc else ""
    raise BadInput(
        f'the body is neither features to add nor a search{has}: GeoJSON features have a "type" '
        '(Feature or FeatureCollection); a search is a CQL2 JSON filter, with an "op" and its "args"'
    )


# The longest URL a search is sent to: uvicorn (httptools) refuses a request line over about 64 KB
# with a plain-text 400; room is kept for a proxy's additions.
MAX_URL_CHARS = 48 * 1024


def _search_redirect(request: Request, collection_id: str, body: bytes, root: str = "") -> Response:
    """303 to the GET of /items with the body as its CQL2 JSON filter: the search's answer, with
    its paging links, is that GET's (one place reads, checks access and pages), and HTTP clients
    follow a 303 after a POST with a GET."""
    params = dict(request.query_params)
    for taken in ("filter", "filter-lang"):
        if taken in params:
            raise InvalidParameter(
                f"a search sends its CQL2 JSON filter as the body; {taken} is not given beside it", parameter=taken
            )
    try:
        text = orjson.dumps(orjson.loads(body)).decode()  # compact: the filter goes into a URL
    except orjson.JSONDecodeError as e:
        raise InvalidParameter(f"the search's body is not valid JSON: {e}", parameter="filter") from None
    # The GET it is sent to would refuse a filter over the limit, and uvicorn one whose URL is
    # over about 64 KB, in plain text that some clients cannot read after the 303 either: refuse
    # the search here, saying so, instead of sending a client to a URL the server will not take.
    limit = get_settings(request).filter_max_chars
    if len(text) > limit:
        raise InvalidParameter(
            f"filter: the search's filter is {len(text):,} characters (as compact JSON), over the limit of "
            f"{limit:,} (it travels in the URL of the GET the search is sent to); give a bbox, or a smaller "
            "filter (a simpler shape, fewer values)",
            parameter="filter",
        )
    params.update({"filter": text, "filter-lang": "cql2-json"})
    location = public_url(request, root + f"/collections/{quote(collection_id, safe='')}/items", **params)
    if len(location) > MAX_URL_CHARS:
        raise InvalidParameter(
            f"filter: the search's GET would be a URL of {len(location):,} characters, over the {MAX_URL_CHARS:,} "
            "this server takes; give a bbox, or a smaller filter (a simpler shape, fewer values)",
            parameter="filter",
        )
    return Response(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})


def _same_id(given: Any, fid: str, whose: str) -> None:
    """Refuse a body whose id (`given`, if any) is not `fid`, the feature the URL names: it would
    otherwise be written over this one without a word. An id is not changed by a write."""
    if given is not None and str(given) != fid:
        raise BadInput(
            f"{whose} id {shown_id(str(given))!r} is not {shown_id(fid)!r}, the feature this URL names "
            "(an id cannot be changed: POST a new feature and DELETE this one)"
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 MergePatch: `patch` applied to `target` (neither changed). An object patch merges
    into the target's members (a target that is no object counts as {}), a null member removing
    one, an object member merged in turn; any other patch (an array, a number, null) replaces the target."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def item_path(layer: str, fid: str) -> str:
    """The path of one feature, its id percent-encoded as one segment: an id may hold `/`, `?`,
    `#`, `%`, spaces or characters a header cannot carry (Location is latin-1)."""
    return f"/collections/{layer}/items/{quote(fid, safe='')}"


def _written(twin: TwinView, layer: str, fid: str, cid: str | None) -> Response:
    """204 for a replaced or updated feature, with the ETag of the version this commit made
    (not of the head, which another writer may already have moved). With no commit (the feature
    was already as written) the ETag is that of the feature as it is, and no X-Twin-Commit."""
    if cid is None:
        return Response(status_code=204, headers={"ETag": etag_of(twin.feature(layer, fid))})
    etag = etag_of(twin.feature(layer, fid, twin.resolve(cid)))
    return Response(status_code=204, headers={"ETag": etag, "X-Twin-Commit": cid})


def _unchanged(twin: TwinView, layer: str, fid: str, seen: bytes) -> bool:
    try:
        return twin.feature(layer, fid) == seen
    except NotFound:
        return False


class FeaturesFactory:
    """The OGC API - Features endpoints; mounted by api.main.create_app.

    Routes that read the twin are plain `def`: FastAPI runs them in its thread pool, so a slow
    read (a big page, a database across the network) never holds the event loop, and other
    requests (even cheap ones such as /conformance) are answered meanwhile. One hop per request
    is the price (about 100 µs of CPU per request on two busy cores, measured by
    `python -m bench.api_bench` against the same route kept `async`). The one exception is a
    single feature by id from a local store (`TwinView.quick_point_reads`): an index look-up with
    nothing to wait for, cheaper than the hop, read on the event loop. Writes stay `async` to read
    the body, and run the twin's work in the pool.
    """

    def __init__(self, pinned: bool = False) -> None:
        """`pinned`: the reads mounted a second time under PINNED_ROOT (/versions/{versionId}), as
        of the version the path names, for clients that open a service by its address and follow
        its links (GDAL's OAPIF driver, QGIS): JSON only, read-only, left out of the API definition."""
        self.pinned = pinned
        self.router = APIRouter(
            prefix=PINNED_ROOT if pinned else "",
            route_class=self._cls(StrictQueryRoute),
            include_in_schema=not pinned,
        )
        self.register()

    def _cls(self, base: type[StrictQueryRoute], hints: bool = False, pages: bool = False) -> type[StrictQueryRoute]:
        """The route class of this factory's routes: pinned ones take their version from the path;
        the documents that describe the twin now say where its versions are (`hints`); those that
        serve a page when asked (`pages`: f=html, a browser) answer their errors with pages too
        (api.errors.wants_html). A pinned root serves no pages (`_forms`)."""
        if self.pinned:
            return route_class(base, pins_version=True, pages=False)
        attrs: dict[str, Any] = {"hints": TIME_TRAVEL_HINTS} if hints else {}
        if pages:
            attrs["pages"] = True
        return route_class(base, **attrs) if attrs else base

    def register(self) -> None:
        r = self.router
        # Each document that is also a page (f=html, or a browser's Accept) is marked so (`pages`).
        documents = self._cls(StrictQueryRoute, hints=True, pages=True)
        add_get_route(
            r, "/", self.landing, summary="Landing page", tags=["Capabilities"],
            route_class_override=self._cls(PageRoute, hints=True),
        )  # fmt: skip
        add_get_route(
            r, "/conformance", self.conformance, summary="Conformance classes", tags=["Capabilities"],
            route_class_override=self._cls(StrictQueryRoute, pages=True),
        )  # fmt: skip
        add_get_route(
            r, "/collections", self.collections, summary="The venue layers", tags=["Capabilities"],
            route_class_override=documents,
        )  # fmt: skip
        add_get_route(
            r, "/collections/{collectionId}", self.collection, summary="One layer", tags=["Capabilities"],
            route_class_override=documents,
        )  # fmt: skip
        add_get_route(
            r,
            "/collections/{collectionId}/queryables",
            self.queryables,
            summary="Queryables",
            tags=["Capabilities"],
            route_class_override=documents,
        )
        add_get_route(
            r,
            "/collections/{collectionId}/feature-schema",
            self.feature_schema,
            summary="The JSON Schema of a collection's GeoJSON features",
            tags=["Capabilities"],
            route_class_override=self._cls(StrictQueryRoute, hints=True),  # JSON only
        )
        add_get_route(
            r,
            "/collections/{collectionId}/items",
            self.items,
            summary="Features",
            tags=["Data"],
            route_class_override=self._cls(PropertyQueryRoute, pages=True),
        )
        item = "/collections/{collectionId}/items/{featureId}"
        add_get_route(
            r, item, self.item, summary="One feature", tags=["Data"],
            route_class_override=self._cls(StrictQueryRoute, pages=True),
        )  # fmt: skip
        if self.pinned:
            # A version is history: no edit changes it. A search (a CQL2 JSON body) is a read.
            r.add_api_route(
                "/collections/{collectionId}/items", self.pinned_post, methods=["POST"],
                route_class_override=self._cls(PropertyQueryRoute),
            )  # fmt: skip
            r.add_api_route(item, self.read_only, methods=["PUT", "PATCH", "DELETE"])
            r.add_api_route("/collections/{collectionId}/items", self.pinned_options, methods=["OPTIONS"])
            r.add_api_route(item, self.pinned_options, methods=["OPTIONS"])
            return
        r.add_api_route(
            "/collections/{collectionId}/items",
            self.create,
            methods=["POST"],
            summary="Add features (a commit), or search with a CQL2 JSON body (303 to the GET that answers it)",
            tags=["Edit"],
            status_code=201,
            route_class_override=PropertyQueryRoute,  # a search's parameters (create refuses any)
            openapi_extra=with_token(ADD_BODY),
        )
        r.add_api_route(
            "/collections/{collectionId}/items",
            self.options_items,
            methods=["OPTIONS"],
            summary="Allowed methods",
            tags=["Edit"],
        )
        r.add_api_route(
            item, self.replace, methods=["PUT"], summary="Replace a feature (a commit)", tags=["Edit"],
            openapi_extra=with_token(REPLACE_BODY),
        )  # fmt: skip
        r.add_api_route(
            item, self.update, methods=["PATCH"], summary="Update a feature (a commit)", tags=["Edit"],
            openapi_extra=with_token(UPDATE_BODY),
        )  # fmt: skip
        r.add_api_route(
            item, self.delete, methods=["DELETE"], summary="Delete a feature (a commit)", tags=["Edit"],
            status_code=204, openapi_extra=with_token(),
        )  # fmt: skip
        r.add_api_route(item, self.options_item, methods=["OPTIONS"], summary="Allowed methods", tags=["Edit"])

    def _forms(self, *forms: str) -> tuple[str, ...]:
        """The formats a route answers in: a pinned root gives no pages (they link the twin now;
        /collections/{id}/items?version=…&f=html is the page of a version)."""
        return tuple(f for f in forms if f != "html") if self.pinned else forms

    @staticmethod
    def _pinned_ref(request: Request, twin: TwinView) -> Ref | None:
        """The version a pinned route's path names (None elsewhere: the twin now)."""
        given = pinned_version(request)
        return None if given is None else VersionParams(given, in_path=True).resolve(twin)

    @staticmethod
    def _pinned_headers(request: Request, ref: Ref | None) -> dict[str, str] | None:
        """A pinned document's version and caching (kept for good when its path names a full commit id)."""
        return None if ref is None else cache_headers(pinned_version(request), ref)

    # ------------------------------------------------------------------ capabilities
    def landing(
        self,
        request: Request,
        twin: TwinDep,
        f: Annotated[str | None, Query(description="json or html")] = None,
        lang: Annotated[str | None, Query(description="the home page's language: zh or en")] = None,
    ) -> Response:
        fmt = negotiate(request, f, self._forms("json", "html"))
        settings = get_settings(request)
        ref = self._pinned_ref(request, twin)
        root = _root(ref)
        links: list[dict[str, Any]] = [
            {"rel": "self", "type": JSON, "title": "This document", "href": public_url(request, root + "/")},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "The API definition",
                "href": public_url(request, root + "/api"),
            },
            {
                "rel": "service-doc",
                "type": "text/html",
                "title": "The API documentation",
                "href": public_url(request, "/docs"),
            },
            {
                "rel": "conformance",
                "type": JSON,
                "title": "Conformance classes",
                "href": public_url(request, root + "/conformance"),
            },
            {
                "rel": "data",
                "type": JSON,
                "title": "The venue layers",
                "href": public_url(request, root + "/collections"),
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/data",
                "type": JSON,
                "title": "The venue layers",
                "href": public_url(request, root + "/collections"),
            },
            {
                # OGC API - Tiles (/req/tilesets-list/...): where a client learns the tiling schemes
                # the tiles are cut in, before it asks a collection for its tilesets.
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                "type": JSON,
                "title": "Tile matrix sets",
                "href": public_url(request, "/tileMatrixSets"),
            },
            {
                "rel": "version-history",
                "type": JSON,
                "title": "Versions (commits)",
                "href": public_url(request, "/versions"),
            },
        ]
        title = settings.title
        if ref is None:
            links.insert(
                1,
                {
                    "rel": "alternate",
                    "type": "text/html",
                    "title": "This document as HTML",
                    "href": public_url(request, "/", f="html"),
                },
            )
        elif ref.commit is not None:
            title = f"{settings.title}, as of commit {ref.commit.id[:12]} ({_stamp(ref.commit.time)})"
            links.append(
                {"rel": "latest-version", "type": JSON, "title": "The twin now", "href": public_url(request, "/")}
            )
        doc = {
            "title": title,
            "description": "The versioned digital twin of the venue of the China International Import Expo: its "
            "layers as they are now and as they were at any commit. Positions are approximate until surveyed.",
            "links": links,
        }
        if fmt == "html":
            from api.maps import landing_response  # the product's home page (web/landing.py)

            return landing_response(request, twin, lang)
        return _json(doc, headers=self._pinned_headers(request, ref))

    async def conformance(
        self,
        request: Request,
        who: ReaderDep,
        f: Annotated[str | None, Query(description="json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        doc = {"conformsTo": PINNED_CONFORMANCE if self.pinned else CONFORMANCE}
        if negotiate(request, f, self._forms("json", "html")) == "html":
            return html.conformance(request, lang, doc)
        return _json(doc)

    def collections(
        self,
        request: Request,
        twin: TwinDep,
        f: Annotated[str | None, Query(description="json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        fmt = negotiate(request, f, self._forms("json", "html"))
        ref = self._pinned_ref(request, twin)
        here = _root(ref) + "/collections"
        links = [{"rel": "self", "type": JSON, "href": public_url(request, here)}]
        if ref is None:
            links.append({"rel": "alternate", "type": "text/html", "href": public_url(request, here, f="html")})
        doc = {
            "links": links,
            "collections": [_collection_doc(request, twin, s, ref) for s in twin.layers(ref)],
            "crs": SUPPORTED_API_CRS,
        }
        if fmt == "html":
            return html.collections(request, lang, doc)
        return _json(doc, headers=self._pinned_headers(request, ref))

    def collection(
        self,
        request: Request,
        twin: TwinDep,
        collection_id: CollectionId,
        f: Annotated[str | None, Query(description="json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        schema = collection_of(twin, collection_id)  # a hidden or unknown layer: 404 whatever else is asked
        fmt = negotiate(request, f, self._forms("json", "html"))
        ref = self._pinned_ref(request, twin)
        if ref is not None:
            schema = collection_of(twin, collection_id, ref)
        doc = _collection_doc(request, twin, schema, ref)
        if fmt == "html":
            return html.collection(request, lang, doc, schema, _queryables(request, schema), twin.count(schema.name))
        return _json(doc, headers=self._pinned_headers(request, ref))

    def queryables(
        self,
        request: Request,
        twin: TwinDep,
        collection_id: CollectionId,
        f: Annotated[str | None, Query(description="json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        schema = collection_of(twin, collection_id)
        fmt = negotiate(request, f, self._forms("json", "html"))
        ref = self._pinned_ref(request, twin)
        if ref is not None:
            schema = collection_of(twin, collection_id, ref)
        doc = _queryables(request, schema, ref)
        if fmt == "html":
            return html.queryables(request, lang, doc, schema)
        headers = self._pinned_headers(request, ref)
        return _json(doc, media="application/schema+json", headers=headers)

    def feature_schema(self, request: Request, twin: TwinDep, collection_id: CollectionId) -> Response:
        schema = collection_of(twin, collection_id)
        ref = self._pinned_ref(request, twin)
        if ref is not None:
            schema = collection_of(twin, collection_id, ref)
        doc = _feature_schema(request, schema, ref)
        return _json(doc, media="application/schema+json", headers=self._pinned_headers(request, ref))

    # ------------------------------------------------------------------ reads
    async def items(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        limit: Annotated[
            int | None,
            # No upper bound here: a limit above the maximum gets the maximum (below), however large.
            Query(ge=1, description="At most this many features (a limit above the maximum gets the maximum)."),
        ] = None,
        offset: Annotated[int, Query(ge=0, le=2**62, description="Skip this many features.")] = 0,
        cursor: Annotated[str | None, Query(description="Start after this feature id (from a next link).")] = None,
        bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (CRS84 by default).")] = None,
        bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
        crs: Annotated[str | None, Query(description="The CRS of the response's coordinates.")] = None,
        datetime_: Annotated[
            str | None, Query(alias="datetime", description="An instant: the features as they stood then.")
        ] = None,
        filter_: Annotated[str | None, Query(alias="filter", description="A CQL2 filter (text or JSON).")] = None,
        filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
        filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
        sortby: Annotated[str | None, Query(description="Properties to sort by, e.g. -area_m2,code")] = None,
        properties: Annotated[str | None, Query(description="Only these properties, comma separated.")] = None,
        f: Annotated[str | None, Query(description="geojson, json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        def home() -> tuple[float, ...]:
            return tuple(twin.area_of_interest.bounds)

        def answer() -> Response:
            settings = get_settings(request)
            fmt = negotiate(request, f, self._forms("geojson", "json", "html"), default="geojson")
            schema = collection_of(twin, collection_id)
            instant = None
            if datetime_ is not None:
                if "/" in datetime_:
                    # GDAL's OAPIF driver sends a -where on a date property as a datetime interval;
                    # here datetime is the twin's time (time travel), so the answer says what to send.
                    raise InvalidParameter(
                        "datetime intervals are not supported: give an instant (the twin as it stood then). "
                        "To filter on a date property, use filter, e.g. filter=planned_start >= DATE('2026-08-01') "
                        "(GDAL sends a -where on a date field as this interval: give it --config "
                        "OGR_OAPIF_ALLOW_CQL_TEXT YES and it sends the -where as such a filter)",
                        parameter="datetime",
                    )
                instant = datetime_
            ref = version.resolve(twin, instant)
            pin = ref if version.in_path else None  # a pinned root's version: its links stay under it
            if pin is not None:
                schema = collection_of(twin, collection_id, pin)
            # A limit above the maximum is not an error in OGC API - Features: the page holds at most
            # the maximum, and its next link says limit=<the maximum> (as pygeoapi and TiPg do).
            n = min(limit or settings.default_limit, settings.max_limit)
            out_crs = output_crs(crs)
            if bbox_crs is not None and bbox is None:
                raise InvalidParameter("bbox-crs needs a bbox", parameter="bbox-crs")
            box, exact = _bbox_to_storage(_parse_bbox(bbox), bbox_crs, home) if bbox is not None else (None, None)
            if bbox is not None and not schema.spatial:
                raise InvalidParameter(f"layer {schema.name} has no geometry, so no bbox", parameter="bbox")
            if filter_crs is not None and filter_crs not in SUPPORTED_API_CRS:
                raise InvalidParameter.not_one_of("filter-crs", filter_crs, SUPPORTED_API_CRS, subject="filter-crs ")
            try:
                language = filter_language(filter_lang)  # GDAL's "cql-text" is CQL2 text
            except BadInput as e:
                raise InvalidParameter.of(e, parameter="filter-lang") from None
            expr = None
            if filter_ is not None:
                try:
                    expr = parse_filter(
                        filter_,
                        language,
                        max_chars=settings.filter_max_chars,
                        max_vertices=settings.filter_max_vertices,
                    )
                except BadInput as e:
                    raise InvalidParameter.of(e, parameter="filter") from None
                expr = _filter_in_storage(expr, filter_crs, home)
            elif filter_lang is not None:
                raise InvalidParameter("filter-lang needs a filter", parameter="filter-lang")
            try:
                equal = property_equals(schema, by_property, request.state.declared_query)
            except PropertyParameterError as e:
                raise InvalidParameter.of(e, parameter=e.parameter) from None
            if equal is not None:
                expr = equal if expr is None else expr + equal
            try:
                q = FeatureQuery(
                    layer=schema.name,
                    ref=ref,
                    bbox=box,
                    filter=expr,
                    sortby=parse_sortby(sortby) if sortby else (),
                    properties=[p.strip() for p in properties.split(",") if p.strip()]
                    if properties is not None
                    else None,
                    limit=n,
                    offset=offset,
                    after=cursor,
                    within=exact,
                )
                page = run_query(twin, q)
            except BadInput as e:
                text = str(e)
                head = text.split(":", 1)[0]
                param = head if head in ("filter", "sortby", "properties", "cursor") else None
                raise InvalidParameter.of(e, parameter=param) from None
            features = reproject_features(page.features, out_crs)
            params = dict(request.query_params)
            now = f"/collections/{schema.name}/items"
            base = _root(pin) + now
            # The next and previous pages are read at the version this page was read at, so a commit
            # landing between two pages cannot make the walk skip or repeat a feature (under a
            # pinned root its path names that version).
            pinned = {k: v for k, v in params.items() if k not in ("version", "asof", "datetime")}
            if ref.commit is not None and pin is None:
                pinned["version"] = ref.commit.id
            links = [
                {"rel": "self", "type": GEOJSON, "title": "This page", "href": public_url(request, base, **params)},
                {
                    "rel": "alternate",
                    "type": "text/html",
                    "title": "This page as HTML",
                    "href": public_url(request, now, **{**params, "f": "html", **_version_param(pin)}),
                },
                {
                    "rel": "collection",
                    "type": JSON,
                    "title": "The collection",
                    "href": public_url(request, _root(pin) + f"/collections/{schema.name}"),
                },
            ]
            returned = len(features)
            if cursor is None and offset + returned < page.number_matched:
                nxt = {**pinned, "offset": str(offset + returned), "limit": str(n)}
                links.append(
                    {"rel": "next", "type": GEOJSON, "title": "Next page", "href": public_url(request, base, **nxt)}
                )
            elif cursor is not None and returned == n and page.feature_ids:
                # The cursor alone says where the next page starts: an offset given with it skipped
                # features after the cursor on this page, and must not skip again on every next one.
                nxt = {k: v for k, v in pinned.items() if k != "offset"}
                nxt.update(cursor=page.feature_ids[-1], limit=str(n))
                links.append(
                    {"rel": "next", "type": GEOJSON, "title": "Next page", "href": public_url(request, base, **nxt)}
                )
            if cursor is None and offset > 0:
                prev = {**pinned, "offset": str(max(offset - n, 0)), "limit": str(n)}
                links.append(
                    {
                        "rel": "prev",
                        "type": GEOJSON,
                        "title": "Previous page",
                        "href": public_url(request, base, **prev),
                    }
                )
            meta = {
                "numberMatched": page.number_matched,
                "numberReturned": returned,
                "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "twin:version": ref.commit.id if ref.commit else None,
                "links": links,
            }
            headers = {"Content-Crs": f"<{out_crs}>", **read_headers(request, ref, version.version)}
            if fmt == "html":
                # The page's map draws lon/lat, whatever crs the JSON form would answer in.
                offset_read = offset if cursor is None else None
                return html.items(request, lang, twin, schema, meta, page.features, ref, offset_read, headers)
            body = feature_collection(features, meta)
            return Response(body, media_type=GEOJSON if fmt == "geojson" else JSON, headers=headers)

        by_property = undeclared_query(request)  # ?kind=lawn: PropertyQueryRoute lets them through
        quick = (
            bbox is not None
            and not by_property
            and all(p is None for p in (bbox_crs, crs, filter_, sortby, properties))
            and negotiate(request, f, self._forms("geojson", "json", "html"), default="geojson") != "html"
        )
        if (
            quick
            and bbox is not None
            and (storage_box := _quick_box(bbox)) is not None
            and twin.quick_bbox_read(collection_id, storage_box)
        ):
            # Answered from the store's in-memory index: bounded work with nothing to wait for, cheaper
            # than the hop to a worker thread (see Twin.quick_bbox_reads).
            return answer()
        return await run_in_threadpool(answer)

    async def item(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
        crs: Annotated[str | None, Query(description="The CRS of the response's coordinates.")] = None,
        datetime_: Annotated[str | None, Query(alias="datetime", description="An instant.")] = None,
        f: Annotated[str | None, Query(description="geojson, json or html")] = None,
        lang: html.PageLang = None,
    ) -> Response:
        fmt = negotiate(request, f, self._forms("geojson", "json", "html"), default="geojson")

        def answer() -> Response:
            schema = collection_of(twin, collection_id)
            if datetime_ is not None and "/" in datetime_:
                raise InvalidParameter("datetime must be an instant here", parameter="datetime")
            ref = version.resolve(twin, datetime_)
            root = _root(ref if version.in_path else None)
            out_crs = output_crs(crs)
            stored = twin.feature(schema.name, feature_id, ref)
            body = reproject_features([stored], out_crs)[0]
            # `self` is this document: the version and CRS it was read in (a bare path read the head
            # in CRS84, another document), as the items' self link keeps its query.
            params = {k: v for k, v in request.query_params.items() if k not in ("f", "lang")}  # the type says which
            here = item_path(schema.name, feature_id)
            links = [
                {"rel": "self", "type": GEOJSON, "href": public_url(request, root + here, **params)},
                {
                    "rel": "alternate",
                    "type": "text/html",
                    "href": public_url(
                        request, here, **{**params, "f": "html", **_version_param(ref if root else None)}
                    ),
                },
                {"rel": "collection", "type": JSON, "href": public_url(request, root + f"/collections/{schema.name}")},
                {
                    "rel": "version-history",
                    "type": JSON,
                    "href": public_url(request, item_path(schema.name, feature_id) + "/history"),
                },
            ]
            headers = {
                "Content-Crs": f"<{out_crs}>",
                **cache_headers(version.version, ref),
                "ETag": etag_of(stored),
            }
            if fmt == "html":
                return html.item(request, lang, twin, schema, orjson.loads(stored), ref, headers)
            out = body[:-1] + b',"links":' + orjson.dumps(links) + b"}"
            return Response(out, media_type=GEOJSON if fmt == "geojson" else JSON, headers=headers)

        if fmt != "html" and crs is None and twin.quick_point_reads():
            # The stored bytes as they are: bounded work with nothing to wait for (see the class).
            return answer()
        return await run_in_threadpool(answer)

    # ------------------------------------------------------------------ writes (each one commit)
    async def _body(self, request: Request) -> bytes:
        """The body of a write, in a media type its method takes (BODY_TYPES); a 415 names those."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        takes = BODY_TYPES[request.method]
        if ctype not in takes:
            listed = f"{', '.join(takes[:-1])} or {takes[-1]}" if len(takes) > 1 else takes[0]
            raise UnsupportedMediaType(f"{request.method} takes {listed} (got {ctype or 'no content type'})")
        return await request.body()

    def _write(
        self,
        twin: TwinView,
        who: Any,
        layer: str,
        fid: str,
        if_match: list[str] | None,
        build: Callable[[bytes], list[Change]],
        message: str | None,
        default: str,
    ) -> str | None:
        """Read the feature, check If-Match, build the changes from it and commit them on that head.

        The commit names the head it read as its parent, and the twin applies it on top of whatever
        landed since as long as this feature (and the code it gives) did not change meanwhile, so
        edits of other features never make it fail. If this feature did change, the edit is read
        again: a stale If-Match then answers 412, and an edit without one is rebuilt on the new
        version; only writers racing on this very feature can use up the tries (409).

        A write that leaves the feature as it is (a PUT or PATCH sent again, say after a lost
        answer) makes no commit and returns None: HTTP's PUT is idempotent, so it succeeds.
        """
        why = id_problem(fid)
        if why is not None:  # no feature has such an id: say why (a 404 would name the whole id)
            raise BadInput(f"{layer}/{shown_id(fid)}: {why}")
        tries = 5
        for attempt in range(tries):
            head = twin.resolve()
            current = twin.feature(layer, fid, head)
            if if_match is not None:
                # RFC 9110 13.1.1: the condition holds if any listed tag is the feature's (compared
                # strongly), whatever else the list holds, in one If-Match line or several.
                tags = if_match_tags(if_match)
                if "*" not in tags and etag_of(current) not in tags:
                    if etag_of(current) in (t.removeprefix("W/") for t in tags):
                        # If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches,
                        # though the feature is as it was; saying "changed" would send the client
                        # round in circles.
                        raise PreconditionFailed(
                            f"If-Match takes the ETag as given ({etag_of(current)}), not a weak W/ one; "
                            f"{layer}/{fid} has not changed"
                        )
                    if etag_of(current).strip('"') in (t.removeprefix("W/").strip('"') for t in tags):
                        # An entity tag is quoted (RFC 9110 8.8.3); a shell or script that dropped
                        # the quotes sent this feature's tag, not a stale one.
                        raise PreconditionFailed(
                            f"If-Match takes the ETag with its quotes ({etag_of(current)}); "
                            f"{layer}/{fid} has not changed"
                        )
                    foreign = [t for t in tags if not _OUR_ETAG.fullmatch(t)]
                    if foreign:
                        # RFC 9110 13.1.1: a value that is neither * nor a list of entity tags is a
                        # false condition (412), but it says nothing about the feature's changes.
                        shown = foreign[0] if len(foreign[0]) <= 60 else foreign[0][:57] + "..."
                        raise PreconditionFailed(
                            f"If-Match {shown!r} is not an ETag this service gave: send the ETag header of a "
                            f"read as it is, quotes and all ({layer}/{fid} is now {etag_of(current)}), or * "
                            "for any version"
                        )
                    raise PreconditionFailed(
                        f"{layer}/{fid} changed since that ETag was read (now {etag_of(current)}); read it again"
                    )
            changes = build(current)
            try:
                info = twin.commit(
                    changes,
                    author=who.name,
                    message=message or fitted_message(default),  # (the id it names made visible)
                    parent=head.commit.id if head.commit else None,
                )
                return info.id
            except ValidationFailed as e:
                if e.nothing_changes:  # refused by the twin; for a PUT or PATCH a success
                    return None
                raise
            except Conflict:
                if attempt == tries - 1 or _unchanged(twin, layer, fid, current):
                    raise  # the tries are used up, or the conflict is not this feature's (a code taken)
        raise AssertionError("unreachable")

    async def create(
        self,
        request: Request,
        twin: TwinDep,
        who: PrincipalDep,
        collection_id: CollectionId,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
        content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
    ) -> Response:
        search = await _search_filter(request)  # before the token: a search needs none
        if search is not None:
            return _search_redirect(request, collection_id, search)
        await editor(who)
        message = message_header(message)
        if request.query_params:
            key = next(iter(request.query_params))
            raise InvalidParameter(
                f"unknown query parameter {key!r}: adding features takes no query parameters "
                "(they go with a search, a POST of a CQL2 JSON filter)",
                parameter=key,
                code="unknown_parameter_none",
                values={"parameter": key},
            )

        def read() -> tuple[LayerSchema, Ref]:
            # The version this POST is judged against, read as it arrives: the commit names it as
            # its parent, so an id (or a code) another writer takes after this read is a conflict
            # (409), while one that was taken already is bad input (400: it exists already).
            head = twin.resolve()
            return collection_of(twin, collection_id), head

        schema, head = await run_in_threadpool(read)
        given_ids: dict[str, int] = {}
        feats = await _written_features(twin, await self._body(request), content_crs, None, given_ids)
        for i, feat in enumerate(feats):
            # Routes match the decoded path (so %2F is a / too) and clients resolve dot segments:
            # no URL could read, replace or delete such a feature at /items/{featureId}.
            if "/" in feat.id or feat.id in (".", ".."):
                raise BadInput(
                    f"item #{i + 1}: the id {shown_id(feat.id)!r} cannot be part of a URL "
                    f"(/collections/{schema.name}/items/{{featureId}}): an id may not hold '/' or be '.' or '..'"
                )
        changes = [Change(schema.name, "add", f.id, f) for f in feats]
        text = message or f"API: add {len(feats)} feature(s) to {schema.name}"

        def commit() -> tuple[str, str | None]:
            parent = head.commit.id if head.commit else None
            try:
                made = twin.commit(changes, author=who.name, message=text, parent=parent).id
            except ValidationFailed as e:
                raise _as_posted(e, given_ids, len(feats)) from None
            one = etag_of(twin.feature(schema.name, feats[0].id, twin.resolve(made))) if len(feats) == 1 else None
            return made, one

        cid, etag = await run_in_threadpool(commit)
        loc = public_url(request, item_path(schema.name, feats[0].id))
        headers = {"Location": loc, "X-Twin-Commit": cid}
        if etag is not None:
            headers["ETag"] = etag
        return _json({"commit": cid, "ids": [f.id for f in feats]}, status=201, headers=headers)

    async def replace(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
        if_match: IfMatch = None,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
        content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
    ) -> Response:
        message = message_header(message)
        schema = await run_in_threadpool(collection_of, twin, collection_id)
        feats = await _written_features(twin, await self._body(request), content_crs, feature_id)
        if len(feats) != 1:
            raise BadInput("PUT takes one Feature")

        def build(current: bytes) -> list[Change]:
            return [Change(schema.name, "modify", feature_id, feats[0])]

        cid = await run_in_threadpool(
            self._write, twin, who, schema.name, feature_id, if_match, build, message,
            f"API: replace {schema.name}/{feature_id}",
        )  # fmt: skip
        return await run_in_threadpool(_written, twin, schema.name, feature_id, cid)

    async def update(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
        if_match: IfMatch = None,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
        content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
    ) -> Response:
        """A JSON merge patch (RFC 7396) of the feature: properties set to null are removed."""
        message = message_header(message)
        schema = await run_in_threadpool(collection_of, twin, collection_id)
        body = await self._body(request)
        try:
            patch = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise BadInput(f"the body is not valid JSON: {e}") from None
        if not isinstance(patch, dict):
            raise BadInput("a merge patch must be a JSON object")
        if not isinstance(patch.get("properties") or {}, dict):
            raise BadInput("properties in a merge patch must be an object")
        # A member the patch cannot change was answered 204 "done" with nothing changed (a typo such
        # as "propeties" lost the edit without a word): name it instead. `links` and `bbox`, which a
        # feature read from here may carry back, are derived and left as they are.
        unknown = sorted(set(patch) - {"type", "id", "geometry", "properties", "links", "bbox"})
        if unknown:
            raise BadInput(
                f"a merge patch of a feature changes its geometry and properties; "
                f"{', '.join(repr(k) for k in unknown)} is not a member it has"
            )
        if "type" in patch and patch["type"] != "Feature":
            raise BadInput(f"the patch's type is {patch['type']!r}: a feature's type is 'Feature'")
        _same_id(patch.get("id"), feature_id, "the patch's")

        def build(current_bytes: bytes) -> list[Change]:
            current = orjson.loads(current_bytes)
            # RFC 7396, as for the geometry below: "properties": null removes them all (the schema then
            # names any required), a null member removes that one.
            props = current["properties"]
            if "properties" in patch:
                props = merge_patch(props, patch["properties"]) or {}
                if not isinstance(props, dict):
                    raise BadInput("a patch's properties are an object of the properties to change, or null")
            geometry = current["geometry"]
            if "geometry" in patch:
                # RFC 7396 merges objects member by member, the geometry's too: {"coordinates": ...}
                # keeps the feature's type; null (the member, or the patch's geometry) removes it
                # (the layer's schema then says whether a feature may have none).
                geometry = merge_patch(geometry, patch["geometry"])
                if content_crs is not None and isinstance(patch["geometry"], dict) and geometry is not None:
                    given = {"coordinates", "geometries"} & set(patch["geometry"])
                    if not given:
                        raise BadInput(
                            "with Content-Crs, a patch of the geometry gives its coordinates: the feature's own "
                            "are in lon/lat (CRS84), not in the Content-Crs"
                        )
            merged = {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": props}
            crs = content_crs if "geometry" in patch else None
            return [
                Change(
                    schema.name,
                    "modify",
                    feature_id,
                    _features_from_body(orjson.dumps(merged), crs, feature_id, _home(twin))[0],
                )
            ]

        cid = await run_in_threadpool(
            self._write, twin, who, schema.name, feature_id, if_match, build, message,
            f"API: update {schema.name}/{feature_id}",
        )  # fmt: skip
        return await run_in_threadpool(_written, twin, schema.name, feature_id, cid)

    async def delete(
        self,
        request: Request,
        twin: TwinDep,
        who: EditorDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
        if_match: IfMatch = None,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
    ) -> Response:
        message = message_header(message)
        if body := await request.body():
            # A delete names its feature by the URL alone, as a change file's delete carries no
            # feature (README): a body (a feature, a patch sent with the wrong method) is refused,
            # and nothing is deleted, rather than ignored.
            raise BadInput(
                f"a DELETE carries no body (this one has {len(body):,} bytes): it deletes the feature the URL "
                "names; send it without one (to change the feature, PUT or PATCH it)"
            )
        schema = await run_in_threadpool(collection_of, twin, collection_id)

        def build(current: bytes) -> list[Change]:
            return [Change(schema.name, "delete", feature_id)]

        cid = await run_in_threadpool(
            self._write, twin, who, schema.name, feature_id, if_match, build, message,
            f"API: delete {schema.name}/{feature_id}",
        )  # fmt: skip
        assert cid is not None  # a delete of a feature that is there always changes something
        return Response(status_code=204, headers={"X-Twin-Commit": cid})

    def options_items(self, twin: TwinDep, collection_id: CollectionId) -> Response:
        collection_of(twin, collection_id)
        return Response(status_code=204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})

    async def pinned_post(self, request: Request, collection_id: CollectionId) -> Response:
        """A search (a CQL2 JSON body) is a read of this version: 303 to its GET here. An add is refused."""
        search = await _search_filter(request)
        if search is not None:
            root = PINNED_ROOT.format(versionId=quote(request.path_params["versionId"], safe=""))
            return _search_redirect(request, collection_id, search, root)
        return self.read_only(request)

    def read_only(self, request: Request) -> Response:
        now = "/" + request.url.path.split("/", 3)[3]  # this address without /versions/{versionId}
        raise ReadOnlyVersion(
            f"{request.method} is not allowed here: {PINNED_ROOT}/... is the twin as of a version "
            f"(here {request.path_params['versionId']}), which no edit changes; edits go to {now}",
            headers={"Allow": "GET, HEAD, OPTIONS"},
        )

    def pinned_options(self, twin: TwinDep, collection_id: CollectionId) -> Response:
        collection_of(twin, collection_id)  # a hidden layer is missing here too
        return Response(status_code=204, headers={"Allow": "GET, HEAD, OPTIONS"})

    def options_item(
        self,
        twin: TwinDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
    ) -> Response:
        schema = collection_of(twin, collection_id)
        try:
            twin.feature(schema.name, feature_id)
        except NotFound:
            return Response(status_code=204, headers={"Allow": "OPTIONS"})
        return Response(status_code=204, headers={"Allow": "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"})
