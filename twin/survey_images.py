"""Survey images: tiles and previews of a survey's COG, rendered with rio-tiler.

The API's tile and preview routes and the maps' exported single-file pages (which carry a
downsampled survey as an image) draw a survey the same way: same default range and colour map per
kind (`DISPLAY_DEFAULTS`), so a legend drawn from `colormap_stops` matches the tiles.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Any

# rio-tiler at import time, not in the functions: tiles render in a thread pool, and two threads
# importing it at once for the first tiles hit its circular imports half-initialised (ImportError).
import numpy as np
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rio_tiler.colormap import cmap
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from twin.surveys import SurveyInfo

MIN_ZOOM, MAX_ZOOM = 0, 24
PREVIEW_SIZE = 1024
# How tiles and previews are drawn, in their URLs and ETags: a survey's file never changes, so its
# images are cached for a year as immutable, and only a new address makes a client draw them again.
# Raise it with any change that alters images already served. 2: single-band surveys of kinds
# other than NDVI drawn over their own values (version 1 drew them over -1 to 1, one flat colour).
RENDERING = 2
# How a single-band survey of a kind is drawn unless a caller says otherwise: (value range, colour map).
DISPLAY_DEFAULTS: dict[str, tuple[tuple[float, float], str]] = {
    "ndvi": ((0.0, 1.0), "rdylgn"),
}
FALLBACK_COLORMAP = "viridis"
WGS84 = CRS.from_epsg(4326)


def default_range(info: SurveyInfo, path: FilePath | None = None) -> tuple[float, float] | None:
    """The value range a survey is rescaled from by default (None: drawn as stored, 8-bit RGB).
    A single-band survey of a kind with no display default (a thermal survey in °C) is drawn over
    its own values (`values_range`, given its file): -1 to 1 drew one of 20-60 °C as one colour."""
    if info.band_count == 1 and info.kind in DISPLAY_DEFAULTS:
        return DISPLAY_DEFAULTS[info.kind][0]
    if info.dtype != "uint8":
        if info.band_count == 1 and path is not None:
            found = values_range(path)
            if found is not None:
                return found
        return (-1.0, 1.0) if info.dtype.startswith("float") else (0.0, 65535.0 if "16" in info.dtype else 255.0)
    return None


def values_range(path: FilePath) -> tuple[float, float] | None:
    """The 2nd to 98th percentile of a single-band survey's valid values (its whole range when that
    is empty), read from its COG's overviews with rio-tiler; kept per file version (a survey's file
    never changes: named by its checksum). None when it has no valid value or cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _values_range(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _values_range(path: FilePath, size: int, mtime_ns: int) -> tuple[float, float] | None:
    """values_range of one version of the file (size and mtime in the key)."""
    try:
        with Reader(str(path)) as src:
            stats = src.statistics(max_size=512)
    except RasterioError:  # a file damaged past its header: drawn over the type's range, not a failed page
        return None
    band = next(iter(stats.values()))
    for lo, hi in ((band.percentile_2, band.percentile_98), (band.min, band.max)):
        if math.isfinite(lo) and math.isfinite(hi) and lo < hi:
            return (float(lo), float(hi))
    if math.isfinite(band.min):
        return (float(band.min) - 0.5, float(band.min) + 0.5)  # one value: drawn mid-ramp
    return None


def valid_mask(path: FilePath, bbox: tuple[float, float, float, float], size: int) -> Any:
    """Where a survey has pixels (not nodata, not outside its flight) over `bbox` (lon/lat) as a
    size×size boolean grid, north row first, read from its COG's overviews; all False when it
    lies outside or cannot be read. Kept per file version, as values_range is."""
    try:
        st = path.stat()
    except OSError:
        return np.zeros((size, size), dtype=bool)
    return _valid_mask(path, st.st_size, st.st_mtime_ns, bbox, size)


@lru_cache(maxsize=64)
def _valid_mask(
    path: FilePath, size_bytes: int, mtime_ns: int, bbox: tuple[float, float, float, float], size: int
) -> Any:
    try:
        with Reader(str(path)) as src:
            img = src.part(bbox, dst_crs=WGS84, bounds_crs=WGS84, indexes=1, width=size, height=size)
    except (RasterioError, TileOutsideBounds):
        return np.zeros((size, size), dtype=bool)
    found = img.mask > 0
    found.flags.writeable = False  # shared by every caller of the cache
    return found


def default_colormap_name(info: SurveyInfo) -> str | None:
    """The colour map a single-band survey is drawn with by default (None for RGB)."""
    if info.band_count != 1:
        return None
    return DISPLAY_DEFAULTS.get(info.kind, (None, FALLBACK_COLORMAP))[1]


def colormap(name: str) -> Any:
    return cmap.get(name)


def colormap_names() -> list[str]:
    return list(cmap.list())


def colormap_stops(name: str, count: int = 6) -> list[str]:
    """`count` evenly spaced colours of a colour map as CSS hex, low to high (for a legend)."""
    table = colormap(name)
    picks = [round(i * 255 / (count - 1)) for i in range(count)]
    return ["#{:02x}{:02x}{:02x}".format(*table[i][:3]) for i in picks]


def _indexes(src: Any) -> tuple[int, ...] | None:
    # Three bands drawn as RGB; more (RGBA, multispectral) draw their first three, alpha from the mask.
    return (1, 2, 3) if src.dataset.count >= 3 else None


def _render(img: Any, fmt: str, in_range: Any, colormap: Any) -> bytes:
    if in_range is not None:
        img.rescale(in_range=(in_range,) * img.count)
    return img.render(
        img_format=fmt.upper(), colormap=colormap, **({"lossless": False, "quality": 85} if fmt == "webp" else {})
    )  # type: ignore[no-any-return]


# rio-tiler encodes PNG/WEBP through an in-memory GDAL file with no georeference, which is what a
# web image is; rasterio warns about that on every tile.
warnings.filterwarnings("ignore", message="Dataset has no geotransform", module="rasterio")

_open_readers = threading.local()
_READERS_PER_THREAD = 8


def _reader(path: FilePath) -> Any:
    """An open rio-tiler Reader of a survey file, kept per thread: opening one costs as much as
    reading a tile, and keeps GDAL's block cache warm between tiles. Safe to keep because a survey
    file never changes (it is named by its checksum); a GDAL dataset is not shared across threads."""
    cache: OrderedDict[FilePath, Any] = _open_readers.__dict__.setdefault("cache", OrderedDict())
    src = cache.pop(path, None)
    if src is None:
        src = Reader(str(path))
        while len(cache) >= _READERS_PER_THREAD:
            cache.popitem(last=False)[1].close()
    cache[path] = src
    return src


def render_tile(path: FilePath, z: int, x: int, y: int, fmt: str, in_range: Any, colormap: Any) -> bytes | None:
    """A 256×256 tile of the survey file in PNG or WEBP; None when it lies wholly outside the raster."""
    src = _reader(path)
    try:
        img = src.tile(x, y, z, tilesize=256, indexes=_indexes(src))
    except TileOutsideBounds:
        return None
    return _render(img, fmt, in_range, colormap)


def render_preview(path: FilePath, fmt: str, in_range: Any, colormap: Any, max_size: int = PREVIEW_SIZE) -> bytes:
    """The whole survey, at most `max_size` pixels a side, read from the COG's overviews."""
    with Reader(str(path)) as src:
        img = src.preview(max_size=max_size, indexes=_indexes(src))
    return _render(img, fmt, in_range, colormap)


def zooms(path: FilePath) -> tuple[int, int]:
    with Reader(str(path)) as src:
        return max(MIN_ZOOM, src.minzoom), min(MAX_ZOOM, src.maxzoom)
