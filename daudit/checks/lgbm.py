"""LightGBM refits of the sanity checks on in-memory train subsamples (no Dask).

The checks refit the audit's LightGBM (same parameters) on at most ``sanity.lightgbm_rows``
train rows, and the label-permutation null on a smaller subsample. The permutation refits share
one binned `lightgbm.Dataset`: bin boundaries do not depend on the labels, so only the labels
are swapped between fits (`Dataset.set_label`), which saves the binning of every refit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["train_params", "fit_dense", "fit_permutations"]


def train_params(params: dict, *, n_rows: int) -> tuple[dict, int]:
    """Booster parameters and number of rounds from `daudit.boosting.lightgbm_params` output."""
    out = {
        "objective": params["objective"], "max_depth": params["max_depth"],
        "learning_rate": params["learning_rate"], "seed": params["random_state"],
        "num_threads": 0 if params.get("n_jobs", -1) == -1 else params["n_jobs"], "verbose": -1,
        "bin_construct_sample_cnt": int(min(n_rows, 200_000)),
    }
    return out, int(params["n_estimators"])


def _dataset(x: np.ndarray, y: np.ndarray, p: dict):
    import lightgbm as lgb

    ds = lgb.Dataset(np.ascontiguousarray(x, dtype=np.float32), label=np.asarray(y, dtype=np.float64),
                     params={"bin_construct_sample_cnt": p["bin_construct_sample_cnt"], "verbose": -1,
                             "seed": p["seed"]},
                     free_raw_data=True)
    return ds.construct()


def fit_dense(x: np.ndarray, y: np.ndarray, params: dict):
    """One LightGBM fit. x (n, q) float32, y (n,). Returns a `lightgbm.Booster`."""
    import lightgbm as lgb

    p, rounds = train_params(params, n_rows=len(y))
    booster = lgb.train(p, _dataset(x, y, p), num_boost_round=rounds)
    return booster.free_dataset()  # keep only the trees: the binned data is not needed to predict


def fit_permutations(x: np.ndarray, y: np.ndarray, y_perm: np.ndarray, params: dict, *, progress=None):
    """The reference fit on true labels and one fit per permuted label column.

    Parameters
    ----------
    x : ndarray (n, q) float32
    y : ndarray (n,)
    y_perm : ndarray (n, k)   permuted labels, one column per permutation
    params : dict             `daudit.boosting.lightgbm_params` output

    Returns
    -------
    reference : lightgbm.Booster
    permuted : list of k lightgbm.Booster
    """
    import lightgbm as lgb

    p, rounds = train_params(params, n_rows=len(y))
    ds = _dataset(x, y, p)
    reference = lgb.train(p, ds, num_boost_round=rounds).free_dataset()
    if progress is not None:
        progress.update(1)
    boosters = []
    for j in range(y_perm.shape[1]):
        ds.set_label(np.asarray(y_perm[:, j], dtype=np.float64))
        boosters.append(lgb.train(p, ds, num_boost_round=rounds).free_dataset())
        if progress is not None:
            progress.update(1)
    del ds
    from daudit.boosting import _release_memory

    _release_memory()
    return reference, boosters
