"""Settings shared by the CLI and the service, read from the environment (prefix VENUE_TWIN_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TwinSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENUE_TWIN_", env_file=".env", extra="ignore")

    # Where the twin lives: a GeoPackage file path (or gpkg:...), or a postgresql:// URL.
    store: str = "data/venue-twin.gpkg"
    author: str | None = None  # default author of commits made from this machine
    # Survey rasters (twin.surveys): where their COG files live (default: beside a GeoPackage twin,
    # data/surveys for a database), the largest file an import accepts and the most pixels
    # (width × height) it converts: a sparse or highly compressed file can be small on disk and
    # still take hours and gigabytes to convert (twin.surveys.DEFAULT_MAX_PIXELS says why 6e9).
    survey_dir: str | None = None
    survey_max_bytes: int = 4 * 1024**3
    survey_max_pixels: int = 6_000_000_000
    # Memory a process may give the embedded store's in-memory read index (twin.stores.read_index),
    # in MiB; layers that do not fit are read by the store's query. 0 turns the index off.
    read_index_mb: int = 2048

    @field_validator("store", mode="before")
    @classmethod
    def _path_is_a_store(cls, v: Any) -> Any:
        return str(v) if isinstance(v, Path) else v


def settings() -> TwinSettings:
    return TwinSettings()
