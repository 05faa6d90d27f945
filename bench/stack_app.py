"""The app the API benchmark serves: venue-twin's own app (api.main.create_app, with its
middleware), plus two routes that answer constant bytes, to measure the stack's limit in the same
run, on the same server, workers and middleware as the twin's reads:

- `/_bench/bytes/{n}`: n constant bytes from an `async` route (no thread-pool hop): the most this
  stack can serve for a body of that size, the figure every read is a share of;
- `/_bench/bytes-pooled/{n}`: the same from a plain `def` route, which FastAPI runs in its thread
  pool as it runs the twin's reads: the difference is the cost of the hop.

Both carry an ETag and Cache-Control, as the twin's reads do, so the middleware does the same work
(it would otherwise hash the body). Not part of the product: `uvicorn bench.stack_app:app`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response

HEADERS = {"ETag": 'W/"bench-constant"', "Cache-Control": "no-cache"}


@lru_cache(maxsize=16)
def _body(n: int) -> bytes:
    return (b'{"type":"FeatureCollection","features":[]' + b" " * n)[: max(n - 1, 0)] + b"}"


def create() -> FastAPI:
    from api.main import create_app

    app = create_app()
    # The product warms its store beside the first requests; the benchmark measures a server that
    # has finished (each worker builds its own), so each worker waits here before serving.
    app.state.twin.warm(wait=True)

    @app.get("/_bench/bytes/{n}", include_in_schema=False)
    async def constant(n: int) -> Response:
        return Response(_body(n), media_type="application/geo+json", headers=HEADERS)

    @app.get("/_bench/bytes-pooled/{n}", include_in_schema=False)
    def constant_pooled(n: int) -> Response:
        return Response(_body(n), media_type="application/geo+json", headers=HEADERS)

    return app


def __getattr__(name: str) -> Any:
    # uvicorn imports `bench.stack_app:app` in each worker; build the app then, not on import.
    if name == "app":
        return create()
    raise AttributeError(name)
