"""Bearer tokens and roles.

The tokens live in the twin's store (twin/tokens.py), so every API process on one store sees the
same ones; this module turns a token into the principal a request acts as.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin import Twin
from twin.model import ROLES
from twin.tokens import TokenInfo

__all__ = ["ANONYMOUS", "ROLES", "Principal", "TokenInfo", "TokenStore"]


@dataclass(frozen=True)
class Principal:
    name: str
    role: str | None  # None: anonymous

    def at_least(self, role: str) -> bool:
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)


ANONYMOUS = Principal("anonymous", None)


class TokenStore:
    """The twin's tokens as the API uses them."""

    def __init__(self, twin: Twin):
        self._tokens = twin.tokens

    def create(self, name: str, role: str) -> str:
        return self._tokens.create(name, role)

    def verify(self, token: str) -> Principal | None:
        found = self._tokens.verify(token)
        return Principal(*found) if found else None

    def revoke(self, name_or_id: str) -> int:
        return self._tokens.revoke(name_or_id)

    def list(self) -> list[TokenInfo]:
        return self._tokens.list()
