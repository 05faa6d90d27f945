"""The side panels' HTML: key figures, legends, roll-ups, the S-curve and clickable lists.

Rendered here, in Python, from the same objects the API answers with, so the figures on a map
are the API's figures; the page script only swaps a panel in (timeline) and wires its clicks.
Every value is escaped. Elements carry data-* attributes (status, area, value) for tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Any

from completion.evidence import late_and_flagged
from twin.core import TwinLike
from twin.model import LayerSchema
from web import i18n
from web.checks import FeatureCheck
from web.data import ChangeItem, CompletionView, bounds_to_display

BLACK_FLAG = (
    '<svg class="vt-flag" width="12" height="14" viewBox="0 0 12 14" aria-hidden="true">'
    '<path d="M1 0v14" stroke="#111" stroke-width="1.6"/><path d="M2 1h9l-2.5 3 2.5 3H2z" fill="#111"/></svg>'
)
EVIDENCE_MARK = "🛰"  # beside a project whose report runs ahead of its imagery (completion.evidence)
RED_FLAG = BLACK_FLAG.replace('fill="#111"/></svg>', 'fill="#dc2626"/></svg>')


def _attr_keys(keys: Sequence[str]) -> str:
    return escape("|".join(keys))


def _zoom_attr(bbox: Sequence[float] | None) -> str:
    return escape(",".join(f"{v:.7f}" for v in bbox)) if bbox else ""


def map_keys(feature_keys: Sequence[str]) -> list[str]:
    """ "layer/id" keys as the page script names them: "mapLayer:featureKey" (map layer = twin layer)."""
    out = []
    for k in feature_keys:
        layer, _, fid = k.partition("/")
        out.append(f"{layer}:{fid}")
    return out


# ---------------------------------------------------------------------------- completion
def scurve_svg(view: CompletionView, lang: str, width: int = 340, height: int = 150) -> str:
    """Planned (dashed) against actual (solid) cumulative completion at each checkpoint."""
    pts = list(view.curve)
    on = view.on
    if not pts:
        return ""
    planned = [(p.checkpoint.on, p.planned) for p in pts]
    actual = [(p.checkpoint.on, p.actual) for p in pts if p.actual is not None]
    overall = view.snapshot.overall()
    first, last = pts[0].checkpoint.on, pts[-1].checkpoint.on
    if first <= on <= last and all(d != on for d, _ in planned):
        planned = sorted([*planned, (on, overall.planned)])
        actual = sorted([*[a for a in actual if a[0] < on], (on, overall.actual)])
    left, right, top, bottom = 30, 8, 10, 24
    w, h = width - left - right, height - top - bottom
    span = max((last - first).days, 1)

    def x(d: date) -> float:
        return left + w * (d - first).days / span

    def y(v: float) -> float:
        return top + h * (1 - max(0.0, min(100.0, v)) / 100)

    def path(series: list[tuple[date, float | None]]) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v or 0):.1f}" for i, (d, v) in enumerate(series))

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(i18n.label(lang, "scurve"))}" '
        f'data-points="{len(pts)}">'
    ]
    for v in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{y(v) + 3.5:.1f}" font-size="9" text-anchor="end" fill="#6b7280">{v}%</text>'
        )
    step = max(1, len(pts) // 5)
    ticks = pts[::step] if pts[-1] in pts[::step] else [*pts[::step], pts[-1]]
    for p in ticks:
        parts.append(
            f'<text x="{x(p.checkpoint.on):.1f}" y="{height - 8}" font-size="9" text-anchor="middle" '
            f'fill="#6b7280">{escape(p.checkpoint.label)}</text>'
        )
    if first <= on <= last:
        parts.append(
            f'<line x1="{x(on):.1f}" x2="{x(on):.1f}" y1="{top}" y2="{top + h}" stroke="#111827" '
            f'stroke-width="1" stroke-dasharray="2,2"/>'
        )
    parts.append(f'<path d="{path(planned)}" fill="none" stroke="#6b7280" stroke-width="2" stroke-dasharray="5,3"/>')
    if actual:
        parts.append(f'<path d="{path(actual)}" fill="none" stroke="#b91c1c" stroke-width="2.5"/>')
        d, v = actual[-1]
        parts.append(f'<circle cx="{x(d):.1f}" cy="{y(v or 0):.1f}" r="3.5" fill="#b91c1c"/>')
    legend_y = top + 8
    parts.append(
        f'<line x1="{left + 6}" x2="{left + 24}" y1="{legend_y}" y2="{legend_y}" stroke="#6b7280" stroke-width="2" '
        f'stroke-dasharray="5,3"/><text x="{left + 28}" y="{legend_y + 3}" font-size="10">'
        f"{escape(i18n.label(lang, 'planned'))}</text>"
        f'<line x1="{left + 70}" x2="{left + 88}" y1="{legend_y}" y2="{legend_y}" stroke="#b91c1c" '
        f'stroke-width="2.5"/><text x="{left + 92}" y="{legend_y + 3}" font-size="10">'
        f"{escape(i18n.label(lang, 'actual'))}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def days_kpi(view: CompletionView | None, on: date, opening: date | None, lang: str) -> str:
    days = (opening - on).days if opening else None
    if days is None:
        value, note = "–", ""
    elif days > 0:
        value = f"{days}<small>{escape(i18n.label(lang, 'days_unit'))}</small>"
        note = i18n.label(lang, "opening_day", date=opening.isoformat() if opening else "")
    elif days == 0:
        value, note = "0", i18n.label(lang, "opening_today")
    else:
        value, note = "0", i18n.label(lang, "opening_passed", date=opening.isoformat() if opening else "")
    return (
        f'<div class="vt-kpi" data-kpi="days" data-value="{"" if days is None else days}">'
        f'<div class="vt-kpi-label">{escape(i18n.label(lang, "days_left"))}</div>'
        f'<div class="vt-kpi-value">{value}</div><div class="vt-kpi-note">{escape(note)}</div></div>'
    )


LATE_LIMIT = 60  # the panel lists the latest this many; the API (/completion/late) has them all


def completion_panel(
    twin: TwinLike, view: CompletionView | None, lang: str, gcj02: bool = False, late_limit: int = LATE_LIMIT
) -> str:
    """The completion panel for one date: days left, overall and per-area completion, legend, S-curve, late list."""
    if view is None:
        return (
            f'<section class="vt-section"><p class="vt-muted">{escape(i18n.label(lang, "no_projects"))}</p></section>'
        )
    snap = view.snapshot
    overall = snap.overall()
    out = ['<section class="vt-section"><div class="vt-kpis">']
    out.append(days_kpi(view, snap.on, snap.opening, lang))
    states = snap.report_states()
    missing = sum(1 for st in states.values() if st.overdue)
    out.append(
        f'<div class="vt-kpi" data-kpi="reports_missing" data-value="{missing}">'
        f'<div class="vt-kpi-label">{escape(i18n.label(lang, "reports_missing"))}</div>'
        f'<div class="vt-kpi-value">{missing}</div>'
        f'<div class="vt-kpi-note">{escape(i18n.label(lang, "reports_missing_note"))}</div></div>'
    )
    out.append(
        f'<div class="vt-kpi" data-kpi="overall" data-value="{overall.actual:.2f}" data-planned="{overall.planned:.2f}">'
        f'<div class="vt-kpi-label">{escape(i18n.label(lang, "overall"))}</div>'
        f'<div class="vt-kpi-value">{i18n.fmt_percent(overall.actual)}</div>'
        f'<div class="vt-kpi-note">{escape(i18n.label(lang, "planned"))} {i18n.fmt_percent(overall.planned)}</div>'
        f"{_bar(overall.actual, overall.planned)}</div>"
    )
    out.append("</div></section>")

    # legend with the number of projects in each status
    out.append(
        f'<section class="vt-section vt-legend-box"><h3>{escape(i18n.label(lang, "legend"))}</h3><ul class="vt-legend">'
    )
    for status in i18n.LEGEND_ORDER:
        n = overall.counts.get(status, 0)
        out.append(
            f'<li data-status="{status}"><span class="vt-swatch" style="background:{i18n.STATUS_COLOURS[status]}"></span>'
            f'{escape(i18n.status_label(lang, status))}<span class="vt-count">{n}</span></li>'
        )
    out.append(
        f'<li data-status="none"><span class="vt-swatch" style="background:{i18n.NO_PROJECT_COLOUR}"></span>'
        f"{escape(i18n.label(lang, 'status_none'))}</li>"
    )
    out.append("</ul>")
    out.append(
        f'<p class="vt-muted">{escape(i18n.label(lang, "projects_n", n=overall.projects))} · '
        f"{escape(i18n.label(lang, 'as_of', date=snap.on.isoformat()))}</p></section>"
    )

    # by area
    layer_titles = {s.name: i18n.layer_title(lang, s) for s in twin.layers()}
    out.append(f'<section class="vt-section"><h3>{escape(i18n.label(lang, "by_area"))}</h3><table class="vt-areas">')
    out.append(
        f"<tr><th>{escape(i18n.label(lang, 'area'))}</th><th></th>"
        f"<th class='vt-num'>{escape(i18n.label(lang, 'actual'))} / {escape(i18n.label(lang, 'planned'))}</th></tr>"
    )
    for g in snap.groups("area"):
        behind = g.counts.get("behind", 0)
        flag = (
            f' <span class="vt-late" title="{escape(i18n.status_label(lang, "behind"))}">{BLACK_FLAG}{behind}</span>'
            if behind
            else ""
        )
        out.append(
            f'<tr data-area="{escape(g.key)}" data-actual="{g.actual:.2f}" data-planned="{g.planned:.2f}">'
            f"<td>{escape(layer_titles.get(g.key, g.key))}{flag}</td><td style='width:40%'>{_bar(g.actual, g.planned)}</td>"
            f'<td class="vt-num">{i18n.fmt_percent(g.actual)} / {i18n.fmt_percent(g.planned)}</td></tr>'
        )
    out.append("</table></section>")

    svg = scurve_svg(view, lang)
    if svg:
        out.append(
            f'<section class="vt-section vt-scurve"><h3>{escape(i18n.label(lang, "scurve"))}</h3>{svg}</section>'
        )

    # the late projects
    late = late_and_flagged(snap, view.flags)
    out.append(
        f'<section class="vt-section"><h3>{BLACK_FLAG}{escape(i18n.label(lang, "late_projects"))} '
        f'<span data-late-count="{len(late)}">({len(late)})</span></h3>'
    )
    if not late:
        out.append(f'<p class="vt-muted">{escape(i18n.label(lang, "late_none"))}</p>')
    else:
        shown = late[:late_limit]
        boxes = view.project_bounds(twin, [s.project.code for s in shown])
        out.append(f'<p class="vt-muted">{escape(i18n.label(lang, "late_hint"))}</p><ul class="vt-late">')
        for s in shown:
            p = s.project
            box = bounds_to_display(boxes[p.code], gcj02)
            name = p.name_en if lang == "en" else p.name_zh
            fc = s.forecast.finish.isoformat() if s.forecast.finish else i18n.label(lang, "not_forecast")
            after = (
                f' <span class="vt-late">⚠ {escape(i18n.label(lang, "after_opening"))}</span>'
                if s.forecast.after_opening
                else ""
            )
            if s.forecast.p_late is not None and s.forecast.low and s.forecast.high:
                chance = i18n.label(
                    lang, "late_chance", p=i18n.fmt_percent(100 * s.forecast.p_late),
                    low=s.forecast.low.isoformat(), high=s.forecast.high.isoformat(),
                )  # fmt: skip
                after += f'<div class="vt-late-meta">{escape(chance)}</div>'
            state = states[p.code]
            stale = ""
            if state.stale:  # late by a figure nobody has brought up to date: say so, it is not the same
                when = state.last_report.isoformat() if state.last_report else None
                text = i18n.label(lang, "stale", date=when) if when else i18n.label(lang, "stale_never")
                stale = f'<div class="vt-late-meta vt-stale">{escape(text)}</div>'
            out.append(
                f'<li class="vt-{s.status}" data-project="{escape(p.code)}" data-zoom="{_zoom_attr(box)}" '
                f'data-project-index="{view.index_of(p.code)}" data-stale="{"true" if state.stale else "false"}">'
                f'<div class="vt-late-name">{escape(p.code)} {escape(name)}</div>'
                f'<div class="vt-late-meta">{escape(p.responsible_unit)}'
                f"{' · ' + escape(p.responsible_person) if p.responsible_person else ''}</div>"
                f'<div class="vt-late-meta">{escape(i18n.label(lang, "percent_vs_planned", actual=i18n.fmt_percent(s.percent), planned=i18n.fmt_percent(s.planned)))}'
                f" · {escape(i18n.label(lang, 'days_late', n=_days(s.days_late)))}</div>"
                f'<div class="vt-late-meta">{escape(i18n.label(lang, "forecast"))} {escape(fc)}{after}</div>{stale}'
                + (
                    f'<div class="vt-late-meta vt-evidence-flag" data-evidence-flag="{escape(p.code)}">'
                    f"{EVIDENCE_MARK} {escape(view.flags[p.code])}</div>"
                    if p.code in view.flags
                    else ""
                )
                + "</li>"
            )
        out.append("</ul>")
        if len(late) > len(shown):
            out.append(
                f'<p class="vt-muted" data-late-more="{len(late) - len(shown)}">'
                f"{escape(i18n.label(lang, 'late_more', n=len(late) - len(shown)))}</p>"
            )
    out.append("</section>")
    return "".join(out)


def _days(v: float) -> str:
    return f"{math.floor(v + 0.5):.0f}"  # whole days, half up, as the popups round them


def _bar(actual: float, planned: float) -> str:
    a = max(0.0, min(100.0, actual))
    p = max(0.0, min(100.0, planned))
    return (
        f'<div class="vt-bar"><div class="vt-bar-fill" style="width:{a:.1f}%"></div>'
        f'<div class="vt-bar-plan" style="left:{p:.1f}%"></div></div>'
    )


# ---------------------------------------------------------------------------- changes
CHANGE_KINDS = ("added", "modified", "deleted")


def changes_panel(
    twin: TwinLike,
    items: Sequence[ChangeItem],
    lang: str,
    styles: dict[str, Any],
    gcj02: bool = False,
    limit: int = 400,
) -> str:
    schemas = {s.name: s for s in twin.layers()}
    spatial = [it for it in items if schemas.get(it.layer) and schemas[it.layer].spatial]
    records = [it for it in items if it not in spatial]
    counts = {k: sum(1 for it in spatial if it.kind == k) for k in CHANGE_KINDS}
    out = [f'<section class="vt-section"><h3>{escape(i18n.label(lang, "legend_plain"))}</h3><ul class="vt-legend">']
    for k in CHANGE_KINDS:
        st = styles[k]
        out.append(
            f'<li data-kind="{k}"><span class="vt-swatch" style="background:{st["fill"]};border-color:{st["color"]}"></span>'
            f'{escape(i18n.label(lang, k))}<span class="vt-count">{counts[k]}</span></li>'
        )
    out.append(
        f'<li data-kind="modified_old"><span class="vt-swatch vt-dashed"></span>{escape(i18n.label(lang, "modified_old"))}</li>'
        f'<li data-kind="context"><span class="vt-swatch" style="background:{i18n.NO_PROJECT_COLOUR}"></span>'
        f"{escape(i18n.label(lang, 'context'))}</li></ul></section>"
    )
    if not items:
        out.append(
            f'<section class="vt-section"><p class="vt-muted">{escape(i18n.label(lang, "no_changes"))}</p></section>'
        )
        return "".join(out)
    # per layer
    out.append(f'<section class="vt-section"><h3>{escape(i18n.label(lang, "layer"))}</h3><table class="vt-areas">')
    out.append(
        "<tr><th></th>"
        + "".join(f"<th class='vt-num'>{escape(i18n.label(lang, k))}</th>" for k in CHANGE_KINDS)
        + "</tr>"
    )
    per: dict[str, dict[str, int]] = {}
    for it in items:
        per.setdefault(it.layer, {k: 0 for k in CHANGE_KINDS})[it.kind] += 1
    for layer, c in per.items():
        title = i18n.layer_title(lang, schemas[layer]) if layer in schemas else layer
        out.append(
            f'<tr data-layer="{escape(layer)}"><td>{escape(title)}</td>'
            + "".join(f'<td class="vt-num" data-kind="{k}">{c[k]}</td>' for k in CHANGE_KINDS)
            + "</tr>"
        )
    out.append("</table></section>")
    # the list
    out.append(f'<section class="vt-section"><h3>{escape(i18n.label(lang, "changes_title"))}</h3><ul class="vt-list">')
    for it in spatial[:limit]:
        shown = it.shown
        props = shown.get("properties") or {}
        g = shown.get("geometry")
        box = None
        if g:
            import orjson
            import shapely

            box = bounds_to_display([float(v) for v in shapely.bounds(shapely.from_geojson(orjson.dumps(g)))], gcj02)
        title = i18n.layer_title(lang, schemas[it.layer])
        out.append(
            f'<li data-zoom="{_zoom_attr(box)}" data-keys="{escape("changes:" + it.key)}">'
            f'<span class="vt-chip" style="background:{styles[it.kind]["fill"]}"></span>'
            f"{escape(i18n.label(lang, it.kind))} · {escape(i18n.feature_name(lang, props) or it.feature_id)}"
            f' <span class="vt-muted">{escape(title)}</span></li>'
        )
    if len(spatial) > limit:
        out.append(f'<li class="vt-muted">… +{len(spatial) - limit}</li>')
    for it in records[:limit]:
        props = it.shown.get("properties") or {}
        title = i18n.layer_title(lang, schemas[it.layer]) if it.layer in schemas else it.layer
        out.append(
            f'<li class="vt-muted">{escape(i18n.label(lang, it.kind))} · {escape(i18n.feature_name(lang, props) or it.feature_id)}'
            f" ({escape(title)})</li>"
        )
    out.append("</ul></section>")
    return "".join(out)


# ---------------------------------------------------------------------------- layer check
CHECK_CLASSES = ("invalid", "missing", "ok")


def check_panel(
    twin: TwinLike,
    schema: LayerSchema,
    total: int,
    findings: dict[str, FeatureCheck],
    records: dict[str, dict[str, Any]],
    lang: str,
    styles: dict[str, Any],
    gcj02: bool = False,
    limit: int = 500,
) -> str:
    counts = {"invalid": 0, "missing": 0}
    for c in findings.values():
        counts[c.status] += 1
    counts_all = {"ok": total - len(findings), **counts}
    out = [f'<section class="vt-section"><h3>{escape(i18n.label(lang, "legend_plain"))}</h3><ul class="vt-legend">']
    for k in CHECK_CLASSES:
        st = styles[k]
        out.append(
            f'<li data-check="{k}"><span class="vt-swatch" style="background:{st["fill"]};border-color:{st["color"]}"></span>'
            f'{escape(i18n.label(lang, "check_" + k))}<span class="vt-count">{counts_all[k]}</span></li>'
        )
    out.append("</ul>")
    out.append(f'<p class="vt-muted">{escape(i18n.label(lang, "features_n", n=total))}</p></section>')
    out.append(f'<section class="vt-section"><h3>{escape(i18n.label(lang, "problems"))} ({len(findings)})</h3>')
    if not findings:
        out.append(f'<p class="vt-muted">{escape(i18n.label(lang, "problems_none"))}</p></section>')
        return "".join(out)
    if not schema.spatial:
        out.append(f'<p class="vt-muted">{escape(i18n.label(lang, "records_no_geometry"))}</p>')
    ordered = sorted(findings.values(), key=lambda c: (c.status != "invalid", c.feature_id))
    out.append('<ul class="vt-list">')
    for c in ordered[:limit]:
        d = records.get(c.feature_id) or {}
        props = d.get("properties") or {}
        box = None
        g = d.get("geometry")
        if g:
            import orjson
            import shapely

            box = bounds_to_display([float(v) for v in shapely.bounds(shapely.from_geojson(orjson.dumps(g)))], gcj02)
        reasons = "".join(
            f'<div class="vt-why{" vt-warn" if c.status == "missing" else ""}">{escape(r)}</div>'
            for r in c.reasons_in(lang, schema)
        )
        zoom = f' data-zoom="{_zoom_attr(box)}" data-keys="{escape(schema.name + ":" + c.feature_id)}"' if box else ""
        out.append(
            f'<li data-feature="{escape(c.feature_id)}" data-check="{c.status}"{zoom}>'
            f'<span class="vt-chip" style="background:{styles[c.status]["fill"]}"></span>'
            f"<b>{escape(str(props.get('code') or c.feature_id))}</b> {escape(i18n.feature_name(lang, props))}{reasons}</li>"
        )
    if len(ordered) > limit:
        out.append(f'<li class="vt-muted">… +{len(ordered) - limit}</li>')
    out.append("</ul></section>")
    return "".join(out)
