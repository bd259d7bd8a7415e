"""The replaced video microservice's Redis tasks, taken by ``vidpipe worker
--video-service-queue queue:video-service``.

Producers ``LPUSH`` JSON tasks onto a Redis list (``queue:video-service``)::

    {"task_id": "v1", "type": "CreateVideo", "voice_track_id": "t1", "slide_ids": ["s1"],
     "params": {"fps": 24, "resolution": [1280, 720], "slide_duration": 3.0,
                "transition_duration": 0.5, "enable_ken_burns": true, "zoom_factor": 1.1}}

Types (:data:`TASK_TYPES`): ``CreateVideo``, ``GenerateVideo`` and
``CreateVideoFromSlides`` (a ``render`` job; params as ``POST /generateVideo``:
``audio_path``, ``image_paths``, ``fps``, ``resolution``, ``slide_duration``,
``transition_duration``, ``enable_ken_burns``, ``zoom_factor``; ``voice_track_id``
names a voice-track task, ``slide_ids`` slide tasks, whose outputs the video takes),
``CreateVoiceTrack`` (``text``, optional ``voice``: a ``speak`` job) and ``CreateSlide``
(``text`` or ``title``, optional ``size`` ``[w, h]``, ``"WxH"`` or ``{"width", "height"}``:
an ``images`` job of the ``cards`` generator). Each task becomes one job of the jobs
table (:meth:`JobStore.create <vidpipe.pipeline.jobs.JobStore.create>`, idempotency key
``video-task:<list>:<task_id>``: a task seen twice makes one job), its dependencies the
jobs of the tasks it names. A video task that arrives before the tasks it names is kept
in the hash ``<list>:waiting`` (task id -> task JSON; its first arrival, on the Redis
server's clock, in ``<list>:waiting-since``) and gets its job once their jobs exist,
whatever the arrival order; a named task that has not arrived within
``dependency_timeout`` seconds (``VIDPIPE_VIDEO_TASK_DEPENDENCY_TIMEOUT``, 1 h) fails
the video task with ``dependency task <id> never arrived within N s``.

URL inputs: an ``audio_path`` or ``image_paths`` entry that is an http(s) URL becomes a
``download`` job (into its own job folder; images taken for slides) that the render job
depends on, as ``POST /generateVideo`` does it (:mod:`vidpipe.pipeline.render_inputs`):
checked when the task arrives (loopback, private, link-local and reserved addresses are
refused unless ``allow_private_urls``, ``VIDPIPE_ALLOW_PRIVATE_URLS``: the task fails
with the reason, nothing fetched), downloaded under the size limit
(``max_download_bytes``) and the downloader's time limits, the policy checked again on
every redirect. A download that fails fails the task with ``cannot download URL:
reason``. Other entries are paths on the worker's machine.

State: the hash ``task:<task_id>`` (:data:`TASK_KEY`): ``task_id``, ``type``, ``status``
(``queued``, ``running``, ``succeeded``, ``failed``), ``job_id``, ``audio_path`` (voice
tracks), ``image_path`` (slides), ``video_path`` (videos), ``duration`` (seconds, voice
tracks and videos), ``error`` (why it failed), ``updated`` (UTC, ISO 8601). At each
change the hash's fields are published as one JSON message on ``task-events``
(:data:`EVENTS_CHANNEL`). The job rows are followed by polling (every ``poll`` seconds)
the tasks of the set ``<list>:active``.

Never lost: a task is moved atomically (``BLMOVE``) from the list to ``<list>:processing``
and removed from there (``LREM``) only once its job exists (or it is stored as waiting,
or reported malformed), in one ``MULTI`` with its state. A consumer that starts handles
what is left in the processing list first (a worker killed after taking a task), and a
running one handles entries it sees there at two looks :data:`RECOVER_SECONDS` apart
(a worker died while this one ran); idempotency keys make a second look harmless.

Malformed tasks: ``status=failed`` with the reason in ``error``; a task without a
``task_id`` (or not a JSON object) goes to ``<list>:dead`` as
``{"task": <raw text>, "error": <reason>, "at": <UTC time>}``.

Example::

    store = JobStore()
    tasks = VideoTasks(store, "redis://127.0.0.1:6379/0", "queue:video-service").start()
    ...  # a Worker runs the jobs
    tasks.stop()
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vidpipe.errors import RemoteError, UsageError, VidpipeError
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.render_inputs import (
    VIDEO_NAME,
    create_render,
    download_failure,
    download_params,
    render_params,
    url_inputs,
)
from vidpipe.types import Job

__all__ = [
    "DEFAULT_REDIS_URL",
    "DEPENDENCY_TIMEOUT",
    "EVENTS_CHANNEL",
    "TASK_KEY",
    "TASK_TYPES",
    "VIDEO_NAME",
    "VideoParams",
    "VideoTasks",
    "render_params",
    "task_status",
]

#: the task types, by the job kind each becomes
TASK_TYPES = {
    "CreateVideo": "render",
    "GenerateVideo": "render",
    "CreateVideoFromSlides": "render",
    "CreateVoiceTrack": "speak",
    "CreateSlide": "images",
}
#: the hash of a task's state (``.format(task_id=...)``)
TASK_KEY = "task:{task_id}"
#: the channel of the state messages
EVENTS_CHANNEL = "task-events"
#: seconds between two looks for stale entries of the processing list (a task taken by a
#: worker that died while others kept running: seen at two looks in a row, it is handled)
RECOVER_SECONDS = 30.0
#: the Redis database producers used when none is configured
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: seconds a video task waits for the tasks it names before it fails (1 h; the setting
#: ``VIDPIPE_VIDEO_TASK_DEPENDENCY_TIMEOUT``)
DEPENDENCY_TIMEOUT = 3600.0
#: largest file a task's URL may download, bytes (2 GiB: the service's upload limit,
#: ``VIDPIPE_SERVICE_MAX_FILE_BYTES``)
MAX_DOWNLOAD_BYTES = 2 * 1024**3
#: task status by job status
_STATUS = {
    "waiting": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
_FINAL = ("succeeded", "failed")

_log = logging.getLogger("vidpipe.video_tasks")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def task_status(job_status: str) -> str:
    """The task status (``queued``, ``running``, ``succeeded``, ``failed``) of a job
    status (``waiting`` and ``queued`` -> ``queued``, ``canceled`` -> ``failed``)."""
    return _STATUS.get(job_status, "queued")


class VideoParams(BaseModel):
    """The params of a video task: those of the replaced service's ``/generateVideo``
    (seconds for durations, ``resolution`` ``[width, height]`` in pixels)."""

    model_config = ConfigDict(extra="ignore")

    audio_path: str | None = None
    image_paths: list[str] = Field(default_factory=list, max_length=10_000)
    fps: float = Field(24, ge=1, le=120)
    resolution: tuple[int, int] = (1920, 1080)
    slide_duration: float = Field(3.0, gt=0, le=3600)
    transition_duration: float = Field(0.5, ge=0, le=60)
    enable_ken_burns: bool = True
    zoom_factor: float = Field(1.1, ge=1.0, le=2.0)
    subtitles: Literal["none", "burn", "soft", "both"] = "none"


class VoiceParams(BaseModel):
    """The params of a ``CreateVoiceTrack`` task."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(..., min_length=1)
    voice: str | None = None
    language: str | None = None


class SlideParams(BaseModel):
    """The params of a ``CreateSlide`` task: ``size`` in pixels."""

    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    title: str | None = None
    size: tuple[int, int] = (1920, 1080)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        if isinstance(v, str) and "x" in v.lower():
            w, _, h = v.lower().partition("x")
            return (w.strip(), h.strip())
        if isinstance(v, dict):
            return (v.get("width"), v.get("height"))
        return v

    def card_text(self) -> str:
        parts = [s.strip() for s in (self.title, self.text) if s and s.strip()]
        if not parts:
            raise ValueError("a slide needs a text or a title")
        return "\n\n".join(parts)


class _Malformed(Exception):
    """A task that cannot become a job; ``str()`` is the reason."""


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "params"
    return f"params.{where}: {first.get('msg', 'invalid')}"


class VideoTasks:
    """Consumes the video service's tasks from a Redis list into jobs and keeps their
    state in Redis (see the module doc). Two daemon threads: the taker (``BLMOVE``,
    at most ``poll`` seconds per wait) and the follower (job rows -> task hashes every
    ``poll`` seconds); the taker also retries the waiting tasks.

    Args:
        store: the jobs' store.
        redis_url: the Redis the producers push to (``redis://host:6379/0``).
        name: the list (``queue:video-service``).
        job_queue: the worker's job queue URL (where the jobs' messages go; None: the
            default of :func:`vidpipe.pipeline.queue.queue_url`).
        poll: seconds between the follower's looks, and the longest ``BLMOVE`` wait.
        events: the channel of the state messages.
        dependency_timeout: seconds a video task waits for the tasks it names to
            arrive (measured on the Redis server's clock from its first arrival) before
            it fails with ``dependency task <id> never arrived within N s``.
        allow_private_urls: let URL inputs name loopback, private, link-local or
            reserved addresses (refused by default, as the service refuses them).
        max_download_bytes: largest file a URL input may download.

    Raises:
        UsageError: an empty list name or a Redis URL the client refuses.
    """

    def __init__(
        self,
        store: JobStore,
        redis_url: str | None,
        name: str,
        *,
        job_queue: str | None = None,
        poll: float = 0.5,
        events: str = EVENTS_CHANNEL,
        dependency_timeout: float = DEPENDENCY_TIMEOUT,
        allow_private_urls: bool = False,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        import redis

        name = (name or "").strip()
        if not name:
            raise UsageError("an empty video service queue name", "e.g. queue:video-service")
        self.store, self.name, self.job_queue = store, name, job_queue
        self.url = redis_url or DEFAULT_REDIS_URL
        try:
            self.redis = redis.Redis.from_url(
                self.url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30
            )
        except ValueError as exc:
            raise UsageError(f"bad Redis URL for the video service queue: {exc}") from None
        self.processing = f"{name}:processing"
        self.dead = f"{name}:dead"
        self.waiting = f"{name}:waiting"
        self.active = f"{name}:active"
        self.since = f"{name}:waiting-since"
        self.dependency_timeout = float(dependency_timeout)
        self.allow_private_urls = bool(allow_private_urls)
        self.max_download_bytes = int(max_download_bytes)
        self.poll, self.events = float(poll), events
        self.taken = 0  # tasks acknowledged by this consumer
        self.recover_every = RECOVER_SECONDS
        self._previous: set[str] = set()  # the processing list at the last look
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # ------------------------------------------------------------ state

    def _key(self, task_id: str) -> str:
        return TASK_KEY.format(task_id=task_id)

    def _publish(self, pipe, task_id: str, fields: dict[str, Any]) -> None:
        """Queue on ``pipe``: set ``fields`` (and ``updated``) on the task's hash and
        publish the whole new state (the fields set before, updated)."""
        fields = {k: ("" if v is None else v) for k, v in fields.items()}
        fields["updated"] = _now()
        fields = {
            k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in fields.items()
        }
        old = self.redis.hgetall(self._key(task_id))
        pipe.hset(self._key(task_id), mapping={k: str(v) for k, v in fields.items()})
        pipe.publish(self.events, json.dumps({**old, **{k: str(v) for k, v in fields.items()}}))

    def state(self, task_id: str) -> dict[str, str]:
        """The hash ``task:<task_id>`` ({} when unknown)."""
        return self.redis.hgetall(self._key(task_id))

    def check(self) -> None:
        """Raises RemoteError when Redis does not answer."""
        try:
            self.redis.ping()
        except Exception as exc:
            raise RemoteError(
                f"Redis of the video service queue does not answer: {' '.join(str(exc).split())}",
                "start Redis or check --video-service-redis",
            ) from None

    # ------------------------------------------------------------ one task

    def handle(self, raw: str) -> str:
        """Turn one task (its JSON text, as it lies in the processing list) into a job,
        a waiting entry or a failure report, then acknowledge it (``LREM`` from the
        processing list, in the ``MULTI`` that records its state).

        Returns:
            ``created`` (its job exists), ``waiting`` (for tasks it names),
            ``failed`` (malformed: ``status=failed``), ``dead`` (no ``task_id``).

        Raises:
            Exception: Redis or the catalog failed: the task stays in the processing
                list and is handled again later.
        """
        try:
            task = json.loads(raw)
        except (ValueError, TypeError) as exc:
            return self._dead(raw, f"not JSON: {exc}")
        if not isinstance(task, dict):
            return self._dead(raw, f"not a JSON object but {type(task).__name__}")
        task_id = task.get("task_id")
        if isinstance(task_id, int) and not isinstance(task_id, bool):
            task_id = str(task_id)
        if not isinstance(task_id, str) or not task_id.strip():
            return self._dead(raw, "no task_id")
        try:
            return self._handle(task_id, task, raw)
        except _Malformed as exc:
            return self._fail(task_id, task, raw, str(exc))

    def _dead(self, raw: str, reason: str) -> str:
        entry = json.dumps({"task": raw, "error": reason, "at": _now()})
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.dead, entry)
        pipe.lrem(self.processing, 1, raw)
        pipe.publish(
            self.events, json.dumps({"task_id": None, "status": "failed", "error": reason})
        )
        pipe.execute()
        _log.warning("video task without a task_id to %s: %s", self.dead, reason)
        return "dead"

    def _fail(self, task_id: str, task: dict[str, Any], raw: str, reason: str) -> str:
        pipe = self.redis.pipeline(transaction=True)
        self._publish(
            pipe,
            task_id,
            {
                "task_id": task_id,
                "type": str(task.get("type", "")),
                "status": "failed",
                "error": reason,
            },
        )
        pipe.hdel(self.waiting, task_id)
        pipe.hdel(self.since, task_id)
        pipe.srem(self.active, task_id)
        pipe.lrem(self.processing, 1, raw)
        pipe.execute()
        _log.warning("video task %s failed: %s", task_id, reason)
        return "failed"

    def _handle(
        self, task_id: str, task: dict[str, Any], raw: str, *, check_urls: bool = True
    ) -> str:
        kind = TASK_TYPES.get(str(task.get("type")))
        if kind is None:
            raise _Malformed(
                f"unknown type {task.get('type')!r}; use one of {', '.join(TASK_TYPES)}"
            )
        params = task.get("params") or {}
        if not isinstance(params, dict):
            raise _Malformed("params is not a JSON object")
        key = f"video-task:{self.name}:{task_id}"
        known = self.state(task_id)
        if known.get("job_id") and self.store.by_idempotency_key(key) is not None:
            return self._ack(task_id, task, raw, None)  # seen before (a recovered task)
        try:
            if kind == "speak":
                p = VoiceParams.model_validate(params)
                opts = {k: v for k, v in (("voice", p.voice), ("language", p.language)) if v}
                args: dict[str, Any] = {"input": {"text": p.text}}
            elif kind == "images":
                s = SlideParams.model_validate(params)
                try:
                    text = s.card_text()
                except ValueError as exc:
                    raise _Malformed(str(exc)) from None
                opts = {"generator": "cards", "width": s.size[0], "height": s.size[1]}
                args = {"input": {"text": text}}
            else:
                v = VideoParams.model_validate(params)
                if not v.image_paths and not task.get("slide_ids"):
                    raise _Malformed("give params.image_paths or slide_ids")
                if v.audio_path and task.get("voice_track_id"):
                    raise _Malformed("give params.audio_path or voice_track_id, not both")
                if check_urls:
                    self._check_urls(v)
                deps, missing = self._deps(task_id, task)
                if missing is not None:
                    self._check_timeout(task_id, missing)
                    return self._wait(task_id, task, raw)
                return self._render(task_id, task, raw, v, deps, key)
        except ValidationError as exc:
            raise _Malformed(_reason(exc)) from None
        try:
            job = self.store.create(kind, opts, idempotency_key=key, **args)
        except UsageError as exc:  # the stage refused the options or input
            raise _Malformed(exc.message) from None
        return self._ack(task_id, task, raw, job)

    def _check_urls(self, v: VideoParams) -> None:
        """Refuse URL inputs that are not http(s), too many, or (private URLs not
        allowed) whose host is or resolves to a refused address; nothing is fetched."""
        import asyncio

        from vidpipe.library.urls import UrlPolicy, check_url

        policy = UrlPolicy(allow_private=self.allow_private_urls)
        try:
            for u in url_inputs(v.image_paths, v.audio_path):
                asyncio.run(check_url(u.url, policy, f"params.{u.what}"))
        except VidpipeError as exc:  # UsageError, ForbiddenError
            raise _Malformed(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None

    def _render(
        self,
        task_id: str,
        task: dict[str, Any],
        raw: str,
        v: VideoParams,
        deps: list[str],
        key: str,
    ) -> str:
        """The download jobs of the URL inputs and the render job on them and on
        ``deps``, then the acknowledgement."""
        audio = v.audio_path.strip() if v.audio_path else None
        try:
            job, downloads = create_render(
                self.store,
                render_params(v),
                [p.strip() if "://" in p else p for p in v.image_paths],
                audio,
                download=lambda image: download_params(
                    max_bytes=self.max_download_bytes,
                    allow_private=self.allow_private_urls,
                    images=image,
                ),
                deps=deps,
                key=key,
            )
        except UsageError as exc:  # the stage refused the options or input
            raise _Malformed(exc.message) from None
        return self._ack(task_id, task, raw, job, downloads)

    def _clock(self) -> float:
        """The Redis server's time, seconds since the epoch (one clock for every worker)."""
        sec, usec = self.redis.time()
        return sec + usec / 1e6

    def _check_timeout(self, task_id: str, missing: str) -> None:
        """Fail a video task (raise) once it has waited for ``missing`` longer than
        :attr:`dependency_timeout` since it first arrived."""
        since = self.redis.hget(self.since, task_id)
        if since is None:
            return
        if self._clock() - float(since) > self.dependency_timeout:
            raise _Malformed(
                f"dependency task {missing} never arrived within {self.dependency_timeout:g} s"
            )

    def _deps(self, task_id: str, task: dict[str, Any]) -> tuple[list[str], str | None]:
        """``(the job ids of the tasks a video task names (voice track first), None)``,
        or ``([], the first named task id without a job yet)``.

        Raises:
            _Malformed: a bad reference, a named task that failed or is of the wrong type.
        """
        voice = task.get("voice_track_id")
        slides = task.get("slide_ids") or []
        if not isinstance(slides, list) or not all(isinstance(s, (str, int)) for s in slides):
            raise _Malformed("slide_ids is not a list of task ids")
        named: list[tuple[str, str]] = []
        if voice not in (None, ""):
            if not isinstance(voice, (str, int)):
                raise _Malformed("voice_track_id is not a task id")
            named.append(("voice_track_id", str(voice)))
        named += [("slide_ids", str(s)) for s in slides]
        ids = [t for _, t in named]
        if task_id in ids:
            raise _Malformed("a task names itself")
        if len(set(ids)) != len(ids):
            raise _Malformed("a task is named twice in voice_track_id and slide_ids")
        jobs: list[str] = []
        for field, dep in named:
            st = self.state(dep)
            if st.get("status") == "failed" and not st.get("job_id"):
                raise _Malformed(f"{field} {dep} failed: {st.get('error', '')}".rstrip(": "))
            if not st.get("job_id"):
                return [], dep
            want = ("CreateVoiceTrack",) if field == "voice_track_id" else ("CreateSlide",)
            if st.get("type") and st.get("type") not in want:
                raise _Malformed(f"{field} {dep} is a {st.get('type')} task, not {want[0]}")
            jobs.append(st["job_id"])
        return jobs, None

    def _wait(self, task_id: str, task: dict[str, Any], raw: str) -> str:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.waiting, task_id, raw)
        pipe.hsetnx(self.since, task_id, repr(self._clock()))
        if self.state(task_id).get("status") != "queued":
            self._publish(
                pipe,
                task_id,
                {
                    "task_id": task_id,
                    "type": str(task.get("type", "")),
                    "status": "queued",
                    "error": None,
                },
            )
        pipe.lrem(self.processing, 1, raw)
        pipe.execute()
        return "waiting"

    def _ack(
        self,
        task_id: str,
        task: dict[str, Any],
        raw: str,
        job: Job | None,
        downloads: list[Job] | None = None,
    ) -> str:
        pipe = self.redis.pipeline(transaction=True)
        if job is not None:
            self._publish(
                pipe,
                task_id,
                {
                    "task_id": task_id,
                    "type": str(task.get("type", "")),
                    "status": task_status(job.status),
                    "job_id": job.id,
                    "error": None,
                },
            )
            pipe.sadd(self.active, task_id)
        pipe.hdel(self.waiting, task_id)
        pipe.hdel(self.since, task_id)
        pipe.lrem(self.processing, 1, raw)
        pipe.execute()
        self.taken += 1
        for j in [*(downloads or []), *([job] if job is not None else [])]:
            if j.status != "queued":
                continue
            from vidpipe.pipeline.queue import enqueue

            try:
                enqueue(j, url=self.job_queue)
            except VidpipeError as exc:  # the reaper sends it after its grace time
                _log.warning("job %s not enqueued: %s", j.id, exc)
        if job is not None and job.status in ("failed", "canceled"):
            self.follow_once([task_id])
        return "created"

    # ------------------------------------------------------------ loops

    def recover(self) -> int:
        """Handle the tasks left in the processing list (a worker died after taking
        them). Returns how many were handled."""
        n = 0
        for raw in self.redis.lrange(self.processing, 0, -1):
            try:
                self.handle(raw)
                n += 1
            except Exception as exc:
                _log.warning("video task not recovered yet: %s", " ".join(str(exc).split()))
        return n

    def recover_stale(self) -> int:
        """Handle the entries of the processing list that were already there at the
        previous call (a worker died holding them while this one kept running; an entry
        being handled right now is gone by the next look). Returns how many."""
        now = set(self.redis.lrange(self.processing, 0, -1))
        stale, self._previous = now & self._previous, now
        n = 0
        for raw in stale:
            try:
                self.handle(raw)
                n += 1
            except Exception as exc:
                _log.warning("video task not recovered yet: %s", " ".join(str(exc).split()))
        return n

    def retry_waiting(self) -> int:
        """Look again at the tasks waiting for the tasks they name; returns how many
        got their job (or failed)."""
        n = 0
        for task_id, raw in self.redis.hgetall(self.waiting).items():
            try:
                task = json.loads(raw)
                if self._handle(task_id, task, raw, check_urls=False) != "waiting":
                    n += 1
            except _Malformed as exc:
                self._fail(task_id, task, raw, str(exc))
                n += 1
            except Exception as exc:
                _log.warning("waiting video task %s: %s", task_id, " ".join(str(exc).split()))
        return n

    def take_once(self, timeout: float | None = None) -> str | None:
        """Take one task (``BLMOVE`` right end of the list -> left end of the processing
        list, waiting up to ``timeout`` s, default ``poll``) and :meth:`handle` it.
        Returns what :meth:`handle` returned, None when no task came."""
        wait = self.poll if timeout is None else timeout
        raw = self.redis.blmove(self.name, self.processing, wait, "RIGHT", "LEFT")
        if raw is None:
            return None
        return self.handle(raw)

    def follow_once(self, task_ids: list[str] | None = None) -> int:
        """Bring the hashes of the active tasks (or ``task_ids``) in line with their
        jobs; publish each change. Returns the number of changes."""
        ids = list(task_ids if task_ids is not None else self.redis.smembers(self.active))
        if not ids:
            return 0
        states = {t: self.state(t) for t in ids}
        by_job = {st["job_id"]: t for t, st in states.items() if st.get("job_id")}
        changes = 0
        for job in self.store.get_many(list(by_job)):
            task_id = by_job[job.id]
            st = states[task_id]
            fields = self._fields(job)
            if all(st.get(k, "") == ("" if v is None else str(v)) for k, v in fields.items()):
                continue
            pipe = self.redis.pipeline(transaction=True)
            self._publish(pipe, task_id, fields)
            if fields["status"] in _FINAL:
                pipe.srem(self.active, task_id)
            pipe.execute()
            changes += 1
        return changes

    def _fields(self, job: Job) -> dict[str, Any]:
        status = task_status(job.status)
        fields: dict[str, Any] = {"status": status, "job_id": job.id}
        if status == "succeeded":
            result = job.result or {}
            paths = [str(self.store.root / a) for a in job.artifacts]
            if job.kind == "speak":
                fields["audio_path"] = next((p for p in paths if p.endswith(".wav")), None)
                fields["duration"] = result.get("duration")
            elif job.kind == "images":
                exts = (".png", ".jpg", ".jpeg", ".webp")
                fields["image_path"] = next((p for p in paths if p.lower().endswith(exts)), None)
            else:
                fields["video_path"] = next((p for p in paths if p.endswith(VIDEO_NAME)), None)
                fields["duration"] = result.get("duration")
        if status == "failed":
            err = job.error
            fields["error"] = (
                (err.message + (f" ({err.hint})" if err.hint else "")) if err else job.status
            )
            if job.kind == "render":
                why = download_failure(self.store, job)
                if why is not None:
                    fields["error"] = why
        return fields

    def _take_loop(self) -> None:
        last_retry = last_recover = time.monotonic()
        while not self._halt.is_set():
            try:
                got = self.take_once()
                if got == "created" or time.monotonic() - last_retry > 5 * self.poll:
                    self.retry_waiting()
                    last_retry = time.monotonic()
                if time.monotonic() - last_recover > self.recover_every:
                    self.recover_stale()
                    last_recover = time.monotonic()
            except Exception as exc:  # Redis or the catalog is away: look again later
                _log.warning("video task queue: %s", " ".join(str(exc).split()))
                self._halt.wait(self.poll)
                with contextlib.suppress(Exception):  # the task left in processing
                    self.recover()

    def _follow_loop(self) -> None:
        while not self._halt.wait(self.poll):
            try:
                self.follow_once()
            except Exception as exc:
                _log.warning("video task states: %s", " ".join(str(exc).split()))

    def start(self) -> VideoTasks:
        """Check Redis, recover the processing list, then take and follow tasks in two
        daemon threads until :meth:`stop`.

        Raises:
            RemoteError: Redis does not answer.
        """
        self.check()
        self._halt.clear()
        self._stopped = False
        self.recover()
        self.retry_waiting()
        self._threads = [
            threading.Thread(target=self._take_loop, daemon=True, name="vidpipe-video-tasks"),
            threading.Thread(target=self._follow_loop, daemon=True, name="vidpipe-task-states"),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop taking tasks (a task being handled is finished) and make a last pass of
        the states. A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._halt.set()
        for t in self._threads:
            t.join(self.poll + 5)
        self._threads = []
        with contextlib.suppress(Exception):
            self.follow_once()
        self.redis.close()
