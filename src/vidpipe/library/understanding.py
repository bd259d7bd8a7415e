"""Understanding results in the catalog: summaries, chapters, scenes and topics of items.

Stage logic lives in :mod:`vidpipe.text` (chunking, text backends, topics) and
:mod:`vidpipe.vision` (scenes); this module resolves an item or file, computes or
loads and stores results (tables from migration 0003) and writes Markdown, JSON and
WebVTT files. The loops over selections, output folders and names behind the commands
are in :mod:`vidpipe.pipeline.understand`.

Results are keyed by an options hash (backend, model, chunk length, language and the
transcript they were computed from), so asking again returns the stored result
without recomputing it.

Example::

    with Catalog() as cat:
        media_id, transcript = resolve_input(cat, "talk.mp4")   # transcribes if needed
        summary = summarize_media(cat, media_id, transcript)
        write_summary(summary, Path("out"), "talk")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from vidpipe.errors import InputError, OutputError, UsageError
from vidpipe.files import atomic_write, check_readable_file, sha256_file
from vidpipe.library.catalog import Catalog, options_hash
from vidpipe.library.models import Base, utcnow
from vidpipe.text.script import chapters_to_script, summary_to_script
from vidpipe.timecode import chapter_timestamp, vtt_timestamp
from vidpipe.types import Chapter, Scene, Summary, Topic, Transcript

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

        return check_script(self.zh_script or _settings_script())

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


def _settings_script() -> str:
    from vidpipe.config import get_settings

    return get_settings().zh_script


# --------------------------------------------------------------------------- inputs


def _transcript_key(cat: Catalog, media_id: int) -> Any:
    row = cat.transcript_row(media_id)
    return None if row is None else [row.id, row.options_hash]


def resolve_input(
    cat: Catalog,
    target: str,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[int, Transcript, str]:
    """``ITEM`` (a catalog id) or ``FILE`` → ``(media_id, transcript, name)``.

    A file already in the catalog (same content) reuses its stored transcript; any
    other file is recorded in the catalog (media row only, no source) and transcribed
    with ``model`` (default: settings, ``base``), and the transcript is stored.

    Raises:
        InputError: no such item or file, or the item has no transcript yet.
    """
    path = Path(target)
    if target.isdigit() and not path.exists():
        media = cat.get_media(int(target))
        if media is None:
            raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
        tr = cat.get_transcript(media.id)
        if tr is None:
            raise InputError(
                f"item {media.id} has no transcript yet",
                f"run: vidpipe run --steps probe,audio,transcribe (or pass {media.path})",
            )
        return media.id, tr, Path(media.path).stem
    check_readable_file(path)
    digest = sha256_file(path)
    media = cat.media_by_sha256(digest)
    if media is not None:
        tr = cat.get_transcript(media.id)
        if tr is not None:
            return media.id, tr, path.stem
    from vidpipe.config import get_settings
    from vidpipe.speech.transcribe import transcribe

    model = model or get_settings().model
    script = _settings_script()
    tr = transcribe(
        path,
        model=model,
        language=language,
        progress=progress,
        zh_script=script,
        settings=get_settings(),
    )
    tr.model = model
    if media is None:
        media, _ = cat.add_media(path.resolve(), digest, path.stat().st_size)
    opts = {
        "model": model,
        "language": (language or "auto").lower(),
        "task": "transcribe",
        "word_timestamps": False,
        "beam_size": 5,
        "zh_script": script,
    }
    cat.save_transcript(media.id, tr, options_hash(opts))
    return media.id, tr, path.stem


def _has_audio(cat: Catalog, media) -> bool:
    """Whether the item's file has an audio stream: the stored probe, else probe it now
    (and store that probe: duration, codecs)."""
    if media.probe is None:
        from vidpipe.media.probe import probe

        cat.record_probe(media.id, probe(media.path))
        media = cat.get_media(media.id)
    return bool((media.probe or {}).get("audio_streams")) or media.audio_codec is not None


def resolve_video(
    cat: Catalog,
    target: str,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[int, Transcript | None, str, Path]:
    """``ITEM`` or ``FILE`` for ``describe`` → ``(media_id, transcript, name, path)``.

    Like :func:`resolve_input`, but a video without an audio track (a silent video)
    is not an error: it is recorded in the catalog (media row and probe) and its
    transcript is ``None``. A video with audio and no stored transcript is transcribed
    first (``model``, ``language``) and the transcript stored, as for ``summarize``.

    Raises:
        InputError: no such item or file.
        MediaError: not decodable media, or audio only ("has no video stream").
    """
    from vidpipe.errors import MediaError
    from vidpipe.media.probe import probe

    path = Path(target)
    if target.isdigit() and not path.exists():
        media = cat.get_media(int(target))
        if media is None:
            raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
        path = Path(media.path)
        check_readable_file(path)
    else:
        check_readable_file(path)
        digest = sha256_file(path)
        media = cat.media_by_sha256(digest)
        if media is None:
            info = probe(path)  # undecodable files fail here, before they are recorded
            media, _ = cat.add_media(path.resolve(), digest, path.stat().st_size)
            cat.record_probe(media.id, info)
            media = cat.get_media(media.id)
    if media.probe is not None and media.video_codec is None:
        raise MediaError(
            f"{path}: has no video stream",
            "scene detection and keyframes need a video file, not audio only",
        )
    tr = cat.get_transcript(media.id)
    if tr is None and _has_audio(cat, media):
        _mid, tr, _stem = resolve_input(cat, str(path), model, language, progress)
    return media.id, tr, path.stem, path


# --------------------------------------------------------------------------- storage


def _latest(cat: Catalog, row_cls, media_id: int, opts_hash: str | None = None):
    with cat.session() as s:
        q = select(row_cls).where(row_cls.media_id == media_id)
        if opts_hash is not None:
            q = q.where(row_cls.options_hash == opts_hash)
        return s.scalars(q.order_by(row_cls.id.desc()).limit(1)).first()


def _store(cat: Catalog, row: Any) -> None:
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
    (what :func:`summarize_media` / :func:`chapters_media` look up).

    Raises:
        UsageError: bad options (:meth:`TextOptions.check`).
    """
    options.check()
    return options.hash(
        "summary" if kind == "summarize" else "chapters", _transcript_key(cat, media_id)
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
    row = _latest(cat, SummaryRow, media_id, opts_hash)
    return None if row is None else Summary.model_validate(row.data)


def get_chapters(cat: Catalog, media_id: int, opts_hash: str | None = None) -> list[Chapter] | None:
    row = _latest(cat, ChaptersRow, media_id, opts_hash)
    return None if row is None else [Chapter.model_validate(c) for c in row.data]


def get_scenes(cat: Catalog, media_id: int) -> list[Scene] | None:
    row = _latest(cat, ScenesRow, media_id)
    return None if row is None else [Scene.model_validate(c) for c in row.data]


def summarize_media(
    cat: Catalog,
    media_id: int,
    transcript: Transcript | None = None,
    options: TextOptions | None = None,
    force: bool = False,
) -> tuple[Summary, bool]:
    """Summary of an item: stored one if computed with the same options, else computed
    and stored. Returns ``(summary, computed)``."""
    opts = options or TextOptions()
    opts.check()
    h = opts.hash("summary", _transcript_key(cat, media_id))
    if not force and (hit := get_summary(cat, media_id, h)) is not None:
        return hit, False
    transcript = transcript or cat.get_transcript(media_id)
    if transcript is None:
        raise InputError(f"item {media_id} has no transcript yet", "run the transcribe step")
    from vidpipe.text.chunking import chunk_transcript

    chunks = chunk_transcript(transcript, max_duration=opts.max_chunk)
    language = opts.language or transcript.language
    summary = summary_to_script(
        opts.get_backend(cat).summarize(chunks, language), opts.script(), language
    )
    _store(
        cat,
        SummaryRow(
            media_id=media_id,
            backend=summary.backend,
            model=summary.model,
            options_hash=h,
            language=summary.language or language,
            data=summary.model_dump(mode="json"),
        ),
    )
    return summary, True


def chapters_media(
    cat: Catalog,
    media_id: int,
    transcript: Transcript | None = None,
    options: TextOptions | None = None,
    force: bool = False,
) -> tuple[list[Chapter], bool]:
    """Chapters of an item (stored or computed); see :func:`summarize_media`."""
    opts = options or TextOptions()
    opts.check()
    h = opts.hash("chapters", _transcript_key(cat, media_id))
    if not force and (hit := get_chapters(cat, media_id, h)) is not None:
        return hit, False
    transcript = transcript or cat.get_transcript(media_id)
    if transcript is None:
        raise InputError(f"item {media_id} has no transcript yet", "run the transcribe step")
    from vidpipe.text.chunking import chunk_transcript
    from vidpipe.text.extractive import chapter_chunk_seconds

    media = cat.get_media(media_id)
    segments = transcript.segments
    duration = (
        transcript.duration
        or (media.duration if media else None)
        or (segments[-1].end if segments else 0.0)
    )
    # Chapters start at chunk starts: cut finer than the summary's chunks (~6 s for a
    # 2-minute talk) so a short talk can get its 2-4 chapters.
    chunks = chunk_transcript(transcript, chapter_chunk_seconds(duration, opts.max_chunk))
    language = opts.language or transcript.language
    chapters = chapters_to_script(
        opts.get_backend(cat).chapters(chunks, duration, language), opts.script(), language
    )
    _store(
        cat,
        ChaptersRow(
            media_id=media_id,
            backend=opts.backend,
            model=opts.model_name(),
            options_hash=h,
            language=language,
            data=[c.model_dump(mode="json") for c in chapters],
        ),
    )
    return chapters, True


def store_scenes(cat: Catalog, media_id: int, scenes: Sequence[Scene], opts_hash: str) -> None:
    _store(
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
    row = _latest(cat, ScenesRow, media_id)
    if row is None:
        raise InputError(f"item {media_id} has no scenes yet", "run vidpipe describe")
    store_scenes(cat, media_id, scenes, row.options_hash)


def describe_media(
    cat: Catalog,
    media_id: int,
    path: Path,
    out_dir: Path,
    transcript: Transcript | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    progress: Callable[[float, float], None] | None = None,
) -> list[Scene]:
    """Scenes of a video via :func:`vidpipe.vision.describe.describe` (writes
    ``out_dir/scenes.json`` and ``scenes.md``); stored in the catalog."""
    try:
        from vidpipe.vision.describe import describe
    except ImportError as exc:
        raise UsageError("video description is not available in this build") from exc
    from vidpipe.config import get_settings, merge_options

    # missing keys come from the VIDPIPE_VLM_* settings; no endpoint at all: no descriptions
    vlm: dict | None = merge_options(
        get_settings().vlm_options(), base_url=vlm_base or None, model=vlm_model or None
    )
    if not (vlm_base or vlm_model) and not (vlm["base_url"] and vlm["model"]):
        vlm = None
    scenes = describe(
        path,
        out_dir,
        transcript=transcript,
        vlm=vlm,
        frames_per_scene=frames_per_scene,
        progress=progress,
    )
    h = options_hash(
        {"kind": "scenes", "v": VERSION, "vlm": [vlm_base, vlm_model], "fps": frames_per_scene}
    )
    store_scenes(cat, media_id, scenes, h)
    return scenes


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


def topics_for_catalog(
    cat: Catalog,
    n_topics: int | None = None,
    namer: Callable | None = None,
    media_ids: Sequence[int] | None = None,
) -> tuple[list[Topic], int, list[tuple[int, str]]]:
    """Cluster items (``media_ids``, default every item with a transcript or scenes) by
    topic; store the run. Returns ``(topics, n_items_used, left_out)`` where
    ``left_out`` is ``(media_id, reason)`` for items without enough text
    (:func:`vidpipe.text.topics.usable_items`)."""
    from vidpipe.text.topics import find_topics, usable_items

    items, left_out = usable_items(topic_items(cat, media_ids))
    script = _settings_script()
    topics = find_topics(items, n_topics=n_topics, namer=namer, zh_script=script)
    store_topics(
        cat,
        topics,
        len(items),
        {"n_topics": n_topics, "named": namer is not None, "items": media_ids, "zh_script": script},
    )
    return topics, len(items), left_out


def llm_topic_namer(
    llm_base: str | None = None, llm_model: str | None = None, catalog: Catalog | None = None
):
    """A topic namer backed by the configured LLM, or None when none is configured or
    the text backend cannot name topics."""
    from vidpipe.config import get_settings

    base = llm_base or getattr(get_settings(), "llm_base", None)
    if not base:
        return None
    try:
        backend = TextOptions("openai", base, llm_model).get_backend(catalog)
    except Exception:
        return None
    fn = getattr(backend, "name_topic", None)
    return fn if callable(fn) else None


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
    "chapters_media",
    "get_chapters",
    "get_scenes",
    "get_summary",
    "latest_topics",
    "resolve_input",
    "resolve_video",
    "scene_text",
    "store_scenes",
    "summarize_media",
    "topic_items",
    "topics_for_catalog",
    "write_chapters",
    "write_summary",
    "write_topics",
]
