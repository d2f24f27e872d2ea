"""The user's "40 positions" question: which pixels differ between median-normalised spectra.

Each error vector is divided by its own median (`transforms.median_normalised`), which removes
the overall scale; the relative spread of a pixel is then ``std / mean`` of that ratio over the
train spectra. Pixels whose spread exceeds a stated threshold are the positions where the error
vectors really differ; their overlap with the most important pixels says whether the models read
exactly those positions.
"""

from __future__ import annotations

import numpy as np

from daudit.models.importance import TOP_K

__all__ = ["relative_spread", "variability_summary", "overlap"]


def relative_spread(n: np.ndarray, s: np.ndarray, sq: np.ndarray) -> np.ndarray:
    """Per-pixel ``std / mean`` of the median-normalised error from its sums.

    n, s, sq : (p,) count, sum and sum of squares of ``error / median`` over train rows.
    Returns (p,) float64 (0 where the mean is 0 or there are no rows).
    """
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    mean = np.asarray(s, dtype=np.float64) / n
    var = np.maximum(np.asarray(sq, dtype=np.float64) / n - mean * mean, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(mean) > 0, np.sqrt(var) / np.abs(mean), 0.0)
    return out


def overlap(a, b) -> dict:
    """Count and Jaccard index of two pixel sets."""
    a, b = {int(v) for v in a}, {int(v) for v in b}
    union = len(a | b)
    return {"count": len(a & b), "jaccard": (len(a & b) / union) if union else 0.0}


def variability_summary(spread: np.ndarray, wave: np.ndarray, threshold: float, *, top_k: int = TOP_K,
                        important: dict | None = None) -> dict:
    """Pixels above ``threshold``, the ``top_k`` most variable pixels and their overlaps.

    Parameters
    ----------
    spread : (p,) relative spread per pixel
    wave : (p,) wavelengths (Angstrom)
    important : {name: sequence of top pixel indices} to compare with (e.g. the primary linear
        model's and LightGBM's top-k)
    """
    spread = np.asarray(spread, dtype=np.float64)
    order = np.argsort(-spread, kind="stable")[:top_k]
    top = [{"rank": r + 1, "pixel": int(i), "wavelength": float(wave[i]), "relative_spread": float(spread[i])}
           for r, i in enumerate(order)]
    out = {
        "definition": "std/mean over train spectra of error/median(error of the same spectrum)",
        "threshold": float(threshold),
        "n_pixels": int(spread.size),
        "n_above_threshold": int(np.sum(spread > threshold)),
        "fraction_above_threshold": float(np.mean(spread > threshold)) if spread.size else 0.0,
        "median_spread": float(np.median(spread)) if spread.size else 0.0,
        "max_spread": float(spread.max()) if spread.size else 0.0,
        "top_k": int(top_k),
        "top_pixels": top,
        "overlap": {},
    }
    for name, pix in (important or {}).items():
        out["overlap"][name] = {**overlap(order, list(pix)[:top_k]), "k": int(min(top_k, len(list(pix))))}
    return out
