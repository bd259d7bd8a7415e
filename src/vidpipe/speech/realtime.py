"""Transcription of live audio: turns, partial hypotheses stabilised by LocalAgreement.

:class:`StreamTranscriber` takes audio as it arrives (16 kHz mono float32 pieces, see
:class:`PcmResampler` for 24 kHz pcm16) and keeps one *turn* open at a time:

- **Turns.** With server VAD (:class:`TurnDetection`), Silero VAD (shipped inside
  faster-whisper, :class:`StreamVad`) runs on every 512-sample window as it arrives; a
  window at or over ``threshold`` starts a turn (``prefix_padding_ms`` of audio before
  it included); ``silence_duration_ms`` of windows under ``threshold - 0.15`` end it,
  and the turn is committed. Without turn detection the caller commits
  (:meth:`StreamTranscriber.commit`). A committed turn is decoded whole
  (:meth:`StreamTranscriber.final`), with the options of an offline transcription, so
  its text is the offline text of that stretch of audio.
- **Partials.** While a turn is open, :meth:`StreamTranscriber.decode_partial`
  decodes the turn's audio so far (its *window*: at most :data:`PARTIAL_WINDOW` s,
  greedy, Whisper's encoder on the audio plus 2 s rather than a 30 s window,
  :func:`short_decode`) and :meth:`StreamTranscriber.agree` confirms only the words on
  which two consecutive hypotheses agree, as whisper_streaming's LocalAgreement-2
  does: text once sent is rarely revised. Words are compared by their letters and
  digits, lower-cased. A window's first hypothesis is a pair (the window with and
  without its last :data:`PAIR_OFFSET` s, :meth:`StreamTranscriber.decode_partials`),
  so its first words can be confirmed after one model call. A window grown too long
  moves on past its confirmed words (one hypothesis with word times finds where they
  end).

Nothing here blocks on I/O or reads settings. The object is not thread-safe: callers
serialise calls on one object; the decoding calls (:meth:`decode_partial`,
:meth:`decode_final`) only read a snapshot taken by :meth:`partial_job` /
:meth:`next_final`, so they may run in another thread while audio is appended.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, TranscribeOptions

__all__ = [
    "PAIR_OFFSET",
    "PARTIAL_STEP",
    "PARTIAL_WINDOW",
    "Delta",
    "Hypothesis",
    "PartialJob",
    "PcmResampler",
    "SpeechEvent",
    "StreamTranscriber",
    "StreamVad",
    "Turn",
    "TurnDetection",
    "pcm16_to_float",
]

#: Seconds of new audio a turn needs before its next partial hypothesis.
PARTIAL_STEP = 0.4
#: Seconds of audio a turn needs (its prefix padding included) before its first one:
#: less holds no whole word, and two hypotheses must agree before text is sent.
PARTIAL_FIRST = 0.8
#: Seconds cut from the end of a window for the first hypothesis of a pair
#: (:meth:`StreamTranscriber.decode_partials`).
PAIR_OFFSET = 0.3
#: Longest stretch of a turn (seconds) decoded for a partial hypothesis; older audio
#: is left behind at the end of the last confirmed word.
PARTIAL_WINDOW = 24.0
#: Least audio a commit takes (OpenAI answers ``input_audio_buffer_commit_empty``).
MIN_COMMIT_SECONDS = 0.1
#: Silero VAD's window in samples at 16 kHz, and the context it is given.
VAD_WINDOW = 512
VAD_CONTEXT = 64


class TurnDetection(BaseModel):
    """Server VAD settings (OpenAI's ``turn_detection`` of type ``server_vad``)."""

    threshold: float = Field(0.5, ge=0.0, le=1.0, description="speech probability")
    prefix_padding_ms: int = Field(300, ge=0, le=5000)
    silence_duration_ms: int = Field(500, ge=0, le=10000)


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Little-endian 16-bit PCM bytes as float32 samples in [-1, 1) (an odd last byte is
    dropped)."""
    n = len(data) // 2
    return np.frombuffer(data[: 2 * n], dtype="<i2").astype(np.float32) / 32768.0


class PcmResampler:
    """Mono float32 audio at ``rate`` Hz to 16 kHz, piece by piece (PyAV's resampler
    keeps its filter state between pieces, so pieces join without clicks).

    Args:
        rate: input sample rate in Hz (16000 passes samples through).
    """

    def __init__(self, rate: int) -> None:
        self.rate = int(rate)
        self._resampler: Any = None

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The 16 kHz samples for ``samples`` (float32, shape ``(n,)``); a few ms of
        the filter's delay come out with the next piece."""
        if self.rate == SAMPLE_RATE or samples.size == 0:
            return np.asarray(samples, dtype=np.float32)
        import av

        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


class StreamVad:
    """Silero VAD speech probabilities of audio arriving piece by piece: one per
    512-sample window (32 ms), each window given the 64 samples before it as context
    (as faster-whisper's ``get_speech_timestamps`` does over a whole file)."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._model = get_vad_model()
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(VAD_CONTEXT, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities (float32, one per completed window) for 16 kHz ``samples``."""
        pending = np.concatenate([self._pending, samples.astype(np.float32)])
        n = pending.shape[0] // VAD_WINDOW
        self._pending = pending[n * VAD_WINDOW :]
        if n == 0:
            return np.zeros(0, np.float32)
        windows = pending[: n * VAD_WINDOW].reshape(n, VAD_WINDOW)
        contexts = np.empty((n, VAD_CONTEXT), np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -VAD_CONTEXT:]
        self._context = windows[-1, -VAD_CONTEXT:].copy()
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1))
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        out, _, _ = self._model.session.run(None, {"input": batch, "h": h, "c": c})
        return np.asarray(out, np.float32).reshape(-1)[:n]


@dataclass
class SpeechEvent:
    """A turn event: ``kind`` is ``speech_started`` (``ms`` = where the turn's audio
    starts, prefix padding included), ``speech_stopped`` (``ms`` = where it ends) or
    ``committed`` (``previous_item_id`` the turn before). Times are milliseconds of
    audio since the session began."""

    kind: str
    item_id: str
    ms: int = 0
    previous_item_id: str | None = None


@dataclass
class Delta:
    """Confirmed text of an open turn (``text`` carries its leading space but for the
    turn's first piece)."""

    item_id: str
    text: str


@dataclass
class Turn:
    """One turn (OpenAI's input audio item): its audio, and its partial state."""

    item_id: str
    start_sample: int  # session sample of the turn's first sample
    chunks: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    speech_seen: bool = False
    # partial state (LocalAgreement): keys of the words confirmed in the window, and of
    # the window's previous hypothesis
    window_keys: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    window_start: float = 0.0  # seconds into the turn
    hypothesis_at: int = 0  # turn samples decoded by the last hypothesis
    language: str | None = None
    sent: str = ""
    first_delta_at: int | None = None  # turn samples when the first delta was sent
    audio: np.ndarray | None = None  # whole audio once committed

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def data(self) -> np.ndarray:
        """The turn's audio so far (16 kHz float32)."""
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, np.float32)


@dataclass
class PartialJob:
    """A hypothesis to decode: the turn's ``audio`` from ``window_start`` (seconds into
    the turn) on; ``timed``: decode with word times (the window moves on);
    ``prompt``: Whisper's initial prompt."""

    turn: Turn
    audio: np.ndarray
    window_start: float
    timed: bool
    prompt: str | None


@dataclass
class Hypothesis:
    """A decoded hypothesis: ``words`` as ``(word, start, end)`` (times in seconds from
    the window start, ``None`` when not ``timed``), the ``language``."""

    words: list[tuple[str, float | None, float | None]]
    language: str | None
    timed: bool


#: Seconds of silence added after a short window's audio before Whisper's encoder
#: (without any, the decoder tends to loop at the end of the audio).
SHORT_PAD = 2.0
#: Tokens a short decode may produce per second of audio (and 8 more).
TOKENS_PER_SECOND = 5


def short_decode(
    engine: Any, audio: np.ndarray, language: str | None, prompt: str | None
) -> tuple[str, str | None]:
    """Greedy Whisper decoding of up to 28 s of 16 kHz audio with the encoder run on the
    audio plus :data:`SHORT_PAD` s of silence instead of a 30 s window (whisper.cpp's
    ``audio_ctx`` idea): on 2 cores about a tenth of the time of a padded window
    (``tiny.en``, 1-8 s clips), the same words but at the very end. Output is bounded to
    :data:`TOKENS_PER_SECOND` tokens a second (no runaway loops).

    Args:
        engine: a :class:`~vidpipe.speech.whisper.FasterWhisperEngine` (its ``model``).
        audio: 16 kHz mono float32, at most 28 s (longer is cut).
        language: ISO 639-1 code; ``None`` detects it (multilingual models).
        prompt: text before the audio (Whisper's previous-text prompt).

    Returns:
        ``(text, language)``.
    """
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    model = engine.model
    audio = np.ascontiguousarray(audio[: 28 * SAMPLE_RATE], np.float32)
    multilingual = bool(model.model.is_multilingual)
    if not multilingual:
        language = "en"
    elif language is None:
        language = engine.detect_language(audio)[0]
    padded = np.concatenate([audio, np.zeros(int(SHORT_PAD * SAMPLE_RATE), np.float32)])
    feats = model.feature_extractor(padded)[..., :-1]
    frames = min(feats.shape[-1] // 2 * 2, 3000)
    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None, :, :frames]))
    encoded = model.model.encode(view)
    tok = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language)
    tokens: list[int] = []
    if prompt:
        tokens = [tok.sot_prev, *tok.encode(" " + prompt.strip())[-111:]]
    tokens += [*tok.sot_sequence, tok.no_timestamps]
    seconds = audio.shape[0] / SAMPLE_RATE
    result = model.model.generate(
        encoded,
        [tokens],
        beam_size=1,
        max_length=min(448 - len(tokens), int(8 + TOKENS_PER_SECOND * seconds)),
        suppress_blank=True,
        suppress_tokens=[-1],
    )
    ids = [t for t in result[0].sequences_ids[0] if t < tok.eot]
    return tok.decode(ids).strip(), language


def _confirmed_end(confirmed: list[str], keys: list[str]) -> int:
    """How many words of a new hypothesis (``keys``) cover the ``confirmed`` words:
    where the last (up to) three confirmed words occur in it, searched from the place
    they are expected; without a match, as many words as were confirmed."""
    if not confirmed or not keys:
        return 0
    k = min(3, len(confirmed))
    tail = confirmed[-k:]
    expected = len(confirmed)
    ends = [j for j in range(k, len(keys) + 1) if keys[j - k : j] == tail]
    if ends:
        return min(ends, key=lambda j: abs(j - expected))
    return min(expected, len(keys))


def _key(word: str) -> str:
    return re.sub(r"[\W_]+", "", word.lower())


def new_id(prefix: str) -> str:
    """An id such as ``item_3f9c…`` (``prefix`` + ``_`` + 20 hex digits)."""
    return f"{prefix}_{secrets.token_hex(10)}"


class StreamTranscriber:
    """Turns and partial transcripts of one audio stream (see the module doc).

    Args:
        turn_detection: server VAD settings; ``None``: the caller commits.
        language: ISO 639-1 code, or ``None`` to detect it per turn.
        prompt: text to prime the decoder (Whisper's ``initial_prompt``).
        new_item_id: makes item ids (default ``item_<hex>``).
    """

    def __init__(
        self,
        turn_detection: TurnDetection | None = None,
        *,
        language: str | None = None,
        prompt: str | None = None,
        new_item_id: Callable[[], str] | None = None,
    ) -> None:
        self.turn_detection = turn_detection
        self.language = language
        self.prompt = prompt
        self._new_id = new_item_id or (lambda: new_id("item"))
        self._vad = StreamVad()
        self.total = 0  # samples of the session so far
        self.turn: Turn | None = None
        self.in_speech = False
        self._silence = 0
        self.last_item_id: str | None = None
        self.finals: deque[Turn] = deque()
        self._prefix = np.zeros(0, np.float32)

    # ------------------------------------------------------------------ audio

    def _open(self) -> Turn:
        if self.turn is None:
            self.turn = Turn(self._new_id(), self.total)
        return self.turn

    def append(self, samples: np.ndarray) -> list[SpeechEvent]:
        """Add 16 kHz float32 samples; returns the turn events they cause (with server
        VAD: ``speech_started``; ``speech_stopped`` then ``committed``, the turn then
        waiting in :attr:`finals`)."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        events: list[SpeechEvent] = []
        if samples.size == 0:
            return events
        probs = self._vad(samples)
        td = self.turn_detection
        if td is None:
            turn = self._open()
            turn.chunks.append(samples)
            turn.samples += samples.size
            self.total += samples.size
            if probs.size and float(probs.max()) >= 0.5:
                turn.speech_seen = True
            return events
        base = self.total  # session sample of samples[0]
        # window i of ``probs`` ends at session sample ``vad_end - (n - 1 - i) * 512``
        vad_end = (base + samples.size) // VAD_WINDOW * VAD_WINDOW
        pos = 0  # samples of ``samples`` already placed (in the turn or the prefix)

        def take(upto: int) -> None:
            nonlocal pos
            upto = min(max(upto, pos), samples.size)
            piece = samples[pos:upto]
            if self.turn is not None:
                self.turn.chunks.append(piece)
                self.turn.samples += piece.size
            else:
                self._keep_prefix(piece)
            self.total += piece.size
            pos = upto

        neg = max(td.threshold - 0.15, 0.01)
        silence_needed = td.silence_duration_ms * SAMPLE_RATE // 1000
        for i, p in enumerate(probs):
            w_end = vad_end - (probs.size - 1 - i) * VAD_WINDOW
            if not self.in_speech:
                if p >= td.threshold:
                    take(w_end - VAD_WINDOW - base)
                    if self.turn is None:
                        pre = self._prefix
                        self.turn = Turn(self._new_id(), self.total - pre.size, [pre], pre.size)
                        self._prefix = np.zeros(0, np.float32)
                    self.turn.speech_seen = True
                    self.in_speech = True
                    self._silence = 0
                    events.append(
                        SpeechEvent("speech_started", self.turn.item_id, self._ms(self.turn))
                    )
                continue
            if p >= td.threshold:
                self._silence = 0
            elif p < neg:
                self._silence += VAD_WINDOW
            if self._silence >= silence_needed:
                take(w_end - base)
                events += self._commit_turn(stopped=True)
        take(samples.size)
        return events

    def _ms(self, turn: Turn) -> int:
        return int(turn.start_sample * 1000 // SAMPLE_RATE)

    def _keep_prefix(self, piece: np.ndarray) -> None:
        """No turn open: keep ``prefix_padding_ms`` of the latest audio as the next
        turn's beginning."""
        td = self.turn_detection
        keep = td.prefix_padding_ms * SAMPLE_RATE // 1000 if td is not None else 0
        self._prefix = np.concatenate([self._prefix, piece])[-keep:] if keep else self._prefix[:0]

    def _commit_turn(self, stopped: bool) -> list[SpeechEvent]:
        turn = self.turn
        assert turn is not None
        events = []
        if stopped:
            events.append(
                SpeechEvent("speech_stopped", turn.item_id, int(self.total * 1000 // SAMPLE_RATE))
            )
        self.in_speech = False
        self._silence = 0
        turn.audio = turn.data()
        turn.chunks = []
        events.append(SpeechEvent("committed", turn.item_id, 0, self.last_item_id))
        self.last_item_id = turn.item_id
        self.finals.append(turn)
        self.turn = None
        return events

    def commit(self) -> list[SpeechEvent]:
        """Commit the audio since the last commit as a turn (``committed``). With server
        VAD and no turn open, the prefix audio kept for the next turn is committed.

        Raises:
            ValueError: less than :data:`MIN_COMMIT_SECONDS` of audio to commit.
        """
        if self.turn is None and self._prefix.size:
            pre = self._prefix
            self.turn = Turn(self._new_id(), self.total - pre.size, [pre], pre.size)
            self._prefix = np.zeros(0, np.float32)
        turn = self.turn
        if turn is None or turn.seconds < MIN_COMMIT_SECONDS:
            have = 0.0 if turn is None else turn.seconds
            raise ValueError(
                f"buffer too small: expected at least {int(MIN_COMMIT_SECONDS * 1000)}ms of "
                f"audio, but the buffer only has {have * 1000:.2f}ms of audio"
            )
        return self._commit_turn(stopped=False)

    def clear(self) -> None:
        """Drop the audio since the last commit (the open turn, if any)."""
        self.turn = None
        self.in_speech = False
        self._silence = 0
        self._prefix = np.zeros(0, np.float32)

    # ------------------------------------------------------------------ decoding

    def partial_job(self, step: float = PARTIAL_STEP) -> PartialJob | None:
        """The open turn's next hypothesis to decode, when it has speech and ``step`` s
        of audio came since its last hypothesis; else ``None``. The audio is the turn's
        from its window start on; a window grown over :data:`PARTIAL_WINDOW` s is
        decoded with word times (``timed``) so that it can move on past the confirmed
        words."""
        turn = self.turn
        if turn is None or not turn.speech_seen:
            return None
        if (turn.samples - turn.hypothesis_at) < step * SAMPLE_RATE:
            return None
        if turn.samples < PARTIAL_FIRST * SAMPLE_RATE:
            return None
        audio = turn.data()
        turn.hypothesis_at = turn.samples
        start = int(turn.window_start * SAMPLE_RATE)
        timed = turn.seconds - turn.window_start > PARTIAL_WINDOW
        return PartialJob(turn, audio[start:].copy(), turn.window_start, timed, self._prompt(turn))

    def _prompt(self, turn: Turn) -> str | None:
        # the client's prompt only: the text already sent as the prompt of a moved
        # window made short_decode answer nothing (tiny.en, LJ001 clips)
        return self.prompt or None

    def decode_partial(self, engine: ASREngine, job: PartialJob) -> Hypothesis:
        """Decode one hypothesis of ``job`` (runs the model: call it off the event loop).

        Short windows go through :func:`short_decode` (Whisper's encoder on the audio
        plus 2 s rather than a whole 30 s window: a tenth of the time; greedy, no word
        times) when the engine is faster-whisper; timed jobs, and other engines, through
        ``engine.transcribe`` (greedy, no VAD, word times)."""
        language = self.language or job.turn.language
        if (
            not job.timed
            and hasattr(engine, "model")
            and hasattr(engine.model, "feature_extractor")
        ):
            text, language = short_decode(engine, job.audio, language, job.prompt)
            # unspaced scripts (Chinese, Japanese...) agree character by character
            pieces = list(text.replace(" ", "")) if language in _UNSPACED else text.split()
            return Hypothesis([(w, None, None) for w in pieces], language, False)
        options = TranscribeOptions(
            language=language,
            word_timestamps=True,
            sentence_segments=False,
            vad=False,
            beam_size=1,
            batch_size=1,  # one window: the sequential decoder (less overhead)
            temperature=(0.0,),
            initial_prompt=job.prompt,
        )
        tr = engine.transcribe(job.audio, options)
        words = [(w.word.strip(), float(w.start), float(w.end)) for w in tr.words]
        return Hypothesis(words, tr.language, True)

    def decode_partials(self, engine: ASREngine, job: PartialJob) -> list[Hypothesis]:
        """The hypotheses of ``job`` to fold in (:meth:`agree`) in order: for a window's
        first short hypothesis a pair, the window without its last :data:`PAIR_OFFSET`
        s and the whole window, so that LocalAgreement can confirm words after one model
        call instead of two (each waiting for the model while other sessions use it);
        otherwise :meth:`decode_partial`'s one. Runs the model: call it off the event
        loop."""
        cut = int(PAIR_OFFSET * SAMPLE_RATE)
        if job.timed or job.turn.previous or job.audio.shape[0] < cut + SAMPLE_RATE // 2:
            return [self.decode_partial(engine, job)]
        shorter = PartialJob(job.turn, job.audio[:-cut], job.window_start, False, job.prompt)
        return [self.decode_partial(engine, shorter), self.decode_partial(engine, job)]

    def final_options(self) -> TranscribeOptions:
        """Options of a turn's final transcript: those of an offline transcription
        (``/v1/audio/transcriptions`` with ``json``)."""
        return TranscribeOptions(
            language=self.language, sentence_segments=False, initial_prompt=self.prompt or None
        )

    def agree(self, job: PartialJob, hyp: Hypothesis) -> Delta | None:
        """Fold one hypothesis into its turn's LocalAgreement state; returns the newly
        confirmed text (``None`` when nothing new is agreed on).

        Every hypothesis of a window decodes the window from its start, so the words two
        consecutive ones agree on are their common prefix; what is past the words
        already confirmed in the window is sent. A timed hypothesis (a window grown too
        long) moves the window's start to the end of its last confirmed word (or, when
        nothing was confirmed, confirms all but its last two words and moves past them),
        and the next window starts afresh."""
        turn = job.turn
        if job.window_start != turn.window_start:
            return None  # the window moved since this job was taken
        if hyp.language and turn.language is None:
            turn.language = hyp.language
        keys = [_key(w) for w, _, _ in hyp.words]
        words = [(w, s, e, k) for (w, s, e), k in zip(hyp.words, keys, strict=True) if k]
        keys = [k for *_, k in words]
        done = len(turn.window_keys)
        new: list[str] = []
        if hyp.timed:
            cut = _confirmed_end(turn.window_keys, keys)
            if not turn.window_keys and len(words) > 2:  # nothing agreed on in a window
                new = [w for w, *_ in words[:-2]]
                cut = len(words) - 2
            if cut:
                turn.window_start = job.window_start + float(words[cut - 1][2])
                turn.window_keys, turn.previous = [], []
        else:
            prev = turn.previous
            n = 0
            while n < min(len(prev), len(keys)) and prev[n] == keys[n]:
                n += 1
            if n > done:
                new = [w for w, *_ in words[done:n]]
                turn.window_keys = keys[:n]
            turn.previous = keys
        if not new:
            return None
        text = (" " if (turn.language or "") not in _UNSPACED else "").join(new)
        if turn.sent and (turn.language or "") not in _UNSPACED:
            text = " " + text
        turn.sent += text
        if turn.first_delta_at is None:
            turn.first_delta_at = turn.samples
        return Delta(turn.item_id, text)

    def next_final(self) -> Turn | None:
        """The oldest committed turn not yet decoded (removed from :attr:`finals`)."""
        return self.finals.popleft() if self.finals else None

    def decode_final(self, engine: ASREngine, turn: Turn) -> str:
        """The turn's transcript (its whole audio decoded with :meth:`final_options`).
        Runs the model: call it off the event loop."""
        audio = turn.audio if turn.audio is not None else turn.data()
        if audio.size < int(MIN_COMMIT_SECONDS * SAMPLE_RATE):
            return ""
        return engine.transcribe(audio, self.final_options()).text

    @staticmethod
    def rest_of(turn: Turn, transcript: str) -> str:
        """What ``transcript`` adds to the text already sent for ``turn``, when it
        begins with that text (compared word by word, letters and digits only);
        else ``""``."""
        sent = [k for k in (_key(w) for w in turn.sent.split()) if k]
        words = transcript.split()
        keys = [_key(w) for w in words]
        i = 0
        matched = 0
        while matched < len(sent) and i < len(words):
            if not keys[i]:
                i += 1
                continue
            if keys[i] != sent[matched]:
                return ""
            matched += 1
            i += 1
        if matched < len(sent):
            return ""
        rest = " ".join(words[i:])
        if rest and turn.sent:
            rest = " " + rest
        return rest


_UNSPACED = ("zh", "ja", "th", "lo", "km", "my", "bo", "yue")
