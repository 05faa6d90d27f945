"""`python -m bench.intake_bench`: spreadsheet intake at city scale.

For each register size (default 500, 2,000 and 5,000 projects) it writes one Excel workbook with
the register and a 100-day season of reports (30 per project: 150,000 at 5,000 projects), then
into a fresh embedded twin:

- imports the register sheet (read + check + one commit), target ≤ 30 s at 5,000 projects;
- imports the report sheet with original dates through completion.intake (read, check against
  the register read once, one commit per unit per report date), and reports the cost per report:
  the median over the commits of (commit time / reports in it), and the whole import / reports.

The per-report cost must not grow with the number of projects. Prints data sizes and the machine.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import Timing, machine, print_machine, timed
from completion.intake import (
    commit_reports,
    import_register,
    plan_reports,
    read_sheet,
    recorded_time,
    report_rows,
)
from completion.reports import SHANGHAI
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Twin

REGISTER_HEADERS = [
    "项目编号",
    "项目名称",
    "类别",
    "片区",
    "责任单位",
    "责任人",
    "计划开始",
    "计划完成",
    "工程量",
    "单位",
]
REPORT_HEADERS = ["项目编号", "日期", "完成百分比", "备注", "填报人"]
AREAS = ["南广场", "展馆", "道路", "绿化"]
SEASON_START = date(2026, 7, 28)  # T-100 of the 2026 expo
SEASON_DAYS = 100
UNITS = 20


def write_workbook(path: Path, projects: int, reports_per_project: int, seed: int = 1) -> int:
    """The register and its season in one workbook (openpyxl, write-only); returns the report count."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    rnd = random.Random(seed)
    book = Workbook(write_only=True)
    reg = book.create_sheet("项目清单")
    rep = book.create_sheet("进度填报")
    reg.append(REGISTER_HEADERS)
    rep.append(REPORT_HEADERS)
    step = SEASON_DAYS / reports_per_project
    n = 0
    for i in range(projects):
        unit = f"责任单位{i % UNITS:02d}"
        finish = SEASON_START + timedelta(days=rnd.randrange(60, SEASON_DAYS))
        code = f"P{i:05d}"
        reg.append([code, f"项目{i}", "venue_renovation", AREAS[i % 4], unit, f"负责人{i % 97}", SEASON_START,
                    finish, rnd.randrange(100, 10000), rnd.choice(["m2", "平方米", "m", "盏"])])  # fmt: skip
        pct = 0.0
        for k in range(reports_per_project):
            pct = min(100.0, pct + rnd.uniform(0, 200 / reports_per_project))
            # a percent cell, as a unit's workbook has it (a plain 0.5 or 1 is refused: 0.5 % or 50 %?)
            figure = WriteOnlyCell(rep, value=round(pct, 1) / 100)
            figure.number_format = "0.0%"
            rep.append([code, SEASON_START + timedelta(days=int(k * step)), figure, None, f"{unit}联络员"])
            n += 1
    book.save(path)
    return n


def one_size(workdir: Path, projects: int, per_project: int) -> dict[str, float]:
    book = workdir / f"season-{projects}.xlsx"
    t_write, reports = timed(lambda: write_workbook(book, projects, per_project))
    store = workdir / f"twin-{projects}.gpkg"
    Twin.create(store, LAYERS, AREA_OF_INTEREST).close()
    register_time = datetime.combine(SEASON_START, datetime.min.time(), tzinfo=SHANGHAI).astimezone(UTC)
    with Twin.open(store) as twin:

        def register() -> None:
            sheet = read_sheet(book, "register")
            import_register(twin, sheet, author="bench", source=book.name, time=register_time)

        t_register, _ = timed(register)
        t_read, sheet = timed(lambda: read_sheet(book, "reports"))
        rows, bad = report_rows(sheet)
        assert not bad, bad[:3]
        t_plan, (batches, base, _) = timed(
            lambda: plan_reports(twin, rows, source=book.name, original_dates=True, default_reporter="bench")
        )
        per_report: list[float] = []
        commit = Timing(0.0, 0.0)
        for b in batches:
            t, (info,) = timed(
                lambda b=b, base=base: commit_reports(twin, [b], base, original_dates=True, source=book.name)
            )
            base = info.id
            commit = commit + t
            per_report.append(t.wall / len(b.items))
        assert twin.head() is not None and twin.head().time == recorded_time(batches[-1].on)  # type: ignore[union-attr]
    reports_total = t_read + t_plan + commit
    return {
        "projects": projects,
        "reports": reports,
        "commits": len(batches),
        "book_mib": book.stat().st_size / 2**20,
        "write_s": t_write.wall,
        "register": t_register,
        "read_reports": t_read,
        "plan": t_plan,
        "commit": commit,
        "per_report_ms_median": 1000 * statistics.median(per_report),
        "per_report_ms_wall": 1000 * reports_total.wall / reports,
        "per_report_ms_cpu": 1000 * (reports_total.cpu or 0.0) / reports,
        "twin_mib": store.stat().st_size / 2**20,
    }


def _t(t: Timing) -> str:
    return f"{t.wall:.1f} s (cpu {t.cpu:.1f} s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,2000,5000", help="register sizes (projects), comma-separated")
    ap.add_argument("--reports-per-project", type=int, default=30, help="reports per project over the 100-day season")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    m = machine()
    print_machine(m)
    print(f"season: {SEASON_DAYS} days from {SEASON_START}, {args.reports_per_project} reports per project, "
          f"{UNITS} responsible units; embedded store (GeoPackage); one run per size")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        for n in sizes:
            r = one_size(Path(tmp), n, args.reports_per_project)
            results.append(r)
            print(
                f"{r['projects']:>6} projects, {r['reports']:>7} reports in {r['book_mib']:.1f} MiB .xlsx: "
                f"register import {_t(r['register'])} (target ≤ 30 s at 5,000); reports: read "
                f"{_t(r['read_reports'])}, check {_t(r['plan'])}, {r['commits']} commits {_t(r['commit'])}; "
                f"per report {r['per_report_ms_median']:.2f} ms (median over commits, wall), "
                f"{r['per_report_ms_wall']:.2f} ms wall / {r['per_report_ms_cpu']:.2f} ms cpu overall; "
                f"twin {r['twin_mib']:.0f} MiB",
                flush=True,
            )
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(
            f"growth {a['projects']} → {b['projects']} projects ({b['projects'] / a['projects']:.0f}×): "
            f"per-report cost × {b['per_report_ms_median'] / a['per_report_ms_median']:.2f} (median wall), "
            f"× {b['per_report_ms_cpu'] / a['per_report_ms_cpu']:.2f} (cpu overall); "
            f"register import × {b['register'].wall / a['register'].wall:.1f} wall, "
            f"× {(b['register'].cpu or 0) / (a['register'].cpu or 1):.1f} cpu"
        )
    print(f"load while measuring: {os.getloadavg()[0]:.1f} (1-min average; wall times grow with it, cpu times barely)")


if __name__ == "__main__":
    main()
