"""Regression metrics (R2, MAE, RMSE) for many models' predictions at once."""

from __future__ import annotations

import numpy as np

__all__ = ["regression_metrics"]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """R2, MAE and RMSE of each column of ``pred``.

    y : (n,) true labels; pred : (n,) or (n, m) predictions.
    Returns a dict of arrays of shape (m,) (scalars for 1-D ``pred``). R2 follows
    scikit-learn's ``r2_score`` (1 - RSS / TSS; 0 for constant ``y`` predicted exactly, else -inf
    is avoided by returning 0 when TSS is 0).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    one = p.ndim == 1
    p = p[:, None] if one else p
    res = p - y[:, None]
    rss = np.einsum("nm,nm->m", res, res)
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else np.zeros_like(rss)
    out = {"r2": r2, "mae": np.abs(res).mean(axis=0), "rmse": np.sqrt(rss / len(y))}
    return {k: float(v[0]) for k, v in out.items()} if one else out
