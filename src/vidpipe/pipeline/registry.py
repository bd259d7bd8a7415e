"""The one registry of stages: each wraps the building block that does the work.

Each stage's module (``pipeline/stages/<kind>.py``) holds its ``Options``, its ``run``
and the public functions the command line and library users call:

- ``download``: :mod:`vidpipe.library.download` (one URL); the file goes to ``dest``
  (``into_job``: the job folder);
- ``probe``: :func:`vidpipe.media.probe.probe`; the result is the MediaInfo;
- ``audio``: :func:`vidpipe.media.audio.extract_audio`; ``audio.<format>``;
- ``transcribe``: :func:`vidpipe.speech.transcribe.transcribe`; ``transcript.json``
  (``transcribe_files``, ``export_transcripts``, ``resolve_input``);
- ``diarize``: :func:`vidpipe.speakers.diarize`; ``turns.rttm``, ``turns.json``
  (``diarize_files``, ``diarize_audio``, ``diarize_transcript``);
- ``summarize``, ``chapters``: ``summarize_media``, ``chapters_media``;
  ``summary.summary.md/json``, ``chapters.chapters.*``;
- ``describe``: ``describe_media`` (scenes, keyframes, OCR); ``scenes.json``...;
- ``topics``: ``catalog_topics``; ``topics.json``, ``topics.md``;
- ``embed``: :func:`vidpipe.pipeline.embed.embed_one`; ``embedding.npy``;
- ``speak``: :func:`vidpipe.speech.tts.speak`; ``speech.wav``, ``transcript.json``
  (``speak_text``);
- ``images``: one ``generate`` call of an image generator; ``images/<generator>-NNN.png``;
- ``render``: :func:`vidpipe.media.render.render_slideshow`; ``video.mp4`` (``.srt``)
  (``render_video``);
- ``narrate``: :func:`vidpipe.pipeline.narrate.narrate`, the chain speak or transcribe,
  images, render; ``narrated.mp4`` (``.srt``), ``work/...``;
- ``proxy``: :func:`vidpipe.media.proxy.make_proxy`; ``proxy.mp4``, ``poster.jpg``.

``topics`` is a run over the catalog's items (or a selection of them); ``narrate``
runs its chain in-process through the stage cache (:mod:`vidpipe.pipeline.cache`).

The media steps (``download`` then the stages with ``media_step``: probe, audio,
transcribe, diarize, summarize, chapters, describe, embed) are what ``vidpipe run``
and ``vidpipe submit`` chain per input line, in this order (:func:`media_steps`);
:func:`run_stage` runs one of them the same way for both, skipping the stages that
need an audio track on a file without one (:data:`~vidpipe.pipeline.stages.NO_AUDIO`).

Models are loaded once per process: the ASR engine and the voice are cached by the
options that build them (:func:`asr_engine`, :func:`voice`).
"""

from __future__ import annotations

from typing import Any

from vidpipe.errors import NoAudioError, UsageError
from vidpipe.pipeline.stages.audio import AudioStage
from vidpipe.pipeline.stages.base import (
    NO_AUDIO,
    Stage,
    StageContext,
    StageInputs,
    StageResult,
    StageSkipped,
    has_no_audio,
)
from vidpipe.pipeline.stages.chapters import ChaptersStage
from vidpipe.pipeline.stages.describe import DescribeStage
from vidpipe.pipeline.stages.diarize import DiarizeStage
from vidpipe.pipeline.stages.download import DownloadStage
from vidpipe.pipeline.stages.embed import EmbedStage
from vidpipe.pipeline.stages.images import ImagesStage
from vidpipe.pipeline.stages.narrate import NarrateStage
from vidpipe.pipeline.stages.probe import ProbeStage
from vidpipe.pipeline.stages.proxy import ProxyStage
from vidpipe.pipeline.stages.render import RenderStage
from vidpipe.pipeline.stages.speak import SpeakStage
from vidpipe.pipeline.stages.summarize import SummarizeStage
from vidpipe.pipeline.stages.topics import TopicsStage
from vidpipe.pipeline.stages.transcribe import TranscribeStage

__all__ = [
    "STAGES",
    "AudioStage",
    "ChaptersStage",
    "DescribeStage",
    "DiarizeStage",
    "DownloadStage",
    "EmbedStage",
    "ImagesStage",
    "NarrateStage",
    "ProbeStage",
    "ProxyStage",
    "RenderStage",
    "SpeakStage",
    "SummarizeStage",
    "TopicsStage",
    "TranscribeStage",
    "get_stage",
    "has_no_audio",
    "item_kinds",
    "media_steps",
    "run_stage",
    "stage_names",
]

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        DownloadStage(),
        ProbeStage(),
        AudioStage(),
        TranscribeStage(),
        DiarizeStage(),
        SummarizeStage(),
        ChaptersStage(),
        TopicsStage(),
        DescribeStage(),
        EmbedStage(),
        SpeakStage(),
        ImagesStage(),
        RenderStage(),
        NarrateStage(),
        ProxyStage(),
    )
}


def stage_names() -> list[str]:
    """The registered job kinds, in pipeline order."""
    return list(STAGES)


def get_stage(kind: str) -> Stage:
    """The stage named ``kind``.

    Raises:
        UsageError: no such stage.
    """
    try:
        return STAGES[kind]
    except KeyError:
        raise UsageError(f"unknown job kind '{kind}'", f"use one of: {', '.join(STAGES)}") from None


def media_steps() -> tuple[str, ...]:
    """The stages ``vidpipe run`` and ``vidpipe submit`` run on each catalog item
    (``media_step``), in pipeline order: probe, audio, transcribe, diarize,
    summarize, chapters, describe, embed."""
    return tuple(n for n, st in STAGES.items() if st.media_step)


def item_kinds() -> frozenset[str]:
    """The stages whose result names a catalog media item: ``download`` and the media
    steps (a dependency of one of them gives a job its item)."""
    return frozenset(k for k, st in STAGES.items() if st.media_step or k == "download")


def run_stage(stage: Stage, ctx: StageContext, inputs: StageInputs, options: Any) -> StageResult:
    """``stage.run`` as ``vidpipe run`` and a worker both call it: a stage that needs an
    audio track raises :class:`~vidpipe.pipeline.stages.StageSkipped` (``no audio
    track``) instead of running when the item's probe found no audio stream, or when
    decoding finds none (:class:`~vidpipe.errors.NoAudioError`).

    Raises:
        StageSkipped: nothing to do (see above, or the stage said so).
        VidpipeError: the stage failed.
    """
    if stage.needs_audio and ctx.catalog is not None:
        mid = inputs.media_id()
        if mid is not None and has_no_audio(ctx.catalog.get_media(mid)):
            raise StageSkipped(NO_AUDIO, mid)
    try:
        return stage.run(ctx, inputs, options)
    except NoAudioError:
        if not stage.needs_audio:
            raise
        raise StageSkipped(NO_AUDIO, inputs.media_id()) from None
