"""How long the tests wait for a condition before calling it stuck.

Tests wait for conditions (a server answering, a map going idle, a popup's content), never for a
fixed time; these deadlines only end a wait when something is truly stuck, so they are generous
enough for a busy 2-core CI machine running two suites at once. TEST_TIMEOUT_SCALE multiplies all
of them (e.g. 3 on a very slow machine, 0.2 to find a hang quickly).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE") or 1)


def seconds(s: float) -> float:
    return s * SCALE


SERVER_START = seconds(120)  # a uvicorn subprocess importing the app and opening the twin
HTTP = seconds(60)  # one request to a live server (a write fsyncs; the machine may be busy)
SUBPROCESS = seconds(300)  # a child process: ogrinfo / ogr2ogr paging through a layer, a reader process
STOP = seconds(30)  # a terminated server to exit
THREAD = seconds(120)  # a worker thread of a concurrency test to finish
BROWSER_MS = seconds(90) * 1000  # one playwright action or wait (navigation, idle map, popup)


def join_all(threads: Iterable[threading.Thread]) -> None:
    """Join `threads`; one still running after THREAD seconds is a failure, not a silent pass."""
    for th in threads:
        th.join(THREAD)
        assert not th.is_alive(), f"{th.name} did not finish within {THREAD:.0f} s"


def wait_until(condition: Callable[[], object], what: str, timeout: float = THREAD) -> None:
    """Poll `condition` until it holds; still false after `timeout` seconds is a failure naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not so within {timeout:.0f} s"
        time.sleep(0.01)
