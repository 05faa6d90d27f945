"""The OGC API's HTML pages an engineer browses (api/html.py, web/templates/ogc_*.html), in process.

Every page has breadcrumbs from home whose links resolve, and a JSON link to the same document;
the collection page shows what the JSON documents say (extent, time range, geometry type,
queryables); the items page carries a map of its features (as JSON the map script reads), the
table, the counts and next/prev links that walk the whole layer; the item page shows the
feature's properties; the version picker reloads the page at the version picked; headings follow
`lang`; and what an editor writes (markup, a script-closing tag) comes out as text.
Expected values come from the JSON API and the twin, never from another page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import lxml.html
import orjson
import pytest
import shapely
import shapely.geometry
from api_server import EPSG4549, bearer, build_venue, client, make_tokens, problem_of
from fastapi.testclient import TestClient

from twin import Twin
from web import i18n

HOSTILE_ID = "ls-<i>\"x\"&'y'"  # no "/": an id is one path segment
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_NOTES = "</script><script>alert(2)</script><img src=x onerror=alert(3)> & 'quoted'"
PAGE = 5  # features per page in the paging walk


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    d = tmp_path_factory.mktemp("api-html")
    store = build_venue(d / "venue.gpkg")
    tokens = make_tokens(store)
    with client(store) as c:
        # A feature whose id, name and notes are markup, written as an editor would, through the API.
        bed = {
            "type": "Feature",
            "id": HOSTILE_ID,
            "geometry": shapely.geometry.mapping(shapely.box(121.2950, 31.1860, 121.2954, 31.1863)),
            "properties": {
                "code": "FB-HOSTILE",
                "name_zh": "测试花坛",
                "name_en": HOSTILE_NAME,
                "kind": "flower_bed",
                "pots": 10,
                "responsible_unit": "青浦区绿化和市容管理局",
                "notes": HOSTILE_NOTES,
            },
        }
        r = c.post(
            "/collections/landscaping/items",
            content=orjson.dumps(bed),
            headers={**bearer(tokens["editor"]), "Content-Type": "application/geo+json"},
        )
        assert r.status_code == 201, r.text
        yield c, store


@pytest.fixture(scope="module")
def api(site: tuple[TestClient, Any]) -> TestClient:
    return site[0]


@pytest.fixture(scope="module")
def twin(site: tuple[TestClient, Any]) -> Iterator[Twin]:
    t = Twin.open(site[1])
    yield t
    t.close()


def local(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fetch(api: TestClient, url: str, **params: Any) -> tuple[Any, httpx.Response]:
    """The HTML page at `url`, parsed (and checked to be a page), and the response."""
    r = api.get(url, params=params) if params else api.get(url)  # (params, even empty, replace the url's query)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    return lxml.html.document_fromstring(r.text), r


def page(api: TestClient, url: str, **params: Any) -> Any:
    return fetch(api, url, **params)[0]


def text(el: Any) -> str:
    return " ".join(el.text_content().split())


def crumbs(doc: Any) -> list[tuple[str, str | None, str]]:
    """(kind, href or None for the page itself, label) of each breadcrumb."""
    out = []
    for el in doc.xpath('//nav[contains(@class,"crumbs")]/*[@data-crumb]'):
        out.append((el.get("data-crumb"), el.get("href"), text(el)))
    return out


def map_features(doc: Any, script_id: str = "ogc-features") -> dict[str, Any]:
    (el,) = doc.xpath(f'//script[@id="{script_id}"]')
    assert el.get("type") == "application/json"
    return json.loads(el.text)  # type: ignore[no-any-return]


def json_link(doc: Any) -> str:
    (a,) = doc.xpath('//a[@data-format="json"]')
    return local(a.get("href"))


# ---------------------------------------------------------------------------- navigation
PAGES = {
    "/conformance": ["home", "conformance"],
    "/collections": ["home", "collections"],
    "/collections/halls": ["home", "collections", "collection"],
    "/collections/halls/queryables": ["home", "collections", "collection", "queryables"],
    "/collections/halls/items": ["home", "collections", "collection", "items"],
    "/collections/halls/items/hall-2.1H": ["home", "collections", "collection", "items", "feature"],
}


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_breadcrumbs_home_and_its_json(api: TestClient, url: str) -> None:
    doc = page(api, url, f="html")
    trail = crumbs(doc)
    assert [kind for kind, _, _ in trail] == PAGES[url]
    assert trail[0][2] == "Home"
    assert trail[-1][1] is None, "the page itself is not a link"
    for kind, href, _ in trail[:-1]:
        assert href is not None
        got = api.get(local(href))  # the home link, the collections, the layer, its items
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html"), (kind, href)
    # its JSON link answers the document the page was built from
    js = api.get(json_link(doc))
    assert js.status_code == 200 and "json" in js.headers["content-type"], js.headers["content-type"]
    got, want = js.json(), api.get(url, headers={"Accept": "application/json"}).json()
    if "features" in want:  # a page of features (its timeStamp aside)
        assert [f["id"] for f in got["features"]] == [f["id"] for f in want["features"]]
    else:
        assert got == want
    # every asset a page loads is the app's own, and is served
    for ref in doc.xpath("//link[@rel='stylesheet']/@href | //script[@src]/@src"):
        assert urlsplit(ref).netloc == "testserver", ref
        assert api.get(local(ref)).status_code == 200, ref


def test_collections_page_lists_what_the_json_lists(api: TestClient) -> None:
    listed = [c["id"] for c in api.get("/collections").json()["collections"]]
    doc = page(api, "/collections", f="html")
    assert doc.xpath("//tr/@data-collection") == listed
    for cid in listed:
        (items,) = doc.xpath(f'//tr[@data-collection="{cid}"]//a[@data-link="items"]/@href')
        assert urlsplit(items).path == f"/collections/{cid}/items"


def test_collection_page_says_what_the_collection_is(api: TestClient, twin: Twin) -> None:
    js = api.get("/collections/halls").json()
    queryables = api.get("/collections/halls/queryables").json()
    doc = page(api, "/collections/halls", f="html")
    schema = twin.layer("halls")
    assert text(doc.xpath("//h1")[0]).startswith(schema.title_en)
    assert schema.description.split(" / ")[0] == text(doc.xpath('//p[@class="ogc-description"]')[0])  # its English half
    (extent,) = doc.xpath('//dd[@data-fact="extent"]')
    shown = [float(v) for v in text(extent).split(",")]
    assert shown == pytest.approx(js["extent"]["spatial"]["bbox"][0], abs=1e-5)
    assert text(doc.xpath('//dd[@data-fact="geometry"]')[0]) == js["twin:geometryType"] == schema.geometry_type
    assert text(doc.xpath('//dd[@data-fact="count"]')[0]) == str(twin.count("halls"))
    first = twin.first_commit()
    assert first is not None
    assert "2026-06-15" in text(doc.xpath('//dd[@data-fact="time"]')[0])
    assert js["extent"]["temporal"]["interval"][0][0].startswith("2026-06-15")
    assert doc.xpath("//tr/@data-queryable") == list(queryables["properties"])
    row = doc.xpath('//tr[@data-queryable="floor_area_m2"]/td')
    assert [text(td) for td in row][:2] == ["floor_area_m2", "number"] and text(row[-1]) == "m²"
    (items,) = doc.xpath('//a[@data-link="items"]/@href')
    assert page(api, local(items)).xpath('//div[@id="ogc-map"]')


# ---------------------------------------------------------------------------- items
def test_items_page_has_a_map_of_its_features_and_the_table(api: TestClient) -> None:
    js = api.get("/collections/halls/items", params={"limit": 8}).json()
    ids = [f["id"] for f in js["features"]]
    doc = page(api, "/collections/halls/items", f="html", limit=8)
    assert doc.xpath('//div[@id="ogc-map"]')
    drawn = map_features(doc)
    assert [f["id"] for f in drawn["features"]] == ids
    assert [f["geometry"] for f in drawn["features"]] == [f["geometry"] for f in js["features"]]
    assert map_features(doc, "ogc-context")["features"], "the venue outline under the features"
    assert doc.xpath("//tbody/tr/@data-id") == ids
    assert text(doc.xpath("//*[@data-summary]")[0]) == f"Features 1–8 of {js['numberMatched']}"
    for fid, href in zip(ids, doc.xpath("//tbody/tr/td[1]/a/@href"), strict=True):
        assert page(api, local(href)).xpath(f'//tr[@data-property="id"]//code[text()="{fid}"]')


def test_items_page_maps_lon_lat_whatever_the_crs(api: TestClient) -> None:
    doc = page(api, "/collections/halls/items", f="html", crs=EPSG4549, limit=3)
    drawn = map_features(doc)["features"]
    assert len(drawn) == 3
    for f in drawn:
        minx, miny, maxx, maxy = shapely.geometry.shape(f["geometry"]).bounds
        assert 121 < minx < maxx < 122 and 31 < miny < maxy < 32


def test_next_and_prev_walk_the_whole_layer(api: TestClient) -> None:
    every = [f["id"] for f in api.get("/collections/landscaping/items", params={"limit": 10000}).json()["features"]]
    matched = len(every)
    seen: list[list[str]] = []
    doc = page(api, "/collections/landscaping/items", f="html", limit=PAGE, lang="zh")
    while True:
        seen.append(doc.xpath("//tbody/tr/@data-id"))
        n = sum(map(len, seen))
        assert text(doc.xpath("//*[@data-summary]")[0]) == f"第 {n - len(seen[-1]) + 1}–{n} 个，共 {matched} 个要素"
        nxt = doc.xpath('//a[@data-page="next"]/@href')
        if not nxt:
            break
        assert len(seen) < 50, "next links never end"
        query = parse_qs(urlsplit(nxt[0]).query)
        assert query["f"] == ["html"] and query["lang"] == ["zh"], "the next page is a page, in the same language"
        doc = page(api, local(nxt[0]))
    assert [fid for p in seen for fid in p] == every
    assert not doc.xpath('//a[@data-page="next"]')
    back: list[list[str]] = []
    while prev := doc.xpath('//a[@data-page="prev"]/@href'):
        doc = page(api, local(prev[0]))
        back.append(doc.xpath("//tbody/tr/@data-id"))
    assert back == seen[-2::-1]


def test_a_layer_of_records_has_a_table_and_no_map(api: TestClient) -> None:
    doc = page(api, "/collections/projects/items", f="html", limit=5)
    assert not doc.xpath('//div[@id="ogc-map"]')
    assert len(doc.xpath("//tbody/tr")) == 5
    assert page(api, "/collections/projects", f="html").xpath('//dd[@data-fact="geometry"]')


# ---------------------------------------------------------------------------- one feature
def stored(cell: Any) -> str:
    """A property cell's value as stored: one the schema labels shows by its label, the value kept in
    its data-code (as the layer check's table)."""
    code = cell.get("data-code")
    return text(cell) if code is None else str(code)


def test_item_page_shows_the_feature_and_its_properties(api: TestClient, twin: Twin) -> None:
    js = api.get("/collections/halls/items/hall-2.1H").json()
    doc = page(api, "/collections/halls/items/hall-2.1H", f="html")
    schema = twin.layer("halls")
    for name, value in js["properties"].items():
        (cell,) = doc.xpath(f'//tr[@data-property="{name}"]/td')
        assert stored(cell) == str(value), name
        label = i18n.value_label("en", schema.field(name), value)
        assert text(cell) == (label or str(value)), name
    assert doc.xpath("//td[@data-code]")  # hall_type: exhibition, shown as "Exhibition hall"
    (feature,) = map_features(doc)["features"]
    assert feature["id"] == "hall-2.1H" and feature["geometry"] == js["geometry"]
    (history,) = doc.xpath('//a[@data-link="history"]/@href')
    assert api.get(local(history)).json()["id"] == "hall-2.1H"


# ---------------------------------------------------------------------------- versions
def submit(form: Any, **choice: str) -> str:
    """The URL a browser goes to when the form is submitted with `choice`."""
    fields = [(i.get("name"), i.get("value")) for i in form.xpath(".//input[@type='hidden']")]
    fields += list(choice.items())
    return form.get("action") + "?" + urlencode(fields)


def test_version_picker_reloads_the_items_at_the_version_picked(api: TestClient, twin: Twin) -> None:
    doc = page(api, "/collections/landscaping/items", f="html", limit=100, lang="en")
    (form,) = doc.xpath("//form[@data-version-picker]")
    options = form.xpath(".//select[@name='version']/option")
    assert options[0].get("value") == "HEAD" and options[0].get("selected") is not None
    # the commits that changed the layer are offered, newest first, as the log has them
    changed = [c.id for c in twin.log(200) if "landscaping" in c.counts]
    offered = form.xpath(".//optgroup[1]/option/@value")
    assert offered == changed[: len(offered)] and offered
    older = offered[-1]
    at, response = fetch(api, submit(form, version=older))
    assert response.headers["x-twin-version"] == older
    expected = api.get("/collections/landscaping/items", params={"version": older, "limit": 100}).json()
    assert at.xpath("//tbody/tr/@data-id") == [f["id"] for f in expected["features"]]
    assert HOSTILE_ID not in at.xpath("//tbody/tr/@data-id")  # written after that version
    assert at.xpath(f"//select[@name='version']//option[@value='{older}']/@selected")
    assert not at.xpath("//option[@value='HEAD']/@selected")
    # the picked version carries through to the features' pages
    first_item = at.xpath("//tbody/tr/td[1]/a/@href")[0]
    assert parse_qs(urlsplit(first_item).query)["version"] == [older]
    # checkpoints are there too, each a commit the twin reads at that date
    assert form.xpath(".//optgroup[2]/option")


def test_item_version_picker_lists_the_feature_versions(api: TestClient, twin: Twin) -> None:
    versions = [h.commit.id for h in twin.history("halls", "hall-2.1H") if h.op != "delete"]
    doc = page(api, "/collections/halls/items/hall-2.1H", f="html")
    (form,) = doc.xpath("//form[@data-version-picker]")
    assert sorted(form.xpath(".//optgroup/option/@value")) == sorted(versions)
    oldest = twin.history("halls", "hall-2.1H")[0].commit.id
    at = page(api, submit(form, version=oldest))
    then = api.get("/collections/halls/items/hall-2.1H", params={"version": oldest}).json()
    for name, value in then["properties"].items():
        assert stored(at.xpath(f'//tr[@data-property="{name}"]/td')[0]) == str(value)


# ---------------------------------------------------------------------------- escaping and languages
@pytest.mark.parametrize("url", ["/collections/landscaping/items?limit=1000", "/collections/landscaping/items/{id}"])
def test_what_editors_write_comes_out_as_text(api: TestClient, url: str) -> None:
    url = url.format(id=quote(HOSTILE_ID, safe=""))
    r = api.get(url, params={"f": "html"})
    assert r.status_code == 200, r.text[:300]
    raw = r.text
    assert "<script>alert" not in raw and "<img src=x" not in raw and "<b>" not in raw
    doc = lxml.html.document_fromstring(raw)
    # no script but the page's own: Leaflet, the page script, and the two JSON blocks
    scripts = doc.xpath("//script")
    assert len(scripts) == 4 and all(s.get("src") or s.get("type") == "application/json" for s in scripts)
    assert not doc.xpath("//img") and not doc.xpath("//*[@onerror]")
    # the values read back exactly: as table text, and inside the map's JSON
    assert HOSTILE_NOTES in [td.text_content() for td in doc.xpath("//td")]
    drawn = {f["id"]: f for f in map_features(doc)["features"]}
    assert drawn[HOSTILE_ID]["properties"]["name_en"] == HOSTILE_NAME
    assert drawn[HOSTILE_ID]["properties"]["notes"] == HOSTILE_NOTES


def test_headings_follow_lang(api: TestClient) -> None:
    en = page(api, "/collections", f="html")
    assert en.get("lang") == "en" and text(en.xpath("//h1")[0]) == "Collections"
    zh = page(api, "/collections", f="html", lang="zh")
    assert zh.get("lang") == "zh-CN" and text(zh.xpath("//h1")[0]) == "图层"
    assert [label for _, _, label in crumbs(zh)] == ["首页", "图层"]
    # links keep the language, and the switch goes to the other one
    assert all(parse_qs(urlsplit(h).query).get("lang") == ["zh"] for _, h, _ in crumbs(zh) if h)
    (switch,) = zh.xpath("//a[@data-lang-switch]/@href")
    assert parse_qs(urlsplit(switch).query)["lang"] == ["en"]
    halls = page(api, "/collections/halls", f="html", lang="zh")
    assert text(halls.xpath("//h1")[0]).startswith("展馆")
    assert "几何类型" in [text(dt) for dt in halls.xpath("//dt")]
    items = page(api, "/collections/halls/items", f="html", lang="zh")
    assert [label for _, _, label in crumbs(items)] == ["首页", "图层", "展馆", "要素"]
    assert text(items.xpath("//form[@data-version-picker]//label")[0]).startswith("查看版本")
    item = page(api, "/collections/halls/items/hall-2.1H", f="html", lang="zh")
    assert text(item.xpath("//h2")[0]) == "属性"
    # a bad lang on a page is the 400 page naming it (api/errors.py), JSON for a script
    bad = api.get("/collections", params={"f": "html", "lang": "fr"})
    assert bad.status_code == 400 and 'data-parameter="lang"' in bad.text
    problem_of(api.get("/collections", params={"lang": "fr"}), 400, "lang")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_collection_page_is_in_one_language(api: TestClient, lang: str) -> None:
    """A layer's page in one language: its description's half in that language (the catalogue writes
    "English / 中文"), the downloads and the other links named in it, not "Download as gpkg" on the
    Chinese page; the JSON keeps its English link titles."""
    halls = page(api, "/collections/halls", f="html", lang=lang)
    description = text(halls.xpath("//p[contains(@class, 'ogc-description')]")[0])
    downloads = [text(a) for a in halls.xpath("//h2[following-sibling::ul][1]/following-sibling::ul[1]//a")]
    links = [text(a) for a in halls.xpath("//ul[contains(@class, 'ogc-links')]//a")]
    assert len(links) > len(downloads) >= 4
    cjk = re.compile(r"[\u3400-\u9fff]")
    if lang == "zh":
        assert cjk.search(description) and not re.search(r"[A-Za-z]{4,} [a-z]{3,}", description), description
        assert all(cjk.search(label) and "Download" not in label for label in links), links
    else:
        assert not cjk.search(description) and description.startswith("Exhibition halls"), description
        assert all(not cjk.search(label) for label in links), links
    doc = api.get("/collections/halls", params={"f": "json"}).json()
    assert "Download as gpkg" in [lk["title"] for lk in doc["links"]]
    # the queryables' names too: the feature id's among them
    names = [text(td) for td in halls.xpath("//table//tr/td[3]")]
    assert names[0] == ("要素编号" if lang == "zh" else "Feature id"), names
