"""The accountability lists as a coordinator opens them in Excel (/completion/units, /missing and
/late with f=xlsx): what the pages show, in the reader's language.

Each list is a title (what, of which date), a line of the snapshot (the checkpoint, the days to
opening day, the twin's version, as the units page's first line says them), and the pages'
column headings over Excel values: dates as dates, percents as numbers shown as percents (rounded
as the pages round them: never to an end not reached), units and people in the page's half of
their bilingual names. One writer makes the three (completion.workbook.table_workbook); the
machine-readable tables stay the CSV and the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from completion.percent import percent_round
from completion.workbook import DATE, PERCENT, POINTS, WHOLE, WHOLE_PERCENT, SheetColumn, table_workbook
from web import i18n

if TYPE_CHECKING:
    from completion.evidence import Evidence

Row = Mapping[str, Any]
Spec = tuple[SheetColumn, Callable[[Row], Any]]


def units_workbook(lang: str, doc: Mapping[str, Any]) -> bytes:
    """/completion/units' document (``doc``: the snapshot's meta, ``by`` and ``units``) as the units
    page's table; the page's "overdue / due" as two columns of numbers. On opening day or after it,
    as the page: the count is of the projects that missed opening day ("Missed opening"), and their
    codes those still not done, then those done since, each with the day it was reported done."""
    t = _labeller(lang)
    local = _local(lang)
    first: list[Spec] = [(SheetColumn(t("unit")), lambda u: local(u["unit"]))]
    if doc["by"] == "person":
        person = (SheetColumn(t("person")), lambda u: local(u["person"]) if u["person"] else t("units_nobody_named"))
        first = [person, *first]
    codes = t("list_separator").join
    late: Spec = (SheetColumn(t("units_late"), WHOLE), lambda u: u["late"])
    late_codes: Spec = (SheetColumn(t("units_late_projects")), lambda u: codes(u["late_projects"]))
    if doc["opening_reached"]:  # the page's rule (completion_units.html): the projects that missed it

        def missed_codes(u: Row) -> str:
            done = [f"{d['code']} {t('done_since_on', date=d['reported_done'])}" for d in u["done_since_opening"]]
            return codes([*u["late_projects"], *done])

        # (the page's headings without the zero-width space that lets them wrap there)
        late = (SheetColumn(t("units_missed_head").replace("\u200b", ""), WHOLE), lambda u: u["missed_opening"])
        late_codes = (SheetColumn(t("units_missed_projects_head").replace("\u200b", "")), missed_codes)
    specs: list[Spec] = [
        *first,
        (SheetColumn(t("units_projects"), WHOLE), lambda u: u["projects"]),
        (SheetColumn(t("excel_reports_overdue"), WHOLE), lambda u: u["reports_overdue"]),
        (SheetColumn(t("excel_reports_due"), WHOLE), lambda u: u["reports_due"]),
        late,
        (SheetColumn(t("status_at_risk"), WHOLE), lambda u: u["at_risk"]),
        (SheetColumn(t("status_done"), WHOLE), lambda u: u["done"]),
        (SheetColumn(t("units_planned"), PERCENT), lambda u: _percent(u["planned_percent"])),
        (SheetColumn(t("units_actual"), PERCENT), lambda u: _percent(u["actual_percent"])),
        (SheetColumn(t("units_variance"), POINTS), lambda u: u["variance_points"]),
        (SheetColumn(t("units_overdue_projects")), lambda u: codes(u["overdue_projects"])),
        late_codes,
        # the page lists them under the count, as the late and overdue ones have their columns
        (SheetColumn(t("at_risk_projects")), lambda u: codes(u["at_risk_projects"])),
    ]
    title = t(f"units_title_{doc['by']}", date=doc["date"])
    return _workbook(lang, title, t("units_sheet_" + doc["by"]), doc, specs, doc["units"])


def missing_workbook(lang: str, meta: Mapping[str, Any], rows: Sequence[Row]) -> bytes:
    """The reports missing (completion.accountability.missing_reports) as the briefing lists them,
    with the checkpoints owed and each project's progress and status."""
    t = _labeller(lang)
    specs: list[Spec] = [
        *_project_columns(lang),
        (SheetColumn(t("brief_last_report"), DATE), lambda r: _day(r["last_report_date"]) or t("brief_never")),
        (SheetColumn(t("brief_days_since"), WHOLE), lambda r: r["days_since"]),
        (SheetColumn(t("excel_report_due"), DATE), lambda r: _day(r["report_due"])),
        (SheetColumn(t("excel_due_since"), DATE), lambda r: _day(r["due_since"])),
        (SheetColumn(t("progress"), PERCENT), lambda r: _percent(r["percent"])),
        (SheetColumn(t("status")), lambda r: i18n.status_label(lang, r["status"])),
    ]
    what = t("reports_missing")
    return _workbook(lang, t("excel_title", what=what, date=meta["date"]), what, meta, specs, rows)


def late_list_workbook(
    lang: str, meta: Mapping[str, Any], rows: Sequence[Row], flags: Mapping[str, Evidence] | None = None
) -> bytes:
    """The late projects (completion.snapshot.late_row) as the briefing lists them: done against
    planned, days late, the planned and forecast finish, the chance of missing opening day (a
    number, none once it is missed: the page then says so in place of a chance, here the column
    beside, TRUE), the last report and whether its figure is stale (TRUE or FALSE: a filter of two
    values in any Excel, as the CSV's true/false), and why the imagery disagrees with the report,
    worded as the pages word it (i18n.evidence_flag) from ``flags`` (code -> the imagery's flag,
    completion.evidence.snapshot_flags): the projects listed after the late ones, not late by their
    reports, are listed for it."""
    t = _labeller(lang)
    flagged = flags or {}

    def chance(r: Row) -> Any:
        return None if r["missed_opening"] else r["p_late"]

    specs: list[Spec] = [
        *_project_columns(lang),
        (SheetColumn(t("actual"), PERCENT), lambda r: _percent(r["percent"])),
        (SheetColumn(t("planned"), PERCENT), lambda r: _percent(r["planned_percent"])),
        (SheetColumn(t("brief_days_late"), WHOLE), lambda r: _days(r["days_late"])),
        (SheetColumn(t("planned_finish"), DATE), lambda r: _day(r["planned_finish"])),
        (SheetColumn(t("forecast"), DATE), lambda r: _day(r["forecast_finish"])),
        (SheetColumn(t("brief_p_late"), WHOLE_PERCENT), chance),
        (SheetColumn(t("missed_opening_kpi")), lambda r: bool(r["missed_opening"])),
        (SheetColumn(t("brief_last_report"), DATE), lambda r: _day(r["last_report_date"]) or t("brief_never")),
        (SheetColumn(t("excel_stale")), lambda r: bool(r["stale"])),
        (
            SheetColumn(t("imagery_disagrees")),
            lambda r: i18n.evidence_flag(lang, flagged.get(r["code"])) or None,
        ),
    ]
    what = t("late_projects")
    return _workbook(lang, t("excel_title", what=what, date=meta["date"]), what, meta, specs, rows)


def snapshot_line(lang: str, meta: Mapping[str, Any]) -> str:
    """The snapshot a list is of, as the units page's first line says it (page_dated.html's
    date_line), after its date: "截至 2026-10-20 · T-16 · 距开幕还有 16 天（开幕日 2026-11-05） · 孪生版本 …"."""
    t = _labeller(lang)
    parts = [t("as_of", date=meta["date"])]
    if meta.get("checkpoint"):
        parts.append(meta["checkpoint"])
    days = meta["days_to_opening"]
    if days > 0:
        parts.append(t("units_days_left", n=days, date=meta["opening_day"]))
    else:
        parts.append(t("opening_today") if days == 0 else t("opening_passed", date=meta["opening_day"]))
    version = meta.get("version")
    parts.append(t("units_version", version=version[:12]) if version else t("units_empty_twin"))
    return " · ".join(parts)


def _workbook(
    lang: str, title: str, sheet: str, meta: Mapping[str, Any], specs: Sequence[Spec], rows: Sequence[Row]
) -> bytes:
    return table_workbook(
        title,
        snapshot_line(lang, meta),
        [c for c, _ in specs],
        ([value(r) for _, value in specs] for r in rows),
        sheet=sheet,
        pages=i18n.label(lang, "excel_pages", page="&P", pages="&N"),
    )


def _project_columns(lang: str) -> list[Spec]:
    """A listed project's code, name (the page's language's, else the other), unit and person."""
    t, local = _labeller(lang), _local(lang)
    first, other = ("name_en", "name_zh") if lang == "en" else ("name_zh", "name_en")
    return [
        (SheetColumn(t("brief_code")), lambda r: r["code"]),
        (SheetColumn(t("project")), lambda r: r.get(first) or r.get(other) or None),
        (SheetColumn(t("unit")), lambda r: local(r["responsible_unit"]) or None),
        (SheetColumn(t("person")), lambda r: local(r["responsible_person"]) or None),
    ]


def _labeller(lang: str) -> Callable[..., str]:
    return lambda key, **values: i18n.label(lang, key, **values)


def _local(lang: str) -> Callable[[str | None], str]:
    return lambda text: i18n.in_language(lang, text)


def _percent(percent: float | None) -> float | None:
    """A percent (0-100) as the fraction Excel shows as one, rounded as the pages show it (one
    place, never to an end not reached: 99.96 shows 99.9%)."""
    return None if percent is None else round(percent_round(percent, 1) / 100.0, 6)  # 0.817, not 0.8170000000000001


def _days(days: float | None) -> int | None:
    """Whole days, half up, as the pages and the briefing round them (i18n.fmt_days)."""
    return None if days is None else math.floor(days + 0.5)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
