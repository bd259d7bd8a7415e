"""Concurrent transcription requests decoded together: :class:`TranscriptionBatcher`.

On 2 CPU cores a short clip transcribed alone pays for a whole 30 s Whisper window
(the encoder pass is most of its cost); ``vidpipe transcribe FILE...`` packs short
clips into shared windows (:mod:`vidpipe.speech.packing`,
:meth:`~vidpipe.speech.whisper.FasterWhisperEngine.transcribe_many`). The service
receives its short clips one request at a time; this module gathers the requests
that arrive together and hands them to ``transcribe_many`` in one model call, the
continuous batching of LLM servers applied to Whisper windows:

- **Groups.** Requests of the same model and the same :class:`TranscribeOptions`
  (language, task, word times, beam, prompt, temperatures...) may share a group;
  different options never mix. A group holds at most ``max_group`` requests, taken in
  arrival order.
- **Gathering.** One decoder thread runs one group at a time. When it is free and a
  request arrives, that request goes at once (no wait on an idle server). While a
  group decodes, new requests wait for the next one: that is where the groups come
  from. When the decoder becomes free after a group of ``n`` requests, while ``m``
  more of its kind arrived, and fewer than ``n + m`` of the next group are waiting
  (the group's clients are still sending their next requests), it waits
  for them at most ``min(max_wait, wait_fraction * seconds of the last group)``
  (2 s and a tenth by default): the extra latency stays a small part of a group's
  own time, and a lone client (groups of one) never waits. The bound is relative
  because the clients of the group that just finished need a round trip (answer,
  next upload, its decoding to 16 kHz) before they are back: with a fixed 0.25 s,
  8 clients in step on a loaded 2-core machine fell into groups of 1 and 7 in turn
  (mean 4: the one that came back during a group went alone while the seven were
  still on their way); counting only the last group (``n``) split 8 clients into
  groups of 5 and 3 for good. With both, they stay in groups of 8.
- **Fairness.** Groups go in the order of their oldest request (FIFO); a group takes
  every waiting request of its options, oldest first, so a request waits behind at
  most one group it could have joined (the one decoding when it arrived), unless
  more than ``max_group`` of its kind are ahead of it.
- **Failures stay alone.** ``transcribe_many`` answers per file; if the group's call
  raises, each request of the group is decoded again alone, so one request's error
  never reaches its neighbours. Undecodable or empty uploads never get here (the
  route decodes each upload to 16 kHz first).
- **One model call at a time.** The decoder thread holds the service's model limiter
  (an :class:`anyio.CapacityLimiter`, shared with speech synthesis and long files)
  while it gathers and decodes.

Metrics (``/metrics``, when a :class:`~vidpipe.service.metrics.Metrics` is given):
``vidpipe_transcription_group_size`` (requests per decoded group),
``vidpipe_transcription_gather_seconds`` (per group: how long the decoder waited for
more requests before decoding, 0 when it went at once) and
``vidpipe_transcription_wait_seconds`` (per request: from its arrival to the start
of its group's decoding).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidpipe.errors import MediaError
from vidpipe.speech.engine import TranscribeOptions
from vidpipe.types import Transcript

__all__ = ["MAX_GROUP", "MAX_WAIT", "WAIT_FRACTION", "Packed", "TranscriptionBatcher"]

_log = logging.getLogger("vidpipe.service")

#: Most requests in one group (``vidpipe transcribe``'s packing group,
#: :data:`vidpipe.speech.transcribe.PACK_GROUP`).
MAX_GROUP = 32
#: Longest extra wait, seconds, for the rest of a group once the decoder is free.
MAX_WAIT = 2.0
#: The extra wait is also at most this part of the last group's decoding time.
WAIT_FRACTION = 0.1

DecodeMany = Callable[[str, TranscribeOptions, list[np.ndarray]], Sequence[Any]]
"""``decode(model, options, audios)`` -> per audio its Transcript or the exception it
failed with (``transcribe_many``'s contract); may raise for the whole group."""


@dataclass(frozen=True)
class Packed:
    """A request's answer from the batcher.

    Attributes:
        transcript: its transcript (times from the start of its own audio).
        group: the id of the group it was decoded in (1, 2... per batcher).
        size: requests in that group.
        waited: seconds from its arrival to the start of its group's decoding.
    """

    transcript: Transcript
    group: int
    size: int
    waited: float


@dataclass(eq=False)
class _Request:
    key: tuple[str, str]
    model: str
    options: TranscribeOptions
    audio: np.ndarray
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


def engine_decode(model: str, options: TranscribeOptions, audios: list[np.ndarray]) -> list:
    """The default ``decode``: the process's faster-whisper engine for ``model``
    (:func:`vidpipe.pipeline.models.asr_engine`), its ``transcribe_many`` (one file:
    ``transcribe``, exactly as a request alone).

    Returns:
        Per audio, its Transcript or the VidpipeError it failed with.

    Raises:
        ModelError: the model cannot be loaded; UsageError: options the model cannot do.
    """
    from vidpipe.pipeline.models import asr_engine

    engine = asr_engine(model)
    if len(audios) == 1:
        return [engine.transcribe(audios[0], options)]
    return list(engine.transcribe_many(audios, options))


class TranscriptionBatcher:
    """Gathers concurrent transcription requests and decodes them together (see the
    module doc). Build it inside the event loop that calls :meth:`submit`.

    Args:
        decode: ``decode(model, options, audios)``, see :data:`DecodeMany`
            (default :func:`engine_decode`).
        limiter: held by the decoder thread while it gathers and decodes a group
            (the service's model limiter); ``None``: none.
        metrics: a :class:`~vidpipe.service.metrics.Metrics` whose batching histograms
            are observed; ``None``: none.
        max_group: most requests per group (1: every request alone).
        max_wait: longest extra wait for a group's requests, seconds (0: never wait).
        wait_fraction: the extra wait is also at most this part of the last group's
            decoding seconds.
    """

    def __init__(
        self,
        decode: DecodeMany | None = None,
        *,
        limiter: Any = None,
        metrics: Any = None,
        max_group: int = MAX_GROUP,
        max_wait: float = MAX_WAIT,
        wait_fraction: float = WAIT_FRACTION,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self.decode = decode or engine_decode
        self.limiter = limiter
        self.metrics = metrics
        self.max_group = max_group
        self.max_wait = max(0.0, max_wait)
        self.wait_fraction = max(0.0, wait_fraction)
        self._loop = asyncio.get_running_loop() if limiter is not None else None
        self._pending: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._groups = itertools.count(1)
        self._expect = 1  # requests in the last group: how many to wait for
        self._last_seconds = 0.0  # decoding time of the last group
        self._borrower = object()
        self._thread = threading.Thread(target=self._run, name="vidpipe-batcher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ asyncio side

    async def submit(self, audio: np.ndarray, model: str, options: TranscribeOptions) -> Packed:
        """Transcribe ``audio`` with ``model`` and ``options``, packed with the requests
        that arrive with it.

        Args:
            audio: 16 kHz mono float32 samples in [-1, 1], shape ``(n,)`` (short audio:
                the route sends files of at most
                :data:`vidpipe.speech.transcribe.HOLD_SECONDS` here).
            model: the engine's model name (``base``, ``tiny.en``...).
            options: decoding options; requests share a group only when equal.

        Returns:
            :class:`Packed`: the transcript and the group it was decoded in.

        Raises:
            MediaError: no samples; what decoding raised for this request alone
            (VidpipeError subclasses: UsageError, ModelError...); RuntimeError when
            the batcher is closed.
        """
        if audio.size == 0:
            raise MediaError("the audio track holds no samples", "check the file plays")
        loop = asyncio.get_running_loop()
        req = _Request(
            key=(model, options.model_dump_json()),
            model=model,
            options=options,
            audio=audio,
            future=loop.create_future(),
        )
        with self._cond:
            if self._closed:
                raise RuntimeError("the transcription batcher is closed")
            self._pending.append(req)
            self._cond.notify_all()
        try:
            return await req.future
        except asyncio.CancelledError:
            with self._cond:  # the client went away: not decoded if not taken yet
                if req in self._pending:
                    self._pending.remove(req)
            raise

    def close(self, timeout: float = 5.0) -> None:
        """Stop the decoder thread after the group it is decoding; requests still
        waiting fail with RuntimeError."""
        with self._cond:
            self._closed = True
            left = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for req in left:
            self._deliver(req, RuntimeError("the service is shutting down"))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        """Requests waiting for a group."""
        with self._cond:
            return len(self._pending)

    # ------------------------------------------------------------------ decoder thread

    def _acquire(self) -> bool:
        if self.limiter is None or self._loop is None:
            return True
        try:
            asyncio.run_coroutine_threadsafe(
                self.limiter.acquire_on_behalf_of(self._borrower), self._loop
            ).result()
        except Exception:  # the loop is closed or closing
            return False
        return True

    def _release(self) -> None:
        if self.limiter is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self.limiter.release_on_behalf_of, self._borrower)

    def _take(self) -> tuple[list[_Request], float]:
        """The next group (called with the lock held and requests pending): the oldest
        request's kind, after the bounded extra wait. Returns ``(group, gathered s)``."""
        key = self._pending[0].key
        target = min(self._expect, self.max_group)
        limit = min(self.max_wait, self.wait_fraction * self._last_seconds)
        t0 = time.monotonic()
        if target > 1 and limit > 0:
            deadline = t0 + limit
            while not self._closed and sum(r.key == key for r in self._pending) < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        gathered = time.monotonic() - t0
        group = [r for r in self._pending if r.key == key][: self.max_group]
        for r in group:
            self._pending.remove(r)
        return group, gathered

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            if not self._acquire():
                return
            try:
                with self._cond:
                    if not self._pending:  # its requests were canceled meanwhile
                        continue
                    group, gathered = self._take()
                if not group:
                    continue
                gid = next(self._groups)
                started = time.monotonic()
                results = self._decode_group(group)
                self._last_seconds = time.monotonic() - started
                with self._cond:
                    # the clients active in this round: the group's (their answers go
                    # out now, their next requests follow) and those that arrived
                    # while it decoded (waiting already)
                    self._expect = len(group) + sum(r.key == group[0].key for r in self._pending)
            finally:
                self._release()
            self._observe(group, gathered, started)
            for req, result in zip(group, results, strict=True):
                if isinstance(result, Transcript):
                    result = Packed(result, gid, len(group), started - req.arrived)
                self._deliver(req, result)

    def _decode_group(self, group: list[_Request]) -> list:
        """Per request, its Transcript or exception; a group whose call raises is
        decoded again one request at a time."""
        first = group[0]
        try:
            results = list(self.decode(first.model, first.options, [r.audio for r in group]))
            if len(results) != len(group):
                raise RuntimeError(f"{len(results)} results for a group of {len(group)}")
            return results
        except Exception as exc:
            if len(group) == 1:
                return [exc]
            _log.warning("a packed group of %d failed (%s): decoding each alone", len(group), exc)
        out: list = []
        for r in group:
            try:
                out.append(self.decode(r.model, r.options, [r.audio])[0])
            except Exception as exc:
                out.append(exc)
        return out

    def _observe(self, group: list[_Request], gathered: float, started: float) -> None:
        m = self.metrics
        if m is None:
            return
        try:
            m.observe_group(len(group), gathered, [started - r.arrived for r in group])
        except Exception as exc:  # metrics never fail a request
            _log.warning("batching metrics not recorded: %s", exc)

    @staticmethod
    def _deliver(req: _Request, result: Any) -> None:
        fut = req.future

        def settle() -> None:
            if fut.done():
                return
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            fut.get_loop().call_soon_threadsafe(settle)
