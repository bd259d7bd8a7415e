"""Scene (shot) detection with PySceneDetect, decoding through PyAV (no ffmpeg binary).

Detectors (PySceneDetect 0.7, https://www.scenedetect.com/docs/latest/api/detectors.html):

- ``"content"`` (default): :class:`scenedetect.ContentDetector` compares consecutive
  frames in HSV colour space (mean absolute difference of hue, saturation and
  luma, plus edges when weighted); a cut is declared when the score exceeds
  ``threshold`` (default **27**, on a 0-255 scale). Finds hard cuts, not fades.
- ``"adaptive"``: :class:`scenedetect.AdaptiveDetector`, the content score divided by
  its rolling average (default ``adaptive_threshold`` 3.0); fewer false cuts on
  fast camera motion.
- ``"threshold"``: :class:`scenedetect.ThresholdDetector`, fades to and from black
  (mean pixel intensity below ``threshold``, default 12).
- ``"hash"``: :class:`scenedetect.HashDetector`, perceptual-hash distance (default 0.395).
- ``"histogram"``: :class:`scenedetect.HistogramDetector`, YUV histogram
  correlation (default 0.05).

Frame numbers are PySceneDetect's: 0-based indices at the stream's nominal frame
rate. On a variable-frame-rate file they are therefore *nominal-rate units*
(``seconds * nominal_fps``), not counts of decoded pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import MediaError, UsageError
from vidpipe.media.probe import probe

__all__ = ["DETECTORS", "detect_scenes", "require_video"]

#: Detector names accepted by :func:`detect_scenes`.
DETECTORS = ("content", "adaptive", "threshold", "hash", "histogram")


def require_video(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is readable media with a moving-picture video stream.

    Raises:
        InputError: missing, a directory or unreadable.
        MediaError: not media, or audio only ("has no video stream"; a cover picture
            in an mp3 does not count as video).
    """
    info = probe(path)
    if not info.has_video:
        raise MediaError(
            f"{path}: has no video stream",
            "scene detection and keyframes need a video file, not audio only",
        )
    return Path(path)


def _make_detector(detector: str, threshold: float | None, min_scene_len: int):
    import scenedetect

    kwargs: dict = {"min_scene_len": min_scene_len}
    if detector == "content":
        if threshold is not None:
            kwargs["threshold"] = threshold
        return scenedetect.ContentDetector(**kwargs)
    if detector == "adaptive":
        if threshold is not None:
            kwargs["adaptive_threshold"] = threshold
        return scenedetect.AdaptiveDetector(**kwargs)
    if detector == "threshold":
        if threshold is not None:
            kwargs["threshold"] = threshold
        return scenedetect.ThresholdDetector(**kwargs)
    if detector == "hash":
        if threshold is not None:
            kwargs["threshold"] = threshold
        return scenedetect.HashDetector(**kwargs)
    if detector == "histogram":
        if threshold is not None:
            kwargs["threshold"] = threshold
        return scenedetect.HistogramDetector(**kwargs)
    raise UsageError(
        f"unknown scene detector {detector!r}", f"choose one of: {', '.join(DETECTORS)}"
    )


def detect_scenes(
    path: str | os.PathLike[str],
    detector: str = "content",
    threshold: float | None = None,
    min_scene_len: int = 15,
) -> list[tuple[int, int, float, float]]:
    """Split a video into scenes (shots) at the cuts PySceneDetect finds.

    Args:
        path: a local video file.
        detector: one of :data:`DETECTORS`; ``"content"`` (ContentDetector, HSV
            difference threshold 27) by default.
        threshold: the detector's threshold; ``None`` keeps PySceneDetect's default.
        min_scene_len: shortest scene in **frames** (PySceneDetect default 15).

    Returns:
        ``[(start_frame, end_frame, start_s, end_s), ...]`` in time order covering the
        whole video without gaps: frames are 0-based with ``end_frame`` exclusive
        (the next scene's ``start_frame``), times in **seconds**. A video without cuts
        is one scene.

    Raises:
        InputError: missing or unreadable path.
        MediaError: not decodable, or no video stream.
        UsageError: unknown detector name.
    """
    p = require_video(path)
    det = _make_detector(detector, threshold, min_scene_len)
    from scenedetect import SceneManager, open_video
    from scenedetect.backends import AVAILABLE_BACKENDS

    backend = "pyav" if "pyav" in AVAILABLE_BACKENDS else "opencv"
    try:
        video = open_video(str(p), backend=backend)
        manager = SceneManager()
        manager.add_detector(det)
        manager.detect_scenes(video)
        scene_list = manager.get_scene_list(start_in_scene=True)
    except MediaError:
        raise
    except Exception as exc:  # PySceneDetect/PyAV/OpenCV raise many unrelated types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MediaError(
            f"{p}: scene detection failed ({reason})", "check that the video decodes"
        ) from exc
    scenes = []
    for start, end in scene_list:
        scenes.append(
            (int(start.frame_num), int(end.frame_num), float(start.seconds), float(end.seconds))
        )
    return scenes
