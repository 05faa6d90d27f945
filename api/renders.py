"""How many expensive renders a process takes on at once: the briefing (/brief), drawn with matplotlib
in 7–15 s of CPU per new date, language or format, and open to every reader.

One page is drawn at a time (matplotlib's state is process-wide, and the CPU is the service's), a
few more wait their turn, and beyond them a request is refused at once with 503 and Retry-After
(RFC 9110 15.6.4) rather than queued. Why not queue them all: each waiting request holds one of the
server's worker threads (the thread pool every sync route runs in), so an unbounded queue let anyone
asking for date after date take those threads from every other route, and made the last in line
wait minutes, past any client's timeout, for a page nobody would read. A short queue with load
shedding is what proxies and load balancers do (nginx's limit_req burst, Envoy's pending-request
overflow) and what HTTP clients retry on. A page already drawn is served without a turn (web.brief
keeps the last ones), and one drawn while a request waited is not drawn again (render_brief looks
again once its turn comes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from api.errors import Unavailable

# One render's worst time on the production machine: when a place in the queue is free again.
BRIEF_RETRY_AFTER = 15


class RenderQueue:
    """At most `running` renders at a time and `waiting` more waiting their turn; any more: Unavailable.

    ``with queue.turn(): ...`` waits for the caller's turn, or raises Unavailable (503, Retry-After)
    at once when the queue is full. Thread-safe: sync routes run in a thread pool."""

    def __init__(self, running: int = 1, waiting: int = 3, retry_after: int = BRIEF_RETRY_AFTER):
        if running < 1 or waiting < 0:
            raise ValueError("a render queue needs a running place and no negative waiting room")
        self.running = running
        self.waiting = waiting
        self.retry_after = retry_after
        self._turns = threading.Semaphore(running)
        self._lock = threading.Lock()
        self._admitted = 0  # running and waiting

    @property
    def admitted(self) -> int:
        """The requests running or waiting now."""
        with self._lock:
            return self._admitted

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._lock:
            if self._admitted >= self.running + self.waiting:
                raise Unavailable(
                    f"the server is drawing other pages ({self.running} at a time, {self.waiting} waiting); "
                    f"try again in {self.retry_after} s",
                    headers={"Retry-After": str(self.retry_after)},
                )
            self._admitted += 1
        try:
            with self._turns:
                yield
        finally:
            with self._lock:
                self._admitted -= 1


# The briefing's queue: one per process, as matplotlib's state is (web.brief draws one page at a time).
BRIEF_RENDERS = RenderQueue()
