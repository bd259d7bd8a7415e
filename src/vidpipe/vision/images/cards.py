"""Designed title cards, drawn offline with Pillow: the ``cards`` generator (the default).

Card text (:func:`card_text`: a headline and key phrases from a chunk's text), card
design (:data:`CARD_PALETTE`, :func:`card_background`, text fitting, :func:`render_card`)
and :class:`CardGenerator`, which draws one card per chunk. :data:`CARD_DESIGN` versions
the design: it is part of every card's provenance key.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidpipe.errors import UsageError
from vidpipe.media.fonts import CJK_CHAR as _CJK_CHAR
from vidpipe.media.fonts import ELLIPSIS, load_font, wrap_text
from vidpipe.text.language import guess_language
from vidpipe.timecode import chapter_timestamp
from vidpipe.types import Chunk
from vidpipe.vision.images.base import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    SAFE_BOTTOM,
    _PngGenerator,
)

__all__ = [
    "CARD_DESIGN",
    "CARD_PALETTE",
    "CardGenerator",
    "RenderedCard",
    "TextBox",
    "card_background",
    "card_text",
    "heading_of",
    "render_card",
]


CARD_DESIGN = 2  # 2: no footer on a lone or untimed card; headings as headlines
"""Version of the card design; part of each card's provenance key."""


# --------------------------------------------------------------------------- text layout


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """``line`` shortened from the end with ``…`` so that it fits ``max_width`` pixels."""
    if font.getlength(line) <= max_width:
        return line
    while line and font.getlength(line.rstrip(" ,.;:、，") + ELLIPSIS) > max_width:
        line = line[:-1]
    return line.rstrip(" ,.;:、，") + ELLIPSIS


def _fit(
    text: str, sizes: Sequence[int], max_width: float, max_lines: int, stroke: float = 0.0
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size whose wrap of ``text`` takes at most ``max_lines`` lines.

    ``stroke`` is the stroke width as a fraction of the size (it widens every line).
    When even the smallest size needs more lines, its first ``max_lines`` are kept and
    the last one ends with ``…``.
    """
    font = load_font(None, sizes[-1])
    lines: list[str] = []
    for size in sizes:
        font = load_font(None, size)
        width = max_width - 2 * math.ceil(size * stroke)
        lines = wrap_text(text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    width = max_width - 2 * math.ceil(font.size * stroke)
    kept = lines[:max_lines]
    kept[-1] = _ellipsize(kept[-1] + ELLIPSIS, font, width)
    return font, kept


# --------------------------------------------------------------------------- card text

_SMALL_WORDS = frozenset(
    ("a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of", "on",
     "or", "over", "the", "to", "via", "with")
)  # fmt: skip
_EN_WEAK = re.compile(r"(?:ed|ly)$")
_TRIM = " \t.,;:!?\"'“”‘’«»()[]。！？，、；：「」『』（）"


def _stem(word: str) -> str:
    """A crude English-style stem so ``book``/``books`` and ``print``/``printed`` meet."""
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _weak_zh(phrase: str) -> bool:
    """True for a Chinese keyword that is a verb, adverb, pronoun... (not a noun phrase)."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    flags = [p.flag for p in jieba.posseg.lcut(phrase)]
    head = flags[-1] if flags else "x"
    return head[0] in "vdrpcumqfy" and head not in ("vn",)


def _title_case(phrase: str, language: str) -> str:
    """Headline casing: English Title Case for all-lower-case phrases; else first letter up."""
    if not phrase:
        return phrase
    if language == "en" and phrase == phrase.lower():
        words = phrase.split(" ")
        return " ".join(
            w if (i and w in _SMALL_WORDS) else w[:1].upper() + w[1:] for i, w in enumerate(words)
        )
    return phrase[0].upper() + phrase[1:]


def heading_of(text: str, language: str) -> str | None:
    """The heading a chunk opens with, if any: its first sentence when
    :func:`vidpipe.text.documents.looks_like_heading` (and more text follows), without
    its final period. Narrated documents speak each heading as a sentence of its own
    (:func:`vidpipe.text.documents.structure_paragraphs`)."""
    from vidpipe.text.documents import looks_like_heading
    from vidpipe.text.sentences import split_sentences

    sents = split_sentences(text, language)
    if len(sents) < 2 or not looks_like_heading(sents[0], language):
        return None
    return sents[0].strip().strip(_TRIM) or None


def card_text(
    text: str, language: str | None = None, max_phrases: int = 4
) -> tuple[str, list[str]]:
    """The headline and key phrases of a card, from a chunk's text (offline).

    Candidates are the project's keywords (:func:`vidpipe.text.extractive.keywords`:
    YAKE, or jieba for Chinese), re-ranked by how often their words occur in the text
    (crudely stemmed), preferring multi-word phrases and names; weak candidates
    (English adverbs and past participles, Chinese verbs) are dropped, and a phrase
    sharing a word with a better one is skipped. The best becomes the headline (Title
    Case in English), the next ones the key phrases; a phrase runs within one sentence
    (never "Farms Abstract" across a title and a heading) and is not a whole sentence
    (a heading such as "Abstract" is no key phrase). When the text opens with a
    heading (:func:`heading_of`), the heading is the headline. Without any keyword, the
    headline is the text's opening words.

    Args:
        text: the chunk's text.
        language: ISO 639-1 code (``None``: guessed from the script).
        max_phrases: key phrases returned at most.

    Returns:
        ``(headline, phrases)``: the headline (``""`` for blank text) and up to
        ``max_phrases`` phrases as written in the text.
    """
    from vidpipe.text.extractive import keywords, words
    from vidpipe.text.sentences import primary_language, split_sentences

    text = " ".join(text.split())
    if not text:
        return "", []
    lang = primary_language(language or guess_language(text))
    spaced = lang not in ("zh", "ja")
    cands = [k.strip(_TRIM) for k in keywords(text, lang, top=15)]
    sentences = [" ".join(x.lower().split()) for x in split_sentences(text, lang)]
    whole = {x.strip(_TRIM) for x in sentences}  # a heading alone is not a key phrase
    cands = [
        c
        for c in cands
        if c
        and not c.isdigit()
        and c.lower() not in whole
        and any(c.lower() in x for x in sentences)
    ]
    heading = heading_of(text, lang)
    tf = Counter(_stem(w) if spaced else w for w in words(text, lang))
    scored: list[tuple[float, int, str, set[str]]] = []
    for rank, cand in enumerate(cands):
        toks = words(cand, lang) if spaced else [cand.lower()]
        if not toks:
            continue
        if lang == "en" and _EN_WEAK.search(toks[-1]) and not cand[:1].isupper():
            continue
        if lang == "zh" and _weak_zh(cand):
            continue
        keys = {_stem(t) for t in toks} if spaced else set(cand)
        freq = sum(tf[_stem(t) if spaced else t] for t in toks) / len(toks)
        score = freq + 1.5 / (1 + rank)
        if len(toks) > 1:
            score += 0.6
        if spaced and cand[:1].isupper() and not text.startswith(cand):
            score += 0.5  # a name: capitalised in mid-sentence
        scored.append((score, rank, cand, keys))
    scored.sort(key=lambda s: (-s[0], s[1]))
    picked: list[str] = []
    used: set[str] = set()
    for _score, _rank, cand, keys in scored:
        if keys & used:
            continue
        used |= keys
        picked.append(cand)
        if len(picked) > max_phrases:
            break
    if heading:
        head_keys = {_stem(t) for t in words(heading, lang)} if spaced else set(heading)
        rest = [p for p in picked if not (p.lower() in heading.lower() or p in head_keys)]
        return heading, rest[:max_phrases]
    if not picked:
        first = (split_sentences(text, lang) or [text])[0].strip(_TRIM)
        if spaced:
            opening = " ".join(first.split()[:6])
            headline = opening + (ELLIPSIS if len(first.split()) > 6 else "")
        else:
            headline = first[:14] + (ELLIPSIS if len(first) > 14 else "")
        return _title_case(headline, "xx"), []
    return _title_case(picked[0], lang), picked[1 : max_phrases + 1]


# --------------------------------------------------------------------------- card drawing

CARD_PALETTE: tuple[tuple[str, str, str], ...] = (
    # (gradient start at the top left, gradient end at the bottom right, accent)
    ("#0f4a48", "#061c22", "#f4bf4f"),  # deep teal-green
    ("#0e3d5c", "#06152a", "#f6c453"),  # deep teal-blue
    ("#16325f", "#080f26", "#f2b441"),  # navy
    ("#23286b", "#0c0d2c", "#f7a95c"),  # indigo
    ("#33246b", "#120c2d", "#ffb86b"),  # violet
    ("#46215f", "#190b26", "#ffc371"),  # plum
)
"""Card colours, ordered by hue so neighbouring cards differ gently (hex sRGB)."""


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _palette(index: int) -> tuple[str, str, str]:
    """Palette entry for card ``index``: walks the palette back and forth (0 1 .. 5 4 .. 1 0)."""
    n = len(CARD_PALETTE)
    period = 2 * (n - 1)
    k = index % period
    return CARD_PALETTE[k if k < n else period - k]


def card_background(
    index: int, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT
) -> Image.Image:
    """The background of card ``index`` (0-based), without any text: an RGB image.

    A diagonal gradient between the palette entry's two deep colours, a soft glow of
    a lighter tint at the top right, faint concentric rings at the right edge, and a
    gentle darkening of the bottom (where subtitles are burned in). Deterministic:
    the same arguments give the same pixels. ``width``/``height`` in pixels.
    """
    c1, c2 = (np.array(_rgb(c), dtype=np.float32) for c in _palette(index)[:2])
    # The smooth parts are computed at a quarter of the size in floating point and
    # scaled up before rounding to 8 bits (fast, and no extra banding).
    sw, sh = max(2, math.ceil(width / 4)), max(2, math.ceil(height / 4))
    ys = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, sw, dtype=np.float32)[None, :]
    aspect = width / max(1, height)
    t = np.clip((xs * aspect + ys) / (aspect + 1.0), 0.0, 1.0)
    t = t * t * (3 - 2 * t)  # smoothstep: a calmer middle
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    # A soft glow at the top right: a lighter tint of the card's own hue.
    scale = max(width, height)
    dx = (xs - 0.80) * width / scale
    dy = (ys - 0.12) * height / scale
    glow = np.exp(-(dx * dx + dy * dy) / (2 * 0.30**2))[..., None] * 0.22
    tint = c1 + (255.0 - c1) * 0.30
    img = img * (1 - glow) + tint * glow
    # A faint cool light at the bottom left balances the glow.
    dx2 = (xs - 0.05) * width / scale
    dy2 = (ys - 0.95) * height / scale
    cool = np.exp(-(dx2 * dx2 + dy2 * dy2) / (2 * 0.30**2))[..., None] * 0.08
    img = img * (1 - cool) + np.array([120, 170, 255], np.float32) * cool
    # Darken the bottom (subtitle area) for contrast with burned-in text.
    shade = np.clip((ys - 0.70) / 0.30, 0.0, 1.0) ** 1.5 * 0.45
    img = img * (1 - shade[..., None])
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(img[..., c])).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(3)
    ]
    img = np.stack(channels, axis=-1)
    bg = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    # Two faint rings centred beyond the right edge: quiet structure for the empty side.
    rings = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(rings)
    s = min(width, height) / 1080.0
    cx, cy = width * 0.93, height * 0.36
    for radius, alpha in ((0.30, 26), (0.42, 16), (0.54, 9)):
        r = radius * min(width, height) * 1.25
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r),
            outline=(255, 255, 255, alpha),
            width=max(1, round(2 * s)),
        )
    # Fade them out towards the subtitle area, gone by the top of the bottom 22 %.
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)
    fade = np.clip((1 - SAFE_BOTTOM - rows) / 0.25, 0.0, 1.0)
    alpha = np.asarray(rings.getchannel("A"), dtype=np.float32) * fade[:, None]
    rings.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    return Image.alpha_composite(bg.convert("RGBA"), rings).convert("RGB")


@dataclass(frozen=True)
class TextBox:
    """Something drawn on a card: ``role`` (headline, phrase, pill, footer, accent),
    the ``text`` (empty for shapes) and its ``box`` ``(left, top, right, bottom)`` in
    pixels."""

    role: str
    text: str
    box: tuple[int, int, int, int]


@dataclass
class RenderedCard:
    """A drawn card: the RGB ``image`` and every text and shape drawn on it (``boxes``)."""

    image: Image.Image
    headline: str
    phrases: list[str]
    boxes: list[TextBox] = field(default_factory=list)


def _footer_time(start: float | None, end: float | None) -> str:
    """``1:05–2:10``; ``""`` without times or for an untimed chunk (``end <= start``: the
    one chunk of a standalone text)."""
    if start is None or end is None or end <= start:
        return ""
    return f"{chapter_timestamp(start)}–{chapter_timestamp(end)}"


def render_card(
    headline: str,
    phrases: Sequence[str] = (),
    *,
    index: int = 0,
    total: int = 1,
    start: float | None = None,
    end: float | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> RenderedCard:
    """Draw one title card.

    Layout (all above the bottom :data:`SAFE_BOTTOM` of the frame, which stays free
    for burned subtitles): a short accent bar, the headline (large, wrapped to the
    card width, up to 3 lines, shrunk to fit, ``…`` if still too long), the key
    phrases as pills below it (up to 2 rows; a phrase too long for a row is
    shortened with ``…``, pills that do not fit are left out), and a footer line with
    the time range (``1:05–2:10``) at the left and the position (``3 / 8``) at the
    right. The time is left out for an untimed card (``end <= start``, the one chunk of
    a standalone text) and the position for a lone card (``total`` 1); with neither
    there is no footer at all. Text is drawn with the bundled Noto Sans CJK, so Latin,
    Cyrillic and CJK all render.

    Args:
        headline: the title (may be empty).
        phrases: key phrases (2-4 look best).
        index: 0-based position of the card (chooses the colours, shown 1-based).
        total: number of cards in the video.
        start, end: the chunk's time range in seconds (footer; omitted when ``None``).
        width, height: card size in pixels.

    Returns:
        The card with the boxes of everything drawn on it.
    """
    bg = card_background(index, width, height)
    _c1, _c2, accent_hex = _palette(index)
    accent = _rgb(accent_hex)
    s = min(width, height) / 1080.0  # scale relative to a 1080-pixel short side
    margin_x = round(max(width * 0.085, 48 * s))
    top = round(height * 0.10)
    limit = math.floor(height * (1 - SAFE_BOTTOM)) - round(14 * s)  # lowest pixel for text
    content_w = width - 2 * margin_x

    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    boxes: list[TextBox] = []

    # Footer: the time range and the position, above a hairline.
    foot_font = load_font(None, max(12, round(30 * s)))
    foot_asc, foot_desc = foot_font.getmetrics()
    foot_base = limit - foot_desc
    foot_colour = (255, 255, 255, 170)
    left_text = _footer_time(start, end)
    count = max(total, index + 1)
    right_text = f"{index + 1} / {count}" if count > 1 else ""
    for text, anchor, x in (
        (left_text, "ls", margin_x),
        (right_text, "rs", width - margin_x),
    ):
        if text:
            draw.text((x, foot_base), text, font=foot_font, fill=foot_colour, anchor=anchor)
            boxes.append(
                TextBox("footer", text, draw.textbbox((x, foot_base), text, foot_font, anchor))
            )
    rule_y = foot_base - foot_asc - round(22 * s)
    rule_w = max(1, round(2 * s))
    if left_text or right_text:  # a lone card (a standalone images job) has no footer
        draw.rectangle(
            (margin_x, rule_y, width - margin_x, rule_y + rule_w - 1), fill=(255, 255, 255, 46)
        )
        boxes.append(TextBox("rule", "", (margin_x, rule_y, width - margin_x, rule_y + rule_w)))
    region_bottom = rule_y - round(48 * s)

    # Headline and pills: fit, then centre the block vertically in [top, region_bottom].
    bar_h, bar_w, bar_gap = round(9 * s), round(110 * s), round(40 * s)
    # Faux bold (the bundled face has one weight); dense CJK glyphs clot with a thick stroke.
    cjk_share = len(_CJK_CHAR.findall(headline)) / max(1, len(headline.replace(" ", "")))
    stroke_frac = 1 / 90 if cjk_share > 0.3 else 1 / 40
    head_sizes = [round(v * s) for v in range(148, 59, -6)]
    region_h = region_bottom - top
    pill_sizes = [round(v * s) for v in (44, 40, 36, 32)]
    gap = round(52 * s)

    def pill_rows(font: ImageFont.FreeTypeFont, items: Sequence[str]):
        pad_x, pad_y = round(font.size * 0.62), round(font.size * 0.36)
        asc, desc = font.getmetrics()
        pill_h = asc + desc + 2 * pad_y
        spacing = round(20 * s)
        rows: list[list[tuple[str, int]]] = [[]]
        x = 0
        for text in items:
            text = _ellipsize(text, font, content_w - 2 * pad_x)
            w = round(font.getlength(text)) + 2 * pad_x
            if rows[-1] and x + spacing + w > content_w:
                rows.append([])
                x = 0
            rows[-1].append((text, w))
            x += (spacing if x else 0) + w
        return rows, pill_h, spacing, pad_x, asc, desc

    layout = None
    for head_size in head_sizes:
        head_font = load_font(None, head_size)
        head_lines = wrap_text(
            headline, head_font, content_w - 2 * math.ceil(head_size * stroke_frac)
        )
        if len(head_lines) > 3:
            continue
        asc, desc = head_font.getmetrics()
        line_h = round((asc + desc) * 1.04)
        head_h = line_h * len(head_lines) if head_lines else 0
        for pill_size in pill_sizes:
            pill_font = load_font(None, pill_size)
            items = list(phrases)
            rows, pill_h, spacing, pad_x, p_asc, p_desc = pill_rows(pill_font, items)
            while len(rows) > 2 and items:
                items.pop()
                rows, pill_h, spacing, pad_x, p_asc, p_desc = pill_rows(pill_font, items)
            pills_h = len([r for r in rows if r]) * pill_h + max(0, len(rows) - 1) * spacing
            block = bar_h + bar_gap + head_h + (gap + pills_h if items else 0)
            if block <= region_h:
                layout = (head_font, head_lines, line_h, pill_font, rows, pill_h, spacing, pad_x)
                break
        if layout:
            break
    if layout is None:  # smallest sizes, one row of pills, the headline cut with "…"
        pill_font = load_font(None, pill_sizes[-1])
        rows, pill_h, spacing, pad_x, _a, _d = pill_rows(pill_font, list(phrases))
        rows = rows[:1] if rows and rows[0] else []
        pills_h = gap + pill_h if rows else 0
        for max_lines in (3, 2, 1):
            head_font, head_lines = _fit(
                headline, head_sizes[-1:], content_w, max_lines, stroke_frac
            )
            asc, desc = head_font.getmetrics()
            line_h = round((asc + desc) * 1.04)
            if bar_h + bar_gap + line_h * len(head_lines) + pills_h <= region_h:
                break
        layout = (head_font, head_lines, line_h, pill_font, rows, pill_h, spacing, pad_x)
    head_font, head_lines, line_h, pill_font, rows, pill_h, spacing, pad_x = layout
    if len(head_lines) > 1 and not head_lines[-1].endswith(ELLIPSIS):
        stroke_px = 2 * math.ceil(head_font.size * stroke_frac)
        head_lines = wrap_text(headline, head_font, content_w - stroke_px, balanced=True)
    rows = [r for r in rows if r]
    head_h = line_h * len(head_lines)
    pills_h = len(rows) * pill_h + max(0, len(rows) - 1) * spacing
    block = bar_h + bar_gap + head_h + (gap + pills_h if rows else 0)
    y = top + max(0, round((region_h - block) * 0.42))

    draw.rounded_rectangle(
        (margin_x, y, margin_x + bar_w, y + bar_h), radius=bar_h // 2, fill=(*accent, 255)
    )
    boxes.append(TextBox("accent", "", (margin_x, y, margin_x + bar_w, y + bar_h)))
    y += bar_h + bar_gap
    asc, desc = head_font.getmetrics()
    stroke = max(1, math.ceil(head_font.size * stroke_frac))
    for line in head_lines:
        base = y + asc
        draw.text(
            (margin_x, base),
            line,
            font=head_font,
            fill=(255, 255, 255, 255),
            anchor="ls",
            stroke_width=stroke,
            stroke_fill=(255, 255, 255, 255),
        )
        bbox = draw.textbbox((margin_x, base), line, head_font, "ls", stroke_width=stroke)
        boxes.append(TextBox("headline", line, bbox))
        y += line_h
    if rows:
        y += gap
        p_asc, p_desc = pill_font.getmetrics()
        radius = pill_h // 2
        for row in rows:
            x = margin_x
            for text, w in row:
                rect = (x, y, x + w, y + pill_h)
                draw.rounded_rectangle(
                    rect,
                    radius=radius,
                    fill=(255, 255, 255, 24),
                    outline=(*accent, 150),
                    width=max(1, round(2 * s)),
                )
                boxes.append(TextBox("pill", "", rect))
                base = y + (pill_h - (p_asc + p_desc)) // 2 + p_asc
                draw.text(
                    (x + pad_x, base),
                    text,
                    font=pill_font,
                    fill=(240, 243, 250, 255),
                    anchor="ls",
                )
                bbox = draw.textbbox((x + pad_x, base), text, pill_font, "ls")
                boxes.append(TextBox("phrase", text, bbox))
                x += w + spacing
            y += pill_h + spacing
    card = Image.alpha_composite(bg.convert("RGBA"), overlay).convert("RGB")
    return RenderedCard(image=card, headline=headline, phrases=list(phrases), boxes=boxes)


# --------------------------------------------------------------------------- cards


class CardGenerator(_PngGenerator):
    """Offline title cards (see :func:`render_card` and :func:`card_text`).

    Args:
        width, height: card size in pixels (the video's).
        max_phrases: key phrases per card (at most; 2-4 look best).
    """

    name = "cards"

    def __init__(
        self, *, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT, max_phrases: int = 3
    ) -> None:
        if width < 64 or height < 64:
            raise UsageError(f"card size {width}x{height} is too small", "use at least 64x64")
        self.width = int(width)
        self.height = int(height)
        self.max_phrases = max_phrases
        self._text: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def _identity(self) -> dict[str, Any]:
        return {
            "design": CARD_DESIGN,
            "size": [self.width, self.height],
            "phrases": self.max_phrases,
        }

    def _card_text(self, chunk: Chunk, language: str) -> tuple[str, list[str]]:
        k = (chunk.text, language)
        if k not in self._text:
            self._text[k] = card_text(chunk.text, language, self.max_phrases)
        return self._text[k]

    def _key_fields(self, chunk: Chunk, language: str, position: int, total: int) -> dict[str, Any]:
        footer = [position, total, _footer_time(chunk.start, chunk.end)]
        return {**super()._key_fields(chunk, language, position, total), "footer": footer}

    def _prompt(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        headline, phrases = self._card_text(chunk, language)
        return "\n".join([headline, *phrases])

    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:
        headline, phrases = self._card_text(chunk, language)
        return render_card(
            headline,
            phrases,
            index=position,
            total=total,
            start=chunk.start,
            end=chunk.end,
            width=self.width,
            height=self.height,
        ).image
