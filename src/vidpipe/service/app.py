"""The FastAPI application: :func:`create_app`.

The service is a front end: handlers parse, call one pipeline or library function and
present the answer. Shared objects live on ``app.state``:

- ``config``: the :class:`~vidpipe.service.config.ServiceConfig`;
- ``catalog``: the open :class:`~vidpipe.library.catalog.Catalog`;
- ``store``: the :class:`~vidpipe.pipeline.jobs.JobStore` on it;
- ``worker``: the embedded :class:`~vidpipe.pipeline.queue.Worker` (``None`` with
  ``--no-worker``), started and stopped with the app's lifespan;
- ``metrics``: the Prometheus registry of ``/metrics``;
- ``callbacks``: the :class:`~vidpipe.service.callbacks.CallbackSender` thread;
- ``resolver``: how URL hosts are resolved for the URL policy (``None``: the system's;
  tests inject one).

Routers: every module of :data:`ROUTERS` that exists in this package exposes
``router = APIRouter()`` and is included, all behind the API-key dependency
(:func:`~vidpipe.service.auth.require_key`, ``/health`` exempt).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from vidpipe import __version__
from vidpipe.service import errors
from vidpipe.service.auth import require_key
from vidpipe.service.config import ServiceConfig
from vidpipe.service.middleware import ServiceMiddleware

__all__ = ["ROUTERS", "create_app"]

_log = logging.getLogger("vidpipe.service")

#: router modules of :mod:`vidpipe.service`, included in this order when present
ROUTERS = (
    "ops",
    "jobs_api",
    "queue_api",
    "files_api",
    "library_api",
    "proxy_api",
    "openai_api",
    "speakers_api",
    "realtime",
    "compat_api",
    "web_api",
    "web",
)

_DESCRIPTION = """\
vidpipe's jobs, library and audio APIs. Errors are always
`{"error": {"type", "message", "hint", "request_id"}}`; with API keys configured
(`VIDPIPE_SERVICE_KEYS`) every route but `/health` needs `Authorization: Bearer KEY`.
"""


def _routers() -> list:
    found = []
    for name in ROUTERS:
        module = f"vidpipe.service.{name}"
        if importlib.util.find_spec(module) is None:
            continue  # a router not built (yet)
        found.append(importlib.import_module(module).router)
    return found


def _start_worker(app: FastAPI) -> None:
    from vidpipe.pipeline.queue import Worker

    config: ServiceConfig = app.state.config
    worker = Worker(
        app.state.store,
        config.queue_url,
        concurrency=config.worker_concurrency,
        reap_every=config.reap_every,
        stop_timeout=config.worker_stop_timeout,
    )
    worker.start()
    app.state.worker = worker
    _log.info("embedded worker %s started (%d at once)", worker.owner, worker.concurrency)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from vidpipe.service.callbacks import CallbackSender

    if app.state.config.worker:
        await run_in_threadpool(_start_worker, app)
    app.state.callbacks = CallbackSender(app).start()
    try:
        yield
    finally:
        worker = app.state.worker
        if worker is not None:
            released = await run_in_threadpool(worker.stop)
            if released:
                _log.info("embedded worker released job(s) %s", ", ".join(released))
            app.state.worker = None
        callbacks = getattr(app.state, "callbacks", None)
        if callbacks is not None:
            await run_in_threadpool(callbacks.stop)
        batcher = getattr(app.state, "batcher", None)
        if batcher is not None:  # the OpenAI routes' packed transcriptions
            await run_in_threadpool(batcher.close)
        if app.state.own_catalog:
            app.state.catalog.close()


def create_app(config: ServiceConfig | None = None, *, catalog=None) -> FastAPI:
    """The vidpipe HTTP service as an ASGI app (serve it with uvicorn).

    Args:
        config: the service configuration (default :meth:`ServiceConfig.from_settings`).
        catalog: an open catalog to use (default: the configured one, opened here and
            closed at shutdown).

    Returns:
        The FastAPI app; its lifespan starts and stops the embedded worker. Building it
        also makes every log record of the process redact URL passwords and query
        values (:func:`vidpipe.library.urls.install_log_redaction`).

    Raises:
        UsageError: bad settings (a media root that is not a folder, a bad URL).
        CatalogError: the catalog cannot be opened.
    """
    from vidpipe.library.catalog import Catalog
    from vidpipe.library.urls import install_log_redaction
    from vidpipe.pipeline.jobs import JobStore

    install_log_redaction()  # every logger of the process, httpx's included
    config = config or ServiceConfig.from_settings()
    app = FastAPI(
        title="vidpipe",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=_lifespan,
        dependencies=[Depends(require_key)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # any request can be malformed, unauthorised, or meet an unavailable catalog
        responses=errors.error_responses(400, 401, 422, 500, 503),
    )
    app.state.config = config
    app.state.own_catalog = catalog is None
    app.state.catalog = catalog or Catalog(config.database_url)
    app.state.store = JobStore(app.state.catalog, root=config.storage)
    app.state.worker = None
    app.state.callbacks = None
    app.state.resolver = None
    app.state.started_at = time.time()
    errors.install(app)

    from vidpipe.service.metrics import Metrics

    app.state.metrics = Metrics(app)
    app.add_middleware(ServiceMiddleware, config=config, observe=app.state.metrics.observe)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    from vidpipe.service import web

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:  # Swagger UI served here, no CDN (fastapi-offline)
        return web.docs_page("/openapi.json", "vidpipe API")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return web.redoc_page("/openapi.json", "vidpipe API")

    app.add_exception_handler(404, web.not_found)  # browsers get an HTML 404 page

    for router in _routers():
        app.include_router(router)
    return app
