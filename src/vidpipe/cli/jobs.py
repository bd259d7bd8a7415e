"""Queue commands: ``submit``, ``worker`` and the ``jobs`` group (``list``, ``show``,
``cancel``, ``retry``). Each parses, calls one pipeline function and prints."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from vidpipe.cli._common import (
    DiarizeOpt,
    MaxSpeakersOpt,
    MinSpeakersOpt,
    NumSpeakersOpt,
    _BackendOpt,
    _EmbedModelOpt,
    _EndOpt,
    _IdFieldOpt,
    _JsonOpt,
    _LlmBaseOpt,
    _LlmModelOpt,
    _MaxChunkOpt,
    _PoolOpt,
    _QuietOpt,
    _records,
    _run,
    _RunModelOpt,
    _StartOpt,
    _StepsOpt,
    _TargetLangOpt,
    _UrlFieldOpt,
    err,
    out,
)
from vidpipe.cli.library import (
    _DeadlineOpt,
    _DestOpt,
    _limits,
    _MaxSizeOpt,
    _MinSpeedOpt,
    _NoPrivateOpt,
    _RetriesOpt,
    _RpsOpt,
    _SpeedTimeOpt,
)
from vidpipe.errors import EXIT_OK, EXIT_SOME_FAILED
from vidpipe.timecode import compact_duration

_QueueOpt = Annotated[
    str | None,
    typer.Option(
        "--queue",
        help="Queue URL: redis://host:6379/0 or sqlite:///path/queue.db "
        "(default VIDPIPE_QUEUE_URL, else queue.db in VIDPIPE_HOME).",
    ),
]
_VideoServiceQueueOpt = Annotated[
    str | None,
    typer.Option(
        "--video-service-queue",
        help="Also take the replaced video service's JSON tasks from this Redis list "
        "(e.g. queue:video-service; see README).",
    ),
]
_VideoServiceRedisOpt = Annotated[
    str | None,
    typer.Option(
        "--video-service-redis",
        help="Redis of that list (default: the queue URL when redis://, else "
        "redis://127.0.0.1:6379/0).",
    ),
]

_STATUS_STYLE = {
    "waiting": "dim",
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "canceled": "magenta",
}


def _store():
    from vidpipe.pipeline.jobs import JobStore

    return _run(JobStore)


def redacted(job):
    """:func:`vidpipe.pipeline.jobs.redacted` (imported when a job is shown)."""
    from vidpipe.pipeline.jobs import redacted as redact

    return redact(job)


def _job_line(job) -> Text:
    job = redacted(job)
    text = Text.assemble(
        job.id, "  ", (f"{job.status:<9}", _STATUS_STYLE.get(job.status, "")), f"  {job.kind}"
    )
    if job.error is not None:
        text.append(f"  {job.error.message}", style="red")
    return text


# --------------------------------------------------------------------------- submit


def submit(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="URLs, text files of URLs (.txt), media files or folders."),
    ] = None,
    steps: _StepsOpt = "ingest,probe,audio,transcribe",
    model: _RunModelOpt = None,
    language: _TargetLangOpt = None,
    backend: _BackendOpt = "extractive",
    llm_base: _LlmBaseOpt = None,
    llm_model: _LlmModelOpt = None,
    max_chunk: _MaxChunkOpt = 60.0,
    dest: _DestOpt = None,
    rps: _RpsOpt = None,
    retries: _RetriesOpt = None,
    max_size: _MaxSizeOpt = None,
    deadline: _DeadlineOpt = None,
    min_speed: _MinSpeedOpt = None,
    speed_time: _SpeedTimeOpt = None,
    no_private_urls: _NoPrivateOpt = False,
    embed_model: _EmbedModelOpt = "whisper",
    pool: _PoolOpt = "mean",
    diarize: DiarizeOpt = False,
    num_speakers: NumSpeakersOpt = None,
    min_speakers: MinSpeakersOpt = None,
    max_speakers: MaxSpeakersOpt = None,
    url_field: _UrlFieldOpt = None,
    id_field: _IdFieldOpt = None,
    start: _StartOpt = None,
    end: _EndOpt = None,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, help="Runs allowed per job.")
    ] = 3,
    queue: _QueueOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until every job has finished.")
    ] = False,
    as_json: _JsonOpt = False,
    quiet: _QuietOpt = False,
) -> None:
    """Turn SOURCES into jobs for the workers: one chain per input line (download ->
    probe -> audio -> transcribe...), with the inputs, steps and download options of
    vidpipe run. Prints the job ids. When a chain ends its source is done, failed or
    skipped as vidpipe run would leave it (see vidpipe report).

    With --wait, shows the jobs' progress and exits like vidpipe run: 0 if every job
    succeeded, 1 otherwise.
    """
    from vidpipe.pipeline.plan import RunOptions, parse_steps
    from vidpipe.pipeline.submit import submit as do_submit

    opts = RunOptions(
        steps=_run(lambda: parse_steps(steps, diarize=diarize)),
        model=model,
        language=None if language in (None, "auto") else language,
        text_backend=backend,
        llm_base=llm_base,
        llm_model=llm_model,
        max_chunk=max_chunk,
        dest=dest,
        limits=_run(
            lambda: _limits(
                None, None, rps, retries, max_size, deadline, min_speed, speed_time, no_private_urls
            )
        ),
        embed_model=embed_model,
        embed_pool=pool,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        records=_records(url_field, id_field, start, end),
    )
    store = _store()
    try:
        sub = _run(
            lambda: do_submit(store, sources or [], opts, url=queue, max_attempts=max_attempts)
        )
        if as_json:
            out.print_json(
                json.dumps(
                    [
                        {
                            "source": c.name,
                            "media_id": c.media_id,
                            "state": c.state,
                            "reason": c.reason,
                            "jobs": [{"id": j.id, "kind": j.kind} for j in c.jobs],
                        }
                        for c in sub.chains
                    ],
                    ensure_ascii=False,
                )
            )
        else:
            for c in sub.chains:
                for j in c.jobs:
                    out.print(j.id, highlight=False)
        for c in sub.chains:
            if c.state != "submitted":
                style = "red" if c.state == "failed" else "yellow"
                err.print(Text.assemble((f"{c.state}:", style), f" {c.name}: {c.reason}"))
        if not quiet:
            n = len(sub.job_ids)
            inputs = sum(1 for c in sub.chains if c.jobs)
            err.print(f"{n} jobs for {inputs} inputs submitted", highlight=False)
        failed = sub.failed
        if wait and sub.job_ids:
            jobs = _wait(store, sub.job_ids, quiet)
            failed += sum(1 for j in jobs if j.status != "succeeded")
    finally:
        store.close()
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _wait(store, job_ids: list[str], quiet: bool):
    from vidpipe.pipeline.submit import wait_for

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    )
    bar = progress.add_task("jobs", total=len(job_ids), counts="")

    def show(jobs) -> None:
        final = [j for j in jobs if j.status in ("succeeded", "failed", "canceled")]
        running = [j for j in jobs if j.status == "running"]
        done = len(final) + sum(j.progress for j in running)
        ok = sum(1 for j in final if j.status == "succeeded")
        counts = f"{ok} succeeded, {len(final) - ok} failed, {len(running)} running"
        progress.update(bar, completed=done, counts=counts)

    with progress:
        jobs = _run(lambda: wait_for(store, job_ids, on_update=show))
    for j in jobs:
        if j.status != "succeeded":
            err.print(_job_line(j), highlight=False)
    if not quiet:
        ok = sum(1 for j in jobs if j.status == "succeeded")
        err.print(
            Text.assemble(
                f"{len(jobs)} jobs: ",
                (f"{ok} succeeded", "green"),
                ", ",
                (f"{len(jobs) - ok} failed", "red"),
            ),
            highlight=False,
        )
    return jobs


# --------------------------------------------------------------------------- worker


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs at once (threads).")
    ] = 1,
    queue: _QueueOpt = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads per job (default cores/concurrency)."),
    ] = None,
    io_concurrency: Annotated[
        int,
        typer.Option(
            "--io-concurrency",
            min=1,
            help="Downloads at once (their own pool, beside the CPU one).",
        ),
    ] = 4,
    lease: Annotated[
        float, typer.Option("--lease", min=1.0, help="Seconds a job's lease lasts unrenewed.")
    ] = 120.0,
    reap_every: Annotated[
        float, typer.Option("--reap-every", min=0.1, help="Seconds between reaper passes.")
    ] = 10.0,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, help="Seconds a queued job may lack a message."),
    ] = 30.0,
    stop_timeout: Annotated[
        float,
        typer.Option("--stop-timeout", min=0.0, help="Seconds SIGTERM waits for running jobs."),
    ] = 10.0,
    video_service_queue: _VideoServiceQueueOpt = None,
    video_service_redis: _VideoServiceRedisOpt = None,
    quiet: _QuietOpt = False,
) -> None:
    """Run queued jobs until SIGTERM or Ctrl-C (Huey consumers plus a reaper).

    CPU stages run --concurrency at once with --threads threads each; downloads run in
    their own pool of --io-concurrency threads, so they never wait behind CPU stages.

    On SIGTERM the running jobs finish, or after --stop-timeout go back to the queue;
    exit 0. A killed worker loses nothing: its lease expires and another worker's
    reaper queues the job again.
    """
    from vidpipe.pipeline.queue import Worker, queue_url

    store = _store()
    tasks = None
    try:
        if video_service_queue:
            tasks = _video_tasks(store, queue, video_service_queue, video_service_redis, quiet)
        w = _run(
            lambda: Worker(
                store,
                queue,
                concurrency=concurrency,
                threads=threads,
                io_concurrency=io_concurrency,
                lease=lease,
                reap_every=reap_every,
                grace=grace,
                stop_timeout=stop_timeout,
            )
        )
        if not quiet:
            from vidpipe.library.urls import redact_url

            err.print(
                f"worker {w.owner}: {concurrency} x {w.threads} threads on "
                f"{redact_url(_run(lambda: queue_url(queue)))}, {io_concurrency} for downloads",
                highlight=False,
            )
        _run(w.run)
    finally:
        if tasks is not None:
            tasks.stop()
        store.close()
    if not quiet:
        err.print(f"worker stopped: {w.done} jobs run", highlight=False)
    if w.busy:  # a released job's stage is still in native code: do not wait for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    raise typer.Exit(EXIT_OK)


def _video_tasks(store, queue: str | None, name: str, redis_url: str | None, quiet: bool):
    """Start the consumer of the video service's Redis tasks (see
    :mod:`vidpipe.pipeline.video_tasks`) on list ``name``, with the settings'
    dependency timeout (``VIDPIPE_VIDEO_TASK_DEPENDENCY_TIMEOUT``) and URL policy and
    size limit (``VIDPIPE_ALLOW_PRIVATE_URLS``, ``VIDPIPE_SERVICE_MAX_FILE_BYTES``)."""
    from vidpipe.config import get_settings
    from vidpipe.library.urls import redact_url
    from vidpipe.pipeline.queue import queue_url
    from vidpipe.pipeline.video_tasks import DEFAULT_REDIS_URL, VideoTasks

    if not redis_url:
        url = _run(lambda: queue_url(queue))
        redis_url = url if url.lower().startswith(("redis", "unix")) else DEFAULT_REDIS_URL
    s = _run(get_settings)
    tasks = _run(
        lambda: VideoTasks(
            store,
            redis_url,
            name,
            job_queue=queue,
            dependency_timeout=s.video_task_dependency_timeout,
            allow_private_urls=s.allow_private_urls,
            max_download_bytes=s.service_max_file_bytes,
        ).start()
    )
    if not quiet:
        err.print(f"video service tasks: {name} on {redact_url(redis_url)}", highlight=False)
    return tasks


# --------------------------------------------------------------------------- jobs


jobs_app = typer.Typer(
    help="Jobs in the catalog: list, show, cancel, retry.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        help="Only jobs with this status (waiting, queued, running, succeeded, failed, "
        "canceled); repeatable.",
    ),
]
_LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Most jobs.")]
_IdArg = Annotated[
    str, typer.Argument(help="Job id, or its first 4+ characters (see vidpipe jobs list).")
]


SHORT_ID = 8
"""Characters of a job id shown in the table (``vidpipe jobs show`` takes such a prefix)."""


def jobs_table(jobs, now: datetime, width: int = 80) -> Table:
    """The ``vidpipe jobs`` table: one line per job, fitted to ``width`` columns.

    Columns: the first :data:`SHORT_ID` characters of the id, kind, status, progress
    (percent), age (since creation, :func:`~vidpipe.timecode.compact_duration`) and the
    current step, or the error message of a failed job. The short columns keep their
    width; the step is cut with an ellipsis to what is left of ``width`` (at least
    8 cells), so no row wraps onto a second line.

    Args:
        jobs: :class:`~vidpipe.types.Job` rows, in the order to show.
        now: the current time (timezone-aware), for the age column.
        width: terminal cells available (the console's width).
    """
    heads = ("id", "kind", "status", "progress", "age", "step")
    rows = []
    for j in map(redacted, jobs):
        step = Text(j.error.message, style="red") if j.error is not None else Text(j.step or "")
        rows.append(
            [
                Text(j.id[:SHORT_ID]),
                Text(j.kind),
                Text(j.status, style=_STATUS_STYLE.get(j.status, "")),
                Text(f"{j.progress:.0%}"),
                Text(compact_duration((now - j.created_at).total_seconds())),
                step,
            ]
        )
    widths = [max([len(h), *(r[i].cell_len for r in rows)]) for i, h in enumerate(heads[:-1])]
    gap = 2
    step_width = max(8, width - sum(widths) - gap * len(widths))
    table = Table(box=None, padding=(0, gap, 0, 0), pad_edge=False, header_style="bold")
    for i, head in enumerate(heads[:-1]):
        table.add_column(
            head, no_wrap=True, min_width=widths[i], justify="right" if i >= 3 else "left"
        )
    table.add_column(heads[-1], no_wrap=True, max_width=step_width)
    for r in rows:
        r[-1].truncate(step_width, overflow="ellipsis")
        table.add_row(*r)
    return table


def _list(status: list[str] | None, kind: str | None, limit: int, as_json: bool) -> None:
    store = _store()
    try:
        page = _run(lambda: store.list(status or None, kind, limit=limit))
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps([redacted(j).model_dump(mode="json") for j in page.jobs]))
        return
    if not page.jobs:
        err.print("no jobs" + (f" with status {', '.join(status)}" if status else ""))
        return
    out.print(jobs_table(page.jobs, datetime.now(UTC), out.width))


@jobs_app.callback(invoke_without_command=True)
def jobs_main(
    ctx: typer.Context,
    status: _StatusOpt = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only jobs of this stage.")] = None,
    limit: _LimitOpt = 50,
    as_json: _JsonOpt = False,
) -> None:
    """Jobs in the catalog, newest first (the same as vidpipe jobs list)."""
    if ctx.invoked_subcommand is None:
        _list(status, kind, limit, as_json)


@jobs_app.command("list")
def jobs_list(
    status: _StatusOpt = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only jobs of this stage.")] = None,
    limit: _LimitOpt = 50,
    as_json: _JsonOpt = False,
) -> None:
    """Jobs in the catalog, newest first."""
    _list(status, kind, limit, as_json)


@jobs_app.command("show")
def jobs_show(job_id: _IdArg, as_json: _JsonOpt = False) -> None:
    """One job: status, progress, inputs, result, artifacts, error. Exit 3 if unknown."""
    store = _store()
    try:
        job = _run(lambda: store.get(store.resolve(job_id)))
    finally:
        store.close()
    job = redacted(job)  # URL passwords and query values: ***
    if as_json:
        out.print_json(job.model_dump_json())
        return
    rows = [
        ("id", job.id),
        ("kind", job.kind),
        ("status", job.status),
        ("progress", f"{job.progress:.0%}" + (f" ({job.step})" if job.step else "")),
        ("attempts", f"{job.attempts}/{job.max_attempts}"),
        ("depends on", ", ".join(job.depends_on) or "-"),
        ("input", json.dumps(job.input, ensure_ascii=False)),
        ("params", json.dumps(job.params, ensure_ascii=False)),
        ("owner", job.owner or "-"),
        ("created", str(job.created_at)),
        ("started", str(job.started_at or "-")),
        ("finished", str(job.finished_at or "-")),
    ]
    if job.result is not None:
        rows.append(("result", json.dumps(job.result, ensure_ascii=False)))
    if job.artifacts:
        rows.append(("artifacts", ", ".join(job.artifacts)))
    if job.error is not None:
        e = job.error
        rows.append(("error", f"{e.error_class}: {e.message}" + (f" ({e.hint})" if e.hint else "")))
    for name, value in rows:
        out.print(Text.assemble((f"{name:<11}", "bold"), value), highlight=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: _IdArg) -> None:
    """Cancel a job: a waiting or queued one at once, a running one at its next progress
    report (its dependents fail). Exit 3 if unknown, 2 if it already finished."""
    store = _store()
    try:
        job = _run(lambda: store.cancel(store.resolve(job_id)))
    finally:
        store.close()
    out.print(_job_line(job), highlight=False)


@jobs_app.command("retry")
def jobs_retry(job_id: _IdArg, queue: _QueueOpt = None) -> None:
    """Queue a failed or canceled job again (and the dependents it failed). Exit 3 if
    unknown, 2 if it is not failed or canceled."""
    from vidpipe.pipeline.queue import enqueue

    store = _store()
    try:
        job = _run(lambda: store.retry(store.resolve(job_id)))
        _run(lambda: enqueue(job, url=queue))
    finally:
        store.close()
    out.print(_job_line(job), highlight=False)
