"""A project's references into a layer its reader may not see are no references for them.

The register's `features` name venue features as "layer/feature_id". For a caller who may not see
a layer (here `security`, restricted to engineers: anonymous callers, viewers and editors do not
see it) that layer is no layer, so a project's references into it appear nowhere they read: the
items and the item (JSON and HTML), the item's history, the diffs, the downloads, the completion
JSON and the project page. Whoever sees the layer reads them as stored, and a write by someone who
does not (a report, an edit of the record as they read it) keeps them in the record.

The twin is api_server.build_restricted_venue's, with HL-01 given a reference into `security`
beside its hall by an admin in a last commit that changes only that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from api_server import RESTRICTED, bearer, build_restricted_venue, client, copy_store, make_tokens
from fastapi.testclient import TestClient

from completion import save_projects
from twin import Twin

SECRET = RESTRICTED.name
HIDDEN_REF = f"{SECRET}/sec-north"
REFS = ["halls/hall-GC", HIDDEN_REF]  # as an admin wrote them
SEEN = ["halls/hall-GC"]  # as the others read them
MERGE = {"Content-Type": "application/merge-patch+json"}

Site = tuple[Path, dict[str, str]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    store = build_restricted_venue(tmp_path_factory.mktemp("hidden-refs") / "venue.gpkg", ("engineer",))
    with Twin.open(store) as twin:
        save_projects(twin, [{"code": "HL-01", "features": REFS}], author="chen.admin", message="HL-01 covers a post")
    return store, make_tokens(store)


@pytest.fixture(scope="module")
def api(site: Site) -> Iterator[TestClient]:
    with client(site[0]) as c:
        yield c


@pytest.fixture
def writable(site: Site, tmp_path: Path) -> Iterator[TestClient]:
    with client(copy_store(site[0], tmp_path / "venue.gpkg")) as c:
        yield c


def as_(site: Site, who: str | None) -> dict[str, str]:
    return bearer(site[1][who]) if who else {}


# Every read that shows a project's references (the head, and the commit that gave the hidden one).
READS = [
    "/collections/projects/items",
    "/collections/projects/items?f=html",
    "/collections/projects/items?code=HL-01",
    "/collections/projects/items/HL-01",
    "/collections/projects/items/HL-01?f=html",
    "/collections/projects/items/HL-01/history",
    "/collections/projects/download?f=csv",
    "/collections/projects/download?f=gpkg",
    "/collections/projects/download",
    "/diff?from=HEAD~2&collections=projects",
    "/projects",
    "/projects/HL-01",
    "/projects/HL-01?f=html",
    "/projects?f=csv",
    "/completion",
]


@pytest.mark.parametrize("who", [None, "viewer", "editor"])
@pytest.mark.parametrize("url", READS)
def test_a_reference_into_a_hidden_layer_is_read_by_nobody_who_may_not_see_it(
    api: TestClient, site: Site, who: str | None, url: str
) -> None:
    r = api.get(url, headers=as_(site, who))
    assert r.status_code == 200, (url, r.text[:300])
    assert f"{SECRET}/".encode() not in r.content, url
    if url in ("/collections/projects/items/HL-01", "/projects/HL-01"):
        doc = r.json()
        assert (doc["properties"] if "properties" in doc else doc["project"])["features"] == SEEN


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_whoever_sees_the_layer_reads_the_reference(api: TestClient, site: Site, who: str) -> None:
    h = as_(site, who)
    assert api.get("/collections/projects/items/HL-01", headers=h).json()["properties"]["features"] == REFS
    assert api.get("/projects/HL-01", headers=h).json()["project"]["features"] == REFS
    assert HIDDEN_REF in api.get("/collections/projects/download?f=csv", headers=h).text
    assert HIDDEN_REF.encode() in api.get("/collections/projects/items/HL-01/history", headers=h).content
    diff = api.get("/diff?from=HEAD~1&collections=projects", headers=h).json()
    assert [f["id"] for f in diff["features"]] == ["HL-01"]


def test_a_change_of_hidden_references_alone_is_no_change_to_others(api: TestClient, site: Site) -> None:
    # The last commit only gave HL-01 the hidden reference: for a viewer the record is as it was.
    h = as_(site, "viewer")
    assert api.get("/diff?from=HEAD~1&collections=projects", headers=h).json()["features"] == []
    versions = api.get("/collections/projects/items/HL-01/history", headers=h).json()["versions"]
    assert {tuple(v["feature"]["properties"]["features"]) for v in versions if v.get("feature")} == {tuple(SEEN)}
    # and no version of its own in the record's history: the one before it lasts to this day
    everything = api.get("/collections/projects/items/HL-01/history", headers=as_(site, "engineer")).json()["versions"]
    assert len(versions) == len(everything) - 1, (versions, everything)
    assert versions[:-1] == everything[:-2]
    assert versions[-1]["feature"] == everything[-2]["feature"]
    assert everything[-2]["endedBy"] == everything[-1]["commit"]["id"] and versions[-1]["endedBy"] is None


def test_the_completion_figures_read_through_a_view(site: Site) -> None:
    # What completion reads (the register's kept state and its snapshots) is the view's, not the
    # whole twin's, whichever is read first.
    from completion import Completion

    with Twin.open(site[0]) as twin:
        assert Completion(twin).at().status("HL-01").project.features == tuple(REFS)
        assert Completion(twin.for_role("viewer")).at().status("HL-01").project.features == tuple(SEEN)
        assert Completion(twin.for_role("engineer")).at().status("HL-01").project.features == tuple(REFS)


def _stored(api: TestClient, site: Site) -> dict[str, object]:
    return api.get("/collections/projects/items/HL-01", headers=as_(site, "admin")).json()["properties"]  # type: ignore[no-any-return]


def test_a_report_by_someone_who_may_not_see_the_layer_keeps_the_reference(writable: TestClient, site: Site) -> None:
    editor = as_(site, "editor")
    r = writable.post("/projects/HL-01/progress", json={"percent": 100}, headers=editor)
    assert r.status_code == 201, r.text
    stored = _stored(writable, site)
    assert stored["features"] == REFS and stored["percent_complete"] == 100
    assert writable.get("/projects/HL-01", headers=editor).json()["project"]["features"] == SEEN


def test_an_edit_of_the_record_as_read_keeps_the_reference(writable: TestClient, site: Site) -> None:
    editor = as_(site, "editor")
    # a merge patch of another field
    r = writable.patch(
        "/collections/projects/items/HL-01",
        content=orjson.dumps({"properties": {"quantity": 12500}}),
        headers={**editor, **MERGE},
    )
    assert r.status_code == 204, r.text
    assert _stored(writable, site)["features"] == REFS
    # the record PUT back as the editor read it: no change at all
    n = writable.get("/versions?limit=1", headers=as_(site, "admin")).json()["numberMatched"]
    read = writable.get("/collections/projects/items/HL-01", headers=editor).json()
    read.pop("links", None)
    r = writable.put(
        "/collections/projects/items/HL-01",
        content=orjson.dumps(read),
        headers={**editor, "Content-Type": "application/geo+json"},
    )
    assert r.status_code == 204, r.text
    assert "X-Twin-Commit" not in r.headers
    assert writable.get("/versions?limit=1", headers=as_(site, "admin")).json()["numberMatched"] == n
    # the visible references rewritten: the hidden one stays, after the reference it followed
    refs = {"properties": {"features": ["halls/hall-1.1H", "halls/hall-GC"]}}
    r = writable.patch("/collections/projects/items/HL-01", content=orjson.dumps(refs), headers={**editor, **MERGE})
    assert r.status_code == 204, r.text
    assert _stored(writable, site)["features"] == ["halls/hall-1.1H", "halls/hall-GC", HIDDEN_REF]
    # and with no visible reference left
    r = writable.patch(
        "/collections/projects/items/HL-01",
        content=orjson.dumps({"properties": {"features": None}}),
        headers={**editor, **MERGE},
    )
    assert r.status_code == 204, r.text
    assert _stored(writable, site)["features"] == [HIDDEN_REF]
    assert writable.get("/collections/projects/items/HL-01", headers=editor).json()["properties"]["features"] == []


def test_a_vector_tile_holds_the_references_its_reader_may_see(site: Site, tmp_path: Path) -> None:
    # Tiles carry a feature's properties too, so they go through the same rule. The register has no
    # geometry, so a spatial layer whose rule names a reference field stands in for one that would.
    import mapbox_vector_tile
    import morecantile
    import shapely

    from twin import Change, Feature
    from twin.core import register_rule

    register_rule("test-site-refs", lambda twin, changes, parent, when, author: [], references=("covers",))
    with Twin.open(copy_store(site[0], tmp_path / "venue.gpkg")) as twin:
        twin.create_layer(
            {
                "name": "works",
                "title_en": "Works",
                "title_zh": "施工点",
                "geometry_types": ["Point"],
                "fields": [{"name": "covers", "type": "list"}],
                "rules": ["test-site-refs"],
            },
            author="chen.admin",
        )
        at = (121.2975, 31.1890)
        point = Feature("w-1", shapely.Point(*at), {"covers": REFS})
        twin.commit([Change("works", "add", "w-1", point)], author="chen.admin", message="a work site")
        for grid in ("WebMercatorQuad", "WorldCRS84Quad"):
            t = morecantile.tms.get(grid).tile(*at, 15)
            for _ in range(2):  # a tile kept for one reader is never handed to another
                for role in ("viewer", "editor", "engineer", "admin"):
                    body = twin.for_role(role).tile("works", t.z, t.x, t.y, grid=grid)
                    (got,) = mapbox_vector_tile.decode(body)["works"]["features"]
                    want = REFS if role in ("engineer", "admin") else SEEN
                    assert orjson.loads(got["properties"]["covers"]) == want, (role, grid)
