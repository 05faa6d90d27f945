"""The embedded store's in-memory read index (twin.stores.read_index): every bbox read it answers
is the one the store's own query gives, at every version, while commits land between reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry
from store_contract import SPATIAL, at, bbox_of, delete, l_shape, line, pt, square

from twin import Twin
from twin.model import Change, Feature
from twin.stores import read_index
from twin.stores.gpkg import GeoPackageStore, bbox_geometry


def _store(twin: Twin) -> GeoPackageStore:
    assert isinstance(twin.store, GeoPackageStore)
    return twin.store


def _by_query(store: GeoPackageStore, layer: str, seq: int, b: tuple[float, float, float, float]) -> list[str]:
    """The store's own SQL answer (R-tree join), which the index must reproduce."""
    return [r[0] for r in store._bbox_rows(store._lid(layer), seq, b, "v.geojson")]


class _RandomHistory:
    def __init__(self, twin: Twin, seed: int):
        self.twin = twin
        self.rng = np.random.default_rng(seed)
        self.live: dict[str, dict[str, BaseGeometry]] = {n: {} for n in SPATIAL}
        self.states: list[dict[str, dict[str, BaseGeometry]]] = [{n: {} for n in SPATIAL}]
        self.k = 0

    def geom(self, layer: str) -> BaseGeometry:
        rng = self.rng
        x, y = rng.uniform(-10, 10, 2)
        if layer == "gates":
            return pt(x, y)
        if layer == "paths":
            return line((x, y), (x + rng.uniform(-6, 6), y + rng.uniform(-6, 6)), (x + 5, y - 3))
        r = rng.random()
        if r < 0.2:
            return MultiPolygon([square(x, y, 1), square(x + rng.uniform(2, 6), y + rng.uniform(-1, 1), 1)])
        return l_shape(x, y) if r < 0.6 else square(x, y, rng.uniform(0.2, 5))

    def commit(self, adds: int = 8) -> None:
        changes: list[Change] = []
        for layer in SPATIAL:
            props: Any = (lambda f: {"name": f}) if layer == "paths" else (lambda f: {"code": f.upper()})
            for fid in list(self.live[layer]):
                r = self.rng.random()
                if r < 0.2:
                    changes.append(delete(layer, fid))
                    del self.live[layer][fid]
                elif r < 0.5:
                    g = self.geom(layer)
                    changes.append(Change(layer, "modify", fid, Feature(fid, g, props(fid))))
                    self.live[layer][fid] = g
            for i in range(adds):
                fid = f"{layer[0]}{self.k}-{i:03d}"
                g = self.geom(layer)
                changes.append(Change(layer, "add", fid, Feature(fid, g, props(fid))))
                self.live[layer][fid] = g
        self.twin.commit(changes, author="a", message=f"round {self.k}", time=at(self.k))
        self.k += 1
        self.states.append({n: dict(v) for n, v in self.live.items()})

    def boxes(self, n: int) -> list[tuple[float, float, float, float]]:
        out = [bbox_of(-30, -30, 30, 30), bbox_of(0, 0, 0, 0), bbox_of(-2, 1, -2, 6)]
        for _ in range(n):
            x, y = self.rng.uniform(-20, 15, 2)
            w, h = self.rng.uniform(0, 10, 2)
            out.append(bbox_of(x, y, x + w, y + h))
        return out


def _check_all(history: _RandomHistory, boxes: list[tuple[float, float, float, float]]) -> None:
    twin, store = history.twin, _store(history.twin)
    for seq in range(len(history.states)):
        ref = twin.resolve(f"HEAD~{len(history.states) - 1 - seq}") if seq else None
        for layer in SPATIAL:
            for b in boxes:
                want = sorted(f for f, g in history.states[seq][layer].items() if g.intersects(box(*b)))
                page = twin.features(layer, ref, bbox=b) if ref else None
                if page is not None:
                    assert page.feature_ids == want, (seq, layer, b)
                    assert [orjson.loads(f)["id"] for f in page.features] == want
                    assert page.number_matched == len(want)
                assert _by_query(store, layer, seq, b) == want, (seq, layer, b)


def test_the_index_answers_as_the_query_while_commits_land_between_reads(twin: Twin):
    history = _RandomHistory(twin, seed=11)
    store = _store(twin)
    boxes = history.boxes(10)
    history.commit()
    twin.features("halls", bbox=boxes[0])  # first bbox read: the small layer is indexed here
    index = store._read_indexes["halls"]
    assert index is not None and index.ready
    for _ in range(4):
        history.commit()  # read next through the base and a delta of what landed since
        _check_all(history, boxes)
    state = index._state
    assert state is not None and state[1] is not None and state[1].upto == history.k, "the delta was not used"


def test_a_delta_grown_past_its_share_has_the_base_rebuilt(twin: Twin, monkeypatch: pytest.MonkeyPatch):
    history = _RandomHistory(twin, seed=12)
    history.commit()
    twin.features("halls", bbox=bbox_of(-30, -30, 30, 30))
    index = _store(twin)._read_indexes["halls"]
    assert index is not None and index._state is not None
    first_base = index._state[0]
    monkeypatch.setattr(read_index, "_rebuild_share", lambda n: 5)  # any delta of more than 5 versions
    history.commit(adds=10)
    _check_all(history, history.boxes(6))
    assert index._state is not None
    base, delta = index._state
    assert base is not first_base and base.seq == history.k and delta is None


def test_a_layer_over_the_budget_is_read_by_the_query(make_twin):
    twin = make_twin()
    twin.store._read_index_budget = 1000  # a few bytes: no layer fits
    history = _RandomHistory(twin, seed=13)
    history.commit()
    history.commit()
    _check_all(history, history.boxes(6))
    assert _store(twin)._read_indexes["halls"] is None


def test_a_big_layer_is_indexed_only_when_warmed_and_then_beside_the_reads(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("twin.stores.gpkg.INLINE_MAX", 3)
    history = _RandomHistory(twin, seed=14)
    history.commit()
    store = _store(twin)
    twin.features("halls", bbox=bbox_of(-30, -30, 30, 30))
    assert store._read_indexes["halls"] is None, "a one-shot read of a big layer built the index"
    twin.warm(wait=True)
    index = store._read_indexes["halls"]
    assert index is not None and index.ready and index.failed is None
    history.commit()
    _check_all(history, history.boxes(6))


def test_no_index_is_built_from_inside_a_write_transaction(twin: Twin):
    history = _RandomHistory(twin, seed=15)
    history.commit()
    store = _store(twin)
    c = store._conn()
    c.execute("BEGIN IMMEDIATE")
    try:
        b = bbox_of(-30, -30, 30, 30)
        index = store._read_index("halls", store._lid("halls"))
        assert index is not None and not index.ready
        assert index.matches(1, b, bbox_geometry(b)) is None
    finally:
        c.execute("ROLLBACK")


def test_only_points_and_axis_aligned_rectangles_are_taken_to_fill_their_box():
    from shapely.geometry import LineString, Point, Polygon

    r = [(0, 0), (2, 0), (2, 1), (0, 1)]
    cases = {
        "rectangle": (Polygon(r), True),
        "rectangle, clockwise from another corner": (Polygon([r[2], r[1], r[0], r[3]]), True),
        "point": (Point(1, 1), True),
        "bow tie (its top and bottom middles are empty)": (Polygon([r[0], r[2], r[1], r[3]]), False),
        "triangle with a repeated vertex": (Polygon([r[0], r[1], r[2], r[2]]), False),
        "rotated square": (Polygon([(1, 0), (2, 1), (1, 2), (0, 1)]), False),
        "L shape": (l_shape(0, 0), False),
        "rectangle with a hole": (Polygon(r, [[(0.5, 0.2), (1, 0.2), (1, 0.6)]]), False),
        "line": (LineString([(0, 0), (2, 1)]), False),
        "one rectangle as a MultiPolygon": (MultiPolygon([Polygon(r)]), False),
    }
    geoms = [g for g, _ in cases.values()]
    got = read_index._fills_box([g.wkb for g in geoms], np.array([g.bounds for g in geoms]))
    assert dict(zip(cases, got.tolist(), strict=True)) == {k: want for k, (_, want) in cases.items()}


def test_a_build_that_fails_leaves_the_query_to_answer_and_is_not_retried_by_every_read(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
):
    history = _RandomHistory(twin, seed=16)
    history.commit()
    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise OSError("disk on fire")

    monkeypatch.setattr(read_index, "_read_versions", broken)
    b = bbox_of(-30, -30, 30, 30)
    for _ in range(3):
        page = twin.features("halls", bbox=b)
        assert page.feature_ids == _by_query(_store(twin), "halls", 1, b) and page.feature_ids
    index = _store(twin)._read_indexes["halls"]
    assert index is not None and not index.ready and index.failed == "OSError: disk on fire"
    assert len(calls) == 1


def test_a_store_closed_during_a_build_interrupts_it_and_waits_for_it(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the store while an index is built beside the reads (a server shutting down, a test's
    app closing) closed the connection the build was reading on, from another thread: the process
    died of a segmentation fault. The read is interrupted and the build waited for instead."""
    import sqlite3
    import threading

    history = _RandomHistory(twin, seed=17)
    history.commit()
    store = _store(twin)
    reading = threading.Event()

    def endless(c: sqlite3.Connection, *args: Any, **kwargs: Any) -> Any:
        reading.set()  # a read that ends only when interrupted
        c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n").fetchone()
        raise AssertionError("the read was not interrupted")

    monkeypatch.setattr(read_index, "_read_versions", endless)
    index = store._read_index("halls", store._lid("halls"))
    assert index is not None
    building = index.build_beside()
    assert reading.wait(timeout=60)
    store.close()
    assert not building.is_alive()  # waited for
    assert index.failed is not None and "interrupt" in index.failed
