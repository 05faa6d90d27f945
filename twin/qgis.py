"""Styles and a project QGIS reads from a GeoPackage: QML and SLD per layer, a .qgz project.

QGIS takes a layer's default style from the GeoPackage's `layer_styles` table (QML, with SLD
beside it for other clients) and lists the projects in its `qgis_projects` table (the zipped
.qgs). No maintained library writes QML or QGIS projects (QGIS's own Python API needs QGIS
installed), so both are generated here with the standard library's xml.etree from a small style
description per layer: a few rules, each a filter on one field and a symbol.

Pure functions of the description: no store, no web code. The GeoPackage store writes the tables
(`GeoPackageStore.write_presentation`); whoever describes the styles registers a presenter with
`twin.core.register_presenter`, which the Twin calls after commits.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["polygon", "line", "point"]
QGIS_VERSION = "3.22.16-Białowieża"  # the QGIS the files are written for (Debian's)
_GEOMETRY_CODE = {"point": "0", "line": "1", "polygon": "2"}
_LAYER_GEOMETRY = {"point": "Point", "line": "Line", "polygon": "Polygon"}


@dataclass(frozen=True)
class Symbol:
    """How a rule draws: a fill (polygons) and a stroke; colours as #rrggbb, widths in mm."""

    stroke: str
    width_mm: float = 0.3
    fill: str | None = None
    fill_opacity: float = 1.0
    dashed: bool = False


@dataclass(frozen=True)
class Rule:
    """Features whose `field` is one of `values` (None: every feature the rules before it left)."""

    label: str
    symbol: Symbol
    field: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerStyle:
    """A layer's style: `highlights` first (e.g. project features by completion status, matched
    by feature id), then `base` rules for every feature no highlight took."""

    layer: str
    title: str
    kind: Kind
    base: tuple[Rule, ...]
    highlights: tuple[Rule, ...] = ()
    label_fields: tuple[str, ...] = ()  # joined by line breaks, e.g. ("name_zh", "name_en")
    label_max_scale: int = 25_000  # labels show from this scale denominator inwards
    order_by: str | None = None  # draw order, e.g. "level" so upper halls draw over ground ones
    description: str = ""

    def fields(self) -> set[str]:
        """Every field the style reads."""
        out = {r.field for r in (*self.highlights, *self.base) if r.field} | set(self.label_fields)
        return out | ({self.order_by} if self.order_by else set())

    def with_fields_renamed(self, renamed: Mapping[str, str]) -> LayerStyle:
        """The style reading each field renamed ({old name: new name}) by its new name."""
        if not renamed:
            return self

        def rule(r: Rule) -> Rule:
            return replace(r, field=renamed.get(r.field, r.field)) if r.field else r

        return replace(
            self,
            base=tuple(map(rule, self.base)),
            highlights=tuple(map(rule, self.highlights)),
            label_fields=tuple(renamed.get(f, f) for f in self.label_fields),
            order_by=renamed.get(self.order_by, self.order_by) if self.order_by else None,
        )


@dataclass(frozen=True)
class Presentation:
    """What the twin file shows in QGIS: one default style per layer and one project."""

    styles: tuple[LayerStyle, ...]
    project_name: str
    project_title: str
    extent: tuple[float, float, float, float]  # lon/lat, the view the project opens on
    layer_order: tuple[str, ...] = ()  # top first, as in QGIS's layer panel
    owner: str = "venue-twin"
    extra: dict[str, str] = field(default_factory=dict)
    # The commit it was made at, written into the project's properties as `head`. Not part of what
    # it shows: a presentation that differs from the last one written only here is not written
    # again (`shows_same`), so a report that moves no project to another status costs no rewrite.
    made_at: str = ""

    def shows_same(self, other: Presentation | None) -> bool:
        return other is not None and replace(self, made_at="") == replace(other, made_at="")


# ---------------------------------------------------------------------------- expressions
def _quote_value(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _expression(rule: Rule) -> str:
    assert rule.field is not None
    name = '"' + rule.field.replace('"', '""') + '"'
    if len(rule.values) == 1:
        return f"{name} = {_quote_value(rule.values[0])}"
    return f"{name} IN ({', '.join(_quote_value(v) for v in rule.values)})"


def label_expression(fields: Sequence[str]) -> str:
    parts = [f"coalesce(\"{f}\", '')" for f in fields]
    return " || '\\n' || ".join(parts) if parts else "''"


def _rgba(hex_colour: str, opacity: float = 1.0) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * opacity)}"


# ---------------------------------------------------------------------------- QML
def _options(parent: ET.Element, values: dict[str, str]) -> None:
    box = ET.SubElement(parent, "Option", type="Map")
    for k, v in values.items():
        ET.SubElement(box, "Option", name=k, type="QString", value=v)


def _symbol_element(name: str, kind: Kind, s: Symbol) -> ET.Element:
    sym = ET.Element(
        "symbol",
        name=name,
        type={"polygon": "fill", "line": "line", "point": "marker"}[kind],
        alpha="1",
        clip_to_extent="1",
        force_rhr="0",
    )
    style = "dash" if s.dashed else "solid"
    if kind == "polygon":
        layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
        _options(
            layer,
            {
                "color": _rgba(s.fill, s.fill_opacity) if s.fill else "0,0,0,0",
                "style": "solid" if s.fill else "no",
                "outline_color": _rgba(s.stroke),
                "outline_style": style,
                "outline_width": f"{s.width_mm:g}",
                "outline_width_unit": "MM",
                "joinstyle": "round",
            },
        )
    elif kind == "line":
        layer = ET.SubElement(sym, "layer", {"class": "SimpleLine", "enabled": "1", "locked": "0", "pass": "0"})
        _options(
            layer,
            {
                "line_color": _rgba(s.stroke),
                "line_style": style,
                "line_width": f"{s.width_mm:g}",
                "line_width_unit": "MM",
                "capstyle": "round",
                "joinstyle": "round",
            },
        )
    else:
        layer = ET.SubElement(sym, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
        _options(
            layer,
            {
                "color": _rgba(s.fill or s.stroke, s.fill_opacity),
                "outline_color": _rgba(s.stroke),
                "size": f"{max(s.width_mm * 6, 2):g}",
                "size_unit": "MM",
                "name": "circle",
            },
        )
    return sym


def renderer_element(style: LayerStyle) -> ET.Element:
    """QGIS's rule-based renderer (<renderer-v2 type="RuleRenderer">) for the style."""
    r = ET.Element(
        "renderer-v2",
        type="RuleRenderer",
        symbollevels="0",
        forceraster="0",
        enableorderby="1" if style.order_by else "0",
        referencescale="-1",
    )
    rules = ET.SubElement(r, "rules", key=_key(style.layer, "root"))
    symbols = ET.Element("symbols")
    n = 0

    def add(parent: ET.Element, rule: Rule, key: str) -> None:
        nonlocal n
        attrs = {"key": _key(style.layer, key), "label": rule.label, "symbol": str(n)}
        attrs["filter"] = _expression(rule) if rule.field else "ELSE"
        ET.SubElement(parent, "rule", attrs)
        symbols.append(_symbol_element(str(n), style.kind, rule.symbol))
        n += 1

    for i, rule in enumerate(style.highlights):
        add(rules, rule, f"h{i}")
    if style.highlights:
        rest = ET.SubElement(rules, "rule", key=_key(style.layer, "else"), filter="ELSE", label="—")
    else:
        rest = rules
    for i, rule in enumerate(style.base):
        add(rest, rule, f"b{i}")
    r.append(symbols)
    if style.order_by:
        order = ET.SubElement(r, "orderby")
        clause = ET.SubElement(order, "orderByClause", asc="1", nullsFirst="0")
        clause.text = f'"{style.order_by}"'
    return r


def labeling_element(style: LayerStyle) -> ET.Element | None:
    if not style.label_fields:
        return None
    lab = ET.Element("labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    text = ET.SubElement(
        settings,
        "text-style",
        fieldName=label_expression(style.label_fields),
        isExpression="1",
        fontFamily="Noto Sans CJK SC",
        fontSize="8",
        fontSizeUnit="Point",
        fontWeight="63",
        textColor="31,41,55,255",
        textOpacity="1",
        multilineHeight="1",
        allowHtml="0",
    )
    ET.SubElement(
        text, "text-buffer", bufferDraw="1", bufferSize="0.8", bufferSizeUnits="MM", bufferColor="255,255,255,230"
    )
    ET.SubElement(settings, "text-format", multilineAlign="3", wrapChar="", autoWrapLength="0")
    ET.SubElement(
        settings,
        "placement",
        placement="2" if style.kind == "line" else "1",  # parallel along lines, over the centroid of areas
        centroidInside="1",
        overrunDistance="0",
    )
    ET.SubElement(
        settings,
        "rendering",
        scaleVisibility="1",
        scaleMin="0",
        scaleMax=str(style.label_max_scale),
        obstacle="1",
        labelPerPart="0",
    )
    return lab


def _key(layer: str, part: str) -> str:
    """Rule keys QGIS wants unique and stable: derived from the layer and the rule's place."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"venue-twin:{layer}:{part}")) + "}"


def style_qml(style: LayerStyle) -> str:
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology|Labeling|Rendering")
    root.append(renderer_element(style))
    lab = labeling_element(style)
    if lab is not None:
        root.append(lab)
    ET.SubElement(root, "layerGeometryType").text = _GEOMETRY_CODE[style.kind]
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


# ---------------------------------------------------------------------------- SLD (1.1, as QGIS writes it)
SLD = "http://www.opengis.net/sld"
SE = "http://www.opengis.net/se"
OGC = "http://www.opengis.net/ogc"
ET.register_namespace("sld", SLD)  # prefixes as QGIS writes them, so the document reads familiar
ET.register_namespace("se", SE)
ET.register_namespace("ogc", OGC)


def _se(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, f"{{{SE}}}{tag}", attrs)
    if text is not None:
        e.text = text
    return e


def _ogc(parent: ET.Element, tag: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{OGC}}}{tag}")


def _equals_any(parent: ET.Element, field_name: str, values: Sequence[str]) -> None:
    target = _ogc(parent, "Or") if len(values) > 1 else parent
    for v in values:
        eq = _ogc(target, "PropertyIsEqualTo")
        _ogc(eq, "PropertyName").text = field_name
        _ogc(eq, "Literal").text = v


def _sld_symbolizer(rule_el: ET.Element, kind: Kind, s: Symbol) -> None:
    def stroke(parent: ET.Element) -> None:
        st = _se(parent, "Stroke")
        _se(st, "SvgParameter", s.stroke, name="stroke")
        _se(st, "SvgParameter", f"{s.width_mm * 3.78:.1f}", name="stroke-width")  # mm → px at 96 dpi
        if s.dashed:
            _se(st, "SvgParameter", "7 5", name="stroke-dasharray")

    if kind == "polygon":
        sym = _se(rule_el, "PolygonSymbolizer")
        if s.fill:
            fill = _se(sym, "Fill")
            _se(fill, "SvgParameter", s.fill, name="fill")
            _se(fill, "SvgParameter", f"{s.fill_opacity:g}", name="fill-opacity")
        stroke(sym)
    elif kind == "line":
        stroke(_se(rule_el, "LineSymbolizer"))
    else:
        graphic = _se(_se(rule_el, "PointSymbolizer"), "Graphic")
        mark = _se(graphic, "Mark")
        _se(mark, "WellKnownName", "circle")
        fill = _se(mark, "Fill")
        _se(fill, "SvgParameter", s.fill or s.stroke, name="fill")
        stroke(mark)
        _se(graphic, "Size", "8")


def style_sld(style: LayerStyle) -> str:
    root = ET.Element(
        f"{{{SLD}}}StyledLayerDescriptor",
        {
            "version": "1.1.0",
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": f"{SLD} "
            "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd",
        },
    )
    named = ET.SubElement(root, f"{{{SLD}}}NamedLayer")
    _se(named, "Name", style.layer)
    user = ET.SubElement(named, f"{{{SLD}}}UserStyle")
    _se(user, "Name", style.layer)
    fts = _se(user, "FeatureTypeStyle")
    # SLD has no nested "else": the base rules come first and the highlights after, so a highlighted
    # feature is painted over in its highlight (a list of ids once, not again in every base rule).
    for rule in style.base:
        el = _se(fts, "Rule")
        _se(el, "Name", rule.label)
        if rule.field is not None:
            _equals_any(_ogc(el, "Filter"), rule.field, rule.values)
        _sld_symbolizer(el, style.kind, rule.symbol)
    for rule in style.highlights:
        el = _se(fts, "Rule")
        _se(el, "Name", rule.label)
        _equals_any(_ogc(el, "Filter"), rule.field or "feature_id", rule.values)
        _sld_symbolizer(el, style.kind, rule.symbol)
    if style.label_fields:
        el = _se(fts, "Rule")
        _se(el, "Name", "labels")
        _se(el, "MaxScaleDenominator", str(style.label_max_scale))
        text = _se(el, "TextSymbolizer")
        label = _se(text, "Label")
        for i, f in enumerate(style.label_fields):
            prop = _ogc(label, "PropertyName")
            prop.text = f
            if i < len(style.label_fields) - 1:
                prop.tail = "\n"
        fill = _se(text, "Fill")
        _se(fill, "SvgParameter", "#1f2937", name="fill")
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


# ---------------------------------------------------------------------------- the project
def _srs(parent: ET.Element, authid: str) -> None:
    srs = ET.SubElement(parent, "spatialrefsys")
    ET.SubElement(srs, "authid").text = authid
    if authid == "EPSG:4326":
        ET.SubElement(srs, "srid").text = "4326"
        ET.SubElement(srs, "description").text = "WGS 84"
        ET.SubElement(srs, "geographicflag").text = "true"
    else:
        ET.SubElement(srs, "srid").text = "3857"
        ET.SubElement(srs, "description").text = "WGS 84 / Pseudo-Mercator"
        ET.SubElement(srs, "geographicflag").text = "false"


def layer_id(layer: str) -> str:
    return f"{layer}_{uuid.uuid5(uuid.NAMESPACE_URL, 'venue-twin:layer:' + layer).hex[:12]}"


def project_xml(p: Presentation, gpkg_name: str) -> str:
    """The .qgs document: every styled layer from the GeoPackage `gpkg_name` (a path relative to
    the file the project is stored in), in `layer_order`, opening on `extent`."""
    by_name = {s.layer: s for s in p.styles}
    order = [n for n in p.layer_order if n in by_name] + [s.layer for s in p.styles if s.layer not in p.layer_order]
    root = ET.Element("qgis", projectname=p.project_title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = p.project_title
    ET.SubElement(root, "autotransaction", active="0")
    ET.SubElement(root, "evaluateDefaultValues", active="0")
    _srs(ET.SubElement(root, "projectCrs"), "EPSG:3857")
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for name in order:
        ET.SubElement(
            tree,
            "layer-tree-layer",
            id=layer_id(name),
            name=by_name[name].title,
            source=f"./{gpkg_name}|layername={name}",
            providerKey="ogr",
            checked="Qt::Checked",
            expanded="1",
        )
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "degrees"
    ext = ET.SubElement(canvas, "extent")
    for tag, bound in zip(("xmin", "ymin", "xmax", "ymax"), p.extent, strict=True):
        ET.SubElement(ext, tag).text = repr(bound)
    ET.SubElement(canvas, "rotation").text = "0"
    _srs(ET.SubElement(canvas, "destinationsrs"), "EPSG:4326")
    layers = ET.SubElement(root, "projectlayers")
    for name in order:
        s = by_name[name]
        ml = ET.SubElement(layers, "maplayer", type="vector", geometry=_LAYER_GEOMETRY[s.kind], autoRefreshEnabled="0")
        ET.SubElement(ml, "id").text = layer_id(name)
        ET.SubElement(ml, "datasource").text = f"./{gpkg_name}|layername={name}"
        ET.SubElement(ml, "layername").text = s.title
        ET.SubElement(ml, "abstract").text = s.description
        _srs(ET.SubElement(ml, "srs"), "EPSG:4326")
        ET.SubElement(ml, "provider", encoding="UTF-8").text = "ogr"
        ml.append(renderer_element(s))
        lab = labeling_element(s)
        if lab is not None:
            ml.append(lab)
    order_el = ET.SubElement(root, "layerorder")
    for name in order:
        ET.SubElement(order_el, "layer", id=layer_id(name))
    props = ET.SubElement(root, "properties")
    if p.made_at:
        ET.SubElement(props, "head", type="QString").text = p.made_at
    for key, text in p.extra.items():
        ET.SubElement(props, key, type="QString").text = text
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def project_qgz(p: Presentation, gpkg_name: str) -> bytes:
    """The project as QGIS stores it in `qgis_projects.content`: a .qgz (zip holding the .qgs)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(f"{p.project_name}.qgs", date_time=(2026, 1, 1, 0, 0, 0))  # same bytes each time
        z.writestr(info, project_xml(p, gpkg_name))
    return buf.getvalue()
