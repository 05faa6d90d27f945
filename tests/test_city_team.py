"""What a city-appearance team member sees after everyday edits: a flower bed moved, a green wall
deleted, a pot count corrected, a self-intersecting bed from a legacy import, and the layer's
`pots` field renamed `flower_pots` (`venue-twin layer alter --rename-field`).

- The layer check of a version before the rename checks it against that version's schema: its
  flower beds pass and their pot counts are in the table (they were marked "unknown property
  'pots'", the column empty, since the page used today's schema).
- The change map across the rename counts only features on its legend and in its layer table (the
  layer's `@schema` entry was a sixth "modified" feature the map never drew), words the schema
  change as a rename, and does not list a rename as the features' changed attribute ("Flower pots,
  pots" for a bed whose count never changed).
- An invalid geometry's reason is in the page's language ("Self-intersection[x y]" was GEOS's
  English on the Chinese page).
- A feature whose outline a GIS tool saved starting at another vertex, with only a note added, is an
  attribute change (it was listed as "moved or reshaped", its old shape dashed under the same one).
- A layer check on a date before the twin's history is a 404 saying when it starts (it drew an
  empty layer that "passes", version "∅").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import shapely
from api_server import bundled_file
from fastapi.testclient import TestClient
from lxml import html as lxml_html
from web_support import write_unchecked

from api.main import create_app
from api.settings import ApiSettings
from twin import Change, Feature, Twin

AUTHOR = "City team <city appearance>"
BOWTIE = "ls-flower-bed-bowtie"
LAWN = "ls-lawn-east"
FLOWER_BEDS = (
    "ls-flower-bed-north-gate",
    "ls-flower-bed-metro-line2-exit",
    "ls-flower-bed-west-gate",
    "ls-flower-bed-south-gate",
    "ls-flower-bed-metro-line17-exit",
)


def _legacy_bowtie(twin: Twin) -> None:
    """A self-intersecting flower bed written to the store as an import under older rules was."""
    head = twin.head()
    assert head is not None
    bow = shapely.Polygon([(121.2990, 31.1880), (121.2995, 31.1885), (121.2995, 31.1880), (121.2990, 31.1885)])
    f = Feature(
        BOWTIE,
        bow,
        {"code": "FB-06", "kind": "flower_bed", "name_zh": "南广场蝴蝶花坛", "name_en": "South square butterfly bed",
         "area_m2": 500.0, "pots": 9000, "project_code": "LS-02", "responsible_unit": "青浦区绿化和市容管理局",
         "responsible_person": "黄丽 Huang Li"},
    )  # fmt: skip
    write_unchecked(twin, "landscaping", [f], "legacy import", "Legacy import of the 2025 flower survey",
                    head.time + timedelta(hours=1))  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("cityteam") / "venue.gpkg"
    bundled_file(path)
    with Twin.open(path) as twin:
        head = twin.head()
        assert head is not None
        start = head.id
        t0 = max(head.time, datetime(2026, 10, 31, tzinfo=UTC))
        west = orjson.loads(twin.feature("landscaping", "ls-flower-bed-west-gate"))
        metro2 = orjson.loads(twin.feature("landscaping", "ls-flower-bed-metro-line2-exit"))
        moved = shapely.affinity.translate(shapely.from_geojson(orjson.dumps(west["geometry"])), xoff=0.0003)
        metro2["properties"]["pots"] = 22000
        twin.commit(
            [
                Change("landscaping", "modify", west["id"], Feature(west["id"], moved, west["properties"])),
                Change("landscaping", "modify", metro2["id"], Feature(
                    metro2["id"], shapely.from_geojson(orjson.dumps(metro2["geometry"])), metro2["properties"])),
                Change("landscaping", "delete", "ls-green-wall-07", None),
            ],
            author=AUTHOR,
            message="Move the west gate bed 30 m east; Metro 2 bed 22,000 pots; green wall 07 removed",
            time=t0,
        )  # fmt: skip
        _legacy_bowtie(twin)
        before_rename = twin.head()
        assert before_rename is not None
        twin.alter_layer(
            "landscaping", {"rename_fields": {"pots": "flower_pots"}}, author=AUTHOR,
            message="Rename pots to flower_pots", time=t0 + timedelta(hours=2),
        )  # fmt: skip
        after_rename = twin.head()
        assert after_rename is not None
        lawn = orjson.loads(twin.feature("landscaping", LAWN))
        ring = lawn["geometry"]["coordinates"][0][:-1]
        ring = ring[5:] + ring[:5]  # the same outline, saved from its sixth vertex
        lawn["geometry"]["coordinates"][0] = [*ring, ring[0]]
        lawn["properties"]["notes"] = "Re-drawn in QGIS (same outline)"
        twin.commit(
            [Change("landscaping", "modify", LAWN, Feature(
                LAWN, shapely.from_geojson(orjson.dumps(lawn["geometry"])), lawn["properties"]))],
            author=AUTHOR, message="A note on the east lawn", time=t0 + timedelta(hours=3),
        )  # fmt: skip
    return {"path": path, "start": start, "before_rename": before_rename.id, "after_rename": after_rename.id}


@pytest.fixture(scope="module")
def api(store: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=store["path"]))) as c:
        yield c


def _page(api: TestClient, url: str, **params: Any) -> Any:
    r = api.get(url, params=params)
    assert r.status_code == 200, (url, r.status_code, r.text[:400])
    return lxml_html.fromstring(r.text)


def _text(el: Any) -> str:
    return " ".join(el.text_content().split())


# ---------------------------------------------------------------------------- the layer check across a rename
def test_a_version_before_a_field_rename_is_checked_with_its_own_schema(api: TestClient, store: dict[str, Any]) -> None:
    doc = _page(api, "/maps/layers/landscaping", version=store["before_rename"], lang="en")
    problems = _text(doc.xpath("//body")[0])
    assert "unknown property" not in problems
    rows = {r.get("data-id") or "": r for r in doc.xpath("//tr[@data-id]")}
    statuses = {fid: r.get("data-check") for fid, r in rows.items()}
    assert {fid for fid, s in statuses.items() if s != "ok"} == {BOWTIE}
    for fid in FLOWER_BEDS:
        assert statuses[fid] == "ok", (fid, statuses[fid])
    assert statuses[BOWTIE] == "invalid"
    header = [_text(th) for th in doc.xpath("//table//th")]
    assert "Flower pots" in " ".join(header)
    assert "43,200" in _text(rows["ls-flower-bed-north-gate"])  # the pot count, not an empty cell
    classes = api.get(
        "/maps/data/classes/landscaping", params={"mode": "check", "version": store["before_rename"], "lang": "en"}
    ).json()
    assert set(classes["c"]) == {BOWTIE}


def test_the_head_after_the_rename_passes_too(api: TestClient) -> None:
    doc = _page(api, "/maps/layers/landscaping", lang="en")
    statuses = {r.get("data-id"): r.get("data-check") for r in doc.xpath("//tr[@data-id]")}
    assert {fid for fid, s in statuses.items() if s != "ok"} == {BOWTIE}


# ---------------------------------------------------------------------------- the change map across a rename
def _legend_counts(doc: Any) -> dict[str, str]:
    out = {}
    for li in doc.xpath("//ul[contains(@class,'vt-legend')]/li[@data-kind]"):
        nums = [t for t in li.itertext() if t.strip().isdigit()]
        if nums:
            out[li.get("data-kind")] = nums[0].strip()
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_change_map_counts_features_and_words_the_schema_change(
    api: TestClient, store: dict[str, Any], lang: str
) -> None:
    doc = _page(api, "/maps/changes", **{"from": store["start"], "to": store["after_rename"], "lang": lang})
    # added: the bowtie; modified: 5 flower beds (one moved, one recounted, three renamed only); deleted: GW-07
    assert _legend_counts(doc) == {"added": "1", "modified": "5", "deleted": "1"}
    layer_row = doc.xpath("//tr[@data-layer='landscaping']")[0]
    assert [_text(td) for td in layer_row.xpath("td[@data-kind]")] == ["1", "5", "1"]
    entries = {li.get("data-feature"): li for li in doc.xpath("//li[@data-feature]")}
    schema_entry = _text(entries["@schema"])
    assert "pots" in schema_entry and "flower_pots" in schema_entry
    assert ("field renamed" if lang == "en" else "字段改名") in schema_entry
    # the bed whose count changed lists the count once; the others do not list it as changed
    metro2 = entries["ls-flower-bed-metro-line2-exit"].xpath(".//div[@class='vt-change-fields']")
    assert [_text(d) for d in metro2] == ["Flower pots" if lang == "en" else "花盆数量"]
    north = entries["ls-flower-bed-north-gate"].xpath(".//div[@class='vt-change-fields']")
    assert len(north) == 1 and "pots, " not in _text(north[0]) and ("→" in _text(north[0]))
    # the moved bed is a geometry change with no attribute listed
    assert not entries["ls-flower-bed-west-gate"].xpath(".//div[@class='vt-change-fields']")


def test_the_change_data_draws_no_schema_entry_and_no_rename_as_a_change(
    api: TestClient, store: dict[str, Any]
) -> None:
    doc = api.get(
        "/maps/data/changes", params={"from": store["start"], "to": store["after_rename"], "lang": "en"}
    ).json()
    ids = [f["id"] for f in doc["features"] if f["c"] != "modified_old"]
    assert "@schema" not in ids and doc["numberMatched"] == 7 == len(ids)
    by_id = {f["id"]: f for f in doc["features"] if f["c"] == "modified"}
    assert by_id["ls-flower-bed-metro-line2-exit"]["d"] == [["Flower pots", "20,500", "22,000"]]
    assert by_id["ls-flower-bed-north-gate"].get("d") == []


def test_an_outline_saved_from_another_vertex_is_not_a_geometry_change(api: TestClient, store: dict[str, Any]) -> None:
    params = {"from": store["after_rename"], "to": "HEAD", "lang": "en"}
    doc = _page(api, "/maps/changes", **params)
    geometry = doc.xpath("//section[@data-change-section='geometry']//li[@data-feature]")
    attributes = doc.xpath("//section[@data-change-section='attributes']//li[@data-feature]")
    assert [li.get("data-feature") for li in geometry] == []
    assert [li.get("data-feature") for li in attributes] == [LAWN]
    data = api.get("/maps/data/changes", params=params).json()
    assert [(f["id"], f["c"], f.get("gc")) for f in data["features"]] == [(LAWN, "modified", None)]


# ---------------------------------------------------------------------------- an invalid geometry in words
def test_an_invalid_geometry_is_worded_in_the_pages_language(api: TestClient) -> None:
    zh = _text(_page(api, "/maps/layers/landscaping", lang="zh").xpath("//body")[0])
    en = _text(_page(api, "/maps/layers/landscaping", lang="en").xpath("//body")[0])
    assert "Self-intersection" not in zh and "Self-intersection" not in en
    assert "几何无效：边界自相交（位置 121.299250, 31.188250）" in zh
    assert "invalid geometry: the outline crosses itself (at 121.299250, 31.188250)" in en


def test_an_unknown_geos_reason_is_kept_as_geos_gives_it() -> None:
    from web.checks import geos_reason_text

    assert geos_reason_text("Something new[1 2]", "zh") == "Something new[1 2]"
    assert geos_reason_text("Nested shells", "zh") == "外环相互嵌套"


# ---------------------------------------------------------------------------- before the history
@pytest.mark.parametrize("url", ["/maps/layers/landscaping", "/maps/layers/projects"])
def test_a_layer_check_before_the_history_is_a_404_saying_when_it_starts(api: TestClient, url: str) -> None:
    r = api.get(url, params={"version": "2020-01-01", "lang": "en"})
    assert r.status_code == 404, r.status_code
    assert "history starts on 2026-06-15" in r.text


# ---------------------------------------------------------------------------- an added feature that fails validation
@pytest.mark.parametrize(("lang", "words"), [("en", "the outline crosses itself"), ("zh", "边界自相交")])
def test_the_change_list_says_which_changed_features_fail_validation(
    api: TestClient, store: dict[str, Any], lang: str, words: str
) -> None:
    """The bowtie came in by a legacy import: the change list's entry carries its validation problem
    and the page shows it under the entry, the others none."""
    from completion.snapshot import resolve_ref
    from web.check_views import changes_view
    from web.data import changed_layer_names, changes_between

    with Twin.open(store["path"]) as twin:
        a, b = resolve_ref(twin, store["start"]), resolve_ref(twin, "HEAD")
        view = changes_view(twin, changes_between(twin, a, b, changed_layer_names(twin, b)), lang, a, b)
    found = {e.feature_id: e.problems for e in (*view.geometry, *view.attributes) if e.problems}
    assert list(found) == [BOWTIE]
    assert len(found[BOWTIE]) == 1 and words in found[BOWTIE][0]
    doc = _page(api, "/maps/changes", **{"from": store["start"], "to": "HEAD", "lang": lang})
    shown = {li.get("data-feature"): _text(li) for li in doc.xpath("//li[@data-feature][div[@data-problem]]")}
    assert list(shown) == [BOWTIE] and words in shown[BOWTIE], shown


# ---------------------------------------------------------------------------- units in the popups
@pytest.mark.parametrize(("lang", "pots", "trees"), [("zh", "盆", "株"), ("en", "pots", "trees")])
def test_the_popups_units_are_in_the_pages_language(api: TestClient, lang: str, pots: str, trees: str) -> None:
    """A flower bed's popup read "9,000 pots" on the Chinese page: the unit is the schema's English word."""
    r = api.get("/maps/layers/landscaping", params={"lang": lang})
    assert r.status_code == 200
    units = dict(re.findall(r'\{"name":"(\w+)","title":"[^"]*","unit":"([^"]*)"', r.text))
    assert units["flower_pots"] == pots and units["trees"] == trees and units["area_m2"] == "m²"


# ---------------------------------------------------------------------------- a project naming a deleted feature
@pytest.mark.parametrize(("lang", "words"), [("en", "a feature the twin does not have"), ("zh", "在孪生中不存在")])
def test_a_project_naming_a_deleted_feature_fails_the_register_check(
    api: TestClient, store: dict[str, Any], lang: str, words: str
) -> None:
    """Green wall 07 was deleted; LS-03 (the green walls) and LS-12 (their irrigation) still name it,
    which the twin refuses when a record is written but not when the feature goes. The register's
    check passed them both."""
    doc = _page(api, "/maps/layers/projects", lang=lang)
    statuses = {r.get("data-id"): r.get("data-check") for r in doc.xpath("//tr[@data-id]")}
    assert {fid for fid, s in statuses.items() if s != "ok"} == {"LS-03", "LS-12"}
    body = _text(doc.xpath("//body")[0])
    assert "landscaping/ls-green-wall-07" in body and words in body
    before = _page(api, "/maps/layers/projects", version=store["start"], lang=lang)
    assert {r.get("data-check") for r in before.xpath("//tr[@data-id]")} == {"ok"}


@pytest.mark.parametrize("url", ["/maps/changes", "/maps/data/changes"])
def test_a_change_map_to_a_date_before_the_history_is_a_404(api: TestClient, url: str) -> None:
    """As the API's /diff answers: not every feature 'deleted'. From before the history stays the
    whole twin as added."""
    r = api.get(url, params={"from": "HEAD", "to": "2020-01-01", "lang": "en"})
    assert r.status_code == 404, r.status_code
    assert "history starts on 2026-06-15" in r.text
    assert api.get(url, params={"from": "2020-01-01", "to": "HEAD", "lang": "en"}).status_code == 200


def test_a_reference_into_a_layer_hidden_from_the_reader_is_no_problem(tmp_path: Path) -> None:
    """A viewer does not see the restricted security layer: a project naming a guard post in it is
    not 'naming a feature the twin does not have' to them, nor to an engineer who sees it."""
    from completion.register import LAYER as PROJECTS
    from twin.access import TwinView
    from web.checks import layer_check

    path = tmp_path / "venue.gpkg"
    bundled_file(path)
    with Twin.open(path) as twin:
        twin.create_layer(
            {"name": "security", "title_zh": "安保点位", "title_en": "Security posts", "geometry_types": ["Point"],
             "restricted_to": ["engineer"], "fields": [{"name": "code", "type": "string"}]},
            author=AUTHOR, message="Security layer",
        )  # fmt: skip
        twin.commit(
            [Change("security", "add", "post-1", Feature("post-1", shapely.Point(121.2985, 31.1900), {"code": "P1"}))],
            author=AUTHOR, message="A guard post",
        )  # fmt: skip
        record = orjson.loads(twin.feature(PROJECTS, "LS-03"))
        record["properties"]["features"] = [*record["properties"]["features"], "security/post-1"]
        twin.commit(
            [Change(PROJECTS, "modify", "LS-03", Feature("LS-03", None, record["properties"]))],
            author=AUTHOR, message="LS-03 also covers the guard post",
        )  # fmt: skip
        for role in ("viewer", "engineer"):
            view = TwinView(twin, role)
            assert "LS-03" not in layer_check(view, PROJECTS, view.resolve()), role


def test_diff_stat_counts_a_schema_change_apart_from_the_features(store: dict[str, Any]) -> None:
    """`venue-twin diff --stat` over the rename printed `landscaping: +0 ~7 -0` where `log` said
    `landscaping schema +0 ~6 -0`: the layer's schema entry was counted as a modified feature."""
    from typer.testing import CliRunner

    from cli.main import app

    r = CliRunner().invoke(
        app, ["diff", store["before_rename"], store["after_rename"], "--stat", "--store", str(store["path"])]
    )
    assert r.exit_code == 0, r.output
    with Twin.open(store["path"]) as twin:
        renamed = list(twin.diff(twin.resolve(store["before_rename"]), twin.resolve(store["after_rename"])))
    beds = sum(1 for e in renamed if e.feature_id != "@schema")
    assert f"landscaping: schema +0 ~{beds} -0" in r.output, r.output
