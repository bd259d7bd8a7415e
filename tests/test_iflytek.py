"""The iFLYTEK long-form ASR engine against a local server speaking its v2 protocol.

The server (``tests/servers/iflytek_server.py``) runs in this process on 127.0.0.1 and
checks what the real service checks (signature, ``ts`` freshness, parameters, body
size, decodable audio, order ids, the 100-query limit); its results come from
``tests/data/transcripts/jfk_tiny.en.json``, the words and times faster-whisper
tiny.en gives for ``tests/data/jfk.flac`` (made with ``vidpipe.transcribe(...,
model="tiny.en", language="en", word_timestamps=True)``, times rounded to 1 ms).
No request ever leaves 127.0.0.1: ``VIDPIPE_IFLYTEK_BASE`` always points at the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pysubs2
import pytest

import vidpipe
from conftest import DATA
from test_cli import assert_one_line_error as one_line_error
from vidpipe.config import reset_settings
from vidpipe.errors import EXIT_REMOTE, EXIT_USAGE, RemoteError, UsageError
from vidpipe.speech.engine import SAMPLE_RATE, ASREngine, TranscribeOptions
from vidpipe.speech.iflytek import (
    MAX_RESULT_QUERIES,
    IflytekEngine,
    IflytekError,
    order_result_to_segments,
    service_language,
    signa,
)

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS / "servers"))
from iflytek_server import LfasrServer, signature  # noqa: E402

JFK = DATA / "jfk.flac"
REFERENCE = json.loads((DATA / "transcripts" / "jfk_tiny.en.json").read_text(encoding="utf-8"))
REF_WORDS = REFERENCE["segments"][0]["words"]
APP_ID, SECRET = "5f30a0b3", "0123456789abcdef0123456789abcdef"
#: start, end of the two sentences the server makes of the reference (cut after "you,"), s
SENTENCES = [0.0, 8.28, 8.34, 10.5]
FAST = {"poll_interval": 0.02, "poll_max": 0.08, "timeout": 20.0}


@pytest.fixture(scope="module")
def server():
    with LfasrServer(APP_ID, SECRET, REFERENCE) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh(server: LfasrServer, monkeypatch: pytest.MonkeyPatch):
    server.reset()
    monkeypatch.setenv("VIDPIPE_IFLYTEK_APPID", APP_ID)
    monkeypatch.setenv("VIDPIPE_IFLYTEK_SECRET", SECRET)
    monkeypatch.setenv("VIDPIPE_IFLYTEK_BASE", server.url)
    monkeypatch.setenv("VIDPIPE_IFLYTEK_POLL_INTERVAL", "0.02")
    monkeypatch.setenv("VIDPIPE_IFLYTEK_POLL_MAX", "0.08")
    monkeypatch.setenv("VIDPIPE_IFLYTEK_TIMEOUT", "20")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return vidpipe.decode_audio(JFK)


def engine(server: LfasrServer, **kw) -> IflytekEngine:
    return IflytekEngine(APP_ID, kw.pop("secret", SECRET), server.url, **{**FAST, **kw})


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, COLUMNS="200", NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        capture_output=True, text=True, timeout=120, env=full,
    )  # fmt: skip


def uploads(server: LfasrServer) -> list[dict]:
    return [r for r in server.requests if r["path"].endswith("/upload")]


# ---------------------------------------------------------------------- signing, parsing


def test_signa_documented_example() -> None:
    # the worked example of the API page (appid, ts and secret key from the doc)
    assert signa("595f23df", "d9f4aa7ea6d94faca62cd88a28fd5234", "1512041814") == (
        "IrrzsJeOFk1NGfJHW6SkHUoN9CU="
    )
    assert signature("595f23df", "d9f4aa7ea6d94faca62cd88a28fd5234", "1512041814") == (
        "IrrzsJeOFk1NGfJHW6SkHUoN9CU="
    )


def test_documented_order_result_example() -> None:
    # orderResult of the API page's getResult example (trimmed to its one sentence)
    ws = [("这", 1, 16), ("是", 17, 36), ("一", 37, 52), ("条", 53, 80), ("测试", 81, 116),
          ("音频", 117, 172)]  # fmt: skip
    items = [{"cw": [{"w": w, "wp": "n", "wc": "1.0000"}], "wb": b, "we": e} for w, b, e in ws]
    items += [
        {"cw": [{"w": "。", "wp": "p", "wc": "0.0000"}], "wb": 172, "we": 172},
        {"cw": [{"w": "", "wp": "g", "wc": "0.0000"}], "wb": 172, "we": 172},
    ]
    st = {"sc": "0.86", "pa": "0", "rt": [{"ws": items}], "bg": "50", "rl": "0", "ed": "1840"}
    result = json.dumps({"lattice": [{"json_1best": json.dumps({"st": st})}]})
    [seg] = order_result_to_segments(result, duration=1.878)
    assert (seg.start, seg.end, seg.text) == (0.05, 1.84, "这是一条测试音频。")
    assert [w.word for w in seg.words] == ["这", "是", "一", "条", "测试", "音频。"]
    assert seg.words[0].start == pytest.approx(0.06) and seg.words[0].end == pytest.approx(0.21)
    assert seg.words[-1].end == pytest.approx(1.77)


def test_malformed_results_are_remote_errors() -> None:
    for bad in ("not json", json.dumps({"x": 1}), json.dumps({"lattice": [{"json_1best": "{"}]})):
        with pytest.raises(RemoteError):
            order_result_to_segments(bad, duration=10)


def test_language_mapping() -> None:
    assert service_language(None) is None
    assert service_language("zh") == "cn" and service_language("en") == "en"
    assert service_language("yue") == "cn_cantonese"
    assert service_language("cn_xinanese") == "cn_xinanese"
    assert order_result_to_segments("", duration=5.0) == []  # finished, nothing heard
    with pytest.raises(UsageError, match="does not support language 'nl'"):
        service_language("nl")


def test_engine_satisfies_protocol(server: LfasrServer) -> None:
    assert isinstance(engine(server), ASREngine)


# ---------------------------------------------------------------------- end to end


def test_cli_writes_srt_and_json_with_the_service_times(server: LfasrServer, tmp_path) -> None:
    server.pending_polls = 3
    proc = run("transcribe", str(JFK), "--engine", "iflytek", "-l", "en",
               "-o", str(tmp_path), "-f", "srt,json,txt")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ask not what your country can do for you" in proc.stdout.lower()
    doc = json.loads((tmp_path / "jfk.json").read_text())
    assert doc["engine"] == "iflytek" and doc["model"] == "lfasr-v2"
    assert doc["language"] == "en" and doc["duration"] == pytest.approx(11.0, abs=0.01)
    times = [t for s in doc["segments"] for t in (s["start"], s["end"])]
    assert times == pytest.approx(SENTENCES, abs=0.0011)
    assert doc["segments"][0]["text"].startswith("And so my fellow Americans ask not")
    assert doc["segments"][1]["text"] == "ask what you can do for your country."
    subs = pysubs2.load(str(tmp_path / "jfk.srt"))
    # the 8.28 s sentence is split into readable cues (at most 7 s, by the service's word
    # times), which keep the sentence's bounds; the second sentence is one cue
    assert subs[0].start == 0 and all(e.end - e.start <= 7000 for e in subs)
    assert [e.end for e in subs].index(8280) == len(subs) - 2
    assert (subs[-1].start, subs[-1].end) == (8340, 10500)
    # what the server received: one raw FLAC upload, then pending + 1 queries
    [up] = uploads(server)
    assert up["params"]["language"] == "en" and up["params"]["fileName"] == "audio.flac"
    assert int(up["params"]["fileSize"]) == up["body_bytes"] > 0
    assert up["params"]["duration"] == "11000"
    assert up["content_type"] == "application/octet-stream"
    assert len(server.polls) == 4


def test_python_api_word_times(server: LfasrServer) -> None:
    tr = vidpipe.transcribe(JFK, engine="iflytek", language="en", word_timestamps=True)
    assert [w.word for w in tr.words] == [w["word"] for w in REF_WORDS]
    assert [w.start for w in tr.words] == pytest.approx([w["start"] for w in REF_WORDS], abs=0.01)
    assert [w.end for w in tr.words] == pytest.approx([w["end"] for w in REF_WORDS], abs=0.01)
    assert all(0 < w.probability <= 1 for w in tr.words)
    assert all(s.start <= w.start <= w.end <= s.end for s in tr.segments for w in s.words)


def test_engine_object_progress_and_no_words(server: LfasrServer, jfk) -> None:
    calls = []
    eng = engine(server)
    tr = eng.transcribe(jfk, TranscribeOptions(language="en"), lambda d, t: calls.append((d, t)))
    assert calls == [(0.0, pytest.approx(11.0)), (pytest.approx(11.0), pytest.approx(11.0))]
    assert all(s.words is None for s in tr.segments) and len(tr.segments) == 2
    assert tr.language == "en"


def test_untimed_words_keep_sentence_times(server: LfasrServer, jfk) -> None:
    server.timed_words = False  # as for languages other than Chinese and English
    tr = engine(server).transcribe(jfk, TranscribeOptions(language="en", word_timestamps=True))
    times = [t for s in tr.segments for t in (s.start, s.end)]
    assert times == pytest.approx(SENTENCES, abs=0.0011)
    assert all(s.words is None for s in tr.segments)


def test_no_language_sends_none_and_silent_order_is_empty(server: LfasrServer, jfk) -> None:
    server.fail_type = 6  # the service's "silent file"
    tr = engine(server).transcribe(jfk, TranscribeOptions())
    assert tr.segments == [] and tr.duration == pytest.approx(11.0)
    assert "language" not in uploads(server)[0]["params"]


def test_rate_limited_queries_are_retried(server: LfasrServer, jfk) -> None:
    server.result_codes = ["26603", "26605", "26603"]
    tr = engine(server).transcribe(jfk, TranscribeOptions(language="en"))
    assert len(tr.segments) == 2
    codes = [r["code"] for r in server.requests if r["path"].endswith("/getResult")]
    assert codes == ["26603", "26605", "26603", "000000"]  # every query counts, as documented


# ---------------------------------------------------------------------- polling


def test_backoff_seen_in_poll_counts(server: LfasrServer, jfk) -> None:
    server.pending_polls = 10**6
    eng = engine(server, poll_interval=0.02, poll_max=0.32, timeout=1.5)
    with pytest.raises(IflytekError, match=r"had no result after 1\.5 s") as info:
        eng.transcribe(jfk, TranscribeOptions(language="en"))
    times = [t for _, t in server.polls]
    # waits 0.02, 0.04, ... 0.32, 0.32: about 8 queries; a fixed 0.02 s would make ~75
    assert 3 <= len(times) <= 12, len(times)
    # a gap the server sees is the client's wait plus latency, never less: the waits grow
    # (the last wait is cut short by the timeout)
    gaps = np.diff(times)[:-1]
    expected = np.minimum(0.04 * 2.0 ** np.arange(len(gaps)), 0.32)
    assert np.all(gaps >= 0.9 * expected), (gaps, expected)
    assert info.value.order_id and info.value.order_id in str(info.value)


def test_query_budget_lasts_until_the_timeout(server: LfasrServer, jfk) -> None:
    server.pending_polls = 10**6
    eng = engine(server, poll_interval=0.002, poll_max=0.002, timeout=1.0)
    with pytest.raises(IflytekError, match="no result after") as info:
        eng.transcribe(jfk, TranscribeOptions(language="en"))
    assert info.value.code is None  # a timeout, not the service's 26604
    assert 10 <= len(server.polls) <= MAX_RESULT_QUERIES


def test_cli_timeout_one_line(server: LfasrServer, tmp_path) -> None:
    server.pending_polls = 10**6
    proc = run("transcribe", str(JFK), "--engine", "iflytek", "-q", "-o", str(tmp_path),
               env={"VIDPIPE_IFLYTEK_TIMEOUT": "0.5"})  # fmt: skip
    one_line_error(proc, EXIT_REMOTE, "no result after 0.5 s", "VIDPIPE_IFLYTEK_TIMEOUT")


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("setup", "env", "needles"),
    [
        ("bad_secret", {"VIDPIPE_IFLYTEK_SECRET": "wrong"}, ["code 26601", "signa verify fail",
                                                             "VIDPIPE_IFLYTEK_SECRET"]),
        ("failed_order", {}, ["failType 3", "recognition failed"]),
        ("forgotten", {}, ["code 26602", "does not exist"]),
        ("quota", {}, ["code 26625", "service hours", "xfyun.cn/services/lfasr"]),
        ("unknown_code", {}, ["code 26999", "undocumented"]),
        ("http_502", {}, ["HTTP 502", "VIDPIPE_IFLYTEK_BASE"]),
        ("language", {}, ["code 26607", "not authorised"]),
    ],
)  # fmt: skip
def test_cli_service_errors_one_line_exit_6(server, tmp_path, setup, env, needles) -> None:
    args = ["transcribe", str(JFK), "--engine", "iflytek", "-q", "-o", str(tmp_path)]
    if setup == "failed_order":
        server.fail_type = 3
    elif setup == "forgotten":
        server.forget_orders = True
    elif setup == "quota":
        server.upload_code = "26625"
    elif setup == "unknown_code":
        server.result_codes = ["26999"]
    elif setup == "http_502":
        server.http_status = 502
    elif setup == "language":
        args += ["-l", "ja"]  # documented, but not enabled for this app
    one_line_error(run(*args, env=env), EXIT_REMOTE, *needles)
    assert not list(tmp_path.iterdir())


def test_error_carries_the_code(server: LfasrServer, jfk) -> None:
    with pytest.raises(IflytekError) as info:
        engine(server, secret="wrong").transcribe(jfk, TranscribeOptions())
    assert info.value.code == "26601" and info.value.exit_code == EXIT_REMOTE


def test_missing_credentials_before_any_request(server: LfasrServer, tmp_path) -> None:
    proc = run("transcribe", str(JFK), "--engine", "iflytek", "-o", str(tmp_path),
               env={"VIDPIPE_IFLYTEK_APPID": ""})  # fmt: skip
    one_line_error(proc, EXIT_USAGE, "needs an app id", "VIDPIPE_IFLYTEK_APPID")
    assert server.requests == []
    with pytest.raises(UsageError) as info:
        IflytekEngine(APP_ID, "", server.url)
    assert "VIDPIPE_IFLYTEK_SECRET" in info.value.hint
    assert "VIDPIPE_IFLYTEK_APPID" not in info.value.hint


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["-l", "nl"], "language 'nl'"), (["--task", "translate"], "cannot translate")],
)
def test_usage_errors_before_any_request(server, tmp_path, args, needle) -> None:
    proc = run("transcribe", str(JFK), "--engine", "iflytek", "-o", str(tmp_path), *args)
    one_line_error(proc, EXIT_USAGE, needle)
    assert server.requests == []


def test_connection_refused(jfk) -> None:
    with socket.socket() as s:  # a port nobody listens on (127.0.0.1 only)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = IflytekEngine(APP_ID, SECRET, f"http://127.0.0.1:{port}/v2/api", **FAST)
    with pytest.raises(RemoteError, match=r"cannot connect to http://127\.0\.0\.1") as info:
        eng.transcribe(jfk, TranscribeOptions())
    assert info.value.exit_code == EXIT_REMOTE


def test_over_five_hours_is_refused_locally(server: LfasrServer) -> None:
    audio = np.zeros(int(5 * 3600 * SAMPLE_RATE) + SAMPLE_RATE, dtype=np.float32)
    with pytest.raises(UsageError, match="at most 5 h"):
        engine(server).transcribe(audio, TranscribeOptions())
    assert server.requests == []


def test_upload_limit_is_refused_locally(server: LfasrServer, jfk) -> None:
    with pytest.raises(UsageError, match="upload limit"):
        engine(server, max_upload_bytes=50_000).transcribe(jfk, TranscribeOptions())
    assert server.requests == []


# ---------------------------------------------------------------------- the server itself


def _signed(ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts_text = str(int(time.time()) if ts is None else ts)
    return {"appId": APP_ID, "ts": ts_text, "signa": signature(APP_ID, secret, ts_text)}


def test_server_refuses_stale_ts_forms_and_size_mismatch(server: LfasrServer) -> None:
    data = JFK.read_bytes()
    meta = {"fileName": "jfk.flac", "fileSize": str(len(data)), "duration": "11000"}
    with httpx.Client(base_url=server.url) as client:
        stale = client.post("/upload", params={**_signed(int(time.time()) - 3600), **meta},
                            content=data)  # fmt: skip
        form = client.post("/upload", params={**_signed(), **meta}, files={"file": data})
        short = client.post("/upload", params={**_signed(), **meta}, content=data[:-10])
        ok = client.post("/upload", params={**_signed(), **meta}, content=data)
        order = ok.json()["content"]["orderId"]
        first = client.get("/getResult", params={**_signed(), "orderId": order})
    assert stale.json() == {"code": "26601", "descInfo": "非法应用信息: ts expired"}
    assert form.json()["code"] == "26600"
    assert short.json()["code"] == "26635"
    assert ok.json()["code"] == "000000"
    assert first.json()["content"]["orderInfo"]["status"] == 0
    assert first.json()["content"]["orderInfo"]["realDuration"] == 11000
