"""The ``speak`` stage: text to speech with its transcript."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from vidpipe.text.documents import read_document, read_text_argument
from vidpipe.types import Names

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.speech.tts import SpeechResult


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


# --------------------------------------------------------------------------- the command's work


def _noop(*_args: Any) -> None:
    return None


@dataclass
class SpokenText:
    """What :func:`speak_text` made: the speech (sentences with times), the voice's
    name, the wall time in seconds, and the timings file (if asked for)."""

    result: SpeechResult
    voice: str
    wall: float
    timings: Path | None = None


def speak_text(
    text: str,
    output: str | os.PathLike[str],
    *,
    voice: str | None = None,
    language: str | None = None,
    threads: int | None = None,
    timings: str | os.PathLike[str] | None = None,
    on_read: Callable[[], None] = _noop,
    on_voice: Callable[[str], None] = _noop,
    progress: Callable[[float, float], None] | None = None,
) -> SpokenText:
    """Speak ``text`` (the text itself, a .txt/.md/.pdf file, or ``-`` for standard
    input: :func:`vidpipe.text.documents.read_text_argument`) into ``output`` (.wav,
    .flac, .mp3, .m4a) with :func:`vidpipe.speech.tts.speak`.

    Args:
        voice, language: :func:`vidpipe.speech.tts.get_voice` (default ``joe``; not
            English without a voice: espeak-ng).
        threads: CPU threads for the voice.
        timings: also write the sentence times there (.json, .srt, .vtt or .tsv).
        on_read(): the text is read (a bad one raises before); the voice loads next.
        on_voice(name): the voice is loaded.
        progress(done, total): sentences spoken.

    Raises:
        InputError: an empty or unreadable text. ModelError: no such voice.
        OutputError: a file cannot be written.
    """
    # imported here for start-up time: NumPy, ASR/TTS engines
    from vidpipe.speech.tts import get_voice, speak, write_sentences

    words = read_text_argument(text).text
    on_read()
    v = get_voice(voice, language, threads=threads)
    on_voice(v.name)
    t0 = time.perf_counter()
    result = speak(words, output, voice=v, progress=progress)
    wall = time.perf_counter() - t0
    if timings is not None:
        write_sentences(result, timings)
    return SpokenText(result, v.name, wall, Path(timings) if timings is not None else None)
