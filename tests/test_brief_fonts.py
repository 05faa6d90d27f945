"""The briefing's fonts (web.fonts): everyday Chinese text is set in a common-characters copy of the
CJK font, which is four times cheaper to embed, and a rarer character still comes from the whole
font, so nothing is drawn as a box."""

from __future__ import annotations

import io

from fontTools.ttLib import TTFont
from matplotlib.figure import Figure
from pypdf import PdfReader
from web_support import pdf_text

from web.brief import LATIN_FAMILY, font_families
from web.fonts import COMMON_SUFFIX, common_characters

RARE = "堃"  # in given names (王堃), not in GB 2312


def page_with(text: str) -> bytes:
    fig = Figure(figsize=(4, 2))
    fig.text(0.05, 0.5, text, family=font_families(), size=12)
    out = io.BytesIO()
    fig.savefig(out, format="pdf")
    return out.getvalue()


def embedded(pdf: bytes) -> set[str]:
    """The page's fonts, by their names without the subset's tag ("ABCDEF+")."""
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values()
    return {str(f.get_object()["/BaseFont"]).lstrip("/").split("+", 1)[-1] for f in fonts}


def test_the_common_copy_comes_first_and_holds_what_the_briefing_writes() -> None:
    families = font_families()
    assert families[0].endswith(COMMON_SUFFIX) and families[1:] == [
        families[0].removesuffix(COMMON_SUFFIX),
        LATIN_FAMILY,
    ]
    chars = common_characters()
    assert RARE not in chars and len(chars) > 7000
    # the words the page is made of: headings, statuses, units' names, figures
    assert all(ord(c) in chars for c in "国家会展中心（上海）南广场花坛滞后工程逾期未报责任单位 94.79% ±150 米 · –")


def test_everyday_text_embeds_the_copy_alone_and_a_rare_character_the_whole_font() -> None:
    families = font_families()
    common, whole = families[0], families[1]
    everyday = page_with("会展中心 南广场 责任人 王伟 Late projects 12 (94.79%)")
    fonts = embedded(everyday)
    assert common.replace(" ", "") in fonts, fonts
    assert not any(f == whole.replace(" ", "") for f in fonts), fonts
    rare = page_with(f"责任人 王{RARE}")
    fonts = embedded(rare)
    assert any(f == whole.replace(" ", "") for f in fonts), fonts
    assert f"王{RARE}" in pdf_text(rare)[0]


def test_the_copy_has_the_whole_fonts_glyphs_for_its_characters() -> None:
    """The same outlines and advance widths as the whole font (what the page measures and draws)."""
    from matplotlib import font_manager

    families = font_families()
    copy = TTFont(font_manager.findfont(font_manager.FontProperties(family=[families[0]])), fontNumber=0)
    whole = TTFont(font_manager.findfont(font_manager.FontProperties(family=[families[1]])), fontNumber=0)
    for ch in "会展滞后%A":
        a, b = copy.getBestCmap()[ord(ch)], whole.getBestCmap()[ord(ch)]
        assert copy["hmtx"][a] == whole["hmtx"][b], ch
        assert copy["glyf"][a].getCoordinates(copy["glyf"])[0] == whole["glyf"][b].getCoordinates(whole["glyf"])[0], ch
