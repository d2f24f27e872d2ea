"""Stage 3b of the checks: the LightGBM refits (`LightGBMRefits`) and their permutation null.

`lightgbm_refits` runs after the linear refits: it sizes the refits (`_refit_plan`, from
`daudit.checks.lgbm_plan`), reads a seeded random choice of train chunks (the plan's generator
continues), fits the same-rows, group-shuffle, shuffled, mask and aggregate boosters at once,
then the label-permutation null.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field, replace

import dask
import numpy as np

from daudit.checks import lgbm as lg
from daudit.checks import lgbm_plan as lgp
from daudit.checks.facts import AuditFacts
from daudit.checks.passes import mask_blocks
from daudit.checks.permutation import label_permutations
from daudit.checks.plan import CheckPlan
from daudit.checks.transforms import shuffle_chunk
from daudit.core.progress import Bar
from daudit.engine.cluster import main_budget
from daudit.models.metrics import r2

__all__ = ["LightGBMRefits", "lightgbm_refits", "held_out_r2", "NULL_SPLIT"]

log = logging.getLogger("daudit")


@dataclass(frozen=True)
class LightGBMRefits:
    """The checks' boosters (empty when the audit has no LightGBM).

    boosters: {role: Booster} (same_rows, group, shuffled, mask, aggregates,
    permutation_reference); perm_boosters: the permuted fits in permutation order; rows: train
    rows {"checks", "permutation"}; plan: the `RefitPlan`; null_stopped: the null's stopping rule
    (empty without a null); seconds: {"lightgbm_refits": wall time}.
    """

    boosters: dict = field(default_factory=dict)
    perm_boosters: tuple = ()
    rows: dict = field(default_factory=dict)
    plan: lgp.RefitPlan | None = None
    null_stopped: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _kept_rows(split, keep, y: np.ndarray, offsets: np.ndarray, cap: int, *, with_mask: bool):
    """Read the chunks ``keep`` of the train split (after the pass, when its Gram matrices are
    freed): (chunk keys ascending, their sizes, error rows float32 (<= cap, p), mask uint8 or None,
    labels, row indices)."""

    keys = sorted(keep)
    blocks = split.error.to_delayed().ravel()
    masks = mask_blocks(split)[0] if with_mask else None
    xs = dask.compute(*[blocks[c] for c in keys])
    x = np.concatenate([np.asarray(b, dtype=np.float32) for b in xs])[:cap]
    del xs
    m = None
    if masks is not None:
        m = np.concatenate([(np.asarray(b) != 0).astype(np.uint8) for b in dask.compute(*[masks[c] for c in keys])])
        m = m[:cap]
    rows = np.concatenate([np.arange(offsets[c], offsets[c + 1]) for c in keys])[:cap]
    sizes = [int(offsets[c + 1] - offsets[c]) for c in keys]
    return keys, sizes, x, m, y[rows], rows


def _shuffle_rows(x, keys, sizes, seed):
    out, start = np.empty_like(x), 0
    for c, n in zip(keys, sizes):
        n = min(n, len(x) - start)
        if n <= 0:
            break
        out[start:start + n] = shuffle_chunk(x[start:start + n], seed=seed, split="train", chunk_index=c)
        start += n
    return out


def _refit_plan(facts: AuditFacts, mask_cols) -> lgp.RefitPlan:
    """The refits' `RefitPlan` for this run (time budget from the audit's own fit, memory budget)."""
    spec, s, train = facts.spec, facts.spec.sanity, facts.splits["train"]
    main = facts.lgbm_plan
    return lgp.plan_refits(
        n_train=train.n_rows, n_features=train.n_pixels,
        n_mask=0 if mask_cols is None else len(mask_cols), main_rows=main.n_rows_used,
        main_sample=main.bin_construct_sample_cnt, trees=spec.lightgbm.n_estimators, max_rows=s.lightgbm_rows,
        max_null_rows=s.lightgbm_permutation_rows, n_permutations=s.n_permutations_lightgbm,
        threads=os.cpu_count() or 1, budget_bytes=main_budget(spec.compute.memory_limit, train.n_pixels))


def _keep_chunks(off: np.ndarray, rows: int, rng: np.random.Generator) -> list:
    """Train chunks for the refits: a seeded random order, until ``rows`` rows are covered."""
    keep, total = [], 0
    for c in rng.permutation(len(off) - 1):
        if total >= rows:
            break
        keep.append(int(c))
        total += int(off[c + 1] - off[c])
    return keep


NULL_SPLIT = "test"  # the split of the LightGBM null's stopping rule: the one its p-value is computed on


def held_out_r2(split, boosters) -> list:
    """R2 of each booster on ``split`` (the `NULL_SPLIT` of the run), streamed chunk by chunk: the
    score of the null's stopping rule, on the same split as its p-value
    (`daudit.checks.gate_evidence`), so that the stopped count and the p describe one statistic."""
    preds = [[] for _ in boosters]
    for i in range(split.error.numblocks[0]):
        block = np.asarray(split.error.blocks[i].compute(scheduler="synchronous"), dtype=np.float32)
        for j, b in enumerate(boosters):
            preds[j].append(b.predict(block))
    return [r2(split.y, np.concatenate(p)) for p in preds]


def lightgbm_refits(facts: AuditFacts, plan: CheckPlan, aggregates: np.ndarray | None,
                    mask_cols: np.ndarray | None) -> LightGBMRefits:
    """Refit the audit's LightGBM on kept train chunks as `_refit_plan` sizes them: same rows,
    group shuffle, shuffled, mask (``mask_cols``), aggregates (``aggregates`` (n, 10) of the
    train pass) at once (see `daudit.checks.lgbm.run_jobs`), then the label-permutation null.
    Nothing (an empty record) when the audit has no LightGBM."""
    t = time.time()
    if not (plan.use_lgbm and facts.booster is not None and facts.lgbm_params is not None):
        return LightGBMRefits(seconds={"lightgbm_refits": time.time() - t})
    with facts.timed("sanity: lightgbm refits"):
        out = _refits(facts, plan, aggregates, mask_cols)
    return replace(out, seconds={"lightgbm_refits": time.time() - t})


def _refits(facts: AuditFacts, plan: CheckPlan, aggregates, mask_cols) -> LightGBMRefits:
    spec, s, rng = facts.spec, facts.spec.sanity, plan.rng
    ytr, p = facts.splits["train"].y, facts.splits["train"].n_pixels
    rp = _refit_plan(facts, mask_cols)
    log.info("sanity checks, LightGBM refits: %s", rp.reason)
    keys, sizes, xs, ms, ys, rows = _kept_rows(facts.splits["train"], _keep_chunks(plan.offsets, rp.rows, rng), ytr,
                                               plan.offsets, rp.rows, with_mask=s.mask_only)
    n_rows = {"checks": int(len(ys))}
    params, rounds = lg.train_params(facts.lgbm_params, rp, n_features=p)
    jobs = {"same_rows": functools.partial(_same_and_group, xs, ys, None if plan.group_y is None
                                           else plan.group_y[rows, 0], params, rounds)}
    if s.wavelength_shuffle:
        jobs["shuffled"] = lambda: lg.fit_on(lg.build_dataset(_shuffle_rows(xs, keys, sizes, spec.seed), ys, params),
                                             params, rounds)
    if mask_cols is not None and len(mask_cols) and ms is not None:
        pm, _ = lg.train_params(facts.lgbm_params, rp, n_features=len(mask_cols))
        jobs["mask"] = functools.partial(_fit_columns_of, ms, mask_cols, ys, pm, rounds)
    if aggregates is not None:
        xa = aggregates[rows].astype(np.float32)
        pa, _ = lg.train_params(facts.lgbm_params, rp, n_features=xa.shape[1])
        jobs["aggregates"] = lambda: lg.fit_on(lg.build_dataset(xa, ys, pa), pa, rounds)
    with Bar(len(jobs) + (1 + rp.n_permutations if rp.n_permutations else 0), "sanity checks: LightGBM refits",
             unit="fit") as bar:
        done = lg.run_jobs(jobs, rp.threads, progress=bar)
        same, group = done.pop("same_rows")
        boosters = {"same_rows": same, **({"group": group} if group is not None else {}), **done}
        jobs = ms = None  # the inputs' copies are spent
        if rp.n_permutations <= 0:
            return LightGBMRefits(boosters, (), n_rows, rp)
        null = _lightgbm_null(facts, rp, xs, ys, same, params, rounds, bar, rng)
    ref_b, perm, n_p, stopped = null
    return LightGBMRefits({**boosters, "permutation_reference": ref_b}, tuple(perm),
                          {**n_rows, "permutation": n_p}, rp, stopped)


def _lightgbm_null(facts: AuditFacts, rp, xs, ys, same, params, rounds, bar, rng):
    """The LightGBM label-permutation null on a subsample of the refit rows (see `lg.fit_null`):
    (reference booster, permuted boosters, rows, the stopping rule's record)."""
    n_p = min(rp.null_rows, len(ys))
    sel = np.sort(rng.choice(len(ys), size=n_p, replace=False))
    yp = ys[sel]
    ref_b, perm, stopped = lg.fit_null(
        xs[sel], yp, label_permutations(yp, rp.n_permutations, rng), params, rounds, threads=rp.threads,
        stop_after=rp.stop_after, val_r2=functools.partial(held_out_r2, facts.splits[NULL_SPLIT]),
        reference=same if n_p == len(ys) else None, progress=bar)
    return ref_b, perm, int(n_p), {"n_fitted": len(perm), "planned": rp.n_permutations, "stopped_early": stopped,
                                   "split": NULL_SPLIT}


def _fit_columns_of(m, cols, ys, params, rounds):
    """A refit on the columns ``cols`` of ``m`` (their float32 copy lives only while it is binned)."""
    return lg.fit_on(lg.build_dataset(m[:, cols].astype(np.float32), ys, params), params, rounds)


def _same_and_group(xs, ys, group, params, rounds):
    """The same-rows refit and, on the same binned rows with the group-shuffled labels, the group refit."""
    ds = lg.build_dataset(xs, ys, params)
    same = lg.fit_on(ds, params, rounds)
    if group is None:
        return same, None
    ds.set_label(np.asarray(group, dtype=np.float64))
    return same, lg.fit_on(ds, params, rounds)