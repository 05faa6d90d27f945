"""What the layer-check and change pages show beside their maps, ready for their templates.

- `check_view`: a layer's attribute table (every feature with its code, check status and fields,
  and the box a row click zooms to), its counts, and its problems grouped by reason
  (`web.checks.group_by_reason`);
- `changes_view`: the change map's side list, with geometry changes (added, deleted, moved or
  reshaped) apart from attribute-only ones, and the project register's changes marked so the page
  can hide them.

The templates in web/templates/ (check_*.html, changes_side.html) render these; web/maps.py puts
them on the pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson
import shapely

from completion.register import LAYER as PROJECTS_LAYER
from twin.core import Ref, TwinLike, reference_fields
from twin.model import SCHEMA_ID, FieldSpec, LayerSchema
from twin.schema import renamed_fields
from twin.surveys import is_survey_layer, survey_schema
from web import i18n
from web.checks import FeatureCheck, check_records, group_by_reason, problem_text
from web.data import (
    ChangeItem,
    bounds_to_display,
    changed_fields,
    feature_boxes,
    feature_code,
    geometry_changed,
    reference_text,
    references_in,
    union_bounds,
)

TABLE_LIMIT = 2000  # rows a page's attribute table holds; the rest are a download away
LIST_LIMIT = 400  # entries in each of the change map's lists
SEVERITY = {"invalid": 0, "missing": 1, "ok": 2}  # the status column sorts worst first
NUMERIC_TYPES = ("integer", "number")


def _bbox_text(bounds: Sequence[float] | None, gcj02: bool) -> str:
    """A lon/lat box as the page's data-bbox/data-zoom attribute (in the basemap's datum), or ""."""
    if bounds is None or not all(np.isfinite(bounds)):
        return ""
    shown = bounds_to_display([float(v) for v in bounds], gcj02)
    return ",".join(f"{v:.7f}" for v in shown) if shown else ""


def _geometry_bounds(geometries: Sequence[Any]) -> np.ndarray:
    """The bounds of GeoJSON geometries (None allowed: NaN bounds), in one vectorised parse."""
    if not geometries:
        return np.empty((0, 4))
    data = [orjson.dumps(g) if g else None for g in geometries]
    return np.asarray(shapely.bounds(shapely.from_geojson(data, on_invalid="ignore")), dtype=float)


# ---------------------------------------------------------------------------- the layer check
@dataclass(frozen=True)
class Column:
    name: str
    title: str
    numeric: bool
    printed: bool = True  # on paper (a wide register prints only the columns a meeting reads)
    unit: str | None = None  # the field's unit as the heading gives it after the title: "Ground sample distance (m)"


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | None = None  # a number column's value; None sorts by the text (empties last)
    missing: bool = False  # an attribute the check expects and the feature leaves empty
    code: str | None = None  # the stored value where the text is its label (kept for engineers and the filter)


@dataclass(frozen=True)
class Row:
    id: str
    code: str
    name: str
    status: str  # ok, missing or invalid
    cells: tuple[Cell, ...]
    bbox: str  # the feature's box, "" without geometry
    key: str  # the feature as the page engine names it: "mapLayer:featureId"

    @property
    def severity(self) -> int:
        return SEVERITY[self.status]


@dataclass(frozen=True)
class ProblemEntry:
    id: str
    code: str
    name: str
    status: str
    texts: tuple[str, ...]
    bbox: str
    key: str


@dataclass(frozen=True)
class ProblemGroup:
    kind: str
    title: str
    entries: tuple[ProblemEntry, ...]


@dataclass
class CheckView:
    layer: str
    spatial: bool
    total: int
    counts: dict[str, int]  # ok / missing / invalid
    problems: int  # features with at least one finding
    groups: list[ProblemGroup]
    columns: list[Column]
    rows: list[Row]  # at most TABLE_LIMIT: every feature with a problem, then the others by code

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.total


def column_unit(lang: str, spec: FieldSpec | None) -> str | None:
    """A field's unit as its column's heading writes it, in the page's language."""
    return None if spec is None or not spec.unit else i18n.unit_heading(lang, spec.unit)


def _number_text(spec: FieldSpec | None, value: float) -> str:
    """A number as the table shows it: degrees to 1e-6 (about 0.1 m; to two decimals, as other
    numbers are, a survey's edges were a kilometre out and a small flight's west and east the same),
    a fraction to three significant digits (a 2 cm pixel, 0.015, read 0.01), else i18n.fmt_number."""
    if spec is not None and spec.unit == "deg" and isinstance(value, float | int):
        return f"{value:.6f}"
    if isinstance(value, float) and 0 < abs(value) < 1:
        return f"{value:.3g}"
    return i18n.fmt_number(value)


def _value_cell(spec: FieldSpec | None, value: Any, lang: str, missing: bool) -> Cell:
    if value is None or value == "" or value == []:
        return Cell("", None, missing)
    if isinstance(value, bool):
        return Cell(i18n.label(lang, "yes" if value else "no"), None, missing)
    if isinstance(value, int | float):
        return Cell(_number_text(spec, value), float(value), missing)
    if isinstance(value, list):
        if spec is not None and spec.name == "band_descriptions":
            value = [i18n.band_name(lang, str(v)) for v in value]
        return Cell(", ".join(map(str, value)), None, missing)
    shown = i18n.value_label(lang, spec, value)
    if shown is not None:
        return Cell(shown, None, missing, str(value))
    return Cell(str(value), None, missing)


def _reference_cell(value: Any, names: Mapping[str, str], lang: str, missing: bool) -> Cell:
    """A reference field's cell: the features it names by their names (web.data.reference_text),
    the references as stored kept for engineers (the cell's title and data-code, which the filter
    matches); one `names` has no name for (into a layer the reader may not see) is not there."""
    shown = reference_text(value, names, lang)
    if shown is None:
        return Cell("", None, missing)
    return Cell(shown[0], None, missing, shown[1])


def _natural(text: str) -> tuple[Any, ...]:
    """A sort key that puts "HL-2" before "HL-10", as the page's collator does."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


# The columns a meeting reads on the project register's printout (with the code and the check
# status, which always print; the name in the page's language is added): its 21 columns ran
# ~3,800 px wide, and the paper showed 7. Other layers' tables print whole, every column being
# what their check is about.
PRINT_FIELDS: dict[str, tuple[str, ...]] = {
    "projects": (
        "area",
        "responsible_unit",
        "responsible_person",
        "planned_start",
        "planned_finish",
        "percent_complete",
        "progress_date",
    ),
}


def _printed_columns(layer: str, columns: list[Column], lang: str) -> list[Column]:
    """The table's columns, those not for paper marked so."""
    fields = PRINT_FIELDS.get(layer)
    if not fields:
        return columns
    keep = {*fields, f"name_{lang}"}
    code, *rest = columns
    return [code, *(replace(c, printed=c.name in keep) for c in rest)]


def _survey_words(schema: LayerSchema, records: Sequence[dict[str, Any]]) -> LayerSchema:
    """A survey layer's fields with the words the page shows them by. Its schema is stored with the
    titles the layer was made with (one made before its fields had Chinese titles has English ones or
    none), so a field without a title takes the one the code gives it now (twin.surveys.survey_schema);
    the kinds of survey are named as the imagery names them (i18n.survey_kind), the code kept."""
    if not is_survey_layer(schema.name):
        return schema
    current = {f.name: f for f in survey_schema(schema.name).fields}
    kinds = sorted({str(k) for d in records if (k := (d.get("properties") or {}).get("kind"))})

    def worded(f: FieldSpec) -> FieldSpec:
        now = current.get(f.name)
        if now is not None:
            f = replace(f, title_zh=f.title_zh or now.title_zh, title_en=f.title_en or now.title_en)
        if f.name == "kind" and not f.labels:
            f = replace(f, labels=tuple((k, i18n.survey_kind("zh", k), i18n.survey_kind("en", k)) for k in kinds))
        return f

    return replace(schema, fields=tuple(worded(f) for f in schema.fields))


def check_view(
    schema: LayerSchema,
    records: Sequence[dict[str, Any]],
    findings: dict[str, FeatureCheck],
    lang: str,
    gcj02: bool = False,
    limit: int = TABLE_LIMIT,
    names: Callable[[list[str]], Mapping[str, str]] | None = None,
) -> CheckView:
    """The layer check of `records` (every feature of the layer, decoded GeoJSON) for its page.
    ``names(references)`` (web.data.reference_names, bound to the page's view, version and language) names
    the features the layer's reference fields name (a register's `features`), asked once for the
    rows shown; without it they show as stored."""
    schema = _survey_words(schema, records)
    layer = schema.name
    by_id = {str(d["id"]): d for d in records}
    props_of = {fid: (d.get("properties") or {}) for fid, d in by_id.items()}
    code_of = {fid: feature_code(schema, fid, props, lang) for fid, props in props_of.items()}
    # every feature with a problem, then the others by code, up to the limit (picked by a plain sort:
    # a big layer is cut long before "FB-2" against "FB-10" matters), shown in natural code order
    order = sorted(props_of, key=lambda fid: (fid not in findings, code_of[fid], fid))[:limit]
    order.sort(key=lambda fid: (_natural(code_of[fid]), fid))
    # boxes for what the page shows only: the table's rows and the problems
    boxed = list(dict.fromkeys([*order, *findings])) if schema.spatial else []
    boxes = _geometry_bounds([by_id[fid].get("geometry") for fid in boxed])
    bbox_of = {fid: _bbox_text(boxes[i], gcj02) for i, fid in enumerate(boxed)}

    def key(fid: str) -> str:
        return f"{layer}:{fid}"

    counts = {"invalid": 0, "missing": 0}
    for c in findings.values():
        counts[c.status] += 1
    counts["ok"] = len(records) - len(findings)

    groups = [
        ProblemGroup(
            g.kind,
            g.title,
            tuple(
                ProblemEntry(
                    c.feature_id,
                    code_of.get(c.feature_id, c.feature_id),
                    i18n.feature_name(lang, props_of.get(c.feature_id, {})),
                    c.status,
                    texts,
                    bbox_of.get(c.feature_id, ""),
                    key(c.feature_id),
                )
                for c, texts in g.entries
            ),
        )
        for g in group_by_reason(findings, lang, schema, code_of)
    ]

    code_spec = schema.field(schema.code_field) if schema.code_field else schema.field("code")
    fields = [f for f in schema.fields if code_spec is None or f.name != code_spec.name]
    columns = [
        Column(code_spec.name if code_spec else "", i18n.field_title(lang, code_spec) if code_spec else
               i18n.label(lang, "code"), False),
        *(Column(f.name, i18n.field_title(lang, f), f.type in NUMERIC_TYPES, unit=column_unit(lang, f))
          for f in fields),
        Column("", i18n.label(lang, "feature_id"), False),
    ]  # fmt: skip
    columns = _printed_columns(schema.name, columns, lang)

    # the features the rows' reference fields name, by name: one ask for every row shown
    ref_fields = set(reference_fields(schema)) if names is not None else set()
    named: Mapping[str, str] = {}
    if names is not None and ref_fields:
        named = names([r for fid in order for f in ref_fields for r in references_in(props_of[fid].get(f))])

    def cell(f: FieldSpec, props: dict[str, Any], missing: bool) -> Cell:
        if f.name in ref_fields:
            return _reference_cell(props.get(f.name), named, lang, missing)
        return _value_cell(f, props.get(f.name), lang, missing)

    # every feature with a problem, then the others by code, up to the limit; shown by code
    rows = []
    for fid in order:
        props = props_of[fid]
        check = findings.get(fid)
        missing = set(check.missing) if check else set()
        cells = (
            Cell(code_of[fid]),
            *(cell(f, props, f.name in missing) for f in fields),
            Cell(fid),
        )
        rows.append(
            Row(
                fid,
                code_of[fid],
                i18n.feature_name(lang, props),
                check.status if check else "ok",
                cells,
                bbox_of.get(fid, ""),
                key(fid),
            )
        )
    return CheckView(layer, schema.spatial, len(records), counts, len(findings), groups, columns, rows)


# ---------------------------------------------------------------------------- the change map
@dataclass(frozen=True)
class ChangeEntry:
    layer: str
    layer_title: str
    feature_id: str
    kind: str  # added, modified, deleted
    name: str
    fields: tuple[str, ...]  # titles of the attributes that changed (a modification)
    geometry: bool  # the feature appeared, went, moved or changed shape
    register: bool  # a record of the project register
    bbox: str  # where a click zooms: the feature before and after, or a register record's features
    keys: str  # what a click outlines, "|"-separated engine keys
    # what the twin's validation finds in the feature as the change left it (an added or modified
    # feature that came in around the rules: a legacy import), in the page's language
    problems: tuple[str, ...] = ()


@dataclass
class LayerCounts:
    layer: str
    title: str
    counts: dict[str, int]
    register: bool


@dataclass
class ChangesView:
    counts: dict[str, int]  # the map's (spatial) changes by kind, for the legend
    layers: list[LayerCounts]
    geometry: list[ChangeEntry]
    attributes: list[ChangeEntry]
    geometry_total: int
    attributes_total: int
    register_total: int
    total: int


CHANGE_KINDS = ("added", "modified", "deleted")


def _schema_words(lang: str, key: str, **values: str) -> str:
    return i18n.label(lang, f"schema_{key}", **values)


def schema_change_name(lang: str) -> str:
    return _schema_words(lang, "change")


def schema_change_texts(old: LayerSchema | None, new: LayerSchema | None, lang: str) -> tuple[str, ...]:
    """What changed in a layer's schema, field by field (renamed, added, dropped, changed), in `lang`;
    a field is named by its title and, where a rename makes the name matter, its name too."""
    if old is None or new is None:
        return (_schema_words(lang, "layer_created" if old is None else "layer_removed"),)

    def named(spec: FieldSpec) -> str:
        title = i18n.field_title(lang, spec)
        return spec.name if title == spec.name else f"{title} ({spec.name})"

    renamed = renamed_fields(old, new)
    olds = {f.name: f for f in old.fields}
    news = {f.name: f for f in new.fields}
    out = [
        _schema_words(lang, "field_renamed", old=old_name, new=named(news[new_name]))
        for new_name, old_name in renamed.items()
    ]
    gone = set(renamed.values())
    out += [
        _schema_words(lang, "field_added", field=named(f))
        for f in new.fields
        if f.name not in olds and f.name not in renamed
    ]
    out += [
        _schema_words(lang, "field_dropped", field=named(f))
        for f in old.fields
        if f.name not in news and f.name not in gone
    ]
    out += [
        _schema_words(lang, "field_changed", field=named(f)) for f in new.fields if f.name in olds and olds[f.name] != f
    ]
    if not out:
        out.append(_schema_words(lang, "layer_changed"))
    return tuple(out)


def _change_problems(
    twin: TwinLike, items: Sequence[ChangeItem], schemas: dict[str, LayerSchema], lang: str
) -> dict[str, tuple[str, ...]]:
    """What validation finds in each added or modified feature as the change left it (ChangeItem.key
    → its reasons in `lang`), checked as the layer check checks it (web.checks.check_records) but
    for validation only: whether an attribute is expected depends on the peers left unchanged."""
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if it.after is not None and it.layer in schemas:
            by_layer.setdefault(it.layer, []).append({**it.after, "id": it.feature_id})
    out: dict[str, tuple[str, ...]] = {}
    for layer, records in by_layer.items():
        schema = schemas[layer]
        for fid, check in check_records(schema, records, twin.area_of_interest).items():
            texts = tuple(problem_text(p, lang, schema) for p in check.problems)
            if texts:
                out[f"{layer}/{fid}"] = texts
    return out


def changes_view(
    twin: TwinLike,
    items: Sequence[ChangeItem],
    lang: str,
    before: Ref,
    after: Ref,
    gcj02: bool = False,
    limit: int = LIST_LIMIT,
) -> ChangesView:
    """The change map's side list of `items` (Twin.diff between `before` and `after`). Layers and
    attributes are named by their schemas at `after` (a layer gone by then, at `before`); a
    layer's schema change (its `@schema` entry) is listed with the attribute changes, saying what
    changed in the layer's fields, and counted neither on the map's legend nor among its layer's
    features, since it is neither."""
    old_schemas = {s.name: s for s in twin.layers(before)}
    schemas = {**old_schemas, **{s.name: s for s in twin.layers(after)}}
    geometry: list[ChangeEntry] = []
    attributes: list[ChangeEntry] = []
    per: dict[str, dict[str, int]] = {}
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    renames: dict[str, dict[str, str]] = {}

    # a register record zooms to the venue features it covers, as they stood on its side of the diff
    def covered(it: ChangeItem) -> list[str]:
        feats = (it.shown.get("properties") or {}).get("features") or []
        return [str(k) for k in feats if isinstance(k, str) and "/" in k]

    wanted_after = [k for it in items if it.layer == PROJECTS_LAYER and it.after for k in covered(it)]
    wanted_before = [k for it in items if it.layer == PROJECTS_LAYER and not it.after for k in covered(it)]
    boxes_after = feature_boxes(twin, wanted_after, after) if wanted_after else {}
    boxes_before = feature_boxes(twin, wanted_before, before) if wanted_before else {}

    spatial_items = [
        it for it in items if it.layer in schemas and schemas[it.layer].spatial and it.feature_id != SCHEMA_ID
    ]
    pairs = [(it.before or {}).get("geometry") for it in spatial_items]
    afters = [(it.after or {}).get("geometry") for it in spatial_items]
    b0, b1 = _geometry_bounds(pairs), _geometry_bounds(afters)
    spatial_box = {}
    for i, it in enumerate(spatial_items):
        both = [tuple(b) for b in (b0[i], b1[i]) if np.isfinite(b).all()]
        spatial_box[it.key] = _bbox_text(union_bounds(both), gcj02)

    for it in items:
        schema = schemas.get(it.layer)
        title = i18n.layer_title(lang, schema) if schema else it.layer
        if it.feature_id == SCHEMA_ID:
            per.setdefault(it.layer, dict.fromkeys(CHANGE_KINDS, 0))
            attributes.append(
                ChangeEntry(
                    it.layer, title, it.feature_id, it.kind, schema_change_name(lang),
                    schema_change_texts(old_schemas.get(it.layer) if it.before else None,
                                        schemas.get(it.layer) if it.after else None, lang),
                    False, False, "", "",
                )
            )  # fmt: skip
            continue
        per.setdefault(it.layer, dict.fromkeys(CHANGE_KINDS, 0))[it.kind] += 1
        props = it.shown.get("properties") or {}
        name = i18n.feature_name(lang, props) or it.feature_id
        fields: tuple[str, ...] = ()
        if it.kind == "modified" and schema is not None and it.before is not None and it.after is not None:
            renamed = renames.setdefault(it.layer, renamed_fields(old_schemas.get(it.layer), schema))
            fields = tuple(row[0] for row in changed_fields(schema, it.before, it.after, lang, renamed))
            was = it.before.get("properties") or {}
            if not fields and not geometry_changed(it.before.get("geometry"), it.after.get("geometry")):
                # changed only by its layer's field renames: say so rather than list nothing
                specs = {new: schema.field(new) for new in renamed}
                fields = tuple(
                    _schema_words(lang, "field_renamed", old=old, new=i18n.field_title(lang, spec))
                    for new, old in renamed.items()
                    if old in was and (spec := specs[new]) is not None
                )
        spatial = schema is not None and schema.spatial
        if spatial:
            counts[it.kind] += 1
            if it.kind == "modified":
                moved = geometry_changed((it.before or {}).get("geometry"), (it.after or {}).get("geometry"))
            else:
                moved = it.shown.get("geometry") is not None
            entry = ChangeEntry(
                it.layer, title, it.feature_id, it.kind, name, fields, moved, False,
                spatial_box.get(it.key, ""), f"changes:{it.key}",
            )  # fmt: skip
            (geometry if moved else attributes).append(entry)
            continue
        register = it.layer == PROJECTS_LAYER
        keys = covered(it) if register else []
        boxes = boxes_after if it.after else boxes_before
        box = union_bounds(boxes[k] for k in keys if k in boxes)
        found = [k for k in keys if k in boxes]
        engine_keys = "|".join(f"{k.partition('/')[0]}:{k.partition('/')[2]}" for k in found)
        attributes.append(
            ChangeEntry(
                it.layer, title, it.feature_id, it.kind, name, fields, False, register,
                _bbox_text(box, gcj02), engine_keys,
            )
        )  # fmt: skip

    # the register's records last, so the venue's own attribute changes come first
    attributes.sort(key=lambda e: e.register)
    # what validation finds in the features listed (only those: a diff of a whole big layer lists 2 × limit)
    listed = {f"{e.layer}/{e.feature_id}" for e in (*geometry[:limit], *attributes[:limit])}
    problems = _change_problems(
        twin, [it for it in items if it.key in listed and it.feature_id != SCHEMA_ID], schemas, lang
    )
    if problems:
        geometry = [replace(e, problems=problems.get(f"{e.layer}/{e.feature_id}", ())) for e in geometry]
        attributes = [replace(e, problems=problems.get(f"{e.layer}/{e.feature_id}", ())) for e in attributes]
    layers = [
        LayerCounts(name, i18n.layer_title(lang, schemas[name]) if name in schemas else name, c, name == PROJECTS_LAYER)
        for name, c in per.items()
    ]
    return ChangesView(
        counts,
        layers,
        geometry[:limit],
        attributes[:limit],
        len(geometry),
        len(attributes),
        sum(1 for it in items if it.layer == PROJECTS_LAYER),
        len(items),
    )
