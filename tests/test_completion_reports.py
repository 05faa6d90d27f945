"""Writing to the register: the progress-report rules, the feature references, and reading back as of a date."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import shapely

from completion import Completion, ProgressReport, report_progress, save_projects
from completion.register import Project, Register, reports_from_history
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from twin import Change, Conflict, Feature, NotFound, Twin, ValidationFailed

SH = ZoneInfo("Asia/Shanghai")
D = date.fromisoformat


def at(text: str) -> datetime:
    """A commit time: the given Shanghai date at 17:00 (or a full local time)."""
    return datetime.fromisoformat(text if "T" in text else f"{text}T17:00:00").replace(tzinfo=SH)


def record(code: str = "P-1", **kw) -> dict:
    d = {
        "code": code,
        "name_zh": "测试项目",
        "name_en": "Test project",
        "category": "venue_renovation",
        "area": "halls",
        "features": ["halls/hall-T"],
        "responsible_unit": "Unit A",
        "responsible_person": "Person A",
        "planned_start": "2026-09-01",
        "planned_finish": "2026-09-11",
        "quantity": 1000,
        "quantity_unit": "m²",
    }
    d.update(kw)
    return d


@pytest.fixture
def twin(tmp_path: Path):
    t = Twin.create(tmp_path / "t.gpkg", LAYERS, AREA_OF_INTEREST)
    hall = Feature(
        "hall-T",
        shapely.box(121.295, 31.190, 121.296, 31.191),
        {"code": "T", "name_zh": "测试馆", "name_en": "Test hall", "level": "0m", "hall_type": "exhibition",
         "responsible_unit": "Unit A"},
    )  # fmt: skip
    t.commit([Change("halls", "add", "hall-T", hall)], author="surveyor", message="hall", time=at("2026-07-01"))
    save_projects(t, [record()], author="office", message="register", time=at("2026-08-01"))
    yield t
    t.close()


def state(twin: Twin) -> tuple[int, bytes]:
    return twin.store.commit_count(), twin.feature("projects", "P-1")


def report(twin: Twin, pct: float, on: str, committed: str | None = None, **kw) -> object:
    return report_progress(
        twin, ProgressReport("P-1", pct, D(on), kw.pop("note", None), kw.pop("reason", None)),
        reporter=kw.pop("reporter", "liaison"), time=at(committed or on), **kw,
    )  # fmt: skip


def refused(twin: Twin, pct: float, on: str, committed: str | None = None, **kw) -> str:
    before = state(twin)
    with pytest.raises(ValidationFailed) as e:
        report(twin, pct, on, committed, **kw)
    assert state(twin) == before, "a refused report must change nothing"
    return "; ".join(p.reason for p in e.value.problems)


# ------------------------------------------------------------------ the rules
def test_an_accepted_report_is_one_commit_by_the_reporter(twin: Twin) -> None:
    n = twin.store.commit_count()
    info = report(twin, 30, "2026-09-04", note="Ceiling frames up", reporter="马骏 Ma Jun")
    assert twin.store.commit_count() == n + 1
    assert info.author == "马骏 Ma Jun" and info.counts == {"projects": {"added": 0, "modified": 1, "deleted": 0}}
    props = orjson.loads(twin.feature("projects", "P-1"))["properties"]
    assert (props["percent_complete"], props["progress_date"], props["progress_reporter"], props["progress_note"]) == (
        30.0, "2026-09-04", "马骏 Ma Jun", "Ceiling frames up"
    )  # fmt: skip
    assert props["planned_finish"] == "2026-09-11"  # the rest of the record is kept


def test_a_report_dated_before_the_planned_start_is_refused(twin: Twin) -> None:
    assert "before the project's planned start 2026-09-01" in refused(twin, 5, "2026-08-31")


def test_a_report_beyond_one_hundred_percent_is_refused(twin: Twin) -> None:
    assert "beyond 100%" in refused(twin, 100.5, "2026-09-04")
    assert "below 0%" in refused(twin, -1, "2026-09-04")


def test_a_lower_figure_without_a_reason_is_refused_and_changes_nothing(twin: Twin) -> None:
    report(twin, 40, "2026-09-04")
    log_before = [c.id for c in twin.log(1000)]
    why = refused(twin, 30, "2026-09-06")
    assert "30% is lower than the last report (40% on 2026-09-04): give a reason" in why
    assert [c.id for c in twin.log(1000)] == log_before
    assert "lower" in refused(twin, 30, "2026-09-06", reason="   ")  # blank is no reason


def test_a_lower_figure_with_a_reason_is_accepted_and_the_reason_kept(twin: Twin) -> None:
    report(twin, 40, "2026-09-04")
    report(twin, 30, "2026-09-06", reason="Inspection failed 250 m² of ceiling")
    props = orjson.loads(twin.feature("projects", "P-1"))["properties"]
    assert props["percent_complete"] == 30.0 and props["progress_reason"] == "Inspection failed 250 m² of ceiling"
    report(twin, 50, "2026-09-08")
    props = orjson.loads(twin.feature("projects", "P-1"))["properties"]
    assert "progress_reason" not in props  # a reason belongs to the report that needed it


def test_future_dated_and_backdated_reports_are_refused(twin: Twin) -> None:
    assert "in the future" in refused(twin, 20, "2026-09-10", committed="2026-09-05")
    report(twin, 40, "2026-09-06")
    assert "older than the last report (2026-09-06)" in refused(twin, 45, "2026-09-05", committed="2026-09-07")


def test_every_problem_of_a_batch_is_listed_and_nothing_is_committed(twin: Twin) -> None:
    save_projects(twin, [record("P-2")], author="office", message="another", time=at("2026-08-02"))
    before = twin.store.commit_count()
    with pytest.raises(ValidationFailed) as e:
        report_progress(
            twin,
            [ProgressReport("P-1", 20, D("2026-09-04")), ProgressReport("P-2", 120, D("2026-09-04")),
             ProgressReport("P-9", 20, D("2026-09-04"))],
            reporter="liaison", time=at("2026-09-04"),
        )  # fmt: skip
    assert {(p.feature_id, "beyond" in p.reason or "no project 'P-9'" in p.reason) for p in e.value.problems} == {
        ("P-2", True), ("P-9", True)
    }  # fmt: skip
    assert twin.store.commit_count() == before


def test_a_report_for_an_unknown_project_is_not_found(twin: Twin) -> None:
    with pytest.raises(NotFound):
        report_progress(twin, ProgressReport("NOPE", 10, D("2026-09-04")), reporter="x", time=at("2026-09-04"))


def test_a_report_built_on_a_stale_version_is_a_conflict(twin: Twin) -> None:
    first = report(twin, 20, "2026-09-03")
    report(twin, 30, "2026-09-04")
    with pytest.raises(Conflict):
        report(twin, 40, "2026-09-05", parent=first.id)


# ------------------------------------------------------------------ project records
def test_feature_references_must_exist_at_commit(twin: Twin) -> None:
    before = twin.store.commit_count()
    bad = [
        record("P-3", features=["halls/hall-NOPE"]),
        record("P-4", features=["hall-T"]),
        record("P-5", features=["projects/P-1"]),
        record("P-6", planned_finish="2026-08-01"),
        record("P-7", quantity=-3),
    ]
    with pytest.raises(ValidationFailed) as e:
        save_projects(twin, bad, author="office", message="bad", time=at("2026-08-05"))
    reasons = {p.feature_id: p.reason for p in e.value.problems}
    assert "halls/hall-NOPE: no such feature" in reasons["P-3"]
    assert "not layer/feature_id" in reasons["P-4"]
    assert "no venue layer 'projects'" in reasons["P-5"]
    assert "before planned start" in reasons["P-6"]
    assert "negative" in reasons["P-7"]
    assert twin.store.commit_count() == before


def test_a_code_no_url_can_name_is_refused_on_every_write_path(twin: Twin) -> None:
    """/projects/{code} cannot reach a code holding '/' or a dot segment: refused through
    save_projects and a plain commit (the generic API, an import, a change file), whatever the id."""
    before = twin.store.commit_count()
    with pytest.raises(ValidationFailed) as e:
        save_projects(twin, [record("RD/1")], author="office", message="bad", time=at("2026-08-05"))
    assert "project code 'RD/1' cannot be part of a URL" in str(e.value)
    for fid, code in (("rec-0002", "RD/2"), ("rec-0003", "..")):
        with pytest.raises(ValidationFailed) as e:
            twin.commit([Change("projects", "add", fid, Feature(fid, None, record(code)))], author="api",
                        message="add", time=at("2026-08-05"))  # fmt: skip
        assert f"projects/{fid}: project code {code!r} cannot be part of a URL" in str(e.value)
    assert twin.store.commit_count() == before


def test_look_alike_codes_and_names_are_refused_on_every_write_path(twin: Twin) -> None:
    """The spreadsheet intake refused a unit spelt two ways and a code like another, but a plain
    commit (the generic feature API, `venue-twin import --layer projects`, a change file) stored
    them: two units in the units table, a second project beside the one it was typed for."""
    before = twin.store.commit_count()

    def add(fid: str, **kw: object) -> str:
        with pytest.raises(ValidationFailed) as e:
            twin.commit([Change("projects", "add", fid, Feature(fid, None, record(fid, **kw)))], author="api",
                        message="add", time=at("2026-08-05"))  # fmt: skip
        return str(e.value)

    assert "project code 'p-1' differs from 'P-1' in the register only in case" in add("p-1")
    assert "project code 'Ｐ-2' holds full-width characters: write 'P-2'" in add("Ｐ-2")
    why = add("P-2", responsible_unit="Unit  a")
    assert "responsible_unit 'Unit  a' is written 'Unit A' on project P-1 in the register" in why
    assert "responsible_person 'Person  A' is written 'Person A'" in add("P-3", responsible_person="Person  A")
    assert twin.store.commit_count() == before
    # The same names and a code of its own pass; a report (a code, unit and person unchanged) reads nothing more.
    twin.commit([Change("projects", "add", "P-2", Feature("P-2", None, record("P-2")))], author="api",
                message="add", time=at("2026-08-05"))  # fmt: skip
    report(twin, 10, "2026-09-04")
    assert twin.store.commit_count() == before + 2


def test_a_new_deadline_is_in_the_history_with_who_and_when(twin: Twin) -> None:
    save_projects(twin, [record(planned_finish="2026-09-20")], author="郭晖 Guo Hui", message="RD: new deadline",
                  time=at("2026-08-20"))  # fmt: skip
    h = twin.history("projects", "P-1")
    assert [e.commit.author for e in h] == ["office", "郭晖 Guo Hui"]
    assert [orjson.loads(e.geojson)["properties"]["planned_finish"] for e in h] == ["2026-09-11", "2026-09-20"]
    assert reports_from_history(h) == []  # a deadline change is not a progress report


# ------------------------------------------------------------------ the progress history and time travel
def test_the_progress_history_is_the_records_history(twin: Twin) -> None:
    report(twin, 20, "2026-09-03", reporter="A")
    report(twin, 50, "2026-09-06", reporter="B")
    save_projects(twin, [{"code": "P-1", "quantity": 1200}], author="office", message="quantity", time=at("2026-09-07"))
    kept = Project.from_feature(twin.feature("projects", "P-1"))
    assert (kept.quantity, kept.percent_complete, kept.progress_reporter) == (1200.0, 50.0, "B")  # progress kept
    report(twin, 45, "2026-09-08", reporter="A", reason="re-measured")
    rs = Register(twin).reports("P-1", twin.resolve())
    assert [(r.on.isoformat(), r.percent, r.reporter, r.reason) for r in rs] == [
        ("2026-09-03", 20.0, "A", None), ("2026-09-06", 50.0, "B", None), ("2026-09-08", 45.0, "A", "re-measured")
    ]  # fmt: skip
    assert [r.commit for r in rs] == [
        e.commit.id for e in twin.history("projects", "P-1") if e.commit.author != "office"
    ]


def test_figures_as_of_a_date_are_what_the_data_said_then(twin: Twin) -> None:
    report(twin, 20, "2026-09-03")
    report(twin, 40, "2026-09-06")
    then = Completion(twin).at("2026-09-06").status("P-1")
    assert (then.percent, then.status) == (40.0, "on_track")
    # Later: a correction and a further report; the figures of 09-06 must not change.
    report(twin, 35, "2026-09-09", reason="re-measured")
    report(twin, 90, "2026-09-12")
    again = Completion(twin).at("2026-09-06").status("P-1")
    assert (again.percent, again.planned, again.sv_days, again.status) == (
        then.percent, then.planned, then.sv_days, then.status
    )  # fmt: skip
    now = Completion(twin).at("2026-09-12").status("P-1")
    assert now.percent == 90.0
    # The register as of a date: a project added later is not in an earlier snapshot.
    save_projects(twin, [record("P-8")], author="office", message="late addition", time=at("2026-09-13"))
    assert [s.project.code for s in Completion(twin).at("2026-09-12").statuses] == ["P-1"]
    assert [s.project.code for s in Completion(twin).at("2026-09-13").statuses] == ["P-1", "P-8"]


def test_a_version_and_a_date_together_read_that_version_on_that_date(twin: Twin) -> None:
    first = report(twin, 20, "2026-09-03")
    report(twin, 60, "2026-09-06")
    comp = Completion(twin)
    assert comp.at(version=first.id).on == D("2026-09-03")  # the commit's own (Shanghai) date
    assert comp.at(version=first.id).status("P-1").percent == 20.0
    assert comp.at("2026-09-05", "HEAD").status("P-1").percent == 20.0  # today's data, about 09-05
    assert comp.at("2026-09-06", "HEAD").status("P-1").percent == 60.0
    assert comp.at("2026-09-06", first.id).status("P-1").percent == 20.0  # that version knew only 20%


def test_a_record_added_under_another_id_is_found_by_its_code(twin: Twin) -> None:
    # e.g. POSTed through the generic feature API, which may give it a generated id
    twin.commit([Change("projects", "add", "rec-0001", Feature("rec-0001", None, record("P-20")))], author="api",
                message="add", time=at("2026-08-03"))  # fmt: skip
    info = report_progress(twin, ProgressReport("P-20", 10, D("2026-09-03")), reporter="liaison", time=at("2026-09-03"))
    assert [ch.feature_id for ch in twin.store.changes_in(info.seq)] == ["rec-0001"]
    s = Completion(twin).at("2026-09-03").status("P-20")
    assert s.percent == 10.0 and s.last_report is not None and s.last_report.commit == info.id


def test_the_rules_hold_on_generic_write_paths_too(twin: Twin) -> None:
    """A plain commit (what the generic feature API, an import or a change file makes) of the
    register obeys the same report rules as report_progress."""
    report(twin, 40, "2026-09-04")
    before = state(twin)
    current = orjson.loads(twin.feature("projects", "P-1"))["properties"]

    def plain(**props: object) -> None:
        twin.commit(
            [Change("projects", "modify", "P-1", Feature("P-1", None, {**current, **props}))],
            author="someone", message="edit", time=at("2026-09-08"),
        )  # fmt: skip

    for props, why in (
        ({"percent_complete": 30.0, "progress_date": "2026-09-06"}, "lower than the last report"),
        ({"percent_complete": 101.0, "progress_date": "2026-09-06"}, "beyond 100%"),
        ({"percent_complete": 50.0, "progress_date": "2026-09-02"}, "older than the last report"),
        ({"percent_complete": 50.0, "progress_date": "2026-09-20"}, "in the future"),
        ({"planned_finish": "2026-08-01"}, "before planned start"),
        ({"features": ["halls/no-such-hall"]}, "no such feature"),
    ):
        with pytest.raises(ValidationFailed) as e:
            plain(**props)
        assert why in str(e.value), (props, str(e.value))
        assert state(twin) == before
    # the figure moved under the last report's reporter by someone else: it would be credited to them
    with pytest.raises(ValidationFailed, match="still names the last report's reporter"):
        plain(percent_complete=30.0, progress_date="2026-09-06", progress_reason="Inspection failed")
    assert state(twin) == before
    plain(percent_complete=30.0, progress_date="2026-09-06", progress_reason="Inspection failed",
          progress_reporter="someone")  # fmt: skip
    assert orjson.loads(twin.feature("projects", "P-1"))["properties"]["percent_complete"] == 30.0


def test_a_note_with_control_characters_is_refused_as_the_records_note(twin: Twin) -> None:
    """It went into the commit message too, and `venue-twin log` printed its ESC raw."""
    why = refused(twin, 30, "2026-09-04", note="\x1b[2Jnote\nline2")
    assert "progress_note holds the control character U+001B" in why
    assert "the commit message" not in why


def test_a_long_note_is_kept_whole_and_the_message_quoting_it_cut_to_fit(twin: Twin) -> None:
    note = "Ceiling frames up.\n" + "n" * 9_000
    info = report(twin, 30, "2026-09-04", note=note)
    assert orjson.loads(twin.feature("projects", "P-1"))["properties"]["progress_note"] == note
    assert len(info.message) == 2_000 and info.message.endswith("…")
    assert info.message.startswith("Progress reported on 2026-09-04: P-1 30% (Ceiling frames up.\nnnn")
    assert "10,001 characters long" in refused(twin, 40, "2026-09-05", note="n" * 10_001)
