"""Output into a pipe whose reader goes away (`venue-twin ... | head -1`).

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError; rich's Console turns it
into ``SystemExit(1)`` and click into exit 1, which this command line documents as "the twin is
corrupt". Its consoles are ``Console`` from here, whose broken pipe raises, for cli.main to exit
with the code of the error being reported, else EXIT_BROKEN_PIPE.
"""

from __future__ import annotations

import errno
import os
import sys

from rich.console import Console as RichConsole

# 128 + SIGPIPE: the status a shell gives a program killed by a broken pipe (as `cat`, `grep` exit).
EXIT_BROKEN_PIPE = 141


class Console(RichConsole):
    """rich's Console, leaving a broken pipe to the command line (rich's own exits 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to write to a reader that has gone
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
