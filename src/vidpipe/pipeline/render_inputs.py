"""A render job from the replaced video service's inputs: the one way ``POST
/generateVideo`` (:mod:`vidpipe.service.compat_api`) and the video service's Redis tasks
(:mod:`vidpipe.pipeline.video_tasks`) turn ``audio_path``/``image_paths`` and the
``/generateVideo`` options into jobs.

- :func:`render_params`: the ``render`` options of the service's fields
  (``enable_ken_burns`` -> ``ken_burns``, ``zoom_factor`` -> ``zoom``, ``resolution``
  -> ``width``/``height``; the video is :data:`VIDEO_NAME`).
- :func:`url_inputs`: the distinct http(s) URLs among the inputs, each with the field
  that named it (``image_paths[2]``, ``audio_path``), at most :data:`MAX_URLS`. Check
  each with :func:`vidpipe.library.urls.check_url` before creating anything (private
  and loopback addresses refused unless allowed).
- :func:`download_params`: the ``download`` job's options under the size/time limits
  and the URL policy (checked again by the downloader on every request and redirect).
- :func:`create_render`: one ``download`` job per distinct URL (into its own job
  folder; images accepted for slides), then the ``render`` job depending on them (and
  on the named jobs), URL entries replaced by ``job:<id>`` references. A download that
  fails fails the render with ``dependency <id> failed: <reason>``
  (:func:`download_failure` names the URL instead).

Nothing here reads settings: the callers pass the limits and the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from vidpipe.errors import BusyError, UsageError
from vidpipe.pipeline.jobs import JobStore
from vidpipe.types import Job

__all__ = [
    "MAX_URLS",
    "VIDEO_NAME",
    "UrlInput",
    "create_render",
    "download_failure",
    "download_params",
    "is_url",
    "render_params",
    "url_inputs",
]

#: the video a render job writes (its ``output`` option)
VIDEO_NAME = "video.mp4"
#: distinct URL inputs (download jobs) one video may have
MAX_URLS = 100


class UrlInput(NamedTuple):
    """A URL among a video's inputs: ``url`` (stripped), ``image`` (a slide, else the
    narration), ``what`` (the first field that named it, e.g. ``image_paths[0]``)."""

    url: str
    image: bool
    what: str


def is_url(value: str) -> bool:
    """Whether an input is a URL (holds ``://``) rather than a path or a file id."""
    return "://" in value


def render_params(p: Any) -> dict[str, Any]:
    """The ``render`` job options of the video service's fields, read from ``p`` (any
    object with ``resolution`` ``(width, height)`` pixels, ``fps``, ``slide_duration``
    and ``transition_duration`` seconds, ``enable_ken_burns``, ``zoom_factor``,
    ``subtitles``)."""
    width, height = p.resolution
    return {
        "output": VIDEO_NAME,
        "width": width,
        "height": height,
        "fps": p.fps,
        "slide_duration": p.slide_duration,
        "transition_duration": p.transition_duration,
        "ken_burns": p.enable_ken_burns,
        "zoom": p.zoom_factor,
        "subtitles": p.subtitles,
    }


def url_inputs(image_paths: Sequence[str], audio_path: str | None) -> list[UrlInput]:
    """The distinct ``(url, image)`` inputs that are URLs, images first, in order.

    Raises:
        UsageError: more than :data:`MAX_URLS` distinct URLs.
    """
    found: dict[tuple[str, bool], str] = {}
    for i, p in enumerate(image_paths):
        if is_url(p):
            found.setdefault((p.strip(), True), f"image_paths[{i}]")
    if audio_path and is_url(audio_path):
        found.setdefault((audio_path.strip(), False), "audio_path")
    distinct = {url for url, _ in found}
    if len(distinct) > MAX_URLS:
        raise UsageError(
            f"{len(distinct)} URLs in one video, more than {MAX_URLS}",
            "give fewer URLs, or files the server can read",
        )
    return [UrlInput(url, image, what) for (url, image), what in found.items()]


def download_params(
    *, max_bytes: int, allow_private: bool, into_job: bool = True, images: bool = False
) -> dict[str, Any]:
    """The ``download`` stage's params: the downloader's default time limits (connect
    and read timeouts, a 2 h deadline, the minimum speed), ``max_bytes`` the largest file
    in bytes, 2 retries, private addresses refused unless ``allow_private`` (checked on
    every request and redirect). ``into_job``: into the job's own folder, not a library
    item; ``images``: PNG/JPEG/WebP/GIF are taken too (slides)."""
    from vidpipe.library.download import DownloadLimits
    from vidpipe.library.urls import UrlPolicy
    from vidpipe.pipeline.registry import get_stage

    limits = DownloadLimits(
        max_bytes=int(max_bytes), retries=2, url_policy=UrlPolicy(allow_private=allow_private)
    )
    params = get_stage("download").Options.from_limits(limits)
    return params | {"into_job": into_job, "images": images}


def create_render(
    store: JobStore,
    params: dict[str, Any],
    images: Sequence[str],
    audio: str | None,
    *,
    download: Callable[[bool], dict[str, Any]],
    deps: Iterable[str] = (),
    max_backlog: int | None = None,
    key: str | None = None,
) -> tuple[Job, list[Job]]:
    """Create the download jobs of the URL inputs and the render job on them.

    Args:
        store: the jobs' store.
        params: the render options (:func:`render_params`); checked before anything is
            created.
        images: the slides: paths, or URLs (checked already).
        audio: the narration (a path or a URL), or None.
        download: the download params of a slide (True) or of the narration (False),
            e.g. ``lambda image: download_params(..., images=image)``.
        deps: ids of other jobs the render takes (a voice track, then the slides).
        max_backlog: the queue's cap (:meth:`JobStore.create`); room is kept for every
            job of this video. None: no cap.
        key: an idempotency key: the render job's, and ``<key>:download:<n>`` for the
            downloads (a caller handling the same video again gets the same jobs).

    Returns:
        ``(render job, download jobs)``; the downloads are ``queued``, the render job
        ``waiting`` for them (or ``queued`` without any).

    Raises:
        UsageError: render options the stage refuses, an unknown dependency id.
        BusyError: the queue cannot take the jobs (the downloads made are canceled).
    """
    from vidpipe.pipeline.registry import get_stage
    from vidpipe.pipeline.stages import JOB_REF

    get_stage("render").parse_options(params)  # bad options: nothing is created
    urls = url_inputs(images, audio)
    downloads: dict[tuple[str, bool], Job] = {}

    def ref(value: str, image: bool) -> str:
        if not is_url(value):
            return value
        return JOB_REF + downloads[(value.strip(), image)].id

    still = len(urls) + 1  # jobs of this video not yet created
    try:
        for n, u in enumerate(urls):
            still -= 1
            downloads[(u.url, u.image)] = store.create(
                "download",
                download(u.image),
                input={"url": u.url},
                idempotency_key=f"{key}:download:{n}" if key else None,
                max_backlog=None if max_backlog is None else max_backlog - still,
            )
        job = store.create(
            "render",
            params,
            input={
                "images": [ref(p, True) for p in images],
                "audio": ref(audio, False) if audio else None,
            },
            depends_on=[*(d.id for d in downloads.values()), *deps],
            idempotency_key=key,
            max_backlog=max_backlog,
        )
    except BusyError:  # another creator took the room: undo ours
        for d in downloads.values():
            store.cancel(d.id)
        raise
    return job, list(downloads.values())


def download_failure(store: JobStore, job: Job) -> str | None:
    """Why a failed render job failed, naming the URL when the cause is one of its
    download jobs (``cannot download URL: HTTP 404 Not Found``); None when it is not."""
    from vidpipe.pipeline.jobs import DEPENDENCY_FAILED

    if job.error is None or job.error.error_class != DEPENDENCY_FAILED or not job.depends_on:
        return None
    for dep in store.get_many(list(job.depends_on)):
        if dep.kind == "download" and dep.status in ("failed", "canceled"):
            url = dep.input.get("url") or dep.id
            reason = dep.error.message if dep.error else dep.status
            return f"cannot download {url}: {reason}"
    return None
