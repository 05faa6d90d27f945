"""The ceiling of any forecast made on a date: an oracle that knows more than a register can.

The oracle reads the simulator's own state on the forecast date (``completion.season.Truth``): each
project's true productivity, its true progress (no reporting noise, no optimistic rounding), and
every stoppage that has begun by then, with how long it has lasted so far. What it does not know is
what no one can know on that date: the crews' day-to-day wobble ahead, when a stoppage going on now
will end (its length is drawn again, given how long it has lasted), and the stoppages still to come
(drawn from the simulator's own odds, given the ones already seen). It replays the simulator's own
rules forward ``samples`` times: the share of futures that end after opening day is its probability.

No forecaster working from reports can do better than this on average, so its scores in the
benchmark are the ceiling the information on the forecast date allows (the flag threshold is the
same setting as the product's).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from completion.forecast import Basis
from completion.season import Season, work_days
from completion.status import Forecast

AFTER_OPENING = 150  # days simulated after opening day (later finishes are all late and told apart no further)
CHUNK = 20_000  # futures simulated at once (rows), to keep the arrays small


def oracle(season: Season, on: date, threshold: float, samples: int = 200, seed: int = 7) -> list[Forecast]:
    """Each project's forecast on ``on`` by the oracle (see the module docstring)."""
    truth = season.truth
    if truth is None:
        raise ValueError("the season carries no simulator state")
    a = season.assumptions
    rng = np.random.default_rng(seed)
    n = len(season.projects)
    today = (on - truth.origin).days  # reports on ``on`` show the work to the end of this day
    first = today + 1
    last = (season.opening - truth.origin).days + AFTER_OPENING
    cols = last - first
    e0 = truth.earned[:, today + 1]
    lo_len, hi_len = a.stoppage_days
    # Stoppages by project: begun by ``on`` (day indices), and how many of them.
    begun: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, p in enumerate(season.projects):
        for s_first, s_last in season.stoppages.get(p.code, []):
            s0 = (s_first - truth.origin).days
            if s0 <= today:
                begun[i].append((s0, (s_last - truth.origin).days - s0 + 1))
    window = np.maximum(truth.finish_idx, truth.start_idx + 1) - truth.start_idx
    ahead_share = np.clip((truth.start_idx + window - first) / window, 0.0, 1.0)  # share of starts still ahead

    rows = np.repeat(np.arange(n), samples)
    finish = np.empty(len(rows), dtype=int)
    for c0 in range(0, len(rows), CHUNK):
        idx = rows[c0 : c0 + CHUNK]
        m = len(idx)
        stopped = np.zeros((m, cols), dtype=bool)
        for r, i in enumerate(idx):
            for s0, length in begun[i]:
                if s0 + length - 1 > today:  # going on now: as long again as a stoppage that lasted this long
                    so_far = today - s0 + 1
                    length = int(rng.integers(max(lo_len, so_far + 1), max(hi_len, so_far + 1) + 1))
                stopped[r, max(s0 - first, 0) : max(s0 + length - first, 0)] = True
            q = ahead_share[i]
            if len(begun[i]) == 0:
                odds = np.array([1.0 - a.stoppage_share, a.stoppage_share * 0.5 * q, a.stoppage_share * 0.5 * q * q])
            elif len(begun[i]) == 1:
                odds = np.array([0.5 * (1.0 - q), q * (1.0 - q), 0.0])
                if odds.sum() == 0.0:
                    odds = np.array([1.0, 0.0, 0.0])
            else:
                odds = np.array([1.0, 0.0, 0.0])
            for _ in range(int(rng.choice(3, p=odds / odds.sum()))):
                s0 = int(rng.integers(max(first, truth.start_idx[i]), truth.start_idx[i] + window[i]))
                length = int(rng.integers(lo_len, hi_len + 1))
                stopped[r, s0 - first : s0 - first + length] = True
        wobble = np.exp(rng.normal(0.0, a.daily_spread, (m, cols)) - a.daily_spread**2 / 2)
        finish[c0 : c0 + m] = work_days(
            a, truth.pace[idx], truth.begins[idx], truth.start_idx[idx], truth.finish_idx[idx],
            truth.duration[idx].astype(float), stopped, wobble, e0[idx].copy(), first,
        )  # fmt: skip
    by_project = finish.reshape(n, samples)
    opening_idx = (season.opening - truth.origin).days
    p_late = (by_project > opening_idx).mean(axis=1)
    qs = np.percentile(by_project, [50.0, 10.0, 90.0], axis=1, method="inverted_cdf").astype(int)

    def day(d: int) -> date:
        return truth.origin + timedelta(days=int(d))

    out = []
    for i in range(n):
        mid, low, high = day(qs[0, i]), day(qs[1, i]), day(qs[2, i])
        flag = bool(p_late[i] > threshold)
        out.append(Forecast(mid, None, None, None, flag, Basis("note", note="oracle"), float(p_late[i]), low, high))
    return out
