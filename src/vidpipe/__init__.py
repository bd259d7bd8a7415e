"""vidpipe: turn video and audio into searchable, timestamped text, offline.

Public API::

    import vidpipe
    info = vidpipe.probe("talk.mp4")                 # MediaInfo
    tr = vidpipe.transcribe("talk.mp4", word_timestamps=True)   # Transcript
    trs = vidpipe.transcribe_many(["a.wav", "b.mp4"])  # short files share windows
    vidpipe.write_transcript(tr, "out", "talk", ["srt", "json"])
    vec = vidpipe.embed_audio("talk.mp4")            # (512,) float32, Whisper base encoder
    hits = vidpipe.similar("clip.wav", k=5)          # nearest stored items (catalog)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "MediaInfo",
    "Segment",
    "StreamInfo",
    "Transcript",
    "Word",
    "__version__",
    "decode_audio",
    "embed_audio",
    "extract_audio",
    "probe",
    "similar",
    "transcribe",
    "transcribe_many",
    "write_transcript",
]

from vidpipe.types import MediaInfo, Segment, StreamInfo, Transcript, Word

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.media.audio import decode_audio, extract_audio
    from vidpipe.media.probe import probe
    from vidpipe.pipeline.embed import embed_audio, similar
    from vidpipe.speech.transcribe import transcribe, transcribe_many
    from vidpipe.writers import write_transcript

_LAZY = {
    "probe": "vidpipe.media.probe",
    "decode_audio": "vidpipe.media.audio",
    "extract_audio": "vidpipe.media.audio",
    "transcribe": "vidpipe.speech.transcribe",
    "transcribe_many": "vidpipe.speech.transcribe",
    "write_transcript": "vidpipe.writers",
    "embed_audio": "vidpipe.pipeline.embed",
    "similar": "vidpipe.pipeline.embed",
}


# Building blocks that take the resolved settings: the public API passes the process
# settings (VIDPIPE_*) for what the caller leaves open.
_WITH_SETTINGS = frozenset({"transcribe", "transcribe_many"})


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import vidpipe` and `vidpipe --help` fast (no PyAV/CTranslate2 load).
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        if name in _WITH_SETTINGS:
            from vidpipe.pipeline.stages.transcribe import with_settings

            value = globals()[name] = with_settings(value)
        return value
    raise AttributeError(f"module 'vidpipe' has no attribute {name!r}")
