"""The bundled venue twin: catalogue, generated history and the twin built from it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from layers.bundle import build_bundled_twin, bundled_history_files, projects_history_files, venue_history_files
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.changefile import parse_change_document, read_change_file
from layers.venue_geometry import write_history
from twin import NotFound, Twin
from twin.copying import copy_twin

LAYER_NAMES = {"venue_boundary", "halls", "south_plaza", "roads", "landscaping"}  # the spatial layers
ALL_LAYERS = LAYER_NAMES | {"projects"}  # and the project register, records without geometry
GROUND_HALLS = ["1.1H", "2.1H", "3H", "4.1H", "5.1H", "6.1H", "7.1H", "8.1H", "NH", "GC"]
UPPER_HALLS = ["1.2H", "2.2H", "4.2H", "5.2H", "6.2H", "7.2H", "8.2H"]
LARGE_HALLS = [h for h in GROUND_HALLS + UPPER_HALLS if h not in ("NH", "GC")]
HARDWARE_LAYERS = ("halls", "south_plaza", "roads", "landscaping")

_TO_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("bundle") / "venue.gpkg"
    calls: list[tuple[int, int, str]] = []
    twin = build_bundled_twin(path, progress=lambda n, total, name: calls.append((n, total, name)))
    yield twin, path, calls
    twin.close()


@pytest.fixture(scope="module")
def twin(built) -> Twin:
    return built[0]


def _features(twin: Twin, layer: str, ref=None) -> list[dict]:
    return [orjson.loads(b) for b in twin.features(layer, ref).features]


def _geom(feature: dict) -> shapely.Geometry:
    return shapely.from_geojson(orjson.dumps(feature["geometry"]))


def _area_4549(geom: shapely.Geometry) -> float:
    projected = shapely.transform(geom, lambda xy: np.column_stack(_TO_4549.transform(xy[:, 0], xy[:, 1])))
    return float(projected.area)


def _seq_of(twin: Twin, n: int):
    """The ref of the n-th commit (1-based)."""
    head = twin.head()
    assert head is not None
    return twin.resolve(f"HEAD~{head.seq - n}")


# ------------------------------------------------------------------ catalogue
def test_catalogue_has_the_five_layers_with_names_and_codes():
    assert [s.name for s in LAYERS] == ["venue_boundary", "halls", "south_plaza", "roads", "landscaping", "projects"]
    for s in LAYERS:
        assert s.code_field == "code"
        assert s.positions_approximate == s.spatial  # the register has no positions
        assert s.title_zh and s.title_en
        for name in ("code", "name_zh", "name_en"):
            spec = s.field(name)
            assert spec is not None and spec.required, (s.name, name)
    for name in HARDWARE_LAYERS:
        schema = next(s for s in LAYERS if s.name == name)
        unit, project = schema.field("responsible_unit"), schema.field("project_code")
        assert unit is not None and unit.required
        assert project is not None and not project.required


def test_area_of_interest_covers_the_site_with_margin():
    minx, miny, maxx, maxy = AREA_OF_INTEREST.bounds
    assert (minx, maxx) == pytest.approx((121.270, 121.325))
    assert (miny, maxy) == pytest.approx((31.170, 31.212))
    assert AREA_OF_INTEREST.contains(shapely.box(121.292, 31.187, 121.303, 31.196))


# ------------------------------------------------------------------ history files
def test_history_files_are_ordered_change_files_in_shanghai_time():
    venue = venue_history_files()
    assert len(venue) >= 8
    assert [f.name[:3] for f in venue] == [f"{n:03d}" for n in range(1, len(venue) + 1)]
    register = projects_history_files()
    assert [f.name[:3] for f in register] == [f"{n:03d}" for n in range(1, len(register) + 1)]
    files = bundled_history_files()
    assert sorted(files) == sorted(venue + register)
    times = []
    authors = {}
    for f in files:
        cf = read_change_file(f)
        assert cf.time is not None and cf.time.endswith("+08:00")
        assert cf.message and cf.author
        times.append(datetime.fromisoformat(cf.time))
        authors[f] = cf.author
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert times[0].date().isoformat() == "2026-06-15"
    assert times[-1] < datetime.fromisoformat("2026-11-05T00:00:00+08:00")
    assert len({authors[f] for f in venue}) == len(venue)


def test_generator_reproduces_the_bundled_files(tmp_path: Path):
    fresh = write_history(tmp_path)
    bundled = venue_history_files()
    assert [p.name for p in fresh] == [p.name for p in bundled]
    for a, b in zip(fresh, bundled, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{b.name} is stale: run python -m layers.venue_geometry"


# ------------------------------------------------------------------ the built twin
def test_layers_exist(twin: Twin):
    assert {s.name for s in twin.layers()} == ALL_LAYERS
    for s in LAYERS:
        assert twin.layer(s.name) == s


def test_progress_reports_every_file(built):
    _, _, calls = built
    files = bundled_history_files()
    assert calls == [(n, len(files), f.name) for n, f in enumerate(files, start=1)]


def test_every_hall_code_is_present_at_head(twin: Twin):
    halls = {f["properties"]["code"]: f for f in _features(twin, "halls")}
    for code in GROUND_HALLS:
        assert halls[code]["properties"]["level"] == "0m", code
    for code in UPPER_HALLS:
        assert halls[code]["properties"]["level"] == "16m", code
        below = halls[code.replace(".2H", ".1H")]
        # drawn inset within the hall below, so both levels can be seen and clicked
        assert _geom(below).contains(_geom(halls[code])) and not shapely.equals(_geom(halls[code]), _geom(below))
        assert halls[code]["properties"]["floor_area_m2"] == below["properties"]["floor_area_m2"]


def test_the_halls_form_one_clover_round_the_central_plaza(twin: Twin):
    """Four leaves of two halls each, one in each diagonal quadrant round GC, numbered clockwise from the south."""
    halls = {f["properties"]["code"]: _geom(f) for f in _features(twin, "halls")}
    gc = halls["GC"].centroid
    quadrant = {code: (halls[code].centroid.x > gc.x, halls[code].centroid.y > gc.y) for code in GROUND_HALLS[:8]}
    assert quadrant["1.1H"] == quadrant["2.1H"] == (False, False)  # south-west
    assert quadrant["3H"] == quadrant["4.1H"] == (False, True)  # north-west
    assert quadrant["5.1H"] == quadrant["6.1H"] == (True, True)  # north-east
    assert quadrant["7.1H"] == quadrant["8.1H"] == (True, False)  # south-east
    assert halls["NH"].centroid.x < gc.x and abs(halls["NH"].centroid.y - gc.y) < 0.0005  # the West Hall
    plaza = _geom(orjson.loads(twin.feature("south_plaza", "sp-entrance-square")))
    assert plaza.centroid.y < gc.y and abs(plaza.centroid.x - gc.x) < 0.0005  # the south square
    building = _geom(orjson.loads(twin.feature("venue_boundary", "boundary-building")))
    assert building.geom_type == "Polygon"  # one building
    for code in GROUND_HALLS:
        assert building.buffer(1e-6).contains(halls[code]), code
    green = _geom(orjson.loads(twin.feature("landscaping", "ls-clover-green")))
    assert not green.intersects(building) and _area_4549(green) < _area_4549(building) / 10


def test_hall_areas_are_plausible_in_metres(twin: Twin):
    halls = {f["properties"]["code"]: f for f in _features(twin, "halls")}
    for code in [h for h in LARGE_HALLS if h not in UPPER_HALLS]:
        area = _area_4549(_geom(halls[code]))
        assert 28_800 <= area <= 30_000, (code, area)
        assert halls[code]["properties"]["floor_area_m2"] == pytest.approx(area, abs=20)
    for code in ("NH", "GC"):
        assert 20_000 <= _area_4549(_geom(halls[code])) <= 60_000


def test_every_feature_is_valid_and_inside_the_area_of_interest(twin: Twin):
    for layer in LAYER_NAMES:
        schema = twin.layer(layer)
        features = _features(twin, layer)
        assert features, layer
        codes = [f["properties"]["code"] for f in features]
        assert len(codes) == len(set(codes)), f"duplicate codes in {layer}"
        for f in features:
            g = _geom(f)
            assert g.is_valid, (layer, f["id"])
            assert g.within(AREA_OF_INTEREST), (layer, f["id"])
            assert g.geom_type in schema.geometry_types
            if layer in HARDWARE_LAYERS:
                assert f["properties"]["responsible_unit"], (layer, f["id"])


def test_site_lies_in_the_published_extent(twin: Twin):
    site = _geom(orjson.loads(twin.feature("venue_boundary", "boundary-site")))
    minx, miny, maxx, maxy = site.bounds
    assert minx >= 121.2915 and maxx <= 121.3035
    assert miny >= 31.1865 and maxy <= 31.1965
    assert 80 <= _area_4549(site) / 10_000 <= 90  # the site is 86 ha


def test_log_has_one_commit_per_file_in_time_order(twin: Twin):
    files = bundled_history_files()
    log = twin.log(limit=1000)
    assert len(log) == len(files)
    oldest_first = list(reversed(log))
    assert [c.seq for c in oldest_first] == list(range(1, len(files) + 1))
    times = [c.time for c in oldest_first]
    assert times == sorted(times)
    for c, f in zip(oldest_first, files, strict=True):
        cf = read_change_file(f)
        assert (c.author, c.message) == (cf.author, cf.message)
        assert cf.time is not None and c.time == datetime.fromisoformat(cf.time)


def test_fsck_is_clean(twin: Twin):
    assert twin.fsck() == []


def test_flower_display_was_redesigned(twin: Twin):
    early, head = _seq_of(twin, 2), twin.resolve()
    before = orjson.loads(twin.feature("south_plaza", "sp-flower-display", early))
    after = orjson.loads(twin.feature("south_plaza", "sp-flower-display", head))
    assert before != after
    assert before["properties"]["pots"] == 528_000
    assert before["properties"]["area_m2"] == pytest.approx(8251.3)
    assert after["properties"]["pots"] > before["properties"]["pots"]
    assert _area_4549(_geom(after)) > _area_4549(_geom(before))
    assert _area_4549(_geom(before)) == pytest.approx(8251.3, rel=0.01)
    assert len(twin.history("south_plaza", "sp-flower-display")) == 2


def test_green_wall_extended_walkway_deleted_ramps_added(twin: Twin):
    early = _seq_of(twin, 3)
    old = orjson.loads(twin.feature("landscaping", "ls-green-wall-12", early))
    new = orjson.loads(twin.feature("landscaping", "ls-green-wall-12"))
    assert _geom(new).length > _geom(old).length
    assert new["properties"]["length_m"] > old["properties"]["length_m"]
    twin.feature("south_plaza", "sp-walkway-temp", early)
    with pytest.raises(NotFound):
        twin.feature("south_plaza", "sp-walkway-temp")
    with pytest.raises(NotFound):
        twin.feature("roads", "road-ramp-songze-laigang-ne", early)
    ramp = orjson.loads(twin.feature("roads", "road-ramp-songze-laigang-ne"))
    assert ramp["properties"]["works"] == "ramp"
    assert _geom(ramp).geom_type == "LineString"
    kinds = {e.kind for e in twin.diff(early, twin.resolve())}
    assert kinds == {"added", "modified", "deleted"}


@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. GDAL's "bad application_id"
def test_the_file_opens_in_gdal_with_every_layer(built):
    twin, path, _ = built
    listed = {str(name) for name, _ in pyogrio.list_layers(path)}
    assert listed == ALL_LAYERS | {"twin_commits", "layer_styles"}  # QGIS reads its default styles there
    for layer in ALL_LAYERS:
        info = pyogrio.read_info(path, layer=layer)
        assert info["features"] == twin.count(layer), layer
        # one geometry type per table, the declared one, so QGIS opens it whole (no per-type sublayers)
        declared = twin.layer(layer).geometry_type
        assert info["geometry_type"] == (declared or None), layer
    assert pyogrio.read_info(path, layer="twin_commits")["features"] == len(bundled_history_files())


def test_the_readme_change_file_applies_to_the_bundled_twin(built, tmp_path: Path):
    """A new user commits the README's example first: it names features the bundled twin has."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Change files", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    copy = tmp_path / "venue.gpkg"
    copy_twin(built[1], copy)
    cf = parse_change_document(orjson.loads(example), "README.md")
    with Twin.open(copy) as t:
        before = orjson.loads(t.feature("landscaping", "ls-green-wall-01"))
        info = t.commit(cf.changes, author=cf.author or "readme", message=cf.message or "", parent=cf.parent or "HEAD")
        assert info.counts == {"landscaping": {"added": 0, "modified": 1, "deleted": 1}}
        after = orjson.loads(t.feature("landscaping", "ls-green-wall-01"))
    assert after["properties"]["code"] == "GW-01"
    # A modify replaces the feature's whole properties: the example gives them all as the bundled
    # twin has them, so that applied as written it changes only what it means to change (the wall,
    # extended, and its length), not the register's unit, person and project code as well.
    old, new = before["properties"], after["properties"]
    assert set(old) == set(new), set(old) ^ set(new)
    assert {k for k in old if old[k] != new[k]} == {"length_m"} and new["length_m"] > old["length_m"]
    assert after["geometry"] != before["geometry"]
