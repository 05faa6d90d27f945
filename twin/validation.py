"""Checks a commit must pass before anything is written.

Every problem is collected (not just the first), each with its layer, feature id and reason,
so a writer can fix a whole file in one go. Geometry checks run vectorised through shapely,
which keeps a 100,000-feature import fast.

Feature ids are compared exactly, code point by code point (as Python compares str and SQLite
compares UTF-8 TEXT), with no case folding or Unicode normalisation. So that two ids that look the
same are the same id, an id must be text that is already in Unicode NFC form, with no control
characters (NUL included), no lone surrogates, no leading or trailing white space, and at most
MAX_ID_CHARS characters; anything else is refused with the reason, never silently rewritten (see
`id_problem`).

Each problem carries what it means as data as well as its English reason: a code and the code's
arguments (PROBLEM_CODES), so a page can word it in another language, or group problems, without
reading the English.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from itertools import chain, repeat
from operator import is_
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from twin.errors import Problem
from twin.model import SCHEMA_ID, Change, Feature, FieldSpec, LayerSchema

# Every code a problem from validation carries (Problem.code), with the names of its arguments
# (Problem.args), all plain data. "field" is a field's name, "layer" a layer's, "value" the value as
# given; "expected" a field type ("integer"...), "actual" what the reason names instead of the
# value (None: the value itself); "allowed" a list of allowed values or geometry types; "bounds" and
# "area" are [min x, min y, max x, max y] in lon/lat.
PROBLEM_CODES: dict[str, tuple[str, ...]] = {
    # the change itself
    "unknown_layer": ("layer",),
    "unknown_op": ("op", "allowed"),
    "reserved_id": ("id",),
    "changed_twice": (),
    "delete_with_feature": (),
    "no_feature": (),
    "id_mismatch": ("id",),
    # its id (id_problem): "value" is the id as given, "type" its Python type's name
    "id_not_text": ("value", "type"),
    "id_too_long": ("length", "max"),
    "id_missing": (),
    "id_white_space": (),
    "id_not_unicode": (),
    "id_control_character": (),
    "id_not_nfc": ("nfc",),
    # its properties
    "unknown_property": ("field", "layer", "known"),
    "text_not_unicode": ("field",),
    "text_holds_nul": ("field",),
    # character: the first one refused, as U+XXXX; setting: the VENUE_TWIN_ variable that sets max
    "text_control_character": ("field", "character"),
    "text_too_long": ("field", "length", "max", "setting"),
    "required_missing": ("field",),
    "wrong_type": ("field", "expected", "value", "actual"),
    "number_too_large": ("field",),
    "integer_out_of_range": ("field", "value"),
    "integer_inexact": ("field",),  # a float too large to be the integer it was written as
    "unknown_type": ("field", "type"),
    "value_not_allowed": ("field", "value", "allowed"),
    # its geometry
    "unexpected_geometry": ("layer",),
    "no_geometry": (),
    "geometry_type": ("layer", "geometry_type", "allowed"),
    "geometry_empty": (),
    "geometry_not_finite": (),
    "geometry_invalid": ("detail",),  # detail: GEOS's own words (is_valid_reason), in English
    "outside_area": ("bounds", "area"),
}


class Why(NamedTuple):
    """Why something is refused: `text`, the English sentence (a Problem's reason), and what it
    means as data, `code` and `args` (PROBLEM_CODES)."""

    text: str
    code: str
    args: dict[str, Any]


def _why(code: str, text: str, **args: Any) -> Why:
    return Why(text, code, args)


def _problem(layer: str, feature_id: str | None, why: Why) -> Problem:
    return Problem(layer, feature_id, why.text, why.code, why.args)


_CANONICAL: dict[str, type] = {"string": str, "number": float, "boolean": bool}
OPS = ("add", "modify", "upsert", "delete")
# The longest id, in characters: far more than any id people or systems write (a UUID is 36, the
# venue's codes are under 40), and little enough for every place an id goes: at most 1,024 bytes of
# UTF-8, well within the ~2,700 bytes PostgreSQL allows a B-tree index entry (twin_versions is
# indexed on the id: a 300,000-character id made the PostGIS commit fail with a 500), and at most
# 3,072 characters percent-encoded in /collections/{id}/items/{featureId}, within the 8 KB request
# line servers and proxies take.
MAX_ID_CHARS = 256
# How much of a longer id a message shows (the id itself could fill a screen, or a megabyte).
_SHOWN_ID_CHARS = 40


def shown_id(value: Any) -> str:
    """An id as a problem can name it: lone surrogates escaped, so the message can be encoded, and
    one too long to be an id cut short."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > MAX_ID_CHARS:
        text = text[:_SHOWN_ID_CHARS] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Characters no text of the twin may hold: C0 controls, DEL and C1 controls (an ESC starts a
# terminal's escape sequence: `venue-twin log` printed one that cleared the screen), and the bidi
# embeddings, overrides and isolates, which make text show in another order than it is (an id
# with U+202E shows its end reversed). Multi-line text (a note, a commit message) may hold tab and
# line feed; one-line text (an id, an author, a token's name) none of them: a line feed there
# forged a line of `venue-twin log`.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_LINE_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_TEXT_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")


def control_character(text: str, multiline: bool = False) -> str | None:
    """The first character of `text` no text may hold (see _LINE_CONTROLS), as U+XXXX; None if
    there is none. `multiline`: tab and line feed are allowed."""
    if text.isascii() and text.isprintable():
        return None  # the usual text, without a pass of the expression
    found = (_TEXT_CONTROLS if multiline else _LINE_CONTROLS).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def visible(text: str, multiline: bool = False) -> str:
    """`text` with every character control_character refuses written as a visible escape (ESC as
    \\x1b, U+202E as \\u202e), for printing text stored before it was refused to a terminal."""
    if text.isascii() and text.isprintable():
        return text
    return (_TEXT_CONTROLS if multiline else _LINE_CONTROLS).sub(lambda m: _escaped(m.group()), text)


def _escaped(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


class TextLimits(NamedTuple):
    """The longest text a commit takes, in characters (TwinSettings' *_max_chars)."""

    text: int  # a text property's value (VENUE_TWIN_TEXT_MAX_CHARS)
    message: int  # a commit message (VENUE_TWIN_MESSAGE_MAX_CHARS)
    author: int  # a commit's author, and so a token's name (VENUE_TWIN_AUTHOR_MAX_CHARS)


@functools.cache
def text_limits() -> TextLimits:
    """The limits as the environment sets them, read once per process: every feature of an
    import is checked against them, and reading the settings costs more than checking one.
    (A test that changes them calls text_limits.cache_clear().)"""
    from twin.settings import settings

    s = settings()
    return TextLimits(s.text_max_chars, s.message_max_chars, s.author_max_chars)


def text_why(field: str, value: str, multiline: bool, limit: int, setting: str) -> Why | None:
    """Why `value` cannot be the text of `field`, or None: a character control_character refuses,
    or more than `limit` characters (`setting` names the variable that sets it)."""
    if len(value) > limit:
        n = len(value)
        text = f"{field} is {n:,} characters long; it may hold at most {limit:,} ({setting})"
        return _why("text_too_long", text, field=field, length=n, max=limit, setting=setting)
    bad = control_character(value, multiline)
    if bad is not None:
        allowed = "tab and line breaks but " if multiline else ""
        text = f"{field} holds the control character {bad}; it may hold {allowed}no control or bidi override characters"
        return _why("text_control_character", text, field=field, character=bad)
    return None


def commit_text_problem(author: str, message: str, limits: TextLimits | None = None) -> str | None:
    """Why a commit cannot have this author and message (control characters, length), or None.
    A message may run over several lines; an author is one line."""
    limits = limits or text_limits()
    why = text_why("the author", author, False, limits.author, "VENUE_TWIN_AUTHOR_MAX_CHARS") or text_why(
        "the commit message", message, True, limits.message, "VENUE_TWIN_MESSAGE_MAX_CHARS"
    )
    return None if why is None else why.text


def fitted_message(text: str, limits: TextLimits | None = None) -> str:
    """A message the twin words itself (quoting notes, a reverted message) cut to the longest a
    commit message may be, and with what it quotes made visible (see `visible`)."""
    limit = (limits or text_limits()).message
    text = visible(text, multiline=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def id_problem(feature_id: Any) -> str | None:
    """Why `feature_id` cannot be a feature id, or None if it can (the rule in the module docstring)."""
    why = id_why(feature_id)
    return None if why is None else why.text


def id_why(feature_id: Any) -> Why | None:
    """`id_problem`, with its code and arguments."""
    if not isinstance(feature_id, str):
        kind = type(feature_id).__name__
        return _why("id_not_text", f"feature id {feature_id!r} is a {kind}; ids are text", value=feature_id, type=kind)
    if len(feature_id) > MAX_ID_CHARS:
        n = len(feature_id)
        text = f"the id is {n:,} characters long; an id holds at most {MAX_ID_CHARS}"
        return _why("id_too_long", text, length=n, max=MAX_ID_CHARS)
    if feature_id.isascii() and feature_id.isprintable():
        # The usual id, checked without a pass per character: printable ASCII is valid, holds no
        # control character and is its own NFC form, so only the white space rules are left.
        stripped = feature_id.strip()
        if not stripped:
            return _why("id_missing", "a feature has no id")
        return None if stripped == feature_id else _why("id_white_space", "the id has leading or trailing white space")
    if not feature_id.strip():
        return _why("id_missing", "a feature has no id")
    if _unencodable(feature_id):
        return _why("id_not_unicode", "the id is not valid Unicode text (it holds a lone surrogate)")
    if feature_id != feature_id.strip():
        return _why("id_white_space", "the id has leading or trailing white space")
    if any(unicodedata.category(c) == "Cc" for c in feature_id) or _LINE_CONTROLS.search(feature_id):
        # (Cc is every C0 and C1 control; the expression adds the bidi overrides and isolates)
        return _why("id_control_character", "the id holds a control character or a bidi override")
    if not unicodedata.is_normalized("NFC", feature_id):
        nfc = unicodedata.normalize("NFC", feature_id)
        return _why("id_not_nfc", f"the id is not in Unicode NFC form (write it as {nfc!r})", nfc=nfc)
    return None


def _plain_id(feature_id: Any) -> bool:
    """The usual id, known good without id_problem's reasons: printable ASCII text (so already NFC,
    no control characters) of at most MAX_ID_CHARS, with no space at either end (the only white
    space that prints)."""
    return (
        type(feature_id) is str
        and len(feature_id) <= MAX_ID_CHARS
        and feature_id.isascii()
        and feature_id.isprintable()
        and feature_id != ""
        and feature_id[0] != " "
        and feature_id[-1] != " "
    )


def _text_problem(value: Any) -> bool:
    """True if a property value holds text that cannot be stored (a lone surrogate)."""
    if isinstance(value, str):
        return not value.isascii() and _unencodable(value)  # ASCII always encodes
    if isinstance(value, list | tuple):
        return any(isinstance(v, str) and _unencodable(v) for v in value)
    return False


def _holds_nul(value: Any) -> bool:
    """True if a property value's text holds a NUL, which PostgreSQL's text and jsonb refuse and
    GDAL's writers (the GeoJSON, GeoPackage and Shapefile downloads, QGIS) cut the text at."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _coerce(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """Return the value in its canonical JSON type, or a reason it cannot be."""
    value, why = _coerce_why(spec, value)
    return value, None if why is None else why.text


def _wrong_type(spec: FieldSpec, value: Any, text: str, actual: str | None = None) -> tuple[Any, Why]:
    return None, _why("wrong_type", text, field=spec.name, expected=spec.type, value=value, actual=actual)


def _coerce_why(spec: FieldSpec, value: Any) -> tuple[Any, Why | None]:
    """`_coerce`, with the reason's code and arguments."""
    t, name = spec.type, spec.name
    if t == "string":
        if isinstance(value, str):
            return value, None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value), None
        kind = type(value).__name__
        return _wrong_type(spec, value, f"{name} must be text, got {kind}", kind)
    if t == "integer":
        if isinstance(value, bool):
            return _wrong_type(spec, value, f"{name} must be an integer, got a boolean", "boolean")
        if isinstance(value, int | np.integer):
            if not _INT64[0] <= int(value) < _INT64[1]:
                text = f"{name}={value} does not fit a 64-bit integer (from {_INT64[0]} to {_INT64[1] - 1})"
                return None, _why("integer_out_of_range", text, field=name, value=int(value))
            return int(value), None
        if isinstance(value, float | np.floating) and float(value).is_integer():
            if abs(float(value)) >= _EXACT_FLOAT:
                # A float this large is not the number it was written as (a JSON parser makes an
                # integer beyond 64 bits one: -9223372036854775809 arrives as -2**63, in range), so
                # neither it nor int() of it is quoted: the client never sent either.
                text = (
                    f"{name} is too large to be an exact integer (it was read as a floating-point number); "
                    f"an integer takes whole numbers from {_INT64[0]} to {_INT64[1] - 1}"
                )
                return None, _why("integer_inexact", text, field=name)
            return int(value), None
        if isinstance(value, str):
            try:
                return _coerce_why(spec, int(value))
            except ValueError:
                pass
        return _wrong_type(spec, value, f"{name} must be an integer, got {value!r}")
    if t == "number":
        if isinstance(value, bool):
            return _wrong_type(spec, value, f"{name} must be a number, got a boolean", "boolean")
        if isinstance(value, int | float | np.integer | np.floating):
            try:
                v = float(value)
            except OverflowError:
                return None, _why("number_too_large", f"{name} must be a finite number, got one too large", field=name)
            if math.isfinite(v):
                return v, None  # always a float, so 3 and 3.0 encode (and compare) alike
        if isinstance(value, str):
            try:
                v = float(value)
                if math.isfinite(v):
                    return v, None
            except ValueError:
                pass
        return _wrong_type(spec, value, f"{name} must be a finite number, got {value!r}")
    if t == "boolean":
        if isinstance(value, bool | np.bool_):
            return bool(value), None
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1"), None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        return _wrong_type(spec, value, f"{name} must be true or false, got {value!r}")
    if t == "list":
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value), None
        if isinstance(value, str):  # e.g. from a CSV or Shapefile column: a JSON array or comma list
            text = value.strip()
            if text.startswith("["):
                try:
                    import orjson

                    parsed = orjson.loads(text)
                    if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
                        return parsed, None
                except orjson.JSONDecodeError:
                    pass
            return [v.strip() for v in text.split(",") if v.strip()], None
        return _wrong_type(spec, value, f"{name} must be a list of text values, got {value!r}")
    if t == "date":
        if isinstance(value, datetime):
            return value.date().isoformat(), None
        if isinstance(value, date):
            return value.isoformat(), None
        if isinstance(value, str):
            try:
                if len(value.strip()) == 10:
                    return date.fromisoformat(value.strip()).isoformat(), None
                return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date().isoformat(), None
            except ValueError:
                pass
        return _wrong_type(spec, value, f"{name} must be a date YYYY-MM-DD, got {value!r}")
    return None, _why("unknown_type", f"{name} has unknown type {t}", field=name, type=t)


@functools.lru_cache(maxsize=64)
def _field_names(schema: LayerSchema) -> frozenset[str]:
    return frozenset(f.name for f in schema.fields)


def normalize_properties(schema: LayerSchema, props: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Coerce values to their declared types; return the clean properties and the reasons any failed."""
    out, whys = check_properties(schema, props)
    return out, [w.text for w in whys]


_TEXT_SETTING = "VENUE_TWIN_TEXT_MAX_CHARS"


def _value_text_why(name: str, raw: Any, limit: int) -> Why | None:
    """Why a property's text (a value, or each value of a list) cannot be stored: `text_why`."""
    if isinstance(raw, str):
        return text_why(name, raw, True, limit, _TEXT_SETTING)
    if isinstance(raw, list | tuple):
        for v in raw:
            if isinstance(v, str) and (why := text_why(name, v, True, limit, _TEXT_SETTING)) is not None:
                return why
    return None


def check_properties(
    schema: LayerSchema, props: Mapping[str, Any], limits: TextLimits | None = None
) -> tuple[dict[str, Any], list[Why]]:
    """`normalize_properties`, with each reason's code and arguments."""
    reasons: list[Why] = []
    out: dict[str, Any] = {}
    known = _field_names(schema)
    limit = (limits or text_limits()).text
    for k in props.keys() - known:
        shown, has = visible(shown_id(k)), sorted(known)
        text = f"unknown property {shown!r} (layer {schema.name} has: {', '.join(has)})"
        reasons.append(_why("unknown_property", text, field=shown, layer=schema.name, known=has))
    for spec in schema.fields:
        name = spec.name
        raw = props.get(name)
        if _text_problem(raw):
            text = f"{name} is not valid Unicode text (it holds a lone surrogate)"
            reasons.append(_why("text_not_unicode", text, field=name))
            continue
        if _holds_nul(raw):
            text = f"{name} holds a NUL character (\\u0000), which text in the twin may not hold"
            reasons.append(_why("text_holds_nul", text, field=name))
            continue
        # Before the type: a 15 MB value of a number field is refused without being quoted whole.
        why = _value_text_why(name, raw, limit)
        if why is not None:
            reasons.append(why)
            continue
        if _is_missing(raw) or raw == "":
            if spec.required:
                reasons.append(_why("required_missing", f"required property {name!r} is missing", field=name))
            continue
        if type(raw) is _CANONICAL.get(spec.type) and not (isinstance(raw, float) and not math.isfinite(raw)):
            value = raw  # already in its canonical type: the common case of a large import
        else:
            value, why = _coerce_why(spec, raw)
            if why:
                reasons.append(why)
                continue
        if spec.allowed is not None and value not in spec.allowed:
            text = f"{name}={value!r} is not one of: {', '.join(map(str, spec.allowed))}"
            reasons.append(_why("value_not_allowed", text, field=name, value=value, allowed=list(spec.allowed)))
            continue
        out[name] = value
    return out, reasons


# ---------------------------------------------------------------------- many features at once
# A large import hands in 100,000 features whose properties are nearly always already clean. Running
# each through normalize_properties cost a third of a second; a pass per column (C-level set and map
# over the values) finds the few that are not, and only those take the per-feature path, which
# words every reason. The result is the same: a feature passes the column checks only when
# normalize_properties would give its properties back unchanged (same values of the same types)
# with no reason, so skipping it changes nothing.
class _Absent:
    """A property the feature does not have (not the same as one given as None)."""


_ABSENT = _Absent()
_TYPE_OF = {"string": str, "number": float, "integer": int, "boolean": bool}  # hashable, compared as a set
_INT64 = (-(2**63), 2**63)
# Floats from this magnitude on are not all whole numbers exactly as written: 2**53 + 1 has none.
_EXACT_FLOAT = 2.0**53


def already_normal(schema: LayerSchema, rows: Sequence[Any]) -> list[bool]:
    """For each properties mapping in `rows`: whether normalize_properties(schema, it) would give it back
    as it is (every key a field, every value of its canonical type, allowed, required ones present)
    with no reason. Where False, the per-feature path decides (and says why)."""
    known = _field_names(schema)
    if set(map(type, rows)) <= {dict} and known.issuperset(chain.from_iterable(rows)):
        ok, dicts = [True] * len(rows), rows  # all dicts, no key outside the schema (asked of all keys at once)
    else:
        ok = [type(p) is dict and p.keys() <= known for p in rows]
        dicts = [p if good else {} for p, good in zip(rows, ok, strict=True)]
    limit = text_limits().text
    for spec in schema.fields:
        column = [d.get(spec.name, _ABSENT) for d in dicts]
        for i in _abnormal(spec, column, limit):
            ok[i] = False
    return ok


def _abnormal(spec: FieldSpec, column: list[Any], limit: int) -> list[int]:
    """Positions in `column` whose value is not already normal for `spec` (an absent one is normal
    unless the field is required)."""
    kind = _TYPE_OF.get(spec.type)
    types = set(map(type, column))  # before any set of values: a set would take 1 and True as one
    types.discard(_Absent)
    if kind is not None and types <= {kind}:
        distinct = set(column)
        absent = _ABSENT in distinct
        distinct.discard(_ABSENT)
        if _all_normal(spec, distinct, limit):
            return [i for i, v in enumerate(column) if v is _ABSENT] if absent and spec.required else []
    return [i for i, v in enumerate(column) if not _normal_value(spec, v, limit)]


def _all_normal(spec: FieldSpec, distinct: set[Any], limit: int) -> bool:
    """Whether every value of `distinct` (all of the field's canonical type) is normal as it is."""
    if spec.type == "string":
        if "" in distinct or (distinct and max(map(len, distinct)) > limit):
            return False
        joined = "".join(distinct)  # one pass over the set; then a NUL or non-ASCII text is in some value
        if "\x00" in joined or (not joined.isascii() and any(map(_unencodable, distinct))):
            return False
        if control_character(joined, multiline=True) is not None:
            return False
    elif spec.type == "number":
        if not all(map(math.isfinite, distinct)):
            return False
    elif spec.type == "integer" and distinct and not (_INT64[0] <= min(distinct) and max(distinct) < _INT64[1]):
        return False
    if spec.allowed is None:
        return True
    try:
        return distinct <= set(spec.allowed)
    except TypeError:  # an unhashable allowed value: decided value by value
        return all(v in spec.allowed for v in distinct)


def _normal_value(spec: FieldSpec, v: Any, limit: int) -> bool:
    """Whether normalize_properties keeps `v` as it is for `spec`, with no reason."""
    if v is _ABSENT:
        return not spec.required
    t = spec.type
    if t == "string":
        ok = (
            type(v) is str
            and v != ""
            and not _text_problem(v)
            and not _holds_nul(v)
            and _value_text_why(spec.name, v, limit) is None
        )
    elif t == "number":
        ok = type(v) is float and math.isfinite(v)
    elif t == "integer":
        ok = type(v) is int and _INT64[0] <= v < _INT64[1]
    elif t == "boolean":
        ok = type(v) is bool
    elif t == "date":
        ok = type(v) is str and len(v) == 10 and v.isascii() and v == v.strip() and _iso_date(v) == v
    elif t == "list":
        ok = (
            type(v) is list
            and all(type(x) is str for x in v)
            and not _text_problem(v)
            and not _holds_nul(v)
            and _value_text_why(spec.name, v, limit) is None
        )
    else:
        ok = False
    if not ok:
        return False
    try:
        return spec.allowed is None or v in spec.allowed
    except TypeError:
        return False


def _iso_date(v: str) -> str | None:
    try:
        return date.fromisoformat(v).isoformat()
    except ValueError:
        return None


_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)  # by shapely's geometry type id


def validate_changes(
    changes: Sequence[Change],
    schemas: Mapping[str, LayerSchema],
    area_of_interest: BaseGeometry,
) -> list[Problem]:
    """Validate and normalise `changes` in place (properties coerced, geometry made 2D)."""
    return check_changes(changes, schemas, area_of_interest)[0]


def check_changes(
    changes: Sequence[Change],
    schemas: Mapping[str, LayerSchema],
    area_of_interest: BaseGeometry,
) -> tuple[list[Problem], list[Change]]:
    """`validate_changes`, and the changes that can be looked up and encoded, in order: those whose
    layer is known and whose id and op are usable (the rest are reported and must not reach the
    store or the encoder), so a commit need not check every id again.

    The per-change checks (`_check_one`) run only on the changes a pass over whole columns cannot
    clear (`_to_look_at`); a change it clears would pass every one of them as it is, so skipping it
    changes nothing: the same problems, in the same order, and nothing to normalise.
    """
    layers = [c.layer for c in changes]
    ids = [c.feature_id for c in changes]
    ops = [c.op for c in changes]
    feats = [c.feature for c in changes]
    problems: list[Problem] = []
    usable: list[Change]
    with_geom: list[Change]
    normal = _normal_properties(layers, feats, schemas)
    look = _to_look_at(layers, ids, ops, feats, normal, schemas)
    if look is None:  # one by one, keeping the ids seen: which of two changes of a feature came first matters
        seen: set[tuple[str, str]] = set()
        usable, with_geom = [], []
        for ch, is_normal in zip(changes, normal, strict=True):
            ok, geometry = _check_one(ch, schemas, is_normal, problems, seen)
            if ok:
                usable.append(ch)
            if geometry:
                with_geom.append(ch)
    elif not look and "delete" not in ops and all(schemas[name].spatial for name in set(layers)):
        usable, with_geom = list(changes), list(changes)  # the usual large import
    else:
        # Each (layer, id) is given once (_to_look_at), so no change can repeat an earlier one.
        looked = {k: _check_one(changes[k], schemas, normal[k], problems, None) for k in look}
        spatial = {name: schemas[name].spatial for name in set(layers) if name in schemas}
        usable, with_geom = [], []
        for k, ch in enumerate(changes):
            ok, geometry = looked[k] if k in looked else (True, ops[k] != "delete" and spatial[layers[k]])
            if ok:
                usable.append(ch)
            if geometry:
                with_geom.append(ch)
    if with_geom:
        problems.extend(_geometry_problems(with_geom, schemas, area_of_interest))
    return problems, usable


def _check_one(
    ch: Change,
    schemas: Mapping[str, LayerSchema],
    is_normal: bool,
    problems: list[Problem],
    seen: set[tuple[str, str]] | None,
) -> tuple[bool, bool]:
    """The checks of one change: its problems are added to `problems` (its properties normalised in
    place); returns whether it can be looked up and encoded, and whether its geometry is to be
    checked. `seen` holds the (layer, id) of the changes before it, None when no key repeats."""
    schema = schemas.get(ch.layer)
    if schema is None:
        text = f"unknown layer {ch.layer!r}"
        problems.append(_problem(ch.layer, ch.feature_id, _why("unknown_layer", text, layer=ch.layer)))
        return False, False
    why = None if _plain_id(ch.feature_id) else id_why(ch.feature_id)
    if why is not None:
        named = shown_id(ch.feature_id) if isinstance(ch.feature_id, str) and ch.feature_id.strip() else None
        problems.append(_problem(ch.layer, named, why))
        return False, False
    if ch.op not in OPS:
        text = f"op {ch.op!r} is not one of {', '.join(OPS)}"
        problems.append(_problem(ch.layer, ch.feature_id, _why("unknown_op", text, op=ch.op, allowed=list(OPS))))
        return False, False
    if ch.feature_id == SCHEMA_ID:
        text = f"the id {SCHEMA_ID} is reserved for the layer's schema"
        problems.append(_problem(ch.layer, ch.feature_id, _why("reserved_id", text, id=SCHEMA_ID)))
        return True, False
    if seen is not None:
        key = (ch.layer, ch.feature_id)
        if key in seen:
            why = _why("changed_twice", "the same feature is changed twice in one commit")
            problems.append(_problem(ch.layer, ch.feature_id, why))
        seen.add(key)
    feature = ch.feature
    if ch.op == "delete":
        # Refused rather than ignored: a body on a delete is a caller's mistake (it would
        # otherwise be stored as a version of a deleted feature).
        if feature is not None:
            why = _why("delete_with_feature", "a delete carries no feature; drop its body")
            problems.append(_problem(ch.layer, ch.feature_id, why))
        return True, False
    if feature is None:
        problems.append(_problem(ch.layer, ch.feature_id, _why("no_feature", "no feature given")))
        return True, False
    if feature.id != ch.feature_id:
        own = shown_id(feature.id)
        text = f"the feature's own id {own!r} differs from the change's"
        problems.append(_problem(ch.layer, ch.feature_id, _why("id_mismatch", text, id=own)))
        return True, False
    if not is_normal:
        props, reasons = check_properties(schema, feature.properties or {})
        problems.extend(_problem(ch.layer, ch.feature_id, r) for r in reasons)
        feature.properties = props
    if not schema.spatial:
        if feature.geometry is not None:
            text = f"layer {ch.layer} holds records without geometry"
            problems.append(_problem(ch.layer, ch.feature_id, _why("unexpected_geometry", text, layer=ch.layer)))
        return True, False
    if feature.geometry is None:
        problems.append(_problem(ch.layer, ch.feature_id, _why("no_geometry", "no geometry")))
        return True, False
    return True, True


_OPS = frozenset(OPS)


def _to_look_at(
    layers: list[Any],
    ids: list[Any],
    ops: list[Any],
    feats: list[Feature | None],
    normal: list[bool],
    schemas: Mapping[str, LayerSchema],
) -> list[int] | None:
    """The positions of the changes `_check_one` must look at, in order; every other change passes
    all its checks as it is (known layer, plain id, usable op, not the schema's id, a feature
    exactly when not a delete, the feature's own id, properties already normal, a geometry exactly
    when the layer is spatial). Each question is asked of a whole column at once (sets, joins,
    list comparisons, in C), and only where the column's answer is not all yes is it asked change
    by change. None: look at every change in order, because some (layer, id) is given twice (or a
    layer, id or op cannot be hashed)."""
    n = len(ids)
    try:
        layer_set = set(layers)
        op_set = set(ops)
        keys = set(ids) if len(layer_set) == 1 else set(zip(layers, ids, strict=True))
    except TypeError:
        return None
    if len(keys) != n:
        return None
    look: set[int] = set()
    if not layer_set <= schemas.keys():
        look.update(k for k, name in enumerate(layers) if name not in schemas)
    plain = _plain_ids(ids)
    if not plain:
        look.update(k for k, fid in enumerate(ids) if not _plain_id(fid))
    if not op_set <= _OPS:
        look.update(k for k, op in enumerate(ops) if op not in OPS)
    reserved = SCHEMA_ID in keys if len(layer_set) == 1 else any((name, SCHEMA_ID) in keys for name in layer_set)
    if reserved:
        look.update(k for k, fid in enumerate(ids) if fid == SCHEMA_ID)
    body: Sequence[int]
    if "delete" not in op_set and not any(map(is_, feats, repeat(None))):
        body, bodies = range(n), feats  # every change a non-delete with a feature: the usual import
    else:
        # a delete with a feature, or another op without one, is a problem
        look.update(k for k, (op, f) in enumerate(zip(ops, feats, strict=True)) if (op == "delete") != (f is None))
        body = [k for k, f in enumerate(feats) if f is not None]
        bodies = [feats[k] for k in body]
    whole = len(body) == n
    own = [f.id for f in bodies]  # type: ignore[union-attr]
    given = ids if whole else [ids[k] for k in body]
    # (an id that is not plain text is looked at already, and never compared here)
    if not (plain and set(map(type, own)) <= {str} and own == given):
        look.update(
            k
            for k, mine, fid in zip(body, own, given, strict=True)
            if type(fid) is not str or type(mine) is not str or mine != fid
        )
    if not all(normal if whole else [normal[k] for k in body]):
        look.update(k for k in body if not normal[k])
    spatial = [name for name in layer_set if name in schemas and schemas[name].spatial]
    geoms = [f.geometry for f in bodies]  # type: ignore[union-attr]
    if len(spatial) == len(layer_set):
        if any(map(is_, geoms, repeat(None))):
            look.update(k for k, g in zip(body, geoms, strict=True) if g is None)
    elif not spatial:
        if not all(map(is_, geoms, repeat(None))):
            look.update(k for k, g in zip(body, geoms, strict=True) if g is not None)
    else:
        wants = set(spatial)
        look.update(k for k, g in zip(body, geoms, strict=True) if (g is None) == (layers[k] in wants))
    return sorted(look)


def _plain_ids(ids: list[Any]) -> bool:
    """Whether `_plain_id` holds for every id, asked of all of them at once: all exactly str, none
    longer than MAX_ID_CHARS, the text of all of them printable ASCII (so no line break inside
    one), and, joined by line breaks, no empty id and no space at either end of one."""
    if not ids:
        return True
    if set(map(type, ids)) != {str} or max(map(len, ids)) > MAX_ID_CHARS:
        return False
    if not ((joined := "".join(ids)).isascii() and joined.isprintable()):
        return False
    lines = "\n".join(ids)
    return not (
        not lines
        or lines.startswith((" ", "\n"))
        or lines.endswith((" ", "\n"))
        or "\n\n" in lines
        or " \n" in lines
        or "\n " in lines
    )


def _normal_properties(
    layers: list[Any], feats: list[Feature | None], schemas: Mapping[str, LayerSchema]
) -> list[bool]:
    """Per change: whether its properties are already normal (see already_normal), by layer."""
    n = len(feats)
    by_layer: dict[str, Sequence[int]] = {}
    if n and not any(map(is_, feats, repeat(None))) and len(set(layers)) == 1:
        by_layer[layers[0]] = range(n)  # one layer, every change with a feature
    else:
        grouped: dict[str, list[int]] = {}
        for k, (layer, f) in enumerate(zip(layers, feats, strict=True)):
            if f is not None:
                grouped.setdefault(layer, []).append(k)
        by_layer.update(grouped)
    normal = [False] * n
    for layer, idx in by_layer.items():
        schema = schemas.get(layer)
        if schema is None:
            continue
        if len(idx) == n:
            return already_normal(schema, [f.properties for f in feats])  # type: ignore[union-attr]
        flags = already_normal(schema, [feats[k].properties for k in idx])  # type: ignore[union-attr]
        for k, flag in zip(idx, flags, strict=True):
            normal[k] = flag
    return normal


def _geometry_problems(
    with_geom: list[Change],
    schemas: Mapping[str, LayerSchema],
    area_of_interest: BaseGeometry,
) -> list[Problem]:
    """The geometry checks of every change at once (shapely's array functions); only the features
    that fail one are visited one by one, to word the first reason each fails."""
    problems: list[Problem] = []
    geoms = np.asarray([c.feature.geometry for c in with_geom], dtype=object)  # type: ignore[union-attr, type-var]
    if shapely.has_z(geoms).any():  # the twin is 2D; most inputs already are, so skip the copy
        geoms = shapely.force_2d(geoms)
        for ch, g in zip(with_geom, geoms.tolist(), strict=True):
            ch.feature.geometry = g  # type: ignore[union-attr]
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    valid = shapely.is_valid(geoms)
    bounds = shapely.bounds(geoms)
    finite = np.isfinite(bounds).all(axis=1)
    if area_of_interest.equals(shapely.envelope(area_of_interest)):
        # A rectangular area (the venue's is): a bounds comparison is exact and 50x faster.
        x0, y0, x1, y1 = area_of_interest.bounds
        inside = (bounds[:, 0] >= x0) & (bounds[:, 1] >= y0) & (bounds[:, 2] <= x1) & (bounds[:, 3] <= y1)
    else:
        shapely.prepare(area_of_interest)
        inside = shapely.covered_by(geoms, area_of_interest)
    type_ok = np.zeros(len(with_geom), dtype=bool)
    layers = [c.layer for c in with_geom]
    names = dict.fromkeys(layers)
    for layer in names:
        ids = [i for i, name in enumerate(_TYPE_NAMES) if name in schemas[layer].geometry_types]
        if len(names) == 1:
            type_ok = np.isin(types, ids)  # one layer: every geometry is its
            break
        mine = np.fromiter((name == layer for name in layers), dtype=bool, count=len(layers))
        type_ok |= mine & np.isin(types, ids)
    for k in np.flatnonzero(~(type_ok & ~empty & finite & valid & inside)).tolist():
        ch = with_geom[k]
        if not type_ok[k]:
            tname = _TYPE_NAMES[types[k]] if 0 <= types[k] < len(_TYPE_NAMES) else "unknown"
            takes = list(schemas[ch.layer].geometry_types)
            text = f"geometry is a {tname}; layer {ch.layer} takes {', '.join(takes)}"
            why = _why("geometry_type", text, layer=ch.layer, geometry_type=tname, allowed=takes)
        elif empty[k]:
            why = _why("geometry_empty", "geometry is empty")
        elif not finite[k]:
            why = _why("geometry_not_finite", "geometry has coordinates that are not finite numbers")
        elif not valid[k]:
            detail = shapely.is_valid_reason(geoms[k])
            why = _why("geometry_invalid", f"invalid geometry: {detail}", detail=detail)
        else:  # outside the area of interest
            box = [float(v) for v in bounds[k]]
            area = [float(v) for v in area_of_interest.bounds]
            minx, miny, maxx, maxy = box
            text = (
                f"geometry ({minx:.5f},{miny:.5f} – {maxx:.5f},{maxy:.5f}) lies outside the venue's area of interest "
                f"{_fmt_bounds(area_of_interest)} (lon/lat; was it given in another CRS or in GCJ-02?)"
            )
            why = _why("outside_area", text, bounds=box, area=area)
        problems.append(_problem(ch.layer, ch.feature_id, why))
    return problems


def _fmt_bounds(g: BaseGeometry) -> str:
    minx, miny, maxx, maxy = g.bounds
    return f"({minx:.3f},{miny:.3f} – {maxx:.3f},{maxy:.3f})"
