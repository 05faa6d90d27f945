"""API throughput: 8 concurrent clients on loopback against the real server over the 1M-feature twin.

    python -m bench.api_bench [--features N] [--seconds S] [--workers W]

The server is `uvicorn api.main:app` with api.server's protocol (as `venue-twin serve` runs it) and
W worker processes (2 by default, one per core) on the cached big twin (bench/cache.py); the load comes from `wrk` (Debian's package; C, so the client
takes little of the two cores) with 8 connections, each request drawn from a list of distinct
URLs (random bboxes sized to return about 1,000 features, or random feature ids). The figures are
requests per second and the latency median over the whole run; nothing is asserted.
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

TARGETS = {"bbox": 200.0, "item": 1500.0}  # requests per second, from the issue


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
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
        n_commits = twin.store.commit_count()
    rng = np.random.default_rng(21)
    boxes = grid.random_bboxes(400, 1000, seed=22)
    ids = [grid.fid(int(i)) for i in rng.integers(0, grid.n, 2000)]
    items = f"/collections/{GRID.name}/items"

    def bbox_paths(version: str | None) -> list[str]:
        v = f"&version={version}" if version else ""
        return [f"{items}?bbox={b[0]:.7f},{b[1]:.7f},{b[2]:.7f},{b[3]:.7f}&limit=1000{v}" for b in boxes]

    scenarios = {
        "bbox ~1k features, head": ("bbox", bbox_paths(None)),
        "bbox ~1k features, as of HEAD~50": ("bbox", bbox_paths(old_id)),
        "single feature by id, head": ("item", [f"{items}/{i}" for i in ids]),
        "single feature by id, as of HEAD~50": ("item", [f"{items}/{i}?version={old_id}" for i in ids]),
    }

    with (
        tempfile.TemporaryDirectory(prefix="venue-twin-api-bench-") as tmp,
        api_server(str(big.path), args.workers) as base,
    ):
        # How many features a bbox answer really holds (and that the answers are right).
        with urllib.request.urlopen(base + bbox_paths(None)[0]) as r:
            doc = json.load(r)
        print(f"\nserver: uvicorn, {args.workers} workers; load: wrk, {CONNECTIONS} connections, {args.seconds} s each")
        print(f"data: {grid.n:,} features in one layer, {n_commits} commits; a bbox answer holds "
              f"{doc['numberReturned']} features ({len(json.dumps(doc)) / 1e6:.2f} MB)\n")  # fmt: skip
        results = {}
        for name, (kind, paths) in scenarios.items():
            wrk(base, paths[:50], 3, Path(tmp))  # warm the caches and the workers
            r = wrk(base, paths, args.seconds, Path(tmp))
            r["target_requests_per_s"] = TARGETS[kind]
            r["target_met"] = r["requests_per_s"] >= TARGETS[kind]
            results[name] = r
            mark = "met" if r["target_met"] else "MISSED"
            print(f"{name:<40} {r['requests_per_s']:>8.0f} req/s  p50 {r['latency_p50']:>8}  "
                  f"p99 {r['latency_p99']:>8}  target ≥ {TARGETS[kind]:.0f}: {mark}"
                  f"{'  (' + str(r['non_2xx']) + ' non-2xx!)' if r['non_2xx'] else ''}")  # fmt: skip
    out = big.path.parent / "results-api.json"
    out.write_text(json.dumps({"machine": m, "features": grid.n, "results": results}, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
