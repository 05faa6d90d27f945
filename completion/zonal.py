"""Zonal statistics of survey rasters over footprints (twin-free: geometries and raster files in).

exactextract does the zonal work (exact pixel-coverage fractions, one call per raster over every
footprint). What it has no operation for is done in numpy around it: the share of a footprint
above an NDVI threshold is summed from the per-cell values and coverage fractions exactextract
returns; the share at a surface signature (a rule over all three RGB bands) and the change
between two surveys (a rule over two rasters) are a one-band class raster made with numpy for
the footprints' windows and given to exactextract as a numpy array.

Footprints come in any CRS (EPSG:4326 by default, the twin's storage CRS) and are reprojected
into the raster's CRS with geopandas/pyproj. Shares are fractions 0–1:

- ``coverage``: the share of the footprint's area covered by valid (not nodata) pixels;
- ``above``: the share of the valid part of the footprint whose value is above a threshold;
- ``class_share``: the share of the valid part of the footprint in a class of a class raster.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource, RasterioRasterSource
from rasterio.enums import MaskFlags
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry

from twin.errors import BadInput

# Surface signatures of the finished work in an RGB orthophoto (8-bit), by luma Y (Rec. 601) and
# chroma spread (max − min of R, G, B): fresh asphalt is dark and grey, new granite paving light
# grey, a new roof membrane near white. Worn asphalt, stained paving, old roofs, soil and
# vegetation fall outside them (see layers.demo_surveys for the colours the demo renders).
SIGNATURES: dict[str, tuple[float, float, float]] = {  # name -> (min Y, max Y, max spread)
    "fresh_asphalt": (0.0, 80.0, 28.0),
    "new_paving": (165.0, 212.0, 32.0),
    "roof_membrane": (212.0, 256.0, 28.0),
}
CLASS_CODES = {name: i + 1 for i, name in enumerate(SIGNATURES)}  # 0 = none of them
CLASS_NODATA = 255


@dataclass(frozen=True)
class ZonalStats:
    """Statistics of one footprint on one raster band (values in the band's units)."""

    key: str
    mean: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    coverage: float  # share of the footprint with valid pixels, 0–1
    above: float | None = None  # share of the valid part above the threshold asked, 0–1

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) for k, v in self.__dict__.items()}


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def footprints_frame(
    geometries: Sequence[BaseGeometry], keys: Sequence[str], crs: Any, to_crs: Any
) -> gpd.GeoDataFrame:
    if len(keys) != len(geometries):
        raise BadInput("one key per footprint is needed")
    if not geometries:
        raise BadInput("no footprints to measure")
    frame = gpd.GeoDataFrame({"key": list(keys)}, geometry=list(geometries), crs=crs)
    return frame.to_crs(to_crs)


def _share_above(values: Any, coverage: Any, threshold: float) -> float | None:
    """The coverage-weighted share of valid cells above ``threshold`` (exactextract's ``values``
    and ``coverage`` ops give the valid cells and their coverage fractions, aligned)."""
    cov = np.asarray(coverage, dtype=np.float64)
    total = float(cov.sum())
    if total <= 0:
        return None
    return float(cov[np.asarray(values) > threshold].sum() / total)


def _coverage(frame: gpd.GeoDataFrame, counts: Sequence[Any], pixel_area: float) -> list[float]:
    out = []
    for geom, count in zip(frame.geometry, counts, strict=True):
        area = float(geom.area)
        c = _num(count) or 0.0
        out.append(min(1.0, c * pixel_area / area) if area > 0 else 0.0)
    return out


def open_raster(path: str | Path) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as e:
        raise BadInput(f"{Path(path).name}: not a readable raster ({e})") from None


def zonal_stats(
    raster: str | Path,
    geometries: Sequence[BaseGeometry],
    keys: Sequence[str],
    *,
    crs: Any = "EPSG:4326",
    band: int = 1,
    threshold: float | None = None,
) -> list[ZonalStats]:
    """Mean, p10/p50/p90 and coverage of band ``band`` over each footprint, and, with
    ``threshold``, the share of each footprint's valid part above it: one exactextract call."""
    with open_raster(raster) as ds:
        if not 1 <= band <= ds.count:
            raise BadInput(f"{Path(raster).name} has no band {band} (it has {ds.count})")
        if ds.crs is None:
            raise BadInput(f"{Path(raster).name} is not georeferenced")
        frame = footprints_frame(geometries, keys, crs, ds.crs)
        pixel_area = abs(ds.transform.a * ds.transform.e - ds.transform.b * ds.transform.d)
        ops: list[Any] = ["mean", "quantile(q=0.1)", "quantile(q=0.5)", "quantile(q=0.9)", "count"]
        if threshold is not None:
            # The cells' values and coverage, summed here: cheaper than a Python operation
            # exactextract would call once per footprint with masked arrays.
            ops += ["values", "coverage"]
        source = _band_source(ds, band)
        table = exact_extract(source, frame, ops, include_cols=["key"], output="pandas")
    coverage = _coverage(frame, list(table["count"]), pixel_area)
    return [
        ZonalStats(
            key=str(row["key"]),
            mean=_num(row["mean"]),
            p10=_num(row["quantile_10"]),
            p50=_num(row["quantile_50"]),
            p90=_num(row["quantile_90"]),
            coverage=cov,
            above=_share_above(row["values"], row["coverage"], threshold) if threshold is not None else None,
        )
        for (_, row), cov in zip(table.iterrows(), coverage, strict=True)
    ]


class _NodataRasterioSource(RasterioRasterSource):
    """exactextract's rasterio source, reading a band whose only mask is its nodata value without
    rasterio's masked read: exactextract drops the nodata cells itself (nodata_value), so the
    mask band rasterio would build for each window is work done twice."""

    def read_window(self, x0: int, y0: int, nx: int, ny: int) -> Any:
        return self.ds.read(self.band_idx, window=Window(x0, y0, nx, ny))


def _band_source(ds: rasterio.DatasetReader, band: int) -> Any:
    flags = ds.mask_flag_enums[band - 1]
    nodata_only = ds.nodata is not None and list(flags) == [MaskFlags.nodata]
    unscaled = ds.scales[band - 1] == 1.0 and ds.offsets[band - 1] == 0.0
    if nodata_only and unscaled:
        return _NodataRasterioSource(ds, band_idx=band)
    return RasterioRasterSource(ds, band_idx=band)


def _window(ds: rasterio.DatasetReader, bounds: Sequence[float]) -> Window:
    """The raster window holding ``bounds`` (clipped to the raster), rounded out to whole pixels:
    its first pixel down and its last one up. (Window.round_offsets then round_lengths rounds the
    offset down but the fractional width up on its own, which ends a pixel short when both ends
    fall inside pixels: the window over every footprint then missed the last pixels of one.)"""
    left, bottom, right, top = bounds
    w = from_bounds(left, bottom, right, top, transform=ds.transform)
    col0, row0 = math.floor(w.col_off), math.floor(w.row_off)
    col1, row1 = math.ceil(w.col_off + w.width), math.ceil(w.row_off + w.height)
    w = Window(col0, row0, col1 - col0, row1 - row0)
    full = Window(0, 0, ds.width, ds.height)
    try:
        return w.intersection(full)
    except rasterio.errors.WindowError:
        return Window(0, 0, 0, 0)


def _footprint_windows(ds: rasterio.DatasetReader, frame: gpd.GeoDataFrame) -> tuple[Window, list[Window]]:
    """The window over every footprint, and each footprint's own window relative to it: only those
    pixels are read and classified (the footprints of a venue are a small part of its extent)."""
    whole = _window(ds, frame.total_bounds)
    parts = []
    for part in shapely.get_parts(np.asarray(frame.geometry)):
        w = _window(ds, part.bounds)
        if w.width > 0 and w.height > 0:
            parts.append(Window(w.col_off - whole.col_off, w.row_off - whole.row_off, w.width, w.height))
    return whole, parts


def _classified(
    ds: Any, frame: gpd.GeoDataFrame, classify: Callable[[Window], np.ndarray]
) -> tuple[np.ndarray, Window]:
    """A class raster over the footprints' window: ``classify(window)`` inside each footprint's
    window, CLASS_NODATA elsewhere."""
    whole, parts = _footprint_windows(ds, frame)
    out = np.full((int(whole.height), int(whole.width)), CLASS_NODATA, np.uint8)
    for w in parts:
        absolute = Window(w.col_off + whole.col_off, w.row_off + whole.row_off, w.width, w.height)
        r0, c0 = int(w.row_off), int(w.col_off)
        out[r0 : r0 + int(w.height), c0 : c0 + int(w.width)] = classify(absolute)
    return out, whole


def _class_shares(
    classes: np.ndarray, transform: Any, crs: Any, frame: gpd.GeoDataFrame, pixel_area: float
) -> tuple[list[dict[int, float]], list[float]]:
    """Per footprint: the share of its valid part in each class code, and its coverage."""
    if classes.size == 0:
        return [{} for _ in range(len(frame))], [0.0] * len(frame)
    rows, cols = classes.shape
    left, top = transform @ (0, 0)
    right, bottom = transform @ (cols, rows)
    source = NumPyRasterSource(
        classes, left, bottom, right, top, nodata=CLASS_NODATA, srs_wkt=rasterio.crs.CRS.from_user_input(crs).to_wkt()
    )
    table = exact_extract(source, frame, ["frac", "unique", "count"], include_cols=["key"], output="pandas")
    shares = [
        {int(u): float(f) for u, f in zip(uniq, frac, strict=True)}
        for uniq, frac in zip(table["unique"], table["frac"], strict=True)
    ]
    return shares, _coverage(frame, list(table["count"]), pixel_area)


def _signature_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per 8-bit luma value: the class code of the signature whose luma range holds it, and that
    signature's largest chroma spread (a lookup instead of comparisons per signature per pixel)."""
    code = np.zeros(256, np.uint8)
    spread = np.full(256, -1, np.int16)
    for name, (lo, hi, chroma) in SIGNATURES.items():
        y = np.arange(256)
        inside = (y >= lo) & (y < hi)
        code[inside] = CLASS_CODES[name]
        spread[inside] = chroma
    return code, spread


_CODE_BY_LUMA, _SPREAD_BY_LUMA = _signature_tables()


def classify_rgb(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A class raster (uint8) from an RGB block (3, rows, cols): the code of the signature each
    pixel matches (see SIGNATURES), 0 for none, CLASS_NODATA where not valid."""
    r, g, b = rgb[0], rgb[1], rgb[2]
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    # Rec. 601 luma in fixed point: (77 R + 150 G + 29 B) / 256.
    luma = (r.astype(np.uint16) * 77 + g.astype(np.uint16) * 150 + b.astype(np.uint16) * 29) >> 8
    out = np.where(spread <= _SPREAD_BY_LUMA[luma], _CODE_BY_LUMA[luma], np.uint8(0)).astype(np.uint8)
    out[~valid] = CLASS_NODATA
    return out


def _read_rgb(ds: rasterio.DatasetReader, window: Window) -> tuple[np.ndarray, np.ndarray]:
    if ds.count < 3:
        raise BadInput(f"{Path(ds.name).name} is not an RGB survey (it has {ds.count} band)")
    rgb = ds.read((1, 2, 3), window=window)
    masks = ds.read_masks((1, 2, 3), window=window)
    return rgb, np.all(masks > 0, axis=0)


def signature_shares(
    raster: str | Path,
    geometries: Sequence[BaseGeometry],
    keys: Sequence[str],
    *,
    crs: Any = "EPSG:4326",
) -> list[tuple[dict[str, float], float]]:
    """Per footprint: the share of its valid part at each finished-surface signature, and its coverage."""
    with open_raster(raster) as ds:
        frame = footprints_frame(geometries, keys, crs, ds.crs)
        classes, window = _classified(ds, frame, lambda w: classify_rgb(*_read_rgb(ds, w)))
        pixel_area = abs(ds.transform.a * ds.transform.e)
        shares, coverage = _class_shares(classes, ds.window_transform(window), ds.crs, frame, pixel_area)
    names = {code: name for name, code in CLASS_CODES.items()}
    return [
        ({names[c]: s for c, s in share.items() if c in names}, cov)
        for share, cov in zip(shares, coverage, strict=True)
    ]


def surface_change(
    before: str | Path,
    after: str | Path,
    geometries: Sequence[BaseGeometry],
    keys: Sequence[str],
    *,
    threshold: float,
    crs: Any = "EPSG:4326",
) -> list[tuple[float | None, float]]:
    """Per footprint: the share of its part valid in both surveys whose RGB colour moved more than
    ``threshold`` (Euclidean distance in 8-bit RGB) between ``before`` and ``after``, and that
    part's coverage. ``after`` is resampled onto ``before``'s grid when the grids differ."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with open_raster(before) as b, open_raster(after) as a:
        frame = footprints_frame(geometries, keys, crs, b.crs)
        same_grid = a.crs == b.crs and a.transform == b.transform and a.shape == b.shape
        with contextlib.ExitStack() as stack:
            aligned: Any = a if same_grid else stack.enter_context(
                WarpedVRT(a, crs=b.crs, transform=b.transform, width=b.width, height=b.height,
                          resampling=Resampling.bilinear)
            )  # fmt: skip

            def changed_in(w: Window) -> np.ndarray:
                rgb_b, valid_b = _read_rgb(b, w)
                rgb_a, valid_a = _read_rgb(aligned, w)
                distance = np.sqrt(((rgb_a.astype(np.float32) - rgb_b.astype(np.float32)) ** 2).sum(axis=0))
                out = (distance > threshold).astype(np.uint8)
                out[~(valid_a & valid_b)] = CLASS_NODATA
                return out

            changed, window = _classified(b, frame, changed_in)
        pixel_area = abs(b.transform.a * b.transform.e)
        shares, coverage = _class_shares(changed, b.window_transform(window), b.crs, frame, pixel_area)
    return [(share.get(1, 0.0) if cov > 0 else None, cov) for share, cov in zip(shares, coverage, strict=True)]
