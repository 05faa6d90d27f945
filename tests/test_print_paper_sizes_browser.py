"""The completion map printed on the paper a leader chooses: A4, or A3 for a wall map.

Printed on A3 (Chromium's PDF at format A3) the map's page was an A4 page in the middle of the A3
sheet: the map at about half the sheet's width, small and ringed with blank paper. On A4 the map
kept the screen's proportions and filled two thirds of the page's width. Now the pages are A3
landscape on A3 paper, and on either paper the map is laid out in the printed box's proportions
(the screen's view kept whole, more of the venue to its sides) and fills the width between the
margins. Measured from the PDF: its last page (the map's) rendered with pdftoppm, the map's box
being the rows and columns of the page's grey-on-white that the map covers. PDFs and pages as PNG:
print-paper-*.pdf / .png in the artifacts folder. The fixtures are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deadlines import SUBPROCESS
from PIL import Image
from pypdf import PdfReader
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    Visit,
    clean,
    server,
    store,
    visit,
)
from web_support import CHECKPOINT_DATE, save_artifact

REUSE_PAGES = True  # `visit` opens each page in one the last test left (test_web_browser._Pages)

MARGIN_MM = 8  # venue-map.css @page
PAPER_MM = {"A4": (297, 210), "A3": (420, 297)}  # landscape, as the page asks
DPI = 50


def _last_page(pdf: bytes, name: str) -> Image.Image:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.pdf"
        path.write_bytes(pdf)
        n = len(PdfReader(io.BytesIO(pdf)).pages)
        subprocess.run(
            ["pdftoppm", "-r", str(DPI), "-png", "-singlefile", "-f", str(n), "-l", str(n), str(path), str(path)[:-4]],
            check=True,
            timeout=SUBPROCESS,
        )
        png = path.with_suffix(".png").read_bytes()
    save_artifact(f"{name}.png", png)
    return Image.open(io.BytesIO(png)).convert("L")


def _map_box(page: Image.Image) -> tuple[int, int, int, int]:
    """The map's box on the page, in pixels: the rows mostly covered by something not white (the
    map's ground, under its features), and within them the columns mostly covered. The head above
    it is lines of text on white; the page around it is white."""
    ink = np.asarray(page) < 250
    rows = ink.mean(axis=1)
    map_rows = np.flatnonzero(rows >= 0.8 * rows.max())
    top, bottom = int(map_rows.min()), int(map_rows.max())
    cols = ink[top : bottom + 1].mean(axis=0)
    map_cols = np.flatnonzero(cols >= 0.5)
    return int(map_cols.min()), top, int(map_cols.max()), bottom


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_completion_map_fills_the_width_of_a4_and_of_a3(visit: Any, lang: str) -> None:
    """On A4 and on A3 the map's page is that paper, landscape, and the map spans at least 85 % of
    the width between the page's margins, and keeps within them (nothing cut)."""
    v: Visit = visit(f"/maps/completion?date={CHECKPOINT_DATE}&lang={lang}")
    mm = DPI / 25.4
    measured = {}
    for paper, (width_mm, height_mm) in PAPER_MM.items():
        pdf = v.page.pdf(format=paper, print_background=True)
        name = f"print-paper-completion-{lang}-{paper}"
        save_artifact(f"{name}.pdf", pdf)
        box = PdfReader(io.BytesIO(pdf)).pages[-1].mediabox
        assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (width_mm, height_mm)
        left, top, right, bottom = _map_box(_last_page(pdf, name))
        measured[paper] = {
            "width": round((right - left + 1) / ((width_mm - 2 * MARGIN_MM) * mm), 3),  # of the page's
            "height": round((bottom - top + 1) / ((height_mm - 2 * MARGIN_MM) * mm), 3),  # content box
            "box_mm": [round(x / mm) for x in (left, top, right, bottom)],
        }
        # within the margins (nothing cut), a pixel's rounding aside
        assert left >= MARGIN_MM * mm - 2 and right <= (width_mm - MARGIN_MM) * mm + 2, (paper, measured)
        assert bottom <= (height_mm - MARGIN_MM) * mm + 2, (paper, measured)
    # before: A4 0.69 of the width, A3 0.48 (an A4 page centred on the sheet)
    assert all(m["width"] >= 0.85 for m in measured.values()), measured
    assert all(m["height"] >= 0.75 for m in measured.values()), measured
    clean(v)
