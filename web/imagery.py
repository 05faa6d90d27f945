"""Survey imagery on the maps: the orthophoto as a basemap under the venue layers, index surveys
(NDVI) as overlays with their legend.

`imagery_config` describes, for the page engine's imagery script (web/static/imagery.js), every
survey the reader may see: served pages draw them from the app's own tile route
(/surveys/{id}/tiles/...), exported single-file pages carry a downsampled WebP of each survey as a
data: URI, so the file still opens offline with its imagery. The page shows, for its date, the
latest survey of each kind flown on or before it (the earliest one when none was flown yet; the
attribution always names the flight date); the timeline switches surveys as it steps.

Surveys are taken from the head (what has been recorded by now) and chosen by flight date: a
survey is evidence of the ground on the day it was flown, whenever it was imported.
"""

from __future__ import annotations

import base64
import math
from datetime import date
from typing import Any

from layers.demo_surveys import DEMO_FILE_PREFIX
from twin.core import TwinLike
from twin.errors import BadInput
from twin.survey_images import colormap, colormap_stops, default_colormap_name, default_range, render_preview
from twin.survey_read import file_problem, warn_unavailable
from twin.surveys import SurveyInfo, recording_order
from web import i18n
from web.templating import render

EXPORT_BASEMAP_PX = 2048  # longest side of the basemap image an exported page carries
EXPORT_OTHER_PX = 1024  # ... and of every other survey image (overlays, the timeline's other flights)
WEB_MERCATOR_M_PER_PX_Z0 = 156_543.033_928  # ground metres per pixel at zoom 0 on the equator, 256 px tiles
MAX_NATIVE_ZOOM = 22
OFF = "none"  # ?survey=none: no imagery under the layers


def is_basemap(info: SurveyInfo) -> bool:
    """Colour images (three bands or more) are basemaps; single-band surveys are index overlays."""
    return info.band_count >= 3


def native_zoom(info: SurveyInfo) -> int:
    """The zoom whose pixel is about the survey's ground sample distance; Leaflet upsamples beyond it
    instead of asking for tiles the survey cannot sharpen. From the recorded resolution (no file
    opened per page): ceil(log2(m per px at z0 · cos(lat) / resolution))."""
    lat = (info.bounds[1] + info.bounds[3]) / 2
    z = math.log2(WEB_MERCATOR_M_PER_PX_Z0 * math.cos(math.radians(lat)) / max(info.resolution, 0.01))
    return max(0, min(MAX_NATIVE_ZOOM, math.ceil(z)))


def pick(surveys: list[SurveyInfo], on: date | None) -> SurveyInfo | None:
    """The latest survey flown on or before `on` (the earliest when none was; the latest when
    `on` is None). `surveys` oldest first."""
    if not surveys:
        return None
    if on is None:
        return surveys[-1]
    before = [s for s in surveys if s.date <= on]
    return before[-1] if before else surveys[0]


def _label(lang: str, info: SurveyInfo) -> str:
    kind = i18n.label(lang, "survey_orthophoto") if is_basemap(info) else info.kind.upper()
    return i18n.label(lang, "survey_layer", kind=kind, date=info.date.isoformat())


def _attribution(lang: str, info: SurveyInfo) -> str:
    synthetic = (info.source_name or "").startswith(DEMO_FILE_PREFIX)
    key = "survey_attribution_demo" if synthetic else "survey_attribution"
    kind = i18n.label(lang, "survey_orthophoto") if is_basemap(info) else info.kind.upper()
    return i18n.label(lang, key, kind=kind, date=info.date.isoformat(), resolution=f"{info.resolution:.1f}")


def _image(twin: TwinLike, info: SurveyInfo, max_size: int) -> str:
    path = twin.survey_path(info)
    name = default_colormap_name(info)
    body = render_preview(path, "webp", default_range(info, path), colormap(name) if name else None, max_size=max_size)
    return "data:image/webp;base64," + base64.b64encode(body).decode()


def _legend(twin: TwinLike, lang: str, info: SurveyInfo) -> str | None:
    """The legend of an index overlay: its colour ramp over the range the tiles are drawn with."""
    name = default_colormap_name(info)
    value_range = default_range(info, twin.survey_path(info))
    if name is None or value_range is None:
        return None
    return render(
        "imagery_legend.html",
        lang=lang,
        kind=info.kind,
        stops=colormap_stops(name, 8),
        low=value_range[0],
        high=value_range[1],
    )


def _readable(twin: TwinLike, info: SurveyInfo) -> bool:
    why = file_problem(twin, info)
    if why is not None:
        warn_unavailable(info, why)
    return why is None


def imagery_config(
    twin: TwinLike,
    *,
    lang: str,
    on: date | None,
    base: str = "",
    export: bool = False,
    survey: str | None = None,
    every_date: bool = False,
) -> dict[str, Any] | None:
    """What the page's imagery script draws: None when the reader may see no survey.

    `survey`: an orthophoto's id to show instead of the one picked by date, or "none" for no
    imagery (BadInput for anything else). `every_date`: the page steps through dates (the
    timeline), so an exported page carries every survey, not only the ones shown on `on`."""
    # the surveys this server can read: one whose file is missing here is left off the page, as
    # the evidence leaves it out (twin.survey_read), rather than failing the page or drawing nothing
    surveys = [s for s in twin.surveys() if _readable(twin, s)]
    # by flight date, and of flights of a kind on one day the one recorded last last (as the evidence reads them)
    order = recording_order(twin, surveys)
    surveys.sort(key=lambda s: (s.date, order.get(s.commit, 0)))
    if not surveys:
        if survey not in (None, OFF):
            raise BadInput(f"survey={survey!r}: this twin has no survey rasters the reader may see")
        return None
    basemaps = [s for s in surveys if is_basemap(s)]
    chosen = pick(basemaps, on)
    if survey == OFF:
        chosen = None
    elif survey is not None:
        match = [s for s in basemaps if s.id == survey]
        if not match:
            ids = ", ".join(s.id for s in basemaps) or "none recorded"
            raise BadInput(f"survey={survey!r} is not an orthophoto the reader may see ({ids}, or {OFF})")
        chosen = match[0]
    overlays_by_kind: dict[str, list[SurveyInfo]] = {}
    for s in surveys:
        if not is_basemap(s):
            overlays_by_kind.setdefault(s.kind, []).append(s)
    shown = {chosen.id} if chosen else set()
    shown.update(p.id for p in (pick(v, on) for v in overlays_by_kind.values()) if p is not None)

    items = []
    for s in surveys:
        item: dict[str, Any] = {
            "id": s.id,
            "kind": s.kind,
            "role": "basemap" if is_basemap(s) else "overlay",
            "date": s.date.isoformat(),
            "bounds": list(s.bounds),
            "maxNativeZoom": native_zoom(s),
            "label": _label(lang, s),
            "attribution": _attribution(lang, s),
        }
        if export:
            if s.id not in shown and not every_date:
                continue  # a single-date export carries only what it shows
            item["image"] = _image(twin, s, EXPORT_BASEMAP_PX if s.id in shown and is_basemap(s) else EXPORT_OTHER_PX)
        else:
            item["tiles"] = f"{base}/surveys/{s.id}/tiles/WebMercatorQuad/" + "{z}/{x}/{y}.webp"
        items.append(item)
    legends = {kind: _legend(twin, lang, pick(v, on) or v[-1]) for kind, v in overlays_by_kind.items()}
    return {
        "surveys": items,
        "basemap": chosen.id if chosen else None,
        "pinned": survey is not None,  # a survey picked by the reader stays put as the timeline steps
        "overlays": {kind: (pick(v, on) or v[-1]).id for kind, v in overlays_by_kind.items()},
        "legends": {k: v for k, v in legends.items() if v},
        "labels": {"basemapGroup": i18n.label(lang, "survey_basemap_group")},
    }
