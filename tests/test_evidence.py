"""Evidence from imagery: zonal statistics on rasters whose answers are known by construction, the
demo surveys, and the lagging project's flag through the library, the API and the CLI."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from datetime import date
from html import escape as html_escape
from pathlib import Path

import geopandas as gpd
import numpy as np
import orjson
import pytest
import rasterio
from fastapi.testclient import TestClient
from pypdf import PdfReader
from rasterio.transform import from_origin
from shapely.geometry import box
from typer.testing import CliRunner

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app
from completion.evidence import Evidence, all_evidence, flag_message, project_evidence, snapshot_flags
from completion.snapshot import Completion
from completion.zonal import signature_shares, surface_change, zonal_stats
from layers.demo_surveys import LAGGING, render_demo_surveys
from twin import Twin
from twin.errors import BadInput
from web import i18n
from web.evidence_page import reason_text

T10, T30, T70 = "2026-10-26", "2026-10-06", "2026-08-27"
X0, Y0 = 623_000.0, 3_453_000.0  # top-left of the hand-made rasters, EPSG:4549, 1 m pixels
EDGE = 0.01  # a footprint's edge cuts pixels; exactextract weighs them by the share covered


def write(path: Path, bands: np.ndarray, nodata: float | None = None, origin: tuple[float, float] = (X0, Y0)) -> Path:
    count, height, width = bands.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=count, dtype=bands.dtype,
        crs="EPSG:4549", transform=from_origin(*origin, 1.0, 1.0), nodata=nodata,
    ) as out:  # fmt: skip
        out.write(bands)
    return path


def in_lonlat(*geoms):
    return list(gpd.GeoSeries(list(geoms), crs=4549).to_crs(4326))


# ---------------------------------------------------------------------------- zonal statistics
@pytest.fixture
def ndvi_half(tmp_path: Path) -> Path:
    """100 × 100 m: NDVI 0.8 in the west half, 0.1 in the east half; the top 10 rows nodata."""
    a = np.full((1, 100, 100), 0.1, np.float32)
    a[:, :, :50] = 0.8
    a[:, :10, :] = -9999.0
    return write(tmp_path / "ndvi.tif", a, nodata=-9999.0)


def test_green_cover_is_the_share_above_the_threshold(ndvi_half: Path) -> None:
    # A 60 × 60 m square straddling the middle, given in lon/lat: reprojected into the raster's CRS.
    square = box(X0 + 20.3, Y0 - 80.2, X0 + 80.3, Y0 - 20.2)
    outside_half = box(X0 - 30, Y0 - 60, X0 + 30, Y0 - 30)  # half of it west of the raster
    top = box(X0 + 60, Y0 - 20, X0 + 80, Y0)  # half of it on nodata rows
    got = {
        s.key: s
        for s in zonal_stats(ndvi_half, in_lonlat(square, outside_half, top), ["sq", "out", "top"], threshold=0.4)
    }
    sq = got["sq"]
    assert sq.above == pytest.approx((50 - 20.3) / 60, abs=EDGE)  # the part west of x = 50 m
    assert sq.coverage == pytest.approx(1.0, abs=EDGE)
    assert sq.mean == pytest.approx(0.8 * (29.7 / 60) + 0.1 * (30.3 / 60), abs=0.01)
    assert 0.1 <= (sq.p10 or 0) < (sq.p50 or 0) < (sq.p90 or 0) <= 0.8
    assert got["out"].coverage == pytest.approx(0.5, abs=EDGE)
    assert got["out"].above == pytest.approx(1.0, abs=EDGE)  # its valid part is all west half
    assert got["top"].coverage == pytest.approx(0.5, abs=EDGE)
    assert got["top"].above == pytest.approx(0.0, abs=EDGE)
    # A higher threshold than every value: no green at all.
    (none,) = zonal_stats(ndvi_half, in_lonlat(square), ["sq"], threshold=0.9)
    assert none.above == pytest.approx(0.0)


def test_percentiles_of_a_gradient(tmp_path: Path) -> None:
    # Values rise west to east by 0.01 a pixel: over the whole raster the percentiles are known.
    a = np.broadcast_to((np.arange(100, dtype=np.float32) + 0.5) / 100, (1, 100, 100)).copy()
    raster = write(tmp_path / "gradient.tif", a, nodata=-9999.0)
    (s,) = zonal_stats(raster, in_lonlat(box(X0, Y0 - 100, X0 + 100, Y0)), ["all"])
    assert s.p10 == pytest.approx(0.1, abs=0.02) and s.p50 == pytest.approx(0.5, abs=0.02)
    assert s.p90 == pytest.approx(0.9, abs=0.02) and s.mean == pytest.approx(0.5, abs=0.01)


def test_rgb_signatures_and_change(tmp_path: Path) -> None:
    old = np.zeros((3, 100, 100), np.uint8)
    old[:] = np.array([120, 120, 116], np.uint8)[:, None, None]  # worn asphalt
    new = old.copy()
    new[:, :, :30] = np.array([44, 45, 48], np.uint8)[:, None, None]  # fresh asphalt in the west 30 m
    new[:, 90:, :] = np.array([236, 237, 238], np.uint8)[:, None, None]  # a white strip at the bottom
    before, after = write(tmp_path / "before.tif", old), write(tmp_path / "after.tif", new)
    road = box(X0, Y0 - 80, X0 + 60, Y0 - 20)  # 60 × 60 m, half of it in the fresh part
    (shares, cov), = signature_shares(after, in_lonlat(road), ["road"])  # fmt: skip
    assert shares["fresh_asphalt"] == pytest.approx(0.5, abs=EDGE)
    assert "roof_membrane" not in shares and cov == pytest.approx(1.0, abs=EDGE)
    ((changed, cov2),) = surface_change(before, after, in_lonlat(road), ["road"], threshold=40)
    assert changed == pytest.approx(0.5, abs=EDGE) and cov2 == pytest.approx(1.0, abs=EDGE)
    ((unchanged, _),) = surface_change(before, before, in_lonlat(road), ["road"], threshold=40)
    assert unchanged == 0.0
    with pytest.raises(BadInput, match="no band 4"):
        zonal_stats(after, in_lonlat(road), ["road"], band=4)
    with pytest.raises(BadInput, match="not a readable raster"):
        zonal_stats(tmp_path / "missing.tif", in_lonlat(road), ["road"])


def test_footprints_on_fractional_pixel_edges_are_read_whole(tmp_path: Path) -> None:
    """Footprints whose bounds start and end inside pixels: the window over all of them and each
    one's own window are rounded out to whole pixels alike. Rounding the offset down but keeping
    the fractional width's ceiling left the window over all of them a pixel short of the last one
    (a 20,000² 0.1 m orthophoto: "could not broadcast input array from shape (12120,3257) into
    shape (12119,3257)", a traceback from `venue-twin evidence`), and every footprint's last
    row or column of pixels unread."""
    a = np.zeros((3, 10, 10), np.uint8)
    a[:] = np.array([44, 45, 48], np.uint8)[:, None, None]  # fresh asphalt everywhere
    raster = write(tmp_path / "ortho.tif", a)
    # 0.9 to 2.1 m over all: pixels 0 to 2; the second footprint lies wholly in pixel 2.
    west = box(X0 + 0.9, Y0 - 5, X0 + 1.0, Y0 - 4)
    east = box(X0 + 2.05, Y0 - 5, X0 + 2.1, Y0 - 4)
    shares = signature_shares(raster, [west, east], ["w", "e"], crs="EPSG:4549")
    for got, cov in shares:
        assert got["fresh_asphalt"] == pytest.approx(1.0) and cov == pytest.approx(1.0, abs=EDGE)
    changes = surface_change(raster, raster, [west, east], ["w", "e"], threshold=40, crs="EPSG:4549")
    assert [(c, round(cov, 2)) for c, cov in changes] == [(0.0, 1.0), (0.0, 1.0)]


# ---------------------------------------------------------------------------- demo surveys
@pytest.fixture(scope="module")
def surveyed(surveyed_twin: Path) -> Path:
    """The bundled twin with the demo surveys of T-70, T-30 and T-10 (tests/conftest.py)."""
    return surveyed_twin


def test_demo_rendering_is_deterministic(surveyed: Path, tmp_path: Path) -> None:
    with Twin.open(surveyed) as twin:
        a = render_demo_surveys(twin, tmp_path / "a", checkpoints=(10,))
        b = render_demo_surveys(twin, tmp_path / "b", checkpoints=(10,))
        # the seed matters: shown on the NDVI alone (an orthophoto is the slowest to render)
        (c,) = render_demo_surveys(twin, tmp_path / "c", checkpoints=(10,), ortho_checkpoints=(), seed=7)
    assert [x.kind for x in a] == ["orthophoto", "ndvi"] and c.kind == "ndvi"
    with rasterio.open(a[1].path) as rx, rasterio.open(c.path) as rz:
        assert rx.transform == rz.transform and not np.array_equal(rx.read(), rz.read())
    for x, y in zip(a, b, strict=True):
        with rasterio.open(x.path) as rx, rasterio.open(y.path) as ry:
            assert rx.crs.to_epsg() == 4549 and rx.transform == ry.transform
            assert np.array_equal(rx.read(), ry.read())
            if x.kind == "ndvi":
                assert rx.count == 1 and rx.dtypes[0] == "float32" and rx.nodata is not None
                assert rx.res == (1.0, 1.0)
            else:
                assert rx.count == 3 and rx.dtypes[0] == "uint8" and rx.res == pytest.approx((0.3, 0.3))


def test_the_lagging_project_is_flagged_and_the_others_agree(surveyed: Path) -> None:
    with Twin.open(surveyed) as twin:
        assert len(twin.surveys()) == 6
        items = {e.code: e for e in all_evidence(twin, T10)}
        lag = items[LAGGING]
        assert lag.flag and lag.reported == 100.0 and lag.method == "green_cover"
        assert lag.estimate is not None and 45 <= lag.estimate <= 65
        # the report it is set against is the flight day's, named with its date
        assert lag.compared == 100.0 and lag.compared_date is not None and lag.compared_date <= lag.survey_date
        assert (
            lag.message
            == f"reported 100 % on {lag.compared_date:%m-%d}, imagery shows {lag.measure:.0f} % green cover on 10-26"
        )
        measured = [e for e in items.values() if e.estimate is not None]
        assert len(measured) >= 10  # roads, paving, roofs and beds all measured
        for e in measured:
            if e.code != LAGGING:
                assert not e.flag, e
                assert e.reported is not None and abs(e.reported - e.estimate) <= 10, e
        assert [c for c, e in items.items() if e.flag] == [LAGGING]
        # Imagery cannot speak to interior work: no estimate, and the reason.
        assert items["HL-03"].estimate is None and "interior" in (items["HL-03"].reason or "")
        # At T-30 the lawns were reported at 90 %: already flagged on the T-30 flight.
        t30 = project_evidence(twin, LAGGING, on=T30)
        assert t30.flag and t30.survey_date is not None and t30.survey_date.isoformat() == T30
        # Roads repaired from 09-01: the T-70 flight is their baseline, and the surface changed
        # over their whole footprint by T-10; the entrance square was already 62 % repaved then.
        rd08, sp01 = items["RD-08"], items["SP-01"]
        assert rd08.baseline_date is not None and rd08.baseline_date.isoformat() == T70
        assert rd08.changed is not None and rd08.changed >= 90
        assert sp01.baseline_survey is None and sp01.changed is None  # started before any flight
        assert items["SP-10"].changed is not None and 25 <= items["SP-10"].changed <= 50
        # Before the first flight after the lawns' start there is no survey to speak to them.
        early = project_evidence(twin, LAGGING, on="2026-09-20")
        assert early.estimate is None and "no ndvi survey" in (early.reason or "")


def test_reasons_and_measures_read_as_what_they_are(surveyed: Path) -> None:
    """A project not started yet says so (not "no ndvi survey flown between its planned start
    2026-10-10 and 2026-10-06", running backwards); a category imagery cannot measure is named by
    the register's label, not its code; the CLI's measure says the planned share is of the
    footprint ("(plan 14 %)" read as "planned 14 %")."""
    with Twin.open(surveyed) as twin:
        items = all_evidence(twin, T30)
        snap = Completion(twin).at(T30)
    starts = {s.project.code: s.project.planned_start for s in snap.statuses}
    early = [e for e in items if starts[e.code] > snap.on and "flown between" in (e.reason or "")]
    assert not early
    waiting = [e for e in items if starts[e.code] > snap.on and (e.reason or "").startswith("not started yet")]
    assert waiting, [(e.code, e.reason) for e in items if starts[e.code] > snap.on]
    for e in waiting:
        assert e.reason == f"not started yet (planned start {starts[e.code]})"
    traffic = [e for e in items if e.category == "traffic_facilities"]
    assert traffic and all(e.reason == "imagery cannot measure this kind of work (Traffic facilities)" for e in traffic)
    assert not any("_" in (e.reason or "") for e in items), [e.reason for e in items if "_" in (e.reason or "")]
    r = CliRunner().invoke(app, ["evidence", "--all", "--date", T30, "--store", str(surveyed)], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    part = [e for e in items if e.planned_share is not None and e.planned_share < 99.5]
    assert part and "(plan " not in r.output
    for e in part:
        assert f"(it plans to cover {e.planned_share:.0f} % of the footprint)" in r.output


# ---------------------------------------------------------------------------- which survey speaks
LATER = "2026-10-28"  # a flight after the demo's last (T-10)


@pytest.fixture
def resurveyed(surveyed: Path, tmp_path: Path) -> Path:
    """A copy of the surveyed twin (and its survey files) that a test may import more surveys into."""
    path = tmp_path / "venue.gpkg"
    shutil.copyfile(surveyed, path)
    shutil.copytree(surveyed.with_name("venue.surveys"), tmp_path / "venue.surveys")
    return path


def green(path: Path, west: float, south: float, east: float, north: float) -> Path:
    """An NDVI raster (EPSG:4549, 1 m) green everywhere over the box, all of it valid."""
    a = np.full((1, int(north - south), int(east - west)), 0.85, np.float32)
    return write(path, a, nodata=-9999.0, origin=(west, north))


def test_a_partial_later_survey_does_not_hide_a_full_earlier_one(
    resurveyed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA repro: an NDVI flight of 10-28 over the south-west corner of the venue made the lawns of
    LS-01 and LS-15 (east) "covered 0 %" and LS-04 "covered 39 %": no estimate, and the lagging
    project's flag lost. The latest survey covering enough of each footprint speaks to it."""
    corner = green(tmp_path / "corner.tif", 623_100, 3_452_300, 623_750, 3_452_900)
    with Twin.open(resurveyed) as twin:
        t10 = next(s for s in twin.surveys(kind="ndvi") if s.date.isoformat() == T10)
        assert project_evidence(twin, LAGGING, on=LATER).flag  # flagged before the flight
        twin.import_survey(corner, kind="ndvi", on=date.fromisoformat(LATER), author="drone.team")
        partial = next(s for s in twin.surveys(kind="ndvi") if s.date.isoformat() == LATER)
        items = {e.code: e for e in all_evidence(twin, LATER)}
        for code in ("LS-01", "LS-15", LAGGING):
            e = items[code]
            assert (e.survey, e.survey_date) == (t10.id, t10.date), e
            assert e.estimate is not None and e.coverage is not None and e.coverage >= 99, e
        assert items[LAGGING].flag and "on 10-26" in (items[LAGGING].message or "")
        assert [c for c, e in items.items() if e.flag] == [LAGGING]
        # The south plaza's beds lie inside the corner: the later flight is theirs.
        assert items["SP-02"].survey == partial.id and items["SP-02"].coverage == pytest.approx(100, abs=1)
        # Named, the partial survey is measured as named, and says how little it covers.
        named = project_evidence(twin, LAGGING, partial.id, on=LATER)
        assert named.survey == partial.id and named.estimate is None and not named.flag
        assert re.fullmatch(
            rf"survey {partial.id} covers \d+ % of the footprint \(at least 50 % needed\)", named.reason or ""
        )
        assert named.reason_code == "too_little_coverage" and named.reason_values["needed"] == "50"
        # The status pages' flags (cached) agree, and follow the minimum coverage: at 10 % the
        # corner flight (all green) covers enough of the lawns to speak to them.
        snap = Completion(twin).at(LATER)
        assert list(snapshot_flags(twin, snap)) == [LAGGING]
        monkeypatch.setenv("VENUE_TWIN_EVIDENCE_MIN_COVERAGE", "0.1")
        assert project_evidence(twin, LAGGING, on=LATER).survey == partial.id
        assert snapshot_flags(twin, snap) == {}


def test_a_later_survey_covering_the_footprint_is_preferred(resurveyed: Path, tmp_path: Path) -> None:
    """A later flight over all of the lawns of LS-04 (green: the turf took after all) speaks to it
    instead of the T-10 one: the flag goes, in the cached flags of the status pages too."""
    lawns = green(tmp_path / "lawns.tif", 623_200, 3_452_450, 624_150, 3_453_050)
    with Twin.open(resurveyed) as twin:
        snap = Completion(twin).at(LATER)
        assert list(snapshot_flags(twin, snap)) == [LAGGING]
        twin.import_survey(lawns, kind="ndvi", on=date.fromisoformat(LATER), author="drone.team")
        later = next(s for s in twin.surveys(kind="ndvi") if s.date.isoformat() == LATER)
        ev = project_evidence(twin, LAGGING, on=LATER)
        assert (ev.survey, ev.survey_date) == (later.id, later.date)
        assert ev.estimate is not None and ev.estimate >= 95 and not ev.flag
        # LS-01 lies east of the flight: still the T-10 survey's.
        assert project_evidence(twin, "LS-01", on=LATER).survey_date == date.fromisoformat(T10)
        assert snapshot_flags(twin, Completion(twin).at(LATER)) == {}


def test_too_few_valid_pixels_fall_back_to_an_older_survey(resurveyed: Path, tmp_path: Path) -> None:
    """A flight whose extent covers the lawns but whose pixels are mostly nodata (a flight cut
    short) is measured, found to cover too little, and the next older survey speaks instead. When
    no survey covers enough, the evidence says so of the latest, and that no other does either."""
    holes = np.full((1, 600, 950), -9999.0, np.float32)
    holes[:, :, :100] = 0.85  # a strip along the west edge only
    cut = write(tmp_path / "cut.tif", holes, nodata=-9999.0, origin=(623_200, 3_453_050))
    corner = green(tmp_path / "corner.tif", 623_100, 3_452_300, 623_750, 3_452_900)
    with Twin.open(resurveyed) as twin:
        twin.import_survey(cut, kind="ndvi", on=date.fromisoformat(LATER), author="drone.team")
        ev = project_evidence(twin, LAGGING, on=LATER)
        assert ev.survey_date == date.fromisoformat(T10) and ev.flag, ev
        # Between the lawns' planned start (09-01) and the T-30 flight only partial flights.
        twin.import_survey(corner, kind="ndvi", on=date(2026, 9, 15), author="drone.team")
        holes[:, :, :100] = 0.8  # another file: the same one is refused twice
        twin.import_survey(write(tmp_path / "cut2.tif", holes, nodata=-9999.0, origin=(623_200, 3_453_050)),
                           kind="ndvi", on=date(2026, 9, 20), author="drone.team")  # fmt: skip
        cut_again = next(s for s in twin.surveys(kind="ndvi") if s.date == date(2026, 9, 20))
        early = project_evidence(twin, LAGGING, on="2026-09-20")
        assert early.estimate is None and early.survey == cut_again.id and not early.flag
        assert re.fullmatch(
            rf"survey {cut_again.id} covers \d+ % of the footprint \(at least 50 % needed\), "
            r"and no other ndvi survey flown since its planned start covers enough",
            early.reason or "",
        ), early.reason
        assert early.reason_code == "too_little_coverage_no_other" and early.reason_values["kind"] == "ndvi"
        assert reason_text("zh", early).endswith("，开工以来也没有其他植被指数（NDVI）航测覆盖足够的范围")


def test_a_survey_too_coarse_for_a_footprint_does_not_speak_to_it(resurveyed: Path, tmp_path: Path) -> None:
    """A 4 × 4 px NDVI over the whole venue (300 m pixels) is a survey like any other, but a lawn is
    a pixel or two of it: it was measured (0 % green, its pixels mostly the surroundings) and the
    lawns' projects flagged. A footprint holding fewer than MIN_PIXELS of a survey's pixels is
    measured on a finer one, and, named, the coarse one says why it gives no estimate."""
    bare = np.full((1, 4, 4), 0.1, np.float32)
    raster = tmp_path / "coarse.tif"
    with rasterio.open(
        raster, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:4549",
        transform=from_origin(622_900, 3_453_300, 300.0, 300.0), nodata=-9999.0,
    ) as out:  # fmt: skip
        out.write(bare)
    with Twin.open(resurveyed) as twin:
        twin.import_survey(raster, kind="ndvi", on=date.fromisoformat(LATER), author="drone.team")
        coarse = next(s for s in twin.surveys(kind="ndvi") if s.date.isoformat() == LATER)
        items = {e.code: e for e in all_evidence(twin, LATER)}
        for code in ("LS-01", "LS-15", LAGGING):
            assert items[code].survey_date == date.fromisoformat(T10), items[code]
        assert [c for c, e in items.items() if e.flag] == [LAGGING]
        named = project_evidence(twin, LAGGING, coarse.id, on=LATER)
        assert named.estimate is None and not named.flag
        assert re.fullmatch(
            rf"survey {coarse.id}'s pixels \(3\d\d m\) are too coarse for the footprint \([\d,]+ m², "
            r"[\d.]+ of its pixels; at least 16 needed\)",
            named.reason or "",
        ), named.reason
        assert named.reason_code == "too_coarse" and named.reason_values["survey"] == coarse.id
        zh = reason_text("zh", named)
        assert zh.startswith(f"航测影像 {coarse.id} 的像素（3") and zh.endswith("至少需要 16 个）来说太粗"), zh


# ---------------------------------------------------------------------------- API and CLI
@pytest.fixture(scope="module")
def api(surveyed: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(store=surveyed))) as c:
        yield c


def test_api_evidence_and_flags(api: TestClient, surveyed: Path) -> None:
    r = api.get(f"/projects/{LAGGING}/evidence", params={"date": T10})
    assert r.status_code == 200, r.text
    ev = r.json()["evidence"]
    assert ev["flag"] is True and ev["survey_kind"] == "ndvi" and ev["survey_date"] == T10
    assert ev["message"].startswith(f"reported 100 % on {ev['compared_report_date'][5:]}, imagery shows")
    agree = api.get("/projects/LS-01/evidence", params={"date": T10}).json()["evidence"]
    assert agree["flag"] is False and agree["estimate_percent"] >= 90
    batch = api.get("/evidence", params={"date": T10, "flagged": "true"}).json()
    assert [e["code"] for e in batch["evidence"]] == [LAGGING]
    # The flag on the status: the project's page, the project list and the late list.
    page = api.get(f"/projects/{LAGGING}", params={"date": T10}).json()["project"]
    assert page["status"] == "done" and page["evidence_flag"] == ev["message"]
    late = api.get("/completion/late", params={"date": T10}).json()["late"]
    assert [x["code"] for x in late if x["evidence_flag"]] == [LAGGING]
    listed = {p["code"]: p for p in api.get("/projects", params={"date": T10}).json()["projects"]}
    assert listed["LS-01"]["evidence_flag"] is None and listed[LAGGING]["evidence_flag"]
    # The completion map's late list marks it, and its popups carry the message.
    html = api.get("/maps/completion", params={"date": T10, "lang": "en"}, headers={"Accept": "text/html"}).text
    assert f'data-evidence-flag="{LAGGING}"' in html and html.count("data-evidence-flag=") == 1
    assert ev["message"] in html
    # A named survey: of the wrong kind for a lawn, unknown, or flown after the date.
    with Twin.open(surveyed) as twin:
        ortho = next(s for s in twin.surveys(kind="orthophoto") if s.date.isoformat() == T10)
    r = api.get(f"/projects/{LAGGING}/evidence", params={"date": T10, "survey": ortho.id})
    assert r.status_code == 400 and "needs ndvi" in r.text
    assert (
        api.get(f"/projects/{LAGGING}/evidence", params={"survey": "0123456789abcdef", "date": T10}).status_code == 404
    )
    r = api.get(f"/projects/{LAGGING}/evidence", params={"date": T30, "survey": ortho.id})
    assert r.status_code == 400 and "after the date" in r.text
    assert api.get(f"/projects/{LAGGING}/evidence", params={"date": "26 Oct"}).status_code == 400
    assert api.get("/projects/XX-99/evidence", params={"date": T10}).status_code == 404


def test_evidence_before_the_history_says_when_it_starts(api: TestClient) -> None:
    """As every as-of read: a date before the twin's first commit is 404 naming when the history
    starts, not an empty list that reads as "the imagery disagrees with nothing"."""
    for path in ("/evidence", f"/projects/{LAGGING}/evidence"):
        r = api.get(path, params={"date": "2020-01-01"})
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "no_data_then" and "history starts on" in r.json()["detail"]


def test_flag_worded_in_each_language() -> None:
    """A flag's figures say the same in the API's English message and in the page's Chinese, naming
    the report the imagery is set against (the flight day's) by its date and figure."""
    cases = [
        ((100, 49.2, "green_cover", date(2026, 10, 6), 49.2, 100.0),
         "reported 100 % on 10-06, imagery shows 49 % green cover on 10-06", "10-06 填报 100%，10-06 航测影像显示绿化覆盖 49%"),
        ((100, 75, "finished_surface", date(2026, 10, 26), 75, 100.0),
         "reported 100 % on 10-26, imagery shows 75 % finished surface on 10-26", "10-26 填报 100%，10-26 航测影像显示完工铺面 75%"),
        ((100, 12, "roof_change", date(2026, 10, 26), 92.3, 13.0),
         "reported 100 % on 10-26, imagery shows 12 % new roof membrane on 10-26 (about 92 % of the planned 13 %)",
         "10-26 填报 100%，10-26 航测影像显示新屋面防水层 12%（约合计划覆盖 13% 的 92%）"),
    ]  # fmt: skip
    for (reported, measure, method, flown, estimate, share), en, zh in cases:
        ev = Evidence("X-1", "landscaping", flown, reported, method, survey_date=flown, measure=measure,
                      estimate=estimate, planned_share=share, flag=True, report_date=flown, compared=reported,
                      compared_date=flown)  # fmt: skip
        ev.message = flag_message(ev)
        assert ev.message == en
        assert i18n.evidence_flag("en", ev) == en and i18n.evidence_flag("zh", ev) == zh
    assert (
        i18n.evidence_flag("zh", None) == "" and i18n.evidence_flag("zh", Evidence("X-1", "x", flown, 50, None)) == ""
    )


def test_chinese_pages_say_the_flag_in_chinese(api: TestClient) -> None:
    """The completion map's late list and popups and the printed briefing, in Chinese, give the
    imagery's flag in Chinese (the API's English message appeared as it was on the Chinese pages)."""
    ev = api.get(f"/projects/{LAGGING}/evidence", params={"date": T10}).json()["evidence"]
    m = re.fullmatch(
        r"reported (\d+) % on (\d\d-\d\d), imagery shows (\d+) % green cover on (\d\d-\d\d)", ev["message"]
    )
    assert m, ev["message"]
    zh = f"{m[2]} 填报 {m[1]}%，{m[4]} 航测影像显示绿化覆盖 {m[3]}%"
    html = api.get("/maps/completion", params={"date": T10, "lang": "zh"}, headers={"Accept": "text/html"}).text
    assert f'data-evidence-flag="{LAGGING}"' in html and zh in html and "imagery shows" not in html
    pdf = api.get("/brief", params={"date": T10, "lang": "zh", "f": "pdf"})
    assert pdf.status_code == 200, pdf.text
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "航测影像显示" in re.sub(r"\s", "", text), text


def test_a_reason_is_said_in_each_language_on_the_evidence_page(api: TestClient) -> None:
    """The evidence page gave why the imagery cannot measure a project only as an English tooltip,
    and on the Chinese page one generic sentence. Each reason now carries its code and values (the
    JSON's reason_code and reason_values beside the unchanged English reason), and the page lists
    the projects without an estimate under their reason, worded in the page's language: on 09-20 no
    NDVI flight since the lawns' start covers LS-04."""
    day = "2026-09-20"
    start = api.get(f"/projects/{LAGGING}", params={"date": day}).json()["project"]["planned_start"]
    ev = api.get(f"/projects/{LAGGING}/evidence", params={"date": day}).json()["evidence"]
    english = f"no ndvi survey flown between its planned start {start} and {day}"
    assert ev["estimate_percent"] is None and ev["reason"] == english
    assert ev["reason_code"] == "no_survey"
    assert ev["reason_values"] == {"kind": "ndvi", "start": start, "on": day}
    every = api.get("/evidence", params={"date": day}).json()["evidence"]
    assert all("reason_code" in e and (e["reason_code"] is None) == (e["reason"] is None) for e in every)
    assert {e["code"]: e["reason_code"] for e in every}["HL-03"] == "interior_work"

    def reasons(lang: str) -> dict[str, tuple[str, str]]:  # project code -> (its reason's code, the words shown)
        page = api.get("/evidence", params={"f": "html", "date": day, "lang": lang}).text
        out = {}
        for code, why, links in re.findall(r'<li data-reason="(\w+)"[^>]*><span class="vt-why">([^<]*)</span>(.*?)</li>',
                                           page, re.S):  # fmt: skip
            for project in re.findall(r'data-project-link="([^"]+)"', links):
                out[project] = (code, why)
        assert f'data-unmeasured="{len(out)}"' in page and " title=" not in page.split("vt-unmeasured")[-1]
        return out

    zh, en = reasons("zh"), reasons("en")
    assert zh[LAGGING] == ("no_survey", f"自计划开工日 {start} 至 {day}，尚未开展植被指数（NDVI）航测")
    assert en[LAGGING] == ("no_survey", html_escape(english))
    assert zh["HL-03"] == ("interior_work", "室内工程从空中看不到")
    assert en["HL-03"] == ("interior_work", "interior work is not visible from above")
    assert zh["RD-12"][1] == "航测影像无法估算这类工程（交通设施）"  # the category by its Chinese label
    assert set(zh) == set(en) == {e["code"] for e in every if e["estimate_percent"] is None}
    # Every Chinese reason is Chinese: no English word of the API's sentence (NDVI is its name).
    for code, (_, why) in zh.items():
        assert re.search(r"[\u4e00-\u9fff]", why) and not re.search(r"[A-Za-z]{2,}", why.replace("NDVI", "")), (
            code,
            why,
        )


def test_every_reason_code_is_worded_as_the_api_says_it(surveyed: Path) -> None:
    """Each reason's code has its words in both languages (i18n "evidence_reason_<code>"), taking the
    values the code names; in English they are the API's sentence word for word."""
    from completion.evidence import REASON_CODES, Reason
    from twin.model import LayerSchema

    for code, names in REASON_CODES.items():
        for lang in ("zh", "en"):
            assert i18n.has_label(f"evidence_reason_{code}")
            i18n.label(lang, f"evidence_reason_{code}", **dict.fromkeys(names, "x"))  # no value it lacks
    with pytest.raises(ValueError, match="takes the values"):
        Reason.of("no_survey", "no ndvi survey", kind="ndvi")
    with Twin.open(surveyed) as twin:
        schema = twin.layer("projects")
        assert isinstance(schema, LayerSchema)
        items = all_evidence(twin, T30)
    said = [e for e in items if e.reason is not None]
    assert said and all(e.reason_code in REASON_CODES for e in said)
    for e in said:
        assert reason_text("en", e, schema) == e.reason, e
    assert reason_text("zh", next(e for e in said if e.reason_code == "not_started"), schema).startswith(
        "尚未开工（计划 "
    )


def test_cli_evidence(surveyed: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evidence", LAGGING, "--date", T10, "--json", "--store", str(surveyed)])
    assert r.exit_code == 0, r.output
    (ev,) = orjson.loads(r.output)["evidence"]
    assert ev["flag"] is True and ev["code"] == LAGGING
    r = runner.invoke(app, ["evidence", "--date", T10, "--store", str(surveyed)])
    assert r.exit_code == 0, r.output
    flagged = [line for line in r.output.splitlines() if "⚑" in line]
    assert len(flagged) == 1 and LAGGING in flagged[0]
    assert "1 flagged: LS-04" in r.output
    r = runner.invoke(app, ["completion", "late", "--date", T10, "--store", str(surveyed)])
    assert r.exit_code == 0 and any(LAGGING in line and "⚑" in line for line in r.output.splitlines())
    r = runner.invoke(
        app, ["evidence", LAGGING, "--survey", "0123456789abcdef", "--date", T10, "--store", str(surveyed)]
    )
    assert r.exit_code == 2 and "0123456789abcdef" in r.output
    r = runner.invoke(app, ["evidence", "--survey", "0123456789abcdef", "--store", str(surveyed)])
    assert r.exit_code == 2 and "needs a project CODE" in r.output


def test_a_footprint_measured_on_a_flight_is_measured_once(resurveyed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The timeline's steps and the maps of other dates measured every footprint again on the same
    # flights (about 4 s a date). The figures are kept by file, footprint and threshold: a date
    # after another on the same flights reads them, a threshold or a file changed measures anew.
    from completion import evidence

    with Twin.open(resurveyed) as twin:
        evidence._MEASURES.clear()
        first = all_evidence(twin, T10)
        kept = len(evidence._MEASURES)
        assert kept >= 10
        again = all_evidence(twin, T10)
        later = all_evidence(twin, "2026-10-30")  # no flight between: the same flights, nothing new
        assert len(evidence._MEASURES) == kept
        assert [(e.code, e.estimate, e.coverage, e.flag) for e in again] == [
            (e.code, e.estimate, e.coverage, e.flag) for e in first
        ]
        assert {e.code: e.estimate for e in later} == {e.code: e.estimate for e in first}
        # another threshold: the NDVI footprints measured anew, and their figures are its own
        monkeypatch.setenv("VENUE_TWIN_EVIDENCE_NDVI_THRESHOLD", "0.7")
        stricter = {e.code: e for e in all_evidence(twin, T10)}
        assert len(evidence._MEASURES) > kept
        green = [e for e in first if e.method == "green_cover" and e.estimate is not None]
        assert green and all(stricter[e.code].estimate <= e.estimate for e in green)  # type: ignore[operator]
        assert any(stricter[e.code].estimate < e.estimate for e in green)  # type: ignore[operator]
        monkeypatch.delenv("VENUE_TWIN_EVIDENCE_NDVI_THRESHOLD")
        # a flight's file written again (another size or time): measured anew
        grown = len(evidence._MEASURES)
        ortho = next(s for s in twin.surveys() if s.kind == "orthophoto" and s.date.isoformat() == T10)
        path = twin.survey_path(ortho)
        st = path.stat()
        import os

        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert [(e.code, e.estimate) for e in all_evidence(twin, T10)] == [(e.code, e.estimate) for e in first]
        assert len(evidence._MEASURES) > grown
