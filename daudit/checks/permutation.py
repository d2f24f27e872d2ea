"""Label permutations, within-group shuffles and permutation p-values (pure numpy).

The null follows scikit-learn's ``permutation_test_score``: refit the same estimator on
permuted train labels, score it on the untouched validation set, and report

    p = (C + 1) / (n_permutations + 1),   C = #{permutations with score >= observed score}.

For the linear family the permuted labels are extra target columns: one pass adds their
``X^T Y_perm`` to the train statistics and every permuted fit reuses the eigendecomposition of
the real ``X^T X`` (`solve_many`), so the null costs no extra decomposition. Those permutations
are keyed pseudo-random permutations (`PermutationKeys`): each row chunk computes its own rows'
permuted labels from the keys, so no (n, K) matrix of labels is stored or sent to the workers
(200 permutations of 1M labels would be 0.8 GB).
"""

from __future__ import annotations

import numpy as np

from daudit.models.linear import fit_family

__all__ = [
    "label_permutations", "group_codes", "permute_within_groups", "p_value", "solve_many", "PermutationKeys",
]


def label_permutations(y: np.ndarray, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """``n_permutations`` independent permutations of ``y`` (n,) as columns: (n, n_permutations)."""
    y = np.asarray(y, dtype=np.float64)
    return np.column_stack([y[rng.permutation(len(y))] for _ in range(n_permutations)]) if n_permutations \
        else np.empty((len(y), 0))


def _mix(v: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective 64-bit hash (numpy uint64 wraps on overflow)."""
    v = v ^ (v >> np.uint64(30))
    v = v * np.uint64(0xBF58476D1CE4E5B9)
    v = v ^ (v >> np.uint64(27))
    v = v * np.uint64(0x94D049BB133111EB)
    return v ^ (v >> np.uint64(31))


class PermutationKeys:
    """K pseudo-random permutations of ``range(n)``, each computable for any rows on its own.

    A permutation is a Feistel network of ``ROUNDS`` rounds on ``bits`` = bit length of n - 1
    (split into halves of ``bits // 2`` and the rest; the round function `_mix` is keyed per
    permutation and round), restricted to ``range(n)`` by cycle walking (re-apply until the
    value is below n; the domain is under 2 n, so under two steps on average). Feistel networks
    with independent pseudo-random round functions are pseudo-random permutations (Luby-Rackoff),
    which is what a permutation null needs; `tests/test_checks.py` checks that every one is a
    bijection and that positions spread uniformly.

    Parameters
    ----------
    n : int                              size of the permuted range (train rows)
    keys : ndarray (K, ROUNDS) uint64    round keys, drawn by `draw`
    """

    ROUNDS = 6

    def __init__(self, n: int, keys: np.ndarray):
        self.n = int(n)
        self.keys = np.asarray(keys, dtype=np.uint64).reshape(-1, self.ROUNDS)
        bits = max(1, (self.n - 1).bit_length())
        self.widths = (bits // 2, bits - bits // 2)  # (left, right) bits

    @classmethod
    def draw(cls, n: int, k: int, rng: np.random.Generator) -> "PermutationKeys":
        """``k`` permutations of ``range(n)`` with round keys from ``rng``."""
        return cls(n, rng.integers(0, 2**63, size=(int(k), cls.ROUNDS), dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.keys)

    def _once(self, v: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """One pass of the network on values ``v`` < 2^bits, each with its round keys ``keys``
        (v.shape + (ROUNDS,)). The halves swap widths every round; ROUNDS is even."""
        a, b = self.widths
        left, right = v >> np.uint64(b), v & np.uint64((1 << b) - 1)
        for r in range(self.ROUNDS):
            f = _mix(right ^ keys[..., r]) & np.uint64((1 << a) - 1)
            left, right = right, left ^ f
            a, b = b, a
        return (left << np.uint64(b)) | right

    def indices(self, rows: np.ndarray) -> np.ndarray:
        """Permuted positions of ``rows`` (m,) under every permutation: int64 (m, K), in ``range(n)``."""
        v = np.repeat(np.asarray(rows, dtype=np.uint64)[:, None], len(self), axis=1)
        v = self._once(v, self.keys[None, :, :])
        out = np.nonzero(v >= np.uint64(self.n))
        while out[0].size:  # cycle walking, on the values still outside only; ends: each map is a bijection
            v[out] = self._once(v[out], self.keys[out[1]])
            out = tuple(a[v[out] >= np.uint64(self.n)] for a in out)
        return v.astype(np.int64)

    def labels(self, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Permuted labels of ``rows``: ``y[perm_j(row)]``, float64 (m, K)."""
        return np.asarray(y, dtype=np.float64)[self.indices(rows)]


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
