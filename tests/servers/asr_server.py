"""A real OpenAI-compatible ASR server for vidpipe's tests.

Runs faster-whisper-server 0.0.3 (``faster_whisper_server.api.app``) with one
CTranslate2 Whisper model, behind an ASGI middleware that

- enforces an upload limit on ``/v1/audio/*``: a request body larger than the limit
  is answered ``413`` with an OpenAI-style error (``{"error": {"message", "type",
  "code"}}``), the way a proxy's ``client_max_body_size`` or OpenAI's 25 MB limit
  would. The limit is ``--max-upload-bytes`` (0 = none);
- appends one JSON line per request to ``--log``: ``path``, ``limit``,
  ``content_length`` (the header), ``body_bytes`` (counted), ``status``,
  ``authorization`` (the header), the ``filename`` and the small form ``fields``
  (name -> list of values), so tests can check what the client sent;
- changes behaviour per request through path prefixes before ``/v1`` (combinable,
  in any order), so one server process (one model load) serves every test:

  - ``/limit/<bytes>``: this request's upload limit, e.g.
    ``http://HOST:PORT/limit/150000/v1`` is the API with a 150 000-byte limit;
  - ``/key/<key>``: answer 401 (OpenAI-style error) unless the request carries
    ``Authorization: Bearer <key>``;
  - ``/broken``: answer 200 with an HTML page instead of JSON (a misconfigured proxy).

The model is registered under ``--model-name`` through a generated multi-model
config, so the server answers 400 "unknown model" unless the client sends
``model_name=<that name>`` (faster-whisper-server reads ``model_name``, not
OpenAI's ``model``).

Usage::

    python tests/servers/asr_server.py --model-path DIR --model-name tiny.en \\
        --port 8123 --log /tmp/requests.jsonl [--max-upload-bytes N] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

import uvicorn

_PREFIX = re.compile(r"^/(?:(limit)/(\d+)|(key)/([^/]+)|(broken))(/.*)$")
_PART_HEADER = re.compile(rb'name="([^"]*)"(?:; filename="([^"]*)")?')


def _form_fields(body: bytes, content_type: str) -> tuple[dict[str, list[str]], str | None]:
    """Small form fields (name -> values) and the uploaded file name of a multipart body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    fields: dict[str, list[str]] = {}
    filename = None
    if not match:
        return fields, filename
    for part in body.split(b"--" + match.group(1).encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        found = _PART_HEADER.search(head)
        if not found:
            continue
        name = found.group(1).decode()
        if found.group(2) is not None:
            filename = found.group(2).decode()
            continue
        fields.setdefault(name, []).append(value.removesuffix(b"\r\n").decode(errors="replace"))
    return fields, filename


class UploadLimit:
    """ASGI middleware: body-size limit, ``/limit/<n>`` prefix and a request log."""

    def __init__(self, app, limit: int, log_path: str | None) -> None:
        self.app = app
        self.limit = limit
        self.log_path = log_path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit
        key = None
        broken = False
        path = scope["path"]
        while match := _PREFIX.match(path):
            if match.group(1):
                limit = int(match.group(2))
            elif match.group(3):
                key = match.group(4)
            else:
                broken = True
            path = match.group(6)
        if path != scope["path"]:
            scope = dict(scope, path=path, raw_path=path.encode())
        if not path.startswith("/v1/audio/"):
            return await self.app(scope, receive, send)

        # Read the whole body (test uploads are small), so its real size is known.
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        fields, filename = _form_fields(body, headers.get("content-type", ""))
        record = {
            "path": path,
            "limit": limit,
            "content_length": int(headers.get("content-length", -1)),
            "body_bytes": len(body),
            "authorization": headers.get("authorization"),
            "filename": filename,
            "fields": fields,
        }

        async def send_logged(message):
            # log before the client can see the answer, so a test reading the log
            # right after its request returns finds the line
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                if self.log_path:
                    with open(self.log_path, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record) + "\n")
            await send(message)

        if key is not None and headers.get("authorization") != f"Bearer {key}":
            await _respond(
                send_logged,
                401,
                _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
            )
        elif limit and len(body) > limit:
            await _respond(
                send_logged,
                413,
                _error(
                    f"Request body of {len(body)} bytes exceeds the server's upload limit "
                    f"of {limit} bytes.",
                    "invalid_request_error",
                    "request_too_large",
                ),
            )
        elif broken:
            await _respond(
                send_logged, 200, b"<html><body>502 Bad Gateway</body></html>", b"text/html"
            )
        else:
            sent = False

            async def replay():
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send_logged)
        return None


def _error(message: str, kind: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


async def _respond(send, status: int, payload: bytes, content_type=b"application/json"):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", required=True, help="CTranslate2 Whisper model folder.")
    parser.add_argument("--model-name", default="tiny.en", help="Name clients send as model_name.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        default=int(os.environ.get("ASR_SERVER_MAX_UPLOAD_BYTES", "0")),
        help="Request body limit on /v1/audio/* in bytes (0 = none).",
    )
    parser.add_argument(
        "--log",
        default=os.environ.get("ASR_SERVER_LOG"),
        help="Append one JSON line per /v1/audio request here.",
    )
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads.")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper_server.api import app
    from faster_whisper_server.models import configure_models_from_config

    config = {
        "batch_size": 1,
        "models": [
            {
                "name": args.model_name,
                "path": str(Path(args.model_path).resolve()),
                "model_options": {
                    "device": "cpu",
                    "compute_type": "int8",
                    "cpu_threads": args.threads,
                },
            }
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="asr_server.", delete=False) as fh:
        json.dump(config, fh)  # JSON is valid YAML
    try:
        configure_models_from_config(fh.name)
    finally:
        os.unlink(fh.name)

    uvicorn.run(
        UploadLimit(app, args.max_upload_bytes, args.log),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
