"""The one Jinja2 environment every HTML page is rendered from (autoescaped).

Pages extend `base.html`; labels come from web/i18n.py through `t(key, **values)`, bound to the
page's language, so a page never carries its own copy of a string and never escapes by hand.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from web.i18n import DEFAULT_LANG, LANGS, label


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
    return env


def render(name: str, *, lang: str = DEFAULT_LANG, **context: Any) -> str:
    """Render one template with the page language and its label function `t`."""
    return environment().get_template(name).render(lang=lang, t=partial(label, lang), **context)


@cache
def _module(name: str, lang: str) -> Any:
    return environment().get_template(name).make_module({"lang": lang, "t": partial(label, lang), "LANGS": LANGS})


def macro(template: str, macro_name: str, /, *, lang: str = DEFAULT_LANG, **arguments: Any) -> Markup:
    """Call one macro of a template (a page part: autoescaped, returned as Markup) in a language."""
    return Markup(getattr(_module(template, lang), macro_name)(**arguments))
