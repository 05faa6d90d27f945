"""The briefing's CJK font in a common-characters copy, set first with the whole font behind it.

Why: matplotlib embeds a subset of each font a PDF uses, and fontTools makes that subset by
reading the font's glyph, metrics, name and character tables whole, every time. WenQuanYi Micro
Hei holds 49,531 glyphs, and subsetting it took about 0.23 s of CPU a page, a third of drawing
the page. A copy holding the characters of GB 2312 (the 6,763 hanzi of everyday text and its
symbols) with Latin, punctuation and full-width forms, about 13,700 glyphs, is subset four
times faster. It is made once per font file with fontTools' subsetter (the same glyphs, metrics
and hinting), kept in matplotlib's cache folder, and registered under a family name of its own;
the page's families are then this copy, the whole font, and DejaVu Sans, and matplotlib takes
each character from the first that has it: a rarer character (堃, 镕) still comes from the whole
font, which is then embedded too.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from fontTools import subset
from matplotlib import font_manager, get_cachedir

log = logging.getLogger(__name__)

# No parentheses or other characters that matplotlib reads as a fontconfig pattern in a family name.
COMMON_SUFFIX = " VenueTwin Common"
# Besides GB 2312: Latin with its accents, general punctuation, arrows, enclosed numbers, CJK
# symbols and punctuation, and half- and full-width forms.
_RANGES = ((0x20, 0x250), (0x2000, 0x2070), (0x2190, 0x2200), (0x2460, 0x2500), (0x3000, 0x3040), (0xFF00, 0xFFF0))


def _gb2312() -> set[int]:
    """Every character GB 2312 encodes (its rows 0xA1-0xF7, cells 0xA1-0xFE), by Python's codec."""
    out: set[int] = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                out.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                continue  # a cell GB 2312 leaves empty
    return out


def common_characters() -> set[int]:
    return _gb2312().union(*(range(a, b) for a, b in _RANGES))


@functools.cache
def common_family(family: str) -> str | None:
    """The family name of the common-characters copy of ``family`` (made on first use, then read
    from the cache folder), or None when it cannot be made (the font is not a TrueType file
    fontTools reads, the cache folder is not writable): the whole font is then used alone."""
    try:
        entry = font_manager.findfont(font_manager.FontProperties(family=[family]), fallback_to_default=False)
    except ValueError:
        return None
    name = family + COMMON_SUFFIX
    try:
        st = os.stat(entry)
        tag = hashlib.sha256(f"{entry}|{st.st_size}|{st.st_mtime_ns}|3".encode()).hexdigest()[:16]
        path = Path(get_cachedir()) / f"venue-twin-common-{tag}.ttf"
        if not path.exists():
            _write_common(entry, name, path)
        font_manager.fontManager.addfont(str(path))
    except Exception as e:  # noqa: BLE001 - any failure leaves the whole font in use, as before
        log.warning("the briefing's font %s is used whole (its common-characters copy failed: %s)", entry, e)
        return None
    return name


def _write_common(source: str, name: str, path: Path) -> None:
    """Subset ``source`` (its first face) to the common characters, renamed ``name``, written whole
    or not at all (several processes may make it at once)."""
    options = subset.Options(font_number=0, glyph_names=True, notdef_outline=True, name_IDs=["*"],
                             name_languages=["*"], name_legacy=True, hinting=True, layout_features=["*"])  # fmt: skip
    options.drop_tables += ["FFTM"]  # FontForge's timestamp, which fontTools cannot subset and says so
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=common_characters())
    subsetter.subset(font)
    postscript = name.replace(" ", "")
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):  # family, full name, typographic family
            record.string = name
        elif record.nameID == 6:  # PostScript name, what the PDF calls the font
            record.string = postscript
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            font.save(f)
        os.chmod(part, 0o644)  # a font, as readable as the one it is made from
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
