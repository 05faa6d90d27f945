"""Canonical encodings: a feature version's GeoJSON and a commit's content id.

A feature version never changes once committed, so its GeoJSON is encoded here once, at commit
time, and every read afterwards is a concatenation of stored bytes. The same canonical bytes
feed the commit id, so `fsck` can recompute every id from what is stored.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import is_, itemgetter
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
    feature is orjson for the properties and one text format (`feature_bytes`' layout) for the
    whole Feature; the arrays come back as Python lists first, since indexing a numpy array
    element by element costs more than the encoding, and each column is read off the changes by
    one comprehension (or map) rather than attribute by attribute in one loop.
    """
    out: list[EncodedFeature | None] = [None] * len(changes)
    feats = [c.feature for c in changes]
    if any(map(is_, feats, repeat(None))):
        idx = [i for i, f in enumerate(feats) if f is not None]
        if not idx:
            return out
        changes = [changes[i] for i in idx]
        feats = [feats[i] for i in idx]
    else:
        idx = None
    layers = [c.layer for c in changes]
    fids = [c.feature_id for c in changes]
    props = [f.properties for f in feats]  # type: ignore[union-attr]
    # Polygons are stored with RFC 7946's winding (exterior counter-clockwise, holes clockwise),
    # whatever the source wrote: GeoJSON readers may rely on it, and a layer that went out as a
    # Shapefile (which winds the other way) and came back unedited is then the same layer.
    geoms = shapely.orient_polygons([f.geometry for f in feats], exterior_cw=False)  # type: ignore[union-attr]
    gj = shapely.to_geojson(geoms).tolist()
    if any(map(is_, gj, repeat(None))):  # a record without geometry
        gj = ["null" if g is None else g for g in gj]
    wkb = shapely.to_wkb(geoms, output_dimension=2).tolist()
    boxes: list[tuple[float, float, float, float] | None] = list(zip(*shapely.bounds(geoms).T.tolist(), strict=True))
    if any(map(is_, wkb, repeat(None))):  # no geometry: no box
        boxes = [None if w is None else b for w, b in zip(wkb, boxes, strict=True)]
    sort_keys = orjson.OPT_SORT_KEYS
    props_json = [orjson.dumps(p, option=sort_keys).decode() for p in props]
    if _plain_json_texts(fids):
        # each id's JSON is the id in quotes: written by the format itself
        text = [(_FEATURE_QUOTED_ID % row).encode() for row in zip(gj, fids, props_json, strict=True)]
    else:
        ids_json = [orjson.dumps(f).decode() for f in fids]
        text = [(_FEATURE_TEXT % row).encode() for row in zip(gj, ids_json, props_json, strict=True)]
    encoded = list(map(EncodedFeature, layers, fids, text, wkb, boxes, props, props_json))
    if idx is None:
        return encoded  # type: ignore[return-value]
    for i, e in zip(idx, encoded, strict=True):
        out[i] = e
    return out


# feature_bytes' layout, as text formats (the whole Feature is encoded to UTF-8 at once)
_FEATURE_TEXT = '{"geometry":%s,"id":%s,"properties":%s,"type":"Feature"}'
_FEATURE_QUOTED_ID = '{"geometry":%s,"id":"%s","properties":%s,"type":"Feature"}'


def _plain_json_texts(values: list[Any]) -> bool:
    """Whether every value is text whose JSON (orjson's) is the text itself in quotes: nothing in
    it is escaped. Decided by one orjson call over all of them: an escape only ever lengthens a
    string's JSON, so the two are equal only if no value needed one."""
    try:
        return orjson.dumps(values) == ('["' + '","'.join(values) + '"]').encode()
    except (TypeError, UnicodeEncodeError, orjson.JSONEncodeError):  # not all text, or not encodable
        return False


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
    does not depend on the order a writer listed them in. One line per change is hashed: the
    change and the SHA-256 of its bytes (`version_digest`).
    """
    return commit_id_of_digests(
        parent, author, message, time, [(layer, op, fid, version_digest(gj)) for layer, op, fid, gj in changes]
    )


def version_digest(geojson: bytes | None) -> str:
    """What a commit id hashes of one version's bytes ("-" for a delete)."""
    return hashlib.sha256(geojson).hexdigest() if geojson is not None else "-"


def commit_id_of_digests(
    parent: str | None, author: str, message: str, time: datetime, changes: list[tuple[str, str, str, str]]
) -> str:
    """commit_id from (layer, op, feature_id, version_digest) rows: a streamed commit hashes each
    slice's versions while the store writes the slice before, and only sorts and joins here."""
    h = hashlib.sha256(COMMIT_ID_VERSION)
    h.update((parent or "").encode() + b"\n")
    h.update(encode_properties({"author": author, "message": message, "time": format_time(time)}) + b"\n")
    # Within one layer, (layer, id) order is id order: sorting by the id alone makes no key tuple
    # per change (100,000 changes in no order: 0.04 s instead of 0.14 s). The lines are joined and
    # hashed in one update (the same bytes as one update per line).
    key = _ID if len(set(map(_LAYER, changes))) <= 1 else _LAYER_AND_ID
    h.update("".join([f"{op}\t{layer}\t{fid}\t{digest}\n" for layer, op, fid, digest in sorted(changes, key=key)]).encode())
    return h.hexdigest()


_LAYER, _ID, _LAYER_AND_ID = itemgetter(0), itemgetter(2), itemgetter(0, 2)


def stored_commit_id(
    parent: str | None,
    author: str,
    message: str,
    time: datetime,
    changes: Sequence[StoredChange],
    digests: Sequence[str] | None = None,
) -> str:
    """commit_id of stored changes; `digests`, when given, are their versions' `version_digest`s,
    made earlier."""
    if digests is None:
        sha256 = hashlib.sha256  # inline, not version_digest: a call per version is 15 ms per 100,000
        digests = [sha256(v.geojson).hexdigest() if v is not None else "-" for v in [c.version for c in changes]]
    return commit_id_of_digests(
        parent,
        author,
        message,
        time,
        list(
            zip(
                [c.layer for c in changes],
                [c.op for c in changes],
                [c.feature_id for c in changes],
                digests,
                strict=True,
            )
        ),
    )


def counts_of(changes: Iterable[StoredChange]) -> dict[str, dict[str, int]]:
    """Per layer: features added, modified and deleted; a layer whose schema changed (or that was
    created) also has "schema": 1, under the layer's own name, so whoever may not see the layer
    does not see its schema change either."""
    counts: dict[str, dict[str, int]] = {}
    names = {"add": "added", "modify": "modified", "delete": "deleted"}
    # Counted per (layer, op, schema or not) in C; layers in the order they first appear.
    for (layer, op, schema), n in Counter((c.layer, c.op, c.feature_id == SCHEMA_ID) for c in changes).items():
        per = counts.setdefault(layer, {"added": 0, "modified": 0, "deleted": 0})
        if schema:
            per["schema"] = per.get("schema", 0) + n
        else:
            per[names[op]] += n
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


def commit_row(c: CommitInfo, totals: dict[str, int]) -> tuple[Any, ...]:
    """The stored row of a commit: commit_from_row's columns and the layers' totals after it."""
    counts, totals_json = orjson.dumps(c.counts).decode(), orjson.dumps(totals).decode()
    return (c.seq, c.id, c.parent, c.author, c.message, format_time(c.time), counts, totals_json)


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
