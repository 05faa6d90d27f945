"""The API definition drives the edits, and the edits say what is wrong in words that hold.

- /api declares each write's body (its media types and a schema) and the bearer token it needs
  (components.securitySchemes.bearer), so Swagger UI at /docs and generated clients can send both.
- /collections/{id}/feature-schema names the properties a feature must have, as the layer's schema does.
- A version-pinned root (/versions/{v}/) conforms to no Part 4 (its writes answer 405) and no HTML
  (it serves no pages).
- An If-Match that is no ETag this service gave is a 412 that says so, not "changed since".
- A feature posted without an id is named as the posted feature, not by a random id it never got.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from api_server import bearer, build_venue, client, make_tokens, problem_of
from fastapi.testclient import TestClient

WRITES = ("post", "put", "patch", "delete")
GEOJSON, JSON, MERGE_PATCH = "application/geo+json", "application/json", "application/merge-patch+json"
FEATURES = "/collections/{collectionId}/items"
FEATURE = "/collections/{collectionId}/items/{featureId}"
PART_4 = "http://www.opengis.net/spec/ogcapi-features-4/"
HTML_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    store = build_venue(tmp_path_factory.mktemp("openapi-edits") / "venue.gpkg")
    return store, make_tokens(store)


@pytest.fixture(scope="module")
def api(site: tuple[Path, dict[str, str]]) -> Iterator[TestClient]:
    with client(site[0]) as c:
        yield c


@pytest.fixture(scope="module")
def editor(site: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return bearer(site[1]["editor"])


def definition(api: TestClient) -> dict[str, Any]:
    r = api.get("/api")
    assert r.status_code == 200, r.text[:300]
    return r.json()  # type: ignore[no-any-return]


def openapi_schema_validator(schema: dict[str, Any]) -> Any:
    """A validator of a body against an OpenAPI 3.0 schema (its `nullable` spelt as JSON Schema's null type)."""

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items() if k != "nullable"}
            if node.get("nullable") and "type" in node:
                out["type"] = [node["type"], "null"]
            return out
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    return jsonschema_rs.Draft7Validator(fix(schema))


# ---------------------------------------------------------------------------- the definition
def test_the_definition_is_valid_openapi_30(api: TestClient) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    for url in ("/api", "/versions/HEAD/api"):
        doc = api.get(url).json()
        errors = [str(e)[:300] for e in definitions.OPENAPI_30_VALIDATOR.iter_errors(doc)]
        assert errors == [], (url, errors[:5])


def test_every_write_takes_a_bearer_token_and_declares_its_body(api: TestClient) -> None:
    doc = definition(api)
    assert doc["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # reads of restricted layers take one too: said where Swagger UI shows the scheme
    assert "restricted" in doc["components"]["securitySchemes"]["bearer"]["description"]
    writes = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in WRITES:
                continue
            writes += 1
            assert {"bearer": []} in op.get("security", []), (method, path)
            if method == "delete":
                continue
            body = op.get("requestBody")
            assert body is not None and body.get("required") is True, (method, path)
            assert body["content"], (method, path)
            for media, spec in body["content"].items():
                assert spec.get("schema"), (method, path, media)
    assert writes >= 12, writes
    # reads declare no requirement: a token is optional for them (the scheme's description says when)
    assert all("security" not in op for ops in doc["paths"].values() for m, op in ops.items() if m == "get")


def content_of(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]["requestBody"]["content"]  # type: ignore[no-any-return]


def test_each_write_declares_the_media_types_its_handler_takes(api: TestClient) -> None:
    doc = definition(api)
    assert {GEOJSON, JSON} <= set(content_of(doc, FEATURES, "post"))
    assert set(content_of(doc, FEATURE, "put")) == {GEOJSON, JSON}
    assert set(content_of(doc, FEATURE, "patch")) == {MERGE_PATCH, JSON, GEOJSON}
    assert {JSON, "application/yaml"} <= set(content_of(doc, "/collections", "post"))
    assert {MERGE_PATCH, JSON, "application/yaml"} <= set(
        content_of(doc, "/collections/{collectionId}/schema", "patch")
    )
    assert set(content_of(doc, "/progress", "post")) == {JSON}
    assert set(content_of(doc, "/projects/{code}/progress", "post")) == {JSON}
    assert "image/tiff" in content_of(doc, "/surveys", "post")
    assert "multipart/form-data" not in content_of(doc, "/surveys", "post")  # the upload refuses a form
    for path in ("/projects/import", "/progress/import"):
        sheet = content_of(doc, path, "post")
        assert {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv",
                "multipart/form-data"} <= set(sheet), path  # fmt: skip


def test_the_declared_bodies_take_what_the_routes_take(api: TestClient, editor: dict[str, str]) -> None:
    """A feature as read is a body the PUT schema takes, and the PUT with it succeeds; a merge patch
    the PATCH schema takes is taken; a feature without properties is refused by both."""
    doc = definition(api)
    put = openapi_schema_validator(content_of(doc, FEATURE, "put")[GEOJSON]["schema"])
    patch = openapi_schema_validator(content_of(doc, FEATURE, "patch")[MERGE_PATCH]["schema"])
    post = openapi_schema_validator(content_of(doc, FEATURES, "post")[GEOJSON]["schema"])
    read = api.get("/collections/halls/items/hall-1.1H")
    feature = read.json()
    sent = {k: feature[k] for k in ("type", "id", "geometry", "properties")}
    assert put.is_valid(sent) and post.is_valid(sent)
    assert post.is_valid({"type": "FeatureCollection", "features": [sent]})
    assert not put.is_valid({"type": "Feature", "geometry": None})  # no properties: the route refuses it too
    r = api.put("/collections/halls/items/hall-1.1H", content=orjson.dumps(sent),
                headers={**editor, "Content-Type": GEOJSON, "If-Match": read.headers["etag"]})  # fmt: skip
    assert r.status_code == 204, r.text
    assert patch.is_valid({"properties": {"name_en": None}})
    assert not patch.is_valid({"propeties": {}})  # the route refuses a member a feature has not


# ---------------------------------------------------------------------------- feature schema
def test_the_feature_schema_names_the_required_properties(api: TestClient) -> None:
    fields = api.get("/collections/landscaping/schema").json()["fields"]
    required = [f["name"] for f in fields if f.get("required")]
    assert required, fields  # the bundled layer has some
    doc = api.get("/collections/landscaping/feature-schema").json()
    props = doc["properties"]["properties"]
    assert props.get("required") == required, props.get("required")
    assert set(required) <= set(props["properties"])
    # a feature without a required property is one the schema refuses, as the POST does
    validator = jsonschema_rs.validator_for(doc)
    feature = api.get("/collections/landscaping/items", params={"limit": 1}).json()["features"][0]
    assert validator.is_valid(feature)
    feature["properties"].pop(required[0])
    assert not validator.is_valid(feature)


# ---------------------------------------------------------------------------- pinned conformance
def test_a_pinned_root_conforms_to_no_part_4_and_no_html(api: TestClient, editor: dict[str, str]) -> None:
    now = api.get("/conformance").json()["conformsTo"]
    assert any(c.startswith(PART_4) for c in now) and HTML_CLASS in now
    for version in ("HEAD~3", "HEAD"):
        pinned = api.get(f"/versions/{version}/conformance").json()["conformsTo"]
        assert not [c for c in pinned if c.startswith(PART_4)], pinned
        assert HTML_CLASS not in pinned, pinned
        assert set(pinned) < set(now)
        # what it leaves out, it indeed does not serve
        assert api.get(f"/versions/{version}/conformance", params={"f": "html"}).status_code == 400
        r = api.delete(f"/versions/{version}/collections/halls/items/hall-1.1H", headers=editor)
        assert r.status_code == 405, r.text


# ---------------------------------------------------------------------------- If-Match
@pytest.mark.parametrize("value", ["garbage", '"0000"', "W/garbage"])
def test_an_if_match_that_is_no_etag_of_ours_says_so(api: TestClient, editor: dict[str, str], value: str) -> None:
    """RFC 9110 13.1.1: If-Match that is neither * nor a list of entity tags is a false condition,
    so 412, as before; its detail says the value is no ETag this service gave, not that the feature changed."""
    url = "/collections/halls/items/hall-2.1H"
    before = api.get(url)
    feature = {k: before.json()[k] for k in ("type", "id", "geometry", "properties")}
    attempts = [
        ("PUT", orjson.dumps(feature), GEOJSON),
        ("PATCH", orjson.dumps({"properties": {}}), MERGE_PATCH),
        ("DELETE", b"", None),
    ]
    for method, body, ctype in attempts:
        headers = {**editor, "If-Match": value, **({"Content-Type": ctype} if ctype else {})}
        detail = problem_of(api.request(method, url, content=body, headers=headers), 412)["detail"]
        assert "not an ETag this service gave" in detail, (method, detail)
        assert "changed" not in detail, (method, detail)
        assert before.headers["etag"] in detail, detail  # the one to send
    after = api.get(url)
    assert after.status_code == 200 and after.headers["etag"] == before.headers["etag"]


# ---------------------------------------------------------------------------- a POST without an id
def test_a_feature_posted_without_an_id_is_named_as_the_posted_feature(api: TestClient, editor: dict[str, str]) -> None:
    feature = api.get("/collections/landscaping/items", params={"limit": 1}).json()["features"][0]
    headers = {**editor, "Content-Type": GEOJSON}
    one = {"type": "Feature", "geometry": feature["geometry"], "properties": {}}
    details = []
    for _ in range(2):
        body = problem_of(api.post("/collections/landscaping/items", content=orjson.dumps(one), headers=headers), 400)
        assert "required property 'code' is missing" in body["detail"], body
        assert "the posted feature" in body["detail"], body
        assert not UUID.search(orjson.dumps(body).decode()), body  # no random id, in the detail or the problems
        details.append(body["detail"])
    assert details[0] == details[1]  # the same body, the same answer
    # in a collection, each is named by its place in the body; a given id is named as it was given
    many = {"type": "FeatureCollection", "features": [{**one, "id": "ls-new"}, one]}
    body = problem_of(api.post("/collections/landscaping/items", content=orjson.dumps(many), headers=headers), 400)
    assert "landscaping/ls-new: required property 'code' is missing" in body["detail"], body
    assert "posted feature #2" in body["detail"], body
    assert not UUID.search(body["detail"]), body


# ---------------------------------------------------------------------------- found by the generated bodies
@pytest.mark.parametrize("root", ["", "/versions/HEAD%1F"])
def test_a_search_redirect_names_its_collection_percent_encoded(api: TestClient, root: str) -> None:
    """Schemathesis, once /api declared the POST's body, posted a CQL2 JSON search to
    /collections/%1F/items: the 303's Location held the raw control character, which the server
    cannot write in a header, and the connection was dropped without an answer."""
    r = api.post(f"{root}/collections/%1F/items", content=b'{"op": "=", "args": [1, 1]}',
                 headers={"Content-Type": "application/query-cql-json"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert "/collections/%1F/items?" in location, location
    assert not re.search(r"[\x00-\x20\x7f]", location), location
