"""The embedded store: one SQLite file that is a valid GeoPackage plus the twin's version tables.

Layout (all in one file, WAL mode):
- `twin_versions`: one row per feature version (slowly-changing rows): layer, feature id,
  `from_seq`, `to_seq` (NULL while current), WKB, properties and the GeoJSON encoded once.
- `twin_version_rtree`: an R-tree over every version's bounding box, with the layer and the
  first visible commit as auxiliary columns, so a bbox read as of any commit is one index scan
  joined to the version rows for the end of visibility (`to_seq` lives only in the row: an
  R-tree rewrites a whole entry for any change), and costs the same for the head and for an old
  version.
- `twin_layers` names every layer ever created; `twin_schema_versions` holds each layer's schema
  versions, visible for `from_seq <= s < to_seq` like feature versions (see twin.schema for why
  a schema is versioned like a feature). The layers a twin is created with start at seq 0.
- `twin_commits`: sequence number, content id, parent, author, message, UTC time, counts and
  the number of features per layer after the commit (so an unfiltered count is a lookup).
- One ordinary GeoPackage feature table per layer holding the current state, with its
  `gpkg_rtree_index` extension, updated in the same transaction: GDAL and QGIS open the file
  and see today's venue. A guard trigger refuses writes to those tables from anything but the
  twin (a write that bypassed versioning would silently desync the history).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import re
import sqlite3
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from twin.encoding import commit_from_row, commit_row, format_time
from twin.errors import BadInput, Conflict, NotFound, ReadOnly, Stopped
from twin.model import SCHEMA_ID, CommitInfo, EncodedFeature, LayerSchema, StoredChange, by_layer
from twin.qgis import Presentation, project_qgz, style_qml, style_sld
from twin.schema import check_schema, encode_schema
from twin.stores import rtree_bulk
from twin.stores.base import BBox, ExportRow, Page, SchemaWrites, Store, VersionRow, check_head, streamed_adds
from twin.stores.read_index import INLINE_MAX, LayerReadIndex, estimated_bytes

log = logging.getLogger(__name__)

# Map the file rather than copy its pages into each connection's cache; SQLite caps this at its
# compile-time maximum (2 GiB in Debian's build), so a bigger twin is partly mapped.
MMAP_BYTES = 1 << 40
READ_CACHE_KIB = -65536  # 64 MiB page cache per connection (negative: KiB, as SQLite takes it)
BULK_ROWS = 5_000  # rows of one layer from which a commit lifts its mirror's guard triggers (_guards_lifted)
FORMAT_VERSION = "3"  # 2: the version R-tree no longer carries to_seq; 3: versioned layer schemas
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300  # GeoPackage 1.3: the newest that Debian's GDAL reads without a warning
SQL_TYPES = {
    "string": "TEXT",
    "integer": "INTEGER",
    "number": "REAL",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "list": "TEXT",
}

_CORE_DDL = """
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
  mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name));
CREATE TABLE gpkg_tile_matrix_set (
  table_name TEXT NOT NULL PRIMARY KEY, srs_id INTEGER NOT NULL, min_x DOUBLE NOT NULL,
  min_y DOUBLE NOT NULL, max_x DOUBLE NOT NULL, max_y DOUBLE NOT NULL);
CREATE TABLE gpkg_tile_matrix (
  table_name TEXT NOT NULL, zoom_level INTEGER NOT NULL, matrix_width INTEGER NOT NULL,
  matrix_height INTEGER NOT NULL, tile_width INTEGER NOT NULL, tile_height INTEGER NOT NULL,
  pixel_x_size DOUBLE NOT NULL, pixel_y_size DOUBLE NOT NULL,
  CONSTRAINT pk_ttm PRIMARY KEY (table_name, zoom_level));

CREATE TABLE twin_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE twin_layers (layer_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE twin_schema_versions (
  layer_id INTEGER NOT NULL REFERENCES twin_layers(layer_id), from_seq INTEGER NOT NULL, to_seq INTEGER,
  op TEXT NOT NULL, properties TEXT NOT NULL, geojson BLOB NOT NULL, PRIMARY KEY (layer_id, from_seq));
CREATE INDEX twin_schema_versions_to ON twin_schema_versions(to_seq) WHERE to_seq IS NOT NULL;
CREATE TABLE twin_commits (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, parent TEXT, author TEXT NOT NULL,
  message TEXT NOT NULL, time TEXT NOT NULL, counts TEXT NOT NULL, totals TEXT NOT NULL);
CREATE INDEX twin_commits_time ON twin_commits(time);
CREATE TABLE twin_versions (
  vid INTEGER PRIMARY KEY, layer_id INTEGER NOT NULL REFERENCES twin_layers(layer_id),
  feature_id TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER, op TEXT NOT NULL,
  minx REAL, miny REAL, maxx REAL, maxy REAL,
  wkb BLOB, properties TEXT NOT NULL, geojson BLOB NOT NULL);
CREATE INDEX twin_versions_feature ON twin_versions(layer_id, feature_id, from_seq, to_seq);
CREATE INDEX twin_versions_from ON twin_versions(from_seq);
CREATE INDEX twin_versions_to ON twin_versions(to_seq) WHERE to_seq IS NOT NULL;
CREATE VIRTUAL TABLE twin_version_rtree USING rtree(
  id, minx, maxx, miny, maxy, +layer_id INTEGER, +from_seq INTEGER);
-- 1 only inside a twin write transaction, which no other connection can observe.
CREATE TABLE twin_write_guard (open INTEGER NOT NULL);
INSERT INTO twin_write_guard VALUES (0);
"""

# API tokens: server state, not history. Not registered in gpkg_contents, so GDAL and QGIS do not
# list it. It holds only SHA-256 hashes of full-entropy secrets, which cannot be reversed, so the
# twin file can stay readable by GIS users. Added to older twins on open (an additive change).
_TOKENS_DDL = (
    "CREATE TABLE IF NOT EXISTS twin_tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
    "hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL, revoked TEXT)"
)


def gpkg_blob(wkb: bytes, bbox: BBox, srs_id: int = 4326) -> bytes:
    """A GeoPackage geometry blob: 'GP' header with an XY envelope, then little-endian WKB.

    Written by hand because no Python library exposes GeoPackage blob encoding on its own
    (GDAL does it internally); the header is 40 bytes of fixed layout (GeoPackage 1.4, §2.1.3).
    """
    minx, miny, maxx, maxy = bbox
    return _GP_HEADER(b"GP", 0, 0b00000011, srs_id, minx, maxx, miny, maxy) + wkb


_GP_HEADER = struct.Struct("<2sBBi4d").pack  # compiled once: a big commit packs one header per feature


def bbox_geometry(bbox: BBox) -> BaseGeometry:
    """The closed rectangle `bbox` as a geometry to intersect with. A box of zero width or height
    is the point or segment it is: as a polygon it would be degenerate, and GEOS finds that it
    intersects only points (a line through the point would be missed)."""
    minx, miny, maxx, maxy = bbox
    if minx == maxx and miny == maxy:
        return shapely.Point(minx, miny)
    if minx == maxx or miny == maxy:
        return shapely.LineString([(minx, miny), (maxx, maxy)])
    return shapely.box(minx, miny, maxx, maxy)


# QGIS's own definitions of the two tables (as QGIS / GDAL create them in a GeoPackage).
_LAYER_STYLES_DDL = """CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
  styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30),
  ui TEXT(30), update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""
_QGIS_PROJECTS_DDL = "CREATE TABLE IF NOT EXISTS qgis_projects (name TEXT PRIMARY KEY, metadata BLOB, content BLOB)"


def _geometry_type_name(types: Sequence[str]) -> str:
    """gpkg_geometry_columns' geometry_type_name: the layer's declared type (LayerSchema.geometry_type),
    GEOMETRY only for a schema stored before layers held one kind of geometry."""
    declared = LayerSchema("_", "_", "_", tuple(types)).geometry_type
    return declared.upper() if declared else "GEOMETRY"


class GeoPackageStore(Store, SchemaWrites[sqlite3.Connection]):
    unreadable = (sqlite3.DatabaseError,)  # "database disk image is malformed", undecodable text

    def __init__(self, path: str | Path, *, create: bool = False, read_index_mb: int | None = None):
        self.path = Path(path)
        self.url = str(self.path)  # what Twin.open takes to open it again
        if not create and not self.path.exists():
            raise NotFound(f"no twin at {self.path} (create one with `venue-twin init`)")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._layer_ids: dict[str, int] = {}
        # Every schema version in memory (name, from_seq, to_seq, schema), in layer order; exact for
        # every seq up to _rows_seq. Schemas as of a seq are memoised: they never change.
        self._schema_rows: list[tuple[str, int, int | None, LayerSchema]] = []
        self._rows_seq = -1
        self._schemas_by_seq: dict[int, dict[str, LayerSchema]] = {}
        self._aoi: BaseGeometry | None = None
        self._extents: dict[tuple[str, int], BBox | None] = {}
        self._all_conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._tokens_missing = False  # a read-only twin from before tokens lived in it
        # In-memory read indexes by layer (None: the layer does not fit the budget); see read_index.
        if read_index_mb is None:
            from twin.settings import settings

            read_index_mb = settings().read_index_mb
        self._read_index_budget = read_index_mb * 1024 * 1024
        self._read_indexes: dict[str, LayerReadIndex | None] = {}
        self._read_index_lock = threading.Lock()
        self._warmed = False
        self._too_big_unwarmed: set[str] = set()
        # Why this process may only read the file (None: it may write), found before the first
        # connection: opened read-write, SQLite refuses even reads of a WAL file whose directory
        # it cannot write (no -shm), with a message that names neither the file nor the reason.
        self.read_only: str | None = None if create else _read_only_reason(self.path)
        self._immutable = False  # read-only and no -shm can be made: the file is read as it stands
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # `init` on a fresh clone: data/ is not there yet
        else:
            self._check_is_twin()
            self._ensure_tokens()

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            if self.read_only is None:
                c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                c.execute("PRAGMA journal_mode=WAL")
            else:
                c = self._connect_read_only()
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA foreign_keys=ON")
            c.execute(f"PRAGMA cache_size={READ_CACHE_KIB}")
            c.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._local.conn = c
            with self._conns_lock:
                # One connection per thread (a SQLite connection must not be used by two threads at
                # once, and a write transaction belongs to one). The API's thread pool ends idle
                # threads and starts new ones, so the connections of threads that have ended are
                # closed here instead of piling up until the store is closed.
                alive = []
                for thread, old in self._all_conns:
                    if thread.is_alive():
                        alive.append((thread, old))
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            old.close()
                alive.append((threading.current_thread(), c))
                self._all_conns = alive
        return c

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that only reads (`mode=ro`). Reading a WAL file needs its -shm index: made
        beside it when the directory allows, else the one a writer keeps there. With neither (a
        read-only mount, a directory this user cannot write, no writer) the file is read as
        immutable, which SQLite allows only when no write-ahead log holds commits: one that does
        is refused, naming it, rather than read without them."""
        base = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        if not self._immutable:
            c = sqlite3.connect(base, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
            try:
                c.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return c
            except sqlite3.OperationalError:
                c.close()
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise ReadOnly(
                    f"cannot read {self.path}: {self.read_only}, and its write-ahead log {wal.name} holds commits "
                    "that only a process allowed to write there can fold into the file (`venue-twin fsck` as that user)"
                )
            self._immutable = True
        return sqlite3.connect(base + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    def _refuse_write(self) -> None:
        if self.read_only is not None:
            raise ReadOnly(
                f"the twin {self.path} is read-only here ({self.read_only}): it can be read, but nothing can be "
                "written to it; make the file and its directory writable by this user to edit it"
            )

    keeps_presentation = True
    local_reads = True  # WAL: a reader reads its snapshot while a writer writes, no lock to wait for

    def write_presentation(self, presentation: Presentation) -> bool:
        """Write QGIS's `layer_styles` (one default style per layer, QML and SLD) and
        `qgis_projects` (the project, as .qgz bytes) tables, replacing what this twin wrote before.

        The tables have the columns QGIS creates them with, so QGIS reads them as its own: it
        applies a layer's default style when the layer is added, and lists the project under the
        file in its browser. `layer_styles` is registered in gpkg_contents as attributes, as QGIS
        (through GDAL) registers it; `qgis_projects` is not, as QGIS leaves it.
        """
        if self.read_only is not None:
            return False  # a read-only twin keeps the styles it has
        c = self._conn()
        rows = [
            (
                s.layer,
                s.title,
                style_qml(s),
                style_sld(s),
                s.description,
                presentation.owner,
            )
            for s in presentation.styles
        ]
        qgz = project_qgz(presentation, self.path.name)
        meta = orjson.dumps({"last_modified_user": presentation.owner})
        with self.writing():
            c.execute(_LAYER_STYLES_DDL)
            c.execute(_QGIS_PROJECTS_DDL)
            c.execute(
                "INSERT OR IGNORE INTO gpkg_contents(table_name, data_type, identifier, description) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles')"
            )
            c.execute("DELETE FROM layer_styles WHERE owner = ?", (presentation.owner,))
            c.executemany(
                "INSERT INTO layer_styles(f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
                "VALUES ('', '', ?, 'geom', ?, ?, ?, 1, ?, ?, NULL)",
                rows,
            )
            c.execute(
                "INSERT OR REPLACE INTO qgis_projects(name, metadata, content) VALUES (?, ?, ?)",
                (presentation.project_name, meta, qgz),
            )
        return True

    def flush(self) -> None:
        # The GeoPackage header (application_id "GPKG", user_version) and the latest commits live in
        # the write-ahead log until a checkpoint; GDAL reads the header from the file itself and
        # would warn "bad application_id" before it.
        if self.read_only is None:
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._read_index_lock:
            indexes = [index for index in self._read_indexes.values() if index is not None]
            self._read_indexes.clear()
        for index in indexes:  # outside the lock: a build it waits for may ask the lock (its admission)
            index.close()
        with self._conns_lock:
            for _, c in self._all_conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._all_conns.clear()
        self._local = threading.local()

    def _check_is_twin(self) -> None:
        try:
            row = self._conn().execute("SELECT value FROM twin_meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as e:
            raise BadInput(f"{self.path} is not a venue twin: {e}") from e
        if row is None:
            raise BadInput(f"{self.path} is not a venue twin (no format marker)")
        if row[0] != FORMAT_VERSION:
            raise BadInput(
                f"{self.path} has twin format {row[0]}; this program reads format {FORMAT_VERSION}: export what "
                f"you need with the older version, or rebuild the bundled twin with `venue-twin init --force`"
            )

    # ------------------------------------------------------------------ set-up
    def initialize(self, schemas: Sequence[LayerSchema], area_of_interest: BaseGeometry) -> None:
        c = self._conn()
        has = c.execute("SELECT count(*) FROM sqlite_master WHERE name='twin_meta'").fetchone()[0]
        if has:
            raise Conflict(f"{self.path} already holds a twin")
        c.execute(f"PRAGMA application_id={GPKG_APPLICATION_ID}")
        c.execute(f"PRAGMA user_version={GPKG_USER_VERSION}")
        c.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _CORE_DDL.split(";\n"):
                if stmt.strip():
                    c.execute(stmt)
            self._insert_srs(c)
            c.executemany(
                "INSERT INTO twin_meta VALUES (?, ?)",
                [("format", FORMAT_VERSION), ("area_of_interest", shapely.to_wkt(area_of_interest))],
            )
            # Registering the commit log as an attributes table shows it in GDAL and QGIS, and
            # (with any attributes entry present) GDAL lists only registered tables, hiding the
            # version tables.
            c.execute(
                "INSERT INTO gpkg_contents(table_name, data_type, identifier, description) "
                "VALUES ('twin_commits', 'attributes', 'Twin history / 版本历史', "
                "'Every commit to the venue twin: who changed what, when and why.')"
            )
            c.execute(_TOKENS_DDL)
            for s in schemas:  # the initial layers: schema versions from before the first commit
                self._create_layer(c, s, 0, encode_schema(s))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        # The GeoPackage header (application_id) lives in page 1; until a checkpoint copies it from
        # the WAL, GDAL (which reads the header from the main file) would not see a GeoPackage.
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.reload_schemas()

    @staticmethod
    def _insert_srs(c: sqlite3.Connection) -> None:
        wgs84 = CRS.from_epsg(4326)
        c.executemany(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    "Undefined cartesian SRS",
                    -1,
                    "NONE",
                    -1,
                    "undefined",
                    "undefined cartesian coordinate reference system",
                ),
                (
                    "Undefined geographic SRS",
                    0,
                    "NONE",
                    0,
                    "undefined",
                    "undefined geographic coordinate reference system",
                ),
                (
                    "WGS 84 geodetic",
                    4326,
                    "EPSG",
                    4326,
                    wgs84.to_wkt("WKT1_GDAL"),
                    "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
                ),
            ],
        )

    # ------------------------------------------------------------------ layers and their schemas
    def _create_layer(self, c: sqlite3.Connection, s: LayerSchema, seq: int, version: EncodedFeature) -> int:
        """Register a layer, its first schema version (visible from `seq`) and its mirror table."""
        problems = check_schema(s)
        if problems:
            raise BadInput(f"layer {s.name}: " + "; ".join(problems))
        if c.execute("SELECT 1 FROM twin_layers WHERE name=?", (s.name,)).fetchone():
            raise Conflict(f"layer {s.name} exists already")
        if c.execute("SELECT 1 FROM sqlite_master WHERE lower(name)=lower(?)", (s.name,)).fetchone():
            raise Conflict(f"the name {s.name} is taken by a table of the GeoPackage")
        lid = c.execute("INSERT INTO twin_layers(name) VALUES (?)", (s.name,)).lastrowid
        assert lid is not None
        c.execute(
            "INSERT INTO twin_schema_versions VALUES (?, ?, NULL, 'add', ?, ?)",
            (lid, seq, version.properties_json, version.geojson),
        )
        cols = ", ".join(f'"{f.name}" {SQL_TYPES[f.type]}' for f in s.fields)
        gtype = _geometry_type_name(s.geometry_types) if s.spatial else None
        geom_col = f"geom {gtype}, " if gtype else ""
        c.execute(
            f'CREATE TABLE "{s.name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, {geom_col}'
            f"feature_id TEXT NOT NULL UNIQUE{', ' + cols if cols else ''})"
        )
        if s.code_field and s.field(s.code_field):
            c.execute(f'CREATE INDEX "{s.name}_{s.code_field}_idx" ON "{s.name}"("{s.code_field}")')
        if gtype:
            c.execute(
                "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, srs_id) "
                "VALUES (?, 'features', ?, ?, 4326)",
                (s.name, _identifier(c, s), _layer_description(s)),
            )
            c.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)", (s.name, gtype))
            c.execute(f'CREATE VIRTUAL TABLE "rtree_{s.name}_geom" USING rtree(id, minx, maxx, miny, maxy)')
            c.execute(
                "INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
                "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                (s.name,),
            )
        else:
            c.execute(
                "INSERT INTO gpkg_contents(table_name, data_type, identifier, description) VALUES (?, 'attributes', ?, ?)",
                (s.name, _identifier(c, s), s.description),
            )
        self._describe_columns(c, s)
        for event in ("INSERT", "UPDATE", "DELETE"):
            c.execute(
                f'CREATE TRIGGER "twin_guard_{s.name}_{event.lower()}" BEFORE {event} ON "{s.name}" '
                "WHEN (SELECT open FROM twin_write_guard) = 0 BEGIN "
                "SELECT RAISE(ABORT, 'this table mirrors the venue twin: edit it with venue-twin, "
                "not directly'); END"
            )
        return lid

    @staticmethod
    def _describe_columns(c: sqlite3.Connection, s: LayerSchema) -> None:
        """Titles and units of the mirror table's columns, where GDAL and QGIS read them."""
        c.execute("DELETE FROM gpkg_data_columns WHERE table_name=?", (s.name,))
        c.executemany(
            "INSERT INTO gpkg_data_columns(table_name, column_name, name, title, description) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    s.name,
                    f.name,
                    f.name,
                    f.title_en or f.name,
                    " / ".join(x for x in (f.title_zh, f"unit: {f.unit}" if f.unit else None) if x) or None,
                )
                for f in s.fields
            ],
        )

    def _alter_layer(
        self, c: sqlite3.Connection, seq: int, lid: int, old: LayerSchema, new: LayerSchema, version: EncodedFeature
    ) -> None:
        """A new schema version, and the mirror table brought in step with it.

        A renamed field is a dropped column plus a new one: the same commit holds a new version of
        every feature that had the property, and writing those versions fills the new column.
        """
        name = new.name
        c.execute("UPDATE twin_schema_versions SET to_seq=? WHERE layer_id=? AND to_seq IS NULL", (seq, lid))
        c.execute(
            "INSERT INTO twin_schema_versions VALUES (?, ?, NULL, 'modify', ?, ?)",
            (lid, seq, version.properties_json, version.geojson),
        )
        kept = {f.name for f in new.fields}
        before = {f.name for f in old.fields}
        if old.code_field:  # SQLite drops no indexed column; the index is made again below
            c.execute(f'DROP INDEX IF EXISTS "{name}_{old.code_field}_idx"')
        for f in old.fields:
            if f.name not in kept:
                c.execute(f'ALTER TABLE "{name}" DROP COLUMN "{f.name}"')
        for f in new.fields:
            if f.name not in before:
                c.execute(f'ALTER TABLE "{name}" ADD COLUMN "{f.name}" {SQL_TYPES[f.type]}')
        if new.code_field:
            c.execute(f'CREATE INDEX IF NOT EXISTS "{name}_{new.code_field}_idx" ON "{name}"("{new.code_field}")')
        self._describe_columns(c, new)
        c.execute(
            "UPDATE gpkg_contents SET identifier=?, description=? WHERE table_name=?",
            (_identifier(c, new), _layer_description(new) if new.spatial else new.description, name),
        )
        if new.spatial:
            c.execute(
                "UPDATE gpkg_geometry_columns SET geometry_type_name=? WHERE table_name=?",
                (_geometry_type_name(new.geometry_types), name),
            )

    def _load_schemas(self) -> None:
        """Read every schema version (a few rows per layer) into memory.

        The head is read first: versions read after it are exact for every seq up to that head
        (a later commit only adds versions from a later seq, or ends one after it).
        """
        c = self._conn()
        head = c.execute("SELECT coalesce(max(seq), 0) FROM twin_commits").fetchone()[0]
        rows = c.execute(
            "SELECT l.layer_id, l.name, s.from_seq, s.to_seq, s.properties FROM twin_schema_versions s "
            "JOIN twin_layers l USING (layer_id) ORDER BY l.layer_id, s.from_seq"
        ).fetchall()
        self._layer_ids = {name: lid for lid, name, *_ in rows}
        self._schema_rows = [(name, f, t, LayerSchema.from_dict(orjson.loads(p))) for _, name, f, t, p in rows]
        self._schemas_by_seq = {}
        self._rows_seq = head

    def schemas_at(self, seq: int) -> dict[str, LayerSchema]:
        got = self._schemas_by_seq.get(seq)
        if got is not None:
            return got
        if seq > self._rows_seq:
            self._load_schemas()
        out = {name: s for name, f, t, s in self._schema_rows if f <= seq and (t is None or t > seq)}
        if seq <= self._rows_seq:  # exact, and never changes: history is append-only
            if len(self._schemas_by_seq) > 1024:
                self._schemas_by_seq = {}
            self._schemas_by_seq[seq] = out
        return out

    def schemas(self) -> dict[str, LayerSchema]:
        return self.schemas_at(self._head_seq())

    def _head_seq(self) -> int:
        head = self.head()
        return head.seq if head is not None else 0

    def reload_schemas(self) -> None:
        self._rows_seq = -1
        self._schemas_by_seq = {}

    def _lid(self, layer: str) -> int:
        if layer not in self._layer_ids:
            self._load_schemas()  # another handle (the CLI, say) may have added it since
        try:
            return self._layer_ids[layer]
        except KeyError:
            raise NotFound(f"no layer {layer!r}", code="no_layer", values={"layer": layer}) from None

    def _spatial(self, layer: str) -> bool:
        """Whether a layer holds geometries (fixed for its life, so any schema version answers)."""
        self._lid(layer)
        return next(s.spatial for name, _, _, s in self._schema_rows if name == layer)

    def area_of_interest(self) -> BaseGeometry:
        if self._aoi is None:
            row = self._conn().execute("SELECT value FROM twin_meta WHERE key='area_of_interest'").fetchone()
            self._aoi = shapely.from_wkt(row[0])
        return self._aoi

    # ------------------------------------------------------------------ commits
    _COMMIT_COLS = "seq, id, parent, author, message, time, counts"

    _commit = staticmethod(commit_from_row)

    def head(self) -> CommitInfo | None:
        """The newest commit. Every read asks for it (to resolve HEAD, to know the schemas), so it is
        kept per connection and read again only when the file changed: SQLite's `data_version`
        moves whenever another connection commits, and this connection's own commits (writing())
        drop what it kept. The check is one pragma, not a query and a commit row to decode."""
        c = self._conn()
        version = c.execute("PRAGMA data_version").fetchone()[0]
        kept = getattr(self._local, "head", None)
        if kept is not None and kept[0] == version:
            return kept[1]  # type: ignore[no-any-return]
        row = c.execute(f"SELECT {self._COMMIT_COLS} FROM twin_commits ORDER BY seq DESC LIMIT 1").fetchone()
        head = self._commit(row) if row else None
        if not c.in_transaction:  # inside a write, the head may still change before it ends
            self._local.head = (version, head)
        return head

    def commit_by_seq(self, seq: int) -> CommitInfo:
        row = self._conn().execute(f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE seq=?", (seq,)).fetchone()
        if row is None:
            raise NotFound(f"no commit number {seq}")
        return self._commit(row)

    def commits_by_id_prefix(self, prefix: str) -> list[CommitInfo]:
        if not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
            return []
        rows = (
            self._conn()
            .execute(
                f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE id >= ? AND id < ? LIMIT 2",
                (prefix, prefix + "g"),
            )
            .fetchall()
        )
        return [self._commit(r) for r in rows]

    def commit_at_time(self, t: datetime) -> CommitInfo | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {self._COMMIT_COLS} FROM twin_commits WHERE time <= ? ORDER BY time DESC, seq DESC LIMIT 1",
                (format_time(t),),
            )
            .fetchone()
        )
        return self._commit(row) if row else None

    def log(self, limit: int, offset: int = 0) -> list[CommitInfo]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {self._COMMIT_COLS} FROM twin_commits ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset)
            )
            .fetchall()
        )
        return [self._commit(r) for r in rows]

    def commit_count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM twin_commits").fetchone()[0])

    def writing_here(self) -> bool:
        return bool(getattr(self._local, "writing", False))

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        # BEGIN IMMEDIATE takes SQLite's write lock, which holds across processes; the thread lock
        # queues this process's threads first, so at most one connection per process waits on it.
        c = self._conn()
        if getattr(self._local, "writing", False):
            # Nested (apply inside a commit's block): a savepoint, so a failed apply leaves nothing.
            c.execute("SAVEPOINT twin_nested")
            try:
                yield
            except BaseException:
                if c.in_transaction:  # SQLite may have rolled the whole transaction back already
                    c.execute("ROLLBACK TO twin_nested")
                    c.execute("RELEASE twin_nested")
                raise
            c.execute("RELEASE twin_nested")
            return
        self._refuse_write()
        with self._write_lock:
            self._local.head = None  # data_version does not move for this connection's own commits
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                self._read_only_now(e)
                raise
            self._local.writing = True
            # Python runs a signal's handler only between its own instructions, never during one
            # long SQLite statement (a big commit's inserts): this handler gives it the chance every
            # few thousand SQLite steps, so a stop (the command line's Stopped, on SIGTERM or
            # Ctrl-C) aborts the write at once, rather than when SQLite is done and has committed.
            c.set_progress_handler(_let_signals_in, _SIGNAL_STEPS)
            try:
                yield
                c.execute("COMMIT")
            except BaseException as e:
                # A stop lands here too: the transaction is rolled back, so the twin is as it was
                # (and if the process dies first, SQLite ignores the uncommitted pages it left in
                # the -wal on the next open).
                if c.in_transaction:
                    c.execute("ROLLBACK")
                if isinstance(e, sqlite3.OperationalError):
                    if getattr(e, "sqlite_errorname", "") == "SQLITE_INTERRUPT" and Stopped.last is not None:
                        raise Stopped.last from None  # sqlite3 dropped it for its "interrupted"
                    self._read_only_now(e)
                raise
            finally:
                c.set_progress_handler(None, 0)
                self._local.writing = False
                self._local.head = None

    def _read_only_now(self, e: sqlite3.OperationalError) -> None:
        """SQLite's "attempt to write a readonly database" once the process runs (the file made
        read-only, the mount remounted read-only): the twin's ReadOnly, naming the store."""
        if getattr(e, "sqlite_errorcode", 0) & 0xFF == _SQLITE_READONLY:
            reason = _read_only_reason(self.path) or str(e)
            raise ReadOnly(
                f"the twin {self.path} cannot be written ({reason}): it can be read, but nothing can be "
                "written to it; make the file and its directory writable by this user to edit it"
            ) from e

    # A big commit's adds are encoded in a second process while this one inserts the slices
    # before (twin.core's streamed commit, twin.encode_worker): the inserts are SQLite's work and
    # this process's, the encoding the other core's.
    streams_versions = True

    def apply(self, commit: CommitInfo, changes: Sequence[StoredChange]) -> None:
        with self._commit_open(commit.parent, commit.time, commit.seq) as (c, head, totals):
            # Schema changes first: a new layer's table, or a renamed field's column, must
            # exist before the features of the same commit are written to it.
            schemas = dict(self.schemas_at(head))
            lids = dict(self._layer_ids)
            for ch in changes:
                if ch.feature_id == SCHEMA_ID:
                    self._apply_schema(c, commit.seq, ch, schemas, lids)
            features = [ch for ch in changes if ch.feature_id != SCHEMA_ID]
            self._apply_changes(c, commit.seq, features, schemas, lids, totals)
            c.execute("INSERT INTO twin_commits VALUES (?, ?, ?, ?, ?, ?, ?, ?)", commit_row(commit, totals))

    def apply_streamed(
        self,
        parent: str | None,
        changes: Sequence[StoredChange],
        added: Iterable[Sequence[StoredChange]],
        commit: Callable[[], CommitInfo],
    ) -> CommitInfo:
        """`changes`, then each slice of adds inserted as it comes (version and mirror rows); the
        R-trees and extents once every slice is in, each tree packed once."""
        if any(ch.feature_id == SCHEMA_ID for ch in changes):
            raise BadInput("a streamed commit changes features only, not a layer's schema")
        with self._commit_open(parent, None, None) as (c, head, totals):
            seq = head + 1
            schemas = dict(self.schemas_at(head))
            lids = dict(self._layer_ids)
            self._apply_changes(c, seq, changes, schemas, lids, totals)
            indexing: dict[str, _Indexing] = {}
            with contextlib.ExitStack() as lifted:
                for part in added:
                    for layer, chs in streamed_adds(part, schemas).items():
                        if layer not in indexing:
                            # Lifted for the whole stream: once per slice would be DDL per slice.
                            lifted.enter_context(_guards_lifted(c, layer, BULK_ROWS))
                            indexing[layer] = _Indexing()
                        self._write_versions(c, seq, lids[layer], schemas[layer], chs, indexing[layer])
                        totals[layer] = totals.get(layer, 0) + len(chs)
                for layer, pending in indexing.items():
                    self._index_layer(c, seq, layer, lids[layer], schemas[layer], pending)
            info = commit()
            check_head(self._head_row(c), info.parent, info.time, info.seq)  # the caller's commit, checked
            c.execute("INSERT INTO twin_commits VALUES (?, ?, ?, ?, ?, ?, ?, ?)", commit_row(info, totals))
        return info

    @staticmethod
    def _head_row(c: sqlite3.Connection) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = c.execute(
            "SELECT seq, id, time, totals FROM twin_commits ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row

    @contextlib.contextmanager
    def _commit_open(
        self, parent: str | None, time: datetime | None, seq: int | None
    ) -> Iterator[tuple[sqlite3.Connection, int, dict[str, int]]]:
        """A write transaction for one commit on `parent` (checked: check_head): the connection,
        the head's number and the layers' totals after it, to count the commit into."""
        c = self._conn()
        with self.writing():
            try:
                head = self._head_row(c)
                head_seq = check_head(head, parent, time, seq)
                totals: dict[str, int] = orjson.loads(head[3]) if head else {}
                c.execute("UPDATE twin_write_guard SET open=1")
                # A large commit writes more pages than the read cache holds; spilling them
                # mid-transaction costs more than the memory (measured: -0.6 s on 100k features).
                c.execute("PRAGMA cache_size=-524288")
                yield c, head_seq, totals
                c.execute("UPDATE twin_write_guard SET open=0")
            finally:
                c.execute(f"PRAGMA cache_size={READ_CACHE_KIB}")

    def _apply_changes(
        self,
        c: sqlite3.Connection,
        seq: int,
        changes: Sequence[StoredChange],
        schemas: dict[str, LayerSchema],
        lids: dict[str, int],
        totals: dict[str, int],
    ) -> None:
        """Write the feature changes, layer by layer, counting them into `totals` (the head's)."""
        for layer, chs in by_layer(changes).items():
            if layer not in schemas:
                raise NotFound(f"no layer {layer!r}", code="no_layer", values={"layer": layer})
            with _guards_lifted(c, layer, len(chs)):
                self._apply_layer(c, seq, layer, lids[layer], schemas[layer], chs, totals)

    def _apply_layer(
        self,
        c: sqlite3.Connection,
        seq: int,
        layer: str,
        lid: int,
        schema: LayerSchema,
        chs: list[StoredChange],
        totals: dict[str, int],
    ) -> None:
        closing = [ch.feature_id for ch in chs if ch.op != "add"]
        if closing:
            # Find the current versions first, then close them by rowid: a plain UPDATE ... WHERE
            # feature_id=? AND to_seq IS NULL is at the mercy of the planner's index choice. The
            # version R-tree does not hold to_seq (an R-tree rewrites a whole entry for any
            # change), so closing a version touches only its row.
            vids: list[int] = []
            for i in range(0, len(closing), 500):
                chunk = closing[i : i + 500]
                vids.extend(
                    r[0]
                    for r in c.execute(
                        "SELECT vid FROM twin_versions INDEXED BY twin_versions_feature WHERE layer_id=? "
                        f"AND feature_id IN ({','.join('?' * len(chunk))}) AND to_seq IS NULL",
                        (lid, *chunk),
                    )
                )
            c.executemany("UPDATE twin_versions SET to_seq=? WHERE vid=?", [(seq, v) for v in vids])
        if closing:
            # Mirror: deleted features leave the table; modified ones are updated in place below,
            # so their fid stays stable for QGIS selections and joins.
            gone = [(ch.feature_id,) for ch in chs if ch.op == "delete"]
            if schema.spatial and gone:
                c.executemany(
                    f'DELETE FROM "rtree_{layer}_geom" WHERE id = (SELECT fid FROM "{layer}" WHERE feature_id=?)',
                    gone,
                )
            c.executemany(f'DELETE FROM "{layer}" WHERE feature_id=?', gone)
        indexing = _Indexing()
        self._write_versions(c, seq, lid, schema, chs, indexing)
        added = sum(1 for ch in chs if ch.op == "add")
        deleted = sum(1 for ch in chs if ch.op == "delete")
        totals[layer] = totals.get(layer, 0) + added - deleted
        self._index_layer(c, seq, layer, lid, schema, indexing)

    def _write_versions(
        self,
        c: sqlite3.Connection,
        seq: int,
        lid: int,
        schema: LayerSchema,
        chs: list[StoredChange],
        indexing: _Indexing,
    ) -> None:
        """Insert the new versions of `chs` and write them to the mirror table; their R-tree entries
        are left in `indexing` (_index_layer writes them)."""
        new = [ch.version for ch in chs if ch.version is not None]
        ops = [ch.op for ch in chs if ch.version is not None]
        if not new:
            return
        start = (c.execute("SELECT coalesce(max(vid), 0) FROM twin_versions").fetchone()[0]) + 1
        c.executemany(
            "INSERT INTO twin_versions VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    start + k,
                    lid,
                    v.feature_id,
                    seq,
                    op,
                    *(v.bbox or (None, None, None, None)),
                    v.wkb,
                    v.properties_json,
                    v.geojson,
                )
                for k, (v, op) in enumerate(zip(new, ops, strict=True))
            ],
        )
        if schema.spatial:
            indexing.version_boxes.add(start, new)
        self._write_mirror(c, schema, new, ops, indexing.mirror_boxes)

    def _index_layer(
        self, c: sqlite3.Connection, seq: int, layer: str, lid: int, schema: LayerSchema, indexing: _Indexing
    ) -> None:
        """The R-tree entries of a layer's new versions and mirror rows, and its extent."""
        if not schema.spatial:
            return
        indexing.version_boxes.insert(c, "twin_version_rtree", (lid, seq))
        indexing.mirror_boxes.insert(c, f"rtree_{layer}_geom")
        self._update_extent(c, layer, lid, seq, indexing.version_boxes.boxes)

    @staticmethod
    def _update_extent(c: sqlite3.Connection, layer: str, lid: int, seq: int, new_boxes: list[BBox]) -> None:
        """Keep the layer's gpkg_contents extent exact (the exact bounds of its current features)
        without scanning the layer on every commit.

        New versions can only widen it; a version that ended here narrows it only if it touched
        the edge, and only then is the extent recomputed, through the layer's spatial index.
        """
        row = c.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name=?", (layer,)).fetchone()
        old = None if row is None or row[0] is None else row
        boxes = list(new_boxes)  # the new versions'
        if old is not None:
            gone = c.execute(
                "SELECT min(minx), min(miny), max(maxx), max(maxy) FROM twin_versions WHERE to_seq=? AND layer_id=?",
                (seq, lid),
            ).fetchone()
            # Both are exact doubles; the slack also heals a file whose extent an older version
            # took from the float32 index (a little wider than exact).
            eps = 2e-5
            touches = gone[0] is not None and (
                gone[0] <= old[0] + eps or gone[1] <= old[1] + eps or gone[2] >= old[2] - eps or gone[3] >= old[3] - eps
            )
            if touches:
                ext = _exact_extent(c, layer, lid, near=(old[0], old[1], old[2], old[3]))
                boxes = [] if ext is None else [ext]  # holds the new versions
                old = None
        if old is not None:
            boxes.append((old[0], old[1], old[2], old[3]))
        c.execute(
            "UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
            "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?",
            (
                min((b[0] for b in boxes), default=None),
                min((b[1] for b in boxes), default=None),
                max((b[2] for b in boxes), default=None),
                max((b[3] for b in boxes), default=None),
                layer,
            ),
        )

    def _write_mirror(
        self,
        c: sqlite3.Connection,
        schema: LayerSchema,
        versions: list[EncodedFeature],
        ops: Sequence[str],
        boxes: _Boxes,
    ) -> None:
        """Write the versions to the layer's mirror table: modified rows in place (with their index
        entries), added rows appended, their index entries left in `boxes`."""
        names = [f.name for f in schema.fields]
        lists = {f.name for f in schema.fields if f.type == "list"}

        def value(v: EncodedFeature, n: str) -> Any:
            x = v.properties.get(n)
            return orjson.dumps(x).decode() if n in lists and x is not None else x

        def values(v: EncodedFeature) -> tuple[Any, ...]:
            if lists:
                return tuple(value(v, n) for n in names)
            return tuple(map(v.properties.get, names))  # the usual layer: no list column to encode

        modified = [v for v, op in zip(versions, ops, strict=True) if op == "modify"]
        if modified:
            sets = "".join(f', "{n}"=?' for n in names)
            if schema.spatial:
                c.executemany(
                    f'UPDATE "{schema.name}" SET geom=?{sets} WHERE feature_id=?',
                    [(gpkg_blob(v.wkb, v.bbox), *values(v), v.feature_id) for v in modified],  # type: ignore[arg-type]
                )
                c.executemany(
                    f'UPDATE "rtree_{schema.name}_geom" SET minx=?, maxx=?, miny=?, maxy=? '
                    f'WHERE id = (SELECT fid FROM "{schema.name}" WHERE feature_id=?)',
                    [
                        (v.bbox[0], v.bbox[2], v.bbox[1], v.bbox[3], v.feature_id)
                        for v in modified
                        if v.bbox is not None
                    ],
                )
            else:
                c.executemany(
                    f'UPDATE "{schema.name}" SET feature_id=feature_id{sets} WHERE feature_id=?',
                    [(*values(v), v.feature_id) for v in modified],
                )
        new = [v for v, op in zip(versions, ops, strict=True) if op == "add"]
        if not new:
            return
        cols = "".join(f', "{n}"' for n in names)
        marks = ", ?" * len(names)
        start = c.execute(f'SELECT coalesce(max(fid), 0) FROM "{schema.name}"').fetchone()[0] + 1
        seq_row = c.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (schema.name,)).fetchone()
        start = max(start, (seq_row[0] + 1) if seq_row else 1)
        if not schema.spatial:
            c.executemany(
                f'INSERT INTO "{schema.name}" (fid, feature_id{cols}) VALUES (?, ?{marks})',
                [(start + k, v.feature_id, *values(v)) for k, v in enumerate(new)],
            )
            return
        c.executemany(
            f'INSERT INTO "{schema.name}" (fid, geom, feature_id{cols}) VALUES (?, ?, ?{marks})',
            [
                (start + k, gpkg_blob(v.wkb, v.bbox), v.feature_id, *values(v))  # type: ignore[arg-type]
                for k, v in enumerate(new)
            ],
        )
        boxes.add(start, new)

    def changes_in(self, seq: int) -> list[StoredChange]:
        c = self._conn()
        names = self._names_by_lid()

        def name_of(lid: int) -> str:
            nonlocal names
            if lid not in names:  # a layer added through another handle since the list was read
                self.reload_schemas()
                names = self._names_by_lid()
            return names[lid]

        out: list[StoredChange] = []
        started: set[tuple[int, str]] = set()
        for lid, fid, op, bbox0, bbox1, bbox2, bbox3, wkb, props, gj in c.execute(
            "SELECT layer_id, feature_id, op, minx, miny, maxx, maxy, wkb, properties, geojson "
            "FROM twin_versions WHERE from_seq=?",
            (seq,),
        ):
            started.add((lid, fid))
            box = None if bbox0 is None else (bbox0, bbox1, bbox2, bbox3)
            v = EncodedFeature(name_of(lid), fid, gj, wkb, box, orjson.loads(props), props)
            out.append(StoredChange(name_of(lid), op, fid, v))
        for lid, fid in c.execute("SELECT layer_id, feature_id FROM twin_versions WHERE to_seq=?", (seq,)):
            if (lid, fid) not in started:
                out.append(StoredChange(name_of(lid), "delete", fid, None))
        for lid, op, props, gj in c.execute(
            "SELECT layer_id, op, properties, geojson FROM twin_schema_versions WHERE from_seq=?", (seq,)
        ):
            v = EncodedFeature(name_of(lid), SCHEMA_ID, gj, None, None, orjson.loads(props), props)
            out.append(StoredChange(name_of(lid), op, SCHEMA_ID, v))
        return out

    def _names_by_lid(self) -> dict[int, str]:
        if not self._layer_ids:
            self._load_schemas()
        return {lid: name for name, lid in self._layer_ids.items()}

    # ------------------------------------------------------------------ reads
    _VISIBLE = "from_seq <= ? AND (to_seq IS NULL OR to_seq > ?)"

    def feature(self, layer: str, feature_id: str, seq: int) -> bytes | None:
        row = (
            self._conn()
            .execute(
                f"SELECT geojson FROM twin_versions WHERE layer_id=? AND feature_id=? AND {self._VISIBLE}",
                (self._lid(layer), feature_id, seq, seq),
            )
            .fetchone()
        )
        return row[0] if row else None

    def features_by_id(self, layer: str, feature_ids: Sequence[str], seq: int) -> dict[str, bytes]:
        lid = self._lid(layer)
        c = self._conn()
        out: dict[str, bytes] = {}
        ids = list(feature_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for fid, gj in c.execute(
                f"SELECT feature_id, geojson FROM twin_versions WHERE layer_id=? AND feature_id IN ({marks}) "
                f"AND {self._VISIBLE}",
                (lid, *chunk, seq, seq),
            ):
                out[fid] = gj
        return out

    # ------------------------------------------------------------------ the in-memory read index
    def _read_index(self, layer: str, lid: int) -> LayerReadIndex | None:
        """The layer's read index, made on first use if it fits the budget (see LayerReadIndex for
        when it is built). None: the layer does not fit, or is too big to index for a one-shot
        command (which would pay more to build it than its reads could save)."""
        if layer in self._read_indexes:
            return self._read_indexes[layer]
        with self._read_index_lock:
            if layer in self._read_indexes:
                return self._read_indexes[layer]
            if not self._warmed and self.count(layer, self._head_seq()) > INLINE_MAX:
                # Known too big from the head's feature total, without the scan below (0.7 s at a
                # million versions, which a one-shot command's read would pay for nothing).
                self._read_indexes[layer] = None  # until warm() asks again
                self._too_big_unwarmed.add(layer)
                return None
            n, size = (
                self._conn()
                .execute(
                    "SELECT count(*), coalesce(sum(length(geojson)), 0) FROM twin_versions "
                    "WHERE layer_id = ? AND minx IS NOT NULL",
                    (lid,),
                )
                .fetchone()
            )
            if n > INLINE_MAX and not self._warmed:
                self._read_indexes[layer] = None  # until warm() asks again
                self._too_big_unwarmed.add(layer)
                return None
            used = sum(i.estimated_bytes for i in self._read_indexes.values() if i is not None)
            estimate = estimated_bytes(n, size)
            index = None
            if used + estimate <= self._read_index_budget:
                index = LayerReadIndex(
                    lid,
                    self._conn,
                    self._versions_wkb,
                    inline=n <= INLINE_MAX,
                    background=self._warmed,
                    estimated_bytes=estimate,
                    admit=lambda ix, nbytes: self._admit_read_index(layer, ix, nbytes),
                )
            self._read_indexes[layer] = index
            return index

    def _admit_read_index(self, layer: str, index: LayerReadIndex, estimate: int) -> bool:
        """Whether a (re)build of `layer`'s index that would hold `estimate` bytes fits the budget
        beside the other layers' indexes; if it does not, the layer is read by the store's query
        from then on (the layer only grows: history is append-only)."""
        with self._read_index_lock:
            if self._read_indexes.get(layer) is not index:  # dropped meanwhile (the store closed)
                return False
            used = sum(i.estimated_bytes for i in self._read_indexes.values() if i is not None and i is not index)
            if used + estimate > self._read_index_budget:
                self._read_indexes[layer] = None
                return False
            index.estimated_bytes = estimate
            return True

    def bbox_read_in_memory(self, layer: str, bbox: BBox) -> bool:
        index = self._read_indexes.get(layer)
        if index is None or not index.ready:
            return False
        return index.quick(self._head_seq(), bbox_geometry(bbox))

    def warm(self, wait: bool = False) -> None:
        """Build the read index of every spatial layer that fits the budget, beside the reads."""
        self._warmed = True
        with self._read_index_lock:
            for layer in self._too_big_unwarmed:
                self._read_indexes.pop(layer, None)
            self._too_big_unwarmed.clear()
        threads = []
        for name, schema in self.schemas().items():
            index = self._read_index(name, self._lid(name)) if schema.spatial else None
            if index is not None and not index.ready:
                threads.append(index.build_beside())
        if wait:
            for t in threads:
                t.join()

    def _versions_wkb(self, vids: Sequence[int]) -> dict[int, bytes]:
        c = self._conn()
        out: dict[int, bytes] = {}
        for i in range(0, len(vids), 500):
            chunk = vids[i : i + 500]
            out.update(
                c.execute(f"SELECT vid, wkb FROM twin_versions WHERE vid IN ({','.join('?' * len(chunk))})", chunk)
            )
        return out

    def _bbox_rows(self, lid: int, seq: int, bbox: BBox, payload: str) -> list[tuple[Any, ...]]:
        """(feature_id, *payload columns) of the versions visible at `seq` whose geometry intersects
        the closed box `bbox`, ordered by feature id: one index query.

        The R-tree stores float32 boxes rounded outwards, so its candidates are checked against
        each version's exact double bounds in the same query; only those straddling the box's
        edge bring their geometry (NULL for the rest) for an exact test here. Everything else
        (the visibility interval, the order) is done by SQLite, so Python touches each returned
        row once. The payload comes from the row the join reads anyway: no second look-up by id.
        The layer and the first visible commit are tested on the version row, not on the R-tree's
        auxiliary columns: SQLite keeps those in a shadow table, one more look-up per candidate
        (measured: about 40 % of the query).
        """
        minx, miny, maxx, maxy = bbox
        rows = (
            self._conn()
            .execute(
                # CROSS JOIN keeps the R-tree as the outer loop (SQLite does not reorder it).
                f"SELECT v.feature_id, {payload}, CASE WHEN v.minx >= :minx AND v.maxx <= :maxx AND "
                "v.miny >= :miny AND v.maxy <= :maxy THEN NULL ELSE v.wkb END "
                "FROM twin_version_rtree r CROSS JOIN twin_versions v ON v.vid = r.id "
                "WHERE r.minx <= :maxx AND r.maxx >= :minx AND r.miny <= :maxy AND r.maxy >= :miny "
                "AND v.layer_id = :lid AND v.from_seq <= :seq AND (v.to_seq IS NULL OR v.to_seq > :seq) "
                "AND v.minx <= :maxx AND v.maxx >= :minx AND v.miny <= :maxy AND v.maxy >= :miny "
                "ORDER BY v.feature_id",
                {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "lid": lid, "seq": seq},
            )
            .fetchall()
        )
        edge = [i for i, r in enumerate(rows) if r[-1] is not None]
        if not edge:
            return rows
        hit = shapely.intersects(
            shapely.from_wkb(np.array([rows[i][-1] for i in edge], dtype=object)), bbox_geometry(bbox)
        )
        missed = {i for i, h in zip(edge, hit, strict=True) if not h}
        return [r for i, r in enumerate(rows) if i not in missed] if missed else rows

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
        c = self._conn()
        if bbox is not None and not self._spatial(layer):
            raise BadInput(f"layer {layer} has no geometry, so no bbox")
        if bbox is not None:
            index = self._read_index(layer, lid) if self._read_index_budget > 0 else None
            found = index.matches(seq, bbox, bbox_geometry(bbox)) if index is not None else None
            if found is not None:
                ids, payloads = found
                start = offset + (0 if after is None else bisect.bisect_right(ids, after))
                end = None if limit is None else start + limit
                return Page(payloads[start:end], ids[start:end], len(ids))
            matches = self._bbox_rows(lid, seq, bbox, "v.geojson")
            total = len(matches)
            if after is not None:
                matches = matches[bisect.bisect_right(matches, after, key=lambda m: m[0]) :]
            end = None if limit is None else offset + limit
            page = matches[offset:end]
            return Page([m[1] for m in page], [m[0] for m in page], total)
        total = self.count(layer, seq)
        sql = f"SELECT feature_id, geojson FROM twin_versions WHERE layer_id=? AND {self._VISIBLE}"
        args: list[Any] = [lid, seq, seq]
        if after is not None:
            sql += " AND feature_id > ?"
            args.append(after)
        sql += " ORDER BY feature_id LIMIT ? OFFSET ?"
        args += [-1 if limit is None else limit, offset]
        rows = c.execute(sql, args).fetchall()
        return Page([r[1] for r in rows], [r[0] for r in rows], total)

    def count(self, layer: str, seq: int) -> int:
        self._lid(layer)
        if seq == 0:
            return 0
        row = self._conn().execute("SELECT totals FROM twin_commits WHERE seq=?", (seq,)).fetchone()
        if row is None:
            raise NotFound(f"no commit number {seq}")
        return int(orjson.loads(row[0]).get(layer, 0))

    def ids_by_value(self, layer: str, field: str, values: Sequence[Any]) -> dict[Any, str]:
        schema = self.schemas()[layer]
        if schema.field(field) is None:
            raise NotFound(f"layer {layer} has no field {field!r}")
        out: dict[Any, str] = {}
        c = self._conn()
        vals = list(values)
        for i in range(0, len(vals), 500):
            chunk = vals[i : i + 500]
            marks = ",".join("?" * len(chunk))
            # The mirror table holds the head state, with an index on the code column.
            for fid, v in c.execute(f'SELECT feature_id, "{field}" FROM "{layer}" WHERE "{field}" IN ({marks})', chunk):
                out[v] = fid
        return out

    def feature_ids(self, layer: str, seq: int) -> list[str]:
        rows = (
            self._conn()
            .execute(
                f"SELECT feature_id FROM twin_versions WHERE layer_id=? AND {self._VISIBLE} ORDER BY feature_id",
                (self._lid(layer), seq, seq),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def export_rows(self, layer: str, seq: int, bbox: BBox | None = None) -> Iterator[ExportRow]:
        lid = self._lid(layer)
        c = self._conn()
        if bbox is None:
            cur = c.execute(
                f"SELECT feature_id, wkb, properties FROM twin_versions WHERE layer_id=? AND {self._VISIBLE} "
                "ORDER BY feature_id",
                (lid, seq, seq),
            )
            for fid, wkb, props in cur:
                yield ExportRow(fid, wkb, props.encode())
            return
        for fid, wkb, props, _ in self._bbox_rows(lid, seq, bbox, "v.wkb, v.properties"):
            yield ExportRow(fid, wkb, props.encode())

    def versions_of(self, layer: str, feature_id: str) -> list[VersionRow]:
        if feature_id == SCHEMA_ID:
            got = self._conn().execute(
                "SELECT from_seq, to_seq, op, geojson FROM twin_schema_versions WHERE layer_id=? ORDER BY from_seq",
                (self._lid(layer),),
            )
            return [VersionRow(layer, SCHEMA_ID, f, t, op, gj) for f, t, op, gj in got]
        rows = (
            self._conn()
            .execute(
                "SELECT from_seq, to_seq, op, geojson FROM twin_versions WHERE layer_id=? AND feature_id=? ORDER BY from_seq",
                (self._lid(layer), feature_id),
            )
            .fetchall()
        )
        return [VersionRow(layer, feature_id, f, t, op, gj) for f, t, op, gj in rows]

    def versions_changed_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        ids = {self._lid(name): name for name in layers}
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        cur = self._conn().execute(
            "SELECT layer_id, feature_id, from_seq, to_seq, op, geojson FROM twin_versions "
            f"WHERE layer_id IN ({marks}) AND ((from_seq > ? AND from_seq <= ?) OR (to_seq > ? AND to_seq <= ?)) "
            "ORDER BY layer_id, feature_id, from_seq",
            (*ids, a, b, a, b),
        )
        for lid, fid, f, t, op, gj in cur:
            yield VersionRow(ids[lid], fid, f, t, op, gj)

    def schema_versions_between(self, a: int, b: int, layers: Sequence[str]) -> Iterator[VersionRow]:
        ids = {self._lid(name): name for name in layers}
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        cur = self._conn().execute(
            "SELECT layer_id, from_seq, to_seq, op, geojson FROM twin_schema_versions "
            f"WHERE layer_id IN ({marks}) AND ((from_seq > ? AND from_seq <= ?) OR (to_seq > ? AND to_seq <= ?)) "
            "ORDER BY layer_id, from_seq",
            (*ids, a, b, a, b),
        )
        for lid, f, t, op, gj in cur:
            yield VersionRow(ids[lid], SCHEMA_ID, f, t, op, gj)

    def extent(self, layer: str, seq: int) -> BBox | None:
        lid = self._lid(layer)
        key = (layer, seq)
        if key in self._extents:  # the extent as of a commit never changes
            return self._extents[key]
        row = (
            self._conn()
            .execute(
                f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM twin_versions WHERE layer_id=? AND {self._VISIBLE}",
                (lid, seq, seq),
            )
            .fetchone()
        )
        ext = None if row[0] is None else (row[0], row[1], row[2], row[3])
        if len(self._extents) > 4096:
            self._extents.clear()
        self._extents[key] = ext
        return ext

    # ------------------------------------------------------------------ tokens
    def _ensure_tokens(self) -> None:
        """Give a twin made before tokens lived in it the table, and import the token file that
        used to sit beside it (`<stem>.tokens.sqlite`) once, so a deployment keeps its tokens."""
        c = self._conn()
        if c.execute("SELECT 1 FROM sqlite_master WHERE name='twin_tokens'").fetchone() is None:
            try:
                c.execute(_TOKENS_DDL)
            except sqlite3.OperationalError as e:  # a read-only file: readable, with no tokens
                log.warning("%s has no token table and cannot get one (%s): no token is valid on it", self.path, e)
                self._tokens_missing = True
                return
        old = self.path.with_name(self.path.stem + ".tokens.sqlite")
        if not old.exists() or self.read_only is not None:
            return  # (read-only: imported by the first process that may write the twin)
        if c.execute("SELECT 1 FROM twin_meta WHERE key='tokens_imported'").fetchone() is not None:
            return
        with self.writing():
            if c.execute("SELECT 1 FROM twin_meta WHERE key='tokens_imported'").fetchone() is not None:
                return  # another process imported them meanwhile
            src = sqlite3.connect(f"file:{old}?mode=ro", uri=True)
            try:
                rows = src.execute("SELECT name, role, hash, created, revoked FROM tokens ORDER BY id").fetchall()
            finally:
                src.close()
            c.executemany(
                "INSERT OR IGNORE INTO twin_tokens(name, role, hash, created, revoked) VALUES (?, ?, ?, ?, ?)", rows
            )
            c.execute("INSERT INTO twin_meta VALUES ('tokens_imported', ?)", (str(old),))
        # Set aside, so a twin rebuilt here later (`init --force`) does not bring back tokens
        # that were revoked in the twin after the import.
        done = old.with_name(old.name + ".imported")
        try:
            old.rename(done)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    old.with_name(old.name + suffix).unlink()
        except OSError as e:
            done = old
            log.warning("could not rename %s after importing it (%s); delete it", old, e)
        log.warning(
            "imported %d token(s) from %s into the twin %s (tokens live in the twin now; the old file is %s)",
            len(rows),
            old,
            self.path,
            done,
        )

    def token_add(self, name: str, role: str, token_hash: str, created: str) -> int:
        self._refuse_write()
        try:
            cur = self._conn().execute(
                "INSERT INTO twin_tokens(name, role, hash, created) VALUES (?, ?, ?, ?)",
                (name, role, token_hash, created),
            )
        except sqlite3.IntegrityError:
            raise Conflict("a token with this hash exists already") from None
        assert cur.lastrowid is not None
        return cur.lastrowid

    def token_lookup(self, token_hash: str) -> tuple[str, str] | None:
        if self._tokens_missing:
            return None
        row = (
            self._conn()
            .execute("SELECT name, role FROM twin_tokens WHERE hash=? AND revoked IS NULL", (token_hash,))
            .fetchone()
        )
        return (row[0], row[1]) if row else None

    def token_revoke(self, name_or_id: str, when: str) -> int:
        self._refuse_write()
        c = self._conn()
        if name_or_id.isdigit():
            cur = c.execute("UPDATE twin_tokens SET revoked=? WHERE id=? AND revoked IS NULL", (when, int(name_or_id)))
        else:
            cur = c.execute("UPDATE twin_tokens SET revoked=? WHERE name=? AND revoked IS NULL", (when, name_or_id))
        return cur.rowcount

    def token_rows(self) -> list[tuple[int, str, str, str, str | None]]:
        if self._tokens_missing:
            return []
        return self._conn().execute("SELECT id, name, role, created, revoked FROM twin_tokens ORDER BY id").fetchall()

    def token_export(self) -> list[tuple[int, str, str, str, str, str | None]]:
        return (
            self._conn()
            .execute("SELECT id, name, role, hash, created, revoked FROM twin_tokens ORDER BY id")
            .fetchall()
        )

    # ------------------------------------------------------------------ maintenance
    def check(self) -> list[str]:
        c = self._conn()
        problems: list[str] = []
        ok = c.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            problems.append(f"SQLite quick_check: {ok}")
        # Records of non-spatial layers (no bounding box) have no index entry.
        n_versions = c.execute("SELECT count(*) FROM twin_versions WHERE minx IS NOT NULL").fetchone()[0]
        n_rtree = c.execute("SELECT count(*) FROM twin_version_rtree").fetchone()[0]
        if n_versions != n_rtree:
            problems.append(f"version index holds {n_rtree} entries for {n_versions} versions")
        stale = c.execute(
            "SELECT count(*) FROM twin_versions v JOIN twin_version_rtree r ON r.id = v.vid "
            "WHERE r.layer_id != v.layer_id OR r.from_seq != v.from_seq"
        ).fetchone()[0]
        if stale:
            problems.append(f"{stale} version index entries disagree with their versions")
        # SQLite's own walk of an R-tree's nodes (boxes hold their children, every entry on the leaf
        # its rowid names, depths agree): commits may write packed nodes directly (rtree_bulk).
        spatial = [f"rtree_{name}_geom" for name, schema in self.schemas().items() if schema.spatial]
        for tree in ["twin_version_rtree", *spatial]:
            verdict = c.execute("SELECT rtreecheck(?)", (tree,)).fetchone()[0]
            if verdict != "ok":
                problems.append(f"R-tree {tree}: {verdict.strip()}")
        current_schemas = c.execute(
            "SELECT l.name, count(s.layer_id) FROM twin_layers l LEFT JOIN twin_schema_versions s "
            "ON s.layer_id = l.layer_id AND s.to_seq IS NULL GROUP BY l.layer_id"
        ).fetchall()
        for name, n in current_schemas:
            if n != 1:
                problems.append(f"layer {name} has {n} current schema versions, not one")
        for name, schema in self.schemas().items():
            lid = self._lid(name)
            columns = [r[1] for r in c.execute(f'PRAGMA table_info("{name}")')]
            want = ["fid", *(["geom"] if schema.spatial else []), "feature_id"]
            if sorted(columns) != sorted(want + [f.name for f in schema.fields]):
                problems.append(
                    f"layer {name}: GeoPackage table columns {', '.join(columns)} do not match its schema's fields"
                )
                continue
            cols = "".join(f', "{f.name}"' for f in schema.fields)
            geom = "geom" if schema.spatial else "NULL"
            mirror = {row[0]: row[1:] for row in c.execute(f'SELECT feature_id, {geom}{cols} FROM "{name}"')}
            current = c.execute(
                "SELECT feature_id, wkb, minx, miny, maxx, maxy, properties FROM twin_versions "
                "WHERE layer_id=? AND to_seq IS NULL",
                (lid,),
            ).fetchall()
            if len(mirror) != len(current):
                problems.append(f"layer {name}: GeoPackage table has {len(mirror)} features, the twin {len(current)}")
            bad = 0
            for fid, wkb, x0, y0, x1, y1, props in current:
                m = mirror.get(fid)
                blob = gpkg_blob(wkb, (x0, y0, x1, y1)) if wkb is not None else None
                if m is None or m[0] != blob:
                    bad += 1
                    continue
                p = orjson.loads(props)
                if any(p.get(f.name) != _from_sql(f.type, v) for f, v in zip(schema.fields, m[1:], strict=True)):
                    bad += 1
            if bad:
                problems.append(f"layer {name}: {bad} features in the GeoPackage table differ from the twin")
            if schema.spatial:
                boxes = [r[2:6] for r in current if r[2] is not None]
                exact = (
                    (
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    )
                    if boxes
                    else (None, None, None, None)
                )
                got = c.execute(
                    "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name=?", (name,)
                ).fetchone()
                if tuple(got) != exact:
                    problems.append(f"layer {name}: GeoPackage extent {tuple(got)} is not the exact extent {exact}")
            n_idx = (
                c.execute(f'SELECT count(*) FROM "rtree_{name}_geom"').fetchone()[0] if schema.spatial else len(mirror)
            )
            if n_idx != len(mirror):
                problems.append(f"layer {name}: spatial index has {n_idx} entries for {len(mirror)} features")
        return problems


@dataclass
class _Boxes:
    """R-tree entries to add: gathered as rows are written, inserted at once (rtree_bulk packs
    many far faster than few at a time, so a streamed commit indexes its slices at its end)."""

    ids: list[int] = field(default_factory=list)
    boxes: list[BBox] = field(default_factory=list)

    def add(self, start: int, versions: list[EncodedFeature]) -> None:
        """The versions' boxes, the k-th as entry `start + k`; a version without a box has none."""
        for k, v in enumerate(versions):
            if v.bbox is not None:
                self.ids.append(start + k)
                self.boxes.append(v.bbox)

    def insert(self, c: sqlite3.Connection, tree: str, aux: tuple[int, ...] | None = None) -> None:
        rtree_bulk.insert(c, tree, self.ids, self.boxes, [aux] * len(self.ids) if aux else None)


@dataclass
class _Indexing:
    """What a layer's written rows still need: their R-tree entries (the versions' boxes also widen
    the layer's extent)."""

    version_boxes: _Boxes = field(default_factory=_Boxes)
    mirror_boxes: _Boxes = field(default_factory=_Boxes)


_SIGNAL_STEPS = 20_000  # SQLite steps between two chances for a signal's handler (a few ms; each costs ~0.1 µs)


def _let_signals_in() -> int:
    """SQLite's progress handler in a write: continue. Being Python, it lets a pending signal's
    handler run; one that raises (Stopped) aborts the statement."""
    return 0


_SQLITE_READONLY = 8  # SQLite's primary result code for "attempt to write a readonly database"


def _read_only_reason(path: Path) -> str | None:
    """Why this process cannot write the twin file at `path`, or None. SQLite writes the file and,
    in WAL mode, its -wal and -shm beside it, so the directory must be writable too. os.access
    answers for this process's user (root passes permission checks) and for a read-only mount
    (EROFS), without opening anything."""
    parent = path.resolve().parent
    if not _mount_writable(parent):
        return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        also = " or its directory" if not os.access(parent, os.W_OK) else ""
        return f"this user ({_user()}) cannot write the file{also}"
    if not os.access(parent, os.W_OK):
        return f"this user ({_user()}) cannot write its directory {parent}, where SQLite keeps its -wal and -shm files"
    return None


def _mount_writable(directory: Path) -> bool:
    try:
        return not os.statvfs(directory).f_flag & os.ST_RDONLY
    except OSError:
        return True


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


@contextlib.contextmanager
def _guards_lifted(c: sqlite3.Connection, layer: str, rows: int) -> Iterator[None]:
    """Inside a write transaction: the layer's guard triggers are dropped for a bulk write to its
    mirror table and made again before the transaction ends.

    Each trigger runs a subquery for every row written (0.35 s of CPU for 100,000 rows), only to
    refuse writes from outside the twin, and no one outside can write or even see this transaction
    (it holds the write lock, and SQLite's DDL is transactional): a rollback brings the triggers
    back with everything else. Python 3.11's sqlite3 cannot switch triggers off for one connection
    (`setconfig` comes with 3.12), so they are dropped. Small writes keep them (a schema change
    makes other connections read the schema again)."""
    if rows < BULK_ROWS:
        yield
        return
    names = [f"twin_guard_{layer}_{event}" for event in ("insert", "update", "delete")]
    marks = ",".join("?" * len(names))
    ddl = c.execute(f"SELECT name, sql FROM sqlite_master WHERE type='trigger' AND name IN ({marks})", names).fetchall()
    for name, _ in ddl:
        c.execute(f'DROP TRIGGER "{name}"')
    yield  # on an exception the caller rolls the transaction back, triggers and all
    for _, sql in ddl:
        c.execute(sql)


def _exact_extent(c: sqlite3.Connection, layer: str, lid: int, near: BBox | None = None) -> BBox | None:
    """The exact bounds of a layer's current features, found through its spatial index.

    The R-tree holds float32 boxes rounded outwards (an ulp is ~8e-6 degrees here), so its minimum
    is within an ulp below the true one; the exact double bounds of the few entries near each edge
    are read from their current versions.

    `near`: the extent before the commit. Each edge is then looked for in a strip along the old
    one, widened until the strip holds an entry (its extreme is then the layer's), so the R-tree
    prunes every node away from that edge: an edit commit of a 1,000,000-feature layer spent a
    quarter of its time scanning the whole index for its minimum and maximum.
    """
    rough = _rough_extent(c, layer, near)
    if rough[0] is None:
        return None
    slack = 1e-4  # well above a float32 ulp at any longitude or latitude
    exact = []
    for k, (col, cmp, agg) in enumerate(
        (("minx", "<=", "min"), ("miny", "<=", "min"), ("maxx", ">=", "max"), ("maxy", ">=", "max"))
    ):
        edge = rough[k] + slack if cmp == "<=" else rough[k] - slack
        value = c.execute(
            f'SELECT {agg}(v.{col}) FROM "rtree_{layer}_geom" r CROSS JOIN "{layer}" m ON m.fid = r.id '
            "CROSS JOIN twin_versions v INDEXED BY twin_versions_feature "
            "ON v.layer_id = ? AND v.feature_id = m.feature_id AND v.to_seq IS NULL "
            f"WHERE r.{col} {cmp} ?",
            (lid, edge),
        ).fetchone()[0]
        exact.append(value)
    return (exact[0], exact[1], exact[2], exact[3])


def _rough_extent(c: sqlite3.Connection, layer: str, near: BBox | None) -> tuple[Any, ...]:
    """min(minx), min(miny), max(maxx), max(maxy) of a layer's R-tree (see _exact_extent)."""
    table = f'"rtree_{layer}_geom"'
    if near is None:
        return tuple(c.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {table}").fetchone())
    span = max(near[2] - near[0], near[3] - near[1], 1e-9)
    rough: list[Any] = []
    for col, old, sign in (("minx", near[0], 1), ("miny", near[1], 1), ("maxx", near[2], -1), ("maxy", near[3], -1)):
        agg, cmp = ("min", "<=") if sign > 0 else ("max", ">=")
        width, value = 1e-4, None
        while value is None and width <= 2 * span:
            value = c.execute(
                f"SELECT {agg}({col}) FROM {table} WHERE {col} {cmp} ?", (old + sign * width,)
            ).fetchone()[0]
            width *= 8
        if value is None:  # nothing within the old extent: an empty layer, or a strip search that missed
            value = c.execute(f"SELECT {agg}({col}) FROM {table}").fetchone()[0]
        rough.append(value)
    return tuple(rough)


def _from_sql(field_type: str, v: Any) -> Any:
    if v is None:
        return None
    if field_type == "boolean":
        return bool(v)
    if field_type == "list":
        return orjson.loads(v)
    return v


def _identifier(c: sqlite3.Connection, s: LayerSchema) -> str:
    """The layer's title as GIS tools list it; GeoPackage wants it unique, so a title another
    layer has already is told apart by the layer's name."""
    title = f"{s.title_en} / {s.title_zh}"
    taken = c.execute("SELECT 1 FROM gpkg_contents WHERE identifier=? AND table_name != ?", (title, s.name)).fetchone()
    return f"{title} ({s.name})" if taken else title


def _layer_description(s: LayerSchema) -> str:
    text = s.description
    if s.positions_approximate:
        text = (text + " " if text else "") + (
            "Positions are approximate (about ±150 m) until a surveyed layer is imported. / "
            "位置为近似值（约±150米），待导入测绘数据后更新。"
        )
    return text
