"""Sanity checks behind the Gate-1 verdict (issue 4).

`run_sanity_checks(facts, plan, train, eigen)` runs, on the facts of a finished audit
(`AuditFacts`, read only), every check configured in ``spec.sanity`` and returns
``summary["sanity"]`` (with the decomposition handed back, `CheckOutcome`):

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

The checks are cut by stage, each one module returning one typed, frozen value, sequenced by
`runner.run_sanity_checks`: `plan` (`CheckPlan`), `train_pass` (`TrainStats`; chunk and merge in
`train_chunk`, Dask wiring in `passes`), `linear_refits` (`LinearRefits`), `lgbm_refits`
(`LightGBMRefits`; sized by `lgbm_plan`, fitted by `lgbm`), `eval_pass` (`EvalOutputs`; chunk in
`partials`, layout in `records`) and `evidence` (the ``sanity`` dict; the gate's nulls, intervals
and Gate-1 record in `gate_evidence`). They read `facts.AuditFacts`, a frozen record of the
audit built by the pipeline, never its context; what they spend (the eigenvectors, the train
Gram matrices) is handed over (`facts.Handover`). Plain-array evidence: `permutation`,
`bootstrap`, `importance_null`, `variability`, `localise`, `transforms`.
"""

from __future__ import annotations

from daudit.checks.facts import AuditFacts, Handover
from daudit.checks.plan import CheckPlan, prepare, train_cache_fields
from daudit.checks.runner import CheckOutcome, run_sanity_checks
from daudit.checks.train_pass import TrainStats, train_finish, train_pass

__all__ = ["run_sanity_checks", "CheckOutcome", "AuditFacts", "Handover", "prepare", "train_pass",
           "train_cache_fields", "train_finish", "CheckPlan", "TrainStats"]
