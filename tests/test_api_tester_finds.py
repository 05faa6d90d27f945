"""An engineer tester's finds in the feature API, each held here on the test store (run again with
VENUE_TWIN_TEST_STORE=postgis for the PostGIS store; the twin-level halves run on both stores in
tests/store_contract.py and tests/test_twin_validation.py):

1. A feature id or cursor holding a NUL (%00) answered 500 from the PostGIS store (PostgreSQL's
   text cannot hold one), 404 or 200 from the GeoPackage store: now every store answers alike.
2. An integer beyond 64 bits in JSON (which orjson reads as a float) was stored rounded into range
   (-9223372036854775809 as -9223372036854775808), or refused quoting a number never sent.
3. A DELETE with a body answered 204 and deleted, where the README says it is refused.
4. If-Match in two header fields (one list, RFC 9110 5.3) was read as its first only: 412.
5. A search POSTed as application/json without a token (`{"filter": ...}`) and a body that is
   not JSON answered 401, as if they were adds.
6. A merge patch of the geometry without its type answered 400 "the geometry has no type":
   RFC 7396 merges the geometry object too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_server import bearer, build_venue, client, copy_store, make_tokens, problem_of
from fastapi.testclient import TestClient

GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
BED = "/collections/landscaping/items/ls-flower-bed-metro-line17-exit"  # has pots, an integer field
GREEN = "/collections/landscaping/items/ls-clover-green"  # a polygon without pots


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    store = build_venue(tmp_path_factory.mktemp("tester-finds") / "venue.gpkg")
    return store, make_tokens(store)


@pytest.fixture
def api(base: tuple[Any, dict[str, str]], tmp_path: Path) -> Iterator[TestClient]:
    with client(copy_store(base[0], tmp_path / "venue.gpkg")) as c:
        yield c


@pytest.fixture
def editor(base: tuple[Any, dict[str, str]]) -> dict[str, str]:
    return bearer(base[1]["editor"])


def head(api: TestClient) -> str:
    return api.get("/versions?limit=1").json()["versions"][0]["id"]  # type: ignore[no-any-return]


def patch(api: TestClient, url: str, body: bytes, headers: dict[str, str], **more: str) -> Any:
    return api.patch(url, content=body, headers={**headers, "Content-Type": MERGE_PATCH, **more})


# ---------------------------------------------------------------------------- 1. NUL in an id or cursor
def test_an_id_or_cursor_holding_a_nul_is_answered_as_any_other_on_every_store(api: TestClient) -> None:
    """No feature can have an id holding a NUL: each read by one is a 404 naming the feature (the page
    404 too), never a 500; a cursor holding one pages as its text up to the NUL does."""
    nul = "ls-clover-green%00x"
    for url in (
        f"/collections/landscaping/items/{nul}",
        f"/collections/landscaping/items/{nul}?version=HEAD~1",
        f"/versions/HEAD/collections/landscaping/items/{nul}",
        f"/collections/landscaping/items/{nul}/history",
    ):
        detail = problem_of(api.get(url), 404)["detail"]
        assert "ls-clover-green\\x00x" in detail and "landscaping" in detail, (url, detail)
    page = api.get(f"/collections/landscaping/items/{nul}", params={"f": "html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), page.status_code

    def ids(cursor: str) -> list[str]:
        r = api.get(f"/collections/landscaping/items?limit=3&cursor={cursor}")
        assert r.status_code == 200, (cursor, r.text[:300])
        return [f["id"] for f in r.json()["features"]]

    assert ids(nul) == ids("ls-clover-green") != []
    assert ids("%00") == ids("%20") != []  # from the first (every id is after a NUL and a space)


# ---------------------------------------------------------------------------- 2. integers beyond 64 bits
@pytest.mark.parametrize("sent", ["-9223372036854775809", "-9223372036854776833", "12345678901234567890123"])
def test_an_integer_beyond_64_bits_is_refused_without_quoting_a_number_never_sent(
    api: TestClient, editor: dict[str, str], sent: str
) -> None:
    before, version = api.get(BED).json(), head(api)
    r = patch(api, BED, b'{"properties": {"pots": %s}}' % sent.encode(), editor)
    detail = problem_of(r, 400)["detail"]
    assert "pots is too large to be an exact integer" in detail, detail
    assert "from -9223372036854775808 to 9223372036854775807" in detail, detail
    for never_sent in ("-9223372036854777856", "12345678901234567741440", "pots=-9223372036854775808"):
        assert never_sent not in detail, detail
    assert api.get(BED).json() == before and head(api) == version
    # what fits is taken, to the last one: an integer orjson reads exactly
    r = patch(api, BED, b'{"properties": {"pots": -9223372036854775808}}', editor)
    assert r.status_code == 204, r.text
    assert api.get(BED).json()["properties"]["pots"] == -(2**63)


# ---------------------------------------------------------------------------- 3. a DELETE with a body
def test_a_delete_with_a_body_is_refused_and_deletes_nothing(api: TestClient, editor: dict[str, str]) -> None:
    etag, version = api.get(BED).headers["etag"], head(api)
    for body, ctype in ((b'{"x": 1}', "application/json"), (b"{}", GEOJSON), (b"x", "text/plain")):
        r = api.request("DELETE", BED, content=body, headers={**editor, "Content-Type": ctype, "If-Match": etag})
        detail = problem_of(r, 400)["detail"]
        assert "a DELETE carries no body" in detail, detail
    assert api.get(BED).status_code == 200 and head(api) == version
    r = api.request("DELETE", BED, headers={**editor, "If-Match": etag})  # without one it deletes
    assert r.status_code == 204 and api.get(BED).status_code == 404


# ---------------------------------------------------------------------------- 4. If-Match lists
def test_if_match_holds_when_any_listed_tag_is_the_features(api: TestClient, editor: dict[str, str]) -> None:
    """RFC 9110 13.1.1: the condition holds if any listed entity tag matches, strongly; a list may
    come in one field or several (RFC 9110 5.3), as a proxy or client that adds one sends it."""
    for n, fields in enumerate(
        (
            lambda etag: [("If-Match", '"x"'), ("If-Match", etag)],
            lambda etag: [("If-Match", f'"x", {etag}')],
            lambda etag: [("If-Match", f'W/{etag}, "a,b"'), ("If-Match", f"garbage, {etag}")],
            lambda etag: [("If-Match", '"x"'), ("If-Match", "*")],
        )
    ):
        etag = api.get(GREEN).headers["etag"]
        body = orjson.dumps({"properties": {"name_en": f"Clover green {n}"}})
        headers = [*fields(etag), *editor.items(), ("Content-Type", MERGE_PATCH)]
        r = api.patch(GREEN, content=body, headers=headers)
        assert r.status_code == 204, (n, r.text)
        assert api.get(GREEN).json()["properties"]["name_en"] == f"Clover green {n}"
    # none of them the feature's: 412, and nothing changes (a weak tag of it never matches)
    etag = api.get(GREEN).headers["etag"]
    for fields in ([("If-Match", '"x"'), ("If-Match", f"W/{etag}")], [("If-Match", '"0000", "1111"')]):
        r = api.patch(
            GREEN,
            content=b'{"properties": {"name_en": "no"}}',
            headers=[*fields, *editor.items(), ("Content-Type", MERGE_PATCH)],
        )
        problem_of(r, 412)
    assert api.get(GREEN).headers["etag"] == etag
    # DELETE reads the list the same way
    r = api.request("DELETE", GREEN, headers=[("If-Match", '"x"'), ("If-Match", etag), *editor.items()])
    assert r.status_code == 204, r.text


# ---------------------------------------------------------------------------- 5. a search before the token
def test_a_search_posted_as_json_needs_no_token_and_bad_json_says_so(api: TestClient, editor: dict[str, str]) -> None:
    url = "/collections/landscaping/items"
    lawns = api.get(url, params={"filter": "kind = 'lawn'", "limit": 100}).json()["numberMatched"]
    assert lawns > 0
    expr = {"op": "=", "args": [{"property": "kind"}, "lawn"]}
    for body in ({"filter": expr}, {"filter": expr, "filter-lang": "cql2-json"}, expr):
        for auth in ({}, editor):  # a token changes nothing: a search is a read
            headers = {**auth, "Content-Type": "application/json"}
            r = api.post(url, content=orjson.dumps(body), headers=headers, follow_redirects=False)
            assert r.status_code == 303, (body, r.status_code, r.text[:300])
            got = api.get(r.headers["location"])
            assert got.status_code == 200 and got.json()["numberMatched"] == lawns, body
    version = head(api)
    for auth in ({}, editor):
        r = api.post(url, content=b'{"op": "=", "args": [{"prop', headers={**auth, "Content-Type": "application/json"})
        assert "the body is not valid JSON" in problem_of(r, 400)["detail"]
        r = api.post(url, content=b'{"foo": 1}', headers={**auth, "Content-Type": "application/json"})
        detail = problem_of(r, 400)["detail"]
        assert "neither features to add nor a search" in detail and "'foo'" in detail, detail
    # a wrapped filter with more than the filter: said, not dropped
    r = api.post(url, content=orjson.dumps({"filter": expr, "limit": 2}), headers={"Content-Type": "application/json"})
    assert "'limit'" in problem_of(r, 400, parameter="filter")["detail"]
    # GeoJSON (it has a type) is an add: it still needs an editor's token
    feature = api.get(GREEN).json()
    add = {k: feature[k] for k in ("type", "geometry", "properties")}
    problem_of(api.post(url, content=orjson.dumps(add), headers={"Content-Type": "application/json"}), 401)
    assert head(api) == version


# ---------------------------------------------------------------------------- 6. a merge patch of the geometry
def test_a_merge_patch_of_the_geometry_keeps_the_members_it_leaves_out(api: TestClient, editor: dict[str, str]) -> None:
    before = api.get(GREEN).json()
    assert before["geometry"]["type"] == "Polygon"
    ring = [[x + 0.0001, y] for x, y in before["geometry"]["coordinates"][0]]  # moved ~10 m east
    r = patch(api, GREEN, orjson.dumps({"geometry": {"coordinates": [ring]}}), editor)
    assert r.status_code == 204, r.text
    after = api.get(GREEN).json()
    assert after["geometry"] == {"type": "Polygon", "coordinates": [ring]}
    assert after["properties"] == before["properties"]
    # RFC 7396's null: the geometry removed, which a polygon layer refuses (nothing changes)
    version = head(api)
    for body in (b'{"geometry": null}', b'{"geometry": {"type": null, "coordinates": null}}'):
        problem_of(patch(api, GREEN, body, editor), 400)
    assert head(api) == version and api.get(GREEN).json()["geometry"] == after["geometry"]
    # a Content-Crs names the patch's coordinates: a geometry patch under one gives them
    r = patch(
        api,
        GREEN,
        b'{"geometry": {"type": "Polygon"}}',
        editor,
        **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4549>"},
    )
    assert "gives its coordinates" in problem_of(r, 400)["detail"]
    assert head(api) == version
