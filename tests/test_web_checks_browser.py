"""The layer-check and change pages in headless Chromium: the attribute table filters, sorts and
zooms to a feature; codes are written on the features; a click over stacked features lists them
all; the register's table page works without a map; the change map draws a deleted feature above
its replacement, lists each changed attribute once, and hides the register's changes on request.

Screenshots: map-layer-check.png, map-layer-check-register.png, map-changes.png in the artifacts
folder. The fixtures (a live server, Chromium, `visit`) are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import shapely
from api_server import LiveServer
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    POPUP_SHOWN,
    Visit,
    api,
    clean,
    server,
    store,
    visit,
)
from typer.testing import CliRunner
from web_support import INVALID_ID, MISSING_ID

TABLE = "section[data-attr-table]"
VISIBLE_ROWS = f"Array.from(document.querySelectorAll('{TABLE} tbody tr')).filter(r => !r.hidden)"
ROW_FOCUSED = """(() => { const e = document.activeElement, cs = getComputedStyle(e);
  return {tag: e.tagName, id: e.dataset.id || null,
          ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2}; })()"""
STACK_READY = "!!document.querySelector('.vt-stack .vt-stack-body:not(.vt-loading)')"
# A popup that grows pans the map to show itself (Leaflet's autoPan, an animation): a click while the
# map still slides can land beside the button it aimed at, so clicks in a popup wait for the map to stop.
MAP_STILL = "!(vt_engine.map._panAnim && vt_engine.map._panAnim._inProgress)"


def _visible_ids(v: Visit) -> list[str]:
    return v.page.evaluate(f"{VISIBLE_ROWS}.map(r => r.dataset.id)")  # type: ignore[no-any-return]


def _wait_rows(v: Visit, n: int) -> None:
    v.page.wait_for_function(f"{VISIBLE_ROWS}.length === {n}")


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", text))


def _click_map_at(v: Visit, lon: float, lat: float) -> None:
    """A real mouse click on the map where (lon, lat) is."""
    point = v.page.evaluate(
        f"(() => {{ const p = vt_engine.map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()"
    )
    box = v.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    v.page.mouse.click(box["x"] + point[0], box["y"] + point[1])


# ---------------------------------------------------------------------------- the attribute table
def test_attribute_table_filters_sorts_and_zooms(visit: Any, server: LiveServer) -> None:
    items = api(server, "/collections/landscaping/items", limit=1000)["features"]
    v = visit("/maps/layers/landscaping?lang=en")
    page = v.page
    assert sorted(_visible_ids(v)) == sorted(f["id"] for f in items)
    table_box, map_box = page.locator(TABLE).bounding_box(), page.locator(".leaflet-container").bounding_box()
    assert (
        table_box and map_box and table_box["y"] >= map_box["y"] + map_box["height"] - 1
    )  # under the map, not over it

    # filter: every word typed must be in the row
    page.fill(f"{TABLE} .vt-attr-filter", "flower")
    flowers = [f["id"] for f in items if "flower" in " ".join([f["id"], *map(str, f["properties"].values())]).lower()]
    _wait_rows(v, len(flowers))
    assert sorted(_visible_ids(v)) == sorted(flowers)
    assert page.locator(f"{TABLE} .vt-attr-count").inner_text() == f"{len(flowers)} of {len(items)} shown"
    page.check(f"{TABLE} .vt-attr-problems")  # and only the features with problems
    _wait_rows(v, 1)
    assert _visible_ids(v) == [MISSING_ID]
    page.fill(f"{TABLE} .vt-attr-filter", "")
    _wait_rows(v, 2)
    assert sorted(_visible_ids(v)) == sorted([INVALID_ID, MISSING_ID])
    page.uncheck(f"{TABLE} .vt-attr-problems")
    _wait_rows(v, len(items))

    # sort: a number column up, then down, empty cells last both ways
    area = f'{TABLE} thead th[data-field="area_m2"]'
    col = page.locator(area).get_attribute("data-col")
    values = f"{VISIBLE_ROWS}.map(r => r.cells[{col}].dataset.sort ?? null)"
    page.click(f"{area} button")
    page.wait_for_function(f"document.querySelector('{area}').getAttribute('aria-sort') === 'ascending'")
    up = page.evaluate(values)
    numbers = [float(x) for x in up if x is not None]
    assert numbers == sorted(numbers) and len(numbers) >= 5 and up[len(numbers) :] == [None] * (len(up) - len(numbers))
    page.click(f"{area} button")
    page.wait_for_function(f"document.querySelector('{area}').getAttribute('aria-sort') === 'descending'")
    down = page.evaluate(values)
    assert [float(x) for x in down if x is not None] == sorted(numbers, reverse=True) and down[-1] is None
    # and the code column, naturally (FB-2 before FB-10)
    page.click(f'{TABLE} thead th[data-field="code"] button')
    page.wait_for_function(
        f"document.querySelector('{TABLE} thead th[data-field=\"code\"]').getAttribute('aria-sort') === 'ascending'"
    )
    codes = page.evaluate(f"{VISIBLE_ROWS}.map(r => r.dataset.code)")
    assert codes == sorted(codes, key=_natural)

    # a row click zooms to its feature and outlines it
    hedge = next(f for f in items if f["id"] == INVALID_ID)
    before = page.evaluate("vt_engine.map.getZoom()")
    v.moved(lambda: page.click(f'{TABLE} tbody tr[data-id="{INVALID_ID}"] td:nth-child(2)'))
    assert page.evaluate("vt_engine.map.getZoom()") > before
    minx, miny, maxx, maxy = shapely.geometry.shape(hedge["geometry"]).bounds
    assert page.evaluate(f"vt_engine.map.getBounds().contains([[{miny}, {minx}], [{maxy}, {maxx}]])")
    assert page.evaluate("vt_engine.layers.landscaping._highlighted().map(it => it.f.id)") == [INVALID_ID]
    assert page.locator(f'{TABLE} tbody tr[data-id="{INVALID_ID}"]').get_attribute("class") == "vt-selected"

    # and from the keyboard: Tab reaches a row (a click was the only way), with a focus ring; Enter
    # shows it, as a late project's row on the completion map
    missing = next(f for f in items if f["id"] == MISSING_ID)
    page.fill(f"{TABLE} .vt-attr-filter", missing["properties"]["code"])  # the one row left to reach
    _wait_rows(v, 1)
    for _ in range(40):
        page.keyboard.press("Tab")
        at = page.evaluate(ROW_FOCUSED)
        if at["tag"] == "TR":
            break
    assert at == {"tag": "TR", "id": MISSING_ID, "ring": True}, at
    v.moved(lambda: page.keyboard.press("Enter"))
    assert page.evaluate("vt_engine.layers.landscaping._highlighted().map(it => it.f.id)") == [MISSING_ID]
    assert page.locator(f'{TABLE} tbody tr[data-id="{MISSING_ID}"]').get_attribute("class") == "vt-selected"
    minx, miny, maxx, maxy = shapely.geometry.shape(missing["geometry"]).bounds
    assert page.evaluate(f"vt_engine.map.getBounds().contains([[{miny}, {minx}], [{maxy}, {maxx}]])")
    v.shot("map-layer-check-row-by-keyboard")
    clean(v)


def test_values_show_their_names_and_the_filter_takes_name_or_code(visit: Any, server: LiveServer) -> None:
    """The Chinese layer check shows 草坪, not lawn; typing the name or the code finds the same
    rows; the cell keeps the code in its title, and the popup names the value as the table does."""
    items = api(server, "/collections/landscaping/items", limit=1000)["features"]
    lawns = sorted(f["id"] for f in items if f["properties"].get("kind") == "lawn")
    assert lawns
    v = visit("/maps/layers/landscaping?lang=zh")
    page = v.page
    kind = page.locator(f'{TABLE} thead th[data-field="kind"]').get_attribute("data-col")
    cells = page.evaluate(f"{VISIBLE_ROWS}.map(r => [r.cells[{kind}].textContent, r.cells[{kind}].title])")
    assert ["草坪", "lawn"] in cells and ["花坛", "flower_bed"] in cells and ["绿墙", "green_wall"] in cells
    assert not any(text in ("lawn", "flower_bed", "green_wall") for text, _ in cells)
    for typed in ("草坪", "lawn"):
        page.fill(f"{TABLE} .vt-attr-filter", typed)
        _wait_rows(v, len(lawns))
        assert sorted(_visible_ids(v)) == lawns, typed
    popup = page.evaluate(
        f"vt_engine.popupHtml({{id: '{lawns[0]}', p: {{code: 'x', kind: 'lawn'}}, c: 'ok'}}, vt_engine.layers.landscaping)"
    )
    assert 'title="lawn"' in popup and ">草坪</td>" in popup
    page.evaluate(f"document.querySelector('{TABLE}').scrollIntoView()")
    v.shot("map-layer-check-labels-zh")
    page.fill(f"{TABLE} .vt-attr-filter", "")
    clean(v)


def test_codes_are_written_on_the_features(visit: Any, server: LiveServer) -> None:
    items = api(server, "/collections/landscaping/items", limit=1000)["features"]
    codes = {f["properties"]["code"] for f in items}
    lonely = shapely.geometry.shape(next(f for f in items if f["id"] == MISSING_ID)["geometry"]).centroid
    v = visit("/maps/layers/landscaping?lang=en")
    labels = "Array.from(document.querySelectorAll('.vt-code-label')).map(t => t.textContent)"
    # zoomed out, only the features with problems carry their codes (a stray is found by its code)
    v.moved(lambda: v.page.evaluate("vt_engine.map.setZoom(13, {animate: false})"))
    problems = {f["properties"]["code"] for f in items if f["id"] in (INVALID_ID, MISSING_ID)}
    v.page.wait_for_function(f"document.querySelector('.leaflet-container').dataset.codeLabels == {len(problems)}")
    assert set(v.page.evaluate(labels)) == problems
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{lonely.y}, {lonely.x}], 17, {{animate: false}})"))
    v.page.wait_for_function("document.querySelector('.leaflet-container').dataset.codeLabels > 0")
    shown = v.page.evaluate(labels)
    assert "FB-LEGACY" in shown and set(shown) <= codes and len(shown) == len(set(shown))
    # the labels never cover one another
    boxes = v.page.evaluate(
        "Array.from(document.querySelectorAll('.vt-code-label')).map(t => { const r = t.getBoundingClientRect(); "
        "return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    clean(v)


def test_the_problems_list_picks_the_row(visit: Any) -> None:
    v = visit("/maps/layers/landscaping?lang=en")
    reasons = v.page.locator(".vt-problems details").evaluate_all("ds => ds.map(d => d.dataset.reason)")
    assert reasons == ["outside_venue", "value_not_allowed", "attribute_expected"]
    v.moved(lambda: v.page.click(f'details[data-reason="attribute_expected"] li[data-feature="{MISSING_ID}"]'))
    v.page.wait_for_function(
        f"document.querySelector('{TABLE} tr[data-id=\"{MISSING_ID}\"]').classList.contains('vt-selected')"
    )
    v.page.wait_for_function("document.querySelector('.leaflet-container').dataset.codeLabels > 0")
    v.page.wait_for_function(
        "Array.from(document.querySelectorAll('.vt-code-label')).some(t => t.textContent === 'FB-LEGACY')"
    )
    v.shot("map-layer-check")
    clean(v)


# ---------------------------------------------------------------------------- stacked features
def test_a_click_over_stacked_features_lists_them_all(visit: Any, server: LiveServer) -> None:
    halls = api(server, "/collections/halls/items", limit=1000)["features"]
    upper = shapely.geometry.shape(next(f for f in halls if f["id"] == "hall-2.2H")["geometry"])
    where = upper.representative_point()
    under = {f["id"] for f in halls if shapely.geometry.shape(f["geometry"]).covers(where)}
    assert under == {"hall-2.1H", "hall-2.2H"}
    v = visit("/maps/layers/halls?lang=en")
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{where.y}, {where.x}], 18, {{animate: false}})"))
    _click_map_at(v, where.x, where.y)
    v.page.wait_for_function(STACK_READY)
    stack = v.page.locator(".vt-stack")
    assert stack.get_attribute("data-count") == str(len(under))
    listed = stack.locator(".vt-stack-list li").evaluate_all("lis => lis.map(li => li.dataset.feature)")
    assert set(listed) == under and len(listed) == len(under)
    assert listed[0] == "hall-2.2H"  # the top-most first: the upper level is drawn over the ground level
    assert "2.2H" in stack.locator(".vt-stack-body .vt-popup-sub").inner_text()
    assert stack.locator(".vt-stack-pos").inner_text() == f"1 / {len(under)}"
    assert v.page.locator(f'{TABLE} tr[data-id="hall-2.2H"]').get_attribute("class") == "vt-selected"
    v.page.wait_for_function(MAP_STILL)
    stack.locator(".vt-stack-next").click()  # the next feature: its own popup, and its row
    v.page.wait_for_function(
        "document.querySelector('.vt-stack .vt-stack-body .vt-popup-sub').textContent.includes('2.1H')"
    )
    assert stack.locator(".vt-stack-pos").inner_text() == f"2 / {len(under)}"
    assert "Ground level (0 m)" in stack.locator(".vt-stack-body").inner_text()
    assert v.page.locator(f'{TABLE} tr[data-id="hall-2.1H"]').get_attribute("class") == "vt-selected"
    assert v.page.evaluate("vt_engine.layers.halls._highlighted().map(it => it.f.id)") == ["hall-2.1H"]
    v.page.wait_for_function(MAP_STILL)
    stack.locator(".vt-stack-list li").nth(0).click()  # or straight from the list
    v.page.wait_for_function(
        "document.querySelector('.vt-stack .vt-stack-body .vt-popup-sub').textContent.includes('2.2H')"
    )
    v.page.wait_for_function(POPUP_SHOWN)
    v.shot("map-layer-check-stacked")
    clean(v)


# ---------------------------------------------------------------------------- the register's table page
def test_register_table_page(visit: Any, server: LiveServer) -> None:
    projects = api(server, "/collections/projects/items", limit=1000)["features"]
    v = visit("/maps/layers/projects?lang=en", wait=False)
    v.page.wait_for_function(f"!!document.querySelector('{TABLE}')._vtTable")
    assert v.page.locator(".leaflet-container").count() == 0
    assert sorted(_visible_ids(v)) == sorted(f["id"] for f in projects)
    page = v.page
    page.fill(f"{TABLE} .vt-attr-filter", "RD-0")
    roads = [f["id"] for f in projects if "rd-0" in " ".join([f["id"], *map(str, f["properties"].values())]).lower()]
    assert roads
    _wait_rows(v, len(roads))
    page.fill(f"{TABLE} .vt-attr-filter", "")
    _wait_rows(v, len(projects))
    done = f'{TABLE} thead th[data-field="percent_complete"]'
    page.click(f"{done} button")
    page.click(f"{done} button")
    page.wait_for_function(f"document.querySelector('{done}').getAttribute('aria-sort') === 'descending'")
    col = page.locator(done).get_attribute("data-col")
    shown = page.evaluate(f"{VISIBLE_ROWS}.map(r => r.cells[{col}].dataset.sort ?? null)")
    numbers = [float(x) for x in shown if x is not None]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == max(f["properties"].get("percent_complete") or 0 for f in projects)
    assert page.locator(".vt-problems").get_attribute("data-problems") == "0"
    page.evaluate(
        f"document.querySelector('{TABLE} .vt-attr-scroll').scrollLeft = 0"
    )  # the first columns in the picture
    v.shot("map-layer-check-register")
    clean(v)


# ---------------------------------------------------------------------------- the change map
CHANGES = "/maps/changes?from=2026-09-01&to=HEAD&lang=en"


def test_deleted_feature_is_drawn_above_its_replacement(visit: Any, server: LiveServer) -> None:
    diff = {f["id"]: f for f in api(server, "/diff", **{"from": "2026-09-01", "to": "HEAD"})["features"]}
    walkway = shapely.geometry.shape(diff["sp-walkway-temp"]["geometry"])
    strip = shapely.geometry.shape(diff["sp-lighting-south"]["geometry"])
    assert diff["sp-walkway-temp"]["twin:change"] == "deleted" and walkway.intersects(strip)
    where = walkway.intersection(strip).representative_point()
    v = visit(CHANGES)
    order = v.page.evaluate("vt_engine.layers.changes._buckets.map(b => b[0])")
    assert order.index("deleted") > order.index("modified")  # painted later: above
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{where.y}, {where.x}], 18, {{animate: false}})"))
    hits = v.page.evaluate(
        f"vt_engine.hitsAt(L.latLng({where.y}, {where.x})).map(h => h.feature.id + ':' + h.feature.c)"
    )
    assert hits == ["sp-walkway-temp:deleted", "sp-lighting-south:modified"]
    _click_map_at(v, where.x, where.y)
    v.page.wait_for_function(STACK_READY)
    listed = v.page.locator(".vt-stack-list li").evaluate_all("lis => lis.map(li => li.dataset.feature)")
    assert listed == ["south_plaza/sp-walkway-temp", "south_plaza/sp-lighting-south"]
    assert "Deleted" in v.page.locator(".vt-stack-body").inner_text()
    v.page.wait_for_function(MAP_STILL)
    v.page.locator(".vt-stack-next").click()
    v.page.wait_for_function("document.querySelector('.vt-stack-body').textContent.includes('Shape or position')")
    clean(v)


def test_change_popup_lists_each_changed_attribute_once(visit: Any, server: LiveServer) -> None:
    diff = {f["id"]: f for f in api(server, "/diff", **{"from": "2026-09-01", "to": "HEAD"})["features"]}
    bed = diff["ls-flower-bed-north-gate"]
    where = shapely.geometry.shape(bed["geometry"]).representative_point()
    v = visit(CHANGES)
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{where.y}, {where.x}], 18, {{animate: false}})"))
    _click_map_at(v, where.x, where.y)
    v.page.wait_for_function("!!document.querySelector('.leaflet-popup-content table.vt-diff')")
    rows = v.page.locator(".leaflet-popup-content table.vt-diff tr[data-field]")
    fields = rows.evaluate_all("trs => trs.map(tr => tr.dataset.field)")
    assert fields == ["Flower pots"]
    assert re.sub(r"\s+", " ", rows.nth(0).inner_text()).strip() == "Flower pots 41,000 → 43,200"
    assert bed["twin:before"]["properties"]["pots"] == 41000 and bed["properties"]["pots"] == 43200
    clean(v)


def test_change_list_separates_geometry_and_hides_the_register(visit: Any, server: LiveServer) -> None:
    diff = api(server, "/diff", **{"from": "2026-09-01", "to": "HEAD"})["features"]
    register = sum(1 for f in diff if f["twin:layer"] == "projects")
    v = visit(CHANGES)
    page = v.page
    geometry = page.locator('[data-change-section="geometry"] li[data-feature]')
    attributes = page.locator('[data-change-section="attributes"] li[data-feature]')
    own = attributes.count() - register
    assert geometry.count() > 0 and own > 0 and register == 60
    assert page.locator('[data-change-section="attributes"] li[data-register]').count() == register
    count = page.locator('[data-change-section="attributes"] .vt-section-count')
    assert count.inner_text() == f"({own + register})"
    v.shot("map-changes-all")
    page.check("input[data-hide-register]")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-changes] [data-register]')).every(el => el.offsetParent === null)"
    )
    assert count.inner_text() == f"({own})"
    visible = attributes.evaluate_all("lis => lis.filter(li => li.offsetParent !== null).map(li => li.dataset.layer)")
    assert len(visible) == own and "projects" not in visible
    assert geometry.evaluate_all("lis => lis.every(li => li.offsetParent !== null)")
    assert not page.locator('tr[data-layer="projects"]').is_visible()
    # a geometry change in the list zooms to the feature and outlines it
    walkway = page.locator('[data-change-section="geometry"] li[data-feature="sp-walkway-temp"]')
    v.moved(lambda: walkway.click())
    assert page.evaluate("vt_engine.layers.changes._highlighted().map(it => it.f.k)") == ["south_plaza/sp-walkway-temp"]
    # where the walkway was, the light-show strip now stands: one click reaches both
    walkway_geometry = next(f for f in diff if f["id"] == "sp-walkway-temp")["geometry"]
    strip = next(f for f in diff if f["id"] == "sp-lighting-south")["geometry"]
    where = shapely.geometry.shape(walkway_geometry).intersection(shapely.geometry.shape(strip)).representative_point()
    _click_map_at(v, where.x, where.y)
    page.wait_for_function(STACK_READY)
    page.wait_for_function(POPUP_SHOWN)
    v.shot("map-changes")
    page.evaluate("vt_engine.map.closePopup()")
    page.uncheck("input[data-hide-register]")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-changes] li[data-register]')).every(el => el.offsetParent !== null)"
    )
    assert count.inner_text() == f"({own + register})"
    clean(v)


# ---------------------------------------------------------------------------- exported, offline
def test_exported_layer_check_works_offline(visit: Any, server: LiveServer, store: Path, tmp_path: Path) -> None:
    from cli.main import app

    out = tmp_path / "landscaping.html"
    args = ["map", "layer", "landscaping", "--lang", "en", "-o", str(out), "--store", str(store)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    v = visit(out.as_uri(), base="file://", offline=True)
    assert [u for u in v.requests if not u.startswith(("file://", "data:"))] == [] and v.console_errors == []
    items = api(server, "/collections/landscaping/items", limit=1000)["features"]
    assert sorted(_visible_ids(v)) == sorted(f["id"] for f in items)
    v.page.wait_for_function("document.querySelector('.leaflet-container').dataset.codeLabels >= 2")
    v.moved(lambda: v.page.click(f'{TABLE} tbody tr[data-id="{MISSING_ID}"] td:nth-child(3)'))
    assert v.page.evaluate("vt_engine.layers.landscaping._highlighted().map(it => it.f.id)") == [MISSING_ID]
    assert v.console_errors == []
