"""OLS and a Ridge path from one eigendecomposition of the centred Gram matrix (pure numpy).

With ``S_xx = Q diag(lambda) Q^T`` and ``z = Q^T S_xy``, every linear model of the family is a
spectral filter ``f(lambda)`` applied to ``z``, on the RESOLVED directions only:

    resolved:      lambda > tau                           (tau below; the same for every model)
    coef = Q (f(lambda) * z)
    Ridge(alpha):  f = 1 / (lambda + alpha) if resolved, else 0   (alpha absolute, as scikit-learn)
    OLS:           f = 1 / lambda          if resolved, else 0   (minimum norm on the resolved span)
    intercept = y_mean - x_mean . coef
    RSS_train = S_yy - sum z^2 (2 f - lambda f^2)         (no second pass over the data)
    dof(alpha) = sum_resolved lambda / (lambda + alpha)   (effective degrees of freedom; OLS: rank)

For OLS ``2 f - lambda f^2 = 1 / lambda`` and for Ridge ``(lambda + 2 alpha) / (lambda + alpha)^2
<= 1 / lambda``; all models live on the same resolved directions, so OLS explains at least as
much of the training set as any Ridge fit, by construction.

Resolution threshold (eigenvalues of ``S_xx``, units of the input squared)
--------------------------------------------------------------------------
    tau = max(tau_data, tau_gram)
    tau_data = (u_in * ||X||_F)^2,       ||X||_F^2 = trace(S_xx) + n |x_mean|^2  (uncentred X)
    tau_gram = G * eps64 * lambda_max / RHO,   G = 16, RHO = 1e-5   (= 3.6e-10 lambda_max)

``tau_data``: each stored value is ``x (1 + d)`` with ``|d| <= u_in``, the unit roundoff of the
dtype the input was stored in (2^-24 = 6.0e-8 for float32, 0 for integer masks). So the stored
``X`` differs from the measured one by ``E`` with ``|E| <= u_in |X|`` entrywise and
``||E||_2 <= ||E||_F <= u_in ||X||_F``; centring is a projection and does not enlarge ``E``. By
Weyl's inequality every singular value of the centred ``X`` is known only to ``+- u_in ||X||_F``:
a direction with ``sqrt(lambda) <= u_in ||X||_F`` cannot be told from zero by the stored data.

``tau_gram``: the float64 Gram matrix (accumulated over row chunks) and its symmetric
eigendecomposition give eigenvalues with an absolute error of about ``G eps64 lambda_max``
(measured against a float64 SVD of the centred X: at most 15 eps64 lambda_max for p = 128 to
1536, condition numbers 1e9 and 1e16). Above ``tau_gram`` every eigenvalue is known to a relative
``RHO = 1e-5``. Measured, the predictions of the filtered models then agree with a float64 SVD of
the centred X truncated at the same rank to ``a eps64 lambda_max / tau`` of the label spread:
``a <= 0.3`` on synthetic spectra (p = 48 to 1536; <= 3e-8 in tests/test_resolution.py) and
``a = 0.62`` on the demo's real spectra (8192 x 4096: 3.9e-7 of the label spread, 1.3e-7 of the
predictions, 1.3e-9 in R2). At ``tau / 10`` the same comparison gives 3.7e-6: RHO cannot be
loosened without breaking the 1e-6 agreement, and directions just above ``tau`` are accurate.
For float32 input ``tau_data >= 16 eps64 lambda_max`` always, and it is the larger term when
``||X||_F^2 > 1e5 lambda_max`` (a mean far above the spread, e.g. the synthetic spectra of the
tests); on the demo data the spread dominates (``||X||_F^2 = 3 lambda_max``) and ``tau_gram``
binds.

A noise level ``L`` scales the input, ``X_L = L X``: ``lambda -> L^2 lambda``, ``z -> L z``,
``x_mean -> L x_mean``, ``||X||_F^2 -> L^2 ||X||_F^2`` (see `GramEigen.scaled`); both terms of
``tau`` scale by ``L^2``, so the resolved directions, OLS and its predictions are the same at
every level > 0, and Ridge(alpha) at level L is Ridge(alpha / L^2) at level 1 on the same
directions. One decomposition serves every level.
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
    "Resolution",
    "decompose",
    "release_eigvecs",
    "eigen_from",
    "fit_family",
    "fit_family_dense",
    "model_name",
    "resolution",
    "unit_roundoff",
    "GRAM_ERROR",
    "EIGEN_REL_ACCURACY",
]

EPS64 = float(np.finfo(np.float64).eps)  # 2^-52
GRAM_ERROR = 16.0  # absolute eigenvalue error of the float64 Gram + eigh, in eps64 * lambda_max
EIGEN_REL_ACCURACY = 1e-5  # relative accuracy required of every resolved eigenvalue


def unit_roundoff(dtype) -> float:
    """Relative precision of a value stored as ``dtype``: ``eps / 2`` for floats, 0 for integers/bools.

    float32: 2^-24 = 5.96e-8; float64: 2^-53 = 1.11e-16.
    """
    dt = np.dtype(dtype)
    return float(np.finfo(dt).eps) / 2.0 if np.issubdtype(dt, np.floating) else 0.0


@dataclass(frozen=True)
class GramEigen:
    """Eigendecomposition of centred statistics; all arrays float64.

    eigvals (p,) ascending, clipped at 0; eigvecs (p, p), or None once released (`release_eigvecs`:
    the eigenvalues, ``z`` and the threshold stay usable); z (p, k) = eigvecs^T S_xy;
    syy (k,); x_mean (p,); y_mean (k,); n rows; x_norm2 = ||X||_F^2 of the uncentred input
    (units of X^2); input_roundoff: the unit roundoff of the dtype the input was stored in.
    """

    n: int
    eigvals: np.ndarray
    eigvecs: np.ndarray | None
    z: np.ndarray
    syy: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    x_norm2: float = 0.0
    input_roundoff: float = unit_roundoff(np.float32)

    def scaled(self, level: float) -> "GramEigen":
        """The decomposition of the input ``level * X`` (exact, no refit)."""
        return replace(self, eigvals=self.eigvals * level**2, z=self.z * level, x_mean=self.x_mean * level,
                       x_norm2=self.x_norm2 * level**2)

    def with_targets(self, stats: CenteredStats) -> "GramEigen":
        """Reuse the eigenvectors for other targets (e.g. permuted labels)."""
        return replace(self, z=self.eigvecs.T @ stats.sxy, syy=stats.syy, y_mean=stats.y_mean)


@dataclass(frozen=True)
class Resolution:
    """The resolution threshold of one decomposition (at the scale it was computed for).

    threshold : float    tau, eigenvalues of S_xx at or below it are unresolved (units of X^2)
    data_term, gram_term : float    the two terms of tau (see the module docstring)
    lambda_max : float   largest eigenvalue of S_xx
    rank : int           number of resolved directions (eigenvalues > threshold)
    n_directions : int   p
    """

    threshold: float
    data_term: float
    gram_term: float
    lambda_max: float
    rank: int
    n_directions: int

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "data_term": self.data_term, "gram_term": self.gram_term,
                "lambda_max": self.lambda_max, "resolved_rank": self.rank, "n_directions": self.n_directions}


def release_eigvecs(eg: GramEigen | None) -> GramEigen | None:
    """``eg`` without its eigenvectors (p x p float64, 134 MB at 4096 pixels), for a caller that
    has made every fit it needs from them; the caller must hold the only reference."""
    return None if eg is None else replace(eg, eigvecs=None)


def resolution(eg: GramEigen, factor: float = 1.0) -> Resolution:
    """The threshold ``tau = factor * max(tau_data, tau_gram)`` of ``eg`` and its resolved rank."""
    lam_max = float(eg.eigvals[-1]) if eg.eigvals.size else 0.0
    data = (eg.input_roundoff**2) * float(eg.x_norm2)
    gram = GRAM_ERROR * EPS64 * lam_max / EIGEN_REL_ACCURACY
    tau = factor * max(data, gram)
    return Resolution(tau, data, gram, lam_max, int(np.count_nonzero(eg.eigvals > tau)), int(eg.eigvals.size))


def _x_norm2(stats: CenteredStats) -> float:
    """||X||_F^2 of the uncentred input, from its centred statistics."""
    x_mean = np.asarray(stats.x_mean, dtype=np.float64)
    return float(np.trace(stats.sxx)) + stats.n * float(x_mean @ x_mean)


def eigen_from(stats: CenteredStats, eigvals: np.ndarray, eigvecs: np.ndarray, *, input_dtype=np.float32,
               x_norm2: float | None = None) -> GramEigen:
    """A `GramEigen` from an eigendecomposition of ``stats.sxx`` computed elsewhere (CPU or GPU).

    ``x_norm2``: ||X||_F^2 when ``stats.sxx`` was overwritten by the decomposition (else from it).
    """
    eigvals = np.maximum(np.asarray(eigvals, dtype=np.float64), 0.0)
    eigvecs = np.asarray(eigvecs, dtype=np.float64)
    x_mean = np.asarray(stats.x_mean, dtype=np.float64)
    x_norm2 = _x_norm2(stats) if x_norm2 is None else x_norm2
    return GramEigen(
        n=stats.n, eigvals=eigvals, eigvecs=eigvecs, z=eigvecs.T @ stats.sxy,
        syy=np.asarray(stats.syy, dtype=np.float64), x_mean=x_mean,
        y_mean=np.asarray(stats.y_mean, dtype=np.float64), x_norm2=max(x_norm2, 0.0),
        input_roundoff=unit_roundoff(input_dtype),
    )


def decompose(stats: CenteredStats | GramStats, *, input_dtype=np.float32, overwrite: bool = False) -> GramEigen:
    """One symmetric eigendecomposition of ``S_xx`` (LAPACK syevd through scipy, divide and conquer;
    with ``overwrite`` the eigenvectors replace the input and the workspace is 2 p^2 doubles, so the
    peak is three p x p float64 matrices). syevr (MRRR) needs O(p) workspace but is not a safe
    default: at 4096 it took 1.0 to 1.3x syevd's time on the demo's Grams and on iid noise, and
    15x (115 s against 7.7) on a rank-60 signal under small noise (bench/eigh_RESULTS.md).

    ``input_dtype``: the dtype the input values were stored in (daudit's error arrays are
    float32); it sets the data term of the resolution threshold. ``overwrite``: also reuse
    ``S_xx`` itself, which is then spent.
    """
    if isinstance(stats, GramStats):
        stats = stats.centered(in_place=overwrite)
    x_norm2 = _x_norm2(stats)  # before S_xx may be overwritten
    a = stats.sxx.T if overwrite and stats.sxx.flags.c_contiguous else stats.sxx  # symmetric: .T is the
    # same matrix, in the Fortran order LAPACK overwrites without a copy
    eigvals, eigvecs = scipy.linalg.eigh(a, driver="evd", overwrite_a=overwrite, check_finite=False)
    return eigen_from(stats, eigvals, eigvecs, input_dtype=input_dtype, x_norm2=x_norm2)


def model_name(alpha: float | None) -> str:
    """``OLS`` or ``Ridge_<alpha:g>`` (e.g. ``Ridge_0.001``, ``Ridge_100``)."""
    return "OLS" if alpha is None else f"Ridge_{alpha:g}"


def _filter(eigvals: np.ndarray, resolved: np.ndarray, alpha: float | None) -> np.ndarray:
    """Spectral filter of OLS (``alpha`` None) or Ridge(alpha): zero on unresolved directions."""
    f = np.zeros_like(eigvals)
    f[resolved] = 1.0 / (eigvals[resolved] + (0.0 if alpha is None else alpha))
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
    train_rss : ndarray (m, k)               residual sum of squares on train, from the statistics
    train_tss : ndarray (k,)                 total sum of squares on train (about the mean)
    n_train : int
    resolution : Resolution or None          threshold and resolved rank at this level (None if degenerate)
    effective_dof : ndarray (m,)             sum over resolved directions of lambda / (lambda + alpha)
    below_resolution : ndarray (m,) bool     alpha < threshold: the Ridge fit is OLS on the resolved
                                             directions up to a relative shrinkage < alpha / threshold
    degenerate : bool                        the input was identically zero (level 0)
    """

    names: list
    alphas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    train_rss: np.ndarray
    train_tss: np.ndarray
    n_train: int
    resolution: Resolution | None = None
    effective_dof: np.ndarray | None = None
    below_resolution: np.ndarray | None = None
    x_mean: np.ndarray | None = None
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

    @property
    def resolved_rank(self) -> int:
        return 0 if self.resolution is None else self.resolution.rank

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every model, shape (n, m, k), for input rows ``x`` (n, p) (centred on the
        train mean first, so that a large common offset does not cost digits)."""
        x = np.asarray(x, dtype=np.float64)
        if self.x_mean is None:
            return np.einsum("np,mpk->nmk", x, self.coef) + self.intercept[None]
        b = self.intercept + np.einsum("p,mpk->mk", self.x_mean, self.coef)
        return np.einsum("np,mpk->nmk", x - self.x_mean, self.coef) + b[None]


def fit_family(eg: GramEigen, alphas, *, include_ols: bool = True, noise_level: float = 1.0,
               threshold_factor: float = 1.0) -> LinearFamilyFit:
    """OLS and Ridge(alpha) for every alpha, at input scale ``noise_level``, on the resolved directions.

    Parameters
    ----------
    eg : GramEigen
        Decomposition of the unscaled input (``noise_level = 1``).
    alphas : sequence of float > 0
        Absolute penalties, as in scikit-learn (compared with eigenvalues of ``L^2 S_xx``).
    noise_level : float >= 0
        Input ``X_L = noise_level * X``; 0 gives the intercept-only (degenerate) fit.
    threshold_factor : float
        Multiplies the resolution threshold (1 for the audit; 0.1 and 10 for the OLS sensitivity).
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
            np.tile(eg.syy, (m, 1)), eg.syy.copy(), eg.n, effective_dof=np.zeros(m),
            below_resolution=np.zeros(m, bool), degenerate=True,
            notes=["input identically zero: intercept-only model"],
        )
    eg = eg.scaled(noise_level) if noise_level != 1 else eg
    res = resolution(eg, threshold_factor)
    resolved = eg.eigvals > res.threshold
    filters = [_filter(eg.eigvals, resolved, a) for a in spec]
    # one product for every model (eigvecs read once): (p, p) @ (p, m * k) -> (m, p, k)
    fz = np.stack(filters, axis=1)[:, :, None] * eg.z[:, None, :]
    coef = np.ascontiguousarray((eg.eigvecs @ fz.reshape(p, m * k)).reshape(p, m, k).transpose(1, 0, 2))
    intercept = eg.y_mean[None, :] - np.einsum("p,mpk->mk", eg.x_mean, coef)
    rss = np.stack([np.maximum(eg.syy - _explained(eg, f), 0.0) for f in filters])
    lam = eg.eigvals[resolved]
    dof = np.array([lam.size if a is None else float(np.sum(lam / (lam + a))) for a in spec], dtype=np.float64)
    below = np.array([a is not None and a < res.threshold for a in spec])
    notes = [f"{n}: alpha below the resolution threshold {res.threshold:.3g}: close to OLS on the resolved "
             f"directions (relative shrinkage < {a / (res.threshold + a):.2g} on each)"
             for n, a, b in zip(names, spec, below) if b]
    return LinearFamilyFit(names, alpha_arr, coef, intercept, rss, eg.syy.copy(), eg.n, resolution=res,
                           effective_dof=dof, below_resolution=below, x_mean=eg.x_mean.copy(), notes=notes)


def fit_family_dense(x: np.ndarray, y: np.ndarray, alphas, *, input_dtype=None, **kwargs) -> LinearFamilyFit:
    """In-memory convenience: statistics of ``x`` (n, p), ``y`` (n,) or (n, k), then `fit_family`.

    ``input_dtype`` (default: ``x.dtype``) is the dtype the values were stored in.
    """
    x = np.asarray(x)
    input_dtype = x.dtype if input_dtype is None else input_dtype
    x = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    stats = chunk_stats(x, y2, x_shift=x[: min(len(x), 1024)].mean(0), y_shift=y2.mean(0))
    return fit_family(decompose(stats, input_dtype=input_dtype), alphas, **kwargs)
