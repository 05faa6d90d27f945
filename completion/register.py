"""The project register: project records and their progress reports, read from the twin at any version.

The register is the twin layer ``projects`` (records without geometry, see
``layers.catalogue.PROJECTS``); a project's feature id is its code. Its latest progress report
lives on the record (``percent_complete``, ``progress_date``, ``progress_reporter``,
``progress_note``, ``progress_reason``), so each report is one commit that modifies the record,
and the record's history is the project's progress history: every version whose progress
fields differ from the version before it is one report.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import orjson

from layers.catalogue import PROJECTS
from twin.core import Ref, TwinLike
from twin.errors import NotFound
from twin.model import HistoryEntry

LAYER = PROJECTS.name
RULE = PROJECTS.rules[0]  # "hardware-project-register", implemented by completion.reports.project_rule
PROGRESS_FIELDS = ("percent_complete", "progress_date", "progress_reporter", "progress_note", "progress_reason")


def code_problem(code: str) -> str | None:
    """Why `code` cannot be a project's code, or None. Every project is read at /projects/{code}
    (its status, progress and evidence), and routes match the decoded path (so %2F is a / too)
    while clients resolve dot segments: no URL could name a code that holds '/' or is '.' or '..'.
    Refused rather than routed to (a path-wide {code} would swallow /progress and /evidence), as
    the feature API refuses such a feature id."""
    if "/" in code or code in (".", ".."):
        return (
            f"project code {code!r} cannot be part of a URL (/projects/{{code}}): "
            "a code may not hold '/' or be '.' or '..'"
        )
    return None


def _day(v: Any) -> date | None:
    return date.fromisoformat(v) if isinstance(v, str) and v else None


@dataclass(frozen=True)
class Project:
    """One hardware project as its record stood at some version."""

    code: str
    name_zh: str
    name_en: str
    category: str
    area: str
    responsible_unit: str
    planned_start: date
    planned_finish: date
    quantity: float
    quantity_unit: str
    features: tuple[str, ...] = ()
    responsible_person: str | None = None
    weight: float | None = None
    curve: str = "linear"
    percent_complete: float | None = None
    progress_date: date | None = None
    progress_reporter: str | None = None
    progress_note: str | None = None
    progress_reason: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    feature_id: str = field(default="", compare=False, repr=False)  # the record's id; its code by convention

    @property
    def fid(self) -> str:
        return self.feature_id or self.code

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> Project:
        start, finish = _day(props.get("planned_start")), _day(props.get("planned_finish"))
        if start is None or finish is None:
            raise ValueError(f"project {props.get('code')!r} has no planned start or finish")
        pct = props.get("percent_complete")
        weight = props.get("weight")
        return cls(
            code=str(props["code"]),
            name_zh=str(props.get("name_zh", "")),
            name_en=str(props.get("name_en", "")),
            category=str(props.get("category", "")),
            area=str(props.get("area", "")),
            responsible_unit=str(props.get("responsible_unit", "")),
            planned_start=start,
            planned_finish=finish,
            quantity=float(props.get("quantity") or 0.0),
            quantity_unit=str(props.get("quantity_unit", "")),
            features=tuple(props.get("features") or ()),
            responsible_person=props.get("responsible_person"),
            weight=float(weight) if weight is not None else None,
            curve=str(props.get("curve") or "linear"),
            percent_complete=float(pct) if pct is not None else None,
            progress_date=_day(props.get("progress_date")),
            progress_reporter=props.get("progress_reporter"),
            progress_note=props.get("progress_note"),
            progress_reason=props.get("progress_reason"),
            properties=dict(props),
        )

    @classmethod
    def from_feature(cls, data: bytes | Mapping[str, Any]) -> Project:
        d = orjson.loads(data) if isinstance(data, bytes | bytearray) else data
        p = cls.from_properties(d.get("properties") or {})
        return replace(p, feature_id=str(d.get("id") or p.code))


@dataclass(frozen=True)
class Report:
    """One progress report: the percent complete on a date, who reported it, and the commit that holds it."""

    on: date
    percent: float
    reporter: str | None
    note: str | None
    reason: str | None
    commit: str
    seq: int
    time: datetime  # UTC, when it was committed

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.on.isoformat(),
            "percent": self.percent,
            "reporter": self.reporter,
            "note": self.note,
            "reason": self.reason,
            "commit": self.commit,
            "time": self.time.isoformat().replace("+00:00", "Z"),
        }


def progress_key(props: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes a version a new report: its progress fields."""
    return tuple(map(props.get, PROGRESS_FIELDS))


def reports_from_history(entries: Sequence[HistoryEntry], before: tuple[Any, ...] | None = None) -> list[Report]:
    """The progress reports in a record's history, in commit order.

    A version is a report when its progress fields differ from the version before it; a version
    that only changes other fields (a new deadline, say) is not. ``before`` is the progress key
    (``progress_key``) of the version before ``entries``, when they continue a history.
    """
    out: list[Report] = []
    for h in entries:
        if h.geojson is None:
            before = None
            continue
        props = orjson.loads(h.geojson).get("properties") or {}
        key = progress_key(props)
        if key != before and props.get("progress_date") and props.get("percent_complete") is not None:
            out.append(
                Report(
                    on=date.fromisoformat(props["progress_date"]),
                    percent=float(props["percent_complete"]),
                    reporter=props.get("progress_reporter"),
                    note=props.get("progress_note"),
                    reason=props.get("progress_reason"),
                    commit=h.commit.id,
                    seq=h.commit.seq,
                    time=h.commit.time,
                )
            )
        before = key
    return out


class Register:
    """Reads projects and their reports from a twin, as of any version.

    Each project's whole history is read once and cached; a reading as of a version keeps the
    versions committed up to it. Make a new Register after the twin changes.
    """

    def __init__(self, twin: TwinLike):
        self.twin = twin
        self._histories: dict[str, list[HistoryEntry]] = {}
        try:
            twin.layer(LAYER)
        except NotFound:
            raise NotFound(
                f"this twin has no project register (layer {LAYER!r}); it was made before the register "
                "existed: rebuild the bundled twin with `venue-twin init --force`"
            ) from None

    def projects(self, ref: Ref) -> list[Project]:
        """Every project in the register as of ``ref``, in code order."""
        page = self.twin.features(LAYER, ref)
        return sorted((Project.from_feature(b) for b in page.features), key=lambda p: p.code)

    def project(self, code: str, ref: Ref) -> Project:
        return find_project(self.twin, code, ref)

    def history(self, fid: str) -> list[HistoryEntry]:
        """Every version of the record with feature id ``fid`` (the project's code, by convention)."""
        if fid not in self._histories:
            self._histories[fid] = self.twin.history(LAYER, fid)
        return self._histories[fid]

    def reports(self, fid: str, ref: Ref) -> list[Report]:
        """The reports of the record ``fid`` committed up to ``ref``, in commit order."""
        known = [h for h in self.history(fid) if h.commit.seq <= ref.seq]
        return reports_from_history(known)


# Characters Python's repr would show as escapes ('LA-\\u30000001'), by the name a coordinator knows.
_UNSEEN = {"\u3000": "full-width space", "\xa0": "no-break space", "\t": "tab", "\n": "line break",
           "\r": "line break", "\u200b": "zero-width space", "\ufeff": "zero-width space"}  # fmt: skip


def quoted(text: str) -> str:
    """A code or name in quotes as it reads, for a message: repr, unless it holds a character repr
    escapes (a full-width space): then as typed, followed by what it holds ('LA-　0001' (with a
    full-width space))."""
    odd = dict.fromkeys(_UNSEEN.get(ch, f"U+{ord(ch):04X}") for ch in text if not ch.isprintable())
    if not odd:
        return repr(text)
    return f"'{text}' (with a {' and a '.join(odd)})"


def unknown_code(code: str, codes: Iterable[str]) -> str:
    """Why a report naming ``code`` is refused when no project has it: named, with the code it
    could be when the two differ only in case, full-width characters, spaces or leading zeros
    (sp-02, ＳＰ－０２ or SP 02 for SP-02; 1 for 001)."""
    key = code_key(code)
    near = sorted(c for c in codes if code_key(c) == key and c != code)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"no project {quoted(code)} in the register{hint}"


# ---------------------------------------------------------------------------- look-alike names
# The names the roll-ups group by (completion units: per unit, per person).
NAME_FIELDS = ("responsible_unit", "responsible_person")


def name_key(text: str) -> str:
    """A name as compared for its spelling: full-width forms as half-width (（上海） as (上海)) and
    no white space (青浦区 建设管理委员会, 黄　丽), without case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def code_key(code: str) -> str:
    """A project code as compared for its likeness to another: as a name (name_key), and a code of
    digits alone without its leading zeros (Excel reads 001 typed or opened from a CSV as 1)."""
    key = name_key(code)
    return key.lstrip("0") or "0" if key.isdigit() else key


# A name's part in brackets at its end: the English name after a unit's Chinese one (国网上海市电力公司
# (State Grid Shanghai Electric Power)), a person's unit after their name (孙浩 Sun Hao (State Grid Shanghai)).
_TRAILING = re.compile(r"\s*[(（]([^()（）]*)[)）]\s*$")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def short_forms(name: str, field: str) -> list[str]:
    """The name keys (name_key) a register's name is also written by: without its bracketed part at
    the end, a unit by that part alone (its English name; a person's bracket is their unit, not
    them), and a name in both scripts (孙浩 Sun Hao) by its Chinese or its Latin part."""
    m = _TRAILING.search(name)
    base = name[: m.start()] if m and m.start() > 0 else name
    forms = [base]
    if m and m.start() > 0 and field == "responsible_unit":
        forms.append(m[1])
    han = "".join(_HAN.findall(base))
    latin = _HAN.sub(" ", base)
    if han and re.search(r"[A-Za-z]", latin):
        forms += [han, latin]
    own = name_key(name)
    return [k for k in dict.fromkeys(name_key(f) for f in forms) if k and k != own]


def register_names(text: str, names: Iterable[str], field: str) -> list[str]:
    """The register's names (``names``) that ``text`` is a short form of (see short_forms): the one
    it means, or several it could mean; none when it is one of them as written or spelt."""
    names = list(names)
    key = name_key(text)
    if any(name_key(n) == key for n in names):
        return []
    return sorted({n for n in names if key in short_forms(n, field)})


# How alike two units' names are (difflib's ratio of their keys) when one is likely the other
# written short (国网上海电力 for 国网上海市电力公司 is 0.8).
NEAR_RATIO = 0.75


def near_name(text: str, names: Iterable[str], field: str) -> str | None:
    """The register's name most like ``text``, a name it does not hold: one holds the other (either
    written whole or in its short forms) or they share most characters (NEAR_RATIO); None if none."""
    from difflib import SequenceMatcher

    key = name_key(text)
    if len(key) < 2:
        return None
    best: tuple[float, str] | None = None
    for n in names:
        for k in (name_key(n), *short_forms(n, field)):
            if len(k) < 2 or k == key:
                continue
            score = 1.0 if key in k or k in key else SequenceMatcher(None, key, k).ratio()
            if score >= NEAR_RATIO and (best is None or score > best[0]):
                best = (score, n)
    return best[1] if best else None


# The fields whose new value, like one the register holds, is refused asking whether that one is meant,
# unless the caller says it is new (spelt_two_ways' ``near``), and what such a value is called.
NEW_VALUES = {"responsible_unit": "unit", "category": "category"}


def spelt_two_ways(
    given: Sequence[tuple[str, Mapping[str, Any]]],
    register: Iterable[Mapping[str, Any]],
    fields: Sequence[str] = NAME_FIELDS,
    near: str | None = None,
    holds: Mapping[str, Iterable[str]] | None = None,
) -> list[tuple[int, str]]:
    """The responsible units and persons in ``given`` (where each is written, e.g. "row 12", and
    the fields it gives) spelt otherwise (spaces, full-width brackets, case) than the register's
    other records or an earlier one given write the same name: the units table and the roll-ups
    would count them as two, silently. (index in ``given``, reason). Refused, not mended: which
    spelling is right is not the writer's to choose. A spelling the register already holds passes
    (a register kept before this rule may hold two). ``fields``: those of NAME_FIELDS to look at
    (one, for a caller naming the field of each reason), or the category.

    ``near``: how the caller adds a new value of a field of NEW_VALUES (e.g. "with --new-units"):
    then a responsible unit the register does not hold but one of its units is like (near_name:
    国网上海电力 beside 国网上海市电力公司) is refused too, asking whether that one is meant, and so is a
    category (道路 beside 配套道路). ``holds``: by field, the values the register holds beyond its other
    records' (a category's labels; the file's own projects' values as the register has them), which
    are never new. (Persons are not compared so: two short Chinese names are alike without being one.)"""
    bad: list[tuple[int, str]] = []
    register = list(register)
    for f in fields:
        held = set((holds or {}).get(f, ()))
        held_keys = {name_key(v) for v in held}
        units = (
            sorted({v for p in register if isinstance(v := p.get(f), str)} | held) if near and f in NEW_VALUES else []
        )
        spellings: dict[str, dict[str, str]] = {}  # name key → spelling → where it is written so
        near_of: dict[str, str | None] = {}  # a new unit's key → the register's unit it is like
        for props in register:
            v = props.get(f)
            if isinstance(v, str):
                spellings.setdefault(name_key(v), {}).setdefault(v, f"project {props.get('code')} in the register")
        for i, (where, props) in enumerate(given):
            v = props.get(f)
            if not isinstance(v, str):
                continue
            known = spellings.setdefault(name_key(v), {})
            if units and not known and name_key(v) not in held_keys:
                near_of[name_key(v)] = near_name(v, units, f)  # every row writing it is refused, not the first
            if known and v not in known:
                spelt, there = next(iter(known.items()))
                bad.append((i, f"{f} {quoted(v)} is written {quoted(spelt)} on {there}: one name spelt two ways "
                            "(spaces, full-width brackets) is counted as two; write it one way"))  # fmt: skip
            elif (like := near_of.get(name_key(v))) is not None:
                bad.append((i, f"{f} {quoted(v)} is not in the register: did you mean {quoted(like)}? "
                            f"(a new {NEW_VALUES[f]} is added {near})"))  # fmt: skip
            known.setdefault(v, where)
    return bad


def codes_like_others(given: Sequence[tuple[str, str]], register_codes: Iterable[str]) -> list[tuple[int, str]]:
    """The new project codes in ``given`` (where each is written, its code) that differ from a code
    of the register or an earlier one only in case, full-width characters, spaces or leading zeros
    (sp-02, ＳＰ－０２, SP 02 beside SP-02; 1 beside 001), or hold full-width characters at all: each
    would be a second project beside the one it was typed for (a code is compared exactly).
    (index in ``given``, reason naming the code to write)."""
    known: dict[str, tuple[str, str]] = {}
    for c in register_codes:
        known.setdefault(code_key(c), (c, "in the register"))
    bad: list[tuple[int, str]] = []
    for i, (where, code) in enumerate(given):
        like, there = known.setdefault(code_key(code), (code, f"on {where}"))
        if like != code:
            how = (
                "leading zeros (Excel drops them from a number)"
                if code.isdigit()
                else ("case, full-width characters or spaces")
            )
            bad.append((i, f"project code {quoted(code)} differs from {like!r} {there} only in {how}: "
                        f"write {like!r} (two codes so alike would be two projects)"))  # fmt: skip
        elif (plain := unicodedata.normalize("NFKC", code)) != code:
            bad.append((i, f"project code {quoted(code)} holds full-width characters: write {plain!r}"))
    return bad


def find_project(twin: TwinLike, code: str, ref: Ref) -> Project:
    """The project with this code as of ``ref``: the record whose id is the code, else (for a record
    added with another id, e.g. through the generic feature API) the one the code names now."""
    try:
        return Project.from_feature(twin.feature(LAYER, code, ref))
    except NotFound:
        fid = twin.id_by_value(LAYER, "code", code)
        if fid is None:
            raise NotFound(f"no project {code!r} in the register") from None
        try:
            return Project.from_feature(twin.feature(LAYER, fid, ref))
        except NotFound:
            raise NotFound(f"no project {code!r} in the register") from None
