"""One error hierarchy for the whole twin.

The API maps these to HTTP status codes in one place and the CLI maps them to exit codes,
so every layer above the core raises (or lets through) exactly these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


class TwinError(Exception):
    """Base of every error the twin raises on purpose."""


class NotFound(TwinError):
    """A layer, feature, commit or timestamp that does not exist."""


class Conflict(TwinError):
    """A write built on a commit that is no longer the head, or an edit that would lose data."""


class BadInput(TwinError):
    """Input that cannot be read at all: a malformed file, an unknown CRS, a bad parameter."""


class Corrupt(TwinError):
    """The store does not agree with itself (found by fsck or while reading)."""


class ReadOnly(TwinError):
    """A write to a store this process may only read (a file or directory it cannot write, a
    read-only mount): reads work, nothing can be committed. The message names the store and why."""


class Stopped(BaseException):  # noqa: N818 - not an Exception: `except Exception` must not swallow it
    """The process was told to stop (SIGTERM from systemd or `kill`, SIGINT from Ctrl-C) while it
    worked. Raised by the command line's signal handler where the process happens to be, like
    KeyboardInterrupt: a write transaction it interrupts is rolled back (a commit is whole or absent)."""

    # The last stop raised in this process. A stop raised while SQLite writes (in the progress
    # handler of the store's write transaction) aborts the statement, and sqlite3 drops the
    # exception for its own "interrupted": the store raises this one in its place.
    last: ClassVar[Stopped | None] = None

    def __init__(self, signum: int):
        import signal

        Stopped.last = self
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {self.name} before it finished; a commit is written whole or not at all "
            "(`venue-twin log` shows whether one was)"
        )


# The code of the one problem a commit that changes nothing has (a PUT sent again is no error).
NOTHING_CHANGES = "nothing_changes"


@dataclass(frozen=True)
class Problem:
    """One reason a feature was refused; `feature_id` is None for a problem with the whole input.

    `reason` is the English sentence the API and CLI show. `code` and `args` say what it means as
    data, for whoever words it otherwise (the layer-check page, in Chinese): `code` names the kind
    of problem and `args` its parameters (the field, the value, the allowed values...), plain
    values, never words. The codes validation gives and their args are
    `twin.validation.PROBLEM_CODES`; a problem without a code (None) is known by its reason only.
    """

    layer: str
    feature_id: str | None
    reason: str
    code: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)  # a dict is not hashable

    def __str__(self) -> str:
        where = self.layer if self.feature_id is None else f"{self.layer}/{self.feature_id}"
        return f"{where}: {self.reason}"


class ValidationFailed(TwinError):
    """A commit that would break a layer's rules; carries every problem, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} problem(s): {shown}{more}")

    @property
    def nothing_changes(self) -> bool:
        """The commit's only problem is that it changes nothing: every feature is already as given
        (a PUT sent again, a file imported again): no error for whoever made it."""
        return bool(self.problems) and all(p.code == NOTHING_CHANGES for p in self.problems)
