"""API throughput against the stack's limit: 8 concurrent clients on loopback, the real server, the
1M-feature twin, and in the same run constant bytes of the same sizes through the same stack.

    python -m bench.api_bench [--features N] [--seconds S] [--workers W] [--reads bbox,item]

The server is uvicorn with api.server's protocol (uvloop + httptools, as `venue-twin serve` runs
it) and W worker processes (2 by default, one per core) serving bench.stack_app: the product's app
on the cached big twin (bench/cache.py) plus routes that answer constant bytes. The load comes from
`wrk` (Debian's package; C, so the client takes little of the two cores) with 8 connections, each
request drawn from a list of distinct URLs (random bboxes sized to return about 1,000 features, or
random feature ids).

The stack's limit for a read is the rate at which the same server answers a constant body of the
same size (the mean size of that read's answers) from an `async` route, measured just before and
just after that read (the mean of the two, so a load that drifts on a shared machine skews less): what uvicorn, Starlette,
FastAPI and the app's middleware cost with no twin work at all. Each read is printed as a share of
it, with the issue's target share (issue 13: bbox ≥ 30 %, single feature ≥ 60 %). The same body
from a plain `def` route (FastAPI's thread pool, where the twin's reads run) is printed too: the
difference is the cost of the hop. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from bench.cache import get_big_twin
from bench.common import CONNECTIONS, api_server, machine, print_machine, wrk
from bench.synth import GRID

TARGET_SHARES = {"bbox": 0.30, "item": 0.60}  # of the stack's limit for the same body size (issue 13)


def _mean_size(base: str, paths: list[str]) -> int:
    sizes = []
    for p in paths:
        with urllib.request.urlopen(base + p) as r:
            sizes.append(len(r.read()))
    return int(np.mean(sizes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reads", default="bbox,item", help="which kinds of read to load: bbox, item or both")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    m = machine()
    print_machine(m)
    big = get_big_twin(args.features)
    grid = big.grid
    from twin import Twin

    with Twin.open(big.path) as twin:
        old = twin.resolve("HEAD~50").commit
        assert old is not None
        old_id = old.id
        n_commits = twin.commit_count()
    rng = np.random.default_rng(21)
    boxes = grid.random_bboxes(400, 1000, seed=22)
    ids = [grid.fid(int(i)) for i in rng.integers(0, grid.n, 2000)]
    items = f"/collections/{GRID.name}/items"

    def bbox_paths(version: str | None) -> list[str]:
        v = f"&version={version}" if version else ""
        return [f"{items}?bbox={b[0]:.7f},{b[1]:.7f},{b[2]:.7f},{b[3]:.7f}&limit=1000{v}" for b in boxes]

    reads = {
        "bbox ~1k features, head": ("bbox", bbox_paths(None)),
        "bbox ~1k features, as of HEAD~50": ("bbox", bbox_paths(old_id)),
        "single feature by id, head": ("item", [f"{items}/{i}" for i in ids]),
        "single feature by id, as of HEAD~50": ("item", [f"{items}/{i}?version={old_id}" for i in ids]),
    }
    kinds = set(args.reads.split(","))
    if not kinds <= set(TARGET_SHARES):
        print(f"--reads takes bbox, item or both (got {args.reads})", file=sys.stderr)
        return 2
    reads = {name: read for name, read in reads.items() if read[0] in kinds}

    results: dict[str, dict] = {}  # type: ignore[type-arg]
    with (
        tempfile.TemporaryDirectory(prefix="venue-twin-api-bench-") as tmp,
        api_server(str(big.path), args.workers, app="bench.stack_app:app") as base,
    ):
        with urllib.request.urlopen(base + bbox_paths(None)[0]) as r:
            doc = json.load(r)
        # One body size per kind of read (its answers at the head; as of HEAD~50 they are alike).
        kind_size: dict[str, int] = {}
        for kind, paths in reads.values():
            if kind not in kind_size:
                kind_size[kind] = _mean_size(base, paths[:20])
        sizes = {name: kind_size[kind] for name, (kind, _) in reads.items()}
        print(
            f"\nserver: uvicorn (uvloop, httptools), {args.workers} workers, bench.stack_app (the product's app "
            f"and middleware); load: wrk, {CONNECTIONS} connections, {args.seconds} s each"
        )
        print(f"data: {grid.n:,} features in one layer, {n_commits} commits; a bbox answer holds "
              f"{doc['numberReturned']} features ({(kind_size.get('bbox') or _mean_size(base, bbox_paths(None)[:20])) / 1e3:.0f} KB)\n")  # fmt: skip

        def run(name: str, paths: list[str]) -> dict:  # type: ignore[type-arg]
            wrk(base, paths[:50], 2, Path(tmp))  # warm the caches and the workers
            r = wrk(base, paths, args.seconds, Path(tmp))
            bad = f"  ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
            print(f"{name:<46} {r['requests_per_s']:>8.0f} req/s  p50 {r['latency_p50']:>8}  "
                  f"p99 {r['latency_p99']:>8}{bad}", flush=True)  # fmt: skip
            return r

        for size in sorted(set(sizes.values())):
            # The hop's cost: the same body from an async route and from a thread-pool route.
            results[f"stack limit {size} bytes"] = run(
                f"stack's limit: {size:,} constant bytes, async", [f"/_bench/bytes/{size}"]
            )
            results[f"stack limit {size} bytes, thread pool"] = run(
                "  the same from a thread-pool (def) route", [f"/_bench/bytes-pooled/{size}"]
            )
        print()
        for name, (kind, paths) in reads.items():
            # The limit is measured right before and right after each read, and averaged: on a
            # shared machine the load drifts, and a share is only fair between neighbours in time.
            size = sizes[name]
            before = run(f"  stack's limit, {size:,} bytes (before)", [f"/_bench/bytes/{size}"])
            r = run(name, paths)
            after = run(f"  stack's limit, {size:,} bytes (after)", [f"/_bench/bytes/{size}"])
            limit = (before["requests_per_s"] + after["requests_per_s"]) / 2
            r["body_bytes"] = size
            r["stack_limit_requests_per_s"] = limit
            r["stack_limit_runs"] = [before, after]
            r["share_of_limit"] = r["requests_per_s"] / limit
            r["target_share"] = TARGET_SHARES[kind]
            r["target_met"] = r["share_of_limit"] >= TARGET_SHARES[kind]
            results[name] = r

    print(f"\n{'read':<40} {'req/s':>8} {'limit':>8} {'share':>7}  target")
    for name in reads:
        r = results[name]
        mark = "met" if r["target_met"] else "MISSED"
        print(f"{name:<40} {r['requests_per_s']:>8.0f} {r['stack_limit_requests_per_s']:>8.0f} "
              f"{r['share_of_limit']:>6.0%}  ≥ {r['target_share']:.0%}: {mark}")  # fmt: skip
    if "bbox" in kinds:
        head, asof = results["bbox ~1k features, head"], results["bbox ~1k features, as of HEAD~50"]
        print(f"as of HEAD~50 / head (bbox): {asof['requests_per_s'] / head['requests_per_s']:.0%} (target ≥ 90 %)")
    out = big.path.parent / "results-api.json"
    out.write_text(json.dumps({"machine": m, "features": grid.n, "results": results}, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
