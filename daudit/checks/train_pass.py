"""Stage 2 of the checks: the train pass's result (`TrainStats`), finished from its running sums.

The pass itself is shared with the audit (`daudit.checks.passes.train_pass_graph`, chunk and
merge in `daudit.checks.train_chunk`): the pipeline runs it once for both and finishes the
checks' part here (`train_finish`); `train_pass` is the checks-only pass, for a run whose
audit statistics came from the cache.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, fields

import numpy as np

from daudit.checks.partials import CrossStats, MaskGram
from daudit.checks.passes import train_pass_graph
from daudit.checks.train_chunk import TrainConfig, TrainPartial
from daudit.core.progress import compute
from daudit.models.stats import GramStats

__all__ = ["TrainStats", "train_finish", "train_pass"]


@dataclass(frozen=True)
class TrainStats:
    """The checks' train statistics, finished: shuffled `GramStats` (float32 ``xtx``), the mask
    Gram over the pixels ever masked (`MaskGram`, float32 counts), cross statistics, aggregates
    (n, 10), normalised sums (p,); seconds: the chunk work per part, summed over chunks;
    pass_seconds: the pass's wall time (0 when read from the cache). The linear refits spend the
    three Gram records (`daudit.checks.linear_refits`) and hand the rest on without them."""

    n: int
    shuffled: GramStats | None = None
    mask: MaskGram | None = None
    cross: CrossStats | None = None
    aggregates: np.ndarray | None = None
    norm_n: np.ndarray | None = None
    norm_sum: np.ndarray | None = None
    norm_sq: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)
    pass_seconds: float = 0.0

    def to_arrays(self) -> dict:
        """Flat dict of arrays (the statistics cache stores it); `from_arrays` inverts it."""
        out = {"n": np.int64(self.n)}
        for part in ("shuffled", "mask", "cross"):
            rec = getattr(self, part)
            if rec is not None:
                out.update({f"{part}.{f.name}": np.asarray(getattr(rec, f.name)) for f in fields(rec)
                            if getattr(rec, f.name) is not None})
        for name in ("aggregates", "norm_n", "norm_sum", "norm_sq"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "TrainStats":
        kinds = {"shuffled": GramStats, "mask": MaskGram, "cross": CrossStats}
        parts = {}
        for part, kind in kinds.items():
            if f"{part}.n" in arrays:
                vals = {f.name: arrays[f"{part}.{f.name}"] for f in fields(kind) if f"{part}.{f.name}" in arrays}
                vals["n"] = int(vals["n"])
                parts[part] = kind(**vals)
        return cls(n=int(arrays["n"]), **parts,
                   **{name: arrays.get(name) for name in ("aggregates", "norm_n", "norm_sum", "norm_sq")})


def train_finish(tp: TrainPartial, cfg: TrainConfig, *, pass_seconds: float = 0.0) -> TrainStats:
    """The checks' `TrainStats` of a finished pass (the audit's ``gram`` stays in ``tp``, settled;
    the checks' Gram accumulators move out of ``tp``)."""
    if tp.gram is not None:
        tp.gram.settle()
    agg = None if tp.aggregates is None else np.concatenate(tp.aggregates)
    ys = np.asarray(cfg.y_shift, dtype=np.float64)
    shuffled = mask = None
    if tp.shuffled is not None:
        s = tp.shuffled
        p = s.sum_x.shape[0]
        shuffled = GramStats(n=s.n, x_shift=np.full(p, float(cfg.shuffle_shift)), y_shift=ys, sum_x=s.sum_x,
                             sum_y=np.array([tp.y_sum]), xtx=s.full(), xty=s.xty[:, None], yty=np.array([tp.y_sq]))
    if tp.mask is not None:
        m = tp.mask
        cols = np.flatnonzero(m.sum_x > 0)
        xtx = m.full()  # float32 counts, exact
        xtx = xtx if len(cols) == len(m.sum_x) else xtx[np.ix_(cols, cols)]
        mask = MaskGram(n=m.n, cols=cols, sum_x=m.sum_x[cols], xtx=xtx, xty=m.xty[cols])
        m.xtx = None
    tp.shuffled = tp.mask = None
    return TrainStats(n=tp.n, shuffled=shuffled, mask=mask, cross=tp.cross, aggregates=agg, norm_n=tp.norm_n,
                      norm_sum=tp.norm_sum, norm_sq=tp.norm_sq, seconds=dict(tp.seconds), pass_seconds=pass_seconds)


def train_pass(split, plan, *, with_mask: bool, lanes: int, section=None) -> TrainStats:
    """The checks-only train pass (when the audit's statistics came from the cache or the GPU).

    split: the train `SpectraSplit`; plan: the `CheckPlan`; section: the run's peak-RSS section
    (a function of a name, or None)."""
    t = time.time()
    with section("sanity: train pass") if section is not None else contextlib.nullcontext():
        graph = train_pass_graph(split, plan.cfg, group_y=plan.group_y, with_mask=with_mask, lanes=lanes)
        (tp,) = compute(graph, desc="sanity checks: train pass (shuffled Gram, mask Gram, X^T Y_perm, aggregates)")
    return train_finish(tp, plan.cfg, pass_seconds=time.time() - t)
