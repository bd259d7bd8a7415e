"""The service's ASGI middleware: request ids, one log line per request, metrics, body-size
limits and the request timeout (pure ASGI: streaming answers such as server-sent events
and ranged artifacts pass through untouched).

- Request id: the client's ``X-Request-ID`` when it is 1..64 of ``[A-Za-z0-9._-]``,
  else a new random one; kept in ``request.state.request_id`` and sent back in the
  ``X-Request-ID`` header.
- Log: one line per request on logger ``vidpipe.service.access``, a JSON object
  ``{"request_id", "method", "route", "path", "status", "duration_ms", "client"}``.
- Body size: a ``Content-Length`` over the route's limit is answered 413 before any byte
  is read; a chunked body is counted as it arrives and cut off at the limit (413, and
  the handler sees the client gone). Limits (:func:`body_limit`): ``/v1/files`` the
  upload limit, ``/v1/audio/*`` the OpenAI upload limit, anything else the JSON limit
  (each with 1 MiB for the multipart framing of uploads).
- Timeout: a response that has not started after ``request_timeout`` seconds is
  answered 504 (the work in a thread pool runs on; its answer is dropped). A request
  body must arrive within ``body_timeout`` seconds plus one per ``body_min_rate``
  bytes received, else 408 and the connection is closed (slow request headers are
  :mod:`vidpipe.service.server`'s).
- Error shape: an error answer that is not JSON (Starlette's plain-text 400/416 for a
  bad ``Range``...) is rewritten as the JSON error shape, its status and headers kept.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import anyio

from vidpipe.service.config import ServiceConfig
from vidpipe.service.errors import error_payload

__all__ = ["ServiceMiddleware", "body_limit"]

_access = logging.getLogger("vidpipe.service.access")
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: room for multipart boundaries and part headers around an uploaded file, bytes
FRAMING = 1024 * 1024


def body_limit(path: str, config: ServiceConfig) -> int:
    """The largest request body accepted on ``path``, in bytes."""
    if path.startswith("/v1/files"):
        return config.max_file_bytes + FRAMING
    if path.startswith("/v1/audio/"):
        return config.max_audio_bytes + FRAMING
    return config.max_json_bytes


def _needs_envelope(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """An error answer that is not the JSON error shape (Starlette's plain-text 400/416
    of a bad ``Range``...). The web page's own HTML error pages (its 404 for a browser)
    are left as they are."""
    if status < 400:
        return False
    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"").lower()
    return not (ctype.startswith(b"application/json") or ctype.startswith(b"text/html"))


def _enveloped(
    start: dict[str, Any], body: bytes, rid: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The start and body messages of ``start``'s error answer as the JSON error shape:
    the status, the other headers (``Content-Range``...) and the text kept as the
    message."""
    from http import HTTPStatus

    status = start["status"]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    text = body.decode("utf-8", "replace").strip() or phrase
    hint = {
        400: "check the request",
        416: "ask for a byte range inside the file (see Content-Range)",
    }.get(status, "see /docs")
    payload = json.dumps(
        error_payload(phrase.replace(" ", "").replace("-", ""), text, hint, rid)
    ).encode()
    keep = [
        (k, v)
        for k, v in start["headers"]
        if k.lower() not in (b"content-type", b"content-length", b"content-encoding")
    ]
    keep += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    return (
        {**start, "headers": keep},
        {"type": "http.response.body", "body": payload, "more_body": False},
    )


def _route_of(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class ServiceMiddleware:
    """Request id, access log, metrics, body limits and timeout around ``app``.

    Args:
        app: the ASGI app inside.
        config: the service configuration (limits, timeout).
        observe: called with ``(method, route, status, seconds)`` after each request
            (the Prometheus metrics).
    """

    def __init__(
        self,
        app: Callable,
        config: ServiceConfig,
        observe: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        self.app, self.config, self.observe = app, config, observe

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        if not _RID.match(rid):
            rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        path = scope.get("path", "")
        state = {"started": False, "status": 500, "answered": False}
        rid_header = (b"x-request-id", rid.encode())

        held: dict[str, Any] = {}

        async def send_wrapped(message: dict[str, Any]) -> None:
            if state["answered"]:
                return  # we already answered (413/504); the app's answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                if "cancel" in state:  # the answer has started: no timeout for its body
                    state["cancel"].deadline = math.inf
                hs = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in hs):
                    hs.append(rid_header)
                message = {**message, "headers": hs}
                if _needs_envelope(message["status"], hs):
                    held.update(start=message, body=b"")  # rewritten once the body is in
                    return
            elif message["type"] == "http.response.body" and held:
                held["body"] += message.get("body", b"")[: 4096 - len(held["body"])]
                if message.get("more_body", False):
                    return
                message = _enveloped(held["start"], held["body"], rid)
                await send(message[0])
                message = message[1]
            await send(message)

        async def answer(status: int, type_: str, msg: str, hint: str) -> None:
            if state["started"] or state["answered"]:
                return
            body = json.dumps(error_payload(type_, msg, hint, rid)).encode()
            state.update(started=True, status=status, answered=True)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                        rid_header,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            # no name, id or filter holds a NUL byte (and PostgreSQL cannot store one)
            await answer(400, "UsageError", "a NUL byte in the URL", "remove it")
            self._log(scope, rid, state["status"], start)
            return
        limit = body_limit(path, self.config)
        declared = headers.get("content-length")
        too_big = f"request body over {limit} bytes"
        hint = "send a smaller body (see the service's size limits)"
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await answer(413, "TooLargeError", too_big, hint)
            self._log(scope, rid, state["status"], start)
            return
        seen = 0
        body_start: float | None = None
        body_done = False

        async def receive_counted() -> dict[str, Any]:
            nonlocal seen, body_start, body_done
            if body_done:
                return await receive()  # the body is in: waiting for a disconnect
            now = anyio.current_time()
            if body_start is None:
                body_start = now
            cfg = self.config
            # the whole body within body_timeout, plus a second per body_min_rate bytes
            left = body_start + cfg.body_timeout + seen / cfg.body_min_rate - now
            with anyio.move_on_after(max(0.0, left)) as waited:
                message = await receive()
            if waited.cancelled_caught:
                await answer(
                    408,
                    "Timeout",
                    f"request body too slow ({seen} bytes in {now - body_start:.0f} s)",
                    f"send the body at once; uploads must keep up {cfg.body_min_rate} bytes/s",
                )
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:
                    await answer(413, "TooLargeError", too_big, hint)
                    return {"type": "http.disconnect"}
            return message

        deadline = anyio.current_time() + self.config.request_timeout
        try:
            with anyio.CancelScope(deadline=deadline) as cancel:
                state["cancel"] = cancel
                await self.app(scope, receive_counted, send_wrapped)
            if cancel.cancelled_caught and not state["started"]:
                await answer(
                    504,
                    "Timeout",
                    f"no answer within {self.config.request_timeout:g} s",
                    "submit long work as a job (POST /v1/jobs) and poll it",
                )
        finally:
            self._log(scope, rid, state["status"], start)

    def _log(self, scope, rid: str, status: int, start: float) -> None:
        seconds = time.perf_counter() - start
        route = _route_of(scope)
        client = scope.get("client")
        _access.info(
            json.dumps(
                {
                    "request_id": rid,
                    "method": scope.get("method"),
                    "route": route,
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "client": client[0] if client else None,
                }
            )
        )
        if self.observe is not None:
            self.observe(scope.get("method", ""), route, status, seconds)
