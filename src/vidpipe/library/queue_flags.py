"""The job queue paused or running, as a flag in the catalog every worker shares.

``POST /v1/queue/pause`` (:func:`set_paused`) sets it; queue workers
(:class:`vidpipe.pipeline.queue.Worker`) look at it (:func:`paused_since`, through a
:class:`PauseFlag` that reads the catalog at most once a second) before they take the
next message and take none while it is set: jobs already running go on, queued jobs
stay queued (their messages stay in the queue) until ``POST /v1/queue/resume``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from vidpipe.library.models import QueueFlagRow, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from vidpipe.library.catalog import Catalog

__all__ = ["PauseFlag", "paused_since", "set_paused"]

_PAUSED = "paused"


def paused_since(catalog: Catalog) -> datetime | None:
    """When the queue was paused (UTC), or None when it runs."""
    with catalog.session(write=False) as s:
        row = s.get(QueueFlagRow, _PAUSED)
    if row is None or not (row.value or {}).get("paused"):
        return None
    return row.updated_at


def set_paused(catalog: Catalog, paused: bool) -> datetime | None:
    """Pause (``True``) or resume (``False``) the queue for every worker of the catalog.
    Pausing a paused queue keeps its first time. Returns :func:`paused_since` after it.

    Raises:
        CatalogError: the database cannot be written.
    """
    with catalog.session() as s:
        row = s.get(QueueFlagRow, _PAUSED)
        if paused:
            if row is None:
                s.add(QueueFlagRow(name=_PAUSED, value={"paused": True}, updated_at=utcnow()))
            elif not (row.value or {}).get("paused"):
                row.value = {"paused": True}
                row.updated_at = utcnow()
        elif row is not None:
            s.delete(row)
    return paused_since(catalog)


class PauseFlag:
    """:func:`paused_since` as a bool, read from the catalog at most every ``every``
    seconds (workers ask before every message). A catalog that cannot be read counts
    as not paused (the worker's own error handling sees the catalog's trouble)."""

    def __init__(self, catalog: Catalog, every: float = 1.0) -> None:
        self.catalog, self.every = catalog, float(every)
        self._at = float("-inf")
        self._value = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.every:
                try:
                    self._value = paused_since(self.catalog) is not None
                except Exception:
                    self._value = False
                self._at = now
            return self._value
