"""`venue-twin brief`: the one-page A3 briefing for a leaders' meeting, as PDF (to print) or PNG (to send),
or on two A4 pages (PDF) for an office printer.

    venue-twin brief --date T-10 -o brief.pdf
    venue-twin brief --date T-10 -o brief-a4.pdf --paper a4
    venue-twin brief --date 2026-10-26 -o brief.png --lang en
    venue-twin brief -o today --format pdf

The page is web.brief's, from the snapshot `venue-twin completion` and the API's /completion read
(see web/brief.py for what it holds). Registered on cli.main's app as the `brief` command; it only
reads, so it needs no author.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.completion import DateOpt, StoreOpt, VersionOpt

FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="pdf or png (default: from the file's suffix).")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh (Chinese) or en (English).")]
PaperOpt = Annotated[
    str, typer.Option("--paper", help="a3 (one A3 landscape page) or a4 (two A4 portrait pages, PDF only).")
]


def brief(
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write, e.g. brief.pdf or brief.png.")],
    on: DateOpt = None,
    version: VersionOpt = None,
    fmt: FormatOpt = None,
    lang: LangOpt = "zh",
    paper: PaperOpt = "a3",
    store: StoreOpt = None,
) -> None:
    """An A3 landscape briefing on a date (or two A4 portrait pages with --paper a4): the completion
    map, the key figures, the S-curve, the late projects with their units and persons, and the
    overdue reports."""
    from cli.completion import _reading
    from cli.main import EXIT_BAD_INPUT, _fail, _output_dir, out
    from web.brief import FORMATS, PAPERS, paper_problem, render_brief
    from web.i18n import LANGS

    _output_dir(output)
    if lang not in LANGS:
        _fail(f"--lang {lang!r} is not one of {', '.join(LANGS)}", EXIT_BAD_INPUT)
    suffix = output.suffix.lower().removeprefix(".")
    if fmt is None:
        if suffix not in FORMATS:
            _fail(
                f"cannot tell the format of {str(output)!r} from its name: give --format pdf|png, "
                "or name it .pdf or .png",
                EXIT_BAD_INPUT,
            )
        fmt = suffix
    elif fmt not in FORMATS:
        _fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}", EXIT_BAD_INPUT)
    elif suffix in FORMATS and suffix != fmt:
        _fail(f"--format {fmt} does not match the file name {str(output)!r}", EXIT_BAD_INPUT)
    paper = paper.lower()
    if paper not in PAPERS:
        _fail(f"--paper {paper!r} is not one of {', '.join(PAPERS)}", EXIT_BAD_INPUT)
    problem = paper_problem(paper, fmt)
    if problem:
        _fail(f"--paper {paper}: {problem}", EXIT_BAD_INPUT)
    # like the maps: today, or before opening day and a round of reports the latest checkpoint with data
    with _reading(store, on, version, land=True) as (comp, snap):
        # a date or a version named: the paper says only which date it shows, not that it is the latest
        # checkpoint with reports (web.brief.date_note)
        asked = on is not None or version is not None
        body = render_brief(comp.twin, comp, snap, lang=lang, fmt=fmt, version=version, asked=asked, paper=paper)
    _write(output, body)
    checkpoint = f" ({snap.checkpoint})" if snap.checkpoint else ""
    out.print(
        f"wrote {output}: {'A3' if paper == 'a3' else 'two A4 pages,'} {fmt.upper()}, completion on {snap.on.isoformat()}{checkpoint}, {len(body) // 1024} KiB"
    )


def _write(output: Path, body: bytes) -> None:
    """Write the file whole or not at all: a hidden part file beside it, renamed into place."""
    fd, part = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(part, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        raise
