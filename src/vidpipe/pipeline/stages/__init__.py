"""The stages: the contract every unit of pipeline work follows (:mod:`.base`:
:class:`Stage`, :class:`StageContext`, :class:`StageInput`, :class:`StageInputs`,
:class:`StageResult`...) and one module per stage (``download``, ``probe``,
``audio``, ``transcribe``, ``summarize``, ``chapters``, ``topics``, ``describe``,
``embed``, ``speak``, ``images``, ``render``, ``narrate``, ``diarize``), each with its
``Options`` and ``run``. :mod:`vidpipe.pipeline.registry` is the name -> stage table.
"""

from vidpipe.pipeline.stages.base import (
    AUDIO_SUFFIXES,
    IMAGE_ARTIFACT_SUFFIXES,
    JOB_REF,
    NO_AUDIO,
    TRANSCRIPT_ARTIFACT,
    DependencyOutput,
    ProgressHook,
    Stage,
    StageContext,
    StageInput,
    StageInputs,
    StageOptions,
    StageResult,
    StageSkipped,
    has_no_audio,
    options_error,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "IMAGE_ARTIFACT_SUFFIXES",
    "JOB_REF",
    "NO_AUDIO",
    "TRANSCRIPT_ARTIFACT",
    "DependencyOutput",
    "ProgressHook",
    "Stage",
    "StageContext",
    "StageInput",
    "StageInputs",
    "StageOptions",
    "StageResult",
    "StageSkipped",
    "has_no_audio",
    "options_error",
]
