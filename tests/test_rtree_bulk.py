"""Packed R-trees (twin.stores.rtree_bulk): the nodes a commit writes directly must be the tree
SQLite would have built entry by entry, in every answer it gives, and stay SQLite's to maintain."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from store_contract import SPATIAL, StoreContract, at, bbox_of, build_commit, gate, standard_history
from test_store_gpkg import connect, path_of, snapshot

from twin import Twin, TwinError
from twin.model import StoredChange
from twin.stores import rtree_bulk

AUX_TREE = "CREATE VIRTUAL TABLE {} USING rtree(id, minx, maxx, miny, maxy, +layer_id INTEGER, +from_seq INTEGER)"
HITS = "SELECT id FROM {} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? ORDER BY id"


def _boxes(rng: np.random.Generator, n: int) -> list[tuple[float, float, float, float]]:
    """Boxes of every kind a layer has: around the venue, points among them, some negative."""
    x = rng.uniform(-180, 180, n)
    y = rng.uniform(-85, 85, n)
    w = rng.exponential(0.001, n) * (rng.random(n) > 0.2)  # a fifth are points
    h = rng.exponential(0.001, n) * (w > 0)
    return [(float(x[i]), float(y[i]), float(x[i] + w[i]), float(y[i] + h[i])) for i in range(n)]


def _both(old: int, new: int, seed: int = 1) -> sqlite3.Connection:
    """Tree `a` built by INSERTs, tree `b` by INSERTs of the first `old` entries and then
    rtree_bulk.insert of the `new` others (ids shuffled, with gaps)."""
    rng = np.random.default_rng(seed)
    c = sqlite3.connect(":memory:")
    c.execute(AUX_TREE.format("a"))
    c.execute(AUX_TREE.format("b"))
    boxes = _boxes(rng, old + new)
    ids = rng.permutation(np.arange(1, 3 * (old + new)))[: old + new].tolist()
    aux = [(int(i % 5), int(i % 11)) for i in range(old + new)]
    rows = [(ids[i], b[0], b[2], b[1], b[3], *aux[i]) for i, b in enumerate(boxes)]
    c.executemany("INSERT INTO a VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    c.executemany("INSERT INTO b VALUES (?, ?, ?, ?, ?, ?, ?)", rows[:old])
    rtree_bulk.insert(c, "b", ids[old:], boxes[old:], aux[old:])
    return c


def _agree(c: sqlite3.Connection, queries: int = 100, seed: int = 2) -> None:
    assert c.execute("SELECT rtreecheck('b')").fetchone()[0] == "ok"
    assert c.execute("SELECT * FROM b ORDER BY id").fetchall() == c.execute("SELECT * FROM a ORDER BY id").fetchall()
    rng = np.random.default_rng(seed)
    for _ in range(queries):
        x, y = rng.uniform(-180, 170), rng.uniform(-85, 75)
        w, h = rng.exponential(5), rng.exponential(5)
        q = (x, x + w, y, y + h)
        assert c.execute(HITS.format("b"), q).fetchall() == c.execute(HITS.format("a"), q).fetchall()


# 51 entries fill a node of SQLite's default size: one leaf, one more (two levels), 51² + 1 (three).
@pytest.mark.parametrize("old,new", [(0, 51), (0, 52), (0, 2_602), (0, 20_000), (1_500, 2_500), (3_000, 3_000)])
def test_a_packed_tree_holds_and_finds_what_inserts_would(old: int, new: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 1)
    c = _both(old, new)
    # packed, not grown by splits: every leaf full but the last of each slice, fewer nodes in all
    leaves = c.execute("SELECT count(DISTINCT nodeno) FROM b_rowid").fetchone()[0]
    assert leaves <= -(-(old + new) // 51) + int(np.sqrt(-(-(old + new) // 51))) + 1
    nodes = {t: c.execute(f"SELECT count(*) FROM {t}_node").fetchone()[0] for t in "ab"}
    assert nodes["b"] <= nodes["a"]
    _agree(c)


def test_a_packed_tree_takes_inserts_and_deletes_afterwards(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 1)
    c = _both(0, 5_000)
    gone = [r[0] for r in c.execute("SELECT id FROM a ORDER BY id LIMIT 2000")]
    for t in "ab":
        c.executemany(f"DELETE FROM {t} WHERE id = ?", [(i,) for i in gone])
        c.executemany(
            f"INSERT INTO {t} VALUES (?, ?, ?, ?, ?, 1, 1)",
            [(10**9 + i, i / 100, i / 100 + 0.5, -i / 200, -i / 200 + 0.1) for i in range(3_000)],
        )
    _agree(c)


def test_a_small_commit_into_a_big_tree_is_inserted_not_repacked():
    """A big twin's small commits must not repack its whole index: they go through SQLite."""
    c = _both(4_000, 0)
    node_rows_before = c.execute("SELECT nodeno, data FROM b_node ORDER BY nodeno").fetchall()
    rtree_bulk.insert(c, "b", [10**9], [(1.0, 2.0, 3.0, 4.0)], [(1, 1)])
    c.execute("INSERT INTO a VALUES (?, 1.0, 3.0, 2.0, 4.0, 1, 1)", (10**9,))
    _agree(c)
    after = dict(c.execute("SELECT nodeno, data FROM b_node").fetchall())
    # an INSERT rewrites the path to one leaf (and splits); a repack would rewrite nearly every node
    assert sum(after.get(n) != d for n, d in node_rows_before) < len(node_rows_before) / 10


def _root(c: sqlite3.Connection, table: str = "b") -> tuple[int, int]:
    """The tree's height and the number of entries in its root."""
    data = c.execute(f"SELECT data FROM {table}_node WHERE nodeno = 1").fetchone()[0]
    return int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")


@pytest.mark.parametrize(
    "old,new,bulk_min",
    [
        (4_000, 2_500, rtree_bulk.BULK_MIN),  # a subtree as tall as the root's children
        (3_000, 10, 1),  # one leaf, wrapped in a node of one entry to reach the children's level
        (30_000, 2_000, rtree_bulk.BULK_MIN),  # 30,000: height 3
        (8_000, 3_000, rtree_bulk.BULK_MIN),  # a subtree as tall as the tree: its top's entries join the root
    ],
)
def test_a_batch_into_a_bigger_tree_goes_in_as_a_packed_subtree_under_the_root(
    old: int, new: int, bulk_min: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", bulk_min)
    c = sqlite3.connect(":memory:")
    c.execute(AUX_TREE.format("a"))
    c.execute(AUX_TREE.format("b"))
    c.close()
    c = _both(old, 0, seed=3)
    height, children = _root(c)
    last_old_node = c.execute("SELECT max(nodeno) FROM b_node").fetchone()[0]
    rng = np.random.default_rng(4)
    boxes = _boxes(rng, new)
    ids = list(range(10**8, 10**8 + new))
    rtree_bulk.insert(c, "b", ids, boxes, [(7, 9)] * new)
    c.executemany(
        "INSERT INTO a VALUES (?, ?, ?, ?, ?, 7, 9)",
        [(i, b[0], b[2], b[1], b[3]) for i, b in zip(ids, boxes, strict=True)],
    )
    _agree(c)
    assert _root(c)[0] == height and _root(c)[1] > children  # more children of the root, no taller
    leaves = {r[0] for r in c.execute("SELECT nodeno FROM b_rowid WHERE rowid >= ?", (10**8,))}
    assert min(leaves) > last_old_node  # nodes of their own, not the old leaves
    # and SQLite maintains the grafted tree like its own
    gone = [r[0] for r in c.execute("SELECT id FROM a ORDER BY id LIMIT 1500")] + ids[: new // 2]
    for t in "ab":
        c.executemany(f"DELETE FROM {t} WHERE id = ?", [(i,) for i in gone])
        c.executemany(
            f"INSERT INTO {t} VALUES (?, ?, ?, ?, ?, 1, 1)", [(2 * 10**8 + i, i, i + 1, -i, -i + 1) for i in range(700)]
        )
    _agree(c)


def test_grafts_until_the_root_is_full_and_then_inserts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 1)
    c = _both(3_000, 0, seed=5)
    rng = np.random.default_rng(6)
    roots = []
    for batch in range(60):
        ids = list(range(10**8 + 100 * batch, 10**8 + 100 * batch + 40))
        boxes = _boxes(rng, len(ids))
        rtree_bulk.insert(c, "b", ids, boxes, [(1, batch)] * len(ids))
        c.executemany(
            "INSERT INTO a VALUES (?, ?, ?, ?, ?, 1, ?)",
            [(i, b[0], b[2], b[1], b[3], batch) for i, b in zip(ids, boxes, strict=True)],
        )
        roots.append(_root(c))
    full = [i for i, (_, n) in enumerate(roots) if n == 51]
    assert full and full[0] < len(roots) - 5  # filled by grafts, then batches went in by SQLite's inserts
    _agree(c)


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 121.4765123456789, -121.4765123456789, 31.19, 1e-40, -1e-40, 3.4e38, 1 / 3],
)
def test_coordinates_round_outward_as_sqlite_rounds_them(value: float):
    c = sqlite3.connect(":memory:")
    c.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    c.execute("INSERT INTO r VALUES (1, ?, ?, ?, ?)", (value, value, value, value))
    stored = c.execute("SELECT minx, maxx FROM r").fetchone()
    down, up = rtree_bulk.round_down(np.array([value])), rtree_bulk.round_up(np.array([value]))
    assert (float(down[0]), float(up[0])) == stored
    if abs(value) > 1e-37:  # SQLite's nudge does not move a float32 subnormal; no coordinate is one
        assert float(down[0]) <= value <= float(up[0])


def test_a_box_with_its_minimum_above_its_maximum_is_refused():
    c = sqlite3.connect(":memory:")
    c.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    boxes = [(float(i), 0.0, float(i) + 1, 1.0) for i in range(rtree_bulk.BULK_MIN)]
    boxes[7] = (5.0, 0.0, 4.0, 1.0)
    with pytest.raises(ValueError, match="minimum above its maximum"):
        rtree_bulk.insert(c, "r", list(range(1, len(boxes) + 1)), boxes)
    assert c.execute("SELECT count(*) FROM r").fetchone()[0] == 0


# ---------------------------------------------------------------------------- in a twin
@pytest.mark.parametrize("store_factory", ["gpkg"], indirect=True)
class TestGeoPackageStoreContractPackedTrees(StoreContract):
    """The store contract with every commit that may pack its R-trees packing them (the first
    commit of a layer, and each that adds at least as many boxes as a tree holds)."""

    @pytest.fixture(autouse=True)
    def _pack_from_one_entry(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(rtree_bulk, "BULK_MIN", 1)


def _trees(path: Path) -> dict[str, list[tuple]]:
    with closing(connect(path, readonly=True)) as c:
        return {
            t: c.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()
            for t in ["twin_version_rtree_node", "twin_version_rtree_rowid", "twin_version_rtree_parent"]
            + [f"rtree_{n}_geom_{part}" for n in SPATIAL for part in ("node", "rowid", "parent")]
        }


def test_a_bulk_import_packs_both_trees_and_gdal_filters_with_the_mirror_index(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
):
    standard_history(twin)
    path = path_of(twin)
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 200)
    before = twin.count("gates")
    twin.commit(
        [gate(f"p{i}", (i % 60) * 0.8 - 19, (i // 60) * 0.7 - 15, code=f"P{i}") for i in range(3_000)],
        author="a",
        message="survey of the gates",
        time=at(60),
    )
    assert twin.fsck() == []
    with closing(connect(path, readonly=True)) as c:
        versions = c.execute("SELECT count(*) FROM twin_versions WHERE minx IS NOT NULL").fetchone()[0]
        leaves = c.execute("SELECT count(DISTINCT nodeno) FROM twin_version_rtree_rowid").fetchone()[0]
    assert leaves == -(-versions // 51)  # full leaves: packed, not grown by splits
    # GDAL's spatial filter goes through rtree_gates_geom; it must find exactly what shapely finds.
    everything = pyogrio.read_dataframe(path, layer="gates")
    assert len(everything) == before + 3_000
    for x0, y0, x1, y1 in [bbox_of(-3, -2, 4.05, 2.1), bbox_of(-30, -30, 40, 40), bbox_of(25, 25, 26, 26)]:
        got = pyogrio.read_dataframe(path, layer="gates", bbox=(x0, y0, x1, y1))
        want = everything[shapely.intersects(everything.geometry.values, shapely.box(x0, y0, x1, y1))]
        assert sorted(got["feature_id"]) == sorted(want["feature_id"])


def test_a_commit_that_fails_after_packing_leaves_the_trees_as_they_were(twin: Twin, monkeypatch: pytest.MonkeyPatch):
    standard_history(twin)
    path = path_of(twin)
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 10)
    before, trees = snapshot(path), _trees(path)
    info, stored = build_commit(
        twin.store,
        [gate(f"c{i}", i % 20 - 10, i // 20 - 10, code=f"C{i}") for i in range(200)],
        parent=twin.head(),
        time=at(62),
    )
    with pytest.raises(TwinError):  # the gates are written (and their trees packed) before it fails
        twin.store.apply(info, [*stored, StoredChange("nope", "delete", "x", None)])
    assert snapshot(path) == before
    assert _trees(path) == trees
    assert twin.fsck() == []


def test_fsck_finds_a_damaged_r_tree_node(twin: Twin):
    standard_history(twin)
    path = path_of(twin)
    with closing(connect(path)) as c:
        # the root's first entry made to claim a box whose minimum x lies above its maximum
        blob = bytearray(c.execute("SELECT data FROM rtree_gates_geom_node WHERE nodeno = 1").fetchone()[0])
        blob[12:28] = np.array([0.5, 0.0, 0.0, 0.5], dtype=">f4").tobytes()
        c.execute("UPDATE rtree_gates_geom_node SET data = ? WHERE nodeno = 1", (bytes(blob),))
    problems = Twin.open(path).fsck()
    assert any(p.startswith("R-tree rtree_gates_geom:") for p in problems), problems


def test_an_entry_id_given_twice_is_refused_and_nothing_is_written():
    c = sqlite3.connect(":memory:")
    c.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    ids = list(range(rtree_bulk.BULK_MIN, 0, -1))
    ids[10] = ids[500]
    with pytest.raises(ValueError, match="given twice"):
        rtree_bulk.insert(c, "r", ids, [(0.0, 0.0, 1.0, 1.0)] * len(ids))
    assert c.execute("SELECT count(*) FROM r").fetchone()[0] == 0


def test_batches_of_an_import_graft_onto_both_trees_and_read_back_exactly(twin: Twin, monkeypatch: pytest.MonkeyPatch):
    """Like `venue-twin import --batch`: the first batch packs the trees, the later (smaller than
    the trees) go in as subtrees; GDAL's filter, the twin's bbox reads and fsck agree with shapely."""
    standard_history(twin)
    path = path_of(twin)
    monkeypatch.setattr(rtree_bulk, "BULK_MIN", 100)
    grafts: list[str] = []
    graft = rtree_bulk._graft

    def counted(c: sqlite3.Connection, table: str, *rest: object) -> bool:
        done = graft(c, table, *rest)  # type: ignore[arg-type]
        grafts.extend([table] if done else [])
        return done

    monkeypatch.setattr(rtree_bulk, "_graft", counted)
    for batch, (start, n) in enumerate([(0, 3_000), (3_000, 700), (3_700, 700)]):
        twin.commit(
            [
                gate(f"p{i}", (i * 7 % 60) * 0.8 - 19, (i * 11 % 50) * 0.7 - 15, code=f"P{i}")
                for i in range(start, start + n)
            ],
            author="a",
            message=f"batch {batch}",
            time=at(60 + batch),
        )
    assert twin.fsck() == []
    # both trees of both later batches went in as subtrees
    assert sorted(grafts) == sorted(["twin_version_rtree", "rtree_gates_geom"] * 2)
    everything = pyogrio.read_dataframe(path, layer="gates")
    for x0, y0, x1, y1 in [bbox_of(-3, -2, 4.05, 2.1), bbox_of(-19, -15, -10, -5), bbox_of(20, 10, 30, 20)]:
        want = sorted(
            everything[shapely.intersects(everything.geometry.values, shapely.box(x0, y0, x1, y1))]["feature_id"]
        )
        assert sorted(pyogrio.read_dataframe(path, layer="gates", bbox=(x0, y0, x1, y1))["feature_id"]) == want
        assert sorted(twin.features("gates", bbox=(x0, y0, x1, y1)).feature_ids) == want
