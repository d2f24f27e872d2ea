"""Checks on the linear family's numbers: the train R² of the predictions against the statistics,
the OLS truncation path, and the per-level linear record of summary.json (pure, no I/O)."""

from __future__ import annotations

import numpy as np

from daudit.core.errors import DauditInternalError
from daudit.models.linear import EIGEN_REL_ACCURACY, GRAM_ERROR, resolution
from daudit.models.resolution import path_name

__all__ = ["check_train_r2", "ols_path_summary", "linear_summary", "TRAIN_R2_TOLERANCE", "OLS_STABLE_TOLERANCE"]

# |train R2 of the predictions - train R2 from the statistics| above this (i.e. RSS differing by
# more than 1e-6 of the train TSS) is a bug: the statistics agree to ~1e-7 by construction.
TRAIN_R2_TOLERANCE = 1e-6
# OLS test R2 moving by more than this along its truncation path: the number is set by the cut-off.
OLS_STABLE_TOLERANCE = 0.01


def check_train_r2(level: float, names, r2_pred, r2_stats, *, tol=TRAIN_R2_TOLERANCE) -> dict:
    """Compare the train R2 of the predictions with the one from the sufficient statistics.

    ``tol``: a number or one per model (`LinearFamilyFit.train_r2_tolerance`: a fit on directions
    down to eigenvalue t of a Gram known to eps64 mu_max agrees only to about eps64 mu_max / t).
    Returns {"max_abs_diff": float, "max_ratio_to_tolerance": float, "tolerance": the smallest}.
    Raises `DauditInternalError` when one differs by more than its tolerance (R2 units, i.e.
    relative to the train TSS): the reported coefficients would not be the model the statistics
    describe. The reported numbers are always the predictions'.
    """
    diff = np.abs(np.asarray(r2_pred, dtype=np.float64) - np.asarray(r2_stats, dtype=np.float64))
    tols = np.broadcast_to(np.asarray(tol, dtype=np.float64), diff.shape)
    worst = float(np.max(diff)) if diff.size else 0.0
    ratio = diff / tols
    if not bool(np.all(ratio <= 1.0)):
        i = int(np.nanargmax(np.where(np.isfinite(ratio), ratio, np.inf)))
        raise DauditInternalError(
            f"noise level {level:g}, {names[i]}: train R2 of the predictions {float(r2_pred[i]):.9g} differs from "
            f"the statistics' {float(r2_stats[i]):.9g} by {float(diff[i]):.3g} > {float(tols[i]):.3g}; this is a bug "
            "in daudit")
    return {"max_abs_diff": worst, "max_ratio_to_tolerance": float(np.max(ratio)) if ratio.size else 0.0,
            "tolerance": float(np.min(tols)) if tols.size else float(TRAIN_R2_TOLERANCE)}


def ols_path_summary(rows, resolution, level: float, *, tol: float = OLS_STABLE_TOLERANCE) -> dict | None:
    """The OLS truncation path at noise level ``level`` from its metrics rows (every step is a model).

    rows : metrics rows (dicts); resolution : the level's `Resolution` (its ``path``).
    Returns {"models": [{model, factor, threshold, resolved_rank, train_r2, val_r2, test_r2}, ...]
    from the floor up, "n_dropped_directions" (between the floor and the top), "max_abs_change_test_r2"
    (against ``OLS``), "tolerance", "stable"}; None when the level has no path.
    """
    if resolution is None or not resolution.path:
        return None
    by_name = {r["model"]: r for r in rows if float(r["noise_level"]) == float(level)}
    steps = []
    for f, t, rank in resolution.path:
        r = by_name.get(path_name(f))
        if r is None:
            return None
        steps.append({"model": r["model"], "factor": float(f), "threshold": float(t), "resolved_rank": int(rank),
                      **{f"{s}_r2": r[f"{s}_r2"] for s in ("train", "val", "test")}})
    base = steps[0]["test_r2"]
    change = max(abs(s["test_r2"] - base) for s in steps)
    return {"models": steps, "n_dropped_directions": steps[0]["resolved_rank"] - steps[-1]["resolved_rank"],
            "max_abs_change_test_r2": float(change), "tolerance": tol, "stable": bool(change <= tol)}


def linear_summary(fits: dict, eigen, checks: dict, path: dict | None) -> tuple[dict, dict]:
    """summary["linear"] (per noise level) and summary["linear_scale"] (the input's scale).

    fits : {level: LinearFamilyFit}; eigen : GramEigen of the unscaled train input;
    checks : {level: `check_train_r2` result}; path : `ols_path_summary` result or None.
    """
    per_level = {}
    for lv, f in fits.items():
        rec = {"degenerate": f.degenerate, "notes": list(f.notes)}
        if f.resolution is not None:
            rec.update(f.resolution.as_dict())
        rec["models"] = {n: {"alpha": None if a != a else float(a), "effective_dof": float(d),
                             "below_resolution": bool(b) if a == a and not f.degenerate else None,
                             "resolved_rank": int(r)}
                         for n, a, d, b, r in zip(f.names, f.alphas, f.effective_dof, f.below_resolution, f.ranks)}
        if lv in checks:
            rec["train_r2_check"] = checks[lv]
        per_level[str(lv)] = rec
    res = resolution(eigen)
    scale = {"noise_level": 1.0, "median_pixel_mean_error": float(np.median(eigen.x_mean)),
             **res.as_dict(), "input_roundoff": eigen.input_roundoff, "gram_error": GRAM_ERROR,
             "eigen_rel_accuracy": EIGEN_REL_ACCURACY, "ols_path": path}
    return per_level, scale
