"""Evidence from imagery against the reported progress of hardware projects.

A report is a claim; a survey raster of the venue is evidence. For each project this module picks
the survey that can speak to it (the latest one of the right kind flown at or before the date
asked and on or after the project's planned start that covers at least
``VENUE_TWIN_EVIDENCE_MIN_COVERAGE`` of the project's footprint: by its recorded extent first, then
by its valid pixels, falling back to the next older one; see _prepare and _measure), measures the
project's footprint on it with exactextract (completion.zonal) and turns the measure into an
imagery-derived completion estimate:

- landscaping (planting measured in m² or pots, on lawn, bed or plaza polygons): the green cover,
  the share of the footprint whose NDVI is above ``VENUE_TWIN_EVIDENCE_NDVI_THRESHOLD``, relative
  to the share the project plans to plant;
- roads and paving (support_road projects measured in m², and renovation of plaza paving): the share of the footprint at the
  finished-surface signature of its layer in the orthophoto (fresh asphalt on roads, new paving on
  the south plaza), relative to the planned share;
- hall renovation of roofs (venue_renovation projects whose name says roof): the share of the roof
  at the new-membrane signature, relative to the planned share;
- anything else (interior work, lamps, signs, cables, facades, irrigation, hedges and walls
  measured in metres, features that are lines): no estimate, with the reason.

The planned share is the project's quantity over its footprint's area when it is measured in m²
(at most 1: a 16,000 m² roof repair over four 30,000 m² roofs plans 13 % of them), else
``VENUE_TWIN_EVIDENCE_PLANTED_SHARE`` (pots fill most of a bed, not its edging and paths).

Which surveys: those recorded by the version the surveys are read at (``surveys_version``: by
default the ``version`` asked, else the head, since a flight is processed and recorded days after
it is flown); the evidence names that version beside the reports' so that asking again with both
gives the same figures. Among surveys flown on the same day the one recorded last (commit order)
speaks. A survey whose file this server cannot read (missing, unreadable, not as its record says:
twin.survey_read) is passed over, the next fitting survey speaks, and the evidence says which was
skipped and why ("survey … unavailable: file missing on this server"); the server log warns once.

Which report: the imagery is set against the figure as it stood when the photos were taken, the
latest report dated on or before the flight's day among those recorded by the version read
(``compared``, ``compared_date``), not the report of the date asked, which may be days newer than
the flight: a road reported 77 % on 10-06 and 100 % on 10-16 is not over-stated by a 10-06 photo
showing 75 %. A flag is raised when that report runs ahead of the estimate by more than
``VENUE_TWIN_EVIDENCE_MARGIN`` points (default 20): the claim the imagery does not back. A project
reported since the flight at more than the margin above what the photos show, and not flagged, is
``imagery_older``: the imagery is older than the report and cannot check it ("fly again"), which
is said (``note``) but is no flag. Imagery ahead of a report is shown but not flagged: footprints
are shared (the shuttle-bus bays lie on the entrance square being repaved), so finished surface
seen there may be another project's work. Every page, list and command that shows flags reads
them from here (``_conclude``, through ``snapshot_flags`` or ``evidence_for_snapshot``).

A twin that holds no survey at all (a season register imported into a venue twin, before any
flight is imported) gives every project the imagery could measure one reason, ``no_imagery``,
so that it is said once rather than once per planned start.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import orjson
from pydantic import model_validator
from rasterio.errors import RasterioError
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from completion.cache import Kept
from completion.register import LAYER, Project, Report
from completion.settings import CompletionSettings
from completion.snapshot import Completion, Snapshot
from completion.status import ProjectStatus
from completion.zonal import signature_shares, surface_change, zonal_stats
from layers.crs import METRIC_CRS, STORAGE_CRS
from twin.core import Ref, TwinLike
from twin.errors import BadInput, NotFound
from twin.settings import VenueSettings
from twin.survey_read import file_problem, forget, warn_unavailable
from twin.surveys import SurveyInfo, recording_order

NDVI, ORTHOPHOTO = "ndvi", "orthophoto"
GREEN_COVER, FINISHED_SURFACE, ROOF_CHANGE = "green_cover", "finished_surface", "roof_change"
SURVEY_KIND = {GREEN_COVER: NDVI, FINISHED_SURFACE: ORTHOPHOTO, ROOF_CHANGE: ORTHOPHOTO}
SURFACE_OF_LAYER = {"roads": "fresh_asphalt", "south_plaza": "new_paving", "halls": "roof_membrane"}
PLANTED_LAYERS = ("landscaping", "south_plaza")  # polygons that can be planted (lawns, beds, displays)
LANE_WIDTH_M = 3.5
# A footprint is measured on a survey only if it holds at least this many of the survey's pixels:
# on coarser ones its pixels are mostly its surroundings (a 7 m road on 1 km pixels read 0 % finished
# and was flagged).
MIN_PIXELS = 16
ROOF_WORDS = ("roof", "屋面", "屋顶")


class EvidenceSettings(VenueSettings):
    """From the environment with the VENUE_TWIN_ prefix (VENUE_TWIN_EVIDENCE_MARGIN=25, ...)."""

    evidence_ndvi_threshold: float = 0.4  # NDVI above this is living vegetation (bare soil ~0.1–0.2)
    evidence_margin: float = 20.0  # points by which a report may run ahead of its imagery unflagged
    evidence_planted_share: float = 0.9  # share of a bed that planting covers when not measured in m²
    evidence_min_coverage: float = 0.5  # below this share of the footprint covered, no estimate
    evidence_change_threshold: float = 40.0  # RGB distance (8-bit) that counts as a changed pixel

    @model_validator(mode="after")
    def _sane(self) -> EvidenceSettings:
        # Shares are fractions: VENUE_TWIN_EVIDENCE_MIN_COVERAGE=50 meant 50 % and was taken as 5,000 %.
        if not 0 < self.evidence_planted_share <= 1:
            raise ValueError(
                f"evidence_planted_share={self.evidence_planted_share:g}: takes a share above 0 and at most 1 (0.9 is 90 %)"
            )
        if not 0 <= self.evidence_min_coverage <= 1:
            raise ValueError(
                f"evidence_min_coverage={self.evidence_min_coverage:g}: takes a share from 0 to 1 (0.5 is 50 %)"
            )
        for name in ("evidence_margin", "evidence_change_threshold"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name):g}: takes a number not below 0")
        if not -1 <= self.evidence_ndvi_threshold <= 1:
            raise ValueError(f"evidence_ndvi_threshold={self.evidence_ndvi_threshold:g}: takes an NDVI value, -1 to 1")
        return self


# Why the imagery gives a project no estimate, as data: its code, one of these, and the values it
# names, by these names (as twin.errors.ERROR_CODES says what an error is). `Evidence.reason` stays
# the English sentence the API and the CLI give; whoever words the reason otherwise (the evidence
# page, in Chinese: web.evidence_page.reason_text, by i18n labels "evidence_reason_<code>") reads
# the code and values, never the sentence, which may be reworded. Values are plain text, as the
# sentence says them (`area`: "1,250"; `start`: "2026-09-25"); `unit` is the register's unit as
# it is ("" for none), `category` the register's code beside `category_label`, its English label.
REASON_CODES: dict[str, tuple[str, ...]] = {
    # what the project is: imagery cannot measure it whatever is flown (method_for)
    "no_geometry": (),  # none of its features has a geometry
    "planting_not_cover": ("unit",),  # planting counted in metres, items: trees, hedges, irrigation
    "lines_only": (),  # planting on roads or lines only
    "too_thin": ("unit",),  # road work counted in metres, items: markings, signs, kerbs
    "no_surface": (),  # paving with no road or plaza surface among its features
    "interior_work": (),  # venue renovation other than roofs and paving
    "lamps_too_small": (),  # lighting
    "facades_not_visible": (),  # city appearance
    "kind_not_measured": ("category", "category_label"),  # any other category
    "work_not_measured": (),  # ... a project with no category
    # when it is asked: no survey can speak to it yet
    "no_imagery": (),  # the twin holds no survey at all (of any kind, recorded by any version)
    "not_started": ("start",),  # the date asked is before its planned start
    "no_survey": ("kind", "start", "on"),  # none of its kind flown between its start and the date
    # ... none recorded by the version the surveys are read at; a later one was
    "no_survey_recorded": ("kind", "version", "start", "on", "survey", "flown", "commit"),
    "survey_unavailable": ("survey", "why"),  # the one survey that would speak: its file unreadable here
    "surveys_unavailable": ("surveys",),  # ... several, ids comma-separated (each why in skipped_surveys)
    # the survey that speaks cannot measure it
    "too_coarse": ("survey", "resolution", "area", "pixels", "needed"),  # pixels too big for the footprint
    "too_coarse_no_other": ("survey", "resolution", "area", "pixels", "needed", "kind"),  # ... nor any other
    "too_little_coverage": ("survey", "coverage", "needed"),  # covers too little of the footprint (percent)
    "too_little_coverage_no_other": ("survey", "coverage", "needed", "kind"),  # ... nor any other
}


@dataclass(frozen=True)
class Reason:
    """Why a project has no estimate: ``text`` the English sentence (`Evidence.reason`), ``code``
    and ``values`` what it says as data (REASON_CODES)."""

    text: str
    code: str
    values: Mapping[str, str] = field(default_factory=dict, hash=False)  # a dict is not hashable

    @classmethod
    def of(cls, code: str, text: str, **values: Any) -> Reason:
        """The reason, its values checked against REASON_CODES (a code not there, or values other
        than those it names, is a mistake here: ValueError) and made text."""
        names = REASON_CODES.get(code)
        if names is None:
            raise ValueError(f"reason code {code!r} is not one of {', '.join(REASON_CODES)}")
        if set(values) != set(names):
            raise ValueError(f"reason code {code!r} takes the values {', '.join(names)}, given {', '.join(values)}")
        return cls(text, code, {k: str(values[k]) for k in names})


@dataclass
class Evidence:
    """A project's imagery-derived completion estimate beside its reported percent on a date."""

    code: str
    category: str
    on: date
    reported: float | None  # percent, as reported by the date (the latest report on or before it)
    method: str | None  # green_cover, finished_surface, roof_change; None when imagery cannot say
    survey: str | None = None  # the survey's id
    survey_kind: str | None = None
    survey_date: date | None = None
    measure: float | None = None  # percent of the footprint (green, at the finished signature)
    planned_share: float | None = None  # percent of the footprint the project plans to cover
    estimate: float | None = None  # percent complete by the imagery
    coverage: float | None = None  # percent of the footprint the survey covers with valid pixels
    reason: str | None = None  # why there is no estimate, in English (with reason_code and reason_values)
    flag: bool = False
    message: str | None = None
    features: tuple[str, ...] = field(default=())
    # Surfaces and roofs: the share of the footprint whose colour changed since the latest
    # orthophoto flown before the project's start (completion.zonal.surface_change), if any.
    baseline_survey: str | None = None
    baseline_date: date | None = None
    changed: float | None = None  # percent of the footprint
    # Surveys that would have been considered but this server cannot read, each with why
    # ("survey 3f2a… unavailable: file missing on this server"); the figures stand without them.
    skipped: tuple[str, ...] = field(default=())
    # The reason as data (REASON_CODES): for whoever words it otherwise than the English `reason`.
    reason_code: str | None = None
    reason_values: Mapping[str, str] = field(default_factory=dict)
    report_date: date | None = None  # the day of the report `reported` is
    # The report the imagery is set against: the latest dated on or before the flight's day (as
    # recorded by the version read); None without a measure, or with no report by the flight.
    compared: float | None = None  # its percent
    compared_date: date | None = None
    # Reported since the flight at more than the margin above the estimate, without a flag: the
    # imagery is older than the report and cannot check it (fly again); `note` says so in English.
    imagery_older: bool = False
    note: str | None = None

    def because(self, why: Reason) -> None:
        """Say why there is no estimate: the English sentence, its code and its values."""
        self.reason, self.reason_code, self.reason_values = why.text, why.code, dict(why.values)

    @property
    def flown(self) -> str:
        """The survey's day as a flag names it ("10-06"), "?" without one."""
        return self.survey_date.strftime("%m-%d") if self.survey_date else "?"

    @property
    def estimate_differs(self) -> bool:
        """Whether the estimate is worth saying beside the measure: the project plans to cover only
        part of its footprint, so the two differ by a point or more."""
        return self.estimate is not None and self.measure is not None and abs(self.estimate - self.measure) >= 1

    @property
    def difference(self) -> float | None:
        """Points by which the report the imagery is set against (`compared`: as it stood on the
        flight's day) runs ahead of the estimate; None without either."""
        if self.estimate is None or self.compared is None:
            return None
        return self.compared - self.estimate

    @property
    def reported_since(self) -> bool:
        """Whether the report of the date asked was made after the flight (and says another figure
        than the one the imagery is set against)."""
        return (
            self.report_date is not None
            and self.survey_date is not None
            and self.report_date > self.survey_date
            and self.reported != self.compared
        )

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "code": self.code,
            "category": self.category,
            "date": self.on.isoformat(),
            "reported_percent": self.reported,
            "report_date": self.report_date.isoformat() if self.report_date else None,
            "compared_report_percent": self.compared,
            "compared_report_date": self.compared_date.isoformat() if self.compared_date else None,
            "method": self.method,
            "survey": self.survey,
            "survey_kind": self.survey_kind,
            "survey_date": self.survey_date.isoformat() if self.survey_date else None,
            "measure_percent": r(self.measure),
            "planned_share_percent": r(self.planned_share),
            "estimate_percent": r(self.estimate),
            "difference_points": r(self.difference),
            "coverage_percent": r(self.coverage),
            "reason": self.reason,
            "reason_code": self.reason_code,
            "reason_values": dict(self.reason_values),
            "flag": self.flag,
            "message": self.message,
            "imagery_older_than_report": self.imagery_older,
            "note": self.note,
            "features": list(self.features),
            "baseline_survey": self.baseline_survey,
            "baseline_date": self.baseline_date.isoformat() if self.baseline_date else None,
            "changed_since_baseline_percent": r(self.changed),
            "skipped_surveys": list(self.skipped),
        }


# ---------------------------------------------------------------------------- footprints
def feature_geometries(twin: TwinLike, project: Project, ref: Ref) -> dict[str, BaseGeometry]:
    """The project's features ("layer/id") that exist as of ``ref``, as geometries in EPSG:4549
    (roads, stored as centre lines, widened to their lanes × 3.5 m)."""
    by_layer: dict[str, list[str]] = {}
    for ref_text in project.features:
        layer, _, fid = ref_text.partition("/")
        if fid:
            by_layer.setdefault(layer, []).append(fid)
    out: dict[str, BaseGeometry] = {}
    for layer, ids in by_layer.items():
        try:
            found = twin.features_by_id(layer, ids, ref)
        except NotFound:  # a layer the caller may not see, or that does not exist: nothing of it
            continue
        keys, geoms, widths = [], [], []
        for fid, raw in found.items():
            d = orjson.loads(raw)
            if not d.get("geometry"):
                continue
            keys.append(f"{layer}/{fid}")
            geoms.append(shape(d["geometry"]))
            lanes = (d.get("properties") or {}).get("lanes")
            widths.append(float(lanes or 2) * LANE_WIDTH_M)
        if not geoms:
            continue
        metric = gpd.GeoSeries(geoms, crs=STORAGE_CRS).to_crs(METRIC_CRS)
        for key, g, width in zip(keys, metric, widths, strict=True):
            if g.geom_type in ("LineString", "MultiLineString"):
                g = g.buffer(width / 2, cap_style="flat") if layer == "roads" else g
            out[key] = g
    return out


def method_for(
    project: Project, geoms: dict[str, BaseGeometry], category_label: str | None = None
) -> tuple[str | None, Reason | None, list[str]]:
    """(method, reason when none, the feature keys the method measures) for a project;
    ``category_label`` names its category in the reason (the register's English label, not the code)."""
    polygons = [k for k, g in geoms.items() if g.area > 0]
    unit, cat, name = project.quantity_unit, project.category, f"{project.name_en} {project.name_zh}".lower()
    if not geoms:
        return None, Reason.of("no_geometry", "none of its features has a geometry to measure"), []
    if cat == "landscaping":
        if unit not in ("m²", "m2", "pots"):
            text = f"planting counted in {unit or 'no unit'} (trees, irrigation, hedges, walls) is not seen as cover from above"
            return None, Reason.of("planting_not_cover", text, unit=unit or ""), []
        planted = [k for k in polygons if k.split("/")[0] in PLANTED_LAYERS]
        if not planted:
            text = "its features are roads or lines; at survey resolution a median or a tree row cannot be told from its surroundings"
            return None, Reason.of("lines_only", text), []
        return GREEN_COVER, None, planted
    paving = cat == "venue_renovation" and unit in ("m²", "m2") and any(k.startswith("south_plaza/") for k in polygons)
    if cat == "support_road" or paving:
        if unit not in ("m²", "m2"):
            text = (
                f"work measured in {unit or 'no unit'} (markings, signs, kerbs) is too thin to see at survey resolution"
            )
            return None, Reason.of("too_thin", text, unit=unit or ""), []
        paved = [k for k in polygons if k.split("/")[0] in ("roads", "south_plaza")]
        if not paved:
            return None, Reason.of("no_surface", "none of its features is a road or plaza surface"), []
        return FINISHED_SURFACE, None, paved
    if cat == "venue_renovation" and any(w in name for w in ROOF_WORDS):
        roofs = [k for k in polygons if k.startswith("halls/")]
        if roofs:
            return ROOF_CHANGE, None, roofs
    reasons = {
        "venue_renovation": ("interior_work", "interior work is not visible from above"),
        "lighting": ("lamps_too_small", "lamps are too small to see in a daytime survey"),
        "city_appearance": ("facades_not_visible", "facades, signboards and buried cables are not visible from above"),
    }
    if cat in reasons:
        return None, Reason.of(*reasons[cat]), []
    named = category_label or cat
    if not named:
        return None, Reason.of("work_not_measured", "imagery cannot measure this kind of work"), []
    text = f"imagery cannot measure this kind of work ({named})"
    return None, Reason.of("kind_not_measured", text, category=cat or "", category_label=named), []


def category_label(twin: TwinLike, ref: Ref, category: str) -> str:
    """A category as the register's schema names it in English ("Traffic facilities" for
    traffic_facilities), else its code."""
    try:
        spec = twin.layer(LAYER, ref).field("category")
    except NotFound:
        return category
    return (spec.label(category, "en") if spec is not None else None) or category


def planned_share(project: Project, area_m2: float, settings: EvidenceSettings) -> float:
    """The share (0–1) of the footprint the project plans to cover (see the module docstring)."""
    if project.quantity_unit in ("m²", "m2") and area_m2 > 0 and project.quantity > 0:
        return min(1.0, project.quantity / area_m2)
    return settings.evidence_planted_share


# ---------------------------------------------------------------------------- surveys
# A survey's extent in METRIC_CRS, by its recorded lon/lat bounds (a survey's file never changes).
_EXTENTS: dict[tuple[float, float, float, float], BaseGeometry] = {}


def fine_enough(info: SurveyInfo, footprint: BaseGeometry) -> bool:
    """Whether the survey's pixels are small enough to measure the footprint (EPSG:4549): it holds
    at least MIN_PIXELS of them (by the recorded resolution, no pixel read)."""
    return footprint.area >= MIN_PIXELS * info.resolution**2


def extent_share(info: SurveyInfo, footprint: BaseGeometry) -> float:
    """The share (0–1) of a footprint (EPSG:4549) inside the survey's recorded extent: its lon/lat
    bounds, which enclose every pixel it has (the footprint polygon the twin records is the same
    box cut to the venue's area of interest). Read from the metadata, no pixel read: an upper bound
    of the share that valid pixels cover (a flight's edges, nodata inside it, are not in it)."""
    area = footprint.area
    if area <= 0:
        return 0.0
    extent = _EXTENTS.get(info.bounds)
    if extent is None:
        # Edges densified: a lon/lat box is not a straight-sided one in the projected CRS.
        lonlat = box(*info.bounds).segmentize(max_segment_length=1e-4)
        extent = gpd.GeoSeries([lonlat], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]
        if len(_EXTENTS) > 1024:
            _EXTENTS.clear()
        _EXTENTS[info.bounds] = extent
    return float(footprint.intersection(extent).area / area)


@dataclass
class Surveys:
    """The surveys the evidence reads: those recorded by ``ref`` that this server can read, in
    recording order where flights share a day, and those passed over with why."""

    ref: Ref  # the version the surveys are read at
    usable: list[SurveyInfo]
    unavailable: dict[str, tuple[SurveyInfo, str]]  # id -> (survey, why this server cannot read it)
    order: dict[str, int]  # commit id -> its sequence number, for surveys flown on a shared day
    at_head: bool = True
    later: list[SurveyInfo] = field(default_factory=list)  # recorded after ``ref`` (when not the head)

    def newest_first(self, surveys: Sequence[SurveyInfo]) -> list[SurveyInfo]:
        """Latest flight first; among flights of one day, the one recorded last first (commit
        order: a re-flown or reprocessed survey of the day replaces the earlier one)."""
        return sorted(surveys, key=lambda s: (s.date, self.order.get(s.commit, 0)), reverse=True)

    def skip(self, info: SurveyInfo, why: str) -> None:
        warn_unavailable(info, why)
        self.unavailable[info.id] = (info, why)
        self.usable = [s for s in self.usable if s.id != info.id]


def kind_problem(info: SurveyInfo) -> str | None:
    """Why a survey cannot be measured as the kind it is recorded as (an orthophoto of one band)."""
    if info.kind == ORTHOPHOTO and info.band_count < 3:
        return f"not an RGB survey (it has {info.band_count} band{'s' if info.band_count != 1 else ''})"
    return None


def read_surveys(twin: TwinLike, ref: Ref, at_head: bool) -> Surveys:
    """The surveys recorded by ``ref``, split into those this server can read and those it cannot."""
    usable: list[SurveyInfo] = []
    unavailable: dict[str, tuple[SurveyInfo, str]] = {}
    for s in twin.surveys(ref=ref):
        why = kind_problem(s) or file_problem(twin, s) if s.kind in (NDVI, ORTHOPHOTO) else None
        if why is None:
            usable.append(s)
        else:
            warn_unavailable(s, why)
            unavailable[s.id] = (s, why)
    out = Surveys(ref, usable, unavailable, recording_order(twin, usable), at_head)
    if not at_head:
        known = {s.id for s in twin.surveys(ref=ref)}
        out.later = [s for s in twin.surveys() if s.id not in known]
    return out


def _unavailable_note(survey: str, why: str) -> str:
    """A survey passed over, as `Evidence.skipped` notes it (``survey`` its id)."""
    return f"survey {survey} unavailable: {why}"


def _candidates(
    surveys: Surveys, kind: str, start: date, on: date, footprint: BaseGeometry, min_share: float
) -> tuple[list[SurveyInfo], list[SurveyInfo], list[tuple[str, str]]]:
    """(every readable survey of the kind flown between start and on, newest first; those of them
    whose extent covers at least ``min_share`` of the footprint, newest first; what was passed over
    among those of the kind flown then: (survey id, why), newest first)."""
    fit = surveys.newest_first([s for s in surveys.usable if s.kind == kind and start <= s.date <= on])
    gone = [s for s, _ in surveys.unavailable.values() if s.kind == kind and start <= s.date <= on]
    skipped = [(s.id, surveys.unavailable[s.id][1]) for s in surveys.newest_first(gone)]
    return fit, [s for s in fit if extent_share(s, footprint) >= min_share and fine_enough(s, footprint)], skipped


def _unavailable(gone: Sequence[tuple[str, str]]) -> Reason:
    """Why no survey speaks when those that would cannot be read here: (survey id, why) each, the
    notes of `skipped` joined."""
    text = "; ".join(_unavailable_note(sid, why) for sid, why in gone)
    if len(gone) == 1:
        return Reason.of("survey_unavailable", text, survey=gone[0][0], why=gone[0][1])
    return Reason.of("surveys_unavailable", text, surveys=", ".join(sid for sid, _ in gone))


@dataclass
class _Job:
    evidence: Evidence
    project: Project
    footprint: BaseGeometry  # EPSG:4549
    info: SurveyInfo  # the survey being measured
    # The surveys still to try, newest first, should ``info``'s valid pixels cover too little of
    # the footprint (its extent covers it, but the flight's edges or nodata leave holes).
    fallbacks: list[SurveyInfo] = field(default_factory=list)
    baseline: SurveyInfo | None = None
    # The first survey measured and what it gave, reported when no survey covers enough.
    first: tuple[SurveyInfo, float | None, float] | None = None
    others: bool = False  # other surveys of the kind since the planned start were considered
    baselines: list[SurveyInfo] = field(default_factory=list)  # older baselines, should one be unreadable
    # The surveys passed over as unreadable, (id, why), as `evidence.skipped` notes them (not baselines).
    gone: list[tuple[str, str]] = field(default_factory=list)
    # The project's reports recorded by the version read, for the one of the flight's day (report_by).
    reports: Sequence[Report] = ()


NO_IMAGERY = "the twin holds no survey imagery: import drone surveys (venue-twin raster import)"


def holds_no_imagery(surveys: Surveys) -> bool:
    """Whether the twin holds no survey at all: none recorded by the version read, readable or
    not, and none recorded later."""
    return not surveys.usable and not surveys.unavailable and not surveys.later


def _no_survey_reason(surveys: Surveys, kind: str, start: date, on: date) -> Reason:
    """Why no survey speaks: none flown then, or (read at an earlier version) none recorded by it."""
    flown = f"no {kind} survey flown between its planned start {start} and {on}"
    later = surveys.newest_first([s for s in surveys.later if s.kind == kind and start <= s.date <= on])
    if not later:
        return Reason.of("no_survey", flown, kind=kind, start=start, on=on)
    version = surveys.ref.commit.id[:12] if surveys.ref.commit else "(empty twin)"
    s = later[0]
    text = (
        f"no {kind} survey recorded by version {version} (surveys_version) flown between its planned start "
        f"{start} and {on}; survey {s.id}, flown {s.date}, was recorded later, in {s.commit[:12]}"
    )
    return Reason.of(
        "no_survey_recorded", text, kind=kind, version=version, start=start, on=on, survey=s.id, flown=s.date,
        commit=s.commit[:12],
    )  # fmt: skip


def _prepare(
    twin: TwinLike,
    project: Project,
    reported: float | None,
    on: date,
    ref: Ref,
    surveys: Surveys,
    chosen: SurveyInfo | None,
    settings: EvidenceSettings,
    last_report: Report | None = None,
    reports: Sequence[Report] = (),
) -> Evidence | _Job:
    """The evidence of a project that the imagery cannot measure, or the job that measures it;
    ``reported`` its percent as of ``on`` (``last_report``'s), ``reports`` those recorded by the
    version read (the imagery is set against the one of the flight's day: report_by)."""
    ev = Evidence(project.code, project.category, on, reported, None)
    ev.report_date = last_report.on if last_report is not None else None
    geoms = feature_geometries(twin, project, ref)
    method, reason, keys = method_for(project, geoms, category_label(twin, ref, project.category))
    ev.features = tuple(keys)
    if method is None:
        assert reason is not None
        ev.because(reason)
        return ev
    ev.method = method
    kind = SURVEY_KIND[method]
    footprint = unary_union([geoms[k] for k in keys])
    min_share = settings.evidence_min_coverage
    others = False
    gone: list[tuple[str, str]] = []  # surveys passed over as unreadable: (id, why)
    if chosen is not None:
        if chosen.kind != kind:
            raise BadInput(f"survey {chosen.id} is of kind {chosen.kind}; {project.code}'s evidence needs {kind}")
        if chosen.id in surveys.unavailable:  # named, it is measured as named or not at all
            ev.survey, ev.survey_kind, ev.survey_date = chosen.id, chosen.kind, chosen.date
            ev.because(_unavailable([(chosen.id, surveys.unavailable[chosen.id][1])]))
            return ev
        order = [chosen]  # a survey named is measured as named
    else:
        # The latest survey whose extent covers enough of the footprint: a later flight over a
        # corner of the venue does not hide an earlier one over all of it. When none does, the
        # latest is measured anyway, and the evidence says how little of the footprint it covers.
        fit, covering, gone = _candidates(surveys, kind, project.planned_start, on, footprint, min_share)
        ev.skipped = tuple(_unavailable_note(sid, why) for sid, why in gone)
        if not fit:
            if holds_no_imagery(surveys):  # said once for the twin, not once per planned start
                ev.because(Reason.of("no_imagery", NO_IMAGERY))
            elif on < project.planned_start:  # "between 10-10 and 10-06" ran backwards
                start = project.planned_start
                ev.because(Reason.of("not_started", f"not started yet (planned start {start})", start=start))
            elif gone:
                ev.because(_unavailable(gone))
            else:
                ev.because(_no_survey_reason(surveys, kind, project.planned_start, on))
            return ev
        order = covering or fit[:1]
        others = len(fit) > 1
    info = order[0]
    ev.survey, ev.survey_kind, ev.survey_date = info.id, info.kind, info.date
    baselines: list[SurveyInfo] = []
    if kind == ORTHOPHOTO:
        before = [s for s in surveys.usable if s.kind == ORTHOPHOTO and s.date < project.planned_start]
        fits = [s for s in surveys.newest_first(before) if fine_enough(s, footprint)]
        baselines = [s for s in fits if extent_share(s, footprint) >= min_share]
    return _Job(
        ev, project, footprint, info, order[1:], baselines[0] if baselines else None, others=others,
        baselines=baselines[1:], gone=gone, reports=reports,
    )  # fmt: skip


def _unreadable(twin: TwinLike, surveys: Surveys, info: SurveyInfo, e: Exception) -> str:
    """A survey whose file failed past its header (truncated, not as recorded): passed over from now on."""
    why = str(e) if isinstance(e, BadInput) else f"file unreadable on this server ({e})"
    why = why.replace(str(twin.survey_path(info)), info.file_name)
    forget(twin, info, why)
    surveys.skip(info, why)
    return why


def _measure(twin: TwinLike, jobs: Sequence[_Job], settings: EvidenceSettings, surveys: Surveys) -> None:
    """Measure every job on its survey: one exactextract pass per survey raster and round. A job
    whose survey's valid pixels cover too little of its footprint goes on to its next older
    covering survey in the next round (rare: an extent that covers the footprint but a flight
    whose edges or nodata do not); so does one whose survey's file cannot be read."""
    pending = list(jobs)
    while pending:
        by_survey: dict[str, list[_Job]] = {}
        for j in pending:
            by_survey.setdefault(j.info.id, []).append(j)
        pending = []
        for group in by_survey.values():
            info = group[0].info
            try:
                measured = _measure_on(twin, info, group, settings)
            except (BadInput, RasterioError) as e:
                why = _unreadable(twin, surveys, info, e)
                note = _unavailable_note(info.id, why)
                for j in group:
                    j.evidence.skipped += (note,)
                    j.gone.append((info.id, why))
                    if j.fallbacks:
                        j.info = j.fallbacks.pop(0)
                        pending.append(j)
                    elif j.first is not None:  # an older one was measured: say so of it
                        j.info = j.first[0]
                        _conclude(j, j.first[1], j.first[2], settings)
                    else:
                        ev = j.evidence
                        ev.survey = ev.survey_kind = ev.survey_date = None
                        ev.because(_unavailable(j.gone))
                        j.baseline = None
                continue
            for j, (value, cov) in zip(group, measured, strict=True):
                enough = value is not None and not math.isnan(value) and cov >= settings.evidence_min_coverage
                if j.first is None:
                    j.first = (j.info, value, cov)
                if enough or not j.fallbacks:
                    if not enough:  # none covers enough: say so of the first (the latest) measured
                        j.info, value, cov = j.first
                    _conclude(j, value, cov, settings)
                else:
                    j.info = j.fallbacks.pop(0)
                    pending.append(j)
    # The change since each baseline: one pass per (baseline, survey) pair; an unreadable baseline
    # gives way to the next older one.
    todo = [j for j in jobs if j.baseline is not None and j.evidence.survey is not None]
    while todo:
        pairs: dict[tuple[str, str], list[_Job]] = {}
        for j in todo:
            assert j.baseline is not None
            pairs.setdefault((j.baseline.id, j.info.id), []).append(j)
        todo = []
        for group in pairs.values():
            first = group[0]
            assert first.baseline is not None
            try:
                changes = surface_change(
                    twin.survey_path(first.baseline),
                    twin.survey_path(first.info),
                    [j.footprint for j in group],
                    [j.project.code for j in group],
                    threshold=settings.evidence_change_threshold,
                    crs=METRIC_CRS,
                )
            except (BadInput, RasterioError) as e:
                # The survey itself was read just now: the baseline is the one that failed.
                base = first.baseline
                note = _unavailable_note(base.id, _unreadable(twin, surveys, base, e))
                for j in group:
                    j.evidence.skipped += (note,)
                    j.baselines = [b for b in j.baselines if b.id != base.id]
                    j.baseline = j.baselines.pop(0) if j.baselines else None
                    if j.baseline is not None:
                        todo.append(j)
                continue
            for j, (changed, _) in zip(group, changes, strict=True):
                j.evidence.baseline_survey, j.evidence.baseline_date = first.baseline.id, first.baseline.date
                j.evidence.changed = None if changed is None else 100.0 * changed


# What a survey's raster gave over a footprint (the NDVI share above its threshold, or the shares
# of each surface signature), kept by the file (path, size, mtime: a file replaced is read anew),
# the footprint's WKB and the threshold. A survey and a footprint give the same figures whatever
# the date asked: the timeline's steps, the maps and the late list of other dates measured every
# project's footprint again on the same flights, about 4 s a date for the bundled season.
_MEASURES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_MEASURES_SIZE = 20_000  # footprints kept (a few hundred bytes each)
_measures_lock = threading.Lock()


def _measured(keys: list[tuple[Any, ...]] | None, n: int, measure: Any) -> list[Any]:
    """The measures of `keys` (see _MEASURES), those not kept yet made by `measure(indices)`; all
    `n` made, and none kept, when the file could not be looked at (`keys` None: its reading says why)."""
    if keys is None:
        return measure(list(range(n)))  # type: ignore[no-any-return]
    with _measures_lock:
        got = [_MEASURES.get(k) for k in keys]
    todo = [i for i, g in enumerate(got) if g is None]
    if todo:
        for i, value in zip(todo, measure(todo), strict=True):
            got[i] = value
        with _measures_lock:
            for i in todo:
                _MEASURES[keys[i]] = got[i]
            while len(_MEASURES) > _MEASURES_SIZE:
                _MEASURES.popitem(last=False)
    return got


def _measure_on(
    twin: TwinLike, info: SurveyInfo, group: Sequence[_Job], settings: EvidenceSettings
) -> list[tuple[float | None, float]]:
    """(the measured share or None, the valid coverage) of each job's footprint on one survey."""
    path = twin.survey_path(info)
    geoms = [j.footprint for j in group]
    codes = [j.project.code for j in group]
    threshold = settings.evidence_ndvi_threshold if info.kind == NDVI else None
    try:
        st = path.stat()
    except OSError:
        keys = None  # the raster's reading raises what the caller words (a file missing here)
    else:
        keys = [(str(path), st.st_size, st.st_mtime_ns, info.kind, threshold, g.wkb) for g in geoms]
    if info.kind == NDVI:

        def ndvi(todo: list[int]) -> list[tuple[float | None, float]]:
            stats = zonal_stats(path, [geoms[i] for i in todo], [codes[i] for i in todo], crs=METRIC_CRS,
                                threshold=threshold)  # fmt: skip
            return [(s.above, s.coverage) for s in stats]

        return _measured(keys, len(group), ndvi)

    def shares(todo: list[int]) -> list[tuple[dict[str, float], float]]:
        return signature_shares(path, [geoms[i] for i in todo], [codes[i] for i in todo], crs=METRIC_CRS)

    measured: list[tuple[float | None, float]] = []
    for j, (share, cov) in zip(group, _measured(keys, len(group), shares), strict=True):
        layer = j.evidence.features[0].split("/")[0]
        measured.append((share.get(SURFACE_OF_LAYER[layer], 0.0) if cov > 0 else None, cov))
    return measured


def _conclude(job: _Job, value: float | None, coverage: float, settings: EvidenceSettings) -> None:
    ev = job.evidence
    ev.survey, ev.survey_kind, ev.survey_date = job.info.id, job.info.kind, job.info.date
    ev.coverage = 100.0 * coverage
    kind = job.info.kind
    if not fine_enough(job.info, job.footprint):
        pixels = job.footprint.area / job.info.resolution**2
        said = {"survey": ev.survey, "resolution": f"{job.info.resolution:.3g}", "area": f"{job.footprint.area:,.0f}",
                "pixels": f"{pixels:.2g}", "needed": MIN_PIXELS}  # fmt: skip
        text = (
            f"survey {said['survey']}'s pixels ({said['resolution']} m) are too coarse for the footprint "
            f"({said['area']} m², {said['pixels']} of its pixels; at least {MIN_PIXELS} needed)"
        )
        if job.others:
            text += f", and no other {kind} survey flown since its planned start covers it finely enough"
            ev.because(Reason.of("too_coarse_no_other", text, **said, kind=kind))
        else:
            ev.because(Reason.of("too_coarse", text, **said))
        return
    if value is None or math.isnan(value) or coverage < settings.evidence_min_coverage:
        said = {"survey": ev.survey, "coverage": f"{100 * coverage:.0f}",
                "needed": f"{100 * settings.evidence_min_coverage:.0f}"}  # fmt: skip
        text = f"survey {ev.survey} covers {said['coverage']} % of the footprint (at least {said['needed']} % needed)"
        if job.others:
            text += f", and no other {kind} survey flown since its planned start covers enough"
            ev.because(Reason.of("too_little_coverage_no_other", text, **said, kind=kind))
        else:
            ev.because(Reason.of("too_little_coverage", text, **said))
        return
    share = planned_share(job.project, job.footprint.area, settings)
    ev.measure = 100.0 * value
    ev.planned_share = 100.0 * share
    ev.estimate = min(100.0, 100.0 * value / share)
    judge(ev, job.reports, settings.evidence_margin)


def report_by(reports: Sequence[Report], day: date) -> Report | None:
    """The latest report dated on or before ``day`` (of two of one date, the later commit)."""
    best: Report | None = None
    for r in reports:
        if r.on <= day and (best is None or (r.on, r.seq) > (best.on, best.seq)):
            best = r
    return best


def judge(ev: Evidence, reports: Sequence[Report], margin: float) -> None:
    """Set a measured project's imagery against its report as it stood on the flight's day (the
    latest of ``reports`` dated on or before it), and flag the report that runs ahead of the
    estimate by more than ``margin`` points. A report made since the flight that runs that far
    ahead is not accused by the older photos: it is `imagery_older`, with a note, not a flag.
    The one rule every page, list and command reads its flags from."""
    assert ev.survey_date is not None and ev.estimate is not None
    at_flight = report_by(reports, ev.survey_date)
    ev.compared = at_flight.percent if at_flight is not None else None
    ev.compared_date = at_flight.on if at_flight is not None else None
    diff = ev.difference
    if diff is not None and diff > margin:
        ev.flag = True
        ev.message = flag_message(ev)
    elif ev.reported_since and ev.reported is not None and ev.reported - ev.estimate > margin:
        ev.imagery_older = True
        ev.note = older_note(ev)


# What the imagery measured, in the English of the flag's message (web.i18n words it in Chinese).
MEASURE_WORDS = {GREEN_COVER: "green cover", FINISHED_SURFACE: "finished surface", ROOF_CHANGE: "new roof membrane"}


def _day(d: date | None) -> str:
    return d.strftime("%m-%d") if d else "?"


def imagery_words(ev: Evidence) -> str:
    """What the imagery shows, in English: "imagery shows 49 % green cover on 10-06", with the
    estimate when the project plans to cover only part of its footprint."""
    text = f"imagery shows {ev.measure or 0:.0f} % {MEASURE_WORDS[ev.method or GREEN_COVER]} on {ev.flown}"
    if ev.estimate_differs:
        text += f" (about {ev.estimate:.0f} % of the planned {ev.planned_share or 0:.0f} %)"
    return text


def flag_message(ev: Evidence) -> str:
    """The flag in English, as the API and the CLI give it, naming the report the imagery is set
    against (the flight day's): "reported 90 % on 10-06, imagery shows 49 % green cover on 10-06",
    and the report of the date asked when it was made since ("; 100 % reported since, on 10-16").
    Pages word the same fields in their own language (web.i18n.evidence_flag)."""
    text = f"reported {ev.compared or 0:.0f} % on {_day(ev.compared_date)}, {imagery_words(ev)}"
    if ev.reported_since:
        text += f"; {ev.reported or 0:.0f} % reported since, on {_day(ev.report_date)}"
    return text


def older_note(ev: Evidence) -> str:
    """A report made since the flight, beyond what the imagery can check, in English: "reported
    100 % on 10-16, after the flight: imagery shows 75 % finished surface on 10-06, when 77 % was
    reported (10-06); imagery older than the report: fly again"."""
    text = f"reported {ev.reported or 0:.0f} % on {_day(ev.report_date)}, after the flight: {imagery_words(ev)}"
    if ev.compared is not None:
        text += f", when {ev.compared:.0f} % was reported ({_day(ev.compared_date)})"
    return text + "; imagery older than the report: fly again"


# ---------------------------------------------------------------------------- entry points
def survey_ref(twin: TwinLike, snap: Snapshot, version: str | None, surveys_version: str | None = None) -> Ref:
    """The version of the twin whose surveys are evidence about the snapshot's day:
    ``surveys_version`` when given (any way a version is named: id, HEAD~n, checkpoint, date),
    else the ``version`` asked (the twin as of that version, surveys and all), else the head. A
    flight is processed and recorded days after it is flown, so the twin as of the day itself
    would miss the flight of that morning; the flight date (at or before the day) is what decides
    whether a survey speaks to it. The evidence names this version (``surveys_version``) so that
    it can be asked for again."""
    if surveys_version is not None:
        from completion.snapshot import resolve_ref

        return resolve_ref(twin, surveys_version)
    return snap.ref if version is not None else twin.resolve()


def evidence_surveys(
    twin: TwinLike, snap: Snapshot, version: str | None = None, surveys_version: str | None = None
) -> Surveys:
    """The surveys the evidence about ``snap`` reads (see survey_ref), split by readability."""
    sref = survey_ref(twin, snap, version, surveys_version)
    head = twin.resolve()
    return read_surveys(twin, sref, at_head=sref.seq == head.seq)


def evidence_for_snapshot(
    twin: TwinLike,
    snap: Snapshot,
    settings: EvidenceSettings | None = None,
    survey_id: str | None = None,
    version: str | None = None,
    surveys: Surveys | None = None,
    surveys_version: str | None = None,
) -> list[Evidence]:
    """Evidence for every project of a completion snapshot (its date and register), from the
    surveys recorded by ``surveys_version`` (default: ``version``, else the head) and flown by the
    snapshot's day."""
    settings = settings or EvidenceSettings()
    surveys = surveys or evidence_surveys(twin, snap, version, surveys_version)
    chosen = _chosen(twin, survey_id, surveys.ref, snap.on)
    out: list[Evidence] = []
    jobs: list[_Job] = []
    for s in snap.statuses:
        reported = s.percent if s.last_report is not None else None
        item = _prepare(twin, s.project, reported, snap.on, snap.ref, surveys, chosen, settings, s.last_report,
                        _recorded(snap, s.project.code))  # fmt: skip
        if isinstance(item, _Job):
            jobs.append(item)
            out.append(item.evidence)
        else:
            out.append(item)
    _measure(twin, jobs, settings, surveys)
    return out


def _recorded(snap: Snapshot, code: str) -> list[Report]:
    """A project's reports as recorded by the snapshot's version (those the read knows)."""
    return [r for r in snap.reports.get(code, ()) if r.seq <= snap.ref.seq]


def _chosen(twin: TwinLike, survey_id: str | None, ref: Ref, on: date) -> SurveyInfo | None:
    if not survey_id:
        return None
    chosen = twin.survey(survey_id, ref)
    if chosen.date > on:
        raise BadInput(f"survey {chosen.id} was flown on {chosen.date}, after the date asked ({on})")
    return chosen


def all_evidence(
    twin: TwinLike,
    on: str | date | None = None,
    *,
    version: str | None = None,
    surveys_version: str | None = None,
    settings: EvidenceSettings | None = None,
    completion_settings: CompletionSettings | None = None,
) -> list[Evidence]:
    """Evidence for every project in the register as of ``on`` (a date or checkpoint label; default today)."""
    snap = Completion(twin, completion_settings).at(on, version)
    return evidence_for_snapshot(twin, snap, settings, version=version, surveys_version=surveys_version)


def project_evidence(
    twin: TwinLike,
    code: str,
    survey_id: str | None = None,
    on: str | date | None = None,
    *,
    version: str | None = None,
    surveys_version: str | None = None,
    settings: EvidenceSettings | None = None,
    completion_settings: CompletionSettings | None = None,
    surveys: Surveys | None = None,
) -> Evidence:
    """One project's evidence on ``on`` from the latest fitting survey, or from ``survey_id``."""
    settings = settings or EvidenceSettings()
    completion = Completion(twin, completion_settings)
    snap = completion.at(on, version)
    status = snap.status(code)
    surveys = surveys or evidence_surveys(twin, snap, version, surveys_version)
    chosen = _chosen(twin, survey_id, surveys.ref, snap.on)
    reported = status.percent if status.last_report is not None else None
    item = _prepare(twin, status.project, reported, snap.on, snap.ref, surveys, chosen, settings, status.last_report,
                    _recorded(snap, code))  # fmt: skip
    if isinstance(item, _Job):
        _measure(twin, [item], settings, surveys)
        return item.evidence
    return item


def flags_by_code(evidence: Sequence[Evidence]) -> dict[str, Evidence]:
    """Project code -> its evidence, for the projects whose report runs ahead of their imagery (the
    API gives its `message`; a page words its fields in the page's language)."""
    return {e.code: e for e in evidence if e.flag}


# ---------------------------------------------------------------------------- for status pages
_flags = Kept(32)


def snapshot_flags(
    twin: TwinLike, snap: Snapshot, version: str | None = None, surveys_version: str | None = None
) -> dict[str, Evidence]:
    """Project code -> flagged evidence for a completion snapshot, cached per twin state (a view's
    key includes what it hides) and snapshot, since the late list, the project pages and the maps
    ask it again and again. Empty, and cheap, while the twin has no survey.

    The key holds everything the flags depend on: the twin's state (its head, so a survey
    imported changes it: which survey covers which footprint is decided anew), the day and the
    register's version, the version the surveys are read at, which of them this server cannot
    read (a file restored is read again), and the evidence settings (the margin, and the minimum
    coverage that decides which survey speaks to a project)."""
    settings = EvidenceSettings()
    if not twin.surveys():
        return {}
    surveys = evidence_surveys(twin, snap, version, surveys_version)
    key = (
        twin.state_key(), snap.on, snap.ref.seq, surveys.ref.seq, frozenset(surveys.unavailable),
        tuple(sorted(settings.model_dump().items())),
    )  # fmt: skip
    return _flags.made(key, lambda: flags_by_code(evidence_for_snapshot(twin, snap, settings, surveys=surveys)))


def flag_messages(flags: Mapping[str, Evidence]) -> dict[str, str]:
    """Project code -> the flag's English message (what the API and the CLI give)."""
    return {code: ev.message or "" for code, ev in flags.items()}


def snapshot_flag_messages(twin: TwinLike, snap: Snapshot, version: str | None = None) -> dict[str, str]:
    """Project code -> the English message of its flag in a completion snapshot (`snapshot_flags`,
    then `flag_messages`)."""
    return flag_messages(snapshot_flags(twin, snap, version))


def flagged_not_late(
    snap: Snapshot, flags: Mapping[str, object], late: list[ProjectStatus] | None = None
) -> list[ProjectStatus]:
    """The projects whose report runs ahead of their imagery that are not in ``late``, in the
    register's order: ``late`` the list named before them, by default ``snap.late()`` (the pages,
    the briefing and the CLI pass ``snap.late_or_missed()``: after opening day a project done since
    is named among those that missed it, with its imagery, not again here)."""
    codes = {s.project.code for s in (snap.late() if late is None else late)}
    return [s for s in snap.statuses if s.project.code in flags and s.project.code not in codes]


def late_and_flagged(snap: Snapshot, flags: Mapping[str, object]) -> list[ProjectStatus]:
    """The late list, then the projects whose report runs ahead of their imagery that are not
    late by their reports (a flagged project reported done is the one to check first). The API's
    and CLI's one list; the pages show the two parts apart (late, then "imagery disagrees")."""
    late = snap.late()
    return late + flagged_not_late(snap, flags, late)
