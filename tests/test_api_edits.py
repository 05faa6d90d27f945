"""OGC API - Features Part 4 over the twin: each write is one commit, by the token's holder.

POST, PUT, PATCH (JSON merge patch) and DELETE with ETags and If-Match (412 and nothing changes),
OPTIONS, and bad input (malformed JSON, bad geometry, outside the venue, unknown CRS, too large,
unknown collection or feature): a 4xx naming the reason and the twin exactly as it was.

Each test writes to its own copy of the bundled twin.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson
import pytest
import shapely
from api_server import (
    EPSG4326,
    EPSG4549,
    TOKEN_NAMES,
    LiveServer,
    bearer,
    build_venue,
    client,
    copy_store,
    make_tokens,
    problem_of,
)
from fastapi.testclient import TestClient
from pyproj import Transformer

from api.main import create_app
from api.settings import ApiSettings
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.io import FORMATS
from twin import Change, Feature, LayerSchema, Twin, feature_from_geojson
from twin.stores import open_store

T_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
GEOJSON = {"Content-Type": "application/geo+json"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("api-edits")
    store = build_venue(d / "venue.gpkg")
    return store, store, make_tokens(store)


@pytest.fixture
def store(base: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Path:
    return copy_store(base[0], tmp_path / "venue.gpkg")


@pytest.fixture
def api(base: tuple[Path, Path, dict[str, str]], store: Path) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


@pytest.fixture
def editor(base: tuple[Path, Path, dict[str, str]]) -> dict[str, str]:
    return {**bearer(base[2]["editor"]), **GEOJSON}


@pytest.fixture
def twin(store: Path, api: TestClient) -> Iterator[Twin]:
    """An independent reader of the twin the API writes to."""
    t = Twin.open(store)
    yield t
    t.close()


# ---------------------------------------------------------------------------- helpers
def flower_bed(fid: str | None = "ls-flower-bed-test", **props: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [121.2950, 31.1860],
                    [121.2954, 31.1860],
                    [121.2954, 31.1863],
                    [121.2950, 31.1863],
                    [121.2950, 31.1860],
                ]
            ],
        },
        "properties": {
            "code": "FB-T1",
            "name_zh": "测试花坛",
            "name_en": "Test flower bed",
            "kind": "flower_bed",
            "pots": 1200,
            "responsible_unit": "青浦区绿化和市容管理局",
            **props,
        },
    }
    if fid is not None:
        f["id"] = fid
    return f


def versions(api: TestClient) -> dict[str, Any]:
    return api.get("/versions?limit=1").json()  # type: ignore[no-any-return]


def state(api: TestClient) -> tuple[int, str]:
    v = versions(api)
    return v["numberMatched"], v["versions"][0]["id"]


def snapshot(twin: Twin) -> dict[str, list[bytes]]:
    return {s.name: twin.features(s.name).features for s in twin.layers()}


def newest(api: TestClient) -> dict[str, Any]:
    return versions(api)["versions"][0]  # type: ignore[no-any-return]


def hall(api: TestClient, fid: str = "hall-1.1H") -> tuple[dict[str, Any], str]:
    r = api.get(f"/collections/halls/items/{fid}")
    assert r.status_code == 200
    return r.json(), r.headers["etag"]


def send(api: TestClient, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return api.request(method, url, content=content, headers=headers)


# ---------------------------------------------------------------------------- create
def test_post_is_one_commit_by_the_token_holder(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    n, head = state(api)
    count = twin.count("landscaping")
    r = send(
        api,
        "POST",
        "/collections/landscaping/items",
        flower_bed(),
        {**editor, "X-Twin-Message": "Flower bed at the P5 walkway"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/collections/landscaping/items/ls-flower-bed-test")
    commit = r.headers["x-twin-commit"]
    assert state(api) == (n + 1, commit)
    c = newest(api)
    assert c["author"] == TOKEN_NAMES["editor"] == "li.wei"
    assert c["message"] == "Flower bed at the P5 walkway"
    assert c["parent"] == head
    assert c["counts"] == {"landscaping": {"added": 1, "modified": 0, "deleted": 0}}
    got = api.get("/collections/landscaping/items/ls-flower-bed-test")
    assert got.status_code == 200 and got.headers["etag"] == r.headers["etag"]
    assert got.json()["properties"]["pots"] == 1200
    assert twin.count("landscaping") == count + 1
    diff = api.get("/diff", params={"from": "HEAD~1"}).json()
    assert [(f["id"], f["twin:change"]) for f in diff["features"]] == [("ls-flower-bed-test", "added")]
    assert api.get("/collections/landscaping/items").json()["numberMatched"] == count + 1


def test_post_of_a_cql2_json_filter_is_a_search(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    """A CQL2 JSON expression posted to /items (OWSLib's `cql=`) is a search: 303 to the GET with
    it as the filter and the request's own parameters; no token needed where reads need none, and
    nothing is committed."""
    before = state(api)
    lawns = {"op": "=", "args": [{"property": "kind"}, "lawn"]}
    for headers in ({"Content-Type": "application/json"}, {"Content-Type": "application/query-cql-json"}):
        r = api.post(
            "/collections/landscaping/items?limit=2&sortby=code",
            content=orjson.dumps(lawns),
            headers=headers,
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        got = api.get(r.headers["location"]).json()
        want = api.get(
            "/collections/landscaping/items",
            params={"limit": 2, "sortby": "code", "filter": "kind = 'lawn'"},
        ).json()
        assert [f["id"] for f in got["features"]] == [f["id"] for f in want["features"]]
        assert got["numberMatched"] == want["numberMatched"] > 2
    # through the redirect, a bad filter is the GET's 400 naming it
    r = api.post("/collections/landscaping/items", json={"op": "=", "args": [{"property": "nope"}, 1]})
    assert "nope" in problem_of(r, 400, "filter")["detail"]
    # a filter in the query beside one in the body: which one? refused, naming it
    problem_of(
        api.post("/collections/landscaping/items?filter=pots>1", json=lawns, follow_redirects=False), 400, "filter"
    )
    # features to add are still an add (a token needed), and an add takes no query parameters
    assert api.post("/collections/landscaping/items", json=flower_bed()).status_code == 401
    r = api.post("/collections/landscaping/items?limit=2", content=orjson.dumps(flower_bed()), headers=editor)
    assert "no query parameters" in problem_of(r, 400, "limit")["detail"]
    assert state(api) == before


def test_post_a_feature_collection_is_one_commit(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    n, _ = state(api)
    second = flower_bed("ls-flower-bed-test-2", code="FB-T2")
    second["geometry"]["coordinates"] = [[[x + 0.001, y] for x, y in second["geometry"]["coordinates"][0]]]
    body = {"type": "FeatureCollection", "features": [flower_bed(), second]}
    r = send(api, "POST", "/collections/landscaping/items", body, editor)
    assert r.status_code == 201, r.text
    assert sorted(r.json()["ids"]) == ["ls-flower-bed-test", "ls-flower-bed-test-2"]
    assert state(api)[0] == n + 1
    assert newest(api)["counts"] == {"landscaping": {"added": 2, "modified": 0, "deleted": 0}}
    assert newest(api)["message"]  # a default message when none is given


def test_post_without_an_id_gets_one(api: TestClient, editor: dict[str, str]) -> None:
    r = send(api, "POST", "/collections/landscaping/items", flower_bed(None), editor)
    assert r.status_code == 201, r.text
    (fid,) = r.json()["ids"]
    assert fid
    assert api.get(f"/collections/landscaping/items/{fid}").json()["properties"]["code"] == "FB-T1"


@pytest.mark.parametrize("fid", ["花坛 北门", "bed #1?x=2", "50%", "café"])
def test_post_of_an_id_that_is_not_url_safe_answers_its_url(
    api: TestClient, twin: Twin, editor: dict[str, str], fid: str
) -> None:
    """Location and the feature's links hold the id percent-encoded: a Chinese id (not latin-1,
    which a header cannot carry) must not fail after its commit, and `#`, `?`, `%` or a space must
    not make the link name another resource."""
    n, _ = state(api)
    r = send(api, "POST", "/collections/landscaping/items", flower_bed(fid), editor)
    assert r.status_code == 201, r.text
    assert state(api)[0] == n + 1
    quoted = quote(fid, safe="")
    loc = r.headers["location"]
    assert loc.endswith(f"/collections/landscaping/items/{quoted}"), loc
    got = api.get(loc)
    assert got.status_code == 200 and got.json()["id"] == fid
    hrefs = {link["rel"]: link["href"] for link in got.json()["links"]}
    assert hrefs["self"] == loc
    assert hrefs["version-history"] == f"{loc}/history"
    assert api.get(hrefs["version-history"]).status_code == 200


@pytest.mark.parametrize("fid", ["bed/1", "/", ".", ".."])
def test_post_of_an_id_no_url_can_name_is_refused(api: TestClient, editor: dict[str, str], fid: str) -> None:
    """An id holding `/` (routes match the decoded path, so %2F is a `/` too) or a dot segment
    (clients resolve it away) could never be read, replaced or deleted at /items/{id}: a 400."""
    before = state(api)
    r = send(api, "POST", "/collections/landscaping/items", flower_bed(fid), editor)
    assert repr(fid) in problem_of(r, 400)["detail"]
    assert state(api) == before


LONG_ID = "x" * 300_000


@pytest.mark.parametrize(
    "method,url,body,reason",
    [
        ("POST", "/collections/landscaping/items", flower_bed(LONG_ID), "300,000 characters long; an id holds at most"),
        ("POST", "/collections/landscaping/items", flower_bed("a/" * 200), "cannot be part of a URL"),
        ("PUT", f"/collections/landscaping/items/{'x' * 300}", flower_bed(None), "300 characters long"),
        ("PATCH", f"/collections/landscaping/items/{'x' * 300}", {"properties": {"pots": 3}}, "300 characters long"),
        ("DELETE", f"/collections/landscaping/items/{'x' * 300}", None, "300 characters long"),
        ("PUT", "/collections/landscaping/items/ls-clover-green", flower_bed(LONG_ID), "is not 'ls-clover-green'"),
        ("PATCH", "/collections/landscaping/items/ls-clover-green", {"id": LONG_ID}, "is not 'ls-clover-green'"),
    ],
)
def test_an_id_too_long_is_400_naming_the_limit_not_the_whole_id(
    api: TestClient, twin: Twin, editor: dict[str, str], method: str, url: str, body: Any, reason: str
) -> None:
    """A 300,000-character id was taken by the GeoPackage store and failed the PostGIS commit (500);
    the refusal names the limit and the id's length, and shows the id cut short."""
    n, head = state(api)
    before = snapshot(twin)
    r = api.request(method, url, content=None if body is None else orjson.dumps(body), headers=editor)
    detail = problem_of(r, 400)["detail"]
    assert reason in detail and len(r.content) < 2000, detail[:500]
    assert state(api) == (n, head)
    assert snapshot(twin) == before


@pytest.mark.parametrize("crs", [EPSG4549, EPSG4326])
def test_post_in_another_crs_with_content_crs(api: TestClient, twin: Twin, editor: dict[str, str], crs: str) -> None:
    """Content-Crs names the body's CRS, in that CRS's axis order (northing/latitude first here)."""
    f = flower_bed()
    ring = np.array(f["geometry"]["coordinates"][0])
    if crs == EPSG4549:
        e, n = T_4549.transform(ring[:, 0], ring[:, 1])
        given = np.column_stack([n, e])
    else:
        given = ring[:, ::-1]
    f["geometry"]["coordinates"] = [given.tolist()]
    r = send(api, "POST", "/collections/landscaping/items", f, {**editor, "Content-Crs": f"<{crs}>"})
    assert r.status_code == 201, r.text
    stored = shapely.get_coordinates(feature_from_geojson(twin.feature("landscaping", "ls-flower-bed-test")).geometry)
    assert np.max(np.abs(stored - ring)) < 1e-7  # about a centimetre


def test_a_write_in_another_crs_names_its_axis_order_as_a_bbox_does(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    """Easting first under Content-Crs EPSG:4549 (northing first) was "outside the venue's area of
    interest"; a bbox or filter with the same slip says the CRS's axis order, and so does a write now
    (api.features._misplaced, one check for all three). Nothing is committed."""
    n, head = state(api)
    f = flower_bed()
    ring = np.array(f["geometry"]["coordinates"][0])
    e, north = T_4549.transform(ring[:, 0], ring[:, 1])
    f["geometry"]["coordinates"] = [np.column_stack([e, north]).tolist()]  # easting first: the slip
    header = {**editor, "Content-Crs": f"<{EPSG4549}>"}
    box = f"{min(e)},{min(north)},{max(e)},{max(north)}"
    read = problem_of(api.get("/collections/landscaping/items", params={"bbox": box, "bbox-crs": EPSG4549}), 400)
    said = "EPSG:4549 takes northing,easting order"
    assert said in read["detail"]
    item = "/collections/landscaping/items/ls-clover-green"
    for method, url, body in (
        ("POST", "/collections/landscaping/items", f),
        ("PUT", item, {**f, "id": "ls-clover-green"}),
        ("PATCH", item, {"geometry": f["geometry"]}),
    ):
        detail = problem_of(send(api, method, url, body, header), 400)["detail"]
        assert said in detail and "with its axes swapped it lies inside" in detail, (method, detail)
        assert "area of interest" not in detail
    # degrees under a CRS of metres: said so, as for a bbox
    f["geometry"] = _square(121.2950, 31.1860)
    detail = problem_of(send(api, "POST", "/collections/landscaping/items", f, header), 400)["detail"]
    assert "look like degrees" in detail and "leave out Content-Crs (CRS84) for lon/lat" in detail
    assert state(api) == (n, head)


def test_a_geojson_crs_member_is_refused_unless_it_names_lon_lat(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    """The legacy "crs" member (`venue-twin export --crs EPSG:3857` writes it) was ignored on a
    write: its metres were read as lon/lat. It is refused naming it (Content-Crs names a write's
    CRS); one naming lon/lat, as GDAL and QGIS write into every export, is taken as it was."""
    n, head = state(api)
    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    f = flower_bed()
    ring = np.array(f["geometry"]["coordinates"][0])
    x, y = to_3857.transform(ring[:, 0], ring[:, 1])
    metres = {**f, "geometry": {"type": "Polygon", "coordinates": [np.column_stack([x, y]).tolist()]}}
    named = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    for body in (
        {**metres, "crs": named},
        {"type": "FeatureCollection", "crs": named, "features": [metres]},
        {"type": "FeatureCollection", "features": [{**metres, "crs": named}]},
    ):
        detail = problem_of(send(api, "POST", "/collections/landscaping/items", body, editor), 400)["detail"]
        assert "crs member" in detail and "EPSG::3857" in detail and "Content-Crs" in detail, detail
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    # lon/lat named beside another Content-Crs: the two disagree
    header = {**editor, "Content-Crs": f"<{EPSG4549}>"}
    detail = problem_of(send(api, "POST", "/collections/landscaping/items", {**f, "crs": crs84}, header), 400)["detail"]
    assert "crs member names lon/lat" in detail and EPSG4549 in detail
    assert state(api) == (n, head)
    collection = {"type": "FeatureCollection", "crs": crs84, "features": [f]}
    r = send(api, "POST", "/collections/landscaping/items", collection, editor)
    assert r.status_code == 201, r.text
    stored = shapely.get_coordinates(feature_from_geojson(twin.feature("landscaping", "ls-flower-bed-test")).geometry)
    assert np.max(np.abs(stored - ring)) < 1e-9


# ---------------------------------------------------------------------------- replace, update, delete
def test_put_replaces_the_feature(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    doc, etag = hall(api)
    n, _ = state(api)
    props = {k: v for k, v in doc["properties"].items() if k != "notes"}
    props["floor_area_m2"] = 30000.0
    body = {"type": "Feature", "geometry": doc["geometry"], "properties": props}
    r = send(api, "PUT", "/collections/halls/items/hall-1.1H", body, {**editor, "If-Match": etag})
    assert r.status_code == 204, r.text
    new_doc, new_etag = hall(api)
    assert new_etag == r.headers["etag"] != etag
    assert new_doc["properties"] == props
    assert state(api) == (n + 1, r.headers["x-twin-commit"])
    assert newest(api)["author"] == "li.wei"
    assert [h.op for h in twin.history("halls", "hall-1.1H")] == ["add", "modify"]


def test_a_put_or_patch_sent_again_succeeds_and_makes_no_commit(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    """PUT is idempotent (RFC 9110): a write sent again (a retry after a lost answer, a client that
    saves unchanged features) answers 204 with the feature's ETag, and commits nothing."""
    doc, _ = hall(api, "hall-3H")
    body = {"type": "Feature", "geometry": doc["geometry"], "properties": {**doc["properties"], "notes": "QA"}}
    first = send(api, "PUT", "/collections/halls/items/hall-3H", body, editor)
    assert first.status_code == 204, first.text
    n, head = state(api)
    before = snapshot(twin)
    again = send(api, "PUT", "/collections/halls/items/hall-3H", body, editor)
    assert again.status_code == 204, again.text
    assert again.headers["etag"] == first.headers["etag"] == hall(api, "hall-3H")[1]
    assert "x-twin-commit" not in again.headers
    patch = {"properties": {"notes": "QA"}}
    headers = {**editor, "Content-Type": "application/merge-patch+json", "If-Match": first.headers["etag"]}
    same = send(api, "PATCH", "/collections/halls/items/hall-3H", patch, headers)
    assert same.status_code == 204, same.text
    assert same.headers["etag"] == first.headers["etag"]
    assert state(api) == (n, head)
    assert snapshot(twin) == before


def test_the_version_log_pages_on_through_a_commit_landing_between_pages(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    """The log is newest first: a commit between two pages used to shift it by one, so the next page
    began with the entry the previous one ended with. Its page links name the head they read."""
    log = [c.id for c in twin.log(100_000)]
    first = api.get("/versions", params={"limit": 3}).json()
    assert [v["id"] for v in first["versions"]] == log[:3]
    patch = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-3H",
        {"properties": {"notes": "lands between two pages"}},
        {**editor, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 204, patch.text
    got = [v["id"] for v in first["versions"]]
    page = first
    while nxt := [lk for lk in page["links"] if lk["rel"] == "next"]:
        page = api.get(nxt[0]["href"].removeprefix("http://testserver")).json()
        assert page["numberMatched"] == len(log)
        got += [v["id"] for v in page["versions"]]
    assert got == log  # every commit once, in order, as the log stood at the first page
    prev = [lk for lk in page["links"] if lk["rel"] == "prev"][0]["href"].removeprefix("http://testserver")
    assert api.get(prev).json()["versions"][-1]["id"] == log[-len(page["versions"]) - 1]
    # a log read as of a commit starts there; the head's log has the new commit first
    older = api.get("/versions", params={"version": log[1], "limit": 2}).json()
    assert [v["id"] for v in older["versions"]] == log[1:3] and older["numberMatched"] == len(log) - 1
    now = api.get("/versions", params={"limit": 1}).json()
    assert now["numberMatched"] == len(log) + 1 and now["versions"][0]["id"] == patch.headers["x-twin-commit"]
    problem_of(api.get("/versions", params={"version": "abcdef12"}), 400, "version")


def test_patch_is_one_commit_whose_diff_shows_the_change(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    before, etag = hall(api, "hall-2.1H")
    assert before["properties"]["project_code"] == "HL-02"
    n, head = state(api)
    patch = {"properties": {"notes": "Ceiling lights replaced; handed over 2026-10-30.", "project_code": None}}
    r = api.patch(
        "/collections/halls/items/hall-2.1H",
        content=orjson.dumps(patch),
        headers={
            **editor,
            "Content-Type": "application/merge-patch+json",
            "If-Match": etag,
            "X-Twin-Message": "Hall 2.1H handed over",
        },
    )
    assert r.status_code == 204, r.text
    n2, head2 = state(api)
    assert n2 == n + 1 and head2 == r.headers["x-twin-commit"]
    c = newest(api)
    assert c["author"] == "li.wei" and c["message"] == "Hall 2.1H handed over" and c["parent"] == head
    assert c["counts"] == {"halls": {"added": 0, "modified": 1, "deleted": 0}}
    after, _ = hall(api, "hall-2.1H")
    assert after["geometry"] == before["geometry"]
    expected = {k: v for k, v in before["properties"].items() if k != "project_code"}
    expected["notes"] = patch["properties"]["notes"]
    assert after["properties"] == expected
    diff = api.get("/diff", params={"from": head, "to": head2}).json()
    (entry,) = diff["features"]
    assert (entry["twin:layer"], entry["id"], entry["twin:change"]) == ("halls", "hall-2.1H", "modified")
    assert entry["twin:before"]["properties"] == before["properties"]
    assert entry["properties"] == expected
    assert orjson.loads(twin.feature("halls", "hall-2.1H"))["properties"] == expected


def test_patch_geometry_in_content_crs(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    doc, etag = hall(api)
    ring = np.array(doc["geometry"]["coordinates"][0]) + [0.0001, 0.0]
    e, n = T_4549.transform(ring[:, 0], ring[:, 1])
    patch = {"geometry": {"type": "Polygon", "coordinates": [np.column_stack([n, e]).tolist()]}}
    r = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        patch,
        {**editor, "If-Match": etag, "Content-Crs": f"<{EPSG4549}>"},
    )
    assert r.status_code == 204, r.text
    stored = shapely.get_coordinates(feature_from_geojson(twin.feature("halls", "hall-1.1H")).geometry)
    assert np.max(np.abs(stored - ring)) < 1e-7
    assert orjson.loads(twin.feature("halls", "hall-1.1H"))["properties"] == doc["properties"]


def test_delete_is_one_commit_and_the_past_keeps_the_feature(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    _, etag = hall(api, "hall-NH")
    n, _ = state(api)
    r = api.delete("/collections/halls/items/hall-NH", headers={**editor, "If-Match": etag})
    assert r.status_code == 204, r.text
    assert state(api) == (n + 1, r.headers["x-twin-commit"])
    assert newest(api)["counts"] == {"halls": {"added": 0, "modified": 0, "deleted": 1}}
    problem_of(api.get("/collections/halls/items/hall-NH"), 404)
    assert api.get("/collections/halls/items/hall-NH", params={"version": "HEAD~1"}).status_code == 200
    assert api.get("/collections/halls/items").json()["numberMatched"] == 16 == twin.count("halls")
    hist = api.get("/collections/halls/items/hall-NH/history").json()["versions"]
    assert hist[-1]["op"] == "delete" and hist[-1]["commit"]["author"] == "li.wei"
    diff = api.get("/diff", params={"from": "HEAD~1"}).json()
    assert [(f["id"], f["twin:change"]) for f in diff["features"]] == [("hall-NH", "deleted")]


def test_if_match_star_and_lists(api: TestClient, editor: dict[str, str]) -> None:
    r = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"notes": "one"}},
        {**editor, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text
    _, etag = hall(api)
    r = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"notes": "two"}},
        {**editor, "If-Match": f'"0000", {etag}'},
    )
    assert r.status_code == 204, r.text
    assert hall(api)[0]["properties"]["notes"] == "two"
    # A weak tag of the current version: refused (If-Match compares strongly), saying so, not "changed".
    _, etag = hall(api)
    r = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"notes": "three"}},
        {**editor, "If-Match": f"W/{etag}"},
    )
    detail = problem_of(r, 412)["detail"]
    assert "weak" in detail and "has not changed" in detail and hall(api)[0]["properties"]["notes"] == "two"


# ---------------------------------------------------------------------------- optimistic locking
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_nothing_changes(
    api: TestClient, twin: Twin, editor: dict[str, str], method: str
) -> None:
    doc, stale = hall(api)
    # Someone else changes the hall after we read it.
    r = send(
        api,
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"notes": "changed by Zhou Min"}},
        {**editor, "If-Match": stale},
    )
    assert r.status_code == 204
    n, head = state(api)
    current = twin.feature("halls", "hall-1.1H")
    body = {"type": "Feature", "geometry": doc["geometry"], "properties": {**doc["properties"], "notes": "mine"}}
    if method == "PATCH":
        body = {"properties": {"notes": "mine"}}
    r = api.request(
        method,
        "/collections/halls/items/hall-1.1H",
        content=orjson.dumps(body) if method != "DELETE" else None,
        headers={**editor, "If-Match": stale},
    )
    problem_of(r, 412)
    assert state(api) == (n, head)
    assert twin.feature("halls", "hall-1.1H") == current
    assert hall(api)[0]["properties"]["notes"] == "changed by Zhou Min"


class RacingTwin(Twin):
    """A twin where another writer commits just before the API's next commit lands."""

    def __init__(self, path: Any):
        super().__init__(open_store(path))  # the test store: a file or a PostGIS URL
        self.intruder: list[Change] | None = None

    def commit(self, changes: Any, **kw: Any) -> Any:  # type: ignore[override]
        if self.intruder is not None:
            theirs, self.intruder = self.intruder, None
            super().commit(theirs, author="zhou.min", message="A concurrent edit")
        return super().commit(changes, **kw)


def test_if_match_holds_against_a_concurrent_commit(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str]
) -> None:
    """If-Match is checked and the commit made as one step: a commit landing in between is not lost.

    Here the other writer commits after the API compared the ETag but before it committed; the
    API must then answer 412 (or 409), not overwrite the other writer's change.
    """
    racing = RacingTwin(store)
    try:
        with TestClient(create_app(ApiSettings(store=store), racing), raise_server_exceptions=False) as api:
            _, etag = hall(api)
            theirs = feature_from_geojson(racing.feature("halls", "hall-1.1H"))
            theirs.properties["notes"] = "changed by Zhou Min"
            racing.intruder = [Change("halls", "modify", "hall-1.1H", theirs)]
            n = versions(api)["numberMatched"]
            r = send(
                api,
                "PATCH",
                "/collections/halls/items/hall-1.1H",
                {"properties": {"floor_area_m2": 1.0}},
                {**editor, "If-Match": etag},
            )
            assert r.status_code in (409, 412), (r.status_code, r.text)
            assert versions(api)["numberMatched"] == n + 1  # only the other writer's commit
            assert hall(api)[0]["properties"]["notes"] == "changed by Zhou Min"
    finally:
        racing.close()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_write_lands_on_a_commit_to_another_feature(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str], method: str
) -> None:
    """A commit to another hall landing between the ETag check and the commit does not stop the
    write: it applies on top (204), after the other writer's commit, and both changes stay."""
    racing = RacingTwin(store)
    try:
        with TestClient(create_app(ApiSettings(store=store), racing), raise_server_exceptions=False) as api:
            doc, etag = hall(api)
            theirs = feature_from_geojson(racing.feature("halls", "hall-1.2H"))
            theirs.properties["notes"] = "changed by Zhou Min"
            racing.intruder = [Change("halls", "modify", "hall-1.2H", theirs)]
            n, head = state(api)
            body: Any = {"properties": {"notes": "mine"}}
            if method == "PUT":
                body = {**doc, "properties": {**doc["properties"], "notes": "mine"}}
            r = api.request(method, "/collections/halls/items/hall-1.1H",
                            content=orjson.dumps(body) if method != "DELETE" else None,
                            headers={**editor, "If-Match": etag})  # fmt: skip
            assert r.status_code == 204, (r.status_code, r.text)
            log = api.get("/versions?limit=2").json()
            assert log["numberMatched"] == n + 2
            mine, other = log["versions"]
            assert (mine["id"], mine["parent"], other["parent"]) == (r.headers["x-twin-commit"], other["id"], head)
            assert hall(api, "hall-1.2H")[0]["properties"]["notes"] == "changed by Zhou Min"
            got = api.get("/collections/halls/items/hall-1.1H")
            if method == "DELETE":
                assert got.status_code == 404
            else:
                assert got.json()["properties"]["notes"] == "mine" and got.headers["etag"] == r.headers["etag"]
            assert racing.fsck() == []
    finally:
        racing.close()


class MeetingTwin(Twin):
    """A twin whose commits wait for each other: none starts until `writers` requests have come
    to commit, so each read the head before any of them moved it (a race every time)."""

    def __init__(self, path: Any, writers: int):
        super().__init__(open_store(path))
        self.meet = threading.Barrier(writers, timeout=120)  # a broken barrier fails the test

    def commit(self, changes: Any, **kw: Any) -> Any:  # type: ignore[override]
        self.meet.wait()
        return super().commit(changes, **kw)


RACES = [
    # name, the two bodies, what the loser's 409 names
    ("the same id", (flower_bed(), flower_bed(code="FB-T2")), "landscaping/ls-flower-bed-test was added since"),
    ("the same code", (flower_bed("ls-race-a"), flower_bed("ls-race-b")), "code 'FB-T1' was given to feature"),
]


@pytest.mark.parametrize("bodies,named", [r[1:] for r in RACES], ids=[r[0] for r in RACES])
def test_the_losing_post_of_a_race_is_409_naming_what_conflicted(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str], bodies: Any, named: str
) -> None:
    """Two clients POST at once and both read the head before either commits: the one that
    commits second finds its id (or code) taken since, a conflict (409 naming it), not bad input."""
    meeting = MeetingTwin(store, writers=2)
    results: list[Any] = []  # the responses, or what a thread raised
    try:
        with TestClient(create_app(ApiSettings(store=store), meeting), raise_server_exceptions=False) as api:
            n, _ = state(api)

            def post(body: dict[str, Any]) -> None:
                try:
                    results.append(send(api, "POST", "/collections/landscaping/items", body, editor))
                except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                    results.append(e)

            threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
            for th in threads:
                th.start()
            for th in threads:
                th.join(300)
            assert not any(th.is_alive() for th in threads)
            assert not any(isinstance(r, BaseException) for r in results), results
            won, lost = got = sorted(results, key=lambda r: r.status_code)
            assert (won.status_code, lost.status_code) == (201, 409), [(r.status_code, r.text) for r in got]
            assert named in problem_of(lost, 409)["detail"]
            assert state(api) == (n + 1, won.headers["x-twin-commit"])  # only the winner's commit
            assert meeting.fsck() == []
    finally:
        meeting.close()


def test_posts_of_distinct_features_racing_both_land(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str]
) -> None:
    """Two POSTs of distinct features that both read the head before either commits both land
    (201): the second is rebased on the first, as an If-Match edit is on an edit of another one."""
    meeting = MeetingTwin(store, writers=2)
    results: list[Any] = []
    try:
        with TestClient(create_app(ApiSettings(store=store), meeting), raise_server_exceptions=False) as api:
            n, _ = state(api)
            bodies = [flower_bed("ls-race-a", code="FB-T3"), flower_bed("ls-race-b", code="FB-T4")]
            threads = [
                threading.Thread(target=lambda b=b: results.append(
                    send(api, "POST", "/collections/landscaping/items", b, editor)))
                for b in bodies
            ]  # fmt: skip
            for th in threads:
                th.start()
            for th in threads:
                th.join(300)
            assert not any(th.is_alive() for th in threads)
            assert sorted(r.status_code for r in results) == [201, 201], [r.text for r in results]
            assert state(api)[0] == n + 2
            for fid in ("ls-race-a", "ls-race-b"):
                assert api.get(f"/collections/landscaping/items/{fid}").status_code == 200
            assert meeting.fsck() == []
    finally:
        meeting.close()


def test_a_post_that_lands_after_another_took_its_id_is_409_not_400(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str]
) -> None:
    """The other writer adds the same id after the POST read the head and before it commits: 409
    naming the feature. The same POST sent again then finds the id there already: 400, as any
    POST of an id that exists."""
    racing = RacingTwin(store)
    try:
        with TestClient(create_app(ApiSettings(store=store), racing), raise_server_exceptions=False) as api:
            racing.intruder = [Change("landscaping", "add", "ls-flower-bed-test", feature_from_geojson(flower_bed()))]
            n = versions(api)["numberMatched"]
            r = send(api, "POST", "/collections/landscaping/items", flower_bed(name_en="mine"), editor)
            assert "landscaping/ls-flower-bed-test was added since" in problem_of(r, 409)["detail"]
            assert versions(api)["numberMatched"] == n + 1  # only the other writer's commit
            again = send(api, "POST", "/collections/landscaping/items", flower_bed(name_en="mine"), editor)
            assert "exists already" in problem_of(again, 400)["detail"]
            got = api.get("/collections/landscaping/items/ls-flower-bed-test").json()
            assert got["properties"]["name_en"] == "Test flower bed"
    finally:
        racing.close()


# ---------------------------------------------------------------------------- OPTIONS
def test_options_answers_allow(api: TestClient) -> None:
    r = api.options("/collections/halls/items")
    assert r.status_code in (200, 204)
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in r.headers["allow"].split(",")}
    r = api.options("/collections/halls/items/hall-1.1H")
    assert {"GET", "PUT", "PATCH", "DELETE", "OPTIONS"} <= {m.strip() for m in r.headers["allow"].split(",")}
    assert "DELETE" not in api.options("/collections/halls/items/no-such-hall").headers["allow"]
    problem_of(api.options("/collections/nope/items"), 404)


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PUT", "/collections/halls/items", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("POST", "/collections/halls/items/hall-1.1H", {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        ("DELETE", "/collections/halls", {"GET", "HEAD"}),
    ],
)
def test_a_method_not_allowed_answers_every_method_that_is(
    api: TestClient, method: str, url: str, allowed: set[str]
) -> None:
    """405's Allow lists the resource's methods (RFC 9110), not only those of the first route that
    matched the path (each method is a route of its own)."""
    r = api.request(method, url)
    problem_of(r, 405)
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


# ---------------------------------------------------------------------------- bad input
def _bowtie() -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[121.295, 31.186], [121.296, 31.187], [121.296, 31.186], [121.295, 31.187], [121.295, 31.186]]
        ],
    }


def _square(x: float, y: float, side: float = 0.0002) -> dict[str, Any]:
    """A small square at (x, y): landscaping takes areas only."""
    return {"type": "Polygon", "coordinates": [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]]}


def _with(geometry: Any = ..., **props: Any) -> dict[str, Any]:
    f = flower_bed(**props)
    if geometry is not ...:
        f["geometry"] = geometry
    return f


def _bad_props(**changes: Any) -> dict[str, Any]:
    f = flower_bed()
    for k, v in changes.items():
        if v is None:
            f["properties"].pop(k)
        else:
            f["properties"][k] = v
    return f


BAD = [
    # (name, method, url, body, extra headers, status, words the reason must contain)
    ("malformed JSON", "POST", "/collections/landscaping/items", b'{"type": "Feature", "geometry": {', {}, 400, "JSON"),
    ("empty body", "POST", "/collections/landscaping/items", b"", {}, 400, "JSON"),
    ("a JSON array", "POST", "/collections/landscaping/items", b"[1, 2]", {}, 400, "Feature"),
    (
        "not a Feature",
        "POST",
        "/collections/landscaping/items",
        {"type": "Point", "coordinates": [121.29, 31.19]},
        {},
        400,
        "Feature",
    ),
    (
        "empty collection",
        "POST",
        "/collections/landscaping/items",
        {"type": "FeatureCollection", "features": []},
        {},
        400,
        "Feature",
    ),
    ("no geometry", "POST", "/collections/landscaping/items", _with(None), {}, 400, "geometry"),
    (
        "geometry not an object",
        "POST",
        "/collections/landscaping/items",
        _with("POINT (121.29 31.19)"),
        {},
        400,
        "geometry",
    ),
    (
        "unreadable coordinates",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Polygon", "coordinates": "x"}),
        {},
        400,
        "unreadable geometry: Polygon coordinates must be a list of rings, each a list of [x, y] positions",
    ),
    (
        "polygon coordinates nested wrongly",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Polygon", "coordinates": [[121.295, 31.186], [121.296, 31.186]]}),
        {},
        400,
        "Polygon coordinates must be a list of rings",
    ),
    (
        "a position of text",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Polygon", "coordinates": [[["121.295", "31.186"]] * 4]}),
        {},
        400,
        'a position holds finite numbers, got ["121.295","31.186"]',
    ),
    (
        "ring left open",
        "POST",
        "/collections/landscaping/items",
        _with(
            {
                "type": "Polygon",
                "coordinates": [[[121.295, 31.186], [121.296, 31.186], [121.296, 31.187], [121.295, 31.187]]],
            }
        ),
        {},
        400,
        "a ring must end where it starts (ring #1 ends at [121.295,31.187]",
    ),
    (
        "geometry without coordinates",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Polygon"}),
        {},
        400,
        "the Polygon has no coordinates",
    ),
    (
        "unclosed ring",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Polygon", "coordinates": [[[121.295, 31.186], [121.296, 31.186], [121.296, 31.187]]]}),
        {},
        400,
        "item #1 (id 'ls-flower-bed-test'): unreadable geometry: a ring needs at least 4 positions",
    ),
    (
        "unknown geometry type",
        "POST",
        "/collections/landscaping/items",
        _with({"type": "Circle", "coordinates": [121.29, 31.19]}),
        {},
        400,
        "geometry type 'Circle' is not a GeoJSON geometry type",
    ),
    ("self-intersecting polygon", "POST", "/collections/landscaping/items", _with(_bowtie()), {}, 400, "invalid"),
    (
        "wrong geometry type",
        "POST",
        "/collections/halls/items",
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [121.295, 31.189]},
            "properties": {
                "code": "X",
                "name_zh": "x",
                "name_en": "x",
                "level": "0m",
                "hall_type": "exhibition",
                "responsible_unit": "u",
            },
        },
        {},
        400,
        "Point",
    ),
    (
        "lat/lon swapped: outside the venue",
        "POST",
        "/collections/landscaping/items",
        _with(_square(31.1860, 121.2950)),
        {},
        400,
        "area of interest",
    ),
    (
        "in Beijing: outside the venue",
        "POST",
        "/collections/landscaping/items",
        _with(_square(116.39, 39.91)),
        {},
        400,
        "area of interest",
    ),
    (
        "metres without Content-Crs",
        "POST",
        "/collections/landscaping/items",
        _with(_square(623500.0, 3452700.0)),
        {},
        400,
        "area of interest",
    ),
    (
        "unknown Content-Crs",
        "POST",
        "/collections/landscaping/items",
        flower_bed(),
        {"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/99999>"},
        400,
        "CRS",
    ),
    (
        "missing required property",
        "POST",
        "/collections/landscaping/items",
        _bad_props(name_zh=None),
        {},
        400,
        "name_zh",
    ),
    ("value not allowed", "POST", "/collections/landscaping/items", _bad_props(kind="fountain"), {}, 400, "kind"),
    ("wrong value type", "POST", "/collections/landscaping/items", _bad_props(pots="many"), {}, 400, "pots"),
    ("unknown property", "POST", "/collections/landscaping/items", _bad_props(colour="red"), {}, 400, "colour"),
    ("id exists already", "POST", "/collections/landscaping/items", flower_bed("ls-clover-green"), {}, 400, "exists"),
    ("unknown collection", "POST", "/collections/fountains/items", flower_bed(), {}, 404, "fountains"),
    (
        "not JSON media type",
        "POST",
        "/collections/landscaping/items",
        flower_bed(),
        {"Content-Type": "text/plain"},
        415,
        "geo+json",
    ),
    (
        "PUT of an unknown feature",
        "PUT",
        "/collections/landscaping/items/ls-nope",
        flower_bed(None),
        {},
        404,
        "ls-nope",
    ),
    (
        "PUT of two features",
        "PUT",
        "/collections/landscaping/items/ls-clover-green",
        {"type": "FeatureCollection", "features": [flower_bed(), flower_bed("x")]},
        {},
        400,
        "one",
    ),
    (
        "PUT outside the venue",
        "PUT",
        "/collections/landscaping/items/ls-clover-green",
        {**_with(_square(0.0, 0.0)), "id": "ls-clover-green"},
        {},
        400,
        "area of interest",
    ),
    (
        "PATCH of an unknown feature",
        "PATCH",
        "/collections/halls/items/hall-99H",
        {"properties": {"notes": "x"}},
        {},
        404,
        "hall-99H",
    ),
    (
        "PUT whose body names another feature",
        "PUT",
        "/collections/landscaping/items/ls-clover-green",
        flower_bed("ls-lawn-east"),
        {},
        400,
        "'ls-lawn-east' is not 'ls-clover-green'",
    ),
    (
        "PATCH whose body names another feature",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"id": "hall-2.1H", "properties": {"notes": "x"}},
        {},
        400,
        "'hall-2.1H' is not 'hall-1.1H'",
    ),
    ("PATCH not an object", "PATCH", "/collections/halls/items/hall-1.1H", b'"notes"', {}, 400, "object"),
    ("PATCH malformed JSON", "PATCH", "/collections/halls/items/hall-1.1H", b"{notes: 1}", {}, 400, "JSON"),
    (
        "PATCH value not allowed",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"level": "99m"}},
        {},
        400,
        "level",
    ),
    (
        "PATCH number as text",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"properties": {"floor_area_m2": "big"}},
        {},
        400,
        "floor_area_m2",
    ),
    (
        "PATCH geometry outside",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        {},
        400,
        "area of interest",
    ),
    (
        "PATCH unreadable geometry",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"geometry": {"type": "MultiPolygon", "coordinates": [[[121.29, 31.19], [121.3, 31.19]]]}},
        {},
        400,
        "MultiPolygon coordinates must be a list of polygons, each a list of rings",
    ),
    (
        "PATCH invalid geometry",
        "PATCH",
        "/collections/halls/items/hall-1.1H",
        {"geometry": _bowtie()},
        {},
        400,
        "invalid",
    ),
    ("DELETE of an unknown feature", "DELETE", "/collections/halls/items/hall-99H", None, {}, 404, "hall-99H"),
    ("DELETE in an unknown collection", "DELETE", "/collections/fountains/items/x", None, {}, 404, "fountains"),
]


@pytest.mark.parametrize("name,method,url,body,headers,status,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_4xx_with_a_reason_and_nothing_changes(
    api: TestClient,
    twin: Twin,
    editor: dict[str, str],
    name: str,
    method: str,
    url: str,
    body: Any,
    headers: dict[str, str],
    status: int | None,
    reason: str,
) -> None:
    n, head = state(api)
    before = snapshot(twin)
    content = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    r = api.request(method, url, content=content, headers={**editor, **headers})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    text = problem["detail"] + " " + " ".join(p.get("reason", "") for p in problem.get("problems", []))
    assert reason.lower() in text.lower(), text
    # in the client's words, not the libraries' (GEOS and its JSON parser named their exceptions)
    assert "Exception" not in text and "json.exception" not in text, text
    assert state(api) == (n, head)
    assert snapshot(twin) == before


def test_a_hall_code_names_one_hall(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    n, _ = state(api)
    body = {
        "type": "Feature",
        "id": "hall-9.9H",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[121.2900, 31.2000], [121.2905, 31.2000], [121.2905, 31.2005], [121.2900, 31.2000]]],
        },
        "properties": {
            "code": "1.1H",
            "name_zh": "x",
            "name_en": "x",
            "level": "0m",
            "hall_type": "exhibition",
            "responsible_unit": "u",
        },
    }
    r = send(api, "POST", "/collections/halls/items", body, editor)
    problem_of(r, 400)
    assert "1.1H" in r.text
    assert state(api)[0] == n


# ---------------------------------------------------------------------------- body size
def test_default_body_limit_is_20_mb() -> None:
    assert ApiSettings().max_body_bytes == 20 * 1024 * 1024


def test_a_body_over_the_default_limit_is_413(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    n, head = state(api)
    f = flower_bed()
    f["properties"]["notes"] = "x" * (20 * 1024 * 1024)
    r = send(api, "POST", "/collections/landscaping/items", f, editor)
    problem_of(r, 413)
    assert state(api) == (n, head)
    assert "ls-flower-bed-test" not in twin.feature_ids("landscaping")


def test_a_streamed_body_over_the_limit_is_413(
    base: tuple[Path, Path, dict[str, str]], store: Path, editor: dict[str, str]
) -> None:
    """Without a Content-Length (chunked), the limit still holds: counted as the body arrives."""
    body = orjson.dumps(flower_bed(notes="y" * 5000))

    def chunks() -> Any:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    with client(store, max_body_bytes=4096) as api:
        n, head = state(api)
        r = api.post("/collections/landscaping/items", content=chunks(), headers=editor)
        problem_of(r, 413)
        assert state(api) == (n, head)
        # Just under the limit goes through.
        small = orjson.dumps(flower_bed())
        assert len(small) < 4096
        r = api.post("/collections/landscaping/items", content=small, headers=editor)
        assert r.status_code == 201, r.text


# ---------------------------------------------------------------------------- body encoding
def _body_routes(api: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a body (as the API's OpenAPI document lists them),
    its path parameters filled in."""
    out = []
    for path, ops in api.get("/openapi.json").json()["paths"].items():
        path = path.replace("{collectionId}", "landscaping").replace("{featureId}", "ls-clover-green")
        for method in sorted(ops.keys() & {"post", "put", "patch"}):
            out.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return out


def test_a_415_names_the_types_its_method_takes(api: TestClient, editor: dict[str, str]) -> None:
    """A PATCH sent as text/plain was told "send application/geo+json", which is not what a PATCH
    sends: each method's 415 names the media types that method takes, and no commit is made."""
    n, head = state(api)
    item = "/collections/landscaping/items/ls-clover-green"
    cases = [
        ("POST", "/collections/landscaping/items", flower_bed(), ["application/geo+json", "application/json"]),
        ("PUT", item, flower_bed("ls-clover-green"), ["application/geo+json", "application/json"]),
        ("PATCH", item, {"properties": {"pots": 3}}, ["application/merge-patch+json", "application/json"]),
    ]
    for method, url, body, takes in cases:
        for ctype in ("text/plain", None):
            headers = {k: v for k, v in editor.items() if k.lower() != "content-type"}
            r = send(api, method, url, body, {**headers, **({"Content-Type": ctype} if ctype else {})})
            detail = problem_of(r, 415)["detail"]
            assert detail.startswith(f"{method} takes {takes[0]}"), detail
            assert all(t in detail for t in takes) and f"(got {ctype or 'no content type'})" in detail
    # a merge patch goes with PATCH; features are sent as GeoJSON
    r = send(
        api, "PUT", item, flower_bed("ls-clover-green"), {**editor, "Content-Type": "application/merge-patch+json"}
    )
    assert "PUT takes application/geo+json" in problem_of(r, 415)["detail"]
    assert state(api) == (n, head)
    merge = {**editor, "Content-Type": "application/merge-patch+json"}
    assert send(api, "PATCH", item, {"properties": {"pots": 3}}, merge).status_code == 204


@pytest.mark.parametrize("coding", ["gzip", "br", "GZIP", "identity, gzip"])
def test_a_compressed_body_is_415_naming_its_encoding_on_every_route_that_takes_a_body(
    api: TestClient, twin: Twin, editor: dict[str, str], coding: str
) -> None:
    """A gzip body reached the JSON parser and was refused as "not valid UTF-8"."""
    n, head = state(api)
    body = gzip.compress(orjson.dumps(flower_bed()))
    routes = _body_routes(api)
    assert ("POST", "/collections/landscaping/items") in routes and ("POST", "/surveys") in routes
    for method, url in routes:
        r = api.request(method, url, content=body, headers={**editor, "Content-Encoding": coding})
        named = coding.split(", ")[-1]
        assert f"Content-Encoding {named} is not accepted; send the body uncompressed" in problem_of(r, 415)["detail"]
        assert r.headers["accept-encoding"] == "identity"
    chunked = api.post(  # no Content-Length: the body comes in chunks
        "/collections/landscaping/items", content=iter([body]), headers={**editor, "Content-Encoding": coding}
    )
    problem_of(chunked, 415)
    assert state(api) == (n, head)


def test_a_body_marked_identity_is_taken(api: TestClient, editor: dict[str, str]) -> None:
    r = send(api, "POST", "/collections/landscaping/items", flower_bed(), {**editor, "Content-Encoding": "identity"})
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------------------- what was written reads back safely
def test_html_escapes_what_editors_write(api: TestClient, editor: dict[str, str]) -> None:
    evil = '<script>alert("x")</script>'
    r = send(
        api,
        "POST",
        "/collections/landscaping/items",
        flower_bed(name_en=evil, notes=f"<img src=x onerror=1> {evil}"),
        editor,
    )
    assert r.status_code == 201, r.text
    for url in (
        "/collections/landscaping/items/ls-flower-bed-test?f=html",
        "/collections/landscaping/items?f=html&limit=100",
    ):
        page = api.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_writes_land_inside_the_area_of_interest(api: TestClient, twin: Twin, editor: dict[str, str]) -> None:
    r = send(api, "POST", "/collections/landscaping/items", flower_bed(), editor)
    assert r.status_code == 201
    g = feature_from_geojson(twin.feature("landscaping", "ls-flower-bed-test")).geometry
    assert g is not None and AREA_OF_INTEREST.contains(g)


# ---------------------------------------------------------------------------- records without geometry
RECORD_LAYERS = [s for s in LAYERS if not s.geometry_types]  # the project register


def a_record(schema: LayerSchema, n: int = 1) -> dict[str, Any]:
    """Properties that pass the schema: every required field, with an allowed value where there is a list."""
    values = {"string": "x", "number": 10.0, "integer": 10, "date": "2026-09-01", "boolean": True, "list": []}
    props: dict[str, Any] = {}
    for f in schema.fields:
        if f.required:
            props[f.name] = f.allowed[0] if f.allowed else values[f.type]
    if schema.code_field:
        props[schema.code_field] = f"TEST-{n}"
    return props


def test_there_are_venue_layers_of_records() -> None:
    assert RECORD_LAYERS, "the catalogue has a layer without geometry (the project register)"


def test_records_without_geometry_read_in_every_form(api: TestClient, store: Path, editor: dict[str, str]) -> None:
    """A layer of records answers every read — any crs, a filter, HTML, downloads — without a server error."""
    writer = Twin.open(store)
    try:
        for schema in RECORD_LAYERS:
            props = a_record(schema)
            writer.commit([Change(schema.name, "add", "rec-1", Feature("rec-1", None, props))], author="t", message="m")
    finally:
        writer.close()
    for schema in RECORD_LAYERS:
        base = f"/collections/{schema.name}"
        doc = api.get(f"{base}/items", params={"limit": 10000}).json()
        assert "rec-1" in [f["id"] for f in doc["features"]]
        assert all(f["geometry"] is None for f in doc["features"])
        for crs in (EPSG4549, EPSG4326):
            r = api.get(f"{base}/items", params={"crs": crs, "limit": 10000})
            assert r.status_code == 200, (crs, r.status_code, r.text[:200])
            assert all(f["geometry"] is None for f in r.json()["features"])
            r = api.get(f"{base}/items/rec-1", params={"crs": crs})
            assert r.status_code == 200, (crs, r.status_code, r.text[:200])
        code = schema.code_field or "id"
        r = api.get(f"{base}/items", params={"filter": f"{code} = 'TEST-1'"})
        assert r.status_code == 200 and r.json()["numberMatched"] == 1
        for url in (f"{base}/queryables", f"{base}/items?f=html", f"{base}/items/rec-1?f=html", f"{base}?f=html"):
            assert api.get(url).status_code == 200, url
        for query in ("filter=S_INTERSECTS(geometry,POINT(121.29 31.19))", "bbox=121.28,31.18,121.31,31.20"):
            r = api.get(f"{base}/items?{query}")
            assert r.status_code < 500, (query, r.status_code)
            if r.status_code == 200:
                assert r.json()["features"] == []  # a record without geometry meets no area
        for fmt in FORMATS:
            r = api.get(f"{base}/download", params={"f": fmt})
            assert r.status_code < 500, (fmt, r.status_code, r.text[:200])
        assert api.get(f"{base}/download", params={"f": "csv"}).status_code == 200


def test_records_without_geometry_are_written_through_the_api(api: TestClient, editor: dict[str, str]) -> None:
    for schema in RECORD_LAYERS:
        n, _ = state(api)
        body = {"type": "Feature", "id": "rec-2", "geometry": None, "properties": a_record(schema, 2)}
        r = send(api, "POST", f"/collections/{schema.name}/items", body, editor)
        assert r.status_code == 201, r.text
        etag = r.headers["etag"]
        r = send(
            api,
            "PATCH",
            f"/collections/{schema.name}/items/rec-2",
            {"properties": {schema.code_field or "name_en": "TEST-2b"}},
            {**editor, "If-Match": etag},
        )
        assert r.status_code == 204, r.text
        assert state(api)[0] == n + 2
        got = api.get(f"/collections/{schema.name}/items/rec-2").json()
        assert got["geometry"] is None and got["properties"][schema.code_field or "name_en"] == "TEST-2b"
        # A record refuses a geometry.
        body = {
            "type": "Feature",
            "id": "rec-3",
            "geometry": {"type": "Point", "coordinates": [121.29, 31.19]},
            "properties": a_record(schema, 3),
        }
        problem_of(send(api, "POST", f"/collections/{schema.name}/items", body, editor), 400)


# ---------------------------------------------------------------------------- concurrent writers
def test_concurrent_if_match_edits_of_distinct_features_never_conflict(
    base: tuple[Path, Path, dict[str, str]], store: Path, tmp_path: Path
) -> None:
    """8 clients, each PATCHing its own hall with If-Match 25 times, against 2 worker processes:
    every write lands (no 409/412), one commit each, each hall as its client last wrote it."""
    clients, edits = 8, 25
    with Twin.open(store) as t:
        halls = t.feature_ids("halls")[:clients]
        before = t.store.commit_count()
    server = LiveServer(store, tmp_path / "access.log", workers=2)
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    last: list[str | None] = [None] * clients
    barrier = threading.Barrier(clients)

    def run(i: int) -> None:
        url = f"{server.url}/collections/halls/items/{halls[i]}"
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            for k in range(edits):
                etag = http.get(url).headers["etag"]
                notes = f"client {i} edit {k}"
                r = http.patch(url, json={"properties": {"notes": notes}},
                               headers={**bearer(base[2]["editor"]), "If-Match": etag,
                                        "Content-Type": "application/merge-patch+json"})  # fmt: skip
                statuses[i][r.status_code] += 1
                if r.status_code == 204:
                    last[i] = notes

    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        assert not any(th.is_alive() for th in threads)
        final = {fid: httpx.get(f"{server.url}/collections/halls/items/{fid}").json() for fid in halls}
    finally:
        server.stop()
    total: Counter[int] = sum(statuses, Counter())
    assert total == Counter({204: clients * edits}), total
    assert [final[fid]["properties"]["notes"] for fid in halls] == last
    assert last == [f"client {i} edit {edits - 1}" for i in range(clients)]
    with Twin.open(store) as t:
        assert t.store.commit_count() - before == clients * edits
        assert t.fsck() == []


# ---------------------------------------------------------------------------- text a commit cannot carry
def test_a_commit_message_header_too_long_or_with_control_characters_is_400(
    api: TestClient, twin: Twin, editor: dict[str, str]
) -> None:
    before, etag = state(api), hall(api, "hall-2.1H")[1]
    for message in ("m" * 60_000, "\u202egnimoc", "fixed\x7f"):
        value = message.encode()  # sent as UTF-8, as curl sends it
        r = api.post("/collections/landscaping/items", content=orjson.dumps(flower_bed()),
                     headers={**editor, "X-Twin-Message": value})  # type: ignore[dict-item]  # fmt: skip
        body = problem_of(r, 400)
        assert "X-Twin-Message" in body["detail"]
        r = api.patch("/collections/halls/items/hall-2.1H", content=b'{"properties": {"notes": "QA"}}',
                      headers={**editor, "Content-Type": "application/merge-patch+json", "If-Match": etag,
                               "X-Twin-Message": value})  # type: ignore[dict-item]  # fmt: skip
        assert "X-Twin-Message" in problem_of(r, 400)["detail"]
    assert "60,000 characters long; it may hold at most 2,000 (VENUE_TWIN_MESSAGE_MAX_CHARS)" in api.post(
        "/collections/landscaping/items", content=orjson.dumps(flower_bed()),
        headers={**editor, "X-Twin-Message": "m" * 60_000},
    ).json()["detail"]  # fmt: skip
    assert state(api) == before


@pytest.mark.parametrize(
    "notes,phrase",
    [("n" * 15_000_000, "notes is 15,000,000 characters long; it may hold at most 10,000 (VENUE_TWIN_TEXT_MAX_CHARS)"),
     ("\x1b[2Jnote\nline2", "notes holds the control character U+001B")],
)  # fmt: skip
def test_a_text_property_too_long_or_with_control_characters_is_400_naming_it(
    api: TestClient, twin: Twin, editor: dict[str, str], notes: str, phrase: str
) -> None:
    before = state(api)
    _, etag = hall(api, "hall-2.1H")
    r = api.patch("/collections/halls/items/hall-2.1H", content=orjson.dumps({"properties": {"notes": notes}}),
                  headers={**editor, "Content-Type": "application/merge-patch+json", "If-Match": etag})  # fmt: skip
    assert phrase in problem_of(r, 400)["detail"]
    r = api.post("/collections/landscaping/items", content=orjson.dumps(flower_bed(name_en=notes)), headers=editor)
    assert phrase.replace("notes", "name_en") in problem_of(r, 400)["detail"]
    assert state(api) == before


def test_an_id_with_a_bidi_override_is_400(api: TestClient, editor: dict[str, str]) -> None:
    before = state(api)
    r = api.post("/collections/landscaping/items", content=orjson.dumps(flower_bed("fb-\u202etxt.exe")), headers=editor)
    assert "bidi override" in problem_of(r, 400)["detail"]
    assert state(api) == before
