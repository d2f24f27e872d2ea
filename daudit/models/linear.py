"""OLS and a Ridge path from one eigendecomposition of the centred Gram matrix (pure numpy).

With ``S_xx = Q diag(lambda) Q^T`` and ``z = Q^T S_xy``, every linear model of the family is a
spectral filter ``f(lambda)`` applied to ``z``:

    coef = Q (f(lambda) * z)
    Ridge(alpha):  f = 1 / (lambda + alpha)               (scikit-learn, fit_intercept=True)
    OLS:           f = 1 / lambda  where lambda > rcond * lambda_max, else 0  (minimum norm)
    intercept = y_mean - x_mean . coef
    RSS_train = S_yy - sum z^2 (2 f - lambda f^2)         (no second pass over the data)

For OLS ``2 f - lambda f^2 = 1 / lambda`` and for Ridge ``(lambda + 2 alpha) / (lambda + alpha)^2
<= 1 / lambda``, so on every kept direction OLS explains at least as much as any Ridge fit. The
eigenvalue cut-off exists because eigenvalues of a Gram matrix are only known to about
``eps * lambda_max``; `fit_family` lowers it (down to ``eps``) if a Ridge fit would still explain
more of the training set, so OLS never shows a lower train R2 than a Ridge fit.

A noise level ``L`` scales the input, ``X_L = L X``: ``lambda -> L^2 lambda``, ``z -> L z``,
``x_mean -> L x_mean`` (see `GramEigen.scaled`); one decomposition serves every level.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg

from daudit.models.metrics import r2_from_rss
from daudit.models.stats import CenteredStats, GramStats, chunk_stats

__all__ = [
    "GramEigen",
    "LinearFamilyFit",
    "decompose",
    "fit_family",
    "model_name",
    "DEFAULT_RCOND",
]

DEFAULT_RCOND = None  # None -> n_features * eps, relative to the largest eigenvalue
_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class GramEigen:
    """Eigendecomposition of centred statistics; all arrays float64.

    eigvals (p,) ascending, clipped at 0; eigvecs (p, p); z (p, k) = eigvecs^T S_xy;
    syy (k,); x_mean (p,); y_mean (k,); n rows.
    """

    n: int
    eigvals: np.ndarray
    eigvecs: np.ndarray
    z: np.ndarray
    syy: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray

    def scaled(self, level: float) -> "GramEigen":
        """The decomposition of the input ``level * X`` (exact, no refit)."""
        return replace(
            self, eigvals=self.eigvals * level**2, z=self.z * level, x_mean=self.x_mean * level
        )

    def with_targets(self, stats: CenteredStats) -> "GramEigen":
        """Reuse the eigenvectors for other targets (e.g. permuted labels)."""
        return replace(self, z=self.eigvecs.T @ stats.sxy, syy=stats.syy, y_mean=stats.y_mean)


def decompose(stats: CenteredStats | GramStats, *, overwrite: bool = False) -> GramEigen:
    """One symmetric eigendecomposition of ``S_xx`` (LAPACK syevd, through scipy: the numbers of
    numpy.linalg.eigh with half its workspace, 1 p x p matrix instead of 3 beside the input;
    ``overwrite``: also reuse ``S_xx`` itself, which is then spent)."""
    if isinstance(stats, GramStats):
        stats = stats.centered(in_place=overwrite)
    a = stats.sxx.T if overwrite and stats.sxx.flags.c_contiguous else stats.sxx  # symmetric: .T is the
    # same matrix, in the Fortran order LAPACK overwrites without a copy
    eigvals, eigvecs = scipy.linalg.eigh(a, driver="evd", overwrite_a=overwrite, check_finite=False)
    return GramEigen(
        n=stats.n, eigvals=np.maximum(eigvals, 0.0), eigvecs=eigvecs,
        z=eigvecs.T @ stats.sxy, syy=np.asarray(stats.syy, dtype=np.float64),
        x_mean=stats.x_mean, y_mean=np.asarray(stats.y_mean, dtype=np.float64),
    )


def model_name(alpha: float | None) -> str:
    """``OLS`` or ``Ridge_<alpha:g>`` (e.g. ``Ridge_0.001``, ``Ridge_100``)."""
    return "OLS" if alpha is None else f"Ridge_{alpha:g}"


def _ols_filter(eigvals: np.ndarray, rcond: float) -> np.ndarray:
    top = eigvals[-1] if eigvals.size else 0.0
    keep = eigvals > rcond * top
    f = np.zeros_like(eigvals)
    f[keep] = 1.0 / eigvals[keep]
    return f


def _explained(eg: GramEigen, f: np.ndarray) -> np.ndarray:
    # sum_i z_i^2 (2 f_i - lambda_i f_i^2): the drop in RSS from the intercept-only model
    w = 2.0 * f - eg.eigvals * f * f
    return np.einsum("i,ik->k", w, eg.z * eg.z)


@dataclass
class LinearFamilyFit:
    """OLS and Ridge fits at one noise level.

    names : list of str, length m            model names
    alphas : ndarray (m,)                    NaN for OLS
    coef : ndarray (m, p, k)                 coefficients on the (scaled) input
    intercept : ndarray (m, k)
    train_rss : ndarray (m, k)               residual sum of squares on train
    train_tss : ndarray (k,)                 total sum of squares on train (about the mean)
    n_train : int
    rcond : float                            the OLS cut-off used (relative eigenvalue)
    degenerate : bool                        the input was identically zero (level 0)
    """

    names: list
    alphas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    train_rss: np.ndarray
    train_tss: np.ndarray
    n_train: int
    rcond: float
    degenerate: bool = False
    notes: list = field(default_factory=list)
    solve_seconds: float = 0.0  # wall time of `fit_family` at this level

    @property
    def train_r2(self) -> np.ndarray:
        """(m, k); NaN where the labels are constant (`daudit.models.metrics.r2_from_rss`)."""
        return r2_from_rss(self.train_rss, self.train_tss[None, :])

    @property
    def train_rmse(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.train_rss, 0.0) / self.n_train)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every model, shape (n, m, k), for input rows ``x`` (n, p)."""
        x = np.asarray(x, dtype=np.float64)
        return np.einsum("np,mpk->nmk", x, self.coef) + self.intercept[None]


def fit_family(
    eg: GramEigen,
    alphas,
    *,
    include_ols: bool = True,
    noise_level: float = 1.0,
    rcond: float | None = DEFAULT_RCOND,
) -> LinearFamilyFit:
    """OLS and Ridge(alpha) for every alpha, at input scale ``noise_level``.

    Parameters
    ----------
    eg : GramEigen
        Decomposition of the unscaled input (``noise_level = 1``).
    alphas : sequence of float > 0
    noise_level : float >= 0
        Input ``X_L = noise_level * X``; 0 gives the intercept-only (degenerate) fit.
    rcond : float, optional
        OLS eigenvalue cut-off relative to the largest eigenvalue (default ``p * eps``).
    """
    alphas = [float(a) for a in alphas]
    spec = ([None] if include_ols else []) + alphas
    names = [model_name(a) for a in spec]
    alpha_arr = np.array([np.nan if a is None else a for a in spec])
    p, k = eg.z.shape
    m = len(spec)
    if noise_level == 0 or eg.eigvals.size == 0 or eg.eigvals[-1] == 0:
        # The input is identically zero: every model is the intercept (the training mean).
        return LinearFamilyFit(
            names, alpha_arr, np.zeros((m, p, k)), np.tile(eg.y_mean, (m, 1)),
            np.tile(eg.syy, (m, 1)), eg.syy.copy(), eg.n, np.nan, degenerate=True,
            notes=["input identically zero: intercept-only model"],
        )
    eg = eg.scaled(noise_level) if noise_level != 1 else eg
    filters = [_ridge_filter(eg.eigvals, a) for a in alphas]
    notes = []
    rc = p * _EPS if rcond is None else float(rcond)
    if include_ols:
        best_ridge = max((_explained(eg, f).min() for f in filters), default=-np.inf)
        f_ols = _ols_filter(eg.eigvals, rc)
        while _explained(eg, f_ols).min() < best_ridge and rc > _EPS:
            # A Ridge fit used directions the cut-off dropped: trust smaller eigenvalues.
            rc = max(rc / 10.0, _EPS)
            f_ols = _ols_filter(eg.eigvals, rc)
            notes.append(f"OLS cut-off lowered to rcond={rc:.3g} to stay at least as good as Ridge")
        filters = [f_ols] + filters
    coef = np.stack([eg.eigvecs @ (f[:, None] * eg.z) for f in filters])  # (m, p, k)
    intercept = eg.y_mean[None, :] - np.einsum("p,mpk->mk", eg.x_mean, coef)
    rss = np.stack([np.maximum(eg.syy - _explained(eg, f), 0.0) for f in filters])
    return LinearFamilyFit(names, alpha_arr, coef, intercept, rss, eg.syy.copy(), eg.n, rc, notes=notes)


def _ridge_filter(eigvals: np.ndarray, alpha: float) -> np.ndarray:
    return 1.0 / (eigvals + alpha)


def fit_family_dense(x: np.ndarray, y: np.ndarray, alphas, **kwargs) -> LinearFamilyFit:
    """In-memory convenience: statistics of ``x`` (n, p), ``y`` (n,) or (n, k), then `fit_family`."""
    x = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    stats = chunk_stats(x, y2, x_shift=x[: min(len(x), 1024)].mean(0), y_shift=y2.mean(0))
    return fit_family(decompose(stats), alphas, **kwargs)
