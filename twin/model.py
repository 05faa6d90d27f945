"""The twin's vocabulary: layer schemas, features, changes, commits and diffs.

Plain dataclasses with no storage or web code, so every store and every front end speaks
the same types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from shapely.geometry.base import BaseGeometry

STORAGE_CRS = "EPSG:4326"  # lon/lat order, as GeoJSON (RFC 7946) and GeoPackage store it
# Storage lon/lat reprojected from another CRS is rounded to 1e-12° (about 0.1 µm): a round trip
# through a projected CRS (export in EPSG:4549, edit, import) leaves float noise of about 1e-14°,
# which would otherwise read as every feature modified. Input already in lon/lat is kept as given.
# Every reprojection into storage rounds so (layers.crs.to_storage; a survey's footprint, which the
# survey importer reprojects from its raster's CRS, twin.surveys), with numpy's round.
STORAGE_DECIMALS = 12

FieldType = Literal["string", "integer", "number", "date", "boolean", "list"]  # list: of strings
GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)
# A layer holds ONE kind of geometry (clients such as QGIS type a layer from its first features and
# silently drop the rest): a single type, or a type and its multi form, which readers promote to
# the multi type. The family's declared name is that multi type when both are listed.
GEOMETRY_FAMILIES = {
    "Point": "Point",
    "MultiPoint": "Point",
    "LineString": "LineString",
    "MultiLineString": "LineString",
    "Polygon": "Polygon",
    "MultiPolygon": "Polygon",
}
ROLES = ("viewer", "engineer", "editor", "admin")  # each role can do what the ones before it can
# The feature id under which a layer's schema appears in a commit's changes, a diff and a history:
# a schema version is versioned like a feature of its layer (see twin.schema), so this id is
# reserved and no feature may take it.
SCHEMA_ID = "@schema"


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a layer."""

    name: str
    type: FieldType = "string"
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    unit: str | None = None
    title_zh: str | None = None
    title_en: str | None = None
    # What the values mean to people, as the field's titles do for its name: (value, title_zh,
    # title_en) for each allowed value (or known one, where any value is allowed), so a page shows
    # "花坛" / "Flower bed" for flower_bed. Stored with the schema; a schema file writes them as a
    # mapping, value: {zh: ..., en: ...}.
    labels: tuple[tuple[Any, str, str], ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FieldSpec:
        allowed = d.get("allowed")
        return cls(
            name=d["name"],
            type=d.get("type", "string"),
            required=bool(d.get("required", False)),
            allowed=tuple(allowed) if allowed is not None else None,
            unit=d.get("unit"),
            title_zh=d.get("title_zh"),
            title_en=d.get("title_en"),
            labels=value_labels(d.get("labels")),
        )

    def label(self, value: Any, lang: str) -> str | None:
        """The value's title in the language ("en", else Chinese), None for a value without one."""
        for v, zh, en in self.labels or ():
            if v == value:
                return en if lang == "en" else zh
        return None


def value_labels(raw: Any) -> tuple[tuple[Any, str, str], ...] | None:
    """Value labels as FieldSpec keeps them, from a schema file's mapping {value: {zh, en}} or the
    stored list of [value, zh, en] (twin.schema.check_schema says what is wrong with either)."""
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return tuple(
            (v, str(t.get("zh", "")), str(t.get("en", ""))) if isinstance(t, Mapping) else (v, "", "")
            for v, t in raw.items()
        )
    return tuple(
        (x[0], str(x[1]), str(x[2])) if isinstance(x, list | tuple) and len(x) == 3 else (x, "", "") for x in raw
    )


@dataclass(frozen=True)
class LayerSchema:
    """What a layer may hold. Stored in the twin itself, so a twin file describes itself."""

    name: str
    title_zh: str
    title_en: str
    geometry_types: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = ()
    code_field: str | None = None  # the property people use to name a feature, if any
    description: str = ""
    positions_approximate: bool = True
    restricted_to: tuple[str, ...] = ()  # roles that may see the layer; empty = everyone
    storage_crs: str = STORAGE_CRS
    rules: tuple[str, ...] = ()  # named domain rules (twin.core.register_rule) every commit must pass

    @property
    def spatial(self) -> bool:
        """False for a table of records (e.g. the project register): features without geometry."""
        return bool(self.geometry_types)

    @property
    def geometry_type(self) -> str | None:
        """The layer's one declared geometry type (GeoJSON / GeoPackage name), None for records.

        "Polygon" if only polygons are allowed, "MultiPolygon" if polygons and multipolygons are (a
        reader promotes the single ones); a schema listing two families is refused (twin.schema).
        """
        if not self.geometry_types:
            return None
        if len(self.geometry_types) == 1:
            return self.geometry_types[0]
        multi = [t for t in self.geometry_types if t.startswith("Multi")]
        return multi[0] if len(multi) == 1 else None

    def field(self, name: str) -> FieldSpec | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # A field without value labels is written without the key, so a schema from before labels
        # existed encodes (and hashes) as it did, and an unchanged schema still reads as unchanged.
        d["fields"] = [{k: v for k, v in f.items() if k != "labels" or v is not None} for f in d["fields"]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerSchema:
        return cls(
            name=d["name"],
            title_zh=d["title_zh"],
            title_en=d["title_en"],
            geometry_types=tuple(d["geometry_types"]),
            fields=tuple(FieldSpec.from_dict(f) for f in d.get("fields", ())),
            code_field=d.get("code_field"),
            description=d.get("description", ""),
            positions_approximate=bool(d.get("positions_approximate", True)),
            restricted_to=tuple(d.get("restricted_to", ())),
            storage_crs=d.get("storage_crs", STORAGE_CRS),
            rules=tuple(d.get("rules", ())),
        )


@dataclass
class Feature:
    """A feature as writers hand it in: geometry in storage CRS (lon/lat)."""

    id: str
    geometry: BaseGeometry | None
    properties: dict[str, Any] = field(default_factory=dict)


ChangeOp = Literal["add", "modify", "upsert", "delete"]


@dataclass
class Change:
    """One requested change. `upsert` becomes add or modify depending on the parent state."""

    layer: str
    op: ChangeOp
    feature_id: str
    feature: Feature | None = None  # None only for delete


@dataclass(slots=True)  # not frozen: a frozen init costs a third of encoding 100k features
class EncodedFeature:
    """A feature version as stored: encoded once at commit time, never changed afterwards."""

    layer: str
    feature_id: str
    geojson: bytes  # a complete GeoJSON Feature, canonical (sorted keys)
    wkb: bytes | None  # None for a record without geometry
    bbox: tuple[float, float, float, float] | None  # minx, miny, maxx, maxy
    properties: dict[str, Any]
    properties_json: str = ""  # the properties as canonical JSON (sorted keys), as stored


@dataclass(slots=True)  # not frozen, as EncodedFeature: a frozen init cost 0.06 s of a 100,000-feature commit
class StoredChange:
    """A change as the store applies it: the op resolved against the parent state (never changed
    once made)."""

    layer: str
    op: Literal["add", "modify", "delete"]
    feature_id: str
    version: EncodedFeature | None  # None for delete


def by_layer(changes: Iterable[StoredChange]) -> dict[str, list[StoredChange]]:
    """The changes grouped by layer, the layers in the order they first appear."""
    grouped: dict[str, list[StoredChange]] = {}
    for ch in changes:
        grouped.setdefault(ch.layer, []).append(ch)
    return grouped


def references_by_layer(keys: Iterable[str]) -> dict[str, list[str]]:
    """References to features ("layer/feature_id", as a register's `features` hold them) grouped
    by layer, each id once, in the order first given; a key that names no layer and id is left out.
    Who reads them reads each layer's features in one call (features_by_id)."""
    grouped: dict[str, list[str]] = {}
    for key in dict.fromkeys(keys):
        layer, sep, fid = key.partition("/")
        if sep and layer and fid:
            grouped.setdefault(layer, []).append(fid)
    return grouped


LayerCounts = dict[str, int]  # {"added": n, "modified": n, "deleted": n}


@dataclass(frozen=True)
class CommitInfo:
    id: str
    seq: int
    parent: str | None
    author: str
    message: str
    time: datetime  # UTC
    counts: dict[str, LayerCounts]
    # The number shown for `seq` where it differs: a reader who may not see every layer sees its
    # commits numbered without the gaps hidden commits would leave (twin.access). Reads use `seq`.
    number: int | None = None

    @property
    def shown_seq(self) -> int:
        """The commit's place in the log its reader sees (1 for the first): `number`, else `seq`."""
        return self.number if self.number is not None else self.seq

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.shown_seq,
            "parent": self.parent,
            "author": self.author,
            "message": self.message,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "counts": self.counts,
        }


DiffKind = Literal["added", "modified", "deleted"]


@dataclass(frozen=True)
class DiffEntry:
    layer: str
    feature_id: str
    kind: DiffKind
    before: bytes | None  # GeoJSON Feature bytes as stored, or None when added
    after: bytes | None  # None when deleted


def diff_counts(entries: Iterable[DiffEntry]) -> dict[str, dict[str, int]]:
    """Per layer, the features a diff added, modified and deleted, and, only when the layer's
    schema changed, `schema`: 1 (its entry is the schema's, not a feature's, so counted apart, as
    `log` counts a commit's schema change)."""
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        c = counts.setdefault(e.layer, {"added": 0, "modified": 0, "deleted": 0})
        if e.feature_id == SCHEMA_ID:
            c["schema"] = 1
        else:
            c[e.kind] += 1
    return counts


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a feature, with the commit that made it and the one that ended it."""

    commit: CommitInfo
    ended_by: str | None  # id of the commit that replaced or deleted this version
    geojson: bytes | None  # None for the deletion entry
    op: Literal["add", "modify", "delete"]
