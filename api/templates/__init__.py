"""Jinja2 templates of the API's HTML pages (autoescaped), loaded from this package."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("api", "templates"), autoescape=select_autoescape(["html"]))


def render(name: str, **context: Any) -> str:
    return _env().get_template(name).render(**context)
