"""Job callbacks: one POST of the final job to its ``callback_url`` when it ends.

A :class:`CallbackSender` thread in the service process looks every ``every`` seconds
for finished jobs whose callback is due (:meth:`JobStore.due_callbacks`; the catalog
keeps the URL and the attempts, so a restart or another service process picks up where
this one stopped) and POSTs ``{"job": <the job as GET /v1/jobs/{id} shows it>}`` with
the header ``X-Vidpipe-Job`` (the id). A 2xx answer is a delivery; anything else
(connection error, timeout, other status) is retried after 1, 2, 4, 8... seconds (at
most 5 minutes apart) up to ``attempts`` POSTs in all. Redirects are not followed, and
the host is checked against the URL policy before every POST (private addresses are
refused unless allowed), since a name may resolve differently than when the job was made.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx

__all__ = ["CallbackSender", "backoff"]

_log = logging.getLogger("vidpipe.service")


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed POSTs: 2**(attempts-1), at most 300."""
    return float(min(300, 2 ** max(0, attempts - 1)))


class CallbackSender:
    """Delivers job callbacks in a daemon thread.

    Args:
        app: the FastAPI app (``state.store``, ``state.config``).
        every: seconds between two looks for due callbacks.
        timeout: seconds per POST.
    """

    def __init__(self, app, *, every: float = 0.5, timeout: float = 10.0) -> None:
        self.app, self.every, self.timeout = app, float(every), float(timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def start(self) -> CallbackSender:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="vidpipe-callbacks")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while not self._stop.wait(self.every):
                try:
                    self.run_once(client)
                except Exception as exc:  # the catalog is away: next pass retries
                    _log.warning("callback pass failed: %s", " ".join(str(exc).split()))

    def _refusal(self, url: str) -> str | None:
        from vidpipe.library.urls import UrlPolicy

        config = self.app.state.config
        policy = UrlPolicy(
            allow_private=config.allow_private_urls,
            resolver=getattr(self.app.state, "resolver", None),
        )
        try:
            return asyncio.run(policy.refusal(url))
        except OSError as exc:
            return f"does not resolve: {exc}"

    def run_once(self, client: httpx.Client) -> int:
        """POST every due callback once; returns how many were delivered."""
        from vidpipe.service.jobs_api import job_out

        store = self.app.state.store
        attempts_max = self.app.state.config.callback_attempts
        delivered = 0
        for job, url, attempts in store.due_callbacks(attempts_max):
            error = self._refusal(url)
            if error is None:
                body = {"job": job_out(job, store.root).model_dump(mode="json")}
                try:
                    r = client.post(url, json=body, headers={"X-Vidpipe-Job": job.id})
                    if not 200 <= r.status_code < 300:
                        error = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            store.callback_tried(job.id, error, retry_in=backoff(attempts + 1))
            if error is None:
                delivered += 1
                self.sent += 1
            else:
                _log.warning(
                    "callback of job %s (attempt %d) failed: %s", job.id, attempts + 1, error
                )
        return delivered
