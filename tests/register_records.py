"""A small register's project records, as the completion tests write them (save_projects): one
function, not a copy of the same dictionary in each module that builds a register of its own."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from typing import Any

from twin.core import SHANGHAI


def project_record(
    code: str, start: str, finish: str, *, unit: str = "U1", person: str | None = "p1", area: str = "halls",
    quantity: float = 100.0,
) -> dict[str, Any]:  # fmt: skip
    """A venue-renovation project in m², named after its code."""
    return {
        "code": code,
        "name_zh": f"工程{code}",
        "name_en": f"Project {code}",
        "category": "venue_renovation",
        "area": area,
        "responsible_unit": unit,
        "responsible_person": person,
        "planned_start": start,
        "planned_finish": finish,
        "quantity": quantity,
        "quantity_unit": "m²",
    }


def noon(day: str) -> datetime:
    """Noon in Shanghai on `day` (ISO): when these registers record their commits."""
    return datetime.combine(date.fromisoformat(day), time(12), SHANGHAI)


def cli(*args: str) -> str:
    """A `venue-twin` command's output, run in process; it must succeed."""
    from typer.testing import CliRunner

    from cli.main import app

    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def rows(text: str) -> list[dict[str, str]]:
    """A CSV's rows; downloads start with a UTF-8 BOM for Excel, the CLI's pipe does not."""
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
