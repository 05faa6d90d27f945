"""One rounding of percents for every reader (completion.percent): the JSON and downloads too, so a
unit 99.996 % done reads 99.99 in the JSON and 99.9 on the units page, never 100 (the re-read's find:
the JSON rounded plainly to 100.0, and the page formatted that)."""

from __future__ import annotations

import pytest

from completion.accountability import UnitRow
from completion.percent import json_percent, percent_round
from web.i18n import percent_figure


@pytest.mark.parametrize(
    "value, shown",
    [(99.996, 99.99), (100.0, 100.0), (99.99999999999999, 100.0), (0.001, 0.01), (0.0, 0.0), (1e-12, 0.0),
     (62.5, 62.5), (None, None)],
)  # fmt: skip
def test_the_json_keeps_a_percent_off_the_ends_it_has_not_reached(value: float | None, shown: float | None) -> None:
    assert json_percent(value) == shown


def test_a_units_row_never_reads_done_before_it_is() -> None:
    row = UnitRow(
        by="unit", key="u", unit="u", person=None, projects=1, reports_due=0, reports_overdue=0, late=0,
        at_risk=0, done=0, weight=1.0, planned=100.0, actual=99.996, overdue_codes=(), late_codes=(),
    )  # fmt: skip
    doc = row.to_dict()
    assert doc["actual_percent"] == 99.99 and doc["planned_percent"] == 100.0
    assert percent_figure(doc["actual_percent"], 1) == "99.9" and percent_round(99.996) == 99.0
