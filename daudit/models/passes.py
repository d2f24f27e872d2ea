"""The statistics pass: `daudit.models.stats` chunk functions folded over the row chunks.

The numpy work per chunk lives in `daudit.models.stats`; the Dask wiring in
`daudit.engine.streaming.fold_graph` (a fixed fold order, gated reads).
"""

from __future__ import annotations

import numpy as np
from dask import delayed

from daudit.engine.streaming import fold_graph, row_offsets
from daudit.models.stats import gram_chunk, gram_finish, gram_merge

__all__ = ["gram_graph"]


def _transformed_chunk(block, y, x_shift, y_shift, transform):
    if transform is not None:
        block = transform(block)
    return gram_chunk(block, y, x_shift=x_shift, y_shift=y_shift, defer=True)


def gram_graph(x, y: np.ndarray, *, x_shift: np.ndarray, y_shift: np.ndarray, transform=None, lanes: int = 1):
    """Delayed `GramStats` of ``x`` (dask, (n, p)) against ``y`` (numpy, (n,) or (n, k)).

    ``transform`` (optional) is a numpy function applied to every row chunk first (e.g. a
    wavelength shuffle); it receives the float32 block and returns an (rows, p') block.
    """

    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    off = row_offsets(x)
    xs, ys = delayed(np.asarray(x_shift, dtype=np.float64)), delayed(np.asarray(y_shift, dtype=np.float64))
    args = [(x.blocks[i], y[off[i]:off[i + 1]], xs, ys, transform) for i in range(len(off) - 1)]
    # deferred chunks: each chunk's rows go straight into the lane's accumulator (no p x p partial)
    return delayed(gram_finish, pure=True)(fold_graph(_transformed_chunk, args, gram_merge, lanes=lanes))


