"""The PostGIS store: the store contract on PostgreSQL, and what only PostGIS has (the query plan,
migrations, writers in other processes, COPY, native vector tiles, ids equal to the embedded store's)."""

from __future__ import annotations

import pytest
from store_contract import StoreContract


@pytest.mark.parametrize("store_factory", ["postgis"], indirect=True)
class TestPostGISStoreContract(StoreContract):
    pass


# ---------------------------------------------------------------------------- PostGIS only
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote, urlencode  # noqa: E402

import mapbox_vector_tile  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
import shapely  # noqa: E402
from psycopg import sql  # noqa: E402
from pyproj import Transformer  # noqa: E402
from store_contract import (  # noqa: E402
    AOI,
    HALLS,
    SCHEMAS,
    X0,
    Y0,
    at,
    bbox_of,
    gate,
    hall,
    pt,
    standard_history,
)

from layers.bundle import build_bundled_twin  # noqa: E402
from twin import BadInput, Change, Conflict, Feature, FieldSpec, LayerSchema, Twin  # noqa: E402
from twin.stores.postgis import FORMAT_VERSION, PostGISStore, ewkb_4326, migrate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _sql(url: str, query: str, args: tuple = ()) -> list[tuple]:
    from twin.stores.postgis import _connect

    with _connect(url) as c:
        cur = c.execute(query, args)
        return cur.fetchall() if cur.description else []


def _many_gates(n: int, prefix: str = "g") -> list[Change]:
    side = int(n**0.5) + 1
    return [
        Change(
            "gates",
            "add",
            f"{prefix}{i:06d}",
            Feature(
                f"{prefix}{i:06d}",
                shapely.Point(X0 - 0.02 + 0.04 * (i % side) / side, Y0 - 0.02 + 0.04 * (i // side) / side),
                {"code": f"{prefix.upper()}{i:06d}"},
            ),
        )
        for i in range(n)
    ]


def test_a_large_commit_goes_through_copy_and_bbox_reads_use_the_index(postgis_twin_url: str):
    """20,000 features in one commit, then 30 commits of history on top; the as-of bbox read
    is planned on the GiST index, never as a scan of the versions table."""
    with Twin.create(postgis_twin_url, SCHEMAS, AOI) as twin:
        changes = _many_gates(20_000)
        t0 = time.perf_counter()
        first = twin.commit(changes, author="bulk", message="import", time=at(0))
        took = time.perf_counter() - t0
        print(f"\n20,000-feature commit on PostGIS: {took:.2f} s")
        for k in range(30):
            twin.commit([gate(f"x{k}", k % 10, k // 10)], author="a", message=f"c{k}", time=at(k + 1))
        assert twin.count("gates") == 20_030
        assert twin.count("gates", twin.resolve(first.id)) == 20_000
        b = bbox_of(-1, -1, 1, 1)
        old = twin.features("gates", twin.resolve(first.id), bbox=b)
        assert 0 < old.number_matched < 100
        _sql(postgis_twin_url, "ANALYZE twin_versions")
        store = twin.store
        assert isinstance(store, PostGISStore)
        args = {"lid": store._lid("gates"), "seq": first.seq, "box": store._box(b)}
        with store._conn() as c:
            plan = c.execute(
                f"EXPLAIN (FORMAT JSON) SELECT feature_id, geojson FROM twin_versions WHERE {store._IN_BBOX} "
                "ORDER BY feature_id",
                args,
            ).fetchone()[0]
        text = orjson.dumps(plan).decode()
        assert "twin_versions_space" in text, text
        assert '"Seq Scan"' not in text, text
        # The vector tile's query runs on the same index (its boxes are constants, not a join).
        import morecantile

        tms = morecantile.tms.get("WebMercatorQuad")
        t = tms.xy_bounds(tms.tile(X0, Y0, 16))
        lon = tms.bounds(tms.tile(X0, Y0, 16))
        tile_args = {
            "x0": t.left, "y0": t.bottom, "x1": t.right, "y1": t.top,
            "lx0": lon.left, "ly0": lon.bottom, "lx1": lon.right, "ly1": lon.top, "srid": 3857,
            "lid": store._lid("gates"), "seq": first.seq, "extent": 4096, "buffer": 64, "name": "gates",
        }  # fmt: skip
        # Its text follows the layer's field types (typed columns for number, integer and list
        # fields): paths' query (a number field) on the gates' rows plans the same.
        for layer in ("gates", "paths"):
            with store._conn() as c:
                plan = c.execute("EXPLAIN (FORMAT JSON) " + store._mvt_sql(layer, first.seq), tile_args).fetchone()[0]
            text = orjson.dumps(plan).decode()
            assert "twin_versions_space" in text, (layer, text)
            assert '"Seq Scan"' not in text, (layer, text)
        # The copy path wrote what a row insert would: fsck recomputes every id from the stored bytes.
        assert twin.fsck() == []


def test_an_older_format_is_upgraded_by_migrate_and_a_newer_one_refused(postgis_twin_url: str):
    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
        ids = [c.id for c in twin.log()]
    # A twin as migration 1 left it: no token table (2), a foreign key per version row (3), a
    # surrogate version id and two indexes by feature (4).
    _sql(url, "DROP TABLE twin_tokens")
    _sql(url, "ALTER TABLE twin_versions ADD CONSTRAINT twin_versions_layer_id_fkey FOREIGN KEY (layer_id) REFERENCES twin_layers")
    _sql(url, "ALTER TABLE twin_versions DROP CONSTRAINT twin_versions_pkey")
    _sql(url, "ALTER TABLE twin_versions ADD COLUMN vid bigserial PRIMARY KEY")
    _sql(url, "CREATE INDEX twin_versions_feature ON twin_versions (layer_id, feature_id, from_seq)")
    _sql(url, "CREATE INDEX twin_versions_current ON twin_versions (layer_id, feature_id) WHERE to_seq IS NULL")
    _sql(url, "UPDATE twin_meta SET value='1' WHERE key='format'")
    with pytest.raises(BadInput, match="venue-twin migrate"):
        Twin.open(url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "migrate", "--store", url], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert "applied 2:" in run.stdout
    assert "applied 3:" in run.stdout
    assert "applied 4:" in run.stdout
    assert migrate(url) == []  # up to date now
    # Migration 3 took the per-row foreign key off the versions (commits check their layers once).
    assert _sql(url, "SELECT count(*) FROM pg_constraint WHERE conname = 'twin_versions_layer_id_fkey'")[0][0] == 0
    # Migration 4 keyed versions by (layer, feature, first commit): no vid, one B-tree by feature.
    assert _sql(url, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'twin_versions_pkey'") == [
        ("PRIMARY KEY (layer_id, feature_id, from_seq)",)
    ]
    columns = {r[0] for r in _sql(url, "SELECT attname FROM pg_attribute WHERE attrelid = 'twin_versions'::regclass")}
    assert "vid" not in columns
    indexes = {r[0] for r in _sql(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'twin_versions'::regclass")}
    assert not indexes & {"twin_versions_current", "twin_versions_feature"}
    with Twin.open(url) as twin:
        assert [c.id for c in twin.log()] == ids
        assert twin.fsck() == []
        assert twin.store.token_add("ops", "admin", "h1", "2026-10-20T00:00:00Z") == 1  # type: ignore[attr-defined]
    _sql(url, "UPDATE twin_meta SET value=%s WHERE key='format'", (str(FORMAT_VERSION + 1),))
    with pytest.raises(BadInput, match="newer"):
        Twin.open(url)
    with pytest.raises(BadInput, match="upgrade venue-twin"):
        migrate(url)


def _back_to_format_3(url: str) -> None:
    """Give a twin the layout migration 4 replaced: a surrogate vid key and two B-trees by feature."""
    _sql(url, "ALTER TABLE twin_versions DROP CONSTRAINT twin_versions_pkey")
    _sql(url, "ALTER TABLE twin_versions ADD COLUMN vid bigserial PRIMARY KEY")
    _sql(url, "CREATE INDEX twin_versions_feature ON twin_versions (layer_id, feature_id, from_seq)")
    _sql(url, "CREATE INDEX twin_versions_current ON twin_versions (layer_id, feature_id) WHERE to_seq IS NULL")
    _sql(url, "UPDATE twin_meta SET value='3' WHERE key='format'")


def _still_format_3(url: str) -> None:
    """What migration 4 changes is all as it was: the format, the vid key and both indexes."""
    assert _sql(url, "SELECT value FROM twin_meta WHERE key='format'") == [("3",)]
    assert _sql(url, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'twin_versions_pkey' "
                "AND conrelid = 'twin_versions'::regclass") == [("PRIMARY KEY (vid)",)]  # fmt: skip
    indexes = {r[0] for r in _sql(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                                  ("twin_versions",))}  # fmt: skip
    assert {"twin_versions_current", "twin_versions_feature"} <= indexes


def test_a_migrate_that_meets_a_session_using_the_twin_gives_up_in_words_and_changes_nothing(postgis_twin_url: str):
    """Migration 4 needs the version table to itself. An API process of the older release still
    reading it (here: a transaction left open) used to keep `venue-twin migrate` waiting without a
    word for as long as it lasted, and every reader queued behind the waiting ALTER TABLE. It waits
    `--lock-timeout` seconds, then stops naming the sessions in its way; nothing is changed."""
    from twin.stores.postgis import MIGRATIONS, _split_url

    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
        ids = [c.id for c in twin.log()]
    _back_to_format_3(url)
    conninfo, schema = _split_url(url)
    holder = psycopg.connect(conninfo, application_name="an old API process")  # its reads stay in a transaction
    # Should the migration wait on regardless, ending the holder lets it finish instead of hanging the test.
    guard = threading.Timer(120, holder.cancel)
    guard.start()
    try:
        holder.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        holder.execute("SELECT count(*) FROM twin_versions").fetchone()
        t0 = time.monotonic()
        with pytest.raises(BadInput) as refused:
            migrate(url, lock_timeout=0.5)
        assert time.monotonic() - t0 < 60
        said = str(refused.value)
        assert "an old API process" in said and f"pid {holder.info.backend_pid}" in said, said
        assert "venue-twin migrate" in said and "nothing was changed" in said and "format 3" in said, said
        _still_format_3(url)
        # The command says the same, in words (exit 2), with the wait given on its command line.
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        run = subprocess.run(
            [sys.executable, "-m", "cli.main", "migrate", "--store", url, "--lock-timeout", "0.5"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
        )  # fmt: skip
        assert run.returncode == 2, run.stdout + run.stderr
        assert "an old API process" in run.stderr and "Traceback" not in run.stderr, run.stderr
        _still_format_3(url)
    finally:
        guard.cancel()
        holder.close()
    # With the session gone the same command upgrades the twin, which reads as before.
    assert migrate(url, lock_timeout=0.5) == [MIGRATIONS[3][0]]
    with Twin.open(url) as twin:
        assert [c.id for c in twin.log()] == ids
        assert twin.fsck() == []


def test_a_migrate_that_may_not_create_postgis_says_who_must(postgis_twin_url: str):
    """`createdb` then `venue-twin migrate` as an ordinary role: PostGIS is no trusted extension, so
    only a superuser may create it. The refusal says so in words (not a psycopg traceback), and
    once a superuser has created it the same role migrates."""
    import uuid
    from urllib.parse import urlsplit

    from conftest import POSTGIS_DSN, postgis_database

    postgis_database()  # skips (or fails under CI) without a server, as every PostGIS test does
    name = f"venue_twin_test_{uuid.uuid4().hex[:12]}"
    dsn = urlsplit(POSTGIS_DSN)
    url = f"postgresql://{name}:pw@{dsn.hostname}:{dsn.port or 5432}/{name}"
    ident = sql.Identifier(name)
    with psycopg.connect(POSTGIS_DSN, autocommit=True) as admin:
        try:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(ident))
        except psycopg.errors.InsufficientPrivilege:
            why = "the test role may not create roles (CREATEROLE), which this test needs"
            if os.environ.get("CI") == "true":  # CI's cluster lets postgres do it: a skip there hides a failure
                pytest.fail(why)
            pytest.skip(why)
        try:  # from template0: a template1 that holds PostGIS would give the database PostGIS too
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(ident, ident))
            with pytest.raises(BadInput) as refused:
                migrate(url)
            said = str(refused.value)
            assert "CREATE EXTENSION postgis" in said and "superuser" in said and name in said, said
            assert "Traceback" not in said and "nothing was changed" in said, said
            assert _sql(url, "SELECT to_regclass('twin_meta')") == [(None,)]
            with psycopg.connect(f"{POSTGIS_DSN.rsplit('/', 1)[0]}/{name}", autocommit=True) as su:
                su.execute("CREATE EXTENSION postgis")
            assert len(migrate(url)) == FORMAT_VERSION
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def test_a_migrate_of_a_damaged_twin_names_the_damage_and_changes_nothing(postgis_twin_url: str):
    """Two versions of one feature from one commit (which no commit writes; fsck reports the commit
    no longer hashing to its id) cannot take migration 4's key: the migration stops in words,
    exit 1 as for a corrupt twin, instead of a UniqueViolation traceback, and leaves format 3."""
    from twin import Corrupt

    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
    _back_to_format_3(url)
    _sql(
        url,
        "INSERT INTO twin_versions (layer_id, feature_id, from_seq, to_seq, op, geom, minx, miny, maxx, maxy, "
        "properties, geojson, code) SELECT layer_id, feature_id, from_seq, to_seq, op, geom, minx, miny, maxx, maxy, "
        "properties, geojson, code FROM twin_versions WHERE to_seq IS NOT NULL ORDER BY vid LIMIT 1",
    )
    with pytest.raises(Corrupt) as refused:
        migrate(url)
    said = str(refused.value)
    assert "is duplicated" in said and "fsck" in said and "nothing was changed" in said, said
    _still_format_3(url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "migrate", "--store", url], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr


def test_pooled_connections_the_server_ended_are_replaced_before_use(postgis_twin_url: str):
    """A restart or failover of PostgreSQL, an idle-session timeout or a DBA's pg_terminate_backend
    ends the pooled connections without a word. The pool used to hand each out once more, and the
    read or write on it failed (AdminShutdown: an API process answered one 500 per pooled
    connection after a restart). A connection the server ended is found before use and replaced."""
    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
    with Twin.open(url) as twin:
        store = twin.store
        assert isinstance(store, PostGISStore)
        count = twin.commit_count()
        for _ in range(2):  # every connection the pool holds, then again after they were ended
            with store._conn() as a, store._conn() as b, store._conn() as c:
                pids = [x.info.backend_pid for x in (a, b, c)]
            _sql(url, "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
            deadline = time.monotonic() + 30
            while _sql(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))[0][0]:
                assert time.monotonic() < deadline, "the server did not end the connections"
                time.sleep(0.01)
            for _ in range(4):  # more reads than connections ended: none meets a dead one
                assert twin.commit_count() == count
                assert twin.features("gates").number_matched > 0
            # and a write, whose first statement locks the head
            twin.commit([gate(f"after-{len(pids)}-{count}", 3, 3)], author="a", message="m", time=at(100 + count))
            count += 1
        assert twin.fsck() == []


def test_the_stores_sessions_name_themselves_to_the_dba(postgis_twin_url: str):
    """pg_stat_activity (and migrate's list of the sessions in its way) showed the API's sessions
    with no application name, so a DBA could not tell them from any other client's. They are
    'venue-twin' unless the URL (or PGAPPNAME) names them otherwise."""
    url = postgis_twin_url

    def named(twin: Twin) -> str:
        store = twin.store
        assert isinstance(store, PostGISStore)
        with store._conn() as c:
            pid = c.info.backend_pid
        return _sql(url, "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,))[0][0]

    with Twin.create(url, SCHEMAS, AOI) as twin:
        assert named(twin) == "venue-twin"
    with Twin.open(f"{url}&application_name=api-east") as twin:
        assert named(twin) == "api-east"


def test_a_url_without_a_host_opens_the_twin(postgis_twin_url: str, monkeypatch: pytest.MonkeyPatch):
    """`postgresql:///venue` is libpq's URL for the local server (its socket, or PGHOST): what a DBA
    on the database machine types. The store's URL handling turned it into `postgresql:/venue`,
    which psycopg refused with a ProgrammingError traceback; the host and user may also come as
    query parameters (`postgresql:///venue?host=...&user=...`)."""
    from urllib.parse import urlsplit

    from twin.stores.postgis import _split_url

    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
        ids = [c.id for c in twin.log()]
    parts = urlsplit(url)
    assert parts.hostname and parts.query.startswith("schema=")
    creds = f"user={parts.username}" + (f"&password={parts.password}" if parts.password else "")
    in_query = f"postgresql://{parts.path}?{parts.query}&host={parts.hostname}&port={parts.port or 5432}&{creds}"
    from_env = f"postgresql://{parts.path}?{parts.query}&{creds}"
    assert _split_url(from_env)[0].startswith("postgresql:///")
    monkeypatch.setenv("PGHOST", parts.hostname)
    monkeypatch.setenv("PGPORT", str(parts.port or 5432))
    for each in (in_query, from_env):
        with Twin.open(each) as twin:
            assert [c.id for c in twin.log()] == ids


def test_the_commands_never_print_the_password_of_a_store_url(postgis_twin_url: str):
    """`summary`, `migrate`, `init`, `fsck`, `copy` and `serve` printed a PostgreSQL URL as given,
    password and all (serve's banner goes to the service's log), and a password given as libpq's
    `password=` query parameter was not hidden even where the store meant to hide it."""
    from urllib.parse import urlsplit

    parts = urlsplit(postgis_twin_url)
    secret = parts.password or os.environ.get("PGPASSWORD") or "s3cret-pw"  # trust auth ignores one
    user = parts.username or "postgres"
    in_netloc = f"postgresql://{user}:{secret}@{parts.hostname}:{parts.port or 5432}{parts.path}?{parts.query}"
    in_query = f"postgresql://{user}@{parts.hostname}:{parts.port or 5432}{parts.path}?{parts.query}&password={secret}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env,
                             cwd=REPO, timeout=300)  # fmt: skip
        return run.stdout + run.stderr

    for url in (in_netloc, in_query):
        said = cli("init", "--empty", "--store", url) if url == in_netloc else ""
        said += cli("init", "--empty", "--store", url)  # refused: a twin is there
        said += cli("summary", "--store", url) + cli("migrate", "--store", url) + cli("fsck", "--store", url)
        said += cli("copy", url, url)  # refused: the destination holds a twin
        said += cli("summary", "--store", url.replace(parts.path, parts.path + "_none"))  # no such database
        assert "holds a twin already" in said and "is up to date" in said and "commits verified" in said, said
        with socket.socket() as free:  # a port nothing listens on (serve refuses 0: it names its port)
            free.bind(("127.0.0.1", 0))
            port = str(free.getsockname()[1])
        serve = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--store", url, "--port", port],
                                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=REPO)  # fmt: skip
        try:
            assert serve.stderr is not None
            said += serve.stderr.readline()  # the banner, printed before the server starts
        finally:
            serve.terminate()
            serve.wait(timeout=60)
        assert "serving " in said, said
        assert secret not in said, said


def test_fsck_finds_versions_whose_layer_is_gone(postgis_twin_url: str):
    """No foreign key guards twin_versions.layer_id row by row any more: a commit checks its
    layers once, and fsck finds versions that name a layer no longer there."""
    url = postgis_twin_url
    with Twin.create(url, SCHEMAS, AOI) as twin:
        standard_history(twin)
        assert twin.fsck() == []
        lid = twin.store._lid("gates")  # type: ignore[attr-defined]
    _sql(url, "DELETE FROM twin_schema_versions WHERE layer_id = %s", (lid,))
    _sql(url, "DELETE FROM twin_layers WHERE layer_id = %s", (lid,))
    n = _sql(url, "SELECT count(*) FROM twin_versions WHERE layer_id = %s", (lid,))[0][0]
    assert n > 0
    with Twin.open(url) as twin:
        assert f"{n} versions name a layer that does not exist" in twin.fsck()


def test_writers_in_two_processes_lose_nothing(postgis_twin_url: str):
    """Two processes commit on one database at once: the head row lock serialises them, so every
    commit lands on the one before it and the chain of ids is whole."""
    Twin.create(postgis_twin_url, SCHEMAS, AOI).close()
    script = textwrap.dedent(
        """
        import sys
        from shapely import Point
        from twin import Change, Feature, Twin
        url, who = sys.argv[1], sys.argv[2]
        with Twin.open(url) as t:
            for i in range(15):
                fid = f"{who}{i}"
                t.commit([Change("gates", "add", fid, Feature(fid, Point(121.3 + i / 1e4, 31.19), {"code": fid}))],
                         author=who, message=fid)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgis_twin_url, who], env=env, cwd=REPO, stderr=subprocess.PIPE
        )
        for who in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    with Twin.open(postgis_twin_url) as twin:
        log = twin.log(100)
        assert len(log) == 30
        assert twin.count("gates") == 30
        for newer, older in zip(log, log[1:], strict=False):
            assert newer.parent == older.id
        assert twin.fsck() == []


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_a_writer_that_waited_for_the_head_loses_with_a_conflict_whatever_the_default_isolation(
    postgis_twin_url: str, level: str
):
    """A DBA may make repeatable read or serializable the default (of the server, the database, the
    role, or a URL's `options=-c default_transaction_isolation=...`). A writer that waited for the
    head row behind another then failed with "could not serialize access due to concurrent update"
    (the driver's error: HTTP 500 where the contract has Conflict, 409). Write blocks are read
    committed whatever the default, so it reads the head the winner left and loses with a Conflict
    naming the code the winner took."""
    url = postgis_twin_url
    Twin.create(url, SCHEMAS, AOI).close()
    options = "-c default_transaction_isolation=" + level.replace(" ", r"\ ")
    as_dba_set = f"{url}&{urlencode({'options': options, 'application_name': 'race-loser'}, quote_via=quote)}"
    with Twin.open(url) as winner, Twin.open(as_dba_set) as loser:
        with loser.store._conn() as c:  # type: ignore[attr-defined]
            assert c.execute("SHOW default_transaction_isolation").fetchone()[0] == level
        a = winner.commit([gate("g0", 0, 0)], author="a", message="A")
        got: list[Any] = []

        def lose() -> None:
            try:
                got.append(loser.commit([gate("x2", 2, 2, code="SAME")], author="b", message="C", parent=a.id))
            except Exception as e:  # noqa: BLE001 - what it raised is the answer checked below
                got.append(e)

        th = threading.Thread(target=lose)
        with winner.store.writing():
            th.start()
            deadline = time.monotonic() + 60
            # The loser's session waits for the head row the winner holds.
            while not _sql(url, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'race-loser' "
                                "AND wait_event_type = 'Lock' AND query LIKE '%%twin_head FOR UPDATE%%'"):  # fmt: skip
                assert time.monotonic() < deadline and th.is_alive(), f"the loser never waited for the head: {got}"
                time.sleep(0.01)
            won = winner.commit([gate("x1", 1, 1, code="SAME")], author="a", message="B", parent=a.id)
        th.join(120)
        assert not th.is_alive()
        assert isinstance(got[0], Conflict) and "code 'SAME' was given to feature x1 since" in str(got[0]), got
        assert loser.head() == won and loser.store.versions_of("gates", "x2") == []
        # and, not racing, it writes at that level's default as before
        loser.commit([gate("x3", 3, 3)], author="b", message="D")
        assert loser.count("gates") == 3 and loser.fsck() == []


def test_native_vector_tile_holds_the_features_as_of_a_version(postgis_twin_url: str):
    import morecantile

    with Twin.create(postgis_twin_url, SCHEMAS, AOI) as twin:
        c1 = twin.commit(
            [gate("g1", 0, 0, kind="north"), hall("h1", 1, 1, floors=2)], author="a", message="m", time=at(0)
        )
        twin.commit([Change("gates", "delete", "g1")], author="a", message="m2", time=at(1))
        tms = morecantile.tms.get("WebMercatorQuad")
        tile = tms.tile(X0, Y0, 15)
        b = tms.xy_bounds(tile)
        bounds = (b.left, b.bottom, b.right, b.top)
        store = twin.store
        then = mapbox_vector_tile.decode(store.mvt("gates", c1.seq, bounds, layer_name="gates"))
        feats = then["gates"]["features"]
        assert [f["properties"]["id"] for f in feats] == ["g1"]
        assert feats[0]["properties"]["code"] == "G1" and feats[0]["properties"]["kind"] == "north"
        # the point lands where it should inside the 4096-unit tile
        to_m = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        mx, my = to_m.transform(X0, Y0)
        x, y = feats[0]["geometry"]["coordinates"]
        assert abs(x - (mx - b.left) / (b.right - b.left) * 4096) <= 1
        assert abs(y - (my - b.bottom) / (b.top - b.bottom) * 4096) <= 1  # decode flips y to grow upwards
        # No feature left: no native tile, so the twin writes its own empty one (as on every store).
        assert store.mvt("gates", c1.seq + 1, bounds) is None
        hb = tms.xy_bounds(tms.tile(X0 + 0.0015, Y0 + 0.0015, 15))  # the tile holding the hall's middle
        halls = mapbox_vector_tile.decode(store.mvt("halls", c1.seq + 1, (hb.left, hb.bottom, hb.right, hb.top)))
        assert [f["properties"]["id"] for f in halls["halls"]["features"]] == ["h1"]
        assert store.mvt("projects", c1.seq, bounds) is None  # records have no geometry


KIOSKS = LayerSchema(
    name="kiosks",
    title_zh="服务亭",
    title_en="Kiosks",
    geometry_types=("Point",),
    fields=(
        FieldSpec("code", "string", required=True),
        FieldSpec("staff", "integer"),
        FieldSpec("area_m2", "number"),
        FieldSpec("open", "boolean"),
        FieldSpec("opened", "date"),
        FieldSpec("tags", "list"),
    ),
)


def typed_tile_properties(body: bytes) -> dict[str, dict[str, dict[str, tuple[str, Any]]]]:
    """Layer -> feature id -> property -> (Python type name, value), decoded with mapbox-vector-tile:
    the type tells an MVT double (float) from an int, which equal values do not."""
    return {
        name: {
            f["properties"]["id"]: {k: (type(v).__name__, v) for k, v in f["properties"].items()}
            for f in layer["features"]
        }
        for name, layer in mapbox_vector_tile.decode(body).items()
    }


def same_tiles_on_both_stores(gpkg: Twin, pg: Twin, layers: list[str], zooms: tuple[int, ...]) -> int:
    """Assert every tile covering each layer, on both grids, decodes to the same typed properties
    on both stores (the embedded store's own encoder, and ST_AsMVT); how many features were compared."""
    import morecantile

    seen = 0
    for grid in ("WebMercatorQuad", "WorldCRS84Quad"):
        tms = morecantile.tms.get(grid)
        for layer in layers:
            ext = gpkg.extent(layer)
            assert ext is not None and pg.extent(layer) == ext, layer
            for t in tms.tiles(*ext, zooms=list(zooms)):
                mine, theirs = (typed_tile_properties(tw.tile(layer, t.z, t.x, t.y, None, grid)) for tw in (gpkg, pg))
                assert theirs == mine, (grid, layer, t)
                seen += sum(len(feats) for feats in mine.values())
    return seen


def test_vector_tiles_hold_the_same_values_of_the_same_types_on_both_stores(postgis_twin_url: str, tmp_path: Path):
    """ST_AsMVT types a jsonb value by what it holds (a whole 29540.0 would be an int, a list left
    out); the PostGIS store casts by the layer's schema instead, as the embedded store's encoder
    types its values: number fields doubles, integer fields ints, booleans bools, strings and
    dates strings, lists their compact JSON text."""
    tags = ['a "quoted" tag', "back\\slash", "展馆/1.1H", "tab\there"]
    changes = [
        hall("h1", 1, 1, area_m2=29540.0, floors=3, accessible=True, opened="2026-09-01", status="built"),
        hall("h2", 3, 1, area_m2=12.5, floors=-2, accessible=False),
        hall("h3", 5, 1, area_m2=7),  # an int for a number field: stored as 7.0, a double in a tile
        Change("kiosks", "add", "k1", Feature("k1", pt(2, 3), {
            "code": "K1", "staff": 2**53 + 1, "area_m2": 0.0, "open": False, "opened": "2026-10-01", "tags": tags,
        })),
        Change("kiosks", "add", "k2", Feature("k2", pt(4, 3), {"code": "K2", "staff": 0, "area_m2": -3.0, "tags": []})),
    ]  # fmt: skip
    gpkg = Twin.create(tmp_path / "twin.gpkg", (HALLS, KIOSKS), AOI)
    pg = Twin.create(postgis_twin_url, (HALLS, KIOSKS), AOI)
    try:
        for tw in (gpkg, pg):
            tw.commit(changes, author="a", message="m", time=at(0))
        assert same_tiles_on_both_stores(gpkg, pg, ["halls", "kiosks"], (13, 16)) >= 2 * len(changes)
        # What both hold, as the schema says (one tile each at zoom 13 holds them all).
        import morecantile

        t = morecantile.tms.get("WebMercatorQuad").tile(X0 + 0.003, Y0 + 0.002, 13)
        halls = typed_tile_properties(pg.tile("halls", t.z, t.x, t.y))["halls"]
        assert halls["h1"] == {
            "id": ("str", "h1"), "code": ("str", "H1"), "area_m2": ("float", 29540.0), "floors": ("int", 3),
            "accessible": ("bool", True), "opened": ("str", "2026-09-01"), "status": ("str", "built"),
        }  # fmt: skip
        assert halls["h2"]["floors"] == ("int", -2) and halls["h2"]["accessible"] == ("bool", False)
        assert halls["h3"]["area_m2"] == ("float", 7.0)
        kiosks = typed_tile_properties(pg.tile("kiosks", t.z, t.x, t.y))["kiosks"]
        assert kiosks["k1"]["staff"] == ("int", 2**53 + 1)  # an int ST_AsMVT would round through a double
        assert kiosks["k1"]["area_m2"] == ("float", 0.0) and kiosks["k1"]["open"] == ("bool", False)
        assert kiosks["k1"]["tags"] == ("str", orjson.dumps(tags).decode())
        assert kiosks["k2"]["tags"] == ("str", "[]") and kiosks["k2"]["area_m2"] == ("float", -3.0)
    finally:
        gpkg.close()
        pg.close()


def test_the_bundled_twin_has_the_same_commit_ids_on_both_stores(postgis_twin_url: str, tmp_path: Path):
    t0 = time.perf_counter()
    gpkg = build_bundled_twin(tmp_path / "venue.gpkg")
    t1 = time.perf_counter()
    pg = build_bundled_twin(postgis_twin_url)
    t2 = time.perf_counter()
    print(f"\nbundled twin: GeoPackage {t1 - t0:.1f} s, PostGIS {t2 - t1:.1f} s")
    try:
        assert [c.to_dict() for c in pg.log(1000)] == [c.to_dict() for c in gpkg.log(1000)]
        assert pg.commit_count() == gpkg.commit_count() > 10
        for layer in gpkg.layers():
            assert pg.features(layer.name).features == gpkg.features(layer.name).features
            assert pg.extent(layer.name) == gpkg.extent(layer.name)
        # The same vector tile values, typed alike (a hall's floor_area_m2 29540.0 a double on both).
        spatial = [s.name for s in gpkg.layers() if s.spatial]
        assert same_tiles_on_both_stores(gpkg, pg, spatial, (14, 16)) > 100
        assert pg.fsck() == []
    finally:
        gpkg.close()
        pg.close()


def test_opening_a_database_without_a_twin_says_so(postgis_twin_url: str):
    from twin import NotFound

    with pytest.raises(NotFound, match="venue-twin init"):
        Twin.open(postgis_twin_url)
    assert not Twin.exists(postgis_twin_url)
    Twin.create(postgis_twin_url, SCHEMAS, AOI).close()
    assert Twin.exists(postgis_twin_url)
    with pytest.raises(Exception, match="already holds a twin"):
        Twin.create(postgis_twin_url, SCHEMAS, AOI)
    Twin.remove(postgis_twin_url)
    assert not Twin.exists(postgis_twin_url)
    assert psycopg  # imported for the server tests above


def test_a_twin_in_a_schema_is_apart_from_one_in_public(postgis_twin_url: str):
    """`?schema=` names where the twin is; a twin further along the search path (public) is
    neither seen, nor refused as 'already there', nor dropped."""
    base = postgis_twin_url.split("?")[0]
    public = f"{base}?schema=public"
    Twin.create(public, SCHEMAS, AOI).close()
    try:
        assert not Twin.exists(postgis_twin_url)
        Twin.remove(postgis_twin_url)  # nothing there: public's twin stays
        assert Twin.exists(public)
        with Twin.create(postgis_twin_url, SCHEMAS, AOI) as twin:
            twin.commit([gate("g1", 0, 0)], author="a", message="m", time=at(0))
        with Twin.open(public) as other:
            assert other.commit_count() == 0
    finally:
        Twin.remove(public)


def test_nul_characters_are_refused_and_an_escaped_one_is_kept_checked_for_uniqueness_and_tiled(
    postgis_twin_url: str,
):
    """A NUL in a property is refused by validation (PostgreSQL's text and jsonb hold none, and
    GDAL's writers cut a text at it), naming the field; a text that only spells an escaped NUL
    (a backslash, then u0000) is a text like any other, which the tile SQL's NUL handling for older
    twins must leave alone."""
    import morecantile

    from twin import ValidationFailed

    with Twin.create(postgis_twin_url, SCHEMAS, AOI) as twin:
        with pytest.raises(ValidationFailed, match="code holds a NUL character"):
            twin.commit([gate("g0", 0, 0, code="N\x00UL")], author="a", message="m", time=at(0))
        assert twin.head() is None
        c1 = twin.commit([gate("g1", 0, 0, code="NUL\\\\u0000")], author="a", message="m", time=at(0))
        assert orjson.loads(twin.feature("gates", "g1"))["properties"]["code"] == "NUL\\\\u0000"
        with pytest.raises(ValidationFailed, match="already names feature g1"):
            twin.commit([gate("g2", 1, 1, code="NUL\\\\u0000")], author="a", message="m", time=at(1))
        tms = morecantile.tms.get("WebMercatorQuad")
        b = tms.xy_bounds(tms.tile(X0, Y0, 15))
        tile = mapbox_vector_tile.decode(twin.store.mvt("gates", c1.seq, (b.left, b.bottom, b.right, b.top)))
        assert [f["properties"]["code"] for f in tile["gates"]["features"]] == ["NUL\\\\u0000"]
        assert twin.fsck() == []


def test_a_copy_builds_the_deferred_indexes_again_and_reads_on_them(postgis_twin_url: str, tmp_path: Path):
    """`copy` drops the version table's secondary indexes for its load and builds them at the end:
    the copy has every index a twin made in place has, valid, and the same answers."""
    from conftest import postgis_url

    from twin.copying import copy_twin

    src = tmp_path / "src.gpkg"
    with Twin.create(src, SCHEMAS, AOI) as twin:
        standard_history(twin)
        twin.commit(_many_gates(12_000, "b"), author="bulk", message="many", time=at(100))
        twin.commit([Change("gates", "delete", "b000001")], author="a", message="one gone", time=at(101))
        ids = [c.id for c in twin.log(100)]
        count = twin.count("gates")
        box = bbox_of(-1, -1, 1, 1)
        in_box = twin.features("gates", bbox=box).feature_ids
    made_in_place = postgis_url()
    Twin.create(made_in_place, SCHEMAS, AOI).close()
    copy_twin(src, postgis_twin_url)

    def indexes(url: str) -> set[tuple[str, str]]:
        rows = _sql(
            url,
            "SELECT indexname, regexp_replace(indexdef, ' ON \\S+\\.', ' ON ') FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = 'twin_versions'",
        )
        return {(r[0], r[1]) for r in rows}

    assert indexes(postgis_twin_url) == indexes(made_in_place)
    assert not _sql(
        postgis_twin_url,
        "SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.oid = to_regclass('twin_versions') AND NOT i.indisvalid",
    )
    with Twin.open(postgis_twin_url) as copy:
        assert [c.id for c in copy.log(100)] == ids
        assert copy.count("gates") == count
        assert copy.features("gates", bbox=box).feature_ids == in_box
        assert copy.fsck() == []


@pytest.mark.parametrize(
    "wkt",
    [
        "POINT (121.3 31.19)",
        "LINESTRING (121.3 31.19, 121.31 31.2, 121.32 31.19)",
        "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))",
        "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))",
        "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))",
    ],
)
@pytest.mark.parametrize("byte_order", [0, 1])
def test_the_spliced_ewkb_is_what_shapely_writes_with_the_srid(wkt: str, byte_order: int):
    g = shapely.from_wkt(wkt)
    spliced = ewkb_4326(shapely.to_wkb(g, output_dimension=2, byte_order=byte_order))
    assert spliced == shapely.to_wkb(shapely.set_srid(g, 4326), include_srid=True, byte_order=byte_order)
    assert shapely.get_srid(shapely.from_wkb(spliced)) == 4326 and shapely.from_wkb(spliced).equals(g)
