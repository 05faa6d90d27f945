"""Survey rasters: web tiles from a big COG, through the API, and importing a big GeoTIFF.

    python -m bench.raster_bench [--pixels 20000] [--size 1.0] [--runs 200] [--seconds 10] [--workers 2]

1. Import: `venue-twin raster import` of an uncompressed RGB GeoTIFF of `--size` GB (EPSG:4549,
   0.3 m, centred on the venue) into a copy of the bundled twin, in a child process: wall time and
   the child's peak memory (ru_maxrss), which shows that the conversion streams.
2. Tiles in process: 256×256 WebP tiles at zooms 17 and 18 (random tiles over the venue) rendered
   from a `--pixels`² RGB orthophoto COG (imported once through the same path and kept in the
   bench dir) by api.surveys.render_tile, the function the API serves tiles with: median ms
   (target ≤ 25 ms).
3. Through the API: the same kind of tiles from `uvicorn api.main:app` (W workers) with wrk's 8
   connections, distinct URLs: requests per second and latency.

Sources are written window by window (a strip of rows at a time), so generating them needs little
memory either. Nothing is asserted; the figures are printed with the data size and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.cache import bench_dir
from bench.common import CONNECTIONS, Result, api_server, machine, print_machine, print_table, repeat, timed, wrk

TILE_TARGET_S = 0.025
VENUE = (121.2975, 31.191)
RES_M = 0.3


def write_source(path: Path, side: int, *, compress: str | None = None, seed: int = 7) -> None:
    """An RGB orthophoto-like GeoTIFF side×side at 0.3 m in EPSG:4549, written by strips of rows:
    smooth colour fields (plots, paving, lawns) with pixel noise, so codecs see image-like data."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(*VENUE)
    half = side * RES_M / 2
    profile = {
        "driver": "GTiff", "width": side, "height": side, "count": 3, "dtype": "uint8", "crs": "EPSG:4549",
        "transform": from_origin(x - half, y + half, RES_M, RES_M), "tiled": True, "blockxsize": 512,
        "blockysize": 512, "BIGTIFF": "IF_SAFER", "photometric": "RGB",
        **({"compress": compress} if compress else {}),
    }  # fmt: skip
    rng = np.random.default_rng(seed)
    palette = rng.integers(40, 220, (64, 3), dtype=np.uint8)
    cols = np.arange(side)
    tmp = path.with_name("." + path.name + ".part")
    strip = 512
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, side, strip):
            h = min(strip, side - row)
            rows = np.arange(row, row + h)[:, None]
            # Plots of 40 m (133 px) with a colour each, and noise within: cheap, and JPEG-realistic.
            plot = ((rows // 133) * 7 + (cols[None, :] // 133) * 13) % 64
            block = palette[plot].transpose(2, 0, 1).astype(np.int16)
            block += rng.integers(-18, 18, block.shape, dtype=np.int16)
            dst.write(np.clip(block, 0, 255).astype(np.uint8), window=Window(0, row, side, h))
    os.replace(tmp, path)


def bundled_twin(d: Path) -> Path:
    """The bundled venue twin, built once into the bench dir."""
    path = d / "venue.gpkg"
    if not path.exists():
        from layers.bundle import build_bundled_twin

        build_bundled_twin(d / ".venue.part.gpkg").close()
        os.replace(d / ".venue.part.gpkg", path)
    return path


def import_child(store: Path, source: Path, surveys: Path) -> tuple[float, float, int, str]:
    """`venue-twin raster import` in a child process: (wall s, cpu s, peak RSS bytes, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    env = {**os.environ, "VENUE_TWIN_SURVEY_DIR": str(surveys), "VENUE_TWIN_AUTHOR": "bench"}
    cmd = [sys.executable, "-m", "cli.main", "raster", "import", str(source), "--survey", "orthophoto",
           "--date", "2026-10-20", "--store", str(store)]  # fmt: skip
    t, proc = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, env=env))
    if proc.returncode != 0:
        raise RuntimeError(f"import failed: {proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = r1.ru_utime + r1.ru_stime
    # ru_maxrss of children is the largest of any child waited for, in KiB on Linux; this is the
    # first child, so it is the import's own peak (a larger earlier child would mask it: say so).
    peak = after * 1024 if after > before else -1
    return t.wall, cpu, peak, proc.stdout.strip()


def tile_cog(d: Path, pixels: int) -> tuple[Path, Path, Path, str]:
    """The twin holding a pixels² orthophoto COG (imported once, kept): (store, survey dir, COG, id)."""
    from twin import Twin

    home = d / f"tiles-{pixels}"
    store, surveys = home / "venue.gpkg", home / "surveys"
    if store.exists():
        os.environ["VENUE_TWIN_SURVEY_DIR"] = str(surveys)
        with Twin.open(store) as twin:
            found = twin.surveys()
            if found and twin.survey_path(found[0]).exists():
                return store, surveys, twin.survey_path(found[0]), found[0].id
        shutil.rmtree(home)
    home.mkdir(parents=True)
    shutil.copyfile(bundled_twin(d), store)
    source = home / "source.tif"
    print(f"generating a {pixels:,}² RGB source for the tile benchmark (once) ...", flush=True)
    write_source(source, pixels, compress="deflate")
    os.environ["VENUE_TWIN_SURVEY_DIR"] = str(surveys)
    from datetime import date

    with Twin.open(store) as twin:
        twin.import_survey(source, kind="orthophoto", on=date(2026, 10, 20), author="bench")
        info = twin.surveys()[0]
        path = twin.survey_path(info)
    source.unlink()
    return store, surveys, path, info.id


def venue_tiles(cog: Path, zooms: tuple[int, ...], n: int, seed: int = 5) -> list[tuple[int, int, int]]:
    """n random tiles at `zooms` lying within the COG's bounds and the venue."""
    import morecantile
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(cog) as src:
        w, s, e, nn = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    # The venue's area of interest, clipped to the raster, so every tile has pixels.
    w, s, e, nn = max(w, 121.270), max(s, 31.170), min(e, 121.325), min(nn, 31.212)
    tms = morecantile.tms.get("WebMercatorQuad")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        z = zooms[i % len(zooms)]
        t = tms.tile(rng.uniform(w, e), rng.uniform(s, nn), z)
        out.append((t.z, t.x, t.y))
    return out


def renderer(cog: Path, tiles: Iterator[tuple[int, int, int]], in_range: Any, colormap: Any) -> Callable[[], None]:
    """Renders the next tile of `tiles` as the API does, each call."""
    from twin.survey_images import render_tile

    def one() -> None:
        z, x, y = next(tiles)
        assert render_tile(cog, z, x, y, "webp", in_range, colormap) is not None

    return one


def bench_import(d: Path, size_gb: float, report: dict[str, object]) -> None:
    side = int(math.sqrt(size_gb * 1e9 / 3))
    source = d / f"import-{side}.tif"
    if not source.exists():
        print(f"generating a {size_gb:g} GB source ({side:,}² RGB, uncompressed) for the import (once) ...", flush=True)
        write_source(source, side)
    with tempfile.TemporaryDirectory(prefix="import-", dir=d) as tmp:
        store = Path(tmp) / "venue.gpkg"
        shutil.copyfile(bundled_twin(d), store)
        wall, cpu, peak, said = import_child(store, source, Path(tmp) / "surveys")
        cog_size = sum(f.stat().st_size for f in (Path(tmp) / "surveys").iterdir())
    size_text = f"{source.stat().st_size / 1e9:.2f} GB, {side:,}² px RGB"
    print(f"\nimport: {size_text} -> COG {cog_size / 1e6:.0f} MB (JPEG q90, overviews) in {wall:.1f} s "
          f"(child CPU {cpu:.1f} s); peak memory of the import process {peak / 2**20:.0f} MiB")  # fmt: skip
    print(f"  {said}")
    report["import"] = {"source_bytes": source.stat().st_size, "pixels": side, "wall_s": wall, "cpu_s": cpu,
                        "peak_rss_bytes": peak, "cog_bytes": cog_size}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pixels", type=int, default=20_000, help="side of the tile benchmark's COG")
    ap.add_argument("--size", type=float, default=1.0, help="GB of the GeoTIFF the import benchmark imports")
    ap.add_argument("--runs", type=int, default=200, help="tiles rendered in process")
    ap.add_argument("--seconds", type=int, default=10, help="seconds of wrk load")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-import", action="store_true", help="skip the import benchmark (tiles only)")
    args = ap.parse_args(argv)
    m = machine()
    print_machine(m)
    d = bench_dir() / "rasters"
    d.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    report: dict[str, object] = {"machine": m}

    # 1. Import of a big uncompressed GeoTIFF, in a child process (first child: its own peak RSS).
    if not args.no_import:
        bench_import(d, args.size, report)

    # 2. Tiles in process, through the function the API renders with.
    from api.surveys import _style
    from twin import Twin

    store, surveys, cog, survey_id = tile_cog(d, args.pixels)
    with Twin.open(store) as twin:
        info = twin.survey(survey_id)
    in_range, colormap = _style(info, None, None)
    print(f"\ntile source: {info.width:,}×{info.height:,} px RGB COG, {info.size_bytes / 1e6:.0f} MB, {info.crs}, "
          f"{info.resolution:.2f} m (warped to Web Mercator at import: tiles need no reprojection)")  # fmt: skip
    for zooms in ((17,), (18,)):
        timings = repeat(renderer(cog, iter(venue_tiles(cog, zooms, args.runs + 5)), in_range, colormap), args.runs, 5)
        results.append(Result("tiles", f"256×256 WebP tile, z{zooms[0]}, in process", f"{info.width:,}² px COG",
                              timings, TILE_TARGET_S))  # fmt: skip
    print()
    print_table(results)
    report["tiles"] = [r.to_dict() for r in results]

    # 3. Through the API with wrk.
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): skipping the API figures", file=sys.stderr)
    else:
        paths = [f"/surveys/{survey_id}/tiles/WebMercatorQuad/{z}/{x}/{y}.webp"
                 for z, x, y in venue_tiles(cog, (17, 18), 3000, seed=9)]  # fmt: skip
        api = {}
        with (
            tempfile.TemporaryDirectory(prefix="raster-api-") as tmp,
            api_server(str(store), args.workers, {"VENUE_TWIN_SURVEY_DIR": str(surveys)}) as base,
        ):
            wrk(base, paths[:50], 2, Path(tmp))  # warm the workers
            r = wrk(base, paths, args.seconds, Path(tmp))
            api = r
        print(f"\nAPI: uvicorn, {args.workers} workers; wrk, {CONNECTIONS} connections, {args.seconds} s, "
              f"{len(paths)} distinct z17/z18 WebP tile URLs")  # fmt: skip
        print(f"  {r['requests_per_s']:.0f} req/s  p50 {r['latency_p50']}  p99 {r['latency_p99']}"
              f"{'  (' + str(r['non_2xx']) + ' non-2xx!)' if r['non_2xx'] else ''}")  # fmt: skip
        report["api"] = api
    out = d / "results-raster.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
