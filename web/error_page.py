"""An error answered as a page: what a reader gets, in their language, where a script gets the
problem JSON (api/errors.py decides which; the status and detail are the JSON's).

One template (web/templates/page_error.html) serves every such page: a bad query parameter on a
map page, the units page or a project's page, and a project code the register does not have
(web.project_page.not_found_page).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from web import i18n
from web.maps import nav_html
from web.templating import render


def error_title(lang: str, status: int) -> str:
    if status in (400, 401, 403, 404):
        return i18n.label(lang, f"error_{status}")
    return i18n.label(lang, "error_other", status=status)


def error_page(
    lang: str,
    *,
    status: int,
    title: str,
    note: str,
    detail: str,
    nav: Any,
    links: Sequence[dict[str, str]],
    data: dict[str, str] | None = None,
) -> str:
    """The page; ``links`` are {href, text, key} dicts, ``nav`` the maps' navigation (nav_html)."""
    return render(
        "page_error.html",
        lang=lang,
        title=title,
        status=status,
        note=note,
        detail=detail,
        nav=nav,
        links=list(links),
        data=data,
    )


def bad_request_page(
    url: Callable[..., str],
    lang: str,
    *,
    status: int,
    detail: str,
    parameter: str | None,
    without: str | None,
    switch: str,
) -> str:
    """A request's error as a page: ``without`` is the same page without the bad parameter (or
    without its query when none is named; None when that is this very address), ``switch`` this
    address in the other language."""
    note = i18n.label(lang, "error_parameter", parameter=parameter) if parameter else i18n.label(lang, "error_note")
    back = i18n.label(lang, "error_without", parameter=parameter) if parameter else i18n.label(lang, "error_page_plain")
    return error_page(
        lang,
        status=status,
        title=error_title(lang, status),
        note=note,
        detail=detail,
        nav=nav_html(url, lang, "error", switch),
        links=[
            {"href": url("/maps", lang=lang), "text": i18n.label(lang, "error_home"), "key": "home"},
            *([{"href": without, "text": back, "key": "without"}] if without is not None else []),
        ],
        data={"parameter": parameter} if parameter else None,
    )
