"""Correlation geometry of traces: PCA reduction to unit vectors, 2-D embeddings."""

from __future__ import annotations

import logging

import numpy as np

from ..parallel import one_thread
from .params import ClusteringParams

__all__ = ["reduce_traces"]

logger = logging.getLogger(__name__)


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre each row and scale it to unit norm; returns (rows, constant mask)."""
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    constant = ~(norm > 1e-6 * max(1.0, float(np.abs(x).max(initial=0.0))))
    x = np.divide(x, norm[:, None], out=np.zeros_like(x), where=~constant[:, None])
    return x, constant


def reduce_traces(traces: np.ndarray, *, similarity: str = "pearson",
                  n_components: int | None = 50, random_state: int = 0) -> tuple[
                      np.ndarray, np.ndarray]:
    """Return unit vectors whose Euclidean distance is the correlation distance of the traces.

    Parameters
    ----------
    traces : ndarray, shape (N, T)
    similarity : {"pearson", "spearman"}
    n_components : int or None
        PCA (truncated SVD) rank; None or 0 keeps all T dimensions.
    random_state : int

    Returns
    -------
    vectors : ndarray of float32, shape (N, D)
        Unit-norm rows; ``||v_i - v_j|| = sqrt(2 (1 - r_ij))`` where ``r_ij`` is
        the correlation of the (PCA-denoised) traces i and j.
    constant : ndarray of bool, shape (N,)
        Rows with a constant trace (zero vectors in ``vectors``).
    """
    x = np.asarray(traces, np.float32)
    if similarity == "spearman":
        from scipy.stats import rankdata

        x = rankdata(x, axis=1).astype(np.float32)
    elif similarity != "pearson":
        raise ValueError(f'similarity should be "pearson" or "spearman", got {similarity!r}.')
    x, constant = _unit_rows(x)
    n, t = x.shape
    if n_components and n_components < min(n, t):
        from sklearn.utils.extmath import randomized_svd

        with one_thread():   # the same components with any number of BLAS threads
            _, _, vt = randomized_svd(x, n_components, n_iter=4, random_state=random_state)
            x = x @ vt.T.astype(np.float32)
        norm = np.linalg.norm(x, axis=1)
        constant = constant | ~(norm > 1e-6)
        x = np.divide(x, norm[:, None], out=np.zeros_like(x), where=~constant[:, None])
    return np.ascontiguousarray(x, np.float32), constant



def _embed(vectors: np.ndarray, p: ClusteringParams, info: dict) -> np.ndarray:
    n = len(vectors)
    perplexity = min(p.perplexity, max(1.0, (n - 1) / 3.0))
    if perplexity != p.perplexity:
        logger.info("perplexity %.3g capped at %.3g for %d elements", p.perplexity,
                    perplexity, n)
    info["perplexity_used"] = float(perplexity)
    if p.embedding == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ImportError(
                "embedding='umap' needs the umap-learn package: pip install "
                "'napari-amnesia[umap]' (or umap-learn), or choose embedding='tsne'."
            ) from exc
        reducer = umap.UMAP(n_components=2, n_neighbors=min(p.umap_neighbors, n - 1),
                            min_dist=p.umap_min_dist, metric="euclidean",
                            random_state=p.random_state)
        return reducer.fit_transform(vectors).astype(np.float32)
    backend = p.tsne_backend
    if backend == "auto" and n <= 2000:
        backend = "sklearn"   # openTSNE's start-up costs more than it saves on few points
    if backend in ("auto", "opentsne"):
        try:
            import openTSNE
        except ImportError as exc:
            if backend == "opentsne":
                raise ImportError("tsne_backend='opentsne' needs the openTSNE package: pip "
                                  "install openTSNE, or choose tsne_backend='sklearn'.") from exc
            backend = "sklearn"
        else:
            backend = "opentsne"
    info["tsne_backend_used"] = backend
    if backend == "opentsne":
        tsne = openTSNE.TSNE(
            n_components=2, perplexity=perplexity, metric="euclidean",
            early_exaggeration=p.early_exaggeration, n_iter=p.n_iter,
            initialization="pca", random_state=p.random_state,
            n_jobs=1,   # its gradient sums depend on n_jobs (measured: 60 units apart)
            negative_gradient_method="fft" if n > 1000 else "bh", verbose=False,
        )
        with one_thread():
            return np.asarray(tsne.fit(vectors), np.float32)
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=perplexity,
                early_exaggeration=p.early_exaggeration, max_iter=p.n_iter + 250,
                init="pca", learning_rate="auto", random_state=p.random_state,
                metric="euclidean")
    # one thread: the Barnes-Hut gradient sums its normalization over OpenMP threads
    # (an order that depends on their number), and the OpenMP gradient spins for
    # seconds per iteration on a busy machine (measured: 19 points, 37 s with 2 busy
    # cores vs 0.09 s with one thread); above 2,000 points 'auto' uses openTSNE
    with one_thread():
        return tsne.fit_transform(vectors).astype(np.float32)
