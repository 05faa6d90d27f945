"""The venue twin as QGIS shows it: layer styles with project features coloured by completion status
as of the head, and a project framed and stacked like the completion map.

Registered with `twin.core.register_presenter` (completion/__init__.py), so the Twin rewrites the
GeoPackage's `layer_styles` and `qgis_projects` after each commit; a twin without the venue
layers gets nothing.
"""

from __future__ import annotations

from dataclasses import replace

from completion.register import LAYER as REGISTER
from completion.snapshot import Completion
from completion.status import STATUS_COLOURS, STATUS_LABELS, STATUSES
from layers.catalogue import LAYERS_BY_NAME
from layers.qgis_styles import BASE_STYLES, STACK, highlight_symbol
from twin.core import SHANGHAI, Twin
from twin.errors import TwinError
from twin.model import CommitInfo
from twin.qgis import LayerStyle, Presentation, Rule
from twin.schema import renamed_fields

PROJECT_NAME = "venue-completion"
PROJECT_TITLE = "进博会场馆保障工程完成情况 CIIE venue preparation: completion"
MARGIN = 0.002  # degrees round the venue (about 200 m), as the map's padding


def head_statuses(twin: Twin) -> tuple[dict[str, str], str | None]:
    """ "layer/feature_id" → status of the projects covering it, as of the head (and the head's day)."""
    head = twin.head()
    names = {s.name for s in twin.layers()}
    if head is None or REGISTER not in names:
        return {}, None
    snap = Completion(twin).at(version=head.id)
    return snap.feature_statuses(), snap.on.isoformat()


def venue_styles(twin: Twin, statuses: dict[str, str]) -> list[LayerStyle]:
    """A style for each venue layer the twin holds: one of that name with every field its style reads
    (a field renamed since the catalogue's schema, `venue-twin layer alter --rename-field`, by its
    new name: the stored style filtered on the old one, and QGIS drew none of the layer)."""
    schemas = {s.name: s for s in twin.layers() if s.spatial}
    out: list[LayerStyle] = []
    for name in STACK:
        if name not in schemas:
            continue
        renamed = renamed_fields(LAYERS_BY_NAME[name], schemas[name])
        base = BASE_STYLES[name].with_fields_renamed({old: new for new, old in renamed.items()})
        if not base.fields() <= {f.name for f in schemas[name].fields}:
            continue
        by_status: dict[str, list[str]] = {}
        for key, status in statuses.items():
            layer, _, fid = key.partition("/")
            if layer == name:
                by_status.setdefault(status, []).append(fid)
        highlights = tuple(
            Rule(
                f"{STATUS_LABELS[st][0]} {STATUS_LABELS[st][1]}",
                highlight_symbol(name, STATUS_COLOURS[st]),
                "feature_id",
                tuple(sorted(by_status[st])),
            )
            for st in STATUSES
            if st in by_status
        )
        out.append(replace(base, highlights=highlights))
    return out


def shows_commit(twin: Twin, commit: CommitInfo) -> bool:
    """Whether a commit can change the presentation: the register (statuses), the boundary (the
    project's frame), a schema, features added or deleted, or a new day (statuses are as of the
    head's day). Edits of existing features on the same day cannot."""
    for layer, counts in commit.counts.items():
        if (
            layer in (REGISTER, "venue_boundary")
            or counts.get("schema")
            or counts.get("added")
            or counts.get("deleted")
        ):
            return True
    if commit.parent is None:
        return True
    before = twin.resolve(commit.parent).commit
    return before is None or before.time.astimezone(SHANGHAI).date() != commit.time.astimezone(SHANGHAI).date()


def present_venue(twin: Twin) -> Presentation | None:
    """The venue's presentation at the head, or None for a twin without the venue layers."""
    if not venue_styles(twin, {}):
        return None
    try:
        statuses, day = head_statuses(twin)
    except TwinError:  # a register that cannot be read yet: styles without status colours
        statuses, day = {}, None
    styles = venue_styles(twin, statuses)
    boxes = [b for b in (twin.extent(s.layer) for s in styles if s.layer == "venue_boundary") if b] or [
        b for b in (twin.extent(s.layer) for s in styles) if b
    ]
    if boxes:
        x0, y0 = min(b[0] for b in boxes) - MARGIN, min(b[1] for b in boxes) - MARGIN
        x1, y1 = max(b[2] for b in boxes) + MARGIN, max(b[3] for b in boxes) + MARGIN
    else:
        x0, y0, x1, y1 = twin.area_of_interest.bounds
    head = twin.head()
    return Presentation(
        styles=tuple(styles),
        project_name=PROJECT_NAME,
        project_title=PROJECT_TITLE,
        extent=(x0, y0, x1, y1),
        layer_order=tuple(reversed(STACK)),
        extra={"status_as_of": day or ""},
        made_at=head.id if head else "",
    )
