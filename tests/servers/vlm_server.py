"""A small OpenAI-compatible vision (chat-completions) server for vidpipe's tests.

No real vision model runs here (none is available offline); this stands in for a
paid API and speaks the real protocol, so the client code under test is the code
that talks to OpenAI, Ollama, vLLM or llama.cpp's server.

``POST /v1/chat/completions`` checks the request the way a strict provider would:

- a JSON body with ``model`` and ``messages``; every content part is ``text`` or
  ``image_url``; each image URL is a ``data:image/jpeg;base64,...`` URI that
  decodes to a JPEG whose longer side is at most 768 pixels; at least one image;
- no video anywhere: no ``video_url``/``input_video``/``file`` parts, no
  ``data:video/...`` URI; the body is under 20 MB.

A valid request is answered 200 with a canned description naming the number and
sizes of the frames (``"Canned description of N frame(s): WxH, ..."``); an invalid
one 400 with an OpenAI-style error (``{"error": {"message", "type", "code"}}``).

Any path prefix before ``/v1`` is allowed and logged (tests use it as a tag to find
their own requests, e.g. ``http://HOST:PORT/mytest/v1``). A prefix containing
``/fail/<n>`` makes the first ``n`` requests under that prefix answer ``429`` with
``Retry-After: 0`` (a rate-limited provider).

Every request appends one JSON line to ``--log``: ``t`` (``time.time()`` when the
request arrived, seconds), ``path``, ``status``, ``model``, ``images`` (list of
``[width, height]``), ``error``.

Usage::

    python tests/servers/vlm_server.py --port 8124 --log /tmp/vlm.jsonl
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

MAX_BODY = 20 * 1024 * 1024
MAX_SIDE = 768
_SPLIT = re.compile(r"^(.*?)(/v1/.*)$")
_FAIL = re.compile(r"/fail/(\d+)(?:/|$)")
_failures: dict[str, int] = {}
_lock = threading.Lock()


class BadRequest(Exception):
    pass


def check_request(body: dict) -> tuple[str, list[tuple[int, int]]]:
    """Validate a chat-completions body; return the model and the image sizes (pixels)."""
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model:
        raise BadRequest("missing model")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("missing messages")
    sizes = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise BadRequest("content must be a string or a list of parts")
        for part in content:
            kind = part.get("type")
            if kind == "text":
                continue
            if kind != "image_url":
                raise BadRequest(f"unsupported content part {kind!r} (only text and images)")
            url = part.get("image_url", {}).get("url", "")
            if url.startswith("data:video") or not url.startswith("data:image/jpeg;base64,"):
                raise BadRequest("image_url must be a data:image/jpeg;base64 URI")
            raw = base64.b64decode(url.split(",", 1)[1], validate=True)
            img = Image.open(io.BytesIO(raw))
            if img.format != "JPEG":
                raise BadRequest(f"image is {img.format}, not JPEG")
            if max(img.size) > MAX_SIDE:
                raise BadRequest(f"image {img.size} larger than {MAX_SIDE} px")
            sizes.append(img.size)
    if not sizes:
        raise BadRequest("no image in the request")
    return model, sizes


class Handler(BaseHTTPRequestHandler):
    log_path: str = ""

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, entry: dict) -> None:
        with _lock, open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        arrived = time.time()
        entry: dict = {"t": arrived, "path": self.path, "model": None, "images": [], "error": None}
        split = _SPLIT.match(self.path)
        prefix, path = (split.group(1), split.group(2)) if split else ("", self.path)
        match = _FAIL.search(prefix + "/")
        if match:
            with _lock:
                done = _failures.get(prefix, 0)
                _failures[prefix] = done + 1
            if done < int(match.group(1)):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                entry.update(status=429, error="rate limited")
                self._record(entry)
                self._send(
                    429,
                    {"error": {"message": "Rate limit reached", "type": "rate_limit", "code": 429}},
                    {"Retry-After": "0"},
                )
                return
        if path != "/v1/chat/completions":
            entry.update(status=404, error="not found")
            self._record(entry)
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if length > MAX_BODY:
                raise BadRequest(f"request body {length} bytes is over {MAX_BODY}")
            body = json.loads(self.rfile.read(length))
            model, sizes = check_request(body)
        except (BadRequest, ValueError, KeyError, AttributeError, OSError) as exc:
            entry.update(status=400, error=str(exc))
            self._record(entry)
            self._send(
                400, {"error": {"message": str(exc), "type": "invalid_request_error", "code": 400}}
            )
            return
        text = f"Canned description of {len(sizes)} frame(s): " + ", ".join(
            f"{w}x{h}" for w, h in sizes
        )
        entry.update(status=200, model=model, images=[list(s) for s in sizes])
        self._record(entry)
        self._send(
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(arrived),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    Handler.log_path = args.log
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
