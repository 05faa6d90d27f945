"""Survey rasters in the twin: import to COG, one commit per survey, as-of reads, diff, fsck, refusals.

Runs on the GeoPackage and the PostGIS store. The rasters are real GeoTIFFs written with rasterio
(tests/survey_rasters.py); expected values come from rasterio, pyproj and hashlib, not from the code
under test.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import rasterio
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_validate
from survey_rasters import VENUE, damaged_inside, files_in, jpeg_named_tif, write_geotiff
from typer.testing import CliRunner

from cli.main import app
from twin import BadInput, NotFound, Twin
from twin.surveys import SURVEY_LAYER

TWIN_STORES = ("gpkg", "postgis")
runner = CliRunner()


def test_an_import_is_one_commit_recording_a_cog_and_its_metadata(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "ortho.tif", crs="EPSG:4549", res=0.3)
    before = twin.commit_count()
    made = twin.import_survey(src, kind="orthophoto", on=date(2026, 10, 20), author="drone.team")
    # One commit creates the survey layer (the first import), one records the survey.
    assert twin.commit_count() == before + 2
    assert made.author == "drone.team" and made.counts == {SURVEY_LAYER: {"added": 1, "modified": 0, "deleted": 0}}
    [info] = twin.surveys()
    path = twin.survey_path(info)
    assert path.parent == survey_dir and files_in(survey_dir) == [path.name]
    assert info.checksum == hashlib.sha256(path.read_bytes()).hexdigest() and info.checksum[:12] in made.message
    assert info.id == info.checksum[:16] and info.commit == made.id
    assert info.size_bytes == path.stat().st_size
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(src) as s, rasterio.open(path) as cog:
        # Warped once to Web Mercator at the source's pixel size; the same ground covered.
        assert cog.crs.to_epsg() == 3857 and cog.count == 3 and cog.dtypes[0] == "uint8"
        assert (cog.width, cog.height) == (info.width, info.height)
        assert abs(cog.width - 512) < 12 and abs(cog.height - 512) < 12
        src_box = transform_bounds(s.crs, "EPSG:4326", *s.bounds)
        assert transform_bounds(cog.crs, "EPSG:4326", *cog.bounds) == pytest.approx(src_box, abs=2e-5)
        assert 0.95 < (cog.dataset_mask() > 0).mean() < 1  # outside the flight's edges is masked
    assert (info.kind, info.date, info.crs, info.source_crs, info.band_count, info.dtype) == (
        "orthophoto", date(2026, 10, 20), "EPSG:3857", "EPSG:4549", 3, "uint8",
    )  # fmt: skip
    assert info.resolution == pytest.approx(0.3)
    w, s_, e, n = info.bounds
    assert w < VENUE[0] < e and s_ < VENUE[1] < n and e - w < 0.003
    assert twin.survey(info.id) == info
    assert twin.fsck() == []


def test_a_new_flight_is_a_new_version_and_older_ones_stay_readable(
    twin: Twin, survey_dir: Path, tmp_path: Path
) -> None:
    first = twin.import_survey(
        write_geotiff(tmp_path / "a.tif", crs="EPSG:3857", res=0.5),
        kind="orthophoto", on=date(2026, 9, 1), author="a", message="September flight",
    )  # fmt: skip
    ndvi_src = write_geotiff(
        tmp_path / "ndvi.tif", crs="EPSG:4490", res=0.000005, bands=1, dtype="float32", nodata=-9999
    )
    second = twin.import_survey(ndvi_src, kind="ndvi", on=date(2026, 10, 10), author="b")
    third = twin.import_survey(
        write_geotiff(tmp_path / "b.tif", crs="EPSG:4326", res=0.000005, seed=2),
        kind="orthophoto", on=date(2026, 10, 20), author="a",
    )  # fmt: skip
    assert first.message == "September flight"
    now = twin.surveys()
    assert [(s.kind, s.date) for s in now] == [
        ("orthophoto", date(2026, 9, 1)), ("ndvi", date(2026, 10, 10)), ("orthophoto", date(2026, 10, 20)),
    ]  # fmt: skip
    assert [s.date for s in twin.surveys(kind="orthophoto")] == [date(2026, 9, 1), date(2026, 10, 20)]
    ndvi = twin.survey(now[1].id)
    assert (ndvi.band_count, ndvi.dtype, ndvi.nodata, ndvi.source_crs) == (1, "float32", -9999.0, "EPSG:4490")
    assert ndvi.resolution == pytest.approx(0.5, rel=0.1)  # 0.000005° is about half a metre
    with rasterio.open(twin.survey_path(ndvi)) as cog, rasterio.open(ndvi_src) as s:
        # Index bands are stored losslessly and resampled nearest: every value is one that was flown.
        stored = cog.read(1)
        assert cog.nodata == -9999 and (stored == -9999).mean() < 0.1
        assert np.isin(stored[stored != -9999], s.read(1)).all()
    # As of the first commit only the first survey existed; a survey recorded later is not found then.
    then = twin.resolve(first.id)
    assert [s.commit for s in twin.surveys(then)] == [first.id]
    with pytest.raises(NotFound):
        twin.survey(now[2].id, then)
    # The diff between the versions lists the surveys added, with their metadata.
    added = twin.diff(then, twin.resolve(third.id), [SURVEY_LAYER])
    assert [(d.layer, d.kind) for d in added] == [(SURVEY_LAYER, "added")] * 2
    props = {d.feature_id: orjson.loads(d.after or b"{}")["properties"] for d in added}
    assert props[ndvi.id]["kind"] == "ndvi" and props[now[2].id]["checksum"] == now[2].checksum
    assert [c.id for c in twin.log(3)] == [third.id, second.id, first.id]
    assert len(files_in(survey_dir)) == 3 and twin.fsck() == []


def test_fsck_reports_a_modified_or_missing_survey_file(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    twin.import_survey(write_geotiff(tmp_path / "a.tif"), kind="orthophoto", on=date(2026, 9, 1), author="a")
    twin.import_survey(write_geotiff(tmp_path / "b.tif", seed=3), kind="orthophoto", on=date(2026, 9, 2), author="a")
    a, b = twin.surveys()
    with twin.survey_path(a).open("r+b") as f:  # one byte changed in place, size unchanged
        f.seek(2000)
        byte = f.read(1)
        f.seek(2000)
        f.write(bytes([byte[0] ^ 0xFF]))
    twin.survey_path(b).unlink()
    problems = twin.fsck()
    assert len(problems) == 2
    assert [p for p in problems if a.id in p and "modified" in p]
    assert [p for p in problems if b.id in p and "missing" in p]


def _truncated(p: Path) -> Path:
    write_geotiff(p, size=1024)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _metres_labelled_degrees(p: Path) -> Path:
    """A raster in EPSG:4549 (metres) whose CRS says EPSG:4490 (CGCS2000 lon/lat, degrees)."""
    write_geotiff(p, crs="EPSG:4549")
    with rasterio.open(p, "r+") as d:
        d.crs = rasterio.crs.CRS.from_epsg(4490)
    return p


def _geotransform_only(p: Path) -> Path:
    """A raster placed by a geotransform in EPSG:4549 metres, with no CRS recorded."""
    write_geotiff(p, crs="EPSG:4549")
    with rasterio.open(p) as d:
        profile, data = d.profile, d.read()
    del profile["crs"]
    with rasterio.open(p, "w", **profile) as d:
        d.write(data)
    return p


REFUSALS = {
    "no CRS": (lambda p: write_geotiff(p, georeferenced=False), "not georeferenced"),
    "outside the venue": (lambda p: write_geotiff(p, centre=(121.45, 31.25)), "outside the venue"),
    "not a raster": (lambda p: (p.write_text("this is not an image\n"), p)[1], "not a raster"),
    # The reason GDAL gives, not rasterio's "Read failed. See previous exception for details."
    "truncated": (
        _truncated,
        r"truncated or corrupt\? \(.*(TIFFReadEncodedTile|TIFFFillTile|Read error)(?!.*previous exception)",
    ),
    # Its first and last tiles read: the conversion met the damaged one (a traceback, exit 1).
    "damaged inside": (
        damaged_inside,
        r"^bad.tif: a block of its bands cannot be read, is the file truncated or corrupt\? \(.*(IReadBlock|Decod)",
    ),
    # Not "no CRS or geotransform": it has one of the two, and is told how to add the other.
    "a geotransform but no CRS": (
        _geotransform_only,
        r"^bad.tif: has a geotransform but no CRS; give it the CRS it was made in \(gdal_edit.py -a_srs EPSG:4549 bad.tif",
    ),
    # Not only "not georeferenced": it is a photo, not a GeoTIFF at all.
    "a JPEG named .tif": (jpeg_named_tif, r"^bad.tif: a JPEG image, not a GeoTIFF, and not georeferenced"),
    "bad nodata": (lambda p: write_geotiff(p, nodata=0.5), "nodata 0.5 cannot be a uint8"),
    # Not "covers (623109.0880,3452270.5304 – …) lon/lat": those are not degrees.
    "metres labelled EPSG:4490": (
        _metres_labelled_degrees,
        r"^bad.tif: its CRS EPSG:4490 is geographic \(degrees\) but its coordinates \(623\d+\.\d, 345\d+\.\d – "
        r"623\d+\.\d, 345\d+\.\d\) do not look like degrees: a projected raster \(metres\) labelled with a "
        r"geographic CRS\? Give it the CRS it was made in \(gdal_edit\.py -a_srs EPSG:\.\.\.\)$",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_rasters_are_refused_with_nothing_recorded(twin: Twin, survey_dir: Path, tmp_path: Path, case: str) -> None:
    twin.import_survey(write_geotiff(tmp_path / "ok.tif"), kind="orthophoto", on=date(2026, 9, 1), author="a")
    head, files = twin.head(), files_in(survey_dir)
    make, words = REFUSALS[case]
    bad = make(tmp_path / "bad.tif")
    with pytest.raises(BadInput, match=words) as e:
        twin.import_survey(bad, kind="orthophoto", on=date(2026, 9, 2), author="a")
    assert "bad.tif" in str(e.value)
    assert twin.head() == head and files_in(survey_dir) == files and len(twin.surveys()) == 1


def test_too_large_a_file_is_refused_before_it_is_read(
    twin: Twin, survey_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_geotiff(tmp_path / "big.tif")
    monkeypatch.setenv("VENUE_TWIN_SURVEY_MAX_BYTES", str(src.stat().st_size - 1))
    with pytest.raises(BadInput, match="over the survey size limit"):
        twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 2), author="a")
    assert twin.head() is None and files_in(survey_dir) == []


def test_the_same_raster_twice_and_bad_kinds_are_refused(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "a.tif")
    twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 1), author="a")
    head, files = twin.head(), files_in(survey_dir)
    with pytest.raises(BadInput, match="already recorded as survey"):
        twin.import_survey(src, kind="orthophoto", on=date(2026, 9, 5), author="a")
    with pytest.raises(BadInput, match="survey kind"):
        twin.import_survey(src, kind="Ortho Photo", on=date(2026, 9, 5), author="a")
    assert twin.head() == head and files_in(survey_dir) == files


@pytest.mark.gpkg_only
def test_the_cli_imports_lists_shows_and_fsck_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR", raising=False)
    store = tmp_path / "venue.gpkg"
    assert runner.invoke(app, ["init", "--no-surveys", "--store", str(store)]).exit_code == 0
    src = write_geotiff(tmp_path / "ortho.tif", crs="EPSG:4549", res=0.3)
    r = runner.invoke(
        app,
        ["raster", "import", str(src), "--survey", "orthophoto", "--date", "2026-10-20", "-s", str(store), "-m", "Oct"],
    )
    assert r.exit_code == 0, r.stderr
    # By default the files live beside the GeoPackage.
    [name] = files_in(tmp_path / "venue.surveys")
    r = runner.invoke(app, ["raster", "list", "--json", "-s", str(store)])
    [listed] = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert listed["file_name"] == name and listed["date"] == "2026-10-20"
    r = runner.invoke(app, ["raster", "list", "--as-of", "HEAD~1", "--json", "-s", str(store)])
    assert r.exit_code == 0 and r.stdout.strip() == ""
    r = runner.invoke(app, ["raster", "show", listed["id"], "-s", str(store)])
    assert orjson.loads(r.stdout)["path"] == str(tmp_path / "venue.surveys" / name)
    r = runner.invoke(app, ["raster", "show", "0123456789abcdef", "-s", str(store)])
    assert r.exit_code == 2 and "no survey" in r.stderr
    (tmp_path / "plain.tif").write_bytes(b"II*\x00garbage")
    head = Twin.open(store)
    try:
        before = head.head()
    finally:
        head.close()
    r = runner.invoke(
        app,
        [
            "raster",
            "import",
            str(tmp_path / "plain.tif"),
            "--survey",
            "orthophoto",
            "--date",
            "2026-10-21",
            "-s",
            str(store),
        ],
    )
    assert r.exit_code == 2 and "plain.tif" in r.stderr
    r = runner.invoke(
        app, ["raster", "import", str(src), "--survey", "orthophoto", "--date", "20-10-2026", "-s", str(store)]
    )
    assert r.exit_code == 2 and "--date" in r.stderr
    with Twin.open(store) as t:
        assert t.head() == before
    assert runner.invoke(app, ["fsck", "-s", str(store)]).exit_code == 0
    (tmp_path / "venue.surveys" / name).write_bytes(b"replaced")
    r = runner.invoke(app, ["fsck", "-s", str(store)])
    assert r.exit_code == 1 and "modified" in r.stderr


@pytest.mark.gpkg_only
def test_copying_a_twin_brings_its_survey_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store_contract import AOI, SCHEMAS

    from twin.copying import copy_twin

    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR", raising=False)
    with Twin.create(tmp_path / "a.gpkg", SCHEMAS, AOI) as a:
        a.import_survey(write_geotiff(tmp_path / "o.tif"), kind="orthophoto", on=date(2026, 9, 1), author="x")
    copy_twin(tmp_path / "a.gpkg", tmp_path / "b.gpkg")
    assert files_in(tmp_path / "b.surveys") == files_in(tmp_path / "a.surveys") != []
    with Twin.open(tmp_path / "b.gpkg") as b:
        assert b.fsck() == [] and len(b.surveys()) == 1


# What the evidence reads from a survey of a kind it knows (completion.evidence): an NDVI index in
# one float band (green above 0.4), an orthophoto in 8-bit RGB (luma signatures). A raster of
# another shape imported as that kind was read as nonsense: an RGB orthophoto imported as `ndvi`
# gave every lawn 100 % green cover and cleared LS-04's flag.
KIND_MISMATCHES = {
    "RGB as ndvi": ("ndvi", dict(bands=3, dtype="uint8"), "ndvi survey is one band"),
    "8-bit index as ndvi": ("ndvi", dict(bands=1, dtype="uint8"), "ndvi survey is one band"),
    "index as orthophoto": ("orthophoto", dict(bands=1, dtype="float32"), "orthophoto is 3 or 4 bands"),
    "16-bit RGB as orthophoto": ("orthophoto", dict(bands=3, dtype="uint16"), "orthophoto is 3 or 4 bands"),
}


@pytest.mark.parametrize("case", list(KIND_MISMATCHES))
def test_a_raster_unlike_its_kind_is_refused(twin: Twin, survey_dir: Path, tmp_path: Path, case: str) -> None:
    kind, shape, words = KIND_MISMATCHES[case]
    bad = write_geotiff(tmp_path / "wrong.tif", **shape)
    with pytest.raises(BadInput, match=words) as e:
        twin.import_survey(bad, kind=kind, on=date(2026, 9, 2), author="a")
    assert "wrong.tif" in str(e.value)
    assert twin.head() is None and files_in(survey_dir) == []
    # Kinds the evidence does not read take any raster.
    twin.import_survey(bad, kind="thermal", on=date(2026, 9, 2), author="a")


def test_a_flight_dated_after_today_is_refused(twin: Twin, survey_dir: Path, tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from twin.core import SHANGHAI

    tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
    src = write_geotiff(tmp_path / "a.tif")
    with pytest.raises(BadInput, match="in the future"):
        twin.import_survey(src, kind="orthophoto", on=tomorrow, author="a")
    assert twin.head() is None and files_in(survey_dir) == []
    twin.import_survey(src, kind="orthophoto", on=tomorrow - timedelta(days=1), author="a")


def test_init_on_a_database_without_a_survey_directory_is_refused_before_building(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`init` on PostgreSQL with no VENUE_TWIN_SURVEY_DIR built the whole bundled twin (half a minute)
    and then failed on the demo surveys, leaving a twin that a second `init` refused ("holds a twin
    already")."""
    from conftest import postgis_url

    monkeypatch.delenv("VENUE_TWIN_SURVEY_DIR", raising=False)
    url = postgis_url()
    r = CliRunner().invoke(app, ["init", "--store", url])
    assert r.exit_code == 2 and "VENUE_TWIN_SURVEY_DIR is not set" in r.stderr and "--no-surveys" in r.stderr
    assert not Twin.exists(url)


def test_the_import_bounds_gdals_block_cache(
    twin: Twin, survey_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL's block cache is 5 % of the machine's memory by default, most of an import's peak (2.4 GB
    on a 23 GB machine for a 20,000² orthophoto). The conversion runs under a GDAL_CACHEMAX in
    bytes: rasterio hands a number to GDALSetCacheMax64 as bytes, so the 256 once tried was a
    256-byte cache that left every read in the process crawling. An operator's own GDAL_CACHEMAX
    (read by GDAL from the environment) is left alone."""
    import rio_cogeo.cogeo

    real = rio_cogeo.cogeo.cog_translate
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(rasterio.env.getenv().get("GDAL_CACHEMAX"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rio_cogeo.cogeo, "cog_translate", spy)
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    twin.import_survey(write_geotiff(tmp_path / "a.tif", size=128), kind="orthophoto", on=date(2026, 10, 1), author="a")
    assert len(seen) == 1 and isinstance(seen[0], int) and 64 << 20 <= seen[0] <= 512 << 20, seen
    monkeypatch.setenv("GDAL_CACHEMAX", "1024")
    twin.import_survey(
        write_geotiff(tmp_path / "b.tif", size=128, seed=2), kind="orthophoto", on=date(2026, 10, 2), author="a"
    )
    assert seen[1] is None
