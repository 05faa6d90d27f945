"""`venue-twin import --batch N`: a file too large to hold whole, read and committed N features at a time.

Each batch is one commit ("Import FILE into LAYER (upsert), batch k/n"), validated and written like
any import, so the twin never holds half a batch. A batch that fails (bad rows, a conflict) stops
the import with the usual exit code; the batches before it stay committed and the message says
how far the import got, so it can be resumed with an upsert of the same file.
"""

from __future__ import annotations

import math
from pathlib import Path

from twin import HEAD, Change, ValidationFailed
from twin.copies import carried_note, fields_differ, onto_head, read_schema
from twin.errors import NOTHING_CHANGES, Problem
from twin.gcpause import gc_paused


def import_batches(
    file: Path,
    layer: str,
    store: str | Path | None,
    crs: str | None,
    datum: str,
    id_field: str | None,
    source_layer: str | None,
    mode: str,
    message: str | None,
    author: str,
    batch: int,
    parent: str | None = None,
) -> None:
    import pyogrio

    from cli.main import (
        _errors,
        _open,
        _progress,
        copy_base,
        err,
        keep_whole_texts,
        out,
        overwrite_note,
        read_notes,
        stored_properties,
    )
    from layers.io import read_layer_batches

    twin = _open(store)
    done = unchanged = 0
    with twin, _progress() as progress:
        try:
            total: int | None = (
                int(pyogrio.read_info(str(file), layer=source_layer)["features"])
                if file.suffix.lower() != ".csv"
                else None
            )
        except Exception:  # noqa: BLE001 - the reader reports an unreadable file properly below
            total = None
        batches = math.ceil(total / batch) if total else None
        task = progress.add_task(f"importing {file.name}", total=total)
        op = "add" if mode == "add" else "upsert"
        counts = {"added": 0, "modified": 0}
        try:
            with _errors(str(file)):
                twin.layer(layer)  # an unknown layer is refused before the file is read
                base = copy_base(twin, file, source_layer, parent)  # every batch a part of that copy
                schema = read_schema(twin, layer, base)  # an export's columns are its version's fields
                across = base is not None and fields_differ(schema, twin.layer(layer))
                if across:
                    assert base is not None
                    err.print(carried_note(twin, layer, file.name, base))
                pieces = read_layer_batches(
                    file,
                    schema,
                    batch,
                    crs=crs,
                    datum=datum,  # type: ignore[arg-type]  # checked by the caller
                    id_field=id_field,
                    source_layer=source_layer,
                    generate_ids=(mode == "add"),
                    stored=stored_properties(twin, layer, base),
                )
                for k, result in enumerate(pieces, start=1):
                    read_notes(result, layer, file, columns=k == 1)
                    if not result.features:
                        continue
                    keep_whole_texts(twin, layer, file, result.features, base)
                    of = f"/{batches}" if batches else ""
                    try:
                        with gc_paused():  # the batch's objects live to its commit (twin.gcpause)
                            on: str | None = base or HEAD
                            if across:
                                assert base is not None
                                changes, on = onto_head(twin, layer, file.name, result.features, base, op)
                            else:
                                changes = [Change(layer, op, f.id, f) for f in result.features]  # type: ignore[arg-type]
                            if not changes:  # a copy carried over that gives every feature as it was
                                raise ValidationFailed([Problem("*", None, "nothing changes", NOTHING_CHANGES)])
                            info = twin.commit(
                                changes,
                                author=author,
                                message=(message or f"Import {file.name} into {layer} ({mode})") + f", batch {k}{of}",
                                parent=on,
                                copy_of_parent=base is not None,
                            )
                    except ValidationFailed as e:
                        if not e.nothing_changes:
                            raise
                        # Committed by an earlier run (an import resumed after a failed batch): skipped.
                        unchanged += len(result.features)
                    else:
                        c = info.counts.get(layer, {})
                        counts["added"] += c.get("added", 0)
                        counts["modified"] += c.get("modified", 0)
                        done += len(result.features)
                    progress.update(task, completed=done + unchanged)
        except BaseException:
            if done:
                err.print(f"{done:,} features of {file.name} in the batches before stay committed")
            raise
        head = twin.head()
        held = f"{unchanged:,} features already as given" if unchanged else ""
        if not done:
            out.print(
                f"nothing to commit: {layer} already holds every feature of {file.name} as given"
                f" (head {head.id[:12] if head else '-'})"
            )
            return
        out.print(
            f"committed {done:,} features in batches of {batch:,}: {layer} +{counts['added']} ~{counts['modified']} "
            f"(head {head.id[:12] if head else '-'}){'; ' + held if held else ''}"
        )
        overwrite_note(file, base, parent, counts["modified"])
