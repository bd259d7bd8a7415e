"""A real, fault-injecting HTTP media server on 127.0.0.1 for tests and benchmarks.

Serves the files under ``root`` over HTTP/1.1 (keep-alive) from a thread per
connection, with ``Content-Type`` by extension, ``Content-Length``,
``Accept-Ranges: bytes`` and single ``Range`` requests (``206`` with
``Content-Range``; ``416`` when the start is past the end).

Routes::

    /files/<name>             the file, normally
    /fault/<fault>/<name>     the file with a fault injected
    /redirect[/<any>]?to=<url>  ``302 Found`` to ``<url>`` (any scheme, any host), logged
                              with name ``"redirect"``; ``&status=301`` etc. for others

Requests in absolute form (``GET http://public.test/files/x HTTP/1.1``, what a client
sends to an HTTP proxy) are served like their path, so a test can point a client's
``proxy`` at this server and use any host name without DNS; ``host`` in the log is
the ``Host`` header the client sent.

Faults (each keeps its own per-name request counter where it matters):

==================  =======================================================================
``404``             404 Not Found
``500then200``      the first request for that name answers 500, later ones the file
``429``             the first request answers 429 with ``Retry-After: 1``, later ones the file
``reset``           a request without ``Range`` (or from byte 0) gets the headers and about
                    half the body, then the socket is closed with a TCP RST; a ``Range``
                    request from a later byte is served normally, so a resume completes it
``trickle``         headers and the first 16 bytes, then a stall of ``stall`` seconds
                    (default 10 s: longer than any test's read timeout)
``html``            an HTML page with ``Content-Type: text/html`` (whatever the name says)
``htmlmislabeled``  the same HTML bytes labelled ``Content-Type: video/mp4``
``oversize``        ``Content-Length: 5 GiB`` (more than the client's ``max_bytes``); sends
                    at most the first 64 KiB, then stalls until the client gives up
``nolength``        the file without ``Content-Length`` (body delimited by closing the
                    connection), so a size limit can only be enforced while streaming
``redirectloop``    ``302`` to itself, forever
``slow``            the file after a delay: drawn from ``latency`` if given, else
                    ``slow_delay`` seconds (default 1.0)
``drip``            headers and the first ``drip_burst`` bytes (default 4096), then one
                    byte every ``drip_interval`` seconds (default 2.0) until the body is
                    sent or the server stops: never stalls long enough for a read timeout
==================  =======================================================================

With ``latency=(low, high)`` every request waits ``uniform(low, high)`` seconds before
its response starts. The draw is deterministic: seeded by ``(seed, path, n)`` where
``n`` counts earlier requests for that path, so every client sees the same latencies
for the same files whatever order it asks in.

``requests`` logs one dict per request (``path``, ``name``, ``fault``, ``method``,
``range``, ``status``, ``bytes_sent``, ``started``/``ended`` (``time.monotonic()``
seconds), ``host`` (the ``Host`` header)); ``max_in_flight`` and
``max_in_flight_by_host`` are the largest numbers of requests handled at once.

Usage::

    with MediaServer(tmp_path) as server:
        url = server.url("bunny.mp4", fault="reset")
"""

from __future__ import annotations

import contextlib
import http.server
import random
import socket
import struct
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".ogv": "video/ogg",
    ".ts": "video/mp2t",
    ".flv": "video/x-flv",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".aac": "audio/aac",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Video player</title></head>\n"
    b"<body><h1>Watch the video</h1><video src='/player/stream'></video>\n"
    b"<p>Please enable JavaScript.</p></body></html>\n"
)

FAULTS = frozenset(
    {
        "404",
        "500then200",
        "429",
        "reset",
        "trickle",
        "html",
        "htmlmislabeled",
        "oversize",
        "nolength",
        "redirectloop",
        "slow",
        "drip",
    }
)

_CHUNK = 256 * 1024


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # connection threads never block interpreter exit
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    media: MediaServer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.media._lock:
            self.server.media._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.media._lock:
            self.server.media._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def _handle(self, head: bool) -> None:
        media = self.server.media
        entry: dict[str, Any] = {
            "path": self.path,
            "name": None,
            "fault": None,
            "method": self.command,
            "range": self.headers.get("Range"),
            "status": None,
            "bytes_sent": 0,
            "started": time.monotonic(),
            "ended": None,
            "host": self.headers.get("Host", ""),
        }
        with media._lock:
            media.requests.append(entry)
        media._enter(entry["host"])
        try:
            self._route(media, entry, head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        finally:
            entry["ended"] = time.monotonic()
            media._leave(entry["host"])

    # -- helpers -------------------------------------------------------------------

    def _simple(self, entry: dict, status: int, body: bytes = b"", **headers: str) -> None:
        entry["status"] = status
        self.send_response(status)
        headers.setdefault("Content_Type", "text/plain; charset=utf-8")
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
            entry["bytes_sent"] = len(body)

    def _send_file(
        self, fh, entry: dict, offset: int, count: int, limit: int | None = None
    ) -> bool:
        """Send ``count`` bytes from ``offset`` (stop after ``limit``); True if all sent."""
        todo = count if limit is None else min(count, limit)
        pos = offset
        while todo > 0:
            n = self.connection.sendfile(fh, pos, min(_CHUNK, todo))
            if n == 0:
                return False
            pos += n
            todo -= n
            entry["bytes_sent"] += n
        return limit is None or limit >= count

    def _route(self, media: MediaServer, entry: dict, head: bool) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.split("/") if p]
        fault = None
        if parts and parts[0] == "redirect":
            query = urllib.parse.parse_qs(parsed.query)
            entry["name"] = entry["fault"] = "redirect"
            media._count("redirect", "redirect")
            status = int(query.get("status", ["302"])[0])
            self._simple(entry, status, b"", Location=query.get("to", ["/"])[0])
            return
        if len(parts) >= 3 and parts[0] == "fault":
            fault, name = parts[1], "/".join(parts[2:])
        elif len(parts) >= 2 and parts[0] == "files":
            name = "/".join(parts[1:])
        else:
            self._simple(entry, 404, b"not found\n")
            return
        entry["name"], entry["fault"] = name, fault
        if fault is not None and fault not in FAULTS:
            self._simple(entry, 400, f"unknown fault {fault!r}\n".encode())
            return
        nth = media._count(fault, name)  # 0 for the first request with this fault and name

        delay = media._delay(self.path)
        if fault == "slow" and media.latency is None:
            delay = media.slow_delay
        if delay:
            media._stop.wait(delay)

        if fault == "404":
            self._simple(entry, 404, b"<html><body>404 Not Found</body></html>\n")
            return
        if fault == "500then200" and nth == 0:
            self._simple(entry, 500, b"internal server error\n")
            return
        if fault == "429" and nth == 0:
            self._simple(entry, 429, b"slow down\n", Retry_After="1")
            return
        if fault == "redirectloop":
            self._simple(entry, 302, b"", Location=self.path)
            return
        if fault in ("html", "htmlmislabeled"):
            ctype = "text/html; charset=utf-8" if fault == "html" else "video/mp4"
            self._simple(entry, 200, HTML_PAGE, Content_Type=ctype)
            return

        path = (media.root / name).resolve()
        if media.root.resolve() not in path.parents or not path.is_file():
            self._simple(entry, 404, b"no such file\n")
            return
        size = path.stat().st_size
        ctype = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")

        if fault == "oversize":
            entry["status"] = 200
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(5 * 1024**3))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.close_connection = True
            if not head:
                with path.open("rb") as fh:
                    self._send_file(fh, entry, 0, size, limit=64 * 1024)
                media._stop.wait(media.stall)
            return

        start, end = 0, size - 1
        status = 200
        range_header = self.headers.get("Range")
        if range_header and fault != "nolength":
            spec = _parse_range(range_header, size)
            if spec is None:
                self._simple(
                    entry, 416, b"range not satisfiable\n", Content_Range=f"bytes */{size}"
                )
                return
            status = 206
            start, end = spec
        count = end - start + 1 if size else 0

        entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        if fault == "nolength":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(count))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if fault in ("reset", "trickle", "drip"):
            self.close_connection = True
        self.end_headers()
        if head:
            return

        with path.open("rb") as fh:
            if fault == "reset" and start == 0:
                self.wfile.flush()
                self._send_file(fh, entry, start, count, limit=max(1, count // 2))
                _abort(self.connection)
                return
            if fault == "trickle":
                self._send_file(fh, entry, start, count, limit=16)
                media._stop.wait(media.stall)
                return
            if fault == "drip":
                burst = min(count, media.drip_burst)
                self._send_file(fh, entry, start, count, limit=burst)
                pos = start + burst
                while pos <= end and not media._stop.wait(media.drip_interval):
                    self._send_file(fh, entry, pos, 1)
                    pos += 1
                return
            self._send_file(fh, entry, start, count)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` as an inclusive (start, end), or None (416)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _abort(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER 0), as a crashed proxy would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class MediaServer:
    """Serve ``root`` on ``127.0.0.1`` on a free port, with fault injection (see module doc).

    Args:
        root: folder whose files are served.
        latency: ``(low, high)`` seconds: every request waits ``uniform(low, high)``
            before its response starts; ``None`` for no added latency.
        seed: seed of the latency draws.
        stall: seconds the ``trickle`` and ``oversize`` faults stall (ended early by
            ``__exit__``).
        slow_delay: seconds of delay of the ``slow`` fault when ``latency`` is None.
        drip_burst: bytes the ``drip`` fault sends at once before dripping.
        drip_interval: seconds between the single bytes of the ``drip`` fault.
    """

    def __init__(
        self,
        root: Path,
        latency: tuple[float, float] | None = None,
        seed: int = 0,
        *,
        stall: float = 10.0,
        slow_delay: float = 1.0,
        drip_burst: int = 4096,
        drip_interval: float = 2.0,
    ) -> None:
        self.root = Path(root)
        self.latency = latency
        self.seed = seed
        self.stall = stall
        self.slow_delay = slow_delay
        self.drip_burst = drip_burst
        self.drip_interval = drip_interval
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self.max_in_flight_by_host: dict[str, int] = {}
        self.base_url = ""
        self._lock = threading.Lock()
        self._counts: dict[tuple[str | None, str], int] = {}
        self._path_counts: dict[str, int] = {}
        self._in_flight = 0
        self._in_flight_by_host: dict[str, int] = {}
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> MediaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a free port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.media = self
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="MediaServer",
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end stalls, close the listening socket."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake keep-alive threads blocked in recv
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    # -- public helpers ----------------------------------------------------------------

    def url(self, name: str, fault: str | None = None) -> str:
        """URL of ``name`` under ``root``, optionally through fault route ``fault``."""
        quoted = urllib.parse.quote(name)
        if fault is None:
            return f"{self.base_url}/files/{quoted}"
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {sorted(FAULTS)}")
        return f"{self.base_url}/fault/{fault}/{quoted}"

    def redirect_url(self, to: str, status: int = 302, name: str = "to.mp4") -> str:
        """URL (ending in ``/name``) that answers ``status`` with ``Location: to``."""
        query = urllib.parse.urlencode({"to": to, "status": status})
        return f"{self.base_url}/redirect/{urllib.parse.quote(name)}?{query}"

    def full_downloads(self, name: str) -> int:
        """How many ``200`` responses sent the whole of ``name``."""
        path = self.root / name
        size = path.stat().st_size if path.is_file() else -1
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r["name"] == name
                and r["status"] == 200
                and r["method"] == "GET"
                and r["bytes_sent"] == size
            )

    def requests_for(self, name: str) -> list[dict[str, Any]]:
        """The logged requests for ``name`` (any route), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r["name"] == name]

    # -- internals ---------------------------------------------------------------------

    def _count(self, fault: str | None, name: str) -> int:
        with self._lock:
            n = self._counts.get((fault, name), 0)
            self._counts[(fault, name)] = n + 1
            return n

    def _delay(self, path: str) -> float:
        if self.latency is None:
            return 0.0
        with self._lock:
            n = self._path_counts.get(path, 0)
            self._path_counts[path] = n + 1
        low, high = self.latency
        return random.Random(f"{self.seed}:{path}:{n}").uniform(low, high)

    def _enter(self, host: str) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            n = self._in_flight_by_host.get(host, 0) + 1
            self._in_flight_by_host[host] = n
            self.max_in_flight_by_host[host] = max(self.max_in_flight_by_host.get(host, 0), n)

    def _leave(self, host: str) -> None:
        with self._lock:
            self._in_flight -= 1
            self._in_flight_by_host[host] -= 1


def _main() -> None:  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--latency", type=float, nargs=2, default=None)
    args = parser.parse_args()
    with MediaServer(args.root, latency=tuple(args.latency) if args.latency else None) as s:
        print(f"serving {args.root} at {s.base_url}/files/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    _main()
