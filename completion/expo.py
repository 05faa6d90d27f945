"""Which opening day a date is measured against: the one rule every view, the API and the CLI use.

Each project prepares for one expo: of the opening days on or after its planned start, the one
nearest its planned finish. Usually that is the first opening day on or after the finish; a project
planned to finish a little after opening day (planned late, or finishing touches) still belongs to
that opening day rather than next year's, which would otherwise put a second, phantom expo in the
register and measure every date after opening day against next year's; and a project starting
after an opening day cannot prepare for it (an early job for next year finishing in spring).

A date is measured against the first of the register's expos on or after it (the expo being
prepared for); a date after every one of them looks back on the latest (the season just ended,
read in January, keeps its opening day). VENUE_TWIN_EXPO_YEAR, if set, overrides the register;
without a register, the date's own year's opening day.

Not the year of the date asked: from 1 January that would read a season just ended against next
year's opening day (every project far from its deadline, "T-30" in the coming October).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import date

from completion.cache import Kept, RegisterState, register_state
from completion.register import Project
from completion.settings import CompletionSettings
from twin.core import TwinLike
from twin.errors import NotFound


def project_expo(project: Project, settings: CompletionSettings) -> date:
    """The opening day ``project`` prepares for (see the module docstring)."""
    return _expo(project.planned_start, project.planned_finish, settings.opening_day)


def _expo(start: date, finish: date, opening: Callable[[int], date]) -> date:
    after = opening(finish.year)
    if after < finish:
        after = opening(finish.year + 1)
    before = opening(after.year - 1)
    if before < start or (after - finish) <= (finish - before):
        return after
    return before


def register_expos(projects: Iterable[Project], settings: CompletionSettings) -> list[date]:
    """The opening days the projects prepare for, oldest first, each once."""
    # a register's projects share their planned dates, and its years are few: each worked out once
    opening = functools.cache(settings.opening_day)
    pairs = {(p.planned_start, p.planned_finish) for p in projects}
    return sorted({_expo(start, finish, opening) for start, finish in pairs})


def opening_among(expos: Sequence[date], on: date, settings: CompletionSettings) -> date:
    """The opening day ``on`` is measured against, of ``expos`` (oldest first; see the module docstring)."""
    if settings.expo_year is not None:
        return settings.opening_day(settings.expo_year)
    if not expos:
        return settings.opening_day(on.year)
    return next((o for o in expos if o >= on), expos[-1])


def opening_for(projects: Sequence[Project], on: date, settings: CompletionSettings) -> date:
    """The opening day ``on`` is measured against, for a register of ``projects``."""
    if settings.expo_year is not None:
        return settings.opening_day(settings.expo_year)
    return opening_among(register_expos(projects, settings), on, settings)


_expos = Kept(8)  # (register state's head, seq, opening month-day) -> its expos


def state_expos(state: RegisterState, settings: CompletionSettings) -> list[date]:
    """The expos of the register as of a kept state (worked out once per state)."""
    key = (state.head_id, state.seq, settings.opening_month_day)
    return _expos.made(key, lambda: register_expos(state.ordered, settings))


def opening_of(twin: TwinLike, on: date, settings: CompletionSettings) -> date:
    """The opening day ``on`` is measured against, for the register at the twin's head (the date's
    own year without a register, or one the caller may not see)."""
    if settings.expo_year is not None:
        return settings.opening_day(settings.expo_year)
    try:
        state = register_state(twin)
    except NotFound:
        return opening_among((), on, settings)
    return opening_among(state_expos(state, settings), on, settings)


__all__ = ["opening_among", "opening_for", "opening_of", "project_expo", "register_expos", "state_expos"]
