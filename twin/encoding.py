"""Canonical encodings: a feature version's GeoJSON and a commit's content id.

A feature version never changes once committed, so its GeoJSON is encoded here once, at commit
time, and every read afterwards is a concatenation of stored bytes. The same canonical bytes
feed the commit id, so `fsck` can recompute every id from what is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import shapely

from twin.model import SCHEMA_ID, Change, CommitInfo, EncodedFeature, StoredChange

COMMIT_ID_VERSION = b"venue-twin commit v1\n"


def encode_properties(properties: dict[str, Any]) -> bytes:
    return orjson.dumps(properties, option=orjson.OPT_SORT_KEYS)


def feature_bytes(feature_id: str, geometry_json: bytes, properties_json: bytes) -> bytes:
    # Keys in sorted order (geometry, id, properties, type): the encoding is canonical.
    return b"".join(
        (
            b'{"geometry":',
            geometry_json,
            b',"id":',
            orjson.dumps(feature_id),
            b',"properties":',
            properties_json,
            b',"type":"Feature"}',
        )
    )


def encode_changes(changes: Sequence[Change]) -> list[EncodedFeature | None]:
    """Encode the features of many changes at once; None where a change is a delete.

    shapely's vectorised GeoJSON/WKB writers keep full double precision and are about ten
    times faster than going through `__geo_interface__` one feature at a time. What is left per
    feature is orjson for the properties and one bytes format (`feature_bytes`' layout) for the
    whole Feature; the arrays come back as Python lists first, since indexing a numpy array
    element by element costs more than the encoding.
    """
    idx = [i for i, c in enumerate(changes) if c.feature is not None]
    out: list[EncodedFeature | None] = [None] * len(changes)
    if not idx:
        return out
    geoms = [changes[i].feature.geometry for i in idx]  # type: ignore[union-attr]
    gj = shapely.to_geojson(geoms).tolist()
    wkb = shapely.to_wkb(geoms, output_dimension=2).tolist()
    bounds = shapely.bounds(geoms).tolist()
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    for i, g, w, box in zip(idx, gj, wkb, bounds, strict=True):
        ch = changes[i]
        props = ch.feature.properties  # type: ignore[union-attr]
        props_json = dumps(props, option=sort_keys)
        out[i] = EncodedFeature(
            ch.layer,
            ch.feature_id,
            _FEATURE % (g.encode() if g is not None else b"null", dumps(ch.feature_id), props_json),
            w,
            None if w is None else tuple(box),
            props,
            props_json.decode(),
        )
    return out


_FEATURE = b'{"geometry":%b,"id":%b,"properties":%b,"type":"Feature"}'  # feature_bytes' layout, for a format


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds, the one form times are hashed and stored in."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def commit_id(
    parent: str | None,
    author: str,
    message: str,
    time: datetime,
    changes: Iterable[tuple[str, str, str, bytes | None]],
) -> str:
    """SHA-256 over the parent id, the commit's metadata and its changes in canonical order.

    `changes` are (layer, op, feature_id, geojson-or-None); they are sorted here so the id
    does not depend on the order a writer listed them in.
    """
    h = hashlib.sha256(COMMIT_ID_VERSION)
    h.update((parent or "").encode() + b"\n")
    h.update(encode_properties({"author": author, "message": message, "time": format_time(time)}) + b"\n")
    for layer, op, fid, gj in sorted(changes, key=lambda c: (c[0], c[2])):
        digest = hashlib.sha256(gj).hexdigest() if gj is not None else "-"
        h.update(f"{op}\t{layer}\t{fid}\t{digest}\n".encode())
    return h.hexdigest()


def stored_commit_id(
    parent: str | None, author: str, message: str, time: datetime, changes: Sequence[StoredChange]
) -> str:
    return commit_id(
        parent,
        author,
        message,
        time,
        ((c.layer, c.op, c.feature_id, c.version.geojson if c.version else None) for c in changes),
    )


def counts_of(changes: Iterable[StoredChange]) -> dict[str, dict[str, int]]:
    """Per layer: features added, modified and deleted; a layer whose schema changed (or that was
    created) also has "schema": 1, under the layer's own name, so whoever may not see the layer
    does not see its schema change either."""
    counts: dict[str, dict[str, int]] = {}
    names = {"add": "added", "modify": "modified", "delete": "deleted"}
    for c in changes:
        per = counts.setdefault(c.layer, {"added": 0, "modified": 0, "deleted": 0})
        if c.feature_id == SCHEMA_ID:
            per["schema"] = per.get("schema", 0) + 1
        else:
            per[names[c.op]] += 1
    return counts


def feature_collection(features: Iterable[bytes], extra: dict[str, Any] | None = None) -> bytes:
    """A FeatureCollection made by joining stored feature bytes; `extra` adds top-level members."""
    head = b'{"type":"FeatureCollection"'
    if extra:
        head += b"," + orjson.dumps(extra)[1:-1]
    return head + b',"features":[' + b",".join(features) + b"]}"


def commit_from_row(row: tuple[Any, ...]) -> CommitInfo:
    """A commit from a stored row (seq, id, parent, author, message, time, counts), as every store keeps it."""
    seq, cid, parent, author, message, time, counts = row
    return CommitInfo(cid, seq, parent, author, message, parse_time(time), orjson.loads(counts))


def commit_json(c: CommitInfo) -> bytes:
    return orjson.dumps(c.to_dict())


def diff_feature_bytes(layer: str, kind: str, before: bytes | None, after: bytes | None) -> bytes:
    """A diff entry as a GeoJSON Feature: the new version (or the old one when deleted), marked
    with `twin:layer` and `twin:change`; a modified feature also carries `twin:before`
    (the previous geometry and properties)."""
    base = after if after is not None else before
    assert base is not None
    extra: dict[str, Any] = {"twin:layer": layer, "twin:change": kind}
    if kind == "modified" and before is not None:
        old = orjson.loads(before)
        extra["twin:before"] = {"geometry": old["geometry"], "properties": old["properties"]}
    # Stored feature bytes are a JSON object: splice the members in before its closing brace.
    return base[:-1] + b"," + orjson.dumps(extra)[1:-1] + b"}"
