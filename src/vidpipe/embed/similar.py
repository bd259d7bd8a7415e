"""Exact cosine nearest neighbours over embedding vectors, with numpy.

Vectors are compared after :func:`prepare`: reduced by the collection's PCA when
there is one (standardising included), else standardised by the collection's mean
and per-dimension standard deviation (:func:`vidpipe.embed.pca.standard_scale`; why:
:mod:`vidpipe.embed.pca`), then L2-normalised, so a dot product is the cosine.
:func:`top_k` is one matrix-vector product and an ``argpartition``: exact, and fast
enough without an index at 100 000 stored 512-dimensional vectors (measured in
``benchmarks/embed.py``).
"""

from __future__ import annotations

import numpy as np

from vidpipe.embed.pca import PcaModel

__all__ = ["normalize", "prepare", "top_k"]


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def prepare(
    vectors: np.ndarray,
    pca: PcaModel | None = None,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Vectors ready for cosine search: ``pca.transform`` (or ``(x - mean) / scale``),
    L2-normalised.

    Args:
        vectors: ``(n, dim)`` or ``(dim,)`` raw vectors.
        pca: the collection's PCA, if fitted.
        mean, scale: the collection's per-dimension mean and standard deviation
            (:func:`~vidpipe.embed.pca.standard_scale`), used when there is no PCA.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if pca is not None:
        x = pca.transform(x)
    else:
        if mean is not None:
            x = x - np.asarray(mean, dtype=np.float32)
        if scale is not None:
            x = x / np.asarray(scale, dtype=np.float32)
    return normalize(x)


def top_k(index: np.ndarray, query: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``index`` most similar to ``query``, best first.

    Args:
        index: ``(n, d)`` unit rows (:func:`prepare`).
        query: ``(d,)`` unit vector.
        k: how many (fewer when ``n < k``).

    Returns:
        ``(rows, scores)``: int64 row numbers and float32 cosine similarities in [-1, 1].
    """
    if index.shape[0] == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = index @ np.asarray(query, dtype=np.float32)
    k = min(k, scores.shape[0])
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.argsort(-scores[part], kind="stable")]
    return order.astype(np.int64), scores[order].astype(np.float32)
