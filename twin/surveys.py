"""Survey rasters (drone orthophotos, vegetation indexes) recorded in the twin's history.

How a survey is kept: the raster itself is a Cloud-Optimized GeoTIFF in a directory beside the
twin (`survey_directory`), named by the SHA-256 of its bytes so a file never changes once
written; the twin records each survey as one feature of a survey layer (`surveys`, or any layer
named `surveys_*`, e.g. a restricted `surveys_internal`): its footprint within the venue's area of
interest as geometry (EPSG:4326) and its metadata (kind, flight date, checksum, CRS, bounds,
resolution, bands...) as properties. So one import is one ordinary commit (author, message, time,
checksum in its content id), and as-of reads, diff, log, history, copying between stores, the
PostGIS store and a layer's restricted visibility all apply to surveys with no code of their own.
The pixels are never inside a commit; `check_survey_files` (run by fsck) recomputes each file's
checksum against the one the history recorded.

The COG is warped once, at import, to EPSG:3857 at the source's pixel size (the source CRS is
recorded beside it): see _to_cog for why.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import shapely
from shapely.geometry import box

from twin.errors import BadInput, Conflict, NotFound, Problem
from twin.model import SCHEMA_ID, STORAGE_DECIMALS, Change, CommitInfo, Feature, FieldSpec, LayerSchema, StoredChange

if TYPE_CHECKING:
    from twin.core import Ref, Twin, TwinLike

SURVEY_LAYER = "surveys"  # the default survey layer, created by the first import
SURVEY_LAYER_PREFIX = "surveys_"  # other survey layers, e.g. restricted ones
KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEFAULT_MAX_BYTES = 4 * 1024**3
# The most pixels (width × height) an import converts, VENUE_TWIN_SURVEY_MAX_PIXELS. The venue is
# about 1.5 km across: a drone orthophoto of all of it at 2 cm a pixel is 75,000² = 5.6e9 pixels
# (at the usual 3-5 cm, 2.5e9 to 0.9e9), so 6e9 lets any real flight of the venue through, while
# a file whose size on disk says nothing of its pixels (sparse, or one colour compressed) is
# refused before a conversion of hours. Bands are not counted: the kinds the evidence reads have 1
# to 4, and the limit reads in the terms a flight is planned in (extent over pixel size).
DEFAULT_MAX_PIXELS = 6_000_000_000
# A hidden temporary older than this is left by an import that was killed (a running one writes
# or reads its files for at most a few hours, at DEFAULT_MAX_PIXELS); the next import removes it.
STALE_TEMPORARY_SECONDS = 24 * 3600
WEB_MERCATOR = "EPSG:3857"  # the CRS survey COGs are stored in (see _to_cog for why)
_CHUNK = 1 << 20
# GDAL's block cache while an import converts a raster (see import_cache): bounded, so a huge
# orthophoto's import stays within a few hundred MB; it streams by blocks and needs no more.
IMPORT_CACHE_BYTES = 256 << 20

_FIELDS = (
    FieldSpec("kind", "string", required=True, title_en="Survey kind", title_zh="测量类型"),
    FieldSpec("date", "date", required=True, title_en="Flight date", title_zh="飞行日期"),
    FieldSpec(
        "checksum", "string", required=True, title_en="SHA-256 of the COG file", title_zh="文件校验值（SHA-256）"
    ),
    FieldSpec("crs", "string", required=True, title_en="CRS of the raster", title_zh="影像坐标系"),
    FieldSpec("west", "number", required=True, unit="deg", title_en="West edge (longitude)", title_zh="西边界（经度）"),
    FieldSpec(
        "south", "number", required=True, unit="deg", title_en="South edge (latitude)", title_zh="南边界（纬度）"
    ),
    FieldSpec("east", "number", required=True, unit="deg", title_en="East edge (longitude)", title_zh="东边界（经度）"),
    FieldSpec(
        "north", "number", required=True, unit="deg", title_en="North edge (latitude)", title_zh="北边界（纬度）"
    ),
    FieldSpec(
        "resolution_m", "number", required=True, unit="m", title_en="Ground sample distance", title_zh="地面分辨率"
    ),
    FieldSpec("width", "integer", required=True, unit="px", title_en="Width", title_zh="宽度"),
    FieldSpec("height", "integer", required=True, unit="px", title_en="Height", title_zh="高度"),
    FieldSpec("band_count", "integer", required=True, title_en="Number of bands", title_zh="波段数"),
    FieldSpec("band_descriptions", "list", title_en="Band descriptions", title_zh="波段说明"),
    FieldSpec("dtype", "string", required=True, title_en="Pixel data type", title_zh="像元数据类型"),
    FieldSpec("nodata", "string", title_en="No-data value as text (nan for NaN)", title_zh="无数据值"),
    FieldSpec("file_name", "string", required=True, title_en="File name in the twin", title_zh="存储文件名"),
    FieldSpec("size_bytes", "integer", required=True, unit="B", title_en="File size", title_zh="文件大小"),
    FieldSpec("source_name", "string", title_en="File name the survey was imported from", title_zh="导入时的文件名"),
    FieldSpec("source_crs", "string", title_en="CRS of the raster as imported", title_zh="导入时的坐标系"),
    FieldSpec(
        "unit",
        "string",
        title_en="Unit of a single-band survey's values (its file's band unit)",
        title_zh="数值单位（单波段影像）",
    ),
)


def survey_schema(name: str = SURVEY_LAYER, restricted_to: Sequence[str] = ()) -> LayerSchema:
    """The schema of a survey layer (restricted_to: roles that may see its surveys)."""
    if not is_survey_layer(name):
        raise BadInput(f"a survey layer is named {SURVEY_LAYER} or {SURVEY_LAYER_PREFIX}..., not {name!r}")
    return LayerSchema(
        name=name,
        title_zh="航测影像",
        title_en="Survey rasters",
        geometry_types=("Polygon",),
        fields=_FIELDS,
        description="Drone surveys (orthophotos, vegetation indexes): footprint and metadata; "
        "the pixels are Cloud-Optimized GeoTIFFs in the twin's survey directory, named by checksum.",
        positions_approximate=False,
        restricted_to=tuple(restricted_to),
    )


def is_survey_layer(name: str) -> bool:
    return name == SURVEY_LAYER or name.startswith(SURVEY_LAYER_PREFIX)


@dataclass(frozen=True)
class SurveyInfo:
    """One recorded survey: what the twin's history says of it."""

    id: str  # the feature id: the first 16 hex digits of the checksum
    layer: str  # the survey layer that holds it (decides who may see it)
    kind: str  # orthophoto, ndvi, ...
    date: date  # the flight date
    checksum: str  # SHA-256 of the COG file, hex
    crs: str  # the COG's CRS: EPSG:3857 (see _to_cog)
    bounds: tuple[float, float, float, float]  # west, south, east, north in lon/lat
    resolution: float  # metres on the ground per pixel of the source (mean of x and y)
    width: int
    height: int
    band_count: int
    band_descriptions: tuple[str, ...]
    dtype: str
    nodata: float | None
    file_name: str
    size_bytes: int
    commit: str  # id of the commit that recorded it (as the reader may see it)
    source_name: str | None = None
    source_crs: str | None = None  # the CRS it was imported in (EPSG:xxxx, or WKT when it has no code)
    unit: str | None = None  # of a single-band survey's values (°C), as its source file's band said

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["date"] = self.date.isoformat()
        d["bounds"] = list(self.bounds)
        d["band_descriptions"] = list(self.band_descriptions)
        if self.nodata is not None and math.isnan(self.nodata):
            d["nodata"] = "nan"
        return d


# ---------------------------------------------------------------------- where files live
def survey_directory(twin: Twin) -> Path:
    """Where this twin's survey files live: $VENUE_TWIN_SURVEY_DIR, else beside a GeoPackage twin
    (`data/venue-twin.gpkg` -> `data/venue-twin.surveys/`). A database twin's is the absolute
    $VENUE_TWIN_SURVEY_DIR every process shares (twin.settings.database_survey_dir: SettingsError
    naming the variable without one; its default was `data/surveys` under whatever directory the
    process ran in, so a server started elsewhere found no file, and an import run elsewhere wrote
    where no server looked)."""
    from twin.settings import database_survey_dir, settings

    path = getattr(twin.store, "path", None)
    if not isinstance(path, Path):
        return database_survey_dir(twin.store.url)
    configured = settings().survey_dir
    if configured:
        return Path(configured)
    return path.with_name(path.stem + ".surveys")


def survey_path(twin: Twin, info: SurveyInfo) -> Path:
    return survey_directory(twin) / info.file_name


# ---------------------------------------------------------------------- reads
def survey_layers(twin: TwinLike, ref: Ref | None = None) -> list[str]:
    """The survey layers the reader may see (a TwinView hides restricted ones)."""
    return [s.name for s in twin.layers(ref) if is_survey_layer(s.name)]


def list_surveys(twin: TwinLike, ref: Ref | None = None, kind: str | None = None) -> list[SurveyInfo]:
    """The surveys recorded as of `ref` (default HEAD), oldest flight first."""
    ref = ref or twin.resolve()
    out: list[SurveyInfo] = []
    for layer in survey_layers(twin, ref):
        page = twin.features(layer, ref)
        for raw in page.features:
            info = _info(twin, layer, raw, ref)
            if kind is None or info.kind == kind:
                out.append(info)
    out.sort(key=lambda s: (s.date, s.kind, s.id))
    return out


def recording_order(twin: TwinLike, surveys: Sequence[SurveyInfo]) -> dict[str, int]:
    """Commit id -> its sequence number, for the surveys that share a kind and a flight day with
    another: of those, the one recorded last speaks (a re-flown or reprocessed survey of the day
    replaces the earlier one), to the evidence and on the maps alike."""
    days: dict[tuple[str, date], list[SurveyInfo]] = {}
    for s in surveys:
        days.setdefault((s.kind, s.date), []).append(s)
    return {s.commit: twin.resolve(s.commit).seq for same in days.values() if len(same) > 1 for s in same}


def get_survey(twin: TwinLike, survey_id: str, ref: Ref | None = None) -> SurveyInfo:
    ref = ref or twin.resolve()
    for layer in survey_layers(twin, ref):
        found = twin.features_by_id(layer, [survey_id], ref)
        if survey_id in found:
            return _info(twin, layer, found[survey_id], ref)
    when = f" as of {ref.commit.id[:12]}" if ref.commit else ""
    raise NotFound(f"no survey {survey_id!r}{when}")


def _info(twin: TwinLike, layer: str, raw: bytes, ref: Ref) -> SurveyInfo:
    d = orjson.loads(raw)
    p = d["properties"]
    fid = str(d["id"])
    # The commit that wrote the record read as of `ref`: a survey removed and imported again is a
    # new record (its first version's commit was the old one), and the importer alone writes one.
    recorded = [h.commit for h in twin.history(layer, fid) if h.op != "delete" and h.commit.seq <= ref.seq][-1].id
    nodata = p.get("nodata")
    return SurveyInfo(
        id=fid,
        layer=layer,
        kind=p["kind"],
        date=date.fromisoformat(p["date"]),
        checksum=p["checksum"],
        crs=p["crs"],
        bounds=(p["west"], p["south"], p["east"], p["north"]),
        resolution=p["resolution_m"],
        width=p["width"],
        height=p["height"],
        band_count=p["band_count"],
        band_descriptions=tuple(p.get("band_descriptions") or ()),
        dtype=p["dtype"],
        nodata=float(nodata) if nodata is not None else None,
        file_name=p["file_name"],
        size_bytes=p["size_bytes"],
        commit=recorded,
        source_name=p.get("source_name"),
        source_crs=p.get("source_crs"),
        unit=p.get("unit"),
    )


# ---------------------------------------------------------------------- import
@dataclass(frozen=True)
class _Source:
    crs: str
    bounds_lonlat: tuple[float, float, float, float]
    resolution: float
    count: int
    dtype: str
    nodata: float | None
    descriptions: tuple[str, ...]
    alpha: bool = False  # a fourth band that is alpha (RGBA), not another band (RGB + near-infrared)
    unit: str | None = None  # a single band's unit (GDAL's unit type): the COG does not keep it


def import_survey(
    twin: TwinLike,
    path: str | Path,
    *,
    kind: str,
    on: date,
    author: str,
    message: str | None = None,
    layer: str = SURVEY_LAYER,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> CommitInfo:
    """Validate a georeferenced raster, convert it to a COG in the survey directory and record it
    as one commit. BadInput naming the problem for anything unusable; then nothing is recorded and
    no file is left behind."""
    from twin.settings import settings

    src_path = Path(path)
    if not KIND.match(kind):
        raise BadInput(f"survey kind {kind!r} must be lower-case letters, digits and _ (e.g. orthophoto, ndvi)")
    if not is_survey_layer(layer):
        raise BadInput(f"{layer!r} is not a survey layer ({SURVEY_LAYER} or {SURVEY_LAYER_PREFIX}...)")
    if layer != SURVEY_LAYER and layer not in {s.name for s in twin.layers()}:
        # Only the default layer is made by the first import: another (a restricted one) is an
        # admin's to make, with its roles; an editor's typo must not make an unrestricted layer.
        raise BadInput(
            f"no survey layer {layer!r}: an admin makes it first (venue-twin layer create, with the survey "
            f"fields and restricted_to); the default survey layer is {SURVEY_LAYER}"
        )
    from twin.core import SHANGHAI

    today = datetime.now(SHANGHAI).date()
    if on > today:
        # A typo'd year would make the flight the latest evidence for every date after it.
        raise BadInput(f"{src_path.name}: flight date {on.isoformat()} is in the future (today is {today.isoformat()})")
    limit = max_bytes if max_bytes is not None else settings().survey_max_bytes
    try:
        size = src_path.stat().st_size
    except OSError as e:
        raise BadInput(f"cannot read {src_path}: {e.strerror}") from None
    if size > limit:
        raise BadInput(
            f"{src_path.name}: {size:,} bytes is over the survey size limit of {limit:,} bytes "
            "(VENUE_TWIN_SURVEY_MAX_BYTES)"
        )
    aoi = twin.area_of_interest
    pixel_limit = max_pixels if max_pixels is not None else settings().survey_max_pixels
    source = _check_source(src_path, aoi, pixel_limit)
    _check_kind(src_path.name, kind, source)
    if kind == "ndvi":
        _check_index_range(src_path, source)
    footprint = shapely.transform(
        box(*source.bounds_lonlat).intersection(aoi), lambda xy: np.round(xy, STORAGE_DECIMALS)
    )  # rounded as its corners are: where the area of interest cuts it, its vertices are computed
    from twin.access import TwinView

    real_twin = twin.twin if isinstance(twin, TwinView) else twin
    directory = survey_directory(real_twin)
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(directory)
    with _temporary(directory) as tmp:
        _to_cog(src_path, tmp, source)
        checksum, cog_size = _sha256(tmp)
        survey_id = checksum[:16]
        _refuse_recorded(twin, real_twin, src_path.name, survey_id)
        final = directory / f"{checksum}.tif"
        existed = final.exists()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the service may run as another user
        os.replace(tmp, final)
        try:
            if layer not in {s.name for s in real_twin.layers()}:
                with contextlib.suppress(Conflict):  # another import created it meanwhile
                    twin.create_layer(survey_schema(layer), author=author, message=f"Create survey layer {layer}")
            else:
                twin.layer(layer)  # through a view: refuse a layer the caller may not see
            if source.unit and all(f.name != "unit" for f in twin.layer(layer).fields):
                # a layer made before surveys recorded their band's unit gets the field a new one has
                unit = next(f for f in _FIELDS if f.name == "unit")
                with contextlib.suppress(BadInput):  # another import added it meanwhile
                    twin.alter_layer(
                        layer,
                        {"add_fields": [{"name": unit.name, "type": unit.type, "title_zh": unit.title_zh,
                                         "title_en": unit.title_en}]},  # fmt: skip
                        author=author,
                        message=f"Survey layer {layer} records the unit of a survey's values",
                    )
            props = {
                "kind": kind,
                "date": on.isoformat(),
                "checksum": checksum,
                "crs": WEB_MERCATOR,
                "source_crs": source.crs,
                "west": source.bounds_lonlat[0],
                "south": source.bounds_lonlat[1],
                "east": source.bounds_lonlat[2],
                "north": source.bounds_lonlat[3],
                "resolution_m": source.resolution,
                "width": 0,
                "height": 0,
                "band_count": source.count,
                "band_descriptions": list(source.descriptions),
                "dtype": source.dtype,
                "nodata": None
                if source.nodata is None
                else ("nan" if math.isnan(source.nodata) else repr(source.nodata)),
                "file_name": final.name,
                "size_bytes": cog_size,
                "source_name": src_path.name,
            }
            if source.unit:
                props["unit"] = source.unit
            import rasterio

            with rasterio.open(final) as cog:
                props["width"], props["height"] = cog.width, cog.height
            feature = Feature(survey_id, footprint, props)
            with _by_the_importer():
                return twin.commit(
                    [Change(layer, "add", survey_id, feature)],
                    author=author,
                    message=message or f"Survey {kind} of {on.isoformat()} ({src_path.name}, sha256 {checksum[:12]})",
                )
        except BaseException:
            if not existed:
                final.unlink(missing_ok=True)
            raise


def _refuse_recorded(twin: TwinLike, real_twin: Twin, name: str, survey_id: str) -> None:
    """BadInput when the raster is recorded already (in any survey layer): naming how it was
    recorded, so a second import as another kind or date knows what to remove first."""
    visible = set(survey_layers(twin))
    for other in survey_layers(real_twin):
        found = real_twin.features_by_id(other, [survey_id])
        if not found:
            continue
        if other not in visible:  # what a hidden survey is stays hidden from this caller
            raise BadInput(
                f"{name}: this raster is already recorded as survey {survey_id}, in a survey layer you may not see"
            )
        was = _info(real_twin, other, found[survey_id], real_twin.resolve())
        raise BadInput(
            f"{name}: this raster is already recorded as survey {survey_id}: {was.kind} flown {was.date.isoformat()}"
            f" (layer {other}, commit {was.commit[:12]}); to record it otherwise, remove that survey first "
            f"(venue-twin raster remove {survey_id}, or DELETE /surveys/{survey_id}) and import it again"
        )


def remove_survey(twin: TwinLike, survey_id: str, *, author: str, message: str | None = None) -> CommitInfo:
    """Remove a survey's record as one commit (NotFound if the caller sees no such survey). Its
    file stays: the versions before keep reading it (as-of reads, diff), and fsck checks only the
    surveys recorded at the head."""
    info = get_survey(twin, survey_id)
    return twin.commit(
        [Change(info.layer, "delete", info.id)],
        author=author,
        message=message or f"Remove survey {info.id} ({info.kind} of {info.date.isoformat()})",
    )


def recorded_by(twin: TwinLike, commit: CommitInfo) -> SurveyInfo:
    """The survey an import's commit recorded."""
    for info in list_surveys(twin):
        if info.commit == commit.id:
            return info
    raise NotFound(f"commit {commit.id[:12]} recorded no survey the reader may see")


# ---------------------------------------------------------------------- who writes survey records
# Set while the importer commits: the one writer of a survey's record (survey_record_problems).
_IMPORTING: ContextVar[bool] = ContextVar("survey_importer", default=False)


@contextlib.contextmanager
def _by_the_importer() -> Iterator[None]:
    token = _IMPORTING.set(True)
    try:
        yield
    finally:
        _IMPORTING.reset(token)


def survey_record_problems(changes: Sequence[StoredChange]) -> list[Problem]:
    """The rule on survey records, which Twin.commit applies to every commit: a record's fields
    (kind, date, bands, checksum, file, CRS, bounds...) and footprint are derived from its raster
    by the importer, so anything else that adds or changes one (a features API PUT/PATCH/POST, a
    layer file imported into a survey layer) is refused; a record that said `orthophoto` of a
    one-band NDVI file made every evidence read after its date fail. Removing one is allowed: the
    record goes, and nothing left disagrees with a file (`remove_survey` makes the same commit).
    A survey layer holds nothing else to edit (no free-text field), so every field is named.

    Judged on the changes a commit really makes (Twin.commit, after dropping the features given as
    they already are), so an unedited export of a survey layer imported again is "nothing to
    commit", not refused."""
    if _IMPORTING.get():
        return []
    if not any(is_survey_layer(name) for name in {ch.layer for ch in changes}):  # a set: 100,000 adds are one layer
        return []
    own = [f.name for f in _FIELDS]
    problems: list[Problem] = []
    for ch in changes:
        if not is_survey_layer(ch.layer) or ch.op == "delete":
            continue
        if ch.feature_id == SCHEMA_ID or ch.version is None:
            continue
        if ch.op == "add":
            text = (
                "a survey is recorded only by importing its raster, which derives its record from the file: "
                "venue-twin raster import FILE --survey KIND --date YYYY-MM-DD, or POST /surveys"
            )
        else:
            given = ch.version.properties or {}
            fields = [n for n in own if n in given] or own
            shown = ", ".join(fields[:6]) + (", …" if len(fields) > 6 else "")
            text = (
                f"a survey's record ({shown} and its footprint) describes its file and is written only by the "
                f"survey importer: to record the raster as another kind or date, remove the survey (venue-twin "
                f"raster remove {ch.feature_id}, or DELETE /surveys/{ch.feature_id}) and import it again "
                "(venue-twin raster import FILE --survey KIND --date YYYY-MM-DD, or POST /surveys)"
            )
        # No problem code: the layer-check page words coded problems (web.i18n), and a survey layer
        # is never checked there; the reason is the message.
        problems.append(Problem(ch.layer, ch.feature_id, text))
    return problems


# The shape of a survey of each kind the evidence reads (completion.evidence): an NDVI index is
# compared with a threshold on its value (0.4), an orthophoto's finished-surface signatures are
# 8-bit luma ranges. A raster of another shape recorded as one of these kinds would be measured as
# nonsense (an RGB orthophoto imported as ndvi reads as 100 % green cover everywhere).
KIND_SHAPES: dict[str, tuple[tuple[int, ...], str, str]] = {
    "ndvi": ((1,), "f", "an ndvi survey is one band of floating-point index values (-1 to 1)"),
    "orthophoto": ((3, 4), "u1", "an orthophoto is 3 or 4 bands (RGB or RGBA) of 8-bit values"),
}


def kind_warning(kind: str) -> str | None:
    """What to tell whoever imports a survey of a kind the evidence does not read (None for one it
    reads). Such kinds are kept (README: other kinds take any raster; the maps draw each as an
    overlay and it is served as tiles), but a typo'd kind would otherwise pass unnoticed."""
    if kind in KIND_SHAPES:
        return None
    return (
        f"survey kind {kind!r} is not one the evidence reads ({', '.join(sorted(KIND_SHAPES))}): it is drawn "
        "on the maps and served as tiles, but no completion estimate uses it"
    )


def short_crs(crs: str | None) -> str:
    """A CRS as a column can show it: EPSG:xxxx as recorded, otherwise the name in its WKT (a
    custom projection's whole WKT is a page of text)."""
    if not crs or crs.startswith("EPSG:"):
        return crs or "?"
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)  # no authority code: the import recorded EPSG:xxxx if it had one
    except CRSError:
        name = crs
    else:
        name = parsed.name
        if name in ("", "unknown"):  # a PROJ string's CRS: named by its projection
            op = parsed.coordinate_operation
            name = f"custom {op.method_name}" if op is not None else "custom CRS"
    return name if len(name) <= 40 else name[:39] + "…"


def _check_kind(name: str, kind: str, source: _Source) -> None:
    shape = KIND_SHAPES.get(kind)
    if shape is None:
        return
    import numpy as np

    counts, dtype_kind, what = shape
    dt = np.dtype(source.dtype)
    if kind == "ndvi" and source.count == 1 and dt.kind in "iu":
        return  # an NDVI stored scaled to integers (× 10,000, 0-200): its values say how to rescale it
    fits = dt.kind == "f" if dtype_kind == "f" else dt == np.dtype(dtype_kind)
    if source.count not in counts or not fits:
        raise BadInput(
            f"{name}: {source.count} band(s) of {source.dtype} cannot be a survey of kind {kind}: {what} "
            "(is --survey / kind= right?)"
        )


# Blocks read across a raster to judge its values: an 8 × 8 grid of them, a few MB for any size.
_SAMPLE_GRID = 8


def _check_index_range(path: Path, source: _Source) -> None:
    """Refuse an NDVI whose valid values are not index values (-1 to 1): a raster scaled to 0-200
    or 0-10,000 passes the shape check and then reads as 100 % green cover. Judged on a grid of
    blocks spread over the raster (never the whole of it): a scale is in every value."""
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    with rasterio.open(path) as src:
        bh, bw = src.block_shapes[0]
        rows = sorted({round(i * max(0, src.height - bh) / (_SAMPLE_GRID - 1)) for i in range(_SAMPLE_GRID)})
        cols = sorted({round(i * max(0, src.width - bw) / (_SAMPLE_GRID - 1)) for i in range(_SAMPLE_GRID)})
        lo, hi = math.inf, -math.inf
        inside = 0  # sampled values from -1 to 1
        outside: set[float] = set()  # the distinct values outside it (a few kept)
        for r in rows:
            for c in cols:
                try:
                    a = src.read(1, window=Window(c, r, min(bw, src.width), min(bh, src.height)), masked=True)
                except RasterioError as e:  # a damaged block among those sampled
                    raise BadInput(
                        f"{path.name}: a block of its bands cannot be read, is the file truncated or corrupt? "
                        f"({_gdal_reason(e, path.name)})"
                    ) from None
                v = a.compressed()
                v = v[np.isfinite(v)]
                if v.size:
                    lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                    index = (v >= -1.0) & (v <= 1.0)
                    inside += int(index.sum())
                    if len(outside) < 2:
                        outside.update(float(x) for x in np.unique(v[~index])[:2])
    if np.dtype(source.dtype).kind in "iu" and (lo == math.inf or (lo >= -1.0 and hi <= 1.0)):
        raise BadInput(
            f"{path.name}: 1 band(s) of {source.dtype} cannot be a survey of kind ndvi: {KIND_SHAPES['ndvi'][2]} "
            "(is --survey / kind= right?)"
        )
    if lo == math.inf or (lo >= -1.0 and hi <= 1.0):
        return  # nothing valid sampled (a sparse flight): the evidence says so of its coverage
    if inside and len(outside) == 1 and np.dtype(source.dtype).kind == "f":
        # Index values and one other value: the fill outside the flight, written without being
        # declared as nodata (rescaling by its range, -9999 to 0.9 as "NDVI × 10,000", is wrong).
        (fill,) = outside
        declared = f" (its nodata is declared as {source.nodata:g})" if source.nodata is not None else ""
        raise BadInput(
            f"{path.name}: its values are index values from -1 to 1 but for {fill:g}, which looks like the fill "
            f"outside the flight with no nodata declared{declared}; declare it and import again: "
            f"gdal_edit.py -a_nodata {fill:g} {path.name}"
        )
    if lo >= 0 and hi <= 200:
        formula, meaning = "(A - 100) / 100", "NDVI × 100 + 100"
    elif lo >= 0 and hi <= 255:
        formula, meaning = "A / 127.5 - 1", "NDVI stretched over 0-255"
    elif lo >= -10_000 and hi <= 10_000:
        formula, meaning = "A / 10000", "NDVI × 10,000"
    else:
        formula, meaning = "...", "whatever its processing software documents"
    rescale = (
        f'if it is {meaning}, rescale it first: gdal_calc.py -A {path.name} --calc="{formula}" --type=Float32 '
        "--outfile=ndvi.tif, or import it as another kind"
    )
    if np.dtype(source.dtype).kind in "iu":
        raise BadInput(
            f"{path.name}: 1 band(s) of {source.dtype} cannot be a survey of kind ndvi: {KIND_SHAPES['ndvi'][2]}; "
            f"its valid values range from {lo:g} to {hi:g} (a sample of its blocks): {rescale}"
        )
    raise BadInput(
        f"{path.name}: its valid values range from {lo:g} to {hi:g} (a sample of its blocks), but an ndvi "
        f"survey holds index values from -1 to 1; {rescale}"
    )


def _remove_stale_temporaries(directory: Path) -> None:
    """Remove the hidden temporaries an import killed midway left (a running one deletes its own)."""
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for f in directory.glob(".import-*"):
        with contextlib.suppress(OSError):  # another process removed it meanwhile
            if f.stat().st_mtime < cutoff:
                f.unlink()


@contextlib.contextmanager
def _temporary(directory: Path) -> Iterator[Path]:
    """A hidden temporary file in the survey directory (same file system: the rename is atomic),
    removed unless it was moved into place."""
    fd, name = tempfile.mkstemp(prefix=".import-", suffix=".tif", dir=directory)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _check_source(path: Path, aoi: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> _Source:
    import numpy as np
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window

    name = path.name
    try:
        with warnings.catch_warnings():
            # An ungeoreferenced file is refused below with a message naming it, not a warning.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioError as e:
        raise BadInput(f"{name}: not a raster GDAL can read ({_first_line(e)})") from None
    with src:
        if src.crs is None or (src.transform.is_identity and not src.gcps[0]):
            # A photo saved under a .tif name is opened by its own driver: say what it is.
            what = f" a {src.driver} image, not a GeoTIFF, and" if src.driver != "GTiff" else ""
            if src.crs is None and not src.transform.is_identity:
                # A geotransform (its own, or a .tfw world file beside it) without a CRS: say which.
                raise BadInput(
                    f"{name}:{what} has a geotransform but no CRS; give it the CRS it was made in "
                    f"(gdal_edit.py -a_srs EPSG:4549 {name}, for CGCS2000 / 3-degree Gauss-Krüger CM 120° E)"
                )
            raise BadInput(f"{name}:{what} not georeferenced (no CRS or geotransform); give a GeoTIFF with both")
        if src.gcps[0] and src.transform.is_identity:
            raise BadInput(f"{name}: georeferenced by control points only; warp it to a CRS first (gdalwarp)")
        if src.count < 1:
            raise BadInput(f"{name}: has no bands")
        _check_pixels(name, src, max_pixels)
        dtype = src.dtypes[0]
        if any(d != dtype for d in src.dtypes):
            raise BadInput(f"{name}: bands of different types ({', '.join(sorted(set(src.dtypes)))})")
        if np.dtype(dtype).kind == "c":
            raise BadInput(f"{name}: complex pixel type {dtype} is not a survey raster")
        nodata = src.nodata
        if nodata is not None and not _nodata_fits(nodata, dtype):
            raise BadInput(f"{name}: nodata {nodata!r} cannot be a {dtype} value")
        epsg = src.crs.to_epsg()
        if src.crs.is_geographic and not _degrees(src.bounds):
            # A projected raster (metres) labelled with a geographic CRS: its "longitudes" of 623,109
            # would be put in lon/lat as they are and refused as outside the venue, in lon/lat.
            b = src.bounds
            raise BadInput(
                f"{name}: its CRS {f'EPSG:{epsg}' if epsg else src.crs.name} is geographic (degrees) but its "
                f"coordinates ({b.left:.1f}, {b.bottom:.1f} – {b.right:.1f}, {b.top:.1f}) do not look like degrees: "
                "a projected raster (metres) labelled with a geographic CRS? Give it the CRS it was made in "
                "(gdal_edit.py -a_srs EPSG:...)"
            )
        try:
            lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
            # Reprojected, so rounded as every reprojection into storage is (a footprint exported in
            # EPSG:4549 and imported back is then as stored: nothing to commit).
            west, south, east, north = (float(v) for v in np.round(lonlat, STORAGE_DECIMALS))
        except Exception as e:  # pyproj/PROJ errors have no common base worth naming
            raise BadInput(f"{name}: its bounds cannot be put in lon/lat ({_first_line(e)})") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise BadInput(f"{name}: its bounds are not finite in lon/lat; is its CRS right?")
        extent = box(west, south, east, north)
        if not extent.intersects(aoi) or extent.intersection(aoi).area <= 0:
            # One that only touches it (an edge on its edge) shares no area: its footprint would be a
            # line, refused by the record's validation after the conversion (and the layer's creation).
            x0, y0, x1, y1 = aoi.bounds
            where = "only touches" if extent.intersects(aoi) else "outside"
            raise BadInput(
                f"{name}: covers ({west:.4f},{south:.4f} – {east:.4f},{north:.4f}) lon/lat, {where} the venue's area "
                f"of interest ({x0:.3f},{y0:.3f} – {x1:.3f},{y1:.3f}); is its CRS right?"
            )
        # Reading the last block of every band catches a truncated file now rather than half way
        # through the conversion (a whole read would load the raster).
        h, w = src.block_shapes[0]
        last = Window(max(0, src.width - w), max(0, src.height - h), min(w, src.width), min(h, src.height))
        try:
            src.read(window=last)
            src.read(window=Window(0, 0, min(w, src.width), min(h, src.height)))
        except RasterioError as e:
            raise BadInput(
                f"{name}: its bands cannot be read, is the file truncated or corrupt? ({_gdal_reason(e, name)})"
            ) from None
        crs = src.crs.to_string() if epsg is None else f"EPSG:{epsg}"
        return _Source(
            crs=crs,
            bounds_lonlat=(west, south, east, north),
            resolution=_metres_per_pixel(src),
            count=src.count,
            dtype=dtype,
            nodata=nodata,
            alpha=src.count == 4 and src.colorinterp[3] == ColorInterp.alpha,
            unit=((src.units[0] or "").strip()[:32] or None) if src.count == 1 else None,
            descriptions=tuple(
                d or (c.name if c.name not in ("undefined", "gray") else f"band {i + 1}")
                for i, (d, c) in enumerate(zip(src.descriptions, src.colorinterp, strict=True))
            ),
        )


def _check_pixels(name: str, src: Any, limit: int) -> None:
    """Refuse a raster of more than `limit` pixels before anything reads it, saying how to
    downsample it to fit (its size on disk says nothing: a sparse file of 664 KB held 1.4e10)."""
    pixels = src.width * src.height
    if pixels <= limit:
        return
    shrink = math.sqrt(pixels / limit) * 1.01  # the side's factor, with a margin for rounding
    xres, yres = (abs(v) * shrink for v in src.res)
    geographic = src.crs is not None and src.crs.is_geographic
    units = "degrees" if geographic else f"{src.crs.linear_units}s" if src.crs is not None else "CRS units"
    digits = 8 if geographic else 3
    percent = max(1, math.floor(100 / shrink))
    raise BadInput(
        f"{name}: {src.width:,} × {src.height:,} = {pixels:,} pixels is over the survey limit of {limit:,} pixels "
        f"(VENUE_TWIN_SURVEY_MAX_PIXELS); downsample it first, e.g. gdal_translate -tr {xres:.{digits}f} "
        f"{yres:.{digits}f} {name} smaller.tif (a pixel size in {units}) or gdal_translate -outsize {percent}% "
        f"{percent}% {name} smaller.tif"
    )


def _degrees(bounds: Any) -> bool:
    """Whether a raster's bounds can be longitudes and latitudes (0–360 longitudes included; a
    degree of slack on latitude for the edge pixels of a global raster)."""
    return all(abs(x) <= 360 for x in (bounds.left, bounds.right)) and all(
        abs(y) <= 91 for y in (bounds.bottom, bounds.top)
    )


def _nodata_fits(nodata: float, dtype: str) -> bool:
    import numpy as np

    dt = np.dtype(dtype)
    if math.isnan(nodata):
        return dt.kind == "f"
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return float(nodata).is_integer() and info.min <= nodata <= info.max
    if dt.kind == "f":
        return math.isinf(nodata) or abs(nodata) <= float(np.finfo(dt).max)
    return True


def _metres_per_pixel(src: Any) -> float:
    """Mean pixel size in metres (geodesic at the raster's centre for a geographic CRS)."""
    from pyproj import Geod

    xres, yres = abs(src.transform.a), abs(src.transform.e)
    if src.crs.is_geographic:
        from rasterio.warp import transform

        cx, cy = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
        (lon,), (lat,) = transform(src.crs, "EPSG:4326", [cx], [cy])
        geod = Geod(ellps="WGS84")
        dx = geod.inv(lon, lat, lon + xres, lat)[2]
        dy = geod.inv(lon, lat, lon, lat + yres)[2]
        return (dx + dy) / 2
    factor = src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0
    res = (xres + yres) / 2 * factor
    if src.crs.to_epsg() == 3857:
        # Web Mercator stretches distances by 1/cos(latitude).
        from rasterio.warp import transform

        cy = (src.bounds.bottom + src.bounds.top) / 2
        (_,), (lat,) = transform(src.crs, "EPSG:4326", [src.bounds.left], [cy])
        res *= math.cos(math.radians(lat))
    return res


def import_cache() -> dict[str, int]:
    """The GDAL_CACHEMAX an import's conversion runs under: IMPORT_CACHE_BYTES, in bytes, unless the
    operator set GDAL_CACHEMAX in the environment (GDAL reads that itself; it is left alone).

    GDAL's block cache is 5 % of the machine's memory by default and most of an import's peak (2.4 GB
    on a 23 GB machine for a 20,000² orthophoto, 790 MB with 256 MB). A number is given in bytes:
    rasterio hands it to GDALSetCacheMax64 as bytes, not as the megabytes GDAL reads from the
    environment, so the `GDAL_CACHEMAX=256` once set here was a 256-byte cache, and since the cache
    is one per process every read beside the import crawled (a 2,048-px preview 21 s instead of
    0.4 s). The Env puts the process's cache size back when the conversion ends."""
    if os.environ.get("GDAL_CACHEMAX"):
        return {}
    return {"GDAL_CACHEMAX": IMPORT_CACHE_BYTES}


def _to_cog(src_path: Path, dst: Path, source: _Source) -> None:
    """Warp to EPSG:3857 and write a COG with rio-cogeo, streaming by blocks (never the whole raster
    in memory).

    Why Web Mercator: web tiles are read in EPSG:3857, and PROJ takes 100-400 ms to set up a
    CGCS2000 (EPSG:4490/4549) to Web Mercator transformation, every time a tile is warped (the
    raster benchmark measured it), against a 25 ms budget per tile. Warping once at import costs
    one resampling; the pixel size stays the source's (no upsampling to a zoom level), the source
    CRS is recorded, and shares of an area (green cover) are the same in either CRS since the
    Mercator scale is constant across the venue to 0.01 %.

    Profile: JPEG (an internal mask for what is outside the flight) for 3-band 8-bit orthophotos,
    WEBP for RGBA ones (it keeps the alpha; a fourth band that is not alpha is not taken as one),
    DEFLATE with a predictor for everything else, index bands included, since a lossy codec would
    change the values the evidence reads; index bands are resampled nearest so every value is one
    that was flown."""
    import rasterio
    from rasterio._err import CPLE_BaseError  # GDAL's errors' base: rasterio (1.4) exports it nowhere public
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.shutil import copy as rio_copy
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import calculate_default_transform
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rgb = source.dtype == "uint8" and source.count in (3, 4)
    # WEBP takes a fourth band as alpha (and stores the colours under alpha 0 as black): only an
    # RGBA file's is; an RGB + near-infrared one is kept whole, losslessly, with a mask like any other.
    rgba = rgb and source.count == 4 and source.alpha
    if rgb and source.count == 3:
        profile = cog_profiles.get("jpeg")
        profile["jpeg_quality"] = 90
    elif rgba:
        # Item access, not .get(): get() warns that WEBP is a "non-standard compression schema" on
        # every import; it is chosen knowingly (it keeps the alpha) and GDAL >= 2.4 reads it.
        profile = cog_profiles["webp"].copy()
        profile["webp_level"] = 90
    else:
        profile = cog_profiles.get("deflate")
        profile["predictor"] = 3 if source.dtype.startswith("float") else 2
    profile["blockxsize"] = profile["blockysize"] = 512
    config: dict[str, Any] = {"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": "TRUE", **import_cache()}
    try:
        with rasterio.Env(**config), rasterio.open(src_path) as src, _temporary(dst.parent) as warped:
            transform, width, height = calculate_default_transform(
                src.crs, WEB_MERCATOR, src.width, src.height, *src.bounds
            )
            warp: dict[str, Any] = {
                "crs": WEB_MERCATOR,
                "transform": transform,
                "width": width,
                "height": height,
                "resampling": Resampling.bilinear if rgb else Resampling.nearest,
                "warp_mem_limit": 256,
            }
            add_mask = False
            if source.nodata is not None:
                warp |= {"nodata": source.nodata, "src_nodata": source.nodata}
                add_mask = rgb and source.count == 3  # JPEG has no nodata: a mask says where the flight ends
            elif source.dtype.startswith("float"):
                warp["nodata"] = float("nan")
            elif not rgba:
                warp["add_alpha"] = True  # outside the flight, made an internal mask below
                add_mask = True
            # Warped into a plain tiled file first: GDAL's copy warps each chunk once, where
            # cog_translate reading a WarpedVRT warped it again for masks and overviews (3x the CPU).
            # ZSTD at level 1, not GDAL's default 9: the file is read once, by the copy below, and
            # lossless either way (the COG is byte-identical); an orthophoto's warp took 2.6 s of CPU
            # at level 9, 1.6 s at level 1.
            with WarpedVRT(src, **warp) as vrt:
                rio_copy(
                    vrt, str(warped), driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                    compress="ZSTD", ZSTD_LEVEL=1, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                )  # fmt: skip
            cog_translate(str(warped), str(dst), profile, add_mask=add_mask, in_memory=False, quiet=True, config=config)
    except CPLE_BaseError as e:
        # GDAL's own error, raised through the copy (not a RasterioError): a block past the first
        # and last ones that _check_source reads is damaged, or the disk filled up.
        reason = _gdal_reason(e, src_path.name)
        if "IReadBlock" in reason or "Decod" in reason or "Read error" in reason:
            raise BadInput(
                f"{src_path.name}: a block of its bands cannot be read, is the file truncated or corrupt? ({reason})"
            ) from None
        raise BadInput(f"{src_path.name}: cannot be converted to a Cloud-Optimized GeoTIFF ({reason})") from None
    except (RasterioError, ValueError, OSError) as e:
        raise BadInput(
            f"{src_path.name}: cannot be converted to a Cloud-Optimized GeoTIFF ({_gdal_reason(e, src_path.name)})"
        ) from None


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _gdal_reason(e: BaseException, name: str) -> str:
    """What GDAL said went wrong: rasterio's read error says only "Read failed. See previous
    exception for details.", the details being its cause (the block, then libtiff's reason)."""
    causes: list[str] = []
    seen: BaseException | None = e
    while seen is not None and len(causes) < 8:
        text = _first_line(seen)
        if "see previous exception" not in text.lower() and text not in causes:
            causes.append(text)
        seen = seen.__cause__
    if not causes:
        return _first_line(e)
    first, last = causes[0], causes[-1]
    text = first if first == last or last in first else f"{first.rstrip('.')}: {last}"
    return text.replace(f"{name}, ", "")  # "bad.tif, band 1: IReadBlock failed ..." names the file already


@dataclass(frozen=True)
class SurveyFilesCopied:
    """What `venue-twin copy` did with the survey files the source's history records."""

    recorded: int  # files the history names (a removed survey's too: the versions before show it)
    # Where the copy's processes look for them, each with the files written there (it lacked them,
    # or held them damaged) and the files already there with the recorded size and checksum.
    directories: tuple[tuple[Path, int, int], ...]
    problems: tuple[str, ...]  # each file not brought, why, and what brings it

    @property
    def copied(self) -> int:
        return sum(n for _, n, _ in self.directories)


def recorded_survey_files(twin: Twin) -> dict[str, tuple[str, int]]:
    """file name → (SHA-256, size in bytes) of every survey file the twin's history records."""
    out: dict[str, tuple[str, int]] = {}
    for layer in survey_layers(twin):
        for versions in twin.layer_history(layer).values():
            for h in versions:
                if h.geojson:
                    p = orjson.loads(h.geojson)["properties"]
                    out[p["file_name"]] = (p["checksum"], int(p["size_bytes"]))
    return out


def survey_file_directories(twin: Twin) -> list[Path]:
    """Where the processes of `twin` look for its survey files: its survey directory and, for a
    GeoPackage twin, also the one beside the file, where a process without VENUE_TWIN_SURVEY_DIR
    looks (a copy made with the variable set for a database source, then served without it, found
    none of its files)."""
    dirs = [survey_directory(twin)]
    path = getattr(twin.store, "path", None)
    if isinstance(path, Path):
        beside = path.with_name(path.stem + ".surveys")
        if beside.resolve() != dirs[0].resolve():
            dirs.append(beside)
    return dirs


def survey_copy_problem(source: Twin, recorded: Mapping[str, tuple[str, int]], database_url: str | None) -> str | None:
    """Why `venue-twin copy` cannot bring the survey files `source` records (a database twin's
    directory, the source's or the destination's, not given by an absolute VENUE_TWIN_SURVEY_DIR),
    asked before anything is copied; None when it can or there are none."""
    from twin.settings import SettingsError, database_survey_dir

    if not (n := len(recorded)):
        return None
    try:
        survey_directory(source)
        if database_url is not None:
            database_survey_dir(database_url)
    except SettingsError as e:
        return f"{e}; the twin records {n} survey file(s), which `venue-twin copy` brings along: set it and copy again"
    return None


def _copy_checked(src: Path, there: Path, checksum: str) -> str | None:
    """`src` copied to `there` (a temporary beside it, renamed into place) when its bytes hash to
    `checksum`; else None, leaving `there` as it was."""
    there.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(there.parent) as tmp:
        h = hashlib.sha256()
        with src.open("rb") as r, tmp.open("wb") as w:
            while chunk := r.read(_CHUNK):
                h.update(chunk)
                w.write(chunk)
        if h.hexdigest() != checksum:
            return h.hexdigest()
        os.chmod(tmp, 0o644)
        os.replace(tmp, there)
    return None


def _bring(name: str, checksum: str, sources: list[Path], there: Path) -> str | None:
    """Copy the first intact one of `sources` to `there`; None when done, else why not and what brings it."""
    damaged: list[str] = []
    for src in sources:
        if not src.is_file() or src.resolve() == there.resolve():
            continue
        try:
            digest = _copy_checked(src, there, checksum)
        except OSError as e:
            return f"{name}: not written to {there} ({_first_line(e)}); bring it with: cp {src} {there}"
        if digest is None:
            return None
        damaged.append(f"{src} hashes to {digest[:12]}, the twin recorded {checksum[:12]}")
    found = "; ".join(damaged) if damaged else f"not in {' or '.join(str(s.parent) for s in sources)}"
    return f"{name}: {found}; put the file itself at {there}"


def copy_survey_files(source: Twin, target: Twin, recorded: Mapping[str, tuple[str, int]]) -> SurveyFilesCopied:
    """Bring the survey files `source`'s history records to where `target`'s processes look for
    them (survey_file_directories), for `venue-twin copy`. A file already there is checked (size,
    then SHA-256) and kept; one missing or damaged is copied from the source's directories (the
    survey directory, and beside a GeoPackage source), its bytes hashed on the way and written
    only when they are the recorded ones. What cannot be brought is said, not skipped: `problems`."""
    if not recorded:
        return SurveyFilesCopied(0, (), ())
    dst_dirs = survey_file_directories(target)
    src_dirs = survey_file_directories(source)
    copied = dict.fromkeys(dst_dirs, 0)
    present = dict.fromkeys(dst_dirs, 0)
    problems: list[str] = []
    for name, (checksum, size) in sorted(recorded.items()):
        for d in dst_dirs:
            there = d / name
            if there.is_file() and there.stat().st_size == size and _sha256(there)[0] == checksum:
                present[d] += 1
                continue
            problem = _bring(name, checksum, [s / name for s in src_dirs], there)
            if problem is None:
                copied[d] += 1
            else:
                problems.append(problem)
    return SurveyFilesCopied(len(recorded), tuple((d, copied[d], present[d]) for d in dst_dirs), tuple(problems))


# ---------------------------------------------------------------------- integrity
def check_survey_files(twin: Twin) -> list[str]:
    """fsck's part: each survey recorded at the head has its file, with the recorded checksum."""
    problems: list[str] = []
    directory: Path | None = None  # asked for once a survey is recorded: a database twin needs one then
    for layer in survey_layers(twin):
        for raw in twin.features(layer).features:
            d = orjson.loads(raw)
            p = d["properties"]
            if directory is None:  # (SettingsError naming the variable for a database twin without one)
                directory = survey_directory(twin)
            f = directory / p["file_name"]
            if not f.exists():
                problems.append(f"survey {d['id']} ({p['kind']} {p['date']}): file {f} is missing")
                continue
            digest, _ = _sha256(f)
            if digest != p["checksum"]:
                problems.append(
                    f"survey {d['id']} ({p['kind']} {p['date']}): file {f} hashes to {digest[:12]}, "
                    f"the twin recorded {p['checksum'][:12]}; it was modified"
                )
    return problems
