"""An error answered as a page: what a reader gets, in their language, where a script gets the
problem JSON (api/errors.py decides which; the status and detail are the JSON's).

One template (web/templates/page_error.html) serves every such page: a bad query parameter on a
map page, the units page or a project's page, and a project code the register does not have
(web.project_page.not_found_page).

The page explains the error in its own language (`explanation`): the errors a reader meets most (a
date after today or before the twin's history, a malformed date, an unknown parameter, page, layer
or project, a value not among those allowed) are worded from their kind and values by i18n labels
"error_kind_<kind>"; any other by the detail as the API gives it, in English. An explanation the
page's note already says is not said again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from web import i18n
from web.maps import nav_html
from web.templating import render


def error_title(lang: str, status: int) -> str:
    if status in (400, 401, 403, 404):
        return i18n.label(lang, f"error_{status}")
    return i18n.label(lang, "error_other", status=status)


# The kind of each error a page words, with the values its label needs, as the API's detail says
# them. The twin, the completion module and the API raise plain English (what the JSON's detail and
# the CLI show, unchanged for scripts), so the kind is read from that English here, in one place,
# first match wins; a detail none matches is shown as it is. tests/test_page_errors.py holds each to
# the sentence its raiser really writes.
ERROR_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("date_after_today", r"date (?P<date>\S+) is after today \((?P<today>[^)]+)\)"),
        ("no_data_then", r"the twin has no data (?:on|at) (?P<when>.+?): its history starts on (?P<since>\S+) "),
        ("not_a_date", r"'(?P<value>[^']*)' is not a date \(YYYY-MM-DD\) or a checkpoint \(T-30\)"),
        ("not_a_time", r"'(?P<value>[^']*)' is not an RFC 3339 timestamp such as \S+ or a date$"),
        ("unknown_parameter_none", r"^unknown query parameter '(?P<parameter>[^']*)'; this endpoint takes no query"),
        (
            "unknown_parameter",
            r"^unknown query parameter '(?P<parameter>[^']*)'; this endpoint takes (?P<takes>[\w, -]+)",
        ),
        ("not_one_of", r"'(?P<value>[^']*)' is not one of (?P<allowed>[\w, -]+)$"),
        ("no_layer", r"^no layer '(?P<layer>[^']*)'"),
        ("no_collection", r"^no collection '(?P<collection>[^']*)'$"),
        # worded as the page of an unknown project code notes it (web.project_page.not_found_page)
        ("no_project", r"^no project '(?P<code>[^']*)' in the register as of (?P<date>\S+)$"),
        ("no_address", r"^no such address: (?P<path>\S+) "),
    )
)
_LABEL_OF_KIND = {"no_project": "project_missing_note"}


class Explanation(NamedTuple):
    kind: str | None  # one of ERROR_KINDS, None for a detail shown as the API gives it
    text: str


def explanation(lang: str, detail: str) -> Explanation:
    """What went wrong, in the page's language where its kind is known (ERROR_KINDS)."""
    for kind, pattern in ERROR_KINDS:
        m = pattern.search(detail)
        if m is not None:
            return Explanation(kind, i18n.label(lang, _LABEL_OF_KIND.get(kind, f"error_kind_{kind}"), **m.groupdict()))
    return Explanation(None, detail)


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
    """The page; ``links`` are {href, text, key} dicts, ``nav`` the maps' navigation (nav_html).
    ``detail`` is the API's (the JSON's); the page explains it in its language (`explanation`)."""
    said = explanation(lang, detail)
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
