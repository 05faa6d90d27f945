"""Bulk loading of a SQLite R-tree: pack many boxes at once instead of inserting them one by one.

Why written here: SQLite's rtree module inserts entry by entry (choose a leaf, split it when
full, widen its ancestors): ~9 µs an entry whatever the order, 1.7 s of a 100,000-polygon import
for the twin's two R-trees (the version index and the GeoPackage mirror's spatial index). It has
no bulk load, and no maintained Python library writes its nodes. GDAL packs GeoPackage R-trees
the same way in C for its own layers, but on its own connection, outside the twin's write
transaction, so it cannot serve a commit that must be atomic.

What is written is SQLite's own file format, described at the top of its rtree.c and stable like
the rest of the format: the `<name>_node` table holds nodes of a fixed size (that of the root,
node 1); a node is a 2-byte big-endian depth (the tree's height, read only from the root), a
2-byte entry count and entries of an 8-byte big-endian rowid (for a leaf) or child node number
(inside the tree) followed by float32 big-endian min/max per dimension; `<name>_rowid` maps each
rowid to its leaf node (and holds the auxiliary `+columns`), `<name>_parent` each node but the
root to its parent. Coordinates are rounded outward to float32 exactly as SQLite rounds them on
insert, so a packed tree answers exactly like one built by INSERTs (tests compare both, and run
SQLite's `rtreecheck`).

The boxes are packed by Sort-Tile-Recursive (Leutenegger et al. 1997): sort by centre x, cut into
vertical slices, sort each by centre y, fill nodes in that order; the same for each level above.
New entries at least as many as the tree's repack the whole tree; fewer (a later batch of an
import) are packed on their own and grafted under the root where it has room (`_graft`).
All writes happen in the caller's transaction, so a commit that fails leaves the tree as it was.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

import numpy as np

# Below this many new entries the INSERTs are cheap enough; above it a rebuild pays off once the
# new entries are at least as many as those already in the tree (so the rebuild at most doubles
# the work of writing the new ones, and a big twin's small commits never repack it).
BULK_MIN = 2_000
_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])  # one entry of a 2-D R-tree node: 24 bytes
# SQLite's RNDTOWARDS / RNDAWAY (rtree.c): how it nudges a double that float32 rounded inward.
_TOWARDS = 1.0 - 1.0 / 8388608.0
_AWAY = 1.0 + 1.0 / 8388608.0


def round_down(d: np.ndarray) -> np.ndarray:
    """float32 at or below each double, as SQLite's rtreeValueDown computes it."""
    d = np.asarray(d, dtype=np.float64)
    f = d.astype(np.float32)
    inward = f.astype(np.float64) > d
    if inward.any():
        f[inward] = (d[inward] * np.where(d[inward] < 0, _AWAY, _TOWARDS)).astype(np.float32)
    return f


def round_up(d: np.ndarray) -> np.ndarray:
    """float32 at or above each double, as SQLite's rtreeValueUp computes it."""
    d = np.asarray(d, dtype=np.float64)
    f = d.astype(np.float32)
    inward = f.astype(np.float64) < d
    if inward.any():
        f[inward] = (d[inward] * np.where(d[inward] < 0, _TOWARDS, _AWAY)).astype(np.float32)
    return f


def insert(
    c: sqlite3.Connection,
    table: str,
    ids: Sequence[int],
    boxes: Sequence[tuple[float, float, float, float]],
    aux: Sequence[tuple[object, ...]] | None = None,
) -> None:
    """Add entries to the 2-D R-tree `table`: `boxes` as (minx, miny, maxx, maxy), `aux` the
    values of its auxiliary columns per entry. Few entries are INSERTed; many, at least as many as
    the tree holds, rebuild the whole tree packed; many into a bigger tree go in as a packed
    subtree under its root where there is room, else by INSERTs."""
    if not ids:
        return
    if len(ids) < BULK_MIN:
        _insert_rows(c, table, ids, boxes, aux)
        return
    new_ids = np.asarray(ids, dtype=np.int64)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not (b[:, 0] <= b[:, 2]).all() or not (b[:, 1] <= b[:, 3]).all():
        raise ValueError(f"{table}: a box with its minimum above its maximum")  # SQLite's insert refuses it too
    # Columns in the R-tree's own order: minx, maxx, miny, maxy.
    new_box = np.column_stack([round_down(b[:, 0]), round_up(b[:, 2]), round_down(b[:, 1]), round_up(b[:, 3])])
    new_aux = [list(col) for col in zip(*aux, strict=True)] if aux else []
    new_ids, new_box, new_aux = _by_id(table, new_ids, new_box, new_aux)
    existing = c.execute(f'SELECT count(*) FROM "{table}_rowid"').fetchone()[0]
    if len(new_ids) < existing:
        if not _graft(c, table, new_ids, new_box, new_aux):
            _insert_rows(c, table, ids, boxes, aux)
        return
    if existing:
        # The entries already there, as stored (float32 values, which the rounding keeps).
        old = c.execute(f'SELECT * FROM "{table}"').fetchall()
        old_ids = np.fromiter((r[0] for r in old), dtype=np.int64, count=len(old))
        old_box = np.array([r[1:5] for r in old], dtype=np.float64).astype(np.float32).reshape(-1, 4)
        new_ids, new_box, new_aux = _by_id(
            table,
            np.concatenate([old_ids, new_ids]),
            np.concatenate([old_box, new_box]),
            [[r[5 + k] for r in old] + col for k, col in enumerate(new_aux)],
        )
    _write(c, table, new_ids, new_box, new_aux)


def _insert_rows(
    c: sqlite3.Connection,
    table: str,
    ids: Sequence[int],
    boxes: Sequence[tuple[float, float, float, float]],
    aux: Sequence[tuple[object, ...]] | None,
) -> None:
    """Entry by entry, through SQLite's rtree module."""
    marks = ", ?" * (len(aux[0]) if aux else 0)
    c.executemany(
        f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?{marks})',
        [
            (i, b[0], b[2], b[1], b[3], *(aux[k] if aux else ()))
            for k, (i, b) in enumerate(zip(ids, boxes, strict=True))
        ],
    )


def _by_id(
    table: str, ids: np.ndarray, box: np.ndarray, aux_columns: list[list[object]]
) -> tuple[np.ndarray, np.ndarray, list[list[object]]]:
    """The entries in id order (the rowid table's B-tree then appends), none given twice."""
    if (np.diff(ids) > 0).all():  # they usually come in order: a twin's vids and fids only grow
        return ids, box, aux_columns
    by_id = np.argsort(ids, kind="stable")
    ids, box = ids[by_id], box[by_id]
    if (np.diff(ids) == 0).any():
        raise ValueError(f"{table}: an entry id given twice")  # the rowid table's key would refuse it
    return ids, box, [[col[k] for k in by_id.tolist()] for col in aux_columns]


def _write(
    c: sqlite3.Connection, table: str, ids: np.ndarray, box: np.ndarray, aux_columns: list[list[object]]
) -> None:
    """Replace the tree's nodes with a packed tree of these entries (in id order)."""
    size = c.execute(f'SELECT length(data) FROM "{table}_node" WHERE nodeno = 1').fetchone()[0]
    levels = _pack(box, (size - 4) // _CELL.itemsize)
    nodes, parents, leaf_of = _nodes(levels, ids, 1, size, tree_root=True)  # the root is node 1 (SQLite's rule)
    c.execute(f'DELETE FROM "{table}_node"')
    c.execute(f'DELETE FROM "{table}_rowid"')
    c.execute(f'DELETE FROM "{table}_parent"')
    _store(c, table, nodes, parents, ids, leaf_of, aux_columns)


def _graft(
    c: sqlite3.Connection, table: str, ids: np.ndarray, box: np.ndarray, aux_columns: list[list[object]]
) -> bool:
    """Add the entries as a packed subtree whose top nodes become children of the root, beside its
    others, when the tree has room for them there (its root is not a leaf, has a cell free for each,
    and the subtree is no taller than the tree); False, with nothing written, when it has not. A
    batch of an import into a bigger tree then costs its own packing, not an insert per entry; the
    subtree's boxes may overlap their neighbours', which costs a query a descent, never an answer
    (measured, 1,000,000 random boxes, a box of ~1,000: 0.39 ms after two packings and eight
    grafted batches of 100,000, 0.36 ms for SQLite's own tree built by 1,000,000 inserts in ten
    times the time, 0.29 ms packed whole)."""
    root = c.execute(f'SELECT data FROM "{table}_node" WHERE nodeno = 1').fetchone()[0]
    size = len(root)
    capacity = (size - 4) // _CELL.itemsize
    height, count = int.from_bytes(root[0:2], "big"), int.from_bytes(root[2:4], "big")
    levels = _pack(box, capacity)
    if height == 0 or len(levels) > height + 1:
        return False
    while len(levels) < height + 1:  # a node of one entry on top, until the top is the root's level
        top = levels[-1][2]
        union = np.array([[top[:, 0].min(), top[:, 1].max(), top[:, 2].min(), top[:, 3].max()]], dtype=np.float32)
        levels.append((np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), union))
    # The top level stands for the root: its entries (the nodes below it) become the root's cells.
    order, _, cell_box = levels.pop()
    if count + len(order) > capacity:
        return False
    first = c.execute(f'SELECT max(nodeno) FROM "{table}_node"').fetchone()[0] + 1
    nodes, parents, leaf_of = _nodes(levels, ids, first, size, tree_root=False)
    cells = np.zeros(len(order), dtype=_CELL)
    cells["id"], cells["box"] = first + order, cell_box  # the top written level is numbered from `first`
    at = 4 + count * _CELL.itemsize
    grown = root[:2] + (count + len(order)).to_bytes(2, "big") + root[4:at] + cells.tobytes()
    c.execute(f'UPDATE "{table}_node" SET data = ? WHERE nodeno = 1', (grown + root[len(grown) :],))
    _store(c, table, nodes, [*parents, *((int(n), 1) for n in first + order)], ids, leaf_of, aux_columns)
    return True


def _nodes(
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ids: np.ndarray,
    first_number: int,
    size: int,
    tree_root: bool,
) -> tuple[list[tuple[int, bytes]], list[tuple[int, int]], np.ndarray]:
    """The node rows of packed levels (leaves first), numbered from `first_number` level by level
    from the top; the (child, parent) rows below the top level; and each entry's leaf. `tree_root`:
    the top is the tree's root, whose first two bytes say its height."""
    capacity = (size - 4) // _CELL.itemsize
    counts = [len(level[1]) for level in levels]
    first = [0] * len(levels)
    number = first_number
    for depth in range(len(levels) - 1, -1, -1):
        first[depth] = number
        number += counts[depth]
    nodes: list[tuple[int, bytes]] = []
    parents: list[tuple[int, int]] = []
    leaf_of = np.empty(len(ids), dtype=np.int64)
    for depth, (order, starts, entry_box) in enumerate(levels):
        members = np.diff(np.append(starts, len(order)))
        node_of = np.repeat(np.arange(len(starts)), members)  # node index of each entry, in order
        if depth == 0:
            entry_ids = ids[order]
            leaf_of[order] = first[0] + node_of
        else:
            entry_ids = first[depth - 1] + order  # the entries are the level below's nodes
            parents.extend(zip(entry_ids.tolist(), (first[depth] + node_of).tolist(), strict=True))
        cells = np.zeros(len(starts) * capacity, dtype=_CELL)
        slot = node_of * capacity + (np.arange(len(order)) - starts[node_of])
        cells["id"][slot] = entry_ids
        cells["box"][slot] = entry_box
        blobs = np.zeros((len(starts), size), dtype=np.uint8)
        blobs[:, 2:4] = members.astype(">u2").view(np.uint8).reshape(-1, 2)
        if tree_root and depth == len(levels) - 1:
            blobs[0, 0:2] = np.array([depth], dtype=">u2").view(np.uint8)
        blobs[:, 4 : 4 + capacity * _CELL.itemsize] = cells.view(np.uint8).reshape(len(starts), -1)
        nodes.extend(zip(range(first[depth], first[depth] + len(starts)), map(bytes, blobs), strict=True))
    return nodes, parents, leaf_of


def _store(
    c: sqlite3.Connection,
    table: str,
    nodes: list[tuple[int, bytes]],
    parents: list[tuple[int, int]],
    ids: np.ndarray,
    leaf_of: np.ndarray,
    aux_columns: list[list[object]],
) -> None:
    marks = ", ?" * len(aux_columns)
    c.executemany(f'INSERT INTO "{table}_node" VALUES (?, ?)', nodes)
    c.executemany(
        f'INSERT INTO "{table}_rowid" VALUES (?, ?{marks})',
        zip(ids.tolist(), leaf_of.tolist(), *aux_columns, strict=True),
    )
    c.executemany(f'INSERT INTO "{table}_parent" VALUES (?, ?)', parents)


def _pack(box: np.ndarray, capacity: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sort-Tile-Recursive levels, leaves first: per level, the order of its entries (indexes
    into the level below's nodes, or into `box` for the leaves), where each node starts in that
    order, and the entries' boxes in that order."""
    levels = []
    while True:
        order = _tiles(box, capacity)
        starts = np.arange(0, len(box), capacity)
        ordered = box[order]
        levels.append((order, starts, ordered))
        if len(starts) == 1:
            return levels
        # The level above holds this level's nodes, each with the union of its entries' boxes.
        box = np.column_stack(
            [
                np.minimum.reduceat(ordered[:, 0], starts),
                np.maximum.reduceat(ordered[:, 1], starts),
                np.minimum.reduceat(ordered[:, 2], starts),
                np.maximum.reduceat(ordered[:, 3], starts),
            ]
        )


def _tiles(box: np.ndarray, capacity: int) -> np.ndarray:
    """The STR order: vertical slices of whole nodes by centre x, each sorted by centre y."""
    n = len(box)
    cx = box[:, 0].astype(np.float64) + box[:, 1]
    cy = box[:, 2].astype(np.float64) + box[:, 3]
    slices = math.ceil(math.sqrt(math.ceil(n / capacity)))
    per_slice = slices * capacity  # a multiple of the capacity: no node straddles two slices
    slice_of = np.empty(n, dtype=np.int64)
    slice_of[np.argsort(cx, kind="stable")] = np.arange(n) // per_slice
    return np.lexsort((cy, slice_of))
