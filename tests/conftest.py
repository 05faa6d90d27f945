"""Fixtures shared by the twin tests: the small schema set, the area of interest, `make_twin`
(a Twin on a GeoPackage in tmp_path) and `store_factory` (parametrised over the stores: "gpkg" and
"postgis"; a store's test module picks one with
`@pytest.mark.parametrize("store_factory", ["postgis"], indirect=True)`).

PostGIS tests run on the server `VENUE_TWIN_TEST_POSTGIS_DSN` names (default
postgresql://postgres@127.0.0.1:5432/postgres): each test session makes its own throwaway
database there, each test its own schema in it, and drops both after. Without a server they skip
with a note on how to get one, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry.base import BaseGeometry
from store_contract import AOI, SCHEMAS, StoreFactory

from twin import LayerSchema, Twin
from twin.stores.base import Store
from twin.stores.gpkg import GeoPackageStore

# The CLI refuses a commit with no named author; the suite's commands are made by this one
# (tests of the refusal remove it).
os.environ.setdefault("VENUE_TWIN_AUTHOR", "Test Runner <venue-twin tests>")


def _gpkg_factory(tmp_path: Path, template: Path) -> StoreFactory:
    counter = iter(range(1_000_000))

    def make() -> Store:
        return GeoPackageStore(tmp_path / f"store-{next(counter)}.gpkg", create=True)

    def reopen(store: Store) -> Store:
        assert isinstance(store, GeoPackageStore)
        return GeoPackageStore(store.path)

    def initialized() -> Store:  # a copy of an empty twin created once per session
        path = tmp_path / f"store-{next(counter)}.gpkg"
        shutil.copyfile(template, path)
        return GeoPackageStore(path)

    return StoreFactory("gpkg", make, reopen, initialized)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Under CI=true a skip is a failure: a test that did not run must not pass for one that did."""
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


# The slowest test files, slowest first (seconds each took, `pytest --durations=0` summed by file on
# 2026-12-07 with two workers: brief 276, web_imagery 204, operator 188, api_clients 160, the rest
# 39-102). pytest-xdist hands out whole files (`--dist loadfile`) in collection order
# (`--no-loadscope-reorder`, Makefile), so the last file a worker gets is a short one and neither
# waits at the end for the other's long file (longest first; the web and imagery files, last by
# name, had left one worker busy alone for minutes). test_operator goes second, before
# test_web_imagery: the two workers start on the first two, and the briefing's and the imagery's
# tests both wait for the one surveyed twin the first of them builds. A stale order only costs
# balance, never a test.
SLOWEST_FILES = (
    "test_brief.py", "test_operator.py", "test_web_imagery.py", "test_api_clients.py",
    "test_web_print_browser.py", "test_web_browser.py", "test_api_edits.py", "test_evidence.py", "test_copy.py",
    "test_web_checks_browser.py", "test_store_postgis.py", "test_intake.py", "test_survey_intake.py",
    "test_web_labels_browser.py", "test_web_tiles.py", "test_api_robustness.py", "test_api_caching.py",
    "test_evidence_reading.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first (SLOWEST_FILES), each file's tests in their own order."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))


POSTGIS_DSN = os.environ.get("VENUE_TWIN_TEST_POSTGIS_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
HOW_TO_GET_POSTGIS = (
    "no PostgreSQL with PostGIS answers at {dsn} ({why}); the PostGIS half of the tests needs one: "
    "`apt-get install postgresql-15-postgis-3` (or any PostgreSQL 13+ with PostGIS 3), start it, and "
    "point VENUE_TWIN_TEST_POSTGIS_DSN at a role that may create databases (.ci/run does all this)"
)


def postgis_database() -> str:
    """A URL of a throwaway database with PostGIS for this test session (made on first use)."""
    global _session_db
    if _session_db is None:
        import psycopg
        from psycopg import sql

        try:
            admin = psycopg.connect(POSTGIS_DSN, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as e:
            msg = HOW_TO_GET_POSTGIS.format(dsn=POSTGIS_DSN, why=str(e).strip().splitlines()[0])
            if os.environ.get("CI") == "true":
                pytest.fail(msg)
            pytest.skip(msg)
        name = f"venue_twin_test_{uuid.uuid4().hex[:12]}"
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        base = POSTGIS_DSN.rsplit("/", 1)[0]
        _session_db = (f"{base}/{name}", name)
    return _session_db[0]


_session_db: tuple[str, str] | None = None


def drop_postgis_database() -> None:
    if _session_db is None:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGIS_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_session_db[1])))


def postgis_url() -> str:
    """A URL naming a fresh schema in the session's database (drop it with drop_postgis_schemas)."""
    url = f"{postgis_database()}?schema=t_{uuid.uuid4().hex[:12]}"
    _made_schemas.append(url)
    return url


_made_schemas: list[str] = []


def clone_postgis_twin(src: str) -> str:
    """A new schema holding what the twin at `src` (a closed PostGIS twin in the session's database)
    holds, copied table by table inside the server: what a `venue-twin copy` would make, in a
    fraction of the time (a test's fixture twin is built and copied once, then cloned per test).
    The tables come from the store's own migrations, so keys, indexes and sequences are its own."""
    import psycopg
    from psycopg import sql

    from twin.stores.postgis import _TABLES, migrate

    url = postgis_url()
    migrate(url)
    a, b = src.rsplit("=", 1)[1], url.rsplit("=", 1)[1]
    with psycopg.connect(postgis_database(), autocommit=True) as c, c.transaction():
        for table in reversed(_TABLES):  # referenced tables first
            cols = [
                r[0]
                for r in c.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                    (f"{a}.{table}",),
                ).fetchall()
            ]
            names = sql.SQL(", ").join(map(sql.Identifier, cols))
            c.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(b, table)))
            c.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    sql.Identifier(b, table), names, names, sql.Identifier(a, table)
                )
            )
            for col in cols:  # a serial column's sequence goes on from the copied rows
                seq = c.execute("SELECT pg_get_serial_sequence(%s, %s)", (f"{b}.{table}", col)).fetchone()[0]  # type: ignore[index]
                if seq is not None:
                    c.execute(
                        sql.SQL("SELECT setval(%s, coalesce((SELECT max({}) FROM {}), 0) + 1, false)").format(
                            sql.Identifier(col), sql.Identifier(b, table)
                        ),
                        (seq,),
                    )
        c.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(b, "twin_versions")))
    return url


def drop_postgis_schemas() -> None:
    import psycopg
    from psycopg import sql

    if not _made_schemas:
        return
    with psycopg.connect(postgis_database(), autocommit=True) as c:
        while _made_schemas:
            schema = _made_schemas.pop().rsplit("=", 1)[1]
            c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _postgis_factory(tmp_path: Path, template: Path) -> StoreFactory:
    from twin.stores.postgis import PostGISStore

    def make() -> Store:
        return PostGISStore(postgis_url(), create=True, pool_size=4)

    def reopen(store: Store) -> Store:
        assert isinstance(store, PostGISStore)
        return PostGISStore(store.url, pool_size=4)

    return StoreFactory("postgis", make, reopen)


# kind -> builder of a StoreFactory for one test, given that test's tmp_path and the path of an
# empty GeoPackage twin with SCHEMAS and AOI (a file-based store may copy it; others ignore it)
STORE_FACTORIES: dict[str, Callable[[Path, Path], StoreFactory]] = {
    "gpkg": _gpkg_factory,
    "postgis": _postgis_factory,
}


@pytest.fixture(scope="session", autouse=True)
def _postgis_session() -> Iterator[None]:
    yield
    drop_postgis_database()


@pytest.fixture
def postgis_twin_url() -> Iterator[str]:
    """A URL for a new PostGIS twin (a fresh schema), dropped after the test."""
    yield postgis_url()
    drop_postgis_schemas()


@pytest.fixture(scope="session")
def _template_twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty twin with the default schemas, created once and closed (so fully checkpointed)."""
    path = tmp_path_factory.mktemp("template") / "twin.gpkg"
    Twin.create(path, SCHEMAS, AOI).close()
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium for a test module's pages (a missing browser fails, never skips)."""
    from deadlines import BROWSER_MS
    from playwright.sync_api import sync_playwright
    from web_support import launch_chromium

    with sync_playwright() as pw:
        b = launch_chromium(pw, timeout=BROWSER_MS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def surveyed_twin(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The bundled twin with the demo surveys flown at T-70, T-30 and T-10 (an orthophoto and an
    NDVI each), built once per run for the evidence and imagery tests, which only read it. Under
    pytest-xdist the workers share it: the first to ask builds it under a file lock in their common
    temporary directory, the others wait for it and read the same file (building it took each
    worker 30-50 s of its share of the suite)."""
    import fcntl

    from layers.bundle import build_bundled_twin
    from layers.demo_surveys import build_demo_surveys

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the workers' directories (popen-gw0, ...) sit side by side in it
    folder = root / "surveyed-shared"
    path, built = folder / "venue.gpkg", folder / "built"
    with open(root / "surveyed-shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build a killed worker left half done
            folder.mkdir()
            with build_bundled_twin(path) as twin:
                made = build_demo_surveys(twin, folder / "render", checkpoints=(70, 30, 10))
                twin.flush()
            assert [(s.kind, s.on.isoformat()) for s in made] == [
                (kind, day) for day in ("2026-08-27", "2026-10-06", "2026-10-26") for kind in ("orthophoto", "ndvi")
            ]
            built.touch()
    return path


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path, _template_twin: Path) -> Iterator[StoreFactory]:
    factory = STORE_FACTORIES[request.param](tmp_path, _template_twin)
    yield factory
    factory.close_all()
    drop_postgis_schemas()


@pytest.fixture
def schemas() -> tuple[LayerSchema, ...]:
    return SCHEMAS


@pytest.fixture
def aoi() -> BaseGeometry:
    return AOI


MakeTwin = Callable[..., Twin]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module that sets `TWIN_STORES = ("gpkg", "postgis")` runs its twin-level tests (those
    using `make_twin` or `twin`) on each of those stores; other modules use the GeoPackage store."""
    stores = getattr(metafunc.module, "TWIN_STORES", None)
    if metafunc.definition.get_closest_marker("gpkg_only"):  # tests of the GeoPackage file itself
        stores = ("gpkg",)
    if stores and "twin_store" in metafunc.fixturenames:
        metafunc.parametrize("twin_store", stores, indirect=True)


@pytest.fixture
def twin_store(request: pytest.FixtureRequest) -> str:
    """Which store `make_twin` makes twins on ("gpkg" unless the module says otherwise)."""
    return getattr(request, "param", "gpkg")


@pytest.fixture
def make_twin(tmp_path: Path, _template_twin: Path, twin_store: str) -> Iterator[MakeTwin]:
    """`make_twin(name="twin", schemas=SCHEMAS, aoi=AOI, fresh=False)`: a new, empty Twin on a
    GeoPackage in tmp_path (or, where the module chose PostGIS, in a fresh schema). With the default
    schemas a GeoPackage twin is a copy of one created once per session (creating one costs ~60 ms
    of fsyncs); `fresh=True` runs Twin.create for this test."""
    made: list[Twin] = []

    def make(
        name: str = "twin", schemas: Sequence[LayerSchema] = SCHEMAS, aoi: BaseGeometry = AOI, fresh: bool = False
    ) -> Twin:
        if twin_store == "postgis":
            t = Twin.create(postgis_url(), schemas, aoi)
            made.append(t)
            return t
        path = tmp_path / f"{name}.gpkg"
        if fresh or tuple(schemas) != SCHEMAS or not aoi.equals(AOI):
            t = Twin.create(path, schemas, aoi)
        else:
            shutil.copyfile(_template_twin, path)
            t = Twin.open(path)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()
    drop_postgis_schemas()


@pytest.fixture
def twin(make_twin: MakeTwin) -> Twin:
    return make_twin()


@pytest.fixture
def survey_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The survey directory of a test's twin: VENUE_TWIN_SURVEY_DIR, a folder of the test's own."""
    d = tmp_path / "rasters"
    monkeypatch.setenv("VENUE_TWIN_SURVEY_DIR", str(d))
    return d


@pytest.fixture
def season_recorded_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small season (register and reports, `venue-twin projects sample`) imported into an empty
    twin without --original-dates, as the README's intake records a season: recorded now, its
    reports dated at checkpoints that fall before the twin's history."""
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("VENUE_TWIN_AUTHOR", "Guo Hui <battle-map office>")
    book, store = tmp_path / "season.xlsx", tmp_path / "season.gpkg"
    for args in (
        ("projects", "sample", str(book), "--projects", "6"),
        ("init", "--empty", "--store", str(store)),
        ("projects", "import", str(book), "-s", str(store)),
        ("progress", "import", str(book), "-s", str(store)),
    ):
        r = CliRunner().invoke(app, list(args))
        assert r.exit_code == 0, (args, r.output)
    return store


@pytest.fixture(scope="module")
def late_done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small register, opening day 2026-11-05: A reported done on 11-20 (after opening day), B not
    done (40 %), C done on 10-18 (in time). (The modules of the missed-opening-day finds read it.)"""
    from register_records import noon, project_record

    from completion.reports import ProgressReport, report_progress, save_projects
    from layers.catalogue import AREA_OF_INTEREST, LAYERS

    path = tmp_path_factory.mktemp("late-done") / "register.gpkg"
    records = [project_record(code, "2026-09-01", "2026-10-20") for code in ("A", "B", "C")]
    with Twin.create(path, LAYERS, AREA_OF_INTEREST) as twin:
        save_projects(twin, records, author="coordinator", message="Register", time=noon("2026-08-20"))
        for code, pct, day in (("A", 50, "2026-10-10"), ("B", 40, "2026-10-10"), ("C", 100, "2026-10-18")):
            report_progress(
                twin, ProgressReport(code, pct, date.fromisoformat(day)), reporter=f"r.{code}", time=noon(day)
            )
        report_progress(
            twin, ProgressReport("A", 100, date.fromisoformat("2026-11-20")), reporter="r.A", time=noon("2026-11-20")
        )
    return path


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """`today("2026-12-07")` sets today's date (Shanghai) for the completion code, the API, the
    pages and the CLI (each module that reads it: its own name for completion.snapshot.today_local)."""
    import api.html
    import completion.landing
    import completion.snapshot

    def set_today(day: str) -> None:
        for module in (completion.snapshot, completion.landing, api.html):
            monkeypatch.setattr(module, "today_local", lambda: date.fromisoformat(day))

    return set_today
