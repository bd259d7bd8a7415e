"""The one registry of stages: each wraps the building block that does the work.

=============  ============================================  ===============================
kind           wraps                                         artifacts (in the job folder)
=============  ============================================  ===============================
``probe``      :func:`vidpipe.media.probe.probe`             none (the result is MediaInfo)
``audio``      :func:`vidpipe.media.audio.extract_audio`     ``audio.<format>``
``transcribe`` :func:`vidpipe.speech.transcribe.transcribe`  ``transcript.json``
``summarize``  :func:`~vidpipe.library.understanding.summarize_media`  ``summary.summary.md/json``
``chapters``   :func:`~vidpipe.library.understanding.chapters_media`   ``chapters.chapters.*``
``describe``   :func:`~vidpipe.library.understanding.describe_media`   ``describe/...``
``speak``      :func:`vidpipe.speech.tts.speak`              ``speech.wav``, ``transcript.json``
``images``     one ``generate`` call of an image generator   ``images/<generator>-NNN.png``
``render``     :func:`vidpipe.media.render.render_slideshow` ``video.mp4`` (``.srt``)
``embed``      :func:`vidpipe.pipeline.embed.embed_one`      ``embedding.npy`` (raw vector)
=============  ============================================  ===============================

``topics`` (a run over the whole catalog) and ``narrate`` (a chain of speak or
transcribe, images and render) are not stages yet.

Models are loaded once per process: the ASR engine and the voice are cached by the
options that build them (:func:`asr_engine`, :func:`voice`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidpipe.errors import InputError, UsageError
from vidpipe.pipeline.stages import (
    TRANSCRIPT_ARTIFACT,
    Stage,
    StageContext,
    StageInputs,
    StageResult,
)

__all__ = ["STAGES", "asr_engine", "get_stage", "stage_names", "voice"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- model caches

_lock = threading.Lock()
_engines: dict[tuple[str, int | None], Any] = {}
_voices: dict[tuple[str | None, str | None, int | None], Any] = {}


def asr_engine(model: str, threads: int | None = None):
    """The faster-whisper engine for ``model`` and ``threads``, built once per process.

    Raises:
        ModelError: the model cannot be found or loaded.
    """
    from vidpipe.speech.transcribe import get_engine

    key = (model, threads)
    with _lock:
        if key not in _engines:
            _engines[key] = get_engine("faster-whisper", model=model, threads=threads)
        return _engines[key]


def voice(name: str | None, language: str | None, threads: int | None = None):
    """The TTS voice for ``name``/``language`` (:func:`vidpipe.speech.tts.get_voice`),
    built once per process.

    Raises:
        ModelError, UsageError: see :func:`~vidpipe.speech.tts.get_voice`.
    """
    from vidpipe.speech.tts import get_voice

    key = (name, language, threads)
    with _lock:
        if key not in _voices:
            _voices[key] = get_voice(name, language, threads=threads)
        return _voices[key]


# --------------------------------------------------------------------------- media


class ProbeStage(Stage):
    """Container, duration and streams of a file (recorded on its media item)."""

    name = "probe"
    takes = ("media", "file")

    class Options(_Options):
        pass

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.media.probe import probe

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"probing {path.name}")
        info = probe(path)
        if mid is not None and ctx.catalog is not None:
            ctx.catalog.record_probe(mid, info)
        result = info.model_dump(mode="json")
        if mid is not None:
            result["media_id"] = mid
        return StageResult(result=result)


class AudioStage(Stage):
    """The audio track as a file (``extract-audio``)."""

    name = "audio"
    takes = ("media", "file")

    class Options(_Options):
        format: Literal["wav", "flac", "mp3", "m4a"] = "wav"
        sample_rate: int | None = Field(None, gt=0, le=384_000, description="Hz; None keeps it")
        channels: int | None = Field(None, ge=1, le=8, description="None keeps them")
        stream: int | None = Field(None, ge=0, description="audio stream index (0-based)")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.media.audio import audio_duration, extract_audio

        path, mid = inputs.source(ctx.catalog)
        out = extract_audio(
            path,
            ctx.path(f"audio.{options.format}"),
            sample_rate=options.sample_rate,
            channels=options.channels,
            stream=options.stream,
            progress=ctx.counter(f"extracting audio of {path.name}"),
        )
        seconds = audio_duration(out)
        if mid is not None and ctx.catalog is not None:
            ctx.catalog.set_duration(mid, seconds)
        result: dict[str, Any] = {"duration": seconds, "format": options.format}
        if mid is not None:
            result["media_id"] = mid
        return StageResult(result=result, artifacts=[ctx.relative(out)])


# --------------------------------------------------------------------------- speech


def _settings_model() -> str:
    from vidpipe.config import get_settings

    return get_settings().model


def _settings_script() -> str:
    from vidpipe.config import get_settings

    return get_settings().zh_script


class TranscribeStage(Stage):
    """Speech to text; the transcript is stored on the media item and written as
    ``transcript.json``.

    The options are the batch runner's transcribe options, so their hash is the same.
    A file that is not yet in the catalog is recorded there by content (sha256); an
    audio job's file is transcribed for that job's media item.
    """

    name = "transcribe"
    takes = ("media", "file", "dep:audio")

    class Options(_Options):
        model: str = Field(default_factory=_settings_model)
        language: str = "auto"
        task: Literal["transcribe", "translate"] = "transcribe"
        word_timestamps: bool = True
        beam_size: int = Field(5, ge=1, le=20)
        zh_script: str = Field(default_factory=_settings_script)

        @field_validator("language")
        @classmethod
        def _lower(cls, v: str) -> str:
            return (v or "auto").strip().lower()

        @field_validator("zh_script")
        @classmethod
        def _script(cls, v: str) -> str:
            from vidpipe.text.script import check_script

            try:
                return check_script(v)
            except UsageError as exc:
                raise ValueError(exc.message) from None

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.speech.transcribe import transcribe
        from vidpipe.writers import JsonWriter

        given_audio = (
            inputs.audio() if not inputs.given.path and inputs.given.media_id is None else None
        )
        if given_audio is not None:
            path, mid = given_audio, inputs.media_id()
        else:
            path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"loading {options.model}")
        engine = asr_engine(options.model, ctx.threads)
        tr = transcribe(
            path,
            engine=engine,
            language=options.language,
            task=options.task,
            word_timestamps=options.word_timestamps,
            beam_size=options.beam_size,
            progress=ctx.counter(f"transcribing {path.name}"),
            zh_script=options.zh_script,
        )
        tr.model = options.model
        if ctx.catalog is not None and mid is not None:
            ctx.catalog.save_transcript(mid, tr, self.options_hash(options))
        out = JsonWriter().write(tr, ctx.path(TRANSCRIPT_ARTIFACT))
        result: dict[str, Any] = {
            "language": tr.language,
            "duration": tr.duration,
            "model": tr.model,
            "segments": len(tr.segments),
        }
        if mid is not None:
            result["media_id"] = mid
        return StageResult(result=result, artifacts=[ctx.relative(out)])


class SpeakStage(Stage):
    """Text (given, or a .txt/.md/.pdf file) to speech: ``speech.wav`` and the sentence
    times as ``transcript.json`` (the subtitles and slides of a render)."""

    name = "speak"
    takes = ("text", "file")

    class Options(_Options):
        voice: str | None = Field(None, description="joe, espeak:LANG or a Piper .onnx file")
        language: str | None = Field(None, description="ISO 639-1; None: guessed from text")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.speech.tts import speak
        from vidpipe.writers import JsonWriter

        if inputs.given.text and inputs.given.text.strip():
            text = inputs.given.text
        elif inputs.given.path:
            from vidpipe.text.documents import read_document

            text = read_document(inputs.given.path).text
        else:
            raise InputError("no text to speak", "give a text or a .txt/.md/.pdf file")
        language = options.language
        if language is None and options.voice is None:
            from vidpipe.vision.imagegen import guess_language

            language = guess_language(text)  # Chinese, Russian...: an espeak-ng voice
        ctx.progress(0.0, "loading voice")
        v = voice(options.voice, language, ctx.threads)
        res = speak(text, ctx.path("speech.wav"), voice=v, progress=ctx.counter("speaking"))
        tr_path = JsonWriter().write(res.to_transcript(), ctx.path(TRANSCRIPT_ARTIFACT))
        return StageResult(
            result={
                "duration": res.duration,
                "voice": res.voice,
                "language": res.language,
                "sample_rate": res.sample_rate,
                "sentences": len(res.sentences),
            },
            artifacts=["speech.wav", ctx.relative(tr_path)],
        )


# --------------------------------------------------------------------------- understanding


class _TextOptions(_Options):
    backend: Literal["extractive", "openai"] = "extractive"
    llm_base: str | None = None
    llm_model: str | None = None
    max_chunk: float = Field(60.0, gt=0, description="seconds")
    language: str | None = None
    zh_script: str | None = None

    def text_options(self):
        from vidpipe.library.understanding import TextOptions

        return TextOptions(**self.model_dump())


class SummarizeStage(Stage):
    """Summary of a media item's transcript (stored in the catalog; cached by options)."""

    name = "summarize"
    takes = ("media", "dep:transcribe")
    Options = _TextOptions

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import summarize_media, write_summary

        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"summarizing item {mid}")
        summary, computed = summarize_media(cat, mid, options=options.text_options())
        paths = write_summary(summary, ctx.work_dir, "summary")
        result = summary.model_dump(mode="json") | {"media_id": mid, "computed": computed}
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in paths])


class ChaptersStage(Stage):
    """Chapters of a media item's transcript (stored in the catalog; cached by options)."""

    name = "chapters"
    takes = ("media", "dep:transcribe")
    Options = _TextOptions

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import chapters_media, write_chapters

        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"chapters of item {mid}")
        chapters, computed = chapters_media(cat, mid, options=options.text_options())
        paths = write_chapters(chapters, ctx.work_dir, "chapters")
        result = {
            "media_id": mid,
            "computed": computed,
            "chapters": [c.model_dump(mode="json") for c in chapters],
        }
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in paths])


def _media_item(ctx: StageContext, inputs: StageInputs, kind: str):
    mid = inputs.media_id()
    if mid is None or ctx.catalog is None:
        raise InputError(
            f"a {kind} job needs a catalog item with a transcript",
            "give a media item id, or depend on a transcribe job",
        )
    return mid, ctx.catalog


class DescribeStage(Stage):
    """Scenes of a video: keyframes, on-screen text, what is said (and seen, with a
    vision endpoint); ``describe/scenes.json`` and ``scenes.md``."""

    name = "describe"
    takes = ("media", "file", "dep:transcribe")

    class Options(_Options):
        vlm_base: str | None = None
        vlm_model: str | None = None
        frames_per_scene: int = Field(1, ge=1, le=16)
        model: str | None = Field(None, description="ASR model when a transcript is needed")
        language: str | None = None

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import describe_media, resolve_video

        if ctx.catalog is None:
            raise InputError("a describe job needs a catalog", "run it from a job store")
        path, mid = inputs.source(ctx.catalog)
        target = str(path) if mid is None else str(mid)
        ctx.progress(0.0, f"describing {path.name}")
        mid, tr, _stem, path = resolve_video(ctx.catalog, target, options.model, options.language)
        out = ctx.path("describe/scenes.json").parent
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


# --------------------------------------------------------------------------- video


class ImagesStage(Stage):
    """One image generator call: a picture per chunk of the dependency's transcript
    (a speak or transcribe job), or one picture of the given text."""

    name = "images"
    takes = ("text", "dep:speak", "dep:transcribe")

    class Options(_Options):
        generator: str = Field("cards", description="cards, folder:DIR, frames, sdwebui, openai")
        width: int = Field(1920, ge=64, le=8192)
        height: int = Field(1080, ge=64, le=8192)
        max_chunk: float = Field(20.0, gt=0, description="longest chunk (slide), seconds")
        language: str | None = None

        @field_validator("generator")
        @classmethod
        def _known(cls, v: str) -> str:
            from vidpipe.vision.imagegen import GENERATOR_SPECS

            kind = v.strip().partition(":")[0].lower()
            if kind not in {s.partition(":")[0] for s in GENERATOR_SPECS}:
                raise ValueError(
                    f"unknown image source '{v}'; use one of {', '.join(GENERATOR_SPECS)}"
                )
            return v.strip()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.text.chunking import chunk_transcript
        from vidpipe.types import Chunk
        from vidpipe.vision.imagegen import get_image_generator

        tr = inputs.transcript()
        if inputs.given.text and inputs.given.text.strip():
            chunks = [Chunk(id=0, start=0.0, end=0.0, text=inputs.given.text.strip())]
            language = options.language
        elif tr is not None:
            chunks = chunk_transcript(tr, max_duration=options.max_chunk)
            language = options.language or tr.language
        else:
            raise InputError("an images job needs a text or a transcript", "give a text")
        if not chunks:
            raise InputError("nothing to draw: the transcript has no text", "check the input")
        kwargs: dict[str, Any] = {"width": options.width, "height": options.height}
        if inputs.given.path:
            kwargs["source_video"] = inputs.given.path
        gen = get_image_generator(options.generator, **kwargs)
        made = gen.generate(
            chunks,
            ctx.path("images/x").parent,
            language=language,
            progress=ctx.counter("images"),
            catalog=ctx.catalog,
            media_id=inputs.media_id(),
        )
        return StageResult(
            result={
                "images": [
                    g.model_dump(mode="json", exclude={"path"}) | {"path": ctx.relative(g.path)}
                    for g in made
                ]
            },
            artifacts=[ctx.relative(g.path) for g in made],
        )


class RenderStage(Stage):
    """Slides (given, or the images jobs' pictures in ``depends_on`` order) and a
    narration (given, or the speak/audio job's) into an MP4; subtitles from the speak
    or transcribe job's transcript."""

    name = "render"
    takes = ("images", "dep:images")

    class Options(_Options):
        output: str = Field("video.mp4", description="file name in the job folder")
        width: int = 1920
        height: int = 1080
        fps: float = 24.0
        slide_duration: float = 3.0
        transition: str = "crossfade"
        transition_duration: float = 0.5
        ken_burns: bool = True
        zoom: float = 1.1
        motion: str = "vary"
        fit: str = "fit"
        subtitles: str = Field("burn", description="burn, soft, both or none")
        font: str | None = None
        crf: int = 20
        preset: str = "medium"
        durations: list[float] | None = None
        starts: list[float] | None = None

        @field_validator("output")
        @classmethod
        def _name(cls, v: str) -> str:
            if Path(v).name != v or Path(v).suffix.lower() not in (".mp4", ".m4v", ".mov"):
                raise ValueError("give a file name ending in .mp4, .m4v or .mov")
            return v

        @model_validator(mode="after")
        def _check(self):
            try:
                self.render_options().check()
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

        def render_options(self):
            from vidpipe.media.render import RenderOptions
            from vidpipe.media.subtitles import SubtitleStyle

            fields = self.model_dump(exclude={"output", "font", "durations", "starts"})
            return RenderOptions(**fields, style=SubtitleStyle(font=self.font))

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.media.render import render_slideshow

        images = inputs.images()
        if not images:
            raise InputError("a render job has no images", "depend on images jobs")
        cues = inputs.transcript() if options.subtitles != "none" else None
        res = render_slideshow(
            images,
            ctx.path(options.output),
            audio=inputs.audio(),
            durations=options.durations,
            starts=options.starts,
            subtitles=cues,
            options=options.render_options(),
            progress=ctx.counter("rendering"),
        )
        artifacts = [ctx.relative(res.output)]
        if res.srt is not None:
            artifacts.append(ctx.relative(res.srt))
        return StageResult(
            result={
                "duration": res.duration,
                "frames": res.frames,
                "width": res.width,
                "height": res.height,
                "fps": res.fps,
                "slides": len(images),
                "audio_duration": res.audio_duration,
            },
            artifacts=artifacts,
        )


# --------------------------------------------------------------------------- embeddings


def _embed_options():
    from vidpipe.pipeline.embed import EmbedOptions

    return EmbedOptions


class EmbedStage(Stage):
    """An audio embedding vector of a media item or file (stored in the catalog with
    the processing facts; cached by options) and ``embedding.npy`` (the raw float32
    vector)."""

    name = "embed"
    takes = ("media", "file", "dep:audio")
    Options = _embed_options()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        import io

        import numpy as np

        from vidpipe.files import write_files_together
        from vidpipe.pipeline.embed import embed_audio, embed_one

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"embedding {path.name}")
        if ctx.catalog is not None and mid is not None:
            row_id = embed_one(ctx.catalog, mid, options, ctx.threads)
            row = ctx.catalog.embedding(mid, options.key())
            vec = np.frombuffer(row.vector, dtype="<f4")
            facts = {"duration": row.duration, "channels": row.channels, "row": row_id}
        else:
            vec = embed_audio(path, options.model, options.pool, layer=options.layer)
            facts = {}
        buf = io.BytesIO()
        np.save(buf, vec.astype("<f4"), allow_pickle=False)
        out = ctx.path("embedding.npy")
        write_files_together({out: buf.getvalue()})
        result: dict[str, Any] = {"encoder": options.model, "pool": options.pool}
        result |= {"dim": int(vec.shape[0]), "options_hash": options.key()} | facts
        if mid is not None:
            result["media_id"] = mid
        ctx.progress(1.0, f"embedded {path.name}")
        return StageResult(result=result, artifacts=[ctx.relative(out)])


# --------------------------------------------------------------------------- the registry

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        ProbeStage(),
        AudioStage(),
        TranscribeStage(),
        SummarizeStage(),
        ChaptersStage(),
        DescribeStage(),
        SpeakStage(),
        ImagesStage(),
        RenderStage(),
        EmbedStage(),
    )
}


def stage_names() -> list[str]:
    """The registered job kinds, in pipeline order."""
    return list(STAGES)


def get_stage(kind: str) -> Stage:
    """The stage named ``kind``.

    Raises:
        UsageError: no such stage.
    """
    try:
        return STAGES[kind]
    except KeyError:
        raise UsageError(f"unknown job kind '{kind}'", f"use one of: {', '.join(STAGES)}") from None
