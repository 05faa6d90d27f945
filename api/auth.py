"""Bearer tokens and roles.

The tokens live in the twin's store (twin/tokens.py), so every API process on one store sees the
same ones; this module turns a token into the principal a request acts as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin import Twin
from twin.model import ROLES
from twin.tokens import TokenInfo

__all__ = ["ANONYMOUS", "BEARER_SCHEME", "ROLES", "Principal", "TokenInfo", "TokenStore", "with_token"]

# How the API definition (/api) describes the tokens: an HTTP bearer scheme
# (components.securitySchemes.bearer), which every write names (`with_token`). Swagger UI's
# Authorize button then sends the token; api.deps.get_principal reads it, whatever the definition says.
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token made with `venue-twin token create NAME ROLE`, sent as `Authorization: Bearer <token>`. "
    "Every write needs one, of the role the operation names (editor; admin for layer administration). Reads "
    "take one too: a restricted layer is read only with a token of a role it admits (without one it is not "
    "there), and where public reads are off every read needs one.",
}


def with_token(request_body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A write operation's `openapi_extra`: it needs a bearer token, and takes `request_body` (an
    OpenAPI requestBody) if it has one."""
    out: dict[str, Any] = {"security": [{"bearer": []}], **extra}
    if request_body is not None:
        out["requestBody"] = request_body
    return out


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
