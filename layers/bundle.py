"""Build the bundled venue twin: the layer catalogue plus the 2026 preparation history.

The history is a series of change files in `layers/data/history/` (written by
`python -m layers.venue_geometry`), applied in file-name order, one commit each, with the
author, message and time each file records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.changefile import read_change_file
from twin.core import Twin
from twin.errors import BadInput

DATA_DIR = Path(__file__).parent / "data"
HISTORY_DIR = DATA_DIR / "history"

Progress = Callable[[int, int, str], None]


def bundled_history_files() -> list[Path]:
    """The bundled change files, oldest first (their names start with a three-digit number)."""
    files = sorted(HISTORY_DIR.glob("[0-9][0-9][0-9]-*.geojson"))
    if not files:
        raise BadInput(f"no bundled history in {HISTORY_DIR} (regenerate it with `python -m layers.venue_geometry`)")
    return files


def build_bundled_twin(path: str | Path, progress: Progress | None = None) -> Twin:
    """Create a twin at `path` with the venue's layers and apply the bundled history to it.

    `progress(done, total, file_name)` is called after each commit. Refuses (Conflict) if `path`
    already holds a twin. The twin is closed once built (so the file on disk is complete and
    GDAL/QGIS read it cleanly) and returned opened afresh; the caller closes it.
    """
    files = bundled_history_files()
    twin = Twin.create(path, LAYERS, AREA_OF_INTEREST)
    try:
        for n, f in enumerate(files, start=1):
            cf = read_change_file(f)
            if not cf.author or not cf.message or not cf.time:
                raise BadInput(f"{f.name}: a bundled change file must give author, message and time")
            when = datetime.fromisoformat(cf.time.replace("Z", "+00:00"))
            twin.commit(cf.changes, author=cf.author, message=cf.message, time=when)
            if progress is not None:
                progress(n, len(files), f.name)
    finally:
        # Closing the last connection checkpoints the write-ahead log into the file. Until then the
        # GeoPackage header (application_id "GPKG", user_version) exists only in the WAL, and GDAL,
        # which reads the header from the file itself, warns "bad application_id" (see the report).
        twin.close()
    return Twin.open(path)
