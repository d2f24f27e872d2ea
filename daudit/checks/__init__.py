"""Sanity checks behind the Gate-1 verdict (issue 4).

`run_sanity_checks(ctx)` runs, on a finished `daudit.pipeline.run.AuditContext` (read, never
mutated), every check configured in ``spec.sanity`` and returns ``summary["sanity"]``:

- wavelength shuffle: each spectrum's pixels permuted (seeded per chunk), models refitted;
  also the unrefitted models applied to shuffled inputs, labelled as such;
- group shuffle: train labels permuted within mag x SNR groups, refitted, evaluated on real data;
- mask-only and aggregate-statistics inputs;
- label-permutation null (p-values of every model's test R2 and the family-wise p of the best
  linear model), bootstrap 95% intervals of every test R2 and of the selected maximum, the
  Gate-1 verdict with its interval, leakage by SNR, the permutation nulls of the importance
  statistics, and the "40 positions" variability analysis.

Two streamed passes in all: the pass over train that the audit's statistics share (the
pipeline calls `prepare` before it and keeps the finished `TrainStats`), and one over val + test.
Modules: `transforms` (per-chunk numpy), `train_chunk` and `partials` (per-chunk records),
`passes` (Dask wiring), `permutation`, `bootstrap`, `lgbm`, `variability`, `importance_null`
(nulls of the importance statistics), `runner` (orchestration), `lgbm_refits` (the LightGBM
refits), `assemble` (numbers) and `gate_evidence` (its nulls, intervals and Gate-1 record).
"""

from __future__ import annotations

import time

from daudit.checks.assemble import assemble
from daudit.checks.runner import CheckPlan, execute, prepare, train_cache_fields, train_pass
from daudit.checks.train_chunk import TrainStats, finish_train
from daudit.core.progress import heartbeat

__all__ = ["run_sanity_checks", "prepare", "train_pass", "train_cache_fields", "finish_train", "CheckPlan",
           "TrainStats"]


def run_sanity_checks(ctx) -> dict:
    """All sanity checks of one audit; returns the JSON-ready ``sanity`` dict.

    Parameters
    ----------
    ctx : daudit.pipeline.run.AuditContext
        After the linear fits, LightGBM, the prediction pass and the metrics. Read only. Its
        ``check_plan`` and ``check_train`` come from the shared train pass; without them the
        checks draw their plan and make their own pass over train.

    Returns
    -------
    dict
        See `daudit.checks.assemble.assemble`; ``sanity["gate"]`` holds ``ci95``, ``borderline``
        and the other gate fields for the pipeline's Gate-1 record; ``sanity["_pixel_null"]``
        holds numpy arrays (per-pixel null mean and threshold) that the pipeline moves into
        importance.csv before the summary is written. When every noise level is degenerate
        (identically zero input) the checks are skipped and the dict says why.
    """

    t0 = time.time()
    if not any(not ctx.fits[lv].degenerate for lv in ctx.spec.noise_levels):
        return {"skipped": "every noise level is degenerate (identically zero input): nothing to check"}
    plan, train = getattr(ctx, "check_plan", None), getattr(ctx, "check_train", None)
    if plan is None or train is None:
        plan = prepare(ctx)
        train = train_pass(ctx, plan)
    run = execute(ctx, plan, train)
    t = time.time()
    with heartbeat("sanity checks: bootstrap, nulls and region refits"):
        out = assemble(ctx, run, plan.rng)
    run.seconds["assemble_bootstrap"] = time.time() - t
    run.seconds["total"] = time.time() - t0
    if run.refit_plan is not None:
        out["plan"] = {"lightgbm_refits": {**run.refit_plan.to_dict(), "null": dict(run.null_stopped)}}
    out["timings"] = {k: (round(v, 3) if isinstance(v, float) else {kk: round(vv, 3) for kk, vv in v.items()})
                      for k, v in run.seconds.items()}
    return out
