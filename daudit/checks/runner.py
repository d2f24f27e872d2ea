"""Orchestration of the sanity checks: plan, train pass, refits, eval pass (issue 4).

Two streamed passes in all: ONE over train (wavelength-shuffled Gram, mask Gram, X^T Y for every
label permutation and group shuffle, aggregate features, median-normalised sums, and the rows of
a few chunks for LightGBM refits) and ONE over val + test (predictions of every check model and
the validation residuals of every permuted linear model). Everything else is in memory.
The numbers are assembled by `daudit.checks.assemble`.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from daudit.checks import lgbm as lg
from daudit.checks.partials import EvalPlan, TrainConfig
from daudit.checks.passes import eval_pass_graphs, gather_eval, train_pass_graph
from daudit.checks.permutation import group_codes, label_permutations, permute_within_groups, solve_many
from daudit.checks.transforms import shuffle_chunk

__all__ = ["CheckRun", "execute", "checks_rng"]

log = logging.getLogger("daudit")
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
    shuffled_fit: object = None  # LinearFamilyFit on the shuffled input (at ref)
    mask_fit: object = None
    mask_cols: np.ndarray | None = None
    mask_facts: dict = field(default_factory=dict)
    mask_source: str = ""
    agg_fit: object = None
    group_fit: object = None  # LinearFamilyFit with k = n group shuffles
    group_facts: dict = field(default_factory=dict)
    perm_fits: dict = field(default_factory=dict)  # level -> LinearFamilyFit (k = n perms)
    n_perm_linear: int = 0
    boosters: dict = field(default_factory=dict)  # name -> Booster
    perm_boosters: list = field(default_factory=list)
    lgbm_rows: dict = field(default_factory=dict)
    refit_plan: object = None  # lgbm.RefitPlan
    train_partial: object = None
    eval: dict = field(default_factory=dict)
    eval_layout: dict = field(default_factory=dict)  # kind -> [(label, start, stop)]
    need_original: bool = False
    original_keys: list = field(default_factory=list)


def _kept_rows(split, keep, y: np.ndarray, offsets: np.ndarray, cap: int, *, with_mask: bool):
    """Read the chunks ``keep`` of the train split (after the pass, when its Gram matrices are
    freed): (chunk keys ascending, their sizes, error rows float32 (<= cap, p), mask uint8 or None,
    labels, row indices)."""
    import dask

    from daudit.checks.passes import mask_blocks

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


def _stack(models):
    """[(label, coef (q, a), intercept (a,))] -> (coef (q, sum a), intercept, layout)."""
    if not models:
        return None, []
    coefs, icpts, layout, col = [], [], [], 0
    for label, c, b in models:
        coefs.append(c)
        icpts.append(b)
        layout.append((label, col, col + c.shape[1]))
        col += c.shape[1]
    return (np.ascontiguousarray(np.concatenate(coefs, axis=1)), np.concatenate(icpts)), layout


def _fit_columns(fit, level):
    """(coef (p, m*k), intercept (m*k,)) of a LinearFamilyFit acting on the unscaled input."""
    m, p, k = fit.coef.shape
    return level * fit.coef.transpose(1, 0, 2).reshape(p, m * k), fit.intercept.reshape(m * k)


def execute(ctx, rng: np.random.Generator) -> CheckRun:
    """Run both passes and every refit; see the module docstring.

    ``rng`` (from `checks_rng`) draws the permutations and subsamples; the wavelength shuffle
    uses per-chunk generators from (seed, split, chunk index) instead.
    """
    from daudit.linear import decompose, fit_family, fit_family_dense
    from daudit.progress import compute
    from daudit.stats import CenteredStats
    from daudit.streaming import fold_lanes, row_offsets

    spec, s = ctx.spec, ctx.spec.sanity
    levels = [lv for lv in spec.noise_levels if not ctx.fits[lv].degenerate]
    ref = max(levels)
    train = ctx.splits["train"]
    ytr = train.y
    run = CheckRun(ref=ref, levels=levels, y={k: v.y for k, v in ctx.splits.items()})

    # ---- plan: extra target columns, LightGBM rows
    perms = label_permutations(ytr, s.n_permutations_linear, rng)
    run.n_perm_linear = perms.shape[1]
    group_y = None
    if s.group_shuffle:
        lab = train.labels
        if "mag" in lab.columns and "snr" in lab.columns:
            codes, edges = group_codes(lab["mag"].to_numpy(), lab["snr"].to_numpy(), s.group_mag_bins,
                                       s.group_snr_bins)
            group_y = permute_within_groups(ytr, codes, s.n_group_shuffles, rng)
            sizes = np.bincount(codes)
            run.group_facts = {"n_groups": int(np.count_nonzero(sizes)), "edges": edges,
                               "min_group_size": int(sizes[sizes > 0].min()), "n_shuffles": s.n_group_shuffles,
                               "mag_bins": s.group_mag_bins, "snr_bins": s.group_snr_bins}
        else:
            run.group_facts = {"skipped": "the params table has no mag and snr columns"}
    extra = np.hstack([perms] + ([group_y] if group_y is not None else []))
    extra = extra if extra.shape[1] else None
    use_lgbm = ctx.booster is not None and getattr(ctx, "lgbm_params", None) is not None
    off = row_offsets(train.error)
    keep = ()
    if use_lgbm:
        from daudit.cluster import main_budget

        run.refit_plan = lg.refit_plan(train.n_pixels, main_budget(spec.compute.memory_limit, train.n_pixels),
                                       s.lightgbm_rows)
        log.info("sanity checks, LightGBM refits: %s", run.refit_plan.reason)
        order, total, keep = rng.permutation(len(off) - 1), 0, []
        for c in order:
            if total >= run.refit_plan.rows:
                break
            keep.append(int(c))
            total += int(off[c + 1] - off[c])
    p = train.n_pixels
    x_mean = ctx.train_stats.x_mean
    y_shift = np.array([ytr[: int(off[1])].mean()])
    cfg = TrainConfig(seed=spec.seed, level=ref, shuffle=s.wavelength_shuffle, mask=s.mask_only,
                      aggregates=s.aggregate_stats, x_shift=x_mean, shuffle_shift=np.full(p, x_mean.mean()),
                      y_shift=y_shift, extra_shift=None if extra is None else extra.mean(axis=0))

    run.mask_source = ("the file's mask array" if train.mask is not None
                       else "derived: non-finite or non-positive error")

    # ---- train pass
    t = time.time()
    with warnings.catch_warnings():
        # The permuted labels (n x ~211 float32, ~85 MB at 100k rows) travel with the graph once;
        # distributed's "large graph" hint is expected here and says nothing about correctness.
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        with _section(ctx, "sanity: train pass"):
            (tp,) = compute(train_pass_graph(train, ytr, extra, cfg, with_mask=s.mask_only,
                                             lanes=fold_lanes(getattr(ctx, "scheduler", None))),
                            desc="sanity checks: train pass (shuffled Gram, mask Gram, X^T Y_perm, aggregates)")
    run.train_partial = tp
    run.seconds["train_pass"] = time.time() - t
    run.seconds["train_pass_chunk_seconds"] = dict(tp.seconds)

    # ---- linear refits
    t_lin = t = time.time()
    alphas, ols = spec.alphas, spec.include_ols
    if tp.shuffled is not None:
        # the same threshold rule as the audit's fit (float32 values, shuffled within each row)
        run.shuffled_fit = fit_family(decompose(tp.shuffled, input_dtype=train.error.dtype), alphas,
                                      include_ols=ols, noise_level=ref)
    run.seconds["shuffled_eigh_and_solve"] = time.time() - t
    if tp.mask is not None:
        mg = tp.mask
        used = (mg.sum_x > 0) & (mg.sum_x < mg.n)
        run.mask_cols = mg.cols[used]
        run.mask_facts = {"n_pixels_ever_masked": int(len(mg.cols)), "n_pixels_used": int(used.sum()),
                          "masked_fraction": float(mg.sum_x.sum() / (mg.n * p))}
        if used.any():
            sxx, sxy, mx = mg.centered(float((ytr - y_shift[0]).sum()), float(y_shift[0]))
            sel = np.flatnonzero(used)
            yc = ytr - ytr.mean()
            st = CenteredStats(mg.n, mx[sel], np.array([ytr.mean()]), sxx[np.ix_(sel, sel)], sxy[sel, None],
                               np.array([float(yc @ yc)]))
            run.mask_fit = fit_family(decompose(st, input_dtype=np.uint8), alphas, include_ols=ols,
                                      noise_level=1.0)  # 0/1 values are exact: only the Gram term
    if tp.aggregates is not None:
        # aggregates are float64 numbers computed from the float32 error: float32 precision
        run.agg_fit = fit_family_dense(tp.aggregates, ytr, alphas, include_ols=ols, input_dtype=train.error.dtype)
    if tp.cross is not None:
        sxy, syy, ymean = tp.cross.centered()
        k = run.n_perm_linear
        t = time.time()
        for lv in levels:
            run.perm_fits[lv] = solve_many(ctx.eigen, ctx.train_stats, sxy[:, :k], syy[:k], ymean[:k], alphas,
                                           include_ols=ols, level=lv)
        run.seconds["permuted_linear_solve"] = time.time() - t
        if group_y is not None:
            run.group_fit = solve_many(ctx.eigen, ctx.train_stats, sxy[:, k:], syy[k:], ymean[k:], alphas,
                                       include_ols=ols, level=ref)
    run.seconds["linear_refits"] = time.time() - t_lin
    tp.shuffled = tp.mask = tp.cross = None  # the Gram matrices are spent: free them before the refits

    # ---- LightGBM refits on in-memory subsamples
    t = time.time()
    if use_lgbm and keep:
        with _section(ctx, "sanity: lightgbm refits"):
            _lightgbm_refits(ctx, run, keep, off, group_y, rng)
    run.seconds["lightgbm_refits"] = time.time() - t

    # ---- eval pass (val + test)
    t = time.time()
    run.eval_layout, plan = _eval_plan(ctx, run, spec)
    parts = eval_pass_graphs(ctx.splits, plan, with_mask=plan.mask_cols is not None)
    n_val = len(ctx.splits["val"].error.chunks[0])
    with _section(ctx, "sanity: val/test pass"):
        done = compute(*parts, desc="sanity checks: val/test pass (check models, permutation null)")
    run.eval = gather_eval(list(done), n_val)
    secs = {}
    for c in done:
        for key, v in c["seconds"].items():
            secs[key] = secs.get(key, 0.0) + v
    run.seconds["eval_pass"] = time.time() - t
    run.seconds["eval_pass_chunk_seconds"] = secs
    return run


def _lightgbm_refits(ctx, run: CheckRun, keep, off, group_y, rng):
    """Refit the audit's LightGBM on the kept train chunks: same rows, shuffled, mask, aggregates,
    group shuffle, and the label-permutation null (fills ``run.boosters`` and friends)."""
    from daudit.progress import Bar

    spec, s = ctx.spec, ctx.spec.sanity
    ytr, tp = ctx.splits["train"].y, run.train_partial
    keys, sizes, xs, ms, ys, rows = _kept_rows(ctx.splits["train"], keep, ytr, off, run.refit_plan.rows,
                                               with_mask=s.mask_only)
    run.lgbm_rows = {"checks": int(len(ys))}
    params = ctx.lgbm_params
    fit = functools.partial(lg.fit_dense, params=params, bin_sample=run.refit_plan.bin_sample)
    n_fits = (1 + s.wavelength_shuffle + (run.mask_cols is not None and len(run.mask_cols) > 0)
              + (tp.aggregates is not None) + (group_y is not None) + 1 + s.n_permutations_lightgbm)
    with Bar(n_fits, "sanity checks: LightGBM refits", unit="fit") as bar:
        run.boosters["same_rows"] = fit(xs, ys)
        bar.update()
        if s.wavelength_shuffle:
            run.boosters["shuffled"] = fit(_shuffle_rows(xs, keys, sizes, spec.seed), ys)
            bar.update()
        if run.mask_cols is not None and len(run.mask_cols) and ms is not None:
            run.boosters["mask"] = fit(ms[:, run.mask_cols].astype(np.float32), ys)
            bar.update()
        del ms
        if tp.aggregates is not None:
            run.boosters["aggregates"] = fit(tp.aggregates[rows].astype(np.float32), ys)
            bar.update()
        if group_y is not None:
            run.boosters["group"] = fit(xs, group_y[rows, 0])
            bar.update()
        n_p = min(s.lightgbm_permutation_rows, len(ys))
        sel = np.sort(rng.choice(len(ys), size=n_p, replace=False))
        yp = ys[sel]
        ref_b, run.perm_boosters = lg.fit_permutations(
            xs[sel], yp, label_permutations(yp, s.n_permutations_lightgbm, rng), params, progress=bar,
            bin_sample=run.refit_plan.bin_sample)
        run.boosters["permutation_reference"] = ref_b
        run.lgbm_rows["permutation"] = int(n_p)


def _section(ctx, name: str):
    """Peak-RSS section of the run's monitor (a no-op for contexts without one)."""
    import contextlib

    section = getattr(ctx, "section", None)
    return section(name) if section is not None else contextlib.nullcontext()


def _eval_plan(ctx, run: CheckRun, spec):
    ref = run.ref
    fit_ref = ctx.fits[ref]
    lin = {"real": [], "shuffled": [], "mask": []}
    preds = getattr(ctx, "predictions", None) or {}
    test_pred = preds.get("test") or getattr(ctx, "test_predictions", None) or {}
    val_pred = preds.get("val") or {}
    run.original_keys = [(float(lv), n) for lv in run.levels for n in ctx.fits[lv].names]
    run.need_original = not all(k in test_pred and k in val_pred for k in run.original_keys)
    if run.need_original:  # recompute the audit's own predictions in this pass
        for lv in run.levels:
            lin["real"].append((("original", lv), *_fit_columns(ctx.fits[lv], lv)))
    if run.group_fit is not None:
        lin["real"].append((("group", ref), *_fit_columns(run.group_fit, ref)))
    if run.shuffled_fit is not None:
        lin["shuffled"].append((("unrefitted", ref), *_fit_columns(fit_ref, ref)))
        lin["shuffled"].append((("shuffled", ref), *_fit_columns(run.shuffled_fit, ref)))
    if run.mask_fit is not None:
        lin["mask"].append((("mask", 1.0), *_fit_columns(run.mask_fit, 1.0)))
    linear, layout = {}, {}
    for kind, models in lin.items():
        linear[kind], layout[kind] = _stack(models)
    boosters = {"real": [], "shuffled": [], "mask": []}
    blayout = {"real": [], "shuffled": [], "mask": []}

    def add(kind, name, b):
        if b is not None:
            blayout[kind].append(name)
            boosters[kind].append(b)

    b = run.boosters
    add("real", "same_rows", b.get("same_rows"))
    add("real", "group", b.get("group"))
    add("real", "permutation_reference", b.get("permutation_reference"))
    for i, pb in enumerate(run.perm_boosters):
        add("real", f"permutation_{i}", pb)
    if run.shuffled_fit is not None or "shuffled" in b:
        add("shuffled", "unrefitted", ctx.booster)
        add("shuffled", "shuffled", b.get("shuffled"))
    add("mask", "mask", b.get("mask"))
    perm_coef = perm_icpt = None
    if run.perm_fits:
        cols = [_fit_columns(run.perm_fits[lv], lv) for lv in run.levels]
        perm_coef = np.ascontiguousarray(np.concatenate([c for c, _ in cols], axis=1), dtype=np.float32)
        perm_icpt = np.concatenate([i for _, i in cols])
    mask_cols = run.mask_cols if (run.mask_fit is not None or "mask" in b) else None
    plan = EvalPlan(seed=spec.seed, level=ref, linear=linear, boosters=boosters, mask_cols=mask_cols,
                    perm_coef=perm_coef, perm_intercept=perm_icpt, aggregates=run.agg_fit is not None)
    return {"linear": layout, "lgbm": blayout}, plan
