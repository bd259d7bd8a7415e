"""The catalog's tables as SQLAlchemy 2 ORM classes (schema created by Alembic migrations).

Times of day are UTC; media times (duration, segment and word times) are float seconds.

Tables:

- ``sources``: one row per input line (a URL, a line of a link list, a local file, a file
  found in a folder), in input order (``position``); ``state`` is ``pending``, ``done``,
  ``failed`` (``reason``) or ``skipped`` (duplicate or already present).
- ``media``: one row per distinct file content (``sha256`` unique) with probe results.
- ``stages``: no longer written (the batch runner's stage claims, before ``vidpipe
  run`` made jobs); the class is the shape of :meth:`vidpipe.library.catalog.Catalog.
  stages`, a view of the jobs. Old rows stay in old catalogs, unread.
- ``failures``: what went wrong, per source or media and stage, with attempts.
- ``transcripts``, ``segments``, ``words``: the latest transcript of each media item
  (at most one: ``transcripts.media_id`` is unique since migration 0005).
  ``segments.search_text`` is the text as indexed (Chinese split into words by jieba);
  the full-text index (SQLite FTS5 table ``segments_fts`` / PostgreSQL ``search_tsv``)
  lives beside it and is created by the migration.
- ``jobs``, ``job_deps``: pipeline jobs with dependencies, leases and retries
  (migration 0006; :class:`JobRow`, :mod:`vidpipe.pipeline.jobs`).
- ``workers``, ``uploads``, ``job_callbacks``: queue workers seen, files uploaded to the
  HTTP service, job callback URLs and their delivery (migration 0007).
- ``stage_cache``: stage outputs by (stage, version, options hash, input hash) and
  folder (migration 0008; :class:`StageCacheRow`, :mod:`vidpipe.pipeline.cache`).
- ``embeddings``, ``pca_models``: audio embedding vectors (float32 bytes, raw and
  PCA-reduced) and the PCAs fitted on them (migration 0009; :class:`EmbeddingRow`).
  ``sources.record_id``/``sources.meta`` keep a JSON/CSV record's id and other fields.
- ``item_speakers``, ``speaker_turns``, ``voiceprints``: each item's diarized speakers
  (label, name given later, centroid embedding) and turns, and the known voices
  (migration 0011; :mod:`vidpipe.library.speakers`). ``segments.speaker`` and
  ``words.speaker`` hold the diarized label.
- ``transcript_revisions``: the revisions of an item's transcript (migration 0012;
  :mod:`vidpipe.library.revisions`): number 1 the machine's, then each edit; the
  ``segments``/``words`` rows hold the latest.
- ``queue_flags``: the queue's flags (migration 0013; :mod:`vidpipe.library.queue_flags`):
  ``paused``, looked at by queue workers before they take a message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SOURCE_KINDS = ("url", "file", "folder", "list-entry")
SOURCE_STATES = ("pending", "done", "failed", "skipped")
STAGES = ("probe", "audio", "transcribe")
STAGE_STATUSES = ("running", "done", "failed", "skipped")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    list_path: Mapped[str | None] = mapped_column(Text, default=None)
    line: Mapped[int | None] = mapped_column(Integer, default=None)
    position: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL"), default=None, index=True
    )
    #: the ``--id-field`` value of a JSON/JSONL/CSV record (migration 0009)
    record_id: Mapped[str | None] = mapped_column(Text, default=None)
    #: the record's other fields (migration 0009)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Media(Base):
    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    format: Mapped[str | None] = mapped_column(String(128), default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    video_codec: Mapped[str | None] = mapped_column(String(64), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("media_id", "stage", name="uq_stages_media_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    options_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Failure(Base):
    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), default=None, index=True
    )
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), default=None, index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TranscriptRow(Base):
    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), index=True, unique=True
    )
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    language_probability: Mapped[float | None] = mapped_column(Float, default=None)
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    model: Mapped[str | None] = mapped_column(Text, default=None)
    options_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SegmentRow(Base):
    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_transcript_idx", "transcript_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, default="")
    #: the diarized speaker label (migration 0011); its name is in ``item_speakers``
    speaker: Mapped[str | None] = mapped_column(String(200), default=None)


class WordRow(Base):
    __tablename__ = "words"
    __table_args__ = (Index("ix_words_segment_idx", "segment_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    word: Mapped[str] = mapped_column(Text)
    probability: Mapped[float | None] = mapped_column(Float, default=None)
    #: the diarized speaker label (migration 0011)
    speaker: Mapped[str | None] = mapped_column(String(200), default=None)


class ImageRow(Base):
    """A picture made for one narration chunk (migration 0004; :mod:`vidpipe.vision.images`).

    ``work_dir`` is the absolute folder the pictures were made in and ``media_id`` the
    catalog item (either may be ``None``); ``prompt`` is ``None`` for folder images and
    video frames; ``width``/``height`` in pixels.
    """

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), default=None, index=True
    )
    work_dir: Mapped[str | None] = mapped_column(Text, default=None, index=True)
    chunk_id: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    generator: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


JOB_STATUSES = ("waiting", "queued", "running", "succeeded", "failed", "canceled")
#: statuses a job never leaves by itself (only :meth:`~vidpipe.pipeline.jobs.JobStore.retry`)
JOB_FINAL = ("succeeded", "failed", "canceled")


class JobRow(Base):
    """A pipeline job (migration 0006; see :mod:`vidpipe.pipeline.jobs`).

    ``params`` are the stage's validated options, ``input`` what it works on;
    ``progress`` is 0..1; ``artifacts`` are paths relative to the storage root;
    ``owner``/``lease_until`` (UTC) the lease of the worker running it.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    params_hash: Mapped[str] = mapped_column(String(64))
    stage_version: Mapped[int] = mapped_column(Integer)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``input["source_id"]``: the submitted source whose chain this is (migration 0010)
    source_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    artifacts: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    error_class: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    error_hint: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobDepRow(Base):
    """``job_id`` waits for ``depends_on``; ``position`` is the order the ids were given."""

    __tablename__ = "job_deps"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    depends_on: Mapped[str] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class WorkerRow(Base):
    """A queue worker, renewed every few seconds while it runs (migration 0007)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UploadRow(Base):
    """A file received by the HTTP service's ``POST /v1/files`` (migration 0007)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobCallbackRow(Base):
    """Where to POST a job when it ends, and how the delivery went (migration 0007)."""

    __tablename__ = "job_callbacks"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class StageCacheRow(Base):
    """A stage's output kept for reuse (migration 0008; see :mod:`vidpipe.pipeline.cache`).

    The key is (``stage``, ``version``, ``options_hash``, ``input_hash``); ``work_dir`` is
    the absolute folder the files are in, ``artifacts`` a list of ``[path relative to
    work_dir, size in bytes, mtime in ns]`` as they were written.
    """

    __tablename__ = "stage_cache"
    __table_args__ = (
        Index("ix_stage_cache_key", "stage", "version", "options_hash", "input_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    options_hash: Mapped[str] = mapped_column(String(64))
    input_hash: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    work_dir: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifacts: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EmbeddingRow(Base):
    """An audio embedding of a media item (migration 0009; :mod:`vidpipe.pipeline.embed`).

    ``vector``/``reduced`` are little-endian float32 bytes (``dim`` values; ``reduced``
    has the PCA's ``n_components``); ``duration`` and ``seconds`` in seconds.
    """

    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("media_id", "options_hash", name="uq_embeddings_media_options"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    encoder: Mapped[str] = mapped_column(String(300))
    options_hash: Mapped[str] = mapped_column(String(64), index=True)
    pool: Mapped[str] = mapped_column(String(16))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    reduced: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    pca_version: Mapped[int | None] = mapped_column(Integer, default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    channels: Mapped[int | None] = mapped_column(Integer, default=None)
    sample_rate: Mapped[int | None] = mapped_column(Integer, default=None)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PcaRow(Base):
    """A PCA fitted on the vectors of one ``options_hash`` (migration 0009); ``data`` is
    :meth:`vidpipe.embed.pca.PcaModel.to_bytes`."""

    __tablename__ = "pca_models"
    __table_args__ = (
        UniqueConstraint("options_hash", "version", name="uq_pca_models_options_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    encoder: Mapped[str] = mapped_column(String(300))
    options_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    n_components: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    n_items: Mapped[int] = mapped_column(Integer)
    whiten: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ItemSpeakerRow(Base):
    """A speaker of one item (migration 0011; :mod:`vidpipe.library.speakers`).

    ``label`` is what diarization called it (``SPEAKER_00`` or a known voice's name),
    ``name`` what a user renamed it to (``None``: shown as ``label``), ``position`` its
    order of first speech, ``vector`` its 256-d centroid embedding (float32 bytes) or None.
    """

    __tablename__ = "item_speakers"
    __table_args__ = (UniqueConstraint("media_id", "label", name="uq_item_speakers_media_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    position: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class SpeakerTurnRow(Base):
    """One diarization turn of an item (migration 0011): seconds, the speaker's label."""

    __tablename__ = "speaker_turns"
    __table_args__ = (Index("ix_speaker_turns_media_start", "media_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(200))


class VoiceprintRow(Base):
    """A known voice (migration 0011; ``vidpipe speakers add``): ``vector`` is the
    L2-normalised embedding (``dim`` float32 values, little-endian bytes) made from
    ``clips`` clips of ``seconds`` in total by ``encoder``."""

    __tablename__ = "voiceprints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    clips: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)
    encoder: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class TranscriptRevisionRow(Base):
    """A revision of an item's transcript (migration 0012; :mod:`vidpipe.library.revisions`).

    ``number`` 1 is the machine's transcript (``kind`` ``machine``), then one per edit
    (``kind`` ``edit``, ``changed``: the segment ids it changed); ``data`` the whole
    :class:`vidpipe.types.Transcript` of that revision as JSON (speaker labels, not names).
    """

    __tablename__ = "transcript_revisions"
    __table_args__ = (
        UniqueConstraint("media_id", "number", name="uq_transcript_revisions_media_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    changed: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueueFlagRow(Base):
    """A flag of the job queue (migration 0013; :mod:`vidpipe.library.queue_flags`)."""

    __tablename__ = "queue_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
