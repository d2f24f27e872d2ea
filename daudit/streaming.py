"""The one place where Dask wires per-chunk numpy functions into passes over the data.

A pass maps each row chunk (all pixels) through a numpy function and tree-reduces the partial
results in a fixed order, so the numbers do not depend on the scheduler or the worker count.
"""

from __future__ import annotations

import numpy as np

from daudit.stats import chunk_stats, combine_stats

__all__ = ["row_offsets", "first_block_shift", "gram_graph", "predict_graph", "tree_reduce"]


def row_offsets(x) -> np.ndarray:
    """Start offsets of the row chunks of a Dask array, plus the end: shape (n_chunks + 1,)."""
    return np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(np.int64)


def first_block_shift(x) -> np.ndarray:
    """Column means of the first row chunk, float64 (p,): the shift the statistics are taken about."""
    return np.asarray(x.blocks[0].compute(scheduler="synchronous"), dtype=np.float64).mean(axis=0)


def tree_reduce(parts, combine, lanes: int = 2):
    """Fold delayed per-chunk ``parts`` with ``dask.delayed(combine)`` in a fixed order.

    The chunks are cut into ``lanes`` contiguous runs; each run is a sequential fold, and the
    runs are combined in order at the end (``combine(a, b)`` always has ``a``'s rows first). Compared with a wide tree this holds only one accumulator per lane,
    which matters when a partial result is a 4096 x 4096 float64 Gram matrix (134 MB): a tree
    with four inputs per node held five of them per thread. The order never depends on the
    scheduler or the number of workers, so neither do the numbers.
    """
    from dask import delayed

    comb = delayed(combine, pure=True)
    lanes = max(1, min(int(lanes), len(parts)))
    bounds = np.linspace(0, len(parts), lanes + 1).round().astype(int)
    accs = []
    for j in range(lanes):
        # contiguous runs of chunks, so a combine that concatenates rows keeps their order
        run = parts[bounds[j]:bounds[j + 1]]
        acc = run[0]
        for part in run[1:]:
            acc = comb(acc, part)
        accs.append(acc)
    while len(accs) > 1:
        accs = [comb(accs[i], accs[i + 1]) if i + 1 < len(accs) else accs[i] for i in range(0, len(accs), 2)]
    return accs[0]


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
