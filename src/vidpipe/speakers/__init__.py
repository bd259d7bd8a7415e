"""Speaker diarization building blocks: who speaks when, and known voices.

* :func:`diarize` — speaker turns of 16 kHz mono audio (segmentation-3.0 + GE2E
  embeddings + agglomerative clustering), overlap included.
* :func:`assign_speakers` — give each word and segment of a transcript its speaker.
* :func:`enroll` / :func:`name_speakers` — voiceprints of known voices and matching.
* RTTM and JSON (:mod:`.rttm`), DER (:mod:`.metrics`).

The models need the ``diarize`` extra (``pip install "vidpipe[diarize]"``); the file
formats, DER and :func:`assign_speakers` do not.
"""

from vidpipe.speakers.assign import assign_speakers
from vidpipe.speakers.diarization import THRESHOLD, Diarization, diarize, speech_spans
from vidpipe.speakers.metrics import DERComponents, der_components, diarization_error_rate
from vidpipe.speakers.rttm import (
    format_rttm,
    parse_rttm,
    read_rttm,
    turns_from_json,
    turns_to_json,
)
from vidpipe.speakers.voiceprints import (
    MATCH_THRESHOLD,
    Voiceprint,
    enroll,
    name_speakers,
)
from vidpipe.types import SpeakerTurn

__all__ = [
    "MATCH_THRESHOLD",
    "THRESHOLD",
    "DERComponents",
    "Diarization",
    "SpeakerTurn",
    "Voiceprint",
    "assign_speakers",
    "der_components",
    "diarization_error_rate",
    "diarize",
    "enroll",
    "format_rttm",
    "name_speakers",
    "parse_rttm",
    "read_rttm",
    "speech_spans",
    "turns_from_json",
    "turns_to_json",
]
