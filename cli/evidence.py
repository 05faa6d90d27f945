"""`venue-twin evidence [CODE]`: imagery-derived completion estimates against the reported percent.

    venue-twin evidence --date T-10                  # every project the imagery can speak to
    venue-twin evidence LS-04 --date 2026-10-26      # one project, from the latest fitting survey
    venue-twin evidence LS-04 --survey 3f2a... --json

The figures are completion.evidence's, the same the API serves at /evidence and
/projects/{code}/evidence. Without --date or --version the date is the one `venue-twin completion`
opens on (completion.landing), with its note on standard error. The heading and the JSON name the
version the reports were read at (`version`) and the one the surveys were read at
(`surveys_version`, the head unless --version or --surveys-version says otherwise): given back as
--version and --surveys-version, they give the same figures. Registered on cli.main's app as the `evidence` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape

from cli.pipes import write_whole

if TYPE_CHECKING:
    from completion.evidence import Evidence

# completion's modules are imported inside the command, not here: cli.main registers it for every
# command line, and completion.evidence brings geopandas and rasterio.

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL (default: $VENUE_TWIN_STORE)."
    ),
]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def evidence(
    code: Annotated[str | None, typer.Argument(help="A project code, e.g. LS-04 (default: every project).")] = None,
    survey: Annotated[str | None, typer.Option("--survey", help="Use this survey (its id); needs CODE.")] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date", "-d",
            help="YYYY-MM-DD or a checkpoint such as T-10 (default: where `venue-twin completion` opens, said).",
        ),
    ] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Read the twin at this commit.")] = None,
    surveys_version: Annotated[
        str | None,
        typer.Option(
            "--surveys-version",
            help="Read the surveys as recorded by this version (default: --version, else the head).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write JSON instead of a table.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also list the projects imagery cannot measure.")] = False,
    store: StoreOpt = None,
) -> None:
    """Each project's completion as the survey rasters show it, beside its report; ⚑ where the report
    runs ahead of the imagery by more than the margin (VENUE_TWIN_EVIDENCE_MARGIN, 20 points)."""
    from cli.completion import _heading, _out, _reading
    from cli.main import EXIT_BAD_INPUT, _fail
    from completion.evidence import evidence_for_snapshot, evidence_surveys, project_evidence

    if survey and not code:
        _fail("--survey needs a project CODE", EXIT_BAD_INPUT)
    with _reading(store, on, version, land=True) as (comp, snap):
        twin = comp.twin
        surveys = evidence_surveys(twin, snap, version, surveys_version)
        if code:
            items = [project_evidence(twin, code, survey, snap.on, version=version, surveys=surveys)]
        else:
            items = evidence_for_snapshot(twin, snap, surveys=surveys)
    read_at = surveys.ref.commit.id if surveys.ref.commit else None
    if as_json:
        doc = {
            "date": snap.on.isoformat(),
            "version": snap.version,
            "surveys_version": read_at,
            "evidence": [e.to_dict() for e in items],
        }
        write_whole(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return
    from rich.table import Table

    out = _out()
    out.print(_heading(snap))
    head = " (the head)" if surveys.at_head else ""
    out.print(f"surveys as recorded by {read_at[:12] if read_at else '(empty twin)'}{head}")
    shown = items if (code or show_all) else [e for e in items if e.method is not None]
    if not code and any(e.reason_code == "no_imagery" for e in items):  # said once, not once a project
        from completion.evidence import NO_IMAGERY

        out.print(f"[yellow]{escape(NO_IMAGERY)}[/] (README: Survey rasters)")
        shown = [e for e in shown if e.reason_code != "no_imagery"]
    table = Table(
        "code",
        "category",
        "reported % (on)",
        "estimate %",
        "measure",
        "survey",
        "coverage %",
        "changed since",
        "imagery says",
    )
    for e in shown:
        table.add_row(
            escape(e.code),
            escape(e.category),
            _reported(e),
            _pct(e.estimate),
            _measure(e),
            f"{e.survey_kind} {e.survey_date.isoformat()} {e.survey}" if e.survey and e.survey_date else "—",
            _pct(e.coverage),
            f"{e.changed:.0f} % since {e.baseline_date.isoformat()}"
            if e.changed is not None and e.baseline_date
            else "—",
            (
                f"[bold red]⚑ {escape(e.message or '')}[/]"
                if e.flag
                else f"[yellow]{escape(e.note or '')}[/]"
                if e.imagery_older
                else escape(e.reason or "agrees")
            )
            + "".join(f"\n[yellow]{escape(note)}[/]" for note in e.skipped if note != e.reason),
        )
    out.print(table)
    flagged = [e for e in items if e.flag]
    out.print(f"{len(flagged)} flagged: " + (", ".join(e.code for e in flagged) if flagged else "none"))
    older = [e for e in items if e.imagery_older]
    if older:
        out.print(f"{len(older)} reported since the flight beyond the imagery (fly again): "
                  + ", ".join(e.code for e in older))  # fmt: skip


def _reported(e: Evidence) -> str:
    """The report the imagery is set against (the flight day's) and its date; the one asked for
    beside it when made since the flight; the one asked for alone without a measure."""
    if e.estimate is None:
        return _pct(e.reported)
    text = f"{_pct(e.compared)} ({e.compared_date.isoformat()})" if e.compared_date else "—"
    if e.reported_since and e.report_date:
        text += f"\nnow {_pct(e.reported)} ({e.report_date.isoformat()})"
    return text


def _measure(e: Evidence) -> str:
    if e.measure is None:
        return "—"
    what = "green cover" if e.method == "green_cover" else "at finished signature"
    text = f"{e.measure:.0f} % {what}"
    # the share of its footprint the project plans to cover ("(plan 14 %)" read as "planned 14 %");
    # said only when that is not all of it, where it is why the estimate differs from the measure
    if e.planned_share is not None and e.planned_share < 99.5:
        text += f" (it plans to cover {e.planned_share:.0f} % of the footprint)"
    return text
