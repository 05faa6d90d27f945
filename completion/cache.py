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

T = TypeVar("T")
SHAPE_FIELDS = ("code", "area", "quantity", "quantity_unit", "weight")  # what the weights depend on
FULL_RELOAD = 2000  # more records changed than this since a kept state: read the layer whole instead


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
        cls, head: Ref, records: dict[str, Project], reports: dict[str, tuple[Report, ...]], weights: dict[str, float]
    ) -> RegisterState:
        ordered = tuple(sorted(records.values(), key=lambda p: p.code))
        return cls(head.commit.id if head.commit else None, head.seq, records, reports, weights, ordered)

    def projects(self) -> list[Project]:
        return list(self.ordered)


class _LRU:
    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

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

    def values(self) -> list[Any]:
        with self.lock:
            return list(reversed(self.items.values()))  # most recent first


_states = _LRU(6)
_snapshots = _LRU(48)
_building = threading.Lock()  # one state built at a time: two requests do not both read the layer


def cached_snapshot(key: Hashable, make: Callable[[], T]) -> T:
    got = _snapshots.get(key)
    if got is None:
        got = make()
        _snapshots.put(key, got)
    return got  # type: ignore[no-any-return]


_latest = _LRU(16)  # (date, settings, what is hidden) -> the latest snapshot made at a head


def latest_snapshot(key: Hashable) -> Any:
    """The snapshot last made at a head for this date and settings (to bring forward), or None."""
    return _latest.get(key)


def remember_latest(key: Hashable, snap: Any) -> None:
    _latest.put(key, snap)


def register_state(twin: TwinLike) -> RegisterState:
    """The register as of the twin's head (brought forward from a kept state when one fits)."""
    head = twin.resolve()
    key = head.commit.id if head.commit else None
    got: RegisterState | None = _states.get(key)
    if got is not None:
        return got
    with _building:
        got = _states.get(key)
        if got is None:
            got = _bring_forward(twin, head) or _read_whole(twin, head)
            _states.put(key, got)
    return got


def _bring_forward(twin: TwinLike, head: Ref) -> RegisterState | None:
    for old in _states.values():
        if old.seq > head.seq or old.head_id is None:
            continue
        at = twin.at_seq(old.seq)
        if at.commit is None or at.commit.id != old.head_id:
            continue  # another twin, or another branch of a copied one
        versions = twin.layer_history(LAYER, at, head)
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
        return RegisterState.make(head, records, reports, weights)
    return None


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
