"""Synthetic drone surveys of the bundled venue, rendered from the twin's own layers.

Nothing here is a real image: the venue's layers (halls' roofs, the south plaza's paving, the
lawns and flower beds, the roads widened to their lanes) are burnt into a grid of surface classes
with rasterio.features.rasterize, and each class is given a colour (orthophoto, RGB, 0.3 m) or an
NDVI value (index, float32, 1 m) with seeded texture and noise. At each checkpoint the projects
the imagery can see (see completion.evidence.method_for) have finished the part of their footprint
their *true* progress says — fresh asphalt, new paving, new roof membrane, planted lawns and beds —
swept across each feature along its longer side with a slightly ragged edge, so later flights extend
earlier ones.

True progress is the reported percent as the register stood on the flight's day, except for one
project whose report runs ahead of its ground truth:

**LS-04, venue lawns renewal** (Venue operator, 71,100 m² of turf over the east and the two
south lawns). The story: the turf rolls laid in the September heat did not take, and the unit
reports the area laid, not the area growing; the NDVI sees living grass on only
``LAGGING_FACTOR`` (55 %) of what is reported, so at T-10 the report says 100 % and the imagery
about 55 % green cover. A lawn is chosen because it is large (tens of thousands of m², hundreds of
NDVI pixels per lawn even at 1 m) and because "laid" against "growing" is the classic gap between a
report and a vegetation index.

Sizes (the venue's extent is about 1.45 × 1.16 km in EPSG:4549): an orthophoto is 4,840 × 3,880
pixels (a JPEG-compressed COG of about 4–6 MB), an NDVI survey 1,452 × 1,164 (about 5.5 MB
deflated: float noise compresses poorly). NDVI at four checkpoints (T-70, T-50, T-30, T-10),
orthophotos at three (T-70, T-30, T-10): seven surveys, about 37 MB. The cost is mostly the
twin's import of each orthophoto (a warp of 19 Mpx to EPSG:3857 and JPEG, about 9 s of CPU each);
rendering all seven takes about 10 s of CPU. Written in strips of 512 rows, the renderer peaks at
about 350 MB. Deterministic for a seed.

`build_demo_surveys(twin, workdir)` renders them into ``workdir`` and imports each into the twin
(one commit per survey); `venue-twin init` calls it. `python -m layers.demo_surveys OUTDIR`
only renders them (needs a bundled twin at VENUE_TWIN_STORE or data/venue-twin.gpkg).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import orjson
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject
from rasterio.windows import Window, from_bounds
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from completion.evidence import (
    FINISHED_SURFACE,
    GREEN_COVER,
    ROOF_CHANGE,
    EvidenceSettings,
    feature_geometries,
    method_for,
    planned_share,
)
from completion.snapshot import Completion
from layers.crs import METRIC_CRS, STORAGE_CRS
from twin.core import Ref, TwinLike

LAGGING = "LS-04"
LAGGING_FACTOR = 0.55
OPENING = date(2026, 11, 5)
CHECKPOINTS = (70, 50, 30, 10)  # T-n days of the 2026 season's NDVI surveys
ORTHO_CHECKPOINTS = (70, 30, 10)  # and of its orthophotos (importing one costs ~9 s of CPU: a warp of 19 Mpx)
SEED = 2026
ORTHO_RES, NDVI_RES = 0.3, 1.0  # metres per pixel
NDVI_NODATA = -9999.0
MARGIN_M = 30.0
STRIP = 512
AUTHOR = "无人机测绘组 Drone survey team (demo)"
DEMO_FILE_PREFIX = "demo-"  # the rendered files' names; the maps credit a survey imported from one as synthetic

# Surface classes: (name, RGB, NDVI). The RGB of the finished surfaces falls in the signatures of
# completion.zonal.SIGNATURES; the worn and unfinished ones fall outside them.
CLASSES: tuple[tuple[str, tuple[int, int, int], float], ...] = (
    ("ground", (108, 118, 84), 0.30),  # mixed rough grass and soil around the venue
    ("old_asphalt", (120, 120, 116), 0.05),
    ("fresh_asphalt", (44, 45, 48), 0.03),
    ("old_paving", (142, 136, 126), 0.08),
    ("new_paving", (190, 187, 181), 0.06),
    ("old_roof", (150, 154, 158), 0.02),
    ("roof_membrane", (236, 237, 238), 0.01),
    ("soil", (128, 102, 76), 0.15),
    ("lawn", (66, 124, 48), 0.72),
    ("flowers", (190, 70, 92), 0.62),  # red display flowers over their foliage
)
CODE = {name: i for i, (name, _, _) in enumerate(CLASSES)}
PALETTE = np.array([rgb for _, rgb, _ in CLASSES], np.float32)
PALETTE_BANDS = np.ascontiguousarray(PALETTE.T)  # red, green, blue of each class
NDVI_OF = np.array([v for _, _, v in CLASSES], np.float32)
BASE_CLASS = {"roads": "old_asphalt", "south_plaza": "old_paving", "halls": "old_roof", "landscaping": "soil"}
DONE_SURFACE = {"roads": "fresh_asphalt", "south_plaza": "new_paving", "halls": "roof_membrane"}


@dataclass(frozen=True)
class DemoSurvey:
    path: Path
    kind: str  # orthophoto or ndvi
    on: date
    checkpoint: str  # T-70, ...


@dataclass(frozen=True)
class Grid:
    transform: Affine
    width: int
    height: int

    @classmethod
    def over(cls, bounds: tuple[float, float, float, float], res: float) -> Grid:
        left, bottom, right, top = bounds
        return cls(Affine(res, 0, left, 0, -res, top), round((right - left) / res), round((top - bottom) / res))


@dataclass
class Paint:
    """What one project has finished on one feature: its pixels in progress order."""

    key: str
    geometry: BaseGeometry
    finished_class: str
    share: float  # 0–1 of the feature finished


def venue_extent(twin: TwinLike, ref: Ref) -> tuple[float, float, float, float]:
    """EPSG:4549 bounds of the venue (boundary, halls, plaza, landscaping polygons) plus a margin,
    snapped to 3 m so the 0.3 m and 1 m grids share their edges."""
    geoms = []
    for layer in ("venue_boundary", "halls", "south_plaza", "landscaping"):
        for raw in twin.features(layer, ref).features:
            d = orjson.loads(raw)
            if d.get("geometry"):
                g = shape(d["geometry"])
                if g.area > 0:
                    geoms.append(g)
    left, bottom, right, top = gpd.GeoSeries(geoms, crs=STORAGE_CRS).to_crs(METRIC_CRS).total_bounds
    snap = 3.0
    return (
        float(np.floor((left - MARGIN_M) / snap) * snap),
        float(np.floor((bottom - MARGIN_M) / snap) * snap),
        float(np.ceil((right + MARGIN_M) / snap) * snap),
        float(np.ceil((top + MARGIN_M) / snap) * snap),
    )


def _base_shapes(twin: TwinLike, ref: Ref) -> list[tuple[BaseGeometry, int]]:
    """(EPSG:4549 geometry, class) of the venue as it stood before the season's works, in drawing order."""
    out: list[tuple[BaseGeometry, int]] = []
    for layer in ("roads", "south_plaza", "landscaping", "halls"):
        geoms, widths = [], []
        for raw in twin.features(layer, ref).features:
            d = orjson.loads(raw)
            if d.get("geometry"):
                geoms.append(shape(d["geometry"]))
                widths.append(float((d.get("properties") or {}).get("lanes") or 2) * 3.5)
        for g, width in zip(gpd.GeoSeries(geoms, crs=STORAGE_CRS).to_crs(METRIC_CRS), widths, strict=True):
            if g.geom_type in ("LineString", "MultiLineString"):
                if layer != "roads":
                    continue  # green walls and tree rows: not drawn
                g = g.buffer(width / 2, cap_style="flat")
            out.append((g, CODE[BASE_CLASS[layer]]))
    return out


def true_progress(twin: TwinLike, on: date) -> dict[str, float]:
    """Each project's true percent on ``on``: its report as of that day, but LAGGING's scaled down."""
    snap = Completion(twin).at(on)
    out = {s.project.code: (s.percent if s.last_report is not None else 0.0) for s in snap.statuses}
    if LAGGING in out:
        out[LAGGING] *= LAGGING_FACTOR
    return out


def _paints(twin: TwinLike, on: date, settings: EvidenceSettings) -> list[Paint]:
    ref = twin.resolve(asof=on.isoformat())
    progress = true_progress(twin, on)
    out: list[Paint] = []
    for p in Completion(twin).register.projects(ref):
        geoms = feature_geometries(twin, p, ref)
        method, _, keys = method_for(p, geoms)
        pct = progress.get(p.code, 0.0)
        if method is None or pct <= 0:
            continue
        share = planned_share(p, sum(geoms[k].area for k in keys), settings) * pct / 100.0
        for k in keys:
            layer = k.split("/")[0]
            if method == GREEN_COVER:
                cls = "lawn" if "lawn" in k or "clover" in k else "flowers"
            elif method in (FINISHED_SURFACE, ROOF_CHANGE):
                cls = DONE_SURFACE[layer]
            out.append(Paint(k, geoms[k], cls, min(1.0, share)))
    return out


def _stable_seed(seed: int, *parts: str) -> int:
    return seed * 1_000_003 + zlib.crc32("/".join(parts).encode())


def render_classes(
    base: Sequence[tuple[BaseGeometry, int]], paints: Iterable[Paint], grid: Grid, seed: int
) -> np.ndarray:
    """The surface-class grid: the venue's base surfaces, then each project's finished share."""
    classes = rasterize(
        base, out_shape=(grid.height, grid.width), transform=grid.transform, fill=CODE["ground"], dtype="uint8"
    )
    for paint in paints:
        w = (
            from_bounds(*paint.geometry.bounds, transform=grid.transform)
            .round_offsets(op="floor")
            .round_lengths(op="ceil")
        )
        try:
            w = w.intersection(Window(0, 0, grid.width, grid.height))
        except rasterio.errors.WindowError:
            continue
        rows, cols = int(w.height), int(w.width)
        inside = rasterize(
            [paint.geometry], out_shape=(rows, cols), transform=rasterio.windows.transform(w, grid.transform),
            fill=0, default_value=1, dtype="uint8",
        ).astype(bool)  # fmt: skip
        n = int(inside.sum())
        k = int(round(paint.share * n))
        if k == 0:
            continue
        # Progress order: along the feature's longer side, with a slightly ragged edge (seeded per feature
        # and grid, so later flights extend earlier ones).
        rng = np.random.default_rng(_stable_seed(seed, paint.key, str(grid.transform.a)))
        axis = np.arange(cols)[None, :] / max(cols, 1) if cols >= rows else np.arange(rows)[:, None] / max(rows, 1)
        order = np.broadcast_to(axis, (rows, cols)) + rng.normal(0, 0.008, (rows, cols))
        keys = order[inside]
        chosen = np.argpartition(keys, k - 1)[:k] if k < n else np.arange(n)
        r, c = np.nonzero(inside)
        block = classes[int(w.row_off) : int(w.row_off) + rows, int(w.col_off) : int(w.col_off) + cols]
        block[r[chosen], c[chosen]] = CODE[paint.finished_class]
    return classes


def _texture(grid: Grid, row0: int, rows: int, seed: int, cell_m: float, sigma: float) -> np.ndarray:
    """A smooth random field for rows row0..row0+rows: seeded noise on a coarse grid of ``cell_m``
    cells over the whole extent, resampled bilinearly (rasterio.warp) to the strip."""
    rng = np.random.default_rng(seed)
    res = grid.transform.a
    ch, cw = int(np.ceil(grid.height * res / cell_m)) + 1, int(np.ceil(grid.width * res / cell_m)) + 1
    coarse = rng.normal(0, sigma, (ch, cw)).astype(np.float32)
    coarse_tf = Affine(cell_m, 0, grid.transform.c, 0, -cell_m, grid.transform.f)
    out = np.zeros((rows, grid.width), np.float32)
    strip_tf = grid.transform @ Affine.translation(0, row0)
    reproject(
        coarse, out, src_transform=coarse_tf, dst_transform=strip_tf, src_crs=METRIC_CRS, dst_crs=METRIC_CRS,
        resampling=Resampling.bilinear,
    )  # fmt: skip
    return out


def write_orthophoto(path: Path, classes: np.ndarray, grid: Grid, seed: int) -> None:
    profile = {
        "driver": "GTiff", "width": grid.width, "height": grid.height, "count": 3, "dtype": "uint8",
        "crs": METRIC_CRS, "transform": grid.transform, "tiled": True, "blockxsize": 512, "blockysize": 512,
        "compress": "jpeg", "photometric": "ycbcr", "jpeg_quality": 92,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as out:
        out.descriptions = ("red", "green", "blue")
        for row0 in range(0, grid.height, STRIP):
            rows = min(STRIP, grid.height - row0)
            rng = np.random.default_rng(_stable_seed(seed, "ortho", str(row0)))
            c = classes[row0 : row0 + rows]
            light = _texture(grid, row0, rows, seed, 6.0, 7.0)
            light += rng.normal(0, 3.0, c.shape).astype(np.float32)
            # Band by band, in place: the same float32 sums as PALETTE[c] + light + noise over the
            # (3, rows, cols) stack (the stack's noise is drawn band after band from one stream), without
            # the gather of RGB triples and the stack's temporaries (a third of the strip's CPU).
            rgb, band = np.empty((3, rows, grid.width), np.uint8), np.empty((rows, grid.width), np.float32)
            for i in range(3):
                np.take(PALETTE_BANDS[i], c, out=band)
                band += light
                band += rng.normal(0, 1.5, c.shape).astype(np.float32)
                rgb[i] = np.clip(band, 0, 255, out=band)  # truncated to uint8 as astype does
            out.write(rgb, window=Window(0, row0, grid.width, rows))


def write_ndvi(path: Path, classes: np.ndarray, grid: Grid, seed: int) -> None:
    profile = {
        "driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1, "dtype": "float32",
        "crs": METRIC_CRS, "transform": grid.transform, "tiled": True, "blockxsize": 512, "blockysize": 512,
        "compress": "deflate", "predictor": 3, "nodata": NDVI_NODATA,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as out:
        out.descriptions = ("ndvi",)
        for row0 in range(0, grid.height, STRIP):
            rows = min(STRIP, grid.height - row0)
            rng = np.random.default_rng(_stable_seed(seed, "ndvi", str(row0)))
            c = classes[row0 : row0 + rows]
            v = NDVI_OF[c] + _texture(grid, row0, rows, seed + 1, 8.0, 0.03) + rng.normal(0, 0.04, c.shape)
            out.write(np.clip(v, -1, 1).astype(np.float32), 1, window=Window(0, row0, grid.width, rows))


def checkpoint_day(t: int) -> date:
    return OPENING - timedelta(days=t)


@dataclass(frozen=True)
class _Rendering:
    """One survey to render: everything it needs from the twin, read beforehand, so the pixels can be
    made in another thread (the twin's connection stays in the thread that opened it)."""

    survey: DemoSurvey
    base: Sequence[tuple[BaseGeometry, int]]
    paints: Sequence[Paint]
    grid: Grid
    write: Callable[[Path, np.ndarray, Grid, int], None]
    seed: int  # the classes'
    pixel_seed: int  # the colours' or values' texture and noise

    def __call__(self) -> DemoSurvey:
        self.write(self.survey.path, render_classes(self.base, self.paints, self.grid, self.seed), self.grid,
                   self.pixel_seed)  # fmt: skip
        return self.survey


def _renderings(
    twin: TwinLike, outdir: Path, seed: int, checkpoints: Sequence[int], ortho_checkpoints: Sequence[int]
) -> list[_Rendering]:
    """The surveys to render, oldest first (at a checkpoint the orthophoto before the NDVI), with
    what they read from the twin."""
    outdir.mkdir(parents=True, exist_ok=True)
    head = twin.resolve()
    bounds = venue_extent(twin, head)
    base = _base_shapes(twin, head)
    settings = EvidenceSettings()
    out: list[_Rendering] = []
    for t in sorted(checkpoints, reverse=True):
        on = checkpoint_day(t)
        paints = _paints(twin, on, settings)
        for kind, res, write in (("orthophoto", ORTHO_RES, write_orthophoto), ("ndvi", NDVI_RES, write_ndvi)):
            if kind == "orthophoto" and t not in ortho_checkpoints:
                continue
            path = outdir / f"{DEMO_FILE_PREFIX}{kind}-{on.isoformat()}-T-{t}.tif"
            survey = DemoSurvey(path, kind, on, f"T-{t}")
            grid = Grid.over(bounds, res)
            out.append(_Rendering(survey, base, paints, grid, write, seed, _stable_seed(seed, kind, str(t))))
    return out


def render_demo_surveys(
    twin: TwinLike,
    outdir: str | Path,
    *,
    seed: int = SEED,
    checkpoints: Sequence[int] = CHECKPOINTS,
    ortho_checkpoints: Sequence[int] = ORTHO_CHECKPOINTS,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[DemoSurvey]:
    """Render an NDVI survey at each checkpoint (T-n of the 2026 season) and an orthophoto at
    those also in ``ortho_checkpoints`` into ``outdir`` as GeoTIFFs in EPSG:4549; return them
    oldest first."""
    renderings = _renderings(twin, Path(outdir), seed, checkpoints, ortho_checkpoints)
    made: list[DemoSurvey] = []
    for render in renderings:
        made.append(render())
        if progress is not None:
            progress(len(made), len(renderings), render.survey.path.name)
    return made


def build_demo_surveys(
    twin: TwinLike,
    workdir: str | Path,
    *,
    seed: int = SEED,
    checkpoints: Sequence[int] = CHECKPOINTS,
    ortho_checkpoints: Sequence[int] = ORTHO_CHECKPOINTS,
    author: str = AUTHOR,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[DemoSurvey]:
    """Render the demo surveys into ``workdir`` and import each into the twin (one commit per
    survey, converted to a COG by the twin); the rendered GeoTIFFs are removed once imported.

    The surveys are rendered one after another in a thread while this one imports them, each as soon
    as it is made: both are CPU work outside the GIL (numpy's random draws and GDAL's codecs, GDAL's
    warp), so on a core the import leaves idle the rendering is mostly hidden. The twin is only read
    (before the rendering starts) and written (the imports) in this thread, whose connection it is.
    The files are those render_demo_surveys writes, and so the COGs imported from them."""
    renderings = _renderings(twin, Path(workdir), seed, checkpoints, ortho_checkpoints)
    made: list[DemoSurvey] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-surveys") as pool:
        rendered = [pool.submit(render) for render in renderings]
        try:
            for job in rendered:
                s = job.result()
                made.append(s)
                if progress is not None:
                    progress(len(made), len(renderings), s.path.name)
                what = "RGB orthophoto, 0.3 m" if s.kind == "orthophoto" else "NDVI, 1 m"
                twin.import_survey(
                    s.path, kind=s.kind, on=s.on, author=author,
                    message=f"Demo drone survey at {s.checkpoint} ({s.on.isoformat()}): {what}, synthetic, "
                    "rendered from the venue's layers (layers.demo_surveys)",
                )  # fmt: skip
                s.path.unlink(missing_ok=True)
        finally:
            for job in rendered:
                job.cancel()  # after a failed import: the renderings not started yet are not made
    return made


def main(argv: Sequence[str] | None = None) -> None:
    from twin.core import Twin

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.exit("usage: python -m layers.demo_surveys TWIN OUTDIR")
    with Twin.open(args[0]) as twin:
        for s in render_demo_surveys(twin, args[1], progress=lambda n, total, name: print(f"{n}/{total} {name}")):
            print(s.path, s.path.stat().st_size)


if __name__ == "__main__":
    main()
