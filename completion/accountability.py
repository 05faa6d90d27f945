"""Accountability: is each project's figure fresh, and who answers for the late and the unreported.

Reports are due at every checkpoint (every 10 days back from opening day, see
``completion.schedule``). On a date D the **due checkpoint** is the last checkpoint strictly
before D: its day has passed, so its report should be in. A project owes that report when it was
planned to have started before it (planned start before the checkpoint: a project starting on a
checkpoint day has had no time to make progress to report by then) and is not done (its figure on D
is below 100%). It is **overdue** when its latest report dated on or before D is older
than the due checkpoint, or it has never reported; its figures are then **stale**: they describe
the project as it was more than a checkpoint ago. Stale is not late: a late project is behind its
plan by its own (possibly fresh) report; a stale figure is one nobody has brought up to date. An
overdue project's reports are **due since** the first checkpoint it missed: the first after its
planned start (it owed every one from then) that is after its last report, if it has one.

Per responsible unit (责任单位) and per responsible person (责任人) the table counts the reports
overdue, the late (``behind``) projects and those at risk, and rolls up weighted completion as
``completion.rollup`` does, with the projects' overall weights. A person is a person within a
unit: two units' 张伟 are two rows, and a unit's projects that name nobody are a row of that unit
(person None, shown as "nobody named"). Units with late projects come first, then those with
overdue reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from completion.percent import json_percent
from completion.rollup import done_since_opening, missed_opening_list, roll_up
from completion.settings import CompletionSettings
from completion.status import ProjectStatus

UNIT_GROUPINGS = ("unit", "person")
NO_PERSON = "—"  # in a person row's key, the projects whose register entry names no responsible person


def due_checkpoint(on: date, opening: date, every: int) -> date:
    """The last checkpoint (a whole number of ``every`` days from opening day) strictly before ``on``."""
    k = (on - opening).days % every or every
    return on - timedelta(days=k)


def checkpoint_from(day: date, opening: date, every: int) -> date:
    """The first checkpoint (a whole number of ``every`` days from opening day) on or after ``day``."""
    return opening - timedelta(days=every * ((opening - day).days // every))


@dataclass(frozen=True)
class ReportState:
    """How fresh a project's figure is on a date."""

    last_report: date | None  # the date of the latest report dated on or before the date read
    age_days: int | None  # days from that report to the date read; None without a report
    due: date | None  # the checkpoint whose report the project owes; None when it owes none
    overdue: bool  # owes a report and has none since ``due``
    # overdue: the first checkpoint whose report is missing (after the planned start, after the
    # last report); None when not overdue
    since: date | None = None

    @property
    def stale(self) -> bool:
        return self.overdue

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_report_date": self.last_report.isoformat() if self.last_report else None,
            "report_age_days": self.age_days,
            "report_due": self.due.isoformat() if self.due else None,
            "report_due_since": self.since.isoformat() if self.since else None,
            "stale": self.stale,
        }


def report_state(s: ProjectStatus, settings: CompletionSettings, opening: date) -> ReportState:
    """The freshness of a project's status (see the module docstring), with the checkpoints counted
    back from ``opening``: its snapshot's opening day (completion.expo)."""
    checkpoint = due_checkpoint(s.on, opening, settings.checkpoint_days)
    last = s.last_report.on if s.last_report else None
    age = (s.on - last).days if last else None
    # a project owes its first report at the first checkpoint after its planned start: one starting
    # on a checkpoint day has had no time to make progress to report by that day
    owes = s.percent < 100.0 and s.project.planned_start < checkpoint
    if not owes:
        return ReportState(last, age, None, False)
    if last is not None and last >= checkpoint:
        return ReportState(last, age, checkpoint, False)
    every, start = settings.checkpoint_days, s.project.planned_start
    first = checkpoint_from((start if last is None else max(start, last)) + timedelta(days=1), opening, every)
    return ReportState(last, age, checkpoint, True, first)


def report_states(
    statuses: Iterable[ProjectStatus], settings: CompletionSettings, opening: date
) -> dict[str, ReportState]:
    return {s.project.code: report_state(s, settings, opening) for s in statuses}


@dataclass(frozen=True)
class UnitRow:
    """One responsible unit's projects on a date, or one responsible person's within a unit."""

    by: str  # unit or person
    key: str  # the unit, or "unit / person" (the person NO_PERSON for the unit's projects naming nobody)
    unit: str
    person: str | None  # the person of a person row; None for a unit row and for the projects naming nobody
    projects: int
    reports_due: int
    reports_overdue: int
    late: int  # projects behind schedule
    at_risk: int  # projects at risk
    done: int
    weight: float  # share of the overall weight
    planned: float  # weighted planned percent
    actual: float  # weighted percent complete
    overdue_codes: tuple[str, ...]
    late_codes: tuple[str, ...]
    at_risk_codes: tuple[str, ...] = ()
    # read on opening day or after it (None before it): the projects that missed opening day
    # (completion.rollup.missed_opening_list: those still not done, then those done since), and of
    # them those reported done since, each with the day it was reported done
    missed_codes: tuple[str, ...] | None = None
    done_since: tuple[tuple[str, date], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "key": self.key,
            "unit": self.unit,
            "person": self.person,
            "projects": self.projects,
            "reports_due": self.reports_due,
            "reports_overdue": self.reports_overdue,
            "late": self.late,
            "at_risk": self.at_risk,
            "done": self.done,
            "weight": round(self.weight, 6),
            "planned_percent": json_percent(self.planned),
            "actual_percent": json_percent(self.actual),
            "variance_points": round(self.actual - self.planned, 2),
            "overdue_projects": list(self.overdue_codes),
            "late_projects": list(self.late_codes),
            "at_risk_projects": list(self.at_risk_codes),
            # on opening day or after it: the home page's "missed opening day", traced to each unit
            "missed_opening": None if self.missed_codes is None else len(self.missed_codes),
            "missed_opening_projects": None if self.missed_codes is None else list(self.missed_codes),
            "done_since_opening": [{"code": c, "reported_done": d.isoformat()} for c, d in self.done_since],
        }


UNIT_COLUMNS = (
    "by", "key", "unit", "person", "projects", "reports_due", "reports_overdue", "late", "at_risk", "done", "weight",
    "planned_percent", "actual_percent", "variance_points", "overdue_projects", "late_projects", "at_risk_projects",
    "missed_opening", "missed_opening_projects", "done_since_opening",
)  # fmt: skip


def unit_row(row: UnitRow) -> dict[str, Any]:
    """A flat row (for CSV) with UNIT_COLUMNS, the JSON's keys: lists joined with ";" (a project done
    since opening day as its code and the day it was reported done, "SP-07 2026-12-08")."""
    d = row.to_dict()
    d["done_since_opening"] = [f"{x['code']} {x['reported_done']}" for x in d["done_since_opening"]]
    return {k: (";".join(d[k]) if isinstance(d[k], list) else d[k]) for k in UNIT_COLUMNS}


def _group(s: ProjectStatus, by: str) -> tuple[str, str | None]:
    """A project's row: its unit, and (by person) its person within that unit (None: nobody named)."""
    unit = s.project.responsible_unit
    if by == "unit":
        return unit, None
    if by == "person":
        return unit, (s.project.responsible_person or "").strip() or None
    raise ValueError(f"cannot group by {by!r}: one of {', '.join(UNIT_GROUPINGS)}")


def unit_key(by: str, unit: str, person: str | None) -> str:
    """A row's key: the unit, or by person "unit / person" (a person is a person within a unit)."""
    return unit if by == "unit" else f"{unit} / {person or NO_PERSON}"


def unit_table(
    statuses: Sequence[ProjectStatus],
    weights: Mapping[str, float],
    states: Mapping[str, ReportState],
    by: str = "unit",
    opening: date | None = None,
) -> list[UnitRow]:
    """One row per unit (or per person within a unit): late projects first, then overdue reports,
    then by unit and person. With ``opening`` (the snapshot's opening day), read on it or after it,
    each row names its projects that missed opening day and those of them done since."""
    groups: dict[tuple[str, str | None], list[ProjectStatus]] = defaultdict(list)
    for s in statuses:
        groups[_group(s, by)].append(s)
    rows = []
    for (unit, person), members in groups.items():
        key = unit_key(by, unit, person)
        g = roll_up(members, dict(weights), by, key)
        overdue = tuple(s.project.code for s in members if states[s.project.code].overdue)
        late = tuple(s.project.code for s in members if s.status == "behind")
        at_risk = tuple(s.project.code for s in members if s.status == "at_risk")
        missed: tuple[str, ...] | None = None
        done_since: tuple[tuple[str, date], ...] = ()
        if opening is not None and members[0].on >= opening:
            missed = tuple(s.project.code for s in missed_opening_list(members, opening))
            done_since = tuple((s.project.code, s.done_on) for s in done_since_opening(members, opening) if s.done_on)
        rows.append(
            UnitRow(
                by=by,
                key=key,
                unit=unit,
                person=person,
                projects=len(members),
                reports_due=sum(1 for s in members if states[s.project.code].due is not None),
                reports_overdue=len(overdue),
                late=len(late),
                at_risk=len(at_risk),
                done=g.counts.get("done", 0),
                weight=g.weight,
                planned=g.planned,
                actual=g.actual,
                overdue_codes=overdue,
                late_codes=late,
                at_risk_codes=at_risk,
                missed_codes=missed,
                done_since=done_since,
            )
        )
    # the projects naming nobody after the unit's named people
    return sorted(rows, key=lambda r: (-r.late, -r.reports_overdue, r.unit, r.person is None, r.person or ""))


def codes_by_unit(
    statuses: Sequence[ProjectStatus], codes: Container[str], by: str = "unit"
) -> dict[str, tuple[str, ...]]:
    """Each unit's (or person's, as unit_table groups them) projects among `codes`, in the
    register's order; a unit with none of them is not there. (The units page lists each unit's
    projects the imagery flags this way, linked to their evidence.)"""
    grouped: dict[str, list[str]] = defaultdict(list)
    for s in statuses:
        if s.project.code in codes:
            grouped[unit_key(by, *_group(s, by))].append(s.project.code)
    return {k: tuple(v) for k, v in grouped.items()}


MISSING_COLUMNS = (
    "code", "name_zh", "name_en", "responsible_unit", "responsible_person", "last_report_date", "days_since",
    "report_due", "due_since", "percent", "status",
)  # fmt: skip


def missing_reports(statuses: Sequence[ProjectStatus], states: Mapping[str, ReportState]) -> list[dict[str, Any]]:
    """The coordinator's list of reports missing: every overdue project, never-reported and oldest first."""
    rows = []
    for s in statuses:
        st = states[s.project.code]
        if not st.overdue:
            continue
        p = s.project
        rows.append(
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "responsible_unit": p.responsible_unit,
                "responsible_person": p.responsible_person,
                "last_report_date": st.last_report.isoformat() if st.last_report else None,
                "days_since": st.age_days,
                "report_due": st.due.isoformat() if st.due else None,
                # the first checkpoint it missed: its reports have been owed since then
                "due_since": st.since.isoformat() if st.since else None,
                "percent": s.percent,
                "status": s.status,
            }
        )
    never = 10**9  # sorts never-reported projects before any age
    return sorted(rows, key=lambda r: (-(never if r["days_since"] is None else r["days_since"]), r["code"]))
