"""What a survey import refuses and what it says (a new user's findings): too many pixels in a small
file, kinds the evidence does not read, a survey removed and imported again, NDVI values on another
scale, survey records edited outside the importer, the CRS a list shows. The rasters are real
GeoTIFFs written with rasterio; a refusal leaves the twin and the survey directory exactly as they were.
"""

from __future__ import annotations

import os
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window
from survey_rasters import VENUE, damaged_inside, files_in, write_geotiff
from typer.testing import CliRunner

from cli.main import app
from twin import BadInput, Change, Feature, Twin, ValidationFailed
from twin.surveys import KIND_SHAPES, SURVEY_LAYER, kind_warning, remove_survey, short_crs

TWIN_STORES = ("gpkg", "postgis")
runner = CliRunner()


def sparse_huge(path: Path, side: int = 100_000) -> Path:
    """A side×side RGB GeoTIFF over the venue with one block written: under 1 MB on disk."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True).transform(*VENUE)
    res = 1000 / side  # 1 km across
    profile = dict(
        driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs="EPSG:4549",
        transform=from_origin(x - 500, y + 500, res, res), tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", sparse_ok=True, BIGTIFF="YES",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as d:
        d.write(np.full((3, 512, 512), 80, np.uint8), window=Window(0, 0, 512, 512))
    return path


# ---------------------------------------------------------------------------- 1. pixels
def test_a_small_file_of_too_many_pixels_is_refused_before_any_conversion(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    src = sparse_huge(tmp_path / "huge.tif")
    assert src.stat().st_size < 2_000_000
    started = time.monotonic()
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 1), author="a")
    assert time.monotonic() - started < 10  # the conversion took minutes and 2 GB
    text = str(e.value)
    assert text.startswith("huge.tif: 100,000 × 100,000 = 10,000,000,000 pixels is over the survey limit of ")
    assert "6,000,000,000 pixels (VENUE_TWIN_SURVEY_MAX_PIXELS)" in text
    # A pixel size that fits: 1 km over at most 6e9 pixels, sqrt(6e9) = 77,460 a side.
    tr = text.split("gdal_translate -tr ")[1].split()
    assert 1000 / 77_460 <= float(tr[0]) < 1000 / 75_000 and "-outsize 76% 76%" in text
    assert twin.head() is None and files_in(survey_dir) == []


def test_the_pixel_limit_is_a_setting_and_the_cli_exits_2(
    tmp_path: Path, survey_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "venue.gpkg"
    assert runner.invoke(app, ["init", "--no-surveys", "--store", str(store)]).exit_code == 0
    src = write_geotiff(tmp_path / "ortho.tif", size=512)
    monkeypatch.setenv("VENUE_TWIN_SURVEY_MAX_PIXELS", str(512 * 512 - 1))
    with Twin.open(store) as t:
        head = t.head()
    args = ["raster", "import", str(src), "--survey", "orthophoto", "--date", "2026-10-20", "-s", str(store)]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "262,144 pixels is over the survey limit of 262,143" in r.stderr, r.stderr
    with Twin.open(store) as t:
        assert t.head() == head
    assert files_in(survey_dir) == []
    monkeypatch.setenv("VENUE_TWIN_SURVEY_MAX_PIXELS", str(512 * 512))
    assert runner.invoke(app, args).exit_code == 0


def test_no_temporary_survives_a_failed_conversion_and_stale_ones_are_cleared(
    twin: Twin, survey_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twin.surveys as surveys

    survey_dir.mkdir()
    stale, fresh = survey_dir / ".import-killed.tif", survey_dir / ".import-running.tif"
    stale.write_bytes(b"left by a killed import")
    fresh.write_bytes(b"another import, still running")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))

    def broken(path: Path) -> tuple[str, int]:
        raise OSError("disk full")

    monkeypatch.setattr(surveys, "_sha256", broken)
    with pytest.raises(OSError, match="disk full"):
        twin.import_survey(write_geotiff(tmp_path / "a.tif"), kind="orthophoto", on=date(2026, 9, 1), author="a")
    assert files_in(survey_dir) == [fresh.name] and twin.head() is None


def test_a_raster_that_only_touches_the_venue_is_refused_before_anything_is_committed(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    """A flight whose edge lies on the area of interest's edge shares no area with it: it was
    converted, then its footprint (a line) failed the record's validation after the first import had
    committed the survey layer, so the twin was changed by an import that said "nothing was committed"."""
    west, south, east, north = twin.area_of_interest.bounds
    src = tmp_path / "beside.tif"
    profile = dict(
        driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:4326",
        transform=from_origin(east, north, 0.0001, 0.0001),
    )  # fmt: skip
    with rasterio.open(src, "w", **profile) as d:
        d.write(np.full((3, 64, 64), 90, np.uint8))
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 1), author="a")
    text = str(e.value)
    assert text.startswith("beside.tif: covers (") and "only touches the venue's area of interest" in text
    assert twin.head() is None and files_in(survey_dir) == []


# ---------------------------------------------------------------------------- 2. kinds
def test_the_kinds_checked_are_the_kinds_the_evidence_reads() -> None:
    from completion.evidence import SURVEY_KIND

    assert set(KIND_SHAPES) == set(SURVEY_KIND.values())
    assert kind_warning("ndvi") is None and kind_warning("orthophoto") is None
    assert "'thermal' is not one the evidence reads (ndvi, orthophoto)" in (kind_warning("thermal") or "")


def test_a_raster_recorded_already_says_as_what_and_how_to_remove_it(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    src = write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32")
    made = twin.import_survey(src, kind="thermal", on=date(2026, 9, 1), author="a")
    [info] = twin.surveys()
    head, files = twin.head(), files_in(survey_dir)
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 2), author="a")
    assert str(e.value) == (
        f"n.tif: this raster is already recorded as survey {info.id}: thermal flown 2026-09-01 (layer surveys, "
        f"commit {made.id[:12]}); to record it otherwise, remove that survey first (venue-twin raster remove "
        f"{info.id}, or DELETE /surveys/{info.id}) and import it again"
    )
    assert twin.head() == head and files_in(survey_dir) == files


# ---------------------------------------------------------------------------- 3. remove, import again
def test_a_survey_removed_and_imported_again_names_its_new_commit(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32")
    first = twin.import_survey(src, kind="thermal", on=date(2026, 9, 1), author="a")
    [old] = twin.surveys()
    removed = remove_survey(twin, old.id, author="a")
    assert removed.counts == {SURVEY_LAYER: {"added": 0, "modified": 0, "deleted": 1}}
    assert twin.surveys() == [] and twin.survey_path(old).exists()  # earlier versions still read it
    again = twin.import_survey(src, kind="ndvi", on=date(2026, 9, 2), author="a")
    [new] = twin.surveys()
    assert (new.id, new.kind, new.commit) == (old.id, "ndvi", again.id)
    # As of the first import, the survey is the first record, made by the first commit.
    [then] = twin.surveys(twin.resolve(first.id))
    assert (then.kind, then.commit) == ("thermal", first.id)
    assert twin.fsck() == []


def surveys_listed(store: Path) -> list[dict]:
    return [
        orjson.loads(line)
        for line in runner.invoke(app, ["raster", "list", "--json", "-s", str(store)]).stdout.splitlines()
    ]


@pytest.mark.gpkg_only
def test_the_cli_removes_a_survey_and_imports_it_again(tmp_path: Path, survey_dir: Path) -> None:
    store = tmp_path / "venue.gpkg"
    assert runner.invoke(app, ["init", "--no-surveys", "--store", str(store)]).exit_code == 0
    src = write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32")
    imp = ["raster", "import", str(src), "--date", "2026-10-20", "-s", str(store), "--survey"]
    r = runner.invoke(app, [*imp, "thermal"])
    assert r.exit_code == 0 and "warning: survey kind 'thermal' is not one the evidence reads" in r.stderr
    [listed] = surveys_listed(store)
    r = runner.invoke(app, ["raster", "remove", listed["id"], "-s", str(store)])
    assert r.exit_code == 0 and f"removed survey {listed['id']}" in r.stdout
    r = runner.invoke(app, [*imp, "ndvi"])
    assert r.exit_code == 0, r.stderr  # was a StopIteration traceback, exit 1
    assert "warning" not in r.stderr
    [again] = surveys_listed(store)
    with Twin.open(store) as t:
        assert again["kind"] == "ndvi" and again["commit"] == t.head().id != listed["commit"]  # type: ignore[union-attr]
    r = runner.invoke(app, ["raster", "remove", "0123456789abcdef", "-s", str(store)])
    assert r.exit_code == 2 and "no survey" in r.stderr


# ---------------------------------------------------------------------------- 4. NDVI values
def _scaled_ndvi(p: Path, value: float) -> Path:
    write_geotiff(p, bands=1, dtype="float32", nodata=-9999.0)
    with rasterio.open(p, "r+") as d:
        a = np.full((1, d.height, d.width), value, np.float32)
        a[:, :10, :] = -9999.0  # nodata is not a value
        d.write(a)
    return p


@pytest.mark.parametrize(
    ("value", "formula"), [(150.0, "(A - 100) / 100"), (8500.0, "A / 10000"), (1.5, "(A - 100) / 100")]
)
def test_an_ndvi_on_another_scale_is_refused_naming_its_range(
    twin: Twin, survey_dir: Path, tmp_path: Path, value: float, formula: str
) -> None:
    src = _scaled_ndvi(tmp_path / "scaled.tif", value)
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    assert f"scaled.tif: its valid values range from {value:g} to {value:g}" in str(e.value)
    assert "from -1 to 1" in str(e.value) and f'--calc="{formula}"' in str(e.value)
    assert twin.head() is None and files_in(survey_dir) == []
    # Another kind takes it; an index within -1..1 (nodata and NaN aside) is an ndvi.
    twin.import_survey(src, kind="thermal", on=date(2026, 9, 1), author="a")
    twin.import_survey(_scaled_ndvi(tmp_path / "ok.tif", -1.0), kind="ndvi", on=date(2026, 9, 1), author="a")


@pytest.mark.parametrize(
    ("dtype", "low", "high", "formula"), [("int16", -2000, 9000, "A / 10000"), ("uint8", 80, 190, "(A - 100) / 100")]
)
def test_an_ndvi_stored_as_integers_is_told_how_to_rescale_it(
    twin: Twin, survey_dir: Path, tmp_path: Path, dtype: str, low: int, high: int, formula: str
) -> None:
    """An NDVI × 10,000 in int16 (or × 100 + 100 in 8 bits), as processing software often writes
    it, was refused only as "1 band(s) of int16 cannot be a survey of kind ndvi": the float one on
    the same scale is told the gdal_calc.py that rescales it, and so is this one now."""
    src = write_geotiff(tmp_path / "ndvi.tif", bands=1, dtype="uint8")
    with rasterio.open(src) as d:
        profile = d.profile | {"dtype": dtype}
    ramp = np.linspace(low, high, 512)[None, None, :] + np.zeros((1, 512, 512))
    with rasterio.open(src, "w", **profile) as d:
        d.write(ramp.astype(dtype))
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    text = str(e.value)
    assert text.startswith(
        f"ndvi.tif: 1 band(s) of {dtype} cannot be a survey of kind ndvi: an ndvi survey is one band "
    ), text
    assert f"; its valid values range from {low:g} to {high:g} (a sample of its blocks): if it is NDVI " in text
    assert f'--calc="{formula}" --type=Float32' in text
    assert twin.head() is None and files_in(survey_dir) == []
    with rasterio.open(src, "w", **profile) as d:  # integers that are no scale at all: the shape refuses
        d.write(np.zeros((1, 512, 512), dtype))
    with pytest.raises(BadInput, match=f"1 band\\(s\\) of {dtype} cannot be a survey of kind ndvi"):
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    assert twin.head() is None and files_in(survey_dir) == []


def test_a_damaged_ndvi_is_refused_not_a_traceback(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    """The sample of blocks an NDVI's values are judged on met a damaged block: rasterio's
    "Read failed" escaped as a traceback (exit 1) instead of a refusal naming the file."""
    src = damaged_inside(tmp_path / "ndvi.tif", bands=1, dtype="float32")
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    assert str(e.value).startswith("ndvi.tif: a block of its bands cannot be read, is the file truncated or corrupt? (")
    assert "previous exception" not in str(e.value)
    assert twin.head() is None and files_in(survey_dir) == []


def test_an_ndvi_whose_fill_is_not_declared_nodata_is_told_to_declare_it(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    """Index values with -9999 outside the flight and no nodata declared: the advice was to divide by
    10,000 ("if it is NDVI × 10,000"), which would make the index values 0.0001 of themselves."""
    src = write_geotiff(tmp_path / "ndvi.tif", bands=1, dtype="float32")
    with rasterio.open(src, "r+") as d:
        a = d.read()
        a[:, :, :100] = -9999.0
        d.write(a)
    with pytest.raises(BadInput) as e:
        twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    text = str(e.value)
    assert text.startswith("ndvi.tif: its values are index values from -1 to 1 but for -9999, "), text
    assert "gdal_edit.py -a_nodata -9999 ndvi.tif" in text and "gdal_calc" not in text
    assert twin.head() is None and files_in(survey_dir) == []
    with rasterio.open(src, "r+") as d:  # as the message says
        d.nodata = -9999.0
    twin.import_survey(src, kind="ndvi", on=date(2026, 9, 1), author="a")
    assert twin.surveys()[0].nodata == -9999.0


# ---------------------------------------------------------------------------- 5. records
def test_a_survey_record_is_written_only_by_the_importer(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    twin.import_survey(
        write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32"), kind="ndvi", on=date(2026, 9, 1), author="a"
    )
    [info] = twin.surveys()
    raw = orjson.loads(twin.feature(SURVEY_LAYER, info.id))
    head = twin.head()
    edited = Feature(info.id, None, {**raw["properties"], "kind": "orthophoto", "date": "2026-11-04"})
    from shapely.geometry import shape

    edited.geometry = shape(raw["geometry"])
    for op in ("modify", "upsert"):
        with pytest.raises(ValidationFailed) as e:
            twin.commit([Change(SURVEY_LAYER, op, info.id, edited)], author="b", message="retype")
        [p] = e.value.problems
        assert (p.layer, p.feature_id) == (SURVEY_LAYER, info.id)
        assert p.reason.startswith("a survey's record (kind, date, ")
        assert f"venue-twin raster remove {info.id}" in p.reason and "venue-twin raster import" in p.reason
    forged = Feature("f" * 16, edited.geometry, {**raw["properties"], "checksum": "f" * 64})
    with pytest.raises(ValidationFailed, match="recorded only by importing its raster"):
        twin.commit([Change(SURVEY_LAYER, "add", "f" * 16, forged)], author="b", message="forge")
    assert twin.head() == head and twin.surveys() == [info]
    # Removing a record leaves nothing that disagrees with a file: the generic delete is allowed.
    gone = twin.commit([Change(SURVEY_LAYER, "delete", info.id)], author="b", message="gone")
    assert twin.surveys() == []
    with pytest.raises(ValidationFailed, match="recorded only by importing its raster"):
        twin.revert(gone.id, author="b")  # a record comes back by importing its file again


def _twin_with_an_ndvi_survey(tmp_path: Path) -> Path:
    """The bundled twin (no demo surveys) and one NDVI survey imported by the CLI, in `tmp_path`."""
    store = tmp_path / "venue.gpkg"
    assert runner.invoke(app, ["init", "--no-surveys", "--store", str(store)]).exit_code == 0
    src = write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32")
    r = runner.invoke(app, ["raster", "import", str(src), "--survey", "ndvi", "--date", "2026-10-20", "-s", str(store)])
    assert r.exit_code == 0, r.stderr
    return store


@pytest.mark.gpkg_only
def test_a_layer_file_imported_into_the_survey_layer_is_refused(tmp_path: Path, survey_dir: Path) -> None:
    store = _twin_with_an_ndvi_survey(tmp_path)
    out = tmp_path / "s.geojson"
    assert runner.invoke(app, ["export", "surveys", "-o", str(out), "-s", str(store)]).exit_code == 0
    with Twin.open(store) as t:
        head = t.head()
    # The export brought back unedited changes nothing: "nothing to commit", not refused.
    r = runner.invoke(app, ["import", str(out), "--layer", "surveys", "-s", str(store)])
    assert r.exit_code == 0 and "nothing to commit" in r.output + r.stderr, (r.output, r.stderr)
    out.write_text(out.read_text().replace('"ndvi"', '"orthophoto"'))
    r = runner.invoke(app, ["import", str(out), "--layer", "surveys", "-s", str(store)])
    assert r.exit_code == 2 and "written only by the survey importer" in r.stderr, r.stderr
    with Twin.open(store) as t:
        assert t.head() == head


@pytest.mark.gpkg_only
@pytest.mark.parametrize("crs", ["EPSG:4549", "EPSG:3857"])
def test_a_survey_layer_exported_in_a_projected_crs_imports_back_as_nothing_to_commit(
    tmp_path: Path, survey_dir: Path, crs: str
) -> None:
    """A footprint is reprojected from the raster's CRS, so it is stored as every reprojected
    coordinate is (rounded to 1e-12°): the layer exported in EPSG:4549 or 3857 and imported back
    unedited is "nothing to commit", not a change to a record only the importer writes."""
    store = _twin_with_an_ndvi_survey(tmp_path)
    out = tmp_path / "s.gpkg"
    r = runner.invoke(app, ["export", "surveys", "-o", str(out), "--crs", crs, "-s", str(store)])
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["import", str(out), "--layer", "surveys", "-s", str(store)])
    assert r.exit_code == 0 and "nothing to commit" in r.output + r.stderr, (r.output, r.stderr)


# ---------------------------------------------------------------------------- 6. smaller
def test_an_rgba_import_warns_nothing(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "rgba.tif", bands=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # rio-cogeo's "Non-standard compression schema: webp"
        twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 1), author="a")
    assert twin.surveys()[0].band_count == 4


def test_a_fourth_band_that_is_not_alpha_is_kept_and_does_not_hide_the_colours(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    """An RGB + near-infrared orthophoto (4 bands of 8 bits, the fourth not alpha) was stored as
    WEBP, which takes a fourth band as alpha: where the infrared was 0 the colours were stored black
    and marked valid, so they read as fresh asphalt to the evidence and black on the map."""
    from rasterio.enums import ColorInterp

    src = write_geotiff(tmp_path / "rgbn.tif", bands=4)
    with rasterio.open(src, "r+") as d:
        d.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
        a = d.read()
        a[3, :, : d.width // 2] = 0  # no infrared over the west half
        d.write(a)
    twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 1), author="a")
    [info] = twin.surveys()
    assert info.band_count == 4 and info.band_descriptions == ("red", "green", "blue", "band 4")
    with rasterio.open(twin.survey_path(info)) as cog:
        rgb = cog.read((1, 2, 3), masked=True)
        west = rgb[:, cog.height // 4 : 3 * cog.height // 4, cog.width // 8 : cog.width // 3]
        assert cog.colorinterp[3] != ColorInterp.alpha
        assert west.count() == west.size and 100 < float(west.mean()) < 160  # the texture, 20-236
        assert float(cog.read(4)[cog.height // 2, cog.width // 4]) == 0  # the infrared kept as given


def test_a_custom_crs_is_listed_by_name_not_by_its_whole_wkt(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    local = "+proj=tmerc +lat_0=31.2 +lon_0=121.3 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    twin.import_survey(write_geotiff(tmp_path / "l.tif", crs=local), kind="orthophoto", on=date(2026, 9, 1), author="a")
    [info] = twin.surveys()
    assert info.source_crs and len(info.source_crs) > 200  # the whole WKT stays recorded
    assert short_crs(info.source_crs) == "custom Transverse Mercator"
    assert short_crs("EPSG:4549") == "EPSG:4549" and short_crs(None) == "?"
