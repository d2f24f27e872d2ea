"""A LightGBM Dataset built from whole row blocks of a Dask array (no per-row reads).

LightGBM's `lightgbm.Sequence` path reads the bin sample one row at a time, stacks the rows in
Python and pushes rows in a second pass; here the sample rows are taken block by block in one
pass (the same rows LightGBM's ``LGBM_SampleIndices`` picks, so the same bin boundaries), and
the binned rows are pushed one whole block at a time while the next block is read in a
background thread. The Booster trained on it equals the `lightgbm.Sequence` path's
(tests/test_lgbm_blocks.py). Memory: the sample as float64 (8 bytes per value, columns shared
without copies when they hold no zero) plus two row blocks, within the plan's
``SAMPLE_BYTES`` per sample value.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import lightgbm
import numpy as np

__all__ = ["block_rows", "build_dataset", "dataset_cache_key", "cached_dataset"]

log = logging.getLogger("daudit")
_FORMAT = 1  # of the cached binary Dataset's key
_ZERO = 1e-35  # LightGBM's ZERO_THRESHOLD: sample values at or below it (in size) are left out


def block_rows(x, chunks) -> tuple[list, np.ndarray]:
    """For the row chunks ``chunks`` of dask ``x``: their sizes and the global row indices (n,) they cover."""
    off = np.concatenate([[0], np.cumsum(x.chunks[0])])
    sizes = [int(x.chunks[0][c]) for c in chunks]
    rows = np.concatenate([np.arange(off[c], off[c] + s) for c, s in zip(chunks, sizes)])
    return sizes, rows


def _blocks(x, chunks, transform, wanted=None):
    """Yield (j, block) for the chunks (all, or those with ``wanted[j]``), reading one ahead in a thread."""
    def read(j):
        b = np.asarray(x.blocks[int(chunks[j])].compute(scheduler="synchronous"))
        return transform(b) if transform is not None else b

    todo = [j for j in range(len(chunks)) if wanted is None or wanted[j]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(read, todo[0]) if todo else None
        for k, j in enumerate(todo):
            block = nxt.result()
            nxt = pool.submit(read, todo[k + 1]) if k + 1 < len(todo) else None
            yield j, block
            del block


def _sample_columns(sample: np.ndarray) -> tuple[list, list]:
    """LightGBM's per-column sample (values above `_ZERO` or NaN, float64) and their row indices (int32)."""
    keep = (np.abs(sample) > _ZERO) | np.isnan(sample)
    full = keep.all(axis=0)
    every = np.arange(sample.shape[0], dtype=np.int32)
    values, index = [], []
    for k in range(sample.shape[1]):
        col = sample[:, k]  # contiguous: the sample is Fortran-ordered
        if full[k]:
            values.append(col)
            index.append(every)
        else:
            values.append(np.ascontiguousarray(col[keep[:, k]]))
            index.append(every[keep[:, k]])
    return values, index


def build_dataset(x, y: np.ndarray, chunks, ds_params: dict, *, transform=None) -> lightgbm.Dataset:
    """A constructed `lightgbm.Dataset` of the row chunks ``chunks`` of dask ``x`` (n, p), labels ``y[rows]``.

    ``ds_params``: LightGBM Dataset parameters (``bin_construct_sample_cnt``, ``seed``, ...).
    ``transform``: applied to each block as read (float32 in, float32 out).
    """
    sizes, rows = block_rows(x, chunks)
    n, p = int(sum(sizes)), int(x.shape[1])
    local = np.concatenate([[0], np.cumsum(sizes)])
    ds = lightgbm.Dataset(None, params=dict(ds_params), free_raw_data=True)
    pick = np.sort(ds._create_sample_indices(total_nrow=n))  # the rows LightGBM's own sampling takes
    owner = np.searchsorted(local, pick, side="right") - 1
    sample = np.empty((len(pick), p), dtype=np.float64, order="F")
    at = np.searchsorted(owner, np.arange(len(sizes) + 1))
    for j, block in _blocks(x, chunks, transform, wanted=at[1:] > at[:-1]):
        sample[at[j]:at[j + 1]] = block[pick[at[j]:at[j + 1]] - local[j]]
    values, index = _sample_columns(sample)
    ds._init_from_sample(values, index, len(pick), n)
    del values, index, sample
    for _, block in _blocks(x, chunks, transform):
        ds._push_rows(np.ascontiguousarray(block, dtype=np.float32))
    ds.set_label(np.asarray(y, dtype=np.float64)[rows])
    return ds


def dataset_cache_key(rows_key: dict, chunks, ds_params: dict) -> dict:
    """The key of a cached binary Dataset: ``rows_key`` (what the rows and labels are read from and
    how they are transformed, e.g. `daudit.data.splits.stats_cache_key`), the chunks used, the
    Dataset parameters and the LightGBM version (its binary format)."""
    return {**rows_key, "name": "lgbm-dataset", "chunks": [int(c) for c in chunks],
            "dataset_params": {k: ds_params[k] for k in sorted(ds_params)}, "lightgbm": lightgbm.__version__,
            "lgbm_dataset_format": _FORMAT}


def cached_dataset(cache, key: dict, x, y: np.ndarray, chunks, ds_params: dict, *, transform=None):
    """`build_dataset`, read from / saved to ``cache`` (`daudit.data.cache.FileCache`) under ``key``.

    Returns (Dataset, hit). A hit is used only when its file passed the cache's checks and the
    loaded Dataset has the rows, features and labels of this fit; otherwise it is rebuilt.
    """
    _, rows = block_rows(x, chunks)
    labels = np.asarray(y, dtype=np.float64)[rows]
    with cache.checked_copy(key) as path:
        if path is not None:
            ds = None
            try:
                ds = lightgbm.Dataset(str(path), params=dict(ds_params), free_raw_data=True).construct()
                same = (ds.num_data() == len(rows) and ds.num_feature() == x.shape[1]
                        and np.array_equal(ds.get_label(), labels.astype(np.float32)))
            except lightgbm.basic.LightGBMError:
                same = False
            if same:
                log.info("LightGBM: binary Dataset read from the cache (%s)", cache.entry(key).name)
                return ds, True
            del ds  # its binned rows are not held while the new Dataset is built
            log.warning("LightGBM: cached Dataset %s does not match this fit: rebuilding", cache.entry(key))
    if path is not None:
        cache.discard(key)  # refused: a new entry replaces it
    ds = build_dataset(x, y, chunks, ds_params, transform=transform)
    cache.save(key, lambda p: ds.save_binary(str(p)))
    return ds, False
