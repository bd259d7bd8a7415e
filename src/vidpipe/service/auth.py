"""API keys: ``Authorization: Bearer KEY`` on every route but ``/health`` and the web page.

The keys are ``ServiceConfig.keys`` (``VIDPIPE_SERVICE_KEYS``, comma-separated). Without
keys the service is open, which :meth:`ServiceConfig.check_bind` allows on loopback
only. :func:`require_key` is a global dependency of the app (so the OpenAPI document
names the Bearer scheme); keys are compared in constant time.

The web page's shells and static files (:mod:`vidpipe.service.web`) hold no data and
need no key (:func:`is_public`). A signed-in page sends its key in the session cookie
:data:`SESSION_COOKIE` (set by ``POST /session``, HttpOnly, SameSite=Strict) instead of
the header: ``<video>`` (Range requests) and ``EventSource`` cannot send headers.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

__all__ = [
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "SESSION_COOKIE",
    "bearer",
    "is_public",
    "key_ok",
    "require_key",
]

#: routes that never need a key (``/health`` and the web page's shells)
PUBLIC_PATHS = frozenset({"/health", "/", "/search", "/jobs", "/new", "/session"})
#: path prefixes that never need a key: the item page shells and the page's static files
PUBLIC_PREFIXES = ("/items/", "/static/")
#: the cookie in which a signed-in web page keeps its key
SESSION_COOKIE = "vidpipe_session"


def is_public(path: str) -> bool:
    """Whether the URL path ``path`` needs no key (:data:`PUBLIC_PATHS`,
    :data:`PUBLIC_PREFIXES`)."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


bearer = HTTPBearer(
    auto_error=False,
    description="One of the keys in VIDPIPE_SERVICE_KEYS (only when keys are set).",
)


def key_ok(given: str, keys: list[str]) -> bool:
    """Whether ``given`` is one of ``keys`` (constant-time comparison of each)."""
    g = given.encode()
    ok = False
    for k in keys:
        ok |= hmac.compare_digest(g, k.encode())
    return ok


async def require_key(
    request: HTTPConnection, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    """Refuse the request with 401 unless it carries one of the configured keys (in the
    ``Authorization`` header, else in the web page's session cookie). Websocket routes
    (:mod:`vidpipe.service.realtime`) check keys themselves.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer``.
    """
    keys = request.app.state.config.keys
    if not keys or is_public(request.url.path):
        return
    if request.scope.get("type") == "websocket":
        return  # websocket routes check keys themselves (also in a subprotocol)
    given = creds.credentials if creds is not None else request.cookies.get(SESSION_COOKIE)
    if not given:
        message = "missing API key"
    elif not key_ok(given, keys):
        message = "wrong API key"
    else:
        return
    raise HTTPException(
        401,
        detail={"message": message, "hint": "send 'Authorization: Bearer KEY'"},
        headers={"WWW-Authenticate": "Bearer"},
    )
