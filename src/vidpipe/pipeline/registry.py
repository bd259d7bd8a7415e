"""The one registry of stages: each wraps the building block that does the work.

=============  ============================================  ===============================
kind           wraps                                         artifacts (in the job folder)
=============  ============================================  ===============================
``download``   :mod:`vidpipe.library.download` (one URL)     none (the file goes to ``dest``;
                                                             ``into_job``: the file itself)
``probe``      :func:`vidpipe.media.probe.probe`             none (the result is MediaInfo)
``audio``      :func:`vidpipe.media.audio.extract_audio`     ``audio.<format>``
``transcribe`` :func:`vidpipe.speech.transcribe.transcribe`  ``transcript.json``
``summarize``  :func:`~vidpipe.library.understanding.summarize_media`  ``summary.summary.md/json``
``chapters``   :func:`~vidpipe.library.understanding.chapters_media`   ``chapters.chapters.*``
``describe``   :func:`~vidpipe.library.understanding.describe_media`   ``scenes.json``...
``embed``      :func:`vidpipe.pipeline.embed.embed_one`      ``embedding.npy`` (raw vector)
``speak``      :func:`vidpipe.speech.tts.speak`              ``speech.wav``, ``transcript.json``
``images``     one ``generate`` call of an image generator   ``images/<generator>-NNN.png``
``topics``     :func:`~vidpipe.pipeline.understand.catalog_topics` ``topics.json``, ``topics.md``
``render``     :func:`vidpipe.media.render.render_slideshow` ``video.mp4`` (``.srt``)
``narrate``    :func:`vidpipe.pipeline.narrate.narrate`: the  ``narrated.mp4`` (``.srt``),
               chain speak or transcribe, images, render      ``work/...``
=============  ============================================  ===============================

``topics`` is a run over the catalog's items (or a selection of them); ``narrate``
runs its chain in-process through the stage cache (:mod:`vidpipe.pipeline.cache`).

The media steps (``download`` then the stages with ``media_step``: probe, audio,
transcribe, summarize, chapters, describe, embed) are what ``vidpipe run`` and ``vidpipe
submit`` chain per input line, in this order (:func:`media_steps`);
:func:`run_stage` runs one of them the same way for both, skipping the stages that
need an audio track on a file without one (:data:`~vidpipe.pipeline.stages.NO_AUDIO`).

Models are loaded once per process: the ASR engine and the voice are cached by the
options that build them (:func:`asr_engine`, :func:`voice`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidpipe.errors import InputError, NoAudioError, RemoteError, UsageError, VidpipeError
from vidpipe.pipeline.stages import (
    NO_AUDIO,
    TRANSCRIPT_ARTIFACT,
    Stage,
    StageContext,
    StageInputs,
    StageResult,
    StageSkipped,
)
from vidpipe.types import Chunk, Names, ParamsOf

__all__ = [
    "STAGES",
    "DownloadFailed",
    "asr_engine",
    "get_stage",
    "has_no_audio",
    "media_steps",
    "run_stage",
    "stage_names",
    "voice",
]


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
    from vidpipe.config import get_settings
    from vidpipe.speech.transcribe import get_engine

    key = (model, threads)
    with _lock:
        if key not in _engines:
            _engines[key] = get_engine(
                "faster-whisper", model=model, threads=threads, settings=get_settings()
            )
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


class DownloadFailed(RemoteError):
    """A download that failed after :mod:`vidpipe.library.download`'s own retries
    (``HTTP 404 Not Found``, ``HTML page, not media``...). Not retried as a job: the
    downloader already retried what was worth it, with back-off.

    Attributes:
        error: the downloader's short error class (``HTTPStatusError``, ``NotMedia``...).
    """

    retryable = False

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error or "DownloadError"


def _limit(name: str):
    def default():
        from vidpipe.library.download import DownloadLimits

        return getattr(DownloadLimits(), name)

    return default


class DownloadStage(Stage):
    """Download one URL (a direct media link with :func:`~vidpipe.library.download.
    download_many`, a page with yt-dlp) into ``dest`` and record the file by content
    (:func:`~vidpipe.library.ingest.record_by_content`), with the limits and URL
    policy of ``vidpipe run``. A file already complete at its destination (renamed
    into place by a killed job) is taken as it is; a ``.part`` is resumed.

    A file whose content another, earlier input line holds ends ``skipped`` with
    ``duplicate content of ...`` (the source row says so); so do the later jobs of its
    chain (:func:`~vidpipe.pipeline.chains.skip_reason`).

    With ``into_job`` the file goes into the job's own folder as its artifact and is not
    recorded in the catalog (a file the job only hands on: the slides and narration of
    a ``render`` given as URLs); a download that fails then leaves no partial file.
    ``images`` also accepts PNG/JPEG/WebP/GIF files (else only media containers).
    """

    name = "download"
    takes = ("url",)
    resource = "io"

    class Options(_Options):
        dest: Annotated[str | None, Names("folder")] = Field(
            None, description="folder; None: <storage root>/media"
        )
        retries: int = Field(default_factory=_limit("retries"), ge=0)
        connect_timeout: float = Field(default_factory=_limit("connect_timeout"), gt=0)
        read_timeout: float = Field(default_factory=_limit("read_timeout"), gt=0)
        max_bytes: int = Field(default_factory=_limit("max_bytes"), ge=1)
        deadline: float | None = Field(default_factory=_limit("deadline"), gt=0)
        min_speed: float = Field(default_factory=_limit("min_speed"), ge=0)
        speed_time: float = Field(default_factory=_limit("speed_time"), gt=0)
        rps_per_host: float | None = Field(None, gt=0)
        allow_private: bool = True
        images: bool = Field(False, description="also accept images (slides)")
        into_job: bool = Field(False, description="into the job folder, not recorded")

        @classmethod
        def from_limits(cls, limits: Any = None, dest: Any = None) -> dict[str, Any]:
            """The params for ``limits`` (a :class:`~vidpipe.library.download.
            DownloadLimits`; ``None``: the defaults) and ``dest`` (a folder)."""
            params: dict[str, Any] = {}
            if dest:
                params["dest"] = str(Path(dest).expanduser().absolute())
            if limits is not None:
                for name in cls.model_fields:
                    if name not in ("dest", "allow_private") and hasattr(limits, name):
                        params[name] = getattr(limits, name)
                params["allow_private"] = limits.url_policy.allow_private
            return params

        def limits(self):
            from vidpipe.library.download import DownloadLimits
            from vidpipe.library.urls import UrlPolicy

            fields = self.model_dump(exclude={"dest", "allow_private", "into_job"})
            return DownloadLimits(
                concurrency=1,
                per_host=1,
                **fields,
                url_policy=UrlPolicy(allow_private=self.allow_private),
            )

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        import asyncio

        from vidpipe.files import ensure_dir, sha256_file
        from vidpipe.library.download import download_many, download_page
        from vidpipe.library.ingest import record_by_content
        from vidpipe.library.urls import is_direct_media_url, redact_url, safe_filename

        url = (inputs.given.url or "").strip()
        if not url:
            raise InputError("a download job needs a URL", "give input.url")
        if options.into_job:
            folder = ctx.work_dir
        elif options.dest:
            folder = Path(options.dest)
        else:
            from vidpipe.pipeline.jobs import storage_root

            folder = (ctx.storage_root or storage_root()) / "media"
        ensure_dir(folder)
        limits = options.limits()
        ctx.progress(0.0, f"downloading {redact_url(url)}")
        dest = folder / safe_filename(url)
        # a file already at dest is adopted only when verified against the server's
        # length (download_many); else the download goes to a free name beside it
        digest: str | None = None
        if options.into_job or is_direct_media_url(url):  # a job's inputs: file URLs

            def bytes_in(_key: Any, done: int, total: int | None) -> None:
                ctx.progress(done / total if total else 0.0, None)  # also sees a cancel

            (res,) = download_many([(0, url, dest)], limits, on_progress=bytes_in)
        else:
            res = asyncio.run(download_page(url, folder, limits=limits))
        if res.status != "done" or res.path is None:
            if options.into_job:  # nothing of a failed download stays in the job folder
                import contextlib

                from vidpipe.library.download import part_path

                part_path(dest).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            reason = res.reason or res.error or "download failed"
            raise DownloadFailed(" ".join(redact_url(reason).split()), res.error)
        path, digest = Path(res.path), res.sha256
        if options.into_job:
            return StageResult(result={"path": str(path)}, artifacts=[ctx.relative(path)])
        if ctx.catalog is None:
            return StageResult(result={"path": str(path)})
        digest = digest or sha256_file(path)
        src = ctx.catalog.get_source(inputs.given.source_id) if inputs.given.source_id else None
        if src is None:
            media = ctx.catalog.media_by_sha256(digest)
            if media is None:
                media, _ = ctx.catalog.add_media(path.resolve(), digest, path.stat().st_size)
            return StageResult(result={"media_id": media.id, "path": str(path)})
        media, duplicate = record_by_content(ctx.catalog, src, path, digest, path.stat().st_size)
        if duplicate is not None:
            raise StageSkipped(duplicate, media.id)
        return StageResult(result={"media_id": media.id, "path": media.path})


class ProbeStage(Stage):
    """Container, duration and streams of a file (recorded on its media item)."""

    name = "probe"
    takes = ("media", "file")
    media_step = True
    in_all = True

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
    """The audio track as a file (``extract-audio``); its duration is recorded on the
    media item. Without job files (``vidpipe run``) only the duration is measured."""

    name = "audio"
    takes = ("media", "file")
    media_step = True
    in_all = True
    needs_audio = True

    class Options(_Options):
        format: Literal["wav", "flac", "mp3", "m4a"] = "wav"
        sample_rate: int | None = Field(None, gt=0, le=384_000, description="Hz; None keeps it")
        channels: int | None = Field(None, ge=1, le=8, description="None keeps them")
        stream: int | None = Field(None, ge=0, description="audio stream index (0-based)")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.media.audio import audio_duration, extract_audio

        path, mid = inputs.source(ctx.catalog)
        if not ctx.write_artifacts:
            ctx.progress(0.0, f"checking the audio of {path.name}")
            seconds = audio_duration(path)
            if mid is not None and ctx.catalog is not None:
                ctx.catalog.set_duration(mid, seconds)
            return StageResult(result={"duration": seconds, "media_id": mid})
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
    media_step = True
    in_all = True
    needs_audio = True

    class Options(_Options):
        model: Annotated[str, Names("model")] = Field(default_factory=_settings_model)
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

    @staticmethod
    def ahead(paths: list[Path], options: Any, threads: int | None = None) -> dict[str, Any]:
        """Transcribe several files at once with this stage's ``options`` (short ones
        share Whisper windows: :func:`vidpipe.speech.transcribe.transcribe_many`), for
        :attr:`StageContext.transcripts`.

        Returns:
            ``{resolved path: Transcript}``; a file that failed is left out (its own
            stage then runs on it and fails with the reason).

        Raises:
            ModelError: the model cannot be loaded.
        """
        from vidpipe.speech.transcribe import transcribe_many

        got = transcribe_many(
            paths,
            engine=asr_engine(options.model, threads),
            language=options.language,
            task=options.task,
            word_timestamps=options.word_timestamps,
            beam_size=options.beam_size,
            zh_script=options.zh_script,
        )
        return {
            str(Path(p).resolve()): tr
            for p, tr in zip(paths, got, strict=True)
            if not isinstance(tr, BaseException)
        }

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
        made = (ctx.transcripts or {}).pop(str(Path(path).resolve()), None)
        if made is not None:  # transcribed ahead, packed with other files of the run
            tr = made
            ctx.progress(1.0, f"transcribed {path.name}")
        else:
            ctx.progress(0.0, f"loading {options.model}")
            tr = transcribe(
                path,
                engine=asr_engine(options.model, ctx.threads),
                language=options.language,
                task=options.task,
                word_timestamps=options.word_timestamps,
                beam_size=options.beam_size,
                progress=ctx.counter(f"transcribing {path.name}"),
                zh_script=options.zh_script,
            )
        tr.model = options.model
        if ctx.catalog is not None and mid is not None:
            ctx.catalog.save_transcript(mid, tr, self.options_hash(options), owner=ctx.stage_owner)
        result: dict[str, Any] = {
            "language": tr.language,
            "duration": tr.duration,
            "model": tr.model,
            "segments": len(tr.segments),
        }
        if mid is not None:
            result["media_id"] = mid
        if not ctx.write_artifacts:
            return StageResult(result=result)
        out = JsonWriter().write(tr, ctx.path(TRANSCRIPT_ARTIFACT))
        return StageResult(result=result, artifacts=[ctx.relative(out)])


class SpeakStage(Stage):
    """Text (given, or a .txt/.md/.pdf file) to speech: ``speech.wav`` and the sentence
    times as ``transcript.json`` (the subtitles and slides of a render)."""

    name = "speak"
    cacheable = True
    takes = ("text", "file")

    class Options(_Options):
        voice: Annotated[str | None, Names("voice")] = Field(
            None, description="joe, espeak:LANG or a Piper .onnx file"
        )
        language: str | None = Field(None, description="ISO 639-1; None: guessed from text")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.speech.tts import speak
        from vidpipe.writers import JsonWriter

        if inputs.given.text and inputs.given.text.strip():
            text = inputs.given.text
        elif inputs.given.path:
            from vidpipe.text.documents import read_document

            text = read_document(inputs.file(inputs.given.path)).text
        else:
            raise InputError("no text to speak", "give a text or a .txt/.md/.pdf file")
        language = options.language
        if language is None and options.voice is None:
            from vidpipe.text.language import guess_language

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
    llm_base: Annotated[str | None, Names("url")] = None
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
    media_step = True
    needs_audio = True
    builds_on = ("transcribe",)

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import summarize_media, write_summary

        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"summarizing item {mid}")
        summary, computed = summarize_media(cat, mid, options=options.text_options())
        paths = write_summary(summary, ctx.work_dir, "summary") if ctx.write_artifacts else []
        result = summary.model_dump(mode="json") | {"media_id": mid, "computed": computed}
        return StageResult(result=result, artifacts=[ctx.relative(p) for p in paths])


class ChaptersStage(Stage):
    """Chapters of a media item's transcript (stored in the catalog; cached by options)."""

    name = "chapters"
    takes = ("media", "dep:transcribe")
    Options = _TextOptions
    media_step = True
    needs_audio = True
    builds_on = ("transcribe",)

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import chapters_media, write_chapters

        mid, cat = _media_item(ctx, inputs, self.name)
        ctx.progress(0.0, f"chapters of item {mid}")
        chapters, computed = chapters_media(cat, mid, options=options.text_options())
        paths = write_chapters(chapters, ctx.work_dir, "chapters") if ctx.write_artifacts else []
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
    vision endpoint); ``scenes.json`` and ``scenes.md`` in the job folder (in ``vidpipe
    run``: the item's folder). A catalog item that is audio only has nothing to see:
    it succeeds with ``{"scenes": 0, "video": false}``."""

    name = "describe"
    takes = ("media", "file", "dep:transcribe")
    media_step = True
    builds_on = ("transcribe",)

    class Options(_Options):
        vlm_base: Annotated[str | None, Names("url")] = None
        vlm_model: str | None = None
        frames_per_scene: int = Field(1, ge=1, le=16)
        model: Annotated[str | None, Names("model")] = Field(
            None, description="ASR model when a transcript is needed"
        )
        language: str | None = None

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.library.understanding import describe_media, resolve_video

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


class TopicsStage(Stage):
    """Topics over the catalog's items (:func:`vidpipe.pipeline.understand.catalog_topics`):
    the given items (``ids``) or every item with a transcript or scenes, narrowed by the
    selection options; ``topics.json`` and ``topics.md`` in the job folder. The result
    is the topics, how many items took part and the items left out with their reason."""

    name = "topics"
    takes = ()

    class Options(_Options):
        ids: list[int] | None = Field(None, description="item ids (None: every item)")
        n_topics: int | None = Field(None, ge=1, description="None: chosen from the data")
        llm_base: Annotated[str | None, Names("url")] = Field(
            None, description="chat endpoint that names topics"
        )
        llm_model: str | None = None
        shortest: int | None = Field(None, ge=1)
        longest: int | None = Field(None, ge=1)
        min_duration: float | None = Field(None, ge=0, description="seconds")
        max_duration: float | None = Field(None, ge=0, description="seconds")
        language: str | None = None

        @model_validator(mode="after")
        def _check(self):
            try:
                self.selection()
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

        def selection(self):
            from vidpipe.library.select import Selection

            return Selection(
                shortest=self.shortest,
                longest=self.longest,
                min_duration=self.min_duration,
                max_duration=self.max_duration,
                language=self.language,
            )

    def check_input(self, given, dep_kinds) -> None:
        """A topics job works on the catalog: it needs no input."""

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.pipeline.understand import catalog_topics

        if ctx.catalog is None:
            raise InputError("a topics job needs a catalog", "run it from a job store")
        ctx.progress(0.0, "topics")
        found = catalog_topics(
            ctx.catalog,
            items=options.ids,
            selection=options.selection(),
            n_topics=options.n_topics,
            llm_base=options.llm_base,
            llm_model=options.llm_model,
            out_dir=ctx.work_dir,
        )
        return StageResult(
            result={
                "topics": [t.model_dump(mode="json") for t in found.topics],
                "n_items": found.n_items,
                "left_out": [{"media_id": m, "reason": r} for m, r in found.left_out],
            },
            artifacts=[ctx.relative(p) for p in found.paths],
        )


# --------------------------------------------------------------------------- video


def _settings_llm(name: str):
    def default() -> str | None:
        from vidpipe.config import get_settings

        return getattr(get_settings(), name, None)

    return default


def merge_short_chunks(chunks: list[Chunk], end: float, min_slide: float) -> list[Chunk]:
    """Chunks whose slide would last under ``min_slide`` seconds (to the next chunk's
    start, the last one to ``end``) merged into the one before, renumbered from 0.

    Args:
        chunks: in time order (seconds).
        end: when the last slide ends (the narration's duration), seconds.
        min_slide: shortest slide in seconds (0: keep every chunk).
    """
    out: list[Chunk] = []
    for i, c in enumerate(chunks):
        nxt = chunks[i + 1].start if i + 1 < len(chunks) else end
        if out and nxt - c.start < min_slide:
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


def _artifact(ctx: StageContext, path: Path) -> str:
    """``path`` relative to the job folder, or absolute when it lies outside it (the
    user's own images of ``folder:DIR``)."""
    try:
        return ctx.relative(path)
    except ValueError:
        return str(Path(path).resolve())


class ImagesStage(Stage):
    """One image generator call: a picture per chunk of the dependency's transcript
    (a speak or transcribe job), or one picture of the given text.

    Chunks are :func:`~vidpipe.text.chunking.chunk_transcript`'s (``max_chunk``
    seconds at most, a heading opening a new one), those shorter than ``min_slide``
    merged into the one before (:func:`merge_short_chunks`); the result lists them
    (``chunks``) with the images.
    Prompts are written by the chat endpoint ``llm_base`` when there is one (default
    VIDPIPE_LLM_BASE), its responses cached in the catalog.
    """

    name = "images"
    cacheable = True
    takes = ("text", "dep:speak", "dep:transcribe")

    class Options(_Options):
        generator: Annotated[str, Names("images")] = Field(
            "cards", description="cards, folder:DIR, frames, sdwebui, openai"
        )
        width: int = Field(1920, ge=64, le=8192)
        height: int = Field(1080, ge=64, le=8192)
        max_chunk: float = Field(20.0, gt=0, description="longest chunk (slide), seconds")
        min_slide: float = Field(0.0, ge=0, description="shortest slide, seconds (0: any)")
        language: str | None = None
        image_base: Annotated[str | None, Names("url")] = Field(
            None, description="sdwebui/openai endpoint URL"
        )
        image_model: str | None = Field(None, description="image model name (openai)")
        llm_base: Annotated[str | None, Names("url")] = Field(
            default_factory=_settings_llm("llm_base"), description="chat endpoint for prompts"
        )
        llm_model: str | None = Field(default_factory=_settings_llm("llm_model"))

        @field_validator("generator")
        @classmethod
        def _known(cls, v: str) -> str:
            from vidpipe.vision.images import GENERATOR_SPECS

            kind = v.strip().partition(":")[0].lower()
            if kind not in {s.partition(":")[0] for s in GENERATOR_SPECS}:
                raise ValueError(
                    f"unknown image source '{v}'; use one of {', '.join(GENERATOR_SPECS)}"
                )
            return v.strip()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.text.chunking import chunk_transcript
        from vidpipe.vision.images import get_image_generator

        tr = inputs.transcript()
        if inputs.given.text and inputs.given.text.strip():
            chunks = [Chunk(id=0, start=0.0, end=0.0, text=inputs.given.text.strip())]
            language = options.language
        elif tr is not None:
            from vidpipe.text.documents import looks_like_heading

            lang = options.language or tr.language
            chunks = chunk_transcript(  # a heading opens a slide
                tr,
                max_duration=options.max_chunk,
                break_before=lambda text: looks_like_heading(text, lang),
            )
            if options.min_slide and chunks:
                end = max(tr.duration, chunks[-1].end)
                chunks = merge_short_chunks(chunks, end, options.min_slide)
            language = options.language or tr.language
        else:
            raise InputError("an images job needs a text or a transcript", "give a text")
        if not chunks:
            raise InputError("nothing to draw: the transcript has no text", "check the input")
        from vidpipe.config import get_settings, merge_options

        settings = get_settings()  # the endpoints' settings, resolved here for the generator
        kwargs: dict[str, Any] = merge_options(
            settings.image_options(options.generator),
            base_url=options.image_base or None,
            model=options.image_model or None,
            width=options.width,
            height=options.height,
        )
        if inputs.given.path:
            kwargs["source_video"] = inputs.file(inputs.given.path)
        if options.llm_base:  # prompts from the LLM, its responses cached in the catalog
            from vidpipe.text.llm import OpenAIBackend

            kwargs["llm"] = OpenAIBackend(
                **merge_options(
                    settings.llm_options(),
                    base_url=options.llm_base,
                    model=options.llm_model,
                    catalog=ctx.catalog,
                )
            )
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
                    g.model_dump(mode="json", exclude={"path"}) | {"path": _artifact(ctx, g.path)}
                    for g in made
                ],
                "chunks": [c.model_dump(mode="json") for c in chunks],
            },
            artifacts=[_artifact(ctx, g.path) for g in made],
        )


def _video_name(v: str) -> str:
    """A bare video file name (``.mp4``, ``.m4v``, ``.mov``) for a job folder."""
    if Path(v).name != v or Path(v).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise ValueError("give a file name ending in .mp4, .m4v or .mov")
    return v


class RenderStage(Stage):
    """Slides (given, or the images jobs' pictures in ``depends_on`` order) and a
    narration (given, or the speak/audio job's) into an MP4; subtitles from the speak
    or transcribe job's transcript."""

    name = "render"
    cacheable = True
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
        font: Annotated[str | None, Names("font")] = None
        crf: int = 20
        preset: str = "medium"
        music_volume_db: float = Field(-14.0, description="background music level, dB")
        duck_db: float = Field(-12.0, description="extra music ducking under speech, dB")
        audio_bitrate: int = Field(160_000, gt=0, description="AAC bits per second")
        style: dict[str, Any] = Field(
            default_factory=dict, description="SubtitleStyle fields besides the font"
        )
        durations: list[float] | None = None
        starts: list[float] | None = None

        _name = field_validator("output")(classmethod(lambda cls, v: _video_name(v)))

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

            fields = self.model_dump(exclude={"output", "font", "durations", "starts", "style"})
            style = {k: tuple(v) if isinstance(v, list) else v for k, v in self.style.items()}
            try:
                look = SubtitleStyle(**style, font=self.font)
            except TypeError as exc:
                raise UsageError(f"bad subtitle style: {exc}") from None
            return RenderOptions(**fields, style=look)

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
            music=inputs.file(inputs.given.music) if inputs.given.music else None,
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
                "bounds": list(res.plan.bounds),
                "output": ctx.relative(res.output),
                "srt": ctx.relative(res.srt) if res.srt is not None else None,
                "seconds": res.seconds,
            },
            artifacts=artifacts,
        )


# --------------------------------------------------------------------------- embeddings


def _embed_options():
    from vidpipe.pipeline.embed import EmbedOptions

    return EmbedOptions


class EmbedStage(Stage):
    """An audio embedding vector of a media item or file, stored in the catalog with
    the processing facts and reused for the same options
    (:func:`~vidpipe.pipeline.embed.embed_one`), and, with job files, ``embedding.npy``
    (the raw float32 vector).

    A media step that ``--steps all`` does not choose (``in_all`` False: ``all`` keeps
    meaning ingest, probe, audio, transcribe; name ``embed`` to run it). It decodes the
    media file itself, so it builds on no other stage's result (``builds_on`` empty);
    a file without an audio track is ``skipped: no audio track``. A failure of a job
    outside a source's chain (``/encode_audio``) is recorded in the catalog's failures
    on its item, as ``vidpipe embed`` records them (a chain's failure is recorded with
    its source when the chain ends).
    """

    name = "embed"
    takes = ("media", "file", "dep:audio")
    media_step = True
    in_all = False
    needs_audio = True
    resource = "cpu"
    builds_on = ()
    Options = _embed_options()

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        import io

        import numpy as np

        from vidpipe.files import write_files_together
        from vidpipe.pipeline.embed import embed_audio, embed_one

        path, mid = inputs.source(ctx.catalog)
        ctx.progress(0.0, f"embedding {path.name}")
        seconds = ctx.counter(f"embedding {path.name}")  # audio seconds per window
        if ctx.catalog is not None and mid is not None:
            try:
                row_id = embed_one(ctx.catalog, mid, options, ctx.threads, progress=seconds)
            except VidpipeError as exc:
                if inputs.given.source_id is None:
                    ctx.catalog.record_failure(
                        "embed", type(exc).__name__, exc.one_line(), media_id=mid
                    )
                raise
            row = ctx.catalog.embedding(mid, options.key())
            vec = np.frombuffer(row.vector, dtype="<f4")
            facts = {"duration": row.duration, "channels": row.channels, "row": row_id}
        else:
            vec = embed_audio(
                path, options.model, options.pool, layer=options.layer, progress=seconds
            )
            facts = {}
        result: dict[str, Any] = {"encoder": options.model, "pool": options.pool}
        result |= {"dim": int(vec.shape[0]), "options_hash": options.key()} | facts
        if mid is not None:
            result["media_id"] = mid
        ctx.progress(1.0, f"embedded {path.name}")
        if not ctx.write_artifacts:  # vidpipe run: the catalog row is the result
            return StageResult(result=result)
        buf = io.BytesIO()
        np.save(buf, vec.astype("<f4"), allow_pickle=False)
        out = ctx.path("embedding.npy")
        write_files_together({out: buf.getvalue()})
        return StageResult(result=result, artifacts=[ctx.relative(out)])


class NarrateStage(Stage):
    """A text (given, or a .txt/.md/.pdf file) or a recording into a narrated video:
    the chain speak (or transcribe), images, render of this registry, run in-process
    through the stage cache (:func:`vidpipe.pipeline.narrate.narrate`). The work files
    go to ``work/`` in the job folder, the video to ``output``."""

    name = "narrate"
    takes = ("text", "file")

    class Options(_Options):
        output: str = Field("narrated.mp4", description="file name in the job folder")
        voice: Annotated[str | None, Names("voice")] = Field(
            None, description="joe, espeak:LANG or a Piper .onnx file"
        )
        language: str | None = None
        images: Annotated[str, Names("images")] = Field(
            "cards", description="cards, folder:DIR, frames, sdwebui, openai"
        )
        model: Annotated[str | None, Names("model")] = Field(
            None, description="ASR model for recordings (base)"
        )
        max_chunk: float = Field(20.0, gt=0, description="longest slide, seconds")
        image_base: Annotated[str | None, Names("url")] = None
        image_model: str | None = None
        llm_base: Annotated[str | None, Names("url")] = None
        llm_model: str | None = None
        render: Annotated[dict[str, Any], ParamsOf(lambda: RenderStage.Options)] = Field(
            default_factory=dict, description="render stage params (size, fps, subtitles...)"
        )

        _name = field_validator("output")(classmethod(lambda cls, v: _video_name(v)))

        @model_validator(mode="after")
        def _check(self):
            try:
                ImagesStage.Options(generator=self.images)
                RenderStage().parse_options(self.render | {"output": self.output})
            except UsageError as exc:
                raise ValueError(exc.message) from None
            return self

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        from vidpipe.pipeline.narrate import NarrateOptions, narrate

        if inputs.given.path:
            src = inputs.file(inputs.given.path)
        elif inputs.given.text and inputs.given.text.strip():
            src = ctx.path("work/text.txt")
            from vidpipe.files import atomic_write

            with atomic_write(src, encoding="utf-8") as fh:
                fh.write(inputs.given.text)
        else:
            raise InputError("no text or recording to narrate", "give a text or a file")
        ropts = RenderStage().parse_options(options.render | {"output": options.output})
        opts = NarrateOptions(
            voice=options.voice,
            language=options.language,
            images=options.images,
            model=options.model,
            max_chunk=options.max_chunk,
            music=inputs.file(inputs.given.music) if inputs.given.music else None,
            work_dir=ctx.path("work/x").parent,
            render=ropts.render_options(),
            image_base=options.image_base,
            image_model=options.image_model,
            llm_base=options.llm_base,
            llm_model=options.llm_model,
        )
        weights = {"speech": 0.3, "transcript": 0.3, "images": 0.2, "chunks": 0.0, "render": 0.5}
        base = {"speech": 0.0, "transcript": 0.0, "chunks": 0.3, "images": 0.3, "render": 0.5}

        def progress(stage: str, done: float, total: float) -> None:
            part = done / total if total else 0.0
            ctx.progress(base.get(stage, 0.0) + weights.get(stage, 0.0) * part, stage)

        res = narrate(
            src,
            ctx.work_dir / options.output,
            opts,
            catalog=ctx.catalog,
            progress=progress,
            threads=ctx.threads,
        )
        files = [res.output, *([res.render.srt] if res.render.srt else [])]
        work = [res.work_dir / n for n in ("transcript.json", "chunks.json", "prompts.json")]
        return StageResult(
            result={
                "duration": res.render.duration,
                "frames": res.render.frames,
                "width": res.render.width,
                "height": res.render.height,
                "fps": res.render.fps,
                "slides": len(res.chunks),
                "reused": res.reused,
            },
            artifacts=[ctx.relative(p) for p in [*files, *work, *res.images] if p.is_file()],
        )


# --------------------------------------------------------------------------- the registry

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        DownloadStage(),
        ProbeStage(),
        AudioStage(),
        TranscribeStage(),
        SummarizeStage(),
        ChaptersStage(),
        TopicsStage(),
        DescribeStage(),
        EmbedStage(),
        SpeakStage(),
        ImagesStage(),
        RenderStage(),
        NarrateStage(),
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


def media_steps() -> tuple[str, ...]:
    """The stages ``vidpipe run`` and ``vidpipe submit`` run on each catalog item
    (``media_step``), in pipeline order: probe, audio, transcribe, summarize,
    chapters, describe, embed."""
    return tuple(n for n, st in STAGES.items() if st.media_step)


def has_no_audio(media: Any) -> bool:
    """True if the probe recorded for ``media`` (a catalog media item) found no audio
    stream; False when it was not probed."""
    if media is None or not media.probe:
        return False
    return not any(st.get("type") == "audio" for st in media.probe.get("streams") or [])


def run_stage(stage: Stage, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
    """``stage.run`` as ``vidpipe run`` and a worker both call it: a stage that needs an
    audio track raises :class:`~vidpipe.pipeline.stages.StageSkipped` (``no audio
    track``) instead of running when the item's probe found no audio stream, or when
    decoding finds none (:class:`~vidpipe.errors.NoAudioError`).

    Raises:
        StageSkipped: nothing to do (see above, or the stage said so).
        VidpipeError: the stage failed.
    """
    if stage.needs_audio and ctx.catalog is not None:
        mid = inputs.media_id()
        if mid is not None and has_no_audio(ctx.catalog.get_media(mid)):
            raise StageSkipped(NO_AUDIO, mid)
    try:
        return stage.run(ctx, inputs, options)
    except NoAudioError:
        if not stage.needs_audio:
            raise
        raise StageSkipped(NO_AUDIO, inputs.media_id()) from None
