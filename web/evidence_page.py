"""The evidence page (GET /evidence?f=html): each project's reported percent beside what the survey
imagery shows, the projects the imagery disagrees with first, for leaders to read and print.

Rendered (web/templates/evidence.html) as the units page is (api/completion.py ``units``): the
maps' navigation and language switch, the landing note, the same print styles. Its figures are the
evidence GET /evidence answers in JSON (completion.evidence.evidence_for_snapshot, read by
api/evidence.py through the caller's view of the twin), with the names, units and persons of the
same snapshot's register; nothing is computed a second time. The completion map's shortened list
of the projects the imagery disagrees with and the briefing's imagery group name it for the rest
(web.panels.evidence_page_url).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from completion.evidence import Evidence
from completion.landing import Landing
from completion.snapshot import Snapshot, snapshot_meta
from web import i18n
from web.maps import nav_html
from web.panels import project_page_url
from web.templating import render


def _order(ev: Evidence) -> tuple[bool, float, str]:
    """Flagged first, then the widest gap between report and imagery, then by code."""
    gap = ev.difference
    return (not ev.flag, -(gap if gap is not None else float("-inf")), ev.code)


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
) -> str:
    """The page of GET /evidence?f=html; ``url(path, **params)`` makes the app's links. ``evidence``
    is every project's (the page keeps the flagged ones with ``flagged``, else every one the imagery
    measures, and names the others); ``margin`` the points a report may run ahead before a flag."""
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
            "href": project_page_url(url, ev.code, on, lang),
            "name": name,
            "unit": i18n.unit_name(lang, p.responsible_unit) if p else "",
            "person": i18n.in_language(lang, p.responsible_person) if p else "",
            "flag": ev.flag,
            "reported": i18n.fmt_percent(ev.reported),
            "estimate": i18n.fmt_percent(ev.estimate),
            "measured": i18n.evidence_measured(lang, ev),
            "flown": ev.survey_date.isoformat() if ev.survey_date else "–",
            "gap": "–" if ev.difference is None else f"{ev.difference:+.0f}",
        }

    title_key = "evidence_title_flagged" if flagged else "evidence_title_all"
    return render(
        "evidence.html",
        lang=lang,
        title=i18n.label(lang, title_key, date=on),
        doc=doc,
        flagged=flagged,
        rows=[row(e) for e in shown],
        counts={"measured": len(measured), "flagged": sum(1 for e in measured if e.flag)},
        no_register=not snap.statuses,
        unmeasured=[
            {"code": e.code, "href": project_page_url(url, e.code, on, lang), "why": e.reason or ""} for e in unmeasured
        ],
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
