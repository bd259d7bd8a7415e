"""A waveform picture of an audio signal: the preview of an audio item in the web page.

Peak envelope per pixel column (the largest absolute sample of the column's samples,
as audio editors draw it), mirrored around the centre line, drawn with Pillow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["waveform_image"]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def waveform_image(
    audio: np.ndarray,
    width: int = 320,
    height: int = 180,
    *,
    background: str = "#0e3d5c",
    colour: str = "#f6c453",
) -> Image.Image:
    """Draw ``audio`` as a waveform.

    Args:
        audio: mono samples (1-D float array, nominally in [-1, 1]) or
            ``(samples, channels)`` (averaged to mono).
        width, height: picture size in pixels (>= 8 each).
        background, colour: hex sRGB colours (default: the title cards' teal-blue and
            amber, :data:`vidpipe.vision.images.cards.CARD_PALETTE`).

    Returns:
        An RGB image. Peaks are scaled so the loudest column fills 90 % of the
        height; silence draws a thin centre line.
    """
    width, height = max(8, int(width)), max(8, int(height))
    mono = np.asarray(audio, dtype=np.float32)
    if mono.ndim > 1:
        mono = mono.mean(axis=1)
    img = Image.new("RGB", (width, height), _rgb(background))
    draw = ImageDraw.Draw(img)
    mid = (height - 1) / 2
    fg = _rgb(colour)
    if mono.size == 0:
        draw.line([(0, mid), (width - 1, mid)], fill=fg)
        return img
    edges = np.linspace(0, mono.size, width + 1).astype(np.int64)
    # peak of each column's samples (reduceat: one pass; an empty column repeats a sample)
    peaks = np.maximum.reduceat(np.abs(mono), np.minimum(edges[:-1], mono.size - 1))
    top = float(peaks.max())
    scale = (0.9 * mid / top) if top > 0 else 0.0
    for x, p in enumerate(peaks):
        h = max(0.5, float(p) * scale)
        draw.line([(x, mid - h), (x, mid + h)], fill=fg)
    return img
