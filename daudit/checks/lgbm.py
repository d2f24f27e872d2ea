"""LightGBM refits of the sanity checks on in-memory train subsamples (no Dask).

The checks refit the audit's LightGBM (same parameters) on at most ``sanity.lightgbm_rows``
train rows, fewer when `refit_plan` finds the memory budget too small for them, and the
label-permutation null on a smaller subsample. The permutation refits share
one binned `lightgbm.Dataset`: bin boundaries do not depend on the labels, so only the labels
are swapped between fits (`Dataset.set_label`), which saves the binning of every refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from daudit.models.boosting import (
    _HIST,
    _PER_ROW,
    _PER_SAMPLE,
    _release_memory,
    histogram_pool_mb,
)

__all__ = ["RefitPlan", "refit_plan", "train_params", "fit_dense", "fit_permutations"]

_REFIT_SAMPLE = 10_000  # bin boundaries of the refits from at most this many rows (stable for 255 bins)
_MIN_REFIT_ROWS = 2_000
# bytes per value held beside LightGBM's own data during the refits: the kept float32 rows, one
# float32 transformed copy (shuffled, mask or aggregates) and the uint8 mask
_HELD = 9.0


@dataclass(frozen=True)
class RefitPlan:
    rows: int  # train rows kept for the refits
    bin_sample: int  # bin_construct_sample_cnt of every refit
    estimated_bytes: int
    budget_bytes: int
    reason: str


def refit_plan(n_features: int, budget_bytes: int, max_rows: int) -> RefitPlan:
    """Rows and bin sample of the refits so that the kept rows and a LightGBM fit on them fit
    ``budget_bytes`` (see `daudit.models.boosting` for LightGBM's part); at least 2,000 rows."""

    p = int(n_features)
    free = budget_bytes - _HIST * p
    per_row = (_HELD + _PER_ROW) * p

    def est(rows, s):
        return int(per_row * rows + _PER_SAMPLE * s * p + _HIST * p)

    rows = int((free - _PER_SAMPLE * _REFIT_SAMPLE * p) / per_row)
    if rows < _REFIT_SAMPLE:  # then every row is in the bin sample
        rows = int(free / (per_row + _PER_SAMPLE * p))
    rows = max(min(rows, int(max_rows)), min(_MIN_REFIT_ROWS, int(max_rows)))
    s = min(rows, _REFIT_SAMPLE)
    why = ("sanity.lightgbm_rows" if rows == max_rows
           else f"the memory budget ({budget_bytes / 2**30:.2f} GiB)")
    return RefitPlan(rows, s, est(rows, s), int(budget_bytes),
                     f"{rows} train rows (limited by {why}), bin boundaries from {s} rows")


def train_params(params: dict, *, n_rows: int, n_features: int, bin_sample: int | None = None) -> tuple[dict, int]:
    """Booster parameters and number of rounds from `daudit.models.boosting.lightgbm_params` output.

    ``bin_sample``: rows LightGBM samples for bin boundaries (default: all, up to 200,000).
    """

    out = {
        "objective": params["objective"], "max_depth": params["max_depth"],
        "learning_rate": params["learning_rate"], "seed": params["random_state"],
        "num_threads": 0 if params.get("n_jobs", -1) == -1 else params["n_jobs"], "verbose": -1,
        "bin_construct_sample_cnt": int(min(n_rows, bin_sample or 200_000)),
        "histogram_pool_size": histogram_pool_mb(n_features),
    }
    return out, int(params["n_estimators"])


def _dataset(x: np.ndarray, y: np.ndarray, p: dict):
    ds = lgb.Dataset(np.ascontiguousarray(x, dtype=np.float32), label=np.asarray(y, dtype=np.float64),
                     params={"bin_construct_sample_cnt": p["bin_construct_sample_cnt"], "verbose": -1,
                             "seed": p["seed"]},
                     free_raw_data=True)
    return ds.construct()


def fit_dense(x: np.ndarray, y: np.ndarray, params: dict, *, bin_sample: int | None = None):
    """One LightGBM fit. x (n, q) float32, y (n,). Returns a `lightgbm.Booster`."""

    p, rounds = train_params(params, n_rows=len(y), n_features=x.shape[1], bin_sample=bin_sample)
    booster = lgb.train(p, _dataset(x, y, p), num_boost_round=rounds)
    booster.free_dataset()  # keep only the trees: the binned data is not needed to predict
    _release_memory()  # else freed bin samples pile up in the allocator from fit to fit
    return booster


def fit_permutations(x: np.ndarray, y: np.ndarray, y_perm: np.ndarray, params: dict, *, progress=None,
                     bin_sample: int | None = None):
    """The reference fit on true labels and one fit per permuted label column.

    Parameters
    ----------
    x : ndarray (n, q) float32
    y : ndarray (n,)
    y_perm : ndarray (n, k)   permuted labels, one column per permutation
    params : dict             `daudit.models.boosting.lightgbm_params` output

    Returns
    -------
    reference : lightgbm.Booster
    permuted : list of k lightgbm.Booster
    """

    p, rounds = train_params(params, n_rows=len(y), n_features=x.shape[1], bin_sample=bin_sample)
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

    _release_memory()
    return reference, boosters
