"""Service settings, from the environment with the VENUE_TWIN_ prefix (e.g. VENUE_TWIN_PORT=8080)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from twin.settings import TwinSettings


class ApiSettings(TwinSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)  # 0 is no "any free port" here: `serve` says the port it listens on
    # One line per request on stderr (uvicorn's access log), for whoever runs the service: off for a
    # benchmark's server, which measures the service and not its log (VENUE_TWIN_ACCESS_LOG=false).
    access_log: bool = True
    public_reads: bool = True  # False: every read needs a token (viewer or above)
    # The largest request body (413 above it); 0 or less refused every write ("over the limit of -1 bytes").
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # Seconds a client may take to send a request head (api/server.py), and may stall mid-body (api/limits.py):
    # finite, or a stalled client would hold its connection for ever (what the timeouts are for).
    header_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    body_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    # Features on a page without `limit`, and the most on one (at most max_limit: checked below).
    default_limit: int = Field(default=10, ge=1)
    max_limit: int = Field(default=10_000, ge=1)
    # What one CQL2 filter may ask for (400 naming the limit above them): its text in characters, and
    # the vertices of its geometry literals. A spatial test costs features x literal vertices; and a
    # filter travels in a URL (a search's 303 too), which the server refuses beyond about 64 KB.
    filter_max_chars: int = Field(default=20_000, ge=100)
    filter_max_vertices: int = Field(default=5_000, ge=4)
    title: str = "National Exhibition and Convention Center (Shanghai) — venue twin"
    # The path a reverse proxy serves the twin under (/twin for https://city.example/twin/), the proxy
    # stripping it from each request: every link, page, asset and tile URL starts with it.
    root_path: str = ""
    # Web pages of other origins that may call the API from a browser (CORS): "*" (the default: reads
    # are public and writes take a bearer token, never a cookie, so another page gains nothing a
    # script of its own could not), a comma-separated list of origins, or "" for none.
    cors_origins: str = "*"
    # The host names the service answers to (the request's Host): "*" (the default) any; else a
    # comma-separated list, wildcards as *.example.com, and any other Host is a 400. Links in the
    # answers (JSON, pages, a search's 303) are made from the request's Host, so behind a cache or a
    # proxy that passes any Host on, a forged one could be stored in an answer others are served.
    allowed_hosts: str = "*"

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, v: Any) -> Any:
        if v and not str(v).startswith("/"):
            raise ValueError("takes a path that starts with /, such as /twin")
        return str(v).rstrip("/")

    @model_validator(mode="after")
    def _default_within_max(self) -> ApiSettings:
        # A default above the maximum was served as the maximum while /api advertised the default
        # beyond its own maximum: both given so is refused (named by field: VenueSettings says them
        # as their variables); a maximum alone below the built-in default of 10 is that default.
        if self.default_limit > self.max_limit:
            if "default_limit" not in self.model_fields_set:
                self.default_limit = self.max_limit
                return self
            raise ValueError(
                f"default_limit ({self.default_limit}) is above max_limit ({self.max_limit}): "
                "a page holds at most the maximum, so its default cannot be more"
            )
        return self


def check_settings() -> ApiSettings:
    """Load every settings class the service reads, so that a bad value stops `venue-twin serve`
    at startup (SettingsError naming the variable) instead of answering 500 on the first page
    that reads it (VENUE_TWIN_EVIDENCE_MIN_COVERAGE=50 broke /evidence, /completion and the maps)."""
    from completion.evidence import EvidenceSettings
    from completion.settings import CompletionSettings
    from web.settings import MapSettings

    CompletionSettings()
    EvidenceSettings()
    MapSettings()
    return ApiSettings()
