"""Progress of long building-block work that has no natural place to report from.

A building block reports progress through a callback ``progress(done, total)`` (audio
seconds, frames, bytes...) that may raise to stop the work: the pipeline's job runner
raises when the job was canceled (:mod:`vidpipe.pipeline.execute`). Some work runs
for seconds inside one native call (a batch of Whisper windows in CTranslate2) and
cannot call back meanwhile; :func:`run_polled` runs such work in a helper thread and
calls the callback every :data:`POLL_SECONDS` from the caller's thread with the latest
amount done, so that a raising callback stops the caller at once.

Core module: standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["POLL_SECONDS", "Stopped", "run_polled"]

T = TypeVar("T")

#: seconds between two calls of the callback while the helper thread works
POLL_SECONDS = 0.25


class Stopped(Exception):
    """Raised by the ``report`` of :func:`run_polled` in the helper thread once the
    caller stopped (its callback raised): the helper's work ends at its next report."""


def run_polled(
    work: Callable[[Callable[[float], None]], T],
    progress: Callable[[float, float], None],
    total: float,
    *,
    interval: float = POLL_SECONDS,
) -> T:
    """Run ``work(report)`` in a helper thread; call ``progress(done, total)`` every
    ``interval`` seconds meanwhile, ``done`` being the largest amount given to
    ``report(done)`` so far (0 before the first).

    If ``progress`` raises, that exception leaves this function at once; the helper
    thread's next ``report`` raises :class:`Stopped`, and until then it keeps working
    in the background (its result is dropped; a native call in flight finishes). The
    thread is not a daemon: a process exiting meanwhile waits for that call to end
    rather than being aborted in it (CTranslate2 calls ``std::terminate`` then).

    Args:
        work: the work; calls ``report(done)`` whenever it knows more is done.
        progress: the caller's callback, called from this (the caller's) thread.
        total: the amount of the whole work, passed on to ``progress``.
        interval: seconds between two calls of ``progress``.

    Returns:
        What ``work`` returned.

    Raises:
        Whatever ``work`` or ``progress`` raised.
    """
    stop = threading.Event()
    finished = threading.Event()
    done = [0.0]
    out: dict[str, object] = {}

    def report(amount: float) -> None:
        if stop.is_set():
            raise Stopped("the caller stopped")
        done[0] = max(done[0], float(amount))

    def target() -> None:
        try:
            out["value"] = work(report)
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc
        finally:
            finished.set()

    helper = threading.Thread(target=target, daemon=False, name="vidpipe-polled-work")
    helper.start()
    last = None
    try:
        while not finished.wait(interval):
            last = done[0]
            progress(last, total)
    except BaseException:
        stop.set()
        raise
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    if done[0] != last:
        progress(done[0], total)
    return out["value"]  # type: ignore[return-value]
