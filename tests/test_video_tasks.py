"""The replaced video service's Redis tasks (vidpipe.pipeline.video_tasks) through a real
``vidpipe worker --video-service-queue`` process, on the real Redis at 127.0.0.1:6379
(db 14; skipped with the reason when it does not answer).

Each test uses its own list name and task ids and deletes only its own keys. The jobs
run in the worker with the default embedded queue (SQLite) and a catalog in tmp_path.

- voice + slides + video tasks, in both arrival orders (the video first: it waits in
  ``<list>:waiting`` until the tasks it names have jobs), give ``status=succeeded``
  videos as long as their voice tracks (probed), with the states published on
  ``task-events`` in order (queued, running, succeeded);
- a worker SIGKILLed after it moved a task to the processing list (its catalog write held
  up by a lock this test takes) loses nothing: the next worker recovers it;
- malformed tasks: not JSON and no task_id -> ``<list>:dead`` with the reason; an unknown
  type, bad params, a named task that failed -> ``status=failed`` with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from vidpipe.media.probe import probe

REDIS_URL = "redis://127.0.0.1:6379/14"
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
            *(f"{self.list}:{s}" for s in ("processing", "dead", "waiting", "active")),
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


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, VIDPIPE_HOME=str(home), VIDPIPE_DATABASE_URL="", VIDPIPE_QUEUE_URL="")
    env.pop("VIDPIPE_STORAGE", None)
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
