"""Understanding results in the catalog: summaries, chapters, scenes and topics of items.

Storage only: the tables (migration 0003), the text options and their hashes,
loading and storing results, and writing Markdown, JSON and WebVTT files. Computing
them is the stages' (:mod:`vidpipe.pipeline.stages.summarize`, ``chapters``,
``describe``, ``topics``; resolving an item or file to its transcript:
:func:`vidpipe.pipeline.stages.transcribe.resolve_input`), on the building blocks in
:mod:`vidpipe.text` and :mod:`vidpipe.vision`.

Results are keyed by an options hash (backend, model, chunk length, language and the
transcript they were computed from: its row and, once it was edited, its revision), so
asking again returns the stored result without recomputing it, and after an edit
(:mod:`vidpipe.library.revisions`) asking again computes it anew. A stored summary or
chapters list computed before the transcript's latest revision is *stale*
(:func:`result_state`: the item API and page say so).

Example::

    with Catalog() as cat:
        summary = get_summary(cat, media_id)     # stored by the summarize stage
        write_summary(summary, Path("out"), "talk")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from vidpipe.errors import InputError, OutputError, UsageError
from vidpipe.files import atomic_write
from vidpipe.library.catalog import Catalog, options_hash
from vidpipe.library.models import Base, utcnow
from vidpipe.timecode import chapter_timestamp, vtt_timestamp
from vidpipe.types import Chapter, Scene, Summary, Topic

VERSION = 2  # 2: chapters from finer chunks, counted by duration, titled by phrases
BACKENDS = ("extractive", "openai")

# --------------------------------------------------------------------------- tables


class SummaryRow(Base):
    __tablename__ = "summaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(Text, default=None)
    options_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChaptersRow(Base):
    __tablename__ = "chapters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(Text, default=None)
    options_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScenesRow(Base):
    __tablename__ = "scenes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    options_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TopicRun(Base):
    __tablename__ = "topic_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_items: Mapped[int] = mapped_column(Integer)
    options: Mapped[Any] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TopicRow(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("topic_runs.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    data: Mapped[Any] = mapped_column(JSON)
    media_ids: Mapped[Any] = mapped_column(JSON)


# --------------------------------------------------------------------------- options


@dataclass
class TextOptions:
    """How to summarize / chapter: backend, its model and endpoint, chunk length (s)."""

    backend: str = "extractive"
    llm_base: str | None = None
    llm_model: str | None = None
    max_chunk: float = 60.0
    language: str | None = None
    zh_script: str | None = None  # Chinese script of the results; default VIDPIPE_ZH_SCRIPT

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown text backend '{self.backend}'", "use extractive or openai")
        if self.max_chunk <= 0:
            raise UsageError("--max-chunk must be positive")
        self.script()

    def script(self) -> str:
        """The Chinese script (``simplified``, ``traditional``, ``keep``) results are in."""
        from vidpipe.text.script import check_script

        return check_script(self.zh_script or settings_script())

    def model_name(self) -> str | None:
        if self.backend == "extractive":
            return None
        if self.llm_model:
            return self.llm_model
        from vidpipe.config import get_settings

        return getattr(get_settings(), "llm_model", None)

    def hash(self, kind: str, transcript_key: Any = None) -> str:
        return options_hash(
            {
                "kind": kind,
                "v": VERSION,
                "backend": self.backend,
                "model": self.model_name(),
                "base": self.llm_base if self.backend != "extractive" else None,
                "max_chunk": float(self.max_chunk),
                "language": self.language,
                "transcript": transcript_key,
                "zh_script": self.script(),
            }
        )

    def get_backend(self, catalog: Catalog | None = None):
        from vidpipe.text.backends import get_text_backend

        kw: dict[str, Any] = {}
        if self.backend != "extractive":
            from vidpipe.config import get_settings, merge_options

            # the settings (VIDPIPE_LLM_*) resolved here, the options given win over them
            kw = merge_options(
                get_settings().llm_options(),
                base_url=self.llm_base or None,
                model=self.llm_model or None,
                catalog=catalog,  # the response cache lives in the same catalog
            )
        return get_text_backend(self.backend, **kw)


def settings_script() -> str:
    from vidpipe.config import get_settings

    return get_settings().zh_script


# --------------------------------------------------------------------------- inputs


def transcript_key(cat: Catalog, media_id: int) -> Any:
    """What a result's options hash says about the transcript it was computed from:
    ``[transcript row id, its options hash]``, plus the revision number once the
    transcript was edited (revision 2 on: results of an older revision are not reused);
    None without a transcript."""
    from vidpipe.library.revisions import latest_revision

    row = cat.transcript_row(media_id)
    if row is None:
        return None
    rev = latest_revision(cat, media_id)
    if rev is None or rev.number <= 1:
        return [row.id, row.options_hash]  # as before revisions: stored results stay valid
    return [row.id, row.options_hash, rev.number]


def _utc(t: datetime) -> datetime:
    """``t`` as a naive UTC time (SQLite gives stored times back without a zone)."""
    return t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)


def result_state(cat: Catalog, kind: str, media_id: int) -> dict[str, Any] | None:
    """Which transcript revision the stored ``kind`` result (``summarize`` or
    ``chapters``; the latest stored, as :func:`get_summary` gives it) was computed from.

    Returns:
        ``{"revision": N, "latest_revision": M, "stale": N < M}``: ``N`` the newest
        revision made before the result was stored (1, the machine's, when the
        transcript was never edited), ``M`` the revision read now; ``N`` is None (and
        ``stale`` true) when the result is older than the item's transcript itself (it
        was transcribed again since) and is not what the default options would reuse
        now (a new transcript made with the same options gives the same key: the
        result is reused, so not stale). None when no such result is stored.
    """
    from vidpipe.library.models import TranscriptRevisionRow

    row_cls = SummaryRow if kind == "summarize" else ChaptersRow
    row = latest_row(cat, row_cls, media_id)
    if row is None:
        return None
    with cat.session(write=False) as s:
        revs = s.execute(
            select(TranscriptRevisionRow.number, TranscriptRevisionRow.created_at)
            .where(TranscriptRevisionRow.media_id == media_id)
            .order_by(TranscriptRevisionRow.number)
        ).all()
    made = _utc(row.created_at)
    latest = revs[-1][0] if revs else 1
    tr = cat.transcript_row(media_id)
    if tr is not None and tr.created_at is not None and made < _utc(tr.created_at):
        reused = TextOptions().hash("summary" if kind == "summarize" else "chapters",
                                    transcript_key(cat, media_id))  # fmt: skip
        if row.options_hash != reused:
            return {"revision": None, "latest_revision": latest, "stale": True}
    based = max((n for n, at in revs if _utc(at) <= made), default=1)
    return {"revision": based, "latest_revision": latest, "stale": based < latest}


# --------------------------------------------------------------------------- storage


def latest_row(cat: Catalog, row_cls, media_id: int, opts_hash: str | None = None):
    with cat.session() as s:
        q = select(row_cls).where(row_cls.media_id == media_id)
        if opts_hash is not None:
            q = q.where(row_cls.options_hash == opts_hash)
        return s.scalars(q.order_by(row_cls.id.desc()).limit(1)).first()


def store_row(cat: Catalog, row: Any) -> None:
    row_cls = type(row)
    with cat.session() as s:
        s.execute(
            delete(row_cls).where(
                row_cls.media_id == row.media_id, row_cls.options_hash == row.options_hash
            )
        )
        s.add(row)


def stored_hash(cat: Catalog, kind: str, media_id: int, options: TextOptions) -> str:
    """The key a ``kind`` (``summarize`` or ``chapters``) result of item ``media_id``
    is stored under with ``options``: the options and the item's current transcript
    (what the summarize and chapters stages look up).

    Raises:
        UsageError: bad options (:meth:`TextOptions.check`).
    """
    options.check()
    return options.hash(
        "summary" if kind == "summarize" else "chapters", transcript_key(cat, media_id)
    )


def get_stored(cat: Catalog, kind: str, media_id: int, opts_hash: str) -> Any:
    """The stored ``summarize`` (a :class:`Summary`) or ``chapters`` (a list of
    :class:`Chapter`) result of ``media_id`` under ``opts_hash``, or ``None``."""
    fn = get_summary if kind == "summarize" else get_chapters
    return fn(cat, media_id, opts_hash)


def forget_stored(cat: Catalog, kind: str, media_id: int, opts_hash: str) -> None:
    """Drop the stored ``summarize``/``chapters`` result of ``media_id`` under
    ``opts_hash`` (``--force``: the next computation makes it again)."""
    row_cls = SummaryRow if kind == "summarize" else ChaptersRow
    with cat.session() as s:
        s.execute(
            delete(row_cls).where(row_cls.media_id == media_id, row_cls.options_hash == opts_hash)
        )


def get_summary(cat: Catalog, media_id: int, opts_hash: str | None = None) -> Summary | None:
    """The stored summary (latest, or the one computed with ``opts_hash``)."""
    row = latest_row(cat, SummaryRow, media_id, opts_hash)
    return None if row is None else Summary.model_validate(row.data)


def get_chapters(cat: Catalog, media_id: int, opts_hash: str | None = None) -> list[Chapter] | None:
    row = latest_row(cat, ChaptersRow, media_id, opts_hash)
    return None if row is None else [Chapter.model_validate(c) for c in row.data]


def get_scenes(cat: Catalog, media_id: int) -> list[Scene] | None:
    row = latest_row(cat, ScenesRow, media_id)
    return None if row is None else [Scene.model_validate(c) for c in row.data]


def store_scenes(cat: Catalog, media_id: int, scenes: Sequence[Scene], opts_hash: str) -> None:
    store_row(
        cat,
        ScenesRow(
            media_id=media_id,
            options_hash=opts_hash,
            data=[s.model_dump(mode="json") for s in scenes],
        ),
    )


def restore_scenes(cat: Catalog, media_id: int, scenes: Sequence[Scene]) -> None:
    """Store ``scenes`` (the item's latest scenes, their files moved elsewhere) in place
    of the item's latest stored scenes, under the same options key.

    Raises:
        InputError: the item has no stored scenes.
    """
    row = latest_row(cat, ScenesRow, media_id)
    if row is None:
        raise InputError(f"item {media_id} has no scenes yet", "run vidpipe describe")
    store_scenes(cat, media_id, scenes, row.options_hash)


def scene_text(scenes: Sequence[Scene] | None) -> str:
    """What the scenes show in words: on-screen text lines and vision-model descriptions,
    in scene order, each distinct line once (``""`` without scenes)."""
    seen: set[str] = set()
    parts: list[str] = []
    for sc in scenes or []:
        for line in [*sc.ocr_text, *([sc.description] if sc.description else [])]:
            line = " ".join(line.split())
            if line and line.lower() not in seen:
                seen.add(line.lower())
                parts.append(line)
    return "\n".join(parts)


def topic_items(
    cat: Catalog, media_ids: Sequence[int] | None = None, max_chars: int = 4000
) -> list[tuple[int, str, str | None]]:
    """``(media_id, text, language)`` for topics: the transcript's text, then the stored
    scenes' on-screen text and descriptions (:func:`scene_text`), cut at ``max_chars``.

    Args:
        cat: an open catalog.
        media_ids: the items to use, in this order; each is returned, with ``""`` as
            text when it has neither a transcript nor stored scenes (so the caller can
            say why it is left out). ``None``: every item that has a transcript or
            stored scenes, by id.
        max_chars: longest text per item (characters).

    Returns:
        One tuple per item; ``language`` is the transcript's (``None`` without one).
    """
    media = [m.id for m in cat.all_media()] if media_ids is None else list(media_ids)
    items = []
    for mid in media:
        tr = cat.get_transcript(mid)
        speech = " ".join(s.text.strip() for s in tr.segments).strip() if tr else ""
        seen = scene_text(get_scenes(cat, mid))
        text = "\n".join(t for t in (speech, seen) if t)
        if text or media_ids is not None:
            items.append((mid, text[:max_chars], tr.language if tr else None))
    return items


def store_topics(cat: Catalog, topics: Sequence[Topic], n_items: int, options: dict) -> int:
    """Record one topics run; returns its id."""
    with cat.session() as s:
        run = TopicRun(n_items=n_items, options=options)
        s.add(run)
        s.flush()
        for i, t in enumerate(topics):
            s.add(
                TopicRow(
                    run_id=run.id,
                    idx=i,
                    name=t.name,
                    data=t.model_dump(mode="json"),
                    media_ids=list(t.media_ids),
                )
            )
        return run.id


def latest_topics(cat: Catalog) -> list[Topic]:
    with cat.session() as s:
        run = s.scalars(select(TopicRun).order_by(TopicRun.id.desc()).limit(1)).first()
        if run is None:
            return []
        rows = s.scalars(select(TopicRow).where(TopicRow.run_id == run.id).order_by(TopicRow.idx))
        return [Topic.model_validate(r.data) for r in rows]


# --------------------------------------------------------------------------- writers


def _write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def summary_markdown(summary: Summary, title: str) -> str:
    lines = [f"# {title}", "", "## Summary", "", summary.overall.strip(), ""]
    if summary.keywords:
        lines += ["## Keywords", "", ", ".join(summary.keywords), ""]
    if summary.chunks:
        lines += ["## Parts", ""]
        lines += [
            f"- **{chapter_timestamp(c.start)}–{chapter_timestamp(c.end)}** {c.summary.strip()}"
            for c in summary.chunks
        ]
        lines.append("")
    model = f", {summary.model}" if summary.model else ""
    lines += [f"_{summary.backend}{model}_", ""]
    return "\n".join(lines)


def write_summary(
    summary: Summary, out_dir: Path, stem: str, title: str | None = None
) -> list[Path]:
    """``<stem>.summary.md`` and ``<stem>.summary.json`` in ``out_dir``."""
    out_dir = Path(out_dir)
    md = _write(out_dir / f"{stem}.summary.md", summary_markdown(summary, title or stem))
    js = _write(
        out_dir / f"{stem}.summary.json",
        json.dumps(summary.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n",
    )
    return [md, js]


def youtube_lines(chapters: Sequence[Chapter]) -> str:
    return "".join(f"{chapter_timestamp(c.start)} {c.title.strip()}\n" for c in chapters)


def chapters_vtt(chapters: Sequence[Chapter]) -> str:
    cues = ["WEBVTT", ""]
    for i, c in enumerate(chapters, start=1):
        title = " ".join(c.title.split()).replace("-->", "->")
        cues += [str(i), f"{vtt_timestamp(c.start)} --> {vtt_timestamp(c.end)}", title, ""]
    return "\n".join(cues)


def write_chapters(chapters: Sequence[Chapter], out_dir: Path, stem: str) -> list[Path]:
    """``<stem>.chapters.txt`` (YouTube lines), ``.chapters.vtt`` and ``.chapters.json``."""
    out_dir = Path(out_dir)
    return [
        _write(out_dir / f"{stem}.chapters.txt", youtube_lines(chapters)),
        _write(out_dir / f"{stem}.chapters.vtt", chapters_vtt(chapters)),
        _write(
            out_dir / f"{stem}.chapters.json",
            json.dumps([c.model_dump(mode="json") for c in chapters], ensure_ascii=False, indent=2)
            + "\n",
        ),
    ]


def write_topics(topics: Sequence[Topic], out_dir: Path, names: dict[int, str]) -> list[Path]:
    """``topics.json`` and ``topics.md`` (each topic with its items) in ``out_dir``."""
    out_dir = Path(out_dir)
    docs = [
        t.model_dump(mode="json") | {"items": [names.get(m, str(m)) for m in t.media_ids]}
        for t in topics
    ]
    lines = ["# Topics", ""]
    for t in topics:
        lines += [f"## {t.id}. {t.name}", "", f"Keywords: {', '.join(t.keywords)}", ""]
        lines += [f"- [{m}] {names.get(m, str(m))}" for m in t.media_ids]
        lines.append("")
    return [
        _write(out_dir / "topics.json", json.dumps(docs, ensure_ascii=False, indent=2) + "\n"),
        _write(out_dir / "topics.md", "\n".join(lines)),
    ]


def default_out_dir() -> Path:
    """``$VIDPIPE_HOME/understanding`` (topics)."""
    from vidpipe.config import get_settings

    return Path(get_settings().home).expanduser() / "understanding"


def media_names(cat: Catalog) -> dict[int, str]:
    return {m.id: os.path.basename(m.path) for m in cat.all_media()}


__all__ = [
    "TextOptions",
    "get_chapters",
    "get_scenes",
    "get_summary",
    "latest_topics",
    "scene_text",
    "store_scenes",
    "topic_items",
    "write_chapters",
    "write_summary",
    "write_topics",
]
