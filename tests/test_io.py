"""Reading and writing layer files: round trips per format, CRSs, datums, ids and refusals."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import coordTransform
import orjson
import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer

from layers.io import (
    FORMATS,
    read_layer_file,
    recorded_version,
    resolve_format,
    shapefile_field_names,
    write_layer_bytes,
    write_layer_file,
)
from twin.errors import BadInput, ValidationFailed
from twin.model import Feature, FieldSpec, LayerSchema
from twin.stores.base import ExportRow
from twin.validation import normalize_properties

GEOD = Geod(ellps="WGS84")
VENUE = (121.297, 31.191)
VENUE_4549 = (623_664.0, 3_452_942.0)

HALLS = LayerSchema(
    name="halls",
    title_zh="展馆",
    title_en="Halls",
    geometry_types=("Polygon", "MultiPolygon"),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("area_m2", "number", unit="m2"),
        FieldSpec("floors", "integer"),
        FieldSpec("opened", "date"),
        FieldSpec("indoor", "boolean"),
        FieldSpec("completion_percent", "number"),  # longer than a dBASE name
        FieldSpec("completion_date", "date"),  # clashes with the one above once cut to 10
    ),
    code_field="code",
)


def _features() -> list[Feature]:
    hole = shapely.Polygon(
        shapely.box(121.2950, 31.1900, 121.2970, 31.1915).exterior.coords,
        [shapely.box(121.2955, 31.1905, 121.2960, 31.1910).exterior.coords],
    )
    two = shapely.MultiPolygon(
        [shapely.box(121.2980, 31.1920, 121.2990, 31.1930), shapely.box(121.3000, 31.1920, 121.3010, 31.1930)]
    )
    odd = shapely.Polygon([(121.29612345678901, 31.19187654321098), (121.2971, 31.1919), (121.2966, 31.1925)])
    return [
        Feature(
            "hall-1.1H",
            hole,
            {
                "code": "1.1H",
                "area_m2": 28800.5,
                "floors": 1,
                "opened": "2014-11-05",
                "indoor": True,
                "completion_percent": 62.5,
                "completion_date": "2026-10-20",
            },
        ),
        Feature("hall-NH", two, {"code": "NH", "area_m2": 30000.0, "floors": 2, "indoor": False}),
        Feature("hall-GC", odd, {"code": "GC"}),  # missing values stay missing
    ]


def _rows(features: list[Feature]) -> list[ExportRow]:
    return [ExportRow(f.id, shapely.to_wkb(f.geometry), orjson.dumps(f.properties)) for f in features]


def _same_geometry(a: Any, b: Any, tol: float = 1e-9) -> bool:
    # Shapefiles rewind rings; compare the shapes, not the vertex order
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=tol))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _geojson(path: Path, features: list[dict[str, Any]], crs: str | None = None) -> Path:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def _point_feature(x: float, y: float, code: str = "1.1H", **extra: Any) -> dict[str, Any]:
    box = (
        [[x, y], [x + 10, y], [x + 10, y + 10], [x, y + 10], [x, y]]
        if extra.pop("metres", False)
        else [[x, y], [x + 1e-4, y], [x + 1e-4, y + 1e-4], [x, y + 1e-4], [x, y]]
    )
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [box]},
        "properties": {"code": code, **extra},
    }


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".zip", ".csv"])
@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4549"])
def test_round_trip(tmp_path: Path, ext: str, crs: str) -> None:
    features = _features()
    path = tmp_path / f"halls{ext}"
    assert write_layer_file(_rows(features), HALLS, path, crs=crs) == 3
    # a CSV carries no CRS: read as the lon/lat it is written in by default, else as --crs says
    result = read_layer_file(path, HALLS, crs=crs if ext == ".csv" and crs != "EPSG:4326" else None)
    assert result.source_crs == crs
    assert result.ignored_columns == []
    assert result.id_source == "feature_id"
    got = {f.id: f for f in result.features}
    assert sorted(got) == sorted(f.id for f in features)
    for f in features:
        assert _same_geometry(got[f.id].geometry, f.geometry), (f.id, got[f.id].geometry.wkt)
        assert got[f.id].properties == f.properties
        # plain Python values, typed from the schema
        assert all(type(v) in (str, int, float, bool) for v in got[f.id].properties.values())
    assert type(got["hall-1.1H"].properties["floors"]) is int


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".zip", ".csv"])
def test_lon_lat_comes_back_to_the_last_bit(tmp_path: Path, ext: str) -> None:
    """GDAL's GeoJSON writer trims a run of nines (31.191654099999997 written 31.1916541), so an
    unedited GeoJSON export of lon/lat input at full precision (a script's POST, Python's json)
    imported back as modified, and as a conflict with a colleague's edit of the same feature."""
    odd = shapely.Polygon([(121.30001234567891, 31.191654099999997), (121.301, 31.191654099999997), (121.301, 31.1925)])
    features = _features()
    features[0].geometry = odd
    path = tmp_path / f"halls{ext}"
    write_layer_file(_rows(features), HALLS, path)
    got = {f.id: f for f in read_layer_file(path, HALLS).features}
    for f in features:
        assert shapely.equals_exact(shapely.normalize(got[f.id].geometry), shapely.normalize(f.geometry), 0), f.id


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".zip", ".csv"])
def test_a_list_field_round_trips(tmp_path: Path, ext: str) -> None:
    """A list field (a project's features, a survey's bands) leaves as a JSON array of text in the
    formats without lists, never Python's ['a', 'b'], and an unedited file brings back the lists."""
    schema = LayerSchema(**{**HALLS.__dict__, "fields": (*HALLS.fields, FieldSpec("tags", "list"))})
    features = _features()
    lists = {"hall-1.1H": ["halls/hall-1.1H", "roads/rd-3, east"], "hall-NH": ["ndvi"], "hall-GC": []}
    for f in features:
        f.properties["tags"] = lists[f.id]
    path = tmp_path / f"halls{ext}"
    write_layer_file(_rows(features), schema, path)
    if ext != ".geojson":
        cells = pyogrio.read_dataframe(path if ext != ".zip" else f"/vsizip/{path}/halls.shp", read_geometry=False)
        column = "tags" if "tags" in cells else next(c for c in cells if c.startswith("tags"))
        shown = dict(zip(cells["feature_id" if "feature_id" in cells else "feature_i"], cells[column], strict=True))
        assert json.loads(shown["hall-1.1H"]) == lists["hall-1.1H"] and "'" not in shown["hall-NH"], shown
    # As a commit reads them (the twin's validation normalises what the reader gives)
    read = read_layer_file(path, schema, crs="EPSG:4326").features
    got = {f.id: normalize_properties(schema, f.properties)[0].get("tags") for f in read}
    assert got == {"hall-1.1H": lists["hall-1.1H"], "hall-NH": ["ndvi"], "hall-GC": got["hall-GC"]}
    assert got["hall-GC"] in ([], None)


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".zip", ".csv"])
def test_an_export_records_the_version_it_was_read_at(tmp_path: Path, ext: str) -> None:
    version = "0123456789abcdef" * 4
    path = tmp_path / f"halls{ext}"
    write_layer_file(_rows(_features()), HALLS, path, version=version)
    assert recorded_version(path) == version
    result = read_layer_file(path, HALLS)  # and the file reads as before
    assert len(result.features) == 3 and result.ignored_columns == []
    assert all("version" not in k for f in result.features for k in f.properties)
    write_layer_file(_rows(_features()), HALLS, tmp_path / f"plain{ext}")
    assert recorded_version(tmp_path / f"plain{ext}") is None


def test_a_geopackage_keeps_dates_as_dates_and_gaps_as_nulls(tmp_path: Path) -> None:
    """QGIS and GDAL read a date field of a downloaded GeoPackage as a DATE column, not text."""
    path = tmp_path / "h.gpkg"
    write_layer_file(_rows(_features()), HALLS, path)
    info = pyogrio.read_info(path)
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["opened"] == types["completion_date"] == "datetime64[D]"
    assert types["floors"] == "int64" and types["indoor"] == "bool"
    df = pyogrio.read_dataframe(path).set_index("feature_id")
    assert str(df.loc["hall-1.1H", "opened"].date()) == "2014-11-05"
    assert df.loc["hall-GC", ["opened", "floors", "indoor", "area_m2"]].isna().all()


def test_a_csv_records_its_version_in_a_column_gdal_and_excel_read(tmp_path: Path) -> None:
    """A CSV has no metadata: the version is a last column (a name no field can have), on every row,
    so a row sorted, filtered or copied into another sheet keeps it; GDAL reads the file as before,
    and a row added in Excel or QGIS, its cell empty, does not stop the file being a copy of it."""
    version = "0123456789abcdef" * 4
    path = tmp_path / "h.csv"
    write_layer_file(_rows(_features()), HALLS, path, version=version)
    df = pyogrio.read_dataframe(path, read_geometry=False)
    assert list(df.columns)[-1] == "twin:version" and set(df["twin:version"]) == {version}
    assert len(df) == 3
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join([*lines, 'x,NEW,,,,,,,"POINT (121.297 31.191)",']) + "\n", encoding="utf-8")
    assert recorded_version(path) == version
    # rows of two exports made at different versions, joined: a copy of neither, refused by name
    other = "fedcba9876543210" * 4
    path.write_text("\n".join([*lines, lines[1].replace(version, other)]) + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"h\.csv: .*different versions.*0123456789ab, fedcba987654"):
        recorded_version(path)
    write_layer_file(_rows(_features()), HALLS, tmp_path / "plain.csv")
    assert "twin:version" not in (tmp_path / "plain.csv").read_text()


def test_a_geopackage_export_is_one_debians_gdal_reads_without_a_warning(tmp_path: Path) -> None:
    """GeoPackage 1.2 (user_version 10200), not the 1.4 pyogrio's newer GDAL writes by default, over
    which GDAL 3.6's ogrinfo warns "may only be partially supported" on every open."""
    path = tmp_path / "h.gpkg"
    write_layer_file(_rows(_features()), HALLS, path, version="0" * 64)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert recorded_version(path) == "0" * 64 and len(read_layer_file(path, HALLS).features) == 3
    ogrinfo = shutil.which("ogrinfo", path="/usr/bin") or shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.skip("no ogrinfo (Debian's gdal-bin)")
    r = subprocess.run([ogrinfo, "-so", "-al", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Feature Count: 3" in r.stdout, r.stdout + r.stderr
    assert "Warning" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_export_to_gauss_kruger_has_metre_coordinates(tmp_path: Path) -> None:
    features = _features()
    write_layer_file(_rows(features), HALLS, tmp_path / "h.geojson", crs="EPSG:4549")
    doc = json.loads((tmp_path / "h.geojson").read_text())
    x, y = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 600_000 < x < 650_000 and 3_400_000 < y < 3_500_000
    assert "4549" in doc["crs"]["properties"]["name"]
    expected = Transformer.from_crs(4326, 4549, always_xy=True).transform(121.2950, 31.1900)
    corners = [tuple(c) for c in doc["features"][0]["geometry"]["coordinates"][0]]
    assert min(abs(cx - expected[0]) + abs(cy - expected[1]) for cx, cy in corners) < 1e-6

    write_layer_file(_rows(features), HALLS, tmp_path / "h.csv", crs="EPSG:4549")
    wkt = (tmp_path / "h.csv").read_text().splitlines()[1].split('"')[1]
    x, y = shapely.from_wkt(wkt).exterior.coords[0]
    assert 600_000 < x < 650_000 and 3_400_000 < y < 3_500_000

    write_layer_file(_rows(features), HALLS, tmp_path / "h.gpkg", crs="EPSG:4549")
    info = pyogrio.read_info(tmp_path / "h.gpkg")
    assert info["crs"] == "EPSG:4549" and 600_000 < info["total_bounds"][0] < 650_000


def test_geojson_has_feature_ids_and_a_feature_id_property(tmp_path: Path) -> None:
    write_layer_file(_rows(_features()), HALLS, tmp_path / "h.geojson")
    feats = json.loads((tmp_path / "h.geojson").read_text())["features"]
    assert [f["id"] for f in feats] == ["hall-1.1H", "hall-NH", "hall-GC"]
    assert [f["properties"]["feature_id"] for f in feats] == ["hall-1.1H", "hall-NH", "hall-GC"]
    assert "_twin_id" not in feats[0]["properties"]
    assert feats[0]["properties"]["floors"] == 1 and feats[2]["properties"]["floors"] is None


def test_custom_crs_export(tmp_path: Path) -> None:
    local = "+proj=tmerc +lat_0=31.2 +lon_0=121.46 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    for ext in (".gpkg", ".zip"):  # these carry the definition, so the file reads back on its own
        write_layer_file(_rows(_features()), HALLS, tmp_path / f"local{ext}", crs=local)
        got = read_layer_file(tmp_path / f"local{ext}", HALLS).features[0]
        assert _same_geometry(got.geometry, _features()[0].geometry)
    with pytest.raises(BadInput, match="GeoJSON cannot record the CRS"):
        write_layer_file(_rows(_features()), HALLS, tmp_path / "local.geojson", crs=local)
    assert not (tmp_path / "local.geojson").exists()


def test_shapefile_field_names_are_short_unique_and_restored(tmp_path: Path) -> None:
    names = shapefile_field_names(HALLS)
    assert names["feature_id"] == "feature_id" and names["area_m2"] == "area_m2"
    assert names["completion_percent"] == "completion"
    assert names["completion_date"] == "completi_1"
    assert all(len(v) <= 10 for v in names.values())
    path = tmp_path / "h.zip"
    write_layer_file(_rows(_features()), HALLS, path)
    with zipfile.ZipFile(path) as z:
        assert {Path(n).suffix for n in z.namelist()} >= {".shp", ".shx", ".dbf", ".prj", ".cpg"}
    fields = pyogrio.read_info(f"/vsizip/{path}/halls.shp")["fields"].tolist()
    assert fields == ["feature_id", "code", "area_m2", "floors", "opened", "indoor", "completion", "completi_1"]


def test_a_shapefile_cuts_long_text_at_a_character_and_lists_its_fields(tmp_path: Path) -> None:
    """dBASE holds 254 bytes of text: GDAL cut a Chinese text inside a character (bytes no reader
    decodes); the export cuts at a character and says so in the zip's field list."""
    long_code = "展" * 90 + "A"  # 271 bytes in UTF-8; 84 characters fit
    features = _features()
    features[0].properties["code"] = long_code
    path = tmp_path / "h.zip"
    write_layer_file(_rows(features), HALLS, path)
    back = {f.id: f for f in read_layer_file(path, HALLS).features}
    assert back["hall-1.1H"].properties["code"] == "展" * 84
    assert back["hall-NH"].properties["code"] == "NH"
    with zipfile.ZipFile(path) as z:
        text = z.read("halls.fields.csv").decode("utf-8-sig").splitlines()
    assert text[0] == "shapefile_field,field,type,texts_cut_to_254_bytes"
    assert "code,code,string,1" in text and "completi_1,completion_date,date,0" in text


def test_empty_export_and_bytes(tmp_path: Path) -> None:
    for name, fmt in FORMATS.items():
        data = write_layer_bytes(_rows(_features()), HALLS, fmt=name)
        assert isinstance(data, bytes) and len(data) > 100
        path = tmp_path / f"x{fmt.extension}"
        path.write_bytes(data)
        assert len(read_layer_file(path, HALLS, crs="EPSG:4326" if name == "csv" else None).features) == 3
        assert write_layer_file([], HALLS, tmp_path / f"empty{fmt.extension}") == 0
    assert FORMATS["geojson"].media_type == "application/geo+json"
    assert FORMATS["gpkg"].media_type == "application/geopackage+sqlite3"
    assert FORMATS["shapefile"].media_type == "application/zip"
    assert FORMATS["csv"].media_type == "text/csv"
    assert resolve_format("zip").name == "shapefile" and resolve_format(None, "a.JSON").name == "geojson"
    with pytest.raises(BadInput, match="unknown format"):
        resolve_format("kml")


# --------------------------------------------------------------------------- CRSs and datums


def test_geojson_in_gauss_kruger_lands_on_the_venue(tmp_path: Path) -> None:
    path = _geojson(
        tmp_path / "gk.geojson",
        [{**_point_feature(*VENUE_4549, metres=True), "id": "a"}],
        crs="urn:ogc:def:crs:EPSG::4549",
    )
    result = read_layer_file(path, HALLS)
    assert result.source_crs == "EPSG:4549"
    x, y = result.features[0].geometry.exterior.coords[0]
    expected = Transformer.from_crs(4549, 4326, always_xy=True).transform(*VENUE_4549)
    assert _metres(x, y, *expected) < 1
    assert _metres(x, y, *VENUE) < 200  # the published position, independently


def test_geojson_in_cgcs2000_lands_on_the_venue(tmp_path: Path) -> None:
    path = _geojson(
        tmp_path / "cgcs.geojson", [{**_point_feature(*VENUE), "id": "a"}], crs="urn:ogc:def:crs:EPSG::4490"
    )
    result = read_layer_file(path, HALLS)
    assert result.source_crs == "EPSG:4490"
    x, y = result.features[0].geometry.exterior.coords[0]
    expected = Transformer.from_crs(4490, 4326, always_xy=True).transform(*VENUE)
    assert _metres(x, y, *expected) < 1 and _metres(x, y, *VENUE) < 1


def test_crs_option_supplies_or_overrides(tmp_path: Path) -> None:
    # a GeoJSON without a crs member is RFC 7946 lon/lat; --crs says otherwise
    path = _geojson(tmp_path / "bare.geojson", [{**_point_feature(*VENUE_4549, metres=True), "id": "a"}])
    x, y = read_layer_file(path, HALLS, crs="EPSG:4549").features[0].geometry.exterior.coords[0]
    assert _metres(x, y, *VENUE) < 200
    with pytest.raises(BadInput, match="EPSG:999999"):
        read_layer_file(path, HALLS, crs="EPSG:999999")


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_web_map_datums_convert_back(tmp_path: Path, datum: str) -> None:
    original = shapely.box(121.2960, 31.1900, 121.2980, 31.1920)
    forward = coordTransform.wgs84_to_gcj02 if datum == "gcj02" else coordTransform.wgs84_to_bd09
    shifted = [list(forward(x, y)) for x, y in original.exterior.coords]
    shift = _metres(*original.exterior.coords[0], *shifted[0])
    assert (470 < shift < 490) if datum == "gcj02" else shift > 900
    path = _geojson(
        tmp_path / "web.geojson",
        [
            {
                "type": "Feature",
                "id": "a",
                "properties": {"code": "1.1H"},
                "geometry": {"type": "Polygon", "coordinates": [shifted]},
            }
        ],
    )
    got = read_layer_file(path, HALLS, datum=datum).features[0].geometry  # type: ignore[arg-type]
    for (x0, y0), (x1, y1) in zip(original.exterior.coords, got.exterior.coords, strict=True):
        assert _metres(x0, y0, x1, y1) < 0.01
    with pytest.raises(BadInput, match="datum"):
        read_layer_file(path, HALLS, datum="wgs72")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ids and columns


def test_id_sources(tmp_path: Path) -> None:
    plain = [_point_feature(*VENUE, code="1.1H", note="x"), _point_feature(*VENUE, code="NH", note="y")]
    # the schema's code column, and an unknown column reported
    result = read_layer_file(_geojson(tmp_path / "a.geojson", plain), HALLS)
    assert [f.id for f in result.features] == ["1.1H", "NH"]
    assert result.id_source == "code" and result.ignored_columns == ["note"]
    # an explicit id field
    assert [f.id for f in read_layer_file(tmp_path / "a.geojson", HALLS, id_field="note").features] == ["x", "y"]
    with pytest.raises(BadInput, match="no column 'nope'"):
        read_layer_file(tmp_path / "a.geojson", HALLS, id_field="nope")
    # GeoJSON feature ids, integers included
    no_code = [{"type": "Feature", "id": 7, "geometry": f["geometry"], "properties": {}} for f in plain]
    no_code[1]["id"] = 9
    assert [f.id for f in read_layer_file(_geojson(tmp_path / "b.geojson", no_code), HALLS).features] == ["7", "9"]
    assert [f.id for f in read_layer_file(tmp_path / "b.geojson", HALLS, id_field="id").features] == ["7", "9"]
    # none at all: refused, unless ids may be generated
    for f in no_code:
        del f["id"]
    path = _geojson(tmp_path / "c.geojson", no_code)
    with pytest.raises(BadInput, match="no id column: pass --id-field"):
        read_layer_file(path, HALLS)
    ids = [f.id for f in read_layer_file(path, HALLS, generate_ids=True).features]
    assert len(set(ids)) == 2 and all(uuid.UUID(i) for i in ids)


def test_duplicate_and_missing_ids_are_listed(tmp_path: Path) -> None:
    feats = [_point_feature(*VENUE, code=c) for c in ("1.1H", "NH", "1.1H", "")]
    with pytest.raises(ValidationFailed) as e:
        read_layer_file(_geojson(tmp_path / "dup.geojson", feats), HALLS)
    reasons = [p.reason for p in e.value.problems]
    assert any("'1.1H' appears 2 times (rows 1, 3)" in r for r in reasons)
    assert any("row 4 has no id" in r for r in reasons)


# --------------------------------------------------------------------------- refusals


def test_csv_with_bad_wkt_names_each_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "feature_id,code,wkt\n"
        'a,1.1H,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n'
        'b,NH,"POLYGON ((0 0, 1 0"\n'
        "c,GC,\n"
        "d,3H,not wkt at all\n"
    )
    with pytest.raises(ValidationFailed) as e:
        read_layer_file(path, HALLS, crs="EPSG:4326")
    problems = e.value.problems
    assert [p.feature_id for p in problems] == ["b", "c", "d"]
    assert "row 2" in problems[0].reason and "unreadable WKT" in problems[0].reason
    assert "row 3" in problems[1].reason and "empty" in problems[1].reason
    assert "row 4" in problems[2].reason and "bad.csv" in problems[2].reason


def test_csv_without_a_crs_is_read_as_lon_lat(tmp_path: Path) -> None:
    """A CSV carries no CRS: one without --crs is read as EPSG:4326 lon/lat (what the twin's CSV
    exports and downloads write by default, and what GDAL and QGIS take WKT in a CSV to be); one whose
    coordinates cannot be lon/lat is refused, naming --crs, rather than placed off the globe."""
    path = tmp_path / "nocrs.csv"
    path.write_text('id,code,WKT\na,1.1H,"POINT (121.297 31.191)"\n')
    result = read_layer_file(path, HALLS)
    assert result.source_crs == "EPSG:4326"
    (f,) = result.features
    assert f.id == "a"  # an explicit id column names the feature; the code is only a fallback
    assert f.geometry.equals(shapely.Point(VENUE))
    assert read_layer_file(path, HALLS, crs="4326").features[0].geometry.equals(shapely.Point(VENUE))
    metres = tmp_path / "metres.csv"
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(*VENUE)
    metres.write_text(f'id,code,WKT\na,1.1H,"POINT ({x} {y})"\n')
    with pytest.raises(BadInput, match=r"metres\.csv: .*not lon/lat.*pass --crs"):
        read_layer_file(metres, HALLS)
    (f,) = read_layer_file(metres, HALLS, crs="EPSG:4549").features
    assert _metres(*VENUE, f.geometry.x, f.geometry.y) < 0.01


def test_shapefile_without_prj_needs_a_crs(tmp_path: Path) -> None:
    write_layer_file(_rows(_features()), HALLS, tmp_path / "h.zip", crs="EPSG:4549")
    with zipfile.ZipFile(tmp_path / "h.zip") as z:
        z.extractall(tmp_path / "shp")
    (tmp_path / "shp" / "halls.prj").unlink()
    with pytest.raises(BadInput, match="no CRS"):
        read_layer_file(tmp_path / "shp" / "halls.shp", HALLS)
    result = read_layer_file(tmp_path / "shp" / "halls.shp", HALLS, crs="EPSG:4549")
    assert _same_geometry(result.features[0].geometry, _features()[0].geometry, tol=1e-9)


def test_truncated_geojson_names_the_file(tmp_path: Path) -> None:
    full = tmp_path / "full.geojson"
    write_layer_file(_rows(_features()), HALLS, full)
    cut = tmp_path / "cut.geojson"
    cut.write_bytes(full.read_bytes()[:300])
    with pytest.raises(BadInput, match="cut.geojson"):
        read_layer_file(cut, HALLS)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="missing.gpkg: no such file"):
        read_layer_file(tmp_path / "missing.gpkg", HALLS)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BadInput, match="notes.txt"):
        read_layer_file(tmp_path / "notes.txt", HALLS)
    (tmp_path / "fake.gpkg").write_text("not a geopackage")
    with pytest.raises(BadInput, match="fake.gpkg: cannot read as GeoPackage"):
        read_layer_file(tmp_path / "fake.gpkg", HALLS)
    with zipfile.ZipFile(tmp_path / "noshp.zip", "w") as z:
        z.writestr("readme.txt", "no shapefile here")
    with pytest.raises(BadInput, match="noshp.zip: the zip holds no .shp"):
        read_layer_file(tmp_path / "noshp.zip", HALLS)
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(BadInput, match="junk.zip: not a readable zip"):
        read_layer_file(tmp_path / "junk.zip", HALLS)


def test_multi_layer_geopackage_needs_a_source_layer(tmp_path: Path) -> None:
    path = tmp_path / "multi.gpkg"
    write_layer_file(_rows(_features()), HALLS, tmp_path / "one.gpkg")
    for name in ("halls_2024", "halls_2025"):
        gdf = pyogrio.read_dataframe(tmp_path / "one.gpkg")
        pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", append=path.exists())
    with pytest.raises(BadInput) as e:
        read_layer_file(path, HALLS)
    assert "halls_2024" in str(e.value) and "halls_2025" in str(e.value) and "--source-layer" in str(e.value)
    assert len(read_layer_file(path, HALLS, source_layer="halls_2025").features) == 3
    with pytest.raises(BadInput, match="no layer 'halls_2030'"):
        read_layer_file(path, HALLS, source_layer="halls_2030")


def test_a_list_field_reads_from_geojson_arrays_and_csv_text(tmp_path: Path) -> None:
    """A layer's list field: GDAL hands a GeoJSON array over as a numpy array per cell (it was a
    KeyError), a CSV cell as text; both reach validation, which makes them lists of text. The row
    whose cell is empty has no value, and the array cell is found missing by identity, not by ==."""
    from twin.validation import normalize_properties

    tagged = LayerSchema(
        "tagged", "标签", "Tagged", ("Point",), (FieldSpec("code", "string"), FieldSpec("tags", "list"))
    )
    src = tmp_path / "tags.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "a", "properties": {"code": "A", "tags": ["x", "y"]},
         "geometry": {"type": "Point", "coordinates": list(VENUE)}},
        {"type": "Feature", "id": "b", "properties": {"code": "B", "tags": None},
         "geometry": {"type": "Point", "coordinates": list(VENUE)}},
    ]}))  # fmt: skip
    got = {f.id: normalize_properties(tagged, f.properties) for f in read_layer_file(src, tagged).features}
    assert got == {"a": ({"code": "A", "tags": ["x", "y"]}, []), "b": ({"code": "B"}, [])}
    csv = tmp_path / "tags.csv"
    csv.write_text(f'id,code,tags,wkt\nc,C,"p, q",POINT ({VENUE[0]} {VENUE[1]})\n')
    (f,) = read_layer_file(csv, tagged, crs="EPSG:4326").features
    assert normalize_properties(tagged, f.properties) == ({"code": "C", "tags": ["p", "q"]}, [])
