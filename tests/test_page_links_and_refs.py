"""Links to the imagery evidence (a leader's finds).

1. No page led to the evidence page (GET /evidence?f=html): the completion map's "imagery disagrees
   with the report" heading linked nothing (only a list shortened to its box did), nor did a project
   page's imagery row. The heading links the evidence page of the map's date in its language, each
   project's imagery flag (on the map and on its page) that page at the project's row; under a proxy's
   sub-path, with it.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings

T10 = "2026-10-26"  # the T-10 flights: LS-04 reported done, its imagery showing 55 % green cover
HTML = {"Accept": "text/html"}


def _section(html: str, name: str) -> str:
    m = re.search(rf'<section class="vt-section" data-section="{name}">(.*?)</section>', html, re.S)
    assert m, name
    return m[1]


@pytest.fixture(scope="module")
def proxied(surveyed_twin: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The surveyed twin behind a proxy at /twin (the app is asked without the prefix), and direct."""
    app = create_app(ApiSettings(store=surveyed_twin))
    with TestClient(app, root_path="/twin") as c, TestClient(app) as direct:
        yield c, direct


# ---------------------------------------------------------------------------- 1. links to the evidence
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_maps_imagery_heading_links_the_evidence_page_of_its_date(
    proxied: tuple[TestClient, TestClient], lang: str
) -> None:
    c, direct = proxied
    evidence = f"/twin/evidence?f=html&amp;flagged=true&amp;date={T10}&amp;lang={lang}"
    html = c.get("/maps/completion", params={"date": T10, "lang": lang}, headers=HTML).text
    # the timeline's panel of the same date is the same panel
    panel = c.get("/maps/data/panel", params={"date": T10, "lang": lang}).json()["html"]
    for page in (html, panel):
        imagery = _section(page, "imagery-disagrees")
        heading = re.search(r"<h2>(.*?)</h2>", imagery, re.S)
        assert heading and f'<a href="{evidence}"' in heading[1], heading
        # LS-04's flag links its row of that page
        flag = re.search(r'data-evidence-flag="LS-04">(.*?)</div>', imagery, re.S)
        assert flag and f'<a href="{evidence}#project-LS-04"' in flag[1], flag
    target = direct.get(html_lib.unescape(evidence).removeprefix("/twin"))
    assert target.status_code == 200 and target.headers["content-type"].startswith("text/html")
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in target.text
    assert 'id="project-LS-04"' in target.text and 'data-project-link="LS-04"' in target.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_project_pages_imagery_row_links_its_evidence(proxied: tuple[TestClient, TestClient], lang: str) -> None:
    c, direct = proxied
    # /projects/{code}/evidence answers JSON only: the row links the evidence page, at the project
    assert (
        c.get("/projects/LS-04/evidence", params={"date": T10}).headers["content-type"].startswith("application/json")
    )
    page = c.get("/projects/LS-04", params={"f": "html", "date": T10, "lang": lang}).text
    row = re.search(r'<tr class="vt-evidence-flag">(.*?)</tr>', page, re.S)
    assert row, page[-3000:]
    link = re.search(r'<a href="([^"]+)"[^>]*data-link="evidence"', row[1])
    assert link, row[1]
    href = html_lib.unescape(link[1])
    assert href == f"http://testserver/twin/evidence?f=html&flagged=true&date={T10}&lang={lang}#project-LS-04"
    target = direct.get(href.removeprefix("http://testserver/twin").partition("#")[0])
    assert target.status_code == 200 and 'id="project-LS-04"' in target.text
