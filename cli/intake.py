"""`venue-twin projects ...` and `venue-twin progress import`: the register and reports from spreadsheets.

    venue-twin projects import season.xlsx --original-dates     # the register sheet of a workbook
    venue-twin progress import season.xlsx --original-dates     # its reports sheet, with their real dates
    venue-twin progress import reports.csv --mapping columns.yaml
    venue-twin projects export register.xlsx                    # the register (re-importable)
    venue-twin projects export status.xlsx --status --date T-30 # every project with its status
    venue-twin projects sample season.xlsx                      # a simulated season to try this with

Reading, checking and committing is completion.intake's; this module only maps the command line
onto it (cli.main's plumbing is imported when a command runs, as in cli.completion).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.completion import progress_app

projects_app = typer.Typer(
    help="The project register: import it from Excel or CSV, export it, or write a sample to try.", no_args_is_help=True
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL (default: $VENUE_TWIN_STORE)."
    ),
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="The workbook's sheet (default: found by name, e.g. 项目清单 / 进度).")
]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", help="A YAML or JSON file of field: column header, for headers not known by default."),
]
AuthorOpt = Annotated[str | None, typer.Option("--author", help="Who makes the commit (default: $VENUE_TWIN_AUTHOR).")]


@projects_app.command("import")
def import_register_cmd(
    file: Annotated[Path, typer.Argument(help="An .xlsx workbook or a .csv file with one project per row.")],
    sheet: SheetOpt = None,
    mapping: MappingOpt = None,
    original_dates: Annotated[
        bool,
        typer.Option(
            "--original-dates",
            help="Record the register as of the start of its earliest planned start day, so that a season "
            "of reports can follow with their own dates.",
        ),
    ] = False,
    at: Annotated[
        str | None, typer.Option("--time", help="Record the register at this time (RFC 3339 or a date).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: AuthorOpt = None,
    new_units: Annotated[
        bool,
        typer.Option(
            "--new-units",
            help="Add the units the register does not hold even when one is like a unit it does "
            "(without it such a unit is refused, asking whether the other is meant).",
        ),
    ] = False,
    new_categories: Annotated[
        bool,
        typer.Option(
            "--new-categories",
            help="Add the categories the register does not know even when one is like a category it knows "
            "(without it such a category is refused, asking whether the other is meant).",
        ),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Add or update the projects of a register sheet as one commit; any bad row refuses the whole file."""
    from cli.main import EXIT_BAD_INPUT, _author, _errors, _fail, _open, err, out
    from completion.intake import (
        hidden_note,
        import_register,
        load_mapping,
        read_sheet,
        register_recorded_time,
        skipped_note,
    )
    from twin.core import _as_utc
    from twin.errors import ValidationFailed

    if original_dates and at is not None:
        _fail("give --original-dates or --time, not both", EXIT_BAD_INPUT)
    twin = _open(store)
    with twin, _errors(str(file)):
        sh = read_sheet(file, "register", sheet=sheet, mapping=load_mapping(mapping))
        if sh.ignored:
            err.print(f"note: columns not imported: {', '.join(sh.ignored)}")
        for note in (skipped_note(sh), hidden_note(sh)):
            if note is not None:
                err.print(f"note: {note}")
        when: datetime | None = _as_utc(at) if at is not None else None
        if original_dates:
            when = register_recorded_time(sh)
        notes: list[str] = []
        try:
            info = import_register(
                twin, sh, author=_author(author), source=file.name, message=message, time=when,
                new_units=new_units, new_units_option="--new-units", new_categories=new_categories,
                new_categories_option="--new-categories", notes=notes,
            )  # fmt: skip
        except ValidationFailed as e:
            for note in notes:  # said before the refusal too: a unit taken as another may be why
                err.print(f"note: {note}")
            if not e.nothing_changes:
                raise
            # The register imported again (an unedited export, a rerun): not a failure; no commit.
            out.print(f"nothing to commit: the register already holds the {len(sh.rows)} projects of {sh.called} "
                      "as given")  # fmt: skip
            return
        for note in notes:
            err.print(f"note: {note}")
    c = info.counts.get("projects", {})
    out.print(
        f"committed {info.id[:12]}: projects +{c.get('added', 0)} ~{c.get('modified', 0)} from {sh.called} "
        f"(recorded {info.time.astimezone(UTC):%Y-%m-%d %H:%MZ})"
    )


@progress_app.command("import")
def import_reports_cmd(
    file: Annotated[Path, typer.Argument(help="An .xlsx workbook or a .csv file with one report per row.")],
    sheet: SheetOpt = None,
    mapping: MappingOpt = None,
    original_dates: Annotated[
        bool,
        typer.Option(
            "--original-dates",
            help="Record each report at its own date (end of that day, Shanghai) instead of now: for a season "
            "already under way. Refused if a date falls before the twin's last commit.",
        ),
    ] = False,
    author: Annotated[
        str | None, typer.Option("--author", help="The reporter for rows without one (default: $VENUE_TWIN_AUTHOR).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Check every report of a sheet, then commit them: one commit per responsible unit per report date."""
    from cli.main import _author, _errors, _open, _settings, err, out
    from completion.intake import hidden_note, import_reports, load_mapping, read_sheet, skipped_note

    twin = _open(store)
    with twin, _errors(str(file)):
        sh = read_sheet(file, "reports", sheet=sheet, mapping=load_mapping(mapping))
        if sh.ignored:
            err.print(f"note: columns not imported: {', '.join(sh.ignored)}")
        for note in (skipped_note(sh), hidden_note(sh)):
            if note is not None:
                err.print(f"note: {note}")
        # Each report is by its row's reporter (填报人): --author is needed only for rows without one.
        if any(row.values.get("reporter") is None for row in sh.rows):
            reporter = _author(author)
        else:
            reporter = author or _settings().author or ""
        result = import_reports(twin, sh, source=file.name, default_reporter=reporter, original_dates=original_dates)
    done, skipped = result.commits, result.skipped
    if not done:
        out.print(
            f"nothing to commit: the {skipped} reports of {sh.called} are already in the twin "
            "(same project, date and figure)"
        )
        return
    if skipped:
        err.print(f"note: {skipped} reports already in the twin were skipped (same project, date and figure)")
    first, last = done[0].time.astimezone(UTC), done[-1].time.astimezone(UTC)
    out.print(
        f"committed {len(done)} commits ({len(sh.rows) - skipped} reports from {sh.called}), "
        f"recorded {first:%Y-%m-%d %H:%MZ} to {last:%Y-%m-%d %H:%MZ}; head {done[-1].id[:12]}"
    )


@projects_app.command("export")
def export_cmd(
    output: Annotated[Path, typer.Argument(help="An .xlsx or .csv file to write.")],
    status: Annotated[
        bool, typer.Option("--status", help="Every project with its status on the date, not the register.")
    ] = False,
    on: Annotated[str | None, typer.Option("--date", "-d", help="YYYY-MM-DD or a checkpoint such as T-30.")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Read the twin at this commit.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="xlsx or csv (default: from the extension).")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the register (importable again) or the status table to Excel or CSV (UTF-8 with BOM)."""
    from cli.completion import _reading
    from cli.main import _errors, _output_dir, out
    from completion.intake import REGISTER_COLUMNS, format_of, register_row, table_bytes
    from completion.snapshot import PROJECT_COLUMNS, PROJECT_DATE_COLUMNS, project_row

    _output_dir(output)
    with _errors(str(output)):
        kind = format_of(output, fmt)
    with _reading(store, on, version) as (_, snap):
        if status:
            states = snap.report_states()
            rows = [
                project_row(s, snap.weights.get(s.project.code), states[s.project.code])
                for s in snap.statuses
            ]
            data = table_bytes(
                rows, PROJECT_COLUMNS, kind, sheet=f"status {snap.on.isoformat()}", dates=PROJECT_DATE_COLUMNS
            )
        else:
            rows = [register_row(s.project) for s in snap.statuses]
            data = table_bytes(rows, REGISTER_COLUMNS, kind, sheet="register")
    output.write_bytes(data)
    what = "statuses" if status else "projects"
    out.print(f"wrote {len(rows)} {what} as of {snap.on.isoformat()} to {output}")


@projects_app.command("sample")
def sample_cmd(
    output: Annotated[Path, typer.Argument(help="The .xlsx workbook to write.")],
    projects: Annotated[int, typer.Option("--projects", help="How many projects the season has.")] = 80,
    seed: Annotated[
        int, typer.Option("--seed", help="Another seed, another season (the same seed, the same one).")
    ] = 1,
    blank: Annotated[
        bool, typer.Option("--blank", help="The two sheets' headers alone: the template to hand the units.")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            "-s",
            help="Tie each project to a feature of this twin's venue layer for its area (a 关联要素 column), "
            "so the completion map places it; e.g. a twin made with `venue-twin init --venue`.",
        ),
    ] = None,
) -> None:
    """Write a workbook to try the intake with: a simulated season of the venue's units (or a blank template)."""
    from cli.main import EXIT_BAD_INPUT, _fail, _open, _output_dir, out
    from completion.sample import REGISTER_SHEET, REPORT_SHEET, area_features, sample_workbook

    _output_dir(output)
    if output.suffix.lower() != ".xlsx":
        _fail(f"{output}: the sample is an Excel workbook; name it .xlsx", EXIT_BAD_INPUT)
    if not 1 <= projects <= 10_000:
        _fail(f"--projects {projects}: give 1 to 10,000", EXIT_BAD_INPUT)
    features = None
    if store is not None:
        with _open(store) as twin:
            features = area_features(twin)
        if not any(features.values()):
            _fail(
                f"--store {store}: the twin has no features in its venue layers ({', '.join(features) or 'none'}) "
                "to tie projects to; make one with `venue-twin init --venue`",
                EXIT_BAD_INPUT,
            )
    output.write_bytes(sample_workbook(projects, seed, blank=blank, features=features))
    if blank:
        out.print(f"wrote {output}: the sheets {REGISTER_SHEET} and {REPORT_SHEET}, headers only")
    else:
        out.print(
            f"wrote {output}: {projects} projects on the sheet {REGISTER_SHEET} and their reports on {REPORT_SHEET} "
            f"(a simulated season, seed {seed}); import both with `venue-twin projects import {output} "
            f"--original-dates` then `venue-twin progress import {output} --original-dates`"
        )
