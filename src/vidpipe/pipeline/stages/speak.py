"""The ``speak`` stage: text to speech with its transcript."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from vidpipe.errors import InputError
from vidpipe.pipeline.models import voice
from vidpipe.pipeline.stages.base import (
    TRANSCRIPT_ARTIFACT,
    Stage,
    StageContext,
    StageInputs,
    StageOptions,
    StageResult,
)
from vidpipe.text.documents import read_document
from vidpipe.types import Names


class SpeakStage(Stage):
    """Text (given, or a .txt/.md/.pdf file) to speech: ``speech.wav`` and the sentence
    times as ``transcript.json`` (the subtitles and slides of a render)."""

    name = "speak"
    cacheable = True
    takes = ("text", "file")

    class Options(StageOptions):
        voice: Annotated[str | None, Names("voice")] = Field(
            None, description="joe, espeak:LANG or a Piper .onnx file"
        )
        language: str | None = Field(None, description="ISO 639-1; None: guessed from text")

    def run(self, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
        # imported here for start-up time: NumPy, ASR/TTS engines, pysubs2, PyAV
        from vidpipe.speech.tts import speak
        from vidpipe.writers import JsonWriter

        if inputs.given.text and inputs.given.text.strip():
            text = inputs.given.text
        elif inputs.given.path:
            text = read_document(inputs.file(inputs.given.path)).text
        else:
            raise InputError("no text to speak", "give a text or a .txt/.md/.pdf file")
        language = options.language
        if language is None and options.voice is None:
            # imported here for start-up time: PyAV, NumPy
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
