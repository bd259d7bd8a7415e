"""Errors as HTTP answers: one status per vidpipe error class, one JSON shape, no tracebacks.

Every error answer is ``{"error": {"type", "message", "hint", "request_id"}}``:

- a :class:`vidpipe.errors.VidpipeError` gets the status of the nearest class in
  :data:`STATUS` (its own, else its parent's...), ``type`` its class name;
- a FastAPI/Starlette ``HTTPException`` (unknown route 404, wrong method 405...) keeps its
  status, ``type`` is the status phrase (``NotFound``);
- a request that does not match the schema is 422 ``ValidationError`` naming the first
  bad field;
- a lone surrogate (``"\\ud800"``) that reached a file name, a log or the database
  (``UnicodeEncodeError``) is 400 ``UsageError``: the request's text is at fault;
- anything else is 500 ``InternalError``: logged with its traceback and the request id,
  while the client only sees the request id.

On the OpenAI-compatible routes (:data:`OPENAI_PREFIXES`) the error also carries
OpenAI's ``param`` and ``code`` (``null`` when they do not apply), and the statuses
its clients expect: an upload that is not decodable media (``MediaError``) and a request
that does not match the schema are 400 (``param`` ``file`` or the field, ``code``
``invalid_value`` or ``missing_required_parameter``) rather than 415 and 422. A route
names the parameter of a vidpipe error with :func:`with_param`.

Handlers and routers raise vidpipe errors; :func:`install` registers the handlers.
:func:`error_responses` documents the error shape in the OpenAPI document.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidpipe import errors as e

__all__ = [
    "STATUS",
    "ErrorDetail",
    "ErrorResponse",
    "error_payload",
    "error_responses",
    "install",
    "status_of",
    "with_param",
]

_log = logging.getLogger("vidpipe.service")

#: each vidpipe error class and its HTTP status; a class not listed takes its parent's
STATUS: dict[type[e.VidpipeError], int] = {
    e.VidpipeError: 400,
    e.UsageError: 400,
    e.InputError: 400,
    e.NotFoundError: 404,
    e.ForbiddenError: 403,
    e.TooLargeError: 413,
    e.ConflictError: 409,
    e.MediaError: 415,
    e.BusyError: 429,
    e.RemoteError: 502,
    e.UnavailableError: 503,
    e.ModelError: 503,
    e.NotInstalledError: 501,
    e.OutputError: 500,
    e.CatalogError: 503,
}


#: path prefixes of the OpenAI-compatible routes (OpenAI's error statuses and fields)
OPENAI_PREFIXES = ("/v1/audio/", "/v1/models")


def _openai(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PREFIXES)


def with_param(exc: e.VidpipeError, param: str | None, code: str | None = None):
    """``exc`` naming the request parameter at fault (``param``) and OpenAI's error
    ``code`` (e.g. ``invalid_value``, ``model_not_found``), shown on the OpenAI routes.
    Returns ``exc`` (``raise with_param(UsageError(...), "voice")``)."""
    exc.param = param  # type: ignore[attr-defined]
    exc.code = code  # type: ignore[attr-defined]
    return exc


class ErrorDetail(BaseModel):
    """What went wrong: the error class (``type``), one line (``message``), what to do
    (``hint``) and the id of the request (also in the ``X-Request-ID`` header)."""

    type: str
    message: str
    hint: str | None = None
    request_id: str | None = None
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error answer of the service."""

    error: ErrorDetail


def status_of(exc: e.VidpipeError) -> int:
    """The HTTP status of ``exc``: the nearest class of its MRO in :data:`STATUS`."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def request_id(request: Request) -> str | None:
    """The id the request-log middleware gave this request."""
    return getattr(request.state, "request_id", None)


def error_payload(
    type_: str, message: str, hint: str | None = None, rid: str | None = None
) -> dict[str, Any]:
    """The JSON body of an error answer: one line each, any URL password and query
    string redacted (:func:`vidpipe.library.urls.redact_secrets`), text that is not
    valid Unicode (a lone surrogate) shown with ``?``."""
    from vidpipe.library.urls import redact_secrets

    def line(text: str) -> str:
        text = " ".join(str(text).split())
        return redact_secrets(text.encode("utf-8", "replace").decode("utf-8"))

    return {
        "error": {
            "type": type_,
            "message": line(message),
            "hint": line(hint) if hint else None,
            "request_id": rid,
        }
    }


def _answer(
    request: Request,
    status: int,
    type_: str,
    message: str,
    hint: str | None,
    headers=None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    rid = request_id(request)
    headers = dict(headers or {})
    if rid:
        headers["X-Request-ID"] = rid
    body = error_payload(type_, message, hint, rid)
    if _openai(request):  # OpenAI's fields, as its clients read them (APIError.param/code)
        body["error"]["param"] = param
        body["error"]["code"] = code
    return JSONResponse(body, status, headers=headers)


async def _vidpipe_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.VidpipeError)
    status = status_of(exc)
    headers = {}
    if isinstance(exc, e.BusyError):
        headers["Retry-After"] = str(exc.retry_after)
    if status == 401:  # pragma: no cover - no vidpipe class maps to 401
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        _log.error("request %s: %s: %s", request_id(request), type(exc).__name__, exc.one_line())
    param, code = getattr(exc, "param", None), getattr(exc, "code", None)
    if _openai(request) and isinstance(exc, e.MediaError):  # OpenAI: 400, param "file"
        status, param, code = 400, param or "file", code or "invalid_value"
    return _answer(
        request, status, type(exc).__name__, exc.message, exc.hint, headers, param=param, code=code
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    hint = None
    if isinstance(detail, dict):
        hint = detail.get("hint")
        detail = detail.get("message", "")
    message = str(detail) if detail else _phrase(exc.status_code)
    if exc.status_code == 404 and message == "Not Found":
        message, hint = f"no route {request.url.path}", "see /docs for the routes"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        hint = "see /docs for the methods of each route"
    return _answer(request, exc.status_code, _phrase(exc.status_code), message, hint, exc.headers)


def _where(loc: Any) -> str:
    parts = [str(p) for p in (loc or ())]
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = exc.errors()
    first = errs[0] if errs else {}
    message = f"{_where(first.get('loc'))}: {first.get('msg', 'invalid request')}"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    openai = _openai(request)
    loc = [str(p) for p in (first.get("loc") or ())]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    return _answer(
        request,
        400 if openai else 422,  # OpenAI answers a bad parameter with 400
        "ValidationError",
        message + more,
        "see /docs for the request schema",
        param=".".join(loc) or None,
        code="missing_required_parameter" if first.get("type") == "missing" else "invalid_value",
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnicodeEncodeError) and "surrogate" in str(exc.reason):
        # a lone surrogate from a JSON escape met a file name, a log or the database:
        # the request's text, not the server, is at fault
        return _answer(
            request,
            400,
            "UsageError",
            "the request holds text that is not valid Unicode (a lone surrogate)",
            "send UTF-8 text",
            code="invalid_value",
        )
    _log.error(
        "request %s failed: %s: %s",
        request_id(request),
        type(exc).__name__,
        " ".join(str(exc).split()),
        exc_info=exc,
    )
    return _answer(
        request,
        500,
        "InternalError",
        "internal server error",
        f"the server log has the details under request id {request_id(request)}",
    )


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(e.VidpipeError, _vidpipe_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)


_DESCRIPTIONS = {
    400: "Bad request (UsageError, InputError)",
    401: "Missing or wrong API key",
    403: "Path outside the media roots or refused URL (ForbiddenError)",
    404: "Not found (NotFoundError)",
    409: "Conflict with the current state (ConflictError)",
    413: "Body or upload too large (TooLargeError)",
    415: "Not decodable media (MediaError; 400 on the OpenAI routes)",
    422: "Request does not match the schema (ValidationError; 400 on the OpenAI routes)",
    429: "Queue full (BusyError; see Retry-After)",
    502: "A remote engine or the queue failed (RemoteError)",
    503: "Catalog, queue, workers or model unavailable (UnavailableError)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error shape under each status in ``codes``."""
    return {
        c: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(c, _phrase(c))} for c in codes
    }
