"""The ``transcribe`` stage: speech to text, stored on the media item."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from vidpipe.config import get_settings
from vidpipe.errors import UsageError
from vidpipe.pipeline.models import asr_engine
from vidpipe.pipeline.stages.base import (
    TRANSCRIPT_ARTIFACT,
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.text.script import check_script
from vidpipe.types import Names


def _settings_model() -> str:
    return get_settings().model


def _settings_script() -> str:
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

    class Options(StageOptions):
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
        # imported here for start-up time: NumPy, ASR/TTS engines
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
        # imported here for start-up time: NumPy, ASR/TTS engines, pysubs2, PyAV
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
        if made is not None:  # transcribed ahead, packed with the other files of its group
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
            ctx.catalog.save_transcript(mid, tr, self.options_hash(options))
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
