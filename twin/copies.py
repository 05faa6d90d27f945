"""Bringing back a copy exported at an older version whose layer's fields have changed since.

An export records the version it was read at (layers.io.recorded_version) and its columns are that
version's fields. After a field was renamed, added or dropped, the copy is read with the fields of
then and carried to the head's here, through the Twin facade only; the feature-level merge rule is
Twin.commit's `copy_of_parent` (Kart's working copy), applied with the fields carried over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from twin.core import Twin
from twin.encoding import encode_changes
from twin.errors import Conflict, NotFound
from twin.model import Change, Feature, LayerSchema
from twin.schema import carried_fields
from twin.validation import check_changes


def read_schema(twin: Twin, layer: str, base: str | None) -> LayerSchema:
    """The fields to read a file with: the layer's as of the version the file is a copy of (`base`),
    since an export's columns are that version's fields (a field renamed since is under its old
    name there), else the head's."""
    head = twin.layer(layer)
    if base is None:
        return head
    try:
        return twin.layer(layer, twin.resolve(base))
    except NotFound:  # the layer came after that version: the file is another layer's
        return head


def fields_differ(a: LayerSchema, b: LayerSchema) -> bool:
    return [f.name for f in a.fields] != [f.name for f in b.fields]


def onto_head(
    twin: Twin, layer: str, file_name: str, features: Sequence[Feature], base: str, op: str, replace: bool = False
) -> tuple[list[Change], str | None]:
    """A copy of version `base`, read with the layer's fields as they were then (`read_schema`), as
    changes to the head, whose fields have changed since (renamed, added, dropped); and the head
    they were checked against, to commit on (a commit landing first is then a conflict).

    Kart's rule for a working copy, as Twin.commit's `copy_of_parent` applies it, with the fields
    carried over: a feature the file gives as it was at `base` is no change; one it changed is
    carried to the head's fields (`carried_fields`; a field added since keeps the head's value, as a
    column the file lacks does) and conflicts only if the twin changed it since in more than the
    carrying (a feature the rename rewrote is not changed since). Conflict names each feature and
    the fields changed on each side. `replace`: features the file lacks that it had at `base` are
    deleted, unless changed since."""
    then_ref = twin.resolve(base)
    old, new = twin.layer(layer, then_ref), twin.layer(layer)
    carried = carried_fields(old, new)
    added = [f.name for f in new.fields if f.name not in carried.values()]
    head = twin.head()
    given = [Change(layer, op, str(f.id), f) for f in features]  # type: ignore[arg-type]
    # checked and encoded against the fields the file was read with, as the commit would at `base`
    _, known = check_changes(given, {layer: old}, twin.area_of_interest)
    ids = [ch.feature_id for ch in known]
    then = twin.features_by_id(layer, ids, then_ref)
    now = twin.features_by_id(layer, ids)

    def carry(props: dict[str, Any]) -> dict[str, Any]:
        return {carried[k]: v for k, v in props.items() if k in carried}

    def since(was: bytes, is_: bytes) -> list[str]:
        """What the twin changed in a feature since `base`, beyond carrying its fields over."""
        a, b = orjson.loads(was), orjson.loads(is_)
        pa, pb = carry(a["properties"]), b["properties"]
        out = ["geometry"] if a.get("geometry") != b.get("geometry") else []
        return out + [k for k in sorted(set(pa) | (set(pb) - set(added))) if pa.get(k) != pb.get(k)]

    def same(feature: Feature, stored: bytes) -> bool:
        enc = encode_changes([Change(layer, "upsert", feature.id, feature)])[0]
        return enc is not None and enc.geojson == stored

    # one that cannot be looked up (an unusable id) goes on as given, for the commit to refuse by name
    looked = {id(ch) for ch in known}
    changes = [
        Change(layer, ch.op, ch.feature_id, Feature(ch.feature_id, ch.feature.geometry, carry(ch.feature.properties)))
        for ch in given
        if id(ch) not in looked and ch.feature is not None
    ]
    conflicts: list[str] = []
    for ch, enc in zip(known, encode_changes(known), strict=True):
        fid, was, is_ = ch.feature_id, then.get(ch.feature_id), now.get(ch.feature_id)
        if enc is None or was == enc.geojson:
            continue  # as the copy read it: no change
        mine = orjson.loads(enc.geojson)
        props = carry(mine["properties"])
        kept = orjson.loads(is_)["properties"] if is_ is not None else {}
        props.update({k: kept[k] for k in added if k in kept})
        feature = Feature(fid, ch.feature.geometry if ch.feature else None, props)
        if was is None and is_ is None:  # new in the file
            changes.append(Change(layer, ch.op, fid, feature))
        elif was is not None and is_ is not None and not (theirs := since(was, is_)):
            changes.append(Change(layer, ch.op, fid, feature))  # only the carrying touched it since
        elif is_ is not None and same(feature, is_):
            pass  # the same change on both sides
        elif was is None or is_ is None:
            conflicts.append(f"{layer}/{fid} was {'added' if was is None else 'deleted'} since")
        else:
            a, b = orjson.loads(was)["properties"], mine["properties"]
            ours = ["geometry"] if orjson.loads(was).get("geometry") != mine.get("geometry") else []
            ours += [carried.get(k, k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            conflicts.append(
                f"{layer}/{fid} changed since ({', '.join(theirs)}) and in {file_name} ({', '.join(ours) or 'as given'})"
            )
    if replace:
        keep = {str(f.id) for f in features}
        gone = [fid for fid in twin.feature_ids(layer) if fid not in keep]
        had = twin.features_by_id(layer, gone, then_ref)
        current = twin.features_by_id(layer, list(had))
        for fid, was in had.items():
            theirs = since(was, current[fid])
            if theirs:
                conflicts.append(f"{layer}/{fid} changed since ({', '.join(theirs)}) and deleted in {file_name}")
            else:
                changes.append(Change(layer, "delete", fid))
    if conflicts:
        shown = ", ".join(conflicts[:10]) + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
        raise Conflict(f"the twin moved on since {base[:12]}: {shown}; read again and retry")
    return changes, head.id if head else None


def carried_note(twin: Twin, layer: str, file_name: str, base: str) -> str:
    """What an import of a copy of `base` read differently since the layer's fields changed."""
    old, new = twin.layer(layer, twin.resolve(base)), twin.layer(layer)
    carried = carried_fields(old, new)
    parts = [f"{a} as {b}" for a, b in carried.items() if a != b]
    dropped = [f.name for f in old.fields if f.name not in carried]
    added = [f.name for f in new.fields if f.name not in carried.values()]
    if dropped:
        parts.append(f"{', '.join(dropped)} left out (dropped since)")
    if added:
        parts.append(f"{', '.join(added)} kept as the twin has {'it' if len(added) == 1 else 'them'} (added since)")
    return (
        f"note: {file_name} was exported at {base[:12]}, before {layer}'s fields changed: read with the fields "
        f"of then and carried over ({'; '.join(parts)})"
    )
