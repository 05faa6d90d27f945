"""Mapbox Vector Tiles of a layer, at any version, on two of OGC's common grids (morecantile's
definitions): WebMercatorQuad, which web maps and QGIS use, and WorldCRS84Quad (lon/lat degrees,
two tiles at zoom 0), which GDAL's OGCAPI driver picks when offered, and the only grid on which it
finds a collection's tiles without being told where they are (README, Vector tiles). A store may
encode tiles itself (`Store.mvt`, e.g. ST_AsMVT on PostGIS); otherwise the features come from the
store's bbox read at that version and are clipped, quantised and encoded here with mapbox-vector-tile.

A tile has one layer, named after the collection, whose features carry their properties (a list
or object as JSON text: MVT values are scalars) plus `id`, the feature id (MVT's own feature id
is an unsigned integer and cannot hold ours). A tile with no features is a valid MVT holding the
empty layer, answered like any other tile: GDAL opens it and web map clients draw nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import orjson
import shapely
from pyproj import Transformer

from twin.errors import BadInput, NotFound
from twin.stores.base import BBox, ExportRow

TILE_MATRIX_SET = "WebMercatorQuad"  # the default grid, that of web maps
GRIDS = (TILE_MATRIX_SET, "WorldCRS84Quad")
# The EPSG code of each grid's coordinates, as a store's native encoder takes them (`Store.mvt`).
GRID_SRID = {TILE_MATRIX_SET: 3857, "WorldCRS84Quad": 4326}
EXTENT = 4096  # tile coordinate units along a side, the MVT default
BUFFER = 64  # units drawn beyond each edge, so strokes and symbols at the edges are not cut
MIN_ZOOM, MAX_ZOOM = 0, 24  # WebMercatorQuad's; a grid's own are tms(name).minzoom/maxzoom
MAX_LATITUDE = 85.0511287798066  # the grid's top edge: Web Mercator's y of ±20037508.34 m


@lru_cache(maxsize=len(GRIDS))
def tms(name: str = TILE_MATRIX_SET) -> morecantile.TileMatrixSet:
    """The grid `name`; NotFound naming the grids offered for any other."""
    if name not in GRIDS:
        raise NotFound(f"no tile matrix set {name!r}; the tiles are on {' and '.join(GRIDS)}")
    return morecantile.tms.get(name)


@lru_cache(maxsize=2)
def _transformer(to_mercator: bool) -> Transformer:
    a, b = ("EPSG:4326", "EPSG:3857") if to_mercator else ("EPSG:3857", "EPSG:4326")
    return Transformer.from_crs(a, b, always_xy=True)


def check_tile(z: int, x: int, y: int, grid: str = TILE_MATRIX_SET) -> None:
    """BadInput naming the coordinate that is off the grid (x is the column, y the row)."""
    g = tms(grid)
    if not g.minzoom <= z <= g.maxzoom:
        raise BadInput(f"tileMatrix {z} is not a zoom level of {grid} ({g.minzoom} to {g.maxzoom})")
    m = g.matrix(z)
    if not 0 <= y < m.matrixHeight:
        raise BadInput(f"tileRow {y} is outside tileMatrix {z}, which has rows 0 to {m.matrixHeight - 1}")
    if not 0 <= x < m.matrixWidth:
        raise BadInput(f"tileCol {x} is outside tileMatrix {z}, which has columns 0 to {m.matrixWidth - 1}")


def grid_bounds(z: int, x: int, y: int, grid: str = TILE_MATRIX_SET) -> BBox:
    """The tile's bounds in its grid's coordinates: EPSG:3857 metres, or lon/lat on WorldCRS84Quad."""
    check_tile(z, x, y, grid)
    b = tms(grid).xy_bounds(morecantile.Tile(x, y, z))
    return (b.left, b.bottom, b.right, b.top)


def mercator_bounds(z: int, x: int, y: int) -> BBox:
    """The WebMercatorQuad tile's bounds in EPSG:3857 metres."""
    return grid_bounds(z, x, y, TILE_MATRIX_SET)


def buffered(bounds: BBox, buffer: int = BUFFER, extent: int = EXTENT) -> BBox:
    minx, miny, maxx, maxy = bounds
    pad = (maxx - minx) * buffer / extent
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def lonlat_bbox(bounds: BBox, grid: str = TILE_MATRIX_SET) -> BBox:
    """A box of `grid`'s coordinates as a lon/lat box (exact: Mercator maps lines of longitude and
    latitude to lines; WorldCRS84Quad's coordinates are lon/lat already)."""
    if GRID_SRID[grid] == 4326:
        return bounds
    t = _transformer(False)
    (x0, x1), (y0, y1) = t.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    return (x0, y0, x1, y1)


def mercator_bbox(lonlat: BBox) -> BBox:
    """A lon/lat box as a 3857 box (the inverse of lonlat_bbox), latitudes clamped to the grid's
    ±85.0511°, beyond which Web Mercator has no coordinates."""
    y0, y1 = (min(max(lat, -MAX_LATITUDE), MAX_LATITUDE) for lat in (lonlat[1], lonlat[3]))
    (x0, x1), (y0, y1) = _transformer(True).transform([lonlat[0], lonlat[2]], [y0, y1])
    return (x0, y0, x1, y1)


class _Double(float):
    """A float the encoder keeps apart from an equal int. mapbox-vector-tile (2.2) indexes a tile
    layer's values in one dict (bools in their own), where 3 == 3.0: the first of the two it met
    stood for both, so a feature's 3.0 could come out an int (and another's 3 a double). This
    float equals only another of its kind; it is still written (and decoded) as a double."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is _Double and float.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((_Double, float(self)))


def _value(v: Any) -> Any:
    if type(v) is float:
        return _Double(v)
    if isinstance(v, bool | int | float | str):
        return v
    return orjson.dumps(v).decode()  # lists, objects: MVT holds scalars only


_INT64 = (-(2**63), 2**63)


def _as_number(v: Any) -> Any:
    """A number field's value as a double (validation stores floats; an int of an older version too)."""
    return float(v) if type(v) is int else v


def _as_integer(v: Any) -> Any:
    """An integer field's value as an int (a whole float of an older version too)."""
    return int(v) if type(v) is float and v.is_integer() and _INT64[0] <= v < _INT64[1] else v


# The MVT value type a field's type gives its values, whatever the value looks like: a number
# field's 29540.0 is a double and its 3 too, an integer field's values ints. The PostGIS store's
# ST_AsMVT query casts these fields the same way (PostGISStore._mvt_sql), so a feature's tile
# values have the same types on both stores.
_BY_TYPE = {"number": _as_number, "integer": _as_integer}


def encode_rows(
    rows: Iterable[ExportRow],
    bounds: BBox,
    layer_name: str,
    *,
    extent: int = EXTENT,
    buffer: int = BUFFER,
    field_types: Mapping[str, str] | None = None,
    grid: str = TILE_MATRIX_SET,
) -> bytes:
    """One tile of these features (lon/lat WKB) over `bounds` (in `grid`'s coordinates, as
    grid_bounds gives them); `field_types` (the layer schema's field name -> type) types the values
    (a number field's values are doubles)."""
    typed = {k: _BY_TYPE[t] for k, t in (field_types or {}).items() if t in _BY_TYPE}
    ids: list[str] = []
    wkbs: list[bytes] = []
    props: list[bytes] = []
    for r in rows:
        if r.wkb is None:
            continue
        ids.append(r.feature_id)
        wkbs.append(r.wkb)
        props.append(r.properties)
    features: list[dict[str, Any]] = []
    if wkbs:
        geoms = shapely.from_wkb(wkbs)
        t = _transformer(True) if GRID_SRID[grid] == 3857 else None
        minx, miny, maxx, maxy = bounds
        sx, sy = extent / (maxx - minx), extent / (maxy - miny)

        def to_tile(coords: np.ndarray) -> np.ndarray:
            # lon/lat -> the grid's coordinates -> tile units (y up; the encoder flips it), in one
            # vectorised pass
            x, y = t.transform(coords[:, 0], coords[:, 1]) if t is not None else (coords[:, 0], coords[:, 1])
            return np.column_stack(((np.asarray(x) - minx) * sx, (np.asarray(y) - miny) * sy))

        # Clipped to the buffered tile, so a big polygon costs a tile only what shows on it, then
        # snapped to whole tile units by GEOS, which keeps polygons valid (slivers collapse away).
        clipped = shapely.clip_by_rect(
            shapely.transform(geoms, to_tile), -buffer, -buffer, extent + buffer, extent + buffer
        )
        clipped = shapely.set_precision(clipped, 1.0)
        kept: list[tuple[str, Any, bytes]] = []
        for fid, g, p in zip(ids, clipped, props, strict=True):
            if g is None or g.is_empty:
                continue
            if g.geom_type == "GeometryCollection":  # what clipping leaves of a polygon along an edge
                parts = [part for part in g.geoms if part.geom_type != "GeometryCollection" and not part.is_empty]
                if not parts:
                    continue
                top = max(int(shapely.get_dimensions(part)) for part in parts)
                g = shapely.union_all([part for part in parts if shapely.get_dimensions(part) == top])
            kept.append((fid, g, p))
        # MVT's winding (exterior rings clockwise with y up, before the encoder flips y), for every
        # polygon at once, after the last step that makes polygons: the encoder's own check rebuilds
        # each polygon in Python (a third of encoding a tile). set_precision and union_all give valid
        # polygons, so the encoder's repair of invalid ones (which only that check ran) is not needed.
        oriented = shapely.orient_polygons([g for _, g, _ in kept], exterior_cw=True)
        for (fid, _, p), g in zip(kept, oriented, strict=True):
            raw = orjson.loads(p)
            for k, as_type in typed.items():
                if k in raw:
                    raw[k] = as_type(raw[k])
            values = {k: _value(v) for k, v in raw.items() if v is not None}
            values["id"] = fid
            features.append({"geometry": g, "properties": values})
    return bytes(
        mapbox_vector_tile.encode(
            [{"name": layer_name, "features": features}],
            default_options={
                "extents": extent,  # coordinates are whole tile units already
                "check_winding_order": False,  # oriented above
            },
        )
    )


class TileCache:
    """Encoded tiles of committed versions, least recently used out first, up to a number of bytes.

    A tile of a commit never changes (history is append-only), so the twin (Twin.tile) keeps it
    keyed by the commit's number and serves it again without asking its store, whichever store
    that is (PostGIS's ST_AsMVT or the embedded store's rows and Python encoder). `VENUE_TWIN_TILE_CACHE_MB`
    sets the size (default 64; 0 turns the cache off). A dozen lines of OrderedDict rather than
    functools.lru_cache, which bounds entries, not bytes, and cannot be looked into without computing.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> TileCache:
        """The size VENUE_TWIN_TILE_CACHE_MB sets (twin.settings: a value that is not a size of 0 or
        more, such as -5, nan or inf, is a SettingsError naming the variable; `serve` checks it at start)."""
        from twin.settings import settings

        return cls(int(settings().tile_cache_mb * 1e6))

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._tiles.get(key)
            if body is not None:
                self._tiles.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            self._bytes += len(body) - (len(old) if old is not None else 0)
            self._tiles[key] = body
            while self._bytes > self.max_bytes:
                _, dropped = self._tiles.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._tiles)
