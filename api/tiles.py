"""OGC API - Tiles: every collection with geometry as Mapbox Vector Tiles, at any version, on
WebMercatorQuad (web maps, QGIS) and WorldCRS84Quad (lon/lat; what GDAL's OGCAPI driver reads
without options, see twin.tiles).

Paths follow OGC's order: `/collections/{id}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`,
that is {z}/{y}/{x}, not the {z}/{x}/{y} of most web maps. Each read takes `version`, `asof` or
`datetime` like the items; a tile pinned to a full commit id never changes and may be kept for a
year, a tile of HEAD revalidates with an ETag made from the version it was read at. Tiles are
read through the caller's view, so a restricted layer's tiles are "no collection" to others.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.caching import read_headers
from api.deps import (
    CollectionId,
    DatetimeParam,
    ReaderDep,
    StrictQueryRoute,
    TwinDep,
    VersionDep,
    VersionParams,
    add_get_route,
    collection_of,
    public_url,
)
from api.errors import InvalidParameter
from layers.crs import CRS84_URI, epsg_uri
from twin import Ref
from twin import tiles as core
from twin.access import TwinView
from twin.errors import BadInput, NotFound
from twin.model import LayerSchema

MVT = "application/vnd.mapbox-vector-tile"
JSON = "application/json"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
TEMPLATE = "/{tileMatrix}/{tileRow}/{tileCol}"

TileMatrixSetId = Annotated[
    str, Path(alias="tileMatrixSetId", description="WebMercatorQuad (web maps) or WorldCRS84Quad (lon/lat).")
]


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), media_type=JSON, headers=headers)


def _grid_crs(grid: str) -> str:
    """The URI of the CRS of a grid's coordinates (its tiles' and its tilesets' boundingBox)."""
    return epsg_uri(3857) if core.GRID_SRID[grid] == 3857 else CRS84_URI


def _spatial(twin: TwinView, collection_id: str, ref: Ref | None = None) -> LayerSchema:
    """The collection as of `ref` (its fields then: a tileset pinned to a version is kept a year)."""
    schema = collection_of(twin, collection_id, ref)
    if not schema.spatial:
        raise NotFound(f"collection {collection_id!r} holds records without geometry, so it has no tiles")
    return schema


def _version_query(request: Request) -> dict[str, str]:
    """The caller's version parameters, carried into the links (a pinned tileset links pinned tiles)."""
    return {k: v for k, v in request.query_params.items() if k in ("version", "asof", "datetime")}


def _bounds(twin: TwinView, schema: LayerSchema, ref: Ref) -> list[float]:
    ext = twin.extent(schema.name, ref) if ref.commit else None
    return list(ext) if ext else [-180.0, -core.MAX_LATITUDE, 180.0, core.MAX_LATITUDE]


class TilesFactory:
    """The OGC API - Tiles endpoints; mounted by api.main.create_app."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        self.register()

    def register(self) -> None:
        r = self.router
        base = "/collections/{collectionId}/tiles"
        add_get_route(r, "/tileMatrixSets", self.tile_matrix_sets, summary="Tile matrix sets", tags=["Tiles"])
        add_get_route(
            r, "/tileMatrixSets/{tileMatrixSetId}", self.tile_matrix_set, summary="A tile matrix set", tags=["Tiles"]
        )
        add_get_route(r, base, self.tilesets, summary="A collection's vector tilesets", tags=["Tiles"])
        add_get_route(
            r,
            base + "/{tileMatrixSetId}",
            self.tileset,
            summary="A collection's vector tileset (f=tilejson: as TileJSON 3.0)",
            tags=["Tiles"],
        )
        add_get_route(
            r,
            base + "/{tileMatrixSetId}" + TEMPLATE,
            self.tile,
            summary="A Mapbox Vector Tile (tileMatrix = zoom, tileRow = y, tileCol = x)",
            tags=["Tiles"],
            response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "A Mapbox Vector Tile"}},
        )

    # ------------------------------------------------------------------ tile matrix sets
    async def tile_matrix_sets(self, request: Request, who: ReaderDep) -> Response:
        return _json(
            {
                "tileMatrixSets": [
                    {
                        "id": tms.id,
                        "title": tms.title,
                        "uri": tms.uri,
                        "links": [
                            {"rel": "self", "type": JSON, "href": public_url(request, f"/tileMatrixSets/{tms.id}")}
                        ],
                    }
                    for tms in map(core.tms, core.GRIDS)
                ],
                "links": [{"rel": "self", "type": JSON, "href": public_url(request, "/tileMatrixSets")}],
            }
        )

    async def tile_matrix_set(self, who: ReaderDep, tms_id: TileMatrixSetId) -> Response:
        return _json(core.tms(tms_id).model_dump(mode="json", exclude_none=True))

    # ------------------------------------------------------------------ tilesets
    def _tileset_summary(self, request: Request, schema: LayerSchema, grid: str) -> dict[str, Any]:
        href = public_url(request, f"/collections/{schema.name}/tiles/{grid}", **_version_query(request))
        return {
            "title": f"{schema.title_en} ({grid})",
            "dataType": "vector",
            "crs": _grid_crs(grid),
            "tileMatrixSetURI": core.tms(grid).uri,
            "links": [
                {"rel": "self", "type": JSON, "title": "The tileset", "href": href},
                {
                    "rel": REL + "tiling-scheme",
                    "type": JSON,
                    "title": "The tile matrix set",
                    "href": public_url(request, f"/tileMatrixSets/{grid}"),
                },
            ],
        }

    async def tilesets(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        datetime_: DatetimeParam = None,
    ) -> Response:
        schema = _spatial(twin, collection_id)
        ref = version.resolve(twin, datetime_)
        doc = {
            "tilesets": [self._tileset_summary(request, schema, grid) for grid in core.GRIDS],
            "links": [
                {
                    "rel": "self",
                    "type": JSON,
                    "href": public_url(request, f"/collections/{schema.name}/tiles", **_version_query(request)),
                },
                {"rel": "collection", "type": JSON, "href": public_url(request, f"/collections/{schema.name}")},
            ],
        }
        return _json(doc, read_headers(request, ref, version.version))

    async def tileset(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        tms_id: TileMatrixSetId,
        datetime_: DatetimeParam = None,
        f: Annotated[str | None, Query(description="json (OGC tileset metadata) or tilejson (TileJSON 3.0)")] = None,
    ) -> Response:
        if f not in (None, "json", "tilejson"):
            raise InvalidParameter.not_one_of("f", f, ("json", "tilejson"))
        schema = _spatial(twin, collection_id)
        grid = core.tms(tms_id)
        if f == "tilejson" and tms_id != core.TILE_MATRIX_SET:
            # TileJSON has no way to name a grid: its tiles are Web Mercator's
            raise InvalidParameter(
                f"f=tilejson describes {core.TILE_MATRIX_SET} tiles only; {tms_id} has its tileset as f=json",
                parameter="f",
            )
        ref = version.resolve(twin, datetime_)
        schema = _spatial(twin, collection_id, ref)
        bounds = _bounds(twin, schema, ref)
        path = f"/collections/{schema.name}/tiles/{tms_id}"
        vq = _version_query(request)
        headers = read_headers(request, ref, version.version)
        fields = {"id": "Feature id (string)"} | {
            fs.name: f"{fs.title_en or fs.name} ({fs.type}{', as JSON text' if fs.type == 'list' else ''})"
            for fs in schema.fields
        }
        if f == "tilejson":
            return _json(
                {
                    "tilejson": "3.0.0",
                    "name": schema.title_en,
                    "description": f"{schema.title_zh}. {schema.description}".strip(),
                    "version": "1.0.0",
                    "scheme": "xyz",
                    # TileJSON names its placeholders, so the URL may keep OGC's {z}/{y}/{x} order.
                    "tiles": [public_url(request, path + "/{z}/{y}/{x}", **vq)],
                    "minzoom": core.MIN_ZOOM,
                    "maxzoom": core.MAX_ZOOM,
                    "bounds": bounds,
                    "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 16],
                    "vector_layers": [
                        {
                            "id": schema.name,
                            "description": schema.title_en,
                            "minzoom": core.MIN_ZOOM,
                            "maxzoom": core.MAX_ZOOM,
                            "fields": fields,
                        }
                    ],
                },
                headers,
            )
        doc = self._tileset_summary(request, schema, tms_id)
        doc["links"][0]["href"] = public_url(request, path, **vq)
        doc["links"] += [
            {
                "rel": "item",
                "type": MVT,
                "title": "A tile (tileMatrix = zoom, tileRow = y, tileCol = x)",
                "href": public_url(request, path + TEMPLATE, **vq),
                "templated": True,
            },
            {"rel": "collection", "type": JSON, "href": public_url(request, f"/collections/{schema.name}")},
        ]
        if tms_id == core.TILE_MATRIX_SET:
            doc["links"].append(
                {
                    "rel": "alternate",
                    "type": JSON,
                    "title": "This tileset as TileJSON 3.0",
                    "href": public_url(request, path, **vq, f="tilejson"),
                }
            )
        # The tileset's box is in the tile matrix set's CRS (EPSG:3857 metres on WebMercatorQuad),
        # as the tileset standard describes it and as GDAL's OGCAPI driver takes MINX/MINY/MAXX/MAXY:
        # GDAL (3.8 to 3.12.4 at least) puts a collection's CRS84 extent on the grid as if it were in
        # the grid's units and, on WebMercatorQuad, reads the tile at 0°, 0° unless given these
        # (README, Vector tiles). The layer keeps lon/lat.
        lonlat = (bounds[0], bounds[1], bounds[2], bounds[3])
        box = core.mercator_bbox(lonlat) if core.GRID_SRID[tms_id] == 3857 else lonlat
        doc |= {
            "title": schema.title_en,
            "boundingBox": {"lowerLeft": list(box[:2]), "upperRight": list(box[2:]), "crs": _grid_crs(tms_id)},
            "layers": [
                {
                    "id": schema.name,
                    "title": schema.title_en,
                    "dataType": "vector",
                    "boundingBox": {"lowerLeft": bounds[:2], "upperRight": bounds[2:], "crs": CRS84_URI},
                    "minTileMatrix": str(grid.minzoom),
                    "maxTileMatrix": str(grid.maxzoom),
                    "propertiesSchema": {
                        "type": "object",
                        "properties": {
                            name: {"description": text, "type": "string" if name == "id" else _json_type(schema, name)}
                            for name, text in fields.items()
                        },
                    },
                }
            ],
            "twin:version": ref.commit.id if ref.commit else None,
        }
        dimension = _dimension(schema)
        if dimension is not None:
            doc["layers"][0]["geometryDimension"] = dimension
        return _json(doc, headers)

    # ------------------------------------------------------------------ tiles
    async def tile(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        tms_id: TileMatrixSetId,
        tile_matrix: Annotated[int, Path(alias="tileMatrix", description="The zoom level, 0 to 24.")],
        tile_row: Annotated[int, Path(alias="tileRow", description="The row (y), from the top.")],
        tile_col: Annotated[int, Path(alias="tileCol", description="The column (x), from the left.")],
        datetime_: DatetimeParam = None,
        # pygeoapi-style clients (and links copied from them) put ?f=mvt on every tile URL: it
        # names the one form a tile has, so it is taken; any other f is refused naming that one.
        f: Annotated[str | None, Query(description="mvt, the one form a tile has (optional)")] = None,
    ) -> Response:
        if f not in (None, "mvt"):
            raise InvalidParameter.not_one_of("f", f, ("mvt",))
        # Every step reads the store (the layer, the head, the tile), and each read waits on a
        # network round trip on PostGIS: all of it off the event loop, so other requests proceed.
        body, ref = await run_in_threadpool(
            _read_tile, twin, version, datetime_, collection_id, tms_id, tile_matrix, tile_row, tile_col
        )
        return Response(body, media_type=MVT, headers=read_headers(request, ref, version.version))


def _read_tile(
    twin: TwinView,
    version: VersionParams,
    datetime_: str | None,
    collection_id: str,
    tms_id: str,
    z: int,
    y: int,
    x: int,
) -> tuple[bytes, Ref]:
    schema = _spatial(twin, collection_id)
    try:
        core.check_tile(z, x, y, tms_id)
    except BadInput as e:
        raise InvalidParameter.of(e, parameter=str(e).split(" ", 1)[0]) from None
    ref = version.resolve(twin, datetime_)
    return twin.tile(schema.name, z, x, y, ref, tms_id), ref


def _dimension(schema: LayerSchema) -> int | None:
    """0, 1 or 2 when every geometry type of the layer has that dimension; None (left out) when mixed."""
    dims = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1, "Polygon": 2, "MultiPolygon": 2}
    found = {dims.get(t) for t in schema.geometry_types}
    return found.pop() if len(found) == 1 else None


def _json_type(schema: LayerSchema, name: str) -> str:
    types = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "date": "string"}
    fs = next(f for f in schema.fields if f.name == name)
    return types.get(fs.type, "string")  # lists travel as JSON text
