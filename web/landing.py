"""The product's home page: the maps for leaders and for the venue teams, and the API for GIS tools.

Served at "/" to browsers (the API's landing page keeps answering JSON to API clients) and at
/maps. Rendered from web/templates/landing.html with its own small style sheet: it loads nothing,
not even the map assets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from twin.core import TwinLike
from web import i18n
from web.data import landed_view, spatial_layers
from web.templating import render


def _kpis(twin: TwinLike, lang: str) -> dict[str, Any] | None:
    """The completion card's figures, or None without a register (or with a broken one)."""
    try:
        view = landed_view(twin)  # today, or before opening day and a round of reports the latest checkpoint
    except Exception:  # noqa: BLE001 - the home page must open even if the register is broken
        return None
    if view is None or not view.snapshot.statuses:
        return None
    snap = view.snapshot
    overall = snap.overall()
    return {
        # days from today, not from the date the figures are shown for
        "days": (snap.opening - view.landing.today).days if view.landing is not None else snap.days_to_opening,
        "opening": snap.opening.isoformat(),
        "actual": i18n.fmt_percent(overall.actual),
        "planned": i18n.fmt_percent(overall.planned),
        "late": overall.counts.get("behind", 0),
        # on opening day or after it: the projects that missed it (not done, or done after it), the
        # headline in place of the late ones, which are then those still not done
        "missed": len(snap.missed_opening()) if snap.opening_reached else None,
        "done": overall.counts.get("done", 0),
        "done_label": i18n.status_label(lang, "done"),
        "projects": overall.projects,
        "landing": view.landing if view.landing is not None and view.landing.moved else None,
        # the date the three figures are of (before a round of reports, the checkpoint's, beside days
        # counted from today)
        "on": snap.on.isoformat(),
        "checkpoint": view.landing.checkpoint if view.landing is not None and view.landing.moved else None,
    }


def landing_html(twin: TwinLike, lang: str, base: str = "", service_title: str | None = None) -> str:
    """The home page in `lang` (links are relative to `base`, the app's root path).

    `service_title` is the API's title, shown with the API links (the OGC API landing page's
    HTML form is this page)."""

    def url(path: str, **params: str) -> str:
        return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")

    head = twin.head()
    head_info = None
    if head is not None:
        head_info = {
            "id": head.id[:12],
            "time": head.time,  # shown in Shanghai time, saying so (web.templating's `when`)
            "commits": twin.commit_count(),
        }
    layers = [
        {"name": s.name, "title": i18n.layer_title(lang, s), "count": twin.count(s.name)}
        for s in twin.layers()  # the caller's view: hidden layers are not there to list
    ]
    return render(
        "landing.html",
        lang=lang,
        other=i18n.other_lang(lang),
        url=url,
        kpis=_kpis(twin, lang),
        layers=layers,
        service_title=service_title,
        head=head_info,
        n_features=sum(twin.count(s.name) for s in spatial_layers(twin)),
    )
