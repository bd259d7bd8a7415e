"""Image-generation servers for vidpipe's tests: Stable Diffusion WebUI and OpenAI images.

No diffusion model runs here (none is available offline); the server speaks the real
protocols, so the client code under test is the code that talks to AUTOMATIC1111's
WebUI and to OpenAI-compatible image endpoints:

- ``POST /sdapi/v1/txt2img`` (WebUI ``--api``): a JSON body with ``prompt``
  (non-empty string), ``width``/``height`` (integers, multiples of 8, 64..2048),
  optional ``steps`` (1..150), ``seed``, ``negative_prompt``, ``cfg_scale``,
  ``sampler_name``. Answer: ``{"images": [<base64 PNG>], "parameters": <the body>,
  "info": <JSON string with seed, size, prompt>}``. A bad body gets FastAPI's 422
  ``{"detail": [{"loc", "msg", "type"}]}``.
- ``POST /v1/images/generations`` (OpenAI): ``model``, ``prompt`` (1..4000 chars),
  ``n`` (1), ``size`` (``1024x1024``, ``1792x1024``, ``1024x1792``, ``1536x1024``,
  ``1024x1536``, ``512x512``, ``256x256``), ``response_format`` (``b64_json`` or
  ``url``). Answer: ``{"created", "data": [{"b64_json" | "url", "revised_prompt"}]}``;
  a ``url`` is served by ``GET /files/<n>.png``. A bad body gets OpenAI's 400
  ``{"error": {"message", "type", "param", "code"}}``.

The picture is a real PNG drawn with Pillow at the requested size: a vertical
gradient from :func:`prompt_colour` (the first three bytes of the prompt's sha256) to
a quarter of it, so a test can tell which prompt a picture was made from.

Faults are chosen by a path prefix ``/<mode>/<name>/...`` (``name`` keeps separate
counters per test; see :meth:`ImageServer.sd_url` and :meth:`ImageServer.openai_url`):

- ``ok``: always 200;
- ``500``: the first request under the name is answered 500 (an error body as the API
  would send it), later ones 200;
- ``400``: always 400 with an error body (WebUI: ``{"error", "detail", "body",
  "errors"}``; OpenAI: a ``content_policy_violation``);
- ``garbage``: 200 with a body whose image is not a picture.

Every request is recorded in :attr:`ImageServer.requests` (api, mode, name, body,
status). Usage, in-process::

    with ImageServer() as srv:
        base = srv.sd_url("500", "t1")       # http://127.0.0.1:PORT/500/t1
        base = srv.openai_url("ok", "t2")    # http://127.0.0.1:PORT/ok/t2/v1

or standalone: ``python tests/servers/image_servers.py --port 7860``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

OPENAI_SIZES = frozenset(
    {"1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "512x512", "256x256"}
)
MODES = ("ok", "500", "400", "garbage")


def prompt_colour(prompt: str) -> tuple[int, int, int]:
    """The colour at the top of the picture drawn for ``prompt`` (sRGB)."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return digest[0], digest[1], digest[2]


def draw_png(prompt: str, width: int, height: int) -> bytes:
    """A ``width`` x ``height`` PNG: a vertical gradient from the prompt's colour."""
    top = prompt_colour(prompt)
    column = Image.new("RGB", (1, height))
    for y in range(height):
        k = 1 - 0.75 * y / max(1, height - 1)
        column.putpixel((0, y), tuple(round(c * k) for c in top))
    img = column.resize((width, height), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def check_txt2img(body: Any) -> tuple[str, int, int, int]:
    """Validate a txt2img body; return prompt, width, height, seed."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", "body")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("field required", "prompt")
    size = []
    for key in ("width", "height"):
        value = body.get(key, 512)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest("value is not a valid integer", key)
        if value % 8 or not 64 <= value <= 2048:
            raise BadRequest("must be a multiple of 8 between 64 and 2048", key)
        size.append(value)
    steps = body.get("steps", 20)
    if not isinstance(steps, int) or not 1 <= steps <= 150:
        raise BadRequest("ensure this value is between 1 and 150", "steps")
    seed = body.get("seed", -1)
    if not isinstance(seed, int):
        raise BadRequest("value is not a valid integer", "seed")
    for key in ("negative_prompt", "sampler_name"):
        if key in body and not isinstance(body[key], str):
            raise BadRequest("str type expected", key)
    return prompt, size[0], size[1], seed


def check_generation(body: Any) -> tuple[str, int, int, str]:
    """Validate an images/generations body; return prompt, width, height, format."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("Missing required parameter: 'prompt'.", "prompt")
    if len(prompt) > 4000:
        raise BadRequest("'prompt' is too long: the maximum is 4000 characters.", "prompt")
    if not isinstance(body.get("model", "dall-e-2"), str):
        raise BadRequest("Invalid type for 'model': expected a string.", "model")
    if body.get("n", 1) != 1:
        raise BadRequest("Invalid 'n': only n=1 is supported.", "n")
    size = body.get("size", "1024x1024")
    if size not in OPENAI_SIZES:
        raise BadRequest(f"'{size}' is not one of {sorted(OPENAI_SIZES)} - 'size'", "size")
    fmt = body.get("response_format", "url")
    if fmt not in ("url", "b64_json"):
        raise BadRequest(f"'{fmt}' is not one of ['url', 'b64_json']", "response_format")
    width, height = (int(v) for v in size.split("x"))
    return prompt, width, height, fmt


@dataclass
class Request:
    """One request: ``api`` is ``sdwebui``, ``openai`` or ``file``; times monotonic s."""

    api: str
    mode: str
    name: str
    path: str
    body: Any = None
    status: int | None = None
    start: float = field(default_factory=time.monotonic)


class ImageServer:
    """The server; start it with ``with ImageServer() as srv`` or :meth:`start`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Request] = []
        self._counts: dict[str, int] = defaultdict(int)
        self._files: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def sd_url(self, mode: str = "ok", name: str = "default") -> str:
        """Base URL of a Stable Diffusion WebUI (the client appends ``/sdapi/v1/txt2img``)."""
        return f"http://127.0.0.1:{self.port}/{mode}/{name}"

    def openai_url(self, mode: str = "ok", name: str = "default") -> str:
        """Base URL of an OpenAI-compatible API (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/{mode}/{name}/v1"

    def of(self, name: str, api: str | None = None) -> list[Request]:
        """Requests recorded under ``name`` (and ``api``), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.name == name and api in (None, r.api)]

    def start(self) -> ImageServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(self, status: int, payload: Any) -> None:
                self._send(status, json.dumps(payload).encode())

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) == 2 and parts[0] == "files" and parts[1].endswith(".png"):
                    with server._lock:
                        data = server._files.get(int(parts[1][:-4] or -1))
                        server.requests.append(Request("file", "ok", "", self.path, None, 200))
                    if data is not None:
                        self._send(200, data, "image/png")
                        return
                self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                mode, name, rest = "ok", "default", "/" + "/".join(parts)
                if len(parts) > 2 and parts[0] in MODES:
                    mode, name, rest = parts[0], parts[1], "/" + "/".join(parts[2:])
                if rest == "/sdapi/v1/txt2img":
                    api = "sdwebui"
                elif rest == "/v1/images/generations":
                    api = "openai"
                else:
                    self._json(404, {"detail": "Not Found"})
                    return
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                with server._lock:
                    n = server._counts[f"{api}:{name}"]
                    server._counts[f"{api}:{name}"] += 1
                    req = Request(api, mode, name, rest, body)
                    server.requests.append(req)
                status, payload = self._answer(api, mode, n, body)
                req.status = status
                self._json(status, payload)

            def _answer(self, api: str, mode: str, n: int, body: Any) -> tuple[int, Any]:
                if mode == "500" and n == 0:
                    if api == "sdwebui":
                        return 500, {
                            "error": "OutOfMemoryError",
                            "detail": "",
                            "body": "",
                            "errors": "CUDA out of memory. Tried to allocate 2.00 GiB",
                        }
                    return 500, {
                        "error": {
                            "message": "The server had an error processing your request.",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    }
                if mode == "400":
                    if api == "sdwebui":
                        return 400, {
                            "error": "HTTPException",
                            "detail": "Sampler not found: Euler z",
                            "body": "",
                            "errors": "",
                        }
                    return 400, {
                        "error": {
                            "message": "Your request was rejected as a result of our safety "
                            "system.",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "content_policy_violation",
                        }
                    }
                try:
                    if api == "sdwebui":
                        prompt, width, height, seed = check_txt2img(body)
                    else:
                        prompt, width, height, fmt = check_generation(body)
                except BadRequest as exc:
                    if api == "sdwebui":
                        loc = ["body", exc.param] if exc.param else ["body"]
                        return 422, {
                            "detail": [{"loc": loc, "msg": str(exc), "type": "value_error"}]
                        }
                    return 400, {
                        "error": {
                            "message": str(exc),
                            "type": "invalid_request_error",
                            "param": exc.param,
                            "code": None,
                        }
                    }
                png = draw_png(prompt, width, height)
                b64 = base64.b64encode(png).decode()
                if mode == "garbage":
                    b64 = base64.b64encode(b"<html>not a picture</html>").decode()
                if api == "sdwebui":
                    info = {"prompt": prompt, "seed": seed, "width": width, "height": height}
                    return 200, {"images": [b64], "parameters": body, "info": json.dumps(info)}
                item: dict[str, Any] = {"revised_prompt": prompt}
                if fmt == "b64_json":
                    item["b64_json"] = b64
                else:
                    with server._lock:
                        key = len(server._files) + 1
                        server._files[key] = png
                    item["url"] = f"http://127.0.0.1:{server.port}/files/{key}.png"
                return 200, {"created": int(time.time()), "data": [item]}

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    srv = ImageServer(args.host, args.port)
    print(f"serving on http://{args.host}:{srv.port}", flush=True)
    srv._httpd.serve_forever()


if __name__ == "__main__":
    main()
