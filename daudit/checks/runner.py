"""The checks' runner: it only sequences the stages, each returning one typed, frozen value.

    plan (`CheckPlan`) -> train pass (`TrainStats`) -> linear refits (`LinearRefits`)
    -> LightGBM refits (`LightGBMRefits`) -> eval pass (`EvalOutputs`) -> evidence (the dict)

The plan and the train pass usually come from the pipeline (the pass over train is shared with
the audit's statistics); the runner makes them itself otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from daudit.checks.eval_pass import eval_pass
from daudit.checks.evidence import sanity_block
from daudit.checks.facts import AuditFacts, Handover
from daudit.checks.lgbm_refits import lightgbm_refits
from daudit.checks.linear_refits import linear_refits
from daudit.checks.plan import CheckPlan, prepare
from daudit.checks.train_pass import train_pass
from daudit.core.progress import heartbeat
from daudit.engine.streaming import fold_lanes
from daudit.models.linear import GramEigen

__all__ = ["CheckOutcome", "run_sanity_checks"]


@dataclass(frozen=True)
class CheckOutcome:
    """sanity: ``summary["sanity"]``; eigen: the audit's decomposition handed back without its
    eigenvectors (the caller owns it again)."""

    sanity: dict
    eigen: GramEigen | None


def _timings(train, *stages, evidence_seconds: float, total: float) -> dict:
    """``sanity["timings"]``: seconds of every stage, rounded to ms."""
    secs = {"train_pass": train.pass_seconds, "train_pass_chunk_seconds": dict(train.seconds)}
    for st in stages:
        secs.update(st.seconds)
    secs.update({"assemble_bootstrap": evidence_seconds, "total": total})
    return {k: (round(v, 3) if isinstance(v, float) else {kk: round(vv, 3) for kk, vv in v.items()})
            for k, v in secs.items()}


def run_sanity_checks(facts: AuditFacts, plan: CheckPlan | None, train: Handover,
                      eigen: Handover) -> CheckOutcome:
    """All sanity checks of one audit (issue 4; the list is `daudit.checks`' docstring).

    Parameters
    ----------
    facts : AuditFacts
        After the linear fits, LightGBM, the prediction pass and the metrics. Read only.
    plan : CheckPlan or None
        Drawn before the shared train pass; None: the checks draw it and make their own pass.
    train : Handover of TrainStats
        The checks' statistics from that pass (ignored when ``plan`` is None); taken, and spent
        by the refits.
    eigen : Handover of GramEigen
        The audit's decomposition; taken, its eigenvectors parked during the checks'
        decompositions and released after the refits.

    Returns
    -------
    CheckOutcome
        ``sanity``: see `daudit.checks.evidence.sanity_block`; ``sanity["gate"]`` holds ``ci95``,
        ``borderline`` and the other gate fields for the pipeline's Gate-1 record;
        ``sanity["_pixel_null"]`` holds numpy arrays (per-pixel null mean and threshold) that the
        pipeline moves into importance.csv before the summary is written. When every noise level
        is degenerate (identically zero input) the checks are skipped and the dict says why.
        ``eigen``: the decomposition without its eigenvectors, owned by the caller from here on.
    """
    t0 = time.time()
    if not facts.levels:
        return CheckOutcome({"skipped": "every noise level is degenerate (identically zero input): nothing to check"},
                            eigen.take())
    if plan is None:
        plan = prepare(facts.spec, facts.splits)
        train = Handover(train_pass(facts.splits["train"], plan, with_mask=facts.spec.sanity.mask_only,
                                    lanes=fold_lanes(facts.scheduler), section=facts.section))
    with heartbeat("sanity checks: linear refits"):
        lin, spent, eg = linear_refits(facts, plan, train, eigen)
    lg = lightgbm_refits(facts, plan, spent.aggregates, lin.mask_cols)
    ev = eval_pass(facts, lin, lg)
    t = time.time()
    with heartbeat("sanity checks: bootstrap, nulls and region refits"):
        out = sanity_block(facts, plan, spent, lin, lg, ev)
    out["timings"] = _timings(spent, lin, lg, ev, evidence_seconds=time.time() - t, total=time.time() - t0)
    return CheckOutcome(out, eg)
