"""Two things a user was not told. A diff that spans a layer's schema change (a layer created or
altered between its two versions) was committed back into "the id @schema is reserved" and "no such
feature to delete": it is refused whole, one problem per layer saying what to do instead, and
`venue-twin diff` says so as it writes it. A register sheet moving a project's planned start past
reports it already has committed without a word: a note says so, on the command line and in the
upload's answer."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_server import build_venue, client, copy_store, make_tokens
from typer.testing import CliRunner

from cli.main import app
from twin import Twin

runner = CliRunner()
AUTHOR = ("--author", "Li Wei <venue office>")


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_venue(tmp_path_factory.mktemp("venue") / "venue.gpkg")


@pytest.fixture
def store(venue: Any, tmp_path: Path) -> str:
    return str(copy_store(venue, tmp_path / "venue.gpkg"))


def head(store: str) -> str:
    with Twin.open(store) as t:
        h = t.head()
        assert h is not None
        return h.id


def problems(err: str) -> list[str]:
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


def diff_to_file(store: str, path: Path, *args: str) -> str:
    """`venue-twin diff ARGS` written to `path`; its stderr."""
    code, out, err = run("diff", *args, "--store", store)
    assert code == 0, err
    path.write_text(out)
    return err


def test_a_diff_across_an_altered_schema_is_noted_and_refused_whole_naming_the_layer(
    store: str, tmp_path: Path
) -> None:
    code, _, err = run("layer", "alter", "halls", "--add-field", "inspected:boolean", *AUTHOR, "--store", store)
    assert code == 0, err
    undo = tmp_path / "undo.geojson"
    err = diff_to_file(store, undo, "HEAD", "HEAD~1")
    # the diff says it as it writes it (exit 0): one note, naming the layer and what to do instead
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: halls: the diff spans a change of the schema of layer halls")
    assert "altered between HEAD and HEAD~1" in notes[0] and "`venue-twin layer alter halls …`" in notes[0]
    assert "`venue-twin layer show halls --version HEAD~1`" in notes[0]
    assert "`venue-twin commit` refuses this diff" in notes[0]
    # committed back: refused up front, one problem for the layer, nothing committed
    before = head(store)
    code, _, err = run("commit", str(undo), "-m", "undo the field", *AUTHOR, "--store", store)
    assert code == 2, err
    assert "nothing was committed" in err
    (said,) = problems(err)
    assert said.startswith("halls: the diff spans a change of the schema of layer halls (altered between "), said
    assert "schema changes are not committed from a change file" in said
    assert "`venue-twin layer alter halls …`" in said and "(the diff changes no other layer)" in said
    assert "reserved" not in err and "no such feature" not in err
    assert head(store) == before
    # an entry @schema that is no diff's is refused as a schema change too, not as a missing feature
    doc = orjson.loads(undo.read_bytes())
    (entry,) = doc["features"]
    plain = tmp_path / "plain.geojson"
    entry = {k: v for k, v in entry.items() if not k.startswith("twin:") or k == "twin:layer"}
    plain.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [{**entry, "twin:op": "modify"}]}))
    code, _, err = run("commit", str(plain), "-m", "schema by hand", *AUTHOR, "--store", store)
    assert code == 2, err
    (said,) = problems(err)
    assert said.startswith("halls: a change file does not change a layer's schema"), said
    assert "`venue-twin layer alter halls`" in said and "no such feature" not in err
    assert head(store) == before


def test_a_diff_back_past_a_layers_creation_says_the_diff_that_leaves_it_out(store: str, tmp_path: Path) -> None:
    start = head(store)
    schema = tmp_path / "security.yaml"
    schema.write_text(
        "name: security\ntitle_zh: 安保点位\ntitle_en: Security posts\ngeometry_types: [Point]\n"
        "fields:\n  - {name: code, type: string, required: true}\n"
    )
    code, _, err = run("layer", "create", str(schema), *AUTHOR, "--store", store)
    assert code == 0, err
    post = {"type": "Feature", "id": "sec-1", "twin:layer": "security", "twin:op": "add",
            "geometry": {"type": "Point", "coordinates": [121.296, 31.194]}, "properties": {"code": "S-1"}}  # fmt: skip
    with Twin.open(store) as t:
        wall = orjson.loads(t.feature("landscaping", "ls-green-wall-01"))
    wall = {**wall, "twin:layer": "landscaping", "twin:op": "modify"}
    wall["properties"]["length_m"] = 99.0
    edit = tmp_path / "edit.geojson"
    edit.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [post, wall]}))
    code, _, err = run("commit", str(edit), "-m", "a post and a longer wall", *AUTHOR, "--store", store)
    assert code == 0, err

    # the tester's case: back to 1 September, past the layer's creation
    undo = tmp_path / "undo.geojson"
    err = diff_to_file(store, undo, "HEAD", "2026-09-01")
    (note,) = [line for line in err.splitlines() if line.startswith("note:")]
    assert note.startswith("note: security: the diff spans the creation of layer security"), note
    assert "`venue-twin diff HEAD 2026-09-01 --layer halls --layer landscaping --layer projects " in note
    before = head(store)
    code, _, err = run("commit", str(undo), "-m", "back to 1 Sep", *AUTHOR, "--store", store)
    assert code == 2, err
    (said,) = problems(err)
    assert said.startswith("security: the diff spans the creation of layer security (created between "), said
    assert "schema changes are not committed from a change file" in said
    assert "no command that removes a layer" in said and "--layer security" not in said
    assert "reserved" not in err and "no such feature" not in err
    assert head(store) == before

    # back to before the layer: the command the refusal gives diffs the rest, which commits back
    err = diff_to_file(store, undo, "HEAD", start)
    code, _, err = run("commit", str(undo), "-m", "back", *AUTHOR, "--store", store)
    assert code == 2, err
    (said,) = problems(err)
    (command,) = re.findall(r"`(venue-twin diff [^`]*)`", said)
    args = shlex.split(command)[2:]
    assert args[1:] == [start[:12], "--layer", "landscaping"], args
    err = diff_to_file(store, undo, *args)
    assert "note:" not in err
    code, _, err = run("commit", str(undo), "-m", "the wall as it was", *AUTHOR, "--store", store)
    assert code == 0, err
    with Twin.open(store) as t:
        assert orjson.loads(t.feature("landscaping", "ls-green-wall-01"))["properties"]["length_m"] != 99.0
        assert t.fsck() == []


# HL-01 (planned start 2026-07-20) has reports of 2026-07-28, 08-07, 08-17 and 08-27 before 1 September;
# LS-03's moves only to before its first report (2026-08-07), and RD-01's earlier: no note of theirs.
SHEET = "项目编号,计划开始,计划完成\nLS-03,2026-08-05,2026-10-31\nHL-01,2026-09-01,2026-10-31\nRD-01,2026-07-01,2026-10-31\n"
HL01_NOTE = (
    "row 3: HL-01's planned start moves from 2026-07-20 to 2026-09-01, after 4 of its reports (the earliest dated "
    "2026-07-28): they stay as recorded, now before the planned start, and a new report dated before 2026-09-01 "
    "is refused"
)


def planned_start(store: str, code: str) -> str:
    with Twin.open(store) as t:
        return str(orjson.loads(t.feature("projects", code))["properties"]["planned_start"])


def test_a_register_sheet_moving_a_planned_start_past_reports_says_so(store: str, tmp_path: Path) -> None:
    sheet = tmp_path / "plan.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    code, out, err = run("projects", "import", str(sheet), *AUTHOR, "--store", store)
    assert code == 0, err
    assert "committed" in out
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    # one note on reports left before a planned start (HL-01's alone); the sheet's changes are said too
    assert [n for n in notes if " changes " not in n] == [f"note: {HL01_NOTE}"], err
    assert "note: row 3: HL-01 changes 计划开始 2026-07-20 → 2026-09-01; 计划完成 2026-09-30 → 2026-10-31" in notes, err
    assert planned_start(store, "HL-01") == "2026-09-01"  # not refused: a plan may be rebased


def test_a_register_upload_moving_a_planned_start_past_reports_says_so(store: str) -> None:
    tokens = make_tokens(store)
    with client(store) as api:  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {tokens['editor']}", "Content-Type": "text/csv"}
        r = api.post("/projects/import", content=SHEET.encode(), headers=headers)
    assert r.status_code == 201, r.text
    assert [n for n in r.json()["notes"] if " changes " not in n] == [HL01_NOTE]
    assert planned_start(store, "HL-01") == "2026-09-01"
