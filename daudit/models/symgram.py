"""Gram matrices accumulated in place by BLAS rank-k updates: no p x p partial per chunk.

``syrk_into(acc, rows)`` adds ``rows^T rows`` into the lower triangle of ``acc`` (p, p) with
BLAS ``?syrk`` (float32 or float64, the accumulator's dtype), so a pass over row chunks holds one
accumulator and no per-chunk product; `mirror_lower` fills the upper triangle once at the end.
Pure numpy / scipy BLAS.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

__all__ = ["syrk_into", "mirror_lower"]

_SYRK = {np.dtype(np.float32): blas.ssyrk, np.dtype(np.float64): blas.dsyrk}


def syrk_into(acc: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``acc[lower] += (rows^T rows)[lower]`` in place and return ``acc``.

    acc : (p, p) C-ordered, float32 or float64; only its lower triangle is written.
    rows : (m, p), converted to ``acc``'s dtype. The upper triangle is left untouched: call
    `mirror_lower` after the last update.
    """
    fn = _SYRK[acc.dtype]
    a = np.ascontiguousarray(rows, dtype=acc.dtype)
    if a.shape[0] == 0:
        return acc
    # acc.T is Fortran-ordered, so BLAS updates it in place; its upper triangle is acc's lower.
    out = fn(1.0, a.T, beta=1.0, c=acc.T, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, acc):  # a BLAS wrapper that copied after all
        acc[...] = np.tril(out.T)  # pragma: no cover
    return acc


def mirror_lower(a: np.ndarray, block: int = 512) -> np.ndarray:
    """Copy the lower triangle of the square ``a`` onto its upper triangle, in place (blockwise,
    so no p x p temporary)."""
    p = a.shape[0]
    for j0 in range(0, p, block):
        j1 = min(j0 + block, p)
        a[j0:j1, j1:] = a[j1:, j0:j1].T
        d = a[j0:j1, j0:j1]
        iu = np.triu_indices(j1 - j0, 1)
        d[iu] = d.T[iu]
    return a
