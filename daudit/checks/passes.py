"""Dask wiring of the checks' passes (the chunk functions live in `train_chunk` and `partials`).

Train pass: `train_chunk.train_chunk` of every row chunk, folded in a fixed order (one
accumulator per lane, `train_chunk.train_merge` joins the lanes, see
`daudit.engine.streaming.fold_graph`); with ``cfg.gram`` the same pass also accumulates the
audit's own statistics, so train is read once for both.
Eval pass: `partials.eval_chunk` of every val/test chunk, computed in this process
(`eval_chunks`), concatenated in row order (`eval_finish`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dask.array as da
import numpy as np
from dask import delayed

from daudit.checks.partials import eval_chunk
from daudit.checks.records import EvalLayout, EvalOutputs
from daudit.checks.train_chunk import train_chunk, train_merge
from daudit.checks.transforms import bad_pixels
from daudit.engine.streaming import fold_graph, row_offsets

__all__ = ["mask_blocks", "train_pass_graph", "eval_chunks", "eval_finish"]


def mask_blocks(split):
    """Mask row blocks (dask arrays) of a split: `bad_pixels` (the file's mask, if any, OR the raw error's
    non-finite and non-positive values)."""
    if split.mask is None:
        m = split.error_raw.map_blocks(bad_pixels, dtype=np.uint8)
    else:
        m = da.map_blocks(bad_pixels, split.error_raw, split.mask.rechunk(split.error_raw.chunks),
                          dtype=np.uint8)
    return [m.blocks[i] for i in range(m.numblocks[0])], "file" if split.mask is not None else "derived"


def train_pass_graph(split, cfg, *, group_y: np.ndarray | None = None, with_mask: bool, lanes: int = 1):
    """Delayed `TrainPartial` of the whole train split (see `daudit.checks.train_chunk`; `daudit.checks.train_pass.train_finish` finishes it).

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
    return fold_graph(train_chunk, args, train_merge, lanes=lanes, into=True)


def _read(block) -> np.ndarray | None:
    return None if block is None else np.asarray(block.compute(scheduler="synchronous"))


def eval_chunks(splits: dict, plan, *, with_mask: bool, threads: int = 2, progress=None) -> list:
    """`eval_chunk` outputs of val then test chunks, as a flat list in row order.

    Computed here rather than as a Dask graph: the plan (every check model, ~25 boosters and the
    permuted coefficients) then never travels as a graph key (it cost 2.4 GiB that way), and at
    most ``threads`` chunks are in memory at once. Val and test are small (10k rows each).
    """

    jobs = []
    for name in ("val", "test"):
        s = splits[name]
        off = row_offsets(s.error)
        for i in range(len(off) - 1):
            mask = s.mask.blocks[i] if with_mask and s.mask is not None else None
            raw = s.error_raw.blocks[i] if with_mask else None
            jobs.append((s.error.blocks[i], raw, mask, s.y[off[i]:off[i + 1]], name, i))

    def one(job):
        block, raw, mask, y, name, i = job
        out = eval_chunk(_read(block), _read(raw), _read(mask), y, name, i, plan)
        if progress is not None:
            progress.update(1)
        return out

    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        return list(pool.map(one, jobs))


def eval_finish(parts: list, n_val_chunks: int, layout: EvalLayout, **facts) -> EvalOutputs:
    """Concatenate the eval chunks' outputs of val then test (in row order) into `EvalOutputs`
    (``facts``: its other fields, e.g. ``need_original`` and ``seconds``)."""
    pred, lgbm, aggregates = {}, {}, {}
    for name, chunk in (("val", parts[:n_val_chunks]), ("test", parts[n_val_chunks:])):
        pred[name] = {kind: np.concatenate([c["pred"][kind] for c in chunk]) for kind in chunk[0]["pred"]}
        lgbm[name] = {kind: np.concatenate([c["lgbm"][kind] for c in chunk]) for kind in chunk[0]["lgbm"]}
        aggregates[name] = (np.concatenate([c["aggregates"] for c in chunk])
                            if chunk[0]["aggregates"] is not None else None)
    rss = [c["perm_rss"] for c in parts[n_val_chunks:] if c["perm_rss"] is not None]
    return EvalOutputs(layout, pred, lgbm, aggregates, np.sum(rss, axis=0) if rss else None, **facts)
