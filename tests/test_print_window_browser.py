"""The completion map printed from any window: the paper does not depend on the window's size.

From a narrow window (800 × 600, a laptop's half screen) the map printed small and with no labels:
the map's box on paper was the window's box scaled up, drawn at the window's size, where the labels
had no room. And on A4 in English the map's head (title, legend with the counts) and the late list
ran onto a second sheet for the third late project of T-10. PDFs and their pages as PNG:
print-window-*.pdf / .png in the artifacts folder. The fixtures are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import io
import shutil
import subprocess
from typing import Any

import pytest
from api_server import LiveServer
from deadlines import SUBPROCESS
from pypdf import PdfReader
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    Visit,
    clean,
    server,
    store,
    visit,
)
from web_support import CHECKPOINT_DATE, artifacts_dir, save_artifact

from web import i18n

REUSE_PAGES = True  # `visit` opens each page in one the last test left (test_web_browser._Pages)

# map labels of the bundled venue the printed map carries from a wide window (hall codes, the plaza)
LABELS = {"en": ("4.1H", "South plaza"), "zh": ("4.1H", "南广场")}


def pages_text(pdf: bytes) -> list[str]:
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (poppler-utils) is needed"
    out = subprocess.run([exe, "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=SUBPROCESS)
    return out.stdout.decode().split("\f")[: len(PdfReader(io.BytesIO(pdf)).pages)]


def keep(name: str, pdf: bytes) -> None:
    save_artifact(f"{name}.pdf", pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(artifacts_dir() / f"{name}.pdf"), str(artifacts_dir() / name)],
                   check=True, timeout=SUBPROCESS)  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_map_printed_from_a_narrow_window_is_the_wide_windows_map(visit: Any, lang: str) -> None:
    wide: Visit = visit(f"/maps/completion?date={CHECKPOINT_DATE}&lang={lang}")
    narrow: Visit = visit(f"/maps/completion?date={CHECKPOINT_DATE}&lang={lang}", size=(800, 600))
    texts = {}
    for name, v in (("wide", wide), ("narrow", narrow)):
        pdf = v.page.pdf(format="A4", print_background=True)
        keep(f"print-window-{lang}-{name}", pdf)
        texts[name] = pages_text(pdf)
    for label in LABELS[lang]:
        assert label in texts["wide"][-1], (label, texts["wide"][-1][:800])
        assert label in texts["narrow"][-1], (label, texts["narrow"][-1][:800])
    clean(narrow)


@pytest.fixture(scope="module")
def surveyed_server(surveyed_twin: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server on the twin with the demo surveys: the completion map over its orthophoto."""
    s = LiveServer(surveyed_twin, tmp_path_factory.mktemp("surveyed-window") / "server.log")
    yield s
    s.stop()


SHOWN = "vt_engine.imagery.state().basemap.shown"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_from_a_small_window_the_map_prints_without_half_loaded_imagery_and_says_so(
    visit: Any, surveyed_server: LiveServer, lang: str
) -> None:
    """From an 800 x 600 window the map is laid out again at the printed box's size and zoom, where
    the orthophoto's tiles are not loaded when Chromium paints the page for paper: it printed as
    patches of the window's tiles and blank squares. That path prints the map without the imagery
    and the map's head says so; the window's map has its imagery back after printing. A wide window,
    which prints the window's own drawing scaled, keeps the imagery and says nothing of it."""
    url = f"{surveyed_server.url}/maps/completion?date={CHECKPOINT_DATE}&lang={lang}"
    narrow: Visit = visit(url, base=surveyed_server.url, size=(800, 600))
    assert narrow.page.evaluate(SHOWN) is True  # on screen, over the orthophoto
    pdf = narrow.page.pdf(format="A4", print_background=True)
    keep(f"print-window-imagery-{lang}-narrow", pdf)
    narrow.page.emulate_media(media="print")
    narrow.page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    state = narrow.page.evaluate(
        f"({{shown: {SHOWN}, tiles: document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile').length}})"
    )
    assert state == {"shown": False, "tiles": 0}, state  # no tile of it on paper
    narrow.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    narrow.page.emulate_media(media="screen")
    assert narrow.page.evaluate(SHOWN) is True
    note = i18n.label(lang, "print_imagery_left_out")
    assert squashed(note) in squashed(pages_text(pdf)[-1]), pages_text(pdf)[-1][:600]
    assert narrow.page.evaluate(SHOWN) is True
    clean(narrow)
    wide: Visit = visit(url, base=surveyed_server.url)
    pdf = wide.page.pdf(format="A4", print_background=True)
    keep(f"print-window-imagery-{lang}-wide", pdf)
    assert squashed(note) not in squashed("".join(pages_text(pdf)))
    assert wide.page.evaluate(SHOWN) is True
    clean(wide)


def squashed(text: str) -> str:
    return "".join(text.split())
