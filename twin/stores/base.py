"""The store interface: the few operations the twin needs from a backend.

A store works in commit sequence numbers (`seq`, 1 for the first commit, 0 for the empty twin);
the `Twin` facade resolves ids and timestamps to sequence numbers and does validation and
encoding, so a store only persists and retrieves. Every store must pass
`tests/store_contract.py`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from shapely.geometry.base import BaseGeometry

from twin.encoding import format_time, parse_time
from twin.errors import BadInput, Conflict
from twin.model import CommitInfo, EncodedFeature, LayerSchema, StoredChange, by_layer
from twin.qgis import Presentation
from twin.schema import schema_change

BBox = tuple[float, float, float, float]  # minx, miny, maxx, maxy in storage CRS


@dataclass(frozen=True)
class VersionRow:
    """A stored feature version: visible for from_seq <= s < to_seq (to_seq None while current)."""

    layer: str
    feature_id: str
    from_seq: int
    to_seq: int | None
    op: str  # "add" or "modify": how this version came to be
    geojson: bytes


@dataclass(frozen=True)
class Page:
    """Features of one read, as stored GeoJSON bytes, with how many matched in all."""

    features: list[bytes]
    feature_ids: list[str]
    number_matched: int


@dataclass(frozen=True)
class ExportRow:
    feature_id: str
    wkb: bytes
    properties: bytes  # JSON object


def check_head(head: Sequence[Any] | None, parent: str | None, time: datetime | None, seq: int | None) -> int:
    """The head's number, once the head's row (seq, id, time, ...; None for the empty twin) is
    checked to be `parent`, its time not after `time` and its number just before `seq` (each check
    where given): what every store checks under its write lock before it writes a commit."""
    head_seq, head_id = (head[0], head[1]) if head else (0, None)
    if head_id != parent:
        raise Conflict(
            f"the twin moved on: head is {head_id or '(empty)'}, the write was built on "
            f"{parent or '(empty)'}; read again and retry"
        )
    if head and time is not None and parse_time(head[2]) > time:
        raise BadInput(f"commit time {format_time(time)} is before its parent's {head[2]}")
    if seq is not None and seq != head_seq + 1:
        raise Conflict(f"commit number {seq} does not follow the head {head_seq}")
    return int(head_seq)


def streamed_adds(part: Sequence[StoredChange], schemas: Mapping[str, LayerSchema]) -> dict[str, list[StoredChange]]:
    """A slice of a streamed commit by layer (by_layer), refused unless every change is an add to a
    layer of `schemas`: what apply_streamed takes from its caller."""
    grouped = by_layer(part)
    for layer, chs in grouped.items():
        if layer not in schemas or any(ch.op != "add" for ch in chs):
            raise BadInput(f"a streamed slice holds what is not an add to a layer ({layer!r})")
    return grouped


class Store(ABC):
    """A versioned feature store. Writes are atomic; reads at any seq are equally cheap."""

    url: str  # where it is: what twin.stores.open_store takes to open it again
    # What the store's driver raises when what it holds cannot be read (a damaged file): fsck
    # reports it as damage, where it was met, instead of stopping with a traceback.
    unreadable: tuple[type[Exception], ...] = ()

    # --- set-up and metadata
    @abstractmethod
    def initialize(self, schemas: Sequence[LayerSchema], area_of_interest: BaseGeometry) -> None:
        """Create an empty twin with these layers. Refuses if the store already holds one."""

    @abstractmethod
    def schemas(self) -> dict[str, LayerSchema]:
        """The layers at the head, in the order they were created (read fresh: another handle may
        have changed a schema)."""

    @abstractmethod
    def schemas_at(self, seq: int) -> dict[str, LayerSchema]:
        """The layers and their schemas as of commit `seq`: schemas are versioned like features.

        A layer is created, and a schema changed, only by a commit (`apply` with a change whose
        feature_id is model.SCHEMA_ID: op add creates the layer, modify replaces its schema and
        brings any mirror in step); the layers given to `initialize` exist from seq 0."""

    @abstractmethod
    def reload_schemas(self) -> None:
        """Forget cached layer schemas."""

    @abstractmethod
    def area_of_interest(self) -> BaseGeometry: ...

    # --- commits
    @abstractmethod
    def head(self) -> CommitInfo | None: ...

    @abstractmethod
    def commit_by_seq(self, seq: int) -> CommitInfo: ...

    @abstractmethod
    def commits_by_id_prefix(self, prefix: str) -> list[CommitInfo]:
        """Commits whose id starts with `prefix` (at most a few: callers check uniqueness)."""

    @abstractmethod
    def commit_at_time(self, t: datetime) -> CommitInfo | None:
        """The last commit made at or before `t`, None if the twin was empty then."""

    @abstractmethod
    def log(self, limit: int, offset: int = 0) -> list[CommitInfo]:
        """Commits newest first."""

    @abstractmethod
    def commit_count(self) -> int: ...

    @abstractmethod
    def writing(self) -> AbstractContextManager[None]:
        """Hold the store's write lock for the block: no other writer (thread or process) commits
        until it ends, so the head read inside is the head `apply` writes on. An `apply` inside the
        block is part of it, and an exception rolls the block back. Re-entrant in one thread."""

    def bulk_load(self) -> AbstractContextManager[None]:
        """Inside `writing()`: many commits are about to be applied (a copy of a whole twin), so the
        store may defer work such as index maintenance to the end of the block. Nothing by default."""
        return contextlib.nullcontext()

    @abstractmethod
    def apply(self, commit: CommitInfo, changes: Sequence[StoredChange]) -> None:
        """Write one commit atomically. Raises Conflict unless `commit.parent` is still the head."""

    # Why this process may only read the store (a file or directory it cannot write, a read-only
    # mount), or None: reads are served, a write raises ReadOnly naming it.
    read_only: str | None = None

    # Whether apply_streamed writes while the caller is still making the versions (a server that
    # works on the rows already sent); when False, the Twin does not stream to it.
    streams_versions = False

    def apply_streamed(
        self,
        parent: str | None,
        changes: Sequence[StoredChange],
        added: Iterable[Sequence[StoredChange]],
        commit: Callable[[], CommitInfo],
    ) -> CommitInfo:
        """Write one commit atomically: `changes`, then the adds `added` yields a slice at a time
        (made while the store writes the slices before), as the commit `commit()` describes once
        every slice is given (its parent is `parent`). Raises Conflict unless `parent` is still the
        head. By default the slices are gathered and written with apply, which checks the head."""
        everything = [*changes, *(ch for part in added for ch in part)]
        info = commit()
        self.apply(info, everything)
        return info

    @abstractmethod
    def changes_in(self, seq: int) -> list[StoredChange]:
        """The changes one commit made, rebuilt from the stored versions (schema versions included),
        in no particular order."""

    # --- reads at a sequence number
    @abstractmethod
    def feature(self, layer: str, feature_id: str, seq: int) -> bytes | None: ...

    @abstractmethod
    def features_by_id(self, layer: str, feature_ids: Sequence[str], seq: int) -> dict[str, bytes]:
        """The stored bytes of those of `feature_ids` visible at `seq`, in no particular order."""

    @abstractmethod
    def features(
        self,
        layer: str,
        seq: int,
        bbox: BBox | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        """Features visible at `seq`, ordered by feature id; bbox means 'geometry intersects'."""

    @abstractmethod
    def count(self, layer: str, seq: int) -> int: ...

    @abstractmethod
    def ids_by_value(self, layer: str, field: str, values: Sequence[Any]) -> dict[Any, str]:
        """At the head: which feature holds each of these values of `field` (for unique codes)."""

    @abstractmethod
    def feature_ids(self, layer: str, seq: int) -> list[str]:
        """Ids of the features visible at `seq`, sorted."""

    @abstractmethod
    def export_rows(self, layer: str, seq: int, bbox: BBox | None = None) -> Iterator[ExportRow]: ...

    @abstractmethod
    def versions_of(self, layer: str, feature_id: str) -> list[VersionRow]:
        """Every version of one feature (or, for SCHEMA_ID, of the layer's schema), oldest first."""

    @abstractmethod
    def versions_changed_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        """Versions that began or ended in (a, b]: what a diff between a and b is made of, in no
        particular order (a big diff's rows stream without a sort)."""

    @abstractmethod
    def schema_versions_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        """Schema versions (feature_id SCHEMA_ID) that began or ended in (a, b]."""

    @abstractmethod
    def extent(self, layer: str, seq: int) -> BBox | None: ...

    def mvt(
        self,
        layer: str,
        seq: int,
        bounds: tuple[float, float, float, float],
        *,
        extent: int = 4096,
        buffer: int = 64,
        layer_name: str | None = None,
        srid: int = 3857,
    ) -> bytes | None:
        """One Mapbox Vector Tile of the features visible at seq within `bounds` (in EPSG:`srid`:
        3857 metres, or 4326 lon/lat for WorldCRS84Quad), or None if this store has no native
        encoder (the twin then encodes the store's bbox read).

        Its one layer is named `layer_name` (default: `layer`); each feature carries its properties
        (lists and objects as compact JSON text) plus `id`, the feature id; features are clipped to
        the bounds widened by `buffer` of `extent` units on each side. Values have the MVT types
        the layer's schema at `seq` gives them, as twin.tiles.encode_rows writes them: a number
        field's values doubles (29540.0 too), an integer field's ints, strings and dates strings,
        booleans bools."""
        return None

    # --- server state: API tokens (not history: no commit; copied by `venue-twin copy`)
    @abstractmethod
    def token_add(self, name: str, role: str, token_hash: str, created: str) -> int:
        """Store a token's hash; returns the new token's id."""

    @abstractmethod
    def token_lookup(self, token_hash: str) -> tuple[str, str] | None:
        """(name, role) of the live (unrevoked) token with this hash, None if there is none."""

    @abstractmethod
    def token_revoke(self, name_or_id: str, when: str) -> int:
        """Revoke every live token with this name (or, given digits, the one with this id); how many."""

    @abstractmethod
    def token_rows(self) -> list[tuple[int, str, str, str, str | None]]:
        """(id, name, role, created, revoked) of every token, by id."""

    def token_export(self) -> list[tuple[int, str, str, str, str, str | None]]:
        """(id, name, role, hash, created, revoked) of every token, by id: what a copy of the twin
        carries over (token_rows leaves the hash out, as everything else needs it not)."""
        raise NotImplementedError(f"{type(self).__name__} cannot export its tokens")

    def writing_here(self) -> bool:
        """Whether this thread is inside writing(): what it reads there may still roll back."""
        return False

    # Whether this process reads the storage itself (a local file whose readers never wait for a
    # writer), so that a read of one feature by id is a few index look-ups with nothing to wait
    # for; False where a read may wait (a server across a socket, a pool's free connection).
    local_reads = False

    # --- maintenance
    @abstractmethod
    def check(self) -> list[str]:
        """Store-specific consistency checks for fsck (indexes, mirrors); [] when clean."""

    keeps_presentation = False  # whether write_presentation keeps anything (else it is not even computed)

    def write_presentation(self, presentation: Presentation) -> bool:
        """Store how desktop GIS should show the layers (styles, a project) where it looks for
        them; False where the storage has no such place (the default). Not history: rewritten
        whole each time, outside any commit."""
        return False

    def flush(self) -> None:
        """Make what is committed readable by other programs at the storage level (a no-op
        where committing already does)."""
        return None

    def bbox_read_in_memory(self, layer: str, bbox: BBox) -> bool:
        """Whether a read of this box of this layer, at the head or before, is answered from memory
        with bounded work (a built read index that is up to date and few versions in the box) and
        at most a few local look-ups: nothing to wait for."""
        return False

    def warm(self, wait: bool = False) -> None:
        """Prepare what makes reads fast in a long-running process (a server), beside the reads
        (`wait`: until done). A no-op where the store keeps nothing in memory."""
        return None

    @abstractmethod
    def close(self) -> None: ...


Conn = TypeVar("Conn")  # a store's connection


class SchemaWrites(ABC, Generic[Conn]):
    """A commit's schema change, written the same way by every store: a new layer, or a new schema
    version of one (the store creates or alters it on its own connection)."""

    @abstractmethod
    def _create_layer(self, c: Conn, s: LayerSchema, seq: int, version: EncodedFeature) -> int: ...

    @abstractmethod
    def _alter_layer(
        self, c: Conn, seq: int, lid: int, old: LayerSchema, new: LayerSchema, version: EncodedFeature
    ) -> None: ...

    def _apply_schema(
        self,
        c: Conn,
        seq: int,
        ch: StoredChange,
        schemas: dict[str, LayerSchema],
        lids: dict[str, int],
    ) -> None:
        new = schema_change(ch, schemas)
        assert ch.version is not None  # schema_change refuses a deleted layer
        if ch.op == "add":
            lids[new.name] = self._create_layer(c, new, seq, ch.version)
        else:
            self._alter_layer(c, seq, lids[ch.layer], schemas[ch.layer], new, ch.version)
        schemas[new.name] = new
