"""Prompt templates for the ``openai`` text backend, with user overrides.

Templates are text files ``text/prompts/NAME.txt`` inside the package; a file
``<override_dir>/NAME.txt`` replaces one (the front ends pass
``$VIDPIPE_HOME/prompts``: :func:`user_prompt_dir`).
They use :class:`string.Template` placeholders (``$text``, ``$language_instruction``,
``$count``, ``$start``, ``$end``), so JSON braces need no escaping; an unknown
placeholder is left as written.

Names: ``chunk_summary``, ``overall_summary``, ``keywords``, ``chapters``, ``topic_name``.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from vidpipe.errors import UsageError

PACKAGE_PROMPTS = Path(__file__).parent / "prompts"

PROMPT_NAMES = ("chunk_summary", "overall_summary", "keywords", "chapters", "topic_name")

LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "ru": "Russian", "de": "German", "es": "Spanish",
    "fr": "French", "it": "Italian", "ja": "Japanese", "ko": "Korean", "pt": "Portuguese",
    "uk": "Ukrainian", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish", "pl": "Polish",
    "nl": "Dutch", "sv": "Swedish", "vi": "Vietnamese", "id": "Indonesian",
}  # fmt: skip


def user_prompt_dir(home: str | Path) -> Path:
    """``<home>/prompts``: where user overrides live below the data folder ``home``
    (``VIDPIPE_HOME``)."""
    return Path(home).expanduser() / "prompts"


def load_prompt(name: str, override_dir: str | Path | None = None) -> str:
    """The template text of ``name``: the override in ``override_dir`` if present, else
    the packaged one (``override_dir`` None: the packaged one)."""
    if name not in PROMPT_NAMES:
        raise UsageError(f"unknown prompt '{name}'", f"use one of: {', '.join(PROMPT_NAMES)}")
    user = Path(override_dir) / f"{name}.txt" if override_dir is not None else None
    if user is not None and user.is_file():
        return user.read_text(encoding="utf-8")
    return (PACKAGE_PROMPTS / f"{name}.txt").read_text(encoding="utf-8")


def language_instruction(language: str | None, output_language: str | None = None) -> str:
    """The sentence telling the model which language to answer in.

    ``output_language`` (a code like ``"en"`` or a name) wins; otherwise the answer
    follows the transcript's ``language``.
    """
    if output_language:
        name = LANGUAGE_NAMES.get(output_language.lower(), output_language)
        return f"Answer in {name}."
    if language:
        name = LANGUAGE_NAMES.get(language.split("-")[0].lower(), language)
        return f"Answer in the language of the transcript ({name})."
    return "Answer in the language of the transcript."


def render_prompt(
    name: str,
    *,
    language: str | None = None,
    output_language: str | None = None,
    override_dir: str | Path | None = None,
    **values: object,
) -> str:
    """Fill template ``name`` with ``values`` and the language instruction."""
    template = Template(load_prompt(name, override_dir))
    return template.safe_substitute(
        language_instruction=language_instruction(language, output_language),
        **{k: str(v) for k, v in values.items()},
    ).strip()
