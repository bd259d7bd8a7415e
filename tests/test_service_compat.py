"""The compatibility endpoints on a real uvicorn server (issue 12): ``/generateVideo``
with the video service's exact body and with speak/images jobs, path security, and
``/encode_audio`` on a video served by a local HTTP server."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from conftest import DATA, start_service
from vidpipe.media.probe import probe

PHOTOS = ["astronaut.png", "coffee.png", "rocket.jpg"]


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    s = start_service(tmp_path_factory.mktemp("compat_home"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(svc):
    with httpx.Client(base_url=svc.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def media(svc) -> Path:
    """The service's first media root, holding jfk.flac, a 2 s sentence and three photos."""
    root = Path(svc.config.media_roots[0])
    shutil.copy(DATA / "jfk.flac", root / "jfk.flac")
    shutil.copy(DATA / "en_dev" / "LJ001-0002.wav", root / "short.wav")
    for name in PHOTOS:
        shutil.copy(DATA / "photos" / name, root / name)
    return root


def _error(r: httpx.Response, status: int, type_: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == type_, err
    assert "Traceback" not in r.text
    return err


@pytest.mark.slow  # 1080p frames with Ken Burns: about 30 s on two shared cores
def test_generate_video_with_the_services_exact_body(client, media):
    seconds = probe(media / "short.wav").duration  # 1.9 s: 1080p frames are costly
    body = {
        "audio_path": str(media / "short.wav"),
        "image_paths": [str(media / n) for n in PHOTOS],
        "fps": 24,
        "resolution": [1920, 1080],
        "slide_duration": 3.0,
        "transition_duration": 0.5,
        "enable_ken_burns": True,
        "zoom_factor": 1.1,
    }
    r = client.post("/generateVideo", json=body, params={"wait": 300})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    assert job["task_id"] == job["job_id"]
    info = probe(job["video_path"])
    assert info.video_streams[0].width == 1920 and info.video_streams[0].height == 1080
    assert info.duration == pytest.approx(seconds, abs=0.05)  # as long as the audio
    assert job["duration"] == pytest.approx(seconds, abs=0.05)
    assert job["video_url"] == f"/v1/jobs/{job['job_id']}/artifacts/video.mp4"


def test_generate_video_without_wait_is_202(client, media):
    body = {"audio_path": "jfk.flac", "image_paths": ["coffee.png"], "resolution": [320, 180]}
    r = client.post("/generateVideo", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "succeeded")


def test_generate_video_from_speak_and_images_jobs(svc, client):
    from vidpipe.pipeline.queue import enqueue

    store = svc.app.state.store
    speak = store.create("speak", {}, input={"text": "One slide. Then another one."})
    cards = store.create("images", {"width": 320, "height": 180}, depends_on=[speak.id])
    enqueue([speak], url=svc.config.queue_url)
    body = {"voice_track_id": speak.id, "slide_ids": [cards.id], "resolution": [320, 180],
            "subtitles": "burn"}  # fmt: skip
    r = client.post("/generateVideo", json=body, params={"wait": 120})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    spoken = store.get(speak.id).result["duration"]
    assert probe(job["video_path"]).duration == pytest.approx(spoken, abs=0.1)
    assert set(store.get(job["job_id"]).depends_on) == {speak.id, cards.id}


def test_generate_video_refuses_paths_outside_the_media_roots(client, media, tmp_path):
    outside = tmp_path / "secret.png"
    shutil.copy(DATA / "photos" / "coffee.png", outside)
    base = {"audio_path": str(media / "jfk.flac"), "resolution": [320, 180]}
    err = _error(
        client.post("/generateVideo", json=base | {"image_paths": [str(outside)]}),
        403,
        "ForbiddenError",
    )
    assert "outside the media roots" in err["message"]
    err = _error(
        client.post("/generateVideo", json=base | {"image_paths": [f"{media}/../secret.png"]}),
        403,
        "ForbiddenError",
    )
    assert "'..'" in err["message"]
    link = media / "link.png"
    link.symlink_to(outside)
    err = _error(
        client.post("/generateVideo", json=base | {"image_paths": [str(link)]}),
        403,
        "ForbiddenError",
    )
    assert str(link) in err["message"] and str(outside) not in err["message"]  # no target
    _error(
        client.post("/generateVideo", json=base | {"image_paths": [str(media / "nope.png")]}),
        404,
        "NotFoundError",
    )


def test_generate_video_bad_bodies(client, media):
    r = client.post("/generateVideo", json={"audio_path": "jfk.flac"})
    _error(r, 422, "ValidationError")
    r = client.post(
        "/generateVideo", json={"image_paths": ["coffee.png"], "resolution": [321, 180]}
    )
    assert "odd" in _error(r, 400, "UsageError")["message"]
    r = client.post("/generateVideo", json={"image_paths": ["coffee.png"], "slide_ids": ["x"]})
    _error(r, 404, "NotFoundError")


# --------------------------------------------------------------------------- encode_audio


class _Files(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def file_server():
    """A local HTTP server serving tests/data (and counting its requests)."""

    def handler(*args, **kwargs):
        return _Files(*args, directory=str(DATA), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_encode_audio_of_a_served_video(client, file_server):
    pytest.importorskip("vidpipe.pipeline.embed", reason="audio embeddings (issue 11) not merged")
    url = file_server + "/video/lhotse_big_buck_bunny_small.mp4"  # 5.3 s, 6-channel AAC
    r = client.post("/encode_audio", json={"video_url": url})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"features", "processing_time", "video_length", "channels"}
    assert len(body["features"]) == 1 and len(body["features"][0]) == 512  # Whisper base
    assert body["channels"] == 6
    assert body["video_length"] == pytest.approx(5.312, abs=0.01)
    assert body["processing_time"] > 0
    again = client.post("/encode_audio", json={"video_url": url}).json()
    assert again["features"] == body["features"]  # the same file gives the same vector
    r = client.post("/encode_audio", json={"video_url": file_server + "/video/moviepy_example.mp4"})
    err = _error(r, 415, "NoAudioError")
    assert "moviepy_example.mp4" in err["message"] and "/tmp" not in err["message"]


def test_encode_audio_bad_urls(client, file_server):
    _error(client.post("/encode_audio", json={"video_url": "ftp://example.com/a.mp4"}), 400,
           "UsageError")  # fmt: skip
    r = client.post("/encode_audio", json={"video_url": file_server + "/missing.mp4"})
    assert r.status_code == 502, r.text
    r = client.post("/encode_audio", json={"video_url": file_server + "/SOURCES.md"})
    assert r.status_code == 415, r.text


def test_private_urls_are_refused_without_a_request(tmp_path, file_server):
    """Without VIDPIPE_ALLOW_PRIVATE_URLS: loopback literals and names resolving to private
    addresses are refused before anything is sent (the resolver is asked; the local
    server sees no request)."""
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return {"intranet.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"]}[host]

    svc = start_service(tmp_path / "home", worker=False, allow_private_urls=False)
    svc.app.state.resolver = resolver
    seen = len(_Files.requests)
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            for url, why in [
                (file_server + "/video/moviepy_example.mp4", "loopback"),
                ("http://intranet.test/v.mp4", "private"),
                ("http://metadata.test/latest", "link-local"),
            ]:
                err = _error(c.post("/encode_audio", json={"video_url": url}), 403,
                             "ForbiddenError")  # fmt: skip
                assert why in err["message"]
    finally:
        svc.stop()
    assert asked == ["intranet.test", "metadata.test"]
    assert len(_Files.requests) == seen
