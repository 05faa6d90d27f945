"""Zonal statistics for evidence from imagery: `python -m bench.evidence_bench [--size N] [--features N]`.

1. **Zonal statistics** (target ≤ 3 s median): mean, p10/p50/p90, coverage and the share above an
   NDVI threshold (completion.zonal.zonal_stats, one exactextract call) for 1,000 polygon
   footprints (squares and rotated rectangles 20–150 m across, given in lon/lat, so the
   reprojection into the raster's CRS is timed too) on a 10,000 × 10,000 float32 NDVI raster at
   1 m in EPSG:4549 (tiled 512, deflate; a smooth field plus noise). The raster is generated once
   and cached in the bench dir ($VENUE_TWIN_BENCH_DIR, default /tmp/venue-twin-bench). Each run is
   a fresh child process, so its peak memory (max RSS, and its growth over the imports) is the
   zonal work's alone; the child also gives its CPU time.
2. **The demo surveys** (what `venue-twin init` adds): rendering and importing the seven demo
   surveys into a freshly built bundled twin, their size on disk, and `all_evidence` over the
   60 projects on T-10 (median of warm runs).

Prints the figures with the data size and the machine; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.cache import bench_dir
from bench.common import REPO, Result, Timing, load, machine, print_load, print_machine, print_table, timed

RECIPE = "ndvi-v1"
ORIGIN = (618_000.0, 3_458_000.0)  # top-left, EPSG:4549: around the venue
SEED = 11


def raster_path(size: int) -> Path:
    return bench_dir() / "evidence" / f"{RECIPE}-{size}.tif"


def make_raster(size: int) -> tuple[Path, float]:
    """The cached index raster (built under a temporary name, renamed when whole); seconds spent building."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    from rasterio.windows import Window

    path = raster_path(size)
    if path.exists():
        return path, 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.tif")
    t0 = time.perf_counter()
    transform = Affine(1.0, 0, ORIGIN[0], 0, -1.0, ORIGIN[1])
    rng = np.random.default_rng(SEED)
    cell = 50.0
    coarse = rng.uniform(-0.1, 0.9, (int(size / cell) + 2, int(size / cell) + 2)).astype(np.float32)
    coarse_tf = Affine(cell, 0, ORIGIN[0], 0, -cell, ORIGIN[1])
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32", "crs": "EPSG:4549",
        "transform": transform, "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
        "predictor": 3, "nodata": -9999.0, "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    with rasterio.open(tmp, "w", **profile) as out:
        for row0 in range(0, size, 512):
            rows = min(512, size - row0)
            strip = np.zeros((rows, size), np.float32)
            reproject(
                coarse, strip, src_transform=coarse_tf, dst_transform=transform @ Affine.translation(0, row0),
                src_crs="EPSG:4549", dst_crs="EPSG:4549", resampling=Resampling.bilinear,
            )  # fmt: skip
            strip += rng.normal(0, 0.03, strip.shape).astype(np.float32)
            out.write(np.round(strip, 3), 1, window=Window(0, row0, size, rows))
    os.replace(tmp, path)
    return path, time.perf_counter() - t0


def footprints(size: int, n: int) -> list[Any]:
    """n polygons 20–150 m across, rotated, inside the raster, in lon/lat."""
    import geopandas as gpd
    import shapely
    from shapely import affinity

    rng = np.random.default_rng(SEED + 1)
    out = []
    for _ in range(n):
        w, h = rng.uniform(20, 150, 2)
        x = ORIGIN[0] + rng.uniform(200, size - 200)
        y = ORIGIN[1] - rng.uniform(200, size - 200)
        rect = shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        out.append(affinity.rotate(rect, float(rng.uniform(0, 90)), origin="centroid"))
    return list(gpd.GeoSeries(out, crs=4549).to_crs(4326))


def child(size: int, n: int) -> None:
    """One timed run in this (fresh) process; prints JSON."""
    from completion.zonal import zonal_stats

    geoms = footprints(size, n)
    keys = [f"f{i}" for i in range(n)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, stats = timed(lambda: zonal_stats(raster_path(size), geoms, keys, threshold=0.4))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pixels = sum(g.area for g in gpd_metric(geoms))
    print(
        json.dumps(
            {
                "wall": t.wall,
                "cpu": t.cpu,
                "maxrss_kib": rss1,
                "rss_before_kib": rss0,
                "features": len(stats),
                "pixels": pixels,
                "green_mean": float(np.nanmean([s.above for s in stats if s.above is not None])),
            }  # fmt: skip
        )
    )


def gpd_metric(geoms: list[Any]) -> Any:
    import geopandas as gpd

    return gpd.GeoSeries(geoms, crs=4326).to_crs(4549)


def zonal_results(size: int, n: int, runs: int) -> Result:
    path, built = make_raster(size)
    timings, extras = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.evidence_bench", "--child", "--size", str(size), "--features", str(n)],
            capture_output=True, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        timings.append(Timing(d["wall"], d["cpu"]))
        extras.append(d)
    peak = max(d["maxrss_kib"] for d in extras) / 1024
    growth = max(d["maxrss_kib"] - d["rss_before_kib"] for d in extras) / 1024
    mb = path.stat().st_size / 1e6
    return Result(
        "evidence",
        "zonal stats (mean, p10/50/90, coverage, green share)",
        f"{n:,} polygons, {extras[0]['pixels'] / 1e6:.1f} M px inside; {size:,}² float32 "
        f"({size * size * 4 / 1e9:.1f} GB raw, {mb:.0f} MB on disk)",
        timings,
        target_s=3.0,
        extra={
            "note": f"peak RSS {peak:.0f} MiB (+{growth:.0f} MiB for the zonal run)"
            + (f"; raster built in {built:.0f} s" if built else "; raster cached"),
            "peak_rss_mib": peak,
            "rss_growth_mib": growth,
        },
    )


def demo_results(runs: int) -> list[Result]:
    from completion.evidence import all_evidence
    from layers.bundle import build_bundled_twin
    from layers.demo_surveys import build_demo_surveys

    with tempfile.TemporaryDirectory(dir=bench_dir()) as d:
        path = Path(d) / "venue.gpkg"
        with build_bundled_twin(path) as twin:
            t_build, made = timed(lambda: build_demo_surveys(twin, Path(d) / "render"))
            twin.flush()
            on_disk = sum(f.stat().st_size for f in (Path(d) / "venue.surveys").glob("*.tif"))
            all_evidence(twin, "2026-10-26")  # warm
            timings = [timed(lambda: all_evidence(twin, "2026-10-26"))[0] for _ in range(runs)]
            flagged = [e.code for e in all_evidence(twin, "2026-10-26") if e.flag]
    return [
        Result(
            "demo",
            "render + import the demo surveys",
            f"{len(made)} surveys, {on_disk / 1e6:.0f} MB of COGs",
            [t_build],
        ),
        Result(
            "demo",
            "all_evidence on T-10",
            f"60 projects, {len(made)} surveys",
            timings,
            extra={"note": f"flagged: {', '.join(flagged) or 'none'}"},
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000, help="raster width and height in pixels")
    ap.add_argument("--features", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo-survey figures")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.size, args.features)
        return
    print_machine(machine())
    before = load()
    results = [zonal_results(args.size, args.features, args.runs)]
    if not args.no_demo:
        results += demo_results(args.runs)
    print()
    print_table(results)
    print_load("load during the run", before)
    out = bench_dir() / "evidence-results.json"
    out.write_text(json.dumps({"machine": machine(), "results": [r.to_dict() for r in results]}, indent=2))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
