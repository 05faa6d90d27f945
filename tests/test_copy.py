"""`venue-twin copy SRC DST`: a whole twin, every commit with its id, schemas, area and tokens.

The copy is checked the way a user would: `venue-twin fsck` clean on both sides, `venue-twin
log` identical, every layer's items equal at the head and at old versions, feature histories
equal, and a token made on the source accepted by an API on the copy. A destination that holds
something is refused (and replaced with --force); a copy that fails or is killed half way leaves
no twin at the destination.

Also a copy of a layer in the other sense: a CSV export or download brought back imports as written
and, edited, is merged onto the head as the other formats' copies are.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from api_server import ROOT, VENV_BIN, bearer, build_venue, client, copy_store, make_tokens

from twin import Twin
from twin.copying import copy_twin


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "venue-twin"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The bundled twin plus a layer made by a commit and a schema change, and tokens."""
    path = build_venue(tmp_path_factory.mktemp("copy-src") / "venue.gpkg")
    with Twin.open(path) as twin:
        twin.create_layer(
            {"name": "kiosks", "title_zh": "售货亭", "title_en": "Kiosks", "geometry_types": ["Point"],
             "fields": [{"name": "code", "type": "string", "required": True}], "code_field": "code"},
            author="chen.admin",
        )  # fmt: skip
        twin.alter_layer("kiosks", {"add_fields": [{"name": "opens", "type": "string"}]}, author="chen.admin")
    return path, make_tokens(path)


def state(twin: Twin, ref) -> dict[str, list[bytes]]:  # type: ignore[no-untyped-def]
    return {s.name: twin.features(s.name, ref).features for s in twin.layers(ref)}


def test_a_copy_has_every_commit_schema_and_token(source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    src, tokens = source
    dst = tmp_path / "copy" / "venue.gpkg"
    r = cli("copy", str(src), f"gpkg://{dst}")
    assert r.returncode == 0, r.stderr
    assert "copied" in r.stdout
    for path in (src, dst):
        fsck = cli("fsck", "--store", str(path))
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    log_a, log_b = (
        cli("log", "--store", str(src), "--limit", "1000"),
        cli("log", "--store", str(dst), "--limit", "1000"),
    )
    assert log_a.returncode == 0 and log_a.stdout == log_b.stdout
    with Twin.open(src) as a, Twin.open(dst) as b:
        assert a.commit_count() == b.commit_count() > 10
        assert [c for c in a.log(10_000)] == [c for c in b.log(10_000)]  # ids, times, authors, messages, counts
        assert a.area_of_interest.equals(b.area_of_interest)
        for seq in (0, 1, a.commit_count() // 2, a.commit_count() - 1, a.commit_count()):
            ref_a, ref_b = a.at_seq(seq), b.at_seq(seq)
            assert a.layers(ref_a) == b.layers(ref_b)  # the schemas as of each version
            assert state(a, ref_a) == state(b, ref_b)  # the stored bytes of every feature
        assert "kiosks" in [s.name for s in b.layers()] and "kiosks" not in [s.name for s in b.layers(b.at_seq(1))]
        assert a.history("halls", "hall-1.1H") == b.history("halls", "hall-1.1H")
        assert a.tokens.list() == b.tokens.list()
    # The copy answers the API with the source's tokens, revoked ones still revoked.
    with client(dst) as api:
        assert api.get("/collections", headers=bearer(tokens["viewer"])).status_code == 200
        assert api.get("/collections", headers=bearer(tokens["revoked"])).status_code == 401
        r = api.patch("/collections/halls/items/hall-1.1H", json={"properties": {"notes": "copied"}},
                      headers={**bearer(tokens["editor"]), "Content-Type": "application/merge-patch+json"})  # fmt: skip
        assert r.status_code in (200, 204), r.text


def test_a_destination_that_holds_something_is_refused_unless_forced(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src, _ = source
    dst = tmp_path / "other.gpkg"
    build_venue(dst)
    with Twin.open(dst) as t:
        before = (t.commit_count(), t.head())
    r = cli("copy", str(src), str(dst))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not empty" in r.stderr and "--force" in r.stderr
    with Twin.open(dst) as t:
        assert (t.commit_count(), t.head()) == before
    r = cli("copy", str(src), str(dst), "--force")
    assert r.returncode == 0, r.stderr
    with Twin.open(src) as a, Twin.open(dst) as b:
        assert a.head() == b.head() and b.fsck() == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    assert cli("copy", str(src), str(src), "--force").returncode == 2  # onto itself: never


class Interrupted(Exception):
    pass


def test_a_copy_that_fails_half_way_leaves_the_destination_as_it_was(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src, _ = source
    done = []

    def advance(n: int, m: int) -> None:
        done.append(n)
        if len(done) == 5:
            raise Interrupted  # as a full disk or Ctrl-C half way would

    dst = tmp_path / "new.gpkg"
    with pytest.raises(Interrupted):
        copy_twin(src, dst, advance=advance)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no twin, no temporary file
    # Over an existing twin (--force): the old twin stays whole until the copy is.
    old = copy_store(build_venue(tmp_path / "old-src.gpkg"), tmp_path / "old.gpkg")
    old_bytes = old.read_bytes()
    done.clear()
    with pytest.raises(Interrupted):
        copy_twin(src, old, force=True, advance=advance)
    assert old.read_bytes() == old_bytes
    with Twin.open(old) as t:
        assert t.fsck() == []


def test_a_copy_killed_half_way_leaves_no_twin_at_the_destination(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src, _ = source
    dst = tmp_path / "killed.gpkg"
    proc = subprocess.Popen([str(VENV_BIN / "venue-twin"), "copy", str(src), str(dst)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        # Wait until the copy has commits in its temporary file, then kill it without warning.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in tmp_path.iterdir() if p.name.endswith(".part-wal") and p.stat().st_size > 0]
            if parts:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the copy finished before it could be killed: make the source bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not dst.exists()
    with pytest.raises(Exception, match="no twin"):
        Twin.open(dst)
    # What is left is a hidden temporary file nobody takes for the twin; a new copy succeeds.
    assert all(p.name.startswith(".") and ".part" in p.name for p in tmp_path.iterdir())
    assert cli("copy", str(src), str(dst)).returncode == 0
    with Twin.open(dst) as t:
        assert t.fsck() == []


def test_the_database_way_puts_every_commit_and_token_in_one_transaction(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A database destination cannot be renamed into place: the copy writes it in one transaction
    (Store.writing). Exercised here on a GeoPackage store, through the same code path."""
    from twin.copying import _to_database

    src, _ = source
    dst = tmp_path / "db.gpkg"
    done = []

    def advance(n: int, m: int) -> None:
        done.append(n)
        if len(done) == 5:
            raise Interrupted

    with Twin.open(src) as a:
        with pytest.raises(Interrupted):
            _to_database(a, str(dst), False, None, advance)
        with Twin.open(dst) as b:  # initialised, but not one commit or token: empty, not partial
            assert b.commit_count() == 0 and b.tokens.list() == []
        dst.unlink()
        result = _to_database(a, str(dst), False, None, None)
        assert result.commits == a.commit_count() and result.tokens == len(a.tokens.list())
        with Twin.open(dst) as b:
            assert b.log(10_000) == a.log(10_000) and b.tokens.list() == a.tokens.list() and b.fsck() == []
            with pytest.raises(Exception, match="already holds a twin"):
                _to_database(a, str(dst), False, None, None)


def test_a_twin_goes_to_postgis_and_back_with_the_same_ids(source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """GeoPackage → PostGIS → GeoPackage through the CLI: every commit id, every stored byte, the
    tokens, and fsck clean on all three."""
    from conftest import postgis_url

    src, tokens = source
    db = postgis_url()
    back = tmp_path / "back.gpkg"
    for a, b in ((str(src), db), (db, str(back))):
        r = cli("copy", a, b)
        assert r.returncode == 0, r.stdout + r.stderr
    for where in (str(src), db, str(back)):
        fsck = cli("fsck", "--store", where)
        assert fsck.returncode == 0, (where, fsck.stdout + fsck.stderr)
    with Twin.open(src) as a, Twin.open(db) as p, Twin.open(back) as b:
        assert a.log(10_000) == p.log(10_000) == b.log(10_000)
        head = a.commit_count()
        for seq in (1, head // 2, head):
            assert state(a, a.at_seq(seq)) == state(p, p.at_seq(seq)) == state(b, b.at_seq(seq))
        assert a.tokens.list() == p.tokens.list() == b.tokens.list()
        # Every feature's history as a whole layer's read gives it, which the completion figures
        # are made of (PostGIS hands the versions over in no order).
        for layer in ("projects", "halls"):
            assert a.layer_history(layer) == p.layer_history(layer) == b.layer_history(layer)
            assert a.layer_history(layer) == {fid: a.history(layer, fid) for fid in a.feature_ids(layer)}
    with client(db) as api:  # the API on PostGIS knows the source's tokens
        assert api.get("/collections/kiosks", headers=bearer(tokens["viewer"])).status_code == 200
    # The same completion figures from both stores (the register's projects, reports and forecasts).
    figures = []
    for where in (src, db):
        with client(where) as api:
            r = api.get("/completion?f=json&date=2026-10-20", headers=bearer(tokens["viewer"]))
            assert r.status_code == 200, r.text
            figures.append(r.json())
    assert figures[0] == figures[1] and figures[0]["groups"]


def parity_paths(old: str, codes: list[str], layers: list[str], spatial: list[str]) -> list[str]:
    """What a user reads from the API: collections, items now and as of an old version, a bbox,
    downloads, history, diffs, completion in its groupings and dates, projects, evidence, map data
    and pages."""
    paths = ["/?f=json", "/collections?f=json", "/versions?limit=500", f"/versions/{old}", "/projects?f=json",
             "/completion?f=json", "/completion?f=json&date=T-30", "/completion?f=json&by=unit",
             "/completion?f=json&date=2026-09-26&by=unit", "/completion/checkpoints", "/completion/late",
             "/completion/missing", "/completion/scurve", "/completion/units", f"/diff?from={old}&to=HEAD",
             "/diff?from=HEAD~10&to=HEAD", "/evidence", "/maps/data/panel?date=2026-10-06",
             "/maps/data/panel?date=2026-10-26&by=unit", f"/maps/data/changes?from={old}&to=HEAD",
             "/maps/completion?date=2026-10-06", "/maps/timeline?date=2026-10-16", "/maps/changes"]  # fmt: skip
    for name in layers:
        paths += [f"/collections/{name}?f=json", f"/collections/{name}/items?f=json&limit=1000",
                  f"/collections/{name}/items?f=json&limit=1000&version={old}", f"/collections/{name}/queryables",
                  f"/collections/{name}/download?f=geojson"]  # fmt: skip
    for name in spatial:
        paths += [f"/collections/{name}/items?f=json&bbox=121.29,31.18,121.31,31.20&limit=1000",
                  f"/maps/data/features/{name}", f"/maps/data/classes/{name}"]  # fmt: skip
    for code in codes:
        paths += [f"/projects/{code}", f"/projects/{code}/progress", f"/projects/{code}/evidence"]
    paths += ["/collections/halls/items/hall-1.1H/history", "/collections/projects/items/LS-14/history"]
    return paths


def test_both_stores_answer_the_api_alike(source: tuple[Path, dict[str, str]]) -> None:
    """The bundled twin copied to PostGIS answers every read of the API with the same bytes as the
    GeoPackage (a store that hands rows over in its own order must not show through: a project's
    reports read from PostGIS's heap once changed the completion figures)."""
    from conftest import postgis_url

    src, tokens = source
    db = postgis_url()
    r = cli("copy", str(src), db)
    assert r.returncode == 0, r.stdout + r.stderr
    answers: list[dict[str, tuple[int, bytes]]] = []
    for where in (src, db):
        with client(where) as api:
            h = bearer(tokens["admin"])
            versions = api.get("/versions?limit=500", headers=h).json()["versions"]
            old = versions[len(versions) // 2]["id"]
            with Twin.open(where) as twin:
                layers = [s.name for s in twin.layers()]
                spatial = [s.name for s in twin.layers() if s.geometry_types]
                codes = sorted(twin.feature_ids("projects"))
            got = {}
            for path in parity_paths(old, codes, layers, spatial):
                resp = api.get(path, headers=h)
                got[path] = (
                    resp.status_code,
                    re.sub(rb'"timeStamp":"[^"]*"', b"", resp.content),
                )  # the time of answering
            answers.append(got)
    assert answers[0].keys() == answers[1].keys()
    differ = [p for p in answers[0] if answers[0][p] != answers[1][p]]
    if differ:  # the first difference, where the assertion below shows only the paths
        p = differ[0]
        a, b = answers[0][p][1].decode(errors="replace"), answers[1][p][1].decode(errors="replace")
        i = next(k for k in range(min(len(a), len(b))) if a[k] != b[k])
        print(p, a[max(0, i - 300) : i + 200], "\n----\n", b[max(0, i - 300) : i + 200])
    assert not differ, [(p, answers[0][p][0], answers[1][p][0]) for p in differ[:10]]
    ok = sum(status == 200 for status, _ in answers[0].values())
    assert ok >= 0.9 * len(answers[0]), [(p, s) for p, (s, _) in answers[0].items() if s != 200]


# ---------------------------------------------------------------------------- a CSV export brought back
def _halls(store: Path) -> dict[str, dict[str, object]]:
    with Twin.open(store) as t:
        return {fid: orjson.loads(t.feature("halls", fid)) for fid in t.feature_ids("halls")}


def _head(store: Path) -> tuple[int, object]:
    """The twin's commit count and newest commit, read in this process: the twin unchanged is the
    same head (its id hashes the whole history), without a `venue-twin log` process to start."""
    with Twin.open(store) as t:
        return t.commit_count(), t.head()


def _edit_csv(path: Path, fid: str, **values: str) -> None:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["feature_id"] == fid:
            row.update(values)
    with path.open("w", newline="", encoding="utf-8") as fh:  # as Excel or a script saves it
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_csv_export_imports_back_unchanged(source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """`export halls -o hh.csv` says it wrote EPSG:4326, and the file imports back as written, without
    --crs (a CSV carries no CRS; it is read as the lon/lat the twin writes a CSV in by default)."""
    store = copy_store(source[0], tmp_path / "venue.gpkg")
    exported = tmp_path / "hh.csv"
    r = cli("export", "halls", "-o", str(exported), "--store", str(store))
    assert r.returncode == 0 and "(EPSG:4326)" in r.stdout, r.stderr
    head = _head(store)
    r = cli("import", str(exported), "--layer", "halls", "--store", str(store), "--author", "li.wei")
    assert r.returncode == 0, r.stderr
    assert "nothing to commit" in r.stdout and _head(store) == head
    # One written in metres is not taken for degrees: refused, naming --crs, the twin unchanged.
    metres = tmp_path / "hh-4549.csv"
    assert cli("export", "halls", "-o", str(metres), "--crs", "EPSG:4549", "--store", str(store)).returncode == 0
    r = cli("import", str(metres), "--layer", "halls", "--store", str(store), "--author", "li.wei")
    assert r.returncode == 2 and "--crs" in r.stderr and "hh-4549.csv" in r.stderr, r.stderr
    assert _head(store) == head
    r = cli(
        "import", str(metres), "--layer", "halls", "--crs", "EPSG:4549", "--store", str(store), "--author", "li.wei"
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("crs", [[], ["--crs", "EPSG:4326"]], ids=["no-crs", "crs"])
def test_an_old_csv_download_brought_back_keeps_what_others_changed_since(
    source: tuple[Path, dict[str, str]], tmp_path: Path, crs: list[str]
) -> None:
    """A CSV downloaded as of 2026-09-01 records that version, as the other downloads do, so brought
    back edited it is merged onto the head: a colleague's later API edit of a hall stays, the halls
    changed since that the file gives as they were then are not put back, and the user's own edit
    goes in. (It overwrote both, and said a download keeps others' later edits.)"""
    src, tokens = source
    store = copy_store(src, tmp_path / "venue.gpkg")
    with client(store) as api:
        r = api.get(
            "/collections/halls/download", params={"f": "csv", "asof": "2026-09-01"}, headers=bearer(tokens["viewer"])
        )
        assert r.status_code == 200, r.text
        downloaded = tmp_path / "halls.csv"
        downloaded.write_bytes(r.content)
        r = api.patch(
            "/collections/halls/items/hall-1.1H",
            json={"properties": {"notes": "Zhou Min: doors checked"}},
            headers={**bearer(tokens["editor"]), "Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code in (200, 204), r.text
    before = _halls(store)
    _edit_csv(downloaded, "hall-NH", notes="Li Wei: ramp repainted")
    r = cli("import", str(downloaded), "--layer", "halls", *crs, "--store", str(store), "--author", "li.wei")
    assert r.returncode == 0, r.stderr
    assert "is a copy of" in r.stderr and "records no version" not in r.stderr, r.stderr
    after = _halls(store)
    assert after["hall-1.1H"]["properties"]["notes"] == "Zhou Min: doors checked"  # the colleague's edit stays
    assert after["hall-NH"]["properties"]["notes"] == "Li Wei: ramp repainted"
    assert {k: v for k, v in after.items() if k != "hall-NH"} == {k: v for k, v in before.items() if k != "hall-NH"}
