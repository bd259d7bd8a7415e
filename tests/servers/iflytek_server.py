"""A local server speaking iFLYTEK's long-form ASR (LFASR) v2 protocol, for vidpipe's tests.

The real service (``https://raasr.xfyun.cn/v2/api``) cannot be reached from the test
machines, so this server implements its documented protocol
(https://www.xfyun.cn/doc/asr/ifasr_new/API.html, see ``vidpipe/speech/iflytek.py``):

``POST {prefix}/upload?appId&signa&ts&fileName&fileSize&duration[&language]`` (body: the
audio file) and ``GET|POST {prefix}/getResult?appId&signa&ts&orderId[&resultType]``,
answering ``{"code", "descInfo", "content"}`` JSON. What it checks, as the service does:

- the signature ``Base64(HmacSHA1(secret, hex(MD5(appId + ts))))``, the app id and the
  freshness of ``ts`` (within ``ts_window`` seconds of now; the window and the code a
  stale ``ts`` gets, 26601, are this server's choice: the doc gives neither);
- required parameters (26610), a form upload instead of a raw body (26600), the file
  size limit (26621) and ``fileSize`` against the body (26635), empty audio (26606),
  languages not enabled for the app (26607); the audio is decoded with PyAV to get its
  real duration (undecodable: 26643; over ``max_duration_ms``: 26622);
- unknown order ids (26602) and more than 100 result queries per order (26604).

An order answers status 0 (created) to its first query and 3 (processing) until it has
been queried ``pending_polls`` times, then 4 with an ``orderResult`` built from a real
vidpipe transcript (``tests/data/transcripts/*.json`` with word times): one ``lattice``
sentence per run of words ending in ``, . ? !``, ``bg``/``ed`` in milliseconds as
strings, one ``ws`` per word with ``wb``/``we`` in 10 ms frames relative to ``bg``,
punctuation as separate ``wp: "p"`` tokens and a closing ``wp: "g"`` mark, ``json_1best``
as a JSON string inside ``orderResult``, itself a JSON string (as in the doc's example).
Words starting after the uploaded audio's end are left out.

Failures on demand (attributes of :class:`LfasrServer`, restored by :meth:`reset`):
``fail_type`` (the order ends with status -1 and that failType), ``upload_code`` (the
upload answers that error code, e.g. 26625 for an exhausted quota), ``result_codes``
(codes answered to the next queries, e.g. 26603 rate limiting), ``forget_orders``
(orders vanish: 26602, as after the 72-hour retention), ``http_status`` (a proxy error
page) and ``timed_words=False`` (no ``wb``/``we``, as for languages other than zh/en).

Every request is appended to ``requests`` (path, method, params, content type, body
size, the code answered, monotonic time) and every result query to ``polls``.

Standalone::

    python tests/servers/iflytek_server.py --app-id ID --secret KEY \\
        --transcript tests/data/transcripts/jfk_tiny.en.json --port 8124
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

OK = "000000"
DOCUMENTED_LANGUAGES = {
    "cn", "en", "ja", "ko", "ru", "fr", "es", "vi", "ar", "de", "it", "pt", "th", "hi",
    "cn_xinanese", "cn_cantonese", "cn_henanese", "cn_uyghur", "cn_tibetan",
}  # fmt: skip
SENTENCE_END = (",", ".", "?", "!", "，", "。", "？", "！")
MAX_QUERIES = 100


def signature(app_id: str, secret: str, ts: str) -> str:
    """The documented ``signa`` (computed independently of vidpipe's code)."""
    md5 = hashlib.md5(f"{app_id}{ts}".encode()).hexdigest().encode()
    return base64.b64encode(hmac.new(secret.encode(), md5, hashlib.sha1).digest()).decode()


def audio_duration_ms(data: bytes) -> int:
    """Decode an audio file with PyAV; its duration in ms (raises on undecodable data)."""
    import av

    samples = 0
    rate = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
    if not rate:
        raise ValueError("no audio frames")
    return round(samples * 1000 / rate)


def order_result(transcript: dict[str, Any], real_ms: int, timed_words: bool = True) -> str:
    """Build ``orderResult`` (a JSON string) from a vidpipe transcript with word times."""
    words = [
        w
        for seg in transcript["segments"]
        for w in (seg.get("words") or [])
        if w["start"] * 1000 < real_ms
    ]
    sentences: list[list[dict]] = [[]]
    for w in words:
        sentences[-1].append(w)
        if w["word"].strip().endswith(SENTENCE_END):
            sentences.append([])
    lattice, lattice2 = [], []
    for sent in (s for s in sentences if s):
        bg = round(sent[0]["start"] * 1000)
        ed = min(round(sent[-1]["end"] * 1000), real_ms)
        ws = []
        for w in sent:
            text = w["word"].strip()
            core = text.rstrip("".join(SENTENCE_END))
            punct = text[len(core) :]
            frames = {}
            if timed_words:
                frames = {
                    "wb": round(w["start"] * 100 - bg / 10),
                    "we": round(w["end"] * 100 - bg / 10),
                }
            conf = f"{w.get('probability', 1.0):.4f}"
            ws.append({"cw": [{"w": core, "wp": "n", "wc": conf}], **frames})
            if punct:
                end = {"wb": frames["we"], "we": frames["we"]} if timed_words else {}
                ws.append({"cw": [{"w": punct, "wp": "p", "wc": "0.0000"}], **end})
        mark = {"wb": ws[-1]["we"], "we": ws[-1]["we"]} if timed_words else {}
        ws.append({"cw": [{"w": "", "wp": "g", "wc": "0.0000"}], **mark})
        st = {"sc": "0.86", "pa": "0", "rt": [{"ws": ws}], "bg": str(bg), "rl": "0", "ed": str(ed)}
        lattice.append({"json_1best": json.dumps({"st": st}, ensure_ascii=False)})
        lattice2.append(
            {
                "lid": str(len(lattice2)),
                "begin": str(bg),
                "end": str(ed),
                "json_1best": {"st": st},
                "spk": f"段落-{len(lattice2)}",
            }
        )
    return json.dumps({"lattice": lattice, "lattice2": lattice2}, ensure_ascii=False)


class LfasrServer:
    """The server, run in a daemon thread on 127.0.0.1 (a free port unless given).

    Args:
        app_id, secret: the credentials it accepts.
        transcript: a vidpipe Transcript as a dict, with word times (the source of results).
        prefix: the path of the API (``/v2/api`` like the service).
        ts_window: seconds a ``ts`` may differ from this server's clock.
        max_bytes, max_duration_ms: the limits (documented: 500 MB, 5 hours).
        languages: ``language`` values enabled for the app (others: 26607).
        pending_polls: queries an order stays in progress (status 0, then 3).
    """

    def __init__(
        self,
        app_id: str,
        secret: str,
        transcript: dict[str, Any],
        *,
        port: int = 0,
        prefix: str = "/v2/api",
        ts_window: float = 300.0,
        max_bytes: int = 500 * 1024 * 1024,
        max_duration_ms: int = 5 * 3600 * 1000,
        languages: set[str] | None = None,
        pending_polls: int = 2,
    ) -> None:
        self.app_id = app_id
        self.secret = secret
        self.transcript = transcript
        self.prefix = prefix.rstrip("/")
        self.ts_window = ts_window
        self.max_bytes = max_bytes
        self.max_duration_ms = max_duration_ms
        self.languages = languages or {"cn", "en"}
        self.default_pending = pending_polls
        self.orders: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.polls: list[tuple[str, float]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.reset()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give vidpipe (``VIDPIPE_IFLYTEK_BASE``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.prefix}"

    def reset(self) -> None:
        """Restore the default behaviour (no failures) and clear the logs."""
        self.pending_polls = self.default_pending
        self.fail_type: int | None = None
        self.upload_code: str | None = None
        self.result_codes: list[str] = []
        self.forget_orders = False
        self.http_status: int | None = None
        self.timed_words = True
        with self._lock:
            self.requests.clear()
            self.polls.clear()

    def start(self) -> LfasrServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LfasrServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ protocol

    def _auth(self, params: dict[str, str]) -> tuple[str, str] | None:
        for name in ("appId", "signa", "ts"):
            if not params.get(name):
                return "26610", f"参数错误: {name} is required"
        if params["appId"] != self.app_id:
            return "26601", "非法应用信息: unknown appId"
        try:
            ts = int(params["ts"])
        except ValueError:
            return "26610", "参数错误: ts must be an integer"
        if abs(time.time() - ts) > self.ts_window:
            return "26601", "非法应用信息: ts expired"
        expected = signature(self.app_id, self.secret, params["ts"])
        if not hmac.compare_digest(expected, params["signa"]):
            return "26601", "非法应用信息: signa verify fail"
        return None

    def upload(self, params: dict[str, str], content_type: str, body: bytes) -> dict[str, Any]:
        refused = self._auth(params)
        if refused:
            return _error(*refused)
        for name in ("fileName", "fileSize", "duration"):
            if params.get(name) in (None, ""):
                return _error("26610", f"参数错误: {name} is required")
        if content_type.startswith("multipart/form-data"):
            return _error("26600", "转写业务通用错误: 音频需上传二进制音频流数据")
        try:
            size, duration = int(params["fileSize"]), int(params["duration"])
        except ValueError:
            return _error("26610", "参数错误: fileSize and duration must be integers")
        if size > self.max_bytes:
            return _error("26621", "预处理文件大小受限（500M）")
        if len(body) != size:
            return _error("26635", f"文件长度校验失败: fileSize {size}, received {len(body)}")
        if not body:
            return _error("26606", "空音频，请检查")
        language = params.get("language", "cn")
        if language not in DOCUMENTED_LANGUAGES:
            return _error("26610", f"参数错误: language {language}")
        if language not in self.languages:
            return _error("26607", "转写语种未授权或已过有效期")
        if self.upload_code:
            return _error(self.upload_code, "on demand")
        try:
            real_ms = audio_duration_ms(body)
        except Exception:
            return _error("26643", "计算音频时长失败,请检查您的音频是否加密或者损坏")
        if real_ms > self.max_duration_ms:
            return _error("26622", "预处理音频时长受限（5小时）")
        order_id = f"DKHJQ{time.strftime('%Y%m%d%H%M%S')}{next(self._ids):08X}"
        with self._lock:
            self.orders[order_id] = {
                "queries": 0,
                "pending": self.pending_polls,
                "fail_type": self.fail_type,
                "original": duration,
                "real": real_ms,
                "timed": self.timed_words,
            }
        return {
            "code": OK,
            "descInfo": "success",
            "content": {"orderId": order_id, "taskEstimateTime": 28000},
        }

    def get_result(self, params: dict[str, str]) -> dict[str, Any]:
        refused = self._auth(params)
        if refused:
            return _error(*refused)
        order_id = params.get("orderId")
        if not order_id:
            return _error("26610", "参数错误: orderId is required")
        with self._lock:
            order = None if self.forget_orders else self.orders.get(order_id)
            if order is None:
                return _error("26602", "任务ID不存在")
            self.polls.append((order_id, time.monotonic()))
            order["queries"] += 1
            if order["queries"] > MAX_QUERIES:
                return _error("26604", "获取结果次数超过限制")
            if self.result_codes:
                return _error(self.result_codes.pop(0), "on demand")
            queries = order["queries"]
        info = {
            "orderId": order_id,
            "failType": 0,
            "status": 0 if queries == 1 else 3,
            "originalDuration": order["original"],
            "realDuration": order["real"],
        }
        content: dict[str, Any] = {"orderInfo": info, "orderResult": "", "taskEstimateTime": 5000}
        if queries > order["pending"]:
            if order["fail_type"] is not None:
                info.update(status=-1, failType=order["fail_type"])
            else:
                info["status"] = 4
                content["orderResult"] = order_result(
                    self.transcript, order["real"], order["timed"]
                )
                content["taskEstimateTime"] = 0
        return {"code": OK, "descInfo": "success", "content": content}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type") or ""
                entry = {
                    "path": url.path,
                    "method": method,
                    "params": params,
                    "content_type": content_type,
                    "body_bytes": len(body),
                    "time": time.monotonic(),
                }
                ctype = "application/json"
                if server.http_status:
                    status, data = server.http_status, b"<html>502 Bad Gateway</html>"
                    ctype = "text/html"
                    entry["code"] = f"HTTP {server.http_status}"
                elif url.path == f"{server.prefix}/upload" and method == "POST":
                    answer = server.upload(params, content_type, body)
                    status, data = 200, json.dumps(answer, ensure_ascii=False).encode()
                    entry["code"] = answer["code"]
                elif url.path == f"{server.prefix}/getResult":
                    answer = server.get_result(params)
                    status, data = 200, json.dumps(answer, ensure_ascii=False).encode()
                    entry["code"] = answer["code"]
                else:
                    status, data = 404, b'{"error":"not found"}'
                    entry["code"] = "HTTP 404"
                with server._lock:  # logged before answering: the client sees a complete log
                    server.requests.append(entry)
                self._send(status, data, ctype)

            def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", f"{ctype};charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def _error(code: str, desc: str) -> dict[str, Any]:
    return {"code": code, "descInfo": desc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--transcript", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pending", type=int, default=2)
    args = parser.parse_args()
    transcript = json.loads(args.transcript.read_text(encoding="utf-8"))
    server = LfasrServer(
        args.app_id, args.secret, transcript, port=args.port, pending_polls=args.pending
    )
    print(server.url, flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
