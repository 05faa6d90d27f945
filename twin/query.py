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


def parse_filter(text: str, lang: str | None = None) -> cql2.Expr:
    """Parse and validate CQL2 text or JSON; errors name what is wrong."""
    lang = filter_language(lang)
    if _filter_depth(text) > MAX_FILTER_DEPTH:
        raise BadInput(
            f"filter: nested too deeply (more than {MAX_FILTER_DEPTH} levels of brackets and NOTs); simplify it"
        )
    as_json = lang == "cql2-json" or (lang is None and text.lstrip().startswith("{"))
    if not text.strip():
        raise BadInput("filter: it is empty; give a CQL2 expression, e.g. kind = 'lawn'")
    try:
        expr = cql2.parse_json(text) if as_json else cql2.parse_text(text)
        # what cql2 cannot take or mis-evaluates, and what GDAL writes, as what it means (one pass)
        expr = cql2.Expr(
            _rewrite(expr.to_json(), lambda n: _in_as_or(_single_member(_real_instant(_date_without_time(n)))))
        )
        expr.validate()
    except Exception as e:  # noqa: BLE001 - cql2 raises ParseError, ValidationError and bare Exceptions
        hint = ""
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
        if text.lower() not in ("true", "false"):
            raise PropertyParameterError(name, f"query parameter {name!r}: {text!r} is not true or false")
        return text.lower() == "true"
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

    if q.filter is not None:
        check_filter_types(q.filter, schema)
    simple_order = not q.sortby or (len(q.sortby) == 1 and q.sortby[0] == SortKey("id"))
    if q.filter is None and q.within is None and simple_order:
        page = twin.features(q.layer, q.ref, bbox=q.bbox, limit=q.limit, offset=q.offset, after=q.after)
        return _select(page, q.properties)

    everything = twin.features(q.layer, q.ref, bbox=q.bbox)
    decoded = [orjson.loads(b) for b in everything.features]
    keep = list(range(len(decoded)))
    if q.within is not None:
        shapely.prepare(q.within)
        geoms = shapely.from_geojson([orjson.dumps(decoded[i]["geometry"]) for i in keep])
        hit = shapely.intersects(geoms, q.within)
        keep = [i for i, h in zip(keep, hit, strict=True) if h]
    if q.filter is not None:
        expr = q.filter
        keep = [i for i in keep if _matches(expr, decoded[i])]
    if not simple_order:
        for key in reversed(q.sortby):  # stable sorts, last key first
            name = key.name
            keep.sort(key=lambda i: _sort_value(decoded[i], name), reverse=key.descending)  # noqa: B023
    total = len(keep)
    if q.after is not None:
        if not simple_order:
            raise BadInput("cursor: a cursor pages only in id order; use offset with sortby")
        keep = [i for i in keep if decoded[i]["id"] > q.after]
    end = None if q.limit is None else q.offset + q.limit
    keep = keep[q.offset : end]
    page = Page([everything.features[i] for i in keep], [everything.feature_ids[i] for i in keep], total)
    return _select(page, q.properties)


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
    missing value; checking the literal against the queryable's declared type tells them apart.
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
                if spec is None:
                    continue
                if op.startswith("t_") and spec.type != "date":
                    raise BadInput(f"filter: {op.upper()} needs a date or time, and {name} is {spec.type}")
                if op.startswith("a_") and spec.type != "list":
                    raise BadInput(f"filter: {op.upper()} needs an array, and {name} is {spec.type}")
                if op.startswith("s_"):
                    raise BadInput(f"filter: {op.upper()} needs a geometry (geometry), and {name} is {spec.type}")
                if op in ("=", "<>", "<", "<=", ">", ">=", "between", "in"):
                    wanted = _TYPE_OF_FIELD.get(spec.type)
                    literals = [a for a in args if not isinstance(a, dict | list)]
                    for a in args:
                        if isinstance(a, list):
                            literals.extend(x for x in a if not isinstance(x, dict | list))
                    for lit in literals:
                        if wanted is not None and not (
                            isinstance(lit, wanted) and not (spec.type != "boolean" and isinstance(lit, bool))
                        ):
                            raise BadInput(f"filter: {name} is {spec.type}, compared with {lit!r}")
            for a in args:
                walk(a)

    walk(expr.to_json())


def _for_cql(feature: dict[str, Any]) -> dict[str, Any]:
    # cql2 evaluates properties by name; expose the id as a property too, as queryables list it.
    # `geom` is taken for the geometry too (run_query allows it): cql2 finds `geometry` itself but
    # would look `geom` up among the properties, so a filter on it matched nothing.
    props = dict(feature.get("properties") or {})
    props.setdefault("id", feature.get("id"))
    props.setdefault("geom", feature.get("geometry"))
    return {"type": "Feature", "id": feature.get("id"), "geometry": feature.get("geometry"), "properties": props}


def _sort_value(feature: dict[str, Any], name: str) -> tuple[int, Any]:
    v = feature["id"] if name == "id" else (feature.get("properties") or {}).get(name)
    # Missing values sort last; mixed types compare by their text.
    if v is None:
        return (2, "")
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
