"""What the service lets a client name: server paths inside the media roots, public URLs.

Two checks guard the inputs of the compatibility endpoints and of jobs:

- :func:`check_server_path`: a path on the server (``audio_path``, ``image_paths`` of
  ``/generateVideo``) is accepted only when it lies inside one of the configured media
  roots (``VIDPIPE_MEDIA_ROOTS``; default the data folder's ``media`` and ``uploads``).
  The path is resolved with symlinks followed, so a link inside a root that points
  outside it is refused, and a path with a ``..`` segment is refused before anything
  is resolved (a client has no reason to send one).
- :func:`check_url`: a URL input (``video_url`` of ``/encode_audio``) must be http(s)
  (:func:`vidpipe.library.urls.validate_url`) and, unless ``VIDPIPE_ALLOW_PRIVATE_URLS``
  is set, its host must resolve to public addresses only
  (:class:`vidpipe.library.urls.UrlPolicy`: loopback, private, link-local, multicast
  and reserved addresses are refused). The check runs before any request; downloads
  then pass the same policy to the downloader (:func:`url_policy`), which checks every
  redirect target again.

Both raise :class:`~vidpipe.errors.ForbiddenError` (HTTP 403) with the reason; the
message names the value as the client gave it, never where it resolves.

Job params are checked by ONE walk over the stage's options model
(:func:`check_options`): fields marked :class:`~vidpipe.types.Names` (a URL, file,
folder, font, voice, model, encoder or image source) go to :func:`name_checker`, fields
marked :class:`~vidpipe.types.ParamsOf` (``narrate``'s ``render``), nested models, lists
and dicts are walked into, and any other string holding ``://`` is checked as a URL. A
stage that adds an option naming something marks it, and the service checks it
(``/generateVideo`` can use the same walker for render params it takes).
:func:`check_text` and :func:`find_text_error` refuse text that cannot be stored or
opened (lone surrogates, NUL bytes) with a 400 naming the field.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from vidpipe.errors import ForbiddenError, NotFoundError, UsageError
from vidpipe.library.urls import Resolver, UrlPolicy
from vidpipe.library.urls import check_url as checked_url
from vidpipe.types import NameKind, Names, ParamsOf

__all__ = [
    "check_options",
    "check_server_path",
    "check_text",
    "check_url",
    "find_text_error",
    "name_checker",
    "url_policy",
]


def _roots_hint(roots: Sequence[Path]) -> str:
    shown = ", ".join(str(r) for r in roots) or "none configured"
    return f"name a file inside the media roots ({shown}; VIDPIPE_MEDIA_ROOTS), or upload it"


def check_text(value: str, what: str) -> str:
    """``value`` when it can be written as UTF-8 (no lone surrogate such as ``\\ud800``
    from a JSON escape) and has no NUL byte.

    Raises:
        UsageError: a lone surrogate or a NUL byte (the message names ``what``).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{what}: not valid Unicode text (a lone surrogate)", "send UTF-8 text"
        ) from None
    if "\x00" in value:
        raise UsageError(f"{what}: a NUL byte", "send text without NUL bytes")
    return value


def check_server_path(
    path: str | os.PathLike[str],
    roots: Sequence[Path],
    want: Literal["file", "folder"] = "file",
    what: str | None = None,
) -> Path:
    """The real path of ``path`` when it is a file (or folder) inside one of ``roots``.

    Args:
        path: a server path from a request. A relative path is taken relative to the
            first root (never to the server's working folder).
        roots: the allowed folders (``ServiceConfig.media_roots``).
        want: ``file`` or ``folder``: what must be there.
        what: how the request named it (``params.voice``), put before the message.

    Returns:
        The absolute path with every symlink resolved (what the job will open).

    Raises:
        ForbiddenError: a ``..`` segment, no roots configured, or the resolved path is
            outside every root. The message names the path as given, never where it
            resolves (a symlink's target, a home folder stay unknown to the client).
        NotFoundError: the path is inside a root but does not exist or is not a
            ``want``.
        UsageError: an empty path, a lone surrogate or a NUL byte, a ``~`` (home
            folders are not the client's), a name the file system refuses (too long).
    """
    text = os.fspath(path)
    prefix = f"{what}: " if what else ""
    if not text or not text.strip():
        raise UsageError(f"{prefix}an empty server path", "give the path of a file")
    check_text(text, what or "server path")
    shown = text if len(text) <= 200 else text[:197] + "..."
    if ".." in PurePosixPath(text).parts or ".." in PureWindowsPath(text).parts:
        raise ForbiddenError(
            f"{prefix}{shown}: '..' is not allowed in server paths", _roots_hint(roots)
        )
    if text.startswith("~"):
        raise UsageError(f"{prefix}{shown}: '~' is not allowed in server paths", _roots_hint(roots))
    if not roots:
        raise ForbiddenError(
            f"{prefix}{shown}: server paths are not allowed here", _roots_hint(roots)
        )
    given = Path(text)
    if not given.is_absolute():
        given = Path(roots[0]) / given
    try:
        real = Path(os.path.realpath(given))
        inside = any(real.is_relative_to(Path(os.path.realpath(root))) for root in roots)
        if not inside:
            raise ForbiddenError(f"{prefix}{shown} is outside the media roots", _roots_hint(roots))
        ok = real.is_file() if want == "file" else real.is_dir()
        exists = ok or real.exists()
    except (OSError, ValueError) as exc:  # a name too long, a loop of links...
        reason = getattr(exc, "strerror", None) or "not a usable path"
        raise UsageError(f"{prefix}{shown}: {reason}", "check the path") from None
    if not ok:
        why = "does not exist" if not exists else f"is not a {want}"
        raise NotFoundError(f"{prefix}{shown} {why}", "check the path")
    return real


def url_policy(allow_private: bool, resolver: Resolver | None = None) -> UrlPolicy:
    """The :class:`~vidpipe.library.urls.UrlPolicy` of the service: private addresses
    refused unless ``allow_private`` (``ServiceConfig.allow_private_urls``)."""
    return UrlPolicy(allow_private=allow_private, resolver=resolver)


async def check_url(url: str, policy: UrlPolicy, what: str | None = None) -> str:
    """``url`` normalised, when it is http(s) and the policy allows its host
    (:func:`vidpipe.library.urls.check_url`; nothing is sent to the host).

    Raises:
        UsageError: not an http(s) URL, malformed, or its host does not resolve.
        ForbiddenError: the host resolves to a refused address.
    """
    return await checked_url(url, policy, what)


# --------------------------------------------------------------------------- options

#: checks one marked value: ``(kind, value, where) -> the value to store``
Visit = Callable[[NameKind, str, str], Awaitable[str]]


def find_text_error(data: Any, where: str) -> None:
    """Refuse the first string of a JSON value (keys too, at any depth) that is not
    valid Unicode text (:func:`check_text`): a lone surrogate (``"a\\ud800"``) or a NUL
    byte cannot be stored (PostgreSQL refuses both), logged or opened as a file name.

    Raises:
        UsageError: naming the field (``params.render.font``).
    """
    if isinstance(data, str):
        check_text(data, where)
    elif isinstance(data, dict):
        for key, value in data.items():
            find_text_error(key, where)
            find_text_error(value, f"{where}.{key}")
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            find_text_error(value, f"{where}[{i}]")


def _fits(annotation: Any, value: Any) -> bool:
    origin = get_origin(annotation)
    if annotation is Any:
        return True
    if origin is Annotated:
        return _fits(get_args(annotation)[0], value)
    if origin in (Union, UnionType):
        return any(_fits(a, value) for a in get_args(annotation))
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return isinstance(value, list | tuple)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return isinstance(value, dict)
        return isinstance(value, annotation)
    return False


async def _walk_value(annotation: Any, metadata: Any, value: Any, where: str, visit: Visit) -> Any:
    if value is None:
        return None
    for mark in metadata:
        if isinstance(mark, Names) and isinstance(value, str):
            return await visit(mark.kind, value, where)
        if isinstance(mark, ParamsOf) and isinstance(value, dict):
            return await _walk_model(mark.model(), value, where, visit)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *marks = get_args(annotation)
        return await _walk_value(inner, marks, value, where, visit)
    if origin in (Union, UnionType):
        for arm in get_args(annotation):
            if _fits(arm, value):
                return await _walk_value(arm, (), value, where, visit)
        annotation = Any
    if (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and isinstance(value, dict)
    ):
        return await _walk_model(annotation, value, where, visit)
    if isinstance(value, list | tuple):
        args = get_args(annotation)
        item = args[0] if args and origin is not tuple else Any
        return [await _walk_value(item, (), v, f"{where}[{i}]", visit) for i, v in enumerate(value)]
    if isinstance(value, dict):
        args = get_args(annotation)
        item = args[1] if len(args) == 2 else Any
        return {k: await _walk_value(item, (), v, f"{where}.{k}", visit) for k, v in value.items()}
    if isinstance(value, str) and "://" in value:
        return await visit("url", value, where)  # a URL in an unmarked field: checked too
    return value


async def _walk_model(
    model: type[BaseModel], raw: dict[str, Any], where: str, visit: Visit
) -> dict[str, Any]:
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        field = fields.get(key)
        if field is None:
            out[key] = await _walk_value(Any, (), value, f"{where}.{key}", visit)
        else:
            out[key] = await _walk_value(
                field.annotation, field.metadata, value, f"{where}.{key}", visit
            )
    return out


async def check_options(
    model: type[BaseModel], params: dict[str, Any], visit: Visit, where: str = "params"
) -> dict[str, Any]:
    """``params`` (a client's options for ``model``, already validated by it) with every
    value that names something checked by ``visit``, and replaced by what it returns.

    ONE walk over the options model: a field marked :class:`~vidpipe.types.Names` is
    given to ``visit`` with its kind; a field marked :class:`~vidpipe.types.ParamsOf`
    (``narrate``'s ``render``), a nested options model, a list or a dict is walked
    into, to any depth; an unmarked string with ``://`` goes to ``visit`` as a
    ``url``. Only the keys the client gave are walked: defaults are the server's own.

    Args:
        model: the stage's options model.
        params: the client's params (JSON).
        visit: :func:`name_checker` of the service (raises to refuse a value).
        where: how the request names ``params`` (for messages: ``params.render.font``).

    Returns:
        A new dict: ``params`` with the values ``visit`` rewrote (server paths made
        absolute and real).

    Raises:
        Whatever ``visit`` raises (ForbiddenError, NotFoundError, UsageError).
    """
    return await _walk_model(model, params, where, visit)


def _installed_font(name: str) -> Path | None:
    from vidpipe.media.fonts import find_installed_font

    return find_installed_font(name)


def name_checker(roots: Sequence[Path], policy: UrlPolicy) -> Visit:
    """The service's :data:`Visit` for :func:`check_options`: what each kind of name may
    be when a client gives it.

    - ``url``: http(s) and allowed by ``policy`` (:func:`check_url`); kept as given.
    - ``file``/``folder``: :func:`check_server_path` (inside ``roots``; a relative path
      is taken relative to the first root); replaced by the real path.
    - ``font``: an installed font file name (``DejaVuSans.ttf``, looked up in the
      system font folders only; replaced by its path), else a font file as ``file``.
    - ``voice``: ``joe`` (and its aliases), ``espeak``/``espeak:LANG`` kept; anything
      else is a Piper ``.onnx`` file as ``file``.
    - ``model``: a bundled Whisper model name kept; anything else (a folder, a hub id
      ``org/name``) a model folder as ``folder`` (nothing is downloaded for a client).
    - ``encoder``: ``whisper`` or ``whisper:BUNDLED`` kept; ``KIND:FOLDER`` checks the
      folder as ``folder``.
    - ``images``: ``folder:DIR`` checks ``DIR`` as ``folder``; other sources kept.

    Never resolves a name against the server's working folder.
    """
    from anyio import to_thread

    async def server_path(value: str, want: Literal["file", "folder"], where: str) -> str:
        real = await to_thread.run_sync(lambda: check_server_path(value, roots, want, where))
        return str(real)

    async def visit(kind: NameKind, value: str, where: str) -> str:
        check_text(value, where)
        name = value.strip()
        if kind == "url":
            await check_url(name, policy, where)
            return value
        if kind in ("file", "folder"):
            return await server_path(name, kind, where)  # type: ignore[arg-type]
        if kind == "font":
            if name and not any(c in name for c in "/\\") and not name.startswith(("~", ".")):
                found = await to_thread.run_sync(_installed_font, name)
                if found is not None:
                    return str(found)
            return await server_path(name, "file", where)
        if kind == "voice":
            from vidpipe.speech.tts import JOE_ALIASES

            low = name.lower()
            if low in (a.lower() for a in JOE_ALIASES) or low == "espeak":
                return value
            if low.startswith("espeak:"):
                return value
            return await server_path(name, "file", where)
        from vidpipe.speech.models import BUNDLED, canonical_model

        if kind == "model":
            if canonical_model(name) in BUNDLED:  # a Hugging Face id of one too
                return value
            try:
                return await server_path(name, "folder", where)
            except NotFoundError:
                if name.count("/") == 1 and not name.startswith((".", "/")):
                    raise ForbiddenError(
                        f"{where}: {name} is not a model folder inside the media roots, and "
                        "the service downloads no models for a client",
                        "use a bundled model, or a model folder inside VIDPIPE_MEDIA_ROOTS",
                    ) from None
                raise
        if kind == "encoder":
            from vidpipe.embed.audio import ENCODER_KINDS

            enc, _, rest = name.partition(":")
            enc, rest = enc.strip().lower(), rest.strip()
            if enc not in ENCODER_KINDS:
                return value  # the options model refuses it
            if enc == "whisper" and (not rest or canonical_model(rest) in BUNDLED):
                return value
            return f"{enc}:{await server_path(rest, 'folder', where)}"
        if kind == "images":
            source, _, rest = name.partition(":")
            if source.strip().lower() == "folder":
                return f"folder:{await server_path(rest.strip(), 'folder', where)}"
            return value
        return value  # pragma: no cover - every kind is handled above

    return visit
