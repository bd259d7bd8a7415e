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

Both raise :class:`~vidpipe.errors.ForbiddenError` (HTTP 403) with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from vidpipe.errors import ForbiddenError, NotFoundError, UsageError
from vidpipe.library.urls import Resolver, UrlPolicy, validate_url

__all__ = ["check_server_path", "check_url", "url_policy"]


def _roots_hint(roots: Sequence[Path]) -> str:
    shown = ", ".join(str(r) for r in roots) or "none configured"
    return f"name a file inside the media roots ({shown}; VIDPIPE_MEDIA_ROOTS), or upload it"


def check_server_path(path: str | os.PathLike[str], roots: Sequence[Path]) -> Path:
    """The real path of ``path`` when it is a file inside one of ``roots``.

    Args:
        path: a server path from a request. A relative path is taken relative to the
            first root.
        roots: the allowed folders (``ServiceConfig.media_roots``).

    Returns:
        The absolute path with every symlink resolved (what the job will open).

    Raises:
        ForbiddenError: a ``..`` segment, no roots configured, or the resolved path is
            outside every root (the message says which).
        NotFoundError: the path is inside a root but does not exist or is not a file.
        UsageError: an empty path or one with a NUL byte.
    """
    text = os.fspath(path)
    if not text or not text.strip():
        raise UsageError("an empty server path", "give the path of a file")
    if "\x00" in text:
        raise UsageError("a server path with a NUL byte", "give the path of a file")
    if ".." in PurePosixPath(text).parts or ".." in PureWindowsPath(text).parts:
        raise ForbiddenError(f"{text}: '..' is not allowed in server paths", _roots_hint(roots))
    if not roots:
        raise ForbiddenError(f"{text}: server paths are not allowed here", _roots_hint(roots))
    given = Path(text).expanduser()
    if not given.is_absolute():
        given = Path(roots[0]) / given
    real = Path(os.path.realpath(given))
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if real.is_relative_to(real_root):
            break
    else:
        shown = text if str(real) == text else f"{text} (resolves to {real})"
        raise ForbiddenError(f"{shown} is outside the media roots", _roots_hint(roots))
    if not real.is_file():
        what = "does not exist" if not real.exists() else "is not a file"
        raise NotFoundError(f"{text} {what}", "check the path")
    return real


def url_policy(allow_private: bool, resolver: Resolver | None = None) -> UrlPolicy:
    """The :class:`~vidpipe.library.urls.UrlPolicy` of the service: private addresses
    refused unless ``allow_private`` (``ServiceConfig.allow_private_urls``)."""
    return UrlPolicy(allow_private=allow_private, resolver=resolver)


async def check_url(url: str, policy: UrlPolicy) -> str:
    """``url`` normalised, when it is http(s) and the policy allows its host.

    Nothing is sent to the host: only its name is resolved (with the policy's
    resolver).

    Args:
        url: a URL from a request.
        policy: :func:`url_policy` of the service.

    Returns:
        The normalised URL (:func:`~vidpipe.library.urls.validate_url`).

    Raises:
        UsageError: not an http(s) URL, malformed (the reason), or its host does not
            resolve.
        ForbiddenError: the host resolves to a refused address.
    """
    try:
        clean = validate_url(url)
    except UsageError as exc:
        raise UsageError(exc.message, "give an http:// or https:// URL") from None
    try:
        refusal = await policy.refusal(clean)
    except OSError as exc:
        from urllib.parse import urlsplit

        host = urlsplit(clean).hostname
        raise UsageError(
            f"cannot resolve {host}: {exc.strerror or exc}", "check the URL's host name"
        ) from None
    if refusal is not None:
        raise ForbiddenError(
            refusal, "give a public URL (VIDPIPE_ALLOW_PRIVATE_URLS=1 allows private ones)"
        )
    return clean
