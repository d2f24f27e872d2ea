"""Pixel importance: |coef|, |coef| * std(x) for linear models, gain for LightGBM; top-k shares."""

from __future__ import annotations

import numpy as np

__all__ = ["top_k_share", "top_pixels", "linear_importance"]


def linear_importance(coef: np.ndarray, x_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|coef|`` and ``|coef| * std(x)`` for one model; coef and x_std of shape (p,).

    Raw |coef| depends on each pixel's scale; multiplied by the pixel's spread it measures how
    much of the prediction moves with that pixel.
    """
    a = np.abs(np.asarray(coef, dtype=np.float64))
    return a, a * np.asarray(x_std, dtype=np.float64)


def top_k_share(importance: np.ndarray, k: int = 40) -> float:
    """Fraction of the total importance held by the ``k`` largest pixels (0 if all zero)."""
    imp = np.abs(np.asarray(importance, dtype=np.float64))
    total = imp.sum()
    if total <= 0:
        return 0.0
    return float(np.sort(imp)[::-1][:k].sum() / total)


def top_pixels(importance: np.ndarray, wave: np.ndarray, k: int = 40) -> list[dict]:
    """The ``k`` most important pixels: rank, pixel index, wavelength (Å), importance."""
    imp = np.asarray(importance, dtype=np.float64)
    order = np.argsort(-imp, kind="stable")[:k]
    return [{"rank": r + 1, "pixel": int(i), "wavelength": float(wave[i]), "importance": float(imp[i])}
            for r, i in enumerate(order)]
