"""A table as a workbook a person reads in Excel: a title, the column headings, the values as Excel
values (dates as dates, percents as numbers shown as percents), the headings frozen in view.

The one writer of the readable downloads (web.excel gives it the accountability lists, with their
pages' headings in the reader's language); the machine-readable tables (CSV, the JSON keys as
headings) are ``completion.intake.table_bytes``.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Excel's number formats of the kinds of value a readable table holds
DATE = "yyyy-mm-dd"
PERCENT = "0.0%"  # a fraction: 0.453 shows 45.3%
WHOLE_PERCENT = "0%"
POINTS = "+0.0;-0.0;0.0"  # percentage points against a plan, signed
WHOLE = "0"

MIN_WIDTH, MAX_WIDTH = 6, 48  # a column's width in characters (a Chinese character counts two)


@dataclass(frozen=True)
class SheetColumn:
    heading: str
    number_format: str | None = None  # DATE, PERCENT, ...: how Excel shows the column's values
    width: int | None = None  # None: as wide as its heading and values (within MIN_WIDTH..MAX_WIDTH)


def display_width(text: str) -> int:
    """How many character widths a text takes: a Chinese (wide) character two, others one."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def table_workbook(
    title: str,
    subtitle: str,
    columns: Sequence[SheetColumn],
    rows: Iterable[Sequence[Any]],
    sheet: str = "Sheet1",
    pages: str = "Page &P of &N",
) -> bytes:
    """An .xlsx of one sheet: ``title`` (bold) in its first row, ``subtitle`` (what it is of: the
    date, the version) in its second, the headings in its third, frozen with the rows above them,
    a filter on each heading; then one row of values a row of ``rows``, each as the column's
    ``number_format`` shows it. A text is always text, never a formula (a project named
    "=HYPERLINK(...)" is that text). Columns are as wide as their widest value, texts wrapping past
    MAX_WIDTH; a value True or False is Excel's boolean (a filter of two values, every row one).

    Printed, a page is A4 landscape, the columns fitted to its width, and every page repeats the
    title, the subtitle and the headings (a page 2 read alone says what and of which date it is);
    the footer names the title on the left and the page on the right: ``pages``, the words of
    "Page &P of &N" in the reader's language (&P the page, &N the pages: Excel's codes)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    ws: Worksheet = book.active  # type: ignore[assignment]
    ws.title = _sheet_title(sheet)
    ws.cell(row=1, column=1, value=_text(title, ILLEGAL_CHARACTERS_RE)).font = Font(bold=True, size=14)
    ws.cell(row=2, column=1, value=_text(subtitle, ILLEGAL_CHARACTERS_RE)).font = Font(color="555555")
    head = 3
    widths = [display_width(c.heading) for c in columns]
    fill, rule = PatternFill("solid", fgColor="E8EEF6"), Side(style="thin", color="8A99AD")
    for j, c in enumerate(columns, start=1):
        cell = ws.cell(row=head, column=j, value=_text(c.heading, ILLEGAL_CHARACTERS_RE))
        cell.data_type = "s"
        cell.font, cell.fill, cell.border = Font(bold=True), fill, Border(bottom=rule)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    n = head
    for n, values in enumerate(rows, start=head + 1):
        for j, (c, v) in enumerate(zip(columns, values, strict=True), start=1):
            cell = ws.cell(row=n, column=j, value=_text(v, ILLEGAL_CHARACTERS_RE) if isinstance(v, str) else v)
            if isinstance(v, str):
                cell.data_type = "s"  # openpyxl takes a text starting with "=" for a formula
                widths[j - 1] = max(widths[j - 1], display_width(v))
            elif v is not None:
                if c.number_format:
                    cell.number_format = c.number_format
                widths[j - 1] = max(widths[j - 1], _shown_width(v, c.number_format))
            if isinstance(v, str) and display_width(v) > MAX_WIDTH:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for j, c in enumerate(columns, start=1):
        width = c.width if c.width is not None else min(max(widths[j - 1] + 2, MIN_WIDTH), MAX_WIDTH)
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = ws.cell(row=head + 1, column=1)
    if columns:
        ws.auto_filter.ref = f"A{head}:{get_column_letter(len(columns))}{max(n, head)}"
    ws.print_title_rows = f"1:{head}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.oddFooter.left.text = _footer_text(_text(title, ILLEGAL_CHARACTERS_RE))
    ws.oddFooter.right.text = pages
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _shown_width(v: Any, number_format: str | None) -> int:
    """About how many characters Excel shows a value in (a date 10, a percent its figure and sign)."""
    if isinstance(v, bool):
        return 5  # TRUE, FALSE
    if number_format == DATE or not isinstance(v, int | float):
        return 10
    if number_format in (PERCENT, WHOLE_PERCENT):
        return len(f"{v * 100:.1f}%")
    return len(f"{v:+.1f}" if number_format == POINTS else str(round(v, 2)))


def _text(v: str, illegal: Any) -> str:
    """A text as a cell takes it: the control characters XML cannot hold left out."""
    return str(illegal.sub("", v))


def _footer_text(text: str) -> str:
    """A text as a page's footer shows it: its "&" doubled (a single one starts one of Excel's
    codes, &P the page, &D the date, ...), its first 100 characters (Excel takes 255 for a footer)."""
    return text[:100].replace("&", "&&")


def _sheet_title(name: str) -> str:
    """A sheet's name as Excel allows it: 31 characters, none of []:*?/\\."""
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet1"
