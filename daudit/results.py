"""Turn fitted models and predictions into tables and the summary (pure, no I/O)."""

from __future__ import annotations

import numpy as np

from daudit.importance import linear_importance, top_k_share, top_pixels
from daudit.metrics import regression_metrics

__all__ = ["metrics_rows", "best_rows", "importance_table", "importance_summary", "METRIC_COLUMNS"]

METRIC_COLUMNS = ["noise_level", "model", "alpha", "train_r2", "train_mae", "train_rmse", "val_r2",
                  "val_mae", "val_rmse", "test_r2", "test_mae", "test_rmse", "fit_seconds", "degenerate"]


def metrics_rows(level: float, names, alphas, y: dict, preds: dict, *, train_from_stats=None,
                 fit_seconds=None, degenerate: bool = False) -> list[dict]:
    """One row per model at one noise level.

    y : {'train'|'val'|'test': (n,)}; preds : {split: (n, m)} in the order of ``names``.
    train_from_stats : optional (r2 (m,), rmse (m,)) computed from sufficient statistics; they
    take precedence over the train predictions for R2 and RMSE.
    """
    rows = [{"noise_level": float(level), "model": n,
             "alpha": (None if a is None or a != a else float(a)), "degenerate": bool(degenerate)}
            for n, a in zip(names, alphas)]
    for split in ("train", "val", "test"):
        m = regression_metrics(y[split], preds[split])
        for i, row in enumerate(rows):
            for k in ("r2", "mae", "rmse"):
                row[f"{split}_{k}"] = float(m[k][i])
    if train_from_stats is not None:
        r2, rmse = train_from_stats
        for i, row in enumerate(rows):
            row["train_r2"], row["train_rmse"] = float(r2[i]), float(rmse[i])
    for i, row in enumerate(rows):
        row["fit_seconds"] = float(fit_seconds[i]) if fit_seconds is not None else None
    return rows


def _pick(rows, keep):
    cand = [r for r in rows if keep(r) and not r["degenerate"]]
    if not cand:
        cand = [r for r in rows if keep(r)]
    if not cand:
        return None
    r = max(cand, key=lambda r: (r["test_r2"], r["val_r2"]))
    return {k: r[k] for k in ("model", "noise_level", "alpha", "train_r2", "val_r2", "test_r2",
                              "test_mae", "test_rmse")}


def best_rows(rows) -> dict:
    """Best overall, best Ridge and best LightGBM by test R2 over noise levels > 0."""
    return {
        "best": _pick(rows, lambda r: True),
        "best_ridge": _pick(rows, lambda r: r["model"].startswith("Ridge")),
        "best_linear": _pick(rows, lambda r: r["model"] == "OLS" or r["model"].startswith("Ridge")),
        "best_lightgbm": _pick(rows, lambda r: r["model"] == "LightGBM"),
    }


def importance_table(wave, mean_error, names, coef, x_std, lgbm_gain=None):
    """Columns of importance.csv as an ordered dict of (p,) arrays.

    coef : (m, p) coefficients at the reference noise level; x_std : (p,) input spread there.
    """
    cols = {"pixel": np.arange(len(wave)), "wavelength": np.asarray(wave), "mean_error": np.asarray(mean_error)}
    for name, c in zip(names, coef):
        a, a_std = linear_importance(c, x_std)
        cols[f"{name}_abs_coef"] = a
        cols[f"{name}_abs_coef_x_std"] = a_std
    if lgbm_gain is not None:
        cols["LightGBM_gain"] = np.asarray(lgbm_gain, dtype=np.float64)
    return cols


def importance_summary(table: dict, wave, names, *, primary: str, top_k: int = 40, n_top: int = 40) -> dict:
    models = {}
    for name in names:
        for kind in ("abs_coef", "abs_coef_x_std"):
            imp = table[f"{name}_{kind}"]
            key = name if kind == "abs_coef_x_std" else f"{name}:abs_coef"
            models[key] = {"kind": kind, "top_k_share": top_k_share(imp, top_k),
                           "top_pixels": top_pixels(imp, wave, n_top)}
    if "LightGBM_gain" in table:
        imp = table["LightGBM_gain"]
        models["LightGBM"] = {"kind": "gain", "top_k_share": top_k_share(imp, top_k),
                              "top_pixels": top_pixels(imp, wave, n_top)}
    return {"top_k": top_k, "primary": primary, "models": models}
