"""Checks on the linear family's numbers: the train R² of the predictions against the statistics,
OLS at other resolution thresholds, and the per-level linear record of summary.json (pure, no I/O)."""

from __future__ import annotations

import numpy as np

from daudit.core.errors import DauditInternalError
from daudit.models.linear import EIGEN_REL_ACCURACY, GRAM_ERROR, resolution
from daudit.models.metrics import regression_metrics

__all__ = ["check_train_r2", "ols_sensitivity", "linear_summary", "TRAIN_R2_TOLERANCE", "OLS_STABLE_TOLERANCE"]

# |train R2 of the predictions - train R2 from the statistics| above this (i.e. RSS differing by
# more than 1e-6 of the train TSS) is a bug: the statistics agree to ~1e-7 by construction.
TRAIN_R2_TOLERANCE = 1e-6
# OLS test R2 moving by more than this when the threshold is x0.1 or x10: the number is set by the cut-off.
OLS_STABLE_TOLERANCE = 0.01


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


def linear_summary(fits: dict, eigen, checks: dict, sensitivity: dict | None) -> tuple[dict, dict]:
    """summary["linear"] (per noise level) and summary["linear_scale"] (the input's scale).

    fits : {level: LinearFamilyFit}; eigen : GramEigen of the unscaled train input;
    checks : {level: `check_train_r2` result}; sensitivity : `ols_sensitivity` result or None.
    """
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
