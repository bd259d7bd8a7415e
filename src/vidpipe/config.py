"""Settings read from the environment (prefix ``VIDPIPE_``) with sensible defaults.

Examples: ``VIDPIPE_HOME=/data/vidpipe``, ``VIDPIPE_MODEL=tiny.en``,
``VIDPIPE_API_BASE=http://127.0.0.1:8000/v1``, ``VIDPIPE_API_KEY=...``
(``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read too, as the ``openai`` client does).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_data_dir
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """vidpipe settings. Every field can be set as ``VIDPIPE_<FIELD>`` in the environment."""

    # An empty variable (VIDPIPE_STORAGE=) counts as unset, not as the current folder.
    model_config = SettingsConfigDict(env_prefix="VIDPIPE_", extra="ignore", env_ignore_empty=True)

    home: Path = Field(
        default_factory=lambda: Path(user_data_dir("vidpipe", appauthor=False)),
        description="Data folder: catalog, downloads, work folders.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: default_cache_dir(),
        description="Cache folder: assembled models.",
    )
    model: str = Field("base", description="Default ASR model: 'base', 'tiny.en' or a path.")
    device: str = "cpu"
    compute_type: str = Field("int8", description="CTranslate2 compute type on CPU.")
    api_base: str | None = Field(
        None,
        validation_alias=AliasChoices("VIDPIPE_API_BASE", "OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible API, e.g. http://host:8000/v1",
    )
    api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("VIDPIPE_API_KEY", "OPENAI_API_KEY"),
        description="API key for the remote engine (never passed on the command line).",
    )
    api_model: str = Field("whisper-1", description="Model name sent to the remote engine.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the catalog, e.g. postgresql+psycopg://user@host/db; "
        "default: SQLite file catalog.db in the data folder.",
    )
    storage: Path | None = Field(
        None,
        description="Storage root of job artifacts (jobs/<id>/ below it); default: the data "
        "folder. A shared folder (e.g. NFS) when workers run on several machines.",
    )
    queue_url: str | None = Field(
        None,
        description="Queue of job messages: redis://host:6379/0 (RedisHuey, workers on many "
        "machines, with a PostgreSQL catalog); default: SQLite file queue.db in the data folder.",
    )
    max_upload_bytes: int = Field(
        25 * 1024 * 1024,
        description="Upload limit of the remote transcription endpoint in bytes "
        "(OpenAI documents 25 MB).",
    )
    llm_base: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible chat endpoint for the 'openai' text "
        "backend, e.g. http://127.0.0.1:8080/v1 (llama.cpp server), http://127.0.0.1:11434/v1 "
        "(Ollama); default: the openai client's own (OPENAI_BASE_URL or api.openai.com).",
    )
    llm_key: str | None = Field(
        None,
        validation_alias=AliasChoices("VIDPIPE_LLM_KEY", "OPENAI_API_KEY"),
        description="API key of the chat endpoint (local servers need none).",
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model name sent to the endpoint.")
    llm_rpm: int | None = Field(60, description="Requests per minute allowed (None: no limit).")
    llm_tpm: int | None = Field(
        None, description="Tokens per minute allowed, prompt plus completion (None: no limit)."
    )
    llm_concurrency: int = Field(4, description="Chat requests in flight at once.")
    vlm_base: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible vision (chat) API for `describe`, "
        "e.g. http://127.0.0.1:11434/v1; unset = no frame descriptions.",
    )
    vlm_key: str | None = Field(None, description="API key for the vision endpoint.")
    vlm_model: str | None = Field(None, description="Vision model name, e.g. 'llava'.")
    vlm_rpm: float = Field(
        20.0, description="Requests per minute allowed to the vision endpoint (> 0)."
    )
    sdwebui_base: str | None = Field(
        None, description="Stable Diffusion WebUI base URL for `--images sdwebui`."
    )
    image_base: str | None = Field(
        None, description="Base URL of an OpenAI-compatible images API for `--images openai`."
    )
    image_key: str | None = Field(
        None,
        validation_alias=AliasChoices("VIDPIPE_IMAGE_KEY", "OPENAI_API_KEY"),
        description="API key for the images endpoint.",
    )
    image_model: str | None = Field(None, description="Image model name (default dall-e-3).")
    zh_script: str = Field(
        "simplified",
        description="Chinese script of transcripts, summaries, keywords, chapters and topic "
        "names: simplified (OpenCC t2s), traditional (s2t) or keep (Whisper's own).",
    )
    iflytek_appid: str | None = Field(
        None, description="iFLYTEK application id for `--engine iflytek` (VIDPIPE_IFLYTEK_APPID)."
    )
    iflytek_secret: str | None = Field(
        None,
        description="SecretKey of the application's long-form transcription (LFASR) service "
        "(VIDPIPE_IFLYTEK_SECRET; never passed on the command line).",
    )
    iflytek_base: str = Field(
        "https://raasr.xfyun.cn/v2/api",
        description="Base URL of iFLYTEK LFASR v2 (/upload and /getResult below it).",
    )
    iflytek_timeout: float = Field(
        5 * 3600.0,
        gt=0,
        description="Seconds to wait for an iFLYTEK order after the upload (the SLA is 5 h).",
    )
    iflytek_poll_interval: float = Field(
        2.0, gt=0, description="First wait in seconds before querying an iFLYTEK result."
    )
    iflytek_poll_max: float = Field(
        120.0, gt=0, description="Longest wait in seconds between two result queries."
    )

    # ---- the HTTP service (vidpipe serve)
    service_keys: str | None = Field(
        None,
        description="API keys of the HTTP service, comma-separated (VIDPIPE_SERVICE_KEYS); "
        "with keys set every route but /health needs 'Authorization: Bearer KEY'. Required "
        "to bind any address other than loopback.",
    )
    media_roots: str | None = Field(
        None,
        description="Folders whose files the service accepts as server paths, separated by "
        f"'{os.pathsep}' (VIDPIPE_MEDIA_ROOTS); default: media/ and uploads/ in the data folder.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Let the service fetch URLs that resolve to loopback, private, link-local "
        "or reserved addresses (VIDPIPE_ALLOW_PRIVATE_URLS=1; tests and trusted networks).",
    )
    video_task_dependency_timeout: float = Field(
        3600.0,
        gt=0,
        description="Seconds a video service task (worker/serve --video-service-queue) waits "
        "for the voice track and slide tasks it names to arrive before it fails.",
    )
    service_max_file_bytes: int = Field(
        2 * 1024**3, gt=0, description="Largest upload to POST /v1/files, bytes (2 GiB)."
    )
    service_max_audio_bytes: int = Field(
        25 * 1024 * 1024,
        gt=0,
        description="Largest file to the OpenAI-compatible audio routes, bytes (OpenAI: 25 MB).",
    )
    service_max_json_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest JSON request body, bytes (1 MiB)."
    )
    service_max_queue: int = Field(
        1000,
        gt=0,
        description="Jobs waiting or queued before POST /v1/jobs answers 429 (queue full).",
    )
    service_request_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds a request may take before its response starts (504 after).",
    )
    service_header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a connection may take to send a request's headers (closed after).",
    )
    service_body_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request body may take, plus one per service_body_min_rate "
        "bytes received (408 after).",
    )
    service_body_min_rate: int = Field(
        16 * 1024,
        gt=0,
        description="Slowest body upload kept going, bytes per second (after the first "
        "service_body_timeout seconds).",
    )
    service_batch_max: int = Field(
        32,
        ge=1,
        description="Most concurrent short transcription requests decoded together in one "
        "packed group (1: each request alone).",
    )
    service_batch_wait: float = Field(
        2.0,
        ge=0,
        description="Longest extra wait, seconds, for the rest of a packed transcription "
        "group once the decoder is free (never when the server is idle).",
    )

    # ---- what the building blocks take as arguments (settings are resolved once, here,
    # for the front ends, the library and the worker; the building blocks never read them)

    def llm_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`vidpipe.text.llm.OpenAIBackend` from these settings
        (``VIDPIPE_LLM_*``, the prompts folder below ``home``)."""
        return {
            "base_url": self.llm_base,
            "api_key": self.llm_key,
            "model": self.llm_model,
            "rpm": self.llm_rpm or 0,
            "tpm": self.llm_tpm or 0,
            "concurrency": self.llm_concurrency,
            "prompt_dir": Path(self.home).expanduser() / "prompts",
        }

    def vlm_options(self) -> dict[str, Any]:
        """The ``vlm`` dict of :func:`vidpipe.vision.describe.describe` from these settings
        (``VIDPIPE_VLM_*``; ``base_url`` and ``model`` may be None: not configured)."""
        return {
            "base_url": self.vlm_base,
            "model": self.vlm_model,
            "api_key": self.vlm_key,
            "rpm": self.vlm_rpm,
        }

    def image_options(self, spec: str | None) -> dict[str, Any]:
        """Keyword arguments for :func:`vidpipe.vision.images.get_image_generator` with
        ``spec`` from these settings: the endpoint of ``sdwebui`` (``sdwebui_base``) and
        of ``openai`` (``image_base``, ``image_key``, ``image_model``); none for the others
        and for a spec that names its own URL (``sdwebui:URL``)."""
        kind, _sep, arg = (spec or "").strip().partition(":")
        kind = kind.strip().lower()
        if kind == "sdwebui" and not arg.strip():
            return {"base_url": self.sdwebui_base}
        if kind == "openai":
            return {
                "base_url": self.image_base,
                "api_key": self.image_key,
                "model": self.image_model,
            }
        return {}


def merge_options(settings: dict[str, Any], **given: Any) -> dict[str, Any]:
    """``settings`` (from one of the ``Settings.*_options`` methods) with the ``given``
    values that are not None put over them: an explicit argument wins over a setting."""
    return {**settings, **{k: v for k, v in given.items() if v is not None}}


def default_cache_dir() -> Path:
    """The platform's cache folder for vidpipe (``~/.cache/vidpipe`` on Linux): the
    default of ``VIDPIPE_CACHE_DIR``, for callers given no cache folder."""
    return Path(user_cache_dir("vidpipe", appauthor=False))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def storage_root() -> Path:
    """``VIDPIPE_STORAGE``, else the data folder ``VIDPIPE_HOME``: job ``<id>``'s files
    are in ``<root>/jobs/<id>/``."""
    settings = get_settings()
    return Path(settings.storage or settings.home).expanduser()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()


def default_threads() -> int:
    """CPU threads for inference: the cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
