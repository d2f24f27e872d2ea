"""LightGBM on streamed row chunks: a memory plan, the fit, and the `lightgbm.Sequence` reference path.

The fit's Dataset is built in two reads of whole row blocks (`daudit.models.lgbm_blocks`): the
bin-boundary sample (all rows when ``n <= bin_construct_sample_cnt``), then the binned rows; the
same Dataset as LightGBM's `lightgbm.Sequence` path over `DaskRowSequence`, which is kept as the
reference (tests/test_lgbm_blocks.py). Measured on 4096-pixel spectra
(bench/RESULTS.md, "LightGBM memory model"), the fit's peak above the process's resting RSS is
about 1.0 byte per binned value and about 15 bytes per value of the bin sample (float64 values
plus indices, held while binning). LightGBM's histogram cache is unbounded by default (about
270 MB here); `histogram_pool_mb` caps it at eight histograms, which leaves the trees
unchanged (a cache, not a parameter of the model). So the plan budgets

    bytes ~ 1.2 n_rows p  +  18 n_sample p  +  8 * 255 * 16 p

`plan_lightgbm` keeps every train row when that fits the budget, first by lowering
``bin_construct_sample_cnt`` (bin boundaries from fewer rows), then by training on a seeded
subsample of whole chunks. LightGBM is invariant to positive scaling of its inputs, so one fit
serves every noise level L > 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import weakref
from dataclasses import dataclass

import lightgbm
import numpy as np

from daudit.engine.memory import release_memory
from daudit.models.lgbm_blocks import build_dataset, cached_dataset, dataset_cache_key

__all__ = ["LightGBMPlan", "plan_lightgbm", "histogram_pool_mb", "histogram_bytes", "lightgbm_bytes", "BINNED_BYTES",
           "SAMPLE_BYTES", "DaskRowSequence", "dataset_params", "fit_lightgbm", "lightgbm_params",
           "lightgbm_log_to_debug"]

log = logging.getLogger("daudit")


class _ToDebugLog:
    """LightGBM's own messages (``[LightGBM] [Warning] ...``) as DEBUG lines of daudit's log."""

    @staticmethod
    def _log(msg) -> None:
        text = str(msg).strip()
        if text:
            log.debug("lightgbm: %s", text)

    def info(self, msg) -> None:
        self._log(msg)

    def warning(self, msg) -> None:
        self._log(msg)


@contextlib.contextmanager
def lightgbm_log_to_debug():
    """While the block runs, LightGBM's messages go to the run log at DEBUG instead of the terminal.

    LightGBM has one process-wide logger; the previous one is put back afterwards (a notebook's
    own LightGBM keeps printing as before).
    """
    basic = lightgbm.basic
    saved = tuple(getattr(basic, name, None) for name in ("_LOGGER", "_INFO_METHOD_NAME", "_WARNING_METHOD_NAME"))
    lightgbm.register_logger(_ToDebugLog())
    try:
        yield
    finally:
        if saved[0] is not None:
            lightgbm.register_logger(*saved)

_DEFAULT_SAMPLE = 200_000  # LightGBM's default bin_construct_sample_cnt
_MIN_SAMPLE = 10_000  # bin boundaries of 255 bins are stable from this many rows


BINNED_BYTES = 1.2  # bytes per binned value of a LightGBM Dataset (the module docstring)
SAMPLE_BYTES = 18.0  # bytes per value of the bin sample, held while binning


def histogram_bytes(n_features: int, max_bin: int = 255) -> int:
    """Bytes of eight cached histograms of ``max_bin`` bins x (gradient, hessian) per feature."""
    return 8 * int(max_bin) * 16 * int(n_features)


def histogram_pool_mb(n_features: int, max_bin: int = 255, *, floor_mb: int = 16) -> int:
    """LightGBM's ``histogram_pool_size`` (MB) for ``n_features``: room for eight histograms."""
    return max(floor_mb, -(-histogram_bytes(n_features, max_bin) // 2**20))


def lightgbm_bytes(n_rows: int, n_sample: int, p: int) -> int:
    """Peak bytes of one fit above resting RSS: binned rows, bin sample, histogram pool."""
    return int(BINNED_BYTES * n_rows * p + SAMPLE_BYTES * n_sample * p + histogram_bytes(p))


@dataclass(frozen=True)
class LightGBMPlan:
    chunks: tuple  # indices of the row chunks used, ascending
    n_rows_used: int
    n_rows: int
    bin_construct_sample_cnt: int
    estimated_bytes: int
    budget_bytes: int
    reason: str

    @property
    def subsampled(self) -> bool:
        return self.n_rows_used < self.n_rows


def plan_lightgbm(chunk_sizes, n_features: int, budget_bytes: int, *, rng: np.random.Generator) -> LightGBMPlan:
    """Choose the train rows and bin sample LightGBM can hold within ``budget_bytes``."""
    chunk_sizes = [int(c) for c in chunk_sizes]
    n = sum(chunk_sizes)
    p = n_features
    s = min(n, _DEFAULT_SAMPLE)
    est = lightgbm_bytes(n, s, p)
    if est <= budget_bytes:
        return LightGBMPlan(tuple(range(len(chunk_sizes))), n, n, _DEFAULT_SAMPLE, est, budget_bytes,
                            "all train rows fit the memory budget with LightGBM's default binning sample")
    s_fit = min(int((budget_bytes - BINNED_BYTES * n * p - histogram_bytes(p)) / (SAMPLE_BYTES * p)), n)
    if s_fit >= min(n, _MIN_SAMPLE):
        return LightGBMPlan(tuple(range(len(chunk_sizes))), n, n, s_fit, lightgbm_bytes(n, s_fit, p), budget_bytes,
                            f"all train rows used; bin boundaries from {s_fit} sampled rows instead of "
                            f"{min(n, _DEFAULT_SAMPLE)} to fit the memory budget")
    # Subsample whole chunks: half the budget for the bin sample (at most _MIN_SAMPLE rows),
    # the rest for the binned rows.
    free = max(budget_bytes - histogram_bytes(p), 0)
    s = max(1000, min(_MIN_SAMPLE, int(0.5 * free / (SAMPLE_BYTES * p))))
    n_fit = max(int((free - SAMPLE_BYTES * s * p) / (BINNED_BYTES * p)), min(chunk_sizes))
    if n_fit >= n:
        return LightGBMPlan(tuple(range(len(chunk_sizes))), n, n, s, lightgbm_bytes(n, s, p), budget_bytes,
                            f"all train rows used; bin boundaries from {s} sampled rows instead of "
                            f"{min(n, _DEFAULT_SAMPLE)} to fit the memory budget")
    chosen, total = [], 0
    for i in rng.permutation(len(chunk_sizes)):
        if total + chunk_sizes[i] > n_fit and chosen:
            continue
        chosen.append(int(i))
        total += chunk_sizes[i]
    chosen = tuple(sorted(chosen))
    s = min(s, total)
    return LightGBMPlan(chosen, total, n, s, lightgbm_bytes(total, s, p), budget_bytes,
                        f"the memory budget ({budget_bytes / 2**30:.2f} GiB) holds about {n_fit} of "
                        f"{n} rows: trained on a seeded subsample of {len(chosen)} whole chunks "
                        f"({total} rows), bin boundaries from {s} rows")


class DaskRowSequence:
    """Rows of selected chunks of a Dask array, as LightGBM's `Sequence` protocol wants.

    Only ``__getitem__``, ``__len__`` and ``batch_size`` are provided. Single-row reads (the
    bin sample, asked in ascending order) are served from a one-chunk cache. Trusted, not
    checked: ``x`` has row chunks only (all columns in one chunk).
    """

    def __init__(self, x, chunks, *, transform=None):
        self._x, self._transform = x, transform
        off = np.concatenate([[0], np.cumsum(x.chunks[0])])
        self._chunks = [int(c) for c in chunks]
        self._starts = off[self._chunks]
        sizes = np.array([x.chunks[0][c] for c in self._chunks])
        self._local = np.concatenate([[0], np.cumsum(sizes)])
        self.batch_size = int(sizes.max())
        self._cache_id, self._cache = None, None

    def __len__(self) -> int:
        return int(self._local[-1])

    def _block(self, j: int) -> np.ndarray:
        if self._cache_id != j:
            b = np.asarray(self._x.blocks[self._chunks[j]].compute(scheduler="synchronous"))
            self._cache = self._transform(b) if self._transform is not None else b
            self._cache_id = j
        return self._cache

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            i = int(idx) % len(self)
            j = int(np.searchsorted(self._local, i, side="right") - 1)
            # LightGBM's bin sample must be float64
            return self._block(j)[i - self._local[j]].astype(np.float64)
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            if step != 1:
                raise IndexError("DaskRowSequence supports contiguous slices only")
            out, i = [], start
            while i < stop:
                j = int(np.searchsorted(self._local, i, side="right") - 1)
                lo, hi = i - self._local[j], min(stop, self._local[j + 1]) - self._local[j]
                out.append(self._block(j)[lo:hi])
                i = self._local[j] + hi
            return np.concatenate(out) if len(out) > 1 else out[0]
        raise TypeError(f"unsupported index type {type(idx).__name__}")

    def rows(self) -> np.ndarray:
        """Global row indices covered, ascending (n,)."""
        return np.concatenate([np.arange(s, s + self._x.chunks[0][c]) for s, c in zip(self._starts, self._chunks)])


def lightgbm_params(spec_lgbm, *, seed: int, n_threads: int = 0) -> dict:
    """The spec's three parameters; everything else at LightGBM's defaults."""
    return {
        "objective": "regression",
        "n_estimators": int(spec_lgbm.n_estimators),
        "max_depth": int(spec_lgbm.max_depth),
        "learning_rate": float(spec_lgbm.learning_rate),
        "random_state": int(seed),
        "n_jobs": int(n_threads) if n_threads else -1,
        "verbose": -1,
    }


def dataset_params(plan: LightGBMPlan, params: dict) -> dict:
    """LightGBM Dataset parameters of a fit: the plan's bin sample size and the seed that picks it."""
    return {"bin_construct_sample_cnt": int(plan.bin_construct_sample_cnt), "verbose": -1,
            "seed": params.get("random_state", 0)}


def fit_lightgbm(x, y: np.ndarray, plan: LightGBMPlan, params: dict, *, transform=None, progress=None,
                 cache=None, rows_key: dict | None = None):
    """Fit a LightGBM regressor on the plan's chunks of ``x`` (dask (n, p)) and labels ``y`` (n,).

    The Dataset is built from whole row blocks (`daudit.models.lgbm_blocks.build_dataset`): the
    same bin sample and binned rows as LightGBM's `lightgbm.Sequence` path over `DaskRowSequence`.
    With ``cache`` (`daudit.data.cache.FileCache`) and ``rows_key`` (what identifies the rows,
    labels and transform), the binary Dataset is read from or saved to the cache.

    Returns the fitted ``lightgbm.Booster``.
    """
    lgb = lightgbm
    ds_params = dataset_params(plan, params)
    if cache is not None and rows_key is not None:
        key = dataset_cache_key(rows_key, plan.chunks, ds_params)
        ds, _ = cached_dataset(cache, key, x, y, plan.chunks, ds_params, transform=transform)
    else:
        ds = build_dataset(x, y, plan.chunks, ds_params, transform=transform)
    train_params = {
        "objective": params["objective"], "max_depth": params["max_depth"],
        "learning_rate": params["learning_rate"], "seed": params["random_state"],
        "num_threads": 0 if params["n_jobs"] == -1 else params["n_jobs"], "verbose": -1,
        "bin_construct_sample_cnt": int(plan.bin_construct_sample_cnt),
        "histogram_pool_size": histogram_pool_mb(x.shape[1]),
    }
    callbacks = [] if progress is None else [lambda env: progress.update(1)]
    booster = lgb.train(train_params, ds, num_boost_round=params["n_estimators"], callbacks=callbacks)
    booster.free_dataset()  # the binned train set (n x p bytes) is not needed for prediction
    del ds
    release_memory()
    return booster


_SHARED = weakref.WeakValueDictionary()  # model digest -> Booster, in this process


class SharedBooster:
    """A `lightgbm.Booster` to hand to Dask tasks inside ``functools.partial``.

    Pickles as (digest, model text) and is rebuilt at most once per process while any copy is
    alive; in the process that trained it, it is the trained Booster itself. Passed this way
    (not as a graph key) a prediction pass over the demo data peaked far lower (bench/RESULTS.md).
    """

    def __init__(self, booster, digest: str | None = None):
        self.booster = booster
        if digest is None:

            digest = hashlib.sha1(booster.model_to_string().encode()).hexdigest()
        self.digest = digest
        _SHARED.setdefault(digest, booster)

    def __reduce__(self):
        return _shared_booster, (self.digest, self.booster.model_to_string())

    def predict(self, *args, **kwargs):
        return self.booster.predict(*args, **kwargs)


def _shared_booster(digest: str, model: str) -> SharedBooster:
    booster = _SHARED.get(digest)
    if booster is None:
        booster = lightgbm.Booster(model_str=model)
        _SHARED[digest] = booster
    return SharedBooster(booster, digest)


def predict_block_lgbm(block, booster, transform=None):
    """Predictions (rows, 1) of a Booster for one row chunk (used inside Dask passes)."""
    b = np.asarray(block)
    if transform is not None:
        b = transform(b)
    return booster.predict(b, num_threads=1)[:, None]
