"""The one Jinja2 environment every HTML page is rendered from (autoescaped).

Pages extend `base.html`; labels come from web/i18n.py through `t(key, **values)`, bound to the
page's language, so a page never carries its own copy of a string and never escapes by hand.

A date never splits across lines (Chromium breaks "2026-11-05" after a hyphen in a narrow box:
"开幕日 2026-" / "11-05"): one rule, here. Each date a label is given by `t` is shown in a
`white-space:nowrap` span, the date alone (the label around it still wraps at its spaces: a whole
label kept on one line ran off a phone's screen, "分责任单位进度与填报（2026-10-26 · T-10）", and
out of the opening-day card, "Opening day 2026-11-05"); so is every date in a text passed
through the `dates` filter. `t` may be used inside an attribute or a <title> too, where a span
cannot go, so it marks each date with two private-use characters, and `render` and `macro` put the
span in where the date is page text and leave the bare date where it is not (inside a tag, a
<title>, a <script>, an <option>).
A time is shown with its time zone, once, by the `when` filter ("2026-12-07 10:21 UTC+8",
"北京时间 2026-12-07 10:21"): the pages show Shanghai time, while `venue-twin log` prints UTC.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from web.i18n import DEFAULT_LANG, LANGS, fmt_percent, label, percent_figure

# a date as the pages write it: 2026-11-05 (a time after it, 2026-12-07 10:21, stays with it)
_DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?(?![\d-])")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_OPEN, _CLOSE = "\ue000", "\ue001"  # a date `t` wrote, until render() knows whether it is page text
NOWRAP_OPEN = '<span class="vt-date" style="white-space:nowrap">'
# where a date stays bare: inside a tag (an attribute), and the elements whose content is text only
_PLACES = re.compile(
    r"<(title|script|style|textarea|option)\b.*?</\1\s*>|<[^>]*>|[\ue000\ue001]", re.IGNORECASE | re.DOTALL
)
_S = TypeVar("_S", str, Markup)


def nowrap_dates(text: Any) -> Markup:
    """`text` escaped, every date in it kept on one line (the `dates` filter, for page text only)."""
    return Markup(_DATE.sub(lambda m: f"{NOWRAP_OPEN}{m.group(0)}</span>", str(escape(text))))


def _place(match: re.Match[str]) -> str:
    found = match.group(0)
    if found == _OPEN:
        return NOWRAP_OPEN
    if found == _CLOSE:
        return "</span>"
    return found.replace(_OPEN, "").replace(_CLOSE, "")


def place_dates(html: _S) -> _S:
    """The dates `t` marked, as nowrap spans in page text and bare elsewhere."""
    if _OPEN not in html:
        return html
    placed = _PLACES.sub(_place, str(html))
    return Markup(placed) if isinstance(html, Markup) else placed  # type: ignore[return-value]


def _is_date(value: Any) -> bool:
    """A day (not a time): a date, or text that is one."""
    if isinstance(value, date):
        return not isinstance(value, datetime)
    return isinstance(value, str) and _DAY.fullmatch(value) is not None


def labeller(lang: str) -> Any:
    """The pages' `t` in `lang`: web.i18n.label, each date value marked to stay on one line."""

    def t(key: str, **values: Any) -> str:
        if not any(_is_date(v) for v in values.values()):
            return label(lang, key, **values)
        marked = {k: f"{_OPEN}{v}{_CLOSE}" if _is_date(v) else v for k, v in values.items()}
        return label(lang, key, **marked)

    return t


def when_text(moment: datetime, lang: str) -> str:
    """A time as the pages show it: Shanghai time, saying so once ("2026-12-07 10:21 UTC+8")."""
    from twin.core import SHANGHAI

    local = moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return label(lang, "time_shanghai", time=local)


@pass_context
def _when_filter(context: Context, moment: datetime) -> Markup:
    return nowrap_dates(when_text(moment, context.get("lang", DEFAULT_LANG)))


@cache
def environment() -> Environment:
    # StrictUndefined: a misspelt variable fails the render (and its test) instead of printing nothing.
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are read once per process, as its Python code is: a running service whose files
        # are updated under it kept its old code but reloaded the changed templates, and every page
        # whose template needed the new code answered 500 until restarted.
        auto_reload=False,
    )
    env.globals["LANGS"] = LANGS
    env.filters["dates"] = nowrap_dates
    env.filters["when"] = _when_filter
    # a percent as a leader reads it: below 100 never "100", above 0 never "0" (completion.percent.percent_round)
    env.filters["percent"] = fmt_percent
    env.filters["percent_figure"] = percent_figure
    return env


def render(name: str, *, lang: str = DEFAULT_LANG, **context: Any) -> str:
    """Render one template with the page language and its label function `t`."""
    return place_dates(environment().get_template(name).render(lang=lang, t=labeller(lang), **context))


@cache
def _module(name: str, lang: str) -> Any:
    return environment().get_template(name).make_module({"lang": lang, "t": labeller(lang), "LANGS": LANGS})


def macro(template: str, macro_name: str, /, *, lang: str = DEFAULT_LANG, **arguments: Any) -> Markup:
    """Call one macro of a template (a page part: autoescaped, returned as Markup) in a language."""
    return place_dates(Markup(getattr(_module(template, lang), macro_name)(**arguments)))
