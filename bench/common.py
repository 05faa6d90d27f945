"""Timing, statistics, machine description and the results table shared by every benchmark."""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- timing
class Timing(NamedTuple):
    """Wall-clock seconds (what targets are about) and this process's CPU seconds over the same
    span: CPU time barely moves when other work competes for the cores, so it tells what the
    code costs on an idle machine when wall times are inflated by a busy one."""

    wall: float
    cpu: float | None = None  # None where it was not measured (e.g. builds cached before it was)

    def __add__(self, other: object) -> Timing:  # type: ignore[override]
        assert isinstance(other, Timing)
        cpu = None if self.cpu is None or other.cpu is None else self.cpu + other.cpu
        return Timing(self.wall + other.wall, cpu)


def timed(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    """How long one call takes (perf_counter and process_time) and what it returned."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    t1, c1 = time.perf_counter(), time.process_time()
    return Timing(t1 - t0, c1 - c0), out


def repeat(fn: Callable[[], Any], runs: int, warmup: int = 0) -> list[Timing]:
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(runs)]


# ---------------------------------------------------------------------- child processes
def cli_path() -> str:
    """The venue-twin command beside this interpreter (else on PATH)."""
    exe = Path(sys.executable).with_name("venue-twin")
    return str(exe) if exe.exists() else shutil.which("venue-twin") or "venue-twin"


def run_child(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    """Wall time of a child process, and its CPU time (user + system) from the kernel's accounting."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t, proc = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd))
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(t.wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)), proc


# ---------------------------------------------------------------------- results
@dataclass
class Result:
    """One line of the report: timings of repeated runs, and the target the median is held to."""

    group: str  # import | bbox | diff | build
    name: str
    size: str  # the data size in words, e.g. "100,000 features"
    timings: list[Timing]
    target_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # counts returned, phase split, notes
    profile: Callable[[], Any] | None = field(default=None, repr=False)  # one representative run

    @property
    def samples(self) -> list[float]:
        return [t.wall for t in self.timings]

    @property
    def cpu_samples(self) -> list[float | None]:
        return [t.cpu for t in self.timings]

    @property
    def cpu_median(self) -> float | None:
        cpu = [c for c in self.cpu_samples if c is not None]
        return float(np.median(cpu)) if cpu else None

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def p95(self) -> float:
        # Linear interpolation between order statistics (numpy's default); with few runs this is
        # close to the maximum, which is the honest reading of "p95 of 5 runs".
        return float(np.percentile(self.samples, 95))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def met(self) -> bool | None:
        return None if self.target_s is None else self.median <= self.target_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "size": self.size,
            "runs": len(self.samples),
            "median_s": self.median,
            "p95_s": self.p95,
            "mean_s": self.mean,
            "min_s": min(self.samples),
            "max_s": max(self.samples),
            "target_s": self.target_s,
            "target_met": self.met,
            "cpu_median_s": self.cpu_median,
            "cpu_p95_s": float(np.percentile([c for c in self.cpu_samples if c is not None], 95))
            if self.cpu_median is not None
            else None,
            "samples_s": self.samples if len(self.samples) <= 60 else None,
            **({"extra": self.extra} if self.extra else {}),
        }


def fmt_s(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


def print_table(results: list[Result]) -> None:
    headers = ("benchmark", "size", "runs", "median", "p95", "cpu median", "target", "met", "notes")
    rows = []
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "MISSED")
        target = "-" if r.target_s is None else "≤ " + fmt_s(r.target_s)
        note = r.extra.get("note", "")
        cpu = "-" if r.cpu_median is None else fmt_s(r.cpu_median)
        rows.append(
            (f"{r.group}: {r.name}", r.size, str(len(r.samples)), fmt_s(r.median), fmt_s(r.p95), cpu, target, met, note)
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    group = None
    for r, row in zip(results, rows, strict=True):
        if group is not None and r.group != group:
            print()
        group = r.group
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def profile_to(fn: Callable[[], Any], path: Path, top: int = 18) -> str:
    """Run fn once under cProfile, save the stats to `path` and return the top lines as text."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    prof.dump_stats(str(path))
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf).strip_dirs()
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


# ---------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    # Porcelain lines are "XY path": two status columns and a space, so the path starts at 3.
    dirty = [line[3:] for line in run("status", "--porcelain", "--", "twin", "layers", "cli").splitlines() if line]
    return {"commit": run("rev-parse", "--short=12", "HEAD").strip() or None, "uncommitted_in_twin_layers_cli": dirty}


def machine() -> dict[str, Any]:
    import shapely

    try:
        import pyogrio

        gdal = pyogrio.__gdal_version_string__
    except ImportError:
        gdal = None
    try:
        import pyproj

        proj = pyproj.proj_version_str
    except ImportError:
        proj = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    ram = _ram_bytes()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "ram_gib": round(ram / 2**30, 1) if ram else None,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "geos": shapely.geos_version_string,
        "shapely": shapely.__version__,
        "numpy": np.__version__,
        "orjson": _version("orjson"),
        "gdal": gdal,
        "proj": proj,
        "pyogrio": _version("pyogrio"),
        "executable": sys.executable,
        "git": _git(),
    }


def load() -> dict[str, Any]:
    """Load averages and the busiest other processes: other work on the machine skews timings."""
    try:
        l1, l5, l15 = os.getloadavg()
    except OSError:
        return {}
    busy: list[str] = []
    try:
        ps = subprocess.run(
            ["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
        for line in ps:
            pid, cpu, cmd = line.split(None, 2)
            if int(pid) != os.getpid() and float(cpu) >= 10:
                busy.append(f"{cpu}% {cmd[:100]}")
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return {"load_1m": round(l1, 2), "load_5m": round(l5, 2), "load_15m": round(l15, 2), "busy_processes": busy[:5]}


def print_load(label: str, ld: dict[str, Any], own: float = 0.0) -> None:
    """`own`: how much of the load is the benchmark itself (about 1 once it has been running)."""
    if not ld:
        return
    cores = os.cpu_count() or 1
    busy = ld["load_1m"] - own > 0.5 * cores or ld["busy_processes"]
    warn = "  (BUSY: other work competes for the CPU; timings are pessimistic)" if busy else ""
    print(f"load {label}: {ld['load_1m']} / {ld['load_5m']} / {ld['load_15m']} (1/5/15 min) on {cores} cores{warn}")
    for p in ld["busy_processes"]:
        print(f"  busy: {p}")


def print_machine(m: dict[str, Any]) -> None:
    print(
        f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['ram_gib']} GiB RAM, {m['os']}\n"
        f"software: {m['python']}, SQLite {m['sqlite']}, GEOS {m['geos']}, shapely {m['shapely']}, "
        f"GDAL {m['gdal']}, PROJ {m['proj']}, numpy {m['numpy']}, orjson {m['orjson']}\n"
        f"code: git {m['git']['commit']}"
        + (
            f" + uncommitted changes in {len(m['git']['uncommitted_in_twin_layers_cli'])} file(s) of twin/layers/cli"
            if m["git"]["uncommitted_in_twin_layers_cli"]
            else ""
        )
    )


# ---------------------------------------------------------------------- HTTP load (wrk)
CONNECTIONS = 8  # concurrent clients of the API benchmarks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url}")


def _lua(paths: list[str]) -> str:
    # wrk calls request() for every request; cycling through distinct URLs keeps every request
    # a real query instead of one answer served from a warm cache line.
    items = ",\n".join(json.dumps(p) for p in paths)
    return (
        f"local paths = {{\n{items}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )


def wrk(base: str, paths: list[str], seconds: int, workdir: Path) -> dict[str, Any]:
    script = workdir / "paths.lua"
    script.write_text(_lua(paths))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "requests_per_s": rps,
        "latency_p50": lat.get("50"),
        "latency_p90": lat.get("90"),
        "latency_p99": lat.get("99"),
        "requests": int(requests.group(1)) if requests else None,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


@contextmanager
def api_server(
    store: str, workers: int, extra_env: dict[str, str] | None = None, app: str = "api.main:app"
) -> Iterator[str]:
    """The real API server (`uvicorn api.main:app` with api.server's protocol, as `venue-twin
    serve` runs it) on the twin at `store`, with `workers` processes; yields its base URL once it
    answers, and stops it on exit. `app` may name another app built on it (bench.stack_app)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VENUE_TWIN_STORE": store, **(extra_env or {})}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log",
         "--http", "api.server:GuardedHttpToolsProtocol"],
        cwd=REPO, env=env,
    )  # fmt: skip
    try:
        wait_http(base + "/conformance")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:  # busy finishing answers nobody waits for any more
            server.kill()
            server.wait(20)
