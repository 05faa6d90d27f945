"""Completion settings, from the environment with the VENUE_TWIN_ prefix.

- VENUE_TWIN_OPENING_MONTH_DAY: opening day of every expo, "MM-DD" (default "11-05": the CIIE
  opens on 5 November).
- VENUE_TWIN_EXPO_YEAR: the expo year to schedule every date against; by default the expo the
  register prepares for that the date leads up to, else the latest one (completion.expo).
- VENUE_TWIN_CHECKPOINT_DAYS: days between back-scheduled checkpoints (default 10: T-0, T-10, ...).
- VENUE_TWIN_AT_RISK_DAYS, VENUE_TWIN_BEHIND_DAYS: schedule-variance thresholds in days (defaults
  3 and 10): a project more than 3 days behind its plan is at risk, more than 10 days behind.
- VENUE_TWIN_FORECAST_SPAN_DAYS: the forecast's rate is measured over at least this many days
  back from the latest report (default 20; see `completion.status.single_rate_forecast`, the
  former forecaster, kept as the forecasting benchmark's baseline).
- VENUE_TWIN_LATE_PROBABILITY_THRESHOLD: the leaders' flag is raised on a project whose
  probability of missing opening day is above this (default 0.4: the threshold at which the flagged
  list is about as long as the number of projects that really finish late, on the calibration seeds
  100-159 of bench/forecast_bench.py, default and harder season together — so the list finds about
  as many of the late projects as it has flags right; 0.5 gives a shorter list, two flags in three
  right, finding fewer).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator, model_validator

from twin.settings import VenueSettings


class CompletionSettings(VenueSettings):
    opening_month_day: str = "11-05"
    # A year that is a date's (VENUE_TWIN_EXPO_YEAR=0 or 20226 failed every page that measures against
    # the opening), and checkpoints a date can be counted back to (10**9 days overflowed the calendar).
    expo_year: int | None = Field(default=None, ge=1900, le=2200)
    checkpoint_days: int = Field(default=10, ge=1, le=3650)
    at_risk_days: float = 3.0
    behind_days: float = 10.0
    forecast_span_days: int = 20
    late_probability_threshold: float = 0.4

    @field_validator("opening_month_day")
    @classmethod
    def _month_day(cls, v: str) -> str:
        try:
            month, day = (int(x) for x in v.strip().split("-"))
            date(2028, month, day)  # a leap year, so 02-29 is accepted
        except ValueError:
            raise ValueError(f"opening_month_day {v!r} is not MM-DD, e.g. 11-05") from None
        return f"{month:02d}-{day:02d}"

    @model_validator(mode="after")
    def _consistent(self) -> CompletionSettings:
        if self.checkpoint_days < 1:
            raise ValueError("checkpoint_days must be at least 1")
        if self.forecast_span_days < 1:
            raise ValueError("forecast_span_days must be at least 1")
        if not 0.0 < self.late_probability_threshold < 1.0:
            raise ValueError("late_probability_threshold must be between 0 and 1 (exclusive)")
        if not 0 <= self.at_risk_days <= self.behind_days:
            raise ValueError("thresholds must satisfy 0 <= at_risk_days <= behind_days")
        return self

    def opening_day(self, year: int) -> date:
        """Opening day of the expo of `year` (5 November unless configured otherwise)."""
        month, day = (int(x) for x in self.opening_month_day.split("-"))
        try:
            return date(year, month, day)
        except ValueError:  # 02-29 in a common year
            return date(year, month, day - 1)


def completion_settings() -> CompletionSettings:
    return CompletionSettings()
