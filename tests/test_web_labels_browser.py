"""Map labels in headless Chromium: however close the features, no label covers another, none lies
under the map's controls or past its edge, no layer's drawing covers one, and the late projects'
labels are the last to give way; a zoom or a pan places them again.

On the completion map in both languages (at the view it opens on, zoomed in on the south plaza, and
panned), and on the layer checks of the halls and the roads, where the checked layer's codes are
written among the other layers' names (the 1.1H and 8.1H codes lay over "South entrance square",
IN-04 over "South-west lawn"). Screenshots: map-labels-*.png in the artifacts folder. The fixtures
(a live server, Chromium, `visit`) are tests/test_web_browser.py's.
"""

# ruff: noqa: F811 - the fixtures imported from test_web_browser are named again as test parameters
from __future__ import annotations

from typing import Any

import pytest
from api_server import LiveServer
from test_web_browser import (  # noqa: F401 - the fixtures are used by name
    Visit,
    api,
    clean,
    server,
    store,
    visit,
)
from web_support import KNOWN_DATE

# Every label shown on the map, with its box in the map's pixels, and the map's controls.
LABELS = """(() => {
  const map = vt_engine.map, box = map.getContainer().getBoundingClientRect();
  const rel = r => [r.left - box.left, r.top - box.top, r.right - box.left, r.bottom - box.top];
  const shown = el => {
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && +s.opacity > 0 && r.width > 0 && r.height > 0;
  };
  const overlays = +getComputedStyle(map.getPane('overlayPane')).zIndex;
  return {
    size: [box.width, box.height],
    labels: Array.from(map.getContainer().querySelectorAll('.vt-label')).filter(shown).map(el => ({
      text: el.textContent, layer: el.dataset.layer, feature: el.dataset.feature,
      code: el.classList.contains('vt-code-label'), box: rel(el.getBoundingClientRect()),
      // in a pane over the one the layers' canvases are drawn in
      over_layers: !el.closest('.leaflet-overlay-pane') && +getComputedStyle(el.closest('.leaflet-pane')).zIndex > overlays,
    })),
    controls: Array.from(map.getContainer().querySelectorAll('.leaflet-control')).filter(shown)
      .map(el => rel(el.getBoundingClientRect())),
  };
})()"""

# The late features ("layer/id") whose box lies wholly in the map's view.
WHOLLY_IN_VIEW = """keys => keys.filter(key => {
  const cut = key.indexOf('/'), layer = vt_engine.layers[key.slice(0, cut)];
  const it = layer && (layer.keyIndex()[key.slice(cut + 1)] || [])[0];
  if (!it) return false;
  const m = vt_engine.map, a = m.unproject([it.box[0], it.box[1]], 0), b = m.unproject([it.box[2], it.box[3]], 0);
  return m.getBounds().contains(L.latLngBounds(a, b));
})"""


def _meet(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _labels_read(v: Visit, where: str) -> list[dict[str, Any]]:
    """The labels shown, after checking that each can be read: wholly inside the map, over the
    layers' drawing, under no control, and clear of every other label."""
    got = v.page.evaluate(LABELS)
    labels: list[dict[str, Any]] = got["labels"]
    width, height = got["size"]
    assert len(labels) >= 10, (where, labels)
    clashes = [
        (a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1 :] if _meet(a["box"], b["box"])
    ]
    assert clashes == [], (where, clashes)
    cut = [
        la["text"]
        for la in labels
        if la["box"][0] < 0 or la["box"][1] < 0 or la["box"][2] > width or la["box"][3] > height
    ]
    assert cut == [], (where, "past the map's edge", cut)
    under = [la["text"] for la in labels if any(_meet(la["box"], c) for c in got["controls"])]
    assert under == [], (where, "under a control", under)
    covered = [la["text"] for la in labels if not la["over_layers"]]
    assert covered == [], (where, "under the layers' drawing", covered)
    return labels


def _late_features(server: LiveServer) -> list[str]:
    late = api(server, "/completion", date=KNOWN_DATE)["late"]
    assert late
    return [key for p in late for key in api(server, f"/projects/{p['code']}", date=KNOWN_DATE)["project"]["features"]]


def _missing(labels: list[dict[str, Any]], keys: list[str]) -> list[str]:
    shown = {f"{la['layer']}/{la['feature']}" for la in labels}
    return [k for k in keys if k not in shown]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_completion_map_labels_keep_clear_and_the_late_ones_stay(visit: Any, server: LiveServer, lang: str) -> None:
    """Roads, halls, squares and greenery close together: every label reads, and every late
    project's feature keeps its label (Zhuguang Road, behind, lost its name to "Internal ring road,
    west"; 6.2H to 6.1H), then road names before the rest."""
    late = _late_features(server)
    v = visit(f"/maps/completion?date={KNOWN_DATE}&lang={lang}")
    labels = _labels_read(v, "the opening view")
    assert _missing(labels, late) == []  # all of them are in the opening view
    assert {la["layer"] for la in labels} >= {"halls", "south_plaza", "roads", "landscaping"}
    v.shot(f"map-labels-completion-{lang}")

    # zoomed in where lawns, internal roads, the light-show strip and the flower display are close
    v.moved(lambda: v.page.evaluate("vt_engine.map.setView([31.1878, 121.2968], 17.5, {animate: false})"))
    labels = _labels_read(v, "the south plaza at zoom 17.5")
    in_view = v.page.evaluate(WHOLLY_IN_VIEW, late)
    assert "south_plaza/sp-flower-display" in in_view
    assert _missing(labels, in_view) == []
    v.shot(f"map-labels-completion-south-plaza-{lang}")

    # panned (animated): placed again for the new view
    v.moved(lambda: v.page.evaluate("vt_engine.map.panBy([-260, 140])"))
    labels = _labels_read(v, "panned")
    assert _missing(labels, v.page.evaluate(WHOLLY_IN_VIEW, late)) == []
    clean(v)


def _placed(v: Visit) -> dict[str, list[float]]:
    """Each label shown, as its "layer/feature" -> the centre of its box, in the map's pixels."""
    return {
        f"{la['layer']}/{la['feature']}": [(la["box"][0] + la["box"][2]) / 2, (la["box"][1] + la["box"][3]) / 2]
        for la in v.page.evaluate(LABELS)["labels"]
    }


# Offer one more label, of a layer's rank, at a point in the map's pixels, and place them all again.
OFFER = """([layer, text, x, y]) => {
  vt_engine.labelPlacer.addSource({candidates: () => [{
    text: text, kind: 'plain', layer: 'offered', id: text, spots: [[x, y, 'c']],
    rank: vt_engine.layers[layer].spec.labelRank, severity: 99, size: 1e12}]});
  vt_engine.placeLabels();
}"""


def test_late_labels_outrank_road_names_which_outrank_the_rest(visit: Any, server: LiveServer) -> None:
    """Where two labels want one place, a late project's feature keeps it from a road name, and a
    road name from any other layer's name, whatever their order, class or size."""
    v = visit(f"/maps/completion?date={KNOWN_DATE}&lang=en")
    before = _placed(v)
    assert "halls/hall-6.1H" in before and "roads/road-internal-north" in before, sorted(before)
    x, y = before["halls/hall-6.1H"]  # behind (HL-07)
    v.page.evaluate(OFFER, ["roads", "A road name", x, y])
    x, y = before["roads/road-internal-north"]  # on track
    v.page.evaluate(OFFER, ["landscaping", "A lawn name", x, y])
    after = _placed(v)
    assert "offered/A road name" not in after and "offered/A lawn name" not in after, sorted(after)
    assert after["halls/hall-6.1H"] == before["halls/hall-6.1H"]
    assert after["roads/road-internal-north"] == before["roads/road-internal-north"]
    # and what is offered where there is room is placed
    v.page.evaluate(OFFER, ["landscaping", "Room to spare", 70, 600])  # west of the venue, south of the walkway
    assert "offered/Room to spare" in _placed(v)
    clean(v)


@pytest.mark.parametrize(("layer", "lang"), [("halls", "en"), ("roads", "zh")])
def test_layer_check_codes_keep_clear_of_the_other_layers_names(
    visit: Any, server: LiveServer, layer: str, lang: str
) -> None:
    """The checked layer's codes and the other layers' names are placed together: none covers another."""
    v = visit(f"/maps/layers/{layer}?lang={lang}")
    v.moved(lambda: v.page.evaluate("vt_engine.map.setView([31.191, 121.297], 16, {animate: false})"))
    labels = _labels_read(v, f"the {layer} check at zoom 16")
    codes = [la for la in labels if la["code"]]
    names = [la for la in labels if not la["code"]]
    assert len(codes) >= 8 and all(la["layer"] == layer for la in codes), codes
    assert len(names) >= 5 and all(la["layer"] != layer for la in names), names
    shown = v.page.evaluate("document.querySelector('.leaflet-container').dataset.codeLabels")
    assert shown == str(len(codes))
    v.shot(f"map-labels-check-{layer}-{lang}")
    clean(v)


def test_change_map_names_each_feature_once(visit: Any, server: LiveServer) -> None:
    """A changed feature is drawn twice on the change map (as the change, and in its layer under it;
    a modified one's old shape a third time, dashed): it is named once, by the change."""
    v = visit("/maps/changes?from=2026-09-01&to=HEAD&lang=en")
    where = v.page.evaluate(
        "(() => { const b = vt_engine.layers.changes.boundsOf(['south_plaza/sp-lighting-south']); "
        "const c = vt_engine.map.unproject([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], 0); return [c.lat, c.lng]; })()"
    )
    v.moved(lambda: v.page.evaluate(f"vt_engine.map.setView([{where[0]}, {where[1]}], 18, {{animate: false}})"))
    labels = _labels_read(v, "the light-show strip on the change map")
    keys = v.page.evaluate("Array.from(document.querySelectorAll('.vt-label')).map(el => el.dataset.key)")
    assert len(keys) == len(set(keys)), sorted(keys)
    strip = [la for la in labels if la["text"] == "South plaza light-show strip"]
    assert len(strip) == 1 and strip[0]["layer"] == "changes", strip
    v.shot("map-labels-changes")
    clean(v)
