"""Which date a completion view opens on when nobody names one.

Today is the natural answer while reports keep coming in, and it is the answer **on opening day and
after it**: what missed opening day, and what is still not done, is the standing today (a project
not reported done by a date on or after opening day has missed it, completion.forecast), which a
checkpoint before opening day cannot show (after the season the views opened on T-10, three late
projects, while twelve had missed opening day).

Before opening day it misleads in the days after a checkpoint before the next round of reports
(the plan has moved on, the reports have not, and projects read as behind only for want of a
report). There the view lands on the **latest checkpoint with data**: the latest checkpoint up to
today with at least one report dated after the checkpoint before it and on or before it (the
reports of that round) that the twin had recorded by the end of that checkpoint day — a read on a
date is the twin as it stood at the end of it, so a report dated in a round but recorded later (a
late one, imported afterwards) is not in that checkpoint's read and does not choose it: a view
chosen for its reports shows them. With no report at all it stays on today.

A checkpoint before the twin's first commit is never landed on: the twin has no data then (a read
on it is refused, twin.core.no_data). A season imported without --original-dates is recorded on
the day of the import, so its reports' checkpoints all fall before the history; the view then
opens on today, where the reports are (today always has data: no commit is recorded after now).

The season's checkpoints are those of the expo today is measured against (completion.expo: the
register's expo ahead of today, else its latest, so a season looked back on a year later keeps its
checkpoints and its opening day, and opens on today; VENUE_TWIN_EXPO_YEAR's if set), back to the
register's earliest planned start. The home page, the maps and their panel, the units and evidence
pages, the briefing, the API and the CLI all take their default date from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from completion.cache import RegisterState, register_state
from completion.expo import opening_among, state_expos
from completion.schedule import Checkpoint, checkpoint_label, checkpoints
from completion.settings import CompletionSettings
from completion.snapshot import today_local
from twin.core import TwinLike
from twin.errors import NotFound

# Why a view did not open on today (before opening day only: on it and after it a view opens on today).
NO_REPORTS_SINCE = "no_reports_since_checkpoint"

# What a view says when it did not open on today, in both languages: the pages take these through
# web.i18n, the API and the CLI give the English (`note`), so every view words it alike.
NOTE_LABELS: dict[str, dict[str, str]] = {
    "landed": {
        "zh": "显示{checkpoint}（{date}）：有填报数据的最近节点",
        "en": "Showing {checkpoint} ({date}), the latest checkpoint with reports",
    },
    # (not a landing's reason: a view of a date on or before opening day, named and read after it)
    "landed_after_opening": {"zh": "开幕日已过，今天是 {today}。", "en": "Opening day has passed; today is {today}."},
    "landed_no_reports": {
        "zh": "该节点以来尚无新的填报，今天是 {today}。",
        "en": "No report has come in since; today is {today}.",
    },
}


@dataclass(frozen=True)
class Landing:
    """The date a view opens on, and why."""

    today: date
    on: date  # the date shown
    checkpoint: str | None  # its checkpoint label (T-10) when it is one
    reason: str | None  # None when `on` is today; else NO_REPORTS_SINCE
    newest_report: date | None  # the newest report dated on or before `on` (of any project)

    @property
    def moved(self) -> bool:
        return self.on != self.today

    @property
    def why_label(self) -> str:
        """The NOTE_LABELS key of the sentence saying why the view is not on today (the one reason
        there is: no report since the checkpoint shown, before opening day)."""
        return "landed_no_reports"

    def note(self, how_to_ask_for_today: str) -> str:
        """The views' note in English (the API's and the CLI's), ending with how to ask for today's
        figures in the caller's terms (a query parameter, an option)."""
        shown = NOTE_LABELS["landed"]["en"].format(checkpoint=self.checkpoint, date=self.on.isoformat())
        why = NOTE_LABELS[self.why_label]["en"].format(today=self.today.isoformat())
        return f"{shown}. {why} ({how_to_ask_for_today} for today's figures)"


def season(state: RegisterState, settings: CompletionSettings, today: date) -> list[Checkpoint]:
    """The checkpoints of the expo ``today`` is measured against, for the register as of ``state``,
    oldest first (empty without projects)."""
    if not state.ordered:
        return []
    opening = opening_among(state_expos(state, settings), today, settings)
    return checkpoints(opening, min(p.planned_start for p in state.ordered), settings.checkpoint_days)


def season_of(
    twin: TwinLike, settings: CompletionSettings | None = None, today: date | None = None
) -> list[Checkpoint]:
    """The season's checkpoints for the register at the twin's head (empty without a register)."""
    try:
        state = register_state(twin)
    except NotFound:  # no register, or one the caller may not see
        return []
    return season(state, settings or CompletionSettings(), today or today_local())


def landing_date(twin: TwinLike, today: date | None = None, settings: CompletionSettings | None = None) -> Landing:
    """The date a completion view opens on (see the module docstring)."""
    settings = settings or CompletionSettings()
    today = today or today_local()
    try:
        state = register_state(twin)
    except NotFound:
        return Landing(today, today, None, None, None)
    cps = season(state, settings, today)
    if not cps or twin.resolve().commit is None:
        return Landing(today, today, None, None, None)
    # the reports as the twin stood at the end of today, dated up to today
    known = twin.resolve(asof=today.isoformat()).seq
    dated = sorted((r.on, r.seq) for reports in state.reports.values() for r in reports if r.seq <= known)
    dated = [(d, seq) for d, seq in dated if d <= today]
    report_days = sorted({d for d, _ in dated})
    opening = cps[-1].on

    def newest(on: date) -> date | None:
        return max((d for d in report_days if d <= on), default=None)

    if today >= opening:
        # opening day and after it: the standing today, what missed opening day and is still not done
        return Landing(today, today, checkpoint_label(opening, today, settings.checkpoint_days), None, newest(today))
    passed = [cp for cp in cps if cp.on <= today]
    if not passed or not report_days:
        return Landing(today, today, None, None, newest(today))
    last = passed[-1]
    if any(last.on < d for d in report_days):
        return Landing(today, today, checkpoint_label(opening, today, settings.checkpoint_days), None, newest(today))
    for i in range(len(passed) - 1, -1, -1):
        since = passed[i - 1].on if i else date.min
        cp = passed[i]
        round_ = [seq for d, seq in dated if since < d <= cp.on]
        if round_:
            seen = twin.resolve(asof=cp.on.isoformat()).seq
            if not seen:
                break  # before the twin's history, as every checkpoint before it: no data to show
            if not any(seq <= seen for seq in round_):
                # its reports were all recorded after the checkpoint day (late, imported since): its
                # read, the twin at the end of that day, holds none of them ("the latest checkpoint
                # with reports" showing none); an earlier round's checkpoint is tried
                continue
            reason = None if cp.on == today else NO_REPORTS_SINCE
            in_read = max((d for d, seq in dated if d <= cp.on and seq <= seen), default=None)
            return Landing(today, cp.on, cp.label, reason, in_read)
    return Landing(today, today, None, None, newest(today))


__all__ = ["NOTE_LABELS", "NO_REPORTS_SINCE", "Landing", "landing_date", "season", "season_of"]
