"""How a percent is rounded wherever a reader sees it: never to an end it has not reached.

Below 100 a figure is never 100 (a project 99.8 % done is not done), above 0 never 0 (a start is
not nothing). The JSON, the downloads, the pages, the briefing and the page script all round this
way, so a figure reads the same everywhere (web.i18n formats it; VT.pct is the same rule in
JavaScript).
"""

from __future__ import annotations

import math


def percent_round(percent: float, digits: int = 0) -> float:
    """A percent rounded half up to ``digits`` places, kept off the ends it has not reached (99.8 ->
    99, 0.2 -> 1 with no places)."""
    return keep_ends(math.floor(percent * 10.0**digits + 0.5) / 10.0**digits, percent, digits)


def keep_ends(shown: float, percent: float, digits: int) -> float:
    """``shown``, ``percent`` rounded to ``digits`` places by any rule, kept off the ends ``percent``
    has not reached: 100 for one below it is the largest figure below 100 (99, 99.9, 99.99), 0 for
    one above it the smallest above 0."""
    step = 10.0**-digits
    if shown >= 100.0 and percent < 100.0 - _NOISE:
        return round(100.0 - step, digits)
    if shown <= 0.0 and percent > _NOISE:
        return round(step, digits)
    return shown


# A weighted sum of figures that are all 100 (or 0) can land a rounding error away from it
# (99.99999999999999): that is the end reached, not a figure short of it.
_NOISE = 1e-9


def json_percent(percent: float | None) -> float | None:
    """A percent as the JSON and the downloads give it: two places, kept off the ends (99.996 ->
    99.99, not 100.0)."""
    return None if percent is None else keep_ends(round(percent, 2), percent, 2)
