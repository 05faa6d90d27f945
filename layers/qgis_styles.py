"""How the venue layers look in QGIS, described once (see twin.qgis for the QML/SLD it becomes).

The same look as the web maps (web/maps.py): halls by level (the 16 m halls dashed, drawn over
the ground ones), greenery green, roads by class, the site and the clover building outlined in
dark red; labels in Chinese over English. Project features are coloured by completion status on
top of this (completion.qgis); these are the rules for every feature no project covers.
"""

from __future__ import annotations

from twin.qgis import LayerStyle, Rule, Symbol

CONTEXT = Symbol(stroke="#9ca3af", width_mm=0.26, fill="#e5e7eb", fill_opacity=0.6)
GREEN_OUTLINE = "#15803d"
BILINGUAL = ("name_zh", "name_en")

# Bottom first, as the completion map stacks them (web.data.LAYER_ORDER).
STACK = ("venue_boundary", "halls", "south_plaza", "landscaping", "roads")

BASE_STYLES: dict[str, LayerStyle] = {
    "venue_boundary": LayerStyle(
        layer="venue_boundary",
        title="场馆红线 Venue boundary",
        kind="polygon",
        base=(
            Rule("主体建筑 Building", Symbol("#7f1d1d", 0.6, "#fef2f2", 0.4), "boundary_type", ("building",)),
            Rule("用地红线 Site", Symbol("#991b1b", 0.5, dashed=True), "boundary_type", ("site",)),
            Rule("核心区 Core area", Symbol("#6b7280", 0.4, dashed=True), "boundary_type", ("core_area",)),
        ),
        description="Site, clover building outline and 2018 core area; positions approximate.",
    ),
    "halls": LayerStyle(
        layer="halls",
        title="展馆 Halls",
        kind="polygon",
        base=(
            Rule("0米层 Ground level (0 m)", Symbol("#6b7280", 0.3, "#e5e7eb", 0.9), "level", ("0m",)),
            Rule("16米层 Upper level (16 m)", Symbol("#374151", 0.4, "#d1d5db", 0.9, dashed=True), "level", ("16m",)),
        ),
        label_fields=BILINGUAL,
        order_by="level",  # "0m" before "16m": the upper halls draw over the ground ones
        description="Halls by level; upper-level halls drawn inset within the hall below.",
    ),
    "south_plaza": LayerStyle(
        layer="south_plaza",
        title="南广场 South plaza",
        kind="polygon",
        base=(Rule("南广场分区 Plaza zone", CONTEXT),),
        label_fields=BILINGUAL,
    ),
    "landscaping": LayerStyle(
        layer="landscaping",
        title="绿化景观 Landscaping",
        kind="polygon",
        base=(
            Rule("草坪 Lawn", Symbol(GREEN_OUTLINE, 0.5, "#86efac", 0.8), "kind", ("lawn",)),
            Rule("行道树 Street trees", Symbol(GREEN_OUTLINE, 0.4, "#4ade80", 0.8), "kind", ("trees",)),
            Rule("立体绿墙 Green wall", Symbol(GREEN_OUTLINE, 0.6, "#16a34a", 1.0), "kind", ("green_wall",)),
            Rule("花坛 Flower bed", Symbol(GREEN_OUTLINE, 0.5, "#f9a8d4", 0.9), "kind", ("flower_bed",)),
        ),
        label_fields=BILINGUAL,
        label_max_scale=15_000,
    ),
    "roads": LayerStyle(
        layer="roads",
        title="道路 Roads",
        kind="line",
        base=(
            Rule("主干路 Arterial", Symbol("#9ca3af", 1.6), "road_class", ("arterial",)),
            Rule("次干路 Secondary", Symbol("#9ca3af", 1.2), "road_class", ("secondary",)),
            Rule("支路 Branch", Symbol("#a8b0bc", 0.8), "road_class", ("branch",)),
            Rule("内部道路 Internal", Symbol("#b6bcc6", 0.5), "road_class", ("internal",)),
            Rule("人行 Pedestrian", Symbol("#6b7280", 0.4, dashed=True), "road_class", ("pedestrian",)),
        ),
        label_fields=BILINGUAL,
    ),
}


def highlight_symbol(layer: str, colour: str) -> Symbol:
    """A project feature in its status colour; greenery keeps its green outline (as on the web map)."""
    style = BASE_STYLES[layer]
    if style.kind == "line":
        return Symbol(colour, 1.4)
    outline = GREEN_OUTLINE if layer == "landscaping" else "#374151"
    return Symbol(outline, 0.5 if layer == "landscaping" else 0.3, colour, 0.9)
