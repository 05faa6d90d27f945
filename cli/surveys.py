"""`venue-twin raster ...`: import drone surveys (orthophotos, vegetation indexes) and read them back.

cli.main registers raster_app, so its helpers are imported when a command runs (no import cycle).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import orjson
import typer

from cli.pipes import write_whole

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL (default: $VENUE_TWIN_STORE)."
    ),
]
EXIT_BAD_INPUT = 2

raster_app = typer.Typer(
    help="Survey rasters: import a GeoTIFF as a dated survey (stored as a Cloud-Optimized GeoTIFF), list, show, remove.",
    no_args_is_help=True,
)


@raster_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A georeferenced raster (GeoTIFF or anything GDAL reads).")],
    survey: Annotated[
        str, typer.Option("--survey", help="The kind of survey: orthophoto or ndvi (read by the evidence), or another.")
    ],
    on: Annotated[str, typer.Option("--date", help="The flight date, YYYY-MM-DD.")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="The commit message.")] = None,
    layer: Annotated[
        str, typer.Option("--layer", help="The survey layer (surveys, or a surveys_* layer, e.g. a restricted one).")
    ] = "surveys",
    author: Annotated[str | None, typer.Option("--author", help="Who makes the commit.")] = None,
    store: StoreOpt = None,
) -> None:
    """Validate the raster, convert it to a COG beside the twin and record it as one commit."""
    from cli.main import _author, _errors, _fail, _open, err, out
    from twin.surveys import kind_warning, recorded_by

    try:
        flown = date.fromisoformat(on)
    except ValueError:
        _fail(f"--date {on!r} is not a date (YYYY-MM-DD)", EXIT_BAD_INPUT)
    twin = _open(store)
    with twin, _errors():
        made = twin.import_survey(file, kind=survey, on=flown, author=_author(author), message=message, layer=layer)
        info = recorded_by(twin, made)
        path = twin.survey_path(info)
    warning = kind_warning(info.kind)
    if warning:
        err.print(f"warning: {warning}", highlight=False)
    out.print(
        f"recorded survey [bold]{info.id}[/] ({info.kind}, {info.date}) in commit [yellow]{made.id[:12]}[/]: "
        f"{info.width}×{info.height} px, {info.band_count} band(s) {info.dtype}, {info.resolution:.2f} m, "
        f"{info.crs}; {path} ({info.size_bytes / 1e6:.1f} MB)",
        highlight=False,
    )


@raster_app.command("list")
def list_(
    asof: Annotated[
        str | None, typer.Option("--as-of", "--asof", help="A version, time or date (default: now).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--survey", help="Only surveys of this kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    store: StoreOpt = None,
) -> None:
    """The surveys recorded (as of a version or date), oldest flight first."""
    from cli.main import _errors, _open, _ref_then, out
    from twin.surveys import short_crs

    twin = _open(store)
    with twin, _errors():
        ref = _ref_then(twin, asof, "--asof") if asof else twin.resolve()
        surveys = twin.surveys(ref, kind)
    if as_json:
        for s in surveys:
            write_whole(orjson.dumps(s.to_dict()).decode() + "\n")
        return
    for s in surveys:
        out.print(
            f"[bold]{s.id}[/]  {s.date}  {s.kind:<12} {s.width}×{s.height} px  {s.band_count} × {s.dtype}  "
            f"{s.resolution:.2f} m  from {short_crs(s.source_crs)}  commit [yellow]{s.commit[:12]}[/]",
            highlight=False,
        )
    if not surveys:
        out.print(
            "no surveys recorded (import one with `venue-twin raster import FILE --survey orthophoto --date ...`)"
        )


@raster_app.command("show")
def show(
    survey_id: Annotated[str, typer.Argument(help="The survey id (from `venue-twin raster list`).")],
    asof: Annotated[str | None, typer.Option("--as-of", "--asof", help="A version, time or date.")] = None,
    store: StoreOpt = None,
) -> None:
    """A survey's metadata as JSON, with the path of its file."""
    from cli.main import _errors, _open, _ref_then

    twin = _open(store)
    with twin, _errors():
        ref = _ref_then(twin, asof, "--asof") if asof else twin.resolve()
        info = twin.survey(survey_id, ref)
        data = info.to_dict()
        data["path"] = str(twin.survey_path(info))
    write_whole(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@raster_app.command("remove")
def remove(
    survey_id: Annotated[str, typer.Argument(help="The survey id (from `venue-twin raster list`).")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="The commit message.")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who makes the commit.")] = None,
    store: StoreOpt = None,
) -> None:
    """Remove a survey's record as one commit (to import its raster again as another kind or date).
    Its file stays in the survey directory: earlier versions still read it."""
    from cli.main import _author, _errors, _open, out
    from twin.surveys import remove_survey

    twin = _open(store)
    with twin, _errors():
        made = remove_survey(twin, survey_id, author=_author(author), message=message)
    out.print(f"removed survey [bold]{survey_id}[/] in commit [yellow]{made.id[:12]}[/]", highlight=False)
