"""Understanding commands: ``summarize``, ``chapters``, ``topics``, ``describe``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from vidpipe.cli._common import (
    _BackendOpt,
    _catalog,
    _frames_progress,
    _IdsOpt,
    _item_error,
    _JsonOpt,
    _LlmBaseOpt,
    _LlmModelOpt,
    _LongestOpt,
    _MaxChunkOpt,
    _MaxDurOpt,
    _MinDurOpt,
    _note,
    _run,
    _selection,
    _SelLangOpt,
    _ShortestOpt,
    _target_selection,
    _TargetLangOpt,
    err,
    out,
)
from vidpipe.errors import EXIT_OK, EXIT_SOME_FAILED
from vidpipe.timecode import hms_ms as _hms

_TargetArg = Annotated[
    str | None,
    typer.Argument(help="Catalog item id, or a media file (or none, with selection options)."),
]
_OutOpt = Annotated[
    Path | None, typer.Option("--output-dir", "-o", help="Output folder (default: current).")
]
_AsrModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="ASR model for files not yet transcribed (base, tiny.en)."),
]
_ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even if stored.")]


def _text_options(backend, llm_base, llm_model, max_chunk, language):
    from vidpipe.library.understanding import TextOptions

    opts = TextOptions(
        backend=backend.lower(),
        llm_base=llm_base,
        llm_model=llm_model,
        max_chunk=max_chunk,
        language=None if language in (None, "auto") else language,
    )
    _run(opts.check)
    return opts


def _understand(kind: str, target: str, opts, model, out_dir, force):
    """Summary or chapters of one target (:func:`~vidpipe.pipeline.catalog_jobs.understand_target`:
    a catalog item as a job, a file directly), under a spinner; on failure one line and
    its exit code."""
    from vidpipe.pipeline.catalog_jobs import understand_target

    cat = _catalog()
    try:

        def work():
            with err.status(Text.assemble((kind, "bold"), f" {target}"), spinner="dots"):
                return understand_target(
                    cat, kind, target, opts, model=model, out_dir=out_dir, force=force
                )

        return _run(work)
    finally:
        cat.close()


def _understand_selected(kind: str, selection, opts, out_dir, force, as_json) -> None:
    """``summarize``/``chapters`` over the selected catalog items, one job each
    (:func:`~vidpipe.pipeline.catalog_jobs.understand_selected`): each item's result is
    printed (or its error, one line); exit 1 if any failed."""
    from vidpipe.pipeline.catalog_jobs import understand_selected

    docs: list[dict] = []

    def show(o) -> None:
        if o.error is not None:
            _item_error(o.media_id, o.name, o.error)
            return
        result = o.result
        if as_json:
            data = (
                result.model_dump(mode="json")
                if kind == "summarize"
                else [c.model_dump(mode="json") for c in result]
            )
            docs.append({"id": o.media_id, "name": o.name, kind: data})
        else:
            out.print(Text(f"#{o.media_id} {o.name}", style="bold"))
            if kind == "summarize":
                _print_summary(result)
            else:
                _print_chapters(result)
        what = f"{len(result.chunks)} chunks" if kind == "summarize" else f"{len(result)} chapters"
        err.print(
            f"#{o.media_id}: {what} ({'computed' if o.computed else 'stored'})"
            f" -> {', '.join(str(p) for p in o.paths)}",
            highlight=False,
            markup=False,
        )

    cat = _catalog()
    try:
        with _frames_progress(not err.is_terminal) as bar:
            task = bar.add_task(kind, total=None)
            failed = _run(
                lambda: understand_selected(
                    cat,
                    kind,
                    selection,
                    opts,
                    out_dir=out_dir,
                    force=force,
                    on_item=show,
                    progress=lambda d, t, what: bar.update(
                        task, completed=d, total=t, description=what
                    ),
                    report=_note,
                )
            )
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps(docs, ensure_ascii=False))
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _print_summary(summary) -> None:
    from vidpipe.timecode import chapter_timestamp as hms

    out.print(summary.overall.strip(), markup=False, highlight=False)
    if summary.keywords:
        out.print(Text.assemble(("keywords:", "bold"), " " + ", ".join(summary.keywords)))
    for c in summary.chunks:
        out.print(
            Text.assemble((f"  {hms(c.start)}-{hms(c.end)}", "cyan"), " " + c.summary.strip()),
            highlight=False,
        )


def _print_chapters(result) -> None:
    from vidpipe.library.understanding import youtube_lines

    out.print(youtube_lines(result), end="", markup=False, highlight=False)


def summarize(
    target: _TargetArg = None,
    output_dir: _OutOpt = None,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    force: _ForceOpt = False,
    as_json: _JsonOpt = False,
) -> None:
    """Summarize an item or a file: chunk summaries, an overall summary, keywords.

    A file not in the catalog is transcribed first (and recorded). The result is stored
    in the catalog and written as <stem>.summary.md and <stem>.summary.json in the
    output folder. Rerunning with the same options reuses the stored summary. Without
    a target, the selection options choose catalog items (exit 1 if any failed).
    """
    selection, language = _target_selection(
        target, "an ITEM or FILE", shortest, longest, min_duration, max_duration, language, ids
    )
    opts = _text_options(backend, llm_base, llm_model, max_chunk, language)
    if target is None:
        _understand_selected("summarize", selection, opts, output_dir, force, as_json)
    done = _understand("summarize", target, opts, model, output_dir, force)
    summary, stem, computed, paths = done.result, done.stem, done.computed, done.paths
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        out.print(Text(f"{stem} summary ({summary.backend}):", style="bold"))
        _print_summary(summary)
    err.print(
        f"{len(summary.chunks)} chunks, {len(summary.keywords)} keywords"
        f" ({'computed' if computed else 'stored'}) -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


def chapters(
    target: _TargetArg = None,
    output_dir: _OutOpt = None,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    force: _ForceOpt = False,
    as_json: _JsonOpt = False,
) -> None:
    """Chapters covering the timeline, with titles.

    Prints YouTube-description lines (0:00 Title) and writes <stem>.chapters.txt,
    <stem>.chapters.vtt (WebVTT chapters) and <stem>.chapters.json; stored in the catalog.
    Without a target, the selection options choose catalog items (exit 1 if any failed).
    """
    selection, language = _target_selection(
        target, "an ITEM or FILE", shortest, longest, min_duration, max_duration, language, ids
    )
    opts = _text_options(backend, llm_base, llm_model, max_chunk, language)
    if target is None:
        _understand_selected("chapters", selection, opts, output_dir, force, as_json)
    done = _understand("chapters", target, opts, model, output_dir, force)
    result, computed, paths = done.result, done.computed, done.paths
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in result]))
    else:
        _print_chapters(result)
    err.print(
        f"{len(result)} chapters ({'computed' if computed else 'stored'})"
        f" -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


def topics(
    items: Annotated[
        list[int] | None, typer.Argument(help="Item ids to group (default: every item).")
    ] = None,
    all_items: Annotated[
        bool,
        typer.Option("--all", help="Every item with a transcript or scenes (default)."),
    ] = False,
    n_topics: Annotated[
        int | None, typer.Option("--topics", "-n", min=1, help="Number of topics (default: auto).")
    ] = None,
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Output folder (default $VIDPIPE_HOME/understanding)."
        ),
    ] = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    language: _SelLangOpt = None,
    ids: _IdsOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """Topics across the collection: embeddings from a bundled model, clustering offline.

    An item's text is its transcript plus its scenes' on-screen text and descriptions
    (vidpipe describe), so silent videos take part; items with fewer than 2 content
    words are left out, each with its reason. Topics are named by their keywords, or by
    the LLM when one is configured (VIDPIPE_LLM_BASE or --llm-base). Writes topics.json
    and topics.md.
    """
    from vidpipe.pipeline.catalog_jobs import catalog_topics

    selection = _selection(shortest, longest, min_duration, max_duration, language, ids)
    cat = _catalog()
    try:

        def work():
            with err.status(Text("topics", style="bold"), spinner="dots"):
                return catalog_topics(
                    cat,
                    items=None if all_items else items,
                    selection=selection,
                    n_topics=n_topics,
                    llm_base=llm_base,
                    llm_model=llm_model,
                    out_dir=output_dir,
                    report=_note,
                )

        done = _run(work)
    finally:
        cat.close()
    found, names, paths, n = done.topics, done.names, done.paths, done.n_items
    if as_json:
        out.print_json(json.dumps([t.model_dump(mode="json") for t in found]))
    else:
        for t in found:
            out.print(
                Text.assemble((f"{t.id}. {t.name}", "bold"), f"  ({', '.join(t.keywords)})"),
                highlight=False,
            )
            for m in t.media_ids:
                out.print(f"   [{m}] {names.get(m, m)}", markup=False, highlight=False)
    err.print(
        f"{len(found)} topics over {n} items -> {', '.join(str(p) for p in paths)}",
        highlight=False,
    )


def _scenes_table(title: str, scenes) -> Table:
    speech = any(s.speech for s in scenes)
    t = Table(title=title, title_justify="left")
    cols = ["#", "start", "end", "on screen", *(["said"] if speech else []), "seen"]
    for col in cols:
        t.add_column(col)
    for s in scenes:
        row = [str(s.index), _hms(s.start), _hms(s.end), Text(" / ".join(s.ocr_text)[:60])]
        if speech:
            row.append(Text((s.speech or "")[:60]))
        row.append(Text((s.description or "")[:60]))
        t.add_row(*row)
    return t


def describe(
    video: Annotated[
        str | None,
        typer.Argument(help="Video file, or a catalog item id (or none, with selection options)."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Output folder (default ./<stem>.describe; with several items, "
            "<DIR>/<stem>.describe each).",
        ),
    ] = None,
    vlm_base: Annotated[
        str | None, typer.Option("--vlm-base", help="OpenAI-compatible vision endpoint URL.")
    ] = None,
    vlm_model: Annotated[str | None, typer.Option("--vlm-model", help="Vision model name.")] = None,
    frames_per_scene: Annotated[
        int, typer.Option("--frames-per-scene", min=1, help="Frames sent per scene.")
    ] = 1,
    model: _AsrModelOpt = None,
    language: _TargetLangOpt = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """Timeline of scenes: keyframes (JPEG), on-screen text (OCR), what is said and,
    with a vision endpoint, what is seen. Writes scenes.json and scenes.md.

    A video without an audio track gets no "said" column. Without a target, the
    selection options choose catalog items (audio-only items are skipped; exit 1 if
    any failed).
    """
    from vidpipe.pipeline.catalog_jobs import describe_target

    selection, language = _target_selection(
        video, "a VIDEO or ITEM", shortest, longest, min_duration, max_duration, language, ids
    )
    if video is None:
        _describe_selected(
            selection, output_dir, vlm_base, vlm_model, frames_per_scene, model, as_json
        )
    cat = _catalog()
    try:

        def work():
            with _frames_progress(not err.is_terminal) as bar:
                task = bar.add_task(f"describe {video}", total=None)
                return describe_target(
                    cat,
                    video,
                    out_dir=output_dir,
                    vlm_base=vlm_base,
                    vlm_model=vlm_model,
                    frames_per_scene=frames_per_scene,
                    model=model,
                    language=language,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )

        scenes, dest = _run(work)
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([s.model_dump(mode="json") for s in scenes]))
    else:
        out.print(_scenes_table(f"{video}: {len(scenes)} scenes", scenes))
    err.print(f"{len(scenes)} scenes -> {dest}", highlight=False, markup=False)


def _describe_selected(
    selection, output_dir, vlm_base, vlm_model, frames_per_scene, model, as_json
) -> None:
    """``describe`` over the selected catalog items, one folder and one job each
    (:func:`~vidpipe.pipeline.catalog_jobs.describe_selected`); exit 1 if any failed."""
    from vidpipe.pipeline.catalog_jobs import describe_selected

    docs: list[dict] = []

    def show(o) -> None:
        if o.error is not None:
            _item_error(o.media_id, o.name, o.error)
            return
        scenes = o.result
        if as_json:
            docs.append(
                {
                    "id": o.media_id,
                    "name": o.name,
                    "output_dir": str(o.output_dir),
                    "scenes": [s.model_dump(mode="json") for s in scenes],
                }
            )
        else:
            out.print(_scenes_table(f"#{o.media_id} {o.name}: {len(scenes)} scenes", scenes))
        err.print(
            f"#{o.media_id}: {len(scenes)} scenes -> {o.output_dir}", highlight=False, markup=False
        )

    cat = _catalog()
    try:
        with _frames_progress(not err.is_terminal) as bar:
            items = bar.add_task("describe", total=None)
            scenes_task = bar.add_task("scenes", total=None)
            failed = _run(
                lambda: describe_selected(
                    cat,
                    selection,
                    out_dir=output_dir,
                    vlm_base=vlm_base,
                    vlm_model=vlm_model,
                    frames_per_scene=frames_per_scene,
                    model=model,
                    on_item=show,
                    progress=lambda d, t, what: bar.update(
                        items, completed=d, total=t, description=what
                    ),
                    scene_progress=lambda d, t: bar.update(scenes_task, completed=d, total=t),
                    report=_note,
                )
            )
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps(docs, ensure_ascii=False))
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)
