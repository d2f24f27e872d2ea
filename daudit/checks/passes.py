"""Dask wiring of the checks' passes (the chunk functions live in `train_chunk` and `partials`).

Train pass: `train_chunk.train_partial` of every row chunk, folded in a fixed order (one
accumulator per lane, see `daudit.engine.streaming.fold_graph`); with ``cfg.gram`` the same pass
also accumulates the audit's own statistics, so train is read once for both.
Eval pass: one delayed `partials.eval_partial` per val/test chunk, concatenated in row order.
Both are returned as graphs for the caller to run in ONE `daudit.core.progress.compute` call each.
"""

from __future__ import annotations

import numpy as np
from dask import delayed

from daudit.checks.partials import eval_partial
from daudit.checks.records import EvalLayout, EvalOutputs
from daudit.checks.train_chunk import accumulate_train, train_partial
from daudit.checks.transforms import mask_from_error
from daudit.engine.streaming import fold_graph, row_offsets

__all__ = ["mask_blocks", "train_pass_graph", "eval_pass_graphs", "gather_eval"]


def mask_blocks(split):
    """Mask row blocks (dask arrays) of a split: the file's mask, else derived from the raw error."""
    m = split.mask if split.mask is not None else split.error_raw.map_blocks(mask_from_error, dtype=np.uint8)
    return [m.blocks[i] for i in range(m.numblocks[0])], "file" if split.mask is not None else "derived"


def train_pass_graph(split, cfg, *, group_y: np.ndarray | None = None, with_mask: bool, lanes: int = 1):
    """Delayed `TrainPartial` of the whole train split (see `daudit.checks.train_chunk`).

    cfg : `TrainConfig`; group_y : (n, G) within-group shuffled labels or None. The permuted
    labels are computed inside each chunk's task from ``cfg.perm_keys`` and the labels, which
    travel once as one graph key.
    """

    off = row_offsets(split.error)
    n_chunks = len(off) - 1
    masks = mask_blocks(split)[0] if with_mask and cfg.checks else [None] * n_chunks
    c = delayed(cfg, traverse=False)
    y = np.asarray(split.y, dtype=np.float64)
    y_all = delayed(y, traverse=False)
    group = None if group_y is None else np.ascontiguousarray(group_y, dtype=np.float64)
    args = []
    for i in range(n_chunks):
        lo, hi = int(off[i]), int(off[i + 1])
        g = None if group is None else group[lo:hi]
        args.append((split.error.blocks[i], masks[i], y[lo:hi], g, lo, i, c, y_all))
    # one lane per worker (`streaming.fold_lanes`): in one process the chunk's BLAS products use
    # every core already, the next chunks are read meanwhile, and a second accumulator would
    # cost another set of Gram matrices
    return fold_graph(train_partial, args, accumulate_train, lanes=lanes)


def eval_pass_graphs(splits: dict, plan, *, with_mask: bool) -> list:
    """Delayed `eval_partial` outputs of val then test chunks, as a flat list."""

    p = delayed(plan, traverse=False)
    part = delayed(eval_partial, pure=True)
    out = []
    for name in ("val", "test"):
        s = splits[name]
        off = row_offsets(s.error)
        blocks = s.error.to_delayed().ravel()
        if with_mask and s.mask is not None:
            masks, raws = list(s.mask.to_delayed().ravel()), [None] * len(blocks)
        elif with_mask:
            masks, raws = [None] * len(blocks), list(s.error_raw.to_delayed().ravel())
        else:
            masks, raws = [None] * len(blocks), [None] * len(blocks)
        for i, b in enumerate(blocks):
            out.append(part(b, raws[i], masks[i], s.y[off[i]:off[i + 1]], name, i, p))
    return out


def gather_eval(parts: list, n_val_chunks: int, layout: EvalLayout) -> EvalOutputs:
    """Concatenate the eval partials of val then test chunks (in row order) into `EvalOutputs`."""
    pred, lgbm, aggregates = {}, {}, {}
    for name, chunk in (("val", parts[:n_val_chunks]), ("test", parts[n_val_chunks:])):
        pred[name] = {kind: np.concatenate([c["pred"][kind] for c in chunk]) for kind in chunk[0]["pred"]}
        lgbm[name] = {kind: np.concatenate([c["lgbm"][kind] for c in chunk]) for kind in chunk[0]["lgbm"]}
        aggregates[name] = (np.concatenate([c["aggregates"] for c in chunk])
                            if chunk[0]["aggregates"] is not None else None)
    rss = [c["perm_rss"] for c in parts[:n_val_chunks] if c["perm_rss"] is not None]
    return EvalOutputs(layout, pred, lgbm, aggregates, np.sum(rss, axis=0) if rss else None)
