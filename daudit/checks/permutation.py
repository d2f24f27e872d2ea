"""Label permutations, within-group shuffles and permutation p-values (pure numpy).

The null follows scikit-learn's ``permutation_test_score``: refit the same estimator on
permuted train labels, score it on the untouched validation set, and report

    p = (C + 1) / (n_permutations + 1),   C = #{permutations with score >= observed score}.

For the linear family the permuted labels are extra target columns: one pass adds their
``X^T Y_perm`` to the train statistics and every permuted fit reuses the eigendecomposition of
the real ``X^T X`` (`solve_many`), so the null costs no extra decomposition.
"""

from __future__ import annotations

import numpy as np

from daudit.models.linear import fit_family

__all__ = [
    "label_permutations", "group_codes", "permute_within_groups", "p_value", "solve_many",
]


def label_permutations(y: np.ndarray, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """``n_permutations`` independent permutations of ``y`` (n,) as columns: (n, n_permutations)."""
    y = np.asarray(y, dtype=np.float64)
    return np.column_stack([y[rng.permutation(len(y))] for _ in range(n_permutations)]) if n_permutations \
        else np.empty((len(y), 0))


def group_codes(mag: np.ndarray, snr: np.ndarray, n_mag: int, n_snr: int):
    """mag x SNR group of each row from quantile bins of the given (train) values.

    Returns
    -------
    codes : ndarray (n,) int         group index ``i_mag * n_snr + i_snr``
    edges : dict                     inner bin edges {'mag': [...], 'snr': [...]}
    """
    def bins(v, k):
        v = np.asarray(v, dtype=np.float64)
        inner = np.unique(np.quantile(v, np.linspace(0, 1, k + 1)[1:-1])) if k > 1 else np.empty(0)
        return np.searchsorted(inner, v, side="right"), inner

    im, em = bins(mag, n_mag)
    is_, es = bins(snr, n_snr)
    return im * (len(es) + 1) + is_, {"mag": [float(e) for e in em], "snr": [float(e) for e in es]}


def permute_within_groups(y: np.ndarray, codes: np.ndarray, n_shuffles: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Labels permuted within each group, ``n_shuffles`` times: (n, n_shuffles)."""
    y = np.asarray(y, dtype=np.float64)
    out = np.empty((len(y), n_shuffles))
    groups = [np.flatnonzero(codes == g) for g in np.unique(codes)]
    for j in range(n_shuffles):
        col = y.copy()
        for idx in groups:
            col[idx] = y[idx[rng.permutation(len(idx))]]
        out[:, j] = col
    return out


def p_value(observed: float, null: np.ndarray) -> float:
    """``(C + 1) / (n + 1)`` with ``C`` the null scores >= ``observed`` (permutation_test_score)."""
    null = np.asarray(null, dtype=np.float64)
    return float((np.sum(null >= observed) + 1) / (len(null) + 1))


def solve_many(eigen, centered, sxy: np.ndarray, syy: np.ndarray, y_mean: np.ndarray, alphas, *,
               include_ols: bool, level: float):
    """The linear family for many target columns from the real input's decomposition.

    The eigenvectors, eigenvalues and so the resolution threshold and the resolved directions
    are the real fit's (`daudit.models.linear.resolution`): the null models live on the same subspace.

    Parameters
    ----------
    eigen : GramEigen        decomposition of the real train ``S_xx``
    centered : CenteredStats the real train statistics (``with_y`` swaps the targets)
    sxy : (p, k), syy : (k,), y_mean : (k,)    statistics of the k target columns
    level : float            noise level of the fit

    Returns
    -------
    LinearFamilyFit with coef (m, p, k) and intercept (m, k).
    """

    eg = eigen.with_targets(centered.with_y(sxy, syy, y_mean))
    return fit_family(eg, alphas, include_ols=include_ols, noise_level=level)
