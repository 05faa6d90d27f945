"""The service's health, for an operator's monitor or a load balancer: 200 while the twin's store
answers a read, 503 naming why when it does not. No token is needed and nothing of the twin is told
but that (not its commits: who may see which is the twin's access rule, and a monitor is no one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import StrictQueryRoute, add_get_route, whole_twin
from api.errors import Unavailable
from twin.errors import StoreUnavailable

HEALTH_WAIT = 2.0  # seconds /health waits for a connection to the store's database (PostGIS)


@contextmanager
def connection_wait(seconds: float) -> Iterator[None]:
    """The PostGIS store's wait for a connection in this block (imported only then: a GeoPackage
    service loads no driver for its health)."""
    import sys

    if "twin.stores.postgis" not in sys.modules:  # no PostGIS store in this process
        yield
        return
    from twin.stores.postgis import connection_wait as pg_wait

    with pg_wait(seconds):
        yield


class HealthFactory:
    """`GET /health`; mounted by api.main.create_app."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        summary = "Whether the service can read its twin"
        add_get_route(self.router, "/health", self.health, summary=summary, tags=["Service"])

    async def health(self, request: Request) -> Response:
        # Through the anonymous caller's view, as every route reads (twin.access): with public reads
        # off an anonymous caller reads nothing else, but may ask this.
        twin = whole_twin(request).for_role(None)

        def read() -> None:
            # A PostGIS store waits HEALTH_WAIT for a connection, not a request's 5 s: a monitor
            # hears promptly that the database does not answer. A connection the server ended is
            # replaced and the read tried once more by the store (PostGISStore._read), as every
            # read is: a load balancer is not told of a failure no request would meet.
            with connection_wait(HEALTH_WAIT):
                twin.log(1)

        try:
            # A read of the commits themselves, not the head a handle may hold: a store that stopped
            # answering (a database gone or dropped, a damaged file) fails here.
            await run_in_threadpool(read)
        except Exception as e:  # noqa: BLE001 - whatever the store raises, it is not answering
            why = (str(e).strip().splitlines() or [""])[0][:300]
            kind = "" if isinstance(e, StoreUnavailable) else f"{type(e).__name__}: "
            raise Unavailable(f"the twin's store cannot be read ({kind}{why})") from None
        return Response(b'{"status":"ok"}', media_type="application/json", headers={"Cache-Control": "no-store"})
