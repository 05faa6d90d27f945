"""A slow store read does not hold the API's event loop: cheap requests are answered meanwhile.

The server is the real one (uvicorn with uvloop and httptools, api.server's protocol) in this
process, so the test can see where its threads are. The slow read is a real one: a bbox over a
whole layer of 20,000 polygons, whose every candidate the store must check to count the matches
exactly. While a thread of the server is inside the store's read (seen in its stack), the test
asks for /conformance and a single feature; the proof is that both answers arrive while the slow
read is still inside the store. If the read ran on the event loop, no other request could be
answered before it ended, so the condition could never hold (the test then fails after its tries).
No timing is asserted: a try whose read ended before the test looked is simply tried again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import CodeType, FrameType
from typing import Any

import httpx
import pytest
import shapely
import uvicorn
from deadlines import HTTP, SERVER_START, STOP
from fastapi.testclient import TestClient

from api.main import create_app
from api.server import HTTP_PROTOCOL
from api.settings import ApiSettings
from twin import Change, Feature, LayerSchema, Twin
from twin.access import TwinView
from twin.model import FieldSpec

TWIN_STORES = ("gpkg", "postgis")

PLOTS = LayerSchema(
    name="plots",
    title_zh="地块",
    title_en="Plots",
    geometry_types=("Polygon",),
    fields=(FieldSpec("code", "string", required=True),),
    description="Many small plots, so that a bbox over all of them is a slow read.",
)
SIDE = 141  # 141 x 141 = 19,881 plots
X0, Y0, STEP = 121.28, 31.18, 0.0002
AOI = shapely.box(121.2, 31.1, 121.4, 31.3)
TRIES = 40


@pytest.fixture
def plots_twin(make_twin) -> Twin:  # type: ignore[no-untyped-def]
    twin: Twin = make_twin(name="plots", schemas=[PLOTS], aoi=AOI)
    changes = []
    for i in range(SIDE):
        for j in range(SIDE):
            x, y = X0 + i * STEP, Y0 + j * STEP
            fid = f"p{i:03d}-{j:03d}"
            geom = shapely.box(x, y, x + STEP * 0.8, y + STEP * 0.8)
            changes.append(Change("plots", "add", fid, Feature(fid, geom, {"code": fid.upper()})))
    twin.commit(changes, author="test", message="plots")
    return twin


@pytest.fixture
def live(plots_twin: Twin) -> Iterator[str]:
    """The app on the real server stack in a thread of this process; yields its base URL."""
    app = create_app(ApiSettings(store="unused", public_reads=True), twin=plots_twin)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # held from here on: no other test can take the port meanwhile
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop="uvloop", http=HTTP_PROTOCOL, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    end = time.monotonic() + SERVER_START
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < end, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP)
        sock.close()


def _inside(code: CodeType) -> bool:
    """Whether some thread is running `code` (anywhere in its stack) right now."""
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        f: FrameType | None = frame
        while f is not None and ident != me:
            if f.f_code is code:
                return True
            f = f.f_back
    return False


def test_a_slow_read_does_not_hold_cheap_requests(live: str, plots_twin: Twin) -> None:
    store_read = type(plots_twin.store).features.__code__
    slow_url = f"{live}/collections/plots/items?bbox=121.2,31.1,121.4,31.3&limit=5"
    overlapped = 0
    with httpx.Client(timeout=HTTP) as cheap, ThreadPoolExecutor(1) as pool:
        # The slow read's own answer is right: every plot matched, counted exactly.
        first = cheap.get(slow_url)
        assert first.status_code == 200 and first.json()["numberMatched"] == SIDE * SIDE
        for _ in range(TRIES):
            slow = pool.submit(httpx.get, slow_url, timeout=HTTP)
            while not slow.done() and not _inside(store_read):
                time.sleep(0.0002)  # polling for the condition, not waiting a fixed time
            if slow.done():
                continue  # the read ended before the test saw it: try again
            conformance = cheap.get(f"{live}/conformance")
            item = cheap.get(f"{live}/collections/plots/items/p007-011")
            still_reading = _inside(store_read) and not slow.done()
            assert conformance.status_code == 200 and "conformsTo" in conformance.json()
            assert item.status_code == 200 and item.json()["id"] == "p007-011"
            answer = slow.result()
            assert answer.status_code == 200 and answer.json()["numberMatched"] == SIDE * SIDE
            if still_reading:
                overlapped += 1
                if overlapped >= 2:
                    break
    assert overlapped >= 2, (
        f"in {TRIES} tries, cheap requests were answered during a slow store read only {overlapped} times: "
        "a store call is holding the event loop"
    )


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _where_each_call_runs(monkeypatch: pytest.MonkeyPatch, method: str) -> list[bool]:
    """Spies on a TwinView read: the list gets, for each call, whether it ran on the event loop."""
    where: list[bool] = []
    read = getattr(TwinView, method)

    def spied(self: TwinView, *args: Any, **kwargs: Any) -> Any:
        where.append(_on_event_loop())
        return read(self, *args, **kwargs)

    monkeypatch.setattr(TwinView, method, spied)
    return where


def test_only_a_local_point_read_runs_on_the_event_loop(
    make_twin: Callable[..., Twin], twin_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single feature by id from the embedded store is read on the event loop (an index look-up
    costs less than the hop to a worker thread); from PostGIS (a read may wait for a connection or
    the network), reprojected, as a page, or for a caller with a layer hidden (resolving a version
    may first build the visible history) it is read in the thread pool, like every other read."""
    secret = dataclasses.replace(PLOTS, name="secret_plots", restricted_to=("engineer",))
    twin = make_twin(name="points", schemas=[PLOTS, secret], aoi=AOI)
    geom = shapely.box(X0, Y0, X0 + STEP, Y0 + STEP)
    twin.commit(
        [Change(layer, "add", "p1", Feature("p1", geom, {"code": "P1"})) for layer in ("plots", "secret_plots")],
        author="test",
        message="a plot in each layer",
    )
    where = _where_each_call_runs(monkeypatch, "feature")
    engineer = {"Authorization": f"Bearer {twin.tokens.create('eng', 'engineer')}"}  # sees every layer
    local = twin_store == "gpkg"
    app = create_app(ApiSettings(store="unused", public_reads=True), twin=twin)
    with TestClient(app) as api:
        for url, headers, on_loop in [
            ("/collections/plots/items/p1", engineer, local),
            ("/collections/secret_plots/items/p1?version=HEAD", engineer, local),
            ("/collections/plots/items/p1?crs=http://www.opengis.net/def/crs/EPSG/0/4326", engineer, False),
            ("/collections/plots/items/p1?f=html", engineer, False),
            ("/collections/plots/items/p1", {}, False),  # anonymous: secret_plots is hidden
        ]:
            where.clear()
            r = api.get(url, headers=headers)
            assert r.status_code == 200, (url, r.text)
            assert r.json()["id"] == "p1" if "f=html" not in url else "p1" in r.text
            assert where and all(w == on_loop for w in where), (url, where)


def test_only_a_small_bbox_read_from_memory_runs_on_the_event_loop(
    plots_twin: Twin, twin_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bbox read that the embedded store answers from its in-memory index with bounded work (few
    versions in the box, the index up to date) runs on the event loop; a box meeting thousands of
    features, a filtered or reprojected read, an HTML page, a read just after a commit (the index
    must first read what landed) and every PostGIS read go to the thread pool."""
    where = _where_each_call_runs(monkeypatch, "features")
    local = twin_store == "gpkg"
    small = f"{X0},{Y0},{X0 + 3 * STEP},{Y0 + 3 * STEP}"  # 16 plots
    app = create_app(ApiSettings(store="unused", public_reads=True), twin=plots_twin)
    items = "/collections/plots/items"

    def check(url: str, on_loop: bool, matched: int) -> None:
        where.clear()
        r = api.get(url)
        assert r.status_code == 200, (url, r.text)
        if "f=html" not in url:
            assert r.json()["numberMatched"] == matched, url
        assert where and all(w == on_loop for w in where), (url, where)

    with TestClient(app) as api:
        plots_twin.warm(wait=True)  # the server started building its index: wait for it
        check(f"{items}?bbox={small}", local, 16)
        check(f"{items}?bbox={small}&limit=2&version=HEAD", local, 16)
        check(f"{items}?bbox=121.2,31.1,121.4,31.3&limit=5", False, SIDE * SIDE)
        check(f"{items}?bbox={small}&filter=code='P000-000'", False, 1)
        check(f"{items}?bbox={small}&crs=http://www.opengis.net/def/crs/EPSG/0/4326", False, 16)
        check(f"{items}?bbox={small}&f=html", False, 16)
        check(f"{items}?limit=3", False, SIDE * SIDE)
        plots_twin.commit(
            [Change("plots", "delete", "p000-000")], author="test", message="one plot fewer"
        )
        check(f"{items}?bbox={small}", False, 15)  # the index reads the commit first, in the pool
        check(f"{items}?bbox={small}", local, 15)
