"""The bundled preparation season: the register, its reports, and the figures a new user first sees."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from completion import Completion, ProgressReport, Project, report_progress, save_projects
from completion.register import Register
from completion.reports import check_feature_refs, check_report
from layers.bundle import build_bundled_twin, projects_history_files
from layers.projects_demo import write_season
from twin import Twin

D = date.fromisoformat
SH = ZoneInfo("Asia/Shanghai")
T30, T10 = "2026-10-06", "2026-10-26"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory):
    t = build_bundled_twin(tmp_path_factory.mktemp("demo") / "venue.gpkg")
    yield t
    t.close()


def test_generator_reproduces_the_bundled_register_files(tmp_path: Path) -> None:
    fresh = write_season(tmp_path)
    bundled = projects_history_files()
    assert [p.name for p in fresh] == [p.name for p in bundled]
    for a, b in zip(fresh, bundled, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{b.name} is stale: run python -m layers.projects_demo"


def test_the_register_holds_about_sixty_projects_over_the_four_areas(twin: Twin) -> None:
    projects = Register(twin).projects(twin.resolve())
    assert 55 <= len(projects) <= 65
    areas = Counter(p.area for p in projects)
    assert set(areas) == {"south_plaza", "halls", "roads", "landscaping"} and min(areas.values()) >= 8
    assert len({p.responsible_unit for p in projects}) >= 6
    categories = {p.category for p in projects}
    assert {"venue_renovation", "support_road", "city_appearance", "landscaping", "lighting"} <= categories
    assert categories - {"venue_renovation", "support_road", "city_appearance", "landscaping", "lighting"}, (
        "some projects use a category of the users' own"
    )
    assert {p.quantity_unit for p in projects} == {"m²", "m", "pots", "lamps", "items"}
    head = twin.resolve()
    for p in projects:
        assert p.features and check_feature_refs(twin, p.features, head.seq) == [], p.code
        assert p.responsible_person and p.planned_start <= p.planned_finish <= D("2026-11-05")


def test_every_bundled_report_obeys_the_rules_and_is_dated_by_its_commit(twin: Twin) -> None:
    reg = Register(twin)
    dates = set()
    for p in reg.projects(twin.resolve()):
        last: Project | None = None
        for h in reg.history(p.code):
            props = orjson.loads(h.geojson)["properties"]
            now = Project.from_properties(props)
            if last is not None and now.progress_date is not None and now.progress_date != last.progress_date:
                r = ProgressReport(p.code, now.percent_complete or 0.0, now.progress_date, now.progress_note,
                                   now.progress_reason)  # fmt: skip
                assert check_report(last, r, h.commit.time.astimezone(SH).date()) == [], (p.code, r)
                assert h.commit.author == now.progress_reporter
                assert h.commit.time.astimezone(SH).date() == now.progress_date
                dates.add(now.progress_date)
            last = now
    assert min(dates) == D("2026-07-28") and max(dates) == D("2026-10-26")  # T-100 to T-10
    assert len(dates) == 10  # every checkpoint


def test_the_register_changes_on_the_way_and_the_history_says_who_and_when(twin: Twin) -> None:
    h = twin.history("projects", "RD-03")
    finishes = [(e.commit.author, orjson.loads(e.geojson)["properties"]["planned_finish"]) for e in h]
    changed = [(a, f) for (a, f), (_, g) in zip(finishes[1:], finishes, strict=False) if f != g]
    assert changed == [("郭晖 Guo Hui (district battle-map office)", "2026-10-25")]
    comp = Completion(twin)
    assert comp.at("2026-09-01").status("RD-03").project.planned_finish == D("2026-10-10")
    assert comp.at("2026-09-06").status("RD-03").project.planned_finish == D("2026-10-25")
    with pytest.raises(Exception, match="SP-11"):
        comp.at("2026-08-19").status("SP-11")  # added on 08-20
    assert "roads/road-ramp-songze-laigang-ne" in comp.at(T30).status("RD-05").project.features


def test_a_failed_inspection_lowered_a_figure_with_its_reason(twin: Twin) -> None:
    rs = Register(twin).reports("RD-01", twin.resolve())
    drops = [(a, b) for a, b in zip(rs, rs[1:], strict=False) if b.percent < a.percent]
    assert len(drops) == 1
    assert drops[0][1].reason and "Inspection" in drops[0][1].reason


def test_figures_at_t_minus_30(twin: Twin) -> None:
    snap = Completion(twin).at("T-30")
    assert snap.on == D(T30) and snap.checkpoint == "T-30"
    overall = snap.overall()
    assert overall.projects == 60
    assert overall.counts == {"not_started": 3, "on_track": 29, "at_risk": 10, "behind": 2, "done": 16}
    assert (round(overall.planned, 1), round(overall.actual, 1)) == (72.4, 68.5)
    areas = {g.key: round(g.actual, 1) for g in snap.groups("area")}
    assert areas == {"halls": 69.4, "landscaping": 74.9, "roads": 77.6, "south_plaza": 42.9}
    late = snap.late()
    # The two projects well behind are flagged already, all but sure to miss opening day.
    assert [(s.project.code, s.days_late) for s in late] == [("RD-03", 29.1), ("HL-07", 24.4)]
    assert late[0].project.responsible_unit.startswith("国网上海市电力公司")
    assert all(s.forecast.after_opening and s.forecast.p_late is not None and s.forecast.p_late > 0.9 for s in late)
    # SP-09, the third to miss it, is only 3.6 days behind its plan: 5% in its first five days reads
    # as a late start (on the register a slow first span says little about a crew's pace), so it is
    # at risk, not yet flagged; its next report (15% at T-20) flags it.
    sp09 = snap.status("SP-09")
    assert sp09.status == "at_risk" and sp09.forecast.p_late is not None and sp09.forecast.p_late < 0.4
    assert Completion(twin).at("T-20").status("SP-09").forecast.after_opening


def test_figures_at_t_minus_10(twin: Twin) -> None:
    snap = Completion(twin).at("T-10")
    overall = snap.overall()
    assert overall.counts == {"not_started": 0, "on_track": 6, "at_risk": 3, "behind": 3, "done": 48}
    assert (round(overall.planned, 1), round(overall.actual, 1)) == (96.9, 94.8)
    late = snap.late()
    assert [s.project.code for s in late] == ["HL-07", "RD-03", "SP-09"]
    # Ten days out, all three surely miss opening day, by one to three weeks (the Monte Carlo's
    # exact dates are not hand-checkable, so the test holds them to what they must be).
    for s in late:
        fc = s.forecast
        assert fc.after_opening and fc.p_late == 1.0
        assert fc.low is not None and fc.high is not None and fc.finish is not None
        assert D("2026-11-05") < fc.low <= fc.finish <= fc.high < D("2026-12-05")
    # The flower display goes in during the last ten days before opening: on track, forecast just in time.
    sp02 = snap.status("SP-02")
    assert sp02.status == "on_track" and sp02.forecast.finish is not None
    assert sp02.forecast.finish <= D("2026-11-05")


def test_an_earlier_checkpoint_gives_the_figures_as_they_stood_then(twin: Twin, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "copy.gpkg"
    twin_file = Path(twin.store.path)  # type: ignore[attr-defined]
    shutil.copyfile(twin_file, path)
    with Twin.open(path) as copy:
        before = Completion(copy).at("T-30")
        # A report made today, the lowest figure yet with its reason, does not touch the T-30 figures.
        report_progress(
            copy,
            ProgressReport("RD-03", 60, D("2026-11-20"), reason="re-surveyed"),
            reporter="孙浩 Sun Hao",
            time=datetime(2026, 11, 20, 17, 0, tzinfo=SH),
        )
        after = Completion(copy).at("T-30")
        assert [(s.project.code, s.percent, s.status) for s in after.statuses] == [
            (s.project.code, s.percent, s.status) for s in before.statuses
        ]
        assert after.overall() == before.overall()
        assert Completion(copy).at("2026-11-20").status("RD-03").percent == 60.0


def test_the_s_curve_up_to_t_minus_10(twin: Twin) -> None:
    comp = Completion(twin)
    snap = comp.at("T-10")
    points = comp.scurve(snap)["overall"]
    assert [p.checkpoint.label for p in points] == [f"T-{n}" for n in range(110, -1, -10)]
    planned = [p.planned for p in points]
    assert planned == sorted(planned) and planned[-1] == pytest.approx(100.0)
    assert points[-1].actual is None  # opening day is after the date
    actual = [p.actual for p in points[:-1]]
    assert actual[-1] == pytest.approx(snap.overall().actual)
    # No register change after T-30, so the curve's T-30 point is what T-30 itself reported.
    assert actual[-3] == pytest.approx(comp.at("T-30").overall().actual)
    # The season ran a little behind its plan from T-90 on.
    assert all(a is not None and a < p for a, p in zip(actual[2:], planned[2:-1], strict=True))
    by_area = comp.scurve(snap, "area")
    assert set(by_area) == {"halls", "landscaping", "roads", "south_plaza"}


def test_map_colours_follow_the_worst_project_on_a_feature(twin: Twin) -> None:
    colours = Completion(twin).at("T-10").feature_statuses()
    assert colours["halls/hall-6.1H"] == "behind"  # HL-07
    assert colours["roads/road-huizhuo-1"] == "behind"  # RD-03, though RD-18 on the same road is further on
    assert colours["landscaping/ls-clover-green"] == "at_risk"  # LS-08, while LS-01 and LS-15 are done


def test_a_new_head_reevaluates_only_what_a_report_touched_and_equals_a_full_evaluation(tmp_path: Path) -> None:
    """After a report dated after the pool's checkpoint, the snapshot of the new head keeps the pool
    and every other project's status and forecasts one project; after a back-dated report the pool
    is learnt again. Either way it is what a full evaluation of that version on that date gives."""
    from completion import CompletionSettings, evaluate_all
    from completion.forecast import pool_checkpoint

    demo = build_bundled_twin(tmp_path / "venue.gpkg")
    try:
        day = D("2026-10-29")  # the day after the demo's last report; its pool checkpoint is T-10
        settings = CompletionSettings()
        opening = settings.opening_day(2026)
        checkpoint = pool_checkpoint(day, opening, settings.checkpoint_days)
        assert checkpoint == D(T10) < day

        def head_snapshot():
            return Completion(demo).at(day, demo.resolve().commit.id)

        def fresh(snap):  # every project evaluated afresh, the pool learnt afresh
            items = [(s.project, snap.reports[s.project.code]) for s in snap.statuses]
            return evaluate_all(items, day, opening, settings)

        before = head_snapshot()
        assert before.pool is not None and before.pool.checkpoint == checkpoint
        open_ = [s for s in before.statuses if s.status != "done" and s.project.planned_start < checkpoint]
        today = open_[0]
        report_progress(
            demo, ProgressReport(today.project.code, today.percent + 5.0, day), reporter="r.today",
            time=datetime(2026, 10, 29, 10, tzinfo=SH),
        )  # fmt: skip
        after = head_snapshot()
        assert after.pool is before.pool  # the pool as it was: only the reported project forecast again
        assert all(
            a is b for a, b in zip(after.statuses, before.statuses, strict=True) if a.project.code != today.project.code
        )
        assert after.status(today.project.code).percent == today.percent + 5.0
        assert after.statuses == fresh(after)

        # A report dated on the checkpoint: a late first report (a day gone by keeps any figure
        # reported for it, and every open project has one for T-10), of a project registered
        # late with no report yet, as open_[1] is but for its code. The pool moves.
        from completion.register import PROGRESS_FIELDS

        late = open_[1]
        record = {k: v for k, v in late.project.properties.items() if k not in PROGRESS_FIELDS}
        save_projects(demo, [{**record, "code": "LATE-1"}], author="coordinator", message="registered late",
                      time=datetime(2026, 10, 29, 10, 30, tzinfo=SH))  # fmt: skip
        report_progress(
            demo, ProgressReport("LATE-1", late.percent + 2.0, checkpoint), reporter="r.late",
            time=datetime(2026, 10, 29, 11, tzinfo=SH),
        )  # fmt: skip
        backdated = head_snapshot()
        assert backdated.pool is not after.pool
        assert backdated.status("LATE-1").percent == late.percent + 2.0
        assert backdated.statuses == fresh(backdated)
        assert [s.forecast for s in backdated.statuses] != [s.forecast for s in after.statuses]
    finally:
        demo.close()
