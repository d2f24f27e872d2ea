"""One audit run: spec -> data -> statistics -> models -> checks -> outputs -> report.

Everything is written into a staging folder beside the output folder and swapped in at the end,
with ``summary.json`` last (`daudit.output.staging`), so an interrupted run never leaves outputs
that look finished and the previous results stay intact until the new ones are complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from daudit.checks import (AuditFacts, Handover, TrainStats, prepare, run_sanity_checks, train_cache_fields,
                           train_finish, train_pass)
from daudit.checks.passes import train_pass_graph
from daudit.core.progress import Bar, compute, heartbeat
from daudit.core.gate_rule import verdict_label
from daudit.core.schema import write_summary
from daudit.core.spec import AuditSpec
from daudit.data.cache import FileCache
from daudit.data.splits import check_splits, open_data, quality_counts_graph, stats_cache, stats_cache_key
from daudit.data.validate import drop_empty_rows
from daudit.engine.cluster import dask_context, main_budget
from daudit.engine.memory import RssMonitor
from daudit.engine.spill import Parked
from daudit.engine.streaming import first_block_shift, fold_lanes, gather_graph, predict_block
from daudit.models.boosting import (
    SharedBooster,
    fit_lightgbm,
    lightgbm_log_to_debug,
    lightgbm_params,
    plan_lightgbm,
    predict_block_lgbm,
)
from daudit.models.dask_boosting import cluster_client, fit_lightgbm_dask
from daudit.models.gpu import GramAccumulator, decompose_cuda
from daudit.models.importance import importance_summary, importance_table
from daudit.models.linear import decompose, fit_family, release_eigvecs
from daudit.models.linear_checks import check_train_r2, ols_path_summary
from daudit.models.metrics import metrics_rows
from daudit.models.passes import gram_graph
from daudit.models.selection import best_by_val, check_gate_defined, check_pass_earned
from daudit.models.stats import GramStats
from daudit.output.staging import staged_output
from daudit.output.writers import write_figures, write_report, write_tables
from daudit.pipeline.context import AuditContext
from daudit.pipeline.memory_plan import check_memory_limit
from daudit.pipeline.summary import build_summary

__all__ = ["run_audit", "AuditContext", "open_data"]

log = logging.getLogger("daudit")

def _fit_linear(ctx: AuditContext, counts_graphs):
    """The train pass (shared with the checks), the eigendecomposition and every linear fit."""
    with ctx.stage("statistics pass"):
        stats, counts = _train_statistics(ctx, counts_graphs)
    dtype = ctx.splits["train"].error.dtype  # sets the data term of the resolution threshold
    with ctx.stage("eigendecomposition"):
        if ctx.spec.compute.device == "cuda":
            with heartbeat(_eigh_words(ctx)):
                ctx.eigen = decompose_cuda(stats, input_dtype=dtype)
            ctx.train_stats = stats.centered(in_place=True).without_sxx()
        else:
            # one p x p matrix: the raw sums become S_xx, which the eigendecomposition overwrites
            centered = stats.centered(in_place=True)
            stats.xtx = None  # its buffer is S_xx now, which the decomposition spends
            ctx.train_stats = centered.without_sxx()  # keeps the diagonal (the pixel variances)
            with heartbeat(_eigh_words(ctx)):
                ctx.eigen = decompose(centered, input_dtype=dtype, overwrite=True, park=Parked)
            del stats, centered
    for level in ctx.spec.noise_levels:
        t0 = time.time()
        ctx.fits[level] = fit_family(ctx.eigen, ctx.spec.alphas, include_ols=ctx.spec.include_ols,
                                     noise_level=level)
        ctx.fits[level].solve_seconds = time.time() - t0
        for note in ctx.fits[level].notes:
            log.warning("noise level %g: %s", level, note)
    return counts


def _eigh_words(ctx: AuditContext) -> str:
    """The eigendecomposition's progress label, with the size of its matrix."""
    p = ctx.splits["train"].n_pixels
    return f"eigendecomposition of the {p} x {p} Gram matrix"


def _train_statistics(ctx: AuditContext, counts_graphs):
    """The audit's `GramStats` and the checks' `TrainStats` (``ctx.check_train``) from ONE pass
    over train, or from the statistics cache; returns (GramStats, train quality counts)."""
    train, plan = ctx.splits["train"], ctx.check_plan
    x = train.error
    cache = stats_cache(ctx.spec)
    key = ckey = None  # in-memory arrays (`daudit.audit_arrays`) have no files to key a cache on
    lanes = fold_lanes(ctx.scheduler)
    if cache is not None:
        key = stats_cache_key(train, "gram-error", chunk_rows=ctx.spec.compute.chunk_rows, lanes=lanes)
        ckey = {**stats_cache_key(train, "checks-train", chunk_rows=ctx.spec.compute.chunk_rows, lanes=lanes),
                **train_cache_fields(plan)} if plan is not None else None
    hit = cache.load(key) if cache is not None else None
    chit = cache.load(ckey) if cache is not None and plan is not None else None
    if chit is not None:
        log.info("statistics pass: reused the checks' cached train statistics")
        ctx.check_train = TrainStats.from_arrays(chit)
    need_checks = plan is not None and chit is None
    if hit is not None:
        log.info("statistics pass: reused cached sufficient statistics")
        stats = GramStats(n=int(hit["n"]), **{k: hit[k] for k in _GRAM_FIELDS})
        counts = [hit["counts"]]
        if need_checks:
            ctx.check_train = _checks_train_pass(ctx, plan)
    elif ctx.spec.compute.device == "cuda":
        stats = _gram_on_gpu(x, train.y)
        counts = list(compute(*counts_graphs, desc="NaN / non-positive counts"))
        if need_checks:
            ctx.check_train = _checks_train_pass(ctx, plan)
    elif need_checks:  # the one pass: the audit's statistics and the checks' together
        t = time.time()
        cfg = dataclasses.replace(plan.cfg, gram=True)
        graph = train_pass_graph(train, cfg, group_y=plan.group_y, with_mask=ctx.spec.sanity.mask_only,
                                 lanes=lanes)
        tp, *counts = compute(graph, *counts_graphs,
                              desc="train pass (X^T X, X^T y and the checks' statistics)", rows=train.n_rows)
        stats, tp.gram = tp.gram, None
        ctx.check_train = train_finish(tp, plan.cfg, pass_seconds=time.time() - t)
    else:
        shift = plan.cfg.x_shift if plan is not None else first_block_shift(x)
        y0 = np.array([train.y[: x.chunks[0][0]].mean()])
        stats, *counts = compute(gram_graph(x, train.y, x_shift=shift, y_shift=y0, lanes=lanes), *counts_graphs,
                                 desc="statistics pass (X^T X, X^T y)", rows=train.n_rows)
    if cache is not None and hit is None:
        cache.save(key, {"n": stats.n, "counts": counts[0], **{k: getattr(stats, k) for k in _GRAM_FIELDS}})
    if cache is not None and need_checks:
        cache.save(ckey, ctx.check_train.to_arrays())
    return stats, counts


def _checks_train_pass(ctx: AuditContext, plan) -> TrainStats:
    """The checks' own pass over train (the audit's statistics came from the cache or the GPU)."""
    return train_pass(ctx.splits["train"], plan, with_mask=ctx.spec.sanity.mask_only, lanes=fold_lanes(ctx.scheduler),
                      section=ctx.section)


def _gram_on_gpu(x, y):
    """The statistics pass with the products on a CUDA device; chunks read in order here."""

    off = np.concatenate([[0], np.cumsum(x.chunks[0])])
    first = np.asarray(x.blocks[0].compute(scheduler="synchronous"))
    acc = GramAccumulator(first.astype(np.float64).mean(0), np.array([y[: len(first)].mean()]))
    with Bar(len(x.chunks[0]), "statistics pass on GPU", unit="chunk") as bar:
        for i in range(len(x.chunks[0])):
            block = first if i == 0 else np.asarray(x.blocks[i].compute(scheduler="synchronous"))
            acc.add(block, y[off[i]:off[i + 1]])
            bar.update()
    return acc.result()


_GRAM_FIELDS = ("x_shift", "y_shift", "sum_x", "sum_y", "xtx", "xty", "yty")


def _lgbm_rows_key(ctx: AuditContext) -> dict:
    """What the LightGBM fit's rows are: the statistics' key of the train split, with the rows kept."""
    train = ctx.splits["train"]
    key = stats_cache_key(train, "lgbm", chunk_rows=ctx.spec.compute.chunk_rows)
    if train.row_index is not None:  # rows dropped by validation
        key["row_index_sha"] = hashlib.sha256(np.ascontiguousarray(train.row_index, dtype=np.int64)).hexdigest()
    return key


def _fit_lightgbm(ctx: AuditContext):
    spec = ctx.spec
    if spec.lightgbm is None or not any(level > 0 for level in spec.noise_levels):
        return
    train = ctx.splits["train"]
    x = train.error
    ctx.lgbm_plan = plan_lightgbm(x.chunks[0], train.n_pixels, main_budget(spec.compute.memory_limit, train.n_pixels),
                                  rng=np.random.default_rng(spec.seed))
    log.info("LightGBM: %s", ctx.lgbm_plan.reason)
    ctx.lgbm_params = lightgbm_params(spec.lightgbm, seed=spec.seed)
    client, note = cluster_client(ctx.scheduler, x, ctx.lgbm_plan)
    ctx.lgbm_backend = {"backend": "in-process"}
    if client is not None:
        t0 = time.time()
        try:
            with ctx.stage("lightgbm fit"):
                ctx.booster = fit_lightgbm_dask(client, x, train.y, ctx.lgbm_plan, ctx.lgbm_params)
            ctx.lgbm_backend["backend"] = f"lightgbm.dask ({ctx.booster.params.get('num_machines', '?')} workers)"
        except Exception as err:  # noqa: BLE001
            # Fall back instead of failing: the plan was sized for this process, so the in-process
            # fit holds the same rows, and an error here would discard the passes already done
            # (tens of minutes at 1M rows) over a choice that does not change what is measured.
            note = (f"lightgbm.dask failed after {time.time() - t0:.0f}s ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}); trained in-process instead")
            log.warning("LightGBM: %s", note)
    elif note:
        log.info("LightGBM: %s", note)
    if note:
        ctx.lgbm_backend["backend_note"] = note
    if ctx.booster is None:
        with ctx.stage("lightgbm fit"), Bar(spec.lightgbm.n_estimators, "LightGBM boosting", unit="tree") as bar:
            cache, rows_key = (FileCache(), _lgbm_rows_key(ctx)) if spec.compute.stats_cache else (None, None)
            ctx.booster = fit_lightgbm(x, train.y, ctx.lgbm_plan, ctx.lgbm_params, progress=bar,
                                       cache=cache, rows_key=rows_key)
    log.info("LightGBM: trained %s on %d rows", ctx.lgbm_backend["backend"], ctx.lgbm_plan.n_rows_used)


@contextlib.contextmanager
def _eigvecs_parked(ctx: AuditContext):
    """Both sets of the audit's eigenvectors on disk (`daudit.engine.spill.Parked`) for the block."""
    eg = ctx.eigen
    if eg is None or eg.eigvecs is None:
        yield
        return
    q, v, ctx.eigen = eg.eigvecs, eg.eq_vecs, release_eigvecs(eg)
    del eg
    with (Parked(q, what="the audit's eigenvectors") as q_back,
          Parked(v, what="the audit's equilibrated eigenvectors") as v_back):
        del q, v
        yield
        ctx.eigen = dataclasses.replace(ctx.eigen, eigvecs=q_back(), eq_vecs=v_back())


def _linear_columns(ctx: AuditContext):
    """Every linear model of the prediction pass as columns acting on the unscaled input.

    Returns (coef (p, c), intercept (c,), layout) with layout = {key: slice of columns}; keys are
    ``("level", L)`` for the family at level L > 0 (the OLS path among them). (None, None, {})
    when every level is degenerate.
    """
    levels = [lv for lv in ctx.spec.noise_levels if not ctx.fits[lv].degenerate]
    if not levels:
        return None, None, {}
    # Level-L models act on L * x: fold L into the coefficients so one product serves all.
    parts = [(("level", lv), lv * ctx.fits[lv].coef[:, :, 0].T, ctx.fits[lv].intercept[:, 0]) for lv in levels]
    layout, col = {}, 0
    for key, c, _ in parts:
        layout[key] = slice(col, col + c.shape[1])
        col += c.shape[1]
    return (np.concatenate([c for _, c, _ in parts], axis=1), np.concatenate([b for _, _, b in parts]), layout)


def _predict_chunk(block, coef, icpt, booster):
    """Linear predictions (rows, m) and LightGBM's (rows, 1) of one chunk, read once for both."""
    x = np.asarray(block)
    lin = predict_block(x, coef, icpt) if coef is not None else None
    return lin, (predict_block_lgbm(x, booster) if booster is not None else None)


def _predict(ctx: AuditContext, extra_graphs=()):
    """One streamed pass per split for all linear models at all levels (and LightGBM); reads
    gated like every fold (`daudit.engine.streaming.gather_graph`), so blocks never pile up.

    Returns (preds, layout, extra results): preds[split] = {"linear": (n, c) or None,
    "lightgbm": (n, 1) or None}; layout maps the linear columns (see `_linear_columns`).
    """
    coef, icpt, layout = _linear_columns(ctx)
    # inside the task (not a graph key) and rebuilt at most once per process: measured +0.6 GiB
    # for this pass against +2.1 GiB with delayed(booster) (bench/memory_probe.py)
    booster = SharedBooster(ctx.booster) if ctx.booster is not None else None
    fn = functools.partial(_predict_chunk, coef=None if coef is None else np.ascontiguousarray(coef), icpt=icpt,
                           booster=booster)
    names = ("train", "val", "test")
    graphs = [gather_graph(ctx.splits[name].error, fn, lanes=fold_lanes(ctx.scheduler)) for name in names]
    with ctx.stage("prediction pass"):
        done = list(compute(*graphs, *extra_graphs, desc="prediction pass (train, val, test)",
                            rows=sum(s.n_rows for s in ctx.splits.values())))
    preds = {}
    for name, parts in zip(names, done[:3]):
        lin = np.concatenate([a for a, _ in parts]) if layout else None
        lgb = np.concatenate([b for _, b in parts]) if ctx.booster is not None else None
        preds[name] = {"linear": lin, "lightgbm": lgb}
    return preds, layout, done[3:]


def _metrics(ctx: AuditContext, preds, layout):
    """metrics.csv rows from the predictions of every split (train included), checked against the
    statistics (`daudit.models.linear_checks.check_train_r2`); also fills ``ctx.linear_checks``."""
    y = {k: s.y for k, s in ctx.splits.items()}
    ymean = ctx.splits["train"].y.mean()
    rows = []
    lgbm_secs = ctx.timings.get("lightgbm fit")
    for level in ctx.spec.noise_levels:
        fit = ctx.fits[level]
        m = len(fit.names)
        if fit.degenerate:
            p = {k: np.full((len(v), m), ymean) for k, v in y.items()}
        else:
            p = {k: preds[k]["linear"][:, layout[("level", level)]] for k in y}
        for split in ("val", "test"):
            for i, name in enumerate(fit.names):
                ctx.predictions[split][(float(level), name)] = p[split][:, i]
        per_model = [getattr(fit, "solve_seconds", 0.0) / m] * m
        new = metrics_rows(level, fit.names, fit.alphas, y, p, fit_seconds=per_model, degenerate=fit.degenerate,
                           resolved_rank=fit.ranks, effective_dof=fit.effective_dof,
                           below_resolution=None if fit.degenerate else fit.below_resolution)
        ctx.linear_checks[level] = check_train_r2(level, fit.names, [r["train_r2"] for r in new], fit.train_r2[:, 0],
                                                  tol=fit.train_r2_tolerance)
        rows += new
        if ctx.spec.lightgbm is not None:
            deg = level == 0 or ctx.booster is None
            p = {k: (np.full(len(v), ymean) if deg else preds[k]["lightgbm"][:, 0]) for k, v in y.items()}
            for split in ("val", "test"):
                ctx.predictions[split][(float(level), "LightGBM")] = p[split]
            rows += metrics_rows(level, ["LightGBM"], [None], y, {k: v[:, None] for k, v in p.items()},
                                 fit_seconds=[0.0 if deg else lgbm_secs], degenerate=deg)
    return rows


def _ols_path(ctx: AuditContext) -> dict | None:
    """The OLS truncation path at the highest noise level (summary["linear_scale"]["ols_path"];
    OLS is scale invariant, so every level > 0 has the same path)."""
    ref = max(ctx.spec.noise_levels)
    fit = ctx.fits[ref]
    return None if fit.degenerate or not ctx.spec.include_ols else ols_path_summary(ctx.metrics, fit.resolution, ref)


def _importance(ctx: AuditContext):
    ref = max(ctx.spec.noise_levels)
    fit = ctx.fits[ref]
    train = ctx.splits["train"]
    if fit.degenerate:
        return None, None
    x_std = ref * np.sqrt(ctx.train_stats.x_var)
    gain = ctx.booster.feature_importance("gain") if ctx.booster is not None else None
    split = ctx.booster.feature_importance("split") if ctx.booster is not None else None
    table = importance_table(train.wave, ctx.train_stats.x_mean, fit.names, fit.coef[:, :, 0], x_std, gain, split)
    primary = best_by_val(ctx.metrics, level=ref)
    summ = importance_summary(table, train.wave, fit.names, primary=primary)
    summ["reference_noise_level"] = ref
    return table, summ


def run_audit(spec: AuditSpec, *, output_dir: Path, echo=print, drop_bad_labels: bool = False,
              splits: dict | None = None) -> dict:
    """Run the whole audit and return the summary (also written as ``summary.json``).

    ``drop_bad_labels``: leave out rows with a NaN or infinite label instead of refusing them.
    ``splits``: the three `SpectraSplit` to audit (e.g. built from in-memory arrays), checked like
    opened files; default: open ``spec.data``'s files.
    """
    out = Path(output_dir)
    t_start = time.time()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (staged_output(out, echo=echo, experiment_id=spec.experiment_id) as staging, RssMonitor() as monitor,
          lightgbm_log_to_debug()):
        ctx = AuditContext(spec=spec, splits={}, rng=np.random.default_rng(spec.seed), memory=monitor)
        with ctx.stage("open data"):
            min_limit = check_memory_limit(spec)  # before any copy or pass: one line if too small
            ctx.splits = (open_data(spec, drop_bad_labels=drop_bad_labels) if splits is None
                          else check_splits(spec, splits, drop_bad_labels=drop_bad_labels))
        for k, s in ctx.splits.items():
            echo(f"{k}: {s.n_rows} spectra x {s.n_pixels} pixels from {len(s.paths)} "
                 + ("file(s)" if splits is None else "array(s)"))
        with dask_context(spec.compute, echo=echo) as sched:
            ctx.scheduler = sched
            with ctx.stage("row check"):
                drop_empty_rows(ctx.splits, cache=stats_cache(spec), noise_levels=spec.noise_levels)
            ctx.check_plan = prepare(ctx.spec, ctx.splits)
            (train_counts,) = _fit_linear(ctx, [quality_counts_graph(ctx.splits["train"])])
            with _eigvecs_parked(ctx):  # not used until the checks' refits: off the LightGBM peak
                _fit_lightgbm(ctx)
                preds, layout, extra = _predict(ctx, [quality_counts_graph(ctx.splits[k]) for k in ("val", "test")])
            counts = {"train": train_counts, "val": extra[0], "test": extra[1]}
            ctx.metrics = _metrics(ctx, preds, layout)
            check_gate_defined(ctx.metrics)  # no verdict from NaN or infinite R2
            train = ctx.splits["train"]
            check_pass_earned(ctx.metrics, n_train=train.n_rows, n_pixels=train.n_pixels)
            ctx.ols_path_summary = _ols_path(ctx)
            del preds
            imp_table, imp_summary = _importance(ctx)
            ctx.sanity = _run_checks(ctx)
            _add_null_columns(imp_table, ctx.sanity)
        with ctx.stage("artifacts"):
            write_tables(staging, ctx.metrics, imp_table)
            figs = write_figures(staging, plots=spec.plots, prefix=spec.prefix, metrics=ctx.metrics,
                                 wave=ctx.splits["train"].wave, imp_table=imp_table, imp_summary=imp_summary,
                                 sanity=ctx.sanity)
        ctx.timings["total"] = round(time.time() - t_start, 3)
        summary = build_summary(ctx, started, counts, imp_summary, figs)
        summary["timings"] = {"total_seconds": ctx.timings["total"], "stages": dict(ctx.timings),
                              "peak_rss_gib": {k: round(v / 2**30, 2) for k, v in monitor.peaks.items()}}
        summary["memory"] = {"limit_bytes": spec.compute.memory_limit, "minimum_limit_bytes": min_limit,
                             "peak_bytes": monitor.peak}
        summary["finished_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_report(staging, summary)
        write_summary(staging / "summary.json", summary)  # last: its presence means finished
        log.info("finished in %.1fs: Gate-1 %s (best test R2 %.4f, %s)", ctx.timings["total"],
                 verdict_label(summary["gate"]), summary["gate"]["best_test_r2"], summary["gate"]["best_model"])
    return summary


def _add_null_columns(imp_table, sanity) -> None:
    """Move the checks' per-pixel importance null (arrays, not summary numbers) into importance.csv."""
    arrays = (sanity or {}).pop("_pixel_null", None)
    if arrays is None or imp_table is None:
        return
    imp_table[f"{arrays['model']}_null_mean"] = np.asarray(arrays["null_mean"], dtype=np.float64)
    imp_table[f"{arrays['model']}_null_threshold"] = np.asarray(arrays["threshold"], dtype=np.float64)


def _run_checks(ctx: AuditContext):
    """The sanity checks on the audit's facts; the eigendecomposition and the checks' train
    statistics are handed over to them (``ctx`` keeps no reference meanwhile) and the
    decomposition comes back without its eigenvectors."""
    if not ctx.spec.sanity.enabled:
        return None
    facts = AuditFacts(spec=ctx.spec, splits=ctx.splits, fits=ctx.fits, train_stats=ctx.train_stats,
                       metrics=ctx.metrics, predictions=ctx.predictions, booster=ctx.booster,
                       lgbm_plan=ctx.lgbm_plan, lgbm_params=ctx.lgbm_params, scheduler=ctx.scheduler,
                       section=ctx.section)
    eigen, train = Handover(ctx.eigen), Handover(ctx.check_train)
    ctx.eigen = ctx.check_train = None
    with ctx.stage("sanity checks"):
        out = run_sanity_checks(facts, ctx.check_plan, train, eigen)
    ctx.eigen = out.eigen
    return out.sanity

