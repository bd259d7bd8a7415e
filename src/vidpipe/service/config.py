"""The HTTP service's configuration: :class:`ServiceConfig`, read from vidpipe's settings.

Every value comes from a ``VIDPIPE_*`` setting (:class:`vidpipe.config.Settings`) unless
given directly (tests build one by hand). Sizes are bytes, times seconds.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vidpipe.errors import UsageError

__all__ = ["ServiceConfig", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address) only accepts connections from this machine:
    ``localhost`` or a loopback IP (127.0.0.0/8, ::1). ``0.0.0.0``, ``::`` and any other
    name are not."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceConfig(BaseModel):
    """What the service needs to know.

    Attributes:
        home: the data folder (catalog, queue, uploads, job folders).
        database_url: the catalog (``VIDPIPE_DATABASE_URL``, else SQLite in ``home``).
        storage: root of the job folders (``VIDPIPE_STORAGE``, else ``home``).
        keys: API keys; empty = no authentication (allowed on loopback only).
        media_roots: folders whose files may be named as server paths (resolved).
        uploads_dir: where ``POST /v1/files`` stores uploads (``<home>/uploads``).
        max_file_bytes: largest upload to ``/v1/files`` (default 2 GiB).
        max_audio_bytes: largest file to the OpenAI audio routes (default 25 MB).
        max_json_bytes: largest JSON body (default 1 MiB).
        max_queue: waiting + queued jobs before ``POST /v1/jobs`` answers 429.
        request_timeout: seconds before a response must start (504 otherwise).
        header_timeout: seconds a connection may take to send a request's headers (then
            it is closed: :mod:`vidpipe.service.server`); also the keep-alive timeout.
        body_timeout: seconds a request body may take, plus ``1 / body_min_rate`` per
            byte received (then 408: :mod:`vidpipe.service.middleware`).
        body_min_rate: bytes per second a long upload must keep up.
        allow_private_urls: fetch URLs resolving to private/loopback addresses too.
        queue_url: the queue (``VIDPIPE_QUEUE_URL``, else SQLite ``queue.db`` in ``home``).
        worker: run an embedded queue worker inside the service process.
        worker_concurrency: jobs at once in the embedded worker.
        reap_every: seconds between two reaper passes of the embedded worker.
        worker_stop_timeout: seconds shutdown waits for the embedded worker's running
            jobs before it releases them (back to ``queued``).
        ready_worker_seconds: a worker must have been seen this recently for ``/ready``.
        callback_attempts: POSTs tried per callback URL (backoff 1, 2, 4... s).
        batch_max: most short transcription requests decoded together in one packed
            group (1: each alone, as before packing; :mod:`vidpipe.service.batching`).
        batch_wait: longest extra wait, seconds, for the rest of a packed group once
            the decoder is free.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    home: Path
    database_url: str
    storage: Path
    keys: list[str] = Field(default_factory=list)
    media_roots: list[Path] = Field(default_factory=list)
    uploads_dir: Path
    max_file_bytes: int = Field(2 * 1024**3, gt=0)
    max_audio_bytes: int = Field(25 * 1024 * 1024, gt=0)
    max_json_bytes: int = Field(1024 * 1024, gt=0)
    max_queue: int = Field(1000, gt=0)
    request_timeout: float = Field(300.0, gt=0)
    header_timeout: float = Field(10.0, gt=0)
    body_timeout: float = Field(30.0, gt=0)
    body_min_rate: int = Field(16 * 1024, gt=0)
    allow_private_urls: bool = False
    queue_url: str
    worker: bool = True
    worker_concurrency: int = Field(1, ge=1)
    reap_every: float = Field(10.0, gt=0)
    worker_stop_timeout: float = Field(10.0, ge=0)
    ready_worker_seconds: float = Field(30.0, gt=0)
    callback_attempts: int = Field(5, ge=1)
    batch_max: int = Field(32, ge=1)
    batch_wait: float = Field(2.0, ge=0)

    @classmethod
    def from_settings(cls, **overrides) -> ServiceConfig:
        """The configuration from the ``VIDPIPE_*`` settings, with ``overrides`` applied.

        Raises:
            UsageError: a media root that is not an existing folder.
        """
        from vidpipe.config import get_settings

        s = get_settings()
        home = Path(overrides.pop("home", None) or s.home).expanduser()
        uploads = Path(overrides.pop("uploads_dir", None) or home / "uploads")
        if "media_roots" in overrides:
            roots = [Path(p) for p in overrides.pop("media_roots")]
        elif s.media_roots:
            roots = [Path(p) for p in s.media_roots.split(os.pathsep) if p.strip()]
            missing = [p for p in roots if not p.expanduser().is_dir()]
            if missing:
                raise UsageError(
                    f"media root {missing[0]} is not a folder",
                    "fix VIDPIPE_MEDIA_ROOTS (folders separated by " + repr(os.pathsep) + ")",
                )
        else:
            roots = [home / "media", uploads]
        keys = overrides.pop("keys", None)
        if keys is None:
            keys = [k.strip() for k in (s.service_keys or "").split(",") if k.strip()]
        values = {
            "home": home,
            "database_url": s.database_url or f"sqlite:///{home / 'catalog.db'}",
            "storage": Path(s.storage or home).expanduser(),
            "keys": list(keys),
            "media_roots": [Path(os.path.realpath(p.expanduser())) for p in roots],
            "uploads_dir": uploads,
            "max_file_bytes": s.service_max_file_bytes,
            "max_audio_bytes": s.service_max_audio_bytes,
            "max_json_bytes": s.service_max_json_bytes,
            "max_queue": s.service_max_queue,
            "request_timeout": s.service_request_timeout,
            "header_timeout": s.service_header_timeout,
            "body_timeout": s.service_body_timeout,
            "body_min_rate": s.service_body_min_rate,
            "allow_private_urls": s.allow_private_urls,
            "queue_url": s.queue_url or f"sqlite:///{home / 'queue.db'}",
            "batch_max": s.service_batch_max,
            "batch_wait": s.service_batch_wait,
        }
        values.update(overrides)
        return cls(**values)

    def check_bind(self, host: str) -> None:
        """Refuse a non-loopback bind address without API keys.

        Raises:
            UsageError: ``host`` is reachable from other machines and no key is set.
        """
        if not self.keys and not is_loopback(host):
            raise UsageError(
                f"refusing to listen on {host} without API keys",
                "set VIDPIPE_SERVICE_KEYS=key1,key2 (clients send 'Authorization: Bearer KEY') "
                "or bind 127.0.0.1",
            )
