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

import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import CodeType, FrameType

import httpx
import pytest
import shapely
import uvicorn
from deadlines import HTTP, SERVER_START, STOP

from api.main import create_app
from api.server import HTTP_PROTOCOL
from api.settings import ApiSettings
from twin import Change, Feature, LayerSchema, Twin
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
