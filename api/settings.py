"""Service settings, from the environment with the VENUE_TWIN_ prefix (e.g. VENUE_TWIN_PORT=8080)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from twin.settings import TwinSettings


class ApiSettings(TwinSettings):
    host: str = "127.0.0.1"
    port: int = 8000
    public_reads: bool = True  # False: every read needs a token (viewer or above)
    max_body_bytes: int = 20 * 1024 * 1024
    # Seconds a client may take to send a request head (api/server.py), and may stall mid-body (api/limits.py).
    header_timeout: float = Field(default=30.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    default_limit: int = 10
    max_limit: int = 10_000
    tokens: Path | None = None  # the token database; default: beside the store
    title: str = "National Exhibition and Convention Center (Shanghai) — venue twin"

    def tokens_path(self) -> Path:
        if self.tokens:
            return self.tokens
        if self.store.startswith(("postgresql://", "postgres://")):  # until tokens live in the store
            return Path("venue-twin.tokens.sqlite")
        store = Path(self.store.removeprefix("gpkg://").removeprefix("gpkg:"))
        return store.with_name(store.stem + ".tokens.sqlite")
