"""Audio embeddings: one fixed-size float32 vector per recording, offline by default.

Encoders sit behind one small Protocol, :class:`AudioEncoder`: given 16 kHz mono
clips, return each clip's frame-level states (only frames that hold real audio).
:func:`embed_clips` then pools them (mean, or mean and standard deviation) into one
vector per clip. Two encoders:

- ``whisper`` (the default, ``whisper:base``; also ``whisper:tiny.en`` or
  ``whisper:FOLDER``): the encoder of a bundled CTranslate2 Whisper model
  (:func:`vidpipe.speech.models.resolve_model`) through
  ``ctranslate2.models.Whisper.encode``. Log-mel features come from faster-whisper's
  ``FeatureExtractor`` (Whisper's 25 ms / 10 ms STFT, 80 or 128 mel bands). The input
  is cut into Whisper's fixed 30 s windows (3000 feature frames); windows of all the
  clips in a call are encoded ``batch_size`` at a time (default 1 on CPU, 8 on CUDA:
  on 2 CPU cores with ``base``/int8, 40 windows took 39 CPU seconds one at a time
  and 48 in batches of 8; the vectors are the same either way). The encoder gives 50 frames
  per second (``base``: 512 dimensions, ``tiny.en``: 384); of the last window only
  the frames covering real audio (``ceil(samples / 320)``) are pooled, not the
  padding.
- ``wav2vec2:FOLDER`` (also ``hubert:``, ``wavlm:``: any ``transformers`` audio
  encoder saved with ``save_pretrained``): loaded from the local folder only (never
  from the hub), through the optional extra ``pip install "vidpipe[wav2vec2]"``
  (transformers + torch). ``layer`` chooses the hidden layer (default: the last).
  Long audio goes through in 30 s pieces, so memory stays bounded.

Before the features every clip is scaled to the same loudness (RMS of
:data:`TARGET_DBFS`): Whisper's log-mel has no gain normalisation (``(log10(power) +
4) / 4``), so a copy 6 dB louder would shift every feature by 0.15; after scaling a
louder or quieter copy gives the same vector. A clip whose RMS is below
:data:`SILENCE_DBFS` is refused as silent.

Raw pooled vectors of one encoder all point in nearly the same direction (mean-pooled
Whisper states of a 220 Hz and a 660 Hz tone: cosine 0.92), so they are compared only
after centring and per-dimension scaling by the collection (its PCA when fitted) and
L2 normalisation (:mod:`vidpipe.embed.pca`, :mod:`vidpipe.embed.similar`).

This module is a building block: it reads no settings and opens no catalog; models
are built by :func:`get_encoder` from what the caller passes.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from vidpipe.errors import MediaError, ModelError, UsageError

__all__ = [
    "SAMPLE_RATE",
    "SILENCE_DBFS",
    "TARGET_DBFS",
    "AudioEncoder",
    "EncoderSpec",
    "TransformersEncoder",
    "WhisperEncoder",
    "embed_clips",
    "get_encoder",
    "parse_encoder",
    "pool_frames",
    "prepare_clip",
]

SAMPLE_RATE = 16000
"""Hz; every encoder here takes 16 kHz mono float32."""

WINDOW_SECONDS = 30
"""Whisper's fixed input window in seconds (3000 feature frames, 1500 encoder frames)."""

SAMPLES_PER_FRAME = 320
"""Input samples per Whisper encoder frame: hop 160 samples, then a stride-2 convolution."""

TARGET_DBFS = -20.0
"""Every clip is scaled to this RMS level (dB relative to full scale) before encoding."""

SILENCE_DBFS = -60.0
"""A clip quieter than this (RMS, dBFS) is silent: there is nothing to embed."""

Pool = Literal["mean", "meanstd"]
ProgressCallback = Callable[[float, float], None]
ENCODER_KINDS = ("whisper", "wav2vec2", "hubert", "wavlm")


class AudioEncoder(Protocol):
    """What an audio encoder offers :func:`embed_clips`.

    Attributes:
        name: the encoder spec it was built from, e.g. ``"whisper:base"``.
        dim: dimensions of one frame state (a ``mean`` vector has ``dim`` values,
            a ``meanstd`` vector ``2 * dim``).
    """

    name: str
    dim: int

    def frames(
        self, clips: Sequence[np.ndarray], on_window: Callable[[float], None] | None = None
    ) -> list[np.ndarray]:
        """Frame states of each clip: a list of ``(n_frames, dim)`` float32 arrays, one
        per clip (16 kHz mono float32, already loudness-scaled), real audio only.
        ``on_window(seconds)`` is called after each window is encoded with the seconds
        of audio it held (it may raise to stop)."""
        ...


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--model`` value: ``kind`` (``whisper``, ``wav2vec2``, ``hubert``,
    ``wavlm``) and ``model`` (a bundled Whisper name or a folder)."""

    kind: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}"


def parse_encoder(spec: str | None) -> EncoderSpec:
    """``"whisper"`` → ``whisper:base``; ``"whisper:tiny.en"``; ``"wav2vec2:/models/x"``.

    Raises:
        UsageError: an unknown kind, or a transformers kind without a folder.
    """
    text = (spec or "whisper").strip()
    kind, _, model = text.partition(":")
    kind = kind.strip().lower()
    if kind not in ENCODER_KINDS:
        raise UsageError(
            f"unknown audio encoder '{text}'",
            "use whisper, whisper:tiny.en, whisper:FOLDER or wav2vec2:FOLDER",
        )
    model = model.strip()
    if kind == "whisper":
        return EncoderSpec("whisper", model or "base")
    if not model:
        raise UsageError(
            f"the {kind} encoder needs a local model folder",
            f"pass --model {kind}:PATH (a folder saved with save_pretrained)",
        )
    return EncoderSpec(kind, str(Path(model).expanduser().resolve()))


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level of ``audio`` in dB relative to full scale (``-240`` for digital silence)."""
    if audio.size == 0:
        return -240.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(max(rms, 1e-12))


def prepare_clip(audio: np.ndarray, name: str = "the audio") -> np.ndarray:
    """Check a 16 kHz mono clip and scale it to :data:`TARGET_DBFS` RMS.

    Args:
        audio: shape ``(n,)`` float32 samples at 16 kHz (stereo ``(n, 2)`` is averaged).
        name: what to call the clip in messages (a file name).

    Returns:
        A new contiguous float32 array of the same length.

    Raises:
        MediaError: empty, shorter than one encoder frame (20 ms), or silent
            (RMS below :data:`SILENCE_DBFS`).
    """
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=1)
    a = a.reshape(-1)
    if a.size < SAMPLES_PER_FRAME:
        raise MediaError(
            f"{name}: the audio is too short to embed ({a.size / SAMPLE_RATE:.3f} s)",
            "give at least 20 ms of sound",
        )
    level = rms_dbfs(a)
    if level < SILENCE_DBFS:
        raise MediaError(
            f"{name}: the audio is silent (RMS {level:.0f} dBFS): nothing to embed",
            "check the file has sound",
        )
    gain = 10.0 ** ((TARGET_DBFS - level) / 20.0)
    return np.ascontiguousarray(a * np.float32(gain), dtype=np.float32)


def pool_frames(frames: np.ndarray, pool: Pool = "mean") -> np.ndarray:
    """One vector from ``(n_frames, dim)`` states: their mean, or mean then standard
    deviation (``meanstd``, ``2 * dim`` values). float32."""
    f = np.asarray(frames, dtype=np.float32)
    mean = f.mean(axis=0)
    if pool == "mean":
        return mean.astype(np.float32)
    if pool == "meanstd":
        return np.concatenate([mean, f.std(axis=0)]).astype(np.float32)
    raise UsageError(f"unknown pooling '{pool}'", "use mean or meanstd")


def embed_clips(
    encoder: AudioEncoder,
    clips: Sequence[np.ndarray],
    pool: Pool = "mean",
    names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    group: int = 16,
    audio_progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Embed several clips with one encoder.

    Args:
        encoder: an :class:`AudioEncoder` (:func:`get_encoder`).
        clips: 16 kHz mono float32 arrays, any lengths.
        pool: ``mean`` (``dim`` values) or ``meanstd`` (``2 * dim``).
        names: names of the clips for messages (default ``clip N``).
        progress: ``progress(clips_done, clips_total)`` after each group.
        group: clips handed to the encoder at once (its windows are batched together).
        audio_progress: ``audio_progress(seconds_done, seconds_total)`` in audio
            seconds after each encoded window (30 s); may raise to stop.

    Returns:
        ``(len(clips), dim or 2*dim)`` float32, raw (not normalised: see the module doc).

    Raises:
        MediaError: a clip is empty, too short or silent (:func:`prepare_clip`).
    """
    names = list(names) if names is not None else [f"clip {i + 1}" for i in range(len(clips))]
    width = encoder.dim * (2 if pool == "meanstd" else 1)
    out = np.zeros((len(clips), width), dtype=np.float32)
    ready = [prepare_clip(c, n) for c, n in zip(clips, names, strict=True)]
    total = sum(c.shape[0] for c in ready) / SAMPLE_RATE
    done = [0.0]

    def window(seconds: float) -> None:
        done[0] += seconds
        audio_progress(min(done[0], total), total)  # type: ignore[misc]

    on_window = window if audio_progress is not None else None
    for lo in range(0, len(ready), max(1, group)):
        part = ready[lo : lo + group]
        for i, fr in enumerate(encoder.frames(part, on_window)):
            out[lo + i] = pool_frames(fr, pool)
        if progress is not None:
            progress(float(min(lo + group, len(ready))), float(len(ready)))
    return out


# --------------------------------------------------------------------------- whisper


class WhisperEncoder:
    """The encoder half of a CTranslate2 Whisper model.

    Args:
        model_dir: a CTranslate2 Whisper folder (:func:`vidpipe.speech.models.resolve_model`).
        name: the spec to report (``whisper:base``).
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 compute type (``int8`` is fastest on CPU).
        threads: CPU threads for the encoder.
        batch_size: 30 s windows per ``encode`` call (``None``: 1 on CPU, 8 on CUDA).

    Raises:
        ModelError: the folder cannot be loaded.
    """

    def __init__(
        self,
        model_dir: str | Path,
        name: str = "whisper",
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 1,
        batch_size: int | None = None,
    ) -> None:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        try:
            self.model = ctranslate2.models.Whisper(
                str(model_dir), device=device, compute_type=compute_type, intra_threads=threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"cannot load the Whisper model in {model_dir}: {str(exc).splitlines()[0]}",
                "check the model folder, or use --model whisper",
            ) from exc
        self._ct2 = ctranslate2
        self.name = name
        self.batch_size = max(1, int(batch_size or (8 if device == "cuda" else 1)))
        self.features = FeatureExtractor(feature_size=self.model.n_mels)
        self.window_frames = self.features.nb_max_frames  # 3000 feature frames
        self.dim = self._probe_dim()
        self._lock = threading.Lock()

    def _probe_dim(self) -> int:
        x = np.zeros((1, self.model.n_mels, self.window_frames), dtype=np.float32)
        return int(np.asarray(self.model.encode(self._ct2.StorageView.from_array(x))).shape[-1])

    def frames(
        self, clips: Sequence[np.ndarray], on_window: Callable[[float], None] | None = None
    ) -> list[np.ndarray]:
        """Encoder states of real audio per clip (see the module doc); 50 per second;
        ``on_window(seconds of audio)`` after each encoded window."""
        windows: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []  # (clip index, real encoder frames)
        per_window = WINDOW_SECONDS * SAMPLE_RATE
        for ci, clip in enumerate(clips):
            # features of the whole clip (faster-whisper computes them this way), then cut
            mel = self.features(clip, padding=0)
            for w0 in range(0, clip.shape[0], per_window):
                n = min(per_window, clip.shape[0] - w0)
                f0 = w0 // self.features.hop_length
                piece = mel[:, f0 : f0 + self.window_frames]
                win = np.zeros((mel.shape[0], self.window_frames), dtype=np.float32)
                win[:, : piece.shape[1]] = piece
                windows.append(win)
                owners.append((ci, min(1500, math.ceil(n / SAMPLES_PER_FRAME))))
        states: list[list[np.ndarray]] = [[] for _ in clips]
        for lo in range(0, len(windows), self.batch_size):
            batch = np.ascontiguousarray(np.stack(windows[lo : lo + self.batch_size]))
            with self._lock:
                enc = np.asarray(self.model.encode(self._ct2.StorageView.from_array(batch)))
            for j, (ci, real) in enumerate(owners[lo : lo + self.batch_size]):
                states[ci].append(enc[j, :real])
                if on_window is not None:
                    on_window(real * SAMPLES_PER_FRAME / SAMPLE_RATE)
        return [np.concatenate(s).astype(np.float32, copy=False) for s in states]


# --------------------------------------------------------------------------- transformers


class TransformersEncoder:
    """A ``transformers`` audio encoder (wav2vec2, HuBERT, WavLM...) from a local folder.

    Args:
        folder: a folder written by ``save_pretrained`` (``config.json`` and weights;
            ``preprocessor_config.json`` if the model normalises its input).
        name: the spec to report (``wav2vec2:/path``).
        layer: hidden layer to pool (``None``: the last; 0 is the CNN features'
            projection, as ``output_hidden_states`` numbers them).
        threads: torch CPU threads.

    Raises:
        ModelError: transformers/torch missing, or the folder cannot be loaded.
    """

    def __init__(
        self, folder: str | Path, name: str, layer: int | None = None, threads: int = 1
    ) -> None:
        try:
            import torch
            from transformers import AutoConfig, AutoModel
        except ImportError as exc:
            raise ModelError(
                "the wav2vec2 encoders need transformers and torch",
                'pip install "vidpipe[wav2vec2]"',
            ) from exc
        path = Path(folder)
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path} is not a transformers model folder (no config.json)",
                "pass a folder written by save_pretrained, e.g. a downloaded "
                "jonatasgrosman/wav2vec2-large-xlsr-53-russian",
            )
        torch.set_num_threads(max(1, threads))
        with contextlib.suppress(Exception):  # no "Loading weights" bars on the console
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(
                f"cannot load the audio model in {path}: {str(exc).splitlines()[0]}",
                "check the folder holds config.json and model weights",
            ) from exc
        self._torch = torch
        self.name = name
        self.dim = int(config.hidden_size)
        n_layers = int(getattr(config, "num_hidden_layers", 0))
        if layer is not None and not -n_layers - 1 <= layer <= n_layers:
            raise UsageError(
                f"layer {layer} is out of range for {path.name} ({n_layers} layers)",
                f"give a layer from 0 to {n_layers}",
            )
        self.layer = layer
        self.normalize = _wants_normalised_input(path)
        self._lock = threading.Lock()

    def frames(
        self, clips: Sequence[np.ndarray], on_window: Callable[[float], None] | None = None
    ) -> list[np.ndarray]:
        """Hidden states of each clip (about 50 frames per second for wav2vec2);
        ``on_window(seconds of audio)`` after each 30 s piece."""
        torch = self._torch
        out: list[np.ndarray] = []
        per_piece = WINDOW_SECONDS * SAMPLE_RATE
        for clip in clips:
            states = []
            for w0 in range(0, clip.shape[0], per_piece):
                piece = clip[w0 : w0 + per_piece]
                if piece.shape[0] < 400:  # shorter than the CNN's receptive field
                    continue
                if self.normalize:  # Wav2Vec2FeatureExtractor's zero-mean unit-variance
                    piece = (piece - piece.mean()) / np.sqrt(piece.var() + 1e-7)
                x = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32))[None]
                with self._lock, torch.inference_mode():
                    res = self.model(x, output_hidden_states=self.layer is not None)
                h = res.last_hidden_state if self.layer is None else res.hidden_states[self.layer]
                states.append(h[0].float().numpy())
                if on_window is not None:
                    on_window(piece.shape[0] / SAMPLE_RATE)
            out.append(np.concatenate(states).astype(np.float32, copy=False))
        return out


def _wants_normalised_input(folder: Path) -> bool:
    """``do_normalize`` of the folder's ``preprocessor_config.json`` (True when absent,
    as for the XLSR models)."""
    import json

    cfg = folder / "preprocessor_config.json"
    try:
        return bool(json.loads(cfg.read_text(encoding="utf-8")).get("do_normalize", True))
    except (OSError, ValueError):
        return True


# --------------------------------------------------------------------------- factory

_factory_lock = threading.Lock()


def get_encoder(
    spec: str | EncoderSpec | None = None,
    *,
    model_dir: str | Path | None = None,
    device: str = "cpu",
    compute_type: str = "int8",
    threads: int = 1,
    batch_size: int | None = None,
    layer: int | None = None,
) -> AudioEncoder:
    """The encoder for ``spec``, built once per process for the same arguments.

    Args:
        spec: ``whisper`` (``whisper:base``), ``whisper:tiny.en``, ``whisper:FOLDER``,
            ``wav2vec2:FOLDER`` (also ``hubert:``, ``wavlm:``).
        model_dir: for ``whisper``, the resolved CTranslate2 folder
            (:func:`vidpipe.speech.models.resolve_model`); resolved here when omitted.
        device, compute_type, threads, batch_size: for the Whisper encoder.
        layer: hidden layer of a transformers encoder (``None``: the last).

    Raises:
        UsageError: a bad spec or layer.
        ModelError: the model cannot be found or loaded.
    """
    es = spec if isinstance(spec, EncoderSpec) else parse_encoder(spec)
    if es.kind == "whisper":
        if model_dir is None:
            from vidpipe.speech.models import resolve_model

            model_dir = resolve_model(es.model)
        key = ("whisper", str(model_dir), es.name, device, compute_type, threads, batch_size)
    else:
        key = (es.kind, es.model, es.name, layer, threads)
    with _factory_lock:
        return _build(key)


@lru_cache(maxsize=4)
def _build(key: tuple) -> AudioEncoder:
    if key[0] == "whisper":
        _, folder, name, device, compute_type, threads, batch_size = key
        return WhisperEncoder(folder, name, device, compute_type, threads, batch_size)
    _, folder, name, layer, threads = key
    return TransformersEncoder(folder, name, layer=layer, threads=threads)
