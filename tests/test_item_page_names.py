"""The OGC API's item pages name the features a register's records reference (a leader's find).

The project register's check table names its `features` ("halls/hall-GC" shows as 中央广场), but the
OGC API's HTML pages of the same records (GET /collections/projects/items?f=html and
.../items/{id}?f=html) still showed the references as stored. They name them the same way, through the
same lookup (web.data.reference_names): the name in the page's language, else the code, else the id,
the raw references kept in the cell's title for engineers, one read per referenced layer, through the
reader's view (a reference into a layer they may not see is not there at all). The downloads
(JSON, GeoJSON) keep the references as stored.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path
from typing import Any

import pytest
from api_server import SECRET_REF, bearer, build_venue, client, referenced_layers, restricted_register

from twin import Twin

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(build_venue(tmp_path_factory.mktemp("item-names") / "venue.gpkg"))


def _item_cell(html: str) -> tuple[str, str]:
    """The (attributes, text) of the item page's `features` value (each name a link: its text)."""
    row = re.search(r'<tr data-property="features"><th>.*?</th>\s*<td([^>]*)>(.*?)</td>', html, re.S)
    assert row, html[-3000:]
    return html_lib.unescape(row[1]), html_lib.unescape(re.sub(r"<[^>]+>", "", row[2]))


def _items_cell(html: str, fid: str) -> tuple[str, str]:
    """The (attributes, text) of the items page's `features` column in the row of feature `fid` (each
    name a link: its text)."""
    names = re.findall(r'<th title="([^"]+)">', html)
    row = re.search(rf'<tr data-id="{re.escape(fid)}">(.*?)</tr>', html, re.S)
    assert row, fid
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", row[1], re.S)[1:]  # after the id's
    attrs, text = cells[names.index("features")]
    return html_lib.unescape(attrs), html_lib.unescape(re.sub(r"<[^>]+>", "", text))


def _shown_text(html: str, tag: str) -> str:
    """The text of the page's `tag` table, without its markup (so without titles and links)."""
    table = re.search(rf'<table class="{tag}">(.*?)</table>', html, re.S)
    assert table, tag
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", table[1]))


@pytest.mark.parametrize(
    ("lang", "hl01", "hl02", "ls01"),
    [
        ("zh", "中央广场", "2.1H 展厅、2.2H 展厅（16米层）", "涞港路北侧四叶草绿地"),
        ("en", "Central plaza", "Hall 2.1H, Hall 2.2H (upper level)", "Clover-shaped green north of Laigang Road"),
    ],
)
def test_the_item_pages_name_the_features_a_record_references(
    bundled: Path, lang: str, hl01: str, hl02: str, ls01: str
) -> None:
    with client(bundled) as c:
        one = c.get("/collections/projects/items/HL-01", params={"f": "html", "lang": lang}).text
        two = c.get("/collections/projects/items/HL-02", params={"f": "html", "lang": lang}).text
        listed = c.get("/collections/projects/items", params={"f": "html", "lang": lang, "limit": 100}).text
        downloads = [
            c.get("/collections/projects/items/HL-01", params={"f": f}).json()["properties"]["features"]
            for f in ("json", "geojson")
        ]
        listed_json = c.get("/collections/projects/items", params={"f": "geojson", "limit": 100}).json()
    # the item page
    attrs, text = _item_cell(one)
    assert text == hl01 and 'title="halls/hall-GC"' in attrs, (attrs, text)
    attrs, text = _item_cell(two)
    assert text == hl02 and "halls/hall-2.1H" in attrs and "halls/hall-2.2H" in attrs, (attrs, text)
    assert not re.search(r"\b(halls|landscaping|roads)/", _shown_text(one, "ogc-properties"))
    # the items page, every row
    attrs, text = _items_cell(listed, "HL-01")
    assert text == hl01 and 'title="halls/hall-GC"' in attrs, (attrs, text)
    assert _items_cell(listed, "HL-02")[0:2] == (_item_cell(two)[0], hl02)
    assert _items_cell(listed, "LS-01")[1] == ls01
    shown = _shown_text(listed, "ogc-items")
    assert not re.search(r"\b(halls|landscaping|roads)/", shown), re.findall(r"\S*(?:halls|roads)/\S*", shown)[:5]
    # the downloads keep the references as stored
    assert downloads == [["halls/hall-GC"], ["halls/hall-GC"]]
    by_id = {f["id"]: f["properties"]["features"] for f in listed_json["features"]}
    assert by_id["HL-01"] == ["halls/hall-GC"] and by_id["HL-02"] == ["halls/hall-2.1H", "halls/hall-2.2H"]


def test_the_items_page_reads_the_names_once_per_layer_referenced(
    bundled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    with client(bundled) as c:
        html = c.get("/collections/projects/items", params={"f": "html", "lang": "zh", "limit": 100}).text
    assert _items_cell(html, "HL-01")[1] == "中央广场"
    referenced = referenced_layers(bundled)
    assert {"halls", "landscaping", "roads"} <= set(referenced), referenced
    assert sorted(r for r in reads if r[1] != "projects") == [("many", layer) for layer in referenced], reads


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return restricted_register(tmp_path_factory.mktemp("item-names-hidden") / "venue.gpkg")


@pytest.mark.parametrize(("who", "sees"), [(None, False), ("viewer", False), ("editor", False), ("engineer", True)])
def test_a_reference_into_a_layer_the_reader_may_not_see_is_not_on_the_item_pages(
    restricted: tuple[Path, dict[str, str]], who: str | None, sees: bool
) -> None:
    store, tokens = restricted
    auth = bearer(tokens[who] if who else None)
    with client(store) as c:
        one = c.get("/collections/projects/items/HL-01", params={"f": "html", "lang": "en"}, headers=auth).text
        listed = c.get("/collections/projects/items", params={"f": "html", "lang": "en"}, headers=auth).text
    for attrs, text in (_item_cell(one), _items_cell(listed, "HL-01")):
        if sees:
            assert text == "Central plaza, North post" and SECRET_REF in attrs, (attrs, text)
        else:
            assert text == "Central plaza" and "halls/hall-GC" in attrs, (attrs, text)
    if not sees:
        for page in (one, listed):
            for word in ("sec-north", "North post", "SEC-03", "security/"):
                assert word not in page, word
