"""The PostGIS store: the twin's version tables in PostgreSQL, for many processes and machines.

The layout mirrors the embedded store (twin.stores.gpkg) without the GeoPackage mirror tables:
- `twin_versions`: one row per feature version: layer, feature id, `from_seq`, `to_seq` (NULL
  while current), `vis` = int4range(from_seq, to_seq) (generated), the geometry, its exact
  double bounds, the properties as their canonical JSON text and the GeoJSON encoded once
  (reads stream the stored bytes; the commit id hashes the same bytes, so ids match the
  embedded store's).
- One GiST index over (layer_id, geom, vis) (btree_gist for the integer): a bbox read as of
  any commit is one index scan whose keys are the layer, the box and the visibility interval,
  so an old version costs what the head costs.
- `twin_layers`, `twin_schema_versions` (schemas versioned like features), `twin_commits`
  (with per-layer totals after each commit, so an unfiltered count is a lookup), `twin_tokens`
  (server state, not history), and `twin_meta` with the format: the number of migrations applied.
- `twin_head`: one row, locked FOR UPDATE by a writer for its whole transaction, so checking the
  head and writing on it is atomic across connections, processes and machines.

A URL may name a schema to hold the twin (`?schema=name`), so one database can hold several.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import os
import re
import select
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson
import psycopg
import shapely
from psycopg import pq, sql
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict, timeout_from_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout
from shapely.geometry.base import BaseGeometry

from twin.encoding import commit_from_row, commit_row, format_time
from twin.errors import BadInput, Conflict, Corrupt, NotFound, StoreUnavailable
from twin.model import SCHEMA_ID, CommitInfo, EncodedFeature, LayerSchema, StoredChange, by_layer
from twin.schema import check_schema, encode_schema
from twin.stores import MIGRATE_LOCK_TIMEOUT
from twin.stores.base import BBox, ExportRow, Page, SchemaWrites, Store, VersionRow, check_head, streamed_adds
from twin.stores.gpkg import bbox_geometry
from twin.tiles import lonlat_bbox

# Numbered migrations: a twin's format is how many of them it has had. Never edit a released
# step; append a new one (and `venue-twin migrate` brings older twins up to date).
MIGRATIONS: list[tuple[str, str]] = [
    (
        "1: version tables, commits, layers and schema versions",
        """
CREATE TABLE twin_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE twin_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), seq integer NOT NULL);
INSERT INTO twin_head VALUES (true, 0);
CREATE TABLE twin_layers (layer_id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE twin_schema_versions (
  layer_id integer NOT NULL REFERENCES twin_layers, from_seq integer NOT NULL, to_seq integer,
  op text NOT NULL, properties text NOT NULL, geojson bytea NOT NULL, PRIMARY KEY (layer_id, from_seq));
CREATE TABLE twin_commits (
  seq integer PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE, parent text, author text NOT NULL,
  message text NOT NULL, time text COLLATE "C" NOT NULL, counts text NOT NULL, totals text NOT NULL);
CREATE INDEX twin_commits_time ON twin_commits (time, seq);
CREATE TABLE twin_versions (
  vid bigserial PRIMARY KEY, layer_id integer NOT NULL REFERENCES twin_layers,
  feature_id text COLLATE "C" NOT NULL, from_seq integer NOT NULL, to_seq integer, op text NOT NULL,
  vis int4range GENERATED ALWAYS AS (int4range(from_seq, to_seq)) STORED,
  geom geometry(Geometry, 4326), minx float8, miny float8, maxx float8, maxy float8,
  properties text NOT NULL, geojson bytea NOT NULL,
  code text);  -- the canonical JSON of the layer's human code (code_field), for uniqueness checks
CREATE INDEX twin_versions_code ON twin_versions (layer_id, code) WHERE to_seq IS NULL AND code IS NOT NULL;
CREATE INDEX twin_versions_feature ON twin_versions (layer_id, feature_id, from_seq);
CREATE INDEX twin_versions_current ON twin_versions (layer_id, feature_id) WHERE to_seq IS NULL;
CREATE INDEX twin_versions_from ON twin_versions (from_seq);
CREATE INDEX twin_versions_to ON twin_versions (to_seq) WHERE to_seq IS NOT NULL;
CREATE INDEX twin_versions_space ON twin_versions USING gist (layer_id, geom, vis);
""",
    ),
    (
        "2: API tokens in the store (server state shared by every API process)",
        """
CREATE TABLE twin_tokens (
  id serial PRIMARY KEY, name text NOT NULL, role text NOT NULL, hash text NOT NULL UNIQUE,
  created text NOT NULL, revoked text);
""",
    ),
    (
        # The foreign key fired a trigger per version row (0.7 of the server's 2.2 s per 100,000
        # rows of an import); a commit now checks its layers once, set-based, under the same
        # KEY SHARE lock the trigger took (_lock_layers), and fsck looks for orphans.
        "3: versions' layers checked once per commit, not by a foreign key per row",
        """
ALTER TABLE twin_versions DROP CONSTRAINT IF EXISTS twin_versions_layer_id_fkey;
""",
    ),
    (
        # A version is named by its layer, feature and first commit; the surrogate vid drew a
        # sequence value and fed a B-tree per row, and the index of current versions was a subset
        # of the one by feature. Three B-trees per inserted row become one (about 0.2 s of the
        # server's 1.5 s per 100,000 rows of an import); lookups of the current version go by
        # (layer, feature) and find the few versions of that feature.
        "4: versions keyed by (layer, feature, first commit); no surrogate id, one index by feature",
        """
ALTER TABLE twin_versions DROP CONSTRAINT twin_versions_pkey;
ALTER TABLE twin_versions DROP COLUMN vid;
DROP INDEX twin_versions_current;
DROP INDEX twin_versions_feature;
ALTER TABLE twin_versions ADD CONSTRAINT twin_versions_pkey PRIMARY KEY (layer_id, feature_id, from_seq);
""",
    ),
]
FORMAT_VERSION = len(MIGRATIONS)
_TABLES = (
    "twin_tokens",
    "twin_versions",
    "twin_schema_versions",
    "twin_commits",
    "twin_layers",
    "twin_head",
    "twin_meta",
)
# The columns a version is copied into, in COPY's binary format ("geometry" is the EWKB dumper's oid).
_COPY_TYPES: list[str | int] = [
    "int4", "text", "int4", "text", 0, "float8", "float8", "float8", "float8", "text", "bytea", "text",
]  # fmt: skip
_NO_BOX = (None, None, None, None)
# How long a read or write waits for a pooled connection (the pool's default, 30 s, held a request
# that long while the server was unreachable, then answered 500). A busy pool is as unavailable to
# the caller as a server that does not answer. /health waits less (connection_wait).
CONNECTION_WAIT = 5.0
_WAIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("venue_twin_pg_wait", default=None)
_MIGRATE_LOCK = 0x7477696E  # "twin": one migration at a time per database


def _split_url(url: str) -> tuple[str, str | None]:
    """(conninfo for psycopg, the schema the URL names or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise BadInput(f"schema {schema!r} in the store URL is not a plain SQL name")
    # Spaces stay %20 (quote): libpq reads no '+' as a space, and options=-c name=value needs one.
    conninfo = _unsplit(scheme, parts.netloc, parts.path, urlencode(rest, quote_via=quote), parts.fragment)
    _check_parameters(conninfo)
    return conninfo, schema


def _check_parameters(conninfo: str) -> None:
    """A parameter libpq does not know (`?shema=`), or a connect_timeout that is no number, refused
    in words (BadInput: the CLI's exit 2) before any connection: psycopg's ProgrammingError came out
    as a traceback, and the pool retried a bad connect_timeout for 30 s, logging each try."""
    try:
        timeout_from_conninfo(conninfo_to_dict(conninfo))
    except psycopg.ProgrammingError as e:
        unknown = re.search(r'invalid URI query parameter: "([^"]*)"', str(e))
        if unknown is None:
            bad = re.search(r"bad value for connect_timeout: (.*)", str(e))
            if bad is not None:
                raise BadInput(f"connect_timeout {bad.group(1)} in the store URL is not a number of seconds") from None
            raise BadInput(f"the store URL: {str(e).strip()}") from None
        name = unknown.group(1)
        known = ["schema", *(o.keyword.decode() for o in pq.Conninfo.get_defaults())]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (it takes schema and libpq's: {', '.join(known[1:])})"
        raise BadInput(f"unknown parameter {name!r} in the store URL{hint}") from None


def _unsplit(scheme: str, netloc: str, path: str, query: str, fragment: str) -> str:
    """A URL from its parts. Not urlunsplit: it writes `postgresql:///venue` (libpq's URL for the
    local server: its socket, or PGHOST) as `postgresql:/venue`, which libpq cannot read."""
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


def display_url(url: str) -> str:
    """The URL without its password (in user:password@ or libpq's password= parameter), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return _unsplit(parts.scheme, netloc, parts.path, query, parts.fragment)


def _search_path(schema: str) -> sql.Composed:
    # PostGIS and btree_gist live in public, so the twin's schema comes first and public after. The
    # twin's own tables are not found by this path: _qualifying_cursors names their schema.
    return sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema))


# The twin's own tables, where a statement names them unqualified (not inside quotes, nor after a
# schema and a dot, nor as part of a longer name such as an index's twin_versions_space).
_TWIN_TABLE = re.compile(r"(?<![\w'\".$])(" + "|".join(sorted(_TABLES, key=len, reverse=True)) + r")\b")


@functools.lru_cache(maxsize=4096)
def _qualified(query: str, schema: str) -> str:
    """`query` with each of the twin's tables named as `"schema".table`."""
    return _TWIN_TABLE.sub(lambda m: f"{sql.Identifier(schema).as_string(None)}.{m.group(1)}", query)


@functools.lru_cache(maxsize=64)
def _qualifying_cursors(schema: str) -> tuple[type[psycopg.Cursor[Any]], type[psycopg.ServerCursor[Any]]]:
    """Cursor classes that name the twin's tables in `schema` in every statement given as text
    (statements composed with sql.Identifier name their schema themselves).

    Why: the search path alone (`schema, public`) let a twin's reads and writes fall through to the
    twin in public once the schema was dropped, since PostgreSQL skips a search-path schema that
    does not exist: a service on `?schema=city` went on serving, and writing, another twin. Named
    with their schema, the tables are that schema's or none (InvalidSchemaName, UndefinedTable:
    StoreUnavailable). Public stays on the path for PostGIS's types, functions and operators only.
    One place, so no statement, now or later, can forget it."""

    class Cursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            return super().execute(_qualified(query, schema) if isinstance(query, str) else query, *args, **kwargs)

        def executemany(self, query: Any, *args: Any, **kwargs: Any) -> None:
            super().executemany(_qualified(query, schema) if isinstance(query, str) else query, *args, **kwargs)

        def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
            return super().copy(
                _qualified(statement, schema) if isinstance(statement, str) else statement, *args, **kwargs
            )

    class ServerCursor(psycopg.ServerCursor[Any]):
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            return super().execute(_qualified(query, schema) if isinstance(query, str) else query, *args, **kwargs)

    return Cursor, ServerCursor


def _in_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Set a connection up for the twin in `schema`: its search path, and its tables named in it."""
    conn.cursor_factory, conn.server_cursor_factory = _qualifying_cursors(schema)
    conn.execute(_search_path(schema))


@contextlib.contextmanager
def connection_wait(seconds: float) -> Iterator[None]:
    """Reads in this block (this thread, this context) wait at most `seconds` for a pooled connection
    (CONNECTION_WAIT otherwise): /health says 503 promptly while the server does not answer."""
    token = _WAIT.set(seconds)
    try:
        yield
    finally:
        _WAIT.reset(token)


def _connect(url: str) -> psycopg.Connection[Any]:
    conninfo, schema = _split_url(url)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10, **_named(conninfo))
    except psycopg.OperationalError as e:
        raise BadInput(f"cannot connect to {display_url(url)}: {str(e).strip()}") from e
    if schema is not None:
        _in_schema(conn, schema)
    return conn


def _named(conninfo: str) -> dict[str, Any]:
    """The session's application_name, so a DBA sees the twin's sessions as 'venue-twin' in
    pg_stat_activity: unless the URL (or PGAPPNAME) names them otherwise."""
    if os.environ.get("PGAPPNAME") or "application_name" in conninfo_to_dict(conninfo):
        return {}
    return {"application_name": "venue-twin"}


def _where(conn: psycopg.Connection[Any], schema: str | None) -> str:
    return schema or conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index,no-any-return]


def _format_of(conn: psycopg.Connection[Any], schema: str | None) -> int | None:
    """The twin format in the schema the URL names (else the connection's current schema); None
    where nothing was migrated. Only that schema counts: a twin in `public`, which is on the search
    path after a named schema, is another twin."""
    where = _where(conn, schema)
    if conn.execute("SELECT to_regnamespace(%s)", (where,)).fetchone()[0] is None:  # type: ignore[index]
        return None
    if conn.execute("SELECT to_regclass(format('%%I.twin_meta', %s::text))", (where,)).fetchone()[0] is None:  # type: ignore[index]
        return None
    row = conn.execute("SELECT value FROM twin_meta WHERE key='format'").fetchone()
    return int(row[0]) if row else 0


def migrate(url: str, target: int | None = None, *, lock_timeout: float = MIGRATE_LOCK_TIMEOUT) -> list[str]:
    """Create or upgrade the twin's tables to `target` (default: this program's format); returns the
    steps applied. Refuses a twin of a newer format than this program knows.

    Every step runs in one transaction: a migration that fails or is interrupted leaves the twin at
    the format it had. A lock that other sessions hold on the twin's tables (an API process of the
    older release in the middle of a read, say) is waited for at most `lock_timeout` seconds (0: as
    long as it takes), since readers queue behind a waiting ALTER TABLE; then the migration stops,
    naming the sessions in its way. Failures are said in words (BadInput; Corrupt where the rows
    cannot take a step's keys), never as the driver's exception."""
    target = FORMAT_VERSION if target is None else target
    _, schema = _split_url(url)
    where = display_url(url)
    with _connect(url) as conn:
        have: int | None = None
        waiting_for = "the migration lock"
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{max(0, int(lock_timeout * 1000))}ms",))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
                waiting_for = "creating the extensions"
                _create_extensions(conn, url)
                if schema is not None:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                have = _format_of(conn, schema) or 0
                if have > FORMAT_VERSION:
                    raise BadInput(
                        f"{where} holds a twin of format {have}; this program knows formats up to "
                        f"{FORMAT_VERSION}: upgrade venue-twin"
                    )
                done: list[str] = []
                for n in range(have, target):
                    name, ddl = MIGRATIONS[n]
                    waiting_for = f"migration {n + 1} ({name.split(': ', 1)[-1]})"
                    conn.execute(ddl)
                    done.append(name)
                if done:
                    waiting_for = f"recording format {max(have, target)}"
                    conn.execute(
                        "INSERT INTO twin_meta VALUES ('format', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(max(have, target)),),
                    )
                return done
        except psycopg.Error as e:
            unchanged = "nothing was changed" + (f": the twin is still at format {have}" if have else "")
            if isinstance(e, psycopg.errors.LockNotAvailable) and waiting_for == "the migration lock":
                raise BadInput(
                    f"{where}: another `venue-twin migrate` is running on this database"
                    f"{_holders(conn, schema, 'hold the migration lock', advisory=True)} (waited {lock_timeout:g} s): run this one "
                    f"again once it has ended; {unchanged}"
                ) from None
            if isinstance(e, psycopg.errors.LockNotAvailable):
                raise BadInput(
                    f"{where}: {waiting_for} waited {lock_timeout:g} s for a lock on the twin's tables"
                    f"{_holders(conn, schema, 'hold')}. Stop the API processes of the older release (and end "
                    f"any other session using the twin), then run `venue-twin migrate` again (`--lock-timeout` "
                    f"waits longer); {unchanged}"
                ) from None
            if isinstance(e, psycopg.errors.IntegrityError):
                raise Corrupt(
                    f"{where}: {waiting_for} cannot apply to the twin's rows ({_said(e)}): the twin does not agree "
                    f"with itself; `venue-twin fsck`, with the release that made it, names the damage; {unchanged}"
                ) from None
            raise BadInput(f"{where}: {waiting_for} failed ({_said(e)}); {unchanged}") from None


def _said(e: psycopg.Error) -> str:
    """What the server said, in one line: its message and its detail."""
    diag = e.diag
    text = diag.message_primary or str(e).strip().splitlines()[0]
    return text + (f"; {diag.message_detail.rstrip('.')}" if diag.message_detail else "")


def _create_extensions(conn: psycopg.Connection[Any], url: str) -> None:
    """PostGIS and btree_gist, where the database lacks them. PostGIS is no trusted extension: only
    a superuser may create it, so a database made by an ordinary role needs one to, once."""
    for ext in ("postgis", "btree_gist"):
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname=%s", (ext,)).fetchone() is not None:
            continue
        try:
            with conn.transaction():  # a savepoint: the refusal is said below, not as the driver's error
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public").format(sql.Identifier(ext)))
        except psycopg.errors.InsufficientPrivilege:
            db, role = conn.execute("SELECT current_database(), current_user").fetchone()  # type: ignore[misc]
            raise BadInput(
                f"{display_url(url)}: database {db} has no {ext} extension, and role {role} may not create it "
                f"(it needs a superuser): have one run `CREATE EXTENSION {ext};` in database {db} (e.g. "
                f"`psql -d {db} -c 'CREATE EXTENSION {ext}'` as postgres), then run `venue-twin migrate` "
                "again; nothing was changed"
            ) from None


def _holders(conn: psycopg.Connection[Any], schema: str | None, verb: str, *, advisory: bool = False) -> str:
    """', which N other session(s) <verb>: pid ... (application, user, client, state since)' for the
    sessions holding locks on the twin's tables (`advisory`: the migration lock); '' if they cannot
    be read."""
    try:
        where = _where(conn, schema)
        rows = conn.execute(
            "SELECT DISTINCT a.pid, a.application_name, a.usename, host(a.client_addr), a.state, "
            "to_char(coalesce(a.xact_start, a.state_change) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"') "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.granted AND a.pid <> pg_backend_pid() AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) AND "
            + (
                "l.locktype = 'advisory' AND l.classid = 0 AND l.objid = %s::bigint::oid"
                if advisory
                else "l.locktype = 'relation' AND l.relation IN (SELECT c.oid FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname LIKE 'twin\\_%%')"
            )
            + " ORDER BY 1",
            (_MIGRATE_LOCK if advisory else where,),
        ).fetchall()
    except psycopg.Error:
        return ""  # the connection is gone too: the message goes without the list
    if not rows:
        return ", which no other session holds any more"
    shown = "; ".join(
        f"pid {pid} (application {app or '-'!r}, user {user}"
        + (f" from {client}" if client else "")
        + f", {state or 'state unknown'} since {since})"
        for pid, app, user, client, state, since in rows[:10]
    )
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return f", which {len(rows)} other session(s) {verb}: {shown}{more}"


def holds_twin(url: str) -> bool:
    with _connect(url) as conn:
        if _format_of(conn, _split_url(url)[1]) is None:
            return False
        return conn.execute("SELECT 1 FROM twin_meta WHERE key='area_of_interest'").fetchone() is not None


def drop_twin(url: str) -> None:
    """Drop the twin's tables (its history, schemas and tokens) from the database."""
    with _connect(url) as conn, conn.transaction():
        if _format_of(conn, _split_url(url)[1]) is None:
            return  # nothing of a twin here (and never a twin further along the search path)
        where = _where(conn, _split_url(url)[1])
        for t in _TABLES:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(where, t)))


class PostGISStore(Store, SchemaWrites[psycopg.Connection[Any]]):
    def __init__(self, url: str, *, create: bool = False, pool_size: int = 8):
        self.url = url
        self._conninfo, self._schema = _split_url(url)
        self._local = threading.local()
        self._layer_ids: dict[str, int] = {}
        self._schema_rows: list[tuple[str, int, int | None, LayerSchema]] = []
        self._rows_seq = -1
        self._schemas_by_seq: dict[int, dict[str, LayerSchema]] = {}
        self._schema_lock = threading.Lock()
        self._aoi: BaseGeometry | None = None
        self._extents: dict[tuple[str, int], BBox | None] = {}
        self._mvt_queries: dict[tuple[tuple[str, str], ...], str] = {}  # tile SQL by typed fields (_mvt_sql)
        self._commits_by_id: dict[str, CommitInfo] = {}
        self._ewkb: type[Dumper] | None = None
        if not create:
            self._check_is_twin()
        self._pool = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, **_named(self._conninfo)},
            configure=self._configure,
            open=False,
            name="venue-twin",
            timeout=CONNECTION_WAIT,
            # While the server does not answer, the pool tries again (after 1, 2, 4 s) for this
            # long, then gives up until a request asks for a connection: then it tries at once, so
            # a service answers again within seconds of the server's return (psycopg_pool's default,
            # 5 minutes, backed off to a minute between tries).
            reconnect_timeout=10.0,
        )
        try:
            self._pool.open(wait=True, timeout=30)
        except PoolTimeout as e:
            raise BadInput(f"cannot connect to {display_url(url)}") from e

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        if self._schema is not None:
            _in_schema(conn, self._schema)
        # A write block begins READ COMMITTED whatever the server's, database's or role's default
        # (a DBA's repeatable read or serializable): the writer that waited for the head row must
        # then read the head the one before it wrote. Under a snapshot level the wait ended in
        # "could not serialize access due to concurrent update" instead, a lost race answered with
        # the driver's error (HTTP 500) where the contract has Conflict (409). Reads run outside
        # transactions (autocommit), one statement each, so the level is theirs to keep.
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED

    def _check_is_twin(self) -> None:
        with _connect(self.url) as conn:
            fmt = _format_of(conn, self._schema)
            where = display_url(self.url)
            if fmt is None:
                raise NotFound(f"no twin at {where} (create one with `venue-twin init --store URL`)")
            if fmt < FORMAT_VERSION:
                raise BadInput(
                    f"{where} holds a twin of format {fmt}; this program reads format {FORMAT_VERSION}: "
                    "upgrade it with `venue-twin migrate`"
                )
            if fmt > FORMAT_VERSION:
                raise BadInput(
                    f"{where} holds a twin of format {fmt}, newer than this program knows ({FORMAT_VERSION}): "
                    "upgrade venue-twin"
                )
            if conn.execute("SELECT 1 FROM twin_meta WHERE key='area_of_interest'").fetchone() is None:
                raise NotFound(f"no twin at {where}: its tables exist but hold none (run `venue-twin init`)")

    # ------------------------------------------------------------------ connections
    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection of this thread's write block if one is open (reads inside a commit see
        the commit's own transaction), else one from the pool."""
        w = getattr(self._local, "wconn", None)
        if w is not None:
            yield w
            return
        with self._pooled() as c:
            yield c

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection from the pool that the server has not ended. A restart or failover of
        PostgreSQL, an idle-session timeout or pg_terminate_backend ends pooled connections without
        a word, and the pool would hand each out once more to fail its first query (an API process
        answered one 500 per pooled connection after a restart). Such a connection is found before
        use, by one poll of its socket and no round trip, closed (the pool then discards it and
        opens another) and another taken.

        What the database's failures mean to the twin is said here, once: no connection within
        CONNECTION_WAIT, a connection lost, the twin's schema or tables gone are StoreUnavailable
        (the API's 503, the CLI's exit 2), never the driver's exception."""
        c = self._getconn()
        for _ in range(self._pool.max_size):
            if not _ended_by_server(c):
                break
            c.close()
            self._pool.putconn(c)
            c = self._getconn()
        try:
            try:
                with c:  # as ConnectionPool.connection(): commit or roll back, then back to the pool
                    yield c
            except psycopg.Error as e:
                said = self._unavailable(e, c)
                if said is None:
                    raise
                raise said from e
        finally:
            self._pool.putconn(c)

    def _getconn(self) -> psycopg.Connection[Any]:
        wait = _WAIT.get()
        wait = CONNECTION_WAIT if wait is None else wait
        try:
            return self._pool.getconn(timeout=wait)
        except PoolTimeout:
            pass
        # Why none came: a connection of our own, tried at once, tells a server that does not
        # answer from a pool whose connections are all in use.
        try:
            with psycopg.connect(self._conninfo, connect_timeout=2, **_named(self._conninfo)):
                why = f"all {self._pool.max_size} of this process's connections were in use for {wait:g} s"
        except psycopg.Error as e:
            why = (str(e).strip().splitlines() or ["it does not answer"])[0]
        raise StoreUnavailable(f"the twin's database at {display_url(self.url)} is unavailable: {why}") from None

    def _schema_gone(self, c: psycopg.Connection[Any]) -> bool:
        """Whether the schema the URL names is missing (asked on `c`, back in the pool's state)."""
        if self._schema is None or c.broken or c.closed:
            return False
        try:
            return c.execute("SELECT to_regnamespace(%s)", (self._schema,)).fetchone()[0] is None  # type: ignore[index]
        except psycopg.Error:
            return False

    def _unavailable(self, e: psycopg.Error, c: psycopg.Connection[Any]) -> StoreUnavailable | None:
        """The StoreUnavailable that `e`, met on `c`, means; None for an error of another kind."""
        where = display_url(self.url)
        if isinstance(e, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName) and self._schema_gone(c):
            return StoreUnavailable(
                f"the twin's schema {self._schema} is gone from the database at {where} ({_said(e)}): "
                "the twin is unavailable until the schema is restored"
            )
        if isinstance(e, psycopg.errors.UndefinedTable):
            table = next((t for t in _TABLES if re.search(rf"\b{t}\b", str(e))), None)
            if table is not None:
                return StoreUnavailable(
                    f"the twin's table {table} is gone from the database at {where} ({_said(e)}): "
                    "the twin is unavailable until it is restored"
                )
        if isinstance(e, psycopg.OperationalError) and (c.closed or c.broken):
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return _ConnectionLost(
                f"the twin's database at {where} is unavailable: the connection to it was lost ({first})"
            )
        return None

    def _one(self, query: Any, args: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._read(query, args, lambda cur: cur.fetchone())

    def _all(self, query: Any, args: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self._read(query, args, lambda cur: cur.fetchall())

    def _read(self, query: Any, args: Sequence[Any] | dict[str, Any], fetch: Callable[[Any], Any]) -> Any:
        """One read statement, tried once more on another connection when the connection it ran on
        was lost: one the server ended (a restart, pg_terminate_backend) that the socket poll of
        _pooled did not catch yet, since the server says goodbye a moment after it is told to. The
        pool's idle connections are checked before the second try, so it meets no other dead one.
        Not inside a write block, whose transaction is gone with its connection."""
        try:
            with self._conn() as c:
                return fetch(c.execute(query, args))
        except _ConnectionLost:
            if getattr(self._local, "wconn", None) is not None:
                raise
        self._pool.check()
        with self._conn() as c:
            return fetch(c.execute(query, args))

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------------ set-up
    def initialize(self, schemas: Sequence[LayerSchema], area_of_interest: BaseGeometry) -> None:
        migrate(self.url)
        with self.writing(), self._conn() as c:
            if c.execute("SELECT 1 FROM twin_meta WHERE key='area_of_interest'").fetchone():
                raise Conflict(f"{display_url(self.url)} already holds a twin")
            c.execute("INSERT INTO twin_meta VALUES ('area_of_interest', %s)", (shapely.to_wkt(area_of_interest),))
            for s in schemas:
                self._create_layer(c, s, 0, encode_schema(s))
        self.reload_schemas()

    # ------------------------------------------------------------------ layers and their schemas
    def _create_layer(self, c: psycopg.Connection[Any], s: LayerSchema, seq: int, version: EncodedFeature) -> int:
        problems = check_schema(s)
        if problems:
            raise BadInput(f"layer {s.name}: " + "; ".join(problems))
        if c.execute("SELECT 1 FROM twin_layers WHERE name=%s", (s.name,)).fetchone():
            raise Conflict(f"layer {s.name} exists already")
        lid = c.execute("INSERT INTO twin_layers(name) VALUES (%s) RETURNING layer_id", (s.name,)).fetchone()[0]  # type: ignore[index]
        c.execute(
            "INSERT INTO twin_schema_versions VALUES (%s, %s, NULL, 'add', %s, %s)",
            (lid, seq, version.properties_json, version.geojson),
        )
        return int(lid)

    def _alter_layer(
        self,
        c: psycopg.Connection[Any],
        seq: int,
        lid: int,
        old: LayerSchema,
        new: LayerSchema,
        version: EncodedFeature,
    ) -> None:
        c.execute("UPDATE twin_schema_versions SET to_seq=%s WHERE layer_id=%s::integer AND to_seq IS NULL", (seq, lid))
        c.execute(
            "INSERT INTO twin_schema_versions VALUES (%s, %s, NULL, 'modify', %s, %s)",
            (lid, seq, version.properties_json, version.geojson),
        )
        if new.code_field != old.code_field:
            # The code column follows the schema's code field; versions this commit writes get it
            # from the new schema, the others are set here (computed in Python: PostgreSQL's JSON
            # functions refuse the NUL character a value may hold).
            rows = c.execute(
                "SELECT feature_id, from_seq, properties FROM twin_versions WHERE layer_id=%s::integer AND to_seq IS NULL",
                (lid,),
            ).fetchall()
            with c.cursor() as cur:
                cur.executemany(
                    "UPDATE twin_versions SET code=%s WHERE layer_id=%s::integer AND feature_id=%s AND from_seq=%s",
                    [(_code_of(orjson.loads(p), new.code_field), lid, fid, since) for fid, since, p in rows],
                )

    def _load_schemas(self) -> None:
        with self._conn() as c:
            head = c.execute("SELECT coalesce(max(seq), 0) FROM twin_commits").fetchone()[0]  # type: ignore[index]
            rows = c.execute(
                "SELECT l.layer_id, l.name, s.from_seq, s.to_seq, s.properties FROM twin_schema_versions s "
                "JOIN twin_layers l USING (layer_id) ORDER BY l.layer_id, s.from_seq"
            ).fetchall()
        with self._schema_lock:
            self._layer_ids = {name: lid for lid, name, *_ in rows}
            self._schema_rows = [(name, f, t, LayerSchema.from_dict(orjson.loads(p))) for _, name, f, t, p in rows]
            self._schemas_by_seq = {}
            self._rows_seq = head

    def schemas_at(self, seq: int) -> dict[str, LayerSchema]:
        got = self._schemas_by_seq.get(seq)
        if got is not None:
            return got
        if seq > self._rows_seq or getattr(self._local, "wconn", None) is not None:
            # Inside a write block the schemas may have changed uncommitted: read them afresh.
            self._load_schemas()
        rows, rows_seq = self._schema_rows, self._rows_seq
        out = {name: s for name, f, t, s in rows if f <= seq and (t is None or t > seq)}
        if seq <= rows_seq and getattr(self._local, "wconn", None) is None:
            if len(self._schemas_by_seq) > 1024:
                self._schemas_by_seq = {}
            self._schemas_by_seq[seq] = out
        return out

    def schemas(self) -> dict[str, LayerSchema]:
        return self.schemas_at(self._head_seq())

    def _head_seq(self) -> int:
        return int(self._one("SELECT coalesce(max(seq), 0) FROM twin_commits")[0])

    def reload_schemas(self) -> None:
        self._rows_seq = -1
        self._schemas_by_seq = {}

    def _lid(self, layer: str) -> int:
        if layer not in self._layer_ids:
            self._load_schemas()
        try:
            return self._layer_ids[layer]
        except KeyError:
            raise NotFound(f"no layer {layer!r}", code="no_layer", values={"layer": layer}) from None

    def _spatial(self, layer: str) -> bool:
        self._lid(layer)
        return next(s.spatial for name, _, _, s in self._schema_rows if name == layer)

    def area_of_interest(self) -> BaseGeometry:
        if self._aoi is None:
            row = self._one("SELECT value FROM twin_meta WHERE key='area_of_interest'")
            self._aoi = shapely.from_wkt(row[0])
        return self._aoi

    # ------------------------------------------------------------------ commits
    _COMMIT_COLS = "seq, id, parent, author, message, time, counts"

    _commit = staticmethod(commit_from_row)

    def head(self) -> CommitInfo | None:
        row = self._one(f"SELECT {self._COMMIT_COLS} FROM twin_commits ORDER BY seq DESC LIMIT 1")
        return self._commit(row) if row else None

    def commit_by_seq(self, seq: int) -> CommitInfo:
        row = self._one(f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE seq=%s", (seq,))
        if row is None:
            raise NotFound(f"no commit number {seq}")
        return self._commit(row)

    def commits_by_id_prefix(self, prefix: str) -> list[CommitInfo]:
        if not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
            return []
        # A full id names one committed state forever: kept, so a read pinned to it costs no lookup
        # (not inside a write block, whose commit may still roll back).
        known = self._commits_by_id.get(prefix)
        if known is not None:
            return [known]
        rows = self._all(
            f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE id >= %s AND id < %s ORDER BY id LIMIT 2",
            (prefix, prefix + "g"),
        )
        found = [self._commit(r) for r in rows]
        if len(found) == 1 and found[0].id == prefix and getattr(self._local, "wconn", None) is None:
            if len(self._commits_by_id) > 4096:
                self._commits_by_id.clear()
            self._commits_by_id[prefix] = found[0]
        return found

    def commit_at_time(self, t: datetime) -> CommitInfo | None:
        row = self._one(
            f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE time <= %s ORDER BY time DESC, seq DESC LIMIT 1",
            (format_time(t),),
        )
        return self._commit(row) if row else None

    def log(self, limit: int, offset: int = 0) -> list[CommitInfo]:
        rows = self._all(
            f"SELECT {self._COMMIT_COLS} FROM twin_commits ORDER BY seq DESC LIMIT %s OFFSET %s", (limit, offset)
        )
        return [self._commit(r) for r in rows]

    def commit_count(self) -> int:
        return int(self._one("SELECT count(*) FROM twin_commits")[0])

    def writing_here(self) -> bool:
        return getattr(self._local, "wconn", None) is not None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        w = getattr(self._local, "wconn", None)
        if w is not None:  # nested: a savepoint, so a failed apply inside leaves nothing
            with w.transaction():
                yield
            return
        with self._pooled() as c, c.transaction():
            # The head row stays locked until this transaction ends: another writer anywhere
            # waits here, then reads the head this one wrote.
            c.execute("SELECT seq FROM twin_head FOR UPDATE")
            self._local.wconn = c
            try:
                yield
            except BaseException:
                # Schemas read inside the block may include a layer this rollback undoes.
                self._layer_ids = {}
                self.reload_schemas()
                raise
            finally:
                self._local.wconn = None

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """The version table's secondary indexes are dropped for the block and built again at its
        end (one sorted build each is far cheaper than a million index insertions), then the
        planner's statistics are refreshed. All in the write transaction: a failure restores them.
        The primary key (layer, feature, first commit) stays, since each commit's updates look
        features up in it (migration 4 dropped the index of current versions that did before)."""
        w = getattr(self._local, "wconn", None)
        if w is None:
            raise RuntimeError("bulk_load() belongs inside writing()")
        kept = ("twin_versions_pkey",)
        indexes = w.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'twin_versions' "
            "AND indexname <> ALL(%s)",
            (_where(w, self._schema), list(kept)),
        ).fetchall()
        where = _where(w, self._schema)
        for name, _ in indexes:
            w.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(where, name)))
        self._local.bulk = [0, 0]  # rows loaded, rows at the last ANALYZE
        try:
            yield
        finally:
            self._local.bulk = None
        w.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            w.execute(ddl)
        for table in ("twin_versions", "twin_commits", "twin_schema_versions"):
            w.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(where, table)))

    def apply(self, commit: CommitInfo, changes: Sequence[StoredChange]) -> None:
        with self.writing(), self._conn() as c:
            head_seq, totals = self._check_head(c, commit.parent, commit.time, commit.seq)
            schemas = dict(self.schemas_at(head_seq))
            lids = dict(self._layer_ids)
            for ch in changes:
                if ch.feature_id == SCHEMA_ID:
                    self._apply_schema(c, commit.seq, ch, schemas, lids)
            new = self._close_versions(
                c, commit.seq, [ch for ch in changes if ch.feature_id != SCHEMA_ID], schemas, lids, totals
            )
            if new:
                _lock_layers(c, {lid for lid, _, _ in new})
                self._copy_versions(c, commit.seq, new)
            self._record_commit(c, commit, totals)
        if any(ch.feature_id == SCHEMA_ID for ch in changes):
            self.reload_schemas()

    streams_versions = True

    def apply_streamed(
        self,
        parent: str | None,
        changes: Sequence[StoredChange],
        added: Iterable[Sequence[StoredChange]],
        commit: Callable[[], CommitInfo],
    ) -> CommitInfo:
        """One COPY takes the versions of `changes` and then each slice of `added` as it comes: the
        server inserts the rows sent (its indexes are most of a big import's time) while the
        caller makes the next slice."""
        if any(ch.feature_id == SCHEMA_ID for ch in changes):
            raise BadInput("a streamed commit changes features only, not a layer's schema")
        with self.writing(), self._conn() as c:
            head_seq, totals = self._check_head(c, parent, None, None)
            seq = head_seq + 1
            schemas = self.schemas_at(head_seq)
            lids = dict(self._layer_ids)
            new = self._close_versions(c, seq, changes, schemas, lids, totals)

            def versions() -> Iterator[tuple[int, str | None, list[StoredChange]]]:
                yield from new
                for part in added:
                    for layer, chs in streamed_adds(part, schemas).items():
                        totals[layer] = totals.get(layer, 0) + len(chs)
                        yield lids[layer], schemas[layer].code_field, chs

            # Every layer is locked, as the slices to come may name any of them.
            _lock_layers(c, {lids[name] for name in schemas})
            self._copy_versions(c, seq, versions())
            info = commit()
            self._check_head(c, info.parent, info.time, info.seq)  # the head is locked: a check of the caller
            self._record_commit(c, info, totals)
        return info

    @staticmethod
    def _check_head(
        c: psycopg.Connection[Any], parent: str | None, time: datetime | None, seq: int | None
    ) -> tuple[int, dict[str, int]]:
        """check_head's number of the head, and the layers' totals after it."""
        head = c.execute("SELECT seq, id, time, totals FROM twin_commits ORDER BY seq DESC LIMIT 1").fetchone()
        return check_head(head, parent, time, seq), orjson.loads(head[3]) if head else {}

    @staticmethod
    def _record_commit(c: psycopg.Connection[Any], commit: CommitInfo, totals: dict[str, int]) -> None:
        c.execute("INSERT INTO twin_commits VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", commit_row(commit, totals))
        c.execute("UPDATE twin_head SET seq=%s", (commit.seq,))

    def _close_versions(
        self,
        c: psycopg.Connection[Any],
        seq: int,
        changes: Sequence[StoredChange],
        schemas: Mapping[str, LayerSchema],
        lids: dict[str, int],
        totals: dict[str, int],
    ) -> list[tuple[int, str | None, list[StoredChange]]]:
        """End the versions these changes replace or delete and count them into `totals`; the new
        versions to copy, by layer: (layer id, code field, changes)."""
        copies: list[tuple[int, str | None, list[StoredChange]]] = []
        for layer, chs in by_layer(changes).items():
            if layer not in schemas:
                raise NotFound(f"no layer {layer!r}", code="no_layer", values={"layer": layer})
            lid = lids[layer]
            closing = [ch.feature_id for ch in chs if ch.op != "add"]
            if closing:
                # Planned for these ids every time (prepare=False): a prepared generic plan, made
                # while a bulk load's statistics still say the table is empty, scanned the whole
                # layer for each id (1.8 s for 300 ids in a copy, 5 ms planned afresh).
                c.execute(
                    "UPDATE twin_versions SET to_seq=%s WHERE layer_id=%s::integer AND to_seq IS NULL AND feature_id = ANY(%s)",
                    (seq, lid, closing),
                    prepare=False,
                )
            new = [ch for ch in chs if ch.version is not None]
            if new:
                copies.append((lid, schemas[layer].code_field, new))
            added = sum(1 for ch in chs if ch.op == "add")
            deleted = sum(1 for ch in chs if ch.op == "delete")
            totals[layer] = totals.get(layer, 0) + added - deleted
        return copies

    def _copy_versions(
        self, c: psycopg.Connection[Any], seq: int, versions: Iterable[tuple[int, str | None, list[StoredChange]]]
    ) -> None:
        """Insert new versions, by layer: (layer id, code field, changes), in one COPY.

        One statement: an import of 100,000 features is one round trip, not 100,000 inserts. In
        COPY's binary format: the server takes the EWKB, the GeoJSON bytes and the numbers as they
        are, instead of parsing hex and decimal text for every version. `versions` may be made
        while the COPY runs: the server inserts the rows sent so far (its indexes are most of an
        import's time) while the next are made."""
        c.adapters.register_dumper(None, self._ewkb_dumper(c))
        rows = 0
        with (
            c.cursor() as cur,
            cur.copy(
                "COPY twin_versions (layer_id, feature_id, from_seq, op, geom, minx, miny, maxx, maxy, properties, geojson, code) "
                "FROM STDIN (FORMAT BINARY)"
            ) as cp,
        ):
            cp.set_types([t or self._ewkb_dumper(c).oid for t in _COPY_TYPES])
            for lid, code_field, new in versions:
                rows += len(new)
                for ch in new:
                    v = ch.version
                    assert v is not None
                    cp.write_row(
                        (lid, v.feature_id, seq, ch.op, ewkb_4326(v.wkb), *(v.bbox or _NO_BOX), v.properties_json,
                         v.geojson, _code_of(v.properties, code_field))
                    )  # fmt: skip
        loaded = getattr(self._local, "bulk", None)
        if loaded is not None and rows:
            # Autovacuum never sees a bulk load's uncommitted rows, so the planner would go on
            # thinking the table empty and plan the next commits' updates as layer scans:
            # statistics of the columns they look up, again each time the rows have doubled.
            loaded[0] += rows
            if loaded[0] >= max(10_000, 2 * loaded[1]):
                c.execute("ANALYZE twin_versions (layer_id, feature_id, to_seq)")
                loaded[1] = loaded[0]

    def _ewkb_dumper(self, c: psycopg.Connection[Any]) -> type[Dumper]:
        """A binary dumper of EWKB bytes for the geometry type (its oid is this database's own)."""
        if self._ewkb is None:
            oid = int(c.execute("SELECT 'geometry'::regtype::oid").fetchone()[0])  # type: ignore[index]

            class EWKBDumper(Dumper):
                format = pq.Format.BINARY

                def dump(self, obj: Any) -> bytes:
                    return obj  # type: ignore[no-any-return]

            EWKBDumper.oid = oid
            self._ewkb = EWKBDumper
        return self._ewkb

    def changes_in(self, seq: int) -> list[StoredChange]:
        names = self._names_by_lid()
        with self._conn() as c:
            started = c.execute(
                "SELECT layer_id, feature_id, op, minx, miny, maxx, maxy, ST_AsBinary(geom), properties, geojson "
                "FROM twin_versions WHERE from_seq=%s",
                (seq,),
            ).fetchall()
            ended = c.execute("SELECT layer_id, feature_id FROM twin_versions WHERE to_seq=%s", (seq,)).fetchall()
            schema_rows = c.execute(
                "SELECT layer_id, op, properties, geojson FROM twin_schema_versions WHERE from_seq=%s", (seq,)
            ).fetchall()
        if any(r[0] not in names for r in (*started, *ended, *schema_rows)):
            self.reload_schemas()
            self._load_schemas()
            names = self._names_by_lid()
        # A version whose layer row is gone (only by hand: layers are never deleted) is named by its
        # id, so fsck goes on to report the orphans and the commit they no longer hash to.
        names = _NamesOrIds(names)
        out: list[StoredChange] = []
        seen: set[tuple[int, str]] = set()
        for lid, fid, op, x0, y0, x1, y1, wkb, props, gj in started:
            seen.add((lid, fid))
            box = None if x0 is None else (x0, y0, x1, y1)
            v = EncodedFeature(
                names[lid], fid, bytes(gj), bytes(wkb) if wkb is not None else None, box, orjson.loads(props), props
            )
            out.append(StoredChange(names[lid], op, fid, v))
        for lid, fid in ended:
            if (lid, fid) not in seen:
                out.append(StoredChange(names[lid], "delete", fid, None))
        for lid, op, props, gj in schema_rows:
            v = EncodedFeature(names[lid], SCHEMA_ID, bytes(gj), None, None, orjson.loads(props), props)
            out.append(StoredChange(names[lid], op, SCHEMA_ID, v))
        return out

    def _names_by_lid(self) -> dict[int, str]:
        if not self._layer_ids:
            self._load_schemas()
        return {lid: name for name, lid in self._layer_ids.items()}

    # ------------------------------------------------------------------ reads
    _VISIBLE = "from_seq <= %(seq)s AND (to_seq IS NULL OR to_seq > %(seq)s)"
    # The as-of bbox selection: every condition is a key of the GiST index (layer, box, interval);
    # ST_Intersects then checks the exact geometry against the exact bbox geometry.
    _IN_BBOX = (
        "layer_id = %(lid)s::integer AND vis @> %(seq)s::integer AND geom && ST_GeomFromWKB(%(box)s, 4326) "
        "AND ST_Intersects(geom, ST_GeomFromWKB(%(box)s, 4326))"
    )

    def feature(self, layer: str, feature_id: str, seq: int) -> bytes | None:
        row = self._one(
            f"SELECT geojson FROM twin_versions WHERE layer_id=%(lid)s::integer AND feature_id=%(fid)s AND {self._VISIBLE}",
            {"lid": self._lid(layer), "fid": feature_id, "seq": seq},
        )
        return bytes(row[0]) if row else None

    def features_by_id(self, layer: str, feature_ids: Sequence[str], seq: int) -> dict[str, bytes]:
        rows = self._all(
            "SELECT feature_id, geojson FROM twin_versions WHERE layer_id=%(lid)s::integer AND feature_id = ANY(%(ids)s) "
            f"AND {self._VISIBLE}",
            {"lid": self._lid(layer), "ids": list(feature_ids), "seq": seq},
        )
        return {fid: bytes(gj) for fid, gj in rows}

    @staticmethod
    def _box(bbox: BBox) -> bytes:
        return shapely.to_wkb(bbox_geometry(bbox))

    def features(
        self,
        layer: str,
        seq: int,
        bbox: BBox | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        lid = self._lid(layer)
        if bbox is not None and not self._spatial(layer):
            raise BadInput(f"layer {layer} has no geometry, so no bbox")
        args: dict[str, Any] = {"lid": lid, "seq": seq, "after": after, "limit": limit, "offset": offset}
        if bbox is not None:
            args["box"] = self._box(bbox)
            where = self._IN_BBOX
        else:
            where = f"layer_id=%(lid)s::integer AND {self._VISIBLE}"
        with self._conn() as c:
            if bbox is not None:
                total = c.execute(f"SELECT count(*) FROM twin_versions WHERE {where}", args).fetchone()[0]  # type: ignore[index]
            else:
                total = self.count(layer, seq)
            page_where = where + (" AND feature_id > %(after)s" if after is not None else "")
            rows = c.execute(
                f"SELECT feature_id, geojson FROM twin_versions WHERE {page_where} "
                "ORDER BY feature_id LIMIT %(limit)s OFFSET %(offset)s",
                args,
            ).fetchall()
        return Page([bytes(r[1]) for r in rows], [r[0] for r in rows], int(total))

    def count(self, layer: str, seq: int) -> int:
        self._lid(layer)
        if seq == 0:
            return 0
        row = self._one("SELECT totals FROM twin_commits WHERE seq=%s", (seq,))
        if row is None:
            raise NotFound(f"no commit number {seq}")
        return int(orjson.loads(row[0]).get(layer, 0))

    def ids_by_value(self, layer: str, field: str, values: Sequence[Any]) -> dict[Any, str]:
        schema = self.schemas()[layer]
        if schema.field(field) is None:
            raise NotFound(f"layer {layer} has no field {field!r}")
        lid = self._lid(layer)
        by_text = {orjson.dumps(v).decode(): v for v in values if v is not None}
        if field == schema.code_field:  # the code column, on its index
            rows = self._all(
                "SELECT feature_id, code FROM twin_versions WHERE layer_id=%s::integer AND to_seq IS NULL AND code = ANY(%s)",
                (lid, list(by_text)),
            )
            return {by_text[code]: fid for fid, code in rows}
        out: dict[Any, str] = {}
        for fid, props in self._all(
            "SELECT feature_id, properties FROM twin_versions WHERE layer_id=%s::integer AND to_seq IS NULL", (lid,)
        ):
            text = _code_of(orjson.loads(props), field)
            if text in by_text:
                out[by_text[text]] = fid
        return out

    def feature_ids(self, layer: str, seq: int) -> list[str]:
        rows = self._all(
            f"SELECT feature_id FROM twin_versions WHERE layer_id=%(lid)s::integer AND {self._VISIBLE} ORDER BY feature_id",
            {"lid": self._lid(layer), "seq": seq},
        )
        return [r[0] for r in rows]

    def export_rows(self, layer: str, seq: int, bbox: BBox | None = None) -> Iterator[ExportRow]:
        args: dict[str, Any] = {"lid": self._lid(layer), "seq": seq}
        if bbox is not None:
            args["box"] = self._box(bbox)
            where = self._IN_BBOX
        else:
            where = f"layer_id=%(lid)s::integer AND {self._VISIBLE}"
        with self._conn() as c, c.cursor() as cur:
            cur.execute(
                f"SELECT feature_id, ST_AsBinary(geom), properties FROM twin_versions WHERE {where} "
                "ORDER BY feature_id",
                args,
            )
            for fid, wkb, props in cur:
                yield ExportRow(fid, bytes(wkb) if wkb is not None else None, props.encode())  # type: ignore[arg-type]

    def versions_of(self, layer: str, feature_id: str) -> list[VersionRow]:
        lid = self._lid(layer)
        table = "twin_schema_versions" if feature_id == SCHEMA_ID else "twin_versions"
        cond = "" if feature_id == SCHEMA_ID else " AND feature_id=%(fid)s"
        rows = self._all(
            f"SELECT from_seq, to_seq, op, geojson FROM {table} WHERE layer_id=%(lid)s::integer{cond} ORDER BY from_seq",
            {"lid": lid, "fid": feature_id},
        )
        return [VersionRow(layer, feature_id, f, t, op, bytes(gj)) for f, t, op, gj in rows]

    def versions_changed_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        ids = {self._lid(name): name for name in layers}
        if not ids:
            return
        # A server-side cursor: the versions stream in batches instead of arriving all at once
        # (a diff across a big import holds hundreds of thousands). In no order: the diff pairs
        # them by feature itself, and a server-side sort of 200,000 rows held the first one back
        # (a 100,000-feature diff: 3.1-3.9 s with ORDER BY, 1.6-1.7 s without).
        with self._conn() as c, c.transaction(), c.cursor(name="twin_versions_between") as cur:
            cur.itersize = 20_000
            cur.execute(
                "SELECT layer_id, feature_id, from_seq, to_seq, op, geojson FROM twin_versions "
                "WHERE layer_id = ANY(%(ids)s) AND ((from_seq > %(a)s AND from_seq <= %(b)s) "
                "OR (to_seq > %(a)s AND to_seq <= %(b)s))",
                {"ids": list(ids), "a": a, "b": b},
            )
            for lid, fid, f, t, op, gj in cur:
                yield VersionRow(ids[lid], fid, f, t, op, bytes(gj))

    def schema_versions_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        ids = {self._lid(name): name for name in layers}
        if not ids:
            return
        rows = self._all(
            "SELECT layer_id, from_seq, to_seq, op, geojson FROM twin_schema_versions "
            "WHERE layer_id = ANY(%(ids)s) AND ((from_seq > %(a)s AND from_seq <= %(b)s) "
            "OR (to_seq > %(a)s AND to_seq <= %(b)s)) ORDER BY layer_id, from_seq",
            {"ids": list(ids), "a": a, "b": b},
        )
        for lid, f, t, op, gj in rows:
            yield VersionRow(ids[lid], SCHEMA_ID, f, t, op, bytes(gj))

    def extent(self, layer: str, seq: int) -> BBox | None:
        lid = self._lid(layer)
        key = (layer, seq)
        if key in self._extents:  # the extent as of a commit never changes
            return self._extents[key]
        # The exact double bounds kept with each version (a geometry's own box is float4-rounded).
        row = self._one(
            f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM twin_versions WHERE layer_id=%(lid)s::integer AND {self._VISIBLE}",
            {"lid": lid, "seq": seq},
        )
        ext = None if row[0] is None else (row[0], row[1], row[2], row[3])
        if len(self._extents) > 4096:
            self._extents.clear()
        self._extents[key] = ext
        return ext

    # A tile: the same index keys as a bbox read (layer, the buffered tile in lon/lat, the
    # visibility interval; every box a constant, so the plan is one GiST scan, checked by EXPLAIN
    # in tests/test_store_postgis.py), encoded by ST_AsMVT. jsonb holds no NUL character, so an
    # escaped one (after an even run of backslashes) is dropped, and only where there is one (the
    # regular expression costs a third of a tile otherwise). Ordered by feature id, so a tile of a
    # version is the same bytes every time.
    #
    # ST_AsMVT types a jsonb value by what it holds: a whole number (a number field's 29540.0) is
    # written as an integer, and an array is left out. So the fields whose MVT type the value alone
    # does not give are columns of their own, typed by the layer's schema as the embedded store's
    # encoder (twin.tiles.encode_rows) types them: a number field a float8 (a double), an integer
    # field an int8, a list field its JSON text (compact, as orjson writes it). A value that is not
    # of its field's kind (none passes validation) stays in the jsonb, as the embedded store keeps
    # it as it is too. Strings, booleans and dates are the same from the jsonb.
    _MVT_HEAD = (
        "SELECT ST_AsMVT(q, %(name)s, %(extent)s, 'geom') FROM ("
        '  SELECT r.geom, {rest} AS "twin:properties"{typed}'
        "  FROM ("
        "    SELECT ST_AsMVTGeom(ST_Transform(v.geom, %(srid)s::integer),"
        "      ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s::integer)::box2d,"
        "      %(extent)s, %(buffer)s, true) AS geom,"
        "      (CASE WHEN strpos(v.properties, '\\u0000') > 0"
        "        THEN regexp_replace(v.properties, '((?:^|[^\\\\])(?:\\\\\\\\)*)\\\\u0000', '\\1', 'g')"
        "        ELSE v.properties END)::jsonb AS p, v.feature_id"
        "    FROM twin_versions v"
        "    WHERE v.layer_id = %(lid)s::integer AND v.vis @> %(seq)s::integer"
        "    AND v.geom && ST_MakeEnvelope(%(lx0)s, %(ly0)s, %(lx1)s, %(ly1)s, 4326)) r"
        "  WHERE r.geom IS NOT NULL"
        "  ORDER BY r.feature_id) q"
    )
    # Per field type: when the value is of the field's kind, and the typed value.
    _MVT_TYPED: dict[str, tuple[str, str]] = {
        "number": ("jsonb_typeof(r.p->{key}) = 'number'", "(r.p->>{key})::float8"),
        "integer": (
            "jsonb_typeof(r.p->{key}) = 'number' AND (r.p->>{key}) ~ '^-?[0-9]+$'"
            " AND (r.p->{key})::numeric BETWEEN -9223372036854775808 AND 9223372036854775807",
            "(r.p->>{key})::int8",
        ),
        "list": (
            "jsonb_typeof(r.p->{key}) = 'array'",
            "(SELECT '[' || coalesce(string_agg(e::text, ',' ORDER BY n), '') || ']'"
            " FROM jsonb_array_elements(r.p->{key}) WITH ORDINALITY AS x(e, n))",
        ),
    }

    def _mvt_sql(self, layer: str, seq: int) -> str:
        """The tile query for `layer` as its schema is at `seq` (see _MVT_HEAD)."""
        fields = tuple((f.name, f.type) for f in self.schemas_at(seq)[layer].fields if f.type in self._MVT_TYPED)
        got = self._mvt_queries.get(fields)
        if got is not None:
            return got
        rest = "r.p"
        typed = ""
        if fields:
            conds = []
            for name, t in fields:
                when, value = self._MVT_TYPED[t]
                key = sql.Literal(name).as_string(None)
                cond = when.format(key=key)
                conds.append(f"CASE WHEN {cond} THEN {key} END")
                column = sql.Identifier(name).as_string(None)
                typed += f", CASE WHEN {cond} THEN {value.format(key=key)} END AS {column}"
            rest = f"(r.p - ARRAY[{', '.join(conds)}]::text[])"  # jsonb - text[] skips the NULLs
        rest += " || jsonb_build_object('id', r.feature_id)"
        got = self._MVT_HEAD.format(rest=rest, typed=typed)
        if len(self._mvt_queries) > 256:
            self._mvt_queries.clear()
        self._mvt_queries[fields] = got
        return got

    def mvt(
        self,
        layer: str,
        seq: int,
        bounds: tuple[float, float, float, float],
        *,
        extent: int = 4096,
        buffer: int = 64,
        layer_name: str | None = None,
        srid: int = 3857,
    ) -> bytes | None:
        lid = self._lid(layer)
        if not self._spatial(layer):
            return None
        name = layer_name or layer
        minx, miny, maxx, maxy = bounds
        margin = (maxx - minx) * buffer / extent  # the tile's buffer in the grid's units
        near = (minx - margin, miny - margin, maxx + margin, maxy + margin)
        lx0, ly0, lx1, ly1 = lonlat_bbox(near) if srid == 3857 else near  # the versions hold lon/lat
        row = self._one(
            self._mvt_sql(layer, seq),
            {
                "x0": minx, "y0": miny, "x1": maxx, "y1": maxy,
                "lx0": lx0, "ly0": ly0, "lx1": lx1, "ly1": ly1, "srid": srid,
                "lid": lid, "seq": seq, "extent": extent, "buffer": buffer, "name": name,
            },
        )  # fmt: skip
        # No feature: None, so the twin writes its empty tile (one layer, no features) as on every store.
        return bytes(row[0]) if row and row[0] else None

    # ------------------------------------------------------------------ server state: tokens
    def token_add(self, name: str, role: str, token_hash: str, created: str) -> int:
        with self._conn() as c:
            try:
                with c.transaction():  # a savepoint inside a write block: a refusal keeps the rest
                    row = c.execute(
                        "INSERT INTO twin_tokens(name, role, hash, created) VALUES (%s, %s, %s, %s) RETURNING id",
                        (name, role, token_hash, created),
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise Conflict("a token with this hash exists already") from None
        assert row is not None  # INSERT ... RETURNING gives its row
        return int(row[0])

    def token_lookup(self, token_hash: str) -> tuple[str, str] | None:
        row = self._one("SELECT name, role FROM twin_tokens WHERE hash=%s AND revoked IS NULL", (token_hash,))
        return (row[0], row[1]) if row else None

    def token_revoke(self, name_or_id: str, when: str) -> int:
        with self._conn() as c:
            if name_or_id.isdigit():
                cur = c.execute(
                    "UPDATE twin_tokens SET revoked=%s WHERE id=%s AND revoked IS NULL", (when, int(name_or_id))
                )
            else:
                cur = c.execute(
                    "UPDATE twin_tokens SET revoked=%s WHERE name=%s AND revoked IS NULL", (when, name_or_id)
                )
            return cur.rowcount

    def token_rows(self) -> list[tuple[int, str, str, str, str | None]]:
        return [tuple(r) for r in self._all("SELECT id, name, role, created, revoked FROM twin_tokens ORDER BY id")]  # type: ignore[misc]

    def token_export(self) -> list[tuple[int, str, str, str, str, str | None]]:
        return [
            tuple(r)  # type: ignore[misc]
            for r in self._all("SELECT id, name, role, hash, created, revoked FROM twin_tokens ORDER BY id")
        ]

    # ------------------------------------------------------------------ maintenance
    def check(self) -> list[str]:
        problems: list[str] = []
        with self._conn() as c:
            head = c.execute("SELECT seq FROM twin_head").fetchone()[0]  # type: ignore[index]
            last = c.execute("SELECT coalesce(max(seq), 0) FROM twin_commits").fetchone()[0]  # type: ignore[index]
            if head != last:
                problems.append(f"the head row says commit {head}, the last commit is {last}")
            for name, n in c.execute(
                "SELECT l.name, count(s.layer_id) FROM twin_layers l LEFT JOIN twin_schema_versions s "
                "ON s.layer_id = l.layer_id AND s.to_seq IS NULL GROUP BY l.layer_id, l.name ORDER BY l.layer_id"
            ).fetchall():
                if n != 1:
                    problems.append(f"layer {name} has {n} current schema versions, not one")
            totals_row = c.execute("SELECT totals FROM twin_commits ORDER BY seq DESC LIMIT 1").fetchone()
            totals = orjson.loads(totals_row[0]) if totals_row else {}
            current = dict(
                c.execute(
                    "SELECT l.name, count(v.layer_id) FROM twin_layers l LEFT JOIN twin_versions v "
                    "ON v.layer_id = l.layer_id AND v.to_seq IS NULL GROUP BY l.name"
                ).fetchall()
            )
            for name, n in current.items():
                if n != totals.get(name, 0):
                    problems.append(f"layer {name}: {n} current versions, the head's total is {totals.get(name, 0)}")
            # Counts that must be zero, and how to name what they count.
            for query, says in (
                (
                    "SELECT count(*) FROM twin_versions WHERE (geom IS NULL) != (minx IS NULL) "
                    "OR (geom IS NOT NULL AND NOT (minx <= maxx AND miny <= maxy "
                    "AND ST_Covers(ST_Expand(ST_MakeEnvelope(minx, miny, maxx, maxy, 4326), 1e-9), geom)))",
                    "{} versions have bounds that disagree with their geometry",
                ),
                (
                    "SELECT count(*) FROM (SELECT layer_id, feature_id FROM twin_versions WHERE to_seq IS NULL "
                    "GROUP BY layer_id, feature_id HAVING count(*) > 1) d",
                    "{} features have more than one current version",
                ),
                (
                    "SELECT count(*) FROM twin_versions v WHERE NOT EXISTS "
                    "(SELECT 1 FROM twin_layers l WHERE l.layer_id = v.layer_id)",
                    "{} versions name a layer that does not exist",
                ),
            ):
                n = c.execute(query).fetchone()[0]  # type: ignore[index]
                if n:
                    problems.append(says.format(n))
            for idx in c.execute(
                "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.oid = to_regclass(%s) AND NOT (i.indisvalid AND i.indisready)",
                (sql.Identifier(_where(c, self._schema), "twin_versions").as_string(c),),
            ).fetchall():
                problems.append(f"index {idx[0]} is not valid (rebuild it with REINDEX)")
        return problems


class _ConnectionLost(StoreUnavailable):
    """The connection a statement ran on was lost (a read tries once more: PostGISStore._read)."""


def _ended_by_server(c: psycopg.Connection[Any]) -> bool:
    """Whether the server has ended this idle connection: closed here, or its socket readable. An
    idle connection of the store has nothing to read (it listens to no channel and every query's
    answer was read to its end), so what there is to read is the server's goodbye (FATAL
    terminating connection ...) or the end of the stream."""
    if c.closed or c.broken:
        return True
    try:
        readable, _, _ = select.select([c.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _NamesOrIds(dict[int, str]):
    def __missing__(self, lid: int) -> str:
        return f"<layer id {lid}>"


def _lock_layers(c: psycopg.Connection[Any], layer_ids: set[int]) -> None:
    """What the foreign key of twin_versions.layer_id did row by row, once for a commit: every
    layer the new versions name exists, and stays until the commit ends (KEY SHARE, as the
    key's trigger locks a referenced row)."""
    found = c.execute(
        "SELECT layer_id FROM twin_layers WHERE layer_id = ANY(%s) FOR KEY SHARE", (sorted(layer_ids),)
    ).fetchall()
    missing = layer_ids - {r[0] for r in found}
    if missing:
        raise NotFound(f"no layer with id {', '.join(map(str, sorted(missing)))}")


_SRID_4326 = {1: (4326).to_bytes(4, "little"), 0: (4326).to_bytes(4, "big")}


def ewkb_4326(wkb: bytes | None) -> bytes | None:
    """The EWKB the typed geometry column demands (the SRID after the type, flagged in it), made
    from the stored WKB by splicing four bytes in. Written by hand because shapely can only add
    an SRID to a parsed geometry: parsing and writing every version again cost 0.28 s of a
    100,000-polygon import. The bytes are shapely's `to_wkb(..., include_srid=True)` (a test
    compares them)."""
    if wkb is None:
        return None
    order: Literal["little", "big"] = "little" if wkb[0] == 1 else "big"
    kind = int.from_bytes(wkb[1:5], order) | 0x20000000  # EWKB's "has SRID" flag
    return wkb[:1] + kind.to_bytes(4, order) + _SRID_4326[wkb[0]] + wkb[5:]


def _code_of(properties: dict[str, Any], field: str | None) -> str | None:
    """A version's human code as canonical JSON text (what the code column holds)."""
    if field is None or properties.get(field) is None:
        return None
    return orjson.dumps(properties[field]).decode()
