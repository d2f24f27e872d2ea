"""Orchestration of the sanity checks: plan, train pass, refits, eval pass (issue 4).

`prepare` draws everything random before any pass (label permutations, group shuffles, the
LightGBM refit chunks), so that the ONE streamed pass over train serves the audit and the
checks together (`daudit.checks.passes.train_pass_graph` with ``cfg.gram``; the audit's
pipeline runs it). `execute` then fits every check from the finished `TrainStats`, refits
LightGBM (`daudit.checks.lgbm_refits`), and makes ONE pass over val + test (predictions of every
check model and the test residuals of every permuted linear model, the split the gate reads).
The numbers are assembled by `daudit.checks.assemble`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from daudit.checks import lgbm_plan as lgp
from daudit.checks.lgbm_refits import _lightgbm_refits
from daudit.checks.importance_null import abs_importance_null, pixel_excess
from daudit.checks.localise import LocalisePlan, band_units, build_plan, catalogue_units
from daudit.checks.partials import EvalPlan
from daudit.checks.passes import eval_pass, gather_eval, train_pass_graph
from daudit.checks.permutation import (
    PermutationKeys,
    group_codes,
    permute_within_groups,
    solve_many,
)
from daudit.checks.records import EvalLayout, EvalOutputs, LinearStack
from daudit.checks.train_chunk import TrainConfig, TrainStats, finish_train
from daudit.core.progress import Bar, compute, heartbeat
from daudit.engine.spill import Parked
from daudit.engine.streaming import first_block_shift, fold_lanes, row_offsets
from daudit.models.linear import (
    LinearFamilyFit,
    decompose,
    fit_family,
    fit_family_dense,
    release_eigvecs,
    resolution,
)
from daudit.models.resolution import path_name
from daudit.models.selection import best_by_val
from daudit.models.stats import CenteredStats, center_gram

__all__ = ["CheckRun", "CheckPlan", "prepare", "train_pass", "train_cache_fields", "execute", "checks_rng", "primary_importance"]

_CHECKS_STREAM = 4  # issue number: the checks' own stream of the spec seed


def checks_rng(seed: int) -> np.random.Generator:
    """The one generator of the checks, derived from the spec seed (independent of other stages)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_CHECKS_STREAM,)))


@dataclass
class CheckRun:
    """Everything the checks computed, before it is turned into the summary's numbers."""

    ref: float
    levels: list
    y: dict  # split -> labels
    seconds: dict = field(default_factory=dict)
    shuffled_fit: LinearFamilyFit | None = None  # on the shuffled input (at ref)
    mask_fit: LinearFamilyFit | None = None
    mask_cols: np.ndarray | None = None
    mask_facts: dict = field(default_factory=dict)
    mask_source: str = ""
    agg_fit: LinearFamilyFit | None = None
    group_fit: LinearFamilyFit | None = None  # k = n group shuffles
    group_facts: dict = field(default_factory=dict)
    perm_fits: dict = field(default_factory=dict)  # level -> LinearFamilyFit (k = n perms)
    n_perm_linear: int = 0
    boosters: dict = field(default_factory=dict)  # role -> Booster
    perm_boosters: list = field(default_factory=list)
    lgbm_rows: dict = field(default_factory=dict)
    refit_plan: lgp.RefitPlan | None = None
    null_stopped: dict = field(default_factory=dict)  # the LightGBM null's stopping rule
    train_partial: TrainStats | None = None
    eval: EvalOutputs | None = None
    need_original: bool = False  # the audit's own predictions were recomputed in the eval pass
    localise: LocalisePlan | None = None  # the regions' drop / alone refits (`daudit.checks.localise`)


@dataclass
class CheckPlan:
    """What the train pass and the refits will do, drawn before any pass.

    rng: the checks' generator, continued by the refits and the bootstrap; perm_keys: the linear
    label permutations; group_y (n, G) within-group shuffles or None; offsets (n_chunks + 1,)
    row offsets of the train chunks (the LightGBM refits read some); cfg: the
    train pass configuration (checks only; the pipeline adds the audit's statistics); run: the
    `CheckRun` started with the plan's facts.
    """

    rng: np.random.Generator
    perm_keys: PermutationKeys
    group_y: np.ndarray | None
    offsets: np.ndarray
    cfg: TrainConfig
    use_lgbm: bool
    run: CheckRun


def _fit_columns(fit: LinearFamilyFit, level: float):
    """(coef (p, m*k), intercept (m*k,)) of a LinearFamilyFit acting on the unscaled input."""
    m, p, k = fit.coef.shape
    return level * fit.coef.transpose(1, 0, 2).reshape(p, m * k), fit.intercept.reshape(m * k)


def _group_plan(train, s, ytr, rng, run: CheckRun):
    """Within-group shuffles of the train labels (n, G), or None (facts go to ``run``)."""
    if not s.group_shuffle:
        return None
    lab = train.labels
    if "mag" not in lab.columns or "snr" not in lab.columns:
        run.group_facts = {"skipped": "the params table has no mag and snr columns"}
        return None
    codes, edges = group_codes(lab["mag"].to_numpy(), lab["snr"].to_numpy(), s.group_mag_bins, s.group_snr_bins)
    group_y = permute_within_groups(ytr, codes, s.n_group_shuffles, rng)
    sizes = np.bincount(codes)
    run.group_facts = {"n_groups": int(np.count_nonzero(sizes)), "edges": edges,
                       "min_group_size": int(sizes[sizes > 0].min()), "n_shuffles": s.n_group_shuffles,
                       "mag_bins": s.group_mag_bins, "snr_bins": s.group_snr_bins}
    return group_y


def prepare(ctx) -> CheckPlan | None:
    """Draw the permutations, group shuffles and LightGBM refit chunks (in this order of the
    checks' generator) before the train pass; None when the checks are off or every noise level
    is 0. Needs only the spec and the opened (row-checked) splits."""
    spec, s = ctx.spec, ctx.spec.sanity
    ref = max(spec.noise_levels)
    if not s.enabled or ref <= 0:
        return None
    rng = checks_rng(spec.seed)
    train = ctx.splits["train"]
    ytr = train.y
    run = CheckRun(ref=ref, levels=[], y={k: v.y for k, v in ctx.splits.items()})
    keys = PermutationKeys.draw(len(ytr), s.n_permutations_linear, rng)
    run.n_perm_linear = len(keys)
    group_y = _group_plan(train, s, ytr, rng, run)
    use_lgbm = spec.lightgbm is not None
    off = row_offsets(train.error)
    shift = first_block_shift(train.error)
    cfg = TrainConfig(seed=spec.seed, level=ref, shuffle=s.wavelength_shuffle, mask=s.mask_only,
                      aggregates=s.aggregate_stats, x_shift=shift, y_shift=np.array([ytr[: int(off[1])].mean()]),
                      shuffle_shift=float(shift.mean()), perm_keys=keys if len(keys) else None)
    run.mask_source = ("the file's mask array or non-finite or non-positive error" if train.mask is not None
                       else "derived: non-finite or non-positive error")
    return CheckPlan(rng, keys, group_y, off, cfg, use_lgbm, run)


def train_cache_fields(plan: CheckPlan) -> dict:
    """What the checks' train statistics depend on beyond the train data (for the cache key)."""
    c = plan.cfg
    digest = hashlib.sha256()
    for arr in (c.x_shift, c.y_shift, plan.perm_keys.keys, plan.group_y):
        if arr is not None:
            digest.update(np.ascontiguousarray(arr).tobytes())
    return {"seed": c.seed, "level": c.level, "shuffle": c.shuffle, "mask": c.mask, "aggregates": c.aggregates,
            "shuffle_shift": c.shuffle_shift, "arrays": digest.hexdigest(), "version": 3}  # 3: mask OR NaN


def train_pass(ctx, plan: CheckPlan) -> TrainStats:
    """The checks-only train pass (when the audit's statistics came from the cache)."""
    t = time.time()
    with _section(ctx, "sanity: train pass"):
        graph = train_pass_graph(ctx.splits["train"], plan.cfg, group_y=plan.group_y,
                                 with_mask=ctx.spec.sanity.mask_only, lanes=fold_lanes(ctx.scheduler))
        (tp,) = compute(graph, desc="sanity checks: train pass (shuffled Gram, mask Gram, X^T Y_perm, aggregates)")
    out = finish_train(tp, plan.cfg)
    out.seconds["pass"] = time.time() - t
    return out


def _mask_refit(ctx, run: CheckRun, y_shift: float) -> None:
    """The linear family on the mask columns that vary (from the train pass's mask Gram)."""
    mg, ytr, p = run.train_partial.mask, ctx.splits["train"].y, ctx.splits["train"].n_pixels
    used = (mg.sum_x > 0) & (mg.sum_x < mg.n)
    run.mask_cols = mg.cols[used]
    run.mask_facts = {"n_pixels_ever_masked": int(len(mg.cols)), "n_pixels_used": int(used.sum()),
                      "masked_fraction": float(mg.sum_x.sum() / (mg.n * p))}
    n_rows = mg.n
    if not used.any():
        return
    sel = np.flatnonzero(used)
    mx = mg.sum_x / mg.n
    dy = float((ytr - y_shift).sum()) / mg.n
    sxy = mg.xty - mg.n * mx * dy
    # S_xx of the used columns only, centred in place: one float64 matrix, which the
    # eigendecomposition then overwrites; the float32 counts are freed first
    sub = mg.xtx if len(sel) == mg.xtx.shape[0] else mg.xtx[np.ix_(sel, sel)]
    sxx = sub.astype(np.float64)
    run.train_partial.mask = mg = sub = None
    center_gram(sxx, n_rows, mx[sel], out=sxx)
    yc = ytr - ytr.mean()
    st = CenteredStats(n_rows, mx[sel], np.array([ytr.mean()]), sxx, sxy[sel, None], np.array([float(yc @ yc)]))
    del sxx  # held by st alone: the decomposition spends it
    # 0/1 values are exact: only the Gram term of the threshold
    run.mask_fit = fit_family(decompose(st, input_dtype=np.uint8, overwrite=True, park=Parked), ctx.spec.alphas,
                              include_ols=ctx.spec.include_ols,
                              noise_level=1.0)


def _linear_refits(ctx, run: CheckRun, plan: CheckPlan) -> None:
    """Shuffled, mask and aggregate families; the permuted and group-shuffled labels' fits.

    The audit's eigenvectors are parked on disk (`daudit.engine.spill.Parked`) while the shuffled
    and mask decompositions run, which each need three p x p matrices of their own
    (`daudit.pipeline.memory_plan`), read back for the permuted labels' solves, then released."""
    t_lin = time.time()
    tp, alphas, ols = run.train_partial, ctx.spec.alphas, ctx.spec.include_ols
    eigvecs, eq_vecs, ctx.eigen = ctx.eigen.eigvecs, ctx.eigen.eq_vecs, release_eigvecs(ctx.eigen)
    with (Parked(eigvecs, what="the audit's eigenvectors") as eigvecs_back,
          Parked(eq_vecs, what="the audit's equilibrated eigenvectors") as eq_vecs_back):
        del eigvecs, eq_vecs
        t = time.time()
        if tp.shuffled is not None:
            shuffled, tp.shuffled = tp.shuffled, None  # the decomposition consumes it
            # the same threshold rule as the audit's fit (float32 values, shuffled within each row)
            run.shuffled_fit = fit_family(decompose(shuffled, input_dtype=ctx.splits["train"].error.dtype,
                                                    overwrite=True, park=Parked), alphas, include_ols=ols,
                                          noise_level=run.ref)
            del shuffled
        run.seconds["shuffled_eigh_and_solve"] = time.time() - t
        if tp.mask is not None:
            _mask_refit(ctx, run, float(plan.cfg.y_shift[0]))
        ctx.eigen = replace(ctx.eigen, eigvecs=eigvecs_back(), eq_vecs=eq_vecs_back())
    if tp.aggregates is not None:
        # aggregates are float64 numbers computed from the float32 error: float32 precision
        run.agg_fit = fit_family_dense(tp.aggregates, ctx.splits["train"].y, alphas, include_ols=ols,
                                       input_dtype=ctx.splits["train"].error.dtype)
    if tp.cross is not None:
        sxy, syy, ymean = tp.cross.centered()
        k = run.n_perm_linear
        t = time.time()
        for lv in run.levels:
            run.perm_fits[lv] = solve_many(ctx.eigen, ctx.train_stats, sxy[:, :k], syy[:k], ymean[:k], alphas,
                                           include_ols=ols, level=lv)
        run.seconds["permuted_linear_solve"] = time.time() - t
        if plan.group_y is not None:
            run.group_fit = solve_many(ctx.eigen, ctx.train_stats, sxy[:, k:], syy[k:], ymean[k:], alphas,
                                       include_ols=ols, level=run.ref)
    t = time.time()
    run.localise = _localise_plan(ctx, run)
    run.seconds["localisation_refits"] = time.time() - t
    ctx.eigen = release_eigvecs(ctx.eigen)  # every fit that needs them is made
    run.seconds["linear_refits"] = time.time() - t_lin
    tp.shuffled = tp.mask = tp.cross = None  # the Gram matrices are spent: free them before the refits


def primary_importance(ctx, run: CheckRun):
    """(model name, |coef| * std (p,), the same of every permuted fit (p, K) or None) of the audit's
    primary linear model (best by val) at the reference level."""
    ref = run.ref
    prim = best_by_val(ctx.metrics, level=ref)
    fit = ctx.fits[ref]
    x_std = ref * np.sqrt(ctx.train_stats.x_var)
    imp = np.abs(fit.coef[fit.names.index(prim), :, 0]) * x_std
    pf = run.perm_fits.get(ref)
    null = abs_importance_null(pf.coef[pf.names.index(prim)], x_std) if pf is not None and run.n_perm_linear else None
    return prim, imp, null


def _localise_plan(ctx, run: CheckRun) -> LocalisePlan | None:
    """The drop / alone refits of every catalogue region and every band of the per-pixel null, for
    the primary linear model, from the audit's eigenpairs (still held here; `daudit.checks.localise`)."""
    eg = ctx.eigen
    if eg is None or eg.eigvecs is None or ctx.train_stats is None:
        return None
    if best_by_val(ctx.metrics, level=run.ref) is None:
        return None
    prim, imp, null = primary_importance(ctx, run)
    wave = ctx.splits["train"].wave
    units = catalogue_units(wave)
    if null is not None:
        units += band_units(pixel_excess(imp, null, wave)["groups"], wave)
    if not units:
        return None
    fit = ctx.fits[run.ref]
    a = fit.alphas[fit.names.index(prim)]
    if np.isnan(a):  # an OLS step: the equilibrated decomposition and the step's cut; the raw set goes
        ctx.eigen = eg = replace(eg, eigvecs=None)
        cut = next(t for f, t, _ in resolution(eg).path if path_name(f) == prim)
        vals, vecs, scale = eg.eq_vals, eg.eq_vecs, eg.eq_scale
    else:  # a Ridge: the raw decomposition; the equilibrated set goes
        ctx.eigen = eg = replace(eg, eq_vecs=None)
        cut, vals, vecs, scale = 0.0, eg.eigvals, eg.eigvecs, None
    return build_plan(vals, vecs, n=eg.n, x_mean=eg.x_mean, y_mean=float(eg.y_mean[0]),
                      sxy=ctx.train_stats.sxy[:, 0], syy=float(eg.syy[0]), units=units, model=prim,
                      alpha=None if np.isnan(a) else float(a), level=run.ref, threshold=cut,
                      input_dtype=ctx.splits["train"].error.dtype, row_scale=scale)


def _eval_pass(ctx, run: CheckRun) -> None:
    t = time.time()
    layout, plan = _eval_plan(ctx, run)
    n_chunks = sum(ctx.splits[k].error.numblocks[0] for k in ("val", "test"))
    with _section(ctx, "sanity: val/test pass"), Bar(n_chunks, "sanity checks: val/test pass", unit="chunk") as bar:
        done = eval_pass(ctx.splits, plan, with_mask=plan.mask_cols is not None, threads=min(os.cpu_count() or 1, 4),
                         progress=bar)
    run.eval = gather_eval(list(done), len(ctx.splits["val"].error.chunks[0]), layout)
    secs = {}
    for c in done:
        for key, v in c["seconds"].items():
            secs[key] = secs.get(key, 0.0) + v
    run.seconds["eval_pass"] = time.time() - t
    run.seconds["eval_pass_chunk_seconds"] = secs


def execute(ctx, plan: CheckPlan, train: TrainStats) -> CheckRun:
    """Every refit and the val/test pass, from the finished train statistics; see the module
    docstring. ``plan.rng`` continues with the LightGBM subsamples (then the bootstrap); the
    wavelength shuffle uses per-chunk generators from (seed, split, chunk index) instead."""
    levels = [lv for lv in ctx.spec.noise_levels if not ctx.fits[lv].degenerate]
    run = plan.run
    run.ref, run.levels = max(levels), levels
    run.train_partial = train
    # the pass is shared with the audit: its wall time, and how its chunk work split between the
    # audit's statistics ("gram") and the checks' parts (the checks' share of the pass)
    run.seconds["train_pass"] = train.seconds.pop("pass", 0.0)
    run.seconds["train_pass_chunk_seconds"] = dict(train.seconds)
    with heartbeat("sanity checks: linear refits (shuffled and mask eigendecompositions, permuted labels)"):
        _linear_refits(ctx, run, plan)
    t = time.time()
    if plan.use_lgbm and ctx.booster is not None and ctx.lgbm_params is not None:
        with _section(ctx, "sanity: lightgbm refits"):
            _lightgbm_refits(ctx, run, plan)
    run.seconds["lightgbm_refits"] = time.time() - t
    _eval_pass(ctx, run)
    return run


def _section(ctx, name: str):
    """Peak-RSS section of the run's monitor (a no-op for contexts without one)."""

    section = getattr(ctx, "section", None)
    return section(name) if section is not None else contextlib.nullcontext()


def _linear_stacks(ctx, run: CheckRun) -> dict:
    """The linear check models stacked per input (the audit's own only when not predicted yet)."""
    ref, fit_ref = run.ref, ctx.fits[run.ref]
    stacks = {kind: LinearStack() for kind in ("real", "shuffled", "mask")}
    have = ctx.predictions
    keys = [(float(lv), n) for lv in run.levels for n in ctx.fits[lv].names]
    run.need_original = not all(k in have["test"] and k in have["val"] for k in keys)
    if run.need_original:  # recompute the audit's own predictions in this pass
        for lv in run.levels:
            stacks["real"].add("original", lv, ctx.fits[lv].names, *_fit_columns(ctx.fits[lv], lv))
    if run.group_fit is not None:
        stacks["real"].add("group", ref, run.group_fit.names, *_fit_columns(run.group_fit, ref),
                           k=run.group_fit.coef.shape[2])
    if run.shuffled_fit is not None:
        stacks["shuffled"].add("unrefitted", ref, fit_ref.names, *_fit_columns(fit_ref, ref))
        stacks["shuffled"].add("shuffled", ref, run.shuffled_fit.names, *_fit_columns(run.shuffled_fit, ref))
    if run.localise is not None:
        stacks["real"].add("localise", 1.0, run.localise.names, run.localise.coef, run.localise.intercept)
    if run.mask_fit is not None:
        stacks["mask"].add("mask", 1.0, run.mask_fit.names, *_fit_columns(run.mask_fit, 1.0))
    return stacks


def _booster_roles(ctx, run: CheckRun) -> dict:
    """input -> [(role, booster)] in column order (missing boosters left out)."""
    b = run.boosters
    real = [("same_rows", b.get("same_rows")), ("group", b.get("group")),
            ("permutation_reference", b.get("permutation_reference"))]
    real += [(f"permutation_{i}", pb) for i, pb in enumerate(run.perm_boosters)]
    shuffled = ([("unrefitted", ctx.booster), ("shuffled", b.get("shuffled"))]
                if run.shuffled_fit is not None or "shuffled" in b else [])
    out = {"real": real, "shuffled": shuffled, "mask": [("mask", b.get("mask"))]}
    return {kind: [(role, bst) for role, bst in pairs if bst is not None] for kind, pairs in out.items()}


def _eval_plan(ctx, run: CheckRun) -> tuple[EvalLayout, EvalPlan]:
    """Where each check model's columns go (`EvalLayout`) and what every eval chunk computes."""
    stacks = _linear_stacks(ctx, run)
    roles = _booster_roles(ctx, run)
    layout = EvalLayout(linear={k: tuple(st.blocks) for k, st in stacks.items()},
                        boosters={k: tuple(r for r, _ in pairs) for k, pairs in roles.items()})
    perm_coef = perm_icpt = None
    if run.perm_fits:
        cols = [_fit_columns(run.perm_fits[lv], lv) for lv in run.levels]
        perm_coef = np.ascontiguousarray(np.concatenate([c for c, _ in cols], axis=1), dtype=np.float32)
        perm_icpt = np.concatenate([i for _, i in cols])
    mask_cols = run.mask_cols if (run.mask_fit is not None or "mask" in run.boosters) else None
    plan = EvalPlan(seed=ctx.spec.seed, level=run.ref, linear={k: st.matrices() for k, st in stacks.items()},
                    boosters={k: [bst for _, bst in pairs] for k, pairs in roles.items()}, mask_cols=mask_cols,
                    perm_coef=perm_coef, perm_intercept=perm_icpt, aggregates=run.agg_fit is not None)
    return layout, plan
