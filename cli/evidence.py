"""`venue-twin evidence [CODE]`: imagery-derived completion estimates against the reported percent.

    venue-twin evidence --date T-10                  # every project the imagery can speak to
    venue-twin evidence LS-04 --date 2026-10-26      # one project, from the latest fitting survey
    venue-twin evidence LS-04 --survey 3f2a... --json

The figures are completion.evidence's, the same the API serves at /evidence and
/projects/{code}/evidence. Registered on cli.main's app as the `evidence` command.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape

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
        str | None, typer.Option("--date", "-d", help="YYYY-MM-DD or a checkpoint such as T-10 (default: today).")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Read the twin at this commit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write JSON instead of a table.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also list the projects imagery cannot measure.")] = False,
    store: StoreOpt = None,
) -> None:
    """Each project's completion as the survey rasters show it, beside its report; ⚑ where the report
    runs ahead of the imagery by more than the margin (VENUE_TWIN_EVIDENCE_MARGIN, 20 points)."""
    from cli.completion import _heading, _out
    from cli.main import EXIT_BAD_INPUT, _errors, _fail, _open
    from completion.evidence import all_evidence, project_evidence
    from completion.snapshot import Completion

    if survey and not code:
        _fail("--survey needs a project CODE", EXIT_BAD_INPUT)
    twin = _open(store)
    with twin, _errors():
        snap = Completion(twin).at(on, version)
        if code:
            items = [project_evidence(twin, code, survey, snap.on, version=version)]
        else:
            items = all_evidence(twin, snap.on, version=version)
    if as_json:
        doc = {"date": snap.on.isoformat(), "version": snap.version, "evidence": [e.to_dict() for e in items]}
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return
    from rich.table import Table

    out = _out()
    out.print(_heading(snap))
    shown = items if (code or show_all) else [e for e in items if e.method is not None]
    table = Table(
        "code",
        "category",
        "reported %",
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
            _pct(e.reported),
            _pct(e.estimate),
            _measure(e),
            f"{e.survey_kind} {e.survey_date.isoformat()} {e.survey}" if e.survey and e.survey_date else "—",
            _pct(e.coverage),
            f"{e.changed:.0f} % since {e.baseline_date.isoformat()}"
            if e.changed is not None and e.baseline_date
            else "—",
            f"[bold red]⚑ {escape(e.message or '')}[/]" if e.flag else escape(e.reason or "agrees"),
        )
    out.print(table)
    flagged = [e for e in items if e.flag]
    out.print(f"{len(flagged)} flagged: " + (", ".join(e.code for e in flagged) if flagged else "none"))


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
