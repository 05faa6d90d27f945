"""`venue-twin progress ...` and `venue-twin completion ...`: hardware-project completion on the command line.

    venue-twin progress report RD-03 72 --date 2026-10-26 --note "Two of five sections energised"
    venue-twin progress show RD-03
    venue-twin completion --date T-30                 # weighted completion per area and the late projects
    venue-twin completion --date 2026-10-06 --by unit
    venue-twin completion late --date T-10 --csv
    venue-twin completion scurve --date T-10
    venue-twin completion checkpoints
    venue-twin completion projects --date T-10 --status at_risk
    venue-twin completion units --date T-10 --by person   # overdue reports, late projects, completion
    venue-twin completion missing --date T-10             # the reports missing since the last checkpoint

Without --date (or --version) a table opens where the pages do (completion.landing: today, or
before opening day and a round of reports the latest checkpoint with reports, never one before the
twin's history), with the pages' note on standard error; --date today asks for today, and --csv
(data, like the API's JSON) keeps today.

The figures are `completion.Completion(twin).at(date, version)`, the same the API serves. The
command-line plumbing (opening the twin, the author, mapping errors to exit codes) is cli.main's,
imported when a command runs so that cli.main can register these apps without an import cycle.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.pipes import Console, said

if TYPE_CHECKING:
    from completion.snapshot import Completion, Snapshot
    from completion.status import ProjectStatus

# completion's modules are imported inside the commands, not here: cli.main registers these apps for
# every command, and completion.evidence and completion.intake bring pandas, geopandas and rasterio,
# which `venue-twin import` and the other twin commands do not need.

progress_app = typer.Typer(help="Progress reports of the hardware projects (each one a commit).", no_args_is_help=True)
completion_app = typer.Typer(
    help="Hardware-project completion on a date: weighted completion, status counts and late projects."
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL (default: $VENUE_TWIN_STORE)."
    ),
]
DateOpt = Annotated[
    str | None,
    typer.Option(
        "--date",
        "-d",
        help="YYYY-MM-DD, a checkpoint such as T-30, or today (default: the date the maps open on: today, or "
        "before opening day and a round of reports the latest checkpoint with reports the twin has data on, "
        "said so; --csv: today).",
    ),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", "-v", help="Read the twin at this commit (id, HEAD or HEAD~n).")
]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Write CSV to standard output instead of a table.")]

REPORT_COLUMNS = ("code", "date", "percent", "reporter", "note", "reason", "commit", "time")
STYLE = {"done": "blue", "on_track": "green", "at_risk": "yellow", "behind": "bold red", "not_started": "dim"}


def _out() -> Console:
    # A pipe or a file gets wide lines, so long unit names stay on one line.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 320, highlight=False)


@contextmanager
def _reading(
    store: str | None, on: str | None, version: str | None, *, land: bool = False
) -> Iterator[tuple[Completion, Snapshot]]:
    """The twin opened (and closed afterwards), its completion as of the date or version; errors mapped.

    ``land``: with neither a date nor a version, the date the pages open on (completion.landing:
    today, or before opening day and a round of reports the latest checkpoint with reports), with the
    pages' note saying so on standard error; else (and for data: --csv) today."""
    from cli.main import _errors, _open
    from completion.intake import first_data
    from completion.snapshot import Completion

    twin = _open(store)
    with twin, _errors():
        comp = Completion(twin)
        landing = None
        if land and on is None and version is None:
            from completion.landing import landing_date

            landing = landing_date(twin, settings=comp.settings)
        snap = comp.at(landing.on if landing is not None else on, version)
        first_data(twin, snap.ref.seq, snap.on)  # a date before any data says so, not "0 projects"
        said = Console(stderr=True, soft_wrap=True, highlight=False)
        if landing is not None and landing.moved:
            said.print(escape(landing.note("--date today")))
        if not snap.statuses:  # a table of zeros would read as a season with nothing done
            since = "the twin holds no commit yet" if snap.ref.seq == 0 else f"none as of {snap.on.isoformat()}"
            said.print(
                f"note: no project is registered ({since}): import a register first "
                "(`venue-twin projects import register.xlsx`; `venue-twin projects sample` writes one to try)"
            )
        yield comp, snap


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def _stdout_is_a_file() -> bool:
    try:
        return stat.S_ISREG(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def _write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """The API's CSV writer (completion.intake.write_csv: the same cells, true/false for booleans).
    `... --csv > late.csv` is a file for Excel, which reads UTF-8 (Chinese names) only after a
    byte-order mark, and runs a text starting with = + - @ as a formula (quoted); a pipe to another
    program gets plain UTF-8, as the twin has it, with the lines a terminal has."""
    from completion.intake import write_csv

    write_csv(sys.stdout, rows, columns, for_excel=_stdout_is_a_file(), lineterminator="\n")


def _heading(snap: Snapshot) -> str:
    cp = f"{snap.checkpoint}, " if snap.checkpoint else ""
    days = snap.days_to_opening
    when = f"{days} days to opening day {snap.opening.isoformat()}" if days >= 0 else f"{-days} days after opening day"
    version = snap.version[:12] if snap.version else "(empty twin)"
    return f"[bold]Completion on {snap.on.isoformat()}[/] ({cp}{when}) — twin as of {version}"


def _status(s: ProjectStatus) -> str:
    from completion.status import STATUS_LABELS

    return f"[{STYLE[s.status]}]{STATUS_LABELS[s.status][1]}[/]"


# ---------------------------------------------------------------------------- progress
@progress_app.command("report")
def report(
    code: Annotated[str, typer.Argument(help="The project code, e.g. RD-03.")],
    percent: Annotated[float, typer.Argument(help="Percent complete, 0 to 100.")],
    on: Annotated[str | None, typer.Option("--date", "-d", help="The date the figure describes (default: today).")] = None,
    note: Annotated[str | None, typer.Option("--note", "-n", help="What was done, or what is in the way.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the figure is lower than the last one.")] = None,
    author: Annotated[str | None, typer.Option("--author", help="The reporter (default: $VENUE_TWIN_AUTHOR; one of the two is needed).")] = None,
    store: StoreOpt = None,
) -> None:  # fmt: skip
    """Report a project's progress as one commit (refused, with the reason, if it breaks the rules)."""
    from cli.main import _author, _errors, _open
    from completion.reports import ProgressReport, report_progress
    from completion.snapshot import Completion, parse_day, today_local

    twin = _open(store)
    with twin, _errors():
        comp = Completion(twin)
        day = parse_day(on, comp.settings, twin=twin) or today_local()
        info = report_progress(twin, ProgressReport(code, percent, day, note, reason), reporter=_author(author))
        s = Completion(twin).project_at(code, day, info.id)[0]
    out = _out()
    out.print(f"committed {info.id[:12]}: {code} {percent:g}% on {day.isoformat()} by {info.author}")
    sv = f", {s.sv_days:+.1f} days against plan" if s.sv_days is not None else ""
    fc = s.forecast
    forecast = f"forecast finish {fc.finish.isoformat()}" if fc.finish else f"no forecast ({fc.basis})"
    flag = " — [bold red]after opening day[/]" if fc.after_opening and s.status != "done" else ""
    out.print(f"status {_status(s)} (planned {s.planned:.1f}%{sv}); {forecast}{flag}")


@progress_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="The project code.")],
    on: DateOpt = None,
    version: VersionOpt = None,
    as_csv: CsvOpt = False,
    store: StoreOpt = None,
) -> None:
    """A project's progress reports as they stood on a date (or at a version), oldest first."""
    with _reading(store, on, version, land=not as_csv) as (_, snap):
        s = snap.status(code)
        reports = [r for r in snap.reports[code] if r.on <= snap.on]
        if as_csv:
            _write_csv(({"code": code, **r.to_dict()} for r in reports), REPORT_COLUMNS)
            return
        out = _out()
        p = s.project
        out.print(
            f"[bold]{said(p.code)}[/] "
            + said(f"{p.name_zh} / {p.name_en} — {p.responsible_unit}, {p.responsible_person or ''}")
        )
        out.print(
            f"planned {p.planned_start.isoformat()} → {p.planned_finish.isoformat()} ({p.curve}); on {snap.on.isoformat()}: "
            f"{s.percent:g}% against {s.planned:.1f}% planned, {_status(s)}"
        )
        table = Table("date", "%", "reporter", "note", "reason", "commit")
        for r in reports:
            table.add_row(
                r.on.isoformat(),
                f"{r.percent:g}",
                said(r.reporter or ""),
                *(said(text or "", multiline=True) for text in (r.note, r.reason)),
                r.commit[:12],
            )
        out.print(table)


# ---------------------------------------------------------------------------- completion
@completion_app.callback(invoke_without_command=True)
def completion(
    ctx: typer.Context,
    on: DateOpt = None,
    version: VersionOpt = None,
    by: Annotated[str, typer.Option("--by", help="Group by area, unit or category.")] = "area",
    as_csv: CsvOpt = False,
    store: StoreOpt = None,
) -> None:
    """Weighted completion and status counts per area (or unit, category), then the late projects."""
    if ctx.invoked_subcommand is not None:
        return
    from cli.main import EXIT_BAD_INPUT, _fail
    from completion.evidence import snapshot_flag_messages
    from completion.rollup import GROUPINGS
    from completion.snapshot import GROUP_COLUMNS, group_row
    from completion.status import STATUS_LABELS, STATUSES

    if by not in GROUPINGS:
        _fail(f"--by {by!r} is not one of {', '.join(GROUPINGS)}", EXIT_BAD_INPUT)
    with _reading(store, on, version, land=not as_csv) as (comp, snap):
        groups, overall = snap.groups(by), snap.overall()
        if as_csv:
            _write_csv((group_row(g) for g in [*groups, overall]), GROUP_COLUMNS)
            return
        out = _out()
        out.print(_heading(snap))
        table = Table(
            by, "projects", "weight %", "planned %", "actual %", "± points", *(STATUS_LABELS[k][1] for k in STATUSES)
        )
        for g in [*groups, overall]:
            style = "bold" if g.by is None else None
            table.add_row(
                escape(g.key) if g.by else "overall",
                str(g.projects),
                f"{100 * g.weight:.1f}",
                f"{g.planned:.1f}",
                f"{g.actual:.1f}",
                f"{g.variance:+.1f}",
                *(str(g.counts[k]) for k in STATUSES),
                style=style,
            )
        out.print(table)
        _print_late(out, snap, snapshot_flag_messages(comp.twin, snap, version))


def _print_late(out: Console, snap: Snapshot, flags: Mapping[str, str]) -> None:
    """The late projects, then those their imagery contradicts; on opening day or after it, the
    projects that missed opening day in the home page's words (completion.rollup.missed_opening_list:
    still not done, then those reported done since, each with the day), then, apart, the projects
    their imagery contradicts that did not miss it."""
    from completion.evidence import flagged_not_late, late_and_flagged

    if snap.opening_reached:
        missed, late, done = snap.missed_opening(), snap.late(), snap.done_since_opening()
        if not missed:
            out.print("no project missed opening day")
        else:
            out.print(
                f"[bold]Missed opening day ({len(missed)})[/]: {len(late)} still not done, {len(done)} done since "
                "— those still not done first, most days late first, then those done since, each with the day it "
                "was reported done:"
            )
            _late_table(out, snap, [*late, *done], flags)
        # the projects whose imagery contradicts their report, apart: a project that missed opening
        # day is in the list above, with its imagery
        disputed = flagged_not_late(snap, flags, missed)
        if disputed:
            out.print(f"[bold]Imagery contradicts the report ({len(disputed)})[/]:")
            _late_table(out, snap, disputed, flags)
        return
    rows = late_and_flagged(snap, flags)
    if not rows:
        out.print("no late projects")
        return
    out.print(f"[bold]Late projects ({len(rows)})[/], most days late first, then those their imagery contradicts:")
    _late_table(out, snap, rows, flags)


def _late_table(out: Console, snap: Snapshot, late: Sequence[ProjectStatus], flags: Mapping[str, str]) -> None:
    table = Table(
        "code",
        "project",
        "responsible unit",
        "person",
        "actual %",
        "planned %",
        "days late",
        "forecast finish",
        "80% range",
        "P(late)",
        "last report",
        "imagery",
    )
    states = snap.report_states()
    # one form for the whole range column: short (MM-DD) only when every range stays in the year asked
    # about, so "2026-11-26–2027-01-14" never sits beside "10-28–12-07"
    short = all(_in_year(s.forecast.low, s.forecast.high, s.on.year) for s in late)
    for s in late:
        fc = s.forecast
        st = states[s.project.code]
        last = st.last_report.isoformat() if st.last_report else "never"
        done = s.done_on
        table.add_row(
            *map(escape, (s.project.code, s.project.name_en, s.project.responsible_unit)),
            escape(s.project.responsible_person or ""),
            _pct(s.percent),
            _pct(s.planned),
            "—" if done else f"{s.days_late:.1f}",
            # reported done (after opening day: it missed it all the same): the day it was reported done
            f"done, reported {done.isoformat()}" if done else _finish(s),
            "—" if done else _range(fc.low, fc.high, short),
            ("[bold red]missed[/]" if done > snap.opening else "—")
            if done
            else ("[bold red]" if fc.after_opening else "") + _chance(s) + ("[/]" if fc.after_opening else ""),
            f"[yellow]{last} (stale)[/]" if st.stale else last,
            f"[bold red]⚑ {escape(flags[s.project.code])}[/]" if s.project.code in flags else "",
        )
    out.print(table)


def _finish(s: ProjectStatus) -> str:
    """A forecast finish in the map's words (web.data.forecast_text, one wording for every surface):
    one carried forward because the forecast from its latest report has gone by unreported says
    that date, and after opening day one not reported done says it missed it."""
    from web.data import forecast_text

    return forecast_text(s, "en") or "—"


def _chance(s: ProjectStatus) -> str:
    """The chance of missing opening day; "missed" for a project not reported done by a date after
    it (Forecast.missed: a fact, not a chance)."""
    fc = s.forecast
    if fc.missed:
        return "missed"
    return f"{fc.p_late:.0%}" if fc.p_late is not None else "—"


def _in_year(low: date | None, high: date | None, year: int) -> bool:
    """Whether an interval (none: no interval) stays in `year`."""
    return low is None or high is None or low.year == high.year == year


def _range(low: date | None, high: date | None, short: bool) -> str:
    """An interval, short (MM-DD) when the table's every interval stays in the year asked about."""
    if low is None or high is None:
        return "—"
    return f"{low:%m-%d}–{high:%m-%d}" if short else f"{low.isoformat()}–{high.isoformat()}"


@completion_app.command("late")
def late(on: DateOpt = None, version: VersionOpt = None, as_csv: CsvOpt = False, store: StoreOpt = None) -> None:
    """The projects behind schedule on a date, most days late first, with their units."""
    from completion.evidence import late_and_flagged, snapshot_flag_messages
    from completion.snapshot import LATE_COLUMNS, late_row

    with _reading(store, on, version, land=not as_csv) as (comp, snap):
        flags = snapshot_flag_messages(comp.twin, snap, version)
        if as_csv:
            states = snap.report_states()
            _write_csv(
                (
                    late_row(s, states[s.project.code], flags.get(s.project.code))
                    for s in late_and_flagged(snap, flags)
                ),
                LATE_COLUMNS,
            )
            return
        out = _out()
        out.print(_heading(snap))
        _print_late(out, snap, flags)


@completion_app.command("projects")
def projects(
    on: DateOpt = None,
    version: VersionOpt = None,
    area: Annotated[str | None, typer.Option(help="Only this area.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this responsible unit.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_csv: CsvOpt = False,
    store: StoreOpt = None,
) -> None:
    """Every project with its status on a date."""
    from cli.main import EXIT_BAD_INPUT, _fail
    from completion.snapshot import PROJECT_COLUMNS, filter_statuses, project_row
    from completion.status import STATUSES

    if status is not None and status not in STATUSES:
        _fail(f"--status {status!r} is not one of {', '.join(STATUSES)}", EXIT_BAD_INPUT)
    with _reading(store, on, version, land=not as_csv) as (_, snap):
        chosen = filter_statuses(snap.statuses, area=area, unit=unit, category=category, status=status)
        if as_csv:
            states = snap.report_states()
            _write_csv(
                (
                    project_row(s, snap.weights.get(s.project.code), states[s.project.code])
                    for s in chosen
                ),
                PROJECT_COLUMNS,
            )
            return
        out = _out()
        out.print(_heading(snap))
        table = Table(
            "code",
            "project",
            "area",
            "category",
            "unit",
            "finish",
            "actual %",
            "planned %",
            "SV days",
            "status",
            "forecast",
            "last report",
        )
        states = snap.report_states()
        for s in chosen:
            p = s.project
            st = states[p.code]
            last = st.last_report.isoformat() if st.last_report else "never"
            table.add_row(
                *map(escape, (p.code, p.name_en, p.area, p.category, p.responsible_unit)), p.planned_finish.isoformat(), _pct(s.percent),
                _pct(s.planned), "" if s.sv_days is None else f"{s.sv_days:+.1f}", _status(s),
                _finish(s),
                f"[yellow]{last} (stale)[/]" if st.stale else last,
            )  # fmt: skip
        out.print(table)


@completion_app.command("scurve")
def scurve(
    on: DateOpt = None,
    version: VersionOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Also per area, unit or category.")] = None,
    as_csv: CsvOpt = False,
    store: StoreOpt = None,
) -> None:
    """Planned against actual weighted completion at each checkpoint (actual as it stood then)."""
    from cli.main import EXIT_BAD_INPUT, _fail
    from completion.rollup import GROUPINGS
    from completion.snapshot import curve_rows

    if by is not None and by not in GROUPINGS:
        _fail(f"--by {by!r} is not one of {', '.join(GROUPINGS)}", EXIT_BAD_INPUT)
    with _reading(store, on, version, land=not as_csv) as (comp, snap):
        rows = curve_rows(comp.scurve(snap, by), by)
        if as_csv:
            _write_csv(rows, ("by", "key", "checkpoint", "date", "planned_percent", "actual_percent"))
            return
        out = _out()
        out.print(_heading(snap))
        table = Table(by or "", "checkpoint", "date", "planned %", "actual %", "± points")
        for r in rows:
            a, p = r["actual_percent"], r["planned_percent"]
            table.add_row(r["key"], r["checkpoint"], r["date"], _pct(p), _pct(a), "" if a is None else f"{a - p:+.1f}")
        out.print(table)


@completion_app.command("checkpoints")
def checkpoints(on: DateOpt = None, version: VersionOpt = None, as_csv: CsvOpt = False, store: StoreOpt = None) -> None:
    """The checkpoints counted back from opening day and each project's planned percent at them."""
    from completion.snapshot import back_schedule

    with _reading(store, on, version) as (_, snap):
        cps, rows = back_schedule(snap)
        labels = [c.label for c in cps]
        data: list[dict[str, Any]] = [
            {"code": s.project.code, **{lab: round(v, 1) for lab, v in zip(labels, planned, strict=True)}}
            for s, planned in rows
        ]
        if as_csv:
            _write_csv(data, ("code", *labels))
            return
        out = _out()
        out.print(f"Opening day {snap.opening.isoformat()}; checkpoints every {snap.settings.checkpoint_days} days:")
        out.print("  " + ", ".join(f"{c.label} {c.on.isoformat()}" for c in cps))
        table = Table("code", *labels)
        for row in data:
            table.add_row(str(row["code"]), *(f"{row[lab]:.0f}" for lab in labels))
        out.print(table)


@completion_app.command("units")
def units(
    on: DateOpt = None,
    version: VersionOpt = None,
    by: Annotated[str, typer.Option("--by", help="unit (responsible unit) or person (responsible person).")] = "unit",
    as_csv: CsvOpt = False,
    store: StoreOpt = None,
) -> None:
    """Per responsible unit (or person): overdue reports, late projects and weighted completion."""
    from cli.main import EXIT_BAD_INPUT, _fail
    from completion.accountability import UNIT_COLUMNS, UNIT_GROUPINGS, unit_row, unit_table

    if by not in UNIT_GROUPINGS:
        _fail(f"--by {by!r} is not one of {', '.join(UNIT_GROUPINGS)}", EXIT_BAD_INPUT)
    with _reading(store, on, version, land=not as_csv) as (_, snap):
        rows = unit_table(snap.statuses, snap.weights, snap.report_states(), by, snap.opening)
        if as_csv:
            _write_csv((unit_row(u) for u in rows), UNIT_COLUMNS)
            return
        out = _out()
        out.print(_heading(snap))
        # on opening day or after it the late ones are those that missed it: each unit's projects that
        # missed opening day (the home page's headline, traced), still not done then done since (dated)
        missed_view = snap.opening_reached
        late_head = ("missed opening day", "missed projects") if missed_view else ("late",)
        table = Table(by, "projects", "reports overdue", "overdue projects", *late_head, "at risk", "done",
                      "planned %", "actual %", "± points")  # fmt: skip
        for u in rows:
            style = "bold red" if u.late else ("yellow" if u.reports_overdue else None)
            if missed_view:
                done_since = dict(u.done_since)
                codes = [f"{c} (done {done_since[c]:%m-%d})" if c in done_since else c for c in u.missed_codes or ()]
                late_cells: tuple[str, ...] = (str(len(codes)), escape(_codes(codes)))
            else:
                late_cells = (str(u.late),)
            table.add_row(
                escape(u.unit if by == "unit" else f"{u.person or NOBODY_NAMED} ({u.unit})"),
                str(u.projects), f"{u.reports_overdue} / {u.reports_due}", escape(_codes(u.overdue_codes)),
                *late_cells, str(u.at_risk), str(u.done),
                f"{u.planned:.1f}", f"{u.actual:.1f}", f"{u.actual - u.planned:+.1f}", style=style,
            )  # fmt: skip
        out.print(table)


# A person row of a unit's projects that name no responsible person (the page says it in its language).
NOBODY_NAMED = "— nobody named"

# How many project codes a table cell lists before "+N more" (the CSV, JSON and page list them all).
CODES_SHOWN = 5


def _codes(codes: Sequence[str], shown: int = CODES_SHOWN) -> str:
    """Project codes for a table cell: the first few, then how many more (all of them when only one
    more would be left out: "+1 more" takes the room of the code)."""
    if len(codes) <= shown + 1:
        return ", ".join(codes)
    return ", ".join(codes[:shown]) + f" +{len(codes) - shown} more"


@completion_app.command("missing")
def missing(on: DateOpt = None, version: VersionOpt = None, as_csv: CsvOpt = False, store: StoreOpt = None) -> None:
    """The reports missing: projects with no report since the last checkpoint, oldest first."""
    from completion.accountability import MISSING_COLUMNS, missing_reports

    with _reading(store, on, version, land=not as_csv) as (_, snap):
        rows = missing_reports(snap.statuses, snap.report_states())
        if as_csv:
            _write_csv(rows, MISSING_COLUMNS)
            return
        out = _out()
        out.print(_heading(snap))
        if not rows:
            out.print("no reports missing")
            return
        out.print(f"[bold]Reports missing ({len(rows)})[/], oldest first:")
        table = Table("code", "project", "responsible unit", "person", "last report", "days since", "due since")
        for r in rows:
            table.add_row(
                *map(escape, (r["code"], r["name_en"], r["responsible_unit"], r["responsible_person"] or "")),
                r["last_report_date"] or "never", "" if r["days_since"] is None else str(r["days_since"]),
                r["due_since"] or "",
            )  # fmt: skip
        out.print(table)
