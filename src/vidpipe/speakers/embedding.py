"""Speaker embeddings: Resemblyzer's GE2E voice encoder (256-d, cosine similarity).

The network (3-layer LSTM of 256 units over 40 mel bands, a 256x256 linear layer, ReLU,
L2 norm) and its features (power mel spectrogram, 25 ms Hann windows every 10 ms,
Slaney mel scale, not logged) follow ``resemblyzer/voice_encoder.py`` and
``resemblyzer/audio.py`` of Resemblyzer 0.1.4 exactly; the features are computed here
with numpy so librosa is not needed. An utterance is cut into 1.6 s partials (160
frames) and its embedding is the L2-normalised mean of the partials' embeddings
(Resemblyzer's ``embed_utterance``; GE2E, Wan et al., ICASSP 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from vidpipe.speakers.models import VOICE_ENCODER, model_path, require_torch

SAMPLE_RATE = 16000
"""Input rate in Hz."""
N_FFT = 400
"""25 ms analysis window at 16 kHz."""
HOP = 160
"""10 ms frame step at 16 kHz."""
N_MELS = 40
PARTIAL_FRAMES = 160
"""Frames in one partial utterance (1.6 s)."""
EMBEDDING_DIM = 256
BATCH = 128
"""Partials per LSTM call (bounds memory on long recordings: 128 x 160 x 40 floats in)."""
TARGET_DBFS = -30.0
"""Loudness clips are raised to before embedding (Resemblyzer's ``audio_norm_target_dBFS``)."""


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """Slaney-style mel filterbank, shape ``(40, 201)`` (librosa.filters.mel's defaults)."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(
            f >= min_log_hz,
            min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
            f / f_sp,
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(
            m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m
        )

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


def mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """Power mel spectrogram as the GE2E encoder wants it.

    Args:
        audio: 16 kHz mono float32 samples.

    Returns:
        ``(frames, 40)`` float32, ``frames = 1 + len(audio) // 160`` (centred frames,
        zero padded, as librosa's ``melspectrogram`` with ``center=True``).
    """
    x = np.pad(np.asarray(audio, dtype=np.float32), N_FFT // 2)
    n = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    return (spec.astype(np.float32) @ _mel_filters().T).astype(np.float32)


class VoiceEncoder:
    """The GE2E encoder loaded from Resemblyzer's ``pretrained.pt`` (sha256 checked).

    Raises:
        ModelError: the ``diarize`` extra (torch, resemblyzer) is missing or the file
            is corrupt.
    """

    def __init__(self) -> None:
        torch = require_torch()
        path = model_path(VOICE_ENCODER)
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        self._torch = torch
        self._lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self._linear = torch.nn.Linear(256, EMBEDDING_DIM)
        self._lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self._linear.load_state_dict(
            {k[7:]: v for k, v in state.items() if k.startswith("linear.")}
        )
        self._lstm.eval()
        self._linear.eval()

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of partials.

        Args:
            mels: ``(batch, frames, 40)`` mel spectrograms (same length each).

        Returns:
            ``(batch, 256)`` float32, non-negative, L2-normalised.
        """
        torch = self._torch
        if len(mels) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        # One intra-op thread: torch's OpenMP threads spin-wait, and on a shared 2-core
        # machine two of them ran the LSTM 10x slower than one (measured: 64 partials
        # 10 s with 2 threads under load, 0.7 s with 1).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                _, (hidden, _) = self._lstm(torch.from_numpy(np.ascontiguousarray(mels)))
                raw = torch.relu(self._linear(hidden[-1]))
                out = raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=1e-12)
        finally:
            torch.set_num_threads(threads)
        return out.numpy()

    def embed_many(self, clips: Sequence[np.ndarray], rate: float = 1.3) -> np.ndarray:
        """One embedding per clip, all partials of all clips in one batch.

        Each clip is cut into 1.6 s partials, ``rate`` partials per second (the last one
        zero padded; Resemblyzer's ``compute_partial_slices`` with ``min_coverage``
        0.75); a clip shorter than one partial gives one padded partial.

        Args:
            clips: 16 kHz mono float32 arrays (each at least 1 sample).
            rate: partials per second, at least 0.625 (one partial every 1.6 s).

        Returns:
            ``(len(clips), 256)`` float32, L2-normalised (cosine similarity = dot).
        """
        step = max(1, min(PARTIAL_FRAMES, round(SAMPLE_RATE / rate / HOP)))
        batches: list[np.ndarray] = []
        owners: list[int] = []
        for i, clip in enumerate(clips):
            mel = mel_spectrogram(normalize_volume(clip))
            n = mel.shape[0]
            starts = list(range(0, max(1, n - PARTIAL_FRAMES + step + 1), step))
            if len(starts) > 1 and (n - starts[-1]) / PARTIAL_FRAMES < 0.75:
                starts.pop()
            need = starts[-1] + PARTIAL_FRAMES
            if need > n:
                mel = np.pad(mel, ((0, need - n), (0, 0)))
            for s in starts:
                batches.append(mel[s : s + PARTIAL_FRAMES])
                owners.append(i)
        if not batches:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        partial = np.concatenate(
            [
                self.embed_partials(np.stack(batches[i : i + BATCH]))
                for i in range(0, len(batches), BATCH)
            ]
        )
        sums = np.zeros((len(clips), EMBEDDING_DIM), np.float64)
        np.add.at(sums, np.asarray(owners), partial)
        return normalize(sums)

    def embed(self, clip: np.ndarray) -> np.ndarray:
        """The 256-d L2-normalised embedding of one 16 kHz mono clip."""
        return self.embed_many([clip])[0]


def normalize_volume(clip: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``clip`` raised (never lowered) to an RMS of ``target_dbfs`` dB full scale.

    The encoder reads power (not log) mel spectra, so its input level matters: it was
    trained on clips raised to -30 dBFS (Resemblyzer's ``preprocess_wav`` with
    ``normalize_volume(..., increase_only=True)``). Quiet recordings (AMI's are near
    -50 dBFS) would otherwise all look alike.
    """
    x = np.asarray(clip, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if rms <= 0:
        return x
    gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
    return x * np.float32(gain) if gain > 1 else x


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero), as float32."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """The process-wide :class:`VoiceEncoder` (loaded once)."""
    return VoiceEncoder()
