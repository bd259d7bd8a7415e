"""Downloads against a real fault-injecting HTTP server on 127.0.0.1 (tests/servers/http_media.py).

Each fault of the server ends in the right final state with a one-line reason; the
bytes of every finished download are the original file's (sha256); concurrency,
per-host limits, request pacing and the sliding window are checked from the
server's own request log.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA, call_with_timeout
from servers.http_media import MediaServer
from vidpipe.library.download import (
    DownloadLimits,
    DownloadResult,
    download_all,
    download_many,
    download_page,
    part_path,
    sniff_media,
)

#: name in the served folder -> source file in tests/data
FILES = {
    "bunny.mp4": DATA / "video" / "lhotse_big_buck_bunny_small.mp4",
    "example.mp4": DATA / "video" / "moviepy_example.mp4",
    "clip.webm": DATA / "video" / "moviepy_transparent.webm",
    "streams.ogv": DATA / "video" / "tinytag_multi_stream.ogv",
    "jfk.flac": DATA / "jfk.flac",
    "jfk.mp3": DATA / "jfk.mp3",
    "speech.wav": DATA / "en_dev" / "LJ001-0001.wav",
}
N_SMALL = 12  # copies of the small webm, for concurrency tests

#: quick limits for tests: small timeouts and backoff
FAST = {"connect_timeout": 2.0, "read_timeout": 2.0, "backoff_base": 0.05, "backoff_max": 2.0}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    for name, src in FILES.items():
        shutil.copyfile(src, root / name)
    for i in range(N_SMALL):
        shutil.copyfile(FILES["clip.webm"], root / f"small{i:02d}.webm")
    return root


@pytest.fixture
def server(media_root: Path):
    with MediaServer(media_root, stall=5.0, slow_delay=1.5) as srv:
        yield srv


def run(items, timeout: float = 20.0, **limits) -> list[DownloadResult]:
    merged = {**FAST, **limits}
    return call_with_timeout(download_many, items, DownloadLimits(**merged), timeout=timeout)


def one(server: MediaServer, tmp_path: Path, name: str, fault: str | None = None, **limits):
    dest = tmp_path / "out" / f"{fault or 'ok'}-{name}"
    [result] = run([("k", server.url(name, fault), dest)], **limits)
    return result, dest


def assert_failed(result: DownloadResult, dest: Path, error: str, reason: str) -> None:
    assert result.status == "failed", result
    assert result.error == error, result
    assert reason in result.reason, result
    assert "\n" not in result.reason
    assert result.path is None and result.sha256 is None
    assert not dest.exists(), "a failed download must not leave the destination"


# -- good files --------------------------------------------------------------------


def test_downloads_real_media_with_sha256(server: MediaServer, media_root: Path, tmp_path: Path):
    names = list(FILES)
    items = [(i, server.url(name), tmp_path / "out" / name) for i, name in enumerate(names)]
    seen: list[DownloadResult] = []
    results = call_with_timeout(
        download_many, items, DownloadLimits(**FAST), on_result=seen.append, timeout=20
    )
    assert [r.key for r in results] == list(range(len(names)))  # input order
    assert sorted(r.key for r in seen) == list(range(len(names)))  # each reported once
    types = {r.url.rsplit("/", 1)[1]: r.content_type for r in results}
    for name, result in zip(names, results, strict=True):
        assert result.status == "done", result
        assert result.path == tmp_path / "out" / name
        assert result.sha256 == sha256(media_root / name)
        assert result.size == (media_root / name).stat().st_size
        assert result.attempts == 1 and result.resumed_bytes == 0
        assert not part_path(result.path).exists()
    assert types["bunny.mp4"] == "video/mp4"
    assert types["jfk.flac"] == "audio/flac"
    for name in names:
        assert server.full_downloads(name) == 1


def test_progress_reports_bytes_and_total(server: MediaServer, media_root: Path, tmp_path: Path):
    calls: list[tuple] = []
    items = [("bunny", server.url("bunny.mp4"), tmp_path / "b.mp4")]
    call_with_timeout(
        download_many, items, DownloadLimits(**FAST), None, lambda *a: calls.append(a)
    )
    size = (media_root / "bunny.mp4").stat().st_size
    assert calls and all(key == "bunny" and total == size for key, _, total in calls)
    done = [d for _, d, _ in calls]
    assert done == sorted(done) and done[-1] == size


# -- faults ------------------------------------------------------------------------


def test_404_fails_at_once(server: MediaServer, tmp_path: Path):
    result, dest = one(server, tmp_path, "bunny.mp4", "404", retries=3)
    assert_failed(result, dest, "HTTPStatusError", "HTTP 404 Not Found")
    assert result.attempts == 1  # a 4xx is not retried
    assert not part_path(dest).exists()


def test_500_then_200_succeeds_after_retry(server: MediaServer, media_root: Path, tmp_path: Path):
    result, _ = one(server, tmp_path, "bunny.mp4", "500then200")
    assert result.status == "done", result
    assert result.attempts == 2
    assert result.sha256 == sha256(media_root / "bunny.mp4")
    assert [r["status"] for r in server.requests_for("bunny.mp4")] == [500, 200]


def test_429_waits_for_retry_after(server: MediaServer, media_root: Path, tmp_path: Path):
    result, _ = one(server, tmp_path, "bunny.mp4", "429", backoff_base=0.01)
    assert result.status == "done", result
    first, second = server.requests_for("bunny.mp4")
    assert (first["status"], second["status"]) == (429, 200)
    assert second["started"] - first["started"] >= 0.95  # Retry-After: 1
    assert result.sha256 == sha256(media_root / "bunny.mp4")


def test_reset_mid_body_resumes_with_range(server: MediaServer, media_root: Path, tmp_path: Path):
    result, dest = one(server, tmp_path, "example.mp4", "reset")
    assert result.status == "done", result
    assert result.sha256 == sha256(media_root / "example.mp4")
    assert dest.read_bytes() == (media_root / "example.mp4").read_bytes()
    assert result.resumed_bytes > 0
    first, second = server.requests_for("example.mp4")
    assert first["range"] is None and first["status"] == 200
    assert second["range"] == f"bytes={result.resumed_bytes}-" and second["status"] == 206
    assert server.full_downloads("example.mp4") == 0  # nothing was sent twice in full


def test_trickle_times_out(server: MediaServer, tmp_path: Path):
    start = time.monotonic()
    result, dest = one(server, tmp_path, "bunny.mp4", "trickle", read_timeout=0.5, retries=1)
    assert_failed(result, dest, "Timeout", "timed out")
    assert result.attempts == 2
    assert time.monotonic() - start < 4.0


@pytest.mark.parametrize("fault", ["html", "htmlmislabeled"])
def test_html_is_not_media(server: MediaServer, tmp_path: Path, fault: str):
    result, dest = one(server, tmp_path, "bunny.mp4", fault)
    assert_failed(result, dest, "NotMedia", "HTML page, not media")
    assert result.attempts == 1
    assert not part_path(dest).exists()


def test_oversize_fails_before_the_body(server: MediaServer, tmp_path: Path):
    result, dest = one(server, tmp_path, "bunny.mp4", "oversize", max_bytes=10_000_000)
    assert_failed(result, dest, "TooLarge", "over the 10.0 MB limit")
    assert result.attempts == 1
    assert not part_path(dest).exists()


def test_size_limit_enforced_while_streaming(server: MediaServer, tmp_path: Path):
    # no Content-Length: only the streamed byte count can tell
    result, dest = one(server, tmp_path, "example.mp4", "nolength", max_bytes=300_000)
    assert_failed(result, dest, "TooLarge", "over the 0.3 MB limit")
    assert not part_path(dest).exists()


def test_no_content_length_is_fine_under_the_limit(
    server: MediaServer, media_root: Path, tmp_path: Path
):
    result, _ = one(server, tmp_path, "bunny.mp4", "nolength")
    assert result.status == "done", result
    assert result.sha256 == sha256(media_root / "bunny.mp4")


def test_redirect_loop(server: MediaServer, tmp_path: Path):
    result, dest = one(server, tmp_path, "bunny.mp4", "redirectloop", max_redirects=5)
    assert_failed(result, dest, "TooManyRedirects", "more than 5 redirects")
    assert len(server.requests_for("bunny.mp4")) == 6
    assert all(r["status"] == 302 for r in server.requests_for("bunny.mp4"))


def test_connection_refused(tmp_path: Path, media_root: Path):
    with MediaServer(media_root) as srv:
        url = srv.url("bunny.mp4")
    # the server is gone: nothing listens on that port any more
    [result] = run([("k", url, tmp_path / "x.mp4")], retries=2)
    assert_failed(result, tmp_path / "x.mp4", "ConnectError", "cannot connect")
    assert result.attempts == 3


def test_malformed_url_is_rejected_without_a_request(server: MediaServer, tmp_path: Path):
    glued = server.url("bunny.mp4") + server.url("clip.webm")
    [result] = run([("k", glued, tmp_path / "x.mp4")])
    assert_failed(result, tmp_path / "x.mp4", "InvalidURL", "two URLs glued together")
    assert result.attempts == 0 and server.requests == []


def test_duplicate_destination(server: MediaServer, tmp_path: Path):
    dest = tmp_path / "same.mp4"
    results = run([(1, server.url("bunny.mp4"), dest), (2, server.url("example.mp4"), dest)])
    assert results[0].status == "done"
    assert results[1].error == "DuplicateDestination"


def test_missing_file_on_server(server: MediaServer, tmp_path: Path):
    result, dest = one(server, tmp_path, "nothere.mp4")
    assert_failed(result, dest, "HTTPStatusError", "HTTP 404")


# -- resume across runs ------------------------------------------------------------------


def test_existing_part_is_resumed(server: MediaServer, media_root: Path, tmp_path: Path):
    original = (media_root / "example.mp4").read_bytes()
    dest = tmp_path / "example.mp4"
    part_path(dest).write_bytes(original[:100_000])  # left by a killed run
    [result] = run([("k", server.url("example.mp4"), dest)])
    assert result.status == "done", result
    assert result.resumed_bytes == 100_000
    assert result.sha256 == hashlib.sha256(original).hexdigest()
    assert dest.read_bytes() == original and not part_path(dest).exists()
    [request] = server.requests_for("example.mp4")
    assert request["range"] == "bytes=100000-" and request["status"] == 206
    assert request["bytes_sent"] == len(original) - 100_000
    assert server.full_downloads("example.mp4") == 0


def test_complete_part_is_finished_without_the_body(
    server: MediaServer, media_root: Path, tmp_path: Path
):
    original = (media_root / "bunny.mp4").read_bytes()
    dest = tmp_path / "bunny.mp4"
    part_path(dest).write_bytes(original)
    [result] = run([("k", server.url("bunny.mp4"), dest)])
    assert result.status == "done" and result.sha256 == hashlib.sha256(original).hexdigest()
    assert result.resumed_bytes == len(original)
    assert [r["status"] for r in server.requests_for("bunny.mp4")] == [416]


def test_part_longer_than_the_file_restarts(server: MediaServer, media_root: Path, tmp_path: Path):
    original = (media_root / "bunny.mp4").read_bytes()
    dest = tmp_path / "bunny.mp4"
    part_path(dest).write_bytes(original + b"junk" * 1000)
    [result] = run([("k", server.url("bunny.mp4"), dest)])
    assert result.status == "done" and dest.read_bytes() == original
    assert result.resumed_bytes == 0
    assert [r["status"] for r in server.requests_for("bunny.mp4")] == [416, 200]


def test_server_ignoring_range_restarts_from_zero(
    server: MediaServer, media_root: Path, tmp_path: Path
):
    original = (media_root / "bunny.mp4").read_bytes()
    dest = tmp_path / "bunny.mp4"
    part_path(dest).write_bytes(b"stale bytes from another version of the file")
    # the nolength route ignores Range and answers 200 with the whole file
    [result] = run([("k", server.url("bunny.mp4", "nolength"), dest)])
    assert result.status == "done" and dest.read_bytes() == original
    assert result.resumed_bytes == 0
    assert result.sha256 == hashlib.sha256(original).hexdigest()
    [request] = server.requests_for("bunny.mp4")
    assert request["range"] is not None and request["status"] == 200


def test_cancelled_run_leaves_a_part_that_the_next_run_resumes(
    server: MediaServer, media_root: Path, tmp_path: Path
):
    dest = tmp_path / "bunny.mp4"
    items = [("k", server.url("bunny.mp4", "trickle"), dest)]  # 16 bytes, then a stall

    async def interrupted() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(download_all(items, DownloadLimits(**FAST)), 0.5)

    call_with_timeout(asyncio.run, interrupted())
    assert not dest.exists() and part_path(dest).stat().st_size == 16
    [result] = run([("k", server.url("bunny.mp4"), dest)])
    assert result.status == "done" and result.resumed_bytes == 16
    assert result.sha256 == sha256(media_root / "bunny.mp4")
    assert server.full_downloads("bunny.mp4") == 0


# -- scheduling -----------------------------------------------------------------------------


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:  # ends sort before starts at the same instant
        now += step
        best = max(best, now)
    return best


def test_global_and_per_host_limits(media_root: Path, tmp_path: Path):
    with (
        MediaServer(media_root, latency=(0.03, 0.08), seed=1) as a,
        MediaServer(media_root, latency=(0.03, 0.08), seed=2) as b,
    ):
        items = []
        for i in range(N_SMALL):
            name = f"small{i:02d}.webm"
            items.append((("a", i), a.url(name), tmp_path / "a" / name))
            items.append((("b", i), b.url(name), tmp_path / "b" / name))
        results = run(items, concurrency=3, per_host=2)
        assert all(r.status == "done" for r in results)
        spans_a = [(r["started"], r["ended"]) for r in a.requests]
        spans_b = [(r["started"], r["ended"]) for r in b.requests]
    assert len(spans_a) == len(spans_b) == N_SMALL
    assert a.max_in_flight == 2 and b.max_in_flight == 2  # per host: reached, never exceeded
    assert 2 <= _max_overlap(spans_a + spans_b) <= 3  # global


def test_sliding_window_not_fixed_groups(server: MediaServer, tmp_path: Path):
    # one slow file first, then fast ones: with fixed groups of 2 the slow file would hold
    # up its group; with a sliding window every fast file finishes before the slow one.
    items = [("slow", server.url("bunny.mp4", "slow"), tmp_path / "slow.mp4")]
    items += [
        (i, server.url(f"small{i:02d}.webm"), tmp_path / f"small{i:02d}.webm")
        for i in range(N_SMALL)
    ]
    order: list = []
    results = call_with_timeout(
        download_many,
        items,
        DownloadLimits(**FAST, concurrency=2, per_host=2),
        lambda r: order.append(r.key),
        timeout=20,
    )
    assert all(r.status == "done" for r in results)
    assert order[-1] == "slow"
    assert sorted(order[:-1]) == list(range(N_SMALL))


def test_rps_per_host_spaces_request_starts(server: MediaServer, tmp_path: Path):
    items = [(i, server.url(f"small{i:02d}.webm"), tmp_path / f"{i}.webm") for i in range(6)]
    results = run(items, concurrency=6, per_host=6, rps_per_host=10.0)
    assert all(r.status == "done" for r in results)
    starts = sorted(r["started"] for r in server.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 1 / 10 rps = 0.1 s apart at the client; the server's arrival times add each
    # request's own latency (one gap of 0.06 s seen on a busy machine), so the spacing
    # is checked over the whole run; without the limiter all six arrive within ~10 ms.
    assert starts[-1] - starts[0] >= 0.45, gaps
    assert sum(g < 0.04 for g in gaps) <= 1, gaps


def test_on_result_error_propagates(server: MediaServer, tmp_path: Path):
    def boom(result: DownloadResult) -> None:
        raise RuntimeError("catalog is down")

    items = [(i, server.url("bunny.mp4"), tmp_path / f"{i}.mp4") for i in range(3)]
    with pytest.raises(RuntimeError, match="catalog is down"):
        call_with_timeout(download_many, items, DownloadLimits(**FAST), boom)


def test_download_all_with_caller_client(server: MediaServer, media_root: Path, tmp_path: Path):
    import httpx

    async def main() -> list[DownloadResult]:
        async with httpx.AsyncClient() as client:
            items = [("k", server.url("jfk.flac"), tmp_path / "jfk.flac")]
            results = await download_all(items, DownloadLimits(**FAST), client=client)
            assert not client.is_closed  # the caller's client is left open
            return results

    [result] = call_with_timeout(asyncio.run, main())
    assert result.status == "done" and result.sha256 == sha256(media_root / "jfk.flac")


# -- pages -----------------------------------------------------------------------------------


def test_download_page_with_yt_dlp(server: MediaServer, media_root: Path, tmp_path: Path):
    pytest.importorskip("yt_dlp")
    result = call_with_timeout(asyncio.run, download_page(server.url("bunny.mp4"), tmp_path))
    assert result.status == "done", result
    assert result.path is not None and result.path.parent == tmp_path
    assert result.sha256 == sha256(media_root / "bunny.mp4")


def test_download_page_failure_is_one_line(server: MediaServer, tmp_path: Path):
    pytest.importorskip("yt_dlp")
    result = call_with_timeout(
        asyncio.run, download_page(server.url("bunny.mp4", "404"), tmp_path, key=7)
    )
    assert result.status == "failed" and result.error == "PageError" and result.key == 7
    assert "404" in result.reason and "\n" not in result.reason


def test_download_page_without_yt_dlp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import fails
    result = asyncio.run(download_page("https://example.com/watch?v=1", tmp_path))
    assert result.status == "failed" and result.error == "MissingDependency"
    assert result.reason == "page URL: install vidpipe[pages] (yt-dlp) to download pages"


# -- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FILES))
def test_sniff_media_recognises_real_files(name: str):
    assert sniff_media(FILES[name].read_bytes()[:512]) is not None


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b'{"error": "not found"}',
        b"just some text\n",
        b"",
        b"%PDF-1.7\n",
    ],
)
def test_sniff_media_rejects_documents(head: bytes):
    assert sniff_media(head) is None


def test_limits_reject_nonsense():
    from vidpipe.errors import UsageError

    with pytest.raises(UsageError):
        DownloadLimits(concurrency=0)
    with pytest.raises(UsageError):
        DownloadLimits(rps_per_host=0)
