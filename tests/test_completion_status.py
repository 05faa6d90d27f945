"""Status rules, schedule variance and forecasts, each against a hand-worked example.

The workhorse is a linear project planned 2026-09-01 → 2026-09-11 (10 days), so the plan
expects 10% a day and the earned schedule of p% is p/10 days after 1 September.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from completion.register import Project, Report
from completion.settings import CompletionSettings
from completion.status import classify, evaluate, reports_on
from completion.status import single_rate_forecast as forecast

D = date.fromisoformat
OPENING = D("2026-11-05")
SETTINGS = CompletionSettings(_env_file=None)  # type: ignore[call-arg]


def project(start: str = "2026-09-01", finish: str = "2026-09-11", curve: str = "linear", **kw) -> Project:
    return Project(
        code=kw.pop("code", "P-1"),
        name_zh="测试",
        name_en="Test",
        category="venue_renovation",
        area=kw.pop("area", "halls"),
        responsible_unit=kw.pop("unit", "Unit A"),
        planned_start=D(start),
        planned_finish=D(finish),
        quantity=kw.pop("quantity", 100.0),
        quantity_unit=kw.pop("quantity_unit", "m²"),
        curve=curve,
        **kw,
    )


def reports(*pairs: tuple[str, float]) -> list[Report]:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return [Report(D(d), float(p), "r", None, None, f"c{i}", i + 1, t) for i, (d, p) in enumerate(pairs)]


def status_of(p: Project, rs: list[Report], on: str, settings: CompletionSettings = SETTINGS):
    return evaluate(p, rs, D(on), OPENING, settings)


# ------------------------------------------------------------------ earned schedule and status
def test_sv_of_exactly_the_threshold_is_still_on_track() -> None:
    # On 09-08 (7 days in) at 40%: the plan reached 40% on 09-05 (ES = 4 days), so SV = 7 − 4 = 3 days.
    s = status_of(project(), reports(("2026-09-08", 40)), "2026-09-08")
    assert s.planned == pytest.approx(70.0)
    assert s.earned_days == pytest.approx(4.0) and s.earned_date == D("2026-09-05")
    assert s.sv_days == pytest.approx(3.0)
    assert s.status == "on_track"


def test_a_little_more_than_three_days_behind_is_at_risk() -> None:
    # 39%: ES = 3.9 days, SV = 3.1 days > 3.
    s = status_of(project(), reports(("2026-09-08", 39)), "2026-09-08")
    assert s.sv_days == pytest.approx(3.1)
    assert s.status == "at_risk"


def test_more_than_ten_days_behind_is_behind() -> None:
    # On 09-20 (19 days in, past the planned finish) at 80%: ES = 8 days, SV = 11 days.
    s = status_of(project(), reports(("2026-09-08", 40), ("2026-09-20", 80)), "2026-09-20")
    assert s.planned == 100.0
    assert s.sv_days == pytest.approx(11.0)
    assert s.days_late == 11.0
    assert s.status == "behind"


def test_not_started_before_the_planned_start_at_zero() -> None:
    s = status_of(project(), [], "2026-08-25")
    assert (s.status, s.percent, s.planned, s.sv_days) == ("not_started", 0.0, 0.0, None)
    # Not started, so the forecast is the plan run at its reference class's pace (here the plan's
    # own: a lone project has no class to learn from), far from opening day.
    fc = s.forecast
    assert fc.p_late == 0.0 and fc.after_opening is False and "no progress" in str(fc.basis)
    assert fc.low is not None and fc.high is not None and fc.low <= D("2026-09-11") <= fc.high


def test_zero_percent_after_the_planned_start_counts_the_days_since() -> None:
    # 09-05 at 0%: ES = 0 (the plan is at 0% until 09-01), SV = 4 days → at risk.
    s = status_of(project(), [], "2026-09-05")
    assert s.sv_days == pytest.approx(4.0)
    assert s.status == "at_risk"


def test_starting_early_is_ahead_and_on_track() -> None:
    # 08-30 at 10%: ES = 1 day after 09-01, i.e. 09-02; SV = −2 − 1 = −3 days.
    s = status_of(project(), reports(("2026-08-30", 10)), "2026-08-30")
    assert s.sv_days == pytest.approx(-3.0)
    assert s.status == "on_track" and s.days_late == 0.0


def test_done_at_one_hundred_percent() -> None:
    s = status_of(project(), reports(("2026-09-08", 60), ("2026-09-10", 100)), "2026-09-12")
    assert (s.status, s.percent, s.sv_days) == ("done", 100.0, None)
    assert s.forecast.finish == D("2026-09-10") and s.forecast.after_opening is False


def test_s_curve_earned_schedule() -> None:
    # S-curve 09-01 → 09-21 (20 days); on 09-11 (x = 1/2, planned 50%) at 15.625%: the plan got
    # there at x = 1/4, 5 days in, so SV = 10 − 5 = 5 days → at risk.
    s = status_of(project(finish="2026-09-21", curve="s_curve"), reports(("2026-09-11", 15.625)), "2026-09-11")
    assert s.planned == pytest.approx(50.0)
    assert s.earned_days == pytest.approx(5.0)
    assert s.sv_days == pytest.approx(5.0)
    assert s.status == "at_risk"


def test_thresholds_are_configurable() -> None:
    strict = CompletionSettings(_env_file=None, at_risk_days=1, behind_days=2)  # type: ignore[call-arg]
    s = status_of(project(), reports(("2026-09-08", 40)), "2026-09-08", strict)  # SV = 3
    assert s.status == "behind"
    lax = CompletionSettings(_env_file=None, at_risk_days=5, behind_days=20)  # type: ignore[call-arg]
    assert status_of(project(), reports(("2026-09-20", 80)), "2026-09-20", lax).status == "at_risk"  # SV = 11


def test_classify_rule_table() -> None:
    start, on = D("2026-09-01"), D("2026-09-10")
    assert classify(100.0, start, on, None, True, SETTINGS) == "done"  # done wins over a late forecast
    assert classify(0.0, D("2026-09-20"), on, None, False, SETTINGS) == "not_started"
    assert classify(50.0, start, on, 10.0, False, SETTINGS) == "at_risk"  # 10 is not above 10
    assert classify(50.0, start, on, 10.01, False, SETTINGS) == "behind"
    assert classify(50.0, start, on, 0.0, True, SETTINGS) == "behind"  # forecast after opening day
    assert classify(50.0, start, on, -4.0, False, SETTINGS) == "on_track"


def test_the_latest_report_on_or_before_the_date_counts_and_a_later_commit_wins_a_tie() -> None:
    rs = reports(("2026-09-03", 20), ("2026-09-06", 50), ("2026-09-06", 45), ("2026-09-09", 90))
    assert [r.percent for r in reports_on(rs, D("2026-09-06"))] == [20, 50, 45]
    s = status_of(project(), rs, "2026-09-07")
    assert s.percent == 45.0 and s.last_report is rs[2]


# ------------------------------------------------------------------ forecasts
def test_linear_forecast_from_the_last_twenty_days() -> None:
    # Plan 08-27 → 11-05. 40% on 09-16 and 60% on 10-06: 1% a day, so 40% more takes 40 days: 11-15.
    p = project("2026-08-27", "2026-11-05")
    rs = reports(("2026-09-06", 30), ("2026-09-16", 40), ("2026-09-26", 50), ("2026-10-06", 60))
    fc = forecast(p, rs, OPENING)
    assert fc.since == D("2026-09-16") and fc.since_percent == 40.0  # the latest report 20+ days back
    assert fc.rate == pytest.approx(1.0)
    assert fc.finish == D("2026-11-15")
    assert fc.after_opening is True
    # The readiness forecast weighs the whole history (42 plan days earned in 40), not the slow last
    # 20 days alone: an earlier finish than the single rate's, with the flag following its probability.
    s = status_of(p, rs, "2026-10-06")
    assert s.forecast.finish is not None and s.forecast.finish < fc.finish
    assert s.forecast.after_opening == (s.forecast.p_late > SETTINGS.late_probability_threshold)
    assert s.status == ("behind" if s.forecast.after_opening else "on_track")  # SV is 40 − 42 < 0


def test_a_project_slowing_down_is_behind_by_its_forecast_alone() -> None:
    # Plan 10-01 → 10-31 (30 days). 25% on 10-06, 65% on 10-26: SV = 25 − 19.5 = 5.5 days (at-risk range),
    # but 2% a day leaves 35% for 17.5 → 18 days: 11-13, after opening day, so behind.
    p = project("2026-10-01", "2026-10-31")
    s = status_of(p, reports(("2026-10-06", 25), ("2026-10-26", 65)), "2026-10-26")
    assert s.sv_days == pytest.approx(5.5)
    assert s.forecast.finish is not None and s.forecast.finish > OPENING and s.forecast.after_opening is True
    assert s.forecast.p_late is not None and s.forecast.p_late > SETTINGS.late_probability_threshold
    assert s.status == "behind"


def test_forecast_just_before_opening_is_not_flagged() -> None:
    # 2% a day from 60% on 10-16 leaves 20 days: 11-05 is opening day itself, not after it.
    p = project("2026-09-16", "2026-11-15")
    fc = forecast(p, reports(("2026-09-26", 20), ("2026-10-16", 60)), OPENING)
    assert fc.finish == D("2026-11-05") and fc.after_opening is False


def test_s_curve_forecast_keeps_pace_with_its_plan() -> None:
    # S-curve 09-01 → 09-21, on plan: 15.625% on 09-06 (ES 5), 84.375% on 09-16 (ES 15). Over 10 days the
    # earned schedule moved 10 days, a rate of 1, so the 5 plan days left end on 09-21, the planned finish
    # (the raw percent rate, 6.875% a day, would say 09-19).
    p = project(finish="2026-09-21", curve="s_curve")
    fc = forecast(p, reports(("2026-09-06", 15.625), ("2026-09-16", 84.375)), OPENING, span_days=10)
    assert fc.finish == D("2026-09-21")
    assert fc.rate == pytest.approx(6.875)


def test_without_an_early_enough_report_the_rate_runs_from_the_planned_start() -> None:
    # Plan 09-01 → 10-31; the only report, 20% on 09-21, is 20 days after the start: 1% a day, 80 days more.
    p = project("2026-09-01", "2026-10-31")
    fc = forecast(p, reports(("2026-09-21", 20)), OPENING)
    assert fc.since == D("2026-09-01") and fc.since_percent == 0.0
    assert fc.finish == D("2026-12-10") and fc.after_opening is True
    assert "planned start" in str(fc.basis)


def test_a_short_job_can_be_forecast_after_a_third_of_its_duration() -> None:
    # The flower display: S-curve 10-22 → 11-01 (10 days), 32% on 10-26. ES(32%) = 10 × x with
    # x = 1/2 − sin(asin(0.36)/3) = 0.3776, so 3.78 plan days in 4 days (r = 0.944); the 6.22 plan
    # days left take 6.6 → 7 days: 11-02.
    p = project("2026-10-22", "2026-11-01", "s_curve")
    fc = forecast(p, reports(("2026-10-26", 32)), OPENING)
    assert fc.since == D("2026-10-22")
    assert fc.finish == D("2026-11-02") and fc.after_opening is False
    assert forecast(p, reports(("2026-10-25", 20)), OPENING).finish is None  # 3 days is too early


@pytest.mark.parametrize(
    ("pairs", "why"),
    [((), "no progress"), ((("2026-09-21", 0),), "no progress"), ((("2026-09-06", 8),), "too early"),
     ((("2026-09-06", 30), ("2026-09-26", 30)), "stalled")],
)  # fmt: skip
def test_no_forecast_without_progress_says_why(pairs: tuple, why: str) -> None:
    fc = forecast(project("2026-09-01", "2026-10-31"), reports(*pairs), OPENING)
    assert fc.finish is None and fc.after_opening is None
    assert why in str(fc.basis)


def test_a_stalled_project_keeps_a_forecast_from_its_whole_history() -> None:
    p = project("2026-09-01", "2026-10-31")  # 60 days
    rs = reports(("2026-09-06", 30), ("2026-09-26", 30))
    s = status_of(p, rs, "2026-09-26")
    # ES(30%) = 18 days, 25 days in: SV = 7. The single rate has none (stalled); the readiness
    # forecast runs at the whole history's pace (18 plan days in 25), which misses opening day.
    assert forecast(p, rs, OPENING).finish is None and s.sv_days == pytest.approx(7.0)
    fc = s.forecast
    assert fc.finish is not None and fc.low is not None and fc.high is not None
    assert OPENING < fc.finish < OPENING.replace(year=2027) and fc.low < fc.finish < fc.high
    assert fc.after_opening is True and s.status == "behind"


def test_forecast_uses_only_reports_dated_up_to_the_day() -> None:
    p = project("2026-08-27", "2026-11-05")
    rs = reports(("2026-09-16", 40), ("2026-10-06", 60), ("2026-10-16", 95))
    s = status_of(p, rs, "2026-10-06")
    assert s.percent == 60.0 and s.forecast == status_of(p, rs[:2], "2026-10-06").forecast
    assert s.forecast != status_of(p, rs, "2026-10-16").forecast


def test_not_reported_done_by_a_date_after_opening_day_has_missed_it() -> None:
    """Read a month after opening day, a project at 95% on 10-26 with nothing since is forecast
    (from its latest report) to have finished before opening day, but it was never reported done:
    it missed opening day — p_late 1 (not the 0% a finish before opening day gives), flagged,
    behind, and the forecast from its latest report a date gone by ("passed"), its forecast carried
    forward to the date read. Read before opening day the same reports keep their chance; a project
    reported done before opening day did not miss it."""
    p = project("2026-09-01", "2026-10-31")
    rs = reports(("2026-10-06", 70), ("2026-10-26", 95))
    after = status_of(p, rs, "2026-12-06")
    fc = after.forecast
    assert fc.passed is not None and fc.passed < OPENING  # from its latest report: before opening day
    assert fc.finish is not None and fc.low is not None and after.on <= fc.low <= fc.finish  # carried forward
    assert fc.missed and fc.p_late == 1.0 and fc.after_opening is True and after.status == "behind"
    assert after.forecast_passed and "missed" in str(fc.basis)
    assert fc.to_dict()["missed_opening"] is True and fc.to_dict()["probability_on_time"] == 0.0
    assert fc.to_dict()["passed_finish"] == fc.passed.isoformat()
    before = status_of(p, rs, "2026-10-26").forecast
    assert not before.missed and before.p_late is not None and before.p_late < 0.5
    finished = status_of(p, reports(("2026-10-06", 70), ("2026-11-01", 100)), "2026-12-06")
    assert finished.status == "done" and not finished.forecast.missed and finished.forecast.p_late == 0.0
    assert not finished.forecast_passed
