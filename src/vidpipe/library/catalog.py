"""The catalog: one database of sources, media, stage status, failures and transcripts.

SQLite in the data folder by default (``$VIDPIPE_HOME/catalog.db``, WAL, foreign keys
on, a busy timeout), PostgreSQL when ``VIDPIPE_DATABASE_URL`` (or ``url=``) says so;
the same code runs on both. Opening a catalog upgrades its schema to the newest
Alembic revision. Every method commits before it returns, so a killed process never
loses a recorded result.

Example::

    cat = Catalog()                       # or Catalog("postgresql+psycopg://...")
    src = cat.add_source("talk.mp4", "file")
    media, created = cat.add_media("/data/talk.mp4", sha256, size)
    cat.save_transcript(media.id, transcript, options_hash="...")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vidpipe.errors import CatalogError, UsageError
from vidpipe.files import sha256_file  # noqa: F401  (re-exported for callers)
from vidpipe.library.models import (
    Failure,
    Media,
    SegmentRow,
    Source,
    Stage,
    TranscriptRow,
    WordRow,
    utcnow,
)
from vidpipe.types import MediaInfo, Segment, Transcript, Word

MIGRATIONS = Path(__file__).parent / "migrations"


def default_url() -> str:
    """``VIDPIPE_DATABASE_URL`` or the SQLite file ``$VIDPIPE_HOME/catalog.db``."""
    from vidpipe.config import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.home).expanduser() / 'catalog.db'}"


def options_hash(options: dict[str, Any]) -> str:
    """A short stable hash of stage options (sorted JSON), stored with each stage."""
    blob = json.dumps(options, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def upgrade_schema(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest migration (Alembic, in code)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


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
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            try:
                upgrade_schema(self.engine)
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
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as s:
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

    # ------------------------------------------------------------------ sources

    def find_source(self, uri: str, list_path: str | None = None, line: int | None = None):
        """The source recorded for this input (same URI, list file and line), or None."""
        with self.session() as s:
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
    ) -> Source:
        """Record one input (appended after every existing source in input order)."""
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
            )
            s.add(src)
            s.flush()
            return src

    def get_source(self, source_id: int) -> Source | None:
        with self.session() as s:
            return s.get(Source, source_id)

    def sources(self, states: Sequence[str] | None = None) -> list[Source]:
        """Sources in input order (position)."""
        with self.session() as s:
            q = select(Source).order_by(Source.position, Source.id)
            if states:
                q = q.where(Source.state.in_(states))
            return list(s.scalars(q))

    def done_source_for_uri(self, uri: str, exclude_id: int | None = None) -> Source | None:
        """Another source with the same URI that already succeeded or is pending."""
        with self.session() as s:
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
        with self.session() as s:
            q = select(Source).where(Source.media_id == media_id).order_by(Source.position)
            return list(s.scalars(q))

    # ------------------------------------------------------------------ media

    def add_media(self, path: str | os.PathLike[str], sha256: str, size: int) -> tuple[Media, bool]:
        """Record a file by content. Returns ``(media, created)``; an existing sha256 wins."""
        with self.session() as s:
            existing = s.scalars(select(Media).where(Media.sha256 == sha256)).first()
            if existing is not None:
                return existing, False
            m = Media(path=str(path), sha256=sha256, size=size)
            s.add(m)
            s.flush()
            return m, True

    def set_media_path(self, media_id: int, path: str | os.PathLike[str]) -> None:
        with self.session() as s:
            m = s.get(Media, media_id)
            if m is not None:
                m.path = str(path)

    def get_media(self, media_id: int) -> Media | None:
        with self.session() as s:
            return s.get(Media, media_id)

    def media_by_sha256(self, sha256: str) -> Media | None:
        with self.session() as s:
            return s.scalars(select(Media).where(Media.sha256 == sha256)).first()

    def all_media(self) -> list[Media]:
        with self.session() as s:
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
        with self.session() as s:
            q = select(Stage).where(Stage.media_id == media_id, Stage.stage == stage)
            return s.scalars(q).first()

    def stages(self, media_id: int | None = None) -> list[Stage]:
        with self.session() as s:
            q = select(Stage).order_by(Stage.media_id, Stage.id)
            if media_id is not None:
                q = q.where(Stage.media_id == media_id)
            return list(s.scalars(q))

    def stage_done(self, media_id: int, stage: str, opts_hash: str | None) -> bool:
        """True if ``stage`` finished successfully with the same options.

        A ``running`` row (left by a killed run) or a ``failed`` one counts as not done.
        """
        st = self.stage(media_id, stage)
        return st is not None and st.status == "done" and st.options_hash == opts_hash

    def start_stage(self, media_id: int, stage: str, opts_hash: str | None) -> None:
        with self.session() as s:
            q = select(Stage).where(Stage.media_id == media_id, Stage.stage == stage)
            st = s.scalars(q).first()
            if st is None:
                st = Stage(media_id=media_id, stage=stage, status="running")
                s.add(st)
            st.status = "running"
            st.options_hash = opts_hash
            st.started_at = utcnow()
            st.finished_at = None
            st.error = None

    def finish_stage(self, media_id: int, stage: str, error: str | None = None) -> None:
        with self.session() as s:
            q = select(Stage).where(Stage.media_id == media_id, Stage.stage == stage)
            st = s.scalars(q).first()
            if st is None:
                return
            st.status = "failed" if error else "done"
            st.error = error
            st.finished_at = utcnow()

    def forget_stage(self, media_id: int, stage: str) -> None:
        """Drop a stage row (an interrupted stage: neither done nor failed)."""
        with self.session() as s:
            s.execute(delete(Stage).where(Stage.media_id == media_id, Stage.stage == stage))

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
        with self.session() as s:
            return list(s.scalars(select(Failure).order_by(Failure.id)))

    # ------------------------------------------------------------------ transcripts

    def save_transcript(
        self, media_id: int, transcript: Transcript, opts_hash: str | None = None
    ) -> int:
        """Store ``transcript`` as the media's transcript (replacing an older one).

        Segments get a tokenised copy of their text for full-text search (Chinese is
        split into words with jieba). Returns the transcript id.
        """
        from vidpipe.library.search import index_text

        with self.session() as s:
            old = list(
                s.scalars(select(TranscriptRow.id).where(TranscriptRow.media_id == media_id))
            )
            if old:
                seg_ids = select(SegmentRow.id).where(SegmentRow.transcript_id.in_(old))
                s.execute(delete(WordRow).where(WordRow.segment_id.in_(seg_ids)))
                s.execute(delete(SegmentRow).where(SegmentRow.transcript_id.in_(old)))
                s.execute(delete(TranscriptRow).where(TranscriptRow.id.in_(old)))
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
                )
                s.add(row)
                s.flush()
                for j, w in enumerate(seg.words or []):
                    s.add(
                        WordRow(
                            segment_id=row.id,
                            idx=j,
                            start=w.start,
                            end=w.end,
                            word=w.word,
                            probability=w.probability,
                        )
                    )
            m = s.get(Media, media_id)
            if m is not None and m.duration is None and transcript.duration:
                m.duration = transcript.duration
            return tr.id

    def transcript_row(self, media_id: int) -> TranscriptRow | None:
        with self.session() as s:
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
        with self.session() as s:
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
        return Transcript(
            language=row.language,
            language_probability=row.language_probability,
            duration=row.duration,
            model=row.model,
            source=media.path if media else None,
            segments=[
                Segment(
                    id=g.idx,
                    start=g.start,
                    end=g.end,
                    text=g.text,
                    words=[
                        Word(start=w.start, end=w.end, word=w.word, probability=w.probability or 0)
                        for w in words[g.id]
                    ]
                    if g.id in words
                    else None,
                )
                for g in segs
            ],
        )

    def word_counts(self) -> dict[int, int]:
        """Words per media id (word rows when stored, else whitespace words of the text)."""
        out: dict[int, int] = {}
        with self.session() as s:
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
        with self.session() as s:
            q = select(TranscriptRow.media_id, TranscriptRow.language).order_by(TranscriptRow.id)
            return {mid: lang for mid, lang in s.execute(q)}

    # ------------------------------------------------------------------ llm cache

    def llm_cache_get(self, key: str) -> str | None:
        """The cached LLM response for ``key`` (sha256 hex), or None."""
        from sqlalchemy import column, table

        t = table("llm_cache", column("key"), column("response"))
        with self.session() as s:
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

        with self.session() as s:
            q = select(ImageRow)
            if media_id is not None:
                q = q.where(ImageRow.media_id == media_id)
            if work_dir is not None:
                q = q.where(ImageRow.work_dir == os.fspath(work_dir))
            if generator is not None:
                q = q.where(ImageRow.generator == generator)
            q = q.order_by(ImageRow.work_dir.nulls_first(), ImageRow.chunk_id, ImageRow.id)
            return list(s.scalars(q))
