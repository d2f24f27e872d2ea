"""Bootstrap intervals and binned R2 of test predictions (pure numpy).

All models are resampled with the same row indices (a paired bootstrap), so their intervals are
comparable and a difference between two models is not blurred by different resamples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_r2", "r2_in_bins", "r2"]


def r2(y: np.ndarray, pred: np.ndarray) -> float | None:
    """scikit-learn ``r2_score`` of one model; None with fewer than 2 rows or constant ``y``."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 2:
        return None
    tss = float(np.sum((y - y.mean()) ** 2))
    if tss <= 0:
        return None
    return float(1.0 - np.sum((y - np.asarray(pred, dtype=np.float64)) ** 2) / tss)


def bootstrap_r2(y: np.ndarray, preds: np.ndarray, n_resamples: int, rng: np.random.Generator,
                 *, level: float = 0.95, batch: int = 100) -> np.ndarray:
    """Percentile bootstrap interval of the R2 of every column of ``preds``.

    Parameters
    ----------
    y : ndarray (n,)
    preds : ndarray (n, m)
    n_resamples : int           resamples of the n test rows (with replacement)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (m, 2)
        Lower and upper percentile of the resampled R2 (NaN when ``n_resamples`` is 0).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(preds, dtype=np.float64)
    p = p[:, None] if p.ndim == 1 else p
    n, m = p.shape
    if n_resamples <= 0 or n < 2:
        return np.full((m, 2), np.nan)
    scores = np.empty((n_resamples, m))
    for start in range(0, n_resamples, batch):
        idx = rng.integers(0, n, size=(min(batch, n_resamples - start), n))
        yb = y[idx]
        tss = np.sum((yb - yb.mean(axis=1, keepdims=True)) ** 2, axis=1)
        tss = np.where(tss > 0, tss, np.nan)
        for j in range(m):
            res = yb - p[idx, j]
            scores[start:start + len(idx), j] = 1.0 - np.einsum("ij,ij->i", res, res) / tss
    a = (1.0 - level) / 2.0
    return np.nanquantile(scores, [a, 1.0 - a], axis=0).T


def r2_in_bins(y: np.ndarray, pred: np.ndarray, values: np.ndarray, edges, labels) -> list[dict]:
    """R2 of one model within bins of ``values`` (e.g. SNR).

    edges : inner edges e_1 < ... < e_k; bin i holds e_{i} < v <= e_{i+1} (first: v <= e_1, last:
    v > e_k). labels : k + 1 strings. Returns [{'bin', 'lo', 'hi', 'n', 'test_r2'}] (R2 None when
    the bin has fewer than 2 rows or constant labels).
    """
    v = np.asarray(values, dtype=np.float64)
    edges = [float(e) for e in edges]
    idx = np.searchsorted(np.asarray(edges), v, side="left")
    out = []
    for i, lab in enumerate(labels):
        sel = idx == i
        out.append({"bin": lab, "lo": edges[i - 1] if i > 0 else None,
                    "hi": edges[i] if i < len(edges) else None, "n": int(sel.sum()),
                    "test_r2": r2(y[sel], pred[sel]) if sel.sum() >= 2 else None})
    return out
