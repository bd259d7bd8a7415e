"""The project's one hash of options: stage rows, jobs and caches all use :func:`options_hash`."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def options_hash(options: dict[str, Any]) -> str:
    """A short stable hash of options (sorted JSON, 16 hex digits).

    Args:
        options: JSON-like mapping (values that are not JSON become ``str``).

    Returns:
        The first 16 hex digits of the sha256 of the sorted JSON text.
    """
    blob = json.dumps(options, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
