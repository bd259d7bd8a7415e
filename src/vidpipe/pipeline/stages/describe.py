"""The ``describe`` stage: scenes of a video (keyframes, on-screen text, speech)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from vidpipe.errors import InputError, UsageError
from vidpipe.files import check_readable_file, sha256_file
from vidpipe.library.catalog import Catalog, options_hash
from vidpipe.library.understanding import VERSION, store_scenes
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.pipeline.stages.transcribe import resolve_input
from vidpipe.types import Names, Scene, Transcript


class DescribeStage(Stage):
    """Scenes of a video: keyframes, on-screen text, what is said (and seen, with a
    vision endpoint); ``scenes.json`` and ``scenes.md`` in the job folder (in ``vidpipe
    run``: the item's folder). A catalog item that is audio only has nothing to see:
    it succeeds with ``{"scenes": 0, "video": false}``."""

    name = "describe"
    takes = ("media", "file", "dep:transcribe")
    media_step = True
    builds_on = ("transcribe",)

    class Options(StageOptions):
        vlm_base: Annotated[str | None, Names("url")] = None
        vlm_model: str | None = None
        frames_per_scene: int = Field(1, ge=1, le=16)
        model: Annotated[str | None, Names("model")] = Field(
            None, description="ASR model when a transcript is needed"
        )
        language: str | None = None

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        if ctx.catalog is None:
            raise InputError("a describe job needs a catalog", "run it from a job store")
        path, mid = inputs.source(ctx.catalog)
        media = ctx.catalog.get_media(mid) if mid is not None else None
        if media is not None and media.probe is not None and media.video_codec is None:
            return StageResult(result={"media_id": mid, "scenes": 0, "video": False})
        target = str(path) if mid is None else str(mid)
        ctx.progress(0.0, f"describing {path.name}")
        mid, tr, _stem, path = resolve_video(ctx.catalog, target, options.model, options.language)
        out = ctx.path("scenes.json").parent
        scenes = describe_media(
            ctx.catalog,
            mid,
            path,
            out,
            tr,
            options.vlm_base,
            options.vlm_model,
            options.frames_per_scene,
            progress=ctx.counter(f"describing {path.name}"),
        )
        files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
        return StageResult(
            result={"media_id": mid, "scenes": len(scenes)},
            artifacts=[ctx.relative(p) for p in files],
        )


# ------------------------------------------------------------------- the work on catalog items


def _has_audio(cat: Catalog, media) -> bool:
    """Whether the item's file has an audio stream: the stored probe, else probe it now
    (and store that probe: duration, codecs)."""
    if media.probe is None:
        from vidpipe.media.probe import probe

        cat.record_probe(media.id, probe(media.path))
        media = cat.get_media(media.id)
    return bool((media.probe or {}).get("audio_streams")) or media.audio_codec is not None


def resolve_video(
    cat: Catalog,
    target: str,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[int, Transcript | None, str, Path]:
    """``ITEM`` or ``FILE`` for ``describe`` → ``(media_id, transcript, name, path)``.

    Like :func:`resolve_input`, but a video without an audio track (a silent video)
    is not an error: it is recorded in the catalog (media row and probe) and its
    transcript is ``None``. A video with audio and no stored transcript is transcribed
    first (``model``, ``language``) and the transcript stored, as for ``summarize``.

    Raises:
        InputError: no such item or file.
        MediaError: not decodable media, or audio only ("has no video stream").
    """
    from vidpipe.errors import MediaError
    from vidpipe.media.probe import probe

    path = Path(target)
    if target.isdigit() and not path.exists():
        media = cat.get_media(int(target))
        if media is None:
            raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
        path = Path(media.path)
        check_readable_file(path)
    else:
        check_readable_file(path)
        digest = sha256_file(path)
        media = cat.media_by_sha256(digest)
        if media is None:
            info = probe(path)  # undecodable files fail here, before they are recorded
            media, _ = cat.add_media(path.resolve(), digest, path.stat().st_size)
            cat.record_probe(media.id, info)
            media = cat.get_media(media.id)
    if media.probe is not None and media.video_codec is None:
        raise MediaError(
            f"{path}: has no video stream",
            "scene detection and keyframes need a video file, not audio only",
        )
    tr = cat.get_transcript(media.id)
    if tr is None and _has_audio(cat, media):
        _mid, tr, _stem = resolve_input(cat, str(path), model, language, progress)
    return media.id, tr, path.stem, path


def describe_media(
    cat: Catalog,
    media_id: int,
    path: Path,
    out_dir: Path,
    transcript: Transcript | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    progress: Callable[[float, float], None] | None = None,
) -> list[Scene]:
    """Scenes of a video via :func:`vidpipe.vision.describe.describe` (writes
    ``out_dir/scenes.json`` and ``scenes.md``); stored in the catalog."""
    try:
        from vidpipe.vision.describe import describe
    except ImportError as exc:
        raise UsageError("video description is not available in this build") from exc
    from vidpipe.config import get_settings, merge_options

    # missing keys come from the VIDPIPE_VLM_* settings; no endpoint at all: no descriptions
    vlm: dict | None = merge_options(
        get_settings().vlm_options(), base_url=vlm_base or None, model=vlm_model or None
    )
    if not (vlm_base or vlm_model) and not (vlm["base_url"] and vlm["model"]):
        vlm = None
    scenes = describe(
        path,
        out_dir,
        transcript=transcript,
        vlm=vlm,
        frames_per_scene=frames_per_scene,
        progress=progress,
    )
    h = options_hash(
        {"kind": "scenes", "v": VERSION, "vlm": [vlm_base, vlm_model], "fps": frames_per_scene}
    )
    store_scenes(cat, media_id, scenes, h)
    return scenes
