"""Build the bundled venue twin: the layer catalogue plus the 2026 preparation history.

The history is a series of change files, one commit each, with the author, message and time each
file records: the venue's layers in `layers/data/history/` (written by
`python -m layers.venue_geometry`) and the project register with its progress reports in
`layers/data/history/projects/` (written by `python -m layers.projects_demo`). The two series
interleave in time, so they are applied in the order of their commit times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import orjson

import completion  # noqa: F401  (registers the project register's rules: the bundled history obeys them too)
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.changefile import read_change_file
from twin.core import SHANGHAI, Twin
from twin.errors import BadInput
from twin.model import Change, Feature

DATA_DIR = Path(__file__).parent / "data"
HISTORY_DIR = DATA_DIR / "history"

Progress = Callable[[int, int, str], None]


PROJECTS_HISTORY_DIR = HISTORY_DIR / "projects"
_NUMBERED = "[0-9][0-9][0-9]-*.geojson"


def venue_history_files() -> list[Path]:
    """The venue layers' change files, oldest first (their names start with a three-digit number)."""
    return sorted(HISTORY_DIR.glob(_NUMBERED))


def projects_history_files() -> list[Path]:
    """The project register's change files, oldest first."""
    return sorted(PROJECTS_HISTORY_DIR.glob(_NUMBERED))


def _commit_time(path: Path) -> datetime:
    meta = orjson.loads(path.read_bytes()).get("twin:commit") or {}
    try:
        return datetime.fromisoformat(str(meta["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise BadInput(f"{path.name}: a bundled change file must give its commit time") from None


def bundled_history_files() -> list[Path]:
    """Every bundled change file in the order they are applied: by commit time (a tie keeps the venue's first)."""
    files = venue_history_files()
    if not files:
        raise BadInput(f"no bundled history in {HISTORY_DIR} (regenerate it with `python -m layers.venue_geometry`)")
    files += projects_history_files()
    return sorted(files, key=_commit_time)


def build_bundled_twin(path: str | Path, progress: Progress | None = None) -> Twin:
    """Create a twin at `path` (a file or a store URL) with the venue's layers and apply the
    bundled history to it.

    `progress(done, total, file_name)` is called after each commit. Refuses (Conflict) if `path`
    already holds a twin. The twin is flushed once built (so other programs, GDAL or QGIS, read
    it completely) and returned open; the caller closes it.
    """
    files = bundled_history_files()
    twin = Twin.create(path, LAYERS, AREA_OF_INTEREST)
    try:
        with twin.presentation_deferred():  # the QGIS styles and project are written once, at the head
            for n, f in enumerate(files, start=1):
                cf = read_change_file(f)
                if not cf.author or not cf.message or not cf.time:
                    raise BadInput(f"{f.name}: a bundled change file must give author, message and time")
                when = datetime.fromisoformat(cf.time.replace("Z", "+00:00"))
                twin.commit(cf.changes, author=cf.author, message=cf.message, time=when)
                if progress is not None:
                    progress(n, len(files), f.name)
        twin.flush()
    except BaseException:
        twin.close()
        raise
    return twin


VENUE_AUTHOR = "venue-twin init"


def venue_changes() -> list[Change]:
    """The venue's layers as the bundled history leaves them, as adds: each feature as last
    surveyed, the ones deleted left out; no project register, no reports."""
    final: dict[tuple[str, str], Feature] = {}
    for path in venue_history_files():
        for ch in read_change_file(path).changes:
            if ch.op == "delete" or ch.feature is None:
                final.pop((ch.layer, ch.feature_id), None)
            else:
                final[(ch.layer, ch.feature_id)] = ch.feature
    return [Change(layer, "add", fid, feature) for (layer, fid), feature in final.items()]


def venue_survey_date() -> date:
    """The day of the bundled initial survey, in Shanghai: the venue's layers are recorded from it."""
    files = venue_history_files()
    if not files:
        raise BadInput(f"no bundled history in {HISTORY_DIR} (regenerate it with `python -m layers.venue_geometry`)")
    return _commit_time(files[0]).astimezone(SHANGHAI).date()


def build_venue_twin(path: str | Path, since: date | None = None) -> Twin:
    """Create a twin at `path` holding the venue's layers as they stand (venue_changes) and nothing
    else, as one commit at the start of `since` in Shanghai (default: the initial survey's day).

    For a season already under way: its register and reports, imported afterwards with their
    original dates, land after this commit, so every view of the season has the venue to draw them
    on (a twin made with the whole bundled history ends in late October and refuses them; an empty
    one has no venue before today). Returned open and flushed; the caller closes it.
    """
    on = since or venue_survey_date()
    twin = Twin.create(path, LAYERS, AREA_OF_INTEREST)
    try:
        twin.commit(
            venue_changes(),
            author=VENUE_AUTHOR,
            message=f"The venue's layers as surveyed for the season, recorded from {on.isoformat()} "
            "(without the bundled project register and history)",
            time=datetime.combine(on, time(0, 0), tzinfo=SHANGHAI),
        )
        twin.flush()
    except BaseException:
        twin.close()
        raise
    return twin
