"""The evidence page (GET /evidence?f=html): each project's reported percent beside what the survey
imagery shows, the projects the imagery disagrees with first, for leaders to read and print.

Rendered (web/templates/evidence.html) as the units page is (api/completion.py ``units``): the
maps' navigation and language switch, the landing note, the same print styles. Its figures are the
evidence GET /evidence answers in JSON (completion.evidence.evidence_for_snapshot, read by
api/evidence.py through the caller's view of the twin), with the names, units and persons of the
same snapshot's register; nothing is computed a second time. The completion map's shortened list
of the projects the imagery disagrees with and the briefing's imagery group name it for the rest
(web.panels.evidence_page_url).

The projects the imagery cannot measure are listed under the table, grouped by why, each reason
worded in the page's language from its code and values (`reason_text`: completion.evidence
.REASON_CODES, by i18n labels "evidence_reason_<code>", as web.error_page words an error's code),
never from the API's English sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from completion.evidence import Evidence
from completion.landing import Landing
from completion.snapshot import Snapshot, snapshot_meta
from twin.model import LayerSchema
from web import i18n
from web.maps import nav_html
from web.panels import evidence_anchor, labelled, project_page_url
from web.templating import render


def _order(ev: Evidence) -> tuple[bool, float, str]:
    """Flagged first, then the widest gap between report and imagery, then by code."""
    gap = ev.difference
    return (not ev.flag, -(gap if gap is not None else float("-inf")), ev.code)


def _reported_now(lang: str, ev: Evidence) -> str:
    """The report of the date asked, when made since the flight with another figure than the one
    the imagery is set against ("now 100% (2026-10-16)"); empty otherwise."""
    if not ev.reported_since or ev.report_date is None:
        return ""
    now = i18n.fmt_percent(ev.reported)
    return i18n.label(lang, "evidence_reported_now", percent=now, date=ev.report_date.isoformat())


def reason_text(lang: str, ev: Evidence, schema: LayerSchema | None = None) -> str:
    """Why the imagery gives the project no estimate, in the page's language, worded from the
    reason's code and values (completion.evidence.REASON_CODES); ``schema`` (the register's) names
    its category and unit. In English it reads as the API's `reason`; in Chinese the survey kind,
    category and unit are named in Chinese. A reason without a code (none is made so): the English
    sentence as it is; no reason: empty."""
    if ev.reason_code is None:
        return ev.reason or ""
    values = dict(ev.reason_values)
    if "unit" in values:
        unit = values["unit"]
        values["unit"] = (
            labelled(schema, lang, "quantity_unit", unit) if unit else i18n.label(lang, "evidence_reason_no_unit")
        )
    if lang != "en":  # the English sentence names them by their codes (ndvi) and English labels
        if "kind" in values:
            values["kind"] = i18n.survey_kind(lang, values["kind"])
        if "category" in values:
            values["category_label"] = labelled(schema, lang, "category", values["category"])
        if "surveys" in values:  # ids, comma-separated
            values["surveys"] = i18n.label(lang, "list_separator").join(values["surveys"].split(", "))
    return i18n.label(lang, f"evidence_reason_{ev.reason_code}", **values)


def _by_reason(
    url: Callable[..., str], lang: str, on: str, unmeasured: Sequence[Evidence], schema: LayerSchema | None
) -> list[dict[str, Any]]:
    """The projects without an estimate grouped by their reason as the page words it: the largest
    group first, then by its first code; each group's projects by code."""
    groups: dict[str, dict[str, Any]] = {}
    for e in sorted(unmeasured, key=lambda e: e.code):
        why = reason_text(lang, e, schema)
        group = groups.setdefault(why, {"why": why, "code": e.reason_code or "", "projects": []})
        group["projects"].append({"code": e.code, "href": project_page_url(url, e.code, on, lang)})
    return sorted(groups.values(), key=lambda g: (-len(g["projects"]), g["projects"][0]["code"]))


def evidence_page(
    url: Callable[..., str],
    lang: str,
    snap: Snapshot,
    evidence: Sequence[Evidence],
    *,
    flagged: bool,
    margin: float,
    surveys_commit: str | None,
    version: str | None = None,
    surveys_version: str | None = None,
    landing: Landing | None = None,
    schema: LayerSchema | None = None,
) -> str:
    """The page of GET /evidence?f=html; ``url(path, **params)`` makes the app's links. ``evidence``
    is every project's (the page keeps the flagged ones with ``flagged``, else every one the imagery
    measures, and names the others with why); ``margin`` the points a report may run ahead before a
    flag; ``schema`` the register's, which names categories and units in the page's language."""
    doc = snapshot_meta(snap)
    on = doc["date"]
    projects = {s.project.code: s.project for s in snap.statuses}
    measured = sorted((e for e in evidence if e.estimate is not None), key=_order)
    shown = [e for e in measured if e.flag] if flagged else measured
    unmeasured = [] if flagged else sorted((e for e in evidence if e.estimate is None), key=lambda e: e.code)

    def page(**changes: Any) -> str:  # this page with some of its parameters changed
        params = {"f": "html", "flagged": "true" if flagged else "false", "date": on, "version": version,
                  "surveys_version": surveys_version, "lang": lang, **changes}  # fmt: skip
        return url("/evidence", **params)

    def row(ev: Evidence) -> dict[str, Any]:
        p = projects.get(ev.code)
        name = (p.name_en if lang == "en" else p.name_zh) if p else ""
        return {
            "code": ev.code,
            "anchor": evidence_anchor(ev.code),  # what a project's imagery flag links (evidence_project_url)
            "href": project_page_url(url, ev.code, on, lang),
            "name": name,
            "unit": i18n.unit_name(lang, p.responsible_unit) if p else "",
            "person": i18n.in_language(lang, p.responsible_person) if p else "",
            "flag": ev.flag,
            # the report the imagery is set against (as it stood on the flight's day), and its date
            "reported": i18n.fmt_percent(ev.compared),
            "report_date": ev.compared_date.isoformat() if ev.compared_date else "",
            "now": _reported_now(lang, ev),
            "older": ev.imagery_older,
            "estimate": i18n.fmt_percent(ev.estimate),
            "measured": i18n.evidence_measured(lang, ev),
            "flown": ev.survey_date.isoformat() if ev.survey_date else "–",
            "gap": "–" if ev.difference is None else f"{ev.difference:+.0f}",
        }

    # reported since the flight beyond what the older imagery can check: not flagged, said apart
    older = [e for e in measured if e.imagery_older]
    title_key = "evidence_title_flagged" if flagged else "evidence_title_all"
    return render(
        "evidence.html",
        lang=lang,
        title=i18n.label(lang, title_key, date=on),
        doc=doc,
        flagged=flagged,
        rows=[row(e) for e in shown],
        counts={"measured": len(measured), "flagged": sum(1 for e in measured if e.flag)},
        older=[
            {"code": e.code, "href": project_page_url(url, e.code, on, lang), "text": i18n.evidence_older(lang, e)}
            for e in sorted(older, key=lambda e: e.code)
        ],
        # the twin holds no survey at all: said once, with what to do (not once per planned start)
        no_imagery=any(e.reason_code == "no_imagery" for e in evidence),
        no_register=not snap.statuses,
        unmeasured=len(unmeasured),
        unmeasured_groups=_by_reason(url, lang, on, unmeasured, schema),
        margin=f"{margin:g}",
        surveys_commit=surveys_commit,
        nav=nav_html(url, lang, "evidence", page(lang=i18n.other_lang(lang)), date=on),
        other_list=page(flagged="false" if flagged else "true"),
        json_href=url(
            "/evidence",
            f="json",
            flagged="true" if flagged else None,
            date=on,
            version=version,
            surveys_version=surveys_version,
        ),
        landing=landing,
    )
