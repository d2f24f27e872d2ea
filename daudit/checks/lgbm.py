"""LightGBM refits of the sanity checks on in-memory train subsamples (no Dask).

Every refit uses the audit's trees, depth and learning rate with the settings of the checks'
`daudit.checks.lgbm_plan.RefitPlan` (rows, max_bin, feature fraction, bin sample), single-
threaded, so a refit gives the same booster on any machine; `run_jobs` runs several at once.
Datasets are binned one at a time (binning holds the bin sample, the largest transient) and
shared where only the labels differ: the same rows and the group shuffle share one, and the
permutation null bins its rows once and gives each thread a Dataset with the same bin
boundaries (``reference=``), swapping labels between fits (`Dataset.set_label`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np

from daudit.checks.lgbm_plan import RefitPlan
from daudit.engine.memory import release_memory
from daudit.models.boosting import histogram_pool_mb

__all__ = ["train_params", "build_dataset", "fit_on", "run_jobs", "fit_null"]

# LightGBM's native creation calls one at a time: binning (the refits' largest transient), and
# Booster creation, which crashed the process (SIGSEGV in LGBM_BoosterCreate while another thread
# was in LGBM_DatasetCreateFromMat, one CI run in five). The boosting rounds still run at once.
_NATIVE = threading.Lock()


def train_params(params: dict, plan: RefitPlan, *, n_features: int) -> tuple[dict, int]:
    """Booster parameters and number of rounds for an input of ``n_features`` columns: the
    audit's (`daudit.models.boosting.lightgbm_params` output) with the plan's max_bin, feature
    fraction, bin sample and one thread."""
    out = {
        "objective": params["objective"], "max_depth": params["max_depth"],
        "learning_rate": params["learning_rate"], "seed": params["random_state"], "verbose": -1,
        **plan.params(n_features),
        "histogram_pool_size": histogram_pool_mb(n_features, plan.max_bin, floor_mb=4),
    }
    return out, int(params["n_estimators"])


def build_dataset(x: np.ndarray, y: np.ndarray, params: dict, *, reference=None) -> lgb.Dataset:
    """A constructed (binned) Dataset of x (n, q) float32 and labels y (n,); with ``reference``
    its bin boundaries are the reference's (nothing is binned again)."""
    ds_params = {k: params[k] for k in ("max_bin", "bin_construct_sample_cnt", "seed", "verbose")}
    ds = lgb.Dataset(np.ascontiguousarray(x, dtype=np.float32), label=np.asarray(y, dtype=np.float64),
                     params=ds_params, reference=reference, free_raw_data=True)
    with _NATIVE:
        return ds.construct()


def fit_on(ds: lgb.Dataset, params: dict, rounds: int) -> lgb.Booster:
    """One booster on a constructed Dataset (the Dataset stays usable for other labels).

    Booster creation and the final copy of the model hold `_NATIVE`; the rounds between run
    beside other threads' (two callbacks hand the lock back and take it again)."""
    held = [True]
    _NATIVE.acquire()

    def release(env):
        if held[0] and env.iteration == env.begin_iteration:
            held[0] = False
            _NATIVE.release()

    def reacquire(env):
        if not held[0] and env.iteration == env.end_iteration - 1:
            _NATIVE.acquire()
            held[0] = True

    release.before_iteration, release.order, reacquire.order = True, 0, 100
    try:
        return lgb.train(params, ds, num_boost_round=rounds, keep_training_booster=False,
                         callbacks=[release, reacquire]).free_dataset()
    finally:
        if held[0]:
            _NATIVE.release()


def run_jobs(jobs: dict, threads: int, progress=None) -> dict:
    """Run ``{role: callable -> Booster}`` with ``threads`` at once; ``{role: Booster}``."""
    out = {}
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        futures = {role: pool.submit(job) for role, job in jobs.items()}
        for role, fut in futures.items():
            out[role] = fut.result()
            if progress is not None:
                progress.update(1)
    release_memory()
    return out


def fit_null(x: np.ndarray, y: np.ndarray, y_perm: np.ndarray, params: dict, rounds: int, *, threads: int,
             stop_after: int, val_r2, reference=None, progress=None):
    """The label-permutation null with sequential stopping.

    Parameters
    ----------
    x : ndarray (n, q) float32;  y : ndarray (n,);  y_perm : ndarray (n, K) permuted labels
    val_r2 : callable, list of Booster -> held-out R2 of each, on the split the null's p is computed on
    reference : Booster or None  the reference fit on (x, y) when the caller has it already
    stop_after : int  stop once this many permuted fits score at least the reference's R2

    Returns
    -------
    reference : Booster;  permuted : list of L <= K Boosters (in permutation order);
    stopped : bool (True when L < K because of the stopping rule)
    """

    base = build_dataset(x, y, params)
    if reference is None:
        reference = fit_on(base, params, rounds)
        if progress is not None:
            progress.update(1)
    observed = val_r2([reference])[0]
    k, threads = y_perm.shape[1], max(1, min(int(threads), y_perm.shape[1] or 1))
    sets = [base] + [build_dataset(x, y, params, reference=base) for _ in range(threads - 1)]
    boosters, scores = [], []

    def one(j, ds):
        ds.set_label(np.asarray(y_perm[:, j], dtype=np.float64))
        return fit_on(ds, params, rounds)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for lo in range(0, k, threads):
            batch = list(pool.map(one, range(lo, min(lo + threads, k)), sets))
            boosters += batch
            scores += list(val_r2(batch))
            if progress is not None:
                progress.update(len(batch))
            reached = np.cumsum(np.asarray(scores) >= observed)
            if reached[-1] >= stop_after:  # the first L with stop_after exceedances, in permutation order
                n_keep = int(np.argmax(reached >= stop_after)) + 1
                del sets, base
                release_memory()
                return reference, boosters[:n_keep], n_keep < k
    del sets, base
    release_memory()
    return reference, boosters, False
