"""Bearer tokens and roles.

Tokens are random 256-bit secrets shown once at creation; only their SHA-256 is stored. A slow
password hash is not needed: the secret has full entropy, so a fast hash cannot be brute-forced,
and checking one costs microseconds on every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from twin.errors import BadInput, NotFound
from twin.model import ROLES

__all__ = ["ANONYMOUS", "ROLES", "Principal", "TokenInfo", "TokenStore"]
TOKEN_PREFIX = "vt_"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str | None  # None: anonymous

    def at_least(self, role: str) -> bool:
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)


ANONYMOUS = Principal("anonymous", None)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created: str
    revoked: str | None


class TokenStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it (its -wal and -shm files take the database's mode):
        # the hashes are not the tokens, but the names and roles are nobody else's business.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._local = threading.local()
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
                "hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL, revoked TEXT)"
            )

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            c.execute("PRAGMA journal_mode=WAL")
            self._local.conn = c
        return c

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(self, name: str, role: str) -> str:
        if role not in ROLES:
            raise BadInput(f"role {role!r} is not one of {', '.join(ROLES)}")
        if not name.strip():
            raise BadInput("a token needs a name (who holds it)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._conn() as c:
            c.execute(
                "INSERT INTO tokens(name, role, hash, created) VALUES (?, ?, ?, ?)",
                (name, role, self._hash(token), datetime.now(UTC).isoformat()),
            )
        return token

    def verify(self, token: str) -> Principal | None:
        row = (
            self._conn()
            .execute("SELECT name, role FROM tokens WHERE hash=? AND revoked IS NULL", (self._hash(token),))
            .fetchone()
        )
        return Principal(row[0], row[1]) if row else None

    def revoke(self, name_or_id: str) -> int:
        """Revoke every live token with this name (or the one with this id); returns how many."""
        now = datetime.now(UTC).isoformat()
        with self._conn() as c:
            if name_or_id.isdigit():
                cur = c.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL", (now, int(name_or_id)))
            else:
                cur = c.execute("UPDATE tokens SET revoked=? WHERE name=? AND revoked IS NULL", (now, name_or_id))
        if cur.rowcount == 0:
            raise NotFound(f"no live token named or numbered {name_or_id!r}")
        return cur.rowcount

    def list(self) -> list[TokenInfo]:
        rows = self._conn().execute("SELECT id, name, role, created, revoked FROM tokens ORDER BY id").fetchall()
        return [TokenInfo(*r) for r in rows]
