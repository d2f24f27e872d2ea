"""Pixel importance: |coef|, |coef| * std(x) for linear models, split count and gain for LightGBM; top-k shares."""

from __future__ import annotations

import numpy as np

__all__ = ["TOP_K", "top_k_share", "top_k_shares", "top_pixels", "linear_importance", "importance_table", "importance_summary"]


TOP_K = 40  # the user's question: is the importance concentrated in ~40 pixels?

def linear_importance(coef: np.ndarray, x_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|coef|`` and ``|coef| * std(x)`` for one model; coef and x_std of shape (p,).

    Raw |coef| depends on each pixel's scale; multiplied by the pixel's spread it measures how
    much of the prediction moves with that pixel.
    """
    a = np.abs(np.asarray(coef, dtype=np.float64))
    return a, a * np.asarray(x_std, dtype=np.float64)


def top_k_shares(importance: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Top-``k`` share of each column of ``importance`` (p,) or (p, K): (K,), the fraction of the
    column's total absolute importance held by its ``k`` largest pixels (0 for an all-zero column)."""
    imp = np.abs(np.asarray(importance, dtype=np.float64))
    imp = imp[:, None] if imp.ndim == 1 else imp
    total = imp.sum(axis=0)
    k = min(int(k), imp.shape[0])
    top = -np.partition(-imp, k - 1, axis=0)[:k].sum(axis=0) if k > 0 else np.zeros(imp.shape[1])
    return np.where(total > 0, top / np.where(total > 0, total, 1.0), 0.0)


def top_k_share(importance: np.ndarray, k: int = TOP_K) -> float:
    """`top_k_shares` of one importance vector (p,), as a float."""
    return float(top_k_shares(importance, k)[0])


def top_pixels(importance: np.ndarray, wave: np.ndarray, k: int = TOP_K) -> list[dict]:
    """The ``k`` most important pixels: rank, pixel index, wavelength (Å), importance."""
    imp = np.asarray(importance, dtype=np.float64)
    order = np.argsort(-imp, kind="stable")[:k]
    return [{"rank": r + 1, "pixel": int(i), "wavelength": float(wave[i]), "importance": float(imp[i])}
            for r, i in enumerate(order)]


def importance_table(wave, mean_error, names, coef, x_std, lgbm_gain=None, lgbm_split=None):
    """Columns of importance.csv as an ordered dict of (p,) arrays.

    coef : (m, p) coefficients at the reference noise level; x_std : (p,) input spread there;
    lgbm_gain, lgbm_split : (p,) LightGBM's total gain and split count per pixel (the latter is
    what scikit-learn's ``feature_importances_`` reports by default), or None.
    """
    cols = {"pixel": np.arange(len(wave)), "wavelength": np.asarray(wave), "mean_error": np.asarray(mean_error)}
    for name, c in zip(names, coef):
        a, a_std = linear_importance(c, x_std)
        cols[f"{name}_abs_coef"] = a
        cols[f"{name}_abs_coef_x_std"] = a_std
    if lgbm_gain is not None:
        cols["LightGBM_gain"] = np.asarray(lgbm_gain, dtype=np.float64)
    if lgbm_split is not None:
        cols["LightGBM_split"] = np.asarray(lgbm_split, dtype=np.float64)
    return cols


def importance_summary(table: dict, wave, names, *, primary: str, top_k: int = TOP_K, n_top: int = TOP_K) -> dict:
    models = {}
    for name in names:
        for kind in ("abs_coef", "abs_coef_x_std"):
            imp = table[f"{name}_{kind}"]
            key = name if kind == "abs_coef_x_std" else f"{name}:abs_coef"
            models[key] = {"kind": kind, "top_k_share": top_k_share(imp, top_k),
                           "top_pixels": top_pixels(imp, wave, n_top)}
    for col, key, kind in (("LightGBM_gain", "LightGBM", "gain"), ("LightGBM_split", "LightGBM:split", "split")):
        if col in table:
            models[key] = {"kind": kind, "top_k_share": top_k_share(table[col], top_k),
                           "top_pixels": top_pixels(table[col], wave, n_top)}
    return {"top_k": top_k, "primary": primary, "models": models}
