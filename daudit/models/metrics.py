"""Regression metrics: the one R², the one bootstrap, and the metrics rows of many models.

R² follows scikit-learn's ``r2_score``, ``1 - RSS / TSS``; it is undefined (NaN here, ``null``
in summary.json) when the labels are constant, which `daudit.data.validate` refuses up front.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["finite_or_none", "finite_or_minus_inf", "r2_from_rss", "r2", "total_sum_of_squares", "regression_metrics", "bootstrap_r2", "bootstrap_r2_scores",
           "percentile_interval", "metrics_rows", "METRIC_COLUMNS"]

# New columns go at the end, so readers that index the older columns keep working.
METRIC_COLUMNS = ["noise_level", "model", "alpha", "train_r2", "train_mae", "train_rmse", "val_r2",
                  "val_mae", "val_rmse", "test_r2", "test_mae", "test_rmse", "fit_seconds", "degenerate",
                  "resolved_rank", "effective_dof", "alpha_below_resolution"]



def finite_or_none(x) -> float | None:
    """``float(x)``, or None for None and non-finite values (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def finite_or_minus_inf(x) -> float:
    """``float(x)`` for ranking: None and non-finite values rank last (-inf)."""
    x = finite_or_none(x)
    return -math.inf if x is None else x

def r2_from_rss(rss, tss):
    """``1 - rss / tss``, elementwise; NaN where ``tss <= 0`` (constant labels: R² undefined).

    rss : float or array; tss : float or array broadcastable against ``rss``.
    """
    rss = np.asarray(rss, dtype=np.float64)
    tss = np.asarray(tss, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - rss / np.where(tss > 0, tss, np.nan)
    return out if out.ndim else float(out)


def total_sum_of_squares(y) -> float:
    """``sum (y - mean(y))^2`` of labels ``y`` (n,), float64."""
    y = np.asarray(y, dtype=np.float64)
    return float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0


def r2(y, pred) -> float:
    """R² of one model's predictions ``pred`` (n,) of labels ``y`` (n,); NaN when undefined."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 2:
        return float("nan")
    return r2_from_rss(float(np.sum((y - np.asarray(pred, dtype=np.float64)) ** 2)), total_sum_of_squares(y))


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """R², MAE and RMSE of each column of ``pred``.

    y : (n,) true labels; pred : (n,) or (n, m) predictions.
    Returns a dict of arrays of shape (m,) (floats for 1-D ``pred``); R² as in `r2`.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    one = p.ndim == 1
    p = p[:, None] if one else p
    res = p - y[:, None]
    rss = np.einsum("nm,nm->m", res, res)
    out = {"r2": np.atleast_1d(r2_from_rss(rss, total_sum_of_squares(y))), "mae": np.abs(res).mean(axis=0),
           "rmse": np.sqrt(rss / len(y))}
    return {k: float(v[0]) for k, v in out.items()} if one else out


def bootstrap_r2_scores(y: np.ndarray, preds: np.ndarray, n_resamples: int, rng: np.random.Generator,
                        *, batch: int = 100) -> np.ndarray:
    """R² of every column of ``preds`` on each of ``n_resamples`` bootstrap resamples of the rows.

    Every column is scored on the same resamples (paired), so statistics across columns, such
    as the best column of each resample (`daudit.models.selection.interval_of_max`), are well
    defined. Resample ``b`` draws its rows with ``rng.integers(0, n, size=n)``, one resample
    after the other.

    Parameters
    ----------
    y : ndarray (n,)
    preds : ndarray (n,) or (n, m)
    n_resamples : int           resamples of the n rows (with replacement)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n_resamples, m)
        R² per resample and column (NaN where a resample's labels are constant).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(preds, dtype=np.float64)
    p = p[:, None] if p.ndim == 1 else p
    n, m = p.shape
    scores = np.empty((max(int(n_resamples), 0), m))
    for start in range(0, len(scores), batch):
        idx = np.stack([rng.integers(0, n, size=n) for _ in range(min(batch, len(scores) - start))])
        yb = y[idx]
        tss = np.sum((yb - yb.mean(axis=1, keepdims=True)) ** 2, axis=1)
        for j in range(m):
            res = yb - p[idx, j]
            scores[start:start + len(idx), j] = r2_from_rss(np.einsum("ij,ij->i", res, res), tss)
    return scores


def percentile_interval(scores: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile interval of each column of ``scores`` (B, m): (m, 2), NaN when B is 0."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    if scores.shape[0] == 0 or not np.isfinite(scores).any():
        return np.full((scores.shape[1], 2), np.nan)
    a = (1.0 - level) / 2.0
    return np.nanquantile(scores, [a, 1.0 - a], axis=0).T


def bootstrap_r2(y: np.ndarray, preds: np.ndarray, n_resamples: int, rng: np.random.Generator,
                 *, level: float = 0.95, batch: int = 100) -> np.ndarray:
    """Percentile bootstrap interval of the R² of every column of ``preds``.

    All columns are resampled with the same row indices (a paired bootstrap), so their
    intervals are comparable and a difference between two models is not blurred by different
    resamples.

    Parameters
    ----------
    y : ndarray (n,)
    preds : ndarray (n,) or (n, m)
    n_resamples : int           resamples of the n rows (with replacement)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (m, 2)
        Lower and upper percentile of the resampled R² (NaN when ``n_resamples`` is 0).
    """
    p = np.asarray(preds, dtype=np.float64)
    m = 1 if p.ndim == 1 else p.shape[1]
    if n_resamples <= 0 or len(p) < 2:
        return np.full((m, 2), np.nan)
    return percentile_interval(bootstrap_r2_scores(y, p, n_resamples, rng, batch=batch), level)


def metrics_rows(level: float, names, alphas, y: dict, preds: dict, *, fit_seconds=None, degenerate: bool = False,
                 resolved_rank=None, effective_dof=None, below_resolution=None) -> list[dict]:
    """One metrics.csv row per model at one noise level, every metric from the predictions (train included).

    y : {'train'|'val'|'test': (n,)}; preds : {split: (n, m)} in the order of ``names``.
    resolved_rank : (m,) ints, the directions each linear model uses (None for LightGBM);
    effective_dof : (m,) floats; below_resolution : (m,) bools (alpha below the threshold).
    """
    rows = [{"noise_level": float(level), "model": n,
             "alpha": (None if a is None or a != a else float(a)), "degenerate": bool(degenerate)}
            for n, a in zip(names, alphas)]
    for split in ("train", "val", "test"):
        m = regression_metrics(y[split], preds[split])
        for i, row in enumerate(rows):
            for k in ("r2", "mae", "rmse"):
                row[f"{split}_{k}"] = float(m[k][i])
    for i, row in enumerate(rows):
        row["fit_seconds"] = float(fit_seconds[i]) if fit_seconds is not None else None
        row["resolved_rank"] = None if resolved_rank is None else int(resolved_rank[i])
        row["effective_dof"] = None if effective_dof is None else float(effective_dof[i])
        ridge = row["alpha"] is not None
        row["alpha_below_resolution"] = (bool(below_resolution[i]) if ridge and below_resolution is not None
                                         else None)
    return rows
