"""Survey imagery on the maps: the orthophoto as a basemap under the venue layers, index surveys
(NDVI) as overlays with their legend.

`imagery_config` describes, for the page engine's imagery script (web/static/imagery.js), every
survey the reader may see: served pages draw them from the app's own tile route
(/surveys/{id}/tiles/...), exported single-file pages carry a downsampled WebP of each survey as a
data: URI, so the file still opens offline with its imagery. The page shows, for its date, the
latest survey of each kind flown on or before it (the earliest one when none was flown yet; the
attribution always names the flight date); the timeline switches surveys as it steps. Where the
orthophoto shown has no pixels (a flight over part of the venue), the older flights that have some
there are drawn under it (`_underneath`): the tiles are transparent where a survey has no pixels.

Surveys are taken from the head (what has been recorded by now) and chosen by flight date: a
survey is evidence of the ground on the day it was flown, whenever it was imported.
"""

from __future__ import annotations

import base64
import math
from datetime import date
from typing import Any

import numpy as np
from rasterio.features import geometry_mask
from rasterio.transform import from_bounds

from layers.demo_surveys import DEMO_FILE_PREFIX
from twin.core import TwinLike
from twin.errors import BadInput
from twin.survey_images import (
    DISPLAY_DEFAULTS,
    RENDERING,
    colormap,
    colormap_stops,
    default_colormap_name,
    default_range,
    render_preview,
    valid_mask,
    values_range,
)
from twin.survey_read import file_problem, warn_unavailable
from twin.surveys import SurveyInfo, recording_order
from web import i18n
from web.templating import render

EXPORT_BASEMAP_PX = 2048  # longest side of the basemap image an exported page carries
EXPORT_OTHER_PX = 1024  # ... and of every other survey image (overlays, the timeline's other flights)
WEB_MERCATOR_M_PER_PX_Z0 = 156_543.033_928  # ground metres per pixel at zoom 0 on the equator, 256 px tiles
MAX_NATIVE_ZOOM = 22
OFF = "none"  # ?survey=none: no imagery under the layers
# Where an orthophoto has no pixels (a flight that covered part of the venue), the flights before it
# show through: compared on a grid of COVER_GRID² cells over the area of interest, an older flight
# is drawn under it when it fills at least UNDER_MIN_SHARE of the area's cells that no newer drawn
# flight fills (past a cell's edge: two flights of one extent differ by a row of cells at their rims).
COVER_GRID = 256
UNDER_MIN_SHARE = 0.002


def is_basemap(info: SurveyInfo) -> bool:
    """Colour images (three bands or more) are basemaps; single-band surveys are index overlays."""
    return info.band_count >= BASEMAP_BANDS


BASEMAP_BANDS = 3


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


def _underneath(twin: TwinLike, top: SurveyInfo, older: list[SurveyInfo]) -> list[dict[str, Any]]:
    """The older orthophotos drawn under `top`, newest first, each with the lon/lat bounds of the
    part of it that shows (so the page asks for its tiles there only): none when `top` has pixels
    wherever the older ones have. Each flight's pixels are read once from its COG's overviews
    (twin.survey_images.valid_mask, kept per file); the usual full flight costs one read."""
    aoi = twin.area_of_interest
    w, s, e, n = aoi.bounds
    grid = (COVER_GRID, COVER_GRID)
    to_grid = from_bounds(w, s, e, n, COVER_GRID, COVER_GRID)
    inside = geometry_mask([aoi], out_shape=grid, transform=to_grid, invert=True)
    enough = max(1, int(inside.sum() * UNDER_MIN_SHARE))
    covered = valid_mask(twin.survey_path(top), (w, s, e, n), COVER_GRID) & inside
    under: list[dict[str, Any]] = []
    for survey in reversed(older):
        if _core(inside & ~covered).sum() < enough:
            break  # nothing left for an older flight to show
        shows = valid_mask(twin.survey_path(survey), (w, s, e, n), COVER_GRID) & inside & ~covered
        if _core(shows).sum() < enough:
            continue
        rows, cols = np.nonzero(shows)
        dx, dy = (e - w) / COVER_GRID, (n - s) / COVER_GRID
        part = (
            w + (cols.min() - 1) * dx,
            n - (rows.max() + 2) * dy,
            w + (cols.max() + 2) * dx,
            n - (rows.min() - 1) * dy,
        )
        b = survey.bounds
        under.append(
            {
                "id": survey.id,
                "bounds": [max(part[0], b[0]), max(part[1], b[1]), min(part[2], b[2]), min(part[3], b[3])],
            }
        )
        covered = covered | shows
    return under


def _core(cells: Any) -> Any:
    """`cells` less those at the rim of a region (an erosion by one cell, its four neighbours)."""
    core = np.zeros_like(cells)
    core[1:-1, 1:-1] = cells[1:-1, 1:-1] & cells[:-2, 1:-1] & cells[2:, 1:-1] & cells[1:-1, :-2] & cells[1:-1, 2:]
    return core


def kind_names(lang: str, info: SurveyInfo) -> tuple[str, str]:
    """(the layer control's name, the credit's word) for a survey's kind in the page's language
    (kind_words)."""
    return kind_words(lang, info.kind, info.band_count)


def kind_words(lang: str, kind: str, band_count: int) -> tuple[str, str]:
    """(the layer control's name, the credit's word) for a survey of ``kind`` and ``band_count``
    bands in the page's language: a colour image's (a basemap's) "Orthophoto"; else i18n's
    "survey_layer_kind_<kind>" and "survey_credit_kind_<kind>" where it has them (the credit's own
    words say "flown"/"航测", so its word is the kind alone), else the kind's words of the legend
    (i18n.survey_kind), else its code as a survey ("dsm_v2 survey"): the raw kind in capitals
    ("THERMAL 2026-10-01") read as a code."""
    if band_count >= BASEMAP_BANDS:  # is_basemap
        word = i18n.label(lang, "survey_orthophoto")
        return word, word
    if i18n.has_label(f"survey_layer_kind_{kind}"):
        return i18n.label(lang, f"survey_layer_kind_{kind}"), i18n.label(lang, f"survey_credit_kind_{kind}")
    if i18n.has_label(f"survey_kind_{kind}"):
        word = i18n.survey_kind(lang, kind)
        return word, word
    code = kind.replace("_", " ")
    return i18n.label(lang, "survey_layer_kind_other", kind=code), code


def _label(lang: str, info: SurveyInfo) -> str:
    return i18n.label(lang, "survey_layer", kind=kind_names(lang, info)[0], date=info.date.isoformat())


def _attribution(lang: str, info: SurveyInfo, on: date | None = None) -> str:
    """The credit of a flight; on a map of one date `on` before the flight (drawn for want of an
    earlier one), it says so: a leader saw surfaces finished weeks before they were."""
    synthetic = (info.source_name or "").startswith(DEMO_FILE_PREFIX)
    key = "survey_attribution_demo" if synthetic else "survey_attribution"
    kind = kind_names(lang, info)[1]
    credit = i18n.label(lang, key, kind=kind, date=info.date.isoformat(), resolution=f"{info.resolution:.1f}")
    if on is not None and info.date > on:
        credit += i18n.label(lang, "survey_after_shown", date=on.isoformat())
    return credit


def _image(twin: TwinLike, info: SurveyInfo, max_size: int) -> str:
    path = twin.survey_path(info)
    name = default_colormap_name(info)
    body = render_preview(path, "webp", default_range(info, path), colormap(name) if name else None, max_size=max_size)
    return "data:image/webp;base64," + base64.b64encode(body).decode()


def _legend(twin: TwinLike, lang: str, info: SurveyInfo) -> str | None:
    """The legend of an index overlay: what its values are (the kind in words, the unit the survey
    recorded) and its colour ramp over the range the tiles are drawn with; for a kind drawn over
    its own values (thermal), that range is said to be its 2nd-98th percentile."""
    name = default_colormap_name(info)
    path = twin.survey_path(info)
    value_range = default_range(info, path)
    if name is None or value_range is None:
        return None
    low, high = value_range
    digits = max(1, min(4, 1 - math.floor(math.log10(high - low))))  # 21.3 °C, 0.012
    unit = f" {info.unit}" if info.unit else ""
    return render(
        "imagery_legend.html",
        lang=lang,
        kind=info.kind,
        kind_words=i18n.survey_kind(lang, info.kind),
        stops=colormap_stops(name, 8),
        low=f"{low:.{digits}f}{unit}",
        high=f"{high:.{digits}f}{unit}",
        percentile=info.kind not in DISPLAY_DEFAULTS and value_range == values_range(path),
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
            raise BadInput(
                f"survey={survey!r}: this twin has no survey rasters the reader may see",
                code="no_survey",
                values={"value": survey},
            )
        return None
    basemaps = [s for s in surveys if is_basemap(s)]
    chosen = pick(basemaps, on)
    if survey == OFF:
        chosen = None
    elif survey is not None:
        match = [s for s in basemaps if s.id == survey]
        if not match:
            ids = ", ".join(s.id for s in basemaps) or "none recorded"
            raise BadInput(
                f"survey={survey!r} is not an orthophoto the reader may see ({ids}, or {OFF})",
                code="no_survey",
                values={"value": survey},
            )
        chosen = match[0]
    overlays_by_kind: dict[str, list[SurveyInfo]] = {}
    for s in surveys:
        if not is_basemap(s):
            overlays_by_kind.setdefault(s.kind, []).append(s)
    # the older flights that show under an orthophoto: the one shown, or every one on a timeline
    under = {
        b.id: _underneath(twin, b, basemaps[:i])
        for i, b in enumerate(basemaps)
        if b is chosen or (every_date and survey is None)
    }
    shown = {chosen.id} if chosen else set()
    shown.update(u["id"] for u in under.get(chosen.id if chosen else "", []))
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
            "attribution": _attribution(lang, s, None if every_date else on),
        }
        if s.id in under:
            item["under"] = under[s.id]
        if export:
            if s.id not in shown and not every_date:
                continue  # a single-date export carries only what it shows
            # the orthophoto shown at the larger size; the older flights under it, like the rest, smaller
            item["image"] = _image(twin, s, EXPORT_BASEMAP_PX if s is chosen else EXPORT_OTHER_PX)
        else:
            # the rendering version in the address: a change of how tiles are drawn is a new address,
            # so browsers do not keep drawing the old tiles they were told never change
            item["tiles"] = (
                f"{base}/surveys/{s.id}/tiles/WebMercatorQuad/" + "{z}/{x}/{y}.webp" + f"?rendering={RENDERING}"
            )
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
