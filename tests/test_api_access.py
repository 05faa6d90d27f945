"""Access control: open reads, bearer tokens for writes (401 / 403), closed reads on request, and
restricted layers that are invisible — not forbidden — to every other role, everywhere: listings,
items, features, queryables, history, diffs, downloads and the version log.

The twin here is the bundled venue plus a `security` layer restricted to engineers (see
api_server.build_restricted_venue): commit #11 touches only that layer, #12 that layer and halls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from api_server import (
    RESTRICTED,
    TOKEN_NAMES,
    bearer,
    build_restricted_venue,
    build_venue,
    client,
    copy_store,
    make_tokens,
    problem_of,
)
from fastapi.testclient import TestClient

from layers.catalogue import LAYERS
from twin import Twin

PUBLIC = [s.name for s in LAYERS]
SECRET = RESTRICTED.name
GEOJSON = {"Content-Type": "application/geo+json"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("api-access")
    store = build_restricted_venue(d / "venue.gpkg", ("engineer",))
    return store, store, make_tokens(store)


@pytest.fixture(scope="module")
def api(site: tuple[Path, Path, dict[str, str]]) -> Iterator[TestClient]:
    with client(site[0]) as c:
        yield c


@pytest.fixture
def writable(site: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Iterator[TestClient]:
    with client(copy_store(site[0], tmp_path / "venue.gpkg")) as c:
        yield c


def as_(site: tuple[Path, Path, dict[str, str]], who: str | None) -> dict[str, str]:
    return bearer(site[2][who]) if who else {}


def count_versions(api: TestClient) -> int:
    return api.get("/versions?limit=1").json()["numberMatched"]  # type: ignore[no-any-return]


def post_post(fid: str = "sec-east") -> bytes:
    return orjson.dumps(
        {
            "type": "Feature",
            "id": fid,
            "geometry": {"type": "Point", "coordinates": [121.3000, 31.1900]},
            "properties": {"code": "SEC-09"},
        }
    )


def hall_patch() -> bytes:
    return orjson.dumps({"properties": {"notes": "access test"}})


# ---------------------------------------------------------------------------- reads and writes
def test_reads_are_open_by_default(api: TestClient) -> None:
    for url in (
        "/",
        "/conformance",
        "/collections",
        "/collections/halls/items",
        "/collections/halls/items/hall-1.1H",
        "/versions",
        "/diff?from=HEAD~1",
        "/collections/halls/download",
    ):
        assert api.get(url).status_code == 200, url


WRITES = [
    ("POST", "/collections/halls/items"),
    ("PUT", "/collections/halls/items/hall-1.1H"),
    ("PATCH", "/collections/halls/items/hall-1.1H"),
    ("DELETE", "/collections/halls/items/hall-1.1H"),
]


@pytest.mark.parametrize("method,url", WRITES)
def test_writes_without_a_valid_token_are_401(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], method: str, url: str
) -> None:
    n = count_versions(api)
    for auth in (
        None,
        "Basic bGk6d2Vp",
        "Bearer",
        "Bearer ",
        "Bearer vt_not-a-token",
        f"Bearer {site[2]['revoked']}",
        f"Token {site[2]['editor']}",
    ):
        headers = {**GEOJSON, **({"Authorization": auth} if auth is not None else {})}
        r = api.request(method, url, content=hall_patch() if method != "DELETE" else None, headers=headers)
        problem_of(r, 401)
        assert r.headers["www-authenticate"].lower().startswith("bearer"), auth
    assert count_versions(api) == n


@pytest.mark.parametrize("method,url", WRITES)
@pytest.mark.parametrize("role", ["viewer", "engineer"])
def test_writes_below_the_editor_role_are_403(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], method: str, url: str, role: str
) -> None:
    n = count_versions(api)
    r = api.request(
        method, url, content=hall_patch() if method != "DELETE" else None, headers={**GEOJSON, **as_(site, role)}
    )
    body = problem_of(r, 403)
    assert role in body["detail"] and "editor" in body["detail"]
    assert f"{TOKEN_NAMES[role]} is {'an' if role == 'engineer' else 'a'} {role};" in body["detail"], body
    assert count_versions(api) == n


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_and_admins_write_and_author_their_commits(
    writable: TestClient, site: tuple[Path, Path, dict[str, str]], role: str
) -> None:
    n = count_versions(writable)
    r = writable.patch(
        "/collections/halls/items/hall-1.1H", content=hall_patch(), headers={**GEOJSON, **as_(site, role)}
    )
    assert r.status_code == 204, r.text
    newest = writable.get("/versions?limit=1").json()
    assert newest["numberMatched"] == n + 1
    assert newest["versions"][0]["author"] == TOKEN_NAMES[role]


def test_a_revoked_token_stops_working_at_once(writable: TestClient, site: tuple[Path, Path, dict[str, str]]) -> None:
    store = writable.app.state.tokens  # the tokens of the copy the client serves
    token = store.create("temp.editor", "editor")
    headers = {**GEOJSON, **bearer(token)}
    assert (
        writable.patch("/collections/halls/items/hall-1.1H", content=hall_patch(), headers=headers).status_code == 204
    )
    store.revoke("temp.editor")
    r = writable.patch(
        "/collections/halls/items/hall-1.1H", content=orjson.dumps({"properties": {"notes": "again"}}), headers=headers
    )
    problem_of(r, 401)


def test_closed_reads_need_a_token(tmp_path: Path) -> None:
    store = build_venue(tmp_path / "venue.gpkg")
    tokens = make_tokens(store)
    with client(store, public_reads=False) as api:
        for url in (
            "/",
            "/collections",
            "/collections/halls/items",
            "/collections/halls/items/hall-1.1H",
            "/versions",
            "/diff?from=HEAD~1",
            "/collections/halls/download",
            "/collections/halls/items/hall-1.1H/history",
        ):
            r = api.get(url)
            problem_of(r, 401)
            assert "www-authenticate" in r.headers
            assert api.get(url, headers=bearer("vt_wrong")).status_code == 401
            assert api.get(url, headers=bearer(tokens["viewer"])).status_code == 200, url
        # The API definition stays public; the collections' own paths in it are for readers only.
        assert "/collections/halls/items" not in api.get("/api").json()["paths"]
        assert "/collections/halls/items" in api.get("/api", headers=bearer(tokens["viewer"])).json()["paths"]


# ---------------------------------------------------------------------------- restricted layers
HIDDEN_FROM = [None, "viewer"]
SHOWN_TO = ["engineer", "admin"]

SECRET_URLS = [
    f"/collections/{SECRET}",
    f"/collections/{SECRET}?f=html",
    f"/collections/{SECRET}/queryables",
    f"/collections/{SECRET}/items",
    f"/collections/{SECRET}/items?version=HEAD~1",
    f"/collections/{SECRET}/items?f=html",
    f"/collections/{SECRET}/items?code=SEC-01",
    f"/collections/{SECRET}/items?code=SEC-01&no_such_property=1",
    f"/collections/{SECRET}/items/sec-south-gate",
    f"/collections/{SECRET}/items/sec-south-gate?version=HEAD~1",
    f"/collections/{SECRET}/items/sec-south-gate/history",
    f"/collections/{SECRET}/download",
    f"/collections/{SECRET}/download?f=gpkg&version=HEAD~1",
    f"/diff?from=HEAD~2&collections={SECRET}",
    f"/diff?from=HEAD~2&collections=halls,{SECRET}",
]


@pytest.mark.parametrize("who", HIDDEN_FROM)
@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_restricted_layer_is_missing_for_others(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], who: str | None, url: str
) -> None:
    r = api.get(url, headers=as_(site, who))
    if "f=html" in url:  # a page's 404 is the error page (api/errors.py), the same as a missing layer's
        other_page = api.get(url.replace(SECRET, "no_such_layer"), headers=as_(site, who))
        assert r.status_code == other_page.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert r.text.replace(SECRET, "X") == other_page.text.replace("no_such_layer", "X")
        assert "restricted" not in r.text.lower() and "engineer" not in r.text.lower()
        return
    body = problem_of(r, 404)
    # Indistinguishable from a layer that does not exist.
    other = problem_of(api.get(url.replace(SECRET, "no_such_layer"), headers=as_(site, who)), 404)
    assert body["detail"].replace(SECRET, "X") == other["detail"].replace("no_such_layer", "X")
    assert "restricted" not in r.text.lower() and "engineer" not in r.text.lower()


@pytest.mark.parametrize("who", HIDDEN_FROM)
def test_a_restricted_layer_is_not_listed_for_others(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], who: str | None
) -> None:
    h = as_(site, who)
    assert [c["id"] for c in api.get("/collections", headers=h).json()["collections"]] == PUBLIC
    html = api.get("/collections?f=html", headers=h).text
    assert SECRET not in html and RESTRICTED.title_en not in html and RESTRICTED.title_zh not in html
    problem_of(api.options(f"/collections/{SECRET}/items", headers=h), 404)
    # The API definition's paths per collection (for GDAL's property filters) leave it out too.
    paths = api.get("/api", headers=h).json()["paths"]
    assert f"/collections/{SECRET}/items" not in paths and "/collections/halls/items" in paths
    # (an operation's `security`, the bearer scheme a write names, is OpenAPI's word, not the layer)
    ops = {
        p: {m: {k: v for k, v in op.items() if k != "security"} for m, op in item.items()} for p, item in paths.items()
    }
    assert any("security" in op for item in paths.values() for op in item.values())
    assert SECRET not in orjson.dumps(ops).decode()


@pytest.mark.parametrize("who", HIDDEN_FROM)
def test_diffs_and_versions_hide_a_restricted_layer(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], who: str | None
) -> None:
    h = as_(site, who)
    # HEAD~n counts the commits the caller can see: the commit before the last is hidden from them.
    diff = api.get("/diff?from=HEAD~1", headers=h).json()
    assert {f["twin:layer"] for f in diff["features"]} == {"halls"}
    assert [f["id"] for f in diff["features"]] == ["hall-1.1H"]
    assert set(diff["twin:counts"]) == {"halls"}
    assert SECRET not in orjson.dumps(diff).decode()
    whole = api.get("/diff?from=2026-01-01", headers=h).json()
    layers = {f["twin:layer"] for f in whole["features"]}
    assert SECRET not in layers and {"venue_boundary", "halls", "south_plaza", "roads", "landscaping"} <= layers
    log = api.get("/versions", headers=h).json()
    for v in log["versions"]:
        assert SECRET not in v["counts"], v
        assert v["counts"], "a commit that touched only the hidden layer must not be listed"
    assert log["versions"][0]["counts"] == {"halls": {"added": 0, "modified": 1, "deleted": 0}}
    assert log["numberMatched"] == len(api.get("/versions?limit=1000", headers=h).json()["versions"])
    # paged through its next links (which name the head read), the log is the same list
    everything = [v["id"] for v in api.get("/versions?limit=1000", headers=h).json()["versions"]]
    paged, url = [], "/versions?limit=7"
    while url:
        page = api.get(url, headers=h).json()
        assert page["numberMatched"] == len(everything)
        paged += [v["id"] for v in page["versions"]]
        nxt = [lk["href"] for lk in page["links"] if lk["rel"] == "next"]
        url = nxt[0].removeprefix("http://testserver") if nxt else ""
    assert paged == everything
    pinned = api.get(f"/versions?limit=2&version={everything[3]}", headers=h).json()
    assert [v["id"] for v in pinned["versions"]] == everything[3:5]
    secret_only = api.get("/versions/HEAD~1", headers=as_(site, "admin")).json()["id"]
    assert secret_only not in {v["id"] for v in api.get("/versions?limit=1000", headers=h).json()["versions"]}
    problem_of(api.get(f"/versions/{secret_only}", headers=h), 404)
    both = api.get("/versions/HEAD", headers=h).json()
    assert both["changes"] == [{"collection": "halls", "op": "modify", "id": "hall-1.1H"}]
    assert SECRET not in orjson.dumps(both).decode()
    # The commit that also touched the hidden layer keeps its author but not its message; its
    # parent is the last commit the caller can see, and the numbers run without a gap.
    admin_view = api.get("/versions/HEAD", headers=as_(site, "admin")).json()
    assert both["id"] == admin_view["id"] and both["author"] == admin_view["author"]
    assert both["message"] != admin_view["message"] and "withheld" in both["message"]
    assert both["parent"] == api.get("/versions/HEAD~1", headers=h).json()["id"] != admin_view["parent"]
    every = api.get("/versions?limit=1000", headers=h).json()["versions"]
    assert [v["seq"] for v in every][::-1] == list(range(1, log["numberMatched"] + 1))
    hist = api.get("/collections/halls/items/hall-1.1H/history", headers=h).json()
    for v in hist["versions"]:
        assert SECRET not in v["commit"]["counts"]


@pytest.mark.parametrize("who", SHOWN_TO)
def test_a_restricted_layer_is_visible_to_its_roles(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], who: str, tmp_path: Path
) -> None:
    import pyogrio

    h = as_(site, who)
    assert [c["id"] for c in api.get("/collections", headers=h).json()["collections"]] == [*PUBLIC, SECRET]
    items = api.get(f"/collections/{SECRET}/items", headers=h).json()
    assert sorted(f["id"] for f in items["features"]) == ["sec-north", "sec-south-gate", "sec-west-hall"]
    assert api.get(f"/collections/{SECRET}/items?version=HEAD~1", headers=h).json()["numberMatched"] == 2
    assert api.get(f"/collections/{SECRET}/items/sec-south-gate", headers=h).status_code == 200
    assert api.get(f"/collections/{SECRET}/queryables", headers=h).status_code == 200
    assert [f["id"] for f in api.get(f"/collections/{SECRET}/items?code=SEC-01", headers=h).json()["features"]] == [
        "sec-south-gate"
    ]
    assert f"/collections/{SECRET}/items" in api.get("/api", headers=h).json()["paths"]
    assert api.get(f"/collections/{SECRET}/items/sec-north/history", headers=h).status_code == 200
    dl = api.get(f"/collections/{SECRET}/download?f=gpkg", headers=h)
    assert dl.status_code == 200
    (tmp_path / "s.gpkg").write_bytes(dl.content)
    assert len(pyogrio.read_dataframe(tmp_path / "s.gpkg")) == 3
    diff = api.get("/diff?from=HEAD~2", headers=h).json()
    assert diff["twin:counts"][SECRET] == {"added": 3, "modified": 0, "deleted": 0}
    assert sorted(f["id"] for f in diff["features"] if f["twin:layer"] == SECRET) == [
        "sec-north",
        "sec-south-gate",
        "sec-west-hall",
    ]
    assert api.get(f"/diff?from=HEAD~2&collections={SECRET}", headers=h).status_code == 200
    only_secret = api.get("/versions/HEAD~1", headers=h).json()
    assert only_secret["counts"] == {SECRET: {"added": 2, "modified": 0, "deleted": 0}}
    assert len(only_secret["changes"]) == 2
    assert SECRET in api.get("/versions", headers=h).json()["versions"][0]["counts"]


def test_admins_write_a_restricted_layer_that_others_cannot_see(
    writable: TestClient, site: tuple[Path, Path, dict[str, str]]
) -> None:
    r = writable.post(f"/collections/{SECRET}/items", content=post_post(), headers={**GEOJSON, **as_(site, "admin")})
    assert r.status_code == 201, r.text
    cid = r.headers["x-twin-commit"]
    for who in HIDDEN_FROM:
        problem_of(writable.get(f"/versions/{cid}", headers=as_(site, who)), 404)
        problem_of(writable.get(f"/collections/{SECRET}/items/sec-east", headers=as_(site, who)), 404)
    eng = writable.get(f"/collections/{SECRET}/items/sec-east", headers=as_(site, "engineer"))
    assert eng.status_code == 200
    # A viewer cannot write to it either.
    viewer = writable.post(
        f"/collections/{SECRET}/items", content=post_post("sec-x"), headers={**GEOJSON, **as_(site, "viewer")}
    )
    assert viewer.status_code in (403, 404)


def test_a_layer_restricted_to_admins(tmp_path: Path) -> None:
    store = build_restricted_venue(tmp_path / "venue.gpkg", ("admin",))
    tokens = make_tokens(store)
    with client(store) as api:
        for who in (None, "viewer", "engineer", "editor"):
            h = bearer(tokens[who]) if who else {}
            assert SECRET not in [c["id"] for c in api.get("/collections", headers=h).json()["collections"]]
            problem_of(api.get(f"/collections/{SECRET}/items", headers=h), 404)
            problem_of(api.get(f"/collections/{SECRET}/download", headers=h), 404)
            assert SECRET not in api.get("/diff?from=HEAD~2", headers=h).json()["twin:counts"]
        h = bearer(tokens["admin"])
        assert api.get(f"/collections/{SECRET}/items", headers=h).json()["numberMatched"] == 3
        assert SECRET in api.get("/diff?from=HEAD~2", headers=h).json()["twin:counts"]


# ---------------------------------------------------------------------------- references from the register
def test_a_project_reference_into_a_hidden_layer_is_no_layer(
    writable: TestClient, site: tuple[Path, Path, dict[str, str]]
) -> None:
    # An editor may not see the layer: a reference into it, to a feature there or not, is refused
    # as one into a layer that does not exist, on every write path, and nothing is committed.
    editor, admin = as_(site, "editor"), as_(site, "admin")
    merge = {**editor, "Content-Type": "application/merge-patch+json"}
    record = writable.get("/collections/projects/items/HL-01", headers=editor).json()
    new = {**record, "id": "HL-90"}
    new["properties"] = {k: v for k, v in record["properties"].items() if not k.startswith(("percent", "progress"))}
    new["properties"].update(code="HL-90", name_en="Access test", name_zh="访问测试")

    def writes(refs: list[str]) -> list[tuple[int, str]]:
        patch = {"properties": {"features": refs}}
        put = {**record, "properties": {**record["properties"], "features": refs}}
        post = {**new, "properties": {**new["properties"], "features": refs}}
        sheet = f"Code,Features\nHL-01,{';'.join(refs)}\n".encode()
        got = [
            writable.patch("/collections/projects/items/HL-01", content=orjson.dumps(patch), headers=merge),
            writable.put("/collections/projects/items/HL-01", content=orjson.dumps(put), headers={**GEOJSON, **editor}),
            writable.post("/collections/projects/items", content=orjson.dumps(post), headers={**GEOJSON, **editor}),
            writable.post("/projects/import", content=sheet, headers={**editor, "Content-Type": "text/csv"}),
        ]
        return [(r.status_code, r.json().get("detail", "") if r.content else "") for r in got]

    n = count_versions(writable)
    heads = writable.get("/versions?limit=1", headers=admin).json()["versions"][0]["id"]
    for fid in ("sec-north", "sec-no-such-post"):  # the first exists
        hidden, missing = writes([f"{SECRET}/{fid}"]), writes([f"no_such_layer/{fid}"])
        assert [s for s, _ in hidden] == [s for s, _ in missing] and all(s in (400, 422) for s, _ in hidden), hidden
        assert [d.replace(SECRET, "X") for _, d in hidden] == [d.replace("no_such_layer", "X") for _, d in missing]
    assert count_versions(writable) == n
    assert writable.get("/versions?limit=1", headers=admin).json()["versions"][0]["id"] == heads
    # Whoever sees the layer references it (an admin: engineers do not write); the record then keeps
    # it through an editor's writes that leave it as it is (a report, a new quantity), not judged.
    eng = {**admin, "Content-Type": "application/merge-patch+json"}
    refs = ["halls/hall-GC", f"{SECRET}/sec-north"]
    r = writable.patch("/collections/projects/items/HL-01", content=orjson.dumps({"properties": {"features": refs}}),
                       headers=eng)  # fmt: skip
    assert r.status_code == 204, r.text
    # (on a head the editor cannot see: a commit to the hidden layer alone)
    r = writable.post(f"/collections/{SECRET}/items", content=post_post(), headers={**GEOJSON, **admin})
    assert r.status_code == 201, r.text
    r = writable.patch("/collections/projects/items/HL-01", content=orjson.dumps({"properties": {"quantity": 12500}}),
                       headers=merge)  # fmt: skip
    assert r.status_code == 204, r.text
    kept = writable.get("/collections/projects/items/HL-01", headers=admin).json()["properties"]
    assert kept["features"] == refs and kept["quantity"] == 12500
    # but not given anew beside it
    again = {"properties": {"features": [*refs, f"{SECRET}/sec-west-hall"]}}
    r = writable.patch("/collections/projects/items/HL-01", content=orjson.dumps(again), headers=merge)
    assert problem_of(r, 400)["detail"].endswith(f"no venue layer {SECRET!r}"), r.text


# ---------------------------------------------------------------------------- the register's words
AREA_ROW = re.compile(r'<tr data-area="landscaping"[^>]*>\s*<td>([^<]*?)\s*(?:<|$)')


def test_an_area_is_named_for_every_caller_though_its_layer_is_hidden(
    site: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    # An area is a value of the register (its schema labels it), not layer data: a caller who may
    # not see the layer it is named after reads its name as the project page gives it.
    from completion import Completion
    from web.brief import gather

    store = copy_store(site[0], tmp_path / "venue.gpkg")
    with Twin.open(store) as twin:
        twin.alter_layer("landscaping", {"restricted_to": ["engineer"]}, author="admin")
        for lang, title in (("zh", "绿化景观"), ("en", "Landscaping")):
            view = twin.for_role("viewer")
            comp = Completion(view)
            assert gather(view, comp, comp.at(), lang).area_titles.get("landscaping") == title
    with client(store) as api:
        for who in HIDDEN_FROM:
            h = as_(site, who)
            assert "landscaping" not in [c["id"] for c in api.get("/collections", headers=h).json()["collections"]]
            for lang, title in (("zh", "绿化景观"), ("en", "Landscaping")):
                for page in ("/maps/completion", "/maps/timeline"):
                    html = api.get(page, params={"lang": lang}, headers=h).text
                    assert AREA_ROW.findall(html) == [title], (page, lang, who)


@pytest.mark.parametrize("who", HIDDEN_FROM)
def test_a_withheld_message_is_said_in_the_pages_language(
    api: TestClient, site: tuple[Path, Path, dict[str, str]], who: str | None
) -> None:
    # HEAD also touched the hidden layer: its message is withheld, in English in the API's JSON and
    # in the page's language in the version pickers of the maps and of the OGC pages.
    h = as_(site, who)
    withheld = "(message withheld: this commit also changed layers you may not see)"
    assert api.get("/versions/HEAD", headers=h).json()["message"] == withheld
    for page in ("/maps/layers/projects", "/maps/layers/halls", "/collections/halls/items?f=html"):
        sep = "&" if "?" in page else "?"
        zh, en = (api.get(f"{page}{sep}lang={lang}", headers=h).text for lang in ("zh", "en"))
        assert "message withheld" not in zh and "提交说明不予显示" in zh, page
        assert "提交说明不予显示" not in en and "message withheld" in en, page
