"""Library commands over the catalog: ``ingest``, ``run``, ``report``, ``search``, ``show``,
``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from vidpipe.cli._common import (
    DiarizeOpt,
    MaxSpeakersOpt,
    MinSpeakersOpt,
    NumSpeakersOpt,
    _BackendOpt,
    _catalog,
    _cue_options,
    _EmbedModelOpt,
    _EndOpt,
    _HighlightOpt,
    _IdFieldOpt,
    _IdsOpt,
    _LlmBaseOpt,
    _LlmModelOpt,
    _LongestOpt,
    _MaxChunkOpt,
    _MaxCueDurationOpt,
    _MaxDurOpt,
    _MaxLineCountOpt,
    _MaxLineWidthOpt,
    _MinDurOpt,
    _note,
    _PoolOpt,
    _QuietOpt,
    _records,
    _run,
    _RunModelOpt,
    _selection,
    _SelLangOpt,
    _ShortestOpt,
    _StartOpt,
    _StepsOpt,
    _stop,
    _target_and_selection,
    _TargetLangOpt,
    _UrlFieldOpt,
    _zh_script,
    _ZhScriptOpt,
    err,
    out,
)
from vidpipe.errors import EXIT_OK, EXIT_SOME_FAILED
from vidpipe.timecode import hms_ms as _hms


def _byte_size(value: str | None, option: str) -> int | None:
    """``4GiB``, ``500MB``, ``1KiB``, ``1024`` -> bytes (pydantic's ByteSize units)."""
    if value is None:
        return None
    from pydantic import ByteSize, TypeAdapter, ValidationError

    from vidpipe.errors import UsageError

    try:
        return int(TypeAdapter(ByteSize).validate_python(value.strip()))
    except ValidationError:
        raise UsageError(
            f"{option} {value!r} is not a size", "give bytes or a unit: 500MB, 4GiB, 1KiB"
        ) from None


def _limits(
    concurrency: int | None,
    per_host: int | None,
    rps: float | None,
    retries: int | None,
    max_size: str | None = None,
    deadline: float | None = None,
    min_speed: str | None = None,
    speed_time: float | None = None,
    no_private_urls: bool = False,
):
    """DownloadLimits from the download options (None when every option is left default)."""
    from vidpipe.library.download import DownloadLimits, UrlPolicy

    kw: dict = {}
    if concurrency is not None:
        kw["concurrency"] = concurrency
    if per_host is not None:
        kw["per_host"] = per_host
    if rps is not None:
        kw["rps_per_host"] = rps
    if retries is not None:
        kw["retries"] = retries
    if max_size is not None:
        kw["max_bytes"] = _byte_size(max_size, "--max-size")
    if deadline is not None:
        kw["deadline"] = deadline or None  # 0: no deadline
    if min_speed is not None:
        kw["min_speed"] = float(_byte_size(min_speed, "--min-speed") or 0)
    if speed_time is not None:
        kw["speed_time"] = speed_time
    if no_private_urls:
        kw["url_policy"] = UrlPolicy(allow_private=False)
    return DownloadLimits(**kw) if kw else None


def _run_library(sources: list[str], options, quiet: bool) -> None:
    from vidpipe.pipeline.runner import RichDisplay, run

    cat = _catalog()
    try:
        display = RichDisplay(err, options.steps, disable=quiet)
        summary = _run(lambda: run(sources, cat, options, display))
    finally:
        cat.close()
    ran = ", ".join(f"{k} {v}" for k, v in summary.ran.items() if v)
    if not quiet:
        err.print(
            Text.assemble(
                f"{summary.total} items: ",
                (f"{summary.done} done", "green"),
                ", ",
                (f"{summary.failed} failed", "red"),
                f", {summary.skipped} skipped"
                f"{f', {summary.pending} pending (not ingested)' if summary.pending else ''}"
                f"{f' ({summary.no_audio} without audio)' if summary.no_audio else ''}"
                f"{'; ran ' + ran if ran else '; nothing to do'}",
            ),
            highlight=False,
        )
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


_SourcesArg = Annotated[
    list[str] | None,
    typer.Argument(help="URLs, text files of URLs (.txt), media files or folders."),
]
_DestOpt = Annotated[
    Path | None, typer.Option("--dest", help="Download folder (default $VIDPIPE_HOME/media).")
]
_ConcOpt = Annotated[
    int | None, typer.Option("--concurrency", min=1, help="Downloads at once (default 8).")
]
_HostOpt = Annotated[
    int | None, typer.Option("--per-host", min=1, help="Downloads at once per host (default 4).")
]
_RpsOpt = Annotated[
    float | None, typer.Option("--rps", min=0.01, help="Requests per second per host.")
]
_RetriesOpt = Annotated[
    int | None, typer.Option("--retries", min=0, help="Retries per download (default 5).")
]
_MaxSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--max-size",
        metavar="SIZE",
        help="Largest file to download: 500MB, 4GiB... (default 4GiB).",
    ),
]
_DeadlineOpt = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        min=0,
        metavar="SECONDS",
        help="Seconds per file, retries included, before it fails (default 7200; 0: none).",
    ),
]
_MinSpeedOpt = Annotated[
    str | None,
    typer.Option(
        "--min-speed",
        metavar="SIZE",
        help="Bytes per second (1KiB...) below which a download fails as too slow, "
        "averaged over --speed-time (default 1KiB; 0: off).",
    ),
]
_SpeedTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--speed-time",
        min=0.1,
        metavar="SECONDS",
        help="Seconds of the --min-speed window (default 30).",
    ),
]
_NoPrivateOpt = Annotated[
    bool,
    typer.Option(
        "--no-private-urls",
        help="Refuse URLs and redirects to loopback, private, link-local, multicast or "
        "reserved addresses.",
    ),
]


def ingest(
    sources: _SourcesArg,
    dest: _DestOpt = None,
    concurrency: _ConcOpt = None,
    per_host: _HostOpt = None,
    rps: _RpsOpt = None,
    retries: _RetriesOpt = None,
    max_size: _MaxSizeOpt = None,
    deadline: _DeadlineOpt = None,
    min_speed: _MinSpeedOpt = None,
    speed_time: _SpeedTimeOpt = None,
    no_private_urls: _NoPrivateOpt = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Retry sources that failed before.")
    ] = False,
    url_field: _UrlFieldOpt = None,
    id_field: _IdFieldOpt = None,
    start: _StartOpt = None,
    end: _EndOpt = None,
    quiet: _QuietOpt = False,
) -> None:
    """Record sources in the catalog: download URLs, hash local files (no processing).

    Every input line ends done, failed (with its reason) or skipped (duplicate URL,
    duplicate content, already present). Exit 0 if none failed, 1 otherwise.
    """
    from vidpipe.pipeline.runner import RunOptions

    if not sources:
        _run(_no_sources)
    opts = RunOptions(
        steps=("ingest",),
        retry_failed=retry_failed,
        dest=dest,
        records=_records(url_field, id_field, start, end),
        limits=_run(
            lambda: _limits(
                concurrency,
                per_host,
                rps,
                retries,
                max_size,
                deadline,
                min_speed,
                speed_time,
                no_private_urls,
            )
        ),
    )
    _run_library(sources or [], opts, quiet)


def _no_sources() -> None:
    from vidpipe.errors import UsageError

    raise UsageError("no sources given", "pass URLs, a links .txt file, media files or folders")


def run_cmd(
    sources: _SourcesArg = None,
    steps: _StepsOpt = "ingest,probe,audio,transcribe",
    model: _RunModelOpt = None,
    language: _TargetLangOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Retry sources that failed before.")
    ] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    ids: _IdsOpt = None,
    dest: _DestOpt = None,
    concurrency: _ConcOpt = None,
    per_host: _HostOpt = None,
    rps: _RpsOpt = None,
    retries: _RetriesOpt = None,
    max_size: _MaxSizeOpt = None,
    deadline: _DeadlineOpt = None,
    min_speed: _MinSpeedOpt = None,
    speed_time: _SpeedTimeOpt = None,
    no_private_urls: _NoPrivateOpt = False,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    url_field: _UrlFieldOpt = None,
    id_field: _IdFieldOpt = None,
    start: _StartOpt = None,
    end: _EndOpt = None,
    embed_model: _EmbedModelOpt = "whisper",
    pool: _PoolOpt = "mean",
    diarize: DiarizeOpt = False,
    num_speakers: NumSpeakersOpt = None,
    min_speakers: MinSpeakersOpt = None,
    max_speakers: MaxSpeakersOpt = None,
    quiet: _QuietOpt = False,
) -> None:
    """Batch pipeline over the catalog: download, probe, check audio, transcribe, embed.

    Without SOURCES it works on every source already in the catalog. Downloads continue
    while earlier items are processed; each result is recorded as soon as it is ready,
    so an interrupted run resumes where it stopped, and a rerun skips work already
    done with the same options. Without SOURCES, the selection options (--shortest,
    --ids, --language...) choose which catalog items to work on. Exit 0 if no item
    failed, 1 otherwise.
    """
    from vidpipe.pipeline.runner import RunOptions, parse_steps

    steps_t = _run(lambda: parse_steps(steps, diarize=diarize))
    sel_lang = None if sources else language  # over the catalog, -l selects items
    selection = _selection(shortest, longest, min_duration, max_duration, sel_lang, ids)
    if sources and selection.active:
        _target_and_selection("SOURCES")
    opts = RunOptions(
        steps=steps_t,
        model=model,
        language=None if not sources or language in (None, "auto") else language,
        selection=selection,
        retry_failed=retry_failed,
        threads=threads,
        dest=dest,
        limits=_run(
            lambda: _limits(
                concurrency,
                per_host,
                rps,
                retries,
                max_size,
                deadline,
                min_speed,
                speed_time,
                no_private_urls,
            )
        ),
        text_backend=backend,
        llm_base=llm_base,
        llm_model=llm_model,
        max_chunk=max_chunk,
        records=_records(url_field, id_field, start, end),
        embed_model=embed_model,
        embed_pool=pool,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )
    _run(lambda: opts.text_options().check())  # a bad --backend is a usage error up front
    _run_library(sources or [], opts, quiet)


def report(
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV file.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write a JSON file ('-' for stdout).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the duration distribution to a PNG.")
    ] = None,
) -> None:
    """Table of every item in input order (status, duration, resolution, codecs, language,
    words), totals, and failures grouped by reason."""
    from vidpipe.library import report as rep
    from vidpipe.timecode import hms_colon

    cat = _catalog()
    try:
        r = _run(lambda: rep.build_report(cat))
    finally:
        cat.close()
    if json_path is not None and str(json_path) == "-":
        out.print_json(json.dumps(r.to_dict(), ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    t = Table(title=f"{len(r.rows)} items", title_justify="left")
    for col in ("#", "id", "source", "status", "duration", "resolution", "codecs", "lang"):
        t.add_column(col, justify="right" if col in ("#", "id", "duration") else "left")
    t.add_column("words", justify="right")
    embedded = any(row.embed_seconds is not None for row in r.rows)
    if embedded:  # the embed step's facts: audio seconds and channels, processing seconds
        for col in ("audio s", "ch", "embed s"):
            t.add_column(col, justify="right")
    colors = {
        "done": "green",
        "failed": "red",
        "skipped": "yellow",
        "pending": "cyan",
        "running": "blue",
    }
    for i, row in enumerate(r.rows, 1):
        codecs = "/".join(c for c in (row.video_codec, row.audio_codec) if c) or "-"
        extra = []
        if embedded:
            extra = [
                f"{row.audio_duration:.1f}" if row.audio_duration is not None else "-",
                str(row.channels) if row.channels is not None else "-",
                f"{row.embed_seconds:.2f}" if row.embed_seconds is not None else "-",
            ]
        t.add_row(
            str(i),
            str(row.media_id) if row.media_id is not None else "-",
            Text(row.source),
            Text(row.state, style=colors.get(row.state, "")),
            hms_colon(row.duration),
            row.resolution or "-",
            codecs,
            Text("no audio", style="dim") if row.no_audio else (row.language or "-"),
            str(row.words) if row.words is not None else "-",
            *extra,
        )
    out.print(t)
    tot = r.totals
    silent = f" ({tot['no_audio']} without audio)" if tot.get("no_audio") else ""
    out.print(
        f"total: {tot['items']} items, {tot['done']} done, {tot['failed']} failed, "
        f"{tot['skipped']} skipped, {tot['pending']} pending"
        f"{', ' + str(tot['running']) + ' running' if tot.get('running') else ''}; "
        f"{tot['media']} media files"
        f"{silent}, "
        f"duration {hms_colon(tot['duration'])} (h:mm:ss), {tot['words']} words",
        highlight=False,
    )
    if r.failures:
        out.print(Text("failures by reason", style="bold"))
        for reason, items in r.failures.items():
            out.print(f"  {len(items)} × {reason}", highlight=False, markup=False)
            for item in items:
                out.print(f"      {item}", highlight=False, markup=False)
    written = []
    if csv_path is not None:
        written.append(_run(lambda: rep.write_csv(r, csv_path)))
    if json_path is not None:
        written.append(_run(lambda: rep.write_json(r, json_path)))
    if plot is not None:
        written.append(_run(lambda: rep.write_plot(r.media_durations(), plot)))
    for p in written:
        err.print(f"wrote {p}", highlight=False)


def search(
    query: Annotated[str, typer.Argument(help="Words or a phrase (any language).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most hits.")] = 20,
    speaker: Annotated[
        str | None,
        typer.Option("--speaker", help="Only what this speaker said (name or SPEAKER_nn)."),
    ] = None,
) -> None:
    """Full-text search of transcripts: media, start time, speaker (when diarized) and a
    snippet per hit, best first."""
    from vidpipe.library.search import search as do_search

    cat = _catalog()
    try:
        hits = _run(lambda: do_search(cat, query, limit=limit, speaker=speaker))
    finally:
        cat.close()
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    if not hits:
        err.print(f"no matches for {query!r}", highlight=False)
    for h in hits:
        out.print(
            Text.assemble((_hms(h.start), "cyan"), " ", (f"#{h.media_id}", "bold"), f" {h.path}"),
            highlight=False,
        )
        who = f"{h.speaker}: " if h.speaker else ""
        out.print(f"    {who}{h.snippet}", highlight=False, markup=False)


def _media_or_fail(cat, media_id: int):
    from vidpipe.errors import InputError

    m = cat.get_media(media_id)
    if m is None:
        raise InputError(f"no item with id {media_id} in the catalog", "see vidpipe report")
    return m


def show(item_id: Annotated[int, typer.Argument(help="Item id (the id column of the report).")]):
    """Details of one item: file, probe summary, status, sources, stages, transcript lines."""
    from vidpipe.library.status import job_statuses, with_source
    from vidpipe.library.urls import redact_url
    from vidpipe.timecode import hms_colon as hms

    cat = _catalog()
    try:
        m = _run(lambda: _media_or_fail(cat, item_id))
        srcs = cat.sources_of_media(m.id)
        stages = cat.stages(m.id)
        tr = cat.get_transcript(m.id)
        first = min(srcs, key=lambda x: x.position) if srcs else None
        status = with_source(
            job_statuses(cat, [m.id]).of_media(m.id),
            first.state if first else None,
            first.reason if first else None,
        )
    finally:
        cat.close()
    res = f"{m.width}x{m.height}" if m.width and m.height else "-"
    codecs = "/".join(c for c in (m.video_codec, m.audio_codec) if c) or "-"
    out.print(Text.assemble((f"#{m.id}", "bold"), f" {m.path}"), highlight=False)
    out.print(
        f"  sha256 {m.sha256}\n  size {m.size:,} bytes, duration {hms(m.duration)} "
        f"({m.duration if m.duration is not None else '-'} s), format {m.format or '-'}, "
        f"resolution {res}, codecs {codecs}",
        highlight=False,
    )
    why = f" ({status.reason})" if status.reason else ""
    out.print(redact_url(f"  status {status.status}{why}"), highlight=False, markup=False)
    for job in status.jobs:
        detail = f" ({job.reason})" if job.reason else ""
        out.print(
            f"  job {job.kind} {job.job_id}: {job.status}{detail}", highlight=False, markup=False
        )
    for s in srcs:
        out.print(
            redact_url(f"  source {s.uri}: {s.state}{' (' + s.reason + ')' if s.reason else ''}"),
            highlight=False,
            markup=False,
        )
    for st in stages:
        out.print(
            redact_url(f"  stage {st.stage}: {st.status}{' - ' + st.error if st.error else ''}"),
            highlight=False,
            markup=False,
        )
    if tr is None:
        out.print("  no transcript")
        return
    prob = f" (p={tr.language_probability:.2f})" if tr.language_probability is not None else ""
    out.print(
        f"  transcript: language {tr.language or '?'}{prob}, model {tr.model or '?'}, "
        f"{len(tr.segments)} segments",
        highlight=False,
    )
    if tr.speakers:
        out.print(f"  speakers: {', '.join(tr.speakers)}", highlight=False, markup=False)
    for seg in tr.segments:
        who = f"{seg.speaker}: " if seg.speaker else ""
        out.print(
            f"[{_hms(seg.start)} --> {_hms(seg.end)}] {who}{seg.text.strip()}",
            highlight=False,
            markup=False,
        )


def export(
    item_id: Annotated[int | None, typer.Argument(help="Item id (see vidpipe report).")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item with a transcript.")] = False,
    formats: Annotated[
        str, typer.Option("-f", "--format", help="Comma list of txt,srt,vtt,json,tsv,ass or all.")
    ] = "txt,srt,vtt,json",
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Folder for the files.")
    ] = Path("."),
    shortest: _ShortestOpt = None,
    longest: _LongestOpt = None,
    min_duration: _MinDurOpt = None,
    max_duration: _MaxDurOpt = None,
    language: _SelLangOpt = None,
    ids: _IdsOpt = None,
    max_line_width: _MaxLineWidthOpt = 42,
    max_line_count: _MaxLineCountOpt = 2,
    max_cue_duration: _MaxCueDurationOpt = 7.0,
    highlight_words: _HighlightOpt = False,
    zh_script: _ZhScriptOpt = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            "--embeddings",
            metavar="FILE",
            help="Write the audio embeddings instead: ids, source metadata and vectors "
            "(.npy with a sidecar .npy.json, .jsonl, or .parquet).",
        ),
    ] = None,
    embed_model: _EmbedModelOpt = "whisper",
    pool: _PoolOpt = "mean",
    raw: Annotated[
        bool, typer.Option("--raw", help="With --embeddings: raw vectors, not PCA-reduced.")
    ] = False,
) -> None:
    """Write transcripts from the catalog as txt, srt, vtt, json, tsv or ass files, or
    (--embeddings FILE) the stored audio embedding vectors.

    One ITEM, --all, or the items chosen by the selection options (those without a
    transcript are listed and skipped).
    """
    if embeddings is not None:
        _export_embeddings(embeddings, embed_model, pool, raw)
        return
    from vidpipe.errors import UsageError
    from vidpipe.pipeline.stages.transcribe import export_transcripts
    from vidpipe.writers import parse_formats

    fmts = _run(lambda: parse_formats(formats))
    cue_opts = _cue_options(max_line_width, max_line_count, max_cue_duration, highlight_words)
    script = _zh_script(zh_script)
    selection = _selection(shortest, longest, min_duration, max_duration, language, ids)
    if item_id is not None and (all_items or selection.active):
        if selection.active:
            _target_and_selection("an item id")
        _stop(UsageError("give an item id or --all, not both"))
    if item_id is None and not all_items and not selection.active:
        _stop(UsageError("give an item id, --all or selection options", "e.g. --shortest 10"))
    cat = _catalog()
    try:
        written = _run(
            lambda: export_transcripts(
                cat,
                output_dir,
                fmts,
                cue_opts,
                item_id=item_id,
                selection=selection,
                zh_script=script,
                report=_note,
            )
        )
    finally:
        cat.close()
    for p in written:
        err.print(f"wrote {p}", highlight=False)


def _export_embeddings(path: Path, model: str, pool: str, raw: bool) -> None:
    from vidpipe.cli.embed import _options
    from vidpipe.pipeline.embed import export_embeddings

    opts = _run(lambda: _options(model, pool, None))
    cat = _catalog()
    try:
        written = _run(lambda: export_embeddings(cat, path, opts, raw=raw))
    finally:
        cat.close()
    for p in written:
        err.print(f"wrote {p}", highlight=False)
