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
import re
from pathlib import Path
from typing import Any

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


def font_folders(
    data_home: str | os.PathLike[str] | None = None, data_dirs: str | None = None
) -> list[Path]:
    """The system font folders Pillow searches for a font file name on Linux and macOS
    (``<data_home>/fonts``, each ``<data_dirs>/fonts``, ``/usr/share/fonts``,
    ``~/Library/Fonts``...), in that order; only the ones that exist.

    Args:
        data_home: the user's data folder; None: the XDG base-directory one
            (``$XDG_DATA_HOME`` or ``~/.local/share``, as ``platformdirs`` resolves it).
        data_dirs: the system data folders, ``:``-separated; None: the XDG ones
            (``$XDG_DATA_DIRS`` or ``/usr/local/share:/usr/share``, likewise).
    """
    from platformdirs.unix import Unix

    xdg = Unix(multipath=True)
    dirs = [Path(data_home if data_home is not None else xdg.user_data_dir) / "fonts"]
    data_dirs = xdg.site_data_dir if data_dirs is None else data_dirs
    dirs += [Path(d) / "fonts" for d in data_dirs.split(":") if d]
    dirs += [Path("/usr/share/fonts"), Path("/Library/Fonts"), Path.home() / "Library/Fonts"]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen and d.is_dir():
            seen.append(d)
    return seen


def find_installed_font(name: str) -> Path | None:
    """The path of the installed font file called ``name`` (``DejaVuSans.ttf``) in the
    system font folders (:func:`font_folders`), never the working folder; None when
    there is none (or ``name`` is not a bare file name)."""
    if not name or Path(name).name != name or name in (".", ".."):
        return None
    for folder in font_folders():
        for dirpath, _dirs, files in os.walk(folder):
            if name in files:
                return Path(dirpath) / name
    return None


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


# --------------------------------------------------------------------------- line wrapping

CJK_CHAR = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]"
)
# Characters a line must not start with / end with (Japanese kinsoku, Chinese rules).
NO_LINE_START = frozenset(
    "、。，．・：；？！）」』】〕〉》〗〙〛〜ー…‥’”,.:;?!)]}%"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々"
)
NO_LINE_END = frozenset("（「『【〔〈《〖〘〚‘“([{")
ELLIPSIS = "…"


def tokens(paragraph: str) -> list[list[Any]]:
    """Break opportunities of one paragraph: ``[[text, space_before], ...]``.

    A run of non-CJK, non-space characters is one token (a word with its punctuation);
    every CJK character is a token of its own. Closing punctuation sticks to the token
    before it and opening punctuation to the token after it.
    """
    raw: list[list[Any]] = []
    space = False
    last_cjk = True
    for ch in paragraph:
        if ch.isspace():
            space = True
            continue
        cjk = bool(CJK_CHAR.match(ch))
        if raw and not space and not cjk and not last_cjk:
            raw[-1][0] += ch
        else:
            raw.append([ch, space])
        space = False
        last_cjk = cjk
    out: list[list[Any]] = []
    for tok in raw:
        glue = out and not tok[1] and (tok[0][0] in NO_LINE_START or out[-1][0][-1] in NO_LINE_END)
        if glue:
            out[-1][0] += tok[0]
        else:
            out.append(tok)
    return out


def _hard_break(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Cut a token wider than ``max_width`` between characters (at least one per line)."""
    pieces: list[str] = []
    cur = ""
    for ch in text:
        if cur and font.getlength(cur + ch) > max_width:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def wrap_text(
    text: str, font: ImageFont.FreeTypeFont, max_width_px: float, balanced: bool = False
) -> list[str]:
    """Wrap ``text`` into lines no wider than ``max_width_px`` when drawn with ``font``.

    Lines break at spaces in spaced scripts (Latin, Cyrillic, Greek, Hangul...) and
    between any two CJK characters (Chinese and Japanese have no spaces), never
    before closing punctuation (``，。！？」)`` ...) nor after opening punctuation. A
    word wider than the whole line is cut between characters. ``\\n`` starts a new
    line; runs of spaces collapse to one.

    Args:
        text: any text.
        font: a Pillow FreeType font; widths are measured with ``font.getlength``.
        max_width_px: the widest line allowed, in pixels.
        balanced: keep as few lines as a plain wrap but make them similar in width
            (headline and subtitle typesetting: no lonely last word); found by binary
            search for the narrowest width that keeps the line count.

    Returns:
        The lines, without leading or trailing spaces (empty for blank text).
    """
    lines = _wrap(text, font, max_width_px)
    if not balanced or len(lines) < 2:
        return lines
    widest = max(font.getlength(t) for para in text.split("\n") for t, _sp in tokens(para))
    if widest > max_width_px:
        return lines  # a word is cut anyway: keep the plain wrap
    lo, hi = max(max_width_px / len(lines) * 0.9, widest), float(max_width_px)
    best = lines
    for _ in range(12):
        mid = (lo + hi) / 2
        trial = _wrap(text, font, mid)
        if len(trial) <= len(lines):
            best, hi = trial, mid
        else:
            lo = mid
    return best


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width_px: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        cur = ""
        for tok, space in tokens(paragraph):
            cand = cur + (" " if space and cur else "") + tok
            if cur and font.getlength(cand) <= max_width_px:
                cur = cand
                continue
            if cur:
                lines.append(cur)
            pieces = (
                _hard_break(tok, font, max_width_px)
                if font.getlength(tok) > max_width_px
                else [tok]
            )
            lines.extend(pieces[:-1])
            cur = pieces[-1]
        if cur:
            lines.append(cur)
    return lines
