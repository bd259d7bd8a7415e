"""Catalog commands as jobs: ``summarize``, ``chapters``, ``topics`` and ``embed`` on
catalog items create jobs of the registry's stage and run them in this process with
:class:`~vidpipe.pipeline.engine.LocalWorker` (as ``vidpipe run`` does), so the catalog
holds a job for every piece of work it holds a result of.

**Reuse**: a rerun with the same options makes no new job. An item's newest succeeded
job of the same kind and options hash (``params_hash``) is taken as done when the
caller's ``accept(job)`` says its result still holds (a summary job: the stored
summary for the item's current transcript is the one it made).

Jobs made here have one attempt (``max_attempts=1``): the commands retried nothing
before either (remote calls retry inside their client); a failed job's error is
given back as the :class:`~vidpipe.errors.VidpipeError` it was
(:func:`job_error`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from vidpipe.errors import InputError, MediaError, NoAudioError, UsageError, VidpipeError
from vidpipe.files import check_readable_file, ensure_dir, item_stem
from vidpipe.library import understanding as u
from vidpipe.library.ingest import describe, register
from vidpipe.library.models import JobRow
from vidpipe.library.select import select_noted
from vidpipe.pipeline import understand
from vidpipe.pipeline.embed import (
    EXPORT_SUFFIXES,
    EmbedOptions,
    EmbedSummary,
    PcaOutcome,
    export_embeddings,
    fit_collection_pca,
)
from vidpipe.pipeline.engine import LocalWorker, WorkerEvents
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.plan import RunOptions
from vidpipe.pipeline.registry import get_stage
from vidpipe.pipeline.runner import run as ingest
from vidpipe.pipeline.stages import NO_AUDIO, has_no_audio
from vidpipe.pipeline.stages.topics import TopicsOutcome
from vidpipe.pipeline.understand import ItemOutcome, Kind, UnderstandOutcome
from vidpipe.types import Chapter, Job, Scene, Summary, Topic

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.select import Selection
    from vidpipe.library.understanding import TextOptions

__all__ = [
    "ItemJob",
    "catalog_topics",
    "describe_selected",
    "describe_target",
    "embed_sources",
    "job_error",
    "latest_succeeded",
    "narrate_job",
    "run_item_jobs",
    "run_jobs",
    "understand_selected",
    "understand_target",
]


def _error_classes(cls: type[VidpipeError]) -> dict[str, type[VidpipeError]]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found |= _error_classes(sub)
    return found


def job_error(job: Job) -> VidpipeError:
    """The error a failed (or canceled) job ended with, as the vidpipe error class it
    was stored under (so the command line gives its one line and exit code); an
    unexpected error is a plain :class:`~vidpipe.errors.VidpipeError` (exit 1)."""
    if job.error is None:
        return VidpipeError(f"{job.kind} job {job.id} ended {job.status}")
    cls = _error_classes(VidpipeError).get(job.error.error_class, VidpipeError)
    try:
        return cls(job.error.message, job.error.hint)
    except TypeError:  # an error class with other arguments
        return VidpipeError(job.error.message, job.error.hint)


def latest_succeeded(
    store: JobStore, kind: str, params_hash: str, media_ids: Sequence[int]
) -> dict[int, Job]:
    """The newest succeeded job of ``kind`` with ``params_hash`` per item of
    ``media_ids`` (by the job's ``input.media_id``, else its result's ``media_id``);
    items without one are absent."""
    wanted = set(media_ids)
    if not wanted:
        return {}
    with store.catalog.session(write=False) as s:
        rows = s.execute(
            select(JobRow.id, JobRow.input, JobRow.result)
            .where(JobRow.kind == kind, JobRow.params_hash == params_hash)
            .where(JobRow.status == "succeeded")
            .order_by(JobRow.finished_at.desc(), JobRow.created_at.desc())
        ).all()
    found: dict[int, str] = {}
    for job_id, given, result in rows:
        mid = (given or {}).get("media_id")
        if mid is None:
            mid = (result or {}).get("media_id")
        if isinstance(mid, int) and mid in wanted and mid not in found:
            found[mid] = job_id
    jobs = {j.id: j for j in store.get_many(list(found.values()))}
    return {mid: jobs[jid] for mid, jid in found.items() if jid in jobs}


@dataclass
class ItemJob:
    """One item's job: the job as it ended and whether it was reused (made by an
    earlier command or run, no new job)."""

    media_id: int
    job: Job
    reused: bool = False


def run_jobs(
    store: JobStore,
    job_ids: Sequence[str],
    *,
    threads: int | None = None,
    started: Callable[[Job], None] | None = None,
    finished: Callable[[Job], None] | None = None,
) -> list[Job]:
    """Run jobs ``job_ids`` in this process (:class:`~vidpipe.pipeline.engine.
    LocalWorker`, no job files: results are catalog rows and job results) and
    return them as they ended, in the given order.

    ``started(job)`` / ``finished(job)`` are the worker's events (the progress display).

    Raises:
        KeyboardInterrupt: as given; the running job goes back to the queue first.
    """
    events = WorkerEvents(
        started=started or (lambda job: None),
        finished=(lambda job, ran: finished(job)) if finished else (lambda job, ran: None),
    )
    LocalWorker(store, threads=threads, events=events).run(list(job_ids))
    return store.get_many(list(job_ids))


def run_item_jobs(
    store: JobStore,
    kind: str,
    params: dict[str, Any],
    media_ids: Sequence[int],
    *,
    accept: Callable[[int, Job], bool] | None = None,
    reuse: bool = True,
    threads: int | None = None,
    started: Callable[[int, int], None] | None = None,
    done: Callable[[ItemJob], None] | None = None,
) -> list[ItemJob]:
    """One ``kind`` job per catalog item (``input={"media_id": id}``, ``params`` the
    stage's options), run here; items with a reusable job get none (module doc).

    Args:
        store: the jobs' store (its catalog holds the items).
        kind: a stage name (``summarize``, ``chapters``, ``embed``...).
        params: the stage's options (validated by its ``Options``).
        media_ids: the items, in order (repeats dropped).
        accept: ``accept(media_id, job)``: whether an earlier succeeded job's result
            still holds (default: always).
        reuse: False (``--force``): a new job for every item.
        threads: CPU threads a stage may use (``None``: every core).
        started: ``started(media_id, n_done)`` when an item's job starts running.
        done: ``done(item)`` for each item, in ``media_ids`` order, as soon as it and
            every item before it are done.

    Returns:
        One :class:`ItemJob` per item, in order.

    Raises:
        UsageError: ``params`` the stage refuses.
    """
    stage = get_stage(kind)
    options = stage.parse_options(params)
    digest = stage.options_hash(options)
    ids = list(dict.fromkeys(media_ids))
    old = latest_succeeded(store, kind, digest, ids) if reuse else {}
    items: dict[int, ItemJob] = {}
    new: dict[str, int] = {}
    for mid in ids:
        prev = old.get(mid)
        if prev is not None and (accept is None or accept(mid, prev)):
            items[mid] = ItemJob(mid, prev, reused=True)
            continue
        job = store.create(kind, options.model_dump(mode="json"), input={"media_id": mid},
                           max_attempts=1)  # fmt: skip
        new[job.id] = mid
    flushed = 0

    def flush() -> None:
        nonlocal flushed
        while flushed < len(ids) and ids[flushed] in items:
            if done is not None:
                done(items[ids[flushed]])
            flushed += 1

    def on_start(job: Job) -> None:
        if started is not None and job.id in new:
            started(new[job.id], sum(1 for m in ids if m in items))

    def on_end(job: Job) -> None:
        if job.id in new:
            items[new[job.id]] = ItemJob(new[job.id], job)
            flush()

    flush()
    if new:
        for job in run_jobs(store, list(new), threads=threads, started=on_start, finished=on_end):
            items.setdefault(new[job.id], ItemJob(new[job.id], job))
        flush()
    return [items[m] for m in ids]


# --------------------------------------------------------------------------- summarize, chapters


def _is_item(target: str) -> bool:
    """Whether ``target`` names a catalog item (digits that are not a file), as
    :func:`vidpipe.library.understanding.resolve_input` tells them apart."""
    return target.isdigit() and not Path(target).exists()


def _text_jobs(
    store: JobStore,
    kind: Kind,
    media_ids: Sequence[int],
    opts: TextOptions,
    *,
    force: bool,
    started: Callable[[int, int], None] | None = None,
    done: Callable[[int, Any, bool, VidpipeError | None], None],
) -> None:
    """``kind`` jobs on items that have a transcript; ``done(media_id, result,
    computed, error)`` per item in order (``result`` a Summary or a list of Chapter)."""
    cat = store.catalog
    hashes = {mid: u.stored_hash(cat, kind, mid, opts) for mid in media_ids}
    if force:
        for mid, h in hashes.items():
            u.forget_stored(cat, kind, mid, h)

    def accept(mid: int, job: Job) -> bool:
        return (job.result or {}).get("stored_hash") == hashes[mid] and (
            u.get_stored(cat, kind, mid, hashes[mid]) is not None
        )

    def end(item: ItemJob) -> None:
        job, mid = item.job, item.media_id
        if job.status != "succeeded":
            done(mid, None, False, job_error(job))
            return
        result = u.get_stored(cat, kind, mid, hashes[mid])
        if result is None:  # stored under another key meanwhile: the job's own result
            data = job.result or {}
            result = (
                Summary.model_validate({k: v for k, v in data.items() if k in Summary.model_fields})
                if kind == "summarize"
                else [Chapter.model_validate(c) for c in data.get("chapters") or []]
            )
        done(mid, result, not item.reused and bool((job.result or {}).get("computed")), None)

    run_item_jobs(
        store,
        kind,
        asdict(opts),
        media_ids,
        accept=accept,
        reuse=not force,
        started=started,
        done=end,
    )


def understand_target(
    cat: Catalog,
    kind: Kind,
    target: str,
    opts: TextOptions,
    *,
    model: str | None = None,
    out_dir: str | Path | None = None,
    force: bool = False,
    store: JobStore | None = None,
) -> UnderstandOutcome:
    """``vidpipe summarize|chapters TARGET``: a catalog item as a job of the stage
    (reused on a rerun with the same options, see the module doc), a file as
    :func:`vidpipe.pipeline.understand.understand_target` computes it (no job);
    written to ``out_dir`` (default: the current folder) as ``<stem>.summary.*`` /
    ``<stem>.chapters.*``.

    Args:
        store: the jobs' store (default: one on ``cat`` under the configured storage root).

    Raises:
        InputError: no such item or file, or an item without a transcript.
        MediaError, ModelError, RemoteError, OutputError: transcribing, the text
            backend, or writing failed.
    """
    if not _is_item(target):
        return understand.understand_target(
            cat, kind, target, opts, model=model, out_dir=out_dir, force=force
        )
    media = cat.get_media(int(target))
    if media is None:
        raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
    if cat.transcript_row(media.id) is None:
        raise InputError(
            f"item {media.id} has no transcript yet",
            f"run: vidpipe run --steps probe,audio,transcribe (or pass {media.path})",
        )
    got: dict[str, Any] = {}

    def done(_mid: int, result: Any, computed: bool, error: VidpipeError | None) -> None:
        got.update(result=result, computed=computed, error=error)

    _text_jobs(store or JobStore(cat), kind, [media.id], opts, force=force, done=done)
    if got["error"] is not None:
        raise got["error"]
    stem = Path(media.path).stem
    dest = Path(out_dir) if out_dir else Path.cwd()
    paths = understand._write(kind, got["result"], dest, stem)
    return UnderstandOutcome(got["result"], stem, got["computed"], paths)


def understand_selected(
    cat: Catalog,
    kind: Kind,
    selection: Selection,
    opts: TextOptions,
    *,
    out_dir: str | Path | None = None,
    force: bool = False,
    on_item: Callable[[ItemOutcome], None] = lambda o: None,
    progress: Callable[[float, float | None, str], None] = lambda d, t, w: None,
    report: Callable[[str], None] = lambda line: None,
    store: JobStore | None = None,
) -> int:
    """``vidpipe summarize|chapters`` over the selected catalog items: one job each
    (reused on a rerun, see the module doc), each result written to ``out_dir``
    (default: the current folder) under its own stem; items without an audio track
    are skipped (reported), items without a transcript fail with that reason.
    ``on_item`` gets the outcomes in selection order.

    Returns:
        The number of items that failed.

    Raises:
        InputError: the selection matches no item.
    """
    items = understand._selected(cat, selection, report)
    dest = Path(out_dir) if out_dir else Path.cwd()
    total = len(items)
    names = {m.id: Path(m.path).name for m in items}
    stems: dict[int, str] = {}
    used: set[str] = set()
    ready: dict[int, ItemOutcome | None] = {}  # None: skipped
    todo: list[int] = []
    for m in items:
        if understand._is_silent(m):
            ready[m.id] = None
        elif cat.transcript_row(m.id) is None:
            err = InputError(
                f"item {m.id} has no transcript yet",
                "run: vidpipe run --steps probe,audio,transcribe",
            )
            ready[m.id] = ItemOutcome(m.id, names[m.id], error=err)
        else:
            todo.append(m.id)
            stems[m.id] = item_stem(Path(m.path).stem, m.id, used)
    failed = 0
    shown = 0

    def flush() -> None:
        nonlocal shown, failed
        while shown < total and items[shown].id in ready:
            m = items[shown]
            o = ready[m.id]
            shown += 1
            if o is None:
                report(f"skipped #{m.id} {names[m.id]}: no audio track")
                continue
            failed += o.error is not None
            on_item(o)

    def done(mid: int, result: Any, computed: bool, error: VidpipeError | None) -> None:
        if error is None:
            try:
                paths = understand._write(kind, result, dest, stems[mid])
            except Exception as exc:  # an output folder that cannot be written
                ready[mid] = ItemOutcome(mid, names[mid], error=exc)
            else:
                ready[mid] = ItemOutcome(mid, names[mid], result, computed, paths)
        else:
            ready[mid] = ItemOutcome(mid, names[mid], error=error)
        flush()

    def started(mid: int, _n: int) -> None:
        at = next(n for n, m in enumerate(items) if m.id == mid)
        progress(at, total, f"{kind} #{mid} {names[mid]}")

    progress(0, total, kind)
    flush()
    if todo:
        _text_jobs(
            store or JobStore(cat), kind, todo, opts, force=force, started=started, done=done
        )
    flush()
    progress(total, total, kind)
    return failed


# --------------------------------------------------------------------------- embed


@dataclass
class EmbedRun:
    """What :func:`embed_sources` did: the embedding summary, the PCA outcome (when
    asked), the files written, and the inputs that have no media item (with why)."""

    summary: EmbedSummary
    pca: PcaOutcome | None = None
    written: list[Path] = field(default_factory=list)
    not_embedded: list[tuple[str, str]] = field(default_factory=list)


def embed_sources(
    catalog: Catalog,
    sources: Sequence[str] = (),
    *,
    all_items: bool = False,
    options: EmbedOptions | None = None,
    fit_pca: int | None = None,
    output: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    progress: Callable[[float, float], None] | None = None,
    store: JobStore | None = None,
) -> EmbedRun:
    """``vidpipe embed``: one ``embed`` job per item, run here, then optionally fit the
    PCA and export.

    An item already embedded with the same options counts as ``already`` (a new job is
    made only when no succeeded ``embed`` job of these options holds it: a quick one
    that finds the stored vector); an item whose recorded probe found no audio track is
    ``skipped`` without a job, and so is one whose job finds none when decoding.

    Args:
        catalog: an open catalog.
        sources: item ids (digits), media files, folders, link or record lists, URLs
            (files and URLs are ingested first, as ``vidpipe ingest`` does).
        all_items: every media item of the catalog instead.
        options: encoder and pooling.
        fit_pca: fit a PCA to this many dimensions on every stored vector of the
            options afterwards (fewer items: a note, raw vectors kept).
        output: export every vector of the options to this file afterwards
            (:func:`~vidpipe.pipeline.embed.export_embeddings`).
        threads: encoder CPU threads.
        progress: ``progress(items_done, items_total)``.
        store: the jobs' store (default: one on ``catalog``).

    Raises:
        UsageError: no sources and no ``all_items``, or both; bad options.
        InputError: an item id not in the catalog, a missing path.
    """
    options = options or EmbedOptions()
    if bool(sources) == bool(all_items):
        raise UsageError(
            "give SOURCES or --all" if not sources else "give SOURCES or --all, not both",
            "e.g. vidpipe embed --all, or vidpipe embed 3 7 talk.mp4",
        )
    if output is not None and Path(output).suffix.lower() not in EXPORT_SUFFIXES:
        export_embeddings(catalog, output, options)  # raises the UsageError up front
    key = options.key()
    summary = EmbedSummary(key=key, encoder=options.model)
    res = EmbedRun(summary=summary)
    if all_items:
        ids = [m.id for m in catalog.all_media()]
    else:
        ids = []
        for s in sources:
            if str(s).isdigit():
                if catalog.get_media(int(s)) is None:
                    raise InputError(f"no item with id {s} in the catalog", "see vidpipe report")
                ids.append(int(s))
        paths = [str(s) for s in sources if not str(s).isdigit()]
        if paths:
            ingest(paths, catalog, RunOptions(steps=("ingest",)))
            for src in register(catalog, paths).sources:
                if src.media_id is not None and src.state != "failed":
                    ids.append(src.media_id)
                else:
                    res.not_embedded.append((describe(src), src.reason or src.state))
    ids = list(dict.fromkeys(ids))
    todo: list[int] = []
    stored: set[int] = set()
    for mid in ids:
        if catalog.embedding(mid, key) is not None:
            stored.add(mid)
            todo.append(mid)
        elif has_no_audio(catalog.get_media(mid)):
            summary.skipped.append((mid, NO_AUDIO))
        else:
            todo.append(mid)
    if todo:
        new = len([m for m in todo if m not in stored])

        def accept(mid: int, _job: Job) -> bool:
            return mid in stored

        n_done = 0

        def done(item: ItemJob) -> None:
            nonlocal n_done
            job, mid = item.job, item.media_id
            if mid in stored:
                summary.already += 1
            elif job.status == "succeeded":
                summary.embedded += 1
                summary.audio_seconds += float((job.result or {}).get("duration") or 0.0)
                n_done += 1
            else:
                error = job_error(job)
                if isinstance(error, NoAudioError):
                    summary.skipped.append((mid, NO_AUDIO))
                else:
                    summary.failures.append((mid, error.one_line()))
                n_done += 1
            if progress is not None and mid not in stored:
                progress(float(n_done), float(new))

        t0 = time.perf_counter()
        run_item_jobs(
            store or JobStore(catalog),
            "embed",
            options.model_dump(mode="json"),
            todo,
            accept=accept,
            threads=threads,
            done=done,
        )
        if summary.embedded:
            summary.seconds = time.perf_counter() - t0
    if fit_pca is not None:
        res.pca = fit_collection_pca(catalog, options, fit_pca)
    if output is not None:
        res.written = export_embeddings(catalog, output, options)
    return res


# --------------------------------------------------------------------------- topics


def catalog_topics(
    cat: Catalog,
    *,
    items: Sequence[int] | None = None,
    selection: Selection | None = None,
    n_topics: int | None = None,
    llm_base: str | None = None,
    llm_model: str | None = None,
    out_dir: str | Path | None = None,
    report: Callable[[str], None] = lambda line: None,
    store: JobStore | None = None,
) -> TopicsOutcome:
    """``vidpipe topics``: a ``topics`` job over the catalog (the given items, narrowed
    by ``selection``), run here; ``topics.json`` and ``topics.md`` written to
    ``out_dir`` (default ``$VIDPIPE_HOME/understanding``), as
    :func:`vidpipe.pipeline.stages.topics.catalog_topics` writes them.

    Every call makes a new job: its input is the whole catalog (or a selection of it),
    which changes between runs, so an earlier job's topics may no longer hold.

    Args:
        items: item ids to group (``None``: every item with a transcript or scenes).
        selection: narrows ``items`` (or the whole catalog) when active.
        n_topics, llm_base, llm_model: see the ``topics`` stage's options.
        report: one line per item left out (and the selection's note on items without
            a probed duration).
        store: the jobs' store (default: one on ``cat``).

    Raises:
        InputError: an unknown item id, a selection that matches nothing, or no item
            with speech or on-screen text.
        RemoteError: the LLM that names topics failed.
        OutputError: the files cannot be written.
    """
    sel = selection
    params: dict[str, Any] = {
        "ids": list(items) if items else None,
        "n_topics": n_topics,
        "llm_base": llm_base,
        "llm_model": llm_model,
    }
    if sel is not None:
        params |= {
            "shortest": sel.shortest,
            "longest": sel.longest,
            "min_duration": sel.min_duration,
            "max_duration": sel.max_duration,
            "language": sel.language,
            "select_ids": list(sel.ids) if sel.ids is not None else None,
        }
    store = store or JobStore(cat)
    job = store.create("topics", params, max_attempts=1)
    (job,) = run_jobs(store, [job.id])
    if job.status != "succeeded":
        raise job_error(job)
    if sel is not None and sel.active:  # the selection's note, as the job saw it
        wanted = list(dict.fromkeys(items)) if items else None
        select_noted(cat, sel, wanted, report)
    result = job.result or {}
    found = [Topic.model_validate(t) for t in result.get("topics") or []]
    names = u.media_names(cat)
    left_out = [(int(x["media_id"]), str(x["reason"])) for x in result.get("left_out") or []]
    for mid, reason in left_out:
        report(f"left out #{mid} {names.get(mid, mid)}: {reason}")
    paths = u.write_topics(found, Path(out_dir) if out_dir else u.default_out_dir(), names)
    return TopicsOutcome(found, names, paths, int(result.get("n_items") or 0), left_out)


# --------------------------------------------------------------------------- describe


def _describe_params(
    vlm_base: str | None,
    vlm_model: str | None,
    frames_per_scene: int,
    model: str | None,
    language: str | None,
) -> dict[str, Any]:
    return {
        "vlm_base": vlm_base,
        "vlm_model": vlm_model,
        "frames_per_scene": frames_per_scene,
        "model": model,
        "language": language,
    }


def _move_scenes(store: JobStore, media_id: int, dest: Path) -> list[Scene]:
    """The scenes a describe job wrote into the item's folder, copied to ``dest``
    (``scenes.json``, ``scenes.md``, keyframes and frames), their file paths pointing
    there, and stored so in the catalog (as ``vidpipe describe -o DEST`` leaves them)."""
    # imported here: the video description extra (OpenCV, OCR) may be absent
    from vidpipe.vision.describe import write_scenes

    work = store.root / "understanding" / str(media_id)
    payload = json.loads((work / "scenes.json").read_text(encoding="utf-8"))
    ensure_dir(dest)
    for sub in ("keyframes", "frames"):
        if (work / sub).is_dir():
            shutil.copytree(work / sub, dest / sub, dirs_exist_ok=True)
    here, there = str(work.resolve()), str(dest.resolve())
    scenes = []
    for raw in payload.get("scenes") or []:
        scene = Scene.model_validate(raw)
        if scene.keyframe:
            kf = str(Path(scene.keyframe).resolve())
            if kf.startswith(here + os.sep):
                scene = scene.model_copy(update={"keyframe": there + kf[len(here) :]})
        scenes.append(scene)
    write_scenes(
        scenes,
        dest,
        payload.get("source") or "",
        payload.get("vision_model"),
        bool(payload.get("has_speech", True)),
    )
    u.restore_scenes(store.catalog, media_id, scenes)
    return scenes


def describe_target(
    cat: Catalog,
    target: str,
    *,
    out_dir: str | Path | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    model: str | None = None,
    language: str | None = None,
    progress: Callable[[float, float], None] | None = None,
    store: JobStore | None = None,
) -> tuple[list[Scene], Path]:
    """``vidpipe describe TARGET``: a catalog item as a ``describe`` job (its scenes then
    copied to ``out_dir``, default ``./<stem>.describe``), a file as
    :func:`vidpipe.pipeline.understand.describe_target` does it (no job). Returns
    ``(scenes, folder)``.

    Every call on an item makes a new job: ``describe`` computes the scenes again each
    time, as it always did (its output folder is the command's, not the job's).

    Raises:
        InputError: no such item or file. MediaError: not a video (audio only).
        RemoteError: the vision endpoint failed. OutputError: the folder cannot be
        written.
    """
    if not _is_item(target):
        return understand.describe_target(
            cat,
            target,
            out_dir=out_dir,
            vlm_base=vlm_base,
            vlm_model=vlm_model,
            frames_per_scene=frames_per_scene,
            model=model,
            language=language,
            progress=progress,
        )
    media = cat.get_media(int(target))
    if media is None:
        raise InputError(f"no item with id {target} in the catalog", "see vidpipe report")
    path = Path(media.path)
    check_readable_file(path)
    if media.probe is not None and media.video_codec is None:
        raise MediaError(
            f"{path}: has no video stream",
            "scene detection and keyframes need a video file, not audio only",
        )
    params = _describe_params(vlm_base, vlm_model, frames_per_scene, model, language)
    store = store or JobStore(cat)
    job = store.create("describe", params, input={"media_id": media.id}, max_attempts=1)
    (job,) = run_jobs(store, [job.id])
    if job.status != "succeeded":
        raise job_error(job)
    dest = Path(out_dir) if out_dir else Path.cwd() / f"{path.stem}.describe"
    return _move_scenes(store, media.id, dest), dest


def describe_selected(
    cat: Catalog,
    selection: Selection,
    *,
    out_dir: str | Path | None = None,
    vlm_base: str | None = None,
    vlm_model: str | None = None,
    frames_per_scene: int = 1,
    model: str | None = None,
    on_item: Callable[[ItemOutcome], None] = lambda o: None,
    progress: Callable[[float, float | None, str], None] = lambda d, t, w: None,
    scene_progress: Callable[[float, float | None], None] = lambda d, t: None,
    report: Callable[[str], None] = lambda line: None,
    store: JobStore | None = None,
) -> int:
    """``vidpipe describe`` over the selected videos: one ``describe`` job each (a new
    one every time, see :func:`describe_target`), scenes copied to
    ``<out_dir>/<stem>.describe`` (``out_dir`` default: the current folder);
    audio-only items are skipped (reported). ``on_item`` gets the outcomes in
    selection order. ``scene_progress(0, None)`` when an item starts.

    Returns:
        The number of items that failed.

    Raises:
        InputError: the selection matches no item.
    """
    items = understand._selected(cat, selection, report)
    base = Path(out_dir) if out_dir else Path.cwd()
    used: set[str] = set()
    todo: list[int] = []
    dests: dict[int, Path] = {}
    for m in items:
        if m.probe is not None and m.video_codec is None:
            continue
        todo.append(m.id)
        dests[m.id] = base / f"{item_stem(Path(m.path).stem, m.id, used)}.describe"
    names = {m.id: Path(m.path).name for m in items}
    total = len(items)
    failed = 0
    shown = 0
    ready: dict[int, ItemOutcome | None] = {m.id: None for m in items if m.id not in dests}

    def flush() -> None:
        nonlocal shown, failed
        while shown < total and items[shown].id in ready:
            m = items[shown]
            o = ready[m.id]
            shown += 1
            if o is None:
                report(f"skipped #{m.id} {names[m.id]}: audio only")
                continue
            failed += o.error is not None
            on_item(o)

    store = store or JobStore(cat)

    def done(item: ItemJob) -> None:
        mid = item.media_id
        if item.job.status != "succeeded":
            ready[mid] = ItemOutcome(mid, names[mid], error=job_error(item.job))
        else:
            try:
                scenes = _move_scenes(store, mid, dests[mid])
            except (VidpipeError, OSError) as exc:
                ready[mid] = ItemOutcome(mid, names[mid], error=exc)
            else:
                ready[mid] = ItemOutcome(mid, names[mid], result=scenes, output_dir=dests[mid])
        flush()

    def started(mid: int, _n: int) -> None:
        at = next(n for n, m in enumerate(items) if m.id == mid)
        progress(at, total, f"describe #{mid} {names[mid]}")
        scene_progress(0, None)

    progress(0, total, "describe")
    flush()
    if todo:
        params = _describe_params(vlm_base, vlm_model, frames_per_scene, model, None)
        run_item_jobs(store, "describe", params, todo, reuse=False, started=started, done=done)
    flush()
    progress(total, total, "describe")
    return failed


# --------------------------------------------------------------------------- narrate


def narrate_job(
    cat: Catalog,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    params: dict[str, Any],
    *,
    music: str | os.PathLike[str] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[str | None, float], None] | None = None,
    store: JobStore | None = None,
) -> Job:
    """``vidpipe narrate SOURCE -o OUTPUT``: a ``narrate`` job (``params``: the stage's
    options; the video goes to ``output``, the work files to ``work_dir``, default
    ``<output>.work``), run here. The narration and the video are recorded in the
    catalog as :func:`vidpipe.pipeline.narrate.narrate` records them.

    Args:
        on_progress: ``on_progress(step, fraction)`` from the job's row while it runs
            (about every 0.2 s; steps ``speech``, ``transcript``, ``chunks``, ``images``,
            ``render``).
        store: the jobs' store (default: one on ``cat``).

    Returns:
        The succeeded job; its result has ``output``, ``work_dir``, ``slides``,
        ``duration`` (s), ``width``, ``height``, ``fps`` and ``reused`` (stages taken
        from the stage cache).

    Raises:
        VidpipeError: the job's error (:func:`job_error`): InputError (no such file, an
            empty text), UsageError, ModelError (a voice or model), RemoteError,
            MediaError, OutputError (the output or work folder cannot be written).
    """
    store = store or JobStore(cat)
    given: dict[str, Any] = {"path": os.fspath(source), "output": os.fspath(output)}
    if work_dir is not None:
        given["work_dir"] = os.fspath(work_dir)
    if music is not None:
        given["music"] = os.fspath(music)
    job = store.create("narrate", params, input=given, max_attempts=1)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            with contextlib.suppress(Exception):
                now = store.get(job.id)
                on_progress(now.step, now.progress)  # type: ignore[misc]

    watcher = threading.Thread(target=watch, daemon=True, name="vidpipe-narrate-progress")
    if on_progress is not None:
        watcher.start()
    try:
        (job,) = run_jobs(store, [job.id])
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(1)
    if job.status != "succeeded":
        raise job_error(job)
    return job
