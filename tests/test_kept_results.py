"""completion.cache.Kept: results of immutable inputs kept and made once, even when several requests
ask for the same one at once (a timeline step asks for its panel and five layers together)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from deadlines import join_all, wait_until

from completion.cache import Kept


def blocked_in_wait(thread: threading.Thread) -> bool:
    """Whether `thread` is waiting on a threading.Event or Condition now."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__:
            return True
        frame = frame.f_back
    return False


def ask_together(kept: Kept, make: Callable[[], Any], release: threading.Event, n: int = 6) -> list[Any]:
    """`n` threads ask `kept` for one key at once; `make` holds until `release`, which is set once
    every thread is waiting (in `make`, or for another thread's making)."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append(kept.made("2026-10-20", make))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(n)]
    for t in threads:
        t.start()
    wait_until(lambda: all(blocked_in_wait(t) for t in threads), "every asker waiting")
    release.set()
    join_all(threads)
    if errors:
        raise errors[0]
    return results


def test_a_result_asked_for_by_several_at_once_is_made_once() -> None:
    kept, release, calls = Kept(4), threading.Event(), []

    def make() -> object:
        calls.append(1)
        release.wait()
        return object()

    results = ask_together(kept, make, release)
    assert len(calls) == 1, f"made {len(calls)} times"
    assert len(results) == 6 and all(r is results[0] for r in results)
    assert kept.made("2026-10-20", make) is results[0] and len(calls) == 1  # kept


def test_a_failed_making_leaves_the_next_asker_to_try() -> None:
    kept, release, calls = Kept(4), threading.Event(), []

    def make() -> str:
        calls.append(1)
        release.wait()
        if len(calls) == 1:
            raise RuntimeError("the store went away")
        return "figures"

    with pytest.raises(RuntimeError, match="the store went away"):
        ask_together(kept, make, release)
    assert len(calls) == 2  # the first failed, the next asker made it, the other four took it
    assert kept.made("2026-10-20", make) == "figures" and len(calls) == 2


def test_a_maker_asking_for_its_own_key_makes_it_rather_than_wait_for_itself() -> None:
    kept = Kept(4)

    def outer() -> str:
        return "outer:" + kept.made("k", lambda: "inner")

    assert kept.made("k", outer) == "outer:inner"
