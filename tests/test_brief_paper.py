"""The printed briefing on a leader's office paper, and the addresses it prints.

A4: `paper=a4` (the API) or `--paper a4` (the CLI) draws the briefing on two A4 portrait pages, as
PDF: the first the completion map and the key figures, the second the S-curve and the late and
overdue tables, each page with the header and a footer saying which page of two it is. `paper=a4`
was refused with a 400, and an A3 page printed "fit to page" on A4 set the tables in 5.9 pt.

Addresses: a briefing's "N more; every late project ...: <address>" line printed the host the PDF was
asked from, http://127.0.0.1:8000/... when the server's own machine (or a proxy that does not pass
Host on) asked: no reader of the paper can open that. The paper prints the page's path on the
service (under its root path); the PDF's link keeps the address it was asked at.

The text is read as a reader's tools read it: pdftotext (poppler-utils); the pages are kept as
artifacts (brief-paper-*.pdf) and drawn to PNG with pdftoppm to look at."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import build_venue, client, problem_of
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner
from web_support import artifacts_dir, save_artifact

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app

A4_PT = (210 / 25.4 * 72, 297 / 25.4 * 72)  # 595.28 × 841.89 points, portrait
T10 = "2026-10-26"
AFTER_OPENING = "2026-11-10"  # more late projects and overdue reports than a table lists: "N more" lines
LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("brief-paper") / "venue.gpkg")


@pytest.fixture(scope="module")
def api(store: Any) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


def pdftotext(data: bytes) -> list[str]:
    """Each page's text as pdftotext (poppler) reads it, in reading order."""
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (poppler-utils) is needed to read the printed text"
    text = subprocess.run([exe, "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout
    return text.decode().split("\f")[: len(PdfReader(io.BytesIO(data)).pages)]


def to_png(name: str, data: bytes) -> None:
    """The PDF kept as an artifact, and each of its pages drawn to PNG beside it (pdftoppm), to look at."""
    save_artifact(f"{name}.pdf", data)
    exe = shutil.which("pdftoppm")
    assert exe, "pdftoppm (poppler-utils) is needed to draw the pages"
    subprocess.run([exe, "-r", "80", "-png", str(artifacts_dir() / f"{name}.pdf"), str(artifacts_dir() / name)],
                   check=True)  # fmt: skip


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_paper_a4_is_two_a4_portrait_pages_with_the_map_then_the_tables(api: TestClient, lang: str) -> None:
    r = api.get("/brief", params={"date": "T-10", "lang": lang, "paper": "a4"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="brief-{T10}-{lang}-a4.pdf"' in r.headers["content-disposition"]
    to_png(f"brief-paper-a4-{lang}", r.content)
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 2
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - A4_PT[0]) <= 1 and abs(h - A4_PT[1]) <= 1, (w, h)
    first, second = pdftotext(r.content)
    heads = {"en": ("Completion map", "Key figures", "Late projects", "Reports missing"),
             "zh": ("工程完成情况图", "关键指标", "滞后工程", "逾期未报")}[lang]  # fmt: skip
    assert heads[0] in first and heads[1] in first, first[:500]
    assert heads[2] in second and heads[3] in second, second[:500]
    for text, n in ((first, 1), (second, 2)):  # each page says what it is, of when, and which page
        assert T10 in text and "T-10" in text
        assert f"{n} / 2" in text, text[-300:]
    completion = api.get("/completion", params={"date": "T-10"}).json()
    assert completion["late"]
    for row in completion["late"]:  # every late project of T-10 on the second page
        assert row["code"] in second, row["code"]
    assert f"{completion['overall']['actual_percent']}%" in first


def test_the_cli_writes_the_a4_briefing(store: Any, tmp_path: Path) -> None:
    out = tmp_path / "brief-a4.pdf"
    r = CliRunner().invoke(
        app, ["brief", "--date", "T-10", "-o", str(out), "--lang", "en", "--paper", "a4", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    assert "two A4 pages" in r.output
    reader = PdfReader(io.BytesIO(out.read_bytes()))
    assert len(reader.pages) == 2 and abs(float(reader.pages[0].mediabox.width) - A4_PT[0]) <= 1
    # a PNG is one image to send: A4's two pages are refused, naming the option, and nothing is written
    png = tmp_path / "brief-a4.png"
    r = CliRunner().invoke(app, ["brief", "--date", "T-10", "-o", str(png), "--paper", "a4", "--store", str(store)])
    assert r.exit_code == 2 and "--paper" in r.output and not png.exists(), r.output
    r = CliRunner().invoke(app, ["brief", "--date", "T-10", "-o", str(out), "--paper", "letter", "--store", str(store)])
    assert r.exit_code == 2 and "--paper" in r.output, r.output


@pytest.mark.parametrize(("query", "named"), [({"paper": "letter"}, "letter"), ({"paper": "a4", "f": "png"}, "PDF")])
def test_a_paper_the_briefing_is_not_drawn_on_is_400_naming_it(
    api: TestClient, query: dict[str, str], named: str
) -> None:
    body = problem_of(api.get("/brief", params={"date": "T-10", **query}), 400, "paper")
    assert named in body["detail"], body
    assert api.get("/brief", params={"date": "T-10", "paper": "a3", "f": "png"}).status_code == 200


@pytest.mark.parametrize("paper", ["a3", "a4"])
def test_the_paper_prints_no_loopback_address(api: TestClient, paper: str) -> None:
    """Asked from the server's own machine (http://127.0.0.1:8000), the briefing's "N more" lines
    print the page's path, which a reader opens on the service they use, not the loopback address;
    the PDF's link on that line still opens the page from where the PDF was asked."""
    sheet = {} if paper == "a3" else {"paper": paper}  # A3 as asked before paper= was known
    r = api.get(f"{LOOPBACK}/brief", params={"date": AFTER_OPENING, "lang": "en", **sheet})
    assert r.status_code == 200, r.text[:300]
    to_png(f"brief-paper-loopback-{paper}", r.content)
    text = "".join(pdftotext(r.content))
    assert "127.0.0.1" not in text and "http" not in text, [ln for ln in text.splitlines() if "http" in ln]
    units = f"/completion/units?f=html&date={AFTER_OPENING}&lang=en"
    assert re.search(r"\d+ more; every late project", text), text[-2000:]
    assert units in squashed(text), text[-2000:]
    links = {
        a.get_object()["/A"].get("/URI")
        for page in PdfReader(io.BytesIO(r.content)).pages
        for a in page.get("/Annots", [])
    }
    assert f"{LOOPBACK}{units}" in links, sorted(str(x) for x in links)[:5]


def test_behind_a_proxy_the_paper_prints_the_path_under_the_root_path(store: Any) -> None:
    """Behind a proxy at /twin (the app asked without the prefix), the printed path is the one a
    reader opens there."""
    with TestClient(create_app(ApiSettings(store=store)), root_path="/twin") as c:
        r = c.get(f"{LOOPBACK}/brief", params={"date": AFTER_OPENING, "lang": "en"})
    assert r.status_code == 200, r.text[:300]
    text = squashed("".join(pdftotext(r.content)))
    assert "127.0.0.1" not in text
    assert f"/twin/completion/units?f=html&date={AFTER_OPENING}&lang=en" in text, text[-800:]
