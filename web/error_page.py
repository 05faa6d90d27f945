"""An error answered as a page: what a reader gets, in their language, where a script gets the
problem JSON (api/errors.py decides which; the status and detail are the JSON's).

One template (web/templates/page_error.html) serves every such page: a bad query parameter on a
map page, the units page or a project's page, and a project code the register does not have
(web.project_page.not_found_page).

The page explains the error in its own language (`explanation`): the errors a reader meets most (a
date after today or before the twin's history, a malformed date, an unknown parameter, page, layer
or project, a value not among those allowed) are worded from the code and values they were raised
with (twin.errors.ERROR_CODES) by i18n labels "error_kind_<code>", never from the English detail, which
may be reworded; any other by the detail as the API gives it, in English. An explanation the page's
note already says is not said again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from web import i18n
from web.maps import nav_html
from web.templating import render


def error_title(lang: str, status: int) -> str:
    if status in (400, 401, 403, 404):
        return i18n.label(lang, f"error_{status}")
    return i18n.label(lang, "error_other", status=status)


# The label of each code is "error_kind_<code>", but for these; every code of
# twin.errors.ERROR_CODES has one (tests/test_page_errors.py holds them to it).
# no_project is worded as the page of an unknown project code notes it (web.project_page.not_found_page).
_LABEL_OF_KIND = {"no_project": "project_missing_note"}


def label_of(code: str) -> str:
    """The i18n label that words an error of this code (twin.errors.ERROR_CODES)."""
    return _LABEL_OF_KIND.get(code, f"error_kind_{code}")


class Explanation(NamedTuple):
    kind: str | None  # the error's code (twin.errors.ERROR_CODES), None for a detail shown as the API gives it
    text: str


def explanation(lang: str, code: str | None, values: Mapping[str, Any], detail: str) -> Explanation:
    """What went wrong, in the page's language where the error has a code: worded from the code and
    its values, whatever the detail says; without one, the detail (the API's English) as it is."""
    if code is None:
        return Explanation(None, detail)
    return Explanation(code, i18n.label(lang, label_of(code), **values))


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
    code: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> str:
    """The page; ``links`` are {href, text, key} dicts, ``nav`` the maps' navigation (nav_html).
    ``detail`` is the API's (the JSON's), ``code`` and ``values`` what the error is as data; the page
    explains it in its language (`explanation`)."""
    said = explanation(lang, code, values or {}, detail)
    return render(
        "page_error.html",
        lang=lang,
        title=title,
        status=status,
        note=note,
        explained=None if said.text.strip() == note.strip() else said,
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
    code: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> str:
    """A request's error as a page: ``without`` is the same page without the bad parameter (or
    without its query when none is named; None when that is this very address), ``switch`` this
    address in the other language; ``code`` and ``values`` the error's (`explanation`)."""
    note = i18n.label(lang, "error_parameter", parameter=parameter) if parameter else i18n.label(lang, "error_note")
    back = i18n.label(lang, "error_without", parameter=parameter) if parameter else i18n.label(lang, "error_page_plain")
    return error_page(
        lang,
        status=status,
        title=error_title(lang, status),
        note=note,
        detail=detail,
        code=code,
        values=values,
        nav=nav_html(url, lang, "error", switch),
        links=[
            {"href": url("/maps", lang=lang), "text": i18n.label(lang, "error_home"), "key": "home"},
            *([{"href": without, "text": back, "key": "without"}] if without is not None else []),
        ],
        data={"parameter": parameter} if parameter else None,
    )
