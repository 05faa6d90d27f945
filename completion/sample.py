"""A sample register workbook: a simulated season to try the spreadsheet intake with, or the blank
template a coordinator hands the units.

`venue-twin projects sample season.xlsx` writes what the intake reads (completion.intake): a register
sheet (项目清单) and a report sheet (进度填报) with the Chinese headers a coordinator's workbook has,
each project named in Chinese (项目名称) and in English (英文名称, for the pages in English).
The season is completion.season's simulator (the one the forecasting benchmark replays), so it holds
what a real season holds — stoppages, crews that speed up near the deadline, reporters who round up,
a share of projects that finish after opening day — with the venue's responsible units and their
liaisons (layers.projects_demo) in place of the simulator's numbered ones. The same seed always
gives the same workbook. Reports dated after today are left out: the intake refuses them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from completion.season import SeasonAssumptions, simulate
from completion.snapshot import today_local
from layers.catalogue import PROJECT_AREA_LABELS, PROJECT_CATEGORY_LABELS, QUANTITY_UNIT_LABELS
from layers.projects_demo import LIAISONS, UNIT_OF_LIAISON
from twin.core import TwinLike

REGISTER_SHEET, REPORT_SHEET = "项目清单", "进度填报"
REGISTER_HEADERS = (
    "项目编号", "项目名称", "英文名称", "类别", "片区", "责任单位", "责任人", "计划开始", "计划完成", "工程量", "单位", "权重",
)  # fmt: skip
REPORT_HEADERS = ("项目编号", "日期", "完成百分比", "备注", "原因", "填报人")


def venue_units() -> list[tuple[str, str]]:
    """The venue's responsible units, each with the liaison who reports for it (the venue operator
    reports through two liaisons in the bundled register; here through its first)."""
    units: dict[str, str] = {}
    for key, unit in UNIT_OF_LIAISON.items():
        units.setdefault(unit, LIAISONS[key])
    return list(units.items())


_UNITS = venue_units()
# The simulator's categories that the register knows under another key: its power works are the
# venue's lighting, its signage the wayfinding (so both read in Chinese on the pages).
_CATEGORY = {"power": "lighting", "signage": "wayfinding"}
# The simulator deals areas round the categories (they do not change how a project runs); a register
# puts a road on the roads and a renovation in the halls, so a category that says where it is takes
# that area (and, in a twin, a feature of that layer). What the rest are measured in, as a unit
# reports them: the simulator's quantity is the project's length in days, scaled to a plausible
# amount of that unit (a road of 20-60 days, 400-1,200 m).
_AREA_OF_CATEGORY = {"venue_renovation": "halls", "support_road": "roads", "landscaping": "landscaping"}
_MEASURE = {
    "venue_renovation": ("m²", 40),
    "support_road": ("m", 20),
    "landscaping": ("m²", 50),
    "city_appearance": ("m²", 30),
    "lighting": ("lamps", 2),
    "wayfinding": ("items", 1),
    "traffic_facilities": ("items", 1),
}
_ZH = {value: zh for value, zh, _ in (*PROJECT_AREA_LABELS, *PROJECT_CATEGORY_LABELS, *QUANTITY_UNIT_LABELS)}
_EN = {value: en for value, _, en in PROJECT_CATEGORY_LABELS}


def sample_workbook(
    projects: int = 80,
    seed: int = 1,
    *,
    blank: bool = False,
    today: date | None = None,
    features: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """The workbook as .xlsx bytes: a simulated season of ``projects`` projects (``seed``), or with
    ``blank`` the two sheets' headers alone.

    ``features``: by area (south_plaza, halls, roads, landscaping), references ("layer/feature_id")
    of a twin's venue features; each project is then tied to one of its area's, in turn, in a
    关联要素 column, so the completion map places it (see area_features)."""
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    register: Worksheet = book.active  # type: ignore[assignment]
    register.title = REGISTER_SHEET
    reports = book.create_sheet(REPORT_SHEET)
    today = today or today_local()  # the intake's today (Shanghai's): a report after it is refused
    rows, report_rows = ([], []) if blank else _season_rows(projects, seed, today)
    headers: tuple[str, ...] = REGISTER_HEADERS
    if features and not blank:
        headers = (*REGISTER_HEADERS, FEATURES_HEADER)
        taken: dict[str, int] = {}
        for row in rows:
            area = _AREA_OF_LABEL[row[4]]
            refs = features.get(area) or ()
            k = taken[area] = taken.get(area, -1) + 1
            row.append(refs[k % len(refs)] if refs else None)
    _fill(register, headers, rows, date_columns=(7, 8))
    _fill(reports, REPORT_HEADERS, report_rows, date_columns=(1,), percent_columns=(2,))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


FEATURES_HEADER = "关联要素"
_AREA_OF_LABEL = {zh: value for value, zh, _ in PROJECT_AREA_LABELS}


def area_features(twin: TwinLike) -> dict[str, list[str]]:
    """By project area, the references of the twin's features in the venue layer of that name
    (south_plaza, halls, roads, landscaping), in id order: what sample_workbook ties projects to."""
    layers = {schema.name for schema in twin.layers()}
    return {
        area: [f"{area}/{fid}" for fid in sorted(twin.feature_ids(area))]
        for area, _, _ in PROJECT_AREA_LABELS
        if area in layers
    }


def _season_rows(projects: int, seed: int, today: date) -> tuple[list[list[Any]], list[list[Any]]]:
    season = simulate(seed, SeasonAssumptions(projects=projects, units=len(_UNITS)))
    numbered = sorted({p.responsible_unit for p in season.projects})
    unit_of = {u: _UNITS[i % len(_UNITS)] for i, u in enumerate(numbered)}
    register: list[list[Any]] = []
    reports: list[list[Any]] = []
    for n, p in enumerate(season.projects, start=1):
        unit, liaison = unit_of[p.responsible_unit]
        key = _CATEGORY.get(p.category, p.category)
        category = _ZH.get(key, key)  # read back as its key (the register's label for it)
        # both names, as a register gives them (the English one for the pages in English)
        name_zh, name_en = f"{category}{n}号", f"{_EN.get(key, key.replace('_', ' ').capitalize())} No. {n}"
        area = _AREA_OF_CATEGORY.get(key, p.area)
        measure, per_day = _MEASURE.get(key, (p.quantity_unit, 1))
        register.append([
            p.code, name_zh, name_en, category, _ZH[area], unit, liaison, p.planned_start, p.planned_finish,
            round(p.quantity * per_day), _ZH.get(measure, measure), p.weight,
        ])  # fmt: skip
        for r in season.reports.get(p.code, []):
            if r.on <= today:
                # as typed into Excel, 45% (a plain 1 is refused: 1 % or, as a fraction, 100 %?)
                reports.append([p.code, r.on, r.percent / 100, r.note, r.reason, liaison])
    reports.sort(key=lambda row: (row[1], row[0]))  # as a coordinator's running sheet: by date
    return register, reports


def _fill(
    ws: Any,
    headers: Sequence[str],
    rows: list[list[Any]],
    date_columns: Sequence[int],
    percent_columns: Sequence[int] = (),
) -> None:
    """Headers in bold and frozen, dates shown as dates, percents as percents, columns wide enough to read."""
    from openpyxl.styles import Font

    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append(row)
    for k in date_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=k + 1, max_col=k + 1):
            cell.number_format = "yyyy-mm-dd"
    for k in percent_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=k + 1, max_col=k + 1):
            cell.number_format = "0%"
    for k, header in enumerate(headers):
        width = max([len(str(header)) * 2, *(len(str(r[k])) + 2 for r in rows if r[k] is not None)])
        ws.column_dimensions[ws.cell(row=1, column=k + 1).column_letter].width = min(max(width, 10), 48)
