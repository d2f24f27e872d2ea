"""What one train chunk adds to the ONE streamed pass over train (pure numpy, no Dask).

The pass serves the audit and the checks at once: the audit's sufficient statistics
(`daudit.models.stats.gram_chunk`, exactly as the statistics pass computes them), and the
checks' wavelength-shuffled Gram, mask Gram, ``X^T Y`` of the permuted and group-shuffled
labels, aggregate features and median-normalised sums. The pass's pieces: `train_chunk` adds
one chunk into a running `TrainPartial` in place, `train_merge` joins two totals in a fixed
order, and `daudit.checks.train_pass.train_finish` turns the total into the `TrainStats` the
checks fit from.

The shuffled and mask Grams are float32 rank-k updates of a float32 accumulator
(`daudit.models.symgram.syrk_into`): no p x p product per chunk, half the memory of float64. The
mask counts are exact (integers below 2^24); the shuffled input is well conditioned (its pixels
are exchangeable), so float32 sums lose nothing the checks can see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daudit.checks.partials import Clock, CrossStats
from daudit.checks.permutation import PermutationKeys
from daudit.checks.transforms import aggregate_features, median_normalised, shuffle_chunk
from daudit.models.stats import GramStats, gram_chunk, gram_merge
from daudit.models.symgram import mirror_lower, syrk_into

__all__ = ["TrainConfig", "TrainPartial", "SymSums", "train_chunk", "train_merge"]


@dataclass(frozen=True)
class TrainConfig:
    """What every train chunk needs besides its data (one object shared by all chunks).

    x_shift (p,) and y_shift (1,): the shift of the audit's statistics (the first chunk's means),
    also used for the cross statistics; shuffle_shift: one number for the shuffled Gram;
    perm_keys: the linear label permutations (None: no permutation null); gram: also accumulate
    the audit's statistics; checks: accumulate the checks' statistics at all.
    """

    seed: int
    level: float  # reference noise level: checks see ``level * error``
    shuffle: bool
    mask: bool
    aggregates: bool
    x_shift: np.ndarray
    y_shift: np.ndarray
    shuffle_shift: float
    perm_keys: PermutationKeys | None = None
    gram: bool = False
    checks: bool = True


@dataclass
class SymSums:
    """Sums of an input Z (rows, p) for a linear fit: n, ``sum_x`` (p,), ``xty`` (p,) = Z^T (y -
    y_shift), and Z^T Z in the lower triangle of the float32 ``xtx`` (p, p). A chunk's partial
    keeps its Z in ``rows`` until it is added (`absorb`), so no chunk ever holds a p x p product."""

    n: int
    sum_x: np.ndarray
    xty: np.ndarray
    xtx: np.ndarray | None = None
    rows: np.ndarray | None = None

    @classmethod
    def of(cls, z: np.ndarray, yc: np.ndarray, rows: int = 256) -> "SymSums":
        """The pending partial of one chunk: z (rows, p) float32, yc (rows,) centred labels."""
        xty = np.zeros(z.shape[1])
        for i in range(0, z.shape[0], rows):  # float64 products in row blocks (small temporaries)
            xty += yc[i:i + rows] @ z[i:i + rows].astype(np.float64)
        return cls(z.shape[0], z.sum(axis=0, dtype=np.float64), xty, rows=z)

    def settle(self) -> "SymSums":
        """Add the pending rows into an accumulator of its own."""
        if self.xtx is None:
            p = self.sum_x.shape[0]
            self.xtx = np.zeros((p, p), dtype=np.float32)
        if self.rows is not None:
            syrk_into(self.xtx, self.rows)
            self.rows = None
        return self

    def absorb(self, other: "SymSums") -> "SymSums":
        """``self + other`` written into ``self``."""
        self.settle()
        self.n += other.n
        np.add(self.sum_x, other.sum_x, out=self.sum_x)
        np.add(self.xty, other.xty, out=self.xty)
        if other.rows is not None:
            syrk_into(self.xtx, other.rows)
        if other.xtx is not None:
            np.add(self.xtx, other.xtx, out=self.xtx)
        return self

    def full(self) -> np.ndarray:
        """The symmetric Z^T Z (p, p) float32 (the accumulator itself, mirrored in place)."""
        return mirror_lower(self.settle().xtx)


@dataclass
class TrainPartial:
    """The pass's sums over some rows (a chunk, or the running total).

    gram: the audit's `GramStats` (or None); shuffled, mask: `SymSums` of the shuffled input
    (shifted by ``shuffle_shift``) and of the 0/1 mask; cross: ``X^T Y`` of the extra targets;
    y_sum, y_sq: sums of (y - y_shift) and its square; aggregates: list of (rows, 10) blocks in
    row order.
    """

    n: int
    gram: GramStats | None = None
    shuffled: SymSums | None = None
    mask: SymSums | None = None
    cross: CrossStats | None = None
    y_sum: float = 0.0
    y_sq: float = 0.0
    aggregates: list | None = None
    norm_n: np.ndarray | None = None  # (p,) rows with a positive median
    norm_sum: np.ndarray | None = None  # (p,) sum of error / median
    norm_sq: np.ndarray | None = None  # (p,) sum of (error / median)^2
    seconds: dict = field(default_factory=dict)  # seconds per part, summed over chunks


def _extra_targets(y_all, rows: np.ndarray, group, cfg: TrainConfig):
    """Permuted labels of these rows (from the keys) and their group-shuffled labels: (rows, K + G)."""
    cols = []
    if cfg.perm_keys is not None and len(cfg.perm_keys):
        cols.append(cfg.perm_keys.labels(y_all, rows))
    if group is not None:
        cols.append(np.asarray(group, dtype=np.float64))
    return np.hstack(cols) if cols else None


def train_chunk(acc: TrainPartial | None, block, mask, y, group, start: int, chunk_index: int, cfg: TrainConfig,
                y_all) -> TrainPartial:
    """Add one train chunk into ``acc`` (None: start a total), piece by piece: each piece's
    temporaries are added and freed before the next is made, so a chunk costs about one float64
    copy of itself in memory, whatever the number of checks.

    block (rows, p) cleaned error; mask (rows, p) or None; y (rows,) labels; group (rows, G)
    group-shuffled labels or None; start: the chunk's first row; y_all (n,) every train label
    (the permuted labels are drawn from it).
    """
    x = np.asarray(block, dtype=np.float32)
    yc = np.asarray(y, dtype=np.float64) - cfg.y_shift[0]
    acc = TrainPartial(n=0) if acc is None else acc
    acc.n += x.shape[0]
    acc.y_sum += float(yc.sum())
    acc.y_sq += float(yc @ yc)
    clock = Clock(acc.seconds)
    if cfg.checks and cfg.aggregates:
        with clock("aggregates"):
            acc.aggregates = (acc.aggregates or []) + [aggregate_features(cfg.level * x)]
    if cfg.checks:
        with clock("median_normalised"):
            _normalised_sums(x, acc)
    gram = None
    if cfg.gram:
        with clock("gram"):
            gram = gram_chunk(x, np.asarray(y, dtype=np.float64)[:, None], x_shift=cfg.x_shift,
                               y_shift=cfg.y_shift, defer=True)
    extra = _extra_targets(y_all, np.arange(start, start + x.shape[0]), group, cfg) if cfg.checks else None
    if extra is not None:
        with clock("xty_extra_targets"):
            acc.cross = _add(acc.cross, _cross(x, extra, cfg, gram), _accumulate_cross)
    if gram is not None:
        with clock("gram"):
            acc.gram = gram.settle() if acc.gram is None else gram_merge(acc.gram, gram)
            del gram
    if cfg.checks and cfg.shuffle:
        with clock("shuffled_gram"):
            xs = shuffle_chunk(x, seed=cfg.seed, split="train", chunk_index=chunk_index)
            xs -= np.float32(cfg.shuffle_shift)
            acc.shuffled = _sym_add(acc.shuffled, SymSums.of(xs, yc))
            del xs
    if cfg.checks and cfg.mask and mask is not None:
        with clock("mask_gram"):
            acc.mask = _sym_add(acc.mask, SymSums.of((np.asarray(mask) != 0).astype(np.float32), yc))
    return acc


def _sym_add(acc: SymSums | None, part: SymSums) -> SymSums:
    return part.settle() if acc is None else acc.absorb(part)


def _normalised_sums(x: np.ndarray, out: TrainPartial, rows: int = 256) -> None:
    """Add, per pixel: rows with a positive median, sums of error / median and of its square (in
    row blocks, so the float64 ratios stay small)."""
    p = x.shape[1]
    if out.norm_n is None:
        out.norm_n, out.norm_sum, out.norm_sq = np.zeros(p, dtype=np.int64), np.zeros(p), np.zeros(p)
    for i in range(0, x.shape[0], rows):
        r = median_normalised(x[i:i + rows])
        ok = np.isfinite(r)
        r0 = np.where(ok, r, 0.0)
        out.norm_n += ok.sum(axis=0)
        out.norm_sum += r0.sum(axis=0, dtype=np.float64)
        out.norm_sq += np.einsum("ij,ij->j", r0, r0, dtype=np.float64)


def _cross(x: np.ndarray, extra: np.ndarray, cfg: TrainConfig, gram: GramStats | None) -> CrossStats:
    """``(x - c)^T (Y - d)`` in float32 (chunk sums in float64): a null needs no more digits.
    ``gram``: this chunk's deferred statistics about the same shift (its centred rows are reused)."""
    if gram is not None and gram.pending is not None:
        sum_x, xc = gram.sum_x.copy(), gram.pending  # a copy: both sums are added up in place
    else:
        xc = np.subtract(x, cfg.x_shift, dtype=np.float64)
        sum_x = xc.sum(axis=0)
    yc = extra - cfg.y_shift[0]
    yc32 = yc.astype(np.float32)
    xty = np.zeros((x.shape[1], extra.shape[1]))
    for i in range(0, x.shape[0], 256):  # float32 products in row blocks (small temporaries)
        xty += (xc[i:i + 256].astype(np.float32).T @ yc32[i:i + 256]).astype(np.float64)
    k = extra.shape[1]
    return CrossStats(x.shape[0], cfg.x_shift, np.full(k, cfg.y_shift[0]), sum_x, yc.sum(axis=0), xty,
                      np.einsum("ij,ij->j", yc, yc))


def _add(a, b, fn):
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


def _absorb(a: SymSums, b: SymSums) -> SymSums:
    return a.absorb(b)


def train_merge(acc: TrainPartial, part: TrainPartial) -> TrainPartial:
    """``acc + part`` written into ``acc`` (``acc``'s rows first); for a fold that owns ``acc``."""
    acc.n += part.n
    acc.y_sum += part.y_sum
    acc.y_sq += part.y_sq
    acc.gram = _add(acc.gram, part.gram, gram_merge)
    acc.shuffled = _add(acc.shuffled, part.shuffled, _absorb)
    acc.mask = _add(acc.mask, part.mask, _absorb)
    acc.cross = _add(acc.cross, part.cross, _accumulate_cross)
    if acc.aggregates is not None:
        acc.aggregates = acc.aggregates + part.aggregates  # lists of row blocks, in row order
    for name in ("norm_n", "norm_sum", "norm_sq"):
        if getattr(acc, name) is not None:
            np.add(getattr(acc, name), getattr(part, name), out=getattr(acc, name))
    for k, v in part.seconds.items():
        acc.seconds[k] = acc.seconds.get(k, 0.0) + v
    return acc


def _accumulate_cross(a: CrossStats, b: CrossStats) -> CrossStats:
    a.n += b.n
    for name in ("sum_x", "sum_y", "xty", "yty"):
        np.add(getattr(a, name), getattr(b, name), out=getattr(a, name))
    return a
