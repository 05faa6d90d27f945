"""`venue-twin map ...`: write a map as one self-contained HTML file to hand around.

The file inlines Leaflet (from web/node_modules, installed by `make install`), the map script and
the features it shows, so it opens on a machine with no network and shows the same map the app
serves at /maps/...; a basemap, when one is configured, is the only thing it would fetch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# cli.main registers map_app, so its helpers are imported when a command runs (no import cycle).
StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", "-s", help="The twin file (default: $VENUE_TWIN_STORE or data/venue-twin.gpkg)."),
]
EXIT_BAD_INPUT = 2

map_app = typer.Typer(
    help="Write an interactive map (completion, timeline, changes, layer check) as one offline HTML file.",
    no_args_is_help=True,
)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh (Chinese) or en (English).")]
BasemapOpt = Annotated[
    str | None,
    typer.Option(
        "--basemap",
        help="A tile URL template ({z}/{x}/{y}) to draw under the layers (default: $VENUE_TWIN_BASEMAP_URL, "
        "else a plain background and no network use at all).",
    ),
]
DatumOpt = Annotated[str | None, typer.Option("--basemap-datum", help="wgs84, or gcj02 for a Chinese web map's tiles.")]


def _context(store: Path | None, lang: str, basemap: str | None, datum: str | None):  # type: ignore[no-untyped-def]
    from cli.main import _fail, _open
    from web.i18n import LANGS
    from web.maps import MapContext
    from web.settings import MapSettings

    if lang not in LANGS:
        _fail(f"--lang {lang!r} is not one of {', '.join(LANGS)}", EXIT_BAD_INPUT)
    if datum is not None and datum not in ("wgs84", "gcj02"):
        _fail(f"--basemap-datum {datum!r} is not one of wgs84, gcj02", EXIT_BAD_INPUT)
    overrides = {}
    if basemap is not None:
        overrides["basemap_url"] = basemap
    if datum is not None:
        overrides["basemap_datum"] = datum
    twin = _open(store)
    return twin, MapContext(twin=twin, lang=lang, export=True, settings=MapSettings(**overrides))  # type: ignore[arg-type]


def _write(output: Path, html: str) -> None:
    from cli.main import err, out

    output.write_text(html, encoding="utf-8")
    size = output.stat().st_size
    out.print(f"wrote {output} ({size / 1024:.0f} KiB)")
    if size > 20 * 1024 * 1024:
        err.print("note: the file is large; for big layers use the app's /maps pages, which load data as you pan")


def _assets_or_fail(output: Path) -> None:
    """The map's directory there and the map scripts installed, or exit 2 before any work."""
    from cli.main import _fail, _output_dir
    from web.assets import AssetsMissing, check_installed

    _output_dir(output)
    try:
        check_installed()
    except AssetsMissing as e:
        _fail(str(e), EXIT_BAD_INPUT)


@map_app.command("completion")
def completion(
    output: OutputOpt,
    date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD or a checkpoint such as T-30 (default: today).")
    ] = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = None,
    basemap_datum: DatumOpt = None,
    survey: Annotated[
        str | None,
        typer.Option(
            "--survey",
            help="The orthophoto under the layers: a survey id (default: the latest flown by the date), or none.",
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """The completion map on a date: features coloured by status, figures, S-curve, late projects,
    over the latest orthophoto (carried in the file, downsampled, so it opens offline)."""
    from cli.main import _errors
    from web.maps import completion_map

    _assets_or_fail(output)
    twin, ctx = _context(store, lang, basemap, basemap_datum)
    with twin, _errors():
        html = completion_map(ctx, date, survey)
    _write(output, html)


@map_app.command("timeline")
def timeline(
    output: OutputOpt,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = None,
    basemap_datum: DatumOpt = None,
    store: StoreOpt = None,
) -> None:
    """The completion map stepping through the 10-day checkpoints with a slider."""
    from cli.main import _errors
    from web.maps import timeline_map

    _assets_or_fail(output)
    twin, ctx = _context(store, lang, basemap, basemap_datum)
    with twin, _errors():
        html = timeline_map(ctx)
    _write(output, html)


@map_app.command("changes")
def changes(
    output: OutputOpt,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The older version: commit id, HEAD~n or a date (default: the change before the latest one to a layer the map shows; survey imports are not changes to the venue).",
        ),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="The newer version (default HEAD).")] = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = None,
    basemap_datum: DatumOpt = None,
    store: StoreOpt = None,
) -> None:
    """What changed between two versions or dates: added, modified (old shape dashed), deleted."""
    from cli.main import _errors
    from web.maps import changes_map

    _assets_or_fail(output)
    twin, ctx = _context(store, lang, basemap, basemap_datum)
    with twin, _errors():
        html = changes_map(ctx, from_, to)
    _write(output, html)


@map_app.command("layer")
def layer(
    name: Annotated[str, typer.Argument(metavar="LAYER", help="The layer to check, e.g. landscaping.")],
    output: OutputOpt,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="A commit id, HEAD~n or a date (default HEAD).")
    ] = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = None,
    basemap_datum: DatumOpt = None,
    store: StoreOpt = None,
) -> None:
    """One layer with its attributes; features failing validation or missing attributes marked."""
    from cli.main import _errors
    from web.maps import layer_map

    _assets_or_fail(output)
    twin, ctx = _context(store, lang, basemap, basemap_datum)
    with twin, _errors():
        html = layer_map(ctx, name, version)
    _write(output, html)
