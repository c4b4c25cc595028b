"""The fonts lines are lettered in, chosen per line by the characters it holds.

Only fonts that Python packages ship under open licences, so lettering looks the same on every
machine and needs no download: DejaVu Sans Bold (matplotlib's, free licence; Latin, Greek,
Cyrillic, Arabic, Hebrew and more) and Noto Sans CJK SC (mplfonts', SIL Open Font Licence;
Chinese, Japanese, Korean). A right-to-left line is set right to left by Pillow's text layout
(Raqm, with FriBiDi and HarfBuzz).
"""

from __future__ import annotations

import importlib.util
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from photocomic.tools.errors import ConfigError, InvalidInput
from PIL import ImageFont, features


@dataclass(frozen=True)
class FontFile:
    name: str
    package: str
    inside: str  # the file's path inside the package


FONTS = (
    FontFile("DejaVu Sans Bold", "matplotlib", "mpl-data/fonts/ttf/DejaVuSans-Bold.ttf"),
    FontFile("Noto Sans CJK SC", "mplfonts", "fonts/NotoSansCJKsc-Regular.otf"),
)


@cache
def font_path(font: FontFile) -> Path | None:
    """Where the package holding ``font`` is installed (without importing it), or None."""
    spec = importlib.util.find_spec(font.package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / font.inside
        if path.is_file():
            return path
    return None


@cache
def _covered(font: FontFile) -> frozenset[int]:
    path = font_path(font)
    if path is None:
        return frozenset()
    with TTFont(path, lazy=True, fontNumber=0) as face:
        return frozenset(face.getBestCmap())


def _needed(text: str) -> set[int]:
    """The characters that need a glyph (not spaces, not invisible format characters)."""
    return {ord(c) for c in text if not c.isspace() and unicodedata.category(c) != "Cf"}


def font_for(text: str) -> FontFile:
    """The first font that has every character of ``text``; InvalidInput naming the ones none
    has."""
    needed = _needed(text)
    for font in FONTS:
        if needed <= _covered(font):
            return font
    best = max(FONTS, key=lambda f: len(needed & _covered(f)))
    missing = sorted(needed - _covered(best))
    shown = ", ".join(f"{chr(c)!r} (U+{c:04X})" for c in missing[:5])
    raise InvalidInput(
        f"no font photocomic ships can letter {text[:40]!r}: it has no glyph for {shown}. "
        "Write the line in another script, or leave those characters out"
    )


def direction_of(text: str) -> str:
    """'rtl' when the line's first strong character is right-to-left (Hebrew, Arabic)."""
    for c in text:
        kind = unicodedata.bidirectional(c)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def can_set_rtl() -> bool:
    return bool(features.check("raqm"))


@lru_cache(maxsize=64)
def truetype(font: FontFile, size: int) -> ImageFont.FreeTypeFont:
    path = font_path(font)
    if path is None:
        raise ConfigError(
            f"the font {font.name} is missing (the {font.package} package is not installed): "
            "reinstall photocomic"
        )
    engine = ImageFont.Layout.RAQM if can_set_rtl() else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(path), size, layout_engine=engine)
