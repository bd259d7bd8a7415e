"""Prompts for the image models: one line per chunk, written by an LLM or from keywords.

:func:`image_prompt` asks an LLM (any object with ``complete(prompt, *,
max_tokens=None) -> str``, such as :class:`vidpipe.text.llm.OpenAIBackend`) for a
one-line scene description of a chunk, or builds the prompt offline from the chunk's
key phrases (:func:`vidpipe.vision.images.cards.card_text`). Used by the ``sdwebui``
and ``openai`` generators.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from vidpipe.media.fonts import ELLIPSIS
from vidpipe.text.language import guess_language
from vidpipe.types import Chunk
from vidpipe.vision.images.cards import card_text

__all__ = ["DEFAULT_STYLE", "LLM_SCENE_PROMPT", "MAX_PROMPT_TEXT", "image_prompt"]

log = logging.getLogger(__name__)


DEFAULT_STYLE = "soft light, no text"
"""Appended to every image-model prompt so the pictures of one video share a look."""


LLM_SCENE_PROMPT = """You write prompts for an image generator.
Read this passage from a narrated video and describe one picture that would illustrate it:
the subject, the setting and the mood, in a single line of at most 40 words, in English.
Describe only what can be seen; the picture must contain no text, letters or captions.
Answer with the description only.

Passage ({language}):
{text}"""
"""The LLM prompt behind :func:`image_prompt` (``{language}``, ``{text}``)."""

MAX_PROMPT_TEXT = 2000
"""Characters of chunk text sent to the LLM for one scene description."""


def _clean_scene(answer: str) -> str:
    """The first meaningful line of an LLM answer, without labels, bullets or quotes."""
    for line in answer.strip().splitlines():
        line = line.strip().strip("`").strip()
        line = re.sub(r"^(?:[-*•>]\s*|\d+[.)]\s*)", "", line)
        line = re.sub(r"^(?:scene|prompt|description|image)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”«»").strip()
        if re.search(r"\w", line):
            return line[:400].rstrip(" .")
    return ""


def image_prompt(
    chunk: Chunk,
    language: str | None = None,
    llm: Any = None,
    *,
    style: str = DEFAULT_STYLE,
) -> str:
    """A one-line text-to-image prompt for a chunk.

    With an ``llm`` (an object with ``complete(prompt, *, max_tokens=None) -> str``),
    the model is asked for a one-line visual scene description of the chunk's text (in
    English, which image models follow best) and ``style`` is appended. Without one, the
    prompt is built offline from the chunk's key phrases: ``"an illustration of k1, k2,
    k3, <style>"``.

    Args:
        chunk: the chunk (its ``text`` is used).
        language: the text's ISO 639-1 code (``None``: guessed).
        llm: the configured LLM, or ``None``.
        style: appended to every prompt so one video's pictures share a look.

    Returns:
        The prompt (one line).

    Raises:
        RemoteError: the LLM failed (as raised by its ``complete``).
    """
    from vidpipe.text.prompts import LANGUAGE_NAMES

    text = " ".join(chunk.text.split())
    lang = language or guess_language(text)
    tail = f", {style}" if style else ""
    if llm is not None and text:
        name = LANGUAGE_NAMES.get(lang.split("-")[0].lower(), lang)
        answer = llm.complete(
            LLM_SCENE_PROMPT.format(language=name, text=text[:MAX_PROMPT_TEXT]), max_tokens=120
        )
        scene = _clean_scene(answer or "")
        if scene:
            return scene + tail
        log.info("the LLM gave no usable scene description; using keywords")
    headline, phrases = card_text(text, lang, max_phrases=3)
    subjects = [p for p in [headline, *phrases] if p and not p.endswith(ELLIPSIS)][:3]
    if not subjects:
        return f"an abstract illustration{tail}"
    return f"an illustration of {', '.join(subjects)}{tail}"


def _llm_identity(llm: Any) -> Any:
    if llm is None:
        return None
    return [getattr(llm, "name", type(llm).__name__), getattr(llm, "model", None)]
