"""How long the tests wait for a condition before calling it stuck.

Tests wait for conditions (a server answering, a map going idle, a popup's content), never for a
fixed time; these deadlines only end a wait when something is truly stuck, so they are generous
enough for a busy 2-core CI machine running two suites at once. TEST_TIMEOUT_SCALE multiplies all
of them (e.g. 3 on a very slow machine, 0.2 to find a hang quickly).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

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
