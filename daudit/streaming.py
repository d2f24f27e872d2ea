"""The one place where Dask wires per-chunk numpy functions into passes over the data.

A pass maps each row chunk (all pixels) through a numpy function and tree-reduces the partial
results in a fixed order, so the numbers do not depend on the scheduler or the worker count.
"""

from __future__ import annotations

import numpy as np

from daudit.stats import GramStats, chunk_stats, combine_stats

__all__ = ["row_offsets", "first_block_shift", "gram_graph", "predict_graph", "tree_reduce"]


def row_offsets(x) -> np.ndarray:
    """Start offsets of the row chunks of a Dask array, plus the end: shape (n_chunks + 1,)."""
    return np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(np.int64)


def first_block_shift(x) -> np.ndarray:
    """Column means of the first row chunk, float64 (p,): the shift the statistics are taken about."""
    return np.asarray(x.blocks[0].compute(scheduler="synchronous"), dtype=np.float64).mean(axis=0)


def tree_reduce(parts, combine, split_every: int = 4):
    """Fixed-order tree of ``dask.delayed(combine)`` over a list of delayed parts."""
    from dask import delayed

    comb = delayed(combine, pure=True)
    while len(parts) > 1:
        nxt = []
        for i in range(0, len(parts), split_every):
            group = parts[i:i + split_every]
            acc = group[0]
            for g in group[1:]:
                acc = comb(acc, g)
            nxt.append(acc)
        parts = nxt
    return parts[0]


def _block_stats(block, y, x_shift, y_shift, transform):
    if transform is not None:
        block = transform(block)
    return chunk_stats(block, y, x_shift=x_shift, y_shift=y_shift)


def gram_graph(x, y: np.ndarray, *, x_shift: np.ndarray, y_shift: np.ndarray, transform=None):
    """Delayed `GramStats` of ``x`` (dask, (n, p)) against ``y`` (numpy, (n,) or (n, k)).

    ``transform`` (optional) is a numpy function applied to every row chunk first (e.g. a
    wavelength shuffle); it receives the float32 block and returns an (rows, p') block.
    """
    from dask import delayed

    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    off = row_offsets(x)
    blocks = x.to_delayed().ravel()
    part = delayed(_block_stats, pure=True)
    xs, ys = delayed(np.asarray(x_shift, dtype=np.float64)), delayed(np.asarray(y_shift, dtype=np.float64))
    parts = [part(b, y[off[i]:off[i + 1]], xs, ys, transform) for i, b in enumerate(blocks)]
    return tree_reduce(parts, combine_stats)


def _predict_block(block, coef, intercept):
    return np.asarray(block, dtype=np.float64) @ coef + intercept


def predict_graph(x, coef: np.ndarray, intercept: np.ndarray):
    """Lazy predictions of many linear models at once: ``x @ coef + intercept``.

    x : dask array (n, p); coef : (p, m); intercept : (m,). Returns a dask array (n, m).
    """
    from dask import delayed

    coef = np.ascontiguousarray(coef, dtype=np.float64)
    c, b = delayed(coef), delayed(np.asarray(intercept, dtype=np.float64))
    return x.map_blocks(_predict_block, c, b, dtype=np.float64,
                        chunks=(x.chunks[0], (coef.shape[1],)), meta=np.empty((0, 0)))
