"""A big commit streamed to its store: the adds' bytes are made a slice at a time while the store
writes the slices before (twin.core._STREAM_MIN). The same commit ids, versions and problems as
the commit made whole, and nothing written when anything fails part way."""

from __future__ import annotations

from typing import Any

import pytest
from store_contract import at, delete, full_state, gate, hall, record, upsert

import twin.core
from twin import Change, Twin, ValidationFailed
from twin.core import register_rule

TWIN_STORES = ("gpkg", "postgis")  # twin-level tests run on both stores (conftest.py)

# A tiny threshold and slice here, so that a commit of a few dozen changes streams in several slices.
STREAM_MIN, SLICE = 10, 4


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Streaming on for commits of ≥ STREAM_MIN changes, on every store; the sizes of the slices
    the stores were handed, so a test can tell the commit was streamed. The slices are encoded in
    this process (counted here); test_encode_worker.py has them encoded in a second one."""
    monkeypatch.setenv("VENUE_TWIN_ENCODE_WORKER", "0")
    monkeypatch.setattr(twin.core, "_STREAM_MIN", STREAM_MIN)
    monkeypatch.setattr(twin.core, "_STREAM_SLICE", SLICE)
    slices: list[int] = []
    encode = twin.core.encode_changes

    def counting(changes: Any) -> Any:
        slices.append(len(changes))
        return encode(changes)

    monkeypatch.setattr(twin.core, "encode_changes", counting)
    return slices


def stream_on(t: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(t.store, "streams_versions", True)


def first_import() -> list[Change]:
    return [
        *(hall(f"h{i:02d}", i - 10, 0, floors=i % 5 + 1) for i in range(20)),
        *(gate(f"g{i:02d}", i, 5, kind="north") for i in range(7)),
        *(record(f"p{i:02d}", name=f"project {i}") for i in range(5)),
    ]


def second_commit() -> list[Change]:
    """Adds, upserts that add, upserts that modify, an upsert that changes nothing, deletes."""
    return [
        *(hall(f"h{i:02d}", i - 10, 10, floors=2) for i in range(20, 32)),
        upsert("halls", "h40", hall("x", 25, 0).feature.geometry, code="H40"),  # type: ignore[union-attr]
        upsert("halls", "h03", hall("x", -7, 1).feature.geometry, code="H03", floors=9),  # type: ignore[union-attr]
        hall("h04", -6, 0, op="upsert", floors=5),  # as it is: no change
        gate("g01", 1, 6, op="modify", kind="south"),
        delete("gates", "g02"),
        delete("projects", "p04"),
        *(record(f"p{i:02d}", name=f"project {i}") for i in range(10, 14)),
    ]


def history(t: Twin) -> list[tuple[Any, ...]]:
    return [(c.id, c.seq, c.parent, c.counts) for c in reversed(t.log(100))]


def test_a_streamed_commit_has_the_id_versions_and_counts_of_the_commit_made_whole(
    make_twin, streaming: list[int], monkeypatch: pytest.MonkeyPatch
):
    whole, streamed = make_twin("whole"), make_twin("streamed")
    monkeypatch.setattr(whole.store, "streams_versions", False)
    stream_on(streamed, monkeypatch)
    for t in (whole, streamed):
        t.commit(first_import(), author="a", message="import", time=at(0))
        t.commit(second_commit(), author="a", message="survey", time=at(1))
    assert history(streamed) == history(whole)
    assert full_state(streamed) == full_state(whole)
    assert full_state(streamed, streamed.resolve("HEAD~1")) == full_state(whole, whole.resolve("HEAD~1"))
    for seq in (1, 2):
        key = lambda ch: (ch.layer, ch.feature_id)  # noqa: E731
        assert [(c.layer, c.op, c.feature_id, c.version and c.version.geojson) for c in
                sorted(streamed.store.changes_in(seq), key=key)] == \
               [(c.layer, c.op, c.feature_id, c.version and c.version.geojson) for c in
                sorted(whole.store.changes_in(seq), key=key)]  # fmt: skip
    counts = streamed.log(1)[0].counts
    assert counts["halls"] == {"added": 13, "modified": 1, "deleted": 0}
    assert streamed.count("halls") == 33 and streamed.count("gates") == 6 and streamed.count("projects") == 8
    # The whole twin encoded each commit at once (32 and 22 changes); the streamed one its first
    # import in slices of SLICE adds, and in the second its 5 other changes first, then 17 adds.
    assert streaming == [32, 22, *[SLICE] * 8, 5, SLICE, SLICE, SLICE, SLICE, 1]


def test_a_small_commit_is_not_streamed(make_twin, streaming: list[int], monkeypatch: pytest.MonkeyPatch):
    t = make_twin()
    stream_on(t, monkeypatch)
    t.commit(first_import()[: STREAM_MIN - 1], author="a", message="small", time=at(0))
    assert streaming == [STREAM_MIN - 1]  # encoded once, whole
    t.commit(first_import()[STREAM_MIN - 1 :], author="a", message="big", time=at(1))
    assert streaming[1:] == [SLICE] * ((32 - STREAM_MIN + 1) // SLICE) + [(32 - STREAM_MIN + 1) % SLICE]


def test_a_failure_in_a_late_slice_writes_nothing(make_twin, streaming: list[int], monkeypatch: pytest.MonkeyPatch):
    t = make_twin()
    stream_on(t, monkeypatch)
    t.commit(first_import()[:5], author="a", message="first", time=at(0))
    before = (history(t), full_state(t))
    encode = twin.core.encode_changes

    def failing(changes: Any) -> Any:
        if len(streaming) >= 3:
            raise RuntimeError("the encoder broke in the third slice")
        return encode(changes)

    monkeypatch.setattr(twin.core, "encode_changes", failing)
    with pytest.raises(RuntimeError, match="third slice"):
        t.commit(first_import()[5:], author="a", message="broken", time=at(1))
    assert (history(t), full_state(t)) == before
    monkeypatch.setattr(twin.core, "encode_changes", encode)
    info = t.commit(first_import()[5:], author="a", message="again", time=at(2))  # the store is usable
    assert info.seq == 2 and t.count("halls") == 20


def test_rules_and_codes_judge_the_streamed_adds(make_twin, streaming: list[int], monkeypatch: pytest.MonkeyPatch):
    t = make_twin()
    stream_on(t, monkeypatch)
    t.commit(first_import()[:3], author="a", message="first", time=at(0))
    clash = [*first_import()[3:], hall("h99", 9, 9, code="H00")]  # H00 names h00 already
    with pytest.raises(ValidationFailed, match="H00") as e:
        t.commit(clash, author="a", message="clash", time=at(1))
    assert [p.feature_id for p in e.value.problems] == ["h99"]

    seen: list[dict[str, Any]] = []

    def no_six_floors(tw: Twin, chs: Any, parent_seq: int, when: Any, author: str) -> list[Any]:
        seen.extend(ch.version.properties for ch in chs if ch.version is not None)
        return [twin.core.Problem("halls", ch.feature_id, "six floors") for ch in chs
                if ch.version is not None and ch.version.properties.get("floors") == 6]  # fmt: skip

    register_rule("test-no-six-floors", no_six_floors)
    from twin import LayerSchema

    halls = t.layer("halls")
    ruled = make_twin("ruled", schemas=[LayerSchema(**{**halls.__dict__, "rules": ("test-no-six-floors",)})])
    stream_on(ruled, monkeypatch)
    adds = [hall(f"h{i:02d}", i - 10, 0, floors=6 if i == 17 else 1) for i in range(20)]
    with pytest.raises(ValidationFailed, match="six floors"):
        ruled.commit(adds, author="a", message="ruled", time=at(0))
    assert len(seen) == 20 and ruled.head() is None
