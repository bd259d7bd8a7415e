"""Download hardening against a real local server (tests/servers/http_media.py):
minimum speed and deadline, the private-address policy checked on every redirect,
http(s)-only redirects, configurable size cap, and URL passwords never shown.

No test sends traffic anywhere but the 127.0.0.1 server it starts. Tests of "a public
URL that redirects to a private one" give the client that server as its HTTP proxy
(``httpx.AsyncClient(proxy=...)``): every request, whatever host it names, reaches
the loopback server, and the policy's injected resolver tells which test names
(``public.test``) count as public. A refused hop is never sent at all, which the
server's request log shows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import DATA, call_with_timeout
from servers.http_media import MediaServer
from vidpipe.errors import UsageError
from vidpipe.library.download import (
    DownloadLimits,
    DownloadResult,
    UrlPolicy,
    download_all,
    download_many,
    download_page,
    part_path,
)

FAST = {"connect_timeout": 2.0, "read_timeout": 2.0, "backoff_base": 0.05, "backoff_max": 2.0}

#: test host names -> the address the policy is told they have (never contacted: the
#: client's proxy is the loopback server)
NAMES = {
    "public.test": ["93.184.216.34"],
    "cdn.public.test": ["2606:2800:220:1:248:1893:25c8:1946"],
    "internal.test": ["10.1.2.3"],
    "mixed.test": ["93.184.216.34", "192.168.0.7"],
}


async def resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError(f"test resolver: unknown host {host}")
    return NAMES[host]


GUARD = UrlPolicy(allow_private=False, resolver=resolver)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    shutil.copyfile(DATA / "jfk.flac", folder / "jfk.flac")
    shutil.copyfile(DATA / "jfk.mp3", folder / "jfk.mp3")
    return folder


@pytest.fixture
def server(root: Path):
    with MediaServer(root, stall=3.0, drip_interval=0.2) as srv:
        yield srv


def run(items, timeout: float = 20.0, **limits) -> list[DownloadResult]:
    return call_with_timeout(
        download_many, items, DownloadLimits(**{**FAST, **limits}), timeout=timeout
    )


def via_proxy(server: MediaServer, url: str, dest: Path, **limits) -> DownloadResult:
    """Download ``url`` with the loopback server as the client's HTTP proxy."""

    async def go() -> list[DownloadResult]:
        async with httpx.AsyncClient(proxy=server.base_url, follow_redirects=False) as client:
            return await download_all(
                [("k", url, dest)], DownloadLimits(**{**FAST, **limits}), client=client
            )

    [result] = call_with_timeout(asyncio.run, go(), timeout=20.0)
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- minimum speed and deadline ------------------------------------------------------


def test_dripping_server_fails_as_too_slow_and_resumes_on_retry(server, tmp_path):
    # 4 KiB at once, then one byte every 0.2 s: never silent long enough for the read
    # timeout, far below 1 KiB/s
    dest = tmp_path / "jfk.flac"
    [r] = run(
        [("k", server.url("jfk.flac", "drip"), dest)], min_speed=1024, speed_time=1.0, retries=1
    )
    assert r.status == "failed" and r.error == "TooSlow", r
    assert re.fullmatch(r"too slow: [\d.]+ B/s over [\d.]+ s \(limit 1024 B/s\)", r.reason), (
        r.reason
    )
    assert r.attempts == 2
    requests = server.requests_for("jfk.flac")
    assert len(requests) == 2
    assert requests[0]["range"] is None
    assert requests[1]["range"].startswith("bytes=")  # the retry resumed the .part
    assert int(requests[1]["range"][6:-1]) >= 4096
    assert not dest.exists() and part_path(dest).stat().st_size >= 4096


def test_deadline_ends_a_download_the_speed_check_allows(server, tmp_path):
    dest = tmp_path / "jfk.flac"
    [r] = run([("k", server.url("jfk.flac", "drip"), dest)], min_speed=0, deadline=1.5)
    assert r.status == "failed" and r.error == "Deadline", r
    assert r.reason.startswith("deadline of 1.5 s passed after 1 request(s), 4."), r.reason
    assert r.reason.endswith("kB received")
    assert not dest.exists() and part_path(dest).exists()  # kept for a later resume


def test_deadline_counts_retry_waits(server, tmp_path):
    # the 429 asks for a 1 s wait; the 0.5 s deadline passes during it
    dest = tmp_path / "jfk.mp3"
    [r] = run([("k", server.url("jfk.mp3", "429"), dest)], deadline=0.5, retries=5)
    assert r.error == "Deadline", r
    assert "(last retry: HTTP 429 Too Many Requests)" in r.reason
    assert len(server.requests_for("jfk.mp3")) == 1


def test_max_size_option(server, root, tmp_path):
    small, big = tmp_path / "jfk.mp3", tmp_path / "jfk.flac"
    size = (root / "jfk.mp3").stat().st_size
    done, failed = run(
        [(1, server.url("jfk.mp3"), small), (2, server.url("jfk.flac"), big)], max_bytes=size
    )
    assert done.status == "done" and sha256(small) == sha256(root / "jfk.mp3")
    assert failed.error == "TooLarge" and failed.reason.endswith("over the 0.1 MB limit")


def test_limit_defaults_and_nonsense():
    limits = DownloadLimits()
    assert (limits.min_speed, limits.speed_time, limits.deadline) == (1024.0, 30.0, 7200.0)
    assert limits.max_bytes == 4 * 1024**3 and limits.url_policy.allow_private
    for bad in ({"deadline": 0}, {"min_speed": -1}, {"speed_time": 0}):
        with pytest.raises(UsageError):
            DownloadLimits(**bad)


# -- private-address policy ----------------------------------------------------------


def test_guard_refuses_loopback_without_a_request(server, tmp_path):
    port = server.base_url.rpartition(":")[2]
    urls = [
        server.url("jfk.mp3"),  # 127.0.0.1
        f"http://localhost:{port}/files/jfk.mp3",  # resolved by the system (hosts file)
        f"http://[::ffff:127.0.0.1]:{port}/files/jfk.mp3",  # IPv4-mapped IPv6
    ]
    items = [(i, u, tmp_path / f"{i}.mp3") for i, u in enumerate(urls)]
    results = run(items, url_policy=UrlPolicy(allow_private=False))
    for r in results:
        assert r.status == "failed" and r.error == "Blocked", r
        assert "loopback address refused (private URLs are not allowed)" in r.reason
    assert server.requests == []  # refused before connecting
    # the command line's default allows your own network
    [r] = run([(9, server.url("jfk.mp3"), tmp_path / "ok.mp3")])
    assert r.status == "done"


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("http://10.0.0.1/x.mp4", "10.0.0.1: private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: link-local address"),
        ("http://[::1]/x.mp4", "::1: loopback address"),
        ("http://[::ffff:192.168.1.1]/x.mp4", "::ffff:192.168.1.1: private address"),
        ("http://internal.test/files/jfk.mp3", "internal.test (10.1.2.3): private address"),
        ("http://mixed.test/files/jfk.mp3", "mixed.test (192.168.0.7): private address"),
        ("http://224.0.0.1/x.mp4", "224.0.0.1: multicast address"),
    ],
)
def test_public_url_redirecting_to_a_private_one_is_refused(server, tmp_path, target, shown):
    first = "http://public.test" + server.redirect_url(target).removeprefix(server.base_url)
    dest = tmp_path / "x.mp4"
    r = via_proxy(server, first, dest, url_policy=GUARD, retries=3)
    assert r.status == "failed" and r.error == "Blocked", r
    assert r.reason == f"{shown} refused (private URLs are not allowed)"
    assert r.attempts == 1  # a refusal is final, not retried
    # the only request is the public one; the private hop was never sent
    assert [(q["host"], q["name"]) for q in server.requests] == [("public.test", "redirect")]
    assert not dest.exists() and not part_path(dest).exists()


def test_public_redirect_chain_is_followed(server, root, tmp_path):
    first = "http://public.test" + server.redirect_url(
        "http://cdn.public.test/files/jfk.mp3"
    ).removeprefix(server.base_url)
    dest = tmp_path / "jfk.mp3"
    r = via_proxy(server, first, dest, url_policy=GUARD)
    assert r.status == "done", r
    assert sha256(dest) == sha256(root / "jfk.mp3")
    assert [q["host"] for q in server.requests] == ["public.test", "cdn.public.test"]


def test_unresolvable_name_with_the_guard_on(server, tmp_path):
    r = via_proxy(
        server, "http://nowhere.test/files/jfk.mp3", tmp_path / "x.mp3", url_policy=GUARD, retries=0
    )
    assert r.error == "ConnectError" and r.reason.startswith("cannot resolve nowhere.test: "), r
    assert server.requests == []


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.com/x.mp4", "gopher://example.com/x"]
)
def test_redirect_to_another_scheme_fails_at_once(server, tmp_path, target):
    dest = tmp_path / "x.mp4"
    [r] = run([("k", server.redirect_url(target), dest)], retries=5)
    scheme = target.partition(":")[0]
    assert r.error == "UnsupportedRedirect", r
    assert r.reason == f"redirected to a {scheme}: URL (only http and https are followed)"
    assert r.attempts == 1 and len(server.requests) == 1  # no retries
    assert not dest.exists()


def test_page_url_is_checked_by_the_policy(server, tmp_path):
    pytest.importorskip("yt_dlp")
    limits = DownloadLimits(url_policy=UrlPolicy(allow_private=False))
    page = server.base_url + "/files/watch"
    r = asyncio.run(download_page(page, tmp_path, key=1, limits=limits))
    assert r.error == "Blocked" and "127.0.0.1: loopback address refused" in r.reason
    assert server.requests == []


# -- passwords ---------------------------------------------------------------------


def test_reasons_never_show_the_password(server, tmp_path):
    netloc = server.base_url.replace("http://", "http://user:s3cret@")
    urls = [
        netloc + "/fault/404/jfk.mp3",
        "http://user:s3cret@a.example/x.mp4http://b.example/y.mp4",  # glued, never sent
    ]
    nf, glued = run([(i, u, tmp_path / f"{i}.mp4") for i, u in enumerate(urls)], retries=0)
    assert nf.reason == "HTTP 404 Not Found"
    assert glued.error == "InvalidURL"
    assert "'http://user:***@a.example/x.mp4http://b.example/y.mp4'" in glued.reason
    assert "s3cret" not in glued.reason
    assert glued.url == urls[1]  # the result keeps the URL as given


# -- the command line ----------------------------------------------------------------


def vp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "vidpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_download_options_and_redacted_outputs(server, root, tmp_path):
    base = server.base_url.replace("http://", "http://user:s3cret@")
    links = tmp_path / "links.txt"
    links.write_text(
        "\n".join(
            [
                base + "/files/jfk.mp3",  # done
                base + "/fault/drip/jfk.mp3",  # too slow
                base + "/files/jfk.flac",  # over --max-size
                "http://user:s3cret@a..example/x.mp4",  # malformed (empty host label)
            ]
        )
        + "\n"
    )
    home, dest = tmp_path / "home", tmp_path / "media"
    direct = base + "/fault/404/jfk.flac"
    opts = ["--max-size", "200KB", "--min-speed", "1KiB", "--speed-time", "1", "--retries", "0"]
    r = vp(home, "ingest", str(links), direct, "--dest", str(dest), *opts)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "5 items: 1 done, 4 failed" in r.stderr
    assert "download: too slow: " in r.stderr and "(limit 1024 B/s)" in r.stderr
    assert "download: file is 1.2 MB, over the 0.2 MB limit" in r.stderr
    assert "user:***@127.0.0.1" in r.stderr  # the direct URL's failure line
    assert "s3cret" not in r.stderr + r.stdout

    # the catalog keeps the password (needed to download again); nothing printed shows it
    with sqlite3.connect(home / "catalog.db") as db:
        uris = [u for (u,) in db.execute("select uri from sources order by position")]
    assert sum("user:s3cret@" in u for u in uris) == 5

    table = vp(home, "report", "--csv", str(tmp_path / "r.csv"))
    assert table.returncode == 0, table.stderr
    assert "user:***@127.0.0.1" in table.stdout
    # the failures section groups by reason; "B/s" is kept, not dropped like a path
    assert re.search(
        r"1 × download: too slow: [\d.]+ B/s over [\d.]+ s \(limit 1024 B/s\)", table.stdout
    )
    as_json = vp(home, "report", "--json", "-")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [i["uri"].split("@")[0] for i in report["items"]] == ["http://user:***"] * 5
    glued = report["items"][3]
    assert glued["state"] == "failed" and "'http://user:***@a..example/" in glued["reason"]
    csv_text = (tmp_path / "r.csv").read_text()
    assert csv_text.count("user:***@") >= 5
    for text in (table.stdout, as_json.stdout, csv_text):
        assert "s3cret" not in text

    media_id = next(i["media_id"] for i in report["items"] if i["state"] == "done")
    show = vp(home, "show", str(media_id))
    assert show.returncode == 0, show.stderr
    assert f"source {base.replace('s3cret', '***')}/files/jfk.mp3: done" in show.stdout
    assert "s3cret" not in show.stdout

    # --no-private-urls refuses the loopback server before any request
    before = len(server.requests)
    r = vp(
        home, "ingest", server.url("jfk.flac") + "?again", "--no-private-urls", "--dest", str(dest)
    )
    assert r.returncode == 1, r.stderr
    assert (
        "download: 127.0.0.1: loopback address refused (private URLs are not allowed)" in r.stderr
    )
    assert len(server.requests) == before


def test_cli_bad_size_is_a_usage_error(tmp_path):
    r = vp(tmp_path / "home", "ingest", "http://127.0.0.1:9/x.mp4", "--max-size", "12parsecs")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [
        "error: --max-size '12parsecs' is not a size (give bytes or a unit: 500MB, 4GiB, 1KiB)"
    ]
