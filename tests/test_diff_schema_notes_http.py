"""`/diff` says what `venue-twin diff` says on stderr: a note per layer whose schema the range spans
(created or altered between its versions), since such a diff committed back is refused. In the
FeatureCollection, as `twin:notes`, in the CLI's words (layers.changefile.diff_schema_notes makes
both), and only of layers the caller may see: a hidden layer's schema change, or its features
changing beside a visible layer's schema, tell nothing of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from api_server import (
    EPSG4549,
    RESTRICTED,
    bearer,
    build_restricted_venue,
    build_venue,
    client,
    make_tokens,
)
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from twin import Change, Feature, Twin, feature_from_geojson

runner = CliRunner()
SECRET = RESTRICTED.name
KIOSKS = {"name": "kiosks", "title_zh": "售货亭", "title_en": "Kiosks", "geometry_types": ["Point"],
          "fields": [{"name": "code", "type": "string", "required": True}], "code_field": "code"}  # fmt: skip


def head(twin: Twin) -> str:
    h = twin.head()
    assert h is not None
    return h.id


def longer_wall(twin: Twin, length: float) -> None:
    wall = feature_from_geojson(twin.feature("landscaping", "ls-green-wall-01"))
    wall.properties["length_m"] = length
    twin.commit([Change("landscaping", "modify", wall.id, wall)], author="li.wei", message="A longer wall")


def cli_notes(store: Any, *args: str) -> list[str]:
    """The notes `venue-twin diff ARGS` says on stderr, without their `note: `."""
    r = runner.invoke(app, ["diff", *args, "--store", str(store)])
    assert r.exit_code == 0, r.stderr
    return [line.removeprefix("note: ") for line in r.stderr.splitlines() if line.startswith("note: ")]


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The bundled venue, then: halls altered, the green wall longer, a kiosks layer created."""
    store = build_venue(tmp_path_factory.mktemp("diff-notes") / "venue.gpkg")
    with Twin.open(store) as t:
        start = head(t)
        t.alter_layer("halls", {"add_fields": [{"name": "inspected", "type": "boolean"}]}, author="chen.admin")
        longer_wall(t, 99.0)
        t.create_layer(KIOSKS, author="chen.admin")
    return store, start[:12]


@pytest.fixture(scope="module")
def api(venue: tuple[Any, str]) -> Iterator[TestClient]:
    with client(venue[0]) as c:
        yield c


def test_diff_across_schema_changes_carries_the_clis_notes(api: TestClient, venue: tuple[Any, str]) -> None:
    store, start = venue
    doc = api.get(f"/diff?from={start}&to=HEAD").json()
    notes = doc["twin:notes"]
    assert notes == cli_notes(store, start, "HEAD")  # the same words, note for note
    halls, kiosks = notes
    assert halls.startswith(f"halls: the diff spans a change of the schema of layer halls (altered between {start}")
    assert f"`venue-twin diff {start} HEAD --layer landscaping` diffs only the layers" in halls
    assert kiosks.startswith("kiosks: the diff spans the creation of layer kiosks")
    assert all(n.endswith("`venue-twin commit` refuses this diff") for n in notes)
    # backwards, and in another CRS: the command that leaves the layers out keeps the diff's CRS
    back = api.get(f"/diff?from=HEAD&to={start}&crs={EPSG4549}").json()
    assert back["twin:crs"] == "EPSG:4549"
    assert back["twin:notes"] == cli_notes(store, "HEAD", start, "--crs", "EPSG:4549")
    assert f"`venue-twin diff HEAD {start} --layer landscaping --crs EPSG:4549`" in back["twin:notes"][0]
    # only the layers asked for are noted; a range that spans no schema change has no notes
    (only,) = api.get(f"/diff?from={start}&to=HEAD&collections=halls").json()["twin:notes"]
    assert only.startswith("halls: ") and only.endswith(
        "(the diff changes no other layer); `venue-twin commit` refuses this diff"
    )
    assert "twin:notes" not in api.get(f"/diff?from={start}&to=HEAD&collections=landscaping").json()
    assert "twin:notes" not in api.get("/diff?from=HEAD~1&to=HEAD&collections=halls,landscaping").json()
    assert doc["twin:counts"]["halls"] == {"added": 0, "modified": 0, "deleted": 0, "schema": 1}


# ---------------------------------------------------------------------------- a restricted layer
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str], list[str]]:
    """The venue with a `security` layer only engineers (and admins) see, then four commits:
    halls altered, a security post, a longer wall, security altered (ids `marks`: before them, and
    after each)."""
    store = build_restricted_venue(tmp_path_factory.mktemp("diff-notes-restricted") / "venue.gpkg")
    with Twin.open(store) as t:
        marks = [head(t)]
        t.alter_layer("halls", {"add_fields": [{"name": "inspected", "type": "boolean"}]}, author="chen.admin")
        marks.append(head(t))
        post = Feature("sec-east", shapely.Point(121.2985, 31.1900), {"code": "SEC-09"})
        t.commit([Change(SECRET, "add", post.id, post)], author="site office", message="East post")
        marks.append(head(t))
        longer_wall(t, 98.0)
        marks.append(head(t))
        t.alter_layer(SECRET, {"add_fields": [{"name": "shift", "type": "string"}]}, author="chen.admin")
        marks.append(head(t))
    return store, make_tokens(store), marks


@pytest.fixture(scope="module")
def restricted_api(site: tuple[Any, dict[str, str], list[str]]) -> Iterator[TestClient]:
    with client(site[0]) as c:
        yield c


@pytest.mark.parametrize("who", [None, "viewer", "editor"])
def test_diff_notes_name_no_layer_the_caller_may_not_see(
    restricted_api: TestClient, site: tuple[Any, dict[str, str], list[str]], who: str | None
) -> None:
    _, tokens, marks = site
    h = bearer(tokens[who]) if who else {}
    start, wall = marks[0][:12], marks[3][:12]
    # the wall's commit: the security post before it is hidden, so no `--layer security` in the halls note
    upto_wall = restricted_api.get(f"/diff?from={start}&to={wall}", headers=h)
    # the head: security's schema altered, which is no note either
    upto_head = restricted_api.get(f"/diff?from={start}&to=HEAD", headers=h)
    for r, to in ((upto_wall, wall), (upto_head, "HEAD")):
        assert r.status_code == 200, r.text
        assert SECRET not in r.text
        (note,) = r.json()["twin:notes"]
        assert note.startswith(f"halls: the diff spans a change of the schema of layer halls (altered between {start}")
        assert f"`venue-twin diff {start} {to} --layer landscaping` diffs only" in note


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_diff_notes_name_a_restricted_layer_to_its_roles(
    restricted_api: TestClient, site: tuple[Any, dict[str, str], list[str]], who: str
) -> None:
    store, tokens, marks = site
    h = bearer(tokens[who])
    start, wall = marks[0][:12], marks[3][:12]
    (halls,) = restricted_api.get(f"/diff?from={start}&to={wall}", headers=h).json()["twin:notes"]
    assert f"`venue-twin diff {start} {wall} --layer landscaping --layer {SECRET}` diffs only" in halls
    notes = restricted_api.get(f"/diff?from={start}&to=HEAD", headers=h).json()["twin:notes"]
    assert [n.split(":")[0] for n in notes] == ["halls", SECRET]
    assert notes[1].startswith(f"{SECRET}: the diff spans a change of the schema of layer {SECRET}")
    assert notes == cli_notes(store, start, "HEAD")  # what an admin's CLI says of the same range
