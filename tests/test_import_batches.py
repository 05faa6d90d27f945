"""`venue-twin import --batch N`: a file read and committed N features at a time gives the same
features as a whole import, one commit per batch; an id given again in a later batch is refused
(exit 2) naming it, and the batches before stay committed."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import orjson
import pytest
from typer.testing import CliRunner

from bench.synth import AREA_OF_INTEREST, PARCELS, parcels
from cli.main import app
from twin import Twin

runner = CliRunner()


def _write(path: Path, n: int, duplicate_at: int | None = None) -> None:
    geoms, props = parcels(n, seed=3)
    if duplicate_at is not None:
        props["code"][duplicate_at] = props["code"][1]
    gpd.GeoDataFrame(props, geometry=list(geoms), crs="EPSG:4326").to_file(path, driver="GPKG", layer="parcels")


def _twin(path: Path) -> Path:
    Twin.create(path, [PARCELS], AREA_OF_INTEREST).close()
    return path


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_batches_give_the_whole_import(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"parcels{suffix}"
    if suffix == ".gpkg":
        _write(src, 23)
    else:
        gpkg = tmp_path / "tmp.gpkg"
        _write(gpkg, 23)
        gpd.read_file(gpkg).to_file(src, driver="GeoJSON")
    whole, batched = _twin(tmp_path / "whole.gpkg"), _twin(tmp_path / "batched.gpkg")
    r = runner.invoke(app, ["import", str(src), "--layer", PARCELS.name, "--store", str(whole)])
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["import", str(src), "--layer", PARCELS.name, "--store", str(batched), "--batch", "5"])
    assert r.exit_code == 0, r.stderr
    assert "committed 23 features in batches of 5" in r.stdout
    with Twin.open(whole) as a, Twin.open(batched) as b:
        assert b.commit_count() == 5 and a.commit_count() == 1
        assert [c.message for c in b.log(10)][::-1] == [
            f"Import {src.name} into {PARCELS.name} (upsert), batch {k}/5" for k in range(1, 6)
        ]
        got = [orjson.loads(f) for f in b.features(PARCELS.name).features]
        want = [orjson.loads(f) for f in a.features(PARCELS.name).features]
        assert len(got) == 23 and got == want


def test_an_id_again_in_a_later_batch_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "dup.gpkg"
    _write(src, 12, duplicate_at=9)  # row 10 repeats row 2's code, the id: batch 3 of 4
    store = _twin(tmp_path / "twin.gpkg")
    r = runner.invoke(app, ["import", str(src), "--layer", PARCELS.name, "--store", str(store), "--batch", "4"])
    assert r.exit_code == 2
    assert "P000001" in r.stderr and "earlier batch" in r.stderr
    assert "8 features of dup.gpkg in the batches before stay committed" in r.stderr
    with Twin.open(store) as t:
        assert t.commit_count() == 2 and t.count(PARCELS.name) == 8
    r = runner.invoke(app, ["import", str(src), "--layer", PARCELS.name, "--store", str(store), "--batch", "0"])
    assert r.exit_code == 2
    r = runner.invoke(
        app, ["import", str(src), "--layer", PARCELS.name, "--store", str(store), "--batch", "4", "--mode", "replace"]
    )
    assert r.exit_code == 2 and "replace" in r.stderr


def test_an_import_resumed_skips_the_batches_already_in_the_twin(tmp_path: Path) -> None:
    """The way on after a stopped batch import (the module docstring of cli.batch_import): the same
    file again. The batches the twin holds already change nothing and are skipped, not refused (the
    first of them stopped the resumed import with exit 2); a file the twin holds whole is no error."""
    whole = tmp_path / "whole.gpkg"
    _write(whole, 16)
    frame = gpd.read_file(whole)
    part = tmp_path / "part.gpkg"
    frame.iloc[:12].to_file(part, driver="GPKG", layer="parcels")
    store = _twin(tmp_path / "twin.gpkg")
    args = ["--layer", PARCELS.name, "--store", str(store), "--batch", "4"]
    assert runner.invoke(app, ["import", str(part), *args]).exit_code == 0
    whole_copy = tmp_path / "whole-copy.gpkg"
    frame.to_file(whole_copy, driver="GPKG", layer="parcels")
    r = runner.invoke(app, ["import", str(whole_copy), *args])
    assert r.exit_code == 0, r.stderr
    assert "committed 4 features in batches of 4" in r.stdout and "12 features already as given" in r.stdout
    with Twin.open(store) as t:
        assert t.commit_count() == 4 and t.count(PARCELS.name) == 16
        assert t.log(1)[0].message.endswith("batch 4/4")
    r = runner.invoke(app, ["import", str(whole_copy), *args])
    assert r.exit_code == 0 and "nothing to commit" in r.stdout, (r.stdout, r.stderr)
    with Twin.open(store) as t:
        assert t.commit_count() == 4
