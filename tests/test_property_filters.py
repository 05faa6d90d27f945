"""`name=value` query parameters as CQL2 (twin.query.property_equals): typed by the layer's schema."""

from __future__ import annotations

import pytest

from layers.catalogue import LAYERS
from twin.errors import BadInput
from twin.query import PropertyParameterError, _matches, parse_filter, property_equals

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
        ("south_plaza", {"temporary": "1"}, "is not true or false"),
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
