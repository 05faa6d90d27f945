"""The real server (uvicorn with api.server's protocol, on 127.0.0.1) against slow and rude clients.

- A request refused before its body is read (413, 401, 403) reaches a client that writes its whole
  body before reading (Python's urllib), instead of "connection reset".
- Connections that stall in the head or the body are closed after the timeouts (2 s here), while
  reads go on being answered.
- An abandoned upload is one log line, no traceback.
- Smaller: tokens live in the twin's store (hashed) and nowhere else; /openapi.json is the /api document.
- The README's progress POSTs run as written on the bundled twin; /diff says how a version is named.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from api_server import VENV_BIN, LiveServer, bearer, build_venue, make_tokens, missing_client

from bench.slow_clients import KINDS, open_stalled, post_with_urllib, raise_fd_limit, read_latencies, watch_closes

TIMEOUT = 2.0  # seconds, both the head's and the body's
STALLED = 200


def wait_for(condition, timeout: float = 30, what: str = "the condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("api-robustness")
    store = build_venue(d / "venue.gpkg")
    return store, store, make_tokens(store)


@pytest.fixture(scope="module")
def server(site: tuple[Path, Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"VENUE_TWIN_HEADER_TIMEOUT": str(TIMEOUT), "VENUE_TWIN_BODY_TIMEOUT": str(TIMEOUT)}
    s = LiveServer(site[0], tmp_path_factory.mktemp("server") / "server.log", env=env)
    yield s
    s.stop()


# ---------------------------------------------------------------------------- refused before the body is read
def test_urllib_posting_25_mb_sees_413(server: LiveServer, site: tuple[Path, Path, dict[str, str]]) -> None:
    tokens = site[2]
    assert post_with_urllib(server.url, 25_000_000, tokens["editor"]) == "413"
    assert post_with_urllib(server.url, 25_000_000) == "413"


def test_urllib_anonymous_or_viewer_post_of_5_mb_sees_401_or_403(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    assert post_with_urllib(server.url, 5_000_000) == "401"
    assert post_with_urllib(server.url, 5_000_000, site[2]["viewer"]) == "403"


def test_a_refused_body_read_to_its_end_leaves_the_keep_alive_connection_usable(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    # httpx keeps the connection; after a refusal the server closes it (the body was not wanted),
    # and the next request on the same client still answers.
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post(
            "/collections/halls/items", content=b" " * 3_000_000, headers={"Content-Type": "application/geo+json"}
        )
        assert r.status_code == 401 and r.headers["connection"] == "close"
        assert c.get("/collections").status_code == 200


# ---------------------------------------------------------------------------- stalled clients
def test_stalled_connections_are_closed_after_the_timeouts_while_reads_are_served(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    raise_fd_limit(STALLED + 256)
    port = server.port
    opened = time.monotonic()
    stalled = open_stalled(port, STALLED, site[2]["editor"])
    watcher = threading.Thread(target=watch_closes, args=(stalled, time.monotonic() + 60))
    watcher.start()
    try:
        # Reads answer while every stalled connection is still open (none can be cut before 2 s).
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(5):
                assert c.get("/collections/halls/items?limit=3").status_code == 200
        still_open = stalled.open_count()
        read_time = time.monotonic() - opened
        if read_time < TIMEOUT * 0.9:
            assert still_open == STALLED, (still_open, read_time)
        watcher.join(timeout=90)
        assert stalled.open_count() == 0, f"{stalled.open_count()} of {STALLED} stalled connections are still open"
    finally:
        watcher.join(timeout=90)
        stalled.close_all()
    # Not before the timeout; and what each kind was told.
    assert min(stalled.closed.values()) >= TIMEOUT * 0.9, sorted(stalled.closed.values())[:5]
    first_lines = {
        kind: {stalled.answers.get(i, b"").split(b"\r\n", 1)[0] for i in stalled.closed if stalled.kinds[i] == kind}
        for kind in KINDS
    }
    assert first_lines == {
        "nothing": {b""},
        "half head": {b"HTTP/1.1 408 Request Timeout"},
        "half body, anonymous": {b"HTTP/1.1 401 Unauthorized"},
        "half body, editor": {b"HTTP/1.1 408 Request Timeout"},
    }


def test_a_head_sent_a_byte_at_a_time_is_cut_at_the_deadline(server: LiveServer) -> None:
    # Slowloris: each byte would restart an idle timer; the head's deadline does not move.
    port = server.port
    head = b"GET /collections HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        start = time.monotonic()
        with pytest.raises(OSError):  # a write to the closed connection fails, or the read below says closed
            for i in range(len(head)):
                assert time.monotonic() - start < 30, "the slow head was never cut"
                s.sendall(head[i : i + 1])
                time.sleep(0.2)  # the client's pace
                s.setblocking(False)
                try:
                    s.recv(4096)  # the 408, or b"" at the close: either way the server has given up
                    raise ConnectionAbortedError("answered and closed by the server")
                except BlockingIOError:
                    pass  # nothing yet: the server is still waiting
                finally:
                    s.setblocking(True)
        assert time.monotonic() - start >= TIMEOUT * 0.9


def test_a_keep_alive_connection_whose_next_head_stalls_is_closed(server: LiveServer) -> None:
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /conformance HTTP/1.1\r\nHost: x\r\n\r\nGET /collections HTTP/1.1\r\nHo")
        data = b""
        start = time.monotonic()
        while chunk := s.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
        assert b"HTTP/1.1 408 Request Timeout" in data
        assert TIMEOUT * 0.9 <= time.monotonic() - start < 30


def test_reads_keep_answering_while_a_body_stalls(server: LiveServer, site: tuple[Path, Path, dict[str, str]]) -> None:
    port = server.port
    stalled = open_stalled(port, 1, site[2]["editor"], kinds=["half body, editor"])
    stop = threading.Event()
    reads: list[tuple[float, int, float]] = []
    reader = threading.Thread(target=read_latencies, args=(server.url + "/conformance", stop, reads))
    reader.start()
    try:
        watch_closes(stalled, time.monotonic() + 30)
    finally:
        stop.set()
        reader.join()
        stalled.close_all()
    assert stalled.open_count() == 0
    assert reads and all(status == 200 for _, status, _ in reads)
    assert b'"status":408' in stalled.answers[0]


def test_venue_twin_serve_cuts_a_stalled_head(site: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    # The command people run serves with the same protocol, workers or not.
    if not (VENV_BIN / "venue-twin").exists():
        missing_client(f"the venue-twin command is not installed in {VENV_BIN}")
    env = {"VENUE_TWIN_HEADER_TIMEOUT": str(TIMEOUT)}
    s = LiveServer(site[0], tmp_path / "cli.log", cli=True, env=env)
    try:
        stalled = open_stalled(s.port, 4, None, kinds=["half head"])
        watch_closes(stalled, time.monotonic() + 30)
        stalled.close_all()
        assert stalled.open_count() == 0
        assert all(a.startswith(b"HTTP/1.1 408") for a in stalled.answers.values()) and len(stalled.answers) == 4
    finally:
        s.stop()


# ---------------------------------------------------------------------------- abandoned uploads
def test_an_abandoned_upload_is_one_log_line_without_a_traceback(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    port = server.port
    before = len(server.access_lines("the client went away"))
    # An editor's POST (so the app reads the body) that goes away after half of it.
    stalled = open_stalled(port, 1, site[2]["editor"], kinds=["half body, editor"])
    stalled.close_all()
    wait_for(lambda: len(server.access_lines("the client went away")) > before, what="the disconnect's log line")
    assert len(server.access_lines("the client went away")) == before + 1
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "ClientDisconnect" not in log, log[-3000:]


# ---------------------------------------------------------------------------- smaller
@pytest.mark.gpkg_only  # looks beside the twin's file
def test_tokens_live_in_the_store_hashed_and_nowhere_else(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    store, _, tokens = site
    # The server accepts the tokens made in the store: an editor may read the layer admin list.
    r = httpx.get(server.url + "/collections", headers=bearer(tokens["editor"]), timeout=10)
    assert r.status_code == 200
    assert httpx.get(server.url + "/collections", headers=bearer("vt_unknown"), timeout=10).status_code == 401
    # Beside the twin there is only the twin (and SQLite's -wal/-shm): no token file.
    beside = {p.name for p in store.parent.iterdir()} - {"server.log"}
    assert beside <= {store.name, store.name + "-wal", store.name + "-shm"}, beside
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as c:
        hashes = {h for (h,) in c.execute("SELECT hash FROM twin_tokens")}
        registered = {t for (t,) in c.execute("SELECT table_name FROM gpkg_contents")}
    assert {hashlib.sha256(t.encode()).hexdigest() for t in tokens.values()} <= hashes
    assert "twin_tokens" not in registered  # GIS users do not see it listed
    # Only hashes: no secret appears in the file's bytes (main file or WAL).
    raw = b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))
    assert not any(t.encode() in raw for t in tokens.values())


def test_openapi_json_is_the_api_document(server: LiveServer) -> None:
    api = httpx.get(server.url + "/api", timeout=10)
    doc = httpx.get(server.url + "/openapi.json", timeout=10)
    assert api.status_code == doc.status_code == 200
    assert doc.content == api.content
    assert doc.json()["openapi"].startswith("3.0")
    assert doc.headers["content-type"] == api.headers["content-type"]


def test_a_slow_but_steady_upload_longer_than_the_timeout_goes_through(
    server: LiveServer, site: tuple[Path, Path, dict[str, str]]
) -> None:
    # The body timeout bounds a stall between reads, not the whole upload.
    feature = {
        "type": "Feature",
        "id": "ls-slow-upload",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [121.2950, 31.1860],
                    [121.2954, 31.1860],
                    [121.2954, 31.1863],
                    [121.2950, 31.1863],
                    [121.2950, 31.1860],
                ]
            ],
        },
        "properties": {
            "code": "FB-SLOW",
            "name_zh": "慢花坛",
            "name_en": "Slow flower bed",
            "kind": "flower_bed",
            "pots": 10,
            "responsible_unit": "青浦区绿化和市容管理局",
        },
    }
    body = orjson.dumps(feature)
    pieces = 8
    step = len(body) // pieces + 1

    def slowly() -> Iterator[bytes]:
        for i in range(0, len(body), step):
            yield body[i : i + step]
            time.sleep(TIMEOUT / 4)  # the client's pace: 8 pieces take twice the timeout in all

    start = time.monotonic()
    r = httpx.post(
        server.url + "/collections/landscaping/items",
        content=slowly(),
        headers={**bearer(site[2]["editor"]), "Content-Type": "application/geo+json"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    assert time.monotonic() - start > TIMEOUT


def _readme_progress_posts() -> list[tuple[str, dict[str, object]]]:
    """The README's `curl -X POST .../progress` examples with a JSON body: (path, body)."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    posts = []
    for command in re.findall(r"^curl -X POST \S+progress .*?(?<!\\)\n", readme, flags=re.M | re.S):
        words = shlex.split(command.replace("\\\n", " "))
        url = next(w for w in words if w.startswith("http"))
        body = words[words.index("-d") + 1]
        posts.append((url.removeprefix("http://127.0.0.1:8000"), orjson.loads(body)))
    return posts


def test_the_readme_progress_examples_run_on_the_bundled_twin(
    site: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """The README's batch of reports answered 422 on a fresh twin: HL-07 at 40% is below its last
    bundled report (69% on 2026-10-26). Each example, sent as written, is taken."""
    from api_server import client, copy_store

    posts = _readme_progress_posts()
    assert sorted(path for path, _ in posts) == ["/progress", "/projects/RD-03/progress"], posts
    store = copy_store(site[0], tmp_path / "venue.gpkg")
    with client(store) as api:
        for path, body in posts:
            r = api.post(path, json=body, headers=bearer(site[2]["editor"]))
            assert r.status_code in (200, 201), (path, r.status_code, r.text[:500])


def test_a_diff_naming_no_version_says_what_names_one(server: LiveServer) -> None:
    """/diff?to=nosuch said only "not an RFC 3339 timestamp ... or a date", though a commit id or
    HEAD~n is what it takes first: the sentence /versions and `venue-twin show` give, with times."""
    r = httpx.get(server.url + "/diff", params={"from": "HEAD~3", "to": "nosuch"}, timeout=10)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "to: version 'nosuch' is not a commit id (hex, at least 4 characters), HEAD" in detail, detail
    assert "a date" in detail and "RFC 3339 timestamp such as" not in detail, detail
