"""``vidpipe serve``: the HTTP service (FastAPI on uvicorn). Parses, builds the app, serves."""

from __future__ import annotations

from typing import Annotated

import typer

from vidpipe.cli._common import _run, err
from vidpipe.cli.jobs import _QueueOpt


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
) -> None:
    """Serve the HTTP API: jobs, files, library, OpenAI-compatible audio, /generateVideo
    and /encode_audio; docs at /docs, the OpenAPI document at /openapi.json.

    By default an embedded worker runs the jobs (SQLite queue in VIDPIPE_HOME); with
    --no-worker, vidpipe worker processes do (Redis queue, PostgreSQL catalog).
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
    err.print(f"vidpipe serving on http://{host}:{port} (docs at /docs)", highlight=False)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # vidpipe.service.access logs one JSON line per request
        timeout_graceful_shutdown=30,
        **uvicorn_options(config.header_timeout),  # slow request headers: closed
    )
