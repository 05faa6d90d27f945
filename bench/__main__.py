"""`python -m bench`: run the benchmarks, print a table and write results.json to the bench dir
($VENUE_TWIN_BENCH_DIR, default /tmp/venue-twin-bench; partial runs write results-<groups>.json).

Targets (medians; timings are reported, never asserted):
  import  100,000 polygons, read_layer_file + Twin.commit into a fresh twin   ≥ 50,000/s (GeoPackage),
          and `venue-twin import` end to end                                 ≥ 35,000/s (GeoJSON)
  bbox    ~1,000 features from a 1,000,000-feature layer, at HEAD and HEAD~50  ≤ 2 ms
(issue 13; `python -m bench.growth` prints how they grow with the data, `python -m bench.api_bench`
the API's reads as shares of the server stack's limit)
  diff    two commits 100,000 changes apart                                   ≤ 3 s
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import bbox_bench, diff_bench, import_bench
from bench.cache import bench_dir, code_key, get_big_twin
from bench.common import Result, Timing, fmt_s, load, machine, print_load, print_machine, print_table, profile_to

GROUPS = ("import", "bbox", "diff")
SIZES = {
    # name: (import features, grid features, bbox queries per ref, import runs, diff runs)
    "full": (100_000, 1_000_000, 200, 5, 5),
    "quick": (10_000, 100_000, 50, 3, 3),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (10k import, 100k grid)")
    p.add_argument(
        "--only",
        action="append",
        metavar="GROUP",
        help="run only these groups: import, bbox, diff (repeat or comma-separate)",
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached big twin even if it is current")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run each benchmark that misses its target once more under cProfile and print the top",
    )
    p.add_argument("--no-cli", action="store_true", help="skip the end-to-end `venue-twin import` runs")
    p.add_argument("--runs", type=int, help="repeats for import and diff (default 5, quick 3)")
    p.add_argument("--queries", type=int, help="bbox queries per version (default 200, quick 50)")
    args = p.parse_args(argv)
    only: list[str] = []
    for item in args.only or []:
        only += [g.strip() for g in item.split(",") if g.strip()]
    bad = [g for g in only if g not in GROUPS]
    if bad:
        p.error(f"--only takes {', '.join(GROUPS)}; not {', '.join(bad)}")
    args.groups = [g for g in GROUPS if not only or g in only]
    return args


def build_results(big: Any) -> list[Result]:
    m = big.meta
    when = "built now" if not big.cached else f"cached, built {m['built_at']}"
    size = f"{m['features']:,} features, {m['commits']} commits, {m['file_bytes'] / 1e6:.0f} MB file"

    def timings(key: str) -> list[Timing]:
        cpu = m.get(key.replace("_s", "_cpu_s")) or [None] * len(m[key])
        return [Timing(w, c) for w, c in zip(m[key], cpu, strict=True)]

    return [
        Result("build", "build the big twin (whole recipe)", size, [Timing(m["build_s"])], extra={"note": when}),
        Result(
            "build",
            f"  commit of {m['add_commit_features']:,} adds (layer growing to {m['features']:,})",
            size,
            timings("add_commit_s"),
            extra={"note": when},
        ),
        Result(
            "build",
            f"  commit of {m['big_modify_features']:,} modifications on the full layer",
            size,
            timings("big_modify_commit_s"),
            extra={"note": when},
        ),
        Result(
            "build",
            f"  commit of {m['small_commit_features']:,} modifications on the full layer",
            size,
            timings("small_commit_s"),
            extra={"note": when},
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup: list[Path] = []
    try:
        return run(args, argv, cleanup)
    finally:
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)


def run(args: argparse.Namespace, argv: list[str] | None, cleanup: list[Path]) -> int:
    mode = "quick" if args.quick else "full"
    n_import, n_grid, queries, runs, diff_runs = SIZES[mode]
    runs = args.runs or runs
    diff_runs = args.runs or diff_runs
    queries = args.queries or queries
    out_dir = bench_dir()
    m = machine()
    print_machine(m)
    load_before = load()
    print_load("before", load_before)
    key = code_key()  # of the store code as this run found it (others may edit it meanwhile)
    print(f"mode: {mode}; groups: {', '.join(args.groups)}; bench dir: {out_dir}; store code key {key}")
    print()

    results: list[Result] = []
    skipped: dict[str, str] = {}
    started = time.perf_counter()

    def guarded(group: str, fn: Any) -> Any:
        """Run one group; if it fails (the code under test is being edited), say so and go on."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - report any failure of the code under test, keep going
            skipped[group] = f"FAILED: {type(e).__name__}: {e}"
            log(f"{group}: FAILED\n{traceback.format_exc()}")
            return None

    if "import" in args.groups:
        why = import_bench.io_available()
        if why:
            skipped["import"] = f"layers.io.read_layer_file is not importable ({why})"
            log(f"import: skipped: {skipped['import']}")
        else:
            work = Path(tempfile.mkdtemp(prefix="import-", dir=out_dir))
            cleanup.append(work)  # kept until the end: --profile reruns an import from its files
            results += (
                guarded("import", lambda: import_bench.run(work, n_import, runs, cli=not args.no_cli, log=log)) or []
            )
            gc.collect()

    big = None
    if "bbox" in args.groups or "diff" in args.groups:
        big = guarded("build", lambda: get_big_twin(n_grid, rebuild=args.rebuild, log=log))
        if big is not None:
            results += build_results(big)
    if "bbox" in args.groups and big is not None:
        results += guarded("bbox", lambda: bbox_bench.run(big, queries, log=log)) or []
        gc.collect()
    if "diff" in args.groups and big is not None:
        results += guarded("diff", lambda: diff_bench.run(big, diff_runs, log=log)) or []
        gc.collect()

    load_after = load()
    print()
    print_table(results)
    for g, why in skipped.items():
        print(f"{g}: NOT MEASURED — {why}")

    missed = [r for r in results if r.met is False]
    print()
    targets = [r for r in results if r.met is not None]
    print(
        f"targets met: {sum(1 for r in targets if r.met)}/{len(targets)}"
        + (
            f"; missed: {', '.join(f'{r.group}: {r.name.strip()} ({fmt_s(r.median)})' for r in missed)}"
            if missed
            else ""
        )
    )

    profiles: dict[str, str] = {}
    if args.profile:
        for i, r in enumerate(missed):
            if r.profile is None:
                continue
            path = out_dir / f"profile-{mode}-{i}-{r.group}.prof"
            log(f"profiling {r.group}: {r.name.strip()} -> {path}")
            text = _profile(r, path)
            profiles[f"{r.group}: {r.name.strip()}"] = str(path)
            print(f"\n===== profile of {r.group}: {r.name.strip()} (saved to {path}) =====")
            print(text)

    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "sizes": {
            "import_features": n_import,
            "grid_features": n_grid,
            "bbox_queries_per_ref": queries,
            "import_runs": runs,
            "diff_runs": diff_runs,
        },
        "machine": m,
        "load_before": load_before,
        "load_after": load_after,
        "store_code_key": key,
        "store_code_changed_during_run": code_key() != key,
        "big_twin": {"path": str(big.path), "cached": big.cached, **big.meta} if big else None,
        "results": [r.to_dict() for r in results],
        "skipped": skipped,
        "profiles": profiles,
        "wall_s": time.perf_counter() - started,
    }
    # A full run of every group is results.json; partial and quick runs get their own names, so
    # they never overwrite the last complete figures.
    parts = ([] if mode == "full" else ["quick"]) + ([] if len(args.groups) == len(GROUPS) else args.groups)
    path = out_dir / ("results" + "".join("-" + x for x in parts) + ".json")
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    print()
    if doc["store_code_changed_during_run"]:
        print(
            "note: twin/stores/gpkg.py or twin/encoding.py changed while this ran; the figures are for the code "
            f"as it was at the start (key {key}), and the next run rebuilds the cached twin"
        )
    print_load("before", load_before)
    print_load("after", load_after, own=1.0)
    print(f"\nresults written to {path}")
    return 0


def _profile(r: Result, path: Path) -> str:
    assert r.profile is not None
    try:
        return profile_to(r.profile, path)
    except Exception as e:  # noqa: BLE001 - e.g. the twin the closure used is closed: say so
        return f"(could not profile: {type(e).__name__}: {e})"


if __name__ == "__main__":
    raise SystemExit(main())
