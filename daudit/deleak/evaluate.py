"""Models and statistics of the strategy comparison (pure numpy, plus LightGBM on arrays).

* `ridge_standardized`: scikit-learn's ``make_pipeline(StandardScaler(), Ridge(alpha))`` solved
  from streamed sufficient statistics. Standardising divides feature j by its train standard
  deviation d_j, so with D = diag(d): S_zz = D^-1 S_xx D^-1 and S_zy = D^-1 S_xy; the fit on z
  (the audit's spectral filter on the resolved directions of S_zz, `daudit.models.linear`) is mapped
  back to coefficients on x. No in-memory refit is needed.
* `permutation_pvalue`: held-out R2 of fixed predictions against permuted labels (the model is
  kept, only the pairing of predictions and labels is broken).
* `decide`: the user's pass rule and the recommended strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from daudit.models.linear import decompose, fit_family
from daudit.models.metrics import regression_metrics
from daudit.models.stats import CenteredStats

__all__ = ["RidgeFit", "ridge_standardized", "ridge_standardized_path", "fit_lightgbm_dense", "permutation_pvalue",
           "decide"]

_EPS = np.finfo(np.float64).eps


@dataclass
class RidgeFit:
    """coef (p, k) on the raw features, intercept (k,), train_r2 (k,), scale (p,) the train std."""

    coef: np.ndarray
    intercept: np.ndarray
    train_r2: np.ndarray
    scale: np.ndarray
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, k) predictions for features x (n, p)."""
        return np.asarray(x, np.float64) @ self.coef + self.intercept


def ridge_standardized_path(stats, alphas, *, input_dtype=np.float32) -> list:
    """Ridge(alpha) with intercept on standardised features for every alpha, from `CenteredStats`.

    Parameters
    ----------
    stats : daudit.models.stats.CenteredStats
        S_xx (p, p), S_xy (p, k), S_yy (k,), means and n of the train features and targets.
    alphas : sequence of float > 0
    input_dtype : dtype the features' values are as precise as (the error is stored as float32)

    Returns
    -------
    list of RidgeFit, one per alpha.

    Notes
    -----
    Like scikit-learn's StandardScaler (population std, ``ddof=0``), a feature whose variance
    is zero up to rounding keeps scale 1 (its standardised column is zero). One eigendecomposition
    of S_zz serves every alpha, and every fit is zero on the eigen-directions below the audit's
    resolution threshold (`daudit.models.linear.resolution`), so the train R2 from the statistics is
    the R2 of the returned coefficients.
    """

    n = stats.n
    var = np.maximum(np.diag(stats.sxx), 0.0) / n
    std = np.sqrt(var)
    const = std <= 10 * _EPS * np.maximum(np.abs(stats.x_mean), 1.0)
    scale = np.where(const, 1.0, std)
    z = CenteredStats(n, stats.x_mean / scale, stats.y_mean, stats.sxx / np.outer(scale, scale),
                      stats.sxy / scale[:, None], stats.syy)
    fam = fit_family(decompose(z, input_dtype=input_dtype), alphas, include_ols=False)
    out = []
    for i, a in enumerate(alphas):
        coef = fam.coef[i] / scale[:, None]
        intercept = stats.y_mean - stats.x_mean @ coef
        out.append(RidgeFit(coef, intercept, fam.train_r2[i], scale, float(a)))
    return out


def ridge_standardized(stats, alpha: float, **kwargs) -> RidgeFit:
    """`ridge_standardized_path` for one alpha."""
    return ridge_standardized_path(stats, [alpha], **kwargs)[0]


def fit_lightgbm_dense(x: np.ndarray, y: np.ndarray, params: dict):
    """A LightGBM regressor on in-memory rows x (n, p), y (n,); params from `lightgbm_params`."""

    train_params = {
        "objective": params["objective"], "max_depth": params["max_depth"],
        "learning_rate": params["learning_rate"], "seed": params["random_state"],
        "num_threads": 0 if params["n_jobs"] == -1 else params["n_jobs"], "verbose": -1,
        "deterministic": True,
    }
    ds = lgb.Dataset(np.asarray(x, np.float32), label=np.asarray(y, np.float64),
                     params={"verbose": -1, "seed": params["random_state"]}, free_raw_data=True)
    return lgb.train(train_params, ds, num_boost_round=params["n_estimators"])


def permutation_pvalue(y: np.ndarray, pred: np.ndarray, *, n_perm: int, rng: np.random.Generator,
                       batch: int = 100) -> np.ndarray:
    """One-sided p-values of held-out R2 under label permutation, (m,).

    p = (1 + #{R2(pred, permuted y) >= R2(pred, y)}) / (1 + n_perm); NaN when n_perm is 0.
    """
    y = np.asarray(y, np.float64)
    p = np.asarray(pred, np.float64)
    p = p[:, None] if p.ndim == 1 else p
    if n_perm <= 0:
        return np.full(p.shape[1], np.nan)
    obs = regression_metrics(y, p)["r2"]
    tss = float(((y - y.mean()) ** 2).sum())
    if tss == 0:
        return np.ones(p.shape[1])
    # R2 = 1 - (sum p^2 - 2 p.y + sum y^2) / tss: only the cross term p.y depends on the pairing.
    base = (p * p).sum(axis=0) + (y * y).sum()
    hits = np.zeros(p.shape[1])
    left = n_perm
    while left > 0:
        b = min(batch, left)
        yp = np.stack([rng.permutation(y) for _ in range(b)])  # (b, n)
        r2 = 1.0 - (base[None, :] - 2 * yp @ p) / tss
        hits += (r2 >= obs[None, :] - 1e-12).sum(axis=0)
        left -= b
    return (1.0 + hits) / (1.0 + n_perm)


def decide(rows: list, *, logg_threshold: float, snr_threshold: float, tie_tolerance: float) -> dict:
    """The pass rule over strategies and the recommendation.

    rows : list of dict with ``id``, ``n_features``, ``logg_r2`` and ``snr_r2`` (test).
    A strategy passes when ``logg_r2 < logg_threshold`` and ``snr_r2 > snr_threshold``. The
    recommended strategy is the passing one with the highest SNR R2; strategies within
    ``tie_tolerance`` of it count as tied and the one with the fewest features wins.
    """
    passing = [r for r in rows if r["logg_r2"] < logg_threshold and r["snr_r2"] > snr_threshold]
    if not passing:
        return {"verdict": "FAIL", "recommended": None, "passing": [], "tied": []}
    top = max(r["snr_r2"] for r in passing)
    tied = [r for r in passing if r["snr_r2"] >= top - tie_tolerance]
    best = min(tied, key=lambda r: (r["n_features"], -r["snr_r2"]))
    return {"verdict": "PASS", "recommended": best["id"], "passing": [r["id"] for r in passing],
            "tied": [r["id"] for r in tied]}
