"""A briefing to print: one A3 landscape page (PDF, or PNG for messaging apps) for a leaders' meeting,
or two A4 portrait pages (PDF) for an office printer (PAPERS).

The page holds the completion map (project features coloured by status over the venue's layers,
with a north arrow, a scale bar, a legend, the date and the data's age), the key figures
(overall and per-area weighted completion, actual against planned), the S-curve, the late
projects with their units and persons, and the overdue reports, labelled in Chinese or English.

Every figure is the completion API's own, read from the same snapshot the route /completion
reads (``Completion.at``): the roll-ups of ``Snapshot.overall`` and ``Snapshot.groups("area")``,
formatted as /completion's JSON gives them (``Group.to_dict``); the curve of
``Completion.scurve`` (/completion/scurve); the rows of ``late_row`` over ``late_and_flagged``
(/completion's late list: the late projects, then apart those the imagery disagrees with) and of ``missing_reports`` (/completion/missing). The map's features
come through ``twin.query.run_query``, the items endpoint's read path, as of the snapshot's
version, coloured by ``Snapshot.feature_statuses`` as the completion map colours them.

Drawn with matplotlib (the map through geopandas' plot), with no pyplot figure and no web
framework: the API route (api/completion.py) and ``venue-twin brief`` (cli/brief.py) call
``render_brief``. Text is set in a CJK font found through matplotlib's font manager
(WenQuanYi Micro Hei, Debian's fonts-wqy-microhei, or another listed in ``CJK_FAMILIES``) and
embedded as TrueType (Type 42), so the PDF's text can be searched and copied; without such a font
the page is drawn in DejaVu Sans with a warning (Chinese characters then show as boxes). Nothing is
fetched from the network.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import geopandas as gpd
import matplotlib
import orjson
import shapely
import shapely.affinity
from matplotlib import font_manager, patheffects
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch, Rectangle
from pyproj import Transformer

from completion.accountability import missing_reports
from completion.cache import Kept
from completion.evidence import Evidence, evidence_surveys, flag_messages, flagged_not_late, snapshot_flags
from completion.landing import landing_date
from completion.percent import json_percent
from completion.rollup import Group
from completion.snapshot import Completion, CurvePoint, Snapshot, late_row
from completion.status import SEVERITY
from twin.core import SHANGHAI, Ref, TwinLike
from twin.query import FeatureQuery, run_query
from web import i18n
from web.data import area_titles, spatial_layers
from web.fonts import common_family
from web.maps import DRAW_LEVELS, STATUS_PATTERNS, draw_level
from web.panels import evidence_page_url, legend_label, project_page_url, units_page_url

FORMATS = ("pdf", "png")
MEDIA_TYPES = {"pdf": "application/pdf", "png": "image/png"}
PAGE_MM = (420.0, 297.0)  # A3 landscape
# The papers a briefing is printed on: A3 landscape, one sheet (the default); or A4 portrait, two
# sheets, for an office printer. A4 is 210 mm wide and as tall as A3 landscape (297 mm), so the two
# sheets keep the A3 page's header, footer and type sizes (8.4 pt in the tables): the first holds the
# completion map (as tall as A3's, less wide) and the key figures, the second the S-curve and the
# late and overdue tables, one over the other. A3 scaled to A4 (what a printer's "fit to page" does)
# set the tables in 5.9 pt and the map's labels in 4.5 pt.
PAPERS = {"a3": (420.0, 297.0), "a4": (210.0, 297.0)}
PNG_DPI = 150  # sharp on a phone at well under 1 MB, which messaging apps pass on without shrinking it
MAP_CRS = "EPSG:4549"  # CGCS2000 Gauss-Krüger zone 40, the twin's metric CRS: the scale bar is true
# CJK families, best first; the first one the font manager knows is used.
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)
LATIN_FAMILY = "DejaVu Sans"  # matplotlib's own font: always there, and it has the symbols CJK fonts lack

INK = "#111827"
MUTED = "#6b7280"
RULE = "#d1d5db"
ACCENT = "#991b1b"  # the venue boundary's red, also the header rule
PLANNED_COLOUR = "#6b7280"
ACTUAL_COLOUR = "#b91c1c"
GREEN_EDGE = "#15803d"
GREEN_FILL = "#bbf7d0"
ROAD_GREY = "#9ca3af"
STALE_COLOUR = "#b45309"
# Behind and on track are as dark as done in grey, at risk as not started: on a black-and-white
# printer they read by the web map's patterns (web/maps.py STATUS_PATTERNS: white stripes, white
# dots, a dark cross-hatch) over their colour, a dashed or dotted stripe down a road, in the map
# and in its legends. Here each kind of pattern's matplotlib hatch and road dashes.
PRINT_HATCHES = {"stripes": "////", "dots": "..", "cross": "xxx"}
PRINT_ROAD_DASHES = {"stripes": (0, (3, 2.5)), "dots": (0, (0.6, 2.2)), "cross": (0, (1.6, 1.6))}
STATUS_HATCHES = {s: PRINT_HATCHES[p["kind"]] for s, p in STATUS_PATTERNS.items()}
STATUS_HATCH_COLOURS = {s: p["color"] for s, p in STATUS_PATTERNS.items()}
STATUS_ROAD_MARKS = {s: PRINT_ROAD_DASHES[p["kind"]] for s, p in STATUS_PATTERNS.items()}
ROAD_WIDTHS = {"arterial": 3.2, "secondary": 2.4, "branch": 1.8, "internal": 1.3, "pedestrian": 1.1}

_render_lock = threading.Lock()  # matplotlib's rcParams are process-wide; one page is drawn at a time


# ============================================================================ what the page shows
@dataclass
class BriefFacts:
    """The figures and features one briefing shows, each from the query the API answers it with."""

    snap: Snapshot
    overall: Group
    areas: list[Group]
    area_titles: dict[str, str]  # area key -> its name in the page's language (web.data.area_titles)
    curve: list[CurvePoint]
    late: list[dict[str, Any]]  # late_row(...) of the projects behind schedule (snap.late())
    # late_row(...) of the projects whose imagery disagrees with their report and that are not late:
    # with ``late``, /completion's "late" list (late_and_flagged), shown apart under its own heading
    disputed: list[dict[str, Any]]
    flagged: dict[str, Evidence]  # code -> its imagery, where that contradicts its report
    missing: list[dict[str, Any]]  # /completion/missing
    layers: list[tuple[str, str, gpd.GeoDataFrame]]  # (layer, title, features in MAP_CRS with "status")
    latest_report: date | None  # the newest report dated on or before the date
    # the version the imagery was read at (completion.evidence.survey_ref: the head unless a version
    # was asked), when the twin has surveys and it is not the snapshot's own: the footer names both,
    # so that the figures can be read again (/evidence?version=…&surveys_version=…)
    surveys_version: Ref | None = None
    # what the page says under its header when its date is not today (date_note)
    note: DateNote | None = None
    # on opening day or after it, late_row(...) of the projects reported done since (they missed it,
    # done since: Snapshot.done_since_opening), listed after the late ones under "Missed opening day"
    done_since: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def gather(twin: TwinLike, comp: Completion, snap: Snapshot, lang: str, version: str | None = None) -> BriefFacts:
    """Read what the page shows: ``snap`` is the /completion route's snapshot (``comp.at``)."""
    flags = snapshot_flags(twin, snap, version)
    states = snap.report_states()
    messages = flag_messages(flags)
    behind = snap.late()
    late = [late_row(s, states[s.project.code], messages.get(s.project.code)) for s in behind]
    # (after opening day a project done since is in the late table's second part, done_since, with
    # its imagery: not again among those the imagery disputes)
    disputed = [
        late_row(s, states[s.project.code], messages.get(s.project.code))
        for s in flagged_not_late(snap, flags, snap.late_or_missed())
    ]
    statuses = snap.feature_statuses()
    layers = []
    for schema in spatial_layers(twin, snap.ref):
        page = run_query(twin, FeatureQuery(layer=schema.name, ref=snap.ref))
        docs = [orjson.loads(b) for b in page.features]
        frame = gpd.GeoDataFrame.from_features(docs, crs="EPSG:4326") if docs else gpd.GeoDataFrame(geometry=[])
        if docs:
            frame["fid"] = page.feature_ids
            frame["status"] = [statuses.get(f"{schema.name}/{fid}") for fid in page.feature_ids]
            frame = frame.to_crs(MAP_CRS)
        layers.append((schema.name, i18n.layer_title(lang, schema), frame))
    dates = [r.on for reports in snap.reports.values() for r in reports if r.on <= snap.on]
    sref = evidence_surveys(twin, snap, version).ref if flags or twin.surveys() else None
    return BriefFacts(
        snap=snap,
        overall=snap.overall(),
        areas=snap.groups("area"),
        area_titles=area_titles(twin, lang),
        curve=comp.scurve(snap).get("overall", []),
        late=late,
        disputed=disputed,
        flagged=flags,
        missing=missing_reports(snap.statuses, states),
        layers=layers,
        latest_report=max(dates, default=None),
        surveys_version=sref if sref is not None and sref.seq != snap.ref.seq else None,
        done_since=[
            late_row(s, states[s.project.code], messages.get(s.project.code)) for s in snap.done_since_opening()
        ],
    )


@dataclass(frozen=True)
class DateNote:
    """What a briefing says under its header when its date is not today: which date the page shows
    and how long before opening day (``latest``: and that it is the latest checkpoint with reports,
    the date the maps open on, when the page is of that date and was not asked for by date), then
    ``why`` (a label: opening day has since passed, or no report since), with today's date."""

    today: date
    why: str  # "brief_note_passed" or completion.landing.NOTE_LABELS' "landed_no_reports"
    on: date  # the page's date
    opening: date
    latest: bool = False

    def parts(self, lang: str) -> tuple[str, str]:
        """The note in ``lang`` as (which date the page shows; why, with today's date).

        Worded as two plain statements of fact, each with its own date: "This briefing shows
        2026-10-06, 30 days before opening day. Opening day has since passed (today: 2026-12-07)."
        ("Opening day has passed; today is 2026-12-07" beside the header's "30 days to opening day"
        read as a contradiction.)"""
        why = i18n.label(lang, self.why, today=self.today.isoformat())
        n = (self.opening - self.on).days
        when = i18n.label(
            lang, "brief_note_on_opening" if n == 0 else "brief_note_day_before" if n == 1 else "brief_note_before", n=n
        )
        key = "brief_note_shows_latest" if self.latest else "brief_note_shows"
        shown = i18n.label(lang, key, date=self.on.isoformat(), when=when)
        return shown + ("" if lang == "zh" else " "), why


def date_note(twin: TwinLike, snap: Snapshot, version: str | None, asked: bool | None = None) -> DateNote | None:
    """What the briefing of ``snap`` says under its header, or None for nothing.

    ``asked``: whether the caller named the date (or a version); None when the caller cannot say
    (the API lands on completion.landing's date itself when none is asked, before it calls here).
    A page of the date the maps open on today, when that is not today and the date was not named,
    says that it shows the latest checkpoint with reports, as the completion map's banner does; a
    page of a date named says only which date it shows (the same date asked for by --date read "the
    latest checkpoint with reports" as if it had been chosen for the reader). Any page of a date
    before opening day or on it, made after it, says that opening day has since passed: a forwarded copy
    headed "10 days to opening day" said nothing else."""
    landing = landing_date(twin)
    landed = version is None and landing.moved and landing.on == snap.on and bool(landing.checkpoint)
    if landed and asked is not True:
        return DateNote(landing.today, landing.why_label, snap.on, snap.opening, latest=True)
    if snap.on <= snap.opening < landing.today:  # opening day's own page too ("opening today")
        return DateNote(landing.today, "brief_note_passed", snap.on, snap.opening)
    return None


def api_percent(value: float) -> str:
    """A percent as /completion's JSON writes it (``Group.to_dict`` rounds to 2 places): 94.79, 100.0;
    never 100 below it nor 0 above it (99.999 -> 99.99, completion.percent.json_percent)."""
    return f"{json_percent(value)!r}%"


# ============================================================================ fonts
def font_families() -> list[str]:
    """The CJK family to set text in (found through matplotlib's font manager), then DejaVu Sans
    for the symbols it lacks; DejaVu Sans alone, with a warning, when no CJK font is installed."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            # Its everyday characters first, four times cheaper to embed (web.fonts); not for a
            # family with a bold face of its own, which the copy (of the regular face) would hide.
            bold = any(f.name == family and _weight_of(f) >= 600 for f in font_manager.fontManager.ttflist)
            common = None if bold else common_family(family)
            return [common, family, LATIN_FAMILY] if common else [family, LATIN_FAMILY]
    warnings.warn(
        "no CJK font found (install fonts-wqy-microhei, or one of "
        f"{', '.join(CJK_FAMILIES[1:])}); the briefing's Chinese text will show as boxes",
        RuntimeWarning,
        stacklevel=2,
    )
    return [LATIN_FAMILY]


# ============================================================================ page geometry (mm)
@dataclass(frozen=True)
class Box:
    """A rectangle on the page in millimetres from its lower left corner."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w


def _weight_of(entry: Any) -> int:
    w = entry.weight
    return w if isinstance(w, int) else int(font_manager.weight_dict.get(w, 400))


# where a line may break: after any Chinese character, or after a word and its spaces
WRAP_TOKENS = re.compile(r"[\u3000-\u9fff\uff00-\uffef]\s*|[^\s\u3000-\u9fff\uff00-\uffef]+\s*")


@functools.lru_cache(maxsize=1 << 16)
def _text_width(families: tuple[str, ...], text: str, size: float, bold: bool) -> float:
    """The width of ``text`` in pixels at PNG_DPI, measured once per text, font and size for every
    page drawn. Why kept: fitting the tables measures each cell again and again (each language,
    each count of rows that may fit, each wrap tried), which was half of a page's drawing time; a
    measure depends only on these four (the page's figure is always PNG_DPI)."""
    font = FontProperties(family=list(families), size=size, weight="bold" if bold else "normal")
    with _measure_lock:
        w, _, _ = _measurer().get_text_width_height_descent(text, font, ismath=False)
    return float(w)


_measure_lock = threading.Lock()  # a renderer is not to be shared by threads measuring at once


@functools.cache
def _measurer() -> RendererAgg:
    return RendererAgg(1, 1, PNG_DPI)  # measures text: its canvas is never drawn on


class Page:
    """A figure of a sheet of paper (A3 landscape unless ``size`` says otherwise) addressed in
    millimetres, whose text is measured before it is placed (so it is fitted or wrapped to its room,
    never cut off or overlapping)."""

    def __init__(self, families: list[str], size: tuple[float, float] = PAGE_MM):
        self.w, self.h = size
        self.fig = Figure(figsize=(self.w / 25.4, self.h / 25.4), dpi=PNG_DPI)
        # A canvas that draws nothing until saved: geopandas asks for a redraw after every plot.
        FigureCanvasBase(self.fig)
        self.families = families
        # WenQuanYi Micro Hei has one weight: bold is then drawn as the glyphs' outline stroked
        # under the text (the text itself stays text in the PDF).
        self.true_bold = any(f.name == families[0] and _weight_of(f) >= 600 for f in font_manager.fontManager.ttflist)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0, self.w)
        self.ax.set_ylim(0, self.h)
        self.ax.set_axis_off()
        self.ax.set_zorder(-1)

    def font(self, size: float, bold: bool = False) -> FontProperties:
        return FontProperties(family=self.families, size=size, weight="bold" if bold and self.true_bold else "normal")

    def axes(self, b: Box) -> Axes:
        return self.fig.add_axes((b.x / self.w, b.y / self.h, b.w / self.w, b.h / self.h))

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """The width of ``text`` in mm as it will be drawn."""
        if not text:
            return 0.0
        w = _text_width(tuple(self.families), text, size, bold and self.true_bold)
        return w / PNG_DPI * 25.4 + (0.06 * size * 0.3528 if bold else 0.0)

    def fit(self, text: str, width: float, size: float, bold: bool = False) -> str:
        """``text``, shortened with an ellipsis if it is wider than ``width`` mm."""
        if self.width(text, size, bold) <= width:
            return text
        while text and self.width(text + "…", size, bold) > width:
            text = text[:-1]
        return text.rstrip() + "…"

    def lines_in(self, text: str, width: float, size: float, bold: bool = False) -> int:
        """How many lines ``wrap`` breaks ``text`` into at ``width`` mm, with no limit on their number."""
        return len([s for s in self._broken(text, width, size, bold, None) if s])

    def narrowest(self, text: str, size: float, bold: bool = False, lines: int = 2) -> float:
        """The narrowest width in mm (to 0.05 mm) at which ``wrap`` sets ``text`` in ``lines`` lines,
        none shortened or running over: at least its widest word."""
        lo = max((self.width(tok.rstrip(), size, bold) for tok in WRAP_TOKENS.findall(text)), default=0.0)
        hi = max(lo, self.width(text, size, bold))
        if self.lines_in(text, lo, size, bold) <= lines:
            return lo
        while hi - lo > 0.05:
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if self.lines_in(text, mid, size, bold) <= lines else (mid, hi)
        return hi

    def wrap(self, text: str, width: float, size: float, bold: bool = False, lines: int = 2) -> list[str]:
        """``text`` in at most ``lines`` lines of ``width`` mm, broken between words or between
        Chinese characters; the last line shortened with an ellipsis if it still does not fit."""
        out = self._broken(text, width, size, bold, lines)
        out[-1] = self.fit(out[-1], width, size, bold)
        return [s for s in out if s]

    def _broken(self, text: str, width: float, size: float, bold: bool, lines: int | None) -> list[str]:
        """``text`` broken into lines of ``width`` mm between words or between Chinese characters;
        with ``lines``, what is left after ``lines`` - 1 breaks stands whole on the last line."""
        tokens = WRAP_TOKENS.findall(text)
        out: list[str] = []
        line = ""
        for i, tok in enumerate(tokens):
            if not line or self.width((line + tok).rstrip(), size, bold) <= width:
                line += tok
                continue
            out.append(line.rstrip())
            line = tok
            if lines is not None and len(out) == lines - 1:
                line = "".join(tokens[i:])
                break
        out.append(line.rstrip())
        return out

    def put(
        self,
        ax: Axes | None,
        x: float,
        y: float,
        s: str,
        size: float,
        *,
        bold: bool = False,
        colour: str = INK,
        halo: float = 0.0,
        **kw: Any,
    ) -> None:
        """Text at (x, y) in ``ax``'s data coordinates (the page's millimetres by default). A halo
        or a drawn bold is an outline under the text, so the text stays text (searchable)."""
        ax = ax or self.ax
        under = []
        if halo:
            under.append(patheffects.Stroke(linewidth=halo, foreground="white"))
        if bold and not self.true_bold:
            under.append(patheffects.Stroke(linewidth=0.055 * size, foreground=colour))
        font = self.font(size, bold)
        if under:
            outline = {k: v for k, v in kw.items() if k != "url"}  # a link once, on the text itself
            ax.text(x, y, s, fontproperties=font, color=colour, path_effects=under, **outline)
        ax.text(x, y, s, fontproperties=font, color=colour, **kw)

    def text(self, x: float, y: float, s: str, size: float, bold: bool = False, colour: str = INK, **kw: Any) -> None:
        self.put(None, x, y, s, size, bold=bold, colour=colour, **kw)

    def badge_width(self, text: str, size: float) -> float:
        """The width in mm of ``badge(text, size)``, its frame included."""
        return self.width(text, size, True) + 2 * BADGE_PAD

    def badge(self, x: float, y: float, text: str, size: float) -> float:
        """The maps' imagery badge (panels.css .vt-badge-imagery: a word in violet on a pale violet
        box, not the ⚑ that counts behind projects) with its left edge at ``x`` and its text's
        baseline at ``y``; returns its width in mm."""
        w = self.badge_width(text, size)
        h = size * 0.3528 * 1.15
        box = (x + 0.3, y - 0.28 * h, w - 0.6, h)
        style = "round,pad=0.3,rounding_size=0.6"
        self.ax.add_patch(FancyBboxPatch(box[:2], *box[2:], boxstyle=style, fc=BADGE_FILL, ec=BADGE_EDGE, lw=0.6))
        self.text(x + BADGE_PAD, y, text, size, bold=True, colour=IMAGERY_COLOUR, va="baseline")
        return w

    def rule(self, x0: float, x1: float, y: float, colour: str = RULE, lw: float = 0.6) -> None:
        self.ax.plot([x0, x1], [y, y], color=colour, lw=lw, solid_capstyle="butt")

    def heading(self, b: Box, text: str, note: str = "") -> None:
        """A section heading along the top of ``b``, with a rule under it; ``note`` right-aligned."""
        y = b.top - 4.6
        self.text(b.x, y, text, 12.5, bold=True)
        if note:
            room = b.w - self.width(text, 12.5, True) - 6
            self.text(b.right, y, self.fit(note, room, 8.5), 8.5, colour=MUTED, ha="right")
        self.rule(b.x, b.right, b.top - 7.0, colour=INK, lw=0.8)


HEADING_H = 9.5  # a heading's height, rule included, down from its box's top
# The imagery badge, as the maps draw it (web/static/panels.css .vt-badge-imagery).
IMAGERY_COLOUR, BADGE_FILL, BADGE_EDGE = "#5b21b6", "#f5f3ff", "#a78bfa"
BADGE_PAD = 1.0  # mm between the badge's frame and its word
BADGE_GAP = 1.2  # mm between a badge and the text after it
BADGE_SIZE = 7.2  # its word's size in points (a table's text is 8.4)


# ============================================================================ the page
MARGIN = 12.0
TOP = 257.0  # the sections' top edge, under the page header
FOOTER_TOP = 15.0  # the footer's rule
GUTTER = 10.0


@dataclass(frozen=True)
class Layout:
    map: Box
    figures: Box
    curve: Box
    late: Box
    missing: Box


def _layout(tables_h: float, late_w: float) -> Layout:
    """The sections' boxes: the tables' band as tall as they need (within limits), the map and
    the figures above it; the late table ``late_w`` wide, the reports missing beside it."""
    band_top = FOOTER_TOP + 3 + tables_h
    left_w = 216.0
    right_x = MARGIN + left_w + GUTTER
    right_w = PAGE_MM[0] - MARGIN - right_x
    upper = Box(MARGIN, band_top + GUTTER, left_w, TOP - band_top - GUTTER)
    figures_h = 72.0
    return Layout(
        map=upper,
        figures=Box(right_x, TOP - figures_h, right_w, figures_h),
        curve=Box(right_x, upper.y, right_w, TOP - figures_h - 6 - upper.y),
        late=Box(MARGIN, FOOTER_TOP + 3, late_w, tables_h),
        missing=Box(MARGIN + late_w + GUTTER, FOOTER_TOP + 3, PAGE_MM[0] - 2 * MARGIN - late_w - GUTTER, tables_h),
    )


def render_brief(
    twin: TwinLike,
    comp: Completion,
    snap: Snapshot,
    *,
    lang: str,
    fmt: str,
    version: str | None = None,
    base_url: str | None = None,
    turn: Callable[[], AbstractContextManager[Any]] | None = None,
    asked: bool | None = None,
    paper: str = "a3",
) -> bytes:
    """The briefing as PDF or PNG bytes, for the snapshot /completion answers from (``comp.at``).
    ``base_url`` (the service's address, as the API answers): in the PDF, each listed project code
    links to its page of the briefing's date (GET /projects/{code}?f=html); None links nothing.
    ``turn``: what a page not drawn yet waits in before it is drawn (the API's api.renders queue,
    which may refuse); a page kept from before is answered at once. ``asked``: whether the caller
    named the date or a version (None: cannot say); see date_note. ``paper``: a3 (one A3 landscape
    sheet) or a4 (two A4 portrait sheets, PDF only: see PAPERS)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    problem = paper_problem(paper, fmt)
    if problem:
        raise ValueError(problem)
    # the note under the header, which depends on today (completion.landing)
    note = date_note(twin, snap, version, asked)
    # what the caller may see (the view's state key), the snapshot, how it was asked for, and the note
    key = (twin.state_key(), snap.on, snap.ref.seq, version is None, lang, fmt, base_url, note, paper)
    made = _made.get(key)
    if made is not None:
        return made
    with turn() if turn is not None else nullcontext():
        made = _made.get(key)  # drawn by a request ahead in the queue meanwhile
        if made is not None:
            return made
        body = _render(twin, comp, snap, lang, fmt, version, base_url, note, paper)
    _made.put(key, body)
    return body


# The pages made last, kept: a page is asked for again (HEAD then GET, a phone re-opening a link)
# and takes seconds to draw; a snapshot never changes, and a new commit is a new key.
MADE_KEPT = 8
_made = Kept(MADE_KEPT)  # not made once by Kept.made: the render queue (`turn`) decides who draws


def paper_problem(paper: str, fmt: str) -> str | None:
    """Why a briefing cannot be drawn on ``paper`` in ``fmt`` (the words the API and the CLI say),
    or None. A4 is two sheets to print: the PNG, one image to send, is A3's."""
    if paper not in PAPERS:
        return f"paper {paper!r} is not one of {', '.join(PAPERS)}"
    if paper != "a3" and fmt != "pdf":
        return f"paper {paper} is two sheets to print, as PDF; the {fmt.upper()} is one A3 page"
    return None


def _render(
    twin: TwinLike,
    comp: Completion,
    snap: Snapshot,
    lang: str,
    fmt: str,
    version: str | None,
    base_url: str | None = None,
    note: DateNote | None = None,
    paper: str = "a3",
) -> bytes:
    facts = dataclasses.replace(gather(twin, comp, snap, lang, version), note=note)
    link = None
    if base_url is not None and fmt == "pdf":
        base = base_url.rstrip("/")

        def link(code: str) -> str:  # a project's page of the briefing's date (web.panels.project_page_url)
            return project_page_url(lambda path, **q: f"{base}{path}?{urlencode(q)}", code, snap.on.isoformat(), lang)

    with _render_lock, matplotlib.rc_context(_RC):
        if paper == "a4":
            return _render_a4(facts, lang, link, version, base_url)
        page = Page(font_families())
        # the late table's second group (imagery disagrees) brings its sub-heading and its own "more"
        # line: room for them too
        most = MAX_TABLES_H + (SUB_HEAD_H + MORE_H if facts.disputed else 0.0)
        # No report missing: that box needs only its line, and the late table the room (at T-15 it
        # listed 4 of 8 late projects on two lines each beside 170 mm saying "No report is overdue").
        late_w = LATE_W if facts.missing else WIDE_LATE_W
        missing_w = PAGE_MM[0] - 2 * MARGIN - late_w - GUTTER
        late, missing = _fitted_tables(page, facts, lang, link, version, base_url, (late_w, most), (missing_w, most))
        needed = max(late.height(page, late_w), missing.height(page, missing_w))
        layout = _layout(min(max(needed, MIN_TABLES_H), most), late_w)
        _header(page, facts, lang)
        _map(page, layout.map, facts, lang)
        _key_figures(page, layout.figures, facts, lang)
        _scurve(page, layout.curve, facts, lang)
        late.draw(page, layout.late)
        missing.draw(page, layout.missing)
        _footer(page, facts, lang)
        out = io.BytesIO()
        if fmt == "pdf":
            page.fig.savefig(out, format="pdf", metadata=_pdf_metadata(facts, lang))
        else:
            page.fig.savefig(out, format="png", dpi=PNG_DPI, metadata={"Title": _title(facts, lang)})
        return out.getvalue()


def _fitted_tables(
    page: Page,
    facts: BriefFacts,
    lang: str,
    link: Callable[[str], str] | None,
    version: str | None,
    base_url: str | None,
    late_box: tuple[float, float],
    missing_box: tuple[float, float],
    narrow: bool = False,
) -> tuple[Table, Table]:
    """The late and the overdue tables, each listing as many rows as fit in its box (width, most
    height in mm) in both languages: the zh and the en papers of one meeting list the same projects
    (English names wrap sooner: 5 of 12 late against 9). ``narrow``: the A4 sheet's tables."""
    late_w, late_most = late_box
    missing_w, missing_most = missing_box

    def late_in(language: str) -> Table:
        late = _late_table(facts, language, link, version, base_url)
        if narrow:  # A4: a name in three lines before an ellipsis, the imagery's note whole in its four
            return dataclasses.replace(late, name_lines=A4_NAME_LINES, note_lines=A4_NOTE_LINES)
        short = dataclasses.replace(late, note_lines=ROW_LINES)
        # a note's third line left a row out
        return short if short.shown(page, late_w, late_most) > late.shown(page, late_w, late_most) else late

    other = i18n.other_lang(lang)
    late, late_other = late_in(lang), late_in(other)
    fit, fit_other = late.counts(page, late_w, late_most), late_other.counts(page, late_w, late_most)
    late = dataclasses.replace(late, limit=(min(fit[0], fit_other[0]), min(fit[1], fit_other[1])))
    missing = _missing_table(facts, lang, link, version, base_url)
    fit = missing.counts(page, missing_w, missing_most)
    fit_other = _missing_table(facts, other, link, version, base_url).counts(page, missing_w, missing_most)
    return late, dataclasses.replace(missing, limit=(min(fit[0], fit_other[0]), 0))


# A4 portrait (PAPERS): the second sheet's room for the overdue reports, under the S-curve and the late
# projects; the late table has the rest.
A4_CURVE_H = 62.0
A4_MISSING_H = 62.0
A4_FIGURES_H = 72.0
# On A4 the late table is 186 mm for nine columns: a project's or a unit's name takes a third line
# rather than being cut, and a disputed project's name with the imagery's note a fourth (its note was
# cut: "Venue lawns renewal: image…"), the note whole before one more row listed.
A4_NAME_LINES, A4_NOTE_LINES = 3, 4


def _render_a4(
    facts: BriefFacts, lang: str, link: Callable[[str], str] | None, version: str | None, base_url: str | None
) -> bytes:
    """The briefing on two A4 portrait sheets (PAPERS), as one PDF: the first the completion map and
    the key figures, the second the S-curve, the late projects and the overdue reports. Each sheet
    has the header (what it is, of which date) and the footer (the source, and which sheet of two)."""
    families = font_families()
    first, second = Page(families, PAPERS["a4"]), Page(families, PAPERS["a4"])
    width = first.w - 2 * MARGIN
    bottom = FOOTER_TOP + 3
    # the first sheet: the map down to the key figures
    figures = Box(MARGIN, bottom, width, A4_FIGURES_H)
    map_box = Box(MARGIN, figures.top + GUTTER, width, TOP - figures.top - GUTTER)
    # the second: the S-curve, the late projects under it, then the overdue reports
    curve = Box(MARGIN, TOP - A4_CURVE_H, width, A4_CURVE_H)
    late_most = curve.y - GUTTER - bottom - A4_MISSING_H - GUTTER
    late, missing = _fitted_tables(
        second, facts, lang, link, version, base_url, (width, late_most), (width, A4_MISSING_H), narrow=True
    )
    late_h = min(max(late.height(second, width), MIN_TABLES_H), late_most)
    late_box = Box(MARGIN, curve.y - GUTTER - late_h, width, late_h)
    missing_h = min(max(missing.height(second, width), MIN_TABLES_H), A4_MISSING_H)
    missing_box = Box(MARGIN, late_box.y - GUTTER - missing_h, width, missing_h)
    for n, page in enumerate((first, second), start=1):
        _header(page, facts, lang)
        _footer(page, facts, lang, sheet=(n, 2))
    _map(first, map_box, facts, lang)
    _key_figures(first, figures, facts, lang)
    _scurve(second, curve, facts, lang)
    late.draw(second, late_box)
    missing.draw(second, missing_box)
    out = io.BytesIO()
    with PdfPages(out, metadata=_pdf_metadata(facts, lang)) as pdf:
        pdf.savefig(first.fig)
        pdf.savefig(second.fig)
    return out.getvalue()


_RC: dict[Any, Any] = {
    "pdf.fonttype": 42,  # TrueType embedded: the text stays text (searchable, copyable)
    "axes.unicode_minus": False,  # CJK fonts often lack U+2212
    "text.parse_math": False,  # names are the register's text: a "$" in one is a dollar sign, not TeX
    # unhinted glyphs, so that a halo or a drawn bold (the outline under the text) lines up with
    # the text in the PNG as it does in the PDF
    "text.hinting": "no_hinting",
    "path.simplify": True,
}


def _title(facts: BriefFacts, lang: str) -> str:
    return f"{i18n.label(lang, 'brief_title')} · {facts.snap.on.isoformat()}"


def _pdf_metadata(facts: BriefFacts, lang: str) -> dict[str, Any]:
    return {
        "Title": _title(facts, lang),
        "Subject": i18n.label(lang, "venue"),
        "Creator": i18n.label(lang, "product"),
        "Keywords": f"version {facts.snap.version or '-'}",
    }


def _version_text(facts: BriefFacts) -> tuple[str, str]:
    ref = facts.snap.ref
    if ref.commit is None:
        return "–", "–"
    return ref.commit.id[:12], ref.commit.time.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _data_age(facts: BriefFacts, lang: str) -> str:
    version, committed = _version_text(facts)
    if facts.latest_report is None:
        latest = i18n.label(lang, "brief_no_reports")
    else:
        days = (facts.snap.on - facts.latest_report).days
        age = i18n.label(lang, "brief_same_day") if days == 0 else i18n.label(lang, "brief_days_old", n=days)
        latest = i18n.label(lang, "brief_latest_report", date=facts.latest_report.isoformat(), age=age)
    return i18n.label(lang, "brief_data_age", latest=latest, version=version, time=committed)


def _days_text(snap: Snapshot, lang: str) -> str:
    days, opening = snap.days_to_opening, snap.opening.isoformat()
    if days > 0:
        return f"{i18n.label(lang, 'brief_days_left', n=days)} · {i18n.label(lang, 'opening_day', date=opening)}"
    if days == 0:
        return i18n.label(lang, "opening_today")
    return i18n.label(lang, "opening_passed", date=opening)


def _header(page: Page, facts: BriefFacts, lang: str) -> None:
    snap = facts.snap
    x0, x1 = MARGIN, page.w - MARGIN
    page.ax.add_patch(Rectangle((0, 266.0), page.w, 1.0, color=ACCENT, lw=0))
    when = snap.on.isoformat() + (f" · {snap.checkpoint}" if snap.checkpoint else "")
    days = _days_text(snap, lang)
    title = i18n.label(lang, "brief_title")
    # the title and the date in 22 and 20 pt; on a narrower sheet (A4 portrait) smaller, down to 16
    # and 15 pt, before the title is shortened
    big = 22.0
    while big > 16 and page.width(title, big, True) > x1 - x0 - _header_right(page, when, days, big) - 2:
        big -= 0.5
    right_w = _header_right(page, when, days, big)
    sub = f"{i18n.label(lang, 'venue')} · {i18n.label(lang, 'expo')}"
    # the venue and the expo on two lines when they do not fit on one beside the days (A4 in English:
    # "China International Impor…"), the header then lifted by a line into the sheet's top margin
    subs = page.wrap(sub, x1 - x0 - right_w, 10.5, lines=2)
    lift = (len(subs) - 1) * SUB_LINE_H
    page.text(x0, 277.5 + lift, page.fit(title, x1 - x0 - right_w, big, True), big, bold=True)
    for k, line in enumerate(subs):
        page.text(x0, 270.0 + lift - k * SUB_LINE_H, line, 10.5, colour=MUTED)
    page.text(x1, 277.5 + lift, when, big - 2, bold=True, ha="right")
    page.text(x1, 270.0 + lift, days, 10.5, colour=MUTED, ha="right")
    if facts.note is not None:  # under the days, which it qualifies: the completion map's note, as it draws it
        _date_note(page, *facts.note.parts(lang), x0, x1)


SUB_LINE_H = 10.5 * 0.3528 * 1.15  # the header's second line of the venue and the expo


def _header_right(page: Page, when: str, days: str, big: float) -> float:
    """The header's room on the right for the date (``big`` - 2 pt) and the days to opening day."""
    return max(page.width(when, big - 2, True), page.width(days, 10.5)) + 8


NOTE_FILL, NOTE_BAR = "#eff6ff", "#2563eb"  # the maps' landing note (panels.css .vt-landing-note)


def _date_note(page: Page, shown: str, why: str, x0: float, x1: float) -> None:
    """The note on the maps' pale blue with a blue bar at its left, right-aligned between the header's
    rule and the sections: which date the page shows, then why, in bold (that opening day has passed,
    today's date)."""
    size, pad, bar = 9.5, 2.2, 1.2
    why_w = page.width(why, size, True)
    shown = page.fit(shown, x1 - x0 - 2 * pad - bar - why_w, size) if shown else ""
    w = page.width(shown, size) + why_w + 2 * pad + bar
    page.ax.add_patch(Rectangle((x1 - w, 258.4), w, 6.0, color=NOTE_FILL, lw=0))
    page.ax.add_patch(Rectangle((x1 - w, 258.4), bar, 6.0, color=NOTE_BAR, lw=0))
    page.text(x1 - pad, 261.4, why, size, bold=True, ha="right", va="center")
    if shown:
        page.text(x1 - pad - why_w, 261.4, shown, size, ha="right", va="center")


def _footer(page: Page, facts: BriefFacts, lang: str, sheet: tuple[int, int] | None = None) -> None:
    """The source and the version read, and when the page was made; ``sheet``: (n, of) when the
    briefing is more than one sheet (A4), said after it."""
    version, committed = _version_text(facts)
    made = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    right = i18n.label(lang, "brief_generated", time=made)
    if sheet is not None:
        right += f" · {sheet[0]} / {sheet[1]}"
    left = i18n.label(lang, "brief_source", product=i18n.label(lang, "product"), version=version, time=committed)
    imagery = facts.surveys_version
    if imagery is not None and imagery.commit is not None:
        left += ("" if lang == "zh" else " ") + i18n.label(
            lang, "brief_imagery_version", version=imagery.commit.id[:12]
        )
    left += ("" if lang == "zh" else " ") + i18n.label(lang, "approximate")  # no space after a Chinese full stop
    page.rule(MARGIN, page.w - MARGIN, FOOTER_TOP)
    room = page.w - 2 * MARGIN - page.width(right, 7.5) - 8
    # beside the date made on one line, or (A4: "Positions are appro…") on two, the second the sheet's
    # width under both
    first = page._broken(left, room, 7.5, False, None)[0]
    rest = left[len(first) :].strip()
    lines = [first, page.fit(rest, page.w - 2 * MARGIN, 7.5)] if rest else [page.fit(first, room, 7.5)]
    y = FOOTER_TOP - 5 + (len(lines) - 1) * FOOT_LINE_H / 2
    for k, line in enumerate(lines):
        page.text(MARGIN, y - k * FOOT_LINE_H, line, 7.5, colour=MUTED)
    page.text(page.w - MARGIN, y, right, 7.5, colour=MUTED, ha="right")


FOOT_LINE_H = 7.5 * 0.3528 * 1.25


# ---------------------------------------------------------------------------- the map
def _darker(hex_colour: str, factor: float = 0.68) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


def _fill(status: Any) -> str:
    return (
        i18n.STATUS_COLOURS.get(status, i18n.NO_PROJECT_COLOUR) if isinstance(status, str) else i18n.NO_PROJECT_COLOUR
    )


def _hatch_status(ax: Axes, features: gpd.GeoDataFrame, zorder: float) -> None:
    """Each status's pattern over its features' fill (STATUS_HATCHES): stripes over the behind
    ones, dots over the on-track ones, a cross-hatch over the at-risk ones."""
    if "status" not in features:
        return
    for status, hatch in STATUS_HATCHES.items():
        some = features[features["status"].eq(status)]
        if len(some):
            some.plot(ax=ax, facecolor="none", edgecolor=STATUS_HATCH_COLOURS[status], hatch=hatch, linewidth=0,
                      zorder=zorder)  # fmt: skip


def _hatch_swatch(ax: Axes, x: float, y: float, w: float, h: float, status: str) -> None:
    """A legend swatch's pattern (STATUS_HATCHES), as over the status's features on the map."""
    if status in STATUS_HATCHES:
        ax.add_patch(Rectangle((x, y), w, h, fc="none", ec=STATUS_HATCH_COLOURS[status], lw=0,
                               hatch=STATUS_HATCHES[status]))  # fmt: skip


def _frame(facts: BriefFacts, box: Box) -> tuple[float, float, float, float]:
    """The map's extent in MAP_CRS: the venue boundary, the halls and the greenery round them,
    padded, in the proportions of the map's box."""
    parts = [f for name, _, f in facts.layers if name in ("venue_boundary", "halls", "landscaping") and len(f)]
    parts = parts or [f for _, _, f in facts.layers if len(f)]
    if not parts:
        return (0.0, 0.0, box.w, box.h)
    bounds = [f.total_bounds for f in parts]
    x0, y0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
    x1, y1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
    pad = 0.05 * max(x1 - x0, y1 - y0, 200.0)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = max((x1 - x0) / box.w, (y1 - y0) / box.h)  # metres per mm
    return (cx - scale * box.w / 2, cy - scale * box.h / 2, cx + scale * box.w / 2, cy + scale * box.h / 2)


def _short_name(props: dict[str, Any], lang: str) -> str:
    """A feature's name before its parenthesis ("Songze Avenue", not "Songze Avenue (west of ...)")."""
    return re.split(r"\s*[(（]", i18n.feature_name(lang, props), maxsplit=1)[0]


@dataclass(frozen=True)
class Label:
    """A map label: where it may go (x, y, rotation in degrees), best first, in MAP_CRS."""

    spots: list[tuple[float, float, float]]
    text: str
    size: float
    bold: bool = False
    beside: tuple[float, float, float, float] | None = None  # else a feature's bounds to try each side of
    wrap: float | None = None  # the width in mm to break the text at


STRIP_W = 52.0  # the map sheet's margin on the right: legend, north arrow, scale bar


def _map(page: Page, box: Box, facts: BriefFacts, lang: str) -> None:
    page.heading(box, i18n.label(lang, "brief_map"))
    caption_h = 8.0
    sheet = Box(box.x, box.y, box.w, box.h - HEADING_H - caption_h)
    inner = Box(sheet.x, sheet.y, sheet.w - STRIP_W, sheet.h)
    strip = Box(inner.right, sheet.y, STRIP_W, sheet.h)
    page.ax.add_patch(Rectangle((sheet.x, sheet.y), sheet.w, sheet.h + caption_h, fc="white", ec=INK, lw=0.8))
    page.rule(sheet.x, sheet.right, sheet.top, colour=INK, lw=0.8)
    page.ax.plot([strip.x, strip.x], [strip.y, strip.top], color=INK, lw=0.8)
    # the caption: the date and how old the data is
    snap = facts.snap
    stamp = i18n.label(lang, "as_of", date=snap.on.isoformat())
    if snap.checkpoint:
        stamp += f"（{snap.checkpoint}）" if lang == "zh" else f" ({snap.checkpoint})"
    page.text(sheet.x + 2.5, sheet.top + 2.6, stamp, 10, bold=True)
    room = sheet.w - page.width(stamp, 10, True) - 9
    page.text(sheet.right - 2.5, sheet.top + 2.6, page.fit(_data_age(facts, lang), room, 7.6), 7.6,
              colour=MUTED, ha="right")  # fmt: skip

    ax = page.axes(inner)
    x0, y0, x1, y1 = _frame(facts, inner)
    layers = {name: f for name, _, f in facts.layers}
    frame = shapely.box(x0, y0, x1, y1)
    labels: list[Label] = []
    _draw_boundary(ax, layers.get("venue_boundary"))
    labels += _draw_halls(ax, layers.get("halls"), lang)
    titles = {name: title for name, title, _ in facts.layers}
    labels += _draw_areas(ax, layers.get("south_plaza"), titles.get("south_plaza", ""), layers.get("landscaping"), lang)
    labels += _draw_roads(ax, layers.get("roads"), frame, lang)
    _draw_building(ax, layers.get("venue_boundary"))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")  # geopandas names the CRS's axes
    ax.set_ylabel("")
    for spine in ax.spines.values():  # the sheet's frame, over the roads that run off the map
        spine.set(edgecolor=INK, linewidth=0.8, zorder=20)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="#f8fafc", ec="none", zorder=0))
    _place_labels(page, ax, labels, frame, (x1 - x0) / inner.w)
    _map_legend(page, strip, facts, lang)
    if not any(len(f) for f in layers.values()):  # nothing to draw (an empty twin): say so
        page.put(ax, 0.5, 0.5, i18n.label(lang, "brief_map_empty"), 11, colour=MUTED, ha="center", va="center",
                 transform=ax.transAxes)  # fmt: skip
        return
    _north_arrow(page, strip, (x0, y0, x1, y1), lang)
    _scale_bar(page, strip, (x1 - x0) / inner.w)


def _place_labels(page: Page, ax: Axes, labels: Sequence[Label], frame: Any, m_per_mm: float) -> None:
    """Each label at its first spot where it lies wholly inside the map and clear of the labels
    already placed (in the order given: halls, then greenery, then roads); a label with no such
    spot is left out rather than cut off or drawn over another."""
    placed: list[Any] = []
    inside = frame.buffer(-1.5 * m_per_mm)
    for label in labels:
        lines = page.wrap(label.text, label.wrap, label.size, label.bold) if label.wrap else [label.text]
        text = "\n".join(lines)
        w = (max(page.width(t, label.size, label.bold) for t in lines) + 1.6) * m_per_mm
        h = label.size * 0.3528 * 1.25 * len(lines) * m_per_mm
        spots = list(label.spots)
        if label.beside is not None:  # then right of the feature, left, below, above
            x0, y0, x1, y1 = label.beside
            cx, cy, gap = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * m_per_mm
            spots += [(x1 + gap + w / 2, cy, 0.0), (x0 - gap - w / 2, cy, 0.0), (cx, y0 - gap - h / 2, 0.0),
                      (cx, y1 + gap + h / 2, 0.0)]  # fmt: skip
        for x, y, rot in spots:
            rect = shapely.affinity.translate(
                shapely.affinity.rotate(shapely.box(-w / 2, -h / 2, w / 2, h / 2), rot, origin=(0, 0)), x, y
            )
            if inside.contains(rect) and not any(rect.intersects(p) for p in placed):
                placed.append(rect)
                page.put(ax, x, y, text, label.size, bold=label.bold, halo=2.4, ha="center", va="center",
                         rotation=rot, rotation_mode="anchor", zorder=8, linespacing=1.1,
                         multialignment="center")  # fmt: skip
                break


def _draw_boundary(ax: Axes, boundary: gpd.GeoDataFrame | None) -> None:
    if boundary is None or not len(boundary):
        return
    kind = boundary.get("boundary_type")
    site = boundary[kind != "building"] if kind is not None else boundary
    if len(site):
        site.plot(ax=ax, facecolor="#fef2f2", edgecolor=ACCENT, linewidth=1.1, linestyle=(0, (6, 4)), zorder=1)


def _draw_building(ax: Axes, boundary: gpd.GeoDataFrame | None) -> None:
    """The four-leaf-clover outline over the halls: what a visitor recognises the venue by."""
    if boundary is None or "boundary_type" not in boundary:
        return
    building = boundary[boundary["boundary_type"] == "building"]
    if len(building):
        building.boundary.plot(ax=ax, color=INK, linewidth=1.6, zorder=6)


def _draw_halls(ax: Axes, halls: gpd.GeoDataFrame | None, lang: str) -> list[Label]:
    if halls is None or not len(halls):
        return []
    # rank by rank as the web map draws them (web/maps.py DRAW_LEVELS): an upper-level hall over
    # the hall below it, whatever their statuses
    field = DRAW_LEVELS["field"]
    rank = halls[field].map(draw_level) if field in halls else halls.index.map(lambda _: 0)
    ground = halls[rank == 0]
    for r in sorted(set(rank)):
        some = halls[rank == r]
        if r == 0:
            some.plot(ax=ax, color=[_fill(s) for s in some["status"]],
                      edgecolor=[_darker(_fill(s)) for s in some["status"]], linewidth=0.7, zorder=3)  # fmt: skip
        else:  # drawn inset within the hall below (as the twin holds them), dashed white edge
            some.plot(ax=ax, color=[_fill(s) for s in some["status"]], edgecolor="white", linewidth=0.9,
                      linestyle=(0, (3, 2)), zorder=3 + r)  # fmt: skip
        _hatch_status(ax, some, 3.1 + r)
    labels = []
    for _, row in ground.iterrows():
        p = row.geometry.representative_point()
        code = str(row.get("code") or "")
        text = code if re.fullmatch(r"\d+(\.\d)?H", code) else _short_name(row.to_dict(), lang)
        labels.append(Label([(p.x, p.y, 0.0)], text, 8.0, True))
    return labels


def _draw_areas(
    ax: Axes, plaza: gpd.GeoDataFrame | None, plaza_title: str, green: gpd.GeoDataFrame | None, lang: str
) -> list[Label]:
    labels: list[Label] = []
    if plaza is not None and len(plaza):
        plaza.plot(ax=ax, color=[_fill(s) for s in plaza["status"]], edgecolor="white", linewidth=0.7, zorder=2)
        _hatch_status(ax, plaza, 2.1)
        whole = plaza.union_all()  # the main entrance, named once as a whole
        p = whole.representative_point()
        labels.append(Label([(p.x, p.y, 0.0)], plaza_title, 8.0, True, beside=whole.bounds))
    if green is not None and len(green):
        # greenery stays green: its outline is green whatever its status fill
        colours = [GREEN_FILL if not isinstance(s, str) else _fill(s) for s in green["status"]]
        green.plot(ax=ax, color=colours, edgecolor=GREEN_EDGE, linewidth=0.9, zorder=2.5)
        _hatch_status(ax, green, 2.6)
        for _, row in green.iterrows():
            if row.geometry.area >= 8000:  # the lawns and the off-site clover green, not every strip
                p = row.geometry.representative_point()
                name = _short_name(row.to_dict(), lang)
                labels.append(Label([(p.x, p.y, 0.0)], name, 6.4, beside=row.geometry.bounds, wrap=26.0))
    return labels


def _draw_roads(ax: Axes, roads: gpd.GeoDataFrame | None, frame: Any, lang: str) -> list[Label]:
    """Each road as the web map draws it: a project's road in its status's colour over a white
    casing, with its status's marks; the others grey. One LineCollection per level (casings,
    project roads, marks, other roads), not a GeoSeries plot per road and level: those 51 plots
    took a sixth of a page's drawing. Levels are drawn in zorder, each in the register's order,
    as the plots were."""
    if roads is None or not len(roads):
        return []
    classes = roads.get("road_class")
    levels: dict[float, list[tuple[Any, str, float, Any]]] = {}  # zorder -> (geometry, colour, width, style)
    for i, row in roads.iterrows():
        cls = str(classes[i]) if classes is not None else ""
        width = ROAD_WIDTHS.get(cls, 1.5)
        style = (0, (2, 1.5)) if cls == "pedestrian" else "solid"
        status = row["status"]
        if isinstance(status, str):  # a project's road, over a white casing above the halls' edges
            levels.setdefault(4.9, []).append((row.geometry, "white", width + 2.6, "solid"))
            levels.setdefault(5.0, []).append((row.geometry, _fill(status), width + 0.8, style))
            if status in STATUS_ROAD_MARKS:
                levels.setdefault(5.1, []).append(
                    (row.geometry, STATUS_HATCH_COLOURS[status], 0.7, STATUS_ROAD_MARKS[status])
                )
        else:
            levels.setdefault(1.5, []).append((row.geometry, ROAD_GREY, width, style))
    for zorder, lines in levels.items():
        parts = [(p, colour, width, style) for g, colour, width, style in lines for p in shapely.get_parts(g)]
        ax.add_collection(
            LineCollection(
                [shapely.get_coordinates(p) for p, *_ in parts],
                colors=[c for _, c, _, _ in parts],
                linewidths=[w for _, _, w, _ in parts],
                linestyles=[s for _, _, _, s in parts],
                zorder=zorder,
            )
        )
    return _road_labels(roads, classes, frame, lang)


def _road_labels(roads: gpd.GeoDataFrame, classes: Any, frame: Any, lang: str) -> list[Label]:
    """One label per named road along its longest piece inside the map, upright, at the middle or
    further along; internal roads are left unlabelled (their names only say where they are)."""
    best: dict[str, Any] = {}
    for i, row in roads.iterrows():
        if classes is not None and str(classes[i]) == "internal":
            continue
        name = _short_name(row.to_dict(), lang)
        piece = row.geometry.intersection(frame)
        if piece.is_empty or not name:
            continue
        longest = max(getattr(piece, "geoms", [piece]), key=lambda g: g.length)
        if name not in best or longest.length > best[name].length:
            best[name] = longest
    out = []
    for name, line in best.items():
        spots = []
        for at in (0.5, 0.35, 0.65, 0.2, 0.8):
            d = at * line.length
            mid = line.interpolate(d)
            a, b = line.interpolate(max(0.0, d - 40)), line.interpolate(min(line.length, d + 40))
            angle = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
            angle = angle - 180 if angle >= 100 else angle + 180 if angle < -80 else angle  # read upwards
            spots.append((mid.x, mid.y, angle))
        out.append(Label(spots, name, 6.4))
    return out


@functools.cache
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)  # made once: PROJ takes tens of ms to set one up


def _north_arrow(page: Page, strip: Box, frame: tuple[float, float, float, float], lang: str) -> None:
    """A true-north arrow: EPSG:4549's grid north is off true north by the meridian convergence
    (about 0.7° at the venue, 1.3° east of the zone's central meridian)."""
    x0, y0, x1, y1 = frame
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = _transformer(MAP_CRS, "EPSG:4326").transform(cx, cy)
    nx, ny = _transformer("EPSG:4326", MAP_CRS).transform(lon, lat + 0.01)
    tilt = math.atan2(nx - cx, ny - cy)  # radians clockwise from grid north
    length = 13.0
    bx, by = strip.x + strip.w / 2, strip.y + 20.0
    dx, dy = length * math.sin(tilt), length * math.cos(tilt)
    page.ax.annotate("", xy=(bx + dx / 2, by + dy / 2), xytext=(bx - dx / 2, by - dy / 2),
                     arrowprops={"arrowstyle": "-|>,head_length=0.9,head_width=0.4", "color": INK, "lw": 1.6})  # fmt: skip
    page.text(bx + dx / 2, by + dy / 2 + 1.2, i18n.label(lang, "north"), 11, bold=True, ha="center", va="bottom")


def _scale_bar(page: Page, strip: Box, m_per_mm: float) -> None:
    """A bar of a round length in metres, drawn at the map's scale in the sheet's margin."""
    room = strip.w - 14
    nice = (20, 50, 100, 200, 250, 300, 500, 1000, 2000, 5000, 10000)
    length = max((n for n in nice if n / m_per_mm <= room), default=nice[0])
    bar_mm = length / m_per_mm
    x, y = strip.x + (strip.w - bar_mm) / 2, strip.y + 6.0
    half = bar_mm / 2
    page.ax.add_patch(Rectangle((x, y), half, 1.3, fc=INK, ec=INK, lw=0.5))
    page.ax.add_patch(Rectangle((x + half, y), half, 1.3, fc="white", ec=INK, lw=0.5))
    for at, value in ((0.0, 0), (half, length // 2), (bar_mm, length)):
        page.text(x + at, y + 2.3, f"{value}", 7.2, ha="center")
    page.text(x + bar_mm + 1.5, y + 0.1, "m", 7.2)


def _map_legend(page: Page, strip: Box, facts: BriefFacts, lang: str) -> None:
    """Status colours with their numbers of projects, then the venue context, down the margin."""
    counts = facts.overall.counts
    size, x = 7.8, strip.x + 3.0
    text_x, text_w = x + 7.5, strip.right - 2.0 - (x + 7.5)
    y = strip.top - 5.5
    page.text(x, y, i18n.label(lang, "legend"), 8.6, bold=True)
    y -= 6.0

    def item(draw: Callable[[float, float], None], text: str) -> None:
        nonlocal y
        lines = page.wrap(text, text_w, size)
        draw(x, y)
        for k, line in enumerate(lines):
            page.text(text_x, y - k * size * 0.3528 * 1.25, line, size)
        y -= (len(lines) - 1) * size * 0.3528 * 1.25 + 5.0

    def patch(
        face: str, edge: str, lw: float = 0.6, dashed: bool = False, status: str | None = None
    ) -> Callable[[float, float], None]:
        def draw(px: float, py: float) -> None:
            page.ax.add_patch(Rectangle((px, py - 0.6), 5.5, 3.2, fc=face, ec=edge, lw=lw,
                                        linestyle=(0, (2, 1.2)) if dashed else "solid"))  # fmt: skip
            if status:
                _hatch_swatch(page.ax, px, py - 0.6, 5.5, 3.2, status)

        return draw

    def line(colour: str, lw: float, dashed: bool = False) -> Callable[[float, float], None]:
        def draw(px: float, py: float) -> None:
            page.ax.plot([px, px + 5.5], [py + 1.0, py + 1.0], color=colour, lw=lw,
                         linestyle=(0, (3, 1.8)) if dashed else "solid", solid_capstyle="butt")  # fmt: skip

        return draw

    for s in i18n.LEGEND_ORDER:
        colour = i18n.STATUS_COLOURS[s]
        item(patch(colour, _darker(colour), status=s), f"{i18n.status_label(lang, s)} ({counts.get(s, 0)})")
    y -= 1.5
    item(patch(i18n.NO_PROJECT_COLOUR, _darker(i18n.NO_PROJECT_COLOUR)), i18n.label(lang, "status_none"))
    item(patch(GREEN_FILL, GREEN_EDGE, 1.0), i18n.label(lang, "brief_greenery"))
    item(patch("#94a3b8", "white", 1.0, dashed=True), i18n.label(lang, "brief_upper_level"))
    item(line(INK, 1.6), i18n.label(lang, "brief_building"))
    item(line(ACCENT, 1.1, dashed=True), i18n.label(lang, "venue_boundary"))
    item(line(ROAD_GREY, 2.2), i18n.label(lang, "brief_roads"))


# ---------------------------------------------------------------------------- key figures
def _variance_colour(variance: float) -> str:
    if variance <= -5:
        return i18n.STATUS_COLOURS["behind"]
    if variance < -1:
        return STALE_COLOUR
    return i18n.STATUS_COLOURS["on_track"]


def _no_projects(page: Page, b: Box, facts: BriefFacts, lang: str) -> None:
    """Before the register's first project: a notice where the figures go (a big green "0.0%" and
    "+0 points against plan" read as a season on track)."""
    top = b.top - HEADING_H - 8
    page.text(b.x, top, i18n.label(lang, "no_projects_on", date=facts.snap.on.isoformat()), 12, bold=True)
    for k, line in enumerate(page.wrap(i18n.label(lang, "no_projects_on_note"), b.w, 9, lines=3)):
        page.text(b.x, top - 6 - 4.5 * k, line, 9, colour=MUTED)


def _key_figures(page: Page, b: Box, facts: BriefFacts, lang: str) -> None:
    o = facts.overall
    count = i18n.label(lang, "projects_n", n=o.projects)
    if facts.snap.opening_reached:  # the home page's headline: the projects that missed opening day
        count += f" · {i18n.label(lang, 'missed_opening_kpi')} {len(facts.snap.missed_opening())}"
    page.heading(b, i18n.label(lang, "brief_key_figures"), count)
    if not o.projects:
        _no_projects(page, b, facts, lang)
        return
    top = b.top - HEADING_H - 4.5
    page.text(b.x, top, i18n.label(lang, "overall"), 9, colour=MUTED)
    big = api_percent(o.actual)
    page.text(b.x, top - 13, big, 32, bold=True, colour=_variance_colour(o.variance))
    x = b.x + page.width(big, 32, True) + 6
    page.text(x, top - 4.5, f"{i18n.label(lang, 'actual')} {big}", 10, bold=True)
    page.text(x, top - 9.5, f"{i18n.label(lang, 'planned')} {api_percent(o.planned)}", 10, colour=MUTED)
    var = f"{o.to_dict()['variance_points']:+g}"
    page.text(x, top - 14.5, i18n.label(lang, "brief_variance", v=var), 8.5, colour=_variance_colour(o.variance))
    # the number of projects in each status, in the legend's order, on the right
    cx, cy = b.x + b.w * 0.66, top + 0.5
    for s in i18n.LEGEND_ORDER:
        page.ax.add_patch(Rectangle((cx, cy - 0.6), 3.0, 3.0, color=i18n.STATUS_COLOURS[s], lw=0))
        _hatch_swatch(page.ax, cx, cy - 0.6, 3.0, 3.0, s)
        page.text(cx + 4.6, cy, legend_label(lang, s, facts.snap.opening_reached), 8.8)
        page.text(b.right, cy, str(o.counts.get(s, 0)), 9.5, bold=True, ha="right")
        cy -= 4.4
    # by area: a bar of the actual percent with a tick at the planned one
    y = top - 26
    page.text(b.x, y, i18n.label(lang, "by_area"), 10, bold=True)
    page.text(
        b.right, y, f"{i18n.label(lang, 'actual')} / {i18n.label(lang, 'planned')}", 8.2, colour=MUTED, ha="right"
    )
    page.rule(b.x, b.right, y - 2.2)
    name_w = max((page.width(facts.area_titles.get(g.key, g.key), 9.2) for g in facts.areas), default=20.0) + 3
    fig_w = max((page.width(_area_figures(g), 9.2) for g in facts.areas), default=30.0) + 3
    flag_w = 8.0
    bar_x, bar_w = b.x + name_w, b.w - name_w - fig_w - flag_w
    step = min(6.0, (y - 7 - b.y) / max(len(facts.areas), 1))
    y -= 7.0
    for g in facts.areas:
        page.text(b.x, y, page.fit(facts.area_titles.get(g.key, g.key), name_w - 2, 9.2), 9.2)
        page.ax.add_patch(Rectangle((bar_x, y - 0.5), bar_w, 3.2, color="#e5e7eb", lw=0))
        status, filled = area_status(g), bar_w * min(g.actual, 100.0) / 100
        page.ax.add_patch(Rectangle((bar_x, y - 0.5), filled, 3.2, color=i18n.STATUS_COLOURS[status], lw=0))
        _hatch_swatch(page.ax, bar_x, y - 0.5, filled, 3.2, status)  # as on the map, for a grey printer
        px = bar_x + bar_w * min(g.planned, 100.0) / 100
        page.ax.plot([px, px], [y - 1.4, y + 3.6], color=INK, lw=1.1, solid_capstyle="butt")
        behind = g.counts.get("behind", 0)
        if behind:
            page.text(bar_x + bar_w + 1.5, y, f"⚑{behind}", 8.5, bold=True, colour=i18n.STATUS_COLOURS["behind"])
        page.text(b.right, y, _area_figures(g), 9.2, ha="right")
        y -= step
    flagged = legend_label(lang, "behind", facts.snap.opening_reached)  # after opening day: still not done
    note = f"{i18n.label(lang, 'brief_bar_colour')} · {i18n.label(lang, 'brief_planned_mark')} · ⚑ {flagged}"
    page.text(bar_x, y + 1.0, page.fit(note, b.right - bar_x, 7.2), 7.2, colour=MUTED)


def area_status(g: Group) -> str:
    """The status an area's bar is coloured with: its worst project's that day (completion.status
    SEVERITY, worst first; "done" for an area with no project counted).

    Why not the points against plan, as the bars were: they were drawn in the status colours
    (green, amber, red) on another scale, so Roads at 99.4 % read green, "on track", while two of its
    projects had missed opening day (⚑2 beside it). A leader reads these colours as the completion
    map's and its legend's (the status key just above the bars); the bar's length and its figures
    say how far the area is, its colour whether any project in it needs a word. The note under the
    bars says what the colour is."""
    return next((s for s in SEVERITY if g.counts.get(s)), "done")


def _area_figures(g: Group) -> str:
    return f"{api_percent(g.actual)} / {api_percent(g.planned)}"


# ---------------------------------------------------------------------------- S-curve
def _scurve(page: Page, b: Box, facts: BriefFacts, lang: str) -> None:
    snap = facts.snap
    page.heading(b, i18n.label(lang, "scurve"))
    ax = page.axes(Box(b.x + 12, b.y + 9, b.w - 14, b.h - HEADING_H - 12))
    pts = list(facts.curve)
    if not pts or not facts.overall.projects:  # (the figures' box says why)
        ax.set_axis_off()
        return
    planned = [(p.checkpoint.on, p.planned) for p in pts]
    actual = [(p.checkpoint.on, p.actual) for p in pts if p.actual is not None]
    first, last, on = pts[0].checkpoint.on, pts[-1].checkpoint.on, snap.on
    if first <= on <= last and all(d != on for d, _ in planned):  # a date between two checkpoints
        planned = sorted([*planned, (on, facts.overall.planned)])
        actual = sorted([*[a for a in actual if a[0] < on], (on, facts.overall.actual)])

    def days(d: date) -> float:
        return float((d - first).days)

    ax.plot([days(d) for d, _ in planned], [v for _, v in planned], color=PLANNED_COLOUR, lw=1.6,
            linestyle=(0, (5, 3)), label=i18n.label(lang, "planned"))  # fmt: skip
    if actual:
        ax.plot([days(d) for d, _ in actual], [v or 0.0 for _, v in actual], color=ACTUAL_COLOUR, lw=2.2,
                marker="o", markersize=3.0, label=i18n.label(lang, "actual"))  # fmt: skip
    ax.set_xlim(-1, max(days(last), days(snap.opening), 1) + 1)
    ax.set_ylim(0, 106)
    # the opening day and the date as vertical lines, named in the legend (never over the curves)
    ax.axvline(days(snap.opening), color=ACCENT, lw=1.0,
               label=i18n.label(lang, "opening_day", date=snap.opening.strftime("%m-%d")))  # fmt: skip
    if first <= on < snap.opening:
        ax.axvline(days(on), color=INK, lw=0.9, linestyle=(0, (2, 2)),
                   label=i18n.label(lang, "as_of", date=on.strftime("%m-%d")))  # fmt: skip
        if actual:
            v = actual[-1][1] or 0.0
            # below right of the point high on the curve, above left low on it: where the curves are not
            low = v < 50
            ax.annotate(api_percent(v), (days(on), v), xytext=(-5, 7) if low else (5, -13),
                        textcoords="offset points", ha="right" if low else "left",
                        fontproperties=page.font(9, True), color=ACTUAL_COLOUR)  # fmt: skip
    step = max(1, round(len(pts) / 6))
    ticks = pts[::-1][::step][::-1]  # every step-th checkpoint, counted back from the last
    ax.set_xticks([days(p.checkpoint.on) for p in ticks])
    ax.set_xticklabels([f"{p.checkpoint.label}\n{p.checkpoint.on:%m-%d}" for p in ticks])
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_yticklabels(["0%", "25%", "50%", "75%", "100%"])
    for tick in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        tick.set_fontproperties(page.font(7.8))
        tick.set_color(MUTED)
    ax.grid(axis="y", color="#e5e7eb", lw=0.6)
    ax.tick_params(length=2, color=RULE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(RULE)
    ax.legend(loc="upper left", prop=page.font(8.2), frameon=False, handlelength=2.6, ncols=2, columnspacing=1.6)


# ---------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Column:
    title: str
    width: float  # share of the table's width (mm at the designed width)
    align: str = "left"
    flex: bool = False  # names: wrapped to their width, and what gives room to the others
    # a value that may take two lines (ROW_LINES) when the names need the room: the column is then
    # as narrow as its widest value on two lines ("not reported done by / opening day" took 48 mm
    # of a 250 mm table on one line, and the project names were cut: "Huizhuo Road overhead lines b…")
    wrap: bool = False


TABLE_SIZE = 8.4
ROW_LINES = 2  # a cell's lines at most (the last one shortened with an ellipsis)
# a disputed project's name with the imagery's note after it: a line more, so that the note keeps
# its figure and what it measured ("imagery shows 49 % gre…" left a leader guessing)
NOTE_LINES = 3
HEAD_SIZE = TABLE_SIZE - 0.6  # column titles
# a column title's lines at most: on a narrow sheet (A4) a title wider than its column's values wraps
# ("Responsible / person"), rather than taking their room or being cut to "R…"
HEAD_LINES = 2
HEAD_LINE_H = HEAD_SIZE * 0.3528 * 1.25
CELL_PAD = 1.2  # mm each side of a cell's text
LINE_H = TABLE_SIZE * 0.3528 * 1.32  # points to mm, with leading
ROW_PAD = 2.2
TABLE_HEAD_H = HEADING_H + 7.5  # heading, then the column titles and their rule
SUB_HEAD_H = LINE_H + 3.0  # a second group's sub-heading and its rule
MORE_H = LINE_H + 1.8  # a line saying how many more rows there are and where they all are
LATE_W = 250.0
WIDE_LATE_W = 420.0 - 2 * MARGIN - GUTTER - 80.0  # beside an empty reports-missing box, 80 mm wide
MIN_TABLES_H, MAX_TABLES_H = TABLE_HEAD_H + 4 * (LINE_H + ROW_PAD), 92.0


@dataclass
class Table:
    """A table under a heading: rows wrapped to two lines in their column, as many as fit, then a
    line saying how many more there are and where they all are."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    empty: str
    more: Callable[[int], str]
    colour_of: Callable[[int, int], str]  # (row, column); the second group's rows follow the first's
    # a second group under its own sub-heading, counted apart (the late table's projects whose imagery
    # disagrees with their report and that are not late): its title with its count, its rows, its "more"
    second_title: str = ""
    second_rows: Sequence[Sequence[str]] = ()
    second_more: Callable[[int], str] | None = None
    # the maps' badge before the second group's heading and each of its codes (the imagery badge)
    second_badge: str = ""
    # each row's link (first group, then second) on its first cell, in the PDF: a project's page
    links: Sequence[str | None] = ()
    # the most lines of a name (a project's, a unit's): ROW_LINES; on A4 a third (A4_NAME_LINES) when
    # two lines of the room left to the names cannot hold it, rather than an ellipsis
    name_lines: int = ROW_LINES
    # the most lines of a second-group row's name with the imagery's note (NOTE_LINES; ROW_LINES when
    # the extra line would leave a row out: every row listed comes before a note's last words)
    note_lines: int = NOTE_LINES
    # the most rows of each group listed (None: as many as fit): the other language's count, so that
    # the zh and the en papers of one meeting list the same projects (English names wrap sooner)
    limit: tuple[int, int] | None = None
    # in the PDF, each group's "more" line links the page its text names (None: no link)
    more_links: tuple[str | None, str | None] = (None, None)

    @property
    def _all_rows(self) -> list[Sequence[str]]:
        return [*self.rows, *self.second_rows]

    def _widths(self, page: Page, total: float) -> list[float]:
        """The columns' widths for a table ``total`` mm wide: each column that is not a name as wide
        as its title and its widest value; the names share the rest in proportion to their widest
        value (so they wrap alike), and what is left over when all of them fit."""

        def natural(j: int, c: Column) -> float:
            texts = [
                page.width(c.title, HEAD_SIZE),
                *(
                    page.width(r[j], TABLE_SIZE, j == 0) + self._badge_room(page, i, j)
                    for i, r in enumerate(self._all_rows)
                ),
            ]
            return max(texts) + 2 * CELL_PAD + 0.2

        def narrowest(j: int, c: Column, lines: int | None = None, title_lines: int = 1) -> float:
            """The narrowest width that holds each of column ``j``'s values whole in ``lines`` lines
            (None: the most its cell takes, ``_lines``), and its title in ``title_lines``."""
            texts = [
                page.narrowest(c.title, HEAD_SIZE, lines=title_lines),
                *(
                    page.narrowest(r[j], TABLE_SIZE, j == 0, lines or self._lines(i, j, wanted=True))
                    + self._badge_room(page, i, j)
                    for i, r in enumerate(self._all_rows)
                ),
            ]
            return max(texts) + 2 * CELL_PAD + 0.2

        scale = total / sum(c.width for c in self.columns)
        widths = [
            c.width * scale if c.flex else max(c.width * scale, natural(j, c)) for j, c in enumerate(self.columns)
        ]
        flex = [j for j, c in enumerate(self.columns) if c.flex]
        room = total - sum(w for j, w in enumerate(widths) if j not in flex)
        # the names whole in their lines (two; a note's three) need more than is left: the columns
        # that may wrap take two lines, and give the names their room
        need = sum(narrowest(j, self.columns[j]) for j in flex)
        if need > room:  # the column that gives most first, until the names have their room
            wrapped = {
                j: min(widths[j], max(c.width * scale, narrowest(j, c, ROW_LINES)))
                for j, c in enumerate(self.columns)
                if c.wrap and not c.flex
            }
            for j in sorted(wrapped, key=lambda j: wrapped[j] - widths[j]):
                if need <= room:
                    break
                room += widths[j] - wrapped[j]
                widths[j] = wrapped[j]
        if need > room:
            # a narrow sheet (A4 portrait, 186 mm for nine columns): still short, every column that is
            # not a name or the code narrows to its values in two lines ("69.0% / / 100.0%") under its title in
            # two lines (HEAD_LINES), the one that gives most first. Else the names had a few mm each:
            # "Halls" printed over the unit beside it, "Responsible unit" as "R…", the project's title "…"
            narrow = {
                j: min(widths[j], narrowest(j, c, ROW_LINES if j else 1, HEAD_LINES))
                for j, c in enumerate(self.columns)
                if not c.flex
            }
            for j in sorted(narrow, key=lambda j: narrow[j] - widths[j]):
                if need <= room:
                    break
                room += widths[j] - narrow[j]
                widths[j] = narrow[j]
        wanted = {j: natural(j, self.columns[j]) for j in flex}
        # no name narrower than its widest word (and its title's, in two lines) when the room allows:
        # a word wider than its column prints over the next one
        floors = {j: narrowest(j, self.columns[j], 1 << 10, HEAD_LINES) for j in flex}
        if sum(floors.values()) > room:
            floors = dict.fromkeys(flex, 0.0)
        if sum(wanted.values()) > room and len(flex) == 2:
            # two names that do not both fit on a line (a project with the imagery's note, a unit):
            # split their room so that the fewest cells are cut short, then the rows are the fewest
            # lines (in proportion to their widest values, one long note took the unit's room:
            # "State Grid Shanghai Ele…")
            first = self._split(
                page, room, flex[0], flex[1], wanted[flex[0]] / sum(wanted.values()), (floors[flex[0]], floors[flex[1]])
            )
            widths[flex[0]], widths[flex[1]] = first, room - first
        elif sum(wanted.values()) > room:
            spare = room - sum(floors.values())
            over = {j: max(0.0, wanted[j] - floors[j]) for j in flex}
            for j in flex:
                widths[j] = floors[j] + spare * over[j] / (sum(over.values()) or 1.0)
        else:  # every name fits: the room left over goes to them as designed
            extra, designed = room - sum(wanted.values()), sum(widths[j] for j in flex)
            for j in flex:
                widths[j] = wanted[j] + extra * widths[j] / designed
        return widths

    def _split(
        self, page: Page, room: float, a: int, b: int, proportional: float, floors: tuple[float, float] = (0.0, 0.0)
    ) -> float:
        """Column ``a``'s width of the ``room`` columns ``a`` and ``b`` share: of the splits from
        15 % to 85 % that leave each at least its floor (its widest word: ``floors``), and those
        floors' own splits, the one with the fewest cells longer than ROW_LINES lines (a second-group
        row's ``a`` cell counted after the others), then the fewest lines in all, then the nearest
        to ``proportional``. Lines are counted from each word's width
        (the cells are then wrapped by Page.wrap, measured as drawn)."""
        rows = self._all_rows
        words = {
            j: [[page.width(t, TABLE_SIZE, j == 0) for t in WRAP_TOKENS.findall(r[j])] for r in rows] for j in (a, b)
        }

        def lines(widths: list[float], room: float) -> int:
            n, line = 1, 0.0
            for w in widths:
                if line and line + w > room:
                    n, line = n + 1, w
                else:
                    line += w
            return n

        best: tuple[tuple[int, int, int, int, float], float] | None = None
        low, high = floors[0], room - floors[1]
        for wa in [low, high, *(room * k / 40 for k in range(6, 35))]:
            if not low <= wa <= high:
                continue
            cut = cut_note = third = total = 0
            for i in range(len(rows)):
                la = lines(words[a][i], wa - 2 * CELL_PAD - self._badge_room(page, i, a))
                lb = lines(words[b][i], room - wa - 2 * CELL_PAD - self._badge_room(page, i, b))
                # a second-group row's first name ends with the imagery's note: cut that before a
                # unit or a late project's name, the names a leader calls
                if i >= len(self.rows):
                    cut_note += max(0, la - self._lines(i, a))
                else:
                    cut += max(0, la - self.name_lines)
                    third += la > ROW_LINES
                cut += max(0, lb - self.name_lines)
                third += lb > ROW_LINES
                total += max(min(la, self._lines(i, a)), min(lb, self.name_lines))
            key = (cut, cut_note, third, total, abs(wa / room - proportional))
            if best is None or key < best[0]:
                best = (key, wa)
        return best[1] if best is not None else room * proportional

    def _lines(self, i: int, j: int, wanted: bool = False) -> int:
        """The most lines row ``i``'s cell ``j`` takes: ``note_lines`` for a second-group row's name
        (with the imagery's note, when the group carries the imagery badge), ``name_lines`` for
        another name (``wanted``: the lines a name is wanted in, ROW_LINES), else ROW_LINES."""
        first_name = next((k for k, c in enumerate(self.columns) if c.flex), -1)
        if self.second_badge and i >= len(self.rows) and j == first_name:
            return self.note_lines
        return self.name_lines if self.columns[j].flex and not wanted else ROW_LINES

    def _badge_room(self, page: Page, i: int, j: int) -> float:
        """The room row ``i``'s cell ``j`` gives a badge before its text: the second group's codes."""
        if j != 0 or i < len(self.rows) or not self.second_badge:
            return 0.0
        return page.badge_width(self.second_badge, BADGE_SIZE) + BADGE_GAP

    def _cells(self, page: Page, widths: Sequence[float]) -> list[list[list[str]]]:
        return [
            [
                page.wrap(
                    v, w - 2 * CELL_PAD - self._badge_room(page, i, j), TABLE_SIZE, bold=j == 0, lines=self._lines(i, j)
                )
                for j, (v, w) in enumerate(zip(row, widths, strict=True))
            ]
            for i, row in enumerate(self._all_rows)
        ]

    def _more_h(self, page: Page, width: float) -> float:
        """The height of a "more" line in a table ``width`` mm wide: a second line when its text, which
        ends with a page's whole address, does not fit on one (it ran off the reports-missing box)."""
        texts = [self.more(len(self.rows))]
        if self.second_more is not None:
            texts.append(self.second_more(len(self.second_rows)))
        lines = max(len(page.wrap(t, width - 2 * CELL_PAD, TABLE_SIZE)) for t in texts)
        return MORE_H + (lines - 1) * LINE_H

    def _shown(self, heights: Sequence[float], room: float, more_h: float = MORE_H) -> tuple[int, int]:
        """How many rows of each group the table draws in ``room`` mm (below its column titles).

        All of them (up to ``limit``) when they fit. Otherwise a "more" line under a group's rows
        says how many of it are left out, and the second group keeps room for its sub-heading and up
        to two rows: a long late list took the whole box, and the imagery's group was a sub-heading
        over no row ("(9)", then "9 more")."""
        first = len(self.rows)
        second = len(heights) - first
        cap1, cap2 = self.limit or (first, second)
        cap1, cap2 = min(cap1, first), min(cap2, second)
        if self._needed(heights, cap1, cap2, more_h) <= room:
            return cap1, cap2
        keep = min(2, cap2)
        n1 = 0
        while n1 < cap1 and self._needed(heights, n1 + 1, keep, more_h) <= room:
            n1 += 1
        n2 = 0
        while n2 < cap2 and self._needed(heights, n1, n2 + 1, more_h) <= room:
            n2 += 1
        return n1, n2

    def _needed(self, heights: Sequence[float], n1: int, n2: int, more_h: float = MORE_H) -> float:
        """The height of the first ``n1`` rows of the first group and ``n2`` of the second (with its
        sub-heading), and of a "more" line under each group not listed whole."""
        first = len(self.rows)
        second = len(heights) - first
        h = sum(heights[:n1]) + (SUB_HEAD_H + sum(heights[first : first + n2]) if n2 else 0.0)
        return h + more_h * ((n1 < first) + (n2 < second))

    def _titles(self, page: Page, widths: Sequence[float]) -> list[list[str]]:
        """Each column's title in its lines (HEAD_LINES at most)."""
        return [
            page.wrap(c.title, w - 2 * CELL_PAD, HEAD_SIZE, lines=HEAD_LINES)
            for c, w in zip(self.columns, widths, strict=True)
        ]

    def _head_extra(self, page: Page, widths: Sequence[float]) -> float:
        """The height the column titles take beyond one line (a title wrapped on a narrow sheet)."""
        return (max((len(t) for t in self._titles(page, widths)), default=1) - 1) * HEAD_LINE_H

    def counts(self, page: Page, width: float, height: float) -> tuple[int, int]:
        """How many rows of each group the table draws in a box ``width`` by ``height`` mm."""
        widths = self._widths(page, width)
        cells = self._cells(page, widths)
        heights = [max(1, *(len(c) for c in row)) * LINE_H + ROW_PAD for row in cells]
        room = height - HEADING_H - 4.0 - 2.2 - self._head_extra(page, widths)
        return self._shown(heights, room, self._more_h(page, width))

    def shown(self, page: Page, width: float, height: float) -> int:
        """How many rows (of both groups) the table draws in a box ``height`` mm tall (as draw does)."""
        return sum(self.counts(page, width, height))

    def height(self, page: Page, width: float) -> float:
        """The height every row (up to ``limit``) needs, with the second group's sub-heading and the
        "more" lines, plus a line spare."""
        widths = self._widths(page, width)
        cells = self._cells(page, widths)
        heights = [max(1, *(len(c) for c in row)) * LINE_H + ROW_PAD for row in cells]
        cap1, cap2 = self.limit or (len(self.rows), len(self.second_rows))
        more_h = self._more_h(page, width)
        rows = self._needed(heights, min(cap1, len(self.rows)), min(cap2, len(self.second_rows)), more_h)
        return TABLE_HEAD_H + self._head_extra(page, widths) + max(rows, LINE_H + ROW_PAD) + more_h

    def draw(self, page: Page, b: Box) -> None:
        page.heading(b, self.title, f"({len(self.rows)})")
        if not self.rows and not self.second_rows:  # its line alone: no column heads over nothing
            page.text(b.x + 1.2, b.top - HEADING_H - 6.5, self.empty, TABLE_SIZE + 0.6, colour=MUTED)
            return
        widths = self._widths(page, b.w)
        xs = [b.x + sum(widths[:i]) for i in range(len(widths))]
        y = b.top - HEADING_H - 4.0
        titles = self._titles(page, widths)
        extra = self._head_extra(page, widths)
        for c, x, w, lines in zip(self.columns, xs, widths, titles, strict=True):
            tx = x + w - CELL_PAD if c.align == "right" else x + CELL_PAD
            top = y - extra + (len(lines) - 1) * HEAD_LINE_H  # the titles' last lines on one line
            for k, line in enumerate(lines):
                page.text(tx, top - k * HEAD_LINE_H, line, HEAD_SIZE, colour=MUTED, ha=c.align)
        y -= extra + 2.2
        page.rule(b.x, b.right, y)
        if not self.rows:
            page.text(b.x + 1.2, y - 6.5, self.empty, TABLE_SIZE + 0.6, colour=MUTED)
            y -= 6.5 + ROW_PAD
        cells = self._cells(page, widths)
        first = len(self.rows)
        heights = [max(1, *(len(c) for c in row)) * LINE_H + ROW_PAD for row in cells]
        n1, n2 = self._shown(heights, y - b.y, self._more_h(page, b.w))

        def more(text: str, url: str | None) -> None:  # under its group's rows, on two lines if need be
            nonlocal y
            lines = page.wrap(text, b.w - 2 * CELL_PAD, TABLE_SIZE)
            for k, line in enumerate(lines):
                page.text(b.x + 1.2, y - LINE_H * (k + 1) - 0.6, line, TABLE_SIZE, colour=MUTED, url=url)
            y -= MORE_H + (len(lines) - 1) * LINE_H

        for i in [*range(n1), *range(first, first + n2)]:
            if i == first:
                if n1 < first:
                    more(self.more(first - n1), self.more_links[0])
                # the second group's sub-heading, over its first row
                y -= SUB_HEAD_H
                tx = b.x + 1.2
                if self.second_badge:
                    tx += page.badge(tx, y + 1.6, self.second_badge, BADGE_SIZE) + BADGE_GAP
                page.text(tx, y + 1.6, self.second_title, TABLE_SIZE + 0.4, bold=True, colour=MUTED)
                page.rule(b.x, b.right, y + 0.6)
            height = heights[i]
            if i % 2 == 0:
                page.ax.add_patch(Rectangle((b.x, y - height), b.w, height, color="#f3f4f6", lw=0))
            for j, (c, x, w, lines) in enumerate(zip(self.columns, xs, widths, cells[i], strict=True)):
                tx = x + w - CELL_PAD if c.align == "right" else x + CELL_PAD
                if self._badge_room(page, i, j):
                    page.badge(tx, y - ROW_PAD / 2 - LINE_H * 0.8, self.second_badge, BADGE_SIZE)
                    tx += self._badge_room(page, i, j)
                url = self.links[i] if j == 0 and i < len(self.links) else None
                for k, line in enumerate(lines):
                    page.text(tx, y - ROW_PAD / 2 - LINE_H * (k + 0.8), line, TABLE_SIZE, bold=j == 0,
                              colour=self.colour_of(i, j), ha=c.align, url=url)  # fmt: skip
            y -= height
        if n1 < first and n2 == 0:
            more(self.more(first - n1), self.more_links[0])
        if n2 < len(self.second_rows) and self.second_more is not None:
            more(self.second_more(len(self.second_rows) - n2), self.more_links[1])


@dataclass(frozen=True)
class ListPages:
    """Where the whole of each list a table shortens is, as a page a leader opens (HTML, in the
    briefing's language, of its date, with ``version`` when one was asked): the units page lists
    each unit's late projects and overdue reports, the evidence page every project the imagery
    disagrees with. ``late``, ``missing`` and ``imagery`` are the addresses printed on the paper:
    the page's path on the service (under its root path, e.g. /twin/completion/units?...), never the
    host the request came to. That host is the one the PDF was asked from: 127.0.0.1 when the
    server's own machine or a proxy that does not pass Host on asked, which printed
    "http://127.0.0.1:8000/..." on a leader's paper, an address no reader can open; there is no
    setting for the service's public address, so the paper says the path, as the CLI's briefing
    (which knows no address) always did, for a reader to open on the service they use.
    ``linked``: the PDF links them, with the service's address as it was asked (``hrefs``)."""

    late: str
    missing: str
    imagery: str
    linked: bool = False
    hrefs: dict[str, str] = dataclasses.field(default_factory=dict)  # printed address -> link

    @classmethod
    def of(cls, facts: BriefFacts, lang: str, version: str | None, base_url: str | None, linked: bool) -> ListPages:
        base, on = (base_url or "").rstrip("/"), facts.snap.on.isoformat()
        printed = urlsplit(base).path.rstrip("/")  # the root path a proxy serves the twin under

        def url(path: str, **q: Any) -> str:
            return f"{printed}{path}?{urlencode(q)}"

        units_page = units_page_url(url, on, lang, version)
        imagery = evidence_page_url(url, on, lang, version)
        hrefs = {p: base + p.removeprefix(printed) for p in (units_page, imagery)}
        return cls(units_page, units_page, imagery, linked, hrefs)

    def link(self, url: str) -> str | None:
        return self.hrefs.get(url, url) if self.linked else None


def _late_table(
    facts: BriefFacts,
    lang: str,
    link: Callable[[str], str] | None = None,
    version: str | None = None,
    base_url: str | None = None,
) -> Table:
    def t(key: str, **v: Any) -> str:
        return i18n.label(lang, key, **v)

    columns = [
        Column(t("brief_code"), 17), Column(t("project"), 56, flex=True), Column(t("unit"), 64, flex=True),
        Column(t("person"), 19),
        Column(t("brief_actual_planned"), 31, "right"), Column(t("brief_days_late"), 16, "right"),
        Column(t("forecast"), 21, "right", wrap=True), Column(t("brief_p_late"), 14, "right"),
        Column(t("brief_last_report"), 24, "right", wrap=True),
    ]  # fmt: skip

    def row(r: dict[str, Any]) -> list[str]:
        last = r["last_report_date"] or t("brief_never")
        done = r["percent"] >= 100.0
        forecast = r["forecast_finish"] or "–"
        # reported done after opening day, read after it: it missed it all the same (the p_late column)
        missed_done = done and facts.snap.status(r["code"]).done_after(facts.snap.opening)
        if done:  # reported done: the day it was (the forecast's finish), no forecast
            forecast = t("done_reported", date=r["forecast_finish"] or r["last_report_date"] or "–")
        elif r["forecast_passed"] and r["missed_opening"]:
            # after opening day: that it missed it, not a finish gone by ("2026-11-02 (passed)" beside
            # "missed" read as a contradiction); a finish still ahead stays a forecast
            forecast = t("not_done_by_opening")
        elif r["forecast_passed"]:
            # carried forward from a forecast gone by, not done: with the finish that passed, as the map
            # says it ("2026-11-08 (was 11-02)"; "2026-11-08 (forecast passed)" on 11-04 read as if 11-08
            # had gone by). Short: a row is one line, and a longer cell left room for fewer rows.
            was = facts.snap.status(r["code"]).forecast.passed
            forecast = t("brief_forecast_passed", date=forecast, was=f"{was:%m-%d}" if was else "")
        chance = (
            "–" if r["p_late"] is None or done else t("brief_missed") if r["missed_opening"] else f"{r['p_late']:.0%}"
        )
        name = r["name_en"] if lang == "en" else r["name_zh"]
        if r["code"] in facts.flagged:  # say what the imagery showed (its code carries the imagery badge)
            # (what the imagery showed, not what was reported: the row's done column says that, and
            # the note, cut to two lines, lost the imagery's figure after it: "imagery shows 55 % gr…")
            flag = i18n.evidence_flag(lang, facts.flagged[r["code"]], reported=False)
            name = t("brief_imagery_says", name=name, flag=flag)
        return [
            r["code"],
            name,
            i18n.in_language(lang, r["responsible_unit"]),
            i18n.in_language(lang, r["responsible_person"]),
            f"{api_percent(r['percent'])} / {api_percent(r['planned_percent'])}",
            "–" if done else i18n.fmt_days(r["days_late"]),
            forecast,
            # after opening day, not reported done: missed, not a chance (completion.status); done since: missed
            t("brief_missed") if missed_done else chance,
            f"{last} {t('brief_stale_mark')}" if r["stale"] else last,
        ]

    # on opening day or after it: the projects that missed it (the home page's headline), still not
    # done then done since, each with the day it was reported done
    reached = facts.snap.opening_reached
    first = [*facts.late, *facts.done_since]
    rows = [row(r) for r in first]
    second = [row(r) for r in facts.disputed]
    stale = [bool(r["stale"]) for r in (*first, *facts.disputed)]
    late_colour, imagery_colour = i18n.STATUS_COLOURS["behind"], IMAGERY_COLOUR

    def colour(i: int, j: int) -> str:
        if j == 0:
            return late_colour if i < len(rows) else imagery_colour
        return STALE_COLOUR if j == len(columns) - 1 and stale[i] else INK

    links = [link(r["code"]) if link else None for r in (*first, *facts.disputed)]
    pages = ListPages.of(facts, lang, version, base_url, link is not None)
    title, empty, more = t("late_projects"), t("late_none"), "brief_more_late"
    if reached:
        title = f"{t('missed_opening_kpi')} · {t('still_not_done', n=len(facts.late))}"
        if facts.done_since:
            title += f" · {t('done_since_n', n=len(facts.done_since))}"
        empty, more = t("missed_none"), "brief_more_missed"
    return Table(title, columns, rows, empty,
                 lambda n: t(more, n=n, url=pages.late), colour,
                 f"{t('imagery_disagrees')} ({len(second)})", second,
                 lambda n: t("brief_more_imagery_page", n=n, url=pages.imagery),
                 t("imagery_badge"),
                 links, more_links=(pages.link(pages.late), pages.link(pages.imagery)))  # fmt: skip


def _missing_table(
    facts: BriefFacts,
    lang: str,
    link: Callable[[str], str] | None = None,
    version: str | None = None,
    base_url: str | None = None,
) -> Table:
    def t(key: str, **v: Any) -> str:
        return i18n.label(lang, key, **v)

    columns = [
        Column(t("brief_code"), 17), Column(t("unit"), 50, flex=True), Column(t("person"), 19),
        Column(t("brief_last_report"), 24, "right"), Column(t("brief_days_since"), 16, "right"),
    ]  # fmt: skip
    rows = [
        [
            r["code"], i18n.in_language(lang, r["responsible_unit"]), i18n.in_language(lang, r["responsible_person"]),
            r["last_report_date"] or t("brief_never"), "–" if r["days_since"] is None else str(r["days_since"]),
        ]
        for r in facts.missing
    ]  # fmt: skip
    pages = ListPages.of(facts, lang, version, base_url, link is not None)
    return Table(t("reports_missing"), columns, rows, t("brief_missing_none"),
                 lambda n: t("brief_more_missing", n=n, url=pages.missing),
                 lambda i, j: STALE_COLOUR if j == 0 else INK,
                 links=[link(r["code"]) if link else None for r in facts.missing],
                 more_links=(pages.link(pages.missing), None))  # fmt: skip


def default_filename(snap: Snapshot, lang: str, fmt: str, paper: str = "a3") -> str:
    """brief-2026-10-26-en.pdf; on A4, brief-2026-10-26-en-a4.pdf."""
    return f"brief-{snap.on.isoformat()}-{lang}{'' if paper == 'a3' else '-' + paper}.{fmt}"
