"""A streamed commit's adds encoded in a second, forked process (twin.encode_worker) while this one
writes: the same commit ids and versions as encoded here, the child really used, and a child that
fails or dies leaves the rest to this process, with the same result."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from store_contract import at, full_state, gate, hall
from test_streamed_commit import first_import, history, second_commit  # noqa: I001

import twin.core
from twin import Change, Twin

TWIN_STORES = ("gpkg", "postgis")  # twin-level tests run on both stores (conftest.py)

STREAM_MIN, SLICE = 10, 4


@pytest.fixture
def child_marks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Small streamed commits with the worker on; every slice encoded outside this process leaves
    a file named by its pid in the folder returned."""
    monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "1")
    monkeypatch.setattr(twin.core, "_STREAM_MIN", STREAM_MIN)
    monkeypatch.setattr(twin.core, "_STREAM_SLICE", SLICE)
    marks = tmp_path / "marks"
    marks.mkdir()
    me = os.getpid()
    encode = twin.core.encode_changes

    def marking(changes: Any) -> Any:
        if os.getpid() != me:
            (marks / f"{os.getpid()}-{changes[0].feature_id}").touch()
        return encode(changes)

    monkeypatch.setattr(twin.core, "encode_changes", marking)
    return marks


def big_import() -> list[Change]:
    return [*first_import(), *(hall(f"k{i:02d}", i - 10, 15, floors=3) for i in range(20))]


needs_cores = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 and os.environ.get("CI") != "true",
    reason="the worker is used only where a second CPU is free",
)


@needs_cores
def test_the_child_encodes_the_slices_and_the_commits_are_those_made_here(
    make_twin, child_marks: Path, monkeypatch: pytest.MonkeyPatch
):
    here, worker = make_twin("here"), make_twin("worker")
    for t in (here, worker):
        monkeypatch.setattr(t.store, "streams_versions", True)
    for t in (here, worker):
        if t is here:
            monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "0")
        else:
            monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "1")
        t.commit(big_import(), author="a", message="import", time=at(0))
        t.commit(second_commit(), author="a", message="survey", time=at(1))
    # 52 adds in slices of 4, then 17 in the second commit: each slice encoded by a child.
    pids = {p.name.split("-")[0] for p in child_marks.iterdir()}
    assert len(list(child_marks.iterdir())) == 13 + 5 and len(pids) == 2  # one child per commit
    assert history(worker) == history(here)
    assert full_state(worker) == full_state(here)
    assert worker.count("halls") == 53 and worker.count("gates") == 6


@needs_cores
@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_child_that_fails_leaves_the_rest_to_this_process(
    make_twin, child_marks: Path, monkeypatch: pytest.MonkeyPatch, how: str
):
    me = os.getpid()
    encode = twin.core.encode_changes

    def breaking(changes: Any) -> Any:
        if os.getpid() != me and len(list(child_marks.iterdir())) >= 3:
            if how == "dies":
                os._exit(9)  # as if the kernel had killed it
            raise MemoryError("the child ran out of memory")
        return encode(changes)

    monkeypatch.setattr(twin.core, "encode_changes", breaking)
    expected = make_twin("expected")
    monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "0")
    expected.commit(big_import(), author="a", message="import", time=at(0))
    t = make_twin("broken")
    monkeypatch.setattr(t.store, "streams_versions", True)
    monkeypatch.setattr(expected.store, "streams_versions", True)
    monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "1")
    t.commit(big_import(), author="a", message="import", time=at(0))
    assert len(list(child_marks.iterdir())) == 3  # the child did three slices, this process the rest
    assert history(t) == history(expected)
    assert full_state(t) == full_state(expected)


@needs_cores
def test_a_failure_while_the_child_encodes_writes_nothing_and_ends_the_child(
    make_twin, child_marks: Path, monkeypatch: pytest.MonkeyPatch
):
    t = make_twin()
    monkeypatch.setattr(t.store, "streams_versions", True)
    t.commit([gate("g99", 0, 9)], author="a", message="first", time=at(0))
    before = (history(t), full_state(t))
    apply_streamed = t.store.apply_streamed
    children: list[Any] = []

    def failing(parent: Any, changes: Any, added: Any, commit: Any) -> Any:
        def slices() -> Any:
            import multiprocessing

            for k, part in enumerate(added):
                children.extend(multiprocessing.active_children())
                if k == 2:
                    raise RuntimeError("the disk filled up in the third slice")
                yield part

        return apply_streamed(parent, changes, slices(), commit)

    monkeypatch.setattr(t.store, "apply_streamed", failing)
    with pytest.raises(RuntimeError, match="third slice"):
        t.commit(big_import(), author="a", message="broken", time=at(1))
    assert (history(t), full_state(t)) == before
    assert children and not any(c.is_alive() for c in children)  # the child was there, and is gone
    monkeypatch.setattr(t.store, "apply_streamed", apply_streamed)
    info = t.commit(big_import(), author="a", message="again", time=at(2))  # the store is usable
    assert info.seq == 2 and t.count("halls") == 40


@needs_cores
def test_a_store_that_fails_part_way_ends_a_child_still_encoding_at_once(
    make_twin, child_marks: Path, monkeypatch: pytest.MonkeyPatch
):
    """The store fails after the first slice while the child is at work on the next (here: stuck
    for ever): the child is ended before the failure reaches the caller, not when the collector
    (paused for a big commit) gets to the abandoned generator, holding the parent's descriptors
    meanwhile."""
    import multiprocessing
    import threading

    me = os.getpid()
    encode = twin.core.encode_changes
    calls: list[int] = []

    def stuck_after_one(changes: Any) -> Any:
        calls.append(1)
        if os.getpid() != me and len(calls) > 1:
            threading.Event().wait()  # the child never finishes its second slice
        return encode(changes)

    monkeypatch.setattr(twin.core, "encode_changes", stuck_after_one)
    t = make_twin()
    monkeypatch.setattr(t.store, "streams_versions", True)
    apply_streamed = t.store.apply_streamed
    children: list[Any] = []

    def failing(parent: Any, changes: Any, added: Any, commit: Any) -> Any:
        def slices() -> Any:
            parts = iter(added)
            yield next(parts)
            children.extend(multiprocessing.active_children())
            raise RuntimeError("the disk filled up after the first slice")

        return apply_streamed(parent, changes, slices(), commit)

    monkeypatch.setattr(t.store, "apply_streamed", failing)
    with pytest.raises(RuntimeError, match="first slice") as failed:
        t.commit(big_import(), author="a", message="broken", time=at(0))
        # (the assertions below run while `failed` holds the traceback and its frames)
    assert children and not any(c.is_alive() for c in children), children
    assert t.head() is None and failed.value is not None


@needs_cores
def test_a_geopackage_twin_written_in_slices_reads_whole(tmp_path: Path, child_marks: Path):
    """The GeoPackage store's own streamed writes (rows a slice at a time, its R-trees packed at the
    end): bbox reads, the mirror table a GIS opens and its extent hold every feature; fsck passes."""
    import pyogrio
    from store_contract import AOI, SCHEMAS, X0, Y0

    path = tmp_path / "sliced.gpkg"
    with Twin.create(path, SCHEMAS, AOI) as t:
        t.commit(big_import(), author="a", message="import", time=at(0))
        assert list(child_marks.iterdir())  # written as the child encoded it
        assert t.count("halls") == 40
        # Halls k00..k19 lie on y = 15 milli-degrees, x = -10..9: the box takes x -10.5..-5.5.
        near = (X0 - 0.0105, Y0 + 0.0145, X0 - 0.0055, Y0 + 0.0155)
        assert sorted(t.features("halls", bbox=near).feature_ids) == [f"k{i:02d}" for i in range(5)]
        assert t.fsck() == []
    mirror = pyogrio.read_dataframe(path, layer="halls", bbox=near)
    assert sorted(mirror["code"]) == [f"K{i:02d}" for i in range(5)]
    info = pyogrio.read_info(path, layer="halls", force_total_bounds=True)
    assert info["features"] == 40
    assert info["total_bounds"][3] == pytest.approx(Y0 + 0.016)
