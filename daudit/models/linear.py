"""OLS and a Ridge path from eigendecompositions of the centred Gram matrix (pure numpy).

Two symmetric eigendecompositions of the same statistics serve every model, alpha and noise level:

- raw:          ``S_xx = Q diag(lambda) Q^T``,  ``z = Q^T S_xy``      (Ridge: not scale invariant)
- equilibrated: ``C = D S_xx D = V diag(mu) V^T``, ``w = V^T D S_xy`` (OLS: units do not matter)

with ``D`` the exact power-of-two column scaling of `daudit.models.resolution`. Every model is a
spectral filter:

    Ridge(alpha):  coef = Q (z / (lambda + alpha))                 every direction, as scikit-learn
    OLS at t:      coef = D V (w / mu) on mu > t, 0 elsewhere      t on the OLS path (floor .. x10^k)
    intercept = y_mean - x_mean . coef
    RSS_train = S_yy - sum z^2 (2 f - lambda f^2)                  (no second pass over the data)
    dof(alpha) = sum lambda / (lambda + alpha);  OLS: its rank

The path and its floor (the float64 Gram's own error on the equilibrated problem; the stored
values' rounding is counted, not cut) are defined in `daudit.models.resolution`; ``OLS`` (the
floor) keeps every direction float64 arithmetic on the stored values resolves, ``OLS_x10``,
``OLS_x100``, ... cut up to the threshold of the earlier releases. A step cut at ``t`` agrees with
a float64 SVD of the equilibrated centred X truncated at its rank to about ``eps64 mu_max / t``
of the label spread (1e-6 at the top step), the statistics' train R2 and the predictions' to the
same bound (`LinearFamilyFit.train_r2_tolerance`); the reported numbers are always those of the
predictions.

A noise level ``L`` scales the input, ``X_L = L X``: ``lambda -> L^2 lambda``, ``z -> L z``,
``D -> D / L``, and ``C``, ``mu``, ``w`` do not change (see `GramEigen.scaled`): OLS and its path are
the same at every level > 0, and Ridge(alpha) at level L is Ridge(alpha / L^2) at level 1. One
pair of decompositions serves every level.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg

from daudit.models.metrics import r2_from_rss
from daudit.models.resolution import (
    EIGEN_REL_ACCURACY,
    EPS64,
    GRAM_ERROR,
    Resolution,
    path_name,
    power_of_two_scale,
    resolve,
    unit_roundoff,
)
from daudit.models.stats import CenteredStats, GramStats, gram_chunk

__all__ = [
    "GramEigen",
    "LinearFamilyFit",
    "Resolution",
    "decompose",
    "release_eigvecs",
    "eigen_from",
    "equilibration",
    "fit_family",
    "fit_family_dense",
    "model_name",
    "is_ols_name",
    "resolution",
    "unit_roundoff",
    "GRAM_ERROR",
    "EIGEN_REL_ACCURACY",
]


@dataclass(frozen=True)
class GramEigen:
    """The raw and the equilibrated eigendecomposition of centred statistics; all arrays float64.

    Raw: eigvals (p,) ascending, clipped at 0; eigvecs (p, p), or None once released
    (`release_eigvecs`); z (p, k) = eigvecs^T S_xy.
    Equilibrated: eq_scale (p,) the column scaling d (0 for constant pixels); eq_vals (p,)
    ascending, clipped at 0; eq_vecs (p, p) or None once released; eq_z (p, k) = eq_vecs^T D S_xy;
    ratio_max, ratio_sum: max and sum over the varying pixels of r_j = 1 + n m_j^2 / S_xx[j, j].
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
    eq_scale: np.ndarray | None = None
    eq_vals: np.ndarray | None = None
    eq_vecs: np.ndarray | None = None
    eq_z: np.ndarray | None = None
    ratio_max: float = 1.0
    ratio_sum: float = 0.0

    def scaled(self, level: float) -> "GramEigen":
        """The decompositions of the input ``level * X`` (exact, no refit)."""
        return replace(self, eigvals=self.eigvals * level**2, z=self.z * level, x_mean=self.x_mean * level,
                       x_norm2=self.x_norm2 * level**2, eq_scale=self.eq_scale / level)

    def with_targets(self, stats: CenteredStats) -> "GramEigen":
        """Reuse both sets of eigenvectors for other targets (e.g. permuted labels)."""
        return replace(self, z=self.eigvecs.T @ stats.sxy, syy=stats.syy, y_mean=stats.y_mean,
                       eq_z=self.eq_vecs.T @ (self.eq_scale[:, None] * stats.sxy))


def release_eigvecs(eg: GramEigen | None) -> GramEigen | None:
    """``eg`` without its eigenvectors (two p x p float64 matrices, 134 MB each at 4096 pixels), for a
    caller that has made every fit it needs from them; the caller must hold the only reference."""
    return None if eg is None else replace(eg, eigvecs=None, eq_vecs=None)


def resolution(eg: GramEigen) -> Resolution:
    """The OLS floor, the truncation path and the Ridge accuracy bound of ``eg`` (at its scale)."""
    lam_max = float(eg.eigvals[-1]) if eg.eigvals.size else 0.0
    return resolve(eg.eq_vals, lam_max, roundoff=eg.input_roundoff, ratio_max=eg.ratio_max,
                   ratio_sum=eg.ratio_sum, n=eg.n)


def _x_norm2(stats: CenteredStats) -> float:
    """||X||_F^2 of the uncentred input, from its centred statistics."""
    x_mean = np.asarray(stats.x_mean, dtype=np.float64)
    return float(np.trace(stats.sxx)) + stats.n * float(x_mean @ x_mean)


def equilibration(stats: CenteredStats):
    """(d, ratio_max, ratio_sum) of `daudit.models.resolution` from the diagonal of ``S_xx``."""
    diag = np.diag(stats.sxx).copy()
    d = power_of_two_scale(diag)
    live = d > 0
    m = np.asarray(stats.x_mean, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        r = 1.0 + stats.n * m[live] ** 2 / diag[live]
    r = r[np.isfinite(r)]
    return d, float(r.max()) if r.size else 1.0, float(r.sum())


def _eigh_inplace(a: np.ndarray):
    """syevd on ``a`` (symmetric, overwritten by its eigenvectors; .T is the same matrix in the
    Fortran order LAPACK overwrites without a copy)."""
    return scipy.linalg.eigh(a.T if a.flags.c_contiguous else a, driver="evd", overwrite_a=True, check_finite=False)


def eigen_from(stats: CenteredStats, eigvals: np.ndarray, eigvecs: np.ndarray, *, input_dtype=np.float32,
               x_norm2: float | None = None, equilibrated=None) -> GramEigen:
    """A `GramEigen` from a raw eigendecomposition of ``stats.sxx`` computed elsewhere (CPU or GPU).

    ``x_norm2``: ||X||_F^2 when ``stats.sxx`` was overwritten by the decomposition (else from it).
    ``equilibrated``: (d, mu, V, ratio_max, ratio_sum) of the equilibrated problem; computed here
    from ``stats.sxx`` (which must then be intact) when None.
    """
    if equilibrated is None:
        d, rmax, rsum = equilibration(stats)
        mu, v = _eigh_inplace(stats.sxx * d[:, None] * d[None, :])
        equilibrated = (d, mu, v, rmax, rsum)
    d, mu, v, rmax, rsum = equilibrated
    eigvals = np.maximum(np.asarray(eigvals, dtype=np.float64), 0.0)
    eigvecs = np.asarray(eigvecs, dtype=np.float64)
    x_mean = np.asarray(stats.x_mean, dtype=np.float64)
    x_norm2 = _x_norm2(stats) if x_norm2 is None else x_norm2
    return GramEigen(
        n=stats.n, eigvals=eigvals, eigvecs=eigvecs, z=eigvecs.T @ stats.sxy,
        syy=np.asarray(stats.syy, dtype=np.float64), x_mean=x_mean,
        y_mean=np.asarray(stats.y_mean, dtype=np.float64), x_norm2=max(x_norm2, 0.0),
        input_roundoff=unit_roundoff(input_dtype), eq_scale=d, eq_vals=np.maximum(np.asarray(mu, np.float64), 0.0),
        eq_vecs=np.asarray(v, dtype=np.float64), eq_z=np.asarray(v).T @ (d[:, None] * stats.sxy),
        ratio_max=rmax, ratio_sum=rsum,
    )


def decompose(stats: CenteredStats | GramStats, *, input_dtype=np.float32, overwrite: bool = False,
              park=None) -> GramEigen:
    """The two symmetric eigendecompositions (LAPACK syevd through scipy, divide and conquer) of
    the equilibrated ``C`` and of ``S_xx``.

    Without ``overwrite``, ``C`` is a new matrix and ``S_xx`` is copied (the caller's stays). With
    ``overwrite``, ``S_xx`` is spent (``stats.sxx`` is set to None; the caller must hold no other
    reference to it) and, with ``park`` (a context manager factory like
    `daudit.engine.spill.Parked`), the peak is three p x p float64 matrices, one eigendecomposition
    and its 2 p^2 workspace: ``S_xx`` waits on disk while ``C`` (scaled in place, exactly) is
    decomposed, then ``C``'s eigenvectors wait while ``S_xx`` is. syevr (MRRR) needs O(p) workspace
    but is not a safe default: at 4096 it took 1.0 to 1.3x syevd's time on the demo's Grams and on
    iid noise, and 15x (115 s against 7.7) on a rank-60 signal under small noise
    (bench/eigh_RESULTS.md).

    ``input_dtype``: the dtype the input values were stored in (daudit's error arrays are
    float32); it sets the rounding term of `daudit.models.resolution`.
    """
    if isinstance(stats, GramStats):
        gram, stats = stats, stats.centered(in_place=overwrite)
        if overwrite:
            gram.xtx = None  # its buffer is stats.sxx now
    x_norm2 = _x_norm2(stats)  # before S_xx is overwritten
    d, rmax, rsum = equilibration(stats)
    if not overwrite:
        mu, v = _eigh_inplace(stats.sxx * d[:, None] * d[None, :])
        eigvals, eigvecs = _eigh_inplace(stats.sxx.copy())
    elif park is None:
        mu, v = _eigh_inplace(stats.sxx * d[:, None] * d[None, :])
        eigvals, eigvecs = _eigh_inplace(stats.sxx)
    else:
        a, stats.sxx = stats.sxx, None
        with park(a, what="S_xx") as sxx_back:
            a *= d[:, None]  # powers of two: exact, C holds the digits of S_xx
            a *= d[None, :]
            mu, v = _eigh_inplace(a)
            del a
            with park(v, what="the equilibrated eigenvectors") as v_back:
                del v
                eigvals, eigvecs = _eigh_inplace(sxx_back())
                v = v_back()
    if overwrite:
        stats.sxx = None
    return eigen_from(stats, eigvals, eigvecs, input_dtype=input_dtype, x_norm2=x_norm2,
                      equilibrated=(d, mu, v, rmax, rsum))


def model_name(alpha: float | None) -> str:
    """``OLS`` or ``Ridge_<alpha:g>`` (e.g. ``Ridge_0.001``, ``Ridge_100``); the OLS path's other
    steps are named by `daudit.models.resolution.path_name` (``OLS_x10``, ...)."""
    return "OLS" if alpha is None else f"Ridge_{alpha:g}"


def is_ols_name(name: str) -> bool:
    """``OLS`` or a step of its truncation path (``OLS_x10``, ...)."""
    return name == "OLS" or name.startswith("OLS_x")


def _explained(vals: np.ndarray, z: np.ndarray, f: np.ndarray) -> np.ndarray:
    # sum_i z_i^2 (2 f_i - lambda_i f_i^2): the drop in RSS from the intercept-only model
    w = 2.0 * f - vals * f * f
    return np.einsum("i,ik->k", w, z * z)


@dataclass
class LinearFamilyFit:
    """OLS (its truncation path) and Ridge fits at one noise level.

    names : list of str, length m            model names (``OLS``, ``OLS_x10``, ..., ``Ridge_<alpha>``)
    alphas : ndarray (m,)                    NaN for OLS
    coef : ndarray (m, p, k)                 coefficients on the (scaled) input
    intercept : ndarray (m, k)
    train_rss : ndarray (m, k)               residual sum of squares on train, from the statistics
    train_tss : ndarray (k,)                 total sum of squares on train (about the mean)
    n_train : int
    resolution : Resolution or None          floor, path and Ridge bound at this level (None if degenerate)
    effective_dof : ndarray (m,)             OLS: its rank; Ridge: sum of lambda / (lambda + alpha)
    below_resolution : ndarray (m,) bool     Ridge alpha below the raw Gram's accuracy bound
    ranks : ndarray (m,) int                 directions each model uses
    train_r2_tolerance : ndarray (m,)        how far the statistics' train R2 may sit from the
                                             predictions' (eps64 over each filter's smallest eigenvalue)
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
    ranks: np.ndarray | None = None
    train_r2_tolerance: np.ndarray | None = None

    @property
    def train_r2(self) -> np.ndarray:
        """(m, k); NaN where the labels are constant (`daudit.models.metrics.r2_from_rss`)."""
        return r2_from_rss(self.train_rss, self.train_tss[None, :])

    @property
    def resolved_rank(self) -> int:
        """The rank of ``OLS`` (the floor of the path)."""
        return 0 if self.resolution is None else self.resolution.rank

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every model, shape (n, m, k), for input rows ``x`` (n, p) (centred on the
        train mean first, so that a large common offset does not cost digits)."""
        x = np.asarray(x, dtype=np.float64)
        if self.x_mean is None:
            return np.einsum("np,mpk->nmk", x, self.coef) + self.intercept[None]
        b = self.intercept + np.einsum("p,mpk->mk", self.x_mean, self.coef)
        return np.einsum("np,mpk->nmk", x - self.x_mean, self.coef) + b[None]


def _degenerate(names, alpha_arr, eg: GramEigen) -> LinearFamilyFit:
    """Every model is the intercept (the training mean): the input is identically zero."""
    m, (p, k) = len(names), eg.z.shape
    return LinearFamilyFit(
        names, alpha_arr, np.zeros((m, p, k)), np.tile(eg.y_mean, (m, 1)), np.tile(eg.syy, (m, 1)),
        eg.syy.copy(), eg.n, effective_dof=np.zeros(m), below_resolution=np.zeros(m, bool), degenerate=True,
        notes=["input identically zero: intercept-only model"], ranks=np.zeros(m, dtype=np.int64),
        train_r2_tolerance=np.full(m, 1e-6))


def fit_family(eg: GramEigen, alphas, *, include_ols: bool = True, noise_level: float = 1.0) -> LinearFamilyFit:
    """The OLS path and Ridge(alpha) for every alpha, at input scale ``noise_level``.

    Parameters
    ----------
    eg : GramEigen
        Decompositions of the unscaled input (``noise_level = 1``).
    alphas : sequence of float > 0
        Absolute penalties, as in scikit-learn (compared with eigenvalues of ``L^2 S_xx``).
    include_ols : bool
        Include ``OLS`` and its truncation path (`daudit.models.resolution`).
    noise_level : float >= 0
        Input ``X_L = noise_level * X``; 0 gives the intercept-only (degenerate) fit.
    """
    alphas = [float(a) for a in alphas]
    live = not (noise_level == 0 or eg.eigvals.size == 0 or eg.eigvals[-1] == 0)
    if live and noise_level != 1:
        eg = eg.scaled(noise_level)  # once: the floor, the path and every filter at this level
    res = resolution(eg) if live else None
    path = (res.path if res is not None else ((1.0, 0.0, 0),)) if include_ols else ()
    names = [path_name(f) for f, _, _ in path] + [model_name(a) for a in alphas]
    alpha_arr = np.array([np.nan] * len(path) + alphas)
    if not live:
        return _degenerate(names, alpha_arr, eg)
    p, k = eg.z.shape
    mu, lam = eg.eq_vals, eg.eigvals
    ols_f = [np.where(mu > t, 1.0 / np.where(mu > t, mu, 1.0), 0.0) for _, t, _ in path]
    ridge_f = [1.0 / (lam + a) for a in alphas]
    parts = []
    if ols_f:  # one product per basis for every model (eigenvectors read once)
        fz = np.stack(ols_f, axis=1)[:, :, None] * eg.eq_z[:, None, :]
        c = (eg.eq_vecs @ fz.reshape(p, len(ols_f) * k)).reshape(p, len(ols_f), k)
        parts.append(c * eg.eq_scale[:, None, None])
    if ridge_f:
        fz = np.stack(ridge_f, axis=1)[:, :, None] * eg.z[:, None, :]
        parts.append((eg.eigvecs @ fz.reshape(p, len(ridge_f) * k)).reshape(p, len(ridge_f), k))
    coef = np.ascontiguousarray(np.concatenate(parts, axis=1).transpose(1, 0, 2))
    intercept = eg.y_mean[None, :] - np.einsum("p,mpk->mk", eg.x_mean, coef)
    rss = np.stack([np.maximum(eg.syy - _explained(mu, eg.eq_z, f), 0.0) for f in ols_f]
                   + [np.maximum(eg.syy - _explained(lam, eg.z, f), 0.0) for f in ridge_f])
    dof = np.array([float(r) for _, _, r in path] + [float(np.sum(lam / (lam + a))) for a in alphas])
    ranks = np.array([r for _, _, r in path] + [p] * len(alphas), dtype=np.int64)
    below = np.array([False] * len(path) + [a < res.ridge_accuracy for a in alphas])
    lam_max = max(res.ridge_lambda_max, 0.0)
    tol = np.array([EPS64 * res.lambda_max / t for _, t, _ in path]
                   + [GRAM_ERROR * EPS64 * lam_max / a for a in alphas])
    notes = [f"{n}: alpha below {res.ridge_accuracy:.3g}, where the float64 Gram's eigenvalues are known to "
             f"{EIGEN_REL_ACCURACY:g}: its coefficients equal the exact Ridge to about "
             f"{GRAM_ERROR * EPS64 * lam_max / a:.2g} (relative)"
             for n, a, b in zip(names[len(path):], alphas, below[len(path):]) if b]
    return LinearFamilyFit(names, alpha_arr, coef, intercept, rss, eg.syy.copy(), eg.n, resolution=res,
                           effective_dof=dof, below_resolution=below, x_mean=eg.x_mean.copy(), notes=notes,
                           ranks=ranks, train_r2_tolerance=np.maximum(tol, 1e-6))


def fit_family_dense(x: np.ndarray, y: np.ndarray, alphas, *, input_dtype=None, **kwargs) -> LinearFamilyFit:
    """In-memory convenience: statistics of ``x`` (n, p), ``y`` (n,) or (n, k), then `fit_family`.

    ``input_dtype`` (default: ``x.dtype``) is the dtype the values were stored in.
    """
    x = np.asarray(x)
    input_dtype = x.dtype if input_dtype is None else input_dtype
    x = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    stats = gram_chunk(x, y2, x_shift=x[: min(len(x), 1024)].mean(0), y_shift=y2.mean(0))
    return fit_family(decompose(stats, input_dtype=input_dtype), alphas, **kwargs)
