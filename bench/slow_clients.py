"""Slow and rude clients against the real server: are stalled connections cut, do reads go on, is a refusal seen?

    python -m bench.slow_clients [--connections N] [--timeout S]

Serves the bundled venue as `venue-twin serve` does (uvicorn with api.server's protocol) on a free
loopback port, with VENUE_TWIN_HEADER_TIMEOUT and VENUE_TWIN_BODY_TIMEOUT set to --timeout
(default 30, the settings' default). Then:

1. reads `/collections/halls/items?limit=10` alone, for a baseline latency;
2. opens N connections (1,000 by default) that stall, a quarter of each kind: nothing sent, half a
   request head, a head and half a body of an anonymous POST (answered 401, then cut), and a head and
   half a body of an editor's POST (the body read times out: 408);
3. reads the same URL over and over while they are open, and times when each stalled connection
   is closed by the server;
4. posts 25 MB with Python's urllib (the body limit is 20 MB) and 5 MB anonymously, as a client
   that writes the whole body before reading: the answers must be 413 and 401, not a reset.

Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO

KINDS = ("nothing", "half head", "half body, anonymous", "half body, editor")


def stall_request(kind: str, token: str | None) -> bytes:
    """The bytes a stalled client of this kind sends before it stops."""
    post = (
        b"POST /collections/halls/items HTTP/1.1\r\nHost: bench\r\nContent-Type: application/geo+json\r\n"
        b"Content-Length: 100000\r\n"
    )
    if kind == "nothing":
        return b""
    if kind == "half head":
        return b"GET /collections HTTP/1.1\r\nHost: bench\r\nAccept: appl"
    if kind == "half body, anonymous":
        return post + b'\r\n{"type": "Feature", "prop'
    if kind == "half body, editor":
        assert token, "an editor's stalled body needs the editor's token"
        return post + f"Authorization: Bearer {token}\r\n".encode() + b'\r\n{"type": "Feature", "prop'
    raise ValueError(kind)


@dataclass
class Stalled:
    """Stalled connections and when the server closed each (seconds after it was opened)."""

    socks: list[socket.socket]
    kinds: list[str]
    opened: list[float]
    closed: dict[int, float] = field(default_factory=dict)  # index → seconds after opening
    answers: dict[int, bytes] = field(default_factory=dict)  # what the server wrote before closing

    def open_count(self) -> int:
        return len(self.socks) - len(self.closed)

    def close_all(self) -> None:
        for s in self.socks:
            s.close()


def open_stalled(port: int, n: int, token: str | None, kinds: Sequence[str] = KINDS) -> Stalled:
    """Open n connections to 127.0.0.1:port, each sending the start of a request and then nothing."""
    socks, ks, opened = [], [], []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = stall_request(kind, token)
        if data:
            s.sendall(data)
        s.setblocking(False)
        socks.append(s)
        ks.append(kind)
        opened.append(time.monotonic())
    return Stalled(socks, ks, opened)


def watch_closes(stalled: Stalled, deadline: float, stop: threading.Event | None = None) -> None:
    """Record when the server closes each stalled connection, until all are closed or the deadline passes."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(stalled.socks):
        if i not in stalled.closed:
            sel.register(s, selectors.EVENT_READ, i)
    try:
        while len(stalled.closed) < len(stalled.socks) and time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                return
            for key, _ in sel.select(timeout=min(0.2, max(0.0, deadline - time.monotonic()))):
                i = key.data
                try:
                    chunk = stalled.socks[i].recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    stalled.answers[i] = stalled.answers.get(i, b"") + chunk
                else:
                    stalled.closed[i] = time.monotonic() - stalled.opened[i]
                    sel.unregister(stalled.socks[i])
    finally:
        sel.close()


def post_with_urllib(url: str, size: int, token: str | None = None) -> str:
    """POST `size` bytes as urllib does (the whole body, then the answer); the status, or the error seen."""
    headers = {"Content-Type": "application/geo+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + "/collections/halls/items", data=b" " * size, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return str(r.status)
    except urllib.error.HTTPError as e:
        return str(e.code)
    except (urllib.error.URLError, OSError) as e:
        return f"error: {getattr(e, 'reason', e)!r}"


def read_latencies(url: str, stop: threading.Event, out: list[tuple[float, int, float]]) -> None:
    """GET url over and over until `stop`; appends (seconds, status, when it started on time.monotonic())."""
    while not stop.is_set():
        started = time.monotonic()
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0
        out.append((time.perf_counter() - t, status, started))


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))


@contextlib.contextmanager
def served(store: Path, timeout: float, log: Path) -> Iterator[str]:
    """The API as `venue-twin serve` runs it, on a free loopback port, with both timeouts set to `timeout`."""
    from api.server import HTTP_PROTOCOL

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "VENUE_TWIN_STORE": str(store),
        "VENUE_TWIN_HEADER_TIMEOUT": str(timeout),
        "VENUE_TWIN_BODY_TIMEOUT": str(timeout),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--http", HTTP_PROTOCOL, "--log-level", "warning", "--no-access-log", "--backlog", "4096"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "/conformance", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not start:\n{log.read_text()}") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(20)


def _ms(xs: list[float]) -> str:
    if not xs:
        return "none"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return f"median {statistics.median(xs) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, max {xs[-1] * 1e3:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=30.0, help="header and body timeout of the server, seconds")
    args = ap.parse_args(argv)
    raise_fd_limit(args.connections + 256)

    from layers.bundle import build_bundled_twin
    from twin import Twin

    with tempfile.TemporaryDirectory(prefix="venue-twin-slow-") as tmp:
        d = Path(tmp)
        build_bundled_twin(d / "venue.gpkg").close()
        with Twin.open(d / "venue.gpkg") as twin:
            editor = twin.tokens.create("bench.editor", "editor")
        log = d / "server.log"
        with served(d / "venue.gpkg", args.timeout, log) as url:
            port = int(url.rsplit(":", 1)[1])
            read_url = url + "/collections/halls/items?limit=10"
            print(f"server: uvicorn + api.server protocol, 1 worker; header and body timeout {args.timeout:g} s")

            base: list[tuple[float, int, float]] = []
            stop = threading.Event()
            t = threading.Thread(target=read_latencies, args=(read_url, stop, base))
            t.start()
            time.sleep(3)
            stop.set()
            t.join()
            print(f"reads alone: {len(base)} in 3 s, {_ms([x for x, _, _ in base])}")

            t0 = time.monotonic()
            stalled = open_stalled(port, args.connections, editor)
            print(f"opened {args.connections} stalled connections in {time.monotonic() - t0:.2f} s "
                  f"({', '.join(KINDS)}; {args.connections // len(KINDS)} each)")  # fmt: skip
            during: list[tuple[float, int, float]] = []
            stop = threading.Event()
            reader = threading.Thread(target=read_latencies, args=(read_url, stop, during))
            reader.start()
            try:
                watch_closes(stalled, time.monotonic() + 2 * args.timeout + 30)
            finally:
                stop.set()
                reader.join()
                stalled.close_all()
            after = sorted(stalled.closed.values())
            print(f"closed by the server: {len(after)} of {args.connections}")
            for kind in KINDS:
                xs = sorted(v for i, v in stalled.closed.items() if stalled.kinds[i] == kind)
                answers = {stalled.answers.get(i, b"").split(b"\r\n", 1)[0].decode() or "(nothing)"
                           for i in stalled.closed if stalled.kinds[i] == kind}  # fmt: skip
                if xs:
                    print(f"  {kind:<22} {len(xs):>5} closed {xs[0]:.2f}–{xs[-1]:.2f} s after opening; "
                          f"answer: {', '.join(sorted(answers))}")  # fmt: skip
            for limit in (args.timeout + 1, args.timeout + 5, 2 * args.timeout + 5):
                print(f"  closed within {limit:g} s of opening: {sum(1 for x in after if x <= limit)}")
            ok = sum(1 for _, s, _ in during if s == 200)
            print(f"reads meanwhile: {len(during)} ({ok} answered 200), {_ms([x for x, _, _ in during])}")
            slow = [(x, at - t0) for x, _, at in during if x > 0.1]
            if slow:
                shown = ", ".join(f"{x * 1e3:.0f} ms at {a:.2f} s" for x, a in sorted(slow, key=lambda p: -p[0])[:5])
                print(
                    f"  reads over 100 ms: {len(slow)} (slowest: {shown}, counted from the opening of the stalled connections)"
                )

            print(f"urllib POST 25 MB with the editor's token: {post_with_urllib(url, 25_000_000, editor)}")
            print(f"urllib POST 25 MB anonymously: {post_with_urllib(url, 25_000_000)}")
            print(f"urllib POST 5 MB anonymously: {post_with_urllib(url, 5_000_000)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
