"""R² of test predictions within bins of another quantity (e.g. SNR); pure numpy.

The R² itself and the bootstrap are `daudit.models.metrics.r2` and `bootstrap_r2`.
"""

from __future__ import annotations

import numpy as np

from daudit.models.metrics import finite_or_none, r2

__all__ = ["r2_in_bins"]


def r2_in_bins(y: np.ndarray, pred: np.ndarray, values: np.ndarray, edges, labels) -> list[dict]:
    """R2 of one model within bins of ``values`` (e.g. SNR).

    edges : inner edges e_1 < ... < e_k; bin i holds e_{i} < v <= e_{i+1} (first: v <= e_1, last:
    v > e_k). labels : k + 1 strings. Returns [{'bin', 'lo', 'hi', 'n', 'test_r2'}] (R2 None when
    the bin has fewer than 2 rows or constant labels).
    """
    v = np.asarray(values, dtype=np.float64)
    edges = [float(e) for e in edges]
    idx = np.searchsorted(np.asarray(edges), v, side="left")
    out = []
    for i, lab in enumerate(labels):
        sel = idx == i
        out.append({"bin": lab, "lo": edges[i - 1] if i > 0 else None,
                    "hi": edges[i] if i < len(edges) else None, "n": int(sel.sum()),
                    "test_r2": finite_or_none(r2(y[sel], pred[sel])) if sel.sum() >= 2 else None})
    return out


