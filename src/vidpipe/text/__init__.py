"""Understanding of transcripts: chunks, summaries, keywords, chapters, the LLM client.

Example::

    from vidpipe.text import chunk_transcript, get_text_backend

    chunks = chunk_transcript(transcript, max_duration=60.0)
    backend = get_text_backend("extractive")          # or "openai"
    summary = backend.summarize(chunks, transcript.language)
    chapters = backend.chapters(chunks, transcript.duration, transcript.language)
"""

from __future__ import annotations

from vidpipe.text.backends import BACKENDS, TextBackend, get_text_backend
from vidpipe.text.chunking import chunk_transcript

__all__ = ["BACKENDS", "TextBackend", "chunk_transcript", "get_text_backend"]
