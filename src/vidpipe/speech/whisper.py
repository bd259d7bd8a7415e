"""The local ASR engine: faster-whisper (CTranslate2) with Silero VAD and batched decoding.

Long audio goes through faster-whisper's ``BatchedInferencePipeline``: Silero VAD
(shipped inside faster-whisper) cuts speech into chunks of at most 30 s, which are
decoded ``batch_size`` at a time. On 2 CPU cores with ``base``/int8 this runs at a
real-time factor around 0.05 versus about 0.10 for sequential decoding (see
``benchmarks/asr.py``). ``batch_size=1`` selects faster-whisper's sequential decoder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidpipe.config import default_threads
from vidpipe.errors import ModelError, UsageError, VidpipeError
from vidpipe.speech.engine import (
    SAMPLE_RATE,
    ProgressCallback,
    TranscribeOptions,
    enforce_monotonic,
    split_sentences,
)
from vidpipe.speech.models import resolve_model
from vidpipe.types import Segment, Transcript, Word

CHUNK_SECONDS = 30.0
"""Whisper's fixed input window in seconds."""

LANGUAGE_SURE = 0.8
"""Short-input language detection (:meth:`FasterWhisperEngine.detect_language`) is
trusted at this probability or above; below it the full 30 s window decides. On the
28 zh/ru/en/de/es/fr/it/ja/ko/pt clips of ``../shared/data`` the short input agreed
with the full window on every clip it was this sure of; the two misses (a 1.4 s clip
taken for Telugu at 0.17, "one two three" at 0.52) were both under it."""

HALLUCINATION_LOGPROB = -1.0
HALLUCINATION_NO_SPEECH = 0.3
"""A segment with ``avg_logprob`` below -1.0 *and* ``no_speech_prob`` above 0.3 is dropped.

Whisper's own rule (openai/whisper ``transcribe.py``) drops a window only when
``no_speech_prob > 0.6`` and ``avg_logprob < -1.0``; on silence and laughter that
survive VAD it still emits fillers such as "uh" or "lol" with ``no_speech_prob``
around 0.4-0.5 (measured on ``broken/pisets_test_silence.wav`` and
``whisper_timestamped_laugh1.mp3``). Real speech that is this unsure of itself and
this likely to be non-speech is rare; clean read speech has ``avg_logprob`` > -0.6.
"""

TIMESTAMP_LANGUAGES = frozenset({"zh", "yue"})
"""Languages the batched pipeline decodes with timestamp tokens. Without them the
model ends a Mandarin chunk at its first pause: on five Mandarin clips joined five
times with 0.8 s pauses (2:21) ``base`` kept 185 of 380 characters, 366 with them, all
380 with the coverage check (:meth:`FasterWhisperEngine._cover`). Measured against
decoding Mandarin sequentially (``benchmarks/asr.py --parts cjk``, ``tests/test_cjk.py``,
2 busy cores): the same CER (14.4 %) on the four referenced clips joined five times,
3.1 % against 13.5 % on two clips joined three times, at an RTF 5-20 % higher
(0.33-0.42 against 0.29-0.34): accuracy decided."""

COVER_JOIN = 0.3
"""Uncovered stretches of speech closer than this (seconds) are decoded again together."""
COVER_PAD = 0.3
"""Seconds of audio either side of an uncovered stretch decoded with it (VAD's speech
already carries 0.4 s of padding)."""
COVER_ROUNDS = 2
"""Rounds of the coverage check and re-decoding."""

_load_lock = threading.Lock()
_log = logging.getLogger("vidpipe.speech")


def is_hallucination(avg_logprob: float | None, no_speech_prob: float | None) -> bool:
    """True when a segment looks like text invented over non-speech (see constants above)."""
    if avg_logprob is None or no_speech_prob is None:
        return False
    return avg_logprob < HALLUCINATION_LOGPROB and no_speech_prob > HALLUCINATION_NO_SPEECH


@lru_cache(maxsize=4)
def _load(model_dir: str, device: str, compute_type: str, threads: int):
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            model_dir, device=device, compute_type=compute_type, cpu_threads=threads
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"cannot load the Whisper model in {model_dir}: {str(exc).splitlines()[0]}",
            "check the model folder, or use --model base",
        ) from exc


def whisper_kwargs(options: TranscribeOptions) -> dict:
    """faster-whisper keyword arguments equivalent to ``options``.

    The same mapping is used by the benchmarks and tests for the "bare faster-whisper"
    baseline, so the comparison is option for option.
    """
    return {
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        "word_timestamps": options.word_timestamps or options.sentence_segments,
        "vad_filter": options.vad,
        "initial_prompt": options.initial_prompt,
        "temperature": list(options.temperature),
        "condition_on_previous_text": options.condition_on_previous_text,
        "no_speech_threshold": options.no_speech_threshold,
        "log_prob_threshold": options.log_prob_threshold,
        "compression_ratio_threshold": options.compression_ratio_threshold,
    }


def translating(options: TranscribeOptions) -> bool:
    """Whether ``options`` ask for a translation. A translation's word times are English
    tokens aligned by cross-attention against speech in another language: rough, and no
    measure of which speech the text covers. So translations skip the coverage check
    (it found "uncovered" speech in a 2.4 s Russian clip and decoded it again, appending
    a second translation, or the Russian text itself) and are not packed."""
    return options.task == "translate"


def shape_segment(seg: Segment, options: TranscribeOptions) -> list[Segment]:
    """A decoded segment (its ``words`` aligned) as the caller asked for it: split into
    sentences with ``sentence_segments`` (words kept only with ``word_timestamps``),
    else whole, with or without its words."""
    if options.sentence_segments and seg.words:
        return split_sentences(seg, keep_words=options.word_timestamps)
    if options.word_timestamps:
        return [seg]
    return [seg.model_copy(update={"words": None})]


def fixed_windows(duration: float, window: float = CHUNK_SECONDS) -> list[dict]:
    """Consecutive ``{"start", "end"}`` windows in seconds covering ``[0, duration]``.

    Used as ``clip_timestamps`` for the batched pipeline when VAD is off.
    """
    out, t = [], 0.0
    while t < duration:
        out.append({"start": t, "end": min(duration, t + window)})
        t += window
    return out


def _stepped_pipeline(model, report: Callable[[float], None]):
    """A faster-whisper ``BatchedInferencePipeline`` over ``model`` that decodes its
    batches one window at a time and calls ``report(end of the window, in seconds)``
    after each, so that progress (and a cancel) is seen per 30 s window rather than
    per batch of ``batch_size`` windows. The windows' results are the same: each is
    decoded on its own features, padded to 30 s, in either case."""
    from faster_whisper import BatchedInferencePipeline

    class Stepped(BatchedInferencePipeline):
        def forward(self, features, tokenizer, chunks_metadata, options):
            out = []
            for i, meta in enumerate(chunks_metadata):
                out += super().forward(features[i : i + 1], tokenizer, [meta], options)
                report(float(meta["offset"]) + float(meta["duration"]))
            return out

    return Stepped(model=model)


class _WindowEncoder:
    """A faster-whisper ``WhisperModel`` seen through a proxy whose ``encode`` runs the
    encoder one 30 s window at a time and stacks the outputs, reusing the outputs it
    was given for windows it has seen (:meth:`encode_window`); everything else is the
    model's own.

    faster-whisper's ``BatchedInferencePipeline`` encodes its whole batch in one call,
    then decodes the batch together. On the CPU the batched encoder call is slower
    than the same windows encoded one after another (``base`` int8 on 2 cores, 4 full
    windows: 4.8 CPU s in one call against 4.0 s one by one, 6 runs each; the packed
    transcription of 16 clips took 22 % less wall time, same text): the activations of
    a batch outgrow the caches. The decoder's batched beam search is where batching
    pays, so it keeps the batch. Each window is encoded on its own features either way,
    so the numbers are the same.

    Windows are known by a hash of their padded features: a window encoded once (for
    the language detection of packed clips) is not encoded again when the pipeline
    decodes the same window; other windows are encoded as usual.
    """

    def __init__(self, model) -> None:
        self._model = model
        self._seen: dict[bytes, np.ndarray] = {}

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    @staticmethod
    def _key(features: np.ndarray) -> bytes:
        import hashlib

        data = np.ascontiguousarray(features, dtype=np.float32)
        return hashlib.blake2b(data.tobytes(), digest_size=16).digest() + bytes(
            str(data.shape), "ascii"
        )

    def encode_window(self, features: np.ndarray) -> np.ndarray:
        """The encoder output of one window's padded features ``(n_mels, 3000)``, shape
        ``(1, 1500, d_model)``, remembered for the pipeline's own call."""
        key = self._key(features)
        out = self._seen.get(key)
        if out is None:
            out = self._seen[key] = np.asarray(self._model.encode(features[None]))
        return out

    def encode(self, features: np.ndarray):
        import ctranslate2

        if features.ndim == 2:
            features = features[None]
        if self._model.model.device != "cpu":
            return self._model.encode(features)
        outs = [self._seen.get(self._key(f)) for f in features]
        if len(outs) == 1 and outs[0] is None:
            return self._model.encode(features)
        outs = [
            o if o is not None else np.asarray(self._model.encode(features[i : i + 1]))
            for i, o in enumerate(outs)
        ]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(outs)))


class FasterWhisperEngine:
    """Local Whisper inference through faster-whisper.

    Args:
        model: bundled name (``"base"``, ``"tiny.en"``), CTranslate2 folder, or hub id.
        device: ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type; ``int8`` is fastest on CPU.
        threads: CPU threads; defaults to the cores available to the process.
        cache_dir: where split bundled models are assembled (front ends pass
            ``VIDPIPE_CACHE_DIR``; see :func:`vidpipe.speech.models.resolve_model`).

    Nothing is read from the settings here: the front ends pass ``VIDPIPE_MODEL``,
    ``VIDPIPE_DEVICE`` and ``VIDPIPE_COMPUTE_TYPE`` (defaults ``base``, ``cpu``, ``int8``).

    Raises:
        ModelError: the model cannot be resolved or loaded.
    """

    name = "faster-whisper"

    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        compute_type: str | None = None,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_name = model or "base"
        self.model_dir = resolve_model(self.model_name, cache_dir)
        self.device = device or "cpu"
        self.compute_type = compute_type or "int8"
        self.threads = threads or default_threads()
        with _load_lock:
            self.model = _load(str(self.model_dir), self.device, self.compute_type, self.threads)

    @property
    def multilingual(self) -> bool:
        """True for multilingual models; False for English-only ``.en`` models."""
        return bool(self.model.model.is_multilingual)

    def _check(self, options: TranscribeOptions) -> None:
        if options.language is not None:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            if options.language not in _LANGUAGE_CODES:
                raise UsageError(
                    f"unknown language code '{options.language}'",
                    "use an ISO 639-1 code such as en, zh, ru, de, or 'auto'",
                )
        if not self.multilingual:
            if options.language not in (None, "en"):
                raise UsageError(
                    f"model '{self.model_name}' is English-only and cannot transcribe "
                    f"language '{options.language}'",
                    "use --model base for other languages",
                )
            if options.task == "translate":
                raise UsageError(
                    f"model '{self.model_name}' is English-only and cannot translate",
                    "use --model base",
                )

    def _fallback(
        self, audio: np.ndarray, raw: list, options: TranscribeOptions, language: str
    ) -> list:
        """Re-decode, with temperature fallback, the segments the batched pipeline got wrong.

        The batched pipeline decodes at temperature 0 only; it has no fallback, so a
        chunk of music can come back as a repetition loop ("Hmmmm...", compression
        ratio 27 on Big Buck Bunny) or as low-confidence text. Whisper's remedy is to
        retry at higher temperatures when ``compression_ratio > 2.4`` or
        ``avg_logprob < -1.0`` (openai/whisper ``transcribe.py``); the sequential
        decoder does that, and also drops windows that are likely non-speech. Only the
        failing segments' spans are re-decoded, so the batched speed-up is kept.
        """
        bad = [
            s
            for s in raw
            if (s.compression_ratio or 0) > options.compression_ratio_threshold
            or (s.avg_logprob or 0) < options.log_prob_threshold
        ]
        if not bad:
            return raw
        kwargs = whisper_kwargs(options)
        kwargs.update(vad_filter=False, language=language)
        out = []
        for s in raw:
            if s not in bad:
                out.append(s)
                continue
            redo, _ = self.model.transcribe(
                audio, clip_timestamps=[float(s.start), float(s.end)], **kwargs
            )
            out.extend(r for r in redo if r.start < s.end)
        return out

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The language of 16 kHz mono float32 samples, as ``(code, probability)``.

        The encoder runs on the samples' own frames (at most 30 s), not on a window
        padded to 30 s: for a 7 s clip that costs a tenth of the padded pass (0.07 s
        against 0.6 s for ``base`` int8 on 2 cores). Below :data:`LANGUAGE_SURE` the
        padded window of faster-whisper's own detection decides. English-only models
        answer ``("en", 1.0)``.
        """
        if not self.multilingual:
            return "en", 1.0
        import ctranslate2

        samples = np.ascontiguousarray(audio[: int(CHUNK_SECONDS * SAMPLE_RATE)], np.float32)
        feats = self.model.feature_extractor(samples)[..., :-1]
        frames = min(feats.shape[-1] // 2 * 2, 3000)
        if frames >= 2:
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None, :, :frames]))
            (probs,) = self.model.model.detect_language(self.model.model.encode(view))
            token, prob = probs[0]
            if prob >= LANGUAGE_SURE:
                return token[2:-2], float(prob)
        language, prob, _ = self.model.detect_language(samples)
        return language, float(prob)

    def transcribe_many(
        self,
        audios: Sequence[np.ndarray],
        options: TranscribeOptions,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> list[Transcript | VidpipeError]:
        """Transcribe several files, packing short ones into shared windows.

        Files whose speech span is at most
        :data:`~vidpipe.speech.packing.MAX_CLIP_SECONDS` and holds at least
        :data:`~vidpipe.speech.packing.MIN_SPEECH_SECONDS` of speech are packed by language into
        30 s windows and decoded together (:mod:`vidpipe.speech.packing`), first
        without timestamp tokens, then, for the clips whose words leave over
        :data:`~vidpipe.speech.packing.UNCOVERED_SECONDS` of their speech uncovered,
        packed again with them. The others (longer files, a language with one clip,
        clips still uncovered, the clips of a window that fails Whisper's fallback
        thresholds: compression ratio, average log-probability, the hallucination
        rule) go through :meth:`transcribe` alone. With ``batch_size=1``, VAD off, a
        translation (:func:`translating`) or one file every file goes alone, exactly as
        :meth:`transcribe`.

        Args:
            audios: per file, shape ``(n,)`` float32 in [-1, 1] at 16000 Hz.
            options: decoding options, for every file.
            progress: called as ``progress(file index, seconds done, seconds total)``.

        Returns:
            Per file, in order, its Transcript (times in seconds from the start of that
            file) or the :class:`~vidpipe.errors.VidpipeError` it failed with.

        Raises:
            UsageError: language or task the model cannot do (before any work).
        """
        from faster_whisper import BatchedInferencePipeline
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from vidpipe.speech import packing

        self._check(options)
        audios = [np.ascontiguousarray(a, dtype=np.float32) for a in audios]
        results: list[Transcript | VidpipeError | None] = [None] * len(audios)
        alone: set[int] = set()
        spans: dict[int, tuple[int, int]] = {}
        chunks: dict[int, list[dict[str, int]]] = {}
        # translations are not packed: their words are English text aligned against
        # speech in another language, so their times cannot say which clip of a shared
        # window a word belongs to
        if options.batch_size > 1 and options.vad and len(audios) > 1 and not translating(options):
            # the batched pipeline's own VAD settings (faster-whisper transcribe.py)
            vad = VadOptions(max_speech_duration_s=CHUNK_SECONDS, min_silence_duration_ms=160)
            for i, a in enumerate(audios):
                found = get_speech_timestamps(a, vad) if a.size else []
                span = packing.trim_span(found, a.shape[0])
                speech = sum(c["end"] - c["start"] for c in found)
                if (
                    span is None
                    or span[1] - span[0] > packing.MAX_CLIP_SECONDS * SAMPLE_RATE
                    or speech < packing.MIN_SPEECH_SECONDS * SAMPLE_RATE
                ):
                    alone.add(i)
                    continue
                spans[i], chunks[i] = span, found
        else:
            alone.update(range(len(audios)))
        encoder = _WindowEncoder(self.model)
        sure: dict[int, tuple[str, float]] = {}
        if options.language is None and self.multilingual and len(spans) > 1:
            sure = self._detect_packed(audios, spans, encoder)
        languages: dict[int, tuple[str, float]] = {}
        for i, (s, e) in spans.items():
            if options.language is not None:
                languages[i] = (options.language, 1.0)
            else:
                languages[i] = sure.get(i) or self.detect_language(audios[i][s:e])
        groups: dict[str, list[int]] = {}
        for i in spans:
            groups.setdefault(languages[i][0], []).append(i)
        kwargs = whisper_kwargs(options)
        kwargs.pop("condition_on_previous_text")
        kwargs.update(vad_filter=False, word_timestamps=True)
        pipeline = BatchedInferencePipeline(model=encoder)
        for language, members in groups.items():
            kwargs["language"] = language
            todo = members
            # first without timestamp tokens (English runs on across the gaps; with them
            # the batched decoder may stop after a pair of timestamps, faster-whisper
            # #1427), then what is left with them (Mandarin stops at the first gap
            # without them); what is still left goes alone
            for without_timestamps in (True, False):
                if len(todo) < 2:
                    break
                todo = self._decode_packed(
                    pipeline,
                    audios,
                    todo,
                    spans,
                    chunks,
                    options,
                    dict(kwargs, without_timestamps=without_timestamps),
                    languages,
                    results,
                    progress,
                )
            alone.update(todo)
        for i in sorted(alone):
            try:
                results[i] = self.transcribe(
                    audios[i],
                    options,
                    (lambda d, t, i=i: progress(i, d, t)) if progress else None,
                )
            except VidpipeError as exc:
                results[i] = exc
        return [r for r in results if r is not None]

    def _detect_packed(
        self,
        audios: list[np.ndarray],
        spans: dict[int, tuple[int, int]],
        encoder: _WindowEncoder,
    ) -> dict[int, tuple[str, float]]:
        """The languages of packed clips read off their windows' encoder output.

        The clips (``spans``, in their order) are packed into windows as for decoding
        and each window is encoded once (``encoder`` keeps the output: when the clips
        share a language, the decoding packs the same windows and does not encode them
        again). Each clip's language is Whisper's language detection on the encoder
        frames of its own span (50 frames a second). Only answers of at least
        :data:`LANGUAGE_SURE` are returned; the caller detects the others on the
        clip's own audio (:meth:`detect_language`). Measured on the 25 clips in 10
        languages of ``shared/data`` (en, zh, ru, de, es, fr, it, ja, ko, pt), packed in
        3 random orders: 52 of 69 answers sure, none of them wrong; the 7 wrong ones
        were all below 0.8. Per clip this replaces an encoder pass over its own frames
        (about a third of a window's for a 7 s clip) by a decoder step.

        Returns:
            ``{index: (language code, probability)}`` for the clips answered surely.
        """
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        from vidpipe.speech import packing

        order = list(spans)
        packed, windows = packing.pack(audios, [spans[i] for i in order], order)
        hop = SAMPLE_RATE // 50  # samples per encoder frame (20 ms)
        out: dict[int, tuple[str, float]] = {}
        for w in windows:
            # the window's samples and features exactly as the batched pipeline takes
            # them from clip_timestamps, so that its encoder call finds them
            clip = {k: int(v * SAMPLE_RATE) for k, v in w.as_clip_timestamps().items()}
            feats = pad_or_trim(
                self.model.feature_extractor(packed[clip["start"] : clip["end"]])[..., :-1]
            )
            enc = encoder.encode_window(feats)
            for c in w.clips:
                first = max(0, (c.offset - clip["start"]) // hop)
                last = min(enc.shape[1], -(-(c.offset - clip["start"] + c.length) // hop))
                if last - first < 2:
                    continue
                view = ctranslate2.StorageView.from_array(np.ascontiguousarray(enc[:, first:last]))
                (probs,) = self.model.model.detect_language(view)
                token, prob = probs[0]
                if prob >= LANGUAGE_SURE:
                    out[c.index] = (token[2:-2], float(prob))
        return out

    def _decode_packed(
        self,
        pipeline,
        audios: list[np.ndarray],
        members: list[int],
        spans: dict[int, tuple[int, int]],
        chunks: dict[int, list[dict[str, int]]],
        options: TranscribeOptions,
        kwargs: dict,
        languages: dict[int, tuple[str, float]],
        results: list,
        progress: Callable[[int, float, float], None] | None,
    ) -> list[int]:
        """Decode files ``members`` (one language) packed into windows; fill ``results``
        for the clips that came back whole. Returns the others: a window that failed
        the thresholds, and clips whose words leave over
        :data:`~vidpipe.speech.packing.UNCOVERED_SECONDS` of their VAD speech
        uncovered (the decoder stopped early in the window)."""
        from vidpipe.speech import packing

        packed, windows = packing.pack(audios, [spans[i] for i in members], members)
        raw = list(
            pipeline.transcribe(
                packed,
                batch_size=options.batch_size,
                clip_timestamps=[w.as_clip_timestamps() for w in windows],
                **kwargs,
            )[0]
        )
        left: list[int] = []
        for w in windows:
            # by the middle: a segment's times are rounded to 20 ms, so the start of one
            # at a window's first sample can read as the end of the window before
            segs = [s for s in raw if w.start <= (s.start + s.end) / 2 * SAMPLE_RATE < w.end]
            if any(self._fails(s, options) for s in segs):
                _log.debug(
                    "packed %s window of %d clips fails the thresholds",
                    kwargs["language"],
                    len(w.clips),
                )
                left += [c.index for c in w.clips]
                continue
            words = [word for s in segs for word in (s.words or [])]
            for clip, got in zip(w.clips, packing.assign_words(words, w.clips), strict=True):
                i = clip.index
                times = [(clip.to_file(float(x.start)), clip.to_file(float(x.end))) for x, _ in got]
                if packing.uncovered_speech(chunks[i], times) > packing.UNCOVERED_SECONDS:
                    _log.debug("packed clip %d is not covered by its words", i)
                    left.append(i)
                    continue
                results[i] = self._packed_transcript(
                    audios[i], clip, got, segs, options, languages[i]
                )
                if progress:
                    duration = audios[i].shape[0] / SAMPLE_RATE
                    progress(i, duration, duration)
        return left

    @staticmethod
    def _fails(s, options: TranscribeOptions) -> bool:
        """Whether a decoded window segment fails Whisper's fallback rule or ours."""
        return (
            (s.compression_ratio or 0) > options.compression_ratio_threshold
            or (s.avg_logprob or 0) < options.log_prob_threshold
            or is_hallucination(s.avg_logprob, s.no_speech_prob)
        )

    def _packed_transcript(
        self,
        audio: np.ndarray,
        clip,
        got: list,
        segs: list,
        options: TranscribeOptions,
        language: tuple[str, float],
    ) -> Transcript:
        duration = audio.shape[0] / SAMPLE_RATE
        words = [
            Word(
                start=clip.to_file(float(w.start)),
                end=clip.to_file(float(w.end)),
                word=w.word,
                probability=w.probability,
            )
            for w, _ in got
        ]
        segments: list[Segment] = []
        text = "".join(w.word for w in words).strip()
        if text:
            head = segs[0]
            seg = Segment(
                id=0,
                start=words[0].start,
                end=words[-1].end,
                text=text,
                avg_logprob=min(s.avg_logprob for s in segs),
                no_speech_prob=max(s.no_speech_prob for s in segs),
                compression_ratio=max(s.compression_ratio for s in segs),
                temperature=head.temperature,
                words=words,
            )
            segments = shape_segment(seg, options)
        return Transcript(
            language=language[0],
            language_probability=language[1],
            duration=duration,
            segments=enforce_monotonic(segments, duration),
            task=options.task,
            model=self.model_name,
            engine=self.name,
        )

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe 16 kHz mono float32 samples.

        With VAD, every stretch of speech of a transcription (not of a translation:
        :func:`translating`) gets words: the words' times are checked
        against Silero VAD's speech (:func:`~vidpipe.speech.packing.uncovered_spans`)
        and what no word covers is decoded again (:meth:`_cover`). The batched
        pipeline decodes without timestamp tokens, except for the languages of
        :data:`TIMESTAMP_LANGUAGES`, where it stops at the first pause of a chunk.

        Args:
            audio: shape ``(n,)`` float32 in [-1, 1] at 16000 Hz.
            options: decoding options.
            progress: called with ``(seconds_done, seconds_total)`` as segments arrive.

        Returns:
            Transcript with times in seconds from the start of ``audio``.

        Raises:
            UsageError: language or task the model cannot do.
        """
        self._check(options)
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        duration = audio.shape[0] / SAMPLE_RATE
        if progress is None:
            return self._transcribe(audio, options, None)
        from vidpipe.progress import run_polled

        # decoding runs in a helper thread; the callback is called from this one every
        # POLL_SECONDS, so that a callback raising (a canceled job) stops at once
        tr = run_polled(lambda report: self._transcribe(audio, options, report), progress, duration)
        progress(duration, duration)
        return tr

    def _transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, report: Callable[[float], None] | None
    ) -> Transcript:
        """:meth:`transcribe`'s work; ``report(seconds done)`` after each decoded window
        (batched pipeline) or segment (sequential decoder)."""
        duration = audio.shape[0] / SAMPLE_RATE
        kwargs = whisper_kwargs(options)
        cover = options.vad and not translating(options)
        if cover:
            kwargs["word_timestamps"] = True  # the coverage check needs word times
        if options.batch_size > 1:
            from faster_whisper import BatchedInferencePipeline

            pipeline = (
                BatchedInferencePipeline(model=_WindowEncoder(self.model))
                if report is None
                else _stepped_pipeline(self.model, report)
            )
            if not options.vad:
                kwargs["clip_timestamps"] = fixed_windows(duration)
            # The pipeline decodes without timestamp tokens (its default): with them the
            # model may stop after a pair of timestamps expecting a next window, which
            # only the sequential decoder provides, and the rest of the chunk is lost
            # (faster-whisper issue #1427). Segments are then one per VAD chunk;
            # ``sentence_segments`` splits them using word times. Mandarin without them
            # stops at the first pause of a chunk, so it is decoded with them.
            kwargs.pop("condition_on_previous_text")  # batched chunks are independent
            kwargs["without_timestamps"] = options.language not in TIMESTAMP_LANGUAGES
            segments_iter, info = pipeline.transcribe(
                audio, batch_size=options.batch_size, **kwargs
            )
            if info.language in TIMESTAMP_LANGUAGES and kwargs["without_timestamps"]:
                # the segments are lazy: nothing was decoded yet
                kwargs.update(language=info.language, without_timestamps=False)
                segments_iter, _ = pipeline.transcribe(
                    audio, batch_size=options.batch_size, **kwargs
                )
        else:
            segments_iter, info = self.model.transcribe(audio, **kwargs)

        raw = []
        for s in segments_iter:
            if report:
                report(min(float(s.end), duration))
            if not is_hallucination(s.avg_logprob, s.no_speech_prob):
                raw.append(s)
        if options.batch_size > 1:
            raw = self._fallback(audio, raw, options, info.language)
        if cover:
            raw = self._cover(audio, raw, options, info.language)

        segments: list[Segment] = []
        for s in raw:
            if is_hallucination(s.avg_logprob, s.no_speech_prob) or not s.text.strip():
                continue
            words = [
                Word(start=w.start, end=w.end, word=w.word, probability=w.probability)
                for w in (s.words or [])
            ]
            start, end = float(s.start), float(s.end)
            if words and options.batch_size > 1:
                # a batched segment spans its whole VAD chunk: its words give its times
                start, end = words[0].start, words[-1].end
            seg = Segment(
                id=len(segments),
                start=start,
                end=end,
                text=s.text.strip(),
                avg_logprob=s.avg_logprob,
                no_speech_prob=s.no_speech_prob,
                compression_ratio=s.compression_ratio,
                temperature=s.temperature,
                words=words or None,
            )
            segments.extend(shape_segment(seg, options))
        return Transcript(
            language=info.language,
            language_probability=float(info.language_probability),
            duration=duration,
            segments=enforce_monotonic(segments, duration),
            task=options.task,
            model=self.model_name,
            engine=self.name,
        )

    def _cover(self, audio: np.ndarray, raw: list, options: TranscribeOptions, language: str):
        """``raw`` with the VAD speech that none of its words covers decoded again.

        The speech is Silero VAD's with the batched pipeline's settings; a stretch
        counts as uncovered when it lies over :data:`~vidpipe.speech.packing.WORD_SLACK`
        s from every word (:func:`~vidpipe.speech.packing.uncovered_spans`). Stretches
        less than :data:`COVER_JOIN` s apart are joined, and those holding more than
        :data:`~vidpipe.speech.packing.UNCOVERED_SECONDS` s of speech are decoded by
        the sequential decoder (with timestamp tokens and temperature fallback), each
        as its own clip reaching :data:`COVER_PAD` s around it but not past the words
        beside it. Up to :data:`COVER_ROUNDS` rounds: the sequential decoder, too, may
        skip a sentence of a long clip (it did on one sentence read five times). The
        new segments are merged in time order. Returns ``raw`` itself when nothing is
        uncovered.
        """
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if not audio.size:
            return raw
        vad = VadOptions(max_speech_duration_s=CHUNK_SECONDS, min_silence_duration_ms=160)
        speech = get_speech_timestamps(audio, vad)
        for _ in range(COVER_ROUNDS):
            clips = self._uncovered_clips(speech, raw, audio.shape[0] / SAMPLE_RATE)
            if not clips:
                break
            _log.debug("decoding again %d stretches of uncovered speech", len(clips) // 2)
            raw = self._redo(audio, raw, clips, options, language)
        return raw

    @staticmethod
    def _uncovered_clips(speech: list[dict], raw: list, duration: float) -> list[float]:
        """``clip_timestamps`` (seconds, start/end pairs) for the uncovered speech."""
        from vidpipe.speech import packing

        times = sorted((float(w.start), float(w.end)) for s in raw for w in (s.words or []))
        regions: list[list[float]] = []
        for a, b in packing.uncovered_spans(speech, times):
            if regions and a - regions[-1][1] < COVER_JOIN:
                regions[-1][1], regions[-1][2] = b, regions[-1][2] + b - a
            else:
                regions.append([a, b, b - a])
        clips: list[float] = []
        for a, b, seconds in regions:
            if seconds <= packing.UNCOVERED_SECONDS:
                continue
            lo = max([e for _, e in times if e <= a] + [a - COVER_PAD, 0.0])
            hi = min([s for s, _ in times if s >= b] + [b + COVER_PAD, duration])
            if clips:
                lo = max(lo, clips[-1])
            clips += [lo, hi]
        return clips

    def _redo(self, audio: np.ndarray, raw: list, clips: list[float], options, language):
        """``raw`` with ``clips`` decoded sequentially and merged in."""
        kwargs = whisper_kwargs(options)
        kwargs.update(vad_filter=False, language=language, word_timestamps=True)
        redo, _ = self.model.transcribe(audio, clip_timestamps=clips, **kwargs)
        spans = list(zip(clips[::2], clips[1::2], strict=True))
        extra = []
        for r in redo:
            if is_hallucination(r.avg_logprob, r.no_speech_prob) or not r.text.strip():
                continue
            words = [
                w
                for w in (r.words or [])
                if any(lo - 0.1 <= (w.start + w.end) / 2 <= hi + 0.1 for lo, hi in spans)
            ]
            if words:
                text = "".join(w.word for w in words)
                extra.append(
                    replace(r, words=words, text=text, start=words[0].start, end=words[-1].end)
                )
        kept = []
        for r in raw:  # a segment with words on both sides of a decoded stretch is cut there
            parts: list[list] = [[]]
            for w in r.words or []:
                if parts[-1] and any(parts[-1][-1].end <= lo and w.start >= hi for lo, hi in spans):
                    parts.append([])
                parts[-1].append(w)
            if len(parts) == 1:
                kept.append(r)
                continue
            kept += [
                replace(
                    r, words=p, text="".join(w.word for w in p), start=p[0].start, end=p[-1].end
                )
                for p in parts
            ]
        return sorted([*kept, *extra], key=lambda s: float(s.start))
