"""The one OpenAI-compatible client helper (:mod:`vidpipe.remote`) against a real local
HTTP server that answers 401, 404, 429, 500, a stall and garbage; and the layer rule
that goes with it: building blocks never read settings or the environment."""

from __future__ import annotations

import ast
import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vidpipe import remote
from vidpipe.errors import EXIT_REMOTE, RemoteError, UsageError
from vidpipe.retry import PLACEHOLDER_API_KEY, RetryPolicy

SRC = Path(__file__).resolve().parents[1] / "src" / "vidpipe"
BUILDING_BLOCKS = ("media", "speech", "text", "vision", "embed", "speakers")

HINTS = remote.Hints.named("BASE_SETTING", "KEY_SETTING", retries="lower RPM_SETTING")


class Server:
    """``POST /<mode>/v1/chat/completions`` answers by ``mode``; counts requests per mode."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.auth: list[str] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def base(self, mode: str) -> str:
        return f"{self.root}/{mode}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = self.path.strip("/").split("/")[0]
                with server.lock:
                    n = server.counts[mode]
                    server.counts[mode] += 1
                    server.auth.append(self.headers.get("Authorization", ""))

                def error(status: int, message: str, **headers: str) -> None:
                    body = json.dumps({"error": {"message": message, "type": "test"}})
                    self.send(status, body.encode(), "application/json", **headers)

                if mode == "401":
                    error(401, "Incorrect API key provided")
                elif mode == "404":
                    self.send(404, b"404 page not found", "text/plain")
                elif mode == "429" and n < 2:
                    error(429, "Rate limit reached", Retry_After="7")
                elif mode == "500":
                    error(500, "the model crashed")
                elif mode == "stall" and n == 0:
                    time.sleep(2.0)
                    error(500, "too late")
                elif mode == "garbage":
                    self.send(200, b"{this is not json", "application/json")
                else:
                    answer = {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "m",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": f"reply {n}"},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                    self.send(200, json.dumps(answer).encode(), "application/json")

        return Handler


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def ask(base: str, *, retries: int = 3, timeout: float = 5.0, key: str | None = None):
    """One chat request through remote.call; returns (answer or error, waits asked for)."""
    client = remote.make_client(base, key, timeout)
    waits: list[float] = []

    def send():
        return client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    try:
        reply = remote.call(
            send,
            where=base,
            policy=RetryPolicy(retries, backoff=0.01, max_backoff=0.01),
            timeout=timeout,
            hints=HINTS,
            sleep=waits.append,
        )
    except RemoteError as exc:
        return exc, waits
    return reply.choices[0].message.content, waits


def test_401_names_the_key_setting_and_is_not_retried(server: Server) -> None:
    err, waits = ask(server.base("401"))
    assert isinstance(err, RemoteError) and err.exit_code == EXIT_REMOTE
    assert "rejected the API key (HTTP 401)" in err.message
    assert "Incorrect API key provided" in err.message  # the server's own words
    assert err.hint == "check KEY_SETTING"
    assert server.counts["401"] == 1 and waits == []
    assert server.auth[-1] == f"Bearer {PLACEHOLDER_API_KEY}"  # no key: the placeholder


def test_404_points_at_the_base_url(server: Server) -> None:
    err, _ = ask(server.base("404"))
    assert isinstance(err, RemoteError)
    assert "not found (HTTP 404)" in err.message and "404 page not found" in err.message
    assert err.hint == "check BASE_SETTING (it usually ends in /v1)"
    assert server.counts["404"] == 1


def test_429_is_retried_after_what_the_server_asked(server: Server) -> None:
    answer, waits = ask(server.base("429"), key="k")
    assert answer == "reply 2" and server.counts["429"] == 3
    assert waits == [7.0, 7.0]  # Retry-After: 7, twice
    assert server.auth[-1] == "Bearer k"


def test_500_gives_up_after_the_retries(server: Server) -> None:
    err, waits = ask(server.base("500"), retries=2)
    assert isinstance(err, RemoteError)
    line = err.one_line()
    assert line.startswith(f"{server.base('500')} failed after 3 attempts: HTTP 500")
    assert "the model crashed" in line and "lower RPM_SETTING" in line and "\n" not in line
    assert server.counts["500"] == 3 and len(waits) == 2
    assert all(0 <= w <= 0.01 for w in waits)  # backoff, no Retry-After


def test_garbage_is_one_line_and_not_retried(server: Server) -> None:
    err, waits = ask(server.base("garbage"))
    assert isinstance(err, RemoteError) and "\n" not in err.one_line()
    assert "not the expected JSON" in err.message and "{this is not json" in err.message
    assert server.counts["garbage"] == 1 and waits == []


def test_timeout_is_retried(server: Server) -> None:
    answer, waits = ask(server.base("stall"), timeout=0.5)
    assert answer == "reply 1" and len(waits) == 1


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err, waits = ask(f"http://127.0.0.1:{port}/v1", retries=1)
    assert isinstance(err, RemoteError)
    assert err.message.startswith(f"cannot reach http://127.0.0.1:{port}/v1: connection failed")
    assert "connection refused" in err.message and "(2 attempts)" in err.message
    assert err.hint == "check that the server runs and BASE_SETTING is right"
    assert len(waits) == 1


def test_other_exceptions_pass_through() -> None:
    def boom():
        raise KeyError("not a client error")

    with pytest.raises(KeyError):
        remote.call(boom, where="x", policy=RetryPolicy(3), timeout=1.0)


def test_check_endpoint_names_the_settings() -> None:
    remote.check_endpoint("http://127.0.0.1:1/v1", None, "w", "BASE", "KEY")
    remote.check_endpoint(None, "sk-real", "w", "BASE", "KEY")
    remote.check_endpoint(None, None, "w", "BASE", "KEY", client_base="http://h/v1")
    with pytest.raises(UsageError) as info:
        remote.check_endpoint(
            None, PLACEHOLDER_API_KEY, "the openai text backend", "VIDPIPE_LLM_BASE",
            "VIDPIPE_LLM_KEY or OPENAI_API_KEY", option="--llm-base", client_base="",
        )  # fmt: skip
    line = info.value.one_line()
    assert "the openai text backend has no endpoint" in line
    assert all(s in line for s in ("VIDPIPE_LLM_BASE", "--llm-base", "OPENAI_API_KEY"))


# ------------------------------------------------------------------ layer rule


def _settings_reads(path: Path, root: Path = SRC) -> list[str]:
    """``get_settings`` uses, ``os.environ`` / ``os.getenv`` uses and imports of them or
    of ``Settings`` in one file; an import under ``if TYPE_CHECKING:`` (a type hint,
    never run) does not count."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    guarded = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                name = f"os.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "vidpipe.config"):
            bad = {"environ", "getenv", "get_settings", "Settings"}
            hits = [a.name for a in node.names if a.name in bad]
            if hits and id(node) not in guarded:
                name = f"from {node.module} import {', '.join(hits)}"
        elif isinstance(node, ast.Name) and node.id == "get_settings":
            name = "get_settings"
        if name:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return found


def test_building_blocks_read_no_settings_or_environment() -> None:
    """DESIGN.md: settings are resolved at the front ends and passed down; media/,
    speech/, text/, vision/, embed/ and speakers/ never read them."""
    files = [p for pkg in BUILDING_BLOCKS for p in sorted((SRC / pkg).rglob("*.py"))]
    assert len(files) > 30
    assert [hit for path in files for hit in _settings_reads(path)] == []


def test_the_scan_sees_a_settings_read(tmp_path: Path) -> None:
    """The scan above can fail: it finds each kind of read in a made-up module."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nfrom typing import TYPE_CHECKING\n"
        "from vidpipe.config import get_settings\n"
        "if TYPE_CHECKING:\n    from vidpipe.config import Settings\n"
        "a = os.environ.get('X')\nb = os.getenv('Y')\nc = get_settings().home\n"
    )
    hits = _settings_reads(bad, tmp_path)
    assert sorted(hits) == [
        "bad.py:3: from vidpipe.config import get_settings",
        "bad.py:6: os.environ",
        "bad.py:7: os.getenv",
        "bad.py:8: get_settings",
    ]
