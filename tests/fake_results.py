"""Realistic fake results of a finished LOGG-ERR-BASE-01 audit, following docs/internals.md.

Numbers are drawn with numpy from a seed; they mimic what the pipeline writes: 3 noise levels x
8 models (OLS, 6 Ridge alphas, LightGBM), level 0 degenerate (input identically zero), OLS and
LightGBM identical at every level > 0 (scale invariance), Ridge(alpha) at level L behaving like
Ridge(alpha / L**2) at level 1.
"""

__all__ = [
    "ALPHAS",
    "NOISE_LEVELS",
    "EXPERIMENT_ID",
    "make_fake_importance",
    "make_fake_metrics_frame",
    "make_fake_summary",
]

import json

import numpy as np
import pandas as pd

from daudit.output.report import DEFAULT_LINES, leakage_degree

EXPERIMENT_ID = "LOGG-ERR-BASE-01"
NOISE_LEVELS = (0.0, 0.5, 1.0)
ALPHAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
N_PIXELS = 4096
WAVE_RANGE = (7100.0, 8850.0)  # PFS medium-resolution arm, Angstrom
SD_LOGG = 1.12  # spread of log_g in the fake sample (dex)
SPLIT_ROWS = {"train": 100_000, "val": 10_000, "test": 10_000}
METRIC_COLUMNS = [
    "noise_level", "model", "alpha", "train_r2", "train_mae", "train_rmse", "val_r2", "val_mae",
    "val_rmse", "test_r2", "test_mae", "test_rmse", "fit_seconds", "degenerate",
]
_LEAK = {  # (linear signal R2, LightGBM R2, OLS test penalty from overfitting)
    "PASS": (0.012, 0.021, 0.046),
    "FAIL": (0.31, 0.58, 0.038),
}


def _model_names(alphas=ALPHAS):
    return ["OLS"] + [f"Ridge_{a:g}" for a in alphas] + ["LightGBM"]


def _errors(r2, rng):
    rmse = SD_LOGG * np.sqrt(max(1.0 - r2, 1e-6)) * (1 + rng.normal(0, 0.002))
    return 0.79 * rmse * (1 + rng.normal(0, 0.004)), rmse


def make_fake_metrics_frame(*, seed=0, verdict="PASS", ols_test_r2=None, noise_levels=NOISE_LEVELS,
                            alphas=ALPHAS):
    """metrics.csv as a DataFrame: one row per (noise_level, model).

    Parameters
    ----------
    seed : int
    verdict : {"PASS", "FAIL"}
        Chooses the amount of leakage (best test R2 below or above 0.05).
    ols_test_r2 : float, optional
        Force the OLS test R2 at every level > 0 (e.g. -0.31 to exercise axis clipping).

    Returns
    -------
    pandas.DataFrame, shape (len(noise_levels) * (len(alphas) + 2), 14)
    """
    rng = np.random.default_rng(seed)
    lin, lgb, penalty = _LEAK[verdict]
    p_over_n = N_PIXELS / SPLIT_ROWS["train"]
    rows = []
    # fits that do not depend on the level (> 0) are drawn once
    ols = {"train": lin + p_over_n, "val": lin - penalty + rng.normal(0, 0.004),
           "test": lin - penalty + rng.normal(0, 0.004)}
    if ols_test_r2 is not None:
        ols["test"], ols["val"] = ols_test_r2, ols_test_r2 + 0.02
    boost = {"train": lgb + 0.07, "val": lgb + rng.normal(0, 0.003), "test": lgb + rng.normal(0, 0.003)}
    boost_seconds = float(rng.uniform(300, 500))
    intercept = {"train": 0.0, "val": -float(rng.uniform(1e-5, 3e-4)), "test": -float(rng.uniform(1e-5, 3e-4))}
    for level in noise_levels:
        for name in _model_names(alphas):
            alpha = float(name.split("_")[1]) if name.startswith("Ridge") else np.nan
            if level == 0:
                r2 = intercept
            elif name == "OLS":
                r2 = ols
            elif name == "LightGBM":
                r2 = boost
            else:
                a_eff = alpha / level**2
                shrink, over = 1.0 / (1.0 + a_eff / 300.0), 1.0 / (1.0 + a_eff / 0.05)
                r2 = {"train": lin * shrink + p_over_n * over,
                      "val": lin * shrink - penalty * over + rng.normal(0, 0.002),
                      "test": lin * shrink - penalty * over + rng.normal(0, 0.002)}
            row = {"noise_level": float(level), "model": name, "alpha": alpha}
            for split in ("train", "val", "test"):
                mae, rmse = _errors(r2[split], rng)
                row.update({f"{split}_r2": float(r2[split]), f"{split}_mae": float(mae),
                            f"{split}_rmse": float(rmse)})
            row["fit_seconds"] = boost_seconds if name == "LightGBM" else float(rng.uniform(0.01, 2.0))
            row["degenerate"] = bool(level == 0)
            rows.append(row)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def make_fake_importance(*, seed=0, verdict="PASS", n_pixels=N_PIXELS, alphas=ALPHAS):
    """importance.csv as arrays.

    Returns
    -------
    wave : ndarray, shape (n_pixels,)
        Angstrom.
    mean_error : ndarray, shape (n_pixels,)
        Mean error spectrum (flux units): continuum, sky-line spikes, dips at stellar lines.
    importance : dict of str -> ndarray, shape (n_pixels,)
        ``<model>_abs_coef``, ``<model>_abs_coef_x_std`` for OLS and Ridge, and ``LightGBM_gain``.
    """
    rng = np.random.default_rng(seed + 1)
    wave = np.linspace(*WAVE_RANGE, n_pixels)
    mean_error = 0.021 + 0.004 * (wave - wave[0]) / (wave[-1] - wave[0])
    for centre in rng.uniform(*WAVE_RANGE, 60):  # OH sky lines
        mean_error += rng.uniform(0.005, 0.05) * np.exp(-0.5 * ((wave - centre) / 0.8) ** 2)
    line_profile = np.zeros(n_pixels)
    for _, centre in DEFAULT_LINES:
        depth = 0.5 if centre > 8400 else 0.25
        line_profile += depth * np.exp(-0.5 * ((wave - centre) / 1.5) ** 2)
    line_profile[line_profile < 1e-4] = 0.0
    mean_error *= 1 - 0.3 * line_profile
    strength = 60.0 if verdict == "FAIL" else 6.0
    gain = rng.gamma(0.6, 20.0, n_pixels) * (rng.random(n_pixels) > 0.35)
    gain += strength * 20.0 * line_profile * rng.uniform(0.5, 1.5, n_pixels)
    importance = {}
    std = mean_error * rng.uniform(0.2, 0.4, n_pixels)
    for name in _model_names(alphas)[:-1]:
        shrink = 1.0 if name == "OLS" else 1.0 / (1.0 + float(name.split("_")[1]))
        coef = np.abs(rng.normal(0, 3.0, n_pixels) + strength * line_profile) * shrink
        importance[f"{name}_abs_coef"] = coef
        importance[f"{name}_abs_coef_x_std"] = coef * std
    importance["LightGBM_gain"] = gain
    return wave, mean_error, importance


def _record(row):
    return {k: float(row[k]) for k in ("train_r2", "val_r2", "test_r2", "test_mae", "test_rmse")} | {
        "model": str(row["model"]), "noise_level": float(row["noise_level"])}


def _fake_linear(rng, metrics, ols_cutoff):
    """summary["linear"] and summary["linear_scale"]: floor, path, ranks, dof, the Ridge bound.

    ols_cutoff : "stable" (the OLS path's test R2 moves < 0.01) or "driven" (it moves by 0.37).
    """
    lam_max, p = 1.24e7, N_PIXELS
    eig = lam_max * np.logspace(0, -16, p)
    mu = 0.9 * p * np.logspace(0, -14, p)
    floor = 16 * 2.0**-52 * mu[0]
    path = [{"model": "OLS" if k == 0 else f"OLS_x{10.0**k:g}", "factor": 10.0**k, "threshold": floor * 10.0**k,
             "resolved_rank": int(np.sum(mu > floor * 10.0**k))} for k in range(6)]
    per_level = {}
    for level in NOISE_LEVELS:
        names = _model_names()[:-1]
        if level == 0:
            per_level[str(level)] = {"degenerate": True, "notes": [], "models": {
                n: {"alpha": None if n == "OLS" else float(n.split("_")[1]), "effective_dof": 0.0,
                    "below_resolution": None, "resolved_rank": 0} for n in names}}
            continue
        lam = eig * level**2
        bound = 16 * 2.0**-52 * lam[0] / 1e-5
        models = {"OLS": {"alpha": None, "effective_dof": float(path[0]["resolved_rank"]), "below_resolution": None,
                          "resolved_rank": path[0]["resolved_rank"]}}
        for a in ALPHAS:
            models[f"Ridge_{a:g}"] = {"alpha": a, "effective_dof": float(np.sum(lam / (lam + a))),
                                      "below_resolution": bool(a < bound), "resolved_rank": p}
        per_level[str(level)] = {"degenerate": False, "notes": [], "threshold": floor, "data_term": 3e-13,
                                 "gram_term": floor, "lambda_max": float(mu[0]), "resolved_rank": path[0]["resolved_rank"],
                                 "rounding_rank": int(np.sum(mu > 3e-13)), "n_directions": p,
                                 "previous_threshold": path[-1]["threshold"],
                                 "previous_rank": path[-1]["resolved_rank"], "ridge_lambda_max": float(lam[0]),
                                 "ridge_accuracy_alpha": bound, "path": path, "models": models,
                                 "train_r2_check": {"max_abs_diff": 3e-9, "max_ratio_to_tolerance": 0.003,
                                                    "tolerance": 1e-6}}
    ols = metrics[(metrics.model == "OLS") & (metrics.noise_level > 0)].iloc[0]
    move = 0.004 if ols_cutoff == "stable" else 0.37
    steps = [{**step, "train_r2": float(ols.train_r2) - 0.001 * k, "val_r2": float(ols.val_r2) - move * k / 5,
              "test_r2": float(ols.test_r2) - move * k / 5} for k, step in enumerate(path)]
    ols_path = {"models": steps, "n_dropped_directions": path[0]["resolved_rank"] - path[-1]["resolved_rank"],
                "max_abs_change_test_r2": move, "tolerance": 0.01, "stable": ols_cutoff == "stable"}
    scale = {"noise_level": 1.0, "median_pixel_mean_error": float(rng.uniform(0.02, 0.03)),
             **{k: v for k, v in per_level["1.0"].items() if k not in ("degenerate", "notes", "models",
                                                                        "train_r2_check")},
             "input_roundoff": 2.0**-24, "gram_error": 16.0, "eigen_rel_accuracy": 1e-5, "ols_path": ols_path}
    return per_level, scale


def make_fake_summary(*, seed=0, verdict="PASS", sanity=False, author=None, ols_test_r2=None,
                      top_k=40, borderline=False, ols_cutoff=None):
    """A summary.json dict of a finished run (JSON round-tripped, so only plain types).

    Parameters
    ----------
    seed : int
    verdict : {"PASS", "FAIL"}
    sanity : bool
        Include a ``sanity`` section of the current schema (`make_fake_sanity`; absent by default: the
        checks switched off), and the evidence the checks add to the gate.
    author : str, optional
        Put into ``spec["author"]``.
    ols_test_r2 : float, optional
        See `make_fake_metrics_frame`.
    top_k : int
    borderline : bool
        Mark the gate as borderline and give a 95% interval.
    ols_cutoff : {None, "stable", "driven"}
        Add ``linear`` / ``linear_scale`` (issue 14) with an OLS that is stable under the
        threshold x0.1 / x10, or one whose test R2 is set by the cut-off. None: absent (older runs).

    Returns
    -------
    dict
    """
    metrics = make_fake_metrics_frame(seed=seed, verdict=verdict, ols_test_r2=ols_test_r2)
    wave, mean_error, importance = make_fake_importance(seed=seed, verdict=verdict)
    rng = np.random.default_rng(seed + 2)
    positive = metrics[metrics.noise_level > 0]
    best = positive.loc[positive.test_r2.idxmax()]
    ridge = positive[positive.model.str.startswith("Ridge")]
    best_ridge = ridge.loc[ridge.test_r2.idxmax()]
    lgb = positive[positive.model == "LightGBM"]
    best_lgb = lgb.loc[lgb.test_r2.idxmax()]
    threshold = 0.05
    best_r2 = float(best.test_r2)
    models = {}
    for name, values in importance.items():
        order = np.argsort(values)[::-1]
        kind = "gain" if name.endswith("gain") else ("abs_coef_x_std" if name.endswith("x_std") else "abs_coef")
        models[name] = {
            "kind": kind,
            "top_k_share": float(values[order[:top_k]].sum() / values.sum()),
            "top_pixels": [{"rank": r + 1, "pixel": int(p), "wavelength": float(wave[p]),
                            "importance": float(values[p])} for r, p in enumerate(order[:top_k])],
        }
    splits = {}
    for split, n_rows in SPLIT_ROWS.items():
        splits[split] = {"paths": [f"data_cache/demo/{split}.h5"], "n_rows": n_rows,
                         "n_nan_filled": int(rng.integers(0, 50) * n_rows // 1000),
                         "n_nonfinite_after_fill": 0, "n_nonpositive": int(rng.integers(0, 5))}
    stem = EXPERIMENT_ID.lower().replace("-", "_")
    spec = {"experiment_id": EXPERIMENT_ID, "param": "log_g", "input": "error",
            "noise_levels": list(NOISE_LEVELS), "alphas": list(ALPHAS), "top_k": top_k, "seed": seed}
    if author:
        spec["author"] = author
    summary = {
        "daudit_version": "0.1.0", "experiment_id": EXPERIMENT_ID, "status": "finished",
        "started_utc": "2025-12-26T09:12:03Z", "finished_utc": "2025-12-26T09:31:47Z",
        "date": "2025-12-26", "spec": spec,
        "data": {"source": "data_cache/demo", "param": "log_g", "input": "error", "n_pixels": N_PIXELS,
                 "wave_min": float(wave[0]), "wave_max": float(wave[-1]), "splits": splits},
        "noise_levels": list(NOISE_LEVELS), "alphas": list(ALPHAS),
        "metrics": [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                    for row in metrics.to_dict(orient="records")],
        "lightgbm": {"n_train_rows_used": SPLIT_ROWS["train"], "n_train_rows": SPLIT_ROWS["train"],
                     "subsampled": False,
                     "reason": "all training rows fit in the memory budget; one fit serves every L > 0",
                     "params": {"num_leaves": 63, "learning_rate": 0.05, "n_estimators": 500,
                                "min_child_samples": 20, "feature_fraction": 0.8, "seed": seed},
                     "fit_seconds": float(best_lgb_seconds(metrics))},
        "best": _record(best), "best_ridge": _record(best_ridge), "best_lightgbm": _record(best_lgb),
        "gate": {"name": "Gate-1", "threshold": threshold, "best_test_r2": best_r2,
                 "best_model": str(best.model), "verdict": "PASS" if best_r2 < threshold else "FAIL",
                 "borderline": bool(borderline),
                 "ci95": [best_r2 - 0.0061, best_r2 + 0.0058] if borderline else None,
                 "leakage_degree": leakage_degree(best_r2)},
        "importance": {"reference_noise_level": max(NOISE_LEVELS), "top_k": top_k,
                       "primary": "LightGBM_gain", "models": models},
        "timings": {"total_seconds": 1184.2, "stages": {"gram": 301.5, "linear": 12.4, "lightgbm": 812.9}},
        "versions": {"numpy": np.__version__, "pandas": pd.__version__},
        "outputs": {"report": "report.md", "metrics": "metrics.csv", "importance": "importance.csv",
                    "log": "run.log",
                    "figures": {key: f"img/{stem}_{key}.png"
                                for key in ("r2_models", "importance_spectrum", "importance_hist")}},
    }
    if ols_cutoff is not None:
        summary["linear"], summary["linear_scale"] = _fake_linear(rng, metrics, ols_cutoff)
    if sanity:
        summary["sanity"] = make_fake_sanity(summary, rng)
        summary["gate"].update(summary["sanity"]["gate"])  # as the pipeline merges the evidence
    return json.loads(json.dumps(summary))


def _check_record(model, r2, rng, **extra):
    lo, hi = r2 - abs(rng.normal(0, 0.01)), r2 + abs(rng.normal(0, 0.01))
    return {"model": model, "val_r2": r2, "test_r2": r2, "test_ci95": [lo, hi], **extra}


def make_fake_sanity(summary, rng) -> dict:
    """A small ``sanity`` block of the current schema (`daudit.core.schema_sanity.SanityChecks`) for
    ``summary``: the original models, a wavelength shuffle, a mask-only check, no permutations."""
    from daudit.core.schema_sanity import Sanity
    from daudit.core.typecheck import validate

    best, ridge, lgb = summary["best"], summary["best_ridge"], summary["best_lightgbm"]
    ref = float(max(NOISE_LEVELS))
    original = {"models": {ridge["model"]: {"val_r2": ridge["val_r2"], "test_r2": ridge["test_r2"]}},
                "best_ridge": _check_record(ridge["model"], ridge["test_r2"], rng, noise_level=ref),
                "LightGBM": _check_record("LightGBM", lgb["test_r2"], rng, noise_level=ref, n_train_rows=20000)}
    shuffled = _check_record(ridge["model"], float(rng.normal(0, 0.002)), rng)
    mask = _check_record("LightGBM", float(rng.normal(0.001, 0.001)), rng, n_train_rows=20000)
    ci = {f"L={float(r['noise_level']):g} {r['model']}": {"noise_level": float(r["noise_level"]), "model": r["model"],
                                                          "test_r2": r["test_r2"],
                                                          "ci95": [r["test_r2"] - 0.01, r["test_r2"] + 0.01]}
          for r in summary["metrics"] if r["noise_level"] > 0 and r["test_r2"] is not None}
    kinds = {k: {"count": 0, "expected": 0.0, "features": {}} for k in ("stellar", "telluric", "sky", "none")}
    out = {"threshold": 0.05, "effect_tolerance": 0.05, "reference_noise_level": ref, "n_val": SPLIT_ROWS["val"],
           "n_test": SPLIT_ROWS["test"], "original": original,
           "wavelength_shuffle": {"refit": {"best_ridge": shuffled}, "unrefitted": {}, "effect": "collapsed",
                                  "best_refit_test_r2": shuffled["test_r2"],
                                  "original_best_test_r2": best["test_r2"]},
           "group_shuffle": {"effect": "not_run", "skipped": "the params table has no mag and snr columns"},
           "mask_only": {"n_pixels_ever_masked": 12, "n_pixels_used": 10, "masked_fraction": 0.002,
                         "source": "the file's mask array or non-finite or non-positive error", "LightGBM": mask,
                         "effect": "no_leak", "best_test_r2": mask["test_r2"]},
           "permutation": {"method": "permutation_test_score", "split": "test",
                           "linear": {"n_permutations": 0, "min_p_value": 1.0, "models": {}}},
           "bootstrap": {"n_resamples": 1000, "level": 0.95, "method": "percentile, paired over models",
                         "resampling": "rows with replacement", "test_r2_ci95": ci},
           "gate": {"best_model": best["model"], "best_noise_level": float(best["noise_level"]),
                    "best_test_r2": best["test_r2"], "ci95": [best["test_r2"] - 0.0061, best["test_r2"] + 0.0058],
                    "ci95_method": "percentile bootstrap of the maximum", "n_candidates": len(ci),
                    "ci95_best_model": [best["test_r2"] - 0.005, best["test_r2"] + 0.005], "val_selected": None,
                    "p_value_familywise": None, "familywise_n_models": None, "familywise_n_permutations": None,
                    "familywise_min_p_value": None, "lightgbm_p_value": None, "lightgbm_n_permutations": None,
                    "lightgbm_min_p_value": None},
           "snr": {"skipped": "no snr column in the params table"},
           "importance_null": {"level": 0.95, "top_k": 40, "lightgbm": None, "linear": None},
           "localisation": None,
           "variability": {"definition": "std/mean", "threshold": 0.05, "n_pixels": N_PIXELS, "n_above_threshold": 0,
                           "fraction_above_threshold": 0.0, "median_spread": 0.01, "max_spread": 0.02, "top_k": 40,
                           "top_pixels": [], "overlap": {}, "composition": {"n": 0, "kinds": kinds}},
           "timings": {"total": 1.0}}
    out = json.loads(json.dumps(out))
    validate(Sanity, out, "sanity")  # the fake follows the schema
    return out


def best_lgb_seconds(metrics):
    """fit_seconds of the shared LightGBM fit."""
    return metrics.loc[metrics.model == "LightGBM", "fit_seconds"].iloc[-1]
