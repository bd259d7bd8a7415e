"""The text backend interface and its factory.

A backend turns chunks (see :func:`vidpipe.text.chunking.chunk_transcript`) into a
:class:`~vidpipe.types.Summary` and chapters. Two ship with vidpipe:

- ``"extractive"`` (default): offline, no model (:mod:`vidpipe.text.extractive`);
- ``"openai"``: any OpenAI-compatible chat endpoint (:mod:`vidpipe.text.llm`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from vidpipe.errors import UsageError
from vidpipe.types import Chapter, Chunk, Summary

BACKENDS = ("extractive", "openai")


@runtime_checkable
class TextBackend(Protocol):
    """What every text backend provides. Times are float seconds."""

    name: str
    model: str | None

    def summarize(self, chunks: list[Chunk], language: str | None = None) -> Summary:
        """Chunk summaries, an overall summary and keywords."""
        ...

    def chapters(
        self, chunks: list[Chunk], duration: float, language: str | None = None
    ) -> list[Chapter]:
        """Titled chapters covering ``[0, duration]``: contiguous, no gaps or overlaps."""
        ...


def get_text_backend(name: str = "extractive", **kwargs: Any) -> TextBackend:
    """The backend called ``name`` (``"extractive"`` or ``"openai"``).

    Keyword arguments go to the backend's constructor
    (:class:`~vidpipe.text.extractive.ExtractiveBackend` or
    :class:`~vidpipe.text.llm.OpenAIBackend`).
    """
    if name == "extractive":
        from vidpipe.text.extractive import ExtractiveBackend

        return ExtractiveBackend(**kwargs)
    if name == "openai":
        from vidpipe.text.llm import OpenAIBackend

        return OpenAIBackend(**kwargs)
    raise UsageError(f"unknown text backend '{name}'", f"use one of: {', '.join(BACKENDS)}")
