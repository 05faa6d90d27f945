"""The big edited twin, built once and kept in the bench directory.

Recipe for a grid of N features (N = 1,000,000 by default):
  seq 1 .. 10       add the grid in ten commits of N/10 features (100,000 of 1M)
  seq 11            one commit modifying N/10 random features (moved and re-attributed)
  seq 12 .. 61      fifty commits each modifying 0.3 % of the features (3,000 of 1M): moves,
                    resizes and property changes of random features, so versions pile up
so HEAD~50 is the grid just after the big modification, and the head is 50 commits of edits
later. The diff benchmark uses HEAD~52..HEAD~51 (one commit of N/10 adds), HEAD~51..HEAD~50
(one commit of N/10 modifications) and HEAD~50..HEAD~16 (34 commits, N/10 + 2 % modifications).

The file is keyed on a hash of the store and encoding code (and this recipe): when either
changes, the next run rebuilds it. Building is done under a temporary name and renamed, so an
interrupted build never leaves a twin that looks complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.common import REPO, Timing, timed
from bench.synth import AREA_OF_INTEREST, GRID, Grid

RECIPE = "grid-v3"  # bump when the recipe below changes
SMALL_COMMITS = 50
ADD_COMMITS = 10
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # commit times: one hour apart from here


def bench_dir() -> Path:
    d = Path(os.environ.get("VENUE_TWIN_BENCH_DIR") or "/tmp/venue-twin-bench")
    d.mkdir(parents=True, exist_ok=True)
    return d


def code_key() -> str:
    """What the cached file's content depends on: the recipe, the encoding of versions, and the
    store's file format. The format marker, not the whole store module: the store refuses a file
    of another format, and bumps the marker whenever its layout changes, so editing how the store
    reads (which is what the benchmarks measure) does not throw away a twin that takes minutes to
    build."""
    import re

    h = hashlib.sha256(RECIPE.encode())
    h.update(b"\0twin/encoding.py\0" + (REPO / "twin/encoding.py").read_bytes())
    gpkg = (REPO / "twin/stores/gpkg.py").read_text()
    marker = re.search(r'^FORMAT_VERSION = "([^"]+)"', gpkg, re.M)
    h.update(b"\0gpkg format\0" + (marker.group(1) if marker else gpkg).encode())
    return h.hexdigest()[:16]


@dataclass
class BigTwin:
    path: Path
    meta: dict[str, Any]
    grid: Grid  # the grid's layout (ids, cell size); positions are as first added
    cached: bool

    @property
    def n(self) -> int:
        return int(self.meta["features"])


def _plan(n: int) -> tuple[int, int]:
    """(features per add commit, features per edit commit)."""
    return max(n // ADD_COMMITS, 1), max(n * 3 // 1000, 1)


def _files(path: Path) -> list[Path]:
    return [path, Path(str(path) + "-wal"), Path(str(path) + "-shm"), path.with_suffix(".json")]


def get_big_twin(n: int, *, rebuild: bool = False, log: Any = print) -> BigTwin:
    """The cached twin for n features, built first if missing or stale. Another benchmark run
    building the same twin at the same time is waited for (a lock file in the bench dir)."""
    d = bench_dir()
    with open(d / f"grid-{n}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another benchmark run that is building the {n:,}-feature twin")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _get_big_twin(d, n, rebuild, log)


def _get_big_twin(d: Path, n: int, rebuild: bool, log: Any) -> BigTwin:
    from twin import Twin

    key = code_key()
    path = d / f"grid-{n}-{key}.gpkg"
    meta_path = path.with_suffix(".json")
    if not rebuild and path.exists() and meta_path.exists():
        meta = orjson.loads(meta_path.read_bytes())
        log(
            f"using cached twin {path} ({meta['file_bytes'] / 1e6:.0f} MB, built in {meta['build_s']:.0f} s "
            f"on {meta['built_at']})"
        )
        return BigTwin(path, meta, Grid.make(n), cached=True)

    for old in d.glob(f"grid-{n}-*.gpkg"):
        if old != path:
            log(f"removing stale cached twin {old.name} (store or encoding code changed)")
            for f in _files(old):
                f.unlink(missing_ok=True)
    tmp = d / f"building-grid-{n}-{key}.gpkg"
    for f in [*_files(tmp), *_files(path)]:
        f.unlink(missing_ok=True)

    batch, small = _plan(n)
    big = batch
    log(
        f"building the {n:,}-feature twin at {path} (adds in commits of {batch:,}, one commit of {big:,} "
        f"modifications, then {SMALL_COMMITS} commits of {small:,}); this takes several minutes the first time"
    )
    grid = Grid.make(n)
    seq = 0
    add_s: list[Timing] = []
    small_s: list[Timing] = []
    t_start = time.perf_counter()
    twin = Twin.create(tmp, [GRID], AREA_OF_INTEREST)
    try:

        def commit(changes: list[Any], message: str) -> Timing:
            nonlocal seq
            seq += 1
            return timed(lambda: twin.commit(changes, author="bench", message=message, time=T0 + timedelta(hours=seq)))[
                0
            ]

        for start in range(0, n, batch):
            stop = min(start + batch, n)
            add_s.append(commit(grid.adds(start, stop), f"add grid features {start:,}-{stop - 1:,}"))
            log(f"  seq {seq}: added {stop - start:,} features in {add_s[-1].wall:.1f} s (CPU {add_s[-1].cpu:.1f} s)")
        big_t = commit(grid.edits(big), f"modify {big:,} features")
        log(f"  seq {seq}: modified {big:,} features in {big_t.wall:.1f} s (CPU {big_t.cpu:.1f} s)")
        for i in range(SMALL_COMMITS):
            small_s.append(commit(grid.edits(small), f"edit {small:,} features ({i + 1}/{SMALL_COMMITS})"))
            if (i + 1) % 10 == 0:
                log(
                    f"  seq {seq}: {i + 1} edit commits, median {np.median([t.wall for t in small_s]):.2f} s each "
                    f"(CPU {np.median([t.cpu for t in small_s]):.2f} s)"
                )
        head = twin.head()
        assert head is not None
    finally:
        twin.close()
    build_s = time.perf_counter() - t_start
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    meta = {
        "features": n,
        "recipe": RECIPE,
        "code_key": key,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_s": build_s,
        "file_bytes": path.stat().st_size,
        "commits": seq,
        "head_seq": head.seq,
        "add_commit_features": batch,
        "big_modify_features": big,
        "big_modify_commit_s": [big_t.wall],
        "big_modify_commit_cpu_s": [big_t.cpu],
        "small_commit_features": small,
        "small_commits": SMALL_COMMITS,
        "add_commit_s": [t.wall for t in add_s],
        "add_commit_cpu_s": [t.cpu for t in add_s],
        "small_commit_s": [t.wall for t in small_s],
        "small_commit_cpu_s": [t.cpu for t in small_s],
    }
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    log(f"built in {build_s:.0f} s: {meta['file_bytes'] / 1e6:.0f} MB")
    return BigTwin(path, meta, Grid.make(n), cached=False)
