"""The gate's evidence in ``summary["sanity"]``: permutation nulls, bootstrap intervals, Gate-1, SNR.

`daudit.checks.assemble` calls these on a finished `CheckRun`: the label-permutation p-values of
every model (and the family-wise p of the best linear model), every model's test R2 on the gate
generator's paired bootstrap resamples and their intervals, the Gate-1 record with the
selection-aware interval of the maximum, and the best model's R2 by SNR. Pure numpy; non-finite
numbers are stored as None (`_f`, which `assemble` shares).
"""

from __future__ import annotations

import math

import numpy as np

from daudit.checks.bootstrap import r2_in_bins
from daudit.checks.lgbm_refits import NULL_SPLIT
from daudit.checks.permutation import p_value
from daudit.models.metrics import (
    bootstrap_r2_scores,
    percentile_interval,
    r2,
    r2_from_rss,
    total_sum_of_squares,
)
from daudit.models.selection import (
    GATE_THRESHOLD,
    best_by_val,
    best_rows,
    gate_candidates,
    interval_of_max,
    max_null,
    select_by_val,
)

# what `daudit.checks.assemble` uses (it re-exports gate_rng, THRESHOLD and GATE_STREAM)
__all__ = ["gate_rng", "THRESHOLD", "GATE_STREAM", "_f", "_permutation", "_test_scores", "_all_ci", "_gate", "_snr"]

THRESHOLD = GATE_THRESHOLD  # Gate-1: PASS when the best test R2 < 0.05 (one constant, models.selection)
GATE_STREAM = (4, 1)  # spawn key of the gate's bootstrap generator (the checks' stream is (4,))


def gate_rng(seed: int) -> np.random.Generator:
    """The generator of the test-set bootstrap (every model's interval and the gate's), from the spec seed.

    Its own stream, so that the resamples do not depend on how many draws the other checks made.
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=GATE_STREAM))


def _f(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _null_stats(observed, null):
    null = np.asarray(null, dtype=np.float64)
    return {"observed_test_r2": _f(observed), "p_value": p_value(observed, null), "null_mean": _f(null.mean()),
            "null_std": _f(null.std()), "null_q95": _f(np.quantile(null, 0.95)), "null_max": _f(null.max())}


def _familywise(keys, rows, nulls, k: int) -> dict:
    """p-value of the best linear test R² against the best of each permutation's linear fits."""
    obs = np.array([_finite(rows[key]["test_r2"]) for key in keys])
    null_max = max_null(np.column_stack([nulls[key] for key in keys]))
    best = int(np.argmax(obs))
    return {"statistic": "maximum test R2 over the linear models at every noise level > 0",
            "n_models": len(keys), "n_permutations": int(k), "observed_max": _f(obs[best]),
            "observed_model": f"L={keys[best][0]:g} {keys[best][1]}",
            "p_value": p_value(obs[best], null_max), "min_p_value": 1.0 / (k + 1),
            "null_mean": _f(null_max.mean()), "null_q95": _f(np.quantile(null_max, 0.95)),
            "null_max": [float(v) for v in null_max]}


def _finite(x):
    x = _f(x)
    return -np.inf if x is None else x


def _permutation(ctx, run):
    yt = run.y["test"]
    k = run.n_perm_linear
    out = {"method": "permutation_test_score: refit on permuted train labels, score on test; "
                     "p = (C + 1) / (n_permutations + 1)", "split": NULL_SPLIT,
           "linear": {"n_permutations": int(k), "min_p_value": 1.0 / (k + 1), "models": {}}}
    rows = {(float(r["noise_level"]), r["model"]): r for r in ctx.metrics}
    if run.eval.perm_rss is not None and k:
        # the permuted fits' columns: level by level, model by model, k permutations each
        flat = r2_from_rss(run.eval.perm_rss, total_sum_of_squares(yt))
        keys = [(float(lv), n) for lv in run.levels for n in ctx.fits[lv].names]
        nulls = {key: flat[i * k:(i + 1) * k] for i, key in enumerate(keys)}
        for (lv, n), null in nulls.items():
            out["linear"]["models"][f"L={lv:g} {n}"] = {"noise_level": lv, "model": n,
                                                        **_null_stats(rows[(lv, n)]["test_r2"], null)}
        out["linear"]["familywise"] = _familywise(keys, rows, nulls, k)
        prim = best_by_val(ctx.metrics, level=run.ref)
        out["linear"]["figure_model"] = f"L={run.ref:g} {prim}"
        out["linear"]["figure_null"] = [float(v) for v in nulls[(float(run.ref), prim)]]
    if run.eval.layout.has_booster("real", "permutation_reference"):
        obs = r2(yt, run.eval.booster("test", "real", "permutation_reference"))
        null = [r2(yt, run.eval.booster("test", "real", f"permutation_{i}")) for i in range(len(run.perm_boosters))]
        out["lightgbm"] = {"n_permutations": len(null), "n_train_rows": run.lgbm_rows.get("permutation"),
                           "min_p_value": 1.0 / (len(null) + 1), **_null_stats(obs, null),
                           "at_resolution": bool(p_value(obs, null) <= 1.0 / (len(null) + 1)),
                           "null": [float(v) for v in null],
                           "note": "observed = the same LightGBM refitted on the same subsample with the true labels"}
    return out


def _test_scores(ctx, test, yt, n):
    """(keys, scores (n, m)): every model's test R² on the gate generator's resamples (paired)."""
    keys = [(float(r["noise_level"]), r["model"]) for r in ctx.metrics if (float(r["noise_level"]), r["model"]) in test]
    if not keys:
        return keys, np.empty((0, 0))
    return keys, bootstrap_r2_scores(yt, np.column_stack([test[k] for k in keys]), n, gate_rng(ctx.spec.seed))


def _all_ci(keys, scores, test, yt):
    ci = percentile_interval(scores) if keys else []
    return {f"L={lv:g} {m}": {"noise_level": lv, "model": m, "test_r2": _f(r2(yt, test[(lv, m)])),
                              "ci95": [_f(ci[i, 0]), _f(ci[i, 1])]} for i, (lv, m) in enumerate(keys)}


def _gate(ctx, keys, scores, out) -> dict:
    """Gate-1's evidence: the selection-aware interval, the val-selected model, the nulls.

    No verdict here: `daudit.models.selection.decide_gate` decides it (with the spec's rule and
    the input checks) when the summary is built.
    """
    best = best_rows(ctx.metrics)["best"]
    cand = {(float(r["noise_level"]), r["model"]) for r in gate_candidates(ctx.metrics)}
    cols = [i for i, key in enumerate(keys) if key in cand]
    lo, hi = interval_of_max(scores[:, cols]) if cols else (float("nan"), float("nan"))
    ci = out["bootstrap"]["test_r2_ci95"]
    one = (ci.get(f"L={best['noise_level']:g} {best['model']}") or {}).get("ci95")
    vs = select_by_val(ctx.metrics)
    lin = out["permutation"]["linear"].get("familywise") or {}
    lg = out["permutation"].get("lightgbm") or {}
    ok = _f(lo) is not None and _f(hi) is not None
    return {"best_model": best["model"], "best_noise_level": float(best["noise_level"]),
            "best_test_r2": _f(best["test_r2"]),
            "ci95": [_f(lo), _f(hi)] if ok else None,
            "ci95_method": (f"percentile bootstrap of the maximum test R2 over {len(cols)} models, the best "
                            f"re-selected in each of {scores.shape[0]} resamples (predictions fixed)"),
            "n_candidates": len(cols), "ci95_best_model": one,
            "val_selected": None if vs is None else {
                "model": vs["model"], "noise_level": float(vs["noise_level"]), "val_r2": _f(vs["val_r2"]),
                "test_r2": _f(vs["test_r2"]),
                "ci95": (ci.get(f"L={vs['noise_level']:g} {vs['model']}") or {}).get("ci95")},
            "p_value_familywise": lin.get("p_value"), "familywise_n_models": lin.get("n_models"),
            "familywise_n_permutations": lin.get("n_permutations"), "familywise_min_p_value": lin.get("min_p_value"),
            "lightgbm_p_value": lg.get("p_value"), "lightgbm_n_permutations": lg.get("n_permutations"),
            "lightgbm_min_p_value": lg.get("min_p_value")}


def _snr(ctx, s, best, test, yt):
    lab = ctx.splits["test"].labels
    key = (float(best["noise_level"]), best["model"])
    if "snr" not in lab.columns or key not in test:
        return {"skipped": "no snr column in the params table" if "snr" not in lab.columns else "no predictions"}
    snr = lab["snr"].to_numpy(dtype=np.float64)
    edges = [float(e) for e in s.snr_bins]
    labels = [f"<={edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f">{edges[-1]:g}"]
    q = [float(v) for v in np.quantile(snr, [0.25, 0.5, 0.75])]
    return {"model": best["model"], "noise_level": float(best["noise_level"]),
            "bins": r2_in_bins(yt, test[key], snr, edges, labels),
            "quartiles": r2_in_bins(yt, test[key], snr, q, ["Q1", "Q2", "Q3", "Q4"])}