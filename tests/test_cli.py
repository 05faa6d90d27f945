"""The venue-twin command as a user runs it: init, log, show, diff, history, import, commit,
revert, export and fsck, with exit codes (2 for bad input, 3 for a conflict) and the twin
unchanged after every refusal. The GDAL command line checks the file really is a GeoPackage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pyogrio
import pytest
import shapely
from deadlines import SUBPROCESS
from pyproj import Transformer
from typer.testing import CliRunner

from cli.main import app
from twin import Change, Feature, Twin

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "venue.gpkg"
    code, out, err = run("init", "--no-surveys", "--store", str(path))
    assert code == 0, err
    assert "halls" in out and "venue_boundary" in out
    return path


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    """A private copy of the bundled twin, so tests that write do not see each other."""
    copy = tmp_path / "venue.gpkg"
    shutil.copy(built, copy)
    return copy


def state(path: Path) -> tuple[str | None, int, list[str]]:
    with Twin.open(path) as t:
        head = t.head()
        return (head.id if head else None), t.store.commit_count(), t.fsck()


def test_log_shows_the_bundled_history(store: Path) -> None:
    code, out, err = run("log", "--store", str(store), "--json", "-n", "1000")
    assert code == 0
    commits = [json.loads(line) for line in out.splitlines()]
    with Twin.open(store) as t:
        assert [c["id"] for c in commits] == [c.id for c in t.log(1000)]
        assert len(commits) == t.store.commit_count() > 10
    assert commits[-1]["parent"] is None and all(c["author"] for c in commits)
    assert "not shown" not in err  # all of them shown
    # the default page of 50 says how many are older and how to see them (it stopped silently)
    code, out, err = run("log", "--store", str(store), "--json", "-n", "5", "--skip", "2")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [c["id"] for c in commits[2:7]]
    assert f"{len(commits) - 7:,} older commit(s) not shown: --skip 7" in err, err


def test_diff_prints_the_changed_features_as_geojson(store: Path) -> None:
    with Twin.open(store) as t:
        log = t.log(1000)
        # the commit that redesigned the flower display, and the one before it
        redesign = next(c for c in log if "flower display" in c.message.lower() and "south_plaza" in c.counts)
        before = t.store.commit_by_seq(redesign.seq - 1)
        expected = t.diff(t.resolve(before.id), t.resolve(redesign.id))
    code, out, _ = run("diff", before.id[:12], redesign.id[:12], "--store", str(store))
    assert code == 0
    doc = orjson.loads(out)
    assert doc["type"] == "FeatureCollection" and doc["twin:to"] == redesign.id
    assert [(f["twin:layer"], f["id"], f["twin:change"]) for f in doc["features"]] == [
        (e.layer, e.feature_id, e.kind) for e in expected
    ]
    modified = [f for f in doc["features"] if f["twin:change"] == "modified"]
    assert modified and all("twin:before" in f and f["twin:before"]["geometry"] != f["geometry"] or
                            f["twin:before"]["properties"] != f["properties"] for f in modified)  # fmt: skip


def test_show_and_history(store: Path) -> None:
    code, out, _ = run("show", "HEAD~1", "--store", str(store))
    assert code == 0
    shown = json.loads(out)
    with Twin.open(store) as t:
        assert shown["id"] == t.resolve("HEAD~1").commit.id  # type: ignore[union-attr]
        assert len(shown["changes"]) == sum(sum(c.values()) for c in shown["counts"].values())
        hist = t.history("south_plaza", "sp-flower-display")
    code, out, _ = run("history", "south_plaza", "sp-flower-display", "--json", "--store", str(store))
    assert code == 0
    assert [h["commit"]["id"] for h in json.loads(out)] == [h.commit.id for h in hist]
    assert len(hist) >= 2  # added, then redesigned


def test_an_invalid_import_is_refused_with_a_clear_message_and_fsck_stays_clean(store: Path, tmp_path: Path) -> None:
    before = state(store)
    bad = tmp_path / "halls.geojson"
    bad.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[121.296, 31.190], [121.297, 31.191],
             [121.297, 31.190], [121.296, 31.191], [121.296, 31.190]]]},
             "properties": {"code": "9.9H", "name_zh": "坏馆", "name_en": "Bow-tie hall", "responsible_unit": "x"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.296, 31.190]},
             "properties": {"code": "9.8H", "name_zh": "点", "name_en": "Point hall", "responsible_unit": "x"}},
        ]}))  # fmt: skip
    code, _, err = run("import", str(bad), "--layer", "halls", "--store", str(store))
    assert code == 2
    assert str(bad) in err and "9.9H" in err and "Self-intersection" in err and "Point" in err
    assert "nothing was committed" in err
    assert state(store) == before and before[2] == []
    code, _, err = run("fsck", "--store", str(store))
    assert code == 0

    truncated = tmp_path / "broken.geojson"
    truncated.write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')
    code, _, err = run("import", str(truncated), "--layer", "halls", "--store", str(store))
    assert code == 2 and "broken.geojson" in err
    code, _, err = run("import", str(bad), "--layer", "no_such_layer", "--store", str(store))
    assert code == 2 and "no_such_layer" in err
    code, _, err = run("import", str(bad), "--layer", "halls", "--crs", "EPSG:999999", "--store", str(store))
    assert code == 2 and "999999" in err
    assert state(store) == before


def test_an_import_of_an_id_too_long_is_refused_naming_the_limit(store: Path, tmp_path: Path) -> None:
    """A 300,000-character id passed validation and failed deeper (the PostGIS store's index)."""
    before = state(store)
    bed = {"code": "FB-LONG", "name_zh": "长编号花坛", "name_en": "Long-id bed", "kind": "flower_bed",
           "responsible_unit": "青浦区绿化和市容管理局"}  # fmt: skip
    square = [[[121.2950, 31.1860], [121.2954, 31.1860], [121.2954, 31.1863], [121.2950, 31.1863], [121.2950, 31.1860]]]
    bad = tmp_path / "beds.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "x" * 300_000, "geometry": {"type": "Polygon", "coordinates": square},
         "properties": bed}]}))  # fmt: skip
    code, _, err = run("import", str(bad), "--layer", "landscaping", "--store", str(store))
    assert code == 2, err
    assert "300,000 characters long; an id holds at most 256" in err and "nothing was committed" in err
    assert len(err) < 2000, err[:500]
    assert state(store) == before


@pytest.mark.parametrize("ext", [".gpkg", ".zip", ".geojson"])
def test_export_in_a_projected_crs_and_import_again_changes_nothing(store: Path, tmp_path: Path, ext: str) -> None:
    """A layer sent out in Gauss-Kruger (as a survey team edits it) and brought back unedited is the
    same layer: the round trip's float noise (about 1e-14 degrees) must not read as every feature
    modified, which is what a diff or the next commit would then show."""
    path = tmp_path / f"plaza{ext}"
    code, _, err = run("export", "south_plaza", "-o", str(path), "--crs", "EPSG:4549", "--store", str(store))
    assert code == 0, err
    before = state(store)
    code, out, err = run("import", str(path), "--layer", "south_plaza", "--crs", "EPSG:4549", "--store", str(store))
    # Not an error (a rerun, a scheduled sync): exit 0, saying so, and no commit.
    assert code == 0 and "nothing to commit" in out and "already holds every feature" in out, (out, err)
    assert state(store) == before


def test_import_in_gauss_kruger_and_export_as_of_an_earlier_version(store: Path, tmp_path: Path) -> None:
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    lon, lat = 121.2985, 31.1925
    e, n = to_gk.transform(lon, lat)
    src = tmp_path / "kiosk.geojson"
    ring = [[e, n], [e + 20, n], [e + 20, n + 10], [e, n + 10], [e, n]]
    src.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
        "features": [{"type": "Feature", "id": "ls-kiosk-bed", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"code": "LS-K-01", "name_zh": "花亭", "name_en": "Kiosk bed",
                                     "kind": "flower_bed", "responsible_unit": "青浦区绿化市容局"}}]}))  # fmt: skip
    head_before, n_before, _ = state(store)
    code, out, err = run("import", str(src), "--layer", "landscaping", "-m", "Kiosk bed", "--author", "tester",
                         "--store", str(store))  # fmt: skip
    assert code == 0, err
    assert "+1" in out
    with Twin.open(store) as t:
        got = shapely.from_geojson(orjson.dumps(orjson.loads(t.feature("landscaping", "ls-kiosk-bed"))["geometry"]))
        x0, y0 = got.exterior.coords[0]
        assert abs(x0 - lon) < 1e-7 and abs(y0 - lat) < 1e-7  # the corner given in metres lands where it should
        assert t.head().author == "tester"  # type: ignore[union-attr]
    old = tmp_path / "old.gpkg"
    code, _, err = run("export", "landscaping", "-o", str(old), "--version", head_before or "", "--store", str(store))
    assert code == 0, err
    new = tmp_path / "new.gpkg"
    code, _, err = run("export", "landscaping", "-o", str(new), "--crs", "EPSG:4549", "--store", str(store))
    assert code == 0, err
    old_ids = set(pyogrio.read_dataframe(old)["feature_id"])
    new_df = pyogrio.read_dataframe(new)
    assert "ls-kiosk-bed" not in old_ids and "ls-kiosk-bed" in set(new_df["feature_id"])
    assert len(new_df) == len(old_ids) + 1
    assert new_df.crs.to_epsg() == 4549
    row = new_df[new_df["feature_id"] == "ls-kiosk-bed"].iloc[0]
    assert abs(row.geometry.bounds[0] - e) < 0.01 and abs(row.geometry.bounds[1] - n) < 0.01


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_a_bed_copied_from_a_chinese_web_map_exports_and_imports_back_unchanged(
    store: Path, tmp_path: Path, datum: str
) -> None:
    """Coordinates shifted back from GCJ-02/BD-09 were stored unrounded (121.29209410000004), unlike
    reprojected ones: the first export in Gauss-Kruger brought back unedited modified the bed."""
    import coordTransform

    forward = coordTransform.wgs84_to_gcj02 if datum == "gcj02" else coordTransform.wgs84_to_bd09
    ring = [list(forward(x, y)) for x, y in shapely.box(121.2960, 31.1900, 121.2962, 31.1902).exterior.coords]
    copied = tmp_path / "copied.geojson"
    copied.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "ls-copied-bed", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": "FB-C1", "name_zh": "抄来的花坛", "name_en": "Copied bed", "kind": "flower_bed",
                       "responsible_unit": "青浦区绿化和市容管理局"}}]}))  # fmt: skip
    code, out, err = run("import", str(copied), "--layer", "landscaping", "--datum", datum, "--author", "li.wei",
                         "--store", str(store))  # fmt: skip
    assert code == 0 and "landscaping +1" in out, (out, err)
    exported = tmp_path / "landscaping.gpkg"
    code, _, err = run("export", "landscaping", "-o", str(exported), "--crs", "EPSG:4549", "--store", str(store))
    assert code == 0, err
    before = state(store)
    code, out, err = run("import", str(exported), "--layer", "landscaping", "--author", "li.wei",
                         "--store", str(store))  # fmt: skip
    assert code == 0 and "nothing to commit" in out, (out, err)
    assert state(store) == before


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".csv"])
def test_the_register_exported_imports_back_unchanged(store: Path, tmp_path: Path, ext: str) -> None:
    """`import --layer projects` took every file for a coordinators' spreadsheet: a GeoJSON export
    "has no column for code", a GeoPackage "is neither UTF-8 nor GB18030 text", a CSV export 126
    problems (its features column is JSON). An export of the register is a layer file like any."""
    path = tmp_path / f"register{ext}"
    code, _, err = run("export", "projects", "-o", str(path), "--store", str(store))
    assert code == 0, err
    if ext == ".gpkg":  # records: an attributes table, not a layer of empty shapes of unknown type
        info = pyogrio.read_info(path)
        assert info["geometry_type"] is None and info["crs"] is None and info["features"] == 60
    before = state(store)
    code, out, err = run("import", str(path), "--layer", "projects", "--author", "li.wei", "--store", str(store))
    assert code == 0 and "nothing to commit" in out, (out, err)
    assert state(store) == before
    # One deadline moved in the CSV: one project modified, read as the export's columns say.
    if ext == ".csv":
        text = path.read_text(encoding="utf-8-sig").replace(",2026-10-20,", ",2026-10-21,", 1)
        path.write_text(text, encoding="utf-8-sig")
        code, out, err = run("import", str(path), "--layer", "projects", "--author", "li.wei", "--store", str(store))
        assert code == 0 and "projects +0 ~1 -0" in out, (out, err)


def test_the_register_as_a_shapefile_is_its_dbase_table_alone(store: Path, tmp_path: Path) -> None:
    """Records have no shapes: the zip was a Point shapefile of 60 empty shapes with a .prj. It holds
    the dBASE table (which QGIS and Excel open) and reads back as the register's records. (Two
    projects' feature lists are longer than a dBASE text holds: the zip's fields.csv counts them
    cut, and only the GeoPackage or GeoJSON keeps them whole.)"""
    import zipfile

    from layers.io import read_layer_file

    path = tmp_path / "register.zip"
    code, _, err = run("export", "projects", "-o", str(path), "--store", str(store))
    assert code == 0, err
    names = zipfile.ZipFile(path).namelist()
    assert "projects.dbf" in names and not [n for n in names if n.endswith((".shp", ".shx", ".prj"))], names
    with Twin.open(store) as t:
        read = read_layer_file(path, t.layer("projects"))
        codes = sorted(orjson.loads(b)["properties"]["code"] for b in t.features("projects").features)
    assert sorted(f.properties["code"] for f in read.features) == codes and read.source_crs == ""


@pytest.mark.parametrize("batch", [None, "10"])
@pytest.mark.parametrize(
    "note",
    [
        "东侧草坪补植，" * 40,  # 840 bytes of UTF-8
        # cut after a space, which dBASE pads with and GDAL reads without: that cut note was taken as an edit
        "Replant the east lawn " * 20,
    ],
)
def test_a_shapefile_brought_back_keeps_the_long_texts_it_cut(
    store: Path, tmp_path: Path, batch: str | None, note: str
) -> None:
    """dBASE holds 254 bytes a text: the Shapefile export cut a long note (and counted it in its fields
    list), and the same zip imported back unedited stored the cut note, silently, as an edit."""
    with Twin.open(store) as t:
        lawn = orjson.loads(t.feature("landscaping", "ls-lawn-east"))
        lawn["properties"]["notes"] = note
        geom = shapely.from_geojson(orjson.dumps(lawn["geometry"]))
        t.commit([Change("landscaping", "modify", "ls-lawn-east", Feature("ls-lawn-east", geom, lawn["properties"]))],
                 author="li.wei", message="A long note")  # fmt: skip
    path = tmp_path / "landscaping.zip"
    code, _, err = run("export", "landscaping", "-o", str(path), "--store", str(store))
    assert code == 0, err
    before = state(store)
    code, out, err = run("import", str(path), "--layer", "landscaping", "--author", "li.wei",
                         *(["--batch", batch] if batch else []), "--store", str(store))  # fmt: skip
    assert code == 0 and "nothing to commit" in out and "kept whole" in err, (out, err)
    assert state(store) == before
    with Twin.open(store) as t:
        assert orjson.loads(t.feature("landscaping", "ls-lawn-east"))["properties"]["notes"] == note


def _register_zip_with(path: Path, project: str, cell: str) -> None:
    """The register's zip with `project`'s features cell in its dBASE table rewritten to `cell`, as an
    edit in place does (the record's other cells, the fields list and the version kept)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    dbf = members["projects.dbf"]
    header = int.from_bytes(dbf[8:10], "little")  # dBASE: header size, record size, then 32 bytes a field
    names = [dbf[i : i + 11].rstrip(b"\0") for i in range(32, header - 1, 32)]
    widths = [dbf[i + 16] for i in range(32, header - 1, 32)]
    k = names.index(b"features")
    at, width = 1 + sum(widths[:k]), widths[k]  # after the record's deletion flag
    step = int.from_bytes(dbf[10:12], "little")
    for start in range(header, len(dbf) - 1, step):
        if dbf[start + 1 : start + 1 + widths[0]].rstrip() == project.encode():  # feature_id, the first cell
            dbf = dbf[: start + at] + cell.encode().ljust(width) + dbf[start + at + width :]
            break
    else:
        raise AssertionError(f"no record {project}")
    with zipfile.ZipFile(path, "w") as z:
        for n, data in {**members, "projects.dbf": dbf}.items():
            z.writestr(n, data)


@pytest.mark.parametrize("batch", [None, "10"])
def test_the_register_as_a_shapefile_brought_back_keeps_the_feature_lists_it_cut(
    store: Path, tmp_path: Path, batch: str | None
) -> None:
    """LS-03's and LS-12's feature lists are longer, as JSON, than a dBASE text holds: the zip held them
    cut, and the same zip imported back unedited was refused, its cut references named as unknown ones
    ('["landscaping', '"land'). Kept as stored, as a cut text is; a list edited is the file's."""
    path = tmp_path / "register.zip"
    code, _, err = run("export", "projects", "-o", str(path), "--store", str(store))
    assert code == 0, err
    with Twin.open(store) as t:
        lists = {p: orjson.loads(t.feature("projects", p))["properties"]["features"] for p in ("LS-03", "LS-12")}
    before = state(store)
    code, out, err = run("import", str(path), "--layer", "projects", "--author", "li.wei",
                         *(["--batch", batch] if batch else []), "--store", str(store))  # fmt: skip
    assert code == 0 and "nothing to commit" in out and "kept whole" in err, (out, err)
    assert state(store) == before
    with Twin.open(store) as t:
        assert {p: orjson.loads(t.feature("projects", p))["properties"]["features"] for p in lists} == lists

    # A cut list edited in the file (a reference changed in what dBASE holds of it): the file cannot
    # say what the rest of the list is, so refused, saying so and where a list is kept whole.
    edited = tmp_path / "edited.zip"
    shutil.copy(path, edited)
    cut = orjson.dumps(lists["LS-03"]).decode()[:254]
    _register_zip_with(edited, "LS-03", cut.replace("ls-green-wall-02", "ls-green-wall-12"))
    code, out, err = run("import", str(edited), "--layer", "projects", "--author", "li.wei",
                         *(["--batch", batch] if batch else []), "--store", str(store))  # fmt: skip
    assert code == 2 and "projects/LS-03: features was cut to fit dBASE" in err and "GeoPackage" in err, (out, err)
    assert "no venue layer" not in err and "LS-12" not in err, err
    assert state(store) == before

    # A whole list written over the cut one is the file's, validated as any: an unknown reference is
    # refused as one, a known one committed.
    _register_zip_with(edited, "LS-03", '["landscaping/ls-green-wall-99"]')
    code, out, err = run("import", str(edited), "--layer", "projects", "--author", "li.wei", "--store", str(store))
    assert code == 2 and "ls-green-wall-99: no such feature" in err and "was cut to fit" not in err, (out, err)
    assert state(store) == before
    _register_zip_with(edited, "LS-03", '["landscaping/ls-green-wall-01"]')
    code, out, err = run("import", str(edited), "--layer", "projects", "--author", "li.wei", "--store", str(store))
    assert code == 0 and "projects +0 ~1 -0" in out, (out, err)
    with Twin.open(store) as t:
        now = {p: orjson.loads(t.feature("projects", p))["properties"]["features"] for p in lists}
    assert now == {**lists, "LS-03": ["landscaping/ls-green-wall-01"]}


def test_a_change_file_deleting_with_a_body_is_refused(store: Path, tmp_path: Path) -> None:
    """A delete that carries a geometry or properties is a mistake in the file (the README says it is
    refused); the change file's reader dropped the body and deleted the feature."""
    before = state(store)
    change = tmp_path / "change.geojson"
    change.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "sp-flower-display", "twin:layer": "south_plaza", "twin:op": "delete",
         "geometry": {"type": "Point", "coordinates": [121.3, 31.19]}, "properties": {}}]}))  # fmt: skip
    code, _, err = run("commit", str(change), "--author", "li.wei", "--store", str(store))
    assert code == 2 and "a delete carries no feature" in err, err
    assert state(store) == before
    # Null geometry and properties, as the format's own example writes a delete, are no body.
    feature = json.loads(change.read_text())
    feature["features"][0].update(geometry=None, properties=None)
    change.write_text(json.dumps(feature))
    code, out, err = run("commit", str(change), "--author", "li.wei", "--store", str(store))
    assert code == 0, err


def test_commit_a_change_file_then_revert_it(store: Path, tmp_path: Path) -> None:
    with Twin.open(store) as t:
        head = t.head()
        assert head is not None
        feature = orjson.loads(t.feature("south_plaza", "sp-flower-display"))
    feature["properties"]["pots"] = 600000
    change = tmp_path / "change.geojson"
    change.write_text(json.dumps({
        "type": "FeatureCollection",
        "twin:commit": {"author": "li.wei", "message": "More pots", "parent": head.id},
        "features": [{**feature, "twin:layer": "south_plaza", "twin:op": "modify"}]}))  # fmt: skip
    code, out, err = run("commit", str(change), "--store", str(store))
    assert code == 0, err
    # The same file again names a parent its feature changed after: a conflict, nothing lost.
    after = state(store)
    code, _, err = run("commit", str(change), "--store", str(store))
    assert code == 3 and "moved on" in err and "south_plaza/sp-flower-display" in err
    assert state(store) == after
    code, out, err = run("revert", "HEAD", "--author", "li.wei", "--store", str(store))
    assert code == 0, err
    with Twin.open(store) as t:
        assert orjson.loads(t.feature("south_plaza", "sp-flower-display"))["properties"]["pots"] != 600000
        assert t.store.commit_count() == after[1] + 1 and t.fsck() == []


def test_a_diff_committed_undoes_what_came_between_it_deletions_too(store: Path, tmp_path: Path) -> None:
    # A diff marks its features twin:change (added/modified/deleted) and names no twin:op: its
    # deletions were taken for upserts, so half the undo was silently left out.
    layers = ["--layer", "landscaping", "--layer", "halls", "--store", str(store)]

    def undo_to_september(*crs: str) -> Path:
        """The diff from the head back to 1 September, committed; the head is then as it was."""
        code, out, err = run("diff", "HEAD", "2026-09-01", *crs, *layers)
        assert code == 0, err
        doc = orjson.loads(out)
        assert {"deleted", "modified"} <= {f["twin:change"] for f in doc["features"]}, doc
        assert doc.get("twin:crs") == (crs[1] if crs else None), doc.get("twin:crs")
        undo = tmp_path / f"undo{'-'.join(crs)}.geojson"
        undo.write_text(out)
        code, _, err = run("commit", str(undo), "-m", f"back to 1 September {' '.join(crs)}", "--store", str(store))
        assert code == 0, err
        code, out, err = run("diff", "HEAD", "2026-09-01", "--stat", *layers)
        assert code == 0 and not out.strip(), out
        return undo

    undo = undo_to_september()
    # written against its twin:from, so the same undo again is a conflict, and nothing is lost
    after = state(store)
    code, _, err = run("commit", str(undo), "-m", "again", "--store", str(store))
    assert code == 3 and "moved on" in err, err
    assert state(store) == after
    # in another CRS (easting first, named as twin:crs) it commits back as exactly
    code, _, err = run("revert", "HEAD", "--author", "li.wei", "--store", str(store))
    assert code == 0, err
    undo_to_september("--crs", "EPSG:4549")
    after = state(store)
    # a mark that is no diff's, or one a twin:op contradicts, is refused naming it
    doc = orjson.loads(undo.read_bytes())
    for mark, op, why in (("renamed", None, "twin:change 'renamed'"), ("deleted", "add", "contradicts")):
        f = {**doc["features"][0], "twin:change": mark, **({"twin:op": op} if op else {})}
        bad = tmp_path / "bad.geojson"
        bad.write_bytes(orjson.dumps({**doc, "features": [f]}))
        code, _, err = run("commit", str(bad), "-m", "bad", "--store", str(store))
        assert code == 2 and why in err, err
    assert state(store) == after


def test_a_change_file_of_unreadable_geometries_is_refused_in_plain_words(store: Path, tmp_path: Path) -> None:
    """GEOS's wording reached the user ("ParseException: Error parsing JSON: '[json.exception...'")."""
    before = state(store)
    bed = {"code": "FB-X", "name_zh": "坏花坛", "name_en": "Bad bed", "kind": "flower_bed", "responsible_unit": "u"}
    change = tmp_path / "change.geojson"
    change.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "ls-bad-1", "twin:layer": "landscaping", "twin:op": "add",
         "geometry": {"type": "Polygon", "coordinates": "x"}, "properties": bed},
        {"type": "Feature", "id": "ls-bad-2", "twin:layer": "landscaping", "twin:op": "add",
         "geometry": {"type": "Circle", "coordinates": [121.295, 31.186]}, "properties": bed}]}))  # fmt: skip
    code, _, err = run("commit", str(change), "--store", str(store))
    assert code == 2, err
    assert "landscaping/ls-bad-1: feature #1: unreadable geometry: Polygon coordinates must be a list of rings" in err
    assert "landscaping/ls-bad-2: feature #2: unreadable geometry: geometry type 'Circle' is not a GeoJSON" in err
    assert "Exception" not in err and "json.exception" not in err and "nothing was committed" in err
    assert state(store) == before


def test_an_imported_file_of_unreadable_geometries_is_refused_in_plain_words(store: Path, tmp_path: Path) -> None:
    """GDAL hands on a geometry it cannot read as null, with a RuntimeWarning on stderr: the user
    read the warning and "no geometry". Each is named with why, as a change file's are, and the
    reason's own brackets ("[x, y]") survive the terminal's markup."""
    before = state(store)
    hall = {"code": "9.9H", "name_zh": "坏展馆", "name_en": "Bad hall", "level": 0, "hall_type": "exhibition",
            "responsible_unit": "u"}  # fmt: skip
    path = tmp_path / "halls.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "hall-bad-1", "properties": hall,
         "geometry": {"type": "Polygon", "coordinates": [[121.29, 31.19], [121.30, 31.19]]}},
        {"type": "Feature", "id": "hall-bad-2", "properties": {**hall, "code": "9.8H"},
         "geometry": {"type": "Circle", "coordinates": [121.29, 31.19]}}]}))  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "import", str(path), "--layer", "halls", "--store", str(store)],
        capture_output=True, text=True, timeout=SUBPROCESS, cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "VENUE_TWIN_AUTHOR": "qa"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert f"error: {path}: 2 problem(s)" in err, err  # the file named once, in the headline
    assert "halls/hall-bad-1: feature #1: unreadable geometry: Polygon coordinates must be a list of rings, " \
        "each a list of [x, y] positions" in err, err  # fmt: skip
    assert "halls/hall-bad-2: feature #2: unreadable geometry: geometry type 'Circle' is not a GeoJSON" in err
    assert "Warning" not in err and "no geometry" not in err and "nothing was committed" in err
    assert state(store) == before


def test_a_log_shows_messages_and_authors_as_written(store: Path) -> None:
    """Square brackets in a commit's message or author are text, not the terminal's markup."""
    with Twin.open(store) as t:
        t.revert("HEAD", author="Zhou Min [landscaping]", message="[draft] undo the last import")
    code, out, _ = run("log", "--store", str(store), "-n", "1")
    assert code == 0
    assert "Zhou Min [landscaping]" in out and "[draft] undo the last import" in out, out


def test_a_commit_with_no_named_author_is_refused_with_a_hint(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VENUE_TWIN_AUTHOR", raising=False)
    before = state(store)
    code, _, err = run("revert", "HEAD", "--store", str(store))
    assert code == 2 and "--author" in err and "VENUE_TWIN_AUTHOR" in err
    assert state(store) == before
    monkeypatch.setenv("VENUE_TWIN_AUTHOR", "Zhou Min <landscaping unit>")
    code, _, err = run("revert", "HEAD", "--store", str(store))
    assert code == 0, err
    with Twin.open(store) as t:
        assert t.head().author == "Zhou Min <landscaping unit>"  # type: ignore[union-attr]


def test_a_change_file_on_an_older_parent_is_applied_on_top_unless_strict(store: Path, tmp_path: Path) -> None:
    with Twin.open(store) as t:
        old = t.head()
        assert old is not None
        plaza = orjson.loads(t.feature("south_plaza", "sp-flower-display"))
        hall = orjson.loads(t.feature("halls", "hall-1.1H"))
    # Someone else commits to another feature after the file was written against `old`.
    plaza["properties"]["pots"] = 123
    theirs = tmp_path / "theirs.geojson"
    theirs.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "twin:commit": {"author": "zhou.min", "parent": old.id},
                "features": [{**plaza, "twin:layer": "south_plaza", "twin:op": "modify"}],
            }
        )
    )
    assert run("commit", str(theirs), "--store", str(store))[0] == 0
    hall["properties"]["notes"] = "checked"
    mine = tmp_path / "mine.geojson"
    mine.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "twin:commit": {"author": "li.wei", "parent": old.id},
                "features": [{**hall, "twin:layer": "halls", "twin:op": "modify"}],
            }
        )
    )
    before = state(store)
    code, _, err = run("commit", str(mine), "--store", str(store), "--strict")
    assert code == 3 and "moved on" in err
    assert state(store) == before
    code, out, err = run("commit", str(mine), "--store", str(store))
    assert code == 0, err
    with Twin.open(store) as t:
        head = t.head()
        assert head is not None and head.parent == before[0] and out.startswith(f"committed {head.id[:12]}")
        assert orjson.loads(t.feature("halls", "hall-1.1H"))["properties"]["notes"] == "checked"
        assert orjson.loads(t.feature("south_plaza", "sp-flower-display"))["properties"]["pots"] == 123
        assert t.store.commit_count() == before[1] + 1 and t.fsck() == []
    # --strict needs a parent to hold the head to.
    bare = tmp_path / "bare.geojson"
    bare.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "twin:commit": {"author": "li.wei"},
                "features": [{**hall, "twin:layer": "halls", "twin:op": "modify"}],
            }
        )
    )
    code, _, err = run("commit", str(bare), "--store", str(store), "--strict")
    assert code == 2 and "parent" in err


def test_fsck_reports_corruption_with_exit_1(store: Path) -> None:
    import sqlite3

    with sqlite3.connect(store) as c:
        c.execute("UPDATE twin_commits SET message = 'rewritten' WHERE seq = 2")
    code, _, err = run("fsck", "--store", str(store))
    assert code == 1 and "altered" in err


def test_gdal_command_line_lists_the_venue_layers(store: Path) -> None:
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.fail("GDAL's ogrinfo is not installed (apt-get install gdal-bin)")
    out = subprocess.run([ogrinfo, "-ro", "-q", str(store)], capture_output=True, text=True, check=True,
                         env={**os.environ, "CPL_DEBUG": "OFF"}).stdout  # fmt: skip
    listed = {line.split(": ", 1)[1].split(" ")[0] for line in out.splitlines() if ": " in line}
    assert {"venue_boundary", "halls", "south_plaza", "roads", "landscaping", "twin_commits"} <= listed
    assert not any(name.startswith("twin_version") for name in listed)
    with Twin.open(store) as t:
        n = t.count("halls")
    summary = subprocess.run([ogrinfo, "-ro", "-so", str(store), "halls"], capture_output=True, text=True, check=True)
    assert f"Feature Count: {n}" in summary.stdout


def test_init_makes_the_folder_of_a_new_twin(tmp_path: Path) -> None:
    """`make run` on a fresh clone inits data/venue-twin.gpkg before data/ exists."""
    path = tmp_path / "data" / "not-yet" / "venue-twin.gpkg"
    code, out, err = run("init", "--survey-checkpoints", "T-10", "--store", str(path))
    assert code == 0, err
    with Twin.open(path) as twin:
        assert twin.commit_count() > 10 and twin.fsck() == []
        # the demo surveys of that checkpoint, beside the twin: an orthophoto and an NDVI
        assert sorted((s.kind, s.date.isoformat()) for s in twin.surveys()) == [
            ("ndvi", "2026-10-26"),
            ("orthophoto", "2026-10-26"),
        ]
        assert all(twin.survey_path(s).is_file() for s in twin.surveys())
    assert (path.parent / "venue-twin.surveys").is_dir()


def test_init_refuses_bad_survey_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "venue.gpkg"
    code, out, err = run("init", "--survey-checkpoints", "ten", "--store", str(path))
    assert code == 2 and "--survey-checkpoints" in err and not path.exists()


def test_the_command_line_starts_without_the_heavy_libraries_no_command_needs_yet():
    """Every command line pays for what `cli.main` imports at start (an import's start-up is part of
    its features/s): pandas, geopandas, rasterio and the completion package come with the commands
    that use them."""
    import sys

    code = (
        "import sys, cli.main; "
        "print(' '.join(m for m in ('pandas', 'geopandas', 'rasterio', 'completion', 'pydantic_settings') "
        "if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=SUBPROCESS, cwd=repo
    )
    assert out.stdout.split() == []


# ---------------------------------------------------------------------------- an export brought back
def _edit_pots(path: Path, fid: str, pots: int) -> str:
    from twin import Change
    from twin.core import feature_from_geojson

    with Twin.open(path) as t:
        f = feature_from_geojson(t.feature("south_plaza", fid))
        f.properties["pots"] = pots
        return t.commit([Change("south_plaza", "modify", fid, f)], author="Zhou Min", message="pots corrected").id


def _south_plaza(path: Path) -> dict[str, dict[str, object]]:
    with Twin.open(path) as t:
        return {fid: orjson.loads(t.feature("south_plaza", fid))["properties"] for fid in t.feature_ids("south_plaza")}


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".zip"])
def test_an_old_export_brought_back_keeps_what_others_changed_since(store: Path, tmp_path: Path, ext: str) -> None:
    """Kart's rule for a working copy: a file exported at some version and edited is merged onto the
    head; what it gives as it was then is no change, so a colleague's correction since stays."""
    exported = tmp_path / f"sp{ext}"
    code, _, err = run("export", "south_plaza", "-o", str(exported), "--store", str(store))
    assert code == 0, err
    _edit_pots(store, "sp-flower-display", 600_000)  # a colleague's correction, after the export
    # The user edits another feature in the exported file, in place (as QGIS does).
    if ext == ".gpkg":
        subprocess.run(
            ["ogrinfo", str(exported), "-dialect", "SQLite", "-sql",
             "UPDATE south_plaza SET notes='checked' WHERE feature_id='sp-walkway-east'"],
            check=True, capture_output=True, timeout=SUBPROCESS,
        )  # fmt: skip
    elif ext == ".geojson":
        doc = json.loads(exported.read_text())
        next(f for f in doc["features"] if f["id"] == "sp-walkway-east")["properties"]["notes"] = "checked"
        exported.write_text(json.dumps(doc))
    before = _south_plaza(store)
    env = {"VENUE_TWIN_AUTHOR": "li.wei"}
    r = runner.invoke(app, ["import", str(exported), "--layer", "south_plaza", "--store", str(store)], env=env)
    after = _south_plaza(store)
    assert after["sp-flower-display"]["pots"] == 600_000, r.stderr  # the colleague's value stays
    if ext == ".zip":  # nothing edited in the file: nothing to commit, and nothing lost
        assert r.exit_code == 0 and "nothing to commit" in r.stdout and after == before
    else:
        assert r.exit_code == 0, r.stderr
        assert after["sp-walkway-east"].get("notes") == "checked"
        assert {k: v for k, v in after.items() if k != "sp-walkway-east"} == {
            k: v for k, v in before.items() if k != "sp-walkway-east"
        }
    assert "is a copy of" in r.stderr


@pytest.mark.parametrize("batch", [[], ["--batch", "1"]], ids=["whole", "batch"])
def test_a_copy_that_records_no_version_says_it_overwrote(store: Path, tmp_path: Path, batch: list[str]) -> None:
    """GDAL's copy of the OGC API (or any file from elsewhere) records no version, so its import
    replaced a colleague's later edit of a feature it gives, without a word; it now says so, also
    read in batches (the count summed over them; --batch said nothing)."""
    with Twin.open(store) as t:  # a plain GeoJSON of two features, as a file from elsewhere is
        fc = {
            "type": "FeatureCollection",
            "features": [orjson.loads(t.feature("south_plaza", fid)) for fid in ("sp-walkway-east", "sp-walkway-west")],
        }
    for f in fc["features"]:
        f["properties"]["notes"] = "from elsewhere"
    plain = tmp_path / "plain.geojson"
    plain.write_text(json.dumps(fc))
    r = runner.invoke(app, ["import", str(plain), "--layer", "south_plaza", "--store", str(store), *batch],
                      env={"VENUE_TWIN_AUTHOR": "li.wei"})  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "records no version of this twin" in r.stderr and "2 feature(s)" in r.stderr, r.stderr


def test_an_export_that_changed_what_others_changed_is_a_conflict(store: Path, tmp_path: Path) -> None:
    exported = tmp_path / "sp.geojson"
    assert run("export", "south_plaza", "-o", str(exported), "--store", str(store))[0] == 0
    _edit_pots(store, "sp-flower-display", 600_000)
    doc = json.loads(exported.read_text())
    next(f for f in doc["features"] if f["id"] == "sp-flower-display")["properties"]["pots"] = 595_000
    exported.write_text(json.dumps(doc))
    head, n, _ = state(store)
    env = {"VENUE_TWIN_AUTHOR": "li.wei"}
    r = runner.invoke(app, ["import", str(exported), "--layer", "south_plaza", "--store", str(store)], env=env)
    assert r.exit_code == 3 and "sp-flower-display changed since" in r.stderr
    assert state(store)[:2] == (head, n)
    # --parent HEAD: the file overwrites, as an import of a file from elsewhere does.
    r = runner.invoke(
        app, ["import", str(exported), "--layer", "south_plaza", "--store", str(store), "--parent", "HEAD"], env=env
    )
    assert r.exit_code == 0, r.stderr
    assert _south_plaza(store)["sp-flower-display"]["pots"] == 595_000


def _set_in_export(path: Path, edits: dict[str, dict[str, object]]) -> None:
    """Edit an exported file in place, as QGIS does: {feature id: {column: value}}."""
    if path.suffix == ".gpkg":
        for fid, values in edits.items():
            sets = ", ".join(f"{k}={v!r}" for k, v in values.items())
            subprocess.run(
                ["ogrinfo", str(path), "-dialect", "SQLite", "-sql", f"UPDATE south_plaza SET {sets} WHERE feature_id='{fid}'"],
                check=True, capture_output=True, timeout=SUBPROCESS,
            )  # fmt: skip
    else:
        doc = json.loads(path.read_text())
        for f in doc["features"]:
            f["properties"].update(edits.get(f["id"], {}))
        path.write_text(json.dumps(doc))


@pytest.mark.parametrize(("ext", "batch"), [(".gpkg", []), (".geojson", []), (".geojson", ["--batch", "2"])])
def test_an_export_from_before_a_field_was_renamed_is_read_with_its_fields(
    store: Path, tmp_path: Path, ext: str, batch: list[str]
) -> None:
    """A file exported before `layer alter --rename-field notes=remarks` has a notes column: it was
    read with the head's fields (notes ignored, remarks kept as stored) and every feature the rename
    rewrote counted as changed since, so the import exited 3. Read with the fields of the version it
    records and carried through the rename, its edits land; a real conflict names the field."""
    exported = tmp_path / f"sp{ext}"
    assert run("export", "south_plaza", "-o", str(exported), "--store", str(store))[0] == 0
    env = {"VENUE_TWIN_AUTHOR": "li.wei"}
    r = runner.invoke(
        app, ["layer", "alter", "south_plaza", "--rename-field", "notes=remarks", "--store", str(store)], env=env
    )
    assert r.exit_code == 0, r.stderr
    _edit_pots(store, "sp-entrance-square", 12)  # a colleague's edit after the rename
    renamed = _south_plaza(store)
    assert renamed["sp-flower-display"]["remarks"].startswith("2026 design")  # the rename rewrote it
    # the file edits the feature the rename rewrote and one it did not
    _set_in_export(exported, {"sp-flower-display": {"notes": "checked"}, "sp-walkway-east": {"notes": "checked too"}})
    conflicting = tmp_path / f"conflicting{ext}"
    shutil.copy(exported, conflicting)
    _set_in_export(conflicting, {"sp-entrance-square": {"pots": 7}})
    r = runner.invoke(app, ["import", str(exported), "--layer", "south_plaza", "--store", str(store), *batch], env=env)
    assert r.exit_code == 0, r.stderr
    after = _south_plaza(store)
    assert after["sp-flower-display"]["remarks"] == "checked" and after["sp-walkway-east"]["remarks"] == "checked too"
    assert after["sp-entrance-square"]["pots"] == 12  # the colleague's edit stays
    assert all("notes" not in p for p in after.values())
    assert {k: v for k, v in after.items() if k not in ("sp-flower-display", "sp-walkway-east")} == {
        k: v for k, v in renamed.items() if k not in ("sp-flower-display", "sp-walkway-east")
    }
    assert "notes" in r.stderr and "remarks" in r.stderr, r.stderr  # the note says what it carried
    # the file and a colleague both changed sp-entrance-square's pots: exit 3 naming it and the field
    head, n, _ = state(store)
    r = runner.invoke(
        app, ["import", str(conflicting), "--layer", "south_plaza", "--store", str(store), *batch], env=env
    )
    assert r.exit_code == 3, r.stderr
    assert "sp-entrance-square" in r.stderr and "pots" in r.stderr, r.stderr
    assert state(store)[:2] == (head, n)


def test_replace_with_an_old_export_keeps_a_feature_added_since(store: Path, tmp_path: Path) -> None:
    """--mode replace deletes what the file lacks, but only what the file could have had: a feature
    added after the export is not the copy's to delete."""
    from twin import Change, Feature

    exported = tmp_path / "sp.gpkg"
    assert run("export", "south_plaza", "-o", str(exported), "--store", str(store))[0] == 0
    with Twin.open(store) as t:
        t.commit(
            [Change("south_plaza", "add", "sp-kiosk", Feature("sp-kiosk", shapely.box(121.2960, 31.1860, 121.2961, 31.1861),
                                                             {"code": "SP-K", "zone_type": "walkway", "name_zh": "亭", "name_en": "Kiosk",
                                                              "responsible_unit": "NECC"}))],
            author="Zhou Min", message="a kiosk",
        )  # fmt: skip
    subprocess.run(
        ["ogrinfo", str(exported), "-dialect", "SQLite", "-sql", "DELETE FROM south_plaza WHERE feature_id='sp-walkway-west'"],
        check=True, capture_output=True, timeout=SUBPROCESS,
    )  # fmt: skip
    env = {"VENUE_TWIN_AUTHOR": "li.wei"}
    r = runner.invoke(
        app, ["import", str(exported), "--layer", "south_plaza", "--mode", "replace", "--store", str(store)], env=env
    )
    assert r.exit_code == 0, r.stderr
    ids = set(_south_plaza(store))
    assert "sp-kiosk" in ids and "sp-walkway-west" not in ids


def test_serve_behind_a_proxy_at_a_sub_path(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator putting the service behind a reverse proxy at /twin/ had no way to tell it so:
    `serve` took no root path, so every link and page pointed at the proxy's root (the maps loaded
    none of their scripts). VENUE_TWIN_ROOT_PATH (or --root-path) reaches the server; a path
    without its leading slash is refused."""
    import httpx
    from api_server import LiveServer
    from deadlines import HTTP

    s = LiveServer(built, tmp_path / "serve.log", cli=True, env={"VENUE_TWIN_ROOT_PATH": "/twin/"})
    try:
        page = httpx.get(s.url + "/maps/completion", timeout=HTTP).text
        assert "/twin/static/" in page and '"/static/' not in page, page[:2000]
        links = [lk["href"] for lk in httpx.get(s.url + "/", timeout=HTTP).json()["links"]]
        assert links and all(h.startswith(s.url + "/twin/") for h in links), links
    finally:
        s.stop()
    assert "links are under /twin/" in (tmp_path / "serve.log").read_text()
    # `serve` hands its options to its worker processes in the environment: put back after the test
    monkeypatch.setenv("VENUE_TWIN_ROOT_PATH", "")
    monkeypatch.setenv("VENUE_TWIN_STORE", str(built))
    r = runner.invoke(app, ["serve", "--store", str(built), "--root-path", "twin"])
    assert r.exit_code == 2 and "VENUE_TWIN_ROOT_PATH" in r.stderr, r.output


def test_serve_on_an_address_taken_is_refused_naming_it(built: Path) -> None:
    """uvicorn said "address already in use" after "Application startup complete" and exited 3,
    which this CLI's scripts read as a conflict of edits: bad input, exit 2, naming the address."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = runner.invoke(app, ["serve", "--store", str(built), "--port", str(port)])
    assert r.exit_code == 2 and f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr, (r.exit_code, r.output)


def test_fsck_of_a_damaged_file_reports_it(store: Path) -> None:
    """A backup damaged in the middle (a disk's bad block) made fsck stop with a sqlite3 traceback;
    it is a corrupt twin: exit 1 with the damage named, as for any other problem."""
    with Twin.open(store) as t:
        (message_seq,) = [s for s in range(1, t.store.commit_count() + 1) if t.store.commit_by_seq(s).message][:1]
        message = t.store.commit_by_seq(message_seq).message.encode()
    data = bytearray(store.read_bytes())
    at = data.find(message)
    assert at > 0
    data[at : at + len(message)] = b"\xff" * len(message)  # the text is no longer UTF-8
    store.write_bytes(bytes(data))
    code, out, err = run("fsck", "--store", str(store))
    assert code == 1 and "damaged" in err and "Traceback" not in out + err, (code, out, err)


# ---------------------------------------------------------------------------- round trips edited outside
def _props(path: Path, layer: str) -> dict[str, dict[str, object]]:
    with Twin.open(path) as t:
        return {fid: orjson.loads(t.feature(layer, fid))["properties"] for fid in t.feature_ids(layer)}


def test_a_file_without_a_fields_column_keeps_that_field_as_stored(store: Path, tmp_path: Path) -> None:
    """GDAL's copy of the OGC API left out `trees` (null on its first page): the column missing
    altogether is not an edit to null on every feature; an empty cell still is."""
    exported = tmp_path / "ls.geojson"
    assert run("export", "landscaping", "-o", str(exported), "--store", str(store))[0] == 0
    doc = json.loads(exported.read_text())
    doc.pop("twin:version")  # a file from elsewhere: imported onto the head
    for f in doc["features"]:
        f["properties"].pop("trees", None)
        if f["id"] == "ls-trees-songze":
            f["properties"]["notes"] = "checked"
    exported.write_text(json.dumps(doc))
    before = _props(store, "landscaping")
    assert before["ls-trees-songze"]["trees"] is not None
    r = runner.invoke(app, ["import", str(exported), "--layer", "landscaping", "--store", str(store)],
                      env={"VENUE_TWIN_AUTHOR": "li.wei"})  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "~1 " in r.stdout and "no column trees" in r.stderr
    after = _props(store, "landscaping")
    assert after["ls-trees-songze"] == {**before["ls-trees-songze"], "notes": "checked"}


def test_an_export_imported_twice_commits_only_its_new_edit(store: Path, tmp_path: Path) -> None:
    """The second import of the same edited file gives hall-5.1H as the head has it (the first
    import's own change): the same change on both sides, not a conflict (as Kart merges)."""
    exported = tmp_path / "h.gpkg"
    assert run("export", "halls", "-o", str(exported), "--store", str(store))[0] == 0
    env = {"VENUE_TWIN_AUTHOR": "li.wei"}
    for hall in ("hall-5.1H", "hall-6.1H"):
        subprocess.run(
            ["ogrinfo", str(exported), "-dialect", "SQLite", "-sql",
             f"UPDATE halls SET notes='seen {hall}' WHERE feature_id='{hall}'"],
            check=True, capture_output=True, timeout=SUBPROCESS,
        )  # fmt: skip
        r = runner.invoke(app, ["import", str(exported), "--layer", "halls", "--store", str(store)], env=env)
        assert r.exit_code == 0, r.stderr
        assert "halls +0 ~1 -0" in r.stdout
    halls = _props(store, "halls")
    assert halls["hall-5.1H"]["notes"] == "seen hall-5.1H" and halls["hall-6.1H"]["notes"] == "seen hall-6.1H"


def test_an_export_before_the_history_is_refused_and_writes_nothing(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "sp.gpkg"
    code, _, err = run("export", "south_plaza", "-o", str(out), "--asof", "2020-01-01", "--store", str(store))
    assert code == 2 and "history starts on" in err
    assert not out.exists()


def test_a_feature_added_in_a_gis_to_an_export_gets_a_new_id(store: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    exported = tmp_path / "sp.gpkg"
    assert run("export", "south_plaza", "-o", str(exported), "--store", str(store))[0] == 0
    added = gpd.GeoDataFrame(
        {"feature_id": [None], "code": ["SP-K"], "zone_type": ["walkway"], "name_zh": ["亭"], "name_en": ["Kiosk"],
         "responsible_unit": ["NECC"]},
        geometry=[shapely.box(121.2960, 31.1860, 121.2961, 31.1861)], crs="EPSG:4326",
    )  # fmt: skip
    pyogrio.write_dataframe(added, exported, layer="south_plaza", append=True)
    before = _props(store, "south_plaza")
    r = runner.invoke(app, ["import", str(exported), "--layer", "south_plaza", "--store", str(store)],
                      env={"VENUE_TWIN_AUTHOR": "li.wei"})  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "1 feature(s) without a feature_id got new ids" in r.stderr
    after = _props(store, "south_plaza")
    (new,) = set(after) - set(before)
    assert after[new]["code"] == "SP-K" and str(uuid.UUID(new)) == new


def test_a_diff_bigger_than_the_pipe_cut_off_by_its_reader_exits_141(store: Path) -> None:
    """One write of more than the pipe holds: the reader going away part way returned a short
    count rather than an error, and the rest was dropped with exit 0."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    p = subprocess.Popen([sys.executable, "-m", "cli.main", "diff", "2020-01-01", "HEAD", "--store", str(store)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    assert p.stdout is not None
    assert len(p.stdout.read(100)) == 100  # `| head -c 100`
    p.stdout.close()
    assert p.wait(timeout=SUBPROCESS) == 141


@pytest.mark.parametrize("args", [("--help",), ("log", "--help"), ()], ids=" ".join)
def test_help_cut_off_by_its_reader_exits_141_without_a_traceback(args: tuple[str, ...]) -> None:
    """`venue-twin --help | head -1` exited 1 (documented as "the twin is corrupt"): typer prints the
    help through a rich console of its own, which turns a broken pipe into exit 1, and click's
    main does the same with one raised while it parses. As every command's output: 141."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line is written: every write fails
    try:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], stdout=write, stderr=subprocess.PIPE,
                              env=env, timeout=SUBPROCESS)  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode in (0, 141) if args else done.returncode in (2, 141), (done.returncode, done.stderr)
    assert b"Traceback" not in done.stderr, done.stderr
    if args == ("--help",):  # a usage error whose report is cut off keeps its code, 2
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run([sys.executable, "-m", "cli.main", "--no-such-option"], stdout=write, stderr=write,
                                  env=env, timeout=SUBPROCESS)  # fmt: skip
        finally:
            os.close(write)
        assert done.returncode == 2


def test_a_console_print_bigger_than_the_pipe_raises_when_its_reader_goes() -> None:
    import io
    import threading

    from cli.pipes import Console

    read, write = os.pipe()
    stream = io.TextIOWrapper(io.FileIO(write, "w"), encoding="utf-8")

    def head() -> None:
        os.read(read, 100)
        os.close(read)

    reader = threading.Thread(target=head)
    reader.start()
    try:
        with pytest.raises(BrokenPipeError):
            Console(file=stream, width=100).print(("y" * 99 + "\n") * 2000)  # 200 kB, one write
    finally:
        reader.join(timeout=SUBPROCESS)
        with contextlib.suppress(BrokenPipeError):  # what it still holds has nowhere to go
            stream.close()


# ---------------------------------------------------------------------------- bad input said, not acted on
@pytest.fixture
def no_server(built: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """uvicorn.run replaced by a recorder: a `serve` that gets as far as starting the server is seen,
    not left running. (`serve` hands its store to its workers in the environment: put back after.)"""
    import uvicorn

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k))
    monkeypatch.setenv("VENUE_TWIN_STORE", str(built))
    return started


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "65535"),  # was served on 34463 (99999 - 65536) while saying 99999
        (["--port", "65536"], "65535"),
        (["--port", "0"], "65535"),  # was served on 8000 while asked for 0
        (["--workers", "0"], "--workers"),
    ],
)
def test_serve_refuses_a_port_or_workers_out_of_range(
    built: Path, no_server: list[dict[str, object]], args: list[str], said: str
) -> None:
    r = runner.invoke(app, ["serve", "--store", str(built), *args])
    assert r.exit_code == 2 and not no_server, (r.exit_code, no_server, r.output)
    assert args[0] in r.stderr and said in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # /items gave numberReturned 0 with a next link of limit=0, /api advertised default 0 (minimum 1)
        ({"VENUE_TWIN_DEFAULT_LIMIT": "0"}, "VENUE_TWIN_DEFAULT_LIMIT='0': takes a whole number of at least 1"),
        ({"VENUE_TWIN_MAX_LIMIT": "0"}, "VENUE_TWIN_MAX_LIMIT='0': takes a whole number of at least 1"),
        # every write answered 413 "over the limit of -1 bytes"
        ({"VENUE_TWIN_MAX_BODY_BYTES": "-1"}, "VENUE_TWIN_MAX_BODY_BYTES='-1': takes a whole number of at least 1"),
        (
            {"VENUE_TWIN_DEFAULT_LIMIT": "500", "VENUE_TWIN_MAX_LIMIT": "100"},
            "VENUE_TWIN_DEFAULT_LIMIT (500) is above VENUE_TWIN_MAX_LIMIT (100)",
        ),
        ({"VENUE_TWIN_PORT": "70000"}, "VENUE_TWIN_PORT='70000': takes a whole number from 1 to 65535"),
        ({"VENUE_TWIN_PORT": "0"}, "VENUE_TWIN_PORT='0': takes a whole number from 1 to 65535"),
        ({"VENUE_TWIN_HEADER_TIMEOUT": "-2"}, "VENUE_TWIN_HEADER_TIMEOUT='-2': takes a number above 0"),
        ({"VENUE_TWIN_BODY_TIMEOUT": "inf"}, "VENUE_TWIN_BODY_TIMEOUT='inf': "),
        ({"VENUE_TWIN_READ_INDEX_MB": "-1"}, "VENUE_TWIN_READ_INDEX_MB='-1': takes a whole number of at least 0"),
        ({"VENUE_TWIN_SURVEY_MAX_BYTES": "0"}, "VENUE_TWIN_SURVEY_MAX_BYTES='0': takes a whole number of at least 1"),
        (
            {"VENUE_TWIN_SURVEY_MAX_PIXELS": "-5"},
            "VENUE_TWIN_SURVEY_MAX_PIXELS='-5': takes a whole number of at least 1",
        ),
    ],
)
def test_serve_refuses_a_setting_out_of_range_naming_it(
    built: Path,
    no_server: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    said: str,
) -> None:
    """The README says the settings are checked at start: these started the server, which then
    answered every page (or every write) wrongly."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = runner.invoke(app, ["serve", "--store", str(built)])
    assert r.exit_code == 2 and not no_server, (r.exit_code, no_server, r.output)
    assert said in r.stderr and "Traceback" not in r.output, r.stderr


def test_a_maximum_page_size_alone_below_the_default_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """VENUE_TWIN_MAX_LIMIT=5 contradicts no default the operator gave: pages default to 5, as /api says."""
    from api.settings import ApiSettings

    monkeypatch.setenv("VENUE_TWIN_MAX_LIMIT", "5")
    assert (ApiSettings().default_limit, ApiSettings().max_limit) == (5, 5)
    monkeypatch.setenv("VENUE_TWIN_DEFAULT_LIMIT", "5")
    assert ApiSettings().default_limit == 5


def test_a_diff_to_a_date_before_the_history_is_refused_as_the_api_refuses_it(store: Path) -> None:
    """`diff HEAD 2010-01-01` listed every feature as deleted and exited 0, while the API's /diff
    answers 404 no_data_then: the same sentence, exit 2. `from` before the history stays the empty
    twin on purpose (the whole twin as added), as the API has it."""
    from twin.core import no_data

    with Twin.open(store) as t:
        why = no_data(t, 0, "2010-01-01")
        at_checkpoint = no_data(t, 0, "T-400")
    assert why is not None and at_checkpoint is not None
    code, out, err = run("diff", "HEAD", "2010-01-01", "--stat", "--store", str(store))
    assert code == 2 and out == "" and f"to: {why.text}" in err, (code, out, err)
    code, out, err = run("diff", "HEAD~3", "T-400", "--store", str(store))
    assert code == 2 and out == "" and f"to: {at_checkpoint.text}" in err, (code, out, err)
    code, out, _ = run("diff", "2010-01-01", "HEAD", "--stat", "--store", str(store))
    assert code == 0 and "halls: +17 ~0 -0" in out, out


@pytest.mark.parametrize(
    "args",
    [
        ["layer", "show", "halls", "--version", "2010-01-01"],  # printed the schema, exit 0
        ["raster", "list", "--asof", "2010-01-01"],  # "no surveys recorded", exit 0
        ["export", "halls", "-o", "{tmp}/h.geojson", "--asof", "2010-01-01"],
    ],
)
def test_other_reads_as_of_a_date_before_the_history_say_so(store: Path, tmp_path: Path, args: list[str]) -> None:
    code, out, err = run(*[a.format(tmp=tmp_path) for a in args], "--store", str(store))
    assert code == 2 and "the twin has no data on 2010-01-01: its history starts on" in err, (code, out, err)


def test_a_diff_naming_no_version_says_what_names_one_as_show_does(store: Path) -> None:
    """`diff HEAD~3 nosuch` said only "not an RFC 3339 timestamp ... or a date", though a commit id
    or HEAD~n is what it takes first; `show nosuch` names the versions. One resolver, one sentence."""
    code, _, shown = run("show", "nosuch", "--store", str(store))
    assert code == 2
    words = "version 'nosuch' is not a commit id (hex, at least 4 characters), HEAD"
    assert words in shown, shown
    code, _, err = run("diff", "HEAD~3", "nosuch", "--store", str(store))
    assert code == 2 and words in err and "a date" in err and "RFC 3339 timestamp such as" not in err, err
    # what looks like a date is still said to be no date
    code, _, err = run("diff", "HEAD~3", "2026-13-01", "--store", str(store))
    assert code == 2 and "'2026-13-01' is not an RFC 3339 timestamp" in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["export", "halls", "-o", "{out}.gpkg", "--store", "{store}"],  # made the directory and wrote there, exit 0
        ["projects", "sample", "{out}.xlsx"],  # a FileNotFoundError traceback, exit 1
        ["projects", "export", "{out}.xlsx", "--store", "{store}"],
        ["projects", "export", "{out}.csv", "--status", "--store", "{store}"],
        ["map", "changes", "-o", "{out}.html", "--store", "{store}"],
        ["brief", "-o", "{out}.pdf", "--store", "{store}"],
    ],
)
def test_a_file_written_into_a_directory_not_there_is_refused_and_nothing_made(
    store: Path, tmp_path: Path, args: list[str]
) -> None:
    missing = tmp_path / "nosuch" / "dir"
    code, out, err = run(*[a.format(out=missing / "x", store=store) for a in args])
    assert code == 2 and f"directory {missing} does not exist" in err and "Traceback" not in err, (code, out, err)
    assert not (tmp_path / "nosuch").exists()


# ---------------------------------------------------------------------------- text a terminal prints
def test_a_token_name_with_a_line_break_or_an_escape_is_refused(store: Path) -> None:
    """A name is one line of text: a line feed and an ESC in one forged a line of `venue-twin log`."""
    for name in ("evil\n0000 forged line\x1b[31m", "evil\x1b[31m", "ev\u202eil", "x" * 201):
        code, out, err = run("token", "create", "--name", name, "--role", "editor", "--store", str(store))
        assert code == 2, (name, out, err)
        assert "the token's name" in err and "vt_" not in out
    with Twin.open(store) as t:
        assert t.tokens.list() == []


def test_a_token_name_in_use_by_a_live_token_is_refused(store: Path) -> None:
    code, out, _ = run("token", "create", "--name", "ad.min", "--role", "admin", "--store", str(store))
    assert code == 0 and out.startswith("vt_")
    code, out, err = run("token", "create", "--name", "ad.min", "--role", "editor", "--store", str(store))
    assert code == 2 and "'ad.min'" in err and "vt_" not in out
    with Twin.open(store) as t:
        assert [(k.name, k.role) for k in t.tokens.list()] == [("ad.min", "admin")]
    # once revoked, the name is free again
    assert run("token", "revoke", "ad.min", "--store", str(store))[0] == 0
    code, out, _ = run("token", "create", "--name", "ad.min", "--role", "editor", "--store", str(store))
    assert code == 0 and out.startswith("vt_")


def _stored_unchecked(store: Path, author: str, message: str, note: str) -> None:
    """A commit as one made before the twin refused control characters: the checks skipped."""
    from unittest import mock

    with (
        Twin.open(store) as t,
        mock.patch("twin.core.commit_text_problem", return_value=None),
        mock.patch("twin.validation._value_text_why", return_value=None),
        mock.patch("twin.validation.control_character", return_value=None),
    ):
        props = orjson.loads(t.feature("projects", "RD-03"))["properties"]
        props.update(
            progress_note=note, percent_complete=80.0, progress_date="2026-11-20", progress_reporter=author
        )  # a report
        change = Change("projects", "modify", "RD-03", Feature("RD-03", None, props))
        t.commit([change], author=author, message=message)


def test_log_and_history_print_stored_control_characters_as_visible_escapes(store: Path) -> None:
    _stored_unchecked(store, "evil\n0000 forged\x1b[31m", "\x1b[2Jnote\nline2\u202e", "n\x1b[2J")
    code, out, err = run("log", "--store", str(store), "-n", "1")
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out
    assert "evil\\x0a0000 forged\\x1b[31m" in out and "\\x1b[2Jnote\\x0aline2\\u202e" in out
    assert len(out.splitlines()) == 2  # the commit's line and its counts: nothing forged
    code, out, _ = run("summary", "--store", str(store))
    assert code == 0 and "\x1b" not in out
    code, out, _ = run("history", "projects", "RD-03", "--store", str(store))
    assert code == 0 and "\x1b" not in out and "\\x1b[2Jnote" in out
    code, out, _ = run("progress", "show", "RD-03", "--version", "HEAD", "--store", str(store))
    assert code == 0 and "\x1b" not in out and "n\\x1b[2J" in out
