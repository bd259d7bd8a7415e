"""Narrate: a text or a recording becomes a finished video. A runner: it only orders stages.

Stages (each a library function; its artifacts go to the work folder):

========================  ===================================================  ==================
stage                     does                                                 artifacts
========================  ===================================================  ==================
speech (text input)       :func:`vidpipe.speech.tts.speak`: sentence timings   ``speech.wav``
transcript (media input)  :func:`vidpipe.transcribe`                           ``transcript.json``
chunks                    :func:`vidpipe.text.chunking.chunk_transcript`       ``chunks.json``
images                    an image generator (:mod:`vidpipe.vision.imagegen`)  ``images/*.png``,
                                                                               ``prompts.json``
render                    :func:`vidpipe.media.render.render_slideshow`        the output video
========================  ===================================================  ==================

A text input's transcript is the synthesized sentences with their timings
(``transcript.json`` as well), so narration is never transcribed back. Slides change
at chunk starts; subtitles are the transcript's segments, split into readable cues.

``manifest.json`` in the work folder keeps, per stage, a key made from everything the
stage depends on (input bytes, voice, model, options). A rerun reuses every stage
whose key and files are unchanged, so only what changed is redone; images are also
reused one by one by their generator (PNG metadata), so a rerun makes no requests.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe import __version__
from vidpipe.errors import InputError, UsageError
from vidpipe.files import atomic_write, check_readable_file, ensure_dir, sha256_file
from vidpipe.media.render import RenderOptions, RenderResult, render_slideshow
from vidpipe.text.documents import DOCUMENT_SUFFIXES, is_document, read_document
from vidpipe.types import Chunk, Transcript

__all__ = ["TEXT_SUFFIXES", "NarrateOptions", "NarrateResult", "narrate"]

#: Inputs read as text to speak (:func:`vidpipe.text.documents.is_document`: these
#: suffixes, or a PDF by its header); anything else is treated as audio or video.
TEXT_SUFFIXES = DOCUMENT_SUFFIXES

StageProgress = Callable[[str, float, float], None]  # (stage, done, total)


@dataclass
class NarrateOptions:
    """Options for :func:`narrate`.

    Attributes:
        voice: TTS voice name or Piper ``.onnx`` path (default: the bundled ``joe``).
        language: ISO 639-1 code of the text/recording (``None``: English for text,
            detected for recordings).
        images: image source spec: ``cards`` (default), ``folder:DIR``, ``frames``
            (keyframes of a video input), ``sdwebui[:URL]``, ``openai``.
        model: ASR model for recordings (default ``base``).
        max_chunk: longest chunk, hence slide, in seconds (20).
        music: background music file, ducked under the narration.
        work_dir: folder for intermediate artifacts (default ``<output>.work``).
        render: the renderer's options (size, fps, transitions, subtitles...).
        image_kwargs: extra arguments for the image generator (``base_url``,
            ``model``, ``api_key``, ``llm``...).
    """

    voice: str | None = None
    language: str | None = None
    images: str = "cards"
    model: str | None = None
    max_chunk: float = 20.0
    music: str | os.PathLike[str] | None = None
    work_dir: str | os.PathLike[str] | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    image_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class NarrateResult:
    """What :func:`narrate` made: the video, the work folder, and what was reused."""

    output: Path
    work_dir: Path
    transcript: Transcript
    chunks: list[Chunk]
    images: list[Path]
    render: RenderResult
    reused: list[str] = field(default_factory=list)  # stage names taken from the work folder


def _key(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


class _Manifest:
    def __init__(self, work: Path) -> None:
        self.path = work / "manifest.json"
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def fresh(self, stage: str, key: str, files: list[Path]) -> bool:
        return self.data.get(stage) == key and all(f.is_file() for f in files)

    def done(self, stage: str, key: str) -> None:
        self.data[stage] = key
        with atomic_write(self.path) as fh:
            json.dump(self.data, fh, indent=2)


MIN_SLIDE_SECONDS = 1.5  # a chunk shorter than this is merged into the one before


def _merge_short(chunks: list[Chunk], transcript: Transcript) -> list[Chunk]:
    """Merge chunks whose slide would last under :data:`MIN_SLIDE_SECONDS` into the previous."""
    end = max(transcript.duration, chunks[-1].end if chunks else 0.0)
    out: list[Chunk] = []
    for i, c in enumerate(chunks):
        nxt = chunks[i + 1].start if i + 1 < len(chunks) else end
        if out and nxt - c.start < MIN_SLIDE_SECONDS:
            prev = out[-1]
            out[-1] = prev.model_copy(
                update={
                    "end": c.end,
                    "text": f"{prev.text} {c.text}".strip(),
                    "segment_ids": prev.segment_ids + c.segment_ids,
                }
            )
        else:
            out.append(c.model_copy(update={"id": len(out)}))
    return out


def _save_json(path: Path, value: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(value, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def narrate(
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: NarrateOptions | None = None,
    *,
    catalog: Any | None = None,
    progress: StageProgress | None = None,
) -> NarrateResult:
    """Turn a text (.txt/.md/.pdf) or a recording (audio/video) into a narrated video.

    Args:
        input_path: the text file (read by :func:`vidpipe.text.documents.read_document`)
            or media file.
        output: the video path (``.mp4``/``.m4v``/``.mov``), written atomically.
        options: voice, language, image source, chunk length, renderer options.
        catalog: a :class:`~vidpipe.library.catalog.Catalog` to record images in.
        progress: called as ``progress(stage, done, total)``; stages are ``speech``
            or ``transcript``, ``chunks``, ``images``, ``render``.

    Returns:
        The result, with the names of the stages reused from the work folder.

    Raises:
        InputError: missing/unreadable input, empty text.
        MediaError / NoAudioError: a recording that does not decode; a text that is
            binary or not UTF-8, a damaged, encrypted or scanned (text-less) PDF.
        ModelError: unknown voice, or no voice for the language.
        UsageError: bad options (image spec, sizes...).
        RemoteError: an image endpoint failed.
        OutputError: the output or work folder cannot be written.
    """
    from vidpipe.text.chunking import chunk_transcript
    from vidpipe.vision.imagegen import get_image_generator
    from vidpipe.writers import JsonWriter

    opts = options or NarrateOptions()
    opts.render.check()
    src = check_readable_file(input_path)
    is_text = is_document(src)
    # A text is read (and a bad one refused) before anything is written.
    document = read_document(src) if is_text else None
    out = Path(output)
    work = Path(opts.work_dir) if opts.work_dir else out.with_name(out.name + ".work")
    ensure_dir(work, out if not opts.work_dir else None)  # OutputError (exit 7) names it
    manifest = _Manifest(work)
    reused: list[str] = []
    note = progress or (lambda stage, done, total: None)
    src_hash = sha256_file(src)

    # 1. speech (text) or transcript (recording) -> transcript.json
    transcript_path = work / "transcript.json"
    if is_text:
        from vidpipe.speech.tts import speak

        audio_path = work / "speech.wav"
        key = _key("speech", src_hash, opts.voice, opts.language, __version__)
        if manifest.fresh("speech", key, [audio_path, transcript_path]):
            reused.append("speech")
        else:
            text = document.text if document is not None else ""
            language = opts.language
            if language is None and opts.voice is None:
                from vidpipe.vision.imagegen import guess_language

                # Chinese, Japanese, Korean or Russian script: an espeak-ng voice, not joe.
                language = guess_language(text)
            result = speak(
                text,
                audio_path,
                voice=opts.voice,
                language=language,
                progress=lambda d, t: note("speech", d, t),
            )
            JsonWriter().write(result.to_transcript(), transcript_path)
            manifest.done("speech", key)
    else:
        from vidpipe.speech.transcribe import transcribe

        audio_path = src
        key = _key("transcript", src_hash, opts.model, opts.language, __version__)
        if manifest.fresh("transcript", key, [transcript_path]):
            reused.append("transcript")
        else:
            tr = transcribe(
                src,
                model=opts.model or "base",
                language=opts.language,
                progress=lambda d, t: note("transcript", d, t),
            )
            if not tr.segments:
                raise InputError(
                    f"{src}: no speech found to narrate", "give a recording with speech"
                )
            JsonWriter().write(tr, transcript_path)
            manifest.done("transcript", key)
    transcript = Transcript.model_validate_json(transcript_path.read_text(encoding="utf-8"))

    # 2. chunks (cheap; always recomputed so a new --max-chunk takes effect)
    if opts.max_chunk <= 0:
        raise UsageError("--max-chunk must be positive (seconds)")
    chunks = _merge_short(chunk_transcript(transcript, max_duration=opts.max_chunk), transcript)
    if not chunks:
        raise InputError(f"{src}: nothing to narrate (no text)", "check the input")
    _save_json(work / "chunks.json", [c.model_dump(mode="json") for c in chunks])
    note("chunks", len(chunks), len(chunks))

    # 3. images, one per chunk (the generator reuses matching PNGs itself)
    kwargs = dict(opts.image_kwargs)
    kwargs.setdefault("width", opts.render.width)
    kwargs.setdefault("height", opts.render.height)
    if not is_text:
        kwargs.setdefault("source_video", str(src))
    elif opts.images.strip().lower() == "frames":
        raise UsageError(
            "--images frames needs a video input", "use cards, folder:DIR, sdwebui or openai"
        )
    generator = get_image_generator(opts.images, **kwargs)
    generated = generator.generate(
        chunks,
        work / "images",
        language=transcript.language or opts.language,
        progress=lambda d, t: note("images", d, t),
        catalog=catalog,
    )
    _save_json(
        work / "prompts.json",
        [
            {
                "chunk": g.chunk_id,
                "image": str(g.path),
                "prompt": g.prompt,
                "generator": g.generator,
            }
            for g in generated
        ],
    )

    # 4. render: slides change at chunk starts; subtitles from the transcript
    starts = [c.start for c in chunks]
    starts[0] = 0.0
    result = render_slideshow(
        [g.path for g in generated],
        out,
        audio=audio_path,
        starts=starts,
        subtitles=transcript,
        music=opts.music,
        options=opts.render,
        progress=lambda d, t: note("render", d, t),
    )
    return NarrateResult(
        output=out,
        work_dir=work,
        transcript=transcript,
        chunks=chunks,
        images=[Path(g.path) for g in generated],
        render=result,
        reused=reused,
    )
