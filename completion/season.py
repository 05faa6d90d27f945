"""A simulated preparation season: a register, the reports it would hold, and when each project
really finished. The forecasting benchmark (bench/forecast_bench.py) and the tests replay these
seasons; the same seed always gives the same season.

Assumptions (each a field of ``SeasonAssumptions``; the defaults are a plausible season, and
``HARD_SEASON`` one with more and longer stoppages, a wider spread and more optimistic reporters):

- Projects across categories (each with its planned curve and a range of planned durations) and
  responsible units. Plans are back-scheduled from opening day: every planned finish falls in the
  last ``max_slack_days`` before opening day, the planned start is the finish less the duration,
  never before T-``earliest_start_days``. A share ``just_started_share`` is planned to start only
  25–45 days before opening day (just started at T-30).
- True productivity, in plan days a calendar day, is lognormal around ``mean_pace``: a category
  effect, a unit effect and a project effect (spreads ``category_spread``, ``unit_spread``,
  ``project_spread``), times a day-to-day wobble (``daily_spread``). Crews begin 0–``max_start_delay``
  days after the planned start.
- A share ``stoppage_share`` of projects is stopped 1–2 times, each stoppage lasting
  ``stoppage_days`` (days to weeks) and starting anywhere in its planned window: no progress.
- Deadline overtime: within ``overtime_days`` of its planned finish (and after it), a crew behind
  its plan works ``1 + overtime_boost`` times as fast.
- Reports every ``report_every`` days from T-``first_report`` to T-10 for every project whose planned
  start has come, the true percent plus noise (``report_noise`` points). A share of reporters is
  optimistic (``optimist_share``): they add ``optimist_bias`` points and round up to the next 5.
  A report is missed with probability ``missed_share``. Figures never go down, and 100% is reported
  only when the work is truly done (a site check confirms it); otherwise at most 99%.
- The true finish is the first day the work is done (followed up to a year after opening).

How realistic, and where it is harsh (reviewed against how such preparation seasons go; kept as
it is, since making it easier would only flatter the forecaster):

- Reports every 10 days with a site check before 100%, start delays of up to a week, crews that
  speed up behind plan near their deadline and a minority of reporters who round up: as in a real
  back-scheduled register.
- Stoppages fall anywhere in a project's planned window, the last 30 days before opening day
  included, at the same rate and length (up to four weeks) as earlier, and with no sign in earlier
  reports. Weather, inspections and supply failures do strike late and without warning, but in
  the final month before a national exhibition a stoppage is usually escalated and shortened, and
  many (waiting for materials or a design change) are announced in a report's note first; this
  simulator gives none of that, so about a third of its late projects (two-fifths on the harder
  season) are late through a stoppage that begins after T-30 and that no forecast on T-30 can
  see. The forecasting benchmark prints recall on the other late projects beside the overall one.
- A project already past its planned finish is never stopped (stoppages start inside the planned
  window), and stopped reports carry no reason: both make the simulated register a little poorer in
  information than a real one, not richer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from completion.register import Project, Report
from completion.schedule import curve_value

# Category → (planned curve, shortest and longest planned duration in days).
CATEGORIES: dict[str, tuple[str, int, int]] = {
    "venue_renovation": ("s_curve", 30, 80),
    "support_road": ("linear", 20, 60),
    "landscaping": ("linear", 10, 40),
    "power": ("s_curve", 20, 55),
    "signage": ("linear", 7, 25),
}
AREAS = ("halls", "south_plaza", "roads", "landscaping")


@dataclass(frozen=True)
class SeasonAssumptions:
    projects: int = 300
    units: int = 10
    opening: date = date(2026, 11, 5)
    max_slack_days: int = 60
    earliest_start_days: int = 110
    just_started_share: float = 0.10
    mean_pace: float = 0.97
    category_spread: float = 0.06
    unit_spread: float = 0.08
    project_spread: float = 0.15
    daily_spread: float = 0.25
    max_start_delay: int = 7
    stoppage_share: float = 0.25
    stoppage_days: tuple[int, int] = (3, 28)
    overtime_days: int = 15
    overtime_boost: float = 0.35
    report_every: int = 10
    first_report: int = 100
    report_noise: float = 1.5
    optimist_share: float = 0.3
    optimist_bias: float = 2.0
    missed_share: float = 0.05


HARD_SEASON = SeasonAssumptions(
    stoppage_share=0.45, stoppage_days=(5, 40), project_spread=0.22, optimist_share=0.5, optimist_bias=4.0
)


@dataclass(frozen=True)
class Truth:
    """What the simulator knows and a register never does (for the benchmark's ceiling): by project,
    in the order of ``Season.projects``, day indices from ``origin``."""

    origin: date  # day 0
    pace: np.ndarray  # true productivity, plan days a calendar day
    begins: np.ndarray  # the day the crew began
    start_idx: np.ndarray  # planned start
    finish_idx: np.ndarray  # planned finish
    duration: np.ndarray  # planned days of work
    earned: np.ndarray  # plan days earned at the end of each day (column d + 1 for day d)
    stopped: np.ndarray  # (project, day): stopped that day


@dataclass
class Season:
    seed: int
    assumptions: SeasonAssumptions
    projects: list[Project]
    reports: dict[str, list[Report]]  # by project code, by date
    true_finish: dict[str, date]
    stoppages: dict[str, list[tuple[date, date]]] = field(default_factory=dict)  # code → (first, last day)
    truth: Truth | None = None

    @property
    def opening(self) -> date:
        return self.assumptions.opening

    def reports_until(self, on: date) -> dict[str, list[Report]]:
        """The reports a register would hold at the end of ``on`` (dated on or before it)."""
        return {code: [r for r in rs if r.on <= on] for code, rs in self.reports.items()}


def work_days(
    a: SeasonAssumptions, pace: np.ndarray, begins: np.ndarray, start_idx: np.ndarray, finish_idx: np.ndarray,
    duration: np.ndarray, stopped: np.ndarray, wobble: np.ndarray, e: np.ndarray, first_day: int,
    earned: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The crews' work from day ``first_day`` on (``e``: plan days earned before it; ``stopped`` and
    ``wobble`` by day, columns from ``first_day``, rows may be several futures of each project): the
    day each finishes (the last day simulated + 1 if it does not), and the earned plan days at the end
    of each day in ``earned`` if given. Shared by the simulator and the benchmark's ceiling."""
    last = first_day + stopped.shape[1]
    done_idx = np.full(len(e), last, dtype=int)
    done_idx[e >= duration] = first_day - 1
    for d in range(first_day, last):
        working = (d >= begins) & ~stopped[:, d - first_day] & (e < duration)
        behind = e < (d - start_idx)
        overtime = behind & (finish_idx - d <= a.overtime_days)
        step = pace * wobble[:, d - first_day] * np.where(overtime, 1.0 + a.overtime_boost, 1.0)
        e = np.where(working, np.minimum(e + step, duration), e)
        newly = (e >= duration) & (done_idx == last)
        done_idx[newly] = d
        if earned is not None:
            earned[:, d + 1] = e  # earned at the end of day d
    return done_idx


def simulate(seed: int, assumptions: SeasonAssumptions | None = None) -> Season:
    """One season, deterministic by ``seed`` (see the module docstring for the assumptions)."""
    a = assumptions or SeasonAssumptions()
    rng = np.random.default_rng(seed)
    n = a.projects
    cats = list(CATEGORIES)
    cat_of = rng.integers(0, len(cats), n)
    unit_of = rng.integers(0, a.units, n)
    cat_eff = rng.normal(0.0, a.category_spread, len(cats))
    unit_eff = rng.normal(0.0, a.unit_spread, a.units)
    pace = a.mean_pace * np.exp(cat_eff[cat_of] + unit_eff[unit_of] + rng.normal(0.0, a.project_spread, n))

    lo = np.array([CATEGORIES[cats[c]][1] for c in cat_of])
    hi = np.array([CATEGORIES[cats[c]][2] for c in cat_of])
    duration = rng.integers(lo, hi + 1)
    slack = rng.integers(0, a.max_slack_days + 1, n)
    # Days before opening day (positive = before).
    finish_before = slack
    start_before = np.minimum(finish_before + duration, a.earliest_start_days)
    just = rng.random(n) < a.just_started_share
    start_before = np.where(just, rng.integers(25, 46, n), start_before)
    finish_before = np.minimum(finish_before, start_before - np.maximum(lo // 2, 5))
    finish_before = np.maximum(finish_before, 0)
    duration = start_before - finish_before

    # Day index d: day 0 is T-(earliest_start_days + 10); simulate up to a year after opening.
    origin = a.opening - timedelta(days=a.earliest_start_days + 10)
    days = a.earliest_start_days + 10 + 366
    start_idx = (a.earliest_start_days + 10) - start_before
    finish_idx = (a.earliest_start_days + 10) - finish_before
    begins = start_idx + rng.integers(0, a.max_start_delay + 1, n)

    stopped = np.zeros((n, days), dtype=bool)
    hit = rng.random(n) < a.stoppage_share
    spans: dict[int, list[tuple[date, date]]] = {}
    for i in map(int, np.flatnonzero(hit)):
        for _ in range(int(rng.integers(1, 3))):
            s0 = int(rng.integers(start_idx[i], max(finish_idx[i], start_idx[i] + 1)))
            length = int(rng.integers(a.stoppage_days[0], a.stoppage_days[1] + 1))
            stopped[i, s0 : s0 + length] = True
            first = origin + timedelta(days=s0)
            spans.setdefault(i, []).append((first, first + timedelta(days=length - 1)))

    wobble = np.exp(rng.normal(0.0, a.daily_spread, (n, days)) - a.daily_spread**2 / 2)
    earned = np.zeros((n, days + 1))
    done_idx = work_days(a, pace, begins, start_idx, finish_idx, duration, stopped, wobble, np.zeros(n), 0, earned)

    optimist = rng.random(n) < a.optimist_share
    projects: list[Project] = []
    reports: dict[str, list[Report]] = {}
    true_finish: dict[str, date] = {}
    seq = 0
    report_days = list(range(a.first_report, 9, -a.report_every))
    for i in range(n):
        cat = cats[cat_of[i]]
        curve = CATEGORIES[cat][0]
        code = f"{cat[:2].upper()}-{i + 1:04d}"
        unit = f"Unit {unit_of[i] + 1:02d}"
        ps, pf = origin + timedelta(days=int(start_idx[i])), origin + timedelta(days=int(finish_idx[i]))
        projects.append(
            Project(
                code=code, name_zh=code, name_en=f"{cat} {i + 1}", category=cat, area=AREAS[i % len(AREAS)],
                responsible_unit=unit, planned_start=ps, planned_finish=pf, quantity=float(duration[i]),
                quantity_unit="m²", curve=curve, responsible_person=f"{unit} reporter",
            )
        )  # fmt: skip
        true_finish[code] = origin + timedelta(days=int(done_idx[i]))
        out: list[Report] = []
        last = 0.0
        for t in report_days:
            on = a.opening - timedelta(days=t)
            d = (on - origin).days
            if on < ps or last >= 100.0:
                continue
            truth = 100.0 * curve_value(curve, float(earned[i, d + 1]) / float(duration[i]))
            noise = rng.normal(0.0, a.report_noise)
            missed = rng.random() < a.missed_share
            if done_idx[i] <= d:
                pct = 100.0
            else:
                pct = truth + noise
                if optimist[i]:
                    pct = 5.0 * math.ceil((pct + a.optimist_bias) / 5.0)
                pct = float(min(99.0, max(0.0, round(pct))))
            if missed:
                continue
            last = max(last, pct)
            seq += 1
            out.append(
                Report(
                    on=on, percent=last, reporter=f"{unit} reporter", note=None, reason=None,
                    commit=f"sim-{seed}-{seq}", seq=seq,
                    time=datetime(on.year, on.month, on.day, 8, 0, tzinfo=UTC),
                )
            )  # fmt: skip
        reports[code] = out
    state = Truth(origin, pace, begins, start_idx, finish_idx, duration, earned, stopped)
    return Season(seed, a, projects, reports, true_finish, {projects[i].code: v for i, v in spans.items()}, state)
