"""The layer check: which features fail validation or miss attributes, and why.

Validation is the twin's own (`twin.validation.validate_changes`: geometry type, emptiness,
validity, the area of interest, required fields, types and allowed values), run on each feature
as stored, so a feature committed under older rules, imported around the twin or made by a
newer schema shows up with the reason the twin would refuse it today. Each problem is worded in the
page's language from what it means (its code and arguments, `twin.errors.Problem`), never from the
twin's English sentence, and grouped by its code.

"Missing attributes" are the optional fields a feature leaves empty while most of its peers
fill them: the features of the same layer with the same values in the schema's classifying
fields (those with a fixed list of allowed values, e.g. landscaping `kind`, road `road_class`).
A flower bed with no pot count when the other flower beds have one is flagged; a lawn with no
pot count is not. Notes are never expected.

Only what people write is expected: a layer whose records the twin derives from files (a survey
layer, each record written from its raster by the importer alone) leaves a field empty where the
file has no such value (a colour orthophoto has no no-data value, which an NDVI beside it has), not
where someone forgot it, so its features are checked by validation only (`expects_attributes`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import shapely

from completion.register import LAYER as PROJECTS_LAYER
from twin.core import Ref, TwinLike
from twin.errors import Problem
from twin.model import Change, Feature, LayerSchema
from twin.surveys import is_survey_layer
from twin.validation import validate_changes
from web import i18n

NEVER_EXPECTED = frozenset({"notes"})
PEER_SHARE = 0.5  # a field is expected when more than this share of a feature's peers fill it
MIN_PEERS = 2


@dataclass(frozen=True)
class FeatureCheck:
    feature_id: str
    status: str  # "invalid", "missing" or "ok"
    problems: tuple[Problem, ...]  # what validation found, each with its code and args
    missing: tuple[str, ...]  # names of expected fields left empty

    def reasons_in(self, lang: str, schema: LayerSchema) -> list[str]:
        return [text for _, text in self.findings_in(lang, schema)]

    def findings_in(self, lang: str, schema: LayerSchema) -> list[tuple[str, str]]:
        """Each reason as (kind, text in `lang`); kinds are REASON_KINDS."""
        out = [(reason_kind(p.code), problem_text(p, lang, schema)) for p in self.problems]
        for name in self.missing:
            spec = schema.field(name)
            title = i18n.field_title(lang, spec) if spec else name
            out.append(("attribute_expected", i18n.label(lang, "missing_field", field=title)))
        return out


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def classifying_fields(schema: LayerSchema) -> list[str]:
    return [f.name for f in schema.fields if f.allowed is not None and f.required]


def expects_attributes(schema: LayerSchema) -> bool:
    """Whether an empty attribute of this layer can be one forgotten: not in a layer whose records
    the twin writes from files (the survey layers, twin.surveys: their fields say what the file
    has, and a file without a value has none to forget)."""
    return not is_survey_layer(schema.name)


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
    problems: dict[str, list[Problem]] = defaultdict(list)
    for p in validate_changes(changes, {schema.name: schema}, area_of_interest):
        if p.feature_id is not None:
            problems[p.feature_id].append(p)

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
        if peers >= MIN_PEERS and expects_attributes(schema):
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
        schema = twin.layer(layer, ref)  # the schema of that version: a field renamed since is no problem then
        page = twin.features(layer, ref)
        records = [orjson.loads(b) for b in page.features]
        found = check_records(schema, records, twin.area_of_interest)
        if layer == PROJECTS_LAYER:
            found = _with_references(found, _reference_problems(twin, records, ref))
        return found

    return _layer_checks.made((_twin_key(twin), layer, ref.seq), make)


def _reference_problems(twin: TwinLike, records: list[dict[str, Any]], ref: Ref) -> dict[str, list[Problem]]:
    """The project records whose `features` name a venue feature the twin did not have at `ref`
    (one deleted since the record was written: the twin refuses such a reference when the record is
    written, not when the feature goes), as the register's own check words it, by record id."""
    from completion.reports import feature_ref_problems

    named = {str(d["id"]): [str(k) for k in ((d.get("properties") or {}).get("features") or [])] for d in records}
    refs = sorted({k for ks in named.values() for k in ks})
    bad = feature_ref_problems(twin, refs, ref.seq) if refs else {}
    out: dict[str, list[Problem]] = {}
    # only a feature missing from a layer the reader sees: a reference into a layer hidden from them
    # (restricted) is theirs to trust, and a malformed one was refused when written
    missing = {k for k, why in bad.items() if why.endswith("no such feature")}
    for fid, ks in named.items():
        for k in ks:
            if k in missing:
                out.setdefault(fid, []).append(
                    Problem(PROJECTS_LAYER, fid, bad[k], "feature_reference_missing", {"ref": k})
                )
    return out


def _with_references(found: dict[str, FeatureCheck], extra: dict[str, list[Problem]]) -> dict[str, FeatureCheck]:
    out = dict(found)
    for fid, problems in extra.items():
        had = out.get(fid)
        out[fid] = FeatureCheck(fid, "invalid", (*(had.problems if had else ()), *problems), had.missing if had else ())
    return out


# ---------------------------------------------------------------------------- the problems in words
def problem_text(problem: Problem, lang: str, schema: LayerSchema) -> str:
    """A problem in the page's language, worded from its code and args (the i18n label
    "problem_<code>"); one without a code, or with a code this page has no words for, by its reason
    as the twin words it (in English)."""
    key = f"problem_{problem.code}"
    if problem.code is None or not i18n.has_label(key):
        return problem.reason
    return i18n.label(lang, key, **_problem_values(problem, lang, schema))


def _problem_values(problem: Problem, lang: str, schema: LayerSchema) -> dict[str, str]:
    """A problem's args as its label shows them (twin.validation.PROBLEM_CODES names them)."""
    args = problem.args
    spec = schema.field(args["field"]) if isinstance(args.get("field"), str) else None
    sep = i18n.label(lang, "list_separator")

    def named(v: Any) -> str:  # a value by its label, as the attribute table shows it, the code in brackets
        name = i18n.value_label(lang, spec, v)
        return i18n.label(lang, "value_with_code", label=name, code=v) if name else str(v)

    values: dict[str, str] = {}
    for arg, v in args.items():
        if arg == "field":
            values[arg] = i18n.field_title(lang, spec) if spec is not None else str(v)
        elif arg in ("value", "op", "id", "nfc"):
            values[arg] = repr(v)  # as written, text in quotes
        elif arg == "allowed":
            values[arg] = sep.join(map(named, v))
        elif arg == "known":
            values[arg] = sep.join(map(str, v))
        elif arg == "bounds":
            values[arg] = _box(v, 5)
        elif arg == "area":
            values[arg] = _box(v, 3)
        elif arg == "expected":
            values[arg] = _label_or(lang, f"problem_type_{v}", v)
        elif arg == "length":
            values[arg] = f"{v:,}"
        elif arg == "detail" and problem.code == "geometry_invalid":
            values[arg] = geos_reason_text(str(v), lang)
        elif arg != "actual":
            values[arg] = str(v)
    if "actual" in args:  # what kind of value it is, when the twin names that rather than the value
        actual = args["actual"]
        values["got"] = (
            repr(args.get("value")) if actual is None else _label_or(lang, f"problem_actual_{actual}", actual)
        )
    return values


_GEOS_REASON = re.compile(r"\s*(?P<what>[^\[]+?)\s*(?:\[(?P<x>[-+0-9.eE]+)\s+(?P<y>[-+0-9.eE]+)\])?\s*")


def geos_reason_text(detail: str, lang: str) -> str:
    """GEOS's reason (\"Self-intersection[121.29925 31.18825]\") in the page's language, with the
    place as lon, lat; one it has no words for is kept as GEOS gives it."""
    m = _GEOS_REASON.fullmatch(detail)
    if m is None or not i18n.has_label(f"geos_{m.group('what')}"):
        return detail
    text = i18n.label(lang, f"geos_{m.group('what')}")
    if m.group("x") is None:
        return text
    return i18n.label(lang, "geos_at", what=text, where=f"{float(m.group('x')):.6f}, {float(m.group('y')):.6f}")


def _label_or(lang: str, key: str, fallback: Any) -> str:
    return i18n.label(lang, key) if i18n.has_label(key) else str(fallback)


def _box(bounds: Any, digits: int) -> str:
    minx, miny, maxx, maxy = bounds
    return f"{minx:.{digits}f},{miny:.{digits}f} – {maxx:.{digits}f},{maxy:.{digits}f}"


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
# The kind of each problem code (twin.validation.PROBLEM_CODES); any other code, and none, is "other".
KIND_OF_CODE: dict[str, str] = {
    "geometry_invalid": "geometry_invalid",
    "geometry_not_finite": "geometry_invalid",
    "geometry_empty": "geometry_empty",
    "no_geometry": "geometry_empty",
    "geometry_type": "geometry_type",
    "unexpected_geometry": "geometry_type",
    "outside_area": "outside_venue",
    "required_missing": "required_missing",
    "value_not_allowed": "value_not_allowed",
    "wrong_type": "wrong_type",
    "number_too_large": "wrong_type",
    "integer_out_of_range": "wrong_type",
    "integer_inexact": "wrong_type",
    "unknown_type": "wrong_type",
    "text_not_unicode": "wrong_type",
    "text_holds_nul": "wrong_type",
    "text_control_character": "wrong_type",
    "text_too_long": "wrong_type",
    "unknown_property": "unknown_field",
    "id_not_text": "bad_id",
    "id_too_long": "bad_id",
    "id_missing": "bad_id",
    "id_white_space": "bad_id",
    "id_not_unicode": "bad_id",
    "id_control_character": "bad_id",
    "id_not_nfc": "bad_id",
    "id_mismatch": "bad_id",
    "reserved_id": "bad_id",
}


def reason_kind(code: str | None) -> str:
    """Which of REASON_KINDS a problem with this code (Problem.code) is grouped under."""
    return KIND_OF_CODE.get(code, "other") if code is not None else "other"


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
