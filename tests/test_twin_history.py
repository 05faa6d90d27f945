"""Versions of the twin: content ids, resolving refs and times, history, diff and revert."""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
import shapely
from deadlines import SUBPROCESS
from store_contract import (
    GATES,
    LAYERS,
    X0,
    Y0,
    add,
    at,
    build_commit,
    delete,
    full_state,
    gate,
    hall,
    parsed,
    pt,
    record,
    standard_history,
)

from twin import BadInput, Change, Conflict, LayerSchema, NotFound, Problem, Twin, ValidationFailed
from twin.core import register_rule
from twin.encoding import (
    COMMIT_ID_VERSION,
    commit_id,
    encode_changes,
    encode_properties,
    feature_bytes,
    format_time,
    stored_commit_id,
)

TWIN_STORES = ("gpkg", "postgis")  # twin-level tests run on both stores (conftest.py)

HEX64 = re.compile(r"[0-9a-f]{64}")


def first_changes() -> list[Change]:
    return [gate("g1", 0, 0, kind="north"), gate("g2", 1, 1), hall("h1", 2, 2, floors=3, status="built")]


def second_changes() -> list[Change]:
    return [gate("g1", 0.5, 0, op="modify", kind="south"), delete("gates", "g2"), hall("h2", -3, -3)]


def commit_pair(t: Twin, second: list[Change] | None = None, **over) -> tuple[str, str]:
    kw = {"author": "tester", "message": "survey", "time": at(0)}
    a = t.commit(first_changes(), **kw)
    kw.update(over)
    if "time" not in over:
        kw["time"] = at(1)
    b = t.commit(second if second is not None else second_changes(), **kw)
    return a.id, b.id


# ---------------------------------------------------------------------------- content ids
def test_commit_ids_are_64_hex_and_chain_to_their_parents(twin: Twin):
    m = standard_history(twin)
    prev = None
    for c in m.commits:
        assert HEX64.fullmatch(c.id)
        assert c.parent == prev
        prev = c.id
    assert [c.id for c in twin.log()] == [c.id for c in reversed(m.commits)]
    # the id is the hash of what is stored: recomputable from the stored changes
    for c in m.commits:
        assert stored_commit_id(c.parent, c.author, c.message, c.time, twin.store.changes_in(c.seq)) == c.id


def test_same_changes_on_the_same_parent_give_the_same_id_in_two_twins(make_twin):
    one, two = make_twin("one"), make_twin("two")
    assert commit_pair(one) == commit_pair(two)
    assert full_state(one) == full_state(two)


ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: CPython gives a freed handle's address to the next one opened
# within a few rounds there, but not reliably in a long test session's crowded heap (where 20 full
# collections also took 1-2.5 minutes).
_HANDLE_KEYS = """
import gc, sys
from twin import Twin
keys = []
for _ in range(20):
    t = Twin.open(sys.argv[1])
    keys.append(repr(t.state_key()))
    t.close()
    del t
    gc.collect()
print(len(set(keys)), len(keys))
"""


def test_each_handle_has_its_own_cache_key_even_after_one_is_freed(make_twin):
    """Caches of derived answers (evidence flags, map data, briefings) are keyed by `state_key`; it
    held id() of the store, which a freed handle leaves to the next one opened (two copies of one
    history then shared answers their survey files did not)."""
    url = make_twin("keyed").store.url
    done = subprocess.run(
        [sys.executable, "-c", _HANDLE_KEYS, str(url)], capture_output=True, text=True, cwd=ROOT, timeout=SUBPROCESS
    )
    assert done.returncode == 0, done.stderr
    distinct, made = map(int, done.stdout.split())
    assert distinct == made == 20, done.stdout


def test_id_does_not_depend_on_the_order_of_changes(make_twin):
    base = commit_pair(make_twin("base"))
    t = make_twin("reordered")
    a = t.commit(list(reversed(first_changes())), author="tester", message="survey", time=at(0))
    b = t.commit(second_changes()[::-1], author="tester", message="survey", time=at(1))
    assert (a.id, b.id) == base


def test_id_changes_when_anything_changes(make_twin):
    base = commit_pair(make_twin("base"))
    moved = second_changes()
    moved[0] = gate("g1", 0.5, 1e-6, op="modify", kind="south")  # a 1e-9 degree move
    prop = second_changes()
    prop[0] = gate("g1", 0.5, 0, op="modify", kind="north")
    renamed = second_changes()
    renamed[2] = hall("h3", -3, -3, code="H2")
    extra = [*second_changes(), gate("g9", 4, 4)]
    fewer = second_changes()[:2]
    variants = {
        "author": {"author": "someone else"},
        "message": {"message": "survey!"},
        "time": {"time": at(1) + timedelta(microseconds=1)},
        "geometry": {"second": moved},
        "property": {"second": prop},
        "feature id": {"second": renamed},
        "one more change": {"second": extra},
        "one change fewer": {"second": fewer},
    }
    ids = {base[1]}
    for i, (what, over) in enumerate(variants.items()):
        second = over.pop("second", None)
        first, b = commit_pair(make_twin(f"v{i}"), second, **over)
        assert first == base[0]
        assert b != base[1], what
        ids.add(b)
    assert len(ids) == len(variants) + 1
    # the same second commit on a different parent
    t = make_twin("other-parent")
    t.commit(first_changes()[:2], author="tester", message="survey", time=at(0))
    t.commit([hall("h1", 2, 2, floors=3, status="built")], author="tester", message="survey", time=at(0))
    b = t.commit(second_changes(), author="tester", message="survey", time=at(1))
    assert b.id != base[1]


def test_same_change_in_another_layer_gives_another_id(make_twin):
    kiosks = LayerSchema("kiosks", "服务台", "Kiosks", ("Point",), GATES.fields)
    ids = []
    for layer in ("gates", "kiosks"):
        t = make_twin(layer, schemas=[GATES, kiosks])
        ids.append(t.commit([add(layer, "x1", pt(0, 0), code="X")], author="a", message="m", time=at(0)).id)
    assert ids[0] != ids[1]


def _commit_id_as_defined(parent, author, message, time, changes) -> str:
    """The commit id as documented (twin.encoding.commit_id), one line at a time: the reference the
    faster implementation must match bit for bit."""
    h = hashlib.sha256(COMMIT_ID_VERSION)
    h.update((parent or "").encode() + b"\n")
    h.update(encode_properties({"author": author, "message": message, "time": format_time(time)}) + b"\n")
    for layer, op, fid, gj in sorted(changes, key=lambda c: (c[0], c[2])):
        digest = hashlib.sha256(gj).hexdigest() if gj is not None else "-"
        h.update(f"{op}\t{layer}\t{fid}\t{digest}\n".encode())
    return h.hexdigest()


def test_commit_id_is_the_hash_of_its_sorted_lines_in_one_layer_or_several():
    rng = random.Random(7)
    ids = ["10", "9", "a", "A", "é", "展", "g 1", "@schema"]
    rows = [
        (rng.choice(["halls", "gates", "paths"]), rng.choice(["add", "modify", "delete"]), rng.choice(ids), gj)
        for gj in [None, b"", b"x", *(f'{{"n":{i}}}'.encode() for i in range(40))]
    ]  # the same (layer, id) more than once too: the sort is stable
    for _ in range(5):
        rng.shuffle(rows)
        one = [r for r in rows if r[0] == "gates"]
        for changes in (rows, one, one[:1], []):
            expected = _commit_id_as_defined("p", "a", "m", at(0), changes)
            assert commit_id("p", "a", "m", at(0), changes) == expected
            assert commit_id("p", "a", "m", at(0), iter(changes)) == expected


def test_encoded_features_are_the_canonical_bytes_whatever_the_ids_hold():
    """encode_changes writes a plain id into the Feature's text as it is and escapes the others with
    orjson: either way the bytes are feature_bytes' (the id's JSON, the geometry's, the properties')."""
    odd = ["plain", 'quote"d', "back\\slash", "tab\tid", "nl\nid", "展馆-1", "😀", "\x7f", "a/b", "<&>"]
    for ids in (["p1", "p2"], odd, ["p1", 'q"']):
        changes = [
            add("gates", fid, pt(i, 0), code=f"C{i}") if i % 3 else record(fid, name=f"n{i}")
            for i, fid in enumerate(ids)
        ]
        changes.insert(1, delete("gates", "gone"))
        encoded = encode_changes(changes)
        assert encoded[1] is None
        for ch, enc in zip(changes, encoded, strict=True):
            if ch.feature is None:
                continue
            geometry = b"null" if ch.feature.geometry is None else shapely.to_geojson(ch.feature.geometry).encode()
            properties = encode_properties(ch.feature.properties)
            assert enc.geojson == feature_bytes(ch.feature_id, geometry, properties)
            assert enc.properties_json == properties.decode() and enc.properties is ch.feature.properties
            assert enc.wkb == (None if ch.feature.geometry is None else shapely.to_wkb(ch.feature.geometry))
            assert enc.bbox == (None if ch.feature.geometry is None else tuple(ch.feature.geometry.bounds))


# ---------------------------------------------------------------------------- resolving refs
def test_resolve_head_and_head_tilde(twin: Twin):
    m = standard_history(twin)
    assert twin.resolve().commit == m.commits[-1]
    assert twin.resolve("HEAD").commit == m.commits[-1]
    for n in range(5):
        assert twin.resolve(f"HEAD~{n}").commit == m.commits[4 - n]
    empty = twin.resolve("HEAD~5")
    assert empty.commit is None and empty.seq == 0
    assert all(twin.count(layer, empty) == 0 for layer in LAYERS)
    with pytest.raises(NotFound):
        twin.resolve("HEAD~6")


def test_resolve_commit_ids_and_prefixes(twin: Twin):
    m = standard_history(twin)
    for c in m.commits:
        assert twin.resolve(c.id).commit == c
        assert twin.resolve(c.id[:12]).commit == c
        assert twin.resolve(c.id[:12].upper()).commit == c
    with pytest.raises(BadInput):
        twin.resolve(m.commits[0].id[:3])  # too short
    with pytest.raises(BadInput):
        twin.resolve("not-a-commit")
    unused = next(p for p in (f"{i:04x}" for i in range(65536)) if not any(c.id.startswith(p) for c in m.commits))
    with pytest.raises(NotFound):
        twin.resolve(unused)


def test_an_ambiguous_prefix_is_refused(twin: Twin):
    first = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    # find a message that makes the next commit's id share the first's 4-character prefix
    _, stored = build_commit(twin.store, [gate("g2", 1, 1)], parent=first, time=at(1))
    message = next(
        f"m{i}" for i in range(2_000_000) if stored_commit_id(first.id, "a", f"m{i}", at(1), stored)[:4] == first.id[:4]
    )
    second = twin.commit([gate("g2", 1, 1)], author="a", message=message, time=at(1))
    assert second.id[:4] == first.id[:4]
    with pytest.raises(BadInput, match="ambiguous"):
        twin.resolve(first.id[:4])
    common = next(i for i in range(4, 64) if first.id[i] != second.id[i])
    assert twin.resolve(first.id[: common + 1]).commit == first
    assert twin.resolve(second.id[: common + 1]).commit == second


def test_resolve_as_of_a_time(twin: Twin):
    m = standard_history(twin)  # commits at T0 + 0, 10, 20, 30, 40 minutes
    cs = m.commits
    assert twin.resolve(asof=at(0)).commit == cs[0]
    assert twin.resolve(asof=at(9.99)).commit == cs[0]  # between two commits: the earlier one
    assert twin.resolve(asof=at(35)).commit == cs[3]
    assert twin.resolve(asof=at(99)).commit == cs[4]
    before = twin.resolve(asof=at(-0.01))  # before the first commit: the empty twin
    assert before.commit is None
    assert twin.features("gates", before).features == []
    assert twin.count("halls", before) == 0
    # strings: RFC 3339 with Z or an offset
    assert twin.resolve(asof=at(15).strftime("%Y-%m-%dT%H:%M:%SZ")).commit == cs[1]
    shanghai = at(25).astimezone(timezone(timedelta(hours=8))).isoformat()
    assert shanghai.endswith("+08:00")
    assert twin.resolve(asof=shanghai).commit == cs[2]
    assert twin.resolve(asof=at(25).astimezone(timezone(timedelta(hours=-5)))).commit == cs[2]


@pytest.mark.parametrize("bad", [datetime(2026, 10, 20, 1, 30), "2026-10-20T01:30:00", "yesterday", "2026-13-40"])
def test_a_time_without_zone_or_unreadable_is_bad_input(twin: Twin, bad):
    standard_history(twin)
    with pytest.raises(BadInput):
        twin.resolve(asof=bad)


def test_version_and_time_together_is_bad_input(twin: Twin):
    standard_history(twin)
    with pytest.raises(BadInput):
        twin.resolve("HEAD", asof=at(1))


def test_a_bare_date_is_the_end_of_that_day_in_shanghai(twin: Twin):
    # 2026-10-26 23:59:59 in Shanghai is 15:59:59Z; a minute later it is the 27th there
    late = twin.commit(
        [gate("g1", 0, 0)], author="a", message="late on the 26th", time=datetime(2026, 10, 26, 15, 59, 59, tzinfo=UTC)
    )
    next_day = twin.commit(
        [gate("g2", 1, 1)], author="a", message="early on the 27th", time=datetime(2026, 10, 26, 16, 0, 1, tzinfo=UTC)
    )
    assert twin.resolve(asof="2026-10-25").commit is None
    assert twin.resolve(asof="2026-10-26").commit == late
    assert twin.resolve(asof="2026-10-27").commit == next_day


# ---------------------------------------------------------------------------- history
def test_history_of_a_feature_added_modified_deleted_and_added_again(twin: Twin):
    c1 = twin.commit([gate("x", 0, 0), gate("y", 5, 5)], author="a", message="add", time=at(0))
    c2 = twin.commit([gate("x", 1, 1, op="modify", kind="north")], author="b", message="move", time=at(1))
    c3 = twin.commit([delete("gates", "x")], author="c", message="remove", time=at(2))
    c_other = twin.commit([gate("y", 6, 6, op="modify")], author="d", message="unrelated", time=at(3))
    c4 = twin.commit([gate("x", 2, 2, kind="south")], author="e", message="again", time=at(4))
    h = twin.history("gates", "x")
    assert [(e.op, e.commit, e.ended_by) for e in h] == [
        ("add", c1, c2.id),
        ("modify", c2, c3.id),
        ("delete", c3, None),
        ("add", c4, None),
    ]
    assert h[0].geojson == twin.feature("gates", "x", twin.resolve(c1.id))
    assert h[1].geojson == twin.feature("gates", "x", twin.resolve(c2.id))
    assert h[2].geojson is None
    assert h[3].geojson == twin.feature("gates", "x")
    assert parsed(h[1].geojson)["properties"] == {"code": "X", "kind": "north"}
    assert c_other.id not in {e.commit.id for e in h}
    assert [e.op for e in twin.history("gates", "y")] == ["add", "modify"]


def test_history_ending_in_a_delete_and_of_unknown_features(twin: Twin):
    c1 = twin.commit([gate("x", 0, 0)], author="a", message="add", time=at(0))
    c2 = twin.commit([delete("gates", "x")], author="a", message="del", time=at(1))
    h = twin.history("gates", "x")
    assert [(e.op, e.commit.id, e.ended_by) for e in h] == [("add", c1.id, c2.id), ("delete", c2.id, None)]
    with pytest.raises(NotFound):
        twin.history("gates", "never")
    with pytest.raises(NotFound):
        twin.history("nope", "x")


# ---------------------------------------------------------------------------- diff
def kinds(entries) -> dict[tuple[str, str], str]:
    return {(e.layer, e.feature_id): e.kind for e in entries}


def test_diff_added_modified_deleted_with_before_and_after(twin: Twin):
    m = standard_history(twin)
    r1, r2 = twin.resolve(m.commits[0].id), twin.resolve(m.commits[1].id)
    d = twin.diff(r1, r2)
    assert kinds(d) == {
        ("gates", "g1"): "modified",
        ("gates", "g2"): "deleted",
        ("gates", "g4"): "added",
        ("halls", "h1"): "modified",
    }
    by = {(e.layer, e.feature_id): e for e in d}
    assert by["gates", "g1"].before == twin.feature("gates", "g1", r1)
    assert by["gates", "g1"].after == twin.feature("gates", "g1", r2)
    assert by["gates", "g2"].before == twin.feature("gates", "g2", r1) and by["gates", "g2"].after is None
    assert by["gates", "g4"].before is None and by["gates", "g4"].after == twin.feature("gates", "g4", r2)
    assert [(e.layer, e.feature_id) for e in d] == sorted(by)  # ordered by layer, then id


def test_diff_leaves_out_features_born_and_gone_inside_the_range(twin: Twin):
    m = standard_history(twin)
    cs = m.commits
    # g4 is added at #2 and deleted at #5
    assert kinds(twin.diff(twin.resolve(cs[0].id), twin.resolve(cs[3].id)))["gates", "g4"] == "added"
    assert ("gates", "g4") not in kinds(twin.diff(twin.resolve(cs[0].id), twin.resolve(cs[4].id)))
    assert ("gates", "g4") not in kinds(twin.diff(twin.resolve(cs[4].id), twin.resolve(cs[0].id)))


def test_diff_leaves_out_a_feature_put_back_exactly_as_it_was(twin: Twin):
    m = standard_history(twin)
    cs = m.commits
    # g1 is modified at #2 and put back exactly at #4; g2 deleted at #2 and re-added elsewhere at #3
    assert kinds(twin.diff(twin.resolve(cs[0].id), twin.resolve(cs[2].id)))["gates", "g1"] == "modified"
    whole = kinds(twin.diff(twin.resolve(cs[0].id), twin.resolve(cs[3].id)))
    assert ("gates", "g1") not in whole
    assert whole["gates", "g2"] == "modified"


def test_diff_backwards_swaps_added_and_deleted(twin: Twin):
    m = standard_history(twin)
    a, b = twin.resolve(m.commits[0].id), twin.resolve(m.commits[2].id)
    fwd, back = twin.diff(a, b), twin.diff(b, a)
    swap = {"added": "deleted", "deleted": "added", "modified": "modified"}
    assert {k: swap[v] for k, v in kinds(fwd).items()} == kinds(back)
    fb = {(e.layer, e.feature_id): (e.before, e.after) for e in fwd}
    bb = {(e.layer, e.feature_id): (e.after, e.before) for e in back}
    assert fb == bb


def test_diff_restricted_to_layers(twin: Twin):
    m = standard_history(twin)
    empty, head = twin.resolve("HEAD~5"), twin.resolve()
    only_halls = twin.diff(empty, head, ["halls"])
    assert kinds(only_halls) == {("halls", "h1"): "added", ("halls", "h2"): "added"}
    two = twin.diff(twin.resolve(m.commits[2].id), head, ["paths", "halls"])
    assert kinds(two) == {("paths", "p1"): "deleted"}
    assert twin.diff(empty, head, []) == []
    with pytest.raises(NotFound):
        twin.diff(empty, head, ["nope"])


def test_diff_between_every_pair_of_versions_matches_the_states(twin: Twin):
    standard_history(twin)
    refs = [twin.resolve(f"HEAD~{n}") for n in range(5, -1, -1)]
    states = [full_state(twin, r) for r in refs]
    for i, a in enumerate(refs):
        for j, b in enumerate(refs):
            old, new = states[i], states[j]
            want = {}
            for key in sorted(old.keys() | new.keys()):
                before, after = old.get(key), new.get(key)
                if before != after:
                    kind = "added" if before is None else "deleted" if after is None else "modified"
                    want[key] = (kind, before, after)
            got = {(e.layer, e.feature_id): (e.kind, e.before, e.after) for e in twin.diff(a, b)}
            assert got == want, (i, j)


# ---------------------------------------------------------------------------- revert
def test_revert_restores_the_state_before_the_commit(twin: Twin):
    m = standard_history(twin)
    last = m.commits[-1]  # adds g5, deletes g4
    r = twin.revert(last.id, author="reviewer")
    assert r.parent == last.id
    assert r.message.startswith(f"Revert {last.id[:12]}")
    assert r.counts == {"gates": {"added": 1, "modified": 0, "deleted": 1}}
    assert full_state(twin) == full_state(twin, twin.resolve(m.commits[3].id))
    assert twin.feature("gates", "g4") == twin.feature("gates", "g4", twin.resolve(m.commits[3].id))
    # reverting the revert gives the reverted commit's state back
    twin.revert(r.id, author="reviewer", message="redo")
    assert full_state(twin) == full_state(twin, twin.resolve(last.id))
    assert twin.fsck() == []


def test_revert_of_an_older_commit_undoes_only_that_commit(twin: Twin):
    m = standard_history(twin)
    c3 = m.commits[2]  # re-adds g2, deletes g3, adds h2; none touched since
    head_before = full_state(twin)
    r = twin.revert(c3.id, author="reviewer", message="undo #3")
    assert r.counts == {
        "gates": {"added": 1, "modified": 0, "deleted": 1},
        "halls": {"added": 0, "modified": 0, "deleted": 1},
    }
    after = full_state(twin)
    at2 = full_state(twin, twin.resolve(m.commits[1].id))
    assert ("gates", "g2") not in after  # revert of an add deletes
    assert ("halls", "h2") not in after
    assert after["gates", "g3"] == at2["gates", "g3"]  # revert of a delete brings it back as it was
    untouched = {k: v for k, v in head_before.items() if k not in {("gates", "g2"), ("halls", "h2")}}
    assert {k: v for k, v in after.items() if k != ("gates", "g3")} == untouched


def test_revert_of_a_modify_restores_the_exact_bytes(twin: Twin):
    c1 = twin.commit(
        [
            hall(
                "h1",
                0,
                0,
                size=2.123456789012345,
                floors=2,
                area_m2=1234.5,
                opened="2026-10-01",
                accessible=True,
                status="built",
            )
        ],
        author="a",
        message="m",
        time=at(0),
    )
    c2 = twin.commit([hall("h1", 0, 0, size=3, op="modify", floors=3)], author="a", message="m", time=at(1))
    twin.revert(c2.id, author="b")
    assert twin.feature("halls", "h1") == twin.feature("halls", "h1", twin.resolve(c1.id))
    assert twin.history("halls", "h1")[-1].op == "modify"


def test_revert_of_a_commit_changed_again_later_is_a_conflict(twin: Twin):
    m = standard_history(twin)
    c2 = m.commits[1]  # modifies g1, which #4 changed again; and h1, g2, g4
    head, log, state = twin.head(), twin.log(), full_state(twin)
    with pytest.raises(Conflict, match="g1"):
        twin.revert(c2.id, author="reviewer")
    assert twin.head() == head
    assert twin.log() == log
    assert full_state(twin) == state


def test_revert_of_the_empty_twin_is_bad_input(twin: Twin):
    with pytest.raises(BadInput):
        twin.revert("HEAD", author="a")


# ---------------------------------------------------------------------------- commit metadata
def test_a_commit_older_than_the_head_is_refused(twin: Twin):
    c = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(10))
    with pytest.raises(BadInput):
        twin.commit([gate("g2", 1, 1)], author="a", message="m", time=at(9))
    assert twin.head() == c and twin.count("gates") == 1


def test_commit_needs_changes_and_an_author(twin: Twin):
    with pytest.raises(BadInput):
        twin.commit([], author="a", message="m")
    with pytest.raises(BadInput):
        twin.commit([gate("g1", 0, 0)], author="  ", message="m")
    assert twin.head() is None


def test_commit_time_is_stored_in_utc(twin: Twin):
    local = datetime(2026, 10, 26, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    c = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=local)
    assert c.time == local and c.time.utcoffset() == timedelta(0)
    assert twin.head().time == datetime(2026, 10, 26, 1, 0, tzinfo=UTC)
    assert c.to_dict()["time"] == "2026-10-26T01:00:00Z"
    with pytest.raises(BadInput):
        twin.commit([gate("g2", 1, 1)], author="a", message="m", time=datetime(2026, 10, 27))  # naive


def test_parent_may_be_named_by_prefix_or_head(twin: Twin):
    a = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    b = twin.commit([gate("g2", 1, 1)], author="a", message="m", parent=a.id[:8], time=at(1))
    c = twin.commit([gate("g3", 2, 2)], author="a", message="m", parent="HEAD", time=at(2))
    assert (b.parent, c.parent) == (a.id, b.id)
    with pytest.raises(Conflict, match="moved on"):
        twin.commit([gate("g4", 3, 3)], author="a", message="m", parent=None, time=at(3), strict=True)
    with pytest.raises(Conflict, match="moved on"):
        twin.commit([gate("g4", 3, 3)], author="a", message="m", parent=a.id, time=at(3), strict=True)
    assert twin.head() == c


def test_a_parent_that_resolves_to_the_empty_twin_is_a_conflict(twin: Twin):
    """A writer that built on HEAD~1 (here: the empty twin before the first commit) is behind.
    Regression: resolve gives Ref(None) for the empty twin, and `.commit.id` raised AttributeError."""
    twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    with pytest.raises(Conflict):
        twin.commit([gate("g2", 1, 1)], author="a", message="m", parent="HEAD~1", time=at(1), strict=True)
    with pytest.raises(Conflict, match="gates/g1"):  # and built on the empty twin, g1 was not there
        twin.commit([gate("g1", 1, 1)], author="a", message="m", parent="HEAD~1", time=at(1))
    assert twin.count("gates") == 1


# ---------------------------------------------------------------------------- rebasing onto the head
def test_commits_of_different_features_from_one_parent_both_land(twin: Twin):
    """Non-overlapping writes built on the same parent are applied on top of each other, in order."""
    a = twin.commit(
        [gate("g1", 0, 0), gate("g2", 1, 1), hall("h1", 2, 2, floors=1)], author="a", message="A", time=at(0)
    )
    b = twin.commit([gate("g1", 5, 5, op="modify")], author="b", message="B", parent=a.id, time=at(1))
    c = twin.commit(
        [gate("g2", 6, 6, op="modify"), hall("h1", 2, 2, floors=2, op="modify"), gate("g3", 7, 7)],
        author="c",
        message="C",
        parent=a.id,
        time=at(2),
    )
    d = twin.commit([delete("gates", "g3")], author="d", message="D", parent=c.id, time=at(3))
    assert (b.parent, c.parent, d.parent) == (a.id, b.id, c.id)  # recorded on the head they landed on
    assert twin.log() == [d, c, b, a]
    state = full_state(twin)
    assert (
        parsed(state["gates", "g1"])["geometry"] == parsed(twin.feature("gates", "g1", twin.resolve(b.id)))["geometry"]
    )
    assert parsed(state["gates", "g2"])["geometry"]["coordinates"] == list(gate("g2", 6, 6).feature.geometry.coords[0])
    assert parsed(state["halls", "h1"])["properties"]["floors"] == 2
    assert ("gates", "g3") not in state
    # The id is the one the same commit gets when made on that head directly.
    assert c.id == stored_commit_id(b.id, "c", "C", at(2), twin.store.changes_in(c.seq))
    assert twin.fsck() == []


@pytest.mark.parametrize(
    "theirs, mine",
    [
        ([gate("g1", 5, 5, op="modify")], [gate("g1", 6, 6, op="modify")]),  # both modify
        ([delete("gates", "g1")], [gate("g1", 6, 6, op="modify")]),  # delete vs modify
        ([gate("g1", 5, 5, op="modify")], [delete("gates", "g1")]),  # modify vs delete
        ([gate("g9", 5, 5)], [gate("g9", 6, 6, code="OTHER")]),  # both add the same id
        ([gate("g9", 5, 5)], [Change("gates", "upsert", "g9", gate("g9", 6, 6, code="X").feature)]),
    ],
    ids=["modify-modify", "delete-modify", "modify-delete", "add-add", "add-upsert"],
)
def test_touching_a_feature_that_changed_since_the_parent_is_a_conflict(twin: Twin, theirs, mine):
    a = twin.commit([gate("g1", 0, 0), gate("g2", 1, 1)], author="a", message="A", time=at(0))
    b = twin.commit(theirs, author="b", message="B", parent=a.id, time=at(1))
    state = full_state(twin)
    fid = mine[0].feature_id
    with pytest.raises(Conflict, match=f"gates/{fid}") as e:
        # a feature that did not change since does not hide the one that did
        twin.commit([*mine, gate("g2", 3, 3, op="modify")], author="c", message="C", parent=a.id, time=at(2))
    assert "gates/g2" not in str(e.value) and a.id[:12] in str(e.value)
    assert twin.head() == b and full_state(twin) == state


def test_a_code_taken_since_the_parent_is_a_conflict(twin: Twin):
    a = twin.commit([gate("g1", 0, 0), gate("g2", 1, 1)], author="a", message="A", time=at(0))
    b = twin.commit([gate("g3", 5, 5, code="NORTH-1")], author="b", message="B", parent=a.id, time=at(1))
    with pytest.raises(Conflict, match="NORTH-1") as e:
        twin.commit([gate("g1", 0, 0, op="modify", code="NORTH-1")], author="c", message="C", parent=a.id, time=at(2))
    assert "g3" in str(e.value)
    # Taken already at the parent it is bad input, as it would be without a rebase.
    with pytest.raises(ValidationFailed, match="G2"):
        twin.commit([gate("g1", 0, 0, op="modify", code="G2")], author="c", message="C", parent=a.id, time=at(2))
    # A code freed since the parent may be taken.
    c = twin.commit([gate("g3", 5, 5, op="modify", code="G3")], author="b", message="free", time=at(3))
    d = twin.commit([gate("g1", 0, 0, op="modify", code="NORTH-1")], author="c", message="C", parent=a.id, time=at(4))
    assert d.parent == c.id and twin.head() == d
    assert b.parent == a.id and twin.fsck() == []


def test_rules_judge_a_rebased_commit_against_the_head_it_lands_on(make_twin):
    """A layer rule (here: at most two gates) sees the state the commit is written on, not the
    older parent the writer built on."""

    def at_most_two(t: Twin, chs, parent_seq: int, when, author) -> list[Problem]:
        n = (t.store.count("gates", parent_seq) if parent_seq else 0) + sum(c.op == "add" for c in chs)
        return [Problem("gates", None, f"{n} gates; at most 2")] if n > 2 else []

    register_rule("test-at-most-two-gates", at_most_two)
    limited = LayerSchema(**{**GATES.__dict__, "rules": ("test-at-most-two-gates",)})
    twin = make_twin("limited", schemas=[limited])
    a = twin.commit([gate("g1", 0, 0)], author="a", message="A", time=at(0))
    twin.commit([gate("g2", 1, 1)], author="b", message="B", parent=a.id, time=at(1))
    with pytest.raises(ValidationFailed, match="3 gates"):  # at `a` it would have been 2
        twin.commit([gate("g3", 2, 2)], author="c", message="C", parent=a.id, time=at(2))
    assert twin.count("gates") == 2


def test_strict_demands_the_parent_be_the_head(twin: Twin):
    a = twin.commit([gate("g1", 0, 0)], author="a", message="A", time=at(0))
    b = twin.commit([gate("g2", 1, 1)], author="b", message="B", parent=a.id, strict=True, time=at(1))
    with pytest.raises(Conflict, match="moved on"):
        twin.commit([gate("g3", 2, 2)], author="c", message="C", parent=a.id, strict=True, time=at(2))
    assert twin.head() == b
    c = twin.commit([gate("g3", 2, 2)], author="c", message="C", parent=a.id, time=at(2))
    assert c.parent == b.id


# ---------------------------------------------------------------------------- tiles
def test_a_commits_tiles_are_kept_and_a_new_commit_gets_its_own(twin: Twin, monkeypatch: pytest.MonkeyPatch):
    """A committed version's tile never changes, on either store, so the twin keeps it: read again,
    it comes without asking the store; the head's tile after a commit is a new one, and the old
    commit's tile is still the old one. Inside a write (state that may still roll back), and with
    the cache set to 0 MB, every read asks the store."""
    import mapbox_vector_tile
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    t = tms.tile(X0, Y0, 15)
    asked: list[int] = []

    def count_store_calls(store: object) -> None:
        for name in ("mvt", "export_rows"):  # the native encoder (PostGIS), or the rows for the twin's own
            real = getattr(store, name)
            monkeypatch.setattr(store, name, lambda *a, real=real, **k: asked.append(1) or real(*a, **k))

    count_store_calls(twin.store)

    def ids(body: bytes) -> list[str]:
        return sorted(f["properties"]["id"] for f in mapbox_vector_tile.decode(body)["gates"]["features"])

    c1 = twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
    first = twin.tile("gates", t.z, t.x, t.y)
    assert ids(first) == ["g1"] and asked
    asked.clear()
    assert twin.tile("gates", t.z, t.x, t.y, twin.resolve(c1.id)) == first and not asked
    c2 = twin.commit([gate("g2", 0.1, 0.1)], author="a", message="m", time=at(1))
    assert ids(twin.tile("gates", t.z, t.x, t.y)) == ["g1", "g2"] and asked  # the head moved: a new tile
    asked.clear()
    assert twin.tile("gates", t.z, t.x, t.y, twin.resolve(c1.id)) == first and not asked
    with twin.store.writing():
        twin.tile("gates", t.z, t.x, t.y, twin.resolve(c2.id))
        assert asked
        asked.clear()
        twin.tile("gates", t.z, t.x, t.y, twin.resolve(c2.id))
        assert asked
    monkeypatch.setenv("VENUE_TWIN_TILE_CACHE_MB", "0")
    with Twin.open(twin.store.url) as uncached:
        count_store_calls(uncached.store)
        for _ in range(2):
            asked.clear()
            assert uncached.tile("gates", t.z, t.x, t.y, uncached.resolve(c1.id)) == first and asked


def test_the_tile_cache_keeps_at_most_its_size_dropping_the_least_recently_used():
    from twin.tiles import TileCache

    cache = TileCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # a is now the most recently used
    cache.put("c", b"90")
    cache.put("d", b"xy")  # 12 bytes: b, the least recently used, goes
    assert cache.get("b") is None and cache.get("a") == b"1234" and cache.get("d") == b"xy"
    cache.put("big", b"x" * 11)  # larger than the whole cache: not kept, nothing dropped for it
    assert cache.get("big") is None and len(cache) == 3
    assert TileCache(0).get("a") is None


def test_features_by_id_answers_in_the_order_asked(twin: Twin):
    """Whatever order the store finds them in (PostGIS: its heap's, where a modified feature's
    version moves to the end), the answer follows the ids asked, absent ones left out."""
    twin.commit([hall(f"h{i}", i, i) for i in range(1, 6)], author="a", message="halls", time=at(0))
    twin.commit([hall("h2", 2, 3, op="modify")], author="a", message="move h2", time=at(1))
    for asked in (["h5", "h2", "nope", "h1", "h4", "h3"], ["h1", "h2", "h3", "h4", "h5"], ["h3", "h1", "h3"]):
        found = twin.features_by_id("halls", asked)
        assert list(found) == [fid for fid in dict.fromkeys(asked) if fid != "nope"]
        assert all(orjson.loads(found[fid])["id"] == fid for fid in found)


def test_layer_history_is_in_commit_order_whatever_order_the_store_keeps(twin: Twin, monkeypatch: pytest.MonkeyPatch):
    """A whole layer's history (what the completion figures are made of) equals each feature's own,
    whatever order the store hands the versions over in (its contract promises none; PostGIS's
    depends on the plan, and a heap scan gave a project's reports out of order), here reversed."""
    twin.commit([hall(f"h{i}", i, i) for i in range(1, 4)], author="a", message="halls", time=at(0))
    twin.commit([hall("h1", 1, 2, op="modify")], author="a", message="move h1", time=at(1))
    twin.commit([hall("h1", 1, 3, op="modify"), delete("halls", "h2")], author="a", message="again", time=at(2))
    twin.commit([hall("h2", 5, 5)], author="a", message="h2 back", time=at(3))
    in_order = twin.store.versions_changed_between
    monkeypatch.setattr(
        twin.store, "versions_changed_between", lambda a, b, layers: reversed(list(in_order(a, b, layers)))
    )
    whole = twin.layer_history("halls")
    assert whole == {fid: twin.history("halls", fid) for fid in ("h1", "h2", "h3")}
    assert [e.op for e in whole["h2"]] == ["add", "delete", "add"]
    assert [e.commit.message for e in whole["h1"]] == ["halls", "move h1", "again"]
