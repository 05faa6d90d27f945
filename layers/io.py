"""Reading GIS files into a layer's features and writing a layer's rows out again.

Formats (chosen by extension, or by `fmt` when writing):

- GeoJSON (.geojson, .json): RFC 7946 lon/lat unless the file names a CRS (the old "crs"
  member, which GDAL and QGIS still write for projected data).
- GeoPackage (.gpkg): one layer; `source_layer` picks one when the file holds several.
- Shapefile, zipped (.zip) or loose (.shp with its .dbf/.shx/.prj beside it). dBASE limits field
  names to 10 characters, so `shapefile_field_names` maps longer schema names to unique short
  ones; writing and reading use the same mapping, so a layer survives a round trip intact.
- CSV (.csv) with geometry as WKT in a column named wkt, WKT, geometry or geom. A CSV carries no
  CRS: one read without `crs` is taken as EPSG:4326 lon/lat, what the twin writes a CSV in by
  default (and what GDAL and QGIS take WKT in a CSV to be); writing one puts the coordinates in the
  requested CRS. The version an export was read at is its last column, `twin:version`.

Reading reprojects to storage lon/lat (EPSG:4326), then undoes a GCJ-02/BD-09 web-map shift if
asked, and types each schema column (CSV cells are text). Columns not in the schema are reported,
not imported. A schema field the file has no column for at all is not given, rather than given
empty on every row (GDAL's copy of an OGC API collection leaves out a field null on its first page):
each feature the twin has keeps its value, as the caller's `stored` says it (an empty cell of a
column the file has is still an empty value). A row with no id in the twin's own id column
(feature_id), as QGIS or GDAL leave a feature added to an export, is a new feature: it gets a new
id, as one posted to the API does. Judging the values (required fields, allowed values, geometry types, the area of
interest) is left to the commit's validation, which reports every problem with its feature id.

GDAL does the format work (through pyogrio); pandas reads and writes CSV.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
import re
import tempfile
import uuid
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import repeat
from operator import is_
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from layers.crs import (
    bd09_to_wgs84_geometries,
    crs_authority,
    crs_label,
    from_storage,
    gcj02_to_wgs84_geometries,
    parse_crs,
    to_storage,
)
from layers.geojson import unreadable_reason
from twin import ExportRow
from twin.errors import BadInput, Problem, ValidationFailed
from twin.gcpause import gc_paused, gc_paused_for
from twin.model import Feature, FieldSpec, LayerSchema

Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")
WKT_COLUMNS = ("wkt", "geometry", "geom")  # matched case-insensitively, in this order
ID_COLUMN = "feature_id"  # where exports put the twin's feature id (exactly 10 characters: fits dBASE)
_GENERIC_ID_COLUMNS = (ID_COLUMN, "id")
_USE_ARROW = importlib.util.find_spec("pyarrow") is not None  # pyogrio's fastest path, when installed


@dataclass(frozen=True)
class FileFormat:
    name: str
    extension: str
    media_type: str
    title: str


FORMATS: dict[str, FileFormat] = {
    "geojson": FileFormat("geojson", ".geojson", "application/geo+json", "GeoJSON"),
    "gpkg": FileFormat("gpkg", ".gpkg", "application/geopackage+sqlite3", "GeoPackage"),
    "shapefile": FileFormat("shapefile", ".zip", "application/zip", "zipped Shapefile"),
    "csv": FileFormat("csv", ".csv", "text/csv", "CSV with WKT"),
}
_FORMAT_ALIASES = {"json": "geojson", "geopackage": "gpkg", "zip": "shapefile", "shp": "shapefile"}
_EXTENSIONS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".shp": "shapefile",
    ".csv": "csv",
}


def resolve_format(fmt: str | None, path: str | Path | None = None) -> FileFormat:
    """The format named by `fmt` (geojson, gpkg, shapefile or zip, csv), else by the path's extension."""
    if fmt is not None:
        key = fmt.strip().lower().lstrip(".")
        key = _FORMAT_ALIASES.get(key, key)
        if key not in FORMATS:
            raise BadInput(f"unknown format {fmt!r}: use one of geojson, gpkg, zip (Shapefile), csv")
        return FORMATS[key]
    suffix = Path(path).suffix.lower() if path is not None else ""
    if suffix not in _EXTENSIONS:
        raise BadInput(
            f"{path}: cannot tell the format from {suffix or 'no extension'!r}: "
            f"use {', '.join(_EXTENSIONS)} or name the format"
        )
    return FORMATS[_EXTENSIONS[suffix]]


def shapefile_field_names(schema: LayerSchema) -> dict[str, str]:
    """Schema field name → dBASE field name (at most 10 bytes, unique ignoring case).

    Names that fit are kept; longer ones are cut to 10 bytes, and a clash gets a numbered
    suffix (completion_pct → completion, completion_date → completi_1). Deterministic, so a
    reader holding the same schema maps the short names back.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in (ID_COLUMN, *(f.name for f in schema.fields)):
        short, n = _clip(name, 10), 1
        while short.lower() in used:
            suffix = f"_{n}"
            short, n = _clip(name, 10 - len(suffix)) + suffix, n + 1
        used.add(short.lower())
        out[name] = short
    return out


def _clip(name: str, limit: int) -> str:
    while len(name.encode("utf-8")) > limit:  # dBASE counts bytes, not characters
        name = name[:-1]
    return name


# ----------------------------------------------------------------------------- reading


@dataclass
class ReadResult:
    features: list[Feature]
    ignored_columns: list[str] = field(default_factory=list)
    source_crs: str = "OGC:CRS84"  # "" for a layer of records (no geometry, no CRS)
    id_source: str = ""  # the column the ids came from, "GeoJSON feature ids" or "generated"
    absent_fields: list[str] = field(default_factory=list)  # schema fields with no column in the file
    new_ids: int = 0  # rows without a feature_id that were given a new id


# What the twin holds of features a file gives: their properties by id (those it has), for the
# fields the file has no column for (see the module's docstring).
StoredProperties = Callable[[list[str]], Mapping[str, Mapping[str, Any]]]


@dataclass
class _Table:
    """What any reader hands on: attribute columns, geometries in the file's CRS, its CRS if known."""

    columns: pd.DataFrame
    geometries: np.ndarray
    crs: CRS | None
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row index, reason)
    skipped: tuple[str, ...] = ()  # columns consumed by the reader (CSV's WKT column)
    first_row: int = 0  # the file's row number of the first row here (a batch starts further in)
    feature_ids: list[str | None] | None = None  # GeoJSON feature ids read beforehand, for a batch


def read_layer_file(
    path: str | Path,
    schema: LayerSchema,
    *,
    crs: str | None = None,
    datum: Datum = "wgs84",
    id_field: str | None = None,
    source_layer: str | None = None,
    generate_ids: bool = False,
    stored: StoredProperties | None = None,
) -> ReadResult:
    """Read a GeoJSON, GeoPackage, zipped or loose Shapefile or WKT CSV as features of `schema`.

    Geometries come back in storage lon/lat (EPSG:4326). `crs` overrides or supplies the file's
    CRS (CSV and Shapefiles without .prj must be given one). `datum` gcj02/bd09 undoes a Chinese
    web-map shift after reprojection. Ids come from `id_field`, else a "feature_id" column (what
    exports write, so an exported file re-imports onto the same features), else an "id" column,
    else GeoJSON feature ids, else the schema's code column; with none, `generate_ids` makes UUIDs.

    A row without a feature_id (that column being where the ids come from) gets a new UUID; a
    schema field the file has no column for keeps, in each feature `stored` names, the value it
    gives (without `stored` it is left out, so a commit stores none).

    Raises BadInput for a file that cannot be read at all and ValidationFailed listing every row
    with an unreadable geometry, a missing id or a duplicate id.
    """
    path, fmt, given_crs = _check_source(path, datum, crs)
    name = str(path)
    # The rows read (a geometry, a bytes or text per cell) all live on into the features: the
    # collector would only traverse them, ever more often as they grow (twin.gcpause; 0.04 s of a
    # 100,000-polygon GeoPackage, 0.1 s of the GeoJSON).
    with gc_paused():
        csv = fmt.name == "csv"
        spatial = schema.spatial
        table = _read_csv(path, name, spatial) if csv else _read_ogr(path, name, fmt, source_layer, spatial)
    return _to_features(table, path, fmt, schema, given_crs, datum, id_field, generate_ids, None, stored)


def read_layer_batches(
    path: str | Path,
    schema: LayerSchema,
    batch: int,
    *,
    crs: str | None = None,
    datum: Datum = "wgs84",
    id_field: str | None = None,
    source_layer: str | None = None,
    generate_ids: bool = False,
    stored: StoredProperties | None = None,
) -> Iterator[ReadResult]:
    """`read_layer_file` in pieces of at most `batch` features, so a file of millions of features is
    never held whole: GDAL reads each piece (skip_features / max_features), a CSV comes in pandas
    chunks. An id given twice is refused even when the two rows fall in different pieces (the ids
    seen so far are kept: a few dozen bytes each)."""
    if batch < 1:
        raise BadInput(f"a batch holds at least one feature, not {batch}")
    path, fmt, given_crs = _check_source(path, datum, crs)
    name = str(path)
    seen: set[str] = set()
    if fmt.name == "csv":
        try:
            chunks = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", chunksize=batch)
            for k, df in enumerate(chunks):
                table = _csv_table(df, name, schema.spatial, first_row=k * batch)
                yield _to_features(table, path, fmt, schema, given_crs, datum, id_field, generate_ids, seen, stored)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
            raise BadInput(f"{name}: cannot read as CSV: {e}") from None
        return
    target, layer = _ogr_target(path, name, fmt, source_layer, schema.spatial)
    try:
        total = int(pyogrio.read_info(target, layer=layer)["features"])
    except Exception as e:  # unreadable: the same refusal as a whole read
        raise BadInput(f"{name}: cannot read as {fmt.title}: {e}") from None
    ids_from_json = None
    for start in range(0, max(total, 1), batch):
        table = _read_ogr(path, name, fmt, source_layer, schema.spatial, skip=start, count=batch)
        if fmt.name == "geojson" and id_field is None and ids_from_json is None and not _has_id_column(table):
            # GeoJSON feature ids are read from the JSON itself (see _geojson_feature_ids), once
            ids_from_json = _geojson_feature_ids(path, total) or []
        if ids_from_json:
            table.feature_ids = ids_from_json[start : start + len(table.geometries)]
        yield _to_features(table, path, fmt, schema, given_crs, datum, id_field, generate_ids, seen, stored)


def _check_source(path: str | Path, datum: str, crs: str | None) -> tuple[Path, FileFormat, CRS | None]:
    path = Path(path)
    name = str(path)
    if datum not in DATUMS:
        raise BadInput(f"datum {datum!r} is not one of {', '.join(DATUMS)}")
    given_crs = parse_crs(crs) if crs is not None else None
    if not path.exists():
        raise BadInput(f"{name}: no such file")
    if not path.is_file():
        raise BadInput(f"{name}: not a file")
    return path, resolve_format(None, path), given_crs


def _has_id_column(table: _Table) -> bool:
    lower = {str(c).lower() for c in table.columns.columns}
    return ID_COLUMN in lower or "id" in lower


def _to_features(
    table: _Table,
    path: Path,
    fmt: FileFormat,
    schema: LayerSchema,
    given_crs: CRS | None,
    datum: Datum,
    id_field: str | None,
    generate_ids: bool,
    seen: set[str] | None,
    stored: StoredProperties | None = None,
) -> ReadResult:
    """The features of one table read from a file (all of it, or one batch); `seen` holds the ids
    of the batches before, to refuse an id that comes again."""
    name = str(path)
    if fmt.name == "shapefile":
        table.columns = _unshorten_shapefile_names(table.columns, schema)

    source: CRS | None
    if not schema.spatial:
        source = None  # records (the project register): no coordinates to place, whatever CRS is given
    elif given_crs is not None:
        source = given_crs
    elif table.crs is not None:
        source = table.crs
    elif fmt.name == "geojson":
        source = parse_crs("OGC:CRS84")  # RFC 7946
    elif fmt.name == "csv":
        # A CSV names no CRS, and a single-file download carries no .prj or .csvt beside it: read as
        # the EPSG:4326 lon/lat the twin's CSV exports and downloads are written in by default (as
        # GDAL and QGIS take WKT in a CSV to be), so every one imports back as written. A file in
        # another CRS is caught: coordinates that cannot be lon/lat below, ones that can but lie
        # elsewhere by the commit's area-of-interest check.
        source = parse_crs("EPSG:4326")
        _check_lon_lat(table.geometries, name)
    else:
        raise BadInput(f"{name}: no CRS: pass --crs (e.g. --crs EPSG:4549 or --crs EPSG:4326)")

    columns = table.columns
    if table.feature_ids is not None:
        ids, id_source = list(table.feature_ids), "GeoJSON feature ids"
    else:
        ids, id_source = _ids(columns, schema, path, fmt, id_field, generate_ids, whole=seen is None)
    new_ids = 0
    if id_source.lower() == ID_COLUMN and any(map(is_, ids, repeat(None))):
        # A feature added to an export in QGIS or GDAL, which leave its feature_id empty: new, so it
        # gets an id as one posted to the API does. (An empty id in any other column is refused
        # below: a row that lost its code is a mistake to say, not a feature to add.)
        new_ids = ids.count(None)
        ids = [fid if fid is not None else str(uuid.uuid4()) for fid in ids]

    problems = [Problem(schema.name, ids[i], f"{name}: {reason}") for i, reason in table.problems]
    problems += _id_problems(ids, schema, name, id_source, table.first_row)
    if seen is not None:
        again = [fid for fid in ids if fid is not None and fid in seen]
        problems += [
            Problem(schema.name, fid, f"{name}: id {fid!r} appears again (in an earlier batch)") for fid in again
        ]
        seen.update(fid for fid in ids if fid is not None)
    if problems:
        raise ValidationFailed(problems)

    if source is None:
        geoms = table.geometries
    else:
        geoms = to_storage(source)(table.geometries)
        if datum == "gcj02":
            geoms = gcj02_to_wgs84_geometries(geoms)
        elif datum == "bd09":
            geoms = bd09_to_wgs84_geometries(geoms)

    known = [f for f in schema.fields if f.name in columns.columns]
    used = {id_source, *table.skipped}
    ignored = [
        str(c)
        for c in columns.columns
        if c not in used and schema.field(str(c)) is None and str(c).lower() not in _GENERIC_ID_COLUMNS
    ]
    values = [_typed(columns[f.name], f) for f in known]
    names = [f.name for f in known]
    with gc_paused_for(len(ids)):  # a Feature and a dict per row, all kept (twin.gcpause)
        # A missing value is left out of its row. (Looked for by identity: `None in column` would
        # compare each value with ==, which an array-valued cell cannot answer.)
        if any(any(map(is_, column, repeat(None))) for column in values):
            features = [
                Feature(fid, geom, {k: v for k, v in zip(names, row, strict=True) if v is not None})
                for fid, geom, *row in zip(ids, geoms, *values, strict=True)
            ]
        else:
            if len(geoms) != len(ids) or any(len(column) != len(ids) for column in values):
                raise ValueError("the columns read differ in length")  # (cannot happen: one table)
            # Built by map and zip (in C) rather than a loop unpacking each row: half the time.
            rows = map(dict, map(zip, repeat(names), zip(*values, strict=True))) if names else (dict() for _ in ids)
            features = list(map(Feature, ids, geoms, rows))  # type: ignore[arg-type]  # no id is missing here
    absent = [f.name for f in schema.fields if f.name not in columns.columns]
    if absent and stored is not None and features:
        _keep_absent_fields(features, absent, stored)
    return ReadResult(features, ignored, crs_label(source) if source is not None else "", id_source, absent, new_ids)


def _check_lon_lat(geoms: np.ndarray, name: str) -> None:
    """Refuse geometries read as lon/lat (a CSV without --crs) whose coordinates cannot be: metres
    of a projected CRS would otherwise be placed off the globe."""
    if not len(geoms):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bounds: no geometry at all
        bounds = shapely.bounds(geoms)
        xmin, ymin = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
        xmax, ymax = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
    if np.isnan(xmin) or (xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90):
        return
    raise BadInput(
        f"{name}: coordinates are not lon/lat (x {xmin:.10g} to {xmax:.10g}, y {ymin:.10g} to {ymax:.10g}): a CSV "
        "names no CRS and is read as EPSG:4326 unless you pass --crs with the one it is in (e.g. --crs EPSG:4549)"
    )


def _keep_absent_fields(features: list[Feature], absent: list[str], stored: StoredProperties) -> None:
    """Each feature the twin has (`stored`) keeps its values of the fields the file has no column for."""
    have = stored([str(f.id) for f in features])
    if not have:
        return
    for f in features:
        was = have.get(str(f.id))
        if was is not None:
            f.properties.update((name, was[name]) for name in absent if was.get(name) is not None)


def _ogr_target(
    path: Path, name: str, fmt: FileFormat, source_layer: str | None, spatial: bool
) -> tuple[str, str | None]:
    layer: str | None = None
    if path.suffix.lower() == ".zip":
        target = _zip_member(path, name, source_layer, spatial)
    else:
        target = str(path)
        # Listing a GeoJSON's layers parses the whole file, so only do it where a choice exists.
        if fmt.name == "gpkg" or source_layer is not None:
            layer = _choose_layer(target, name, fmt, source_layer, spatial)
    return target, layer


def _read_ogr(
    path: Path,
    name: str,
    fmt: FileFormat,
    source_layer: str | None,
    spatial: bool,
    skip: int = 0,
    count: int | None = None,
) -> _Table:
    """A file's rows through GDAL; for a layer of records (`spatial` False) a table without a
    geometry column too (a GeoPackage attributes table, as the register exports)."""
    target, layer = _ogr_target(path, name, fmt, source_layer, spatial)
    try:
        # GDAL warns (through Python's warnings) of a geometry it cannot read and hands on null
        # instead: caught here, so the user reads why below rather than a RuntimeWarning.
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            gdf = pyogrio.read_dataframe(
                target, layer=layer, use_arrow=_USE_ARROW, skip_features=skip, max_features=count
            )
    except Exception as e:  # pyogrio raises DataSourceError, DataLayerError, ...; all mean unreadable
        raise BadInput(f"{name}: cannot read as {fmt.title}: {e}") from None
    if not isinstance(gdf, gpd.GeoDataFrame) and not spatial:
        return _Table(pd.DataFrame(gdf), np.full(len(gdf), None, dtype=object), None, [], first_row=skip)
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise BadInput(f"{name}: {('layer ' + repr(layer)) if layer else 'the file'} has no geometry column")
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    problems = _unread_geometries(path, fmt, geoms, skip) if warned else []
    return _Table(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), geoms, gdf.crs, problems, first_row=skip)


def _unread_geometries(path: Path, fmt: FileFormat, geoms: np.ndarray, skip: int) -> list[tuple[int, str]]:
    """Rows whose geometry GDAL dropped (it warned), with why: a GeoJSON feature's geometry as the
    file has it, checked in plain words (layers.geojson); in another format, that it was unreadable.
    A row whose geometry the file itself leaves null is no problem here (a record, or the layer's
    rules say)."""
    dropped = [i for i, g in enumerate(geoms) if g is None]
    if not dropped:
        return []
    raw: list[Any] | None = None
    if fmt.name == "geojson":
        try:
            doc = orjson.loads(path.read_bytes())
            raw = doc.get("features") if isinstance(doc, dict) else None
        except (orjson.JSONDecodeError, OSError):
            raw = None
    out: list[tuple[int, str]] = []
    for i in dropped:
        row = skip + i
        if raw is None or row >= len(raw) or not isinstance(raw[row], dict):
            if fmt.name != "geojson":
                out.append((i, f"feature #{row + 1}: its geometry could not be read"))
            continue
        given = raw[row].get("geometry")
        if given is not None:
            out.append((i, f"feature #{row + 1}: unreadable geometry: {unreadable_reason(given)}"))
    return out


def _choose_layer(target: str, name: str, fmt: FileFormat, source_layer: str | None, spatial: bool) -> str | None:
    """The file's one layer of the kind wanted: with geometry, or for a layer of records (`spatial`
    False) one without (an attributes table, as the register exports), else any."""
    try:
        listed = pyogrio.list_layers(target)
    except Exception as e:  # unreadable or not this format
        raise BadInput(f"{name}: cannot read as {fmt.title}: {e}") from None
    layers = [str(n) for n, _ in listed]
    if source_layer is not None:
        if source_layer not in layers:
            raise BadInput(f"{name}: no layer {source_layer!r}; it has: {', '.join(layers) or 'no layers'}")
        return source_layer
    shaped = [str(n) for n, gtype in listed if gtype is not None]
    candidates = shaped if spatial else ([str(n) for n, gtype in listed if gtype is None] or layers)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BadInput(f"{name}: no layer with geometry (layers: {', '.join(layers) or 'none'})")
    raise BadInput(f"{name}: holds {len(candidates)} layers, choose one with --source-layer: {', '.join(candidates)}")


def _check_shapefile_zip(z: zipfile.ZipFile, name: str) -> None:
    """A zipped Shapefile's declared sizes against VENUE_TWIN_SHAPEFILE_ZIP_MAX_MB, before GDAL
    reads it (twin.archives). Not against a ratio, as a workbook is: dBASE pads every text to its
    field's width with spaces, so a real .dbf can compress a hundredfold and more."""
    from twin.archives import check_zip_sizes
    from twin.settings import settings

    check_zip_sizes(z, name, max_mb=settings().shapefile_zip_max_mb, setting="VENUE_TWIN_SHAPEFILE_ZIP_MAX_MB")


def _zip_member(path: Path, name: str, source_layer: str | None, spatial: bool = True) -> str:
    """The /vsizip/ path of the one Shapefile in a zip (or the one named `source_layer`); for a layer
    of records (`spatial` False), of its one dBASE table when the zip holds no .shp (as the register
    exports)."""
    try:
        with zipfile.ZipFile(path) as z:
            members = z.namelist()
            _check_shapefile_zip(z, name)
    except (zipfile.BadZipFile, OSError) as e:
        raise BadInput(f"{name}: not a readable zip file ({e})") from None
    shps = [m for m in members if m.lower().endswith(".shp") and not PurePosixPath(m).name.startswith("._")]
    if not shps and not spatial:
        shps = [m for m in members if m.lower().endswith(".dbf") and not PurePosixPath(m).name.startswith("._")]
    if not shps:
        raise BadInput(f"{name}: the zip holds no .shp file (it has: {', '.join(members[:10]) or 'nothing'})")
    stems = {m: PurePosixPath(m).stem for m in shps}
    if source_layer is not None:
        chosen = [m for m in shps if source_layer in (stems[m], m, m[:-4])]
        if not chosen:
            raise BadInput(f"{name}: no shapefile {source_layer!r} in the zip; it has: {', '.join(stems.values())}")
    elif len(shps) > 1:
        raise BadInput(
            f"{name}: holds {len(shps)} shapefiles, choose one with --source-layer: {', '.join(stems.values())}"
        )
    else:
        chosen = shps
    return f"/vsizip/{path.resolve()}/{chosen[0]}"


def _read_csv(path: Path, name: str, spatial: bool) -> _Table:
    try:
        # Every cell as text: ids and codes keep leading zeros; the schema types the rest.
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise BadInput(f"{name}: cannot read as CSV: {e}") from None
    return _csv_table(df, name, spatial)


def _csv_table(df: pd.DataFrame, name: str, spatial: bool, first_row: int = 0) -> _Table:
    """A CSV's rows: the WKT column's geometries (a layer of records, such as the project register,
    needs none: an empty or absent WKT column is no geometry, as its exports write it)."""
    if VERSION_MEMBER in df.columns:  # the version an export was read at (recorded_version), no field
        df = df.drop(columns=[VERSION_MEMBER])
    lower = {str(c).lower(): str(c) for c in df.columns}
    wkt_col = next((lower[c] for c in WKT_COLUMNS if c in lower), None)
    if wkt_col is None and not spatial:
        return _Table(df, np.full(len(df), None, dtype=object), None, [], (), first_row)
    if wkt_col is None:
        raise BadInput(
            f"{name}: no geometry column: name the WKT column one of wkt, WKT, geometry, geom "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    texts = np.asarray(df[wkt_col].tolist(), dtype=object)
    geoms = np.asarray(shapely.from_wkt(texts, on_invalid="ignore"), dtype=object)
    problems = []
    for i in np.flatnonzero(pd.isna(geoms)):
        text = str(texts[i]).strip()
        if not text and not spatial:
            continue  # a record's empty cell: no geometry, as it should be (one given is refused by validation)
        row = first_row + int(i)
        problems.append((int(i), f"row {row + 1} (line {row + 2}): {_wkt_reason(text)}"))
    return _Table(df.drop(columns=[wkt_col]), geoms, None, problems, (wkt_col,), first_row)


def _wkt_reason(text: str) -> str:
    if not text:
        return "no geometry (empty WKT cell)"
    try:
        shapely.from_wkt(text, on_invalid="raise")
    except shapely.errors.GEOSException as e:
        return f"unreadable WKT ({e}): {text[:60]!r}"
    return f"unreadable WKT: {text[:60]!r}"


def _unshorten_shapefile_names(df: pd.DataFrame, schema: LayerSchema) -> pd.DataFrame:
    renames = {
        short: full
        for full, short in shapefile_field_names(schema).items()
        if short != full and short in df.columns and full not in df.columns
    }
    return df.rename(columns=renames) if renames else df


def _ids(
    df: pd.DataFrame,
    schema: LayerSchema,
    path: Path,
    fmt: FileFormat,
    id_field: str | None,
    generate_ids: bool,
    whole: bool = True,
) -> tuple[list[str | None], str]:
    """The ids of the rows of `df` and where they came from. `whole`: df is the whole file (GeoJSON
    feature ids can then be matched to its rows; a batch gets them from read_layer_batches)."""
    cols = [str(c) for c in df.columns]
    if id_field is not None:
        if id_field == "id" and "id" not in cols and fmt.name == "geojson" and whole:
            native = _geojson_feature_ids(path, len(df))  # integer ids GDAL took as FIDs
            if native is not None:
                return native, "GeoJSON feature ids"
        if id_field not in cols:
            raise BadInput(f"{path}: no column {id_field!r} for ids (columns: {', '.join(cols) or 'none'})")
        return _id_texts(df[id_field]), id_field
    lower = {c.lower(): c for c in cols}
    # Explicit identity first (our exports' feature_id column, an id column, GeoJSON feature ids),
    # then the layer's human code: a file that carries both names each feature by its id.
    for candidate in (lower.get(ID_COLUMN), lower.get("id")):
        if candidate is not None and candidate in cols:
            return _id_texts(df[candidate]), candidate
    if fmt.name == "geojson" and whole:
        native = _geojson_feature_ids(path, len(df))
        if native is not None:
            return native, "GeoJSON feature ids"
    if schema.code_field is not None and schema.code_field in cols:
        return _id_texts(df[schema.code_field]), schema.code_field
    if generate_ids:
        return [str(uuid.uuid4()) for _ in range(len(df))], "generated"
    raise BadInput(f"{path}: no id column: pass --id-field (columns: {', '.join(cols) or 'none'})")


def _geojson_feature_ids(path: Path, n: int) -> list[str | None] | None:
    """Feature-level "id" members. GDAL turns integer ids into FIDs, which cannot be told apart
    from the row numbers it invents when ids are absent, so read them from the JSON itself."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (orjson.JSONDecodeError, OSError):
        return None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or len(feats) != n:
        return None
    ids = [_id_text(f.get("id")) if isinstance(f, dict) else None for f in feats]
    return ids if any(i is not None for i in ids) else None


def _id_texts(column: pd.Series) -> list[str | None]:
    if isinstance(column.dtype, pd.StringDtype):
        # the usual case, text ids: stripped, and "" and NaN become None (str.strip on each value:
        # pandas' own .str.strip() calls Python per cell too, and builds a Series on the way)
        values = column.tolist()
        if set(map(type, values)) == {str}:  # no gap: stripped by map, in C
            stripped: list[str | None] = list(map(str.strip, values))
            return stripped if "" not in stripped else [v or None for v in stripped]
        return [(v.strip() or None) if isinstance(v, str) else None for v in values]
    return [_id_text(v) for v in column.tolist()]


def _id_text(v: Any) -> str | None:
    if _missing(v):
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))  # an integer id column read as float because of a gap
    return str(v).strip() or None


def _id_problems(
    ids: list[str | None], schema: LayerSchema, name: str, source: str, first_row: int = 0
) -> list[Problem]:
    problems = (
        [
            Problem(schema.name, None, f"{name}: row {first_row + i + 1} has no id in {source}")
            for i, fid in enumerate(ids)
            if fid is None
        ]
        if any(map(is_, ids, repeat(None)))
        else []
    )
    if not problems and len(set(ids)) == len(ids):
        return problems  # every row has an id of its own (the usual file: one set, in C)
    rows: defaultdict[str, list[int]] = defaultdict(list)
    counts = Counter(ids)
    for i, fid in enumerate(ids):
        if fid is not None and counts[fid] > 1:
            rows[fid].append(first_row + i + 1)
    for fid, where in rows.items():
        shown = ", ".join(map(str, where[:5])) + (", ..." if len(where) > 5 else "")
        problems.append(Problem(schema.name, fid, f"{name}: id {fid!r} appears {len(where)} times (rows {shown})"))
    return problems


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def _typed(column: pd.Series, spec: FieldSpec) -> list[Any]:
    """Plain Python values of the field's type, None where missing. A value that does not convert
    is passed on as it is, so validation reports it against its feature id."""
    dtype = column.dtype
    # Fast paths for columns GDAL already typed (tolist() yields Python scalars); every other
    # column goes value by value through the converter.
    fast = (
        (spec.type == "string" and isinstance(dtype, pd.StringDtype))
        or (spec.type in ("number", "integer") and pd.api.types.is_integer_dtype(dtype))
        or (spec.type == "number" and pd.api.types.is_float_dtype(dtype))
    )
    values = column.tolist()
    if fast:
        if spec.type == "string":
            # Missing or blank text becomes None. Looked for among the distinct values (a set is
            # hashed in C, and a column of kinds has a handful), where pandas' str.strip() calls
            # Python once per cell; with every one a str, by map (a text strips to nothing exactly
            # when it is empty or all white space).
            distinct = set(values)
            if set(map(type, distinct)) == {str}:
                if "" not in distinct and not any(map(str.isspace, distinct)):
                    return values
            elif all(isinstance(v, str) and v.strip() for v in distinct):
                return values
            return [v if isinstance(v, str) and v.strip() else None for v in values]
        missing = column.isna().to_numpy(copy=True)
        if not missing.any():
            return values
        return [None if m else v for v, m in zip(values, missing, strict=True)]
    convert = _CONVERTERS[spec.type]
    return [None if _missing(v) else convert(v) for v in values]


def _to_string(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return v
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return v


def _to_integer(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return int(v) if float(v).is_integer() else float(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            f = _float_or_none(v)
            return int(f) if f is not None and f.is_integer() else v
    return v


def _to_number(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v)
    if isinstance(v, str):
        f = _float_or_none(v)
        return v if f is None else f
    return v


def _to_boolean(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
        return bool(v)  # GeoPackage and dBASE store booleans as 0/1
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    return v


def _to_date(v: Any) -> Any:
    if isinstance(v, datetime):  # also pandas Timestamp
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip()[:10]).isoformat()
        except ValueError:
            return v
    return v


def _to_list(v: Any) -> Any:
    # GDAL gives a list field's cell (a JSON array, a StringList) as a numpy array; text ("a, b" or
    # a JSON array in a CSV) is passed on for validation to split
    return v.tolist() if isinstance(v, np.ndarray) else v


def _float_or_none(text: str) -> float | None:
    try:
        f = float(text.strip())
    except ValueError:
        return None
    return f if math.isfinite(f) else None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "date": _to_date,
    "list": _to_list,
}


# ----------------------------------------------------------------------------- writing


def write_layer_file(
    rows: Iterable[ExportRow],
    schema: LayerSchema,
    path: str | Path,
    *,
    crs: str = "EPSG:4326",
    fmt: str | None = None,
    version: str | None = None,
) -> int:
    """Write rows of one layer to a GeoJSON, GeoPackage, zipped Shapefile or CSV; return how many.

    `version`, the commit the rows were read at, is recorded in the file (a CSV's last column), so
    that an import of the file, edited or not, knows what it was a copy of (`recorded_version`).

    Geometries are reprojected from storage lon/lat to `crs`. Columns are "feature_id" then the
    schema's fields in order, typed from the schema (integers stay integers; dates are ISO
    strings). GeoJSON also carries the id as each Feature's "id". An existing file is replaced
    (written beside it first, so a failed export leaves the old file alone).
    """
    path = Path(path)
    f = resolve_format(fmt, path)
    target = parse_crs(crs)
    if f.name == "geojson" and crs_authority(target) is None:
        # GeoJSON can only name a CRS by code; without one a reader would take metres for degrees
        raise BadInput(
            f"{path}: GeoJSON cannot record the CRS {crs_label(target)!r}; "
            "write a .gpkg or .zip (Shapefile), which carry its definition"
        )
    ids, geoms, props = _collect(rows)
    geoms = from_storage(target)(geoms)
    columns = _columns(schema, ids, props)

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
        out = Path(tmp) / f"{schema.name}{f.extension}"
        _WRITERS[f.name](columns, geoms, target, schema, out, version)
        os.replace(out, path)
    return len(ids)


def write_layer_bytes(
    rows: Iterable[ExportRow], schema: LayerSchema, *, fmt: str, crs: str = "EPSG:4326", version: str | None = None
) -> bytes:
    """The same as `write_layer_file`, returned as bytes (for an HTTP download)."""
    f = resolve_format(fmt)
    with tempfile.TemporaryDirectory(prefix="venue-twin-export-") as tmp:
        out = Path(tmp) / f"{schema.name}{f.extension}"
        write_layer_file(rows, schema, out, crs=crs, fmt=f.name, version=version)
        return out.read_bytes()


# Where an exported file records the commit it was read at.
VERSION_KEY = "twin_version"  # GeoPackage: the layer's metadata item
VERSION_MEMBER = "twin:version"  # GeoJSON: a member of the FeatureCollection
VERSION_FILE = "twin-version.txt"  # zipped Shapefile: a file in the zip
# CSV: a last column named VERSION_MEMBER, the same on every row (a row added since has it empty)
GPKG_VERSION = "1.2"  # the GeoPackage version exports are written as (GDAL's VERSION creation option)
GEOJSON_MEDIA = "application/vnd.geo+json"
_COMMIT_ID = re.compile(r"[0-9a-f]{64}")


def recorded_version(path: str | Path, source_layer: str | None = None) -> str | None:
    """The commit an exported file was read at (`write_layer_file`'s `version`), or None: a file
    from elsewhere, or one that records no well-formed commit id. A CSV whose rows record different
    versions (two exports joined) is refused (BadInput): it is a copy of neither."""
    path = Path(path)
    try:
        fmt = resolve_format(None, path)
    except BadInput:
        return None
    found: Any = None
    try:
        if fmt.name == "csv":
            found = _csv_version(path)
        elif fmt.name == "gpkg":
            found = (pyogrio.read_info(str(path), layer=source_layer).get("layer_metadata") or {}).get(VERSION_KEY)
        elif fmt.name == "shapefile" and path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as z:
                if VERSION_FILE in z.namelist():
                    # Read as far as a commit id goes: the member is the file's to say, and may be huge.
                    with z.open(VERSION_FILE) as member:
                        found = member.read(200).decode("ascii", "replace").strip()
        elif fmt.name == "geojson":
            # GDAL writes the member before "features"; the head of the file is enough, where
            # parsing the whole FeatureCollection would cost as much as the import's own read.
            with path.open("rb") as fh:
                head = fh.read(65536).split(b'"features"', 1)[0]
            m = re.search(rb'"twin:version"\s*:\s*"([0-9a-f]{64})"', head)
            found = m.group(1).decode() if m else None
    except (OSError, zipfile.BadZipFile, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        return None
    return found if isinstance(found, str) and _COMMIT_ID.fullmatch(found) else None


def _csv_version(path: Path) -> str | None:
    """The one version a CSV's VERSION_MEMBER column gives (empty cells, rows added since, aside)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
        if VERSION_MEMBER not in header:  # a CSV from elsewhere: not read further
            return None
        table = pd.read_csv(path, usecols=[VERSION_MEMBER], dtype=str, keep_default_na=False, encoding="utf-8-sig")
        cells = table[VERSION_MEMBER]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError):
        return None  # unreadable: the import's own read says why
    versions = sorted({v.strip() for v in cells.tolist() if v.strip()})
    if len(versions) > 1:
        shown = ", ".join(v[:12] for v in versions[:5]) + (" ..." if len(versions) > 5 else "")
        raise BadInput(
            f"{path}: its rows record different versions of the twin in {VERSION_MEMBER} ({shown}), as rows of "
            "exports made at different times joined do; import each export on its own, or pass --parent"
        )
    return versions[0] if versions else None


def _collect(rows: Iterable[ExportRow]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    ids: list[str] = []
    wkbs: list[bytes] = []
    props: list[dict[str, Any]] = []
    for r in rows:
        ids.append(r.feature_id)
        wkbs.append(r.wkb)
        props.append(orjson.loads(r.properties))
    return ids, np.asarray(shapely.from_wkb(np.asarray(wkbs, dtype=object)), dtype=object), props


_PANDAS_TYPES = {"integer": "Int64", "number": "Float64", "boolean": "boolean"}  # nullable: a gap stays a gap
_NUMPY_OF: dict[str, type] = {"Int64": np.int64, "Float64": np.float64, "boolean": np.bool_}


def _columns(schema: LayerSchema, ids: list[str], props: list[dict[str, Any]]) -> dict[str, Any]:
    columns: dict[str, Any] = {ID_COLUMN: pd.array(ids, dtype=object)}
    for spec in schema.fields:
        values = [p.get(spec.name) for p in props]
        dtype = _PANDAS_TYPES.get(spec.type)
        if spec.type == "date":
            values = [_to_date(v) if v is not None else None for v in values]
        try:
            columns[spec.name] = pd.array(values, dtype=dtype or object)
        except (TypeError, ValueError):
            # a stored value that does not fit its declared type (should not happen after
            # validation): write the column as it is rather than refuse the export
            columns[spec.name] = pd.array(values, dtype=object)
    return columns


def _lists_as_json(columns: dict[str, Any], schema: LayerSchema) -> dict[str, Any]:
    """The list fields' cells as JSON arrays of text (`["halls/hall-1.1H","halls/hall-1.2H"]`), as the
    twin's own GeoPackage table holds them: a GeoPackage, dBASE or CSV column has no list type, and
    GDAL and pandas would write Python's repr (`['a', 'b']`), which no reader takes back as a list.
    GeoJSON keeps real arrays."""
    lists = [f.name for f in schema.fields if f.type == "list"]
    if not lists:
        return columns
    return {
        **columns,
        **{name: pd.array([_list_cell(v) for v in columns[name]], dtype=object) for name in lists},
    }


def _list_cell(value: Any) -> Any:
    """A list field's value as a cell of a format without lists: its JSON array text. Anything else
    as it is."""
    return orjson.dumps(value).decode() if isinstance(value, list | tuple) else value


def _geometry_type(geoms: np.ndarray, schema: LayerSchema) -> str:
    kinds = {g.geom_type for g in geoms if g is not None}
    if len(kinds) == 1:
        return kinds.pop()
    if not kinds and len(schema.geometry_types) == 1:
        return schema.geometry_types[0]
    return "Unknown"  # mixed (e.g. Polygon and MultiPolygon): keep each feature's own type


def _frame(columns: dict[str, Any], geoms: np.ndarray, crs: CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _write_geojson(
    columns: dict[str, Any], geoms: np.ndarray, crs: CRS, schema: LayerSchema, out: Path, version: str | None
) -> None:
    # A copy of the id for GDAL to write as the Feature "id" (ID_FIELD moves it out of the
    # properties); "feature_id" stays a property, as in every other format.
    gdf = _frame({**columns, "_twin_id": columns[ID_COLUMN]}, geoms, crs)
    _ogr_write(
        gdf,
        out,
        "GeoJSON",
        layer=schema.name,
        geometry_type=_geometry_type(geoms, schema),
        promote_to_multi=False,
        layer_options={
            "ID_FIELD": "_twin_id",
            "ID_TYPE": "String",
            # Lon/lat to the last bit: at its default GDAL trims a run of nines (31.191654099999997
            # written 31.1916541), and an unedited export imported back read as modified. Not for
            # metres, where 17 decimals write digits beyond a double's (3456789.12345678918063641)
            # and a projected export comes back through a reprojection anyway.
            **({"COORDINATE_PRECISION": "17"} if crs.is_geographic else {}),
            # A foreign member of the FeatureCollection, ahead of its features (RFC 7946 6.1).
            **(
                {"NATIVE_DATA": orjson.dumps({VERSION_MEMBER: version}).decode(), "NATIVE_MEDIA_TYPE": GEOJSON_MEDIA}
                if version
                else {}
            ),
        },
    )


def _write_gpkg(
    columns: dict[str, Any], geoms: np.ndarray, crs: CRS, schema: LayerSchema, out: Path, version: str | None
) -> None:
    # pyogrio's raw writer rather than write_dataframe: a date field must reach GDAL as numpy's
    # datetime64[D] to be a GeoPackage DATE column (QGIS and GDAL then read dates, not text), and a
    # pandas column cannot hold that unit.
    dates = {f.name for f in schema.fields if f.type == "date"}
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for name, values in _lists_as_json(columns, schema).items():
        if name in dates:
            data.append(np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]"))
            masks.append(None)
        elif (kind := _NUMPY_OF.get(str(values.dtype))) is not None:  # nullable: the gaps as a mask
            data.append(values.to_numpy(dtype=kind, na_value=kind(0)))
            masks.append(np.asarray(values.isna(), dtype=bool))
        else:
            data.append(np.asarray(values, dtype=object))
            masks.append(None)
    epsg = crs.to_epsg()
    # A layer of records (the project register) is a GeoPackage attributes table: no geometry
    # column of unknown type for QGIS to list as a layer with nothing to draw.
    spatial = schema.spatial
    try:
        pyogrio.raw.write(
            out,
            np.asarray(shapely.to_wkb(geoms), dtype=object) if spatial else None,
            data,
            list(columns),
            field_mask=masks,
            layer=schema.name,
            driver="GPKG",
            geometry_type=_geometry_type(geoms, schema) if spatial else None,
            crs=(f"EPSG:{epsg}" if epsg else crs.to_wkt("WKT1_GDAL")) if spatial else None,
            promote_to_multi=False,
            layer_metadata={VERSION_KEY: version} if version else None,
            # GeoPackage 1.2, not the 1.4 the GDAL pyogrio bundles writes by default: GDAL 3.6
            # (Debian's ogrinfo, QGIS on it) warns "may only be partially supported" on every open of
            # a 1.4 file, and nothing written here (features, DATE columns, the metadata extension
            # for twin_version) needs more than 1.2
            dataset_options={"VERSION": GPKG_VERSION},
        )
    except Exception as e:  # GDAL refusals are the caller's input, as in _ogr_write
        raise BadInput(f"cannot write {out.name} as GPKG: {e}") from None


DBF_TEXT_BYTES = 254  # the longest text a dBASE character field holds


def _dbf_texts(values: Any) -> tuple[Any, int]:
    """A column with its texts cut to what a dBASE field holds, at a character boundary, and how
    many were cut. GDAL cuts the bytes itself, which can split a Chinese character (3 bytes in
    UTF-8) and leave text no reader decodes."""
    if not any(isinstance(v, str) and len(v) > DBF_TEXT_BYTES // 4 for v in values):
        return values, 0  # at most 4 bytes a character: these all fit
    out, cut = [], 0
    for v in values:
        if isinstance(v, str) and (fitted := _dbf_cut(v)) != v:
            v = fitted
            cut += 1
        out.append(v)
    return pd.array(out, dtype=object), cut


def _dbf_cut(text: str) -> str:
    """A text as a dBASE field holds it: whole if its UTF-8 fits, else its first DBF_TEXT_BYTES bytes
    less a character split at the end. The one rule both ways: the export cuts by it, and an import
    knows a value by it as just the cut form of the one stored (`restore_cut_texts`)."""
    raw = text.encode("utf-8")
    return text if len(raw) <= DBF_TEXT_BYTES else raw[:DBF_TEXT_BYTES].decode("utf-8", "ignore")


def _write_shapefile(
    columns: dict[str, Any], geoms: np.ndarray, crs: CRS, schema: LayerSchema, out: Path, version: str | None
) -> None:
    names = shapefile_field_names(schema)
    fitted: dict[str, Any] = {}
    cut: dict[str, int] = {}
    for k, v in _lists_as_json(columns, schema).items():
        fitted[names[k]], cut[k] = _dbf_texts(v)
    gdf = _frame(fitted, geoms, crs)
    family = np.array([_SHAPE_FAMILY.get(g.geom_type, "other") if g is not None else "none" for g in geoms])
    present = [f for f in ("polygon", "line", "point") if (family == f).any()]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if not schema.spatial:
            # Records (the project register): the dBASE table alone, no .shp of empty shapes.
            _ogr_write(pd.DataFrame(fitted), Path(tmp) / f"{schema.name}.dbf", "ESRI Shapefile", encoding="UTF-8")
        elif len(present) <= 1:
            # One shape type per shapefile: pyogrio infers it (Polygon and MultiPolygon share one).
            # An empty layer needs it named.
            shp = Path(tmp) / f"{schema.name}.shp"
            _ogr_write(
                gdf,
                shp,
                "ESRI Shapefile",
                encoding="UTF-8",
                geometry_type=None if present else (schema.geometry_types or ("Point",))[0],
            )
        else:
            # A shapefile holds one shape family, so a mixed layer (landscaping has beds, walls
            # and tree rows) becomes one shapefile per family in the zip, named by family.
            for f in present:
                part = gdf[family == f]
                _ogr_write(part, Path(tmp) / f"{schema.name}_{f}.shp", "ESRI Shapefile", encoding="UTF-8")
        _write_field_list(Path(tmp) / f"{schema.name}.fields.csv", schema, names, cut)
        if version:
            (Path(tmp) / VERSION_FILE).write_text(version + "\n")
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for part in sorted(Path(tmp).iterdir()):
                z.write(part, part.name)


FIELDS_LIST_MAX = 1024 * 1024  # bytes of a zip's <layer>.fields.csv read at most


def shapefile_cut_fields(path: str | Path) -> set[str]:
    """The fields whose texts were cut to fit dBASE, as the fields list in a zip this twin exported
    says (empty for any other file)."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return set()
    try:
        with zipfile.ZipFile(path) as z:
            lists = [m for m in z.namelist() if m.endswith(".fields.csv")]
            text = ""
            if len(lists) == 1:
                # A row per field: the list this twin writes is a few kB; a bigger one is not its.
                with z.open(lists[0]) as member:
                    head = member.read(FIELDS_LIST_MAX + 1)
                text = head.decode("utf-8-sig") if len(head) <= FIELDS_LIST_MAX else ""
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
        return set()
    column = f"texts_cut_to_{DBF_TEXT_BYTES}_bytes"
    return {
        row["field"] for row in csv.DictReader(io.StringIO(text)) if (row.get(column) or "0").strip() not in ("", "0")
    }


def restore_cut_texts(
    features: Sequence[Feature], fields: set[str], stored: Mapping[str, Mapping[str, Any]], layer: str
) -> int:
    """In features of `layer` read from a Shapefile that cut `fields` to fit dBASE, put back the whole
    value wherever the file holds just the cut form of what was stored (`stored`: each feature's
    properties as the copy was made), so an unedited Shapefile brought back changes nothing rather
    than cutting every long text short in the twin. A list is the JSON text the export wrote of it
    (`_list_cell`), cut the same way. An edited value is the file's, but a list the export cut and
    the file edited, still cut, is refused (ValidationFailed): the rest of it is not in the file. How
    many were put back."""
    restored = 0
    problems: list[Problem] = []
    for f in features:
        was = stored.get(str(f.id))
        if was is None:
            continue
        for name in fields & f.properties.keys():
            given, whole = f.properties[name], was.get(name)
            written = _list_cell(whole)
            if not isinstance(given, str) or not isinstance(written, str) or given == written:
                continue
            if (cut := _dbf_cut(written)) == written:
                continue  # the export did not cut this one: the file's as it is
            # dBASE pads a text with spaces and GDAL reads it without any at either end, so a text
            # cut after a space comes back without it
            if given == cut.strip(" "):
                f.properties[name] = whole
                restored += 1
            elif isinstance(whole, list) and _cut_json_list(given):
                problems.append(
                    Problem(
                        layer,
                        str(f.id),
                        f"{name} was cut to fit dBASE ({DBF_TEXT_BYTES} bytes a text) in this Shapefile and edited "
                        "there: the file does not hold the rest of the list, so it cannot be read back; edit the list "
                        f"in a GeoPackage (venue-twin export {layer} -o {layer}.gpkg), which keeps it whole",
                    )
                )
    if problems:
        raise ValidationFailed(problems)
    return restored


def _cut_json_list(text: str) -> bool:
    """Whether a cell's text begins a JSON array that does not end (as one cut to fit dBASE); a whole
    array, or references separated by commas, is a list the file gives whole."""
    if not text.lstrip().startswith("["):
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return True
    return False


def _write_field_list(path: Path, schema: LayerSchema, names: dict[str, str], cut: dict[str, int]) -> None:
    """What the zip's dBASE fields are: each short name's field in the twin, its type and how many
    of its texts were cut to fit, so a person in QGIS or Excel can tell `responsibl` from
    `responsi_1` and knows what the Shapefile could not hold (this reader maps the names back
    itself). UTF-8 with a BOM, as the other CSV downloads, so Excel shows Chinese text."""
    types = {f.name: f.type for f in schema.fields}
    rows = [
        {
            "shapefile_field": short,
            "field": full,
            "type": types.get(full, "string"),
            f"texts_cut_to_{DBF_TEXT_BYTES}_bytes": cut.get(full, 0),
        }
        for full, short in names.items()
    ]
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")


_SHAPE_FAMILY = {
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
    "LineString": "line",
    "MultiLineString": "line",
    "Point": "point",
    "MultiPoint": "point",
}


def _write_csv(
    columns: dict[str, Any], geoms: np.ndarray, crs: CRS, schema: LayerSchema, out: Path, version: str | None
) -> None:
    df = pd.DataFrame(_lists_as_json(columns, schema))
    # rounding_precision=-1: every digit, so the CSV holds exactly what the twin holds
    df["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1, trim=True)
    if version:
        # A CSV has no place for metadata that GDAL, QGIS, pandas and Excel all pass over (a comment
        # line is a row to each of them), so the version is a last column, on every row: a row
        # sorted, filtered or pasted elsewhere keeps it, and a row added in Excel or QGIS leaves it
        # empty. Its name cannot be a field's (field names are lower-case letters, digits and _).
        df[VERSION_MEMBER] = version
    df.to_csv(out, index=False)


def _ogr_write(gdf: gpd.GeoDataFrame | pd.DataFrame, out: Path, driver: str, **kwargs: Any) -> None:
    try:
        pyogrio.write_dataframe(gdf, out, driver=driver, **kwargs)
    except Exception as e:  # GDAL refusals (e.g. points and polygons in one shapefile) are the caller's input
        raise BadInput(f"cannot write {out.name} as {driver}: {e}") from None


_WRITERS: dict[str, Callable[[dict[str, Any], np.ndarray, CRS, LayerSchema, Path, str | None], None]] = {
    "geojson": _write_geojson,
    "gpkg": _write_gpkg,
    "shapefile": _write_shapefile,
    "csv": _write_csv,
}
