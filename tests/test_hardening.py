"""What the service does so its own data and readers cannot be turned against its users.

- A layer's title is written into a map page's layer list (folium's LayerControl, which Leaflet
  inserts as HTML) escaped, on every map page: checked here in the page's source; the browser's
  side is tests/test_page_injection_browser.py.
- Every answer carries the browser hardening headers (api.hardening): a page, a JSON answer, a
  download, a refusal and an error.
- The briefing's renders (api.renders): one at a time, a few waiting, more refused with 503 and
  Retry-After at once; a page drawn before is answered without a turn. The queue is tested itself,
  and through the route.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_server import bearer, build_venue, client, copy_store, make_tokens
from deadlines import THREAD, join_all
from fastapi.testclient import TestClient

from api.errors import Unavailable
from api.hardening import SECURITY_HEADERS
from api.renders import BRIEF_RENDERS, RenderQueue

TITLE = "<img src=x onerror=alert(52)>"
LAYER = "xss_posts"
# folium's layer control: `overlays : { "name" : layer_var, ... }` (names written with Jinja's tojson)
_OVERLAYS = re.compile(r"overlays\s*:\s*\{(.*?)\}", re.S)
_KEY = re.compile(r'("(?:[^"\\]|\\.)*")\s*:')


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    d = tmp_path_factory.mktemp("hardening")
    store = build_venue(d / "venue.gpkg")
    return store, make_tokens(store)


@pytest.fixture(scope="module")
def api(base: tuple[Any, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = copy_store(base[0], tmp_path_factory.mktemp("hardening-copy") / "venue.gpkg")
    with client(store) as c:
        layer = {"name": LAYER, "title_zh": TITLE, "title_en": TITLE, "geometry_types": ["Point"]}
        r = c.post("/collections", json=layer, headers=bearer(base[1]["admin"]))
        assert r.status_code == 201, r.text
        yield c


def layer_list(page: str) -> list[str]:
    """The names a map page's layer control lists, as the page's script holds them."""
    found = _OVERLAYS.search(page)
    assert found, "no layer control in the page"
    return [orjson.loads(k) for k in _KEY.findall(found.group(1))]


@pytest.mark.parametrize("path", [f"/maps/layers/{LAYER}?lang=en", "/maps/layers/halls?lang=zh"])
def test_a_layer_title_is_escaped_in_a_map_pages_layer_list(api: TestClient, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200, r.text[:300]
    names = layer_list(r.text)
    assert html.escape(TITLE) in names, names  # Leaflet shows the characters written, not an element
    assert TITLE not in names
    assert "Halls" in names or "展馆" in names  # the other layers are listed as before


# ---------------------------------------------------------------------------- headers
@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/collections/halls/items?f=html&lang=en&limit=2", 200),  # a page
        ("GET", "/maps/layers/halls?lang=en", 200),  # a map page (folium's inline scripts)
        ("GET", "/collections", 200),  # JSON
        ("GET", "/collections/halls/download?f=gpkg", 200),  # a download
        ("GET", "/collections/nope/items", 404),  # an error
        ("GET", "/collections/halls/items?f=html&limit=0", 400),  # an error page
        ("POST", "/collections/landscaping/items", 401),  # a refused write
    ],
)
def test_every_answer_carries_the_hardening_headers(api: TestClient, method: str, path: str, status: int) -> None:
    # the POST is a write (a "type": features to add), refused for want of a token
    r = api.request(method, path, json={"type": "FeatureCollection", "features": []} if method == "POST" else None)
    assert r.status_code == status, r.text[:300]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert {k: r.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    # no script rule: folium's maps run their inline scripts
    assert "script-src" not in r.headers.get("Content-Security-Policy", "")


def test_a_not_modified_answer_carries_them_too(api: TestClient) -> None:
    etag = api.get("/collections").headers["ETag"]
    r = api.get("/collections", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------------------- the briefing's renders
class Held:
    """Threads of this test holding turns of a queue until released (the test's own workers, not the
    product's renders): `running` says which have their turn."""

    def __init__(self, queue: RenderQueue):
        self.queue = queue
        self.release = threading.Event()
        self.running: list[int] = []
        self.most_at_once = 0
        self._now = 0
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.refused: list[Unavailable] = []

    def hold(self, n: int) -> None:
        def work() -> None:
            try:
                with self.queue.turn():
                    with self._lock:
                        self._now += 1
                        self.most_at_once = max(self.most_at_once, self._now)
                        self.running.append(n)
                    self.release.wait(THREAD)
                    with self._lock:
                        self._now -= 1
            except Unavailable as e:
                self.refused.append(e)

        t = threading.Thread(target=work, daemon=True)
        self.threads.append(t)
        t.start()

    def until(self, condition: Any) -> None:
        """Wait for `condition()` (the queue's state, which no event announces), polling; THREAD
        seconds only end a wait that is stuck."""
        stuck = time.monotonic() + THREAD
        while not condition():
            assert time.monotonic() < stuck, "the queue never reached the state waited for"
            time.sleep(0.002)

    def finish(self) -> None:
        self.release.set()
        join_all(self.threads)


def test_the_queue_runs_one_at_a_time_keeps_a_few_waiting_and_refuses_the_rest() -> None:
    queue = RenderQueue(running=1, waiting=2, retry_after=7)
    held = Held(queue)
    try:
        held.hold(1)
        held.until(lambda: held.running == [1])
        held.hold(2)
        held.hold(3)
        held.until(lambda: queue.admitted == 3)
        assert held.running == [1]  # the others wait their turn
        with pytest.raises(Unavailable) as refused, queue.turn():
            pytest.fail("a turn was given past the queue's room")
        assert refused.value.status == 503
        assert refused.value.headers == {"Retry-After": "7"}
        assert queue.admitted == 3  # a refusal takes no place
    finally:
        held.finish()
    assert sorted(held.running) == [1, 2, 3] and held.most_at_once == 1
    assert queue.admitted == 0 and held.refused == []
    with queue.turn():  # room again
        assert queue.admitted == 1


def test_a_turn_is_given_back_when_its_work_fails() -> None:
    queue = RenderQueue(running=1, waiting=0)
    with pytest.raises(RuntimeError), queue.turn():
        raise RuntimeError("the render failed")
    assert queue.admitted == 0
    with queue.turn():
        pass


def test_the_briefing_waits_in_the_queue_and_a_page_drawn_before_does_not(
    base: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """With the route's queue full: a page drawn before is answered; a new one is refused at once."""
    store = copy_store(base[0], tmp_path / "venue.gpkg")
    drawn = "/brief?date=2026-10-20&f=png&lang=en"
    with client(store) as c:
        first = c.get(drawn)
        assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
        assert BRIEF_RENDERS.admitted == 0
        held = Held(BRIEF_RENDERS)
        try:
            for n in range(BRIEF_RENDERS.running + BRIEF_RENDERS.waiting):
                held.hold(n)
            held.until(lambda: BRIEF_RENDERS.admitted == BRIEF_RENDERS.running + BRIEF_RENDERS.waiting)
            again = c.get(drawn)
            assert again.status_code == 200 and again.content == first.content  # no turn taken
            refused = c.get("/brief?date=2026-10-21&f=png&lang=en")
            assert refused.status_code == 503, refused.text[:300]
            assert refused.headers["Retry-After"] == str(BRIEF_RENDERS.retry_after)
            assert refused.headers["X-Content-Type-Options"] == "nosniff"
        finally:
            held.finish()
        assert BRIEF_RENDERS.admitted == 0


def test_with_allowed_hosts_another_host_is_refused_and_never_reaches_a_link(base: tuple[Any, dict[str, str]]) -> None:
    """VENUE_TWIN_ALLOWED_HOSTS: a request naming another Host is a 400 (a forged Host made the
    pages' asset links and a search's 303 point at it); the hosts named, and their wildcard, are
    served as before, links made from them."""
    with client(base[0], allowed_hosts="twin.example, *.city.example") as c:
        r = c.get("/collections/halls/items", params={"f": "html"}, headers={"Host": "evil.example"})
        assert r.status_code == 400 and "evil.example" not in r.text
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        for host in ("twin.example", "maps.city.example"):
            r = c.get("/collections/halls/items", params={"f": "html"}, headers={"Host": host})
            assert r.status_code == 200 and f"http://{host}/static/" in r.text, host
    with client(base[0]) as c:  # the default: any Host, as before
        assert c.get("/collections", headers={"Host": "other.example"}).status_code == 200
