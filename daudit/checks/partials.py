"""The checks' records of sums (mask Gram, cross statistics) and the eval pass's chunk function.

`MaskGram` and `CrossStats` are what the train pass (`daudit.checks.train_chunk`) leaves for the
mask-only fit and the permutation null; `eval_chunk` maps one val/test chunk to the predictions
of every check model (and, on test, the residual sums of squares of every permuted linear model).
Pure numpy, no Dask.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from daudit.checks.transforms import aggregate_features, bad_pixels, shuffle_chunk

__all__ = [
    "MaskGram", "CrossStats", "EvalPlan", "eval_chunk",
]


# ---------------------------------------------------------------- mask Gram (sparse in columns)
@dataclass
class MaskGram:
    """Raw sums of a binary mask over the columns that were ever nonzero.

    cols (c,) pixel indices ascending; n rows; sum_x (c,); xtx (c, c); xty (c,) against
    ``y - y_shift``. Columns never masked are constant 0 and carry no information.
    """

    n: int
    cols: np.ndarray
    sum_x: np.ndarray
    xtx: np.ndarray
    xty: np.ndarray

    def centered(self, y_sum: float, y_shift: float):
        """Centred ``S_xx`` (c, c), ``S_xy`` (c,) and column means (c,)."""
        mx = self.sum_x / self.n
        dy = y_sum / self.n
        sxx = self.xtx - self.n * np.outer(mx, mx)
        sxy = self.xty - self.n * mx * dy
        return 0.5 * (sxx + sxx.T), sxy, mx


# ---------------------------------------------------------------- X^T Y for many targets
@dataclass
class CrossStats:
    """Sums for ``S_xy`` of many targets against an input whose ``S_xx`` is known already.

    x_shift (p,), y_shift (k,); sum_x (p,), sum_y (k,), xty (p, k), yty (k,), about the shifts.
    """

    n: int
    x_shift: np.ndarray
    y_shift: np.ndarray
    sum_x: np.ndarray
    sum_y: np.ndarray
    xty: np.ndarray
    yty: np.ndarray

    def centered(self):
        """(S_xy (p, k), S_yy (k,), y_mean (k,))."""
        dx, dy = self.sum_x / self.n, self.sum_y / self.n
        sxy = self.xty - self.n * np.outer(dx, dy)
        syy = np.maximum(self.yty - self.n * dy * dy, 0.0)
        return sxy, syy, self.y_shift + dy


class Clock:
    """Adds the wall time of a ``with`` block to ``store[name]``."""

    def __init__(self, store: dict):
        self.store = store

    def __call__(self, name: str):

        @contextlib.contextmanager
        def timed():
            t0 = time.perf_counter()
            yield
            self.store[name] = self.store.get(name, 0.0) + time.perf_counter() - t0

        return timed()


# ---------------------------------------------------------------- eval pass
@dataclass(frozen=True)
class EvalPlan:
    """Every check model, grouped by the input it reads; one object shared by all eval chunks.

    For each input kind (``real``: the error; ``shuffled``: the wavelength-shuffled error;
    ``mask``: the mask columns ``mask_cols``) a linear block ``coef`` (p or c, a) and
    ``intercept`` (a,) that already include the noise level, and a list of LightGBM boosters.
    ``perm_coef`` (p, K) and ``perm_intercept`` (K,) are the permuted linear models whose
    residual sums of squares are taken on test only (the split the gate reads).
    """

    seed: int
    level: float
    linear: dict  # kind -> (coef, intercept) or None
    boosters: dict  # kind -> list of lightgbm.Booster
    mask_cols: np.ndarray | None = None
    perm_coef: np.ndarray | None = None
    perm_intercept: np.ndarray | None = None
    aggregates: bool = True


def _mask_input(raw, mask, cols):
    m = bad_pixels(raw, mask)
    return m[:, cols].astype(np.float32)


def eval_chunk(block, raw, mask, y, split: str, chunk_index: int, plan: EvalPlan, *, rows: int = 512) -> dict:
    """Predictions of the check models for one val/test chunk.

    block (rows, p) cleaned error; raw (rows, p) the stored error (its bad values join the mask) or None;
    mask (rows, p) or None; y (rows,) labels (used on test for the permuted models' RSS).
    Returns {'pred': {kind: (rows, a)}, 'lgbm': {kind: (rows, b)}, 'perm_rss': (K,) or None,
    'aggregates': (rows, 10) or None}. The products run over ``rows`` rows at a time (the inputs
    are made for the whole chunk, so the shuffle is the chunk's), keeping temporaries small.
    """
    x = np.asarray(block, dtype=np.float32)
    inputs = {"real": x}
    if plan.linear.get("shuffled") is not None or plan.boosters.get("shuffled"):
        inputs["shuffled"] = shuffle_chunk(x, seed=plan.seed, split=split, chunk_index=chunk_index)
    if plan.mask_cols is not None:
        inputs["mask"] = _mask_input(raw, mask, plan.mask_cols)
    parts = [_eval_rows({k: v[i:i + rows] for k, v in inputs.items()},
                        np.asarray(y, dtype=np.float64)[i:i + rows], split, plan) for i in range(0, x.shape[0], rows)]
    out = {"pred": {}, "lgbm": {}, "perm_rss": None, "aggregates": None, "seconds": {}}
    for key in ("pred", "lgbm"):
        for kind in parts[0][key]:
            out[key][kind] = np.concatenate([q[key][kind] for q in parts])
    if parts[0]["perm_rss"] is not None:
        out["perm_rss"] = np.sum([q["perm_rss"] for q in parts], axis=0)
    if parts[0]["aggregates"] is not None:
        out["aggregates"] = np.concatenate([q["aggregates"] for q in parts])
    for q in parts:
        for k, v in q["seconds"].items():
            out["seconds"][k] = out["seconds"].get(k, 0.0) + v
    return out


def _eval_rows(inputs: dict, y: np.ndarray, split: str, plan: EvalPlan) -> dict:
    """`eval_chunk` on some rows: inputs {kind: (rows, q) float32}, y (rows,)."""
    out = {"pred": {}, "lgbm": {}, "perm_rss": None, "aggregates": None, "seconds": {}}
    clock = Clock(out["seconds"])
    for kind, x in inputs.items():
        lin = plan.linear.get(kind)
        if lin is not None:
            out["pred"][kind] = np.asarray(x, dtype=np.float64) @ lin[0] + lin[1]
        bs = plan.boosters.get(kind) or []
        if bs:
            out["lgbm"][kind] = np.column_stack([b.predict(x, num_threads=1) for b in bs])
    x = inputs["real"]
    if split == "test" and plan.perm_coef is not None:
        with clock("permuted_linear_rss"):
            # float32 product (a null distribution needs no more), residuals in float64
            res = y[:, None] - ((x @ plan.perm_coef).astype(np.float64) + plan.perm_intercept)
            out["perm_rss"] = np.einsum("ij,ij->j", res, res)
    if plan.aggregates:
        out["aggregates"] = aggregate_features(plan.level * x)
    return out
