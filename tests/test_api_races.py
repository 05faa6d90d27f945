"""What the losing request of a write race answers, over HTTP, on the test store (the GeoPackage,
or PostGIS with VENUE_TWIN_TEST_STORE=postgis: the same answers on both).

Both requests read the head (and the feature, and check If-Match) before either commits, then
commit in a chosen order, so every run is the same race. The store contract
(tests/store_contract.py) decides what the loser's commit raises; these hold the API to the status
each becomes: a PUT whose feature a DELETE removed meanwhile is 404 with or without If-Match (the
feature is not there, and RFC 9110 13.2.1 puts that before the precondition); a DELETE whose If-Match
a PUT made stale is 412; a POST whose id or code another POST took is 409 (test_api_edits).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_server import bearer, build_venue, copy_store, make_tokens, problem_of
from deadlines import THREAD, join_all
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from twin import Twin
from twin.stores import open_store

FID = "hall-1.1H"
ITEM = f"/collections/halls/items/{FID}"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    store = build_venue(tmp_path_factory.mktemp("api-races") / "venue.gpkg")
    return store, make_tokens(store)


class InTurn(Twin):
    """A twin whose first two commits wait until both have come (each request read the head before
    either moved it), then land in turn: the one `first` picks, then the other. Later commits (a
    loser's retry on the new head) go straight through."""

    def __init__(self, store: Any, first: Callable[[Any], bool]):
        super().__init__(open_store(store))
        self.first = first
        self.meet = threading.Barrier(2, timeout=THREAD)  # a broken barrier fails the test
        self.landed = threading.Event()
        self.lock = threading.Lock()
        self.racing = 2

    def commit(self, changes: Any, **kw: Any) -> Any:  # type: ignore[override]
        with self.lock:
            racing, self.racing = self.racing > 0, self.racing - 1
        if not racing:
            return super().commit(changes, **kw)
        self.meet.wait()
        if self.first(changes):
            try:
                return super().commit(changes, **kw)
            finally:
                self.landed.set()
        assert self.landed.wait(THREAD), "the first commit never landed"
        return super().commit(changes, **kw)


def _race(twin: InTurn, requests: list[Callable[[TestClient], Any]]) -> list[Any]:
    got: list[Any] = [None] * len(requests)
    with TestClient(create_app(ApiSettings(store=twin.store.url), twin), raise_server_exceptions=False) as api:

        def run(i: int) -> None:
            got[i] = requests[i](api)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
        for th in threads:
            th.start()
        join_all(threads)
    return got


@pytest.mark.parametrize("if_match", [True, False], ids=["put-with-if-match", "put-without"])
def test_a_put_that_lost_to_a_delete_is_404(base: tuple[Any, dict[str, str]], tmp_path: Path, if_match: bool) -> None:
    store = copy_store(base[0], tmp_path / "venue.gpkg")
    editor = {**bearer(base[1]["editor"]), "Content-Type": "application/geo+json"}
    twin = InTurn(store, first=lambda changes: changes[0].op == "delete")
    try:
        with TestClient(create_app(ApiSettings(store=store), twin)) as api:
            r = api.get(ITEM)
            doc, etag = r.json(), r.headers["etag"]
            count = twin.commit_count()
        body = orjson.dumps({**doc, "properties": {**doc["properties"], "notes": "mine"}})
        put_headers = {**editor, "If-Match": etag} if if_match else editor
        deleted, put = _race(twin, [
            lambda api: api.delete(ITEM, headers={**editor, "If-Match": etag}),
            lambda api: api.put(ITEM, content=body, headers=put_headers),
        ])  # fmt: skip
        assert deleted.status_code == 204, deleted.text
        assert f"no feature '{FID}'" in problem_of(put, 404)["detail"]
        assert twin.commit_count() == count + 1 and twin.head().id == deleted.headers["x-twin-commit"]  # type: ignore[union-attr]
        assert twin.fsck() == []
    finally:
        twin.close()


def test_a_delete_that_lost_to_a_put_is_412(base: tuple[Any, dict[str, str]], tmp_path: Path) -> None:
    store = copy_store(base[0], tmp_path / "venue.gpkg")
    editor = {**bearer(base[1]["editor"]), "Content-Type": "application/geo+json"}
    twin = InTurn(store, first=lambda changes: changes[0].op != "delete")
    try:
        with TestClient(create_app(ApiSettings(store=store), twin)) as api:
            r = api.get(ITEM)
            doc, etag = r.json(), r.headers["etag"]
            count = twin.commit_count()
        body = orjson.dumps({**doc, "properties": {**doc["properties"], "notes": "mine"}})
        deleted, put = _race(twin, [
            lambda api: api.delete(ITEM, headers={**editor, "If-Match": etag}),
            lambda api: api.put(ITEM, content=body, headers={**editor, "If-Match": etag}),
        ])  # fmt: skip
        assert put.status_code == 204, put.text
        assert "changed since that ETag was read" in problem_of(deleted, 412)["detail"]
        assert twin.commit_count() == count + 1
        assert orjson.loads(twin.feature("halls", FID))["properties"]["notes"] == "mine"
        assert twin.fsck() == []
    finally:
        twin.close()
