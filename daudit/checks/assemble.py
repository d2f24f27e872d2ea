"""Turn a finished `CheckRun` into ``summary["sanity"]``: R2s, intervals, p-values, verdict.

Pure numpy on in-memory predictions. Every number the report prints is stored here (the report
is checked against summary.json); the gate's evidence (permutation nulls, bootstrap intervals,
the Gate-1 record, R2 by SNR) comes from `daudit.checks.gate_evidence`. Non-finite numbers are
stored as None.
"""

from __future__ import annotations

import numpy as np

from daudit.checks.gate_evidence import (  # re-exported: gate_rng, THRESHOLD, GATE_STREAM
    GATE_STREAM,
    THRESHOLD,
    _all_ci,
    _f,
    _gate,
    _permutation,
    _snr,
    _test_scores,
    gate_rng,
)
from daudit.checks.importance_null import overlap_null, pixel_excess, region_excess, share_null
from daudit.checks.localise import judge_units
from daudit.checks.runner import primary_importance
from daudit.checks.table import MODEL_KEYS
from daudit.checks.transforms import AGGREGATE_NAMES
from daudit.checks.variability import relative_spread, variability_summary
from daudit.data.catalogue import composition
from daudit.models.metrics import bootstrap_r2, r2
from daudit.models.selection import best_rows, pick_by_val

__all__ = ["assemble", "gate_rng", "THRESHOLD", "EFFECT_TOLERANCE", "GATE_STREAM"]

EFFECT_TOLERANCE = 0.05  # "survives" a check when its R2 stays within this of the original
TOP_K = 40  # the seed's "40 positions"


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
    i = pick_by_val(names, [out["models"][n]["val_r2"] for n in names])
    if i is not None:
        out["best_ridge"] = _rec(names[i], yv, yt, pv[:, i], pt[:, i], boot, **extra)
    return out


def _best(check: dict):
    vals = [check[k]["test_r2"] for k in MODEL_KEYS
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
    keys, scores = _test_scores(ctx, test, yt, s.n_bootstrap)
    out["bootstrap"] = {"n_resamples": int(s.n_bootstrap), "level": 0.95, "method": "percentile, paired over models",
                        "resampling": f"numpy default_rng(SeedSequence(seed, spawn_key={GATE_STREAM})); "
                                      "resample b takes rows integers(0, n, n)",
                        "test_r2_ci95": _all_ci(keys, scores, test, yt)}
    out["gate"] = _gate(ctx, keys, scores, out)
    best = best_rows(ctx.metrics)["best"]
    out["snr"] = _snr(ctx, s, best, test, yt)
    null, pixels = _importance_null(ctx, run)
    out["importance_null"] = null
    out["localisation"] = _localisation(ctx, run, s.n_bootstrap)
    out["variability"] = _variability(ctx, run, s)
    if pixels is not None:
        out["_pixel_null"] = pixels  # arrays for importance.csv and the figure; the pipeline pops them
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
    i = pick_by_val(names, [models[n]["val_r2"] for n in names])
    if i is not None:
        out["best_ridge"] = {"model": names[i], **models[names[i]]}
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


def _localisation(ctx, run, n_resamples: int) -> dict | None:
    """``sanity["localisation"]``: each region's test R2 dropped and alone (`daudit.checks.localise`)."""
    plan = run.localise
    block = run.eval.layout.block("real", "localise") if plan is not None else None
    if block is None:
        return None
    pt = block.take(run.eval.pred["test"]["real"])
    u = len(plan.units)
    out = judge_units(plan.units, run.y["test"], pt[:, 0], pt[:, 1:1 + u], pt[:, 1 + u:],
                      n_resamples=n_resamples, rng=gate_rng(ctx.spec.seed), threshold=THRESHOLD,
                      tolerance=EFFECT_TOLERANCE)
    sources = [r for r in out["units"] if r["source"]]
    return {"model": plan.model, "noise_level": plan.noise_level, "split": "test", "threshold": THRESHOLD,
            "tolerance": EFFECT_TOLERANCE, "n_resamples": int(n_resamples),
            "rule": ("source: the region alone reaches the gate, or dropping it lowers the test R2 by at least "
                     "the tolerance (or from the gate to below it) with the paired bootstrap interval of the "
                     "drop above 0; removes: a source whose dropped R2 is below the gate"),
            **out, "n_sources": len(sources), "sources": [r["key"] for r in sources],
            "removing": [r["key"] for r in sources if r["removes"]], "skipped": plan.skipped}


def _lgbm_importance_null(run) -> dict | None:
    """Top-40 share of LightGBM's split counts and gain: the true-label refit against the permutation refits."""
    ref = run.boosters.get("permutation_reference")
    if ref is None or not run.perm_boosters:
        return None
    out = {"n_permutations": len(run.perm_boosters), "n_train_rows": run.lgbm_rows.get("permutation"),
           "observed": "the same LightGBM refitted with the true labels on the permutation subsample"}
    for kind in ("split", "gain"):
        null = np.column_stack([b.feature_importance(kind) for b in run.perm_boosters]).astype(np.float64)
        out[kind] = share_null(ref.feature_importance(kind).astype(np.float64), null, k=TOP_K)
    return out


def _importance_null(ctx, run):
    """``sanity["importance_null"]`` and the per-pixel arrays (null mean, family-wise threshold) or None."""
    wave = ctx.splits["train"].wave
    prim, imp, null = primary_importance(ctx, run)
    out = {"level": 0.95, "top_k": TOP_K, "lightgbm": _lgbm_importance_null(run)}
    if null is None:
        out["linear"] = None
        return out, None
    pixels = pixel_excess(imp, null, wave)
    arrays = {"model": prim, "null_mean": pixels.pop("null_mean"), "threshold": pixels.pop("threshold")}
    out["linear"] = {"model": prim, "noise_level": float(run.ref), "kind": "abs_coef_x_std",
                     "n_permutations": int(null.shape[1]), "top_k_share": share_null(imp, null, k=TOP_K),
                     "regions": region_excess(imp, null, wave), "pixels": pixels}
    return out, arrays


def _variability(ctx, run, s):
    tp = run.train_partial
    spread = relative_spread(tp.norm_n, tp.norm_sum, tp.norm_sq)
    wave = ctx.splits["train"].wave
    prim, imp, null = primary_importance(ctx, run)
    important = {prim: np.argsort(-imp, kind="stable")[:TOP_K]}
    if ctx.booster is not None:
        important["LightGBM"] = np.argsort(-ctx.booster.feature_importance("gain"), kind="stable")[:TOP_K]
    out = variability_summary(spread, wave, s.variability_threshold, top_k=TOP_K, important=important)
    top = [p["pixel"] for p in out["top_pixels"]]
    out["composition"] = composition(top, wave)
    if null is not None:
        out["overlap"][prim]["null"] = overlap_null(top, imp, null, k=TOP_K)
    ref = run.boosters.get("permutation_reference")
    if ref is not None and run.perm_boosters:
        gain = np.column_stack([b.feature_importance("gain") for b in run.perm_boosters]).astype(np.float64)
        out["overlap_lightgbm_null"] = {
            "observed": "LightGBM refitted with the true labels on the permutation subsample (gain)",
            "n_permutations": len(run.perm_boosters),
            **overlap_null(top, ref.feature_importance("gain").astype(np.float64), gain, k=TOP_K)}
    return out
