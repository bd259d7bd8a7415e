"""``benchmarks/queue.py`` and the queue property it measures in part (c).

- The reaper's messages (a job taken back from a killed worker, a queued job whose
  message was lost) go ahead of the backlog: SQLite queue, and Redis (db 13 of
  127.0.0.1:6379, skipped when it does not answer).
- ``benchmarks/queue.py --quick --backends sqlite`` runs to its end on real workers
  (the Redis + PostgreSQL queue paths are tested in test_queue.py): every job of
  parts (b) and (c) succeeds and each media item has one transcript. Numbers are not
  asserted (the benchmark prints them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidpipe.library.catalog import Catalog
from vidpipe.pipeline.jobs import JobStore
from vidpipe.pipeline.queue import RECOVERY_PRIORITY, Reaper, enqueue, get_queue

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/13"  # the benchmark's database number, never db 0


def _queue_urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path / 'queue.db'}"]
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception:
        return urls
    return [*urls, REDIS_URL]


def test_reaper_messages_go_before_the_backlog(tmp_path):
    """Three jobs are waiting in the queue when a fourth one's worker dies; after its
    lease runs out the reaper sends its message with RECOVERY_PRIORITY, and that message
    is the first one a worker gets."""
    for url in _queue_urls(tmp_path):
        huey = get_queue(url)
        huey.flush()
        cat = Catalog(f"sqlite:///{tmp_path / (str(abs(hash(url))) + '.db')}")
        try:
            store = JobStore(cat, root=tmp_path)
            backlog = [store.create("probe", {}, input={"path": __file__}) for _ in range(3)]
            enqueue(backlog, url=url)
            lost = store.create("probe", {}, input={"path": __file__})
            assert store.claim(lost.id, "gone:1:dead", lease=0.05) is not None
            time.sleep(0.1)  # the lease has run out; the owner never renews it
            assert Reaper(store, url, grace=3600).run_once() == [lost.id]
            pending = list(huey.pending())
            assert [t.args[0] for t in pending] == [lost.id] + [j.id for j in backlog], url
            assert pending[0].priority == RECOVERY_PRIORITY
            assert huey.dequeue().args == (lost.id,)  # what a worker gets next
        finally:
            huey.flush()
            cat.close()


@pytest.mark.slow
def test_queue_benchmark_quick_runs(tmp_path):
    env = dict(os.environ, COLUMNS="250", TMPDIR=str(tmp_path))
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    r = subprocess.run(
        # SQLite only: the Redis + PostgreSQL paths of the queue have their own tests
        # (test_queue.py, test_submit_batch.py); this keeps the suite's time down, as do
        # the counts below --quick's (20 probe jobs, 4 recordings): a run to the end is
        # what is checked here, its numbers are not
        [
            sys.executable,
            str(ROOT / "benchmarks" / "queue.py"),
            "--quick",
            "--backends",
            "sqlite",
            "--probe-jobs",
            "8",
            "--recordings",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    out = r.stdout
    # (a): one line of numbers per backend that ran, "skipped: <reason>" otherwise
    number = r"\s+-?\d+\.\d+"
    rows = re.findall(rf"^  (sqlite \(embedded\)|redis \+ postgresql)({number}){{5}}", out, re.M)
    ran = {label for label, _ in rows}
    assert ran == {"sqlite (embedded)"}, out
    # (b): both worker counts ran on every live backend
    assert len(re.findall(r"throughput 2 workers / 1 worker: \d+\.\d+x", out)) == len(ran), out
    # (c): every job succeeded, one transcript per item, on every live backend
    done = re.findall(r"succeeded (\d+)/(\d+) .*transcripts (\d+) items, (\d+) with more", out)
    assert len(done) == len(ran), out
    for ok, n, items, dup in done:
        assert ok == n == items and dup == "0", out
