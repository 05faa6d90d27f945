"""Many API processes on one store: the API keeps no state of its own.

Two separate API processes (each its own uvicorn, as behind a load balancer) serve ONE store. A
token made in the store after they started works on both; writers race through both; nothing is
lost (commits added == successful writes, each feature ends as its last successful write, every
successful write is in the feature's history), the loser of a real conflict gets 412 (or 409),
and fsck is clean.

Parametrised over the store: add a store kind to STORES (a builder returning the URL of a twin
holding the bundled venue) and to the fixture's params, e.g. at merge with the PostGIS store::

    STORES["postgis"] = lambda tmp, bundled: copied_to_fresh_database(bundled)  # copy_twin(bundled, dsn)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from api_server import LiveServer, bearer, build_venue, copy_store

from twin import Twin
from twin.copying import copy_twin

WRITERS_PER_SERVER, EDITS = 4, 8  # distinct features: 2 × 4 writers × 8 edits
SAME_PER_SERVER, SAME_EDITS = 2, 6  # one shared feature: 2 × 2 writers × 6 attempts
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_venue(tmp_path_factory.mktemp("many-bundled") / "venue.gpkg")


# kind -> (a temporary directory, the bundled twin file) -> the URL of a twin holding a copy of it
def _on_postgis(tmp: Path, bundled: Path) -> str:
    from conftest import postgis_url

    url = postgis_url()  # a fresh schema, dropped after the session
    copy_twin(bundled, url)
    return url


STORES: dict[str, Callable[[Path, Path], str]] = {
    "gpkg": lambda tmp, bundled: str(copy_store(bundled, tmp / "venue.gpkg")),
    "postgis": _on_postgis,
}


@pytest.fixture(params=sorted(STORES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path, bundled: Path) -> str:
    return STORES[request.param](tmp_path, bundled)


def test_two_api_processes_on_one_store_lose_nothing(store_url: str, tmp_path: Path) -> None:
    with Twin.open(store_url) as t:
        halls = t.feature_ids("halls")
        mine, shared = halls[: 2 * WRITERS_PER_SERVER], halls[2 * WRITERS_PER_SERVER]
        before = t.commit_count()
    servers = [LiveServer(store_url, tmp_path / f"server-{i}.log") for i in range(2)]
    try:
        # Made in the store after both processes started: neither keeps tokens of its own.
        with Twin.open(store_url) as t:
            token = t.tokens.create("race.editor", "editor")
        for s in servers:
            assert httpx.get(s.url + "/collections", headers=bearer(token), timeout=10).status_code == 200
        headers = {**bearer(token), "Content-Type": MERGE}
        results: list[tuple[str, int, str]] = []  # (feature, status, notes written)
        lock = threading.Lock()
        n_threads = 2 * (WRITERS_PER_SERVER + SAME_PER_SERVER)
        barrier = threading.Barrier(n_threads)

        def write(server: LiveServer, fid: str, label: str, edits: int) -> None:
            url = f"{server.url}/collections/halls/items/{fid}"
            with httpx.Client(timeout=120) as http:
                barrier.wait()
                for k in range(edits):
                    etag = http.get(url).headers["etag"]
                    notes = f"{label} edit {k}"
                    r = http.patch(url, json={"properties": {"notes": notes}}, headers={**headers, "If-Match": etag})
                    with lock:
                        results.append((fid, r.status_code, notes))

        threads = []
        for i, s in enumerate(servers):
            for j in range(WRITERS_PER_SERVER):
                fid = mine[i * WRITERS_PER_SERVER + j]
                threads.append(threading.Thread(target=write, args=(s, fid, f"{fid} via {i}", EDITS)))
            for j in range(SAME_PER_SERVER):
                threads.append(threading.Thread(target=write, args=(s, shared, f"shared {j} via {i}", SAME_EDITS)))
        for th in threads:
            th.start()
        for th in threads:
            th.join(600)
        assert not any(th.is_alive() for th in threads)

        statuses = Counter(status for _, status, _ in results)
        assert set(statuses) <= {204, 409, 412}, statuses
        ok = [(fid, notes) for fid, status, notes in results if status == 204]
        # Distinct features never conflict: every edit landed, and each hall is its writer's last edit.
        assert Counter(fid for fid, status, _ in results if fid != shared and status == 204) == Counter(
            {fid: EDITS for fid in mine}
        )
        for s in servers:  # both processes answer the same
            for fid in mine:
                got = httpx.get(f"{s.url}/collections/halls/items/{fid}", timeout=10).json()
                assert (
                    got["properties"]["notes"] == f"{fid} via {mine.index(fid) // WRITERS_PER_SERVER} edit {EDITS - 1}"
                )

        # A real conflict, deterministically: both processes hand out the same ETag; the first
        # write wins, the second (built on what is no longer there) is refused.
        url_a, url_b = (f"{s.url}/collections/halls/items/{shared}" for s in servers)
        etag_a, etag_b = httpx.get(url_a).headers["etag"], httpx.get(url_b).headers["etag"]
        assert etag_a == etag_b
        first = httpx.patch(url_a, json={"properties": {"notes": "first"}}, headers={**headers, "If-Match": etag_a})
        second = httpx.patch(url_b, json={"properties": {"notes": "second"}}, headers={**headers, "If-Match": etag_b})
        assert first.status_code == 204, first.text
        assert second.status_code in (409, 412), second.text
        ok.append((shared, "first"))
        final_b = httpx.get(url_b, timeout=10).json()["properties"]["notes"]
    finally:
        for s in servers:
            s.stop()

    with Twin.open(store_url) as t:
        assert t.commit_count() - before == len(ok)  # one commit per successful write, no more
        assert t.fsck() == []
        # Every successful write of the shared hall is in its history, in commit order, and the
        # hall is as the last of them left it.
        history = [orjson.loads(h.geojson)["properties"]["notes"] for h in t.history("halls", shared) if h.geojson]
        written = [notes for fid, notes in ok if fid == shared]
        assert sorted(history[-len(written) :]) == sorted(written)
        assert history[-1] == final_b == "first"
