"""One error hierarchy for the whole twin.

The API maps these to HTTP status codes in one place and the CLI maps them to exit codes,
so every layer above the core raises (or lets through) exactly these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

# What an error is, as data: its code, one of these, and the values it names, by these names. The
# message stays the English sentence the API's detail and the CLI show; whoever words the error
# otherwise (the error pages, in Chinese: web.error_page) reads the code and values, never the
# sentence, which may be reworded. An error without a code (None) is known by its message only.
# Values are plain text, as the sentence says them (`allowed`: "json, html").
ERROR_CODES: dict[str, tuple[str, ...]] = {
    "date_after_today": ("date", "today"),  # a date the twin has no reports from yet
    "no_data_then": ("when", "since"),  # a time before the twin's history (no_data)
    "not_a_date": ("value",),  # not YYYY-MM-DD nor a checkpoint (T-30)
    "not_a_time": ("value",),  # not an RFC 3339 timestamp nor a date
    "unknown_parameter": ("parameter", "takes"),  # a query parameter the endpoint does not take
    "unknown_parameter_none": ("parameter",),  # ... of an endpoint that takes none
    "not_one_of": ("value", "allowed"),  # a value not among those allowed
    "no_layer": ("layer",),
    "no_collection": ("collection",),
    "no_feature": ("feature", "layer"),  # a feature id not in the layer as of the version read
    "no_project": ("code", "date"),  # a project code not in the register as of the date
    "no_address": ("path",),  # an address no route answers
    "repeated_parameter": ("parameter", "times"),  # a query parameter given more than once
    "not_a_boolean": ("parameter", "value"),  # a yes/no parameter given something else
    "before_first_commit": ("version",),  # HEAD~n reaching back past the first commit
    "no_survey": ("value",),  # a survey a map was asked to draw that the reader has no such survey
}


def coded(code: str | None, values: Mapping[str, Any] | None) -> tuple[str | None, dict[str, str]]:
    """``code`` and ``values`` checked against ERROR_CODES (a code not there, or values other than
    those it names, is a mistake of the raiser: ValueError), the values as text."""
    if code is None:
        if values:
            raise ValueError(f"error values without a code: {dict(values)!r}")
        return None, {}
    names = ERROR_CODES.get(code)
    if names is None:
        raise ValueError(f"error code {code!r} is not one of {', '.join(ERROR_CODES)}")
    given = dict(values or {})
    if set(given) != set(names):
        raise ValueError(f"error code {code!r} takes the values {', '.join(names)}, given {', '.join(given)}")
    return code, {k: str(v) for k, v in given.items()}


def not_one_of_fields(subject: str, value: Any, allowed: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """A value not among those allowed, as its English sentence ("f='xml' is not one of json, html",
    ``subject`` being "f=") and its code's values: one place, so the two never say different things."""
    listed = ", ".join(allowed)
    return f"{subject}{value!r} is not one of {listed}", {"value": value, "allowed": listed}


class TwinError(Exception):
    """Base of every error the twin raises on purpose. ``code`` and ``values`` say what it is as
    data (ERROR_CODES), where its kind is one a reader meets; the message says it in English."""

    code: str | None = None
    values: dict[str, str]

    def __init__(self, *args: object, code: str | None = None, values: Mapping[str, Any] | None = None):
        super().__init__(*args)
        self.code, self.values = coded(code, values)

    @classmethod
    def not_one_of(cls, subject: str, value: Any, allowed: Iterable[str]) -> Self:
        """The error of a value not among those allowed (`not_one_of_fields`), code not_one_of."""
        text, values = not_one_of_fields(subject, value, allowed)
        return cls(text, code="not_one_of", values=values)


class NotFound(TwinError):
    """A layer, feature, commit or timestamp that does not exist."""


class Conflict(TwinError):
    """A write built on a commit that is no longer the head, or an edit that would lose data."""


class BadInput(TwinError):
    """Input that cannot be read at all: a malformed file, an unknown CRS, a bad parameter."""


class TooLarge(BadInput):
    """Input over one of the twin's size limits, such as a zip whose members would unpack to more
    than its setting allows: the API answers 413, the CLI exits 2 as for any bad input. The
    message names the limit and the setting that sets it."""


class Corrupt(TwinError):
    """The store does not agree with itself (found by fsck or while reading)."""


class ReadOnly(TwinError):
    """A write to a store this process may only read (a file or directory it cannot write, a
    read-only mount): reads work, nothing can be committed. The message names the store and why."""


class StoreUnavailable(TwinError):
    """The store cannot be reached or read just now: its database does not answer (down, unreachable,
    every connection busy), or the twin's schema or tables are gone from it. Not the caller's fault
    and not the twin's data: the API answers 503, the CLI exits 2; the message names the database and why."""


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
