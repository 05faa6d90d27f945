"""Feature queries: bbox, CQL2 filter, sort, property selection and paging at any version.

The API's items endpoint and the maps both run their reads through `run_query`, so a map and an
API call with the same parameters can never disagree.

The fast path (no filter, default order, all properties) returns stored bytes untouched. A
filter or a sort decodes the candidates and evaluates them with the `cql2` package (a
maintained CQL2 parser and evaluator); the bbox, when given, still narrows the candidates
through the R-tree first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import cql2
import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from twin.core import Ref, TwinLike
from twin.errors import BadInput
from twin.model import LayerSchema
from twin.stores.base import BBox, Page


@dataclass(frozen=True)
class SortKey:
    name: str  # a property name, or "id"
    descending: bool = False


@dataclass
class FeatureQuery:
    layer: str
    ref: Ref | None = None
    bbox: BBox | None = None
    filter: cql2.Expr | None = None
    sortby: Sequence[SortKey] = ()
    properties: Sequence[str] | None = None  # None: all properties
    limit: int | None = None
    offset: int = 0
    after: str | None = None  # cursor: the last feature id of the previous page
    within: BaseGeometry | None = None  # exact area (e.g. a bbox given in another CRS); bbox holds its bounds
    queryables: set[str] = field(default_factory=set)


# The operators and functions the cql2 evaluator knows (lower case). The parser takes any name as
# a function call (`foo(x)`, ECQL's `ENVELOPE(...)`), and the evaluator then fails on every feature,
# which `_matches` cannot tell from a missing value: such a filter would answer an empty page.
KNOWN_OPS = frozenset(
    {"and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "like", "between", "in", "isnull", "casei", "accenti"}
    | {"+", "-", "*", "/", "%", "^", "div"}
    | {f"s_{n}" for n in ("intersects", "equals", "disjoint", "touches", "within", "overlaps", "crosses", "contains")}
    | {f"a_{n}" for n in ("equals", "contains", "containedby", "overlaps")}
    | {f"t_{n}" for n in ("after", "before", "contains", "disjoint", "during", "equals", "finishedby", "finishes")}
    | {f"t_{n}" for n in ("intersects", "meets", "metby", "overlappedby", "overlaps", "startedby", "starts")}
)


# How deeply a filter may nest (brackets, or NOTs in a row). cql2's parser recurses on the
# native stack: a filter of ~2,000 nested parentheses overflowed it and killed the whole server
# process (SIGSEGV) on one GET, and its validation slows down with depth (200 NOTs took seconds).
# Real filters nest a few levels.
MAX_FILTER_DEPTH = 32
_NOT = re.compile(r"\bnot\b", re.IGNORECASE)


def _filter_depth(text: str) -> int:
    """The deepest nesting of (, [ and { outside quoted strings, plus every NOT in the text (each
    may nest a level; a filter with more than a few is not one a person writes)."""
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest + len(_NOT.findall(text))


# The draft's name for CQL2 text, which GDAL's OAPIF driver sends (told OGR_OAPIF_ALLOW_CQL_TEXT=YES,
# it sends a -where as a filter, a date field's comparisons too, instead of a datetime interval).
FILTER_LANG_ALIASES = {"cql-text": "cql2-text"}
# GDAL writes a date-only value in a filter as 'YYYY-MM-DDT' (the date and an empty time part).
_DATE_EMPTY_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T$")


def filter_language(lang: str | None) -> str | None:
    """The filter language named (an alias as its CQL2 name); BadInput for one this service has not."""
    lang = FILTER_LANG_ALIASES.get(lang, lang) if lang is not None else None
    if lang not in (None, "cql2-text", "cql2-json"):
        raise BadInput(f"filter-lang {lang!r} is not cql2-text or cql2-json")
    return lang


def _rewrite(node: Any, fn: Callable[[Any], Any]) -> Any:
    """A filter's CQL2 JSON rebuilt bottom-up, `fn` applied to each value once its children are."""
    if isinstance(node, list):
        node = [_rewrite(x, fn) for x in node]
    elif isinstance(node, dict):
        node = {k: _rewrite(v, fn) for k, v in node.items()}
    return fn(node)


def _date_without_time(node: Any) -> Any:
    """A text literal 'YYYY-MM-DDT' as the date 'YYYY-MM-DD' it means (a property compared with it is
    a date field: its values are ISO dates, which compare as text)."""
    m = _DATE_EMPTY_TIME.match(node) if isinstance(node, str) else None
    return m[1] if m else node


def _single_member(node: Any) -> Any:
    """A one-member GeometryCollection literal as its member (the same point set, so every spatial
    test answers alike): CQL2 text allows GEOMETRYCOLLECTION(POINT(...)), but cql2's JSON Schema
    (GeoJSON's) wants two members and refused it with words that did not say so."""
    members = node.get("geometries") if isinstance(node, dict) else None
    if (
        isinstance(node, dict)
        and node.get("type") == "GeometryCollection"
        and isinstance(members, list)
        and len(members) == 1
    ):
        return members[0]
    return node


def _real_instant(node: Any) -> Any:
    """A DATE() or TIMESTAMP() literal as it is, if it names a day or an instant of the calendar:
    cql2 took DATE('2026-13-01') and matched nothing with it (200, no feature)."""
    if isinstance(node, dict) and len(node) == 1 and isinstance(next(iter(node.values())), str):
        ((kind, text),) = node.items()
        try:
            if kind == "date":
                date.fromisoformat(text)
            elif kind == "timestamp":
                datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadInput(f"{kind.upper()}('{text}') is not a real {kind}") from None
    return node


def _in_as_or(node: Any) -> Any:
    """IN whose list holds anything but plain literals (a DATE() or TIMESTAMP(), a property) as an
    OR of `=`: cql2 (0.6) finds such a member equal to nothing (IN matched no feature, NOT IN all of
    them), while `=` compares it."""
    args = node.get("args") if isinstance(node, dict) else None
    if (
        isinstance(node, dict)
        and isinstance(node.get("op"), str)
        and node["op"].lower() == "in"
        and isinstance(args, list)
        and len(args) == 2
        and isinstance(args[1], list)
        and args[1]
        and any(isinstance(x, dict) for x in args[1])
    ):
        terms = [{"op": "=", "args": [args[0], x]} for x in args[1]]
        return terms[0] if len(terms) == 1 else {"op": "or", "args": terms}
    return node


# What one filter may ask for: its text, and the vertices of its geometry literals. A spatial test
# costs about features x literal vertices; a polygon of 2,000 vertices over 3,000 points held a
# worker 19 s before its literal was parsed once and prepared. The API passes its settings
# (VENUE_TWIN_FILTER_MAX_CHARS, VENUE_TWIN_FILTER_MAX_VERTICES); these are their defaults.
MAX_FILTER_CHARS = 20_000
MAX_FILTER_VERTICES = 5_000
_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">=", "between", "in", "like"})


def parse_filter(
    text: str,
    lang: str | None = None,
    *,
    max_chars: int = MAX_FILTER_CHARS,
    max_vertices: int = MAX_FILTER_VERTICES,
) -> cql2.Expr:
    """Parse and validate CQL2 text or JSON; errors name what is wrong."""
    lang = filter_language(lang)
    if _filter_depth(text) > MAX_FILTER_DEPTH:
        raise BadInput(
            f"filter: nested too deeply (more than {MAX_FILTER_DEPTH} levels of brackets and NOTs); simplify it"
        )
    if len(text) > max_chars:
        raise BadInput(
            f"filter: {len(text):,} characters, over the limit of {max_chars:,}; give a bbox, "
            "or a smaller filter (a simpler shape, fewer values)"
        )
    as_json = lang == "cql2-json" or (lang is None and text.lstrip().startswith("{"))
    if not text.strip():
        raise BadInput("filter: it is empty; give a CQL2 expression, e.g. kind = 'lawn'")
    try:
        expr = cql2.parse_json(text) if as_json else cql2.parse_text(text)
        _check_condition(expr.to_json())  # before the rewrite: cql2.Expr('x') reads 'x' as a property
        # what cql2 cannot take or mis-evaluates, and what GDAL writes, as what it means (one pass)
        expr = cql2.Expr(
            _rewrite(expr.to_json(), lambda n: _in_as_or(_single_member(_real_instant(_date_without_time(n)))))
        )
        _check_literals(expr.to_json(), max_vertices, text)
        expr.validate()
    except BadInput:
        raise
    except Exception as e:  # noqa: BLE001 - cql2 raises ParseError, ValidationError and bare Exceptions
        hint = ""
        if "number out of range" in str(e):  # CQL2 JSON's 1e400, in serde's words
            raise BadInput(f"filter: {_huge_number(text)} is not a finite number") from None
        if as_json and not text.lstrip().startswith("{"):
            # The JSON parser's "expected ident at line 1 column 2" does not say the filter was read as JSON.
            raise BadInput(
                "filter: filter-lang=cql2-json, but this filter is not a JSON object "
                "(for CQL2 text give filter-lang=cql2-text, or none)"
            ) from None
        if lang == "cql2-text" and text.lstrip().startswith("{"):
            hint = " (this filter looks like CQL2 JSON: give filter-lang=cql2-json, or none)"
        if re.search(r"\bbetween\b", text, re.IGNORECASE) and re.search(r"\b(date|timestamp)\s*\(", text, re.I):
            # The JSON Schema's own words ("not valid under any of the schemas listed in the 'oneOf'
            # keyword") do not say that CQL2's BETWEEN compares numbers only.
            hint = " (CQL2's BETWEEN takes numbers only: for dates use >= and <=, or T_DURING)"
        if "oneOf" in str(e) and re.search(r"geometrycollection", text, re.IGNORECASE):
            # The same Schema words, for a collection with no member (one member is taken, above).
            hint = (
                " (a GEOMETRYCOLLECTION takes one or more POINT, LINESTRING, POLYGON or MULTI... members,"
                " e.g. GEOMETRYCOLLECTION(POINT(121.295 31.189)))"
            )
        raise BadInput(f"filter: {e}{hint}") from None
    unknown = sorted(filter_ops(expr) - KNOWN_OPS, key=str.lower)
    if unknown:
        hint = " (a box is BBOX(minx, miny, maxx, maxy) in CQL2)" if "envelope" in unknown else ""
        raise BadInput(f"filter: unknown function(s) {', '.join(unknown)}{hint}")
    return expr


_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")


def _huge_number(text: str) -> str:
    """The first number written in a filter (outside its strings) too large for a float, as written."""
    for m in _NUMBER.finditer(_QUOTED.sub(lambda q: " " * len(q[0]), text)):
        if math.isinf(float(m[0])):
            return m[0] if len(m[0]) <= 40 else m[0][:37] + "..."
    return "a number in it"


def _non_finite(node: Any) -> bool:
    return isinstance(node, float) and not math.isfinite(node)


def _check_condition(node: Any) -> None:
    """A filter, and each side of its AND, OR and NOT, must be a condition: cql2's JSON Schema
    refused a bare property (`filter=armed`) in its own words, naming no fix."""
    op = node.get("op") if isinstance(node, dict) else None
    if isinstance(op, str) and op.lower() in ("and", "or", "not") and isinstance(node.get("args"), list):
        for a in node["args"]:
            _check_condition(a)
        return
    if isinstance(node, dict) and isinstance(node.get("property"), str):
        name = node["property"]
        raise BadInput(
            f"filter: a filter must be a condition; {name} alone is a property "
            f"(write {name} = true, or compare it with a value: {name} = 'x', {name} IS NOT NULL)"
        )
    if isinstance(node, str | int | float) and not isinstance(node, bool) and not _non_finite(node):
        shown = f"{node:g}" if isinstance(node, float) else repr(node)
        raise BadInput(
            f"filter: a filter must be a condition; {shown} alone is a value (compare a property with it, e.g. name = {shown})"
        )


def _check_literals(tree: Any, max_vertices: int, text: str = "") -> None:
    """What cql2's JSON Schema refuses in its own words ("not valid under any of the schemas listed
    in the 'oneOf' keyword"), or takes and should not, said plainly: a comparison with NULL, a
    number too large for a float (1e400, which cql2 read as infinity), a geometry literal compared
    with =, ECQL's BBOX(property, ...), a polygon ring not closed or of fewer than 4 points, a
    literal that is not a valid geometry (a self-intersecting polygon matched as GEOS happened to
    read it), and literals with more vertices than one request may ask a spatial test for."""
    if _non_finite(tree):
        raise BadInput(f"filter: {_huge_number(text)} is not a finite number")
    vertices = 0
    for node in _nodes(tree):
        op = node.get("op")
        args = node.get("args")
        if isinstance(op, str) and op.lower() in _COMPARISONS and isinstance(args, list) and None in args:
            raise BadInput("filter: a comparison with NULL is never true; use name IS NULL (or IS NOT NULL)")
        if isinstance(args, list) and any(
            _non_finite(a) for a in [*args, *(x for a in args if isinstance(a, list) for x in a)]
        ):
            raise BadInput(f"filter: {_huge_number(text)} is not a finite number")
        if (
            isinstance(op, str)
            and op.lower() in _COMPARISONS
            and isinstance(args, list)
            and any(is_geometry_literal(a) for a in args)
        ):
            raise BadInput(
                f"filter: {op.upper()} does not compare geometries; test them with a spatial function, "
                "e.g. S_EQUALS(geometry, POINT(x y)) or S_INTERSECTS"
            )
        box = node.get("bbox")
        if isinstance(box, list) and "type" not in node and any(isinstance(v, dict) for v in box):
            raise BadInput(
                "filter: BBOX(property, ...) is ECQL; in CQL2 write S_INTERSECTS(geometry, BBOX(minx, miny, maxx, maxy))"
            )
        if not is_geometry_literal(node) or "bbox" in node:
            continue
        kind = node.get("type")
        coords = node.get("coordinates")
        polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
        for polygon in polygons if isinstance(polygons, list) else []:
            for ring in polygon if isinstance(polygon, list) else []:
                if isinstance(ring, list) and ring and ring[0] != ring[-1]:
                    raise BadInput(
                        f"filter: a polygon's ring is not closed (its last point must repeat its first, {_point(ring[0])})"
                    )
                if isinstance(ring, list) and len(ring) < 4:
                    raise BadInput("filter: a polygon's ring needs at least 4 points (the last repeating the first)")
        if kind == "GeometryCollection":
            continue  # its members are checked as literals of their own
        try:
            geom = shapely.from_geojson(orjson.dumps(node))
        except Exception:  # noqa: BLE001 - shapely's GEOSException; the Schema says what is wrong
            continue
        vertices += shapely.get_num_coordinates(geom)
        if vertices > max_vertices:
            raise BadInput(
                f"filter: its geometry has more than {max_vertices:,} vertices, the most one request may give; "
                "give a simpler shape (fewer vertices) or a bbox"
            )
        if not shapely.is_valid(geom):
            raise BadInput(f"filter: the {kind} literal is not a valid geometry ({shapely.is_valid_reason(geom)})")


def _point(p: Any) -> str:
    return " ".join(f"{v:g}" if isinstance(v, int | float) else str(v) for v in p) if isinstance(p, list) else str(p)


_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)


def is_geometry_literal(node: Any) -> bool:
    """Whether a node of a filter's CQL2 JSON is a geometry literal: GeoJSON, or {"bbox": [...]}."""
    if not isinstance(node, dict):
        return False
    if isinstance(node.get("bbox"), list) and "type" not in node:
        return True
    return node.get("type") in _GEOMETRY_TYPES and ("coordinates" in node or "geometries" in node)


def map_geometry_literals(expr: cql2.Expr, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> cql2.Expr:
    """The filter with each geometry literal replaced by `fn(literal)` (say, reprojected)."""

    return cql2.Expr(_rewrite(expr.to_json(), lambda n: fn(n) if is_geometry_literal(n) else n))


def property_equals(schema: LayerSchema, values: Mapping[str, str], declared: Collection[str] = ()) -> cql2.Expr | None:
    """`name=value` query parameters as a filter: each property equals its value (all of them hold).

    The value, text in a URL, is read as its property's type, so `pots=40` compares a number and
    `name_en=40` a string. A list property has no single value to equal (CQL2's A_CONTAINS does
    that), and a name that is no property of the layer is refused (naming the endpoint's own
    parameters, `declared`, too); PropertyParameterError names the parameter.
    """
    terms: list[dict[str, Any]] = []
    for name, text in values.items():
        spec = schema.field(name)
        if spec is None or spec.type == "list":
            props = ", ".join(f.name for f in schema.fields if f.type != "list") or "none"
            if spec is not None:
                why = f"query parameter {name!r} is a list property: filter it with filter=A_CONTAINS({name}, (...))"
                raise PropertyParameterError(name, f"{why} ({props})")
            takes = f"this endpoint takes {', '.join(sorted(declared))}, or " if declared else "it is not "
            why = f"unknown query parameter {name!r}; {takes}a property of {schema.name} to equal"
            # what it takes, as the code unknown_parameter words it: the parameters, or a property
            parameters = f"{', '.join(sorted(declared))}, or " if declared else ""
            taken = f"{parameters}a property of {schema.name} ({props})"
            raise PropertyParameterError(
                name, f"{why} ({props})", code="unknown_parameter", values={"parameter": name, "takes": taken}
            )
        terms.append({"op": "=", "args": [{"property": name}, _typed_literal(name, spec.type, text)]})
    if not terms:
        return None
    return cql2.Expr(terms[0] if len(terms) == 1 else {"op": "and", "args": terms})


class PropertyParameterError(BadInput):
    """A property given as a query parameter that cannot filter (its name says which)."""

    def __init__(self, parameter: str, message: str, **coded: Any):
        super().__init__(message, **coded)
        self.parameter = parameter


def _typed_literal(name: str, field_type: str, text: str) -> Any:
    try:
        if field_type == "integer":
            return int(text)
        if field_type == "number":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
    except ValueError:
        article = "an" if field_type == "integer" else "a"
        raise PropertyParameterError(
            name, f"query parameter {name!r}: {text!r} is not {article} {field_type}"
        ) from None
    if field_type == "boolean":
        # GDAL's OAPIF driver reads a boolean field as Integer(Boolean) and sends its filter as 1 or 0.
        if text.lower() not in ("true", "false", "1", "0"):
            raise PropertyParameterError(name, f"query parameter {name!r}: {text!r} is not true or false (or 1 or 0)")
        return text.lower() in ("true", "1")
    if field_type == "date":
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # fromisoformat also takes 20261105, 2026-W45
                raise ValueError(text)
            date.fromisoformat(text)
        except ValueError:
            raise PropertyParameterError(
                name, f"query parameter {name!r}: {text!r} is not a date (YYYY-MM-DD)"
            ) from None
        return {"date": text}
    return text


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a filter's CQL2 JSON form, depth first."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def filter_ops(expr: cql2.Expr) -> set[str]:
    """The operator and function names a filter uses, in lower case."""
    return {n["op"].lower() for n in _nodes(expr.to_json()) if isinstance(n.get("op"), str)}


def filter_properties(expr: cql2.Expr) -> set[str]:
    """The property names a filter refers to (to check them against the queryables)."""
    return {n["property"] for n in _nodes(expr.to_json()) if isinstance(n.get("property"), str)}


def run_query(twin: TwinLike, q: FeatureQuery) -> Page:
    schema = twin.layer(q.layer)
    if q.filter is not None:
        allowed = {f.name for f in schema.fields} | {"id"} | ({"geometry", "geom"} if schema.spatial else set())
        unknown = filter_properties(q.filter) - allowed
        if unknown & {"geometry", "geom"}:
            # A spatial test on records matched nothing, as if no record were there.
            raise BadInput(f"filter: layer {q.layer} holds records without geometry, so a filter cannot test one")
        if unknown:
            raise BadInput(f"filter: unknown queryable(s) {', '.join(sorted(unknown))} for {q.layer}")
    for k in q.sortby:
        if k.name != "id" and schema.field(k.name) is None:
            raise BadInput(f"sortby: {k.name!r} is not a property of {q.layer}")
    if q.properties is not None:
        for p in q.properties:
            if schema.field(p) is None:
                raise BadInput(f"properties: {p!r} is not a property of {q.layer}")

    expr = None
    if q.filter is not None:
        check_filter_types(q.filter, schema)
        expr = _booleans_as_truth(q.filter, schema)
    simple_order = not q.sortby or (len(q.sortby) == 1 and q.sortby[0] == SortKey("id"))
    if expr is None and q.within is None and simple_order:
        page = twin.features(q.layer, q.ref, bbox=q.bbox, limit=q.limit, offset=q.offset, after=q.after)
        return _select(page, q.properties)

    spatial = _SpatialFilter(expr) if expr is not None else None
    box = q.bbox
    if spatial is not None and spatial.bounds is not None:
        # Every feature the filter selects meets its literal's bounds: the R-tree narrows the
        # candidates to them, as a bbox read does.
        box = _meet(box, spatial.bounds)
        if box is None:
            return Page([], [], 0)
    everything = twin.features(q.layer, q.ref, bbox=box)
    decoded = [orjson.loads(b) for b in everything.features]
    keep = list(range(len(decoded)))
    if q.within is not None:
        shapely.prepare(q.within)
        geoms = shapely.from_geojson([orjson.dumps(decoded[i]["geometry"]) for i in keep])
        hit = shapely.intersects(geoms, q.within)
        keep = [i for i, h in zip(keep, hit, strict=True) if h]
    if spatial is not None:
        keep = spatial.select(decoded, keep)
    if not simple_order:
        for key in reversed(q.sortby):  # stable sorts, last key first
            name = key.name
            keep.sort(key=lambda i: _sort_value(decoded[i], name), reverse=key.descending)  # noqa: B023
            if key.descending:
                # Empty values last in either direction (a reversed sort had put them first, so the
                # "top 5 by trees" were 5 without trees); stable, so ties keep their order.
                keep.sort(key=lambda i: _sort_value(decoded[i], name)[0] == _EMPTY)  # noqa: B023
    total = len(keep)
    if q.after is not None:
        if not simple_order:
            raise BadInput("cursor: a cursor pages only in id order; use offset with sortby")
        keep = [i for i in keep if decoded[i]["id"] > q.after]
    end = None if q.limit is None else q.offset + q.limit
    keep = keep[q.offset : end]
    page = Page([everything.features[i] for i in keep], [everything.feature_ids[i] for i in keep], total)
    return _select(page, q.properties)


def _meet(a: BBox | None, b: BBox) -> BBox | None:
    """The box where `a` (None: everywhere) and `b` meet; None when they do not."""
    if a is None:
        return b
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


# CQL2's spatial tests as shapely's, the literal first (it is the prepared one): (the test when the
# feature's geometry is the first argument, the test when the literal is). All but S_DISJOINT hold
# only where the two meet.
_SHAPELY_TESTS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "s_intersects": (shapely.intersects, shapely.intersects),
    "s_disjoint": (shapely.disjoint, shapely.disjoint),
    "s_equals": (shapely.equals, shapely.equals),
    "s_touches": (shapely.touches, shapely.touches),
    "s_overlaps": (shapely.overlaps, shapely.overlaps),
    "s_crosses": (shapely.crosses, shapely.crosses),
    "s_within": (shapely.contains, shapely.within),  # feature within literal = literal contains feature
    "s_contains": (shapely.within, shapely.contains),
}
_MEETING_TESTS = frozenset(_SHAPELY_TESTS) - {"s_disjoint"}
_GEOMETRY_NAMES = frozenset({"geometry", "geom"})
# What stands for a test that cannot be told for a feature (it has no geometry): a comparison cql2
# cannot make, so the filter is unknown there exactly as when cql2 met the missing geometry itself.
_UNKNOWN = {"op": "=", "args": [{"property": "\u0000no geometry"}, 0]}
# What stands for a quotient with a zero divisor: a value that is not there, so what uses it is
# unknown (a comparison does not select, IS NULL holds, OR with a true side holds), as SQL's NULL.
_NO_QUOTIENT = {"property": "\u0000division by zero"}
_DIVISIONS = frozenset({"/", "%", "div"})


def _unmarked(node: Any) -> Any:
    """A division marker (_SpatialFilter's) as the division it holds."""
    return node["node"] if isinstance(node, dict) and "\u0000div" in node else node


def _is_geometry_property(node: Any) -> bool:
    return isinstance(node, dict) and node.get("property") in _GEOMETRY_NAMES


def _literal_shape(node: Any) -> BaseGeometry | None:
    if not is_geometry_literal(node):
        return None
    if "bbox" in node:
        v = node["bbox"]
        if len(v) not in (4, 6) or not all(isinstance(x, int | float) for x in v):
            return None
        return shapely.box(v[0], v[1], v[3], v[4]) if len(v) == 6 else shapely.box(*v)
    try:
        return shapely.from_geojson(orjson.dumps(node))
    except Exception:  # noqa: BLE001 - left to cql2, which says what is wrong
        return None


class _SpatialFilter:
    """A filter whose spatial tests (a geometry property against a literal) are made by shapely on
    the literal parsed once and prepared, for all candidates at once; the rest of the filter is
    cql2's, as before. cql2 re-read the literal for every feature: a 2,000-vertex polygon over
    3,000 points took 19 s.

    Each test becomes a placeholder; a feature's results for them pick a copy of the filter with
    each replaced by true, false or (no geometry) an unknown, which cql2 evaluates as it did the
    whole filter (its short-circuits and unknowns alike). A filter that is one test, or an AND of
    tests and others, is also bounded by its tests' literals (`bounds`), for the R-tree."""

    def __init__(self, expr: cql2.Expr) -> None:
        self.expr = expr
        self.tests: list[tuple[Callable[..., Any], BaseGeometry]] = []

        def lift(node: Any) -> Any:
            op = node.get("op") if isinstance(node, dict) else None
            args = node.get("args") if isinstance(node, dict) else None
            if not (isinstance(op, str) and op.lower() in _SHAPELY_TESTS and isinstance(args, list) and len(args) == 2):
                return node
            first, second = (_is_geometry_property(a) for a in args)
            if first == second:  # two properties, or two literals: cql2's
                return node
            literal = _literal_shape(args[1] if first else args[0])
            if literal is None:
                return node
            feature_first = first
            shapely.prepare(literal)
            test = _SHAPELY_TESTS[op.lower()][0 if feature_first else 1]
            self.tests.append((test, literal))
            return {"\u0000test": len(self.tests) - 1, "op": op.lower()}

        self.tree = _rewrite(expr.to_json(), lift)
        # Each division (/, %, div) as a marker holding it; per feature, one whose divisor is zero
        # has no value (SQL's NULL, as PostgreSQL's NULLIF), where cql2 made x / 0 infinity (so
        # `area / 0 > 1` held for every feature) and x % 0 NaN.
        self.divisors: list[Any] = []

        def mark(node: Any) -> Any:
            op = node.get("op") if isinstance(node, dict) else None
            args = node.get("args") if isinstance(node, dict) else None
            if not (isinstance(op, str) and op.lower() in _DIVISIONS and isinstance(args, list) and len(args) == 2):
                return node
            self.divisors.append(_rewrite(args[1], _unmarked))
            return {"\u0000div": len(self.divisors) - 1, "node": node}

        self.tree = _rewrite(self.tree, mark)
        if not self.divisors:
            self.tree = _rewrite(self.tree, _unmarked)
        self.bounds: BBox | None = None
        conjuncts = self.tree["args"] if isinstance(self.tree, dict) and self.tree.get("op") == "and" else [self.tree]
        for c in conjuncts:
            if isinstance(c, dict) and "\u0000test" in c and c["op"] in _MEETING_TESTS:
                b = tuple(shapely.bounds(self.tests[c["\u0000test"]][1]))
                meet = _meet(self.bounds, b) if self.bounds is not None else b  # type: ignore[arg-type]
                self.bounds = meet if meet is not None else (b[0], b[1], b[0] - 1, b[1] - 1)  # type: ignore[assignment]
        if self.bounds is not None and (self.bounds[0] > self.bounds[2] or self.bounds[1] > self.bounds[3]):
            self.bounds = (1.0, 1.0, 0.0, 0.0)  # literals that do not meet: nothing can be selected
        self._variants: dict[tuple[tuple[bool | None, ...], tuple[bool, ...]], cql2.Expr | bool] = {}

    def _variant(self, results: tuple[bool | None, ...], zeros: tuple[bool, ...] = ()) -> cql2.Expr | bool:
        if (results, zeros) not in self._variants:

            def put(node: Any) -> Any:
                if isinstance(node, dict) and "\u0000test" in node:
                    r = results[node["\u0000test"]]
                    return _UNKNOWN if r is None else r
                if isinstance(node, dict) and "\u0000div" in node:
                    return _NO_QUOTIENT if zeros[node["\u0000div"]] else node["node"]
                return node

            tree = _rewrite(self.tree, put)
            # one test alone, unknown for this feature: it does not select (as cql2's error did not)
            unknown = tree == _UNKNOWN
            variant = False if unknown else tree if isinstance(tree, bool) else cql2.Expr(tree)
            self._variants[(results, zeros)] = variant
        return self._variants[(results, zeros)]

    def _zero_divisors(self, feature: dict[str, Any]) -> tuple[bool, ...]:
        """Which of the filter's divisions divide by zero for this feature."""
        out = []
        as_cql = _for_cql(feature)  # once per feature, whatever the number of divisions
        for divisor in self.divisors:
            if isinstance(divisor, dict) and isinstance(divisor.get("property"), str):
                value = as_cql["properties"].get(divisor["property"])
            elif isinstance(divisor, dict):
                try:
                    value = cql2.Expr(divisor).reduce(as_cql).to_json()
                except Exception:  # noqa: BLE001 - a divisor cql2 cannot tell: cql2 decides, as before
                    value = None
            else:
                value = divisor
            out.append(isinstance(value, int | float) and not isinstance(value, bool) and value == 0)
        return tuple(out)

    def select(self, decoded: list[dict[str, Any]], keep: list[int]) -> list[int]:
        if not self.tests and not self.divisors:
            return [i for i in keep if _matches(self.expr, decoded[i])]
        columns: list[Any] = []
        missing = [decoded[i].get("geometry") is None for i in keep] if self.tests else []
        if self.tests:
            geoms = shapely.from_geojson(
                [None if m else orjson.dumps(decoded[i]["geometry"]) for i, m in zip(keep, missing, strict=True)]
            )
            columns = [test(literal, geoms) for test, literal in self.tests]
        out = []
        for n, i in enumerate(keep):
            results = tuple(None if missing[n] else bool(col[n]) for col in columns)
            zeros = self._zero_divisors(decoded[i]) if self.divisors else ()
            variant = self._variant(results, zeros)
            if variant is True or (not isinstance(variant, bool) and _matches(variant, decoded[i])):
                out.append(i)
        return out


def _matches(expr: cql2.Expr, feature: dict[str, Any]) -> bool:
    try:
        return bool(expr.matches(_for_cql(feature)))
    except Exception:  # noqa: BLE001 - cql2 raises a bare Exception when a value is null or absent
        # CQL2 comparisons with a missing (null) value are unknown, and unknown does not select.
        return False


_TYPE_OF_FIELD: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": (int, float),
    "number": (int, float),
    "boolean": bool,
    "date": str,
}


def check_filter_types(expr: cql2.Expr, schema: LayerSchema) -> None:
    """Refuse comparisons that can never hold because of their types (400 rather than an empty page).

    cql2 evaluates such a comparison to an error for every feature, indistinguishable from a
    missing value; checking the literal (or the other property) against the queryable's declared
    type tells them apart.
    """

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
            return
        if not isinstance(node, dict):
            return
        op = node.get("op")
        args = node.get("args")
        if isinstance(op, str) and isinstance(args, list):
            props = [a["property"] for a in args if isinstance(a, dict) and isinstance(a.get("property"), str)]
            for name in props:
                spec = schema.field(name)
                if spec is None and name in _GEOMETRY_NAMES and schema.spatial:
                    _check_geometry_use(op, name, args)
                if spec is None:
                    continue
                if op.lower() in _TEXT_OPS and spec.type not in ("string", "date", "list"):
                    # cql2 found the number never LIKE the pattern: 0 features, as if none matched
                    raise BadInput(f"filter: {op.upper()} needs text, and {name} is {spec.type}")
                if op in _ARITHMETIC and spec.type not in ("integer", "number"):
                    raise BadInput(f"filter: {op} needs numbers, and {name} is {spec.type}")
                if op.startswith("t_") and spec.type != "date":
                    raise BadInput(f"filter: {op.upper()} needs a date or time, and {name} is {spec.type}")
                if op.startswith("a_") and spec.type != "list":
                    raise BadInput(f"filter: {op.upper()} needs an array, and {name} is {spec.type}")
                if op.startswith("s_"):
                    raise BadInput(f"filter: {op.upper()} needs a geometry (geometry), and {name} is {spec.type}")
                if op in ("=", "<>", "<", "<=", ">", ">=", "between", "in", "like") and spec.type == "list":
                    # cql2 found a list equal to no value: 0 features, as if none held it
                    values = [a for a in args if not isinstance(a, dict)]
                    shown = ", ".join(
                        repr(v) for v in (values[0] if values and isinstance(values[0], list) else values)
                    )
                    raise BadInput(
                        f"filter: {name} is a list, so it equals no single value; use the array operators: "
                        f"A_CONTAINS({name}, ({shown or '...'})) holds when it holds all of them, A_OVERLAPS "
                        f"when any, A_EQUALS when exactly them, A_CONTAINEDBY when no others"
                    )
                if op in ("=", "<>", "<", "<=", ">", ">=", "between", "in"):
                    wanted = _TYPE_OF_FIELD.get(spec.type)
                    literals = [a for a in args if not isinstance(a, dict | list)]
                    for a in args:
                        if isinstance(a, list):
                            literals.extend(x for x in a if not isinstance(x, dict | list))
                    for lit in literals:
                        if spec.type == "boolean" and op.lower() in _BOOLEAN_OPS and _one_or_zero(lit):
                            continue  # GDAL's true or false (_booleans_as_truth)
                        if wanted is not None and not (
                            isinstance(lit, wanted) and not (spec.type != "boolean" and isinstance(lit, bool))
                        ):
                            hint = " (true or false, or 1 or 0 in = and IN)" if spec.type == "boolean" else ""
                            raise BadInput(f"filter: {name} is {spec.type}, compared with {lit!r}{hint}")
            if op.lower() in _COMPARISONS and op.lower() != "like":
                # cql2 found a number above no string, equal to none: 0 features, as if none held
                fields = [f for f in (schema.field(name) for name in props) if f is not None]
                for one, other in zip(fields, fields[1:], strict=False):
                    if _TYPE_OF_FIELD.get(one.type) != _TYPE_OF_FIELD.get(other.type):
                        raise BadInput(
                            f"filter: {one.name} is {one.type}, compared with {other.name}, which is {other.type}"
                        )
            for a in args:
                walk(a)

    walk(expr.to_json())


# The comparisons that take a boolean property's 1 or 0 as true or false (not <, > or BETWEEN).
_BOOLEAN_OPS = frozenset({"=", "<>", "in"})


def _one_or_zero(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1)


def _booleans_as_truth(expr: cql2.Expr, schema: LayerSchema) -> cql2.Expr:
    """The filter with a boolean property's 1 or 0 (in =, <> or IN) as true or false: GDAL's OAPIF
    driver reads a boolean field as Integer(Boolean) and writes an OGR filter `temporary = 1` so in
    CQL2, and cql2 finds true equal to no number (check_filter_types has refused any other number)."""
    booleans = {f.name for f in schema.fields if f.type == "boolean"}
    if not booleans & filter_properties(expr):
        return expr

    def truth(value: Any) -> Any:
        if isinstance(value, list):
            return [truth(x) for x in value]
        return value == 1 if _one_or_zero(value) else value

    def read(node: Any) -> Any:
        op = node.get("op") if isinstance(node, dict) else None
        args = node.get("args") if isinstance(node, dict) else None
        if not (
            isinstance(op, str)
            and op.lower() in _BOOLEAN_OPS
            and isinstance(args, list)
            and any(isinstance(a, dict) and a.get("property") in booleans for a in args)
        ):
            return node
        return {**node, "args": [truth(a) for a in args]}

    return cql2.Expr(_rewrite(expr.to_json(), read))


# What takes text only (a date is ISO text, so its LIKE works), and what takes numbers only.
_TEXT_OPS = frozenset({"like", "casei", "accenti"})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "div"})


def _check_geometry_use(op: str, name: str, args: list[Any]) -> None:
    """A geometry property where a comparison or a function wants a value: cql2 found it equal to
    nothing, LIKE nothing and CASEI of nothing (200, no feature)."""
    if op.lower() in _COMPARISONS or op.lower() in _TEXT_OPS or op in _ARITHMETIC:
        others = [a for a in args if not (isinstance(a, dict) and a.get("property") == name)]
        shown = f", compared with {others[0]!r}" if op.lower() in _COMPARISONS and others else ""
        raise BadInput(
            f"filter: {name} is a geometry{shown}; {op.upper()} does not take one: test it with a spatial "
            f"function, e.g. S_INTERSECTS({name}, POINT(x y)) or S_EQUALS, or {name} IS NULL"
        )


def _for_cql(feature: dict[str, Any]) -> dict[str, Any]:
    # cql2 evaluates properties by name; expose the id as a property too, as queryables list it.
    # `geom` is taken for the geometry too (run_query allows it): cql2 finds `geometry` itself but
    # would look `geom` up among the properties, so a filter on it matched nothing.
    props = dict(feature.get("properties") or {})
    props.setdefault("id", feature.get("id"))
    props.setdefault("geom", feature.get("geometry"))
    return {"type": "Feature", "id": feature.get("id"), "geometry": feature.get("geometry"), "properties": props}


_EMPTY = 2  # the rank of a null or missing value in a sort key: last, ascending or descending


def _sort_value(feature: dict[str, Any], name: str) -> tuple[int, Any]:
    v = feature["id"] if name == "id" else (feature.get("properties") or {}).get(name)
    # Missing values sort last (run_query keeps them last when descending too); mixed types
    # compare by their text.
    if v is None:
        return (_EMPTY, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, v)
    return (1, str(v))


def _select(page: Page, properties: Sequence[str] | None) -> Page:
    if properties is None:
        return page
    keep = set(properties)
    out = []
    for b in page.features:
        d = orjson.loads(b)
        d["properties"] = {k: v for k, v in (d.get("properties") or {}).items() if k in keep}
        out.append(orjson.dumps(d, option=orjson.OPT_SORT_KEYS))
    return Page(out, page.feature_ids, page.number_matched)


def parse_sortby(text: str) -> list[SortKey]:
    keys = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise BadInput("sortby: empty key")
        desc = part.startswith("-")
        name = part[1:] if part[0] in "+-" else part
        if name[:1] in ("+", "-"):
            raise BadInput(f"sortby: {part!r} has more than one sign; write -name or +name")
        keys.append(SortKey(name, desc))
    return keys
