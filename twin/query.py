"""Feature queries: bbox, CQL2 filter, sort, property selection and paging at any version.

The API's items endpoint and the maps both run their reads through `run_query`, so a map and an
API call with the same parameters can never disagree.

The fast path (no filter, default order, all properties) returns stored bytes untouched. A
filter or a sort decodes the candidates and evaluates them with the `cql2` package (a
maintained CQL2 parser and evaluator); the bbox, when given, still narrows the candidates
through the R-tree first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cql2
import orjson

from twin.core import Ref, Twin
from twin.errors import BadInput
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
    queryables: set[str] = field(default_factory=set)


def parse_filter(text: str, lang: str | None = None) -> cql2.Expr:
    """Parse CQL2 text or JSON; errors name what is wrong."""
    try:
        if lang in (None, "cql2-text"):
            if lang is None and text.lstrip().startswith("{"):
                return cql2.parse_json(text)
            return cql2.parse_text(text)
        if lang == "cql2-json":
            return cql2.parse_json(text)
    except (cql2.ParseError, cql2.ValidationError, ValueError) as e:
        raise BadInput(f"filter: {e}") from None
    raise BadInput(f"filter-lang {lang!r} is not cql2-text or cql2-json")


def filter_properties(expr: cql2.Expr) -> set[str]:
    """The property names a filter refers to (to check them against the queryables)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "property" in node and isinstance(node["property"], str):
                names.add(node["property"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(expr.to_json())
    return names


def run_query(twin: Twin, q: FeatureQuery) -> Page:
    schema = twin.layer(q.layer)
    if q.filter is not None:
        allowed = {f.name for f in schema.fields} | {"id", "geometry", "geom"}
        unknown = filter_properties(q.filter) - allowed
        if unknown:
            raise BadInput(f"filter: unknown queryable(s) {', '.join(sorted(unknown))} for {q.layer}")
    for k in q.sortby:
        if k.name != "id" and schema.field(k.name) is None:
            raise BadInput(f"sortby: {k.name!r} is not a property of {q.layer}")
    if q.properties is not None:
        for p in q.properties:
            if schema.field(p) is None:
                raise BadInput(f"properties: {p!r} is not a property of {q.layer}")

    simple_order = not q.sortby or (len(q.sortby) == 1 and q.sortby[0] == SortKey("id"))
    if q.filter is None and simple_order:
        page = twin.features(q.layer, q.ref, bbox=q.bbox, limit=q.limit, offset=q.offset, after=q.after)
        return _select(page, q.properties)

    everything = twin.features(q.layer, q.ref, bbox=q.bbox)
    decoded = [orjson.loads(b) for b in everything.features]
    keep = list(range(len(decoded)))
    if q.filter is not None:
        expr = q.filter
        try:
            keep = [i for i in keep if expr.matches(_for_cql(decoded[i]))]
        except (ValueError, cql2.ValidationError) as e:
            raise BadInput(f"filter: {e}") from None
    if not simple_order:
        for key in reversed(q.sortby):  # stable sorts, last key first
            keep.sort(key=lambda i, k=key: _sort_value(decoded[i], k.name), reverse=key.descending)
    total = len(keep)
    if q.after is not None:
        if not simple_order:
            raise BadInput("a cursor (after) pages only in id order; use offset with sortby")
        keep = [i for i in keep if decoded[i]["id"] > q.after]
    end = None if q.limit is None else q.offset + q.limit
    keep = keep[q.offset : end]
    page = Page([everything.features[i] for i in keep], [everything.feature_ids[i] for i in keep], total)
    return _select(page, q.properties)


def _for_cql(feature: dict[str, Any]) -> dict[str, Any]:
    # cql2 evaluates properties by name; expose the id as a property too, as queryables list it.
    props = dict(feature.get("properties") or {})
    props.setdefault("id", feature.get("id"))
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
        name = part.lstrip("+-")
        keys.append(SortKey(name, desc))
    return keys
