"""The web page in a real browser: Playwright driving Debian's Chromium.

One service for the module (uvicorn on 127.0.0.1, an embedded worker) whose catalog
holds real media transcribed by the bundled models: a narrated video made from real
speech (JFK and three LJ Speech sentences over two photos, so its transcript has
several segments with word times), ``jfk.flac``, a Mandarin recording and a file that
is not media. Media for URL jobs is served by a local HTTP server.

A second, smaller service (``shelf``: no worker, items only probed) holds the cases of
issue 22: an MPEG-4 Part 2 video (made here with PyAV from a real photo and speech),
files of the same name in two folders, a long file name, an uploaded file.

Screenshots of every page (library, item pages, search, jobs, new work, a missing item,
an unknown route, the API docs) at 1366x768 and 390x844 are written to
``tests/artifacts/web/`` (ignored by git; ``VIDPIPE_WEB_ARTIFACTS`` moves it) and their
paths printed (plus a full-page shot of each, ``*-full.png``).

Chromium is ``/usr/bin/chromium`` (``VIDPIPE_CHROMIUM`` overrides); without it, or
without the ``playwright`` package, these tests skip with the reason.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from conftest import DATA, start_service

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("VIDPIPE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("VIDPIPE_WEB_ARTIFACTS", ROOT / "tests" / "artifacts" / "web"))
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
#: the narrated video's speech, in order, each followed by this much silence (s)
SPEECH = ["jfk.flac", "en_dev/LJ001-0005.wav", "en_dev/LJ001-0009.wav", "en_dev/LJ001-0011.wav"]
GAP = 0.8
ZH_FILE = "zh/aishell_BAC009S0724W0121.wav"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set VIDPIPE_CHROMIUM)",
        allow_module_level=True,
    )


# --------------------------------------------------------------------------- fixtures


def _narrated_video(out: Path) -> Path:
    """A 320x180 MP4 whose sound is real speech: the SPEECH files with GAP s between."""
    from vidpipe.media.audio import decode_audio
    from vidpipe.media.audio_writer import AudioWriter
    from vidpipe.media.render import RenderOptions, render_slideshow

    rate = 16000
    parts = []
    for name in SPEECH:
        parts += [decode_audio(DATA / name, rate), np.zeros(int(GAP * rate), np.float32)]
    wav = out.with_suffix(".wav")
    with AudioWriter(wav, rate) as w:
        w.write(np.concatenate(parts))
    images = [DATA / "photos" / "rocket.jpg", DATA / "photos" / "coffee.png"]
    opts = RenderOptions(width=320, height=180, fps=12, ken_burns=False, subtitles="none")
    render_slideshow(images, out, audio=wav, options=opts)
    wav.unlink()
    return out


class Web:
    """The module's service: ``url``, the item ids by file name, the transcripts."""

    def __init__(self, svc: Any, media: Path) -> None:
        self.svc = svc
        self.url = svc.url
        self.media = media
        self.http = httpx.Client(base_url=svc.url, timeout=60)
        items = self.http.get("/v1/items", params={"limit": 500}).json()["items"]
        self.ids = {it["name"]: it["id"] for it in items}

    def transcript(self, name: str) -> dict:
        r = self.http.get(f"/v1/items/{self.ids[name]}/transcript", params={"format": "json"})
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.runner import RunOptions, run

    home = tmp_path_factory.mktemp("web_home")
    media = home / "media"
    media.mkdir()
    _narrated_video(media / "narrated.mp4")
    shutil.copy(DATA / "jfk.flac", media / "jfk.flac")
    shutil.copy(DATA / ZH_FILE, media / "mandarin.wav")
    shutil.copy(DATA / "broken" / "pisets_notsound.wav", media / "notsound.wav")
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        en = [str(media / n) for n in ("narrated.mp4", "jfk.flac", "notsound.wav")]
        run(en, cat, RunOptions(model="tiny.en", language="en"))
        run([str(media / "mandarin.wav")], cat, RunOptions(model="base"))
    svc = start_service(home)
    try:
        yield Web(svc, media)
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield pg
    finally:
        ctx.close()
    assert not errors, f"script errors on the page: {errors}"


def screenshot(
    browser: Any, url: str, name: str, ready: str, fits: bool = True, full: bool = True
) -> list[Path]:
    """Screenshots of ``url`` at both sizes once ``ready`` (a selector) is visible;
    ``fits``: assert that nothing scrolls sideways; ``full``: a full-page shot too."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, (w, h) in SIZES.items():
        t0 = time.monotonic()
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = ctx.new_page()
        pg.goto(url)
        pg.wait_for_selector(ready)
        # pictures decoded, videos ready to play on (no spinner), fonts in (faster than
        # waiting for the network to idle)
        pg.wait_for_function(
            "document.fonts.status === 'loaded' && [...document.images]"
            ".every(i => i.complete && (i.naturalWidth > 0 || !i.getAttribute('src')))"
            " && [...document.querySelectorAll('video')]"
            ".every(v => v.error || (v.readyState >= 3 && !v.seeking))"
        )
        path = ARTIFACTS / f"{name}-{label}-{w}x{h}.png"
        pg.screenshot(path=str(path))
        if full:  # the whole page, below the fold too
            pg.screenshot(path=str(ARTIFACTS / f"{name}-{label}-{w}-full.png"), full_page=True)
        # the page fits the width: nothing scrolls sideways at 375 px
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        ctx.close()
        assert overflow <= 1 or not fits, f"{name} at {w} px is {overflow} px too wide"
        print(f"screenshot: {path} ({time.monotonic() - t0:.1f} s)")
        paths.append(path)
    return paths


def _rows(page: Any) -> list[dict]:
    return page.eval_on_selector_all(
        "#lib-rows tr[data-id]",
        """rows => rows.map(r => ({
            name: r.querySelector('.title-cell a').textContent,
            duration: r.querySelector('.dur').textContent,
            language: r.querySelector('.lang').textContent,
            status: r.querySelector('.stat').textContent}))""",
    )


def _wait_rows(page: Any, expect: int, **params: str) -> list[dict]:
    """The rows once the list shows ``expect`` items loaded with ``params`` (query
    parameters of ``GET /v1/items``; others absent but ``sort`` and ``limit``)."""
    want = json.dumps(params)
    page.wait_for_function(
        f"""() => {{
            const rows = document.querySelector('#lib-rows');
            if (!rows.dataset.loaded) return false;
            const got = Object.fromEntries(new URLSearchParams(rows.dataset.loaded));
            delete got.sort; delete got.limit; delete got.cursor;
            const want = {want};
            return JSON.stringify(Object.keys(got).sort().map(k => [k, got[k]]))
                === JSON.stringify(Object.keys(want).sort().map(k => [k, want[k]]))
                && rows.querySelectorAll('tr[data-id]').length === {expect};
        }}"""
    )
    return _rows(page)


# --------------------------------------------------------------------------- library


def test_library_lists_items_with_durations_filter_and_sort(web: Web, page: Any) -> None:
    page.goto(web.url + "/")
    rows = _wait_rows(page, 4)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"narrated.mp4", "jfk.flac", "mandarin.wav", "notsound.wav"}
    assert by_name["jfk.flac"]["duration"] == "0:00:11"  # 11.0 s
    assert by_name["mandarin.wav"]["language"] == "zh"
    assert by_name["notsound.wav"]["status"] == "failed"
    narrated = web.http.get(f"/v1/items/{web.ids['narrated.mp4']}").json()["duration"]
    s = int(narrated)
    assert by_name["narrated.mp4"]["duration"] == f"0:{s // 60:02d}:{s % 60:02d}"
    assert [r["name"] for r in rows] == sorted(by_name)  # by name at first

    # sort by duration: the header button, longest first, then again shortest first
    page.click("th button[data-sort=duration]")
    page.wait_for_function("new URLSearchParams(location.search).get('sort') === '-duration'")
    page.wait_for_function(
        "document.querySelector('#lib-rows tr[data-id] .title-cell a')"
        ".textContent === 'narrated.mp4'"
    )
    assert page.get_attribute("th:has(button[data-sort=duration])", "aria-sort") == "descending"
    page.click("th button[data-sort=duration]")
    page.wait_for_function(
        "document.querySelector('#lib-rows tr[data-id]:last-child .title-cell a')"
        ".textContent === 'narrated.mp4'"
    )

    # filters: language, status, duration range, text
    page.select_option("#f-language", "zh")
    assert [r["name"] for r in _wait_rows(page, 1, language="zh")] == ["mandarin.wav"]
    page.select_option("#f-language", "")
    page.select_option("#f-status", "failed")
    assert [r["name"] for r in _wait_rows(page, 1, status="failed")] == ["notsound.wav"]
    page.select_option("#f-status", "")
    page.fill("#f-min", "0.1")  # minutes: 6 s and longer
    page.fill("#f-max", "0.25")  # up to 15 s
    rows = _wait_rows(page, 1, min_duration="6", max_duration="15")
    assert [r["name"] for r in rows] == ["jfk.flac"]
    page.fill("#f-min", "")
    page.fill("#f-max", "")
    page.fill("#f-text", "MANDA")
    assert [r["name"] for r in _wait_rows(page, 1, text="MANDA")] == ["mandarin.wav"]
    page.fill("#f-text", "")
    _wait_rows(page, 4)

    # totals and failures with their message; the durations plot
    page.wait_for_selector("#totals [data-total=failed]")
    assert page.text_content("#totals [data-total=failed]") == "1"
    assert "not a recognised audio or video file" in page.text_content("#failures")
    assert "notsound.wav" in page.text_content("#failures")
    page.wait_for_selector("#dur-plot .plot-total")


def test_library_pages(web: Web, page: Any) -> None:
    page.goto(web.url + "/?size=25")
    page.select_option("#f-size", "25")
    _wait_rows(page, 4)
    # two items per page is not offered; page with the API's cursor through a tiny page
    page.evaluate("document.querySelector('#f-size').append(new Option('2', '2'))")
    page.select_option("#f-size", "2")
    first = [r["name"] for r in _wait_rows(page, 2)]
    assert page.text_content("#pg-info") == "1–2 of 4"
    page.click("#pg-next")
    page.wait_for_function("document.querySelector('#pg-info').textContent === '3–4 of 4'")
    second = [r["name"] for r in _rows(page)]
    assert not set(first) & set(second)
    assert page.is_disabled("#pg-next")
    page.click("#pg-prev")
    page.wait_for_function("document.querySelector('#pg-info').textContent === '1–2 of 4'")
    assert [r["name"] for r in _rows(page)] == first


# --------------------------------------------------------------------------- item page


def _open_item(page: Any, web: Web, name: str, query: str = "") -> None:
    page.goto(f"{web.url}/items/{web.ids[name]}{query}")
    page.wait_for_selector("#transcript .seg")
    page.wait_for_function("document.querySelector('#player').readyState >= 1")


def _current(page: Any) -> tuple[float, int]:
    """``(currentTime, index of the highlighted segment)`` read in one frame."""
    return tuple(
        page.evaluate(
            """() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => {
                const segs = [...document.querySelectorAll('#transcript .seg')];
                r([document.querySelector('#player').currentTime,
                   segs.findIndex(s => s.classList.contains('current'))]);
            })))"""
        )
    )


def _segment_at(starts: list[float], t: float) -> int:
    return max(i for i, s in enumerate(starts) if s <= t + 1e-3)


def test_item_page_seeks_on_click_and_highlights_what_plays(web: Web, page: Any) -> None:
    tr = web.transcript("narrated.mp4")
    segs = tr["segments"]
    assert len(segs) >= 3, segs
    starts = [s["start"] for s in segs]
    _open_item(page, web, "narrated.mp4")
    assert page.locator("#transcript .seg").count() == len(segs)

    third = page.locator("#transcript .seg").nth(2)
    box = third.bounding_box()
    third.locator(".ts").click()
    t, cur = _current(page)
    assert abs(t - segs[2]["start"]) < 0.1
    assert cur == 2
    assert third.bounding_box() == box  # the highlight moves nothing

    # a click on a word seeks to that word
    word = segs[1]["words"][3]
    page.locator("#transcript .seg").nth(1).locator(".w").nth(3).click()
    t, cur = _current(page)
    assert abs(t - word["start"]) < 0.1 and cur == 1

    # play from the start of the first segment: the highlight follows currentTime
    page.evaluate("document.querySelector('#player').muted = true")
    page.locator("#transcript .seg").nth(0).locator(".ts").click()
    page.keyboard.press("Space")
    page.wait_for_function("!document.querySelector('#player').paused")
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 2:
        t, cur = _current(page)
        want = _segment_at(starts, t)
        # a frame may pass between the highlight and the read at a segment start
        assert cur == want or (cur == want - 1 and t - starts[want] < 0.2), (t, cur)
        seen.add(cur)
        page.wait_for_timeout(300)
    assert len(seen) >= 2  # it moved from one segment to the next
    words_now = page.locator("#transcript .w.current").count()
    assert words_now <= 1
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('#player').paused")
    t, cur = _current(page)
    assert cur == _segment_at(starts, t)

    # arrows: five seconds
    before, _ = _current(page)
    page.keyboard.press("ArrowRight")
    after, cur = _current(page)
    assert abs(after - before - 5) < 0.1
    assert cur == _segment_at(starts, after)
    page.keyboard.press("ArrowLeft")
    back, _ = _current(page)
    assert abs(back - before) < 0.1

    # chapters and scenes (vidpipe run's describe step): keyframes shown, a click seeks
    item = web.http.get(f"/v1/items/{web.ids['narrated.mp4']}").json()
    assert item["scenes"], "the fixture's run describes the video"
    scene = item["scenes"][-1]
    n = len(item["scenes"])
    page.wait_for_function(
        f"[...document.querySelectorAll('#scenes .scene img')].filter(i => i.naturalWidth > 0)"
        f".length === {n}"
    )
    page.locator("#scenes .scene").last.locator("button").click()
    t, cur = _current(page)
    assert abs(t - scene["start"]) < 0.1 and cur == _segment_at(starts, t)
    if item["chapters"]:
        chapter = item["chapters"][-1]
        page.locator("#chapters button").last.click()
        t, _ = _current(page)
        assert abs(t - chapter["start"]) < 0.1

    # downloads and the poster keyframe
    links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.textContent)")
    assert links == ["SRT", "VTT", "TXT", "JSON", "Media"]
    srt = web.http.get(page.get_attribute("#downloads a:first-child", "href"))
    assert srt.status_code == 200 and "-->" in srt.text
    thumb = web.http.get(f"/v1/items/{web.ids['narrated.mp4']}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"  # a JPEG


def test_audio_item_shows_waveform_and_plays(web: Web, page: Any) -> None:
    _open_item(page, web, "jfk.flac")
    assert page.locator("audio#player").count() == 1
    page.wait_for_function("document.querySelector('.waveform').naturalWidth > 0")
    page.locator("#transcript .seg").nth(0).locator(".w").nth(5).click()
    word = web.transcript("jfk.flac")["segments"][0]["words"][5]
    t, cur = _current(page)
    assert abs(t - word["start"]) < 0.1 and cur == 0


# --------------------------------------------------------------------------- search


def test_search_opens_the_player_where_the_phrase_is_said(web: Web, page: Any) -> None:
    tr = web.transcript("narrated.mp4")
    words = [w for s in tr["segments"] for w in s["words"]]
    norm = [w["word"].strip(" ,.").lower() for w in words]
    # "... by means of movable types." (LJ001-0009), mid-segment ("movable metal" is earlier)
    k = next(i for i in range(len(norm) - 1) if norm[i : i + 2] == ["movable", "types"])
    said = words[k]["start"]
    page.goto(web.url + "/")
    page.fill("#q", "movable types")
    page.press("#q", "Enter")
    page.wait_for_selector("#hits .hit")
    hit = page.locator("#hits .hit").first
    assert "narrated.mp4" in hit.text_content()
    marks = hit.locator("mark").all_text_contents()
    assert [m.lower() for m in marks] == ["movable", "types"]
    hit.locator("a").click()
    page.wait_for_url("**/items/**")
    page.wait_for_function(
        "document.querySelector('#player') && document.querySelector('#player').readyState >= 1"
        " && document.querySelector('#transcript .seg.current')"
    )
    t, _ = _current(page)
    assert abs(t - said) < 0.5, (t, said)


def test_search_in_chinese_finds_the_chinese_item(web: Web, page: Any) -> None:
    page.goto(web.url + "/jobs")  # the box is on every page
    page.fill("#q", "广州")
    page.press("#q", "Enter")
    page.wait_for_selector("#hits .hit")
    hits = page.locator("#hits .hit")
    assert hits.count() == 1
    assert "mandarin.wav" in hits.first.text_content()
    assert hits.first.locator("mark").count() >= 1
    hits.first.locator("a").click()
    page.wait_for_selector("#transcript .seg.current")
    assert page.url.split("?")[0].endswith(f"/items/{web.ids['mandarin.wav']}")


# --------------------------------------------------------------------------- jobs


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("served")
    shutil.copy(DATA / "en_dev" / "LJ001-0008.wav", root / "surpassed.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0013.wav", root / "ugly.wav")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _job_rows(page: Any) -> list[dict]:
    return page.eval_on_selector_all(
        "#w-jobs .job",
        """js => js.map(j => ({id: j.dataset.id, kind: j.dataset.kind, status: j.dataset.status,
            bar: Number(j.querySelector('[role=progressbar]').getAttribute('aria-valuenow')),
            error: (j.querySelector('.err') || {}).textContent || null}))""",
    )


def test_new_work_from_a_url_runs_to_100_percent_and_lands_in_the_library(
    web: Web, page: Any, files_server: str
) -> None:
    page.goto(web.url + "/new")
    page.fill("#w-urls", f"{files_server}/surpassed.wav\n{files_server}/missing.wav\n")
    page.click("#w-submit")
    page.wait_for_selector("#w-jobs .job")
    # each link is fetched by a download job (never by the request): the failing one's
    # chain fails, saying why (HTTP 404), the other's probe -> audio -> transcribe is
    # followed live until the last one succeeds
    page.wait_for_function(
        "(js => js.filter(j => j.dataset.status === 'succeeded').length === 3"
        " && js.some(j => j.dataset.status === 'failed' && j.textContent.includes('404')))"
        "([...document.querySelectorAll('#w-jobs .job')])",
        timeout=180_000,
    )
    rows = [r for r in _job_rows(page) if r["status"] == "succeeded"]
    assert [r["kind"] for r in rows] == ["probe", "audio", "transcribe"]
    assert all(r["bar"] == 100 for r in rows)
    # the chain is shown: each job after the one before it
    chain = page.locator("#w-jobs .job").nth(2).locator(".chain").text_content()
    assert "audio" in chain
    page.goto(web.url + "/?text=surpassed")
    rows = _wait_rows(page, 1, text="surpassed")
    # the downloader names the file after the URL (plus a hash of it)
    assert rows[0]["name"].startswith("surpassed") and rows[0]["language"] == "en"
    page.fill("#q", "surpassed")
    page.press("#q", "Enter")
    page.wait_for_selector("#hits .hit")
    assert "surpassed" in page.text_content("#hits")


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A service without a worker: its jobs stay where they are until the test runs
    them (:func:`vidpipe.pipeline.execute.run_job`, what a worker calls)."""
    home = tmp_path_factory.mktemp("idle_home")
    (home / "media").mkdir()
    shutil.copy(DATA / "en_dev" / "LJ001-0013.wav", home / "media" / "ugly.wav")
    shutil.copy(DATA / "broken" / "pisets_notsound.wav", home / "media" / "notsound.wav")
    svc = start_service(home, worker=False)
    try:
        yield svc
    finally:
        svc.stop()


def _counts(page: Any) -> dict[str, int]:
    return {
        li.get_attribute("data-status"): int(li.locator(".n").text_content())
        for li in page.locator("#counts li").all()
    }


def test_jobs_page_is_live_with_counts_cancel_retry_and_chain(idle: Any, page: Any) -> None:
    from vidpipe.pipeline.execute import run_job

    store = idle.app.state.store
    http = httpx.Client(base_url=idle.url, timeout=60)
    media = idle.config.home / "media"
    probe = http.post(
        "/v1/jobs", json={"kind": "probe", "input": {"path": str(media / "ugly.wav")}}
    )
    assert probe.status_code == 202, probe.text
    probe = probe.json()
    tr = http.post(
        "/v1/jobs",
        json={
            "kind": "audio",
            "input": {"path": str(media / "ugly.wav")},
            "depends_on": [probe["id"]],
        },
    ).json()
    page.goto(idle.url + "/jobs?view=steps")  # every step (the default is by input)
    page.wait_for_selector(f"#job-{tr['id']}[data-status=waiting]")
    page.wait_for_function("document.querySelector('#j-live').textContent.includes('live')")
    assert _counts(page) == {
        "waiting": 1,
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "canceled": 0,
    }
    assert "probe" in page.text_content(f"#job-{tr['id']} .chain")  # after its dependency

    page.click(f"#job-{tr['id']} button[data-action=cancel]")
    page.wait_for_selector(f"#job-{tr['id']}[data-status=canceled]")
    assert store.get(tr["id"]).status == "canceled"
    assert _counts(page)["canceled"] == 1
    page.click(f"#job-{tr['id']} button[data-action=retry]")
    page.wait_for_selector(f"#job-{tr['id']}[data-status=waiting]")

    # a worker runs them: the page follows by server-sent events, no reload
    assert run_job(store, probe["id"]).status == "succeeded"
    page.wait_for_selector(f"#job-{probe['id']}[data-status=succeeded]")
    page.wait_for_selector(f"#job-{tr['id']}[data-status=queued]")
    done = threading.Thread(target=run_job, args=(store, tr["id"]))
    done.start()
    page.wait_for_selector(f"#job-{tr['id']}[data-status=succeeded]", timeout=120_000)
    done.join()
    bar = page.get_attribute(f"#job-{tr['id']} [role=progressbar]", "aria-valuenow")
    assert bar == "100"
    assert _counts(page)["succeeded"] == 2

    # a failure shows its reason
    bad = http.post(
        "/v1/jobs",
        json={"kind": "probe", "input": {"path": str(media / "notsound.wav")}, "max_attempts": 1},
    ).json()
    page.reload()
    page.wait_for_selector(f"#job-{bad['id']}[data-status=queued]")
    assert run_job(store, bad["id"]).status == "failed"
    page.wait_for_selector(f"#job-{bad['id']}[data-status=failed]")
    assert "not a recognised audio or video file" in page.text_content(f"#job-{bad['id']} .err")
    assert page.is_enabled(f"#job-{bad['id']} button[data-action=retry]")
    assert page.is_disabled(f"#job-{bad['id']} button[data-action=cancel]")


def test_narrate_renders_and_plays(web: Web, page: Any) -> None:
    page.goto(web.url + "/new")
    page.fill("#n-text", "Printing is the art of making books. It changed the world.")
    page.select_option("#n-size", "640x360")
    page.click("#n-submit")
    page.wait_for_selector("#n-result video", timeout=300_000)
    page.wait_for_function(
        "document.querySelector('#n-result video').readyState >= 1", timeout=60_000
    )
    duration = page.evaluate("document.querySelector('#n-result video').duration")
    assert 2.0 < duration < 15.0


# --------------------------------------------------------------------------- screenshots


def test_screenshots(web: Web, shelf: Shelf, browser: Any) -> None:
    shots = []
    shots += screenshot(browser, web.url + "/", "library", "#dur-plot .plot-total")
    item = f"{web.url}/items/{web.ids['narrated.mp4']}?t=13"
    shots += screenshot(browser, item, "item", "#transcript .seg.current")
    audio = f"{web.url}/items/{web.ids['jfk.flac']}"
    shots += screenshot(browser, audio, "item-audio", "#transcript .seg")
    mpeg4 = f"{shelf.url}/items/{shelf.ids['mpeg4.mp4']}"
    shots += screenshot(browser, mpeg4, "item-mpeg4", ".cannot-play")
    long = f"{shelf.url}/items/{shelf.ids[LONG_NAME]}"
    shots += screenshot(browser, long, "item-long-name", "#player")
    missing = f"{shelf.url}/items/999999"
    shots += screenshot(browser, missing, "item-missing", "[data-missing]", full=False)
    shots += screenshot(browser, shelf.url + "/", "library-shelf", "#dur-plot .plot-total")
    shots += screenshot(browser, web.url + "/search?q=movable+types", "search", "#hits .hit")
    shots += screenshot(browser, web.url + "/new", "new", "#work-form")
    shots += screenshot(browser, web.url + "/no/such/page", "not-found", "#nf-title", full=False)
    # third-party pages (Swagger UI, ReDoc): they may scroll sideways on a phone
    shots += screenshot(browser, web.url + "/docs", "docs", ".opblock", fits=False, full=False)
    redoc = web.url + "/redoc"
    shots += screenshot(browser, redoc, "redoc", "[data-section-id]", fits=False, full=False)
    # some jobs of its own, so the jobs page has rows when this test runs alone
    probe = {"kind": "probe", "input": {"media_id": web.ids["jfk.flac"]}}
    first = web.http.post("/v1/jobs", json=probe).json()
    audio = {
        "kind": "audio",
        "input": {"media_id": web.ids["jfk.flac"]},
        "depends_on": [first["id"]],
    }
    web.http.post("/v1/jobs", json=audio).raise_for_status()
    shots += screenshot(browser, web.url + "/jobs?view=steps", "jobs-steps", "#jobs .job")
    shots += screenshot(browser, web.url + "/jobs", "jobs", "#groups .group")
    assert all(p.stat().st_size > 10_000 for p in shots)
    (ARTIFACTS / "index.json").write_text(json.dumps([str(p) for p in shots], indent=1))


# --------------------------------------------------------------------------- issue 22


def _mpeg4_video(out: Path, seconds: float = 3.0) -> Path:
    """A 320x180 MP4 in MPEG-4 Part 2 (a codec browsers do not decode) with AAC sound:
    a real photo and the start of ``jfk.flac``, encoded with PyAV."""
    import av
    from PIL import Image

    from vidpipe.media.audio import decode_audio

    rate, fps = 16000, 12
    audio = decode_audio(DATA / "jfk.flac", rate)[: int(seconds * rate)]
    img = Image.open(DATA / "photos" / "rocket.jpg").convert("RGB").resize((320, 180))
    with av.open(str(out), "w", format="mp4") as c:
        v = c.add_stream("mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = 320, 180, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        sound = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), "flt", "mono")
        sound.sample_rate, sound.pts = rate, 0
        for p in [*a.encode(sound), *a.encode()]:
            c.mux(p)
    return out


#: a long file name with ``_`` between its words (the text filter's case)
LONG_NAME = "bush_radio_address_2008-11-01_gb0_weekly_address_to_the_nation_on_the_economy.wav"
UPLOAD_ID = "file-0123456789abcdef01234567"


class Shelf:
    """The second service: ``url``, item ids by file name (paths differ: ``ids_by_path``)."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.url = svc.url
        self.http = httpx.Client(base_url=svc.url, timeout=60)
        items = self.http.get("/v1/items", params={"limit": 500}).json()["items"]
        self.ids = {it["name"]: it["id"] for it in items}
        self.paths = {it["path"]: it["id"] for it in items}


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shelf]:
    """A service without a worker whose items are only probed (fast): an MPEG-4 Part 2
    video, ``Alpha.wav`` and ``zeta.wav`` in folders that sort the other way, a long
    file name, and a file in the uploads folder as ``POST /v1/files`` stores it."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.runner import RunOptions, run

    home = tmp_path_factory.mktemp("shelf_home")
    media = home / "media"
    (media / "aaa").mkdir(parents=True)
    (media / "zzz").mkdir()
    upload = home / "uploads" / UPLOAD_ID
    upload.mkdir(parents=True)
    _mpeg4_video(media / "mpeg4.mp4")
    shutil.copy(DATA / "en_dev" / "LJ001-0013.wav", media / "aaa" / "zeta.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0008.wav", media / "zzz" / "Alpha.wav")
    shutil.copy(DATA / "en_dev" / "LJ001-0005.wav", media / LONG_NAME)
    shutil.copy(DATA / "en_dev" / "LJ001-0009.wav", upload / "my_talk.wav")
    inputs = [media / "mpeg4.mp4", media / "aaa" / "zeta.wav", media / "zzz" / "Alpha.wav"]
    inputs += [media / LONG_NAME, upload / "my_talk.wav"]
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        run([str(p) for p in inputs], cat, RunOptions(steps=("ingest", "probe")))
    svc = start_service(home, worker=False)
    try:
        yield Shelf(svc)
    finally:
        svc.stop()


def _box(page: Any, selector: str) -> dict:
    return page.eval_on_selector(
        selector,
        """n => { const r = n.getBoundingClientRect();
                  return {top: r.top, bottom: r.bottom, height: r.height}; }""",
    )


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_follow_keeps_the_current_line_inside_the_transcript_pane(
    web: Web, browser: Any, size: str
) -> None:
    w, h = SIZES[size]
    ctx = browser.new_context(viewport={"width": w, "height": h})
    page = ctx.new_page()
    try:
        _open_item(page, web, "narrated.mp4")
        pane = page.locator("#transcript")
        # a long transcript: the pane holds fewer lines than there are (five segments
        # here, so the pane is made short, as a talk's dozens of lines make it)
        pane.evaluate("p => { p.style.maxHeight = '7rem'; }")
        assert pane.evaluate("p => p.scrollHeight > p.clientHeight + 20"), "pane does not scroll"
        page.evaluate("document.querySelector('#player').muted = true")
        page.evaluate("document.querySelector('#player').currentTime = 30")
        page.wait_for_function("document.querySelector('#transcript .seg.current')")
        page.evaluate("document.querySelector('#player').play()")
        page.wait_for_function("document.querySelector('#player').currentTime > 31")
        page.evaluate("document.querySelector('#player').pause()")
        cur, box = _box(page, "#transcript .seg.current"), _box(page, "#transcript")
        assert cur["top"] >= box["top"] - 1 and cur["bottom"] <= box["bottom"] + 1, (cur, box)
        # back to the start: the first line comes back into view
        page.evaluate("document.querySelector('#player').currentTime = 0")
        page.wait_for_function("document.querySelector('#transcript').dataset.current === '0'")
        cur, box = _box(page, "#transcript .seg.current"), _box(page, "#transcript")
        assert cur["top"] >= box["top"] - 1 and cur["bottom"] <= box["bottom"] + 1, (cur, box)
    finally:
        ctx.close()


def test_docs_and_redoc_work_offline(web: Web, browser: Any) -> None:
    ctx = browser.new_context()
    outside: list[str] = []

    def guard(route: Any) -> None:
        host = route.request.url.split("/")[2] if "://" in route.request.url else ""
        if host.split(":")[0] == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    try:
        page.goto(web.url + "/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() >= 20  # the API's operations
        path = '.opblock-summary-path[data-path="/v1/items/{item_id}/transcript"]'
        assert page.locator(path).count() >= 1
        page.goto(web.url + "/redoc")
        page.wait_for_function(
            "document.body.innerText.includes('List catalog items')", timeout=20_000
        )
        assert not outside, f"requests left 127.0.0.1: {outside}"
    finally:
        ctx.close()


def test_a_video_the_browser_cannot_decode_says_so(shelf: Shelf, web: Web, page: Any) -> None:
    page.goto(f"{shelf.url}/items/{shelf.ids['mpeg4.mp4']}")
    page.wait_for_selector("#media-box .cannot-play")
    text = page.text_content("#media-box .cannot-play")
    assert "MPEG-4 Part 2" in text and "Download" in text
    # the same message when only the decoding tells (no probe codec to go by)
    page.evaluate(
        """() => { document.querySelector('.cannot-play').remove();
                   const v = document.querySelector('#player'); v.load(); }"""
    )
    page.wait_for_selector("#media-box .cannot-play")
    # an H.264 video plays its pictures: no message
    _open_item(page, web, "narrated.mp4")
    page.wait_for_function("document.querySelector('#player').videoWidth > 0")
    assert page.locator(".cannot-play").count() == 0


def test_player_captions_speed_back_and_poster(web: Web, page: Any) -> None:
    _open_item(page, web, "narrated.mp4")
    iid = web.ids["narrated.mp4"]
    track = page.locator("#player track")
    assert track.get_attribute("src") == f"/v1/items/{iid}/transcript?format=vtt"
    page.wait_for_function(
        "(t => t && t.mode === 'showing' && t.cues && t.cues.length > 0)"
        "(document.querySelector('#player').textTracks[0])"
    )
    cues = page.evaluate("document.querySelector('#player').textTracks[0].cues.length")
    assert cues >= len(web.transcript("narrated.mp4")["segments"])  # long ones split
    page.click("#captions")
    assert page.evaluate("document.querySelector('#player').textTracks[0].mode") == "hidden"
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("c")
    assert page.evaluate("document.querySelector('#player').textTracks[0].mode") == "showing"

    rate = "document.querySelector('#player').playbackRate"
    page.keyboard.press(">")
    assert page.evaluate(rate) == 1.25 and page.input_value("#speed") == "1.25"
    for _ in range(6):
        page.keyboard.press(">")
    assert page.evaluate(rate) == 2  # at most 2x
    page.select_option("#speed", "0.5")
    assert page.evaluate(rate) == 0.5
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("<")
    assert page.evaluate(rate) == 0.5  # at least 0.5x
    help_text = page.text_content("#keys-help")
    assert "slower/faster" in help_text and "captions" in help_text

    page.evaluate("document.querySelector('#player').currentTime = 20")
    page.click("#back5")
    t, _ = _current(page)
    assert abs(t - 15) < 0.1

    poster = page.get_attribute("#player", "poster")
    assert poster.startswith(f"/v1/items/{iid}/thumbnail")
    got = web.http.get(poster)
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"


def test_library_sorts_by_file_name_and_filter_treats_underscores_as_spaces(
    shelf: Shelf, page: Any
) -> None:
    page.goto(shelf.url + "/")
    names = [r["name"] for r in _wait_rows(page, 5)]
    # by file name, whatever the folder: Alpha (in zzz/) before zeta (in aaa/)
    assert names == sorted(names, key=str.lower), names
    assert names.index("Alpha.wav") < names.index("zeta.wav")
    page.fill("#f-text", "radio address")
    assert [r["name"] for r in _wait_rows(page, 1, text="radio address")] == [LONG_NAME]
    page.fill("#f-text", "weekly-address")
    assert [r["name"] for r in _wait_rows(page, 1, text="weekly-address")] == [LONG_NAME]
    page.fill("#f-text", "")
    _wait_rows(page, 5)
    # the uploaded file shows its own name, not the server's upload folder
    row = page.locator("#lib-rows tr", has_text="my_talk.wav")
    assert "sent to the service" in row.text_content() and UPLOAD_ID not in row.text_content()
    assert "/uploads/" not in page.text_content("#lib-rows")


def test_durations_plot_is_drawn_in_the_page_with_the_tables_total(shelf: Shelf, page: Any) -> None:
    page.goto(shelf.url + "/")
    page.wait_for_selector("#dur-plot .plot-total")
    total = page.text_content("#totals [data-total=duration]")
    assert page.text_content("#dur-plot .plot-total") == total
    bars = page.eval_on_selector_all("#dur-plot .col", "bs => bs.map(b => +b.dataset.count)")
    assert sum(bars) == 5
    # the bars' heights follow the counts (the tallest spans the plot's value range)
    tallest = max(
        b["height"]
        for b in page.eval_on_selector_all(
            "#dur-plot .col", "bs => bs.map(b => b.getBoundingClientRect())"
        )
    )
    assert tallest > 60, tallest
    # themed: the plot's ground is the page's dark, not a white picture
    ground = page.eval_on_selector("#dur-plot", "n => getComputedStyle(n).backgroundColor")
    rgb = [int(x) for x in ground[ground.index("(") + 1 : ground.index(")")].split(",")[:3]]
    assert sum(rgb) < 200, ground


def test_small_pages_fit_and_missing_things_say_so(shelf: Shelf, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    try:
        # a long file name wraps on a phone
        page.goto(f"{shelf.url}/items/{shelf.ids[LONG_NAME]}")
        page.wait_for_function(f"document.title.startsWith('{LONG_NAME}')")
        over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert over <= 1, f"the item page is {over} px too wide"
        # audio has no scenes section
        assert page.is_hidden("#scenes-panel")
        # a missing item says so, without the player's skeleton
        page.goto(f"{shelf.url}/items/999999")
        page.wait_for_function("document.body.dataset.missing === '1'")
        assert page.text_content("#item-title") == "No such item"
        assert page.is_hidden("#transcript") and page.is_hidden("#scenes-panel")
        # an unknown route: an HTML page for a browser, JSON for an API client
        resp = page.goto(f"{shelf.url}/no/such/page")
        assert resp.status == 404 and "text/html" in resp.headers["content-type"]
        assert page.text_content("#nf-title") == "Page not found"
        api = shelf.http.get("/no/such/page", headers={"Accept": "application/json"})
        assert api.status_code == 404 and api.json()["error"]["message"]
        assert shelf.http.get("/v1/nothing", headers={"Accept": "text/html"}).json()["error"]
    finally:
        ctx.close()


def test_a_line_that_is_not_a_link_is_refused_on_the_form(shelf: Shelf, page: Any) -> None:
    before = shelf.http.get("/v1/jobs").json()
    page.goto(shelf.url + "/new")
    page.fill("#w-urls", "Not a url\n")
    page.click("#w-submit")
    page.wait_for_selector("#w-made li.error")
    assert "not a link" in page.text_content("#w-made li.error")
    assert shelf.http.get("/v1/jobs").json() == before  # nothing was started


def test_item_page_words_by_keyboard_downloads_group_and_quiet_similar(
    web: Web, shelf: Shelf, page: Any
) -> None:
    _open_item(page, web, "narrated.mp4")
    # the downloads group may carry its label (no aria-prohibited-attr)
    assert page.get_attribute("#downloads", "role") == "group"
    # a word is reachable by keyboard, and Enter plays from it
    word = web.transcript("narrated.mp4")["segments"][1]["words"][2]
    target = page.locator("#transcript .seg").nth(1).locator(".w").nth(2)
    target.focus()
    assert target.evaluate("w => document.activeElement === w")
    page.keyboard.press("Enter")
    t, cur = _current(page)
    assert abs(t - word["start"]) < 0.1 and cur == 1
    # with an audio embedding, the items that sound alike
    page.wait_for_selector("#similar a[href]")
    assert "jfk.flac" in page.text_content("#similar")

    # no audio embedding (only probed): no request that must fail, a plain note instead
    asked: list[str] = []
    console: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: console.append(r.url) if r.status >= 400 else None)
    page.goto(f"{shelf.url}/items/{shelf.ids['Alpha.wav']}")
    page.wait_for_function("document.querySelector('#similar').textContent.includes('embedding')")
    assert not [u for u in asked if u.endswith("/similar")]
    assert not [c for c in console if "404" in c], console


# --------------------------------------------------------------------------- keys


def test_with_keys_the_page_asks_once_and_keeps_it(browser: Any, tmp_path: Path) -> None:
    svc = start_service(tmp_path / "home", keys=["s3cret"], worker=False)
    try:
        assert httpx.get(svc.url + "/v1/items").status_code == 401
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.goto(svc.url + "/")
        pg.wait_for_selector("#signin[open]")
        pg.fill("#signin-key", "wrong")
        pg.press("#signin-key", "Enter")
        pg.wait_for_selector("#signin-error:not([hidden])")
        # a user-facing hint, not the name of the server's environment variable
        wrong = pg.text_content("#signin-error")
        assert "wrong API key" in wrong and "VIDPIPE_" not in wrong, wrong
        pg.fill("#signin-key", "s3cret")
        pg.press("#signin-key", "Enter")
        # an empty library says how to add items
        pg.wait_for_selector("#lib-rows td.empty a[href='/new']")
        assert "vidpipe run" in pg.text_content("#lib-rows td.empty")
        assert not pg.is_visible("#signin")
        pg.goto(svc.url + "/jobs")  # the session keeps the key: no second question
        pg.wait_for_selector("#groups li")
        assert not pg.is_visible("#signin")
        cookie = next(c for c in ctx.cookies() if c["name"] == "vidpipe_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        ctx.close()

        # Esc on the sign-in dialog: the page says a key is needed, no endless "Loading…"
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.goto(svc.url + "/")
        pg.wait_for_selector("#signin[open]")
        pg.keyboard.press("Escape")
        pg.wait_for_selector("#lib-rows td.error", timeout=5000)
        assert "Sign in" in pg.text_content("#lib-rows td.error")
        assert "Loading" not in pg.text_content("#lib-rows")
        ctx.close()
    finally:
        svc.stop()
