"""PCA of a collection's embedding vectors: fitted with scikit-learn, applied with numpy.

:func:`fit_pca` standardises every dimension by the collection (minus its mean,
divided by its standard deviation), fits ``sklearn.decomposition.PCA`` on that (full
SVD, so the result does not depend on a random seed) and keeps only the arrays in a
:class:`PcaModel`: mean, scale, components and their variances.
:meth:`PcaModel.transform` is sklearn's own formula on the standardised vectors,
``((X - mean) / scale) @ components.T`` (divided by ``sqrt(explained_variance)`` when
whitened), so a stored model needs neither sklearn nor pickle to be used again.

Why: mean-pooled encoder states share one large common direction (see
:mod:`vidpipe.embed.audio`), which centring removes, and a few of Whisper's dimensions
vary far more than the rest and dominate a cosine; dividing by each dimension's spread
(a diagonal whitening) gives every dimension its say. Measured with Whisper ``base``
on 14 zh/ru/en clips of ``../shared/data``: the nearest neighbour is in the same
language for 43 % of the clips after centring alone and 79 % after standardising,
while re-encoded copies still find their original every time (tests/test_embed.py).
Full whitening of the principal components, by contrast, lifted noise directions to
the weight of the first and cost near-duplicate recall (1.00 -> 0.88 at 64
components), so components are not whitened by default. The leading components keep
what tells recordings apart in fewer dimensions (the usual script reduces to 1024).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from vidpipe.errors import UsageError

__all__ = ["PcaModel", "fit_pca", "standard_scale"]


@dataclass
class PcaModel:
    """A fitted PCA.

    Attributes:
        mean: ``(dim,)`` float32, the collection's mean vector.
        scale: ``(dim,)`` float32, the collection's standard deviation per dimension
            (ones when fitted with ``standardize=False``).
        components: ``(n_components, dim)`` float32, unit rows, by decreasing variance.
        explained_variance: ``(n_components,)`` float32, variance along each component.
        whiten: whether :meth:`transform` scales each component to unit variance.
        n_items: how many vectors it was fitted on.
        explained_ratio: fraction of the (standardised) variance the components keep.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    whiten: bool
    n_items: int
    explained_ratio: float = 0.0

    @property
    def dim(self) -> int:
        """Dimensions of the input vectors."""
        return int(self.components.shape[1])

    @property
    def n_components(self) -> int:
        """Dimensions of the reduced vectors."""
        return int(self.components.shape[0])

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Reduce ``(n, dim)`` (or ``(dim,)``) vectors to ``(n, n_components)`` float32.

        Raises:
            UsageError: the vectors' dimension is not :attr:`dim`.
        """
        x = np.asarray(vectors, dtype=np.float32)
        single = x.ndim == 1
        x = x.reshape(1, -1) if single else x
        if x.shape[1] != self.dim:
            raise UsageError(
                f"vectors of {x.shape[1]} dimensions for a PCA of {self.dim}",
                "embed with the encoder and pooling the PCA was fitted for",
            )
        y = ((x - self.mean) / self.scale) @ self.components.T
        if self.whiten:
            y = y / np.sqrt(np.maximum(self.explained_variance, 1e-12))
        y = y.astype(np.float32)
        return y[0] if single else y

    def to_bytes(self) -> bytes:
        """The arrays as one ``.npz`` blob (no pickle), for the catalog."""
        buf = io.BytesIO()
        np.savez(
            buf,
            mean=self.mean,
            scale=self.scale,
            components=self.components,
            explained_variance=self.explained_variance,
            whiten=np.array(self.whiten),
            n_items=np.array(self.n_items),
            explained_ratio=np.array(self.explained_ratio),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> PcaModel:
        """The inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return cls(
                mean=z["mean"].astype(np.float32),
                scale=z["scale"].astype(np.float32),
                components=z["components"].astype(np.float32),
                explained_variance=z["explained_variance"].astype(np.float32),
                whiten=bool(z["whiten"]),
                n_items=int(z["n_items"]),
                explained_ratio=float(z["explained_ratio"]),
            )


def standard_scale(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of ``(n, dim)`` vectors: per-dimension mean and standard
    deviation (a dimension that never varies gets scale 1), float32."""
    x = np.asarray(vectors, dtype=np.float64)
    sd = x.std(axis=0)
    sd[sd < 1e-8] = 1.0
    return x.mean(axis=0).astype(np.float32), sd.astype(np.float32)


def fit_pca(
    vectors: np.ndarray, n_components: int, whiten: bool = False, standardize: bool = True
) -> PcaModel:
    """Fit a PCA reducing ``(n, dim)`` vectors to ``n_components`` dimensions.

    Args:
        vectors: ``(n, dim)`` float32, the collection (raw pooled vectors).
        n_components: dimensions to keep; at most ``min(n, dim)``.
        whiten: scale every component to unit variance. Off by default (see the
            module doc for the measurement).
        standardize: divide every dimension by its standard deviation first (the
            default; see the module doc); ``False`` gives the textbook PCA of ``X``.

    Returns:
        The :class:`PcaModel`.

    Raises:
        UsageError: fewer than ``n_components`` vectors, or more components than
            dimensions.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(vectors, dtype=np.float32)
    n, dim = x.shape
    if n_components < 1:
        raise UsageError(f"PCA to {n_components} dimensions", "give --fit-pca 1 or more")
    if n < n_components:
        raise UsageError(
            f"PCA to {n_components} dimensions needs at least {n_components} items; there are {n}",
            f"embed more items or give --fit-pca {max(1, n)} or less",
        )
    if dim < n_components:
        raise UsageError(
            f"PCA to {n_components} dimensions of {dim}-dimensional vectors",
            f"give --fit-pca {dim} or less",
        )
    mean, scale = standard_scale(x)
    if not standardize:
        scale = np.ones_like(scale)
    pca = PCA(n_components=n_components, whiten=whiten, svd_solver="full")
    pca.fit((x - mean) / scale)
    return PcaModel(
        mean=mean,
        scale=scale,
        components=pca.components_.astype(np.float32),
        explained_variance=pca.explained_variance_.astype(np.float32),
        whiten=whiten,
        n_items=n,
        explained_ratio=float(pca.explained_variance_ratio_.sum()),
    )
