"""``vidpipe serve``: the HTTP service (FastAPI on uvicorn). Parses, builds the app, serves."""

from __future__ import annotations

from typing import Annotated

import typer

from vidpipe.cli._common import _run, _stop, err
from vidpipe.cli.jobs import _QueueOpt, _VideoServiceQueueOpt, _VideoServiceRedisOpt


def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but loopback needs VIDPIPE_SERVICE_KEYS.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Jobs the embedded worker runs at once.")
    ] = 1,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="No embedded worker: jobs are run by vidpipe worker processes elsewhere.",
        ),
    ] = False,
    queue: _QueueOpt = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level: debug, info, warning.")
    ] = "info",
    video_service_queue: _VideoServiceQueueOpt = None,
    video_service_redis: _VideoServiceRedisOpt = None,
) -> None:
    """Serve the HTTP API: jobs, files, library, OpenAI-compatible audio, /generateVideo
    and /encode_audio; docs at /docs, the OpenAPI document at /openapi.json.

    By default an embedded worker runs the jobs (SQLite queue in VIDPIPE_HOME); with
    --no-worker, vidpipe worker processes do (Redis queue, PostgreSQL catalog).
    With --video-service-queue the process also turns the video service's Redis tasks
    into jobs (a single-process deployment of that service).
    SIGTERM or Ctrl-C: requests in flight finish, the worker releases its jobs.
    """
    import logging

    import uvicorn

    from vidpipe.service.app import create_app
    from vidpipe.service.config import ServiceConfig
    from vidpipe.service.server import uvicorn_options

    overrides: dict = {"worker": not no_worker, "worker_concurrency": workers}
    if queue:
        overrides["queue_url"] = queue
    config = _run(lambda: ServiceConfig.from_settings(**overrides))
    _run(lambda: config.check_bind(host))
    if queue:
        from vidpipe.pipeline.queue import queue_url

        _run(lambda: queue_url(queue))
    app = _run(lambda: create_app(config))
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO), format="%(message)s"
    )
    tasks = None
    if video_service_queue:
        from vidpipe.cli.jobs import _video_tasks

        tasks = _video_tasks(
            app.state.store, config.queue_url, video_service_queue, video_service_redis, False
        )
        _stop_with_app(app, tasks)
    err.print(f"vidpipe serving on http://{host}:{port} (docs at /docs)", highlight=False)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,  # vidpipe.service.access logs one JSON line per request
            timeout_graceful_shutdown=30,
            **uvicorn_options(config.header_timeout),  # slow request headers: closed
        )
    finally:
        if tasks is not None:  # stopped by the app's shutdown unless uvicorn never started
            tasks.stop()


def _stop_with_app(app, tasks) -> None:
    """Stop the video service tasks' consumer when the app shuts down, before the app
    closes its catalog (the consumer's last pass of the task states needs it)."""
    import contextlib

    from starlette.concurrency import run_in_threadpool

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with inner(a):
            try:
                yield
            finally:
                await run_in_threadpool(tasks.stop)

    app.router.lifespan_context = lifespan


def listen(
    source: Annotated[
        str, typer.Argument(help="An audio or video file, or - for raw 16-bit PCM on stdin.")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="whisper-1 (the default model), base, tiny.en."),
    ] = None,
    language: Annotated[
        str, typer.Option("--language", "-l", help="auto, or an ISO 639-1 code (en, zh...).")
    ] = "auto",
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Text that primes names and style.")
    ] = None,
    rate: Annotated[
        int, typer.Option("--rate", help="Sample rate of stdin's PCM: 16000 or 24000.")
    ] = 16000,
    speed: Annotated[
        float,
        typer.Option(
            "--speed", min=0.0, help="Pace of a file: 1 = real time, 2 = twice, 0 = no pacing."
        ),
    ] = 1.0,
    vad: Annotated[
        bool,
        typer.Option(
            "--vad/--no-vad",
            help="Turns end at pauses (server VAD); --no-vad: one turn, committed at the end.",
        ),
    ] = True,
    silence_ms: Annotated[
        int, typer.Option("--silence-ms", min=0, help="Pause that ends a turn (ms).")
    ] = 500,
) -> None:
    """Transcribe a stream live, as the service's realtime sessions do
    (GET /v1/realtime), in this process: partial text shows while a turn goes on
    (on a terminal); each finished turn is printed as a line."""
    import asyncio

    from vidpipe.errors import UsageError

    if rate not in (16000, 24000):
        _stop(UsageError(f"sample rate {rate} is not supported", "use --rate 16000 or 24000"))
    code = _run(
        lambda: asyncio.run(_listen(source, model, language, prompt, rate, speed, vad, silence_ms))
    )
    raise typer.Exit(code)


async def _listen(
    source: str, model: str | None, language: str, prompt: str | None, rate: int,
    speed: float, vad: bool, silence_ms: int,
) -> int:  # fmt: skip
    """``vidpipe listen``: the audio through a :class:`RealtimeSession` in-process."""
    import asyncio
    import base64
    import sys
    from pathlib import Path

    import anyio
    import numpy as np
    from rich.live import Live
    from rich.text import Text

    from vidpipe.cli._common import out
    from vidpipe.errors import UsageError
    from vidpipe.pipeline.models import asr_engine
    from vidpipe.service.realtime import RealtimeSession

    limiter = anyio.CapacityLimiter(1)
    partial: dict[str, str] = {}
    problems: list[str] = []
    live: Live | None = None
    turns = -1  # -1 while the session is set up

    def show() -> None:
        if live is not None:
            live.update(Text(" ".join(partial.values()), style="dim"))

    async def on_event(event: dict) -> None:
        nonlocal turns
        kind = event["type"]
        if kind == "error":
            problems.append(event["error"]["message"])
            if turns >= 0:  # during the set-up, the error ends the command instead
                err.print(f"error: {event['error']['message']}", highlight=False)
        elif kind == "conversation.item.input_audio_transcription.delta":
            partial[event["item_id"]] = partial.get(event["item_id"], "") + event["delta"]
            show()
        elif kind == "conversation.item.input_audio_transcription.completed":
            partial.pop(event["item_id"], None)
            text = event["transcript"].strip()
            if text:
                turns += 1
                (live.console if live is not None else out).print(text, highlight=False)
            show()
        elif kind == "conversation.item.input_audio_transcription.failed":
            err.print(f"error: {event['error']['message']}", highlight=False)

    async def run_model(fn):
        async with limiter:
            return await anyio.to_thread.run_sync(fn)

    session = RealtimeSession(on_event, run_model=run_model, get_engine=asr_engine)
    await session.start()
    stdin = source == "-"
    in_rate = rate if stdin else 16000
    transcription: dict = {"language": None if language == "auto" else language}
    if model:
        transcription["model"] = model
    if prompt:
        transcription["prompt"] = prompt
    await session.handle(
        {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": in_rate},
            "transcription": transcription,
            "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms}
            if vad else None,
        }}}}
    )  # fmt: skip
    if problems:
        await session.close()
        raise UsageError(problems[0], "see vidpipe listen --help")
    turns = 0

    async def send(pcm: bytes) -> None:
        await session.handle(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
        )

    if out.is_terminal:
        live = Live(Text(""), console=out, refresh_per_second=8, transient=True)
        live.start()
    try:
        step = in_rate // 10  # 100 ms pieces
        if stdin:
            reader = sys.stdin.buffer
            while True:
                data = await anyio.to_thread.run_sync(reader.read, step * 2)
                if not data:
                    break
                await send(data)
        else:
            from vidpipe.files import check_readable_file
            from vidpipe.media.audio import decode_audio

            path = check_readable_file(Path(source))
            audio = await anyio.to_thread.run_sync(lambda: decode_audio(path, sample_rate=16000))
            pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
            start = asyncio.get_running_loop().time()
            for i in range(0, len(pcm), step * 2):
                await send(pcm[i : i + step * 2])
                if speed > 0:
                    due = start + (i // 2 + step) / in_rate / speed
                    await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
        if vad:  # a pause, so that the last turn ends as a turn
            await send(bytes(2 * in_rate * (silence_ms + 300) // 1000))
        if session.tr.turn is not None and session.tr.turn.speech_seen:
            await session.handle({"type": "input_audio_buffer.commit"})
        await session.drain()
    finally:
        if live is not None:
            live.stop()
        await session.close()
    return 0
