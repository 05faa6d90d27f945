"""The Twin: versioned reads and atomic, validated writes over any Store.

Everything a front end (CLI, API, maps) asks of the twin goes through here, so every front end
gets the same answers. The store only persists; resolving refs, validation, encoding, commit
ids, diffs and reverts live here once.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from datetime import time as dt_time
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from twin.access import TwinView, not_a_version, resolve_text
from twin.encode_worker import encoded_slices
from twin.encoding import counts_of, encode_changes, stored_commit_id, version_digest
from twin.errors import NOTHING_CHANGES, BadInput, Conflict, NotFound, Problem, ValidationFailed
from twin.gcpause import gc_paused_for
from twin.model import (
    SCHEMA_ID,
    Change,
    CommitInfo,
    DiffEntry,
    EncodedFeature,
    Feature,
    HistoryEntry,
    LayerSchema,
    StoredChange,
    by_layer,
)
from twin.qgis import Presentation
from twin.schema import Alteration, encode_schema, normalize_schema, plan_alteration, schema_from_dict
from twin.stores.base import BBox, ExportRow, Page, Store
from twin.surveys import SurveyInfo, survey_record_problems
from twin.tokens import Tokens
from twin.validation import check_changes, check_properties, commit_text_problem, fitted_message

if TYPE_CHECKING:
    from twin.tiles import TileCache

HEAD = "HEAD"  # a writer that does not care what it builds on

# A commit of this many changes, to a store that writes while it is given rows (PostGIS's COPY),
# makes its added features' bytes a slice at a time, handing each slice to the store while the
# server inserts the ones before (100,000 polygons into PostGIS: 2.1 → 1.6 s on a 2-core Xeon).
_STREAM_MIN = 20_000
_STREAM_SLICE = 5_000
# Numbers each Twin handle made in this process (Twin.state_key).
_HANDLES = itertools.count(1)

# Named domain rules. A layer's schema lists the rules its commits must pass (e.g. the project
# register names completion's progress-report rules), so they hold on every write path: API,
# CLI import, change file. The schema is stored in the twin, so the twin file says which apply.
# A rule judges the changes' ops, ids and properties: in a commit streamed to its store (see
# _STREAM_MIN) the versions of added features get their bytes after the rules have passed.
# A rule is handed the twin as the writer sees it: the whole twin, or (a write through a TwinView
# that hides layers) that view, so what it refuses and why tells nothing of the hidden layers.
CommitRule = Callable[["Twin | TwinView", Sequence[StoredChange], int, datetime, str], list[Problem]]
_RULES: dict[str, CommitRule] = {}
# The fields of a rule's layers that hold references to other layers' features ("layer/feature_id":
# a list of them, or one), named by the rule's module, which knows its records: a reader who may
# not see a layer reads such a field without the references into it (twin.access.TwinView).
_REFERENCES: dict[str, tuple[str, ...]] = {}


def register_rule(name: str, rule: CommitRule, references: Sequence[str] = ()) -> None:
    """Make `rule(twin, changes_to_layer, parent_seq, commit_time, author)` available to layers naming it;
    `references`: the fields of those layers that hold "layer/feature_id" references."""
    _RULES[name] = rule
    if references:
        _REFERENCES[name] = tuple(references)
    else:
        _REFERENCES.pop(name, None)


def reference_fields(schema: LayerSchema) -> tuple[str, ...]:
    """The fields of `schema`'s layer that hold references to features (by its rules, registered)."""
    return tuple(dict.fromkeys(f for rule in schema.rules for f in _REFERENCES.get(rule, ())))


# Presenters describe how desktop GIS should show a twin (twin.qgis: layer styles and a project).
# The Twin asks them after each commit and hands what they return to its store, which keeps it
# where such programs look (a GeoPackage's layer_styles and qgis_projects) or ignores it. A
# presenter returns None for a twin it has nothing to say about.
# `shows(twin, commit)` says whether a commit can change what the presenter shows (so an edit that
# cannot is not followed by a rewrite).
Presenter = Callable[["Twin"], Presentation | None]
ShowsCommit = Callable[["Twin", CommitInfo], bool]
_PRESENTERS: list[tuple[Presenter, ShowsCommit]] = []
log = logging.getLogger(__name__)


def register_presenter(presenter: Presenter, shows: ShowsCommit = lambda twin, commit: True) -> None:
    """Have `presenter(twin)` describe the twin's styles after every commit `shows` (once per presenter)."""
    if all(p is not presenter for p, _ in _PRESENTERS):
        _PRESENTERS.append((presenter, shows))


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
        # Names this handle in the caches' keys for as long as the process runs: id() would not do,
        # a handle freed leaves its id to the next one (a copy of the same history had the first
        # one's cached evidence flags though its survey files differed).
        self._handle = next(_HANDLES)
        self._presentation_hold = 0  # > 0 inside presentation_deferred()
        self._presentation_stale = False
        # What the stored presentation shows, as this handle last made it; its made_at is the head
        # up to which that is known to hold (no other writer committed between): refresh_presentation.
        self._presented: Presentation | None = None
        self._tiles: TileCache | None = None  # made by the first tile read (twin.tiles is heavy to import)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | Path) -> Twin:
        """The twin at a path or URL (see twin.stores.open_store)."""
        from twin.stores import open_store

        return cls(open_store(url))

    @classmethod
    def create(cls, url: str | Path, schemas: Sequence[LayerSchema], area_of_interest: BaseGeometry) -> Twin:
        """A new, empty twin at a path or URL; Conflict if one is there already."""
        from twin.stores import open_store

        store = open_store(url, create=True)
        try:
            store.initialize(schemas, area_of_interest)
        except BaseException:
            store.close()
            raise
        return cls(store)

    @staticmethod
    def exists(url: str | Path) -> bool:
        """Whether a twin (or, for a file path, any file) is at this path or URL."""
        from twin.stores import twin_exists

        return twin_exists(url)

    @staticmethod
    def remove(url: str | Path) -> None:
        """Delete the twin at this path or URL (for `venue-twin init --force`)."""
        from twin.stores import remove_twin

        remove_twin(url)

    @staticmethod
    def migrate(url: str | Path, *, lock_timeout: float | None = None) -> list[str]:
        """Create or upgrade the store's schema (PostGIS); the migration steps applied. `lock_timeout`:
        seconds to wait for locks other sessions hold on the twin's tables (None: the store's default)."""
        from twin.stores import migrate

        return migrate(url, lock_timeout=lock_timeout)

    def flush(self) -> None:
        """Make everything committed durable where other programs read it (e.g. GDAL reading a
        GeoPackage file), without closing."""
        self.store.flush()

    def warm(self, wait: bool = False) -> None:
        """Prepare the store's in-memory read structures (a server does at start-up), beside the
        reads; `wait` returns when they are ready."""
        self.store.warm(wait)

    def close(self) -> None:
        self.store.close()

    @property
    def tokens(self) -> Tokens:
        """The API's bearer tokens, kept in the store (server state, not history)."""
        return Tokens(self.store)

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ layers
    def layers(self, ref: Ref | None = None) -> list[LayerSchema]:
        """The layers now, or (given a ref) as they were then: schemas are versioned."""
        return list(self._schemas(ref).values())

    def layer(self, name: str, ref: Ref | None = None) -> LayerSchema:
        """A layer's schema now, or as of `ref` (NotFound if the layer did not exist yet)."""
        schemas = self._schemas(ref)
        try:
            return schemas[name]
        except KeyError:
            known = ", ".join(schemas)
            when = f" as of {ref.commit.id[:12]}" if ref is not None and ref.commit else ""
            raise NotFound(
                f"no layer {name!r}{when} (layers: {known})", code="no_layer", values={"layer": name}
            ) from None

    def _schemas(self, ref: Ref | None) -> dict[str, LayerSchema]:
        return self.store.schemas() if ref is None else self.store.schemas_at(ref.seq)

    def schema_map(self, ref: Ref | None = None) -> Mapping[str, LayerSchema]:
        """Layer name → schema, now or as of `ref`; the same object while the schemas are the same
        (the store keeps them per commit), so callers may key what they derive from it on it."""
        return self._schemas(ref)

    @property
    def area_of_interest(self) -> BaseGeometry:
        return self.store.area_of_interest()

    @property
    def read_only(self) -> str | None:
        """Why this process may only read the twin (the store's reason), or None when it may write."""
        return self.store.read_only

    def quick_point_reads(self) -> bool:
        """Whether reading one feature by id is a bounded local look-up: the store is a file this
        process reads itself, where a reader never waits for a lock, a connection or the network.
        The API then reads such a feature on its event loop: the look-up costs less than the hop
        to a worker thread (measured by `python -m bench.api_bench`)."""
        return self.store.local_reads

    def quick_bbox_read(self, layer: str, bbox: BBox) -> bool:
        """Whether reading this box of `layer` (at the head or before) is bounded work from the
        store's memory with at most a few local look-ups (Store.bbox_read_in_memory); the API then
        runs it on its event loop, as it does a point read."""
        return self.store.local_reads and self.store.bbox_read_in_memory(layer, bbox)

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
                raise NotFound(
                    f"{version} goes back past the first commit",
                    code="before_first_commit",
                    values={"version": version},
                )
            return Ref(self.store.commit_by_seq(seq) if seq else None)
        v = version.lower()
        if not re.fullmatch(r"[0-9a-f]{4,64}", v):
            raise not_a_version(version)
        found = self.store.commits_by_id_prefix(v)
        if not found:
            raise NotFound(f"no commit {version}")
        if len(found) > 1:
            raise BadInput(f"commit id prefix {version} is ambiguous; give more characters")
        return Ref(found[0])

    def resolve_text(self, text: str) -> Ref:
        """What a user types for a version: a commit id (or prefix), HEAD or HEAD~n, else a time or
        date (twin.access.resolve_text, which says how a version is named when it names none)."""
        return resolve_text(self, text)

    def log(self, limit: int = 50, offset: int = 0) -> list[CommitInfo]:
        return self.store.log(limit, offset)

    def commit_count(self) -> int:
        return self.store.commit_count()

    def first_commit(self) -> CommitInfo | None:
        return self.store.commit_by_seq(1) if self.store.commit_count() else None

    def changes(self, ref: Ref) -> list[tuple[str, str, str]]:
        """(layer, op, feature id) of each change the commit `ref` names made, by layer (a schema
        change first) and id, as a diff lists them: a store gives them in its own order."""
        if ref.commit is None:
            return []
        made = [(ch.layer, ch.op, ch.feature_id) for ch in self.store.changes_in(ref.seq)]
        return sorted(made, key=lambda c: (c[0], c[2] != SCHEMA_ID, c[2]))

    def at_seq(self, seq: int) -> Ref:
        """The version with this sequence number (0: the empty twin), for code handed a seq."""
        return Ref(self.store.commit_by_seq(seq) if seq else None)

    def state_key(self) -> tuple[Any, ...]:
        """Identifies this twin as it is now, for caches of answers derived from it."""
        head = self.store.head()
        return (self._handle, head.id if head else None)

    # ------------------------------------------------------------------ who sees what
    def for_role(self, role: str | None) -> TwinView:
        """The twin as `role` may see it (None: anonymous); see twin.access for the rule."""
        return TwinView(self, role)

    def present(self, commit: CommitInfo | None) -> CommitInfo | None:
        return commit  # the whole twin hides nothing (TwinView.present redacts)

    # ------------------------------------------------------------------ writes
    def commit(
        self,
        changes: Sequence[Change],
        *,
        author: str,
        message: str,
        parent: str | None = HEAD,
        time: datetime | None = None,
        strict: bool = False,
        copy_of_parent: bool = False,
        seen_by: TwinView | None = None,
    ) -> CommitInfo:
        """Validate and write `changes` as one commit on top of the head.

        `parent` (a commit id, None for the empty twin, or HEAD for no check) names the version
        the writer built on. When the head has moved past it, the commit is rebased onto the head
        if every feature it touches is as it was at `parent` and no code it gives was taken
        since; otherwise it raises Conflict naming what changed. `strict` demands that `parent`
        is still the head. The recorded parent is the head the commit lands on, so history stays
        linear and the id a function of (parent, metadata, changes).

        `copy_of_parent`: the changes give the features as a copy of the layer read at `parent` has
        them (an exported file brought back, Kart's working copy): a feature given exactly as it was
        at `parent` was not touched there, so it is no change, and what others changed in it since
        stays; only the features the copy changed are checked against the head.

        `seen_by`: the twin as the writer may see it (TwinView.commit's, when it hides layers): the
        layers' rules judge the changes by it, so a reference into a hidden layer is no layer.

        Raises ValidationFailed with every problem, or Conflict; in both cases nothing is written.
        """
        with gc_paused_for(len(changes)):  # a big commit's objects live to its end (twin.gcpause)
            return self._commit(changes, author, message, parent, time, strict, copy_of_parent, seen_by)

    def _commit(
        self,
        changes: Sequence[Change],
        author: str,
        message: str,
        parent: str | None,
        time: datetime | None,
        strict: bool,
        copy_of_parent: bool = False,
        seen_by: TwinView | None = None,
    ) -> CommitInfo:
        if not changes:
            raise BadInput("a commit needs at least one change")
        _check_commit_text(author, message)
        base: Ref | None = None if parent == HEAD else self.resolve(parent) if parent is not None else Ref(None)
        # Validated against the schemas of the head as it is now, and checked again under the lock
        # in the rare case that a layer's schema changed meanwhile (another handle altered it).
        before = self.store.head()
        schemas = self.store.schemas_at(before.seq if before else 0)
        streamed = self.store.streams_versions and len(changes) >= _STREAM_MIN
        problems, known, encoded = self._prepare(changes, schemas, encode=not streamed)
        given = _as_utc(time) if time is not None else None
        # The write lock is held from reading the head to writing the commit, so the head checked
        # against is the head written on, across threads and processes (the API runs several
        # workers on one file). A check-then-retry loop would need no lock but can starve a writer
        # under steady contention; the lock costs only the few milliseconds a small commit takes.
        with self.store.writing():
            head = self.store.head()
            parent_seq = head.seq if head else 0
            landing = self.store.schemas_at(parent_seq)
            if landing != schemas:
                schemas = landing
                problems, known, encoded = self._prepare(changes, schemas, encode=not streamed)
            # Taken under the lock, so commits that queued for it get times in the order they land.
            when = given or datetime.now(UTC)
            if given is not None:
                _check_time(head, given)  # before the layers' rules, which judge reports by this time
            since: Ref | None = None  # what the writer built on, when the head has moved past it
            if base is not None and (base.commit.id if base.commit else None) != (head.id if head else None):
                if strict:
                    raise Conflict(f"the twin moved on: head is {head.id if head else '(empty)'}, not {_short(base)}")
                since = base
                then = self._stored_at(known, since.seq) if since.seq else {}  # read once for both
                if copy_of_parent:
                    known, encoded = self._touched_since(known, encoded, then)
                known, encoded = self._check_unchanged(known, encoded, then, since, parent_seq, copy_of_parent)
            if encoded is None:
                # Streamed: the adds are encoded while the store writes (below); the rest now.
                stored, more, adds = self._resolve_streamed(known, parent_seq)
                judged = [*stored, *(StoredChange(ch.layer, "add", ch.feature_id, _unencoded(ch)) for ch in adds)]
            else:
                stored, more = self._resolve_ops(known, encoded, parent_seq)
                adds, judged = [], stored
            problems.extend(more)
            code_problems, taken = self._check_codes(judged, schemas, parent_seq, since.seq if since else None)
            if taken:
                assert since is not None
                raise Conflict(f"the twin moved on since {_short(since)}: " + "; ".join(str(p) for p in taken[:10]))
            problems.extend(code_problems)
            # A survey's record is written by the survey importer alone (the rule and why: twin.surveys).
            problems.extend(survey_record_problems(judged))
            if not judged and not problems:
                problems.append(
                    Problem("*", None, "nothing changes: every feature is already as given", NOTHING_CHANGES)
                )
            if not problems:
                for layer, chs in by_layer(judged).items():
                    for name in schemas[layer].rules:
                        if name not in _RULES:
                            raise BadInput(
                                f"layer {layer} needs the rule {name!r}, which is not loaded (import its module)"
                            )
                        problems.extend(
                            _RULES[name](self if seen_by is None else seen_by, chs, parent_seq, when, author)
                        )
            if problems:
                raise ValidationFailed(problems)
            if adds:
                info = self._write_streamed(head, author, message, when, stored, adds)
            else:
                info = self._write(head, head.id if head else None, author, message, when, stored)
        self._presented_commit(info)
        return info

    def _presented_commit(self, info: CommitInfo) -> None:
        """After a commit: the presentation (QGIS styles, project) made again if it can show it."""
        if self.store.keeps_presentation and any(shows(self, info) for _, shows in _PRESENTERS):
            self._presentation_changed(info.parent)

    # ------------------------------------------------------------------ presentation
    def refresh_presentation(self, after: str | None = None) -> bool:
        """Ask the presenters how the twin shows at its head and have the store keep it; whether
        anything was written (False: no presenter knows this twin, or the store keeps no styles).

        `after` (a commit just made on this handle, by its parent's id): not written again when it
        shows what this handle last wrote and nobody else has committed since. Writing costs far
        more than deciding (a register of 5,000 projects: styles naming every project by status,
        about 0.15 s of XML and writes per report), and most reports move no project to another
        status."""
        self._presentation_stale = False
        for presenter, _ in _PRESENTERS:
            p = presenter(self)
            if p is not None:
                last = self._presented
                if after is not None and last is not None and last.made_at == after and p.shows_same(last):
                    self._presented = p  # the stored one shows the same, now known up to this head
                    return False
                written = self.store.write_presentation(p)
                self._presented = p if written else None
                return written
        return False

    @contextlib.contextmanager
    def presentation_deferred(self) -> Iterator[None]:
        """Commits inside refresh the presentation once, at the end (building a twin of many commits)."""
        self._presentation_hold += 1
        try:
            yield
        finally:
            self._presentation_hold -= 1
            if not self._presentation_hold and self._presentation_stale:
                self._presentation_changed()

    def _presentation_changed(self, after: str | None = None) -> None:
        if not _PRESENTERS:
            return
        if self._presentation_hold:
            self._presentation_stale = True
            return
        try:
            self.refresh_presentation(after)
        except Exception:  # derived from the history, which is committed: never fail the commit for it
            log.exception("could not refresh the twin's layer styles and project")

    def _prepare(
        self, changes: Sequence[Change], schemas: Mapping[str, LayerSchema], *, encode: bool = True
    ) -> tuple[list[Problem], list[Change], list[EncodedFeature | None] | None]:
        """Validation problems, the changes to known layers, and their encodings (the costly part of
        a big commit, done before the write lock is taken; None unless `encode`)."""
        # Unknown layers, unusable ids and ops are reported by validation, which hands on the rest.
        problems, known = check_changes(changes, dict(schemas), self.store.area_of_interest())
        return problems, known, encode_changes(known) if encode else None

    def _touched_since(
        self,
        changes: list[Change],
        encoded: list[EncodedFeature | None] | None,
        then: Mapping[str, Mapping[str, bytes]],
    ) -> tuple[list[Change], list[EncodedFeature | None] | None]:
        """The changes (and their encodings) that give a feature otherwise than it was at the parent
        (`then`: _stored_at's bytes there): an add or upsert of one that had these very bytes
        there, or a delete of one absent there, is what the copy read, not an edit of it."""
        # A streamed commit (encoded None) encodes its adds again while it writes: that second pass
        # is the price of comparing here, paid only by a copy brought back onto a moved head.
        mine = encoded if encoded is not None else encode_changes(changes)
        keep = [
            not (
                (ch.op == "delete" and ch.feature_id not in then.get(ch.layer, {}))
                or (enc is not None and then.get(ch.layer, {}).get(ch.feature_id) == enc.geojson)
            )
            for ch, enc in zip(changes, mine, strict=True)
        ]
        kept = [ch for ch, k in zip(changes, keep, strict=True) if k]
        if encoded is None:
            return kept, None
        return kept, [enc for enc, k in zip(encoded, keep, strict=True) if k]

    def _check_unchanged(
        self,
        changes: list[Change],
        encoded: list[EncodedFeature | None] | None,
        then: Mapping[str, Mapping[str, bytes]],
        since: Ref,
        head_seq: int,
        copy: bool = False,
    ) -> tuple[list[Change], list[EncodedFeature | None] | None]:
        """Raise Conflict naming the features these changes touch that changed after `since` (`then`:
        their stored bytes at `since`, as _stored_at gives them) to something other than they give.

        A feature counts as unchanged when the same stored bytes are visible at both commits
        (absent at both, for an add: one another writer added since, say with the same id, is a
        conflict named as added, not bad input). In a `copy` (copy_of_parent), one changed since to
        exactly what the copy gives (the same bytes, or deleted by both) is the same change made on
        both sides, as Kart merges it (an edited export imported again after an earlier import of
        it): no conflict, and no change left to make, so it is left out of what is returned (the
        changes and their encodings). A change file or an API edit naming a stale parent is still
        told that the twin moved on.
        """
        changed: list[str] = []
        same: set[tuple[str, str]] = set()
        gives: dict[tuple[str, str], bytes | None] | None = None  # what each change makes of its feature
        for layer, ids in _ids_by_layer(changes).items():
            before = then.get(layer, {})
            now = self.store.features_by_id(layer, ids, head_seq) if head_seq else {}
            for fid in dict.fromkeys(ids):
                was, is_ = before.get(fid), now.get(fid)
                if was != is_ and copy:
                    if gives is None:  # only once some feature moved (a streamed commit encodes here too)
                        mine = encoded if encoded is not None else encode_changes(changes)
                        gives = {
                            (ch.layer, ch.feature_id): enc.geojson if enc is not None else None
                            for ch, enc in zip(changes, mine, strict=True)
                        }
                    if gives.get((layer, fid), b"") == is_:
                        same.add((layer, fid))
                        continue
                if was != is_:
                    how = "was added" if was is None else "was deleted" if is_ is None else "changed"
                    changed.append(f"{layer}/{fid} {how} since")
        if changed:
            shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
            raise Conflict(f"the twin moved on since {_short(since)}: {shown}; read again and retry")
        if not same:
            return changes, encoded
        keep = [(ch.layer, ch.feature_id) not in same for ch in changes]
        kept = [ch for ch, k in zip(changes, keep, strict=True) if k]
        return kept, None if encoded is None else [enc for enc, k in zip(encoded, keep, strict=True) if k]

    def _parent(self, parent: str | None, author: str) -> tuple[CommitInfo | None, str | None, int]:
        """The head, the parent a write names (checked to be the head) and its seq."""
        _check_commit_text(author, "")  # its message is checked where it is written (_write)
        head = self.store.head()
        if parent == HEAD:
            parent = head.id if head else None
        elif parent is not None:
            named = self.resolve(parent).commit
            parent = named.id if named else None
        if (head.id if head else None) != parent:
            raise Conflict(f"the twin moved on: head is {head.id if head else '(empty)'}, not {parent}")
        return head, parent, head.seq if head else 0

    def _write(
        self,
        head: CommitInfo | None,
        parent: str | None,
        author: str,
        message: str,
        when: datetime,
        stored: list[StoredChange],
    ) -> CommitInfo:
        _check_time(head, when)
        _check_commit_text(author, message)
        cid = stored_commit_id(parent, author, message, when, stored)
        info = CommitInfo(cid, (head.seq if head else 0) + 1, parent, author, message, when, counts_of(stored))
        self.store.apply(info, stored)
        return info

    # ------------------------------------------------------------------ layer administration
    def create_layer(
        self,
        schema: LayerSchema | Mapping[str, Any],
        *,
        author: str,
        message: str | None = None,
        parent: str | None = HEAD,
        time: datetime | None = None,
    ) -> CommitInfo:
        """Create a layer as one commit (its first schema version; see twin.schema).

        BadInput for a schema that is not valid (names, types, roles, unknown rules), Conflict
        if the name is taken."""
        schema = schema_from_dict(schema) if isinstance(schema, Mapping) else normalize_schema(schema)
        missing = [r for r in schema.rules if r not in _RULES]
        if missing:
            raise BadInput(f"layer {schema.name}: unknown rule(s) {', '.join(missing)} (known: {', '.join(_RULES)})")
        # Under the write lock, like every commit: the head checked is the head written on.
        with self.store.writing():
            head, parent, parent_seq = self._parent(parent, author)
            if self._ever_existed(schema.name):
                raise Conflict(f"layer {schema.name} exists already")
            when = _as_utc(time) if time is not None else datetime.now(UTC)
            stored = [StoredChange(schema.name, "add", SCHEMA_ID, encode_schema(schema))]
            restricted = f", restricted to {', '.join(schema.restricted_to)}" if schema.restricted_to else ""
            info = self._write(head, parent, author, message or f"Create layer {schema.name}{restricted}", when, stored)
        self._presented_commit(info)  # a layer the presentation styles may have come
        return info

    def _ever_existed(self, name: str) -> bool:
        try:
            self.store.versions_of(name, SCHEMA_ID)
        except NotFound:
            return False
        return True

    def alter_layer(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        author: str,
        message: str | None = None,
        parent: str | None = HEAD,
        time: datetime | None = None,
    ) -> CommitInfo:
        """Change a layer's schema as one commit (see twin.schema.plan_alteration for `changes`).

        Features whose properties a rename, drop or default changes get a new version in the same
        commit. Refused with ValidationFailed naming the features if any existing feature would
        break the new schema (a new required field without a default, narrowed allowed values or
        geometry types, a code field with duplicate values); nothing is written then."""
        # Under the write lock, like every commit: the head checked is the head written on.
        with self.store.writing():
            head, parent, parent_seq = self._parent(parent, author)
            old = self.layer(name, Ref(head))
            plan = plan_alteration(old, changes, f"layer {name}")
            new = plan.new
            missing = [r for r in new.rules if r not in _RULES and r not in old.rules]
            if missing:
                raise BadInput(f"layer {name}: unknown rule(s) {', '.join(missing)} (known: {', '.join(_RULES)})")
            stored = [StoredChange(name, "modify", SCHEMA_ID, encode_schema(new))]
            if plan.touches_data:
                rewritten, problems = self._migrate(plan, parent_seq)
                if problems:
                    raise ValidationFailed(problems)
                stored.extend(rewritten)
            when = _as_utc(time) if time is not None else datetime.now(UTC)
            text = message or f"Alter layer {name}: " + "; ".join(plan.summary)
            info = self._write(head, parent, author, text, when, stored)
        self._presented_commit(info)  # a field its style reads renamed or dropped (it was left stale)
        return info

    def _migrate(self, plan: Alteration, parent_seq: int) -> tuple[list[StoredChange], list[Problem]]:
        """Every feature of the layer under the new schema: the new versions a rename, drop or
        default makes, and every reason the alteration would make a feature break the schema.

        What a feature already broke under the old schema (a value written under older rules, a
        legacy import) is not the alteration's doing and does not refuse it, or a rename of an
        unrelated field would wait on a clean-up of old data: the feature is carried over with its
        properties renamed, dropped and defaulted as the others, its old problems as they were (the
        layer check still shows them). A problem the alteration adds to it refuses as ever."""
        old, new, name = plan.old, plan.new, plan.new.name
        problems: list[Problem] = []
        changed: list[Change] = []
        codes: dict[Any, str] = {}
        # A code given twice before the alteration was the old schema's to refuse, not this one's.
        code_kept = (
            old.code_field is not None
            and plan.renames.get(old.code_field, old.code_field) == new.code_field
            and new.code_field not in plan.defaults
        )
        for row in self.store.export_rows(name, parent_seq):
            props: dict[str, Any] = orjson.loads(row.properties)
            moved = {plan.renames.get(k, k): v for k, v in props.items() if k not in plan.drops}
            for k, v in plan.defaults.items():
                if moved.get(k) is None:
                    moved[k] = v
            clean, whys = check_properties(new, moved)
            if whys:
                before = check_properties(old, props)[1]
                had = {(w.code, plan.renames.get(str(w.args.get("field")), w.args.get("field"))) for w in before}
                added = [w for w in whys if (w.code, w.args.get("field")) not in had]
                problems.extend(Problem(name, row.feature_id, w.text, w.code, w.args) for w in added)
                if added:
                    continue
                clean = {**moved, **clean}  # the values it broke the schema with, kept as they were
            geom = shapely.from_wkb(row.wkb) if row.wkb is not None else None
            if new.spatial and geom is not None:
                kind = geom.geom_type
                if kind not in new.geometry_types and kind in old.geometry_types:
                    problems.append(
                        Problem(
                            name,
                            row.feature_id,
                            f"geometry is a {kind}; the new schema takes {', '.join(new.geometry_types)}",
                        )
                    )
            code = clean.get(new.code_field) if new.code_field else None
            if code is not None:
                if code in codes and not code_kept:
                    problems.append(
                        Problem(name, row.feature_id, f"{new.code_field} {code!r} is also given to {codes[code]}")
                    )
                codes[code] = row.feature_id
            if clean != props:
                changed.append(Change(name, "modify", row.feature_id, Feature(row.feature_id, geom, clean)))
        encoded = encode_changes(changed)
        stored = [StoredChange(name, "modify", ch.feature_id, enc) for ch, enc in zip(changed, encoded, strict=True)]
        return stored, problems

    def _resolve_ops(
        self,
        changes: Sequence[Change],
        encoded: Sequence[EncodedFeature | None],
        parent_seq: int,
        existing: dict[str, dict[str, bytes]] | None = None,
    ) -> tuple[list[StoredChange], list[Problem]]:
        """Turn upserts into adds or modifies and check adds, modifies and deletes against the parent
        (`existing`: what _stored_at gives for these changes, when the caller has it already)."""
        problems: list[Problem] = []
        layers = [ch.layer for ch in changes]
        ids = [ch.feature_id for ch in changes]
        ops = [ch.op for ch in changes]
        if existing is None:
            existing = self._stored_at(changes, parent_seq)
        if not any(existing.values()) and set(ops) <= {"add", "upsert"}:
            # Nothing of these layers exists yet and every change adds (a first import): each is an add.
            return list(map(StoredChange, layers, repeat("add"), ids, encoded)), problems  # type: ignore[arg-type]
        stored: list[StoredChange] = []
        for layer, fid, op, enc in zip(layers, ids, ops, encoded, strict=True):
            before = existing[layer].get(fid)
            if op == "upsert":
                op = "modify" if before is not None else "add"
            if op == "add" and before is not None:
                problems.append(Problem(layer, fid, "a feature with this id exists already"))
                continue
            if op in ("modify", "delete") and before is None:
                problems.append(Problem(layer, fid, "no such feature to " + op))
                continue
            if op == "modify" and enc is not None and before == enc.geojson:
                continue  # unchanged: not a change, so no new version
            stored.append(StoredChange(layer, op, fid, enc))
        return stored, problems

    def _stored_at(self, changes: Sequence[Change], seq: int) -> dict[str, dict[str, bytes]]:
        """The stored bytes at `seq` of the features these changes name, by layer and id."""
        return {
            # An empty layer (a first import, say) has nothing to look up: its count is a lookup.
            layer: self.store.features_by_id(layer, ids, seq) if seq and self.store.count(layer, seq) else {}
            for layer, ids in _ids_by_layer(changes).items()
        }

    def _resolve_streamed(
        self, changes: Sequence[Change], parent_seq: int
    ) -> tuple[list[StoredChange], list[Problem], list[Change]]:
        """As _resolve_ops, for a streamed commit: the changes that meet no feature at the parent and
        add one are handed back unencoded (their bytes are made while the store writes); the
        others are encoded and resolved now, since an unchanged modify is no change."""
        existing = self._stored_at(changes, parent_seq)
        adds: list[Change] = []
        others: list[Change] = []
        for ch in changes:
            (adds if ch.op in ("add", "upsert") and ch.feature_id not in existing[ch.layer] else others).append(ch)
        if not others:
            return [], [], adds
        return *self._resolve_ops(others, encode_changes(others), parent_seq, existing), adds

    def _write_streamed(
        self,
        head: CommitInfo | None,
        author: str,
        message: str,
        when: datetime,
        stored: list[StoredChange],
        adds: Sequence[Change],
    ) -> CommitInfo:
        """_write for a streamed commit: `stored`, then `adds` encoded a slice at a time while the
        store writes the slices before; the commit id, made of every version's bytes, comes last."""
        _check_time(head, when)
        parent = head.id if head else None
        made: list[StoredChange] = []
        digests: list[str] = []  # made with each slice, while the store writes the one before

        def slices() -> Generator[list[StoredChange], None, None]:
            # closed as soon as the store is done with it, or fails: the encoder's child ends with it
            with contextlib.closing(encoded_slices(adds, _STREAM_SLICE, encode_changes)) as encoding:
                for encoded, their_digests in encoding:
                    made_now = [StoredChange(e.layer, "add", e.feature_id, e) for e in encoded]
                    made.extend(made_now)
                    digests.extend(their_digests)
                    yield made_now

        def commit() -> CommitInfo:
            every = [*stored, *made]
            stored_digests = [version_digest(ch.version.geojson if ch.version else None) for ch in stored]
            cid = stored_commit_id(parent, author, message, when, every, [*stored_digests, *digests])
            return CommitInfo(cid, (head.seq if head else 0) + 1, parent, author, message, when, counts_of(every))

        with contextlib.closing(slices()) as parts:  # a store that fails part way: the encoder stops here
            return self.store.apply_streamed(parent, stored, parts, commit)

    def _check_codes(
        self, stored: Sequence[StoredChange], schemas: dict[str, LayerSchema], head_seq: int, since: int | None
    ) -> tuple[list[Problem], list[Problem]]:
        """A layer's human code (its schema's code_field) names one feature at a time.

        Returns the problems, and separately those codes that were free at `since` (the parent
        a rebased commit was built on) and were taken after it: a conflict, not bad input.
        """
        problems: list[Problem] = []
        taken: list[Problem] = []
        for layer, chs in by_layer(stored).items():
            code = schemas[layer].code_field
            if code is None:
                continue
            fids = [ch.feature_id for ch in chs]
            wanted: dict[Any, str] = {}
            for fid, ch in zip(fids, chs, strict=True):
                value = ch.version.properties.get(code) if ch.version else None
                if value is None:
                    continue
                if value in wanted and wanted[value] != fid:
                    problems.append(Problem(layer, fid, f"{code} {value!r} is also given to {wanted[value]}"))
                wanted[value] = fid
            if not wanted or head_seq == 0 or self.store.count(layer, head_seq) == 0:
                continue
            changing = set(fids)
            # ids_by_value reads the head state, which the write lock keeps the state written on.
            clashes = {
                value: holder
                for value, holder in self.store.ids_by_value(layer, code, list(wanted)).items()
                if holder != wanted[value] and holder not in changing
            }
            then = self.store.features_by_id(layer, list(clashes.values()), since) if since and clashes else {}
            for value, holder in clashes.items():
                held = holder in then and orjson.loads(then[holder])["properties"].get(code) == value
                if since is not None and not held:
                    taken.append(Problem(layer, wanted[value], f"{code} {value!r} was given to feature {holder} since"))
                else:
                    problems.append(Problem(layer, wanted[value], f"{code} {value!r} already names feature {holder}"))
        return problems, taken

    def revert(self, version: str, *, author: str, message: str | None = None) -> CommitInfo:
        """A new commit that undoes `version`; refused if a feature it touched changed since."""
        target = self.resolve(version).commit
        if target is None:
            raise BadInput("nothing to revert: the twin is empty")
        head = self.store.head()
        assert head is not None
        undo: list[Change] = []
        later: list[Problem] = []
        changes = self.store.changes_in(target.seq)
        altered = sorted({ch.layer for ch in changes if ch.feature_id == SCHEMA_ID})
        if altered:
            raise BadInput(
                f"commit {target.id[:12]} changed the schema of {', '.join(altered)}: undo a schema change "
                "with `venue-twin layer alter`, not revert"
            )
        for ch in changes:
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
            undo,
            author=author,
            # the message quoted cut to fit, and shown as text should be (it may be from before the rules)
            message=message or fitted_message(f"Revert {target.id[:12]}: {target.message}"),
            parent=head.id,
        )

    # ------------------------------------------------------------------ reads
    # A read by feature id or cursor reaches a store only as text a stored id could be: an id that
    # holds a NUL can never exist (every write refuses it, twin.validation.id_problem, and
    # PostgreSQL's text cannot hold one, so its store could not even be asked). Decided here, once
    # for every store (tests/store_contract.py): a read by such an id finds nothing, and a cursor
    # holding one pages as it does on a store that compares it (`_cursor`).
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
        ref = ref or self.resolve()
        self.layer(layer, ref)
        if bbox is not None:
            _check_bbox(bbox)
        if (limit is not None and limit < 0) or offset < 0:
            raise BadInput("limit and offset must not be negative")
        after = None if after is None else _cursor(after)
        return self.store.features(layer, ref.seq, bbox=bbox, limit=limit, offset=offset, after=after)

    def feature(self, layer: str, feature_id: str, ref: Ref | None = None) -> bytes:
        ref = ref or self.resolve()
        self.layer(layer, ref)
        got = None if _never_an_id(feature_id) else self.store.feature(layer, feature_id, ref.seq)
        if got is None:
            where = f" as of {ref.commit.id[:12]}" if ref.commit else ""
            raise NotFound(
                f"no feature {feature_id!r} in layer {layer}{where}",
                code="no_feature",
                values={"feature": feature_id, "layer": layer},
            )
        return got

    def features_by_id(self, layer: str, feature_ids: Sequence[str], ref: Ref | None = None) -> dict[str, bytes]:
        """The stored bytes of those of `feature_ids` that exist as of `ref`, in the order asked (a
        store answers in its own order: PostGIS's is its heap's)."""
        self.layer(layer)
        seq = (ref or self.resolve()).seq
        ids = [fid for fid in feature_ids if not _never_an_id(fid)]
        found = self.store.features_by_id(layer, ids, seq) if seq and ids else {}
        return {fid: found[fid] for fid in dict.fromkeys(ids) if fid in found}

    def id_by_value(self, layer: str, field: str, value: Any) -> str | None:
        """At the head: the feature whose `field` holds `value` (a layer's human code), if any."""
        self.layer(layer)
        return self.store.ids_by_value(layer, field, [value]).get(value)

    def count(self, layer: str, ref: Ref | None = None) -> int:
        ref = ref or self.resolve()
        self.layer(layer, ref)
        return self.store.count(layer, ref.seq)

    def feature_ids(self, layer: str, ref: Ref | None = None) -> list[str]:
        ref = ref or self.resolve()
        self.layer(layer, ref)
        return self.store.feature_ids(layer, ref.seq)

    def extent(self, layer: str, ref: Ref | None = None) -> BBox | None:
        ref = ref or self.resolve()
        self.layer(layer, ref)
        return self.store.extent(layer, ref.seq)

    def export_rows(self, layer: str, ref: Ref | None = None, bbox: BBox | None = None) -> Iterator[ExportRow]:
        ref = ref or self.resolve()
        self.layer(layer, ref)
        return self.store.export_rows(layer, ref.seq, bbox)

    def tile(
        self,
        layer: str,
        z: int,
        x: int,
        y: int,
        ref: Ref | None = None,
        grid: str = "WebMercatorQuad",
        redacted: tuple[Hashable, Callable[[bytes], bytes]] | None = None,
    ) -> bytes:
        """The Mapbox Vector Tile of `layer` at tile (z, x=column, y=row) of `grid` (WebMercatorQuad
        or WorldCRS84Quad), as of `ref` (see twin.tiles). NotFound for a layer without geometry or
        another grid, BadInput for a tile off the grid. `redacted` (a name for the rewrite and the
        rewrite of a row's properties JSON) is how a reader who may not see everything reads it
        (twin.access): the tile is then made from the rewritten rows, never by the store's encoder,
        and kept apart from the tile as stored."""
        from twin import tiles

        ref = ref or self.resolve()
        schema = self.layer(layer, ref)
        if not schema.spatial:
            raise NotFound(f"layer {layer} holds records without geometry, so it has no tiles")
        # A tile of a committed version never changes (history is append-only), on any store: kept
        # by (layer, commit, tile), except inside a write on this thread, whose state may roll back.
        if self._tiles is None:
            self._tiles = tiles.TileCache.from_environment()
        key = (layer, ref.seq, grid, z, x, y, redacted[0] if redacted else None)
        cacheable = not self.store.writing_here()
        if cacheable and (kept := self._tiles.get(key)) is not None:
            return kept
        bounds = tiles.grid_bounds(z, x, y, grid)
        body = None
        if redacted is None:
            body = self.store.mvt(
                layer,
                ref.seq,
                bounds,
                extent=tiles.EXTENT,
                buffer=tiles.BUFFER,
                layer_name=layer,
                srid=tiles.GRID_SRID[grid],
            )
        if body is None:
            near = tiles.lonlat_bbox(tiles.buffered(bounds), grid)
            rows: Iterable[ExportRow] = self.store.export_rows(layer, ref.seq, near) if ref.seq else []
            if redacted is not None:
                rewrite = redacted[1]
                rows = (replace(r, properties=rewrite(r.properties)) for r in rows)
            body = tiles.encode_rows(
                rows, bounds, layer, field_types={f.name: f.type for f in schema.fields}, grid=grid
            )
        if cacheable:
            self._tiles.put(key, body)
        return body

    def history(self, layer: str, feature_id: str) -> list[HistoryEntry]:
        """Every version of a feature, oldest first, with a final entry if it was deleted."""
        self.layer(layer)
        rows = [] if _never_an_id(feature_id) else self.store.versions_of(layer, feature_id)
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

    def layer_history(
        self, layer: str, after: Ref | None = None, upto: Ref | None = None
    ) -> dict[str, list[HistoryEntry]]:
        """Every version of every feature of ``layer`` made after ``after`` (default: the beginning) up
        to ``upto`` (default: the head), by feature id, oldest first, as ``history`` gives one feature's
        (with a final "delete" entry for a feature deleted in the range; ``ended_by`` is None for a
        version still current at ``upto``).

        One read of the store instead of one per feature: for figures derived from a whole layer's
        history, such as every project's progress reports.
        """
        self.layer(layer)
        head = self.store.head()
        hi = (upto or Ref(head)).seq
        lo = after.seq if after else 0
        if head is None or hi <= lo:
            return {}
        commits = {c.seq: c for c in self.store.log(hi - lo, head.seq - hi)}
        rows: dict[str, list[Any]] = {}
        for r in self.store.versions_changed_between(lo, hi, [layer]):
            if r.from_seq > lo:  # skip a version begun before the range (only its end falls inside)
                rows.setdefault(r.feature_id, []).append(r)
        out: dict[str, list[HistoryEntry]] = {}
        for fid, versions in rows.items():
            versions.sort(key=attrgetter("from_seq"))  # the store gives them in no order (PostGIS: its heap's)
            entries = out[fid] = []
            for i, r in enumerate(versions):
                end = r.to_seq if r.to_seq is not None and r.to_seq <= hi else None
                entries.append(HistoryEntry(commits[r.from_seq], commits[end].id if end else None, r.geojson, r.op))
                nxt = versions[i + 1].from_seq if i + 1 < len(versions) else None
                if end is not None and nxt != end:
                    entries.append(HistoryEntry(commits[end], None, None, "delete"))
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
        # A layer's schema versions pair like a feature's (feature_id SCHEMA_ID), so a created
        # layer or an altered schema is an entry of that layer: whoever may see the layer sees it.
        rows = itertools.chain(
            self.store.schema_versions_between(lo, hi, names), self.store.versions_changed_between(lo, hi, names)
        )
        for r in rows:
            key = (r.layer, r.feature_id)
            slot = state.setdefault(key, [None, None])
            if r.from_seq <= lo:  # the version visible at lo, closed inside the range
                slot[0] = r.geojson
            if r.to_seq is None or r.to_seq > hi:  # visible at hi (it began inside the range)
                slot[1] = r.geojson
        out: list[DiffEntry] = []
        for (layer, fid), (old, new) in sorted(
            state.items(), key=lambda kv: (kv[0][0], kv[0][1] != SCHEMA_ID, kv[0][1])
        ):
            if not forward:
                old, new = new, old
            if old == new:
                continue  # both None (lived and died inside the range) or put back as it was
            kind = "added" if old is None else "deleted" if new is None else "modified"
            out.append(DiffEntry(layer, fid, kind, old, new))  # type: ignore[arg-type]
        return out

    # ------------------------------------------------------------------ integrity
    def fsck(self) -> list[str]:
        """Recompute every commit id from the stored versions and check the store; [] when clean.

        A store whose contents cannot be read where fsck reads them (a damaged file: the store's
        `unreadable` errors) is reported as damaged, with the problems found before it, not raised."""
        problems: list[str] = []
        reading = ["the store's history"]  # what fsck reads now, to say where damage was met
        try:
            self._fsck_history(problems, reading)
            reading[0] = "the store's own check"
            problems.extend(self.store.check())
        except self.store.unreadable as e:
            return [*problems, f"{reading[0]} cannot be read, the store is damaged: {e}"]
        from twin.surveys import check_survey_files

        problems.extend(check_survey_files(self))
        return problems

    def _fsck_history(self, problems: list[str], reading: list[str]) -> None:
        """fsck's walk through the commits, adding what it finds to `problems` and naming the commit
        it reads in `reading[0]`."""
        n = self.store.commit_count()
        prev: CommitInfo | None = None
        running: dict[str, int] = {}
        for seq in range(1, n + 1):
            reading[0] = f"commit number {seq}"
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
            for layer in self.store.schemas_at(seq):
                if self.store.count(layer, seq) != running.get(layer, 0):
                    problems.append(
                        f"commit {c.id[:12]} (#{seq}): feature total of {layer} is {self.store.count(layer, seq)}, "
                        f"its history adds up to {running.get(layer, 0)}"
                    )
            prev = c

    # ------------------------------------------------------------------ survey rasters (twin.surveys)
    def surveys(self, ref: Ref | None = None, kind: str | None = None) -> list[SurveyInfo]:
        """The survey rasters recorded as of `ref` (default HEAD), oldest flight first."""
        from twin.surveys import list_surveys

        return list_surveys(self, ref, kind)

    def survey(self, survey_id: str, ref: Ref | None = None) -> SurveyInfo:
        """One survey by id (NotFound if it is not recorded as of `ref`)."""
        from twin.surveys import get_survey

        return get_survey(self, survey_id, ref)

    def survey_path(self, info: SurveyInfo) -> Path:
        """The survey's Cloud-Optimized GeoTIFF (content-addressed: it never changes)."""
        from twin.surveys import survey_path

        return survey_path(self, info)

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
        """Validate a georeferenced raster, store it as a COG and record it as one commit."""
        from twin.surveys import import_survey

        return import_survey(self, path, kind=kind, on=on, author=author, message=message, layer=layer)


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


def _ids_by_layer(changes: Sequence[Change]) -> dict[str, list[str]]:
    """The ids the changes name, by layer (the layers in the order they first appear)."""
    ids: dict[str, list[str]] = {}
    for ch in changes:
        ids.setdefault(ch.layer, []).append(ch.feature_id)
    return ids


def _unencoded(ch: Change) -> EncodedFeature:
    """What the rules and the code check judge of an add whose bytes are made later (its
    properties); never stored."""
    assert ch.feature is not None
    return EncodedFeature(ch.layer, ch.feature_id, b"", None, None, ch.feature.properties)


def _check_commit_text(author: str, message: str) -> None:
    """Refuse (BadInput) a commit without an author, or whose author or message holds a control
    character or is longer than its setting allows (twin.validation.commit_text_problem)."""
    if not author.strip():
        raise BadInput("a commit needs an author")
    problem = commit_text_problem(author, message)
    if problem is not None:
        raise BadInput(problem)


def _check_time(head: CommitInfo | None, when: datetime) -> None:
    """Commit times only move forward and never past now, so a read "as of" a time sees exactly the
    commits made up to it, and no later read finds that history changed under it."""
    if head and when < head.time:
        raise BadInput(
            f"commit time {_utc_text(when)} is before the head's {_utc_text(head.time)}: commit times "
            "never go back (history with original dates can only be added after the last commit)"
        )
    now = datetime.now(UTC)
    if when > now:
        raise BadInput(f"commit time {_utc_text(when)} is in the future (now is {_utc_text(now)})")


def _utc_text(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(ref: Ref) -> str:
    return ref.commit.id[:12] if ref.commit else "(empty)"


# RFC 3339's date-time (seconds optional), its zone optional so that a time without one is named as such.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}:?\d{2})?")


def _as_utc(t: datetime | str) -> datetime:
    if isinstance(t, str):
        text = t.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                # A bare date means the end of that day in Shanghai, where checkpoints are dated.
                t = datetime.combine(date.fromisoformat(text), dt_time.max, tzinfo=SHANGHAI)
            elif _TIMESTAMP.fullmatch(text):
                t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            else:  # ISO 8601 forms beyond RFC 3339 (20261028, 2026-W44), which fromisoformat reads too
                raise ValueError(text)
        except ValueError:
            raise BadInput(
                f"{text!r} is not an RFC 3339 timestamp such as 2026-10-26T08:00:00Z or a date",
                code="not_a_time",
                values={"value": text},
            ) from None
    if t.tzinfo is None:
        raise BadInput(f"timestamp {t.isoformat()} has no time zone; add Z or +08:00")
    return t.astimezone(UTC)


def _never_an_id(text: str) -> bool:
    """Whether no feature can have `text` for its id, in any twin: it holds a NUL (see Twin.features)."""
    return "\x00" in text


def _cursor(after: str) -> str:
    """A paging cursor as every store can compare it: cut at its first NUL. No id holds a NUL, and
    among ids without one, those after 'a\\x00b' in code point order are exactly those after 'a'
    (the same page a store that compares the whole cursor gives)."""
    return after.split("\x00", 1)[0]


def _check_bbox(bbox: BBox) -> None:
    minx, miny, maxx, maxy = bbox
    if not all(map(lambda v: v == v and abs(v) != float("inf"), bbox)):
        raise BadInput("bbox values must be finite numbers")
    if minx > maxx or miny > maxy:
        raise BadInput(f"bbox {bbox} has its minimum above its maximum")


# What front ends read through: the whole twin (the CLI, core rules) or one role's view of it (the
# API, the maps). Both offer the same reads, so completion, queries and maps take either.
TwinLike = Twin | TwinView


class NoData(NamedTuple):
    """Why a read has no data (no_data): the English sentence, and its values as the error code
    "no_data_then" names them (twin.errors.ERROR_CODES: when, since) for the error raised with it."""

    text: str
    values: dict[str, str]


def no_data(twin: TwinLike, seq: int, when: str) -> NoData | None:
    """Why a read as of the time `when` (a date, or an instant), which resolved to the position
    `seq`, has no data: it falls before the first commit the caller may see. None when it has
    data, or the twin none at all (an empty twin is empty on every date). Every as-of read says so
    rather than answer empty, which would read as "nothing there" (the API's reads, the pages, the
    completion views and the CLI); an error saying so is raised with code="no_data_then" and these
    values."""
    if seq:
        return None
    first = twin.first_commit()
    if first is None:
        return None
    since = first.time.astimezone(SHANGHAI).date().isoformat()
    on = f"on {when}" if len(when.strip()) == 10 else f"at {when}"
    text = f"the twin has no data {on}: its history starts on {since} (commit {first.id[:12]})"
    return NoData(text, {"when": when, "since": since})


def no_data_reason(twin: TwinLike, seq: int, when: str) -> str | None:
    """no_data's sentence alone, where it is said and not raised (the map's panel of such a day)."""
    why = no_data(twin, seq, when)
    return None if why is None else why.text
