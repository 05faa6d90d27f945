"""Concurrent edits: C clients each PATCH their own feature of one layer, with If-Match, at once.

    python -m bench.concurrent_edits [--clients 8] [--edits 200] [--workers 2] [--layer halls]

The server is `uvicorn api.main:app` with W worker processes (2 by default, one per core) on a
fresh copy of the bundled venue twin. Each client is a thread with its own HTTP connection that
repeats: GET its feature (for the ETag), then PATCH the feature's `notes` with `If-Match`. No two
clients touch the same feature, so no write should conflict. Printed: successful writes,
conflicts (409/412), other errors, commits added (must equal the successful writes: no update
lost or doubled), features whose final value is not their client's last successful write, the
fsck result, and the write throughput. Exit status 1 when any of those is wrong.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import REPO, load, machine, print_load, print_machine


@dataclass
class ClientResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # the first few non-2xx answers, for the report
    last_written: str | None = None  # the notes of this client's last successful write
    write_seconds: list[float] = field(default_factory=list)


def edit_feature(base: str, token: str, layer: str, fid: str, client: int, edits: int, start: threading.Barrier,
                 deadline: float) -> ClientResult:  # fmt: skip
    """One client: read-then-PATCH its feature `edits` times (bounded by `deadline`, monotonic)."""
    out = ClientResult()
    url = f"{base}/collections/{layer}/items/{fid}"
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60) as http:
        start.wait()
        for k in range(edits):
            if time.monotonic() > deadline:
                out.errors.append("stopped at the time limit")
                break
            got = http.get(url)
            if got.status_code != 200:
                out.statuses[got.status_code] += 1
                out.errors.append(f"GET {got.status_code}: {got.text[:200]}")
                continue
            notes = f"client {client} edit {k}"
            t0 = time.perf_counter()
            r = http.patch(
                url,
                content=b'{"properties": {"notes": "%s"}}' % notes.encode(),
                headers={**auth, "Content-Type": "application/merge-patch+json", "If-Match": got.headers["etag"],
                         "X-Twin-Message": f"bench: {notes}"},
            )  # fmt: skip
            out.write_seconds.append(time.perf_counter() - t0)
            out.statuses[r.status_code] += 1
            if r.status_code == 204:
                out.last_written = notes
            elif len(out.errors) < 5:
                out.errors.append(f"PATCH {r.status_code}: {r.text[:200]}")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--edits", type=int, default=200, help="edits per client")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--layer", default="halls")
    ap.add_argument("--max-seconds", type=float, default=600, help="stop the clients after this long")
    args = ap.parse_args(argv)

    from layers.bundle import build_bundled_twin
    from twin import Twin

    print_machine(machine())
    print_load("before", load())
    with tempfile.TemporaryDirectory(prefix="venue-twin-edits-bench-") as tmp:
        store = Path(tmp) / "venue.gpkg"
        build_bundled_twin(store).close()
        with Twin.open(store) as twin:
            ids = twin.feature_ids(args.layer)[: args.clients]
            commits_before = twin.store.commit_count()
        if len(ids) < args.clients:
            print(f"layer {args.layer} has {len(ids)} features, fewer than {args.clients} clients", file=sys.stderr)
            return 2
        with Twin.open(store) as twin:
            token = twin.tokens.create("bench.editor", "editor")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "VENUE_TWIN_STORE": str(store)}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
            cwd=REPO, env=env,
        )  # fmt: skip
        try:
            _wait(base + "/conformance")
            print(f"\nserver: uvicorn, {args.workers} workers; {args.clients} clients x {args.edits} edits, "
                  f"each client PATCHing its own feature of {args.layer} with If-Match\n")  # fmt: skip
            barrier = threading.Barrier(args.clients + 1)
            deadline = time.monotonic() + args.max_seconds
            results: list[ClientResult | None] = [None] * args.clients

            def run(i: int) -> None:
                results[i] = edit_feature(base, token, args.layer, ids[i], i, args.edits, barrier, deadline)

            threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
            for th in threads:
                th.start()
            barrier.wait()
            t0 = time.perf_counter()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t0
            final = {fid: httpx.get(f"{base}/collections/{args.layer}/items/{fid}").json() for fid in ids}
        finally:
            server.terminate()
            server.wait(20)
        with Twin.open(store) as twin:
            commits_added = twin.store.commit_count() - commits_before
            problems = twin.fsck()

    done = [r for r in results if r is not None]
    statuses: Counter[int] = Counter()
    for r in done:
        statuses.update(r.statuses)
    successes = statuses[204]
    conflicts = statuses[409] + statuses[412]
    other = sum(n for code, n in statuses.items() if code not in (204, 409, 412)) + args.clients - len(done)
    lost = [fid for fid, r in zip(ids, results, strict=True)
            if r is None or final[fid]["properties"].get("notes") != r.last_written]  # fmt: skip
    lat = sorted(s for r in done for s in r.write_seconds)
    print(f"writes attempted:        {sum(statuses.values())}")
    print(f"successful (204):        {successes}")
    print(f"conflicts (409/412):     {conflicts}")
    print(f"other errors:            {other}")
    print(f"commits added:           {commits_added}  ({'equals' if commits_added == successes else 'DIFFERS FROM'} "
          f"the successful writes)")  # fmt: skip
    print(f"features not as last written: {len(lost)}{'  ' + ', '.join(lost) if lost else ''}")
    print(f"fsck:                    {'clean' if not problems else '; '.join(problems[:5])}")
    if lat:
        print(f"write latency:           p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
              f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.0f} ms")  # fmt: skip
    print(f"throughput:              {successes / elapsed:.0f} writes/s ({elapsed:.1f} s for all clients)")
    print_load("after", load(), own=1.0)
    shown = [e for r in done for e in r.errors]
    for e in shown[:5]:
        print(f"  {e}")
    if len(shown) > 5:
        print(f"  … and {len(shown) - 5} more")
    ok = conflicts == 0 and other == 0 and commits_added == successes and not lost and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
