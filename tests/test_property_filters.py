"""`name=value` query parameters as CQL2 (twin.query.property_equals): typed by the layer's schema."""

from __future__ import annotations

import math

import orjson
import pytest
import shapely

from layers.catalogue import LAYERS
from twin import query
from twin.errors import BadInput
from twin.query import PropertyParameterError, _matches, parse_filter, property_equals
from twin.stores.base import Page

SCHEMAS = {s.name: s for s in LAYERS}


def selects(expr: object, properties: dict[str, object]) -> bool:
    """As the items' query evaluates a filter (a comparison with a null selects nothing)."""
    return _matches(expr, {"type": "Feature", "id": "f", "geometry": None, "properties": properties})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("layer", "given", "value", "matches", "misses"),
    [
        ("south_plaza", "TRUE", True, {"temporary": True}, {"temporary": False}),
        ("south_plaza", "false", False, {"temporary": False}, {"temporary": None}),
        ("roads", "4", 4, {"lanes": 4}, {"lanes": 40}),
        ("halls", "29540", 29540.0, {"floor_area_m2": 29540.0}, {"floor_area_m2": 29540.5}),
        ("halls", "0m", "0m", {"level": "0m"}, {"level": "0M"}),
        ("halls", "", "", {"level": ""}, {"level": None}),
    ],
)
def test_a_value_is_read_as_its_propertys_type(
    layer: str, given: str, value: object, matches: dict[str, object], misses: dict[str, object]
) -> None:
    (name,) = matches
    expr = property_equals(SCHEMAS[layer], {name: given})
    assert expr is not None
    literal = expr.to_json()["args"][1]
    # cql2 keeps every number as a float; a bool or a string must stay one
    assert literal == value and all(isinstance(literal, t) == isinstance(value, t) for t in (bool, str))
    assert selects(expr, matches) and not selects(expr, misses)


def test_several_properties_must_all_hold_and_none_is_no_filter() -> None:
    expr = property_equals(SCHEMAS["roads"], {"lanes": "4", "road_class": "arterial"})
    assert expr is not None
    assert selects(expr, {"lanes": 4, "road_class": "arterial"})
    assert not selects(expr, {"lanes": 4, "road_class": "local"}) and not selects(
        expr, {"lanes": 3, "road_class": "arterial"}
    )
    assert property_equals(SCHEMAS["roads"], {}) is None


def test_a_date_is_a_cql2_date() -> None:
    expr = property_equals(SCHEMAS["projects"], {"planned_start": "2026-07-28"})
    assert expr is not None and expr.to_text() == "planned_start = DATE('2026-07-28')"


@pytest.mark.parametrize(
    ("layer", "params", "words"),
    [
        ("roads", {"lanes": "4.0"}, "is not an integer"),
        ("halls", {"floor_area_m2": "inf"}, "is not a number"),
        ("south_plaza", {"temporary": "2"}, "is not true or false"),
        ("projects", {"planned_start": "2026-W31"}, "is not a date"),
        ("projects", {"planned_start": "2026-02-30"}, "is not a date"),
        ("projects", {"features": "hall-1.1H"}, "A_CONTAINS"),
        ("halls", {"levle": "0m"}, "a property of halls"),
    ],
)
def test_what_cannot_filter_names_its_parameter(layer: str, params: dict[str, str], words: str) -> None:
    with pytest.raises(PropertyParameterError) as e:
        property_equals(SCHEMAS[layer], params, declared=("bbox", "limit"))
    (name,) = params
    assert e.value.parameter == name and words in str(e.value)
    if words.startswith("a property"):
        assert "this endpoint takes bbox, limit" in str(e.value) and "level" in str(e.value)


def test_between_on_dates_says_what_to_use_instead() -> None:
    with pytest.raises(BadInput, match="BETWEEN takes numbers only: for dates use >= and <="):
        parse_filter("planned_start BETWEEN DATE('2026-08-01') AND DATE('2026-08-31')")
    assert parse_filter("quantity BETWEEN 1 AND 5") is not None


# ---------------------------------------------------------------------------- spatial tests, shapely's
class _FakeTwin:
    """A layer of the given features, read as a store reads them: a bbox keeps those whose bounds meet it."""

    def __init__(self, features: list[dict[str, object]]) -> None:
        self.rows = [orjson.dumps(f) for f in features]
        self.shapes = [shapely.from_geojson(orjson.dumps(f["geometry"])) if f["geometry"] else None for f in features]
        self.boxes: list[object] = []

    def layer(self, name: str, ref: object = None) -> object:
        return SCHEMAS["roads"]

    def features(self, layer: str, ref: object = None, bbox: object = None, **_: object) -> Page:
        self.boxes.append(bbox)
        keep = [
            i
            for i, g in enumerate(self.shapes)
            if bbox is None or (g is not None and shapely.intersects(shapely.box(*bbox), shapely.envelope(g)))
        ]
        return Page([self.rows[i] for i in keep], [f"f{i:04d}" for i in keep], len(keep))


def _venue_like_features() -> list[dict[str, object]]:
    """Points on a grid, lines across it and squares over it, some on the literals' edges, some sharing them."""
    out: list[dict[str, object]] = []
    shapes: list[object] = [shapely.Point(x / 4, y / 4) for x in range(-4, 25) for y in range(-4, 25)]
    shapes += [shapely.LineString([(x, -1), (x + 2, 3), (x + 3, 7)]) for x in range(-2, 8)]
    shapes += [shapely.LineString([(0, 0), (2, 0)]), shapely.LineString([(1, 1), (2, 2)])]
    shapes += [shapely.box(x, y, x + 1.5, y + 1.5) for x in range(-1, 6, 2) for y in range(-1, 6, 2)]
    shapes += [shapely.box(0, 0, 2, 2), shapely.box(0.5, 0.5, 1, 1), shapely.box(-3, -3, 8, 8)]
    for i, g in enumerate(shapes):
        geometry = orjson.loads(shapely.to_geojson(g))
        out.append({"type": "Feature", "id": f"f{i:04d}", "geometry": geometry, "properties": {"lanes": i % 5}})
    out.append({"type": "Feature", "id": "f9999", "geometry": None, "properties": {"lanes": 1}})
    return out


SPATIAL_OPS = [
    "S_INTERSECTS",
    "S_DISJOINT",
    "S_EQUALS",
    "S_TOUCHES",
    "S_WITHIN",
    "S_CONTAINS",
    "S_OVERLAPS",
    "S_CROSSES",
]
LITERALS = [
    "POINT(1 1)",
    "LINESTRING(0 0, 2 0)",
    "LINESTRING(-1 1, 6 1.2)",
    "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))",
    "POLYGON((0.25 0.25, 3.1 0.4, 2.2 2.9, 0.25 0.25))",
    "MULTIPOINT((1 1), (0.5 0.5))",
    "BBOX(0, 0, 2, 2)",
]


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("op", SPATIAL_OPS)
def test_spatial_tests_answer_as_cql2_did_with_one_prepared_literal(
    op: str, literal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Points, lines and polygons tested against each literal, either way round and inside AND, OR and
    NOT with other terms, select what cql2's own evaluation of the whole filter selects; a filter of
    spatial tests alone asks cql2 nothing per feature, and the store is asked only for the literal's
    bounds when the test holds only where the two meet."""
    features = _venue_like_features()
    real = query._matches
    for text in (
        f"{op}(geometry, {literal})",
        f"{op}({literal}, geom)",
        f"{op}(geometry, {literal}) AND lanes > 1",
        f"lanes = 2 OR NOT {op}(geometry, {literal})",
        f"{op}(geometry, {literal}) OR {op}(geometry, POINT(3 3))",
    ):
        expr = parse_filter(text)
        expected = [f["id"] for f in features if query._matches(expr, f)]
        twin = _FakeTwin(features)
        calls = 0

        def counted(e: object, f: dict[str, object]) -> bool:
            nonlocal calls
            calls += 1
            return real(e, f)  # type: ignore[arg-type]

        monkeypatch.setattr(query, "_matches", counted)
        page = query.run_query(twin, query.FeatureQuery(layer="roads", filter=expr))  # type: ignore[arg-type]
        monkeypatch.setattr(query, "_matches", real)
        assert [orjson.loads(b)["id"] for b in page.features] == expected, text
        assert page.number_matched == len(expected)
        if " AND " not in text and " OR " not in text:
            assert calls == 0, f"{text}: cql2 asked {calls} times"
        if op != "S_DISJOINT" and " OR " not in text:
            bounds = shapely.bounds(
                shapely.box(0, 0, 2, 2) if literal.startswith("BBOX") else shapely.from_wkt(literal)
            )
            assert twin.boxes == [tuple(bounds)], text


def test_a_filter_too_big_for_one_request_is_refused_naming_the_limit() -> None:
    ring = ", ".join(f"{121.29 + 0.001 * math.cos(k / 100)} {31.19 + 0.001 * math.sin(k / 100)}" for k in range(600))
    polygon = f"S_INTERSECTS(geometry, POLYGON(({ring}, {ring.split(', ')[0]})))"
    assert parse_filter(polygon, max_vertices=601, max_chars=10**6) is not None
    with pytest.raises(BadInput, match="more than 600 vertices"):
        parse_filter(polygon, max_vertices=600, max_chars=10**6)
    with pytest.raises(BadInput, match=r"over the limit of 1,000"):
        parse_filter(polygon, max_chars=1000)
    with pytest.raises(BadInput, match=r"over the limit of 20,000"):  # the default
        parse_filter("lanes IN (" + ", ".join(str(i) for i in range(5000)) + ")")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lanes = NULL", "use name IS NULL"),
        ("NOT lanes <> null", "use name IS NULL"),
        ("BBOX(geometry, 1, 2, 3, 4)", "S_INTERSECTS(geometry, BBOX(minx, miny, maxx, maxy))"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1)))", "ring is not closed"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 1)))", "ring is not closed"),
        (
            '{"op": "s_within", "args": [{"property": "geometry"}, {"type": "Polygon", '
            '"coordinates": [[[0, 0], [1, 0], [1, 1]]]}]}',
            "ring is not closed",
        ),  # fmt: skip
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 0 0)))", "at least 4 points"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "not a valid geometry (Self-intersection"),
    ],
)
def test_a_filter_cql2s_schema_refuses_is_refused_in_plain_words(text: str, words: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_filter(text)
    assert words in str(e.value) and "oneOf" not in str(e.value)


def test_a_list_property_compared_with_a_value_says_to_use_the_array_operators() -> None:
    expr = parse_filter("features = 'hall-1.1H'")
    with pytest.raises(BadInput, match=r"features is a list.*A_CONTAINS\(features, \('hall-1.1H'\)\)"):
        query.check_filter_types(expr, SCHEMAS["projects"])
    query.check_filter_types(parse_filter("A_CONTAINS(features, ('hall-1.1H'))"), SCHEMAS["projects"])
