"""Serving the app on uvicorn with a deadline for request headers.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but
neither its h11 nor its httptools protocol limits how long a client may take to send
the headers of a request: a client that opens hundreds of connections and sends a
byte now and then (slow loris) holds them all. :func:`protocol_class` adds that
deadline: a connection whose request headers are not complete ``header_timeout``
seconds after it opened, or after its previous response ended, is closed. Slow
request bodies are the middleware's (:mod:`vidpipe.service.middleware`: 408). A
connection upgraded to a websocket (``/v1/realtime``) has no such deadline.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

__all__ = ["protocol_class", "uvicorn_options"]


@functools.cache
def protocol_class(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, else h11, as uvicorn's
    ``auto``) with a ``header_timeout`` (seconds) deadline for each request's headers.

    Pass it as ``http=`` to :func:`uvicorn.run` or :class:`uvicorn.Config`.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # pragma: no cover - httptools is optional for uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class HeaderDeadlineProtocol(Base):  # type: ignore[valid-type,misc]
        """Closes a connection that does not finish a request's headers in time."""

        _header_task: asyncio.TimerHandle | None = None
        _upgraded = False

        def _arm_header_deadline(self) -> None:
            if self._header_task is not None:
                self._header_task.cancel()
            self._header_task = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            self._header_task = None
            if self._upgraded:
                return
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()  # no answer: the client never asked anything

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def handle_websocket_upgrade(self, *args: Any) -> None:
            # the connection is a websocket's now (GET /v1/realtime): no more deadline
            if self._header_task is not None:
                self._header_task.cancel()
                self._header_task = None
            self._upgraded = True
            super().handle_websocket_upgrade(*args)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()  # the next request's headers, in time too

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_task is not None:
                self._header_task.cancel()
                self._header_task = None
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def uvicorn_options(header_timeout: float) -> dict[str, Any]:
    """The keyword arguments for :func:`uvicorn.run` that bound how long a client may
    hold a connection without asking anything: the header deadline
    (:func:`protocol_class`) and the keep-alive timeout (uvicorn's 5 s, or
    ``header_timeout`` when that is shorter; at least 1 s)."""
    return {
        "http": protocol_class(float(header_timeout)),
        "timeout_keep_alive": max(1, min(5, int(header_timeout))),
    }
