"""Back-scheduling: planned curves, earned schedule, checkpoints, settings — against hand-worked figures."""

from __future__ import annotations

from datetime import date

import pytest

from completion.expo import opening_for
from completion.schedule import (
    checkpoint_date,
    checkpoint_label,
    checkpoints,
    checkpoints_after,
    curve_inverse,
    curve_value,
    earned_schedule_days,
    planned_percent,
)
from completion.settings import CompletionSettings
from completion.snapshot import parse_day
from twin.errors import BadInput
from twin.settings import SettingsError

D = date.fromisoformat
OPENING = D("2026-11-05")


# ------------------------------------------------------------------ planned percent
@pytest.mark.parametrize(
    ("on", "expected"),
    [("2026-08-31", 0.0), ("2026-09-01", 0.0), ("2026-09-04", 30.0), ("2026-09-06", 50.0), ("2026-09-11", 100.0),
     ("2026-10-01", 100.0)],
)  # fmt: skip
def test_linear_plan_is_the_share_of_days_gone(on: str, expected: float) -> None:
    # 2026-09-01 → 2026-09-11 is 10 days: on 09-04 three of them are gone.
    assert planned_percent(D("2026-09-01"), D("2026-09-11"), D(on), "linear") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("on", "expected"),
    [("2026-09-01", 0.0), ("2026-09-06", 15.625), ("2026-09-11", 50.0), ("2026-09-16", 84.375), ("2026-09-21", 100.0),
     ("2026-09-05", 10.4)],
)  # fmt: skip
def test_s_curve_plan_is_smoothstep(on: str, expected: float) -> None:
    # 20 days; x = 1/4 gives (1/4)²(3 − 1/2) = 0.15625; x = 1/5 gives 0.04 × 2.6 = 0.104.
    assert planned_percent(D("2026-09-01"), D("2026-09-21"), D(on), "s_curve") == pytest.approx(expected)


def test_s_curve_starts_slower_and_ends_faster_than_linear() -> None:
    start, finish = D("2026-09-01"), D("2026-10-01")
    early, late = D("2026-09-05"), D("2026-09-26")
    assert planned_percent(start, finish, early, "s_curve") < planned_percent(start, finish, early)
    assert planned_percent(start, finish, late, "s_curve") > planned_percent(start, finish, late)


def test_a_one_day_job_is_all_or_nothing() -> None:
    day = D("2026-10-01")
    assert planned_percent(day, day, D("2026-09-30")) == 0.0
    assert planned_percent(day, day, day) == 100.0
    assert earned_schedule_days(day, day, 50.0) == 0.0


@pytest.mark.parametrize("curve", ["linear", "s_curve"])
@pytest.mark.parametrize("y", [0.0, 0.05, 0.15625, 0.3, 0.5, 0.77, 0.84375, 0.99, 1.0])
def test_inverse_undoes_the_curve(curve: str, y: float) -> None:
    assert curve_value(curve, curve_inverse(curve, y)) == pytest.approx(y, abs=1e-12)


@pytest.mark.parametrize(
    ("curve", "percent", "days"),
    [("linear", 40.0, 4.0), ("linear", 0.0, 0.0), ("linear", 100.0, 10.0),
     ("s_curve", 15.625, 2.5), ("s_curve", 50.0, 5.0), ("s_curve", 84.375, 7.5)],
)  # fmt: skip
def test_earned_schedule_is_when_the_plan_reaches_the_percent(curve: str, percent: float, days: float) -> None:
    assert earned_schedule_days(D("2026-09-01"), D("2026-09-11"), percent, curve) == pytest.approx(days)


# ------------------------------------------------------------------ checkpoints
def test_checkpoints_count_back_every_ten_days_to_cover_the_earliest_start() -> None:
    cps = checkpoints(OPENING, D("2026-07-20"))
    assert [c.label for c in cps] == [f"T-{n}" for n in range(110, -1, -10)]
    assert cps[0].on == D("2026-07-18") and cps[-1].on == OPENING
    assert cps[-2].on == D("2026-10-26") and cps[-4].on == D("2026-10-06")
    # a start exactly on a checkpoint begins there
    assert checkpoints(OPENING, D("2026-07-28"))[0].label == "T-100"
    assert [c.label for c in checkpoints(OPENING)] == ["T-0"]
    assert [c.label for c in checkpoints(OPENING, D("2026-10-01"), every=7)] == [
        "T-35", "T-28", "T-21", "T-14", "T-7", "T-0"
    ]  # fmt: skip


def test_checkpoint_labels_and_dates() -> None:
    assert checkpoint_label(OPENING, D("2026-10-06")) == "T-30"
    assert checkpoint_label(OPENING, OPENING) == "T-0"
    assert checkpoint_label(OPENING, D("2026-10-07")) is None
    # after opening day, the reporting checkpoints (checkpoints_after): labelled as listed, read back
    assert checkpoint_label(OPENING, D("2026-11-15")) == "T+10"
    assert checkpoint_label(OPENING, D("2026-12-05")) == "T+30"
    assert checkpoint_label(OPENING, D("2026-11-16")) is None
    for cp in checkpoints_after(OPENING, D("2026-12-07")):
        assert checkpoint_label(OPENING, cp.on) == cp.label
        assert checkpoint_date(OPENING, cp.label) == cp.on
    assert checkpoint_date(OPENING, "T-30") == D("2026-10-06")
    assert checkpoint_date(OPENING, "t-100") == D("2026-07-28")
    # after opening day reports stay due every 10 days: T+10, ... (completion.accountability)
    assert checkpoint_date(OPENING, "T+10") == D("2026-11-15")
    with pytest.raises(ValueError):
        checkpoint_date(OPENING, "T*3")


# ------------------------------------------------------------------ settings
def test_settings_default_to_5_november_and_3_10_day_thresholds() -> None:
    s = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.opening_day(2026) == OPENING
    assert (s.at_risk_days, s.behind_days, s.checkpoint_days, s.forecast_span_days) == (3.0, 10.0, 10, 20)
    assert opening_for([], D("2026-11-22"), s) == OPENING  # without a register: the date's own year


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENUE_TWIN_OPENING_MONTH_DAY", "10-31")
    monkeypatch.setenv("VENUE_TWIN_BEHIND_DAYS", "7")
    monkeypatch.setenv("VENUE_TWIN_EXPO_YEAR", "2027")
    s = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.opening_day(2026) == D("2026-10-31")
    assert s.behind_days == 7.0
    assert opening_for([], D("2026-05-01"), s) == D("2027-10-31")


@pytest.mark.parametrize(
    "kwargs",
    [{"opening_month_day": "13-01"}, {"opening_month_day": "11/05"}, {"at_risk_days": 12, "behind_days": 10},
     {"checkpoint_days": 0}],
)  # fmt: skip
def test_bad_settings_are_refused(kwargs: dict) -> None:
    # a SettingsError naming the variable (twin.settings.VenueSettings), which the CLI says with exit 2
    names = "|".join(f"VENUE_TWIN_{k.upper()}" for k in kwargs)
    with pytest.raises(SettingsError, match=names):
        CompletionSettings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_parse_day_takes_dates_and_checkpoint_labels() -> None:
    s = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
    assert parse_day("2026-10-06", s) == D("2026-10-06")
    assert parse_day("T-30", s, today=D("2026-11-22")) == D("2026-10-06")
    assert parse_day(None, s) is None
    assert (
        parse_day("today", s, today=D("2026-12-06"))
        == parse_day(" Today ", s, today=D("2026-12-06"))
        == D("2026-12-06")
    )
    assert parse_day("T-30", CompletionSettings(_env_file=None, expo_year=2027), today=D("2026-11-22")) == D(  # type: ignore[call-arg]
        "2027-10-06"
    )
    for bad in ("2026-13-01", "yesterday", "T-", "06/10/2026"):
        with pytest.raises(BadInput):
            parse_day(bad, s)
