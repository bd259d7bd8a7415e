"""API keys: ``Authorization: Bearer KEY`` on every route but ``/health``.

The keys are ``ServiceConfig.keys`` (``VIDPIPE_SERVICE_KEYS``, comma-separated). Without
keys the service is open, which :meth:`ServiceConfig.check_bind` allows on loopback
only. :func:`require_key` is a global dependency of the app (so the OpenAPI document
names the Bearer scheme); keys are compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["PUBLIC_PATHS", "bearer", "key_ok", "require_key"]

#: routes that never need a key
PUBLIC_PATHS = frozenset({"/health"})

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
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    """Refuse the request with 401 unless it carries one of the configured keys.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer``.
    """
    keys = request.app.state.config.keys
    if not keys or request.url.path in PUBLIC_PATHS:
        return
    if creds is None:
        message = "missing API key"
    elif not key_ok(creds.credentials, keys):
        message = "wrong API key"
    else:
        return
    raise HTTPException(
        401,
        detail={"message": message, "hint": "send 'Authorization: Bearer KEY'"},
        headers={"WWW-Authenticate": "Bearer"},
    )
