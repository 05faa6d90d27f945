"""Helpers for the map tests (tests/test_web_*.py): a venue twin with known layer-check findings,
a headless Chromium, and the artifacts folder where screenshots go.

- `build_web_twin(path)`: the bundled venue twin (layers, project register, progress reports),
  plus one "legacy import" commit on 2026-10-30 that adds two landscaping features: one that the
  twin's validation refuses today (a kind it does not know, outside the area of interest), written
  to the store directly as an import made under older rules would have been, and one flower bed
  without the pot count and area the other flower beds have. The completion figures up to
  2026-10-28 are the bundled ones.
- `launch_chromium(playwright)`: Debian's /usr/bin/chromium, headless; a missing browser fails
  the test (never skips).
- `artifacts_dir()`: $ARTIFACTS, else tests/artifacts/ (gitignored); shared by runs on one machine,
  so files are written there atomically (see test_web_browser.Visit.shot).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from api_server import bundled_file

from twin import Change, Feature, Twin
from twin.encoding import counts_of, encode_changes, stored_commit_id
from twin.model import CommitInfo, StoredChange

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VENUE_TWIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

KNOWN_DATE = "2026-10-20"  # a date with projects in every status in the bundled season
CHECKPOINT_DATE = "2026-10-26"  # T-10
INVALID_ID = "ls-legacy-hedge"
MISSING_ID = "ls-flower-bed-legacy"
LEGACY_TIME = datetime(2026, 10, 30, 2, 0, tzinfo=UTC)


def build_web_twin(path: Path) -> Path:
    """The bundled twin plus the legacy-import commit (see the module docstring); closed on disk."""
    bundled_file(path)
    twin = Twin.open(path)
    try:
        head = twin.head()
        assert head is not None
        bad = Feature(
            INVALID_ID,
            shapely.box(121.3300, 31.2150, 121.3305, 31.2155),  # east of the area of interest
            {"code": "LS-LEGACY-1", "name_zh": "旧数据绿篱", "name_en": "Legacy hedge", "kind": "hedge",
             "responsible_unit": "青浦区绿化和市容管理局"},
        )  # fmt: skip
        lonely = Feature(
            MISSING_ID,
            shapely.box(121.2950, 31.1875, 121.2953, 31.1877),
            {"code": "FB-LEGACY", "name_zh": "旧数据花坛", "name_en": "Legacy flower bed", "kind": "flower_bed",
             "responsible_unit": "青浦区绿化和市容管理局"},
        )  # fmt: skip
        message = "Import of the 2025 landscaping survey (made before the current rules)"
        write_unchecked(twin, "landscaping", (bad, lonely), "legacy import", message, LEGACY_TIME)
    finally:
        twin.close()
    return path


def write_unchecked(
    twin: Twin, layer: str, features: Sequence[Feature], author: str, message: str, when: datetime
) -> None:
    """Add `features` to `layer` as one commit written to the store directly, past validation: as an
    import made under older rules would have left them."""
    head = twin.head()
    assert head is not None
    enc = encode_changes([Change(layer, "add", f.id, f) for f in features])
    stored = [StoredChange(layer, "add", f.id, e) for f, e in zip(features, enc, strict=True)]
    cid = stored_commit_id(head.id, author, message, when, stored)
    twin.store.apply(CommitInfo(cid, head.seq + 1, head.id, author, message, when, counts_of(stored)), stored)


def artifacts_dir() -> Path:
    d = Path(os.environ.get("ARTIFACTS") or ROOT / "tests" / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_artifact(name: str, data: bytes) -> Path:
    """Write a file to the artifacts folder whole (runs on one machine share it)."""
    folder = artifacts_dir()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, folder / name)
    return folder / name


def require_chromium() -> str:
    """The browser's path; a missing one is a failure (CI=true or not: the maps must be tested in a browser)."""
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.path.exists(path):
        pytest.fail(
            f"headless Chromium is needed for the map tests and {CHROMIUM} is missing "
            "(apt-get install chromium, or set VENUE_TWIN_CHROMIUM)"
        )
    return path


def pdf_text(data: bytes, *, layout: bool = False) -> list[str]:
    """Each page's text as poppler's pdftotext reads it (a reader's own tool): in the order it was
    drawn (-raw, the order the briefing's tables are written in), or with ``layout`` as laid out on
    the page. Why not pypdf's extract_text: it took about half a
    second an A3 briefing page, pdftotext a twentieth of that, and the briefing tests read dozens."""
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (poppler-utils) is needed to read the printed text"
    args = [exe, "-layout" if layout else "-raw", "-", "-"]
    text = subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode()
    return text.split("\f")[:-1]  # each page ends with a form feed


def launch_chromium(playwright: Any, **options: Any) -> Any:
    return playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, **options)


_DATE_SPAN = re.compile(r'<span class="vt-date" style="white-space:nowrap">([^<]*)</span>')


def plain_dates(html: str) -> str:
    """A page with its dates' nowrap spans taken off (web/templating.py keeps each date on one line
    in a span of its own), so a label is found as i18n.label writes it."""
    return _DATE_SPAN.sub(r"\1", html)
