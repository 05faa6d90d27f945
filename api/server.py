"""How the API is served: uvicorn (uvloop + httptools), with a deadline on each request's head.

uvicorn has no read timeout of its own: `timeout_keep_alive` is armed only after a response, and
any byte received cancels it, so a connection that sends nothing, or half a request head, or
one header byte a minute (slowloris), is held for ever. Its other knobs do not help here:
`h11_max_incomplete_event_size` bounds the size of a head for the h11 parser only, and
`limit_concurrency` answers 503 to everyone once stalled connections fill it. Other servers were
weighed: hypercorn has a read timeout but parses HTTP with h11 in pure Python, not httptools' C
parser; gunicorn's `timeout` watches workers, not clients. So we keep uvicorn and give it, through
its `http=` option (which takes a protocol class or its import path), a subclass of its httptools
protocol that closes a connection whose request head is not complete `VENUE_TWIN_HEADER_TIMEOUT`
seconds (default 30) after the connection opened or the previous response ended. It costs one
timer per connection, not one per request: a pending timer that finds its deadline moved on
waits again. The body's timeout is the app's (api/limits.py), where the answer can be a proper
408 problem.

Run it with `venue-twin serve`, or `uvicorn api.main:app --http api.server:GuardedHttpToolsProtocol`
(plain `uvicorn api.main:app` serves the same app without the head's deadline).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("uvicorn.error.venue_twin")

HTTP_PROTOCOL = "api.server:GuardedHttpToolsProtocol"  # uvicorn's `http=` / `--http`


def _response_408(seconds: float) -> bytes:
    body = f"the request head was not complete within {seconds:g} s\n".encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head does not arrive in time."""

    header_timeout: float | None = None  # seconds; read from the settings by the first connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if GuardedHttpToolsProtocol.header_timeout is None:
            from api.settings import ApiSettings  # each worker process reads the environment, as the app does

            GuardedHttpToolsProtocol.header_timeout = ApiSettings().header_timeout
        self._head_deadline: float | None = None  # None: no head is awaited (a request is being served)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # some of a request head has arrived

    def _await_head(self) -> None:
        assert self.header_timeout is not None
        self._head_deadline = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head)
        # else: the pending timer finds the later deadline and waits again (no cancel and re-create per request)

    def _check_head(self) -> None:
        self._head_timer = None
        if self._head_deadline is None or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._head_deadline = None  # a head pipelined behind a response: its time starts when that ends
            return
        if self.loop.time() < self._head_deadline:  # re-armed since this timer was set: wait for the new deadline
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head)
            return
        assert self.header_timeout is not None
        if self._head_begun:
            client = f"{self.client[0]}:{self.client[1]} " if self.client else ""
            log.warning("%sthe request head was not complete after %g s; closed", client, self.header_timeout)
            self.transport.write(_response_408(self.header_timeout))
        self.transport.close()

    # uvicorn's protocol callbacks, extended
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_deadline is None:  # a request pipelined behind one being served
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_deadline = None
        self._head_begun = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete and self._head_deadline is None:
            self._await_head()  # the next request's head (uvicorn's keep-alive timeout closes an idle one sooner)
