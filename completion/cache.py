"""The register as of the head, kept between requests and brought forward commit by commit.

Reading every project's history one feature at a time costs a store read per project and two per
report (3.4 s for 500 projects with 16,000 reports), so a register of thousands of projects took
tens of seconds to evaluate and a report POST, which re-read it all, grew with the register.
Instead the whole layer's history is read once (``Twin.layer_history``: one query) into a
``RegisterState`` — each record as of the head, every report, the overall weights — and each
later read first brings the state forward with the versions committed since (usually one commit
of a few records: a read of those versions only). A commit id names an immutable state of the
twin, so a state is valid for any twin whose history holds its head commit at its seq; states
are kept per head (a few), never changed in place.

Snapshots (every project evaluated on a date at a version) are kept too, keyed by the version's
commit id, the date and the settings, since they never change either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from completion.register import LAYER, Project, Report, progress_key, reports_from_history
from completion.rollup import overall_weights
from twin.core import Ref, TwinLike
from twin.errors import NotFound
from twin.model import SCHEMA_ID, HistoryEntry

T = TypeVar("T")
SHAPE_FIELDS = ("code", "area", "quantity", "quantity_unit", "weight")  # what the weights depend on
FULL_RELOAD = 2000  # more records changed than this since a kept state: read the layer whole instead
FEW_COMMITS = 64  # up to this many commits since a kept state are read commit by commit


@dataclass(frozen=True)
class RegisterState:
    """The register as of one commit: records, reports (all, in commit order) and overall weights."""

    head_id: str | None
    seq: int
    records: dict[str, Project]  # by feature id, the records that exist at seq
    reports: dict[str, tuple[Report, ...]]  # by feature id, every report up to seq
    weights: dict[str, float]  # by code
    ordered: tuple[Project, ...] = ()  # the records in code order

    @classmethod
    def make(
        cls,
        head: Ref,
        records: dict[str, Project],
        reports: dict[str, tuple[Report, ...]],
        weights: dict[str, float],
        like: RegisterState | None = None,
    ) -> RegisterState:
        """``like``: an earlier state with the same records and codes (only their contents changed),
        whose order is kept instead of sorting again."""
        if like is not None:
            ordered = tuple(records[p.fid] for p in like.ordered)
        else:
            ordered = tuple(sorted(records.values(), key=lambda p: p.code))
        return cls(head.commit.id if head.commit else None, head.seq, records, reports, weights, ordered)

    def projects(self) -> list[Project]:
        return list(self.ordered)


class Kept:
    """A small thread-safe LRU of results that depend only on immutable inputs (a commit, a date,
    settings), each made once: a caller asking for a result another thread is making waits for it
    (``made``) instead of making it again.

    Why: a timeline step asks for its panel and five layers at once, and each of the six requests
    worked out the same date's completion and imagery figures, 7-9 s each, where one after another
    they took 2 s in all. Written here, not taken from cachetools, because cachetools' guard against
    that (``cached(..., condition=)``) wraps one function's arguments, and these keys and makers are
    built by the callers."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()
        self._making: dict[Hashable, tuple[threading.Event, int]] = {}  # key -> (done, the maker's thread)

    def get(self, key: Hashable) -> Any:
        with self.lock:
            got = self.items.get(key)
            if got is not None:
                self.items.move_to_end(key)
            return got

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def made(self, key: Hashable, make: Callable[[], T]) -> T:
        """The result kept for ``key``, else ``make()``'s, made by one caller at a time (a maker that
        fails leaves the next waiter to try; a maker asking for its own key makes it again)."""
        me = threading.get_ident()
        while True:
            with self.lock:
                if key in self.items:
                    self.items.move_to_end(key)
                    return self.items[key]
                making = self._making.get(key)
                if making is None or making[1] == me:
                    done = threading.Event()
                    self._making[key] = (done, me)
                    break
            making[0].wait()
        try:
            value = make()
            self.put(key, value)
            return value
        finally:
            with self.lock:
                if self._making.get(key, (None, 0))[0] is done:
                    del self._making[key]
            done.set()

    def values(self) -> list[Any]:
        with self.lock:
            return list(reversed(self.items.values()))  # most recent first

    def entries(self) -> list[tuple[Any, Any]]:
        with self.lock:
            return list(reversed(self.items.items()))  # most recent first


_states = Kept(6)
_snapshots = Kept(48)
_building = threading.Lock()  # one state built at a time: two requests do not both read the layer


def cached_snapshot(key: Hashable, make: Callable[[], T]) -> T:
    return _snapshots.made(key, make)


_latest = Kept(16)  # (date, settings, what is hidden) -> the latest snapshot made at a head


def latest_snapshot(key: Hashable) -> Any:
    """The snapshot last made at a head for this date and settings (to bring forward), or None."""
    return _latest.get(key)


def remember_latest(key: Hashable, snap: Any) -> None:
    _latest.put(key, snap)


def register_state(twin: TwinLike) -> RegisterState:
    """The register as of the twin's head (brought forward from a kept state when one fits).

    Kept per head and per what the caller's role hides (a view's state key after its head): a
    record reads without its references into layers the role may not see (twin.access)."""
    head = twin.resolve()
    hides = twin.state_key()[2:]
    key = (head.commit.id if head.commit else None, hides)
    got: RegisterState | None = _states.get(key)
    if got is not None:
        return got
    with _building:
        got = _states.get(key)
        if got is None:
            got = _bring_forward(twin, head, hides) or _read_whole(twin, head)
            _states.put(key, got)
    return got


def _bring_forward(twin: TwinLike, head: Ref, hides: tuple[Any, ...]) -> RegisterState | None:
    for (_, seen), old in _states.entries():
        if seen != hides or old.seq > head.seq or old.head_id is None:
            continue
        at = ancestor(twin, old.seq, old.head_id)
        if at is None:
            continue  # another twin, or another branch of a copied one
        versions = versions_since(twin, at, head)
        if len(versions) > FULL_RELOAD:
            return None
        records, reports = dict(old.records), dict(old.reports)
        reshaped = False
        for fid, entries in versions.items():
            before = records.get(fid)
            new = reports_from_history(entries, progress_key(before.properties) if before else None)
            reports[fid] = reports.get(fid, ()) + tuple(new)
            last = entries[-1]
            after = Project.from_feature(last.geojson) if last.geojson is not None else None
            if after is None:
                records.pop(fid, None)
            else:
                records[fid] = after
            if _shape(before) != _shape(after):
                reshaped = True
        weights = overall_weights(list(records.values())) if reshaped else old.weights
        return RegisterState.make(head, records, reports, weights, None if reshaped else old)
    return None


def ancestor(twin: TwinLike, seq: int, commit_id: str | None) -> Ref | None:
    """The version ``seq`` of this twin if it is the commit ``commit_id`` (so what was derived from
    that commit holds for this twin's history up to it), else None."""
    try:
        at = twin.at_seq(seq)
    except NotFound:  # a commit the caller's role does not see
        return None
    return at if at.commit is not None and at.commit.id == commit_id else None


def versions_since(twin: TwinLike, at: Ref, head: Ref) -> dict[str, list[HistoryEntry]]:
    """The register's versions made after ``at`` up to ``head``, by feature id.

    A few commits (a report or two since the state was kept) are read commit by commit: what each
    changed, then those records' histories, so the cost follows the changes, not the register (one
    range read of the layer's versions scans the whole layer). Many commits: one range read.
    """
    if head.seq - at.seq > FEW_COMMITS:
        return twin.layer_history(LAYER, at, head)
    touched: set[str] = set()
    for seq in range(at.seq + 1, head.seq + 1):
        try:
            ref = twin.at_seq(seq)
        except NotFound:  # a commit to layers the caller's role does not see: not the register
            continue
        # a change of the register's schema is no record (a rename's records come in the same commit)
        touched.update(fid for layer, _, fid in twin.changes(ref) if layer == LAYER and fid != SCHEMA_ID)
    out: dict[str, list[HistoryEntry]] = {}
    for fid in sorted(touched):
        entries = [h for h in twin.history(LAYER, fid) if at.seq < h.commit.seq <= head.seq]
        if entries:
            out[fid] = entries
    return out


def _read_whole(twin: TwinLike, head: Ref) -> RegisterState:
    versions = twin.layer_history(LAYER, None, head) if head.commit else {}
    records: dict[str, Project] = {}
    reports: dict[str, tuple[Report, ...]] = {}
    for fid, entries in versions.items():
        reports[fid] = tuple(reports_from_history(entries))
        last = entries[-1]
        if last.geojson is not None:
            records[fid] = Project.from_feature(last.geojson)
    weights = overall_weights(list(records.values()))
    return RegisterState.make(head, records, reports, weights)


def _shape(p: Project | None) -> tuple[Any, ...] | None:
    return None if p is None else tuple(p.properties.get(k) for k in SHAPE_FIELDS)
