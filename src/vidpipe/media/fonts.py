"""Fonts for burned-in subtitles and title cards.

The default font is Noto Sans CJK (Regular), bundled by the ``noto-cjk-sans-otc``
package (SIL Open Font License 1.1). One face covers Latin, Greek, Cyrillic, Han,
Kana and Hangul, so subtitles and cards in any of those scripts render without
missing glyphs. The collection holds the same design tuned for several regions;
vidpipe uses the Simplified Chinese face (collection index 2) unless told otherwise.

A user font is given as a path to a ``.ttf``/``.otf``/``.ttc`` file or as the name
of an installed font file Pillow can find (``DejaVuSans.ttf``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from PIL import ImageFont

from vidpipe.errors import InputError

#: Index of the Simplified Chinese face in NotoSansCJK-Regular.ttc (0 JP, 1 KR, 2 SC, 3 TC, 4 HK).
NOTO_CJK_SC_INDEX = 2


def default_font_path() -> Path:
    """Path of the bundled Noto Sans CJK collection (``NotoSansCJK-Regular.ttc``).

    Raises:
        InputError: the ``noto-cjk-sans-otc`` package is not installed.
    """
    try:
        import noto_cjk_sans_otc
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise InputError(
            "the bundled subtitle font is missing",
            "pip install noto-cjk-sans-otc==0.0.1, or pass --font PATH",
        ) from exc
    return Path(str(noto_cjk_sans_otc.FONT_PATH))


@functools.lru_cache(maxsize=64)
def _load(path: str, size: int, index: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def load_font(font: str | os.PathLike[str] | None, size: int) -> ImageFont.FreeTypeFont:
    """Load a font at a pixel size.

    Args:
        font: ``None`` for the bundled Noto Sans CJK SC; a path to a TrueType/OpenType
            file or collection; or a font file name Pillow finds in the system font
            folders (``"DejaVuSans.ttf"``).
        size: em size in pixels (> 0).

    Returns:
        A Pillow FreeType font (cached: the same arguments return the same object).

    Raises:
        InputError: the font cannot be found or is not a font file.
    """
    size = max(1, int(size))
    if font is None:
        return _load(str(default_font_path()), size, NOTO_CJK_SC_INDEX)
    name = os.fspath(font)
    try:
        return _load(name, size, 0)
    except OSError as exc:
        where = "file is not a font" if Path(name).is_file() else "font not found"
        raise InputError(
            f"{where}: {name}",
            "give a path to a .ttf/.otf/.ttc file, or leave --font out for the bundled "
            "Noto Sans CJK",
        ) from exc


def missing_glyphs(font: ImageFont.FreeTypeFont, text: str) -> str:
    """Characters of ``text`` that ``font`` draws as the missing-glyph box (.notdef).

    Args:
        font: a loaded FreeType font.
        text: any text.

    Returns:
        The distinct non-space characters without a glyph, in order of appearance
        (empty when the font covers the text).
    """

    def signature(ch: str) -> tuple:
        mask = font.getmask(ch)
        return mask.size, bytes(mask)

    notdef = signature("\U0010fffd")  # a private-use code point no font maps
    out: list[str] = []
    for ch in dict.fromkeys(text):
        if ch.isspace() or not ch.isprintable():
            continue
        if signature(ch) == notdef:
            out.append(ch)
    return "".join(out)
