"""HTTP caching: only an answer pinned to a full commit id may be kept without asking; every other
answer revalidates, and every successful GET carries an ETag that a repeated GET turns into 304."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from api_server import bearer, build_venue, client, copy_store, make_tokens
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("api-caching")
    store = build_venue(d / "venue.gpkg")
    return store, store, make_tokens(store)


@pytest.fixture
def api(site: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Iterator[TestClient]:
    with client(copy_store(site[0], tmp_path / "venue.gpkg")) as c:
        yield c


def head_id(api: TestClient) -> str:
    return api.get("/versions?limit=1").json()["versions"][0]["id"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["HEAD", "HEAD~0", "HEAD~1", "PREFIX", None])
def test_moving_names_of_a_version_revalidate(api: TestClient, version: str | None) -> None:
    if version == "PREFIX":
        version = head_id(api)[:12]  # a later commit may make a prefix ambiguous
    for url in ("/collections/halls/items", "/collections/halls/items/hall-1.1H", "/collections/halls/download"):
        r = api.get(url + (f"?version={version}" if version else ""))
        assert r.status_code == 200, (url, r.text[:200])
        cache = r.headers["cache-control"]
        assert "no-cache" in cache and "max-age" not in cache and "immutable" not in cache, (url, cache)


def test_a_full_commit_id_is_immutable(api: TestClient) -> None:
    cid = head_id(api)
    for url in (
        f"/collections/halls/items?version={cid}",
        f"/collections/halls/items/hall-1.1H?version={cid}",
        f"/collections/halls/download?version={cid}",
        f"/versions/{cid}",
    ):
        r = api.get(url)
        assert r.status_code == 200
        assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"], url
    assert "immutable" not in api.get("/versions/HEAD").headers["cache-control"]


def _get_routes(api: TestClient) -> list[str]:
    """Every GET operation of the OpenAPI document with its path parameters filled."""
    fill = {"collectionId": "halls", "featureId": "hall-1.1H", "versionId": "HEAD", "layer": "halls", "code": "RD-03",
            # a z16 tile over the venue's halls (OGC order: tileMatrix/tileRow/tileCol)
            "tileMatrixSetId": "WebMercatorQuad", "tileMatrix": "16", "tileRow": "26786", "tileCol": "54849"}  # fmt: skip
    required = {"from": "2026-09-01", "date": "T-10"}
    urls = []
    for path, ops in api.get("/api").json()["paths"].items():
        if "get" not in ops or "{surveyId}" in path:
            continue  # this twin has no survey; test_api_surveys checks their caching and 304s
        url = re.sub(r"{(\w+)}", lambda m: fill[m.group(1)], path)
        params = [p["name"] for p in ops["get"].get("parameters", []) if p.get("in") == "query" and p.get("required")]
        if params:
            url += "?" + "&".join(f"{n}={required[n]}" for n in params)
        urls.append(url)
    return urls


def test_every_get_answers_if_none_match_with_304(api: TestClient) -> None:
    urls = _get_routes(api)
    assert len(urls) > 25
    for url in urls:
        first = api.get(url)
        assert first.status_code == 200, (url, first.status_code, first.text[:200])
        etag = first.headers.get("etag")
        assert etag, f"{url} has no ETag"
        again = api.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, (url, again.status_code)
        assert again.content == b"" and again.headers["etag"] == etag
        other = api.get(url, headers={"If-None-Match": '"something-else"'})
        # The same answer, but for an items page's timeStamp (when it was answered, to the second):
        # two requests either side of a second's turn differ there and nowhere else.
        assert (
            other.status_code == 200
            and _untimed(other.content) == _untimed(first.content)
            or url.startswith("/collections/halls/items")
        )


def _untimed(body: bytes) -> bytes:
    return re.sub(rb'"timeStamp":"[^"]*"', b"", body)


def test_an_etag_of_head_goes_stale_when_head_moves(api: TestClient, site: tuple[Path, Path, dict[str, str]]) -> None:
    urls = ["/collections/halls/items", "/versions", "/collections/halls/items/hall-1.1H", "/diff?from=HEAD~1"]
    tags = {u: api.get(u).headers["etag"] for u in urls}
    r = api.patch(
        "/collections/halls/items/hall-1.1H",
        content=orjson.dumps({"properties": {"notes": "caching test"}}),
        headers={**bearer(site[2]["editor"]), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    for u in urls:
        again = api.get(u, headers={"If-None-Match": tags[u]})
        assert again.status_code == 200, u
        assert again.headers["etag"] != tags[u]
    # A commit that does not touch halls leaves the hall's own ETag (its version) unchanged.
    hall = api.get("/collections/halls/items/hall-1.1H")
    road = orjson.loads(api.get("/collections/roads/items?limit=1").content)["features"][0]
    r = api.patch(
        f"/collections/roads/items/{road['id']}",
        content=orjson.dumps({"properties": {"notes": "caching test"}}),
        headers={**bearer(site[2]["editor"]), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    assert (
        api.get("/collections/halls/items/hall-1.1H", headers={"If-None-Match": hall.headers["etag"]}).status_code
        == 304
    )


def test_answers_to_a_token_are_private(api: TestClient, site: tuple[Path, Path, dict[str, str]]) -> None:
    cid = head_id(api)
    r = api.get(f"/collections/halls/items?version={cid}", headers=bearer(site[2]["viewer"]))
    assert r.headers["cache-control"].startswith("private")
    assert "Authorization" in r.headers["vary"]
    anon = api.get(f"/collections/halls/items?version={cid}")
    assert "private" not in anon.headers["cache-control"]
    assert r.headers["etag"] != anon.headers["etag"]  # a cache never hands one caller's answer to another


@pytest.mark.parametrize(
    "url", ["/collections/halls", "/versions", "/maps/completion", "/brief", "/api", "/collections/halls/items"]
)
def test_head_answers_as_get_does_with_its_etag_and_304(api: TestClient, url: str) -> None:
    """HEAD is GET without the body: the same ETag (a body's hash where the route gives none) and
    headers, and a matching If-None-Match is a 304 for it too."""
    got = api.get(url)
    assert got.status_code == 200 and got.headers.get("etag"), url
    head = api.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers.get("etag") == got.headers["etag"], url
    for name in ("cache-control", "vary", "content-type", "content-length"):
        assert head.headers.get(name) == got.headers.get(name), (url, name)
    again = api.head(url, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == got.headers["etag"], url
    assert api.head(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
