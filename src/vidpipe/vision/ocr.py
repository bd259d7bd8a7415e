"""On-screen text with RapidOCR (``rapidocr-onnxruntime``), offline.

RapidOCR runs PaddleOCR's detection, direction and recognition networks through
ONNX Runtime; the wheel bundles the PP-OCR Chinese+English models (Chinese
characters, Latin letters and digits), so nothing is downloaded. The engine is
loaded once per process (a few hundred ms) and shared; calls are serialised by a lock.

Only text worth reading is returned (:func:`worth_reading`): boxes recognised with a
score below :data:`MIN_CONFIDENCE` are dropped, and so are lines that are mostly
symbols (a flag's stars read as "★★★ ★★★★"), have fewer than two letters (a single
glyph such as "福" on an anime frame, a code editor's line numbers "11 11"), and lines
repeated in the same picture (kept once).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from vidpipe.errors import InputError, ModelError

__all__ = ["MIN_CONFIDENCE", "MIN_LETTERS", "MIN_WORD_SHARE", "ocr_image", "worth_reading"]

#: Recognition confidence (0-1) below which a text box is dropped.
MIN_CONFIDENCE = 0.5

#: A line needs at least this many letters (``str.isalpha``: Latin, Cyrillic, CJK...).
MIN_LETTERS = 2

#: A line needs at least this share of letters and digits among its non-space characters.
MIN_WORD_SHARE = 0.5


def worth_reading(line: str) -> bool:
    """Whether an OCR line is text a person would read rather than noise.

    A line is kept when it has at least :data:`MIN_LETTERS` letters and at least
    :data:`MIN_WORD_SHARE` of its non-space characters are letters or digits. Dropped:
    symbol rows ("★★★ ★★★★", "---"), single glyphs ("福", "A"), numbers alone ("11 11",
    a code editor's line numbers). Kept: "Frame = 16", "PTS = 1.5s", "你好".
    """
    chars = [c for c in line if not c.isspace()]
    if not chars:
        return False
    letters = sum(c.isalpha() for c in chars)
    word = sum(c.isalnum() for c in chars)
    return letters >= MIN_LETTERS and word >= MIN_WORD_SHARE * len(chars)


_engine = None
_lock = threading.Lock()


def _get_engine():
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ModelError(
                "on-screen text needs rapidocr-onnxruntime",
                "pip install rapidocr-onnxruntime",
            ) from exc
        _engine = RapidOCR()
    return _engine


def _as_array(image: str | os.PathLike[str] | np.ndarray | Image.Image) -> np.ndarray:
    """An RGB uint8 ``(height, width, 3)`` array from a path, Pillow image or array."""
    if isinstance(image, np.ndarray):
        arr = image
    else:
        if not isinstance(image, Image.Image):
            p = Path(image)
            try:
                image = Image.open(p)
                image.load()
            except FileNotFoundError as exc:
                raise InputError(f"{p}: no such file", "check the path") from exc
            except OSError as exc:
                raise InputError(
                    f"{p}: not a readable image ({exc})", "pass a JPEG or PNG"
                ) from exc
        arr = np.asarray(image.convert("RGB"))
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)


def ocr_image(
    image: str | os.PathLike[str] | np.ndarray | Image.Image,
    min_confidence: float = MIN_CONFIDENCE,
    *,
    keep_all: bool = False,
) -> list[str]:
    """Read the text in one picture.

    Args:
        image: an image file path, a Pillow image, or an RGB ``(height, width, 3)``
            uint8 array (pixels).
        min_confidence: drop boxes whose recognition score (0-1) is below this.
        keep_all: also return lines that are not :func:`worth_reading` and repeats.

    Returns:
        Text lines in reading order: boxes whose vertical centres fall within one
        another's height are one line, joined left to right with spaces; lines go
        top to bottom. Lines not :func:`worth_reading` are dropped and a line repeated
        in the picture is kept once (unless ``keep_all``). Empty when there is no text.

    Raises:
        InputError: the path is missing or not an image.
    """
    arr = _as_array(image)
    # RapidOCR follows OpenCV and expects BGR channel order.
    bgr = arr[..., ::-1].copy()
    with _lock:
        result, _elapsed = _get_engine()(bgr)
    boxes = []
    for box, text, score in result or []:
        text = str(text).strip()
        if not text or float(score) < min_confidence:
            continue
        ys = [pt[1] for pt in box]
        xs = [pt[0] for pt in box]
        boxes.append((min(ys), max(ys), min(xs), text))
    boxes.sort(key=lambda b: (b[0] + b[1]) / 2)
    lines: list[list[tuple[float, float, float, str]]] = []
    for box in boxes:
        centre = (box[0] + box[1]) / 2
        if lines:
            top = min(b[0] for b in lines[-1])
            bottom = max(b[1] for b in lines[-1])
            if top <= centre <= bottom:
                lines[-1].append(box)
                continue
        lines.append([box])
    texts = [" ".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines]
    if keep_all:
        return texts
    out: list[str] = []
    seen: set[str] = set()
    for text in texts:
        key = "".join(text.lower().split())
        if worth_reading(text) and key not in seen:
            seen.add(key)
            out.append(text)
    return out
