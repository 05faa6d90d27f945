"""One project's page, GET /projects/{code}?f=html: the JSON's figures, in zh and en, to read and print.

The page is made from the document the JSON route answers (no second computation): its status,
percents, unit and person are the JSON's; it is chosen by f=html or a browser's Accept header, in
the language `lang` or the browser's asks for; an unknown code is a 404 page in that language, as
the JSON's 404; a caller who may not see the register gets from the page what the JSON gives
them. The completion map's late list and the units page link each code to its page of the same
date, the code percent-encoded.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import bundled_file
from fastapi.testclient import TestClient
from web_support import plain_dates

from api.main import create_app
from api.settings import ApiSettings
from completion.register import LAYER
from twin import Twin
from web import i18n
from web.error_page import explanation
from web.panels import project_page_url

ON = "2026-10-20"  # a date with projects in every status in the bundled season
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("project") / "venue.gpkg"
    bundled_file(path)
    return path


@pytest.fixture(scope="module")
def api(bundled: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=bundled))) as c:
        yield c


def _field(page: str, name: str) -> tuple[str, str]:
    """A fact of the page's table: (its data-value, its text without tags)."""
    m = re.search(
        rf'<(td|div) (?:class="[^"]*" )?data-field="{name}"(?: data-value="([^"]*)")?[^>]*>(.*?)</\1>', page, re.S
    )
    assert m, (name, page[:2000])
    text = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", m[3]))).strip()
    return html_lib.unescape(m[2] or ""), text


def _codes_by_status(api: TestClient) -> dict[str, str]:
    doc = api.get("/projects", params={"date": ON}).json()
    out: dict[str, str] = {}
    for p in doc["projects"]:
        out.setdefault(p["status"], p["code"])
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_shows_the_jsons_figures(api: TestClient, lang: str) -> None:
    codes = _codes_by_status(api)
    assert {"done", "on_track", "at_risk", "behind"} <= set(codes)
    for status, code in codes.items():
        doc = api.get(f"/projects/{code}", params={"date": ON}).json()
        p = doc["project"]
        r = api.get(f"/projects/{code}", params={"date": ON, "f": "html", "lang": lang})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
        assert r.headers["x-twin-version"] == doc["version"]
        page = r.text
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
        name = p["name_en"] if lang == "en" else p["name_zh"]
        assert f"<h1>{html_lib.escape(i18n.label(lang, 'project_title', code=code, name=name))}</h1>" in page
        assert _field(page, "code")[1] == code
        assert _field(page, "status") == (status, i18n.status_label(lang, status))
        assert f"vt-swatch-{status}" in page and i18n.STATUS_COLOURS[status] in page
        value, text = _field(page, "percent")
        assert float(value) == p["percent"]
        assert i18n.fmt_percent(p["percent"]) in text and i18n.fmt_percent(p["planned_percent"]) in text
        assert f'data-planned="{p["planned_percent"]}"' in page
        assert _field(page, "unit") == (p["responsible_unit"], i18n.unit_name(lang, p["responsible_unit"]))
        assert _field(page, "person") == (p["responsible_person"], i18n.in_language(lang, p["responsible_person"]))
        assert float(_field(page, "days_late")[0]) == p["days_late"]
        assert _field(page, "forecast")[0] == (p["forecast_finish"] or "")
        if p["p_late"] is not None and status != "done" and p["forecast_finish"] >= ON:
            assert _field(page, "chance")[0] == str(p["p_late"])
            assert p["interval"]["low"] in page and p["interval"]["high"] in page
        last = (p["last_report"] or {}).get("date") or ""
        assert _field(page, "last_report")[0] == last
        assert f'data-stale="{"true" if p["stale"] else "false"}"' in page
        # every checkpoint and every report of the JSON, as its rows
        assert re.findall(r'data-checkpoint="([^"]+)"', page) == [c["checkpoint"] for c in doc["checkpoints"]]
        assert re.findall(r'data-report="([^"]+)"', page) == [x["date"] for x in reversed(doc["reports"])]
        assert "<svg" in page and 'stroke="#b91c1c"' in page  # the S-curve: the plan and the reports
        # the way back: the completion map and the units of the same date, the JSON and the CSV
        assert f"/maps/completion?date={ON}&amp;lang={lang}" in page
        assert f"/completion/units?f=html&amp;date={ON}&amp;lang={lang}" in page
        assert f"/projects/{code}?date={ON}" in page and f"/projects/{code}/progress?f=csv&amp;date={ON}" in page


def test_a_behind_project_words_its_forecast_as_the_late_list(api: TestClient) -> None:
    code = _codes_by_status(api)["behind"]
    p = api.get(f"/projects/{code}", params={"date": ON}).json()["project"]
    page = api.get(f"/projects/{code}", params={"date": ON, "f": "html", "lang": "en"}).text
    # the days behind plan under their own name ("Days late" beside "17 days after opening day"
    # read as how late the finish is)
    assert f"<th>{i18n.label('en', 'behind_plan')}</th>" in page
    assert i18n.label("en", "n_days", n=f"{p['days_late']:.0f}") in _field(page, "days_late")[1]
    if p["p_late"] is not None and p["interval"]:
        chance = i18n.label(
            "en",
            "late_chance",
            p=i18n.fmt_percent(100 * p["p_late"]),
            low=p["interval"]["low"],
            high=p["interval"]["high"],
        )
        # its dates each kept on one line (a span, which _field reads as a space)
        assert chance.replace(" ", "") in _field(page, "chance")[1].replace(" ", "")
        assert f'<span class="vt-date" style="white-space:nowrap">{p["interval"]["high"]}</span>' in page


def test_html_is_chosen_as_the_other_pages_choose_it(api: TestClient) -> None:
    code = _codes_by_status(api)["at_risk"]
    browser = api.get(f"/projects/{code}", params={"date": ON}, headers={"Accept": BROWSER})
    assert browser.headers["content-type"].startswith("text/html")
    plain = api.get(f"/projects/{code}", params={"date": ON})
    assert plain.headers["content-type"] == "application/json"
    assert api.get(f"/projects/{code}", params={"date": ON, "f": "json"}, headers={"Accept": BROWSER}).json() == (
        plain.json()
    )
    # the language: lang=, else the browser's
    zh = api.get(f"/projects/{code}", params={"date": ON}, headers={"Accept": BROWSER, "Accept-Language": "zh-CN"})
    assert '<html lang="zh-CN">' in zh.text
    en = api.get(f"/projects/{code}", params={"date": ON, "f": "html"}, headers={"Accept-Language": "en-GB,en"})
    assert '<html lang="en">' in en.text
    # version= as the JSON takes it: the page of an earlier commit has that commit's figures
    old = api.get(f"/projects/{code}", params={"date": ON, "version": "HEAD~20"})
    assert old.status_code == 200
    page = api.get(f"/projects/{code}", params={"date": ON, "version": "HEAD~20", "f": "html", "lang": "en"})
    assert page.headers["x-twin-version"] == old.headers["x-twin-version"] != plain.headers["x-twin-version"]
    assert float(_field(page.text, "percent")[0]) == old.json()["project"]["percent"]
    assert "version=HEAD~20" in html_lib.unescape(page.text)  # its links keep the version
    bad = api.get(f"/projects/{code}", params={"f": "pdf"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "f"
    assert api.get(f"/projects/{code}", params={"f": "html", "lang": "fr"}).status_code == 400


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_unknown_code_is_a_404_page_in_the_readers_language(api: TestClient, lang: str) -> None:
    assert api.get("/projects/NO-SUCH", params={"date": ON}).status_code == 404
    r = api.get("/projects/NO-SUCH", params={"date": ON, "f": "html", "lang": lang})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in r.text
    assert i18n.label(lang, "project_missing", code="NO-SUCH") in r.text
    assert i18n.label(lang, "project_missing_note", date=ON) in r.text
    assert f"/maps/completion?date={ON}&amp;lang={lang}" in r.text


def test_a_caller_who_may_not_see_the_register_gets_what_the_json_gives(bundled: Path, tmp_path: Path) -> None:
    path = tmp_path / "restricted.gpkg"
    shutil.copyfile(bundled, path)
    with Twin.open(path) as twin:
        twin.alter_layer(LAYER, {"restricted_to": ["engineer"]}, author="admin")
        viewer = twin.tokens.create("wang.viewer", "viewer")
        engineer = twin.tokens.create("chen.engineer", "engineer")
    code = "RD-03"

    def both(c: TestClient, headers: dict[str, str]) -> tuple[Any, Any]:
        j = c.get(f"/projects/{code}", params={"date": ON}, headers=headers)
        h = c.get(f"/projects/{code}", params={"date": ON, "f": "html", "lang": "en"}, headers=headers)
        return j, h

    with TestClient(create_app(ApiSettings(store=path))) as c:
        for headers in ({}, {"Authorization": f"Bearer {viewer}"}):
            j, h = both(c, headers)
            assert j.status_code == h.status_code == 404
            # the page is the 404 page of a register that is not there, with the JSON's detail explained
            assert j.headers["content-type"] == "application/problem+json"
            assert h.headers["content-type"].startswith("text/html") and 'data-status="404"' in h.text
            assert j.json()["code"] == "no_collection"
            said = explanation("en", "no_collection", {"collection": LAYER}, j.json()["detail"])
            assert said.text in html_lib.unescape(h.text)
            assert code not in h.text.replace(f"/projects/{code}", "") and "Sun Hao" not in h.text
            assert "RD-03" not in j.text and "Sun Hao" not in j.text
        j, h = both(c, {"Authorization": f"Bearer {engineer}"})
        assert j.status_code == h.status_code == 200
        assert _field(h.text, "status")[0] == j.json()["project"]["status"]
    # reads closed to callers without a token: the page is refused as the JSON is
    with TestClient(create_app(ApiSettings(store=path, public_reads=False))) as c:
        j, h = both(c, {})
        assert j.status_code == h.status_code == 401 and h.json() == j.json()


def test_the_register_is_brought_forward_over_a_change_of_its_schema(bundled: Path, tmp_path: Path) -> None:
    """The completion module keeps the register as of a head and brings it forward commit by commit;
    a commit that changed the register's schema (restricted it, retitled it) listed the schema's
    own entry among the records it changed, whose history there is none of: every project read
    answered 404 "no commit number 0" until the service restarted."""
    from completion.cache import register_state

    path = tmp_path / "venue.gpkg"
    shutil.copyfile(bundled, path)
    with Twin.open(path) as twin:
        before = register_state(twin)
        twin.alter_layer(LAYER, {"title_en": "Hardware projects of the season"}, author="admin")
        after = register_state(twin)  # brought forward from `before`
        assert after.seq == before.seq + 1 and after.records == before.records
        assert after.reports == before.reports


def test_a_fraction_of_a_day_behind_is_not_flagged(api: TestClient) -> None:
    """An on-track project 0.2 days behind its plan read "⚑ 0 days" in red on its page."""
    day = "2026-10-26"
    behind = [
        p for p in api.get("/projects", params={"date": day}).json()["projects"]
        if 0 < (p["days_late"] or 0) < 0.5 and p["status"] != "done"
    ]  # fmt: skip
    assert behind  # the bundled season has such a project that day (SP-02)
    for p in behind:
        page = api.get(f"/projects/{p['code']}", params={"date": day, "f": "html", "lang": "zh"}).text
        row = page.split('data-field="days_late"', 1)[1].split("</td>", 1)[0]
        assert "vt-late" not in row and "0 天" in row, (p["code"], row)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_units_page_before_the_first_project_says_so(api: TestClient, lang: str) -> None:
    """Before the register's first project the units page was a table of headings and a hint that it
    scrolls; it says what the map and the briefing say."""
    r = api.get("/completion/units", params={"date": "2026-07-01", "f": "html", "lang": lang})
    assert r.status_code == 200
    assert "data-no-projects" in r.text and i18n.label(lang, "no_projects_on", date="2026-07-01") in plain_dates(r.text)
    assert '<table class="vt-units-table">' not in r.text and "data-scroll-hint" not in r.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_project_not_yet_registered_on_the_date_is_said_so(api: TestClient, lang: str) -> None:
    """HL-01 on 2026-07-01, before it was registered, read as an unknown code ("the register has no
    such code"); it says when it was registered. A code never registered is still unknown."""
    r = api.get("/projects/HL-01", params={"date": "2026-07-01", "f": "html", "lang": lang})
    assert r.status_code == 404
    page = html_lib.unescape(r.text)
    assert i18n.label(lang, "project_not_yet", code="HL-01") in page
    assert ("尚未登记" if lang == "zh" else "not yet in the register") in page
    assert i18n.label(lang, "project_missing_note", date="2026-07-01") not in page
    unknown = html_lib.unescape(
        api.get("/projects/NO-SUCH", params={"date": "2026-07-01", "f": "html", "lang": lang}).text
    )
    assert i18n.label(lang, "project_missing", code="NO-SUCH") in unknown


def test_codes_are_percent_encoded_in_links() -> None:
    def url(path: str, **params: Any) -> str:
        from urllib.parse import urlencode

        return path + "?" + urlencode(params)

    assert project_page_url(url, "RD 03#a/b?", ON, "en") == f"/projects/RD%2003%23a%2Fb%3F?f=html&date={ON}&lang=en"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_late_list_and_the_units_page_link_to_the_project_pages(api: TestClient, lang: str) -> None:
    late = api.get("/completion/late", params={"date": ON}).json()["late"]
    assert late
    page = api.get("/maps/completion", params={"date": ON, "lang": lang}).text
    for row in late:  # the late projects and those the imagery disagrees with: the panel's two lists
        href = f"/projects/{row['code']}?f=html&amp;date={ON}&amp;lang={lang}"
        assert f'href="{href}" data-project-link="{row["code"]}"' in page, row["code"]
    # the timeline's panel of a step, fetched by the page script, links them too
    panel = api.get("/maps/data/panel", params={"date": ON, "lang": lang}).json()["html"]
    assert f'href="/projects/{late[0]["code"]}?f=html&amp;date={ON}&amp;lang={lang}"' in panel
    # the popups know where the pages are (the page script adds the date shown and the language)
    assert '"projectUrl":"/projects/"' in page.replace(" ", "")
    units = api.get("/completion/units", params={"date": ON, "f": "html", "lang": lang}).text
    doc = api.get("/completion/units", params={"date": ON}).json()
    listed = {c for u in doc["units"] for c in (*u["late_projects"], *u["overdue_projects"])}
    assert listed
    for c in listed:
        assert f'href="http://testserver/projects/{c}?f=html&amp;date={ON}&amp;lang={lang}"' in units, c
    # each link opens a page of that date
    c = sorted(listed)[0]
    r = api.get(f"/projects/{c}", params={"f": "html", "date": ON, "lang": lang})
    assert r.status_code == 200 and f'data-date="{ON}"' in r.text


def test_the_briefings_codes_link_to_the_project_pages(api: TestClient) -> None:
    """In the briefing's PDF each listed code is a link to its project's page of that date (the
    PNG, a picture, has none)."""
    import io

    from pypdf import PdfReader

    late = [row["code"] for row in api.get("/completion/late", params={"date": ON}).json()["late"]]
    assert late
    r = api.get("/brief", params={"date": ON, "lang": "zh"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    page = PdfReader(io.BytesIO(r.content)).pages[0]
    uris = [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", []) if "/A" in a.get_object()]
    expected = [f"http://testserver/projects/{c}?f=html&date={ON}&lang=zh" for c in late]
    assert set(expected) <= set(uris), (expected, uris)
    for uri in expected:
        assert api.get(uri).status_code == 200


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_says_how_its_forecast_was_made_in_the_readers_language(api: TestClient, lang: str) -> None:
    """The forecast's basis (the JSON's, in English with the register's raw category code and the
    unit's bilingual name) was on no page: a leader could not tell why a project is flagged. The
    page words the same parts — its own pace's weight and days, the class it learns from — with the
    category and the unit as the page names them."""
    projects = api.get("/projects", params={"date": ON}).json()["projects"]
    pace = re.compile(r"(\d+)% its own working pace over (\d+) days, (\d+)% its reference class \((.*)\)$")
    seen = 0
    for p in projects:
        basis = p["forecast"]["basis"]
        page = api.get(f"/projects/{p['code']}", params={"date": ON, "f": "html", "lang": lang}).text
        if p["status"] == "done":
            assert 'data-field="basis"' not in page  # its reported date says it all
            continue
        m = pace.match(basis)
        if m is None:
            continue
        shown = _field(page, "basis")[1]
        own, days, rest = m[1], m[2], m[3]
        words = (
            f"Based {own}% on its own working pace over {days} days and {rest}% on similar projects ("
            if lang == "en"
            else f"依据：{own}% 按其近 {days} 天的施工进度，{rest}% 按同类项目（"
        )
        assert shown.startswith(words), (shown, basis)
        assert _field(page, "category")[1] in shown and i18n.unit_name(lang, p["responsible_unit"]) in shown, shown
        if lang == "zh":
            assert "projects" not in shown and p["category"] not in shown, shown
        seen += 1
    assert seen >= 3, seen  # projects under way at ON forecast from their own pace


def test_every_kind_of_basis_is_worded_in_both_languages() -> None:
    """The kinds the bundled season does not show on one date: stopped (with the pace after the
    wait), too few stoppages seen, a late start learning from the whole register, no progress
    with too few projects to learn from, missed opening day; a single other project is one."""
    from dataclasses import replace
    from datetime import date

    from completion.forecast import Basis, Reference
    from web.panels import basis_words

    unit = "国家会展中心（上海）有限责任公司 (NECC Shanghai, venue operator)"
    ref = Reference("lighting", 1, unit, 30)
    pace = Basis("pace", ref, own=60, days=20)
    expect = {
        Basis("stopped", ref, stoppages=4, then=pace): (
            "Stopped now: work resumes after a wait like the 4 stoppages seen. Based 60% on its own working pace "
            "over 20 days and 40% on similar projects (1 other Lighting project; 30 other projects of NECC Shanghai, "
            "venue operator)",
            "目前停工：按已见的 4 次停工时长估计复工时间。依据：60% 按其近 20 天的施工进度，40% 按同类项目（照明类其他 1 项；"
            "国家会展中心（上海）有限责任公司其他 30 项）",
        ),
        Basis("stopped_few", ref, own=59, days=43): (
            "Based 59% on its whole history's pace over 43 days and 41% on similar projects (1 other Lighting project; "
            "30 other projects of NECC Shanghai, venue operator): stopped now, too few stoppages seen to say how "
            "long one lasts",
            None,
        ),
        Basis("slow_start", Reference(register=1)): (
            "Based on the pace of similar projects (the whole register, 1 other project): no steady work yet "
            "(a late or slow start)",
            "依据：尚无连续施工期（开工晚或进展慢），按同类项目（全部台账其他 1 项）的进度",
        ),
        Basis("no_progress", Reference()): (
            "Based on the pace of similar projects (too few to learn from: the plan's own pace): no progress yet",
            "依据：尚无进展，按同类项目（可借鉴的项目太少，按计划本身进度）的进度",
        ),
        replace(pace, missed=date(2026, 11, 5)): (
            "Not reported done by opening day 2026-11-05: missed it. Based 60% on its own working pace over 20 days",
            "开幕日 2026-11-05 前未报告完成，已错过。依据：60%",
        ),
    }
    names = {"en": "Lighting", "zh": "照明"}
    for basis, (en, zh) in expect.items():
        got_en = basis_words(basis, "en", lambda c: names["en"] if c == "lighting" else c)
        got_zh = basis_words(basis, "zh", lambda c: names["zh"] if c == "lighting" else c)
        assert got_en is not None and got_en.startswith(en), got_en
        assert got_zh is not None and not re.search(r"[A-Za-z]", got_zh), got_zh
        if zh:
            assert got_zh.startswith(zh), got_zh
    assert str(Basis("stopped", ref, stoppages=4, then=pace)).startswith("stopped: resumes after a wait drawn from 4")
    assert basis_words(Basis("done", done_on=date(2026, 10, 1)), "en", str) is None  # its date says it
    assert basis_words(Basis("note", note="oracle"), "zh", str) is None


def test_the_curve_scales_to_a_phones_width_with_legible_labels(api: TestClient) -> None:
    # drawn 520 units wide in a 326 px box, the curve kept its size and scrolled sideways out of
    # view (the latest report, the plan reaching 100 %); shrunk, its 9-unit labels were under 6 px:
    # drawn no wider than a phone's box, they are 9 px at least
    code = _codes_by_status(api)["behind"]
    page = api.get(f"/projects/{code}", params={"date": ON, "f": "html", "lang": "zh"}).text
    curve = page[page.index('<section class="vt-curve">') :]
    width = float(re.search(r'<svg viewBox="0 0 ([\d.]+) [\d.]+"', curve)[1])  # type: ignore[index]
    assert 9 * 326 / width >= 9, width  # its labels at a phone's width (390 px less the margins)
    style = page[: page.index("</style>")]
    assert not re.search(r"\.vt-curve[^{}]*\{[^}]*(min-width|overflow-x)", style)  # it scales, not scrolls


def test_the_behind_flag_marks_behind_projects_only(api: TestClient) -> None:
    """The red ⚑ means "behind" on every page (the map's areas, the late list, the briefing): an
    at-risk project days behind its plan says how many days, without it ("⚑ 4 days behind plan" on
    an amber "at risk" page read as behind)."""
    projects = api.get("/projects", params={"date": ON}).json()["projects"]
    at_risk = [p for p in projects if p["status"] == "at_risk" and round(p["days_late"] or 0) >= 1]
    behind = [p for p in projects if p["status"] == "behind" and round(p["days_late"] or 0) >= 1]
    assert at_risk and behind  # the bundled season has both that day
    for lang in ("zh", "en"):
        for p in (*at_risk[:3], *behind[:3]):
            page = api.get(f"/projects/{p['code']}", params={"date": ON, "f": "html", "lang": lang}).text
            row = page.split('data-field="days_late"', 1)[1].split("</td>", 1)[0]
            assert i18n.label(lang, "n_days", n=f"{p['days_late']:.0f}") in row, (p["code"], row)
            assert ('class="vt-flag"' in row) == (p["status"] == "behind"), (lang, p["code"], row)


def test_after_opening_day_the_forecast_says_it_was_not_reported_done(api: TestClient) -> None:
    """After opening day a project not reported done has missed it: its page says so where the
    forecast goes, as the late list does, not a finish date beside "missed" (the forecast from its
    latest report has gone by: forecast_passed, its finish carried forward to the date)."""
    day = "2026-12-07"
    late = api.get("/completion/late", params={"date": day}).json()["late"]
    gone = [r for r in late if r["missed_opening"] and r["forecast_passed"]]
    assert gone and all(r["forecast_finish"] >= day for r in gone), gone
    for lang in ("zh", "en"):
        for r in gone[:3]:
            page = api.get(f"/projects/{r['code']}", params={"date": day, "f": "html", "lang": lang}).text
            _, text = _field(page, "forecast")
            assert text.startswith(i18n.label(lang, "not_done_by_opening")), (lang, r["code"], text)
            assert r["forecast_finish"] not in text, (lang, r["code"], text)


def test_every_patterned_status_has_its_swatch_on_the_project_page(api: TestClient) -> None:
    """The page's status swatch carries the maps' pattern (web/maps.py STATUS_PATTERNS) for each
    status that has one: at risk printed as not started's plain grey in black and white."""
    from web.maps import STATUS_PATTERNS

    projects = api.get("/projects", params={"date": ON}).json()["projects"]
    for status in STATUS_PATTERNS:
        code = next(p["code"] for p in projects if p["status"] == status)
        page = api.get(f"/projects/{code}", params={"date": ON, "f": "html"}).text
        assert f"vt-swatch-{status}" in page and f".vt-swatch-{status}{{background-image:" in page, status
