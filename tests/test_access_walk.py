"""The visibility rule holds on every route: a walk over every operation of the OpenAPI document,
and every page, as anonymous, viewer, engineer and admin, with a layer restricted to engineers.

For a caller outside the layer's roles no answer — JSON, HTML, CSV, map data, download, error —
may carry the layer's name, its titles, its feature ids or codes, the message of a commit that
touched it, or the id of a commit that touched only it. A caller who may see the layer must find
it (so the markers are real and the walk reaches the places they would leak from).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_server import RESTRICTED, bearer, build_restricted_venue, client, make_tokens
from fastapi.testclient import TestClient
from survey_rasters import write_geotiff

from completion import save_projects
from twin import Twin
from twin.surveys import survey_schema

HIDDEN_FROM = (None, "viewer")
ALLOWED = ("engineer", "admin")
SECRET = RESTRICTED.name
SECRET_SURVEYS = "surveys_security"
SECRET_IDS = ("sec-south-gate", "sec-west-hall", "sec-north")
REFERRING = "HL-01"  # a project that references a feature of the restricted layer
SECRET_TEXT = (
    RESTRICTED.title_en,
    RESTRICTED.title_zh,
    RESTRICTED.description,
    *SECRET_IDS,
    "SEC-01",
    "SEC-02",
    "SEC-03",
    "Security posts for the expo",  # the message of the commit that touched only the layer
    "North post; hall 1.1H checked",  # the message of the commit that touched it and halls
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], dict[str, Any]]]:
    d = tmp_path_factory.mktemp("access-walk")
    # the survey files' directory, named as a database twin needs it (the PostGIS run of this module)
    mp = pytest.MonkeyPatch()
    mp.setenv("VENUE_TWIN_SURVEY_DIR", str(d / "rasters"))
    try:
        yield from _site(d)
    finally:
        mp.undo()


def _site(d: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, Any]]]:
    store = build_restricted_venue(d / "venue.gpkg", ("engineer",))
    tokens = make_tokens(store)
    # A public orthophoto and one in a survey layer restricted to engineers, imported after the
    # restricted layer's commits: the secret survey's id and commit must not reach outsiders either.
    # Before them, a project given a reference into the restricted layer (beside its own): what an
    # outsider reads of the register names neither the layer nor the feature.
    with Twin.open(store) as twin:
        had = list(orjson.loads(twin.feature("projects", REFERRING))["properties"]["features"])
        save_projects(twin, [{"code": REFERRING, "features": [*had, f"{SECRET}/sec-north"]}], author="admin",
                      message="A project covers a post")  # fmt: skip
        twin.import_survey(
            write_geotiff(d / "ortho.tif"), kind="orthophoto", on=date(2026, 10, 20), author="drone.team"
        )
        twin.create_layer(survey_schema(SECRET_SURVEYS, ("engineer",)), author="admin")
        twin.import_survey(
            write_geotiff(d / "secret.tif", seed=9), kind="orthophoto", on=date(2026, 10, 22), author="drone.team",
            layer=SECRET_SURVEYS,
        )  # fmt: skip
        public_survey, secret_survey = (
            next(s for s in twin.surveys() if s.layer == n) for n in ("surveys", SECRET_SURVEYS)
        )
    with client(store) as c:
        admin = bearer(tokens["admin"])
        log = c.get("/versions", params={"limit": 100}, headers=admin).json()["versions"]
        secret_only = next(v for v in log if v["message"] == "Security posts for the expo")
        mixed = next(v for v in log if v["message"] == "North post; hall 1.1H checked")
        assert secret_only["counts"].keys() == {SECRET} and mixed["counts"].keys() == {SECRET, "halls"}
        facts = {
            "secret_only_id": secret_only["id"],
            "mixed_id": mixed["id"],
            "before_secret": secret_only["parent"],
            "public_head": public_survey.commit,  # the last commit an outsider can see
            "survey_ids": [public_survey.id, secret_survey.id],
            "secret_survey": [secret_survey.id, secret_survey.commit, SECRET_SURVEYS],
            "project": REFERRING,
            "openapi": c.get("/api").json(),
        }
        yield c, tokens, facts


def _secret_markers(facts: dict[str, Any]) -> list[str]:
    hidden_commit = facts["secret_only_id"]
    return [*SECRET_TEXT, hidden_commit, hidden_commit[:12], *facts["secret_survey"]]


def _layer_name_leaks(text: str) -> bool:
    """The layer's name as a name: a JSON string, a path segment or a data attribute (the word may
    occur in ordinary prose, e.g. a project's description of security checks)."""
    return re.search(rf'"{SECRET}"|/{SECRET}\b|={SECRET}\b|\b{SECRET}/|\'{SECRET}\'', text) is not None


def _requests(facts: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(method, url, extra headers) for every operation in the OpenAPI document, with its path
    parameters filled for visible and hidden things, plus the pages and error pages."""
    values = {
        "collectionId": ["halls", "projects", SECRET],
        "layer": ["halls", SECRET, "no-such-layer"],
        "featureId": ["hall-1.1H", "sec-north"],
        "versionId": ["HEAD", facts["secret_only_id"], facts["mixed_id"], facts["secret_only_id"][:12]],
        "code": [facts["project"]],
        "tileMatrixSetId": ["WebMercatorQuad"],
        # a z16 tile over the north of the venue, where the north security post is
        "tileMatrix": ["16"],
        "tileRow": ["26785"],
        "tileCol": ["54849"],
        # survey tiles: z17 over the middle of the venue, where both test surveys are
        "surveyId": facts["survey_ids"],
        "z": ["17"],
        "x": ["109699"],
        "y": ["53573"],
        "fmt": ["png"],
    }
    query_variants: list[dict[str, str]] = [
        {},
        {"version": facts["secret_only_id"]},
        {"version": "HEAD~1"},
        {"f": "html"},
        {"f": "csv"},
        {"from": "2026-01-01"},
        {"from": facts["secret_only_id"]},
        {"date": "T-10"},
    ]
    out: list[tuple[str, str, dict[str, str]]] = []
    for path, ops in facts["openapi"]["paths"].items():
        for method, op in ops.items():
            names = re.findall(r"{(\w+)}", path)
            urls = [path]
            for name in names:
                urls = [u.replace("{" + name + "}", v) for u in urls for v in values[name]]
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
            required = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query" and p.get("required")}
            for url in urls:
                for q in query_variants:
                    if not set(q) <= declared:
                        continue
                    params = {**{n: "2026-01-01" if n == "from" else "T-10" for n in required}, **q}
                    query = "&".join(f"{k}={v}" for k, v in params.items())
                    out.append((method.upper(), url + ("?" + query if query else ""), {}))
    pages = ["/", "/maps", "/maps?lang=en", "/collections?f=html", "/docs", "/maps/changes?from=2026-01-01"]
    out += [("GET", p, {"Accept": "text/html"}) for p in pages]
    return out


def _bodies(method: str) -> dict[str, Any]:
    if method in ("POST", "PUT"):
        return {
            "content": b'{"type":"Feature","geometry":null,"properties":{}}',
            "headers": {"Content-Type": "application/geo+json"},
        }
    if method == "PATCH":
        return {"content": b'{"properties":{}}', "headers": {"Content-Type": "application/merge-patch+json"}}
    return {}


@pytest.mark.parametrize("who", HIDDEN_FROM)
def test_nothing_of_a_restricted_layer_reaches_a_caller_outside_its_roles(
    site: tuple[TestClient, dict[str, str], dict[str, Any]], who: str | None
) -> None:
    c, tokens, facts = site
    auth = bearer(tokens[who]) if who else {}
    markers = _secret_markers(facts)
    leaks: list[str] = []
    walked = 0
    for method, url, headers in _requests(facts):
        if method not in ("GET", "HEAD", "OPTIONS"):
            continue  # writes are walked below, with bodies
        r = c.request(method, url, headers={**headers, **auth})
        walked += 1
        assert r.status_code < 500, (url, r.status_code, r.text[:300])
        text = r.content.decode("utf-8", "replace") + " " + " ".join(f"{k}: {v}" for k, v in r.headers.items())
        found = [m for m in markers if m in text and m not in url]
        if SECRET not in url and _layer_name_leaks(text):
            found.append(f"the name {SECRET!r}")
        if found:
            leaks.append(f"{method} {url} -> {r.status_code}: {found}")
    assert walked > 150, walked
    assert not leaks, "\n".join(leaks[:30])


@pytest.mark.parametrize("who", HIDDEN_FROM)
def test_writes_to_a_restricted_layer_tell_nothing_either(
    site: tuple[TestClient, dict[str, str], dict[str, Any]], who: str | None
) -> None:
    c, tokens, facts = site
    auth = bearer(tokens[who]) if who else {}
    markers = _secret_markers(facts)
    for method, url, _ in _requests(facts):
        if method not in ("POST", "PUT", "PATCH", "DELETE") or SECRET not in url:
            continue
        body = _bodies(method)
        r = c.request(method, url, content=body.get("content"), headers={**body.get("headers", {}), **auth})
        assert r.status_code in (401, 403, 404), (method, url, r.status_code, r.text[:300])
        assert not [m for m in markers if m in r.text and m not in url], (method, url, r.text[:300])


@pytest.mark.parametrize("who", ALLOWED)
def test_the_layer_is_there_for_its_roles(site: tuple[TestClient, dict[str, str], dict[str, Any]], who: str) -> None:
    c, tokens, facts = site
    auth = bearer(tokens[who])
    assert SECRET in [x["id"] for x in c.get("/collections", headers=auth).json()["collections"]]
    assert RESTRICTED.title_zh in c.get("/maps", headers={**auth, "Accept": "text/html"}).text
    log = c.get("/versions?limit=1000", headers=auth).json()["versions"]
    assert facts["secret_only_id"] in {v["id"] for v in log}
    assert "North post; hall 1.1H checked" in {v["message"] for v in log}
    items = c.get(f"/collections/{SECRET}/items", headers=auth).json()
    assert sorted(f["id"] for f in items["features"]) == sorted(SECRET_IDS)
    assert c.get(f"/collections/halls/items?version={facts['secret_only_id']}", headers=auth).status_code == 200
    diff = c.get("/diff", params={"from": facts["before_secret"], "to": facts["mixed_id"]}, headers=auth).json()
    assert {f["twin:layer"] for f in diff["features"]} == {"halls", SECRET}
    secret_survey = facts["survey_ids"][1]
    assert secret_survey in {x["id"] for x in c.get("/surveys", headers=auth).json()["surveys"]}
    tile = c.get(f"/surveys/{secret_survey}/tiles/WebMercatorQuad/17/109699/53573.png", headers=auth)
    assert tile.status_code == 200 and tile.content.startswith(b"\x89PNG")
    project = c.get(f"/collections/projects/items/{REFERRING}", headers=auth).json()
    assert f"{SECRET}/sec-north" in project["properties"]["features"]


def test_every_page_a_hidden_caller_gets_is_the_same_as_if_the_layer_did_not_exist(
    site: tuple[TestClient, dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    """The hidden history is invisible in form too: the version a viewer reads at HEAD is the last
    commit they can see (the public survey's, not the restricted survey layer's after it), and a
    hidden commit id does not resolve."""
    c, tokens, facts = site
    r = c.get(f"/collections/halls/items?version={facts['secret_only_id']}")
    assert r.status_code == 400 and "no commit" in r.json()["detail"]
    head = c.get("/collections/halls/items?limit=1")
    assert head.headers["X-Twin-Version"] == facts["public_head"]
    assert c.get("/versions/HEAD~1").json()["id"] != facts["secret_only_id"]
