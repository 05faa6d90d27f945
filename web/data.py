"""What the maps draw, read through the twin's own queries.

Every feature a map draws comes from `twin.query.run_query`, the read path of the API's items
endpoint, with the same layer, version and bbox, so a map and an API call can never disagree;
changes come from `Twin.diff` (the API's /diff) and completion figures from
`completion.Completion` (the API's /completion). This module turns those answers into the
compact JSON the page script draws:

    {"numberMatched": n, "features": [{"id", "g": geometry, "c": style class, "p": properties,
                                       "l": label, "j": [project index], "r": [reason], ...}]}

Geometry can be simplified for the zoom it is drawn at (never to nothing: a feature is always
drawn) and, under a Chinese basemap, shifted to GCJ-02.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import numpy as np
import orjson
import shapely

from completion import Completion, Snapshot
from completion.cache import Kept
from completion.evidence import Evidence, snapshot_flags
from completion.landing import Landing, landing_date, season_of
from completion.percent import json_percent
from completion.register import LAYER as PROJECTS_LAYER
from completion.status import ProjectStatus
from layers.crs import gcj02_to_wgs84_geometries, wgs84_to_gcj02_geometries
from twin import BBox
from twin.core import Ref, TwinLike
from twin.errors import BadInput, NotFound
from twin.model import SCHEMA_ID, CommitInfo, LayerSchema, references_by_layer
from twin.query import FeatureQuery, run_query
from twin.schema import renamed_fields
from twin.surveys import is_survey_layer
from web import i18n

# Drawing order, bottom to top; layers not named here come after, in catalogue order.
LAYER_ORDER = ("venue_boundary", "halls", "south_plaza", "landscaping", "roads")
# How each layer is labelled on the maps: by code, by name, or by the name before its parenthesis
# (a road segment's label is its road: "Songze Avenue", not "Songze Avenue (Zhuguang Road – ...)").
LABELLED_LAYERS = {"halls": "code", "south_plaza": "name", "landscaping": "name", "roads": "short_name"}
SLIM_PROPERTIES = ("code", "name_zh", "name_en", "level")  # level: a hall popup says which floor
MAX_FEATURES = 250_000  # one map request never draws more; beyond it the page asks to zoom in
SIMPLIFY_MIN_COORDS = 24  # geometries with fewer coordinates are sent as stored


def spatial_layers(twin: TwinLike, ref: Ref | None = None) -> list[LayerSchema]:
    """The twin's layers with geometry (those the twin's view shows) now, or as of `ref` (a page of
    an earlier date draws the layers that existed then), in drawing order."""
    every = twin.layers(ref)
    # Survey layers hold raster footprints, not venue features (and may not exist at a past date).
    layers = [s for s in every if s.spatial and not is_survey_layer(s.name)]
    rank = {n: i for i, n in enumerate(LAYER_ORDER)}
    position = {s.name: i for i, s in enumerate(every)}
    return sorted(layers, key=lambda s: (rank.get(s.name, len(rank)), position[s.name]))


def changed_layer_names(twin: TwinLike, ref: Ref | None = None) -> list[str]:
    """The layers a change map compares as of `ref` (its later version; now by default): every venue
    layer and the register, not the survey layers (a new flight is a new picture of the venue, not a
    change to it)."""
    return [s.name for s in twin.layers(ref) if not is_survey_layer(s.name)]


def changes_a_shown_layer(commit: CommitInfo) -> bool:
    """Whether a commit changed a layer the change map compares (changed_layer_names): a survey
    import, which touches only the survey layers, did not."""
    return any(not is_survey_layer(name) for name in commit.counts)


def last_shown_changes(twin: TwinLike, upto: Ref, page: int = 200) -> tuple[list[CommitInfo], int]:
    """The last two commits at or before `upto` that changed a layer the change map compares,
    newest first (fewer when the history holds fewer), and how many commits after the newest of
    them (up to `upto`) changed none: survey imports. Reads the log back only as far as it must."""
    found: list[CommitInfo] = []
    after = offset = 0
    while len(found) < 2:
        commits = twin.log(page, offset)
        for c in commits:
            if c.seq > upto.seq:
                continue
            if changes_a_shown_layer(c):
                found.append(c)
                if len(found) == 2:
                    break
            elif not found:
                after += 1
        if len(commits) < page:
            break
        offset += page
    return found, after


def has_projects(twin: TwinLike) -> bool:
    try:
        twin.layer(PROJECTS_LAYER)
        return True
    except NotFound:
        return False


# ---------------------------------------------------------------------------- caches
# Results that depend only on immutable twin versions, each made once (completion.cache.Kept).
_snapshots = Kept(32)
_layer_checks = Kept(16)
_diffs = Kept(16)


def _twin_key(twin: TwinLike) -> tuple[Any, ...]:
    return twin.state_key()  # a view's key includes what it hides, so roles never share an answer


# ---------------------------------------------------------------------------- completion
@dataclass
class CompletionView:
    """A completion snapshot with what the maps need from it, computed once."""

    snapshot: Snapshot
    curve: list[Any]  # completion.snapshot.CurvePoint, overall
    membership: dict[str, list[int]] = field(default_factory=dict)  # "layer/id" -> indices into statuses
    worst: dict[str, str] = field(default_factory=dict)  # "layer/id" -> status
    flags: dict[str, Evidence] = field(default_factory=dict)  # project code -> imagery that disagrees with its report
    landing: Landing | None = None  # set when the date was chosen for the caller (completion.landing)

    _bounds: dict[str, list[float] | None] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)

    @property
    def on(self) -> date:
        return self.snapshot.on

    def project_bounds(self, twin: TwinLike, codes: Sequence[str]) -> dict[str, list[float] | None]:
        """The lon/lat extent of each project's features as of the snapshot (computed once per project)."""
        todo = [c for c in codes if c not in self._bounds]
        if todo:
            wanted = {s.project.code: s.project.features for s in self.snapshot.statuses if s.project.code in todo}
            boxes = feature_boxes(twin, [k for keys in wanted.values() for k in keys], self.snapshot.ref)
            for code, keys in wanted.items():
                self._bounds[code] = union_bounds(boxes[k] for k in keys if k in boxes)
        return {c: self._bounds.get(c) for c in codes}

    def index_of(self, code: str) -> int:
        if not self._index:  # a dict once, not a scan per call: the panel asks for each late project
            self._index.update((s.project.code, i) for i, s in enumerate(self.snapshot.statuses))
        return self._index[code]


def completion_view(twin: TwinLike, on: str | date | None = None, version: str | None = None) -> CompletionView | None:
    """The completion snapshot for a date (as `/completion` computes it), or None without a register."""
    if not has_projects(twin):
        return None

    def make() -> CompletionView:
        comp = Completion(twin)
        snap = comp.at(on, version)
        curve = comp.scurve(snap).get("overall", [])
        membership: dict[str, list[int]] = {}
        for i, s in enumerate(snap.statuses):
            for key in s.project.features:
                membership.setdefault(key, []).append(i)
        flags = snapshot_flags(twin, snap, version)
        return CompletionView(snap, curve, membership, snap.feature_statuses(), flags)

    day = on.isoformat() if isinstance(on, date) else on
    cache_key: tuple[Any, ...] = (_twin_key(twin), day, version)
    # No date, "today" and "T-30" (of the expo today is measured against) move with today: key the
    # cache on today's date too, so tomorrow gets a fresh snapshot.
    if (day is None and version is None) or (day is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)):
        from completion.snapshot import today_local

        cache_key += (today_local().isoformat(),)
    return _snapshots.made(cache_key, make)


def landed_view(twin: TwinLike, today: date | None = None) -> CompletionView | None:
    """The completion view of the date a map opens on when none is asked for: today, or the latest
    checkpoint with data (completion.landing.landing_date), marked with why; None without a register."""
    landing = landing_date(twin, today)
    view = completion_view(twin, landing.on)
    return None if view is None else replace(view, landing=landing)


def season_checkpoints(twin: TwinLike) -> list[Any]:
    """The checkpoints of the expo the project register prepares for, oldest first.

    That expo is the one today is measured against (completion.expo: the register's expo ahead of
    today, else its latest, so a season's timeline stays the same when it is looked back on a year
    later; VENUE_TWIN_EXPO_YEAR's if set). Checkpoints run every 10 days (VENUE_TWIN_CHECKPOINT_DAYS) back from opening day to the
    earliest planned start. Empty without a register.
    """
    return season_of(twin) if has_projects(twin) else []


def timeline_start(twin: TwinLike, days: Sequence[date], today: date | None = None) -> int:
    """The step a timeline of checkpoint `days` (oldest first) opens on: the current one (the last
    on or before the date a map lands on, completion.landing), and never one before the first that
    has projects (a register as of that day, one of its projects planned to have started)."""
    from completion.cache import register_state
    from completion.register import LAYER

    if not days or not has_projects(twin):
        return 0
    starts = sorted(p.planned_start for p in register_state(twin).projects())

    def has_started(day: date) -> bool:
        if not starts or starts[0] > day:
            return False
        try:
            return twin.count(LAYER, twin.resolve(asof=day.isoformat())) > 0
        except NotFound:  # the register's layer did not exist yet
            return False

    first = next((i for i, d in enumerate(days) if has_started(d)), 0)
    on = landing_date(twin, today).on
    current = max((i for i, d in enumerate(days) if d <= on), default=first)
    return max(first, current)


def forecast_passed(s: ProjectStatus) -> bool:
    """Whether the finish forecast from a project's latest report is before the date read while it
    is not done (the core's rule, ``ProjectStatus.forecast_passed``): its forecast is carried
    forward to the date read, and said so beside it."""
    return s.forecast_passed


def forecast_text(s: ProjectStatus, lang: str) -> str | None:
    """A project's forecast finish as every map surface words it (the popups, the late list, the
    project page): the date; one carried forward because the finish forecast from its latest report
    has gone by unreported, with that date ("2026-11-06 (forecast 2026-10-29 passed, not reported
    done)") before opening day, and after it "not reported done by opening day" (it missed it: a
    fact, as the briefing says it); None without one."""
    fc = s.forecast
    if fc.finish is None:
        return None
    if not forecast_passed(s) or fc.passed is None:
        return fc.finish.isoformat()  # a finish still ahead stays a forecast, after opening day too
    if fc.missed:
        return i18n.label(lang, "not_done_by_opening")
    return i18n.label(lang, "forecast_passed", date=fc.finish.isoformat(), was=fc.passed.isoformat())


def after_opening_words(s: ProjectStatus, lang: str, opening: date | None) -> str:
    """The flag beside a forecast finish after opening day: how many days after it that finish is
    ("17 days after opening day"), or just "after opening day" for a flagged forecast whose median
    finish is not after it (the flag is the chance of missing it) or without an opening day."""
    finish = s.forecast.finish
    if opening is not None and finish is not None and finish > opening:
        return i18n.label(lang, "after_opening_by", n=(finish - opening).days)
    return i18n.label(lang, "after_opening")


def project_table(view: CompletionView | None, lang: str) -> list[dict[str, Any]]:
    """The projects as the page script's popups show them, in the snapshot's order."""
    if view is None:
        return []
    out = []
    states = view.snapshot.report_states()
    for s in view.snapshot.statuses:
        p = s.project
        fc = s.forecast
        state = states[p.code]
        # carried forward from a forecast gone by: still a forecast with its chance (after opening
        # day, that it was not reported done by it)
        passed = forecast_passed(s)
        done = s.done_on
        out.append(
            {
                "code": p.code,
                "name": p.name_en if lang == "en" else p.name_zh,
                "unit": i18n.unit_name(lang, p.responsible_unit),
                "person": i18n.in_language(lang, p.responsible_person),
                "status": s.status,
                "actual": json_percent(s.percent),
                "planned": round(s.planned, 2),
                "planned_finish": p.planned_finish.isoformat(),
                # a project reported done: the day it was, instead of a forecast
                "done": i18n.label(lang, "done_reported", date=done.isoformat()) if done else None,
                "forecast": forecast_text(s, lang),
                # not reported done by a date after opening day: missed it (its basis says so), never
                # a chance of it ("100 % chance of missing opening day" read as still to come)
                "missed": fc.missed,
                "after_opening": False if passed and fc.missed else fc.after_opening,
                "after_opening_text": after_opening_words(s, lang, view.snapshot.opening),
                "p_late": None if fc.p_late is None or fc.missed else round(fc.p_late, 3),
                "forecast_low": fc.low.isoformat() if fc.low else None,
                "forecast_high": fc.high.isoformat() if fc.high else None,
                "days_late": s.days_late,
                "stale": state.stale,
                "last_report": state.last_report.isoformat() if state.last_report else None,
                "evidence": i18n.evidence_flag(lang, view.flags.get(p.code)) or None,
            }
        )
    return out


# ---------------------------------------------------------------------------- geometry helpers
def _tolerance(zoom: float | None, lat: float) -> float | None:
    """Half a screen pixel at `zoom`, in degrees (Web Mercator)."""
    if zoom is None:
        return None
    return 0.5 * 360.0 / (256.0 * 2.0**zoom) * max(math.cos(math.radians(lat)), 0.2)


def _count_coords(g: Any) -> int:
    c = g.get("coordinates") if isinstance(g, dict) else None
    if c is None:
        return 0 if not isinstance(g, dict) or "geometries" not in g else sum(map(_count_coords, g["geometries"]))
    n = 0
    stack = [c]
    while stack:
        x = stack.pop()
        if x and isinstance(x[0], int | float):
            n += 1
        else:
            stack.extend(x)
    return n


def display_geometries(
    geoms: list[Any], *, zoom: float | None = None, gcj02: bool = False, lat: float = 31.19, force: bool = False
) -> list[Any]:
    """GeoJSON geometries as the page draws them: simplified for the zoom, shifted for a GCJ-02 basemap.

    Only geometries of SIMPLIFY_MIN_COORDS coordinates or more are simplified, unless `force`.
    """
    tol = _tolerance(zoom, lat)
    idx = list(range(len(geoms))) if gcj02 or force else []
    if tol is not None and not gcj02 and not force:
        idx = [i for i, g in enumerate(geoms) if g is not None and _count_coords(g) >= SIMPLIFY_MIN_COORDS]
    idx = [i for i in idx if geoms[i] is not None]
    if not idx:
        return geoms
    shapes = shapely.from_geojson([orjson.dumps(geoms[i]) for i in idx])
    if tol is not None:
        simple = shapely.simplify(shapes, tol, preserve_topology=True)
        keep = ~shapely.is_empty(simple)
        shapes = np.where(keep, simple, shapes)
    if gcj02:
        shapes = wgs84_to_gcj02_geometries(shapes)
    out = list(geoms)
    for i, text in zip(idx, shapely.to_geojson(shapes, indent=None), strict=True):
        out[i] = orjson.loads(text)
    return out


def bbox_from_display(bbox: BBox | None, gcj02: bool) -> BBox | None:
    """A bbox the page sent (in the basemap's datum) as a storage (WGS84) bbox."""
    if bbox is None or not gcj02:
        return bbox
    box = shapely.box(*bbox).segmentize(max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 8)
    minx, miny, maxx, maxy = gcj02_to_wgs84_geometries([box])[0].bounds
    return (minx, miny, maxx, maxy)


def bounds_to_display(bounds: Sequence[float] | None, gcj02: bool) -> list[float] | None:
    if bounds is None:
        return None
    if not gcj02:
        return [round(float(v), 7) for v in bounds]
    box = wgs84_to_gcj02_geometries([shapely.box(*bounds)])[0]
    return [round(float(v), 7) for v in box.bounds]


def parse_bbox(text: str | None) -> BBox | None:
    if text is None or text == "":
        return None
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(f"bbox {text!r} is not four numbers minx,miny,maxx,maxy") from None
    if len(parts) != 4 or not all(math.isfinite(v) for v in parts) or parts[0] > parts[2] or parts[1] > parts[3]:
        raise BadInput(f"bbox {text!r} is not four finite numbers minx,miny,maxx,maxy")
    return (parts[0], parts[1], parts[2], parts[3])


def venue_bounds(twin: TwinLike, ref: Ref | None = None) -> list[float]:
    """Where to open a map: the venue boundary's extent, else every layer's, else the area of interest."""
    for name in ("venue_boundary",):
        try:
            ext = twin.extent(name, ref)
        except NotFound:
            ext = None
        if ext is not None:
            return list(ext)
    exts = []
    for s in spatial_layers(twin, ref):
        e = twin.extent(s.name, ref)
        if e is not None:
            exts.append(e)
    if exts:
        return [min(e[0] for e in exts), min(e[1] for e in exts), max(e[2] for e in exts), max(e[3] for e in exts)]
    return list(twin.area_of_interest.bounds)


def feature_boxes(twin: TwinLike, keys: Iterable[str], ref: Ref | None) -> dict[str, tuple[float, float, float, float]]:
    """The lon/lat bounding box of each feature named "layer/id" that exists as of `ref`.

    One read per layer and one vectorised parse, so thousands of features cost milliseconds.
    """
    by_layer = references_by_layer(keys)
    spatial = {s.name for s in twin.layers() if s.spatial}
    ref = ref or twin.resolve()
    names: list[str] = []
    geoms: list[bytes | None] = []
    for layer, ids in by_layer.items():
        if layer not in spatial:
            continue
        for fid, data in twin.features_by_id(layer, ids, ref).items():
            split = _split_stored(data)
            g = split[0] if split is not None else orjson.dumps(orjson.loads(data).get("geometry"))
            if g != b"null":
                names.append(f"{layer}/{fid}")
                geoms.append(g)
    if not names:
        return {}
    bounds = shapely.bounds(shapely.from_geojson(geoms))
    return {k: (float(b[0]), float(b[1]), float(b[2]), float(b[3])) for k, b in zip(names, bounds, strict=True)}


def union_bounds(boxes: Iterable[tuple[float, float, float, float]]) -> list[float] | None:
    arr = np.array(list(boxes), dtype=float)
    if not len(arr):
        return None
    return [float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())]


# ---------------------------------------------------------------------------- layer features
Classifier = Callable[[str, dict[str, Any] | None], dict[str, Any]]


PropertiesMode = Literal["none", "slim", "full"]
GEOMETRY_PREFIX = b'{"geometry":'


def _split_stored(b: bytes) -> tuple[bytes, bytes] | None:
    """A stored feature's geometry JSON and the rest, cut out of its canonical bytes (no parsing).

    Stored versions are encoded once, canonically, by `twin.encoding.feature_bytes`:
    {"geometry":G,"id":I,"properties":P,"type":"Feature"}; None if `b` is not in that form.
    """
    if not b.startswith(GEOMETRY_PREFIX):
        return None
    end = b.find(b',"id":', len(GEOMETRY_PREFIX))
    if end < 0:
        return None
    return b[len(GEOMETRY_PREFIX) : end], b[end:]


def layer_features(
    twin: TwinLike,
    layer: str,
    ref: Ref,
    *,
    bbox: BBox | None = None,
    zoom: float | None = None,
    gcj02: bool = False,
    lang: str = i18n.DEFAULT_LANG,
    classify: Classifier | None = None,
    properties: PropertiesMode = "slim",
    max_features: int = MAX_FEATURES,
) -> dict[str, Any]:
    """The features of `layer` as of `ref` in `bbox` (lon/lat), as the page script draws them.

    `classify(feature_id, feature)` returns extra members (style class "c", projects "j",
    reasons "r", ...); a classifier whose `needs_feature` is False gets None for the feature.
    `properties`: "none" (the page fetches a feature's attributes from the API when it is
    clicked), "slim" (code and names) or "full". The number matched is the API items endpoint's
    numberMatched for the same layer, version and bbox.

    The fast path never parses a feature: each stored GeoJSON's geometry bytes go out as they
    are (orjson.Fragment); only geometries big enough to simplify, a GCJ-02 shift, labels and
    properties are decoded.
    """
    schema = twin.layer(layer)
    if not schema.spatial:
        raise BadInput(f"layer {layer} holds records without geometry; it has no map features")
    page = run_query(twin, FeatureQuery(layer=layer, ref=ref, bbox=bbox_from_display(bbox, gcj02)))
    if page.number_matched > max_features:
        return {"layer": layer, "numberMatched": page.number_matched, "truncated": True, "features": []}
    label_by = LABELLED_LAYERS.get(layer)
    needs_feature = classify is not None and getattr(classify, "needs_feature", True)
    decode_all = gcj02 or properties != "none" or label_by is not None or needs_feature
    lat = (bbox[1] + bbox[3]) / 2 if bbox else 31.19
    simplify_over = SIMPLIFY_MIN_COORDS * 24  # bytes of geometry JSON: about that many coordinates
    out: list[dict[str, Any]] = []
    to_shape: list[int] = []  # features whose geometry is decoded (to simplify or shift)
    shapes_in: list[Any] = []
    for b, fid in zip(page.features, page.feature_ids, strict=True):
        split = _split_stored(b)
        d = orjson.loads(b) if decode_all or split is None else None
        props = (d.get("properties") or {}) if d is not None else {}
        item: dict[str, Any] = {"id": fid}
        if split is not None and not gcj02 and not (zoom is not None and len(split[0]) > simplify_over):
            item["g"] = orjson.Fragment(split[0])
        else:
            to_shape.append(len(out))
            shapes_in.append(d["geometry"] if d is not None else orjson.loads(split[0]) if split else None)
        if properties == "full":
            item["p"] = props
        elif properties == "slim" or label_by is not None:
            item["p"] = {k: props[k] for k in SLIM_PROPERTIES if k in props}
        label = feature_label(layer, props, lang)
        if label:
            item["l"] = label
        if classify is not None:
            item.update(classify(fid, d))
        out.append(item)
    if to_shape:
        shown = display_geometries(shapes_in, zoom=zoom, gcj02=gcj02, lat=lat, force=True)
        for i, g in zip(to_shape, shown, strict=True):
            out[i]["g"] = g
    return {
        "layer": layer,
        "version": ref.commit.id if ref.commit else None,
        "numberMatched": page.number_matched,
        "features": out,
    }


def feature_label(layer: str, props: dict[str, Any], lang: str) -> str | None:
    """What the maps write on a feature of `layer` (LABELLED_LAYERS says how), or None."""
    label_by = LABELLED_LAYERS.get(layer)
    if label_by == "code":
        return str(props["code"]) if props.get("code") else None
    if label_by == "name":
        return i18n.feature_name(lang, props)
    if label_by == "short_name":
        return re.split(r"\s*[(（]", i18n.feature_name(lang, props), maxsplit=1)[0]
    return None


def completion_classifier(layer: str, view: CompletionView | None) -> Classifier:
    def classify(fid: str, feature: dict[str, Any] | None) -> dict[str, Any]:
        if view is None:
            return {"c": "none"}
        key = f"{layer}/{fid}"
        status = view.worst.get(key)
        if status is None:
            return {"c": "none"}
        return {"c": status, "j": view.membership.get(key, [])}

    classify.needs_feature = False  # type: ignore[attr-defined]
    return classify


def plain_classifier(cls: str = "ctx") -> Classifier:
    def classify(fid: str, feature: dict[str, Any] | None) -> dict[str, Any]:
        return {"c": cls}

    classify.needs_feature = False  # type: ignore[attr-defined]
    return classify


def feature_code(schema: LayerSchema, fid: str, props: dict[str, Any], lang: str = "en") -> str:
    """What people call a feature: its code (the schema's code field, else `code`); a survey, its
    kind and flight date in ``lang`` ("NDVI 2026-10-06", as the imagery's layer control names it:
    its id is a hash); else its id."""
    for name in (schema.code_field, "code"):
        v = props.get(name) if name else None
        if v not in (None, ""):
            return str(v)
    if is_survey_layer(schema.name) and props.get("kind") and props.get("date"):
        from web.imagery import kind_words

        bands = props.get("band_count")
        word = kind_words(lang, str(props["kind"]), bands if isinstance(bands, int) else 1)[0]
        return f"{word} {props['date']}"
    return fid


def reference_names(twin: TwinLike, keys: Iterable[str], ref: Ref, lang: str) -> dict[str, str]:
    """What each of `keys` (references, "layer/feature_id", as a register's `features` hold them)
    is called as of `ref`, in `lang`: the feature's name (i18n.feature_name), else its code, else
    its id (feature_code), one that was not there then by its id. Read through `twin` as the page
    reads it (the reader's TwinView), one read per layer referenced (features_by_id): a reference
    into a layer the reader may not see, or none of then, names nothing and is left out. The pages
    that show references (the layer check's table, the OGC API's item pages) all name them here."""
    by_layer = references_by_layer(keys)
    if not by_layer:
        return {}
    seen = {s.name: s for s in twin.layers(ref)}
    out: dict[str, str] = {}
    for layer, ids in by_layer.items():
        schema = seen.get(layer)
        if schema is None:
            continue
        found = twin.features_by_id(layer, ids, ref)
        for fid in ids:
            raw = found.get(fid)
            props = (orjson.loads(raw).get("properties") or {}) if raw is not None else {}
            out[f"{layer}/{fid}"] = i18n.feature_name(lang, props) or feature_code(schema, fid, props, lang)
    return out


def references_in(value: Any) -> list[str]:
    """The references a reference field's value holds (a list of them, or one)."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


def reference_text(value: Any, names: Mapping[str, str], lang: str) -> tuple[str, str] | None:
    """A reference field's value as a page shows it: the features it names by their names
    (`names`, from reference_names) in `lang`, and the references as stored, for the title an
    engineer reads; one `names` has no name for (into a layer the reader may not see) is in
    neither. None when nothing is left to show."""
    shown = [r for r in references_in(value) if r in names]
    if not shown:
        return None
    return i18n.label(lang, "list_separator").join(names[r] for r in shown), ", ".join(shown)


def check_classifier(twin: TwinLike, layer: str, ref: Ref, lang: str) -> Classifier:
    """The layer check's class of each feature, its reasons, and its code as the label the map
    writes on it (every feature of the checked layer, so any can be told apart)."""
    from web.checks import layer_check

    result = layer_check(twin, layer, ref)
    schema = twin.layer(layer, ref)

    def classify(fid: str, feature: dict[str, Any] | None) -> dict[str, Any]:
        label = feature_code(schema, fid, (feature or {}).get("properties") or {}, lang)
        c = result.get(fid)
        if c is None:
            return {"c": "ok", "l": label}
        return {"c": c.status, "r": c.reasons_in(lang, schema), "m": list(c.missing), "l": label}

    return classify


# ---------------------------------------------------------------------------- changes
@dataclass(frozen=True)
class ChangeItem:
    layer: str
    feature_id: str
    kind: str  # added, modified, deleted
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def key(self) -> str:
        return f"{self.layer}/{self.feature_id}"

    @property
    def shown(self) -> dict[str, Any]:
        d = self.after if self.after is not None else self.before
        assert d is not None
        return d


def changes_between(twin: TwinLike, a: Ref, b: Ref, layers: Sequence[str]) -> list[ChangeItem]:
    """`Twin.diff(a, b)` over `layers` (what the API's /diff answers), decoded."""

    def make() -> list[ChangeItem]:
        return [
            ChangeItem(
                e.layer,
                e.feature_id,
                e.kind,
                orjson.loads(e.before) if e.before else None,
                orjson.loads(e.after) if e.after else None,
            )
            for e in twin.diff(a, b, layers)
        ]

    return _diffs.made((_twin_key(twin), a.seq, b.seq, tuple(layers)), make)


def _value_text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return i18n.fmt_number(v)


def changed_fields(
    schema: LayerSchema,
    before: dict[str, Any],
    after: dict[str, Any],
    lang: str,
    renamed: dict[str, str] | None = None,
) -> list[list[str]]:
    """[title, before, after] of each property whose value differs, once each: the schema's fields
    in its order, then any others (a field since dropped) by name. `schema` is the layer's at the
    `after` side; `renamed` ({new name: old name}, `renamed_fields`) pairs a field renamed in
    between with its old name, so a value that only changed its field's name is no change."""
    renamed = renamed or {}
    old, new = before.get("properties") or {}, after.get("properties") or {}
    rows = []
    declared = [f.name for f in schema.fields]
    olds = set(renamed.values())
    names = declared + sorted((set(old) | set(new)) - set(declared) - olds)
    for name in names:
        was = old.get(renamed.get(name, name))
        if was != new.get(name):
            spec = schema.field(name)
            title = i18n.field_title(lang, spec) if spec else name
            rows.append([title, *(i18n.value_label(lang, spec, v) or _value_text(v) for v in (was, new.get(name)))])
    return rows


def geometry_changed(before: Any, after: Any) -> bool:
    """Whether a feature's shape changed between two GeoJSON geometries: not when only how it is
    written changed (a ring started at another vertex, as a GIS tool may save an outline it did
    not move), which the stored text alone would call a change."""
    if before == after:
        return False
    if not before or not after:
        return True
    a, b = shapely.from_geojson([orjson.dumps(before), orjson.dumps(after)], on_invalid="ignore")
    if a is None or b is None:
        return True
    if shapely.is_valid(a) and shapely.is_valid(b):
        return not bool(shapely.equals(a, b))
    # an invalid shape has no point set to compare: the same vertices in the same order, ring by ring
    return not bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 0.0))


def changes_features(
    twin: TwinLike,
    items: Sequence[ChangeItem],
    *,
    bbox: BBox | None = None,
    zoom: float | None = None,
    gcj02: bool = False,
    lang: str = i18n.DEFAULT_LANG,
    before: Ref | None = None,
    after: Ref | None = None,
) -> dict[str, Any]:
    """The changed features as the page draws them: added, modified (plus the old shape) and deleted.
    Attributes are named as the layers' schemas at `after` name them (else now), a field renamed
    since `before` by its new name only when its value changed too; a schema change is not a
    feature and is not drawn."""
    storage_bbox = bbox_from_display(bbox, gcj02)
    spatial = {s.name: s for s in twin.layers(after) if s.spatial}
    old_schemas = {s.name: s for s in twin.layers(before)} if before is not None else {}
    renames = {name: renamed_fields(old_schemas.get(name), s) for name, s in spatial.items()}
    picked: list[ChangeItem] = []
    for it in items:
        if it.layer not in spatial or it.feature_id == SCHEMA_ID:
            continue
        if storage_bbox is not None and not _touches(it, storage_bbox):
            continue
        picked.append(it)
    out: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for it in picked:
        shown = it.shown
        props = shown.get("properties") or {}
        item: dict[str, Any] = {
            "id": it.feature_id,
            "k": it.key,
            "c": it.kind,
            "p": {k: props[k] for k in SLIM_PROPERTIES if k in props},
            "layer": it.layer,
        }
        label = feature_label(it.layer, props, lang)
        if label:  # written on the change's own fill, which would hide the context layer's label
            item["l"] = label
        if it.kind == "modified" and it.before is not None and it.after is not None:
            item["d"] = changed_fields(spatial[it.layer], it.before, it.after, lang, renames[it.layer])
            if geometry_changed(it.before.get("geometry"), it.after.get("geometry")):
                item["gc"] = 1
        out.append(item)
        geoms.append(shown.get("geometry"))
        if it.kind == "modified" and it.before is not None and item.get("gc"):
            out.append({"id": it.feature_id, "k": it.key, "c": "modified_old", "x": 1, "p": item["p"]})
            geoms.append(it.before.get("geometry"))
    shown_geoms = display_geometries(geoms, zoom=zoom, gcj02=gcj02)
    for item, g in zip(out, shown_geoms, strict=True):
        item["g"] = g
    return {"numberMatched": len(picked), "features": out}


def _touches(it: ChangeItem, bbox: BBox) -> bool:
    for d in (it.before, it.after):
        g = d.get("geometry") if d else None
        if not g:
            continue
        minx, miny, maxx, maxy = shapely.bounds(shapely.from_geojson(orjson.dumps(g)))
        if not (maxx < bbox[0] or minx > bbox[2] or maxy < bbox[1] or miny > bbox[3]):
            return True
    return False


def change_counts(items: Sequence[ChangeItem]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for it in items:
        counts.setdefault(it.layer, {"added": 0, "modified": 0, "deleted": 0})[it.kind] += 1
    return counts


# A progress report's commit message (completion.intake, completion.reports): its date is the
# commit's own, and what tells one report of a day from another is who reported and what.
_REPORT_MESSAGE = re.compile(
    r"Progress reported on \d{4}-\d{2}-\d{2}(?: by (?P<unit>.+) \((?P<via>[^()]*)\))?: (?P<parts>.*)", re.DOTALL
)
PICKER_MESSAGE_CHARS = 64


def area_titles(twin: TwinLike, lang: str) -> dict[str, str]:
    """Each project area's name in the language, by key: as the register's schema labels the value
    (the project page's words, web.panels.labelled), else as the layer of that name is titled. An
    area is the register's word, not layer data, so a caller who may not see the layer an area is
    named after reads its name all the same; a key neither names is shown as it is."""
    titles = {s.name: i18n.layer_title(lang, s) for s in twin.layers()}
    try:
        spec = twin.layer(PROJECTS_LAYER).field("area")  # the head's, as the project page's
    except NotFound:
        spec = None
    if spec is not None:
        titles.update(i18n.field_value_labels(lang, spec))
    return titles


def commit_gist(message: str, lang: str) -> str:
    """What tells a commit apart from its neighbours, first: a report's unit and projects (the
    date it repeats is the commit's time), else the message; cut to PICKER_MESSAGE_CHARS."""
    m = _REPORT_MESSAGE.fullmatch(message.strip())
    if m is not None:
        unit = m.group("unit")
        who = i18n.label(lang, "picker_report_by", unit=i18n.unit_name(lang, unit)) if unit else None
        text = f"{who or i18n.label(lang, 'picker_report')}{'：' if lang == 'zh' else ': '}{m.group('parts')}"
    else:
        text = i18n.commit_message(lang, message)
    text = " ".join(text.split())
    return text if len(text) <= PICKER_MESSAGE_CHARS else text[: PICKER_MESSAGE_CHARS - 1] + "…"


def commit_choices(twin: TwinLike, lang: str = i18n.DEFAULT_LANG) -> list[tuple[str, str]]:
    """(value, label) pairs for version pickers: the commits, newest first. A label starts with what
    tells it apart ("5f0c1a2b · Report by Qingpu Transport Commission: LA-0039 100%… · 2026-10-26
    18:00"): with --original-dates every report of a day is recorded at 18:00, and labels that
    began with the time and "Progress reported on 2026-10-26" were all alike where they were cut.
    The times are Shanghai time, which the picker's group label says once."""
    out = []
    for c in twin.log(200):
        when = c.time.astimezone(_shanghai()).strftime("%Y-%m-%d %H:%M")
        out.append((c.id[:12], f"{c.id[:8]} · {commit_gist(c.message, lang)} · {when}"))
    return out


def _shanghai() -> Any:
    from twin.core import SHANGHAI

    return SHANGHAI


def json_bytes(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
