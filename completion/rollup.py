"""Weights and roll-ups: weighted completion and counts by status, by area, category, unit and overall.

Weights
    Each project has a share of its area (the area's shares add up to 1):

    - by default its quantity's share among the projects of its area measured in the same unit
      (m², m, pots, lamps, items: quantities in different units are never compared), with each
      such unit group holding a part of the area in proportion to its number of projects. In an
      area where every project is measured in m² this is simply the quantity share: 3,000 m² of
      10,000 m² is 0.3. In an area with two m² projects (1,000 and 3,000 m²) and one in pots,
      the m² group holds 2/3 of the area, so the 3,000 m² project weighs 2/3 × 3/4 = 0.5.
      A group whose quantities are all zero shares its part equally.
    - a ``weight`` on the record overrides this default; when some projects of an area give one,
      all the area's figures (given and default) are scaled to add up to 1.

    Overall, each area counts in proportion to its number of projects (an area of 20 projects
    weighs twice one of 10), so a project's overall weight is its share of its area × the area's
    projects / all projects. Groups by unit or category use these overall weights.

Roll-up of a group
    completion = Σ wᵢ·actualᵢ / Σ wᵢ, planned = Σ wᵢ·plannedᵢ / Σ wᵢ over the group's projects,
    with the number of projects in each status and the group's share of the overall weight.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from completion.percent import json_percent
from completion.register import Project
from completion.status import STATUSES, ProjectStatus

GROUPINGS = ("area", "unit", "category")


def area_shares(projects: Sequence[Project]) -> dict[str, float]:
    """Each project's share of its area (see the module docstring); the shares of an area add up to 1."""
    by_area: dict[str, list[Project]] = defaultdict(list)
    for p in projects:
        by_area[p.area].append(p)
    out: dict[str, float] = {}
    for members in by_area.values():
        groups: dict[str, list[Project]] = defaultdict(list)
        for p in members:
            groups[p.quantity_unit].append(p)
        default: dict[str, float] = {}
        for group in groups.values():
            part = len(group) / len(members)
            total = sum(max(p.quantity, 0.0) for p in group)
            for p in group:
                default[p.code] = part * (max(p.quantity, 0.0) / total if total > 0 else 1.0 / len(group))
        raw = {p.code: (p.weight if p.weight is not None else default[p.code]) for p in members}
        s = sum(max(v, 0.0) for v in raw.values())
        for p in members:
            out[p.code] = max(raw[p.code], 0.0) / s if s > 0 else 1.0 / len(members)
    return out


def overall_weights(projects: Sequence[Project]) -> dict[str, float]:
    """Each project's share of all the work: its area share × its area's projects / all projects."""
    if not projects:
        return {}
    shares = area_shares(projects)
    counts: dict[str, int] = defaultdict(int)
    for p in projects:
        counts[p.area] += 1
    n = len(projects)
    return {p.code: shares[p.code] * counts[p.area] / n for p in projects}


@dataclass(frozen=True)
class Group:
    """A roll-up over some projects."""

    by: str | None  # area, unit, category, or None for overall
    key: str
    projects: int
    weight: float  # the group's share of the overall weight
    planned: float  # weighted planned percent
    actual: float  # weighted percent complete
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def variance(self) -> float:
        return self.actual - self.planned

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by or "overall",
            "key": self.key,
            "projects": self.projects,
            "weight": round(self.weight, 6),
            "planned_percent": json_percent(self.planned),
            "actual_percent": json_percent(self.actual),
            "variance_points": round(self.variance, 2),
            "counts": self.counts,
        }


def key_of(by: str) -> Callable[[Project], str]:
    if by == "area":
        return lambda p: p.area
    if by == "unit":
        return lambda p: p.responsible_unit
    if by == "category":
        return lambda p: p.category
    raise ValueError(f"cannot group by {by!r}: one of {', '.join(GROUPINGS)}")


def roll_up(statuses: Iterable[ProjectStatus], weights: dict[str, float], by: str | None, key: str) -> Group:
    members = list(statuses)
    total = sum(weights.get(s.project.code, 0.0) for s in members)
    if total > 0:
        planned = sum(weights.get(s.project.code, 0.0) * s.planned for s in members) / total
        actual = sum(weights.get(s.project.code, 0.0) * s.percent for s in members) / total
    elif members:  # all weights zero: a plain average
        planned = sum(s.planned for s in members) / len(members)
        actual = sum(s.percent for s in members) / len(members)
    else:
        planned = actual = 0.0
    counts = {name: 0 for name in STATUSES}
    for s in members:
        counts[s.status] += 1
    return Group(by, key, len(members), total, planned, actual, counts)


def group_by(statuses: Sequence[ProjectStatus], weights: dict[str, float], by: str) -> list[Group]:
    """One roll-up per value of ``by`` (area, unit or category), in key order."""
    key = key_of(by)
    groups: dict[str, list[ProjectStatus]] = defaultdict(list)
    for s in statuses:
        groups[key(s.project)].append(s)
    return [roll_up(groups[k], weights, by, k) for k in sorted(groups)]


def late_list(statuses: Iterable[ProjectStatus]) -> list[ProjectStatus]:
    """The projects behind schedule, most days late first (then the later forecast, then code)."""
    return _worst_first(s for s in statuses if s.status == "behind")


def at_risk_list(statuses: Iterable[ProjectStatus]) -> list[ProjectStatus]:
    """The projects at risk, in the late list's order (most days behind first)."""
    return _worst_first(s for s in statuses if s.status == "at_risk")


def missed_opening_list(statuses: Iterable[ProjectStatus], opening: date) -> list[ProjectStatus]:
    """The projects that missed opening day, read on it or after it (empty before it: a chance of
    missing it then, not a fact): the late list (``late_list``: on opening day or after it every
    project not reported done is late, started or not, completion.status), then those reported done
    on a day after it (``done_since_opening``). So "missed = still not done + done since" adds up
    wherever the late list is "still not done". One rule for the home page's headline, the panel,
    the units page, the briefing and the CLI."""
    statuses = list(statuses)
    if not statuses or statuses[0].on < opening:
        return []
    return [*late_list(statuses), *done_since_opening(statuses, opening)]


def done_since_opening(statuses: Iterable[ProjectStatus], opening: date) -> list[ProjectStatus]:
    """The projects reported done on a day after opening day (they missed it, done since), read on
    it or after it; the earliest reported done first (then by code)."""
    done = [s for s in statuses if s.done_after(opening)]
    return sorted(done, key=lambda s: (s.done_on or s.on, s.project.code))


def _worst_first(statuses: Iterable[ProjectStatus]) -> list[ProjectStatus]:
    return sorted(
        statuses,
        key=lambda s: (
            -(s.sv_days or 0.0),
            -(s.forecast.finish.toordinal() if s.forecast.finish else 0),
            s.project.code,
        ),
    )
