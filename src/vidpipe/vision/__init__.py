"""Vision: scenes, keyframes, on-screen text (OCR) and frame descriptions.

Public API::

    from vidpipe.vision import describe
    scenes = describe("talk.mp4", "out/talk", transcript=tr)   # list[Scene]

Importing this package loads PyAV, Pillow and numpy; PySceneDetect, ONNX Runtime
(RapidOCR) and the ``openai`` client are imported only when first used.

(``describe`` here is the function: the submodule of the same name is imported
first and the name rebound, so ``vidpipe.vision.describe`` is always callable.)
"""

from __future__ import annotations

from vidpipe.vision import describe as _describe_module
from vidpipe.vision.keyframes import extract_keyframes
from vidpipe.vision.ocr import ocr_image
from vidpipe.vision.scenes import detect_scenes
from vidpipe.vision.vlm import describe_frames

describe = _describe_module.describe

__all__ = [
    "describe",
    "describe_frames",
    "detect_scenes",
    "extract_keyframes",
    "ocr_image",
]
