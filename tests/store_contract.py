"""The store contract: what every `twin.stores.base.Store` must do, store-independent.

A store's test module runs it by subclassing `StoreContract` and choosing the store through the
`store_factory` fixture (see `conftest.py`), e.g. for the GeoPackage store::

    @pytest.mark.parametrize("store_factory", ["gpkg"], indirect=True)
    class TestGeoPackageStoreContract(StoreContract):
        pass

A PostGIS store runs the same class with "postgis". The contract includes the model-based test
of random histories (`test_model_based_histories`, in `store_model.py`). The module also holds the small schema set,
area of interest and change builders the other test modules share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
import shapely
from deadlines import THREAD, join_all
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from twin import (
    BadInput,
    Change,
    CommitInfo,
    Conflict,
    Feature,
    FieldSpec,
    LayerSchema,
    NotFound,
    Twin,
    TwinError,
    ValidationFailed,
)
from twin.encoding import counts_of, encode_changes, stored_commit_id
from twin.model import StoredChange
from twin.stores.base import Store
from twin.validation import validate_changes

# ---------------------------------------------------------------------------- shared test data
# The area of interest: a box around the National Exhibition and Convention Center (lon/lat).
AOI = box(121.28, 31.17, 121.33, 31.21)
X0, Y0 = 121.30, 31.19  # the middle of the AOI; test geometries are offsets from it in milli-degrees

HALLS = LayerSchema(
    name="halls",
    title_zh="展馆",
    title_en="Halls",
    geometry_types=("Polygon", "MultiPolygon"),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("floors", "integer"),
        FieldSpec("area_m2", "number", unit="m2"),
        FieldSpec("status", "string", allowed=("planned", "built")),
        FieldSpec("opened", "date"),
        FieldSpec("accessible", "boolean"),
    ),
    code_field="code",
)
GATES = LayerSchema(
    name="gates",
    title_zh="出入口",
    title_en="Gates",
    geometry_types=("Point",),
    fields=(FieldSpec("code", "string", required=True), FieldSpec("kind", "string", allowed=("north", "south"))),
    code_field="code",
)
PATHS = LayerSchema(
    name="paths",
    title_zh="道路",
    title_en="Paths",
    geometry_types=("LineString", "MultiLineString"),
    fields=(FieldSpec("name", "string"), FieldSpec("width_m", "number")),
)
PROJECTS = LayerSchema(  # a table of records: features without geometry
    name="projects",
    title_zh="项目",
    title_en="Projects",
    geometry_types=(),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("name", "string"),
        FieldSpec("tags", "list"),
        FieldSpec("budget", "number"),
    ),
    code_field="code",
)
SCHEMAS: tuple[LayerSchema, ...] = (HALLS, GATES, PATHS, PROJECTS)
LAYERS = tuple(s.name for s in SCHEMAS)
SPATIAL = tuple(s.name for s in SCHEMAS if s.geometry_types)

T0 = datetime(2026, 10, 20, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A commit time `minutes` after T0 (explicit times keep ids and as-of reads deterministic)."""
    return T0 + timedelta(minutes=minutes)


def pt(x: float, y: float) -> Point:
    return Point(X0 + x / 1000, Y0 + y / 1000)


def square(x: float, y: float, size: float = 1.0) -> Polygon:
    return box(X0 + x / 1000, Y0 + y / 1000, X0 + (x + size) / 1000, Y0 + (y + size) / 1000)


def line(*xy: tuple[float, float]) -> LineString:
    return LineString([(X0 + x / 1000, Y0 + y / 1000) for x, y in xy])


def l_shape(x: float, y: float) -> Polygon:
    """An L of arm width 1 in a 4x4 envelope: the top-right 3x3 of the envelope is empty."""
    pts = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4)]
    return Polygon([(X0 + (x + a) / 1000, Y0 + (y + b) / 1000) for a, b in pts])


def bbox_of(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (X0 + x0 / 1000, Y0 + y0 / 1000, X0 + x1 / 1000, Y0 + y1 / 1000)


def add(layer: str, fid: str, geom: BaseGeometry, **props: Any) -> Change:
    return Change(layer, "add", fid, Feature(fid, geom, dict(props)))


def modify(layer: str, fid: str, geom: BaseGeometry, **props: Any) -> Change:
    return Change(layer, "modify", fid, Feature(fid, geom, dict(props)))


def upsert(layer: str, fid: str, geom: BaseGeometry, **props: Any) -> Change:
    return Change(layer, "upsert", fid, Feature(fid, geom, dict(props)))


def delete(layer: str, fid: str) -> Change:
    return Change(layer, "delete", fid)


def gate(fid: str, x: float, y: float, op: str = "add", **props: Any) -> Change:
    props.setdefault("code", fid.upper())
    return Change("gates", op, fid, Feature(fid, pt(x, y), props))  # type: ignore[arg-type]


def hall(fid: str, x: float, y: float, size: float = 1.0, op: str = "add", **props: Any) -> Change:
    props.setdefault("code", fid.upper())
    return Change("halls", op, fid, Feature(fid, square(x, y, size), props))  # type: ignore[arg-type]


def record(fid: str, op: str = "add", **props: Any) -> Change:
    props.setdefault("code", fid.upper())
    return Change("projects", op, fid, Feature(fid, None, props))  # type: ignore[arg-type]


def expected_feature(fid: str, geom: BaseGeometry | None, props: dict[str, Any]) -> dict[str, Any]:
    geometry = None if geom is None else orjson.loads(shapely.to_geojson(geom))
    return {"type": "Feature", "id": fid, "properties": props, "geometry": geometry}


def parsed(data: bytes) -> dict[str, Any]:
    return orjson.loads(data)


def kinds_of(entries: Sequence[Any]) -> dict[tuple[str, str], str]:
    return {(e.layer, e.feature_id): e.kind for e in entries}


def layer_state(twin: Twin, layer: str, ref: Any = None) -> dict[str, bytes]:
    page = twin.features(layer, ref)
    return dict(zip(page.feature_ids, page.features, strict=True))


def full_state(twin: Twin, ref: Any = None) -> dict[tuple[str, str], bytes]:
    out: dict[tuple[str, str], bytes] = {}
    for layer in LAYERS:
        out.update({(layer, fid): gj for fid, gj in layer_state(twin, layer, ref).items()})
    return out


class Model:
    """The expected state after every commit, kept by replaying the same changes in Python.

    `states[s]` maps (layer, feature id) to (geometry, properties) as of commit number s.
    """

    def __init__(self, twin: Twin):
        self.twin = twin
        self.states: list[dict[tuple[str, str], tuple[BaseGeometry, dict[str, Any]]]] = [{}]
        self.commits: list[CommitInfo] = []

    def commit(self, changes: Sequence[Change], minutes: float, message: str = "change") -> CommitInfo:
        info = self.twin.commit(changes, author="tester", message=message, time=at(minutes))
        state = dict(self.states[-1])
        for ch in changes:  # validation normalised the properties in place
            if ch.op == "delete":
                del state[(ch.layer, ch.feature_id)]
            else:
                assert ch.feature is not None
                state[(ch.layer, ch.feature_id)] = (ch.feature.geometry, dict(ch.feature.properties))
        self.states.append(state)
        self.commits.append(info)
        return info

    def expected(self, seq: int, layer: str) -> dict[str, dict[str, Any]]:
        return {
            fid: expected_feature(fid, g, p) for (lyr, fid), (g, p) in sorted(self.states[seq].items()) if lyr == layer
        }


def build_commit(
    store: Store,
    changes: Sequence[Change],
    *,
    parent: CommitInfo | None,
    time: datetime,
    author: str = "contract",
    message: str = "store-level commit",
    seq: int | None = None,
) -> tuple[CommitInfo, list[StoredChange]]:
    """What `Twin.commit` hands a store: validated, encoded changes and a commit row (ops add/modify/delete)."""
    problems = validate_changes(changes, store.schemas(), store.area_of_interest())
    assert not problems, problems
    stored = [
        StoredChange(c.layer, c.op, c.feature_id, enc)  # type: ignore[arg-type]
        for c, enc in zip(changes, encode_changes(changes), strict=True)
    ]
    parent_id = parent.id if parent else None
    cid = stored_commit_id(parent_id, author, message, time, stored)
    n = seq if seq is not None else (parent.seq if parent else 0) + 1
    return CommitInfo(cid, n, parent_id, author, message, time, counts_of(stored)), stored


def standard_history(twin: Twin) -> Model:
    """Five commits over three spatial layers with adds, modifies, deletes, a re-add and a put-back."""
    m = Model(twin)
    m.commit(
        [
            gate("g1", 0, 0, kind="north"),
            gate("g2", 5, 5),
            gate("g3", 10, -5, kind="south"),
            hall("h1", 2, 2, size=3, floors=1, status="planned"),
            add("paths", "p1", line((-10, -10), (10, 10)), name="axis"),
        ],
        0,
        "first survey",
    )
    m.commit(
        [
            gate("g1", 1, 1, op="modify", code="G1-NEW", kind="north"),
            delete("gates", "g2"),
            gate("g4", -10, 10),
            hall("h1", 2, 2, size=3, op="modify", floors=2, status="built"),
        ],
        10,
        "second survey",
    )
    m.commit([gate("g2", 6, 6), delete("gates", "g3"), add("halls", "h2", l_shape(-8, -8), code="H2")], 20, "re-add")
    m.commit([gate("g1", 0, 0, op="modify", kind="north"), delete("paths", "p1")], 30, "put g1 back")
    m.commit([gate("g5", 12, 12), delete("gates", "g4")], 40, "last")
    return m


# ---------------------------------------------------------------------------- the factory protocol
@dataclass
class StoreFactory:
    """How the contract gets stores: `factory()` is a new, empty, uninitialised store;
    `factory.reopen(store)` is a second, independent handle (own connections) on the same data,
    as another process would have; `factory.initialized()` is a new store holding an empty twin
    with SCHEMAS and AOI (a store may give a fast path, e.g. a copy of a template, through
    `initialized_fn`; the initialize tests always call initialize). Every store made is closed
    at teardown."""

    kind: str
    make: Callable[[], Store]
    reopen_fn: Callable[[Store], Store]
    initialized_fn: Callable[[], Store] | None = None
    made: list[Store] = field(default_factory=list)

    def __call__(self) -> Store:
        s = self.make()
        self.made.append(s)
        return s

    def initialized(self) -> Store:
        if self.initialized_fn is None:
            s = self()
            s.initialize(SCHEMAS, AOI)
            return s
        s = self.initialized_fn()
        self.made.append(s)
        return s

    def reopen(self, store: Store) -> Store:
        s = self.reopen_fn(store)
        self.made.append(s)
        return s

    def close_all(self) -> None:
        for s in self.made:
            s.close()


# ---------------------------------------------------------------------------- the contract
class StoreContract:
    """Every Store implementation must pass these (subclass with a `store_factory` choice)."""

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Store:
        return store_factory.initialized()

    @pytest.fixture
    def twin(self, store: Store) -> Twin:
        return Twin(store)

    @pytest.fixture
    def model(self, twin: Twin) -> Model:
        return standard_history(twin)

    # ------------------------------------------------------------ set-up and metadata
    def test_initialize_gives_an_empty_twin_that_describes_itself(self, store_factory: StoreFactory):
        store = store_factory()
        store.initialize(SCHEMAS, AOI)
        for s in (store, store_factory.reopen(store)):
            assert s.schemas() == {x.name: x for x in SCHEMAS}
            assert list(s.schemas()) == list(LAYERS)
            assert shapely.equals_exact(s.area_of_interest(), AOI, tolerance=0)
            assert s.head() is None
            assert s.commit_count() == 0
            assert s.log(10) == []
            for layer in LAYERS:
                assert s.count(layer, 0) == 0
                assert s.features(layer, 0).features == []
                assert s.features(layer, 0).number_matched == 0
                assert s.extent(layer, 0) is None

    def test_initialize_twice_is_refused(self, store_factory: StoreFactory):
        store = store_factory()
        store.initialize(SCHEMAS, AOI)
        with pytest.raises(Conflict):
            store.initialize(SCHEMAS, AOI)
        with pytest.raises(Conflict):
            store_factory.reopen(store).initialize(SCHEMAS, AOI)
        assert list(store.schemas()) == list(LAYERS)

    def test_a_layer_is_created_by_a_commit(self, store: Store, store_factory: StoreFactory, twin: Twin):
        twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
        kiosks = LayerSchema("kiosks", "服务台", "Kiosks", ("Point",), (FieldSpec("code"),))
        made = twin.create_layer(kiosks, author="admin", message="Kiosks", time=at(1))
        assert made.seq == 2 and made.counts == {"kiosks": {"added": 0, "modified": 0, "deleted": 0, "schema": 1}}
        assert store.schemas()["kiosks"] == kiosks
        assert store_factory.reopen(store).schemas()["kiosks"] == kiosks
        assert "kiosks" not in store.schemas_at(1) and store.schemas_at(2)["kiosks"] == kiosks
        with pytest.raises(Conflict):
            twin.create_layer(kiosks, author="admin", time=at(2))
        assert store.count("kiosks", 2) == 0
        twin.commit([add("kiosks", "k1", pt(1, 1), code="K1")], author="a", message="m", time=at(2))
        assert store.count("kiosks", 3) == 1
        assert store.count("gates", 3) == 1
        assert twin.fsck() == []

    def test_a_layer_added_through_one_handle_is_seen_by_another(self, store: Store, store_factory: StoreFactory):
        """Two handles on one twin (the API server and the CLI, say) must agree on its layers."""
        other = Twin(store_factory.reopen(store))
        assert other.count("gates") == 0  # the other handle is in use before the layer is added
        twin = Twin(store)
        twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
        kiosks = LayerSchema("kiosks", "服务台", "Kiosks", ("Point",), (FieldSpec("code"),))
        twin.create_layer(kiosks, author="admin", time=at(1))
        twin.commit([add("kiosks", "k1", pt(1, 1), code="K1")], author="a", message="m", time=at(1))
        assert other.layer("kiosks") == kiosks
        assert other.count("kiosks") == 1
        assert other.features("kiosks").feature_ids == ["k1"]
        assert other.fsck() == []

    def test_unknown_layer_is_not_found(self, store: Store, twin: Twin):
        with pytest.raises(NotFound):
            store.count("nope", 0)
        with pytest.raises(NotFound):
            twin.features("nope")

    # ------------------------------------------------------------ commits
    def test_commit_rows_round_trip(self, store: Store, twin: Twin, store_factory: StoreFactory):
        when = datetime(2026, 10, 20, 9, 30, 15, 123456, tzinfo=UTC)
        info = twin.commit(
            [gate("g1", 0, 0), gate("g2", 1, 1), hall("h1", 2, 2)],
            author="李工 <li@example.org>",
            message="初次测绘 / first survey\nsecond line",
            time=when,
        )
        assert info.counts == {
            "gates": {"added": 2, "modified": 0, "deleted": 0},
            "halls": {"added": 1, "modified": 0, "deleted": 0},
        }
        for s in (store, store_factory.reopen(store)):
            assert s.head() == info
            assert s.commit_by_seq(1) == info
            assert s.log(10) == [info]
            assert s.commit_count() == 1
            assert s.commits_by_id_prefix(info.id) == [info]
            assert s.commits_by_id_prefix(info.id[:4]) == [info]
            assert s.head().time == when  # microseconds and zone kept
        with pytest.raises(NotFound):
            store.commit_by_seq(2)

    def test_sequence_numbers_parent_chain_and_log(self, store: Store, model: Model):
        cs = model.commits
        assert [c.seq for c in cs] == [1, 2, 3, 4, 5]
        assert cs[0].parent is None
        for prev, c in zip(cs, cs[1:], strict=False):
            assert c.parent == prev.id
        assert store.head() == cs[-1]
        assert store.commit_count() == 5
        assert store.log(50) == cs[::-1]
        assert store.log(2) == [cs[4], cs[3]]
        assert store.log(2, 3) == [cs[1], cs[0]]
        assert store.log(10, 5) == []
        for c in cs:
            assert store.commit_by_seq(c.seq) == c
            assert store.commits_by_id_prefix(c.id) == [c]
        assert len({c.id for c in cs}) == 5
        unused = next(p for p in (f"{i:04x}" for i in range(65536)) if not any(c.id.startswith(p) for c in cs))
        assert store.commits_by_id_prefix(unused) == []

    def test_commit_at_time(self, store: Store, model: Model):
        cs = model.commits
        assert store.commit_at_time(at(-1)) is None
        assert store.commit_at_time(at(0)) == cs[0]  # exactly at the commit: that commit
        assert store.commit_at_time(at(5)) == cs[0]  # between two commits: the earlier
        assert store.commit_at_time(at(10) - timedelta(microseconds=1)) == cs[0]
        assert store.commit_at_time(at(10)) == cs[1]
        assert store.commit_at_time(at(25)) == cs[2]
        assert store.commit_at_time(at(10_000)) == cs[4]

    def test_commits_with_equal_times_resolve_to_the_later(self, store: Store, twin: Twin):
        twin.commit([gate("g1", 0, 0)], author="a", message="1", time=at(0))
        c2 = twin.commit([gate("g2", 0, 1)], author="a", message="2", time=at(0))
        assert store.commit_at_time(at(0)) == c2

    def test_commit_times_never_go_back_nor_into_the_future(self, store: Store, twin: Twin):
        a = twin.commit([gate("g1", 0, 0)], author="a", message="A", time=at(10))
        with pytest.raises(BadInput, match="before the head"):
            twin.commit([gate("g2", 1, 1)], author="a", message="B", time=at(9))
        future = datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(BadInput, match="in the future"):
            twin.commit([gate("g2", 1, 1)], author="a", message="B", time=future)
        assert store.head() == a and store.log(10) == [a]
        b = twin.commit([gate("g2", 1, 1)], author="a", message="B", time=at(10))  # an equal time is not going back
        assert store.head() == b and b.seq == 2

    def test_changes_in_rebuilds_each_commit(self, store: Store, model: Model):
        for c in model.commits:
            rebuilt = store.changes_in(c.seq)
            assert counts_of(rebuilt) == c.counts
            assert stored_commit_id(c.parent, c.author, c.message, c.time, rebuilt) == c.id
        ops = {(ch.layer, ch.feature_id): ch.op for ch in store.changes_in(2)}
        assert ops == {
            ("gates", "g1"): "modify",
            ("gates", "g2"): "delete",
            ("gates", "g4"): "add",
            ("halls", "h1"): "modify",
        }
        g2 = next(ch for ch in store.changes_in(3) if ch.feature_id == "g2")
        assert g2.op == "add"  # a re-add is an add
        assert g2.version is not None and g2.version.geojson == store.feature("gates", "g2", 3)

    # ------------------------------------------------------------ conflicts and atomicity
    def test_apply_with_a_stale_parent_is_a_conflict_and_writes_nothing(self, store: Store, twin: Twin):
        a = twin.commit([gate("g1", 0, 0)], author="a", message="A", time=at(0))
        b_info, b_changes = build_commit(store, [gate("g2", 1, 1)], parent=a, time=at(1))
        # a second writer built on A too, and applies after B
        c_info, c_changes = build_commit(store, [gate("g3", 2, 2)], parent=a, time=at(2), message="C")
        store.apply(b_info, b_changes)
        before = (store.head(), store.commit_count(), store.features("gates", 2))
        with pytest.raises(Conflict):
            store.apply(c_info, c_changes)
        # also with the right seq but the wrong parent, with no parent, and with a wrong seq
        with pytest.raises(Conflict):
            store.apply(build_commit(store, [gate("g3", 2, 2)], parent=a, time=at(2), seq=3)[0], c_changes)
        with pytest.raises(Conflict):
            store.apply(build_commit(store, [gate("g3", 2, 2)], parent=None, time=at(2))[0], c_changes)
        with pytest.raises(Conflict):
            store.apply(build_commit(store, [gate("g3", 2, 2)], parent=b_info, time=at(2), seq=7)[0], c_changes)
        assert (store.head(), store.commit_count(), store.features("gates", 2)) == before
        assert store.feature("gates", "g3", 2) is None
        assert store.versions_of("gates", "g3") == []

    def test_apply_is_atomic_when_a_change_fails_midway(self, store: Store, twin: Twin):
        a = twin.commit([gate("g1", 0, 0), hall("h1", 0, 0)], author="a", message="A", time=at(0))
        info, stored = build_commit(
            store, [gate("g1", 3, 3, op="modify"), gate("g2", 1, 1), delete("halls", "h1")], parent=a, time=at(1)
        )
        bogus = StoredChange("no_such_layer", "delete", "x", None)
        with pytest.raises(TwinError):
            store.apply(info, [*stored, bogus])
        assert store.head() == a
        assert store.commit_count() == 1
        assert store.count("gates", 1) == 1 and store.count("halls", 1) == 1
        assert store.feature("gates", "g2", 1) is None
        assert [r.to_seq for r in store.versions_of("gates", "g1")] == [None]
        assert [r.to_seq for r in store.versions_of("halls", "h1")] == [None]
        assert Twin(store).fsck() == []
        # and the store is still writable afterwards
        store.apply(info, stored)
        assert store.head() == info

    def test_two_writers_on_the_same_parent(self, store: Store, twin: Twin, store_factory: StoreFactory):
        a = twin.commit([gate("g1", 0, 0)], author="a", message="A", time=at(0))
        other = Twin(store_factory.reopen(store))
        assert other.head() == a
        b = twin.commit([gate("g2", 1, 1)], author="first", message="B", parent=a.id, time=at(1))
        with pytest.raises(Conflict):
            other.commit([gate("g3", 2, 2)], author="second", message="C", parent=a.id, time=at(2), strict=True)
        with pytest.raises(Conflict, match="gates/g2"):  # the same feature: refused without strict too
            other.commit([gate("g2", 2, 2, op="modify")], author="second", message="C", parent=a.id, time=at(2))
        for t in (twin, other):
            assert t.head() == b
            assert t.log() == [b, a]
            assert t.count("gates") == 2
            assert layer_state(t, "gates").keys() == {"g1", "g2"}
        # A different feature lands on top of the other writer's commit.
        c = other.commit([gate("g3", 2, 2)], author="second", message="C", parent=a.id, time=at(2))
        for t in (twin, other):
            assert t.log() == [c, b, a] and c.parent == b.id
            assert layer_state(t, "gates").keys() == {"g1", "g2", "g3"}

    def _race(self, writers: list[Twin], write: Callable[[int], Any]) -> list[Any]:
        barrier = threading.Barrier(len(writers))
        results: list[Any] = [None] * len(writers)

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = write(i)
            except TwinError as e:
                results[i] = e

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
        for th in threads:
            th.start()
        join_all(threads)
        return results

    def test_racing_strict_writers_exactly_one_wins(self, store: Store, twin: Twin, store_factory: StoreFactory):
        a = twin.commit([gate("g0", 0, 0)], author="a", message="A", time=at(0))
        writers = [Twin(store_factory.reopen(store)) for _ in range(4)]
        results = self._race(writers, lambda i: writers[i].commit(
            [gate(f"w{i}", i, 1)], author=f"w{i}", message="race", parent=a.id, time=at(1), strict=True))  # fmt: skip
        won = [r for r in results if isinstance(r, CommitInfo)]
        assert len(won) == 1, results
        assert sum(isinstance(r, Conflict) for r in results) == len(writers) - 1
        assert twin.head() == won[0]
        assert twin.count("gates") == 2
        assert twin.fsck() == []

    def test_racing_writers_of_one_feature_exactly_one_wins(
        self, store: Store, twin: Twin, store_factory: StoreFactory
    ):
        a = twin.commit([gate("g0", 0, 0)], author="a", message="A", time=at(0))
        writers = [Twin(store_factory.reopen(store)) for _ in range(4)]
        results = self._race(writers, lambda i: writers[i].commit(
            [gate("g0", i, 1, op="modify")], author=f"w{i}", message="race", parent=a.id, time=at(1)))  # fmt: skip
        won = [r for r in results if isinstance(r, CommitInfo)]
        assert len(won) == 1, results
        assert all(isinstance(r, Conflict) and "gates/g0" in str(r) for r in results if r not in won)
        assert twin.head() == won[0] and twin.fsck() == []

    def test_racing_writers_of_distinct_features_all_land(self, store: Store, twin: Twin, store_factory: StoreFactory):
        """Each writer edits its own feature again and again, every time from the head it last saw:
        no write conflicts, each is one commit, and each feature ends as its writer last left it."""
        rounds = 8
        # Commit times are the clock's (taken as each commit lands), so this history starts now.
        a = twin.commit([gate(f"g{i}", i, 0) for i in range(4)], author="a", message="A")
        writers = [Twin(store_factory.reopen(store)) for _ in range(4)]

        def write(i: int) -> int:
            seen = a.id
            for k in range(1, rounds + 1):
                seen = (
                    writers[i]
                    .commit([gate(f"g{i}", i, k, op="modify")], author=f"w{i}", message=f"{k}", parent=seen)
                    .id
                )
            return rounds

        results = self._race(writers, write)
        assert results == [rounds] * len(writers)
        assert twin.store.commit_count() == 1 + rounds * len(writers)
        for i in range(4):
            assert parsed(twin.feature("gates", f"g{i}"))["geometry"]["coordinates"] == list(pt(i, rounds).coords[0])
        assert twin.fsck() == []

    # ------------------------------------------------------------ lost races: one answer on every store
    # Two writers built on the same head and one commits first. What the other gets is decided here,
    # the same for every store (the API answers Conflict with 409, ValidationFailed with 400 and
    # NotFound with 404; an If-Match that no longer matches is its 412, before any commit):
    # - an id or a code the winner took: Conflict naming it (on the head, read again, the id or code
    #   is taken already: ValidationFailed, bad input);
    # - a modify or delete of a feature the winner changed or deleted: Conflict naming it (on the
    #   head a deleted feature is not there: nothing to modify, and the API's read of it is 404).
    # The loser writes nothing. A store's part is its write lock: a writer that waited for it reads,
    # inside, the head and the codes the winner left (not a snapshot from before the wait).
    @staticmethod
    def _lost_nothing(twin: Twin, head: CommitInfo, layer: str, fid: str) -> None:
        assert twin.head() == head and twin.store.commit_count() == head.seq
        assert twin.store.versions_of(layer, fid) == []
        assert twin.fsck() == []

    @pytest.mark.parametrize("layer", ["gates", "projects"])  # a spatial layer, and records
    def test_a_code_taken_by_the_winner_of_a_race_is_a_conflict_naming_it(
        self, store: Store, twin: Twin, store_factory: StoreFactory, layer: str
    ):
        def new(fid: str, code: str) -> Change:
            return gate(fid, 1, 1, code=code) if layer == "gates" else record(fid, code=code)

        a = twin.commit([new("x0", "X0")], author="a", message="A", time=at(0))
        other = Twin(store_factory.reopen(store))
        won = twin.commit([new("x1", "SAME")], author="first", message="B", parent=a.id, time=at(1))
        with pytest.raises(Conflict, match=f"{layer}/x2: code 'SAME' was given to feature x1 since"):
            other.commit([new("x2", "SAME")], author="second", message="C", parent=a.id, time=at(2))
        self._lost_nothing(other, won, layer, "x2")
        # Sent again on the head, the code is taken already: bad input, not a race.
        with pytest.raises(ValidationFailed, match="code 'SAME' already names feature x1"):
            other.commit([new("x2", "SAME")], author="second", message="C", parent=won.id, time=at(2))
        self._lost_nothing(other, won, layer, "x2")

    def test_an_id_taken_by_the_winner_of_a_race_is_a_conflict_naming_it(
        self, store: Store, twin: Twin, store_factory: StoreFactory
    ):
        a = twin.commit([gate("g0", 0, 0)], author="a", message="A", time=at(0))
        other = Twin(store_factory.reopen(store))
        won = twin.commit([gate("g1", 1, 1, code="MINE")], author="first", message="B", parent=a.id, time=at(1))
        with pytest.raises(Conflict, match="gates/g1 was added since"):
            other.commit([gate("g1", 2, 2, code="THEIRS")], author="second", message="C", parent=a.id, time=at(2))
        assert parsed(other.feature("gates", "g1"))["properties"]["code"] == "MINE"
        assert other.head() == won and other.id_by_value("gates", "code", "THEIRS") is None
        with pytest.raises(ValidationFailed, match="exists already"):
            other.commit([gate("g1", 2, 2, code="THEIRS")], author="second", message="C", parent=won.id, time=at(2))
        assert other.head() == won and other.fsck() == []

    def test_an_edit_that_lost_to_a_delete_is_a_conflict_and_then_not_found(
        self, store: Store, twin: Twin, store_factory: StoreFactory
    ):
        """PUT or PATCH (a modify) and DELETE of one feature from the same head: whichever commits
        second gets a Conflict naming the feature; read again, a deleted feature is not found."""
        a = twin.commit([gate("g1", 0, 0), gate("g2", 1, 1)], author="a", message="A", time=at(0))
        other = Twin(store_factory.reopen(store))
        gone = twin.commit([delete("gates", "g1")], author="first", message="delete", parent=a.id, time=at(1))
        for loser in (gate("g1", 5, 5, op="modify"), delete("gates", "g1")):
            with pytest.raises(Conflict, match="gates/g1 was deleted since"):
                other.commit([loser], author="second", message="late", parent=a.id, time=at(2))
            assert other.head() == gone and other.store.commit_count() == 2
        assert [r.to_seq for r in other.store.versions_of("gates", "g1")] == [2]
        with pytest.raises(NotFound):
            other.feature("gates", "g1")
        with pytest.raises(ValidationFailed, match="no such feature to modify"):
            other.commit([gate("g1", 5, 5, op="modify")], author="second", message="late", time=at(2))
        # The other way round: the edit wins, and the delete built on the old head loses.
        edit = [gate("g2", 6, 6, op="modify")]
        edited = twin.commit(edit, author="first", message="edit", parent=gone.id, time=at(3))
        with pytest.raises(Conflict, match="gates/g2 changed since"):
            other.commit([delete("gates", "g2")], author="second", message="delete", parent=gone.id, time=at(4))
        assert other.head() == edited and other.count("gates") == 1
        assert other.fsck() == []

    def _while_the_winner_holds_the_lock(
        self,
        store: Store,
        other: Twin,
        monkeypatch: pytest.MonkeyPatch,
        win: Callable[[], CommitInfo],
        lose: Callable[[], Any],
    ) -> tuple[CommitInfo, Any]:
        """`lose()` on `other` (its own connections, as another process has) comes to the write lock
        while the winner holds it; the winner commits `win()` there and lets go; the loser's answer.
        Made deterministic by waiting for the loser to ask for the lock: it then waits for the
        winner's commit (or, asking a moment after the winner let go, finds it landed)."""
        asked = threading.Event()
        real = other.store.writing

        def writing() -> Any:
            asked.set()
            return real()

        monkeypatch.setattr(other.store, "writing", writing)
        got: list[Any] = []

        def run() -> None:
            try:
                got.append(lose())
            except TwinError as e:
                got.append(e)

        loser = threading.Thread(target=run)
        with store.writing():
            loser.start()
            assert asked.wait(THREAD), "the loser never came to the write lock"
            won = win()
        join_all([loser])
        return won, got[0]

    def test_a_writer_that_waited_for_the_lock_loses_a_code_race_with_a_conflict(
        self, store: Store, twin: Twin, store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
    ):
        a = twin.commit([gate("g0", 0, 0)], author="a", message="A")
        other = Twin(store_factory.reopen(store))
        won, lost = self._while_the_winner_holds_the_lock(
            store, other, monkeypatch,
            lambda: twin.commit([gate("x1", 1, 1, code="SAME")], author="first", message="B", parent=a.id),
            lambda: other.commit([gate("x2", 2, 2, code="SAME")], author="second", message="C", parent=a.id),
        )  # fmt: skip
        assert isinstance(lost, Conflict) and "code 'SAME' was given to feature x1 since" in str(lost), lost
        self._lost_nothing(other, won, "gates", "x2")

    def test_a_writer_that_waited_for_the_lock_loses_to_a_delete_with_a_conflict(
        self, store: Store, twin: Twin, store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
    ):
        a = twin.commit([gate("g1", 0, 0)], author="a", message="A")
        other = Twin(store_factory.reopen(store))
        won, lost = self._while_the_winner_holds_the_lock(
            store, other, monkeypatch,
            lambda: twin.commit([delete("gates", "g1")], author="first", message="delete", parent=a.id),
            lambda: other.commit([gate("g1", 5, 5, op="modify")], author="second", message="edit", parent=a.id),
        )  # fmt: skip
        assert isinstance(lost, Conflict) and "gates/g1 was deleted since" in str(lost), lost
        assert other.head() == won and [r.to_seq for r in other.store.versions_of("gates", "g1")] == [2]
        assert other.fsck() == []

    def test_racing_creates_of_one_code_exactly_one_lands(self, store: Store, twin: Twin, store_factory: StoreFactory):
        a = twin.commit([gate("g0", 0, 0)], author="a", message="A")
        writers = [Twin(store_factory.reopen(store)) for _ in range(4)]
        results = self._race(writers, lambda i: writers[i].commit(
            [gate(f"w{i}", i, 1, code="SAME")], author=f"w{i}", message="race", parent=a.id))  # fmt: skip
        won = [r for r in results if isinstance(r, CommitInfo)]
        assert len(won) == 1, results
        winner = results.index(won[0])
        for i, r in enumerate(results):
            if i != winner:
                taken = f"gates/w{i}: code 'SAME' was given to feature w{winner} since"
                assert isinstance(r, Conflict) and taken in str(r), r
                assert twin.store.versions_of("gates", f"w{i}") == []
        assert twin.head() == won[0] and twin.count("gates") == 2 and twin.fsck() == []

    # ------------------------------------------------------------ reads at any version
    def test_reads_as_of_every_commit(self, store: Store, twin: Twin, model: Model, store_factory: StoreFactory):
        again = Twin(store_factory.reopen(store))
        for seq in range(0, 6):
            for t in (twin, again):
                for layer in LAYERS:
                    want = model.expected(seq, layer)
                    page = t.store.features(layer, seq)
                    assert page.feature_ids == list(want)
                    assert [parsed(b) for b in page.features] == list(want.values())
                    assert page.number_matched == len(want) == t.store.count(layer, seq)
                    for fid, f in want.items():
                        assert parsed(t.store.feature(layer, fid, seq)) == f
                    got = t.store.features_by_id(layer, [*want, "missing"], seq)
                    assert set(got) == set(want)
                    assert {k: parsed(v) for k, v in got.items()} == want
        assert store.feature("gates", "g3", 3) is None  # deleted at 3
        assert store.feature("gates", "g3", 2) is not None
        assert store.feature("gates", "g2", 2) is None and store.feature("gates", "g2", 3) is not None
        # the put-back version has the same bytes as the original
        assert store.feature("gates", "g1", 4) == store.feature("gates", "g1", 1)
        assert store.feature("gates", "g1", 2) != store.feature("gates", "g1", 1)

    def test_extent_and_export_rows_as_of(self, store: Store, model: Model):
        for seq in range(1, 6):
            for layer in LAYERS:
                feats = {fid: (g, p) for (lyr, fid), (g, p) in model.states[seq].items() if lyr == layer}
                ext = store.extent(layer, seq)
                if layer not in SPATIAL or not feats:
                    assert ext is None
                else:
                    want = tuple(shapely.total_bounds([g for g, _ in feats.values()]))
                    assert ext == pytest.approx(want, abs=1e-12)
                rows = list(store.export_rows(layer, seq))
                assert [r.feature_id for r in rows] == sorted(feats)
                for r in rows:
                    geom, props = feats[r.feature_id]
                    if geom is None:
                        assert r.wkb is None
                    else:
                        assert shapely.equals_exact(shapely.from_wkb(r.wkb), geom, tolerance=0)
                    assert orjson.loads(r.properties) == props
        rows = list(store.export_rows("gates", 1, bbox_of(-0.5, -0.5, 0.5, 0.5)))
        assert [r.feature_id for r in rows] == ["g1"]

    def test_bbox_means_geometry_intersects(self, store: Store, twin: Twin):
        twin.commit(
            [
                add("halls", "ell", l_shape(0, 0), code="L"),
                add("halls", "big", square(-15, -15, 30), code="BIG"),
                add("halls", "far", square(15, 15, 1), code="FAR"),
                # two parts either side of a gap: its envelope crosses a box in the gap
                add("halls", "pair", MultiPolygon([square(0, 16), square(3, 16)]), code="PAIR"),
                add("paths", "diag", line((-20, -20), (20, 20)), name="d"),
                add("paths", "corner", line((10, 0), (13, 3)), name="c"),
                gate("in", 2.5, 2.5),
                gate("edge", 2, 3),  # exactly on the bbox boundary
                gate("out", 5, 5),
            ],
            author="a",
            message="m",
            time=at(0),
        )
        q = bbox_of(2, 2, 3, 3)  # inside the L's envelope, but in its empty corner
        assert twin.features("halls", bbox=q).feature_ids == ["big"]
        assert twin.features("halls", bbox=q).number_matched == 1
        assert twin.features("halls", bbox=bbox_of(0.2, 0.2, 0.8, 0.8)).feature_ids == ["big", "ell"]
        # a bbox that only touches the L's right edge (x=4) intersects it
        assert twin.features("halls", bbox=bbox_of(4, 0.2, 5, 0.8)).feature_ids == ["big", "ell"]
        assert twin.features("gates", bbox=q).feature_ids == ["edge", "in"]
        assert twin.features("paths", bbox=q).feature_ids == ["diag"]
        # the corner line's envelope covers (11.5, 0.5) but the line does not pass through it
        assert twin.features("paths", bbox=bbox_of(11.4, 0.4, 11.6, 0.6)).feature_ids == []
        assert twin.features("paths", bbox=bbox_of(11.4, 1.4, 11.6, 1.6)).feature_ids == ["corner"]
        # a degenerate (point) bbox on a vertex of the L
        assert twin.features("halls", bbox=bbox_of(1, 1, 1, 1)).feature_ids == ["big", "ell"]
        assert twin.features("halls", bbox=bbox_of(100, 100, 101, 101)).feature_ids == []
        # the box lies in the pair's gap, its height within the pair's and its width inside it
        assert twin.features("halls", bbox=bbox_of(1.5, 15.5, 2.5, 17.5)).feature_ids == []
        assert twin.features("halls", bbox=bbox_of(0.5, 15.5, 2.5, 17.5)).feature_ids == ["pair"]
        assert twin.features("halls", bbox=bbox_of(1.5, 16.2, 2.5, 16.8)).feature_ids == []
        assert list(r.feature_id for r in store.export_rows("halls", 1, q)) == ["big"]

    def test_a_point_or_segment_sized_bbox_finds_lines_through_it(self, store: Store, twin: Twin):
        """Regression (issue 14): a zero-area bbox became a degenerate polygon that intersected
        only points, so lines through the point (at a vertex or along a segment) were missed."""
        twin.commit(
            [
                add("paths", "vertex", line((-4, 2), (0, 2), (0, 6)), name="v"),  # a vertex at (0, 2)
                add("paths", "along", line((-3, 4), (5, 4)), name="a"),  # passes through (2, 4) mid-segment
                add("paths", "diag", line((-2, -2), (1, 1), (3, 0)), name="d"),  # a vertex at (1, 1)
                add("paths", "away", line((7, 7), (9, 9)), name="w"),
                add("halls", "sq", square(0, 0, 2), code="SQ"),  # (0, 2) is its corner, (1, 2) on its edge
                gate("on", 0, 2),
            ],
            author="a",
            message="m",
            time=at(0),
        )
        cases = {
            bbox_of(0, 2, 0, 2): ({"paths": ["vertex"], "halls": ["sq"], "gates": ["on"]}),
            bbox_of(2, 4, 2, 4): ({"paths": ["along"], "halls": [], "gates": []}),
            bbox_of(1, 1, 1, 1): ({"paths": ["diag"], "halls": ["sq"], "gates": []}),
            bbox_of(1, 2, 1, 2): ({"paths": [], "halls": ["sq"], "gates": []}),
            # a segment-sized bbox: along the line "along", across "vertex", on the square's top edge
            bbox_of(-1, 4, 3, 4): ({"paths": ["along", "vertex"], "halls": [], "gates": []}),
            bbox_of(-1, 2, 0.5, 2): ({"paths": ["vertex"], "halls": ["sq"], "gates": ["on"]}),
            bbox_of(0, 5, 0, 9): ({"paths": ["vertex"], "halls": [], "gates": []}),
            bbox_of(4, 0, 4, 3): ({"paths": [], "halls": [], "gates": []}),
        }
        for b, want in cases.items():
            for layer, ids in want.items():
                page = twin.features(layer, bbox=b)
                assert (page.feature_ids, page.number_matched) == (ids, len(ids)), (b, layer)
                assert [r.feature_id for r in twin.export_rows(layer, bbox=b)] == ids, (b, layer)

    def test_bbox_reads_agree_with_brute_force_at_every_version(self, store: Store, twin: Twin):
        rng = np.random.default_rng(7)
        expected: list[dict[str, dict[str, BaseGeometry]]] = [{n: {} for n in SPATIAL}]
        live: dict[str, dict[str, BaseGeometry]] = {n: {} for n in SPATIAL}

        def random_geom(layer: str) -> BaseGeometry:
            x, y = rng.uniform(-10, 10, 2)  # everything stays inside the AOI (±20 milli-degrees)
            if layer == "gates":
                return pt(x, y)
            if layer == "paths":
                return line((x, y), (x + rng.uniform(-6, 6), y + rng.uniform(-6, 6)), (x + 5, y - 3))
            r = rng.random()
            if r < 0.2:  # two parts with a gap between them
                return MultiPolygon([square(x, y, 1), square(x + rng.uniform(2, 6), y + rng.uniform(-1, 1), 1)])
            return l_shape(x, y) if r < 0.6 else square(x, y, rng.uniform(0.2, 5))

        def props(layer: str, fid: str) -> dict[str, Any]:
            return {"name": fid} if layer == "paths" else {"code": fid.upper()}

        for k in range(5):
            changes: list[Change] = []
            for layer in SPATIAL:
                for fid in list(live[layer]):
                    r = rng.random()
                    if r < 0.25:
                        changes.append(delete(layer, fid))
                        del live[layer][fid]
                    elif r < 0.55:
                        g = random_geom(layer)
                        changes.append(Change(layer, "modify", fid, Feature(fid, g, props(layer, fid))))
                        live[layer][fid] = g
                for i in range(12):
                    fid = f"{layer[0]}{k}-{i:02d}"
                    g = random_geom(layer)
                    changes.append(Change(layer, "add", fid, Feature(fid, g, props(layer, fid))))
                    live[layer][fid] = g
            twin.commit(changes, author="a", message=f"round {k}", time=at(k))
            expected.append({n: dict(v) for n, v in live.items()})

        boxes = [bbox_of(-30, -30, 30, 30), bbox_of(-1, -1, 1, 1), bbox_of(0, 0, 0, 0)]
        for _ in range(12):
            x, y = rng.uniform(-20, 15, 2)
            w, h = rng.uniform(0, 10, 2)
            boxes.append(bbox_of(x, y, x + w, y + h))
        for seq in range(0, 6):
            ref = twin.resolve(f"HEAD~{5 - seq}")
            for layer in SPATIAL:
                for b in boxes:
                    q = box(*b)
                    want = sorted(fid for fid, g in expected[seq][layer].items() if g.intersects(q))
                    page = twin.features(layer, ref, bbox=b)
                    assert page.feature_ids == want, (seq, layer, b)
                    assert page.number_matched == len(want)
                    assert [parsed(f)["id"] for f in page.features] == want

    def test_records_without_geometry(self, store: Store, twin: Twin):
        """A layer of records (no geometry) is versioned like any other; fsck must not mind them."""
        c1 = twin.commit(
            [record("r1", name="One", tags="a, b", budget=10), record("r2", tags='["x", "y"]'), gate("g1", 0, 0)],
            author="a",
            message="m",
            time=at(0),
        )
        assert parsed(twin.feature("projects", "r1")) == {
            "type": "Feature",
            "id": "r1",
            "geometry": None,
            "properties": {"code": "R1", "name": "One", "tags": ["a", "b"], "budget": 10.0},
        }
        assert parsed(twin.feature("projects", "r2"))["properties"]["tags"] == ["x", "y"]
        c2 = twin.commit(
            [record("r1", op="modify", name="One!", tags=[]), delete("projects", "r2")],
            author="a",
            message="m",
            time=at(1),
        )
        assert twin.features("projects").feature_ids == ["r1"]
        assert twin.features("projects", twin.resolve(c1.id)).feature_ids == ["r1", "r2"]
        assert twin.count("projects") == 1 and twin.count("projects", twin.resolve(c1.id)) == 2
        assert twin.extent("projects") is None
        assert [r.wkb for r in store.export_rows("projects", 2)] == [None]
        assert [e.op for e in twin.history("projects", "r1")] == ["add", "modify"]
        assert kinds_of(twin.diff(twin.resolve(c1.id), twin.resolve(c2.id))) == {
            ("projects", "r1"): "modified",
            ("projects", "r2"): "deleted",
        }
        with pytest.raises(BadInput):
            twin.features("projects", bbox=AOI.bounds)
        r = twin.revert(c2.id, author="b")
        assert full_state(twin) == full_state(twin, twin.resolve(c1.id))
        assert stored_commit_id(r.parent, r.author, r.message, r.time, store.changes_in(r.seq)) == r.id
        assert store.check() == []
        assert twin.fsck() == []

    def test_feature_ids_sort_by_code_point_and_page(self, store: Store, twin: Twin):
        ids = [f"g-{i:02d}" for i in range(20)] + ["A", "a", "B", "_x", "Z9", "10", "9", "展馆1", "é", "😀", "ｚ"]
        changes = [
            Change("gates", "add", fid, Feature(fid, pt(i % 7, i // 7), {"code": f"C{i}"})) for i, fid in enumerate(ids)
        ]
        twin.commit(changes, author="a", message="many", time=at(0))
        want = sorted(ids)  # code point order, as Python sorts str
        full = twin.features("gates")
        assert full.feature_ids == want
        assert full.number_matched == len(ids)
        # limit/offset pages tile the whole list
        got: list[str] = []
        for off in range(0, len(ids) + 4, 4):
            page = twin.features("gates", limit=4, offset=off)
            assert page.number_matched == len(ids)
            assert len(page.features) == len(page.feature_ids) <= 4
            got += page.feature_ids
        assert got == want
        # the after cursor walks the same list
        got, cursor = [], None
        while True:
            page = twin.features("gates", limit=5, after=cursor)
            if not page.feature_ids:
                break
            got += page.feature_ids
            cursor = page.feature_ids[-1]
        assert got == want
        assert twin.features("gates", after="g-05", limit=3).feature_ids == ["g-06", "g-07", "g-08"]
        assert twin.features("gates", after="g-05", limit=2, offset=1).feature_ids == ["g-07", "g-08"]
        assert twin.features("gates", limit=0).feature_ids == []
        assert twin.features("gates", limit=0).number_matched == len(ids)
        assert twin.features("gates", offset=len(ids)).feature_ids == []
        # the same with a bbox
        b = bbox_of(-0.5, -0.5, 3.5, 1.5)  # x in 0..3, y in 0..1
        inside = sorted(fid for i, fid in enumerate(ids) if i % 7 <= 3 and i // 7 <= 1)
        assert twin.features("gates", bbox=b).feature_ids == inside
        page = twin.features("gates", bbox=b, limit=3, offset=2)
        assert page.feature_ids == inside[2:5]
        assert page.number_matched == len(inside)
        assert twin.features("gates", bbox=b, after=inside[3], limit=2).feature_ids == inside[4:6]

    def test_paging_and_bbox_arguments_are_checked(self, twin: Twin):
        """A negative limit or offset is refused, not read differently with and without a bbox
        (sliced from the end with one, unlimited in SQL without)."""
        twin.commit([gate("g1", 0, 0), gate("g2", 1, 1), gate("g3", 2, 2)], author="a", message="m", time=at(0))
        whole = AOI.bounds
        for kw in ({"limit": -1}, {"offset": -1}, {"limit": 2, "offset": -2}):
            for bbox in (None, whole):
                with pytest.raises(BadInput):
                    twin.features("gates", bbox=bbox, **kw)
        for bad in ((1.0, 2.0, 0.0, 3.0), (0.0, float("nan"), 1.0, 1.0), (0.0, 0.0, float("inf"), 1.0)):
            with pytest.raises(BadInput):
                twin.features("gates", bbox=bad)
        for limit in (None, 0, 1, 2, 5):
            for offset in (0, 1, 3):
                for after in (None, "g1"):
                    a = twin.features("gates", limit=limit, offset=offset, after=after)
                    b = twin.features("gates", bbox=whole, limit=limit, offset=offset, after=after)
                    assert (a.feature_ids, a.features, a.number_matched) == (
                        b.feature_ids,
                        b.features,
                        b.number_matched,
                    )

    def test_an_id_holding_a_nul_is_never_found(self, twin: Twin):
        """No feature can have an id holding a NUL (every write refuses one; PostgreSQL's text cannot
        hold one): a read by such an id finds nothing on every store, and a cursor holding one pages
        as code point order has it (after 'g1\\x00x' comes what comes after 'g1'), where the PostGIS
        store failed with psycopg's DataError (a 500 from the API)."""
        twin.commit([gate("g1", 0, 0), gate("g1-a", 1, 1), gate("g2", 2, 2)], author="a", message="m", time=at(0))
        with pytest.raises(ValidationFailed):
            twin.commit([gate("g1\x00x", 3, 3)], author="a", message="m", time=at(1))
        head = twin.resolve()
        for ref in (None, head):
            with pytest.raises(NotFound) as e:
                twin.feature("gates", "g1\x00x", ref)
            assert e.value.code == "no_feature"
        assert list(twin.features_by_id("gates", ["g1\x00x", "g2", "\x00"], head)) == ["g2"]
        assert twin.features_by_id("gates", ["g1\x00x"]) == {}
        with pytest.raises(NotFound):
            twin.history("gates", "g1\x00x")
        for after, want in (("g1\x00x", ["g1-a", "g2"]), ("g1-a\x00", ["g2"]), ("\x00", ["g1", "g1-a", "g2"])):
            assert twin.features("gates", after=after).feature_ids == want, after
            assert twin.features("gates", bbox=AOI.bounds, after=after, limit=1).feature_ids == want[:1], after

    def test_versions_of_and_versions_changed_between(self, store: Store, model: Model):
        rows = store.versions_of("gates", "g1")
        assert [(r.from_seq, r.to_seq, r.op) for r in rows] == [(1, 2, "add"), (2, 4, "modify"), (4, None, "modify")]
        assert rows[0].geojson == rows[2].geojson
        rows = store.versions_of("gates", "g2")
        assert [(r.from_seq, r.to_seq, r.op) for r in rows] == [(1, 2, "add"), (3, None, "add")]
        assert store.versions_of("gates", "never") == []
        between = list(store.versions_changed_between(1, 3, ["gates"]))
        keys = sorted((r.feature_id, r.from_seq, r.to_seq) for r in between)
        assert keys == [("g1", 1, 2), ("g1", 2, 4), ("g2", 1, 2), ("g2", 3, None), ("g3", 1, 3), ("g4", 2, 5)]
        assert all(r.layer == "gates" for r in between)
        both = {(r.layer, r.feature_id) for r in store.versions_changed_between(0, 5, ["halls", "paths"])}
        assert both == {("halls", "h1"), ("halls", "h2"), ("paths", "p1")}
        assert list(store.versions_changed_between(2, 2, list(LAYERS))) == []
        assert list(store.versions_changed_between(0, 5, [])) == []

    # ------------------------------------------------------------ history, diff, revert on any store
    def test_history_diff_and_revert_through_the_twin(self, twin: Twin, model: Model):
        cs = model.commits
        h = twin.history("gates", "g2")
        assert [(e.op, e.commit.id, e.ended_by) for e in h] == [
            ("add", cs[0].id, cs[1].id),
            ("delete", cs[1].id, None),
            ("add", cs[2].id, None),
        ]
        d = twin.diff(twin.resolve(cs[0].id), twin.resolve(cs[2].id))
        assert {(e.layer, e.feature_id): e.kind for e in d} == {
            ("gates", "g1"): "modified",
            ("gates", "g2"): "modified",
            ("gates", "g3"): "deleted",
            ("gates", "g4"): "added",
            ("halls", "h1"): "modified",
            ("halls", "h2"): "added",
        }
        r = twin.revert(cs[4].id, author="b", message="undo last")
        assert full_state(twin, twin.resolve(r.id)) == full_state(twin, twin.resolve(cs[3].id))
        assert twin.fsck() == []

    # ------------------------------------------------------------ concurrency and integrity
    def test_readers_never_see_a_partial_commit(self, store: Store, twin: Twin, store_factory: StoreFactory):
        valid_counts = {0}
        n = 0
        plan: list[list[Change]] = []
        for i in range(20):
            chs = [gate(f"c{i}-{k}", i, k) for k in range(6)]
            if i % 2:
                chs.append(delete("gates", f"c{i - 1}-0"))
            plan.append(chs)
            n += 6 - (i % 2)
            valid_counts.add(n)
        other = Twin(store_factory.reopen(store))
        stop = threading.Event()
        seen: list[int] = []
        errors: list[str] = []

        def read(t: Twin) -> None:
            while True:
                last = stop.is_set()  # one more read after the writer is done
                try:
                    ref = t.resolve()
                    c = t.count("gates", ref)
                    page = t.features("gates", ref)
                    if c not in valid_counts or len(page.features) != c or page.number_matched != c:
                        errors.append(f"count {c}, page {len(page.features)}, matched {page.number_matched}")
                    whole = t.features("gates", ref, bbox=AOI.bounds)
                    if len(whole.features) != c:
                        errors.append(f"bbox read {len(whole.features)} at count {c}")
                    seen.append(c)
                except Exception as e:  # noqa: BLE001 - any error in a reader is a failure
                    errors.append(repr(e))
                if last:
                    return

        readers = [threading.Thread(target=read, args=(t,)) for t in (twin, twin, other)]
        for th in readers:
            th.start()
        try:
            for i, chs in enumerate(plan):
                twin.commit(chs, author="w", message=str(i), time=at(i))
        finally:
            stop.set()
            join_all(readers)
        assert errors == []
        assert set(seen) <= valid_counts
        assert max(seen) == n
        assert twin.count("gates") == n

    def test_check_and_fsck_are_clean_after_a_history(self, store: Store, twin: Twin, model: Model):
        assert store.check() == []
        assert twin.fsck() == []

    # ------------------------------------------------------------ server state: tokens
    def test_tokens_are_stored_looked_up_and_revoked(self, store: Store, store_factory: StoreFactory):
        a = store.token_add("li.wei", "editor", "a" * 64, "2026-10-01T00:00:00+00:00")
        b = store.token_add("li.wei", "viewer", "b" * 64, "2026-10-02T00:00:00+00:00")
        c = store.token_add("chen.admin", "admin", "c" * 64, "2026-10-03T00:00:00+00:00")
        assert a < b < c
        other = store_factory.reopen(store)  # another process sees them at once
        assert other.token_lookup("a" * 64) == ("li.wei", "editor")
        assert other.token_lookup("d" * 64) is None
        with pytest.raises(TwinError):  # a hash names one token
            store.token_add("someone", "viewer", "a" * 64, "2026-10-04T00:00:00+00:00")
        assert store.token_revoke("li.wei", "2026-10-05T00:00:00+00:00") == 2
        assert store.token_revoke("li.wei", "2026-10-06T00:00:00+00:00") == 0  # none live
        assert other.token_lookup("a" * 64) is None and other.token_lookup("b" * 64) is None
        assert store.token_revoke(str(c), "2026-10-07T00:00:00+00:00") == 1
        assert other.token_rows() == [
            (a, "li.wei", "editor", "2026-10-01T00:00:00+00:00", "2026-10-05T00:00:00+00:00"),
            (b, "li.wei", "viewer", "2026-10-02T00:00:00+00:00", "2026-10-05T00:00:00+00:00"),
            (c, "chen.admin", "admin", "2026-10-03T00:00:00+00:00", "2026-10-07T00:00:00+00:00"),
        ]
        assert store.commit_count() == 0  # server state, not history

    def test_twin_tokens_hash_secrets_and_fsck_ignores_them(self, twin: Twin, model: Model):
        token = twin.tokens.create("li.wei", "editor")
        assert twin.tokens.verify(token) == ("li.wei", "editor")
        assert twin.tokens.verify(token + "x") is None
        assert all(token not in str(row) for row in twin.store.token_rows())
        with pytest.raises(BadInput):
            twin.tokens.create("x", "superuser")
        with pytest.raises(NotFound):
            twin.tokens.revoke("nobody")
        assert twin.fsck() == []

    # ------------------------------------------------------------ random histories against a model
    def test_model_based_histories(self, store_factory: StoreFactory):
        """Random histories, every read checked against a naive model (tests/store_model.py);
        a short deterministic budget here, a long one with `make fuzz`."""
        from store_model import run_model_test

        run_model_test(store_factory)
