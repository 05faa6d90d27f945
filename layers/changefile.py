"""Change files: a GeoJSON FeatureCollection that describes one commit.

A change file is ordinary GeoJSON (QGIS opens it) with a few foreign members:

    {"type": "FeatureCollection",
     "twin:commit": {"author": "...", "message": "...", "time": "2026-07-01T09:00:00+08:00",
                     "parent": "<commit id, optional>"},
     "twin:crs": "EPSG:4549",              # optional; RFC 7946 lon/lat (CRS84) when absent
     "features": [
       {"type": "Feature", "id": "hall-1.1H", "twin:layer": "halls", "twin:op": "add",
        "geometry": {...}, "properties": {...}},
       {"type": "Feature", "id": "x", "twin:layer": "roads", "twin:op": "delete",
        "geometry": null, "properties": null}]}

`twin:op` is add, modify, upsert (the default) or delete. A diff (`venue-twin diff`, `/diff`) is a
change file too: its `twin:change` (added, modified, deleted) is the op that makes its `twin:from`
version into its `twin:to` one, and its `twin:from` is the parent it was written against, so a diff
from HEAD back to an older version, committed, undoes what came between. Not a layer's schema,
though: a diff spanning one (a layer created or altered between its versions, an entry `@schema`)
is refused whole, one problem per such layer saying what to do instead (`schema_change_said`), and
the diff says so as it is written (`diff_schema_notes`).
A record of a layer without geometry (the project register) has `"geometry": null`. The bundled venue history is a series
of such files, and `venue-twin commit FILE` applies one. A `parent` names the version the file
was written against: the file is applied on top of later commits that touched none of its
features (Twin.commit's rule), or only onto that very head with `--strict`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from layers.crs import parse_crs, to_storage
from layers.geojson import UnreadableGeometry, read_geometry
from twin.errors import BadInput, Problem, ValidationFailed
from twin.model import SCHEMA_ID, Change, DiffEntry, Feature

OPS = ("add", "modify", "upsert", "delete")
# A diff's marks (twin/model.py DiffEntry, as /diff writes them) and the op each stands for.
DIFF_OPS = {"added": "add", "modified": "modify", "deleted": "delete"}


@dataclass
class ChangeFile:
    changes: list[Change]
    author: str | None
    message: str | None
    # When the change was made (RFC 3339, with a zone). A commit records it only when asked to
    # (`venue-twin commit --original-dates`, Twin.commit's rule: never before the head, never in
    # the future); otherwise the commit is recorded now and the command says the time was not used.
    time: str | None
    parent: str | None

    @property
    def when(self) -> datetime | None:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00")) if self.time else None


def schema_change_said(
    layer: str, kind: str | None, frm: str, to: str, others: Collection[str], crs: str | None = None
) -> str:
    """Why an entry of a layer's schema (`@schema`) is not committed from a change file, and what to
    do instead: `kind` is the diff's mark of it (added, modified, deleted: from `frm` to `to`), None
    for an entry that is no diff's; `others` the layers of the file's other entries, whose schema
    did not change, for the diff that leaves this layer out (`crs`: the diff's twin:crs)."""
    if kind is None:
        return (
            f"a change file does not change a layer's schema (the id {SCHEMA_ID} is reserved for it): "
            f"create a layer with `venue-twin layer create`, change its schema with `venue-twin layer alter {layer}`"
        )
    if kind == "modified":
        what = f"the diff spans a change of the schema of layer {layer} (altered between {frm} and {to})"
        instead = (
            f"alter the layer with `venue-twin layer alter {layer} …` (`venue-twin layer show {layer} --version "
            f"{_arg(to)}` shows its schema at {to}), then diff again"
        )
    elif kind == "deleted":
        what = f"the diff spans the creation of layer {layer} (created between {to} and {frm}: it is not at {to})"
        instead = f"the twin has no command that removes a layer, so leave {layer} out"
    else:
        what = f"the diff spans the creation of layer {layer} (created between {frm} and {to}: it is not at {frm})"
        instead = (
            f"create it with `venue-twin layer create` (`venue-twin layer show {layer} --version {_arg(to)}` "
            "prints its schema as a file for it), then diff again"
        )
    text = f"{what}; schema changes are not committed from a change file: {instead}"
    if not others:
        return f"{text} (the diff changes no other layer)"
    flags = "".join(f" --layer {_arg(n)}" for n in sorted(others))
    crs_flag = f" --crs {_arg(crs)}" if crs else ""
    command = f"venue-twin diff {_arg(frm)} {_arg(to)}{flags}{crs_flag}"
    return f"{text}; `{command}` diffs only the layers whose schema did not change"


def diff_schema_notes(entries: Sequence[DiffEntry], frm: str, to: str, crs: str | None = None) -> list[str]:
    """A note for each layer whose schema a diff spans (created or altered between `frm` and `to`,
    as the caller named them): committed back, such a diff is refused, and what to do instead.
    `venue-twin diff` says them on stderr, `/diff` as its `twin:notes`, from the `entries` it
    writes (the caller's view's: a layer they may not see is in none of them, nor named here)."""
    kinds = {e.layer: e.kind for e in entries if e.feature_id == SCHEMA_ID}
    others = {e.layer for e in entries} - kinds.keys()
    return [
        f"{name}: {schema_change_said(name, kind, frm, to, others, crs)}; `venue-twin commit` refuses this diff"
        for name, kind in sorted(kinds.items())
    ]


def _arg(text: str) -> str:
    """A command's argument as a shell takes it: as it is when it needs no quotes (HEAD~1, a date)."""
    return text if re.fullmatch(r"[\w.:/+@=~-]+", text) and not text.startswith("~") else shlex.quote(text)


def read_change_file(path: str | Path) -> ChangeFile:
    path = Path(path)
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except orjson.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON ({e})") from None
    return parse_change_document(doc, source=str(path))


def parse_change_document(doc: Any, source: str = "change file") -> ChangeFile:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise BadInput(f"{source}: a change file is a GeoJSON FeatureCollection with a features list")
    meta = doc.get("twin:commit") or {}
    if not isinstance(meta, dict):
        raise BadInput(f"{source}: twin:commit must be an object")
    crs_text = doc.get("twin:crs")
    try:
        reproject = to_storage(parse_crs(crs_text)) if crs_text is not None else None
    except BadInput as e:
        raise BadInput(f"{source}: {e}") from None
    problems: list[Problem] = []
    changes: list[Change] = []
    # A layer's schema entry (a diff across a layer's creation or alteration): layer -> its diff mark
    # (None when no diff's), refused whole, one problem a layer, not as a feature with a reserved id.
    schemas: dict[str, str | None] = {}
    layers: set[str] = set()  # the layers of the other entries
    for i, f in enumerate(doc["features"]):
        where = f"feature #{i + 1}"
        if not isinstance(f, dict):
            problems.append(Problem("?", None, f"{source}: {where} is not an object"))
            continue
        layer = f.get("twin:layer")
        fid = f.get("id")
        op = f.get("twin:op", "upsert")
        marked = f.get("twin:change")
        if not isinstance(layer, str):
            problems.append(Problem("?", str(fid) if fid is not None else None, f"{source}: {where} has no twin:layer"))
            continue
        if fid is None or isinstance(fid, bool | dict | list):
            problems.append(Problem(layer, None, f"{source}: {where} has no id"))
            continue
        fid = str(fid)
        if fid == SCHEMA_ID:
            schemas.setdefault(layer, marked if isinstance(marked, str) and marked in DIFF_OPS else None)
            continue
        layers.add(layer)
        if marked is not None:
            # A diff's entry: its mark says what to do (a diff names no twin:op; one that does must agree).
            if not isinstance(marked, str) or marked not in DIFF_OPS:
                problems.append(Problem(layer, fid, f"twin:change {marked!r} is not one of {', '.join(DIFF_OPS)}"))
                continue
            if "twin:op" in f and f["twin:op"] != DIFF_OPS[marked]:
                why = f"twin:op {f['twin:op']!r} contradicts twin:change {marked!r} (which is {DIFF_OPS[marked]!r})"
                problems.append(Problem(layer, fid, why))
                continue
            op = DIFF_OPS[marked]
            if op == "delete":  # a diff's deleted entry carries what was deleted: nothing to hand on
                changes.append(Change(layer, "delete", fid, None))
                continue
        if op not in OPS:
            problems.append(Problem(layer, fid, f"twin:op {op!r} is not one of {', '.join(OPS)}"))
            continue
        if op == "delete":
            # A body on a delete is refused by the twin's validation (delete_with_feature), which
            # sees it only if it is handed on: null (or absent) geometry and properties are none.
            props = f.get("properties")
            body = f.get("geometry") or props
            changes.append(
                Change(
                    layer, "delete", fid, Feature(fid, None, props if isinstance(props, dict) else {}) if body else None
                )
            )
            continue
        try:
            geom = read_geometry(f["geometry"]) if f.get("geometry") else None
        except UnreadableGeometry as e:
            problems.append(Problem(layer, fid, f"{where}: unreadable geometry: {e}"))
            continue
        # A null geometry is a record of a non-spatial layer (e.g. the project register); for a
        # spatial layer the twin's validation refuses it ("no geometry") when the file is committed.
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            problems.append(Problem(layer, fid, "properties must be an object"))
            continue
        changes.append(Change(layer, op, fid, Feature(fid, geom, props)))
    if schemas:
        ends = [v[:12] if isinstance(v := doc.get(k), str) else k[5:].upper() for k in ("twin:from", "twin:to")]
        crs = crs_text if isinstance(crs_text, str) else None
        said = [
            Problem(name, None, schema_change_said(name, kind, ends[0], ends[1], layers - schemas.keys(), crs))
            for name, kind in sorted(schemas.items())
        ]
        problems[:0] = said
    if problems:
        raise ValidationFailed(problems)
    if not changes:
        raise BadInput(f"{source}: no changes")
    if reproject is not None:  # every geometry of the file in one vectorised pass
        spatial = [c.feature for c in changes if c.feature is not None and c.feature.geometry is not None]
        for feature, geom in zip(spatial, reproject([f.geometry for f in spatial]), strict=True):
            feature.geometry = geom
    time = meta.get("time")
    if time is not None:
        try:
            when = datetime.fromisoformat(str(time).replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"{source}: twin:commit.time {time!r} is not an RFC 3339 timestamp") from None
        if when.tzinfo is None:
            raise BadInput(f"{source}: twin:commit.time {time!r} has no time zone; add Z or +08:00")
    parent = meta.get("parent")
    if parent is None and isinstance(doc.get("twin:from"), str) and any("twin:change" in f for f in doc["features"]):
        parent = doc["twin:from"]  # a diff was written against its older side
    return ChangeFile(changes, meta.get("author"), meta.get("message"), time, parent)
