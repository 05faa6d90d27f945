"""The units page links the evidence from imagery (a leader's find).

The units table (GET /completion/units?f=html) lists each unit's overdue and late projects, linked to
their pages, but nothing of the imagery: a unit whose project reports work the survey imagery does
not show had no way from its row to that evidence. With survey imagery, the table has a column of
each unit's flagged projects, each linked to its row of the evidence page (the same date, language
and version; under a proxy's sub-path, with it), the column's title to the whole page. A twin
without imagery has no such column. The JSON and CSV keep their columns.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import build_venue, client
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from completion.accountability import UNIT_COLUMNS

T10 = "2026-10-26"  # the T-10 flights: LS-04 reported done, its imagery showing 55 % green cover
BASE = "http://testserver/twin"


@pytest.fixture(scope="module")
def proxied(surveyed_twin: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The surveyed twin behind a proxy at /twin (the app is asked without the prefix), and direct."""
    app = create_app(ApiSettings(store=surveyed_twin))
    with TestClient(app, root_path="/twin") as c, TestClient(app) as direct:
        yield c, direct


def _evidence(lang: str, version: str | None = None) -> str:
    pinned = f"&version={version}" if version else ""
    return f"{BASE}/evidence?f=html&flagged=true&date={T10}{pinned}&lang={lang}"


def _flagged_cells(html: str) -> dict[str, list[tuple[str, str]]]:
    """Each row's key -> the (href, code) of the links in its flagged column."""
    return {
        html_lib.unescape(key): [(html_lib.unescape(h), code) for h, code in re.findall(
            r'<a href="([^"]+)" data-evidence-link="([^"]+)"', cell)]
        for key, cell in re.findall(r'<td data-flagged="([^"]*)">(.*?)</td>', html, re.S)
    }  # fmt: skip


@pytest.mark.parametrize("by", ["unit", "person"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_units_flagged_projects_link_their_evidence(
    proxied: tuple[TestClient, TestClient], lang: str, by: str
) -> None:
    c, direct = proxied
    html = c.get("/completion/units", params={"f": "html", "date": T10, "by": by, "lang": lang}).text
    # the column's title links the evidence page of the date, every flagged project
    head = re.search(r'<th><a href="([^"]+)" data-evidence-page-link[^>]*>(.*?)</a></th>', html)
    assert head, html[-3000:]
    assert html_lib.unescape(head[1]) == _evidence(lang)
    assert head[2] == {"zh": "影像与填报不符工程", "en": "Flagged by imagery"}[lang]
    # LS-04's row (its unit's, or its person's) links its row of that page; no other row links anything
    ls04 = c.get("/collections/projects/items/LS-04", params={"f": "json"}).json()["properties"]
    # a person's row is the person within their unit (completion.accountability.unit_key)
    unit = ls04["responsible_unit"]
    key = unit if by == "unit" else f"{unit} / {ls04['responsible_person']}"
    cells = _flagged_cells(html)
    rows = re.findall(r'<tr class="[^"]*" data-key="([^"]*)">', html)
    assert len(cells) == len(rows) > 1, (len(cells), len(rows))
    assert cells[key] == [(f"{_evidence(lang)}#project-LS-04", "LS-04")], cells
    assert all(not links for k, links in cells.items() if k != key), cells
    # the link opens that row of the evidence page, in the language
    target = direct.get(cells[key][0][0].removeprefix(BASE).partition("#")[0])
    assert target.status_code == 200 and target.headers["content-type"].startswith("text/html")
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in target.text
    assert 'id="project-LS-04"' in target.text
    # the downloads keep their columns
    doc = c.get("/completion/units", params={"f": "json", "date": T10, "by": by}).json()
    assert all(set(u) == set(UNIT_COLUMNS) for u in doc["units"]), doc["units"][0]
    table = c.get("/completion/units", params={"f": "csv", "date": T10, "by": by}).text
    assert tuple(next(csv.reader(io.StringIO(table.removeprefix("\ufeff"))))) == UNIT_COLUMNS  # Excel's BOM


def test_the_evidence_links_keep_the_version_read(proxied: tuple[TestClient, TestClient]) -> None:
    c, _ = proxied
    html = c.get("/completion/units", params={"f": "html", "date": T10, "version": "HEAD", "lang": "en"}).text
    head = re.search(r'<th><a href="([^"]+)" data-evidence-page-link', html)
    assert head and html_lib.unescape(head[1]) == _evidence("en", "HEAD"), head
    links = [link for cell in _flagged_cells(html).values() for link in cell]
    assert links == [(f"{_evidence('en', 'HEAD')}#project-LS-04", "LS-04")], links


def test_the_column_is_there_with_imagery_only(
    proxied: tuple[TestClient, TestClient], tmp_path_factory: pytest.TempPathFactory
) -> None:
    c, _ = proxied
    assert "data-evidence-page-link" in c.get("/completion/units", params={"f": "html", "date": T10}).text
    store = Path(build_venue(tmp_path_factory.mktemp("units-no-imagery") / "venue.gpkg"))
    with client(store) as plain:
        html = plain.get("/completion/units", params={"f": "html", "date": T10, "lang": "en"}).text
    body = html.partition("</style>")[2]  # the page's markup, not its style's selectors
    assert 'data-key="' in body  # the table is there
    for mark in ("data-evidence-page-link", "data-flagged=", "data-evidence-link", "Flagged by imagery"):
        assert mark not in body, mark
