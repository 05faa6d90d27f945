"""The items query as a tester found it wrong: a boolean parameter GDAL sends as 1 or 0, empty values
first in a descending sort, filters that clash types answering an empty page, a division by zero
matching every feature, and filters refused in the JSON Schema's words.

On the test store (VENUE_TWIN_TEST_STORE=postgis runs them on a PostGIS copy of the twin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_server import build_venue, client, problem_of, with_temporary
from fastapi.testclient import TestClient

from twin.query import _SpatialFilter, parse_filter

TREES = [("ls-trees-songze", 47), ("ls-trees-laigang", 45)]  # the landscaping with a `trees` value


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = with_temporary(
        build_venue(tmp_path_factory.mktemp("query-fixes") / "venue.gpkg"),
        {"sp-entrance-square": True, "sp-flower-display": False},
    )
    with client(store) as c:
        yield c


def items(api: TestClient, layer: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/collections/{layer}/items", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text[:500]
    return r.json()  # type: ignore[no-any-return]


def ids(api: TestClient, layer: str, **params: Any) -> list[str]:
    return [f["id"] for f in items(api, layer, **params)["features"]]


# ---------------------------------------------------------------------------- 1. a boolean as 1 or 0
def test_a_boolean_parameter_takes_1_and_0_as_gdal_sends_them(api: TestClient) -> None:
    assert ids(api, "south_plaza", temporary="1") == ids(api, "south_plaza", temporary="true") == ["sp-entrance-square"]
    assert ids(api, "south_plaza", temporary="0") == ids(api, "south_plaza", temporary="false") == ["sp-flower-display"]
    body = problem_of(api.get("/collections/south_plaza/items", params={"temporary": "2"}), 400, "temporary")
    assert "'2' is not true or false (or 1 or 0)" in body["detail"]


# ---------------------------------------------------------------------------- 2. empty values sort last
def _expected(descending: bool, all_ids: list[str]) -> list[str]:
    valued = sorted(TREES, key=lambda t: t[1], reverse=descending)
    empty = sorted(set(all_ids) - {fid for fid, _ in TREES})  # ties (all empty) by id
    return [fid for fid, _ in valued] + empty


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("box", [False, True])
def test_features_without_a_value_sort_last_either_way(api: TestClient, descending: bool, box: bool) -> None:
    everything = ids(api, "landscaping")
    assert len(everything) > len(TREES) + 3
    params: dict[str, Any] = {"sortby": ("-" if descending else "") + "trees"}
    if box:  # through the bbox read (the read index on a GeoPackage)
        params["bbox"] = "-180,-90,180,90"
    want = _expected(descending, everything)
    doc = items(api, "landscaping", **params)
    assert [f["id"] for f in doc["features"]] == want and doc["numberMatched"] == len(want)
    top = items(api, "landscaping", **params, limit=5)["features"]
    assert [f["properties"].get("trees") for f in top[:2]] == [
        v for _, v in sorted(TREES, key=lambda t: t[1], reverse=descending)
    ]
    # pages across the boundary between values and empties: exact, no feature twice or missed
    for size in (1, 2, 3):
        walked: list[str] = []
        for offset in range(0, len(want), size):
            walked += ids(api, "landscaping", **params, limit=size, offset=offset)
        assert walked == want, size
    assert ids(api, "landscaping", **params, limit=2, offset=1) == want[1:3]


def test_a_second_descending_key_orders_the_empty_ones(api: TestClient) -> None:
    everything = ids(api, "landscaping")
    empty = sorted(set(everything) - {fid for fid, _ in TREES}, reverse=True)
    assert ids(api, "landscaping", sortby="-trees,-id") == [fid for fid, _ in TREES] + empty


# ---------------------------------------------------------------------------- 3. type clashes, division by zero
@pytest.mark.parametrize(
    ("filter_", "words"),
    [
        ("floor_area_m2 LIKE '2%'", "LIKE needs text, and floor_area_m2 is number"),
        ("CASEI(floor_area_m2) = 'x'", "CASEI needs text, and floor_area_m2 is number"),
        ("ACCENTI(floor_area_m2) = 'x'", "ACCENTI needs text, and floor_area_m2 is number"),
        ("geometry = 'x'", "geometry is a geometry, compared with 'x'"),
        ("'x' = geometry", "geometry is a geometry, compared with 'x'"),
        ("geometry LIKE 'x%'", "geometry is a geometry"),
        ("geometry = POINT(121.29 31.19)", "= does not compare geometries"),
        ("code + 1 > 2", "+ needs numbers, and code is string"),
    ],
)
def test_a_filter_that_clashes_types_is_refused(api: TestClient, filter_: str, words: str) -> None:
    body = problem_of(api.get("/collections/halls/items", params={"filter": filter_}), 400, "filter")
    assert words in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("filter_", "count"),
    [("code LIKE '1%'", 2), ("level LIKE '0%'", 10), ("CASEI(code) = CASEI('1.1h')", 1), ("geometry IS NOT NULL", 17)],
)
def test_text_operators_on_text_still_work(api: TestClient, filter_: str, count: int) -> None:
    assert items(api, "halls", filter=filter_)["numberMatched"] == count


@pytest.mark.parametrize(
    ("filter_", "count"),
    [
        ("floor_area_m2 / 0 > 1", 0),
        ("floor_area_m2 / 0 < 1", 0),
        ("NOT (floor_area_m2 / 0 > 1)", 0),  # unknown, not false: its NOT is unknown too
        ("floor_area_m2 % 0 = 1", 0),
        ("NOT (floor_area_m2 % 0 = 1)", 0),
        ("floor_area_m2 / 0 > 1 OR code = '1.1H'", 1),
        ("floor_area_m2 / 0 IS NULL", 17),
        ("floor_area_m2 / (floor_area_m2 - floor_area_m2) > 1", 0),
        ("floor_area_m2 / 2 > 1", 17),
        ("S_INTERSECTS(geometry, BBOX(121, 31, 122, 32)) AND floor_area_m2 / 0 > 1", 0),
    ],
)
def test_a_division_by_zero_has_no_value(api: TestClient, filter_: str, count: int) -> None:
    """As SQL's NULL: cql2 made x / 0 infinity, so `floor_area_m2 / 0 > 1` selected every hall."""
    assert items(api, "halls", filter=filter_)["numberMatched"] == count


def test_a_divisor_that_is_zero_for_some_features_only() -> None:
    features = [
        {"type": "Feature", "id": n, "geometry": None, "properties": {"a": 5, "b": b}}
        for n, b in (("zero", 0), ("one", 1), ("none", None))
    ]
    assert _SpatialFilter(parse_filter("a / b > 1")).select(features, [0, 1, 2]) == [1]  # type: ignore[arg-type]
    assert _SpatialFilter(parse_filter("a / (b * 2) < 100")).select(features, [0, 1, 2]) == [1]  # type: ignore[arg-type]
    assert _SpatialFilter(parse_filter("a / b > 1 OR a = 5")).select(features, [0, 1, 2]) == [0, 1, 2]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- 4. refusals a user can act on
@pytest.mark.parametrize(
    ("filter_", "words"),
    [
        ("floor_area_m2 > 1e400", "1e400 is not a finite number"),
        ("floor_area_m2 > -1e400", "1e400 is not a finite number"),
        ("floor_area_m2 IN (1, 1e999)", "1e999 is not a finite number"),
        ('{"op": ">", "args": [{"property": "floor_area_m2"}, 1e400]}', "1e400 is not a finite number"),
        ("armed", "a filter must be a condition; armed alone is a property (write armed = true"),
        ("armed AND code = 'x'", "armed alone is a property"),
        ("NOT armed", "armed alone is a property"),
        ('{"property": "armed"}', "armed alone is a property"),
        ("1", "1 alone is a value"),
        ("'x'", "'x' alone is a value"),
    ],
)
def test_a_filter_refused_says_what_to_do(api: TestClient, filter_: str, words: str) -> None:
    body = problem_of(api.get("/collections/halls/items", params={"filter": filter_}), 400, "filter")
    assert words in body["detail"] and "oneOf" not in body["detail"], body["detail"]


def test_a_literal_true_is_still_a_filter(api: TestClient) -> None:
    assert items(api, "halls", filter="true")["numberMatched"] == 17
    assert items(api, "halls", filter="code = '1e400'")["numberMatched"] == 0
