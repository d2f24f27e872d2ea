"""Dask passes of the strategy comparison: the numpy strategy functions mapped over row chunks.

Three passes in all:

1. template pass (train): `GramStats` of the raw error against (log_g, SNR). It is S0's
   sufficient statistics and gives the S2 template (the mean) and the PCA templates (S_xx).
2. fused pass (train): for every other strategy its `GramStats` against (log_g, SNR); the
   small strategies' features and the SNR of every row (for LightGBM); the seeded subsample of
   rows of the wide strategies (S0, S1a, S1b) for their LightGBM fits.
3. prediction pass (val and test): small features and SNR per row, and the wide strategies'
   Ridge and LightGBM predictions (the wide features never leave the workers).

Every chunk task reads one row block of error and flux (cleaned as in `daudit.data.pfsspec`).
The pieces of each pass are named ``<pass>_chunk``, ``<pass>_merge`` and ``<pass>_finish``.
"""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
from dask import delayed

from daudit.core.errors import DauditError
from daudit.data.clean import clean_error
from daudit.data.layout import FLUX_KEY
from daudit.data.pfsspec import H5Rows
from daudit.deleak import strategies as st
from daudit.engine.streaming import tree_reduce
from daudit.models.stats import combine_stats, gram_chunk

__all__ = ["flux_array", "first_blocks", "template_pass", "fused_pass", "prediction_pass",
           "stack_small"]


def flux_array(split, chunk_rows: int):
    """The flux of a split as a dask array with the same rows and chunks as ``split.error``."""

    parts = []
    states = split.file_states or [None] * len(split.rows_per_file)  # as opened: a file changed since stops the run
    for path, take, state in zip(split.paths, split.rows_per_file, states):
        with h5py.File(path, "r") as f:
            if FLUX_KEY not in f or f[FLUX_KEY].shape[1:] != (split.n_pixels,):
                raise DauditError(f"{split.name} split: {path} lacks a flux array {FLUX_KEY} of "
                                  f"{split.n_pixels} pixels; deleak needs the flux for the SNR")
            shape, dtype = f[FLUX_KEY].shape, f[FLUX_KEY].dtype
        arr = da.from_array(H5Rows(path, FLUX_KEY, shape, dtype, state), chunks=(min(chunk_rows, take), shape[1]),
                            asarray=True, fancy=False, meta=np.empty((0, 0), dtype=dtype))
        parts.append(arr[:take])
    flux = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    flux = flux.rechunk(split.error_raw.chunks)
    return flux.map_blocks(clean_error, dtype=np.float32)


def _pairs(split, flux):
    e = split.error.to_delayed().ravel()
    f = flux.to_delayed().ravel()
    off = np.concatenate([[0], np.cumsum(split.error.chunks[0])]).astype(np.int64)
    return list(zip(e, f)), off


def first_blocks(split, flux):
    """(error, flux, y) of the first row chunk, computed here (for the shifts of the passes)."""
    e = np.asarray(split.error.blocks[0].compute(scheduler="synchronous"), np.float64)
    f = np.asarray(flux.blocks[0].compute(scheduler="synchronous"), np.float64)
    return e, f, split.y[: e.shape[0]]


def _targets(e, f, y):
    return np.column_stack([np.asarray(y, np.float64), st.snr(e, f)])


# ------------------------------------------------------------------ pass 1: templates / S0
def _template_chunk(e, f, y, x_shift, y_shift):
    return gram_chunk(e, _targets(e, f, y), x_shift=x_shift, y_shift=y_shift)


def _template_merge(a, b):
    return combine_stats(a, b)


def template_pass(split, flux, *, x_shift, y_shift):
    """Delayed `GramStats` of the train error against (log_g, SNR) (S0's statistics)."""

    pairs, off = _pairs(split, flux)
    fn = delayed(_template_chunk, pure=True)
    xs, ys = delayed(np.asarray(x_shift, np.float64)), delayed(np.asarray(y_shift, np.float64))
    parts = [fn(e, f, split.y[off[i]:off[i + 1]], xs, ys) for i, (e, f) in enumerate(pairs)]
    return tree_reduce(parts, _template_merge)


# ------------------------------------------------------------------ pass 2: fused train pass
def _fused_chunk(e, f, y, strategies, templates, shifts, y_shift, wide_rows):
    feats = st.block_features(strategies, e, f, templates)
    tgt = _targets(e, f, y)
    stats = {s.id: gram_chunk(feats[s.id], tgt, x_shift=shifts[s.id], y_shift=y_shift)
             for s in strategies if s.id != "S0"}
    small = [feats[s.id] for s in strategies if not s.wide]
    wide = {s.id: feats[s.id][wide_rows].astype(np.float32) for s in strategies if s.wide}
    return {"stats": stats, "small": np.hstack(small) if small else np.empty((len(e), 0)),
            "snr": tgt[:, 1], "wide": wide}


def _fused_merge(a, b):
    return {k: combine_stats(a[k], b[k]) for k in a}


def _concat(blocks):
    return np.concatenate(blocks)


def _concat_wide(blocks, ids):
    return {k: np.concatenate([b[k] for b in blocks]) for k in ids}


def fused_pass(split, flux, strategies, templates, *, shifts, y_shift, wide_rows):
    """Delayed (stats by id, small features (n, K), SNR (n,), wide subsample by id).

    wide_rows : sorted global row indices of the LightGBM subsample of the wide strategies.
    """

    pairs, off = _pairs(split, flux)
    fn = delayed(_fused_chunk, pure=True)
    strat, tmpl = delayed(list(strategies)), delayed(templates)
    sh, ys = delayed(dict(shifts)), delayed(np.asarray(y_shift, np.float64))
    parts = []
    for i, (e, f) in enumerate(pairs):
        local = wide_rows[(wide_rows >= off[i]) & (wide_rows < off[i + 1])] - off[i]
        parts.append(fn(e, f, split.y[off[i]:off[i + 1]], strat, tmpl, sh, ys, local))
    others = any(s.id != "S0" for s in strategies)  # S0's statistics come from the template pass
    stats = tree_reduce([p["stats"] for p in parts], _fused_merge) if others else None
    wide_ids = [s.id for s in strategies if s.wide]
    # Gather through per-part getitem tasks, never the parts themselves: a part holds its chunk's
    # Gram matrices, and a task that needs every part would keep all of them in memory.
    return (stats, delayed(_concat)([p["small"] for p in parts]), delayed(_concat)([p["snr"] for p in parts]),
            delayed(_concat_wide)([p["wide"] for p in parts], wide_ids))


# ------------------------------------------------------------------ pass 3: predictions
def _prediction_chunk(e, f, strategies, templates, ridge, boosters, n_check):
    feats = st.block_features(strategies, e, f, templates)
    small = [feats[s.id] for s in strategies if not s.wide]
    preds = {}
    for s in strategies:
        if s.wide:
            x = feats[s.id]
            preds[(s.id, "ridge")] = ridge[s.id].predict(x)
            if boosters.get(s.id):
                preds[(s.id, "lightgbm")] = np.column_stack(
                    [b.predict(x.astype(np.float32), num_threads=1) for b in boosters[s.id]])
    check = {s.id: feats[s.id][:n_check] for s in strategies} if n_check else None
    return {"small": np.hstack(small) if small else np.empty((len(e), 0)),
            "snr": st.snr(e, f), "preds": preds, "check": check}


def _prediction_finish(blocks):
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def prediction_pass(split, flux, strategies, templates, ridge, boosters, *, n_check=0):
    """Delayed (small features (n, K), SNR (n,), wide predictions, check features of first rows).

    ridge : id -> `RidgeFit` of the wide strategies; boosters : id -> [log_g, SNR] Boosters.
    """

    pairs, _ = _pairs(split, flux)
    fn = delayed(_prediction_chunk, pure=True)
    strat, tmpl = delayed(list(strategies)), delayed(templates)
    rg, bs = delayed(dict(ridge)), delayed(dict(boosters))
    parts = [fn(e, f, strat, tmpl, rg, bs, n_check if i == 0 else 0) for i, (e, f) in enumerate(pairs)]
    return (delayed(_concat)([p["small"] for p in parts]), delayed(_concat)([p["snr"] for p in parts]),
            delayed(_prediction_finish)([p["preds"] for p in parts]), parts[0]["check"])


def stack_small(strategies) -> dict:
    """Column slices of each small strategy in the stacked small-feature block: id -> slice."""
    out, col = {}, 0
    for s in strategies:
        if not s.wide:
            out[s.id] = slice(col, col + s.n_features)
            col += s.n_features
    return out
