"""The twin file opens styled in QGIS: layer_styles (QML + SLD) and qgis_projects, read back.

QGIS is not installed here, so the tables are checked the way QGIS reads them: the columns QGIS
queries, well-formed QML and SLD whose rules name fields the tables have, and a .qgz project
whose .qgs names every styled layer in the GeoPackage.
"""

from __future__ import annotations

import io
import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from datetime import datetime
from pathlib import Path

import orjson
import pytest
import shapely

from completion import STATUS_COLOURS
from completion.qgis import PROJECT_NAME, head_statuses
from layers.bundle import build_bundled_twin
from layers.catalogue import ROAD_CLASSES
from layers.qgis_styles import STACK
from twin.model import Change, Feature

SE = "{http://www.opengis.net/se}"
OGC = "{http://www.opengis.net/ogc}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("qgis") / "venue.gpkg"
    twin = build_bundled_twin(path)
    yield twin, path
    twin.close()


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _styles(path: Path) -> dict[str, dict]:
    with _db(path) as c:
        c.row_factory = sqlite3.Row
        rows = c.execute("SELECT * FROM layer_styles").fetchall()
    out = {r["f_table_name"]: dict(r) for r in rows}
    assert len(out) == len(rows), "one default style per layer"
    return out


def _columns(path: Path, table: str) -> set[str]:
    with _db(path) as c:
        return {r[1] for r in c.execute(f'PRAGMA table_info("{table}")')}


def _rules(qml: ET.Element) -> list[ET.Element]:
    return list(qml.iter("rule"))


def _qml_fields(qml: ET.Element) -> set[str]:
    """Fields named in rule filters, the order-by and the label expression (written as "field")."""
    texts = [r.get("filter", "") for r in _rules(qml)]
    texts += [c.text or "" for c in qml.iter("orderByClause")]
    texts += [t.get("fieldName", "") for t in qml.iter("text-style")]
    return {m for t in texts for m in re.findall(r'"([a-z_0-9]+)"', t)}


def _project(path: Path) -> ET.Element:
    with _db(path) as c:
        rows = c.execute("SELECT name, metadata, content FROM qgis_projects").fetchall()
    assert [r[0] for r in rows] == [PROJECT_NAME]
    assert orjson.loads(rows[0][1])  # QGIS's JSON metadata
    with zipfile.ZipFile(io.BytesIO(rows[0][2])) as z:  # a .qgz: a zip holding the .qgs
        [name] = z.namelist()
        assert name == f"{PROJECT_NAME}.qgs"
        return ET.fromstring(z.read(name))


def test_every_venue_layer_has_a_default_style_in_qgis_columns(built) -> None:
    twin, path = built
    styles = _styles(path)
    assert set(styles) == {s.name for s in twin.layers() if s.spatial} == set(STACK)
    with _db(path) as c:
        registered = dict(c.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
    assert registered["layer_styles"] == "attributes"  # as QGIS registers the table it creates
    assert "qgis_projects" not in registered
    for layer, row in styles.items():
        assert row["useAsDefault"] == 1 and row["f_geometry_column"] == "geom", layer
        assert row["styleName"] and row["update_time"], layer
        qml = ET.fromstring(row["styleQML"])
        assert qml.tag == "qgis" and qml.find("renderer-v2").get("type") == "RuleRenderer"  # type: ignore[union-attr]
        fields = _qml_fields(qml)
        assert fields and fields <= _columns(path, layer), (layer, fields)
        sld = ET.fromstring(row["styleSLD"])
        assert sld.find(f"{{http://www.opengis.net/sld}}NamedLayer/{SE}Name").text == layer  # type: ignore[union-attr]
        named = {p.text for p in sld.iter(f"{OGC}PropertyName")}
        assert named and named <= _columns(path, layer), (layer, named)
        assert len(list(sld.iter(f"{SE}Rule"))) >= len([r for r in _rules(qml) if r.get("symbol")])


def test_styles_say_level_green_class_and_bilingual_labels(built) -> None:
    _, path = built
    styles = {k: ET.fromstring(v["styleQML"]) for k, v in _styles(path).items()}
    halls = [r.get("filter") for r in _rules(styles["halls"])]
    assert "\"level\" = '0m'" in halls and "\"level\" = '16m'" in halls
    assert [c.text for c in styles["halls"].iter("orderByClause")] == ['"level"']  # 16 m drawn over 0 m
    roads = {r.get("filter") for r in _rules(styles["roads"])}
    assert {f"\"road_class\" = '{c}'" for c in ROAD_CLASSES} <= roads
    lawn = next(r for r in _rules(styles["landscaping"]) if r.get("filter") == "\"kind\" = 'lawn'")
    symbol = next(s for s in styles["landscaping"].iter("symbol") if s.get("name") == lawn.get("symbol"))
    colour = next(o.get("value") for o in symbol.iter("Option") if o.get("name") == "color")
    r, g, b, _ = (int(v) for v in colour.split(","))  # type: ignore[union-attr]
    assert g > r and g > b  # green as green
    for layer in ("halls", "roads", "landscaping", "south_plaza"):
        label = next(styles[layer].iter("text-style")).get("fieldName", "")
        assert '"name_zh"' in label and '"name_en"' in label, layer


def test_project_features_are_coloured_by_status_as_of_the_head(built) -> None:
    twin, path = built
    statuses, day = head_statuses(twin)
    assert statuses and day
    styles = {k: ET.fromstring(v["styleQML"]) for k, v in _styles(path).items()}
    for layer in ("halls", "south_plaza", "roads", "landscaping"):
        expected: dict[str, set[str]] = {}
        for key, status in statuses.items():
            name, _, fid = key.partition("/")
            if name == layer:
                expected.setdefault(status, set()).add(fid)
        found: dict[str, set[str]] = {}
        colours: dict[str, str] = {}
        for rule in _rules(styles[layer]):
            f = rule.get("filter", "")
            if f.startswith('"feature_id"'):
                ids = (
                    set(f.split("(", 1)[1].rstrip(")").replace("'", "").split(", "))
                    if " IN " in f
                    else {f.split("= ", 1)[1].strip("'")}
                )
                status = next(s for s in STATUS_COLOURS if rule.get("label", "").endswith(_en(s)))
                found[status] = ids
                sym = next(s for s in styles[layer].iter("symbol") if s.get("name") == rule.get("symbol"))
                key = "line_color" if layer == "roads" else "color"
                colours[status] = next(o.get("value") for o in sym.iter("Option") if o.get("name") == key)  # type: ignore[misc]
        assert found == expected, layer
        for status, rgba in colours.items():
            hexed = "#" + "".join(f"{int(v):02x}" for v in rgba.split(",")[:3])
            assert hexed == STATUS_COLOURS[status], (layer, status)


def _en(status: str) -> str:
    from completion import STATUS_LABELS

    return STATUS_LABELS[status][1]


def test_the_project_opens_the_venue_framed_and_layered(built) -> None:
    twin, path = built
    qgs = _project(path)
    layers = qgs.findall("projectlayers/maplayer")
    sources = [m.findtext("datasource") for m in layers]
    assert sources == [f"./{path.name}|layername={name}" for name in reversed(STACK)]  # every layer, top first
    tree = [e.get("source") for e in qgs.iter("layer-tree-layer")]
    assert tree == sources
    for m in layers:
        assert m.find("renderer-v2") is not None
    ext = qgs.find("mapcanvas/extent")
    assert ext is not None
    box = shapely.box(*(float(ext.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")))
    site = shapely.from_geojson(orjson.dumps(orjson.loads(twin.feature("venue_boundary", "boundary-site"))["geometry"]))
    assert box.contains(site) and box.area < 4 * site.envelope.area  # framed on the venue, not the world


def test_a_commit_that_changes_what_they_show_rewrites_them(built) -> None:
    twin, path = built
    head = twin.head()
    assert head is not None
    props = {
        "code": "LS-QGIS-1",
        "name_zh": "测试花坛",
        "name_en": "Test bed",
        "kind": "flower_bed",
        "responsible_unit": "unit",
    }
    bed = shapely.box(121.2960, 31.1880, 121.2962, 31.1881)
    added = twin.commit(
        [Change("landscaping", "add", "ls-qgis-test", Feature("ls-qgis-test", bed, props))],
        author="t",
        message="add",
        time=datetime.fromisoformat("2026-10-30T09:00:00+08:00"),
    )
    properties = _project(path).find("properties")
    assert properties is not None and properties.findtext("head") == added.id
    # the same day, an attribute edit: the statuses cannot change, so the tables are left alone
    edited = twin.commit(
        [Change("landscaping", "modify", "ls-qgis-test", Feature("ls-qgis-test", bed, {**props, "pots": 10}))],
        author="t",
        message="edit",
        time=datetime.fromisoformat("2026-10-30T10:00:00+08:00"),
    )
    assert edited.id != added.id
    assert _project(path).find("properties").findtext("head") == added.id  # type: ignore[union-attr]


def test_a_copied_twin_file_carries_them_under_its_own_name(built, tmp_path: Path) -> None:
    from twin.copying import copy_twin

    _, path = built
    dest = tmp_path / "copy-of-venue.gpkg"
    copy_twin(path, dest)
    assert set(_styles(dest)) == set(STACK)
    sources = [m.findtext("datasource") for m in _project(dest).findall("projectlayers/maplayer")]
    assert sources and all(s is not None and s.startswith(f"./{dest.name}|") for s in sources)


def test_a_report_that_moves_no_project_to_another_status_leaves_the_styles_as_they_are(tmp_path: Path) -> None:
    """Styles name every project by status, so writing them grows with the register; a report is
    written into them only when some status (or the day they are as of) changes."""
    from completion.reports import ProgressReport, report_progress
    from completion.snapshot import Completion

    path = tmp_path / "venue.gpkg"
    twin = build_bundled_twin(path)
    try:
        day = datetime.fromisoformat("2026-10-31T09:00:00+08:00")
        open_ = [
            s
            for s in Completion(twin).at(version=twin.head().id).statuses  # type: ignore[union-attr]
            if 10 < s.percent < 90
        ]
        first = report_progress(
            twin, ProgressReport(open_[0].project.code, open_[0].percent + 0.1, day.date()), reporter="t", time=day
        )
        assert _project(path).find("properties").findtext("head") == first.id  # type: ignore[union-attr]
        before = _styles(path)
        statuses = head_statuses(twin)[0]
        # The same day, another project a tenth of a percent further: no status moves.
        s = open_[1]
        second = report_progress(
            twin,
            ProgressReport(s.project.code, s.percent + 0.1, day.date()),
            reporter="t",
            time=day.replace(hour=10),
        )
        assert head_statuses(twin)[0] == statuses
        assert _project(path).find("properties").findtext("head") == first.id  # type: ignore[union-attr]
        assert _styles(path) == before
        # A project reported done moves to another status: written, as of that report.
        done = report_progress(
            twin, ProgressReport(s.project.code, 100, day.date()), reporter="t", time=day.replace(hour=11)
        )
        assert head_statuses(twin)[0] != statuses
        assert _project(path).find("properties").findtext("head") == done.id  # type: ignore[union-attr]
        assert _styles(path) != before
        assert second.id != done.id
    finally:
        twin.close()


def test_a_field_renamed_is_read_by_its_new_name_in_the_styles(tmp_path: Path) -> None:
    """`layer alter landscaping --rename-field kind=category` left the stored style filtering on
    "kind": QGIS matched no rule and drew none of the landscaping. A schema change now makes the
    styles again, each field read by its new name (the rules' colours kept)."""
    path = tmp_path / "venue.gpkg"
    with build_bundled_twin(path) as twin:
        before = ET.fromstring(_styles(path)["landscaping"]["styleQML"])
        assert "kind" in _qml_fields(before)
        twin.alter_layer("landscaping", {"rename_fields": {"kind": "category"}}, author="gis.team")
    after = ET.fromstring(_styles(path)["landscaping"]["styleQML"])
    fields = _qml_fields(after)
    assert "category" in fields and "kind" not in fields, fields
    on = {
        name: [r.get("label") for r in _rules(qml) if f'"{name}"' in r.get("filter", "")]
        for name, qml in (("kind", before), ("category", after))
    }
    assert on["category"] == on["kind"] and len(on["kind"]) == 4, on  # lawn, street trees, green wall, flower bed
    assert fields - {"category"} <= _columns(path, "landscaping")
