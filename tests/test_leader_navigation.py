"""Ways to the pages a leader reads, and the OGC item pages as a leader reads them (a leader's finds).

1. Nothing led to the accountability table (GET /completion/units?f=html, "who answers for it"):
   the home page had no card for it, and the completion map's "By responsible unit" section no link.
   The home page has a card among the leaders' pages (the page lands on the date the maps open on),
   and the section's heading links the units page of the panel's date in its language; under a
   proxy's sub-path, with it.
2. The OGC item pages of the project register named the features a record references as plain
   text, and showed category, area and curve as stored (city_appearance, roads, linear). Each name
   links its feature's item page (same language, same version), the labelled values show by their
   labels as the layer check's table shows them (the stored value in the title and data-code), and a
   project record's page links its project page.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from twin import Twin
from web import i18n

T10 = "2026-10-26"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def proxied(surveyed_twin: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The surveyed twin behind a proxy at /twin (the app is asked without the prefix), and direct."""
    app = create_app(ApiSettings(store=surveyed_twin))
    with TestClient(app, root_path="/twin") as c, TestClient(app) as direct:
        yield c, direct


def _local(href: str) -> str:
    """A link of the proxied pages as the app is asked for it (without the proxy's prefix)."""
    return html_lib.unescape(href).removeprefix("http://testserver").removeprefix("/twin")


# ---------------------------------------------------------------------------- 1. the units page
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_home_page_has_a_card_for_the_units_page_among_the_leaders_pages(
    proxied: tuple[TestClient, TestClient], today: Callable[[str], None], lang: str
) -> None:
    today("2026-10-29")  # after T-10, before its round of reports: the pages land on T-10
    c, direct = proxied
    home = c.get("/", params={"lang": lang}, headers=HTML).text
    leaders = home.split(f"<h2>{i18n.label(lang, 'maps_for_leaders')}</h2>")[1].split("<h2>")[0]
    card = re.search(r'<a class="card" href="([^"]+)" data-page="units">\s*<h3>(.*?)</h3>', leaders, re.S)
    assert card, leaders
    assert html_lib.unescape(card[1]) == f"/twin/completion/units?f=html&lang={lang}"
    assert card[2] == i18n.label(lang, "units_card")
    target = direct.get(_local(card[1]))
    assert target.status_code == 200 and target.headers["content-type"].startswith("text/html")
    # the date the maps open on, T-10, in the page's language
    assert f"<title>{html_lib.escape(i18n.label(lang, 'units_title_unit', date=T10))}</title>" in target.text
    assert 'data-key="' in target.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_completion_maps_by_unit_heading_links_the_units_page_of_its_date(
    proxied: tuple[TestClient, TestClient], lang: str
) -> None:
    c, direct = proxied
    units = f"/twin/completion/units?f=html&amp;date={T10}&amp;lang={lang}"
    page = c.get("/maps/completion", params={"date": T10, "lang": lang}, headers=HTML).text
    # the timeline's panel of the same date is the same panel
    panel = c.get("/maps/data/panel", params={"date": T10, "lang": lang}).json()["html"]
    for html in (page, panel):
        section = re.search(r'<details class="vt-section vt-units" data-section="units">(.*?)</details>', html, re.S)
        assert section, html[-2000:]
        heading = re.search(r"<summary><h2>(.*?)</h2>", section[1], re.S)
        assert heading, section[1][:1000]
        link = re.search(r'<a [^>]*href="([^"]+)"[^>]*data-units-page-link[^>]*>(.*?)</a>', heading[1])
        assert link and link[1] == units and link[2] == i18n.label(lang, "units_table_link"), heading[1]
        assert heading[1].startswith(i18n.label(lang, "by_unit"))  # the words stay the section's toggle
    target = direct.get(_local(units))
    assert target.status_code == 200
    assert html_lib.escape(i18n.label(lang, "units_title_unit", date=T10)) in target.text


# ---------------------------------------------------------------------------- 2. the OGC item pages
def _item_row(html: str, name: str) -> tuple[str, str]:
    """The (attributes, inner HTML) of the item page's cell of property `name`."""
    row = re.search(rf'<tr data-property="{name}"><th>.*?</th>\s*<td([^>]*)>(.*?)</td>', html, re.S)
    assert row, (name, html[-3000:])
    return row[1], row[2]


def _items_row(html: str, fid: str, name: str) -> tuple[str, str]:
    """The (attributes, inner HTML) of the items page's cell of property `name` in feature `fid`'s row."""
    names = re.findall(r'<th title="([^"]+)">', html)
    row = re.search(rf'<tr data-id="{re.escape(fid)}">(.*?)</tr>', html, re.S)
    assert row, fid
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", row[1], re.S)[1:]  # after the id's
    return cells[names.index(name)]


def _links(cell: str) -> list[tuple[str, str, str]]:
    """A cell's links: (href, data-reference, text)."""
    return [
        (html_lib.unescape(h), r, html_lib.unescape(t))
        for h, r, t in re.findall(r'<a href="([^"]+)" data-reference="([^"]+)">(.*?)</a>', cell)
    ]


@pytest.mark.parametrize(
    ("lang", "rd03", "hl02"),
    [
        ("zh", ["会卓路（诸光路—涞港路）"], ["2.1H 展厅", "2.2H 展厅（16米层）"]),
        ("en", ["Huizhuo Road (Zhuguang Road – Laigang Road)"], ["Hall 2.1H", "Hall 2.2H (upper level)"]),
    ],
)
def test_the_item_pages_link_each_referenced_feature_to_its_item_page(
    proxied: tuple[TestClient, TestClient], lang: str, rd03: list[str], hl02: list[str]
) -> None:
    c, direct = proxied
    one = c.get("/collections/projects/items/RD-03", params={"f": "html", "lang": lang}).text
    listed = c.get("/collections/projects/items", params={"f": "html", "lang": lang, "limit": 100}).text
    base = "http://testserver/twin/collections"
    expected = {
        "RD-03": [(f"{base}/roads/items/road-huizhuo-1?f=html&lang={lang}", "roads/road-huizhuo-1", rd03[0])],
        "HL-02": [
            (f"{base}/halls/items/hall-{h}?f=html&lang={lang}", f"halls/hall-{h}", name)
            for h, name in zip(("2.1H", "2.2H"), hl02, strict=True)
        ],
    }
    attrs, cell = _item_row(one, "features")
    assert _links(cell) == expected["RD-03"] and 'data-references="roads/road-huizhuo-1"' in attrs, (attrs, cell)
    for fid, links in expected.items():
        assert _links(_items_row(listed, fid, "features")[1]) == links, fid
    # each link opens the referenced feature's page, in the language, named as the link names it
    for href, _, name in [*expected["RD-03"], *expected["HL-02"]]:
        target = direct.get(_local(href))
        assert target.status_code == 200 and target.headers["content-type"].startswith("text/html"), href
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in target.text
        assert html_lib.escape(name, quote=False) in target.text, name


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_item_pages_show_category_area_and_curve_by_their_labels_as_the_layer_check_does(
    proxied: tuple[TestClient, TestClient], surveyed_twin: Path, lang: str
) -> None:
    c, _ = proxied
    with Twin.open(surveyed_twin) as twin:
        schema = twin.layer("projects")
    one = c.get("/collections/projects/items/RD-03", params={"f": "html", "lang": lang}).text
    listed = c.get("/collections/projects/items", params={"f": "html", "lang": lang, "limit": 100}).text
    check = c.get("/maps/layers/projects", params={"lang": lang}, headers=HTML).text
    row = re.search(r'<tr data-id="RD-03"[^>]*>(.*?)</tr>', check, re.S)
    assert row, check[-2000:]
    checked = dict(re.findall(r'data-code="([^"]+)" title="[^"]+">([^<]*)<', row[1]))
    stored = {"category": "city_appearance", "area": "roads", "curve": "linear"}
    for name, value in stored.items():
        label = i18n.value_label(lang, schema.field(name), value)
        assert label and label != value and checked[value] == label, (name, label, checked)
        for attrs, text in (_item_row(one, name), _items_row(listed, "RD-03", name)):
            assert html_lib.unescape(text) == label, (name, text)
            assert f'title="{value}"' in attrs and f'data-code="{value}"' in attrs, (name, attrs)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_project_records_item_page_links_its_project_page(proxied: tuple[TestClient, TestClient], lang: str) -> None:
    c, direct = proxied
    one = c.get("/collections/projects/items/RD-03", params={"f": "html", "lang": lang}).text
    link = re.search(r'<a class="ogc-button" href="([^"]+)" data-link="project-page">(.*?)</a>', one)
    assert link, one[-3000:]
    assert html_lib.unescape(link[1]) == f"http://testserver/twin/projects/RD-03?f=html&lang={lang}"
    assert html_lib.unescape(link[2]) == i18n.label(lang, "project_open")
    target = direct.get(_local(link[1]))
    assert target.status_code == 200 and target.headers["content-type"].startswith("text/html")
    title = re.search(r"<title>(.*?)</title>", target.text)
    assert title and title[1].startswith(i18n.label(lang, "project_title", code="RD-03", name="").strip()), title
    # another layer's feature is no project
    hall = c.get("/collections/halls/items/hall-GC", params={"f": "html", "lang": lang}).text
    assert 'data-link="history"' in hall and 'data-link="project-page"' not in hall


def test_a_pinned_item_page_links_the_same_version(proxied: tuple[TestClient, TestClient], surveyed_twin: Path) -> None:
    c, direct = proxied
    with Twin.open(surveyed_twin) as twin:
        commit = twin.resolve(asof=T10).commit
    assert commit is not None
    one = c.get("/collections/projects/items/RD-03", params={"f": "html", "lang": "en", "version": commit.id}).text
    features = _links(_item_row(one, "features")[1])
    project = re.search(r'href="([^"]+)" data-link="project-page"', one)
    assert features and project, one[-3000:]
    for href in (features[0][0], html_lib.unescape(project[1])):
        assert f"version={commit.id}" in href, href
        assert direct.get(_local(href)).status_code == 200, href
