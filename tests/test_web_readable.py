"""What the city-appearance teams and leaders read, without a browser: dates that never split across
lines, the home page's figures' words, the change map's pickers and legend, and times that say their
time zone. (What only a browser shows, on a phone: tests/test_web_readable_browser.py.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import CHECKPOINT_DATE, KNOWN_DATE, build_web_twin

from api.main import create_app
from api.settings import ApiSettings
from web import i18n
from web.data import commit_choices

DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])")
NOWRAP_OPEN = '<span class="vt-date" style="white-space:nowrap">'
NOWRAP = re.compile(NOWRAP_OPEN + "([^<]*)</span>")
BEFORE_OPENING = "2026-11-04"  # after T-10 and its round of reports: the pages land on T-10


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = build_web_twin(tmp_path_factory.mktemp("readable") / "venue.gpkg")
    with TestClient(create_app(ApiSettings(store=path))) as c:
        yield c


def _page(api: TestClient, url: str) -> str:
    r = api.get(url, headers={"accept": "text/html"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r.text


class _Attributes(HTMLParser):
    """Every attribute value and every <title>'s text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values += [v for _, v in attrs if v]
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)


def _no_markup_where_text_only(html: str) -> None:
    """The date marks `t` writes never reach a reader: no span inside an attribute or a <title>."""
    assert "\ue000" not in html and "\ue001" not in html
    parsed = _Attributes()
    parsed.feed(html)
    assert not [v for v in parsed.values if "<span" in v], [v for v in parsed.values if "<span" in v][:3]
    assert not [t for t in parsed.titles if "<" in t], parsed.titles


def _between(html: str, start: str, end: str) -> str:
    at = html.index(start)
    return html[at : html.index(end, at)]


# ---------------------------------------------------------------------------- 1. dates never split
@pytest.mark.parametrize(
    ("url", "key", "values"),
    [
        # the completion map's days box: "开幕日 2026-" / "11-05" in a narrow box
        (f"/maps/completion?date={CHECKPOINT_DATE}&lang=zh", "opening_day", {"date": "2026-11-05"}),
        # the units page's heading line on a phone: "（开幕日 2026-11-" / "05）"
        (f"/completion/units?date={CHECKPOINT_DATE}&lang=zh", "units_days_left", {"n": 10, "date": "2026-11-05"}),
        (f"/projects/SP-09?date={CHECKPOINT_DATE}&lang=zh", "units_days_left", {"n": 10, "date": "2026-11-05"}),
        ("/maps?lang=zh", "as_of", {"date": CHECKPOINT_DATE}),
    ],
)
def test_a_date_given_to_a_label_never_splits(
    api: TestClient, today: Callable[[str], None], url: str, key: str, values: dict[str, Any]
) -> None:
    """A label's date ("开幕日 2026-11-05") is one unbreakable piece, the date alone: the label around
    it wraps at its spaces (a whole label kept on one line ran off a phone's screen and out of the
    opening-day card), its text as written."""
    today(BEFORE_OPENING)  # the home page's figures of T-10, the latest checkpoint with reports
    html = _page(api, url)
    lang = "en" if "lang=en" in url else "zh"
    kept = {k: f"{NOWRAP_OPEN}{v}</span>" if k == "date" else v for k, v in values.items()}
    assert i18n.label(lang, key, **kept) in html, url
    assert f"{NOWRAP_OPEN}{i18n.label(lang, key, **values)}</span>" not in html, url  # not the whole label
    _no_markup_where_text_only(html)


def test_a_date_in_an_attribute_or_a_title_stays_plain(api: TestClient) -> None:
    """`t` is used in attributes (the area table's newest report as a tooltip) and in <title>: the
    date there is the bare date, not markup."""
    html = _page(api, f"/maps/completion?date={KNOWN_DATE}&lang=en")
    titles = re.findall(r'class="vt-age" title="([^"]*)"', html)
    assert titles and all(DATE.search(t) and "<" not in t and "&lt;" not in t for t in titles), titles[:3]
    units = _page(api, f"/completion/units?date={KNOWN_DATE}&lang=zh")
    title = re.search(r"<title>([^<]*)</title>", units)
    assert title and KNOWN_DATE in title.group(1), units[:500]


# ---------------------------------------------------------------------------- 2. the home page's words
def test_the_home_pages_figures_wrap_between_words_not_inside_them(
    api: TestClient, today: Callable[[str], None]
) -> None:
    """On a phone "滞后工程" broke as "滞后工 / 程" and "已完成 / 60" as "已完成 /" "60": each figure's
    words are pieces that do not break, and the row of figures wraps instead."""
    today("2026-12-07")  # after opening day: the projects that missed it, and how many are still not done
    missed = _between(_page(api, "/maps?lang=zh"), 'data-kpi="missed"', "</div>")
    assert f'<span class="w">{i18n.label("zh", "missed_opening_kpi")}</span>' in missed, missed
    today(BEFORE_OPENING)
    html = _page(api, "/maps?lang=zh")
    assert re.search(r"\.kpi \.w\{[^}]*white-space:nowrap", html)
    assert re.search(r"\.kpi-row\{[^}]*flex-wrap:wrap", html)
    late = _between(html, 'data-kpi="late"', "</div>")
    assert f'<span class="w">{i18n.label("zh", "late_projects")}</span>' in late
    done = _between(html, 'data-kpi="done"', "</div>")
    assert re.search(r'<span class="w">已完成 / \d+</span>', done), done
    overall = _between(html, 'data-kpi="overall"', "</div>")
    assert re.search(r'<span class="w">总体加权完成率</span> · <span class="w">计划 [\d.]+%</span>', overall), overall


# ---------------------------------------------------------------------------- 3. the change map's pickers
def test_report_commits_of_one_time_are_told_apart_by_their_start() -> None:
    """With --original-dates every report of a day is a commit at 18:00 whose message starts
    "Progress reported on 2026-10-26 by": the options read alike where a select cuts them. Each
    starts with its id and who reported, and the date it repeats is left to the time."""
    units = [
        "青浦区绿化和市容管理局 (Qingpu Greening and City Appearance Bureau)",
        "青浦区交通委员会 (Qingpu Transport Commission)",
        "国网上海市电力公司 (State Grid Shanghai Electric Power)",
    ]
    at = datetime(2026, 10, 26, 10, 0, tzinfo=UTC)
    log = [
        SimpleNamespace(
            id=f"{k:02x}" * 32,
            time=at,
            message=f"Progress reported on 2026-10-26 by {u} (from season.xlsx): LA-00{k}2 100%; PO-00{k}2 98%",
        )
        for k, u in enumerate(units)
    ] + [SimpleNamespace(id="ab" * 32, time=at, message="Progress reported on 2026-10-26: HL-01 40%")]
    twin: Any = SimpleNamespace(log=lambda n: log)
    for lang in ("en", "zh"):
        labels = [label for _, label in commit_choices(twin, lang)]
        starts = [label[:40] for label in labels]
        assert len(set(starts)) == len(starts), labels
        for c, u, label in zip(log, units, labels, strict=False):
            assert label.startswith(f"{c.id[:8]} · "), label
            assert i18n.unit_name(lang, u)[:20] in label[:45], label
            assert "2026-10-26 18:00" in label and "Progress reported on" not in label, label
        assert "HL-01 40%" in labels[-1]


def test_the_change_maps_pickers_say_their_time_zone_once(api: TestClient) -> None:
    html = _page(api, "/maps/changes?from=2026-09-01&to=HEAD&lang=en")
    picker = _between(html, '<select name="from">', "</select>")
    assert picker.count(f'<optgroup label="{i18n.label("en", "commits_beijing")}">') == 1
    assert "UTC+8" in i18n.label("en", "commits_beijing") and "北京时间" in i18n.label("zh", "commits_beijing")
    options = re.findall(r'<option value="([0-9a-f]{12})"[^>]*>([^<]*)</option>', picker)
    assert options and all(label.startswith(value[:8] + " · ") for value, label in options), options[:3]


# ---------------------------------------------------------------------------- 4. the change map's legend
def test_the_change_maps_legend_says_what_it_counts_beside_the_table(api: TestClient) -> None:
    """The legend counts the features drawn (6 modified), the table every change (66 modified: 60 of
    them the project register's records, which have no shape): the legend says so, with the
    table's totals."""
    html = _page(api, "/maps/changes?from=2026-09-01&to=HEAD&lang=en")
    legend = {
        k: int(n)
        for k, n in re.findall(r'<li data-kind="(added|modified|deleted)">.*?<span class="vt-count">(\d+)</span>', html)
    }
    table: dict[str, int] = dict.fromkeys(("added", "modified", "deleted"), 0)
    for kind, n in re.findall(r'<td class="vt-num" data-kind="(added|modified|deleted)">(\d+)</td>', html):
        table[kind] += int(n)
    assert legend["modified"] < table["modified"], (legend, table)  # the case the tester met
    note = re.search(r'<p class="vt-muted vt-legend-drawn"([^>]*)>([^<]*)</p>', html)
    assert note, "the legend does not say what it counts"
    attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', note.group(1)))
    assert {k: int(attrs[f"all-{k}"]) for k in table} == table
    assert int(attrs["unshaped"]) == sum(table.values()) - sum(legend.values())
    words = note.group(2)
    assert "drawn on the map" in words and f"{table['modified']} modified" in words, words


def test_a_legend_that_counts_everything_adds_no_note(api: TestClient) -> None:
    """Between two versions that changed only drawn features the legend is the whole count."""
    html = _page(api, "/maps/changes?from=2026-10-28&to=HEAD&lang=zh")
    assert 'class="vt-count"' in html and "vt-legend-drawn" not in html


# ---------------------------------------------------------------------------- 5. times say their zone
@pytest.mark.parametrize(("lang", "zone"), [("en", " UTC+8"), ("zh", "北京时间 ")])
def test_times_on_pages_say_they_are_shanghai_time(api: TestClient, lang: str, zone: str) -> None:
    """Home said "Current version 8eb184a0b0b5 (2026-12-07 10:21)" while `venue-twin log` says
    02:21:34Z: the pages' times say they are UTC+8, once each."""
    head = api.get("/versions", params={"limit": 1}).json()
    html = _page(api, f"/maps?lang={lang}")
    footer = _between(html, "<footer>", "</footer>")
    stamp = re.search(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})", footer)
    assert stamp, footer
    plain = re.sub(r"<[^>]*>", "", footer)
    assert (zone.strip() + " " + stamp.group(1) if lang == "zh" else stamp.group(1) + zone) in plain, plain
    assert plain.count(zone.strip()) == 1, plain
    assert head is not None
    changes = _page(api, f"/maps/changes?lang={lang}")
    sub = re.sub(r"<[^>]*>", "", _between(changes, '<div class="vt-sub">', "</div>"))
    assert sub.count(zone.strip()) == 2, sub  # "from (time) → to (time)"


def test_filters_in_one_place() -> None:
    """`dates` and `when` are the templates' one way to show a date and a time (web/templating.py)."""
    from web.templating import environment, nowrap_dates, when_text

    assert {"dates", "when"} <= set(environment().filters)
    assert str(nowrap_dates("区间 2026-11-20 至 2026-11-27 <b>")).count("white-space:nowrap") == 2
    assert "&lt;b&gt;" in str(nowrap_dates("<b>"))
    assert when_text(datetime(2026, 12, 7, 2, 21, 34, tzinfo=UTC), "en") == "2026-12-07 10:21 UTC+8"
    assert when_text(datetime(2026, 12, 7, 2, 21, 34, tzinfo=UTC), "zh") == "北京时间 2026-12-07 10:21"
