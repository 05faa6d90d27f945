"""Paging stays exact while others commit: a walk by next links neither skips nor repeats a feature.

Between every two pages the test commits what would shift an unpinned walk: it deletes a feature
before the current page, adds features whose ids sort first, and moves one feature into and one
out of the box. The walk must still return exactly the features of the version its first page
was read at, in id order, with the same numberMatched on every page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import shapely
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from twin import Change, Feature, LayerSchema, Twin
from twin.model import FieldSpec

TWIN_STORES = ("gpkg", "postgis")

STALLS = LayerSchema(
    name="stalls",
    title_zh="摊位",
    title_en="Stalls",
    geometry_types=("Polygon",),
    fields=(FieldSpec("code", "string", required=True),),
    description="A row of stalls, paged through while they change.",
)
AOI = shapely.box(121.2, 31.1, 121.4, 31.3)
BOX = (121.2900, 31.1800, 121.3000, 31.1900)  # holds stalls 0..199; 200..239 lie east of it


def _stall(i: int, fid: str | None = None, east: float = 0.0) -> Change:
    x = 121.29 + (i % 20) * 0.0004 + east
    y = 31.18 + (i // 20) * 0.0009
    fid = fid or f"s{i:04d}"
    return Change("stalls", "upsert", fid, Feature(fid, shapely.box(x, y, x + 0.0003, y + 0.0003), {"code": fid}))


@pytest.fixture
def stalls(make_twin) -> Twin:  # type: ignore[no-untyped-def]
    twin: Twin = make_twin(name="stalls", schemas=[STALLS], aoi=AOI)
    twin.commit(
        [_stall(i) for i in range(200)] + [_stall(i, east=0.02) for i in range(200, 240)], author="t", message="m"
    )
    return twin


def _next(doc: dict[str, Any]) -> str | None:
    href = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
    if href is None:
        return None
    parts = urlsplit(href)
    return parts.path + "?" + parts.query


@pytest.mark.parametrize("how", ["offset", "cursor"])
@pytest.mark.parametrize("box", [True, False], ids=["bbox", "all"])
def test_a_walk_is_exact_under_concurrent_commits(stalls: Twin, how: str, box: bool) -> None:
    first_url = "/collections/stalls/items?limit=30" + (f"&bbox={','.join(map(str, BOX))}" if box else "")
    if how == "cursor":
        first_url += "&cursor="  # an empty cursor starts at the beginning and pages by id
    expected = [fid for fid in stalls.feature_ids("stalls") if not box or int(fid[1:]) < 200]
    app = create_app(ApiSettings(store="unused"), twin=stalls)
    with TestClient(app) as api:
        got: list[str] = []
        url: str | None = first_url
        k = 0
        while url is not None:
            r = api.get(url)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["numberMatched"] == len(expected)
            got += [f["id"] for f in doc["features"]]
            url = _next(doc)
            k += 1
            # What would shift an unpinned walk: a feature before this page goes, two whose ids sort
            # first arrive, one stall moves out of the box and one moves in.
            stalls.commit(
                [
                    Change("stalls", "delete", got[0]) if k == 1 else _stall(300 + k, fid=f"a{k:03d}"),
                    _stall(k, fid=f"a{k:03d}-x"),
                    _stall(199 - k, east=0.02),
                    _stall(200 + k, fid=f"s{200 + k:04d}"),
                ],
                author="other",
                message=f"while paging ({k})",
            )
            assert k < 50, "next links never end"
    assert got == expected
