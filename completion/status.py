"""A project's status on a date: schedule variance (earned-schedule style) and a forecast finish.

Percent complete on a date D
    The latest report dated on or before D (among reports committed by the version read; of two
    reports with the same date the later commit wins). No report: 0%.

Earned schedule and schedule variance
    ES is the date at which the project's planned curve reaches the actual percent; the schedule
    variance is ``SV = D − ES`` in days, positive when behind. A linear project planned
    2026-09-01 → 2026-09-11 at 40% on 2026-09-08 has ES = 2026-09-05, so SV = 3 days.
    At 0% the ES is the planned start (SV = days since the planned start).

Status
    - ``done``: 100% reported.
    - ``not_started``: 0% and the planned start is after D, D before opening day.
    - ``behind``: SV above the behind threshold (10 days by default), or the probability of
      missing opening day is above the flag threshold (see below); on opening day or after it, any
      project not reported done (it missed opening day, ``Forecast.missed``), started or not: one
      planned to start after D was not ready on opening day either.
    - ``at_risk``: SV above the at-risk threshold (3 days by default).
    - ``on_track``: anything else (including ahead of plan).

Readiness forecast (``completion.forecast``)
    Every project gets a probability of missing opening day (``p_late``), a forecast finish (the
    median of the possible finishes) and an 80% interval, from its own working pace weighed against
    its reference class (category and unit), with the deadline speed-up and the stoppages measured
    on the register's history as it stood at the last checkpoint (see ``completion.forecast`` for the method). The leaders' flag, ``after_opening``, is
    raised when ``p_late`` exceeds ``late_probability_threshold`` (a setting); a flagged project is
    ``behind``. A done project's finish is the date 100% was first reported.

Missed and passed (one rule for every page, the CLI and the JSON)
    - ``Forecast.missed``: on opening day or after it a project not reported done has missed it:
      ``p_late`` is 1 (never a chance), the flag is raised, and it is ``behind`` — one planned to
      start after the date read too (before opening day such a project is ``not_started``), so that
      the late list is every project still not done, and the projects that missed opening day are
      the late list and those reported done since (completion.rollup.missed_opening_list).
    - ``ProjectStatus.forecast_passed``: the finish forecast from its latest report lies before the
      date read while it is not done (``Forecast.passed``, that date): gone by, "passed, not reported
      done". Its forecast is then carried forward (``completion.forecast``: a project not reported done
      has not finished before the date read, as far as the register knows), so the forecast finish,
      the interval and ``p_late`` are still a forecast, at or after the date read — never a date gone
      by beside a probability read from it.

Single-rate forecast (``single_rate_forecast``: the former forecaster, kept as the benchmark's baseline)
    Take the latest report on or before D, at ``p`` percent on ``d``, and a base point before it:
    the latest earlier report dated at least ``span`` days (20 by default) before ``d``, or 0% at
    the planned start when there is none. The earned schedule moved on by ``ES(p) − ES(p_base)``
    plan days over those days, a rate of ``r`` plan days a day, and the rest of the plan,
    ``duration − ES(p)`` days, takes ``ceil((duration − ES(p)) / r)`` more days after ``d``. For a
    linear plan, 40% on 09-16 and 60% on 10-06 is 1% a day, so the remaining 40% take 40 days: 11-15.
    There is none without progress, with fewer than ``span / 2`` days (or a third of a short job's
    duration) between the base and the latest report, or when the earned schedule did not move
    (stalled); the basis says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from completion.forecast import Basis, Outlook, Pool, forecast, pooled_outlooks
from completion.register import Project, Report
from completion.schedule import earned_schedule_days, planned_percent
from completion.settings import CompletionSettings

STATUSES = ("not_started", "on_track", "at_risk", "behind", "done")
STATUS_LABELS = {
    "not_started": ("未开工", "Not started"),
    "on_track": ("正常推进", "On track"),
    "at_risk": ("存在风险", "At risk"),
    "behind": ("滞后", "Behind"),
    "done": ("已完成", "Done"),
}
# RAG colours as map dashboards use them, with blue for complete and grey for not started.
STATUS_COLOURS = {
    "not_started": "#9e9e9e",
    "on_track": "#2e7d32",
    "at_risk": "#f9a825",
    "behind": "#c62828",
    "done": "#1565c0",
}
# Worst first: the status a feature covered by several projects is shown with.
SEVERITY = ("behind", "at_risk", "on_track", "not_started", "done")
INTERVAL = 0.8  # the forecast interval's coverage


@dataclass(frozen=True)
class Forecast:
    finish: date | None  # None: no forecast (see basis)
    rate: float | None  # percent a day
    since: date | None  # the base point the rate is measured from
    since_percent: float | None
    after_opening: bool | None  # the flag (p_late above the threshold); None without a forecast
    basis: Basis  # how it was made, or why there is none
    p_late: float | None = None  # probability of finishing after opening day
    low: date | None = None  # the interval (80% by default) around the forecast finish
    high: date | None = None
    pace: float | None = None  # plan days a day assumed (1 = the plan's own pace)
    missed: bool = False  # not reported done by a date after opening day: missed it (p_late 1)
    passed: date | None = None  # the finish forecast from its latest report, gone by unreported (carried forward)

    def to_dict(self) -> dict[str, Any]:
        return {
            "finish": self.finish.isoformat() if self.finish else None,
            "rate_per_day": round(self.rate, 3) if self.rate is not None else None,
            "since": self.since.isoformat() if self.since else None,
            "since_percent": self.since_percent,
            "after_opening": self.after_opening,
            "basis": self.basis.text(),
            "p_late": None if self.p_late is None else round(self.p_late, 3),
            "probability_on_time": None if self.p_late is None else round(1.0 - self.p_late, 3),
            "interval": None
            if self.low is None or self.high is None
            else {"low": self.low.isoformat(), "high": self.high.isoformat(), "level": INTERVAL},
            "pace": None if self.pace is None else round(self.pace, 3),
            "missed_opening": self.missed,
            "passed_finish": self.passed.isoformat() if self.passed else None,
        }


@dataclass(frozen=True)
class ProjectStatus:
    project: Project
    on: date
    percent: float
    planned: float
    last_report: Report | None
    earned_days: float | None  # ES as days after the planned start; None when done
    sv_days: float | None  # schedule variance in days, positive = behind; None when done or not started
    status: str
    forecast: Forecast

    @property
    def earned_date(self) -> date | None:
        if self.earned_days is None:
            return None
        return self.project.planned_start + timedelta(days=math.floor(self.earned_days + 1e-9))

    @property
    def forecast_passed(self) -> bool:
        """Whether the finish forecast from its latest report lies before the date read while the
        project is not done ("passed, not reported done"): its forecast is carried forward to the
        date read (``Forecast.passed`` is the date gone by; ``Forecast.finish`` the forecast)."""
        return self.forecast.passed is not None and self.percent < 100.0

    @property
    def done_on(self) -> date | None:
        """The day a project reported done was reported done (its forecast's finish: the first report
        of 100 %, completion.forecast), else its latest report's; None for a project not done."""
        if self.status != "done":
            return None
        if self.forecast.finish is not None:
            return self.forecast.finish
        return self.last_report.on if self.last_report else None

    def done_after(self, opening: date) -> bool:
        """Whether it was reported done on a day after ``opening``, read on it or after it: it missed
        opening day, done since (completion.rollup.done_since_opening). The one rule of the lists, the
        panel's and the project page's words and the briefing's "missed" beside "done"."""
        return self.on >= opening and self.done_on is not None and self.done_on > opening

    @property
    def days_late(self) -> float:
        return round(self.sv_days, 1) if self.sv_days is not None and self.sv_days > 0 else 0.0


def reports_on(reports: Sequence[Report], on: date) -> list[Report]:
    """The reports dated on or before ``on``, by date (then commit order)."""
    return sorted((r for r in reports if r.on <= on), key=lambda r: (r.on, r.seq))


def classify(
    percent: float, planned_start: date, on: date, sv_days: float | None, late_for_opening: bool,
    settings: CompletionSettings, missed: bool = False,
) -> str:  # fmt: skip
    """The status rule (see the module docstring); ``missed``: not reported done by ``on``, which is
    opening day or after it (``Forecast.missed``)."""
    if percent >= 100.0:
        return "done"
    if missed:
        return "behind"
    if percent <= 0.0 and planned_start > on:
        return "not_started"
    sv = sv_days or 0.0
    if sv > settings.behind_days or late_for_opening:
        return "behind"
    if sv > settings.at_risk_days:
        return "at_risk"
    return "on_track"


def _note(words: str) -> Basis:
    return Basis("note", note=words)


def single_rate_forecast(project: Project, dated: Sequence[Report], opening: date, span_days: int = 20) -> Forecast:
    """The former forecast from one recent rate (the benchmark's baseline); ``dated``: the reports up to D, by date."""
    if not dated or dated[-1].percent <= 0.0:
        return Forecast(None, None, None, None, None, _note("no progress reported, so no forecast"))
    last = dated[-1]
    if last.percent >= 100.0:
        first_done = next(r for r in dated if r.percent >= 100.0)
        return Forecast(first_done.on, None, None, None, first_done.on > opening, Basis("done", done_on=first_done.on))
    cutoff = last.on - timedelta(days=span_days)
    earlier = [r for r in dated if r.on <= cutoff]
    if earlier:
        base_on, base_pct = earlier[-1].on, earlier[-1].percent
        why = f"rate from the report of {base_on.isoformat()} to that of {last.on.isoformat()}"
    else:
        base_on, base_pct = project.planned_start, 0.0
        why = f"rate since the planned start {base_on.isoformat()} (no report {span_days}+ days before the latest)"
    days = (last.on - base_on).days
    duration = (project.planned_finish - project.planned_start).days
    if days < min(span_days / 2, max(duration, 1) / 3):
        return Forecast(
            None, None, base_on, base_pct, None,
            _note(f"only {max(days, 0)} days of progress since {base_on.isoformat()}: too early to forecast"),
        )  # fmt: skip
    rate = (last.percent - base_pct) / days
    start, finish, curve = project.planned_start, project.planned_finish, project.curve
    if duration > 0:
        moved = earned_schedule_days(start, finish, last.percent, curve) - earned_schedule_days(
            start, finish, base_pct, curve
        )
        remaining_plan = duration - earned_schedule_days(start, finish, last.percent, curve)
    else:  # a one-day job: percent is all there is
        moved, remaining_plan = last.percent - base_pct, 100.0 - last.percent
    if moved <= 1e-9:
        return Forecast(
            None, 0.0, base_on, base_pct, None,
            _note(f"no progress between {base_on.isoformat()} and {last.on.isoformat()} (stalled), so no forecast"),
        )  # fmt: skip
    ahead = math.ceil(remaining_plan / (moved / days) - 1e-9)
    end = last.on + timedelta(days=ahead)
    return Forecast(end, rate, base_on, base_pct, end > opening, _note(why))


def readiness(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, settings: CompletionSettings,
    pool: Pool | None = None,
) -> list[Forecast]:  # fmt: skip
    """Each project's readiness forecast on ``on`` with ``pool`` (by default learnt from ``items``)."""
    return _readiness(items, on, settings, _outlooks(items, on, opening, settings, pool)[1])


def _outlooks(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, settings: CompletionSettings,
    pool: Pool | None,
) -> tuple[Pool, list[Outlook]]:  # fmt: skip
    if pool is None:
        return pooled_outlooks(items, on, opening, interval=INTERVAL, every=settings.checkpoint_days)
    return pool, forecast(pool, items, on, opening, interval=INTERVAL)


def _readiness(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, settings: CompletionSettings, looks: list[Outlook]
) -> list[Forecast]:
    out = []
    for (project, reports), o in zip(items, looks, strict=True):
        dated = reports_on(reports, on)
        last = dated[-1] if dated else None
        elapsed = (last.on - project.planned_start).days if last else 0
        rate = last.percent / elapsed if last and elapsed > 0 and o.pace is not None else None
        out.append(
            Forecast(
                o.finish, rate, project.planned_start if rate is not None else None, 0.0 if rate is not None else None,
                o.p_late > settings.late_probability_threshold, o.basis, o.p_late, o.low, o.high, o.pace, o.missed,
                o.passed,
            )
        )  # fmt: skip
    return out


def evaluate_all(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, settings: CompletionSettings,
    pool: Pool | None = None,
) -> list[ProjectStatus]:  # fmt: skip
    """Each project's status on ``on``; the forecasts learn from ``pool``, by default the pool of
    ``items`` (see ``completion.forecast.fit_pool``). A project's status depends only on its own
    record and reports and the pool, not on which other projects are evaluated with it."""
    return evaluate_pooled(items, on, opening, settings, pool)[1]


def evaluate_pooled(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, settings: CompletionSettings,
    pool: Pool | None = None,
) -> tuple[Pool, list[ProjectStatus]]:  # fmt: skip
    """``evaluate_all`` and the pool it used."""
    pool, looks = _outlooks(items, on, opening, settings, pool)
    forecasts = _readiness(items, on, settings, looks)
    return pool, [_status(p, rs, on, settings, fc) for (p, rs), fc in zip(items, forecasts, strict=True)]


def evaluate(
    project: Project, reports: Sequence[Report], on: date, opening: date, settings: CompletionSettings
) -> ProjectStatus:
    """One project's status on ``on``, as if it were the whole register (use ``evaluate_all`` for a register)."""
    return evaluate_all([(project, reports)], on, opening, settings)[0]


def _status(
    project: Project, reports: Sequence[Report], on: date, settings: CompletionSettings, fc: Forecast
) -> ProjectStatus:
    dated = reports_on(reports, on)
    last = dated[-1] if dated else None
    percent = last.percent if last else 0.0
    planned = planned_percent(project.planned_start, project.planned_finish, on, project.curve)
    if percent >= 100.0:
        es: float | None = None
        sv: float | None = None
    else:
        es = earned_schedule_days(project.planned_start, project.planned_finish, percent, project.curve)
        sv = (on - project.planned_start).days - es
        if percent <= 0.0 and project.planned_start > on:
            sv = None
    late = bool(fc.after_opening) and percent < 100
    status = classify(percent, project.planned_start, on, sv, late, settings, fc.missed)
    return ProjectStatus(project, on, percent, planned, last, es, sv, status, fc)
