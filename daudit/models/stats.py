"""Sufficient statistics of a linear least-squares problem, accumulated in row chunks.

The record follows dask's tree-reduction shape, named as every pass of the package
(``<pass>_chunk``, ``<pass>_merge``, ``<pass>_finish``): :func:`gram_chunk` maps one row block to
a `GramStats`, :func:`gram_merge` adds one into a running total in place (:func:`combine_stats`
into a new record), :func:`gram_finish` settles the total, and :meth:`GramStats.centered` is the
aggregate. Everything is plain numpy in float64; Dask wiring lives in `daudit.engine.streaming`.

Sums are taken about a fixed shift ``c`` (e.g. the first chunk's column means) so that
``X^T X`` does not lose the small spread of nearly-constant pixels to cancellation:

    S_xx = sum (x - c)(x - c)^T - n (m - c)(m - c)^T,   m = c + sum(x - c) / n
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GramStats", "CenteredStats", "center_gram", "gram_chunk", "add_products", "combine_stats",
           "gram_merge", "reduce_stats", "gram_finish"]


@dataclass
class GramStats:
    """Raw (shifted) sums over ``n`` rows of ``X`` (n, p) and ``Y`` (n, k).

    Attributes
    ----------
    n : int
        Number of rows accumulated.
    x_shift : ndarray of shape (p,)
    y_shift : ndarray of shape (k,)
    sum_x : ndarray of shape (p,)        sum of (x - x_shift)
    sum_y : ndarray of shape (k,)        sum of (y - y_shift)
    xtx : ndarray of shape (p, p)        sum of (x - x_shift)(x - x_shift)^T
    xty : ndarray of shape (p, k)        sum of (x - x_shift)(y - y_shift)^T
    yty : ndarray of shape (k,)          sum of (y - y_shift)^2, per column
    pending : ndarray (rows, p) or None  a chunk's centred rows whose product is not in ``xtx``
                                         yet (``xtx`` is None then; see `gram_chunk`' ``defer``)
    """

    n: int
    x_shift: np.ndarray
    y_shift: np.ndarray
    sum_x: np.ndarray
    sum_y: np.ndarray
    xtx: np.ndarray | None
    xty: np.ndarray
    yty: np.ndarray
    pending: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x_shift.shape[0]

    def settle(self) -> "GramStats":
        """Add the pending rows' product into ``xtx`` (in place); returns self."""
        if self.pending is not None:
            if self.xtx is None:
                p = self.pending.shape[1]
                self.xtx = np.zeros((p, p))
            add_products(self.xtx, self.pending)
            self.pending = None
        return self

    def centered(self, *, in_place: bool = False) -> "CenteredStats":
        """Aggregate: the statistics centred on the column means (the fit's input).

        ``S_xx`` is computed in row blocks (no p x p temporary) and, with ``in_place``, into
        ``xtx`` itself (float64 only; this record is spent afterwards): one p x p matrix in all.
        """
        if self.n < 1:
            raise ValueError("GramStats holds no rows; nothing to aggregate")
        self.settle()
        dx = self.sum_x / self.n
        dy = self.sum_y / self.n
        out = self.xtx if in_place and self.xtx.dtype == np.float64 else np.empty(self.xtx.shape)
        sxx = center_gram(self.xtx, self.n, dx, out=out)
        sxy = self.xty - self.n * np.outer(dx, dy)
        syy = self.yty - self.n * dy * dy
        return CenteredStats(
            n=self.n, x_mean=self.x_shift + dx, y_mean=self.y_shift + dy,
            sxx=sxx, sxy=sxy, syy=np.maximum(syy, 0.0),
        )


@dataclass
class CenteredStats:
    """Centred sufficient statistics: ``S_xx`` (p, p), ``S_xy`` (p, k), ``S_yy`` (k,).

    ``sxx`` may be None once the eigendecomposition has consumed it (`without_sxx`); its diagonal
    ``sxx_diag`` (p,) is kept for the per-feature variances.
    """

    n: int
    x_mean: np.ndarray
    y_mean: np.ndarray
    sxx: np.ndarray | None
    sxy: np.ndarray
    syy: np.ndarray
    sxx_diag: np.ndarray | None = None

    @property
    def x_var(self) -> np.ndarray:
        """Per-feature population variance, shape (p,)."""
        d = np.diag(self.sxx) if self.sxx is not None else self.sxx_diag
        return np.maximum(d, 0.0) / self.n

    def with_y(self, sxy: np.ndarray, syy: np.ndarray, y_mean: np.ndarray) -> "CenteredStats":
        """The same ``S_xx`` with other targets (label permutations reuse the Gram matrix)."""
        return CenteredStats(self.n, self.x_mean, y_mean, self.sxx, sxy, syy, self.sxx_diag)

    def without_sxx(self) -> "CenteredStats":
        """This record keeping only the diagonal of ``S_xx`` (p x p bytes freed)."""
        diag = np.diag(self.sxx).copy() if self.sxx is not None else self.sxx_diag
        return CenteredStats(self.n, self.x_mean, self.y_mean, None, self.sxy, self.syy, diag)


def center_gram(xtx: np.ndarray, n: float, dx: np.ndarray, *, out: np.ndarray, block: int = 256) -> np.ndarray:
    """``0.5 (S + S^T)`` with ``S = xtx - n dx dx^T``, written into ``out`` (may be ``xtx``) in row
    blocks: the same numbers as the whole-matrix expression, without its three p x p temporaries."""
    p = xtx.shape[0]
    for i0 in range(0, p, block):
        i1 = min(i0 + block, p)
        out[i0:i1] = xtx[i0:i1] - n * np.outer(dx[i0:i1], dx)
    for i0 in range(0, p, block):  # symmetrise: the lower blocks see the upper ones already centred
        i1 = min(i0 + block, p)
        avg = 0.5 * (out[i0:i1, i0:] + out[i0:, i0:i1].T)
        out[i0:i1, i0:] = avg
        out[i0:, i0:i1] = avg.T
    return out


def _as_2d_y(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


PANEL = 512  # columns per product in `add_products`


def add_products(acc: np.ndarray, xc: np.ndarray, panel: int | None = None) -> np.ndarray:
    """``acc += xc^T xc`` in column panels of ``panel`` (no p x p temporary; acc (p, p) float64).

    Each panel is the same BLAS product as the corresponding columns of ``xc.T @ xc`` (the same
    sums in the same order: bitwise equal to the whole product on the reference machine's OpenBLAS
    over 7 demo chunks, bench/RESULTS.md; tests/test_properties.py checks it to rounding).
    """
    p, panel = xc.shape[1], panel or PANEL
    for j in range(0, p, panel):
        acc[:, j:j + panel] += xc.T @ xc[:, j:j + panel]
    return acc


def gram_chunk(x: np.ndarray, y: np.ndarray, *, x_shift: np.ndarray, y_shift: np.ndarray,
                defer: bool = False) -> GramStats:
    """Sufficient statistics of one row block.

    Parameters
    ----------
    x : array of shape (n_rows, p)
        Converted to float64 before any product.
    y : array of shape (n_rows,) or (n_rows, k)
    x_shift, y_shift : arrays of shape (p,) and (k,)
        The common shift; every chunk of one pass must use the same one.
    defer : bool
        Keep the centred rows (``pending``) instead of their p x p product: `gram_merge`
        adds them straight into its accumulator, so a pass never holds a chunk's product.
    """
    xc = np.subtract(x, x_shift, dtype=np.float64)
    yc = _as_2d_y(y) - y_shift
    return GramStats(
        n=xc.shape[0], x_shift=x_shift, y_shift=np.asarray(y_shift, dtype=np.float64),
        sum_x=xc.sum(axis=0), sum_y=yc.sum(axis=0),
        xtx=None if defer else xc.T @ xc, xty=xc.T @ yc, yty=np.einsum("ij,ij->j", yc, yc),
        pending=xc if defer else None,
    )


def combine_stats(a: GramStats, b: GramStats) -> GramStats:
    """Sum of two records taken about the same shift."""
    if not (np.array_equal(a.x_shift, b.x_shift) and np.array_equal(a.y_shift, b.y_shift)):
        raise ValueError("cannot combine GramStats accumulated about different shifts")
    a.settle()
    b.settle()
    return GramStats(
        n=a.n + b.n, x_shift=a.x_shift, y_shift=a.y_shift,
        sum_x=a.sum_x + b.sum_x, sum_y=a.sum_y + b.sum_y,
        xtx=a.xtx + b.xtx, xty=a.xty + b.xty, yty=a.yty + b.yty,
    )


def gram_merge(acc: GramStats, part: GramStats) -> GramStats:
    """``acc + part`` written into ``acc`` (no new p x p matrix); for a fold that owns ``acc``."""
    if not (np.array_equal(acc.x_shift, part.x_shift) and np.array_equal(acc.y_shift, part.y_shift)):
        raise ValueError("cannot combine GramStats accumulated about different shifts")
    acc.settle()
    acc.n += part.n
    for name in ("sum_x", "sum_y", "xty", "yty"):
        np.add(getattr(acc, name), getattr(part, name), out=getattr(acc, name))
    if part.pending is not None:
        add_products(acc.xtx, part.pending)
    else:
        np.add(acc.xtx, part.xtx, out=acc.xtx)
    return acc


def reduce_stats(parts) -> GramStats:
    """Combine a sequence of records (pairwise, to keep the float64 error small)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no GramStats to reduce")
    while len(parts) > 1:
        nxt = [combine_stats(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


def gram_finish(stats: GramStats) -> GramStats:
    """`GramStats.settle` as a function (the last step of a pass whose chunks were deferred)."""
    return stats.settle()
