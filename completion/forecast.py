"""Readiness forecasts: each project's probability of finishing by opening day, and a forecast
finish with an interval, learnt from the history of the whole register.

Progress is measured against the plan, earned-schedule style: a report of ``p`` percent means the
plan's first ``ES(p)`` days of work are done (``completion.schedule.earned_schedule_days``), and a
pace of 1 keeps up with the plan. For a project with progress on date D:

1. **Its own pace** is the plan days earned since the planned start over the days gone by (the
   whole history, not the last window: a stoppage or one slow fortnight dilutes it instead of
   collapsing it to zero).
2. **Its reference class** is the projects of the same category and unit (else the same category,
   else the whole register, when fewer than ``MIN_CLASS`` projects have ``MIN_ELAPSED`` days of
   history). The class's typical pace (median) and spread (MAD) are the prior; the project's own
   pace is weighted by ``days / (days + PRIOR_DAYS)``, so a project just started leans on its class
   and one with months of reports on itself.
3. **How such paces turned out while working.** Over the register's own history up to D, every
   report of an unfinished, working project gave the same measures; the pace actually reported
   10–60 days later — up to the first span that shows a stoppage — is regressed on them (in logs):
   the shrunk whole-history pace, the latest span's and the best span's pace beside it, for a
   project behind plan the share of the horizon spent in the run-in to its planned finish (its
   last ``CLOSING_DAYS`` and after, where crews put in overtime), and the horizon. Each project's
   forecast uses coefficients learnt from the *other* projects (leave one project out), and a
   measure is never extrapolated beyond the range learnt. The residuals — by horizon, and apart
   for projects whose history already had a near-stop — are the working forecast errors: they
   carry the register's productivity wobble, speed-ups near deadlines and reporters who round up.
4. **Stoppages apart, as a register-wide hazard.** A span (after the first, which holds the
   start's delay) with under ``STALL`` of its class's pace is a stoppage. How often one begins per
   day a project is open, and how long each lasted (from the last report that saw work to the last
   that saw none), are counted on the register's history. Baking stoppages into every residual
   would stretch a nearly finished project's few days as much as a long one's months; as a rate,
   the risk grows with the working days left.
5. **Monte Carlo.** The remaining plan days divided by the pace times a sampled error ratio give
   the working days left; over them stoppages begin at the register's rate (Poisson), each as long
   as one seen. ``SAMPLES`` such futures: their median is the forecast finish, their 10th–90th
   percentiles the 80 % interval, and their share after opening day the probability of missing it.
6. **A project stopped now** (its latest span nearly flat) is not forecast as a slow project: a
   stoppage ends. Its finish is a wait — sampled from how long the register's other stoppages went
   on after a report found them stopped — plus its remaining work at the pace of the days it
   worked, with the smooth projects' errors (and the hazard of further stoppages). With fewer than
   ``MIN_WAITS`` such stoppages on the register, it is forecast at its whole-history pace.

Nothing is tuned to a particular season: the coefficients, errors, stoppage rate and lengths are
measured afresh on each register and date.

A project with no progress yet starts at the later of its planned start and D and runs at its
class's pace (read through the same regression) with the class's spread. A project reported done
has finished: probability 0 (1 if it finished after opening day). Sampling uses a fixed seed, so
the same register gives the same figures.

Hand-written with numpy: the pieces (a shrinkage prior, a ridge least squares with one project
left out, resampled residuals, a Poisson stoppage count) are a few lines each, and no installed library fits them together
this way; scipy/statsmodels would add a dependency for a small part of it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from completion.register import Project, Report
from completion.schedule import earned_schedule_days

MIN_ELAPSED = 10  # days of history before a project's own pace counts towards its class
MIN_CLASS = 8  # projects a reference class needs, else the next wider class is used
PRIOR_DAYS = 10.0  # the class prior weighs as much as this many days of the project's own history
CLOSING_DAYS = 25  # the run-in: from this many days before the planned finish on (overtime territory)
MIN_POOL = 40  # forecast errors a pool needs, else the next wider pool is used
SAMPLES = 500
MAX_HORIZON = 60  # forecast errors are measured over at most this many days
YOUNG_DAYS = 25  # a history shorter than this has its own (wider) error pool
ROUGH = 0.3  # a span at under this share of the project's pace counts as (nearly) stopped
PACE_FLOOR = 0.02  # plan days a day: no pace is taken as lower (a stalled project still ends some day)
DEFAULT_SPREAD = 0.35  # log-pace spread assumed when the register is too small to measure one
RIDGE = 1.0  # pulls each coefficient towards "the shrunk pace alone" by as much as one pair would
MIN_WAITS = 10  # stoppages seen before their length is learnt from the register
STALL = 0.1  # a span at under this share of its class's pace counts as stopped (for the stoppage rate)
LATEST = 365  # days after opening day beyond which finishes are not told apart


@dataclass(frozen=True)
class Outlook:
    """A project's forecast: probability of missing opening day, forecast finish and its interval."""

    p_late: float
    finish: date
    low: date
    high: date
    pace: float | None  # plan days a day assumed (1 = the plan's pace); None when done
    basis: str


@dataclass
class _Track:
    project: Project
    duration: int
    days: np.ndarray  # report dates as ordinals
    earned: np.ndarray  # plan days earned at each report
    done_on: date | None

    def __post_init__(self) -> None:
        self.days_list: list[float] = [float(d) for d in self.days]
        self.earned_list: list[float] = [float(e) for e in self.earned]


def _track(project: Project, reports: Sequence[Report], on: date) -> _Track:
    latest: dict[date, float] = {}
    for r in sorted((r for r in reports if r.on <= on), key=lambda r: (r.on, r.seq)):
        latest[r.on] = r.percent
    duration = max((project.planned_finish - project.planned_start).days, 1)
    done_on = next((d for d, p in latest.items() if p >= 100.0), None)
    days = np.array([d.toordinal() for d in latest], dtype=float)
    earned = np.array(
        [
            earned_schedule_days(project.planned_start, project.planned_finish, p, project.curve)
            if project.planned_finish > project.planned_start
            else p / 100.0
            for p in latest.values()
        ]
    )
    # 0% is no progress (the S-curve's inverse gives a rounding speck above zero there).
    earned = np.where(np.array([p > 0.0 for p in latest.values()], dtype=bool), earned, 0.0)
    return _Track(project, duration, days, np.minimum(earned, duration), done_on)


def _robust(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values)
    m = float(np.median(a))
    return m, float(np.clip(1.4826 * np.median(np.abs(a - m)), 0.08, 1.0))


class _Classes:
    """Each reference class's typical log pace and spread."""

    def __init__(self, tracks: Sequence[_Track]):
        by: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for t in tracks:
            if not len(t.days):
                continue
            elapsed = t.days[-1] - t.project.planned_start.toordinal()
            if elapsed < MIN_ELAPSED:
                continue
            v = math.log(max(float(t.earned[-1]) / elapsed, PACE_FLOOR))
            p = t.project
            for key in ((p.category, p.responsible_unit), (p.category,), ()):
                by[key].append(v)
        self.stats = {k: (_robust(v), len(v)) for k, v in by.items() if len(v) >= MIN_CLASS}

    def prior(self, p: Project) -> tuple[float, float, str]:
        """(log pace, spread, description) of the project's reference class."""
        for key, name in (
            ((p.category, p.responsible_unit), f"{p.category} × {p.responsible_unit}"),
            ((p.category,), p.category),
            ((), "the whole register"),
        ):
            if key in self.stats:
                (m, s), n = self.stats[key]
                return m, s, f"{name}, {n} projects"
        return 0.0, DEFAULT_SPREAD, "the plan's own pace (too few projects to learn from)"


def _shrunk(log_own: float, elapsed: float, prior: tuple[float, float, str]) -> tuple[float, float]:
    """The project's log pace, its own weighted against its class by days of history; and the weight."""
    w = elapsed / (elapsed + PRIOR_DAYS)
    return w * log_own + (1.0 - w) * prior[0], w


def _horizon_bucket(days: float) -> int:
    return int(min(4, max(1, round(days / 10.0))))


def _features(t: _Track, k: int, prior: tuple[float, float, str]) -> tuple[list[float], float, int]:
    """The pace measures at report ``k`` (see ``_Errors``; the horizon is appended by the caller)
    the weight of the project's own history, and whether any span so far nearly stopped (a project
    with a rough history: its errors are drawn from such projects). Plain floats: this runs for
    every pair of reports."""
    start = t.project.planned_start.toordinal()
    days, earned = t.days_list, t.earned_list
    elapsed = days[k] - start
    own = math.log(max(earned[k] / elapsed, PACE_FLOOR))
    shrunk, w = _shrunk(own, elapsed, prior)
    before_day, before_earned, last, best, best_any, worst = float(start), 0.0, 0.0, -1.0, 0.0, math.inf
    for i in range(k + 1):
        span = days[i] - before_day
        pace = (earned[i] - before_earned) / max(span, 1.0)
        best_any = max(best_any, pace)
        if span >= 5:
            best = max(best, pace)
            if i > 0:  # the first span holds the start's delay, which every project may have
                worst = min(worst, pace)
        last, before_day, before_earned = pace, days[i], earned[i]
    if best < 0:
        best = best_any
    behind = float(earned[k] < elapsed)  # becomes the share of the horizon in the run-in (``_at_horizon``)
    stalled = float(last < 0.1 * math.exp(shrunk))
    log_last, log_best = math.log(max(last, PACE_FLOOR)), math.log(max(best, PACE_FLOOR))
    # The error pool's kind: 0 smooth, 1 a near-stop already, 2 a history still too short to tell.
    rough = 2 if elapsed < YOUNG_DAYS else int(worst < ROUGH * math.exp(shrunk))
    # The latest span's pace beside the whole history's, no lower than ROUGH of it: a near-stop is
    # the ``stalled`` measure's business (a log-linear term would read a stop as a pace of zero).
    recent = max(log_last - shrunk, math.log(ROUGH))
    return [1.0, shrunk, w * recent, w * (log_best - shrunk), behind, stalled], w, rough


def _at_horizon(base: list[float], day: float, horizon: float, finish: float) -> list[float]:
    """The measures over ``horizon`` days from ``day``: for a project behind plan, the share of
    those days in the run-in to its planned ``finish`` (the last ``CLOSING_DAYS`` and after, where
    crews put in overtime), and the horizon itself."""
    run_in = max(0.0, day + horizon - max(day, finish - CLOSING_DAYS)) / horizon
    return [*base[:4], base[4] * run_in, *base[5:], math.log(horizon / 20.0)]


class _Errors:
    """How pace measures turned out on the register's own history (see the module docstring).

    For every report k of an unfinished project that is working (its latest span not stalled) and
    every later report j within ``MAX_HORIZON`` days, up to the first span that shows a stoppage,
    the pace actually reported between them is regressed (least squares, in logs) on the measures
    at k: the shrunk whole-history pace, the latest span's and the best span's pace beside it, the
    share of the horizon in the run-in to the planned finish when behind plan, and the horizon (the
    ``stalled`` measure has no rows, so the ridge holds it at nothing). The coefficients say how
    much each measure is worth on this register; the residuals, by horizon, are the working
    forecast errors sampled for the spread. Stoppages are counted apart: the register's rate of
    stoppages per open day (``hazard``), their lengths, and how long a stoppage went on after a
    report found it (``waits``).

    Each project is forecast with coefficients learnt from the *other* projects (leave one project
    out: the sums of the least squares less its own rows), so its own past — a stall, say — is
    judged by what happened to others, not fitted to itself; its residuals are out-of-sample too.
    """

    def __init__(self, tracks: Sequence[_Track], classes: _Classes):
        rows: list[list[float]] = []
        target: list[float] = []
        bucket: list[tuple[int, int]] = []
        owner: list[int] = []
        stop_waits: list[float] = []
        stop_owner: list[int] = []
        stop_lengths: list[float] = []
        open_days = 0.0
        for index, t in enumerate(tracks):
            start = t.project.planned_start.toordinal()
            prior = classes.prior(t.project)
            finish = float(t.project.planned_finish.toordinal())
            n = len(t.days)
            # Stoppages: a span (after the first, which holds the start's delay) with almost no
            # progress while unfinished; how often one begins per day open, and how long it lasts.
            class_pace = math.exp(prior[0])
            flat = [False] * n
            for i in range(1, n):
                span = float(t.days[i] - t.days[i - 1])
                if 0 < t.earned[i - 1] < t.duration:
                    open_days += span
                    flat[i] = float(t.earned[i] - t.earned[i - 1]) < STALL * class_pace * span
            for i in range(1, n):
                if flat[i] and not flat[i - 1]:
                    # From the last report that saw work to the last that saw none (still stopped at
                    # the latest report: as long as seen so far, which errs short).
                    last = i
                    while last + 1 < n and flat[last + 1]:
                        last += 1
                    stop_lengths.append(float(t.days[last] - t.days[i - 1]))
            for k in range(n):
                if t.days[k] - start < MIN_ELAPSED or t.earned[k] >= t.duration or t.earned[k] <= 0:
                    continue
                base, _, rough = _features(t, k, prior)
                if base[5]:
                    # Stopped at report k: the days until work resumed — to the middle of the first
                    # span that shows progress again; still stopped at the last report: as long as
                    # seen so far (a lower bound, so this errs short).
                    resumed = next((j for j in range(k + 1, n) if t.earned[j] > t.earned[j - 1]), None)
                    if resumed is None:
                        wait = float(t.days[-1] - t.days[k])
                    else:
                        wait = (
                            float(t.days[resumed - 1] - t.days[k]) + float(t.days[resumed] - t.days[resumed - 1]) / 2.0
                        )
                    stop_waits.append(wait)
                    stop_owner.append(index)
                for j in range(k + 1, n):
                    h = float(t.days[j] - t.days[k])
                    if h > MAX_HORIZON or base[5] or flat[j]:
                        break  # with the hazard apart: the errors are those of working spans only
                    if t.earned[j] >= t.duration:
                        # Done somewhere since the report before: take the middle of that span.
                        before = max(float(t.days[j - 1]), float(t.days[k]))
                        h = before + (float(t.days[j]) - before) / 2.0 - float(t.days[k])
                    rows.append(_at_horizon(base, t.days_list[k], h, finish))
                    target.append(math.log(max(float(t.earned[j] - t.earned[k]) / h, PACE_FLOOR)))
                    bucket.append((rough, _horizon_bucket(h)))
                    owner.append(index)
                    if t.earned[j] >= t.duration:
                        break
        self.hazard = len(stop_lengths) / open_days if open_days and len(stop_lengths) >= MIN_WAITS else 0.0
        self.stop_lengths = np.asarray(stop_lengths)
        self.stop_waits, self.stop_owner = np.asarray(stop_waits), np.asarray(stop_owner, dtype=int)
        self.coef: np.ndarray | None = None  # one row of coefficients per project (its own rows left out)
        self.low = self.high = np.zeros(0)
        self.pools: dict[tuple[int, ...], np.ndarray] = {}
        if len(rows) >= MIN_POOL:
            x_arr, y, who = np.asarray(rows), np.asarray(target), np.asarray(owner)
            m = x_arr.shape[1]
            # A little ridge keeps a measure that never varies on this register (e.g. no project
            # closing yet) from taking an arbitrary coefficient: it stays at "the shrunk pace alone".
            ridge = RIDGE * np.eye(m)
            ridge[0, 0] = 1e-6  # the intercept is free (barely held, so a register of one project still solves)
            prior_coef = np.zeros(m)
            prior_coef[1] = 1.0
            xtx = np.zeros((len(tracks), m, m))
            xty = np.zeros((len(tracks), m))
            np.add.at(xtx, who, x_arr[:, :, None] * x_arr[:, None, :])
            np.add.at(xty, who, x_arr * y[:, None])
            lhs = xtx.sum(axis=0) - xtx + ridge
            rhs = (xty.sum(axis=0) - xty + ridge @ prior_coef)[:, :, None]
            self.coef = np.linalg.solve(lhs, rhs)[:, :, 0]
            # A measure is never taken beyond the range it was learnt over: a register where nothing
            # ever stalled cannot say what a stall means, so a stalled project is not extrapolated to zero.
            self.low, self.high = x_arr.min(axis=0), x_arr.max(axis=0)
            resid = y - np.einsum("ij,ij->i", x_arr, self.coef[who])
            groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
            for row, (rough, b) in enumerate(bucket):
                groups[(rough, b)].append(row)
                groups[(b,)].append(row)
            self.pools = {key: resid[rows_] for key, rows_ in groups.items() if len(rows_) >= MIN_POOL}
            self.pools[()] = resid

    def waits(self, index: int) -> np.ndarray | None:
        """How long the other projects' stoppages went on after a report that found them stopped."""
        got = self.stop_waits[self.stop_owner != index]
        return got if len(got) >= MIN_WAITS else None

    def predict(self, index: int, x: list[float]) -> float:
        """The log pace of project ``index`` (its position in the register) from its measures ``x``."""
        if self.coef is None:
            return x[1]
        return float(np.dot(self.coef[index], np.clip(x, self.low, self.high)))

    def pool(self, rough: int, horizon: float) -> np.ndarray | None:
        """The errors of projects like this one (as rough or smooth so far) over the nearest horizon
        measured, the longest below it when the register's history is not yet that long (errors over
        short spans are wider, so this errs wide); else of all projects."""
        for key_of in ((lambda b: (rough, b)), (lambda b: (b,))):
            for b in range(_horizon_bucket(horizon), 0, -1):
                if key_of(b) in self.pools:
                    return self.pools[key_of(b)]
        return self.pools.get(())


def outlooks(
    items: Sequence[tuple[Project, Sequence[Report]]], on: date, opening: date, *, interval: float = 0.8,
    samples: int = SAMPLES, seed: int = 20261105,
) -> list[Outlook]:  # fmt: skip
    """Each project's outlook on ``on`` from the reports dated up to it, learning from all of them."""
    tracks = [_track(p, rs, on) for p, rs in items]
    classes = _Classes(tracks)
    errors = _Errors(tracks, classes)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = 50.0 * (1.0 - interval), 50.0 * (1.0 + interval)
    today = on.toordinal()
    last_day = opening.toordinal() + LATEST
    out: list[Outlook | None] = []
    plans: list[tuple[int, float, float, float, np.ndarray, str, np.ndarray]] = []  # sampled together at the end
    for index, t in enumerate(tracks):
        p = t.project
        if t.done_on is not None:
            out.append(
                Outlook(
                    1.0 if t.done_on > opening else 0.0, t.done_on, t.done_on, t.done_on, None,
                    f"reported done on {t.done_on.isoformat()}",
                )
            )  # fmt: skip
            continue
        prior = classes.prior(p)
        start = p.planned_start.toordinal()
        progressed = len(t.days) > 0 and t.earned[-1] > 0
        if progressed and t.days[-1] - start > 0:
            elapsed = float(t.days[-1] - start)
            remaining = t.duration - float(t.earned[-1])
            origin = float(t.days[-1])
            k = len(t.days) - 1
            base, w, rough = _features(t, k, prior)
            finish = float(p.planned_finish.toordinal())
            waits = errors.waits(index) if base[5] else None
            wait = np.zeros(samples)
            if waits is not None:
                # Stopped now: the stoppage lasts as long as the register's stoppages did (sampled),
                # then work resumes at the pace of its working spans.
                wait = rng.choice(waits, samples)
                # Its pace over the days it worked: the current flat run (since the last report that
                # showed progress) is left out of the whole history's pace.
                moved = [i for i in range(k + 1) if t.earned_list[i] > (t.earned_list[i - 1] if i else 0.0)]
                worked = elapsed - (t.days_list[k] - t.days_list[moved[-1]]) if moved else elapsed
                own = math.log(max(t.earned_list[k] / max(worked, 1.0), PACE_FLOOR))
                shrunk, w = _shrunk(own, worked, prior)
                base = [base[0], shrunk, 0.0, base[3], base[4], 0.0]
                origin_eff = origin + float(np.median(wait))
            else:
                origin_eff = origin
            log_pace = errors.predict(index, _at_horizon(base, origin_eff, 20.0, finish))
            for _ in range(2):  # the horizon is the time left, which depends on the pace
                horizon = min(max(remaining / math.exp(log_pace), 5.0), MAX_HORIZON)
                log_pace = errors.predict(index, _at_horizon(base, origin_eff, horizon, finish))
            pool = errors.pool(0 if waits is not None else rough, horizon)
            err = rng.normal(0.0, DEFAULT_SPREAD, samples) if pool is None else rng.choice(pool, samples)
            basis = (
                (
                    ""
                    if waits is None
                    else f"stopped: resumes after a wait drawn from {len(waits)} stoppages seen, then "
                )
                + f"{100 * w:.0f}% its own pace over {elapsed:.0f} days, {100 * (1 - w):.0f}% its reference class "
                f"({prior[2]}); spread from {len(pool) if pool is not None else 0} past forecast errors"
            )
        else:
            remaining = float(t.duration)
            origin = float(max(start, today))
            # The class's pace, read through the same regression as everyone's (so what the register
            # learnt about how paces turn out applies here too), with the class's spread.
            base = [1.0, prior[0], 0.0, 0.0, 0.0, 0.0]
            log_pace = errors.predict(index, [*base, 0.0])
            for _ in range(2):
                horizon = min(max(remaining / math.exp(log_pace), 5.0), MAX_HORIZON)
                log_pace = errors.predict(index, [*base, math.log(horizon / 20.0)])
            # The errors of the young projects (those with under YOUNG_DAYS of history), as the
            # nearest kind measured; else the class's spread.
            pool = errors.pool(2, horizon)
            err = rng.normal(0.0, prior[1], samples) if pool is None else rng.choice(pool, samples)
            wait = np.zeros(samples)
            basis = f"no progress yet: the pace of its reference class ({prior[2]})"
        plans.append((len(out), origin, remaining, log_pace, err, basis, wait))
        out.append(None)
    if plans:
        origin_a = np.array([pl[1] for pl in plans])[:, None]
        remaining_a = np.array([pl[2] for pl in plans])[:, None]
        log_pace_a = np.array([pl[3] for pl in plans])[:, None]
        pace = np.maximum(np.exp(log_pace_a + np.stack([pl[4] for pl in plans])), PACE_FLOOR)
        wait_a = np.stack([pl[6] for pl in plans])
        if errors.hazard > 0:
            # Stoppages yet to come: over the working days left, each day may begin one at the
            # register's rate; each lasts as long as one of the register's stoppages did.
            work_days = remaining_a / pace
            count = rng.poisson(errors.hazard * work_days)
            for c in range(1, 4):
                wait_a = wait_a + np.where(count >= c, rng.choice(errors.stop_lengths, wait_a.shape), 0.0)
        finish = np.minimum(np.ceil(origin_a + wait_a + remaining_a / pace), last_day)
        qs = np.percentile(finish, [50.0, lo_q, hi_q], axis=1, method="inverted_cdf").astype(int)
        p_late = (finish > opening.toordinal()).mean(axis=1)
        for row, (at, _, _, lp, _, basis, _) in enumerate(plans):
            out[at] = Outlook(
                float(p_late[row]),
                date.fromordinal(int(qs[0, row])),
                date.fromordinal(int(qs[1, row])),
                date.fromordinal(int(qs[2, row])),
                math.exp(lp),
                basis,
            )
    return [o for o in out if o is not None]
