"""Spreadsheet intake: a project register and a season of progress reports from Excel or CSV.

A sheet is read (openpyxl for .xlsx, the csv module for .csv), its columns are matched to the
register's fields by header name (Chinese or English, see ``REGISTER_HEADERS`` and
``REPORT_HEADERS``) or by a mapping file, and every row is checked before anything is written:
one bad row refuses the whole file, with every bad row named by its number as the spreadsheet
shows it (the header row is the first, or the first under a title; a header may take two rows,
group cells over sub-headers, see ``_two_row_headers``). Nothing is committed then.

Reports are committed one commit per responsible unit per report date (and per reporter, when
a unit's rows name two), authored by the row's reporter. With ``original_dates`` each commit is stamped with its report's date (the end of the
working day in Shanghai), so reads as of a past date see the season as it stood then; without
it every commit is stamped now. The register is read once, and each report is checked against
the project as the earlier rows of the same file left it, so the cost per report does not
depend on the size of the register.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import orjson

from completion.register import (
    LAYER,
    NAME_FIELDS,
    NEW_VALUES,
    Project,
    code_problem,
    codes_like_others,
    quoted,
    register_names,
    reports_from_history,
    spelt_two_ways,
    unknown_code,
)
from completion.reports import (
    SHANGHAI,
    ProgressReport,
    Reason,
    check_project,
    check_report,
    feature_ref_problems,
    report_properties,
)
from twin.core import HEAD, Ref, TwinLike, no_data
from twin.errors import BadInput, NotFound, Problem, ValidationFailed
from twin.model import Change, CommitInfo, Feature, HistoryEntry, LayerSchema
from twin.validation import check_properties, fitted_message, text_limits, text_why

# Header names each field is known by (compared without case, spaces, underscores or brackets).
REGISTER_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "project code", "项目编号", "编号", "项目代码"),
    "name_zh": ("name_zh", "项目名称", "名称", "中文名称", "name (chinese)"),
    "name_en": ("name_en", "name", "project name", "英文名称", "name (english)"),
    "category": ("category", "类别", "项目类别"),
    "area": ("area", "片区", "区域", "所属区域"),
    "responsible_unit": ("responsible_unit", "unit", "responsible unit", "责任单位"),
    "responsible_person": ("responsible_person", "person", "responsible person", "责任人"),
    "planned_start": ("planned_start", "planned start", "start", "计划开始", "计划开工"),
    "planned_finish": ("planned_finish", "planned finish", "finish", "计划完成", "计划完工"),
    "quantity": ("quantity", "工程量"),
    "quantity_unit": ("quantity_unit", "unit of quantity", "quantity unit", "单位", "计量单位"),
    "weight": ("weight", "权重"),
    "features": ("features", "关联要素", "涉及要素"),
    "curve": ("curve", "plan curve", "计划曲线"),
}
REPORT_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "project code", "项目编号", "编号", "项目代码"),
    "date": ("date", "report date", "日期", "填报日期", "进度日期", "统计日期"),
    # 形象进度: the construction trade's word for percent complete; 累计完成(%) is read without its bracket.
    "percent": (
        "percent",
        "percent complete",
        "percent_complete",
        "完成百分比",
        "完成比例",
        "完成率",
        "形象进度",
        "累计完成",
        "累计完成比例",
        "累计完成百分比",
    ),
    "note": ("note", "备注", "进度说明"),
    "reason": ("reason", "原因", "回调原因", "情况说明", "进度滞后原因", "滞后原因"),
    "reporter": ("reporter", "填报人"),
}
REGISTER_REQUIRED = ("code", "planned_start", "planned_finish", "responsible_unit")
# The columns a register sheet needs when a row is a new project: the required ones and its quantity
# (the register requires one, and weighs a project by it among its area's projects of its unit).
NEW_PROJECT_COLUMNS = (*REGISTER_REQUIRED, "quantity")
REPORT_REQUIRED = ("code", "date", "percent")
# The sheet each kind is looked for in a workbook when none is named (compared like headers).
REGISTER_SHEETS = ("register", "projects", "项目清单", "项目", "清单", "台账")
REPORT_SHEETS = ("reports", "progress", "进度", "进度填报", "填报")

# Quantity units as people type them → the register's spelling (layers.catalogue.QUANTITY_UNITS).
UNIT_ALIASES: dict[str, str] = {
    "m2": "m²", "m^2": "m²", "sqm": "m²", "sq m": "m²", "平方米": "m²", "平米": "m²", "㎡": "m²", "m²": "m²",
    "m": "m", "米": "m", "延米": "m", "m3": "m³", "m^3": "m³", "立方米": "m³", "方": "m³", "㎥": "m³", "m³": "m³",
    "pots": "pots", "pot": "pots", "盆": "pots", "lamps": "lamps", "lamp": "lamps", "盏": "lamps", "套": "items",
    "items": "items", "item": "items", "个": "items", "项": "items", "处": "items",
}  # fmt: skip
AREA_ALIASES: dict[str, str] = {
    "南广场": "south_plaza", "south plaza": "south_plaza", "展馆": "halls", "场馆": "halls", "halls": "halls",
    "道路": "roads", "roads": "roads", "绿化": "landscaping", "景观绿化": "landscaping", "landscaping": "landscaping",
}  # fmt: skip
CURVE_ALIASES: dict[str, str] = {"线性": "linear", "s": "s_curve", "s curve": "s_curve", "s型": "s_curve"}
# How far down a sheet its header row is looked for (below a title, a date line ...).
HEADER_ROWS_SEARCHED = 10
# Two header rows: a group cell over the columns it heads (计划时间 merged over 开始 | 完成, Planned
# over Start | Finish) and the sub-headers under it. A column under a group is looked up as the pair,
# in either order (开始时间 over 计划 | 实际 is 计划开始 too), each part with and without one of these
# words at its end (计划时间 + 开始时间 → 计划 + 开始), against the names above.
HEADER_FILLERS = ("时间", "日期", "工期", "dates", "date", "time")
# A report made on a day is recorded, with original dates, at the end of that working day.
REPORT_HOUR = time(18, 0)


def _key(text: Any) -> str:
    return re.sub(r"[\s_()（）\[\]【】:：/]+", "", str(text)).casefold()


@dataclass(frozen=True)
class Header:
    """A column's header read from two header rows: its label as the sheet shows it ("项目编号", or
    "计划时间/开始" under a group), the keys naming the whole column (the header, or the group and
    sub-header together, see HEADER_FILLERS), and under a group the parts looked up alone when the
    whole is not known: the sub-header, then the group."""

    label: str
    keys: tuple[str, ...]
    parts: tuple[str, ...] = ()
    first: bool = True  # named (in part) by the first header row
    second: bool = False  # named (in part) by the second


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet shows it (the header row is row 1, or below a title)
    values: dict[str, Any]  # field → the cell's value (None for empty cells)


@dataclass
class Sheet:
    name: str
    rows: list[Row]
    ignored: list[str] = field(default_factory=list)  # headers no field is known by
    # A register sheet's required fields it has no column for (a sheet updating known projects
    # needs only their codes), and the error naming them, raised if a row is a new project.
    absent: tuple[str, ...] = ()
    absent_error: str = ""
    # Rows left out that are no project's: a totals row (合计 ...), a row of formulas alone with no
    # code (a template's prepared row never saved in Excel); row number and why, for a note.
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # The unit of quantity a register's quantity header gives in brackets (工程量（㎡）), for the
    # rows of a sheet without a unit column.
    quantity_unit: str | None = None
    # Each field's column as the spreadsheet shows it ("column C: 完成百分比"), to name it in errors.
    columns: dict[str, str] = field(default_factory=dict)
    # The rows read that Excel does not show (hidden, or filtered out): data all the same, as in
    # Excel's own CSV of the sheet, but named in a note, for a row hidden is often a row set aside.
    hidden_rows: list[int] = field(default_factory=list)
    # The workbook's date system: a serial day number left unformatted counts from it (Excel for
    # Mac's 1904 system is 4 years and a day later than Windows' 1900 one).
    epoch: datetime = datetime(1899, 12, 30)
    from_csv: bool = False  # read from a CSV file: "the file", not a sheet, in messages
    several: bool = False  # a workbook with other sheets: a message names this one
    # Each field's column header as the sheet shows it ("计划完成 日期"), for the words of a message.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def called(self) -> str:
        """How messages name it: "sheet '进度'", or "the file" for a CSV (which has no sheets)."""
        return "the file" if self.from_csv else f"sheet {self.name!r}"

    def where(self, source: str) -> str:
        """How a refusal names where its rows are: ``source`` (the file), and this sheet when the
        workbook has others and ``source`` does not name it already (the upload's "sheet '进度'")."""
        return f"{source} {self.called}" if self.several and self.called not in source else source

    def label(self, name: str) -> str:
        """How a message names a field: its column's header as the sheet has it (计划完成, Planned
        finish), or for a field the sheet has no column for, its Chinese and English header names
        (责任人 (responsible person)); never the register's internal name (responsible_person)."""
        return self.labels.get(name) or field_words(name)


class RowProblem(NamedTuple):
    """Why a row is refused: its number as the spreadsheet shows it, the field whose cell the reason
    is about (None: the row's as a whole, such as a second report for a project on one date), and the
    reason. The field names the cell's column in the error (at_columns)."""

    row: int
    field: str | None
    reason: str


def _in_order(problems: Iterable[RowProblem]) -> list[RowProblem]:
    """By row, then reason (the order the errors list them in)."""
    return sorted(problems, key=lambda p: (p.row, p.reason))


class Refused(ValidationFailed):
    """A file with bad rows; ``row_problems`` gives each with the field it is about, ``rows`` pairs
    each row number with its reason. ``noun`` is what a row is called: "row" in a sheet, "item" in
    a JSON list of reports (numbered from 1); ``what`` what the rows are, which leads each problem
    on the command line: "projects" (the register's), "reports"."""

    def __init__(self, source: str, rows: Sequence[RowProblem], noun: str = "row", what: str = LAYER):
        self.source = source
        self.noun = noun
        self.row_problems = list(rows)
        self.rows = [(p.row, p.reason) for p in self.row_problems]
        super().__init__([Problem(what, None, f"{source} {noun} {n}: {why}") for n, why in self.rows])


# ---------------------------------------------------------------------------- reading sheets
def load_mapping(path: str | Path | None) -> dict[str, str]:
    """A mapping file (YAML or JSON): {field: header}, e.g. {"code": "任务编号", "percent": "进度%"}."""
    if path is None:
        return {}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{p}: no such mapping file") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = orjson.loads(text)
    except Exception as e:  # noqa: BLE001 — any parse error of either format is the same bad input
        raise BadInput(f"{p}: not a readable mapping ({e})") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise BadInput(f"{p}: a mapping is an object of field: column header, e.g. code: 任务编号")
    return dict(doc)


def _match_headers(
    headers: Sequence[Any],
    known: Mapping[str, Sequence[str]],
    mapping: Mapping[str, str],
    source: str,
    twice: dict[str, list[int]] | None = None,
) -> tuple[dict[int, str], list[str], dict[str, list[str]]]:
    """The field of each column (by index), the labels of the columns left out, and the fields that
    several columns under groups could each be, named by a part alone (with those columns' labels).

    ``headers`` holds a header row's cells, or a two-row header's ``Header`` per column. A column is
    named by its whole header (or group and sub-header together) first, in column order; a column
    under a group that is not, by its sub-header or its group alone, and only when no other column
    is named so for the same field: Start under both Planned and Actual is neither (Planned/Start
    is planned start by the pair), and a group over two columns names neither of them.
    """
    unknown = set(mapping) - set(known)
    if unknown:
        raise BadInput(f"{source}: the mapping names unknown field(s) {', '.join(sorted(unknown))}")
    by_header = _by_header(known)
    explicit = {_key(h): f for f, h in mapping.items()}
    cols: list[Header | None] = [
        h if isinstance(h, Header) else None if _header_text(h) is None else Header(str(h), _loose_keys(h, by_header))
        for h in headers
    ]
    # A bare "Unit" is the responsible unit (责任单位), unless the sheet has a column for that too
    # ("Responsible unit"): then it is the unit of quantity beside "Quantity" (单位), not a unit
    # read as the responsible one while the real one is left out.
    keys = [k for c in cols if c is not None for k in c.keys]
    field_of = {k: explicit.get(k) or by_header.get(k) for k in keys}
    bare = _key("unit")
    if (
        "quantity_unit" in known
        and bare in keys
        and bare not in explicit
        and any(f == "responsible_unit" for k, f in field_of.items() if k != bare)
        and "quantity_unit" not in field_of.values()
    ):
        by_header[bare] = "quantity_unit"
    columns: dict[int, str] = {}
    partial: dict[str, list[tuple[int, bool]]] = {}  # field → (column, by default) named by a part alone
    for i, c in enumerate(cols):
        if c is None:
            continue
        named = next((k for k in c.keys if k in explicit), None)
        target = explicit[named] if named else next((by_header[k] for k in c.keys if k in by_header), None)
        by_default = named is None
        if target is None:
            part = next((k for k in c.parts if k in explicit or k in by_header), None)
            if part is not None:
                partial.setdefault(explicit.get(part) or by_header[part], []).append((i, part not in explicit))
            continue
        if by_default and (target in mapping or target in columns.values()):
            if twice is not None and target not in mapping:
                # Two columns named for one field (计划完成 and 计划完成（调整后）): the first was read
                # and the other left out with a note, though it may well be the one meant.
                first = next(j for j, f in columns.items() if f == target)
                twice.setdefault(target, [first]).append(i)
            continue
        columns[i] = target
    ambiguous: dict[str, list[str]] = {}
    for target, hits in partial.items():
        if target in mapping:
            hits = [(i, by_default) for i, by_default in hits if not by_default]  # the mapping's column only
        if not hits or target in columns.values():
            continue
        if len(hits) > 1:
            labels = [h.label for i, _ in hits if (h := cols[i]) is not None]
            if target in mapping:
                raise BadInput(
                    f"{source}: the mapping's {mapping[target]!r} names {len(hits)} columns "
                    f"({', '.join(map(repr, labels))}): write the column as group/sub-header, e.g. {labels[0]}"
                )
            ambiguous[target] = labels
            continue
        columns[hits[0][0]] = target
    ignored = [c.label for i, c in enumerate(cols) if c is not None and i not in columns]
    missing = [f for f in mapping if f not in columns.values()]
    if missing:
        raise BadInput(f"{source}: no column {', '.join(repr(mapping[f]) for f in missing)} (from the mapping)")
    return columns, ignored, ambiguous


# Fields whose header may end in 时间 / 日期 (计划开始时间, 计划完成日期 are 计划开始, 计划完成).
DATE_FIELDS = ("planned_start", "planned_finish", "date")
_BRACKETED = re.compile(r"\s*[(（\[【][^)）\]】]*[)）\]】]\s*$")


def _by_header(known: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The field each header key names (the first field a key is an alias of)."""
    by_header: dict[str, str] = {}
    for name, aliases in known.items():
        for a in aliases:
            by_header.setdefault(_key(a), name)
    return by_header


def _loose_keys(text: Any, by_header: Mapping[str, str]) -> tuple[str, ...]:
    """A one-row header's key, then the keys it is known by without a bracketed suffix (工程量（㎡）,
    计划开始（日期）) and, for a date field, without a trailing 时间 / 日期 (计划开始时间)."""
    whole = str(text).strip()
    bare = _BRACKETED.sub("", whole).rstrip("%％ ")  # 完成率% as 完成率（%）
    keys = [_key(whole), _key(bare), *_bilingual_keys(bare)]
    for k in list(dict.fromkeys(keys)):
        for filler in ("时间", "日期"):
            if k.endswith(filler) and by_header.get(k[: -len(filler)]) in DATE_FIELDS:
                keys.append(k[: -len(filler)])
    return tuple(dict.fromkeys(k for k in keys if k))


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _bilingual_keys(text: str) -> list[str]:
    """The keys of a header written in both languages in one cell (项目编号 Code, 项目编号\\nCode,
    Code 项目编号): its Chinese part, then its other part; none for a header in one language."""
    han = "".join(ch for ch in text if _HAN.match(ch) or ch in "（）()%％")
    rest = _HAN.sub(" ", text)
    if not han.strip("（）()%％") or not re.search(r"[A-Za-z]", rest):
        return []
    return [k for k in (_key(_BRACKETED.sub("", han).rstrip("%％")), _key(rest)) if k]


def _variants(text: str) -> list[str]:
    """A header part's key, and the key without a filler word at its end (计划时间 → 计划)."""
    k = _key(text)
    for filler in HEADER_FILLERS:
        if k.endswith(filler) and len(k) > len(filler):
            return [k, k[: -len(filler)]]
    return [k]


def _pairs(group: str, sub: str) -> tuple[str, ...]:
    """The keys a group and its sub-header are looked up by together: group then sub-header (计划 +
    开始), then sub-header then group (计划 under 开始时间), each part with and without its filler."""
    gs, ss = _variants(group), _variants(sub)
    return tuple(dict.fromkeys([g + s for g in gs for s in ss] + [s + g for s in ss for g in gs]))


def _header_text(v: Any) -> str | None:
    return None if v is None or str(v).strip() == "" else str(v).strip()


def _like_data(v: Any) -> bool:
    """Whether a cell reads as a value rather than a header: a number, a date, a percent, a
    formula's error, or text that parses as one of those."""
    if not isinstance(v, str):
        return True
    text = v.strip()
    if text in EXCEL_ERRORS or _without_year(text) is not None:
        return True
    for parse in (_as_date, lambda t: _as_number(t, "")):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


def _two_row_headers(
    table: Sequence[Sequence[Any]],
    j: int,
    merged: Sequence[tuple[int, int, int, int]],
    by_header: Mapping[str, str],
) -> list[Header | None] | None:
    """Rows j and j+1 (0-based) read as one header, or None when row j+1 is not sub-headers under
    group cells of row j.

    A group is a cell of row j merged across several columns (and not down), or, in a file without
    merges (CSV), a cell followed by empty cells of row j with sub-headers under them. Row j+1 is
    sub-headers only when it names at least one column under a group, holds nothing that reads as
    a value (a number, a date, a percent), and under every column outside the groups is empty or
    repeats row j (a header merged down over both rows), or gives the header row j leaves empty;
    a title (row j's only cell, at its left) is no group. A single header (outside the groups) is
    known by the keys a one-row header is (``_loose_keys``: 工程量（㎡）, 计划开始时间; ``by_header``
    gives the field of each key). Whether the two rows name anything known is the caller's to check
    (see ``Header.first`` and ``second``).
    """
    if j + 1 >= len(table):
        return None
    top, sub = table[j], table[j + 1]
    if any(_like_data(v) for v in (*top, *sub) if _header_text(v) is not None):
        return None
    width = max(len(top), len(sub))
    tops = [_header_text(top[c]) if c < len(top) else None for c in range(width)]
    subs = [_header_text(sub[c]) if c < len(sub) else None for c in range(width)]
    groups: dict[int, str] = {}
    covered: set[int] = set()  # columns of row j inside a merged range
    for min_col, min_row, max_col, max_row in merged:
        if min_row <= j + 1 <= max_row:
            covered.update(range(min_col - 1, max_col))
            g = tops[min_col - 1] if min_col <= width else None
            if min_row == max_row and max_col > min_col and g is not None:
                groups.update((c, g) for c in range(min_col - 1, min(max_col, width)))
    c = 0
    while c < width:
        end, g = c + 1, tops[c]
        if g is not None and subs[c] is not None and c not in covered:
            while end < width and tops[end] is None and subs[end] is not None and end not in covered:
                end += 1
            if end > c + 1:
                groups.update((k, g) for k in range(c, end))
        c = end
    if not any(subs[c] is not None for c in groups):
        return None
    named = [c for c in range(width) if tops[c] is not None]
    left = min((c for c in range(width) if subs[c] is not None), default=width)
    if len(named) == 1 and named[0] <= left:
        return None  # a title over the header row
    if any(c not in groups and None not in (tops[c], subs[c]) and tops[c] != subs[c] for c in range(width)):
        return None
    headers: list[Header | None] = []
    for c in range(width):
        g, h = groups.get(c), subs[c]
        if g is None:
            one = tops[c] or h
            keys = () if one is None else _loose_keys(one, by_header)
            headers.append(None if one is None else Header(one, keys, (), tops[c] is not None, tops[c] is None))
        elif h is None:
            headers.append(Header(g, (), (_key(g),)))
        else:
            headers.append(Header(f"{g}/{h}", _pairs(g, h), (_key(h), _key(g)), True, True))
    return headers


def _header_at(
    table: Sequence[Sequence[Any]],
    j: int,
    merged: Sequence[tuple[int, int, int, int]],
    headerish: set[str],
    code_keys: set[str],
    by_header: Mapping[str, str],
) -> tuple[Sequence[Any], int]:
    """The header starting at row j (0-based) and how many rows it takes: two when row j+1 holds
    sub-headers (see _two_row_headers), row j names something known of its own (not a title or a
    date line over a one-row header), and row j+1 either names something known too or is no
    project's row (nothing under the project code's header; 本期 | 累计 under 完成百分比 is a
    header that names nothing, not a report); else row j alone."""
    two = _two_row_headers(table, j, merged, by_header)
    if two is not None:
        cols = [h for h in two if h is not None]
        # Known by the first row: a header of its own, or a group with its sub-header or alone.
        by_first = any(k in headerish for h in cols if h.first for k in (*h.keys, *h.parts[1:]))
        # Known by the second: a header of its own, or a sub-header with its group or alone.
        by_second = any(k in headerish for h in cols if h.second for k in (*h.keys, *h.parts[:1]))
        top, sub = table[j], table[j + 1]
        no_project = any(
            _key(top[c]) in code_keys and (c >= len(sub) or _header_text(sub[c]) in (None, _header_text(top[c])))
            for c in range(len(top))
            if _header_text(top[c]) is not None
        )
        if by_first and (by_second or no_project):
            return two, 2
    return table[j], 1


def _header_score(header: Sequence[Any], headerish: set[str]) -> int:
    """How many of a header's columns name something known (to pick the row most like a header)."""
    return sum(
        any(k in headerish for k in (*h.keys, *h.parts)) if isinstance(h, Header) else _key(h) in headerish
        for h in header
        if h is not None
    )


def _pick_sheet(
    names: Sequence[str],
    wanted: str | None,
    candidates: Sequence[str],
    source: str,
    option: str = "--sheet",
    hidden: Collection[str] = (),
    empty: Collection[str] = (),
    headed: Callable[[str], bool] | None = None,
) -> str:
    """The sheet named, else the one a candidate names, else the only sheet not hidden (a hidden
    sheet of instructions or drop-down lists beside the data is common), else the only one whose
    header has the columns wanted (``headed``: Sheet1, 2026项目清单（第3版）, 11月10日 beside a 说明
    sheet); else the error asks. An empty sheet (Excel's Sheet2, Sheet3) counts for none of these,
    unless every sheet is empty."""
    if wanted is not None:
        if wanted in names:
            return wanted
        raise BadInput(f"{source}: no sheet {wanted!r} (it has {', '.join(names)})")
    filled = [n for n in names if n not in empty] or list(names)
    keys = {_key(n): n for n in filled}
    for c in candidates:
        if _key(c) in keys:
            return keys[_key(c)]
    shown = [n for n in filled if n not in hidden]
    if len(shown) == 1:
        return shown[0]
    if headed is not None and len(with_header := [n for n in shown if headed(n)]) == 1:
        return with_header[0]
    listed = ", ".join(f"{n} (hidden)" if n in hidden else f"{n} (empty)" if n in empty else n for n in names)
    raise BadInput(f"{source}: which sheet? it has {listed}; name one with {option}")


def _empty_sheet(ws: Any) -> bool:
    """Whether a read-only worksheet holds no value at all (read up to its first value)."""
    return not any(v is not None for row in ws.iter_rows(values_only=True) for v in row)


def _has_header(table: Sequence[Sequence[Any]], kind: str, mapping: Mapping[str, str] | None) -> bool:
    """Whether one of a sheet's first rows (``table``) is a header with a column for every field the
    kind requires, as read_sheet looks for it (to pick a sheet by its header, not its name)."""
    known = REGISTER_HEADERS if kind == "register" else REPORT_HEADERS
    required = REGISTER_REQUIRED if kind == "register" else REPORT_REQUIRED
    headerish = {_key(a) for aliases in known.values() for a in aliases} | {_key(h) for h in (mapping or {}).values()}
    code_keys = {_key(a) for a in known["code"]} | {_key(h) for f, h in (mapping or {}).items() if f == "code"}
    by_header = _by_header(known)
    for j in range(min(HEADER_ROWS_SEARCHED, len(table))):
        header, _ = _header_at(table, j, [], headerish, code_keys, by_header)
        try:
            found, _, _ = _match_headers(header, known, mapping or {}, "")
        except BadInput:
            continue
        if all(f in found.values() for f in required):
            return True
    return False


def read_sheet(
    data: bytes | str | Path,
    kind: str,
    *,
    filename: str | None = None,
    sheet: str | None = None,
    mapping: Mapping[str, str] | None = None,
    sheet_option: str = "--sheet",
    mapping_option: str | None = "--mapping",
) -> Sheet:
    """The rows of a register ("register") or report ("reports") sheet of an .xlsx or .csv file
    (``sheet_option``: how the caller names a sheet, for the error asking for one;
    ``mapping_option``: how it takes a mapping, for the error naming columns not known, or None)."""
    known = REGISTER_HEADERS if kind == "register" else REPORT_HEADERS
    if isinstance(data, str | Path):
        path = Path(data)
        filename = filename or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BadInput(f"{path}: no such file") from None
    source = Path(filename).name if filename else "upload"
    is_xlsx = data[:2] == b"PK"  # an .xlsx is a zip; anything else is taken for CSV text
    merged: list[tuple[int, int, int, int]] = []
    hidden: set[int] = set()
    epoch = Sheet.epoch
    passed: set[tuple[int, int]] = set()  # cells a merge above fills: no row's own value
    several = False
    if is_xlsx:
        _check_workbook(data, source)
        with _unreadable_workbook(source):
            table, name, merged, hidden, epoch, passed, several = _xlsx_rows(
                data, kind, sheet, source, sheet_option, mapping
            )
    else:
        if filename and Path(filename).suffix.lower() in (".xlsx", ".xlsm"):
            raise BadInput(f"{source}: not an Excel workbook (.xlsx)")
        if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # the old binary .xls (OLE2) format
            raise BadInput(f"{source}: an Excel 97-2003 .xls file; save it as .xlsx (or CSV UTF-8) and import that")
        table, name = _csv_rows(data, source), Path(filename).stem if filename else "csv"  # type: ignore[assignment]
    called = f"sheet {name!r}" if is_xlsx else "the file"  # a CSV has no sheets
    if not table:
        raise BadInput(f"{source}: {'the ' if is_xlsx else ''}{called} is empty")
    required = REGISTER_REQUIRED if kind == "register" else REPORT_REQUIRED
    # The headers are on the first row, or below a title (表头 under a merged title row is common):
    # the first of the first rows that has a column for every required field. A header may take two
    # rows, group cells over sub-headers (see _two_row_headers): the data starts below both.
    # Without one, the errors name what is missing from the row most like a header.
    headerish = {_key(a) for aliases in known.values() for a in aliases} | {_key(h) for h in (mapping or {}).values()}
    code_keys = {_key(a) for a in known["code"]} | {_key(h) for f, h in (mapping or {}).items() if f == "code"}
    by_header = _by_header(known)
    readings = [
        _header_at(table, j, merged, headerish, code_keys, by_header)
        for j in range(min(HEADER_ROWS_SEARCHED, len(table)))
    ]
    scores = [_header_score(header, headerish) for header, _ in readings]
    top = scores.index(max(scores))
    with_code: list[int] = []
    for j, (candidate, _) in enumerate(readings):
        try:
            found, _, _ = _match_headers(candidate, known, mapping or {}, source)
        except BadInput:
            continue
        if all(f in found.values() for f in required):
            top = j
            break
        if "code" in found.values():
            with_code.append(j)
    else:
        if kind == "register" and with_code:
            # A sheet updating known projects may give only their codes and the fields it changes:
            # its header is the row most like one of those with a column for the code.
            top = max(with_code, key=lambda j: (scores[j], -j))
    header, depth = readings[top]
    twice: dict[str, list[int]] = {}
    columns, ignored, ambiguous = _match_headers(header, known, mapping or {}, source, twice)
    if twice:
        from openpyxl.utils.cell import get_column_letter

        def label(i: int) -> str:
            h = header[i]
            return " ".join((h.label if isinstance(h, Header) else str(h)).split())

        which = "; ".join(
            f"{f}: {' and '.join(f'{label(i)!r} (column {get_column_letter(i + 1)})' for i in cols)}"
            for f, cols in twice.items()
        )
        f, cols = next(iter(twice.items()))
        how = f" or name the one to import with {mapping_option} ({f}: {label(cols[-1])})"
        raise BadInput(
            f"{source}: {called} has two columns for one field, {which}: which is meant is not "
            f"the importer's to guess; delete one{how if mapping_option else ''}"
        )
    absent = [f for f in (NEW_PROJECT_COLUMNS if kind == "register" else required) if f not in columns.values()]
    absent_error = ""
    if absent:
        names = "; ".join(
            f"{f} ({' and '.join(map(repr, ambiguous[f]))} could each be it)"
            if f in ambiguous
            else f"{f} ({' / '.join(_names(known[f]))})"
            for f in absent
        )
        # The columns it does have that no field is known by, by the labels a mapping names them by.
        where = f"rows {top + 1}-{top + 2}" if depth == 2 else f"row {top + 1}"
        unknown = [h for h in ignored if not any(h in labels for labels in ambiguous.values())]
        listed = ", ".join(map(repr, unknown[:12])) + (f" and {len(unknown) - 12} more" if len(unknown) > 12 else "")
        hint = ""
        if mapping_option:
            how = "field: header; under a group, field: group/sub-header" if depth == 2 else "field: header"
            hint = f"; a {mapping_option} file names the column of a field ({how})"
        absent_error = (
            f"{source}: {called} has no column for {names} "
            f"(headers looked for in its first {HEADER_ROWS_SEARCHED} rows"
            + (f"; not known in {where}: {listed}" if unknown else "")
            + f"){hint}"
        )
        if kind != "register" or "code" in absent:
            raise BadInput(absent_error)
    if is_xlsx:
        # A formula's result is read as empty when the file holds none: look for formulas only
        # when a cell the import relies on is empty (a clean sheet is read once).
        watched = [i for i, f in columns.items() if f in (*required, "percent", "quantity", "weight", "quantity_unit")]
        if any(
            i >= len(cells) or cells[i] is None
            for cells in table[top + depth :]
            if any(c is not None for c in cells)
            for i in watched
        ):
            with _unreadable_workbook(source):
                _mark_formulas(data, name, table)
    rows: list[Row] = []
    skipped: list[tuple[int, str]] = []
    for n, cells in enumerate(table[top + depth :], start=top + depth + 1):
        values = {f: _clean(cells[i]) if i < len(cells) else None for i, f in columns.items()}
        if all(values[f] is None or (n - 1, i) in passed for i, f in columns.items()):
            # Blank lines between blocks are common in hand-kept sheets, and so is one inside a block
            # whose unit or date is merged down over it: a row with nothing of its own is blank.
            continue
        if (why := _no_project_row(cells, values.get("code")) or _note_row(cells, values.get("code"))) is not None:
            skipped.append((n, why))
            continue
        rows.append(Row(n, values))
    unit = _header_unit(header, columns) if kind == "register" else None
    shut = [r.number for r in rows if r.number in hidden]
    return Sheet(
        name,
        rows,
        ignored,
        tuple(absent),
        absent_error,
        skipped,
        unit,
        _column_names(header, columns),
        shut,
        epoch,
        not is_xlsx,
        several,
        _column_labels(header, columns),
    )


def _column_labels(header: Sequence[Any], columns: Mapping[int, str]) -> dict[str, str]:
    """Each field's column header as the sheet shows it (a header's line breaks as spaces)."""
    labels: dict[str, str] = {}
    for i, f in columns.items():
        h = header[i] if i < len(header) else None
        label = h.label if isinstance(h, Header) else "" if h is None else str(h)
        labels[f] = " ".join(label.split())
    return labels


def _column_names(header: Sequence[Any], columns: Mapping[int, str]) -> dict[str, str]:
    """Each field's column by its letter and header as the sheet shows them (a header's line breaks
    as spaces): "column H: 计划完成 日期"."""
    from openpyxl.utils.cell import get_column_letter

    labels = _column_labels(header, columns)
    return {
        f: f"column {get_column_letter(i + 1)}" + (f": {labels[f]}" if labels[f] else "") for i, f in columns.items()
    }


def field_words(name: str) -> str:
    """A field as a message names it when no column of the sheet gives it: its first Chinese header
    name and its English one (责任人 (responsible person)); a field no header names, in words."""
    aliases = REGISTER_HEADERS.get(name) or REPORT_HEADERS.get(name) or ()
    chinese = next((a for a in aliases if _HAN.search(a)), None)
    spaced = name.replace("_", " ")
    english = spaced if spaced in aliases else next((a for a in aliases if a != name and a.isascii()), spaced)
    return f"{chinese} ({english})" if chinese else english


def at_columns(sheet: Sheet, bad: Iterable[RowProblem]) -> list[RowProblem]:
    """The reasons of a sheet's bad rows in its words (see in_sheet_words), each naming the column
    of the field it is about, as the sheet shows it (a coordinator reads 'column H: 计划完成', not
    planned_finish), where a reason is a cell's and the sheet has a column for it."""
    out: list[RowProblem] = []
    for p in bad:
        where = sheet.columns.get(p.field) if p.field else None
        reason = in_sheet_words(sheet, p.reason, p.field)
        out.append(p._replace(reason=f"{reason} [{where}]" if where else reason))
    return out


def in_sheet_words(sheet: Sheet, text: str, about: str | None = None) -> str:
    """A reason or a note as the sheet words it: the field it is ``about`` named at its start
    (``planned_finish: …``, ``quantity '850 m' …``, ``no responsible_person``) by its column's header
    (计划完成: …), and a field of two words (responsible_unit, planned start) by its header wherever
    the sheet has a column for it (see Sheet.label); other words as they are ("the date" stays)."""
    if about is not None:
        names = "|".join(re.escape(n) for n in dict.fromkeys((about, about.replace("_", " "))))
        text = re.sub(rf"^(no )?(?:{names})(?![\w-])", lambda m: f"{m[1] or ''}{sheet.label(about)}", text)
    for f, label in sheet.labels.items():
        if "_" in f and label:
            names = "|".join(re.escape(n) for n in (f, f.replace("_", " ")))
            text = re.sub(rf"(?<![\w-])(?:{names})(?![\w-])", label.replace("\\", "\\\\"), text)  # as written
    return text


def _rule_problems(row: int, reasons: Iterable[Reason]) -> list[RowProblem]:
    """completion.reports' reasons (check_report, check_project) as a row's problems."""
    return [RowProblem(row, why.field, why.text) for why in reasons]


def skipped_note(sheet: Sheet) -> str | None:
    """The note naming the rows left out as no project's (see _no_project_row), or None."""
    if not sheet.skipped:
        return None
    listed = "; ".join(f"row {n}: {why}" for n, why in sheet.skipped[:10])
    more = f" and {len(sheet.skipped) - 10} more" if len(sheet.skipped) > 10 else ""
    return f"rows not imported (no project's): {listed}{more}"


def hidden_note(sheet: Sheet) -> str | None:
    """The note naming the rows read that Excel hides (hidden or filtered out), or None."""
    if not sheet.hidden_rows:
        return None
    listed = ", ".join(map(str, sheet.hidden_rows[:20]))
    more = f" and {len(sheet.hidden_rows) - 20} more" if len(sheet.hidden_rows) > 20 else ""
    which = f"row {listed} is" if len(sheet.hidden_rows) == 1 else f"rows {listed}{more} are"
    return (
        f"{which} hidden in sheet {sheet.name!r} (hidden or filtered out in Excel) and read like the others; "
        "delete a row from the sheet if it is not to be imported"
    )


# A row so labelled (in any of its cells) with no project code, or that label as its code, sums
# the rows above it: no project's row (合计 under a register, 小计 under each area's block).
TOTAL_LABELS = frozenset(_key(t) for t in ("合计", "总计", "小计", "累计合计", "total", "totals", "subtotal", "sum"))


def _no_project_row(cells: Sequence[Any], code: Any) -> str | None:
    """Why a row is no project's row and is left out (a totals row; a row of formulas alone, with
    no code, that the file holds no results for), or None: it is read, and refused if it is bad."""
    if code is None or (isinstance(code, str) and not isinstance(code, Unreadable) and _key(code) in TOTAL_LABELS):
        label = next(
            (
                str(c).strip()
                for c in cells
                if isinstance(c, str) and not isinstance(c, Unreadable) and _key(c) in TOTAL_LABELS
            ),
            None,
        )
        if label is not None:
            return f"a totals row ({label})"
    if code is None:
        filled = [c for c in cells if c is not None and not (isinstance(c, str) and not c.strip())]
        if filled and all(isinstance(c, Uncomputed) for c in filled):
            return "formulas only, no project code"
    return None


# The words a form's note lines begin with: 填写说明 under the header, 注：… and 填表人：… 审核人：… under
# the rows, an average row (平均). A row so written, with no project code, is no report.
NOTE_WORDS = ("填写说明", "填表说明", "填报说明", "说明", "注", "填表人", "填报人", "审核人", "审核", "制表人", "制表",
              "备注", "联系人", "联系电话", "平均值", "平均")  # fmt: skip
_NOTE = re.compile(rf"(?:{'|'.join(NOTE_WORDS)})(?:[\s:：,，、.．;；()（）\d]|$)")


def _is_note(v: Any) -> bool:
    return isinstance(v, str) and not isinstance(v, Unreadable) and _NOTE.match(v.strip()) is not None


def _note_row(cells: Sequence[Any], code: Any) -> str | None:
    """Why a row is a note line of the form (see NOTE_WORDS), or None: its first filled cell is text
    beginning with a note word, and its code cell is empty or that text, so a row with a project
    code is never one. Other cells may hold anything (平均's formula, 审核人：… further right)."""
    if code is not None and not _is_note(code):
        return None
    first = next((c for c in cells if c is not None and not (isinstance(c, str) and not c.strip())), None)
    if not _is_note(first):
        return None
    text = " ".join(str(first).split())
    return f"a note ({text[:30]}{'…' if len(text) > 30 else ''})"


_UNIT_SUFFIX = re.compile(r"[(（\[【]\s*([^)）\]】]+?)\s*[)）\]】]\s*$")


def _header_unit(header: Sequence[Any], columns: Mapping[int, str]) -> str | None:
    """The unit of quantity the quantity column's header gives in brackets (工程量（㎡）, 工程量(米),
    Quantity (m2)) when no column gives it, if that is a unit known (UNIT_ALIASES); else None."""
    if "quantity_unit" in columns.values():
        return None
    for i, f in columns.items():
        if f != "quantity" or i >= len(header) or header[i] is None:
            continue
        h = header[i]
        label = h.label.rsplit("/", 1)[-1] if isinstance(h, Header) else str(h)
        m = _UNIT_SUFFIX.search(label.strip())
        if m is not None:
            text = m[1].strip()
            return UNIT_ALIASES.get(text.casefold(), UNIT_ALIASES.get(text))
    return None


def _names(aliases: Sequence[str]) -> list[str]:
    """The headers a missing field is named by in an error: its first English names and its
    Chinese ones (a Chinese sheet's user looks for 计划开始, not planned_start alone)."""
    chinese = [a for a in aliases if re.search(r"[\u4e00-\u9fff]", a)]
    english = [a for a in aliases if a not in chinese]
    return english[:3] + chinese


def _clean(v: Any) -> Any:
    if isinstance(v, HeldPercent):
        return v  # stripped already; keeps what the cell shows
    if isinstance(v, str) and not isinstance(v, Unreadable):
        v = v.strip()
        return CellError(v) if v in EXCEL_ERRORS else (v or None)
    return v


def _xlsx_rows(
    data: bytes,
    kind: str,
    sheet: str | None,
    source: str,
    sheet_option: str = "--sheet",
    mapping: Mapping[str, str] | None = None,
) -> tuple[list[list[Any]], str, list[tuple[int, int, int, int]], set[int], datetime, set[tuple[int, int]], bool]:
    """The sheet's values with merged cells filled (see _fill_merged), its name, its merged
    ranges (for the group cells of a two-row header), its hidden rows (1-based), the workbook's
    date system (its epoch, for serial day numbers left unformatted), the cells a merge above
    filled (row, column, 0-based), and whether the workbook has other sheets."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise BadInput(f"{source}: not a readable Excel workbook ({e})") from None
    candidates = REGISTER_SHEETS if kind == "register" else REPORT_SHEETS
    hidden = {ws.title for ws in book.worksheets if getattr(ws, "sheet_state", "visible") != "visible"}
    empty = set() if sheet is not None else {n for n in book.sheetnames if _empty_sheet(book[n])}
    name = _pick_sheet(
        book.sheetnames, sheet, candidates, source, sheet_option, hidden, empty,
        lambda n: _has_header(list(book[n].iter_rows(max_row=HEADER_ROWS_SEARCHED, values_only=True)), kind, mapping),
    )  # fmt: skip
    ws = book[name]
    table = _xlsx_values(ws)
    xml = _sheet_xml(ws)
    merged = _merged_ranges(xml)
    passed = _fill_merged(table, merged)
    return table, name, merged, _hidden_rows(xml), book.epoch, passed, len(book.sheetnames) > 1


# A workbook's sheet XML compresses some 5 to 30 times; a zip bomb's a thousand (twin.archives).
WORKBOOK_MAX_RATIO = 100


def _check_workbook(data: bytes, source: str) -> None:
    """Refuse a workbook before openpyxl parses it: one whose members would unpack past
    VENUE_TWIN_WORKBOOK_MAX_MB or far more than a workbook's do (TooLarge: a zip bomb), one that
    is no zip, and one whose XML declares a DTD, which Excel never writes (its entities could
    expand a thousandfold or name a file on the server)."""
    import zipfile
    import zlib

    from twin.archives import check_zip_sizes
    from twin.settings import settings

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            check_zip_sizes(
                z, source, max_mb=settings().workbook_max_mb, setting="VENUE_TWIN_WORKBOOK_MAX_MB",
                max_ratio=WORKBOOK_MAX_RATIO,
            )  # fmt: skip
            for info in z.infolist():
                if not info.filename.endswith((".xml", ".rels")):
                    continue
                with z.open(info) as member:
                    head = member.read(4096).replace(b"\x00", b"")  # UTF-16 too
                if b"<!DOCTYPE" in head:
                    raise BadInput(
                        f"{source}: not a readable Excel workbook ({info.filename} declares a DTD, "
                        "which Excel never writes)"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        raise BadInput(f"{source}: not a readable Excel workbook ({e})") from None


@contextlib.contextmanager
def _unreadable_workbook(source: str) -> Iterator[None]:
    """A workbook openpyxl cannot parse (a sheet's XML cut short, an entity it does not know, a
    member that does not unpack) as BadInput, not an error of the server's: openpyxl parses a
    sheet only as its rows are read, so its errors come from the reads, not from opening it."""
    import zipfile
    import zlib

    try:
        yield
    except (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as e:  # SyntaxError: ElementTree's and lxml's
        raise BadInput(f"{source}: not a readable Excel workbook ({e})") from None


_ROW_TAG = re.compile(rb"<(?:\w+:)?row\s([^>]*)>")
_HIDDEN = re.compile(rb"""\bhidden=["'](?:1|true)["']""")
_ROW_NUMBER = re.compile(rb"""\br=["'](\d+)["']""")


def _hidden_rows(xml: bytes) -> set[int]:
    """The rows a worksheet's XML hides (hidden, or filtered out by an AutoFilter), 1-based
    (openpyxl's read-only mode does not read row dimensions)."""
    if not _HIDDEN.search(xml):
        return set()
    out: set[int] = set()
    for m in _ROW_TAG.finditer(xml):
        attrs = m[1]
        if _HIDDEN.search(attrs) and (r := _ROW_NUMBER.search(attrs)) is not None:
            out.add(int(r[1]))
    return out


def _xlsx_values(ws: Any) -> list[list[Any]]:
    """The sheet's values, a number formatted as a percent read as shown (see _xlsx_value).

    Reading values alone is much faster than reading cells (a cell object each, its format looked
    up): the styles formatted as a percent are found once, and the values read with their style ids
    through openpyxl's read-only row builder; without those internals, cell by cell."""
    try:
        from openpyxl.cell.read_only import ReadOnlyCell

        styles = range(len(ws.parent._cell_styles))
        formats = {i: ReadOnlyCell(ws, 1, 1, None, "n", i).number_format or "" for i in styles}
        percent = {i: f for i, f in formats.items() if "%" in f}
        build = ws._get_row
    except (AttributeError, ImportError, TypeError):
        return [[_xlsx_value(c) for c in row] for row in ws.iter_rows()]
    if percent:

        def get_row(row: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            for cell in row:
                v = cell["value"]
                if cell.get("style_id") in percent and isinstance(v, int | float) and not isinstance(v, bool):
                    cell["value"] = _as_shown_percent(v, percent[cell["style_id"]])
            return build(row, *args, **kwargs)

        ws._get_row = get_row
    return [list(row) for row in ws.iter_rows(values_only=True)]


def _as_shown_percent(v: float, number_format: str = "") -> str:
    """A percent cell's value as text with its '%': the figure it holds (0.455 is "45.5%"), which
    is what is read; a HeldPercent when its format shows it rounded (46% in a '0%' cell)."""
    held = f"{round(v * 100, 10):g}%"
    shown = _rounded_percent(v, number_format)
    return HeldPercent(held, shown) if shown is not None and shown != held else held


def _rounded_percent(v: float, number_format: str) -> str | None:
    """How Excel shows a fraction in a percent format ('0%' → 46%, '0.0%' → 45.5%: half away from
    zero), or None for a format this does not read (a section or a text format)."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    fmt = number_format.split(";")[0]
    m = re.search(r"0(?:\.(0+))?\s*%", fmt)
    if m is None:
        return None
    places = len(m[1] or "")
    try:
        x = Decimal(repr(round(v * 100, 10))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return f"{x:f}%"


class HeldPercent(str):
    """A percent cell's figure ("45.5%") that Excel shows rounded (``shown``: "46%"), to say so
    when the figure read is refused (the coordinator sees 46% and cannot see why it is lower)."""

    shown: str

    def __new__(cls, held: str, shown: str) -> HeldPercent:
        self = super().__new__(cls, held)
        self.shown = shown
        return self


_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")


def _sheet_xml(ws: Any) -> bytes:
    """A read-only worksheet's XML (b"" when openpyxl's internals do not give it)."""
    try:
        return bytes(ws.parent._archive.read(ws._worksheet_path))
    except (AttributeError, KeyError):
        return b""


def _merged_ranges(xml: bytes) -> list[tuple[int, int, int, int]]:
    """The merged ranges of a worksheet's XML (openpyxl's read-only mode does not read them):
    (min_col, min_row, max_col, max_row), 1-based, from after its cells."""
    from openpyxl.utils.cell import range_boundaries

    tail = xml[xml.rfind(b"</sheetData>") :]
    return [range_boundaries(m.decode()) for m in _MERGE.findall(tail)]


def _fill_merged(table: list[list[Any]], ranges: Sequence[tuple[int, int, int, int]]) -> set[tuple[int, int]]:
    """A cell merged down over several rows holds its value on each, as Excel shows it (a unit or a
    date merged over the rows of its projects is theirs, not empty below the first). Across
    columns a merge is only a wider cell: a remark spread over the reason and reporter columns is
    not a reason nor a reporter, so only its first column is filled. Returns the cells filled so
    (row, column, 0-based): a row holding nothing else has nothing of its own, a blank row."""
    passed: set[tuple[int, int]] = set()
    for min_col, min_row, _, max_row in ranges:
        if min_row > len(table) or max_row == min_row:
            continue
        value = table[min_row - 1][min_col - 1] if min_col <= len(table[min_row - 1]) else None
        for r in range(min_row, min(max_row, len(table))):
            row = table[r]
            if len(row) < min_col:
                row.extend([None] * (min_col - len(row)))
            row[min_col - 1] = value
            passed.add((r, min_col - 1))
    return passed


def _xlsx_value(cell: Any) -> Any:
    """A cell's value as the sheet shows it: a number formatted as a percent (Excel stores 45% as
    0.45) is read as the text "45%", so a percent column typed either way means the same."""
    v = cell.value
    if isinstance(v, int | float) and not isinstance(v, bool) and "%" in (getattr(cell, "number_format", None) or ""):
        return _as_shown_percent(v, cell.number_format)
    return v


class Unreadable(str):
    """A cell whose value is not known: the row is refused rather than read with it empty or as text."""


class Uncomputed(Unreadable):
    """A formula cell whose result the file does not hold (written by a program, never opened and
    saved in Excel)."""


class CellError(Unreadable):
    """A formula's error value as Excel shows it (#N/A from a lookup that found nothing, #REF! ...),
    which would otherwise be taken for a responsible unit's or a person's name."""


EXCEL_ERRORS = frozenset(
    ("#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA")
)


def _mark_formulas(data: bytes, name: str, table: list[list[Any]]) -> None:
    from openpyxl import load_workbook

    formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False)[name]
    for row, cells in zip(table, formulas.iter_rows(values_only=True), strict=False):
        for i, (v, f) in enumerate(zip(row, cells, strict=False)):
            if v is None and isinstance(f, str) and f.startswith("="):
                row[i] = Uncomputed(f)


def _csv_rows(data: bytes, source: str) -> list[list[str]]:
    # Excel in China saves CSV as GBK unless told otherwise; its "Unicode Text" (.txt, tab-separated)
    # is UTF-16 with a byte-order mark, which says so (GB18030 refuses its 0xFF, UTF-8 its zeros).
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
    for encoding in ("utf-16",) if utf16 else ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BadInput(
            f"{source}: the CSV is "
            + ("not UTF-16 text, though it begins as such" if utf16 else "neither UTF-8 nor GB18030 text")
        )
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        # Rows of unequal width (a title line above the header) leave the sniffer without an
        # answer: Unicode Text, or a text with tabs and no commas, is tab-separated; else commas.
        head = text[:4096]
        tabs = utf16 or ("\t" in head and "," not in head)
        dialect = csv.excel_tab if tabs else csv.excel  # type: ignore[assignment]
    # A cell the exports wrote behind a quote so Excel shows it as text ('=..., see csv_safe) is
    # read as it was in the twin.
    return [[csv_unquoted(c) for c in row] for row in csv.reader(io.StringIO(text), dialect)]


# ---------------------------------------------------------------------------- cell values
# The forms a date is read in, as the message refusing one lists them.
DATE_FORMS = "2026-11-10, 2026/11/10, 2026.11.10, 2026年11月10日 (a weekday after it too), 20261110, or an Excel date"
_WEEKDAYS = "一二三四五六日"
# A weekday written after a date: (星期二), （周二）, 礼拜二, Tue (checked against the date).
_WEEKDAY = re.compile(
    r"\s*\(?\s*(?:(?:星期|周|礼拜)([一二三四五六日天])|(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?)\s*\)?\s*$", re.I
)


def _as_date(v: Any, epoch: datetime | None = None) -> date:
    """A cell's date: an Excel date, a serial day number left unformatted (counted from the
    workbook's ``epoch``), 20261110 as a number or text, or text in one of DATE_FORMS."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and 20000 < v < 80000:
        from openpyxl.utils.datetime import from_excel

        # an Excel serial day number left unformatted, in the workbook's date system
        return from_excel(int(v), epoch or Sheet.epoch).date()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = unicodedata.normalize("NFKC", str(v)).strip()  # typed in full width: ２０２６－１０－０６
    weekday = None
    if (w := _WEEKDAY.search(text)) is not None and w.start() > 0:
        weekday = (
            _WEEKDAYS.index(w[1].replace("天", "日")) if w[1] else "montuewedthufrisatsun".index(w[2][:3].lower()) // 3
        )
        text = text[: w.start()].strip()
    m = re.fullmatch(
        r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?", text
    ) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)  # 20261110, as typed in a cell or a number
    if m:
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
        else:
            if weekday is not None and day.weekday() != weekday:
                # A weekday that is not the date's: one of the two is a typo, and which is not known.
                raise ValueError(
                    f"{text} is a {day:%A} (星期{_WEEKDAYS[day.weekday()]}), not the weekday written after it"
                )
            return day
    meant = _without_year(text)
    if meant is not None:
        # Refused, not guessed: a season can straddle a new year. The message gives the nearest.
        raise ValueError(f"{text!r} has no year: write {meant.isoformat()}")
    raise ValueError(f"{text!r} is not a date (dates are read as {DATE_FORMS})")


def _without_year(text: str) -> date | None:
    """The date nearest today that a month and day with no year (10月6日, 10/6, 10-06) would be,
    or None when the text is not one."""
    m = re.fullmatch(r"(\d{1,2})\s*(?:月\s*(\d{1,2})\s*[日号]?|[-/]\s*(\d{1,2}))", text)
    if not m:
        return None
    month, day = int(m[1]), int(m[2] or m[3])
    today = datetime.now(SHANGHAI).date()
    days: list[date] = []
    for year in (today.year - 1, today.year, today.year + 1):
        with contextlib.suppress(ValueError):  # 2月30日 in any year, 2月29日 outside leap years
            days.append(date(year, month, day))
    return min(days, key=lambda d: abs(d - today)) if days else None


def _unreadable(row: Row) -> list[RowProblem]:
    return [
        RowProblem(
            row.number,
            f,
            f"{f}: the formula {v} has no saved result (open and save the workbook in Excel, or paste the values)"
            if isinstance(v, Uncomputed)
            else f"{f}: the cell shows the error {v} (a formula that failed)",
        )
        for f, v in row.values.items()
        if isinstance(v, Unreadable)
    ]


# Thousands separators: "1,500" or "12,000.5" (a comma elsewhere, as in "9,5", is a decimal comma
# or a typo, and reading it as 95 would be a silent wrong figure).
_GROUPED = re.compile(r"[+-]?\d{1,3}([,，]\d{3})+(\.\d*)?%?")


def _as_number(v: Any, what: str) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{what} {v!r} is not a number")
    if isinstance(v, int | float):
        x = float(v)
    else:
        text = unicodedata.normalize("NFKC", str(v)).strip()  # full width: ４５．５％ is 45.5%
        if _GROUPED.fullmatch(text):
            text = text.replace(",", "").replace("，", "")
        try:
            x = float(text[:-1]) if text.endswith("%") else float(text)
        except ValueError:
            hint = " (write decimals with a point, e.g. 99.5)" if re.fullmatch(r"[+-]?\d+[,，]\d+%?", text) else ""
            # quoted as written (1,200㎡), not as read (1,200m2): the coordinator looks for it in the sheet
            raise ValueError(f"{what} {quoted(str(v).strip())} is not a number{hint}") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} {v!r} is not a number")
    return x


def _fraction_problem(cell: Any, x: float) -> str | None:
    """Why a percent above 0 and up to 1 written as a plain number is refused: 0.75 from a formula
    (完成量/工程量) is a fraction of 1 as often as it is 0.75 %, and 1 is 100 % as often as 1 %;
    reading either way would be a silent wrong figure. A cell formatted as a percent reads as text
    with its '%' (see _xlsx_value), and text written with a '%' says which it is; either is taken as
    written. (0 is 0 either way.)"""
    if not 0 < x <= 1 or (isinstance(cell, str) and "%" in cell.replace("％", "%")):
        return None
    shown = f"{x:g}"
    return (
        f"percent {shown}: a fraction or {shown} %? write {round(x * 100, 10):g}, or {shown}%, "
        "or format the cell as a percentage"
    )


def _unit(v: Any) -> str:
    text = str(v).strip()
    return UNIT_ALIASES.get(text.casefold(), UNIT_ALIASES.get(text, text))


# A quantity written with its unit: 1,200㎡ (read as 1,200m2), 850 m, 1200 平方米, 30盏.
_WITH_UNIT = re.compile(r"([+-]?\d[\d,，]*(?:\.\d+)?)\s*([^\d\s.,，%+-].*)")


def _quantity_and_unit(cell: Any, given: str | None, given_by: str) -> tuple[float, str | None]:
    """A quantity cell's number and, when it is written with its unit (1,200㎡, 850 m), that unit as
    the register spells it (UNIT_ALIASES: m2, ㎡ → m²); ValueError when it is neither a number nor
    one with a unit. ``given``: the unit the row gives otherwise (its unit column, or the quantity's
    header: 工程量（㎡）), named in messages as ``given_by``. A unit written in the cell must be that
    one; with none given it must be a unit known. Messages quote the cell as written."""
    try:
        return _as_number(cell, "quantity"), None
    except ValueError:
        if not isinstance(cell, str):
            raise
        m = _WITH_UNIT.fullmatch(unicodedata.normalize("NFKC", cell).strip())
        if m is None:
            raise
    try:
        number = _as_number(m[1], "quantity")
    except ValueError as e:  # 9,5 m²: the number's reason, naming the cell
        raise ValueError(str(e).replace(quoted(m[1]), quoted(cell), 1)) from None
    unit = _unit(m[2])
    if unit == given:
        return number, unit
    if unit not in UNIT_ALIASES.values():
        known = ", ".join(dict.fromkeys(UNIT_ALIASES.values()))
        raise ValueError(
            f"quantity {quoted(cell)}: its unit is not a unit of quantity known ({known}); "
            "write the number alone, and its unit in the unit column"
        )
    if given is not None:
        raise ValueError(
            f"quantity {quoted(cell)} is in {unit}, but the row's unit is {given} ({given_by}): "
            "write the quantity in the row's unit, or correct the unit"
        )
    return number, unit


# ---------------------------------------------------------------------------- the register
# How far from today a planned date may lie (a date further off is an empty cell or a typo: with
# --original-dates a start in 1900 would begin the twin's history then).
PLAN_YEARS = 10
# What a new project gets for the columns a register sheet leaves out (never a quantity: an invented
# "0 items" would weigh it 0 among its area's projects counted in items; one is asked for instead).
NEW_PROJECT_DEFAULTS: dict[str, Any] = {"category": "other"}


def register_records(
    sheet: Sheet,
) -> tuple[list[tuple[Row, dict[str, Any]]], list[RowProblem], dict[int, set[str]]]:
    """Each row as a project record (the register's field names and types), the rows' problems, and
    by row number the fields whose cells were refused (left out of the record: the refusal is the
    reason, not the field then missing)."""
    out: list[tuple[Row, dict[str, Any]]] = []
    bad: list[RowProblem] = []
    refused: dict[int, set[str]] = {}
    seen: dict[str, int] = {}
    today = datetime.now(SHANGHAI).date()
    for row in sheet.rows:
        v = row.values
        rec: dict[str, Any] = {}
        reasons = _unreadable(row)
        v = {f: x for f, x in v.items() if not isinstance(x, Unreadable)}
        code = v.get("code")
        if code is None:
            reasons.append(RowProblem(row.number, "code", "no project code"))
        else:
            code = str(int(code)) if isinstance(code, float) and code.is_integer() else str(code)
            rec["code"] = code
            if (why := code_problem(code)) is not None:
                reasons.append(RowProblem(row.number, "code", why))
            if code in seen:
                reasons.append(RowProblem(row.number, "code", f"project code {code} is also on row {seen[code]}"))
            seen.setdefault(code, row.number)
        for f in ("planned_start", "planned_finish"):
            if v.get(f) is not None:
                try:
                    day = _as_date(v[f], sheet.epoch)
                except ValueError as e:
                    reasons.append(RowProblem(row.number, f, f"{f}: {e}"))
                    refused.setdefault(row.number, set()).add(f)
                    continue
                if abs(day.year - today.year) > PLAN_YEARS:
                    # 1900-01-00 is how Excel shows an empty cell's date; a year off by a century is a typo.
                    why = (
                        f"{f} {day.isoformat()} is more than {PLAN_YEARS} years from today ({today.isoformat()}): "
                        "an empty date cell or a typo?"
                    )
                    reasons.append(RowProblem(row.number, f, why))
                    refused.setdefault(row.number, set()).add(f)
                    continue
                rec[f] = day.isoformat()
        written_unit = None  # the unit the quantity cell is written with (1,200㎡)
        for f in ("quantity", "weight"):
            if v.get(f) is not None:
                try:
                    if f == "quantity":
                        given, given_by = sheet.quantity_unit, f"the header {sheet.label('quantity')}"
                        if (written := v.get("quantity_unit")) is not None:
                            given, given_by = _unit(written), f"{sheet.label('quantity_unit')} {quoted(str(written))}"
                        rec[f], written_unit = _quantity_and_unit(v[f], given, given_by)
                    else:
                        rec[f] = _as_number(v[f], f)
                except ValueError as e:
                    reasons.append(RowProblem(row.number, f, str(e)))
                    refused.setdefault(row.number, set()).add(f)
                    continue
                if isinstance(v[f], str) and "%" in v[f].replace("％", "%"):
                    if f == "quantity":
                        why = f"quantity {v[f]!r} is a percent, not a quantity of its unit"
                        reasons.append(RowProblem(row.number, f, why))
                        refused.setdefault(row.number, set()).add(f)
                        del rec[f]
                    else:
                        # A weight of 20% is 0.2 (the value a cell formatted as a percent holds),
                        # beside weights written as fractions: read as 20 it weighed 66 times 0.3.
                        rec[f] = rec[f] / 100
        if v.get("quantity_unit") is not None:
            rec["quantity_unit"] = _unit(v["quantity_unit"])
        elif sheet.quantity_unit is not None and "quantity" in rec:
            rec["quantity_unit"] = sheet.quantity_unit  # 工程量（㎡）: the header gives it
        elif written_unit is not None and "quantity" in rec:
            rec["quantity_unit"] = written_unit  # 1,200㎡: the quantity's cell gives it
        if v.get("area") is not None:
            a = str(v["area"])
            rec["area"] = AREA_ALIASES.get(a.casefold(), AREA_ALIASES.get(a, a))
        if v.get("curve") is not None:
            c = str(v["curve"])
            rec["curve"] = CURVE_ALIASES.get(c.casefold(), c)
        if v.get("features") is not None:
            # separated by commas, semicolons or spaces, or a JSON list (as `venue-twin export` of
            # the layer writes them): no reference holds brackets or quotes
            rec["features"] = [s for s in re.split(r"[;,；，\s\[\]\"']+", str(v["features"])) if s]
        for f in ("category", "responsible_unit", "responsible_person", "name_zh", "name_en"):
            if v.get(f) is not None:
                rec[f] = str(v[f])
        bad.extend(reasons)
        out.append((row, rec))
    return out, bad, refused


def _keys_of_labels(schema: LayerSchema, records: Sequence[tuple[Row, dict[str, Any]]]) -> None:
    """A category or area given as its label (the register layer's Chinese or English title of a
    value: 灯光照明, Lighting; 绿化景观, the landscaping layer's own title) is stored as its key
    (lighting), as the pages and the roll-up's groups know it."""
    for name in ("category", "area"):
        spec = schema.field(name)
        if spec is None or not spec.labels:
            continue
        keys = {str(k) for k, _, _ in spec.labels}
        by_label = {_key(label): str(k) for k, zh, en in spec.labels for label in (k, zh, en)}
        for _, rec in records:
            v = rec.get(name)
            if isinstance(v, str) and v not in keys and _key(v) in by_label:
                rec[name] = by_label[_key(v)]


def _new_rows_need_columns(
    sheet: Sheet, records: Sequence[tuple[Row, dict[str, Any]]], existing: Mapping[str, Project]
) -> None:
    """Refuse a sheet without a column a new project needs (planned start, finish, unit): a sheet
    whose every row names a known project needs only the code column and those it changes. The
    error names the columns and each row that is a new project (with the code it could be)."""
    new = [(row, rec["code"]) for row, rec in records if "code" in rec and rec["code"] not in existing]
    if not new:
        return
    named = [f"row {row.number}: {unknown_code(code, existing)}" for row, code in new[:10]]
    more = f" and {len(new) - 10} more" if len(new) > 10 else ""
    raise BadInput(
        f"{sheet.absent_error}. A new project needs them: {'; '.join(named)}{more} "
        "(a sheet updating known projects needs only the code column and the columns it changes)"
    )


def import_register(
    twin: TwinLike,
    sheet: Sheet,
    *,
    author: str,
    source: str,
    message: str | None = None,
    time: datetime | None = None,
    parent: str | None = HEAD,
    new_units: bool = False,
    new_units_option: str | None = None,
    new_categories: bool = False,
    new_categories_option: str | None = None,
    notes: list[str] | None = None,
) -> CommitInfo:
    """Add or update every project of the sheet as one commit; any bad row refuses the whole sheet.

    A code already in the register updates the fields the sheet gives and keeps the rest (its
    progress too). A unit or person written as the register's name without its bracketed part (or
    by that part) is taken as the register's, and a project moving to another unit is said, in
    ``notes``. With ``new_units_option`` (how the caller adds a new unit, e.g. "--new-units") a
    unit the register does not hold but one of its units is like is refused unless ``new_units``;
    so is a category like one of the register's (道路 beside 配套道路), with ``new_categories_option``
    unless ``new_categories``. Raises Refused naming every bad row.
    """
    records, bad, refused = register_records(sheet)
    if not records and not bad:
        raise BadInput(sheet.absent_error or f"{source}: no project rows")
    ref = twin.resolve(None if parent in (None, HEAD) else parent)
    base = ref.commit.id if ref.commit else None
    head = twin.resolve().commit  # commit times are checked against the head, whatever `parent` names
    if time is not None and head is not None and time < head.time:
        raise BadInput(
            _recorded_before_head(source, time, head.time, from_starts=time == register_recorded_time(sheet))
        )
    existing: dict[str, Project] = {}
    if ref.commit is not None:
        for b in twin.features(LAYER, ref).features:
            p = Project.from_feature(b)
            existing[p.code] = p
    if sheet.absent:
        _new_rows_need_columns(sheet, records, existing)
    schema = twin.layer(LAYER)
    _keys_of_labels(schema, records)
    said, ambiguous = _register_names(records, existing)
    if notes is not None:
        notes.extend(in_sheet_words(sheet, n) for n in said)
    refs = sorted({r for _, rec in records for r in rec.get("features", [])})
    # Every feature reference checked in one read per layer (check_project would read per record).
    bad_refs = feature_ref_problems(twin, refs, ref.seq)
    changes: list[Change] = []
    given: list[tuple[Row, dict[str, Any]]] = []
    for row, rec in records:
        old = existing.get(rec.get("code", ""))
        fid = old.fid if old else rec.get("code", "")
        if old is not None and rec.get("curve") == old.curve:
            # A cell giving the curve the project already has is no change: a record without one
            # is linear (Project), and the register's export writes it out as such.
            del rec["curve"]
        # A new project without these columns gets their defaults; a known one keeps its own (a
        # sheet that moves a deadline must not reset its quantity, unit and category).
        merged = {k: v for k, v in ({**old.properties, **rec} if old else {**NEW_PROJECT_DEFAULTS, **rec}).items()
                  if v is not None}  # fmt: skip
        # One name column is common: it serves as both names rather than refusing the row (for a
        # known project, only as the name it lacks: a Chinese sheet keeps its English name).
        for name, other in (("name_zh", "name_en"), ("name_en", "name_zh")):
            if name not in merged and other in merged:
                merged[name] = merged[other]
        given.append((row, merged))
        if "code" not in rec:
            continue  # refused as "no project code": not also every field it is missing
        props, whys = check_properties(schema, merged)
        # A cell refused above is left out of the record: not also "missing" (one reason a cell).
        left_out = set(refused.get(row.number, ()))
        quantity = _new_quantity_problem(row.number, rec, left_out) if old is None else None
        if quantity is not None or "quantity" in left_out:
            left_out |= {"quantity", "quantity_unit"}  # said once, by the quantity's own reason
        reasons = [
            RowProblem(row.number, f if isinstance(f := w.args.get("field"), str) else None,
                       f"no {f}" if w.code == "required_missing" else w.text)  # "no 责任单位" (at_columns)
            for w in whys
            if not (w.code == "required_missing" and w.args["field"] in left_out)
        ]  # fmt: skip
        if not reasons:
            if row.number not in refused:  # its checks (finish after start...) would read the cell left out
                found = check_project(twin, {k: v for k, v in props.items() if k != "features"}, ref.seq)
                reasons = _rule_problems(row.number, found)
            reasons += [RowProblem(row.number, "features", bad_refs[r]) for r in props.get("features", [])
                        if r in bad_refs]  # fmt: skip
        if quantity is not None:
            reasons.append(quantity)
        bad.extend(reasons)
        if fid:
            changes.append(Change(LAYER, "upsert", fid, Feature(fid, None, merged)))
    near = {
        "responsible_unit": f"with {new_units_option}" if new_units_option and not new_units else None,
        "category": f"with {new_categories_option}" if new_categories_option and not new_categories else None,
    }
    bad.extend(ambiguous + _lookalikes(given, existing, near, _categories(schema)))
    if bad:
        raise Refused(sheet.where(source), at_columns(sheet, _in_order(bad)))
    if notes is not None:
        # Accepted (the register does not require one), but the units' pages would name no one to ask.
        nobody = [row.number for row, props in given if "code" in props and not props.get("responsible_person")]
        if nobody:
            notes.append(
                f"no {sheet.label('responsible_person')} on {_rows(nobody)}: imported without a responsible person"
            )
        notes.extend(_starts_past_reports(twin, given, existing, ref))
        notes.extend(_fields_changed(sheet, given, existing))
    msg = message or fitted_message(f"Import the project register from {source} ({len(changes)} projects)")
    return twin.commit(changes, author=author, message=msg, parent=base, time=time)


def _new_quantity_problem(row: int, rec: Mapping[str, Any], refused: Collection[str]) -> RowProblem | None:
    """Why a new project's row gives no quantity the register can weigh it by: none, or none in a
    unit ("items" for 1,200 m² would put it in a group of its own in its area's weights); None when
    it gives both, or its quantity cell is refused already (that is its reason)."""
    if "quantity" in refused:
        return None
    q = rec.get("quantity")
    if q is None:
        why = "no quantity: a new project needs its quantity and unit (工程量 / quantity, 单位 / unit of quantity)"
        return RowProblem(row, "quantity", why)
    if "quantity_unit" not in rec:
        why = f"quantity {q:g} has no unit of quantity (单位 / unit of quantity: m², m, pots, lamps, items)"
        return RowProblem(row, "quantity", why)
    return None


def _register_names(
    records: Sequence[tuple[Row, dict[str, Any]]], existing: Mapping[str, Project]
) -> tuple[list[str], list[RowProblem]]:
    """A unit or person written as a register's name without its bracketed part, or (a unit) by that
    part (国网上海市电力公司, or State Grid Shanghai Electric Power, for 国网上海市电力公司 (State Grid
    Shanghai Electric Power)) is taken as the register's name, so the units table does not count it
    twice: the notes saying so, and that a known project moves to another unit; and the rows whose
    name could be several of the register's (refused: which is meant is not the importer's to guess)."""
    taken: dict[tuple[str, str, str], list[int]] = {}  # (field, as written, the register's) → rows
    bad: list[RowProblem] = []
    for f in NAME_FIELDS:
        names = {v for p in existing.values() if isinstance(v := p.properties.get(f), str)}
        for row, rec in records:
            v = rec.get(f)
            if not isinstance(v, str):
                continue
            meant = register_names(v, names, f)
            if len(meant) == 1:
                rec[f] = meant[0]
                taken.setdefault((f, v, meant[0]), []).append(row.number)
            elif meant:
                listed = " or ".join(map(quoted, meant))
                bad.append(RowProblem(row.number, f, f"{f} {quoted(v)} could be {listed} in the register: write which"))
    notes = [
        f"{f} {quoted(v)} taken as the register's {quoted(meant)} ({_rows(rows)})"
        for (f, v, meant), rows in taken.items()
    ]
    for row, rec in records:
        old = existing.get(rec.get("code", ""))
        unit = rec.get("responsible_unit")
        if old is not None and isinstance(unit, str) and unit != old.responsible_unit:
            notes.append(f"row {row.number}: {old.code} moves from {quoted(old.responsible_unit)} to {quoted(unit)}")
    return notes, bad


# The register's fields a sheet's row may change on a known project, as notes name them (the unit is
# said on its own: "moves from"; progress is the reports' to change, not the register's).
_NOTED_FIELDS = (
    "name_zh", "name_en", "category", "area", "responsible_person", "planned_start", "planned_finish",
    "quantity", "quantity_unit", "weight", "curve", "features",
)  # fmt: skip
_NOTED_MAX = 20  # rows of changes said one by one; the rest are counted


def _fields_changed(
    sheet: Sheet, given: Sequence[tuple[Row, Mapping[str, Any]]], existing: Mapping[str, Project]
) -> list[str]:
    """A note for each known project whose row changes what the register holds for it: which fields,
    from what to what, so a sheet that overwrites a project (a code given again on another unit's
    sheet, say) says everything it changes, not only the unit it moves to."""
    notes: list[str] = []
    for row, props in given:
        old = existing.get(props.get("code", ""))
        if old is None:
            continue
        was = old.properties
        changed = [
            f"{sheet.label(f)} {_shown(was.get(f))} → {_shown(props.get(f))}"
            for f in _NOTED_FIELDS
            if f in props and _shown(props.get(f)) != _shown(was.get(f))
        ]
        if changed:
            notes.append(f"row {row.number}: {old.code} changes {'; '.join(changed)}")
    if len(notes) > _NOTED_MAX:
        notes = [*notes[:_NOTED_MAX], f"and {len(notes) - _NOTED_MAX} more rows change a project the register holds"]
    return notes


def _shown(v: Any) -> str:
    """A register value as a note shows it: a list joined as the sheet writes it, a whole number
    without its ".0", a date as ISO text."""
    if v is None:
        return "—"
    if isinstance(v, list | tuple):
        return "; ".join(map(str, v)) or "—"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, date):
        return v.isoformat()
    return quoted(v) if isinstance(v, str) and not _ISO_DAY.fullmatch(v) else str(v)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _starts_past_reports(
    twin: TwinLike, given: Sequence[tuple[Row, Mapping[str, Any]]], existing: Mapping[str, Project], ref: Ref
) -> list[str]:
    """The notes on known projects whose planned start the sheet moves later than reports they
    already have: not refused (a plan may be rebased), but those reports now precede the planned
    start, before which a new report is refused (completion.reports.check_report)."""
    moved: dict[str, tuple[Row, Project, date]] = {}  # feature id -> the row, the project, its new start
    for row, props in given:
        old = existing.get(props.get("code", ""))
        start = _as_day(props.get("planned_start"))
        if old is not None and old.progress_date is not None and start is not None and start > old.planned_start:
            moved[old.fid] = (row, old, start)
    notes: list[tuple[int, str]] = []
    for fid, entries in _histories(twin, set(moved), ref).items():
        row, old, start = moved[fid]
        before = sorted(r.on for r in reports_from_history(entries) if r.on < start)
        if before:
            note = (
                f"row {row.number}: {old.code}'s planned start moves from {old.planned_start} to {start}, after "
                f"{len(before)} of its reports (the earliest dated {before[0]}): they stay as recorded, now "
                f"before the planned start, and a new report dated before {start} is refused"
            )
            notes.append((row.number, note))
    return [note for _, note in sorted(notes)]


def _as_day(v: Any) -> date | None:
    """A record's date as a date (the sheet's cells give ISO text), None when it is none."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        return None


def _rows(numbers: Sequence[int]) -> str:
    shown = ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
    return f"row {shown}" if len(numbers) == 1 else f"rows {shown}"


def _categories(schema: LayerSchema) -> set[str]:
    """The categories the register layer knows beyond its projects': its keys and their labels, and
    the one a new project gets without a category column."""
    spec = schema.field("category")
    labelled = {str(v) for labels in (spec.labels or () if spec is not None else ()) for v in labels}
    return labelled | {NEW_PROJECT_DEFAULTS["category"]}


def _lookalikes(
    given: Sequence[tuple[Row, Mapping[str, Any]]],
    existing: Mapping[str, Project],
    near: Mapping[str, str | None] | None = None,
    categories: Collection[str] = (),
) -> list[RowProblem]:
    """The rows naming a unit, person or category spelt otherwise than the register or an earlier
    row, or a new code like another (completion.register's rules, which every write path applies
    too), by row number: refused here with the sheet's rows and columns before anything is
    committed. ``near``, by field of NEW_VALUES: how the caller adds a new one, when a new one like
    the register's is refused (spelt_two_ways); ``categories``: those the layer knows by name."""
    in_file = {rec.get("code") for _, rec in given}
    register = [p.properties for p in existing.values() if p.code not in in_file]
    where = [(f"row {r.number}", rec) for r, rec in given]
    # The values the register holds, the file's own projects' too, are never new; nor a known category.
    holds = {f: {v for p in existing.values() if isinstance(v := p.properties.get(f), str)} for f in NEW_VALUES}
    holds["category"] |= set(categories)
    bad = [
        RowProblem(given[i][0].number, f, why)
        for f in (*NAME_FIELDS, "category")
        for i, why in spelt_two_ways(where, register, fields=(f,), near=(near or {}).get(f), holds=holds)
    ]
    new = [(r, rec["code"]) for r, rec in given if isinstance(rec.get("code"), str) and rec["code"] not in existing]
    like = codes_like_others([(f"row {r.number}", code) for r, code in new], existing)
    return bad + [RowProblem(new[i][0].number, "code", why) for i, why in like]


# ---------------------------------------------------------------------------- reports
@dataclass(frozen=True)
class SheetReport:
    row: int
    report: ProgressReport
    reporter: str | None
    shown: str | None = None  # the percent as the cell shows it rounded, when it holds more (HeldPercent)


def report_rows(sheet: Sheet) -> tuple[list[SheetReport], list[RowProblem]]:
    out: list[SheetReport] = []
    bad: list[RowProblem] = []
    for row in sheet.rows:
        reasons = _unreadable(row)
        if reasons:
            bad.extend(reasons)
            continue
        v = row.values
        code = v.get("code")
        code = str(int(code)) if isinstance(code, float) and code.is_integer() else (str(code) if code else "")
        if not code:
            reasons.append(RowProblem(row.number, "code", "no project code"))
        on: date | None = None
        pct: float | None = None
        if v.get("date") is None:
            reasons.append(RowProblem(row.number, "date", "no date"))
        else:
            try:
                on = _as_date(v["date"], sheet.epoch)
            except ValueError as e:
                reasons.append(RowProblem(row.number, "date", f"date: {e}"))
        if v.get("percent") is None:
            reasons.append(RowProblem(row.number, "percent", "no percent"))
        else:
            try:
                pct = _as_number(v["percent"], "percent")
            except ValueError as e:
                reasons.append(RowProblem(row.number, "percent", str(e)))
            else:
                if (why := _fraction_problem(v["percent"], pct)) is not None:
                    reasons.append(RowProblem(row.number, "percent", why))
        reporter, why = _reporter(v.get("reporter"))
        if why is not None:
            reasons.append(RowProblem(row.number, "reporter", why))
        if reasons or on is None or pct is None:
            bad.extend(reasons)
            continue
        note, reason = v.get("note"), v.get("reason")
        out.append(
            SheetReport(
                row.number,
                ProgressReport(code, pct, on, str(note) if note is not None else None,
                               str(reason) if reason is not None else None),
                reporter,
                v["percent"].shown if isinstance(v["percent"], HeldPercent) else None,
            )
        )  # fmt: skip
    return out, bad


def _reporter(cell: object) -> tuple[str | None, str | None]:
    """The author a reporter cell names, and why it cannot be one (None when it can). A cell often
    holds a name and a telephone number on two lines (Alt+Enter in Excel); an author is one line, so
    its lines (and runs of spaces, full-width ones too) become one space."""
    if cell is None:
        return None, None
    who = " ".join(str(cell).split())
    if not who:
        return None, None
    why = text_why("the reporter", who, False, text_limits().author, "VENUE_TWIN_AUTHOR_MAX_CHARS")
    return who, None if why is None else why.text


def _as_held(sr: SheetReport, reasons: list[RowProblem]) -> list[RowProblem]:
    """A report's reasons about its figure, saying what its cell shows when that is rounded (45.5%
    refused as lower than the last report's 46% is shown 46% in a '0%' cell)."""
    if sr.shown is None:
        return reasons
    held = f"{sr.report.percent:g}%"
    why = f" (the cell shows {sr.shown} but holds {held}; Excel rounds it for display)"
    return [p._replace(reason=p.reason + why) if p.field in (None, "percent") else p for p in reasons]


def _recorded_before_head(source: str, when: datetime, head: datetime, *, from_starts: bool) -> str:
    """Why a register cannot be recorded at `when`, in a coordinator's words: the twin's last commit
    is later, and what to do (sheets in the order of their starts, or, `when` being its earliest
    planned start's (`from_starts`), a twin whose history starts before them)."""
    day, last = when.astimezone(SHANGHAI).date(), head.astimezone(SHANGHAI)
    what = f"its earliest planned start, {day.isoformat()}" if from_starts else f"{day.isoformat()}"
    return (
        f"{source} would be recorded at {what}, before the twin's last commit "
        f"({last:%Y-%m-%d %H:%M} Shanghai time): a commit is never recorded before the one it follows. "
        "Import the sheets in the order of their earliest planned starts"
        + (
            f", or make the twin with its history starting before them (`venue-twin init --venue --since "
            f"{day.isoformat()}`, then import again)"
            if from_starts
            else ""
        )
    )


def register_recorded_time(sheet: Sheet) -> datetime | None:
    """When a register is recorded with original dates: the start of its earliest planned start
    day in Shanghai (never in the future), so the reports of a season imported after it, recorded
    at the end of their own days, all land after it; None when no row gives a planned start."""
    starts = [r["planned_start"] for _, r in register_records(sheet)[0] if "planned_start" in r]
    if not starts:
        return None
    first = datetime.combine(date.fromisoformat(min(starts)), time(0), tzinfo=SHANGHAI)
    return min(first.astimezone(UTC), datetime.now(UTC))


def recorded_time(on: date) -> datetime:
    """When a report made on ``on`` is recorded with original dates: the end of that working day
    in Shanghai (or now, for a report made today before that hour)."""
    t = datetime.combine(on, REPORT_HOUR, tzinfo=SHANGHAI).astimezone(UTC)
    return min(t, datetime.now(UTC))


@dataclass(frozen=True)
class Batch:
    """One commit to be: the reports of one unit on one date by one reporter."""

    on: date
    unit: str
    reporter: str
    items: list[tuple[SheetReport, Project]]


class Plan(NamedTuple):
    batches: list[Batch]
    base: str | None  # the commit the batches are written on
    skipped: int  # reports the twin already records (same project, date and figure)


@dataclass(frozen=True)
class ReportImport:
    """What an import of reports did: its commits (none when every report was already in the
    twin) and how many reports were skipped as already recorded."""

    commits: list[CommitInfo]
    skipped: int


# Up to this many projects' histories are read one by one; beyond, the layer's in one read.
HISTORY_READS = 50


def recorded_reports(twin: TwinLike, fids: set[str], ref: Ref) -> dict[str, dict[date, float]]:
    """The figures the twin records as of ``ref`` for these projects (by feature id): each report
    date's standing percent (the last report committed for that date)."""
    return {fid: {r.on: r.percent for r in reports_from_history(h)} for fid, h in _histories(twin, fids, ref).items()}


def _histories(twin: TwinLike, fids: set[str], ref: Ref) -> dict[str, list[HistoryEntry]]:
    """These projects' histories (by feature id) as of ``ref``: one read each, or the layer's in one."""
    if not fids or ref.commit is None:
        return {}
    if len(fids) <= HISTORY_READS:
        histories = {}
        for fid in fids:
            with contextlib.suppress(NotFound):
                histories[fid] = [h for h in twin.history(LAYER, fid) if h.commit.seq <= ref.seq]
        return histories
    return {fid: h for fid, h in twin.layer_history(LAYER, upto=ref).items() if fid in fids}


def _recorded_figure(recorded: Mapping[date, float], project: Project, on: date, last: date | None) -> float | None:
    """The figure the twin records for a project on a date up to its last report's (``last``, as
    the twin stood before the file), or None: a date after it, or one it has no report for."""
    if last is None or on > last:
        return None
    if on in recorded:
        return recorded[on]
    return project.percent_complete if on == project.progress_date else None


def plan_reports(
    twin: TwinLike,
    reports: Sequence[SheetReport],
    *,
    source: str,
    original_dates: bool,
    default_reporter: str,
    parent: str | None = HEAD,
) -> Plan:
    """Check every report against the register read once, as the file's earlier reports leave
    each project, and group them into commits (one per unit per date, in date order).

    A report the twin already records (the same project, date and figure: a sheet imported
    again, or a running sheet with new rows below) is skipped; another figure for a date the
    twin has passed is refused, naming what it records. Raises Refused naming every bad row;
    nothing is written here.
    """
    ref = twin.resolve(None if parent in (None, HEAD) else parent)
    base = ref.commit.id if ref.commit else None
    state: dict[str, Project] = {}
    if ref.commit is not None:
        for b in twin.features(LAYER, ref).features:
            p = Project.from_feature(b)
            state[p.code] = p
    head = ref.commit
    now = datetime.now(UTC)
    now_day = now.astimezone(SHANGHAI).date()
    bad: list[RowProblem] = []
    ordered = sorted(reports, key=lambda r: (r.report.on, r.row))
    # The twin's own reports are read only for the projects a row could repeat: dated on or
    # before the project's last report (a weekly sheet of new figures reads no history).
    last = {code: p.progress_date for code, p in state.items()}
    again = {
        state[sr.report.code].fid
        for sr in ordered
        if (day := last.get(sr.report.code)) is not None and sr.report.on <= day
    }
    recorded = recorded_reports(twin, again, ref)
    skipped = 0
    groups: dict[tuple[date, str, str], list[tuple[SheetReport, Project]]] = {}
    seen: dict[tuple[str, date], int] = {}
    for sr in ordered:
        r = sr.report
        project = state.get(r.code)
        if project is None:
            # the row's, not the code cell's: the code is written as a code, the register lacks it
            bad.append(RowProblem(sr.row, None, unknown_code(r.code, state)))
            continue
        if (r.code, r.on) in seen:
            why = f"a second report for {r.code} on {r.on.isoformat()} (also row {seen[r.code, r.on]})"
            bad.append(RowProblem(sr.row, None, why))
            continue
        seen[(r.code, r.on)] = sr.row
        when = recorded_time(r.on) if original_dates else now
        today = when.astimezone(SHANGHAI).date()
        had = _recorded_figure(recorded.get(project.fid, {}), project, r.on, last.get(r.code))
        if had is not None and math.isclose(had, r.percent, rel_tol=0, abs_tol=1e-9):
            skipped += 1
            continue
        if had is not None:
            # A date the twin has a figure for (its last report's or an earlier one) takes no other:
            # not "older than the last report", nor "lower" than it, but this very date's figure.
            how = "with a report dated today" if r.on < now_day else "as a single report (venue-twin progress report)"
            why = (
                f"the twin already records {had:g}% for {r.code} on {r.on.isoformat()} "
                f"(this row gives {r.percent:g}%); correct the figure {how}"
            )
            unreported = replace(project, percent_complete=None, progress_date=None)
            reasons = [RowProblem(sr.row, None, why), *_rule_problems(sr.row, check_report(unreported, r, today))]
        else:
            reasons = _rule_problems(sr.row, check_report(project, r, today))
        if original_dates and head is not None and when < head.time:
            why = (
                f"dated {r.on.isoformat()}, it would be recorded before the twin's last commit "
                f"({head.time.astimezone(SHANGHAI).date().isoformat()}); original dates only extend history"
            )
            reasons.append(RowProblem(sr.row, "date", why))
        if reasons:
            bad.extend(_as_held(sr, reasons))
            continue
        # A commit is its reporter's (the register's rule: a report's reporter is its commit's
        # author), so two reporters of one unit on one date make two commits.
        reporter = sr.reporter or default_reporter
        props = report_properties(project, r, reporter)
        groups.setdefault((r.on, project.responsible_unit, reporter), []).append((sr, project))
        state[r.code] = Project.from_feature({"id": project.fid, "properties": props})
    if bad:
        raise Refused(source, _in_order(bad), what="reports")
    batches = [Batch(on, unit, reporter, items) for (on, unit, reporter), items in sorted(groups.items())]
    return Plan(batches, base, skipped)


def commit_reports(
    twin: TwinLike,
    batches: Sequence[Batch],
    base: str | None,
    *,
    original_dates: bool,
    source: str,
    uploaded_by: str | None = None,
) -> list[CommitInfo]:
    """Write the planned batches, one commit each, in date order. Each is authored by its reporter;
    ``uploaded_by`` (who sent the file, over HTTP) is named in its message."""
    done: list[CommitInfo] = []
    parent = base
    for b in batches:
        changes = []
        for sr, project in b.items:
            props = report_properties(project, sr.report, b.reporter)
            changes.append(Change(LAYER, "modify", project.fid, Feature(project.fid, None, props)))
        parts = "; ".join(f"{sr.report.code} {sr.report.percent:g}%" for sr, _ in b.items[:20])
        more = f" and {len(b.items) - 20} more" if len(b.items) > 20 else ""
        via = f"from {source}, uploaded by {uploaded_by}" if uploaded_by else f"from {source}"
        message = fitted_message(f"Progress reported on {b.on.isoformat()} by {b.unit} ({via}): {parts}{more}")
        info = twin.commit(
            changes,
            author=b.reporter,
            message=message,
            parent=parent,
            time=recorded_time(b.on) if original_dates else None,
        )
        done.append(info)
        parent = info.id
    return done


def import_reports(
    twin: TwinLike,
    sheet: Sheet,
    *,
    source: str,
    default_reporter: str,
    original_dates: bool = False,
    parent: str | None = HEAD,
    uploaded_by: str | None = None,
) -> ReportImport:
    """Check every report of the sheet, then commit them (one commit per unit per report date);
    the reports the twin already records are skipped (see plan_reports)."""
    reports, bad = report_rows(sheet)
    if bad:
        # Rows that cannot be read are reported together with the rows that break the rules.
        try:
            plan_reports(twin, reports, source=source, original_dates=original_dates,
                         default_reporter=default_reporter, parent=parent)  # fmt: skip
        except Refused as e:
            bad += e.row_problems
        raise Refused(sheet.where(source), at_columns(sheet, _in_order(bad)), what="reports")
    if not reports:
        raise BadInput(f"{source}: no report rows")
    try:
        plan = plan_reports(
            twin, reports, source=source, original_dates=original_dates, default_reporter=default_reporter,
            parent=parent,
        )  # fmt: skip
    except Refused as e:
        raise Refused(sheet.where(source), at_columns(sheet, e.row_problems), what="reports") from None
    done = commit_reports(
        twin, plan.batches, plan.base, original_dates=original_dates, source=source, uploaded_by=uploaded_by
    )
    return ReportImport(done, plan.skipped)


def first_data(twin: TwinLike, ref_seq: int, on: date) -> None:
    """Raise NotFound when a read on ``on`` falls before the twin's first commit (an empty answer
    would read as "0 projects" rather than "no data yet")."""
    why = no_data(twin, ref_seq, on.isoformat())
    if why is not None:
        raise NotFound(
            f"{why.text}. (a season imported without --original-dates is recorded on the day of the import)",
            code="no_data_then",
            values=why.values,
        )


# ---------------------------------------------------------------------------- exports
REGISTER_COLUMNS = (
    "code", "name_zh", "name_en", "category", "area", "responsible_unit", "responsible_person", "planned_start",
    "planned_finish", "quantity", "quantity_unit", "weight", "curve", "features", "percent_complete",
    "progress_date", "progress_reporter",
)  # fmt: skip


def register_row(p: Project) -> dict[str, Any]:
    """A project's record as a flat row whose headers the importer reads back (REGISTER_COLUMNS)."""
    return {
        "code": p.code, "name_zh": p.name_zh, "name_en": p.name_en, "category": p.category, "area": p.area,
        "responsible_unit": p.responsible_unit, "responsible_person": p.responsible_person,
        "planned_start": p.planned_start, "planned_finish": p.planned_finish, "quantity": p.quantity,
        "quantity_unit": p.quantity_unit, "weight": p.weight, "curve": p.curve, "features": ";".join(p.features),
        "percent_complete": p.percent_complete, "progress_date": p.progress_date,
        "progress_reporter": p.progress_reporter,
    }  # fmt: skip


def csv_cell(v: Any) -> Any:
    """A value as every CSV the twin writes has it (downloads, exports, the command line's --csv):
    nothing as an empty cell, booleans as true/false (as JSON has them), lists joined with ";"."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ";".join(map(str, v))
    return v


def table_bytes(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    sheet: str = "Sheet1",
    dates: Collection[str] = (),
) -> bytes:
    """Rows as .xlsx (openpyxl) or as CSV in UTF-8 with a byte-order mark, which Excel needs to
    open Chinese text as UTF-8 rather than the system's code page. In .xlsx a date is an Excel
    date (sorts and filters as one), also the ISO text ('2026-08-02') of the ``dates`` columns;
    in CSV every date is ISO text.

    Either way a text is never a formula: in .xlsx every text is a text cell (``_text_cell``), in
    CSV a text Excel would run as one is written behind a quote (``csv_safe``), which the importer
    takes off again (``csv_unquoted``), so the register's CSV imports back as it was."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        ws = book.create_sheet(sheet[:31])
        ws.append([_text_cell(ws, c) for c in columns])
        for row in rows:
            ws.append([_text_cell(ws, _xlsx_cell(row.get(k), k in dates)) for k in columns])
        buf = io.BytesIO()
        book.save(buf)
        return buf.getvalue()
    if fmt != "csv":
        raise BadInput.not_one_of("format ", fmt, ("csv", "xlsx"))
    text = io.StringIO()
    write_csv(text, rows, columns)
    return text.getvalue().encode("utf-8")


def write_csv(
    out: TextIO,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    for_excel: bool = True,
    lineterminator: str = "\r\n",
) -> None:
    """The one CSV writer (the API's and the exports' through ``table_bytes``, the command line's
    --csv): each cell as ``csv_cell`` has it. For Excel, a byte-order mark first (Excel reads UTF-8,
    Chinese text, only after one) and a text that would run as a formula behind a quote (``csv_safe``);
    without (the command line's pipe to another program) the text as the twin has it."""
    if for_excel:
        out.write("\ufeff")
    safe: Callable[[Any], Any] = csv_safe if for_excel else (lambda v: v)
    w = csv.writer(out, lineterminator=lineterminator)
    w.writerow([safe(c) for c in columns])
    for row in rows:
        w.writerow([safe(csv_cell(row.get(k))) for k in columns])


def _text_cell(ws: Any, v: Any) -> Any:
    """A text as a text cell of a write-only sheet: openpyxl takes any text that starts with "="
    for a formula, so a project named =HYPERLINK(...) would be a live link in Excel (and read back
    as a formula with no saved result); other values as they are."""
    if not isinstance(v, str):
        return v
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=v)
    cell.data_type = "s"
    return cell


# What makes Excel (and LibreOffice, Google Sheets) read a CSV cell as a formula: its first
# character (OWASP, "CSV Injection"). Such a text is written behind a single quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(v: Any) -> Any:
    """A CSV cell for Excel: a text that would start a formula ("=HYPERLINK(...)", "+cmd", "-2+3",
    "@SUM") behind a single quote, which Excel shows as text; numbers as they are (-5 stays a
    number). A text already starting with quotes before such a character gets one more, so
    ``csv_unquoted`` gives every text back exactly."""
    if isinstance(v, str) and v.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + v
    return v


def csv_unquoted(text: str) -> str:
    """A CSV cell as ``csv_safe`` had it: the quote it put before a formula's first character off."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _xlsx_cell(v: Any, is_date: bool = False) -> Any:
    if is_date and isinstance(v, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(v)
    if isinstance(v, list | tuple):
        return ";".join(map(str, v))
    if isinstance(v, date | int | float | str) or v is None:
        return v
    return str(v)


def format_of(path: str | Path, fmt: str | None = None) -> str:
    f = (fmt or Path(path).suffix.lstrip(".")).lower()
    if f not in ("csv", "xlsx"):
        raise BadInput(f"{path}: write .xlsx or .csv (or say --format)")
    return f
