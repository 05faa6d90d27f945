"""`venue-twin`: the command line over the twin.

Exit codes: 0 success, 1 the twin is corrupt (fsck), 2 bad input (a malformed file, a feature
that fails validation, an unknown layer, version or CRS), 3 conflict (the twin moved on). When the
reader of its output goes away (``| head``): the code of the error it was reporting, else 141
(128 + SIGPIPE, as a shell reports a program killed by the broken pipe), never 1.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
import typer.core
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cli.brief import brief
from cli.completion import completion_app, progress_app
from cli.evidence import evidence
from cli.intake import projects_app  # also adds `progress import`
from cli.layers import layer_app
from cli.maps import map_app
from cli.pipes import EXIT_BROKEN_PIPE, Console, help_raises_broken_pipe, pipe_closed, said, write_whole
from cli.surveys import raster_app
from twin import HEAD, Change, Conflict, Feature, Ref, Twin, TwinError, ValidationFailed
from twin.copies import carried_note, fields_differ, onto_head, read_schema
from twin.encoding import diff_feature_bytes, feature_collection
from twin.errors import BadInput, Corrupt, NotFound, Problem, Stopped
from twin.gcpause import gc_paused_for
from twin.model import diff_counts
from twin.stores import MIGRATE_LOCK_TIMEOUT, shown
from twin.tokens import Tokens
from twin.validation import visible

if TYPE_CHECKING:
    from layers.io import ReadResult, StoredProperties
    from twin.settings import TwinSettings

EXIT_CORRUPT, EXIT_BAD_INPUT, EXIT_CONFLICT = 1, 2, 3


class _Commands(typer.core.TyperGroup):
    """The command tree, exiting EXIT_BROKEN_PIPE when the output's reader has gone, rather than
    click's 1 (the twin is corrupt) or a traceback; an error being reported when it went keeps its
    own code (see _fail). Output still buffered is flushed here, where a broken pipe is caught."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        # `venue-twin --help | head -1`: typer prints the help with a console of its own while the
        # arguments are parsed (a command's too, in invoke), which exited 1 on the broken pipe
        # (cli.pipes.help_raises_broken_pipe; made so only when help is asked for or a usage error
        # is to be printed: typer's help module costs every command's start 40 ms).
        if not args or "--help" in args:
            help_raises_broken_pipe()
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            pipe_closed()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except typer.TyperException:  # a usage error, which typer prints on its own console
            help_raises_broken_pipe()
            raise

    def invoke(self, ctx: Any) -> Any:
        from twin.settings import SettingsError

        try:
            try:
                with _stoppable():
                    rv = super().invoke(ctx)
            except Stopped as e:  # SIGTERM (systemd, kill) or Ctrl-C: said, not a traceback or a silent 130
                _fail(str(e), 128 + e.signum)
            except SettingsError as e:  # a bad VENUE_TWIN_ variable, wherever a command read it
                _fail(str(e), EXIT_BAD_INPUT)
            except typer.TyperException:  # a command's usage error, which typer prints on its own console
                help_raises_broken_pipe()
                raise
            except typer.Exit as e:
                if e.exit_code:  # the command's own failure is the one to report
                    try:
                        sys.stdout.flush()
                    except BrokenPipeError:
                        pipe_closed()
                    raise
                sys.stdout.flush()
                raise
            sys.stdout.flush()
            return rv
        except BrokenPipeError:
            pipe_closed()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None


@contextmanager
def _stoppable() -> Iterator[None]:
    """SIGTERM and SIGINT raise Stopped where the command is (as Ctrl-C raises KeyboardInterrupt),
    so a write under way is rolled back and the command says what became of its work, exiting
    128 + the signal's number (143, 130) as a shell reports a program the signal killed. A second
    signal ends the process at once: SQLite keeps the twin whole either way. (`serve` hands both
    signals to uvicorn, which installs its own while it runs: a graceful shutdown.)"""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Stopped(signum)

    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        Stopped.last = None


app = typer.Typer(
    cls=_Commands,
    help="The versioned digital twin of the National Exhibition and Convention Center (Shanghai).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)
# No markup on stderr: what it prints holds the user's data and the library's reasons ("[x, y]
# positions", a column named "[m]"), which rich's markup would read as tags and drop.
err = Console(stderr=True, soft_wrap=True, markup=False)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        help="The twin: a GeoPackage file or a postgresql:// URL (default: $VENUE_TWIN_STORE or data/venue-twin.gpkg).",
    ),
]
AuthorOpt = Annotated[
    str | None,
    typer.Option("--author", help="Who makes the commit (default: $VENUE_TWIN_AUTHOR; one of the two is needed)."),
]
VersionOpt = Annotated[str | None, typer.Option("--version", "-v", help="A commit id (or prefix), HEAD or HEAD~n.")]
AsofOpt = Annotated[str | None, typer.Option("--asof", help="A time (RFC 3339) or a date (end of that day, Shanghai).")]


def copy_base(twin: Twin, file: Path, source_layer: str | None, parent: str | None) -> str | None:
    """The commit an imported file is a copy of: `--parent`, else the one the file records (an
    export of this twin), else None (the file overwrites what it gives). A recorded version this
    twin does not have (another twin's export, or one rebuilt since) is said and passed over."""
    from layers.io import recorded_version

    if parent is not None:
        if parent.strip().upper() == "HEAD":
            return None
        ref = twin.resolve(parent)
        return ref.commit.id if ref.commit else None
    recorded = recorded_version(file, source_layer)
    if recorded is None:
        return None
    try:
        ref = twin.resolve(recorded)
    except (NotFound, BadInput):
        err.print(
            f"note: {file.name} was exported at {recorded[:12]}, which this twin does not have; imported onto the head"
        )
        return None
    if ref.commit is not None and (head := twin.head()) is not None and ref.commit.id != head.id:
        err.print(
            f"note: {file.name} is a copy of {recorded[:12]}; features it gives as they were then stay as they are "
            "now (--parent HEAD to overwrite them)"
        )
    return ref.commit.id if ref.commit else None


def _fail(message: str, code: int, problems: list[str] | None = None) -> NoReturn:
    try:
        # (an error may quote what it refuses, control characters and markup included)
        err.print(Text.assemble(("error:", "bold red"), " ", visible(message, multiline=True)), highlight=False)
        for p in (problems or [])[:50]:
            err.print(Text(f"  - {visible(p, multiline=True)}"), highlight=False)
        if problems and len(problems) > 50:
            err.print(f"  … and {len(problems) - 50} more", highlight=False)
    except BrokenPipeError:
        # `... 2>&1 | head -1`: the reader has what it wanted; the exit code is still the error's.
        pipe_closed()
    raise typer.Exit(code)


@contextmanager
def _errors(context: str = "") -> Iterator[None]:
    """Map the twin's errors to exit codes in one place. ``context`` (a file as given, a layer)
    leads the message, once: an error that already begins with the file's name (most do: the
    library names the file it refuses) is not prefixed with it again."""

    leads = (f"{context}: ", f"{Path(context).name}: ") if context else ()

    def unled(text: str) -> str:
        for lead in leads:
            if text.startswith(lead):
                return text[len(lead) :]
        return text

    def said(e: BaseException) -> str:
        return f"{context}: {unled(str(e))}" if context else str(e)

    try:
        yield
    except ValidationFailed as e:
        prefix = f"{context}: " if context else ""
        # The headline names the file; each problem names its feature and, when the reader gave
        # one, where in the file (the file's name again on every line only hid that).
        problems = [str(Problem(p.layer, p.feature_id, unled(p.reason))) for p in e.problems]
        _fail(f"{prefix}{len(e.problems)} problem(s); nothing was committed", EXIT_BAD_INPUT, problems)
    except Conflict as e:
        _fail(f"{said(e)}; nothing was committed", EXIT_CONFLICT)
    except Corrupt as e:
        _fail(said(e), EXIT_CORRUPT)
    except (BadInput, NotFound) as e:
        _fail(said(e), EXIT_BAD_INPUT)
    except TwinError as e:
        _fail(said(e), EXIT_BAD_INPUT)


def _settings() -> TwinSettings:
    # Imported when a command reads a setting: pydantic-settings takes about 0.1 s to import.
    from twin.settings import settings

    return settings()


def _store_path(store: str | Path | None) -> str:
    return str(store) if store is not None else _settings().store


def _load_domain() -> None:
    """Load the venue's domain, completion, which registers with the twin the project register's
    commit rules and the QGIS presenter that rewrites the file's styles after a commit
    (completion/__init__.py). Every command that opens a twin loads it, so that an import, a change
    file, a revert or a copy obeys the rules and keeps the styles as the API does; it is not imported
    at the top, so that `--help` does not pay for it."""
    import completion  # noqa: F401


def _open(store: str | Path | None) -> Twin:
    _load_domain()
    path = _store_path(store)
    with _errors():
        return Twin.open(path)


def _author(author: str | None) -> str:
    """Who the commit is by: --author, else $VENUE_TWIN_AUTHOR. A login name on a shared server
    (root@host) says nothing about who answers for a change, so there is no silent fallback."""
    who = author or _settings().author
    if not who or not who.strip():
        _fail(
            'who makes this commit? Give --author "Name <unit>" or set VENUE_TWIN_AUTHOR '
            '(for example: export VENUE_TWIN_AUTHOR="Li Wei <venue office>")',
            EXIT_BAD_INPUT,
        )
    return who


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


# ---------------------------------------------------------------------- commands
@app.command()
def init(
    store: StoreOpt = None,
    empty: Annotated[
        bool, typer.Option(help="Only the venue's layer catalogue, no bundled features or history.")
    ] = False,
    venue: Annotated[
        bool,
        typer.Option(
            help="The venue's layers as they stand, as one commit dated --since, without the bundled project "
            "register and history: for a season already under way, imported with its original dates."
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="With --venue: the day (YYYY-MM-DD) the venue's layers are recorded from; before the season's "
            "first planned start. Default: the bundled initial survey's day."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing twin file.")] = False,
    surveys: Annotated[
        bool,
        typer.Option(
            "--surveys/--no-surveys",
            help="Render and import the synthetic demo drone surveys (orthophotos, NDVI; about a minute).",
        ),
    ] = True,
    survey_checkpoints: Annotated[
        str,
        typer.Option(help="The checkpoints (days before opening, comma-separated) the demo surveys are flown at."),
    ] = "70,50,30,10",
) -> None:
    """Create the twin: the venue's layers with the bundled data and its history, and demo surveys."""
    from layers.bundle import build_bundled_twin
    from layers.catalogue import AREA_OF_INTEREST, LAYERS

    path = _store_path(store)
    if venue and empty:
        _fail("--venue and --empty: choose one (--venue holds the venue's layers, --empty none)", EXIT_BAD_INPUT)
    if since is not None and not venue:
        _fail("--since goes with --venue (the day the venue's layers are recorded from)", EXIT_BAD_INPUT)
    since_day = _since_day(since) if since is not None else None
    try:
        checkpoints = tuple(sorted({int(t.strip().removeprefix("T-")) for t in survey_checkpoints.split(",")}))
    except ValueError:
        _fail(f"--survey-checkpoints {survey_checkpoints!r}: days before opening day, e.g. 70,30,10", EXIT_BAD_INPUT)
    if any(t <= 0 for t in checkpoints):
        _fail(
            f"--survey-checkpoints {survey_checkpoints!r}: each must be a number of days before opening day",
            EXIT_BAD_INPUT,
        )
    if surveys and not empty and not venue:
        # Asked before the twin is built (half a minute on a database): the demo surveys' files
        # need a home, and a twin built first was left behind, refused a second `init`.
        from twin.settings import survey_dir_problem

        problem = survey_dir_problem(path, _settings().survey_dir)
        if problem:
            _fail(f"the demo surveys cannot be stored: {problem}; or pass --no-surveys", EXIT_BAD_INPUT)
    with _errors():
        if Twin.exists(path):
            if not force:
                _fail(f"{shown(path)} holds a twin already (use --force to replace it)", EXIT_BAD_INPUT)
            Twin.remove(path)
        if empty:
            Twin.create(path, LAYERS, AREA_OF_INTEREST).close()
        elif venue:
            from layers.bundle import build_venue_twin

            build_venue_twin(path, since_day).close()
        else:
            with _progress() as progress:
                task = progress.add_task("building the bundled venue twin", total=None)

                def step(done: int, total: int, what: str) -> None:
                    progress.update(task, completed=done, total=total, description=what)

                twin = build_bundled_twin(path, progress=step)
                with twin:
                    if surveys:
                        _demo_surveys(twin, progress, task, checkpoints)
    out.print(f"created {shown(path)}")
    summary(store=path)


def _since_day(text: str) -> date:
    """--since as a day, or exit 2 naming what it takes; not after today (a twin records no future)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        _fail(f"--since {text!r}: a day as YYYY-MM-DD, e.g. --since 2026-05-01", EXIT_BAD_INPUT)
    from completion.snapshot import today_local

    if day > today_local():
        _fail(f"--since {day.isoformat()} is after today: the venue's layers are recorded from a day gone by", EXIT_BAD_INPUT)
    return day


def _demo_surveys(twin: Twin, progress: Any, task: Any, checkpoints: tuple[int, ...]) -> None:
    """The synthetic demo surveys (layers.demo_surveys), rendered in a scratch directory and imported:
    a new user sees imagery and an imagery flag with nothing to download."""
    import tempfile

    from layers.demo_surveys import build_demo_surveys

    def step(done: int, total: int, what: str) -> None:
        progress.update(task, completed=done, total=total, description=f"rendering demo survey {what}")

    with tempfile.TemporaryDirectory(prefix="venue-twin-demo-surveys-") as scratch:
        build_demo_surveys(twin, scratch, checkpoints=checkpoints, progress=step)


@app.command()
def summary(store: StoreOpt = None) -> None:
    """The twin at a glance: its file, head commit and layers with feature counts."""
    twin = _open(store)
    with twin, _errors():
        head = twin.head()
        out.print(f"[bold]venue twin[/] {shown(_store_path(store))}")
        if head is None:
            out.print("no commits yet")
        else:
            out.print(f"head {head.id[:12]}  {_time(head.time)}  {said(head.author)}: {said(head.message)}")
            out.print(f"{twin.commit_count()} commits")
        table = Table("layer", "title", "features", "geometry")
        for s in twin.layers():
            table.add_row(s.name, f"{s.title_en} / {s.title_zh}", str(twin.count(s.name)), ", ".join(s.geometry_types))
        out.print(table)
        if any(s.positions_approximate for s in twin.layers()):
            out.print("positions are approximate (about ±150 m) until a surveyed layer is imported")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, zipped Shapefile (.zip), .shp or CSV with WKT.")],
    layer: Annotated[str, typer.Option("--layer", "-l", help="The twin layer to import into.")],
    store: StoreOpt = None,
    crs: Annotated[
        str | None, typer.Option(help="The file's CRS when it has none or a wrong one, e.g. EPSG:4549.")
    ] = None,
    datum: Annotated[
        str, typer.Option(help="wgs84, or gcj02 / bd09 for coordinates copied from Chinese web maps.")
    ] = "wgs84",
    id_field: Annotated[str | None, typer.Option(help="The column holding stable feature ids.")] = None,
    source_layer: Annotated[str | None, typer.Option(help="The layer to read from a multi-layer file.")] = None,
    mode: Annotated[
        str, typer.Option(help="upsert: add or modify; add: only new features; replace: the layer becomes the file.")
    ] = "upsert",
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: AuthorOpt = None,
    batch: Annotated[
        int | None,
        typer.Option(
            help="Read and commit N features at a time (one commit each), so a file of millions of features "
            "is never held whole; a batch that fails stops the import and the batches before it stay committed."
        ),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            help="The version the file is a copy of (default: the one a file exported by the twin records). A "
            "feature it gives as it was then is no change, so edits made here since stay; one changed both since "
            "and in the file is a conflict (exit 3). HEAD: no such check, the file's features overwrite."
        ),
    ] = None,
) -> None:
    """Import a file into a layer as one commit (reprojected to lon/lat on the way)."""
    from layers.io import read_layer_file

    if mode not in ("upsert", "add", "replace"):
        _fail(f"--mode {mode!r} is not one of upsert, add, replace", EXIT_BAD_INPUT)
    if datum not in ("wgs84", "gcj02", "bd09"):
        _fail(f"--datum {datum!r} is not one of wgs84, gcj02, bd09", EXIT_BAD_INPUT)
    if layer == "projects" and _register_sheet(file):
        # The coordinators' workbook or CSV, with their headers: the spreadsheet importer reads it.
        from cli.intake import import_register_cmd

        import_register_cmd(file, message=message, author=author, store=store)
        return
    if batch is not None:
        if mode == "replace":
            _fail("--batch imports with --mode upsert or add (replace needs the whole file at once)", EXIT_BAD_INPUT)
        if batch < 1:
            _fail(f"--batch {batch}: a batch holds at least one feature", EXIT_BAD_INPUT)
        from cli.batch_import import import_batches

        import_batches(
            file, layer, store, crs, datum, id_field, source_layer, mode, message, _author(author), batch, parent
        )
        return
    twin = _open(store)
    commit_message = message or f"Import {file.name} into {layer} ({mode})"
    with twin, _errors(str(file)), _progress() as progress, _stop_said(twin, "the import") as asked:
        twin.layer(layer)  # an unknown layer is refused before the file is read
        base = copy_base(twin, file, source_layer, parent)
        schema = read_schema(twin, layer, base)
        across = base is not None and fields_differ(schema, twin.layer(layer))
        if across:
            assert base is not None
            err.print(carried_note(twin, layer, file.name, base))
        task = progress.add_task(f"reading {file.name}", total=None)
        result = read_layer_file(
            file,
            schema,
            crs=crs,
            datum=datum,  # type: ignore[arg-type]  # checked against the three datums above
            id_field=id_field,
            source_layer=source_layer,
            generate_ids=(mode == "add"),
            stored=stored_properties(twin, layer, base),
        )
        read_notes(result, layer, file)
        keep_whole_texts(twin, layer, file, result.features, base)
        n = len(result.features)
        progress.update(task, description=f"validating and committing {n} features", total=None)
        op = "add" if mode == "add" else "upsert"
        with gc_paused_for(n):  # the changes live until the commit is written (twin.gcpause)
            on: str | None = base or HEAD
            if across:
                assert base is not None
                changes, on = onto_head(twin, layer, file.name, result.features, base, op, mode == "replace")
            else:
                changes = [Change(layer, op, f.id, f) for f in result.features]  # type: ignore[arg-type]
                if mode == "replace":
                    keep = {f.id for f in result.features}
                    changes += [Change(layer, "delete", fid) for fid in twin.feature_ids(layer) if fid not in keep]
            who = _author(author)
            asked.author, asked.message = who, commit_message
            try:
                if not changes:  # a copy carried over that gives every feature as it was
                    _nothing_to_commit(twin, layer, file)
                    return
                info = twin.commit(
                    changes,
                    author=who,
                    message=commit_message,
                    parent=on,
                    copy_of_parent=base is not None,
                )
            except ValidationFailed as e:
                if not e.nothing_changes:
                    raise
                # The file imported again (a scheduled sync, a rerun): the twin holds it already.
                # Not a failure a script should stop on; no commit is made.
                _nothing_to_commit(twin, layer, file)
                return
    c = info.counts.get(layer, {})
    out.print(
        f"committed {info.id[:12]}: {layer} +{c.get('added', 0)} ~{c.get('modified', 0)} -{c.get('deleted', 0)} "
        f"(from {result.source_crs}{', ' + datum if datum != 'wgs84' else ''})"
    )
    overwrite_note(file, base, parent, c.get("modified", 0))


def overwrite_note(file: Path, base: str | None, parent: str | None, modified: int) -> None:
    """An import of a copy that records no version (GDAL's of the OGC API, a file from elsewhere)
    cannot be merged: what it gives replaced the features as they were, a colleague's later edit
    too. Said after the import, whole or in batches (`modified`: the features it replaced, summed
    over the batches)."""
    if base is None and parent is None and modified:
        err.print(
            f"note: {file.name} records no version of this twin, so its {modified} feature(s) the twin "
            "had were replaced as the file gives them, edits made since it was copied included; a copy "
            "exported from the twin (venue-twin export, the download) keeps others' later edits"
        )


def _nothing_to_commit(twin: Twin, layer: str, file: Path) -> None:
    head = twin.head()
    out.print(
        f"nothing to commit: {layer} already holds every feature of {file.name} as given "
        f"(head {head.id[:12] if head else '-'})"
    )


@dataclass
class _Asked:
    """The commit a command has asked the twin for, once it has: by whom, and with what message
    (None: the twin words it, as a revert's). Not yet asked (no author), nothing was committed."""

    author: str | None = None
    message: str | None = None


@contextmanager
def _stop_said(twin: Twin, what: str) -> Iterator[_Asked]:
    """A command stopped by a signal says whether its commit (`what`'s: "the import") was written:
    SQLite writes a commit whole or not at all; a stop during the write rolls it back, but one that
    comes while SQLite writes the commit's pages to disk takes effect once they are, after the
    commit. The command fills in what it asks for (the yielded _Asked) as it asks: a head new since
    it began, by that author and with that message, is its commit, not another writer's."""
    before = twin.head()
    asked = _Asked()
    try:
        yield asked
    except Stopped as e:
        head = twin.head()
        moved = head is not None and (before is None or head.id != before.id)
        if head is not None and moved and head.author == asked.author and asked.message in (None, head.message):
            e.args = (f"stopped by {e.name} after {what}'s commit {head.id[:12]} was written whole",)
        else:
            e.args = (f"stopped by {e.name} before {what} was committed: nothing was committed, the twin is as it was",)
        raise


def stored_properties(twin: Twin, layer: str, base: str | None) -> StoredProperties:
    """What the twin holds of the features a file gives, as the file's reader asks for it to keep
    the fields the file has no column for: as of `base` (the version the file is a copy of, so a
    feature otherwise as it was then is no change and what others changed since stays), else the
    head."""

    def lookup(ids: list[str]) -> dict[str, dict[str, Any]]:
        at = twin.resolve(base) if base else None
        return {fid: orjson.loads(b)["properties"] for fid, b in twin.features_by_id(layer, ids, at).items()}

    return lookup


def read_notes(result: ReadResult, layer: str, file: Path, columns: bool = True) -> None:
    """What an import read differently from what the file says row by row: columns it has that the
    layer lacks, fields it has no column for (`columns`: once a file, not each batch), and features
    added in it without an id."""
    if columns and result.ignored_columns:
        err.print(f"note: columns not in layer {layer} were not imported: {', '.join(result.ignored_columns)}")
    if columns and result.absent_fields:
        names = ", ".join(result.absent_fields)
        err.print(
            f"warning: {file.name} has no column {names}: kept as they are in the features the twin has "
            "(an empty cell of a column would empty the value); new features get none"
        )
    if result.new_ids:
        err.print(
            f"note: {result.new_ids} feature(s) without a feature_id got new ids (as features added in QGIS are): "
            "export again before editing further, or importing this file again adds them again"
        )


def keep_whole_texts(twin: Twin, layer: str, file: Path, features: Sequence[Feature], base: str | None) -> None:
    """A Shapefile this twin exported cut its long texts, and lists (as JSON text), to fit dBASE (its
    fields list counts them): brought back, each that is just the cut form of the one stored when
    the copy was made (at `base`, else the head) is the stored one again, so an unedited file changes
    nothing. A cut list edited in the file is refused, pointing to GeoPackage (ValidationFailed)."""
    from layers.io import restore_cut_texts, shapefile_cut_fields

    cut = shapefile_cut_fields(file)
    if not cut or not features:
        return
    at = twin.resolve(base) if base else None
    stored = twin.features_by_id(layer, [str(f.id) for f in features], at)
    restored = restore_cut_texts(
        features, cut, {fid: orjson.loads(b)["properties"] for fid, b in stored.items()}, layer
    )
    if restored:
        err.print(
            f"note: {restored} text(s) the Shapefile cut to fit dBASE ({', '.join(sorted(cut))}) are kept whole as "
            "stored; a text edited in the file is imported as edited"
        )


def _register_sheet(file: Path) -> bool:
    """Whether a file for the project register is a spreadsheet (Excel, or a CSV of the
    coordinators' headers) rather than a layer file: a GeoJSON, GeoPackage or zipped Shapefile, or a
    CSV the twin exported, which names its rows by feature_id and imports back as every layer's does."""
    suffix = file.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return True
    if suffix not in (".csv", ".txt", ".tsv"):
        return False
    try:
        with file.open("rb") as f:
            first = f.readline(65536).decode("utf-8-sig", errors="replace")
    except OSError:
        return True  # the spreadsheet importer says what is wrong with it
    return "feature_id" not in [c.strip().strip('"') for c in first.split(",")]


@app.command()
def commit(
    file: Annotated[Path, typer.Argument(help="A change file: a GeoJSON FeatureCollection with twin:layer/twin:op.")],
    store: StoreOpt = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: AuthorOpt = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Refuse (exit 3) unless the file's twin:commit.parent is still the head, instead of "
            "applying it on top of later commits that touched none of its features.",
        ),
    ] = False,
    original_dates: Annotated[
        bool,
        typer.Option(
            "--original-dates",
            help="Record the commit at the file's twin:commit.time (not before the head, not in the future).",
        ),
    ] = False,
) -> None:
    """Apply a file of changes as one commit (all or nothing).

    A file naming an older parent is applied on top of the head if none of its features (and
    none of the codes it gives) changed since that parent; otherwise it is a conflict (exit 3).
    """
    from layers.changefile import read_change_file

    twin = _open(store)
    with twin, _errors(str(file)), _stop_said(twin, "the change file") as asked:
        cf = read_change_file(file)
        if strict and not cf.parent:
            raise BadInput("--strict needs the file to name its parent (twin:commit.parent)")
        who, msg = author or cf.author or _author(None), message or cf.message or f"Apply {file.name}"
        asked.author, asked.message = who, msg
        info = twin.commit(
            cf.changes,
            author=who,
            message=msg,
            parent=cf.parent or "HEAD",
            strict=strict,
            time=cf.when if original_dates else None,
        )
    if cf.time and not original_dates:
        err.print(f"note: recorded now, not at the file's twin:commit.time {cf.time} (use --original-dates for that)")
    out.print(f"committed {info.id[:12]}: {_counts(info.counts)}")


@app.command()
def log(
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many commits.")] = 50,
    offset: Annotated[int, typer.Option("--skip", min=0, help="Skip this many of the newest first.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The commits, newest first (50 unless --limit says otherwise; the end says how many are older)."""
    twin = _open(store)
    with twin, _errors():
        commits = twin.log(limit, offset)
        for c in commits:
            if as_json:
                write_whole(orjson.dumps(c.to_dict()).decode() + "\n")
            else:
                out.print(
                    # one line a commit: a line break in the message prints as \\x0a, never as a line
                    f"[yellow]{c.id[:12]}[/] {_time(c.time)}  [bold]{said(c.author)}[/]  {said(c.message)}",
                    highlight=False,
                )
                out.print(f"             {_counts(c.counts)}", highlight=False)
        older = twin.commit_count() - offset - len(commits)
        if older > 0 and commits:
            # said on stderr, so that `--json` lines and a pipe read only commits
            err.print(f"{older:,} older commit(s) not shown: --skip {offset + len(commits)} (or --limit) for more")


@app.command()
def show(
    version: Annotated[str, typer.Argument(help="A commit id (or prefix), HEAD or HEAD~n.")] = "HEAD",
    layer: Annotated[str | None, typer.Option("--layer", "-l", help="With --id: show one feature.")] = None,
    feature_id: Annotated[str | None, typer.Option("--id", help="The feature to show as of the version.")] = None,
    store: StoreOpt = None,
) -> None:
    """A commit with its changes, or (with --layer and --id) one feature as of that commit."""
    twin = _open(store)
    with twin, _errors():
        ref = twin.resolve(version)
        if layer and feature_id:
            write_whole(twin.feature(layer, feature_id, ref).decode() + "\n")
            return
        if ref.commit is None:
            raise NotFound("the twin has no commits")
        c = ref.commit
        data = c.to_dict()
        data["changes"] = [{"layer": layer, "op": op, "id": fid} for layer, op, fid in twin.changes(ref)]
        write_whole(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@app.command()
def diff(
    from_version: Annotated[
        str,
        typer.Argument(
            metavar="FROM", help="The older version: a commit id, HEAD~n, a checkpoint (T-30) or a time/date."
        ),
    ],
    to_version: Annotated[str, typer.Argument(metavar="TO", help="The newer commit; HEAD by default.")] = "HEAD",
    layer: Annotated[list[str] | None, typer.Option("--layer", "-l", help="Only these layers.")] = None,
    stat: Annotated[bool, typer.Option("--stat", help="Counts per layer instead of GeoJSON.")] = False,
    crs: Annotated[
        str | None,
        typer.Option(help="Coordinates in this CRS, e.g. EPSG:4549 (easting first; named as twin:crs)."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """What changed between two versions, as a GeoJSON FeatureCollection marked added/modified/deleted."""
    twin = _open(store)
    with twin, _errors():
        # TO a time before the history is said, as the API's /diff answers it, not "every feature
        # deleted"; FROM before it is the empty twin on purpose: the whole twin as added.
        a, b = _ref(twin, from_version), _ref_then(twin, to_version, "to")
        entries = twin.diff(a, b, layer)
        if stat:
            for name, c in diff_counts(entries).items():
                schema = " schema" if c.get("schema") else ""
                out.print(f"{name}:{schema} +{c['added']} ~{c['modified']} -{c['deleted']}")
            return
        features = [diff_feature_bytes(e.layer, e.kind, e.before, e.after) for e in entries]
        members = {"twin:from": a.commit.id if a.commit else None, "twin:to": b.commit.id if b.commit else None}
        if crs is not None:
            from layers.crs import crs_label, diff_in_crs, parse_crs

            label = crs_label(parse_crs(crs))
            if label not in ("EPSG:4326", "OGC:CRS84"):
                features = diff_in_crs(features, crs)
                members["twin:crs"] = label
        body = feature_collection(features, members)
        write_whole(body + b"\n")  # all of it, or exit 141 when the reader goes part way (cli.pipes)
        # Said now, not when the diff is committed back: `commit` refuses a layer's schema entry.
        from layers.changefile import diff_schema_notes

        for note in diff_schema_notes(entries, from_version, to_version, members.get("twin:crs")):
            err.print(f"note: {note}", highlight=False)


@app.command()
def history(
    layer: Annotated[str, typer.Argument()],
    feature_id: Annotated[str, typer.Argument(metavar="ID")],
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="GeoJSON of every version.")] = False,
) -> None:
    """Every version of one feature, oldest first, with who changed it and why."""
    twin = _open(store)
    with twin, _errors():
        entries = twin.history(layer, feature_id)
        if as_json:
            items = [
                {
                    "commit": h.commit.to_dict(),
                    "op": h.op,
                    "ended_by": h.ended_by,
                    "feature": orjson.loads(h.geojson) if h.geojson else None,
                }
                for h in entries
            ]
            write_whole(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        for h in entries:
            out.print(
                f"[yellow]{h.commit.id[:12]}[/] {_time(h.commit.time)} {h.op:<7} [bold]{said(h.commit.author)}[/]  {said(h.commit.message)}",
                highlight=False,
            )


@app.command()
def revert(
    version: Annotated[str, typer.Argument(help="The commit to undo.")],
    store: StoreOpt = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: AuthorOpt = None,
) -> None:
    """Undo a commit with a new commit (refused if its features changed again since)."""
    twin = _open(store)
    with twin, _errors(), _stop_said(twin, "the revert") as asked:
        who = _author(author)
        asked.author, asked.message = who, message  # no message: the twin words it ("Revert ...")
        info = twin.revert(version, author=who, message=message)
    out.print(f"committed {info.id[:12]}: {info.message} ({_counts(info.counts)})")


@app.command()
def export(
    layer: Annotated[str, typer.Argument()],
    output: Annotated[Path, typer.Option("--output", "-o", help=".geojson, .gpkg, .zip (Shapefile) or .csv")],
    version: VersionOpt = None,
    asof: AsofOpt = None,
    crs: Annotated[str, typer.Option(help="Write in this CRS, e.g. EPSG:4549.")] = "EPSG:4326",
    fmt: Annotated[
        str | None, typer.Option("--format", help="geojson, gpkg, zip or csv (default: from the extension).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Write a layer, as it is now or as of any version, to a file."""
    from layers.io import write_layer_file
    from twin.core import no_data_reason

    _output_dir(output)
    twin = _open(store)
    with twin, _errors(str(output)), _progress() as progress:
        ref = twin.resolve(version, asof)
        # A date before the history has no layer to write: an empty file, recording no version,
        # would read as "nothing there" (and delete the layer if imported with --mode replace).
        if asof is not None and (why := no_data_reason(twin, ref.seq, asof)):
            raise BadInput(why)
        schema = twin.layer(layer)
        total = twin.count(layer, ref)
        task = progress.add_task(f"exporting {layer}", total=total)

        def rows():  # type: ignore[no-untyped-def]
            for i, row in enumerate(twin.export_rows(layer, ref)):
                if i % 1000 == 0:
                    progress.update(task, completed=i)
                yield row

        n = write_layer_file(rows(), schema, output, crs=crs, fmt=fmt, version=ref.commit.id if ref.commit else None)
    at = ref.commit.id[:12] if ref.commit else "(empty)"
    out.print(f"wrote {n} features of {layer} as of {at} to {output} ({crs})")


@app.command()
def migrate(
    store: StoreOpt = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for locks other sessions hold on the twin's tables before stopping, changing "
            f"nothing (default {MIGRATE_LOCK_TIMEOUT:g}; 0 waits as long as it takes). Readers queue behind a waiting "
            "migration."
        ),
    ] = None,
) -> None:
    """Create or upgrade the store's schema (PostGIS: numbered migrations); a GeoPackage needs none."""
    path = _store_path(store)
    with _errors():
        steps = Twin.migrate(path, lock_timeout=lock_timeout)
    if steps:
        for step in steps:
            out.print(f"applied {step}")
    else:
        out.print(f"{shown(path)} is up to date")


@app.command()
def fsck(store: StoreOpt = None) -> None:
    """Recompute every commit id from the stored versions and check the file; exit 1 if corrupt."""
    twin = _open(store)
    with twin, _errors():
        problems = twin.fsck()
        n = twin.commit_count()
    if problems:
        _fail(f"{len(problems)} problem(s) in {shown(_store_path(store))}", EXIT_CORRUPT, problems)
    out.print(f"ok: {n} commits verified, indexes and stored tables agree")


@app.command()
def copy(
    src: Annotated[str, typer.Argument(metavar="SRC", help="The twin to copy: a file, gpkg:///path or postgresql://…")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="Where to: a file, gpkg:///path or postgresql://…")],
    force: Annotated[bool, typer.Option("--force", help="Replace a destination file that is not empty.")] = False,
) -> None:
    """Copy a whole twin (every commit with its id, the schemas, the area and the tokens) to another store.

    An interrupted copy leaves the destination as it was: a file appears only when whole, a
    database gets everything in one transaction."""
    from twin.copying import copy_twin

    _load_domain()  # the copy's styles are written by the domain's presenter
    with _progress() as bar, _errors():
        commits = bar.add_task("commits", total=None)
        changes = bar.add_task("changes", total=None)

        def start(n: int, m: int) -> None:
            bar.update(commits, total=n)
            bar.update(changes, total=m)

        def advance(n: int, m: int) -> None:
            bar.advance(commits, n)
            bar.advance(changes, m)

        done = copy_twin(src, dst, force=force, start=start, advance=advance)
    head = done.head[:12] if done.head else "(empty)"
    out.print(
        f"copied {done.commits} commits ({done.changes} changes) and {done.tokens} token(s) to {shown(dst)}; head {head}"
    )
    files = done.surveys
    if files is not None and files.recorded:
        said = [
            ", ".join(
                part for part in (f"{n} copied to {d}" if n else "", f"{kept} already in {d}" if kept else "") if part
            )
            for d, n, kept in files.directories
            if n or kept
        ]
        out.print(f"survey files ({files.recorded} recorded, sizes and SHA-256 checked): {'; '.join(said) or 'none'}")
        if files.problems:  # the twin is copied: said, with what brings each file, not a failure
            err.print(
                f"warning: {len(files.problems)} survey file(s) not brought to the copy; "
                "their surveys answer 404 and the evidence passes them over until they are there:"
            )
            for problem in files.problems:
                err.print(f"  {problem}")


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port, 1 to 65535 (default: $VENUE_TWIN_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (at least 1).")] = 1,
    root_path: Annotated[
        str | None,
        typer.Option(
            help="The path a reverse proxy serves the twin under, e.g. /twin (default: $VENUE_TWIN_ROOT_PATH)."
        ),
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log", help="A line per request on stderr (default: $VENUE_TWIN_ACCESS_LOG, on)."
        ),
    ] = None,
) -> None:
    """Serve the twin over HTTP: OGC API - Features with time travel, edits and maps."""
    import os

    import uvicorn

    from api.server import HTTP_PROTOCOL
    from api.settings import check_settings

    # Said before anything starts: the port was wrapped (99999 served on 34463 while "serving on
    # :99999" was said), 0 served on 8000, and no workers served nothing.
    if port is not None and not 1 <= port <= 65535:
        _fail(f"--port {port}: a port is a number from 1 to 65535", EXIT_BAD_INPUT)
    if workers < 1:
        _fail(f"--workers {workers}: at least 1 worker process", EXIT_BAD_INPUT)
    if store is not None:
        os.environ["VENUE_TWIN_STORE"] = str(store)  # worker processes read settings from the environment
    if root_path is not None:
        os.environ["VENUE_TWIN_ROOT_PATH"] = root_path  # checked with the other settings below
    with _errors():
        s = check_settings()  # every setting the service reads: a bad one stops it here, named
        if not Twin.exists(s.store):
            _fail(f"no twin at {shown(s.store)}: run `venue-twin init` first", EXIT_BAD_INPUT)
        with Twin.open(s.store) as twin:  # fail here, clearly, rather than in a worker
            _survey_files_check(twin, s.store, s.survey_dir)
            read_only = twin.read_only
    if read_only:
        err.print(f"note: {shown(s.store)} is read-only here ({read_only}): serving reads; edits answer 503")
    h, p = host or s.host, port if port is not None else s.port
    _check_port_free(h, p)
    err.print(f"serving {shown(s.store)} on http://{h}:{p}/  (OGC API - Features; Ctrl-C stops)")
    if s.root_path:
        err.print(f"links are under {s.root_path}/ (a reverse proxy forwards {s.root_path}/… here without it)")
    # uvicorn with our protocol, which closes connections whose request head stalls (api/server.py).
    logged = s.access_log if access_log is None else access_log
    # uvicorn's own handlers stop it gracefully (requests under way answered, then the process ends
    # by the signal it got, as systemd expects): the command line's Stopped is not wanted here.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    uvicorn.run(
        "api.main:app",
        host=h,
        port=p,
        workers=workers,
        # uvicorn writes its access log at INFO, so the level comes down with it
        log_level="info" if logged else "warning",
        access_log=logged,
        http=HTTP_PROTOCOL,
        root_path=s.root_path,
    )


def _check_port_free(host: str, port: int) -> None:
    """Refuse (exit 2, naming it) an address another program listens on. uvicorn says so too, but
    after "Application startup complete", and exits 3, which this CLI's scripts read as a conflict
    of edits. (A race with a program binding it meanwhile is left to uvicorn.)"""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        _fail(f"cannot listen on {host}: {e}", EXIT_BAD_INPUT)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as e:
            _fail(
                f"cannot listen on {host}:{port}: {e.strerror or e} (another `venue-twin serve`?); "
                "give another with --port or VENUE_TWIN_PORT",
                EXIT_BAD_INPUT,
            )


def _survey_files_check(twin: Twin, store: str, survey_dir: str | None) -> None:
    """`serve`'s startup check of the survey files: a database twin with surveys recorded needs an
    absolute VENUE_TWIN_SURVEY_DIR (refused, exit 2, without one); files not found there are
    warned of (the service still starts: the evidence passes those surveys over, their tiles
    answer 404 naming the file)."""
    from twin.settings import SURVEY_DIR_VAR, survey_dir_problem
    from twin.survey_read import missing_files

    recorded = twin.surveys()
    if not recorded:
        return
    problem = survey_dir_problem(store, survey_dir)
    if problem:
        _fail(f"{len(recorded)} survey(s) recorded, but {problem}", EXIT_BAD_INPUT)
    missing = missing_files(twin)
    if missing:
        where = twin.survey_path(missing[0]).parent
        names = ", ".join(s.file_name for s in missing[:3]) + (" …" if len(missing) > 3 else "")
        err.print(
            f"warning: {len(missing)} of {len(recorded)} recorded survey file(s) are not in {where} "
            f"({SURVEY_DIR_VAR}={survey_dir or '(not set)'}): {names}. The evidence passes them over and "
            "their images answer 404 until they are there; `venue-twin fsck` lists them."
        )


token_app = typer.Typer(help="Bearer tokens for the API (stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(raster_app, name="raster")
app.add_typer(progress_app, name="progress")
app.add_typer(completion_app, name="completion")
app.add_typer(projects_app, name="projects")
app.add_typer(map_app, name="map")
app.add_typer(layer_app, name="layer")
app.command("evidence")(evidence)
app.command("brief")(brief)


@contextmanager
def _tokens(store: str | None) -> Iterator[Tokens]:
    """The tokens of the twin (they live in its store, so every API process on it sees them)."""
    with _open(store) as twin:
        yield twin.tokens


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who holds the token (becomes the author of their commits).")],
    role: Annotated[str, typer.Option("--role", help="viewer, engineer, editor or admin.")] = "viewer",
    store: StoreOpt = None,
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    with _tokens(store) as tokens, _errors():
        token = tokens.create(name, role)
    err.print(f"token for {said(name)} ({said(role)}); keep it, it is not shown again:")
    print(token)


@token_app.command("revoke")
def token_revoke(
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID")],
    store: StoreOpt = None,
) -> None:
    """Revoke every live token with this name (or the token with this number)."""
    with _tokens(store) as tokens, _errors():
        n = tokens.revoke(name_or_id)
    out.print(f"revoked {n} token(s)")


@token_app.command("list")
def token_list(store: StoreOpt = None) -> None:
    """The tokens (never their secrets)."""
    table = Table("id", "name", "role", "created", "revoked")
    with _tokens(store) as tokens:
        rows = tokens.list()
    for t in rows:
        table.add_row(str(t.id), said(t.name), said(t.role), t.created[:19], (t.revoked or "")[:19])
    out.print(table)


# ---------------------------------------------------------------------- helpers
def _ref(twin: Twin, text: str) -> Ref:
    """A commit id, HEAD or HEAD~n, a checkpoint (T-30), else a time or date."""
    from completion.snapshot import resolve_ref

    return resolve_ref(twin, text)


def _ref_then(twin: Twin, text: str, name: str) -> Ref:
    """The version a command reads (`_ref`); a time or a checkpoint before the twin's history is
    refused (NotFound, exit 2) naming `name` and the day the history starts, as the API answers 404
    no_data_then, rather than read as the empty twin ("every feature deleted", "no surveys").
    HEAD~n back to the empty twin names that version on purpose."""
    from twin.core import no_data

    ref = _ref(twin, text)
    if not text.strip().upper().startswith("HEAD") and (why := no_data(twin, ref.seq, text)) is not None:
        raise NotFound(f"{name}: {why.text}", code="no_data_then", values=why.values)
    return ref


def _output_dir(output: Path) -> None:
    """Refuse (exit 2) a file to write into a directory that is not there, before any work: a
    mistyped path is said, not made (`export -o /nonexistent/dir/x.gpkg` made the directory and wrote
    there) nor a traceback (`projects sample`)."""
    where = output.parent
    if not where.is_dir():
        _fail(
            f"{where} is not a directory" if where.exists() else f"directory {where} does not exist",
            EXIT_BAD_INPUT,
        )


def _time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _counts(counts: dict[str, dict[str, int]]) -> str:
    def one(name: str, c: dict[str, int]) -> str:
        n = f" +{c['added']} ~{c['modified']} -{c['deleted']}"
        if c.get("schema"):  # a layer created or its schema changed (twin.schema)
            return f"{name} schema" + (n if c["added"] or c["modified"] or c["deleted"] else "")
        return name + n

    return ", ".join(one(name, c) for name, c in counts.items())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
