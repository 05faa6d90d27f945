"""Import: read a file of synthetic parcels with layers.io.read_layer_file and commit it into a
fresh twin, the path `venue-twin import` takes; and the CLI itself, end to end, once."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.common import Result, Timing, cli_path, run_child, timed
from bench.synth import AREA_OF_INTEREST, PARCELS, parcels, write_geojson, write_gpkg

# issue 13: 100,000 polygons at >= 50,000 features/s from GeoPackage, >= 35,000/s from GeoJSON
RATE_TARGETS = {"GeoPackage": 50_000, "GeoJSON": 35_000}


def io_available() -> str | None:
    """None when layers.io.read_layer_file can be imported, else why not."""
    try:
        from layers.io import read_layer_file  # noqa: F401
    except Exception as e:  # noqa: BLE001 - anything that stops the import is a reason to skip
        return f"{type(e).__name__}: {e}"
    return None


def run(workdir: Path, n: int, runs: int, cli: bool = True, log: Any = print) -> list[Result]:
    from layers.io import read_layer_file
    from twin import Change, Twin

    workdir.mkdir(parents=True, exist_ok=True)
    log(f"import: writing {n:,} synthetic parcels as GeoJSON and GeoPackage to {workdir} (not timed)")
    geoms, props = parcels(n)
    files = {"GeoJSON": workdir / "parcels.geojson", "GeoPackage": workdir / "parcels.gpkg"}
    t0 = time.perf_counter()
    write_geojson(files["GeoJSON"], geoms, props)
    write_gpkg(files["GeoPackage"], geoms, props)
    log(
        f"  written in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {p.stat().st_size / 1e6:.0f} MB" for k, p in files.items())
    )
    del geoms, props

    out: list[Result] = []
    layer = PARCELS.name
    for fmt, path in files.items():
        size = f"{n:,} polygons, {fmt} {path.stat().st_size / 1e6:.0f} MB"
        total: list[Timing] = []
        read: list[Timing] = []
        commit: list[Timing] = []
        for i in range(runs):
            store = workdir / f"twin-{fmt.lower()}-{i}.gpkg"
            _unlink_store(store)
            twin = Twin.create(store, [PARCELS], AREA_OF_INTEREST)
            try:
                schema = twin.layer(layer)
                t_read, res = timed(lambda path=path, schema=schema: read_layer_file(path, schema))
                ignored, source_crs = list(res.ignored_columns), str(res.source_crs)
                changes = [Change(layer, "upsert", f.id, f) for f in res.features]
                t_commit, info = timed(
                    lambda changes=changes, twin=twin, path=path: twin.commit(
                        changes, author="bench", message=f"Import {path.name} into {layer} (upsert)"
                    )
                )
                got = info.counts.get(layer, {}).get("added", 0)
                if got != n:
                    raise RuntimeError(f"import of {path.name} added {got} features, expected {n}")
            finally:
                twin.close()
            _unlink_store(store)
            read.append(t_read)
            commit.append(t_commit)
            total.append(t_read + t_commit)
            log(
                f"  {fmt} run {i + 1}/{runs}: read {t_read.wall:.2f} s + commit {t_commit.wall:.2f} s "
                f"= {t_read.wall + t_commit.wall:.2f} s (CPU {(t_read + t_commit).cpu:.2f} s)"
            )
            del res, changes

        def profile_once(path: Path = path, fmt: str = fmt) -> None:
            store = workdir / f"twin-profile-{fmt.lower()}.gpkg"
            _unlink_store(store)
            with Twin.create(store, [PARCELS], AREA_OF_INTEREST) as twin:
                res = read_layer_file(path, twin.layer(layer))
                twin.commit([Change(layer, "upsert", f.id, f) for f in res.features], author="bench", message="p")
            _unlink_store(store)

        extra = {
            "ignored_columns": ignored,
            "source_crs": source_crs,
            "note": f"from {source_crs}; ignored columns: {', '.join(ignored) or 'none'}",
        }
        target = n / RATE_TARGETS[fmt]
        out.append(Result("import", f"read + commit, {fmt}", size, total, target, extra=extra, profile=profile_once))
        out.append(Result("import", f"  read_layer_file, {fmt}", size, read, None))
        out.append(Result("import", f"  Twin.commit, {fmt}", size, commit, None))

    if cli:
        # What every CLI run pays before reading a byte: interpreter start-up and imports.
        startup = [run_child([cli_path(), "--help"], dict(os.environ))[0] for _ in range(3)]
        out.append(
            Result(
                "import",
                "CLI start-up (venue-twin --help)",
                "-",
                startup,
                None,
                extra={"note": "interpreter start-up and imports, part of each CLI run"},
            )
        )
        for fmt, path in files.items():
            store = workdir / f"twin-cli-{fmt.lower()}.gpkg"
            _unlink_store(store)
            Twin.create(store, [PARCELS], AREA_OF_INTEREST).close()
            cmd = [cli_path(), "import", str(path), "--layer", layer, "--store", str(store)]
            env = {**os.environ, "VENUE_TWIN_AUTHOR": "bench"}
            t, proc = run_child(cmd, env)
            log(
                f"  CLI {fmt}: {t.wall:.2f} s (CPU {t.cpu:.2f} s), exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[:300]}"
            )
            with Twin.open(store) as twin:
                count = twin.count(layer)
            _unlink_store(store)
            extra = {
                "command": " ".join(cmd),
                "exit_code": proc.returncode,
                "features_after": count,
                "output": (proc.stdout + proc.stderr).strip()[-2000:],
                "note": "once, includes interpreter start-up"
                if proc.returncode == 0 and count == n
                else f"FAILED: exit {proc.returncode}, {count} features",
            }
            target = n / RATE_TARGETS[fmt]
            out.append(Result("import", f"CLI venue-twin import, {fmt}", f"{n:,} polygons", [t], target, extra=extra))
    return out


def _unlink_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
