"""Narrate: a text or a recording becomes a finished video, as a chain of registry stages.

Stages (each a :mod:`vidpipe.pipeline.registry` stage, run through the stage cache
:func:`vidpipe.pipeline.cache.run_cached`; files go to the work folder):

=================================  ==========================================  ===================
stage                              does                                        artifacts
=================================  ==========================================  ===================
``speak`` (text input)             :func:`vidpipe.speech.tts.speak`            ``speech.wav``,
                                                                               ``transcript.json``
``transcribe`` (media input)       :func:`vidpipe.speech.transcribe.transcribe` ``transcript.json``
``images``                         chunks, one image generator call            ``images/*.png``
``render``                         :func:`vidpipe.media.render.render_slideshow` the output video
=================================  ==========================================  ===================

A text input's transcript is the synthesized sentences with their timings
(``transcript.json``), so narration is never transcribed back. Chunks are the
transcript's (:func:`~vidpipe.text.chunking.chunk_transcript`, those under
:data:`MIN_SLIDE_SECONDS` merged into the one before); slides change at chunk starts;
subtitles are the transcript's segments, split into readable cues. ``chunks.json`` and
``prompts.json`` in the work folder say what each slide shows.

Reruns: every stage's output is kept in the catalog's stage cache under (stage,
version, options hash, input hash: files by content). A rerun with the same input and
options makes no speech, no image and no video: every file stays as it was; a change
redoes only the stages it reaches (a new ``max_chunk`` redraws the images and
re-renders, but keeps the speech).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.config import get_settings
from vidpipe.errors import InputError, UsageError
from vidpipe.files import atomic_write, check_readable_file, ensure_dir
from vidpipe.media.render import RenderOptions, RenderResult, SlidePlan
from vidpipe.pipeline.cache import StageCache, run_cached
from vidpipe.pipeline.stages import DependencyOutput, StageContext, StageInput, StageInputs
from vidpipe.pipeline.stages.images import ImagesStage
from vidpipe.pipeline.stages.render import RenderStage
from vidpipe.pipeline.stages.speak import SpeakStage
from vidpipe.pipeline.stages.transcribe import TranscribeStage
from vidpipe.text.documents import DOCUMENT_SUFFIXES, is_document, read_document
from vidpipe.types import Chunk, Transcript

__all__ = ["MIN_SLIDE_SECONDS", "TEXT_SUFFIXES", "NarrateOptions", "NarrateResult", "narrate"]

#: Inputs read as text to speak (:func:`vidpipe.text.documents.is_document`: these
#: suffixes, or a PDF by its header); anything else is treated as audio or video.
TEXT_SUFFIXES = DOCUMENT_SUFFIXES

#: a chunk whose slide would last less than this (seconds) is merged into the one before
MIN_SLIDE_SECONDS = 1.5

StageProgress = Callable[[str, float, float], None]  # (stage, done, total)


@dataclass
class NarrateOptions:
    """Options for :func:`narrate`.

    Attributes:
        voice: TTS voice name or Piper ``.onnx`` path (default: the bundled ``joe``).
        language: ISO 639-1 code of the text/recording (``None``: guessed from the text's
            script for text, detected for recordings).
        images: image source spec: ``cards`` (default), ``folder:DIR``, ``frames``
            (keyframes of a video input), ``sdwebui[:URL]``, ``openai``.
        model: ASR model for recordings (default ``base``).
        max_chunk: longest chunk, hence slide, in seconds (20).
        music: background music file, ducked under the narration.
        work_dir: folder for intermediate artifacts (default ``<output>.work``).
        render: the renderer's options (size, fps, transitions, subtitles...).
        image_base, image_model: endpoint and model of the ``sdwebui``/``openai`` image
            source (default VIDPIPE_IMAGE_BASE, VIDPIPE_IMAGE_MODEL).
        llm_base, llm_model: the OpenAI-compatible chat endpoint that writes image
            prompts (default VIDPIPE_LLM_BASE, VIDPIPE_LLM_MODEL; none: prompts from
            the chunk's keywords).
    """

    voice: str | None = None
    language: str | None = None
    images: str = "cards"
    model: str | None = None
    max_chunk: float = 20.0
    music: str | os.PathLike[str] | None = None
    work_dir: str | os.PathLike[str] | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    image_base: str | None = None
    image_model: str | None = None
    llm_base: str | None = None
    llm_model: str | None = None


@dataclass
class NarrateResult:
    """What :func:`narrate` made: the video, the work folder, and what was reused."""

    output: Path
    work_dir: Path
    transcript: Transcript
    chunks: list[Chunk]
    images: list[Path]
    render: RenderResult
    reused: list[str] = field(default_factory=list)  # stages taken from the stage cache
    #: catalog items recorded: ``{"recording": id, "video": id}`` (the recording only
    #: for a media input; empty without a catalog)
    items: dict[str, int] = field(default_factory=dict)


def render_params(ropts: RenderOptions, output: str) -> dict[str, Any]:
    """The ``render`` stage's params for :class:`~vidpipe.media.render.RenderOptions`
    (every field but ``threads``, which does not change the picture) and an output
    file name."""
    params = asdict(ropts)
    params.pop("threads", None)
    style = params.pop("style")
    params["font"] = style.pop("font")
    params["style"] = style
    params["output"] = output
    return params


def _save_json(path: Path, value: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(value, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def _dep(kind: str, folder: Path, result: dict[str, Any], artifacts: list[str]) -> DependencyOutput:
    return DependencyOutput(
        job_id=kind, kind=kind, result=result, artifacts=[folder / a for a in artifacts]
    )


def narrate(
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: NarrateOptions | None = None,
    *,
    catalog: Any | None = None,
    progress: StageProgress | None = None,
    threads: int | None = None,
) -> NarrateResult:
    """Turn a text (.txt/.md/.pdf) or a recording (audio/video) into a narrated video.

    Args:
        input_path: the text file (read by :func:`vidpipe.text.documents.read_document`)
            or media file.
        output: the video path (``.mp4``/``.m4v``/``.mov``), written atomically.
        options: voice, language, image source, chunk length, renderer options.
        catalog: the :class:`~vidpipe.library.catalog.Catalog` holding the stage cache
            (and the image records, the LLM response cache); ``None``: no cache, every
            stage runs.
        progress: called as ``progress(stage, done, total)``; stages are ``speech``
            or ``transcript``, ``chunks``, ``images``, ``render``.
        threads: CPU threads for the voice and the ASR model (``None``: every core).

    Returns:
        The result, with the stages reused from the stage cache (``speak`` or
        ``transcribe``, ``images``, ``render``) in ``reused``.

    Raises:
        InputError: missing/unreadable input, empty text, a recording without speech.
        MediaError / NoAudioError: a recording that does not decode; a text that is
            binary or not UTF-8, a damaged, encrypted or scanned (text-less) PDF.
        ModelError: unknown voice, or no voice for the language.
        UsageError: bad options (image spec, sizes...).
        RemoteError: an image endpoint failed.
        OutputError: the output or work folder cannot be written.
    """
    opts = options or NarrateOptions()
    opts.render.check()
    if opts.max_chunk <= 0:
        raise UsageError("--max-chunk must be positive (seconds)")
    src = check_readable_file(input_path)
    is_text = is_document(src)
    if is_text:  # a text is read (and a bad one refused) before anything is written
        read_document(src)
    if is_text and opts.images.strip().lower() == "frames":
        raise UsageError(
            "--images frames needs a video input", "use cards, folder:DIR, sdwebui or openai"
        )
    out = Path(output)
    render_stage, images_stage = RenderStage(), ImagesStage()
    render_opts = render_stage.parse_options(render_params(opts.render, out.name))
    work = Path(opts.work_dir) if opts.work_dir else out.with_name(out.name + ".work")
    ensure_dir(work, out if not opts.work_dir else None)  # OutputError (exit 7) names it
    cache = StageCache(catalog) if catalog is not None else None
    note = progress or (lambda stage, done, total: None)
    reused: list[str] = []

    def ctx(step: str, folder: Path = work, cat: Any = catalog) -> StageContext:
        def report(fraction: float, _step: str | None) -> None:
            note(step, fraction, 1.0)

        return StageContext(work_dir=folder, catalog=cat, threads=threads, on_progress=report)

    # 1. speech (text) or transcript (recording) -> transcript.json
    if is_text:
        first = SpeakStage()
        first_opts = first.parse_options({"voice": opts.voice, "language": opts.language})
        given = StageInput(path=os.fspath(src))
        step = "speech"
    else:
        first = TranscribeStage()
        first_opts = first.parse_options(
            {"model": opts.model or "base", "language": opts.language or "auto"}
        )
        given = StageInput(path=os.fspath(src))
        step = "transcript"
    # the recording and the video are recorded as catalog items at the end
    # (record_narration), with this transcript
    made, hit = run_cached(first, ctx(step, cat=None), StageInputs(given), first_opts, cache)
    if hit:
        reused.append(first.name)
    spoken = _dep(first.name, work, made.result, made.artifacts)
    transcript = StageInputs(deps=[spoken]).transcript()
    if transcript is None:  # pragma: no cover - both stages write one
        raise InputError(f"{src}: no transcript was made", "rerun with --debug and report it")
    if not is_text and not transcript.segments:
        raise InputError(f"{src}: no speech found to narrate", "give a recording with speech")

    # 2. chunks and images, one per chunk

    settings = get_settings()
    images_opts = images_stage.parse_options(
        {
            "generator": opts.images,
            "width": opts.render.width,
            "height": opts.render.height,
            "max_chunk": opts.max_chunk,
            "min_slide": MIN_SLIDE_SECONDS,
            "language": opts.language,
            "image_base": opts.image_base,
            "image_model": opts.image_model,
            "llm_base": opts.llm_base or settings.llm_base,
            "llm_model": opts.llm_model or settings.llm_model,
        }
    )
    image_input = StageInputs(StageInput(path=None if is_text else os.fspath(src)), [spoken])
    pictures, hit = run_cached(images_stage, ctx("images"), image_input, images_opts, cache)
    if hit:
        reused.append("images")
    chunks = [Chunk.model_validate(c) for c in pictures.result["chunks"]]
    if not chunks:
        raise InputError(f"{src}: nothing to narrate (no text)", "check the input")
    _save_json(work / "chunks.json", [c.model_dump(mode="json") for c in chunks])
    note("chunks", len(chunks), len(chunks))
    _save_json(
        work / "prompts.json",
        [
            {
                "chunk": g["chunk_id"],
                "image": os.fspath(work / g["path"]),
                "prompt": g["prompt"],
                "generator": g["generator"],
            }
            for g in pictures.result["images"]
        ],
    )

    # 3. render: slides change at chunk starts; subtitles from the transcript
    starts = [c.start for c in chunks]
    starts[0] = 0.0
    render_opts = render_opts.model_copy(update={"starts": starts})
    render_input = StageInputs(
        StageInput(
            audio=None if is_text else os.fspath(src),
            music=os.fspath(Path(opts.music).absolute()) if opts.music else None,
        ),
        [spoken, _dep("images", work, pictures.result, pictures.artifacts)],
    )
    video, hit = run_cached(
        render_stage, ctx("render", out.parent), render_input, render_opts, cache
    )
    if hit:
        reused.append("render")
    r = video.result
    rendered = RenderResult(
        output=out,
        duration=r["duration"],
        frames=r["frames"],
        width=r["width"],
        height=r["height"],
        fps=r["fps"],
        plan=SlidePlan(list(r["bounds"])),
        srt=out.parent / r["srt"] if r.get("srt") else None,
        seconds=0.0 if hit else r["seconds"],
        audio_duration=r.get("audio_duration"),
    )
    items = (
        record_narration(
            catalog, src, out, transcript, first.options_hash(first_opts), is_text=is_text
        )
        if catalog is not None
        else {}
    )
    return NarrateResult(
        output=out,
        work_dir=work,
        transcript=transcript,
        chunks=chunks,
        images=[work / g["path"] for g in pictures.result["images"]],
        render=rendered,
        reused=reused,
        items=items,
    )


def record_narration(
    catalog: Any,
    input_path: Path,
    output: Path,
    transcript: Transcript,
    transcript_hash: str,
    *,
    is_text: bool,
) -> dict[str, int]:
    """Record what ``narrate`` made in the catalog, so its words are searchable and the
    library lists it: the narrated video as an item with the narration's transcript
    (its audio is the narration: the times match), source ``narration`` with reason
    ``narrated from <input>``; and for a recording input, the recording itself as an
    item with its transcript (``vidpipe search`` finds it without transcribing it again).
    An item whose content is already in the catalog is reused (its transcript replaced
    by this one only when it had none).

    Args:
        catalog: the :class:`~vidpipe.library.catalog.Catalog`.
        input_path: the text or recording narrated.
        output: the video written.
        transcript: the narration's transcript (synthesized sentences, or the
            recording's transcript).
        transcript_hash: the options hash of the stage that made it.
        is_text: whether the input was a text.

    Returns:
        ``{"video": media id}`` and, for a recording, ``"recording": media id``.

    Raises:
        CatalogError: the catalog cannot be written.
    """
    # imported here: the catalog's ingest helpers are only needed with a catalog
    from vidpipe.files import sha256_file
    from vidpipe.library.ingest import record_by_content

    items: dict[str, int] = {}
    wanted = [("video", output, "narration", f"narrated from {input_path}")]
    if not is_text:
        wanted.insert(0, ("recording", input_path, "file", None))
    for role, path, kind, note in wanted:
        path = Path(path).resolve()
        src = catalog.find_source(str(path)) or catalog.add_source(str(path), kind)
        media, duplicate = record_by_content(
            catalog, src, path, sha256_file(path), path.stat().st_size
        )
        if duplicate is None:
            catalog.set_source_state(src.id, "done", note, media_id=media.id)
        if role == "video" or catalog.get_transcript(media.id) is None:
            catalog.save_transcript(media.id, transcript, transcript_hash)
        items[role] = media.id
    return items
