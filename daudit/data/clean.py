"""The audited error values: non-finite pixels filled from their row's nearest finite pixel.

Pure numpy on one row block (n_rows, n_pix); the readers (`daudit.data.pfsspec`) and the passes
call them on every chunk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_nan_nearest", "clean_error"]


def fill_nan_nearest(block: np.ndarray) -> np.ndarray:
    """Replace non-finite values by the nearest finite pixel of the same row (ties: left).

    block : array of shape (n_rows, n_pix). Rows with no finite pixel stay non-finite.
    Returns a new float32 array (the input is not modified).
    """
    out = np.array(block, dtype=np.float32, copy=True)
    if out.size == 0:
        return out
    p = out.shape[1]
    flat = np.flatnonzero(~np.isfinite(out))
    if flat.size == 0:
        return out
    # Work on the bad values only (a few per row in real spectra): each maximal run of bad
    # pixels in a row takes its values from the finite pixel just left or right of the run.
    row, col = np.divmod(flat, p)
    start = np.ones(flat.size, dtype=bool)
    start[1:] = (flat[1:] != flat[:-1] + 1) | (col[1:] == 0)
    run = np.cumsum(start) - 1
    first = col[start]
    last = np.append(col[np.flatnonzero(start)[1:] - 1], col[-1])
    left, right = (first - 1)[run], (last + 1)[run]
    dist_l = np.where(left >= 0, col - left, p + 1)
    dist_r = np.where(right < p, right - col, p + 1)
    ok = np.minimum(dist_l, dist_r) <= p  # rows with no finite pixel stay non-finite
    src = np.where(dist_l <= dist_r, left, right)
    out[row[ok], col[ok]] = out[row[ok], src[ok]]
    return out


def clean_error(block: np.ndarray) -> np.ndarray:
    """The audited error block: NaN filled from the nearest pixel; rows with no finite pixel -> 0.

    The pipeline counts such rows (``n_nonfinite_after_fill``) and reports them.
    """
    out = fill_nan_nearest(block)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = 0.0
    return out
