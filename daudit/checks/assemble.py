"""Turn a finished `CheckRun` into ``summary["sanity"]``: R2s, intervals, p-values, verdict.

Pure numpy on in-memory predictions. Every number the report prints is stored here (the report
is checked against summary.json). Non-finite numbers are stored as None.
"""

from __future__ import annotations

import math

import numpy as np

from daudit.checks.bootstrap import r2_in_bins
from daudit.checks.permutation import p_value
from daudit.checks.transforms import AGGREGATE_NAMES
from daudit.checks.variability import relative_spread, variability_summary
from daudit.models.metrics import bootstrap_r2, r2, r2_from_rss, total_sum_of_squares
from daudit.models.selection import GATE_THRESHOLD, best_by_val, best_rows, gate_verdict

__all__ = ["assemble", "THRESHOLD", "EFFECT_TOLERANCE"]

THRESHOLD = GATE_THRESHOLD  # Gate-1: PASS when the best test R2 < 0.05 (one constant, models.selection)
EFFECT_TOLERANCE = 0.05  # "survives" a check when its R2 stays within this of the original


def _f(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class _Boot:
    """Collects test predictions, bootstraps them all at once (paired), fills the records."""

    def __init__(self, y):
        self.y, self.cols, self.recs = y, [], []

    def add(self, rec, pred):
        self.recs.append(rec)
        self.cols.append(np.asarray(pred, dtype=np.float64))
        return rec

    def run(self, n, rng):
        if not self.cols:
            return
        ci = bootstrap_r2(self.y, np.column_stack(self.cols), n, rng)
        for rec, (lo, hi) in zip(self.recs, ci):
            rec["test_ci95"] = [_f(lo), _f(hi)]


def _rec(name, yv, yt, pv, pt, boot, **extra):
    rec = {"model": name, "val_r2": _f(r2(yv, pv)), "test_r2": _f(r2(yt, pt)), "test_ci95": None, **extra}
    return boot.add(rec, pt)


def _family(names, yv, yt, pv, pt, boot, **extra):
    """OLS and best Ridge (by val R2) of a linear family; pv/pt (n, m) in ``names`` order."""
    out = {"models": {n: {"val_r2": _f(r2(yv, pv[:, i])), "test_r2": _f(r2(yt, pt[:, i]))}
                      for i, n in enumerate(names)}}
    if "OLS" in names:
        i = names.index("OLS")
        out["OLS"] = _rec("OLS", yv, yt, pv[:, i], pt[:, i], boot, **extra)
    ridge = [i for i, n in enumerate(names) if n.startswith("Ridge")]
    if ridge:
        i = max(ridge, key=lambda j: out["models"][names[j]]["val_r2"] or -np.inf)
        out["best_ridge"] = _rec(names[i], yv, yt, pv[:, i], pt[:, i], boot, **extra)
    return out


def _best(check: dict):
    vals = [check[k]["test_r2"] for k in ("OLS", "best_ridge", "LightGBM")
            if k in check and check[k] and check[k].get("test_r2") is not None]
    return max(vals) if vals else None


def _original(ctx, run, boot):
    """The audit's own models: val/test predictions per (level, name), and the headline records."""
    val, test = ctx.predictions["val"], ctx.predictions["test"]
    if run.need_original:  # they were recomputed in the eval pass
        val, test = {}, {}
        for lv in run.levels:
            block = run.eval.layout.block("real", "original", lv)
            for n in block.names:
                val[(float(lv), n)] = run.eval.pred["val"]["real"][:, block.column(n)]
                test[(float(lv), n)] = run.eval.pred["test"]["real"][:, block.column(n)]
    yv, yt = run.y["val"], run.y["test"]
    ref = float(run.ref)
    names = ctx.fits[run.ref].names
    pv = np.column_stack([val[(ref, n)] for n in names])
    pt = np.column_stack([test[(ref, n)] for n in names])
    head = _family(names, yv, yt, pv, pt, boot, noise_level=ref)
    if (ref, "LightGBM") in test and ctx.booster is not None:
        head["LightGBM"] = _rec("LightGBM", yv, yt, val[(ref, "LightGBM")], test[(ref, "LightGBM")], boot,
                                noise_level=ref, n_train_rows=(run.lgbm_rows or {}).get("main"))
    return val, test, head


def _check(run, kind, role, names, boot, lgbm=None, extra_lgbm=None, **extra):
    """Records of the family ``role`` read from input ``kind`` and of the booster ``lgbm`` (kind, role)."""
    yv, yt = run.y["val"], run.y["test"]
    out = {}
    pv, pt = run.eval.linear("val", kind, role), run.eval.linear("test", kind, role)
    if pv is not None:
        out = _family(names, yv, yt, pv, pt, boot, **extra)
    if lgbm is not None:
        pv, pt = run.eval.booster("val", *lgbm), run.eval.booster("test", *lgbm)
        if pv is not None:
            out["LightGBM"] = _rec("LightGBM", yv, yt, pv, pt, boot, **(extra_lgbm or {}))
    return out


def _effect_shuffle(r0, r1):
    if r0 is None or r1 is None:
        return "not_run"
    if r0 < THRESHOLD:
        return "no_leak_to_explain"
    if r1 < THRESHOLD:
        return "collapsed"
    return "survived" if r0 - r1 <= EFFECT_TOLERANCE else "reduced"


def _effect_capture(r0, r1):
    if r0 is None or r1 is None:
        return "not_run"
    if r1 < THRESHOLD:
        return "no_leak"
    return "captured" if r1 >= r0 - EFFECT_TOLERANCE else "partly_captured"


def assemble(ctx, run, rng: np.random.Generator) -> dict:
    """The ``sanity`` section of summary.json (see `daudit.checks.run_sanity_checks`)."""

    s = ctx.spec.sanity
    yv, yt = run.y["val"], run.y["test"]
    ref = float(run.ref)
    boot = _Boot(yt)
    run.lgbm_rows.setdefault("main", getattr(ctx.lgbm_plan, "n_rows_used", None))
    val, test, original = _original(ctx, run, boot)
    out = {"threshold": THRESHOLD, "effect_tolerance": EFFECT_TOLERANCE, "reference_noise_level": ref,
           "n_val": int(len(yv)), "n_test": int(len(yt)), "original": original}
    lg_extra = {"n_train_rows": run.lgbm_rows.get("checks")}
    if run.refit_plan is not None:
        rp = run.refit_plan
        out["lightgbm_refits"] = {"n_train_rows": run.lgbm_rows.get("checks"), "bin_construct_sample_cnt": rp.bin_sample,
                                  "estimated_bytes": rp.estimated_bytes, "budget_bytes": rp.budget_bytes,
                                  "plan": rp.reason}
    if run.eval.layout.has_booster("real", "same_rows"):
        original["LightGBM_same_rows"] = _rec("LightGBM", yv, yt, run.eval.booster("val", "real", "same_rows"),
                                              run.eval.booster("test", "real", "same_rows"), boot, **lg_extra)
    r0 = _best(original)

    if run.shuffled_fit is not None:
        refit = _check(run, "shuffled", "shuffled", run.shuffled_fit.names, boot,
                       lgbm=("shuffled", "shuffled"), extra_lgbm=lg_extra)
        unref = _check(run, "shuffled", "unrefitted", ctx.fits[run.ref].names, boot,
                       lgbm=("shuffled", "unrefitted"))
        out["wavelength_shuffle"] = {"refit": refit, "unrefitted": unref, "effect": _effect_shuffle(r0, _best(refit)),
                                     "best_refit_test_r2": _best(refit), "original_best_test_r2": r0}
    out["group_shuffle"] = _group(ctx, run, boot, r0, lg_extra)
    if run.mask_facts:
        chk = _check(run, "mask", "mask", run.mask_fit.names if run.mask_fit else [], boot,
                     lgbm=("mask", "mask"), extra_lgbm=lg_extra)
        out["mask_only"] = {**run.mask_facts, "source": run.mask_source, **chk,
                            "effect": _effect_capture(r0, _best(chk)) if chk else "no_varying_mask",
                            "best_test_r2": _best(chk)}
    if run.agg_fit is not None:
        out["aggregate_stats"] = _aggregates(run, boot, r0, lg_extra)
    out["permutation"] = _permutation(ctx, run)
    boot.run(s.n_bootstrap, rng)
    out["bootstrap"] = {"n_resamples": int(s.n_bootstrap), "level": 0.95, "method": "percentile, paired over models",
                        "test_r2_ci95": _all_ci(ctx, test, yt, s.n_bootstrap, rng)}
    best = best_rows(ctx.metrics)["best"]
    ci = out["bootstrap"]["test_r2_ci95"].get(f"L={best['noise_level']:g} {best['model']}", {}).get("ci95")
    lo, hi = (ci or [None, None])
    perm = out["permutation"]["linear"]["models"].get(f"L={best['noise_level']:g} {best['model']}") or (
        out["permutation"].get("lightgbm") if best["model"] == "LightGBM" else None) or {}
    out["gate"] = {"best_model": best["model"], "best_noise_level": float(best["noise_level"]),
                   "best_test_r2": _f(best["test_r2"]),
                   "verdict": gate_verdict(best["test_r2"]),
                   "ci95": [lo, hi] if lo is not None else None,
                   "borderline": bool(lo is not None and hi is not None and lo < THRESHOLD <= hi),
                   "p_value": perm.get("p_value")}
    out["snr"] = _snr(ctx, s, best, test, yt)
    out["variability"] = _variability(ctx, run, s)
    return out


def _group(ctx, run, boot, r0, lg_extra):
    facts = dict(run.group_facts)
    if run.group_fit is None:
        return {**facts, "effect": "not_run"}
    block = run.eval.layout.block("real", "group")
    pv, pt = run.eval.pred["val"]["real"], run.eval.pred["test"]["real"]
    names, k = block.names, block.k
    yv, yt = run.y["val"], run.y["test"]
    models = {}
    for n in names:
        v = [r2(yv, pv[:, block.column(n, j)]) for j in range(k)]
        t = [r2(yt, pt[:, block.column(n, j)]) for j in range(k)]
        models[n] = {"val_r2": _f(np.mean(v)), "test_r2": _f(np.mean(t)), "test_r2_min": _f(min(t)),
                     "test_r2_max": _f(max(t))}
    out = {**facts, "models": models, "statistic": f"mean over {k} within-group shuffles"}
    if "OLS" in models:
        out["OLS"] = {"model": "OLS", **models["OLS"]}
    ridge = [n for n in names if n.startswith("Ridge")]
    if ridge:
        n = max(ridge, key=lambda m: models[m]["val_r2"] or -np.inf)
        out["best_ridge"] = {"model": n, **models[n]}
    pv_l, pt_l = run.eval.booster("val", "real", "group"), run.eval.booster("test", "real", "group")
    if pv_l is not None:
        out["LightGBM"] = _rec("LightGBM", yv, yt, pv_l, pt_l, boot, n_shuffles=1, **lg_extra)
    r1 = _best(out)
    out["best_test_r2"] = r1
    out["retained_fraction"] = _f(r1 / r0) if (r0 is not None and r1 is not None and r0 >= THRESHOLD) else None
    frac = out["retained_fraction"]
    out["effect"] = ("no_leak_to_explain" if frac is None else "retained" if frac >= 0.8
                     else "collapsed" if (r1 or 0) < THRESHOLD or frac < 0.2 else "reduced")
    return out


def _aggregates(run, boot, r0, lg_extra):
    av, at = run.eval.aggregates["val"], run.eval.aggregates["test"]
    yv, yt = run.y["val"], run.y["test"]
    fit = run.agg_fit
    out = {"features": list(AGGREGATE_NAMES), "n_features": len(AGGREGATE_NAMES),
           **_family(fit.names, yv, yt, fit.predict(av)[:, :, 0], fit.predict(at)[:, :, 0], boot)}
    b = run.boosters.get("aggregates")
    if b is not None:
        out["LightGBM"] = _rec("LightGBM", yv, yt, b.predict(av.astype(np.float32)), b.predict(at.astype(np.float32)),
                               boot, **lg_extra)
    out["best_test_r2"] = _best(out)
    out["effect"] = _effect_capture(r0, out["best_test_r2"])
    return out


def _null_stats(observed, null):
    null = np.asarray(null, dtype=np.float64)
    return {"observed_val_r2": _f(observed), "p_value": p_value(observed, null), "null_mean": _f(null.mean()),
            "null_std": _f(null.std()), "null_q95": _f(np.quantile(null, 0.95)), "null_max": _f(null.max())}


def _permutation(ctx, run):
    yv = run.y["val"]
    k = run.n_perm_linear
    out = {"method": "permutation_test_score: refit on permuted train labels, score on val; "
                     "p = (C + 1) / (n_permutations + 1)",
           "linear": {"n_permutations": int(k), "min_p_value": 1.0 / (k + 1), "models": {}}}
    rows = {(float(r["noise_level"]), r["model"]): r for r in ctx.metrics}
    if run.eval.perm_rss is not None and k:
        # the permuted fits' columns: level by level, model by model, k permutations each
        flat = r2_from_rss(run.eval.perm_rss, total_sum_of_squares(yv))
        keys = [(float(lv), n) for lv in run.levels for n in ctx.fits[lv].names]
        nulls = {key: flat[i * k:(i + 1) * k] for i, key in enumerate(keys)}
        for (lv, n), null in nulls.items():
            out["linear"]["models"][f"L={lv:g} {n}"] = {"noise_level": lv, "model": n,
                                                        **_null_stats(rows[(lv, n)]["val_r2"], null)}
        prim = best_by_val(ctx.metrics, level=run.ref)
        out["linear"]["figure_model"] = f"L={run.ref:g} {prim}"
        out["linear"]["figure_null"] = [float(v) for v in nulls[(float(run.ref), prim)]]
    if run.eval.layout.has_booster("real", "permutation_reference"):
        obs = r2(yv, run.eval.booster("val", "real", "permutation_reference"))
        null = [r2(yv, run.eval.booster("val", "real", f"permutation_{i}")) for i in range(len(run.perm_boosters))]
        out["lightgbm"] = {"n_permutations": len(null), "n_train_rows": run.lgbm_rows.get("permutation"),
                           "min_p_value": 1.0 / (len(null) + 1), **_null_stats(obs, null),
                           "null": [float(v) for v in null],
                           "note": "observed = the same LightGBM refitted on the same subsample with the true labels"}
    return out


def _all_ci(ctx, test, yt, n, rng):
    keys = [(float(r["noise_level"]), r["model"]) for r in ctx.metrics if (float(r["noise_level"]), r["model"]) in test]
    if not keys:
        return {}
    ci = bootstrap_r2(yt, np.column_stack([test[k] for k in keys]), n, rng)
    return {f"L={lv:g} {m}": {"noise_level": lv, "model": m, "test_r2": _f(r2(yt, test[(lv, m)])),
                              "ci95": [_f(ci[i, 0]), _f(ci[i, 1])]} for i, (lv, m) in enumerate(keys)}


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


def _variability(ctx, run, s):
    tp = run.train_partial
    spread = relative_spread(tp.norm_n, tp.norm_sum, tp.norm_sq)
    ref = run.ref
    prim = best_by_val(ctx.metrics, level=ref)
    fit = ctx.fits[ref]
    imp = np.abs(fit.coef[fit.names.index(prim), :, 0]) * ref * np.sqrt(ctx.train_stats.x_var)
    important = {prim: np.argsort(-imp, kind="stable")[:40]}
    if ctx.booster is not None:
        important["LightGBM"] = np.argsort(-ctx.booster.feature_importance("gain"), kind="stable")[:40]
    return variability_summary(spread, ctx.splits["train"].wave, s.variability_threshold, top_k=40,
                               important=important)
