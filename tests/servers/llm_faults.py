"""A small chat-completions server that misbehaves on purpose, for vidpipe's tests.

Speaks enough of OpenAI's ``POST /v1/chat/completions`` for the ``openai`` client,
and picks a behaviour from a path prefix ``/<mode>/<name>/v1/...`` (``name`` keeps
independent counters for each test):

- ``ok``: always 200, answering ``"reply <n>"`` (n counts this name's requests);
- ``429``: the first request is answered 429 with ``Retry-After: <retry_after>``,
  later ones 200;
- ``500``: the first request is answered 500, later ones 200;
- ``stall``: the first request waits ``stall`` seconds before answering (longer than
  the client's timeout), later ones 200 at once;
- ``slow``: every request takes ``slow`` seconds (for concurrency checks);
- ``bad``: always 400 (a request error that must not be retried).

Every request's arrival time (``time.monotonic()``), finish time and the number in
flight are recorded in :attr:`FaultServer.requests` so tests can check the retry
waits, the rate limiter (start times) and the concurrency cap.

Usage (in-process, in a thread)::

    with FaultServer() as srv:
        base = srv.url("429", "t1")       # http://127.0.0.1:PORT/429/t1/v1
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    mode: str
    name: str
    start: float
    end: float | None = None
    status: int | None = None
    in_flight: int = 0


class FaultServer:
    """The server; start it with ``with FaultServer() as srv`` or :meth:`start`."""

    def __init__(self, retry_after: float = 1.0, stall: float = 3.0, slow: float = 0.3) -> None:
        self.retry_after = retry_after
        self.stall = stall
        self.slow = slow
        self.requests: list[Request] = []
        self._counts: dict[str, int] = defaultdict(int)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def url(self, mode: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{name}/v1"

    def of(self, name: str) -> list[Request]:
        """Requests recorded under ``name``, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.name == name]

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:
                start = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.strip("/").split("/")
                mode, name = (parts[0], parts[1]) if len(parts) > 3 else ("ok", "default")
                with server._lock:
                    n = server._counts[name]
                    server._counts[name] += 1
                    server._in_flight[name] += 1
                    req = Request(mode, name, start, in_flight=server._in_flight[name])
                    server.requests.append(req)
                status, headers = 200, {}
                try:
                    if mode == "429" and n == 0:
                        status, headers = 429, {"Retry-After": f"{server.retry_after:g}"}
                    elif mode == "500" and n == 0:
                        status = 500
                    elif mode == "bad":
                        status = 400
                    elif mode == "stall" and n == 0:
                        time.sleep(server.stall)
                    elif mode == "slow":
                        time.sleep(server.slow)
                finally:
                    with server._lock:
                        server._in_flight[name] -= 1
                        req.end = time.monotonic()
                        req.status = status
                if status != 200:
                    err = {"message": f"fault {mode} ({status})", "type": "test", "code": status}
                    self._send(status, {"error": err}, headers)
                    return
                prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{n}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "test"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": f"reply {n}"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt) // 4,
                            "completion_tokens": 2,
                            "total_tokens": len(prompt) // 4 + 2,
                        },
                    },
                )

        return Handler
