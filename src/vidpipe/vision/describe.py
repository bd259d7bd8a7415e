"""``describe``: a timeline of scenes with what is seen, written on screen and said.

Steps, each a library function of this package:

1. :func:`~vidpipe.vision.scenes.detect_scenes` (PySceneDetect ContentDetector,
   HSV-difference threshold 27 by default) splits the video into shots;
2. :func:`~vidpipe.vision.keyframes.extract_keyframes` saves the middle frame of
   each scene as ``keyframes/scene-NNN.jpg`` (display size, rotation and SAR applied);
3. :func:`~vidpipe.vision.ocr.ocr_image` reads on-screen text from that keyframe,
   the picture shown in ``scenes.md``, and from no other frame, so the text always
   matches the picture (RapidOCR, bundled Chinese+English models); lines that are
   mostly symbols, single glyphs or below the confidence threshold are dropped and
   near-duplicate lines (:func:`merge_lines`) are kept once;
4. the speech of a scene is the transcript's words (or, without word times, its
   segments) whose midpoint falls inside the scene. A video without a transcript (a
   silent video: no audio track) gets no speech: ``speech`` is ``null`` in every scene
   of ``scenes.json`` (whose ``has_speech`` is ``false``) and ``scenes.md`` has no
   "said" column;
5. when a vision endpoint is configured, :func:`~vidpipe.vision.vlm.describe_frames`
   describes ``frames_per_scene`` sampled frames per scene (never the video).

Outputs in ``out_dir``: ``scenes.json`` (the scenes and their source) and
``scenes.md`` (a Markdown timeline table), both written atomically.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path

from vidpipe.errors import RemoteError, UsageError
from vidpipe.files import atomic_write
from vidpipe.timecode import m_ss_tenths as _fmt_time
from vidpipe.types import Scene, Transcript
from vidpipe.vision.keyframes import extract_keyframes
from vidpipe.vision.ocr import ocr_image
from vidpipe.vision.scenes import detect_scenes, require_video
from vidpipe.vision.vlm import DEFAULT_PROMPT, DEFAULT_RPM, describe_frames

__all__ = [
    "describe",
    "merge_lines",
    "scene_ocr",
    "scene_speech",
    "write_scenes",
]

#: ``progress(scenes_done, scenes_total)`` callback type.
ProgressCallback = Callable[[float, float], None]


def _sample_times(start: float, end: float, n: int) -> list[float]:
    """``n`` times (seconds) spread evenly inside ``[start, end)``; n=1 is the middle."""
    return [start + (end - start) * (j + 0.5) / n for j in range(n)]


def scene_speech(transcript: Transcript | None, start: float, end: float) -> str | None:
    """Transcript text said during ``[start, end)`` seconds.

    Uses word times when the transcript has them (a word belongs to the scene
    holding its midpoint), else whole segments by their midpoint, so each word or
    segment lands in exactly one scene. ``None`` when nothing is said.
    """
    if transcript is None:
        return None
    words = transcript.words
    if words:
        picked = [w.word for w in words if start <= (w.start + w.end) / 2 < end]
        text = "".join(picked)
    else:
        picked = [
            s.text.strip() for s in transcript.segments if start <= (s.start + s.end) / 2 < end
        ]
        text = " ".join(picked)
    text = " ".join(text.split())
    return text or None


def merge_lines(groups: list[list[str]]) -> list[str]:
    """OCR lines from one or more pictures, in order, keeping the first of near-duplicates
    (lines whose letters without spaces match with difflib's ratio ≥ 0.8)."""
    kept: list[str] = []
    keys: list[str] = []
    for lines in groups:
        for line in lines:
            key = "".join(line.lower().split())
            if any(difflib.SequenceMatcher(None, key, k).ratio() >= 0.8 for k in keys):
                continue
            kept.append(line)
            keys.append(key)
    return kept


def scene_ocr(keyframe: str | os.PathLike[str]) -> list[str]:
    """On-screen text of a scene: what :func:`~vidpipe.vision.ocr.ocr_image` reads on
    its keyframe (the picture shown), near-duplicate lines kept once."""
    return merge_lines([ocr_image(keyframe)])


def _vlm_conf(vlm: dict) -> dict:
    """A ``vlm`` dict with its defaults (rpm 20, :data:`DEFAULT_PROMPT`), checked."""
    conf = {
        "base_url": vlm.get("base_url"),
        "model": vlm.get("model"),
        "api_key": vlm.get("api_key"),
        "rpm": vlm.get("rpm") or DEFAULT_RPM,
        "prompt": vlm.get("prompt") or DEFAULT_PROMPT,
    }
    if not conf["base_url"] or not conf["model"]:
        raise UsageError(
            "frame descriptions need a vision endpoint and model",
            "set VIDPIPE_VLM_BASE and VIDPIPE_VLM_MODEL, or pass vlm={'base_url':..., 'model':...}",
        )
    return conf


def describe(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    transcript: Transcript | None = None,
    vlm: dict | None = None,
    frames_per_scene: int = 1,
    progress: ProgressCallback | None = None,
) -> list[Scene]:
    """Describe a video scene by scene and write ``scenes.json`` and ``scenes.md``.

    Args:
        path: a local video file.
        out_dir: output folder (created); keyframes go to ``out_dir/keyframes/``.
        transcript: the video's transcript, for the "said" column; ``None`` for a
            silent video (or one not transcribed): no "said" column, ``speech`` None.
        vlm: vision endpoint settings, or ``None`` for no descriptions. Keys
            ``base_url``, ``model``, ``api_key``, ``rpm`` (requests per minute),
            ``prompt``; ``base_url`` and ``model`` are required, ``rpm`` defaults to
            :data:`DEFAULT_RPM`. Nothing is read from the settings here: the front
            ends fill the dict from ``VIDPIPE_VLM_*``
            (:meth:`vidpipe.config.Settings.vlm_options`).
        frames_per_scene: frames sent to the vision model per scene (≥ 1). With 1
            the keyframe (scene midpoint) is sent; with more, frames at
            ``(j + 0.5) / n`` of the scene are saved to ``out_dir/frames/`` and sent.
        progress: called as ``progress(scenes_done, scenes_total)``.

    Returns:
        The scenes in time order, covering the video without gaps. Times in
        seconds, frames at the nominal rate (end exclusive), ``keyframe`` the JPEG path.

    Raises:
        InputError, MediaError: bad input ("has no video stream" for audio only).
        UsageError: bad ``frames_per_scene`` or incomplete ``vlm`` settings.
        RemoteError: the vision endpoint failed after retries. No further scenes
            are sent; the offline columns are completed and both files are still
            written (descriptions ``None`` from the failed scene on) before raising.
        OutputError: ``out_dir`` cannot be written.
    """
    if frames_per_scene < 1:
        raise UsageError(f"frames_per_scene must be at least 1, got {frames_per_scene}")
    conf = _vlm_conf(vlm) if vlm is not None else None
    p = require_video(path)
    out = Path(out_dir)
    cuts = detect_scenes(p)
    total = len(cuts)
    if progress:
        progress(0.0, float(total))

    keyframe_times = [(s + e) / 2 for _sf, _ef, s, e in cuts]
    keyframes = extract_keyframes(p, keyframe_times, out / "keyframes", prefix="scene")

    scenes: list[Scene] = []
    vlm_error: RemoteError | None = None
    for i, ((sf, ef, start, end), keyframe) in enumerate(zip(cuts, keyframes, strict=True)):
        description = None
        if conf is not None and vlm_error is None:
            if frames_per_scene == 1:
                frames = [keyframe]
            else:
                times = _sample_times(start, end, frames_per_scene)
                frames = extract_keyframes(p, times, out / "frames", prefix=f"scene-{i + 1:03d}")
            try:
                description = describe_frames(
                    frames,
                    prompt=conf["prompt"],
                    base_url=conf["base_url"],
                    model=conf["model"],
                    api_key=conf["api_key"],
                    rpm=conf["rpm"],
                )
            except RemoteError as exc:
                vlm_error = exc  # finish the offline columns, write, then report it
        scenes.append(
            Scene(
                index=i,
                start=start,
                end=end,
                start_frame=sf,
                end_frame=ef,
                keyframe=str(keyframe),
                ocr_text=scene_ocr(keyframe),
                description=description,
                speech=scene_speech(transcript, start, end),
            )
        )
        if progress:
            progress(float(i + 1), float(total))
    write_scenes(
        scenes,
        out,
        source=str(p),
        model=conf["model"] if conf else None,
        speech=transcript is not None,
    )
    if vlm_error is not None:
        raise vlm_error
    return scenes


def _cell(text: str | None) -> str:
    """Text safe inside a Markdown table cell."""
    if not text:
        return ""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def write_scenes(
    scenes: list[Scene],
    out_dir: str | os.PathLike[str],
    source: str,
    model: str | None = None,
    speech: bool = True,
) -> tuple[Path, Path]:
    """Write ``scenes.json`` and ``scenes.md`` into ``out_dir`` atomically.

    ``scenes.json``: ``{"source", "vision_model", "has_speech", "scenes": [Scene...]}``.
    ``scenes.md``: one table row per scene: time range, keyframe thumbnail link
    (relative to ``out_dir``), on-screen text, what is seen, what is said. With
    ``speech=False`` (no transcript: a silent video) ``has_speech`` is false, every
    scene's ``speech`` stays ``null`` and the Markdown table has no "said" column.

    Returns:
        ``(json_path, md_path)``.
    """
    out = Path(out_dir)
    json_path, md_path = out / "scenes.json", out / "scenes.md"
    payload = {
        "source": source,
        "vision_model": model,
        "has_speech": speech,
        "scenes": [s.model_dump(mode="json") for s in scenes],
    }
    with atomic_write(json_path) as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    lines = [
        f"# Scenes of {Path(source).name}",
        "",
        f"{len(scenes)} scenes. Times are minutes:seconds."
        + ("" if speech else " No speech (no transcript: a silent video)."),
        "",
        "| # | time | keyframe | on screen | seen |" + (" said |" if speech else ""),
        "|---|---|---|---|---|" + ("---|" if speech else ""),
    ]
    for s in scenes:
        if s.keyframe:
            kf = Path(s.keyframe)
            try:
                rel = kf.resolve().relative_to(out.resolve()).as_posix()
            except ValueError:
                rel = kf.as_posix()
            link = f"![scene {s.index + 1}]({rel})"
        else:
            link = ""
        row = (
            f"| {s.index + 1} | {_fmt_time(s.start)}–{_fmt_time(s.end)} | {link} | "
            f"{_cell(' / '.join(s.ocr_text))} | {_cell(s.description)} |"
        )
        lines.append(row + (f" {_cell(s.speech)} |" if speech else ""))
    with atomic_write(md_path) as fh:
        fh.write("\n".join(lines) + "\n")
    return json_path, md_path
