"""What an engineer scripting against the API (curl, requests, GDAL's OAPIF driver, OWSLib) ran
into, one test per finding: each failed before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from api_server import bearer, build_venue, client, copy_store, make_tokens, problem_of
from fastapi.testclient import TestClient

from twin import Twin
from twin.core import SHANGHAI

# A date (and a time) before the bundled twin's first commit (its history starts in June 2026).
BEFORE = "2020-01-01"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    store = build_venue(tmp_path_factory.mktemp("api-engineer") / "venue.gpkg")
    return store, make_tokens(store)


@pytest.fixture(scope="module")
def venue(built: tuple[Path, dict[str, str]]) -> Path:
    return built[0]


@pytest.fixture
def editable(built: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client on a fresh copy of the twin, with an editor's Authorization header."""
    with client(copy_store(built[0], tmp_path / "venue.gpkg")) as c:
        yield c, bearer(built[1]["editor"])


@pytest.fixture(scope="module")
def api(venue: Path) -> Iterator[TestClient]:
    with client(venue) as c:
        yield c


@pytest.fixture(scope="module")
def first_day(venue: Path) -> tuple[str, str]:
    """The day (Shanghai) of the twin's first commit and that commit's short id."""
    with Twin.open(venue) as twin:
        first = twin.first_commit()
    assert first is not None
    return first.time.astimezone(SHANGHAI).date().isoformat(), first.id[:12]


# ---------------------------------------------------------------------------- reads before the history
TILE = "/collections/halls/tiles/WebMercatorQuad/16/26786/54849"
AS_OF_READS = [
    "/collections/halls/items",
    "/collections/halls/items/hall-2.1H",
    "/collections/halls/download?f=geojson",
    "/collections/halls/download?f=gpkg",
    "/collections/halls/schema",
    TILE,
    "/surveys",
]


TAKE_DATETIME = ("/collections/halls/items", "/collections/halls/items/hall-2.1H", TILE)
CASES = [
    *((path, "asof", value) for path in AS_OF_READS for value in (BEFORE, f"{BEFORE}T08:00:00Z")),
    *((path, "datetime", f"{BEFORE}T08:00:00Z") for path in TAKE_DATETIME),
]


@pytest.mark.parametrize("path,param,value", CASES)
def test_a_read_before_the_twins_history_says_so(
    api: TestClient, first_day: tuple[str, str], path: str, param: str, value: str
) -> None:
    """The project's rule: a read on a date before the twin had any data says so (404 naming when
    its history starts, as /completion?date= does), not an empty collection (numberMatched 0) or
    "no feature 'hall-2.1H'" that reads as if the layer were empty or the hall gone."""
    sep = "&" if "?" in path else "?"
    body = problem_of(api.get(f"{path}{sep}{param}={value}"), 404, param)
    since, first_id = first_day
    assert "the twin has no data" in body["detail"] and value in body["detail"], body
    assert f"its history starts on {since}" in body["detail"] and first_id in body["detail"], body


def test_the_items_and_the_completion_agree_on_a_date_before_the_history(api: TestClient) -> None:
    items = problem_of(api.get("/collections/halls/items", params={"asof": BEFORE}), 404, "asof")
    completion = problem_of(api.get("/completion", params={"date": BEFORE}), 404)
    # Both name the same start of the history.
    start = completion["detail"].split("its history starts on ")[1].split(")")[0]
    assert start in items["detail"], (items, completion)


def test_a_read_as_of_a_date_in_the_history_is_still_answered(api: TestClient, first_day: tuple[str, str]) -> None:
    since, _ = first_day
    for path in AS_OF_READS:
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}asof={since}")
        # On its first day the twin has its first commit: the reads answer (a hall added later is a
        # plain 404 naming the feature, an empty tile or no survey is still 200).
        assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
        if r.status_code == 404:
            assert "no data" not in r.json()["detail"], (path, r.text)
    assert api.get("/collections/halls/items", params={"asof": since}).json()["numberMatched"] > 0


def test_asof_takes_a_checkpoint_as_date_and_diff_do(api: TestClient) -> None:
    """`asof=T-30` was a 400 ("not a time") where `date=T-30` and `/diff?from=T-30` read it: one way
    to name a version. T-30 is the end of its day, as its date is."""
    day = api.get("/completion", params={"date": "T-30"}).json()["date"]
    for path in ("/collections/landscaping/items", "/collections/projects/items"):
        by_label = api.get(path, params={"asof": "T-30", "limit": 1000})
        by_date = api.get(path, params={"asof": day, "limit": 1000})
        assert by_label.status_code == 200, by_label.text
        assert by_label.headers["x-twin-version"] == by_date.headers["x-twin-version"]
        assert by_label.json()["features"] == by_date.json()["features"]
    bad = api.get("/collections/halls/items", params={"asof": "T-99999"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "asof", bad.text


def test_a_diff_from_before_the_history_is_everything_added(api: TestClient) -> None:
    """`from` a date before the history is the empty twin on purpose: the whole twin as added."""
    doc = api.get("/diff", params={"from": BEFORE}).json()
    assert doc["twin:from"] is None and doc["twin:counts"]["halls"]["added"] > 0


# ---------------------------------------------------------------------------- errors that name the problem
@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("DELETE", "/collections/halls/items", "GET, HEAD, POST, OPTIONS"),
        ("POST", "/collections/halls/items/hall-2.1H", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("PUT", "/versions", "GET, HEAD"),
    ],
)
def test_a_method_an_address_does_not_take_is_named_with_those_it_does(
    api: TestClient, method: str, path: str, allowed: str
) -> None:
    """Not Starlette's bare "Method Not Allowed" under the title "Error"."""
    r = api.request(method, path)
    body = problem_of(r, 405)
    assert r.headers["allow"] == allowed
    assert body["title"] == "Method not allowed"
    assert body["detail"] == f"{method} is not allowed on {path}; it takes {allowed}", body


@pytest.mark.parametrize("path", ["/nosuch", "/collections/halls/itemz"])
def test_an_address_the_service_does_not_have_is_named(api: TestClient, path: str) -> None:
    body = problem_of(api.get(path), 404)
    assert body["title"] == "Not found" and path in body["detail"], body


def test_a_diff_to_a_date_before_the_history_says_so(api: TestClient, first_day: tuple[str, str]) -> None:
    """`to` before the history was "every feature deleted" (from HEAD) or an empty diff (from an
    earlier date): a read of the twin on a date it had no data."""
    for start in ("HEAD", "2019-01-01"):
        body = problem_of(api.get("/diff", params={"from": start, "to": BEFORE}), 404, "to")
        assert f"no data on {BEFORE}" in body["detail"] and first_day[0] in body["detail"], body
    assert api.get("/diff", params={"from": BEFORE, "to": first_day[0]}).status_code == 200


# ---------------------------------------------------------------------------- edits that said "done" and did nothing
MERGE = "application/merge-patch+json"
HALL = "/collections/halls/items/hall-2.1H"


@pytest.mark.parametrize(
    "patch,named",
    [
        ({"propeties": {"notes": "Checked"}}, "'propeties'"),  # a typo: 204 and the edit lost
        ({"type": "Feature", "property": {"notes": "Checked"}}, "'property'"),
        ({"type": "FeatureCollection", "properties": {"notes": "Checked"}}, "'FeatureCollection'"),
    ],
)
def test_a_patch_member_it_cannot_apply_is_refused_naming_it(
    editable: tuple[TestClient, dict[str, str]], patch: dict[str, object], named: str
) -> None:
    api, auth = editable
    before = api.get(HALL)
    r = api.patch(HALL, content=orjson.dumps(patch), headers={**auth, "Content-Type": MERGE})
    assert named in problem_of(r, 400)["detail"]
    after = api.get(HALL)
    assert after.headers["etag"] == before.headers["etag"] and after.json() == before.json()


def test_a_patch_may_carry_back_what_a_read_gave(editable: tuple[TestClient, dict[str, str]]) -> None:
    """The feature as read (with its links) and one property changed is a good patch."""
    api, auth = editable
    doc = api.get(HALL).json()
    doc["properties"] = {"notes": "Checked before the opening"}
    r = api.patch(HALL, content=orjson.dumps(doc), headers={**auth, "Content-Type": MERGE})
    assert r.status_code == 204, r.text
    assert api.get(HALL).json()["properties"]["notes"] == "Checked before the opening"


def test_a_patch_of_properties_null_removes_them_as_rfc_7396_has_it(
    editable: tuple[TestClient, dict[str, str]],
) -> None:
    """It answered 204 and changed nothing; removing a hall's properties is refused by its schema."""
    api, auth = editable
    before = api.get(HALL).headers["etag"]
    body = problem_of(api.patch(HALL, content=b'{"properties": null}', headers={**auth, "Content-Type": MERGE}), 400)
    assert "required property 'code' is missing" in body["detail"], body
    assert api.get(HALL).headers["etag"] == before


def test_a_put_without_properties_is_refused_not_taken_as_none(editable: tuple[TestClient, dict[str, str]]) -> None:
    """A Feature without its properties member (or with it misspelt) removed every property the
    layer does not require; GeoJSON's Feature has one, null for none."""
    api, auth = editable
    doc = api.get(HALL).json()
    doc["propeties"] = doc.pop("properties")
    r = api.put(HALL, content=orjson.dumps(doc), headers={**auth, "Content-Type": "application/geo+json"})
    detail = problem_of(r, 400)["detail"]
    assert "no properties member" in detail and "'propeties'" in detail, detail
    new = {"type": "Feature", "id": "x-1", "geometry": doc["geometry"]}
    problem_of(api.post("/collections/halls/items", json=new, headers=auth), 400)


# ---------------------------------------------------------------------------- the API definition
def _op(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]  # type: ignore[no-any-return]


def test_the_definition_documents_the_answers_the_routes_give(api: TestClient) -> None:
    """FastAPI's defaults documented a 422 no route answers (a bad parameter is a 400 problem), no
    400 or 404, features as application/json (they are application/geo+json, as OGC Part 1's
    OpenAPI building blocks have them) and 200 for a PUT or PATCH that answers 204."""
    doc = api.get("/api").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert "400" in codes, (method, path)
            if path not in ("/projects/import", "/progress/import", "/progress"):  # bad rows: 422
                assert "422" not in codes, (method, path)
    for path in (
        "/collections/{collectionId}/items",
        "/collections/halls/items",
        "/collections/{collectionId}/items/{featureId}",
    ):
        content = _op(doc, path, "get")["responses"]["200"]["content"]
        assert "application/geo+json" in content, path
        assert {"400", "404"} <= set(_op(doc, path, "get")["responses"]), path
    feature = "/collections/{collectionId}/items/{featureId}"
    for method in ("put", "patch"):
        codes = set(_op(doc, feature, method)["responses"])
        assert {"204", "400", "401", "403", "404", "409", "412"} <= codes and "200" not in codes, (method, codes)
    assert "404" in _op(doc, "/collections/{collectionId}/download", "get")["responses"]  # asof before the history
    assert "application/geo+json" in _op(doc, "/diff", "get")["responses"]["200"]["content"]
    for page in ("/maps", "/maps/completion", "/maps/changes", "/maps/layers/{layer}"):
        assert "text/html" in _op(doc, page, "get")["responses"]["200"]["content"], page
    # The pinned root's definition is built from the same one.
    pinned = api.get("/versions/HEAD/api").json()
    assert "application/geo+json" in _op(pinned, "/collections/halls/items", "get")["responses"]["200"]["content"]


def test_the_answers_are_among_those_documented(api: TestClient, editable: tuple[TestClient, dict[str, str]]) -> None:
    doc = api.get("/api").json()
    feature = "/collections/{collectionId}/items/{featureId}"
    cases = [
        ("get", "/collections/{collectionId}/items", "/collections/halls/items?limit=0"),
        ("get", "/collections/{collectionId}/items", f"/collections/halls/items?asof={BEFORE}"),
        ("get", "/collections/{collectionId}/items", "/collections/halls/items"),
        ("get", feature, "/collections/halls/items/no-such-hall"),
        ("get", "/versions", "/versions?limit=0"),
    ]
    for method, path, url in cases:
        r = api.request(method.upper(), url)
        assert str(r.status_code) in _op(doc, path, method)["responses"], (url, r.status_code)
        if r.status_code == 200 and path.endswith("/items"):
            assert r.headers["content-type"] in _op(doc, path, method)["responses"]["200"]["content"]
    client_, auth = editable
    hall = client_.get(HALL).json()
    r = client_.put(HALL, json=hall, headers={**auth, "Content-Type": "application/geo+json"})
    assert str(r.status_code) in _op(doc, feature, "put")["responses"], r.status_code
    r = client_.patch(HALL, json={"properties": {"notes": "x"}}, headers={**auth, "Content-Type": MERGE})
    assert str(r.status_code) in _op(doc, feature, "patch")["responses"], r.status_code


# ---------------------------------------------------------------------------- links
def _local(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize(
    "query",
    [
        {"version": "HEAD~3", "crs": "http://www.opengis.net/def/crs/EPSG/0/4549"},
        {"asof": "2026-09-01"},
        {"datetime": "2026-09-01T00:00:00Z", "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
    ],
)
def test_a_features_self_link_is_the_document_it_is_in(api: TestClient, query: dict[str, str]) -> None:
    """It was the bare path: followed, the head in CRS84, another document than the one read."""
    url = "/collections/south_plaza/items/sp-flower-display"
    r = api.get(url, params=query)
    assert r.status_code == 200, r.text
    links = {lk["rel"]: lk["href"] for lk in r.json()["links"]}
    again = api.get(_local(links["self"]))
    assert again.json() == r.json() and again.headers["content-crs"] == r.headers["content-crs"]
    page = api.get(_local(links["alternate"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "pots" in page.text


def test_an_etag_sent_without_its_quotes_is_not_called_stale(editable: tuple[TestClient, dict[str, str]]) -> None:
    """`If-Match: 709437...` (quotes lost in a shell) answered "changed since that ETag was read;
    read it again", which reading again cannot cure: it says the quotes are missing."""
    api, auth = editable
    etag = api.get(HALL).headers["etag"]
    r = api.patch(
        HALL, json={"properties": {"notes": "x"}}, headers={**auth, "Content-Type": MERGE, "If-Match": etag.strip('"')}
    )
    detail = problem_of(r, 412)["detail"]
    assert "with its quotes" in detail and "has not changed" in detail, detail
    assert api.get(HALL).headers["etag"] == etag


# ---------------------------------------------------------------------------- filters
@pytest.mark.parametrize(
    "params,says",
    [
        ({"filter": "floor_area_m2 > 29000", "filter-lang": "cql2-json"}, "not a JSON object"),
        (
            {"filter": '{"op": ">", "args": [{"property": "floor_area_m2"}, 1]}', "filter-lang": "cql2-text"},
            "cql2-json",
        ),
        ({"filter": ""}, "it is empty"),
        ({"filter": "  "}, "it is empty"),
    ],
)
def test_a_filter_in_the_other_language_or_empty_is_named_so(
    api: TestClient, params: dict[str, str], says: str
) -> None:
    """They answered the parser's "expected ident at line 1 column 2" or "--> 1:1 expected Expr"."""
    detail = problem_of(api.get("/collections/halls/items", params=params), 400, "filter")["detail"]
    assert says in detail, detail


def test_records_without_geometry_offer_no_geometry_to_filter(api: TestClient) -> None:
    """The register's queryables listed a geometry, and a spatial filter on it matched nothing
    (200, 0 projects) as if the register were empty there."""
    assert "geometry" not in api.get("/collections/projects/queryables").json()["properties"]
    assert "geometry" in api.get("/collections/halls/queryables").json()["properties"]
    r = api.get("/collections/projects/items", params={"filter": "S_INTERSECTS(geometry, POINT(121.29 31.19))"})
    assert "without geometry" in problem_of(r, 400, "filter")["detail"]


def test_the_completion_map_on_a_date_before_the_history_says_so(api: TestClient, first_day: tuple[str, str]) -> None:
    """It drew a map of nothing (200), and its panel counted down to 2020's opening day, where
    /brief and /completion answered 404 naming when the history starts."""
    for url in (f"/maps/completion?date={BEFORE}", f"/maps/data/panel?date={BEFORE}"):
        body = problem_of(api.get(url, headers={"Accept": "application/json"}), 404)
        assert f"no data on {BEFORE}" in body["detail"] and first_day[0] in body["detail"], (url, body)
    page = api.get(f"/maps/completion?date={BEFORE}", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert BEFORE in page.text


# ---------------------------------------------------------------------------- commit messages
@pytest.mark.parametrize("message", ["修复南广场花坛面积", "Café terrace: pots 40 → 42"])
def test_a_commit_message_in_utf_8_is_kept_as_written(
    editable: tuple[TestClient, dict[str, str]], message: str
) -> None:
    """curl sends `-H 'X-Twin-Message: 修复…'` as UTF-8 bytes, which were read as latin-1 and kept
    in the history as "ä¿®å¤…" (a commit's message is part of its id: never mended)."""
    api, auth = editable
    r = api.patch(
        HALL,
        json={"properties": {"notes": message}},
        headers={**auth, "Content-Type": MERGE, "X-Twin-Message": message.encode()},  # type: ignore[dict-item]
    )
    assert r.status_code == 204, r.text
    assert api.get("/versions", params={"limit": 1}).json()["versions"][0]["message"] == message
