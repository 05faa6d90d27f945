"""Survey rasters over HTTP: list, metadata, TileJSON, PNG/WebP tiles, preview, download, caching,
visibility and upload. Images are decoded with rasterio (GDAL's PNG and WEBP drivers); tile
positions come from morecantile, not from the code under test. Runs on the test store
(VENUE_TWIN_TEST_STORE=postgis in `make test`'s second run)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import orjson
import pytest
import rasterio
from api_server import bearer, build_venue, client, make_tokens, problem_of
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from survey_rasters import VENUE, write_geotiff

from twin import Twin
from twin.surveys import survey_schema

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str], dict[str, str], Path]]:
    d = tmp_path_factory.mktemp("api-surveys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VENUE_TWIN_SURVEY_DIR", str(d / "rasters"))
        store = build_venue(d / "venue.gpkg")
        tokens = make_tokens(store)
        with Twin.open(store) as twin:
            twin.import_survey(
                write_geotiff(d / "ortho.tif", crs="EPSG:4549", res=0.3), kind="orthophoto", on=date(2026, 10, 20),
                author="drone.team",
            )  # fmt: skip
            twin.import_survey(
                write_geotiff(d / "ndvi.tif", crs="EPSG:3857", res=0.4, bands=1, dtype="float32"),
                kind="ndvi", on=date(2026, 10, 21), author="drone.team",
            )  # fmt: skip
            twin.create_layer(survey_schema("surveys_internal", ("engineer",)), author="admin")
            twin.import_survey(
                write_geotiff(d / "secret.tif", seed=9), kind="orthophoto", on=date(2026, 10, 22), author="x",
                layer="surveys_internal",
            )  # fmt: skip
            ids = {s.kind if s.layer == "surveys" else "internal": s.id for s in twin.surveys()}
        yield store, tokens, ids, d / "rasters"


@pytest.fixture(scope="module")
def api(site: tuple[Any, dict[str, str], dict[str, str], Path]) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VENUE_TWIN_SURVEY_DIR", str(site[3]))
        with client(site[0]) as c:
            yield c


def decode(body: bytes) -> np.ndarray:
    with MemoryFile(body) as f, f.open() as img:
        return img.read()


def venue_tile(z: int = 17) -> morecantile.Tile:
    return TMS.tile(*VENUE, z)


def test_the_list_and_metadata_link_to_everything(api: TestClient, site: Any) -> None:
    ids = site[2]
    r = api.get("/surveys")
    assert r.status_code == 200
    listed = r.json()["surveys"]
    assert [(s["kind"], s["date"]) for s in listed] == [("orthophoto", "2026-10-20"), ("ndvi", "2026-10-21")]
    ortho = listed[0]
    assert ortho["id"] == ids["orthophoto"] and ortho["source_crs"] == "EPSG:4549" and ortho["band_count"] == 3
    rels = {link["rel"]: link["href"] for link in ortho["links"]}
    for rel in ("self", "enclosure", "tilejson", "preview"):
        assert api.get(rels[rel].replace("http://testserver", "")).status_code == 200, rel
    assert api.get(f"/surveys/{ids['ndvi']}").json()["dtype"] == "float32"
    assert [s["kind"] for s in api.get("/surveys?kind=ndvi").json()["surveys"]] == ["ndvi"]
    # As of the day before the first flight was recorded... the bundled history has no surveys.
    assert api.get("/surveys?asof=2026-09-01").json()["surveys"] == []
    problem_of(api.get("/surveys/0123456789abcdef"), 404)
    problem_of(api.get("/surveys?colour=red"), 400, "colour")


def test_tilejson_describes_tiles_that_are_there(api: TestClient, site: Any) -> None:
    sid = site[2]["orthophoto"]
    doc = api.get(f"/surveys/{sid}/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    w, s, e, n = doc["bounds"]
    assert w < VENUE[0] < e and s < VENUE[1] < n
    assert doc["minzoom"] <= 17 <= doc["maxzoom"]
    t = venue_tile(17)
    url = doc["tiles"][0].format(z=t.z, x=t.x, y=t.y).replace("http://testserver", "")
    r = api.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_tiles_decode_to_256_pixels_of_the_survey(api: TestClient, site: Any, fmt: str) -> None:
    t = venue_tile(17)
    r = api.get(f"/surveys/{site[2]['orthophoto']}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.{fmt}")
    assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}"
    img = decode(r.content)
    assert img.shape == (4, 256, 256)  # RGB and alpha
    opaque = img[3] > 0
    assert opaque.mean() > 0.2  # the raster covers a good part of this tile
    assert img[:3, opaque].std() > 20  # textured, not blank
    # The NDVI renders through a colour map: RGB from one band.
    r = api.get(f"/surveys/{site[2]['ndvi']}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.{fmt}")
    ndvi = decode(r.content)
    assert ndvi.shape == (4, 256, 256) and (ndvi[3] > 0).any()
    green = api.get(
        f"/surveys/{site[2]['ndvi']}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.{fmt}?rescale=-1,0&colormap_name=greens"
    )
    assert not np.array_equal(decode(green.content)[:3], ndvi[:3])


def test_tiles_outside_the_raster_and_bad_parameters(api: TestClient, site: Any) -> None:
    sid = site[2]["ndvi"]
    far = TMS.tile(121.0, 31.0, 17)
    r = api.get(f"/surveys/{sid}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png")
    assert r.status_code == 204 and r.content == b""
    t = venue_tile(17)
    base = f"/surveys/{sid}/tiles/WebMercatorQuad"
    problem_of(api.get(f"{base}/{t.z}/{t.x}/{t.y}.jpg"), 400, "format")
    problem_of(api.get(f"{base}/25/0/0.png"), 400, "z")
    problem_of(api.get(f"{base}/3/8/0.png"), 400, "x")
    problem_of(api.get(f"{base}/{t.z}/{t.x}/{t.y}.png?rescale=1"), 400, "rescale")
    problem_of(api.get(f"{base}/{t.z}/{t.x}/{t.y}.png?colormap_name=nope"), 400, "colormap_name")
    rgb = site[2]["orthophoto"]
    problem_of(api.get(f"/surveys/{rgb}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?colormap_name=greens"), 400)


def test_tiles_and_downloads_are_immutable_and_revalidate(api: TestClient, site: Any) -> None:
    sid = site[2]["orthophoto"]
    t = venue_tile(17)
    url = f"/surveys/{sid}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.webp"
    r = api.get(url)
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = api.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert api.get(url.replace(".webp", ".png")).headers["etag"] != r.headers["etag"]
    # How tiles are drawn is part of their identity: the addresses the API gives carry the rendering
    # version, and the ETag changes with it. Tiles of thermal surveys kept their flat drawing in
    # clients after it changed: same address, same ETag, "immutable".
    from twin.survey_images import RENDERING

    rendered = f"rendering={RENDERING}"
    item = next(link["href"] for link in api.get(f"/surveys/{sid}").json()["links"] if link["rel"] == "item")
    assert item.endswith(f".webp?{rendered}") and api.get(f"/surveys/{sid}/tilejson.json").json()["tiles"][0].endswith(
        f".webp?{rendered}"
    )
    now = api.get(f"{url}?{rendered}")
    assert now.status_code == 200 and now.content == r.content and now.headers["etag"] != r.headers["etag"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("api.surveys.RENDERING", RENDERING + 1)
        assert api.get(url).headers["etag"] != r.headers["etag"]
        assert api.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 200
    d = api.get(f"/surveys/{sid}/download")
    checksum = api.get(f"/surveys/{sid}").json()["checksum"]
    assert d.status_code == 200 and hashlib.sha256(d.content).hexdigest() == checksum
    assert d.headers["etag"] == f'"{checksum}"' and "immutable" in d.headers["cache-control"]
    assert int(d.headers["content-length"]) == len(d.content)
    part = api.get(f"/surveys/{sid}/download", headers={"Range": "bytes=0-1023"})
    assert part.status_code == 206 and part.content == d.content[:1024]
    with MemoryFile(d.content) as f, f.open() as cog:
        assert cog.crs.to_epsg() == 3857 and cog.block_shapes[0] == (512, 512)
    preview = decode(api.get(f"/surveys/{sid}/preview.png").content)
    assert preview.shape[0] == 4 and max(preview.shape[1:]) <= 1024 and preview[:3].std() > 20


def test_a_restricted_survey_is_its_roles_only(api: TestClient, site: Any) -> None:
    tokens, sid = site[1], site[2]["internal"]
    t = venue_tile(17)
    urls = [
        f"/surveys/{sid}",
        f"/surveys/{sid}/download",
        f"/surveys/{sid}/tilejson.json",
        f"/surveys/{sid}/preview.png",
        f"/surveys/{sid}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png",
    ]
    for who in (None, "viewer", "editor"):
        assert sid not in api.get("/surveys", headers=bearer(tokens[who] if who else None)).text
        for url in urls:
            body = problem_of(api.get(url, headers=bearer(tokens[who] if who else None)), 404)
            assert "surveys_internal" not in body["detail"]
    for who in ("engineer", "admin"):
        assert sid in api.get("/surveys", headers=bearer(tokens[who])).text
        for url in urls:
            r = api.get(url, headers=bearer(tokens[who]))
            assert r.status_code == 200, (who, url)
            assert r.headers["cache-control"].startswith("private")  # no shared cache keeps it


def test_upload_is_for_editors_and_refuses_bad_files_recording_nothing(
    api: TestClient, site: Any, tmp_path: Path
) -> None:
    tokens, rasters = site[1], site[3]
    body = write_geotiff(tmp_path / "new.tif", crs="EPSG:4549", res=0.25, seed=5).read_bytes()
    url = "/surveys?kind=orthophoto&date=2026-10-25&message=Uploaded"
    problem_of(api.post(url, content=body), 401)
    problem_of(api.post(url, content=body, headers=bearer(tokens["viewer"])), 403)
    before = api.get("/versions").json()
    files = sorted(os.listdir(rasters))
    for bad, words in ((b"not a raster at all", "not a raster"), (body[: len(body) // 3], "")):
        r = problem_of(api.post(url, content=bad, headers=bearer(tokens["editor"])), 400)
        assert words in r["detail"]
        # The refusal names the upload, not the server's temporary file (nor its path).
        assert r["detail"].startswith("upload.tif: ") and "venue-twin-upload" not in r["detail"], r["detail"]
    problem_of(
        api.post("/surveys?kind=orthophoto&date=25.10.2026", content=body, headers=bearer(tokens["editor"])),
        400,
        "date",
    )
    # A survey layer that is not there is an admin's to make (with its roles): an editor's typo in
    # `layer=` is refused, not made into a new unrestricted layer.
    typo = problem_of(api.post(url + "&layer=surveys_nope", content=body, headers=bearer(tokens["editor"])), 400)
    assert "no survey layer 'surveys_nope'" in typo["detail"], typo
    assert "surveys_nope" not in {c["id"] for c in api.get("/collections").json()["collections"]}
    assert api.get("/versions").json() == before and sorted(os.listdir(rasters)) == files
    r = api.post(url, content=body, headers=bearer(tokens["editor"]))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["date"] == "2026-10-25" and r.headers["location"].endswith(f"/surveys/{made['id']}")
    assert made["checksum"] == hashlib.sha256((rasters / f"{made['checksum']}.tif").read_bytes()).hexdigest()
    version = api.get(f"/versions/{made['commit']}").json()
    assert version["author"] == "li.wei"  # the editor token's name
    assert made["id"] in api.get("/surveys").text


def test_an_upload_names_its_file_and_a_multipart_form_is_refused_saying_how(
    api: TestClient, site: Any, tmp_path: Path
) -> None:
    tokens, rasters = site[1], site[3]
    editor = bearer(tokens["editor"])
    body = write_geotiff(tmp_path / "flight.tif", seed=21).read_bytes()
    url = "/surveys?kind=orthophoto&date=2026-10-26"
    before, files = api.get("/versions").json(), sorted(os.listdir(rasters))
    # curl -F file=@flight.tif: was "not a raster GDAL can read"
    r = problem_of(api.post(url, files={"file": ("flight.tif", body, "image/tiff")}, headers=editor), 415)
    assert "--data-binary @ortho.tif" in r["detail"] and "not a multipart form" in r["detail"], r
    problem_of(api.post(url + "&filename=..", content=body, headers=editor), 400, "filename")
    # U+202E shows "flight-\u202efit.exe" as "flight-exe.tif"
    r = problem_of(api.post(url + "&filename=flight-%E2%80%AEfit.exe", content=body, headers=editor), 400, "filename")
    assert "U+202E" in r["detail"]
    assert api.get("/versions").json() == before and sorted(os.listdir(rasters)) == files
    # A refusal names the file as the upload named it.
    r = problem_of(api.post(url + "&filename=broken.tif", content=b"nope", headers=editor), 400)
    assert r["detail"].startswith("broken.tif: not a raster"), r
    made = api.post(url + "&filename=flight-26.tif", content=body, headers=editor)
    assert made.status_code == 201, made.text
    doc = made.json()
    assert doc["source_name"] == "flight-26.tif" == api.get(f"/surveys/{doc['id']}").json()["source_name"]
    assert "warnings" not in doc
    # Content-Disposition names it too; without a name the survey and the answer both say upload.tif.
    other = write_geotiff(tmp_path / "t.tif", bands=1, dtype="float32", seed=22).read_bytes()
    made = api.post(
        "/surveys?kind=thermal&date=2026-10-26", content=other,
        headers={**editor, "Content-Disposition": 'attachment; filename="thermal 26.tif"'},
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["source_name"] == "thermal 26.tif"
    assert made.json()["warnings"] == [
        "survey kind 'thermal' is not one the evidence reads (ndvi, orthophoto): it is drawn on the maps and "
        "served as tiles, but no completion estimate uses it"
    ]
    third = write_geotiff(tmp_path / "u.tif", seed=23).read_bytes()
    made = api.post(url, content=third, headers=editor)
    assert made.json()["source_name"] == "upload.tif" == api.get(f"/surveys/{made.json()['id']}").json()["source_name"]


def test_a_survey_record_is_not_edited_through_the_features_api_but_removed(
    api: TestClient, site: Any, tmp_path: Path
) -> None:
    tokens = site[1]
    editor = bearer(tokens["editor"])
    body = write_geotiff(tmp_path / "n.tif", bands=1, dtype="float32", seed=31).read_bytes()
    made = api.post("/surveys?kind=ndvi&date=2026-10-27", content=body, headers=editor).json()
    item = f"/collections/surveys/items/{made['id']}"
    before = api.get("/versions").json()
    patch = {"properties": {"kind": "orthophoto", "date": "2026-11-04"}}
    r = problem_of(
        api.patch(
            item, content=orjson.dumps(patch), headers={**editor, "Content-Type": "application/merge-patch+json"}
        ),
        400,
    )
    assert "kind, date" in r["detail"] and "written only by the survey importer" in r["detail"], r
    assert f"DELETE /surveys/{made['id']}" in r["detail"]
    assert api.get("/versions").json() == before and api.get(f"/surveys/{made['id']}").json()["kind"] == "ndvi"
    # The survey API removes it (one commit); the viewer may not.
    problem_of(api.delete(f"/surveys/{made['id']}", headers=bearer(tokens["viewer"])), 403)
    r = api.delete(f"/surveys/{made['id']}", headers=editor)
    assert r.status_code == 204 and r.headers["x-twin-commit"] == api.get("/versions").json()["versions"][0]["id"]
    problem_of(api.get(f"/surveys/{made['id']}"), 404)
    # Imported again, it names the commit that recorded it now.
    again = api.post("/surveys?kind=ndvi&date=2026-10-28", content=body, headers=editor)
    assert again.status_code == 201, again.text
    assert again.json()["commit"] != made["commit"] and again.json()["date"] == "2026-10-28"


def test_a_survey_layer_older_than_units_gains_the_field_with_the_first_survey_that_has_one(tmp_path: Path) -> None:
    """Surveys record their band's unit (°C) since the legend says it; a twin's survey layer made
    before has no such field, and its surveys were recorded without their unit. The first import
    with a unit adds the field (a commit of its own, by the importer), then records the survey."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VENUE_TWIN_SURVEY_DIR", str(tmp_path / "rasters"))
        store = build_venue(tmp_path / "venue.gpkg")
        src = write_geotiff(tmp_path / "thermal.tif", bands=1, dtype="float32", size=256)
        with rasterio.open(src, "r+") as d:
            d.units = ("°C",)
        with Twin.open(store) as twin:
            old = survey_schema()
            twin.create_layer(replace(old, fields=tuple(f for f in old.fields if f.name != "unit")), author="test")
            twin.import_survey(src, kind="thermal", on=date(2026, 10, 25), author="drone.team")
            [info] = [s for s in twin.surveys() if s.kind == "thermal"]
            field = twin.layer("surveys").field("unit")
            log = twin.log(3)
    assert info.unit == "°C" and field is not None and field.type == "string"
    assert field.title_zh and field.title_en  # titled as a new layer's field is
    assert [c.author for c in log] == ["drone.team", "drone.team", "test"]  # the survey, the field, the layer


def test_a_single_band_survey_of_another_kind_is_drawn_over_its_own_values(tmp_path: Path) -> None:
    """A thermal survey in °C (float, 20 to 60) was drawn over -1 to 1, the NDVI's range: every
    pixel above the top, one flat colour on the map, and a legend of -1.0 to 1.0. Drawn by default
    over the 2nd to 98th percentile of its own values (read from the COG's overviews), on the
    tiles, the preview and the map's legend alike; rescale= still says otherwise."""
    from web.imagery import imagery_config

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VENUE_TWIN_SURVEY_DIR", str(tmp_path / "rasters"))
        store = build_venue(tmp_path / "venue.gpkg")
        src = write_geotiff(tmp_path / "thermal.tif", bands=1, dtype="float32")
        with rasterio.open(src, "r+") as d:
            d.write((np.linspace(20, 60, d.width)[None, None, :] + np.zeros((1, d.height, d.width))).astype("float32"))
            d.units = ("°C",)
        with Twin.open(store) as twin:
            twin.import_survey(src, kind="thermal", on=date(2026, 10, 20), author="drone.team")
            [info] = twin.surveys()
            legend = imagery_config(twin, lang="en", on=None)["legends"]["thermal"]  # type: ignore[index]
            legend_zh = imagery_config(twin, lang="zh", on=None)["legends"]["thermal"]  # type: ignore[index]
        ticks = [float(v) for v in re.findall(r"<span>(-?[\d.]+) °C</span>", legend)]
        assert len(ticks) == 2 and 20 <= ticks[0] < 22 and 58 < ticks[1] <= 60, legend
        # It says what the values are: the kind in words (it read "THERMAL index"), the unit the file's
        # band gave, and that the ramp spans this flight's 2nd-98th percentile.
        assert info.unit == "°C" and "index" not in legend and "THERMAL" not in legend
        assert "Surface temperature" in legend and "2nd–98th percentile" in legend, legend
        assert "地表温度" in legend_zh and "°C</span>" in legend_zh and "第 2–98 百分位" in legend_zh, legend_zh
        with client(store) as api:
            preview = decode(api.get(f"/surveys/{info.id}/preview.png").content)
            drawn = preview[:3, preview[3] > 0]
            assert len({tuple(c) for c in drawn.T}) > 50  # a ramp of colours, not one
            t = venue_tile(17)
            tile = decode(api.get(f"/surveys/{info.id}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png").content)
            assert len({tuple(c) for c in tile[:3, tile[3] > 0].T}) > 10
            flat = decode(api.get(f"/surveys/{info.id}/preview.png?rescale=-1,1").content)
            assert len({tuple(c) for c in flat[:3, flat[3] > 0].T}) == 1  # as asked: all above the top
        # A file damaged past its header (its overviews unreadable) leaves the page its imagery
        # section, drawn over the type's range: the page did not read the file before.
        path = tmp_path / "rasters" / info.file_name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with Twin.open(store) as twin:
            cfg = imagery_config(twin, lang="en", on=None)
        assert cfg is not None and "<span>-1.0 °C</span>" in cfg["legends"]["thermal"]
        assert "percentile" not in cfg["legends"]["thermal"]  # drawn over the type's range, not its values
        # A survey whose full-resolution tiles are gone: a 404 naming the file (as a missing one
        # is), not a 500, for its tiles and its preview.
        with Twin.open(store) as twin:
            other = write_geotiff(tmp_path / "other.tif", bands=1, dtype="float32", seed=2, size=1024)
            twin.import_survey(other, kind="thermal", on=date(2026, 10, 21), author="drone.team")
            damaged = next(s for s in twin.surveys() if s.id != info.id)
        path = tmp_path / "rasters" / damaged.file_name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])  # the overviews stay (written first), the full resolution goes
        with client(store) as api:
            deep = venue_tile(19)
            r = api.get(f"/surveys/{damaged.id}/tiles/WebMercatorQuad/{deep.z}/{deep.x}/{deep.y}.png")
            body = problem_of(r, 404)
            assert f"cannot read its file {damaged.file_name}: file unreadable on this server" in body["detail"]
