"""Diffs of ~100,000 changes on the big edited twin, and their GeoJSON encoding."""

from __future__ import annotations

import math
from typing import Any

from bench.cache import BigTwin
from bench.common import Result, repeat, timed

TARGET_S = 3.0


def _encode(entries: list[Any]) -> bytes:
    from twin.encoding import diff_feature_bytes, feature_collection

    return feature_collection(diff_feature_bytes(e.layer, e.kind, e.before, e.after) for e in entries)


def diff_pairs(meta: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(from ref, to ref, what changed in words, how many changes) of the big twin's diffs, each
    about N/10 (100,000 of 1M) changes apart."""
    add_n, big_n = meta["add_commit_features"], meta["big_modify_features"]
    small_n, small_k = meta["small_commit_features"], meta["small_commits"]
    # HEAD~50 is the big modification, HEAD~51 the last add commit; the edit commits after
    # HEAD~50 add up to about big_n modifications after k of them.
    k = min(math.ceil(big_n / small_n), small_k)
    return [
        (f"HEAD~{small_k + 2}", f"HEAD~{small_k + 1}", f"one commit of {add_n:,} adds", add_n),
        (f"HEAD~{small_k + 1}", f"HEAD~{small_k}", f"one commit of {big_n:,} modifications", big_n),
        (
            f"HEAD~{small_k}",
            f"HEAD~{small_k - k}" if small_k - k else "HEAD",
            f"{k} commits, {k * small_n:,} modifications",
            k * small_n,
        ),
    ]


def run(big: BigTwin, runs: int, log: Any = print) -> list[Result]:
    from twin import Twin

    pairs = diff_pairs(big.meta)
    size_base = f"{big.n:,}-feature layer"
    out: list[Result] = []
    twin = Twin.open(big.path)
    try:
        for a_name, b_name, what, changes in pairs:
            a, b = twin.resolve(a_name), twin.resolve(b_name)
            log(f"diff: {a_name}..{b_name} ({what}), {runs} runs")
            _, entries = timed(lambda a=a, b=b: twin.diff(a, b))  # warm-up, and the entries to encode
            kinds: dict[str, int] = {}
            for e in entries:
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
            size = f"{len(entries):,} entries ({changes:,} changes), {size_base}"
            d = repeat(lambda a=a, b=b: twin.diff(a, b), runs)
            enc_t, body = timed(lambda entries=entries: _encode(entries))
            e = [enc_t, *repeat(lambda entries=entries: _encode(entries), runs - 1)]
            both = repeat(lambda a=a, b=b: _encode(twin.diff(a, b)), runs)
            extra = {
                "refs": f"{a_name}..{b_name}",
                "entries": len(entries),
                "kinds": kinds,
                "geojson_bytes": len(body),
                "note": f"{a_name}..{b_name}",
            }
            out.append(
                Result(
                    "diff",
                    f"Twin.diff, {what}",
                    size,
                    d,
                    TARGET_S,
                    extra=extra,
                    profile=lambda a=a, b=b: twin.diff(a, b),
                )
            )
            out.append(
                Result(
                    "diff",
                    f"encode to FeatureCollection, {what}",
                    size,
                    e,
                    None,
                    extra={"geojson_bytes": len(body), "note": f"{len(body) / 1e6:.0f} MB of GeoJSON"},
                )
            )
            out.append(
                Result(
                    "diff",
                    f"Twin.diff + encode, {what}",
                    size,
                    both,
                    TARGET_S,
                    profile=lambda a=a, b=b: _encode(twin.diff(a, b)),
                )
            )
            # Newer to older: the same versions, roles swapped.
            r = repeat(lambda a=a, b=b: twin.diff(b, a), runs)
            out.append(Result("diff", f"Twin.diff reversed ({b_name}..{a_name}), {what}", size, r, TARGET_S))
            del entries, body
    finally:
        twin.close()
    return out
