"""Output into a pipe whose reader goes away (`venue-twin ... | head -1`).

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError; rich's Console turns it
into ``SystemExit(1)`` and click into exit 1, which this command line documents as "the twin is
corrupt". Its consoles are ``Console`` from here, whose broken pipe raises, for cli.main to exit
with the code of the error being reported, else EXIT_BROKEN_PIPE.

A single write of more than the pipe holds (64 kB: a diff, a table of thousands of rows) is the
other way to lose the exit code: when the reader goes part way, write(2) returns how much it took
and Python's buffered stdout hands that short count back without an error (a text stream does not
even look at it), so the rest was dropped and the command exited 0. `write_whole` writes again
until all is taken, which raises BrokenPipeError once the reader has gone; `Console` writes so.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import IO, Any

from rich.console import Console as RichConsole

# 128 + SIGPIPE: the status a shell gives a program killed by a broken pipe (as `cat`, `grep` exit).
EXIT_BROKEN_PIPE = 141


def write_whole(data: str | bytes, stream: IO[str] | None = None) -> None:
    """Write all of `data` to `stream` (standard output by default), writing again after a short
    write; BrokenPipeError when the reader has gone before taking it all."""
    stream = stream if stream is not None else sys.stdout
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a stream without bytes beneath (a test's StringIO): it takes whole writes
        stream.write(data if isinstance(data, str) else data.decode())
        return
    if isinstance(data, str):
        data = data.encode(getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict")
    stream.flush()  # what the text layer holds goes first
    view = memoryview(data)
    while view:
        n = binary.write(view)
        if not n:  # nothing taken from a blocking write: no reader to wait for
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
        view = view[n:]
    binary.flush()


def said(text: str, multiline: bool = False) -> str:
    """Stored text as a console prints it: its markup escaped (rich's `escape`) and its control
    characters written as visible escapes (twin.validation.visible): text stored before the twin
    refused them printed a raw ESC (a terminal's escape sequence) into `venue-twin log`.
    `multiline`: line breaks and tabs print as such (inside a table's cell, where they cannot
    pass for lines of their own)."""
    from rich.markup import escape

    from twin.validation import visible

    return escape(visible(text, multiline))


class _WholeWrites:
    """A console's stream, its writes by `write_whole`; anything else asked of it is the stream's."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        write_whole(text, self._stream)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Console(RichConsole):
    """rich's Console, leaving a broken pipe to the command line (rich's own exits 1), and never
    dropping the end of a big print silently (`write_whole`)."""

    @property  # type: ignore[override]
    def file(self) -> IO[str]:
        return _WholeWrites(RichConsole.file.fget(self))  # type: ignore[attr-defined, return-value]

    @file.setter
    def file(self, new_file: IO[str]) -> None:
        RichConsole.file.fset(self, new_file)  # type: ignore[attr-defined]

    def on_broken_pipe(self) -> None:
        _raise(self)


def help_raises_broken_pipe() -> None:
    """typer prints `--help` and usage errors through rich consoles of its own, whose broken pipe
    exits 1 (rich's `on_broken_pipe`), not through `Console` above. Its help console (stdout) raises
    BrokenPipeError as ours does, for the command line to exit EXIT_BROKEN_PIPE; its error console
    (stderr) prints inside click's handling of a usage error, where a raise would end in a traceback,
    so it goes quiet instead and the error's own code (2) stands."""
    try:
        from typer import rich_utils
    except ImportError:  # typer without rich: click's plain help, whose broken pipe click reports
        return
    made = getattr(rich_utils, "_get_rich_console", None)
    if made is None or getattr(made, "_raises_broken_pipe", False):
        return

    @functools.wraps(made)
    def console(stderr: bool = False) -> RichConsole:
        c: RichConsole = made(stderr)
        c.on_broken_pipe = functools.partial(_quiet if stderr else _raise, c)  # type: ignore[method-assign]
        return c

    console._raises_broken_pipe = True  # type: ignore[attr-defined]
    rich_utils._get_rich_console = console


def _quiet(console: RichConsole) -> None:
    console.quiet = True
    pipe_closed()


def _raise(console: RichConsole) -> None:
    console.quiet = True  # nothing more to write to a reader that has gone
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def pipe_closed() -> None:
    """After a broken pipe, point stdout and stderr at /dev/null (the recipe of Python's docs on
    SIGPIPE), so that what is still buffered is not written to the closed pipe again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # a stream with no file descriptor (a test's capture)
                continue
    finally:
        os.close(devnull)
