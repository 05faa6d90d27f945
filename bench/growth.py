"""How the figures grow with the data: the bbox read at several layer sizes, and the import.

    python -m bench.growth [--sizes 10000,100000,1000000] [--import-sizes 10000,100000,1000000]

bbox: for each size, the cached edited twin of that many features (bench/cache.py: the same
recipe as the 1M twin, built once per size and kept in the bench dir), ~1,000 features per query,
at the head and 50 commits back, median wall and CPU time of `--queries` queries in process.
10,000,000 features is not in the default sizes: building it takes about an hour and 13 GB on a
2-core machine; pass `--sizes 10000,100000,1000000,10000000` to build it (once) and measure it.

import: `venue-twin import` end to end in a child process (start-up, read, validate, encode,
commit) of that many synthetic polygons from GeoPackage and from GeoJSON, with the child's peak
memory (its maximum resident set). Sizes above `--batch-over` (default 200,000) are imported with
`--batch 100000` (one commit per 100,000 features, never the whole file in memory). Nothing is
asserted; the table is printed and written to results-growth.json in the bench dir.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.cache import bench_dir, get_big_twin
from bench.common import REPO, machine, print_machine, run_child, timed
from bench.synth import AREA_OF_INTEREST, GRID, PARCELS, parcels, write_geojson, write_gpkg

# The child's own peak: VmHWM of its memory map. Not getrusage's ru_maxrss, which Linux carries
# over from the forking parent (this benchmark, holding a big twin) through exec.
_PEAK = (
    "import re, sys\n"
    "from cli.main import app\n"
    "try:\n"
    "    app(sys.argv[1:], prog_name='venue-twin')\n"
    "finally:\n"
    "    hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
    "    print('PEAK_KIB', hwm.group(1) if hwm else 0, file=sys.stderr)\n"
)


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def bbox_growth(n: int, queries: int, log: Any) -> dict[str, Any]:
    from twin import Twin

    big = get_big_twin(n, log=log)
    out: dict[str, Any] = {"features": n, "file_mb": big.meta["file_bytes"] / 1e6}
    boxes = big.grid.random_bboxes(queries, 1000, seed=11)
    with Twin.open(big.path) as twin:
        for label in ("HEAD", "HEAD~50"):
            ref = twin.resolve(label)
            for b in boxes[:10]:
                twin.features(GRID.name, ref, bbox=b, limit=1000)
            samples = [timed(lambda b=b, ref=ref: twin.features(GRID.name, ref, bbox=b, limit=1000)) for b in boxes]
            out[label] = {
                "median_ms": float(np.median([t.wall for t, _ in samples]) * 1e3),
                "cpu_median_ms": float(np.median([t.cpu for t, _ in samples]) * 1e3),
                "returned_mean": float(np.mean([len(p.features) for _, p in samples])),
            }
    return out


def import_growth(
    n: int, batch_over: int, log: Any, formats: tuple[str, ...] = ("GeoPackage", "GeoJSON")
) -> list[dict[str, Any]]:
    from twin import Twin

    d = bench_dir() / "growth-import"
    d.mkdir(exist_ok=True)
    files = {"GeoPackage": d / f"parcels-{n}.gpkg", "GeoJSON": d / f"parcels-{n}.geojson"}
    if not all(p.exists() for p in files.values()):
        log(f"import: writing {n:,} parcels to {d} (once, not timed)")
        geoms, props = parcels(n)
        write_gpkg(files["GeoPackage"], geoms, props)
        write_geojson(files["GeoJSON"], geoms, props)
        del geoms, props
    rows = []
    for fmt, path in files.items():
        if fmt not in formats:
            continue
        store = d / f"twin-{n}-{fmt.lower()}.gpkg"
        for suffix in ("", "-wal", "-shm"):
            Path(str(store) + suffix).unlink(missing_ok=True)
        Twin.create(store, [PARCELS], AREA_OF_INTEREST).close()
        cmd = [sys.executable, "-c", _PEAK, "import", str(path), "--layer", PARCELS.name, "--store", str(store)]
        if n > batch_over:
            cmd += ["--batch", "100000"]
        env = {**os.environ, "VENUE_TWIN_AUTHOR": "bench", "PYTHONPATH": str(REPO)}
        t, proc = run_child(cmd, env)
        wall = t.wall
        peak = re.search(r"PEAK_KIB (\d+)", proc.stderr)
        with Twin.open(store) as twin:
            count = twin.count(PARCELS.name)
        for suffix in ("", "-wal", "-shm"):
            Path(str(store) + suffix).unlink(missing_ok=True)
        ok = proc.returncode == 0 and count == n
        row = {
            "features": n,
            "format": fmt,
            "file_mb": path.stat().st_size / 1e6,
            "wall_s": wall,
            "features_per_s": n / wall,
            "cpu_s": t.cpu,  # the child's user + system time: what the import costs on an idle machine
            "peak_mb": int(peak.group(1)) / 1024 if peak else None,
            "batch": 100_000 if n > batch_over else None,
            "ok": ok,
            "output": (proc.stdout + proc.stderr).strip()[-500:],
        }
        log(
            f"  import {n:,} from {fmt}: {wall:.1f} s (CPU {t.cpu:.1f} s), {n / wall:,.0f}/s, peak {row['peak_mb']} MB, ok={ok}"
        )
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="layer sizes of the bbox read")
    ap.add_argument("--import-sizes", default="10000,100000,1000000", help="sizes of the import")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--import-formats", default="GeoPackage,GeoJSON", help="GeoPackage, GeoJSON or both")
    ap.add_argument("--batch-over", type=int, default=200_000, help="import larger files with --batch 100000")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    m = machine()
    print_machine(m)
    formats = tuple(f.strip() for f in args.import_formats.split(",") if f.strip())
    reads = [bbox_growth(n, args.queries, log) for n in _sizes(args.sizes)]
    imports = [r for n in _sizes(args.import_sizes) for r in import_growth(n, args.batch_over, log, formats)]

    print("\nbbox read of ~1,000 features, in process (median of", args.queries, "queries)")
    print(f"{'features':>12} {'file MB':>8} {'HEAD ms':>8} {'cpu ms':>7} {'HEAD~50 ms':>11} {'cpu ms':>7}")
    for r in reads:
        h, o = r["HEAD"], r["HEAD~50"]
        print(
            f"{r['features']:>12,} {r['file_mb']:>8.0f} {h['median_ms']:>8.2f} {h['cpu_median_ms']:>7.2f} "
            f"{o['median_ms']:>11.2f} {o['cpu_median_ms']:>7.2f}"
        )
    print("\nimport (venue-twin import, end to end, one child process each)")
    print(
        f"{'features':>12} {'format':<11} {'file MB':>8} {'seconds':>8} {'CPU s':>7} {'features/s':>11} "
        f"{'per CPU s':>10} {'peak MB':>8}  batch"
    )
    for r in imports:
        peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] else "?"
        print(
            f"{r['features']:>12,} {r['format']:<11} {r['file_mb']:>8.0f} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} "
            f"{r['features_per_s']:>11,.0f} {r['features'] / r['cpu_s']:>10,.0f} {peak:>8}  "
            f"{r['batch'] or '-'}{'' if r['ok'] else '  FAILED'}"
        )
    out = bench_dir() / "results-growth.json"
    out.write_text(json.dumps({"machine": m, "bbox": reads, "import": imports}, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
