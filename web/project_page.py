"""One hardware project's page (GET /projects/{code}?f=html): what a leader reads and prints.

Rendered (web/templates/project.html) from the document GET /projects/{code} answers in JSON,
with the ProjectStatus and imagery evidence that document was made from (api/completion.py
``CompletionFactory._project_doc``): no figure is computed a second time. The forecast is worded
as the completion map's late list words it (web.panels.forecast_words), the imagery flag as the
late list words it (i18n.evidence_flag), the status drawn with the maps' colour and pattern, and
the plan against the reports drawn by the completion panel's S-curve code (web.panels.curve_drawing,
web/templates/panel_scurve.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from completion.evidence import Evidence
from completion.landing import Landing
from completion.snapshot import Snapshot
from completion.status import ProjectStatus
from twin.errors import TwinError
from twin.model import LayerSchema
from web import i18n
from web.maps import nav_html
from web.panels import basis_words, curve_drawing, evidence_project_url, forecast_words, project_page_url
from web.panels import labelled as _labelled  # the map's popups name a category so too
from web.templating import render

# The S-curve's size in SVG units: no wider than a phone's box (326 px of a 390 px screen), so that it
# scales to the width, its 9-unit labels 9 px at least, rather than scroll sideways out of view (the
# latest report and the plan reaching 100 % were out of view); printed about 11 cm wide.
CURVE_W, CURVE_H = 320, 150


def _quantity(percent: float, quantity: float | None, unit: str) -> str:
    """The quantity a reported percent stands for (percent of the project's quantity)."""
    if not quantity:
        return "–"
    return f"{i18n.fmt_number(round(quantity * percent / 100.0, 1))} {unit}".strip()


_WITH_ORG = re.compile(r"^(?P<name>.+?)\s*\((?P<org>[^()]+)\)$")


def _reporter(lang: str, text: str | None) -> str:
    """A reporter as the page's language names them: the bundled register writes "孙浩 Sun Hao (State
    Grid Shanghai)" (the token's name), a person and their unit; the person's name is shown (the
    whole text is the cell's title)."""
    if not text:
        return "–"
    m = _WITH_ORG.match(text.strip())
    return i18n.in_language(lang, m["name"]) if m else i18n.in_language(lang, text)


def _curve(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The project's plan (its planned percent at every checkpoint, from its planned start at 0 %
    to its planned finish at 100 %) against its reports, as the document gives them."""
    p = doc["project"]
    on = date.fromisoformat(doc["date"])
    start, finish = date.fromisoformat(p["planned_start"]), date.fromisoformat(p["planned_finish"])
    marks = [(date.fromisoformat(c["date"]), c["checkpoint"]) for c in doc["checkpoints"]]
    planned = sorted(
        {
            **{date.fromisoformat(c["date"]): float(c["planned_percent"]) for c in doc["checkpoints"]},
            start: 0.0,
            finish: 100.0,
        }.items()
    )
    actual: list[tuple[date, float | None]] = [
        (date.fromisoformat(r["date"]), float(r["percent"])) for r in doc["reports"]
    ]
    if actual and actual[-1][0] < on and marks and on <= marks[-1][0]:
        actual.append((on, float(p["percent"])))  # the figure holds until the date read
    return curve_drawing(planned, actual, marks, on, CURVE_W, CURVE_H)


def project_page(
    url: Callable[..., str],
    lang: str,
    doc: dict[str, Any],
    status: ProjectStatus,
    evidence: Evidence | None,
    *,
    schema: LayerSchema | None = None,
    version: str | None = None,
    landing: Landing | None = None,
) -> str:
    """The page of GET /projects/{code}?f=html; ``url(path, **params)`` makes the app's links."""
    p = doc["project"]
    code, on = p["code"], doc["date"]
    other = i18n.other_lang(lang)
    page_path = "/projects/" + quote(code, safe="")  # as api.deps.project_path encodes it
    switch = url(page_path, f="html", date=on, version=version, lang=other)
    words = forecast_words(status, lang, date.fromisoformat(doc["opening_day"]))
    qty_unit = _labelled(schema, lang, "quantity_unit", p["quantity_unit"])
    interval = p["interval"] or {}
    ctx = {
        "doc": doc,
        "p": p,
        "project_name": p["name_en"] if lang == "en" else p["name_zh"],
        "area": _labelled(schema, lang, "area", p["area"]),
        "category": _labelled(schema, lang, "category", p["category"]),
        "unit": i18n.unit_name(lang, p["responsible_unit"]),
        "person": i18n.in_language(lang, p["responsible_person"]),
        "status_label": i18n.status_label(lang, p["status"]),
        "status_colour": i18n.STATUS_COLOURS.get(p["status"], i18n.NO_PROJECT_COLOUR),
        "actual_text": i18n.fmt_percent(p["percent"]),
        "planned_text": i18n.fmt_percent(p["planned_percent"]),
        "days_late": f"{p['days_late']:.0f}" if p["days_late"] is not None else "0",
        # flagged only when it reads as a day or more: 0.2 days behind shows "0 days", not in red
        "late": round(p["days_late"] or 0) >= 1 and p["status"] != "done",
        "words": words,
        "basis": basis_words(status.forecast.basis, lang, lambda v: _labelled(schema, lang, "category", v)),
        "interval": interval,
        "flag": i18n.evidence_flag(lang, evidence) or None,
        "last_report": (p["last_report"] or {}).get("date"),
        "quantity_text": _quantity(100.0, p["quantity"], qty_unit),
        "reports": [
            {
                **r,
                "quantity": _quantity(r["percent"], p["quantity"], qty_unit),
                "reporter": _reporter(lang, r["reporter"]),
                "reporter_full": r["reporter"] or "",
            }
            for r in reversed(doc["reports"])  # the newest first
        ],
        "curve": _curve(doc),
        "nav": nav_html(url, lang, "project", switch, date=on),
        "links": {
            "map": url("/maps/completion", date=on, lang=lang),
            "units": url("/completion/units", f="html", date=on, lang=lang),
            "json": url(page_path, date=on, version=version),
            "progress_json": url(page_path + "/progress", date=on, version=version),
            "progress_csv": url(page_path + "/progress", f="csv", date=on, version=version),
            # the imagery's row: the project's row of the evidence page (GET /projects/{code}/evidence
            # is JSON only), of the page's date and version, in its language
            "evidence": evidence_project_url(url, code, on, lang, version),
        },
        "landing": landing,
    }
    return render("project.html", lang=lang, **ctx)


def not_found_page(
    url: Callable[..., str], lang: str, code: str, snap: Snapshot, error: TwinError, registered: date | None = None
) -> str:
    """The 404 page of an unknown project code, in the reader's language: the JSON's 404 (``error``),
    read. A code `registered` after the page's date is said to be not yet registered then (it read as
    a wrong code)."""
    on = snap.on.isoformat()
    other = i18n.other_lang(lang)
    switch = project_page_url(url, code, on, other)
    from web.error_page import error_page

    later = registered is not None and registered > snap.on
    note = (
        i18n.label(lang, "project_not_yet_note", date=on, registered=registered.isoformat())
        if later and registered is not None
        else i18n.label(lang, "project_missing_note", date=on)
    )
    return error_page(
        lang,
        status=404,
        title=i18n.label(lang, "project_not_yet" if later else "project_missing", code=code),
        note=note,
        # the JSON's "not in the register as of" (code no_project) is the note's, said once
        detail=note if later else str(error),
        code=None if later else error.code,
        values=None if later else error.values,
        nav=nav_html(url, lang, "project", switch, date=on),
        links=[
            {
                "href": url("/maps/completion", date=on, lang=lang),
                "text": f"{i18n.label(lang, 'completion_map')} · {on}",
                "key": "map",
            },
            {
                "href": url("/completion/units", f="html", date=on, lang=lang),
                "text": i18n.label(lang, "project_units_link"),
                "key": "units",
            },
        ],
        data={"code": code, "date": on},
    )
