"""API bearer tokens, kept in the twin's store so every API process on one store sees the same ones.

Tokens are random 256-bit secrets shown once at creation; only their SHA-256 is stored. A slow
password hash is not needed: the secret has full entropy, so a fast hash cannot be brute-forced,
and checking one costs microseconds on every request. That is also why the twin file (which GIS
users read) may hold the hashes: they give nobody a token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from twin.errors import BadInput, NotFound
from twin.model import ROLES
from twin.stores.base import Store
from twin.validation import text_limits, text_why

TOKEN_PREFIX = "vt_"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created: str
    revoked: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """The tokens of one twin (`Twin.tokens`)."""

    def __init__(self, store: Store):
        self._store = store

    def create(self, name: str, role: str) -> str:
        """A new token for `name` with `role`; the secret is returned once and never stored."""
        if role not in ROLES:
            raise BadInput.not_one_of("role ", role, ROLES)
        if not name.strip():
            raise BadInput("a token needs a name (who holds it)")
        # The name is the author of its holder's commits, so it is one line an author may be (a line
        # feed and an ESC in one forged lines of `venue-twin log`).
        why = text_why("the token's name", name, False, text_limits().author, "VENUE_TWIN_AUTHOR_MAX_CHARS")
        if why is not None:
            raise BadInput(why.text)
        # Two live tokens of one name would be two holders the history cannot tell apart, and
        # `token revoke NAME` would end both.
        if any(t.name == name and t.revoked is None for t in self.list()):
            raise BadInput(f"a live token is already named {name!r}: give another name, or revoke that one first")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._store.token_add(name, role, token_hash(token), datetime.now(UTC).isoformat())
        return token

    def verify(self, token: str) -> tuple[str, str] | None:
        """(name, role) of a live token, None for an unknown or revoked one."""
        return self._store.token_lookup(token_hash(token))

    def revoke(self, name_or_id: str) -> int:
        """Revoke every live token with this name (or the one with this id); returns how many."""
        n = self._store.token_revoke(name_or_id, datetime.now(UTC).isoformat())
        if n == 0:
            raise NotFound(f"no live token named or numbered {name_or_id!r}")
        return n

    def list(self) -> list[TokenInfo]:
        return [TokenInfo(*r) for r in self._store.token_rows()]
