"""The one place where Dask wires per-chunk numpy functions into passes over the data.

A pass maps each row chunk (all pixels) through a numpy function and folds the partial results
in an order fixed by the chunks and the lane count (`fold_lanes`), so for the same chunks and
lanes the numbers do not depend on the scheduler or the worker count, to the last bit.
"""

from __future__ import annotations

import functools

import dask.array as da
import numpy as np
from dask import delayed

__all__ = ["row_offsets", "first_block_shift", "predict_block", "gather_graph", "tree_reduce",
           "fold_graph", "fold_lanes", "lanes_for"]


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
    with four inputs per node held five of them per thread. The order depends on ``lanes`` only,
    never on the scheduler or the number of workers.
    """

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


def _fold_step(acc, step, merge, *args):
    part = step(*args)
    return part if acc is None else merge(acc, part)


def _fold_into(acc, step, merge, *args):
    return step(acc, *args)


class _Block:
    """A row block of a Dask array, carried unevaluated into a task (Dask does not look inside)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        return self.array.name


def _read(block: _Block, *gate):
    """Compute one block inside the calling task; ``gate`` only orders the task in the graph."""
    return np.asarray(block.array.compute(scheduler="synchronous"))


def fold_graph(step, chunk_args: list, merge, lanes: int = 1, prefetch: int = 2, into: bool = False):
    """Delayed fold of ``step(*args)`` over the row chunks, in a fixed order.

    ``chunk_args`` holds one tuple of arguments per chunk; an argument that is a Dask array (a
    row block, e.g. ``x.blocks[i]``) is read by its own task, which may start only when the
    fold is at most ``prefetch`` chunks behind, so a slow fold never lets reads pile up in
    memory. Computing a chunk's partial and merging it into the lane's accumulator is one
    task, so partials never wait for their merge: with a 4096 x 4096 float64 Gram matrix per
    partial (134 MB) a pass holds one accumulator and one partial per lane. The chunks are cut
    into ``lanes`` contiguous runs folded side by side and merged in order at the end (the
    result depends on ``lanes``, never on the scheduler or the worker count). ``merge(acc, part)`` may update
    ``acc`` in place and return it: each accumulator is consumed by exactly one later task.
    With ``into``, ``step(acc, *args)`` adds the chunk into ``acc`` itself (None for a lane's first
    chunk) and returns it, so no partial of the chunk ever exists whole; ``merge`` then only
    joins the lanes.
    """

    if not chunk_args:
        raise ValueError("no chunks to fold")
    fold = delayed(_fold_into if into else _fold_step, pure=True)
    read = delayed(_read, pure=True)
    lanes = max(1, min(int(lanes), len(chunk_args)))
    bounds = np.linspace(0, len(chunk_args), lanes + 1).round().astype(int)
    accs = []
    for j in range(lanes):
        history = []
        acc = None
        for args in chunk_args[bounds[j]:bounds[j + 1]]:
            gate = history[-prefetch:][:1] if len(history) >= prefetch else []
            args = [read(_Block(a), *gate) if isinstance(a, da.Array) else a for a in args]
            acc = fold(acc, step, merge, *args)
            history.append(acc)
        accs.append(acc)
    comb = delayed(merge, pure=True)
    while len(accs) > 1:
        accs = [comb(accs[i], accs[i + 1]) if i + 1 < len(accs) else accs[i] for i in range(0, len(accs), 2)]
    return accs[0]


def lanes_for(n_workers: int | None, requested: int | None = None) -> int:
    """The lane count of every fold: ``requested`` (the spec's ``compute.fold_lanes``) when set,
    else one per worker (each worker of a cluster folds its own run of chunks; one lane in a
    single process). Float64 sums taken in different lane counts differ by rounding, so a single
    process matches a cluster's statistics bit for bit only with the cluster's lane count."""
    return max(1, int(requested or n_workers or 1))


def fold_lanes(scheduler: dict | None) -> int:
    """Lanes for a fold on this scheduler (`daudit.engine.cluster.dask_context` info, which holds
    the `lanes_for` of the run)."""
    info = scheduler or {}
    return lanes_for(info.get("n_workers"), info.get("fold_lanes"))


def predict_block(block, coef, intercept):
    """``block @ coef + intercept`` in float64: block (rows, p), coef (p, m), intercept (m,)."""
    return np.asarray(block, dtype=np.float64) @ coef + intercept


def _one(fn, block):
    return [fn(block)]


def _extend(acc: list, part: list) -> list:
    acc.extend(part)
    return acc


def gather_graph(x, fn, *, lanes: int = 1, prefetch: int = 2):
    """Delayed list of ``fn(block)`` for every row chunk of ``x`` (dask (n, p)), in row order.

    Like `fold_graph` (reads gated ``prefetch`` chunks behind the fold, so a slow consumer never
    lets read blocks pile up); each chunk is read once even when ``fn`` computes several things.
    """
    step = functools.partial(_one, fn)
    return fold_graph(step, [(x.blocks[i],) for i in range(x.numblocks[0])], _extend, lanes=lanes, prefetch=prefetch)
