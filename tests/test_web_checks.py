"""The layer-check and change pages without a browser: the attribute table holds every feature with
its code, the problems are grouped by reason, the register gets a table page, a change lists each
changed attribute once, and the change list separates geometry changes from attribute-only ones.

The browser side (filtering, sorting, zooming, stacked features, the register checkbox) is in
tests/test_web_checks_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import shapely
from api_server import make_tokens
from fastapi.testclient import TestClient
from lxml import html as lxml_html
from problem_codes import KIOSKS, SCHEMAS, problems_for
from web_support import INVALID_ID, MISSING_ID, build_web_twin

from api.main import create_app
from api.settings import ApiSettings
from layers.catalogue import AREA_OF_INTEREST
from twin import Problem, Twin
from twin.model import FieldSpec, LayerSchema
from twin.validation import PROBLEM_CODES
from web import i18n
from web.checks import REASON_KINDS, FeatureCheck, check_records, group_by_reason, problem_text, reason_kind
from web.data import changed_fields
from web.maps import MapContext, changes_map, layer_map
from web.settings import MapSettings

VENUE_LAYERS = ("venue_boundary", "halls", "south_plaza", "roads", "landscaping")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_web_twin(tmp_path_factory.mktemp("webchecks") / "venue.gpkg")
    make_tokens(path)
    return path


@pytest.fixture(scope="module")
def api(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=store))) as c:
        yield c


def _json(api: TestClient, url: str, **params: Any) -> Any:
    r = api.get(url, params=params)
    assert r.status_code == 200, (url, r.status_code, r.text[:400])
    return r.json()


def _page(api: TestClient, url: str, **params: Any) -> Any:
    r = api.get(url, params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), (url, r.status_code)
    return lxml_html.fromstring(r.text)


def _items(api: TestClient, layer: str, **params: Any) -> list[dict[str, Any]]:
    return _json(api, f"/collections/{layer}/items", limit=10000, **params)["features"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- the attribute table
@pytest.mark.parametrize("layer", ["landscaping", "halls", "roads", "projects"])
def test_attribute_table_lists_every_feature_with_its_code(api: TestClient, layer: str) -> None:
    items = _items(api, layer)
    doc = _page(api, f"/maps/layers/{layer}", lang="en")
    rows = doc.xpath("//section[@data-attr-table]//tbody/tr")
    assert {r.get("data-id") for r in rows} == {f["id"] for f in items} and len(rows) == len(items)
    columns = [th.get("data-field") for th in doc.xpath("//section[@data-attr-table]//thead//th")]
    assert columns[0] == "code" and columns[-1] == ""  # the code first, the feature id last
    for r in rows:
        f = next(f for f in items if f["id"] == r.get("data-id"))
        code = f["properties"].get("code") or f["id"]
        cells = [td.text_content().strip() for td in r.xpath("./td")]
        assert r.get("data-code") == code and cells[0] == code and cells[-1] == f["id"]
        if layer != "projects":  # a row click zooms to its feature: the box holds it
            minx, miny, maxx, maxy = (float(v) for v in r.get("data-bbox").split(","))
            g = shapely.geometry.shape(f["geometry"])
            assert shapely.box(minx - 1e-6, miny - 1e-6, maxx + 1e-6, maxy + 1e-6).covers(g)
            assert r.get("data-key") == f"{layer}:{f['id']}"


def test_table_marks_the_check_and_the_missing_cells(api: TestClient) -> None:
    doc = _page(api, "/maps/layers/landscaping", lang="en")
    status = {r.get("data-id"): r.get("data-check") for r in doc.xpath("//section[@data-attr-table]//tbody/tr")}
    assert status[INVALID_ID] == "invalid" and status[MISSING_ID] == "missing"
    assert {s for k, s in status.items() if k not in (INVALID_ID, MISSING_ID)} == {"ok"}
    fields = [th.get("data-field") for th in doc.xpath("//section[@data-attr-table]//thead//th")]
    row = doc.xpath(f'//section[@data-attr-table]//tbody/tr[@data-id="{MISSING_ID}"]')[0]
    missing = {fields[i] for i, td in enumerate(row.xpath("./td")) if "vt-missing" in (td.get("class") or "")}
    assert {"pots", "area_m2"} <= missing


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_only_the_project_register_leaves_columns_off_paper(api: TestClient, lang: str) -> None:
    """The project register's 21 columns print as the meeting's (web.check_views.PRINT_FIELDS); a
    layer's table, whose every column its check is about, prints whole."""
    doc = _page(api, "/maps/layers/projects", lang=lang)
    heads = doc.xpath("//section[@data-attr-table]//thead//th")
    printed = [th.get("data-field") for th in heads if "vt-noprint" not in (th.get("class") or "")]
    assert printed == ["code", "", f"name_{lang}", "area", "responsible_unit", "responsible_person",
                       "planned_start", "planned_finish", "percent_complete", "progress_date"]  # fmt: skip
    row = doc.xpath("//section[@data-attr-table]//tbody/tr")[0]
    cells = row.xpath("./td")
    assert len(cells) == len(heads)
    assert [("vt-noprint" in (td.get("class") or "")) for td in cells] == [
        ("vt-noprint" in (th.get("class") or "")) for th in heads
    ]
    landscaping = _page(api, "/maps/layers/landscaping", lang=lang)
    assert not landscaping.xpath("//section[@data-attr-table]//*[contains(@class, 'vt-noprint')]")


def test_code_labels_are_the_features_codes(api: TestClient) -> None:
    """The map writes each checked feature's `l`: its code, or its id when it has none."""
    items = {f["id"]: f for f in _items(api, "landscaping")}
    doc = _json(api, "/maps/data/features/landscaping", mode="check", lang="zh")
    assert len(doc["features"]) == len(items)
    for f in doc["features"]:
        assert f["l"] == (items[f["id"]]["properties"].get("code") or f["id"])
    page = api.get("/maps/layers/landscaping", params={"lang": "en"}).text
    assert "VT.checkMap.attach(vt_engine" in page and "/static/web/check-table.js" in page


# ---------------------------------------------------------------------------- values by their names
LABELLED = {  # field: {code: (zh, en)}, some of each layer's
    "landscaping": {"kind": {"flower_bed": ("花坛", "Flower bed"), "green_wall": ("绿墙", "Green wall"), "lawn": ("草坪", "Lawn")}},
    "projects": {
        "category": {"venue_renovation": ("场馆改造", "Venue renovation"), "support_road": ("配套道路", "Support road")},
        "area": {"halls": ("展馆", "Halls"), "roads": ("道路", "Roads")},
    },
    "roads": {"road_class": {"internal": ("场内道路", "Internal road")}},
}  # fmt: skip


def test_every_allowed_value_has_a_label_in_both_languages(store: Path) -> None:
    """The schema names every value it allows (and the register's known categories), in Chinese
    and in English: the one place the pages take a value's name from."""
    with Twin.open(store) as twin:
        schemas = {s.name: s for s in twin.layers()}
    for layer in (*VENUE_LAYERS, "projects"):
        for f in schemas[layer].fields:
            if f.allowed is None and f.name != "category":
                continue
            labelled = {v: (zh, en) for v, zh, en in f.labels or ()}
            assert set(f.allowed or labelled) <= set(labelled), (layer, f.name)
            assert all(zh.strip() and en.strip() and zh != en or v in ("m²", "m") for v, (zh, en) in labelled.items())


@pytest.mark.parametrize("layer", sorted(LABELLED))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_table_shows_values_by_their_names_with_the_code_kept(api: TestClient, layer: str, lang: str) -> None:
    """A value the schema names shows its name in the page's language (草坪 / Lawn), its code kept
    in the cell's title and data-code (the text box matches either); other values show as they are."""
    items = {f["id"]: f["properties"] for f in _items(api, layer)}
    doc = _page(api, f"/maps/layers/{layer}", lang=lang)
    fields = [th.get("data-field") for th in doc.xpath("//section[@data-attr-table]//thead//th")]
    seen: set[str] = set()
    for row in doc.xpath("//section[@data-attr-table]//tbody/tr"):
        cells = row.xpath("./td")
        for name, names in LABELLED[layer].items():
            code = items[row.get("data-id")].get(name)
            td = cells[fields.index(name)]
            if code in names:
                assert td.text_content().strip() == names[code][0 if lang == "zh" else 1], (row.get("data-id"), code)
                assert td.get("data-code") == code and td.get("title") == code
                seen.add(code)
            elif code == "hedge":  # not a value the schema knows (the legacy hedge's): as it is
                assert td.text_content().strip() == "hedge" and td.get("data-code") is None
                seen.add(code)
    assert seen - {"hedge"} == {code for names in LABELLED[layer].values() for code in names}
    assert ("hedge" in seen) == (layer == "landscaping")
    assert "/static/web/check-table.js" in api.get(f"/maps/layers/{layer}", params={"lang": lang}).text


def test_popups_and_changes_name_values_too(api: TestClient, store: Path) -> None:
    """The popups' field list carries each field's value names for the page script, and a change
    popup says a value changed by its names."""
    page = api.get("/maps/layers/landscaping", params={"lang": "zh"}).text
    assert '"labels":{"flower_bed":"花坛","green_wall":"绿墙","lawn":"草坪","trees":"行道树"}' in page
    with Twin.open(store) as twin:
        schema = twin.layer("landscaping")
    before = {"properties": {"kind": "lawn"}}
    after = {"properties": {"kind": "flower_bed"}}
    assert changed_fields(schema, before, after, "zh") == [["类型", "草坪", "花坛"]]
    assert changed_fields(schema, before, after, "en") == [["Kind", "Lawn", "Flower bed"]]


# ---------------------------------------------------------------------------- problems by reason
def test_problems_are_grouped_by_reason(api: TestClient) -> None:
    for lang, titles in (
        ("en", ("Outside the venue", "Value not allowed")),
        ("zh", ("位于场馆范围之外", "属性值不在允许值之内")),
    ):
        doc = _page(api, "/maps/layers/landscaping", lang=lang)
        groups = {
            d.get("data-reason"): [li.get("data-feature") for li in d.xpath(".//li")]
            for d in doc.xpath('//section[contains(@class, "vt-problems")]//details')
        }
        assert groups == {
            "outside_venue": [INVALID_ID],
            "value_not_allowed": [INVALID_ID],
            "attribute_expected": [MISSING_ID],
        }
        order = [d.get("data-reason") for d in doc.xpath('//section[contains(@class, "vt-problems")]//details')]
        assert order == sorted(order, key=REASON_KINDS.index)  # geometry first, expectations last
        summaries = [s.text_content() for s in doc.xpath("//details/summary")]
        assert all(any(t in s for s in summaries) for t in titles)
        assert doc.xpath('//section[contains(@class, "vt-problems")]/@data-problems') == ["2"]
    # a feature with several reasons of one kind is listed once in that group, with each reason
    lonely = doc.xpath(f'//details[@data-reason="attribute_expected"]//li[@data-feature="{MISSING_ID}"]')
    assert len(lonely) == 1 and len(lonely[0].xpath('./div[contains(@class, "vt-why")]')) >= 2


def _schema() -> LayerSchema:
    return LayerSchema(
        name="kiosks",
        title_zh="售货亭",
        title_en="Kiosks",
        geometry_types=("Polygon",),
        code_field="code",
        fields=(
            FieldSpec("code", "string", required=True),
            FieldSpec("kind", "string", required=True, allowed=("food", "drink")),
            FieldSpec("seats", "integer"),
        ),
    )


def test_every_kind_of_reason_finds_its_group() -> None:
    inside = shapely.box(*AREA_OF_INTEREST.centroid.buffer(0.0004).bounds)
    x, y = inside.centroid.x, inside.centroid.y
    bowtie = {"type": "Polygon", "coordinates": [[[x, y], [x + 1e-4, y + 1e-4], [x + 1e-4, y], [x, y + 1e-4], [x, y]]]}
    far = shapely.geometry.mapping(shapely.box(130.0, 40.0, 130.001, 40.001))
    square = shapely.geometry.mapping(inside)
    records = [
        {"id": "k-bowtie", "geometry": bowtie, "properties": {"code": "K1", "kind": "food"}},
        {"id": "k-far", "geometry": far, "properties": {"code": "K2", "kind": "food"}},
        {"id": "k-nocode", "geometry": square, "properties": {"kind": "food"}},
        {"id": "k-soup", "geometry": square, "properties": {"code": "K4", "kind": "soup"}},
        {"id": "k-seats", "geometry": square, "properties": {"code": "K5", "kind": "drink", "seats": "many"}},
        {
            "id": "k-point",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"code": "K6", "kind": "food"},
        },
        {"id": "k-none", "geometry": None, "properties": {"code": "K7", "kind": "food"}},
        {"id": "k-extra", "geometry": square, "properties": {"code": "K8", "kind": "food", "colour": "red"}},
        {"id": "k-fine", "geometry": square, "properties": {"code": "K9", "kind": "food", "seats": 4}},
    ]
    schema = _schema()
    found = check_records(schema, records, AREA_OF_INTEREST)
    assert "k-fine" not in found and all(c.status == "invalid" for c in found.values())
    groups = {g.kind: [c.feature_id for c, _ in g.entries] for g in group_by_reason(found, "en", schema)}
    assert groups == {
        "geometry_invalid": ["k-bowtie"],
        "geometry_empty": ["k-none"],
        "geometry_type": ["k-point"],
        "outside_venue": ["k-far"],
        "required_missing": ["k-nocode"],
        "value_not_allowed": ["k-soup"],
        "wrong_type": ["k-seats"],
        "unknown_field": ["k-extra"],
    }
    zh = {g.kind: g.title for g in group_by_reason(found, "zh", schema)}
    assert zh["geometry_invalid"] == "几何无效" and zh["required_missing"] == "缺少必填属性"
    assert reason_kind("something the twin has not said before") == "other"


# ---------------------------------------------------------------------------- worded from what a problem means
CJK = re.compile(r"[\u3400-\u9fff]")
# the codes of problems with a whole change (never one of a stored feature's), in "Other problems"
CHANGE_CODES = {"unknown_layer", "unknown_op", "changed_twice", "delete_with_feature", "no_feature"}


def _coded_problems() -> list[tuple[Problem, LayerSchema]]:
    """A problem of every code validation gives (tests/problem_codes.py), with its layer's schema."""
    out = []
    for code in PROBLEM_CODES:
        for p in problems_for(code):
            if p.code == code:
                out.append((p, SCHEMAS.get(p.layer, KIOSKS)))
    assert {p.code for p, _ in out} == set(PROBLEM_CODES)
    return out


def test_every_problem_code_is_worded_in_chinese_and_english() -> None:
    """Each code validation can give has its words in both languages (i18n "problem_<code>"), naming
    a field by its title, and a group other than "Other problems" unless it is about the change."""
    for p, schema in _coded_problems():
        assert i18n.has_label(f"problem_{p.code}"), p.code
        zh, en = problem_text(p, "zh", schema), problem_text(p, "en", schema)
        assert CJK.search(zh) and zh != p.reason, (p.code, zh)
        assert not CJK.search(en), (p.code, en)
        spec = schema.field(p.args.get("field", ""))
        if spec is not None:
            assert f"“{i18n.field_title('zh', spec)}”" in zh and i18n.field_title("en", spec) in en, (p.code, zh, en)
        assert (reason_kind(p.code) == "other") == (p.code in CHANGE_CODES), p.code
        assert reason_kind(p.code) in REASON_KINDS


def test_rewording_the_twins_english_changes_nothing_on_the_page() -> None:
    """The page words and groups a problem from its code and args: the same problem with another
    English reason reads the same in both languages and is in the same group."""
    for p, schema in _coded_problems():
        other = replace(p, reason="the twin words this differently now")
        for lang in ("zh", "en"):
            assert problem_text(other, lang, schema) == problem_text(p, lang, schema), (p.code, lang)
            check, reworded = (FeatureCheck("f", "invalid", (q,), ()) for q in (p, other))
            assert check.findings_in(lang, schema) == reworded.findings_in(lang, schema)
    # e.g. a value not allowed: its words, and its allowed values by their labels, come from its args
    (soup,) = problems_for("value_not_allowed")
    odd = replace(soup, reason="kind is soup, which is not on the menu")
    assert problem_text(odd, "zh", KIOSKS) == "“类型”的值 'soup' 不在允许值之内（餐饮（food）、饮品（drink））"
    assert (
        problem_text(odd, "en", KIOSKS) == "Kind = 'soup' is not one of the allowed values: Food (food), Drinks (drink)"
    )


def test_problems_are_grouped_by_code_not_by_their_words() -> None:
    schema = KIOSKS
    (soup,) = problems_for("value_not_allowed")
    found = {
        "a": FeatureCheck("a", "invalid", (replace(soup, feature_id="a", reason="words no rule knows"),), ()),
        # English that reads like an empty geometry, but with no code: the page does not guess
        "b": FeatureCheck("b", "invalid", (Problem("kiosks", "b", "geometry is empty"),), ()),
        "c": FeatureCheck("c", "invalid", (Problem("kiosks", "c", "x", "geometry_empty", {}),), ()),
    }
    groups = {g.kind: [(c.feature_id, texts) for c, texts in g.entries] for g in group_by_reason(found, "zh", schema)}
    assert groups == {
        "geometry_empty": [("c", ("几何为空",))],
        "value_not_allowed": [("a", ("“类型”的值 'soup' 不在允许值之内（餐饮（food）、饮品（drink））",))],
        "other": [("b", ("geometry is empty",))],
    }


def test_a_problem_without_a_code_is_shown_by_its_reason() -> None:
    """A problem from elsewhere (a rule of the twin's, another module) may have no code: it is
    shown as the twin words it, in either language, among "Other problems"."""
    p = Problem("kiosks", "k", "six floors; at most 2")
    unknown = Problem("kiosks", "k", "a code this page never heard of", "brand_new_code", {"n": 1})
    for lang in ("zh", "en"):
        assert problem_text(p, lang, KIOSKS) == "six floors; at most 2"
        assert problem_text(unknown, lang, KIOSKS) == "a code this page never heard of"
    assert reason_kind(None) == reason_kind("brand_new_code") == "other"


# ---------------------------------------------------------------------------- the register's table page
def test_register_gets_a_table_page_not_a_map(api: TestClient, store: Path) -> None:
    r = api.get("/maps/layers/projects", params={"lang": "en"})
    assert r.status_code == 200
    assert "leaflet" not in r.text.lower() and "folium" not in r.text.lower() and "VT.Engine" not in r.text
    doc = lxml_html.fromstring(r.text)
    assert doc.xpath("//h1")[0].text_content().strip() == "Layer check: Hardware projects"
    assert len(doc.xpath("//section[@data-attr-table]//tbody/tr")) == len(_items(api, "projects")) == 60
    assert doc.xpath("//section[@data-attr-table]//tbody/tr[@data-bbox]") == []  # nothing to zoom to
    assert doc.xpath('//a[@data-layer-link="halls"]') and doc.xpath("//select[@name='version']")
    assert doc.xpath('//a[contains(@href, "/collections/projects/download?f=csv")]')
    zh = lxml_html.fromstring(api.get("/maps/layers/projects", params={"lang": "zh"}).text)
    assert "硬件项目" in zh.xpath("//h1")[0].text_content() and zh.xpath('//html[@lang="zh-CN"]')
    # an exported register page stands alone: its script and styles inlined
    with Twin.open(store) as twin:
        page = layer_map(MapContext(twin=twin, lang="en", export=True, settings=MapSettings()), "projects")
    assert "<script src=" not in page and 'rel="stylesheet"' not in page and "VT.AttributeTable" in page


# ---------------------------------------------------------------------------- the change map
def test_change_popup_lists_each_changed_attribute_once(api: TestClient) -> None:
    doc = _json(api, "/maps/data/changes", **{"from": "2026-09-01", "to": "HEAD", "lang": "en"})
    diff = {f["id"]: f for f in _json(api, "/diff", **{"from": "2026-09-01", "to": "HEAD"})["features"]}
    modified = [f for f in doc["features"] if f["c"] == "modified"]
    assert modified
    for f in modified:
        titles = [row[0] for row in f["d"]]
        assert len(titles) == len(set(titles)), f["id"]
        d = diff[f["id"]]
        before, after = d["twin:before"]["properties"], d["properties"]
        assert len(titles) == sum(1 for k in set(before) | set(after) if before.get(k) != after.get(k)), f["id"]
    north = next(f for f in modified if f["id"] == "ls-flower-bed-north-gate")
    assert north["d"] == [["Flower pots", "41,000", "43,200"]]


def test_change_list_separates_geometry_from_attribute_changes(api: TestClient) -> None:
    diff = _json(api, "/diff", **{"from": "2026-09-01", "to": "HEAD"})["features"]
    doc = _page(api, "/maps/changes", **{"from": "2026-09-01", "to": "HEAD", "lang": "en"})

    def section(name: str) -> list[tuple[str, str]]:
        return [
            (li.get("data-layer"), li.get("data-feature"))
            for li in doc.xpath(f'//section[@data-change-section="{name}"]//li[@data-feature]')
        ]

    spatial = [f for f in diff if f["twin:layer"] in VENUE_LAYERS]
    moved = {(f["twin:layer"], f["id"]) for f in spatial if f.get("twin:before") is None or f["geometry"] is None
             or f["twin:before"]["geometry"] != f["geometry"]}  # fmt: skip
    assert set(section("geometry")) == moved
    assert ("south_plaza", "sp-walkway-temp") in moved and ("halls", "hall-2.1H") not in moved
    records = {(f["twin:layer"], f["id"]) for f in diff if f["twin:layer"] == "projects"}
    assert set(section("attributes")) == {(f["twin:layer"], f["id"]) for f in spatial} - moved | records
    register = doc.xpath('//section[@data-change-section="attributes"]//li[@data-register]')
    assert {li.get("data-layer") for li in register} == {"projects"} and len(register) == len(records) == 60
    assert doc.xpath("//input[@data-hide-register]")
    # the venue's own attribute changes come before the register's
    layers = [layer for layer, _ in section("attributes")]
    assert layers.index("projects") == len(layers) - len(records)
    # an attribute-only change names what changed
    north = doc.xpath('//li[@data-feature="ls-flower-bed-north-gate"]/div[@class="vt-change-fields"]')[0]
    assert north.text_content() == "Flower pots"
    # a register record zooms to the venue features its project covers
    project = _json(api, "/projects/HL-02")["project"]
    li = doc.xpath('//li[@data-layer="projects"][@data-feature="HL-02"]')[0]
    assert set(li.get("data-keys").split("|")) == {k.replace("/", ":", 1) for k in project["features"]}


def test_deleted_changes_are_drawn_above_their_replacements(store: Path) -> None:
    from web import maps

    order = maps.CHANGE_ORDER
    assert order.index("deleted") > max(order.index("added"), order.index("modified"))
    assert order.index("modified_old") > order.index("modified")
    with Twin.open(store) as twin:
        page = changes_map(MapContext(twin=twin, lang="en", settings=MapSettings()), "2026-09-01", "HEAD")
    assert '"styleOrder":["boundary","ctx","modified","added","modified_old","deleted"]' in page


def test_a_long_table_keeps_every_problem_and_says_it_is_cut(store: Path) -> None:
    import orjson

    from web.check_views import check_view
    from web.checks import layer_check
    from web.templating import render

    with Twin.open(store) as twin:
        ref = twin.resolve()
        records = [orjson.loads(b) for b in twin.features("landscaping", ref).features]
        view = check_view(twin.layer("landscaping"), records, layer_check(twin, "landscaping", ref), "en", limit=5)
    assert len(view.rows) == 5 and view.truncated and view.total == len(records)
    assert {INVALID_ID, MISSING_ID} <= {r.id for r in view.rows}
    codes = [r.code for r in view.rows]
    assert codes == sorted(codes, key=lambda c: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", c)])
    html = render("check_table.html", lang="en", view=view, styles={k: {"fill": "#000"} for k in ("ok", "missing", "invalid")},
                  downloads=[("CSV", "/collections/landscaping/download?f=csv")])  # fmt: skip
    note = lxml_html.fromstring(html).xpath("//p[@data-truncated]")[0]
    assert note.get("data-truncated") == "5" and f"5 of {len(records)} features" in note.text_content()


def test_a_value_not_allowed_names_the_allowed_values_by_their_labels(api: TestClient) -> None:
    """The problem list and the popups name the allowed values as the table does (花坛 / Flower bed),
    each with its code in brackets for the engineers, not the codes alone."""
    expected = {
        "zh": "“类型”的值 'hedge' 不在允许值之内（花坛（flower_bed）、绿墙（green_wall）、草坪（lawn）、行道树（trees））",
        "en": "Kind = 'hedge' is not one of the allowed values: Flower bed (flower_bed), Green wall (green_wall), "
        "Lawn (lawn), Street trees (trees)",
    }
    for lang, text in expected.items():
        doc = _page(api, "/maps/layers/landscaping", lang=lang)
        shown = [d.text_content().strip() for d in doc.xpath('//details[@data-reason="value_not_allowed"]//div')]
        assert text in shown, shown
        popup = _json(api, "/maps/data/features/landscaping", mode="check", lang=lang)
        bad = next(f for f in popup["features"] if f["id"] == INVALID_ID)
        assert text in bad["r"], bad["r"]


# ---------------------------------------------------------------------------- the survey layer
_CJK = re.compile(r"[\u3400-\u9fff]")


def test_the_survey_layer_check_speaks_chinese_and_expects_no_attribute(surveyed_twin: Path) -> None:
    """The survey layer's records are written from their rasters: a colour orthophoto has no no-data
    value, which the NDVI surveys beside it have, and is no problem for it. Every column has a
    Chinese heading, and a survey's kind shows in words, its code kept."""
    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as c:
        doc = _page(c, "/maps/layers/surveys", lang="zh")
    rows = doc.xpath("//section[@data-attr-table]//tbody/tr")
    assert len(rows) == 6 and {r.get("data-check") for r in rows} == {"ok"}
    assert not doc.xpath('//details[@data-reason="attribute_expected"]')
    heads = [th.text_content().strip() for th in doc.xpath("//section[@data-attr-table]//thead//th")]
    assert all(_CJK.search(h) for h in heads), heads
    fields = [th.get("data-field") for th in doc.xpath("//section[@data-attr-table]//thead//th")]
    kinds = {
        (td.text_content().strip(), td.get("data-code"))
        for td in doc.xpath(f"//tbody/tr/td[{fields.index('kind') + 1}]")
    }
    assert kinds == {(i18n.survey_kind("zh", "orthophoto"), "orthophoto"), (i18n.survey_kind("zh", "ndvi"), "ndvi")}
    assert all(_CJK.search(k) for k, _ in kinds)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_survey_layer_stored_without_titles_is_shown_with_them(surveyed_twin: Path, lang: str) -> None:
    """A twin whose survey layer was made before its fields had Chinese titles (a stored schema
    keeps the titles it was made with) shows the titles the code gives them now."""
    import orjson

    from twin.surveys import survey_schema
    from web.check_views import check_view

    current = survey_schema()
    old = replace(current, fields=tuple(replace(f, title_zh=None, title_en=None) for f in current.fields))
    with Twin.open(surveyed_twin) as twin:
        records = [orjson.loads(b) for b in twin.features("surveys").features]
    view = check_view(old, records, check_records(old, records, AREA_OF_INTEREST), lang)
    titles = {c.name: c.title for c in view.columns}
    assert all(titles[f.name] == i18n.field_title(lang, f) != f.name for f in current.fields), titles


def test_the_survey_layer_table_gives_units_edges_and_bands_in_words(surveyed_twin: Path) -> None:
    """A survey's row read "121.29 | 31.19 | 121.31 | 31.2" for its edges (rounded to about a
    kilometre: a small flight's west and east edges read the same, 121.3 and 121.3), "0.3" for its
    ground sample distance and "3,642,814" for its size with no unit anywhere, and its bands in
    English on the Chinese page ("red, green, blue", "band 1"). The edges to 1e-6 degrees, each
    unit in its column's heading, the bands in the page's language."""
    import orjson

    from twin.surveys import survey_schema
    from web.check_views import check_view

    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as c:
        doc = _page(c, "/maps/layers/surveys", lang="zh")
        items = _items(c, "surveys")
    heads = doc.xpath("//section[@data-attr-table]//thead//th")
    fields = [th.get("data-field") for th in heads]
    head = {f: th.text_content().strip() for f, th in zip(fields, heads, strict=True)}
    assert head["resolution_m"].endswith("（m）") and head["west"].endswith("（°）"), head
    assert head["size_bytes"].endswith("（字节）") and head["width"].endswith("（像素）"), head
    by_id = {i["id"]: i["properties"] for i in items}
    for tr in doc.xpath("//section[@data-attr-table]//tbody/tr"):
        cells = {f: td.text_content().strip() for f, td in zip(fields, tr.xpath("./td"), strict=True)}
        props = by_id[tr.get("data-id")]
        for edge in ("west", "south", "east", "north"):
            assert cells[edge] == f"{props[edge]:.6f}", (edge, cells[edge], props[edge])
        assert cells["resolution_m"] == f"{props['resolution_m']:g}"
        words = {"orthophoto": "红, 绿, 蓝", "ndvi": "ndvi"}[props["kind"]]
        assert cells["band_descriptions"] == words, cells
    # a band the file left undescribed, a thermal flight's, in either language
    schema = survey_schema()
    with Twin.open(surveyed_twin) as twin:
        records = [orjson.loads(b) for b in twin.features("surveys").features]
    one = {**records[0], "properties": {**records[0]["properties"], "band_descriptions": ["band 1"], "unit": "°C"}}
    for lang, text in (("zh", "波段 1"), ("en", "band 1")):
        view = check_view(schema, [one], {}, lang)
        column = [c.name for c in view.columns].index("band_descriptions")
        assert view.rows[0].cells[column].text == text
    en = check_view(schema, [one], {}, "en")
    assert [c.unit for c in en.columns if c.name in ("west", "size_bytes", "unit")] == ["°", "bytes", None]


@pytest.mark.parametrize(("lang", "words"), [("en", {"Orthophoto", "NDVI"}), ("zh", {"正射影像", "NDVI"})])
def test_a_survey_is_named_by_kind_and_date_on_the_check_map_and_table(
    surveyed_twin: Path, lang: str, words: set[str]
) -> None:
    """The survey layer's check named each flight by its id (a hash) on its map and in its table's
    first column; it names it as the imagery's layer control does, its kind and flight date."""
    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as c:
        data = _json(c, "/maps/data/features/surveys", mode="check", lang=lang)
        doc = _page(c, "/maps/layers/surveys", lang=lang)
        items = {i["id"]: i["properties"] for i in _items(c, "surveys")}
    labels = {f["id"]: f["l"] for f in data["features"]}
    assert set(labels) == set(items) and len(labels) == 6
    for fid, label in labels.items():
        word, day = label.rsplit(" ", 1)
        assert word in words and day == items[fid]["date"], (fid, label)
    assert len({(lab, fid) for fid, lab in labels.items()}) == 6
    first = [tr.xpath("./td")[0].text_content().strip() for tr in doc.xpath("//section[@data-attr-table]//tbody/tr")]
    assert sorted(first) == sorted(labels.values()), first
