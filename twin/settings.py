"""Settings shared by the CLI and the service, read from the environment (prefix VENUE_TWIN_).

Every settings class of the project derives from `VenueSettings`, which turns pydantic's
ValidationError into a `SettingsError` naming the environment variable and what it takes
(`VENUE_TWIN_EVIDENCE_MARGIN='abc': takes a number`): the CLI exits 2 with it, and `venue-twin
serve` loads every settings class before it starts (api.settings.check_settings), so a bad value
stops the server at startup rather than answering 500 on the pages that read it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twin.errors import BadInput

ENV_PREFIX = "VENUE_TWIN_"
SURVEY_DIR_VAR = "VENUE_TWIN_SURVEY_DIR"


class SettingsError(BadInput):
    """A setting from the environment (or .env) that cannot be used; the message names the variable."""


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


_OUT_OF_RANGE = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _takes(cls: type[BaseSettings], name: str) -> str | None:
    """The range a numeric setting takes, from its Field bounds ("takes a whole number from 1 to
    65535"), so that a value out of it is refused naming the whole range, not only the bound it
    crossed; None for a field without bounds."""
    field = cls.model_fields[name]
    bounds = {
        k: getattr(b, k) for b in field.metadata for k in ("ge", "gt", "le", "lt") if getattr(b, k, None) is not None
    }
    if not bounds:
        return None
    kind = "a whole number" if field.annotation in (int, int | None) else "a number"
    n = {k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in bounds.items()}
    if "ge" in n and "le" in n:
        return f"takes {kind} from {n['ge']} to {n['le']}"
    low = f"of at least {n['ge']}" if "ge" in n else f"above {n['gt']}" if "gt" in n else ""
    high = f"at most {n['le']}" if "le" in n else f"below {n['lt']}" if "lt" in n else ""
    return f"takes {kind} " + " and ".join(part for part in (low, high) if part)


def _said(cls: type[BaseSettings], e: ValidationError) -> str:
    """One line per problem, each naming the variable, the value given and what it takes."""
    fields = sorted(cls.model_fields, key=len, reverse=True)  # longest first: at_risk_days before days
    lines = []
    for err in e.errors(include_url=False):
        msg = re.sub(r"^(Value error|Assertion failed), ", "", str(err.get("msg", "")))
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in cls.model_fields and err.get("type") in _OUT_OF_RANGE:
            msg = _takes(cls, loc[0]) or msg
        if loc and loc[0] in cls.model_fields:
            lines.append(f"{_env(loc[0])}={err.get('input')!r}: {msg[:1].lower()}{msg[1:]}")
        else:  # a rule over several fields (a model validator): its message names them
            for name in fields:
                msg = re.sub(rf"\b{name}\b", _env(name), msg)
            lines.append(msg)
    return "; ".join(lines)


class VenueSettings(BaseSettings):
    """The base of every settings class: VENUE_TWIN_ prefix, .env read, errors said by variable."""

    # No setting takes an infinite or NaN number: `nan` passed every "not below 0" check (a NaN
    # compares false with everything) and `inf` for a size or a span of days is no value to work with.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", allow_inf_nan=False)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise SettingsError(f"bad setting: {_said(type(self), e)}") from None


def is_database(store: str | Path) -> bool:
    return isinstance(store, str) and store.startswith(("postgresql://", "postgres://", "postgresql+"))


def survey_dir_problem(store: str | Path, survey_dir: str | None) -> str | None:
    """Why the survey directory cannot serve a database twin, or None when it can.

    A database twin is reached from any directory and any machine, so its survey files must be in
    one place every process names the same way: an absolute VENUE_TWIN_SURVEY_DIR (a shared
    mount when the processes run on several machines). A relative one, or the old default
    `data/surveys`, is a different directory for every working directory: a second server started
    elsewhere answered every survey as missing, and an import run elsewhere wrote its file where no
    server looks. A GeoPackage twin keeps its default, the directory beside its file."""
    if not is_database(store):
        return None
    if not survey_dir:
        return (
            f"{SURVEY_DIR_VAR} is not set: a PostgreSQL twin's survey files live in the directory it "
            "names, which must be an absolute path every API process and every command line shares "
            "(a shared mount across machines)"
        )
    if not Path(survey_dir).expanduser().is_absolute():
        return (
            f"{SURVEY_DIR_VAR}={survey_dir!r} is relative, so each process would look for the survey "
            "files under its own working directory; give an absolute path every process shares"
        )
    return None


class TwinSettings(VenueSettings):
    # Where the twin lives: a GeoPackage file path (or gpkg:...), or a postgresql:// URL.
    store: str = "data/venue-twin.gpkg"
    author: str | None = None  # default author of commits made from this machine
    # Survey rasters (twin.surveys): where their COG files live (default: beside a GeoPackage twin;
    # a database twin needs an absolute path, see survey_dir_problem), the largest file an import
    # accepts and the most pixels (width × height) it converts: a sparse or highly compressed file
    # can be small on disk and still take hours and gigabytes to convert (twin.surveys.DEFAULT_MAX_PIXELS
    # says why 6e9).
    survey_dir: str | None = None
    survey_max_bytes: int = Field(default=4 * 1024**3, ge=1)
    survey_max_pixels: int = Field(default=6_000_000_000, ge=1)
    # Memory a process may give the embedded store's in-memory read index (twin.stores.read_index),
    # in MiB; layers that do not fit are read by the store's query. 0 turns the index off.
    read_index_mb: int = Field(default=2048, ge=0)
    # The encoded tiles of committed versions a process keeps (twin.tiles.TileCache), in MB (1e6
    # bytes; 0.5 is half a megabyte). 0 turns the cache off; a negative size was taken as 0, silently.
    tile_cache_mb: float = Field(default=64.0, ge=0)
    # The longest text a commit takes, in characters (twin.validation.text_limits; refused naming
    # the field, its length and the variable): a text property's value (a 15 MB note made every
    # page that shows the feature 15 MB), a commit message (the log prints it whole) and an
    # author (every log line and history names it). The floors keep the twin's own words inside:
    # its default messages ("Create layer ...", a progress report's) and names.
    text_max_chars: int = Field(default=10_000, ge=100, le=10_000_000)
    message_max_chars: int = Field(default=2_000, ge=200, le=1_000_000)
    author_max_chars: int = Field(default=200, ge=40, le=10_000)
    # A workbook imported (an upload, a file on the command line) is a zip whose members can unpack
    # to a thousand times their size: the most they may unpack to, in MB, checked before anything
    # parses them (a 1.5 MB upload unpacking to 1.5 GB took minutes and gigabytes to refuse).
    workbook_max_mb: int = Field(default=200, ge=1)
    # The same for a zipped Shapefile imported, before GDAL reads it: the format keeps .shp and
    # .dbf under 2 GB each (GDAL 4 GB), so a real layer fits the default.
    shapefile_zip_max_mb: int = Field(default=8192, ge=1)
    # A big commit (an import of many features) encodes its new features in a second process
    # while this one writes the ones before (twin.encode_worker): 1 uses it where the machine has
    # a second CPU for it, 0 (false) encodes in this process.
    encode_worker: bool = True

    @field_validator("store", mode="before")
    @classmethod
    def _path_is_a_store(cls, v: Any) -> Any:
        return str(v) if isinstance(v, Path) else v

    @model_validator(mode="after")
    def _relative_survey_dir(self) -> TwinSettings:
        # Only a directory given and relative is refused here: an unset one is refused where a
        # database twin's survey files are read or written (database_survey_dir), so a PostGIS twin
        # without surveys needs no survey directory.
        if self.survey_dir and is_database(self.store):
            problem = survey_dir_problem(self.store, self.survey_dir)
            if problem:
                raise ValueError(problem)
        return self


def settings() -> TwinSettings:
    return TwinSettings()


def database_survey_dir(store: str | Path) -> Path:
    """The survey directory of a database twin at ``store``: VENUE_TWIN_SURVEY_DIR, absolute;
    SettingsError naming the variable otherwise (twin.surveys.survey_directory's rule for a
    database store)."""
    configured = settings().survey_dir
    problem = survey_dir_problem(store, configured)
    if problem:
        raise SettingsError(problem)
    assert configured is not None
    return Path(configured).expanduser()
