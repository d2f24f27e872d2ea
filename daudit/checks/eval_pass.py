"""Stage 4 of the checks: ONE pass over val + test (`EvalOutputs`).

Predictions of every check model (stacked per input, `daudit.checks.records.EvalLayout`) and
the test residuals of every permuted linear model, the split the gate reads; the audit's own
predictions too when the pipeline did not keep them. Chunk and finish in `daudit.checks.partials`
(`eval_chunk`) and `daudit.checks.passes` (`eval_chunks`, `eval_finish`).
"""

from __future__ import annotations

import os
import time

import numpy as np

from daudit.checks.facts import AuditFacts
from daudit.checks.lgbm_refits import LightGBMRefits
from daudit.checks.linear_refits import LinearRefits
from daudit.checks.partials import EvalPlan
from daudit.checks.passes import eval_chunks, eval_finish
from daudit.checks.records import EvalLayout, EvalOutputs, LinearStack
from daudit.core.progress import Bar
from daudit.models.linear import LinearFamilyFit

__all__ = ["eval_pass"]


def _fit_columns(fit: LinearFamilyFit, level: float):
    """(coef (p, m*k), intercept (m*k,)) of a LinearFamilyFit acting on the unscaled input."""
    m, p, k = fit.coef.shape
    return level * fit.coef.transpose(1, 0, 2).reshape(p, m * k), fit.intercept.reshape(m * k)


def _linear_stacks(facts: AuditFacts, lin: LinearRefits, need_original: bool) -> dict:
    """The linear check models stacked per input (the audit's own only when not predicted yet)."""
    ref, fit_ref = facts.ref, facts.fits[facts.ref]
    stacks = {kind: LinearStack() for kind in ("real", "shuffled", "mask")}
    if need_original:  # recompute the audit's own predictions in this pass
        for lv in facts.levels:
            stacks["real"].add("original", lv, facts.fits[lv].names, *_fit_columns(facts.fits[lv], lv))
    if lin.group_fit is not None:
        stacks["real"].add("group", ref, lin.group_fit.names, *_fit_columns(lin.group_fit, ref),
                           k=lin.group_fit.coef.shape[2])
    if lin.shuffled_fit is not None:
        stacks["shuffled"].add("unrefitted", ref, fit_ref.names, *_fit_columns(fit_ref, ref))
        stacks["shuffled"].add("shuffled", ref, lin.shuffled_fit.names, *_fit_columns(lin.shuffled_fit, ref))
    if lin.localise is not None:
        stacks["real"].add("localise", 1.0, lin.localise.names, lin.localise.coef, lin.localise.intercept)
    if lin.mask_fit is not None:
        stacks["mask"].add("mask", 1.0, lin.mask_fit.names, *_fit_columns(lin.mask_fit, 1.0))
    return stacks


def _booster_roles(booster, lin: LinearRefits, lg: LightGBMRefits) -> dict:
    """input -> [(role, booster)] in column order (missing boosters left out)."""
    b = lg.boosters
    real = [("same_rows", b.get("same_rows")), ("group", b.get("group")),
            ("permutation_reference", b.get("permutation_reference"))]
    real += [(f"permutation_{i}", pb) for i, pb in enumerate(lg.perm_boosters)]
    shuffled = ([("unrefitted", booster), ("shuffled", b.get("shuffled"))]
                if lin.shuffled_fit is not None or "shuffled" in b else [])
    out = {"real": real, "shuffled": shuffled, "mask": [("mask", b.get("mask"))]}
    return {kind: [(role, bst) for role, bst in pairs if bst is not None] for kind, pairs in out.items()}


def _eval_plan(facts: AuditFacts, lin: LinearRefits, lg: LightGBMRefits,
               need_original: bool) -> tuple[EvalLayout, EvalPlan]:
    """Where each check model's columns go (`EvalLayout`) and what every eval chunk computes."""
    stacks = _linear_stacks(facts, lin, need_original)
    roles = _booster_roles(facts.booster, lin, lg)
    layout = EvalLayout(linear={k: tuple(st.blocks) for k, st in stacks.items()},
                        boosters={k: tuple(r for r, _ in pairs) for k, pairs in roles.items()})
    perm_coef = perm_icpt = None
    if lin.perm_fits:
        cols = [_fit_columns(lin.perm_fits[lv], lv) for lv in facts.levels]
        perm_coef = np.ascontiguousarray(np.concatenate([c for c, _ in cols], axis=1), dtype=np.float32)
        perm_icpt = np.concatenate([i for _, i in cols])
    mask_cols = lin.mask_cols if (lin.mask_fit is not None or "mask" in lg.boosters) else None
    plan = EvalPlan(seed=facts.spec.seed, level=facts.ref, linear={k: st.matrices() for k, st in stacks.items()},
                    boosters={k: [bst for _, bst in pairs] for k, pairs in roles.items()}, mask_cols=mask_cols,
                    perm_coef=perm_coef, perm_intercept=perm_icpt, aggregates=lin.agg_fit is not None)
    return layout, plan


def eval_pass(facts: AuditFacts, lin: LinearRefits, lg: LightGBMRefits) -> EvalOutputs:
    """Every check model's val/test predictions (and the permuted models' test RSS) in one pass."""
    t = time.time()
    have = facts.predictions
    keys = [(float(lv), n) for lv in facts.levels for n in facts.fits[lv].names]
    need_original = not all(k in have["test"] and k in have["val"] for k in keys)
    layout, plan = _eval_plan(facts, lin, lg, need_original)
    splits = facts.splits
    n_chunks = sum(splits[k].error.numblocks[0] for k in ("val", "test"))
    with facts.timed("sanity: val/test pass"), Bar(n_chunks, "sanity checks: val/test pass", unit="chunk") as bar:
        done = eval_chunks(splits, plan, with_mask=plan.mask_cols is not None, threads=min(os.cpu_count() or 1, 4),
                           progress=bar)
    secs = {}
    for c in done:
        for key, v in c["seconds"].items():
            secs[key] = secs.get(key, 0.0) + v
    return eval_finish(list(done), len(splits["val"].error.chunks[0]), layout, need_original=need_original,
                       seconds={"eval_pass": time.time() - t, "eval_pass_chunk_seconds": secs})
