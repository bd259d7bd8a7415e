"""A video the browser cannot decode gets a playable copy (issue 22): the ``proxy``
stage (H.264 + AAC with PyAV) started by the item page, run by the service's own
worker (uvicorn on 127.0.0.1), then played in place in Debian's Chromium (frames
decoded > 0). The video is MPEG-4 Part 2, made with PyAV from a real photo and speech
(:func:`test_web._mpeg4_video`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import test_web
from conftest import start_service
from test_web import ARTIFACTS, SIZES, _mpeg4_video

browser = test_web.browser  # the module's fixtures, shared
page = test_web.page


def _store(home: Path) -> tuple[int, Path]:
    from vidpipe.files import sha256_file
    from vidpipe.library.catalog import Catalog
    from vidpipe.media.probe import probe

    media = home / "media"
    media.mkdir(parents=True, exist_ok=True)
    path = _mpeg4_video(media / "old-camera.mp4")
    with Catalog(f"sqlite:///{home / 'catalog.db'}") as cat:
        row, _ = cat.add_media(path, sha256_file(path), path.stat().st_size)
        cat.record_probe(row.id, probe(path))
        return row.id, path


def _shots(browser: Any, url: str) -> list[Path]:
    """The item page at both sizes once its copy has played a second (then paused)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = []
    for label, (w, h) in SIZES.items():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = ctx.new_page()
        pg.goto(url)
        pg.wait_for_selector(".proxy-note")
        pg.evaluate(
            "(() => { const v = document.querySelector('#player'); v.muted = true; v.play(); })()"
        )
        pg.wait_for_function("document.querySelector('#player').currentTime > 1")
        pg.evaluate("document.querySelector('#player').pause()")
        path = ARTIFACTS / f"item-proxy-{label}-{w}x{h}.png"
        pg.screenshot(path=str(path))
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        ctx.close()
        assert overflow <= 1, f"the item page at {w} px is {overflow} px too wide"
        out.append(path)
    return out


def test_undecodable_video_gets_a_proxy_that_plays(tmp_path: Path, page: Any, browser: Any):
    import av

    item, _ = _store(tmp_path)
    svc = start_service(tmp_path)  # with its worker
    try:
        http = httpx.Client(base_url=svc.url, timeout=30)
        assert http.get(f"/v1/items/{item}/proxy").status_code == 404
        page.goto(f"{svc.url}/items/{item}")
        page.wait_for_selector("#media-box .cannot-play .proxy-state")
        page.wait_for_selector("#player[data-proxy]", timeout=120_000)
        page.wait_for_selector(".proxy-note")
        assert page.locator(".cannot-play").count() == 0
        page.evaluate("document.querySelector('#player').muted = true")
        page.evaluate("document.querySelector('#player').play()")
        page.wait_for_function(
            "document.querySelector('#player').getVideoPlaybackQuality().totalVideoFrames > 0"
            " && document.querySelector('#player').videoWidth > 0",
            timeout=60_000,
        )
        page.evaluate("document.querySelector('#player').pause()")
        # the copy: H.264 + AAC; asking again gives the same job
        again = http.post(f"/v1/items/{item}/proxy")
        assert again.status_code == 200 and again.json()["status"] == "succeeded"
        mp4 = tmp_path / "got.mp4"
        mp4.write_bytes(http.get(f"/v1/items/{item}/proxy").content)
        with av.open(str(mp4)) as c:
            codecs = sorted(s.codec_context.name for s in c.streams)
        assert codecs == ["aac", "h264"]
        poster = http.get(f"/v1/items/{item}/proxy/poster")
        assert poster.headers["content-type"] == "image/jpeg" and poster.content[:2] == b"\xff\xd8"
        assert http.post("/v1/items/999/proxy").status_code == 404
        shots = _shots(browser, f"{svc.url}/items/{item}")
        print("\n".join(f"screenshot: {p}" for p in shots))
    finally:
        svc.stop()
