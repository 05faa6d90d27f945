"""The side panels' HTML: key figures, legends, roll-ups, the S-curve and clickable lists.

Rendered from Jinja2 templates (web/templates/panel_*.html, autoescaped, through
web/templating.py) with what this module reads from the same objects the API answers with, so
the figures on a map are the API's figures; the page script only swaps a panel in (timeline) and
wires its clicks. Elements carry data-* attributes (status, area, value) for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import quote

import orjson
import shapely
from markupsafe import Markup

import completion.snapshot
from completion.accountability import unit_table
from completion.evidence import flagged_not_late
from completion.forecast import Basis
from completion.register import LAYER as PROJECTS_LAYER
from completion.rollup import at_risk_list
from completion.status import ProjectStatus
from twin.core import TwinLike
from twin.errors import NotFound
from twin.model import LayerSchema
from web import i18n
from web.data import (
    CompletionView,
    after_opening_words,
    area_titles,
    bounds_to_display,
    forecast_passed,
    forecast_text,
    project_table,
    union_bounds,
)
from web.templating import environment, render


def _flag(fill: str) -> Markup:
    return Markup(environment().get_template("panel_macros.html").module.flag(fill))  # type: ignore[attr-defined]


BLACK_FLAG = _flag("#111")
RED_FLAG = _flag("#dc2626")


def project_page_url(url: Callable[..., str], code: str, on: str, lang: str) -> str:
    """A project's page (GET /projects/{code}?f=html) of a date, in a language; ``url(path,
    **params)`` makes the app's links. The code is percent-encoded as api.deps.project_path
    encodes it: a code may hold '#', '?', '/' or a space."""
    return url("/projects/" + quote(code, safe=""), f="html", date=on, lang=lang)


def units_page_url(url: Callable[..., str], on: str, lang: str, version: str | None = None) -> str:
    """The units page (GET /completion/units?f=html) of a date, in a language, at ``version`` when
    one is given: it lists each responsible unit's late projects and overdue reports, so a list
    shortened to what its box holds (the completion map's late list, the briefing's tables) names
    it for the rest, not the JSON of /completion/late or /completion/missing a leader cannot read.
    ``url(path, **params)`` makes the app's links (MapContext.url; the briefing's, its address)."""
    return url("/completion/units", f="html", date=on, **({"version": version} if version else {}), lang=lang)


def evidence_page_url(
    url: Callable[..., str], on: str, lang: str, version: str | None = None, flagged: bool = True
) -> str:
    """The evidence page (GET /evidence?f=html, web.evidence_page) of a date, in a language, at
    ``version`` when one is given: with ``flagged`` (the default) every project whose report runs
    ahead of its imagery, so that a list of them shortened to what its box holds (the completion
    map's, the briefing's) names it for the rest. ``url(path, **params)`` makes the app's links."""
    return url(
        "/evidence",
        f="html",
        flagged="true" if flagged else "false",
        date=on,
        **({"version": version} if version else {}),
        lang=lang,
    )


def evidence_anchor(code: str) -> str:
    """The id of a project's row on the evidence page (web/templates/evidence.html), which
    evidence_project_url's fragment names (percent-encoded: a code may hold '#', '?' or a space)."""
    return "project-" + code


def evidence_project_url(url: Callable[..., str], code: str, on: str, lang: str, version: str | None = None) -> str:
    """One project's evidence from imagery as a page: the evidence page of every flagged project
    (evidence_page_url) at the project's row. GET /projects/{code}/evidence is JSON only, so a
    project's imagery flag (its page's row, the completion map's lists) links here instead."""
    return evidence_page_url(url, on, lang, version) + "#" + quote(evidence_anchor(code), safe="")


def _zoom_attr(bbox: Sequence[float] | None) -> str:
    return ",".join(f"{v:.7f}" for v in bbox) if bbox else ""


def map_keys(feature_keys: Sequence[str]) -> list[str]:
    """ "layer/id" keys as the page script names them: "mapLayer:featureKey" (map layer = twin layer)."""
    out = []
    for k in feature_keys:
        layer, _, fid = k.partition("/")
        out.append(f"{layer}:{fid}")
    return out


def _geometry_box(geometry: dict[str, Any] | None, gcj02: bool) -> list[float] | None:
    if not geometry:
        return None
    return bounds_to_display([float(v) for v in shapely.bounds(shapely.from_geojson(orjson.dumps(geometry)))], gcj02)


# ---------------------------------------------------------------------------- completion
def _scurve(view: CompletionView, width: int = 340, height: int = 150) -> dict[str, Any] | None:
    """The S-curve's drawing in SVG units: planned and actual cumulative completion per checkpoint."""
    pts = list(view.curve)
    on = view.on
    if not pts:
        return None
    planned = [(p.checkpoint.on, p.planned) for p in pts]
    actual = [(p.checkpoint.on, p.actual) for p in pts if p.actual is not None]
    overall = view.snapshot.overall()
    first, last = pts[0].checkpoint.on, pts[-1].checkpoint.on
    if first <= on <= last and all(d != on for d, _ in planned):
        planned = sorted([*planned, (on, overall.planned)])
        actual = sorted([*[a for a in actual if a[0] < on], (on, overall.actual)])
    return curve_drawing(planned, actual, [(p.checkpoint.on, p.checkpoint.label) for p in pts], on, width, height)


def curve_drawing(
    planned: Sequence[tuple[date, float | None]],
    actual: Sequence[tuple[date, float | None]],
    marks: Sequence[tuple[date, str]],
    on: date,
    width: int = 340,
    height: int = 150,
) -> dict[str, Any] | None:
    """A planned (dashed) and an actual (solid) curve in SVG units, for panel_scurve.html: the
    x axis from the first to the last of ``marks`` (the checkpoints, labelled on the axis) and the
    dates of the curves, ``on`` a dotted vertical line. Used by the completion panel (the whole
    venue) and by the project page (one project's plan against its reports)."""
    if not marks:
        return None
    dates = [d for d, _ in (*planned, *actual, *marks)]
    first, last = min(dates), max(dates)
    left, right, top, bottom = 30, 8, 10, 24
    w, h = width - left - right, height - top - bottom
    span = max((last - first).days, 1)

    def x(d: date) -> float:
        return left + w * (d - first).days / span

    def y(v: float) -> float:
        return top + h * (1 - max(0.0, min(100.0, v)) / 100)

    def path(series: Sequence[tuple[date, float | None]]) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v or 0):.1f}" for i, (d, v) in enumerate(series))

    pts = list(marks)
    step = max(1, len(pts) // 5)
    ticks = pts[::step]
    if pts[-1] not in ticks:  # opening day always gets its label, in place of a neighbour too close to it
        if len(ticks) > 1 and x(pts[-1][0]) - x(ticks[-1][0]) < 30:
            ticks.pop()
        ticks.append(pts[-1])
    end = actual[-1] if actual else None
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": left + w,
        "top": top,
        "bottom": top + h,
        "points": len(pts),
        "grid": [(v, f"{y(v):.1f}", f"{y(v) + 3.5:.1f}") for v in (0, 25, 50, 75, 100)],
        "ticks": [(f"{x(d):.1f}", label) for d, label in ticks],
        "now_x": f"{x(on):.1f}" if first <= on <= last else None,
        "planned": path(planned),
        "actual": path(actual) if actual else "",
        "dot": (f"{x(end[0]):.1f}", f"{y(end[1] or 0):.1f}") if end else None,
    }


def scurve_svg(view: CompletionView, lang: str, width: int = 340, height: int = 150) -> str:
    """Planned (dashed) against actual (solid) cumulative completion at each checkpoint."""
    curve = _scurve(view, width, height)
    return render("panel_scurve.html", lang=lang, curve=curve) if curve else ""


def days_kpi(view: CompletionView | None, on: date, opening: date | None, lang: str) -> str:
    return render(
        "panel_days_kpi.html",
        lang=lang,
        days=(opening - on).days if opening else None,
        opening=opening.isoformat() if opening else "",
    )


LATE_LIMIT = 60  # the panel lists this many of each list; the units page (units_page_url) has every late
# one, the evidence page (evidence_page_url) every one the imagery disagrees with


def _newest(reports: Iterable[date | None]) -> date | None:
    return max((d for d in reports if d is not None), default=None)


def completion_panel(
    twin: TwinLike,
    view: CompletionView | None,
    lang: str,
    gcj02: bool = False,
    late_limit: int = LATE_LIMIT,
    page_url: Callable[..., str] | None = None,
) -> str:
    """The completion panel for one date: days left, overall and per-area completion, legend, the
    responsible units, S-curve, late list; each figure with its age (days since the newest report
    it rests on), stale figures marked apart from late ones. ``page_url(path, **params)`` makes the
    app's links (MapContext.url): each code of the lists links to its project's page of the panel's
    date; None (an exported file, with no server to ask) links none."""
    if view is None:
        return render("panel_completion.html", lang=lang, has_view=False)
    snap = view.snapshot
    overall = snap.overall()
    states = snap.report_states()

    def age_of(codes: Iterable[str]) -> tuple[date | None, int | None]:
        newest = _newest(states[c].last_report for c in codes)
        return newest, (snap.on - newest).days if newest else None

    newest, age = age_of(s.project.code for s in snap.statuses)
    landing = view.landing
    if landing is not None and not landing.moved:
        landing = None  # the date the caller would have asked for anyway: nothing to say of it
    today = landing.today if landing is not None else completion.snapshot.today_local()
    ctx: dict[str, Any] = {
        "has_view": True,
        "on": snap.on.isoformat(),
        "landing": (
            {
                "on": landing.on.isoformat(),
                "today": landing.today.isoformat(),
                "checkpoint": landing.checkpoint,
                "reason": landing.reason,
                "why_label": landing.why_label,
            }
            if landing is not None
            else None
        ),
        # A date named on or before opening day, read after it: that opening day has since passed
        # (the headline's "opening today" or "10 days to opening day" is of the date shown), as the
        # briefing of that date says it (web.brief.date_note); a landed page says it in its own note.
        "opening_since_passed": today.isoformat() if landing is None and snap.on <= snap.opening < today else None,
        "days": (snap.opening - snap.on).days,
        "opening": snap.opening.isoformat(),
        "missing": sum(1 for st in states.values() if st.overdue),
        "overall": {
            "actual": overall.actual,
            "planned": overall.planned,
            "actual_text": i18n.fmt_percent(overall.actual),
            "planned_text": i18n.fmt_percent(overall.planned),
            "projects": overall.projects,
            "newest": newest.isoformat() if newest else None,
            "age": age,
        },
        "legend": [
            {
                "status": status,
                "colour": i18n.STATUS_COLOURS[status],
                "label": legend_label(lang, status, snap.opening_reached),
                "count": overall.counts.get(status, 0),
            }
            for status in i18n.LEGEND_ORDER
        ],
        "no_project_colour": i18n.NO_PROJECT_COLOUR,
        "behind_label": legend_label(lang, "behind", snap.opening_reached),
        "stale_behind": sum(1 for s in snap.statuses if s.status == "behind" and states[s.project.code].stale),
    }

    titles = area_titles(twin, lang)
    members: dict[str, list[str]] = {}
    for s in snap.statuses:
        members.setdefault(s.project.area, []).append(s.project.code)
    areas = []
    for g in snap.groups("area"):
        g_newest, g_age = age_of(members.get(g.key, ()))
        areas.append(
            {
                "key": g.key,
                "title": titles.get(g.key, g.key),
                "actual": g.actual,
                "planned": g.planned,
                "actual_text": i18n.fmt_percent(g.actual),
                "planned_text": i18n.fmt_percent(g.planned),
                "behind": g.counts.get("behind", 0),
                "newest": g_newest.isoformat() if g_newest else None,
                "age": g_age,
            }
        )
    ctx["areas"] = areas
    ctx.update(_units(twin, view, lang, gcj02))
    ctx["curve"] = _scurve(view)

    # Late is behind schedule by the project's own report (the legend's "behind"); a project whose
    # report runs ahead of its imagery and is not late is listed apart, under its own heading, so
    # the late list's count is the legend's (the API's /completion/late has both in one list).
    # On opening day or after it the projects that missed it are listed (still not done, then done
    # since, below): one done since whose imagery disagrees is listed there, with its imagery.
    late = snap.late()
    flagged = flagged_not_late(snap, view.flags, snap.late_or_missed())
    shown, flagged_shown = late[:late_limit], flagged[:late_limit]
    # the at-risk projects, named as the late ones are (the legend counted them, nothing named them):
    # most days behind first, the late list's order
    at_risk = at_risk_list(snap.statuses)
    at_risk_shown = at_risk[:late_limit]
    # on opening day or after it the late list is the projects that missed it and are still not done,
    # headed as the home page's headline ("Missed opening day"), with those reported done since after
    # it, each with the day it was reported done: the two add up to the home page's count
    done_since = snap.done_since_opening()
    done_since_shown = done_since[:late_limit]
    codes = [s.project.code for s in (*shown, *flagged_shown, *at_risk_shown, *done_since_shown)]
    boxes = view.project_bounds(twin, codes)

    def item(s: ProjectStatus) -> dict[str, Any]:
        p, state = s.project, states[s.project.code]
        flag = i18n.evidence_flag(lang, view.flags.get(p.code)) or None
        return {
            "code": p.code,
            "status": s.status,
            "name": p.name_en if lang == "en" else p.name_zh,
            "unit": i18n.unit_name(lang, p.responsible_unit),
            "unit_full": p.responsible_unit,
            "person": i18n.in_language(lang, p.responsible_person),
            "zoom": _zoom_attr(bounds_to_display(boxes[p.code], gcj02)),
            "index": view.index_of(p.code),
            "stale": state.stale,
            "last_report": state.last_report.isoformat() if state.last_report else None,
            "age": state.age_days,
            "actual_text": i18n.fmt_percent(s.percent),
            "planned_text": i18n.fmt_percent(s.planned),
            "days_late": i18n.fmt_days(s.days_late),
            **forecast_words(s, lang, snap.opening),
            "flag": flag,
            "href": project_page_url(page_url, p.code, snap.on.isoformat(), lang) if page_url else None,
            # a flag links the project's row of the evidence page of the panel's date
            "evidence_href": evidence_project_url(page_url, p.code, snap.on.isoformat(), lang)
            if page_url and flag
            else None,
        }

    def listed(name: str, full: Sequence[ProjectStatus], shown: Sequence[ProjectStatus]) -> None:
        """A list shortened to the panel's length: its items, its whole count, how many more."""
        ctx[name] = [item(s) for s in shown]
        ctx[f"{name}_total"] = len(full)
        ctx[f"{name}_more"] = len(full) - len(shown)

    listed("late", late, shown)
    items = ctx["late"]
    # the rest of a shortened list: the units page of the panel's date for the late projects, the
    # evidence page for those the imagery disagrees with (an exported file, with no server, links none)
    ctx["late_more_href"] = units_page_url(page_url, snap.on.isoformat(), lang) if page_url else None
    # the imagery's heading links the evidence page too, shortened or not (no other way led to it)
    # (the same link closes a shortened list: "and N more")
    ctx["flagged_href"] = evidence_page_url(page_url, snap.on.isoformat(), lang) if page_url else None
    ctx["stale_late"] = sum(1 for it in items if it["stale"])
    # on opening day or after it a late project not reported done has missed it: stale or not, it is
    # late (the note says its report is old, not that it may not be late)
    ctx["opening_reached"] = snap.opening_reached
    ctx["missed_total"] = len(snap.missed_opening())  # the home page's headline
    listed("done_since", done_since, done_since_shown)
    listed("at_risk", at_risk, at_risk_shown)
    listed("flagged", flagged, flagged_shown)
    ctx["flagged_shown"] = len(flagged_shown)
    return render("panel_completion.html", lang=lang, **ctx)


def legend_label(lang: str, status: str, opening_reached: bool) -> str:
    """A status as a legend keys it: on opening day or after it "behind" is the projects that missed
    opening day and are still not done (each not done then is behind, completion.status), keyed in the
    home page's words ("still not done"); else the status's name."""
    if opening_reached and status == "behind":
        return i18n.label(lang, "missed_not_done")
    return i18n.status_label(lang, status)


def forecast_words(s: ProjectStatus, lang: str, opening: date | None = None) -> dict[str, Any]:
    """A project's forecast as the late list words it: ``done`` the day it was reported done (no
    forecast then); ``forecast`` its finish, "passed" for a date gone by while not done (after opening
    day: "not reported done by opening day", ``missed``), or "no forecast"; ``after_opening`` the
    flag, with ``after_opening_text`` its words (how many days after ``opening`` the finish is);
    ``chance`` the chance of missing opening day with its interval. Shared by the late list and the project page (web/project_page.py)."""
    fc = s.forecast
    passed = forecast_passed(s)
    done = s.done_on
    chance = None
    # after opening day a project not reported done has missed it: no chance of it (the briefing's
    # "missed"; "100 % chance of missing opening day" read as still to come)
    if fc.p_late is not None and fc.low and fc.high and not fc.missed:
        chance = i18n.label(
            lang, "late_chance", p=i18n.fmt_percent(100 * fc.p_late), low=fc.low.isoformat(), high=fc.high.isoformat()
        )
    # after opening day a finish gone by is "not reported done by opening day" (forecast_text), one
    # still ahead stays a forecast
    forecast = forecast_text(s, lang) or i18n.label(lang, "not_forecast")
    return {
        "done": done.isoformat() if done else None,
        "forecast": forecast,
        "forecast_passed": passed,
        # not reported done by a date after opening day: ``forecast`` says so, with no "Forecast" before it
        "missed": passed and fc.missed,
        # missed with a finish still ahead: the late list says it missed opening day under the forecast
        # (the project page's basis says so already)
        "missed_note": i18n.label(lang, "not_done_by_opening") if fc.missed and not passed and not done else None,
        # reported done after opening day, read on it or after it: it missed it all the same (the home
        # page's headline counts it), said beside the day it was reported done
        "missed_done": i18n.label(lang, "missed_done_on", opening=opening.isoformat(), date=done.isoformat())
        if done and opening is not None and s.done_after(opening)
        else None,
        "after_opening": bool(fc.after_opening) and not (passed and fc.missed),
        "after_opening_text": after_opening_words(s, lang, opening),
        "chance": chance,
    }


def basis_words(basis: Basis, lang: str, category: Callable[[str], str]) -> str | None:
    """How a forecast was made (completion.forecast.Basis), in the reader's language: the same parts
    the API words in English, with the category named by ``category`` (the schema's label) and the
    unit by its half in the language. None for a project reported done (its date says it all) and
    for a forecaster's own words (the benchmarks' baseline)."""
    if basis.missed is not None:
        rest = basis_words(replace(basis, missed=None), lang, category)
        sentences = (i18n.label(lang, "basis_missed", date=basis.missed.isoformat()), rest)
        return ("" if lang == "zh" else " ").join(w for w in sentences if w)  # Chinese sets no space after 。
    if basis.passed is not None:  # carried forward from a forecast gone by: said first, as Basis.text does
        rest = basis_words(replace(basis, passed=None), lang, category)
        sentences = (i18n.label(lang, "basis_passed", date=basis.passed.isoformat()), rest)
        return ("" if lang == "zh" else " ").join(w for w in sentences if w)
    ref = basis.reference
    if ref is None:
        ref_text = ""
    elif ref.category is not None:
        ref_text = i18n.label(
            lang, "basis_class", category=category(ref.category), unit=i18n.unit_name(lang, ref.unit or ""),
            nc=ref.category_others, nu=ref.unit_others,
            nc_projects="project" if ref.category_others == 1 else "projects",
            nu_projects="project" if ref.unit_others == 1 else "projects",
        )  # fmt: skip
    elif ref.register is not None:
        ref_text = i18n.label(
            lang, "basis_register", n=ref.register, projects="project" if ref.register == 1 else "projects"
        )
    else:
        ref_text = i18n.label(lang, "basis_plan")
    if basis.kind in ("pace", "stopped_few"):
        own = basis.own or 0
        return i18n.label(lang, f"basis_{basis.kind}", own=own, rest=100 - own, days=basis.days, ref=ref_text)
    if basis.kind in ("slow_start", "no_progress"):
        return i18n.label(lang, f"basis_{basis.kind}", ref=ref_text)
    if basis.kind == "stopped" and basis.then is not None:
        then = basis_words(basis.then, lang, category) or ""
        return i18n.label(lang, "basis_stopped", n=basis.stoppages, then=then)
    return None


def labelled(schema: LayerSchema | None, lang: str, name: str, value: Any) -> str:
    """A register value as the schema names it in the language ("Halls" / "展馆"), else as it is."""
    spec = schema.field(name) if schema is not None else None
    return i18n.value_label(lang, spec, value) or ("" if value is None else str(value))


def project_rows(twin: TwinLike, view: CompletionView | None, lang: str) -> list[dict[str, Any]]:
    """The projects as a completion map's popups show them (web.data.project_table), each with
    ``basis``: how its forecast was made, in the words of its project page (basis_words, the
    category named as the page names it). A sentence a project, so the page stays small."""
    rows = project_table(view, lang)
    if view is None:
        return rows
    try:
        schema: LayerSchema | None = twin.layer(PROJECTS_LAYER)  # the head's, as the project page's
    except NotFound:
        schema = None

    def category(value: str) -> str:
        return labelled(schema, lang, "category", value)

    for row, s in zip(rows, view.snapshot.statuses, strict=True):  # project_table keeps the snapshot's order
        row["basis"] = basis_words(s.forecast.basis, lang, category)
    return rows


# A unit's row outlines its projects' features and zooms to their exact extent up to this many
# features; a unit with more (a register of thousands of features per unit) zooms to the extent of
# the layers they are in and outlines nothing, so the panel stays small and quick to build.
UNIT_FEATURE_LIMIT = 2000


def _units(twin: TwinLike, view: CompletionView, lang: str, gcj02: bool) -> dict[str, Any]:
    """The per-unit section: /completion/units' table (late projects first, then overdue reports),
    each unit with the extent and features of its projects for the page script to zoom to."""
    snap = view.snapshot
    rows = unit_table(snap.statuses, snap.weights, snap.report_states(), "unit", snap.opening)
    codes_of: dict[str, list[str]] = {}
    features_of: dict[str, set[str]] = {}
    for s in snap.statuses:
        codes_of.setdefault(s.project.responsible_unit, []).append(s.project.code)
        features_of.setdefault(s.project.responsible_unit, set()).update(s.project.features)
    small = [u.key for u in rows if len(features_of.get(u.key, ())) <= UNIT_FEATURE_LIMIT]
    boxes = view.project_bounds(twin, [c for key in small for c in codes_of.get(key, ())])
    spatial = {s.name for s in twin.layers() if s.spatial}
    units = []
    for u in rows:
        features = features_of.get(u.key, set())
        if len(features) <= UNIT_FEATURE_LIMIT:
            box = union_bounds((b[0], b[1], b[2], b[3]) for b in (boxes.get(c) for c in codes_of.get(u.key, ())) if b)
            keys = "|".join(map_keys(sorted(features)))
        else:
            layers = {k.partition("/")[0] for k in features} & spatial
            box = union_bounds(e for e in (twin.extent(layer, snap.ref) for layer in sorted(layers)) if e)
            keys = ""
        units.append(
            {
                "key": u.key,
                "name": i18n.unit_name(lang, u.key),
                "late": u.late,
                # on opening day or after it: the unit's projects that missed it (None before it)
                "missed": None if u.missed_codes is None else len(u.missed_codes),
                "overdue": u.reports_overdue,
                "due": u.reports_due,
                "projects": u.projects,
                "actual": u.actual,
                "planned": u.planned,
                "actual_text": i18n.fmt_percent(u.actual),
                "planned_text": i18n.fmt_percent(u.planned),
                "zoom": _zoom_attr(bounds_to_display(box, gcj02)),
                "feature_keys": keys,
            }
        )
    return {
        "units": units,
        "units_late": sum(1 for u in rows if u.late),
        "units_missed": sum(1 for u in rows if u.missed_codes),
        "units_overdue": sum(1 for u in rows if u.reports_overdue),
    }
