"""Known voices: voiceprints from example clips, and naming diarized speakers by them.

A voiceprint is the L2-normalised mean of the L2-normalised GE2E embeddings of a
person's clips (Resemblyzer's ``embed_speaker``; the d-vector enrolment of Wan et al.,
ICASSP 2018). A diarized speaker takes a known name when the cosine similarity between
its centroid embedding and that voiceprint reaches :data:`MATCH_THRESHOLD`; each name
goes to at most one speaker (Hungarian assignment on similarity), and a speaker like no
known voice keeps its ``SPEAKER_nn`` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vidpipe.errors import InputError
from vidpipe.speakers.embedding import EMBEDDING_DIM, load_voice_encoder, normalize

MATCH_THRESHOLD = 0.88
"""Cosine similarity from which a speaker is taken to be a known voice. Measured on the
dev set: voiceprints enrolled from one AMI clip's reference turns (overlap removed)
against the diarized speakers of the other clips, different people scored at most 0.85
(0.90 for a diarized speaker that mixed two men of the same meeting), the same person
0.63-0.92 (0.92 and 0.90 for the two men of ES2003a/b, 0.84 for the best EN2006 match).
0.88 names no stranger of another meeting: it favours leaving a voice unnamed over
naming it wrongly."""


@dataclass(frozen=True)
class Voiceprint:
    """A known voice.

    Attributes:
        name: the name diarized speakers take when they match.
        vector: ``(256,)`` float32, L2-normalised GE2E embedding.
        clips: how many clips it was made from.
    """

    name: str
    vector: np.ndarray
    clips: int = 1

    def to_dict(self) -> dict:
        """JSON-ready form: ``{"name", "clips", "vector": [256 floats]}``."""
        return {"name": self.name, "clips": self.clips, "vector": self.vector.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping) -> Voiceprint:
        """The inverse of :meth:`to_dict`.

        Raises:
            InputError: no name, or not a 256-number vector.
        """
        try:
            vec = np.asarray(data["vector"], dtype=np.float32)
            name = str(data["name"]).strip()
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a voiceprint: {exc}") from None
        if not name or vec.shape != (EMBEDDING_DIM,) or not np.isfinite(vec).all():
            raise InputError(f"not a voiceprint: needs a name and {EMBEDDING_DIM} numbers")
        return cls(name=name, vector=normalize(vec), clips=int(data.get("clips", 1)))


def enroll(name: str, clips: Sequence[np.ndarray]) -> Voiceprint:
    """A voiceprint of ``name`` from clips of their voice alone.

    Args:
        name: the person's name (non-empty).
        clips: 16 kHz mono float32 arrays, each at least 0.1 s of speech; a few seconds
            in total or more make a reliable print.

    Raises:
        InputError: no name, no clip, or a clip shorter than 0.1 s.
        ModelError: the ``diarize`` extra is missing.
    """
    name = name.strip()
    if not name:
        raise InputError("a voiceprint needs a name")
    if not clips or any(np.asarray(c).size < 1600 for c in clips):
        raise InputError(f"voiceprint '{name}' needs clips of at least 0.1 s each")
    emb = load_voice_encoder().embed_many([np.asarray(c, dtype=np.float32) for c in clips])
    return Voiceprint(name=name, vector=normalize(emb.mean(axis=0)), clips=len(clips))


def name_speakers(
    embeddings: Mapping[str, np.ndarray],
    voiceprints: Sequence[Voiceprint],
    threshold: float = MATCH_THRESHOLD,
) -> dict[str, str]:
    """Which diarized speakers are known voices.

    Args:
        embeddings: speaker label -> its embedding (e.g. :attr:`Diarization.embeddings`).
        voiceprints: the known voices.
        threshold: least cosine similarity for a match.

    Returns:
        label -> name for the speakers matched (one speaker per name, one name per
        speaker, the pairing of highest total similarity); strangers are absent.
    """
    from scipy.optimize import linear_sum_assignment

    labels = list(embeddings)
    if not labels or not voiceprints:
        return {}
    a = normalize(np.stack([np.asarray(embeddings[k]) for k in labels]))
    b = normalize(np.stack([v.vector for v in voiceprints]))
    sim = a @ b.T
    rows, cols = linear_sum_assignment(-sim)
    return {
        labels[i]: voiceprints[j].name
        for i, j in zip(rows, cols, strict=True)
        if sim[i, j] >= threshold
    }
