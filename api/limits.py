"""The request body's limits, enforced around the app: size, timeout, encoding, and what happens to a body left unread.

One ASGI middleware (BodyGuard) does all of it, so no route has to:

- Encoding: no route decodes a compressed body, so a body with a Content-Encoding other than
  identity answers 415 naming it (RFC 9110 15.5.16, with Accept-Encoding: identity) before it is
  read; a gzip body otherwise reached the JSON parser and was refused as "not valid UTF-8".
- Size: a body over `max_body_bytes` answers 413 before it is read into memory (by its declared
  Content-Length, or by counting the chunks as the app reads them).
- Time: each read of the body waits at most `body_timeout` seconds for the client; a client that
  stalls mid-body gets 408 and the connection is closed (the head's own timeout is the server's:
  api/server.py).
- A body left unread: when the app answers before reading the whole body (401, 403, 413, ...),
  the answer is written, then the rest of the body is read and thrown away (at most DRAIN_BYTES,
  for at most `body_timeout` seconds in all) before the response ends and the connection closes.
  A client that writes its whole body before reading (Python's urllib, `requests`) is blocked in
  that write; closing a socket with unread data makes the kernel send RST, and such a client then
  sees "connection reset" instead of the answer. Reading to the end lets it see the answer.
- An abandoned upload (the client went away mid-body) is one log line, not a traceback.

Requests without a body (every read) pass straight through.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem

log = logging.getLogger("uvicorn.error.venue_twin")  # beside uvicorn's own connection messages

# More than this is not read just to be polite: past it the connection is closed with the body unread.
DRAIN_BYTES = 64 * 1024 * 1024


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        chunked = expect_continue = False
        codings: list[str] = []
        for name, value in scope["headers"]:
            if name == b"content-encoding":
                codings += [c.strip() for c in value.decode("latin-1").split(",") if c.strip()]
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"expect":
                expect_continue = value.lower() == b"100-continue"
        if not chunked and not declared:
            await self.app(scope, receive, send)  # no body: nothing to guard
            return
        encoded = [c for c in codings if c.lower() != "identity"]
        await _Guarded(self, scope, receive, send, declared, expect_continue, encoded).run()


class _TooLarge(Exception):
    pass


class _BodyTimeout(Exception):
    pass


class _Guarded:
    """One request with a body: counts it, times its reads, drains what the app left unread."""

    def __init__(
        self,
        guard: BodyGuard,
        scope: Scope,
        receive: Receive,
        send: Send,
        declared: int | None,
        expect_continue: bool,
        encoded: list[str],
    ):
        self.guard, self.scope, self._receive, self._send = guard, scope, receive, send
        self.declared = declared
        self.encoded = encoded  # the body's content codings other than identity
        self.expect_continue = expect_continue
        self.seen = 0
        self.asked = False  # the app called receive(): uvicorn then sent "100 Continue" if it was expected
        self.complete = False  # the whole body was received
        self.gone = False  # the client disconnected
        self.stalled = False  # a read timed out: the client is not sending, so there is nothing to drain
        self.started = False  # the response was started

    async def run(self) -> None:
        limit = self.guard.max_bytes
        if self.encoded:
            named = ", ".join(self.encoded)
            await problem(
                415,
                "Unsupported media type",
                f"Content-Encoding {named} is not accepted; send the body uncompressed",
                {"Accept-Encoding": "identity"},
            )(self.scope, self.receive, self.send)
            return
        try:
            if self.declared is not None and self.declared > limit:
                raise _TooLarge()
            await self.guard.app(self.scope, self.receive, self.send)
        except _TooLarge:
            if self.started:
                raise
            await problem(
                413, "Payload too large", f"the body is over the limit of {limit} bytes; nothing was changed"
            )(self.scope, self.receive, self.send)
        except _BodyTimeout:
            log.warning("%s: no body data for %g s; answered 408 and closed", self._what(), self.guard.body_timeout)
            if self.started:
                return  # the server closes what the app left unfinished
            await problem(
                408,
                "Request timeout",
                f"the request body stalled for {self.guard.body_timeout:g} s; nothing was changed",
                {"Connection": "close"},
            )(self.scope, self.receive, self.send)
        except ClientDisconnect:
            log.info(
                "%s: the client went away after %d bytes of the body; nothing was changed", self._what(), self.seen
            )

    def _what(self) -> str:
        client = self.scope.get("client")
        who = f"{client[0]}:{client[1]} " if client else ""
        return f'{who}"{self.scope["method"]} {self.scope["path"]}"'

    async def _read(self, timeout: float) -> Message:
        try:
            async with asyncio.timeout(timeout):
                message = await self._receive()
        except TimeoutError:
            self.stalled = True
            raise _BodyTimeout() from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        elif message["type"] == "http.disconnect":
            self.gone = True
        return message

    async def receive(self) -> Message:
        if self.complete or self.gone:
            # After the body, receive() waits for a disconnect (streaming responses listen for it): no timeout.
            return await self._receive()
        self.asked = True
        message = await self._read(self.guard.body_timeout)
        if self.seen > self.guard.max_bytes:
            raise _TooLarge()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if not self.complete and not self.gone:
                # The body is not all read: the connection cannot be reused after this response.
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        elif message["type"] == "http.response.body" and not message.get("more_body", False) and self._should_drain():
            await self._send({**message, "more_body": True})  # the answer goes out now, before the drain
            await self._drain()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await self._send(message)

    def _should_drain(self) -> bool:
        if self.complete or self.gone or self.stalled:
            return False
        if self.expect_continue and not self.asked:
            return False  # "100 Continue" was never sent, so the client is not sending the body
        return self.declared is None or self.declared - self.seen <= DRAIN_BYTES

    async def _drain(self) -> None:
        """Read and discard the rest of the body, within DRAIN_BYTES and body_timeout in all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.guard.body_timeout
        start = self.seen
        try:
            while not (self.complete or self.gone) and self.seen - start <= DRAIN_BYTES:
                left = deadline - loop.time()
                if left <= 0:
                    break
                await self._read(left)
        except _BodyTimeout:
            pass
        if not (self.complete or self.gone):
            log.info("%s: stopped reading an unwanted body after %d bytes", self._what(), self.seen)
