"""Links to the imagery evidence, and a register's references by name (a leader's finds).

1. No page led to the evidence page (GET /evidence?f=html): the completion map's "imagery disagrees
   with the report" heading linked nothing (only a list shortened to its box did), nor did a project
   page's imagery row. The heading links the evidence page of the map's date in its language, each
   project's imagery flag (on the map and on its page) that page at the project's row; under a proxy's
   sub-path, with it.
2. The project register's check table showed its `features` as stored ("halls/hall-GC"): it names
   them as the other layers' tables do (name in the page's language, else code, else id), the raw
   references kept in the cell's title for engineers, read with one read per referenced layer and
   through the reader's view (a reference into a layer they may not see is not there at all).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import SECRET_REF, bearer, build_venue, client, referenced_layers, restricted_register
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from twin import Twin
from web import i18n

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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_home_page_links_the_evidence_page(
    proxied: tuple[TestClient, TestClient], today: Callable[[str], None], lang: str
) -> None:
    """A leader starting from the home page found no way to the imagery evidence."""
    today("2026-12-07")  # after opening day: the pages land on T-10, when LS-04 is flagged
    c, direct = proxied
    home = c.get("/", params={"lang": lang}, headers=HTML).text
    card = re.search(r'<a class="card" href="([^"]+)" data-page="evidence">\s*<h3>(.*?)</h3>', home, re.S)
    assert card, home[-2000:]
    assert html_lib.unescape(card[1]) == f"/twin/evidence?f=html&lang={lang}" and card[2] == i18n.label(
        lang, "evidence_card"
    )
    target = direct.get(html_lib.unescape(card[1]).removeprefix("/twin"))
    assert target.status_code == 200 and target.headers["content-type"].startswith("text/html")
    assert 'id="project-LS-04"' in target.text  # the date the maps open on: T-10, LS-04 flagged


# ---------------------------------------------------------------------------- 2. references by name
def _cells(html: str, code: str) -> list[tuple[str, str]]:
    """The (attributes, text) of each cell of a check table's row, by the row's code."""
    row = re.search(rf'<tr data-id="[^"]*" data-code="{re.escape(code)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, code
    return re.findall(r"<td([^>]*)>(.*?)</td>", row[1], re.S)


def _features_cell(html: str, code: str) -> tuple[str, str]:
    titles = re.findall(r'<th data-col="\d+"[^>]*data-field="([^"]*)"', html)
    i = titles.index("features")
    attrs, text = _cells(html, code)[i]
    return html_lib.unescape(attrs), html_lib.unescape(text)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(build_venue(tmp_path_factory.mktemp("links-refs") / "venue.gpkg"))


@pytest.mark.parametrize(
    ("lang", "hl01", "hl02", "ls01"),
    [
        ("zh", "中央广场", "2.1H 展厅、2.2H 展厅（16米层）", "涞港路北侧四叶草绿地"),
        ("en", "Central plaza", "Hall 2.1H, Hall 2.2H (upper level)", "Clover-shaped green north of Laigang Road"),
    ],
)
def test_the_registers_check_table_names_the_features_it_covers(
    bundled: Path, lang: str, hl01: str, hl02: str, ls01: str
) -> None:
    with client(bundled) as c:
        html = c.get("/maps/layers/projects", params={"lang": lang}, headers=HTML).text
    attrs, text = _features_cell(html, "HL-01")
    assert text == hl01 and 'title="halls/hall-GC"' in attrs, (attrs, text)
    attrs, text = _features_cell(html, "HL-02")
    assert text == hl02 and "halls/hall-2.1H" in attrs and "halls/hall-2.2H" in attrs, (attrs, text)
    assert _features_cell(html, "LS-01")[1] == ls01
    # no raw reference is shown as text in the table (they stay in titles, for engineers)
    table = re.search(r'<table class="vt-attr-table">(.*?)</table>', html, re.S)
    assert table
    shown = re.sub(r"<[^>]+>", " ", table[1])
    assert not re.search(r"\b(halls|landscaping|roads)/", shown), re.findall(r"\S*(?:halls|roads)/\S*", shown)[:5]


def test_the_names_are_read_once_per_layer_referenced(bundled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with client(bundled) as c:
        assert (
            c.get("/maps/layers/projects", params={"lang": "en"}, headers=HTML).status_code == 200
        )  # the check, cached
        reads: list[tuple[str, str]] = []
        by_id, one = Twin.features_by_id, Twin.feature

        def features_by_id(self: Twin, layer: str, ids: Any, ref: Any = None) -> dict[str, bytes]:
            reads.append(("many", layer))
            return by_id(self, layer, ids, ref)

        def feature(self: Twin, layer: str, fid: str, ref: Any = None) -> bytes:
            reads.append(("one", layer))
            return one(self, layer, fid, ref)

        monkeypatch.setattr(Twin, "features_by_id", features_by_id)
        monkeypatch.setattr(Twin, "feature", feature)
        html = c.get("/maps/layers/projects", params={"lang": "zh"}, headers=HTML).text
    assert _features_cell(html, "HL-01")[1] == "中央广场"
    referenced = referenced_layers(bundled)
    assert {"halls", "landscaping", "roads"} <= set(referenced), referenced
    venue = [r for r in reads if r[1] != "projects"]
    assert sorted(venue) == [("many", layer) for layer in referenced], reads


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return restricted_register(tmp_path_factory.mktemp("links-hidden") / "venue.gpkg")


@pytest.mark.parametrize(("who", "sees"), [(None, False), ("viewer", False), ("editor", False), ("engineer", True)])
def test_a_reference_into_a_layer_the_reader_may_not_see_is_not_shown(
    restricted: tuple[Path, dict[str, str]], who: str | None, sees: bool
) -> None:
    store, tokens = restricted
    with client(store) as c:
        html = c.get(
            "/maps/layers/projects", params={"lang": "en"}, headers={**HTML, **bearer(tokens[who] if who else None)}
        ).text
    attrs, text = _features_cell(html, "HL-01")
    if sees:
        assert text == "Central plaza, North post" and SECRET_REF in attrs, (attrs, text)
    else:
        assert text == "Central plaza" and attrs.count("halls/hall-GC") == 2, (attrs, text)
        for word in ("sec-north", "North post", "SEC-03", "security/"):
            assert word not in html, word
