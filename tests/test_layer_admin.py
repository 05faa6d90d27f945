"""Layer administration: a layer is created, and its schema changed, only by a commit.

Twin level (create, each kind of alteration, refusals naming the features, as-of schemas, diffs,
fsck, deterministic ids), the CLI (`venue-twin layer create|alter|show` in a subprocess, then
`log` and `diff`), and the HTTP API (admins create and alter; editors 403; anonymous 401).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyogrio
import pytest
import shapely
from api_server import ROOT, VENV_BIN, bearer, build_venue, client, copy_store, make_tokens, problem_of
from conftest import MakeTwin
from store_contract import GATES, at, gate, pt
from web_support import write_unchecked

from twin import BadInput, Change, Conflict, Feature, LayerSchema, NotFound, Twin, ValidationFailed
from twin.model import SCHEMA_ID, FieldSpec
from twin.validation import normalize_properties

TWIN_STORES = ("gpkg", "postgis")  # twin-level tests run on both stores (conftest.py)

SECURITY_YAML = """\
# Guard posts and checkpoints: only engineers and editors (and admins) may see them.
name: security
title_zh: 安保点位
title_en: Security posts
geometry_types: [Point]
description: Guard posts and checkpoints for the expo.
positions_approximate: false
restricted_to: [engineer, editor]
code_field: code
fields:
  - {name: code, type: string, required: true, title_en: Code, title_zh: 编号}
  - {name: kind, type: string, required: true, allowed: [guard_post, checkpoint], title_en: Kind}
  - {name: staff, type: integer, unit: persons, title_en: Staff on duty}
"""

KIOSKS = LayerSchema(
    "kiosks",
    "服务台",
    "Kiosks",
    ("Point",),
    (FieldSpec("code", required=True), FieldSpec("kind", allowed=("info", "food"))),
    code_field="code",
)


def kiosk(fid: str, x: float, y: float, **props: object) -> Change:
    props.setdefault("code", fid.upper())
    return Change("kiosks", "add", fid, Feature(fid, pt(x, y), dict(props)))


@pytest.fixture
def kiosks(make_twin: MakeTwin) -> Twin:
    """A twin with one gate commit, then a kiosks layer (commit 2) holding three kiosks (commit 3)."""
    t = make_twin()
    t.commit([gate("g1", 0, 0)], author="a", message="Gate", time=at(0))
    t.create_layer(KIOSKS, author="chen.admin", message="Kiosks", time=at(1))
    t.commit(
        [kiosk("k1", 1, 1, kind="info"), kiosk("k2", 2, 2, kind="food"), kiosk("k3", 3, 3)],
        author="li.wei",
        message="Three kiosks",
        time=at(2),
    )
    return t


def props_of(twin: Twin, layer: str, fid: str) -> dict[str, object]:
    return orjson.loads(twin.feature(layer, fid))["properties"]  # type: ignore[no-any-return]


def is_gpkg(twin: Twin) -> bool:
    return hasattr(twin.store, "path")


def mirror_columns(twin: Twin, layer: str) -> list[str]:
    """The columns of the GeoPackage table mirroring the layer. PostGIS keeps no mirror table, so
    there the layer's current schema stands in (what a mirror would have)."""
    if not is_gpkg(twin):
        s = twin.layer(layer)
        return ["fid", *(["geom"] if s.spatial else []), "feature_id", *(f.name for f in s.fields)]
    with sqlite3.connect(twin.store.path) as c:  # type: ignore[attr-defined]
        return [r[1] for r in c.execute(f'PRAGMA table_info("{layer}")')]


# ---------------------------------------------------------------------------- twin level
def test_create_layer_is_a_commit_keyed_by_the_layer(kiosks: Twin):
    made = kiosks.log(10)[1]
    assert made.message == "Kiosks" and made.author == "chen.admin"
    assert made.counts == {"kiosks": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}
    assert kiosks.layer("kiosks") == KIOSKS
    assert [s.name for s in kiosks.layers()][-1] == "kiosks"
    # As of the commit before, the layer did not exist; as of its commit it did, empty.
    before, at_made = kiosks.resolve("HEAD~2"), kiosks.resolve("HEAD~1")
    with pytest.raises(NotFound):
        kiosks.layer("kiosks", before)
    with pytest.raises(NotFound):
        kiosks.features("kiosks", before)
    assert "kiosks" not in [s.name for s in kiosks.layers(before)]
    assert kiosks.layer("kiosks", at_made) == KIOSKS and kiosks.count("kiosks", at_made) == 0
    # The change is in the commit, under the layer's name, and GDAL sees the new table.
    (change,) = kiosks.store.changes_in(made.seq)
    assert (change.layer, change.op, change.feature_id) == ("kiosks", "add", SCHEMA_ID)
    assert orjson.loads(change.version.geojson)["properties"]["name"] == "kiosks"  # type: ignore[union-attr]
    if is_gpkg(kiosks):
        info = pyogrio.read_info(kiosks.store.path, layer="kiosks")  # type: ignore[attr-defined]
        assert info["geometry_type"] == "Point" and info["features"] == 3
    assert kiosks.fsck() == []


def test_create_layer_from_a_mapping_checks_it(make_twin: MakeTwin):
    twin = make_twin()
    bad = [
        ({"name": "Bad Name", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"]}, "layer name"),
        # the whole name is checked: a trailing newline passed a pattern ending in $
        ({"name": "posts\n", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"]}, "layer name"),
        ({"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Circle"]}, "Circle"),
        (
            {"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point", "LineString"]},
            "one",
        ),  # a layer holds one kind of geometry
        ({"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"], "colour": 1}, "colour"),
        (
            {
                "name": "posts",
                "title_zh": "x",
                "title_en": "x",
                "geometry_types": ["Point"],
                "fields": [{"name": "n", "type": "float"}],
            },
            "float",
        ),  # fmt: skip
        (
            {
                "name": "posts",
                "title_zh": "x",
                "title_en": "x",
                "geometry_types": ["Point"],
                "restricted_to": ["guards"],
            },
            "guards",
        ),  # fmt: skip
        (
            {
                "name": "posts",
                "title_zh": "x",
                "title_en": "x",
                "geometry_types": ["Point"],
                "fields": [{"name": "n", "type": "integer", "allowed": [1, "two"]}],
            },
            "two",
        ),  # fmt: skip
        (
            {"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"], "code_field": "c"},
            "code_field",
        ),
        ({"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"], "rules": ["nope"]}, "nope"),
        ({"name": "twin_posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"]}, "twin_"),
        ({"title_zh": "x", "title_en": "x", "geometry_types": ["Point"]}, "name is missing"),
        (
            {
                "name": "posts",
                "title_zh": "x",
                "title_en": "x",
                "geometry_types": ["Point"],
                "fields": [{"name": "geom"}],
            },
            "geom",
        ),  # fmt: skip
    ]
    for doc, word in bad:
        with pytest.raises(BadInput, match=word):
            twin.create_layer(doc, author="admin")
    with pytest.raises(Conflict):
        twin.create_layer({**GATES.to_dict(), "title_en": "Other gates"}, author="admin")
    assert twin.head() is None and twin.store.commit_count() == 0


NUL_SCHEMAS = {
    # where the NUL is: (the schema document, the words naming it)
    "layer title": ({"title_en": "Security\x00 posts"}, "title_en holds a NUL character"),
    "description": ({"description": "Guard posts\x00"}, "description holds a NUL character"),
    "field title": (
        {"fields": [{"name": "code", "title_zh": "编\x00号"}]},
        "field 'code': title_zh holds a NUL character",
    ),
    "field unit": ({"fields": [{"name": "staff", "type": "integer", "unit": "per\x00sons"}]}, "field 'staff': unit"),
    "allowed value": (
        {"fields": [{"name": "kind", "allowed": ["guard_post", "check\x00point"]}]},
        "field 'kind': allowed value 'check\\x00point' holds a NUL",
    ),
    "value label": (
        {"fields": [{"name": "kind", "allowed": ["guard_post"], "labels": {"guard_post": {"zh": "岗亭", "en": "Guard\x00post"}}}]},
        "field 'kind': the en label of 'guard_post' holds a NUL character",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NUL_SCHEMAS), ids=list(NUL_SCHEMAS))
def test_a_nul_in_a_schemas_text_is_refused_naming_where(kiosks: Twin, case: str):
    """Text in the twin holds no NUL (PostgreSQL's cannot; a property value holding one is refused):
    both stores took one in a schema. Refused on creation and alteration alike, on both stores."""
    doc, words = NUL_SCHEMAS[case]
    head = kiosks.head()
    base = {"name": "posts", "title_zh": "岗", "title_en": "Posts", "geometry_types": ["Point"]}
    with pytest.raises(BadInput) as e:
        kiosks.create_layer({**base, **doc}, author="chen.admin", time=at(3))
    assert words in str(e.value) and "NUL character (\\u0000)" in str(e.value)
    alteration: dict[str, object] = {k: v for k, v in doc.items() if k != "fields"}
    for f in doc.get("fields", []):  # type: ignore[attr-defined]
        alteration["add_fields"] = [{**f, "name": "new_" + f["name"]}]
    with pytest.raises(BadInput) as e:
        kiosks.alter_layer("kiosks", alteration, author="chen.admin", time=at(3))
    assert words.replace("field '", "field 'new_") in str(e.value)
    assert kiosks.head() == head and "posts" not in [s.name for s in kiosks.layers()]
    assert kiosks.layer("kiosks") == KIOSKS and kiosks.fsck() == []


def test_add_a_field_with_a_default_gives_every_feature_a_new_version(kiosks: Twin):
    info = kiosks.alter_layer(
        "kiosks",
        {"add_fields": [{"name": "floor", "type": "integer", "required": True, "default": 1, "unit": "floor"}]},
        author="chen.admin",
        time=at(3),
    )
    assert info.message == "Alter layer kiosks: add field floor"
    assert info.counts == {"kiosks": {"added": 0, "modified": 3, "deleted": 0, "schema": 1}}
    assert kiosks.layer("kiosks").field("floor") == FieldSpec("floor", "integer", True, unit="floor")
    assert props_of(kiosks, "kiosks", "k1") == {"code": "K1", "kind": "info", "floor": 1}
    assert "floor" in mirror_columns(kiosks, "kiosks")
    # The schema of its time: before the alteration the field did not exist.
    assert kiosks.layer("kiosks", kiosks.resolve("HEAD~1")).field("floor") is None
    assert "floor" not in orjson.loads(kiosks.feature("kiosks", "k1", kiosks.resolve("HEAD~1")))["properties"]
    # New features must now give it.
    with pytest.raises(ValidationFailed, match="floor"):
        kiosks.commit([kiosk("k4", 4, 4)], author="li.wei", message="m", time=at(4))
    assert kiosks.fsck() == []


def test_a_required_field_without_a_default_is_refused_naming_the_features(kiosks: Twin):
    head = kiosks.head()
    with pytest.raises(ValidationFailed) as e:
        kiosks.alter_layer("kiosks", {"add_fields": [{"name": "owner", "required": True}]}, author="chen.admin")
    assert sorted(p.feature_id for p in e.value.problems) == ["k1", "k2", "k3"]  # type: ignore[type-var]
    assert all("owner" in p.reason for p in e.value.problems)
    assert kiosks.head() == head and "owner" not in mirror_columns(kiosks, "kiosks")


def test_rename_a_field_renames_it_in_every_feature_and_the_mirror(kiosks: Twin):
    info = kiosks.alter_layer("kiosks", {"rename_fields": {"kind": "service"}}, author="chen.admin", time=at(3))
    assert info.counts["kiosks"] == {"added": 0, "modified": 2, "deleted": 0, "schema": 1}  # k3 has no kind
    assert props_of(kiosks, "kiosks", "k2") == {"code": "K2", "service": "food"}
    assert [f.name for f in kiosks.layer("kiosks").fields] == ["code", "service"]
    cols = mirror_columns(kiosks, "kiosks")
    assert "service" in cols and "kind" not in cols
    if is_gpkg(kiosks):
        got = pyogrio.read_dataframe(kiosks.store.path, layer="kiosks")  # type: ignore[attr-defined]
        assert dict(zip(got["feature_id"], got["service"], strict=True))["k2"] == "food"
    # Renaming the code field moves the code field (and its index) with it.
    kiosks.alter_layer("kiosks", {"rename_fields": {"code": "ref"}}, author="chen.admin", time=at(4))
    assert kiosks.layer("kiosks").code_field == "ref"
    with pytest.raises(ValidationFailed, match="ref 'K1' already names"):
        kiosks.commit([kiosk("k9", 9, 9, ref="K1", code=None)], author="li.wei", message="m", time=at(5))
    assert kiosks.fsck() == []


def test_what_a_feature_broke_before_does_not_refuse_an_alteration(kiosks: Twin):
    """A kiosk written under older rules (a kind the schema does not allow, a property it does not
    know, the same code as another) blocked every alteration of the layer, a rename of an unrelated
    field too. It is carried over as it was, renamed like the others; what the alteration itself
    would break in it still refuses."""
    legacy = Feature("k-old", pt(4, 4), {"code": "K1", "kind": "stall", "colour": "red"})
    write_unchecked(kiosks, "kiosks", [legacy], "legacy import", "Kiosks of 2025", at(3))
    with pytest.raises(ValidationFailed) as e:  # a new required field without a default: every kiosk lacks it
        kiosks.alter_layer("kiosks", {"add_fields": [{"name": "owner", "required": True}]}, author="chen.admin")
    assert sorted(p.feature_id for p in e.value.problems) == ["k-old", "k1", "k2", "k3"]
    with pytest.raises(ValidationFailed) as e:  # narrowed: food is refused; stall was refused before
        kiosks.alter_layer("kiosks", {"fields": {"kind": {"allowed": ["info"]}}}, author="chen.admin")
    assert [p.feature_id for p in e.value.problems] == ["k2"]

    info = kiosks.alter_layer("kiosks", {"rename_fields": {"kind": "service"}}, author="chen.admin", time=at(4))
    assert info.counts["kiosks"]["modified"] == 3  # k1, k2 and the legacy kiosk: k3 has no kind
    assert props_of(kiosks, "kiosks", "k-old") == {"code": "K1", "service": "stall", "colour": "red"}
    assert props_of(kiosks, "kiosks", "k2") == {"code": "K2", "service": "food"}
    # Its problems are as they were, under the new name.
    reasons = normalize_properties(kiosks.layer("kiosks"), props_of(kiosks, "kiosks", "k-old"))[1]
    assert any("service='stall'" in r for r in reasons) and any("'colour'" in r for r in reasons)
    with pytest.raises(ValidationFailed):  # an added field whose type the old value breaks
        kiosks.alter_layer("kiosks", {"add_fields": [{"name": "colour", "type": "integer"}]}, author="chen.admin")


def test_narrowing_allowed_values_is_refused_naming_the_features(kiosks: Twin):
    with pytest.raises(ValidationFailed) as e:
        kiosks.alter_layer("kiosks", {"fields": {"kind": {"allowed": ["info"]}}}, author="chen.admin")
    assert [(p.layer, p.feature_id) for p in e.value.problems] == [("kiosks", "k2")]
    assert "food" in e.value.problems[0].reason
    # Widening is fine and rewrites no feature.
    info = kiosks.alter_layer(
        "kiosks", {"fields": {"kind": {"allowed": ["info", "food", "water"]}}}, author="chen.admin", time=at(3)
    )
    assert info.counts["kiosks"] == {"added": 0, "modified": 0, "deleted": 0, "schema": 1}
    assert kiosks.layer("kiosks").field("kind").allowed == ("info", "food", "water")  # type: ignore[union-attr]
    # So is clearing them, and changing titles and units.
    kiosks.alter_layer(
        "kiosks",
        {
            "fields": {"kind": {"allowed": None, "title_en": "Service", "title_zh": "服务"}},
            "title_en": "Service kiosks",
        },
        author="chen.admin",
        time=at(4),
    )
    kind = kiosks.layer("kiosks").field("kind")
    assert kind is not None and kind.allowed is None and kind.title_en == "Service"
    assert kiosks.layer("kiosks").title_en == "Service kiosks"
    assert kiosks.fsck() == []


def test_value_labels_are_part_of_the_schema(kiosks: Twin):
    """A field's values get their names in both languages (what the pages show instead of the
    code): set by an alteration as a mapping, kept with the schema, checked, and cleared."""
    kiosks.alter_layer(
        "kiosks",
        {
            "fields": {
                "kind": {"labels": {"info": {"zh": "咨询", "en": "Information"}, "food": {"zh": "餐饮", "en": "Food"}}}
            }
        },
        author="chen.admin",
        time=at(3),
    )
    kind = kiosks.layer("kiosks").field("kind")
    assert kind is not None and kind.labels == (("info", "咨询", "Information"), ("food", "餐饮", "Food"))
    assert kind.label("food", "zh") == "餐饮" and kind.label("food", "en") == "Food" and kind.label("x", "en") is None
    assert LayerSchema.from_dict(orjson.loads(orjson.dumps(kiosks.layer("kiosks").to_dict()))) == kiosks.layer("kiosks")
    for labels, words in (
        ({"water": {"zh": "饮水", "en": "Water"}}, "not one of its allowed values"),
        ({"info": {"zh": "咨询"}}, "needs both zh and en"),
        ({"info": "咨询"}, "needs both zh and en"),
    ):
        with pytest.raises(BadInput, match=words):
            kiosks.alter_layer("kiosks", {"fields": {"kind": {"labels": labels}}}, author="chen.admin")
    kiosks.alter_layer("kiosks", {"fields": {"kind": {"labels": None}}}, author="chen.admin", time=at(4))
    assert kiosks.layer("kiosks").field("kind").labels is None  # type: ignore[union-attr]
    assert kiosks.fsck() == []


def test_restrict_and_open_a_layer(kiosks: Twin):
    kiosks.alter_layer("kiosks", {"restricted_to": ["engineer", "editor"]}, author="chen.admin", time=at(3))
    assert kiosks.layer("kiosks").restricted_to == ("engineer", "editor")
    assert kiosks.head().counts == {"kiosks": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}  # type: ignore[union-attr]
    assert kiosks.head().message == "Alter layer kiosks: restrict to engineer, editor"  # type: ignore[union-attr]
    kiosks.alter_layer("kiosks", {"restricted_to": []}, author="chen.admin", time=at(4))
    assert kiosks.layer("kiosks").restricted_to == ()
    assert kiosks.layer("kiosks", kiosks.resolve("HEAD~1")).restricted_to == ("engineer", "editor")
    with pytest.raises(BadInput, match="guards"):
        kiosks.alter_layer("kiosks", {"restricted_to": ["guards"]}, author="chen.admin")


@pytest.mark.parametrize("name", ["id", "geometry", "wkt"])
def test_a_field_may_not_take_a_name_the_api_or_the_downloads_use(kiosks: Twin, make_twin: MakeTwin, name: str):
    """`id` and `geometry` are the feature's own in filters, sortby, queryables and GeoJSON; `wkt` (and
    `geometry`) is the geometry column of a CSV download: such a field was shadowed or lost there."""
    doc = {"name": "posts", "title_zh": "x", "title_en": "x", "geometry_types": ["Point"], "fields": [{"name": name}]}
    with pytest.raises(BadInput, match=repr(name)):
        make_twin().create_layer(doc, author="admin")
    head = kiosks.head()
    for changes in ({"add_fields": [{"name": name}]}, {"rename_fields": {"kind": name}}):
        with pytest.raises(BadInput, match=repr(name)):
            kiosks.alter_layer("kiosks", changes, author="chen.admin")
    assert kiosks.head() == head


def test_refused_alterations_change_nothing(kiosks: Twin):
    head = kiosks.head()
    refusals: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"add_fields": [{"name": "kind"}]}, BadInput, "has it already"),
        ({"add_fields": [{"name": "n", "type": "float"}]}, BadInput, "float"),
        ({"add_fields": [{"name": "n", "type": "integer", "default": "many"}]}, BadInput, "integer"),
        ({"rename_fields": {"nope": "x"}}, BadInput, "no such field"),
        ({"rename_fields": {"kind": "code"}}, BadInput, "taken"),
        ({"fields": {"kind": {"type": "integer"}}}, BadInput, "type"),
        ({"geometry_types": []}, BadInput, "switch"),
        ({"colour": "red"}, BadInput, "colour"),
        ({}, BadInput, "nothing to change"),
        ({"title_en": "Kiosks"}, BadInput, "nothing changes"),
        ({"geometry_types": ["Polygon"]}, ValidationFailed, "geometry is a Point"),
    ]
    for changes, error, word in refusals:
        with pytest.raises(error, match=word):
            kiosks.alter_layer("kiosks", changes, author="chen.admin")
    kiosks.commit([kiosk("k4", 4, 4, kind="info")], author="li.wei", message="A second info kiosk", time=at(3))
    head = kiosks.head()
    with pytest.raises(ValidationFailed) as e:
        kiosks.alter_layer("kiosks", {"code_field": "kind"}, author="chen.admin")
    assert "kind 'info' is also given to" in str(e.value)
    with pytest.raises(NotFound):
        kiosks.alter_layer("nope", {"title_en": "x"}, author="chen.admin")
    with pytest.raises(Conflict):
        kiosks.alter_layer("kiosks", {"title_en": "x"}, author="chen.admin", parent=kiosks.log(10)[1].id)
    assert kiosks.head() == head and kiosks.fsck() == []


def test_drop_a_field_and_change_geometry_types(kiosks: Twin):
    kiosks.alter_layer(
        "kiosks", {"drop_fields": ["kind"], "geometry_types": ["Point", "MultiPoint"]}, author="a", time=at(3)
    )
    assert props_of(kiosks, "kiosks", "k1") == {"code": "K1"}
    assert "kind" not in mirror_columns(kiosks, "kiosks")
    multi = Feature("k5", shapely.MultiPoint([pt(5, 5), pt(6, 6)]), {"code": "K5"})
    kiosks.commit([Change("kiosks", "add", "k5", multi)], author="li.wei", message="m", time=at(4))
    assert kiosks.fsck() == []


def test_diff_and_history_show_schema_changes(kiosks: Twin):
    kiosks.alter_layer("kiosks", {"rename_fields": {"kind": "service"}}, author="chen.admin", time=at(3))
    first, last = kiosks.resolve("HEAD~3"), kiosks.resolve()
    entries = kiosks.diff(first, last)
    assert [(e.layer, e.feature_id, e.kind) for e in entries][:1] == [("kiosks", SCHEMA_ID, "added")]
    assert {e.layer for e in entries} == {"kiosks"}
    schema = orjson.loads(entries[0].after)  # type: ignore[arg-type]
    assert schema["geometry"] is None and [f["name"] for f in schema["properties"]["fields"]] == ["code", "service"]
    # Only the alteration: the schema modified, with the version before it.
    (alter, *renamed) = kiosks.diff(kiosks.resolve("HEAD~1"), last)
    assert (alter.feature_id, alter.kind) == (SCHEMA_ID, "modified")
    assert [f["name"] for f in orjson.loads(alter.before)["properties"]["fields"]] == ["code", "kind"]  # type: ignore[arg-type]
    assert sorted(e.feature_id for e in renamed) == ["k1", "k2"]
    # Backwards, the created layer's schema is deleted.
    assert kiosks.diff(last, first)[0].kind == "deleted"
    assert kiosks.diff(first, last, ["gates"]) == []
    history = kiosks.history("kiosks", SCHEMA_ID)
    assert [h.op for h in history] == ["add", "modify"]
    assert [h.commit.message for h in history][0] == "Kiosks"


def test_an_altered_layer_reads_and_writes_through_another_handle(kiosks: Twin, make_twin: MakeTwin):
    """Another process (an API worker) with its own handle must check writes against the new schema."""
    other = Twin.open(kiosks.store.url)
    try:
        assert other.layer("kiosks").field("floor") is None  # cached before the alteration
        kiosks.alter_layer("kiosks", {"add_fields": [{"name": "floor", "type": "integer"}]}, author="a", time=at(3))
        assert other.layer("kiosks").field("floor") is not None
        other.commit([kiosk("k4", 4, 4, floor=2)], author="li.wei", message="m", time=at(4))
        assert props_of(kiosks, "kiosks", "k4") == {"code": "K4", "floor": 2}
    finally:
        other.close()
    assert kiosks.fsck() == []


def test_fsck_catches_a_tampered_schema_version(kiosks: Twin):
    url = kiosks.store.url
    if is_gpkg(kiosks):
        with sqlite3.connect(url) as c:
            c.execute(
                "UPDATE twin_schema_versions SET geojson = CAST(replace(geojson, 'Kiosks', 'Booths') AS BLOB) "
                "WHERE from_seq = 2"
            )
        c.close()
    else:
        from twin.stores.postgis import _connect

        with _connect(url) as pg:
            pg.execute(
                "UPDATE twin_schema_versions SET geojson = convert_to(replace(convert_from(geojson, 'UTF8'), "
                "'Kiosks', 'Booths'), 'UTF8') WHERE from_seq = 2"
            )
    problems = Twin.open(url).fsck()
    assert any(kiosks.log(10)[1].id[:12] in p for p in problems), problems


def test_schema_commit_ids_are_deterministic(make_twin: MakeTwin):
    def build(name: str) -> list[str]:
        t = make_twin(name)
        t.create_layer(KIOSKS, author="chen.admin", message="Kiosks", time=at(1))
        t.commit([kiosk("k1", 1, 1, kind="info")], author="li.wei", message="k", time=at(2))
        t.alter_layer("kiosks", {"rename_fields": {"kind": "service"}}, author="chen.admin", time=at(3))
        return [c.id for c in t.log(10)]

    assert build("one") == build("two")


def test_the_id_of_the_schema_is_reserved(kiosks: Twin):
    with pytest.raises(ValidationFailed, match="reserved"):
        kiosks.commit([kiosk(SCHEMA_ID, 1, 1)], author="li.wei", message="m", time=at(3))


def test_a_schema_change_is_not_reverted(kiosks: Twin):
    kiosks.alter_layer("kiosks", {"title_en": "Booths"}, author="chen.admin", time=at(3))
    with pytest.raises(BadInput, match="layer alter"):
        kiosks.revert("HEAD", author="a")


@pytest.mark.gpkg_only
def test_an_old_format_file_names_the_way_out(tmp_path: Path, make_twin: MakeTwin):
    twin = make_twin()
    path = twin.store.path  # type: ignore[attr-defined]
    twin.close()
    with sqlite3.connect(path) as c:
        c.execute("UPDATE twin_meta SET value='2' WHERE key='format'")
    c.close()
    with pytest.raises(BadInput, match="init --force"):
        Twin.open(path)


# ---------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_venue(tmp_path_factory.mktemp("venue") / "venue.gpkg")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "venue-twin"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_creates_a_restricted_layer_and_alters_it(venue: Path, tmp_path: Path):
    store = copy_store(venue, tmp_path / "venue.gpkg")
    schema_file = tmp_path / "security.yaml"
    schema_file.write_text(SECURITY_YAML, encoding="utf-8")
    made = cli("layer", "create", str(schema_file), "--store", str(store), "--author", "chen.admin")
    assert made.returncode == 0, made.stderr
    assert "security" in made.stdout
    altered = cli(
        "layer", "alter", "security", "--store", str(store), "--author", "chen.admin",
        "--add-field", "shift:string", "--allowed", "shift=day,night", "-m", "Shifts for the posts",
    )  # fmt: skip
    assert altered.returncode == 0, altered.stderr
    with Twin.open(store) as t:
        s = t.layer("security")
        assert s.restricted_to == ("engineer", "editor") and s.geometry_types == ("Point",)
        assert s.field("shift") == FieldSpec("shift", "string", allowed=("day", "night"))
        assert s.field("kind").allowed == ("guard_post", "checkpoint")  # type: ignore[union-attr]
        assert t.fsck() == []
    log = cli("log", "--store", str(store), "-n", "2", "--json")
    assert log.returncode == 0, log.stderr
    newest, created = (json.loads(line) for line in log.stdout.splitlines())
    assert newest["message"] == "Shifts for the posts" and newest["author"] == "chen.admin"
    assert newest["counts"] == {"security": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}
    assert created["message"].startswith("Create layer security")
    assert created["counts"] == {"security": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}
    text_log = cli("log", "--store", str(store), "-n", "2")
    assert "security schema" in text_log.stdout
    diff = cli("diff", "HEAD~2", "HEAD", "--store", str(store))
    assert diff.returncode == 0, diff.stderr
    (entry,) = json.loads(diff.stdout)["features"]
    assert entry["id"] == SCHEMA_ID and entry["twin:layer"] == "security" and entry["twin:change"] == "added"
    assert [f["name"] for f in entry["properties"]["fields"]] == ["code", "kind", "staff", "shift"]
    one = json.loads(cli("diff", "HEAD~1", "HEAD", "--store", str(store)).stdout)["features"][0]
    assert one["twin:change"] == "modified"
    assert [f["name"] for f in one["twin:before"]["properties"]["fields"]] == ["code", "kind", "staff"]
    # `layer show` prints the schema now, or of a version, as YAML or JSON.
    shown = cli("layer", "show", "security", "--store", str(store), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["fields"][-1]["name"] == "shift"
    older = cli("layer", "show", "security", "--version", "HEAD~1", "--store", str(store))
    assert older.returncode == 0 and "shift" not in older.stdout and "guard_post" in older.stdout
    assert cli("layer", "show", "security", "--version", "HEAD~2", "--store", str(store)).returncode == 2


def test_cli_refusals_exit_2_or_3_and_change_nothing(venue: Path, tmp_path: Path):
    store = copy_store(venue, tmp_path / "venue.gpkg")
    with Twin.open(store) as t:
        head = t.head()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: posts\ntitle_zh: x\ntitle_en: x\ngeometry_types: [Point]\nrestricted_to: [guards]\n")
    r = cli("layer", "create", str(bad), "--store", str(store))
    assert r.returncode == 2 and "guards" in r.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    r = cli("layer", "create", str(broken), "--store", str(store))
    assert r.returncode == 2 and "broken.yaml" in r.stderr
    halls = tmp_path / "halls.json"
    with Twin.open(store) as t:
        halls.write_text(json.dumps(t.layer("halls").to_dict()))
    r = cli("layer", "create", str(halls), "--store", str(store))
    assert r.returncode == 3 and "exists" in r.stderr
    r = cli("layer", "alter", "halls", "--add-field", "owner:string:required", "--store", str(store))
    assert r.returncode == 2 and "hall-1.1H" in r.stderr  # names the features that would break
    r = cli("layer", "alter", "halls", "--add-field", "owner", "--store", str(store))
    assert r.returncode == 2 and "NAME:TYPE" in r.stderr
    r = cli("layer", "alter", "halls", "--store", str(store))
    assert r.returncode == 2
    # a change to what the layer already is names the layer once
    r = cli("layer", "alter", "halls", "--title-en", "Halls", "--store", str(store))
    assert r.returncode == 2 and "nothing changes" in r.stderr, r.stderr
    assert r.stderr.count("layer halls:") == 1, r.stderr
    with Twin.open(store) as t:
        assert t.head() == head


def test_cli_refuses_a_nul_in_a_schema_file(venue: Path, tmp_path: Path):
    store = copy_store(venue, tmp_path / "venue.gpkg")
    with Twin.open(store) as t:
        head = t.head()
    nul = tmp_path / "nul.yaml"
    nul.write_text(SECURITY_YAML.replace("title_en: Staff on duty", 'title_en: "Staff\\0 on duty"'), encoding="utf-8")
    r = cli("layer", "create", str(nul), "--store", str(store), "--author", "chen.admin")
    assert r.returncode == 2 and "field 'staff': title_en holds a NUL character" in r.stderr, r.stderr
    with Twin.open(store) as t:
        assert t.head() == head and "security" not in [s.name for s in t.layers()]


# ---------------------------------------------------------------------------- HTTP
@pytest.fixture
def api(venue: Path, tmp_path: Path) -> Iterator[tuple[object, dict[str, str]]]:
    store = copy_store(venue, tmp_path / "venue.gpkg")
    tokens = make_tokens(store)
    with client(store) as c:
        yield c, tokens


def test_api_admin_creates_and_alters_a_layer(api: tuple[object, dict[str, str]]):
    c, tokens = api
    admin = bearer(tokens["admin"])
    r = c.post(  # type: ignore[attr-defined]
        "/collections", content=SECURITY_YAML, headers={**admin, "Content-Type": "application/yaml"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/collections/security")
    assert r.json()["commit"] == r.headers["X-Twin-Commit"]
    r = c.patch(  # type: ignore[attr-defined]
        "/collections/security/schema",
        json={"add_fields": [{"name": "shift", "type": "string", "allowed": ["day", "night"]}]},
        headers={**admin, "X-Twin-Message": "Shifts"},
    )
    assert r.status_code == 200, r.text
    assert [f["name"] for f in r.json()["schema"]["fields"]][-1] == "shift"
    # Readers who may see the layer read its schema, now or as of a version.
    r = c.get("/collections/security/schema", headers=bearer(tokens["engineer"]))  # type: ignore[attr-defined]
    assert r.status_code == 200 and r.json()["fields"][-1]["name"] == "shift"
    r = c.get("/collections/security/schema?version=HEAD~1", headers=admin)  # type: ignore[attr-defined]
    assert r.status_code == 200 and [f["name"] for f in r.json()["fields"]] == ["code", "kind", "staff"]
    assert c.get("/collections/security/schema", headers=bearer(tokens["viewer"])).status_code == 404  # type: ignore[attr-defined]
    assert c.get("/collections/halls/schema").status_code == 200  # type: ignore[attr-defined]
    # The diff over HTTP shows both schema changes as entries of the layer.
    r = c.get("/diff?from=HEAD~2&to=HEAD", headers=admin)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    got = [(f["twin:layer"], f["id"], f["twin:change"]) for f in r.json()["features"]]
    assert got == [("security", SCHEMA_ID, "added")]


def test_api_layer_admin_needs_the_admin_role(api: tuple[object, dict[str, str]]):
    c, tokens = api
    body = {"name": "posts", "title_zh": "岗", "title_en": "Posts", "geometry_types": ["Point"]}
    problem_of(c.post("/collections", json=body), 401)  # type: ignore[attr-defined]
    denied = problem_of(c.post("/collections", json=body, headers=bearer(tokens["editor"])), 403)  # type: ignore[attr-defined]
    assert "is an editor; layer administration needs the admin role" in denied["detail"], denied
    problem_of(c.patch("/collections/halls/schema", json={"title_en": "x"}), 401)  # type: ignore[attr-defined]
    r = c.patch("/collections/halls/schema", json={"title_en": "x"}, headers=bearer(tokens["editor"]))  # type: ignore[attr-defined]
    problem_of(r, 403)
    admin = bearer(tokens["admin"])
    problem_of(c.post("/collections", json={**body, "restricted_to": ["guards"]}, headers=admin), 400)  # type: ignore[attr-defined]
    problem_of(c.post("/collections", content=b"name: [", headers={**admin, "Content-Type": "application/yaml"}), 400)  # type: ignore[attr-defined]
    problem_of(c.post("/collections", content=b"x", headers={**admin, "Content-Type": "text/plain"}), 415)  # type: ignore[attr-defined]
    problem_of(c.post("/collections", json={**body, "name": "halls"}, headers=admin), 409)  # type: ignore[attr-defined]
    r = c.patch(  # type: ignore[attr-defined]
        "/collections/halls/schema", json={"add_fields": [{"name": "owner", "required": True}]}, headers=admin
    )
    found = problem_of(r, 400)
    assert any(p["id"] == "hall-1.1H" for p in found["problems"])
    problem_of(c.patch("/collections/nope/schema", json={"title_en": "x"}, headers=admin), 404)  # type: ignore[attr-defined]
    assert c.get("/collections/posts").status_code == 404  # type: ignore[attr-defined]


def test_api_refuses_a_nul_in_a_schema_naming_where(api: tuple[object, dict[str, str]]):
    c, tokens = api
    admin = bearer(tokens["admin"])
    head = c.get("/versions?limit=1").json()["versions"][0]["id"]  # type: ignore[attr-defined]
    body = {"name": "posts", "title_zh": "岗", "title_en": "Posts\x00", "geometry_types": ["Point"]}
    r = c.post("/collections", json=body, headers=admin)  # type: ignore[attr-defined]
    assert "title_en holds a NUL character" in problem_of(r, 400)["detail"]
    labels = {"fields": {"kind": {"labels": {"flower_bed": {"zh": "花坛", "en": "Flower\x00 bed"}}}}}
    r = c.patch("/collections/landscaping/schema", json=labels, headers=admin)  # type: ignore[attr-defined]
    assert "field 'kind': the en label of 'flower_bed' holds a NUL character" in problem_of(r, 400)["detail"]
    assert c.get("/versions?limit=1").json()["versions"][0]["id"] == head  # type: ignore[attr-defined]
    assert c.get("/collections/posts").status_code == 404  # type: ignore[attr-defined]


def test_a_layer_may_share_another_layers_titles(kiosks: Twin):
    """GeoPackage wants unique identifiers (titles) in gpkg_contents: the twin tells them apart."""
    twin_of_gates = LayerSchema("gates_copy", GATES.title_zh, GATES.title_en, ("Point",), GATES.fields)
    kiosks.create_layer(twin_of_gates, author="chen.admin", time=at(3))
    kiosks.alter_layer("kiosks", {"title_en": GATES.title_en, "title_zh": GATES.title_zh}, author="a", time=at(4))
    assert kiosks.layer("gates_copy").title_en == kiosks.layer("kiosks").title_en == GATES.title_en
    assert kiosks.fsck() == []
