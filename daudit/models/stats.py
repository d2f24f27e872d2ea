"""Sufficient statistics of a linear least-squares problem, accumulated in row chunks.

The record follows dask's tree-reduction shape: :func:`chunk_stats` maps one row block to a
`GramStats`, :func:`combine_stats` adds two of them, and :meth:`GramStats.centered` is the
aggregate. Everything is plain numpy in float64; Dask wiring lives in `daudit.engine.streaming`.

Sums are taken about a fixed shift ``c`` (e.g. the first chunk's column means) so that
``X^T X`` does not lose the small spread of nearly-constant pixels to cancellation:

    S_xx = sum (x - c)(x - c)^T - n (m - c)(m - c)^T,   m = c + sum(x - c) / n
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GramStats", "CenteredStats", "chunk_stats", "combine_stats", "accumulate_stats", "reduce_stats"]


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
    """

    n: int
    x_shift: np.ndarray
    y_shift: np.ndarray
    sum_x: np.ndarray
    sum_y: np.ndarray
    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray

    @property
    def n_features(self) -> int:
        return self.x_shift.shape[0]

    def centered(self) -> "CenteredStats":
        """Aggregate: the statistics centred on the column means (the fit's input)."""
        if self.n < 1:
            raise ValueError("GramStats holds no rows; nothing to aggregate")
        dx = self.sum_x / self.n
        dy = self.sum_y / self.n
        sxx = self.xtx - self.n * np.outer(dx, dx)
        sxx = 0.5 * (sxx + sxx.T)  # exact symmetry for eigh
        sxy = self.xty - self.n * np.outer(dx, dy)
        syy = self.yty - self.n * dy * dy
        return CenteredStats(
            n=self.n, x_mean=self.x_shift + dx, y_mean=self.y_shift + dy,
            sxx=sxx, sxy=sxy, syy=np.maximum(syy, 0.0),
        )


@dataclass
class CenteredStats:
    """Centred sufficient statistics: ``S_xx`` (p, p), ``S_xy`` (p, k), ``S_yy`` (k,)."""

    n: int
    x_mean: np.ndarray
    y_mean: np.ndarray
    sxx: np.ndarray
    sxy: np.ndarray
    syy: np.ndarray

    @property
    def x_var(self) -> np.ndarray:
        """Per-feature population variance, shape (p,)."""
        return np.maximum(np.diag(self.sxx), 0.0) / self.n

    def with_y(self, sxy: np.ndarray, syy: np.ndarray, y_mean: np.ndarray) -> "CenteredStats":
        """The same ``S_xx`` with other targets (label permutations reuse the Gram matrix)."""
        return CenteredStats(self.n, self.x_mean, y_mean, self.sxx, sxy, syy)


def _as_2d_y(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def chunk_stats(x: np.ndarray, y: np.ndarray, *, x_shift: np.ndarray, y_shift: np.ndarray) -> GramStats:
    """Sufficient statistics of one row block.

    Parameters
    ----------
    x : array of shape (n_rows, p)
        Converted to float64 before any product.
    y : array of shape (n_rows,) or (n_rows, k)
    x_shift, y_shift : arrays of shape (p,) and (k,)
        The common shift; every chunk of one pass must use the same one.
    """
    xc = np.asarray(x, dtype=np.float64) - x_shift
    yc = _as_2d_y(y) - y_shift
    return GramStats(
        n=xc.shape[0], x_shift=x_shift, y_shift=np.asarray(y_shift, dtype=np.float64),
        sum_x=xc.sum(axis=0), sum_y=yc.sum(axis=0),
        xtx=xc.T @ xc, xty=xc.T @ yc, yty=np.einsum("ij,ij->j", yc, yc),
    )


def combine_stats(a: GramStats, b: GramStats) -> GramStats:
    """Sum of two records taken about the same shift."""
    if not (np.array_equal(a.x_shift, b.x_shift) and np.array_equal(a.y_shift, b.y_shift)):
        raise ValueError("cannot combine GramStats accumulated about different shifts")
    return GramStats(
        n=a.n + b.n, x_shift=a.x_shift, y_shift=a.y_shift,
        sum_x=a.sum_x + b.sum_x, sum_y=a.sum_y + b.sum_y,
        xtx=a.xtx + b.xtx, xty=a.xty + b.xty, yty=a.yty + b.yty,
    )


def accumulate_stats(acc: GramStats, part: GramStats) -> GramStats:
    """``acc + part`` written into ``acc`` (no new p x p matrix); for a fold that owns ``acc``."""
    if not (np.array_equal(acc.x_shift, part.x_shift) and np.array_equal(acc.y_shift, part.y_shift)):
        raise ValueError("cannot combine GramStats accumulated about different shifts")
    acc.n += part.n
    for name in ("sum_x", "sum_y", "xtx", "xty", "yty"):
        np.add(getattr(acc, name), getattr(part, name), out=getattr(acc, name))
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
