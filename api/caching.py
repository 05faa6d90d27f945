"""HTTP caching, decided in one place: what may be kept, and revalidation with ETags.

- An answer pinned to a full commit id never changes (a commit is immutable), so it may be kept
  for a year. Everything else — HEAD, HEAD~n (HEAD moves), a time, a date, a short id prefix
  (a later commit can make it ambiguous) — must be revalidated: `Cache-Control: no-cache`.
- Every successful GET (and HEAD, answered as GET is) carries an ETag and answers `If-None-Match` with 304. Routes that know
  their version give one derived from it (no need to hash a large body); for the rest the
  middleware hashes the body.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin import Ref

IMMUTABLE = "max-age=31536000, immutable"
REVALIDATE = "no-cache"
_FULL_ID = re.compile(r"[0-9a-f]{64}")
_HASH_BODIES_UP_TO = 32 * 1024 * 1024  # larger bodies (downloads) carry a version ETag instead


def is_pinned(version: str | None, ref: Ref) -> bool:
    """True when the caller named the version by its full commit id (the only name that never moves)."""
    return version is not None and ref.commit is not None and _FULL_ID.fullmatch(version.lower()) is not None


def cache_headers(version: str | None, ref: Ref) -> dict[str, str]:
    """X-Twin-Version and Cache-Control for an answer read at `ref`, named `version` by the caller."""
    return {
        "X-Twin-Version": ref.commit.id if ref.commit else "",
        "Cache-Control": IMMUTABLE if is_pinned(version, ref) else REVALIDATE,
    }


def version_etag(ref: Ref, *parts: Any) -> str:
    """A weak ETag for an answer that is a function of the version and `parts` (the URL, say)."""
    h = hashlib.sha256((ref.commit.id if ref.commit else "empty").encode())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return 'W/"' + h.hexdigest()[:32] + '"'


def read_headers(request: Any, ref: Ref, version: str | None) -> dict[str, str]:
    """Headers of an answer read at `ref` (the caller named it `version`): the version read, how long
    it may be kept, and an ETag made from the version and the request — cheaper than hashing a
    large page, and a page's timeStamp does not make it new. `request` is a Starlette Request."""
    return {
        **cache_headers(version, ref),
        "ETag": version_etag(
            ref,
            request.url.path,
            request.url.query,
            request.headers.get("accept", ""),
            request.headers.get("authorization"),
        ),
    }


def _etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == bare for t in if_none_match.split(","))  # weak comparison


class Revalidation:
    """ASGI middleware: ETags on every successful GET, 304 for a matching If-None-Match, and a
    Cache-Control on every answer (no-cache unless the route pinned it)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        # HEAD is answered as GET is, its body then dropped: its ETag is the GET's (a body's hash
        # needs the body) and a matching If-None-Match is a 304 for it too.
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        request_headers = Headers(scope=scope)
        if_none_match = request_headers.get("if-none-match")
        private = "authorization" in request_headers
        start: Message | None = None
        answered = False  # a 304 went out: the rest of a streamed body is dropped

        async def send_with_etag(message: Message) -> None:
            nonlocal start, answered
            if answered:
                return
            if message["type"] == "http.response.start":
                start = message
                return
            original_body: bytes = message.get("body", b"")
            if head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            held, start = start, None
            headers = MutableHeaders(scope=held)
            body: bytes = original_body
            if held["status"] == 200:
                cache = headers.get("cache-control")
                if cache is None:
                    headers["Cache-Control"] = cache = REVALIDATE
                if private and "public" not in cache and "private" not in cache:
                    # An answer that depends on who asks must not be kept by shared caches.
                    headers["Cache-Control"] = cache = "private, " + cache
                headers.append("Vary", "Accept, Accept-Language, Authorization")
                etag = headers.get("etag")
                if (
                    etag is None
                    and scope["method"] == "GET"
                    and not message.get("more_body", False)
                    and len(body) <= _HASH_BODIES_UP_TO
                ):
                    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
                    headers["ETag"] = etag
                if etag is not None and if_none_match is not None and _etag_matches(if_none_match, etag):
                    not_modified = {
                        k: v
                        for k, v in headers.items()
                        if k in ("etag", "cache-control", "vary", "x-twin-version", "content-crs", "content-location")
                    }
                    await send({"type": "http.response.start", "status": 304, "headers": _raw(not_modified)})
                    await send({"type": "http.response.body", "body": b""})
                    answered = True
                    return
            await send(held)
            await send(message)

        await self.app(scope, receive, send_with_etag)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
