"""Prometheus metrics of ``GET /metrics`` (``prometheus-client``, one registry per app).

- ``vidpipe_http_requests_total{method, route, status}`` and
  ``vidpipe_http_request_duration_seconds{route}``: counted by the middleware (``route``
  is the route's template, e.g. ``/v1/jobs/{job_id}``, so ids do not explode labels);
- ``vidpipe_jobs{status}``: jobs per status in the catalog, read at scrape time (so
  the numbers are every worker's, not only this process's);
- ``vidpipe_queue_depth``: messages waiting in the queue, CPU and I/O queues together
  (Huey ``pending_count``);
- ``vidpipe_job_duration_seconds{kind}``: a histogram of start-to-finish wall time of
  the last 10 000 finished jobs (from the catalog at scrape time);
- ``vidpipe_transcription_group_size``, ``vidpipe_transcription_gather_seconds`` and
  ``vidpipe_transcription_wait_seconds``: the OpenAI transcription routes' packed groups
  (requests per group; per group the extra wait for its requests; per request the wait
  from arrival to its group's decoding), :mod:`vidpipe.service.batching`.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

__all__ = ["GROUP_BUCKETS", "JOB_BUCKETS", "WAIT_BUCKETS", "Metrics"]

_log = logging.getLogger("vidpipe.service")

#: job duration buckets, seconds (a probe takes well under a second, a render minutes)
JOB_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: requests per packed transcription group
GROUP_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
#: seconds a transcription request or group waited (gathering, groups ahead)
WAIT_BUCKETS = (0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _JobsCollector:
    def __init__(self, app) -> None:
        self.app = app

    def describe(self):
        return []  # collected at scrape time only (no catalog access at registration)

    def collect(self):
        store = self.app.state.store
        try:
            counts = store.counts()
        except Exception as exc:  # the catalog is away: /ready says so; metrics go on
            _log.warning("metrics: jobs not counted: %s", " ".join(str(exc).split()))
            counts = None
        if counts is not None:
            jobs = GaugeMetricFamily("vidpipe_jobs", "Jobs in the catalog", labels=["status"])
            for status, n in counts.items():
                jobs.add_metric([status], n)
            yield jobs
        try:
            from vidpipe.pipeline.queue import POOLS, get_queue

            url = self.app.state.config.queue_url
            depth = sum(get_queue(url, pool).pending_count() for pool in POOLS)
            queue = GaugeMetricFamily("vidpipe_queue_depth", "Messages waiting in the queue")
            queue.add_metric([], depth)
            yield queue
        except Exception as exc:
            _log.warning("metrics: queue depth unknown: %s", " ".join(str(exc).split()))
        try:
            durations = store.durations()
        except Exception:
            durations = []
        by_kind: dict[str, list[float]] = defaultdict(list)
        for kind, _status, seconds in durations:
            by_kind[kind].append(seconds)
        hist = HistogramMetricFamily(
            "vidpipe_job_duration_seconds",
            "Wall time from start to finish of finished jobs",
            labels=["kind"],
        )
        for kind, values in sorted(by_kind.items()):
            values.sort()
            buckets = [(str(b), bisect.bisect_right(values, b)) for b in JOB_BUCKETS]
            buckets.append(("+Inf", len(values)))
            hist.add_metric([kind], buckets, sum(values))
        yield hist


class Metrics:
    """The app's registry: HTTP counters observed by the middleware, job figures
    collected from the catalog and the queue when scraped.

    Args:
        app: the FastAPI app (its ``state.store`` is read at scrape time).
    """

    def __init__(self, app) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vidpipe_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vidpipe_http_request_duration_seconds",
            "Seconds from request to the end of the answer",
            ["route"],
            registry=self.registry,
        )
        self.group_size = Histogram(
            "vidpipe_transcription_group_size",
            "Transcription requests decoded together in one packed group",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )
        self.gather = Histogram(
            "vidpipe_transcription_gather_seconds",
            "Per group: seconds the decoder waited for more requests before decoding",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.wait = Histogram(
            "vidpipe_transcription_wait_seconds",
            "Per request: seconds from arrival to the start of its group's decoding",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_JobsCollector(app))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the middleware)."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_group(self, size: int, gathered: float, waits: list[float]) -> None:
        """Count one decoded transcription group: its ``size`` (requests), the seconds
        ``gathered`` waiting for them, and each request's wait (seconds)."""
        self.group_size.observe(size)
        self.gather.observe(gathered)
        for w in waits:
            self.wait.observe(w)
