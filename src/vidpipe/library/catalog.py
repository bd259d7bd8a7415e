"""The catalog: one database of sources, media, jobs, failures and transcripts.

SQLite in the data folder by default (``$VIDPIPE_HOME/catalog.db``, WAL, foreign keys
on, a busy timeout), PostgreSQL when ``VIDPIPE_DATABASE_URL`` (or ``url=``) says so;
the same code runs on both. Opening a catalog upgrades its schema to the newest
Alembic revision. Every method commits before it returns, so a killed process never
loses a recorded result.

Several processes (two ``vidpipe run`` at once, queue workers) may share one catalog:

- schema upgrades are serialised (SQLite: an exclusive lock on ``catalog.db.lock``
  beside the database, through ``filelock``; PostgreSQL: ``pg_advisory_xact_lock`` in
  the migration transaction), so only one process creates or upgrades the tables;
- SQLite transactions that write start with ``BEGIN IMMEDIATE`` and wait up to 30 s
  (busy timeout) for another writer instead of failing with "database is locked";
- work is done as jobs (``vidpipe.pipeline.jobs``: claimed atomically, with an
  owner and a lease), so each step of each item is done once; the item's steps
  (:meth:`Catalog.stages`) are a view of its jobs;
- a transcript replaces the item's previous one in the same transaction (one
  transcript per item, a unique index).

Example::

    cat = Catalog()                       # or Catalog("postgresql+psycopg://...")
    src = cat.add_source("talk.mp4", "file")
    media, created = cat.add_media("/data/talk.mp4", sha256, size)
    cat.save_transcript(media.id, transcript, options_hash="...")
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vidpipe.errors import CatalogError, UsageError
from vidpipe.files import sha256_file  # noqa: F401  (re-exported for callers)
from vidpipe.hashing import options_hash  # noqa: F401  (re-exported for callers)
from vidpipe.library.models import (
    Failure,
    JobRow,
    Media,
    SegmentRow,
    Source,
    Stage,
    TranscriptRevisionRow,
    TranscriptRow,
    WordRow,
    utcnow,
)
from vidpipe.text.tokens import index_text
from vidpipe.types import MediaInfo, Segment, Transcript, Word

MIGRATIONS = Path(__file__).parent / "migrations"
#: seconds a job's lease lasts without renewal (renewed every quarter of it)
LEASE_SECONDS = 120.0
#: seconds SQLite waits for another process's write transaction before giving up
BUSY_TIMEOUT = 30.0


def default_url() -> str:
    """``VIDPIPE_DATABASE_URL`` or the SQLite file ``$VIDPIPE_HOME/catalog.db``."""
    from vidpipe.config import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.home).expanduser() / 'catalog.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # SQLAlchemy's recipe for real SQLite transactions: pysqlite's own BEGIN handling off,
    # and BEGIN emitted by _sqlite_begin (IMMEDIATE for sessions that write).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")  # first: WAL switch may wait
    _switch_to_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _switch_to_wal(cur) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another connection makes the same
    switch. Connections opening a new database file at once each hold a shared lock
    and want an exclusive one: SQLite answers one of them "database is locked" at once,
    without waiting the busy timeout (it would be a deadlock). Measured: 6 threads
    opening one new file, 9 of 200 tries failed; two ``vidpipe run`` on a fresh
    catalog failed so in a test run. Tries for up to :data:`BUSY_TIMEOUT` s."""
    import sqlite3
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _sqlite_begin(conn) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" when another process wrote in between; BEGIN IMMEDIATE takes the write lock
    # up front (waiting for the busy timeout), so writers queue instead of failing.
    write = conn.get_execution_options().get("vidpipe_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _advisory_key(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock`` from a lock name."""
    return int.from_bytes(
        hashlib.sha256(f"vidpipe:{name}".encode()).digest()[:8], "big", signed=True
    )


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def upgrade_schema(engine: Engine, lock_path: str | os.PathLike[str] | None = None) -> None:
    """Upgrade the database behind ``engine`` to the newest migration (Alembic, in code).

    Safe with several processes opening the same catalog at once: an up-to-date schema
    is detected without locking; otherwise the upgrade runs under an exclusive lock
    (SQLite: ``lock_path`` through ``filelock``, when given; PostgreSQL:
    ``pg_advisory_xact_lock`` held by the migration transaction) and Alembic re-reads the
    version under it, so the second process finds the work done.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    head = _head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    if current == head:
        return
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with contextlib.ExitStack() as stack:
        if engine.dialect.name == "sqlite" and lock_path is not None:
            from filelock import FileLock

            stack.enter_context(FileLock(os.fspath(lock_path)))
        conn = stack.enter_context(engine.connect().execution_options(vidpipe_write=True))
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key("migrate")}
                )
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def _speaker_labels(transcript: Transcript) -> list[str]:
    """The speaker labels of ``transcript`` in order of first speech (its ``speakers``
    list first, then any other label on a segment or word)."""
    labels: list[str] = list(transcript.speakers or [])
    for seg in transcript.segments:
        for label in [seg.speaker, *(w.speaker for w in seg.words or [])]:
            if label is not None and label not in labels:
                labels.append(label)
    return labels


def owner_id() -> str:
    """``host:pid:token``: who holds a stage claim (a new random token per call)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def owner_gone(owner: str | None) -> bool:
    """True if ``owner`` is a process on this host that no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: only its lease tells
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def word_rows(segment_id: int, words: Sequence[Word]) -> list[WordRow]:
    """The ``words`` rows of segment row ``segment_id``, in order (times in seconds);
    what a stored transcript and an edited revision write."""
    return [
        WordRow(
            segment_id=segment_id,
            idx=j,
            start=w.start,
            end=w.end,
            word=w.word,
            probability=w.probability,
            speaker=w.speaker,
        )
        for j, w in enumerate(words)
    ]


class Catalog:
    """The catalog database.

    Args:
        url: SQLAlchemy URL; default :func:`default_url`.
        upgrade: bring the schema up to date on open (default).

    Raises:
        UsageError: the URL is malformed or its driver unknown.
        CatalogError: the database cannot be opened (exit code 7).
    """

    def __init__(self, url: str | None = None, *, upgrade: bool = True) -> None:
        self.url = url or default_url()
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise UsageError(
                f"invalid database URL '{self.url}'", "e.g. postgresql+psycopg://user@host/db"
            ) from exc
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            db = Path(parsed.database)
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(
                    f"cannot create the catalog folder {db.parent}: {exc.strerror or exc}",
                    "set VIDPIPE_HOME to a writable folder",
                ) from exc
            kwargs["connect_args"] = {"timeout": 30}
        try:
            self.engine = create_engine(parsed, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise UsageError(f"unusable database URL '{self.url}': {exc}") from exc
        self._lock_path: Path | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            if parsed.database not in (None, "", ":memory:"):
                self._lock_path = Path(parsed.database).with_name(
                    Path(parsed.database).name + ".lock"
                )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            try:
                upgrade_schema(self.engine, self._lock_path)
            except OperationalError as exc:
                self.engine.dispose()
                first = str(exc.orig or exc).splitlines()[0]
                raise CatalogError(
                    f"cannot open the catalog {parsed.render_as_string(hide_password=True)}: "
                    f"{first}",
                    "check VIDPIPE_HOME or VIDPIPE_DATABASE_URL",
                ) from exc

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive lock named ``name`` across every process using this catalog.

        SQLite: ``filelock`` on ``catalog.db.lock`` beside the database (nothing for an
        in-memory database); PostgreSQL: a session-level ``pg_advisory_lock`` on a
        connection kept for the duration. Blocks until the lock is free.
        """
        if self.dialect == "postgresql":
            key = _advisory_key(name)
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        elif self._lock_path is not None:
            from filelock import FileLock

            with FileLock(os.fspath(self._lock_path)):
                yield
        else:
            yield

    def _insert(self, table):
        """``INSERT`` with this dialect's ``ON CONFLICT`` support."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @contextlib.contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        ``write=False`` for sessions that only read: on SQLite they do not take the
        write lock (``BEGIN`` instead of ``BEGIN IMMEDIATE``).
        """
        with self._sessions() as s:
            if self.dialect == "sqlite":
                s.connection(execution_options={"vidpipe_write": write})
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                first = str(exc.orig or exc).splitlines()[0]
                raise CatalogError(f"catalog write failed: {first}") from exc
            except BaseException:
                s.rollback()
                raise

    def serialize(self, s: Session, name: str) -> None:
        """Make the rest of write session ``s`` run alone among sessions that call this
        with the same ``name`` (a check then an insert, atomic): on PostgreSQL a
        transaction advisory lock (``pg_advisory_xact_lock``, released at commit or
        rollback); on SQLite nothing more is needed (a write session holds the
        database's write lock from its ``BEGIN IMMEDIATE``)."""
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(name)})

    # ------------------------------------------------------------------ sources

    def find_source(self, uri: str, list_path: str | None = None, line: int | None = None):
        """The source recorded for this input (same URI, list file and line), or None."""
        with self.session(write=False) as s:
            q = select(Source).where(Source.uri == uri)
            same_list = (
                Source.list_path.is_(None) if list_path is None else Source.list_path == list_path
            )
            q = q.where(same_list)
            q = q.where(Source.line.is_(None) if line is None else Source.line == line)
            return s.scalars(q.order_by(Source.id).limit(1)).first()

    def add_source(
        self,
        uri: str,
        kind: str,
        list_path: str | None = None,
        line: int | None = None,
        state: str = "pending",
        reason: str | None = None,
        *,
        record_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Source:
        """Record one input (appended after every existing source in input order).

        ``record_id`` and ``meta`` are a JSON/CSV record's id and other fields.
        """
        with self.session() as s:
            pos = (s.scalar(select(func.max(Source.position))) or 0) + 1
            src = Source(
                uri=uri,
                kind=kind,
                list_path=list_path,
                line=line,
                position=pos,
                state=state,
                reason=reason,
                record_id=record_id,
                meta=meta,
            )
            s.add(src)
            s.flush()
            return src

    def get_source(self, source_id: int) -> Source | None:
        with self.session(write=False) as s:
            return s.get(Source, source_id)

    def sources(self, states: Sequence[str] | None = None) -> list[Source]:
        """Sources in input order (position)."""
        with self.session(write=False) as s:
            q = select(Source).order_by(Source.position, Source.id)
            if states:
                q = q.where(Source.state.in_(states))
            return list(s.scalars(q))

    def done_source_for_uri(self, uri: str, exclude_id: int | None = None) -> Source | None:
        """Another source with the same URI that already succeeded or is pending."""
        with self.session(write=False) as s:
            q = select(Source).where(Source.uri == uri, Source.state.in_(("done", "pending")))
            if exclude_id is not None:
                q = q.where(Source.id != exclude_id)
            return s.scalars(q.order_by(Source.position).limit(1)).first()

    def set_source_state(
        self,
        source_id: int,
        state: str,
        reason: str | None = None,
        media_id: int | None = None,
    ) -> None:
        with self.session() as s:
            src = s.get(Source, source_id)
            if src is None:
                return
            src.state = state
            src.reason = reason
            if media_id is not None:
                src.media_id = media_id
            src.updated_at = utcnow()

    def sources_of_media(self, media_id: int) -> list[Source]:
        with self.session(write=False) as s:
            q = select(Source).where(Source.media_id == media_id).order_by(Source.position)
            return list(s.scalars(q))

    # ------------------------------------------------------------------ media

    def add_media(self, path: str | os.PathLike[str], sha256: str, size: int) -> tuple[Media, bool]:
        """Record a file by content. Returns ``(media, created)``; an existing sha256 wins.

        Atomic (``INSERT ... ON CONFLICT DO NOTHING``): two processes adding the same
        content get the same row, and exactly one of them ``created=True``.
        """
        with self.session() as s:
            stmt = (
                self._insert(Media.__table__)
                .values(path=str(path), sha256=sha256, size=size, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["sha256"])
                .returning(Media.__table__.c.id)  # a row only when inserted
            )
            created = s.execute(stmt).first() is not None
            media = s.scalars(select(Media).where(Media.sha256 == sha256)).one()
            return media, created

    def set_media_path(self, media_id: int, path: str | os.PathLike[str]) -> None:
        with self.session() as s:
            m = s.get(Media, media_id)
            if m is not None:
                m.path = str(path)

    def get_media(self, media_id: int) -> Media | None:
        with self.session(write=False) as s:
            return s.get(Media, media_id)

    def media_by_sha256(self, sha256: str) -> Media | None:
        with self.session(write=False) as s:
            return s.scalars(select(Media).where(Media.sha256 == sha256)).first()

    def all_media(self) -> list[Media]:
        with self.session(write=False) as s:
            return list(s.scalars(select(Media).order_by(Media.id)))

    def record_probe(self, media_id: int, info: MediaInfo) -> None:
        """Store probe results: duration (s), format, resolution and codecs."""
        video = info.video_streams[0] if info.video_streams else None
        audio = info.audio_streams[0] if info.audio_streams else None
        duration = info.duration
        if duration is None:
            for st in (audio, video):
                if st is not None and st.duration is not None:
                    duration = st.duration
                    break
        with self.session() as s:
            m = s.get(Media, media_id)
            m.probe = info.model_dump(mode="json")
            m.duration = duration
            m.format = info.format_name
            m.width = video.width if video else None
            m.height = video.height if video else None
            m.video_codec = video.codec if video else None
            m.audio_codec = audio.codec if audio else None

    def set_duration(self, media_id: int, seconds: float | None) -> None:
        with self.session() as s:
            m = s.get(Media, media_id)
            if m is not None and seconds is not None and m.duration is None:
                m.duration = seconds

    # ------------------------------------------------------------------ stages

    def stage(self, media_id: int, stage: str) -> Stage | None:
        """Step ``stage`` of item ``media_id`` as its latest job left it (:meth:`stages`),
        or ``None`` when no job of that kind ran on it."""
        return next((st for st in self.stages(media_id) if st.stage == stage), None)

    def stages(self, media_id: int | None = None) -> list[Stage]:
        """The steps run on an item (or on every item), one per kind: a view of the
        latest job of each kind in the chains of the item's sources (the jobs are the
        one record of what ran; nothing else is written). ``status``: ``done``,
        ``skipped`` (``error`` says why, e.g. ``no audio track``), ``failed`` (``error``:
        the message; a canceled job too), ``running`` or ``pending`` (waiting or
        queued); ``options_hash`` is the job's.

        Returns:
            Unsaved :class:`~vidpipe.library.models.Stage` rows, by item then pipeline
            order of the first job.
        """
        with self.session(write=False) as s:
            q = (
                select(JobRow, Source.media_id)
                .join(Source, Source.id == JobRow.source_id)
                .where(Source.media_id.is_not(None), JobRow.kind != "download")
                .order_by(Source.media_id, JobRow.created_at, JobRow.id)
            )
            if media_id is not None:
                q = q.where(Source.media_id == media_id)
            latest: dict[tuple[int, str], tuple[JobRow, int]] = {}
            first: dict[tuple[int, str], int] = {}
            for n, (row, mid) in enumerate(s.execute(q)):
                first.setdefault((mid, row.kind), n)
                latest[(mid, row.kind)] = (row, mid)
        out = []
        for key in sorted(latest, key=lambda k: (k[0], first[k])):
            row, mid = latest[key]
            skipped = (row.result or {}).get("skipped") if row.status == "succeeded" else None
            status = {
                "succeeded": "skipped" if skipped else "done",
                "failed": "failed",
                "canceled": "failed",
                "running": "running",
            }.get(row.status, "pending")
            out.append(
                Stage(
                    media_id=mid,
                    stage=row.kind,
                    status=status,
                    options_hash=row.params_hash,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    error=skipped or (row.error_message if status == "failed" else None),
                    owner=row.owner,
                    lease_until=row.lease_until,
                )
            )
        return out

    # ------------------------------------------------------------------ failures

    def record_failure(
        self,
        stage: str,
        error_class: str,
        message: str,
        source_id: int | None = None,
        media_id: int | None = None,
    ) -> None:
        """Record a failure; a repeat of the same (source, media, stage) counts an attempt."""
        with self.session() as s:
            q = select(Failure).where(Failure.stage == stage)
            q = q.where(
                Failure.source_id.is_(None) if source_id is None else Failure.source_id == source_id
            )
            q = q.where(
                Failure.media_id.is_(None) if media_id is None else Failure.media_id == media_id
            )
            f = s.scalars(q).first()
            if f is None:
                s.add(
                    Failure(
                        source_id=source_id,
                        media_id=media_id,
                        stage=stage,
                        error_class=error_class,
                        message=message,
                        attempts=1,
                    )
                )
            else:
                f.error_class = error_class
                f.message = message
                f.attempts += 1
                f.last_at = utcnow()

    def failures(self) -> list[Failure]:
        with self.session(write=False) as s:
            return list(s.scalars(select(Failure).order_by(Failure.id)))

    # ------------------------------------------------------------------ transcripts

    def save_transcript(
        self,
        media_id: int,
        transcript: Transcript,
        opts_hash: str | None = None,
    ) -> int:
        """Store ``transcript`` as the media's transcript, replacing an older one in the
        same transaction (at most one transcript per item) and deleting the revisions
        people made of it (:mod:`vidpipe.library.revisions`).

        Segments get a tokenised copy of their text for full-text search (Chinese is
        split into words with jieba). Returns the transcript id.

        Raises:
            CatalogError: the database cannot be written.
        """
        with self.session() as s:
            # serialise writers of this item (PostgreSQL row lock; SQLite: BEGIN IMMEDIATE)
            s.execute(select(Media.id).where(Media.id == media_id).with_for_update())
            old = list(
                s.scalars(select(TranscriptRow.id).where(TranscriptRow.media_id == media_id))
            )
            if old:
                seg_ids = select(SegmentRow.id).where(SegmentRow.transcript_id.in_(old))
                s.execute(delete(WordRow).where(WordRow.segment_id.in_(seg_ids)))
                s.execute(delete(SegmentRow).where(SegmentRow.transcript_id.in_(old)))
                s.execute(delete(TranscriptRow).where(TranscriptRow.id.in_(old)))
            # a new machine transcript: people's edits of the old one no longer apply
            s.execute(
                delete(TranscriptRevisionRow).where(TranscriptRevisionRow.media_id == media_id)
            )
            tr = TranscriptRow(
                media_id=media_id,
                language=transcript.language,
                language_probability=transcript.language_probability,
                duration=transcript.duration,
                model=transcript.model,
                options_hash=opts_hash,
            )
            s.add(tr)
            s.flush()
            for i, seg in enumerate(transcript.segments):
                row = SegmentRow(
                    transcript_id=tr.id,
                    idx=i,
                    start=seg.start,
                    end=seg.end,
                    text=seg.text,
                    search_text=index_text(seg.text),
                    speaker=seg.speaker,
                )
                s.add(row)
                s.flush()
                s.add_all(word_rows(row.id, seg.words or []))
            labels = _speaker_labels(transcript)
            if labels:
                from vidpipe.library.speaker_rows import sync_item_speakers

                sync_item_speakers(s, media_id, labels)
            m = s.get(Media, media_id)
            if m is not None and m.duration is None and transcript.duration:
                m.duration = transcript.duration
            return tr.id

    def transcript_row(self, media_id: int) -> TranscriptRow | None:
        with self.session(write=False) as s:
            q = (
                select(TranscriptRow)
                .where(TranscriptRow.media_id == media_id)
                .order_by(TranscriptRow.id.desc())
            )
            return s.scalars(q).first()

    def get_transcript(self, media_id: int) -> Transcript | None:
        """Rebuild the media's :class:`~vidpipe.types.Transcript` (segments and words)."""
        row = self.transcript_row(media_id)
        if row is None:
            return None
        with self.session(write=False) as s:
            segs = list(
                s.scalars(
                    select(SegmentRow)
                    .where(SegmentRow.transcript_id == row.id)
                    .order_by(SegmentRow.idx)
                )
            )
            words: dict[int, list[WordRow]] = {}
            if segs:
                q = (
                    select(WordRow)
                    .where(WordRow.segment_id.in_([g.id for g in segs]))
                    .order_by(WordRow.segment_id, WordRow.idx)
                )
                for w in s.scalars(q):
                    words.setdefault(w.segment_id, []).append(w)
            media = s.get(Media, media_id)
            names: dict[str, str] = {}
            shown: list[str] = []
            if any(g.speaker for g in segs) or any(w.speaker for ws in words.values() for w in ws):
                from vidpipe.library.speaker_rows import item_labels, speaker_names

                names = speaker_names(s, media_id)
                shown = list(dict.fromkeys(names.get(x, x) for x in item_labels(s, media_id)))

        def who(label: str | None) -> str | None:
            return None if label is None else names.get(label, label)

        segments = [
            Segment(
                id=g.idx,
                start=g.start,
                end=g.end,
                text=g.text,
                speaker=who(g.speaker),
                words=[
                    Word(
                        start=w.start,
                        end=w.end,
                        word=w.word,
                        probability=w.probability or 0,
                        speaker=who(w.speaker),
                    )
                    for w in words[g.id]
                ]
                if g.id in words
                else None,
            )
            for g in segs
        ]
        for g in segments:
            for name in [g.speaker, *(w.speaker for w in g.words or [])]:
                if name is not None and name not in shown:
                    shown.append(name)
        return Transcript(
            language=row.language,
            language_probability=row.language_probability,
            duration=row.duration,
            model=row.model,
            source=media.path if media else None,
            segments=segments,
            speakers=shown or None,
        )

    def word_counts(self) -> dict[int, int]:
        """Words per media id (word rows when stored, else whitespace words of the text)."""
        out: dict[int, int] = {}
        with self.session(write=False) as s:
            q = (
                select(TranscriptRow.media_id, func.count(WordRow.id))
                .join(SegmentRow, SegmentRow.transcript_id == TranscriptRow.id)
                .join(WordRow, WordRow.segment_id == SegmentRow.id)
                .group_by(TranscriptRow.media_id)
            )
            out.update({mid: n for mid, n in s.execute(q)})
            q2 = select(TranscriptRow.media_id, SegmentRow.text).join(
                SegmentRow, SegmentRow.transcript_id == TranscriptRow.id
            )
            fallback: dict[int, int] = {}
            for mid, text in s.execute(q2):
                fallback[mid] = fallback.get(mid, 0) + len(text.split())
        for mid, n in fallback.items():
            out.setdefault(mid, n)
        return out

    def languages(self) -> dict[int, str | None]:
        with self.session(write=False) as s:
            q = select(TranscriptRow.media_id, TranscriptRow.language).order_by(TranscriptRow.id)
            return {mid: lang for mid, lang in s.execute(q)}

    # ------------------------------------------------------------------ llm cache

    def llm_cache_get(self, key: str) -> str | None:
        """The cached LLM response for ``key`` (sha256 hex), or None."""
        from sqlalchemy import column, table

        t = table("llm_cache", column("key"), column("response"))
        with self.session(write=False) as s:
            return s.execute(select(t.c.response).where(t.c.key == key)).scalar()

    def llm_cache_put(
        self,
        key: str,
        backend: str,
        model: str | None,
        response: str,
        *,
        prompt_hash: str | None = None,
    ) -> None:
        """Store (or replace) the LLM response for ``key`` (sha256 hex)."""
        from sqlalchemy import DateTime, column, insert, table

        t = table(
            "llm_cache",
            column("key"),
            column("backend"),
            column("model"),
            column("prompt_hash"),
            column("response"),
            column("created", DateTime(timezone=True)),
        )
        with self.session() as s:
            s.execute(delete(t).where(t.c.key == key))
            s.execute(
                insert(t).values(
                    key=key,
                    backend=backend,
                    model=model,
                    prompt_hash=prompt_hash,
                    response=response,
                    created=utcnow(),
                )
            )

    # ------------------------------------------------------------------ images

    def record_image(
        self,
        *,
        chunk_id: int,
        path: str | os.PathLike[str],
        generator: str,
        width: int,
        height: int,
        prompt: str | None = None,
        media_id: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> int:
        """Record the picture made for one narration chunk; returns the row id.

        A row for the same chunk, generator, work folder and media item is replaced,
        so a rerun leaves one row per picture.

        Args:
            chunk_id: the chunk's id.
            path: the image file.
            generator: ``cards``, ``folder``, ``frames``, ``sdwebui`` or ``openai``.
            width, height: the picture's size in pixels.
            prompt: what it was made from (``None`` for folder images and frames).
            media_id: the catalog item it belongs to, if any.
            work_dir: the folder it was made in (stored as given, as a string).

        Raises:
            CatalogError: the database cannot be written.
        """
        from vidpipe.library.models import ImageRow

        folder = None if work_dir is None else os.fspath(work_dir)
        with self.session() as s:
            s.execute(
                delete(ImageRow).where(
                    ImageRow.chunk_id == chunk_id,
                    ImageRow.generator == generator,
                    ImageRow.work_dir.is_(None) if folder is None else ImageRow.work_dir == folder,
                    ImageRow.media_id.is_(None)
                    if media_id is None
                    else ImageRow.media_id == media_id,
                )
            )
            row = ImageRow(
                media_id=media_id,
                work_dir=folder,
                chunk_id=chunk_id,
                path=os.fspath(path),
                prompt=prompt,
                generator=generator,
                width=int(width),
                height=int(height),
            )
            s.add(row)
            s.flush()
            return row.id

    def images(
        self,
        *,
        media_id: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        generator: str | None = None,
    ) -> list[Any]:
        """Recorded chunk pictures (:class:`~vidpipe.library.models.ImageRow`), filtered by
        whichever of ``media_id``, ``work_dir`` and ``generator`` are given, ordered by
        work folder (rows without one first), chunk id and recording order."""
        from vidpipe.library.models import ImageRow

        with self.session(write=False) as s:
            q = select(ImageRow)
            if media_id is not None:
                q = q.where(ImageRow.media_id == media_id)
            if work_dir is not None:
                q = q.where(ImageRow.work_dir == os.fspath(work_dir))
            if generator is not None:
                q = q.where(ImageRow.generator == generator)
            q = q.order_by(ImageRow.work_dir.nulls_first(), ImageRow.chunk_id, ImageRow.id)
            return list(s.scalars(q))

    # ------------------------------------------------------------------ embeddings

    def save_embedding(
        self,
        media_id: int,
        *,
        encoder: str,
        opts_hash: str,
        pool: str,
        vector: Any,
        duration: float | None = None,
        channels: int | None = None,
        sample_rate: int | None = None,
        seconds: float | None = None,
        reduced: Any = None,
        pca_version: int | None = None,
    ) -> int:
        """Store (or replace) the embedding of ``media_id`` for ``options_hash``.

        Args:
            vector: the raw pooled vector, ``(dim,)`` (stored as float32 bytes).
            reduced: the vector after the PCA numbered ``pca_version``, if any.
            duration, channels, sample_rate: the audio stream's facts (s, count, Hz).
            seconds: wall time spent decoding and encoding it.

        Returns:
            The row id.

        Raises:
            CatalogError: the database cannot be written.
        """
        import numpy as np

        from vidpipe.library.models import EmbeddingRow

        vec = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        values = {
            "media_id": media_id,
            "encoder": encoder,
            "options_hash": opts_hash,
            "pool": pool,
            "dim": int(vec.shape[0]),
            "vector": vec.tobytes(),
            "reduced": None
            if reduced is None
            else np.ascontiguousarray(reduced, dtype="<f4").reshape(-1).tobytes(),
            "pca_version": pca_version if reduced is not None else None,
            "duration": duration,
            "channels": channels,
            "sample_rate": sample_rate,
            "seconds": seconds,
            "created_at": utcnow(),
        }
        with self.session() as s:
            stmt = self._insert(EmbeddingRow.__table__).values(**values)
            update_cols = {k: stmt.excluded[k] for k in values if k not in ("media_id",)}
            stmt = stmt.on_conflict_do_update(
                index_elements=["media_id", "options_hash"], set_=update_cols
            ).returning(EmbeddingRow.__table__.c.id)
            return int(s.execute(stmt).scalar_one())

    def embedding(self, media_id: int, opts_hash: str | None = None) -> Any:
        """The :class:`~vidpipe.library.models.EmbeddingRow` of ``media_id`` for
        ``options_hash`` (any, the newest, when ``None``), or None."""
        from vidpipe.library.models import EmbeddingRow

        with self.session(write=False) as s:
            q = select(EmbeddingRow).where(EmbeddingRow.media_id == media_id)
            if opts_hash is not None:
                q = q.where(EmbeddingRow.options_hash == opts_hash)
            return s.scalars(q.order_by(EmbeddingRow.id.desc()).limit(1)).first()

    def embeddings(self, opts_hash: str | None = None) -> list[Any]:
        """Embedding rows (of one ``options_hash``, or all), by media id."""
        from vidpipe.library.models import EmbeddingRow

        with self.session(write=False) as s:
            q = select(EmbeddingRow).order_by(EmbeddingRow.media_id, EmbeddingRow.id)
            if opts_hash is not None:
                q = q.where(EmbeddingRow.options_hash == opts_hash)
            return list(s.scalars(q))

    def embedding_facts(self) -> dict[int, tuple[float | None, int | None, float | None]]:
        """``media_id -> (audio duration s, channels, processing seconds)`` of each item's
        newest embedding (the vectors themselves are not read)."""
        from vidpipe.library.models import EmbeddingRow

        e = EmbeddingRow
        with self.session(write=False) as s:
            q = select(e.media_id, e.duration, e.channels, e.seconds).order_by(e.id)
            return {mid: (d, c, sec) for mid, d, c, sec in s.execute(q)}

    def embedding_sets(self) -> list[tuple[str, str, str, int]]:
        """``(encoder, opts_hash, pool, count)`` of every stored set of vectors,
        largest first."""
        from vidpipe.library.models import EmbeddingRow

        e = EmbeddingRow
        with self.session(write=False) as s:
            q = (
                select(e.encoder, e.options_hash, e.pool, func.count(e.id))
                .group_by(e.encoder, e.options_hash, e.pool)
                .order_by(func.count(e.id).desc(), e.options_hash)
            )
            return [(a, b, c, int(n)) for a, b, c, n in s.execute(q)]

    def save_pca(
        self,
        *,
        encoder: str,
        opts_hash: str,
        data: bytes,
        n_components: int,
        dim: int,
        n_items: int,
        whiten: bool,
        reduced: dict[int, Any],
    ) -> int:
        """Store a new PCA version for ``options_hash`` and, in the same transaction,
        every reduced vector it gives (``reduced``: embedding row id -> vector).

        Returns:
            The new version number (1 for the first PCA of these options).
        """
        import numpy as np

        from vidpipe.library.models import EmbeddingRow, PcaRow

        with self.session() as s:
            last = s.scalar(
                select(func.max(PcaRow.version)).where(PcaRow.options_hash == opts_hash)
            )
            version = int(last or 0) + 1
            s.add(
                PcaRow(
                    encoder=encoder,
                    options_hash=opts_hash,
                    version=version,
                    n_components=n_components,
                    dim=dim,
                    n_items=n_items,
                    whiten=whiten,
                    data=data,
                )
            )
            for row_id, vec in reduced.items():
                s.execute(
                    update(EmbeddingRow)
                    .where(EmbeddingRow.id == row_id)
                    .values(
                        reduced=np.ascontiguousarray(vec, dtype="<f4").reshape(-1).tobytes(),
                        pca_version=version,
                    )
                )
            return version

    def latest_pca(self, opts_hash: str) -> Any:
        """The newest :class:`~vidpipe.library.models.PcaRow` for ``options_hash``, or None."""
        from vidpipe.library.models import PcaRow

        with self.session(write=False) as s:
            q = select(PcaRow).where(PcaRow.options_hash == opts_hash)
            return s.scalars(q.order_by(PcaRow.version.desc()).limit(1)).first()
