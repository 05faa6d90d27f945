"""Review of the embedded store's in-memory read index (twin.stores.read_index): its memory budget,
and reads the store's query must agree with in cases the random histories rarely reach (ids in
any script, schema changes, deletes and re-adds across the base and its delta, commits from another
handle landing while threads read)."""

from __future__ import annotations

import random
import threading
import tracemalloc

import numpy as np
import pytest
from fastapi.testclient import TestClient
from store_contract import at, bbox_of, delete, gate, hall, pt

from api.main import create_app
from api.settings import ApiSettings
from twin import Change, CommitInfo, Feature, Twin
from twin.encoding import counts_of, encode_changes, stored_commit_id
from twin.model import StoredChange
from twin.stores import read_index
from twin.stores.gpkg import GeoPackageStore
from twin.stores.read_index import BYTES_PER_VERSION, LayerReadIndex
from twin.validation import MAX_ID_CHARS

EVERYWHERE = bbox_of(-20, -20, 30, 20)


def _store(twin: Twin) -> GeoPackageStore:
    assert isinstance(twin.store, GeoPackageStore)
    return twin.store


def _by_query(store: GeoPackageStore, layer: str, seq: int, b: tuple[float, float, float, float]) -> list[str]:
    return [r[0] for r in store._bbox_rows(store._lid(layer), seq, b, "v.geojson")]


def _held(index: LayerReadIndex) -> int:
    """What the index holds, by the store's own estimate of a version's cost (read_index.py)."""
    state = index._state
    if state is None:
        return 0
    base, delta = state
    parts = [base.versions] + ([delta.new] if delta is not None else [])
    return sum(len(v.vids) * BYTES_PER_VERSION + sum(map(len, v.payloads)) for v in parts)


def test_an_index_grown_past_the_budget_is_not_kept_nor_counted_at_its_first_size(
    make_twin, monkeypatch: pytest.MonkeyPatch
):
    """The budget was checked once, against the layer's size at its first read: a rebuild after
    the layer grew held any number of versions, and other layers were admitted against the stale
    figure."""
    twin: Twin = make_twin()
    store = _store(twin)
    store._read_index_budget = 20_000  # about 25 small halls
    twin.commit([hall(f"h{i}", i, 0) for i in range(5)], author="a", message="few", time=at(1))
    assert twin.features("halls", bbox=EVERYWHERE).number_matched == 5
    index = store._read_indexes["halls"]
    assert index is not None and index.ready
    monkeypatch.setattr(read_index, "_rebuild_share", lambda n: 5)
    many = [hall(f"k{i:03d}", (i % 30) * 0.6 - 9, (i // 30) * 0.6 - 9, 0.3) for i in range(300)]
    twin.commit(many, author="a", message="many", time=at(2))
    page = twin.features("halls", bbox=EVERYWHERE)  # the delta is past its share: rebuilt here
    assert page.feature_ids == _by_query(store, "halls", 2, EVERYWHERE) and page.number_matched == 305
    twin.commit([gate(f"g{i}", i, 1) for i in range(5)], author="a", message="gates", time=at(3))
    assert twin.features("gates", bbox=EVERYWHERE).number_matched == 5
    held = sum(_held(i) for i in store._read_indexes.values() if i is not None)
    assert held <= store._read_index_budget, f"the indexes hold about {held} bytes over a budget of 20,000"
    assert twin.features("halls", bbox=EVERYWHERE).feature_ids == _by_query(store, "halls", 3, EVERYWHERE)


def _build_peak(twin: Twin, layer: str) -> int:
    """The peak of memory allocated while the layer's read index is built (the second build: the
    first imports what it needs)."""
    store = _store(twin)
    index = store._read_index(layer, store._lid(layer))
    assert index is not None
    index.build()
    tracemalloc.start()
    try:
        index.build()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_building_an_index_costs_no_memory_in_proportion_to_the_longest_id_times_the_versions(twin: Twin):
    """The feature-id order was found by sorting a fixed-width numpy 'U' array: 4 bytes x the
    longest id x every version, whatever the other ids' lengths (one 30,000-character id among
    400 short ones: 48 MB; among a layer's 1,000,000 versions: 120 GB, and the build failed). Ids
    are at most MAX_ID_CHARS (256) long now: one such id among 12,000 of 6 characters would add
    12 MB to the build's peak; it adds next to nothing."""
    gates = [gate(f"g{i:05d}", (i % 120) * 0.08, (i // 120) * 0.08) for i in range(12_000)]
    twin.commit(gates, author="a", message="m", time=at(1))
    short = _build_peak(twin, "gates")
    long_id = "x" * MAX_ID_CHARS
    twin.commit([gate(long_id, 1.1, 1.1, code="LONG")], author="a", message="m", time=at(2))
    with_long = _build_peak(twin, "gates")
    assert with_long < short + 3_000_000, f"one long id added {(with_long - short) / 1e6:.1f} MB to the build"
    page = twin.features("gates", bbox=EVERYWHERE)
    assert page.feature_ids == _by_query(_store(twin), "gates", 2, EVERYWHERE) and page.feature_ids[-1] == long_id


def test_the_id_order_is_the_code_point_order_sqlite_gives_in_the_base_and_the_delta(twin: Twin):
    """Ids from across Unicode (astral characters, U+FFFF, letters with accents, CJK): the
    index's order and cursor agree with SQLite's BINARY order of UTF-8."""
    ids = ["b", "a", "é", "\uffff", "\U00010000", "\U0001f600", "z", "Z", "ä", "a b", "éx", "Ω", "中", "ﬁ"]
    twin.commit([gate(f, i * 0.7 - 5, 0, code=f"C{i}") for i, f in enumerate(ids)], author="a", message="m", time=at(1))
    store = _store(twin)
    assert twin.features("gates", bbox=EVERYWHERE).feature_ids == _by_query(store, "gates", 1, EVERYWHERE)
    added = ["\U00010001", "\ufffe", "\u00e0x", "y"]
    twin.commit([gate(f, 2, i * 0.7, code=f"D{i}") for i, f in enumerate(added)], author="a", message="m", time=at(2))
    want = _by_query(store, "gates", 2, EVERYWHERE)
    assert want == sorted(ids + added)
    page = twin.features("gates", bbox=EVERYWHERE)
    assert page.feature_ids == want and page.number_matched == len(want)
    for after in [*ids, *added, "", "\U0010ffff"]:
        got = twin.features("gates", bbox=EVERYWHERE, after=after, limit=3).feature_ids
        assert got == [f for f in want if f > after][:3], after
    index = store._read_indexes["gates"]
    assert index is not None and index._state is not None and index._state[1] is not None, "no delta was read"


def test_schema_changes_deletes_and_re_adds_read_at_every_version(twin: Twin):
    store = _store(twin)
    twin.commit([hall(f"h{i}", i * 2 - 10, 0, floors=i) for i in range(10)], author="a", message="m", time=at(1))
    twin.features("halls", bbox=EVERYWHERE)  # the base: commit 1
    twin.alter_layer("halls", {"rename_fields": {"floors": "levels"}}, author="a", time=at(2))
    twin.commit([delete("halls", "h3")], author="a", message="m", time=at(3))
    twin.commit([hall("h3", 0, 5, levels=9)], author="a", message="m", time=at(4))
    twin.alter_layer("halls", {"drop_fields": ["levels"]}, author="a", time=at(5))
    twin.commit([delete("halls", "h3"), delete("halls", "h4")], author="a", message="m", time=at(6))
    twin.commit([hall("h4", 1, 1, 2)], author="a", message="m", time=at(7))
    boxes = [EVERYWHERE, bbox_of(0, 5, 0, 5), bbox_of(-4, 0, -4, 1), bbox_of(1, 6, 3, 6), bbox_of(-30, -30, -20, -20)]
    for seq in range(8):
        for b in boxes:
            page = twin.features("halls", twin.at_seq(seq), bbox=b)
            rows = store._bbox_rows(store._lid("halls"), seq, b, "v.geojson")
            assert (page.feature_ids, page.features, page.number_matched) == (
                [r[0] for r in rows],
                [r[1] for r in rows],
                len(rows),
            ), (seq, b)


@pytest.mark.parametrize("warmed", [False, True], ids=["inline", "warmed"])
def test_threads_read_while_another_handle_commits_and_the_index_is_rebuilt(
    make_twin, monkeypatch: pytest.MonkeyPatch, warmed: bool
):
    twin: Twin = make_twin()
    monkeypatch.setattr(read_index, "_rebuild_share", lambda n: 7)
    twin.commit([gate(f"g{i}", i - 10, 0) for i in range(20)], author="a", message="m", time=at(0))
    if warmed:
        twin.warm(wait=True)
    other = Twin.open(_store(twin).path)  # as another process would write
    store = _store(twin)
    stop = threading.Event()
    wrong: list[object] = []

    def read(k: int) -> None:
        rng = random.Random(k)
        while not stop.is_set():
            x, y = rng.uniform(-20, 20), rng.uniform(-20, 15)
            b = bbox_of(x, y, x + rng.uniform(0, 15), y + rng.uniform(0, 10))
            ref = twin.resolve()
            if rng.random() < 0.3 and ref.seq > 1:
                ref = twin.at_seq(rng.randrange(1, ref.seq + 1))
            got = twin.features("gates", ref, bbox=b).feature_ids
            want = _by_query(store, "gates", ref.seq, b)
            if got != want:
                wrong.append((ref.seq, b, got, want))
                stop.set()

    threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        rng = np.random.default_rng(1)
        live = {f"g{i}" for i in range(20)}
        for k in range(1, 40):
            changes = []
            for fid in sorted(live):
                r = rng.random()
                if r < 0.1:
                    changes.append(delete("gates", fid))
                    live.discard(fid)
                elif r < 0.2:
                    changes.append(gate(fid, *rng.uniform(-15, 15, 2), op="modify"))
            touched = {c.feature_id for c in changes}
            for fid in (f"g{i}" for i in rng.integers(0, 60, 4)):
                if fid not in live and fid not in touched:
                    changes.append(gate(fid, *rng.uniform(-15, 15, 2)))
                    live.add(fid)
                    touched.add(fid)
            if changes:
                (other if k % 2 else twin).commit(changes, author="a", message=f"round {k}", time=at(k))
            if stop.is_set():
                break
    finally:
        stop.set()
        for t in threads:
            t.join()
        other.close()
    assert not wrong, wrong[:2]


def test_ids_that_differ_by_a_trailing_nul_keep_sqlite_order(twin: Twin):
    """Validation refuses control characters in ids, but the store takes what it is handed (a
    twin written before the rule, another writer): numpy's fixed-width 'U' strings drop trailing
    NULs, so "a" and "a\\0" tied and came in the order of their place on the map."""
    store = _store(twin)
    # Each pair's two ids at the same two places, swapped: whichever way the map order ties
    # them, one pair comes out of order.
    ids = [("a", -2), ("a\x00", 2), ("b", 2), ("b\x00", -2), ("c\x00\x00", 0), ("c\x00", 0), ("c", 0)]
    changes = [Change("gates", "add", f, Feature(f, pt(x, 1), {"code": f"C{i}"})) for i, (f, x) in enumerate(ids)]
    stored = [
        StoredChange(c.layer, c.op, c.feature_id, e) for c, e in zip(changes, encode_changes(changes), strict=True)
    ]
    cid = stored_commit_id(None, "a", "m", at(1), stored)
    store.apply(CommitInfo(cid, 1, None, "a", "m", at(1), counts_of(stored)), stored)
    want = _by_query(store, "gates", 1, EVERYWHERE)
    assert want == sorted(f for f, _ in ids)
    assert twin.features("gates", bbox=EVERYWHERE).feature_ids == want


def test_the_quick_bbox_read_reports_errors_in_the_order_the_worker_read_does(twin: Twin):
    """The API's check for a read on the event loop parsed the bbox first, so a malformed bbox on
    an unknown collection answered 400 where the same request for HTML (or with a CRS) answered
    404, and a bad bbox hid the datetime error the read reports first."""
    twin.commit([gate("g1", 1, 1)], author="a", message="m", time=at(1))
    twin.warm(wait=True)
    assert twin.quick_bbox_read("gates", EVERYWHERE)
    with TestClient(create_app(ApiSettings(store="unused", public_reads=True), twin=twin)) as api:
        for bad in ("1,2,3", "3,2,1,1", "a,b,c,d"):
            html = api.get(f"/collections/nope/items?bbox={bad}&f=html")
            got = api.get(f"/collections/nope/items?bbox={bad}")
            assert (html.status_code, got.status_code) == (404, 404), bad
        r = api.get("/collections/gates/items?bbox=1,2,3&datetime=2026-01-01/2026-02-01")
        assert r.status_code == 400 and r.json()["parameter"] == "datetime"
        b = ",".join(map(str, EVERYWHERE))
        assert api.get(f"/collections/gates/items?bbox={b}").json()["numberMatched"] == 1
