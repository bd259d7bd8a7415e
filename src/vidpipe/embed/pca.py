"""PCA of a collection's embedding vectors: fitted with scikit-learn, applied with numpy.

:func:`fit_pca` fits ``sklearn.decomposition.PCA`` (full SVD, so the result does not
depend on a random seed) and keeps only its arrays in a :class:`PcaModel`: the mean,
the components and their variances. :meth:`PcaModel.transform` is sklearn's own
formula, ``(X - mean) @ components.T``, divided by ``sqrt(explained_variance)`` when
whitened, so a stored model needs neither sklearn nor pickle to be used again.

Why PCA: mean-pooled encoder states share one large common direction (see
:mod:`vidpipe.embed.audio`); centring removes it, and the leading components keep
what tells recordings apart, in fewer dimensions (the usual script reduces to 1024).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from vidpipe.errors import UsageError

__all__ = ["PcaModel", "fit_pca"]


@dataclass
class PcaModel:
    """A fitted PCA.

    Attributes:
        mean: ``(dim,)`` float32, the collection's mean vector.
        components: ``(n_components, dim)`` float32, unit rows, by decreasing variance.
        explained_variance: ``(n_components,)`` float32, variance along each component.
        whiten: whether :meth:`transform` scales each component to unit variance.
        n_items: how many vectors it was fitted on.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    whiten: bool
    n_items: int

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
        y = (x - self.mean) @ self.components.T
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
            components=self.components,
            explained_variance=self.explained_variance,
            whiten=np.array(self.whiten),
            n_items=np.array(self.n_items),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> PcaModel:
        """The inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return cls(
                mean=z["mean"].astype(np.float32),
                components=z["components"].astype(np.float32),
                explained_variance=z["explained_variance"].astype(np.float32),
                whiten=bool(z["whiten"]),
                n_items=int(z["n_items"]),
            )


def fit_pca(vectors: np.ndarray, n_components: int, whiten: bool = False) -> PcaModel:
    """Fit a PCA reducing ``(n, dim)`` vectors to ``n_components`` dimensions.

    Args:
        vectors: ``(n, dim)`` float32, the collection (raw pooled vectors).
        n_components: dimensions to keep; at most ``min(n, dim)``.
        whiten: scale every component to unit variance. Off by default: on the
            near-duplicate test set, whitening 64 components gave every low-variance
            direction the weight of the first and retrieval dropped (see the README).

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
    pca = PCA(n_components=n_components, whiten=whiten, svd_solver="full").fit(x)
    return PcaModel(
        mean=pca.mean_.astype(np.float32),
        components=pca.components_.astype(np.float32),
        explained_variance=pca.explained_variance_.astype(np.float32),
        whiten=whiten,
        n_items=n,
    )
