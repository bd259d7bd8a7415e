"""The work behind ``speak`` and ``render`` (``narrate`` is :mod:`vidpipe.pipeline.narrate`):
reading the text, loading the voice, scanning an image folder, finding the subtitles.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidpipe.config import get_settings
from vidpipe.errors import UsageError
from vidpipe.files import image_files
from vidpipe.text.documents import read_text_argument

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.media.render import RenderOptions, RenderResult
    from vidpipe.speech.tts import SpeechResult

__all__ = ["SpokenText", "render_video", "slide_images", "speak_text", "subtitle_source"]


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


def slide_images(
    images: Sequence[str | os.PathLike[str]] = (), image_dir: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The slides of ``render``: the given image files, then the images of
    ``image_dir`` (:func:`vidpipe.files.image_files`, natural name order).

    Raises:
        UsageError: no image at all. InputError: ``image_dir`` is not a folder.
    """
    paths = [Path(p) for p in images]
    if image_dir is not None:
        paths += image_files(image_dir, "check --image-dir")
    if not paths:
        raise UsageError("no images given", "list image files, or use --image-dir DIR")
    return paths


def subtitle_source(
    spec: str,
    audio: str | os.PathLike[str] | None,
    model: str = "base",
    on_transcribe: Callable[[Path], Any] | None = None,
):
    """Cues for ``render --subtitles``: ``spec`` is a subtitle file (.srt/.vtt/.ass/.json),
    or ``auto``: a .srt/.vtt/.ass beside ``audio``, else ``audio`` transcribed with
    ``model``. ``None`` without audio (auto).

    Args:
        on_transcribe(audio): called before transcribing; may return a context manager
            that is held while it runs (a spinner).

    Returns:
        A :class:`~vidpipe.types.Transcript` or the loaded cues, or ``None``.

    Raises:
        InputError, MediaError: the file cannot be read. ModelError: no such model.
    """
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.subtitles import load_subtitles

    if spec != "auto":
        return load_subtitles(spec)
    if audio is None:
        return None
    audio = Path(audio)
    for suffix in (".srt", ".vtt", ".ass"):
        side = audio.with_suffix(suffix)
        if side.is_file():
            return load_subtitles(side)
    # imported here for start-up time: NumPy, ASR/TTS engines
    from vidpipe.speech.transcribe import transcribe as transcribe_file

    held = on_transcribe(audio) if on_transcribe is not None else None
    with held if held is not None else contextlib.nullcontext():
        return transcribe_file(audio, model=model, settings=get_settings())


def render_video(
    output: str | os.PathLike[str],
    options: RenderOptions,
    *,
    images: Sequence[str | os.PathLike[str]] = (),
    image_dir: str | os.PathLike[str] | None = None,
    audio: str | os.PathLike[str] | None = None,
    subtitles: str = "auto",
    model: str = "base",
    durations: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    music: str | os.PathLike[str] | None = None,
    on_transcribe: Callable[[Path], Any] | None = None,
    on_start: Callable[[], None] = _noop,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[RenderResult, int]:
    """``render``: slides (:func:`slide_images`) and a narration into a video with
    :func:`vidpipe.media.render.render_slideshow`; subtitles from :func:`subtitle_source`
    (none when ``subtitles`` or ``options.subtitles`` is ``none``).

    Args:
        on_transcribe: see :func:`subtitle_source`.
        on_start(): the slides and subtitles are ready; rendering starts.
        progress(done, total): frames encoded.

    Returns:
        ``(result, number of slides)``.

    Raises:
        UsageError: no images, bad times. InputError, MediaError: unreadable inputs.
        OutputError: the video cannot be written.
    """
    # imported here for start-up time: PyAV, NumPy
    from vidpipe.media.render import render_slideshow

    paths = slide_images(images, image_dir)
    cues = None
    if subtitles != "none" and options.subtitles != "none":
        cues = subtitle_source(subtitles, audio, model, on_transcribe)
    on_start()
    result = render_slideshow(
        paths,
        output,
        audio=audio,
        durations=durations,
        starts=starts,
        subtitles=cues,
        music=music,
        options=options,
        progress=progress,
    )
    return result, len(paths)
