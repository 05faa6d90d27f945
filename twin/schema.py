"""Layer schemas as an administrator writes them: read from YAML or JSON, checked, and altered.

How schemas are versioned: a schema version is stored and hashed like a feature version of its
own layer, under the reserved feature id `@schema` (twin.model.SCHEMA_ID), with a null geometry
and the schema as its properties (Kart keeps a layer's schema as a meta item beside its
features in the same way). So a schema change is an ordinary commit — author, message, time,
parent — whose content id covers the schema's canonical bytes (fsck recomputes it), its counts
are keyed by the layer's own name, and a diff shows it as a change of that layer. The store keeps
schema versions in a table of their own (not among the feature versions), so no feature read,
count or bbox scan ever meets one. The layers a twin is created with are schema versions from
before the first commit (sequence 0), so creating a twin changes no commit id.

This module only builds and checks the new LayerSchema; `Twin.create_layer` and
`Twin.alter_layer` commit it, so the rules are the same from a file, the CLI's flags or an
HTTP body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

import orjson
import yaml

from twin.encoding import encode_properties, feature_bytes
from twin.errors import BadInput, NotFound
from twin.model import (
    GEOMETRY_FAMILIES,
    GEOMETRY_TYPES,
    ROLES,
    SCHEMA_ID,
    EncodedFeature,
    FieldSpec,
    FieldType,
    LayerSchema,
    StoredChange,
    value_labels,
)
from twin.validation import _coerce

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")  # whole names only: fullmatch (a $ let "name\n" through)
RESERVED_PREFIXES = ("gpkg_", "rtree_", "twin_", "sqlite_")  # GeoPackage, SQLite and the twin's own tables
RESERVED_FIELDS = frozenset({"fid", "geom", "feature_id"})  # columns of every GeoPackage mirror table
# The feature's own id and geometry in OGC API filters, sortby, queryables and GeoJSON, and the
# geometry column of a CSV download (layers.io.WKT_COLUMNS): a field of that name was shadowed there
# or lost. Refused in a schema made or altered now; a store still holds (and copies) older layers.
OWN_NAMES = frozenset({"id", "geometry", "wkt"})
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

# Every key a schema file may hold, with the JSON type it takes (a YAML file gives the same types).
_FIELD_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "type": (str,),
    "required": (bool,),
    "allowed": (list, tuple),
    "unit": (str,),
    "title_zh": (str,),
    "title_en": (str,),
    "labels": (dict, list, tuple),
}
_LAYER_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "title_zh": (str,),
    "title_en": (str,),
    "geometry_types": (list, tuple),
    "fields": (list, tuple),
    "code_field": (str,),
    "description": (str,),
    "positions_approximate": (bool,),
    "restricted_to": (list, tuple),
    "storage_crs": (str,),
    "rules": (list, tuple),
}
_REQUIRED_LAYER_KEYS = ("name", "title_zh", "title_en", "geometry_types")


# ---------------------------------------------------------------------- reading
def parse_document(text: str | bytes, source: str) -> Any:
    """A YAML or JSON document (JSON is YAML) as plain data; BadInput naming `source` if unreadable."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BadInput(f"{source}: not valid YAML or JSON: {e}") from None


def read_schema_file(path: str | Path) -> LayerSchema:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read {p}: {e.strerror}") from None
    return schema_from_dict(parse_document(text, str(p)), str(p))


def _check_keys(d: Any, keys: Mapping[str, tuple[type, ...]], where: str) -> list[str]:
    if not isinstance(d, Mapping):
        return [f"{where} must be a mapping of keys to values, got {type(d).__name__}"]
    problems = []
    for k, v in d.items():
        if k not in keys:
            problems.append(f"{where}: unknown key {k!r} (known: {', '.join(keys)})")
        elif v is not None and not isinstance(v, keys[k]):
            problems.append(f"{where}: {k} must be {_kind(keys[k])}, got {type(v).__name__}")
    return problems


def _kind(types: tuple[type, ...]) -> str:
    return {str: "text", bool: "true or false", list: "a list", dict: "a mapping"}.get(types[0], types[0].__name__)


def _field_from_dict(d: Any, where: str, problems: list[str]) -> FieldSpec | None:
    found = _check_keys(d, _FIELD_KEYS, where)
    if not found and "name" not in d:
        found.append(f"{where}: a field needs a name")
    problems.extend(found)
    if found:
        return None
    return FieldSpec.from_dict({k: v for k, v in d.items() if v is not None})


def schema_from_dict(d: Any, source: str = "schema") -> LayerSchema:
    """A LayerSchema from plain data (a parsed file or body), refusing anything it does not know."""
    problems = _check_keys(d, _LAYER_KEYS, source)
    if problems:
        raise BadInput("; ".join(problems))
    problems = [f"{source}: {k} is missing" for k in _REQUIRED_LAYER_KEYS if d.get(k) is None]
    fields = []
    for i, f in enumerate(d.get("fields") or []):
        spec = _field_from_dict(f, f"{source}: field #{i + 1}", problems)
        if spec is not None:
            fields.append(spec)
    if problems:
        raise BadInput("; ".join(problems))
    data = {k: v for k, v in d.items() if v is not None and k != "fields"}
    schema = replace(LayerSchema.from_dict(data), fields=tuple(fields))
    schema = normalize_schema(schema, source)
    return schema


def normalize_schema(s: LayerSchema, source: str = "schema") -> LayerSchema:
    """Check a whole schema; return it with its allowed values in their fields' canonical types."""
    problems = check_schema(s)
    problems += [
        f"field name {f.name!r} is taken by the feature's own id or geometry in the API and in downloads "
        f"({', '.join(sorted(OWN_NAMES))}); give the field another name"
        for f in s.fields
        if f.name in OWN_NAMES
    ]
    problems += _nul_problems(s)
    if problems:
        raise BadInput(f"{source}: " + "; ".join(problems))
    fields = []
    for f in s.fields:
        if f.allowed is not None:
            f = replace(f, allowed=tuple(_coerce(f, v)[0] for v in f.allowed))
        if f.labels is not None:
            f = replace(f, labels=tuple((_coerce(f, v)[0], zh, en) for v, zh, en in f.labels))
        fields.append(f)
    return replace(s, fields=tuple(fields))


def _nul_problems(s: LayerSchema) -> list[str]:
    """Where the schema's text holds a NUL character, which the twin's text may not hold: a
    property's value is refused for one (twin.validation: PostgreSQL's text and jsonb hold none,
    and GDAL's writers cut a text at it), so an allowed value holding one could never be given,
    and titles and labels reach the same writers and clients. Refused in a schema made or altered
    now; names, roles and the code field are refused by their own rules already."""
    problems: list[str] = []
    nul = "holds a NUL character (\\u0000), which text in the twin may not hold"

    def held(value: Any) -> bool:
        return isinstance(value, str) and "\x00" in value

    for key in ("title_zh", "title_en", "description"):
        if held(getattr(s, key)):
            problems.append(f"{key} {nul}")
    problems += [f"rule {r!r} {nul}" for r in s.rules if held(r)]
    for f in s.fields:
        where = f"field {f.name!r}"
        for key in ("title_zh", "title_en", "unit"):
            if held(getattr(f, key)):
                problems.append(f"{where}: {key} {nul}")
        problems += [f"{where}: allowed value {v!r} {nul}" for v in f.allowed or () if held(v)]
        for v, zh, en in f.labels or ():
            if held(v):
                problems.append(f"{where}: the labelled value {v!r} {nul}")
            for lang, title in (("zh", zh), ("en", en)):
                if held(title):
                    problems.append(f"{where}: the {lang} label of {v!r} {nul}")
    return problems


def check_schema(s: LayerSchema) -> list[str]:
    """Every reason `s` is not a schema a twin can hold (names, types, roles, references)."""
    problems: list[str] = []
    if not NAME.fullmatch(s.name) or s.name.startswith(RESERVED_PREFIXES):
        problems.append(
            f"layer name {s.name!r} must be lower-case letters, digits and _ (at most 63, starting with a letter), "
            f"not starting with {', '.join(RESERVED_PREFIXES)}"
        )
    for key in ("title_zh", "title_en"):
        if not str(getattr(s, key) or "").strip():
            problems.append(f"{key} must not be empty")
    bad_geoms = [g for g in s.geometry_types if g not in GEOMETRY_TYPES]
    if bad_geoms:
        problems.append(
            f"geometry type(s) {', '.join(map(str, bad_geoms))} not one of {', '.join(GEOMETRY_TYPES)} "
            "(an empty list makes a layer of records without geometry)"
        )
    if len(set(s.geometry_types)) != len(s.geometry_types):
        problems.append("a geometry type is listed twice")
    families = {GEOMETRY_FAMILIES[g] for g in s.geometry_types if g in GEOMETRY_FAMILIES}
    if len(families) > 1:
        problems.append(
            f"geometry types {', '.join(s.geometry_types)} mix {len(families)} kinds of geometry: a layer holds one "
            "(a type and its multi form, e.g. Polygon, MultiPolygon), since QGIS and GDAL draw a layer of one "
            "type only; put the others in a layer of their own"
        )
    seen: set[str] = set()
    for f in s.fields:
        if not isinstance(f.name, str) or not NAME.fullmatch(f.name) or f.name in RESERVED_FIELDS:
            problems.append(
                f"field name {f.name!r} must be lower-case letters, digits and _, and not {', '.join(sorted(RESERVED_FIELDS))}"
            )
        if f.name in seen:
            problems.append(f"field {f.name!r} is listed twice")
        seen.add(f.name)
        if f.type not in FIELD_TYPES:
            problems.append(f"field {f.name!r} has type {f.type!r}, not one of {', '.join(FIELD_TYPES)}")
            continue
        if f.allowed is not None:
            if not f.allowed:
                problems.append(f"field {f.name!r}: allowed values must not be empty (leave them out for any value)")
            for v in f.allowed:
                if v is None or _coerce(f, v)[1] is not None:
                    problems.append(f"field {f.name!r}: allowed value {v!r} is not a {f.type}")
        if f.labels is not None:
            problems += _label_problems(f)
    if s.code_field is not None and s.code_field not in seen:
        problems.append(f"code_field {s.code_field!r} is not one of the fields")
    bad_roles = [r for r in s.restricted_to if r not in ROLES]
    if bad_roles:
        problems.append(
            f"restricted_to names unknown role(s) {', '.join(map(str, bad_roles))}; roles are {', '.join(ROLES)}"
        )
    if s.storage_crs != "EPSG:4326":
        problems.append(f"storage_crs must be EPSG:4326 (lon/lat), got {s.storage_crs!r}")
    if not all(isinstance(r, str) and r for r in s.rules):
        problems.append("rules must be names of rules")
    return problems


def _label_problems(f: FieldSpec) -> list[str]:
    """What is wrong with a field's value labels: each a value of the field's type (one of its
    allowed values, when it has them), once, with a Chinese and an English title."""
    problems: list[str] = []
    seen: list[Any] = []
    allowed = None if f.allowed is None else [_coerce(f, a)[0] for a in f.allowed]
    for v, zh, en in f.labels or ():
        value, why = _coerce(f, v) if v is not None else (None, "no value")
        if why is not None:
            problems.append(f"field {f.name!r}: label for {v!r}: the value is not a {f.type}")
            continue
        if allowed is not None and value not in allowed:
            problems.append(f"field {f.name!r}: label for {v!r}, which is not one of its allowed values")
        if value in seen:
            problems.append(f"field {f.name!r}: value {v!r} is labelled twice")
        seen.append(value)
        if not zh.strip() or not en.strip():
            problems.append(f"field {f.name!r}: label for {v!r} needs both zh and en (value: {{zh: ..., en: ...}})")
    return problems


# ---------------------------------------------------------------------- encoding
def encode_schema(s: LayerSchema) -> EncodedFeature:
    """A schema version as stored and hashed: a GeoJSON Feature `@schema` of its layer with null
    geometry and the schema as its properties (canonical bytes, so fsck can recompute the id)."""
    props = orjson.loads(orjson.dumps(s.to_dict()))  # tuples to lists: as it reads back from storage
    props_json = encode_properties(props)
    return EncodedFeature(
        layer=s.name,
        feature_id=SCHEMA_ID,
        geojson=feature_bytes(SCHEMA_ID, b"null", props_json),
        wkb=None,
        bbox=None,
        properties=props,
        properties_json=props_json.decode(),
    )


def schema_of(version: EncodedFeature) -> LayerSchema:
    return LayerSchema.from_dict(version.properties)


# ---------------------------------------------------------------------- alterations
_FIELD_CHANGE_KEYS: dict[str, tuple[type, ...]] = {
    "required": (bool,),
    "allowed": (list, tuple),
    "unit": (str,),
    "title_zh": (str,),
    "title_en": (str,),
    "labels": (dict, list, tuple),
    "type": (str,),
}
_ALTER_KEYS: dict[str, tuple[type, ...]] = {
    "add_fields": (list, tuple),
    "rename_fields": (dict,),
    "drop_fields": (list, tuple),
    "fields": (dict,),
    "title_zh": (str,),
    "title_en": (str,),
    "description": (str,),
    "geometry_types": (list, tuple),
    "code_field": (str,),
    "positions_approximate": (bool,),
    "restricted_to": (list, tuple),
    "rules": (list, tuple),
}
# Keys whose null means "clear it" (rather than "not given").
_CLEARABLE_FIELD_KEYS = {"allowed", "unit", "title_zh", "title_en", "labels"}


@dataclass(frozen=True)
class Alteration:
    """What an alteration does: the new schema, and what happens to the features' properties."""

    old: LayerSchema
    new: LayerSchema
    renames: dict[str, str] = field(default_factory=dict)  # old field name -> new
    drops: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)  # a new field's value for existing features
    summary: tuple[str, ...] = ()  # what changed, in words, for the commit message

    @property
    def touches_data(self) -> bool:
        """Whether existing features must be checked (or rewritten) against the new schema."""
        return (
            bool(self.renames or self.drops or self.defaults)
            or self.old.fields != self.new.fields
            or self.old.geometry_types != self.new.geometry_types
            or self.old.code_field != self.new.code_field
        )


def plan_alteration(old: LayerSchema, changes: Any, source: str = "alteration") -> Alteration:
    """Apply an alteration document to `old`. The document (a JSON/YAML mapping, as the HTTP API
    takes it and the CLI builds it from its flags) may hold, applied in this order:

    - `rename_fields`: {old: new}; the features' properties are renamed in the same commit
    - `drop_fields`: [name, ...]; the features lose the property
    - `add_fields`: [field, ...] as in a schema file, each with an optional `default` that every
      existing feature takes (a required field without a default is refused if the layer has features)
    - `fields`: {name: {required, allowed, unit, title_zh, title_en}}; null clears allowed/unit/titles
    - `restricted_to`: [role, ...] restricts the layer, [] opens it to everyone
    - `title_zh`, `title_en`, `description`, `geometry_types`, `code_field`, `positions_approximate`, `rules`
    """
    problems = _check_keys(changes, _ALTER_KEYS, source)
    if problems:
        raise BadInput("; ".join(problems))
    if not changes:
        raise BadInput(f"{source}: nothing to change (give one of {', '.join(_ALTER_KEYS)})")
    fields = {f.name: f for f in old.fields}
    order = [f.name for f in old.fields]
    summary: list[str] = []
    renames: dict[str, str] = {}
    code_field = old.code_field
    for a, b in (changes.get("rename_fields") or {}).items():
        if a not in fields:
            problems.append(f"cannot rename field {a!r}: layer {old.name} has no such field")
            continue
        if not isinstance(b, str):
            problems.append(f"the new name of field {a!r} must be text")
            continue
        if b in fields or b in renames.values():
            problems.append(f"cannot rename field {a!r} to {b!r}: that name is taken")
            continue
        renames[a] = b
        fields[b] = replace(fields.pop(a), name=b)
        order[order.index(a)] = b
        if code_field == a:
            code_field = b
        summary.append(f"rename field {a} to {b}")
    drops: list[str] = []
    for name in changes.get("drop_fields") or []:
        if name not in fields:
            problems.append(f"cannot drop field {name!r}: layer {old.name} has no such field")
            continue
        if name == code_field and "code_field" not in changes:
            problems.append(f"cannot drop field {name!r}: it is the layer's code_field (set another one)")
            continue
        drops.append(name)
        del fields[name]
        order.remove(name)
        summary.append(f"drop field {name}")
    defaults: dict[str, Any] = {}
    for i, d in enumerate(changes.get("add_fields") or []):
        where = f"{source}: add_fields #{i + 1}"
        default = d.get("default") if isinstance(d, Mapping) else None
        spec = _field_from_dict(
            {k: v for k, v in d.items() if k != "default"} if isinstance(d, Mapping) else d, where, problems
        )
        if spec is None:
            continue
        if spec.name in fields:
            problems.append(f"cannot add field {spec.name!r}: layer {old.name} has it already")
            continue
        if default is not None:
            value, why = _coerce(spec, default) if spec.type in FIELD_TYPES else (None, None)
            if why:
                problems.append(f"default of field {spec.name!r}: {why}")
                continue
            defaults[spec.name] = value
        fields[spec.name] = spec
        order.append(spec.name)
        summary.append(f"add field {spec.name}")
    for name, attrs in (changes.get("fields") or {}).items():
        where = f"{source}: fields.{name}"
        if name not in fields:
            problems.append(f"{where}: layer {old.name} has no field {name!r} (after the renames and drops)")
            continue
        found = _check_keys(attrs, _FIELD_CHANGE_KEYS, where)
        if found:
            problems.extend(found)
            continue
        if "type" in attrs and attrs["type"] != fields[name].type:
            problems.append(
                f"{where}: changing a field's type is not supported; add a new field, fill it, and drop the old one"
            )
            continue
        given = {k: v for k, v in attrs.items() if k != "type" and (v is not None or k in _CLEARABLE_FIELD_KEYS)}
        if "allowed" in given and given["allowed"] is not None:
            given["allowed"] = tuple(given["allowed"])
        if "labels" in given:
            given["labels"] = value_labels(given["labels"])
        if "required" in given and given["required"] is None:
            del given["required"]
        fields[name] = replace(fields[name], **given)
        summary.append(f"change field {name} ({', '.join(given)})")
    layer_attrs: dict[str, Any] = {}
    for key in ("title_zh", "title_en", "description", "positions_approximate"):
        if changes.get(key) is not None:
            layer_attrs[key] = changes[key]
            summary.append(f"set {key}")
    if changes.get("geometry_types") is not None:
        layer_attrs["geometry_types"] = tuple(changes["geometry_types"])
        if bool(layer_attrs["geometry_types"]) != old.spatial:
            problems.append(
                "a layer cannot switch between features with geometry and records without: create a new layer"
            )
        summary.append(f"geometry types {', '.join(layer_attrs['geometry_types'])}")
    if "code_field" in changes:
        code_field = changes["code_field"]
        summary.append(f"code field {code_field}" if code_field else "no code field")
    if changes.get("restricted_to") is not None:
        layer_attrs["restricted_to"] = tuple(changes["restricted_to"])
        roles = layer_attrs["restricted_to"]
        summary.append(f"restrict to {', '.join(roles)}" if roles else "open to everyone")
    if changes.get("rules") is not None:
        layer_attrs["rules"] = tuple(changes["rules"])
        summary.append("rules " + (", ".join(layer_attrs["rules"]) or "none"))
    if problems:
        raise BadInput("; ".join(problems))
    new = replace(old, fields=tuple(fields[n] for n in order), code_field=code_field, **layer_attrs)
    new = normalize_schema(new, source)
    if new == old and not renames and not drops:
        raise BadInput(f"{source}: nothing changes; layer {old.name} already has this schema")
    return Alteration(old, new, renames, tuple(drops), defaults, tuple(summary))


def parse_field_flag(text: str) -> dict[str, Any]:
    """The CLI's `--add-field NAME:TYPE[:required][=DEFAULT]` as an add_fields entry."""
    spec, eq, default = text.partition("=")
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "required") or not parts[0]:
        raise BadInput(f"--add-field {text!r}: give NAME:TYPE, NAME:TYPE:required, optionally =DEFAULT")
    out: dict[str, Any] = {"name": parts[0], "type": parts[1], "required": len(parts) == 3}
    if eq:
        out["default"] = default
    return out


def parse_pairs(texts: Sequence[str], flag: str) -> dict[str, str]:
    """`OLD=NEW` flags as a mapping."""
    out = {}
    for t in texts:
        a, eq, b = t.partition("=")
        if not eq or not a.strip() or not b.strip():
            raise BadInput(f"{flag} {t!r}: give OLD=NEW")
        out[a.strip()] = b.strip()
    return out


def schema_change(ch: StoredChange, schemas: Mapping[str, LayerSchema]) -> LayerSchema:
    """The new schema a stored `@schema` change gives its layer, checked the same way by every
    store before it creates or alters the layer's tables."""
    if ch.version is None:
        raise BadInput(f"layer {ch.layer}: a layer cannot be deleted")
    new = schema_of(ch.version)
    if new.name != ch.layer:
        raise BadInput(f"the schema of layer {ch.layer} names layer {new.name}")
    if ch.op != "add" and ch.layer not in schemas:
        raise NotFound(f"no layer {ch.layer!r} to alter", code="no_layer", values={"layer": ch.layer})
    return new


def renamed_fields(old: LayerSchema | None, new: LayerSchema | None) -> dict[str, str]:
    """{new name: old name} of the fields renamed between two versions of a layer's schema: a field
    gone whose spec, but for its name, is that of exactly one field that came (`venue-twin layer
    alter --rename-field`, the API's `rename_fields`). A field renamed and retitled at once is a
    field dropped and one added."""
    if old is None or new is None:
        return {}
    old_names, new_names = {f.name for f in old.fields}, {f.name for f in new.fields}
    gone = [f for f in old.fields if f.name not in new_names]
    came = [f for f in new.fields if f.name not in old_names]
    pairs: dict[str, str] = {}
    for f in came:
        like = [g for g in gone if replace(g, name=f.name) == f]
        if len(like) == 1 and sum(1 for h in came if replace(like[0], name=h.name) == h) == 1:
            pairs[f.name] = like[0].name
    return pairs


def carried_fields(old: LayerSchema, new: LayerSchema) -> dict[str, str]:
    """{old name: new name} of the fields of `old` that `new` still has, under the same name or
    renamed (`renamed_fields`); a field dropped since is not among them. A file exported at `old`
    and read with its fields is carried to `new` through this."""
    renamed = {was: now for now, was in renamed_fields(old, new).items()}
    names = {f.name for f in new.fields}
    return {f.name: renamed.get(f.name, f.name) for f in old.fields if f.name in renamed or f.name in names}
