"""Completion as of a date or a version: the one entry point the API, the CLI and the maps use.

``Completion(twin).at(on, version)`` reads the register and each project's reports as the twin
stood, and evaluates every project on a date:

- ``on`` only (a date, or a checkpoint label such as "T-30"): the twin as of the end of that day
  in Shanghai, evaluated on that day. Last month's status is what last month's data said: a
  report committed later, even one dated earlier, does not change it.
- ``version`` only: the twin at that commit, evaluated on the commit's (Shanghai) date.
- both: the twin at that commit, evaluated on ``on`` (e.g. today's data about an earlier date).
- neither: today (Shanghai) and the twin as of now.

A date after today is refused (``not_after_today``): the twin has no reports from then.

Opening day, which the checkpoints, statuses and forecasts count to, is the one the date is
measured against for the register as of the snapshot's version (completion.expo); "T-30" names a
checkpoint of the expo today is measured against.

The S-curve compares, at each checkpoint up to the date, the planned and the reported completion
of the projects in the register as of the snapshot, with the snapshot's weights: planned from
their planned dates, actual from the reports as they stood at the end of each checkpoint day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from completion.accountability import ReportState, report_states
from completion.cache import (
    ancestor,
    cached_snapshot,
    latest_snapshot,
    register_state,
    remember_latest,
    versions_since,
)
from completion.expo import opening_among, opening_for, opening_of, state_expos
from completion.forecast import Pool, pool_checkpoint
from completion.percent import json_percent
from completion.register import Project, Register, Report
from completion.rollup import (
    Group,
    done_since_opening,
    group_by,
    key_of,
    late_list,
    missed_opening_list,
    overall_weights,
    roll_up,
)
from completion.schedule import (
    Checkpoint,
    checkpoint_date,
    checkpoint_label,
    checkpoints,
    checkpoints_after,
    planned_percent,
)
from completion.settings import CompletionSettings
from completion.status import SEVERITY, ProjectStatus, evaluate_pooled
from twin.core import SHANGHAI, Ref, TwinLike
from twin.errors import BadInput, NotFound


def today_local() -> date:
    return datetime.now(SHANGHAI).date()


def parse_day(
    text: str | date | None, settings: CompletionSettings, today: date | None = None, twin: TwinLike | None = None
) -> date | None:
    """A date YYYY-MM-DD, a checkpoint label "T-30" (after opening day "T+10") of the current expo, or
    "today" (None passes through).

    The current expo is the one today is measured against, of the register at ``twin``'s head
    (completion.expo; without a twin: VENUE_TWIN_EXPO_YEAR, else today's year)."""
    if text is None or isinstance(text, date):
        return text
    t = text.strip()
    if t.lower() == "today":  # (the default of the views that open elsewhere: completion.landing)
        return today or today_local()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        try:
            return date.fromisoformat(t)
        except ValueError:
            pass
    elif is_checkpoint(t):
        today = today or today_local()
        opening = opening_of(twin, today, settings) if twin is not None else opening_among((), today, settings)
        return checkpoint_date(opening, t)
    raise BadInput(
        f"{text!r} is not a date (YYYY-MM-DD) or a checkpoint (T-30)", code="not_a_date", values={"value": text}
    )


def not_after_today(day: date | None, today: date | None = None) -> date | None:
    """``day``, refused (BadInput) when it is after today: the twin has no reports from then, as a
    report dated after today is refused (completion.reports), and a date to come would set today's
    reports against its plan."""
    today = today or today_local()
    if day is not None and day > today:
        raise BadInput(
            f"date {day.isoformat()} is after today ({today.isoformat()}): the twin has no reports from then",
            code="date_after_today",
            values={"date": day.isoformat(), "today": today.isoformat()},
        )
    return day


@dataclass(frozen=True)
class CurvePoint:
    checkpoint: Checkpoint
    planned: float
    actual: float | None  # None after the snapshot's date


@dataclass
class Snapshot:
    on: date
    ref: Ref
    opening: date
    settings: CompletionSettings
    statuses: list[ProjectStatus]
    weights: dict[str, float]
    reports: dict[str, list[Report]]  # every report known at ref, by project, in commit order
    _states: dict[str, ReportState] | None = field(default=None, repr=False, compare=False)
    # what the forecasts learnt from (completion.forecast.Pool): kept so the next head's snapshot
    # can reuse it, and the statuses made with it, when the commits since leave it as it was
    pool: Pool | None = field(default=None, repr=False, compare=False)
    # answers derived from this snapshot (e.g. the API's JSON), kept with it: it never changes
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def version(self) -> str | None:
        return self.ref.commit.id if self.ref.commit else None

    @property
    def checkpoint(self) -> str | None:
        return checkpoint_label(self.opening, self.on, self.settings.checkpoint_days)

    @property
    def days_to_opening(self) -> int:
        return (self.opening - self.on).days

    @property
    def opening_reached(self) -> bool:
        """Whether the snapshot is of opening day or a day after it: the projects not reported done
        by then missed it (a fact, not a chance), and the late lists are of those (``missed_opening``)."""
        return self.on >= self.opening

    def status(self, code: str) -> ProjectStatus:
        for s in self.statuses:
            if s.project.code == code:
                return s
        raise NotFound(
            f"no project {code!r} in the register as of {self.on.isoformat()}",
            code="no_project",
            values={"code": code, "date": self.on.isoformat()},
        )

    def overall(self) -> Group:
        return roll_up(self.statuses, self.weights, None, "overall")

    def missed_opening(self) -> list[ProjectStatus]:
        """The projects that missed opening day, read on it or after it: not reported done by it —
        still not done on the date read (each of them late: completion.status), in the late list's
        order, then those reported done on a day after it (done_since_opening). Empty before opening
        day (a chance of missing it then, not a fact). completion.rollup.missed_opening_list."""
        return missed_opening_list(self.statuses, self.opening)

    def done_since_opening(self) -> list[ProjectStatus]:
        """Of the projects that missed opening day, those reported done since (earliest first)."""
        return done_since_opening(self.statuses, self.opening)

    def groups(self, by: str) -> list[Group]:
        try:
            return group_by(self.statuses, self.weights, by)
        except ValueError as e:
            raise BadInput(str(e)) from None

    def late(self) -> list[ProjectStatus]:
        return late_list(self.statuses)

    def late_or_missed(self) -> list[ProjectStatus]:
        """The projects the late list of a page, the briefing or the CLI names: before opening day the
        late list, on it or after it those that missed it (``missed_opening``: still not done, then
        done since). The projects whose imagery disagrees with their report are listed apart from
        these (completion.evidence.flagged_not_late), so that none is listed twice."""
        return self.missed_opening() if self.opening_reached else self.late()

    def checkpoints(self) -> list[Checkpoint]:
        earliest = min((s.project.planned_start for s in self.statuses), default=None)
        return checkpoints(self.opening, earliest, self.settings.checkpoint_days)

    def report_states(self) -> dict[str, ReportState]:
        """Each project's report freshness on the snapshot's date (see completion.accountability)."""
        if self._states is None:
            self._states = report_states(self.statuses, self.settings, self.opening)
        return self._states

    def feature_statuses(self) -> dict[str, str]:
        """ "layer/feature_id" → the worst status of the projects covering it (for maps)."""
        out: dict[str, str] = {}
        for s in self.statuses:
            for ref in s.project.features:
                old = out.get(ref)
                if old is None or SEVERITY.index(s.status) < SEVERITY.index(old):
                    out[ref] = s.status
        return out


class Completion:
    """Completion figures over a twin; cheap to make, so make one per request or command."""

    def __init__(self, twin: TwinLike, settings: CompletionSettings | None = None):
        self.twin = twin
        self.settings = settings or CompletionSettings()
        self.register = Register(twin)

    def resolve(self, on: str | date | None = None, version: str | None = None) -> tuple[date, Ref]:
        today = today_local()
        day = not_after_today(parse_day(on, self.settings, today, self.twin), today)
        if version is not None:
            ref = self.twin.resolve(version)
            if day is None:
                day = ref.commit.time.astimezone(SHANGHAI).date() if ref.commit else today
            return day, ref
        day = day or today
        return day, self.twin.resolve(asof=day.isoformat())

    def at(self, on: str | date | None = None, version: str | None = None) -> Snapshot:
        day, ref = self.resolve(on, version)
        if ref.commit is None:
            return Snapshot(day, ref, opening_for((), day, self.settings), self.settings, [], {}, {})
        # A commit id names an immutable state, so a snapshot of it on a date is kept (per what the
        # caller's role hides: the twin's state key after its head). Its opening day is the register's
        # at that commit on that date (completion.expo): a function of the key too.
        kind = (day, self.settings.model_dump_json(), *self.twin.state_key()[2:])
        return cached_snapshot((ref.commit.id, *kind), lambda: self._evaluate(day, ref, kind))

    def _evaluate(self, day: date, ref: Ref, kind: tuple[Any, ...]) -> Snapshot:
        state = register_state(self.twin)
        every = self.settings.checkpoint_days
        if ref.seq != state.seq:  # an earlier version: its records read, its reports kept
            projects = self.register.projects(ref)
            # the register as it stood then: last month's expo is what last month's register prepared for
            opening = opening_for(projects, day, self.settings)
            reports = {p.code: [r for r in state.reports.get(p.fid, ()) if r.seq <= ref.seq] for p in projects}
            items = [(p, reports[p.code]) for p in projects]
            earlier, statuses = evaluate_pooled(items, day, opening, self.settings)
            return Snapshot(
                day, ref, opening, self.settings, statuses, overall_weights(projects), reports, pool=earlier
            )
        # The head. A project's status depends only on its own record and reports and on the pool the
        # forecasts learn from, which is learnt from the reports dated up to the last checkpoint
        # (completion.forecast.Pool). So when no commit since the latest head snapshot on this date
        # changed what the pool is learnt from (the usual report, dated today, does not), its pool
        # and the statuses of every project no commit touched are kept, and only the touched ones
        # are evaluated again (after one report: one). Otherwise every project is evaluated again.
        opening = opening_among(state_expos(state, self.settings), day, self.settings)
        reuse: dict[str, ProjectStatus] = {}
        pool: Pool | None = None
        prev: Snapshot | None = latest_snapshot(kind)
        if (
            prev is not None
            and prev.pool is not None
            and prev.ref.commit is not None
            and prev.ref.seq < ref.seq
            and prev.opening == opening  # (a commit since may have added next year's expo)
        ):
            at = ancestor(self.twin, prev.ref.seq, prev.ref.commit.id)
            if at is not None:
                touched = versions_since(self.twin, at, ref)
                checkpoint = pool_checkpoint(day, opening, every)
                before = {s.project.fid: s.project for s in prev.statuses}
                if all(
                    _pool_part(before.get(fid), prev.reports, checkpoint)
                    == _pool_part(state.records.get(fid), {}, checkpoint, state.reports.get(fid, ()))
                    for fid in touched
                ):
                    pool = prev.pool
                    reuse = {s.project.fid: s for s in prev.statuses if s.project.fid not in touched}
        reports = {}
        fresh: list[tuple[Project, list[Report]]] = []
        for p in state.ordered:
            kept = reuse.get(p.fid)
            if kept is not None and prev is not None:
                reports[p.code] = prev.reports[p.code]
            else:
                reports[p.code] = list(state.reports.get(p.fid, ()))
                fresh.append((p, reports[p.code]))
        # (without a pool kept, every project is fresh and the pool is learnt from them all)
        pool, done = evaluate_pooled(fresh, day, opening, self.settings, pool)
        evaluated = {s.project.fid: s for s in done}
        statuses = [reuse[p.fid] if p.fid in reuse else evaluated[p.fid] for p in state.ordered]
        snap = Snapshot(day, ref, opening, self.settings, statuses, state.weights, reports, pool=pool)
        remember_latest(kind, snap)
        return snap

    def project_at(
        self, code: str, on: str | date | None = None, version: str | None = None
    ) -> tuple[ProjectStatus, float | None, list[Report]]:
        """One project's status, overall weight and reports, read from the register's snapshot (at a
        new head after a report, only the touched projects are evaluated again: see ``_evaluate``)."""
        snap = self.at(on, version)
        s = snap.status(code)
        return s, snap.weights.get(code), snap.reports[code]

    def scurve(self, snap: Snapshot, by: str | None = None) -> dict[str, list[CurvePoint]]:
        """Planned against actual at each checkpoint, overall or per group (see the module docstring)."""
        key = key_of(by) if by else (lambda p: "overall")
        members: dict[str, list[Project]] = {}
        for s in snap.statuses:
            members.setdefault(key(s.project), []).append(s.project)
        out: dict[str, list[CurvePoint]] = {k: [] for k in sorted(members)}
        for cp in snap.checkpoints():
            actual_of: dict[str, float] | None = None
            if cp.on <= snap.on:
                ref = self.twin.resolve(asof=cp.on.isoformat())
                if ref.seq > snap.ref.seq:
                    ref = snap.ref
                seq = ref.seq
                actual_of = {
                    s.project.code: _percent_on(snap.reports[s.project.code], cp.on, seq) for s in snap.statuses
                }
            for k, projects in members.items():
                w = {p.code: snap.weights.get(p.code, 0.0) for p in projects}
                total = sum(w.values()) or 1.0
                planned = sum(
                    w[p.code] * planned_percent(p.planned_start, p.planned_finish, cp.on, p.curve) for p in projects
                )
                actual = None
                if actual_of is not None:
                    actual = sum(w[p.code] * actual_of[p.code] for p in projects) / total
                out[k].append(CurvePoint(cp, planned / total, actual))
        return out


def _pool_part(
    project: Project | None,
    reports_by_code: dict[str, list[Report]],
    checkpoint: date,
    reports: Sequence[Report] | None = None,
) -> tuple[Any, ...] | None:
    """What a project gives the pool learnt up to ``checkpoint``: its class, plan and the reports
    dated up to it (None: nothing). ``reports``: its reports, else looked up by its code."""
    if project is None:
        return None
    if reports is None:
        reports = reports_by_code.get(project.code, ())
    early = tuple(sorted((r.on, r.seq, r.percent) for r in reports if r.on <= checkpoint))
    if not early:
        return None
    p = project
    return (p.code, p.category, p.responsible_unit, p.planned_start, p.planned_finish, p.curve, early)


def _percent_on(reports: Sequence[Report], on: date, seq: int) -> float:
    """The percent of the latest report dated on or before ``on`` among those committed by ``seq``
    (of two with the same date the later commit), 0 without one: ``reports_on(...)[-1]`` in one
    pass, without sorting (the S-curve asks it of every project at every checkpoint)."""
    best: Report | None = None
    for r in reports:
        if r.seq <= seq and r.on <= on and (best is None or (r.on, r.seq) > (best.on, best.seq)):
            best = r
    return best.percent if best is not None else 0.0


# ---------------------------------------------------------------------------- JSON and table rows
def _r(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


def status_doc(s: ProjectStatus, weight: float | None, state: ReportState, flag: str | None = None) -> dict[str, Any]:
    """A project with its status, as the API answers it, with how fresh its figure is (``state``:
    its snapshot's ``report_states()``) and ``flag``, the imagery's disagreement with its report if
    any (completion.evidence.snapshot_flags)."""
    p = s.project
    return {
        "code": p.code,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "category": p.category,
        "area": p.area,
        "responsible_unit": p.responsible_unit,
        "responsible_person": p.responsible_person,
        "features": list(p.features),
        "planned_start": p.planned_start.isoformat(),
        "planned_finish": p.planned_finish.isoformat(),
        "quantity": p.quantity,
        "quantity_unit": p.quantity_unit,
        "weight": p.weight,
        "curve": p.curve,
        "date": s.on.isoformat(),
        "status": s.status,
        "percent": s.percent,
        "planned_percent": json_percent(s.planned),
        "earned_date": s.earned_date.isoformat() if s.earned_date else None,
        "sv_days": _r(s.sv_days, 1),
        "days_late": s.days_late,
        "forecast": s.forecast.to_dict(),
        # The readiness forecast's headline figures, also at the top level (see completion.forecast).
        "p_late": _r(s.forecast.p_late, 3),
        # not reported done by a date after opening day: it missed it (p_late is 1, not a chance)
        "missed_opening": s.forecast.missed,
        # the finish forecast from its latest report lies before the date while it is not done:
        # passed, not reported done (its forecast is carried forward to the date: forecast_finish)
        "forecast_passed": s.forecast_passed,
        "probability_on_time": _r(None if s.forecast.p_late is None else 1.0 - s.forecast.p_late, 3),
        "forecast_finish": s.forecast.finish.isoformat() if s.forecast.finish else None,
        "interval": s.forecast.to_dict()["interval"],
        "last_report": s.last_report.to_dict() if s.last_report else None,
        "report_age_days": state.age_days,
        "report_due": state.due.isoformat() if state.due else None,
        "stale": state.stale,
        "overall_weight": _r(weight, 6),
        "evidence_flag": flag,
    }


PROJECT_COLUMNS = (
    "code", "name_zh", "name_en", "category", "area", "responsible_unit", "responsible_person", "planned_start",
    "planned_finish", "quantity", "quantity_unit", "overall_weight", "date", "status", "percent", "planned_percent",
    "sv_days", "days_late", "forecast_finish", "forecast_after_opening", "last_report_date", "last_reporter",
    "p_late", "missed_opening", "forecast_passed", "forecast_low", "forecast_high", "report_age_days", "stale",
    "evidence_flag",
)  # fmt: skip


# The columns of PROJECT_COLUMNS holding a date (ISO text in the row; an Excel date in .xlsx).
PROJECT_DATE_COLUMNS = (
    "planned_start", "planned_finish", "date", "forecast_finish", "last_report_date", "forecast_low", "forecast_high",
)  # fmt: skip


def project_row(s: ProjectStatus, weight: float | None, state: ReportState, flag: str | None = None) -> dict[str, Any]:
    """A flat row (for CSV) with PROJECT_COLUMNS."""
    d = status_doc(s, weight, state, flag)
    d["forecast_finish"] = d["forecast"]["finish"]
    d["forecast_after_opening"] = d["forecast"]["after_opening"]
    d["forecast_low"], d["forecast_high"] = (d["interval"] or {}).get("low"), (d["interval"] or {}).get("high")
    d["last_report_date"] = s.last_report.on.isoformat() if s.last_report else None
    d["last_reporter"] = s.last_report.reporter if s.last_report else None
    return {k: d[k] for k in PROJECT_COLUMNS}


LATE_COLUMNS = (
    "code", "name_zh", "name_en", "area", "responsible_unit", "responsible_person", "percent", "planned_percent",
    "days_late", "planned_finish", "forecast_finish", "forecast_after_opening", "p_late", "missed_opening",
    "forecast_passed", "forecast_low", "forecast_high", "last_report_date", "report_age_days", "stale", "evidence_flag",
)  # fmt: skip


def late_row(s: ProjectStatus, state: ReportState, flag: str | None = None) -> dict[str, Any]:
    """A late project as the late list gives it; ``stale`` marks a figure whose report is overdue
    (late by an old figure), which is not the same as late; ``flag`` is the imagery's disagreement."""
    return {k: v for k, v in project_row(s, None, state, flag).items() if k in LATE_COLUMNS}


GROUP_COLUMNS = (
    "by", "key", "projects", "weight", "planned_percent", "actual_percent", "variance_points",
    "not_started", "on_track", "at_risk", "behind", "done",
)  # fmt: skip


def group_row(g: Group) -> dict[str, Any]:
    d = g.to_dict()
    counts = d.pop("counts")
    return {k: (counts[k] if k in counts else d[k]) for k in GROUP_COLUMNS}


def curve_rows(series: dict[str, list[CurvePoint]], by: str | None) -> list[dict[str, Any]]:
    return [
        {
            "by": by or "overall",
            "key": k,
            "checkpoint": pt.checkpoint.label,
            "date": pt.checkpoint.on.isoformat(),
            "planned_percent": json_percent(pt.planned),
            "actual_percent": json_percent(pt.actual),
        }
        for k, points in series.items()
        for pt in points
    ]


def snapshot_meta(snap: Snapshot) -> dict[str, Any]:
    return {
        "date": snap.on.isoformat(),
        "checkpoint": snap.checkpoint,
        "opening_day": snap.opening.isoformat(),
        "days_to_opening": snap.days_to_opening,
        # on opening day or after it (Snapshot.opening_reached): the pages and sheets then list the
        # projects that missed it
        "opening_reached": snap.opening_reached,
        "version": snap.version,
    }


def back_schedule(snap: Snapshot) -> tuple[list[Checkpoint], list[tuple[ProjectStatus, list[float]]]]:
    """Each project's planned percent at every checkpoint: those counted back from opening day, then
    the reporting checkpoints after it up to the snapshot's date (T+10, ...: reports stay due at them,
    completion.accountability, so a report due after opening day is due at a listed checkpoint)."""
    cps = [*snap.checkpoints(), *checkpoints_after(snap.opening, snap.on, snap.settings.checkpoint_days)]
    rows = [
        (s, [planned_percent(s.project.planned_start, s.project.planned_finish, c.on, s.project.curve) for c in cps])
        for s in snap.statuses
    ]
    return cps, rows


def filter_statuses(
    statuses: Sequence[ProjectStatus],
    *,
    area: str | None = None,
    unit: str | None = None,
    category: str | None = None,
    status: str | None = None,
) -> list[ProjectStatus]:
    return [
        s
        for s in statuses
        if (area is None or s.project.area == area)
        and (unit is None or s.project.responsible_unit == unit)
        and (category is None or s.project.category == category)
        and (status is None or s.status == status)
    ]


def resolve_ref(twin: TwinLike, text: str | None, settings: CompletionSettings | None = None) -> Ref:
    """A version as people name it anywhere (CLI, API, maps): a commit id, HEAD or HEAD~n, a
    checkpoint of the current expo (T-30: the end of that day), else a time or date."""
    if text is None or text.strip() in ("", "HEAD"):
        return twin.resolve()
    if is_checkpoint(text):
        return twin.resolve(asof=checkpoint_asof(twin, text, settings))
    return twin.resolve_text(text)


def is_checkpoint(text: str) -> bool:
    """Whether ``text`` names a checkpoint (T-30) rather than a date, time or commit."""
    return re.fullmatch(r"[Tt][-−+]\d{1,4}", text.strip()) is not None


def checkpoint_asof(twin: TwinLike, text: str, settings: CompletionSettings | None = None) -> str:
    """A checkpoint (T-30) of the expo the register prepares for, as the date an as-of read takes."""
    day = parse_day(text, settings or CompletionSettings(), twin=twin)
    assert day is not None
    return day.isoformat()
