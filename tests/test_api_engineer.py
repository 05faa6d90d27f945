"""What an engineer scripting against the API (curl, requests, GDAL's OAPIF driver, OWSLib) ran
into, one test per finding: each failed before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_server import build_venue, client, make_tokens, problem_of
from fastapi.testclient import TestClient

from twin import Twin
from twin.core import SHANGHAI

# A date (and a time) before the bundled twin's first commit (its history starts in June 2026).
BEFORE = "2020-01-01"


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = build_venue(tmp_path_factory.mktemp("api-engineer") / "venue.gpkg")
    make_tokens(store)
    return store  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def api(venue: Path) -> Iterator[TestClient]:
    with client(venue) as c:
        yield c


@pytest.fixture(scope="module")
def first_day(venue: Path) -> tuple[str, str]:
    """The day (Shanghai) of the twin's first commit and that commit's short id."""
    with Twin.open(venue) as twin:
        first = twin.first_commit()
    assert first is not None
    return first.time.astimezone(SHANGHAI).date().isoformat(), first.id[:12]


# ---------------------------------------------------------------------------- reads before the history
TILE = "/collections/halls/tiles/WebMercatorQuad/16/26786/54849"
AS_OF_READS = [
    "/collections/halls/items",
    "/collections/halls/items/hall-2.1H",
    "/collections/halls/download?f=geojson",
    "/collections/halls/download?f=gpkg",
    "/collections/halls/schema",
    TILE,
    "/surveys",
]


TAKE_DATETIME = ("/collections/halls/items", "/collections/halls/items/hall-2.1H", TILE)
CASES = [
    *((path, "asof", value) for path in AS_OF_READS for value in (BEFORE, f"{BEFORE}T08:00:00Z")),
    *((path, "datetime", f"{BEFORE}T08:00:00Z") for path in TAKE_DATETIME),
]


@pytest.mark.parametrize("path,param,value", CASES)
def test_a_read_before_the_twins_history_says_so(
    api: TestClient, first_day: tuple[str, str], path: str, param: str, value: str
) -> None:
    """The project's rule: a read on a date before the twin had any data says so (404 naming when
    its history starts, as /completion?date= does), not an empty collection (numberMatched 0) or
    "no feature 'hall-2.1H'" that reads as if the layer were empty or the hall gone."""
    sep = "&" if "?" in path else "?"
    body = problem_of(api.get(f"{path}{sep}{param}={value}"), 404, param)
    since, first_id = first_day
    assert "the twin has no data" in body["detail"] and value in body["detail"], body
    assert f"its history starts on {since}" in body["detail"] and first_id in body["detail"], body


def test_the_items_and_the_completion_agree_on_a_date_before_the_history(api: TestClient) -> None:
    items = problem_of(api.get("/collections/halls/items", params={"asof": BEFORE}), 404, "asof")
    completion = problem_of(api.get("/completion", params={"date": BEFORE}), 404)
    # Both name the same start of the history.
    start = completion["detail"].split("its history starts on ")[1].split(")")[0]
    assert start in items["detail"], (items, completion)


def test_a_read_as_of_a_date_in_the_history_is_still_answered(api: TestClient, first_day: tuple[str, str]) -> None:
    since, _ = first_day
    for path in AS_OF_READS:
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}asof={since}")
        # On its first day the twin has its first commit: the reads answer (a hall added later is a
        # plain 404 naming the feature, an empty tile or no survey is still 200).
        assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
        if r.status_code == 404:
            assert "no data" not in r.json()["detail"], (path, r.text)
    assert api.get("/collections/halls/items", params={"asof": since}).json()["numberMatched"] > 0


def test_a_diff_from_before_the_history_is_everything_added(api: TestClient) -> None:
    """`from` a date before the history is the empty twin on purpose: the whole twin as added."""
    doc = api.get("/diff", params={"from": BEFORE}).json()
    assert doc["twin:from"] is None and doc["twin:counts"]["halls"]["added"] > 0
