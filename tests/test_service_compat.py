"""The compatibility endpoints on a real uvicorn server (issues 12, 18): ``/generateVideo``
with the video service's exact body, with speak/images jobs and with URL inputs (download
jobs), path security, ``?wait`` capped below the request timeout, and ``/encode_audio``
(download and embed jobs, 1 x 1024 features, catalog rows, the same vector as
``vidpipe embed``) on files served by the local media server (tests/servers)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import DATA, start_service
from servers.http_media import MediaServer
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
    assert "300 s is over this service's cap of 290 s" in job["note"]  # clamped, said


def test_generate_video_without_wait_names_the_future_file(svc, client, media):
    """Without ?wait the 202 names the file the job will write and where to poll (what a
    client of the replaced service, which polled, needs); the file appears there."""
    body = {"audio_path": "short.wav", "image_paths": ["coffee.png"], "resolution": [160, 90],
            "fps": 5, "enable_ken_burns": False}  # fmt: skip
    r = client.post("/generateVideo", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "succeeded")
    assert job["video_path"] == str(svc.config.storage / "jobs" / job["job_id"] / "video.mp4")
    assert job["status_url"] == f"/v1/jobs/{job['job_id']}"
    assert job["wait_cap"] == 290 and job["note"] is None  # the default 300 s timeout
    for _ in range(240):
        polled = client.get(job["status_url"]).json()
        if polled["status"] in ("succeeded", "failed", "canceled"):
            break
        time.sleep(0.5)
    assert polled["status"] == "succeeded", polled
    assert probe(job["video_path"]).duration == pytest.approx(1.9, abs=0.1)


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
    many = [f"http://127.0.0.1:9/{i}.png" for i in range(101)]  # never fetched nor resolved
    r = client.post("/generateVideo", json={"image_paths": many})
    assert "more than 100" in _error(r, 400, "UsageError")["message"]


# --------------------------------------------------------------------------- URL inputs


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The local media server (tests/servers/http_media.py) over a folder holding the
    bunny video (5.3 s, 6-channel AAC), a video without audio, a 1.9 s sentence, two
    photos and a text file."""
    root = tmp_path_factory.mktemp("served")
    shutil.copy(DATA / "video" / "lhotse_big_buck_bunny_small.mp4", root / "bunny.mp4")
    shutil.copy(DATA / "video" / "moviepy_example.mp4", root / "silent.mp4")
    shutil.copy(DATA / "en_dev" / "LJ001-0002.wav", root / "short.wav")
    shutil.copy(DATA / "photos" / "coffee.png", root / "coffee.png")
    shutil.copy(DATA / "photos" / "astronaut.png", root / "astronaut.png")
    shutil.copy(DATA / "SOURCES.md", root / "notes.txt")
    with MediaServer(root) as server:
        yield server


def _jobs_files(home: Path) -> set[Path]:
    return {p for p in (home / "jobs").rglob("*") if p.is_file()}


def _wait_jobs(store, ids: list[str], seconds: float = 120) -> list:
    deadline = time.monotonic() + seconds
    while True:
        jobs = store.get_many(ids)
        if all(j.status in ("succeeded", "failed", "canceled") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [j.status for j in jobs]
        time.sleep(0.2)


def test_generate_video_url_inputs_are_download_jobs(svc, client, media, served):
    store = svc.app.state.store
    seen = len(served.requests)
    body = {
        "audio_path": served.url("short.wav"),
        "image_paths": [served.url("coffee.png"), "astronaut.png", served.url("coffee.png")],
        "resolution": [160, 90],
        "fps": 5,
        "transition_duration": 0.1,
        "enable_ken_burns": False,
    }
    r = client.post("/generateVideo", json=body, params={"wait": 120})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job["error"]
    render = store.get(job["job_id"])
    downloads = [d for d in store.get_many(render.depends_on) if d.kind == "download"]
    assert len(downloads) == 2  # one job per distinct URL: the photo and the narration
    assert {d.input["url"] for d in downloads} == {body["audio_path"], body["image_paths"][0]}
    assert all(d.status == "succeeded" and len(d.artifacts) == 1 for d in downloads)
    assert render.input["images"][0] == render.input["images"][2]  # job:<id> of the photo
    assert render.input["images"][0].startswith("job:")
    assert probe(job["video_path"]).duration == pytest.approx(1.9, abs=0.1)  # the narration
    assert len(served.requests) - seen == 2  # each URL fetched once, by its job
    # slides handed on are job files, not library items
    photo = hashlib.sha256((DATA / "photos" / "coffee.png").read_bytes()).hexdigest()
    assert store.catalog.media_by_sha256(photo) is None


def test_generate_video_failed_download_fails_the_render_without_orphans(
    svc, client, media, served
):
    store = svc.app.state.store
    home = svc.config.storage
    body = {
        "image_paths": [served.url("astronaut.png"), served.url("coffee.png", fault="404")],
        "resolution": [160, 90],
    }
    r = client.post("/generateVideo", json=body, params={"wait": 120})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "failed" and job["video_path"] is None
    assert "HTTP 404 Not Found" in job["error"] and "dependency" in job["error"]
    deps = _wait_jobs(store, store.get(job["job_id"]).depends_on)
    bad = next(d for d in deps if d.status == "failed")
    assert bad.error.message == "HTTP 404 Not Found"
    assert not (home / "jobs" / bad.id).exists()  # nothing of the failed download
    owned = {home / a for j in store.list(limit=1000).jobs for a in j.artifacts}
    assert _jobs_files(home) <= owned  # every file is some job's artifact: no orphans


# --------------------------------------------------------------------------- ?wait


def _run_next_render(store, stop: threading.Event) -> None:
    """Run queued render (and download) jobs in this thread: the worker of a service
    started without one."""
    from vidpipe.pipeline.execute import run_next

    while not stop.is_set():
        if run_next(store, kinds=["download", "render"]) is None:
            time.sleep(0.05)


def test_wait_is_capped_below_the_request_timeout(tmp_path, media):
    """With a 4 s request timeout the cap is 3 s: ?wait=600 answers 202 with the job
    (never 504) and says it was clamped; a job that ends within the wait answers 200;
    /encode_audio answers 202 with its job when the vector is not ready in time."""
    svc = start_service(tmp_path / "home", worker=False, request_timeout=4.0)
    root = Path(svc.config.media_roots[0])
    for name in ("short.wav", "coffee.png"):
        shutil.copy(media / name, root / name)
    body = {"audio_path": "short.wav", "image_paths": ["coffee.png"], "resolution": [160, 90],
            "fps": 5, "enable_ken_burns": False}  # fmt: skip
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            t0 = time.monotonic()
            r = c.post("/generateVideo", json=body, params={"wait": 600})
            took = time.monotonic() - t0
            assert r.status_code == 202, r.text  # no worker: still queued
            job = r.json()
            assert job["status"] == "queued" and job["wait_cap"] == 3.0
            assert "600 s is over this service's cap of 3 s (request timeout 4 s)" in job["note"]
            assert 2.5 <= took < 4.0
            r = c.post("/generateVideo", json=body, params={"wait": 0.5})
            assert r.status_code == 202 and r.json()["note"] is None
            r = c.post("/encode_audio", json={"video_url": str(root / "short.wav")})
            assert r.status_code == 202, r.text
            pending = r.json()
            assert set(pending) == {"job_id", "status", "progress", "status_url", "wait_cap"}
            assert pending["status"] == "queued" and pending["wait_cap"] == 3.0
            stop = threading.Event()
            runner = threading.Thread(target=_run_next_render, args=(svc.app.state.store, stop))
            runner.start()
            try:
                r = c.post("/generateVideo", json=body, params={"wait": 600})
            finally:
                stop.set()
                runner.join(30)
            assert r.status_code == 200, r.text  # ended within the wait
            assert r.json()["status"] == "succeeded"
            assert Path(r.json()["video_path"]).is_file()
    finally:
        svc.stop()


# --------------------------------------------------------------------------- encode_audio


def _embedding(catalog, media_id: int, pool: str):
    from vidpipe.pipeline.embed import EmbedOptions

    return catalog.embedding(media_id, EmbedOptions(pool=pool).key())


def test_encode_audio_of_a_served_video(svc, client, served):
    cat = svc.app.state.catalog
    url = served.url("bunny.mp4")
    r = client.post("/encode_audio", json={"video_url": url})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"features", "processing_time", "video_length", "channels"} <= set(body)
    assert len(body["features"]) == 1 and len(body["features"][0]) == 1024  # mean + std
    assert body["pooling"] == "meanstd"
    assert body["channels"] == 6
    assert body["video_length"] == pytest.approx(5.312, abs=0.02)
    assert body["processing_time"] > 0
    # the catalog: the source (the URL), its item, the vector with its facts
    src = cat.find_source(url)
    assert src is not None and src.state == "done" and src.media_id == body["media_id"]
    item = cat.get_media(body["media_id"])
    assert Path(item.path).is_file() and Path(item.path).parent == svc.config.storage / "media"
    row = _embedding(cat, item.id, "meanstd")
    assert row.dim == 1024 and row.channels == 6 and row.seconds > 0
    assert np.frombuffer(row.vector, dtype="<f4").tolist() == pytest.approx(body["features"][0])
    # 512: the mean half of the same frames
    fetched = sum(1 for q in served.requests if q["name"] == "bunny.mp4")
    r = client.post("/encode_audio", json={"video_url": url, "pooling": "mean"})
    assert r.status_code == 200, r.text
    mean = r.json()["features"][0]
    assert len(mean) == 512
    assert mean == pytest.approx(body["features"][0][:512], rel=1e-5, abs=1e-6)
    again = client.post("/encode_audio", json={"video_url": url}).json()
    assert again["features"] == body["features"]  # the stored vector
    assert sum(1 for q in served.requests if q["name"] == "bunny.mp4") == fetched  # no refetch


def test_encode_audio_bad_inputs_are_recorded(svc, client, served):
    cat = svc.app.state.catalog
    home = svc.config.storage
    r = client.post("/encode_audio", json={"video_url": served.url("silent.mp4")})
    err = _error(r, 415, "NoAudioError")
    assert "silent.mp4" in err["message"] and "/tmp" not in err["message"]
    _error(client.post("/encode_audio", json={"video_url": "ftp://example.com/a.mp4"}), 400,
           "UsageError")  # fmt: skip
    before = {p.name for p in (home / "media").iterdir()}
    missing = served.url("bunny.mp4", fault="404")
    err = _error(client.post("/encode_audio", json={"video_url": missing}), 502, "RemoteError")
    assert "HTTP 404 Not Found" in err["message"]
    src = cat.find_source(missing)
    assert src.state == "failed" and src.reason == "download: HTTP 404 Not Found"
    fails = [f for f in cat.failures() if f.source_id == src.id]
    assert [(f.stage, f.message) for f in fails] == [("download", "HTTP 404 Not Found")]
    assert {p.name for p in (home / "media").iterdir()} == before  # no file, no .part
    r = client.post("/encode_audio", json={"video_url": served.url("notes.txt")})
    err = _error(r, 415, "MediaError")  # not decodable; named by its URL, not a server path
    assert "notes.txt" in err["message"] and str(home) not in err["message"]


def test_encode_audio_vector_is_the_one_vidpipe_embed_stores(svc, client, served, tmp_path):
    """``vidpipe embed --pool meanstd`` on the same file (another catalog) stores the
    vector /encode_audio answers: the route goes through the embed stage."""
    shutil.copy(served.root / "short.wav", tmp_path / "short.wav")
    env = dict(os.environ, VIDPIPE_HOME=str(tmp_path / "home"), VIDPIPE_DATABASE_URL="")
    args = [
        sys.executable,
        "-m",
        "vidpipe",
        "embed",
        "--pool",
        "meanstd",
        str(tmp_path / "short.wav"),
    ]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from vidpipe.library.catalog import Catalog

    with Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}") as cat:
        (item,) = cat.all_media()
        stored = np.frombuffer(_embedding(cat, item.id, "meanstd").vector, dtype="<f4")
    r = client.post("/encode_audio", json={"video_url": served.url("short.wav")})
    assert r.status_code == 200, r.text
    answered = np.asarray(r.json()["features"][0], dtype=np.float32)
    cosine = float(stored @ answered / np.linalg.norm(stored) / np.linalg.norm(answered))
    assert cosine > 0.9999, cosine


def test_private_urls_are_refused_without_a_request(tmp_path, served):
    """Without VIDPIPE_ALLOW_PRIVATE_URLS: loopback literals and names resolving to private
    addresses are refused before anything is sent (the resolver is asked; the local
    server sees no request)."""
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return {"intranet.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"]}[host]

    svc = start_service(tmp_path / "home", worker=False, allow_private_urls=False)
    svc.app.state.resolver = resolver
    seen = len(served.requests)
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            for url, why in [
                (served.url("silent.mp4"), "loopback"),
                ("http://intranet.test/v.mp4", "private"),
                ("http://metadata.test/latest", "link-local"),
            ]:
                err = _error(c.post("/encode_audio", json={"video_url": url}), 403,
                             "ForbiddenError")  # fmt: skip
                assert why in err["message"]
            body = {"image_paths": ["http://intranet.test/a.png"], "resolution": [160, 90]}
            _error(c.post("/generateVideo", json=body), 403, "ForbiddenError")
        assert svc.app.state.store.counts().get("queued", 0) == 0  # no job made
    finally:
        svc.stop()
    assert asked == ["intranet.test", "metadata.test", "intranet.test"]
    assert len(served.requests) == seen
