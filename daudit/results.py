"""Turn fitted models and predictions into tables and the summary (pure, no I/O)."""

from __future__ import annotations

import numpy as np

from daudit.errors import DauditInternalError
from daudit.importance import linear_importance, top_k_share, top_pixels
from daudit.metrics import regression_metrics

__all__ = ["metrics_rows", "best_rows", "importance_table", "importance_summary", "check_train_r2",
           "ols_sensitivity", "linear_summary", "METRIC_COLUMNS", "TRAIN_R2_TOLERANCE", "OLS_STABLE_TOLERANCE"]

# New columns go at the end, so readers that index the older columns keep working.
METRIC_COLUMNS = ["noise_level", "model", "alpha", "train_r2", "train_mae", "train_rmse", "val_r2",
                  "val_mae", "val_rmse", "test_r2", "test_mae", "test_rmse", "fit_seconds", "degenerate",
                  "resolved_rank", "effective_dof", "alpha_below_resolution"]

# |train R2 of the predictions - train R2 from the statistics| above this (i.e. RSS differing by
# more than 1e-6 of the train TSS) is a bug: the statistics agree to ~1e-7 by construction.
TRAIN_R2_TOLERANCE = 1e-6
# OLS test R2 moving by more than this when the threshold is x0.1 or x10: the number is set by the cut-off.
OLS_STABLE_TOLERANCE = 0.01


def metrics_rows(level: float, names, alphas, y: dict, preds: dict, *, fit_seconds=None, degenerate: bool = False,
                 resolved_rank=None, effective_dof=None, below_resolution=None) -> list[dict]:
    """One row per model at one noise level, every metric from the predictions (train included).

    y : {'train'|'val'|'test': (n,)}; preds : {split: (n, m)} in the order of ``names``.
    resolved_rank : int, shared by the linear models of the level (None for LightGBM);
    effective_dof : (m,) floats; below_resolution : (m,) bools (alpha below the threshold).
    """
    rows = [{"noise_level": float(level), "model": n,
             "alpha": (None if a is None or a != a else float(a)), "degenerate": bool(degenerate)}
            for n, a in zip(names, alphas)]
    for split in ("train", "val", "test"):
        m = regression_metrics(y[split], preds[split])
        for i, row in enumerate(rows):
            for k in ("r2", "mae", "rmse"):
                row[f"{split}_{k}"] = float(m[k][i])
    for i, row in enumerate(rows):
        row["fit_seconds"] = float(fit_seconds[i]) if fit_seconds is not None else None
        row["resolved_rank"] = None if resolved_rank is None else int(resolved_rank)
        row["effective_dof"] = None if effective_dof is None else float(effective_dof[i])
        ridge = row["alpha"] is not None
        row["alpha_below_resolution"] = (bool(below_resolution[i]) if ridge and below_resolution is not None
                                         else None)
    return rows


def check_train_r2(level: float, names, r2_pred, r2_stats, *, tol: float = TRAIN_R2_TOLERANCE) -> dict:
    """Compare the train R2 of the predictions with the one from the sufficient statistics.

    Returns {"max_abs_diff": float, "tolerance": tol}. Raises `DauditInternalError` when they
    differ by more than ``tol`` (R2 units, i.e. relative to the train TSS): the reported
    coefficients would not be the model the statistics describe.
    """
    diff = np.abs(np.asarray(r2_pred, dtype=np.float64) - np.asarray(r2_stats, dtype=np.float64))
    worst = float(np.max(diff)) if diff.size else 0.0
    if not worst <= tol:
        i = int(np.nanargmax(diff)) if np.isfinite(diff).any() else 0
        raise DauditInternalError(
            f"noise level {level:g}, {names[i]}: train R2 of the predictions {float(r2_pred[i]):.9g} differs from "
            f"the statistics' {float(r2_stats[i]):.9g} by {float(diff[i]):.3g} > {tol:g}; this is a bug in daudit")
    return {"max_abs_diff": worst, "tolerance": tol}


def ols_sensitivity(base: dict | None, variants: dict, y: dict, *, tol: float = OLS_STABLE_TOLERANCE) -> dict:
    """OLS at other resolution thresholds against the audit's OLS (``base``, a metrics row).

    variants : {factor: (LinearFamilyFit with OLS only, {split: predictions (n,)})}
    Returns {"factors": {"x0.1": {factor, threshold, resolved_rank, train_r2, val_r2, test_r2}, ...},
    "max_abs_change_test_r2", "tolerance", "stable"}; stable means every variant's test R2 is
    within ``tol`` of the base OLS test R2 (the OLS number is not set by the cut-off).
    """
    out, change = {}, 0.0
    for f, (fit, pred) in variants.items():
        rec = {"factor": float(f), "threshold": fit.resolution.threshold, "resolved_rank": fit.resolved_rank}
        for split in ("train", "val", "test"):
            rec[f"{split}_r2"] = float(regression_metrics(y[split], pred[split])["r2"])
        out[f"x{f:g}"] = rec
        if base is not None:
            change = max(change, abs(rec["test_r2"] - base["test_r2"]))
    return {"factors": out, "max_abs_change_test_r2": change, "tolerance": tol, "stable": bool(change <= tol)}


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


def linear_summary(fits: dict, eigen, checks: dict, sensitivity: dict | None) -> tuple[dict, dict]:
    """summary["linear"] (per noise level) and summary["linear_scale"] (the input's scale).

    fits : {level: LinearFamilyFit}; eigen : GramEigen of the unscaled train input;
    checks : {level: `check_train_r2` result}; sensitivity : `ols_sensitivity` result or None.
    """
    from daudit.linear import EIGEN_REL_ACCURACY, GRAM_ERROR, resolution

    per_level = {}
    for lv, f in fits.items():
        rec = {"degenerate": f.degenerate, "notes": list(f.notes)}
        if f.resolution is not None:
            rec.update(f.resolution.as_dict())
        rec["models"] = {n: {"alpha": None if a != a else float(a), "effective_dof": float(d),
                             "below_resolution": bool(b) if a == a and not f.degenerate else None}
                         for n, a, d, b in zip(f.names, f.alphas, f.effective_dof, f.below_resolution)}
        if lv in checks:
            rec["train_r2_check"] = checks[lv]
        per_level[str(lv)] = rec
    res = resolution(eigen)
    scale = {"noise_level": 1.0, "median_pixel_mean_error": float(np.median(eigen.x_mean)),
             **res.as_dict(), "input_roundoff": eigen.input_roundoff, "gram_error": GRAM_ERROR,
             "eigen_rel_accuracy": EIGEN_REL_ACCURACY, "ols_sensitivity": sensitivity}
    return per_level, scale
