"""Opening day's own views, read after it (a leader tester's finds).

The briefing of 2026-11-05 listed projects 32 % done with "0 % chance of missing opening day"
beside a forecast finish gone by, while the map said "passed, not reported done"; and the views
of that day said "Opening today" with no word that opening day had since passed, which the views
of earlier dates say.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import build_venue, client
from fastapi.testclient import TestClient
from pypdf import PdfReader

from completion import Completion
from twin import Twin
from web import i18n

OPENING = "2026-11-05"
TODAY = "2026-12-07"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("opening-day") / "venue.gpkg")


@pytest.fixture(scope="module")
def api(store: Any) -> Iterator[TestClient]:
    with client(store) as c:
        yield c


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_on_opening_day_a_project_not_reported_done_has_missed_it(store: Path, api: TestClient) -> None:
    with Twin.open(store) as twin:
        snap = Completion(twin).at(OPENING)
    open_ = [s for s in snap.statuses if s.percent < 100]
    assert open_, "the bundled season has projects not done on opening day"
    # a finish gone by is no "0 % chance": every one of them missed opening day
    assert any(s.forecast_passed for s in open_)
    for s in open_:
        assert s.forecast.missed and s.forecast.p_late == 1.0, (s.project.code, s.forecast)
        assert s.forecast.after_opening and s.status == "behind", (s.project.code, s.status)
    # the day before, a chance still (not every one is certain)
    before = Completion(Twin.open(store)).at("2026-11-04")
    assert not any(s.forecast.missed for s in before.statuses)
    # the API's late list says the same
    late = api.get("/completion/late", params={"date": OPENING}).json()
    rows = late.get("projects", late.get("late", []))
    assert rows and all(r["missed_opening"] and r["p_late"] == 1.0 for r in rows if r["percent"] < 100), rows


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_opening_days_views_read_after_it_say_it_has_passed(
    api: TestClient, today: Callable[[str], None], lang: str
) -> None:
    today(TODAY)
    note = i18n.label(lang, "landed_after_opening", today=TODAY)
    page = api.get("/maps/completion", params={"date": OPENING, "lang": lang})
    assert page.status_code == 200
    assert f'data-opening-since-passed="{TODAY}"' in page.text
    assert note in re.sub(r"<[^>]+>", "", page.text)  # (its date is wrapped to keep it on one line)
    # the briefing of that day: the note, and "missed" where the chance was 0 %
    pdf = api.get("/brief", params={"date": OPENING, "lang": lang})
    assert pdf.status_code == 200, pdf.text[:300]
    text = squashed(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text())
    assert squashed(i18n.label(lang, "brief_note_passed", today=TODAY)) in text, text[:600]
    assert squashed(i18n.label(lang, "brief_missed")) in text
    # made on opening day itself, it says nothing of the kind
    today(OPENING)
    page = api.get("/maps/completion", params={"date": OPENING, "lang": lang})
    assert "data-opening-since-passed" not in page.text
