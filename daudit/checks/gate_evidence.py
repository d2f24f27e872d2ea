"""The gate's evidence in ``summary["sanity"]``: permutation nulls, bootstrap intervals, Gate-1, SNR.

`daudit.checks.evidence` calls these with plain arrays and the metrics rows: the
label-permutation p-values of every model (and the family-wise p of the best linear model),
every model's test R2 on the gate generator's paired bootstrap resamples and their intervals,
the Gate-1 record with the selection-aware interval of the maximum, and the best model's R2 by
SNR. Pure numpy, testable without a run; non-finite numbers are stored as None
(`daudit.models.metrics.finite_or_none`).
"""

from __future__ import annotations

import numpy as np

from daudit.checks.bootstrap import r2_in_bins
from daudit.checks.lgbm_refits import NULL_SPLIT
from daudit.checks.permutation import p_value
from daudit.models.metrics import (
    bootstrap_r2_scores,
    finite_or_minus_inf,
    finite_or_none,
    percentile_interval,
    r2,
    r2_from_rss,
    total_sum_of_squares,
)
from daudit.models.selection import (
    best_rows,
    gate_candidates,
    interval_of_max,
    max_null,
    select_by_val,
)

__all__ = ["gate_rng", "GATE_STREAM", "null_stats", "familywise", "permutation_evidence",
           "resampled_test_r2", "all_intervals", "gate_record", "snr_record"]

GATE_STREAM = (4, 1)  # spawn key of the gate's bootstrap generator (the checks' stream is (4,))


def gate_rng(seed: int) -> np.random.Generator:
    """The generator of the test-set bootstrap (every model's interval and the gate's), from the spec seed.

    Its own stream, so that the resamples do not depend on how many draws the other checks made.
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=GATE_STREAM))




def null_stats(observed: float, null) -> dict:
    """An observed test R2 against its permutation null (K,): p = (C + 1) / (K + 1), C = #{null >= observed}."""
    null = np.asarray(null, dtype=np.float64)
    return {"observed_test_r2": finite_or_none(observed), "p_value": p_value(observed, null), "null_mean": finite_or_none(null.mean()),
            "null_std": finite_or_none(null.std()), "null_q95": finite_or_none(np.quantile(null, 0.95)), "null_max": finite_or_none(null.max())}


def familywise(observed: dict, nulls: dict, k: int) -> dict:
    """p-value of the best linear test R² against the best of each permutation's linear fits.

    observed: {(level, model): test R2}; nulls: {(level, model): (K,) null test R2}, same keys."""
    keys = list(observed)
    obs = np.array([finite_or_minus_inf(observed[key]) for key in keys])
    null_max = max_null(np.column_stack([nulls[key] for key in keys]))
    best = int(np.argmax(obs))
    return {"statistic": "maximum test R2 over the linear models at every noise level > 0",
            "n_models": len(keys), "n_permutations": int(k), "observed_max": finite_or_none(obs[best]),
            "observed_model": f"L={keys[best][0]:g} {keys[best][1]}",
            "p_value": p_value(obs[best], null_max), "min_p_value": 1.0 / (k + 1),
            "null_mean": finite_or_none(null_max.mean()), "null_q95": finite_or_none(np.quantile(null_max, 0.95)),
            "null_max": [float(v) for v in null_max]}


def permutation_evidence(y_test: np.ndarray, observed: dict, perm_rss: np.ndarray | None, k: int, *,
                         figure_key=None, lightgbm=None) -> dict:
    """``sanity["permutation"]``: every permuted linear model's null and the family-wise p; LightGBM's null.

    y_test (n,); observed: {(level, model): observed test R2} in the permuted fits' column order
    (level by level, model by model); perm_rss (len(observed) * K,) their test RSS, K = ``k``
    permutations each (None: no linear null); figure_key: the (level, model) whose null the
    figure draws; lightgbm: (observed test predictions (n,), [null test predictions (n,)],
    train rows) or None.
    """
    out = {"method": "permutation_test_score: refit on permuted train labels, score on test; "
                     "p = (C + 1) / (n_permutations + 1)", "split": NULL_SPLIT,
           "linear": {"n_permutations": int(k), "min_p_value": 1.0 / (k + 1), "models": {}}}
    if perm_rss is not None and k:
        flat = r2_from_rss(perm_rss, total_sum_of_squares(y_test))
        nulls = {key: flat[i * k:(i + 1) * k] for i, key in enumerate(observed)}
        for (lv, n), null in nulls.items():
            out["linear"]["models"][f"L={lv:g} {n}"] = {"noise_level": lv, "model": n,
                                                        **null_stats(observed[(lv, n)], null)}
        out["linear"]["familywise"] = familywise(observed, nulls, k)
        out["linear"]["figure_model"] = f"L={figure_key[0]:g} {figure_key[1]}"
        out["linear"]["figure_null"] = [float(v) for v in nulls[figure_key]]
    if lightgbm is not None:
        obs_pred, null_preds, n_rows = lightgbm
        obs = r2(y_test, obs_pred)
        null = [r2(y_test, p) for p in null_preds]
        out["lightgbm"] = {"n_permutations": len(null), "n_train_rows": n_rows,
                           "min_p_value": 1.0 / (len(null) + 1), **null_stats(obs, null),
                           "at_resolution": bool(p_value(obs, null) <= 1.0 / (len(null) + 1)),
                           "null": [float(v) for v in null],
                           "note": "observed = the same LightGBM refitted on the same subsample with the true labels"}
    return out


def resampled_test_r2(y_test: np.ndarray, preds: list, n_resamples: int, seed: int) -> np.ndarray:
    """Test R² of each prediction (m arrays (n,)) on the gate generator's ``n_resamples`` paired
    resamples (`gate_rng`): (n_resamples, m); (0, 0) without predictions."""
    if not preds:
        return np.empty((0, 0))
    return bootstrap_r2_scores(y_test, np.column_stack(preds), n_resamples, gate_rng(seed))


def all_intervals(keys: list, scores: np.ndarray, test: dict, yt: np.ndarray) -> dict:
    """{"L=<level> <model>": test R2 and its 95% percentile interval over the resampled ``scores``}."""
    ci = percentile_interval(scores) if keys else []
    return {f"L={lv:g} {m}": {"noise_level": lv, "model": m, "test_r2": finite_or_none(r2(yt, test[(lv, m)])),
                              "ci95": [finite_or_none(ci[i, 0]), finite_or_none(ci[i, 1])]} for i, (lv, m) in enumerate(keys)}


def gate_record(metrics: list, keys: list, scores: np.ndarray, ci: dict, permutation: dict) -> dict:
    """Gate-1's evidence: the selection-aware interval, the val-selected model, the nulls.

    metrics: the metrics.csv rows; keys, scores: `resampled_test_r2` of those (level, model); ci:
    `all_intervals`; permutation: `permutation_evidence`. No verdict here:
    `daudit.models.selection.decide_gate` decides it (with the spec's rule and the input checks)
    when the summary is built.
    """
    best = best_rows(metrics)["best"]
    cand = {(float(r["noise_level"]), r["model"]) for r in gate_candidates(metrics)}
    cols = [i for i, key in enumerate(keys) if key in cand]
    lo, hi = interval_of_max(scores[:, cols]) if cols else (float("nan"), float("nan"))
    one = (ci.get(f"L={best['noise_level']:g} {best['model']}") or {}).get("ci95")
    vs = select_by_val(metrics)
    lin = permutation["linear"].get("familywise") or {}
    lg = permutation.get("lightgbm") or {}
    ok = finite_or_none(lo) is not None and finite_or_none(hi) is not None
    return {"best_model": best["model"], "best_noise_level": float(best["noise_level"]),
            "best_test_r2": finite_or_none(best["test_r2"]),
            "ci95": [finite_or_none(lo), finite_or_none(hi)] if ok else None,
            "ci95_method": (f"percentile bootstrap of the maximum test R2 over {len(cols)} models, the best "
                            f"re-selected in each of {scores.shape[0]} resamples (predictions fixed)"),
            "n_candidates": len(cols), "ci95_best_model": one,
            "val_selected": None if vs is None else {
                "model": vs["model"], "noise_level": float(vs["noise_level"]), "val_r2": finite_or_none(vs["val_r2"]),
                "test_r2": finite_or_none(vs["test_r2"]),
                "ci95": (ci.get(f"L={vs['noise_level']:g} {vs['model']}") or {}).get("ci95")},
            "p_value_familywise": lin.get("p_value"), "familywise_n_models": lin.get("n_models"),
            "familywise_n_permutations": lin.get("n_permutations"), "familywise_min_p_value": lin.get("min_p_value"),
            "lightgbm_p_value": lg.get("p_value"), "lightgbm_n_permutations": lg.get("n_permutations"),
            "lightgbm_min_p_value": lg.get("min_p_value")}


def snr_record(snr: np.ndarray | None, snr_bins, best: dict, test: dict, yt: np.ndarray) -> dict:
    """The best model's test R2 in the spec's SNR bins and in the SNR quartiles.

    snr (n,) of the test rows, or None without an snr column; snr_bins: inner edges; best: its
    metrics row; test: {(level, model): test predictions (n,)}; yt (n,) test labels."""
    key = (float(best["noise_level"]), best["model"])
    if snr is None or key not in test:
        return {"skipped": "no snr column in the params table" if snr is None else "no predictions"}
    snr = np.asarray(snr, dtype=np.float64)
    edges = [float(e) for e in snr_bins]
    labels = [f"<={edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f">{edges[-1]:g}"]
    q = [float(v) for v in np.quantile(snr, [0.25, 0.5, 0.75])]
    return {"model": best["model"], "noise_level": float(best["noise_level"]),
            "bins": r2_in_bins(yt, test[key], snr, edges, labels),
            "quartiles": r2_in_bins(yt, test[key], snr, q, ["Q1", "Q2", "Q3", "Q4"])}