"""Error-like spectra with a chosen condition number, and an independent float64 SVD oracle.

The spectra are a positive template (the mean error spectrum) plus a centred part whose singular
values fall geometrically by ``cond`` from the first to the last direction, like real error
spectra (a few strong directions: SNR, sky, lines; then a long tail). The label depends on the
strong directions and, weakly, on all of them. Stored as float32, as pfsspec files are.

The oracle never uses daudit's statistics or eigendecomposition: it takes numpy's SVD of the
centred float64 copy of the stored values and applies the OLS / Ridge filter to the first ``r``
singular directions (``r`` = the rank daudit reports).
"""

from __future__ import annotations

import numpy as np

__all__ = ["error_spectra", "svd_oracle", "power_of_two_columns", "r2"]

WORLD_SEED = 1414


def _world(p: int, cond: float):
    w = np.random.default_rng(WORLD_SEED)
    template = w.uniform(0.5, 1.5, p)
    basis, _ = np.linalg.qr(w.normal(size=(p, p)))
    sig = np.logspace(0.0, -np.log10(cond), p)
    weights = w.normal(size=p)
    return template, basis, sig, weights


def error_spectra(n: int, p: int, cond: float, *, seed: int, scale: float = 1.0, spread: float = 0.1):
    """(error (n, p) float32 in units of ``scale``, log_g (n,)).

    Rows: ``scale * (template + spread * (Z diag(sig)) B^T)`` with Z standard normal (n, p), B a
    fixed orthogonal basis and ``sig`` from 1 to ``1/cond``: the centred spectra have condition
    number about ``cond`` (before float32 rounding, which fills the tail at ~6e-8 of the values).
    """
    template, basis, sig, weights = _world(p, cond)
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, p))
    x = template + spread * np.mean(template) * (z * sig) @ basis.T
    y = 3.0 + 0.6 * z[:, :4] @ weights[:4] + 0.2 * z[:, 4:] @ weights[4:] / np.sqrt(p) + 0.3 * rng.normal(size=n)
    return (x * scale).astype(np.float32), y


def power_of_two_columns(xc):
    """The column scaling of the equilibrated problem, computed here with numpy alone: per centred
    column the power of two nearest 1 / its norm (0 for a constant column)."""
    norm = np.sqrt(np.sum(xc * xc, axis=0))
    d = np.zeros_like(norm)
    ok = norm > 0
    d[ok] = 2.0 ** -np.round(np.log2(norm[ok]))
    return d


def svd_oracle(x_train, y_train, rank: int, alphas, *, equilibrate: bool = False):
    """Predictors of OLS (alpha None) and Ridge(alpha) on the first ``rank`` singular directions
    of the centred float64 ``x_train`` (with ``equilibrate``: of the centred X with its columns
    scaled by `power_of_two_columns`, the problem daudit's OLS path is cut on); plus the effective
    degrees of freedom of each.

    Returns (predict(x) -> (n, len(alphas)), dof (len(alphas),), singular values (p,)).
    """
    x = np.asarray(x_train, dtype=np.float64)
    mu, ybar = x.mean(axis=0), float(np.mean(y_train))
    d = power_of_two_columns(x - mu) if equilibrate else np.ones(x.shape[1])
    u, s_all, vt = np.linalg.svd((x - mu) * d, full_matrices=False)
    u, s, vt = u[:, :rank], s_all[:rank], vt[:rank]
    uty = u.T @ (np.asarray(y_train, dtype=np.float64) - ybar)
    coefs, dof = [], []
    for a in alphas:
        filt = 1.0 / s if a is None else s / (s * s + a)
        coefs.append(vt.T @ (filt * uty))
        dof.append(float(rank) if a is None else float(np.sum(s * s / (s * s + a))))
    coef = np.column_stack(coefs) * d[:, None]

    def predict(xx):
        return (np.asarray(xx, dtype=np.float64) - mu) @ coef + ybar

    return predict, np.array(dof), s_all


def r2(y, pred) -> float:
    y = np.asarray(y, dtype=np.float64)
    return float(1.0 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))
