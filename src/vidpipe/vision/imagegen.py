"""Pictures for narrated videos: one image per narration chunk, behind one interface.

A narrated video shows one picture while each :class:`~vidpipe.types.Chunk` of the
narration is spoken. Every source of pictures is an :class:`ImageGenerator`; pick one
with :func:`get_image_generator` and a spec string:

==================  ==========================================================================
spec                pictures
==================  ==========================================================================
``cards``           designed title cards drawn offline with Pillow (the default): a headline
                    and 2-4 key phrases from the chunk's text, its time range and position
``folder:DIR``      the user's own images from ``DIR`` in natural name order, cycled when
                    there are fewer images than chunks
``frames``          the source video's picture at each chunk's midpoint (``source_video=``)
``sdwebui``         Stable Diffusion WebUI (AUTOMATIC1111 / Forge) ``/sdapi/v1/txt2img``
``openai``          any OpenAI-compatible ``/v1/images/generations`` endpoint
==================  ==========================================================================

Generated pictures (cards, sdwebui, openai) are PNG files ``<out_dir>/<generator>-NNN.png``
(NNN = the chunk's position from 001), written atomically, carrying their prompt,
generator and chunk id in PNG text chunks (``vidpipe:prompt``, ``vidpipe:generator``,
``vidpipe:chunk``) plus ``vidpipe:key``, a hash of everything the picture depends on
(generator, its parameters, the chunk's text and language, the prompt source): the
picture's provenance. A generator draws (or requests) every picture it is asked for;
reruns are answered by the pipeline's stage cache (:mod:`vidpipe.pipeline.cache`),
which skips the whole ``images`` stage. Frames stay JPEG (``frame-NNN.jpg``, prompt ``None``);
folder images are returned where they are.

Prompts for the image models come from :func:`image_prompt`: a one-line scene
description written by an LLM when one is given (``llm=``, any object with
``complete(prompt, *, max_tokens=None) -> str`` such as
:class:`vidpipe.text.llm.OpenAIBackend`), else built from the chunk's keywords.

Sizes are in pixels, times in seconds. Example::

    gen = get_image_generator("cards", width=1920, height=1080)
    images = gen.generate(chunks, Path("work/images"), language="en")
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import math
import os
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin
from pydantic import BaseModel, Field

from vidpipe import remote
from vidpipe.errors import InputError, RemoteError, UsageError
from vidpipe.errors import excerpt as _one_line
from vidpipe.files import atomic_write, image_files, natural_key
from vidpipe.media.fonts import CJK_CHAR as _CJK_CHAR
from vidpipe.media.fonts import ELLIPSIS, load_font, wrap_text
from vidpipe.retry import (
    PLACEHOLDER_API_KEY,
    RetryPolicy,
    retry_after,
    retryable_status,
)
from vidpipe.timecode import chapter_timestamp
from vidpipe.types import Chunk


class ImageRecords(Protocol):
    """Where generated pictures are recorded (the catalog's ``images`` table implements
    it: :meth:`vidpipe.library.catalog.Catalog.record_image`). Passed in by the caller:
    this building block never opens the catalog itself."""

    def record_image(
        self,
        *,
        chunk_id: int,
        path: str | os.PathLike[str],
        generator: str,
        width: int,
        height: int,
        prompt: str | None = None,
        media_id: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> int:
        """Record the picture made for one chunk; returns the row id."""
        ...


__all__ = [
    "DEFAULT_HEIGHT",
    "DEFAULT_STYLE",
    "DEFAULT_WIDTH",
    "GENERATOR_SPECS",
    "SAFE_BOTTOM",
    "CardGenerator",
    "FolderImages",
    "FrameImages",
    "GeneratedImage",
    "ImageGenerator",
    "OpenAIImageGenerator",
    "RenderedCard",
    "SDWebUIGenerator",
    "TextBox",
    "card_background",
    "card_text",
    "get_image_generator",
    "guess_language",
    "image_prompt",
    "natural_key",
    "read_image_metadata",
    "render_card",
    "write_png",
]

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
"""Longest ``Retry-After`` an image endpoint may make a retry wait, in seconds."""

DEFAULT_WIDTH = 1920
"""Default picture width in pixels (the video's)."""
DEFAULT_HEIGHT = 1080
"""Default picture height in pixels."""

SAFE_BOTTOM = 0.22
"""Fraction of the frame height at the bottom kept free of card text (burned subtitles)."""

GENERATOR_SPECS = ("cards", "folder:DIR", "frames", "sdwebui", "openai")
"""The spec strings :func:`get_image_generator` accepts."""

DEFAULT_STYLE = "soft light, no text"
"""Appended to every image-model prompt so the pictures of one video share a look."""

NEGATIVE_PROMPT = "text, letters, words, caption, watermark, logo, signature, blurry, lowres"
"""Stable Diffusion negative prompt: no lettering, no artefacts."""

META_PROMPT = "vidpipe:prompt"
META_GENERATOR = "vidpipe:generator"
META_CHUNK = "vidpipe:chunk"
META_KEY = "vidpipe:key"

CARD_DESIGN = 2  # 2: no footer on a lone or untimed card; headings as headlines
"""Version of the card design; part of each card's provenance key."""

ProgressCallback = Callable[[float, float], None]
"""``progress(images_done, images_total)``."""


# --------------------------------------------------------------------------- interface


class GeneratedImage(BaseModel):
    """One picture for one chunk.

    ``path`` is the image file (PNG for generated pictures, JPEG for frames, the
    user's own file for ``folder``); ``prompt`` the text it was made from (for cards:
    the headline and key phrases, one per line; ``None`` for folder images and
    frames); ``width``/``height`` its size in pixels.
    """

    chunk_id: int
    path: Path
    prompt: str | None = None
    generator: str = Field(description="Generator name: cards, folder, frames, sdwebui, openai.")
    width: int
    height: int


@runtime_checkable
class ImageGenerator(Protocol):
    """Makes one picture per chunk.

    ``generate`` returns one :class:`GeneratedImage` per chunk, in chunk order. When
    ``catalog`` is given each picture is recorded there (:meth:`ImageRecords.record_image`)
    under ``media_id`` (optional) and the output folder.
    """

    name: str

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]: ...


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


def guess_language(text: str) -> str:
    """A language code from the script of ``text``: ``zh``, ``ja``, ``ko``, ``ru`` or ``en``.

    Only a fallback for when the transcript's language is unknown: Han characters
    mean Chinese (Japanese if there is kana), Hangul Korean, Cyrillic Russian, and
    anything else English.
    """
    counts: Counter[str] = Counter()
    for ch in text:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            counts["han"] += 1
        elif 0x3040 <= o <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= o <= 0xD7AF:
            counts["hangul"] += 1
        elif 0x0400 <= o <= 0x04FF:
            counts["cyr"] += 1
        elif ch.isalpha():
            counts["other"] += 1
    if not counts:
        return "en"
    top = counts.most_common(1)[0][0]
    if counts["kana"] and top in ("han", "kana"):
        return "ja"
    return {"han": "zh", "kana": "ja", "hangul": "ko", "cyr": "ru"}.get(top, "en")


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


# --------------------------------------------------------------------------- PNG files


def write_png(img: Image.Image, path: str | os.PathLike[str], metadata: dict[str, str]) -> Path:
    """Save ``img`` as PNG at ``path`` atomically, with ``metadata`` as UTF-8 text chunks.

    Raises:
        OutputError: the folder cannot be written.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        info.add_itxt(key, str(value))
    dest = Path(path)
    with atomic_write(dest, "wb") as fh:
        img.save(fh, format="PNG", pnginfo=info, compress_level=6)
    return dest


def read_image_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text chunks of a PNG (``vidpipe:prompt``, ``vidpipe:generator``...).

    Returns an empty dict for a missing, unreadable or non-PNG file.
    """
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return {}
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, ValueError, SyntaxError):
        return {}
    return {str(k): str(v) for k, v in text.items()}


def _key(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _record(
    catalog: ImageRecords | None, media_id: int | None, out_dir: Path, image: GeneratedImage
) -> None:
    if catalog is None:
        return
    catalog.record_image(
        chunk_id=image.chunk_id,
        path=str(image.path),
        generator=image.generator,
        width=image.width,
        height=image.height,
        prompt=image.prompt,
        media_id=media_id,
        work_dir=str(out_dir.resolve()),
    )


class _PngGenerator(ABC):
    """Shared loop of the generators that make PNGs: draw or fetch, save, record."""

    name = "png"

    @abstractmethod
    def _identity(self) -> dict[str, Any]:
        """Parameters that change the picture (part of each provenance key)."""

    @abstractmethod
    def _prompt(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        """The prompt (or card text) recorded with the picture of ``chunk``."""

    @abstractmethod
    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:
        """Draw or fetch the picture of ``chunk``, at the generator's size."""

    def _chunk_key(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return _key(
            {
                "generator": self.name,
                "params": self._identity(),
                "text": chunk.text,
                "language": language,
            }
        )

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]:
        """One PNG per chunk in ``out_dir`` (``<name>-NNN.png``), in chunk order, each
        drawn or requested now (a file already there is replaced).

        Args:
            chunks: the narration's chunks (times in seconds).
            out_dir: folder for the PNGs (created).
            language: the text's ISO 639-1 code (``None``: guessed per chunk).
            progress: called as ``progress(done, total)``.
            catalog: record each picture there (optional), with ``media_id``.

        Raises:
            RemoteError: an image or LLM endpoint failed (remote generators).
            OutputError: ``out_dir`` cannot be written.
        """
        out = Path(out_dir)
        total = len(chunks)
        results: list[GeneratedImage] = []
        if progress:
            progress(0.0, float(total))
        for pos, chunk in enumerate(chunks):
            lang = language or guess_language(chunk.text)
            path = out / f"{self.name}-{pos + 1:03d}.png"
            key = self._chunk_key(chunk, lang, pos, total)
            prompt = self._prompt(chunk, lang, pos, total)
            img = self._make(chunk, lang, pos, total, prompt)
            write_png(
                img,
                path,
                {
                    META_PROMPT: prompt,
                    META_GENERATOR: self.name,
                    META_CHUNK: str(chunk.id),
                    META_KEY: key,
                },
            )
            size = img.size
            image = GeneratedImage(
                chunk_id=chunk.id,
                path=path,
                prompt=prompt,
                generator=self.name,
                width=size[0],
                height=size[1],
            )
            results.append(image)
            _record(catalog, media_id, out, image)
            if progress:
                progress(float(pos + 1), float(total))
        return results


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

    def _chunk_key(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return _key(
            {
                "generator": self.name,
                "params": self._identity(),
                "text": chunk.text,
                "language": language,
                "footer": [position, total, _footer_time(chunk.start, chunk.end)],
            }
        )

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


# --------------------------------------------------------------------------- folder


class FolderImages:
    """The user's own pictures from a folder, in natural name order.

    The folder's pictures as :func:`vidpipe.files.image_files` finds them (JPEG, PNG,
    WebP, TIFF, BMP, GIF by suffix; hidden and other files are ignored). With fewer
    images than chunks the images repeat from the first; with more, the first ones are
    used. Each used image
    is decoded once to check it.

    Args:
        folder: the folder of images.

    Raises (from :meth:`generate`):
        InputError: the folder is missing, empty of images, or an image is unreadable.
    """

    name = "folder"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()

    def files(self) -> list[Path]:
        """The image files of the folder in natural name order.

        Raises:
            InputError: the folder does not exist or has no image files.
        """
        files = image_files(self.folder, "give folder:DIR with your images")
        if not files:
            raise InputError(
                f"{self.folder}: no images in the folder",
                "add JPEG/PNG/WebP files, or use --images cards",
            )
        return files

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]:
        """The folder's images assigned to ``chunks`` in order (cycled), not copied.

        ``out_dir`` is only used as the catalog's work folder key.

        Raises:
            InputError: missing or empty folder, or an unreadable/corrupt image (named).
        """
        files = self.files()
        total = len(chunks)
        if progress:
            progress(0.0, float(total))
        sizes: dict[Path, tuple[int, int]] = {}
        results: list[GeneratedImage] = []
        for pos, chunk in enumerate(chunks):
            path = files[pos % len(files)]
            if path not in sizes:
                sizes[path] = _check_image(path)
            w, h = sizes[path]
            image = GeneratedImage(
                chunk_id=chunk.id, path=path, prompt=None, generator=self.name, width=w, height=h
            )
            results.append(image)
            _record(catalog, media_id, Path(out_dir), image)
            if progress:
                progress(float(pos + 1), float(total))
        return results


def _check_image(path: Path) -> tuple[int, int]:
    """Decode ``path`` completely; its display size in pixels (EXIF rotation applied).

    Raises:
        InputError: not readable, not an image, or truncated/corrupt.
    """
    try:
        with Image.open(path) as im:
            im.load()
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file", "check the folder") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied", "check the file's permissions") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{path}: not a readable image ({reason})", "replace or remove the file"
        ) from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


# --------------------------------------------------------------------------- frames


class FrameImages:
    """The source video's picture at each chunk's midpoint (JPEG keyframes).

    Args:
        source_video: a local video file.
        quality: JPEG quality, 1-95.

    Raises (from :meth:`generate`):
        InputError, MediaError: the video is missing or has no decodable picture.
    """

    name = "frames"

    def __init__(self, source_video: str | os.PathLike[str], *, quality: int = 90) -> None:
        self.source_video = Path(source_video)
        self.quality = quality

    def generate(
        self,
        chunks: list[Chunk],
        out_dir: Path,
        *,
        language: str | None = None,
        progress: ProgressCallback | None = None,
        catalog: ImageRecords | None = None,
        media_id: int | None = None,
    ) -> list[GeneratedImage]:
        """``out_dir/frame-NNN.jpg`` per chunk: the frame at ``(start + end) / 2`` seconds."""
        from vidpipe.vision.keyframes import extract_keyframes

        total = len(chunks)
        if progress:
            progress(0.0, float(total))
        if not chunks:
            return []
        times = [max(0.0, (c.start + c.end) / 2) for c in chunks]
        paths = extract_keyframes(
            self.source_video, times, out_dir, prefix="frame", quality=self.quality
        )
        results = []
        for chunk, path in zip(chunks, paths, strict=True):
            with Image.open(path) as im:
                w, h = im.size
            image = GeneratedImage(
                chunk_id=chunk.id, path=path, prompt=None, generator=self.name, width=w, height=h
            )
            results.append(image)
            _record(catalog, media_id, Path(out_dir), image)
        if progress:
            progress(float(total), float(total))
        return results


# --------------------------------------------------------------------------- prompts

LLM_SCENE_PROMPT = """You write prompts for an image generator.
Read this passage from a narrated video and describe one picture that would illustrate it:
the subject, the setting and the mood, in a single line of at most 40 words, in English.
Describe only what can be seen; the picture must contain no text, letters or captions.
Answer with the description only.

Passage ({language}):
{text}"""
"""The LLM prompt behind :func:`image_prompt` (``{language}``, ``{text}``)."""

MAX_PROMPT_TEXT = 2000
"""Characters of chunk text sent to the LLM for one scene description."""


def _clean_scene(answer: str) -> str:
    """The first meaningful line of an LLM answer, without labels, bullets or quotes."""
    for line in answer.strip().splitlines():
        line = line.strip().strip("`").strip()
        line = re.sub(r"^(?:[-*•>]\s*|\d+[.)]\s*)", "", line)
        line = re.sub(r"^(?:scene|prompt|description|image)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”«»").strip()
        if re.search(r"\w", line):
            return line[:400].rstrip(" .")
    return ""


def image_prompt(
    chunk: Chunk,
    language: str | None = None,
    llm: Any = None,
    *,
    style: str = DEFAULT_STYLE,
) -> str:
    """A one-line text-to-image prompt for a chunk.

    With an ``llm`` (an object with ``complete(prompt, *, max_tokens=None) -> str``),
    the model is asked for a one-line visual scene description of the chunk's text (in
    English, which image models follow best) and ``style`` is appended. Without one, the
    prompt is built offline from the chunk's key phrases: ``"an illustration of k1, k2,
    k3, <style>"``.

    Args:
        chunk: the chunk (its ``text`` is used).
        language: the text's ISO 639-1 code (``None``: guessed).
        llm: the configured LLM, or ``None``.
        style: appended to every prompt so one video's pictures share a look.

    Returns:
        The prompt (one line).

    Raises:
        RemoteError: the LLM failed (as raised by its ``complete``).
    """
    from vidpipe.text.prompts import LANGUAGE_NAMES

    text = " ".join(chunk.text.split())
    lang = language or guess_language(text)
    tail = f", {style}" if style else ""
    if llm is not None and text:
        name = LANGUAGE_NAMES.get(lang.split("-")[0].lower(), lang)
        answer = llm.complete(
            LLM_SCENE_PROMPT.format(language=name, text=text[:MAX_PROMPT_TEXT]), max_tokens=120
        )
        scene = _clean_scene(answer or "")
        if scene:
            return scene + tail
        log.info("the LLM gave no usable scene description; using keywords")
    headline, phrases = card_text(text, lang, max_phrases=3)
    subjects = [p for p in [headline, *phrases] if p and not p.endswith(ELLIPSIS)][:3]
    if not subjects:
        return f"an abstract illustration{tail}"
    return f"an illustration of {', '.join(subjects)}{tail}"


def _llm_identity(llm: Any) -> Any:
    if llm is None:
        return None
    return [getattr(llm, "name", type(llm).__name__), getattr(llm, "model", None)]


# --------------------------------------------------------------------------- remote helpers


def _decode_png(data: str, where: str) -> Image.Image:
    """A base64 image from a response, decoded and checked.

    Raises:
        RemoteError: not base64 or not a readable picture.
    """
    if isinstance(data, str) and data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode(data, validate=False)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, TypeError, ValueError, OSError) as exc:
        raise RemoteError(
            f"{where} sent an image that is not a readable picture ({_one_line(exc, 80)})"
        ) from exc
    return img


def _to_size(img: Image.Image, width: int, height: int) -> Image.Image:
    """``img`` scaled and centre-cropped to exactly ``width`` x ``height`` pixels (RGB)."""
    img = img.convert("RGB")
    if img.size == (width, height):
        return img
    return ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS)


class _Remote(_PngGenerator):
    """Shared parts of the image-model generators: prompts, sizes, retry delays."""

    where = "the image endpoint"

    def __init__(
        self,
        *,
        width: int,
        height: int,
        llm: Any,
        style: str,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        if width < 64 or height < 64:
            raise UsageError(f"image size {width}x{height} is too small", "use at least 64x64")
        self.width = int(width)
        self.height = int(height)
        self.llm = llm
        self.style = style
        self.timeout = timeout
        self.retry = RetryPolicy(max(0, int(max_retries)), backoff, max_backoff, MAX_RETRY_AFTER)
        self.requests = 0
        """Request attempts sent to the image endpoint."""

    def _chunk_key(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return _key(
            {
                "generator": self.name,
                "params": self._identity(),
                "text": chunk.text,
                "language": language,
                "llm": _llm_identity(self.llm),
                "style": self.style,
            }
        )

    def _prompt(self, chunk: Chunk, language: str, position: int, total: int) -> str:
        return image_prompt(chunk, language, self.llm, style=self.style)

    def _give_up(self, attempts: int, what: str, exc: BaseException | None) -> RemoteError:
        err = RemoteError(
            f"{self.where} failed after {attempts} attempts: {what}",
            "check that the server is running and has a model loaded",
        )
        err.__cause__ = exc
        return err


# --------------------------------------------------------------------------- sdwebui


def _sd_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Generation size for Stable Diffusion: the video's aspect ratio, sides multiple of 64."""
    ratio = height / width
    if width >= height:
        w = long_side
        h = max(64, round(long_side * ratio / 64) * 64)
    else:
        h = long_side
        w = max(64, round(long_side / ratio / 64) * 64)
    return int(w), int(h)


def _sd_error(response: Any) -> str:
    """The error message in a WebUI (FastAPI) error body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text or response.reason_phrase, 160)
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI validation errors
            parts = []
            for d in detail[:3]:
                if isinstance(d, dict):
                    loc = ".".join(str(x) for x in d.get("loc", [])[1:])
                    parts.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
            return _one_line("; ".join(parts), 160)
        for key in ("errors", "detail", "error", "message"):
            if body.get(key):
                return _one_line(body[key], 160)
    return _one_line(body, 160)


SDWEBUI_DEFAULT_BASE = "http://127.0.0.1:7860"
"""Where Stable Diffusion WebUI listens when started with ``--api`` and no ``--port``."""


class SDWebUIGenerator(_Remote):
    """Pictures from Stable Diffusion WebUI's API (AUTOMATIC1111, Forge, SD.Next).

    Sends ``POST {base_url}/sdapi/v1/txt2img`` with ``prompt``, ``negative_prompt``,
    ``width``/``height`` (the video's aspect ratio, longer side ``gen_size``, multiples
    of 64), ``steps``, ``seed``, ``cfg_scale`` and ``sampler_name``; reads the first
    base64 PNG of ``images`` and scales/crops it to ``width`` x ``height``. The WebUI
    must run with ``--api``.

    Args:
        base_url: e.g. ``http://127.0.0.1:7860`` (None: :data:`SDWEBUI_DEFAULT_BASE`;
            the front ends pass the ``sdwebui_base`` setting).
        width, height: final picture size in pixels (the video's).
        gen_size: longer side of the generated picture in pixels (SD 1.5 likes 768,
            SDXL 1024).
        steps, cfg_scale, sampler_name: sampling parameters.
        seed: base seed; each picture uses ``seed + position``. ``None``: a seed derived
            from the prompt, so reruns with the same prompt give the same picture.
        negative_prompt: what to avoid (lettering by default).
        llm: writes the prompts (see :func:`image_prompt`); ``style``: appended to them.
        timeout: seconds per request; max_retries: retries after the first attempt on
            what :func:`vidpipe.retry.retryable_status` names (5xx, 408, 429...),
            timeouts and connection errors; ``backoff``, ``max_backoff``: seconds, the
            :class:`vidpipe.retry.RetryPolicy` waits (``Retry-After`` is honoured up to
            :data:`MAX_RETRY_AFTER`).

    Raises (from :meth:`generate`):
        RemoteError: HTTP error, unreachable server after retries, or a bad response.
    """

    name = "sdwebui"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        gen_size: int = 1024,
        steps: int = 25,
        cfg_scale: float = 6.5,
        sampler_name: str | None = "DPM++ 2M",
        seed: int | None = None,
        negative_prompt: str = NEGATIVE_PROMPT,
        llm: Any = None,
        style: str = DEFAULT_STYLE,
        timeout: float = 300.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            width=width,
            height=height,
            llm=llm,
            style=style,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.base_url = (base_url or SDWEBUI_DEFAULT_BASE).rstrip("/")
        self.gen_size = int(gen_size)
        self.steps = int(steps)
        self.cfg_scale = float(cfg_scale)
        self.sampler_name = sampler_name
        self.seed = seed
        self.negative_prompt = negative_prompt
        self.where = f"Stable Diffusion WebUI at {self.base_url}"

    def _identity(self) -> dict[str, Any]:
        return {
            "base": self.base_url,
            "size": [self.width, self.height],
            "gen": self.gen_size,
            "steps": self.steps,
            "cfg": self.cfg_scale,
            "sampler": self.sampler_name,
            "seed": self.seed,
            "negative": self.negative_prompt,
        }

    def payload(self, prompt: str, position: int = 0) -> dict[str, Any]:
        """The txt2img JSON body for ``prompt`` (the picture at ``position``)."""
        w, h = _sd_size(self.width, self.height, self.gen_size)
        if self.seed is not None:
            seed = int(self.seed) + position
        else:
            seed = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8], 16) % 2**31
        body: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": self.negative_prompt,
            "width": w,
            "height": h,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "seed": seed,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }
        if self.sampler_name:
            body["sampler_name"] = self.sampler_name
        return body

    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:
        data = self._post(self.payload(prompt, position))
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise RemoteError(
                f"{self.where} answered without an image: {_one_line(data, 120)}",
                "check the WebUI's console",
            )
        return _to_size(_decode_png(images[0], self.where), self.width, self.height)

    def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        url = f"{self.base_url}/sdapi/v1/txt2img"
        what, error = "", None
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        with httpx.Client(timeout=timeout) as client:
            for attempt in range(self.retry.attempts):
                after = None
                self.requests += 1
                try:
                    response = client.post(url, json=body)
                except httpx.TimeoutException as exc:
                    what, error = f"no answer within {self.timeout:g} s", exc
                except httpx.TransportError as exc:
                    what, error = f"connection failed: {_one_line(exc, 100)}", exc
                except httpx.InvalidURL as exc:
                    raise UsageError(f"invalid Stable Diffusion WebUI URL '{url}'") from exc
                else:
                    status = response.status_code
                    if status < 400:
                        try:
                            return response.json()
                        except ValueError as exc:
                            raise RemoteError(
                                f"{self.where} answered with something that is not JSON: "
                                f"{_one_line(response.text, 80)}",
                                "is this the WebUI started with --api?",
                            ) from exc
                    said = _sd_error(response)
                    if status == 404:
                        raise RemoteError(
                            f"{self.where} has no /sdapi/v1/txt2img (HTTP 404)",
                            "start the WebUI with --api",
                        )
                    if not retryable_status(status):
                        raise RemoteError(
                            f"{self.where} answered HTTP {status}: {said}",
                            "check the prompt, size and sampler settings",
                        )
                    what, error = f"HTTP {status}: {said}", None
                    after = retry_after(response.headers)
                if attempt >= self.retry.max_retries:
                    raise self._give_up(attempt + 1, what, error)
                delay = self.retry.delay(attempt + 1, after)
                log.info("txt2img failed (%s); retry %d in %.1f s", what, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- openai


def _openai_size(width: int, height: int) -> str:
    """The closest size DALL-E 3 offers: ``1792x1024``, ``1024x1792`` or ``1024x1024``."""
    ratio = width / height
    if ratio >= 1.3:
        return "1792x1024"
    if ratio <= 1 / 1.3:
        return "1024x1792"
    return "1024x1024"


OPENAI_HINTS = remote.Hints.named(
    "VIDPIPE_IMAGE_BASE",
    "VIDPIPE_IMAGE_KEY",
    "VIDPIPE_IMAGE_MODEL",
    request="check the image model, size and prompt",
    retries="check that the server is running and has a model loaded",
)
"""What the ``openai`` image generator's errors tell the user to do."""


class OpenAIImageGenerator(_Remote):
    """Pictures from an OpenAI-compatible images endpoint (``/v1/images/generations``).

    Uses the official ``openai`` client: ``client.images.generate(model=..., prompt=...,
    size=..., response_format="b64_json", n=1)``; the picture is scaled/cropped to
    ``width`` x ``height``. A response carrying a ``url`` instead of ``b64_json`` is
    downloaded.

    Every setting is an argument (the front ends pass the ``image_base``, ``image_key``
    and ``image_model`` settings: :meth:`vidpipe.config.Settings.image_options`).

    Args:
        base_url: endpoint base, e.g. ``http://127.0.0.1:8000/v1`` (None: the client's
            own: ``OPENAI_BASE_URL`` or api.openai.com).
        api_key: key (None: a placeholder local servers accept).
        model: model name (None: ``dall-e-3``).
        width, height: final picture size in pixels.
        size: size string sent (default ``1792x1024`` for landscape, ``1024x1792`` for
            portrait, ``1024x1024`` for square-ish videos).
        quality: sent when given (``standard``/``hd`` for DALL-E 3).
        llm, style, timeout, max_retries, backoff, max_backoff: as for
            :class:`SDWebUIGenerator`.

    Raises (from :meth:`generate`):
        RemoteError: HTTP error, unreachable endpoint after retries, or a bad response.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        size: str | None = None,
        quality: str | None = None,
        llm: Any = None,
        style: str = DEFAULT_STYLE,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            width=width,
            height=height,
            llm=llm,
            style=style,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.base_url = base_url or None
        self.api_key = api_key or PLACEHOLDER_API_KEY
        remote.check_endpoint(
            self.base_url,
            self.api_key,
            "--images openai",
            "VIDPIPE_IMAGE_BASE",
            "VIDPIPE_IMAGE_KEY or OPENAI_API_KEY",
            option="--image-base",
        )
        self.model = model or "dall-e-3"
        self.size = size or _openai_size(self.width, self.height)
        self.quality = quality
        self.where = self.base_url or "the OpenAI API"
        self._client: Any = None

    def _identity(self) -> dict[str, Any]:
        return {
            "base": self.base_url,
            "model": self.model,
            "size": [self.width, self.height],
            "api_size": self.size,
            "quality": self.quality,
        }

    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use; retries are vidpipe's)."""
        if self._client is None:
            self._client = remote.make_client(self.base_url, self.api_key, self.timeout)
        return self._client

    def _make(
        self, chunk: Chunk, language: str, position: int, total: int, prompt: str
    ) -> Image.Image:

        kwargs: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "size": self.size,
            "response_format": "b64_json",
            "n": 1,
        }
        if self.quality:
            kwargs["quality"] = self.quality
        client = self.client()

        def send() -> Any:
            self.requests += 1
            return client.images.generate(**kwargs)

        resp = remote.call(
            send, where=self.where, policy=self.retry, timeout=self.timeout, hints=OPENAI_HINTS
        )
        return _to_size(self._image_of(resp), self.width, self.height)

    def _image_of(self, resp: Any) -> Image.Image:
        try:
            item = resp.data[0]
        except (AttributeError, IndexError, TypeError) as exc:
            raise RemoteError(
                f"{self.where} answered without an image: {_one_line(resp, 120)}"
            ) from exc
        b64 = getattr(item, "b64_json", None)
        if b64:
            return _decode_png(b64, self.where)
        url = getattr(item, "url", None)
        if url:
            import httpx

            try:
                r = httpx.get(url, timeout=self.timeout, follow_redirects=True)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise RemoteError(
                    f"cannot download the image {self.where} made: {_one_line(exc, 100)}"
                ) from exc
            return _decode_png(base64.b64encode(r.content).decode(), self.where)
        raise RemoteError(f"{self.where} answered without an image: {_one_line(item, 120)}")


# --------------------------------------------------------------------------- factory

_COMMON_KWARGS = frozenset({"width", "height", "llm", "source_video"})


def _construct(cls: type, args: tuple, kwargs: dict[str, Any]) -> Any:
    """``cls(*args, **kwargs)`` without the common kwargs ``cls`` does not take."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    accepted = {k: v for k, v in kwargs.items() if k in params or k not in _COMMON_KWARGS}
    return cls(*args, **accepted)


def get_image_generator(spec: str | None = "cards", **kwargs: Any) -> ImageGenerator:
    """The image generator a spec string names.

    Specs: ``cards`` (default, also for ``None``/empty), ``folder:DIR``, ``frames`` (with
    ``source_video=``; ``frames:VIDEO`` also works), ``sdwebui`` (``sdwebui:URL`` also
    works), ``openai``. Keyword arguments go to the generator's constructor; the
    common ones (``width``, ``height``, ``llm``, ``source_video``) are dropped for
    generators that do not use them, so a caller can pass them all.

    Returns:
        A :class:`CardGenerator`, :class:`FolderImages`, :class:`FrameImages`,
        :class:`SDWebUIGenerator` or :class:`OpenAIImageGenerator`.

    Raises:
        UsageError: unknown spec, or a missing folder/video argument.
    """
    text = (spec or "cards").strip()
    kind, _sep, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind == "cards" and not arg:
        return _construct(CardGenerator, (), kwargs)
    if kind == "folder":
        if not arg:
            raise UsageError("the folder image source needs a folder", "use folder:DIR")
        return _construct(FolderImages, (arg,), kwargs)
    if kind == "frames":
        video = arg or kwargs.pop("source_video", None)
        kwargs.pop("source_video", None)
        if not video:
            raise UsageError(
                "the frames image source needs the source video",
                "narrate a video file, or choose --images cards",
            )
        return _construct(FrameImages, (video,), kwargs)
    if kind == "sdwebui":
        if arg:
            kwargs.setdefault("base_url", arg)
        return _construct(SDWebUIGenerator, (), kwargs)
    if kind == "openai" and not arg:
        return _construct(OpenAIImageGenerator, (), kwargs)
    raise UsageError(f"unknown image source '{text}'", f"use one of: {', '.join(GENERATOR_SPECS)}")
