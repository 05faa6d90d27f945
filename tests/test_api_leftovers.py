"""Four defects testers found left over: a boolean filtered with 1 or 0 as GDAL writes it, two
properties of different types compared, a feature's history in another CRS, and a repeated
parameter on a page asked for as HTML.

On the test store (VENUE_TWIN_TEST_STORE=postgis runs them on a PostGIS copy of the twin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from api_server import EPSG4549, build_venue, client, problem_of, with_temporary
from fastapi.testclient import TestClient
from pyproj import Transformer

TEMPORARY = {"sp-entrance-square": True, "sp-lighting-south": True, "sp-flower-display": False}  # the rest: neither
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = with_temporary(build_venue(tmp_path_factory.mktemp("leftovers") / "venue.gpkg"), TEMPORARY)
    with client(store) as c:
        yield c


def ids(api: TestClient, layer: str, **params: Any) -> list[str]:
    r = api.get(f"/collections/{layer}/items", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text[:500]
    return sorted(f["id"] for f in r.json()["features"])


# ---------------------------------------------------------------------------- 1. a boolean compared with 1 or 0
def test_a_boolean_filtered_with_1_or_0_as_gdal_writes_it(api: TestClient) -> None:
    """GDAL's OAPIF driver reads a boolean field as Integer(Boolean) and writes `temporary = 1` in CQL2."""
    true = sorted(fid for fid, v in TEMPORARY.items() if v)
    false = sorted(fid for fid, v in TEMPORARY.items() if not v)
    assert ids(api, "south_plaza", filter="temporary = 1") == ids(api, "south_plaza", filter="temporary = true") == true
    assert (
        ids(api, "south_plaza", filter="temporary = 0") == ids(api, "south_plaza", filter="temporary = false") == false
    )
    assert ids(api, "south_plaza", filter="temporary <> 1") == false  # a feature without a value is neither
    assert ids(api, "south_plaza", filter="temporary <> 0") == true
    assert ids(api, "south_plaza", filter="1 = temporary") == true
    assert ids(api, "south_plaza", filter="temporary IN (1)") == true
    assert ids(api, "south_plaza", filter="temporary IN (0, 1)") == sorted(TEMPORARY)
    assert ids(api, "south_plaza", filter="temporary NOT IN (1)") == false
    assert ids(api, "south_plaza", filter="NOT (temporary = 0)") == true
    json_filter = '{"op": "=", "args": [{"property": "temporary"}, 1]}'
    assert ids(api, "south_plaza", filter=json_filter) == true


@pytest.mark.parametrize("filter_", ["temporary = 2", "temporary = -1", "temporary IN (1, 2)", "temporary = 0.5"])
def test_a_boolean_compared_with_another_number_is_refused(api: TestClient, filter_: str) -> None:
    body = problem_of(api.get("/collections/south_plaza/items", params={"filter": filter_}), 400, "filter")
    assert "temporary is boolean, compared with" in body["detail"], body["detail"]
    assert "(true or false, or 1 or 0 in = and IN)" in body["detail"]


def test_a_boolean_is_not_ordered_by_1_or_0(api: TestClient) -> None:
    problem_of(api.get("/collections/south_plaza/items", params={"filter": "temporary > 0"}), 400, "filter")


# ---------------------------------------------------------------------------- 2. two properties of different types
@pytest.mark.parametrize(
    ("layer", "filter_", "words"),
    [
        ("halls", "floor_area_m2 > code", "floor_area_m2 is number, compared with code, which is string"),
        ("halls", "code = floor_area_m2", "code is string, compared with floor_area_m2, which is number"),
        ("halls", "floor_area_m2 <> name_en", "floor_area_m2 is number, compared with name_en, which is string"),
        ("south_plaza", "temporary = pots", "temporary is boolean, compared with pots, which is integer"),
        ("south_plaza", "code IN (temporary)", "code is string, compared with temporary, which is boolean"),
    ],
)
def test_two_properties_of_different_types_are_refused(api: TestClient, layer: str, filter_: str, words: str) -> None:
    """cql2 finds a number never equal to (nor above) a string: 200 with no feature, as if none matched."""
    body = problem_of(api.get(f"/collections/{layer}/items", params={"filter": filter_}), 400, "filter")
    assert words in body["detail"], body["detail"]


def test_an_integer_and_a_real_property_compare(api: TestClient) -> None:
    """pots is an integer, area_m2 a real number: numbers both."""
    with_both = ids(api, "south_plaza", filter="pots IS NOT NULL AND area_m2 IS NOT NULL")
    assert ids(api, "south_plaza", filter="area_m2 > pots OR area_m2 <= pots") == with_both
    assert ids(api, "halls", filter="code = code") == ids(api, "halls")


# ---------------------------------------------------------------------------- 3. a feature's history in another CRS
def test_a_history_in_another_crs(api: TestClient) -> None:
    path = "/collections/halls/items/hall-2.1H/history"
    lonlat = api.get(path).json()["versions"]
    r = api.get(path, params={"crs": EPSG4549})
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-crs"] == f"<{EPSG4549}>"
    assert api.get(path).headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    projected = r.json()["versions"]
    assert len(projected) == len(lonlat) == 2
    to_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)  # easting first
    for shown, stored in zip(projected, lonlat, strict=True):
        assert shown["op"] == stored["op"] and shown["commit"]["id"] == stored["commit"]["id"]
        assert shown["feature"]["properties"] == stored["feature"]["properties"]
        at = shapely.get_coordinates(shapely.geometry.shape(stored["feature"]["geometry"]))
        east, north = to_4549.transform(at[:, 0], at[:, 1])
        out = shapely.get_coordinates(shapely.geometry.shape(shown["feature"]["geometry"]))
        # in the CRS's own axis order, northing first, as the feature itself in that CRS
        assert np.max(np.abs(out[:, 0] - north)) < 1e-6 and np.max(np.abs(out[:, 1] - east)) < 1e-6
    feature = api.get("/collections/halls/items/hall-2.1H", params={"crs": EPSG4549}).json()
    assert feature["geometry"] == projected[-1]["feature"]["geometry"]


def test_a_history_of_a_deleted_feature_in_another_crs(api: TestClient) -> None:
    r = api.get("/collections/south_plaza/items/sp-walkway-temp/history", params={"crs": EPSG4549})
    assert r.status_code == 200, r.text[:500]
    versions = r.json()["versions"]
    assert versions[-1]["op"] == "delete" and versions[-1]["feature"] is None
    assert shapely.get_coordinates(shapely.geometry.shape(versions[0]["feature"]["geometry"]))[0, 0] > 3_000_000


def test_a_history_in_an_unknown_crs_is_refused(api: TestClient) -> None:
    url = "/collections/halls/items/hall-2.1H/history"
    problem_of(api.get(url, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/99999"}), 400, "crs")
    problem_of(api.get(url, params={"crs": "EPSG:4549"}), 400, "crs")  # a URI, as the items take


# ---------------------------------------------------------------------------- 4. a repeated parameter on a page
@pytest.mark.parametrize("path", ["/completion/units", "/collections", "/collections/halls/items"])
@pytest.mark.parametrize("query", ["f=html&f=csv", "f=csv&f=html", "f=html&f=json", "f=json&f=html"])
def test_a_repeated_parameter_asked_for_as_html_is_a_page(api: TestClient, path: str, query: str) -> None:
    r = api.get(f"{path}?{query}")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    assert 'data-parameter="f"' in r.text


@pytest.mark.parametrize("path", ["/completion/units", "/collections"])
def test_a_repeated_parameter_from_a_browser_is_a_page(api: TestClient, path: str) -> None:
    r = api.get(f"{path}?lang=en&lang=zh", headers={"accept": BROWSER})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text[:300]


@pytest.mark.parametrize("path", ["/completion/units", "/collections"])
@pytest.mark.parametrize(
    ("query", "headers"),
    [("f=json&f=csv", {}), ("f=json&f=json", {"accept": BROWSER}), ("lang=en&lang=zh", {"accept": "application/json"})],
)
def test_a_repeated_parameter_from_a_script_is_problem_json(
    api: TestClient, path: str, query: str, headers: dict[str, str]
) -> None:
    body = problem_of(api.get(f"{path}?{query}", headers=headers), 400, query.split("=", 1)[0])
    assert body["code"] == "repeated_parameter"
