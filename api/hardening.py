"""Headers every answer carries so a browser treats it safely, whatever route or error made it.

- ``X-Content-Type-Options: nosniff``: a download or a JSON answer is never run as a script or
  shown as a page because a browser guessed its type from its bytes.
- ``X-Frame-Options: SAMEORIGIN``: the pages are not framed by another site (clickjacking an
  editor's buttons); the app's own pages may frame them.
- ``Referrer-Policy: same-origin``: a page's address (its query, a project code, a version) is not
  sent to another site a link leads to.

No Content-Security-Policy script rule: folium writes each map's script inline into its page.
A header a route set itself is kept.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every HTTP answer (mounted outermost by api.main)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
