"""The embedded store's in-memory read index: every version of a layer that has a geometry, its
box in a shapely STRtree and its stored GeoJSON in a list, per process.

Why: a bbox read of about 1,000 features from the 1,000,000-feature layer costs SQLite about
0.8 ms in C (R-tree, then one look-up of a version row per candidate, in the R-tree's node order)
and another 0.5-0.65 ms to hand the rows to Python, a ceiling of about a quarter of what the
server stack delivers for a body of that size (issue 13). Held in memory the same read is an
STRtree query (0.02 ms), a few vectorised tests and a list look-up per feature: 0.36 ms in all.

What keeps it exact:
- Versions never change once written except for their end (`to_seq`, set once when a later
  commit closes them). The base is read in one read transaction at the twin's head `seq`; for a
  read at or before that seq it is exact as it stands (a version closed later is visible then).
- For a read after it, the versions written since and the ends set since (a delta, a few indexed
  look-ups) are read in one transaction and applied to the base's answer; a delta grown past a
  share of the base has the base rebuilt (beside the reads in a server, in the reading thread
  while the layer is small) and, until then, the store's own query answers.
- The box test is the same as the store's query: exact double bounds intersecting the closed box,
  then, for a version whose bounds are not inside the box, its geometry against the box (read
  from the store by rowid: a few per read), unless the geometry fills its box (_fills_box).

The index costs memory (BYTES_PER_VERSION beside the GeoJSON), so a layer is indexed only within
the budget the store is given, checked at every build; beyond it reads take the store's query.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import shapely

from twin.stores.base import BBox

log = logging.getLogger(__name__)

OPEN = np.iinfo(np.int64).max  # the end of a version no commit has closed
# Estimated private memory of one version beside its GeoJSON (measured at 1,250,000 versions: 1.2 GB
# in all with 458 MB of GeoJSON; the STRtree of two-point lines 145 B, arrays 73 B, the id's str
# and the list slots about 100 B; the rest allocator overhead).
BYTES_PER_VERSION = 600
# A layer of up to this many versions is indexed at its first bbox read, in the reading thread
# (about 5 ms per 1,000 versions); a bigger one only when the store is warmed (a server), beside
# the reads, which take the store's query meanwhile.
INLINE_MAX = 20_000
_CHUNK = 50_000
# A read whose box meets at most this many indexed versions is bounded work (about 2 ms at most):
# the API may run it on its event loop (see `quick`).
QUICK_MAX = 4_000

WkbReader = Callable[[Sequence[int]], dict[int, bytes]]
# Whether an index of this many estimated bytes may be held (the store's budget, less the others').
Admit = Callable[["LayerReadIndex", int], bool]


def _head_in(c: sqlite3.Connection) -> int:
    """The newest commit as this connection's open read transaction sees it (the store's kept head
    may be newer or older than the snapshot the index reads)."""
    return int(c.execute("SELECT coalesce(max(seq), 0) FROM twin_commits").fetchone()[0])


def _rebuild_share(n_base: int) -> int:
    """How many versions written or closed since the base make it worth building again."""
    return max(2_000, n_base // 50)


@dataclass(frozen=True)
class _Versions:
    """Versions of one layer as arrays, position by position (a base in Hilbert order, a delta in
    vid order); `to_seq` is OPEN for an open version."""

    vids: np.ndarray
    from_seq: np.ndarray
    to_seq: np.ndarray
    bounds: np.ndarray  # (n, 4): minx, miny, maxx, maxy, exact doubles
    fills: np.ndarray  # the geometry covers its whole box (see _fills_box)
    feature_ids: list[str]
    payloads: list[bytes]


@dataclass(frozen=True)
class _Base:
    seq: int  # the head when read: exact for any read at or before it
    versions: _Versions
    tree: shapely.STRtree
    rank: np.ndarray  # each version's position in feature-id order (ties never meet: one version visible at a time)


@dataclass(frozen=True)
class _Delta:
    upto: int  # the head when read: the delta is exact for reads up to it
    new: _Versions  # written after the base
    closed_vids: np.ndarray  # base versions closed after the base, sorted
    closed_at: np.ndarray


_State = tuple[_Base, "_Delta | None"]


def _covered(state: _State) -> int:
    """The newest commit a state answers for exactly: its delta's, else its base's."""
    base, delta = state
    return delta.upto if delta is not None else base.seq


def _read_versions(
    c: sqlite3.Connection, lid: int, where: str, args: tuple[int, ...], *, spatial_order: bool = False
) -> tuple[_Versions, np.ndarray]:
    """The versions of layer `lid` with a geometry matching `where`, and the boxes as two-point
    lines (the STRtree's input: their envelopes are the boxes, at half the memory of box polygons).
    Streamed in chunks, so that no list of a million row tuples is held at once.

    `spatial_order`: the versions in the order of their boxes' centres along a Hilbert curve
    (geopandas), their ids and GeoJSON read from SQLite in that order, so that the objects a box's
    read touches lie near each other in memory: measured on 1,000,000 versions, collecting a read's
    ~1,000 ids and GeoJSON took 0.49 ms when storage order had nothing to do with place, 0.20 ms
    in Hilbert order.
    """
    vids: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    bs: list[np.ndarray] = []
    fills: list[np.ndarray] = []
    cur = c.execute(
        f"SELECT vid, from_seq, coalesce(to_seq, {OPEN}), minx, miny, maxx, maxy, wkb "
        f"FROM twin_versions WHERE layer_id = ? AND minx IS NOT NULL AND {where} ORDER BY vid",
        (lid, *args),
    )
    while rows := cur.fetchmany(_CHUNK):
        cols = list(zip(*rows, strict=True))
        vids.append(np.array(cols[0], dtype=np.int64))
        fs.append(np.array(cols[1], dtype=np.int64))
        ts.append(np.array(cols[2], dtype=np.int64))
        bs.append(np.array(cols[3:7], dtype=np.float64).T)
        fills.append(_fills_box(cols[7], bs[-1]))
    if not vids:
        empty = np.empty(0, dtype=np.int64)
        return _Versions(empty, empty, empty, np.empty((0, 4)), np.empty(0, dtype=bool), [], []), np.empty(0, object)
    vid, f, t, b, fill = (np.concatenate(a) for a in (vids, fs, ts, bs, fills))
    lines = shapely.linestrings(np.stack([b[:, :2], b[:, 2:]], axis=1))
    if spatial_order:
        import geopandas

        order = np.argsort(geopandas.GeoSeries(lines).hilbert_distance().to_numpy(), kind="stable")
        vid, f, t, b, fill, lines = (a[order] for a in (vid, f, t, b, fill, lines))
    feature_ids: list[str] = []
    payloads: list[bytes] = []
    for i in range(0, len(vid), _CHUNK):
        chunk = vid[i : i + _CHUNK].tolist()
        # json_each as the outer loop gives the rows in the list's order; checked, not assumed.
        rows = c.execute(
            "SELECT v.vid, v.feature_id, v.geojson FROM json_each(?) j CROSS JOIN twin_versions v ON v.vid = j.value",
            (orjson.dumps(chunk).decode(),),
        ).fetchall()
        if [r[0] for r in rows] != chunk:
            by_vid = {r[0]: r for r in rows}
            rows = [by_vid[v] for v in chunk]
        feature_ids.extend(r[1] for r in rows)
        payloads.extend(r[2] for r in rows)
    return _Versions(vid, f, t, b, fill, feature_ids, payloads), lines


def estimated_bytes(versions: int, geojson_bytes: int) -> int:
    """What an index of this many versions holding this much GeoJSON costs (see BYTES_PER_VERSION)."""
    return versions * BYTES_PER_VERSION + geojson_bytes


def _id_order(feature_ids: list[str]) -> np.ndarray:
    """The positions of the ids in code point order (SQLite's BINARY order of UTF-8 text).

    Sorted as variable-width strings: a fixed-width 'U' array costs 4 bytes x the longest id x
    every id (one 30,000-character id among 1,000,000 versions: 120 GB), and drops trailing NULs."""
    string_dtype = getattr(np.dtypes, "StringDType", None)  # numpy >= 2; else Python str objects
    keys = np.array(feature_ids, dtype=string_dtype() if string_dtype is not None else object)
    return np.argsort(keys, kind="stable")


def _fills_box(wkbs: Sequence[bytes], bounds: np.ndarray) -> np.ndarray:
    """Which geometries cover their whole bounding box: a point, or a polygon without holes whose
    ring is the box's four corners in turn (an axis-aligned rectangle). Any box meeting such a
    geometry's bounds meets the geometry, so a read needs no test of its shape: that test (its
    geometry read back and intersected) was a third of a bbox read of rectangles.

    Written by hand: shapely.equals(g, shapely.envelope(g)) answers the same for polygons (and
    more: extra vertices along an edge), but through a full DE-9IM relate, 7 us a geometry against
    1.5 here (measured on 100,000 boxes): 9 s more to build the 1,000,000-feature index. Missing a
    rectangle only costs its shape test."""
    g = shapely.from_wkb(np.array(wkbs, dtype=object))
    kind = shapely.get_type_id(g)
    out = kind == 0  # Point
    rings = np.flatnonzero(
        (kind == 3) & (shapely.get_num_interior_rings(g) == 0) & (shapely.get_num_coordinates(g) == 5)
    )
    if len(rings):
        # A polygon without holes: its coordinates are its exterior ring's (no ring objects made).
        xy = shapely.get_coordinates(g[rings]).reshape(-1, 5, 2)[:, :4]
        b = bounds[rings][:, None, :]
        x_at = xy[:, :, 0] == b[:, :, 2]
        y_at = xy[:, :, 1] == b[:, :, 3]
        on_corner = (x_at | (xy[:, :, 0] == b[:, :, 0])) & (y_at | (xy[:, :, 1] == b[:, :, 1]))
        corner = x_at * 2 + y_at  # 0..3: which corner each vertex is
        # Each step goes to a neighbouring corner (never across the diagonal, as a bow tie does)
        # and the four vertices are the four corners.
        step = corner ^ np.roll(corner, -1, axis=1)
        out[rings] = (
            on_corner.all(axis=1)
            & ((step == 1) | (step == 2)).all(axis=1)
            & (np.sort(corner, axis=1) == np.arange(4)).all(axis=1)
        )
    return out


def _in_box(bounds: np.ndarray, bbox: BBox) -> tuple[np.ndarray, np.ndarray]:
    """Which bounds intersect the closed box, and which of those lie inside it."""
    minx, miny, maxx, maxy = bbox
    hit = (bounds[:, 0] <= maxx) & (bounds[:, 2] >= minx) & (bounds[:, 1] <= maxy) & (bounds[:, 3] >= miny)
    inside = (bounds[:, 0] >= minx) & (bounds[:, 2] <= maxx) & (bounds[:, 1] >= miny) & (bounds[:, 3] <= maxy)
    return hit, inside


class LayerReadIndex:
    """One layer's read index in one process. `matches` answers a bbox read, or None when the
    index cannot (not built yet, or too far behind the twin): the caller then runs its query."""

    def __init__(
        self,
        lid: int,
        conn: Callable[[], sqlite3.Connection],
        read_wkb: WkbReader,
        *,
        inline: bool,
        background: bool,
        estimated_bytes: int,
        admit: Admit | None = None,
    ):
        """`inline`: small enough to build in the reading thread; `background`: build beside the
        reads (a warmed store, a server); neither: never built (a one-shot command on a big layer).
        `admit`: asked at every build with what the index would then hold (the layer grows); a
        refusal drops the index for good, and the store's query answers."""
        self.lid = lid
        self._conn = conn
        self._read_wkb = read_wkb
        self._inline = inline
        self._background = background
        self.estimated_bytes = estimated_bytes
        self._admit = admit
        self.dropped = False  # over the budget: never built again
        self._lock = threading.Lock()  # one build or delta read at a time
        self._state: _State | None = None
        self._building: threading.Thread | None = None
        self._reading: sqlite3.Connection | None = None  # the connection a build is reading on
        self.failed: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ building
    def build(self) -> None:
        """Read the layer's versions at the twin's head, in one read transaction."""
        c = self._conn()
        if c.in_transaction:
            # Inside a write transaction the rows may yet be rolled back: never index them.
            return
        self._reading = c  # for close(), which interrupts the read rather than close the connection under it
        c.execute("BEGIN")
        try:
            seq = _head_in(c)
            versions, lines = _read_versions(c, self.lid, "from_seq <= ?", (seq,), spatial_order=True)
        finally:
            self._reading = None
            c.execute("COMMIT")
        size = estimated_bytes(len(versions.vids), sum(map(len, versions.payloads)))
        if self._admit is not None and not self._admit(self, size):
            with self._lock:
                self.dropped = True
                self._state = None
            return
        tree = shapely.STRtree(lines)
        del lines  # the tree keeps them
        rank = np.empty(len(versions.feature_ids), dtype=np.int64)
        rank[_id_order(versions.feature_ids)] = np.arange(len(rank))
        with self._lock:
            if self.dropped:
                return
            # A newer base replaces the state (the next read after it reads its own delta); one of
            # the same seq (two builds that raced) does not drop a delta read meanwhile.
            current = self._state
            if current is None or seq > current[0].seq or (seq == current[0].seq and current[1] is None):
                self._state = (_Base(seq, versions, tree, rank), None)

    def build_beside(self) -> threading.Thread:
        """Build in a thread of its own (once at a time); reads take the store's query meanwhile."""
        with self._lock:
            self.failed = None  # asked again (Twin.warm): try again
            if self._building is not None and self._building.is_alive():
                return self._building

            self._building = threading.Thread(target=self._build_here, name=f"read-index-{self.lid}", daemon=True)
            self._building.start()
            return self._building

    def close(self) -> None:
        """The store is closing: drop the index. A build under way in its own thread is interrupted
        (SQLite's interrupt is safe from any thread) and waited for, so that the store closes no
        connection under it: closing a connection another thread was reading on crashed the process
        (a segmentation fault in the test suite, a server shutting down during a build). It then
        fails quietly."""
        self._closed = True
        self._state = None
        building = self._building
        if building is None or building is threading.current_thread():
            return
        while building.is_alive():
            # An interrupt reaches only a statement running at that moment: asked again until the
            # build has ended (it ends at once when interrupted, or soon after its read).
            reading = self._reading
            if reading is not None:
                with contextlib.suppress(sqlite3.Error):
                    reading.interrupt()
            building.join(timeout=0.05)

    @property
    def ready(self) -> bool:
        return self._state is not None

    @property
    def building(self) -> threading.Thread | None:
        return self._building

    # ------------------------------------------------------------------ reading
    def quick(self, head: int, box_geometry: shapely.Geometry) -> bool:
        """Whether a read of this box at any version up to `head` is answered with bounded work:
        the index holds everything up to `head` (no delta to read first) and the box meets at most
        QUICK_MAX versions (an STRtree query: 0.02 ms for 1,000)."""
        state = self._state
        if state is None:
            return False
        base, delta = state
        if head > _covered(state):
            return False
        return len(base.tree.query(box_geometry)) + (len(delta.new.vids) if delta else 0) <= QUICK_MAX

    def _current(self, seq: int) -> _State | None:
        state = self._state
        if state is None:
            if self.dropped:
                return None
            building = self._building is not None and self._building.is_alive()
            if self.failed is not None or building:
                pass  # a build that failed is not tried again by every read: the query answers
            elif self._inline:
                self._build_here()
            elif self._background:
                self.build_beside()
            state = self._state
            if state is None:
                return None
        base, delta = state
        if seq <= _covered(state):
            return state
        with self._lock:
            if self._state is not state:  # another thread moved it on while this one waited
                state = self._state
                if state is None:  # dropped meanwhile (over the budget)
                    return None
                base, delta = state
                if seq <= _covered(state):
                    return state
            c = self._conn()
            if c.in_transaction:
                return None
            c.execute("BEGIN")
            try:
                upto = _head_in(c)
                new, _ = _read_versions(c, self.lid, "from_seq > ?", (base.seq,))
                closed = c.execute(
                    "SELECT vid, to_seq FROM twin_versions WHERE to_seq > ? AND from_seq <= ? AND layer_id = ? "
                    "ORDER BY vid",
                    (base.seq, base.seq, self.lid),
                ).fetchall()
            finally:
                c.execute("COMMIT")
            arr = np.array(closed, dtype=np.int64).reshape(-1, 2)
            delta = _Delta(upto, new, arr[:, 0].copy(), arr[:, 1].copy())
            self._state = state = (base, delta)
        if seq > delta.upto:
            return None
        if len(delta.new.vids) + len(delta.closed_vids) > _rebuild_share(len(base.versions.vids)):
            # Built again here only while the layer is still small (it grows: `inline` was decided
            # at its first read); else beside the reads in a server, else never (the query answers).
            if len(base.versions.vids) + len(delta.new.vids) > INLINE_MAX:
                if self._background:
                    self.build_beside()
                return None
            self._build_here()
            return self._state
        return state

    def _build_here(self) -> None:
        """Build in this thread; a failure is recorded, and the store's query answers (an index is an
        optimisation: no reader ever sees its failure)."""
        try:
            self.build()
        except Exception as e:
            self.failed = f"{type(e).__name__}: {e}"
            if not self._closed:  # a store closed under a build ends it: nothing to report
                log.warning("read index of layer %s not built: %s", self.lid, self.failed)

    def matches(self, seq: int, bbox: BBox, box_geometry: shapely.Geometry) -> tuple[list[str], list[bytes]] | None:
        """(feature ids, GeoJSON) of the versions visible at `seq` whose geometry intersects the
        closed box, ordered by feature id; None when the index cannot answer."""
        state = self._current(seq)
        if state is None:
            return None
        base, delta = state
        v = base.versions
        cand = base.tree.query(box_geometry)
        to_seq = v.to_seq[cand]
        if delta is not None and len(delta.closed_vids):
            pos = np.searchsorted(delta.closed_vids, v.vids[cand])
            pos_ok = pos < len(delta.closed_vids)
            hit = np.zeros(len(cand), dtype=bool)
            hit[pos_ok] = delta.closed_vids[pos[pos_ok]] == v.vids[cand][pos_ok]
            to_seq = np.where(hit, delta.closed_at[np.minimum(pos, len(delta.closed_vids) - 1)], to_seq)
        cand = cand[(v.from_seq[cand] <= seq) & (to_seq > seq)]
        hit, inside = _in_box(v.bounds[cand], bbox)
        cand, inside = cand[hit], inside[hit]
        picks: list[tuple[_Versions, np.ndarray, np.ndarray]] = [(v, cand, inside)]
        if delta is not None and len(delta.new.vids):
            d = delta.new
            dhit, dinside = _in_box(d.bounds, bbox)
            dvis = (d.from_seq <= seq) & (d.to_seq > seq) & dhit
            picks.append((d, np.flatnonzero(dvis), dinside[dvis]))
        # Versions whose bounds cross the box's edge: their geometry decides, unless it fills its box.
        edge_vids = [int(x) for src, rows, ins in picks for x in src.vids[rows[~ins & ~src.fills[rows]]]]
        if edge_vids:
            wkbs = self._read_wkb(edge_vids)
            geoms = shapely.from_wkb(np.array([wkbs[x] for x in edge_vids], dtype=object))
            missed = {x for x, h in zip(edge_vids, shapely.intersects(geoms, box_geometry), strict=True) if not h}
            if missed:
                gone = np.array(sorted(missed), dtype=np.int64)
                picks = [(src, rows[~np.isin(src.vids[rows], gone)], ins) for src, rows, ins in picks]
        rows = picks[0][1]
        if len(picks) == 1 or not len(picks[1][1]):
            rows = rows[np.argsort(base.rank[rows], kind="stable")].tolist()
            return [v.feature_ids[i] for i in rows], [v.payloads[i] for i in rows]
        # Versions written since the base have no rank: sort the (few) reads that meet them by id.
        both = sorted(
            [(src.feature_ids[i], src.payloads[i]) for src, rs, _ in picks for i in rs.tolist()], key=lambda p: p[0]
        )
        return [p[0] for p in both], [p[1] for p in both]
