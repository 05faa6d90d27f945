"""Stores behind the twin, chosen by the URL a twin is opened from.

A plain path, `gpkg:///abs/path.gpkg` or `gpkg:relative/path.gpkg` is the embedded GeoPackage
store; `postgresql://...` (or `postgres://...`) is the PostGIS store.
"""

from __future__ import annotations

from pathlib import Path

from twin.stores.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MIGRATE_LOCK_TIMEOUT = 10.0  # seconds `venue-twin migrate` waits for a lock others hold on the twin (PostGIS)


def is_postgres_url(url: str | Path) -> bool:
    return isinstance(url, str) and url.startswith(POSTGRES_SCHEMES)


def shown(url: str | Path) -> str:
    """A store's path or URL as messages and logs may show it: a database URL without its password."""
    if is_postgres_url(url):
        from twin.stores.postgis import display_url

        return display_url(str(url))
    return str(url)


def gpkg_path(url: str | Path) -> Path | None:
    """The file a GeoPackage URL or plain path names; None for a URL of another store."""
    if isinstance(url, Path):
        return url
    if is_postgres_url(url):
        return None
    if url.startswith("gpkg://"):
        return Path(url.removeprefix("gpkg://"))
    if url.startswith("gpkg:"):
        return Path(url.removeprefix("gpkg:"))
    return Path(url)


def open_store(url: str | Path, *, create: bool = False) -> Store:
    """The store a URL names. `create=True` allows a store that holds no twin yet (the caller
    initialises it); otherwise NotFound when there is no twin there."""
    if is_postgres_url(url):
        from twin.stores.postgis import PostGISStore

        return PostGISStore(str(url), create=create)
    from twin.stores.gpkg import GeoPackageStore

    path = gpkg_path(url)
    assert path is not None
    return GeoPackageStore(path, create=create)


def twin_exists(url: str | Path) -> bool:
    """Whether there is a twin (GeoPackage: a file) at this path or URL."""
    path = gpkg_path(url)
    if path is None:
        from twin.stores.postgis import holds_twin

        return holds_twin(str(url))
    return path.exists()


def remove_twin(url: str | Path) -> None:
    """Delete the twin at this path or URL (its file, or its tables in the database)."""
    path = gpkg_path(url)
    if path is None:
        from twin.stores.postgis import drop_twin

        drop_twin(str(url))
        return
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def migrate(url: str | Path, *, lock_timeout: float | None = None) -> list[str]:
    """Create or upgrade the store's schema to this program's format; the steps taken.
    `lock_timeout`: seconds to wait for locks other sessions hold (PostGIS; None: the default)."""
    if gpkg_path(url) is not None:
        return []  # the GeoPackage format is fixed at creation (see twin.stores.gpkg)
    from twin.stores.postgis import migrate as pg_migrate

    return pg_migrate(str(url), lock_timeout=MIGRATE_LOCK_TIMEOUT if lock_timeout is None else lock_timeout)
