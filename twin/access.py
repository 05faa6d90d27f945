"""Who may see what: the one visibility rule, and the twin as one role sees it.

A layer whose schema names `restricted_to` roles is visible to those roles and to admins only.
Everything a front end serves (JSON, HTML pages, map data, CSV, downloads, tiles) reads through a
`TwinView` made for the caller's role, so a new route cannot forget the rule: the view simply has
no way to reach a hidden layer.

What a caller who may not see a layer sees of the history (the policy, documented in the README):
- a commit that touched only hidden layers does not exist for them: it is not in the log, its id
  does not resolve (`version=<id>` is "no commit"), and HEAD, HEAD~n and as-of times count only
  the commits they can see (a hidden commit cannot change a visible layer, so the state of every
  visible layer at the nearest visible commit is exactly the state at the hidden one);
- a commit that touched visible and hidden layers is shown with only the visible layers in its
  counts and its message withheld (a message may name hidden features); its author stays;
- `parent` is the nearest commit they can see, and `seq` numbers the commits they can see, 1, 2,
  3 ... without gaps, so neither tells that hidden commits exist.

References into a hidden layer (the fields a rule registers as holding "layer/feature_id", such as
a project's `features`) are no references for them either: every read of such a field (a feature,
a page, an export row, a history, a diff) leaves them out, and a diff entry that differed only in
them is no difference. A write keeps them: the record keeps the references it had into the layers
the writer may not see, whatever they write of the others (TwinView.commit).
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from twin.errors import BadInput, NotFound
from twin.model import SCHEMA_ID, Change, CommitInfo, DiffEntry, Feature, HistoryEntry, LayerSchema

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from twin.core import Ref, Twin
    from twin.stores.base import BBox, ExportRow, Page
    from twin.surveys import SurveyInfo

MESSAGE_WITHHELD = "(message withheld: this commit also changed layers you may not see)"

# How a version is named, said alike by every resolver that refuses one: Twin.resolve and
# TwinView.resolve (a commit id, HEAD or HEAD~n), and resolve_text, which also takes a time or a date.
_VERSION_NAME = re.compile(r"HEAD|HEAD~\d+|[0-9a-fA-F]{4,64}")
_TIME_LIKE = re.compile(r"\s*\d{4}-")  # 2026-10-26, 2026-13-01, 2026-W44: refused as a time, if at all


def not_a_version(version: str, *, or_time: bool = False) -> BadInput:
    """The error of text that names no version (`or_time`: nor a time or a date, where one is taken)."""
    if not or_time:
        return BadInput(f"version {version!r} is not a commit id (hex, at least 4 characters), HEAD or HEAD~n")
    return BadInput(
        f"version {version!r} is not a commit id (hex, at least 4 characters), HEAD, HEAD~n, "
        "a time (RFC 3339, such as 2026-10-26T08:00:00Z) or a date",
        code="not_a_time",  # nor a time: the error pages' words for that kind still apply
        values={"value": version},
    )


def resolve_text(twin: Twin | TwinView, text: str) -> Ref:
    """What a user types for a version: a commit id (or prefix), HEAD or HEAD~n, else a time or
    date. Text that is none of them and does not begin as a date does (`nosuch`) is refused naming
    every way to name a version, not as a malformed time; `2026-13-01` is said to be no time."""
    if _VERSION_NAME.fullmatch(text):
        return twin.resolve(text)
    if not _TIME_LIKE.match(text):
        raise not_a_version(text, or_time=True)
    return twin.resolve(asof=text)


def may_see(role: str | None, schema: LayerSchema) -> bool:
    """The visibility rule: an open layer is everyone's; a restricted one its named roles' and admins'."""
    if not schema.restricted_to:
        return True
    return role is not None and (role == "admin" or role in schema.restricted_to)


def _hidden_ref(value: Any, hidden: frozenset[str]) -> bool:
    if not isinstance(value, str):
        return False
    layer, sep, _ = value.partition("/")
    return bool(sep) and layer in hidden


@dataclass(frozen=True)
class _Redaction:
    """Takes the references into hidden layers out of one layer's reference fields, as read."""

    fields: tuple[str, ...]
    hidden: frozenset[str]
    # What a reference into a hidden layer looks like in stored bytes ('"security/'): layer names
    # need no JSON escape, nor does '/' in orjson's output, so bytes without any hold none and are
    # handed on untouched, decoded and encoded again only when they may hold one.
    marks: tuple[bytes, ...]

    def properties(self, props: dict[str, Any]) -> bool:
        """Takes them out of `props` (in place); whether there were any."""
        changed = False
        for f in self.fields:
            v = props.get(f)
            if isinstance(v, list):
                kept = [r for r in v if not _hidden_ref(r, self.hidden)]
                if len(kept) != len(v):
                    props[f] = kept
                    changed = True
            elif _hidden_ref(v, self.hidden):
                del props[f]
                changed = True
        return changed

    def _may_hold(self, raw: bytes) -> bool:
        return any(m in raw for m in self.marks)

    def feature(self, raw: bytes) -> bytes:
        """A stored GeoJSON Feature, re-encoded canonically (sorted keys) only if it changed."""
        return self._rewritten(raw, True)

    def properties_json(self, raw: bytes) -> bytes:
        """A stored properties object (an export row's), the same way."""
        return self._rewritten(raw, False)

    def _rewritten(self, raw: bytes, in_feature: bool) -> bytes:
        if not self._may_hold(raw):
            return raw
        doc = orjson.loads(raw)
        props = doc.get("properties") if in_feature and isinstance(doc, dict) else doc
        if not isinstance(props, dict) or not self.properties(props):
            return raw
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)

    def maybe(self, raw: bytes | None) -> bytes | None:
        return None if raw is None else self.feature(raw)


def _without_unseen_changes(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """A feature's versions as a reader who may not see some references reads them: a version that
    changed only those references is the same version to them, so it is folded into the one before
    (which then lasts until it ended)."""
    out: list[HistoryEntry] = []
    for h in entries:
        before = out[-1] if out else None
        if (
            h.op == "modify"
            and before is not None
            and before.geojson is not None
            and h.geojson is not None
            and orjson.loads(before.geojson) == orjson.loads(h.geojson)
        ):
            out[-1] = dataclasses.replace(before, ended_by=h.ended_by)
            continue
        out.append(h)
    return out


def _kept_refs(given: Any, stored: Any, hidden: frozenset[str]) -> Any:
    """A reference field as written by a writer who may not see `hidden`, with the references the
    stored record had into those layers put back (the writer read the record without them): each
    after the reference it followed in the stored record, so a record written back as read is
    exactly as stored."""
    if isinstance(stored, str):
        return stored if _hidden_ref(stored, hidden) and given is None else given
    if not isinstance(stored, list):
        return given
    missing = [r for r in stored if _hidden_ref(r, hidden) and not (isinstance(given, list) and r in given)]
    if not missing or given is None:
        return missing or given
    if not isinstance(given, list):
        return given  # not a list of references: the layer's own check says so
    present = set(given)
    after: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for r in stored:
        if r in missing:
            after.setdefault(anchor, []).append(r)
        elif r in present:
            anchor = r
    out = list(after.pop(None, []))
    for r in given:
        out.append(r)
        out.extend(after.pop(r, []))
    return out


@dataclass(frozen=True)
class _Seen:
    """What one set of schemas hides from a role: the hidden layers, and how each visible layer
    that holds references is read."""

    schemas: Mapping[str, LayerSchema]
    hidden: frozenset[str]
    redactions: dict[str, _Redaction]


@dataclass(frozen=True)
class _History:
    """The commits one set of hidden layers leaves visible, as of one head (oldest first)."""

    head_id: str | None
    real: tuple[CommitInfo, ...]  # as stored
    shown: tuple[CommitInfo, ...]  # as presented: numbered, parent rewritten, redacted
    seqs: tuple[int, ...]  # real seq of each, ascending (for as-of look-ups)
    by_id: dict[str, int]  # id -> index


class TwinView:
    """The twin as one role may see it: the same reads and writes as `Twin`, minus hidden layers.

    With nothing hidden from the role (no restricted layer, or an admin) every call passes straight
    through, so the common case costs nothing.
    """

    _cache_lock = threading.Lock()

    def __init__(self, twin: Twin, role: str | None):
        self.twin = twin
        self.role = role
        self._seen_kept: _Seen | None = None

    # ------------------------------------------------------------------ the rule
    # A view that reads references into hidden layers as stored (_WriteJudge: the writer's own
    # record, as the layers' rules compare it; never handed to a caller).
    _redacts = True

    def _seen(self) -> _Seen:
        # Asked several times per request; derived again only when the schemas are another object
        # (the store hands out one per commit), which holds the schemas it was derived from alive.
        schemas = self.twin.schema_map()
        kept = self._seen_kept
        if kept is not None and kept.schemas is schemas:
            return kept
        hidden = frozenset(name for name, s in schemas.items() if not may_see(self.role, s))
        redactions: dict[str, _Redaction] = {}
        if hidden:
            from twin.core import reference_fields

            marks = tuple(b'"' + name.encode() + b"/" for name in sorted(hidden))
            for name, s in schemas.items():
                fields = reference_fields(s) if name not in hidden else ()
                if fields:
                    redactions[name] = _Redaction(fields, hidden, marks)
        self._seen_kept = _Seen(schemas, hidden, redactions)
        return self._seen_kept

    def _hidden(self) -> frozenset[str]:
        return self._seen().hidden

    def _redaction(self, layer: str) -> _Redaction | None:
        """How `layer` is read by this role: None (the common case) when it is read as stored."""
        return self._seen().redactions.get(layer) if self._redacts else None

    def may_see(self, schema: LayerSchema) -> bool:
        return may_see(self.role, schema)

    def hides(self, layer: str) -> bool:
        """Whether `layer` is a layer of the twin this role may not see (to leave alone what a writer
        keeps unseen, never to tell them of it: for them such a layer is no layer)."""
        return layer in self._hidden()

    def _history(self, hidden: frozenset[str]) -> _History:
        """The visible commits, computed once per head and hidden set (kept on the twin)."""
        head = self.twin.head()
        head_id = head.id if head else None
        cache: dict[frozenset[str], _History] = self.twin.__dict__.setdefault("_visible_histories", {})
        got = cache.get(hidden)
        if got is not None and got.head_id == head_id:
            return got
        everything = list(reversed(self.twin.log(self.twin.commit_count())))
        real: list[CommitInfo] = []
        shown: list[CommitInfo] = []
        for c in everything:
            touched = set(c.counts)
            if touched and touched <= hidden:
                continue
            withheld = bool(touched & hidden)
            shown.append(
                dataclasses.replace(
                    c,
                    parent=real[-1].id if real else None,
                    message=MESSAGE_WITHHELD if withheld else c.message,
                    counts={k: v for k, v in c.counts.items() if k not in hidden},
                    number=len(shown) + 1,
                )
            )
            real.append(c)
        made = _History(
            head_id, tuple(real), tuple(shown), tuple(c.seq for c in real), {c.id: i for i, c in enumerate(real)}
        )
        with self._cache_lock:
            cache[hidden] = made
        return made

    def present(self, commit: CommitInfo | None) -> CommitInfo | None:
        """A commit as this role may see it; None for one it may not see (or None)."""
        if commit is None:
            return None
        hidden = self._hidden()
        if not hidden:
            return commit
        h = self._history(hidden)
        i = h.by_id.get(commit.id)
        return h.shown[i] if i is not None else None

    def _ref(self, commit: CommitInfo | None) -> Ref:
        from twin.core import Ref

        return Ref(commit)

    # ------------------------------------------------------------------ layers
    def layers(self, ref: Ref | None = None) -> list[LayerSchema]:
        """The layers this role may see, now or as of `ref` (whether a layer is hidden is decided by
        its schema now: restricting a layer hides its whole history, opening it shows it)."""
        hidden = self._hidden()
        return [s for s in self.twin.layers(ref) if s.name not in hidden]

    def layer(self, name: str, ref: Ref | None = None) -> LayerSchema:
        try:
            schema: LayerSchema | None = self.twin.layer(name, ref)
        except NotFound:
            schema = None
        if schema is None or name in self._hidden():
            # Name only the layers this role may see: the twin's own message lists them all.
            known = ", ".join(s.name for s in self.layers(ref))
            raise NotFound(f"no layer {name!r} (layers: {known})", code="no_layer", values={"layer": name})
        return schema

    @property
    def area_of_interest(self) -> BaseGeometry:
        return self.twin.area_of_interest

    def state_key(self) -> tuple[Any, ...]:
        """Identifies what this role sees now, for caches of derived answers."""
        return (*self.twin.state_key(), self._hidden())

    # ------------------------------------------------------------------ versions
    def head(self) -> CommitInfo | None:
        hidden = self._hidden()
        if not hidden:
            return self.twin.head()
        shown = self._history(hidden).shown
        return shown[-1] if shown else None

    def commit_count(self) -> int:
        hidden = self._hidden()
        if not hidden:
            return self.twin.commit_count()
        return len(self._history(hidden).shown)

    def log(self, limit: int = 50, offset: int = 0) -> list[CommitInfo]:
        hidden = self._hidden()
        if not hidden:
            return self.twin.log(limit, offset)
        shown = self._history(hidden).shown
        newest_first = shown[::-1]
        return list(newest_first[offset : offset + limit])

    def first_commit(self) -> CommitInfo | None:
        hidden = self._hidden()
        if not hidden:
            return self.twin.first_commit()
        shown = self._history(hidden).shown
        return shown[0] if shown else None

    def resolve(self, version: str | None = None, asof: datetime | str | None = None) -> Ref:
        hidden = self._hidden()
        if not hidden:
            return self.twin.resolve(version, asof)
        h = self._history(hidden)
        if version is not None and asof is not None:
            raise BadInput("give a version or a time, not both")
        if asof is not None:
            real = self.twin.resolve(asof=asof).commit
            # The nearest visible commit at or before it: the visible layers are the same there.
            i = bisect.bisect_right(h.seqs, real.seq if real else 0) - 1
            return self._ref(h.shown[i] if i >= 0 else None)
        if version is None or version == "HEAD":
            return self._ref(h.shown[-1] if h.shown else None)
        m = re.fullmatch(r"HEAD~(\d+)", version)
        if m:
            back = int(m.group(1))
            if back > len(h.shown):
                raise NotFound(
                    f"{version} goes back past the first commit",
                    code="before_first_commit",
                    values={"version": version},
                )
            return self._ref(h.shown[len(h.shown) - 1 - back] if back < len(h.shown) else None)
        v = version.lower()
        if not re.fullmatch(r"[0-9a-f]{4,64}", v):
            raise not_a_version(version)
        found = [c for c in h.shown if c.id.startswith(v)]
        if not found:
            raise NotFound(f"no commit {version}")
        if len(found) > 1:
            raise BadInput(f"commit id prefix {version} is ambiguous; give more characters")
        return self._ref(found[0])

    def resolve_text(self, text: str) -> Ref:
        return resolve_text(self, text)

    def at_seq(self, seq: int) -> Ref:
        ref = self.twin.at_seq(seq)
        if ref.commit is not None and self.present(ref.commit) is None:
            raise NotFound(f"no commit number {seq}")
        return self._ref(self.present(ref.commit))

    def changes(self, ref: Ref) -> list[tuple[str, str, str]]:
        """(layer, op, feature id) of what the commit `ref` names changed, in visible layers only."""
        names = {s.name for s in self.layers()}
        return [c for c in self.twin.changes(ref) if c[0] in names]

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
        page = self.twin.features(layer, ref or self.resolve(), bbox=bbox, limit=limit, offset=offset, after=after)
        r = self._redaction(layer)
        if r is None:
            return page
        return dataclasses.replace(page, features=[r.feature(b) for b in page.features])

    def quick_point_reads(self) -> bool:
        """Twin.quick_point_reads, and nothing hidden from this view: with a hidden layer, resolving
        a version may first build the visible history, which grows with the number of commits."""
        return self.twin.quick_point_reads() and not self._hidden()

    def quick_bbox_read(self, layer: str, bbox: BBox) -> bool:
        """Twin.quick_bbox_read, with nothing hidden from this view (see quick_point_reads)."""
        return not self._hidden() and self.twin.quick_bbox_read(layer, bbox)

    def feature(self, layer: str, feature_id: str, ref: Ref | None = None) -> bytes:
        self.layer(layer)
        got = self.twin.feature(layer, feature_id, ref or self.resolve())
        r = self._redaction(layer)
        return got if r is None else r.feature(got)

    def features_by_id(self, layer: str, feature_ids: Sequence[str], ref: Ref | None = None) -> dict[str, bytes]:
        self.layer(layer)
        got = self.twin.features_by_id(layer, feature_ids, ref or self.resolve())
        r = self._redaction(layer)
        return got if r is None else {fid: r.feature(b) for fid, b in got.items()}

    def id_by_value(self, layer: str, field: str, value: Any) -> str | None:
        self.layer(layer)
        r = self._redaction(layer)
        if r is not None and field in r.fields and _hidden_ref(value, r.hidden):
            return None  # a reference into a hidden layer names nothing
        return self.twin.id_by_value(layer, field, value)

    def count(self, layer: str, ref: Ref | None = None) -> int:
        self.layer(layer)
        return self.twin.count(layer, ref or self.resolve())

    def feature_ids(self, layer: str, ref: Ref | None = None) -> list[str]:
        self.layer(layer)
        return self.twin.feature_ids(layer, ref or self.resolve())

    def extent(self, layer: str, ref: Ref | None = None) -> BBox | None:
        self.layer(layer)
        return self.twin.extent(layer, ref or self.resolve())

    def export_rows(self, layer: str, ref: Ref | None = None, bbox: BBox | None = None) -> Iterator[ExportRow]:
        self.layer(layer)
        rows = self.twin.export_rows(layer, ref or self.resolve(), bbox)
        r = self._redaction(layer)
        if r is None:
            return rows
        return (dataclasses.replace(row, properties=r.properties_json(row.properties)) for row in rows)

    def tile(self, layer: str, z: int, x: int, y: int, ref: Ref | None = None, grid: str = "WebMercatorQuad") -> bytes:
        self.layer(layer)
        r = self._redaction(layer)
        return self.twin.tile(
            layer, z, x, y, ref or self.resolve(), grid, redacted=None if r is None else (r.hidden, r.properties_json)
        )

    def history(self, layer: str, feature_id: str) -> list[HistoryEntry]:
        self.layer(layer)
        r = self._redaction(layer) if feature_id != SCHEMA_ID else None
        out = []
        for h in self.twin.history(layer, feature_id):
            # Every commit that changed a visible layer is visible, so present() never drops one here.
            shown = self.present(h.commit)
            out.append(self._entry(h, shown, r))
        return out if r is None else _without_unseen_changes(out)

    def _entry(self, h: HistoryEntry, shown: CommitInfo | None, r: _Redaction | None) -> HistoryEntry:
        if shown is None and r is None:
            return h
        return dataclasses.replace(h, commit=shown or h.commit, geojson=h.geojson if r is None else r.maybe(h.geojson))

    def layer_history(
        self, layer: str, after: Ref | None = None, upto: Ref | None = None
    ) -> dict[str, list[HistoryEntry]]:
        self.layer(layer)
        got = self.twin.layer_history(layer, after, upto)
        if not self._hidden():
            return got
        r = self._redaction(layer)
        out = {}
        for fid, entries in got.items():
            seen = [self._entry(h, self.present(h.commit), r if fid != SCHEMA_ID else None) for h in entries]
            out[fid] = seen if r is None or fid == SCHEMA_ID else _without_unseen_changes(seen)
        return out

    def diff(self, a: Ref, b: Ref, layers: Iterable[str] | None = None) -> list[DiffEntry]:
        names = [self.layer(n).name for n in layers] if layers is not None else [s.name for s in self.layers()]
        entries = self.twin.diff(a, b, names)
        if not any(self._redaction(n) for n in names):
            return entries
        out = []
        for e in entries:
            r = self._redaction(e.layer) if e.feature_id != SCHEMA_ID else None
            if r is not None:
                e = dataclasses.replace(e, before=r.maybe(e.before), after=r.maybe(e.after))
                if e.kind == "modified" and e.before == e.after:
                    continue  # it changed only references this role may not see: no change to them
            out.append(e)
        return out

    # ------------------------------------------------------------------ writes
    def commit(
        self,
        changes: Sequence[Change],
        *,
        author: str,
        message: str,
        parent: str | None = "HEAD",
        time: datetime | None = None,
        strict: bool = False,
    ) -> CommitInfo:
        """A write through the view: only to layers the role may see (others are "no layer"), built
        on a commit it may see (a hidden one is "no commit"). Commits it cannot see touch only
        hidden layers, so the twin's per-feature rebase lands the write on top of them."""
        for name in {c.layer for c in changes}:
            self.layer(name)
        if parent is not None and parent != "HEAD":
            named = self.resolve(parent).commit
            parent = named.id if named else None
        changes = self._keeping_hidden_refs(changes, parent)
        # The layers' rules judge the write by what this role sees (a project's reference into a
        # hidden layer is one into no layer), so a refusal tells nothing a read would not.
        judge = _WriteJudge(self.twin, self.role) if self._hidden() else None
        made = self.twin.commit(
            changes, author=author, message=message, parent=parent, time=time, strict=strict, seen_by=judge
        )
        return self.present(made) or made

    def _keeping_hidden_refs(self, changes: Sequence[Change], parent: str | None) -> Sequence[Change]:
        """`changes` with the references their records have, as built on `parent`, into layers this
        role may not see put back (it read the records without them; see _kept_refs), so a write
        never drops what the writer was not shown. The layers' rules leave such references unjudged
        (they are the record's already: completion.reports.feature_ref_problems' `kept`)."""
        seen = self._seen()
        wanted: dict[str, list[str]] = {}
        for c in changes:
            if c.feature is not None and c.layer in seen.redactions:
                wanted.setdefault(c.layer, []).append(c.feature_id)
        if not wanted or parent is None:
            return changes
        at = self.twin.resolve(None if parent == "HEAD" else parent)
        stored = {
            layer: {fid: orjson.loads(b).get("properties") or {} for fid, b in
                    self.twin.features_by_id(layer, ids, at).items()}
            for layer, ids in wanted.items()
        }  # fmt: skip
        out = []
        for c in changes:
            had = stored.get(c.layer, {}).get(c.feature_id)
            if had is not None and c.feature is not None:
                props = dict(c.feature.properties)
                for f in seen.redactions[c.layer].fields:
                    if f in had:
                        kept = _kept_refs(props.get(f), had[f], seen.hidden)
                        if kept is not props.get(f):
                            props[f] = kept
                if props != c.feature.properties:
                    c = dataclasses.replace(c, feature=Feature(c.feature.id, c.feature.geometry, props))
            out.append(c)
        return out

    def create_layer(
        self, schema: LayerSchema | Mapping[str, Any], *, author: str, message: str | None = None
    ) -> CommitInfo:
        """A new layer (the routes that call this are for admins, who see every layer)."""
        made = self.twin.create_layer(schema, author=author, message=message)
        return self.present(made) or made

    def alter_layer(
        self, name: str, changes: Mapping[str, Any], *, author: str, message: str | None = None
    ) -> CommitInfo:
        self.layer(name)
        made = self.twin.alter_layer(name, changes, author=author, message=message)
        return self.present(made) or made

    # ------------------------------------------------------------------ survey rasters
    # Surveys are features of survey layers, so the visibility rule above applies to them as is.
    def surveys(self, ref: Ref | None = None, kind: str | None = None) -> list[SurveyInfo]:
        from twin.surveys import list_surveys

        return list_surveys(self, ref, kind)

    def survey(self, survey_id: str, ref: Ref | None = None) -> SurveyInfo:
        from twin.surveys import get_survey

        return get_survey(self, survey_id, ref)

    def survey_path(self, info: SurveyInfo) -> Path:
        self.layer(info.layer)
        return self.twin.survey_path(info)

    def import_survey(
        self,
        path: str | Path,
        *,
        kind: str,
        on: date,
        author: str,
        message: str | None = None,
        layer: str = "surveys",
    ) -> CommitInfo:
        from twin.surveys import import_survey

        made = import_survey(self, path, kind=kind, on=on, author=author, message=message, layer=layer)
        return self.present(made) or made


class _WriteJudge(TwinView):
    """The writer's view as a commit's layer rules read it (Twin.commit's `seen_by`): the layers the
    writer may see, read at the versions the twin hands the rules. The commit lands on the head,
    which may be a commit hidden from the writer (one to hidden layers only); the visible layers
    are there as at the nearest visible commit, so that version is read as it is, where
    TwinView.at_seq says "no commit" to a caller naming it. Never handed to a caller.

    It reads records with their references into hidden layers, as stored: a rule compares what
    the record had with what is written (which TwinView.commit put those references back into)."""

    _redacts = False

    def at_seq(self, seq: int) -> Ref:
        return self.twin.at_seq(seq)
