"""Stage 5 of the checks, the evidence: the stages' values turned into ``summary["sanity"]``.

R2s, intervals, p-values and the Gate-1 record, pure numpy on in-memory predictions. Every number the report prints is stored here (the report
is checked against summary.json); the gate's evidence (permutation nulls, bootstrap intervals,
the Gate-1 record, R2 by SNR) comes from `daudit.checks.gate_evidence`. Non-finite numbers are
stored as None.
"""

from __future__ import annotations

import numpy as np

from daudit.checks.facts import AuditFacts
from daudit.checks.gate_evidence import (  # re-exported: gate_rng, GATE_STREAM
    GATE_STREAM,
    all_intervals,
    gate_record,
    gate_rng,
    permutation_evidence,
    resampled_test_r2,
    snr_record,
)
from daudit.checks.importance_null import overlap_null, pixel_excess, region_excess, share_null
from daudit.checks.lgbm_refits import LightGBMRefits
from daudit.checks.linear_refits import LinearRefits
from daudit.checks.localise import judge_units
from daudit.checks.plan import CheckPlan
from daudit.checks.records import EvalOutputs
from daudit.checks.table import MODEL_KEYS
from daudit.checks.train_pass import TrainStats
from daudit.checks.transforms import AGGREGATE_NAMES
from daudit.checks.variability import relative_spread, variability_summary
from daudit.data.catalogue import composition
from daudit.models.metrics import bootstrap_r2, finite_or_none, r2
from daudit.models.selection import GATE_THRESHOLD, best_by_val, best_rows, pick_by_val
from daudit.models.importance import TOP_K

__all__ = ["sanity_block", "gate_rng", "EFFECT_TOLERANCE", "GATE_STREAM"]


EFFECT_TOLERANCE = 0.05  # "survives" a check when its R2 stays within this of the original


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
            rec["test_ci95"] = [finite_or_none(lo), finite_or_none(hi)]


def _rec(name, yv, yt, pv, pt, boot, **extra):
    rec = {"model": name, "val_r2": finite_or_none(r2(yv, pv)), "test_r2": finite_or_none(r2(yt, pt)), "test_ci95": None, **extra}
    return boot.add(rec, pt)


def _family(names, yv, yt, pv, pt, boot, **extra):
    """OLS and best Ridge (by val R2) of a linear family; pv/pt (n, m) in ``names`` order."""
    out = {"models": {n: {"val_r2": finite_or_none(r2(yv, pv[:, i])), "test_r2": finite_or_none(r2(yt, pt[:, i]))}
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


def _original(facts: AuditFacts, ev: EvalOutputs, y: dict, boot):
    """The audit's own models: val/test predictions per (level, name), and the headline records."""
    val, test = facts.predictions["val"], facts.predictions["test"]
    if ev.need_original:  # they were recomputed in the eval pass
        val, test = {}, {}
        for lv in facts.levels:
            block = ev.layout.block("real", "original", lv)
            for n in block.names:
                val[(float(lv), n)] = ev.pred["val"]["real"][:, block.column(n)]
                test[(float(lv), n)] = ev.pred["test"]["real"][:, block.column(n)]
    yv, yt = y["val"], y["test"]
    ref = float(facts.ref)
    names = facts.fits[facts.ref].names
    pv = np.column_stack([val[(ref, n)] for n in names])
    pt = np.column_stack([test[(ref, n)] for n in names])
    head = _family(names, yv, yt, pv, pt, boot, noise_level=ref)
    if (ref, "LightGBM") in test and facts.booster is not None:
        head["LightGBM"] = _rec("LightGBM", yv, yt, val[(ref, "LightGBM")], test[(ref, "LightGBM")], boot,
                                noise_level=ref, n_train_rows=getattr(facts.lgbm_plan, "n_rows_used", None))
    return val, test, head


def _check(ev: EvalOutputs, y: dict, kind, role, names, boot, lgbm=None, extra_lgbm=None, **extra):
    """Records of the family ``role`` read from input ``kind`` and of the booster ``lgbm`` (kind, role)."""
    yv, yt = y["val"], y["test"]
    out = {}
    pv, pt = ev.linear("val", kind, role), ev.linear("test", kind, role)
    if pv is not None:
        out = _family(names, yv, yt, pv, pt, boot, **extra)
    if lgbm is not None:
        pv, pt = ev.booster("val", *lgbm), ev.booster("test", *lgbm)
        if pv is not None:
            out["LightGBM"] = _rec("LightGBM", yv, yt, pv, pt, boot, **(extra_lgbm or {}))
    return out


def _effect_shuffle(r0, r1):
    if r0 is None or r1 is None:
        return "not_run"
    if r0 < GATE_THRESHOLD:
        return "no_leak_to_explain"
    if r1 < GATE_THRESHOLD:
        return "collapsed"
    return "survived" if r0 - r1 <= EFFECT_TOLERANCE else "reduced"


def _effect_capture(r0, r1):
    if r0 is None or r1 is None:
        return "not_run"
    if r1 < GATE_THRESHOLD:
        return "no_leak"
    return "captured" if r1 >= r0 - EFFECT_TOLERANCE else "partly_captured"


def _head(facts: AuditFacts, lg: LightGBMRefits, ev: EvalOutputs, y: dict, boot):
    """(test predictions, the block's first keys, the LightGBM refits' extra fields, r0)."""
    yv, yt = y["val"], y["test"]
    val, test, original = _original(facts, ev, y, boot)
    out = {"threshold": GATE_THRESHOLD, "effect_tolerance": EFFECT_TOLERANCE, "reference_noise_level": float(facts.ref),
           "n_val": int(len(yv)), "n_test": int(len(yt)), "original": original}
    lg_extra = {"n_train_rows": lg.rows.get("checks")}
    if lg.plan is not None:
        rp = lg.plan
        out["lightgbm_refits"] = {"n_train_rows": lg.rows.get("checks"), "bin_construct_sample_cnt": rp.bin_sample,
                                  "estimated_bytes": rp.estimated_bytes, "budget_bytes": rp.budget_bytes,
                                  "plan": rp.reason}
    if ev.layout.has_booster("real", "same_rows"):
        original["LightGBM_same_rows"] = _rec("LightGBM", yv, yt, ev.booster("val", "real", "same_rows"),
                                              ev.booster("test", "real", "same_rows"), boot, **lg_extra)
    return test, out, lg_extra, _best(original)


def _refit_checks(facts, plan, lin, lg, ev, y, boot, r0, lg_extra, out) -> None:
    """The wavelength shuffle, group shuffle, mask-only and aggregate records, into ``out``."""
    if lin.shuffled_fit is not None:
        refit = _check(ev, y, "shuffled", "shuffled", lin.shuffled_fit.names, boot,
                       lgbm=("shuffled", "shuffled"), extra_lgbm=lg_extra)
        unref = _check(ev, y, "shuffled", "unrefitted", facts.fits[facts.ref].names, boot,
                       lgbm=("shuffled", "unrefitted"))
        out["wavelength_shuffle"] = {"refit": refit, "unrefitted": unref, "effect": _effect_shuffle(r0, _best(refit)),
                                     "best_refit_test_r2": _best(refit), "original_best_test_r2": r0}
    out["group_shuffle"] = _group(plan.group_facts, lin, ev, y, boot, r0, lg_extra)
    if lin.mask_facts:
        chk = _check(ev, y, "mask", "mask", lin.mask_fit.names if lin.mask_fit else [], boot,
                     lgbm=("mask", "mask"), extra_lgbm=lg_extra)
        out["mask_only"] = {**lin.mask_facts, "source": plan.mask_source, **chk,
                            "effect": _effect_capture(r0, _best(chk)) if chk else "no_varying_mask",
                            "best_test_r2": _best(chk)}
    if lin.agg_fit is not None:
        out["aggregate_stats"] = _aggregates(lin.agg_fit, lg.boosters.get("aggregates"), ev, y, boot, r0, lg_extra)


def _permutation(facts: AuditFacts, plan: CheckPlan, lg: LightGBMRefits, ev: EvalOutputs, y_test) -> dict:
    """`permutation_evidence` of this run's permuted fits and LightGBM null."""
    k = plan.n_perm_linear
    observed = figure = None
    if ev.perm_rss is not None and k:
        rows = {(float(r["noise_level"]), r["model"]): r for r in facts.metrics}
        observed = {(float(lv), n): rows[(float(lv), n)]["test_r2"] for lv in facts.levels
                    for n in facts.fits[lv].names}
        figure = (float(facts.ref), best_by_val(facts.metrics, level=facts.ref))
    lgbm = None
    if ev.layout.has_booster("real", "permutation_reference"):
        lgbm = (ev.booster("test", "real", "permutation_reference"),
                [ev.booster("test", "real", f"permutation_{i}") for i in range(len(lg.perm_boosters))],
                lg.rows.get("permutation"))
    return permutation_evidence(y_test, observed or {}, ev.perm_rss, k, figure_key=figure, lightgbm=lgbm)


def _gate_evidence(facts: AuditFacts, test: dict, yt, out: dict) -> None:
    """The bootstrap intervals, the Gate-1 record and R2 by SNR, into ``out``."""
    s = facts.spec.sanity
    keys = [(float(r["noise_level"]), r["model"]) for r in facts.metrics
            if (float(r["noise_level"]), r["model"]) in test]
    scores = resampled_test_r2(yt, [test[k] for k in keys], s.n_bootstrap, facts.spec.seed)
    out["bootstrap"] = {"n_resamples": int(s.n_bootstrap), "level": 0.95, "method": "percentile, paired over models",
                        "resampling": f"numpy default_rng(SeedSequence(seed, spawn_key={GATE_STREAM})); "
                                      "resample b takes rows integers(0, n, n)",
                        "test_r2_ci95": all_intervals(keys, scores, test, yt)}
    out["gate"] = gate_record(facts.metrics, keys, scores, out["bootstrap"]["test_r2_ci95"], out["permutation"])
    best = best_rows(facts.metrics)["best"]
    lab = facts.splits["test"].labels
    snr = lab["snr"].to_numpy(dtype=np.float64) if "snr" in lab.columns else None
    out["snr"] = snr_record(snr, s.snr_bins, best, test, yt)


def sanity_block(facts: AuditFacts, plan: CheckPlan, train: TrainStats, lin: LinearRefits, lg: LightGBMRefits,
                 ev: EvalOutputs) -> dict:
    """The ``sanity`` section of summary.json from the stages' values (see
    `daudit.checks.run_sanity_checks`); the bootstrap continues ``plan.rng``."""
    s = facts.spec.sanity
    y = facts.labels()
    boot = _Boot(y["test"])
    test, out, lg_extra, r0 = _head(facts, lg, ev, y, boot)
    _refit_checks(facts, plan, lin, lg, ev, y, boot, r0, lg_extra, out)
    out["permutation"] = _permutation(facts, plan, lg, ev, y["test"])
    boot.run(s.n_bootstrap, plan.rng)
    _gate_evidence(facts, test, y["test"], out)
    null, pixels = _importance_null(facts, lin, lg)
    out["importance_null"] = null
    out["localisation"] = _localisation(lin.localise, ev, y["test"], s.n_bootstrap, facts.spec.seed)
    out["variability"] = _variability(facts, train, lin, lg)
    if pixels is not None:
        out["_pixel_null"] = pixels  # arrays for importance.csv and the figure; the pipeline pops them
    if lg.plan is not None:
        out["plan"] = {"lightgbm_refits": {**lg.plan.to_dict(), "null": dict(lg.null_stopped)}}
    return out


def _group(facts: dict, lin: LinearRefits, ev: EvalOutputs, y: dict, boot, r0, lg_extra):
    facts = dict(facts)
    if lin.group_fit is None:
        return {**facts, "effect": "not_run"}
    block = ev.layout.block("real", "group")
    pv, pt = ev.pred["val"]["real"], ev.pred["test"]["real"]
    names, k = block.names, block.k
    yv, yt = y["val"], y["test"]
    models = {}
    for n in names:
        v = [r2(yv, pv[:, block.column(n, j)]) for j in range(k)]
        t = [r2(yt, pt[:, block.column(n, j)]) for j in range(k)]
        models[n] = {"val_r2": finite_or_none(np.mean(v)), "test_r2": finite_or_none(np.mean(t)), "test_r2_min": finite_or_none(min(t)),
                     "test_r2_max": finite_or_none(max(t))}
    out = {**facts, "models": models, "statistic": f"mean over {k} within-group shuffles"}
    if "OLS" in models:
        out["OLS"] = {"model": "OLS", **models["OLS"]}
    i = pick_by_val(names, [models[n]["val_r2"] for n in names])
    if i is not None:
        out["best_ridge"] = {"model": names[i], **models[names[i]]}
    pv_l, pt_l = ev.booster("val", "real", "group"), ev.booster("test", "real", "group")
    if pv_l is not None:
        out["LightGBM"] = _rec("LightGBM", yv, yt, pv_l, pt_l, boot, n_shuffles=1, **lg_extra)
    r1 = _best(out)
    out["best_test_r2"] = r1
    out["retained_fraction"] = finite_or_none(r1 / r0) if (r0 is not None and r1 is not None and r0 >= GATE_THRESHOLD) else None
    frac = out["retained_fraction"]
    out["effect"] = ("no_leak_to_explain" if frac is None else "retained" if frac >= 0.8
                     else "collapsed" if (r1 or 0) < GATE_THRESHOLD or frac < 0.2 else "reduced")
    return out


def _aggregates(fit, booster, ev: EvalOutputs, y: dict, boot, r0, lg_extra):
    av, at = ev.aggregates["val"], ev.aggregates["test"]
    yv, yt = y["val"], y["test"]
    out = {"features": list(AGGREGATE_NAMES), "n_features": len(AGGREGATE_NAMES),
           **_family(fit.names, yv, yt, fit.predict(av)[:, :, 0], fit.predict(at)[:, :, 0], boot)}
    if booster is not None:
        out["LightGBM"] = _rec("LightGBM", yv, yt, booster.predict(av.astype(np.float32)),
                               booster.predict(at.astype(np.float32)), boot, **lg_extra)
    out["best_test_r2"] = _best(out)
    out["effect"] = _effect_capture(r0, out["best_test_r2"])
    return out


def _localisation(plan, ev: EvalOutputs, yt, n_resamples: int, seed: int) -> dict | None:
    """``sanity["localisation"]``: each region's test R2 dropped and alone (`daudit.checks.localise`)."""
    block = ev.layout.block("real", "localise") if plan is not None else None
    if block is None:
        return None
    pt = block.take(ev.pred["test"]["real"])
    u = len(plan.units)
    out = judge_units(plan.units, yt, pt[:, 0], pt[:, 1:1 + u], pt[:, 1 + u:],
                      n_resamples=n_resamples, rng=gate_rng(seed), threshold=GATE_THRESHOLD,
                      tolerance=EFFECT_TOLERANCE)
    sources = [r for r in out["units"] if r["source"]]
    return {"model": plan.model, "noise_level": plan.noise_level, "split": "test", "threshold": GATE_THRESHOLD,
            "tolerance": EFFECT_TOLERANCE, "n_resamples": int(n_resamples),
            "rule": ("source: the region alone reaches the gate, or dropping it lowers the test R2 by at least "
                     "the tolerance (or from the gate to below it) with the paired bootstrap interval of the "
                     "drop above 0; removes: a source whose dropped R2 is below the gate"),
            **out, "n_sources": len(sources), "sources": [r["key"] for r in sources],
            "removing": [r["key"] for r in sources if r["removes"]], "skipped": plan.skipped}


def _lgbm_importance_null(lg: LightGBMRefits) -> dict | None:
    """Top-40 share of LightGBM's split counts and gain: the true-label refit against the permutation refits."""
    ref = lg.boosters.get("permutation_reference")
    if ref is None or not lg.perm_boosters:
        return None
    out = {"n_permutations": len(lg.perm_boosters), "n_train_rows": lg.rows.get("permutation"),
           "observed": "the same LightGBM refitted with the true labels on the permutation subsample"}
    for kind in ("split", "gain"):
        null = np.column_stack([b.feature_importance(kind) for b in lg.perm_boosters]).astype(np.float64)
        out[kind] = share_null(ref.feature_importance(kind).astype(np.float64), null, k=TOP_K)
    return out


def _importance_null(facts: AuditFacts, lin: LinearRefits, lg: LightGBMRefits):
    """``sanity["importance_null"]`` and the per-pixel arrays (null mean, family-wise threshold) or None."""
    wave = facts.splits["train"].wave
    prim, imp, null = lin.primary.model, lin.primary.importance, lin.primary.null
    out = {"level": 0.95, "top_k": TOP_K, "lightgbm": _lgbm_importance_null(lg)}
    if null is None:
        out["linear"] = None
        return out, None
    pixels = pixel_excess(imp, null, wave)
    arrays = {"model": prim, "null_mean": pixels.pop("null_mean"), "threshold": pixels.pop("threshold")}
    out["linear"] = {"model": prim, "noise_level": float(facts.ref), "kind": "abs_coef_x_std",
                     "n_permutations": int(null.shape[1]), "top_k_share": share_null(imp, null, k=TOP_K),
                     "regions": region_excess(imp, null, wave), "pixels": pixels}
    return out, arrays


def _variability(facts: AuditFacts, train: TrainStats, lin: LinearRefits, lg: LightGBMRefits):
    s = facts.spec.sanity
    spread = relative_spread(train.norm_n, train.norm_sum, train.norm_sq)
    wave = facts.splits["train"].wave
    prim, imp, null = lin.primary.model, lin.primary.importance, lin.primary.null
    important = {prim: np.argsort(-imp, kind="stable")[:TOP_K]}
    if facts.booster is not None:
        important["LightGBM"] = np.argsort(-facts.booster.feature_importance("gain"), kind="stable")[:TOP_K]
    out = variability_summary(spread, wave, s.variability_threshold, top_k=TOP_K, important=important)
    top = [p["pixel"] for p in out["top_pixels"]]
    out["composition"] = composition(top, wave)
    if null is not None:
        out["overlap"][prim]["null"] = overlap_null(top, imp, null, k=TOP_K)
    ref = lg.boosters.get("permutation_reference")
    if ref is not None and lg.perm_boosters:
        gain = np.column_stack([b.feature_importance("gain") for b in lg.perm_boosters]).astype(np.float64)
        out["overlap_lightgbm_null"] = {
            "observed": "LightGBM refitted with the true labels on the permutation subsample (gain)",
            "n_permutations": len(lg.perm_boosters),
            **overlap_null(top, ref.feature_importance("gain").astype(np.float64), gain, k=TOP_K)}
    return out
