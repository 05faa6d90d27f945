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

from twin.errors import BadInput, NotFound
from twin.model import Change, CommitInfo, DiffEntry, HistoryEntry, LayerSchema

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
        self._hidden_kept: tuple[Mapping[str, LayerSchema], frozenset[str]] | None = None

    # ------------------------------------------------------------------ the rule
    def _hidden(self) -> frozenset[str]:
        # Asked several times per request; derived again only when the schemas are another object
        # (the store hands out one per commit), which holds the schemas it was derived from alive.
        schemas = self.twin.schema_map()
        kept = self._hidden_kept
        if kept is not None and kept[0] is schemas:
            return kept[1]
        hidden = frozenset(name for name, s in schemas.items() if not may_see(self.role, s))
        self._hidden_kept = (schemas, hidden)
        return hidden

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
                raise NotFound(f"{version} goes back past the first commit")
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
        return self.twin.features(layer, ref or self.resolve(), bbox=bbox, limit=limit, offset=offset, after=after)

    def quick_point_reads(self) -> bool:
        """Twin.quick_point_reads, and nothing hidden from this view: with a hidden layer, resolving
        a version may first build the visible history, which grows with the number of commits."""
        return self.twin.quick_point_reads() and not self._hidden()

    def quick_bbox_read(self, layer: str, bbox: BBox) -> bool:
        """Twin.quick_bbox_read, with nothing hidden from this view (see quick_point_reads)."""
        return not self._hidden() and self.twin.quick_bbox_read(layer, bbox)

    def feature(self, layer: str, feature_id: str, ref: Ref | None = None) -> bytes:
        self.layer(layer)
        return self.twin.feature(layer, feature_id, ref or self.resolve())

    def features_by_id(self, layer: str, feature_ids: Sequence[str], ref: Ref | None = None) -> dict[str, bytes]:
        self.layer(layer)
        return self.twin.features_by_id(layer, feature_ids, ref or self.resolve())

    def id_by_value(self, layer: str, field: str, value: Any) -> str | None:
        self.layer(layer)
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
        return self.twin.export_rows(layer, ref or self.resolve(), bbox)

    def tile(self, layer: str, z: int, x: int, y: int, ref: Ref | None = None, grid: str = "WebMercatorQuad") -> bytes:
        self.layer(layer)
        return self.twin.tile(layer, z, x, y, ref or self.resolve(), grid)

    def history(self, layer: str, feature_id: str) -> list[HistoryEntry]:
        self.layer(layer)
        out = []
        for h in self.twin.history(layer, feature_id):
            # Every commit that changed a visible layer is visible, so present() never drops one here.
            shown = self.present(h.commit)
            out.append(dataclasses.replace(h, commit=shown) if shown is not None else h)
        return out

    def layer_history(self, layer: str, after: Ref | None = None, upto: Ref | None = None) -> dict[str, list[HistoryEntry]]:
        self.layer(layer)
        got = self.twin.layer_history(layer, after, upto)
        if not self._hidden():
            return got
        return {
            fid: [dataclasses.replace(h, commit=self.present(h.commit) or h.commit) for h in entries]
            for fid, entries in got.items()
        }

    def diff(self, a: Ref, b: Ref, layers: Iterable[str] | None = None) -> list[DiffEntry]:
        names = [self.layer(n).name for n in layers] if layers is not None else [s.name for s in self.layers()]
        return self.twin.diff(a, b, names)

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
        # The layers' rules judge the write by what this role sees (a project's reference into a
        # hidden layer is one into no layer), so a refusal tells nothing a read would not.
        judge = _WriteJudge(self.twin, self.role) if self._hidden() else None
        made = self.twin.commit(
            changes, author=author, message=message, parent=parent, time=time, strict=strict, seen_by=judge
        )
        return self.present(made) or made

    def create_layer(self, schema: LayerSchema | Mapping[str, Any], *, author: str, message: str | None = None) -> CommitInfo:
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
    TwinView.at_seq says "no commit" to a caller naming it. Never handed to a caller."""

    def at_seq(self, seq: int) -> Ref:
        return self.twin.at_seq(seq)
