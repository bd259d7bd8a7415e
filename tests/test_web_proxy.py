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
from test_web import _mpeg4_video, screenshot

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
        shots = screenshot(browser, f"{svc.url}/items/{item}", "item-proxy", ".proxy-note")
        print("\n".join(f"screenshot: {p}" for p in shots))
    finally:
        svc.stop()
