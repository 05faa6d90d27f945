"""The completion endpoints on the bundled twin: the same figures as the library, in JSON and CSV."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import bundled_file
from fastapi.testclient import TestClient
from web_support import plain_dates

from api.main import create_app
from api.settings import ApiSettings
from completion import Completion
from twin import Twin

T30, T10 = "2026-10-06", "2026-10-26"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "venue.gpkg"
    bundled_file(path)
    return path


@pytest.fixture(scope="module")
def tokens(bundled: Path) -> tuple[Path, dict[str, str]]:
    # In the twin's store: made before a test copies the file, so every copy has them.
    with Twin.open(bundled) as twin:
        made = {"viewer": twin.tokens.create("wang.viewer", "viewer"), "editor": twin.tokens.create("li.wei", "editor")}
    return bundled, made


def _client(store: Path) -> TestClient:
    return TestClient(create_app(ApiSettings(store=store)))


@pytest.fixture(scope="module")
def api(bundled: Path, tokens) -> Iterator[TestClient]:
    with _client(bundled) as c:
        yield c


@pytest.fixture
def writable(bundled: Path, tokens, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "w.gpkg"
    shutil.copyfile(bundled, path)
    with _client(path) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # the BOM that makes Excel read UTF-8
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


# ------------------------------------------------------------------ /completion
def test_completion_by_area_is_the_librarys_figures(api: TestClient, bundled: Path) -> None:
    r = api.get("/completion", params={"date": T30})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert (doc["date"], doc["checkpoint"], doc["opening_day"], doc["days_to_opening"]) == (
        T30,
        "T-30",
        "2026-11-05",
        30,
    )
    with Twin.open(bundled) as twin:
        snap = Completion(twin).at(T30)
        assert doc["version"] == snap.version == r.headers["x-twin-version"]
        expected = {g.key: round(g.actual, 2) for g in snap.groups("area")}
    assert {g["key"]: g["actual_percent"] for g in doc["groups"]} == expected
    assert expected == pytest.approx(
        {"halls": 69.45, "landscaping": 74.92, "roads": 77.62, "south_plaza": 42.91}, abs=0.01
    )
    assert doc["overall"]["actual_percent"] == pytest.approx(68.49, abs=0.01)
    assert doc["overall"]["counts"] == {"not_started": 3, "on_track": 29, "at_risk": 10, "behind": 2, "done": 16}
    # Flagged by their probability of missing opening day (SP-09 only from T-20: see test_completion_demo).
    assert [(x["code"], x["days_late"]) for x in doc["late"]] == [("RD-03", 29.1), ("HL-07", 24.4)]
    assert all(
        x["p_late"] > 0.9 and x["forecast_low"] <= x["forecast_finish"] <= x["forecast_high"] for x in doc["late"]
    )
    assert doc["late"][0]["responsible_unit"].startswith("国网上海市电力公司")


def test_completion_as_csv(api: TestClient) -> None:
    js = api.get("/completion", params={"date": T30}).json()
    r = api.get("/completion", params={"date": T30, "f": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    table = rows(r.text)
    assert [t["key"] for t in table] == ["halls", "landscaping", "roads", "south_plaza", "overall"]
    for t, g in zip(table, [*js["groups"], js["overall"]], strict=True):
        assert float(t["actual_percent"]) == g["actual_percent"]
        assert int(t["behind"]) == g["counts"]["behind"]
    assert api.get("/completion", params={"date": T30}, headers={"Accept": "text/csv"}).text == r.text


def test_an_earlier_checkpoint_gives_its_own_figures(api: TestClient) -> None:
    t10 = api.get("/completion", params={"date": "T-10"}).json()
    t30 = api.get("/completion", params={"date": "T-30"}).json()
    assert t10["date"] == T10
    assert t10["overall"]["actual_percent"] == pytest.approx(94.79, abs=0.01)
    assert t30["overall"]["actual_percent"] < t10["overall"]["actual_percent"]
    assert [x["code"] for x in t10["late"]] == ["HL-07", "RD-03", "SP-09"]
    assert all(x["forecast_after_opening"] for x in t10["late"])
    # the same figures when the version is named instead of the date
    pinned = api.get("/completion", params={"date": T30, "version": t30["version"]}).json()
    assert pinned["groups"] == t30["groups"]


def test_completion_by_unit_and_category(api: TestClient) -> None:
    by_unit = api.get("/completion", params={"date": T10, "by": "unit"}).json()
    assert len(by_unit["groups"]) == 7
    assert sum(g["projects"] for g in by_unit["groups"]) == 60
    assert sum(g["weight"] for g in by_unit["groups"]) == pytest.approx(1.0, abs=1e-5)
    by_cat = api.get("/completion", params={"date": T10, "by": "category"}).json()
    assert {"wayfinding", "lighting", "support_road"} <= {g["key"] for g in by_cat["groups"]}
    r = api.get("/completion", params={"by": "colour"})
    assert r.status_code == 400 and r.json()["parameter"] == "by"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"date": "2026-13-01"}, "date"), ({"date": "soon"}, "date"), ({"version": "zz"}, "version"),
     ({"when": T30}, "when"), ({"f": "xml"}, "f")],
)  # fmt: skip
def test_bad_parameters_are_400_naming_them(api: TestClient, query: dict, parameter: str) -> None:
    r = api.get("/completion", params=query)
    assert r.status_code == 400 and r.json()["parameter"] == parameter


@pytest.mark.parametrize(
    "path", ["/completion", "/completion/units", "/projects/HL-07", "/evidence", "/brief"]
)
def test_a_version_naming_no_commit_is_400_naming_it_as_on_the_items(api: TestClient, path: str) -> None:
    """`version=` naming no commit answered 404 "no commit …" on the completion routes and 400
    "version: no commit …" on the items: one way to name a version, one answer to a wrong one."""
    items = api.get("/collections/halls/items", params={"version": "abcdef0123"})
    r = api.get(path, params={"version": "abcdef0123"})
    assert r.status_code == items.status_code == 400, (path, r.status_code, r.text[:300])
    assert r.json()["parameter"] == "version" and r.json()["detail"] == items.json()["detail"], r.json()


# ------------------------------------------------------------------ checkpoints, S-curve, late
def test_checkpoints_back_schedule(api: TestClient) -> None:
    doc = api.get("/completion/checkpoints", params={"date": T10}).json()
    assert [c["checkpoint"] for c in doc["checkpoints"]] == [f"T-{n}" for n in range(110, -1, -10)]
    assert doc["checkpoints"][-1] == {"checkpoint": "T-0", "date": "2026-11-05", "planned_percent": 100.0}
    hl01 = next(p for p in doc["projects"] if p["code"] == "HL-01")  # linear 07-20 → 09-30 (72 days)
    assert hl01["planned_percent"]["T-100"] == pytest.approx(100 * 8 / 72, abs=0.01)
    assert hl01["planned_percent"]["T-30"] == 100.0
    table = rows(api.get("/completion/checkpoints", params={"date": T10, "f": "csv"}).text)
    assert len(table) == 60 and float(next(t for t in table if t["code"] == "HL-01")["T-100"]) == pytest.approx(11.11)


def test_scurve_planned_against_actual(api: TestClient) -> None:
    doc = api.get("/completion/scurve", params={"date": T10}).json()
    points = doc["series"]["overall"]
    assert points[-1] == {"checkpoint": "T-0", "date": "2026-11-05", "planned_percent": 100.0, "actual_percent": None}
    t30 = next(p for p in points if p["checkpoint"] == "T-30")
    assert t30["actual_percent"] == pytest.approx(68.49, abs=0.01)
    by_area = api.get("/completion/scurve", params={"date": T10, "by": "area"}).json()["series"]
    assert set(by_area) == {"halls", "landscaping", "roads", "south_plaza"}
    table = rows(api.get("/completion/scurve", params={"date": T10, "by": "area", "f": "csv"}).text)
    assert len(table) == 4 * 12 and table[-1]["actual_percent"] == ""


def test_late_list(api: TestClient) -> None:
    doc = api.get("/completion/late", params={"date": T10}).json()
    assert [x["code"] for x in doc["late"]] == ["HL-07", "RD-03", "SP-09"]
    assert [x["days_late"] for x in doc["late"]] == sorted((x["days_late"] for x in doc["late"]), reverse=True)
    table = rows(api.get("/completion/late", params={"date": T10, "f": "csv"}).text)
    assert [(t["code"], t["responsible_person"], t["forecast_after_opening"]) for t in table] == [
        ("HL-07", "马骏 Ma Jun", "true"), ("RD-03", "孙浩 Sun Hao", "true"), ("SP-09", "陈静 Chen Jing", "true")
    ]  # fmt: skip


# ------------------------------------------------------------------ projects
def test_projects_list_filters_and_csv(api: TestClient) -> None:
    doc = api.get("/projects", params={"date": T10}).json()
    assert doc["numberReturned"] == 60
    behind = api.get("/projects", params={"date": T10, "status": "behind"}).json()["projects"]
    assert [p["code"] for p in behind] == ["HL-07", "RD-03", "SP-09"]
    roads = api.get("/projects", params={"date": T10, "area": "roads"}).json()["projects"]
    assert len(roads) == 18 and {p["area"] for p in roads} == {"roads"}
    table = rows(api.get("/projects", params={"date": T10, "f": "csv"}).text)
    assert len(table) == 60 and table[0]["code"] == "HL-01"
    assert api.get("/projects", params={"status": "late"}).status_code == 400


def test_one_project_with_its_plan_and_reports(api: TestClient) -> None:
    doc = api.get("/projects/RD-03", params={"date": T30}).json()
    p = doc["project"]
    assert (p["status"], p["percent"], p["planned_finish"], p["sv_days"]) == ("behind", 46.0, "2026-10-25", 29.1)
    # 46% on 10-26 of a plan due 10-25: the forecast lies after opening day, surely.
    fc = p["forecast"]
    assert "2026-11-05" < fc["finish"] < "2026-12-31" and fc["after_opening"] is True and fc["p_late"] == 1.0
    assert fc["probability_on_time"] == 0.0 and fc["interval"]["low"] <= fc["finish"] <= fc["interval"]["high"]
    assert (p["p_late"], p["forecast_finish"], p["interval"]) == (fc["p_late"], fc["finish"], fc["interval"])
    assert [r["percent"] for r in doc["reports"]] == [2, 8, 10, 10, 14, 24, 35, 46]
    # as of 09-01 the deadline was still 10-10
    assert api.get("/projects/RD-03", params={"date": "2026-09-01"}).json()["project"]["planned_finish"] == "2026-10-10"
    assert api.get("/projects/NOPE").status_code == 404
    assert api.get("/projects/SP-11", params={"date": "2026-08-19"}).status_code == 404  # registered on 08-20


def test_progress_history_json_and_csv(api: TestClient) -> None:
    doc = api.get("/projects/RD-01/progress", params={"date": T10}).json()
    percents = [r["percent"] for r in doc["reports"]]
    assert percents == [3, 18, 36, 62, 55, 74, 92, 100]
    assert doc["reports"][4]["reason"].startswith("Inspection")
    table = rows(api.get("/projects/RD-01/progress", params={"date": T10, "f": "csv"}).text)
    assert [float(t["percent"]) for t in table] == percents
    assert table[0]["reporter"] == "李强 Li Qiang (Qingpu Construction Commission)"


# ------------------------------------------------------------------ reporting progress
def test_reporting_needs_an_editor(writable: TestClient, tokens) -> None:
    body = {"percent": 80, "date": "2026-11-01"}
    assert writable.post("/projects/HL-07/progress", json=body).status_code == 401
    assert writable.post("/projects/HL-07/progress", json=body, headers=auth(tokens[1]["viewer"])).status_code == 403


def test_a_report_going_backwards_without_a_reason_is_refused_and_changes_nothing(writable: TestClient, tokens) -> None:
    before = writable.get("/versions", params={"limit": 1}).json()
    project_before = writable.get("/projects/HL-07").json()["project"]
    r = writable.post("/projects/HL-07/progress", json={"percent": 60}, headers=auth(tokens[1]["editor"]))
    assert r.status_code == 400
    assert "lower than the last report (69% on 2026-10-26)" in r.json()["problems"][0]["reason"]
    after = writable.get("/versions", params={"limit": 1}).json()
    assert after["numberMatched"] == before["numberMatched"]
    assert after["versions"][0]["id"] == before["versions"][0]["id"]
    assert writable.get("/projects/HL-07").json()["project"] == project_before


def test_a_report_is_a_commit_by_the_tokens_holder(writable: TestClient, tokens) -> None:
    n = writable.get("/versions", params={"limit": 1}).json()["numberMatched"]
    r = writable.post(
        "/projects/HL-07/progress",
        json={"percent": 60, "note": "Faulty batch removed", "reason": "300 fittings failed inspection"},
        headers=auth(tokens[1]["editor"]),
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["commit"]["author"] == "li.wei" and doc["report"]["reporter"] == "li.wei"
    assert doc["report"]["reason"] == "300 fittings failed inspection"
    assert doc["project"]["percent"] == 60.0
    assert r.headers["location"].endswith("/projects/HL-07/progress")
    assert writable.get("/versions", params={"limit": 1}).json()["numberMatched"] == n + 1
    assert writable.get("/projects/HL-07/progress").json()["reports"][-1]["percent"] == 60.0
    # the T-10 figures are untouched
    assert writable.get("/projects/HL-07", params={"date": T10}).json()["project"]["percent"] == 69.0


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [({"percent": 101}, 400, "beyond 100%"), ({"percent": 80, "date": "2026-08-01"}, 400, "before the project's planned start"),
     ({"percent": "80"}, 400, "percent must be a number"), ({"percent": 80, "colour": "red"}, 400, "unknown field"),
     ({"percent": 80, "date": "01/11/2026"}, 400, "is not YYYY-MM-DD")],
)  # fmt: skip
def test_bad_reports_are_refused(writable: TestClient, tokens, body: dict, status: int, text: str) -> None:
    r = writable.post("/projects/HL-07/progress", json=body, headers=auth(tokens[1]["editor"]))
    assert r.status_code == status and text in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"reports": []}, "no reports given"),
        ({}, "no reports given"),
        ({"report": [{"code": "HL-07", "percent": 60, "date": "2026-10-06"}]}, "unknown member 'report'; expected 'reports'"),
        ({"reports": [{"code": "HL-07", "percent": 60}], "parnet": "HEAD"}, "unknown member 'parnet'; expected 'parent'"),
        ({"reports": [{"code": "HL-07", "percent": 60}], "colour": "red"}, "unknown member(s) 'colour'; a batch takes"),
        ({"reports": {"code": "HL-07"}}, "reports must be a list"),
        ([{"code": "HL-07", "percent": 60}], "the body must be a JSON object such as"),
    ],
)  # fmt: skip
def test_a_batch_names_what_is_wrong_with_its_body(writable: TestClient, tokens, body: object, said: str) -> None:
    """An empty list and a misspelt member were both told "the body must be a JSON object such as
    …", which they were: the answer names the empty list or the member, and commits nothing."""
    before = writable.get("/versions?limit=1").json()["versions"][0]["id"]
    r = writable.post("/progress", json=body, headers=auth(tokens[1]["editor"]))
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["detail"].startswith(said), r.json()["detail"]
    assert writable.get("/versions?limit=1").json()["versions"][0]["id"] == before


def test_a_report_must_be_json(writable: TestClient, tokens) -> None:
    r = writable.post("/projects/HL-07/progress", content=b"percent=80", headers={
        **auth(tokens[1]["editor"]), "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 415
    assert (
        writable.post("/projects/NOPE/progress", json={"percent": 5}, headers=auth(tokens[1]["editor"])).status_code
        == 404
    )


def test_a_date_after_today_is_refused_naming_the_parameter(api: TestClient) -> None:
    """A date to come (2027-01-01 read on 2026-12-06) is refused with a 400 naming date, as a report
    dated after today is: the twin has no reports from then, and its figures were the 2026 projects
    against the 2027 expo ("308 days to opening day 2027-11-05"). A page answers it as a page."""
    from datetime import timedelta

    from completion.snapshot import today_local

    today = today_local()
    later = (today + timedelta(days=26)).isoformat()
    said = f"date {later} is after today ({today.isoformat()}): the twin has no reports from then"
    for path in ("/completion", "/projects", "/completion/late", "/completion/units", "/brief", "/evidence"):
        r = api.get(path, params={"date": later})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), path
        assert r.json()["parameter"] == "date" and r.json()["detail"] == said, (path, r.json())
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in ("/maps/completion", "/completion/units?f=html"):
        r = api.get(path, params={"date": later}, headers=browser)
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), path
        assert 'data-kind="date_after_today"' in r.text and later in r.text, path  # explained in Chinese
        assert "days to opening day" not in r.text, path
    assert api.get("/completion", params={"date": today.isoformat()}).status_code == 200  # today itself is fine


def test_with_no_date_a_season_recorded_now_opens_on_a_date_with_data(season_recorded_now: Path) -> None:
    """A small season imported into an empty twin without original dates (the README's intake
    recorded now): its reports are dated at checkpoints before the twin's history. The API's
    /completion and the pages without a date open on the same date, one the twin has data for;
    the pages opened on the latest checkpoint with reports (T-10), before the history: /brief,
    /evidence and the units page answered 404 "the twin has no data on 2026-10-26", the completion
    map drew its "no data" panel and the home page lost its figures."""
    from datetime import date

    from completion.snapshot import today_local
    from twin.core import SHANGHAI

    store = season_recorded_now
    with Twin.open(store) as twin:
        first = twin.first_commit()
        assert first is not None
        since = first.time.astimezone(SHANGHAI).date()
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    with _client(store) as c:
        r = c.get("/completion")
        assert r.status_code == 200, r.text[:300]
        on = r.json()["date"]
        assert since <= date.fromisoformat(on) <= today_local(), (on, since)
        for path in ("/completion/units", "/completion/late", "/projects", "/evidence"):
            r = c.get(path)
            assert r.status_code == 200 and r.json()["date"] == on, (path, r.text[:300])
        r = c.get("/brief")
        assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:300]
        for path, said in (
            ("/maps/completion?lang=en", f"As of {on}"),
            ("/completion/units?f=html&lang=en", f"Accountability by responsible unit on {on}"),
            ("/evidence?f=html&lang=en", f"Evidence from imagery on {on}"),
            ("/?lang=zh", f"截至 {on}"),
        ):
            r = c.get(path, headers=browser)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), (path, r.text[:300])
            assert said in plain_dates(r.text), (path, r.text[:2000])
            assert not any(
                w in r.text
                for w in ("has no data", "No data yet", "尚无数据", "No project registered", "尚未登记任何工程")
            ), path


# The session's surveyed GeoPackage twin, read as it is: in the PostGIS pass (VENUE_TWIN_TEST_STORE)
# this test would build that twin anew (20-40 s) only to read the same file again.
@pytest.mark.gpkg_only
def test_a_survey_of_the_wrong_kind_is_refused_in_plain_words(surveyed_twin: Path) -> None:
    """Naming an orthophoto for a lawn's evidence (NDVI) answered "survey … is a orthophoto survey"."""
    from layers.demo_surveys import LAGGING

    with TestClient(create_app(ApiSettings(store=surveyed_twin))) as c:
        ortho = next(s for s in c.get("/surveys").json()["surveys"] if s["kind"] == "orthophoto")
        r = c.get(f"/projects/{LAGGING}/evidence", params={"date": T10, "survey": ortho["id"]})
    assert r.status_code == 400, r.text
    said = f"survey {ortho['id']} is of kind orthophoto; {LAGGING}'s evidence needs ndvi"
    assert r.json()["detail"] == said, r.json()
