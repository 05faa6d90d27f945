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
`--batch 100000` (one commit per 100,000 features, never the whole file in memory). `--stores
gpkg,postgis` imports into a fresh GeoPackage twin and into a fresh PostGIS twin (a schema of its
own in the database `venue_twin_bench_import` on `--dsn`; the CPU column is the client's, the
server's work shows in the wall time); `--runs N` repeats each import and gives medians.
`--baseline DIR` runs every import also with the code in DIR (say `git archive` of an older
commit unpacked there), alternating with this code run by run, so that both see the same machine:
the before/after table of a change. Beside a one-commit import into the embedded store it prints
the import's floor on this machine (`import_floor`: interpreter start-up with pyogrio, and the
store's durable write of the versions already encoded), so what the import spends above the stack
shows as seconds. Nothing is asserted; the tables are printed and written to results-growth.json
in the bench dir.

    python -m bench.growth --only import --import-sizes 100000 --runs 3 --stores gpkg,postgis
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
    from twin.stores.gpkg import GeoPackageStore

    # Each read both ways: the store's SQLite query (the read index off), and the in-memory read
    # index as a server builds it at start-up (Twin.warm), if the layer fits its memory budget.
    for mode, budget in (("query", 0), ("index", None)):
        with Twin(GeoPackageStore(big.path, read_index_mb=budget)) as twin:
            if mode == "index":
                t, _ = timed(lambda twin=twin: twin.warm(wait=True))
                built = twin.store.bbox_read_in_memory(GRID.name, boxes[0])
                out["index_build_s"] = t.wall if built else None
                if not built:
                    out["index"] = "over the memory budget (VENUE_TWIN_READ_INDEX_MB)"
                    break
            for label in ("HEAD", "HEAD~50"):
                ref = twin.resolve(label)
                for b in boxes[:10]:
                    twin.features(GRID.name, ref, bbox=b, limit=1000)
                samples = [
                    timed(lambda b=b, ref=ref, twin=twin: twin.features(GRID.name, ref, bbox=b, limit=1000))
                    for b in boxes
                ]
                out[label if mode == "query" else f"{label} index"] = {
                    "median_ms": float(np.median([t.wall for t, _ in samples]) * 1e3),
                    "cpu_median_ms": float(np.median([t.cpu for t, _ in samples]) * 1e3),
                    "returned_mean": float(np.mean([len(p.features) for _, p in samples])),
                }
    return out


DEFAULT_DSN = os.environ.get("VENUE_TWIN_TEST_POSTGIS_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IMPORT_DATABASE = "venue_twin_bench_import"


def _postgis_url(dsn: str, schema: str | None = None) -> str:
    base = dsn.split("?", 1)[0]
    base = base.rsplit("/", 1)[0] if base.count("/") >= 3 else base.rstrip("/")
    return f"{base}/{IMPORT_DATABASE}" + (f"?schema={schema}" if schema else "")


def _ensure_database(dsn: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_postgis_url(dsn).rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_database WHERE datname=%s", (IMPORT_DATABASE,)).fetchone() is None:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(IMPORT_DATABASE)))


def _drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_postgis_url(dsn), autocommit=True) as c:
        c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _fresh_store(store: str, n: int, fmt: str, dsn: str) -> str:
    """A new empty twin of the parcels layer; its path or URL."""
    from twin import Twin

    if store == "postgis":
        schema = f"bench_import_{n}_{fmt.lower()}_{os.getpid()}"
        _drop_schema(dsn, schema)
        url = _postgis_url(dsn, schema)
    else:
        path = bench_dir() / "growth-import" / f"twin-{n}-{fmt.lower()}.gpkg"
        _remove_store(str(path), dsn)
        url = str(path)
    Twin.create(url, [PARCELS], AREA_OF_INTEREST).close()
    return url


def _remove_store(url: str, dsn: str) -> None:
    if url.startswith("postgresql"):
        _drop_schema(dsn, url.rsplit("schema=", 1)[1])
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)


def _import_once(n: int, fmt: str, path: Path, store: str, code: Path, batch: int | None, dsn: str) -> dict[str, Any]:
    """One `venue-twin import` of `path` into a fresh twin, in a child running the code in `code`."""
    from twin import Twin

    url = _fresh_store(store, n, fmt, dsn)
    cmd = [sys.executable, "-c", _PEAK, "import", str(path), "--layer", PARCELS.name, "--store", url]
    if batch:
        cmd += ["--batch", str(batch)]
    env = {**os.environ, "VENUE_TWIN_AUTHOR": "bench", "PYTHONPATH": str(code)}
    # cwd too: `python -c` puts the working directory first on the path.
    t, proc = run_child(cmd, env, cwd=code)
    peak = re.search(r"PEAK_KIB (\d+)", proc.stderr)
    with Twin.open(url) as twin:
        count = twin.count(PARCELS.name)
        head = twin.head()
    _remove_store(url, dsn)
    return {
        "wall_s": t.wall,
        "cpu_s": t.cpu,  # the child's user + system time: what the import costs on an idle machine
        "peak_mb": int(peak.group(1)) / 1024 if peak else None,
        "ok": proc.returncode == 0 and count == n,
        "head": head.id if head else None,
        "output": (proc.stdout + proc.stderr).strip()[-500:],
    }


def import_floor(n: int, path: Path, runs: int, log: Any) -> dict[str, Any]:
    """What an import of `path` cannot go below on this stack and this machine, medians of `runs`:

    - start-up: a Python interpreter that can read the file (`import pyogrio`, which imports
      geopandas and pandas with it, whatever is read);
    - store write: the embedded store's durable write of the versions already encoded (the
      versions table with its indexes and R-tree, the GIS-readable table any GIS opens with its
      R-tree, one commit), timed around the store's `apply` alone.

    What an import spends beyond their sum is reading, validating, encoding and bookkeeping. The
    store is reached directly here (below the Twin facade, which offers no way to write encoded
    versions): this is a measurement of the store, not a path the product takes.
    """
    from datetime import UTC, datetime

    from bench.common import timed
    from layers.io import read_layer_file
    from twin import Change, Twin
    from twin.encoding import encode_changes
    from twin.gcpause import gc_paused_for
    from twin.model import CommitInfo, StoredChange

    startup = [run_child([sys.executable, "-c", "import pyogrio"], dict(os.environ))[0].wall for _ in range(runs)]
    writes = []
    for _ in range(runs):
        url = _fresh_store("gpkg", n, "floor", DEFAULT_DSN)
        try:
            with Twin.open(url) as twin:
                features = read_layer_file(path, twin.layer(PARCELS.name)).features
                changes = [Change(PARCELS.name, "add", f.id, f) for f in features]
                stored = [
                    StoredChange(PARCELS.name, "add", ch.feature_id, v)
                    for ch, v in zip(changes, encode_changes(changes), strict=True)
                ]
                head = twin.head()  # none: a new twin's layer needs no commit
                seq, parent = (head.seq + 1, head.id) if head else (1, None)
                info = CommitInfo("0" * 64, seq, parent, "bench", "floor", datetime.now(UTC), {})
                with gc_paused_for(len(stored)):  # as a commit pauses it (twin.gcpause)
                    t, _ = timed(lambda info=info, stored=stored, twin=twin: twin.store.apply(info, stored))
                writes.append(t.wall)
                del features, changes, stored
        finally:
            _remove_store(url, DEFAULT_DSN)
    out = {"startup_s": float(np.median(startup)), "store_write_s": float(np.median(writes)), "runs": runs}
    log(f"  floor for {n:,} from {path.name}: start-up {out['startup_s']:.2f} s, store write {out['store_write_s']:.2f} s")
    return out


def import_growth(
    n: int,
    batch_over: int,
    log: Any,
    formats: tuple[str, ...] = ("GeoPackage", "GeoJSON"),
    stores: tuple[str, ...] = ("gpkg",),
    runs: int = 1,
    baseline: Path | None = None,
    dsn: str = DEFAULT_DSN,
) -> list[dict[str, Any]]:
    d = bench_dir() / "growth-import"
    d.mkdir(exist_ok=True)
    files = {"GeoPackage": d / f"parcels-{n}.gpkg", "GeoJSON": d / f"parcels-{n}.geojson"}
    if not all(p.exists() for p in files.values()):
        log(f"import: writing {n:,} parcels to {d} (once, not timed)")
        geoms, props = parcels(n)
        write_gpkg(files["GeoPackage"], geoms, props)
        write_geojson(files["GeoJSON"], geoms, props)
        del geoms, props
    if "postgis" in stores:
        _ensure_database(dsn)
    codes = {"after": REPO} if baseline is None else {"before": baseline, "after": REPO}
    batch = 100_000 if n > batch_over else None
    # The floor of a one-commit import (a batched one pays the store write per batch, a floor of its own)
    floor = import_floor(n, files["GeoPackage"], runs, log) if "gpkg" in stores and batch is None else None
    rows = []
    for store in stores:
        for fmt, path in files.items():
            if fmt not in formats:
                continue
            samples: dict[str, list[dict[str, Any]]] = {label: [] for label in codes}
            for i in range(runs):
                for label, code in codes.items():  # alternating, so both meet the same load
                    s = _import_once(n, fmt, path, store, code, batch, dsn)
                    samples[label].append(s)
                    log(
                        f"  import {n:,} from {fmt} into {store} ({label}, run {i + 1}/{runs}): {s['wall_s']:.1f} s "
                        f"(CPU {s['cpu_s']:.1f} s), {n / s['wall_s']:,.0f}/s, peak {s['peak_mb']} MB, ok={s['ok']}"
                    )
            for label, got in samples.items():
                wall = float(np.median([s["wall_s"] for s in got]))
                cpu = float(np.median([s["cpu_s"] for s in got]))
                peaks = [s["peak_mb"] for s in got if s["peak_mb"]]
                rows.append(
                    {
                        "features": n,
                        "format": fmt,
                        "store": store,
                        "code": label if baseline is not None else None,
                        "file_mb": path.stat().st_size / 1e6,
                        "runs": runs,
                        "wall_s": wall,
                        "features_per_s": n / wall,
                        "cpu_s": cpu,
                        "peak_mb": float(np.median(peaks)) if peaks else None,
                        "batch": batch,
                        "floor": floor if store == "gpkg" else None,
                        "ok": all(s["ok"] for s in got),
                        "heads": sorted({s["head"] for s in got if s["head"]}),
                        "samples": got,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("bbox", "import"), help="measure only the bbox reads or only the import")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="layer sizes of the bbox read")
    ap.add_argument("--import-sizes", default="10000,100000,1000000", help="sizes of the import")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--import-formats", default="GeoPackage,GeoJSON", help="GeoPackage, GeoJSON or both")
    ap.add_argument("--stores", default="gpkg", help="gpkg, postgis or both (comma-separated)")
    ap.add_argument("--runs", type=int, default=1, help="imports of each size, format and store (medians)")
    ap.add_argument("--baseline", type=Path, help="a tree of other code to import with too, run by run")
    ap.add_argument("--dsn", default=DEFAULT_DSN, help="the PostgreSQL server for --stores postgis")
    ap.add_argument("--batch-over", type=int, default=200_000, help="import larger files with --batch 100000")
    args = ap.parse_args(argv)
    stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    if bad := [s for s in stores if s not in ("gpkg", "postgis")]:
        ap.error(f"--stores takes gpkg and postgis, not {', '.join(bad)}")
    if args.baseline is not None and not (args.baseline / "cli" / "main.py").exists():
        ap.error(f"--baseline {args.baseline}: no cli/main.py there")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    m = machine()
    print_machine(m)
    formats = tuple(f.strip() for f in args.import_formats.split(",") if f.strip())
    reads = [] if args.only == "import" else [bbox_growth(n, args.queries, log) for n in _sizes(args.sizes)]
    imports = (
        []
        if args.only == "bbox"
        else [
            r
            for n in _sizes(args.import_sizes)
            for r in import_growth(n, args.batch_over, log, formats, stores, max(args.runs, 1), args.baseline, args.dsn)
        ]
    )

    if reads:
        print("\nbbox read of ~1,000 features, in process (CPU medians of", args.queries, "queries), ms")
        print(
            f"{'features':>12} {'file MB':>8} {'query HEAD':>11} {'HEAD~50':>8} {'index HEAD':>11} {'HEAD~50':>8}"
            "  index built in"
        )
        for r in reads:
            h, o = r["HEAD"], r["HEAD~50"]
            hi, oi = r.get("HEAD index"), r.get("HEAD~50 index")
            idx = (
                f"{hi['cpu_median_ms']:>11.2f} {oi['cpu_median_ms']:>8.2f}  {r['index_build_s']:.1f} s"
                if hi and oi
                else f"{'-':>11} {'-':>8}  {r.get('index', '-')}"
            )
            print(f"{r['features']:>12,} {r['file_mb']:>8.0f} {h['cpu_median_ms']:>11.2f} {o['cpu_median_ms']:>8.2f} {idx}")
    if imports:
        runs = max(args.runs, 1)
        print(
            "\nimport (venue-twin import, end to end, one child process each"
            + (f"; medians of {runs} runs" if runs > 1 else "")
            + (f"; before = {args.baseline}" if args.baseline else "")
            + ")"
        )
        print(
            f"{'features':>12} {'format':<11} {'store':<8} {'code':<7} {'file MB':>8} {'seconds':>8} {'CPU s':>7} "
            f"{'features/s':>11} {'per CPU s':>10} {'peak MB':>8}  batch"
        )
        for r in imports:
            peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] else "?"
            print(
                f"{r['features']:>12,} {r['format']:<11} {r['store']:<8} {r['code'] or '-':<7} {r['file_mb']:>8.0f} "
                f"{r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} {r['features_per_s']:>11,.0f} "
                f"{r['features'] / r['cpu_s']:>10,.0f} {peak:>8}  {r['batch'] or '-'}{'' if r['ok'] else '  FAILED'}"
            )
    floors = [r for r in imports if r.get("floor") and r["code"] in (None, "after")]
    if floors:
        print(
            "\nimport floor on the embedded store: start-up (python + import pyogrio) and the store's durable\n"
            "write of the encoded versions (bench.growth.import_floor), beside the import; the rest is read +\n"
            "validate + encode + bookkeeping"
        )
        print(
            f"{'features':>12} {'format':<11} {'start-up s':>10} {'write s':>8} {'floor s':>8} {'floor/s':>9} "
            f"{'import s':>9} {'rest s':>7}"
        )
        for r in floors:
            f = r["floor"]
            low = f["startup_s"] + f["store_write_s"]
            print(
                f"{r['features']:>12,} {r['format']:<11} {f['startup_s']:>10.2f} {f['store_write_s']:>8.2f} {low:>8.2f} "
                f"{r['features'] / low:>9,.0f} {r['wall_s']:>9.2f} {r['wall_s'] - low:>7.2f}"
            )
    out = bench_dir() / "results-growth.json"
    out.write_text(json.dumps({"machine": m, "bbox": reads, "import": imports}, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
