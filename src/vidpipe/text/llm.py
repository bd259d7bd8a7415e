"""The ``openai`` text backend: any OpenAI-compatible chat endpoint.

Works with OpenAI, Ollama, DeepSeek, vLLM, llama.cpp's server, DashScope's
compatible mode: anything serving ``POST {base}/chat/completions``. Every setting
is an argument of :class:`OpenAIBackend`; the front ends fill them from
:meth:`vidpipe.config.Settings.llm_options` (``VIDPIPE_LLM_BASE``, ``VIDPIPE_LLM_KEY`` or
``OPENAI_API_KEY``, ``VIDPIPE_LLM_MODEL``, ``VIDPIPE_LLM_RPM``, ``VIDPIPE_LLM_TPM``,
``VIDPIPE_LLM_CONCURRENCY``, the prompts folder below ``VIDPIPE_HOME``). Without a key a
placeholder is sent (local servers do not check it).

Every request goes through, in order:

1. **the cache**: the catalog's ``llm_cache`` table keyed by :func:`cache_key`
   (sha256 of backend, model, messages and parameters). A hit makes no request, so
   rerunning a summary costs nothing.
2. **the limiter** (:class:`vidpipe.retry.RateLimiter`): at most ``rpm`` request starts and ``tpm``
   tokens in any sliding 60 s window, and at most ``concurrency`` requests in flight.
   Every attempt, retries included, passes through it.
3. **the retry loop** (:func:`vidpipe.remote.call`): the ``openai`` client runs with
   ``max_retries=0``; vidpipe retries what :func:`vidpipe.retry.retryable_status`
   names (429, 408, 409, 5xx...), timeouts and connection errors, waiting as
   :class:`vidpipe.retry.RetryPolicy` says (what ``Retry-After`` asks, up to
   :data:`MAX_RETRY_AFTER`, else exponential backoff with full jitter from ``backoff``
   up to ``max_backoff``). Other failures, and the last retry, raise
   :class:`~vidpipe.errors.RemoteError` with a one-line message.

Prompts are templates (:mod:`vidpipe.text.prompts`) users can override; answers are
in the transcript's language unless ``output_language`` says otherwise.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from vidpipe import remote
from vidpipe.errors import RemoteError
from vidpipe.errors import excerpt as _one_line
from vidpipe.retry import PLACEHOLDER_API_KEY, RateLimiter, RetryPolicy
from vidpipe.text.extractive import (
    chapter_count,
    chapters_from_groups,
    make_title,
    tiling_boundaries,
)
from vidpipe.text.extractive import (
    keywords as extractive_keywords,
)
from vidpipe.text.prompts import render_prompt
from vidpipe.text.sentences import join_texts
from vidpipe.timecode import parse_clock
from vidpipe.types import Chapter, Chunk, ChunkSummary, Summary

log = logging.getLogger(__name__)


class ResponseCache(Protocol):
    """Where responses are cached (the catalog's ``llm_cache`` table implements it:
    :class:`vidpipe.library.catalog.Catalog`). Passed in by the caller: this building
    block never opens the catalog itself."""

    def llm_cache_get(self, key: str) -> str | None:
        """The cached response text for ``key`` (sha256 hex), or None."""
        ...

    def llm_cache_put(
        self,
        key: str,
        backend: str,
        model: str | None,
        response: str,
        *,
        prompt_hash: str | None = None,
    ) -> None:
        """Store ``response`` for ``key``."""
        ...


CHARS_PER_TOKEN = 4.0
"""Token estimate before a response reports ``usage``: about 4 characters per token."""

DEFAULT_MODEL = "gpt-4o-mini"
"""Chat model asked for when none is given (the ``llm_model`` setting's default)."""

DEFAULT_CONCURRENCY = 4
"""Requests in flight at once when no limit is given (the ``llm_concurrency`` default)."""

HINTS = remote.Hints.named(
    "VIDPIPE_LLM_BASE",
    "VIDPIPE_LLM_KEY",
    "VIDPIPE_LLM_MODEL",
    retries="check the server, or lower VIDPIPE_LLM_RPM / VIDPIPE_LLM_CONCURRENCY",
)
"""What the chat backend's errors tell the user to do."""

MAX_RETRY_AFTER = 300.0
"""Longest ``Retry-After`` honoured, in seconds (longer waits are cut to this)."""

MAX_INPUT_CHARS = 6000
"""Characters of transcript sent in one prompt (about 1,500 tokens); longer text is cut."""


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: ``ceil(len / 4)`` (OpenAI's rule of thumb)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def cache_key(backend: str, model: str | None, messages: list[dict], params: dict) -> str:
    """sha256 hex of the canonical JSON of a request (backend, model, messages, params)."""
    blob = json.dumps(
        {"backend": backend, "model": model, "messages": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _clean_line(text: str) -> str:
    """A title or keyword from a model's line: no bullets, numbering, quotes, markup."""
    t = text.strip()
    t = re.sub(r"^(?:[-*•#>]+|\d+[.)]|title:|chapter\s*\d*:)\s*", "", t, flags=re.I)
    t = t.strip().strip("\"'`*“”«»「」").strip()
    return t.rstrip(".。")


_ECHO = re.compile(
    r"^(?:\s*(?:transcript part|transcript|part summar(?:y|ies)|summary|answer)\s*:\s*)+", re.I
)


def clean_summary(text: str) -> str:
    """A model's summary without echoed prompt labels (``Summary:``, ``Transcript part:``)."""
    return _ECHO.sub("", text).strip()


def parse_keywords(text: str, count: int) -> list[str]:
    """Keywords from a model's answer: split on lines, commas (also ``，、;``)."""
    out: list[str] = []
    seen: set[str] = set()
    for part in re.split(r"[\n,，、;；]", text):
        k = _clean_line(part)
        if k and len(k) <= 60 and k.lower() not in seen:
            seen.add(k.lower())
            out.append(k)
    return out[:count]


def _seconds(value: Any) -> float | None:
    """A start time from JSON: a number of seconds, or ``"MM:SS"`` / ``"HH:MM:SS"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_clock(value)
    return None


def parse_chapters_json(text: str, chunks: list[Chunk]) -> tuple[list[int], list[str]] | None:
    """Chunk indices where chapters start and their titles, from a model's JSON answer.

    Accepts a JSON list (possibly inside a code fence or prose) of objects with a
    ``start`` (seconds or ``MM:SS``) or ``part`` / ``chunk`` index and a ``title``.
    Each start snaps to the nearest chunk start; the first chapter always begins at
    chunk 0. Returns ``None`` when nothing usable is found.
    """
    match = re.search(r"\[.*\]", text, flags=re.S)
    if not match:
        return None
    try:
        items = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    picked: dict[int, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        title = _clean_line(str(item.get("title") or item.get("name") or ""))
        if not title:
            continue
        idx: int | None = None
        for key in ("part", "chunk", "index"):
            if isinstance(item.get(key), int) and 0 <= item[key] < len(chunks):
                idx = item[key]
        if idx is None:
            t = _seconds(item.get("start", item.get("time")))
            if t is None:
                continue
            idx = min(range(len(chunks)), key=lambda i: abs(chunks[i].start - t))
        picked.setdefault(idx, title[:100])
    if not picked:
        return None
    starts = sorted(picked)
    titles = [picked[i] for i in starts]
    if starts[0] != 0:
        starts[0] = 0
    return starts, titles


class OpenAIBackend:
    """Summaries, keywords and chapters from an OpenAI-compatible chat model.

    The caller passes every setting (front ends: :meth:`vidpipe.config.Settings.llm_options`);
    nothing is read from the settings or the environment here.

    Args:
        base_url: endpoint base, e.g. ``http://127.0.0.1:8080/v1`` (None: the ``openai``
            client's own default).
        api_key: key (None: a placeholder local servers accept).
        model: model name (None: :data:`DEFAULT_MODEL`).
        rpm, tpm: request starts and tokens per minute (``None`` or ``0``: no limit);
            concurrency: requests in flight (``None``: :data:`DEFAULT_CONCURRENCY`; see
            :class:`vidpipe.retry.RateLimiter`).
        limiter: a shared :class:`~vidpipe.retry.RateLimiter` (overrides
            rpm/tpm/concurrency).
        timeout: seconds per request attempt.
        max_retries: retries after the first attempt.
        backoff, max_backoff: retry delays in seconds (see the module docstring).
        catalog: where responses are cached (a :class:`ResponseCache`, e.g. the catalog;
            ``None``: no cache); ``cache=False`` disables caching.
        output_language: answer in this language instead of the transcript's.
        prompt_dir: folder of prompt overrides (None: the packaged prompts only; the
            front ends pass ``$VIDPIPE_HOME/prompts``).
        temperature, max_tokens: generation parameters (part of the cache key).
        chapter_seconds: a fixed target chapter length in seconds (None: the rule of
            :func:`vidpipe.text.extractive.chapter_count`).
        keyword_count: keywords asked for.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        concurrency: int | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        catalog: ResponseCache | None = None,
        cache: bool = True,
        output_language: str | None = None,
        prompt_dir: str | Path | None = None,
        temperature: float = 0.2,
        max_tokens: int = 300,
        chapter_seconds: float | None = None,
        keyword_count: int = 10,
    ) -> None:
        self.base_url = base_url or None
        self.api_key = api_key or PLACEHOLDER_API_KEY
        remote.check_endpoint(
            self.base_url,
            self.api_key,
            "the openai text backend",
            "VIDPIPE_LLM_BASE",
            "VIDPIPE_LLM_KEY or OPENAI_API_KEY",
            option="--llm-base",
        )
        self.model = model or DEFAULT_MODEL
        if concurrency is None:
            concurrency = DEFAULT_CONCURRENCY
        self.limiter = limiter or RateLimiter(rpm or None, tpm or None, concurrency)
        self.concurrency = max(1, concurrency or 1)
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries, backoff, max_backoff, MAX_RETRY_AFTER)
        self._catalog = catalog
        self.cache = cache
        self.output_language = output_language
        self.prompt_dir = prompt_dir
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.chapter_seconds = chapter_seconds
        self.keyword_count = keyword_count
        self._client: Any = None
        self._client_lock = threading.Lock()
        self.requests = 0
        """Request attempts sent by this backend (cache hits not counted)."""
        self.cache_hits = 0

    # ------------------------------------------------------------------ plumbing

    @property
    def where(self) -> str:
        return self.base_url or "the OpenAI API"

    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use, ``max_retries=0``)."""
        with self._client_lock:
            if self._client is None:
                self._client = remote.make_client(self.base_url, self.api_key, self.timeout)
            return self._client

    def catalog(self) -> ResponseCache | None:
        """The response cache in use, or None (none given, or ``cache=False``)."""
        return self._catalog if self.cache else None

    def complete(self, prompt: str, *, max_tokens: int | None = None) -> str:
        """The model's answer to one user ``prompt`` (cached, limited, retried).

        Raises:
            RemoteError: the endpoint failed, refused, or kept failing after retries.
        """
        messages = [{"role": "user", "content": prompt}]
        params = {
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        key = cache_key(self.name, self.model, messages, params)
        cat = self.catalog()
        if cat is not None:
            hit = cat.llm_cache_get(key)
            if hit is not None:
                self.cache_hits += 1
                return hit
        text = self._request(messages, params)
        if cat is not None:
            prompt_hash = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
            cat.llm_cache_put(key, self.name, self.model, text, prompt_hash=prompt_hash)
        return text

    def _request(self, messages: list[dict], params: dict) -> str:
        estimate = estimate_tokens(messages[-1]["content"]) + int(params["max_tokens"])
        client = self.client()

        def send() -> Any:
            with self.limiter.slot(estimate) as event:
                self.requests += 1
                resp = client.chat.completions.create(model=self.model, messages=messages, **params)
                usage = getattr(resp, "usage", None)
                if usage is not None and getattr(usage, "total_tokens", None):
                    self.limiter.update(event, int(usage.total_tokens))
                return resp

        resp = remote.call(
            send, where=self.where, policy=self.retry, timeout=self.timeout, hints=HINTS
        )
        try:
            content = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as exc:
            raise RemoteError(
                f"{self.where} answered without a message: {_one_line(resp, 120)}"
            ) from exc
        return (content or "").strip()

    def _prompt(self, name: str, language: str | None, **values: object) -> str:
        return render_prompt(
            name,
            language=language,
            output_language=self.output_language,
            override_dir=self.prompt_dir,
            **values,
        )

    # ------------------------------------------------------------------ the interface

    def summarize(self, chunks: list[Chunk], language: str | None = None) -> Summary:
        """A summary of each chunk (in parallel, up to ``concurrency``), then of the whole.

        Keywords come from the model; if it gives none, from the extractive backend.
        """

        def one(c: Chunk) -> ChunkSummary:
            prompt = self._prompt(
                "chunk_summary",
                language,
                text=c.text[:MAX_INPUT_CHARS],
                start=f"{c.start:.0f} s",
                end=f"{c.end:.0f} s",
            )
            return ChunkSummary(
                chunk_id=c.id,
                start=c.start,
                end=c.end,
                summary=clean_summary(self.complete(prompt)),
            )

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            per_chunk = list(pool.map(one, chunks))
        parts = "\n".join(f"- {s.summary}" for s in per_chunk if s.summary)
        overall = ""
        if parts:
            overall = clean_summary(
                self.complete(
                    self._prompt("overall_summary", language, text=parts[:MAX_INPUT_CHARS])
                )
            )
        full = join_texts([c.text for c in chunks])
        answer = self.complete(
            self._prompt(
                "keywords", language, text=full[:MAX_INPUT_CHARS], count=self.keyword_count
            ),
            max_tokens=120,
        )
        keys = parse_keywords(answer, self.keyword_count) or extractive_keywords(
            full, language, self.keyword_count
        )
        return Summary(
            language=language,
            overall=overall or (per_chunk[0].summary if per_chunk else ""),
            chunks=per_chunk,
            keywords=keys,
            backend=self.name,
            model=self.model,
        )

    def chapters(
        self, chunks: list[Chunk], duration: float, language: str | None = None
    ) -> list[Chapter]:
        """Chapters from the model's JSON; on a poor answer, extractive boundaries
        (TextTiling) with one model-made title per group. Always a valid cover of
        ``[0, max(duration, last chunk end)]``.
        """
        if not chunks:
            return [Chapter(start=0.0, end=max(0.0, duration), title="Untitled")]
        n = chapter_count(duration, len(chunks), self.chapter_seconds)
        per_part = max(80, MAX_INPUT_CHARS // len(chunks))
        listing = "\n".join(
            f"[{i}] start {c.start:.0f}: {c.text[:per_part]}" for i, c in enumerate(chunks)
        )
        answer = self.complete(
            self._prompt("chapters", language, text=listing, count=n), max_tokens=400
        )
        parsed = parse_chapters_json(answer, chunks)
        if parsed is not None and len(parsed[0]) <= max(2 * n, MAX_CHAPTERS_FROM_MODEL):
            starts, titles = parsed
        else:
            log.info("chapters: unusable JSON from the model, using extractive boundaries")
            starts = [0, *tiling_boundaries(chunks, language, n)]
            bounds = [*starts, len(chunks)]
            titles = []
            for a, b in itertools.pairwise(bounds):
                text = join_texts([c.text for c in chunks[a:b]])
                title = _clean_line(
                    self.complete(
                        self._prompt("topic_name", language, text=text[:MAX_INPUT_CHARS]),
                        max_tokens=30,
                    ).split("\n")[0]
                )[:100]
                titles.append(title or make_title(text, language))
        return chapters_from_groups(chunks, starts, titles, duration)

    def name_topic(
        self, keywords: list[str], sample_texts: list[str], language: str | None = None
    ) -> str:
        """A short name for a topic from its keywords and a few member texts.

        Usable as the ``namer(keywords, sample_texts)`` of
        :func:`vidpipe.text.topics.find_topics`. Falls back to the first keywords.
        """
        text = (
            "Keywords: "
            + ", ".join(keywords)
            + "\n\n"
            + "\n---\n".join(
                t[: MAX_INPUT_CHARS // max(1, len(sample_texts))] for t in sample_texts
            )
        )
        answer = self.complete(
            self._prompt("topic_name", language, text=text[:MAX_INPUT_CHARS]), max_tokens=30
        )
        lines = [ln for ln in answer.splitlines() if ln.strip()]
        name = _clean_line(lines[0])[:100] if lines else ""
        return name or ", ".join(keywords[:3])


MAX_CHAPTERS_FROM_MODEL = 20
"""A model answer with more chapters than this (or twice the target) is not trusted."""
