"""Domain types shared by every stage of vidpipe.

All times are float **seconds** from the start of the media, everywhere. Formatting
as ``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT) happens only in
:mod:`vidpipe.writers`. Sample rates are in Hz, sizes in pixels, bit rates in
bits per second.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

StreamType = Literal["video", "audio", "subtitle", "data", "attachment", "unknown"]


#: Han, Kana and CJK compatibility characters (the one definition; text.script uses it).
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\U00020000-\U0002ffff]")
#: A CJK character or a full-width mark (，。？！、：；「」『』（）).
CJK_OR_MARK = re.compile(CJK.pattern[:-1] + "\u3000-\u303f\uff00-\uffef]")


class StreamInfo(BaseModel):
    """One stream of a container, as reported by :func:`vidpipe.probe`.

    Fields that do not apply to a stream type are ``None`` (for example
    ``width`` on an audio stream).
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="Stream index inside the container (0-based).")
    type: StreamType
    codec: str | None = Field(None, description="Short codec name, e.g. 'h264', 'aac'.")
    codec_long: str | None = None
    profile: str | None = None
    duration: float | None = Field(None, description="Stream duration in seconds.")
    start_time: float | None = Field(None, description="First timestamp in seconds.")
    bit_rate: int | None = Field(None, description="Bits per second.")
    language: str | None = Field(None, description="Language tag from metadata, e.g. 'eng'.")
    title: str | None = None
    # video
    attached_pic: bool = Field(
        False, description="A still cover picture (e.g. album art in an mp3), not moving video."
    )
    width: int | None = Field(None, description="Coded width in pixels.")
    height: int | None = Field(None, description="Coded height in pixels.")
    frame_rate: str | None = Field(
        None, description="Average frame rate as a rational, e.g. '30000/1001'."
    )
    frame_rate_float: float | None = Field(None, description="Average frame rate in fps.")
    nominal_frame_rate: str | None = Field(
        None, description="Nominal (base) frame rate as a rational; differs on VFR streams."
    )
    frames: int | None = Field(None, description="Frame count from the container, if known.")
    pix_fmt: str | None = None
    rotation: float | None = Field(
        None, description="Display rotation in degrees (counter-clockwise) from the matrix."
    )
    sample_aspect_ratio: str | None = Field(None, description="Pixel aspect ratio, e.g. '16:11'.")
    display_aspect_ratio: str | None = None
    # audio
    sample_rate: int | None = Field(None, description="Audio sample rate in Hz.")
    channels: int | None = None
    channel_layout: str | None = None
    sample_format: str | None = None


class MediaInfo(BaseModel):
    """What :func:`vidpipe.probe` learns about a media file."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int = Field(description="File size in bytes.")
    format_name: str = Field(description="Container short name(s), e.g. 'mov,mp4,m4a,3gp'.")
    format_long_name: str | None = None
    duration: float | None = Field(None, description="Container duration in seconds.")
    bit_rate: int | None = Field(None, description="Overall bit rate in bits per second.")
    start_time: float | None = Field(None, description="Container start time in seconds.")
    tags: dict[str, str] = Field(default_factory=dict)
    streams: list[StreamInfo] = Field(default_factory=list)

    @property
    def audio_streams(self) -> list[StreamInfo]:
        """Audio streams in container order."""
        return [s for s in self.streams if s.type == "audio"]

    @property
    def video_streams(self) -> list[StreamInfo]:
        """Moving-picture video streams in container order (cover pictures excluded)."""
        return [s for s in self.streams if s.type == "video" and not s.attached_pic]

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_streams)

    @property
    def has_video(self) -> bool:
        return bool(self.video_streams)


def _without_none(data: Any, key: str) -> Any:
    """``data`` without ``key`` when that is ``None``: the optional speaker fields are left
    out of dumps until diarization sets them, so transcripts without speakers serialise
    exactly as before."""
    if isinstance(data, dict) and data.get(key, 0) is None:
        del data[key]
    return data


class SpeakerTurn(BaseModel):
    """One speaker talking from ``start`` to ``end`` (seconds); turns of different
    speakers may overlap. ``speaker`` is a label such as ``SPEAKER_00`` or a known name."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start


class Word(BaseModel):
    """One recognised word with its time span in seconds and probability in [0, 1]."""

    start: float
    end: float
    word: str = Field(description="Word text including its leading space, as Whisper emits it.")
    probability: float = 1.0
    speaker: str | None = Field(
        None, description="Speaker label (e.g. 'SPEAKER_00' or a known name) after diarization."
    )

    @model_serializer(mode="wrap")
    def _drop_unset_speaker(self, handler):
        return _without_none(handler(self), "speaker")


class Segment(BaseModel):
    """A span of recognised speech (usually a phrase or a sentence).

    ``avg_logprob`` is the mean token log-probability (natural log), and
    ``no_speech_prob`` Whisper's probability that the window held no speech.
    ``words`` is ``None`` unless word timestamps were asked for.
    """

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    words: list[Word] | None = None
    speaker: str | None = Field(
        None, description="Speaker label (e.g. 'SPEAKER_00' or a known name) after diarization."
    )

    @model_serializer(mode="wrap")
    def _drop_unset_speaker(self, handler):
        return _without_none(handler(self), "speaker")


class Transcript(BaseModel):
    """The result of :func:`vidpipe.transcribe`.

    ``duration`` is the length of the decoded audio in seconds (before VAD);
    ``language`` an ISO 639-1 code such as ``"en"``; ``language_probability`` in [0, 1].
    """

    language: str | None = None
    language_probability: float | None = None
    duration: float = 0.0
    segments: list[Segment] = Field(default_factory=list)
    task: Literal["transcribe", "translate"] = "transcribe"
    model: str | None = Field(None, description="Model name or path used.")
    engine: str | None = Field(None, description="ASR engine, e.g. 'faster-whisper', 'openai'.")
    source: str | None = Field(None, description="Path or URL of the transcribed media.")
    speakers: list[str] | None = Field(
        None, description="Speaker labels in order of first speech, after diarization."
    )

    @model_serializer(mode="wrap")
    def _drop_unset_speakers(self, handler):
        return _without_none(handler(self), "speakers")

    @property
    def text(self) -> str:
        """The whole transcript as one string: segment texts stripped and joined by a
        space, or by nothing between Chinese/Japanese text (``分析。我想问``), which
        is written without spaces."""
        out = ""
        for s in self.segments:
            piece = s.text.strip()
            if not piece:
                continue
            if out and not (CJK_OR_MARK.match(out[-1]) and CJK_OR_MARK.match(piece[0])):
                out += " "
            out += piece
        return out

    @property
    def words(self) -> list[Word]:
        """All words of all segments in time order (empty without word timestamps)."""
        return [w for s in self.segments for w in (s.words or [])]


class Chunk(BaseModel):
    """Consecutive segments grouped up to a maximum duration, cut at sentence ends.

    ``segment_ids`` index into the source Transcript's ``segments``; times in seconds.
    """

    id: int
    start: float
    end: float
    text: str
    segment_ids: list[int] = Field(default_factory=list)


class ChunkSummary(BaseModel):
    """The summary of one chunk (seconds)."""

    chunk_id: int
    start: float
    end: float
    summary: str


class Summary(BaseModel):
    """A transcript's summary: per-chunk summaries, an overall summary and keywords.

    ``backend`` is ``"extractive"`` or ``"openai"``; ``model`` the LLM name if any.
    """

    language: str | None = None
    overall: str
    chunks: list[ChunkSummary] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    backend: str = "extractive"
    model: str | None = None


class Chapter(BaseModel):
    """A titled span of the timeline. Chapters of one item cover [0, duration] without gaps."""

    start: float
    end: float
    title: str


class Scene(BaseModel):
    """A shot between two cuts, with what is seen, written and said in it.

    ``start``/``end`` in seconds, ``start_frame``/``end_frame`` frame indices (end
    exclusive); ``keyframe`` a JPEG path; ``ocr_text`` on-screen text; ``description``
    from a vision model when configured; ``speech`` the transcript text in the span.
    """

    index: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    keyframe: str | None = None
    ocr_text: list[str] = Field(default_factory=list)
    description: str | None = None
    speech: str | None = None


class Topic(BaseModel):
    """A cluster of catalog items about the same subject."""

    id: int
    name: str
    keywords: list[str] = Field(default_factory=list)
    media_ids: list[int] = Field(default_factory=list)


JobStatus = Literal["waiting", "queued", "running", "succeeded", "failed", "canceled"]


class JobError(BaseModel):
    """Why a job failed: the exception's class name, its one-line message and a hint."""

    error_class: str
    message: str
    hint: str | None = None


class Job(BaseModel):
    """A unit of pipeline work in the catalog (:mod:`vidpipe.pipeline.jobs`).

    ``kind`` is a stage name, ``params`` the stage's validated options (``params_hash``
    their :func:`~vidpipe.hashing.options_hash`), ``input`` what it works on (media
    item id, file path, text, images, audio). ``status``: ``waiting`` (on
    ``depends_on``), ``queued``, ``running``, ``succeeded``, ``failed``, ``canceled``.
    ``progress`` is 0..1 with a one-line ``step``; ``artifacts`` are paths relative to
    the storage root; ``owner``/``lease_until`` (UTC) the running worker's lease.
    """

    id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    params_hash: str
    stage_version: int = 1
    input: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus
    depends_on: list[str] = Field(default_factory=list)
    progress: float = 0.0
    step: str | None = None
    result: dict[str, Any] | None = None
    artifacts: list[str] = Field(default_factory=list)
    error: JobError | None = None
    attempts: int = 0
    max_attempts: int = 3
    owner: str | None = None
    lease_until: datetime | None = None
    cancel_requested: bool = False
    idempotency_key: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


# --------------------------------------------------------------------------- option markers

#: what a marked option names: ``url`` an http(s) endpoint; ``file``/``folder`` a path
#: on the machine that runs the job; ``font`` a font file (path or installed file
#: name); ``voice`` a voice name or a Piper ``.onnx`` file; ``model`` a bundled
#: Whisper model name or a model folder; ``encoder`` an audio encoder
#: (``whisper:NAME``, ``KIND:FOLDER``); ``images`` an image source (``folder:DIR``...)
NameKind = Literal["url", "file", "folder", "font", "voice", "model", "encoder", "images"]


@dataclass(frozen=True)
class Names:
    """Field metadata of a stage option whose value names something outside the job:
    a URL, a file or folder, a font, a voice, a model (``Annotated[str | None,
    Names("voice")]``). Front ends that take options from others (the HTTP service)
    find every marked field, at any depth, and check the value before the job is
    stored (:func:`vidpipe.service.security.check_options`)."""

    kind: NameKind


@dataclass(frozen=True)
class ParamsOf:
    """Field metadata of a ``dict`` option that holds another options model's params
    (``narrate``'s ``render``): ``model()`` gives that model, so its marked fields are
    checked too."""

    model: Callable[[], type[BaseModel]]
