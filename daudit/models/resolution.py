"""Which eigen-directions the linear fits can use: the equilibrated problem and the OLS path.

OLS does not change when a pixel is rescaled, so what the data resolve is decided on the
column-equilibrated centred Gram ``C = D S_xx D`` with ``D = diag(d)``, ``d_j`` the power of two
nearest ``1 / sqrt(S_xx[j, j])`` (exact in floating point: ``C`` holds the same digits as ``S_xx``;
a constant pixel gets ``d_j = 0`` and no weight). Eigenvalues ``mu`` of ``C`` are dimensionless,
``mu_max <= p``. Two floors bound what ``C``'s decomposition can tell from zero:

    gram_term = G eps64 mu_max                      (G = 16: float64 Gram + eigh, absolute)
    data_term = (u^2 / 3) (sqrt(max_j r_j) + sqrt(sum_j r_j / n))^2
                r_j = 1 + n m_j^2 / S_xx[j, j]      (second moment over variance of pixel j)

``data_term`` is the expected squared spectral norm of the input's rounding, ``E`` with
independent entries uniform in ``+- u |x_ij|`` (``u`` the unit roundoff of the stored dtype),
after equilibration: a random matrix's norm is about its largest column norm plus its largest row
norm (Latala; Bandeira and van Handel), here ``(u / sqrt 3) sqrt(r_j)`` for column j and, for the
mean row, ``(u / sqrt 3) sqrt(sum_j r_j / n)``. It is not the Frobenius worst case
``u^2 sum_j r_j``, which is ``p`` times larger and cut directions that re-rounding leaves unchanged.

The floor is ``gram_term``: OLS keeps every direction that float64 arithmetic on the stored
values resolves, because the model under audit is fed those stored values, rounding included.
Directions between ``gram_term`` and ``data_term`` cannot be told from the rounding of the
stored values (``rounding_rank`` counts those above it); they stay in, and the report says how many
there are. The earlier releases cut far higher, at ``max(u^2 sum_j r_j, G eps64 mu_max / RHO)``
(RHO = 1e-5: every kept eigenvalue to 5 digits). The OLS truncation path runs from the floor up
to that cut in steps of ten; every step is a model of its own (``OLS`` at the floor, ``OLS_x10``,
``OLS_x100``, ...), a candidate of the gate like every other model, refitted on every permutation
from the same decomposition.

Ridge(alpha) is not scale invariant and is fitted on the raw ``S_xx``'s decomposition, on every
direction (as scikit-learn's ``Ridge(solver="svd")``): backward-stable, it is the exact Ridge of
``S_xx + E`` with ``||E|| ~ G eps64 lambda_max``, so its coefficients carry a relative error of about
``G eps64 lambda_max / alpha``; an alpha below ``G eps64 lambda_max / RHO`` is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["EPS64", "GRAM_ERROR", "EIGEN_REL_ACCURACY", "PATH_STEP", "PATH_MAX_STEPS", "Resolution",
           "unit_roundoff", "power_of_two_scale", "rounding_floor", "resolve", "path_name"]

EPS64 = float(np.finfo(np.float64).eps)  # 2^-52
GRAM_ERROR = 16.0  # absolute eigenvalue error of the float64 Gram + eigh, in eps64 * the largest eigenvalue
EIGEN_REL_ACCURACY = 1e-5  # the earlier releases' required relative accuracy of a kept eigenvalue (RHO)
PATH_STEP = 10.0  # the OLS path's thresholds: floor, 10 floor, 100 floor, ...
PATH_MAX_STEPS = 10  # at most this many steps above the floor


def unit_roundoff(dtype) -> float:
    """Relative precision of a value stored as ``dtype``: ``eps / 2`` for floats, 0 for integers/bools.

    float32: 2^-24 = 5.96e-8; float64: 2^-53 = 1.11e-16.
    """
    dt = np.dtype(dtype)
    return float(np.finfo(dt).eps) / 2.0 if np.issubdtype(dt, np.floating) else 0.0


def power_of_two_scale(col_norm2: np.ndarray) -> np.ndarray:
    """``d`` (p,): the power of two nearest ``1 / sqrt(col_norm2)`` per column, 0 where the column is
    constant (``col_norm2 <= 0``) or not finite; multiplying by it is exact in floating point."""
    v = np.asarray(col_norm2, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0)
    d = np.zeros_like(v)
    d[ok] = np.ldexp(1.0, -np.round(0.5 * np.log2(v[ok])).astype(np.int64))
    return d


def rounding_floor(roundoff: float, ratio_max: float, ratio_sum: float, n: int) -> float:
    """Expected squared spectral norm of the equilibrated input's rounding (module docstring)."""
    if roundoff <= 0 or n <= 0:
        return 0.0
    return (roundoff**2 / 3.0) * (math.sqrt(max(ratio_max, 0.0)) + math.sqrt(max(ratio_sum, 0.0) / n)) ** 2


def path_name(factor: float) -> str:
    """``OLS`` at the floor, ``OLS_x10``, ``OLS_x100``, ... above it."""
    return "OLS" if factor == 1 else f"OLS_x{factor:g}"


@dataclass(frozen=True)
class Resolution:
    """Resolution of one decomposition (see the module docstring); eigenvalues of the equilibrated
    ``C`` are dimensionless, those of the raw ``S_xx`` in units of the input squared.

    threshold : float      the OLS floor, gram_term
    data_term, gram_term : float
    lambda_max : float     largest eigenvalue of C
    rank : int             directions of C above the floor (the OLS fit's rank)
    rounding_rank : int    directions of C above data_term (resolved beyond the stored values' rounding)
    n_directions : int     p
    path : tuple           ((factor, threshold, rank), ...) from the floor up to ``previous_threshold``
    previous_threshold : float   the earlier releases' cut on C, the top of the path
    ridge_lambda_max : float     largest eigenvalue of the raw S_xx (at the fit's noise level)
    ridge_accuracy : float       G eps64 ridge_lambda_max / RHO: a smaller alpha is flagged
    """

    threshold: float
    data_term: float
    gram_term: float
    lambda_max: float
    rank: int
    n_directions: int
    rounding_rank: int = 0
    path: tuple = ()
    previous_threshold: float = 0.0
    ridge_lambda_max: float = 0.0
    ridge_accuracy: float = 0.0

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "data_term": self.data_term, "gram_term": self.gram_term,
                "lambda_max": self.lambda_max, "resolved_rank": self.rank, "n_directions": self.n_directions,
                "rounding_rank": self.rounding_rank,
                "previous_threshold": self.previous_threshold,
                "previous_rank": self.path[-1][2] if self.path else self.rank,
                "ridge_lambda_max": self.ridge_lambda_max, "ridge_accuracy_alpha": self.ridge_accuracy,
                "path": [{"model": path_name(f), "factor": f, "threshold": t, "resolved_rank": r}
                         for f, t, r in self.path]}


def resolve(eq_vals: np.ndarray, raw_lambda_max: float, *, roundoff: float, ratio_max: float, ratio_sum: float,
            n: int) -> Resolution:
    """The floor, the path and the Ridge accuracy bound of one decomposition.

    eq_vals : (p,) ascending eigenvalues of the equilibrated C; raw_lambda_max : of the raw S_xx;
    roundoff : unit roundoff of the stored dtype; ratio_max, ratio_sum : max and sum of r_j over the
    pixels that vary; n : rows.
    """
    mu = np.asarray(eq_vals, dtype=np.float64)
    mu_max = float(mu[-1]) if mu.size else 0.0
    gram = GRAM_ERROR * EPS64 * mu_max
    data = rounding_floor(roundoff, ratio_max, ratio_sum, n)
    floor = gram
    previous = max(roundoff**2 * max(ratio_sum, 0.0), gram / EIGEN_REL_ACCURACY)
    steps = 0
    if floor > 0 and previous > floor:
        steps = min(PATH_MAX_STEPS, int(math.ceil(math.log(previous / floor, PATH_STEP) - 1e-6)))
    path = tuple((PATH_STEP**k, floor * PATH_STEP**k, int(np.count_nonzero(mu > floor * PATH_STEP**k)))
                 for k in range(steps + 1))
    return Resolution(floor, data, gram, mu_max, path[0][2], int(mu.size), int(np.count_nonzero(mu > data)), path,
                      max(previous, floor),
                      float(raw_lambda_max), GRAM_ERROR * EPS64 * float(raw_lambda_max) / EIGEN_REL_ACCURACY)
