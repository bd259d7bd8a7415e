"""The replaced video service's Redis tasks (vidpipe.pipeline.video_tasks) through a real
``vidpipe worker --video-service-queue`` process, on the real Redis at 127.0.0.1:6379
(db 11; skipped with the reason when it does not answer).

Each test uses its own list name and task ids and deletes only its own keys. The jobs
run in the worker with the default embedded queue (SQLite) and a catalog in tmp_path.

- voice + slides + video tasks, in both arrival orders (the video first: it waits in
  ``<list>:waiting`` until the tasks it names have jobs), give ``status=succeeded``
  videos as long as their voice tracks (probed), with the states published on
  ``task-events`` in order (queued, running, succeeded);
- a worker SIGKILLed after it moved a task to the processing list (its catalog write held
  up by a lock this test takes) loses nothing: the next worker recovers it;
- malformed tasks: not JSON and no task_id -> ``<list>:dead`` with the reason; an unknown
  type, bad params, a named task that failed -> ``status=failed`` with the reason;
- URL inputs (the local media server, tests/servers/http_media.py, private URLs allowed
  by the setting as in the compat tests): a download job per URL and the video; a 404
  fails the task naming the URL; without the setting a loopback URL fails the task at
  once (nothing fetched, no job);
- a video task whose voice track never comes fails after the dependency timeout (the
  setting, 2 s here);
- ``vidpipe serve --video-service-queue`` consumes the list too (a real server process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import DATA
from servers.http_media import MediaServer
from vidpipe.media.probe import probe

REDIS_URL = "redis://127.0.0.1:6379/11"  # this file's own database (test_submit_batch flushes 14)
FAST = ["--reap-every", "0.5", "--grace", "1", "--stop-timeout", "5", "--threads", "1"]
SMALL = {"resolution": [320, 180], "fps": 10, "transition_duration": 0.2}


@pytest.fixture
def rds():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, decode_responses=True)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not answering at {REDIS_URL}: {type(exc).__name__}")
    keys: list[str] = []
    client.own = keys  # type: ignore[attr-defined]
    yield client
    if keys:
        client.delete(*keys)
    client.close()


class Producer:
    """A producer of the replaced service: LPUSH of JSON tasks on a unique list."""

    def __init__(self, rds, tag: str) -> None:
        self.rds = rds
        self.uid = uuid.uuid4().hex[:10]
        self.list = f"test-video-tasks-{tag}-{self.uid}"
        rds.own += [
            self.list,
            *(
                f"{self.list}:{s}"
                for s in ("processing", "dead", "waiting", "waiting-since", "active")
            ),
        ]

    def tid(self, name: str) -> str:
        task_id = f"{name}-{self.uid}"
        self.rds.own.append(f"task:{task_id}")
        return task_id

    def push(self, task) -> None:
        self.rds.lpush(self.list, task if isinstance(task, str) else json.dumps(task))

    def state(self, task_id: str) -> dict[str, str]:
        return self.rds.hgetall(f"task:{task_id}")

    def wait(self, task_ids, worker, timeout: float = 180.0) -> dict[str, dict[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            states = {t: self.state(t) for t in task_ids}
            if all(s.get("status") in ("succeeded", "failed") for s in states.values()):
                return states
            if worker is not None and worker.poll() is not None:
                pytest.fail(f"worker died: {worker.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"tasks not finished: {states}")
            time.sleep(0.3)


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", VIDPIPE_QUEUE_URL="")
    env.pop("VIDPIPE_STORAGE", None)
    env.pop("VIDPIPE_ALLOW_PRIVATE_URLS", None)
    env.pop("VIDPIPE_VIDEO_TASK_DEPENDENCY_TIMEOUT", None)
    env.update({f"VIDPIPE_{k.upper()}": v for k, v in settings.items()})
    return env


def start_worker(env, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vidpipe",
            "worker",
            *FAST,
            "--video-service-queue",
            name,
            "--video-service-redis",
            REDIS_URL,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_running(home: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the worker recorded itself in the catalog (its signal handlers follow at
    once): a SIGTERM before that would end it with the default action."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the worker did not start"
        if (home / "catalog.db").is_file():
            store = JobStore(Catalog(f"sqlite:///{home / 'catalog.db'}"))
            try:
                if store.workers():
                    break
            except Exception:  # the catalog is being created
                pass
            finally:
                store.close()
        time.sleep(0.2)
    time.sleep(0.5)


def stop_worker(proc: subprocess.Popen, home: Path | None = None) -> tuple[int, str]:
    if home is not None and proc.poll() is None:
        wait_running(home, proc)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    return proc.returncode, stderr


class Events:
    """The messages of ``task-events`` about some task ids, collected in a thread."""

    def __init__(self, rds, task_ids) -> None:
        self.ids, self.seen = set(task_ids), []
        self.pubsub = rds.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("task-events")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                data = json.loads(msg["data"])
                if data.get("task_id") in self.ids:
                    self.seen.append(data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pubsub.close()

    def statuses(self, task_id: str) -> list[str]:
        out: list[str] = []
        for m in self.seen:
            if m["task_id"] == task_id and (not out or out[-1] != m["status"]):
                out.append(m["status"])
        return out


def _group(p: Producer, name: str, text: str):
    voice, s1, s2, video = (p.tid(f"{name}-{k}") for k in ("voice", "s1", "s2", "video"))
    tasks = {
        "voice": {"task_id": voice, "type": "CreateVoiceTrack", "params": {"text": text}},
        "s1": {
            "task_id": s1,
            "type": "CreateSlide",
            "params": {"title": "Part one", "text": "first slide", "size": [320, 180]},
        },
        "s2": {
            "task_id": s2,
            "type": "CreateSlide",
            "params": {"text": "Second", "size": "320x180"},
        },
        "video": {
            "task_id": video,
            "type": "CreateVideo",
            "voice_track_id": voice,
            "slide_ids": [s1, s2],
            "params": SMALL,
        },
    }
    return tasks


def test_voice_slides_video_in_either_order(rds, tmp_path):
    p = Producer(rds, "order")
    before = _group(p, "a", "The first video is narrated by this sentence. It has two slides.")
    after = _group(p, "b", "In the second group the video task came first, before its voice.")
    ids = [t["task_id"] for g in (before, after) for t in g.values()]
    events = Events(rds, ids)
    worker = start_worker(_env(tmp_path / "home"), p.list)
    try:
        for k in ("voice", "s1", "s2", "video"):
            p.push(before[k])
        for k in ("video", "s2", "voice", "s1"):  # the video before what it names
            p.push(after[k])
        states = p.wait(ids, worker)
    finally:
        code, stderr = stop_worker(worker, tmp_path / "home")
        events.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert f"video service tasks: {p.list}" in stderr
    for g in (before, after):
        v, voice = states[g["video"]["task_id"]], states[g["voice"]["task_id"]]
        assert v["status"] == "succeeded", v
        assert voice["status"] == "succeeded", voice
        assert v["job_id"] and v["video_path"].endswith("video.mp4")
        for s in ("s1", "s2"):
            st = states[g[s]["task_id"]]
            assert st["status"] == "succeeded" and Path(st["image_path"]).is_file(), st
        audio = probe(voice["audio_path"]).duration
        video = probe(v["video_path"])
        assert abs(float(voice["duration"]) - audio) < 0.05
        assert abs(video.duration - audio) < 0.25, (video.duration, audio)
        assert abs(float(v["duration"]) - video.duration) < 0.25
        seen = events.statuses(g["video"]["task_id"])  # "running" may fall between two polls
        assert seen in (["queued", "running", "succeeded"], ["queued", "succeeded"]), seen
        assert events.statuses(g["voice"]["task_id"])[-1] == "succeeded"
    assert rds.llen(p.list) == 0 and rds.llen(f"{p.list}:processing") == 0
    assert rds.hlen(f"{p.list}:waiting") == 0 and rds.scard(f"{p.list}:active") == 0


def test_sigkill_after_taking_a_task_loses_nothing(rds, tmp_path):
    """The first task proves the worker consumes; then the catalog is write-locked by this
    test, so the worker's job creation for the next task waits with the task in the
    processing list: SIGKILL there. A second worker recovers it."""
    p = Producer(rds, "kill")
    env = _env(tmp_path / "home")
    first = p.tid("first")
    second = p.tid("second")
    worker = start_worker(env, p.list)
    lock = None
    try:
        p.push(
            {"task_id": first, "type": "CreateSlide", "params": {"text": "one", "size": [320, 180]}}
        )
        deadline = time.monotonic() + 90
        while not p.state(first).get("job_id"):
            assert worker.poll() is None, worker.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        p.wait([first], worker)
        lock = sqlite3.connect(tmp_path / "home" / "catalog.db", isolation_level=None, timeout=30)
        lock.execute("BEGIN IMMEDIATE")  # writers wait (busy timeout) from here
        p.push({"task_id": second, "type": "CreateVoiceTrack", "params": {"text": "Not lost."}})
        deadline = time.monotonic() + 30
        while rds.llen(f"{p.list}:processing") == 0:
            assert time.monotonic() < deadline, "the task was not taken"
            time.sleep(0.05)
        assert rds.llen(p.list) == 0
    finally:
        worker.kill()  # SIGKILL: no clean-up of any kind
        worker.communicate()
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
    assert worker.returncode == -signal.SIGKILL
    assert rds.llen(f"{p.list}:processing") == 1  # taken, not acknowledged, not lost
    assert not p.state(second).get("job_id")
    again = start_worker(env, p.list)
    try:
        states = p.wait([second], again)
    finally:
        code, stderr = stop_worker(again, tmp_path / "home")
    assert code == 0, stderr
    assert states[second]["status"] == "succeeded", states
    assert Path(states[second]["audio_path"]).is_file()
    assert rds.llen(f"{p.list}:processing") == 0


def test_malformed_tasks_are_reported(rds, tmp_path):
    p = Producer(rds, "bad")
    unknown, badparams, noslides, voice, video = (
        p.tid(n) for n in ("unknown", "badparams", "noslides", "emptyvoice", "video")
    )
    worker = start_worker(_env(tmp_path / "home"), p.list)
    try:
        p.push("{not json")
        p.push({"type": "CreateVideo", "params": {}})
        p.push({"task_id": unknown, "type": "MakeCoffee", "params": {}})
        p.push(
            {
                "task_id": badparams,
                "type": "CreateVideo",
                "params": {"fps": "fast", "image_paths": ["/x.png"]},
            }
        )
        p.push({"task_id": noslides, "type": "GenerateVideo", "params": {"audio_path": "/a.wav"}})
        p.push({"task_id": voice, "type": "CreateVoiceTrack", "params": {"text": ""}})
        p.push(
            {
                "task_id": video,
                "type": "CreateVideo",
                "voice_track_id": voice,
                "params": {"image_paths": ["/x.png"]},
            }
        )
        states = p.wait([unknown, badparams, noslides, voice, video], worker, timeout=60)
        deadline = time.monotonic() + 30
        while rds.llen(f"{p.list}:dead") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert worker.poll() is None  # still consuming
    finally:
        code, stderr = stop_worker(worker, tmp_path / "home")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert all(s["status"] == "failed" for s in states.values()), states
    assert "unknown type 'MakeCoffee'" in states[unknown]["error"]
    assert states[badparams]["error"].startswith("params.fps:")
    assert "image_paths or slide_ids" in states[noslides]["error"]
    assert states[voice]["error"].startswith("params.text:")
    assert f"voice_track_id {voice} failed" in states[video]["error"]
    dead = [json.loads(x) for x in rds.lrange(f"{p.list}:dead", 0, -1)]
    reasons = sorted(d["error"] for d in dead)
    assert reasons[0] == "no task_id" and reasons[1].startswith("not JSON")
    assert {d["task"] for d in dead} >= {"{not json"}
    assert rds.llen(f"{p.list}:processing") == 0


def test_a_running_consumer_recovers_a_dead_workers_task(rds, tmp_path):
    """In process: an entry left in the processing list by a dead worker (moved there by
    this test) is handled by a running consumer at its second look, not its first (an
    entry seen once may be in the hands of a live worker)."""
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore
    from vidpipe.pipeline.video_tasks import VideoTasks

    p = Producer(rds, "stale")
    tid = p.tid("slide")
    store = JobStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"), root=tmp_path / "store")
    tasks = VideoTasks(store, REDIS_URL, p.list, job_queue=f"sqlite:///{tmp_path / 'q.db'}")
    try:
        p.push({"task_id": tid, "type": "CreateSlide", "params": {"title": "Left over"}})
        assert rds.lmove(p.list, f"{p.list}:processing", "RIGHT", "LEFT")  # then it died
        assert tasks.recover_stale() == 0  # first look: maybe being handled
        assert tasks.recover_stale() == 1
        st = p.state(tid)
        assert st["status"] == "queued" and st["job_id"], st
        assert store.get(st["job_id"]).kind == "images"
        assert rds.llen(f"{p.list}:processing") == 0
        p.push({"task_id": tid, "type": "CreateSlide", "params": {"title": "Left over"}})
        assert tasks.take_once(1.0) == "created"  # the same task again: the same job
        assert p.state(tid)["job_id"] == st["job_id"]
        assert len(store.list(limit=10).jobs) == 1
    finally:
        tasks.stop()
        store.close()


# --------------------------------------------------------------------------- URL inputs


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The local media server over a 1.9 s sentence and two photos."""
    root = tmp_path_factory.mktemp("served")
    shutil.copy(DATA / "en_dev" / "LJ001-0002.wav", root / "short.wav")
    shutil.copy(DATA / "photos" / "coffee.png", root / "coffee.png")
    shutil.copy(DATA / "photos" / "astronaut.png", root / "astronaut.png")
    with MediaServer(root) as server:
        yield server


def _catalog(home: Path):
    from vidpipe.library.catalog import Catalog
    from vidpipe.pipeline.jobs import JobStore

    return JobStore(Catalog(f"sqlite:///{home / 'catalog.db'}"), root=home)


def test_url_inputs_a_failed_download_and_a_dependency_that_never_comes(rds, tmp_path, served):
    """With VIDPIPE_ALLOW_PRIVATE_URLS=1 (the server is on loopback) and a dependency
    timeout of 2 s: URLs become download jobs the render depends on and the video is as
    long as the downloaded narration; a 404 fails its task with the URL and the reason;
    a video naming a voice track that is never pushed fails with the timeout's reason."""
    p = Producer(rds, "urls")
    video, broken, orphan, never = (p.tid(n) for n in ("video", "broken", "orphan", "never"))
    home = tmp_path / "home"
    seen = len(served.requests)
    worker = start_worker(
        _env(home, allow_private_urls="1", video_task_dependency_timeout="2"), p.list
    )
    try:
        p.push(
            {
                "task_id": video,
                "type": "GenerateVideo",
                "params": {
                    "audio_path": served.url("short.wav"),
                    "image_paths": [served.url("coffee.png"), served.url("astronaut.png")],
                    **SMALL,
                },
            }
        )
        p.push(
            {
                "task_id": broken,
                "type": "CreateVideo",
                "params": {"image_paths": [served.url("coffee.png", fault="404")], **SMALL},
            }
        )
        p.push(
            {
                "task_id": orphan,
                "type": "CreateVideo",
                "voice_track_id": never,
                "params": {"image_paths": [str(DATA / "photos" / "coffee.png")], **SMALL},
            }
        )
        states = p.wait([video, broken, orphan], worker)
    finally:
        code, stderr = stop_worker(worker, home)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    v = states[video]
    assert v["status"] == "succeeded", v
    assert probe(v["video_path"]).duration == pytest.approx(
        probe(DATA / "en_dev" / "LJ001-0002.wav").duration, abs=0.25
    )
    store = _catalog(home)
    try:
        render = store.get(v["job_id"])
        downloads = store.get_many(render.depends_on)
        assert sorted(d.kind for d in downloads) == ["download"] * 3
        assert all(d.status == "succeeded" for d in downloads)
        assert {d.input["url"] for d in downloads} == {
            served.url("short.wav"),
            served.url("coffee.png"),
            served.url("astronaut.png"),
        }
        assert all(x.startswith("job:") for x in [*render.input["images"], render.input["audio"]])
    finally:
        store.close()
    b = states[broken]
    assert b["status"] == "failed", b
    assert (
        b["error"] == f"cannot download {served.url('coffee.png', fault='404')}: HTTP 404 Not Found"
    )
    o = states[orphan]
    assert o["status"] == "failed" and not o.get("job_id"), o
    assert o["error"] == f"dependency task {never} never arrived within 2 s"
    assert rds.hlen(f"{p.list}:waiting") == 0 and rds.hlen(f"{p.list}:waiting-since") == 0
    assert len(served.requests) - seen == 4  # three files and the 404, each once


def test_a_private_url_without_the_setting_fails_the_task(rds, tmp_path, served):
    """In process, with the default policy (private URLs refused): the task fails at once
    with the reason, no job is made and the server sees no request."""
    from vidpipe.pipeline.video_tasks import VideoTasks

    p = Producer(rds, "private")
    tid = p.tid("video")
    store = _catalog(tmp_path)
    tasks = VideoTasks(store, REDIS_URL, p.list, job_queue=f"sqlite:///{tmp_path / 'q.db'}")
    seen = len(served.requests)
    try:
        p.push(
            {
                "task_id": tid,
                "type": "GenerateVideo",
                "params": {
                    "audio_path": str(DATA / "en_dev" / "LJ001-0002.wav"),
                    "image_paths": [str(DATA / "photos" / "coffee.png"), served.url("coffee.png")],
                },
            }
        )
        assert tasks.take_once(5.0) == "failed"
        st = p.state(tid)
        assert st["status"] == "failed", st
        assert st["error"].startswith("params.image_paths[1]: 127.0.0.1: loopback address refused")
        assert "VIDPIPE_ALLOW_PRIVATE_URLS=1" in st["error"]  # the hint: how to allow it
        assert store.list(limit=10).jobs == []
        assert rds.llen(f"{p.list}:processing") == 0
    finally:
        tasks.stop()
        store.close()
    assert len(served.requests) == seen


# --------------------------------------------------------------------------- serve


def test_serve_consumes_the_list(rds, tmp_path):
    """``vidpipe serve --video-service-queue``: its embedded worker runs the task's job."""
    p = Producer(rds, "serve")
    tid = p.tid("voice")
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = home / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vidpipe",
                "serve",
                "--port",
                str(port),
                "--video-service-queue",
                p.list,
                "--video-service-redis",
                REDIS_URL,
            ],
            env=_env(home),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        p.push({"task_id": tid, "type": "CreateVoiceTrack", "params": {"text": "Served."}})
        states = p.wait([tid], proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text()
    # uvicorn ends a SIGTERMed server by raising the signal again once it shut down
    assert proc.returncode in (0, -signal.SIGTERM), text
    assert "Application shutdown complete" in text
    assert "Traceback" not in text
    assert f"video service tasks: {p.list}" in text
    st = states[tid]
    assert st["status"] == "succeeded", st
    assert Path(st["audio_path"]).is_file() and float(st["duration"]) > 0.3
    assert rds.llen(p.list) == 0 and rds.llen(f"{p.list}:processing") == 0
