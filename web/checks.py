"""The layer check: which features fail validation or miss attributes, and why.

Validation is the twin's own (`twin.validation.validate_changes`: geometry type, emptiness,
validity, the area of interest, required fields, types and allowed values), run on each feature
as stored, so a feature committed under older rules, imported around the twin or made by a
newer schema shows up with the reason the twin would refuse it today.

"Missing attributes" are the optional fields a feature leaves empty while most of its peers
fill them: the features of the same layer with the same values in the schema's classifying
fields (those with a fixed list of allowed values, e.g. landscaping `kind`, road `road_class`).
A flower bed with no pot count when the other flower beds have one is flagged; a lawn with no
pot count is not. Notes are never expected.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import shapely

from twin.core import Ref, TwinLike
from twin.model import Change, Feature, LayerSchema
from twin.validation import validate_changes
from web import i18n

NEVER_EXPECTED = frozenset({"notes"})
PEER_SHARE = 0.5  # a field is expected when more than this share of a feature's peers fill it
MIN_PEERS = 2


@dataclass(frozen=True)
class FeatureCheck:
    feature_id: str
    status: str  # "invalid", "missing" or "ok"
    problems: tuple[str, ...]  # validation reasons (English, as the twin words them)
    missing: tuple[str, ...]  # names of expected fields left empty

    def reasons_in(self, lang: str, schema: LayerSchema) -> list[str]:
        return [text for _, text in self.findings_in(lang, schema)]

    def findings_in(self, lang: str, schema: LayerSchema) -> list[tuple[str, str]]:
        """Each reason as (kind, text in `lang`); kinds are REASON_KINDS."""
        out = [(reason_kind(p), translate_problem(p, lang, schema)) for p in self.problems]
        for name in self.missing:
            spec = schema.field(name)
            title = i18n.field_title(lang, spec) if spec else name
            out.append(("attribute_expected", i18n.label(lang, "missing_field", field=title)))
        return out


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def classifying_fields(schema: LayerSchema) -> list[str]:
    return [f.name for f in schema.fields if f.allowed is not None and f.required]


def check_records(schema: LayerSchema, records: list[dict[str, Any]], area_of_interest: Any) -> dict[str, FeatureCheck]:
    """Check decoded GeoJSON features of one layer; only features with a finding are returned."""
    if not records:
        return {}
    geoms = []
    for d in records:
        g = d.get("geometry")
        geoms.append(orjson.dumps(g) if g else None)
    shapes = shapely.from_geojson(geoms, on_invalid="ignore")
    changes = [
        Change(schema.name, "upsert", str(d["id"]), Feature(str(d["id"]), shapes[i], dict(d.get("properties") or {})))
        for i, d in enumerate(records)
    ]
    problems: dict[str, list[str]] = defaultdict(list)
    for p in validate_changes(changes, {schema.name: schema}, area_of_interest):
        if p.feature_id is not None:
            problems[p.feature_id].append(p.reason)

    # peers: same values in the classifying fields
    keys = classifying_fields(schema)
    optional = [f.name for f in schema.fields if not f.required and f.name not in NEVER_EXPECTED]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for d in records:
        props = d.get("properties") or {}
        groups[tuple(str(props.get(k)) for k in keys)].append(props)
    filled: dict[tuple[Any, ...], dict[str, int]] = {}
    for gk, members in groups.items():
        filled[gk] = {name: sum(1 for m in members if not _empty(m.get(name))) for name in optional}

    out: dict[str, FeatureCheck] = {}
    for d in records:
        fid = str(d["id"])
        props = d.get("properties") or {}
        gk = tuple(str(props.get(k)) for k in keys)
        peers = len(groups[gk]) - 1
        missing = []
        if peers >= MIN_PEERS:
            for name in optional:
                if _empty(props.get(name)) and filled[gk][name] / peers > PEER_SHARE:
                    missing.append(name)
        found = problems.get(fid, [])
        if found or missing:
            status = "invalid" if found else "missing"
            out[fid] = FeatureCheck(fid, status, tuple(found), tuple(missing))
    return out


def layer_check(twin: TwinLike, layer: str, ref: Ref) -> dict[str, FeatureCheck]:
    """Findings for every feature of `layer` as of `ref` (cached per version)."""
    from web.data import _layer_checks, _twin_key

    def make() -> dict[str, FeatureCheck]:
        schema = twin.layer(layer)
        page = twin.features(layer, ref)
        records = [orjson.loads(b) for b in page.features]
        return check_records(schema, records, twin.area_of_interest)

    return _layer_checks.get((_twin_key(twin), layer, ref.seq), make)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- the reasons in Chinese
def translate_problem(reason: str, lang: str, schema: LayerSchema) -> str:
    """The twin's validation reason in the page's language (the twin words them in English)."""
    m = re.fullmatch(r"(\w+)=(.+) is not one of: (.+)", reason, flags=re.DOTALL)
    spec = schema.field(m[1]) if m else None
    if m and spec is not None and spec.allowed is not None:
        # the allowed values by their labels, as the attribute table shows them, each code in brackets
        def named(v: Any) -> str:
            name = i18n.value_label(lang, spec, v)
            return i18n.label(lang, "value_with_code", label=name, code=v) if name else str(v)

        allowed = i18n.label(lang, "list_separator").join(named(v) for v in spec.allowed)
        return i18n.label(lang, "value_not_allowed", field=i18n.field_title(lang, spec), value=m[2], allowed=allowed)
    if lang == "en":
        return reason

    def title(name: str) -> str:
        spec = schema.field(name)
        return i18n.field_title("zh", spec) if spec else name

    rules: list[tuple[str, Any]] = [
        (r"required property '(\w+)' is missing", lambda m: f"缺少必填属性“{title(m[1])}”"),
        (r"unknown property '(\w+)'.*", lambda m: f"图层未定义属性“{m[1]}”"),
        (r"(\w+)=(.+) is not one of: (.+)", lambda m: f"“{title(m[1])}”的值 {m[2]} 不在允许值之内（{m[3]}）"),
        (r"(\w+) must be (.+), got (.+)", lambda m: f"“{title(m[1])}”类型不正确（应为 {m[2]}，实为 {m[3]}）"),
        (r"(\w+) must be (.+)", lambda m: f"“{title(m[1])}”类型不正确（应为 {m[2]}）"),
        (r"geometry is a (\w+); layer \w+ takes (.+)", lambda m: f"几何类型为 {m[1]}，本图层只接受 {m[2]}"),
        (r"geometry is empty", lambda m: "几何为空"),
        (r"geometry has coordinates that are not finite numbers", lambda m: "几何坐标不是有限数值"),
        (r"invalid geometry: (.+)", lambda m: f"几何无效：{m[1]}"),
        (
            r"geometry \((.+)\) lies outside the venue's area of interest.*",
            lambda m: f"几何（{m[1]}）位于场馆范围之外（坐标系或 GCJ-02 偏移有误？）",
        ),
        (r"no geometry", lambda m: "缺少几何"),
        (r"layer \w+ holds records without geometry", lambda m: "本图层为无几何的台账记录，却带有几何"),
    ]
    for pattern, make in rules:
        m = re.fullmatch(pattern, reason)
        if m:
            return str(make(m))
    return reason


# ---------------------------------------------------------------------------- grouped by reason
# The kinds of finding, in the order the problems list shows them: what stops a feature from being
# drawn where it is first, then what the twin would refuse in its attributes, then what is only
# expected of it. Each is an i18n label "reason_<kind>".
REASON_KINDS = (
    "geometry_invalid",
    "geometry_empty",
    "geometry_type",
    "outside_venue",
    "required_missing",
    "value_not_allowed",
    "wrong_type",
    "unknown_field",
    "bad_id",
    "other",
    "attribute_expected",
)
_KIND_PATTERNS: list[tuple[str, str]] = [
    (r"invalid geometry: .*|geometry has coordinates that are not finite numbers", "geometry_invalid"),
    (r"geometry is empty|no geometry", "geometry_empty"),
    (r"geometry is a \w+; layer .*|layer \w+ holds records without geometry", "geometry_type"),
    (r"geometry \(.+\) lies outside the venue's area of interest.*", "outside_venue"),
    (r"required property '\w+' is missing", "required_missing"),
    (r"\w+=.+ is not one of: .*", "value_not_allowed"),
    (r"\w+ must be .*|\w+=.+ does not fit .*|\w+ is not valid Unicode text.*|\w+ has unknown type .*", "wrong_type"),
    (r"unknown property .*", "unknown_field"),
    (r"feature id .*|the id .*|a feature has no id", "bad_id"),
]


def reason_kind(reason: str) -> str:
    """Which of REASON_KINDS a validation reason (as the twin words it) is."""
    for pattern, kind in _KIND_PATTERNS:
        if re.fullmatch(pattern, reason, flags=re.DOTALL):
            return kind
    return "other"


@dataclass(frozen=True)
class ReasonGroup:
    kind: str
    title: str
    entries: tuple[tuple[FeatureCheck, tuple[str, ...]], ...]  # each feature once, with its reasons of this kind


def group_by_reason(
    findings: dict[str, FeatureCheck], lang: str, schema: LayerSchema, code_of: dict[str, str] | None = None
) -> list[ReasonGroup]:
    """The findings by kind of reason, in REASON_KINDS order, each group's features by code
    (`code_of`, else the id). A feature with reasons of two kinds is in both groups."""
    code_of = code_of or {}
    by_kind: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for check in findings.values():
        for kind, text in check.findings_in(lang, schema):
            by_kind[kind].setdefault(check.feature_id, []).append(text)
    groups = []
    for kind in REASON_KINDS:
        texts = by_kind.get(kind)
        if not texts:
            continue
        order = sorted(texts, key=lambda fid: (code_of.get(fid, fid), fid))
        entries = tuple((findings[fid], tuple(texts[fid])) for fid in order)
        groups.append(ReasonGroup(kind, i18n.label(lang, f"reason_{kind}"), entries))
    return groups
