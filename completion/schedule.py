"""Back-scheduling: opening day, checkpoints every 10 days, and each project's planned curve.

Checkpoints are counted back from opening day: T-0 is opening day itself, T-10 ten days before,
and so on, back to the first checkpoint on or before the earliest planned start. They are local
dates in Asia/Shanghai.

Reports stay due every 10 days after opening day while a project is not done (completion.accountability
counts its due checkpoint in whole steps from opening day, either side of it): those checkpoints are
T+10, T+20, ... (``checkpoints_after``), listed up to the date read, so that a report due on
2026-12-05 names a listed checkpoint, T+30.

A project's planned percentage at a date follows its planned start and finish:

- ``linear``: the same amount every day, ``100 × x`` where ``x`` is the fraction of the planned
  duration gone by (0 at the planned start, 1 at the planned finish).
- ``s_curve``: a slow start, a fast middle and a slow finish, ``100 × x²(3 − 2x)`` (the
  "smoothstep" cubic): 15.625% a quarter of the way through, 50% half-way, 84.375% at three
  quarters.

Durations are counted in whole days between the dates (a project planned 2026-09-01 to
2026-09-11 lasts 10 days and is planned at 30% on 2026-09-04).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

CURVES = ("linear", "s_curve")


def curve_value(curve: str, x: float) -> float:
    """The fraction of the work planned done after the fraction ``x`` of the planned duration."""
    x = min(1.0, max(0.0, x))
    if curve == "s_curve":
        return x * x * (3.0 - 2.0 * x)
    return x


def curve_inverse(curve: str, y: float) -> float:
    """The fraction of the planned duration at which the plan reaches the fraction ``y`` of the work."""
    y = min(1.0, max(0.0, y))
    if curve == "s_curve":
        # The inverse of smoothstep on [0, 1]: x = 1/2 − sin(asin(1 − 2y) / 3).
        return min(1.0, max(0.0, 0.5 - math.sin(math.asin(1.0 - 2.0 * y) / 3.0)))
    return y


def planned_percent(start: date, finish: date, on: date, curve: str = "linear") -> float:
    """Planned percent complete on ``on``: 0 up to the planned start, 100 from the planned finish."""
    duration = (finish - start).days
    if duration <= 0:
        return 100.0 if on >= finish else 0.0
    return 100.0 * curve_value(curve, (on - start).days / duration)


def earned_schedule_days(start: date, finish: date, percent: float, curve: str = "linear") -> float:
    """Earned schedule: how many days after the planned start the plan reaches ``percent``.

    0 for 0% (the plan is at 0% until its start), the whole duration for 100%.
    """
    duration = (finish - start).days
    if duration <= 0:
        return 0.0
    return curve_inverse(curve, percent / 100.0) * duration


@dataclass(frozen=True)
class Checkpoint:
    """A back-scheduled checkpoint: ``days`` before opening day (T-``days``); after opening day
    (a reporting checkpoint, ``days`` negative) T+``-days``."""

    days: int
    on: date

    @property
    def label(self) -> str:
        return f"T-{self.days}" if self.days >= 0 else f"T+{-self.days}"


def checkpoints(opening: date, earliest: date | None = None, every: int = 10) -> list[Checkpoint]:
    """The checkpoints, oldest first, from the last one on or before ``earliest`` to T-0.

    Without an ``earliest`` date (an empty register) only T-0 is given.
    """
    k = 0
    if earliest is not None and earliest < opening:
        k = math.ceil((opening - earliest).days / every)
    return [Checkpoint(i * every, opening - timedelta(days=i * every)) for i in range(k, -1, -1)]


def checkpoints_after(opening: date, until: date, every: int = 10) -> list[Checkpoint]:
    """The reporting checkpoints after opening day up to ``until`` (T+10, T+20, ...), oldest first:
    the checkpoints a report falls due at after opening day (completion.accountability.due_checkpoint)."""
    n = max(0, (until - opening).days // every)
    return [Checkpoint(-i * every, opening + timedelta(days=i * every)) for i in range(1, n + 1)]


def checkpoint_label(opening: date, on: date, every: int = 10) -> str | None:
    """ "T-30" when ``on`` is a checkpoint (a multiple of ``every`` days before opening day), "T+10"
    when it is a reporting checkpoint after it (``checkpoints_after``), else None: the label
    ``Checkpoint.label`` gives the checkpoint of that day, and ``checkpoint_date`` reads back."""
    days = (opening - on).days
    if days % every == 0:
        return Checkpoint(days, on).label
    return None


def checkpoint_date(opening: date, label: str) -> date:
    """The date of a checkpoint label such as "T-30", or "T+30" after opening day (any whole number
    of days is accepted)."""
    text = label.strip().upper().replace("T−", "T-")
    if text[:2] not in ("T-", "T+") or not text[2:].isdigit():
        raise ValueError(f"{label!r} is not a checkpoint label such as T-30")
    days = int(text[2:])
    return opening - timedelta(days=days) if text[1] == "-" else opening + timedelta(days=days)
