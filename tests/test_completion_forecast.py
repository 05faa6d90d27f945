"""Readiness forecasts (completion.forecast) and the season simulator (completion.season).

Constructed registers check each behaviour the forecaster promises; a small simulated season checks,
loosely, that it tells late projects from the others better than the single-rate forecast it replaced.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from completion.forecast import NO_ROUNDING, fit_pool, forecast, outlooks
from completion.register import Project, Report
from completion.season import HARD_SEASON, SeasonAssumptions, simulate
from completion.settings import CompletionSettings
from completion.status import evaluate_all, readiness, reports_on, single_rate_forecast
from twin.settings import SettingsError

D = date.fromisoformat
OPENING = D("2026-11-05")
SETTINGS = CompletionSettings(_env_file=None)  # type: ignore[call-arg]


def project(code: str, start: str, finish: str, unit: str = "Unit A", category: str = "support_road") -> Project:
    return Project(
        code=code, name_zh=code, name_en=code, category=category, area="roads", responsible_unit=unit,
        planned_start=D(start), planned_finish=D(finish), quantity=100.0, quantity_unit="m",
    )  # fmt: skip


def steady(
    start: str, pace_percent: float, until: str, every: int = 10, stop_from: str | None = None,
    stop_days: int = 10_000,
) -> list[Report]:  # fmt: skip
    """Reports every ``every`` days from the start at ``pace_percent`` a day (no progress for
    ``stop_days`` from ``stop_from``)."""
    out: list[Report] = []
    day, end = D(start) + timedelta(days=every), D(until)
    stop = D(stop_from) if stop_from else None
    while day <= end:
        worked = (day - D(start)).days
        if stop is not None:
            worked -= max(0, min((day - stop).days, stop_days))
        out.append(
            Report(day, min(100.0, round(worked * pace_percent, 1)), "r", None, None, f"c{len(out)}", len(out) + 1,
                   datetime(2026, 1, 1, tzinfo=UTC))
        )  # fmt: skip
        day += timedelta(days=every)
    return out


def a_class(n: int, percent_a_day: float, unit: str = "Unit A", category: str = "support_road") -> list[tuple]:
    """``n`` projects of one class (plan 08-01 → 10-30, 90 days), all at the same pace, reported to 10-06."""
    return [
        (project(f"{unit[-1]}-{i:02d}", "2026-08-01", "2026-10-30", unit, category),
         steady("2026-08-01", percent_a_day * (0.9 + 0.2 * i / n), "2026-10-06"))
        for i in range(n)
    ]  # fmt: skip


ON = D("2026-10-06")  # T-30


# ------------------------------------------------------------------ the simulator
def test_a_season_is_the_same_for_the_same_seed_and_another_for_another() -> None:
    a, b, c = simulate(7, SeasonAssumptions(projects=80)), simulate(7, SeasonAssumptions(projects=80)), simulate(8)
    assert a.true_finish == b.true_finish and a.stoppages == b.stoppages
    assert {k: [(r.on, r.percent) for r in v] for k, v in a.reports.items()} == {
        k: [(r.on, r.percent) for r in v] for k, v in b.reports.items()
    }
    assert [p.planned_finish for p in a.projects] == [p.planned_finish for p in b.projects]
    assert a.true_finish != {k: c.true_finish.get(k) for k in a.true_finish}


def test_a_season_follows_the_registers_rules_and_its_assumptions() -> None:
    season = simulate(3)
    assert len(season.projects) == SeasonAssumptions().projects
    for p in season.projects:
        assert p.planned_start < p.planned_finish <= season.opening  # back-scheduled from opening day
        rs = season.reports[p.code]
        assert all(r.on >= p.planned_start for r in rs)  # none before the planned start
        assert [r.percent for r in rs] == sorted(r.percent for r in rs)  # never lower
        for r in rs:  # 100% only once the work is truly done
            assert (r.percent >= 100.0) == (season.true_finish[p.code] <= r.on)
        assert all((r.on - season.opening).days % 10 == 0 for r in rs)  # on the 10-day checkpoints
    late = sum(f > season.opening for f in season.true_finish.values())
    assert 0.05 < late / len(season.projects) < 0.5  # some, not most, miss opening day
    hard = simulate(3, HARD_SEASON)
    assert len(hard.stoppages) > len(season.stoppages)
    assert sum(f > hard.opening for f in hard.true_finish.values()) > late


# ------------------------------------------------------------------ constructed cases
def test_a_steady_project_finishing_after_opening_day_is_likely_late() -> None:
    # 0.5% a day since 08-01: 30% on 09-30, so another 140 days at that pace — far beyond opening day.
    register = a_class(12, 1.3) + [
        (project("SLOW", "2026-08-01", "2026-10-30"), steady("2026-08-01", 0.5, "2026-10-06"))
    ]
    slow = outlooks(register, ON, OPENING)[-1]
    assert slow.p_late > 0.9 and slow.finish > OPENING and slow.low <= slow.finish <= slow.high
    # ...and the class itself, at about 1.3% a day (done by about 10-18), mostly is not.
    assert sum(o.p_late < 0.5 for o in outlooks(register, ON, OPENING)[:-1]) >= 9


def test_a_finished_project_has_finished() -> None:
    done = steady("2026-08-01", 2.0, "2026-10-06")  # 100% reported on 09-20
    o = outlooks(a_class(10, 1.1) + [(project("DONE", "2026-08-01", "2026-10-30"), done)], ON, OPENING)[-1]
    assert (o.p_late, o.finish, o.low, o.high) == (0.0, D("2026-09-20"), D("2026-09-20"), D("2026-09-20"))
    late_done = [(project("LATE", "2026-08-01", "2026-10-30"), steady("2026-08-01", 1.0, "2026-11-10", every=5))]
    assert outlooks(late_done, D("2026-11-12"), OPENING)[0].p_late == 1.0


def test_a_project_just_started_leans_on_its_reference_class() -> None:
    # Started 10-01 with a 31-day plan, 16% on 10-06 (its plan's pace); the same project in a class
    # that runs at two-thirds of its plans and in one that keeps to its plans.
    new = (project("NEW", "2026-10-01", "2026-11-01"), steady("2026-10-01", 3.2, "2026-10-06", every=5))
    in_slow = outlooks(a_class(12, 0.75) + [new], ON, OPENING)[-1]
    in_fast = outlooks(a_class(12, 1.15) + [new], ON, OPENING)[-1]
    assert in_slow.finish > in_fast.finish + timedelta(days=5)
    assert in_slow.p_late > in_fast.p_late + 0.3
    assert "its reference class (support_road, 12 other projects; Unit A, 12 other projects)" in str(in_slow.basis)
    # A register of another category and unit says nothing about either: the whole register is its class.
    other = outlooks(a_class(12, 0.75, "Unit B", "power") + [new], ON, OPENING)[-1]
    assert "its reference class (the whole register, 12 other projects)" in str(other.basis)


def test_a_project_reported_at_0_percent_has_no_progress_whatever_its_curve() -> None:
    # An S-curve plan reported at 0%: not a project crawling at a speck of a pace (which would read
    # as stopped), but one not yet under way, forecast from its class's pace.
    zero = [Report(D("2026-10-01"), 0.0, "r", None, None, "z", 1, datetime(2026, 1, 1, tzinfo=UTC))]
    for curve in ("s_curve", "linear"):
        p = replace(project("ZERO", "2026-09-26", "2026-10-26"), curve=curve)
        o = outlooks([*a_class(12, 1.1), (p, zero)], ON, OPENING)[-1]
        assert str(o.basis).startswith("no progress yet"), (curve, str(o.basis))


def test_a_stoppage_in_the_last_window_does_not_collapse_the_rate() -> None:
    # 1.2% a day from 08-01, then stopped from 09-16: three reports at 54% (the last 20 days flat).
    stopped = (
        project("STOP", "2026-08-01", "2026-10-30"),
        steady("2026-08-01", 1.2, "2026-10-06", stop_from="2026-09-06"),
    )
    register = a_class(12, 1.1) + [stopped]
    assert single_rate_forecast(stopped[0], reports_on(stopped[1], ON), OPENING).finish is None  # "stalled"
    o = outlooks(register, ON, OPENING)[-1]
    assert o.pace is not None and o.pace > 0.3  # the whole history, not the flat last window
    assert o.finish < OPENING + timedelta(days=120) and o.low < o.finish < o.high
    assert 0.0 < o.p_late <= 1.0


def test_stoppages_the_register_has_seen_are_a_risk_that_grows_with_the_work_left() -> None:
    # Twelve projects that each stopped for 20 days from 08-21 and then went on: the register has
    # seen stoppages begin and end. The same steady projects, one with most of its work left and
    # one nearly done, in that register and in one whose projects never stopped.
    stopping = [
        (project(f"S-{i:02d}", "2026-08-01", "2026-10-30"),
         steady("2026-08-01", 1.3 * (0.9 + 0.2 * i / 12), "2026-10-06", stop_from="2026-08-21", stop_days=20))
        for i in range(12)
    ]  # fmt: skip
    smooth = a_class(12, 1.1)
    long_left = (project("LONG", "2026-09-06", "2026-11-04"), steady("2026-09-06", 1.75, "2026-10-06"))
    short_left = (project("SHORT", "2026-08-01", "2026-10-20"), steady("2026-08-01", 1.45, "2026-10-06"))
    with_stops = outlooks([*smooth, *stopping, long_left, short_left], ON, OPENING)
    without = outlooks([*smooth, *a_class(12, 1.1, "Unit B"), long_left, short_left], ON, OPENING)
    # Half its work left, a month to go: the stoppages seen add real risk and a later upper bound.
    assert with_stops[-2].p_late > without[-2].p_late + 0.05
    assert with_stops[-2].high > without[-2].high
    # A few days of work left: hardly any.
    assert with_stops[-1].p_late < 0.1 and with_stops[-1].p_late - without[-1].p_late < 0.05


def test_a_project_stopped_now_waits_out_a_stoppage_then_works_at_its_working_pace() -> None:
    # The register has seen a dozen stoppages of about 20 days; a project that has worked at 1.5%
    # a day (its plan's pace) has shown no progress since 09-20 (its reports of 09-25 and 10-05).
    stopping = [
        (project(f"S-{i:02d}", "2026-08-01", "2026-10-30"),
         steady("2026-08-01", 1.3 * (0.9 + 0.2 * i / 12), "2026-10-06", stop_from="2026-08-21", stop_days=20))
        for i in range(12)
    ]  # fmt: skip
    stopped = (
        project("NOW", "2026-08-16", "2026-10-20"),
        steady("2026-08-16", 1.5, "2026-10-06", stop_from="2026-09-20"),
    )
    o = outlooks([*a_class(12, 1.1), *stopping, stopped], ON, OPENING)[-1]
    assert str(o.basis).startswith("stopped: resumes after a wait")
    # About 30 plan days left at about its working pace, after a wait of days to weeks: November,
    # not the months its diluted whole-history pace would give.
    assert o.pace is not None and o.pace > 0.8
    assert D("2026-10-25") < o.finish < D("2026-12-05") and o.low < o.finish < o.high


def test_a_partly_stopped_span_does_not_drag_the_working_pace() -> None:
    # 1.2% a day, but stopped 6 days inside one ten-day span: 40% of that span's progress. Its working
    # pace is that of its other spans, as if it had not stopped (the lost days are a stoppage's).
    register = a_class(12, 1.1)
    plain = (project("PLAIN", "2026-08-01", "2026-10-30"), steady("2026-08-01", 1.2, "2026-10-06"))
    part = (
        project("PART", "2026-08-01", "2026-10-30"),
        steady("2026-08-01", 1.2, "2026-10-06", stop_from="2026-08-25", stop_days=6),
    )
    a, b = outlooks([*register, plain, part], ON, OPENING)[-2:]
    assert a.pace is not None and b.pace is not None
    assert abs(b.pace / a.pace - 1.0) < 0.03


def test_a_crews_recent_pace_counts_for_more_than_its_old_one() -> None:
    # 0.8% a day to 09-01, 1.4% a day since: its working pace leans towards the recent one.
    def sped_up() -> list[Report]:
        out, pct = [], 0.0
        for k, day in enumerate(D("2026-08-11") + timedelta(days=10 * j) for j in range(6)):
            pct += 10 * (0.8 if day <= D("2026-09-01") else 1.4)
            out.append(Report(day, round(pct, 1), "r", None, None, f"c{k}", k + 1, datetime(2026, 1, 1, tzinfo=UTC)))
        return out

    faster = (project("FAST", "2026-08-01", "2026-10-30"), sped_up())
    o = outlooks([*a_class(12, 1.1), faster], ON, OPENING)[-1]
    # Plan days a day: the plain mean of its later spans would be (2 x 0.8 + 3 x 1.4) / 5 % a day.
    plain = (2 * 0.8 + 3 * 1.4) / 5 * 90 / 100
    assert o.pace is not None and o.pace > plain * 1.02


def test_projects_dragged_down_by_unseen_stoppages_do_not_drag_their_class() -> None:
    # A project just started leans on its class; three of the class's fifteen crawled (stoppages the
    # reports did not show as stops). Its class pace stays about that of the other twelve.
    new = (project("NEW", "2026-10-01", "2026-11-01"), steady("2026-10-01", 3.2, "2026-10-06", every=5))
    crawling = [
        (project(f"C-{i}", "2026-08-01", "2026-10-30"), steady("2026-08-01", 0.35, "2026-10-06")) for i in range(3)
    ]
    clean = outlooks([*a_class(12, 1.1), new], ON, OPENING)[-1]
    dragged = outlooks([*a_class(12, 1.1), *crawling, new], ON, OPENING)[-1]
    assert clean.pace is not None and dragged.pace is not None
    assert dragged.pace > 0.93 * clean.pace


def test_reporters_who_round_up_are_read_back_by_what_the_register_shows() -> None:
    # The default season has a share of reporters who add a few points and round up to fives: the
    # register shows how many, and by about how much their figures run ahead.
    season = simulate(5)
    on = season.opening - timedelta(days=30)
    known = season.reports_until(on)
    items = [(p, known[p.code]) for p in season.projects]
    pool = fit_pool(items, on, season.opening)
    assumed = season.assumptions
    assert abs(pool.rounding.share - assumed.optimist_share) < 0.1
    assert 1.0 < pool.rounding.points < 3 * (assumed.optimist_bias + 2.5)
    # A project reported only in fives is read back by about that; one with other figures is not.
    fives = (project("FIVES", "2026-08-01", "2026-10-30"), steady("2026-08-01", 0.5, "2026-10-06"))
    fives = (fives[0], [replace(r, percent=5.0 * round(r.percent / 5.0 + 0.5)) for r in fives[1]])
    other = (project("OTHER", "2026-08-01", "2026-10-30"), steady("2026-08-01", 0.51, "2026-10-06"))
    read_back = forecast(pool, [fives, other], on, season.opening)
    as_told = forecast(replace(pool, rounding=NO_ROUNDING), [fives, other], on, season.opening)
    assert read_back[0].finish > as_told[0].finish and read_back[0].p_late >= as_told[0].p_late
    assert read_back[1] == as_told[1]
    # A season whose reporters never round up: nothing is read back.
    plain = simulate(5, SeasonAssumptions(optimist_share=0.0))
    known = plain.reports_until(on)
    assert fit_pool([(p, known[p.code]) for p in plain.projects], on, plain.opening).rounding.share < 0.05


def test_the_flag_follows_the_threshold_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    register = a_class(12, 1.0)  # finishing near 10-30 to 11-10: uncertain
    p_late = [o.p_late for o in outlooks(register, ON, OPENING)]
    for threshold in (0.1, 0.5, 0.9):
        monkeypatch.setenv("VENUE_TWIN_LATE_PROBABILITY_THRESHOLD", str(threshold))
        settings = CompletionSettings(_env_file=None)  # type: ignore[call-arg]
        flags = [s.forecast.after_opening for s in evaluate_all(register, ON, OPENING, settings)]
        assert flags == [p > threshold for p in p_late]
    monkeypatch.setenv("VENUE_TWIN_LATE_PROBABILITY_THRESHOLD", "1.5")
    with pytest.raises(SettingsError, match="VENUE_TWIN_LATE_PROBABILITY_THRESHOLD"):
        CompletionSettings(_env_file=None)  # type: ignore[call-arg]


def test_the_same_register_gives_the_same_forecasts() -> None:
    register = a_class(12, 1.0)
    assert outlooks(register, ON, OPENING) == outlooks(list(register), ON, OPENING)


# ------------------------------------------------------------------ a simulated season
def test_on_a_simulated_season_it_finds_the_late_projects_better_than_the_single_rate() -> None:
    season = simulate(11, SeasonAssumptions(projects=300))
    on = season.opening - timedelta(days=30)
    known = season.reports_until(on)
    items = [(p, known[p.code]) for p in season.projects]
    new = readiness(items, on, season.opening, SETTINGS)
    old = [single_rate_forecast(p, reports_on(rs, on), season.opening) for p, rs in items]
    open_ = [i for i, (_, rs) in enumerate(items) if not (rs and rs[-1].percent >= 100)]
    late = {i for i in open_ if season.true_finish[items[i][0].code] > season.opening}
    assert len(late) >= 10, "the season should have late projects"

    def recall(fcs: list) -> float:
        return sum(bool(fcs[i].after_opening) for i in late) / len(late)

    def false_alarms(fcs: list) -> float:
        flagged = [i for i in open_ if fcs[i].after_opening]
        return sum(i not in late for i in flagged) / len(flagged)

    def f1(fcs: list) -> float:
        precision = 1.0 - false_alarms(fcs)
        return 2 * precision * recall(fcs) / (precision + recall(fcs))

    # At the default threshold it finds about as many late projects with far fewer false alarms.
    assert f1(new) > f1(old) and recall(new) > recall(old) - 0.1
    # The late projects a forecast on the day could foresee (not late by a stoppage yet to begin) are
    # flagged far more often than the projects that finish on time (at the default threshold about
    # half of them, against a few in a hundred).
    unseen = {i for i in late if min((a for a, _ in season.stoppages.get(items[i][0].code, [])), default=on) > on}
    foreseeable = late - unseen
    on_time = [i for i in open_ if i not in late]
    found = sum(bool(new[i].after_opening) for i in foreseeable) / len(foreseeable)
    assert found >= 0.4 and found > 5 * sum(bool(new[i].after_opening) for i in on_time) / len(on_time)
    assert false_alarms(new) < 0.5 and false_alarms(new) < false_alarms(old) - 0.1
    brier_new = sum((new[i].p_late - (i in late)) ** 2 for i in open_) / len(open_)
    brier_old = sum((float(bool(old[i].after_opening)) - (i in late)) ** 2 for i in open_) / len(open_)
    assert brier_new < brier_old
    covered = [new[i].low <= season.true_finish[items[i][0].code] <= new[i].high for i in open_]
    assert 0.7 < sum(covered) / len(covered) < 0.9  # roughly the 80% the intervals claim
    # Probabilities mean something: the likeliest tenth is late far more often than the least likely half.
    ranked = sorted(open_, key=lambda i: new[i].p_late)
    top, bottom = ranked[-len(ranked) // 10 :], ranked[: len(ranked) // 2]
    assert sum(i in late for i in top) / len(top) > 3 * sum(i in late for i in bottom) / len(bottom)


def test_a_projects_outlook_is_the_same_forecast_alone_or_with_the_whole_register() -> None:
    """Learnt once, the pool is all a project's forecast shares with the others: its own random
    draws are keyed by its code, so alone, in the batch or in another order it is the same."""
    season = simulate(3, HARD_SEASON)
    on = season.opening - timedelta(days=25)  # between checkpoints: the pool is learnt up to T-30
    known = season.reports_until(on)
    items = [(p, known[p.code]) for p in season.projects]
    pool = fit_pool(items, on, season.opening)
    assert pool.checkpoint == season.opening - timedelta(days=30)
    assert pool.stops.priced
    batch = forecast(pool, items, on, season.opening)
    assert batch == outlooks(items, on, season.opening)
    assert any(str(o.basis).startswith("stopped: resumes") for o in batch)  # waits drawn too
    assert forecast(pool, items[::-1], on, season.opening) == batch[::-1]
    for item, whole in zip(items, batch, strict=True):
        assert forecast(pool, [item], on, season.opening) == [whole]
