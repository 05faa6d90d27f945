"""Benchmark: the project register at city scale (issue 11 §4).

    python -m bench.register_scale [--sizes 500,2000,5000] [--runs 7] [--no-map]

For each size N it builds (once, cached in the bench dir) a synthetic season: N projects with
about 30 progress reports each (N = 5,000 gives about 150,000 reports), then serves the twin with
uvicorn and measures, at each N:

- ``GET /completion?by=area`` at the head (today): the first read after a new report (the
  snapshot is computed) and the median of repeated reads;
- one report ``POST /projects/{code}/progress`` (median over different projects);
- ``/maps/completion`` opening in Debian's headless Chromium (as web/bench_maps.py times it:
  navigation until the page engine reports idle), median of the runs after the first.

So the table shows how each cost grows with the register: the per-report cost must not.

The season (a generator of its own, deterministic by seed): opening day 2026-11-05, the season is
the 100 days before it. Each project starts in the first 20 days and is planned to finish 40–80
days later; its crew works at a rate drawn around the plan's (some slower, a few stalled for a
while). It reports every 2 days from its start until done, about 30 reports a project (150,000
reports over 5,000 projects in 100 days is one per project every 3.3 days, and many projects
finish early); 8 % of projects stop reporting part-way, so the
"reports missing" list is not empty. Reports are committed through the Twin facade with their
original dates (``Twin.commit(time=...)``), one commit per responsible unit per report day,
authored by the unit's reporter; the register's own rules check every one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely

from bench.cache import bench_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "register-v1"  # bump when the generator changes
OPENING = date(2026, 11, 5)
SEASON_START = OPENING - timedelta(days=100)
LAST_DAY = OPENING - timedelta(days=1)
EVERY = 2  # days between a project's reports (about 30 each: 150,000 over 5,000 projects)
PROJECTS_PER_UNIT = 50
SITE = (121.2925, 31.1875, 121.3025, 31.1955)
AREAS = ("south_plaza", "halls", "roads", "landscaping")
CATEGORIES = ("venue_renovation", "support_road", "city_appearance", "landscaping", "lighting")
UNITS_OF = {"venue_renovation": "m²", "support_road": "m", "city_appearance": "m²", "landscaping": "pots", "lighting": "lamps"}  # fmt: skip


def _at(day: date, hour: int, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, 0, tzinfo=UTC) + timedelta(seconds=second)


def build_register(path: Path, n: int, seed: int = 11) -> dict[str, Any]:
    """Write the synthetic season into a new twin at ``path``; returns its counts."""
    import completion  # noqa: F401 - registers the register's commit rule
    from layers.catalogue import AREA_OF_INTEREST, LAYERS
    from twin import Change, Feature, Twin

    rng = np.random.default_rng(seed)
    twin = Twin.create(path, LAYERS, AREA_OF_INTEREST)
    try:
        # the venue: a site and one flower bed per project, so the map colours N features
        side = int(n**0.5) + 1
        dx, dy = (SITE[2] - SITE[0]) / side, (SITE[3] - SITE[1]) / side
        site = Feature("site", shapely.box(*SITE), {"code": "SITE", "name_zh": "场馆用地", "name_en": "Venue site", "boundary_type": "site"})  # fmt: skip
        venue = [Change("venue_boundary", "add", "site", site)]
        for i in range(n):
            r, c = divmod(i, side)
            x, y = SITE[0] + c * dx, SITE[1] + r * dy
            fid = f"bed-{i:05d}"
            props = {"code": f"FB-{i:05d}", "name_zh": f"花坛 {i}", "name_en": f"Flower bed {i}", "kind": "flower_bed",
                     "responsible_unit": "bench", "pots": 100}  # fmt: skip
            venue.append(Change("landscaping", "add", fid, Feature(fid, shapely.box(x, y, x + dx * 0.8, y + dy * 0.8), props)))  # fmt: skip
        twin.commit(venue, author="bench", message=f"Venue with {n} flower beds", time=_at(SEASON_START - timedelta(days=10), 1))

        n_units = max(1, n // PROJECTS_PER_UNIT)
        records: list[dict[str, Any]] = []
        plans = []
        for k in range(n):
            unit = int(rng.integers(n_units))
            category = CATEGORIES[k % len(CATEGORIES)]
            start = SEASON_START + timedelta(days=int(rng.integers(0, 21)))
            finish = start + timedelta(days=int(rng.integers(40, 81)))
            finish = min(finish, OPENING - timedelta(days=5))
            pace = float(np.clip(rng.lognormal(0.0, 0.25), 0.4, 2.0))  # work done per planned day
            stall = (int(rng.integers(10, 70)), int(rng.integers(5, 25))) if rng.random() < 0.15 else None
            stops = int(rng.integers(30, 95)) if rng.random() < 0.08 else None  # day it stops reporting
            code = f"P-{k:05d}"
            records.append(
                {
                    "code": code, "name_zh": f"工程 {k}", "name_en": f"Project {k}", "category": category,
                    "area": AREAS[k % len(AREAS)], "features": [f"landscaping/bed-{k:05d}"],
                    "responsible_unit": f"责任单位 {unit:03d}", "responsible_person": f"责任人 {unit:03d}-{k % 3}",
                    "planned_start": start.isoformat(), "planned_finish": finish.isoformat(),
                    "quantity": float(rng.integers(10, 5000)), "quantity_unit": UNITS_OF[category],
                    "curve": "s_curve" if k % 4 == 0 else "linear",
                }  # fmt: skip
            )
            plans.append((start, finish, pace, stall, stops, unit))
        step = 1000
        for i in range(0, n, step):
            chunk = records[i : i + step]
            changes = [Change("projects", "add", r["code"], Feature(r["code"], None, r)) for r in chunk]
            twin.commit(changes, author="coordinator", message=f"Register {i + 1}–{i + len(chunk)}", time=_at(SEASON_START - timedelta(days=5), 2, i))  # fmt: skip

        # each project's reports: (day, percent)
        by_day: dict[date, dict[int, list[tuple[int, float]]]] = {}
        total = 0
        for k, (start, finish, pace, stall, stops, unit) in enumerate(plans):
            duration = (finish - start).days
            last = 0.0
            day = start
            while day <= LAST_DAY and last < 100.0:
                t = (day - SEASON_START).days
                if stops is not None and t >= stops:
                    break
                worked = (day - start).days
                if stall is not None and worked > stall[0]:
                    worked = max(stall[0], worked - stall[1])
                pct = min(100.0, round(100.0 * pace * worked / duration, 1))
                pct = max(pct, last)
                by_day.setdefault(day, {}).setdefault(unit, []).append((k, pct))
                last = pct
                total += 1
                day += timedelta(days=EVERY)

        commits = 0
        for day in sorted(by_day):
            for unit, reports in sorted(by_day[day].items()):
                changes = []
                for k, pct in reports:
                    rec = records[k]
                    rec.update(percent_complete=pct, progress_date=day.isoformat(), progress_reporter=f"reporter.{unit:03d}")  # fmt: skip
                    changes.append(Change("projects", "modify", rec["code"], Feature(rec["code"], None, dict(rec))))
                twin.commit(
                    changes,
                    author=f"reporter.{unit:03d}",
                    message=f"Progress of {len(changes)} projects on {day.isoformat()}",
                    time=_at(day, 2, unit),
                )
                commits += 1
        twin.flush()
        return {"projects": n, "reports": total, "report_commits": commits, "units": n_units}
    finally:
        twin.close()


def cached_register(n: int) -> tuple[Path, dict[str, Any], float]:
    """The season of ``n`` projects, built once under the bench dir (a build in progress is never reused)."""
    d = bench_dir() / "register"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{RECIPE}-{n}.gpkg"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return path, json.loads(meta_path.read_text()), 0.0
    part = path.with_suffix(".part.gpkg")
    part.unlink(missing_ok=True)
    t = time.perf_counter()
    meta = build_register(part, n)
    built = time.perf_counter() - t
    meta["build_s"] = round(built, 1)
    part.rename(path)
    meta_path.write_text(json.dumps(meta))
    return path, meta, built


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(store: Path, n: int, runs: int, with_map: bool) -> dict[str, Any]:
    from twin import Twin

    work = store.with_name(f"work-{n}.gpkg")
    _remove_copy(work)  # a write-ahead log left beside an old copy would corrupt the new one
    shutil.copyfile(store, work)
    with Twin.open(work) as twin:
        token = twin.tokens.create("bench.editor", "editor")
    port = _free_port()
    env = {**os.environ, "VENUE_TWIN_STORE": str(work)}
    log = open(work.with_suffix(".log"), "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"projects": n}
    try:
        with httpx.Client(base_url=base, timeout=600) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if http.get("/conformance").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.1)
            auth = {"Authorization": f"Bearer {token}"}

            def server_cpu() -> float:
                # the server's CPU seconds (user + system, 10 ms ticks): what a read costs when
                # other work on the machine stretches the wall-clock times
                fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

            def timed_get(path: str, **params: Any) -> float:
                t = time.perf_counter()
                r = http.get(path, params=params)
                assert r.status_code == 200, r.text[:300]
                return time.perf_counter() - t

            c = server_cpu()
            out["completion_first_s"] = timed_get("/completion", by="area")
            out["completion_first_cpu_s"] = server_cpu() - c
            out["completion_median_s"] = statistics.median(timed_get("/completion", by="area") for _ in range(runs))
            out["units_first_s"] = timed_get("/completion/units")
            posts, after = [], []
            post_cpu = 0.0
            open_projects = [p for p in http.get("/projects").json()["projects"] if p["percent"] < 99]
            c = server_cpu()
            for i in range(runs):
                now = open_projects[(i * 7919) % len(open_projects)]
                code = now["code"]
                body = {"percent": now["percent"] + 1.0, "note": f"bench report {i}"}
                c0, t = server_cpu(), time.perf_counter()
                r = http.post(f"/projects/{code}/progress", json=body, headers=auth)
                posts.append(time.perf_counter() - t)
                post_cpu += server_cpu() - c0
                assert r.status_code == 201, r.text[:300]
                after.append(timed_get("/completion", by="area"))  # the first read of the new head
            out["post_and_read_cpu_s"] = (server_cpu() - c) / runs  # one POST and the read after it
            out["post_cpu_s"] = post_cpu / runs  # mean (the clock ticks in 10 ms)
            out["post_median_s"] = statistics.median(posts)
            out["post_runs_s"] = [round(x, 4) for x in posts]
            out["completion_after_post_median_s"] = statistics.median(after)
            if with_map:
                out.update(_map_times(base, runs))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        _remove_copy(work)
    return out


def _remove_copy(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def _map_times(base: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from web.bench_maps import CHROMIUM

    url = f"{base}/maps/completion?date={LAST_DAY.isoformat()}&lang=zh"
    times: list[float] = []
    first = 0.0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        for i in range(runs + 1):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_function("window.VT && VT.isIdle && VT.isIdle()", timeout=300_000, polling=20)
            elapsed = time.perf_counter() - t
            if i == 0:
                first = elapsed
            else:
                times.append(elapsed)
            ctx.close()
        browser.close()
    return {"map_first_s": first, "map_median_s": statistics.median(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,2000,5000", help="Register sizes (projects), comma-separated.")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-map", action="store_true", help="Skip the map in headless Chromium.")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    results = []
    for n in sizes:
        store, meta, built = cached_register(n)
        how = f"built in {built:.0f} s" if built else f"cached; built in {meta['build_s']} s"
        print(f"register of {n:,} projects, {meta['reports']:,} reports in {meta['report_commits']:,} commits "
              f"({how}: {store})", flush=True)  # fmt: skip
        r = measure(store, n, args.runs, not args.no_map)
        results.append({**meta, **r})
    print(f"\nregister at scale — medians of {args.runs} runs; machine: {machine}")
    head = f"{'projects':>9} {'reports':>9} {'/completion':>12} {'after POST':>11} {'first':>8} {'POST':>8} {'cpu':>6} {'cpu+read':>9} {'cpu 1st':>8} {'map':>8} {'map 1st':>8}"
    print(head)
    for r in results:
        print(
            f"{r['projects']:>9,} {r['reports']:>9,} {r['completion_median_s'] * 1000:>9.0f} ms "
            f"{r['completion_after_post_median_s'] * 1000:>8.0f} ms {r['completion_first_s'] * 1000:>5.0f} ms "
            f"{r['post_median_s'] * 1000:>5.0f} ms {r['post_cpu_s'] * 1000:>3.0f} ms "
            f"{r['post_and_read_cpu_s'] * 1000:>6.0f} ms {r['completion_first_cpu_s']:>6.1f} s "
            + (f"{r['map_median_s']:>6.2f} s {r['map_first_s']:>6.2f} s" if "map_median_s" in r else "")
        )
    print("columns: /completion?by=area at the head (median of repeated reads; the first read after each report;")
    print("  the very first read, which reads the register's whole history), one report POST (wall, and the")
    print("  server's CPU for it alone and with the read after it), the server's CPU for the very first read,")
    print("  and the completion map in headless Chromium (median after the first open, and the first)")
    print("targets at 5,000 projects: /completion ≤ 300 ms, one report POST ≤ 100 ms, the map ≤ 3 s")
    print(json.dumps({"machine": machine, "results": results}, default=str))


if __name__ == "__main__":
    main()
