"""Weights and roll-ups against hand-worked figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from completion.register import Project, Report
from completion.rollup import area_shares, group_by, late_list, overall_weights, roll_up
from completion.settings import CompletionSettings
from completion.status import evaluate

D = date.fromisoformat
OPENING = D("2026-11-05")
SETTINGS = CompletionSettings(_env_file=None)  # type: ignore[call-arg]


def p(code: str, area: str, quantity: float, unit: str = "m²", weight: float | None = None, **kw) -> Project:
    return Project(
        code=code,
        name_zh=code,
        name_en=code,
        category=kw.pop("category", "venue_renovation"),
        area=area,
        responsible_unit=kw.pop("responsible_unit", "Unit A"),
        planned_start=D(kw.pop("start", "2026-09-01")),
        planned_finish=D(kw.pop("finish", "2026-09-11")),
        quantity=quantity,
        quantity_unit=unit,
        weight=weight,
    )


def test_a_project_weighs_its_quantity_share_of_its_area() -> None:
    shares = area_shares([p("A", "roads", 3000), p("B", "roads", 7000), p("C", "halls", 5)])
    assert shares == pytest.approx({"A": 0.3, "B": 0.7, "C": 1.0})


def test_quantities_in_different_units_are_not_compared() -> None:
    # m² group (1,000 and 3,000) holds 2/3 of the area (2 of its 3 projects), the pots group 1/3:
    # 1/6, 1/2 and 1/3.
    shares = area_shares([p("A", "south_plaza", 1000), p("B", "south_plaza", 3000), p("F", "south_plaza", 500, "pots")])
    assert shares == pytest.approx({"A": 1 / 6, "B": 1 / 2, "F": 1 / 3})
    assert sum(shares.values()) == pytest.approx(1.0)


def test_a_given_weight_overrides_the_default_and_the_area_is_rescaled() -> None:
    # Defaults 0.25, 0.25, 0.5; X says 0.5, so 0.5 + 0.25 + 0.5 = 1.25 → 0.4, 0.2, 0.4.
    shares = area_shares([p("X", "halls", 100, weight=0.5), p("Y", "halls", 100), p("Z", "halls", 200)])
    assert shares == pytest.approx({"X": 0.4, "Y": 0.2, "Z": 0.4})


def test_zero_quantities_share_equally() -> None:
    assert area_shares([p("A", "halls", 0, "items"), p("B", "halls", 0, "items")]) == pytest.approx(
        {"A": 0.5, "B": 0.5}
    )


def test_overall_weights_count_each_area_by_its_number_of_projects() -> None:
    # roads: 2 projects (0.3, 0.7), halls: 1 project; 3 in all → 0.3 × 2/3, 0.7 × 2/3, 1 × 1/3.
    w = overall_weights([p("A", "roads", 3000), p("B", "roads", 7000), p("C", "halls", 5)])
    assert w == pytest.approx({"A": 0.2, "B": 0.7 * 2 / 3, "C": 1 / 3})
    assert sum(w.values()) == pytest.approx(1.0)
    assert overall_weights([]) == {}


def _statuses(projects: list[Project], percents: dict[str, float], on: str = "2026-09-06") -> list:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for q in projects:
        rs = [Report(D(on), percents[q.code], "r", None, None, "c", 1, t)] if q.code in percents else []
        out.append(evaluate(q, rs, D(on), OPENING, SETTINGS))
    return out


def test_roll_ups_by_area_unit_and_overall() -> None:
    projects = [
        p("A", "roads", 3000, responsible_unit="U1"),
        p("B", "roads", 7000, responsible_unit="U2"),
        p("C", "halls", 5, "items", responsible_unit="U1", start="2026-09-20", finish="2026-09-30"),
    ]
    statuses = _statuses(projects, {"A": 100, "B": 50})
    w = overall_weights(projects)
    roads, halls = group_by(statuses, w, "area")[1], group_by(statuses, w, "area")[0]
    assert (roads.key, halls.key) == ("roads", "halls")
    # roads: 0.3 × 100 + 0.7 × 50 = 65; planned on 09-06 (5 of 10 days): 50.
    assert roads.actual == pytest.approx(65.0) and roads.planned == pytest.approx(50.0)
    assert roads.weight == pytest.approx(2 / 3) and roads.projects == 2
    assert roads.counts == {"not_started": 0, "on_track": 1, "at_risk": 0, "behind": 0, "done": 1}
    assert halls.actual == 0.0 and halls.counts["not_started"] == 1
    overall = roll_up(statuses, w, None, "overall")
    # (65 × 2 + 0 × 1) / 3 = 43.33; planned (50 × 2 + 0) / 3 = 33.33.
    assert overall.actual == pytest.approx(130 / 3) and overall.planned == pytest.approx(100 / 3)
    assert overall.variance == pytest.approx(10.0)
    assert overall.weight == pytest.approx(1.0) and overall.projects == 3
    by_unit = {g.key: g for g in group_by(statuses, w, "unit")}
    # U1: A (0.2, 100%) and C (1/3, 0%) → 20 / (0.2 + 1/3) = 37.5; U2: B alone, 50%.
    assert by_unit["U1"].actual == pytest.approx(37.5) and by_unit["U2"].actual == pytest.approx(50.0)
    assert {g.key for g in group_by(statuses, w, "category")} == {"venue_renovation"}
    with pytest.raises(ValueError):
        group_by(statuses, w, "colour")


def test_late_list_is_behind_projects_most_days_late_first() -> None:
    projects = [p(c, "roads", 100) for c in ("A", "B", "C", "D")]
    # On 09-25 (24 days in): A 90% (SV 15), B 50% (SV 19), C 100% (done), D 99% (SV 14.1)
    statuses = _statuses(projects, {"A": 90, "B": 50, "C": 100, "D": 99}, on="2026-09-25")
    late = late_list(statuses)
    assert [s.project.code for s in late] == ["B", "A", "D"]
    assert [s.days_late for s in late] == [19.0, 15.0, 14.1]
