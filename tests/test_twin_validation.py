"""What a commit must pass before anything is written, and how values are normalised."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import numpy as np
import orjson
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from problem_codes import INPUTS, KIOSKS, problems_for
from shapely.geometry import LineString, Point, Polygon
from store_contract import (
    AOI,
    GATES,
    HALLS,
    PATHS,
    PROJECTS,
    X0,
    Y0,
    add,
    at,
    delete,
    full_state,
    gate,
    hall,
    l_shape,
    line,
    modify,
    pt,
    record,
    square,
    upsert,
)

from twin import BadInput, Change, Feature, Problem, Twin, ValidationFailed, validation
from twin.validation import PROBLEM_CODES, already_normal, normalize_properties

TWIN_STORES = ("gpkg", "postgis")  # twin-level tests run on both stores (conftest.py)

BOWTIE = Polygon([(X0, Y0), (X0 + 0.001, Y0 + 0.001), (X0 + 0.001, Y0), (X0, Y0 + 0.001)])


def problems_of(twin: Twin, changes: list[Change]) -> list[Problem]:
    with pytest.raises(ValidationFailed) as e:
        twin.commit(changes, author="a", message="m", time=at(100))
    assert str(len(e.value.problems)) in str(e.value)
    return e.value.problems


def props_of(twin: Twin, layer: str, fid: str) -> dict:
    return orjson.loads(twin.feature(layer, fid))["properties"]


# Each case: a change refused on its own, the (layer, feature id) of the problem and a phrase of its reason.
CASES = {
    "unknown layer": (lambda: add("roads", "r1", pt(0, 0), name="x"), ("roads", "r1"), "unknown layer"),
    "wrong geometry type": (lambda: add("halls", "h1", pt(0, 0), code="H1"), ("halls", "h1"), "geometry is a Point"),
    "line in a point layer": (
        lambda: add("gates", "g1", line((0, 0), (1, 1)), code="G1"),
        ("gates", "g1"),
        "layer gates takes Point",
    ),
    "self-intersecting bow-tie": (lambda: add("halls", "h1", BOWTIE, code="H1"), ("halls", "h1"), "self-intersection"),
    "empty point": (lambda: add("gates", "g1", Point(), code="G1"), ("gates", "g1"), "empty"),
    "empty polygon": (lambda: add("halls", "h1", Polygon(), code="H1"), ("halls", "h1"), "empty"),
    "empty line": (lambda: add("paths", "p1", LineString(), name="p"), ("paths", "p1"), "empty"),
    "not finite": (lambda: add("gates", "g1", Point(float("nan"), Y0), code="G1"), ("gates", "g1"), "not finite"),
    "outside the area of interest": (
        lambda: gate("g1", 500, 0),
        ("gates", "g1"),
        "outside the venue's area of interest",
    ),
    "partly outside": (lambda: add("paths", "p1", line((0, 0), (0, 25)), name="p"), ("paths", "p1"), "outside"),
    "given in another CRS": (
        lambda: add("gates", "g1", Point(X0 * 1000, Y0 * 1000), code="G1"),
        ("gates", "g1"),
        "outside",
    ),
    "required property missing": (
        lambda: add("gates", "g1", pt(0, 0)),
        ("gates", "g1"),
        "required property 'code' is missing",
    ),
    "required property empty": (lambda: add("gates", "g1", pt(0, 0), code=""), ("gates", "g1"), "'code' is missing"),
    "required property None": (lambda: add("gates", "g1", pt(0, 0), code=None), ("gates", "g1"), "'code' is missing"),
    "value not allowed": (lambda: gate("g1", 0, 0, kind="east"), ("gates", "g1"), "kind='east' is not one of"),
    "text in a number field": (lambda: hall("h1", 0, 0, area_m2="big"), ("halls", "h1"), "area_m2 must be a finite"),
    "infinite number": (lambda: hall("h1", 0, 0, area_m2=float("inf")), ("halls", "h1"), "area_m2 must be a finite"),
    "text in an integer field": (lambda: hall("h1", 0, 0, floors="two"), ("halls", "h1"), "floors must be an integer"),
    "fraction in an integer field": (
        lambda: hall("h1", 0, 0, floors=2.5),
        ("halls", "h1"),
        "floors must be an integer",
    ),
    "boolean in an integer field": (lambda: hall("h1", 0, 0, floors=True), ("halls", "h1"), "boolean"),
    "not a date": (lambda: hall("h1", 0, 0, opened="26/10/2026"), ("halls", "h1"), "opened must be a date"),
    "not a boolean": (lambda: hall("h1", 0, 0, accessible="yes"), ("halls", "h1"), "accessible must be true or false"),
    "boolean in a text field": (lambda: gate("g1", 0, 0, code=True), ("gates", "g1"), "code must be text"),
    "unknown property": (lambda: gate("g1", 0, 0, colour="red"), ("gates", "g1"), "unknown property 'colour'"),
    "no geometry": (
        lambda: Change("gates", "add", "g1", Feature("g1", None, {"code": "G1"})),
        ("gates", "g1"),
        "no geometry",
    ),
    "no id": (lambda: Change("gates", "add", "", Feature("", pt(0, 0), {"code": "G1"})), ("gates", None), "no id"),
    "geometry on a layer of records": (
        lambda: Change("projects", "add", "r1", Feature("r1", pt(0, 0), {"code": "R1"})),
        ("projects", "r1"),
        "holds records without geometry",
    ),
    "list of non-text": (lambda: record("r1", tags=[1, 2]), ("projects", "r1"), "tags must be a list of text"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_reason_is_reported_with_layer_and_feature(twin: Twin, case: str):
    make, (layer, fid), phrase = CASES[case]
    twin.commit([gate("base", 0, 0)], author="a", message="base", time=at(0))
    problems = problems_of(twin, [make()])
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.layer, p.feature_id) == (layer, fid)
    assert phrase.lower() in p.reason.lower()
    assert twin.log() == [twin.head()] and twin.count("gates") == 1


def test_a_date_with_trailing_text_is_refused(twin: Twin):
    """Regression: parsing only `value[:10]` of a date string stored "2026-10-26 or later" as 2026-10-26."""
    for bad in ("2026-10-26 or later", "2026-10-26xyz"):
        problems = problems_of(twin, [hall("h1", 0, 0, opened=bad)])
        assert [(p.layer, p.feature_id) for p in problems] == [("halls", "h1")]
        assert "opened must be a date" in problems[0].reason


def test_an_integer_beyond_64_bits_is_a_problem(twin: Twin):
    problems = problems_of(twin, [hall("h1", 0, 0, floors=10**20), hall("h2", 2, 2, floors="-" + "9" * 20)])
    assert {(p.layer, p.feature_id) for p in problems} == {("halls", "h1"), ("halls", "h2")}
    assert all("floors" in p.reason for p in problems)


def test_an_integer_read_as_an_inexact_float_is_a_problem_that_quotes_no_number(twin: Twin):
    """A JSON parser (orjson) reads an integer beyond 64 bits as a float: -9223372036854775809 came as
    -2.0**63, which int() put in range and stored as -9223372036854775808; larger ones were quoted
    as the float's integer (-9223372036854777856), a number the client never sent. Every integral
    float from 2**53 on is refused as too large to be an exact integer, giving the range; smaller
    ones are the integers they were written as."""
    sent = {
        "h1": -9223372036854775809.0,  # each as orjson.loads gives the JSON integer
        "h2": -9223372036854776833.0,
        "h3": 12345678901234567890123.0,
        "h4": 9223372036854775807.0,  # 2**63 - 1 in JSON is an int; written as a float it is 2.0**63
        "h5": float(2**53),
    }
    changes = [hall(fid, i * 2, 0, floors=v) for i, (fid, v) in enumerate(sent.items())]
    problems = problems_of(twin, changes)
    assert sorted(p.feature_id for p in problems) == sorted(sent)
    for p in problems:
        assert p.code == "integer_inexact" and p.args == {"field": "floors"}, p
        assert p.reason == (  # the same words for each: no number of the float's quoted
            "floors is too large to be an exact integer (it was read as a floating-point number); an integer "
            "takes whole numbers from -9223372036854775808 to 9223372036854775807"
        )
    assert twin.log() == []
    twin.commit(
        [hall("h1", 0, 0, floors=float(2**53 - 1)), hall("h2", 2, 0, floors=-(2**63))],
        author="a",
        message="m",
        time=at(50),
    )
    assert props_of(twin, "halls", "h1")["floors"] == 2**53 - 1
    assert props_of(twin, "halls", "h2")["floors"] == -(2**63)
    problems = problems_of(twin, [hall("h3", 4, 0, floors=2**63)])  # an int the client sent, quoted as sent
    assert problems[0].code == "integer_out_of_range"
    assert "floors=9223372036854775808 does not fit a 64-bit integer (from -9223372036854775808" in problems[0].reason


def test_a_number_too_large_for_a_float_is_a_problem_not_a_crash(twin: Twin):
    """An int beyond float range (10**400) must be reported like the string "1e400" is, not let
    float()'s OverflowError escape Twin.commit."""
    problems = problems_of(twin, [hall("h1", 0, 0, area_m2=10**400), hall("h2", 2, 2, area_m2="1e400")])
    assert {(p.layer, p.feature_id) for p in problems} == {("halls", "h1"), ("halls", "h2")}
    assert all("area_m2 must be a finite number" in p.reason for p in problems)


def test_commit_level_reasons(twin: Twin):
    twin.commit([gate("g1", 0, 0), hall("h1", 0, 0)], author="a", message="m", time=at(0))
    problems = problems_of(
        twin,
        [
            gate("g2", 1, 1),
            gate("g2", 2, 2),  # the same feature twice in one commit
            gate("g1", 3, 3),  # add of an existing id
            gate("nope", 4, 4, op="modify"),  # modify of a missing id
            delete("halls", "nope"),  # delete of a missing id
            delete("paths", "p1"),
        ],
    )
    reasons = {(p.layer, p.feature_id, p.reason) for p in problems}
    assert ("gates", "g2", "the same feature is changed twice in one commit") in reasons
    assert ("gates", "g1", "a feature with this id exists already") in reasons
    assert ("gates", "nope", "no such feature to modify") in reasons
    assert ("halls", "nope", "no such feature to delete") in reasons
    assert ("paths", "p1", "no such feature to delete") in reasons
    # a deleted feature is missing too
    twin.commit([delete("halls", "h1")], author="a", message="m", time=at(1))
    assert [p.reason for p in problems_of(twin, [hall("h1", 0, 0, op="modify")])] == ["no such feature to modify"]


def test_a_code_names_one_feature_at_a_time(twin: Twin):
    twin.commit([gate("g1", 0, 0, code="N1"), gate("g2", 1, 1, code="N2")], author="a", message="m", time=at(0))
    problems = problems_of(twin, [gate("g3", 2, 2, code="N1")])  # already names g1
    assert [(p.layer, p.feature_id) for p in problems] == [("gates", "g3")] and "N1" in problems[0].reason
    problems = problems_of(twin, [gate("g3", 2, 2, code="N3"), gate("g4", 3, 3, code="N3")])  # twice in one commit
    assert {p.feature_id for p in problems} <= {"g3", "g4"} and len(problems) == 1
    # swapping two codes in one commit, and reusing the code of a feature deleted in the same commit, are fine
    twin.commit(
        [gate("g1", 0, 0, op="modify", code="N2"), gate("g2", 1, 1, op="modify", code="N1")],
        author="a",
        message="swap",
        time=at(1),
    )
    twin.commit([delete("gates", "g1"), gate("g5", 4, 4, code="N2")], author="a", message="reuse", time=at(2))
    assert props_of(twin, "gates", "g5")["code"] == "N2"


def test_every_problem_is_reported_at_once(twin: Twin):
    twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    problems = problems_of(
        twin,
        [
            gate("ok1", 1, 1),
            hall("h-bad", 0, 0, floors="many", colour="red"),  # two property problems
            add("halls", "h-geom", pt(0, 0)),  # wrong type and missing code
            gate("g-out", 900, 900, kind="west"),  # outside and not allowed
            add("paths", "p-ok", line((0, 0), (1, 1))),
            add("paths", "p-bow", BOWTIE),
            gate("g1", 2, 2),  # exists
        ],
    )
    got = sorted((p.layer, p.feature_id) for p in problems)
    assert got == sorted(
        [
            ("halls", "h-bad"),
            ("halls", "h-bad"),
            ("halls", "h-geom"),
            ("halls", "h-geom"),
            ("gates", "g-out"),
            ("gates", "g-out"),
            ("paths", "p-bow"),
            ("gates", "g1"),
        ]
    )
    assert all(p.reason for p in problems)


def test_a_commit_with_one_invalid_feature_writes_nothing(twin: Twin):
    first = twin.commit([gate("g1", 0, 0), hall("h1", 0, 0)], author="a", message="m", time=at(0))
    state = full_state(twin)
    with pytest.raises(ValidationFailed) as e:
        twin.commit(
            [
                gate("g2", 1, 1),
                gate("g1", 2, 2, op="modify"),
                delete("halls", "h1"),
                hall("h2", 3, 3),
                add("halls", "h3", BOWTIE, code="H3"),
            ],
            author="a",
            message="m",
            time=at(1),
        )
    assert [(p.layer, p.feature_id) for p in e.value.problems] == [("halls", "h3")]
    assert twin.head() == first
    assert twin.log() == [first]
    assert twin.count("gates") == 1 and twin.count("halls") == 1
    assert full_state(twin) == state
    assert twin.history("gates", "g1")[-1].commit == first
    assert twin.fsck() == []


# ---------------------------------------------------------------------------- normalisation
def test_values_are_coerced_to_their_declared_types(twin: Twin):
    twin.commit(
        [
            hall("h1", 0, 0, floors=3.0, area_m2=12, opened="2026-10-26T08:00:00+08:00", accessible="true"),
            hall("h2", 2, 2, floors="4", area_m2="12.5", opened=date(2026, 10, 27), accessible=1, status="built"),
            hall(
                "h3",
                4,
                4,
                floors=np.int64(5),
                area_m2=np.float64(7.25),
                opened=datetime(2026, 10, 28, 23, 0, tzinfo=UTC),
                accessible=np.bool_(False),
            ),
            hall("h4", 6, 6, code=42, floors=None, area_m2=float("nan"), opened="", accessible="0"),
        ],
        author="a",
        message="m",
        time=at(0),
    )
    h1, h2, h3, h4 = (props_of(twin, "halls", f"h{i}") for i in range(1, 5))
    assert h1 == {"code": "H1", "floors": 3, "area_m2": 12.0, "opened": "2026-10-26", "accessible": True}
    assert type(h1["floors"]) is int
    assert type(h1["area_m2"]) is float  # a number is always a float, so 12 and 12.0 encode alike
    assert h2 == {
        "code": "H2",
        "floors": 4,
        "area_m2": 12.5,
        "opened": "2026-10-27",
        "accessible": True,
        "status": "built",
    }
    assert h3 == {"code": "H3", "floors": 5, "area_m2": 7.25, "opened": "2026-10-28", "accessible": False}
    assert h4 == {"code": "42", "accessible": False}  # missing values are left out, not stored as null
    assert b'"floors":3,' in twin.feature("halls", "h1")  # an integer, not 3.0


def test_list_values_are_normalised(twin: Twin):
    twin.commit(
        [
            record("r1", tags="a, b ,, c"),
            record("r2", tags='["x", "y, z"]'),
            record("r3", tags=("t",)),
            record("r4", tags=[]),
        ],
        author="a",
        message="m",
        time=at(0),
    )
    assert [props_of(twin, "projects", f"r{i}").get("tags") for i in range(1, 5)] == [
        ["a", "b", "c"],
        ["x", "y, z"],
        ["t"],
        [],
    ]


def test_geometry_is_stored_in_2d(twin: Twin):
    twin.commit([add("gates", "g1", Point(X0, Y0, 12.5), code="G1")], author="a", message="m", time=at(0))
    geom = orjson.loads(twin.feature("gates", "g1"))["geometry"]
    assert geom == {"type": "Point", "coordinates": [X0, Y0]}


def test_multi_geometries_and_holes_are_accepted(twin: Twin):
    from shapely.geometry import MultiPolygon

    holed = Polygon(square(0, 0, 4).exterior.coords, [square(1, 1, 1).exterior.coords])
    twin.commit(
        [
            add("halls", "m", MultiPolygon([square(0, 0), square(3, 3)]), code="M"),
            add("halls", "holed", holed, code="HOLED"),
            add("halls", "ell", l_shape(5, 5), code="L"),
        ],
        author="a",
        message="m",
        time=at(0),
    )
    assert twin.count("halls") == 3


# ---------------------------------------------------------------------------- no-op changes
def test_modify_with_identical_content_is_not_a_change(twin: Twin):
    first = twin.commit(
        [gate("g1", 0, 0, kind="north"), hall("h1", 0, 0, floors=2, area_m2=150.0)], author="a", message="m", time=at(0)
    )
    problems = problems_of(
        twin, [gate("g1", 0, 0, op="modify", kind="north"), hall("h1", 0, 0, op="modify", floors=2.0, area_m2=150)]
    )  # normalise alike
    assert len(problems) == 1 and "nothing changes" in problems[0].reason
    assert twin.head() == first and twin.log() == [first]
    with pytest.raises(ValidationFailed, match="nothing changes"):
        twin.commit([upsert("gates", "g1", pt(0, 0), code="G1", kind="north")], author="a", message="m", time=at(1))
    assert twin.head() == first
    # mixed with a real change, the no-op is dropped: no new version and not counted
    c = twin.commit(
        [gate("g1", 0, 0, op="modify", kind="north"), hall("h1", 0, 0, op="modify", floors=3, area_m2=150.0)],
        author="a",
        message="m",
        time=at(2),
    )
    assert c.counts == {"halls": {"added": 0, "modified": 1, "deleted": 0}}
    assert len(twin.history("gates", "g1")) == 1
    assert {ch.feature_id for ch in twin.store.changes_in(c.seq)} == {"h1"}
    assert [e.feature_id for e in twin.diff(twin.resolve(first.id), twin.resolve(c.id))] == ["h1"]


def test_upsert_adds_or_modifies(twin: Twin):
    twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    c = twin.commit(
        [upsert("gates", "g1", pt(1, 1), code="G1"), upsert("gates", "g2", pt(2, 2), code="G2")],
        author="a",
        message="m",
        time=at(1),
    )
    assert c.counts == {"gates": {"added": 1, "modified": 1, "deleted": 0}}
    assert [e.op for e in twin.history("gates", "g1")] == ["add", "modify"]
    assert [e.op for e in twin.history("gates", "g2")] == ["add"]


def test_a_commit_of_only_bad_input_is_not_written_and_twin_stays_usable(twin: Twin):
    with pytest.raises(ValidationFailed):
        twin.commit([modify("gates", "g1", pt(0, 0), code="G1")], author="a", message="m", time=at(0))
    assert twin.head() is None
    c = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(1))
    assert c.seq == 1 and c.parent is None
    with pytest.raises(BadInput):
        twin.commit([gate("g2", 0, 0)], author="", message="m", time=at(2))


# ---------------------------------------------------------------------------- inputs that escaped (issue 14)
def test_a_delete_that_carries_a_feature_is_refused_and_writes_nothing(twin: Twin):
    """Regression: the body of such a delete was stored as a visible version of the deleted
    feature (count 0 but a page holding it; fsck then found the mirror, hashes and totals wrong)."""
    first = twin.commit([gate("g1", 0, 0), gate("g2", 1, 1)], author="a", message="m", time=at(0))
    bad = Change("gates", "delete", "g1", Feature("g1", pt(5, 5), {"code": "G1"}))
    problems = problems_of(twin, [bad])
    assert [(p.layer, p.feature_id) for p in problems] == [("gates", "g1")]
    assert "delete carries no feature" in problems[0].reason
    assert twin.head() == first and twin.count("gates") == 2
    # the same delete without a body, then an add and a delete of the id, keep the twin whole
    twin.commit([delete("gates", "g1")], author="a", message="m", time=at(1))
    twin.commit([gate("g1", 3, 3)], author="a", message="m", time=at(2))
    twin.commit([delete("gates", "g1")], author="a", message="m", time=at(3))
    assert twin.features("gates").feature_ids == ["g2"] and twin.count("gates") == 1
    assert twin.fsck() == []


BAD_INPUTS = {
    "unknown op": (
        lambda: Change("gates", "remove", "g9", Feature("g9", pt(0, 0), {"code": "G9"})),
        ("gates", "g9"),
        "op 'remove' is not one of",
    ),
    "lone surrogate in an id": (lambda: gate("g\ud800", 1, 1, code="GS"), ("gates", "g\\ud800"), "lone surrogate"),
    "lone surrogate in a property": (lambda: gate("g9", 1, 1, code="G\udfff9"), ("gates", "g9"), "code is not valid"),
    "lone surrogate in a list": (lambda: record("r9", tags=["ok", "\ud83d"]), ("projects", "r9"), "tags is not valid"),
    # GDAL's GeoJSON, GeoPackage and Shapefile writers cut text at a NUL: the downloads lost the rest.
    "NUL in a property": (lambda: gate("g9", 1, 1, code="G\x009"), ("gates", "g9"), "code holds a NUL"),
    "NUL in a list": (lambda: record("r9", tags=["ok", "a\x00b"]), ("projects", "r9"), "tags holds a NUL"),
    "lone surrogate in a property name": (
        lambda: gate("g9", 1, 1, **{"k\ud800": "v"}),
        ("gates", "g9"),
        "unknown property",
    ),
    "feature id differs from the change's": (
        lambda: Change("gates", "add", "g9", Feature("g8", pt(0, 0), {"code": "G9"})),
        ("gates", "g9"),
        "own id 'g8' differs",
    ),
    "integer id": (
        lambda: Change("gates", "add", 5, Feature(5, pt(0, 0), {"code": "G5"})),  # type: ignore[arg-type]
        ("gates", None),
        "feature id 5 is a int; ids are text",
    ),
    "id not in NFC": (lambda: gate("cafe\u0301", 1, 1, code="C"), ("gates", "cafe\u0301"), "not in Unicode NFC form"),
    "id with NUL": (lambda: gate("g\x009", 1, 1, code="C"), ("gates", "g\x009"), "control character"),
    "id with a trailing space": (lambda: gate("g9 ", 1, 1, code="C"), ("gates", "g9 "), "white space"),
    "id with a leading space": (lambda: gate(" g9", 1, 1, code="C"), ("gates", " g9"), "white space"),
    # Accepted, then the PostGIS commit failed (500): the id is in a B-tree index. Named cut short.
    "id too long": (
        lambda: gate("g" * 300_000, 1, 1, code="C"),
        ("gates", "g" * 40 + "…"),
        "the id is 300,000 characters long; an id holds at most 256",
    ),
    "id too long, not ASCII": (
        lambda: gate("展" * 257, 1, 1, code="C"),
        ("gates", "展" * 40 + "…"),
        "257 characters long; an id holds at most 256",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_inputs_that_escaped_the_error_hierarchy_are_validation_problems(twin: Twin, case: str):
    """Regression: these raised KeyError, UnicodeEncodeError or TypeError, were silently replaced
    or got a vague reason; each is now one problem naming the feature, and nothing is written."""
    make, (layer, fid), phrase = BAD_INPUTS[case]
    first = twin.commit([gate("base", 0, 0)], author="a", message="base", time=at(0))
    for batch in ([make()], [gate("ok", 2, 2), make()]):  # alone, and beside a good change
        problems = problems_of(twin, batch)
        assert len(problems) == 1, problems
        assert (problems[0].layer, problems[0].feature_id) == (layer, fid)
        assert phrase in problems[0].reason
        str(problems[0]).encode("utf-8")  # the message can be printed and sent as JSON
    assert twin.head() == first and twin.features("gates").feature_ids == ["base"]
    assert twin.fsck() == []


def test_an_id_of_the_longest_length_is_taken(twin: Twin):
    longest = ["g" * validation.MAX_ID_CHARS, "展" * validation.MAX_ID_CHARS, "😀" * validation.MAX_ID_CHARS]
    twin.commit([gate(fid, i, 0, code=f"C{i}") for i, fid in enumerate(longest)], author="a", message="m", time=at(0))
    assert twin.features("gates").feature_ids == sorted(longest)


def test_ids_compare_exactly_and_nfc_ids_work_in_every_script(twin: Twin):
    ids = ["café", "展馆-1", "😀", "a b", "A", "a"]
    twin.commit([gate(fid, i, 0, code=f"C{i}") for i, fid in enumerate(ids)], author="a", message="m", time=at(0))
    assert twin.features("gates").feature_ids == sorted(ids)
    assert orjson.loads(twin.feature("gates", "café"))["id"] == "café"
    # the NFD spelling of an existing id is refused, not taken as a second feature
    problems = problems_of(twin, [gate("cafe\u0301", 9, 9, code="X")])
    assert "NFC" in problems[0].reason and "'café'" in problems[0].reason


# ---------------------------------------------------------------------------- many features at once
_ODD_VALUES = st.sampled_from(
    ["", " ", "built", "planned", "x\ud800", "展馆", "2026-10-26", "2026-W43-1", " 2026-10-26", "2026-02-30",
     "20261026", 0, 1, True, False, 2**63, -(2**63), 2**63 - 1, 3.0, 2.5, float("nan"), float("inf"), None,
     np.int64(2), np.float64(1.5), np.bool_(True), ["a", "b"], ["a", 1], ("t",), [], ["\udfff"], {"k": 1}]
)  # fmt: skip
_PROPERTIES = st.dictionaries(
    st.sampled_from(["code", "floors", "area_m2", "status", "opened", "accessible", "colour", "tags", "name"]),
    _ODD_VALUES,
    max_size=6,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rows=st.lists(_PROPERTIES | st.none(), min_size=1, max_size=12))
def test_the_column_checks_pass_exactly_what_the_per_feature_rule_keeps_as_it_is(rows: list):
    """validate_changes checks a big commit's properties a column at a time and sends only the features
    that fail to normalize_properties; a feature the columns pass must be one the per-feature rule
    would keep as it is (same keys, values and types: the stored JSON is the same) with no reason,
    however many values of other types share its column (a set of values would take 1 and True as one)."""
    for schema in (HALLS, PROJECTS):
        flags = already_normal(schema, rows)
        assert flags == [already_normal(schema, [r])[0] for r in rows]  # each row's answer is its own
        for row, flag in zip(rows, flags, strict=True):
            if not flag:
                continue
            out, reasons = normalize_properties(schema, row)
            assert reasons == [] and out == row
            assert [type(v) for v in out.values()] == [type(row[k]) for k in out]


def test_one_bad_feature_among_many_good_ones_is_found_and_worded_as_alone(twin: Twin):
    """The column checks and the array geometry checks find the one feature that fails among many that
    pass, and word its problem as the per-feature path does when it comes alone."""
    twin.commit([gate("base", 0, 0)], author="a", message="base", time=at(0))
    good = [hall(f"ok{i}", i % 7, i // 7, code=f"OK{i}", floors=i, area_m2=float(i), status="built") for i in range(60)]
    for make, _, _ in [*CASES.values(), *BAD_INPUTS.values()]:
        alone = [str(p) for p in problems_of(twin, [make()])]
        assert [str(p) for p in problems_of(twin, [*good[:30], make(), *good[30:]])] == alone
    assert twin.count("halls") == 0
    # several: problems of ids and properties in the order of the changes, then those of geometries
    problems = problems_of(
        twin,
        [
            *good[:5],
            gate("g-out", 900, 900),
            hall("h-a", 0, 0, floors="x"),
            *good[5:],
            add("halls", "h-pt", pt(0, 0), code="P"),
            hall("h-c", 3, 3, colour="red"),
        ],
    )
    assert [p.feature_id for p in problems] == ["h-a", "h-c", "g-out", "h-pt"]


# The column-wise path (twin.validation._to_look_at) against the one-by-one path it skips.
_LAYER_NAMES = st.sampled_from(["halls", "gates", "paths", "projects", "roads"])
_OPS = st.sampled_from(["add", "upsert", "modify", "delete", "remove"])
_IDS = st.sampled_from(
    ["h1", "h2", "g1", "p1", "r1", "@schema", "", " ", "h1 ", "café", "cafe\u0301", "展馆 1", "g\x009", "g\ud800", 5]
)
_GEOMETRIES = st.sampled_from(
    [None, "point", "far point", "square", "bow-tie", "line", "empty", "3d point", "nan point", "multi square"]
)


_MAKE_GEOMETRY = {  # each made when asked for, not all ten for every change drawn
    None: lambda: None,
    "point": lambda: pt(0, 0),
    "far point": lambda: pt(900, 900),
    "square": lambda: square(1, 1),
    "bow-tie": lambda: BOWTIE,
    "line": lambda: line((0, 0), (1, 1)),
    "empty": lambda: Polygon(),
    "3d point": lambda: Point(X0, Y0, 5.0),
    "nan point": lambda: Point(float("nan"), Y0),
    "multi square": lambda: shapely.MultiPolygon([square(1, 1), square(3, 3)]),
}


def _geometry(kind: str | None):
    return _MAKE_GEOMETRY[kind]()


_CHANGE = st.tuples(_LAYER_NAMES, _OPS, _IDS, st.booleans(), st.booleans(), _GEOMETRIES, _PROPERTIES | st.none())
_GATE_IDS = st.sampled_from([f"g{i}" for i in range(40)])
_NORMAL_GATE = st.just({"code": "G", "kind": "north"})
_CLEAN = st.one_of(  # changes that pass every check (or all but their geometry's), as most of a large import does
    st.tuples(
        st.just("gates"),
        st.sampled_from(["add", "upsert"]),
        _GATE_IDS,
        st.just(True),
        st.just(True),
        st.sampled_from(["point", "point", "point", None, "far point", "bow-tie", "square"]),
        _NORMAL_GATE,
    ),
    st.tuples(
        st.just("projects"),
        st.sampled_from(["add", "upsert", "modify"]),
        st.sampled_from([f"r{i}" for i in range(40)]),
        st.just(True),
        st.just(True),
        st.sampled_from([None, None, "point"]),
        st.just({"code": "R", "tags": ["a"]}),
    ),
    st.tuples(
        st.just("halls"),
        st.just("delete"),
        st.sampled_from([f"h{i}" for i in range(40)]),
        st.just(False),
        st.just(True),
        st.just(None),
        st.just(None),
    ),
)
# every change a feature with a geometry (so their validity is worked out ahead), some refused
_WITH_GEOMETRY = st.one_of(
    st.tuples(
        _LAYER_NAMES.filter(lambda name: name != "projects"),
        st.sampled_from(["add", "upsert", "remove"]),
        _IDS | _GATE_IDS,
        st.just(True),
        st.booleans(),
        _GEOMETRIES.filter(lambda g: g is not None),
        _PROPERTIES | _NORMAL_GATE,
    ),
    st.tuples(
        st.just("gates"),
        st.just("add"),
        _GATE_IDS,
        st.just(True),
        st.just(True),
        st.sampled_from(["point", "bow-tie", "far point", "3d point", "line"]),
        _NORMAL_GATE,
    ),
)
_DRAWN = st.one_of(
    st.lists(_CHANGE | _CLEAN | _CLEAN, min_size=1, max_size=12, unique_by=lambda t: (t[0], t[2])),
    st.lists(_CHANGE | _CLEAN, min_size=1, max_size=8),
    st.lists(_WITH_GEOMETRY, min_size=1, max_size=12, unique_by=lambda t: (t[0], t[2])),
)  # fmt: skip


def _changes(drawn: list) -> list[Change]:
    """Fresh changes from drawn tuples (validation normalises them in place, so each path gets its own)."""
    out = []
    for layer, op, fid, has_feature, own_id, geometry, props in drawn:
        feature = Feature(fid if own_id else "other", _geometry(geometry), dict(props) if props else props)
        out.append(Change(layer, op, fid, feature if has_feature else None))  # type: ignore[arg-type]
    return out


@settings(max_examples=600, deadline=None, derandomize=True)
@given(drawn=_DRAWN)
def test_the_column_wise_checks_give_what_the_checks_one_by_one_give(drawn: list):
    """check_changes clears most changes a column at a time and runs the per-change checks only on
    the rest: the same problems in the same order, the same usable changes, the same properties and
    geometries afterwards as running every change through them."""
    schemas = {s.name: s for s in (HALLS, GATES, PATHS, PROJECTS)}

    def outcome(changes: list[Change], problems: list[Problem], usable: list[Change]) -> tuple:
        after = [
            (repr(c.feature.properties), None if c.feature.geometry is None else c.feature.geometry.wkb_hex)
            if c.feature is not None and isinstance(c.feature.geometry, shapely.Geometry | type(None))
            else None
            for c in changes
        ]
        at = [next(k for k, x in enumerate(changes) if x is c) for c in usable]
        return [(p.layer, p.feature_id, p.reason) for p in problems], at, after

    one_by_one = _changes(drawn)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(validation, "_to_look_at", lambda *a: None)
        expected = outcome(one_by_one, *validation.check_changes(one_by_one, schemas, AOI))
    changes = _changes(drawn)
    assert outcome(changes, *validation.check_changes(changes, schemas, AOI)) == expected


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    ids=st.lists(
        st.text(alphabet="ab ", max_size=3) | st.text(alphabet="ab \t\n\x00é展\u3000", max_size=4) | st.integers(),
        max_size=6,
    )
)
@example(ids=["a", " a"])
@example(ids=["a", "a ", "b"])
@example(ids=["", "a"])
@example(ids=["a", "", "b"])
@example(ids=["a", ""])
@example(ids=[""])
@example(ids=[" "])
@example(ids=[])
@example(ids=["a", "a" * 256])
@example(ids=["a", "a" * 257])
def test_ids_are_judged_plain_all_at_once_exactly_as_one_at_a_time(ids: list):
    assert validation._plain_ids(ids) == all(map(validation._plain_id, ids))


# ---------------------------------------------------------------------------- what a problem means, as data
def test_every_problem_from_validation_carries_its_code_and_args() -> None:
    """A page words a problem, and groups it, from its code and args, never its English; so every
    problem validation gives has a code of PROBLEM_CODES, with exactly that code's arguments, and
    every code is given by some input (tests/problem_codes.py)."""
    assert set(INPUTS) == set(PROBLEM_CODES)
    for code in PROBLEM_CODES:
        problems = problems_for(code)
        assert code in {p.code for p in problems}, (code, problems)
        for p in problems:
            assert p.code in PROBLEM_CODES, p
            assert set(p.args) == set(PROBLEM_CODES[p.code]), p


def test_a_problems_args_are_the_values_its_reason_names() -> None:
    (soup,) = problems_for("value_not_allowed")
    assert soup.reason == "kind='soup' is not one of: food, drink"
    assert soup.args == {"field": "kind", "value": "soup", "allowed": ["food", "drink"]}
    many, boolean, obj = problems_for("wrong_type")
    assert many.reason == "seats must be an integer, got 'many'"
    assert many.args == {"field": "seats", "expected": "integer", "value": "many", "actual": None}
    assert (boolean.reason, boolean.args["actual"]) == ("seats must be an integer, got a boolean", "boolean")
    assert (obj.reason, obj.args["actual"]) == ("name must be text, got dict", "dict")
    (missing,) = problems_for("required_missing")
    assert (missing.reason, missing.args) == ("required property 'code' is missing", {"field": "code"})
    (point,) = problems_for("geometry_type")
    assert point.args == {"layer": "kiosks", "geometry_type": "Point", "allowed": ["Polygon"]}
    (far,) = problems_for("outside_area")
    assert far.args["bounds"] == [130.0, 40.0, 130.001, 40.001] and far.args["area"] == list(AOI.bounds)
    assert far.reason.startswith("geometry (130.00000,40.00000 – 130.00100,40.00100) lies outside")
    (extra,) = problems_for("unknown_property")
    assert extra.args == {
        "field": "colour",
        "layer": "kiosks",
        "known": ["area", "code", "kind", "name", "odd", "seats"],
    }
    # the same reasons as normalize_properties gives, which the other modules word from
    _, reasons = normalize_properties(KIOSKS, {"kind": "soup", "seats": "many"})
    assert reasons == ["required property 'code' is missing", "kind='soup' is not one of: food, drink",
                       "seats must be an integer, got 'many'"]  # fmt: skip


def test_a_problem_without_a_code_is_as_before() -> None:
    p = Problem("halls", "h1", "six floors")
    assert (p.code, dict(p.args)) == (None, {}) and str(p) == "halls/h1: six floors"
    assert hash(p) == hash(Problem("halls", "h1", "six floors", None, {"n": 6}))  # args never hashed
    assert len({p, Problem("halls", "h1", "six floors")}) == 1


# ---------------------------------------------------------------------------- control characters and lengths
@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    """The text limits as the environment sets them, read again (they are read once per process)."""

    def set_limits(**env: int) -> None:
        for name, value in env.items():
            monkeypatch.setenv(f"VENUE_TWIN_{name.upper()}", str(value))
        validation.text_limits.cache_clear()

    validation.text_limits.cache_clear()
    yield set_limits
    monkeypatch.undo()
    validation.text_limits.cache_clear()


@pytest.mark.parametrize(
    "text,character",
    [("\x1b[2Jnote\nline2", "U+001B"), ("a\rb", "U+000D"), ("a\x7fb", "U+007F"), ("a\x85b", "U+0085"),
     ("a\u202eb", "U+202E"), ("a\u2066b", "U+2066")],
)  # fmt: skip
def test_a_text_property_with_a_control_character_is_refused_and_nothing_written(
    twin: Twin, text: str, character: str
) -> None:
    twin.commit([record("p1", name="ok")], author="a", message="m", time=at(1))
    before = twin.head()
    for changes in ([record("p1", "modify", name=text)], [record("p2", name="x", tags=["a", text])]):
        (p,) = problems_of(twin, changes)
        assert p.code == "text_control_character" and p.args["character"] == character
        assert character in p.reason and p.args["field"] in p.reason
    assert twin.head() == before
    # tab and line breaks are text a note may hold
    twin.commit([record("p1", "modify", name="line 1\n\tline 2")], author="a", message="two\nlines", time=at(2))
    assert props_of(twin, "projects", "p1")["name"] == "line 1\n\tline 2"


def test_an_id_with_a_bidi_override_is_refused(twin: Twin) -> None:
    for fid in ("gate\u202e1", "gate\u2067-1", "gate\x9b1"):
        (p,) = problems_of(twin, [gate(fid, 0.1, 0.1)])
        assert p.code == "id_control_character" and "bidi override" in p.reason
    assert twin.head() is None


@pytest.mark.parametrize(
    "author,message,phrase",
    [
        ("a", "\x1b[2Jnote\nline2", "the commit message holds the control character U+001B"),
        ("a", "note\u202e", "the commit message holds the control character U+202E"),
        ("evil\n0000 forged line", "m", "the author holds the control character U+000A"),
        ("evil\x1b[31m", "m", "the author holds the control character U+001B"),
        ("a\tb", "m", "the author holds the control character U+0009"),
        ("a", "x" * 2001, "the commit message is 2,001 characters long; it may hold at most 2,000 "
         "(VENUE_TWIN_MESSAGE_MAX_CHARS)"),
        ("x" * 201, "m", "the author is 201 characters long; it may hold at most 200 (VENUE_TWIN_AUTHOR_MAX_CHARS)"),
    ],
)  # fmt: skip
def test_a_commit_whose_author_or_message_cannot_be_printed_is_refused(
    twin: Twin, author: str, message: str, phrase: str
) -> None:
    with pytest.raises(BadInput, match=re.escape(phrase)):
        twin.commit([gate("g1", 0.1, 0.1)], author=author, message=message, time=at(1))
    with pytest.raises(BadInput, match="holds the control character|characters long"):
        twin.create_layer({"name": "kiosks2", "title_en": "k", "title_zh": "k", "geometry_types": ["Point"],
                           "fields": []}, author=author, message=message)  # fmt: skip
    assert twin.head() is None


def test_a_text_property_longer_than_the_limit_is_refused_naming_it(twin: Twin, limits) -> None:
    twin.commit([record("p1", name="x" * 10_000)], author="a", message="m", time=at(1))  # the longest taken
    (p,) = problems_of(twin, [record("p2", name="x" * 15_000_000)])
    assert (p.code, p.args) == (
        "text_too_long",
        {"field": "name", "length": 15_000_000, "max": 10_000, "setting": "VENUE_TWIN_TEXT_MAX_CHARS"},
    )
    assert p.reason == "name is 15,000,000 characters long; it may hold at most 10,000 (VENUE_TWIN_TEXT_MAX_CHARS)"
    (p,) = problems_of(twin, [record("p2", budget="1" * 20_000)])  # a number given as text: not quoted whole
    assert p.code == "text_too_long" and len(p.reason) < 200
    # the setting moves the limit
    limits(text_max_chars=100, message_max_chars=200, author_max_chars=40)
    (p,) = problems_of(twin, [record("p2", name="x" * 101)])
    assert p.args["max"] == 100
    with pytest.raises(BadInput, match="at most 200"):
        twin.commit([record("p2", name="x")], author="a", message="m" * 201, time=at(2))
    assert twin.store.commit_count() == 1


def test_the_text_limits_out_of_range_stop_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.settings import SettingsError, TwinSettings

    for name, value in (("TEXT_MAX_CHARS", "5"), ("MESSAGE_MAX_CHARS", "0"), ("AUTHOR_MAX_CHARS", "-1")):
        monkeypatch.setenv(f"VENUE_TWIN_{name}", value)
        with pytest.raises(SettingsError, match=f"VENUE_TWIN_{name}='{value}': takes a whole number from"):
            TwinSettings()
        monkeypatch.delenv(f"VENUE_TWIN_{name}")


def test_visible_writes_control_characters_as_escapes() -> None:
    assert validation.visible("\x1b[2Jnote\nline2\u202e") == "\\x1b[2Jnote\\x0aline2\\u202e"
    assert validation.visible("note\n\tline2\x1b", multiline=True) == "note\n\tline2\\x1b"
    assert validation.visible("plain 文字") == "plain 文字"
