"""Helpers for the API tests: venue twins on disk, tokens, in-process clients and a real server.

Imported by tests/test_api_*.py (pytest puts tests/ on sys.path, as for store_contract). Nothing
here is a fixture, so each test module builds what it needs at the scope it needs:

- `build_venue(path)`: the bundled venue twin with its ten-commit history, closed on disk.
- `build_restricted_venue(path, roles)`: the same plus a `security` layer restricted to `roles`,
  with one commit that touches only that layer and one that touches it and `halls`.
- `make_tokens(store)`: one token per role (and a revoked one) in the twin at `store` (tokens live
  in the twin's store, so a copy of the file carries them); returns role → token.
- `client(store, **settings)`: a TestClient on create_app(), used as a context manager
  so the app's lifespan closes the twin it opened.
- `LiveServer`: `uvicorn api.main:app` (or `venue-twin serve`) in a subprocess on a free
  loopback port, with its access log captured so tests can count the requests a client made;
  `workers=2` runs two worker processes on the one twin file, as production does.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from deadlines import HTTP, SERVER_START, STOP
from fastapi.testclient import TestClient

from api.main import create_app
from api.server import HTTP_PROTOCOL
from api.settings import ApiSettings
from layers.bundle import HISTORY_DIR, build_bundled_twin, bundled_history_files
from layers.catalogue import AREA_OF_INTEREST, LAYERS
from layers.changefile import read_change_file
from twin import Change, CommitInfo, Feature, LayerSchema, Twin, feature_from_geojson
from twin.model import FieldSpec

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

OGC_CRS = "http://www.opengis.net/def/crs/"
CRS84 = OGC_CRS + "OGC/1.3/CRS84"
EPSG4326 = OGC_CRS + "EPSG/0/4326"
EPSG4490 = OGC_CRS + "EPSG/0/4490"
EPSG4549 = OGC_CRS + "EPSG/0/4549"
EPSG3857 = OGC_CRS + "EPSG/0/3857"

ROLES = ("viewer", "engineer", "editor", "admin")
TOKEN_NAMES = {"viewer": "wang.viewer", "engineer": "zhao.engineer", "editor": "li.wei", "admin": "chen.admin"}

RESTRICTED = LayerSchema(
    name="security",
    title_zh="安保点位",
    title_en="Security posts",
    geometry_types=("Point",),
    fields=(
        FieldSpec("code", "string", required=True, title_zh="编号", title_en="Code"),
        FieldSpec("name_en", "string", title_en="Name"),
    ),
    code_field="code",
    description="Security posts; not for the public.",
    restricted_to=("engineer",),
)


# ---------------------------------------------------------------------------- twins on disk
# The store the API and map tests run on: the GeoPackage file by default; with
# VENUE_TWIN_TEST_STORE=postgis (a second run in `make test`) every twin these helpers build is
# copied into a fresh PostGIS schema and the tests get its URL, so the same tests check both stores.
TEST_STORE = os.environ.get("VENUE_TWIN_TEST_STORE", "gpkg")


def on_test_store(path: Path) -> Any:
    """The twin file at `path` as the test store holds it: the path itself, or a PostGIS copy's URL."""
    if TEST_STORE == "gpkg":
        return path
    if TEST_STORE != "postgis":
        raise ValueError(f"VENUE_TWIN_TEST_STORE={TEST_STORE!r} is not gpkg or postgis")
    from conftest import clone_postgis_twin

    return clone_postgis_twin(_postgis_template(path))


# A twin's identity -> a PostGIS copy of it made once per session, which each test clones.
_templates: dict[tuple[Any, ...], str] = {}


def _postgis_template(path: Path) -> str:
    """A PostGIS copy of the twin file at `path`, shared by every twin with the same content: the same
    history (the head's id hashes all of it), first schemas, area of interest and tokens."""
    from conftest import postgis_database

    from twin.copying import copy_twin

    with Twin.open(path) as twin:
        head = twin.head()
        key = (
            head.id if head else None,
            tuple(sorted((s.name, repr(s)) for s in twin.store.schemas_at(0).values())),
            twin.area_of_interest.wkt,
            tuple(twin.store.token_export()),
        )
    url = _templates.get(key)
    if url is None:
        import uuid

        # Not among the test's schemas (those are dropped after each test): it goes with the session's database.
        url = f"{postgis_database()}?schema=template_{uuid.uuid4().hex[:12]}"
        copy_twin(path, url)
        _templates[key] = url
    return url


def build_venue(path: Path) -> Any:
    """The bundled venue twin at `path` (closed: safe to copy or to open from another process), on
    the test store (a path, or a PostGIS URL)."""
    return on_test_store(bundled_file(path))


def with_temporary(store: Any, values: dict[str, bool]) -> Any:
    """The twin at `store` with these south-plaza facilities marked temporary or not (by id), in
    one commit: the bundled ones say neither, which a boolean filter needs both of."""
    with Twin.open(store) as t:
        changes = []
        for fid, value in values.items():
            f = feature_from_geojson(t.feature("south_plaza", fid))
            f.properties["temporary"] = value
            changes.append(Change("south_plaza", "modify", fid, f))
        t.commit(changes, author="test", message="temporary or not")
    return store


_BUILT: dict[str, Path] = {}  # file name -> this process's build of the bundled twin under that name


def bundled_file(path: Path) -> Path:
    """The bundled venue twin written at `path`, closed: built once per process and file name, then
    copied (a build takes most of a second, 43 modules ask for one; the file is the same every
    time, its commits' times being the change files'). By file name, as the QGIS project the file
    carries names its own file."""
    built = _BUILT.get(path.name)
    if built is not None and built.exists():
        shutil.copyfile(built, path)
        return path
    build_bundled_twin(path).close()
    # Kept in a folder of this process's own, not beside the first test's file: a test that looks at
    # what lies beside its twin (test_api_robustness: no token file) found the cache there.
    _BUILT[path.name] = _build_dir() / path.name
    shutil.copyfile(path, _BUILT[path.name])
    return path


@functools.cache
def _build_dir() -> Path:
    made = Path(tempfile.mkdtemp(prefix="venue-twin-bundled-"))
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made


def venue_commit(twin: Twin, n: int) -> CommitInfo:
    """The commit made from the bundled venue change file number `n` (layers/data/history/00n-*.geojson).

    Facts of the bundled history are pinned to these commits, not to HEAD~n or a sequence number,
    so commits interleaved with them (the project register's reports) or added later do not
    move them. Found by the file's author and message.
    """
    (path,) = sorted(HISTORY_DIR.glob(f"{n:03d}-*.geojson"))
    cf = read_change_file(path)
    found = [c for c in twin.log(100_000) if c.message == cf.message and c.author == cf.author]
    assert len(found) == 1, (path.name, len(found))
    return found[0]


def copy_store(src: Any, dst: Path) -> Any:
    """A fresh copy of a closed twin (a file, or a PostGIS twin: a new schema), for a test that writes."""
    if isinstance(src, Path):
        shutil.copyfile(src, dst)
        return dst
    from conftest import clone_postgis_twin

    return clone_postgis_twin(src)


def build_restricted_venue(path: Path, roles: Sequence[str] = ("engineer",)) -> Any:
    """The bundled venue's layers and history plus a `security` layer only `roles` (and admins) may see.

    After the bundled history come two commits: HEAD~1 adds two security posts (security only),
    HEAD adds a third post and changes hall-1.1H's notes (security and halls).
    """
    schema = LayerSchema(**{**RESTRICTED.__dict__, "restricted_to": tuple(roles)})
    twin = Twin.create(path, [*LAYERS, schema], AREA_OF_INTEREST)
    try:
        for f in bundled_history_files():  # the bundled history, as build_bundled_twin applies it
            cf = read_change_file(f)
            assert cf.time is not None
            when = datetime.fromisoformat(cf.time.replace("Z", "+00:00"))
            twin.commit(cf.changes, author=cf.author or "?", message=cf.message or "?", time=when)
        posts = [
            _post("sec-south-gate", 121.2975, 31.1865, "SEC-01", "South gate post"),
            _post("sec-west-hall", 121.2930, 31.1915, "SEC-02", "West hall post"),
        ]
        # Made now, after every bundled commit, so they are HEAD~1 and HEAD.
        twin.commit(posts, author="site office", message="Security posts for the expo")
        hall = feature_from_geojson(twin.feature("halls", "hall-1.1H"))
        hall.properties["notes"] = "Checked before the opening."
        twin.commit(
            [
                _post("sec-north", 121.2980, 31.1950, "SEC-03", "North post"),
                Change("halls", "modify", "hall-1.1H", hall),
            ],
            author="site office",
            message="North post; hall 1.1H checked",
        )
    finally:
        twin.close()
    return on_test_store(path)


def _post(fid: str, lon: float, lat: float, code: str, name: str) -> Change:
    return Change("security", "add", fid, Feature(fid, shapely.Point(lon, lat), {"code": code, "name_en": name}))


# ---------------------------------------------------------------------------- tokens and clients
def make_tokens(store: str | Path) -> dict[str, str]:
    """A token per role in the twin at `store`, keyed by role, plus "revoked": an editor token that
    was revoked."""
    with Twin.open(store) as twin:
        # a copy of a twin that has them already: those are revoked (two live tokens may not share a name)
        for name in {t.name for t in twin.tokens.list() if t.revoked is None} & set(TOKEN_NAMES.values()):
            twin.tokens.revoke(name)
        tokens = {role: twin.tokens.create(TOKEN_NAMES[role], role) for role in ROLES}
        tokens["revoked"] = twin.tokens.create("former.editor", "editor")
        twin.tokens.revoke("former.editor")
    return tokens


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def client(store: Path, **settings: Any) -> Iterator[TestClient]:
    app = create_app(ApiSettings(store=store, **settings))
    # A server error answers 500 here, as it would over the wire, instead of raising in the test.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def problem_of(resp: httpx.Response, status: int, parameter: str | None = None) -> dict[str, Any]:
    """Assert `resp` is an RFC 9457 problem with this status (and naming this parameter); return it."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers["content-type"]
    body = resp.json()
    assert body["status"] == status
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    return body  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- a real server
def _listening_socket() -> socket.socket:
    """A loopback socket on a free port, already listening: the server inherits it (uvicorn --fd),
    so no other process (a second test run, say) can take the port between choosing and serving.

    TCP_NODELAY on it, which Linux gives every connection it accepts: uvicorn takes an inherited
    socket (--fd) for a Unix one, so its event loop does not set TCP_NODELAY on the connections as
    it does on those of a port it binds itself (`venue-twin serve`, production). Without it each
    answer's body waited behind its head for the client's delayed ACK: 40 ms a request, most of
    the time of the tests that make hundreds of requests (schemathesis, GDAL paging, tiles)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


def _reserved_port() -> socket.socket:
    """A free port held by a bound, non-listening socket with SO_REUSEADDR, for a server that binds
    the port itself (`venue-twin serve --port`): servers set SO_REUSEADDR and can bind it, while a
    plain bind elsewhere (another run's free port) cannot. Closed once the server answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


class LiveServer:
    """The API served by uvicorn in a subprocess on 127.0.0.1; stop() ends only that process."""

    def __init__(
        self,
        store: str | Path,  # a file or a store URL
        log: Path,
        *,
        cli: bool = False,
        env: dict[str, str] | None = None,
        workers: int = 1,
    ):
        sock = _reserved_port() if cli else _listening_socket()
        self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {
            **os.environ,
            "VENUE_TWIN_STORE": str(store),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        if cli:
            cmd = [
                str(VENV_BIN / "venue-twin"),
                "serve",
                "--store",
                str(store),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--fd",
                str(sock.fileno()),
                "--workers",
                str(workers),
                "--http",
                HTTP_PROTOCOL,  # as `venue-twin serve` runs it
                "--log-level",
                "info",
            ]  # info: the access log, one line per request
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=full_env,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                pass_fds=() if cli else (sock.fileno(),),
            )
            if not cli:
                sock.close()  # the server holds its copy; ours closed, a server that dies refuses connections
            self._wait()
        finally:
            sock.close()  # the reservation ends once the server has bound the port itself

    def _wait(self, timeout: float = SERVER_START) -> None:
        """Poll /conformance until the server answers 200: ready, whatever the machine's load.
        One client for the polls: httpx.get makes a client (and its TLS context) each time, 20 ms
        of CPU a poll taken from the server starting beside it."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=HTTP) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log.read_text()}")
                try:
                    # a slow first answer is still an answer: wait for it rather than ask again
                    if http.get(self.url + "/conformance").status_code == 200:
                        return
                except httpx.HTTPError:  # not listening yet
                    pass
                time.sleep(0.1)  # between polls of a condition, not a wait for time to pass
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log.read_text()}")

    def access_lines(self, path_fragment: str) -> list[str]:
        """The access-log lines of requests whose path contains `path_fragment`."""
        return [line for line in self.log.read_text(errors="replace").splitlines() if path_fragment in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP)
        self._log_file.close()


def missing_client(reason: str) -> None:
    """A client tool the suite needs is missing: fail in CI, skip on a developer's machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing client is a failure)")
    pytest.skip(reason)


SECRET_REF = "security/sec-north"  # a restricted layer's feature a project record references


def restricted_register(path: Path) -> tuple[Path, dict[str, str]]:
    """The restricted venue (build_restricted_venue) with HL-01 referencing a hall and SECRET_REF, and
    a token for each role: what the tests of names and links check the visibility rule on."""
    from completion import save_projects

    store = build_restricted_venue(path, ("engineer",))
    with Twin.open(store) as twin:
        save_projects(
            twin, [{"code": "HL-01", "features": ["halls/hall-GC", SECRET_REF]}], author="chen.admin", message="post"
        )
    return store, make_tokens(store)


def referenced_layers(store: Path) -> list[str]:
    """The layers the project register's records reference, sorted."""
    import orjson

    with Twin.open(store) as twin:
        register = [orjson.loads(b)["properties"] for b in twin.features("projects").features]
    return sorted({k.partition("/")[0] for p in register for k in p.get("features") or []})
