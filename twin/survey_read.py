"""Whether this server can read a recorded survey's file, said plainly when it cannot.

The history records a survey; its pixels are a file in the survey directory (twin.surveys). The
two can part: a server started with another VENUE_TWIN_SURVEY_DIR (or, before a database twin
needed an absolute one, another working directory), a file not yet copied to this machine, one
truncated, or one whose bands are not what its record says. Readers ask here first:

- `file_problem(twin, info)`: None, or why the file cannot be read ("file missing on this
  server"), checked by a stat and, once per file version, by opening it (cached on the file's
  size and mtime, so asking again costs a stat);
- `readable_survey_file(twin, info)`: the path, or `SurveyFileUnavailable` (a NotFound: the API
  answers 404 naming the file, never 500) for the routes that serve a survey's pixels;
- `warn_unavailable(info, why)`: the server log's warning, once per survey and reason;
- `missing_files(twin)`: the recorded surveys whose file is not there, for `venue-twin serve`'s
  startup warning.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from twin.errors import NotFound

if TYPE_CHECKING:
    from twin.core import TwinLike
    from twin.surveys import SurveyInfo

log = logging.getLogger("venue_twin.surveys")

MISSING = "file missing on this server"

_lock = threading.Lock()
_checked: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime) -> problem
_warned: set[tuple[str, str]] = set()


class SurveyFileUnavailable(NotFound):
    """A recorded survey whose file this server cannot read (missing, unreadable, not as recorded)."""

    def __init__(self, info: SurveyInfo, why: str) -> None:
        super().__init__(
            f"survey {info.id} is recorded, but this server cannot read its file {info.file_name}: {why} "
            "(the survey directory is VENUE_TWIN_SURVEY_DIR; `venue-twin fsck` checks every file)"
        )
        self.info, self.why = info, why


def _open_problem(path: Path, info: SurveyInfo) -> str | None:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.count != info.band_count:
                return f"its file has {ds.count} band(s), its record {info.band_count}"
            if ds.width != info.width or ds.height != info.height:
                return f"its file is {ds.width} × {ds.height} px, its record {info.width} × {info.height}"
    except rasterio.errors.RasterioError as e:
        return f"file unreadable on this server ({str(e).replace(str(path), path.name)})"
    return None


def file_problem(twin: TwinLike, info: SurveyInfo) -> str | None:
    """Why this server cannot read the survey's file, or None when it can (see the module docstring)."""
    path = twin.survey_path(info)
    try:
        st = path.stat()
    except FileNotFoundError:
        return MISSING
    except OSError as e:
        return f"file unreadable on this server ({e.strerror})"
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _checked:
            return _checked[key]
    problem = _open_problem(path, info)
    with _lock:
        if len(_checked) > 4096:
            _checked.clear()
        _checked[key] = problem
    return problem


def forget(twin: TwinLike, info: SurveyInfo, why: str) -> None:
    """Record that reading the file failed past its header (a truncated file): asked again, the
    survey is unavailable until the file changes."""
    path = twin.survey_path(info)
    try:
        st = path.stat()
    except OSError:
        return
    with _lock:
        _checked[(str(path), st.st_size, st.st_mtime_ns)] = why


def warn_unavailable(info: SurveyInfo, why: str) -> None:
    """The server log's warning that a survey is passed over, once per survey and reason."""
    with _lock:
        if (info.id, why) in _warned:
            return
        _warned.add((info.id, why))
    log.warning(
        "survey %s (%s, flown %s, file %s) is passed over: %s; check VENUE_TWIN_SURVEY_DIR",
        info.id, info.kind, info.date.isoformat(), info.file_name, why,
    )  # fmt: skip


def readable_survey_file(twin: TwinLike, info: SurveyInfo) -> Path:
    """The survey's file, or SurveyFileUnavailable saying why this server cannot read it."""
    why = file_problem(twin, info)
    if why is not None:
        warn_unavailable(info, why)
        raise SurveyFileUnavailable(info, why)
    return twin.survey_path(info)


def missing_files(twin: TwinLike) -> list[SurveyInfo]:
    """The surveys recorded at the head whose file is not in the survey directory (a stat each)."""
    return [s for s in twin.surveys() if not twin.survey_path(s).is_file()]
