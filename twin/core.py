"""The Twin: versioned reads and atomic, validated writes over any Store.

Everything a front end (CLI, API, maps) asks of the twin goes through here, so every front end
gets the same answers. The store only persists; resolving refs, validation, encoding, commit
ids, diffs and reverts live here once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from twin.encoding import counts_of, encode_changes, stored_commit_id
from twin.errors import BadInput, Conflict, NotFound, Problem, ValidationFailed
from twin.model import (
    Change,
    CommitInfo,
    DiffEntry,
    Feature,
    HistoryEntry,
    LayerSchema,
    StoredChange,
)
from twin.stores.base import BBox, ExportRow, Page, Store
from twin.validation import resolvable, validate_changes

HEAD = "HEAD"  # a writer that does not care what it builds on

# Named domain rules. A layer's schema lists the rules its commits must pass (e.g. the project
# register names completion's progress-report rules), so they hold on every write path: API,
# CLI import, change file. The schema is stored in the twin, so the twin file says which apply.
CommitRule = Callable[["Twin", Sequence[StoredChange], int, datetime], list[Problem]]
_RULES: dict[str, CommitRule] = {}


def register_rule(name: str, rule: CommitRule) -> None:
    """Make `rule(twin, changes_to_layer, parent_seq, commit_time)` available to layers naming it."""
    _RULES[name] = rule


SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Ref:
    """A resolved version: a commit, or None for the empty twin before the first commit."""

    commit: CommitInfo | None

    @property
    def seq(self) -> int:
        return self.commit.seq if self.commit else 0


class Twin:
    def __init__(self, store: Store):
        self.store = store

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> Twin:
        from twin.stores.gpkg import GeoPackageStore

        return cls(GeoPackageStore(path))

    @classmethod
    def create(cls, path: str | Path, schemas: Sequence[LayerSchema], area_of_interest: BaseGeometry) -> Twin:
        from twin.stores.gpkg import GeoPackageStore

        store = GeoPackageStore(path, create=True)
        store.initialize(schemas, area_of_interest)
        return cls(store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ layers
    def layers(self) -> list[LayerSchema]:
        return list(self.store.schemas().values())

    def layer(self, name: str) -> LayerSchema:
        schemas = self.store.schemas()
        if name not in schemas:
            self.store.reload_schemas()  # another handle may have added it since
            schemas = self.store.schemas()
        try:
            return schemas[name]
        except KeyError:
            known = ", ".join(schemas)
            raise NotFound(f"no layer {name!r} (layers: {known})") from None

    @property
    def area_of_interest(self) -> BaseGeometry:
        return self.store.area_of_interest()

    # ------------------------------------------------------------------ refs
    def head(self) -> CommitInfo | None:
        return self.store.head()

    def resolve(self, version: str | None = None, asof: datetime | str | None = None) -> Ref:
        """A commit id (or unique prefix of 4+ characters), `HEAD`, `HEAD~n`, or a timestamp."""
        if version is not None and asof is not None:
            raise BadInput("give a version or a time, not both")
        if asof is not None:
            t = _as_utc(asof)
            return Ref(self.store.commit_at_time(t))
        if version is None or version == HEAD:
            return Ref(self.store.head())
        m = re.fullmatch(r"HEAD~(\d+)", version)
        if m:
            head = self.store.head()
            seq = (head.seq if head else 0) - int(m.group(1))
            if seq < 0:
                raise NotFound(f"{version} goes back past the first commit")
            return Ref(self.store.commit_by_seq(seq) if seq else None)
        v = version.lower()
        if not re.fullmatch(r"[0-9a-f]{4,64}", v):
            raise BadInput(f"version {version!r} is not a commit id (hex, at least 4 characters), HEAD or HEAD~n")
        found = self.store.commits_by_id_prefix(v)
        if not found:
            raise NotFound(f"no commit {version}")
        if len(found) > 1:
            raise BadInput(f"commit id prefix {version} is ambiguous; give more characters")
        return Ref(found[0])

    def resolve_text(self, text: str) -> Ref:
        """What a user types for a version: a commit id (or prefix), HEAD or HEAD~n, else a time or date."""
        if text == HEAD or re.fullmatch(r"HEAD~\d+|[0-9a-fA-F]{4,64}", text):
            return self.resolve(text)
        return self.resolve(asof=text)

    def log(self, limit: int = 50, offset: int = 0) -> list[CommitInfo]:
        return self.store.log(limit, offset)

    # ------------------------------------------------------------------ writes
    def commit(
        self,
        changes: Sequence[Change],
        *,
        author: str,
        message: str,
        parent: str | None = HEAD,
        time: datetime | None = None,
    ) -> CommitInfo:
        """Validate and write `changes` as one commit on top of `parent` (a commit id, None, or HEAD).

        Raises ValidationFailed with every problem, or Conflict when the head is no longer
        `parent`; in both cases nothing is written.
        """
        if not changes:
            raise BadInput("a commit needs at least one change")
        if not author.strip():
            raise BadInput("a commit needs an author")
        head = self.store.head()
        if parent == HEAD:
            parent = head.id if head else None
        elif parent is not None:
            named = self.resolve(parent).commit
            parent = named.id if named else None
        if (head.id if head else None) != parent:
            raise Conflict(f"the twin moved on: head is {head.id if head else '(empty)'}, not {parent}")
        parent_seq = head.seq if head else 0
        schemas = self.store.schemas()
        problems = validate_changes(changes, schemas, self.store.area_of_interest())
        stored, more = self._resolve_ops(changes, parent_seq)
        problems.extend(more)
        problems.extend(self._check_codes(stored, schemas, parent_seq))
        if not stored and not problems:
            problems.append(Problem("*", None, "nothing changes: every feature is already as given"))
        when = _as_utc(time) if time is not None else datetime.now(UTC)
        if not problems:
            by_layer: dict[str, list[StoredChange]] = {}
            for sc in stored:
                by_layer.setdefault(sc.layer, []).append(sc)
            for layer, chs in by_layer.items():
                for name in schemas[layer].rules:
                    if name not in _RULES:
                        raise BadInput(
                            f"layer {layer} needs the rule {name!r}, which is not loaded (import its module)"
                        )
                    problems.extend(_RULES[name](self, chs, parent_seq, when))
        if problems:
            raise ValidationFailed(problems)
        if head and when < head.time:
            raise BadInput(f"commit time {when.isoformat()} is before the head's {head.time.isoformat()}")
        cid = stored_commit_id(parent, author, message, when, stored)
        info = CommitInfo(cid, parent_seq + 1, parent, author, message, when, counts_of(stored))
        self.store.apply(info, stored)
        return info

    def _resolve_ops(self, changes: Sequence[Change], parent_seq: int) -> tuple[list[StoredChange], list[Problem]]:
        """Turn upserts into adds or modifies and check adds, modifies and deletes against the parent."""
        problems: list[Problem] = []
        changes = [ch for ch in changes if resolvable(ch)]  # bad ids and ops are reported by validation
        by_layer: dict[str, list[str]] = {}
        for ch in changes:
            if ch.layer in self.store.schemas():
                by_layer.setdefault(ch.layer, []).append(ch.feature_id)
        existing = {
            # An empty layer (a first import, say) has nothing to look up: its count is a lookup.
            layer: self.store.features_by_id(layer, ids, parent_seq)
            if parent_seq and self.store.count(layer, parent_seq)
            else {}
            for layer, ids in by_layer.items()
        }
        known = self.store.schemas()
        changes = [ch for ch in changes if ch.layer in known]  # unknown layers are reported by validation
        encoded = encode_changes(changes)
        stored: list[StoredChange] = []
        for ch, enc in zip(changes, encoded, strict=True):
            before = existing.get(ch.layer, {}).get(ch.feature_id)
            op = ch.op
            if op == "upsert":
                op = "modify" if before is not None else "add"
            if op == "add" and before is not None:
                problems.append(Problem(ch.layer, ch.feature_id, "a feature with this id exists already"))
                continue
            if op in ("modify", "delete") and before is None:
                problems.append(Problem(ch.layer, ch.feature_id, "no such feature to " + op))
                continue
            if op == "modify" and enc is not None and before == enc.geojson:
                continue  # unchanged: not a change, so no new version
            stored.append(StoredChange(ch.layer, op, ch.feature_id, enc))  # type: ignore[arg-type]
        return stored, problems

    def _check_codes(
        self, stored: Sequence[StoredChange], schemas: dict[str, LayerSchema], parent_seq: int
    ) -> list[Problem]:
        """A layer's human code (its schema's code_field) names one feature at a time."""
        problems: list[Problem] = []
        by_layer: dict[str, list[StoredChange]] = {}
        for ch in stored:
            by_layer.setdefault(ch.layer, []).append(ch)
        for layer, chs in by_layer.items():
            code = schemas[layer].code_field
            if code is None:
                continue
            wanted: dict[Any, str] = {}
            for ch in chs:
                value = ch.version.properties.get(code) if ch.version else None
                if value is None:
                    continue
                if value in wanted and wanted[value] != ch.feature_id:
                    problems.append(Problem(layer, ch.feature_id, f"{code} {value!r} is also given to {wanted[value]}"))
                wanted[value] = ch.feature_id
            if not wanted or parent_seq == 0 or self.store.count(layer, parent_seq) == 0:
                continue
            changing = {ch.feature_id for ch in chs}
            for value, holder in self.store.ids_by_value(layer, code, list(wanted)).items():
                if holder != wanted[value] and holder not in changing:
                    problems.append(Problem(layer, wanted[value], f"{code} {value!r} already names feature {holder}"))
        return problems

    def revert(self, version: str, *, author: str, message: str | None = None) -> CommitInfo:
        """A new commit that undoes `version`; refused if a feature it touched changed since."""
        target = self.resolve(version).commit
        if target is None:
            raise BadInput("nothing to revert: the twin is empty")
        head = self.store.head()
        assert head is not None
        undo: list[Change] = []
        later: list[Problem] = []
        for ch in self.store.changes_in(target.seq):
            now = self.store.feature(ch.layer, ch.feature_id, head.seq)
            made = ch.version.geojson if ch.version else None
            if now != made:
                later.append(Problem(ch.layer, ch.feature_id, "changed again after the commit being reverted"))
                continue
            before = self.store.feature(ch.layer, ch.feature_id, target.seq - 1)
            if before is None:
                undo.append(Change(ch.layer, "delete", ch.feature_id))
            else:
                undo.append(
                    Change(ch.layer, "add" if now is None else "modify", ch.feature_id, feature_from_geojson(before))
                )
        if later:
            raise Conflict(f"cannot revert {target.id[:12]}: " + "; ".join(str(p) for p in later[:10]))
        return self.commit(
            undo, author=author, message=message or f"Revert {target.id[:12]}: {target.message}", parent=head.id
        )

    # ------------------------------------------------------------------ reads
    def features(
        self,
        layer: str,
        ref: Ref | None = None,
        *,
        bbox: BBox | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        self.layer(layer)
        ref = ref or self.resolve()
        if bbox is not None:
            _check_bbox(bbox)
        if (limit is not None and limit < 0) or offset < 0:
            raise BadInput("limit and offset must not be negative")
        return self.store.features(layer, ref.seq, bbox=bbox, limit=limit, offset=offset, after=after)

    def feature(self, layer: str, feature_id: str, ref: Ref | None = None) -> bytes:
        self.layer(layer)
        ref = ref or self.resolve()
        got = self.store.feature(layer, feature_id, ref.seq)
        if got is None:
            where = f" as of {ref.commit.id[:12]}" if ref.commit else ""
            raise NotFound(f"no feature {feature_id!r} in layer {layer}{where}")
        return got

    def count(self, layer: str, ref: Ref | None = None) -> int:
        self.layer(layer)
        return self.store.count(layer, (ref or self.resolve()).seq)

    def feature_ids(self, layer: str, ref: Ref | None = None) -> list[str]:
        self.layer(layer)
        return self.store.feature_ids(layer, (ref or self.resolve()).seq)

    def extent(self, layer: str, ref: Ref | None = None) -> BBox | None:
        self.layer(layer)
        return self.store.extent(layer, (ref or self.resolve()).seq)

    def export_rows(self, layer: str, ref: Ref | None = None, bbox: BBox | None = None) -> Iterator[ExportRow]:
        self.layer(layer)
        return self.store.export_rows(layer, (ref or self.resolve()).seq, bbox)

    def history(self, layer: str, feature_id: str) -> list[HistoryEntry]:
        """Every version of a feature, oldest first, with a final entry if it was deleted."""
        self.layer(layer)
        rows = self.store.versions_of(layer, feature_id)
        if not rows:
            raise NotFound(f"feature {feature_id!r} never existed in layer {layer}")
        out: list[HistoryEntry] = []
        for i, r in enumerate(rows):
            ended = None
            if r.to_seq is not None:
                ended = self.store.commit_by_seq(r.to_seq).id
            out.append(HistoryEntry(self.store.commit_by_seq(r.from_seq), ended, r.geojson, r.op))  # type: ignore[arg-type]
            nxt = rows[i + 1].from_seq if i + 1 < len(rows) else None
            if r.to_seq is not None and nxt != r.to_seq:
                out.append(HistoryEntry(self.store.commit_by_seq(r.to_seq), None, None, "delete"))
        return out

    def diff(self, a: Ref, b: Ref, layers: Iterable[str] | None = None) -> list[DiffEntry]:
        """What changed from a to b, per feature: added, modified (with before) or deleted.

        Works in either direction; from newer to older the roles of added and deleted swap.
        """
        names = list(layers) if layers is not None else [s.name for s in self.layers()]
        for n in names:
            self.layer(n)
        lo, hi = sorted((a.seq, b.seq))
        forward = a.seq <= b.seq
        state: dict[tuple[str, str], list[bytes | None]] = {}
        for r in self.store.versions_changed_between(lo, hi, names):
            key = (r.layer, r.feature_id)
            slot = state.setdefault(key, [None, None])
            if r.from_seq <= lo:  # the version visible at lo, closed inside the range
                slot[0] = r.geojson
            if r.to_seq is None or r.to_seq > hi:  # visible at hi (it began inside the range)
                slot[1] = r.geojson
        out: list[DiffEntry] = []
        for (layer, fid), (old, new) in sorted(state.items()):
            if not forward:
                old, new = new, old
            if old == new:
                continue  # both None (lived and died inside the range) or put back as it was
            kind = "added" if old is None else "deleted" if new is None else "modified"
            out.append(DiffEntry(layer, fid, kind, old, new))  # type: ignore[arg-type]
        return out

    # ------------------------------------------------------------------ integrity
    def fsck(self) -> list[str]:
        """Recompute every commit id from the stored versions and check the store; [] when clean."""
        problems: list[str] = []
        n = self.store.commit_count()
        prev: CommitInfo | None = None
        running: dict[str, int] = {}
        for seq in range(1, n + 1):
            try:
                c = self.store.commit_by_seq(seq)
            except NotFound:
                problems.append(f"commit number {seq} is missing")
                continue
            if c.parent != (prev.id if prev else None):
                problems.append(
                    f"commit {c.id[:12]} (#{seq}) names parent {c.parent}, expected {prev.id if prev else None}"
                )
            changes = self.store.changes_in(seq)
            for ch in changes:
                if ch.version is not None and not _version_consistent(
                    ch.version.geojson, ch.version.wkb, ch.version.properties
                ):
                    problems.append(
                        f"commit {c.id[:12]}: stored GeoJSON of {ch.layer}/{ch.feature_id} disagrees with its geometry or properties"
                    )
            recomputed = stored_commit_id(c.parent, c.author, c.message, c.time, changes)
            if recomputed != c.id:
                problems.append(
                    f"commit {c.id[:12]} (#{seq}): content hashes to {recomputed[:12]}; its changes or metadata were altered"
                )
            if counts_of(changes) != c.counts:
                problems.append(f"commit {c.id[:12]} (#{seq}): recorded counts {c.counts} differ from its changes")
            for layer, per in counts_of(changes).items():
                running[layer] = running.get(layer, 0) + per["added"] - per["deleted"]
            for layer in self.store.schemas():
                if self.store.count(layer, seq) != running.get(layer, 0):
                    problems.append(
                        f"commit {c.id[:12]} (#{seq}): feature total of {layer} is {self.store.count(layer, seq)}, "
                        f"its history adds up to {running.get(layer, 0)}"
                    )
            prev = c
        problems.extend(self.store.check())
        return problems


def feature_from_geojson(data: bytes | dict) -> Feature:  # type: ignore[type-arg]
    d = orjson.loads(data) if isinstance(data, bytes | bytearray) else data
    geom = shapely.from_geojson(orjson.dumps(d["geometry"])) if d.get("geometry") is not None else None
    return Feature(str(d["id"]), geom, dict(d.get("properties") or {}))


def _version_consistent(geojson: bytes, wkb: bytes | None, properties: dict) -> bool:  # type: ignore[type-arg]
    try:
        d = orjson.loads(geojson)
        if d["geometry"] is None or wkb is None:
            return d["geometry"] is None and wkb is None and d.get("properties") == properties
        g1 = shapely.from_geojson(orjson.dumps(d["geometry"]))
        g2 = shapely.from_wkb(wkb)
        return bool(shapely.equals_exact(g1, g2, tolerance=0)) and d.get("properties") == properties
    except (ValueError, KeyError, shapely.errors.GEOSException):
        return False


def _as_utc(t: datetime | str) -> datetime:
    if isinstance(t, str):
        text = t.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                # A bare date means the end of that day in Shanghai, where checkpoints are dated.
                t = datetime.combine(date.fromisoformat(text), dt_time.max, tzinfo=SHANGHAI)
            else:
                t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadInput(f"{text!r} is not an RFC 3339 timestamp such as 2026-10-26T08:00:00Z or a date") from None
    if t.tzinfo is None:
        raise BadInput(f"timestamp {t.isoformat()} has no time zone; add Z or +08:00")
    return t.astimezone(UTC)


def _check_bbox(bbox: BBox) -> None:
    minx, miny, maxx, maxy = bbox
    if not all(map(lambda v: v == v and abs(v) != float("inf"), bbox)):
        raise BadInput("bbox values must be finite numbers")
    if minx > maxx or miny > maxy:
        raise BadInput(f"bbox {bbox} has its minimum above its maximum")
