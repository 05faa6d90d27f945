"""The model-based test of the store contract: random histories checked against a naive model.

Hypothesis' stateful testing (`RuleBasedStateMachine`) drives a `Twin` on a fresh store with
random commits (points, multipoints, lines, polygons with holes, multipolygons; grid-snapped,
tiny, AOI-sized and edge-touching features; adds, re-adds of deleted ids, upserts, no-op modifies,
deletes, commits touching several layers), reverts and refused inputs, and compares every read the
`Twin` facade offers with a plain Python model of the same history: pages (offset and cursor),
bbox reads (point-, segment-, feature-sized and one-float-step-outside boxes), single reads,
counts, extents, exports, diffs both ways, histories, resolve, fsck and the determinism of commit
ids (the history replayed on a second store gives the same ids).

It runs on every store through `StoreContract.test_model_based_histories`. Budgets are Hypothesis
settings profiles: "ci" (the default: a few seconds, derandomised, so CI is deterministic) and
"fuzz" (VENUE_TWIN_FUZZ=1, as `make fuzz` sets; VENUE_TWIN_FUZZ_EXAMPLES histories of
VENUE_TWIN_FUZZ_STEPS steps). On a failure Hypothesis shrinks the history and prints the steps
that reproduce it; `note()` adds the changes each commit step really made.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import shapely
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from twin import BadInput, Change, Feature, FieldSpec, LayerSchema, NotFound, Twin, ValidationFailed
from twin.errors import Conflict

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("VENUE_TWIN_MODEL_EXAMPLES", "8")),
    stateful_step_count=int(os.environ.get("VENUE_TWIN_MODEL_STEPS", "25")),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("VENUE_TWIN_FUZZ_EXAMPLES", "60")),
    stateful_step_count=int(os.environ.get("VENUE_TWIN_FUZZ_STEPS", "60")),
    derandomize=False,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
FUZZ = os.environ.get("VENUE_TWIN_FUZZ", "") not in ("", "0")

STATS: Counter[str] = Counter()  # histories, commits, refused, reverts, checks: printed after a run

# ---------------------------------------------------------------------------- the world
# The AOI of the contract (121.28-121.33 E, 31.17-31.21 N) as a grid of 0.0005-degree steps, so
# features share vertices and edges and boxes fall exactly on them.
X_MIN, Y_MIN, X_MAX, Y_MAX = 121.28, 31.17, 121.33, 31.21
STEP = 0.0005
NX, NY = 100, 80


def gx(i: int) -> float:
    return round(X_MIN + min(max(i, 0), NX) * STEP, 6)


def gy(j: int) -> float:
    return round(Y_MIN + min(max(j, 0), NY) * STEP, 6)


def fx(f: float) -> float:
    return X_MIN + f * (X_MAX - X_MIN)


def fy(f: float) -> float:
    return Y_MIN + f * (Y_MAX - Y_MIN)


MARKS = LayerSchema(
    name="marks",
    title_zh="标记",
    title_en="Marks",
    geometry_types=("Point", "MultiPoint"),
    fields=(FieldSpec("label", "string"), FieldSpec("n", "integer")),
)
GEOMETRY_KINDS = {
    "halls": ("box", "holed", "ell", "mbox", "tiny", "huge"),
    "gates": ("pt", "fpt"),
    "paths": ("line", "mline"),
    "marks": ("pt", "mpt"),
    "projects": (None,),
}
LAYER_NAMES = tuple(GEOMETRY_KINDS)
SUFFIXES = ("0", "1", "2", "3", "4", "5", "A", "a", "B", "展馆", "é", "😀", "x y", "_", "10", "9")
PREFIX = {"halls": "h-", "gates": "g-", "paths": "p-", "marks": "m-", "projects": "r-"}
POOL = {layer: [PREFIX[layer] + s for s in SUFFIXES] for layer in LAYER_NAMES}


def make_geometry(kind: str | None, a: int, b: int, w: int, h: int, f1: float, f2: float) -> BaseGeometry | None:
    """A valid geometry inside the AOI from plain numbers (what a failing step prints)."""
    w, h = max(w, 1), max(h, 1)
    if kind is None:
        return None
    a, b = min(a, NX - 2 * w - 2), min(b, NY - 2 * h)  # room for the shape (and a second part beside it)
    if kind == "pt":
        return Point(gx(a), gy(b))
    if kind == "fpt":
        return Point(fx(f1), fy(f2))
    if kind == "mpt":
        return MultiPoint([(gx(a), gy(b)), (gx(a + w), gy(b)), (gx(a), gy(b + h))])
    if kind == "line":
        if f1 < 0.5:  # an L with a corner inside the line
            return LineString([(gx(a), gy(b)), (gx(a + w), gy(b)), (gx(a + w), gy(b + h))])
        return LineString([(gx(a), gy(b)), (gx(a), gy(b + h)), (gx(a + w), gy(b + h)), (gx(a + w), gy(b + 2 * h))])
    if kind == "mline":
        return MultiLineString([[(gx(a), gy(b)), (gx(a + w), gy(b))], [(gx(a), gy(b + h)), (gx(a), gy(b + 2 * h))]])
    x0, y0, x1, y1 = gx(a), gy(b), gx(a + w), gy(b + h)
    if kind == "box":
        return box(x0, y0, x1, y1)
    if kind == "holed":
        if w < 3 or h < 3:
            return box(x0, y0, x1, y1)
        return Polygon(
            box(x0, y0, x1, y1).exterior.coords,
            [box(gx(a + 1), gy(b + 1), gx(a + w - 1), gy(b + h - 1)).exterior.coords],
        )
    if kind == "ell":
        if w < 2 or h < 2:
            return box(x0, y0, x1, y1)
        return Polygon([(x0, y0), (x1, y0), (x1, gy(b + 1)), (gx(a + 1), gy(b + 1)), (gx(a + 1), y1), (x0, y1)])
    if kind == "mbox":
        return MultiPolygon([box(x0, y0, x1, y1), box(gx(a + w + 1), y0, gx(a + 2 * w + 1), y1)])
    if kind == "tiny":
        x, y = fx(f1 * 0.99), fy(f2 * 0.99)
        return box(x, y, x + 1e-9, y + 1e-9)
    if kind == "huge":
        return box(X_MIN, Y_MIN, X_MAX, Y_MAX)
    raise AssertionError(kind)


def _wound(geom: BaseGeometry) -> BaseGeometry:
    """A geometry as the twin stores it: polygons wound as RFC 7946 has it (exterior counter-clockwise,
    holes clockwise). The model's holed boxes are made with counter-clockwise holes."""
    return shapely.orient_polygons(geom, exterior_cw=False)


def make_properties(layer: str, fid: str, v: int, text: str) -> dict[str, Any]:
    """Properties already in their canonical types, so validation leaves them as they are.
    Codes are unique per id (no id holds ':'), as the layers' code fields require."""
    if layer == "halls":
        p: dict[str, Any] = {
            "code": f"C:{fid}:{v}",
            "floors": v,
            "area_m2": v * 1.5 + 0.25,
            "status": ("planned", "built")[v % 2],
            "opened": f"2026-10-{10 + v:02d}",
        }
        if v % 3:
            p["accessible"] = v % 3 == 1
        return p
    if layer == "gates":
        return {"code": f"C:{fid}:{text}", "kind": ("north", "south")[v % 2]}
    if layer == "paths":
        return {"name": text, "width_m": v * 0.5 + 1.0} if v % 2 else {"name": text}
    if layer == "marks":
        return {"label": text, "n": v - 2}
    return {"code": f"C:{fid}", "name": text, "tags": [text, f"t{v}"], "budget": v * 1000.5}


# ---------------------------------------------------------------------------- strategies
# Any text a property may hold: no lone surrogates, and no NUL (refused by validation).
# Text a commit takes: no surrogates, no control characters, no bidi overrides (twin.validation
# refuses them; tests/test_twin_validation.py holds that refusal).
texts = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    ),
    min_size=1,
    max_size=6,
)
geometry_args = st.tuples(
    st.integers(0, NX),
    st.integers(0, NY),
    st.integers(0, 6),
    st.integers(0, 6),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)
OPS = ("add", "modify", "upsert", "delete", "noop", "readd")
change_specs = st.tuples(
    st.sampled_from(LAYER_NAMES),
    st.sampled_from(OPS),
    st.integers(0, 15),
    st.integers(0, 5),
    geometry_args,
    st.integers(0, 4),
    texts,
)
sizes = st.one_of(st.just(0), st.integers(0, 8))  # zero often: point- and segment-sized boxes
box_specs = st.one_of(
    st.tuples(st.just("grid"), st.integers(0, NX), st.integers(0, NY), sizes, sizes),
    # a box made from a feature of any layer: its bounds, a vertex, the midpoint of a segment, its
    # top edge, or one float step beyond its right edge
    st.tuples(
        st.just("feature"),
        st.sampled_from(LAYER_NAMES[:4]),
        st.integers(0, 50),
        st.sampled_from(("bounds", "vertex", "midpoint", "outside", "edge")),
    ),
    st.tuples(st.just("aoi")),
)
ADVERSARIAL = (
    "delete-with-body",
    "unknown-op",
    "surrogate-id",
    "surrogate-prop",
    "id-mismatch",
    "int-id",
    "nfd-id",
    "nul-id",
    "space-id",
    "add-existing",
    "modify-missing",
    "delete-missing",
    "twice",
    "outside-aoi",
    "bowtie",
    "wrong-type",
    "no-feature",
)


@dataclass(frozen=True)
class Feat:
    geom: BaseGeometry | None
    props: dict[str, Any]

    @property
    def key(self) -> tuple[bytes | None, bytes]:
        wkb = None if self.geom is None else shapely.to_wkb(self.geom)
        return wkb, orjson.dumps(self.props, option=orjson.OPT_SORT_KEYS)


State = dict[tuple[str, str], Feat]


def query_geometry(b: tuple[float, float, float, float]) -> BaseGeometry:
    """The closed rectangle b, written independently of the store: a point, a segment or a box."""
    x0, y0, x1, y1 = b
    if x0 == x1 and y0 == y1:
        return Point(x0, y0)
    if x0 == x1 or y0 == y1:
        return LineString([(x0, y0), (x1, y1)])
    return box(x0, y0, x1, y1)


def _with_marks(factory: Any) -> Any:
    """A new store holding the contract's layers and MARKS from before the first commit (layers
    made later are commits of their own, which would shift every sequence number of the model)."""
    from store_contract import AOI, SCHEMAS

    store = factory.make()
    store.initialize([*SCHEMAS, MARKS], AOI)
    return store


class TwinModel(RuleBasedStateMachine):
    """One random history on a fresh store; `factory` is the store contract's StoreFactory."""

    factory: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.store = _with_marks(self.factory)
        self.twin = Twin(self.store)
        self.states: list[State] = [{}]
        self.commits: list[Any] = []  # CommitInfo per seq - 1
        self.events: dict[tuple[str, str], list[int]] = {}  # seqs at which a feature changed
        self.clock = datetime(2020, 1, 1, tzinfo=UTC)
        self.reverted = False
        STATS["histories"] += 1

    # ------------------------------------------------------------ helpers
    def ok(self, cond: bool, what: str) -> None:
        STATS["checks"] += 1
        assert cond, what

    def eq(self, got: Any, want: Any, what: str) -> None:
        STATS["checks"] += 1
        assert got == want, f"{what}: got {got!r}, expected {want!r}"

    @property
    def head_seq(self) -> int:
        return len(self.commits)

    def ref(self, seq: int) -> Any:
        return self.twin.resolve(self.commits[seq - 1].id) if seq else self.twin.resolve("HEAD~" + str(self.head_seq))

    def live(self, layer: str, seq: int | None = None) -> list[str]:
        state = self.states[self.head_seq if seq is None else seq]
        return sorted(fid for (lyr, fid) in state if lyr == layer)

    def check_feature(self, got: bytes, fid: str, want: Feat, what: str) -> None:
        d = orjson.loads(got)
        self.eq((d["type"], d["id"], d["properties"]), ("Feature", fid, want.props), what)
        if want.geom is None:
            self.eq(d["geometry"], None, what + " geometry")
        else:
            g = shapely.from_geojson(orjson.dumps(d["geometry"]))
            self.ok(
                bool(shapely.equals_exact(g, _wound(want.geom), tolerance=0)) and g.geom_type == want.geom.geom_type,
                f"{what}: geometry {g.wkt} is not {want.geom.wkt}",
            )

    def apply_expected(self, changes: list[Change]) -> tuple[State, dict[str, dict[str, int]]]:
        """The model's own reading of a commit: upserts resolved, no-op modifies dropped."""
        state = dict(self.states[-1])
        counts: dict[str, dict[str, int]] = {}
        for ch in changes:
            key = (ch.layer, ch.feature_id)
            before = state.get(key)
            if ch.op == "delete":
                after = None
            else:
                assert ch.feature is not None
                after = Feat(ch.feature.geometry, dict(ch.feature.properties))
            if before is not None and after is not None and before.key == after.key:
                continue
            kind = "added" if before is None else "deleted" if after is None else "modified"
            counts.setdefault(ch.layer, {"added": 0, "modified": 0, "deleted": 0})[kind] += 1
            if after is None:
                del state[key]
            else:
                state[key] = after
        return state, counts

    def record(self, info: Any, state: State) -> None:
        prev = self.states[-1]
        self.eq(info.seq, self.head_seq + 1, "sequence number")
        self.eq(info.parent, self.commits[-1].id if self.commits else None, "parent")
        self.commits.append(info)
        self.states.append(state)
        for key in set(prev) | set(state):
            a, b = prev.get(key), state.get(key)
            if (a.key if a else None) != (b.key if b else None):
                self.events.setdefault(key, []).append(info.seq)
        self.clock = max(self.clock, info.time)

    def changes_between(self, old: State, new: State) -> list[Change]:
        out = []
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if (a.key if a else None) == (b.key if b else None):
                continue
            layer, fid = key
            if b is None:
                out.append(Change(layer, "delete", fid))
            else:
                out.append(Change(layer, "add" if a is None else "modify", fid, Feature(fid, b.geom, dict(b.props))))
        return out

    # ------------------------------------------------------------ writes
    # Several commit rules, so that about a third of the steps write (Hypothesis picks rules evenly).
    @rule(specs=st.lists(change_specs, min_size=1, max_size=6), seconds=st.integers(0, 90))
    def commit(self, specs: list[tuple[Any, ...]], seconds: int) -> None:
        self.make_commit(specs, seconds)

    @rule(spec=change_specs)
    def commit_one(self, spec: tuple[Any, ...]) -> None:
        self.make_commit([spec], 60)

    @rule(layer=st.sampled_from(LAYER_NAMES), specs=st.lists(change_specs, min_size=2, max_size=10))
    def commit_one_layer(self, layer: str, specs: list[tuple[Any, ...]]) -> None:
        self.make_commit([(layer, *s[1:]) for s in specs], 0)  # equal commit times too

    @rule(
        ops=st.lists(
            st.tuples(st.sampled_from(("delete", "noop", "upsert", "readd")), st.integers(0, 15)),
            min_size=1,
            max_size=4,
        ),
        spec=change_specs,
    )
    def commit_edits(self, ops: list[tuple[str, int]], spec: tuple[Any, ...]) -> None:
        """Deletes, no-op modifies, upserts and re-adds across layers, beside one change of any kind."""
        layers = LAYER_NAMES
        self.make_commit([spec, *((layers[n % len(layers)], op, n, *spec[3:]) for op, n in ops)], 30)

    def make_commit(self, specs: list[tuple[Any, ...]], seconds: int) -> None:
        STATS["commit steps"] += 1
        changes: list[Change] = []
        touched: set[tuple[str, str]] = set()
        head = self.states[-1]
        for layer, op, target, kind_pick, gargs, v, text in specs:
            live = self.live(layer)
            pool = POOL[layer]
            candidates: list[str] | None = None
            if op == "readd":  # an id that existed once and was deleted, else a new one
                dead = [f for f in pool if f not in live and (layer, f) in self.events]
                op, candidates = "add", (dead or None)
            if op in ("modify", "delete", "noop") and not live:
                op = "add"
            if op == "add" and candidates is None:
                free = [f for f in pool if f not in live]
                op, candidates = ("add", free) if free else ("modify", live)
            elif op in ("modify", "delete", "noop"):
                candidates = live
            elif op == "upsert":
                candidates = pool
            assert candidates
            fid = candidates[target % len(candidates)]
            if (layer, fid) in touched:
                continue
            touched.add((layer, fid))
            kinds = GEOMETRY_KINDS[layer]
            if op == "delete":
                changes.append(Change(layer, "delete", fid))
            elif op == "noop":
                cur = head[(layer, fid)]
                changes.append(Change(layer, "modify", fid, Feature(fid, cur.geom, dict(cur.props))))
            else:
                geom = make_geometry(kinds[kind_pick % len(kinds)], *gargs)
                changes.append(Change(layer, op, fid, Feature(fid, geom, make_properties(layer, fid, v, text))))
        note(
            f"commit step {self.head_seq + 1}: "
            + "; ".join(
                f"{c.op} {c.layer}/{c.feature_id}"
                + (
                    f" {c.feature.geometry.wkt if c.feature.geometry is not None else ''} {c.feature.properties}"
                    if c.feature
                    else ""
                )
                for c in changes
            )
        )
        state, counts = self.apply_expected(changes)
        # Twin.revert stamps the time now, so after a revert the history goes on in real time.
        when = max(self.clock, datetime.now(UTC)) if self.reverted else self.clock + timedelta(seconds=seconds)
        message = f"step {self.head_seq + 1}"
        if not counts:  # nothing changes: refused
            try:
                self.twin.commit(changes, author="model", message=message, time=when)
            except ValidationFailed as e:
                self.ok(any("nothing changes" in p.reason for p in e.problems), f"refused for {e}")
                STATS["refused"] += 1
                return
            raise AssertionError("a commit that changes nothing was accepted")
        info = self.twin.commit(changes, author="model", message=message, time=when)
        STATS["commits"] += 1
        self.eq(info.counts, counts, "commit counts")
        self.eq((info.author, info.message, info.time), ("model", message, when), "commit metadata")
        self.record(info, state)

    @precondition(lambda self: self.commits)
    @rule(pick=st.integers(0, 1000))
    def revert(self, pick: int) -> None:
        target = 1 + pick % self.head_seq
        before, made, now = self.states[target - 1], self.states[target], self.states[-1]
        touched = [
            k
            for k in set(before) | set(made)
            if (before[k].key if k in before else None) != (made[k].key if k in made else None)
        ]
        changed_since = any((made[k].key if k in made else None) != (now[k].key if k in now else None) for k in touched)
        if changed_since:
            try:
                self.twin.revert(self.commits[target - 1].id, author="model")
            except Conflict:
                STATS["refused"] += 1
                return
            raise AssertionError(f"revert of #{target} was accepted although its features changed since")
        state = dict(now)
        for k in touched:
            if k in before:
                state[k] = before[k]
            else:
                del state[k]
        info = self.twin.revert(self.commits[target - 1].id, author="model")
        STATS["commits"] += 1
        STATS["reverts"] += 1
        self.reverted = True
        self.ok(info.message.startswith(f"Revert {self.commits[target - 1].id[:12]}"), "revert message")
        self.record(info, state)

    @rule(kind=st.sampled_from(ADVERSARIAL), n=st.integers(0, 15), with_good=st.booleans())
    def refused_input(self, kind: str, n: int, with_good: bool) -> None:
        """Bad input is one ValidationFailed/BadInput naming the feature, and changes nothing."""
        live = self.live("gates")
        free = [f for f in POOL["gates"] if f not in live]
        some_live = live[n % len(live)] if live else None
        fid = free[n % len(free)] if free else "g-new"
        good = Feature(fid, Point(gx(n), gy(n)), {"code": f"C:{fid}:ok", "kind": "north"})
        named: Any = fid
        if kind == "delete-with-body":
            fid = some_live or fid
            bad = [Change("gates", "delete", fid, Feature(fid, Point(gx(1), gy(1)), {"code": f"C:{fid}:x"}))]
            named = fid
        elif kind == "unknown-op":
            bad = [Change("gates", "remove", fid, good)]  # type: ignore[arg-type]
        elif kind == "surrogate-id":
            bad = [Change("gates", "add", fid + "\ud800", Feature(fid + "\ud800", good.geometry, good.properties))]
            named = fid + "\\ud800"
        elif kind == "surrogate-prop":
            bad = [Change("gates", "add", fid, Feature(fid, good.geometry, {"code": "x\udc00"}))]
        elif kind == "id-mismatch":
            bad = [Change("gates", "add", fid, Feature(fid + "-other", good.geometry, good.properties))]
        elif kind == "int-id":
            bad = [Change("gates", "add", n, Feature(n, good.geometry, good.properties))]  # type: ignore[arg-type]
            named = None
        elif kind in ("nfd-id", "nul-id", "space-id"):
            odd = {
                "nfd-id": unicodedata.normalize("NFD", "g-é" + str(n)),
                "nul-id": f"g-\x00{n}",
                "space-id": f"g-{n} ",
            }[kind]
            bad = [Change("gates", "add", odd, Feature(odd, good.geometry, {"code": f"C:{n}"}))]
            named = odd
        elif kind == "add-existing" and some_live:
            bad = [Change("gates", "add", some_live, Feature(some_live, good.geometry, {"code": f"C:{some_live}:n"}))]
            named = some_live
        elif kind in ("modify-missing", "add-existing"):
            bad = [Change("gates", "modify", fid, good)]
        elif kind == "delete-missing":
            bad = [Change("gates", "delete", fid)]
        elif kind == "twice":
            bad = [Change("gates", "add", fid, good), Change("gates", "upsert", fid, good)]
        elif kind == "outside-aoi":
            bad = [
                Change(
                    "gates", "add", fid, Feature(fid, Point(math.nextafter(X_MAX, math.inf), gy(n)), good.properties)
                )
            ]
        elif kind == "bowtie":
            fid = POOL["halls"][n]
            bow = Polygon([(gx(1), gy(1)), (gx(3), gy(3)), (gx(3), gy(1)), (gx(1), gy(3))])
            bad = [Change("halls", "upsert", fid, Feature(fid, bow, {"code": f"C:{fid}:bow"}))]
            named = fid
        elif kind == "wrong-type":
            bad = [Change("gates", "add", fid, Feature(fid, box(gx(1), gy(1), gx(2), gy(2)), good.properties))]
        else:  # no-feature
            bad = [Change("gates", "add", fid, None)]
        changes = list(bad)
        if with_good:
            other = POOL["paths"][n]
            op = "modify" if other in self.live("paths") else "add"
            changes.insert(
                0,
                Change(
                    "paths",
                    op,
                    other,
                    Feature(other, LineString([(gx(0), gy(0)), (gx(n + 1), gy(2))]), {"name": f"good {n}"}),
                ),
            )
        note(f"refused_input: {kind} {[(c.layer, c.op, c.feature_id) for c in changes]}")
        head = self.twin.head()
        try:
            self.twin.commit(changes, author="model", message="bad", time=self.clock)
        except ValidationFailed as e:
            self.ok(bool(e.problems), "problems listed")
            self.ok(any(p.feature_id == named for p in e.problems), f"{kind}: no problem names {named!r}: {e.problems}")
            for p in e.problems:
                str(p).encode("utf-8")  # printable, sendable as JSON
        except BadInput:
            pass
        else:
            raise AssertionError(f"{kind} was accepted")
        STATS["refused"] += 1
        self.eq(self.twin.head(), head, "head after a refused commit")

    # ------------------------------------------------------------ reads
    def expected_page(self, layer: str, seq: int, bbox: tuple[float, float, float, float] | None) -> list[str]:
        ids = self.live(layer, seq)
        if bbox is None:
            return ids
        q = query_geometry(bbox)
        state = self.states[seq]
        return [f for f in ids if state[(layer, f)].geom is not None and state[(layer, f)].geom.intersects(q)]

    def boxes(self, seq: int, specs: list[tuple[Any, ...]]) -> list[tuple[float, float, float, float]]:
        out: list[tuple[float, float, float, float]] = []
        for spec in specs:
            if spec[0] == "grid":
                _, a, b, w, h = spec
                out.append((gx(a), gy(b), gx(a + w), gy(b + h)))
            elif spec[0] == "aoi":
                out.append((X_MIN, Y_MIN, X_MAX, Y_MAX))
            elif ids := self.live(spec[1], seq):
                _, layer, k, mode = spec
                g = self.states[seq][(layer, ids[k % len(ids)])].geom
                assert g is not None
                x0, y0, x1, y1 = g.bounds
                xy = shapely.get_coordinates(g)
                if mode == "bounds":
                    out.append((x0, y0, x1, y1))
                elif mode == "vertex":  # every vertex (up to 12): where lines pass through corners
                    out.extend((float(x), float(y), float(x), float(y)) for x, y in xy[:12])
                elif mode == "midpoint":  # every segment's midpoint (on the segment when axis-parallel)
                    for (xa, ya), (xb, yb) in zip(xy[:12], xy[1:13], strict=False):
                        mx, my = (float(xa) + float(xb)) / 2, (float(ya) + float(yb)) / 2
                        out.append((mx, my, mx, my))
                elif mode == "edge":  # the segment-sized box along the feature's top edge
                    out.append((x0, y1, x1, y1))
                elif mode == "outside":  # one float step beyond the feature's right edge: touches nothing of it
                    nx = math.nextafter(x1, math.inf)
                    out.append((nx, y0, nx + STEP, y1))
        return out

    @rule(
        pick=st.integers(0, 1000),
        box_list=st.lists(box_specs, min_size=1, max_size=5),
        limit=st.integers(0, 7),
        offset=st.integers(0, 6),
        after_pick=st.integers(0, 20),
    )
    def read_version(
        self, pick: int, box_list: list[tuple[Any, ...]], limit: int, offset: int, after_pick: int
    ) -> None:
        """Every read of every layer at one version against the model."""
        seq = pick % (self.head_seq + 1)
        ref = self.ref(seq)
        self.eq(ref.seq, seq, "resolved version")
        state = self.states[seq]
        boxes = self.boxes(seq, box_list)
        for layer in LAYER_NAMES:
            want = self.live(layer, seq)
            what = f"{layer} at #{seq}"
            self.eq(self.twin.count(layer, ref), len(want), f"count of {what}")
            self.eq(self.twin.feature_ids(layer, ref), want, f"ids of {what}")
            page = self.twin.features(layer, ref)
            self.eq((page.feature_ids, page.number_matched), (want, len(want)), f"page of {what}")
            for fid, gj in zip(page.feature_ids, page.features, strict=True):
                self.check_feature(gj, fid, state[(layer, fid)], f"{what}/{fid}")
            after = None if after_pick >= len(POOL[layer]) else POOL[layer][after_pick]
            sliced = [f for f in want if after is None or f > after][offset : offset + limit]
            page = self.twin.features(layer, ref, limit=limit, offset=offset, after=after)
            self.eq(
                (page.feature_ids, page.number_matched),
                (sliced, len(want)),
                f"page limit={limit} offset={offset} after={after!r} of {what}",
            )
            for fid in POOL[layer]:
                if (layer, fid) in state:
                    self.check_feature(self.twin.feature(layer, fid, ref), fid, state[(layer, fid)], f"{what}/{fid}")
                else:
                    try:
                        self.twin.feature(layer, fid, ref)
                        raise AssertionError(f"{what}/{fid} is readable but was not there")
                    except NotFound:
                        STATS["checks"] += 1
            geoms = [state[(layer, f)].geom for f in want]
            if GEOMETRY_KINDS[layer] == (None,):
                self.eq(self.twin.extent(layer, ref), None, f"extent of {what}")
                continue
            bounds = shapely.bounds(geoms) if geoms else None
            ext = (
                None
                if bounds is None
                else (
                    float(bounds[:, 0].min()),
                    float(bounds[:, 1].min()),
                    float(bounds[:, 2].max()),
                    float(bounds[:, 3].max()),
                )
            )
            self.eq(self.twin.extent(layer, ref), ext, f"extent of {what}")
            rows = list(self.twin.export_rows(layer, ref))
            self.eq([r.feature_id for r in rows], want, f"export of {what}")
            for r in rows:
                f = state[(layer, r.feature_id)]
                self.ok(
                    bool(shapely.equals_exact(shapely.from_wkb(r.wkb), _wound(f.geom), tolerance=0)),
                    f"export wkb {what}",
                )
                self.eq(orjson.loads(r.properties), f.props, f"export properties of {what}")
            for b in boxes:
                hits = self.check_bbox(layer, ref, seq, b)
                page = self.twin.features(layer, ref, bbox=b, limit=limit, offset=offset, after=after)
                sliced = [f for f in hits if after is None or f > after][offset : offset + limit]
                self.eq((page.feature_ids, page.number_matched), (sliced, len(hits)), f"paged bbox {b!r} on {what}")

    def check_bbox(self, layer: str, ref: Any, seq: int, b: tuple[float, float, float, float]) -> list[str]:
        what = f"bbox {b!r} on {layer} at #{seq}"
        hits = self.expected_page(layer, seq, b)
        page = self.twin.features(layer, ref, bbox=b)
        self.eq((page.feature_ids, page.number_matched), (hits, len(hits)), what)
        self.eq(len(page.features), len(hits), what + ": features")
        self.eq([r.feature_id for r in self.twin.export_rows(layer, ref, b)], hits, "export of " + what)
        return hits

    def sweep_shapes(self, seq: int) -> None:
        """bbox reads of every layer with boxes made from every feature: each vertex, each segment's
        midpoint, the top edge, and one float step outside (where lines pass through corners and
        along edges, which random boxes rarely hit)."""
        specs = [
            ("feature", layer, k, mode)
            for layer in LAYER_NAMES[:4]
            for k in range(len(self.live(layer, seq)))
            for mode in ("vertex", "midpoint", "edge", "outside")
        ]
        ref = self.ref(seq)
        for b in sorted(set(self.boxes(seq, specs))):
            for layer in LAYER_NAMES[:4]:
                self.check_bbox(layer, ref, seq, b)

    @rule(a=st.integers(0, 1000), b=st.integers(0, 1000), some=st.booleans())
    def diff(self, a: int, b: int, some: bool) -> None:
        sa, sb = a % (self.head_seq + 1), b % (self.head_seq + 1)
        layers = ["gates", "halls"] if some else list(LAYER_NAMES)
        old, new = self.states[sa], self.states[sb]
        want = []
        for key in sorted(set(old) | set(new)):
            if key[0] not in layers:
                continue
            x, y = old.get(key), new.get(key)
            if (x.key if x else None) == (y.key if y else None):
                continue
            want.append((key[0], key[1], "added" if x is None else "deleted" if y is None else "modified"))
        got = self.twin.diff(self.ref(sa), self.ref(sb), layers)
        self.eq([(e.layer, e.feature_id, e.kind) for e in got], want, f"diff #{sa} -> #{sb}")
        for e in got:
            for data, side in (
                (e.before, old.get((e.layer, e.feature_id))),
                (e.after, new.get((e.layer, e.feature_id))),
            ):
                if side is None:
                    self.eq(data, None, "diff side")
                else:
                    self.check_feature(data, e.feature_id, side, f"diff #{sa} -> #{sb} {e.layer}/{e.feature_id}")

    @rule(layer=st.sampled_from(LAYER_NAMES), k=st.integers(0, 15))
    def history(self, layer: str, k: int) -> None:
        fid = POOL[layer][k]
        seqs = self.events.get((layer, fid), [])
        if not seqs:
            try:
                self.twin.history(layer, fid)
            except NotFound:
                STATS["checks"] += 1
                return
            raise AssertionError(f"history of {layer}/{fid}, which never existed")
        got = self.twin.history(layer, fid)
        want = []
        for i, s in enumerate(seqs):
            f = self.states[s].get((layer, fid))
            if f is None:
                want.append((self.commits[s - 1].id, None, "delete"))
            else:
                nxt = self.commits[seqs[i + 1] - 1].id if i + 1 < len(seqs) else None
                op = "add" if (layer, fid) not in self.states[s - 1] else "modify"
                want.append((self.commits[s - 1].id, nxt, op))
        self.eq([(e.commit.id, e.ended_by, e.op) for e in got], want, f"history of {layer}/{fid}")
        for e, s in zip(got, seqs, strict=True):
            f = self.states[s].get((layer, fid))
            if f is None:
                self.eq(e.geojson, None, "history deletion entry")
            else:
                self.check_feature(e.geojson, fid, f, f"history of {layer}/{fid} at #{s}")  # type: ignore[arg-type]

    @precondition(lambda self: self.commits)
    @rule(pick=st.integers(0, 1000), micro=st.sampled_from((-1, 0, 1)))
    def resolve(self, pick: int, micro: int) -> None:
        seq = 1 + pick % self.head_seq
        c = self.commits[seq - 1]
        self.eq(self.twin.resolve(c.id).commit, c, "resolve id")
        self.eq(self.twin.resolve(c.id[:12].upper()).commit, c, "resolve prefix")
        self.eq(self.twin.resolve(f"HEAD~{self.head_seq - seq}").commit, c, "resolve HEAD~n")
        self.eq(self.twin.resolve_text(c.id[:16]).commit, c, "resolve_text")
        t = c.time + timedelta(microseconds=micro)
        at_t = [x for x in self.commits if x.time <= t]
        self.eq(self.twin.resolve(asof=t).commit, at_t[-1] if at_t else None, f"as of {t.isoformat()}")
        self.eq(self.twin.log(3, self.head_seq - seq), self.commits[:seq][::-1][:3], "log page")

    @rule()
    def fsck(self) -> None:
        self.eq(self.twin.fsck(), [], "fsck")

    @invariant()
    def head_and_counts(self) -> None:
        STATS["steps"] += 1
        self.eq(self.twin.head(), self.commits[-1] if self.commits else None, "head")
        for layer in LAYER_NAMES:
            self.eq(self.twin.count(layer), len(self.live(layer)), f"count of {layer} at head")

    def teardown(self) -> None:
        try:
            for k, kind in enumerate(ADVERSARIAL):  # every kind once, whatever the steps chose
                self.refused_input(kind, k, bool(k % 2))
            if self.commits:
                self.eq(self.twin.fsck(), [], "fsck at the end")
                for seq in range(self.head_seq + 1):
                    ref = self.ref(seq)
                    for layer in LAYER_NAMES:
                        self.eq(self.twin.feature_ids(layer, ref), self.live(layer, seq), f"ids of {layer} at #{seq}")
                self.sweep_shapes(self.head_seq)
                self.replay()
        finally:
            self.store.close()

    def replay(self) -> None:
        """The same history on a second store gives the same commit ids: ids depend on content only."""
        other_store = _with_marks(self.factory)
        try:
            other = Twin(other_store)
            for s, c in enumerate(self.commits, start=1):
                changes = self.changes_between(self.states[s - 1], self.states[s])
                again = other.commit(changes, author=c.author, message=c.message, time=c.time)
                self.eq(again, c, f"commit #{s} replayed on another store")
        finally:
            other_store.close()


def run_model_test(store_factory: Any) -> None:
    """Run the state machine on one kind of store with the profile the environment chose."""
    TwinModel.factory = store_factory
    before = Counter(STATS)
    profile = settings.get_profile("fuzz" if FUZZ else "ci")
    run_state_machine_as_test(TwinModel, settings=profile)
    made = STATS - before
    print(
        f"\nmodel-based test on the {store_factory.kind} store ({'fuzz' if FUZZ else 'ci'} profile): "
        f"{made['histories']} histories, {made['commits']} commits ({made['reverts']} reverts), "
        f"{made['refused']} refused writes, {made['steps']} steps ({made['commit steps']} commit steps), {made['checks']} checks"
    )
