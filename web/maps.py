"""The interactive maps, built with folium: completion, timeline, changes and layer check.

Each builder returns a whole HTML page. With `MapContext(export=False)` (what the app serves)
the page links Leaflet and the map script from /static and its features load from
/maps/data/... for the part of the venue in view, as the view changes; with `export=True` (the
CLI's `venue-twin map ... -o file.html`) the assets are inlined and the data embedded, so the
one file opens offline on any machine.

Folium lays out the page (figure, map, tile layer, layer control); the venue layers are folium
`Layer`s whose script is the page engine's canvas layer (web/static/venue-map.js), so the
layer control lists them like any folium layer. Folium's default CDN links (Leaflet, jQuery,
Bootstrap, Font Awesome) are removed from every map: nothing here needs jQuery or Bootstrap.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

import folium
import orjson
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from markupsafe import Markup

from completion.landing import landing_date
from completion.snapshot import resolve_ref, today_local
from twin.core import SHANGHAI, Ref, TwinLike, no_data
from twin.errors import BadInput, NotFound
from twin.model import LayerSchema
from web import i18n
from web.assets import CHECK_TABLE_ASSETS, REGISTER_PAGE_ASSETS, assets_html, head_html, tile_decoder_html
from web.check_views import CheckView, changes_view, check_view
from web.checks import layer_check
from web.data import (
    LABELLED_LAYERS,
    ChangeItem,
    CompletionView,
    bounds_to_display,
    changed_layer_names,
    changes_between,
    changes_features,
    commit_choices,
    completion_classifier,
    completion_view,
    has_projects,
    landed_view,
    last_shown_changes,
    layer_features,
    plain_classifier,
    reference_names,
    season_checkpoints,
    spatial_layers,
    timeline_start,
    union_bounds,
    venue_bounds,
)
from web.imagery import imagery_config
from web.panels import completion_panel, project_rows
from web.settings import MapSettings, map_settings
from web.templating import macro, render, when_text

LABEL_MIN_ZOOM = 16
# Where labels would collide, the lower rank keeps its place (web/static/venue-map.js VT.LabelPlacer):
# 0 a highlighted feature; 1 the features of the late projects (LATE_FIRST: a completion map's
# `labelFirst`), a changed feature on the change map, and a layer check's problem codes; 1.5 the
# checked layer's other codes; then each layer's own: road names, then the rest.
LABEL_RANKS = {"roads": 2}
LABEL_RANK_OTHER = 3
LATE_FIRST = ["behind"]


@dataclass
class MapContext:
    twin: TwinLike
    lang: str = i18n.DEFAULT_LANG
    export: bool = False  # one self-contained file: assets inlined, data embedded
    base: str = ""  # the app's root path, when it is mounted under a prefix
    settings: MapSettings = field(default_factory=map_settings)

    @property
    def gcj02(self) -> bool:
        return self.settings.gcj02

    def url(self, path: str, **params: Any) -> str:
        q = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
        return f"{self.base}{path}" + (f"?{q}" if q else "")

    def layers(self, ref: Ref | None = None) -> list[LayerSchema]:
        """The spatial layers now, or as of `ref`: a page of an earlier date draws those of then."""
        return spatial_layers(self.twin, ref)


def js_json(obj: Any) -> Markup:
    """JSON safe to put inside a <script> element."""
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return Markup(
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028")
    )


# ---------------------------------------------------------------------------- folium elements
class Engine(MacroElement):
    """The page engine (VT.Engine) for a map; added to the map before any venue layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var vt_engine = new VT.Engine({{ this._parent.get_name() }}, {{ this.config }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self._name = "VenueEngine"
        self.config = js_json(config)


class VenueLayer(folium.map.Layer):
    """A venue layer drawn by the page engine's canvas layer; listed in folium's layer control."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = vt_engine.addLayer({{ this.spec }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any], name: str, *, show: bool = True, control: bool = True):
        # Leaflet's layer control writes a layer's name into the page as HTML: a title (any text an
        # admin wrote) goes in escaped, and is shown as written.
        super().__init__(name=escape(name), overlay=True, control=control, show=show)
        self._name = "VenueLayer"
        self.spec = js_json(spec)


class Script(MacroElement):
    """A bit of page script run after the layers are added."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this.code }}
        {% endmacro %}
        """
    )

    def __init__(self, code: str):
        super().__init__()
        self._name = "VenueScript"
        self.code = Markup(code)


class ImageryControl(MacroElement):
    """Lists the page's survey imagery (web/static/imagery.js) in folium's layer control."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            if (vt_engine.imagery) vt_engine.imagery.register({{ this.control.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, control: folium.LayerControl):
        super().__init__()
        self._name = "VenueImagery"
        self.control = control


# ---------------------------------------------------------------------------- styles
def _darker(hex_colour: str, factor: float = 0.7) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


CONTEXT_STYLE = {
    "fill": "#e5e7eb",
    "fillOpacity": 0.35,
    "color": "#9ca3af",
    "weight": 0.8,
    "lineColor": "#b6bcc6",
    "lineWeight": 2.5,
    "radius": 3,
}
# Drawn over whatever class colours a feature (status, change, check): greenery keeps a green
# outline so a lawn or the off-site clover green never reads as a hall.
_GREEN_CONTEXT = {"fill": "#bbf7d0", "fillOpacity": 0.7}  # greenery outside any project or change: light green
LAYER_STYLES: dict[str, dict[str, Any]] = {
    "landscaping": {"color": "#15803d", "weight": 2.5, "byClass": {"ctx": _GREEN_CONTEXT, "none": _GREEN_CONTEXT}}
}
BOUNDARY_STYLE = {"fill": "#fef2f2", "fillOpacity": 0.3, "color": "#991b1b", "weight": 2, "dash": [7, 5]}


# The patterns over a status's colour where its grey on a black-and-white printout is another
# status's: behind (red) and on track (green) print as done's (blue) grey, at risk (amber) as not
# started's (grey). Defined here once: the web maps draw them (venue-map.js hatchPattern / markLine:
# `kind` stripes, dots or cross over a polygon's fill, `line` a dashed stripe down a line's middle),
# the printed briefing its matplotlib form of each kind (web/brief.py STATUS_HATCHES), the legends'
# swatches theirs (venue-map.css .vt-swatch-<status>). Behind: white stripes; on track: white dots;
# at risk: a dark cross-hatch (white on amber would barely show in grey).
PATTERN_DARK = "#4a2c00"
STATUS_PATTERNS: dict[str, dict[str, Any]] = {
    "behind": {"kind": "stripes", "color": "#ffffff", "spacing": 7, "width": 2.2, "opacity": 0.9,
               "line": {"color": "#ffffff", "dash": [5, 4], "width": 1.6}},
    "on_track": {"kind": "dots", "color": "#ffffff", "spacing": 8, "width": 3, "opacity": 0.85,
                 "line": {"color": "#ffffff", "dash": [1.5, 5], "width": 2}},
    "at_risk": {"kind": "cross", "color": PATTERN_DARK, "spacing": 7, "width": 1.1, "opacity": 0.75,
                "line": {"color": PATTERN_DARK, "dash": [2.5, 2.5], "width": 1.4}},
}  # fmt: skip


def completion_styles() -> dict[str, dict[str, Any]]:
    styles: dict[str, dict[str, Any]] = {}
    for status, colour in i18n.STATUS_COLOURS.items():
        styles[status] = {
            "fill": colour,
            "fillOpacity": 0.9,  # nearly opaque: a 16 m hall over its 0 m hall shows one legend colour (the worse)
            "color": _darker(colour),
            "weight": 1.2,
            "lineColor": colour,
            "lineWeight": 5,
            "casing": "#ffffff",
            "radius": 5,
        }
    # a status of another's grey reads by its pattern on a black-and-white printout
    for status, pattern in STATUS_PATTERNS.items():
        styles[status]["hatch"] = {k: v for k, v in pattern.items() if k != "line"}
        styles[status]["lineMark"] = dict(pattern["line"])
    styles["none"] = {**CONTEXT_STYLE, "fill": i18n.NO_PROJECT_COLOUR}
    styles["ctx"] = dict(CONTEXT_STYLE)
    styles["boundary"] = {**BOUNDARY_STYLE, "interactive": False}
    return styles


COMPLETION_ORDER = ["boundary", "ctx", "none", "done", "not_started", "on_track", "at_risk", "behind"]

# Which features stand over which, one rule for the web maps and the printed briefing: a feature's
# `level` ranks it first, so an upper-level (16 m) hall, drawn inset within the hall below, shows its
# own status over that hall's whatever the two are; among features of one rank the style order
# (COMPLETION_ORDER: the worse status last) decides. venue-map.js reads it from the page's config
# (`drawLevels`), web/brief.py draws the halls rank by rank with draw_level.
DRAW_LEVELS: dict[str, Any] = {"field": "level", "ranks": {"16m": 1}}  # any other level, or none: 0


def draw_level(level: Any) -> int:
    """A feature's rank in DRAW_LEVELS from its `level` value: higher is drawn later, on top."""
    ranks: dict[str, int] = DRAW_LEVELS["ranks"]
    return ranks.get(level, 0) if isinstance(level, str) else 0


CHANGE_STYLES: dict[str, dict[str, Any]] = {
    "added": {"fill": "#16a34a", "fillOpacity": 0.6, "color": "#166534", "weight": 2, "lineColor": "#16a34a",
              "lineWeight": 5, "casing": "#ffffff", "radius": 6},
    "modified": {"fill": "#f59e0b", "fillOpacity": 0.55, "color": "#b45309", "weight": 2, "lineColor": "#f59e0b",
                 "lineWeight": 5, "casing": "#ffffff", "radius": 6},
    "modified_old": {"fill": "#ffffff", "fillOpacity": 0, "color": "#374151", "weight": 2, "dash": [6, 4],
                     "lineColor": "#374151", "lineWeight": 2, "radius": 6, "interactive": False},
    "deleted": {"fill": "#dc2626", "fillOpacity": 0.18, "color": "#dc2626", "weight": 2.5, "dash": [3, 3],
                "lineColor": "#dc2626", "lineWeight": 3, "radius": 6},
    "ctx": dict(CONTEXT_STYLE),
    "boundary": {**BOUNDARY_STYLE, "interactive": False},
}  # fmt: skip
# Deleted features and the old shapes of modified ones are drawn above the features that replaced
# them (outlines and a faint fill), so what went stays visible where something new now stands.
CHANGE_ORDER = ["boundary", "ctx", "modified", "added", "modified_old", "deleted"]

CHECK_STYLES: dict[str, dict[str, Any]] = {
    "ok": {"fill": "#60a5fa", "fillOpacity": 0.45, "color": "#1d4ed8", "weight": 1, "lineColor": "#3b82f6",
           "lineWeight": 3.5, "radius": 4},
    "missing": {"fill": "#f59e0b", "fillOpacity": 0.7, "color": "#b45309", "weight": 2.5, "lineColor": "#f59e0b",
                "lineWeight": 5, "casing": "#78350f", "radius": 6},
    "invalid": {"fill": "#dc2626", "fillOpacity": 0.75, "color": "#7f1d1d", "weight": 3, "lineColor": "#dc2626",
                "lineWeight": 6, "casing": "#450a0a", "radius": 7},
    "ctx": dict(CONTEXT_STYLE),
    "boundary": {**BOUNDARY_STYLE, "interactive": False},
}  # fmt: skip
CHECK_ORDER = ["boundary", "ctx", "ok", "missing", "invalid"]


# ---------------------------------------------------------------------------- page shell
PAGE_LABELS = (
    "loading", "load_failed", "too_many", "status_none", "unit", "progress", "percent_vs_planned", "forecast",
    "planned_finish", "not_forecast", "after_opening", "late_chance", "days_late", "behind_plan", "n_days", "changed_fields", "geometry_changed", "added", "modified",
    "deleted", "modified_old", "check_ok", "check_missing", "check_invalid", "play", "pause", "yes", "no",
    "status_done", "status_on_track", "status_at_risk", "status_behind", "status_not_started", "zoom_in", "zoom_out", "north", "layer_list", "map_keys",
    "stale", "stale_never", "imagery", "imagery_badge", "project_open",
    "level_0m", "level_16m", "print_imagery_left_out",
)  # fmt: skip


def _config(ctx: MapContext, kind: str, styles: dict[str, Any], order: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "lang": ctx.lang,
        "labels": i18n.labels(ctx.lang, PAGE_LABELS),
        "styles": styles,
        "styleOrder": order,
        "drawLevels": DRAW_LEVELS,
        **extra,
    }


def _nav(ctx: MapContext, here: str, params: dict[str, Any]) -> str:
    """The links under a page's title: home, the other maps, and the language switch."""
    if ctx.export:
        return ""
    other = "en" if ctx.lang == "zh" else "zh"
    switch = ctx.url(f"/maps/{here}" if here != "home" else "/maps", **{**params, "lang": other})
    # str, not Markup: callers still concatenating strings would otherwise have theirs escaped
    return str(nav_html(ctx.url, ctx.lang, here, switch))


def nav_links(url: Callable[..., str], lang: str, here: str, date: str | None = None) -> list[dict[str, str]]:
    """The pages' navigation: home and the maps, but the page itself; ``url(path, **params)`` makes
    a link (the app's root path, the page's language); ``date`` opens the completion map on it."""
    return [
        {"url": url(path, **({"date": date} if date and key == "completion" else {}), lang=lang),
         "text": i18n.label(lang, text), "key": key}
        for path, text, key in (
            ("/maps", "home", "home"),
            ("/maps/completion", "completion_map", "completion"),
            ("/maps/timeline", "open_timeline", "timeline"),
            ("/maps/changes", "open_changes", "changes"),
        )
        if key != here
    ]  # fmt: skip


def nav_html(url: Callable[..., str], lang: str, here: str, switch: str, date: str | None = None) -> Markup:
    """The navigation under a page's title (map_parts.html's nav): the links, and the language switch."""
    other = i18n.other_lang(lang)
    return macro("map_parts.html", "nav", lang=lang, links=nav_links(url, lang, here, date), switch=switch, other=other)


def _panel_html(head: str, body: str, foot: str) -> str:
    return str(macro("map_parts.html", "panel", head=Markup(head), body=Markup(body), foot=Markup(foot)))


def _made_at() -> str:
    """When an exported file is made, in Shanghai time as every time the pages show."""
    return datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _foot(ctx: MapContext, extra: str = "") -> str:
    return str(
        macro(
            "map_parts.html",
            "foot",
            lang=ctx.lang,
            approximate=any(s.positions_approximate for s in ctx.layers()),
            exported_at=_made_at() if ctx.export else None,
            extra=Markup(extra),
        )
    )


def _render(
    ctx: MapContext,
    title: str,
    panel: str,
    config: dict[str, Any],
    layers: Sequence[tuple[dict[str, Any], str, bool, bool]],
    after: str = "",
    bounds: Sequence[float] | None = None,
    *,
    version: Ref | None = None,
    imagery: dict[str, Any] | None = None,
) -> str:
    """Lay the page out with folium: the map, its venue layers, a layer control, and the panel.

    `version`: the twin version the page draws, named in the map's credit; `imagery`: the survey
    imagery under and over the layers (web/imagery.py)."""
    m = folium.Map(
        location=[31.191, 121.297],
        zoom_start=15,
        tiles=None,
        control_scale=False,  # the engine adds a metric scale and a zoom control in the page's language
        zoom_control=False,
        max_zoom=ctx.settings.basemap_max_zoom if ctx.settings.basemap_url else 20,
        zoom_snap=0.25,
    )
    # No CDN: drop folium's default links; Leaflet and the engine come from head_html below.
    m.default_js = []
    m.default_css = []
    fig = m.get_root()
    assert isinstance(fig, Figure)
    fig.title = escape(title)  # folium writes the title into its template unescaped
    fig.header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    fig.header.add_child(Element(head_html(inline=ctx.export, base=ctx.base)), name="venue_assets")
    if any(spec.get("tiles") for spec, *_ in layers):
        fig.header.add_child(Element(tile_decoder_html(ctx.base)), name="venue_tile_decoder")
    if ctx.settings.basemap_url:
        folium.TileLayer(
            tiles=ctx.settings.basemap_url,
            attr=ctx.settings.basemap_attribution or " ",
            name=i18n.label(ctx.lang, "basemap"),
            max_zoom=ctx.settings.basemap_max_zoom,
            subdomains=ctx.settings.basemap_subdomains,
            control=False,
        ).add_to(m)
    if bounds is not None:
        config = {**config, "bounds": list(bounds)}
    shown = version.commit.id[:8] if version is not None and version.commit is not None else "∅"
    config["attribution"] = i18n.label(
        ctx.lang, "map_attribution", product=i18n.label(ctx.lang, "product_short"), version=shown
    )
    if imagery:
        config["imagery"] = imagery
    m.add_child(Engine(config), name="vt_engine")
    for spec, name, show, control in layers:
        m.add_child(VenueLayer(spec, name, show=show, control=control))
    layer_control = folium.LayerControl(position="topright", collapsed=False)
    layer_control.add_to(m)
    if imagery:
        m.add_child(ImageryControl(layer_control), name="vt_imagery")
    if after:
        m.add_child(Script(after))
    fig.html.add_child(Element(panel), name="vt_panel")
    _number_elements(fig)
    html = fig.render()
    lang_tag = "en" if ctx.lang == "en" else "zh-CN"
    html = html.replace("<html>", f'<html lang="{lang_tag}">', 1).replace("<body>", '<body class="vt-page">', 1)
    # folium's viewport forbids zooming (maximum-scale=1, user-scalable=no): on a phone the panel's
    # text could not be enlarged with two fingers. The map's own pinch zoom is Leaflet's either way.
    return _VIEWPORT.sub('<meta name="viewport" content="width=device-width, initial-scale=1">', html, count=1)


_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')


def _number_elements(root: Element) -> None:
    """Give every element an id by its place in the tree instead of folium's random one, so the same
    map renders to the same bytes: its ETag then revalidates, and exported files compare equal."""
    todo = [root]
    n = 0
    while todo:
        el = todo.pop(0)
        n += 1
        el._id = f"{n:032x}"
        todo.extend(el._children.values())


def uses_tiles(ctx: MapContext, schema: LayerSchema, ref: Ref | None) -> bool:
    """Whether a page draws `schema` from the API's vector tiles: a served (not exported) map, on a
    WGS84 basemap (tiles cannot be shifted to GCJ-02), of a layer with more features than
    VENUE_TWIN_MAP_TILE_THRESHOLD, which would be too much to load as GeoJSON."""
    if ctx.export or ctx.gcj02 or not schema.spatial or ref is None or ref.commit is None:
        return False
    return ctx.twin.count(schema.name, ref) > ctx.settings.map_tile_threshold


def _layer_spec(
    ctx: MapContext,
    schema: LayerSchema,
    *,
    ref: Ref | None,
    popup: str,
    params: dict[str, Any],
    data: dict[str, Any] | None,
    url: str | None,
    context: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    embedded = extra.pop("embedded", None)
    embedded_key = extra.pop("embeddedKey", None)
    spec: dict[str, Any] = {
        "id": schema.name,
        "title": i18n.layer_title(ctx.lang, schema),
        "popup": popup,
        "params": params,
        "labels": schema.name in LABELLED_LAYERS,
        "labelMinZoom": LABEL_MIN_ZOOM,
        "labelRank": LABEL_RANKS.get(schema.name, LABEL_RANK_OTHER),
        "simplify": True,
        **extra,
    }
    if schema.name in LAYER_STYLES and "style" not in spec:
        spec["style"] = LAYER_STYLES[schema.name]
    if context:
        spec["interactive"] = False
    if not ctx.export:
        spec["itemUrl"] = ctx.url(f"/collections/{schema.name}/items/")
    if ctx.export:
        spec["data"] = data
        if embedded:
            spec["embedded"] = embedded
            spec["embeddedKey"] = embedded_key
    elif uses_tiles(ctx, schema, ref):
        # the page draws the layer's tiles at the version the classes answer names, coloured by them
        spec["tiles"] = ctx.url(f"/collections/{schema.name}/tiles/WebMercatorQuad/") + "{z}/{y}/{x}"
        spec["classesUrl"] = ctx.url(f"/maps/data/classes/{schema.name}")
    else:
        spec["url"] = url
    return spec


def _boundary_classifier(fid: str, feature: dict[str, Any] | None) -> dict[str, Any]:
    return {"c": "boundary"}


_boundary_classifier.needs_feature = False  # type: ignore[attr-defined]


def _role_classifier(ctx: MapContext, schema: LayerSchema, view: CompletionView | None) -> Any:
    if schema.name == "venue_boundary":
        return _boundary_classifier
    return completion_classifier(schema.name, view)


def _imagery(
    ctx: MapContext, on: date | None, survey: str | None = None, every_date: bool = False
) -> dict[str, Any] | None:
    """The survey imagery a map draws; none on a GCJ-02 basemap, which shifts the venue layers off
    the surveys' true positions."""
    if ctx.gcj02:
        return None
    return imagery_config(
        ctx.twin, lang=ctx.lang, on=on, base=ctx.base, export=ctx.export, survey=survey, every_date=every_date
    )


def _ref_day(ref: Ref) -> date | None:
    from twin.core import SHANGHAI

    return ref.commit.time.astimezone(SHANGHAI).date() if ref.commit is not None else None


# ---------------------------------------------------------------------------- completion map
def _completion_date(ctx: MapContext, on: str | None) -> tuple[CompletionView | None, date, Ref]:
    from completion.register import LAYER as PROJECTS

    readable = any(s.name == PROJECTS for s in ctx.twin.layers())  # the twin (view) may hide the register
    view = (completion_view(ctx.twin, on) if on else landed_view(ctx.twin)) if readable else None
    if view is not None:
        return view, view.on, view.snapshot.ref
    from completion.settings import CompletionSettings
    from completion.snapshot import parse_day

    day = parse_day(on, CompletionSettings(), twin=ctx.twin) or today_local()
    return None, day, ctx.twin.resolve(asof=day.isoformat())


def _date_form(ctx: MapContext, path: str, day: date) -> str:
    if ctx.export:
        return ""  # the date is in the subtitle
    # the picker's range: the twin's first day (the season's first checkpoint, if later) to today
    start = ctx.twin.first_commit()
    firsts = [start.time.astimezone(SHANGHAI).date()] if start else []
    firsts += [cp.on for cp in season_checkpoints(ctx.twin)[:1]]
    first = min(max(firsts), day) if firsts else None
    last = max(today_local(), day)
    return str(
        macro(
            "map_parts.html",
            "date_form",
            lang=ctx.lang,
            action=ctx.url(path),
            day=day.isoformat(),
            first=first.isoformat() if first else None,
            last=last.isoformat(),
        )
    )


def completion_bounds(ctx: MapContext, view: CompletionView | None, ref: Ref) -> list[float]:
    """Where the completion map opens: the venue and the features of every late and at-risk
    project near it (LS-08's clover green, just east of the boundary, was out of the first view),
    up to NEAR_VENUE of the venue's size beyond each side. Not every project's, nor a late road's
    whole length: the roads run kilometres beyond the venue, and fitting them zoomed the map out
    past the zoom its labels start at (LABEL_MIN_ZOOM), so a leader saw shapes with no names; the
    late list zooms to those."""
    box = venue_bounds(ctx.twin, ref)
    if view is None:
        return box
    codes = [s.project.code for s in view.snapshot.statuses if s.status in ATTENTION and s.project.features]
    found = [(b[0], b[1], b[2], b[3]) for b in view.project_bounds(ctx.twin, codes).values() if b]
    fitted = union_bounds([(box[0], box[1], box[2], box[3]), *found]) or box
    dx, dy = (box[2] - box[0]) * NEAR_VENUE, (box[3] - box[1]) * NEAR_VENUE
    return [
        max(fitted[0], box[0] - dx),
        max(fitted[1], box[1] - dy),
        min(fitted[2], box[2] + dx),
        min(fitted[3], box[3] + dy),
    ]


NEAR_VENUE = 0.3  # how far beyond the venue's box (a share of its width and height) the first view reaches


ATTENTION = ("behind", "at_risk")  # the statuses whose projects the completion map opens on


def completion_map(ctx: MapContext, on: str | None = None, survey: str | None = None) -> str:
    """Every project's features coloured by status on a date, with the panel of figures, over the
    latest orthophoto flown by then (`survey`: another orthophoto's id, or "none")."""
    twin, lang = ctx.twin, ctx.lang
    view, day, ref = _completion_date(ctx, on)
    imagery = _imagery(ctx, day, survey)
    styles = completion_styles()
    specs = []
    for schema in ctx.layers(ref):
        is_boundary = schema.name == "venue_boundary"
        classify = _role_classifier(ctx, schema, view)
        data = (
            layer_features(twin, schema.name, ref, gcj02=ctx.gcj02, lang=lang, classify=classify)
            if ctx.export
            else None
        )
        spec = _layer_spec(
            ctx,
            schema,
            ref=ref,
            popup="completion",
            params={"mode": "completion", "date": day.isoformat(), "lang": lang},
            data=data,
            url=ctx.url(f"/maps/data/features/{schema.name}"),
            context=is_boundary,
        )
        specs.append((spec, spec["title"], True, not is_boundary))
    head = macro(
        "map_parts.html",
        "completion_head",
        lang=lang,
        day=day.isoformat(),
        nav=Markup(_nav(ctx, "completion", {"date": day.isoformat()})),
        form=Markup(_date_form(ctx, "/maps/completion", day)),
        # the printed briefing of the same date (an exported file, offline, has no server to ask)
        brief=None if ctx.export else ctx.url("/brief", date=day.isoformat(), lang=lang),
    )
    body = completion_panel(twin, view, lang, ctx.gcj02, page_url=None if ctx.export else ctx.url)
    if not any(ref.commit is not None and twin.count(s.name, ref) for s in ctx.layers(ref)):
        # an empty grey map says why (venue-map.js shows the panel's section over it too)
        body += render("panel_no_features.html", lang=lang, day=day.isoformat())
    config = _config(
        ctx,
        "completion",
        styles,
        COMPLETION_ORDER,
        projects=project_rows(twin, view, lang),
        date=day.isoformat(),
        labelFirst=LATE_FIRST,
        # a popup's project links to its page of the map's date (an exported file has no server)
        projectUrl=None if ctx.export else ctx.url("/projects/"),
    )
    title = f"{i18n.label(lang, 'completion_title')} · {day.isoformat()}"
    return _render(
        ctx,
        title,
        _panel_html(head, body, _foot(ctx)),
        config,
        specs,
        bounds=bounds_to_display(completion_bounds(ctx, view, ref), ctx.gcj02),
        version=ref,
        imagery=imagery,
    )


# ---------------------------------------------------------------------------- timeline
def timeline_steps(twin: TwinLike) -> list[tuple[date, str]]:
    """The 10-day checkpoints of the register's expo, oldest first, as (date, label)."""
    cps = season_checkpoints(twin)
    if not cps:
        return [(today_local(), today_local().isoformat())]
    return [(cp.on, f"{cp.label} · {cp.on.isoformat()}") for cp in cps]


def panel_data(
    twin: TwinLike, on: str | date, lang: str, gcj02: bool = False, page_url: Callable[..., str] | None = None
) -> dict[str, Any]:
    """The completion panel and the project table for one date (the timeline's step); ``page_url``
    (MapContext.url) links the lists' codes to their project pages (None: an exported file)."""
    view = completion_view(twin, on.isoformat() if isinstance(on, date) else on)
    return {
        "html": completion_panel(twin, view, lang, gcj02, page_url=page_url),
        "projects": project_rows(twin, view, lang),
    }


def _no_data_panel(ctx: MapContext, day: date) -> str | None:
    """The panel of a timeline step before the twin's history (a season imported mid-way, or one
    recorded today without its original dates), saying when the history starts (twin.core.no_data's
    date; the panel route answers 404 there), in the page's language: its data draws nothing and
    its figures would count a season that was not there. None when the step has data."""
    why = no_data(ctx.twin, ctx.twin.resolve(asof=day.isoformat()).seq, day.isoformat())
    if why is None:
        return None
    return str(macro("map_parts.html", "no_data", lang=ctx.lang, day=day.isoformat(), since=why.values["since"]))


def timeline_opening(twin: TwinLike, lang: str, today: date | None = None) -> tuple[list[tuple[date, str]], int]:
    """The timeline's steps and the one it opens on: the checkpoints (timeline_steps) from the one
    timeline_start picks; where that step comes before the twin's history and the date the maps open
    on (completion.landing: today then) has data, a step of that date, in date order, opened on. A
    season recorded today without its original dates has every checkpoint before its history: the
    timeline opened on T-0 saying it had no data, its reports all on today's step it lacked."""
    steps = timeline_steps(twin)
    days = [d for d, _ in steps]
    start = timeline_start(twin, days, today)

    def has_data(day: date) -> bool:
        return no_data(twin, twin.resolve(asof=day.isoformat()).seq, day.isoformat()) is None

    if not steps or has_data(days[start]):
        return steps, start
    on = landing_date(twin, today).on
    if on in days or not has_data(on):
        return steps, start
    at = bisect.bisect(days, on)
    label = (
        i18n.label(lang, "timeline_today", date=on.isoformat()) if on == (today or today_local()) else on.isoformat()
    )
    return [*steps[:at], (on, label), *steps[at:]], at


def timeline_map(ctx: MapContext) -> str:
    """The completion map stepping through the checkpoints with a slider."""
    twin, lang = ctx.twin, ctx.lang
    steps, start = timeline_opening(twin, lang)
    first = steps[start][0]
    styles = completion_styles()
    specs = []
    no_data = {d.isoformat(): _no_data_panel(ctx, d) for d, _ in steps}
    embedded_panels: dict[str, Any] = {}
    if ctx.export:
        for d, _ in steps:
            if no_data[d.isoformat()] is None:
                embedded_panels[d.isoformat()] = panel_data(twin, d, lang, ctx.gcj02)
    # The layers of the earliest step: every step can draw them (a layer added later has no data then).
    earliest = completion_view(twin, steps[0][0].isoformat())
    for schema in ctx.layers(earliest.snapshot.ref if earliest else twin.resolve(asof=steps[0][0].isoformat())):
        is_boundary = schema.name == "venue_boundary"
        embedded: dict[str, Any] = {}
        if ctx.export:
            for d, _ in steps:
                view = completion_view(twin, d.isoformat())
                ref = view.snapshot.ref if view else twin.resolve(asof=d.isoformat())
                embedded[d.isoformat()] = layer_features(
                    twin, schema.name, ref, gcj02=ctx.gcj02, lang=lang, classify=_role_classifier(ctx, schema, view)
                )
        spec = _layer_spec(
            ctx,
            schema,
            ref=twin.resolve(),
            popup="completion",
            params={"mode": "completion", "date": first.isoformat(), "lang": lang},
            data=embedded.get(first.isoformat()),
            url=ctx.url(f"/maps/data/features/{schema.name}"),
            context=is_boundary,
            stepParam=True,
            embeddedKey="date",
            embedded=embedded,
        )
        specs.append((spec, spec["title"], True, not is_boundary))
    n = len(steps)
    head = macro(
        "map_parts.html",
        "timeline_head",
        lang=lang,
        nav=Markup(_nav(ctx, "timeline", {})),
        step_label=steps[start][1],
        steps=n,
        start=start,
    )
    body = no_data[first.isoformat()]
    if body is None:
        shown = embedded_panels[first.isoformat()] if ctx.export else panel_data(twin, first, lang, ctx.gcj02, ctx.url)
        body = shown["html"]
    cfg = {
        # a step before the twin's history carries its panel saying so (the panel route answers 404 there)
        "steps": [{"date": d.isoformat(), "label": label, "noData": no_data[d.isoformat()]} for d, label in steps],
        "index": start,
        "panelUrl": None if ctx.export else ctx.url("/maps/data/panel"),
        "embedded": embedded_panels if ctx.export else None,
        "intervalMs": 1500,
    }
    view0 = completion_view(twin, first.isoformat())
    config = _config(
        ctx,
        "completion",
        styles,
        COMPLETION_ORDER,
        projects=project_rows(twin, view0, lang),
        date=first.isoformat(),
        labelFirst=LATE_FIRST,
        projectUrl=None if ctx.export else ctx.url("/projects/"),
    )
    ref_last = twin.resolve()
    return _render(
        ctx,
        i18n.label(lang, "timeline_title"),
        _panel_html(head, body, _foot(ctx)),
        config,
        specs,
        after=f"var vt_timeline = new VT.Timeline(vt_engine, {js_json(cfg)});",
        bounds=bounds_to_display(venue_bounds(twin, ref_last), ctx.gcj02),
        version=ref_last,
        imagery=_imagery(ctx, first, every_date=True),
    )


# ---------------------------------------------------------------------------- change map
def default_versions(twin: TwinLike, to: str | None = None) -> tuple[str, str | None, int]:
    """What a change map compares when no "from" is asked for: the last two commits (at or before
    `to`, the head when none is asked for) that changed a layer it shows, as "from" and, when no
    "to" was asked for and survey imports came after, "to" (else `to` as asked); and how many
    commits after the later one changed no layer it shows (survey imports: a new flight is not a
    change to the venue, web.data.changed_layer_names). After a survey import, HEAD~1..HEAD
    compared nothing. Without two such commits: HEAD~1 (HEAD with one commit), as before."""
    found, after = last_shown_changes(twin, _to_ref(twin, to))
    if len(found) < 2:
        head = twin.head()
        return ("HEAD~1" if head is not None and head.seq > 1 else "HEAD"), to, 0
    latest, before = found
    return before.id[:12], to or (latest.id[:12] if after else None), after


def _version_label(ref: Ref, lang: str) -> str:
    """A version as a map's heading names it: its id and when, in Shanghai time saying so."""
    if ref.commit is None:
        return "∅"
    return f"{ref.commit.id[:12]} ({when_text(ref.commit.time, lang)})"


def checkpoint_options(twin: TwinLike) -> list[tuple[str, str]]:
    """(date, label) of the register's checkpoints, newest first, for version pickers."""
    return [(cp.on.isoformat(), f"{cp.label} · {cp.on.isoformat()}") for cp in reversed(season_checkpoints(twin))]


def _as_day(twin: TwinLike, raw: str | None) -> str | None:
    """The date a picker value names (a date or a checkpoint label), as YYYY-MM-DD, else None."""
    if not raw:
        return None
    from completion.settings import CompletionSettings
    from completion.snapshot import parse_day

    try:
        day = parse_day(raw, CompletionSettings(), twin=twin)
    except BadInput:
        return None
    return day.isoformat() if day else None


def _version_select(ctx: MapContext, name: str, raw: str | None, current: Ref) -> str:
    """A picker of checkpoints and commits, with the current choice selected."""
    twin, lang = ctx.twin, ctx.lang
    cur = current.commit.id[:12] if current.commit else ""
    wanted = _as_day(twin, raw)
    checkpoints = checkpoint_options(twin)
    by_checkpoint = wanted is not None and any(v == wanted for v, _ in checkpoints)
    cps = [{"value": v, "label": lab, "selected": by_checkpoint and v == wanted} for v, lab in checkpoints]
    commits = [
        {"value": v, "label": lab, "selected": not by_checkpoint and v == cur} for v, lab in commit_choices(twin, lang)
    ]
    seen = any(o["selected"] for o in cps + commits)
    extra = None if seen or not cur else {"value": cur, "label": _version_label(current, lang)}
    return str(
        macro("map_parts.html", "version_select", lang=lang, name=name, checkpoints=cps, commits=commits, extra=extra)
    )


def _context_spec(ctx: MapContext, schema: LayerSchema, ref: Ref) -> dict[str, Any]:
    """A layer drawn faintly as it stood at `ref`, for orientation under a map's own layer."""
    classify = _boundary_classifier if schema.name == "venue_boundary" else plain_classifier("ctx")
    data = (
        layer_features(ctx.twin, schema.name, ref, gcj02=ctx.gcj02, lang=ctx.lang, classify=classify)
        if ctx.export
        else None
    )
    return _layer_spec(
        ctx,
        schema,
        ref=ref,
        popup="plain",
        params={"mode": "plain", "version": ref.commit.id if ref.commit else None, "lang": ctx.lang},
        data=data,
        url=ctx.url(f"/maps/data/features/{schema.name}"),
        context=True,
    )


def _to_ref(twin: TwinLike, to: str | None) -> Ref:
    """A change map's `to`: a time before the twin's history is NotFound (404) saying when it starts,
    as the API's /diff answers, not every feature "deleted". (`from` before the history is the empty
    twin on purpose: the whole twin as added.)"""
    if to is None or to.strip().upper().startswith("HEAD"):
        return resolve_ref(twin, to)
    return _version_ref(twin, to, "to")


def changes_map(ctx: MapContext, from_: str | None = None, to: str | None = None) -> str:
    """What changed between two versions or dates: added, modified (old shape dashed), deleted."""
    twin, lang = ctx.twin, ctx.lang
    asked = {"from": from_, "to": to}  # the language switch keeps what was asked (the default stays the default)
    surveys_after = 0
    if not from_:
        from_, to, surveys_after = default_versions(twin, to)
    to = to or "HEAD"
    a, b = resolve_ref(twin, from_), _to_ref(twin, to)
    layers = ctx.layers(b)
    items = changes_between(twin, a, b, changed_layer_names(twin, b))
    specs = []
    version_b = b.commit.id if b.commit else None
    for schema in layers:
        spec = _context_spec(ctx, schema, b)
        specs.append((spec, spec["title"], True, False))
    change_spec: dict[str, Any] = {
        "id": "changes",
        "title": i18n.label(lang, "changes_title"),
        "popup": "changes",
        "params": {"from": a.commit.id if a.commit else from_, "to": version_b or to, "lang": lang},
        "labels": True,  # a deleted feature is in no context layer; a changed one's label goes first
        "labelMinZoom": LABEL_MIN_ZOOM,
        "labelRank": 1,
    }
    if ctx.export:
        change_spec["data"] = changes_features(twin, items, gcj02=ctx.gcj02, lang=lang, before=a, after=b)
    else:
        change_spec["url"] = ctx.url("/maps/data/changes")
    specs.append((change_spec, change_spec["title"], True, True))
    layer_titles = {s.name: i18n.layer_title(lang, s) for s in [*twin.layers(a), *twin.layers(b)]}
    config = _config(
        ctx, "changes", CHANGE_STYLES, CHANGE_ORDER, layerTitles=layer_titles, fields={}, **{"from": from_, "to": to}
    )
    head = macro(
        "map_parts.html",
        "changes_head",
        lang=lang,
        from_label=_version_label(a, lang),
        to_label=_version_label(b, lang),
        nav=Markup(_nav(ctx, "changes", asked)),
        surveys_after=surveys_after,
        action=None if ctx.export else ctx.url("/maps/changes"),  # an exported file has nothing to pick from
        select_from=None if ctx.export else Markup(_version_select(ctx, "from", from_, a)),
        select_to=None if ctx.export else Markup(_version_select(ctx, "to", to, b)),
    )
    side = changes_view(twin, items, lang, a, b, ctx.gcj02)
    body = render(
        "changes_side.html", lang=lang, view=side, styles=CHANGE_STYLES, context_colour=i18n.NO_PROJECT_COLOUR
    )
    panel = _panel_html(head, body, _foot(ctx)) + assets_html(CHECK_TABLE_ASSETS, inline=ctx.export, base=ctx.base)
    return _render(
        ctx,
        f"{i18n.label(lang, 'changes_title')} · {_version_label(a, lang)} → {_version_label(b, lang)}",
        panel,
        config,
        specs,
        after=f"VT.changeMap.attach(vt_engine, {js_json({'labels': _stack_labels(lang)})});",
        bounds=bounds_to_display(venue_bounds(twin, b), ctx.gcj02),
        version=b,
        imagery=_imagery(ctx, _ref_day(b)),
    )


# ---------------------------------------------------------------------------- layer check
def _version_ref(twin: TwinLike, text: str | None, parameter: str) -> Ref:
    """The version a page names; one before the twin's first commit is NotFound (404) saying when
    the history starts (twin.core.no_data_reason), not a check of an empty layer that reads as
    "every feature passes"."""
    ref = resolve_ref(twin, text)
    why = no_data(twin, ref.seq, text or "HEAD")
    if why is not None:
        raise NotFound(f"{parameter}: {why.text}", code="no_data_then", values=why.values)
    return ref


def _fields(lang: str, schema: LayerSchema) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "title": i18n.field_title(lang, f),
            "unit": i18n.unit_label(lang, f.unit),
            "labels": i18n.field_value_labels(lang, f),
        }
        for f in schema.fields
    ]


CODE_LABEL_MIN_ZOOM = 15  # from this zoom the checked layer's codes are written on its features


def _stack_labels(lang: str) -> dict[str, str]:
    """The labels of the stacked-features popup (web/static/check-table.js)."""
    return i18n.labels(lang, ("stack_n", "stack_prev", "stack_next"))


def _downloads(ctx: MapContext, layer: str, ref: Ref) -> list[tuple[str, str]]:
    """(label, url) of the layer's downloads at the version shown; none in an exported file."""
    if ctx.export:
        return []
    version = ref.commit.id if ref.commit else None
    return [
        (fmt, ctx.url(f"/collections/{layer}/download", f=fmt.lower(), version=version)) for fmt in ("CSV", "GeoJSON")
    ]


def _layer_links(ctx: MapContext, layer: str) -> list[tuple[str, str, str]]:
    """(url, title, name) of the other layers' check pages."""
    return [
        (ctx.url("/maps/layers/" + s.name, lang=ctx.lang), i18n.layer_title(ctx.lang, s), s.name)
        for s in ctx.twin.layers()
        if s.name != layer
    ]


def layer_map(ctx: MapContext, layer: str, version: str | None = None) -> str:
    """One layer with its attributes: the features that fail validation or miss attributes marked,
    each feature's code written on it, the problems by reason beside the map and the attribute table
    under it. A layer of records without geometry (the project register) gets a table page instead."""
    twin, lang = ctx.twin, ctx.lang
    ref = _version_ref(twin, version, "version")
    schema = twin.layer(layer, ref)  # its fields as they were then (a field renamed since included)
    findings = layer_check(twin, layer, ref)
    page = twin.features(layer, ref)
    records = [orjson.loads(b) for b in page.features]
    # the features a register's records name, by name, read through the page's view (its rule)
    view = check_view(
        schema, records, findings, lang, ctx.gcj02, names=lambda keys: reference_names(twin, keys, ref, lang)
    )
    title = i18n.label(lang, "layer_check_title", layer=i18n.layer_title(lang, schema))
    if not schema.spatial:
        return _register_page(ctx, schema, ref, version, view, title)
    specs = []
    for other in ctx.layers(ref):  # the other layers, faint, to find one's way
        if other.name == layer:
            continue
        spec = _context_spec(ctx, other, ref)
        specs.append((spec, spec["title"], True, other.name != "venue_boundary"))
    data = None
    if ctx.export:
        from web.data import check_classifier

        data = layer_features(
            twin, layer, ref, gcj02=ctx.gcj02, lang=lang, classify=check_classifier(twin, layer, ref, lang),
            properties="full",
        )  # fmt: skip
    spec = _layer_spec(
        ctx,
        schema,
        ref=ref,
        popup="check",
        params={"mode": "check", "version": ref.commit.id if ref.commit else None, "lang": lang},
        data=data,
        url=ctx.url(f"/maps/data/features/{layer}"),
        labels=False,  # the page script writes every feature's code instead (check-table.js)
    )
    specs.append((spec, spec["title"], True, True))
    head = macro(
        "map_parts.html",
        "layer_head",
        lang=lang,
        title=title,
        version_label=_version_label(ref, lang),
        nav=Markup(_nav(ctx, f"layers/{layer}", {"version": version})),
        # the version is in the subtitle; an exported file has nothing to pick from
        action=None if ctx.export else ctx.url("/maps/layers/" + layer),
        select=None if ctx.export else Markup(_version_select(ctx, "version", version, ref)),
        layer_links=[]
        if ctx.export
        else [{"url": url, "text": text, "name": name} for url, text, name in _layer_links(ctx, layer)],
    )
    body = render("check_side.html", lang=lang, view=view, styles=CHECK_STYLES)
    table = render("check_table.html", lang=lang, view=view, styles=CHECK_STYLES, downloads=_downloads(ctx, layer, ref))
    panel = (
        _panel_html(head, body, _foot(ctx)) + table + assets_html(CHECK_TABLE_ASSETS, inline=ctx.export, base=ctx.base)
    )
    config = _config(ctx, "check", CHECK_STYLES, CHECK_ORDER, fields={layer: _fields(lang, schema)}, showEmpty=True)
    attach = {"layer": layer, "labelMinZoom": CODE_LABEL_MIN_ZOOM, "labels": _stack_labels(lang)}
    # open on the venue and every feature of the layer, strays (the likeliest problems) included
    bounds = venue_bounds(twin, ref)
    extent = twin.extent(layer, ref)
    if extent is not None:
        bounds = [
            min(bounds[0], extent[0]),
            min(bounds[1], extent[1]),
            max(bounds[2], extent[2]),
            max(bounds[3], extent[3]),
        ]
    return _render(
        ctx,
        title,
        panel,
        config,
        specs,
        after=f"VT.checkMap.attach(vt_engine, {js_json(attach)});",
        bounds=bounds_to_display(bounds, ctx.gcj02),
        version=ref,
        imagery=_imagery(ctx, _ref_day(ref)),
    )


def _register_page(
    ctx: MapContext, schema: LayerSchema, ref: Ref, version: str | None, view: CheckView, title: str
) -> str:
    """The check of a layer of records (no geometry): its problems and its attribute table, no map."""
    lang = ctx.lang
    note = ""
    if ctx.export:
        note = i18n.label(lang, "exported", time=_made_at())
    return render(
        "check_register.html",
        lang=lang,
        title=title,
        assets=Markup(assets_html(REGISTER_PAGE_ASSETS, inline=ctx.export, base=ctx.base)),
        # the maps' shared navigation and version picker (escaped where they are built)
        nav=Markup(_nav(ctx, f"layers/{schema.name}", {"version": version})),
        picker=Markup(_version_select(ctx, "version", version, ref)) if not ctx.export else "",
        action=ctx.url("/maps/layers/" + schema.name),
        layer_links=[] if ctx.export else _layer_links(ctx, schema.name),
        version_label=_version_label(ref, lang),
        view=view,
        styles=CHECK_STYLES,
        downloads=_downloads(ctx, schema.name, ref),
        note=note,
    )


# ---------------------------------------------------------------------------- the data endpoints' bodies
# A version before the twin's history is NotFound (404) saying when it starts, in the layer check's
# and change map's words (`_version_ref`), not an empty layer that reads as "nothing there". A
# completion date is not: the timeline steps through checkpoints before a twin's history (a season
# imported mid-way) and draws nothing there, its panel and a notice over the map saying why
# (`_no_data_panel`).
def features_doc(
    ctx: MapContext,
    layer: str,
    *,
    mode: str,
    date_: str | None,
    version: str | None,
    bbox: tuple[float, float, float, float] | None,
    zoom: float | None,
) -> dict[str, Any]:
    """What /maps/data/features/{layer} answers: the layer's features in a bbox, classified for a map."""
    twin = ctx.twin
    schema = twin.layer(layer)
    props: Any = "none"  # the page fetches a clicked feature's attributes from the API
    if mode == "completion":
        view, _, ref = _completion_date(ctx, date_)
        classify = _role_classifier(ctx, schema, view)
    elif mode == "check":
        from web.data import check_classifier

        ref = _version_ref(twin, version, "version")
        classify = check_classifier(twin, layer, ref, ctx.lang)
        props = "full"
    elif mode == "plain":
        ref = _version_ref(twin, version, "version")
        classify = _boundary_classifier if layer == "venue_boundary" else plain_classifier("ctx")
    else:
        raise BadInput.not_one_of("mode ", mode, ("completion", "check", "plain"))
    return layer_features(
        twin, layer, ref, bbox=bbox, zoom=zoom, gcj02=ctx.gcj02, lang=ctx.lang, classify=classify, properties=props
    )


def classes_doc(ctx: MapContext, layer: str, *, mode: str, date_: str | None, version: str | None) -> dict[str, Any]:
    """What /maps/data/classes/{layer} answers: the version a tiled layer is drawn at and each
    feature's style class (and popup members), joined in the page on the tiles' `id` property.

    Only features off the `default` class are listed, so a layer costs bytes per classified
    feature, never per geometry.
    """
    twin = ctx.twin
    schema = twin.layer(layer)
    if not schema.spatial:
        raise BadInput(f"layer {layer} holds records without geometry; it has no map features")
    doc: dict[str, Any] = {"layer": layer, "c": {}}
    if mode == "completion":
        view, _, ref = _completion_date(ctx, date_)
        doc["default"] = "boundary" if layer == "venue_boundary" else "none"
        if view is not None and layer != "venue_boundary":
            prefix = layer + "/"
            cut = len(prefix)
            doc["c"] = {k[cut:]: st for k, st in view.worst.items() if k.startswith(prefix)}
            doc["j"] = {k[cut:]: view.membership.get(k, []) for k in view.worst if k.startswith(prefix)}
    elif mode == "check":
        ref = _version_ref(twin, version, "version")
        schema = twin.layer(layer, ref)  # the reasons as that version's schema gives them
        doc["default"] = "ok"
        found = layer_check(twin, layer, ref)
        doc["c"] = {fid: c.status for fid, c in found.items()}
        doc["r"] = {fid: c.reasons_in(ctx.lang, schema) for fid, c in found.items()}
        doc["m"] = {fid: list(c.missing) for fid, c in found.items()}
    elif mode == "plain":
        ref = _version_ref(twin, version, "version")
        doc["default"] = "boundary" if layer == "venue_boundary" else "ctx"
    else:
        raise BadInput.not_one_of("mode ", mode, ("completion", "check", "plain"))
    doc["version"] = ref.commit.id if ref.commit else None
    return doc


def changes_doc(
    ctx: MapContext, from_: str, to: str | None, bbox: tuple[float, float, float, float] | None, zoom: float | None
) -> dict[str, Any]:
    twin = ctx.twin
    a, b = resolve_ref(twin, from_), _to_ref(twin, to)
    items: list[ChangeItem] = changes_between(twin, a, b, changed_layer_names(twin, b))
    return changes_features(twin, items, bbox=bbox, zoom=zoom, gcj02=ctx.gcj02, lang=ctx.lang, before=a, after=b)


__all__ = [
    "MapContext",
    "changes_doc",
    "changes_map",
    "classes_doc",
    "completion_map",
    "features_doc",
    "has_projects",
    "layer_map",
    "panel_data",
    "timeline_map",
    "timeline_opening",
    "timeline_steps",
]
