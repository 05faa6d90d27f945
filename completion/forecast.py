"""Readiness forecasts: each project's probability of finishing by opening day, and a forecast finish
with an interval, from a model of how projects progress whose parts are all measured on the
register's own history.

Progress is measured against the plan, earned-schedule style: a report of ``p`` percent means the
plan's first ``ES(p)`` days of work are done (``completion.schedule.earned_schedule_days``), and a
pace of 1 keeps up with the plan. The history between two reports of a project is a *span*: its
pace is the plan days earned over its days. A span with under ``ROUGH`` of its class's usual pace
(``STALL`` for a span with almost nothing) was (at least partly) stopped, and so was a later span
with under ``PART`` of its own project's pace in its other working spans (a stoppage began or ended
inside it); the others are *working* spans. On date D the register is read like this:

0. **Reporters who round up.** Some reporters add a few points and round their figures up to fives.
   How many do (by maximum likelihood: a project's figures are all multiples of five if its reporter
   rounds, or by chance, one time in five a figure) and how many points they run ahead (a project's
   first figure after its planned start against the one its later pace implies, such reporters
   against the others) are measured on the register; each project's figures under 100 are taken
   back by those points times the odds, from its own figures, that its reporter is one of them.
1. **Deadline run-in.** A crew behind its plan near its planned finish works faster (overtime). How
   much faster, and over how many days before the planned finish (one of ``RUN_IN_CHOICES``), is
   measured within projects: the working spans of a project behind plan in its run-in against the
   same project's other working spans (least squares in logs, each project its own baseline; the
   first span, which holds a late start and a first figure rounded up, gets a term of its own).
   The run-in length is the one that fits best, counting its extra term (BIC).
2. **Working pace.** A project's own pace is its plan days over its days in working spans, with the
   run-in speed-up taken out — so a past stoppage neither drags it down nor counts twice (stoppages
   are priced in step 4). Its first span (a late start, a first figure rounded up) counts only when
   it has no other, and a span weighs less the older it is (``RECENT_DAYS``: the pace a crew keeps
   now is the one ahead of it). How much the pace of a project's spans wanders about its own pace is
   measured on the register too, which says how much a project's own days are worth.
3. **Reference class.** The typical working pace of each category and of each responsible unit
   (a ridge fit of category + unit effects over the other projects, its strength chosen by
   generalised cross-validation; the projects far under the fit — ``CLASS_OUTLIER`` robust spreads,
   dragged down by stoppages their spans did not show, never up — held back and the fit made again),
   and how far projects spread about it. A project's pace is its own and its class's weighed by
   what each is worth (a normal posterior in logs): a project just started leans on its class, one
   with months of working spans on itself.
4. **Stoppages apart.** How often a stoppage begins — per day a project is open, or per share of
   its planned duration, whichever explains the register's stoppages better — inside a project's
   planned window and after its planned finish (counted apart, the latter drawn towards the former
   until the register has seen enough days after planned finishes); how long stoppages last, with
   the ones still going on counted as at least as long as seen (Kaplan–Meier); and how long a
   stoppage went on after a report found it.
5. **Monte Carlo.** ``SAMPLES`` futures per project: a pace drawn from the posterior (and the
   wander over the days left), stoppages drawn at the register's rate over the working days left,
   a project stopped now waiting as long as the register's stoppages went on after being found,
   then the work left done at that pace, speeded up in the run-in while behind plan. Their median is
   the forecast finish, their 10th–90th percentiles the 80 % interval, and the share after opening
   day the probability of missing it.

Nothing is tuned to a particular season: every rate, speed-up, spread and length is measured afresh
on each register and date; the few constants below only say what counts as stopped, how fast an
old span's weight fades, what counts as far under a class, the least spread and wander assumed
(``MIN_SPREAD``, ``MIN_WANDER``: a register too regular to show any does
not make a few days of reports conclusive), and how much a fit is held back when there is little to
learn from. With too little history for a part, that part falls back to the plan's own pace, no
speed-up, no stoppages, and ``DEFAULT_SPREAD``.

A project with no progress yet starts at the later of its planned start and D, at its class's pace;
so does one whose only span is too slow to read as working (a late start: on the register a slow
first span says little about a crew's pace). A project stopped now while the register has seen too
few stoppages to say how long one lasts is forecast at its whole history's pace, the stop included.
A project reported done has finished: probability 0 (1 if it finished after opening day). One not
reported done on D has not finished before D as far as the register knows, so its finish is forecast
on that condition: a future that would have ended before D is carried forward — the work it had left
at the latest report starts on D, anywhere from none to all of it still left (a uniform share) —
and its finish, interval and probability are at or after D (``Outlook.passed``: the median of the
futures before that, when it lay before D). A project not reported done by opening day (read on it
or after it) has missed it: probability 1 (``Outlook.missed``).

Steps 0–4 are learnt once (``fit_pool``: a ``Pool``) from the reports dated up to the last checkpoint
on or before D, not up to D (``Pool`` says why: one report then costs one project's forecast); each
project is then forecast (``forecast``) from the pool and its own reports up to D. Its futures are
drawn from random numbers of its own (a fixed seed and its code), so the same version on the same
date gives the same figures, whichever other projects are forecast with it.

Hand-written with numpy: the pieces (a one-parameter likelihood, a within-project least squares,
a ridge fit, a normal posterior, Kaplan–Meier, a Poisson count, a piecewise finish time) are a few lines each, and no
installed library fits them together this way.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from completion.register import Project, Report

MIN_ELAPSED = 10  # days of history before a project's whole-history pace counts towards its class's usual pace
MIN_CLASS = 8  # projects a class needs for its usual pace, else the next wider class is used
STALL = 0.1  # a span under this share of its class's usual pace: stopped (a report can find a project stopped)
ROUGH = 0.3  # a span under this share: (partly) stopped, so not a working span; its lost days are a stoppage's
MIN_LOST = 3.0  # lost days below which a rough span is taken for wobble, not a stoppage
PART = 0.5  # a later span under this share of its project's own working pace: partly stopped, not working
RECENT_DAYS = 40.0  # a span's weight in its project's working pace: exp(-days from it to the latest report / this)
CLASS_OUTLIER = 3.0  # a project's pace this many robust spreads under its class fit: held back in the class fit
MAX_ROUND_POINTS = 15.0  # rounding reporters are taken to run at most this many points ahead
RUN_IN_CHOICES = (0, 10, 15, 20, 25, 30)  # run-in lengths tried (days before the planned finish); 0: no run-in
MAX_SPEED_UP = 2.0  # the run-in speed-up is taken as at most this
MIN_FIT = 10  # projects with two working spans the run-in fit needs (else no run-in, no first-span term)
RIDGE_CHOICES = (1.0, 3.0, 10.0, 30.0, 100.0)  # strengths tried for the class fit (in projects' worth)
MIN_SPREAD = 0.1  # projects of one class differ in pace by at least about this much (log pace)
DEFAULT_SPREAD = 0.35  # log-pace spread assumed when the register is too small to measure one
# A crew's pace wanders from day to day (weather, crew size) by at least this (log pace, squared, per
# day): a register reported too regularly to show any wander does not make a few days conclusive.
MIN_WANDER = 0.3**2
MIN_WAITS = 10  # stoppages the register needs before stoppages are priced in
PRIOR_WINDOWS = 2.5  # the rate after planned finishes is drawn towards the rate inside by this many windows' worth
SAMPLES = 500
PACE_FLOOR = 0.02  # plan days a day: no pace is taken as lower (a stalled project still ends some day)
LATEST = 365  # days after opening day beyond which finishes are not told apart


@dataclass(frozen=True)
class Reference:
    """A forecast's reference class, the projects whose pace it learns from: the other projects of
    its category and of its unit; with none, the whole register (``register``: how many); with too
    few projects to learn from, the plan's own pace (every field None)."""

    category: str | None = None
    category_others: int = 0
    unit: str | None = None
    unit_others: int = 0
    register: int | None = None

    def text(self) -> str:
        if self.category is not None:
            return f"{self.category}, {self.category_others} other projects; {self.unit}, {self.unit_others} other projects"
        if self.register is not None:
            return f"the whole register, {self.register} other projects"
        return "the plan's own pace (too few projects to learn from)"


@dataclass(frozen=True)
class Basis:
    """How a forecast was made, in parts: the API words it in English (``text``, ``str``), a page
    in its reader's language from the same parts (web.panels.basis_words).

    ``kind``: "done" (reported done on ``done_on``); "pace" (``own`` percent its own working pace
    over ``days`` days, the rest its ``reference`` class); "slow_start" (no working span yet: the
    class's pace); "stopped" (stopped now: resumes after a wait drawn from ``stoppages`` seen, then
    "pace" or "slow_start" as ``then``); "stopped_few" (stopped, too few stoppages seen to say how
    long one lasts: ``own`` percent its whole history's pace over ``days`` days, the rest its class);
    "no_progress" (the class's pace); "note" (``note``, a forecaster's own words: the benchmarks'
    baseline). ``missed``: the opening day it was not reported done by (it missed it).
    """

    kind: str
    reference: Reference | None = None
    own: int | None = None  # percent
    days: int | None = None
    stoppages: int | None = None
    then: Basis | None = None
    done_on: date | None = None
    missed: date | None = None
    note: str | None = None
    passed: date | None = None  # the finish its futures from its latest report pointed to, gone by unreported


    def text(self) -> str:
        ref = self.reference.text() if self.reference else ""
        if self.passed is not None:
            return (
                f"not reported done by {self.passed.isoformat()}, the finish forecast from its latest report: "
                "the work then left is carried forward to the date read (none to all of it still left); "
                + replace(self, passed=None).text()
            )
        if self.missed is not None:
            return (
                f"not reported done by opening day {self.missed.isoformat()}: missed it; forecast "
                + replace(self, missed=None).text()
            )
        if self.kind == "done":
            return f"reported done on {self.done_on.isoformat() if self.done_on else '?'}"
        if self.kind == "pace":
            return f"{self.own}% its own working pace over {self.days} days, {100 - (self.own or 0)}% its reference class ({ref})"
        if self.kind == "slow_start":
            return f"no working span yet (a late or slow start): the pace of its reference class ({ref})"
        if self.kind == "stopped":
            then = self.then.text() if self.then else ""
            return f"stopped: resumes after a wait drawn from {self.stoppages} stoppages seen, then " + then
        if self.kind == "stopped_few":
            return (
                f"stopped (too few stoppages seen to say how long one lasts): {self.own}% its whole history's pace "
                f"over {self.days} days, {100 - (self.own or 0)}% its reference class ({ref})"
            )
        if self.kind == "no_progress":
            return f"no progress yet: the pace of its reference class ({ref})"
        return self.note or ""

    __str__ = text


@dataclass(frozen=True)
class Outlook:
    """A project's forecast: probability of missing opening day, forecast finish and its interval."""

    p_late: float
    finish: date
    low: date
    high: date
    pace: float | None  # working pace assumed, plan days a day (1 = the plan's pace); None when done
    basis: Basis
    missed: bool = False  # not reported done by the date read, which is opening day or after: p_late is 1
    # The finish its futures from its latest report pointed to (their median) when that lay before the
    # date read while it is not reported done: gone by, so the forecast is carried forward (``_forecast``).
    passed: date | None = None


@dataclass
class _Track:
    project: Project
    duration: int
    days: np.ndarray  # report dates as ordinals
    earned: np.ndarray  # plan days earned at each report
    done_on: date | None
    percent: np.ndarray  # the figure of each report
    fives: tuple[int, bool]  # how many figures can tell a reporter who rounds to fives, and whether all are fives


def _earned(project: Project, duration: int, percent: np.ndarray) -> np.ndarray:
    """The plan days earned at each figure (completion.schedule.earned_schedule_days for all at once)."""
    if project.planned_finish > project.planned_start:
        share = np.minimum(np.maximum(percent / 100.0, 0.0), 1.0)  # (np.clip costs more on a few figures)
        if project.curve == "s_curve":
            share = np.minimum(np.maximum(0.5 - np.sin(np.arcsin(1.0 - 2.0 * share) / 3.0), 0.0), 1.0)
        earned = share * duration
    else:
        earned = percent / 100.0
    # 0% is no progress (the S-curve's inverse gives a rounding speck above zero there).
    return np.minimum(np.where(percent > 0.0, earned, 0.0), duration)


def _track(project: Project, reports: Sequence[Report], on: date) -> _Track:
    latest: dict[date, float] = {}
    for r in sorted((r for r in reports if r.on <= on), key=lambda r: (r.on, r.seq)):
        latest[r.on] = r.percent
    duration = max((project.planned_finish - project.planned_start).days, 1)
    done_on = next((d for d, p in latest.items() if p >= 100.0), None)
    days = np.array([d.toordinal() for d in latest], dtype=float)
    percent = np.array(list(latest.values()), dtype=float)
    return _Track(
        project, duration, days, _earned(project, duration, percent), done_on, percent, _fives(latest.values())
    )


def _fives(figures: Iterable[float]) -> tuple[int, bool]:
    """How many of a project's figures can tell a reporter who rounds to fives (those above 0 and
    under 99), and whether they are all multiples of five."""
    told = [f for f in figures if 0.0 < f < 99.0]
    return len(told), all(f % 5.0 == 0.0 for f in told)


@dataclass(frozen=True)
class Rounding:
    """Reporters who round their figures up to fives (step 0): their share of the register's reporters
    and how many points their figures run ahead of the others'."""

    share: float
    points: float

    def odds(self, t: _Track) -> float:
        """The odds that a project's reporter rounds up, from its own figures: all multiples of five
        happen by chance one time in five a figure for a reporter who does not."""
        told, fives = t.fives
        if not told or not fives or self.share <= 0.0:
            return 0.0
        return self.share / (self.share + (1.0 - self.share) * 0.2**told)

    def apply(self, t: _Track) -> _Track:
        """The track with its figures (under 100) taken back by the points its reporter probably runs ahead."""
        shift = self.points * self.odds(t)
        if shift <= 0.0:
            return t
        open_ = (t.percent > 0.0) & (t.percent < 100.0)
        percent = np.where(open_, np.maximum(t.percent - shift, 0.0), t.percent)
        return replace(t, earned=_earned(t.project, t.duration, percent))


NO_ROUNDING = Rounding(0.0, 0.0)


def _rounding(tracks: Sequence[_Track]) -> Rounding:
    """How many of the register's reporters round up to fives (by maximum likelihood: a project's
    figures are all fives if its reporter rounds, or by chance), and how many points they run ahead:
    a project's first figure after its planned start against the one its later pace implies (a late
    start and the curve weigh on both kinds of reporter alike), reporters who round against the others."""
    told = np.array([t.fives for t in tracks], dtype=int).reshape(-1, 2)
    told = told[told[:, 0] > 0]
    if len(told) < 2 * MIN_FIT or int(told[:, 1].sum()) < MIN_FIT:
        return NO_ROUNDING
    chance = 0.2 ** told[:, 0].astype(float)
    fives = told[:, 1] == 1
    grid = np.linspace(0.0, 0.95, 96)[:, None]
    like = np.where(fives, grid + (1.0 - grid) * chance, (1.0 - grid) * (1.0 - chance))
    share = float(grid[int(np.argmax(np.log(like + 1e-12).sum(axis=1))), 0])
    ahead: list[float] = []
    others: list[float] = []
    for t in tracks:
        n_told, all_fives = t.fives
        if t.done_on is not None or n_told < 2:
            continue
        start = t.project.planned_start.toordinal()
        k = int(np.searchsorted(t.days, start, side="right"))  # the first report after the planned start
        if k >= len(t.days) - 1 or t.earned[-1] <= t.earned[k] or t.days[k] <= start:
            continue
        later = (t.earned[-1] - t.earned[k]) / (t.days[-1] - t.days[k])
        x = min(later * (t.days[k] - start) / t.duration, 1.0)
        implied = 100.0 * (x * x * (3.0 - 2.0 * x) if t.project.curve == "s_curve" else x)
        (ahead if all_fives else others).append(float(t.percent[k]) - implied)
    if len(ahead) < MIN_FIT // 2 or len(others) < MIN_FIT:
        return Rounding(share, 0.0)
    return Rounding(share, float(np.clip(np.median(ahead) - np.median(others), 0.0, MAX_ROUND_POINTS)))


def _classes(p: Project) -> tuple[tuple[str, ...], ...]:
    return ((p.category, p.responsible_unit), (p.category,), ())


def _usual_by_class(tracks: Sequence[_Track]) -> dict[tuple[str, ...], float]:
    """Each class's usual pace (median whole-history pace of its projects): the yardstick a span is
    called stopped against."""
    by: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for t in tracks:
        if not len(t.days):
            continue
        elapsed = t.days[-1] - t.project.planned_start.toordinal()
        if elapsed >= MIN_ELAPSED:
            for key in _classes(t.project):
                by[key].append(max(float(t.earned[-1]) / elapsed, PACE_FLOOR))
    return {k: float(np.median(v)) for k, v in by.items() if len(v) >= MIN_CLASS}


def _usual_paces(tracks: Sequence[_Track], usual: dict[tuple[str, ...], float]) -> np.ndarray:
    """Each project's class's usual pace (same category and unit, else category, else register)."""
    out = np.ones(len(tracks))
    for i, t in enumerate(tracks):
        for key in _classes(t.project):
            if key in usual:
                out[i] = usual[key]
                break
    return out


class _Spans:
    """Every span of every project, as arrays (one entry a span)."""

    def __init__(self, tracks: Sequence[_Track], usual: np.ndarray):
        n = len(tracks)
        self.finish = np.array([float(t.project.planned_finish.toordinal()) for t in tracks])
        self.start = np.array([float(t.project.planned_start.toordinal()) for t in tracks])
        self.duration = np.array([float(t.duration) for t in tracks])
        counts = np.array([len(t.days) for t in tracks], dtype=int)
        every = np.repeat(np.arange(n), counts)
        day = np.concatenate([t.days for t in tracks]) if n else np.zeros(0)
        earned = np.concatenate([t.earned for t in tracks]) if n else np.zeros(0)
        # Reports on (or before) the planned start only set where the first span starts from.
        early = day <= self.start[every]
        from_earned = np.zeros(n)
        np.maximum.at(from_earned, every[early], earned[early])
        owner, b, e = every[~early], day[~early], earned[~early]
        first = np.ones(len(owner), dtype=bool)
        first[1:] = owner[1:] != owner[:-1]
        self.owner = owner
        self.a = np.where(first, self.start[owner], np.roll(b, 1))
        before = np.where(first, from_earned[owner], np.roll(e, 1))
        self.b, self.de = b, e - before
        self.dt = self.b - self.a
        self.first = first
        self.done = e >= self.duration[owner]
        self.behind = before < self.a - self.start[owner]
        usual_pace = usual[self.owner] * self.dt
        self.flat = ~self.done & (self.de < STALL * usual_pace)
        self.rough = ~self.done & (self.de < ROUGH * usual_pace)
        self.working = ~self.rough & ~self.done & (self.de > 0)
        # A later span well under its project's own pace in its other working spans was partly stopped
        # (a stoppage began or ended inside it): not a working span either, its lost days a stoppage's.
        for _ in range(2):
            w = self.working & ~first
            worked = np.bincount(owner[w], self.dt[w], minlength=n)
            pace = np.bincount(owner[w], self.de[w], minlength=n) / np.where(worked > 0, worked, 1.0)
            part = w & (self.de < PART * pace[owner] * self.dt)
            if not part.any():
                break
            self.working &= ~part
            self.rough |= part

    def run_in_share(self, days: int) -> np.ndarray:
        """The share of each span in the run-in (its last ``days`` before the planned finish, and
        after) while behind plan."""
        if not days or not len(self.owner):
            return np.zeros(len(self.owner))
        from_day = np.maximum(self.a, self.finish[self.owner] - days)
        return np.where(self.behind, np.clip(self.b - from_day, 0.0, None) / self.dt, 0.0)


def _run_in(spans: _Spans, n: int) -> tuple[int, float, float]:
    """(run-in days, log speed-up in it, log first-span term), fitted within projects (step 1)."""
    w = spans.working
    counts = np.bincount(spans.owner[w], minlength=n)
    use = w & (counts[spans.owner] >= 2)
    if int((counts >= 2).sum()) < MIN_FIT:
        return 0, 0.0, 0.0
    own, dt = spans.owner[use], spans.dt[use]
    y = np.log(spans.de[use] / dt)
    weight = np.bincount(own, dt, minlength=n)

    def centred(v: np.ndarray) -> np.ndarray:
        return v - (np.bincount(own, dt * v, minlength=n) / np.where(weight > 0, weight, 1.0))[own]

    yc, first_c = centred(y), centred(spans.first[use].astype(float))
    best: tuple[float, int, float, float] | None = None
    m = len(y)
    for days in RUN_IN_CHOICES:
        x = np.stack([centred(spans.run_in_share(days)[use]), first_c], axis=1)
        xtx = (x * dt[:, None]).T @ x + 1e-9 * np.eye(2)
        coef = np.linalg.solve(xtx, (x * dt[:, None]).T @ yc)
        ssr = float((dt * (yc - x @ coef) ** 2).sum())
        bic = m * math.log(max(ssr, 1e-12) / m) + (2 if days else 1) * math.log(m)
        if best is None or bic < best[0]:
            best = (bic, days, float(coef[0]) if days else 0.0, float(coef[1]))
    assert best is not None
    _, days, speed_up, first = best
    return days, min(max(speed_up, 0.0), math.log(MAX_SPEED_UP)), first


def _kaplan_meier(lengths: Sequence[tuple[float, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of stoppage lengths, ``(length, ended)``: one still going on counts
    as at least as long as seen; what is left beyond the longest ended one sits on the longest seen."""
    x = np.array([v for v, _ in lengths])
    ended = np.array([e for _, e in lengths], dtype=bool)
    order = np.lexsort((~ended, x))  # by length, an ended one before one still going on at the same length
    x, ended = x[order], ended[order]
    left, support, mass = 1.0, [], []
    for k in range(len(x)):
        if ended[k]:
            p = left / (len(x) - k)
            support.append(float(x[k]))
            mass.append(p)
            left -= p
    if left > 1e-9:
        support.append(float(x.max()))
        mass.append(left)
    probs = np.asarray(mass)
    return np.asarray(support), probs / probs.sum()


@dataclass
class _Stoppages:
    """How stoppages come and go on the register (step 4)."""

    per_share: bool  # the rate is per share of the planned duration (else per day)
    rate_inside: float  # stoppages beginning per unit of exposure inside the planned window
    rate_after: float  # ... after the planned finish
    lengths: np.ndarray  # support of the lengths (lost days)
    probs: np.ndarray
    waits: np.ndarray  # how long stoppages went on after a report found them
    wait_owner: np.ndarray  # the code of the project each wait was seen on
    seen: int

    @property
    def priced(self) -> bool:
        return self.seen >= MIN_WAITS and self.rate_inside > 0


def _stoppages(tracks: Sequence[_Track], spans: _Spans, working_pace: np.ndarray) -> _Stoppages:
    n_spans = len(spans.owner)
    inside = np.clip(
        np.minimum(spans.b, spans.finish[spans.owner]) - np.maximum(spans.a, spans.start[spans.owner]), 0.0, None
    ) if n_spans else np.zeros(0)  # fmt: skip
    open_ = ~spans.done & ~spans.first
    began = np.zeros(n_spans)  # 1 for the span a kept stoppage began in
    began_inside = np.zeros(n_spans)  # the chance it began inside the planned window
    lengths: list[tuple[float, bool]] = []
    waits: list[float] = []
    wait_owner: list[str] = []
    lost_all = np.clip(spans.dt - spans.de / np.maximum(working_pace[spans.owner], PACE_FLOOR), 0.0, spans.dt)
    owner, rough, flat = spans.owner.tolist(), spans.rough.tolist(), spans.flat.tolist()
    a, b, lost = spans.a.tolist(), spans.b.tolist(), lost_all.tolist()
    finish = spans.finish.tolist()
    k = 0
    while k < n_spans:
        i = owner[k]
        end = k
        while end < n_spans and owner[end] == i:
            end += 1
        run, run_at = 0.0, -1
        for j in range(k, end):
            if not open_[j]:
                continue
            if rough[j]:
                if not run:
                    run_at = j
                    # It began before the span's lost days at the latest.
                    latest = max(b[j] - lost[j], a[j])
                    began_inside[j] = (
                        float(a[j] < finish[i]) if latest <= a[j] else max(0.0, min(latest, finish[i]) - a[j]) / (latest - a[j])
                    )  # fmt: skip
                run += lost[j]
            elif run:
                if run >= MIN_LOST:
                    lengths.append((run, True))
                    began[run_at] = 1.0
                run = 0.0
            if flat[j]:
                nxt = j + 1
                while nxt < end and flat[nxt]:
                    nxt += 1
                # To the middle of the first span that shows progress again; still stopped at the
                # latest report: as long as seen so far (this errs short).
                waits.append(a[nxt] - b[j] + (b[nxt] - a[nxt]) / 2.0 if nxt < end else b[end - 1] - b[j])
                wait_owner.append(tracks[i].project.code)
        if run >= MIN_LOST:
            lengths.append((run, False))
            began[run_at] = 1.0
        k = end
    # Per day or per share of the planned duration: whichever makes the stoppages seen likelier.
    scale = spans.duration[spans.owner] if n_spans else np.zeros(0)
    best: tuple[float, bool] | None = None
    for per_share in (False, True):
        unit = np.where(open_, spans.dt / (scale if per_share else 1.0), 0.0)
        total = float(unit.sum())
        if total <= 0 or not began.any():
            break
        rate = float(began.sum()) / total
        with np.errstate(divide="ignore"):
            loglik = float((began * np.log(rate / (scale if per_share else 1.0))).sum()) - rate * total
        if best is None or loglik > best[0]:
            best = (loglik, per_share)
    per_share = best[1] if best else False
    norm = scale if per_share else np.ones(n_spans)
    x_in = float((np.where(open_, inside, 0.0) / np.maximum(norm, 1e-9)).sum())
    x_after = float((np.where(open_, spans.dt - inside, 0.0) / np.maximum(norm, 1e-9)).sum())
    n_in = float((began * began_inside).sum())
    n_after = float((began * (1.0 - began_inside)).sum())
    rate_inside = n_in / x_in if x_in > 0 else 0.0
    prior = PRIOR_WINDOWS * (1.0 if per_share else float(np.mean(spans.duration)) if len(spans.duration) else 0.0)
    rate_after = (n_after + prior * rate_inside) / (x_after + prior) if x_after + prior > 0 else rate_inside
    support, probs = _kaplan_meier(lengths) if lengths else (np.zeros(0), np.zeros(0))
    return _Stoppages(
        per_share, rate_inside, rate_after, support, probs, np.asarray(waits), np.asarray(wait_owner, dtype=str),
        len(lengths),
    )  # fmt: skip


@dataclass
class _ClassFit:
    """Category + unit effects on the working log pace (step 3), as learnt from the pool."""

    coef: np.ndarray | None  # register mean, category and unit effects; None: too few projects to learn from
    column: dict[tuple[str, str], int]  # ("c", category) / ("u", unit) -> its effect's index in coef
    loo: dict[str, float]  # a pool project's class log pace, fitted without it (by code)
    spread2: float  # squared spread of projects about their class
    n_cat: dict[str, int]  # projects with a working pace in the pool, by category
    n_unit: dict[str, int]  # ... by unit
    n_all: int

    def mean(self, p: Project) -> float:
        if self.coef is None:
            return 0.0
        if p.code in self.loo:
            return self.loo[p.code]
        return float(
            self.coef[0] + sum(self.coef[self.column[k]] for k in (("c", p.category), ("u", p.responsible_unit)) if k in self.column)
        )  # fmt: skip

    def reference(self, p: Project) -> Reference:
        if self.coef is None:
            return Reference()
        mine = int(p.code in self.loo)
        own_c, own_u = self.n_cat.get(p.category, 0) - mine, self.n_unit.get(p.responsible_unit, 0) - mine
        if own_c or own_u:
            return Reference(p.category, own_c, p.responsible_unit, own_u)
        return Reference(register=self.n_all - mine)


def _class_fit(tracks: Sequence[_Track], own: np.ndarray, own_var: np.ndarray) -> _ClassFit:
    """A ridge fit of category + unit effects, its strength chosen by generalised cross-validation."""
    have = np.isfinite(own_var)
    n_cat: dict[str, int] = defaultdict(int)
    n_unit: dict[str, int] = defaultdict(int)
    for i in np.flatnonzero(have).tolist():
        n_cat[tracks[i].project.category] += 1
        n_unit[tracks[i].project.responsible_unit] += 1
    n_all = int(have.sum())
    if n_all < 3:
        return _ClassFit(None, {}, {}, DEFAULT_SPREAD**2, dict(n_cat), dict(n_unit), n_all)
    fitted_on = [tracks[i].project for i in np.flatnonzero(have).tolist()]
    cats = sorted({p.category for p in fitted_on})
    units = sorted({p.responsible_unit for p in fitted_on})
    col = {("c", c): 1 + j for j, c in enumerate(cats)} | {("u", u): 1 + len(cats) + j for j, u in enumerate(units)}
    xh = np.zeros((n_all, 1 + len(col)))
    xh[:, 0] = 1.0
    for i, p in enumerate(fitted_on):
        xh[i, col[("c", p.category)]] = 1.0
        xh[i, col[("u", p.responsible_unit)]] = 1.0
    yh = own[have]

    def ridge(wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xtx, xty = (xh * wt[:, None]).T @ xh, (xh * wt[:, None]).T @ yh
        best: tuple[float, np.ndarray] | None = None
        for strength in RIDGE_CHOICES:
            penalty = strength * np.eye(xh.shape[1])
            penalty[0, 0] = 1e-9  # the register's mean itself is not held back
            inv = np.linalg.inv(xtx + penalty)
            fitted = xh @ (inv @ xty)
            trace = float(np.trace(inv @ xtx))
            gcv = float(np.mean(wt * (yh - fitted) ** 2)) / max(1.0 - trace / len(yh), 1e-3) ** 2
            if best is None or gcv < best[0]:
                best = (gcv, inv)
        assert best is not None
        return best[1], best[1] @ xty

    wt = np.ones(len(yh))
    inv, coef = ridge(wt)
    # A stoppage its spans did not show drags a project's pace down, never up: the projects far under
    # their class fit are held back (one-sided) and the fit made again.
    res = yh - xh @ coef
    low = res < np.median(res) - CLASS_OUTLIER * 1.4826 * float(np.median(np.abs(res - np.median(res))))
    if low.any() and int((~low).sum()) >= 3:
        wt = np.where(low, 1e-3, 1.0)
        wt = wt / wt.mean()
        inv, coef = ridge(wt)
    # Each project's class judged without it (leave one out, from the hat matrix's diagonal).
    leverage = ((xh @ inv) * xh).sum(axis=1) * wt
    loo = (xh @ coef - leverage * yh) / np.maximum(1.0 - leverage, 1e-3)
    resid = yh - loo
    mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    spread2 = max(mad**2 - float(np.median(own_var[have])), MIN_SPREAD**2)
    by_code = {p.code: float(v) for p, v in zip(fitted_on, loo.tolist(), strict=True)}
    return _ClassFit(coef, col, by_code, spread2, dict(n_cat), dict(n_unit), n_all)


def _finish(
    t0: np.ndarray, e0: np.ndarray, pace: np.ndarray, speed_up: np.floating | float, start: np.ndarray, finish: np.ndarray,
    duration: np.ndarray, run_in: int,
) -> np.ndarray:  # fmt: skip
    """The day the work is done, starting on ``t0`` with ``e0`` plan days earned, at ``pace``; in the
    run-in (from ``run_in`` days before the planned finish on) a crew behind plan (earned below the
    days since the planned start) works ``speed_up`` times as fast, and one that catches up keeps to
    the plan (or goes on at its own pace if that is faster)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        run_from = finish - run_in if run_in else np.full_like(finish, np.inf)
        before = t0 + (duration - e0) / pace
        done_before = (t0 < run_from) & (before <= run_from)
        t1 = np.maximum(t0, run_from)
        e1 = np.minimum(np.where(t0 < run_from, e0 + pace * (run_from - t0), e0), duration)
        gap = (t1 - start) - e1  # days behind plan when the run-in begins
        left = duration - e1
        fast = pace * speed_up
        # Behind: works fast until caught up with the plan, then keeps to it (or its own faster pace).
        catch = np.where(fast > 1.0, gap / (fast - 1.0), np.inf)
        caught = (fast > 1.0) & (fast * catch < left)
        after_catch = np.where(pace >= 1.0, t1 + catch + (left - fast * catch) / pace, finish)
        behind = np.where(caught, after_catch, t1 + left / fast)
        # On or ahead of plan: its own pace until the plan catches up with it, then as above.
        fall = np.where(pace < 1.0, -gap / (1.0 - pace), np.inf)
        falls = (pace < 1.0) & (pace * fall < left)
        after_fall = np.where(fast > 1.0, finish, t1 + fall + (left - pace * fall) / fast)
        ahead = np.where(falls, after_fall, t1 + left / pace)
        return np.where(done_before, before, np.where(gap > 0, behind, ahead))


SEED = 20261105


def pool_checkpoint(on: date, opening: date, every: int = 10) -> date:
    """The last checkpoint on or before ``on`` (every ``every`` days back from opening day, and on
    past it after opening day): the pool is learnt from the reports dated up to it."""
    return opening - timedelta(days=every * math.ceil((opening - on).days / every))


@dataclass(frozen=True)
class Pool:
    """What the register teaches about how projects progress (steps 0–4): the reporters who round up,
    the class yardsticks, the run-in, the wander, the reference classes and the stoppages, learnt
    from every project's reports dated up to ``checkpoint``, the last checkpoint on or before the
    forecast date — the register as it stood at the end of that checkpoint day (as known to the
    version read).

    Why there and not on the forecast date: a report dated after the checkpoint (a unit reporting
    today, the usual case) then changes its own project's forecast only, so a new version of the
    register is forecast again only for the projects it touched, and every figure stays a function
    of the version and the date alone. A back-dated report (dated on or before the checkpoint), a
    changed class or plan of a project that has such reports, and any report dated on a checkpoint
    day read on that day change the pool, and then every project is forecast again. The price: the
    pool lags the register by up to ``checkpoint_days - 1`` days (each project's own reports up to the
    forecast date still count in full); on a checkpoint day it is the whole register."""

    checkpoint: date
    usual: dict[tuple[str, ...], float]  # each class's usual pace (a span under ROUGH of it is not working)
    run_in: int
    speed_up: float  # log speed-up in the run-in
    first_term: float  # log term of a project's first span
    wander: float
    classes: _ClassFit
    stops: _Stoppages
    rounding: Rounding = NO_ROUNDING  # reporters who round up to fives, and by how many points (step 0)


def _working_pace(
    spans: _Spans, n: int, run_in: int, speed_up: float, first_term: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: each project's working log pace (run-in speed-up and first-span term taken out), its
    days in working spans, whether it has any, and each working span's log pace less its project's."""
    w = spans.working
    own_of = spans.owner[w]
    lift = np.exp(speed_up * spans.run_in_share(run_in)[w] + first_term * spans.first[w])
    # The first span (a late start, a first figure rounded up) counts only for a project with no other;
    # later spans weigh less the older they are (the pace a crew keeps now is the one ahead).
    later = np.bincount(own_of, ~spans.first[w], minlength=n) > 0
    newest = np.zeros(n)
    np.maximum.at(newest, spans.owner, spans.b)  # each project's latest report
    weight = np.where(spans.first[w] & later[own_of], 0.0, np.exp(-(newest[own_of] - spans.b[w]) / RECENT_DAYS))
    worked = np.bincount(own_of, weight * spans.dt[w], minlength=n)
    earned = np.bincount(own_of, weight * spans.de[w] / lift, minlength=n)
    has = worked > 0
    own = np.where(has, np.log(np.maximum(earned / np.where(has, worked, 1.0), PACE_FLOOR)), 0.0)
    resid = np.log(np.maximum(spans.de[w] / lift / spans.dt[w], PACE_FLOOR)) - own[own_of]
    return own, worked, has, resid


def _until(t: _Track, day: date) -> _Track:
    """The track as it stood on ``day`` (what ``_track`` gives from the same reports up to it)."""
    k = int(np.searchsorted(t.days, day.toordinal(), side="right"))
    if k == len(t.days):
        return t
    done_on = t.done_on if t.done_on and t.done_on <= day else None
    return _Track(
        t.project, t.duration, t.days[:k], t.earned[:k], done_on, t.percent[:k], _fives(t.percent[:k].tolist())
    )


def fit_pool(items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, every: int = 10) -> Pool:
    """The pool for forecasts on ``on``: learnt from every project's reports dated up to the last
    checkpoint on or before ``on`` (projects without any such report teach nothing)."""
    checkpoint = pool_checkpoint(on, opening, every)
    return _fit_pool([_track(p, rs, checkpoint) for p, rs in items], checkpoint)


def _fit_pool(tracks_then: Sequence[_Track], checkpoint: date) -> Pool:
    rounding = _rounding(tracks_then)
    tracks = [rounding.apply(t) for t in tracks_then if len(t.days)]
    n = len(tracks)
    usual = _usual_by_class(tracks)
    spans = _Spans(tracks, _usual_paces(tracks, usual))
    run_in, speed_up, first_term = _run_in(spans, n)
    own, worked, has, resid = _working_pace(spans, n, run_in, speed_up, first_term)
    w = spans.working
    counts = np.bincount(spans.owner[w], minlength=n)
    repeat = counts[spans.owner[w]] >= 2
    dof = float(np.maximum(counts - 1, 0).sum())
    wander = float((spans.dt[w] * resid**2)[repeat].sum()) / dof if dof >= MIN_FIT else DEFAULT_SPREAD**2 * 10.0
    wander = max(wander, MIN_WANDER)
    own_var = np.where(has, wander / np.where(has, worked, 1.0), np.inf)
    classes = _class_fit(tracks, own, own_var)
    class_mean = np.array([classes.mean(t.project) for t in tracks])
    stops = _stoppages(tracks, spans, np.exp(np.where(has, own, class_mean)))
    return Pool(checkpoint, usual, run_in, speed_up, first_term, wander, classes, stops, rounding)


def _stream(seed: int, code: str) -> np.random.Generator:
    """A project's own random numbers (Philox keyed by the seed and its code): its futures do not
    depend on which other projects are forecast with it."""
    return np.random.Generator(np.random.Philox(key=np.array([seed, zlib.crc32(code.encode())], dtype=np.uint64)))


def forecast(
    pool: Pool, items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, *,
    interval: float = 0.8, samples: int = SAMPLES, seed: int = SEED,
) -> list[Outlook]:  # fmt: skip
    """Each project's outlook on ``on`` from its own reports dated up to it and the pool: a project's
    outlook is the same whichever other projects are forecast with it."""
    return _forecast(pool, [_track(p, rs, on) for p, rs in items], on, opening, interval, samples, seed)


def _forecast(
    pool: Pool, tracks: Sequence[_Track], on: date, opening: date, interval: float, samples: int, seed: int
) -> list[Outlook]:
    tracks = [pool.rounding.apply(t) for t in tracks]
    n = len(tracks)
    spans = _Spans(tracks, _usual_paces(tracks, pool.usual))
    own, worked, has, _ = _working_pace(spans, n, pool.run_in, pool.speed_up, pool.first_term)
    wander = pool.wander
    own_var = np.where(has, wander / np.where(has, worked, 1.0), np.inf)
    classes, stops = pool.classes, pool.stops
    class_mean = np.array([classes.mean(t.project) for t in tracks])
    spread2 = classes.spread2
    precision = 1.0 / spread2 + np.where(has, 1.0 / np.where(has, own_var, 1.0), 0.0)
    post_mean = (class_mean / spread2 + np.where(has, own / np.where(has, own_var, 1.0), 0.0)) / precision
    post_var = 1.0 / precision
    own_weight = 1.0 - post_var / spread2

    lo_q, hi_q = 50.0 * (1.0 - interval), 50.0 * (1.0 + interval)
    today = on.toordinal()
    last_day = opening.toordinal() + LATEST
    last_span = np.full(n, -1)  # each project's latest span
    last_span[spans.owner] = np.arange(len(spans.owner))  # (spans are in order, so the last write wins)
    out: list[Outlook | None] = []
    rows: list[int] = []
    origins: list[float] = []
    e0s: list[float] = []
    waits = np.zeros((n, samples), dtype=np.float32)
    left_share = np.zeros((n, samples), dtype=np.float32)  # of the work left at the latest report, still left on ``on``
    normals = np.zeros((n, samples), dtype=np.float32)
    uniforms = np.zeros((n, 4, samples), dtype=np.float32)  # a stoppage count, then up to three lengths
    bases: list[Basis] = []
    for i, t in enumerate(tracks):
        p = t.project
        if t.done_on is not None:
            out.append(
                Outlook(
                    1.0 if t.done_on > opening else 0.0, t.done_on, t.done_on, t.done_on, None,
                    Basis("done", done_on=t.done_on),
                )
            )  # fmt: skip
            continue
        m = len(rows)
        stream = _stream(seed, p.code)
        normals[m] = stream.standard_normal(samples, dtype=np.float32)
        uniforms[m] = stream.random((4, samples), dtype=np.float32)
        progressed = len(t.days) > 0 and t.earned[-1] > 0
        k = int(last_span[i])
        ref = classes.reference(p)
        if progressed:
            origin, e0 = float(t.days[-1]), float(t.earned[-1])
            basis = (
                Basis("pace", ref, own=round(100 * float(own_weight[i])), days=round(float(worked[i])))
                if has[i]
                else Basis("slow_start", ref)
            )
            if k >= 0 and spans.flat[k] and not spans.first[k]:
                others = stops.waits[stops.wait_owner != p.code]
                if len(others) >= MIN_WAITS:
                    # Stopped now: a wait as long as the register's stoppages went on, then work.
                    pick = stream.integers(0, len(others), samples)
                    waits[m] = others[pick]
                    basis = Basis("stopped", ref, stoppages=len(others), then=basis)
                else:
                    # The register cannot yet say how long stoppages last: the whole history's pace,
                    # the stop included, weighed against the class the same way.
                    elapsed = max(float(t.days[-1]) - spans.start[i], 1.0)
                    hist_var = wander / elapsed
                    prec = 1.0 / spread2 + 1.0 / hist_var
                    hist = math.log(max(e0 / elapsed, PACE_FLOOR))
                    post_mean[i] = (class_mean[i] / spread2 + hist / hist_var) / prec
                    post_var[i] = 1.0 / prec
                    basis = Basis("stopped_few", ref, own=round(100 / hist_var / prec), days=round(elapsed))
        else:
            origin, e0 = float(max(p.planned_start.toordinal(), today)), 0.0
            basis = Basis("no_progress", ref)
        # Drawn last, so a project's other draws are as they were without it.
        left_share[m] = stream.random(samples, dtype=np.float32)
        rows.append(i)
        origins.append(origin)
        e0s.append(e0)
        bases.append(basis)
        out.append(None)
    if rows:
        idx = np.asarray(rows)
        m = len(rows)
        f32 = np.float32
        # Days from ``on`` in single precision: the futures are many, and a day is all that is told apart.
        origin_a = (np.asarray(origins) - today).astype(f32)[:, None]
        e0_a = np.asarray(e0s, dtype=f32)[:, None]
        wait = waits[:m]
        duration = spans.duration[idx].astype(f32)[:, None]
        start = (spans.start[idx] - today).astype(f32)[:, None]
        finish = (spans.finish[idx] - today).astype(f32)[:, None]
        mu = post_mean[idx][:, None]
        left = duration - e0_a
        # The pace: uncertain as the posterior says, and wandering over the days left (one normal draw
        # for both, as the sum of two independent normals is one).
        sd = np.sqrt(post_var[idx][:, None] + wander / np.maximum(left / np.exp(mu), 5.0))
        pace = np.maximum(np.exp(mu.astype(f32) + sd.astype(f32) * normals[:m]), f32(PACE_FLOOR))
        if stops.priced:
            # Stoppages yet to come, over the working days left (inside the planned window and after):
            # a Poisson count (up to three) and their lengths, each drawn by its inverse CDF.
            work_days = left / pace
            inside = np.clip(np.minimum(finish - (origin_a + wait), work_days), 0.0, None)
            norm = duration if stops.per_share else f32(1.0)
            expected = (f32(stops.rate_inside) * inside + f32(stops.rate_after) * (work_days - inside)) / norm
            u = uniforms[:m]
            term = np.exp(-expected)
            below = term  # P(count < c)
            cumulative = np.cumsum(stops.probs)
            for c in range(1, 4):
                more = np.nonzero(u[:, 0] >= below)
                at_u = u[:, c][more].astype(np.float64) * cumulative[-1]
                pick = np.minimum(np.searchsorted(cumulative, at_u, side="right"), len(cumulative) - 1)
                wait[more] += stops.lengths[pick].astype(f32)
                term = term * expected / c
                below = below + term
        done = _finish(origin_a + wait, e0_a, pace, f32(math.exp(pool.speed_up)), start, finish, duration, pool.run_in)
        done = np.minimum(np.ceil(done), f32(last_day - today)) + today
        # Not reported done on ``on``: as far as the register knows it has not finished before it, so its
        # finish is forecast on that condition. A future that ends before ``on`` is one the register
        # contradicts — the crew was held up, or worked slower, after its latest report — and it is
        # carried forward: the work it had left at the latest report starts on ``on`` instead, of which
        # anywhere from none to all is still left (the register shows neither: a uniform share). Futures
        # ending on ``on`` or after it stand. The longer a project goes unreported past its forecast,
        # the more of its futures are carried and the wider its interval; a project read on the day of
        # its latest report is unchanged. (Before this, a forecast gone by read as "0% chance of
        # missing opening day" beside a project not known to be done.)
        unconditioned = np.percentile(done, 50.0, axis=1, method="inverted_cdf").astype(int)
        gone = done < today
        if gone.any():
            worked = done - origin_a.astype(np.float64) - today  # days from the latest report to the finish
            carried = today + np.ceil(left_share[:m] * np.maximum(worked, 0.0))
            done = np.where(gone, carried, done)
        qs = np.percentile(done, [50.0, lo_q, hi_q], axis=1, method="inverted_cdf").astype(int)
        # A project not reported done on ``on`` finishes on it at the earliest (above): on opening day
        # or after it has missed it (p_late 1). The expo opens that morning: a project not reported
        # done by the opening-day checkpoint was not ready.
        missed = on >= opening
        p_late = np.ones(len(rows)) if missed else (np.maximum(done, today) > opening.toordinal()).mean(axis=1)
        at = [k for k, o in enumerate(out) if o is None]
        for row, (pos, i) in enumerate(zip(at, rows, strict=True)):
            passed = date.fromordinal(int(unconditioned[row])) if unconditioned[row] < today else None
            out[pos] = Outlook(
                float(p_late[row]),
                date.fromordinal(int(qs[0, row])),
                date.fromordinal(int(qs[1, row])),
                date.fromordinal(int(qs[2, row])),
                math.exp(float(post_mean[i])),
                replace(bases[row], missed=opening if missed else None, passed=passed),
                missed,
                passed,
            )
    return [o for o in out if o is not None]


def pooled_outlooks(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, *, interval: float = 0.8,
    samples: int = SAMPLES, seed: int = SEED, every: int = 10,
) -> tuple[Pool, list[Outlook]]:  # fmt: skip
    """``fit_pool`` and ``forecast`` of the same projects, each project's reports read once."""
    tracks = [_track(p, rs, on) for p, rs in items]
    checkpoint = pool_checkpoint(on, opening, every)
    pool = _fit_pool([_until(t, checkpoint) for t in tracks], checkpoint)
    return pool, _forecast(pool, tracks, on, opening, interval, samples, seed)


def outlooks(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, *, interval: float = 0.8,
    samples: int = SAMPLES, seed: int = SEED, every: int = 10,
) -> list[Outlook]:  # fmt: skip
    """Each project's outlook on ``on``: the pool learnt from all of them (``fit_pool``), then each
    forecast from its own reports dated up to ``on`` (``forecast``)."""
    return pooled_outlooks(items, on, opening, interval=interval, samples=samples, seed=seed, every=every)[1]
